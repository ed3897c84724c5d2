"""What transports that speak HTTP share: one pooled client per batch, how an answer maps to
DeliveryError, the URL policy for webhooks, and Engage's webhook signature.

Signature (webhooks Engage calls: SMS/voice webhook providers, custom channels). Each POST carries
  X-Engage-Timestamp: <unix seconds>
  X-Engage-Signature: v1=<hex HMAC-SHA256(secret, "<timestamp>." + raw body bytes)>
To verify, recompute the HMAC over the timestamp, a ".", and the body exactly as received, compare
in constant time (hmac.compare_digest), and refuse timestamps older than a few minutes (replays).
`X-Engage-Message-Id` names the delivery: a retry carries the same value, so receivers can drop
duplicates.
"""

import hashlib
import hmac
import ipaddress
import time
from urllib.parse import urlsplit

import httpx
from django.conf import settings

from campaigns.transports.base import DeliveryError

SIGNATURE_HEADER = "X-Engage-Signature"
TIMESTAMP_HEADER = "X-Engage-Timestamp"
MESSAGE_ID_HEADER = "X-Engage-Message-Id"
USER_AGENT = "Engage (self-hosted Pinpoint)"
ERROR_TEXT_LIMIT = 300  # characters of a provider's error body kept in last_error


class UrlRefused(ValueError):
    """A webhook URL Engage will not call (scheme, host, or form)."""


def client() -> httpx.Client:
    """A keep-alive client for one batch: no redirects followed, the provider timeout per request."""
    timeout = httpx.Timeout(settings.ENGAGE_PROVIDER_TIMEOUT, connect=min(5.0, settings.ENGAGE_PROVIDER_TIMEOUT))
    return httpx.Client(timeout=timeout, follow_redirects=False, headers={"User-Agent": USER_AGENT})


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """The X-Engage-Signature value for `body` sent at `timestamp` (see the module docstring)."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"v1={digest}"


def signed_headers(secret: str, body: bytes, *, message_id: str = "", now: float | None = None) -> dict[str, str]:
    """Headers of a signed JSON POST of `body`."""
    timestamp = str(int(now if now is not None else time.time()))
    headers = {
        "Content-Type": "application/json",
        TIMESTAMP_HEADER: timestamp,
        SIGNATURE_HEADER: signature(secret, timestamp, body),
    }
    if message_id:
        headers[MESSAGE_ID_HEADER] = message_id
    return headers


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_url(url: str) -> str:
    """`url` if Engage may POST to it: https, or http to a loopback host (any host with
    ENGAGE_WEBHOOK_ALLOW_HTTP); raises UrlRefused saying why not."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        raise UrlRefused(f"{url!r} is not a valid URL.") from None
    if parts.scheme not in ("https", "http") or not host:
        raise UrlRefused(f"{url!r} must be a full https:// URL.")
    if parts.username or parts.password:
        raise UrlRefused("The URL must not contain a user name or password.")
    if parts.scheme == "http" and not (is_loopback(host) or settings.ENGAGE_WEBHOOK_ALLOW_HTTP):
        raise UrlRefused(
            f"{url!r} uses plain http://: only https:// is allowed (http:// only to this machine, "
            "unless the server sets ENGAGE_WEBHOOK_ALLOW_HTTP=1)."
        )
    return url


def answer_error(response: httpx.Response, provider: str, detail: str = "") -> DeliveryError:
    """A failed answer as DeliveryError: 408, 425, 429 and 5xx are transient (retry later), any other
    4xx is permanent for this message (bad number, refused credentials, opted-out recipient...)."""
    status = response.status_code
    text = detail or " ".join(response.text.split())[:ERROR_TEXT_LIMIT]
    transient = status in (408, 425, 429) or status >= 500
    what = "refused the message" if not transient else "could not take the message now"
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
