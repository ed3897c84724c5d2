"""Execution metrics, derived from the engine's rows (no counters to drift): JourneyParticipant for
the journey's figures, JourneyStep per activity, Delivery for what a message activity's rows became.

Journey (GetJourneyExecutionMetrics; per run with `run`, which adds RunId and ENDPOINT_PRODUCED):
  ENDPOINT_ENTERED (participants: each entry counts), ENDPOINT_ACTIVE (in the journey now),
  ENDPOINT_LEFT (done or exited), CANCELLED (exited by the journey's cancellation), and the
  admission decisions that made no participant, from JourneyRun.metrics (summed over the runs, or
  the run's): REENTRY_CAP_EXCEEDED and ACTIVE_ENDPOINT_REJECTED (always given, as Pinpoint's
  journey metrics are), ENDPOINT_MISSING_TIMEZONE and REENTRY_INTERVAL_NOT_PASSED (when counted).
Activity (GetJourneyExecutionActivityMetrics; per run with `run`), by ActivityType:
  every type: ACTIVE (participants in the activity now: waiting, or held for quiet time);
  MESSAGE: the count of each decision (SUCCESS, DAILY_CAP, TIMEFRAME_CAP, TOTAL_CAP, QUIET_TIME,
    FAILURE, UNSUPPORTED_CHANNEL, ENDPOINT_OPT_OUT, ENDPOINT_INACTIVE, ENDPOINT_MISSING_ADDRESS)
    and what the outbox did with the SUCCESS rows: SENT, PENDING (queued or sending),
    PERMANENT_FAILURE, UNKNOWN_FAILURE;
  WAIT: WAITED; splits: Branch_1 … Branch_n (ConditionalSplit: Branch_1 true, Branch_2 false;
  MultiCondition: its branches in order, then the default branch); HOLDOUT: HOLDOUT, PASSED;
  CONTACT_CENTER: UNSUPPORTED. Participants removed by a cancellation while in the activity: CANCELLED.
Values are strings, as Pinpoint's Metrics maps are.
"""

from datetime import datetime
from typing import Any

from django.db.models import Count
from django.utils import timezone

from campaigns.models import Delivery, DeliveryStatus
from engage.api.formats import iso8601
from journeys.engine.admission import ACTIVE_REJECTED, REENTRY_CAP
from journeys.engine.graph import ACTIVITY_TYPE, body_of, kind_of
from journeys.models import Journey, JourneyParticipant, JourneyRun, JourneyStep, ParticipantState

DELIVERY_METRIC = {
    DeliveryStatus.SENT: "SENT",
    DeliveryStatus.QUEUED: "PENDING",
    DeliveryStatus.SENDING: "PENDING",
    DeliveryStatus.FAILED_PERMANENT: "PERMANENT_FAILURE",
    DeliveryStatus.UNKNOWN: "UNKNOWN_FAILURE",
}


def _evaluated(now: datetime | None = None) -> str:
    return iso8601(now or timezone.now()) or ""


def journey_execution_metrics(journey: Journey, *, run: JourneyRun | None = None) -> dict[str, Any]:
    """JourneyExecutionMetricsResponse (JourneyRunExecutionMetricsResponse with `run`): three queries."""
    participants = JourneyParticipant.objects.filter(journey=journey)
    steps = JourneyStep.objects.filter(journey=journey, status="CANCELLED")
    runs = JourneyRun.objects.filter(journey=journey)
    if run is not None:
        participants, steps, runs = participants.filter(run=run), steps.filter(run=run), runs.filter(pk=run.pk)
    by_state = dict(participants.values_list("state").annotate(n=Count("id")).order_by())
    entered = sum(by_state.values())
    metrics = {
        "ENDPOINT_ENTERED": entered,
        "ENDPOINT_ACTIVE": by_state.get(ParticipantState.ACTIVE, 0),
        "ENDPOINT_LEFT": by_state.get(ParticipantState.DONE, 0) + by_state.get(ParticipantState.EXITED, 0),
        "CANCELLED": steps.count(),
        REENTRY_CAP: 0,
        ACTIVE_REJECTED: 0,
    }
    for counted in runs.values_list("metrics", flat=True):
        for name, n in (counted or {}).items():
            metrics[name] = metrics.get(name, 0) + int(n or 0)
    response = {"ApplicationId": journey.project_id, "JourneyId": journey.id, "LastEvaluatedTime": _evaluated()}
    if run is not None:
        metrics["ENDPOINT_PRODUCED"] = entered
        response["RunId"] = run.id
    response["Metrics"] = {name: str(value) for name, value in metrics.items()}
    return response


def _branch_names(kind: str, body: dict[str, Any]) -> dict[str, str]:
    if kind == "ConditionalSplit":
        return {"TRUE": "Branch_1", "FALSE": "Branch_2"}
    branches = body.get("Branches") or []
    names = {f"BRANCH_{i}": f"Branch_{i}" for i in range(1, len(branches) + 1)}
    if kind == "MultiCondition":
        names["DEFAULT"] = f"Branch_{len(branches) + 1}"
    return names


def journey_activity_metrics(journey: Journey, activity_id: str, *, run: JourneyRun | None = None) -> dict[str, Any]:
    """JourneyExecutionActivityMetricsResponse (the run's, with `run`) of one activity: two queries,
    three for a message activity."""
    activity = (journey.definition or {}).get("Activities", {}).get(activity_id) or {}
    kind = kind_of(activity)
    steps = JourneyStep.objects.filter(journey=journey, activity_id=activity_id)
    active = JourneyParticipant.objects.filter(journey=journey, activity_id=activity_id, state=ParticipantState.ACTIVE)
    if run is not None:
        steps, active = steps.filter(run=run), active.filter(run=run)
    counts = dict(steps.values_list("status").annotate(n=Count("id")).order_by())
    names = (
        _branch_names(kind, dict(body_of(activity)))
        if kind in ("ConditionalSplit", "MultiCondition", "RandomSplit")
        else {}
    )
    metrics: dict[str, int] = {"ACTIVE": active.count()}
    for name in names.values():
        metrics[name] = 0
    for status, n in counts.items():
        name = names.get(status, status)
        metrics[name] = metrics.get(name, 0) + n
    if ACTIVITY_TYPE.get(kind) == "MESSAGE":
        rows = Delivery.objects.filter(
            project_id=journey.project_id, journey_id=journey.id, journey_activity_id=activity_id
        )
        if run is not None:
            rows = rows.filter(journey_run_id=run.id)
        for status, n in rows.values_list("status").annotate(n=Count("id")).order_by():
            name = DELIVERY_METRIC.get(status, "PENDING")
            metrics[name] = metrics.get(name, 0) + n
    response = {
        "ActivityType": ACTIVITY_TYPE.get(kind, ""),
        "ApplicationId": journey.project_id,
        "JourneyActivityId": activity_id,
        "JourneyId": journey.id,
        "LastEvaluatedTime": _evaluated(),
        "Metrics": {name: str(value) for name, value in metrics.items()},
    }
    if run is not None:
        response["RunId"] = run.id
    return response
