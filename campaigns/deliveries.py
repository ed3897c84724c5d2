"""The delivery outbox: create rows, claim and send them in batches, retry, sweep — and SendMessages.

Life of a Delivery (see campaigns.models.DeliveryStatus): rows are created QUEUED; a batch claims its
rows with one conditional UPDATE (QUEUED and due → SENDING, with a lease and a claim token), sends
them over one transport connection, and records outcomes every few messages. A transient failure
puts the row back to QUEUED with a later next_attempt_at (exponential backoff); a permanent one, or
the last attempt, ends it in FAILED_PERMANENT. The sweeper re-queues rows whose lease ran out (the
worker died) and enqueues due rows. Guarantee: at least once; a message SMTP accepted just before a
worker died is sent again with the same Message-ID (the window is one flush, FLUSH_EVERY messages).
"""

import json
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.utils import parseaddr
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from audience.api.serializers import endpoint_responses
from audience.models import Endpoint, EndpointStatus, OptOut, endpoint_key
from audience.services import SystemEvent, events_record
from campaigns.channels import EmailChannel, channel_get
from campaigns.handlebars import TemplateError, compile_template
from campaigns.models import ChannelKind, Delivery, DeliverySource, DeliveryStatus, TemplateType
from campaigns.templates import TemplateInvalid, TemplateNotFound, template_get
from campaigns.transports import TRANSPORTS, DeliveryError
from engage.queue import enqueue_on_commit
from projects.models import Project

BATCH_SIZE = 200  # deliveries per task: the task layer costs milliseconds, a message far less
FLUSH_EVERY = 50  # outcomes recorded after this many sends: the duplicate window after a crash
LEASE = timedelta(minutes=5)
MAX_ATTEMPTS = 5
BACKOFF = (timedelta(minutes=1), timedelta(minutes=5), timedelta(minutes=30), timedelta(hours=2))
# Rows never attempted are left to the task enqueued with them for this long before the sweeper acts.
SWEEP_GRACE = timedelta(minutes=2)
SWEEP_LIMIT = 20_000
MAX_RECIPIENTS = 100  # Pinpoint's limit on Addresses + Endpoints in one SendMessages request


@dataclass(frozen=True)
class OutgoingEmail:
    address: str
    subject: str
    text: str = ""
    html: str = ""
    from_address: str = ""
    headers: tuple[tuple[str, str], ...] = ()
    endpoint_key: str = ""
    user_id: str = ""


@dataclass(frozen=True)
class Outcome:
    status: str  # a DeliveryStatus
    code: int | None = None
    message: str = ""


def backoff(attempts: int) -> timedelta:
    return BACKOFF[min(max(attempts, 1), len(BACKOFF)) - 1]


def message_id_for(key: str, from_address: str) -> str:
    """An RFC 5322 Message-ID from the delivery's key, on the sender's domain."""
    domain = parseaddr(from_address)[1].rpartition("@")[2] or "engage.invalid"
    return f"<{key}@{domain}>"


def deliveries_create(
    project: Project,
    emails: Sequence[OutgoingEmail],
    *,
    source: str = DeliverySource.TRANSACTIONAL,
    request_id: str = "",
    enqueue: bool = True,
) -> list[Delivery]:
    """Outbox rows for `emails` (QUEUED, due now), in one transaction; with `enqueue`, one send task per
    BATCH_SIZE rows runs after commit. Not idempotent: each call makes new rows."""
    now = timezone.now()
    rows = [
        Delivery(
            project=project,
            channel=ChannelKind.EMAIL,
            address=email.address,
            endpoint_key=email.endpoint_key,
            user_id=email.user_id,
            source=source,
            request_id=request_id,
            from_address=email.from_address,
            subject=email.subject,
            text=email.text,
            html=email.html,
            headers=[{"Name": name, "Value": value} for name, value in email.headers],
            message_id=message_id_for(uuid.uuid4().hex, email.from_address or settings.DEFAULT_FROM_EMAIL),
            next_attempt_at=now,
            created_at=now,
            updated_at=now,
        )
        for email in emails
    ]
    with transaction.atomic():
        created = Delivery.objects.bulk_create(rows, batch_size=1000)
        if enqueue:
            from campaigns.tasks import deliveries_send

            for start in range(0, len(created), BATCH_SIZE):
                enqueue_on_commit(deliveries_send, *(row.id for row in created[start : start + BATCH_SIZE]))
    return created


def _claim(ids: Iterable[int], now: datetime) -> tuple[str, list[Delivery]]:
    token = uuid.uuid4().hex
    Delivery.objects.filter(id__in=list(ids)).due(now).update(
        status=DeliveryStatus.SENDING,
        lease_until=now + LEASE,
        lease_token=token,
        attempts=F("attempts") + 1,
        updated_at=now,
    )
    return token, list(Delivery.objects.filter(lease_token=token, status=DeliveryStatus.SENDING).order_by("id"))


def _events(rows: Sequence[tuple[Delivery, str, str]], now: datetime) -> None:
    """Pinpoint's email events for deliveries to endpoints; idempotent per (delivery, event type)."""
    events_record(
        [
            SystemEvent(
                project_id=row.project_id,
                endpoint_key=row.endpoint_key,
                event_id=f"{row.message_id.strip('<>')}:{event_type}",
                event_type=event_type,
                timestamp=now,
                attributes={
                    "message_id": row.message_id.strip("<>"),
                    "from_address": row.from_address,
                    "destination": row.address,
                    "source": row.source,
                    "request_id": row.request_id,
                    **({"error": error} if error else {}),
                },
            )
            for row, event_type, error in rows
            if row.endpoint_key
        ]
    )


def _record(token: str, done: list[tuple[Delivery, Outcome, str]], now: datetime) -> None:
    """Write the outcomes of this claim (only rows still held by `token`), and their events."""
    if not done:
        return
    with transaction.atomic():
        held = Delivery.objects.filter(lease_token=token, status=DeliveryStatus.SENDING)
        sent = [row for row, outcome, _ in done if outcome.status == DeliveryStatus.SENT]
        held.filter(id__in=[row.id for row in sent]).update(
            status=DeliveryStatus.SENT,
            sent_at=now,
            provider_message_id=F("message_id"),
            lease_until=None,
            lease_token="",
            last_error="",
            updated_at=now,
        )
        for row, outcome, _ in done:
            if outcome.status == DeliveryStatus.SENT:
                continue
            fields: dict[str, Any] = {
                "status": outcome.status,
                "lease_until": None,
                "lease_token": "",
                "last_error": outcome.message,
                "updated_at": now,
            }
            if outcome.status == DeliveryStatus.QUEUED:
                fields["next_attempt_at"] = now + backoff(row.attempts)
            held.filter(id=row.id).update(**fields)
        _events(
            [(row, "_email.send", "") for row in sent]
            + [
                (row, "_email.hardbounce", outcome.message)
                for row, outcome, _ in done
                if outcome.status == DeliveryStatus.FAILED_PERMANENT
            ],
            now,
        )


def _failure(row: Delivery, error: DeliveryError) -> Outcome:
    if error.permanent:
        return Outcome(DeliveryStatus.FAILED_PERMANENT, error.code, error.message)
    if row.attempts >= MAX_ATTEMPTS:
        return Outcome(DeliveryStatus.FAILED_PERMANENT, error.code, f"Gave up after {row.attempts} attempts: {error}")
    return Outcome(DeliveryStatus.QUEUED, error.code, error.message)


def deliveries_send_batch(ids: Iterable[int], *, now: datetime | None = None) -> dict[int, Outcome]:
    """Claim the due QUEUED rows among `ids` and send them, one connection per channel; returns the
    outcome of each row this call sent (rows claimed by someone else, or not due, are left alone, so
    running it twice is harmless). Raises nothing for delivery failures: they are recorded."""
    now = now or timezone.now()
    token, rows = _claim(ids, now)
    outcomes: dict[int, Outcome] = {}
    by_channel: dict[str, list[Delivery]] = {}
    for row in rows:
        by_channel.setdefault(row.channel, []).append(row)
    for channel, channel_rows in by_channel.items():
        transport = TRANSPORTS[channel]()
        pending: list[tuple[Delivery, Outcome, str]] = []
        broken: DeliveryError | None = None
        try:
            for row in channel_rows:
                if broken is not None:  # the server is unreachable: do not knock once per message
                    outcome = _failure(row, broken)
                else:
                    try:
                        provider_id = transport.send(row)
                        outcome = Outcome(DeliveryStatus.SENT, 250, provider_id)
                    except DeliveryError as error:
                        if error.code is None:
                            broken = error
                        outcome = _failure(row, error)
                outcomes[row.id] = outcome
                pending.append((row, outcome, ""))
                if len(pending) >= FLUSH_EVERY:
                    _record(token, pending, timezone.now())
                    pending = []
        finally:
            transport.close()
        _record(token, pending, timezone.now())
    return outcomes


def deliveries_sweep(now: datetime | None = None) -> list[int]:
    """Re-queue SENDING rows whose lease ran out (their worker died; UNKNOWN after MAX_ATTEMPTS) and
    enqueue the due QUEUED rows in batches; returns the ids enqueued. Idempotent."""
    now = now or timezone.now()
    lapsed = "The lease ran out before the outcome was recorded (the worker stopped); sent again."
    with transaction.atomic():
        expired = Delivery.objects.lease_expired(now)
        expired.filter(attempts__gte=MAX_ATTEMPTS).update(
            status=DeliveryStatus.UNKNOWN, lease_until=None, lease_token="", last_error=lapsed, updated_at=now
        )
        expired.update(
            status=DeliveryStatus.QUEUED,
            next_attempt_at=now,
            lease_until=None,
            lease_token="",
            last_error=lapsed,
            updated_at=now,
        )
        ids = list(
            Delivery.objects.due(now)
            .filter(Q(attempts__gt=0) | Q(created_at__lte=now - SWEEP_GRACE))
            .order_by("next_attempt_at", "id")
            .values_list("id", flat=True)[:SWEEP_LIMIT]
        )
        from campaigns.tasks import deliveries_send

        for start in range(0, len(ids), BATCH_SIZE):
            enqueue_on_commit(deliveries_send, *ids[start : start + BATCH_SIZE])
    return ids


# --- SendMessages --------------------------------------------------------------------------------


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
    planned: list[tuple[tuple[bool, str], OutgoingEmail]] = []
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
                OutgoingEmail(
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
