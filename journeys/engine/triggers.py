"""Event entry (StartCondition.EventStartCondition): stored events → participants within seconds.

`journey_events_received` (an audience.signals.events_stored receiver, connected in journeys.apps)
loads the project's ACTIVE journeys — one query on the journey table, nothing more when there are
none — and matches each event against each event journey's EventFilter with the campaign
triggers' matcher (campaigns.triggers.event_matches). Events the journey caused (its own
`_journey.send` events: attribute journey_id) and events a retried PutEvents repeats are left out.
For each journey with matches it enqueues one task after commit: journey id, stored time, then
endpoint key / event id pairs. The task (`journey_events_admit`) admits the endpoints that are
ACTIVE (and, with EventStartCondition.SegmentId, members of that segment) into the journey's one
run, subject to re-entry rules — each participant remembers its event id, so a repeated task
admits no one twice — and advances the journey at once, so the first message is queued within
seconds of the event.
"""

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from audience.compiler import SegmentInvalid
from audience.models import Endpoint, Segment
from audience.segments import segment_members
from audience.signals import ENDPOINT, SYSTEM, StoredEvent
from campaigns.triggers import event_matches, stored_by_this_call
from engage.queue import enqueue_on_commit
from journeys.engine.admission import admissible, local_time_keys, participants_insert, run_count
from journeys.engine.graph import Definition
from journeys.models import Journey, JourneyRun, JourneyRunStatus, JourneyState


def _in_window(journey: Journey, moment: datetime) -> bool:
    if journey.start_time is not None and moment < journey.start_time:
        return False
    return journey.end_time is None or moment < journey.end_time


def journey_events_received(
    sender: object, *, project_id: str, source: str, stored_at: datetime, events: Sequence[StoredEvent], **kwargs: Any
) -> list[str]:
    """events_stored receiver: enqueue an admission task per event journey the events match (after
    commit); returns those journeys' ids."""
    if source not in (ENDPOINT, SYSTEM) or not events:
        return []
    matched: dict[str, list[StoredEvent]] = {}
    live = Journey.objects.filter(project_id=project_id, state=JourneyState.ACTIVE).only(
        "id", "definition", "start_time", "end_time"
    )
    for journey in live:
        start = Definition(journey.definition or {}).event_start
        event_filter = (start or {}).get("EventFilter") or {}
        if not event_filter or event_filter.get("FilterType") != source or not _in_window(journey, stored_at):
            continue
        found = [
            e
            for e in events
            if e.endpoint_key
            and (e.attributes or {}).get("journey_id") != journey.id
            and event_matches(event_filter, e, source=source)
        ]
        if found:
            matched[journey.id] = found
    if not matched:
        return []
    new = stored_by_this_call(project_id, [e for found in matched.values() for e in found])
    from journeys.tasks import journey_events_admit_task

    admitted = []
    for journey_id, found in matched.items():
        pairs = sorted({(e.endpoint_key, e.event_id) for e in found if (e.endpoint_key, e.event_id) in new})
        if pairs:
            flat = [part for pair in pairs for part in pair]
            enqueue_on_commit(journey_events_admit_task, journey_id, stored_at.isoformat(), *flat)
            admitted.append(journey_id)
    return admitted


def event_run(journey: Journey, now: datetime) -> JourneyRun:
    """The event journey's one run (made by its first event)."""
    run, _ = JourneyRun.objects.get_or_create(
        journey=journey,
        scheduled_at=journey.start_time or journey.published_at or journey.creation_date,
        defaults={"status": JourneyRunStatus.RUNNING, "creation_time": now, "last_update_time": now},
    )
    return run


def journey_events_admit(
    journey_id: str, triggers: Iterable[tuple[str, str]], *, triggered_at: datetime, now: datetime | None = None
) -> int:
    """Admit the endpoints of (endpoint key, event id) triggers into an ACTIVE event journey (see the
    module doc); returns how many entered. Idempotent per (endpoint, event)."""
    now = now or timezone.now()
    journey = Journey.objects.select_related("project").filter(pk=journey_id, state=JourneyState.ACTIVE).first()
    if journey is None or not _in_window(journey, triggered_at):
        return 0
    start = Definition(journey.definition or {}).event_start
    if start is None:
        return 0
    by_key: dict[str, str] = {}
    for key, event_id in triggers:
        by_key.setdefault(key, event_id)  # one entry per endpoint per call: the others meet "already active"
    endpoints = Endpoint.objects.for_project(journey.project).active().filter(key__in=sorted(by_key))
    if start.get("SegmentId"):
        segment = Segment.objects.filter(project=journey.project, pk=start["SegmentId"]).first()
        if segment is None:
            return 0
        try:
            endpoints = segment_members(journey.project, segment, now=triggered_at).filter(key__in=sorted(by_key))
        except SegmentInvalid:
            return 0
    pairs = list(endpoints.order_by("key").values_list("key", "timezone"))
    rejected: dict[str, int] = {}
    keys = local_time_keys(journey, pairs, rejected=rejected)
    with transaction.atomic():
        run = event_run(journey, now)
        entries = admissible(journey, keys, now=now, events={k: by_key[k] for k in keys}, rejected=rejected)
        run_count(run.id, rejected)
        contexts = {key: {"event_id": by_key[key]} for key in entries}
        return participants_insert(journey, run, entries, now=now, contexts=contexts)
