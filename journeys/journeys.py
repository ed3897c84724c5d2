"""Journey definitions through their life: CreateJourney, UpdateJourney, UpdateJourneyState,
DeleteJourney and the JourneyResponse shape. The checks live in `journeys.definition`; the engine
(`journeys.engine`) runs published journeys from the columns set here (state, segment, start_time,
end_time, next_refresh_at).

Conventions (where Pinpoint leaves a choice):
- UpdateJourney merges, like UpdateCampaign: members not sent keep their values, a member sent
  replaces the stored one whole, one sent as null is removed. WriteJourneyRequest has no `tags`
  (a `tags` member is ignored): tag a journey with TagResource on its ARN.
- A published journey (ACTIVE or PAUSED) keeps its Activities, StartActivity and StartCondition:
  changing them answers 409 ConflictException; its other members may change and are checked as for
  publishing. A CANCELLED, COMPLETED or CLOSED journey cannot be changed at all (409).
- Publishing sets start_time to Schedule.StartTime, but never less than 5 minutes after publishing
  (Pinpoint's delay), and end_time to Schedule.EndTime or 540 days after the start (Pinpoint's
  longest journey). A segment-started journey is first read at its start (next_refresh_at).
"""

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from campaigns import schedule as sched
from campaigns.models import Delivery, DeliveryStatus
from engage.api.formats import iso8601
from journeys.definition import MEMBERS, JourneyInvalid, definition_check, journey_validate
from journeys.models import Journey, JourneyState
from projects.models import Project

PUBLISH_DELAY = timedelta(minutes=5)
LONGEST = timedelta(days=540)
LIVE = (JourneyState.ACTIVE, JourneyState.PAUSED)
FINISHED = (JourneyState.CANCELLED, JourneyState.COMPLETED, JourneyState.CLOSED)
FROZEN = ("Activities", "StartActivity", "StartCondition")  # members a published journey keeps
WRITABLE_STATES = (JourneyState.DRAFT, JourneyState.ACTIVE)
SETTABLE_STATES = (JourneyState.ACTIVE, JourneyState.PAUSED, JourneyState.CANCELLED)

__all__ = [
    "JourneyConflict",
    "JourneyInvalid",
    "journey_create",
    "journey_delete",
    "journey_response",
    "journey_set_state",
    "journey_update",
    "journey_validate",
]


class JourneyConflict(Exception):
    """The change is not allowed in the journey's state (answered 409 ConflictException)."""


def _user_or_none(user: object) -> Any:
    return user if getattr(user, "is_authenticated", False) and getattr(user, "pk", None) else None


def _requested_state(request: Mapping[str, Any]) -> str | None:
    state = request.get("State") if isinstance(request, Mapping) else None
    if state is None:
        return None
    if state not in WRITABLE_STATES:
        raise JourneyInvalid(
            [("", "State must be DRAFT or ACTIVE here; to pause, resume or cancel, use UpdateJourneyState.")]
        )
    return state


def _layout(layout: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The editor's canvas positions: activity id → {"x": number, "y": number}."""
    if layout is None:
        return None
    if not isinstance(layout, Mapping):
        raise JourneyInvalid([("", "layout must be an object: activity id → {x, y}.")])
    out: dict[str, Any] = {}
    for activity_id, point in layout.items():
        if not isinstance(point, Mapping) or not all(
            isinstance(point.get(c), int | float) and not isinstance(point.get(c), bool) for c in ("x", "y")
        ):
            raise JourneyInvalid([(str(activity_id), "layout: a position needs numbers x and y.")])
        out[str(activity_id)] = {"x": point["x"], "y": point["y"]}
    return out


def _segment_id(definition: Mapping[str, Any]) -> str | None:
    start = definition.get("StartCondition") or {}
    if "SegmentStartCondition" in start:
        return start["SegmentStartCondition"]["SegmentId"]
    return (start.get("EventStartCondition") or {}).get("SegmentId")


def _webhooks(definition: Mapping[str, Any]) -> set[str]:
    activities = (definition.get("Activities") or {}).values()
    return {a["CUSTOM"]["DeliveryUri"] for a in activities if (a.get("CUSTOM") or {}).get("DeliveryUri")}


def _checked(project: Project, request: Mapping[str, Any], *, publishing: bool) -> dict:
    definition, errors = definition_check(request, project=project, publishing=publishing)
    if errors:
        raise JourneyInvalid(errors)
    return definition


def _publish(journey: Journey, *, now: datetime) -> None:
    """Set the columns the engine starts from (the definition is already checked for publishing)."""
    schedule = journey.definition.get("Schedule") or {}
    start = now + PUBLISH_DELAY
    if schedule.get("StartTime"):
        start = max(start, sched.parse_instant(schedule["StartTime"]))
    end = sched.parse_instant(schedule["EndTime"]) if schedule.get("EndTime") else start + LONGEST
    if end <= now:
        raise JourneyInvalid([("", "Schedule.EndTime has passed: a journey must end after it is published.")])
    journey.state = JourneyState.ACTIVE
    journey.start_time = start
    journey.end_time = end
    segment_entry = "SegmentStartCondition" in (journey.definition.get("StartCondition") or {})
    journey.next_refresh_at = start if segment_entry else None
    journey.published_at = now


def _locked_as_read(read: Journey) -> Journey:
    """The journey's row, locked, if it is still as `read` (else JourneyConflict: it changed meanwhile)."""
    locked = Journey.objects.select_for_update().get(pk=read.pk)
    if (locked.state, locked.last_modified_date) != (read.state, read.last_modified_date):
        raise JourneyConflict("The journey changed while this request was checked; send it again.")
    return locked


def journey_create(
    project: Project, request: Mapping[str, Any], *, user: object = None, layout: Mapping[str, Any] | None = None
) -> Journey:
    """CreateJourney: check every member (as for publishing when State is ACTIVE), save the journey
    and, when ACTIVE, publish it. Raises JourneyInvalid."""
    now = timezone.now()
    state = _requested_state(request) or JourneyState.DRAFT
    definition = _checked(project, request, publishing=state == JourneyState.ACTIVE)
    positions = _layout(layout)
    journey = Journey(
        project=project,
        name=definition["Name"],
        definition=definition,
        layout=positions or {},
        segment_id=_segment_id(definition),
        creation_date=now,
        last_modified_date=now,
        created_by=_user_or_none(user),
    )
    if state == JourneyState.ACTIVE:
        _publish(journey, now=now)
    journey.save()
    return journey


def journey_update(
    journey: Journey, request: Mapping[str, Any], *, user: object = None, layout: Mapping[str, Any] | None = None
) -> Journey:
    """UpdateJourney: members sent replace the stored ones and the result is checked whole. A DRAFT
    sent with State ACTIVE is published. Raises JourneyConflict (409) when the journey's state does not
    allow the change, JourneyInvalid otherwise."""
    if not isinstance(request, Mapping):
        raise JourneyInvalid([("", "The request body must be a WriteJourneyRequest object.")])
    requested = _requested_state(request)
    positions = _layout(layout)
    now = timezone.now()
    # Checked before the transaction: a new webhook's HEAD check is an HTTP call, never made while
    # the journey's row is locked. The row must still be as read when it is written.
    current = Journey.objects.select_related("project").get(pk=journey.pk)
    merged = {**current.definition, **{m: request[m] for m in MEMBERS if m in request}}
    merged = {m: v for m, v in merged.items() if v is not None}
    if current.state in FINISHED:
        raise JourneyConflict(f"The journey is {current.state}: it can no longer be changed.")
    publishing = current.state in LIVE or requested == JourneyState.ACTIVE
    definition, errors = definition_check(
        merged, project=current.project, publishing=publishing, checked_uris=_webhooks(current.definition)
    )
    if current.state in LIVE:
        if requested == JourneyState.DRAFT:
            raise JourneyConflict(f"The journey is {current.state}: a published journey cannot go back to DRAFT.")
        # Changed as sent and as stored (the same activities written differently are no change).
        changed = [
            m
            for m in FROZEN
            if merged.get(m) != current.definition.get(m) and definition.get(m) != current.definition.get(m)
        ]
        if changed:
            raise JourneyConflict(
                f"The journey is {current.state}: its {', '.join(changed)} cannot be changed once it is "
                "published. Create a new journey (or copy this one) to change them."
            )
    if errors:
        raise JourneyInvalid(errors)
    with transaction.atomic():
        locked = _locked_as_read(current)
        locked.name = definition["Name"]
        locked.definition = definition
        locked.segment_id = _segment_id(definition)
        if positions is not None:
            locked.layout = positions
        if locked.state == JourneyState.DRAFT and requested == JourneyState.ACTIVE:
            _publish(locked, now=now)
        elif locked.state in LIVE and (definition.get("Schedule") or {}).get("EndTime"):
            locked.end_time = sched.parse_instant(definition["Schedule"]["EndTime"])
        locked.last_modified_date = now
        locked.save()
    return locked


def journey_set_state(journey: Journey, state: str, *, user: object = None) -> Journey:
    """UpdateJourneyState. ACTIVE publishes a DRAFT (checked as for publishing) or resumes a PAUSED
    journey; PAUSED pauses an ACTIVE one (its participants wait); CANCELLED stops an ACTIVE, PAUSED or
    CLOSED journey for good (no one new enters; the engine lets in-flight steps finish). Asking for
    the state it is in changes nothing. Raises JourneyInvalid (400) for any other change, and
    JourneyConflict if the journey changed while a publication was being checked."""
    if state not in SETTABLE_STATES:
        raise JourneyInvalid([("", "State must be ACTIVE, PAUSED or CANCELLED.")])
    now = timezone.now()
    current = Journey.objects.select_related("project").get(pk=journey.pk)
    if current.state == state:
        return current
    allowed = {
        JourneyState.ACTIVE: (JourneyState.DRAFT, JourneyState.PAUSED),
        JourneyState.PAUSED: (JourneyState.ACTIVE,),
        JourneyState.CANCELLED: (JourneyState.ACTIVE, JourneyState.PAUSED, JourneyState.CLOSED),
    }[state]
    if current.state not in allowed:
        hint = {
            JourneyState.DRAFT: " Publish it first (State ACTIVE).",
            JourneyState.CANCELLED: " Cancelling is permanent.",
        }.get(current.state, "")
        raise JourneyInvalid([("", f"A {current.state} journey cannot become {state}.{hint}")])
    if current.state == JourneyState.DRAFT:  # checked before the transaction (webhook HEAD checks)
        errors = journey_validate(current.definition, project=current.project, publishing=True)
        if errors:
            raise JourneyInvalid(errors)
    with transaction.atomic():
        locked = _locked_as_read(current)
        if current.state == JourneyState.DRAFT:
            _publish(locked, now=now)
        else:
            locked.state = state
        if state == JourneyState.CANCELLED:
            locked.next_refresh_at = None
        locked.last_modified_date = now
        locked.save()
    return locked


def journey_delete(journey: Journey) -> dict[str, Any]:
    """DeleteJourney: remove the journey (runs, participants, steps) and end its QUEUED deliveries as
    FAILED_PERMANENT "JOURNEY_DELETED", in one transaction. Returns the JourneyResponse it had."""
    with transaction.atomic():
        locked = Journey.objects.select_for_update().get(pk=journey.pk)
        body = journey_response(locked)
        Delivery.objects.filter(
            project_id=locked.project_id, journey_id=locked.pk, status=DeliveryStatus.QUEUED
        ).update(
            status=DeliveryStatus.FAILED_PERMANENT,
            last_error=f"JOURNEY_DELETED: journey {locked.pk} was deleted before this message was sent.",
            updated_at=timezone.now(),
        )
        locked.delete()
    return body


def journey_response(journey: Journey) -> dict[str, Any]:
    """JourneyResponse: the written members as stored, with the journey's ids, state, dates and tags
    (never the editor's layout)."""
    return {
        **{m: v for m, v in journey.definition.items() if m in MEMBERS},
        "ApplicationId": journey.project_id,
        "Id": journey.pk,
        "Name": journey.name,
        "State": journey.state,
        "CreationDate": iso8601(journey.creation_date),
        "LastModifiedDate": iso8601(journey.last_modified_date),
        "tags": journey.tags,
    }
