"""Event streams: configure a project's stream, mark the events it must carry, ship them.

Shipping (see ARCHITECTURE.md "Event streams"). An event stored while its project has a stream
is inserted with `stream_pending=True` (no extra write on the write path: the marker rides the
INSERT); a partial index holds only waiting rows. After the storing transaction commits, a
shipping task is enqueued unless one is queued already (`wake_queued`, set by a conditional
UPDATE outside the writer's transaction). The task takes the stream's lease (a conditional
UPDATE: one shipper per project), reads waiting events in id order, 500 at a time, sends them
(Kinesis PutRecords / Firehose PutRecordBatch / a signed webhook POST) and clears the marker of
the records the destination took. No cursor over ids: ids commit out of order on PostgreSQL, a
marker does not care. A failure keeps the events waiting, records the error and backs off; the
sweeper (every minute) enqueues streams that are due and have waiting events. At least once: a
worker dying between a send and the marker's clearing sends those records again.
"""

import json
import time
import uuid
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, F, OuterRef, Q
from django.utils import timezone

from audience.analytics.rollups import rollup_events
from audience.api.serializers import endpoint_responses
from audience.models import Endpoint, Event, EventStream
from audience.streams import destinations
from audience.streams.destinations import Destination, DestinationError, OutgoingRecord
from audience.streams.records import event_record
from engage.api.formats import iso8601
from engage.db import insert_new_returning
from engage.queue import enqueue_on_commit
from projects.models import Project

LEASE = timedelta(minutes=5)
BACKOFF = (
    timedelta(seconds=30),
    timedelta(minutes=2),
    timedelta(minutes=10),
    timedelta(minutes=30),
    timedelta(hours=1),
)
READ_BATCH = destinations.MAX_RECORDS  # waiting events read per query
TIME_BUDGET_SECONDS = 240  # then the task re-enqueues itself (django-q2 kills tasks at 10 minutes)
ERROR_LIMIT = 2000

StreamInvalid = destinations.DestinationInvalid


def backoff(attempts: int) -> timedelta:
    return BACKOFF[min(max(attempts, 1), len(BACKOFF)) - 1]


def event_stream_response(stream: EventStream) -> dict:
    """Pinpoint's EventStream shape."""
    return {
        "ApplicationId": stream.project_id,
        "DestinationStreamArn": stream.destination_stream_arn,
        "RoleArn": stream.role_arn,
        "LastModifiedDate": iso8601(stream.last_modified_date),
        "LastUpdatedBy": stream.last_updated_by,
    }


def updated_by(username: str) -> str:
    """LastUpdatedBy: the user as an IAM-style ARN in Engage's account."""
    return f"arn:aws:iam::{settings.ENGAGE_ACCOUNT_ID}:user/{username}"


def event_stream_put(project: Project, *, destination: str, role_arn: str, updated_by: str) -> EventStream:
    """PutEventStream: create or replace the project's stream; raises StreamInvalid for a destination
    Engage cannot ship to. Events stored from now on are streamed; a replaced destination receives the
    events still waiting, and failures so far are forgotten (the next attempt is now)."""
    destinations.parse_destination(destination)
    now = timezone.now()
    with transaction.atomic():
        stream, _ = EventStream.objects.update_or_create(
            project=project,
            defaults={
                "destination_stream_arn": destination.strip(),
                "role_arn": role_arn,
                "last_modified_date": now,
                "last_updated_by": updated_by,
                "attempts": 0,
                "next_attempt_at": None,
            },
            create_defaults={
                "destination_stream_arn": destination.strip(),
                "role_arn": role_arn,
                "last_modified_date": now,
                "last_updated_by": updated_by,
                "created_at": now,
            },
        )
        if Event.objects.filter(project=project, stream_pending=True).exists():
            transaction.on_commit(lambda: _wake([project.pk]))
    return stream


def event_stream_delete(project: Project) -> EventStream | None:
    """DeleteEventStream: stop streaming; events still waiting are not sent. Returns the deleted stream."""
    with transaction.atomic():
        stream = EventStream.objects.select_for_update().filter(project=project).first()
        if stream is None:
            return None
        stream.delete()
        Event.objects.filter(project=project, stream_pending=True).update(stream_pending=None)
    return stream


def events_insert(rows: list[Event]) -> list[Event]:
    """Insert events, skipping those already stored (idempotent per project, endpoint and event id);
    those of projects with a stream wait for it, and its shipper runs after the commit. The rows
    inserted are counted into the analytics rollup in the same transaction, and returned."""
    with transaction.atomic(savepoint=False):  # inside PutEvents' transaction: no savepoint round trips
        events_stream_mark(rows)
        keys = set(insert_new_returning(Event, rows, ("project", "endpoint_key", "client_event_id")))
        inserted = []
        for row in rows:  # a key twice in `rows` was inserted once
            key = (row.project_id, row.endpoint_key, row.client_event_id)
            if key in keys:
                keys.discard(key)
                inserted.append(row)
        rollup_events(inserted)
    return inserted


def events_stream_mark(rows: list[Event]) -> None:
    """For events about to be inserted: mark those of projects with a stream as waiting, and wake
    the streams' shippers once the transaction commits. One query; nothing when no project streams."""
    project_ids = {row.project_id for row in rows}
    if not project_ids:
        return
    streaming = set(EventStream.objects.filter(project_id__in=project_ids).values_list("project_id", flat=True))
    if not streaming:
        return
    for row in rows:
        if row.project_id in streaming:
            row.stream_pending = True
    transaction.on_commit(lambda: _wake(sorted(streaming)))


def _wake(project_ids: list[str]) -> None:
    """Enqueue a shipping task for each stream that has none queued (runs after commit, so the flag's
    row lock is not held through the writer's transaction)."""
    from audience.streams.tasks import stream_ship

    for project_id in project_ids:
        if EventStream.objects.filter(project_id=project_id, wake_queued=False).update(wake_queued=True):
            enqueue_on_commit(stream_ship, project_id)


def _due(now: datetime) -> Q:
    return (Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now)) & (
        Q(lease_until__isnull=True) | Q(lease_until__lt=now)
    )


def _claim(project_id: str, now: datetime) -> EventStream | None:
    token = uuid.uuid4().hex
    claimed = (
        EventStream.objects.filter(project_id=project_id)
        .filter(_due(now))
        .update(lease_until=now + LEASE, lease_token=token)
    )
    if not claimed:
        return None
    return EventStream.objects.select_related("project").filter(project_id=project_id, lease_token=token).first()


def _records(project: Project, events: list[Event]) -> list[OutgoingRecord]:
    keys = {event.endpoint_key for event in events}
    endpoints = list(Endpoint.objects.for_project(project).filter(key__in=keys))
    responses = {e.key: r for e, r in zip(endpoints, endpoint_responses(project, endpoints), strict=True)}
    account = settings.ENGAGE_ACCOUNT_ID
    return [
        OutgoingRecord(
            data=json.dumps(
                event_record(event, responses.get(event.endpoint_key), account_id=account), separators=(",", ":")
            ).encode(),
            partition_key=event.endpoint_key,
        )
        for event in events
    ]


def _batches(events: list[Event], records: list[OutgoingRecord]):
    """(events, records) groups within one call's limits."""
    batch: list[tuple[Event, OutgoingRecord]] = []
    size = 0
    for event, record in zip(events, records, strict=True):
        record_size = len(record.data) + len(record.partition_key) + 1
        if batch and (len(batch) >= destinations.MAX_RECORDS or size + record_size > destinations.MAX_BYTES):
            yield batch
            batch, size = [], 0
        batch.append((event, record))
        size += record_size
    if batch:
        yield batch


class _LeaseLost(Exception):
    pass


def _ship_waiting(stream: EventStream, destination: Destination, deadline: float) -> tuple[int, bool]:
    """Send waiting events until none are left, the deadline passes, or a send fails (DestinationError).
    Returns (records sent, whether events may still be waiting)."""
    sent = 0
    with destinations.http_client() as http:
        while True:
            events = list(
                Event.objects.filter(project_id=stream.project_id, stream_pending=True).order_by("id")[:READ_BATCH]
            )
            if not events:
                return sent, False
            records = _records(stream.project, events)
            for batch in _batches(events, records):
                accepted, refusal = destinations.send(
                    destination, [r for _, r in batch], project_id=stream.project_id, http=http
                )
                done = [event.id for (event, _), ok in zip(batch, accepted, strict=True) if ok]
                now = timezone.now()
                with transaction.atomic():
                    Event.objects.filter(id__in=done, stream_pending=True).update(stream_pending=None)
                    renewed = EventStream.objects.filter(pk=stream.pk, lease_token=stream.lease_token).update(
                        lease_until=now + LEASE,
                        records_sent=F("records_sent") + len(done),
                        **({"last_success_at": now} if done else {}),
                    )
                sent += len(done)
                if refusal:
                    raise DestinationError(refusal)
                if not renewed:
                    raise _LeaseLost
            if time.monotonic() > deadline:
                return sent, True


def stream_ship(project_id: str) -> int:
    """Ship the project's waiting events to its stream, if it is due and nobody else ships; returns
    how many records the destination took. Failures are recorded on the stream (last error, backoff)
    and the events keep waiting. Harmless to run twice."""
    EventStream.objects.filter(project_id=project_id, wake_queued=True).update(wake_queued=False)
    deadline = time.monotonic() + TIME_BUDGET_SECONDS
    total = 0
    while True:
        stream = _claim(project_id, timezone.now())
        if stream is None:
            return total
        release = {"lease_until": None, "lease_token": ""}
        more = False
        try:
            sent, more = _ship_waiting(stream, destinations.parse_destination(stream.destination_stream_arn), deadline)
            total += sent
            release |= {"attempts": 0, "next_attempt_at": None}
        except _LeaseLost:
            return total
        except (DestinationError, destinations.DestinationInvalid) as error:
            failed_at = timezone.now()
            release |= {
                "attempts": stream.attempts + 1,
                "next_attempt_at": failed_at + backoff(stream.attempts + 1),
                "last_error": str(error)[:ERROR_LIMIT],
                "last_error_at": failed_at,
            }
        EventStream.objects.filter(pk=stream.pk, lease_token=stream.lease_token).update(**release)
        if "last_error" in release:
            return total
        if more:  # out of time: continue in a fresh task
            from audience.streams.tasks import stream_ship as task

            enqueue_on_commit(task, project_id)
            return total
        # Events committed while the lease was held may have found their wake-up refused: look again.
        if not Event.objects.filter(project_id=project_id, stream_pending=True).exists():
            return total


def streams_sweep(now: datetime | None = None) -> list[str]:
    """Enqueue shipping for every stream that is due, unheld and has waiting events (after a backoff,
    a lost task, or a worker that died holding the lease); returns their project ids."""
    from audience.streams.tasks import stream_ship as task

    now = now or timezone.now()
    waiting = Event.objects.filter(project_id=OuterRef("project_id"), stream_pending=True)
    due = list(
        EventStream.objects.filter(_due(now))
        .filter(Exists(waiting))
        .values_list("project_id", flat=True)
        .order_by("project_id")
    )
    for project_id in due:
        enqueue_on_commit(task, project_id)
    return due


def stream_waiting_count(project: Project) -> int:
    """Events waiting for the project's stream (the partial index answers it)."""
    return Event.objects.filter(project=project, stream_pending=True).count()
