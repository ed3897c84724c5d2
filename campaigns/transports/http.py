"""What transports that speak HTTP share: one pooled keep-alive client per batch, and how an answer
or a failure to get one maps to DeliveryError. (The webhook signature and URL policy are in
engage.webhooks; the client itself is engage.http's.)"""

import httpx

from campaigns.transports.base import DeliveryError
from engage.http import outgoing_client

ERROR_TEXT_LIMIT = 300  # characters of a provider's error body kept in last_error


def client() -> httpx.Client:
    """A keep-alive client for one batch: no redirects followed, the provider timeout per request."""
    return outgoing_client()


class HttpTransport:
    """The batch life of a transport that speaks HTTP: one keep-alive client from open to close."""

    def __init__(self) -> None:
        self.http: httpx.Client | None = None

    def open(self) -> None:
        if self.http is None:
            self.http = client()

    def close(self) -> None:
        if self.http is not None:
            self.http.close()
            self.http = None


def answer_error(response: httpx.Response, provider: str, detail: str = "") -> DeliveryError:
    """A failed answer as DeliveryError: 408, 425, 429 and 5xx are transient (retry later), any other
    status is permanent for this message (bad number, refused credentials, opted-out recipient...)."""
    status = response.status_code
    text = detail or " ".join(response.text.split())[:ERROR_TEXT_LIMIT]
    transient = status in (408, 425, 429) or status >= 500
    what = "could not take the message now" if transient else "refused the message"
    return DeliveryError(f"{provider} {what}: HTTP {status} {text}".rstrip(), permanent=not transient, code=status)


def post(http: httpx.Client, url: str, provider: str, **kwargs) -> httpx.Response:
    """POST, mapping transport failures to a transient DeliveryError with code None (the provider
    cannot be reached: the outbox stops knocking for the rest of the batch)."""
    try:
        return http.post(url, **kwargs)
    except httpx.TimeoutException as error:
        raise DeliveryError(f"{provider} did not answer in time ({type(error).__name__}).", permanent=False) from error
    except httpx.HTTPError as error:
        raise DeliveryError(
            f"{provider} cannot be reached: {type(error).__name__}: {error}", permanent=False
        ) from error
