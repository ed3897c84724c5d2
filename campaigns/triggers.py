"""Event-triggered campaigns (Schedule.Frequency EVENT): stored events → messages within 5 minutes.

Flow:
1. audience announces committed events (audience.signals.events_stored: PutEvents' events as source
   ENDPOINT, Engage's own `_`-prefixed events as SYSTEM). `events_stored_received` (connected in
   campaigns.apps) loads the project's live EVENT campaigns — one query on the campaign table by
   project (its listing index), nothing more when there are none — and matches each event against
   each campaign's Schedule.EventFilter in Python (`event_matches`, pure). Events a retried
   PutEvents call repeats (an earlier call stored them) are dropped — one query on the events'
   unique index, only when something matched. For every campaign with matches it enqueues one task
   after commit: campaign id, trigger time, (endpoint key, event id) of each matching event.
2. The task (`campaign_trigger_events_task` → `campaign_trigger_send`) re-checks the campaign (EVENT,
   active state, not paused, the trigger time inside StartTime ≤ t < EndTime), keeps the endpoints
   that are ACTIVE members of its segment (one query: the keys filtered by the compiled segment
   condition), allocates treatments by cohort, and hands each treatment's endpoints to the engine
   (campaigns.runs.campaign_send_to) with occurrence = the triggering event's id, start = the
   trigger time (MaximumDuration, quiet time and the hook's ScheduledTime count from the event) and
   expires_at = trigger time + 5 minutes: the engine records EXPIRED for a message it cannot
   schedule before then, and the outbox drops a row claimed after it.

Once per event: each matching event is an occurrence — the Delivery key, the `_campaign.send`
event id and the engine's "already decided" check include its event id — so an endpoint gets the
message for every matching event, subject to the campaign's caps (Limits.Total → CAMPAIGN_CAP,
Limits.Daily and the project's daily cap → DAILY_CAP, which count the activity's earlier messages)
and quiet time, while a retried task for the same event writes and counts nothing twice. Several
events of one endpoint in one call go to the engine one after the other (rounds), so the caps see
the earlier ones. The task locks the run row while it decides: concurrent triggers of one campaign
take turns, and the caps hold across them.

Runs: an EVENT campaign has one CampaignRun per campaign version, scheduled_start = the later of its
StartTime and the version's creation (unique per campaign and start), with one activity per
treatment (get_or_create on the unique constraints). The run is EXECUTING (started when the first
event triggered it) with no lease: the engine's run loop and sweeper leave EVENT campaigns' runs
out (campaigns.runs.engine). A new version's run completes the campaign's earlier open runs.

Events caused by the campaign itself never trigger it: its own `_campaign.send` events and the
`_email.*` / `_SMS.*` / tracking events of its deliveries carry attribute campaign_id = the
campaign, and are left out, so a SYSTEM filter on them cannot loop.

Event filter semantics (Pinpoint's EventDimensions; event attributes are single strings):
- FilterType ENDPOINT matches events reported through PutEvents (including the SDK's `_session.*`),
  SYSTEM matches events Engage generates.
- EventType (SetDimension): INCLUSIVE — the type is one of Values; EXCLUSIVE — it is none of them.
- Attributes (AttributeDimension), as the segment compiler reads attributes: INCLUSIVE — the value is
  one of Values; EXCLUSIVE — it is none of them (also when the event lacks the attribute); CONTAINS —
  the value contains one of Values; BEFORE / AFTER / ON / BETWEEN — the value read as an ISO-8601
  instant (audience.compiler.parse_iso) is before / after / on the same UTC day as / within
  (inclusive) the dimension's instants. A missing attribute matches only EXCLUSIVE.
- Metrics (MetricDimension): the event's metric compared with Value (GREATER_THAN, LESS_THAN,
  GREATER_THAN_OR_EQUAL, LESS_THAN_OR_EQUAL, EQUAL); a missing metric does not match.
Every dimension given must match.
"""

import logging
import math
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from audience.compiler import parse_iso
from audience.models import Endpoint, Event
from audience.signals import ENDPOINT, SYSTEM, StoredEvent
from campaigns.inapp import ACTIVE_STATES, in_window, segment_condition_of
from campaigns.models import (
    ActivityState,
    Campaign,
    CampaignActivity,
    CampaignRun,
    CampaignVersion,
    Frequency,
    RunState,
)
from campaigns.schedule import ScheduleInvalid, first_start
from engage.queue import enqueue_on_commit

logger = logging.getLogger(__name__)

OPEN_RUNS = (RunState.PENDING, RunState.EXECUTING)
EXPIRY = timedelta(minutes=5)  # Pinpoint: a triggered message not sent within 5 minutes is dropped
FILTER_TYPES = (ENDPOINT, SYSTEM)
_METRIC_COMPARISONS = {
    "GREATER_THAN": lambda a, b: a > b,
    "LESS_THAN": lambda a, b: a < b,
    "GREATER_THAN_OR_EQUAL": lambda a, b: a >= b,
    "LESS_THAN_OR_EQUAL": lambda a, b: a <= b,
    "EQUAL": lambda a, b: a == b,
}


def _attribute_matches(value: Any, dimension: Mapping[str, Any]) -> bool:
    kind = dimension.get("AttributeType") or "INCLUSIVE"
    wanted = [v for v in dimension.get("Values") or () if isinstance(v, str)]
    values = [v for v in (value if isinstance(value, list) else [value]) if isinstance(v, str)]
    if kind == "EXCLUSIVE":
        return not any(v in wanted for v in values)
    if kind == "INCLUSIVE":
        return any(v in wanted for v in values)
    if kind == "CONTAINS":
        return any(w in v for v in values for w in wanted)
    bounds = [parse_iso(w) for w in wanted]
    if not bounds or any(b is None for b in bounds):
        return False
    for moment in (parse_iso(v) for v in values):
        if moment is None:
            continue
        if kind == "BEFORE" and moment < bounds[0]:
            return True
        if kind == "AFTER" and moment > bounds[0]:
            return True
        if kind == "ON" and moment.astimezone(UTC).date() == bounds[0].astimezone(UTC).date():
            return True
        if kind == "BETWEEN" and len(bounds) == 2 and bounds[0] <= moment <= bounds[1]:
            return True
    return False


def _metric_matches(value: Any, dimension: Mapping[str, Any]) -> bool:
    compare = _METRIC_COMPARISONS.get(dimension.get("ComparisonOperator"))
    target = dimension.get("Value")
    if compare is None or isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return False
    if isinstance(target, bool) or not isinstance(target, int | float):
        return False
    return compare(float(value), float(target))


def event_matches(event_filter: Mapping[str, Any], event: StoredEvent, *, source: str) -> bool:
    """Whether a stored event of `source` (ENDPOINT or SYSTEM) satisfies a CampaignEventFilter (see
    the module doc). Pure."""
    if event_filter.get("FilterType") != source:
        return False
    dimensions = event_filter.get("Dimensions") or {}
    event_type = dimensions.get("EventType")
    if event_type:
        listed = event.event_type in (event_type.get("Values") or ())
        if listed != ((event_type.get("DimensionType") or "INCLUSIVE") == "INCLUSIVE"):
            return False
    for name, dimension in (dimensions.get("Attributes") or {}).items():
        if not _attribute_matches((event.attributes or {}).get(name), dimension or {}):
            return False
    for name, dimension in (dimensions.get("Metrics") or {}).items():
        if not _metric_matches((event.metrics or {}).get(name), dimension or {}):
            return False
    return True


def matching_events(
    campaign_id: str, event_filter: Mapping[str, Any], events: Iterable[StoredEvent], *, source: str
) -> list[StoredEvent]:
    """The events that trigger the campaign; events the campaign caused (its `_campaign.send` events,
    its deliveries' `_email.*`, `_SMS.*` and tracking events: attribute campaign_id = the campaign)
    are left out."""
    return [
        event
        for event in events
        if event.endpoint_key
        and (event.attributes or {}).get("campaign_id") != campaign_id
        and event_matches(event_filter, event, source=source)
    ]


def stored_by_this_call(project_id: str, events: Sequence[StoredEvent]) -> set[tuple[str, str]]:
    """(endpoint key, event id) of the events whose stored row is the one this call wrote — not one an
    earlier call stored (a retried PutEvents): one query on the events' unique index."""
    if not events:
        return set()
    given = {(e.endpoint_key, e.event_id): e.received_at for e in events}
    rows = Event.objects.filter(
        project_id=project_id,
        endpoint_key__in={key for key, _ in given},
        client_event_id__in={event_id for _, event_id in given},
    ).values_list("endpoint_key", "client_event_id", "received_at")
    return {
        (key, event_id)
        for key, event_id, received_at in rows
        if (key, event_id) in given and given[(key, event_id)] in (None, received_at)
    }


def live_event_campaigns(project_id: str) -> list[tuple[str, dict[str, Any]]]:
    """(id, definition) of the project's EVENT campaigns that may trigger: one query."""
    return list(
        Campaign.objects.filter(
            project_id=project_id, frequency=Frequency.EVENT, state__in=ACTIVE_STATES, is_paused=False
        ).values_list("id", "definition")
    )


def events_stored_received(
    sender: object,
    *,
    project_id: str,
    source: str,
    stored_at: datetime,
    events: Sequence[StoredEvent],
    **kwargs: Any,
) -> list[str]:
    """audience.signals.events_stored receiver: enqueue a trigger task per EVENT campaign the events
    match (after commit); returns those campaigns' ids."""
    if source not in FILTER_TYPES or not events:
        return []
    matched: dict[str, list[StoredEvent]] = {}
    for campaign_id, definition in live_event_campaigns(project_id):
        schedule = definition.get("Schedule") or {}
        event_filter = schedule.get("EventFilter") or {}
        if event_filter.get("FilterType") != source or not in_window(schedule, stored_at):
            continue
        if found := matching_events(campaign_id, event_filter, events, source=source):
            matched[campaign_id] = found
    if not matched:
        return []
    new = stored_by_this_call(project_id, [e for found in matched.values() for e in found])
    triggered = []
    for campaign_id, found in matched.items():
        pairs = sorted({(e.endpoint_key, e.event_id) for e in found if (e.endpoint_key, e.event_id) in new})
        if pairs:
            flat = [part for pair in pairs for part in pair]
            enqueue_on_commit(campaign_trigger_events_task, campaign_id, stored_at.isoformat(), *flat)
            triggered.append(campaign_id)
    return triggered


def campaign_trigger_events_task(campaign_id: str, triggered_at: str, *keys_and_event_ids: str) -> int:
    """django-q2 task: send an EVENT campaign for the events that triggered it, given as endpoint key,
    event id, endpoint key, event id...; returns how many (endpoint, event) it decided."""
    pairs = list(zip(keys_and_event_ids[::2], keys_and_event_ids[1::2], strict=True))
    return len(campaign_trigger_send(campaign_id, pairs, triggered_at=datetime.fromisoformat(triggered_at)))


def campaign_trigger_task(campaign_id: str, triggered_at: str, *endpoint_keys: str) -> int:
    """django-q2 task of the first release (endpoint keys without their events), kept for tasks queued
    before an upgrade: each endpoint is sent once per campaign version (occurrence "")."""
    return len(campaign_trigger_send(campaign_id, endpoint_keys, triggered_at=datetime.fromisoformat(triggered_at)))


def _run_start(campaign: Campaign) -> datetime:
    """The run's scheduled_start: the later of StartTime and the current version's creation."""
    created = (
        CampaignVersion.objects.filter(campaign=campaign, version=campaign.version)
        .values_list("creation_date", flat=True)
        .first()
    ) or campaign.last_modified_date
    try:
        return max(created, first_start(campaign.definition.get("Schedule") or {}, now=created))
    except ScheduleInvalid:
        return created


def event_run(campaign: Campaign, *, now: datetime) -> CampaignRun:
    """The EVENT campaign's run for its current version (made once; see the module doc), its row
    locked until the transaction ends. Making it completes the campaign's earlier open runs."""
    run, created = CampaignRun.objects.get_or_create(
        campaign=campaign,
        scheduled_start=_run_start(campaign),
        defaults={"campaign_version": campaign.version, "state": RunState.EXECUTING, "started_at": now},
    )
    if created:
        earlier = CampaignRun.objects.filter(campaign=campaign, state__in=OPEN_RUNS).exclude(pk=run.pk)
        CampaignActivity.objects.filter(run__in=earlier).exclude(state=ActivityState.COMPLETED).update(
            state=ActivityState.COMPLETED, result="SUCCESS", end=now
        )
        earlier.update(state=RunState.COMPLETED, ended_at=now, lease_token="", lease_until=None)
    return CampaignRun.objects.select_for_update().get(pk=run.pk)


def _activity(run: CampaignRun, treatment_id: str) -> CampaignActivity:
    """The run's activity of a treatment (made once)."""
    activity, _ = CampaignActivity.objects.get_or_create(
        run=run,
        treatment_id=treatment_id,
        defaults={
            "campaign_id": run.campaign_id,
            "scheduled_start": run.scheduled_start,
            "state": ActivityState.PENDING,
        },
    )
    activity.run = run
    return activity


def _rounds(triggers: Iterable[str | tuple[str, str]]) -> list[dict[str, str]]:
    """(endpoint key, event id) pairs (or bare keys: event id "") as rounds of endpoint key → event
    id, each endpoint at most once a round: an endpoint's second event goes in the second round."""
    by_key: dict[str, list[str]] = {}
    for trigger in triggers:
        key, event_id = (trigger, "") if isinstance(trigger, str) else trigger
        if event_id not in by_key.setdefault(key, []):
            by_key[key].append(event_id)
    depth = max((len(ids) for ids in by_key.values()), default=0)
    return [{key: ids[i] for key, ids in sorted(by_key.items()) if i < len(ids)} for i in range(depth)]


def campaign_trigger_send(
    campaign_id: str,
    triggers: Iterable[str | tuple[str, str]],
    *,
    triggered_at: datetime,
    now: datetime | None = None,
) -> dict[tuple[str, str], str]:
    """Send a live EVENT campaign for `triggers` — (endpoint key, event id) of events stored at
    `triggered_at` (a bare endpoint key: event id "", once per version) — to the endpoints that are
    ACTIVE members of its segment, each message expiring 5 minutes after `triggered_at`; returns
    (endpoint key, event id) → campaign_send_status (or execution metric) from the engine. Nothing
    when the campaign is gone, not EVENT, not active, paused, or `triggered_at` is outside its
    window, or a template it names is gone (logged). Idempotent per (endpoint, event) and campaign
    version (the engine's Delivery keys and `_campaign.send` event ids)."""
    from campaigns.runs import campaign_send_to
    from campaigns.runs.plan import RunInvalid
    from campaigns.treatments import HOLDOUT, treatment_of, treatments_of

    now = now or timezone.now()
    campaign = (
        Campaign.objects.select_related("project", "segment")
        .filter(pk=campaign_id, frequency=Frequency.EVENT, state__in=ACTIVE_STATES, is_paused=False)
        .first()
    )
    if campaign is None or not in_window(campaign.definition.get("Schedule") or {}, triggered_at):
        return {}
    condition = segment_condition_of(campaign.project, campaign.segment, campaign.segment_version, now=triggered_at)
    if condition is None:
        return {}
    rounds = _rounds(triggers)
    members = list(
        Endpoint.objects.for_project(campaign.project)
        .active()
        .filter(condition, key__in=sorted({key for found in rounds for key in found}))
        .order_by("key")
        .values_list("key", "cohort_id")
    )
    if not members:
        return {}
    allocation = treatments_of(campaign.definition)
    by_treatment: dict[str, list[str]] = {}
    for key, cohort in members:
        treatment = treatment_of(cohort, allocation)
        if treatment is not None:  # the holdout is recorded by treatment "0"'s activity
            by_treatment.setdefault("0" if treatment == HOLDOUT else treatment, []).append(key)
    decided: dict[tuple[str, str], str] = {}
    try:
        with transaction.atomic():
            run = event_run(campaign, now=now)
            activities = {treatment_id: _activity(run, treatment_id) for treatment_id in sorted(by_treatment)}
            for found in rounds:
                for treatment_id, keys in sorted(by_treatment.items()):
                    occurrences = {key: found[key] for key in keys if key in found}
                    if not occurrences:
                        continue
                    answer = campaign_send_to(
                        campaign,
                        activities[treatment_id],
                        list(occurrences),
                        now=now,
                        expires_at=triggered_at + EXPIRY,
                        occurrence=occurrences,
                        start=triggered_at,
                    )
                    decided.update({(key, occurrences[key]): status for key, status in answer.items()})
    except RunInvalid as error:  # a template the campaign names is gone: nothing can be sent
        logger.warning("Event campaign %s cannot send: %s", campaign.pk, error)
        return {}
    return decided
