"""What the push transports (FCM, APNs) share: an HTTP/2-capable client that trusts
ENGAGE_PUSH_CA_BUNDLE, the channel settings of each project in a batch, and short-lived tokens.

A batch may hold deliveries of several projects: each project's channel is loaded once per batch
(a missing, disabled or unreadable channel fails that project's deliveries permanently). Provider
tokens (Google OAuth access tokens, APNs provider JWTs) live longer than a batch, so they are cached
per process, keyed by the credential's digest, until shortly before they expire.
"""

import hashlib
import socket
import ssl
import threading
import time
from collections.abc import Callable
from functools import cache
from typing import Any

import httpx
from django.conf import settings

from campaigns.channels import CHANNELS, ChannelSettings
from campaigns.models import Channel
from campaigns.transports.base import DeliveryError
from engage import crypto
from engage.http import outgoing_client


@cache
def _ssl_context(ca_bundle: str) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=ca_bundle or None)


def ssl_context() -> ssl.SSLContext:
    """Server certificates checked against ENGAGE_PUSH_CA_BUNDLE, or the system's authorities."""
    return _ssl_context(settings.ENGAGE_PUSH_CA_BUNDLE)


def push_client(context: ssl.SSLContext | None = None) -> httpx.Client:
    """A keep-alive client for one batch that speaks HTTP/2 where the server offers it (APNs requires
    it), with the provider timeout per request and no redirects followed."""
    # HTTP/2 writes a request's HEADERS and DATA frames separately: without TCP_NODELAY, Nagle holds
    # the DATA back until the peer acknowledges the HEADERS, a round trip (or a delayed ACK) per push.
    transport = httpx.HTTPTransport(
        http2=True, verify=context or ssl_context(), socket_options=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)]
    )
    return outgoing_client(transport=transport)


def retry_after(response: httpx.Response) -> str:
    """' (Retry-After: N s)' when the provider asked for a delay in seconds, for the error message."""
    value = response.headers.get("retry-after", "").strip()
    return f" (Retry-After: {value} s)" if value.isdigit() else ""


def integer(payload: dict[str, Any], member: str) -> int | None:
    """The payload's integer member (TimeToLive, Badge: campaigns send them as strings too), or None;
    raises a permanent DeliveryError when it is not a whole number."""
    value = payload.get(member)
    if value is None or value == "":
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        raise DeliveryError(f"{member} must be a whole number, not {value!r}.", permanent=True, code=400) from None


def mapping(payload: dict[str, Any], member: str) -> dict[str, Any]:
    """The payload's map member (Data, Context), {} when absent; raises a permanent DeliveryError when it
    is not a map."""
    value = payload.get(member)
    if value is None or value == "":
        return {}
    if not isinstance(value, dict):
        raise DeliveryError(f"{member} must be a map of names to values.", permanent=True, code=400)
    return value


class ChannelCache:
    """The settings of each project's channel of one kind, loaded once per batch."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._loaded: dict[int, ChannelSettings | DeliveryError] = {}

    def get(self, project_id: int) -> ChannelSettings:
        """The project's channel settings, secrets decrypted; raises a permanent DeliveryError when the
        channel is missing, disabled or cannot be decrypted."""
        if project_id not in self._loaded:
            self._loaded[project_id] = self._load(project_id)
        found = self._loaded[project_id]
        if isinstance(found, DeliveryError):
            raise found
        return found

    def _load(self, project_id: int) -> ChannelSettings | DeliveryError:
        channel = Channel.objects.filter(project_id=project_id, kind=self.kind).first()
        if channel is None or not channel.enabled:
            state = "not set up" if channel is None else "disabled"
            return DeliveryError(f"The {self.kind} channel of this project is {state}.", permanent=True, code=400)
        try:
            return CHANNELS[self.kind].load(channel)
        except crypto.DecryptionError:
            return DeliveryError(
                f"The {self.kind} channel's credentials cannot be decrypted with the configured "
                "ENGAGE_ENCRYPTION_KEYS; save the channel again.",
                permanent=True,
                code=500,
            )


class TokenCache:
    """Tokens by credential digest, each kept until `margin` seconds before its expiry; thread-safe."""

    def __init__(self, margin: float) -> None:
        self.margin = margin
        self._tokens: dict[str, tuple[str, float]] = {}
        self._lock = threading.Lock()

    @staticmethod
    def key(*parts: str) -> str:
        return hashlib.sha256("\0".join(parts).encode()).hexdigest()

    def get(self, key: str, make: Callable[[], tuple[str, float]]) -> str:
        """The cached token for `key`, or `make()` → (token, lifetime in seconds) when there is none
        or it is about to expire. `make` may raise; nothing is cached then."""
        with self._lock:
            cached = self._tokens.get(key)
            if cached is not None and time.time() < cached[1] - self.margin:
                return cached[0]
        token, lifetime = make()
        with self._lock:
            self._tokens[key] = (token, time.time() + lifetime)
        return token

    def drop(self, key: str) -> None:
        with self._lock:
            self._tokens.pop(key, None)
