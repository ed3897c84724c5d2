"""The one way Engage makes an HTTP client for outgoing calls (providers, webhooks, event streams):
the provider timeout per request (ENGAGE_PROVIDER_TIMEOUT, connecting within 5 s), no redirects
followed, Engage's User-Agent. Plumbing only: it imports no app."""

import httpx
from django.conf import settings

USER_AGENT = "Engage (self-hosted Pinpoint)"


def outgoing_client(*, transport: httpx.BaseTransport | None = None) -> httpx.Client:
    """A keep-alive client; `transport` for callers that need HTTP/2 or their own TLS context."""
    timeout = httpx.Timeout(settings.ENGAGE_PROVIDER_TIMEOUT, connect=min(5.0, settings.ENGAGE_PROVIDER_TIMEOUT))
    return httpx.Client(
        transport=transport, timeout=timeout, follow_redirects=False, headers={"User-Agent": USER_AGENT}
    )
