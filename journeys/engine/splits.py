"""Split conditions (ConditionalSplit, MultiCondition) for a group of participants, set-based: each
SimpleCondition is one query for the whole group.

- SegmentCondition {SegmentId}: the endpoint is a member of the segment now (audience.segments);
  a segment that is gone or unreadable holds no one.
- segmentDimensions (the model's JSON name; SegmentDimensions is read too): the endpoint satisfies
  the dimensions (audience.segments.segment_condition → the segment compiler).
- EventCondition {Dimensions, MessageActivity}: an event of the endpoint since the participant
  entered matches Dimensions (campaigns.triggers.event_matches, as a filter of the event's own
  source). With MessageActivity, only events of the participant's message of that activity count
  (`_email.open`, `_email.click`, `_SMS.BUFFERED`...): events whose message_id is that delivery's
  (its key is derived from participant and activity) or whose journey_activity_id and journey_id
  name it.
"""

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from audience.compiler import SegmentInvalid
from audience.models import Endpoint, Event, Segment
from audience.segments import segment_condition, segment_members
from audience.signals import ENDPOINT, SYSTEM, StoredEvent
from campaigns.triggers import event_matches
from journeys.engine.messages import delivery_key
from projects.models import Project


def condition_holds(
    project: Project, journey_id: str, condition: Mapping[str, Any], participants: list, *, now: datetime
) -> set[int]:
    """The ids of the participants for whom a SimpleCondition holds (one query)."""
    if not participants:
        return set()
    keys = sorted({p.endpoint_key for p in participants})
    if condition.get("SegmentCondition"):
        found = _segment_keys(project, str(condition["SegmentCondition"].get("SegmentId") or ""), keys, now)
        return {p.id for p in participants if p.endpoint_key in found}
    dimensions = condition.get("segmentDimensions") or condition.get("SegmentDimensions")
    if dimensions:
        try:
            q = segment_condition(project, {"Dimensions": dimensions}, now=now)
        except SegmentInvalid:
            return set()
        found = set(Endpoint.objects.for_project(project).filter(q, key__in=keys).values_list("key", flat=True))
        return {p.id for p in participants if p.endpoint_key in found}
    if condition.get("EventCondition"):
        return _event_holds(project, journey_id, condition["EventCondition"], participants)
    return set()


def _segment_keys(project: Project, segment_id: str, keys: list[str], now: datetime) -> set[str]:
    segment = Segment.objects.filter(project=project, pk=segment_id).first()
    if segment is None:
        return set()
    try:
        members = segment_members(project, segment, now=now)
    except SegmentInvalid:
        return set()
    return set(members.filter(key__in=keys).values_list("key", flat=True))


def _event_holds(project: Project, journey_id: str, condition: Mapping[str, Any], participants: list) -> set[int]:
    dimensions = condition.get("Dimensions") or {}
    activity = str(condition.get("MessageActivity") or "")
    since = min(p.entered_at for p in participants)
    events = Event.objects.filter(
        project=project, endpoint_key__in={p.endpoint_key for p in participants}, timestamp__gte=since
    )
    event_type = dimensions.get("EventType") or {}
    if event_type.get("Values") and (event_type.get("DimensionType") or "INCLUSIVE") == "INCLUSIVE":
        events = events.filter(event_type__in=list(event_type["Values"]))
    by_key: dict[str, list[Event]] = {}
    for event in events.only("endpoint_key", "event_type", "timestamp", "attributes", "metrics", "client_event_id"):
        by_key.setdefault(event.endpoint_key, []).append(event)
    held = set()
    for p in participants:
        wanted = delivery_key(p.id, activity) if activity else ""
        if any(
            _matches(event, dimensions, p, journey_id, activity, wanted) for event in by_key.get(p.endpoint_key, ())
        ):
            held.add(p.id)
    return held


def _matches(event: Event, dimensions: Mapping[str, Any], p: Any, journey_id: str, activity: str, key: str) -> bool:
    if event.timestamp < p.entered_at:
        return False
    attributes = event.attributes or {}
    if activity:
        message_id = str(attributes.get("message_id") or "").partition("@")[0]
        named = attributes.get("journey_id") == journey_id and attributes.get("journey_activity_id") == activity
        if message_id != key and not (named and attributes.get("journey_run_id") in (None, p.run_id)):
            return False
    source = SYSTEM if event.event_type.startswith("_") and not event.event_type.startswith("_session") else ENDPOINT
    stored = StoredEvent(
        event.endpoint_key, event.client_event_id, event.event_type, attributes, event.metrics or {}, event.timestamp
    )
    return event_matches({"FilterType": source, "Dimensions": dimensions}, stored, source=source)


def conditions_hold(
    project: Project,
    journey_id: str,
    conditions: Iterable[Mapping[str, Any]],
    operator: str,
    participants: list,
    *,
    now: datetime,
) -> set[int]:
    """A Condition {Conditions, Operator ALL|ANY} for the group: the ids it holds for."""
    ids = {p.id for p in participants}
    results = [condition_holds(project, journey_id, c or {}, participants, now=now) for c in conditions]
    if not results:
        return set()
    if operator == "ANY":
        return set().union(*results)
    held = set(ids)
    for result in results:
        held &= result
    return held
