"""GCM channel: Firebase Cloud Messaging HTTP v1 (ENGAGE_FCM_URL).

Authentication: the channel's ServiceJson (a Google service-account key) signs an RS256 assertion,
exchanged at the key's token_uri for an OAuth access token (scope firebase.messaging), cached until
five minutes before it expires. Google shut the legacy API (server keys, ApiKey) down in 2024, so a
channel with only an ApiKey cannot deliver; a channel with both always uses the service account.

The message: RawContent, when given, is the message as-is — FCM v1 format (`{"message": {...}}`,
or AWS's `{"fcmV1Message": {"message": {...}}}`) or the legacy format (`data`, `notification`,
`priority`, `time_to_live`, `collapse_key`, translated). Otherwise a data message with the keys the
Pinpoint/Amplify Android SDKs read (`pinpoint.notification.title`, `pinpoint.jsonBody`, ...).
"""

import json
import time
from typing import Any
from urllib.parse import quote

import httpx
import jwt
from cryptography.exceptions import UnsupportedAlgorithm
from django.conf import settings

from campaigns.channels import GcmChannel
from campaigns.models import ChannelKind, Delivery
from campaigns.transports.base import DeliveryError
from campaigns.transports.http import ERROR_TEXT_LIMIT, post
from campaigns.transports.push import ChannelCache, TokenCache, integer, mapping, push_client, retry_after

SCOPE = "https://www.googleapis.com/auth/firebase.messaging"
GOOGLE_TOKEN_URI = "https://oauth2.googleapis.com/token"
ASSERTION_LIFETIME = 3600  # seconds: Google's maximum
PROVIDER = "FCM"
# FCM v1 error codes (details[].errorCode) that retrying will not fix.
PERMANENT_ERRORS = frozenset({"UNREGISTERED", "INVALID_ARGUMENT", "SENDER_ID_MISMATCH", "THIRD_PARTY_AUTH_ERROR"})
LEGACY_SHUT_DOWN = (
    "The GCM channel has only a legacy server key (ApiKey): Google shut the legacy FCM API down in 2024. "
    "Add the Firebase service-account JSON (ServiceJson) to the channel to send through FCM HTTP v1."
)

tokens = TokenCache(margin=300)


def _strings(values: Any) -> dict[str, str]:
    """FCM data values must be strings: objects and lists become JSON."""
    if not isinstance(values, dict):
        return {}
    return {str(k): v if isinstance(v, str) else json.dumps(v) for k, v in values.items() if v is not None}


def _priority(value: Any) -> str | None:
    text = str(value or "").strip().lower()
    return {"high": "HIGH", "10": "HIGH", "normal": "NORMAL", "5": "NORMAL"}.get(text)


def _legacy(raw: dict[str, Any]) -> dict[str, Any]:
    """A legacy-format FCM payload as an FCM v1 message."""
    message: dict[str, Any] = {}
    android: dict[str, Any] = {}
    if "data" in raw:
        message["data"] = _strings(raw["data"])
    notification = raw.get("notification")
    if isinstance(notification, dict):
        common = {k: notification[k] for k in ("title", "body", "image") if notification.get(k)}
        rest = {k: v for k, v in notification.items() if k not in common}
        if common:
            message["notification"] = common
        if rest:
            android["notification"] = rest
    if _priority(raw.get("priority")):
        android["priority"] = _priority(raw.get("priority"))
    if isinstance(raw.get("time_to_live"), int):
        android["ttl"] = f"{raw['time_to_live']}s"
    for old, new in (("collapse_key", "collapse_key"), ("restricted_package_name", "restricted_package_name")):
        if raw.get(old):
            android[new] = raw[old]
    if android:
        message["android"] = android
    return message


def raw_message(raw: str) -> dict[str, Any]:
    """The FCM v1 message in a RawContent string; raises a permanent DeliveryError when it is not one."""
    try:
        parsed = json.loads(raw)
    except ValueError:
        parsed = None
    if not isinstance(parsed, dict):
        raise DeliveryError("RawContent must be a JSON object (an FCM message).", permanent=True, code=400)
    if isinstance(parsed.get("fcmV1Message"), dict):
        parsed = parsed["fcmV1Message"]
    if isinstance(parsed.get("message"), dict):
        return dict(parsed["message"])
    return _legacy(parsed)


def fcm_message(delivery: Delivery) -> dict[str, Any]:
    """The FCM v1 message for this delivery, addressed to its device token."""
    payload = delivery.payload
    if payload.get("RawContent"):
        message = raw_message(payload["RawContent"])
    else:
        data = {
            "pinpoint.notification.title": payload.get("Title"),
            "pinpoint.notification.body": payload.get("Body"),
            "pinpoint.notification.imageUrl": payload.get("ImageUrl"),
            "pinpoint.notification.imageIconUrl": payload.get("ImageIconUrl"),
            "pinpoint.notification.imageSmallIconUrl": payload.get("SmallImageIconUrl"),
            "pinpoint.notification.sound": payload.get("Sound"),
            "pinpoint.notification.silentPush": "1" if payload.get("SilentPush") else None,
        }
        action, url = payload.get("Action") or "OPEN_APP", payload.get("Url")
        if action == "URL" and url:
            data["pinpoint.url"] = url
        elif action == "DEEP_LINK" and url:
            data["pinpoint.deeplink"] = url
        else:
            data["pinpoint.openApp"] = "true"
        if mapping(payload, "Data"):
            data["pinpoint.jsonBody"] = json.dumps(payload["Data"])
        for name, value in mapping(payload, "Context").items():  # Pinpoint's data.pinpoint object, flat
            data.setdefault(f"pinpoint.{name}", value)
        message = {"data": _strings({k: v for k, v in data.items() if v})}
        android: dict[str, Any] = {}
        if _priority(payload.get("Priority")):
            android["priority"] = _priority(payload.get("Priority"))
        ttl = integer(payload, "TimeToLive")
        if ttl is not None:
            android["ttl"] = f"{max(ttl, 0)}s"
        if payload.get("CollapseKey"):
            android["collapse_key"] = payload["CollapseKey"]
        if payload.get("RestrictedPackageName"):
            android["restricted_package_name"] = payload["RestrictedPackageName"]
        if android:
            message["android"] = android
    for target in ("topic", "condition"):  # a raw message reaches this delivery's device, nothing else
        message.pop(target, None)
    message["token"] = delivery.address
    return message


def _fcm_error(response: httpx.Response) -> DeliveryError:
    """FCM v1's answer as DeliveryError: UNREGISTERED, INVALID_ARGUMENT... and other 4xx are
    permanent; 429 (QUOTA_EXCEEDED), 500 (INTERNAL) and 503 (UNAVAILABLE) are transient."""
    status = response.status_code
    try:
        error = response.json().get("error", {})
        code = next(
            (d.get("errorCode") for d in error.get("details", []) if isinstance(d, dict) and d.get("errorCode")),
            error.get("status", ""),
        )
        text = f"{code}: {error.get('message', '')}"
    except (ValueError, AttributeError):
        code, text = "", " ".join(response.text.split())
    transient = status in (408, 429) or status >= 500
    permanent = code in PERMANENT_ERRORS or not transient
    what = "refused the message" if permanent else "could not take the message now"
    message = f"{PROVIDER} {what}: HTTP {status} {text[:ERROR_TEXT_LIMIT]}".rstrip()
    return DeliveryError(message + ("" if permanent else retry_after(response)), permanent=permanent, code=status)


class FcmTransport:
    """GCM deliveries through FCM HTTP v1; one HTTP/2 connection pool per batch. Returns FCM's
    message name (projects/…/messages/…) as the provider message id."""

    def __init__(self) -> None:
        self.channels = ChannelCache(ChannelKind.GCM)
        self.http: httpx.Client | None = None

    def open(self) -> None:
        if self.http is None:
            self.http = push_client()

    def close(self) -> None:
        if self.http is not None:
            self.http.close()
            self.http = None

    def _account(self, project_id: int) -> dict[str, Any]:
        channel = self.channels.get(project_id)
        assert isinstance(channel, GcmChannel)
        if not channel.ServiceJson:
            raise DeliveryError(LEGACY_SHUT_DOWN, permanent=True, code=400)
        try:
            account = json.loads(channel.ServiceJson)
            if not isinstance(account, dict):
                raise ValueError("not an object")
        except ValueError:
            raise DeliveryError("The GCM channel's ServiceJson is not JSON.", permanent=True, code=400) from None
        missing = [name for name in ("project_id", "client_email", "private_key") if not account.get(name)]
        if missing:
            raise DeliveryError(f"The GCM channel's ServiceJson lacks {', '.join(missing)}.", permanent=True, code=400)
        return account

    def _fetch_token(self, account: dict[str, Any]) -> tuple[str, float]:
        """A new OAuth access token for the service account: (token, lifetime in seconds)."""
        token_uri = account.get("token_uri") or GOOGLE_TOKEN_URI
        if not token_uri.startswith("https://"):  # the assertion is a credential: never in clear text
            raise DeliveryError(
                f"The service account's token_uri must be https://, not {token_uri!r}.", permanent=True, code=400
            )
        now = int(time.time())
        claims = {
            "iss": account["client_email"],
            "scope": SCOPE,
            "aud": token_uri,
            "iat": now,
            "exp": now + ASSERTION_LIFETIME,
        }
        headers = {"kid": account["private_key_id"]} if account.get("private_key_id") else None
        try:
            assertion = jwt.encode(claims, account["private_key"], algorithm="RS256", headers=headers)
        except (ValueError, TypeError, KeyError, UnsupportedAlgorithm, jwt.PyJWTError) as error:
            raise DeliveryError(
                f"The service account's private_key cannot sign ({type(error).__name__}).", permanent=True, code=400
            ) from None
        grant = {"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion": assertion}
        response = post(self.http, token_uri, "Google's OAuth token endpoint", data=grant)
        if response.status_code != 200:
            transient = response.status_code in (408, 429) or response.status_code >= 500
            what = "could not issue a token now" if transient else "refused the service account's credentials"
            text = " ".join(response.text.split())[:ERROR_TEXT_LIMIT]
            raise DeliveryError(
                f"Google {what}: HTTP {response.status_code} {text}".rstrip(),
                permanent=not transient,
                code=response.status_code,
            )
        try:
            answer = response.json()
            return str(answer["access_token"]), float(answer.get("expires_in", 3600))
        except (ValueError, KeyError, TypeError):
            raise DeliveryError(
                "Google's OAuth token endpoint answered without an access_token.", permanent=False, code=502
            ) from None

    def send(self, delivery: Delivery) -> str:
        """Send one delivery to its device token; returns FCM's message name, or raises DeliveryError."""
        self.open()
        account = self._account(delivery.project_id)
        message = fcm_message(delivery)
        key = TokenCache.key(
            account.get("client_email", ""), account.get("token_uri", ""), account.get("private_key", "")
        )
        project = quote(str(account["project_id"]), safe="")
        url = f"{settings.ENGAGE_FCM_URL.rstrip('/')}/v1/projects/{project}/messages:send"
        for attempt in (1, 2):
            token = tokens.get(key, lambda: self._fetch_token(account))
            response = post(
                self.http, url, PROVIDER, json={"message": message}, headers={"Authorization": f"Bearer {token}"}
            )
            if response.status_code == 401 and attempt == 1:
                tokens.drop(key)  # revoked or expired early: one more try with a fresh token
                continue
            break
        if response.status_code != 200:
            raise _fcm_error(response)
        try:
            return str(response.json()["name"])
        except (ValueError, KeyError, TypeError):
            return ""
