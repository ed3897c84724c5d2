"""SendMessages and SendUsersMessages: pick each recipient's message, render it, write outbox rows, and
send them inline (Pinpoint answers synchronously, with a result per recipient).

Which message a recipient gets is decided by its channel (an address's ChannelType, an endpoint's):
EMAIL takes EmailMessage, SMS SMSMessage, VOICE VoiceMessage, GCM GCMMessage, APNS* APNSMessage, ADM
ADMMessage, BAIDU BaiduMessage. Member by member, the channel's own message wins over
DefaultPushNotificationMessage (push channels), which wins over DefaultMessage, which wins over the
channel's template (TemplateConfiguration: EmailTemplate, SMSTemplate, VoiceTemplate, PushTemplate's
platform part over its Default part). Variables: the endpoint's JSON, then the message-level
Substitutions (DefaultMessage < DefaultPushNotificationMessage < the channel's own), then the
recipient's; a value still missing takes the template's DefaultSubstitutions entry.
"""

import json
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.utils import timezone

from audience.api.serializers import endpoint_responses
from audience.models import Endpoint, EndpointStatus, OptOut, endpoint_key
from audience.services import SystemEvent, events_record
from campaigns.channels import CHANNELS, ChannelSettings, channel_get
from campaigns.deliveries import Outcome, OutgoingMessage, deliveries_create, deliveries_send_batch
from campaigns.handlebars import TemplateError, compile_template
from campaigns.models import Delivery, DeliveryChannel, DeliveryStatus, TemplateType
from campaigns.templates import TemplateInvalid, TemplateNotFound, template_get
from projects.models import Project

MAX_RECIPIENTS = 100  # Pinpoint's limit on Addresses + Endpoints in one SendMessages request
MAX_USERS = 100  # and on Users in one SendUsersMessages request

PUSH = {"GCM": "GCM", "APNS": "APNS", "APNS_SANDBOX": "APNS", "APNS_VOIP": "APNS", "APNS_VOIP_SANDBOX": "APNS"}
PUSH |= {"ADM": "ADM", "BAIDU": "Baidu"}  # channel → its member suffix and PushTemplate part
CHANNEL_MESSAGE = {"EMAIL": "EmailMessage", "SMS": "SMSMessage", "VOICE": "VoiceMessage"}
CHANNEL_MESSAGE |= {channel: f"{part}Message" for channel, part in PUSH.items()}
TEMPLATE_OF = {"EMAIL": "EmailTemplate", "SMS": "SMSTemplate", "VOICE": "VoiceTemplate"}
TEMPLATE_OF |= dict.fromkeys(PUSH, "PushTemplate")
TEMPLATE_TYPE = {"EmailTemplate": TemplateType.EMAIL, "SMSTemplate": TemplateType.SMS}
TEMPLATE_TYPE |= {"VoiceTemplate": TemplateType.VOICE, "PushTemplate": TemplateType.PUSH}
# The Update<Channel>Channel operation that enables each channel, for error messages.
UPDATE_OPERATION = {
    "EMAIL": "UpdateEmailChannel",
    "SMS": "UpdateSmsChannel",
    "VOICE": "UpdateVoiceChannel",
    "GCM": "UpdateGcmChannel",
    "APNS": "UpdateApnsChannel",
    "APNS_SANDBOX": "UpdateApnsSandboxChannel",
    "APNS_VOIP": "UpdateApnsVoipChannel",
    "APNS_VOIP_SANDBOX": "UpdateApnsVoipSandboxChannel",
    "ADM": "UpdateAdmChannel",
    "BAIDU": "UpdateBaiduChannel",
}
# Members rendered as templates; the rest (Action, Priority, Data, RawContent...) are sent as given.
RENDERED = ("Subject", "TextPart", "HtmlPart", "Title", "Body", "Url", "ImageUrl", "ImageIconUrl")
RENDERED += ("SmallImageIconUrl", "MediaUrl")
E164 = re.compile(r"\+[1-9][0-9]{6,14}")


class MessageInvalid(ValueError):
    """The request cannot be sent at all (answered 400)."""


@dataclass
class Recipient:
    """One Addresses, Endpoints (or a user's endpoint) entry of a request."""

    key: str  # the address or endpoint id, as the request wrote it
    is_endpoint: bool
    channel_type: str = ""  # an address's ChannelType; an endpoint's comes from the endpoint
    substitutions: dict[str, Any] = field(default_factory=dict)
    title_override: str = ""
    body_override: str = ""
    raw_content: str = ""
    context: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class MessageSpec:
    """A request's DirectMessageConfiguration (members as sent, shapes already checked), its
    TemplateConfiguration as {member: (name, version)} and its Context."""

    config: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    templates: Mapping[str, tuple[str, str]] = field(default_factory=dict)
    context: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class RecipientResult:
    delivery_status: str  # Pinpoint's DeliveryStatus
    status_code: int
    status_message: str = ""
    message_id: str = ""
    address: str = ""


@dataclass(frozen=True)
class ChannelMessage:
    """A channel's message before rendering: members, message-level Substitutions, template defaults."""

    channel: str
    members: dict[str, Any]
    substitutions: dict[str, Any]
    defaults: dict[str, str]
    from_address: str = ""


def _value(values: Any) -> Any:
    """Substitutions are lists of strings in Pinpoint; one value stands for itself."""
    if isinstance(values, list):
        return values[0] if len(values) == 1 else values
    return values


def _context(base: Mapping[str, Any], *layers: Mapping[str, Any]) -> dict[str, Any]:
    """The render context: the endpoint's JSON, then each substitution layer on top (later wins);
    dotted names ("User.UserAttributes.FirstName") set nested members."""
    context = json.loads(json.dumps(base))
    for layer in layers:
        for name, values in layer.items():
            parts = str(name).split(".")
            target = context
            for part in parts[:-1]:
                child = target.get(part)
                if not isinstance(child, dict):
                    child = target[part] = {}
                target = child
            target[parts[-1]] = _value(values)
    return context


def _template(spec: MessageSpec, member: str) -> tuple[dict[str, Any], dict[str, str]]:
    """The stored content and DefaultSubstitutions of the request's template `member`, or ({}, {})."""
    if member not in spec.templates:
        return {}, {}
    name, version = spec.templates[member]
    try:
        row = template_get(TEMPLATE_TYPE[member], name, version or None)
    except (TemplateNotFound, TemplateInvalid) as error:
        raise MessageInvalid(str(error)) from None
    try:
        defaults = json.loads(row.default_substitutions) if row.default_substitutions else {}
    except ValueError:
        defaults = {}
    defaults = {str(k): str(v) for k, v in defaults.items()} if isinstance(defaults, dict) else {}
    return dict(row.content), defaults


def _layer(members: dict[str, Any], substitutions: dict[str, Any], message: Mapping[str, Any]) -> None:
    for name, value in message.items():
        if name == "Substitutions":
            substitutions.update(value or {})
        elif value is not None and value != "":
            members[name] = value


def _email_layers(spec: MessageSpec, template: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    members: dict[str, Any] = {k: template[k] for k in ("Subject", "TextPart", "HtmlPart") if template.get(k)}
    if template.get("Headers"):
        members["Headers"] = [(h["Name"], h.get("Value", "")) for h in template["Headers"] if h.get("Name")]
    substitutions: dict[str, Any] = {}
    default = spec.config.get("DefaultMessage") or {}
    _layer(members, substitutions, {"TextPart": default.get("Body"), "Substitutions": default.get("Substitutions")})
    email = spec.config.get("EmailMessage") or {}
    simple = email.get("SimpleEmail") or {}
    parts = {name: (simple.get(name) or {}).get("Data") for name in ("Subject", "TextPart", "HtmlPart")}
    parts["TextPart"] = parts["TextPart"] or email.get("Body")
    parts["Headers"] = [(h["Name"], h.get("Value", "")) for h in simple.get("Headers") or []] or None
    _layer(members, substitutions, {**parts, "Substitutions": email.get("Substitutions")})
    if email.get("FromAddress"):
        members["FromAddress"] = email["FromAddress"]
    return members, substitutions


def channel_settings(project: Project, channel: str) -> ChannelSettings:
    """The settings of the project's `channel`; raises MessageInvalid when it is not enabled."""
    row = channel_get(project, channel)
    if row is None or not row.enabled:
        raise MessageInvalid(
            f"The {channel} channel of this project is not enabled: set it up with {UPDATE_OPERATION[channel]} "
            f"(Enabled true) before sending {channel} messages."
        )
    return CHANNELS[channel].load(row)


def channel_message(project: Project, spec: MessageSpec, channel: str) -> ChannelMessage:
    """The request's message for `channel`, layered by Pinpoint's precedence; raises MessageInvalid when
    the channel is not enabled or the request has nothing to send on it."""
    if channel not in CHANNEL_MESSAGE:
        raise MessageInvalid(
            f"SendMessages cannot send to {channel or 'channel-less'} recipients: Pinpoint sends CUSTOM and "
            "IN_APP messages through campaigns and journeys only."
        )
    settings = channel_settings(project, channel)
    template_member = TEMPLATE_OF[channel]
    template, defaults = _template(spec, template_member)
    if channel == "EMAIL":
        members, substitutions = _email_layers(spec, template)
        if not any(members.get(k) for k in ("Subject", "TextPart", "HtmlPart")):
            raise MessageInvalid("The email has no content: give SimpleEmail parts or an EmailTemplate.")
        return ChannelMessage(channel, members, substitutions, defaults, settings.FromAddress or "")

    members = {}
    substitutions = {}
    if channel in PUSH:
        _layer(members, substitutions, template.get("Default") or {})
        _layer(members, substitutions, template.get(PUSH[channel]) or {})
    else:
        _layer(members, substitutions, {k: v for k, v in template.items() if k != "RecommenderId"})
    members.pop("RecommenderId", None)
    _layer(members, substitutions, spec.config.get("DefaultMessage") or {})
    if channel in PUSH:
        _layer(members, substitutions, spec.config.get("DefaultPushNotificationMessage") or {})
    _layer(members, substitutions, spec.config.get(CHANNEL_MESSAGE[channel]) or {})
    if channel == "SMS" and not members.get("OriginationNumber") and not members.get("SenderId"):
        # The channel's sender is the default, as Pinpoint's SMS channel settings are.
        if settings.ShortCode:
            members["OriginationNumber"] = settings.ShortCode
        if settings.SenderId:
            members["SenderId"] = settings.SenderId
    wanted = ("Body",) if channel in ("SMS", "VOICE") else ("Title", "Body", "RawContent", "Data", "SilentPush")
    if not any(members.get(k) for k in wanted):
        where = f"{CHANNEL_MESSAGE[channel]}, DefaultMessage or {template_member}"
        if channel in PUSH:
            where = f"{CHANNEL_MESSAGE[channel]}, DefaultPushNotificationMessage, DefaultMessage or {template_member}"
        raise MessageInvalid(f"There is no {channel} message to send: give a Body in {where}.")
    return ChannelMessage(channel, members, substitutions, defaults)


def _render(message: ChannelMessage, context: Mapping[str, Any], r: Recipient) -> dict[str, Any]:
    """The message's members with the recipient's overrides, every RENDERED member rendered."""
    members = dict(message.members)
    if r.title_override:
        members["Subject" if message.channel == "EMAIL" else "Title"] = r.title_override
    if r.body_override:
        members["TextPart" if message.channel == "EMAIL" else "Body"] = r.body_override
    for name in RENDERED:
        if isinstance(members.get(name), str) and members[name]:
            template = compile_template(members[name])
            members[name] = template.render(context, defaults=message.defaults, html_escape=name == "HtmlPart")
    if members.get("Headers"):
        members["Headers"] = tuple(
            (name, compile_template(value).render(context, defaults=message.defaults, html_escape=False))
            for name, value in members["Headers"]
        )
    return members


def _outgoing(
    message: ChannelMessage, members: dict[str, Any], r: Recipient, spec: MessageSpec, **where: str
) -> OutgoingMessage:
    if message.channel == "EMAIL":
        return OutgoingMessage(
            channel=DeliveryChannel.EMAIL,
            subject=members.get("Subject", ""),
            text=members.get("TextPart", ""),
            html=members.get("HtmlPart", ""),
            headers=tuple(members.get("Headers") or ()),
            from_address=members.get("FromAddress") or message.from_address,
            **where,
        )
    payload = {k: v for k, v in members.items() if k != "Substitutions"}
    if message.channel in PUSH:
        if r.raw_content:
            payload["RawContent"] = r.raw_content
        context = {**spec.context, **r.context}
        if context:
            payload["Context"] = context
    return OutgoingMessage(channel=message.channel, payload=payload, **where)


def message_render(
    message: ChannelMessage,
    document: Mapping[str, Any],
    spec: MessageSpec,
    *,
    address: str,
    endpoint_key: str,
    user_id: str = "",
    title_override: str = "",
    body_override: str = "",
) -> OutgoingMessage:
    """One endpoint's rendered message, exactly as SendMessages renders it (the endpoint's JSON
    `document` < the message's Substitutions), for campaigns and journeys. Raises TemplateError."""
    r = Recipient(key=endpoint_key, is_endpoint=True, title_override=title_override, body_override=body_override)
    members = _render(message, _context(document, message.substitutions), r)
    return _outgoing(message, members, r, spec, address=address, endpoint_key=endpoint_key, user_id=user_id)


def result_for(row: Delivery, outcome: Outcome | None, address: str) -> RecipientResult:
    """Pinpoint's result for a delivery sent inline. TEMPORARY_FAILURE and THROTTLED rows stay in the
    outbox and Engage retries them: callers must not resend."""
    message_id = row.message_id.strip("<>")
    if outcome is None:  # another worker holds it, or it was not due: the outbox will send it
        return RecipientResult("SUCCESSFUL", 202, "Queued.", message_id, address)
    if outcome.status == DeliveryStatus.SENT:
        return RecipientResult("SUCCESSFUL", 200, f"MessageId: {message_id}", message_id, address)
    if outcome.status == DeliveryStatus.QUEUED:
        status = "THROTTLED" if outcome.code == 429 else "TEMPORARY_FAILURE"
        message = f"{outcome.message} — Engage retries this delivery itself; do not resend."
        return RecipientResult(status, outcome.code or 503, message, message_id, address)
    return RecipientResult("PERMANENT_FAILURE", outcome.code or 400, outcome.message, message_id, address)


def messages_send_inline(
    project: Project, planned: Sequence[tuple[Any, OutgoingMessage]], *, request_id: str = ""
) -> dict[Any, RecipientResult]:
    """Write outbox rows for `planned` (slot, message) pairs and send them now; each slot's result.
    The result's Address is the message's address (callers drop it where Pinpoint does)."""
    rows = deliveries_create(project, [message for _, message in planned], request_id=request_id, enqueue=False)
    outcomes = deliveries_send_batch([row.id for row in rows])
    return {
        slot: result_for(row, outcomes.get(row.id), message.address)
        for (slot, message), row in zip(planned, rows, strict=True)
    }


def _rendering_failed(project: Project, endpoint: Endpoint, error: Exception, request_id: str) -> SystemEvent:
    return SystemEvent(
        project_id=project.id,
        endpoint_key=endpoint.key,
        event_id=f"{request_id or uuid.uuid4().hex}:{endpoint.key}:_email.rendering_failure",
        event_type="_email.rendering_failure",
        timestamp=timezone.now(),
        attributes={"error": str(error)[:200], "request_id": request_id},
    )


def _send(
    project: Project,
    recipients: Sequence[Recipient],
    spec: MessageSpec,
    endpoints: Mapping[str, Endpoint],
    *,
    request_id: str,
) -> dict[tuple[bool, str], RecipientResult]:
    """The per-recipient results of one request. `endpoints` maps endpoint keys to the project's rows."""
    documents = dict(
        zip(endpoints, endpoint_responses(project, list(endpoints.values())), strict=True) if endpoints else ()
    )
    messages: dict[str, ChannelMessage | MessageInvalid] = {}

    def message_for(channel: str) -> ChannelMessage:
        if channel not in messages:
            try:
                messages[channel] = channel_message(project, spec, channel)
            except MessageInvalid as error:
                messages[channel] = error
        found = messages[channel]
        if isinstance(found, MessageInvalid):
            raise found
        return found

    for r in recipients:  # an address the request cannot send to fails the whole request, before any send
        if not r.is_endpoint:
            if not r.channel_type:
                raise MessageInvalid(f"Addresses.{r.key}.ChannelType is required.")
            message_for(r.channel_type)

    results: dict[tuple[bool, str], RecipientResult] = {}
    planned: list[tuple[tuple[bool, str], OutgoingMessage]] = []
    failures: list[SystemEvent] = []
    seen: set[tuple[str, str]] = set()
    for r in recipients:
        slot = (r.is_endpoint, r.key)
        base: Mapping[str, Any] = {}
        channel, address, key, user_id = r.channel_type, r.key, "", ""
        endpoint = None
        if r.is_endpoint:
            endpoint = endpoints.get(endpoint_key(r.key))
            if endpoint is None:
                results[slot] = RecipientResult("PERMANENT_FAILURE", 404, f"Endpoint {r.key} not found.")
                continue
            channel, address, key, user_id = endpoint.channel_type, endpoint.address, endpoint.key, endpoint.user_id
            base = documents[endpoint.key]
            if endpoint.opt_out == OptOut.ALL:
                results[slot] = RecipientResult("OPT_OUT", 400, "The endpoint has opted out.", address=address)
                continue
            if endpoint.status != EndpointStatus.ACTIVE:
                results[slot] = RecipientResult("PERMANENT_FAILURE", 400, "The endpoint is INACTIVE.", address=address)
                continue
            if not address:
                results[slot] = RecipientResult("PERMANENT_FAILURE", 400, "The endpoint has no Address.")
                continue
            try:
                message = message_for(channel)
            except MessageInvalid as error:
                results[slot] = RecipientResult("PERMANENT_FAILURE", 400, str(error), address=address)
                continue
        else:
            message = message_for(channel)
        if channel in ("SMS", "VOICE") and not E164.fullmatch(address):
            why = f"{address} is not a phone number in E.164 form (+ and 7 to 15 digits)."
            results[slot] = RecipientResult("PERMANENT_FAILURE", 400, why, address=address)
            continue
        dedupe = (channel, address.lower())
        if dedupe in seen:
            results[slot] = RecipientResult(
                "DUPLICATE", 400, "The address is already in this request.", address=address
            )
            continue
        seen.add(dedupe)
        context = _context(base, message.substitutions, r.substitutions)
        try:
            members = _render(message, context, r)
        except TemplateError as error:
            results[slot] = RecipientResult("PERMANENT_FAILURE", 400, f"Rendering failed: {error}", address=address)
            if endpoint is not None and channel == "EMAIL":
                failures.append(_rendering_failed(project, endpoint, error, request_id))
            continue
        planned.append((slot, _outgoing(message, members, r, spec, address=address, endpoint_key=key, user_id=user_id)))

    events_record(failures)
    results.update(messages_send_inline(project, planned, request_id=request_id))
    return results


def messages_send(
    project: Project, recipients: Sequence[Recipient], spec: MessageSpec, *, request_id: str = ""
) -> dict[tuple[bool, str], RecipientResult]:
    """SendMessages: each recipient's result keyed by (is_endpoint, key), in request order. Raises
    MessageInvalid for a request that cannot be sent at all (an address's channel is not enabled or
    has no message, a template is missing, more than MAX_RECIPIENTS)."""
    if len(recipients) > MAX_RECIPIENTS:
        raise MessageInvalid(f"A request can name at most {MAX_RECIPIENTS} addresses and endpoints in all.")
    keys = [endpoint_key(r.key) for r in recipients if r.is_endpoint]
    endpoints = {e.key: e for e in Endpoint.objects.for_project(project).filter(key__in=keys)}
    results = _send(project, recipients, spec, endpoints, request_id=request_id)
    return {(r.is_endpoint, r.key): results[(r.is_endpoint, r.key)] for r in recipients}


def users_messages_send(
    project: Project, users: Mapping[str, Recipient], spec: MessageSpec, *, request_id: str = ""
) -> dict[str, dict[str, RecipientResult]]:
    """SendUsersMessages: every endpoint of each user gets the message, with the user's Substitutions and
    overrides; results keyed by user id, then endpoint id (a user with no endpoints maps to {}).
    Raises MessageInvalid for a request that cannot be sent at all."""
    if len(users) > MAX_USERS:
        raise MessageInvalid(f"A request can name at most {MAX_USERS} users.")
    rows = Endpoint.objects.for_project(project).filter(user_id__in=list(users)).order_by("user_id", "key")
    endpoints = {e.key: e for e in rows}
    recipients = []
    owner: dict[tuple[bool, str], tuple[str, str]] = {}
    for endpoint in endpoints.values():
        config = users[endpoint.user_id]
        recipients.append(
            Recipient(
                key=endpoint.endpoint_id,
                is_endpoint=True,
                substitutions=config.substitutions,
                title_override=config.title_override,
                body_override=config.body_override,
                raw_content=config.raw_content,
                context=config.context,
            )
        )
        owner[(True, endpoint.endpoint_id)] = (endpoint.user_id, endpoint.endpoint_id)
    results = _send(project, recipients, spec, endpoints, request_id=request_id)
    by_user: dict[str, dict[str, RecipientResult]] = {user_id: {} for user_id in users}
    for slot, result in results.items():
        user_id, endpoint_id = owner[slot]
        by_user[user_id][endpoint_id] = result
    return by_user
