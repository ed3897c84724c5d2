"""Admission: endpoints entering a journey as JourneyParticipant rows at StartActivity, due now.

Segment start condition — `journeys_admit_due(now)`: an ACTIVE journey whose next_refresh_at has
come gets one JourneyRun for that instant (unique per journey and scheduled_at; the journey row is
locked, SKIP LOCKED on PostgreSQL, so concurrent ticks make one run); next_refresh_at moves on by
RefreshFrequency (past now, before end_time) or becomes NULL. `run_admit(run)` then reads the
segment's members by keyset on Endpoint.key after the run's cursor, ADMIT_BATCH at a time; each
batch is one transaction that moves the cursor (only while this claim holds the run's lease) and
inserts the participants (ON CONFLICT DO NOTHING on (journey, endpoint_key, entry)), so an
interrupted admission resumes after its last batch and admits no one twice. While it admits, the
run is SCHEDULED; when the members are exhausted it is RUNNING, and COMPLETED once none of its
participants is ACTIVE (journeys.engine.states).

Event start condition — see journeys.engine.triggers: each matching event admits its endpoint
into the journey's one run (scheduled_at = the journey's start).

Who enters (both ways), decided per batch with one grouped query on the journey's participants:
- an endpoint ACTIVE in the journey already is not admitted again;
- re-entry: Limits.EndpointReentryCap — absent: one entry; 0: unlimited; n: at most n entries —
  and Limits.EndpointReentryInterval (at least that long after the previous entry);
- LocalTime: endpoints without a valid Demographic.Timezone are left out (Pinpoint excludes them).
Those left out make no participant row: they are counted in JourneyRun.metrics (metric name →
count, added in the transaction that admits their batch, so a batch redone after a lost lease
counts nothing twice) under Pinpoint's names — ACTIVE_ENDPOINT_REJECTED (active already),
REENTRY_CAP_EXCEEDED (EndpointReentryCap reached), ENDPOINT_MISSING_TIMEZONE (LocalTime) — and
REENTRY_INTERVAL_NOT_PASSED (Engage's name: Pinpoint names none for EndpointReentryInterval).
An event repeated by a retried call or task is not a decision and is not counted.
"""

import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.models import Q

from audience.compiler import SegmentInvalid
from audience.models import Endpoint
from audience.segments import segment_members
from campaigns.schedule import endpoint_zone
from engage.db import is_postgresql
from journeys.engine.graph import Definition, parse_duration
from journeys.models import (
    Journey,
    JourneyParticipant,
    JourneyRun,
    JourneyRunStatus,
    JourneyState,
    ParticipantState,
)

ADMIT_BATCH = 1000
ACTIVE_REJECTED = "ACTIVE_ENDPOINT_REJECTED"
REENTRY_CAP = "REENTRY_CAP_EXCEEDED"
REENTRY_INTERVAL = "REENTRY_INTERVAL_NOT_PASSED"
MISSING_TIMEZONE = "ENDPOINT_MISSING_TIMEZONE"
LEASE = timedelta(minutes=5)
DUE_LIMIT = 200


class LeaseLost(Exception):
    """Another claim holds the run: this admission stops, its batch rolled back."""


def admissible(
    journey: Journey,
    keys: Sequence[str],
    *,
    now: datetime,
    events: Mapping[str, str] | None = None,
    rejected: dict[str, int] | None = None,
) -> dict[str, int]:
    """The endpoints among `keys` that may enter now, each with its entry number (one query).
    `events` (endpoint key → event id, event entry) leaves out endpoints already admitted for that
    event, so a repeated trigger admits no one twice. The others left out are counted in `rejected`
    (metric name → count)."""
    rejected = {} if rejected is None else rejected
    definition = Definition(journey.definition or {})
    cap_given = "EndpointReentryCap" in definition.limits
    cap = definition.limit("EndpointReentryCap") if cap_given else 1
    interval = parse_duration(str(definition.limits.get("EndpointReentryInterval") or "")) or timedelta(0)
    seen: dict[str, dict[str, Any]] = {}
    rows = JourneyParticipant.objects.filter(journey=journey, endpoint_key__in=list(keys)).values_list(
        "endpoint_key", "entry", "entered_at", "state", "context"
    )
    for key, entry, entered_at, state, context in rows:
        known = seen.setdefault(key, {"entries": 0, "last": None, "active": False, "events": set()})
        known["entries"] = max(known["entries"], entry)
        known["last"] = entered_at if known["last"] is None else max(known["last"], entered_at)
        known["active"] |= state == ParticipantState.ACTIVE
        if (context or {}).get("event_id"):
            known["events"].add(context["event_id"])
    admitted = {}
    for key in keys:
        known = seen.get(key)
        if known is None:
            admitted[key] = 1
            continue
        if events and events.get(key) in known["events"]:
            continue
        reason = ""
        if known["active"]:
            reason = ACTIVE_REJECTED
        elif cap and known["entries"] >= cap:
            reason = REENTRY_CAP
        elif interval and known["last"] is not None and now - known["last"] < interval:
            reason = REENTRY_INTERVAL
        if reason:
            rejected[reason] = rejected.get(reason, 0) + 1
            continue
        admitted[key] = known["entries"] + 1
    return admitted


def participants_insert(
    journey: Journey,
    run: JourneyRun,
    entries: Mapping[str, int],
    *,
    now: datetime,
    contexts: Mapping[str, dict] | None = None,
) -> int:
    """Participants at StartActivity, due now (ON CONFLICT DO NOTHING); returns how many were given."""
    start = Definition(journey.definition or {}).start_activity
    rows = [
        JourneyParticipant(
            journey=journey,
            run=run,
            endpoint_key=key,
            entry=entry,
            activity_id=start,
            state=ParticipantState.ACTIVE,
            next_at=now,
            context=dict((contexts or {}).get(key) or {}),
            entered_at=now,
            updated_at=now,
        )
        for key, entry in entries.items()
    ]
    JourneyParticipant.objects.bulk_create(rows, batch_size=1000, ignore_conflicts=True)
    return len(rows)


def local_time_keys(
    journey: Journey, endpoints: Sequence[tuple[str, str]], *, rejected: dict[str, int] | None = None
) -> list[str]:
    """(key, timezone) pairs → the keys that may enter: all of them, or with LocalTime those with a
    valid Demographic.Timezone (the others counted in `rejected` as ENDPOINT_MISSING_TIMEZONE)."""
    if not (journey.definition or {}).get("LocalTime"):
        return [key for key, _ in endpoints]
    keys = [key for key, zone in endpoints if endpoint_zone(zone) is not None]
    if rejected is not None and len(keys) < len(endpoints):
        rejected[MISSING_TIMEZONE] = rejected.get(MISSING_TIMEZONE, 0) + len(endpoints) - len(keys)
    return keys


def run_count(run_id: str, counts: Mapping[str, int]) -> None:
    """Add `counts` to the run's metrics; call inside the transaction that admits the batch (the run
    row is locked: concurrent admissions into one run add up)."""
    counts = {name: n for name, n in counts.items() if n}
    if not counts:
        return
    locked = JourneyRun.objects.filter(pk=run_id).select_for_update()
    metrics = dict(locked.values_list("metrics", flat=True).first() or {})
    for name, n in counts.items():
        metrics[name] = int(metrics.get(name) or 0) + n
    JourneyRun.objects.filter(pk=run_id).update(metrics=metrics)


def journeys_admit_due(now: datetime) -> list[str]:
    """Make the runs of segment-entry journeys whose refresh is due; returns the runs made. Idempotent."""
    due = (
        Journey.objects.filter(state=JourneyState.ACTIVE, next_refresh_at__lte=now)
        .order_by("next_refresh_at")
        .values_list("id", flat=True)[:DUE_LIMIT]
    )
    made = []
    for journey_id in list(due):
        run_id = _start_run(journey_id, now)
        if run_id:
            made.append(run_id)
    return made


def _start_run(journey_id: str, now: datetime) -> str | None:
    with transaction.atomic():
        locked = Journey.objects.filter(pk=journey_id, state=JourneyState.ACTIVE, next_refresh_at__lte=now)
        locked = locked.select_for_update(skip_locked=True) if is_postgresql() else locked.select_for_update()
        journey = locked.first()
        if journey is None:
            return None
        scheduled = journey.next_refresh_at
        if Definition(journey.definition or {}).event_start is not None or journey.segment_id is None:
            journey.next_refresh_at = None  # event entry: no refreshes (its run is made by the first event)
            journey.save(update_fields=["next_refresh_at"])
            return None
        journey.next_refresh_at = _next_refresh(journey, scheduled, now)
        journey.save(update_fields=["next_refresh_at"])
        if journey.end_time is not None and scheduled >= journey.end_time:
            return None
        run, created = JourneyRun.objects.get_or_create(
            journey=journey, scheduled_at=scheduled, defaults={"creation_time": now, "last_update_time": now}
        )
    return run.id if created else None


def _next_refresh(journey: Journey, scheduled: datetime, now: datetime) -> datetime | None:
    every = parse_duration(str((journey.definition or {}).get("RefreshFrequency") or ""))
    if not every or every <= timedelta(0):
        return None
    following = scheduled + every
    if following <= now:
        following += every * ((now - following) // every + 1)
    if journey.end_time is not None and following >= journey.end_time:
        return None
    return following


def run_admit(run_id: str, *, now: datetime, max_batches: int | None = None) -> int:
    """Admit the next batches of a segment run (see the module doc); returns how many endpoints were
    given entries. Returns 0 when the run is held by another claim or has nothing left."""
    token = uuid.uuid4().hex
    claimed = (
        JourneyRun.objects.filter(pk=run_id, status=JourneyRunStatus.SCHEDULED, journey__state=JourneyState.ACTIVE)
        .filter(Q(lease_until__isnull=True) | Q(lease_until__lt=now))
        .update(lease_until=now + LEASE, lease_token=token)
    )
    if not claimed:
        return 0
    run = JourneyRun.objects.select_related("journey__project", "journey__segment").get(pk=run_id)
    journey = run.journey
    try:
        if journey.segment is None:
            raise SegmentInvalid("The journey's segment is gone.")
        members = segment_members(journey.project, journey.segment, now=run.scheduled_at)
    except SegmentInvalid:
        JourneyRun.objects.filter(pk=run.pk, lease_token=token).update(
            status=JourneyRunStatus.CANCELLED, lease_until=None, lease_token="", last_update_time=now
        )
        return 0
    ordered = members.order_by("key").values_list("key", "timezone")
    admitted = batches = 0
    while True:
        batch = list(ordered.filter(key__gt=run.cursor)[:ADMIT_BATCH] if run.cursor else ordered[:ADMIT_BATCH])
        if not batch:
            JourneyRun.objects.filter(pk=run.pk, lease_token=token).update(
                status=JourneyRunStatus.RUNNING, lease_until=None, lease_token="", last_update_time=now
            )
            return admitted
        rejected: dict[str, int] = {}
        entries = admissible(journey, local_time_keys(journey, batch, rejected=rejected), now=now, rejected=rejected)
        with transaction.atomic():
            moved = JourneyRun.objects.filter(pk=run.pk, lease_token=token, cursor=run.cursor).update(
                cursor=batch[-1][0], lease_until=now + LEASE, last_update_time=now
            )
            if not moved:
                return admitted
            run_count(run.pk, rejected)
            admitted += participants_insert(journey, run, entries, now=now)
        run.cursor = batch[-1][0]
        batches += 1
        if max_batches is not None and batches >= max_batches:
            JourneyRun.objects.filter(pk=run.pk, lease_token=token).update(lease_until=None, lease_token="")
            return admitted


def open_runs(now: datetime) -> list[str]:
    """Segment runs still admitting whose lease is free (new, or their worker died)."""
    return list(
        JourneyRun.objects.filter(status=JourneyRunStatus.SCHEDULED, journey__state=JourneyState.ACTIVE)
        .filter(Q(lease_until__isnull=True) | Q(lease_until__lt=now))
        .order_by("creation_time")
        .values_list("id", flat=True)[:DUE_LIMIT]
    )


def endpoints_with_zones(journey: Journey, keys: Sequence[str]) -> list[tuple[str, str]]:
    return list(
        Endpoint.objects.for_project(journey.project)
        .active()
        .filter(key__in=list(keys))
        .order_by("key")
        .values_list("key", "timezone")
    )
