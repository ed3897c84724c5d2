"""SendMessages: render per recipient, write outbox rows, send them inline (Pinpoint answers synchronously)."""

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from audience.api.serializers import endpoint_responses
from audience.models import Endpoint, EndpointStatus, OptOut, endpoint_key
from campaigns.channels import EmailChannel, channel_get
from campaigns.deliveries import OutgoingMessage, deliveries_create, deliveries_send_batch
from campaigns.handlebars import TemplateError, compile_template
from campaigns.models import ChannelKind, DeliveryChannel, DeliveryStatus, TemplateType
from campaigns.templates import TemplateInvalid, TemplateNotFound, template_get
from projects.models import Project

MAX_RECIPIENTS = 100  # Pinpoint's limit on Addresses + Endpoints in one SendMessages request


class MessageInvalid(ValueError):
    """The request cannot be sent at all (answered 400)."""


@dataclass
class Recipient:
    """One Addresses or Endpoints entry of a MessageRequest."""

    key: str  # the address or endpoint id, as the request wrote it
    is_endpoint: bool
    substitutions: dict[str, Any] = field(default_factory=dict)
    title_override: str = ""
    body_override: str = ""


@dataclass(frozen=True)
class EmailContent:
    subject: str = ""
    text: str = ""
    html: str = ""
    headers: tuple[tuple[str, str], ...] = ()
    from_address: str = ""
    substitutions: Mapping[str, Any] = field(default_factory=dict)  # message-level
    template: tuple[str, str] | None = None  # (name, version)


@dataclass(frozen=True)
class RecipientResult:
    delivery_status: str  # Pinpoint's DeliveryStatus
    status_code: int
    status_message: str = ""
    message_id: str = ""
    address: str = ""


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


def _template_content(content: EmailContent) -> tuple[EmailContent, dict[str, str]]:
    """The template's parts, under the message's own (which win), and its DefaultSubstitutions."""
    if content.template is None:
        return content, {}
    name, version = content.template
    try:
        row = template_get(TemplateType.EMAIL, name, version or None)
    except (TemplateNotFound, TemplateInvalid) as error:
        raise MessageInvalid(str(error)) from None
    stored = row.content
    try:
        defaults = json.loads(row.default_substitutions) if row.default_substitutions else {}
    except ValueError:
        defaults = {}
    merged = EmailContent(
        subject=content.subject or stored.get("Subject", ""),
        text=content.text or stored.get("TextPart", ""),
        html=content.html or stored.get("HtmlPart", ""),
        headers=content.headers or tuple((h["Name"], h["Value"]) for h in stored.get("Headers", []) if h.get("Name")),
        from_address=content.from_address,
        substitutions=content.substitutions,
    )
    return merged, {str(k): str(v) for k, v in defaults.items()} if isinstance(defaults, dict) else {}


def _render(content: EmailContent, context: Mapping[str, Any], defaults: Mapping[str, str], r: Recipient) -> tuple:
    def part(source: str, *, html: bool) -> str:
        return compile_template(source).render(context, defaults=defaults, html_escape=html) if source else ""

    subject = part(r.title_override or content.subject, html=False)
    text = part(r.body_override or content.text, html=False)
    html = part(content.html, html=True)
    headers = tuple((name, part(value, html=False)) for name, value in content.headers)
    return subject, text, html, headers


def _email_channel_from(project: Project) -> str:
    channel = channel_get(project, ChannelKind.EMAIL)
    if channel is None or not channel.enabled:
        raise MessageInvalid(
            "The EMAIL channel of this project is not enabled: set it up with UpdateEmailChannel "
            "(Enabled true, FromAddress) before sending email."
        )
    return EmailChannel.load(channel).FromAddress or ""


def messages_send(
    project: Project, recipients: Sequence[Recipient], content: EmailContent, *, request_id: str = ""
) -> dict[tuple[bool, str], RecipientResult]:
    """SendMessages for email: render per recipient, write the outbox rows, then send them inline in
    this call (Pinpoint answers synchronously). Returns each recipient's result keyed by
    (is_endpoint, key). Raises MessageInvalid for a request that cannot be sent at all.

    TEMPORARY_FAILURE means the row stays in the outbox and Engage retries it: callers must not resend.
    """
    if len(recipients) > MAX_RECIPIENTS:
        raise MessageInvalid(f"A request can name at most {MAX_RECIPIENTS} addresses and endpoints in all.")
    channel_from = _email_channel_from(project)
    content, defaults = _template_content(content)
    if not (content.subject or content.text or content.html):
        raise MessageInvalid("The email has no content: give SimpleEmail parts or an EmailTemplate.")
    from_address = content.from_address or channel_from

    keys = [endpoint_key(r.key) for r in recipients if r.is_endpoint]
    endpoints = {e.key: e for e in Endpoint.objects.for_project(project).filter(key__in=keys)}
    documents = {
        e.key: doc
        for e, doc in zip(endpoints.values(), endpoint_responses(project, list(endpoints.values())), strict=True)
    }

    results: dict[tuple[bool, str], RecipientResult] = {}
    planned: list[tuple[tuple[bool, str], OutgoingMessage]] = []
    seen: set[str] = set()
    for r in recipients:
        slot = (r.is_endpoint, r.key)
        base: Mapping[str, Any] = {}
        address = r.key
        email_key = user_id = ""
        if r.is_endpoint:
            endpoint = endpoints.get(endpoint_key(r.key))
            if endpoint is None:
                results[slot] = RecipientResult("PERMANENT_FAILURE", 404, f"Endpoint {r.key} not found.")
                continue
            address, email_key, user_id, base = (
                endpoint.address,
                endpoint.key,
                endpoint.user_id,
                documents[endpoint.key],
            )
            if endpoint.opt_out == OptOut.ALL:
                results[slot] = RecipientResult("OPT_OUT", 400, "The endpoint has opted out.", address=address)
                continue
            if endpoint.channel_type != ChannelKind.EMAIL or not address:
                why = f"The endpoint is a {endpoint.channel_type or 'channel-less'} endpoint; this request sends email."
                results[slot] = RecipientResult("PERMANENT_FAILURE", 400, why, address=address)
                continue
            if endpoint.status != EndpointStatus.ACTIVE:
                results[slot] = RecipientResult("PERMANENT_FAILURE", 400, "The endpoint is INACTIVE.", address=address)
                continue
        if address.lower() in seen:
            results[slot] = RecipientResult(
                "DUPLICATE", 400, "The address is already in this request.", address=address
            )
            continue
        seen.add(address.lower())
        context = _context(base, content.substitutions, r.substitutions)
        try:
            subject, text, html, headers = _render(content, context, defaults, r)
        except TemplateError as error:
            results[slot] = RecipientResult("PERMANENT_FAILURE", 400, f"Rendering failed: {error}", address=address)
            continue
        planned.append(
            (
                slot,
                OutgoingMessage(
                    channel=DeliveryChannel.EMAIL,
                    address=address,
                    subject=subject,
                    text=text,
                    html=html,
                    from_address=from_address,
                    headers=headers,
                    endpoint_key=email_key,
                    user_id=user_id,
                ),
            )
        )

    rows = deliveries_create(project, [email for _, email in planned], request_id=request_id, enqueue=False)
    outcomes = deliveries_send_batch([row.id for row in rows])
    for (slot, email), row in zip(planned, rows, strict=True):
        outcome = outcomes.get(row.id)
        message_id = row.message_id.strip("<>")
        address = email.address if slot[0] else ""
        if outcome is None:  # the sweeper will send it
            results[slot] = RecipientResult("SUCCESSFUL", 202, "Queued.", message_id, address)
        elif outcome.status == DeliveryStatus.SENT:
            results[slot] = RecipientResult("SUCCESSFUL", 200, f"MessageId: {message_id}", message_id, address)
        elif outcome.status == DeliveryStatus.QUEUED:
            message = f"{outcome.message} — Engage retries this delivery itself; do not resend."
            results[slot] = RecipientResult("TEMPORARY_FAILURE", outcome.code or 503, message, message_id, address)
        else:
            results[slot] = RecipientResult(
                "PERMANENT_FAILURE", outcome.code or 400, outcome.message, message_id, address
            )
    return results
