"""What every webhook Engage calls shares: the URL policy, the per-project signing secret and the
signature. Plumbing only (it imports no app), so any app's outgoing webhooks sign the same way.

Signature. Each POST carries
  X-Engage-Timestamp: <unix seconds>
  X-Engage-Signature: v1=<hex HMAC-SHA256(secret, "<timestamp>." + raw body bytes)>
To verify, recompute the HMAC over the timestamp, a ".", and the body exactly as received, compare
in constant time (hmac.compare_digest), and refuse timestamps older than a few minutes (replays).

Secret. A project's secret is derived from ENGAGE_WEBHOOK_SIGNING_KEY (empty: SECRET_KEY) and the
project id, so nothing is stored; the project's settings page shows it to owners and editors.
Changing the key changes every project's secret.
"""

import hashlib
import hmac
import ipaddress
import time
from urllib.parse import urlsplit

from django.conf import settings

SIGNATURE_HEADER = "X-Engage-Signature"
TIMESTAMP_HEADER = "X-Engage-Timestamp"


class UrlRefused(ValueError):
    """A webhook URL Engage will not call (scheme, host, or form)."""


def project_secret(project_id: str) -> str:
    """The signing secret of a project's webhooks (stable while the signing key stays)."""
    key = (settings.ENGAGE_WEBHOOK_SIGNING_KEY or settings.SECRET_KEY).encode()
    return "whsec_" + hmac.new(key, f"engage-webhook:{project_id}".encode(), hashlib.sha256).hexdigest()


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """The X-Engage-Signature value for `body` sent at `timestamp` (see the module docstring)."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"v1={digest}"


def signed_headers(secret: str, body: bytes, *, now: float | None = None) -> dict[str, str]:
    """Headers of a signed JSON POST of `body`."""
    timestamp = str(int(now if now is not None else time.time()))
    return {
        "Content-Type": "application/json",
        TIMESTAMP_HEADER: timestamp,
        SIGNATURE_HEADER: signature(secret, timestamp, body),
    }


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
