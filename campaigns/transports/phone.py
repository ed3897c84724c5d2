"""SMS and VOICE through a provider adapter: Twilio's REST API, or a signed JSON webhook of your own.

Which provider: the project's SMS/VOICE channel names one (Channels page: Provider and its
credentials), or else the installation's (ENGAGE_SMS_PROVIDER / ENGAGE_VOICE_PROVIDER with the
ENGAGE_TWILIO_* or ENGAGE_*_WEBHOOK_* settings). With neither, a delivery fails permanently with
"no SMS provider configured".

Twilio: POST {ENGAGE_TWILIO_API_URL}/2010-04-01/Accounts/{sid}/Messages.json (To, From, Body) for SMS
and .../Calls.json (To, From, Twiml: one <Say>) for voice, with basic auth sid:token; the message or
call SID is the provider message id.

Webhook: POST of this JSON, signed as engage.webhooks describes (X-Engage-Signature over the
timestamp and body, with the channel's WebhookSecret), plus X-Engage-Message-Id (the same on retries):
  {"Channel": "SMS" | "VOICE", "MessageId": "...", "ApplicationId": "...", "To": "+4915...",
   "From": "+1..." or "", "EndpointId": "..." or "", "UserId": "..." or "",
   "Message": {Pinpoint's SMSMessage / VoiceMessage members: Body, MessageType, SenderId, Keyword,
               EntityId, TemplateId / Body, LanguageCode, VoiceId}}
A 2xx answer is success (a JSON {"MessageId": "..."} in it becomes the provider message id); 408,
425, 429 and 5xx are retried later; any other status fails the message for good.
"""

import json
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import Any, ClassVar
from xml.sax.saxutils import escape, quoteattr

import httpx
from django.conf import settings

from campaigns.channels import PhoneChannel, SmsChannel, VoiceChannel
from campaigns.models import Channel, ChannelKind, Delivery
from campaigns.transports.base import DeliveryError
from campaigns.transports.http import HttpTransport, answer_error, post
from engage import crypto
from engage.webhooks import UrlRefused, check_url, signed_headers

MESSAGE_ID_HEADER = "X-Engage-Message-Id"
SMS_MEMBERS = ("Body", "MessageType", "OriginationNumber", "SenderId", "Keyword", "EntityId", "TemplateId")
VOICE_MEMBERS = ("Body", "LanguageCode", "OriginationNumber", "VoiceId")


@dataclass(frozen=True)
class Provider:
    """Where one project's SMS or voice messages go, resolved from its channel or the installation."""

    name: str  # TWILIO | WEBHOOK
    origin: str  # "channel" | "server": where the configuration came from, for error messages
    default_from: str = ""
    twilio_account_sid: str = ""
    twilio_auth_token: str = ""
    webhook_url: str = ""
    webhook_secret: str = ""


def _server_provider(kind: str, default_from: str) -> Provider | None:
    name = settings.ENGAGE_SMS_PROVIDER if kind == ChannelKind.SMS else settings.ENGAGE_VOICE_PROVIDER
    if name == "TWILIO":
        return Provider(
            "TWILIO",
            "server",
            default_from=default_from or settings.ENGAGE_TWILIO_FROM,
            twilio_account_sid=settings.ENGAGE_TWILIO_ACCOUNT_SID,
            twilio_auth_token=settings.ENGAGE_TWILIO_AUTH_TOKEN,
        )
    if name == "WEBHOOK":
        sms = kind == ChannelKind.SMS
        return Provider(
            "WEBHOOK",
            "server",
            default_from=default_from,
            webhook_url=settings.ENGAGE_SMS_WEBHOOK_URL if sms else settings.ENGAGE_VOICE_WEBHOOK_URL,
            webhook_secret=settings.ENGAGE_SMS_WEBHOOK_SECRET if sms else settings.ENGAGE_VOICE_WEBHOOK_SECRET,
        )
    return None


def provider_for(project_id: str, kind: str) -> Provider | None:
    """The provider of the project's SMS or VOICE messages: its channel's, else the server's, else None.
    Raises DeliveryError (permanent) when the channel's stored credentials cannot be decrypted."""
    spec: type[PhoneChannel] = SmsChannel if kind == ChannelKind.SMS else VoiceChannel
    channel = Channel.objects.filter(project_id=project_id, kind=kind).first()
    try:
        stored = spec.load(channel) if channel is not None else None
    except crypto.DecryptionError:
        raise DeliveryError(
            f"The {kind} channel's stored credentials cannot be decrypted with the configured keys "
            "(ENGAGE_ENCRYPTION_KEYS): enter them again on the Channels page.",
            permanent=True,
            code=500,
        ) from None
    default_from = ""
    if isinstance(stored, SmsChannel):
        default_from = stored.ShortCode or stored.SenderId or ""
    elif isinstance(stored, VoiceChannel):
        default_from = stored.OriginationNumber or ""
    if stored is None or not stored.Provider:
        return _server_provider(kind, default_from)
    return Provider(
        stored.Provider,
        "channel",
        default_from=default_from,
        twilio_account_sid=stored.TwilioAccountSid or "",
        twilio_auth_token=stored.TwilioAuthToken or "",
        webhook_url=stored.WebhookUrl or "",
        webhook_secret=stored.WebhookSecret or "",
    )


def say_twiml(body: str, *, voice_id: str = "", language: str = "") -> str:
    """TwiML that reads `body` aloud once. A body in SSML (<speak>...</speak>) keeps its markup inside
    <Say> (Twilio reads SSML there for Polly voices); Pinpoint's VoiceId (a Polly voice) becomes
    Polly.<VoiceId>. Raises DeliveryError (permanent) for SSML that is not well-formed."""
    attributes = ""
    if voice_id:
        attributes += f" voice={quoteattr(voice_id if '.' in voice_id else f'Polly.{voice_id}')}"
    if language:
        attributes += f" language={quoteattr(language)}"
    return f"<Response><Say{attributes}>{_speech(body)}</Say></Response>"


def _speech(body: str) -> str:
    if not body.lstrip().startswith("<"):  # plain text; markup means SSML (Pinpoint's <speak>)
        return escape(body)
    if "<!" in body:  # no DOCTYPE or entity declarations: nothing to expand
        raise DeliveryError("The SSML body must not contain <!DOCTYPE> or <!ENTITY>.", permanent=True, code=400)
    try:
        root = ET.fromstring(body.strip())
    except ET.ParseError as error:
        raise DeliveryError(f"The voice message's SSML is not well-formed: {error}", permanent=True, code=400) from None
    for element in root.iter():  # TwiML has no SSML namespace: keep the local names
        element.tag = element.tag.rpartition("}")[2]
    if root.tag != "speak":
        raise DeliveryError("An SSML body must be one <speak> element.", permanent=True, code=400)
    return escape(root.text or "") + "".join(ET.tostring(child, encoding="unicode") for child in root)


class PhoneTransport(HttpTransport):
    """One keep-alive HTTP client per batch; each delivery goes to its project's provider."""

    kind: ClassVar[str]
    label: ClassVar[str]
    members: ClassVar[tuple[str, ...]]

    def __init__(self) -> None:
        super().__init__()
        self._providers: dict[str, Provider | None] = {}

    def send(self, delivery: Delivery) -> str:
        """Hand one message to the project's provider; returns its message id or raises DeliveryError."""
        self.open()
        if delivery.project_id not in self._providers:
            self._providers[delivery.project_id] = provider_for(delivery.project_id, self.kind)
        provider = self._providers[delivery.project_id]
        if provider is None:
            raise DeliveryError(
                f"no {self.label} provider configured: choose one for the {self.kind} channel on the Channels "
                f"page, or set ENGAGE_{self.kind}_PROVIDER on the server.",
                permanent=True,
                code=400,
            )
        message = {k: delivery.payload[k] for k in self.members if delivery.payload.get(k) not in (None, "")}
        origination = self.origination(message, provider)
        if provider.name == "TWILIO":
            return self.twilio(delivery, message, origination, provider)
        return self.webhook(delivery, message, origination, provider)

    def origination(self, message: dict[str, Any], provider: Provider) -> str:
        return message.get("OriginationNumber") or provider.default_from

    def twilio(self, delivery: Delivery, message: dict[str, Any], origination: str, provider: Provider) -> str:
        raise NotImplementedError

    def _twilio_post(self, resource: str, form: dict[str, str], provider: Provider) -> str:
        if not (provider.twilio_account_sid and provider.twilio_auth_token):
            where = (
                "ENGAGE_TWILIO_ACCOUNT_SID and ENGAGE_TWILIO_AUTH_TOKEN"
                if provider.origin == "server"
                else "the channel"
            )
            raise DeliveryError(f"Twilio credentials are missing: set them in {where}.", permanent=True, code=400)
        if not form.get("From"):
            raise DeliveryError(
                f"no number to send from: give OriginationNumber in the message, or a default on the "
                f"{self.kind} channel (or ENGAGE_TWILIO_FROM).",
                permanent=True,
                code=400,
            )
        base = settings.ENGAGE_TWILIO_API_URL.rstrip("/")
        url = f"{base}/2010-04-01/Accounts/{provider.twilio_account_sid}/{resource}"
        auth = (provider.twilio_account_sid, provider.twilio_auth_token)
        response = post(self.http, url, "Twilio", data=form, auth=auth, headers={"Accept": "application/json"})
        answer = _json(response)
        if not response.is_success:
            detail = f"{answer.get('code', '')} {answer.get('message', '')}".strip() if answer else ""
            raise answer_error(response, "Twilio", detail)
        sid = answer.get("sid")
        return sid if isinstance(sid, str) and sid else ""  # accepted: never resend for want of a sid

    def webhook(self, delivery: Delivery, message: dict[str, Any], origination: str, provider: Provider) -> str:
        if not (provider.webhook_url and provider.webhook_secret):
            where = f"ENGAGE_{self.kind}_WEBHOOK_URL and _SECRET" if provider.origin == "server" else "the channel"
            raise DeliveryError(
                f"The webhook provider needs a URL and a secret: set them in {where}.", permanent=True, code=400
            )
        try:
            url = check_url(provider.webhook_url)
        except UrlRefused as error:
            raise DeliveryError(str(error), permanent=True, code=400) from None
        body = json.dumps(
            {
                "Channel": self.kind,
                "MessageId": delivery.message_id,
                "ApplicationId": delivery.project_id,
                "To": delivery.address,
                "From": origination,
                "EndpointId": delivery.endpoint_key,
                "UserId": delivery.user_id,
                "Message": message,
            },
            separators=(",", ":"),
        ).encode()
        headers = {**signed_headers(provider.webhook_secret, body), MESSAGE_ID_HEADER: delivery.message_id}
        response = post(self.http, url, f"The {self.label} webhook", content=body, headers=headers)
        if not response.is_success:
            raise answer_error(response, f"The {self.label} webhook")
        provider_id = _json(response).get("MessageId")
        return provider_id if isinstance(provider_id, str) and provider_id else delivery.message_id


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        answer = response.json()
    except ValueError:
        return {}
    return answer if isinstance(answer, dict) else {}


class SmsTransport(PhoneTransport):
    kind = ChannelKind.SMS
    label = "SMS"
    members = SMS_MEMBERS

    def origination(self, message: dict[str, Any], provider: Provider) -> str:
        return message.get("OriginationNumber") or message.get("SenderId") or provider.default_from

    def twilio(self, delivery: Delivery, message: dict[str, Any], origination: str, provider: Provider) -> str:
        if not message.get("Body"):
            raise DeliveryError("The SMS message has no Body.", permanent=True, code=400)
        form = {"To": delivery.address, "From": origination, "Body": message["Body"]}
        return self._twilio_post("Messages.json", form, provider)


class VoiceTransport(PhoneTransport):
    kind = ChannelKind.VOICE
    label = "voice"
    members = VOICE_MEMBERS

    def twilio(self, delivery: Delivery, message: dict[str, Any], origination: str, provider: Provider) -> str:
        if not message.get("Body"):
            raise DeliveryError("The voice message has no Body.", permanent=True, code=400)
        twiml = say_twiml(
            message["Body"], voice_id=message.get("VoiceId", ""), language=message.get("LanguageCode", "")
        )
        return self._twilio_post("Calls.json", {"To": delivery.address, "From": origination, "Twiml": twiml}, provider)
