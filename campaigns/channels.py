"""Channel resources of a project: one frozen dataclass per kind, picked from CHANNELS.

A kind's dataclass fields are its Pinpoint request members (`Enabled` lives on the row). Field
metadata says which members are secret (stored encrypted, never returned) and which are required.
`parse` merges a request into the stored settings and validates the result; `response` builds the
kind's Pinpoint response. The services at the end are the only writers of Channel rows.

Update semantics: a member that is not sent keeps its stored value (so `{"Enabled": false}` only
disables a channel); a member sent as "" or null is cleared. A new channel is enabled unless the
request says `"Enabled": false`.

Engage extensions: SMS and VOICE carry their provider (Twilio or a signed webhook) and its
credentials as members marked `extension`. Pinpoint's UpdateSmsChannel/UpdateVoiceChannel have no
such members (and boto3 refuses unknown ones), so only the Channels page and the admin set them
(`channel_update(..., extensions=True)`); API requests leave them as stored, and API responses
never show them.
"""

import json
import re
from dataclasses import dataclass, field, fields, replace
from email.utils import parseaddr
from typing import Any, ClassVar, Self

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.utils import timezone

from campaigns.models import Channel, ChannelKind
from engage import crypto
from engage.api.errors import NotFound
from engage.api.formats import iso8601
from engage.webhooks import UrlRefused, check_url
from projects.models import Project

MASKED = "********"  # stands in for a credential where the model requires one in a response


class ChannelInvalid(ValueError):
    """A channel request Pinpoint would answer with 400; `member` names the culprit when there is one."""

    def __init__(self, message: str, member: str | None = None) -> None:
        super().__init__(message)
        self.member = member


def member(
    label: str,
    help_text: str = "",
    *,
    secret: bool = False,
    required: bool = False,
    multiline: bool = False,
    extension: bool = False,
) -> Any:
    """A request member: a dataclass field defaulting to None, described for validation and forms.
    `extension`: an Engage member that is not part of Pinpoint's request (see the module docstring)."""
    meta = {
        "label": label,
        "help": help_text,
        "secret": secret,
        "required": required,
        "multiline": multiline,
        "extension": extension,
    }
    return field(default=None, repr=not secret, metadata=meta)  # no secret in a repr or a log


@dataclass(frozen=True)
class Member:
    name: str
    label: str
    help: str
    secret: bool
    required: bool
    multiline: bool
    extension: bool
    choices: tuple[str, ...]


@dataclass(frozen=True)
class ChannelSettings:
    """Base of the per-kind dataclasses; subclasses declare members and override `check`/`extras`."""

    kind: ClassVar[ChannelKind]
    title: ClassVar[str]
    summary: ClassVar[str]
    choices: ClassVar[dict[str, tuple[str, ...]]] = {}

    @classmethod
    def members(cls) -> tuple[Member, ...]:
        return tuple(Member(f.name, choices=cls.choices.get(f.name, ()), **f.metadata) for f in fields(cls))

    @classmethod
    def secret_names(cls) -> frozenset[str]:
        return frozenset(m.name for m in cls.members() if m.secret)

    @classmethod
    def parse(cls, data: dict[str, Any], *, stored: Self | None = None, extensions: bool = False) -> Self:
        """The stored settings with the request's members applied, validated; raises ChannelInvalid.
        Extension members of `data` are applied only with `extensions`."""
        values = {}
        for m in cls.members():
            if m.name not in data or (m.extension and not extensions):
                values[m.name] = getattr(stored, m.name) if stored is not None else None
                continue
            value = data[m.name]
            if value is not None and not isinstance(value, str):
                raise ChannelInvalid(f"{m.name} must be a string.", m.name)
            if isinstance(value, str) and not m.multiline:
                value = value.strip()
            values[m.name] = value or None
        for m in cls.members():
            if m.choices and values[m.name] is not None:
                values[m.name] = values[m.name].upper()
                if values[m.name] not in m.choices:
                    raise ChannelInvalid(f"{m.name} must be one of {', '.join(m.choices)}.", m.name)
        settings = cls(**values)
        for m in cls.members():
            if m.required and getattr(settings, m.name) is None:
                raise ChannelInvalid(f"{m.name} is required.", m.name)
        return settings.check()

    def check(self) -> Self:
        """Kind-specific validation; may fill in defaults. Raises ChannelInvalid."""
        return self

    def extras(self) -> dict[str, Any]:
        """Response members beyond the shared ones, for this kind."""
        return {}

    def has_credential(self) -> bool:
        return any(getattr(self, name) for name in self.secret_names())

    def stored_settings(self) -> dict[str, str]:
        return {m.name: getattr(self, m.name) for m in self.members() if not m.secret and getattr(self, m.name)}

    def pinpoint_settings(self) -> dict[str, str]:
        """The non-secret members Pinpoint knows (no Engage extension): what API responses show."""
        return {k: v for k, v in self.stored_settings().items() if not self.member_named(k).extension}

    @classmethod
    def member_named(cls, name: str) -> Member:
        return next(m for m in cls.members() if m.name == name)

    def stored_secrets(self) -> dict[str, str]:
        return {m.name: getattr(self, m.name) for m in self.members() if m.secret and getattr(self, m.name)}

    @classmethod
    def load(cls, channel: Channel) -> Self:
        """The settings of a stored channel, secrets decrypted (raises crypto.DecryptionError)."""
        secrets = json.loads(crypto.decrypt(channel.secrets_encrypted)) if channel.secrets_encrypted else {}
        names = {m.name for m in cls.members()}
        return cls(**{k: v for k, v in {**channel.settings, **secrets}.items() if k in names})


def _pem(value: str | None, name: str, what: str) -> None:
    if value is not None and not re.search(rf"-----BEGIN [A-Z ]*{what}-----", value):
        raise ChannelInvalid(f"{name} must be PEM text (a -----BEGIN ...{what}----- block).", name)


def _apple_id(value: str | None, name: str) -> None:
    if value is not None and not re.fullmatch(r"[A-Z0-9]{10}", value):
        raise ChannelInvalid(f"{name} must be the 10-character identifier Apple assigned (A-Z, 0-9).", name)


@dataclass(frozen=True)
class EmailChannel(ChannelSettings):
    kind = ChannelKind.EMAIL
    title = "Email"
    summary = "Email through the server's mail backend (SMTP by default)."
    messages_per_second: ClassVar[int] = 20

    FromAddress: str | None = member(
        "From address", "The address emails are sent from, e.g. news@example.com.", required=True
    )
    Identity: str | None = member(
        "Identity", "Pinpoint's SES identity ARN (or your sending domain); stored and returned.", required=True
    )
    ConfigurationSet: str | None = member("Configuration set", "SES configuration set name; stored and returned.")
    RoleArn: str | None = member("Role ARN", "IAM role for event submission; stored and returned.")
    OrchestrationSendingRoleArn: str | None = member(
        "Orchestration sending role ARN", "IAM role for campaign and journey sends; stored and returned."
    )

    def check(self) -> Self:
        _, address = parseaddr(self.FromAddress)
        try:
            validate_email(address)
        except ValidationError:
            raise ChannelInvalid(
                "FromAddress must be an email address, e.g. news@example.com.", "FromAddress"
            ) from None
        return self

    def extras(self) -> dict[str, Any]:
        return {**self.stored_settings(), "MessagesPerSecond": self.messages_per_second}


PROVIDERS = ("TWILIO", "WEBHOOK")


@dataclass(frozen=True)
class PhoneChannel(ChannelSettings):
    """SMS and VOICE: Pinpoint's members plus the provider Engage hands messages to (extensions).

    A channel that names a Provider must carry that provider's credentials; one that names none uses
    the installation's provider (ENGAGE_SMS_PROVIDER / ENGAGE_VOICE_PROVIDER and their settings)."""

    choices = {"Provider": PROVIDERS}

    Provider: str | None = member(
        "Provider",
        "TWILIO sends through Twilio's REST API, WEBHOOK posts a signed JSON request to your own service. "
        "Blank: the server's default provider, if it has one.",
        extension=True,
    )
    TwilioAccountSid: str | None = member(
        "Twilio account SID", "Your account SID (AC…), from the Twilio console (TWILIO).", extension=True
    )
    TwilioAuthToken: str | None = member(
        "Twilio auth token", "The account's auth token (TWILIO).", secret=True, extension=True
    )
    WebhookUrl: str | None = member(
        "Webhook URL", "The https:// URL Engage posts each message to (WEBHOOK).", extension=True
    )
    WebhookSecret: str | None = member(
        "Webhook secret",
        "Shared secret, at least 16 characters, that Engage signs each request with (HMAC-SHA256, "
        "as described above) (WEBHOOK).",
        secret=True,
        extension=True,
    )

    def check(self) -> Self:
        if self.Provider == "TWILIO":
            if not (self.TwilioAccountSid and self.TwilioAuthToken):
                raise ChannelInvalid("Provider TWILIO needs TwilioAccountSid and TwilioAuthToken.", "TwilioAccountSid")
            if not re.fullmatch(r"AC[0-9a-fA-F]{32}", self.TwilioAccountSid):
                raise ChannelInvalid("TwilioAccountSid is AC followed by 32 hex digits.", "TwilioAccountSid")
        if self.Provider == "WEBHOOK":
            if not (self.WebhookUrl and self.WebhookSecret):
                raise ChannelInvalid("Provider WEBHOOK needs WebhookUrl and WebhookSecret.", "WebhookUrl")
            try:
                check_url(self.WebhookUrl)
            except UrlRefused as error:
                raise ChannelInvalid(f"WebhookUrl: {error}", "WebhookUrl") from None
            if len(self.WebhookSecret) < 16:
                raise ChannelInvalid("WebhookSecret must be at least 16 characters.", "WebhookSecret")
        return self


@dataclass(frozen=True)
class SmsChannel(PhoneChannel):
    kind = ChannelKind.SMS
    title = "SMS"
    summary = "Text messages through Twilio or your own signed webhook."
    messages_per_second: ClassVar[int] = 20

    SenderId: str | None = member("Sender ID", "Alphanumeric sender shown on phones: 1 to 11 letters or digits.")
    ShortCode: str | None = member("Short code", "Registered short code (or long number) messages are sent from.")

    def check(self) -> Self:
        if self.SenderId is not None and not re.fullmatch(r"(?=.*[A-Za-z])[A-Za-z0-9-]{1,11}", self.SenderId):
            raise ChannelInvalid("SenderId must be 1 to 11 letters, digits or hyphens, with a letter.", "SenderId")
        if self.ShortCode is not None and not re.fullmatch(r"\+?[0-9]{3,15}", self.ShortCode):
            raise ChannelInvalid("ShortCode must be 3 to 15 digits (a leading + is allowed).", "ShortCode")
        return super().check()

    def extras(self) -> dict[str, Any]:
        return {
            **self.pinpoint_settings(),
            "PromotionalMessagesPerSecond": self.messages_per_second,
            "TransactionalMessagesPerSecond": self.messages_per_second,
        }


@dataclass(frozen=True)
class VoiceChannel(PhoneChannel):
    kind = ChannelKind.VOICE
    title = "Voice"
    summary = "Voice calls that read a message aloud, through Twilio or your own signed webhook."

    OriginationNumber: str | None = member(
        "Calling number",
        "The number calls come from (E.164, e.g. +15005550006) when a message names none.",
        extension=True,
    )

    def check(self) -> Self:
        if self.OriginationNumber is not None and not re.fullmatch(r"\+[1-9][0-9]{6,14}", self.OriginationNumber):
            raise ChannelInvalid("OriginationNumber must be an E.164 number, e.g. +15005550006.", "OriginationNumber")
        return super().check()


FCM_SERVICE_FIELDS = ("type", "project_id", "private_key", "client_email")


@dataclass(frozen=True)
class GcmChannel(ChannelSettings):
    kind = ChannelKind.GCM
    title = "Firebase Cloud Messaging (GCM)"
    summary = "Android (and web) push through Firebase Cloud Messaging."
    choices = {"DefaultAuthenticationMethod": ("KEY", "TOKEN")}

    ApiKey: str | None = member("Server key", "Legacy FCM server key (authentication method KEY).", secret=True)
    ServiceJson: str | None = member(
        "Service account JSON",
        "The Firebase service-account key file, for FCM HTTP v1 (authentication method TOKEN).",
        secret=True,
        multiline=True,
    )
    DefaultAuthenticationMethod: str | None = member(
        "Authentication method", "TOKEN uses the service account JSON, KEY the server key."
    )

    def check(self) -> Self:
        if self.ServiceJson is not None:
            try:
                account = json.loads(self.ServiceJson)
            except ValueError:
                raise ChannelInvalid(
                    "ServiceJson must be the service account's JSON key file.", "ServiceJson"
                ) from None
            missing = [k for k in FCM_SERVICE_FIELDS if not isinstance(account, dict) or not account.get(k)]
            if missing:
                raise ChannelInvalid(f"ServiceJson lacks what FCM v1 needs: {', '.join(missing)}.", "ServiceJson")
            if account["type"] != "service_account":
                raise ChannelInvalid('ServiceJson must be a key of type "service_account".', "ServiceJson")
        method = self.DefaultAuthenticationMethod or ("TOKEN" if self.ServiceJson and not self.ApiKey else "KEY")
        if method == "TOKEN" and not self.ServiceJson:
            raise ChannelInvalid("DefaultAuthenticationMethod TOKEN needs ServiceJson.", "ServiceJson")
        if method == "KEY" and not self.ApiKey:
            raise ChannelInvalid("DefaultAuthenticationMethod KEY needs ApiKey (or send ServiceJson).", "ApiKey")
        return replace(self, DefaultAuthenticationMethod=method)

    def extras(self) -> dict[str, Any]:
        return {
            "DefaultAuthenticationMethod": self.DefaultAuthenticationMethod,
            "HasFcmServiceCredentials": bool(self.ServiceJson),
        }


@dataclass(frozen=True)
class ApnsChannel(ChannelSettings):
    kind = ChannelKind.APNS
    title = "Apple Push Notification service (APNs)"
    summary = "iOS push through Apple's production APNs."
    choices = {"DefaultAuthenticationMethod": ("CERTIFICATE", "KEY")}

    DefaultAuthenticationMethod: str | None = member(
        "Authentication method", "KEY signs tokens with a .p8 key; CERTIFICATE uses a client certificate."
    )
    BundleId: str | None = member("Bundle ID", "Your app's bundle identifier, e.g. com.example.app (KEY).")
    TeamId: str | None = member("Team ID", "Your Apple developer team identifier, 10 characters (KEY).")
    TokenKeyId: str | None = member("Key ID", "The identifier of the signing key, 10 characters (KEY).")
    TokenKey: str | None = member("Token key", "The .p8 signing key's text (KEY).", secret=True, multiline=True)
    Certificate: str | None = member(
        "Certificate", "The APNs client certificate, PEM (CERTIFICATE).", secret=True, multiline=True
    )
    PrivateKey: str | None = member(
        "Private key", "The certificate's private key, PEM (CERTIFICATE).", secret=True, multiline=True
    )

    def check(self) -> Self:
        method = self.DefaultAuthenticationMethod or ("KEY" if self.TokenKey else "CERTIFICATE")
        needs = ("BundleId", "TeamId", "TokenKeyId", "TokenKey") if method == "KEY" else ("Certificate", "PrivateKey")
        missing = [name for name in needs if not getattr(self, name)]
        if missing:
            raise ChannelInvalid(f"DefaultAuthenticationMethod {method} needs {', '.join(missing)}.", missing[0])
        _pem(self.TokenKey, "TokenKey", "PRIVATE KEY")
        _pem(self.Certificate, "Certificate", "CERTIFICATE")
        _pem(self.PrivateKey, "PrivateKey", "PRIVATE KEY")
        _apple_id(self.TeamId, "TeamId")
        _apple_id(self.TokenKeyId, "TokenKeyId")
        return replace(self, DefaultAuthenticationMethod=method)

    def extras(self) -> dict[str, Any]:
        return {"DefaultAuthenticationMethod": self.DefaultAuthenticationMethod, "HasTokenKey": bool(self.TokenKey)}


@dataclass(frozen=True)
class ApnsSandboxChannel(ApnsChannel):
    kind = ChannelKind.APNS_SANDBOX
    title = "APNs sandbox"
    summary = "iOS push through Apple's development (sandbox) APNs."


@dataclass(frozen=True)
class ApnsVoipChannel(ApnsChannel):
    kind = ChannelKind.APNS_VOIP
    title = "APNs VoIP"
    summary = "VoIP pushes through Apple's production APNs."


@dataclass(frozen=True)
class ApnsVoipSandboxChannel(ApnsChannel):
    kind = ChannelKind.APNS_VOIP_SANDBOX
    title = "APNs VoIP sandbox"
    summary = "VoIP pushes through Apple's development (sandbox) APNs."


@dataclass(frozen=True)
class AdmChannel(ChannelSettings):
    kind = ChannelKind.ADM
    title = "Amazon Device Messaging (ADM)"
    summary = "Push to Amazon Fire devices. Stored; deliveries are not supported yet."

    ClientId: str | None = member("Client ID", "The client ID from the Amazon developer console.", required=True)
    ClientSecret: str | None = member(
        "Client secret", "The client secret from the Amazon developer console.", secret=True, required=True
    )


@dataclass(frozen=True)
class BaiduChannel(ChannelSettings):
    kind = ChannelKind.BAIDU
    title = "Baidu Cloud Push"
    summary = "Push to Android devices in China. Stored; deliveries are not supported yet."

    ApiKey: str | None = member("API key", "The API key from Baidu Cloud Push.", secret=True, required=True)
    SecretKey: str | None = member("Secret key", "The secret key from Baidu Cloud Push.", secret=True, required=True)

    def extras(self) -> dict[str, Any]:
        return {"Credential": MASKED}  # the model requires it; the key itself is never returned


CHANNELS: dict[str, type[ChannelSettings]] = {
    ChannelKind.EMAIL: EmailChannel,
    ChannelKind.SMS: SmsChannel,
    ChannelKind.VOICE: VoiceChannel,
    ChannelKind.GCM: GcmChannel,
    ChannelKind.APNS: ApnsChannel,
    ChannelKind.APNS_SANDBOX: ApnsSandboxChannel,
    ChannelKind.APNS_VOIP: ApnsVoipChannel,
    ChannelKind.APNS_VOIP_SANDBOX: ApnsVoipSandboxChannel,
    ChannelKind.ADM: AdmChannel,
    ChannelKind.BAIDU: BaiduChannel,
}


def channel_summary(channel: Channel) -> dict[str, Any]:
    """Pinpoint's ChannelResponse (GetChannels' map values): the members every channel shares."""
    return {
        "ApplicationId": channel.project_id,
        "CreationDate": iso8601(channel.creation_date),
        "Enabled": channel.enabled,
        "HasCredential": bool(channel.secrets_encrypted),
        "Id": channel.kind.lower(),
        "IsArchived": False,
        "LastModifiedBy": channel.last_modified_by,
        "LastModifiedDate": iso8601(channel.last_modified_date),
        "Version": channel.version,
    }


def channel_response(channel: Channel) -> dict[str, Any]:
    """The kind's Pinpoint channel response (EmailChannelResponse, ...); no secret in it."""
    settings = CHANNELS[channel.kind].load(channel)
    return {**channel_summary(channel), "Platform": channel.kind, **settings.extras()}


def channel_update(project: Project, kind: str, data: dict[str, Any], *, by: str, extensions: bool = False) -> Channel:
    """Create or update the project's channel of this kind from a Pinpoint request body.

    Members not sent keep their stored values; Version goes up by one per update; secrets are
    re-encrypted. Engage's extension members are taken from `data` only with `extensions` (the
    Channels page and the admin), never from the Pinpoint API. Raises ChannelInvalid (nothing saved)
    when the result is not a valid channel.
    """
    spec = CHANNELS[kind]
    enabled = data.get("Enabled")
    if enabled is not None and not isinstance(enabled, bool):
        raise ChannelInvalid("Enabled must be true or false.", "Enabled")
    with transaction.atomic():
        channel = Channel.objects.select_for_update().filter(project=project, kind=kind).first()
        settings = spec.parse(data, stored=spec.load(channel) if channel else None, extensions=extensions)
        now = timezone.now()
        if channel is None:
            channel = Channel(project=project, kind=kind, creation_date=now, version=0, enabled=enabled is not False)
        elif enabled is not None:
            channel.enabled = enabled
        secrets = settings.stored_secrets()
        channel.settings = settings.stored_settings()
        channel.secrets_encrypted = crypto.encrypt(json.dumps(secrets)) if secrets else ""
        channel.version += 1
        channel.last_modified_date = now
        channel.last_modified_by = by
        channel.save()
    return channel


def channel_get(project: Project, kind: str) -> Channel | None:
    """The project's channel of this kind, or None when it is not configured."""
    return project.channels.filter(kind=kind).first()


def channel_delete(project: Project, kind: str) -> Channel:
    """Delete the project's channel of this kind and return its last state; NotFound if there is none."""
    with transaction.atomic():
        channel = project.channels.select_for_update().filter(kind=kind).first()
        if channel is None:
            raise NotFound("Resource not found")
        Channel.objects.filter(pk=channel.pk).delete()
    return channel


def channels_list(project: Project) -> list[Channel]:
    """The project's configured channels, enabled or not, in ChannelKind order."""
    order = list(ChannelKind.values)
    return sorted(project.channels.all(), key=lambda c: order.index(c.kind))
