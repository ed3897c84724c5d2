"""APNS, APNS_SANDBOX, APNS_VOIP and APNS_VOIP_SANDBOX channels: Apple's push service over HTTP/2
(ENGAGE_APNS_URL, sandbox channels ENGAGE_APNS_SANDBOX_URL).

Token authentication (DefaultAuthenticationMethod KEY): an ES256 provider token signed with the
channel's .p8 TokenKey (kid TokenKeyId, iss TeamId), reused for 50 minutes (Apple accepts a token
for an hour and refuses new ones more often than every 20 minutes). Certificate authentication
(CERTIFICATE): the channel's Certificate and PrivateKey as the TLS client certificate.

Request: POST /3/device/<token> with apns-topic (BundleId, + ".voip" on VoIP channels; with a
certificate and no BundleId, Apple takes the topic from the certificate), apns-push-type, apns-priority,
apns-expiration (from TimeToLive), apns-collapse-id and apns-id (derived from the delivery's
message id, so a retried delivery carries the same id).
"""

import contextlib
import json
import os
import ssl
import tempfile
import time
import uuid
from typing import Any

import httpx
import jwt
from cryptography.exceptions import UnsupportedAlgorithm
from django.conf import settings

from campaigns.channels import ApnsChannel
from campaigns.models import ChannelKind, Delivery
from campaigns.transports.base import DeliveryError
from campaigns.transports.http import ERROR_TEXT_LIMIT, post
from campaigns.transports.push import ChannelCache, TokenCache, integer, mapping, push_client, retry_after

PROVIDER_TOKEN_LIFETIME = 50 * 60  # seconds
VOIP = frozenset({ChannelKind.APNS_VOIP, ChannelKind.APNS_VOIP_SANDBOX})
SANDBOX = frozenset({ChannelKind.APNS_SANDBOX, ChannelKind.APNS_VOIP_SANDBOX})
PUSH_TYPES = frozenset(
    {"alert", "background", "voip", "complication", "fileprovider", "mdm", "location", "liveactivity"}
)
# Apple's reasons that retrying will not fix come with 400, 403, 404, 405, 410 and 413; these are
# the reasons worth retrying.
TRANSIENT_REASONS = frozenset(
    {"TooManyRequests", "TooManyProviderTokenUpdates", "InternalServerError", "ServiceUnavailable", "Shutdown"}
)

provider_tokens = TokenCache(margin=0)


def _priority(value: Any) -> int | None:
    text = str(value or "").strip().lower()
    return {"10": 10, "high": 10, "5": 5, "normal": 5, "1": 1}.get(text)


def apns_payload(delivery: Delivery) -> dict[str, Any]:
    """The JSON body: RawContent as-is, else an `aps` dictionary from the message with Data merged at
    the top level; the request's Context and, for URL and DEEP_LINK actions, `deeplink` go in
    `data.pinpoint`, as Pinpoint sends them."""
    payload = delivery.payload
    if payload.get("RawContent"):
        try:
            raw = json.loads(payload["RawContent"])
        except ValueError:
            raw = None
        if not isinstance(raw, dict):
            raise DeliveryError("RawContent must be a JSON object (an APNs payload).", permanent=True, code=400)
        return raw
    aps: dict[str, Any] = {}
    if payload.get("SilentPush"):
        aps["content-available"] = 1
    else:
        alert = {name: payload[key] for name, key in (("title", "Title"), ("body", "Body")) if payload.get(key)}
        if alert:
            aps["alert"] = alert
        if payload.get("Sound"):
            aps["sound"] = payload["Sound"]
    badge = integer(payload, "Badge")
    if badge is not None:
        aps["badge"] = badge
    if payload.get("Category"):
        aps["category"] = payload["Category"]
    if payload.get("ThreadId"):
        aps["thread-id"] = payload["ThreadId"]
    if payload.get("MediaUrl"):
        aps["mutable-content"] = 1
    body: dict[str, Any] = dict(mapping(payload, "Data"))
    data: dict[str, Any] = {}
    pinpoint = {str(k): v for k, v in mapping(payload, "Context").items()}
    if payload.get("Action") in ("URL", "DEEP_LINK") and payload.get("Url"):
        pinpoint["deeplink"] = payload["Url"]
    if pinpoint:
        data["pinpoint"] = pinpoint
    if payload.get("MediaUrl"):
        data["media-url"] = payload["MediaUrl"]
    if data and "data" not in body:
        body["data"] = data
    body["aps"] = aps
    return body


def apns_id(delivery: Delivery) -> str:
    """The delivery's message id as a UUID (the MessageId SendMessages answered, when it is 32 hex
    digits): a delivery sent again after a crash carries the same apns-id."""
    key = delivery.message_id.strip("<>")
    try:
        return str(uuid.UUID(hex=key))
    except ValueError:
        return str(uuid.uuid5(uuid.NAMESPACE_URL, f"engage:{key}"))


def apns_headers(delivery: Delivery, channel: ApnsChannel, body: dict[str, Any]) -> dict[str, str]:
    """The apns-* headers of this delivery (no authorization)."""
    payload = delivery.payload
    push_type = str(payload.get("APNSPushType") or "").lower()
    if push_type not in PUSH_TYPES:
        aps = body.get("aps") if isinstance(body.get("aps"), dict) else {}
        silent = aps.get("content-available") == 1 and not any(k in aps for k in ("alert", "sound", "badge"))
        push_type = "voip" if delivery.channel in VOIP else "background" if silent else "alert"
    priority = _priority(payload.get("Priority")) or (5 if push_type == "background" else 10)
    headers = {"apns-push-type": push_type, "apns-priority": str(priority), "apns-id": apns_id(delivery)}
    if channel.BundleId:
        headers["apns-topic"] = channel.BundleId + (".voip" if delivery.channel in VOIP else "")
    ttl = integer(payload, "TimeToLive")
    if ttl is not None:
        headers["apns-expiration"] = "0" if ttl <= 0 else str(int(time.time()) + ttl)
    if payload.get("CollapseId"):
        headers["apns-collapse-id"] = str(payload["CollapseId"])[:64]
    return headers


def _reason(response: httpx.Response) -> str:
    try:
        return str(response.json().get("reason", ""))
    except (ValueError, AttributeError):
        return ""


def _apns_error(response: httpx.Response) -> DeliveryError:
    """Apple's answer as DeliveryError: BadDeviceToken, Unregistered (410), DeviceTokenNotForTopic and
    other 4xx reasons are permanent; TooManyRequests, InternalServerError, ServiceUnavailable (any
    429 or 5xx) are transient."""
    status = response.status_code
    reason = _reason(response) or " ".join(response.text.split())[:ERROR_TEXT_LIMIT]
    transient = reason in TRANSIENT_REASONS or status == 429 or status >= 500
    what = "could not take the message now" if transient else "refused the message"
    message = f"APNs {what}: HTTP {status} {reason}".rstrip()
    if status == 410:
        message += " (the device token is no longer valid for this topic)"
    return DeliveryError(message + (retry_after(response) if transient else ""), permanent=not transient, code=status)


def _certificate_context(channel: ApnsChannel) -> ssl.SSLContext:
    """A TLS context presenting the channel's client certificate. ssl loads a certificate chain only
    from files: the PEM text goes to a private temporary file that is removed at once."""
    context = ssl.create_default_context(cafile=settings.ENGAGE_PUSH_CA_BUNDLE or None)
    fd, path = tempfile.mkstemp(suffix=".pem")
    try:
        with os.fdopen(fd, "w") as pem:
            pem.write(f"{channel.Certificate.strip()}\n{channel.PrivateKey.strip()}\n")
        context.load_cert_chain(path)
    except (ssl.SSLError, ValueError) as error:
        raise DeliveryError(
            f"The channel's Certificate and PrivateKey cannot be used for TLS ({error}).", permanent=True, code=400
        ) from None
    finally:
        with contextlib.suppress(OSError):
            os.unlink(path)
    return context


class ApnsTransport:
    """Deliveries of one APNs channel kind; one HTTP/2 connection per batch for token authentication,
    one per certificate for certificate authentication. Returns the apns-id Apple echoes."""

    kind: ChannelKind = ChannelKind.APNS

    def __init__(self) -> None:
        self.channels = ChannelCache(self.kind)
        self.http: httpx.Client | None = None
        self.certificate_clients: dict[int, httpx.Client] = {}

    def open(self) -> None:
        if self.http is None:
            self.http = push_client()

    def close(self) -> None:
        for client in [self.http, *self.certificate_clients.values()]:
            if client is not None:
                client.close()
        self.http = None
        self.certificate_clients = {}

    def _provider_token(self, channel: ApnsChannel) -> tuple[str, float]:
        claims = {"iss": channel.TeamId, "iat": int(time.time())}
        try:
            token = jwt.encode(claims, channel.TokenKey, algorithm="ES256", headers={"kid": channel.TokenKeyId})
        except (ValueError, TypeError, UnsupportedAlgorithm, jwt.PyJWTError) as error:
            raise DeliveryError(
                f"The channel's TokenKey cannot sign APNs tokens ({type(error).__name__}): it must be the "
                ".p8 key (EC P-256) Apple issued.",
                permanent=True,
                code=400,
            ) from None
        return token, PROVIDER_TOKEN_LIFETIME

    def _method(self, delivery: Delivery, channel: ApnsChannel) -> str:
        preferred = str(delivery.payload.get("PreferredAuthenticationMethod") or "").upper()
        wanted = {"TOKEN": "KEY", "KEY": "KEY", "CERTIFICATE": "CERTIFICATE"}.get(preferred)
        usable = [m for m, ok in (("KEY", channel.TokenKey), ("CERTIFICATE", channel.Certificate)) if ok]
        if wanted in usable:
            return wanted
        if channel.DefaultAuthenticationMethod in usable:
            return channel.DefaultAuthenticationMethod
        if usable:
            return usable[0]
        raise DeliveryError(
            f"The {self.kind} channel has neither a TokenKey nor a Certificate.", permanent=True, code=400
        )

    def _client(self, delivery: Delivery, channel: ApnsChannel, method: str) -> httpx.Client:
        if method == "KEY":
            self.open()
            return self.http
        client = self.certificate_clients.get(delivery.project_id)
        if client is None:
            client = self.certificate_clients[delivery.project_id] = push_client(_certificate_context(channel))
        return client

    def send(self, delivery: Delivery) -> str:
        """Send one delivery to its device token; returns the apns-id, or raises DeliveryError."""
        channel = self.channels.get(delivery.project_id)
        assert isinstance(channel, ApnsChannel)
        token = delivery.address.strip()
        if not token or any(c not in "0123456789abcdefABCDEF" for c in token):
            raise DeliveryError("APNs device tokens are hexadecimal: BadDeviceToken.", permanent=True, code=400)
        method = self._method(delivery, channel)
        body = apns_payload(delivery)
        headers = apns_headers(delivery, channel, body)
        if method == "KEY" and not (channel.TeamId and channel.TokenKeyId and channel.BundleId):
            raise DeliveryError(
                "Token authentication needs the channel's TeamId, TokenKeyId and BundleId.", permanent=True, code=400
            )
        client = self._client(delivery, channel, method)
        base = settings.ENGAGE_APNS_SANDBOX_URL if self.kind in SANDBOX else settings.ENGAGE_APNS_URL
        url = f"{base.rstrip('/')}/3/device/{token}"
        content = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
        key = TokenCache.key(channel.TeamId or "", channel.TokenKeyId or "", channel.TokenKey or "")
        for attempt in (1, 2):
            if method == "KEY":
                headers["authorization"] = f"bearer {provider_tokens.get(key, lambda: self._provider_token(channel))}"
            response = post(client, url, "APNs", content=content, headers=headers)
            if (
                response.status_code == 403
                and method == "KEY"
                and attempt == 1
                and _reason(response) == "ExpiredProviderToken"
            ):
                provider_tokens.drop(key)
                continue
            break
        if response.status_code != 200:
            raise _apns_error(response)
        return response.headers.get("apns-id", headers["apns-id"])


class ApnsSandboxTransport(ApnsTransport):
    kind = ChannelKind.APNS_SANDBOX


class ApnsVoipTransport(ApnsTransport):
    kind = ChannelKind.APNS_VOIP


class ApnsVoipSandboxTransport(ApnsTransport):
    kind = ChannelKind.APNS_VOIP_SANDBOX
