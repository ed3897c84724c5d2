"""The delivery outbox, every channel: create rows, claim and send them in batches, retry, sweep.

Life of a Delivery (see campaigns.models.DeliveryStatus): rows are created QUEUED; a batch claims its
rows with one conditional UPDATE (QUEUED and due → SENDING, with a lease and a claim token), sends
them over one transport per (project, channel) — the class TRANSPORTS names for the channel — and
records outcomes every few messages. A transient failure puts the row back to QUEUED with a later
next_attempt_at (exponential backoff); a permanent one, or the last attempt, ends it in
FAILED_PERMANENT. A channel with no transport in TRANSPORTS ends FAILED_PERMANENT at once, its
last_error starting "UNSUPPORTED_CHANNEL:". The sweeper re-queues rows whose lease ran out (the worker
died) and enqueues due rows. Guarantee: at least once; a message the provider accepted just before a
worker died is sent again with the same message_id (the window is one flush, FLUSH_EVERY messages).
A row claimed after its expires_at (event-triggered campaigns) ends FAILED_PERMANENT unsent, its
last_error starting "EXPIRED:".
"""

import functools
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.utils import parseaddr
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Case, F, Q, Subquery, Value, When
from django.utils import timezone

from audience.services import SystemEvent, email_inboxes_opt_out, events_record
from campaigns.models import Delivery, DeliveryChannel, DeliverySource, DeliveryStatus
from campaigns.transports import TRANSPORTS, DeliveryError, Transport
from engage.db import is_postgresql
from engage.dbfaults import ride_out_outage
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
# The pacer: how long one run keeps enqueueing rows as they fall due, and its resolution.
PACE_FOR = timedelta(seconds=55)
PACE_STEP = timedelta(seconds=1)
PACE_LOOKBACK = timedelta(minutes=1)
UNSUPPORTED = "UNSUPPORTED_CHANNEL"
EXPIRED = "EXPIRED"

# Pinpoint's event types per channel: (accepted by the provider, failed for good). Pinpoint reports
# an SMS the carrier has not confirmed yet as _SMS.BUFFERED (_SMS.SUCCESS means delivered to the
# handset, which only a delivery receipt can say); transactional push and voice are not reported.
EVENT_TYPES: Mapping[str, tuple[str, str]] = {
    DeliveryChannel.EMAIL: ("_email.send", "_email.hardbounce"),
    DeliveryChannel.SMS: ("_SMS.BUFFERED", "_SMS.FAILURE"),
}


@dataclass(frozen=True)
class OutgoingMessage:
    """One rendered message to one address. Email fills subject/text/html/from_address/headers; every
    other channel fills `payload` with Pinpoint's member names (the contract is Delivery's docstring)."""

    channel: str  # a DeliveryChannel
    address: str
    payload: Mapping[str, Any] = field(default_factory=dict)
    subject: str = ""
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
    provider_message_id: str = ""

    @property
    def unsupported(self) -> bool:
        return self.message.startswith(UNSUPPORTED)


def backoff(attempts: int) -> timedelta:
    return BACKOFF[min(max(attempts, 1), len(BACKOFF)) - 1]


@functools.lru_cache(maxsize=256)
def _sender_domain(from_address: str) -> str:
    return parseaddr(from_address)[1].rpartition("@")[2] or "engage.invalid"


def message_id_for(key: str, from_address: str) -> str:
    """An RFC 5322 Message-ID from the delivery's key, on the sender's domain."""
    return f"<{key}@{_sender_domain(from_address)}>"


def _row(
    project: Project, message: OutgoingMessage, source: str, request_id: str, now: datetime, key: str | None = None
) -> Delivery:
    key = key or uuid.uuid4().hex
    email = message.channel == DeliveryChannel.EMAIL
    return Delivery(
        project=project,
        channel=message.channel,
        address=message.address,
        endpoint_key=message.endpoint_key,
        user_id=message.user_id,
        source=source,
        request_id=request_id,
        from_address=message.from_address,
        subject=message.subject,
        text=message.text,
        html=message.html,
        headers=[{"Name": name, "Value": value} for name, value in message.headers],
        payload=dict(message.payload),
        message_id=message_id_for(key, message.from_address or settings.DEFAULT_FROM_EMAIL) if email else key,
        next_attempt_at=now,
        created_at=now,
        updated_at=now,
    )


def delivery_row(project: Project, message: OutgoingMessage, *, source: str, key: str, now: datetime) -> Delivery:
    """An unsaved outbox row for `message` whose message_id derives from `key` (callers that must write
    the same row again after a crash — campaign runs — pass a deterministic key)."""
    return _row(project, message, source, "", now, key=key)


def deliveries_create(
    project: Project,
    messages: Sequence[OutgoingMessage],
    *,
    source: str = DeliverySource.TRANSACTIONAL,
    request_id: str = "",
    enqueue: bool = True,
) -> list[Delivery]:
    """Outbox rows for `messages` (QUEUED, due now), in one transaction, in the order given; with
    `enqueue`, one send task per BATCH_SIZE rows runs after commit. Not idempotent: each call makes
    new rows. Any channel is accepted: one without a transport fails at send time (UNSUPPORTED_CHANNEL)."""
    now = timezone.now()
    rows = [_row(project, message, source, request_id, now) for message in messages]
    with transaction.atomic():
        created = Delivery.objects.bulk_create(rows, batch_size=1000)
        if enqueue:
            from campaigns.tasks import deliveries_send

            for start in range(0, len(created), BATCH_SIZE):
                enqueue_on_commit(deliveries_send, *(row.id for row in created[start : start + BATCH_SIZE]))
    return created


def _claim(ids: Iterable[int], now: datetime) -> tuple[str, list[Delivery]]:
    """Take the due QUEUED rows among `ids` for one claim token. On PostgreSQL rows another claim is
    taking right now are skipped (FOR UPDATE SKIP LOCKED) instead of waited for; elsewhere the
    conditional UPDATE alone decides (SQLite has one writer at a time)."""
    token = uuid.uuid4().hex
    due = Delivery.objects.filter(id__in=list(ids)).due(now)
    if is_postgresql():
        due = Delivery.objects.filter(id__in=Subquery(due.select_for_update(skip_locked=True).values("id")))
    with transaction.atomic():  # Django allows FOR UPDATE in a transaction only
        due.update(
            status=DeliveryStatus.SENDING,
            lease_until=now + LEASE,
            lease_token=token,
            attempts=F("attempts") + 1,
            updated_at=now,
        )
    claimed = Delivery.objects.filter(lease_token=token, status=DeliveryStatus.SENDING)
    return token, list(claimed.select_related("project").order_by("id"))


def _attributes(row: Delivery, outcome: Outcome) -> dict[str, str]:
    """Event attributes with Pinpoint's names for the channel."""
    message_id = row.message_id.strip("<>")
    if row.channel == DeliveryChannel.SMS:
        sent = outcome.status == DeliveryStatus.SENT
        attributes = {
            "message_id": message_id,
            "sender_request_id": row.request_id,
            "destination_phone_number": row.address,
            "origination_phone_number": str(row.payload.get("OriginationNumber") or row.payload.get("SenderId") or ""),
            "message_type": str(row.payload.get("MessageType") or "TRANSACTIONAL").capitalize(),
            "record_status": "SUCCESSFUL" if sent else "UNREACHABLE",
        }
    else:
        attributes = {
            "message_id": message_id,
            "from_address": row.from_address,
            "destination": row.address,
            "request_id": row.request_id,
        }
    attributes["source"] = row.source
    attributes |= row.source_attributes()
    if outcome.status != DeliveryStatus.SENT:
        attributes["error"] = outcome.message
    return attributes


def _events(done: Sequence[tuple[Delivery, Outcome]], now: datetime) -> None:
    """Pinpoint's events for deliveries (to endpoints, and to addresses with no endpoint key, as
    Pinpoint streams transactional email and SMS events); idempotent per (delivery, event type)."""
    events = []
    for row, outcome in done:
        types = EVENT_TYPES.get(row.channel)
        if types is None or outcome.status == DeliveryStatus.QUEUED:  # no endpoint: a transactional address
            continue
        event_type = types[0] if outcome.status == DeliveryStatus.SENT else types[1]
        events.append(
            SystemEvent(
                project_id=row.project_id,
                endpoint_key=row.endpoint_key,
                event_id=f"{row.message_id.strip('<>')}:{event_type}",
                event_type=event_type,
                timestamp=now,
                attributes=_attributes(row, outcome),
            )
        )
    events_record(events)


def _record(token: str, done: list[tuple[Delivery, Outcome]], now: datetime) -> None:
    """Write the outcomes of this claim (only rows still held by `token`), and their events."""
    if not done:
        return
    with transaction.atomic():
        held = Delivery.objects.filter(lease_token=token, status=DeliveryStatus.SENDING)
        sent = [(row, outcome) for row, outcome in done if outcome.status == DeliveryStatus.SENT]
        # SMTP's provider id is our own Message-ID: those rows take one plain UPDATE; other providers'
        # ids go in by a CASE per row.
        own = [row.id for row, outcome in sent if outcome.provider_message_id == row.message_id]
        theirs = [(row, outcome) for row, outcome in sent if outcome.provider_message_id != row.message_id]
        done_fields = {
            "status": DeliveryStatus.SENT,
            "sent_at": now,
            "lease_until": None,
            "lease_token": "",
            "last_error": "",
            "updated_at": now,
        }
        if own:
            held.filter(id__in=own).update(provider_message_id=F("message_id"), **done_fields)
        if theirs:
            held.filter(id__in=[row.id for row, _ in theirs]).update(
                provider_message_id=Case(
                    *(When(id=row.id, then=Value(outcome.provider_message_id[:255])) for row, outcome in theirs),
                    default=Value(""),
                ),
                **done_fields,
            )
        # Failures: one UPDATE per distinct outcome (an outage fails a whole flush the same way).
        failed: dict[tuple[str, str, datetime | None], list[int]] = {}
        for row, outcome in done:
            if outcome.status != DeliveryStatus.SENT:
                retry_at = now + backoff(row.attempts) if outcome.status == DeliveryStatus.QUEUED else None
                failed.setdefault((outcome.status, outcome.message, retry_at), []).append(row.id)
        for (status, message, retry_at), ids in failed.items():
            fields: dict[str, Any] = {
                "status": status,
                "lease_until": None,
                "lease_token": "",
                "last_error": message,
                "updated_at": now,
            }
            if retry_at is not None:
                fields["next_attempt_at"] = retry_at
            held.filter(id__in=ids).update(**fields)
        _events(done, now)
        _hard_bounces_opt_out(done, now)


def _record_now(token: str, done: list[tuple[Delivery, Outcome]]) -> None:
    _record(token, done, timezone.now())


def _hard_bounces_opt_out(done: Sequence[tuple[Delivery, Outcome]], now: datetime) -> None:
    """An email the receiving server refused for good (an SMTP 5xx: a hard bounce) opts its inbox out,
    as an unsubscribe does: Engage stops writing to an address that does not exist."""
    by_project: dict[str, list[Delivery]] = {}
    for row, outcome in done:
        bounced = outcome.status == DeliveryStatus.FAILED_PERMANENT and 500 <= (outcome.code or 0) < 600
        if bounced and row.channel == DeliveryChannel.EMAIL:
            by_project.setdefault(row.project_id, []).append(row)
    for project_id, rows in by_project.items():
        email_inboxes_opt_out(
            Project.objects.get(pk=project_id),
            [row.address for row in rows],
            endpoint_keys=[row.endpoint_key for row in rows],
            now=now,
        )


def _failure(row: Delivery, error: DeliveryError) -> Outcome:
    if error.permanent:
        return Outcome(DeliveryStatus.FAILED_PERMANENT, error.code, error.message)
    if row.attempts >= MAX_ATTEMPTS:
        return Outcome(DeliveryStatus.FAILED_PERMANENT, error.code, f"Gave up after {row.attempts} attempts: {error}")
    return Outcome(DeliveryStatus.QUEUED, error.code, error.message)


def _transport(channel: str) -> Transport:
    """The channel's transport; raises a permanent DeliveryError (UNSUPPORTED_CHANNEL) when there is none."""
    transport_class = TRANSPORTS.get(channel)
    if transport_class is None:
        raise DeliveryError(
            f"{UNSUPPORTED}: Engage has no transport for {channel} deliveries yet; nothing was sent.",
            permanent=True,
            code=400,
        )
    return transport_class()


def _outcome(row: Delivery, result: str | DeliveryError) -> Outcome:
    if isinstance(result, DeliveryError):
        return _failure(row, result)
    return Outcome(DeliveryStatus.SENT, 200, "", str(result or row.message_id))


def _send_group(token: str, rows: list[Delivery], outcomes: dict[int, Outcome]) -> None:
    """Send one (project, channel) group over one transport, recording every FLUSH_EVERY outcomes.

    A transport with `send_many` (campaigns.transports.base.BatchTransport) gets the rows FLUSH_EVERY at
    a time — the custom channel posts them as one call of up to 50 endpoints — and the others one by one."""
    pending: list[tuple[Delivery, Outcome]] = []
    broken: DeliveryError | None = None  # set when the provider cannot be reached: do not knock per message
    transport: Transport | None = None
    try:
        try:
            transport = _transport(rows[0].channel)
        except DeliveryError as error:
            broken = error
        send_many = getattr(transport, "send_many", None)
        for start in range(0, len(rows), FLUSH_EVERY):
            chunk = rows[start : start + FLUSH_EVERY]
            if broken is not None:
                results: dict[int, str | DeliveryError] = {row.id: broken for row in chunk}
            elif send_many is not None:
                results = send_many(chunk)
            else:
                results = {}
                for row in chunk:
                    try:
                        results[row.id] = transport.send(row) if broken is None else broken
                    except DeliveryError as error:
                        if error.code is None:
                            broken = error
                        results[row.id] = error
            for row in chunk:
                outcome = _outcome(row, results[row.id])
                outcomes[row.id] = outcome
                pending.append((row, outcome))
            if send_many is not None and broken is None:
                broken = next((r for r in results.values() if isinstance(r, DeliveryError) and r.code is None), None)
            # Sent: their outcomes must be recorded, or a lapsed lease would send them again.
            ride_out_outage(functools.partial(_record_now, token, pending))
            pending = []
    finally:
        if transport is not None:
            transport.close()


def _expire(token: str, rows: list[Delivery], now: datetime) -> dict[int, Outcome]:
    """End the claimed rows whose expires_at has passed without sending them (event-triggered
    campaign messages are dropped after 5 minutes): FAILED_PERMANENT, last_error "EXPIRED: ...".
    Returns their outcomes. No channel event: nothing was sent."""
    expired = [row.id for row in rows if row.expires_at is not None and row.expires_at <= now]
    if not expired:
        return {}
    outcome = Outcome(
        DeliveryStatus.FAILED_PERMANENT, None, f"{EXPIRED}: the message was not sent before it expired; dropped."
    )
    Delivery.objects.filter(id__in=expired, lease_token=token, status=DeliveryStatus.SENDING).update(
        status=outcome.status, lease_until=None, lease_token="", last_error=outcome.message, updated_at=now
    )
    return dict.fromkeys(expired, outcome)


def deliveries_send_batch(ids: Iterable[int], *, now: datetime | None = None) -> dict[int, Outcome]:
    """Claim the due QUEUED rows among `ids` and send them, one transport per (project, channel);
    returns the outcome of each row this call sent (rows claimed by someone else, or not due, are left
    alone, so running it twice is harmless). Raises nothing for delivery failures: they are recorded."""
    now = now or timezone.now()
    ids = list(ids)
    token, rows = ride_out_outage(lambda: _claim(ids, now))
    outcomes: dict[int, Outcome] = ride_out_outage(lambda: _expire(token, rows, now))
    rows = [row for row in rows if row.id not in outcomes]
    groups: dict[tuple[str, str], list[Delivery]] = {}
    for row in rows:
        groups.setdefault((row.project_id, row.channel), []).append(row)
    for group in groups.values():
        _send_group(token, group, outcomes)
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
            .filter(Q(attempts__gt=0) | Q(created_at__lte=now - SWEEP_GRACE) | _made_due_later())
            .order_by("next_attempt_at", "id")
            .values_list("id", flat=True)[:SWEEP_LIMIT]
        )
        from campaigns.tasks import deliveries_send

        for start in range(0, len(ids), BATCH_SIZE):
            enqueue_on_commit(deliveries_send, *ids[start : start + BATCH_SIZE])
    return ids


def _made_due_later() -> Q:
    """Rows written to fall due after their creation (campaign rate limits, local time): no task was
    enqueued with them, so the pacer and the sweeper are what send them."""
    return Q(attempts=0, next_attempt_at__gt=F("created_at") + PACE_STEP)


def deliveries_pace(
    *, pace_for: timedelta = PACE_FOR, clock: Callable[[], datetime] = timezone.now, sleep=time.sleep
) -> int:
    """Send rows that were written to fall due later within about a second of their time: while any
    falls due within the next minute, enqueue each second's newly due rows, for up to `pace_for`
    (the schedule starts it every minute). Returns how many ids it enqueued. Costs one worker for
    the minute only while such rows are waiting; several pacers at once only enqueue twice, and the
    claim sends a row once."""
    from campaigns.tasks import deliveries_send

    start = clock()
    since = start - PACE_LOOKBACK
    enqueued = 0
    while True:
        now = clock()
        ids = list(
            Delivery.objects.due(now)
            .filter(_made_due_later(), next_attempt_at__gt=since)
            .order_by("next_attempt_at", "id")
            .values_list("id", flat=True)[:SWEEP_LIMIT]
        )
        for first in range(0, len(ids), BATCH_SIZE):
            enqueue_on_commit(deliveries_send, *ids[first : first + BATCH_SIZE])
        enqueued += len(ids)
        if len(ids) < SWEEP_LIMIT:  # else the same second again: more are due than one pass takes
            since = now
        upcoming = Delivery.objects.filter(
            status=DeliveryStatus.QUEUED, next_attempt_at__gt=now, next_attempt_at__lte=now + PACE_LOOKBACK
        )
        if clock() - start >= pace_for or not upcoming.exists():
            return enqueued
        sleep(max(0.0, 1.0 - (clock() - now).total_seconds()))
