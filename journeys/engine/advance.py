"""The advancer: due participants claimed in leased batches and moved activity by activity.

`journey_advance(journey_id)` claims up to BATCH_SIZE due participants of an ACTIVE journey
(state ACTIVE, next_at ≤ now, no live lease) with a conditional UPDATE — on PostgreSQL the rows are
picked FOR UPDATE SKIP LOCKED, so concurrent advancers take disjoint batches — then moves the batch
in memory, grouped by activity, round after round, until every participant waits (next_at set) or
has left (DONE / EXITED). Every pass through an activity is decided for its whole group at once
(journeys.engine.messages, journeys.engine.splits). Then ONE transaction writes the batch: the
participants (only while this claim still holds them: the UPDATE is conditional on the lease token,
and a batch whose claim was lost rolls back whole), their JourneySteps (unique per participant and
activity, ON CONFLICT DO NOTHING), the Delivery rows (message_id derived from participant and
activity, ON CONFLICT DO NOTHING) and the `_journey.send` events (id "<participant>:<activity>",
unique per endpoint). A worker killed anywhere before that commit leaves its participants leased
until LEASE runs out; the next claim redoes their batch from the rows, which nothing has changed.

A participant claimed in an activity either just entered the journey there, or was held there
(a Wait, a split's EvaluationWaitTime, WaitForQuietTime): `context["wait"]` names the activity it
was held in, so the held one resumes (the wait is over) and the new one arrives.
"""

import hashlib
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from audience.api.serializers import endpoint_responses
from audience.models import Endpoint
from audience.services import SystemEvent, events_record
from campaigns.deliveries import BATCH_SIZE as SEND_BATCH
from campaigns.models import Delivery, DeliveryStatus
from engage.db import is_postgresql
from engage.queue import enqueue_on_commit
from journeys.engine.graph import ACTIVITY_TYPE, MESSAGE_KINDS, Definition, body_of, kind_of, wait_until
from journeys.engine.messages import MessageStep, cap_counts
from journeys.engine.sending import SendingSchedule
from journeys.engine.splits import condition_holds, conditions_hold
from journeys.models import Journey, JourneyParticipant, JourneyState, JourneyStep, ParticipantState
from projects.models import ApplicationSettings

BATCH_SIZE = 1000  # participants per claim
LEASE = timedelta(minutes=5)  # longer than a batch can take
ADVANCE_SECONDS = 20.0  # journey_advance's time box; the tick or a task continues
MAX_HOPS = 200  # activities one participant may pass in one batch (journeys are acyclic; ≤ 40 activities)
SEND_EVENT = "_journey.send"
QUIET_TIME_WAIT_FINISHED = "QUIET_TIME_WAIT_FINISHED"
EVENT_ID_LENGTH = 128
# Journeys whose participants move: ACTIVE, and CLOSED (past its end: no one new enters, those in it go on).
MOVING = (JourneyState.ACTIVE, JourneyState.CLOSED)


class LeaseLost(Exception):
    """Another claim holds some of the batch's participants now: the batch's transaction rolls back."""


@dataclass
class Plan:
    """What every batch of one journey_advance shares: the definition, limits, the messages."""

    journey: Journey
    definition: Definition
    settings: ApplicationSettings | None
    messages: dict[tuple[str, str], Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        d, s = self.definition, self.settings
        self.daily_cap = d.limit("DailyCap")
        self.total_cap = d.limit("TotalCap")
        self.timeframe = d.timeframe()
        self.project_journey_daily = int(getattr(s, "journey_daily_cap", None) or 0)
        self.project_total_cap = int(getattr(s, "journey_total_cap", None) or 0)
        self.project_timeframe = (
            int(getattr(s, "journey_timeframe_cap", None) or 0),
            int(getattr(s, "journey_timeframe_days", None) or 0),
        )
        self.project_daily = int(getattr(s, "limits_daily", None) or 0)
        self.quiet_time = d.quiet_time() or _project_quiet_time(s)
        self.sending = SendingSchedule(d.raw)

    @property
    def frame_days(self) -> int:
        return max(
            self.timeframe[1] if self.timeframe[0] else 0, self.project_timeframe[1] if self.project_timeframe[0] else 0
        )


def _project_quiet_time(settings: ApplicationSettings | None):
    if settings is None or not settings.quiet_time_start or not settings.quiet_time_end:
        return None
    return Definition({"QuietTime": {"Start": settings.quiet_time_start, "End": settings.quiet_time_end}}).quiet_time()


def plan_for(journey: Journey) -> Plan:
    settings = ApplicationSettings.objects.filter(project_id=journey.project_id).first()
    return Plan(journey, Definition(journey.definition or {}), settings)


class Pass:
    """One claimed batch moving through the journey (see the module doc)."""

    def __init__(self, plan: Plan, participants: list[JourneyParticipant], *, now: datetime) -> None:
        self.plan, self.journey, self.project = plan, plan.journey, plan.journey.project
        self.now = now
        self.participants = participants
        self.steps: list[JourneyStep] = []
        self.rows: list[Delivery] = []
        self.events: list[SystemEvent] = []
        self.sent_now: dict[str, int] = {}
        self._endpoints: dict[str, Endpoint] | None = None
        self._counts: dict[str, dict[str, int]] | None = None
        self._moving: list[JourneyParticipant] = []

    # -- what the activities read, once per batch ---------------------------------------------
    def endpoints(self) -> dict[str, Endpoint]:
        if self._endpoints is None:
            keys = sorted({p.endpoint_key for p in self.participants})
            self._endpoints = {e.key: e for e in Endpoint.objects.for_project(self.project).filter(key__in=keys)}
        return self._endpoints

    def documents(self, endpoints: list[Endpoint]) -> dict[str, dict[str, Any]]:
        return dict(zip((e.key for e in endpoints), endpoint_responses(self.project, endpoints), strict=True))

    def cap_counts(self) -> dict[str, dict[str, int]]:
        if self._counts is None:
            plan = self.plan
            self._counts = cap_counts(
                self.project.id,
                self.journey.id,
                sorted({p.endpoint_key for p in self.participants}),
                now=self.now,
                frame_days=plan.frame_days,
                totals=bool(plan.total_cap or plan.project_total_cap),
            )
        return self._counts

    # -- what the activities decide ------------------------------------------------------------
    def leave(self, p: JourneyParticipant, activity_id: str, status: str, branch: str, *, exit: bool = False) -> None:
        """`p` passed `activity_id` with `status`; it goes on to `branch` (none: the journey ends)."""
        kind = kind_of(self.plan.definition.activities.get(activity_id))
        self.steps.append(
            JourneyStep(
                participant_id=p.id,
                journey_id=self.journey.id,
                run_id=p.run_id,
                activity_id=activity_id,
                activity_type=ACTIVITY_TYPE.get(kind, kind or "UNKNOWN"),
                status=status,
                branch=branch if not exit else "",
                at=self.now,
            )
        )
        p.context.pop("wait", None)
        p.context.pop("held", None)
        if exit:
            p.state, p.next_at = ParticipantState.EXITED, None
        elif branch and branch in self.plan.definition.activities:
            p.activity_id, p.next_at = branch, self.now
            self._moving.append(p)
        else:
            p.state, p.next_at = ParticipantState.DONE, None

    def hold(self, p: JourneyParticipant, activity_id: str, until: datetime, *, held: str = "") -> None:
        """`p` stays in `activity_id` until `until` (a wait; its step is written when it leaves).
        `held`: why a message activity holds it (QUIET_TIME, OPEN_HOURS, CLOSED_DAYS), kept in
        context["held"] while it waits."""
        p.context["wait"] = activity_id
        if held:
            p.context["held"] = held
        p.next_at = until

    def send_event(
        self,
        p: JourneyParticipant,
        activity_id: str,
        kind: str,
        status: str,
        message: str = "",
        *,
        at: int | None = None,
    ) -> None:
        """A `_journey.send` event (id "<participant>:<activity>"). QUIET_TIME_WAIT_FINISHED — a hold
        for quiet time over — has no journey_activity_type (as in Pinpoint), its own id
        ("<participant>:<activity>:quiet") and `at`: its place in the batch's events (before the send's)."""
        attributes = {
            "journey_id": self.journey.id,
            "journey_activity_id": activity_id,
            "journey_run_id": p.run_id,
            "journey_activity_type": kind,
            "journey_send_status": status,
        }
        ident = activity_id
        if status == QUIET_TIME_WAIT_FINISHED:
            del attributes["journey_activity_type"]
            ident = f"{activity_id}:quiet"
        if message:
            attributes["journey_send_status_message"] = message
        self.events.insert(
            len(self.events) if at is None else at,
            SystemEvent(
                project_id=self.project.id,
                endpoint_key=p.endpoint_key,
                event_id=send_event_id(p.id, ident),
                event_type=SEND_EVENT,
                timestamp=self.now,
                attributes=attributes,
            ),
        )

    # -- the loop ------------------------------------------------------------------------------
    def run(self) -> None:
        pending = [p for p in self.participants if p.state == ParticipantState.ACTIVE]
        resumed = {p.id for p in pending if p.context.get("wait") == p.activity_id}
        for _ in range(MAX_HOPS):
            if not pending:
                return
            groups: dict[str, list[JourneyParticipant]] = {}
            for p in pending:
                groups.setdefault(p.activity_id, []).append(p)
            self._moving = []
            for activity_id, group in groups.items():
                self._activity(activity_id, group, {p.id for p in group if p.id in resumed})
            pending, resumed = self._moving, set()
        for p in pending:  # a cycle in the definition: stop here rather than loop
            self.leave(p, p.activity_id, "INVALID_ACTIVITY", "", exit=True)

    def _activity(self, activity_id: str, group: list[JourneyParticipant], resumed: set[int]) -> None:
        activity = self.plan.definition.activities.get(activity_id)
        kind = kind_of(activity)
        if not kind:
            for p in group:
                self.leave(p, activity_id, "INVALID_ACTIVITY", "", exit=True)
            return
        body = body_of(activity)
        if kind in MESSAGE_KINDS:
            MessageStep(self, activity_id, kind, body).decide(group, resumed)
        elif kind == "Wait":
            self._wait(activity_id, body, group, resumed)
        elif kind in ("ConditionalSplit", "MultiCondition"):
            waiting = self._evaluation_wait(activity_id, body, group, resumed)
            ready = [p for p in group if p.id not in waiting]
            if kind == "ConditionalSplit":
                self._conditional(activity_id, body, ready)
            else:
                self._multi(activity_id, body, ready)
        elif kind == "RandomSplit":
            self._random(activity_id, body, group)
        elif kind == "Holdout":
            percentage = int(body.get("Percentage") or 0)
            for p in group:
                if bucket(p.id, activity_id) < percentage:
                    self.leave(p, activity_id, "HOLDOUT", "", exit=True)
                else:
                    self.leave(p, activity_id, "PASSED", str(body.get("NextActivity") or ""))
        else:  # ContactCenter: Amazon Connect outbound dialling is not built
            for p in group:
                self.leave(p, activity_id, "UNSUPPORTED", "", exit=True)

    def _wait(self, activity_id: str, body: Mapping[str, Any], group: list, resumed: set[int]) -> None:
        following = str(body.get("NextActivity") or "")
        for p in group:
            until = None if p.id in resumed else wait_until(body.get("WaitTime"), self.now)
            if until is not None and until > self.now:
                self.hold(p, activity_id, until)
            else:
                self.leave(p, activity_id, "WAITED", following)

    def _evaluation_wait(self, activity_id: str, body: Mapping[str, Any], group: list, resumed: set[int]) -> set[int]:
        held = set()
        for p in group:
            if p.id in resumed:
                continue
            until = wait_until(body.get("EvaluationWaitTime"), self.now)
            if until is not None and until > self.now:
                self.hold(p, activity_id, until)
                held.add(p.id)
        return held

    def _conditional(self, activity_id: str, body: Mapping[str, Any], group: list) -> None:
        if not group:
            return
        condition = body.get("Condition") or {}
        held = conditions_hold(
            self.project,
            self.journey.id,
            condition.get("Conditions") or [],
            str(condition.get("Operator") or "ALL"),
            group,
            now=self.now,
        )
        for p in group:
            if p.id in held:
                self.leave(p, activity_id, "TRUE", str(body.get("TrueActivity") or ""))
            else:
                self.leave(p, activity_id, "FALSE", str(body.get("FalseActivity") or ""))

    def _multi(self, activity_id: str, body: Mapping[str, Any], group: list) -> None:
        remaining = list(group)
        for number, branch in enumerate(body.get("Branches") or [], start=1):
            if not remaining:
                return
            held = condition_holds(
                self.project, self.journey.id, branch.get("Condition") or {}, remaining, now=self.now
            )
            for p in [p for p in remaining if p.id in held]:
                self.leave(p, activity_id, f"BRANCH_{number}", str(branch.get("NextActivity") or ""))
            remaining = [p for p in remaining if p.id not in held]
        for p in remaining:
            self.leave(p, activity_id, "DEFAULT", str(body.get("DefaultActivity") or ""))

    def _random(self, activity_id: str, body: Mapping[str, Any], group: list) -> None:
        branches = body.get("Branches") or []
        for p in group:
            point, edge = bucket(p.id, activity_id), 0
            chosen = len(branches)
            for number, branch in enumerate(branches, start=1):
                edge += int(branch.get("Percentage") or 0)
                if point < edge:
                    chosen = number
                    break
            following = str((branches[chosen - 1] if branches else {}).get("NextActivity") or "")
            self.leave(p, activity_id, f"BRANCH_{chosen}", following)

    def pace(self) -> None:
        """Limits.MessagesPerSecond: the batch's rows get send times in whole seconds after the
        journey's latest queued row (never before now), at most that many a second; the outbox claims
        only due rows and the deliveries pacer sends them as they fall due. One query, only with a limit."""
        mps = self.plan.definition.limit("MessagesPerSecond")
        if not mps or not self.rows:
            return
        latest = (
            Delivery.objects.filter(
                status=DeliveryStatus.QUEUED, next_attempt_at__gte=self.now, journey_id=self.journey.id
            )
            .order_by("-next_attempt_at")
            .values_list("next_attempt_at", flat=True)
            .first()
        )
        first = latest + timedelta(seconds=1) if latest is not None else self.now
        for number, row in enumerate(self.rows):
            row.next_attempt_at = first + timedelta(seconds=number // mps)

    # -- the batch's one transaction -------------------------------------------------------------
    def write(self, token: str) -> None:
        with transaction.atomic():
            if participants_write(self.participants, token, now=self.now) != len(self.participants):
                raise LeaseLost(token)
            if self.steps:
                JourneyStep.objects.bulk_create(self.steps, batch_size=1000, ignore_conflicts=True)
            if self.rows:
                Delivery.objects.bulk_create(self.rows, batch_size=1000, ignore_conflicts=True)
            if self.events:
                events_record(self.events)
            due = [row.message_id for row in self.rows if row.next_attempt_at <= self.now]
            if due:
                ids = list(
                    Delivery.objects.filter(message_id__in=due, status=DeliveryStatus.QUEUED).values_list(
                        "id", flat=True
                    )
                )
                from campaigns.tasks import deliveries_send

                for start in range(0, len(ids), SEND_BATCH):
                    enqueue_on_commit(deliveries_send, *ids[start : start + SEND_BATCH])


def participants_write(participants: list[JourneyParticipant], token: str, *, now: datetime) -> int:
    """Write the participants' activity, state, next_at and context, releasing their lease — only
    rows `token` still holds: one UPDATE … FROM (VALUES …) a BATCH_SIZE (Django's bulk_update
    builds a CASE per row and field, quadratic in the batch). Returns how many rows it wrote."""
    table = connection.ops.quote_name(JourneyParticipant._meta.db_table)
    fields = {name: JourneyParticipant._meta.get_field(name) for name in ("next_at", "context", "updated_at")}
    pg = is_postgresql()
    jsonb, stamp = ("::jsonb", "::timestamptz") if pg else ("", "")
    written = 0
    for start in range(0, len(participants), BATCH_SIZE):
        chunk = participants[start : start + BATCH_SIZE]
        params: list[Any] = [fields["updated_at"].get_db_prep_save(now, connection)]  # SET's, before VALUES
        for p in chunk:
            params += [
                p.id,
                p.activity_id,
                p.state,
                fields["next_at"].get_db_prep_save(p.next_at, connection),
                fields["context"].get_db_prep_save(p.context, connection),
            ]
        params += [token, ParticipantState.ACTIVE]
        values = ", ".join(["(%s, %s, %s, %s, %s)"] * len(chunk))
        sql = (
            f"UPDATE {table} SET activity_id = v.activity_id, state = v.state, next_at = v.next_at{stamp}, "
            f"context = v.context{jsonb}, lease_until = NULL, lease_token = '', updated_at = %s "
            f"FROM (VALUES {values}) AS v(id, activity_id, state, next_at, context) "
            f"WHERE {table}.id = v.id AND {table}.lease_token = %s AND {table}.state = %s"
        )
        if not pg:  # SQLite names VALUES columns column1…: the alias list is PostgreSQL's
            sql = sql.replace("AS v(id, activity_id, state, next_at, context)", "AS v")
            for number, name in enumerate(("id", "activity_id", "state", "next_at", "context"), start=1):
                sql = sql.replace(f"v.{name}", f"v.column{number}")
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            written += cursor.rowcount
    for p in participants:
        p.lease_until, p.lease_token, p.updated_at = None, "", now
    return written


def bucket(participant_id: int, activity_id: str) -> int:
    """A stable number in [0, 100) for a participant at an activity (random splits, holdouts)."""
    return int(hashlib.sha256(f"{participant_id}:{activity_id}".encode()).hexdigest()[:8], 16) % 100


def send_event_id(participant_id: int, activity_id: str) -> str:
    ident = f"{participant_id}:{activity_id}"
    return ident if len(ident) <= EVENT_ID_LENGTH else hashlib.sha256(ident.encode()).hexdigest()


def claim(journey_id: str, *, now: datetime, size: int | None = None) -> tuple[str, list[JourneyParticipant]]:
    """Lease up to `size` (BATCH_SIZE) due ACTIVE participants of the journey for a new claim token."""
    token = uuid.uuid4().hex
    due = (
        JourneyParticipant.objects.filter(journey_id=journey_id, state=ParticipantState.ACTIVE, next_at__lte=now)
        .exclude(lease_until__gte=now)
        .order_by("next_at", "id")
    )
    with transaction.atomic():
        if is_postgresql():
            due = due.select_for_update(skip_locked=True)
        ids = list(due.values_list("id", flat=True)[: size or BATCH_SIZE])
        if not ids:
            return token, []
        JourneyParticipant.objects.filter(id__in=ids, state=ParticipantState.ACTIVE).exclude(
            lease_until__gte=now
        ).update(lease_until=now + LEASE, lease_token=token)
    return token, list(JourneyParticipant.objects.filter(id__in=ids, lease_token=token).order_by("id"))


def release(token: str, participants: list[JourneyParticipant]) -> None:
    JourneyParticipant.objects.filter(id__in=[p.id for p in participants], lease_token=token).update(
        lease_until=None, lease_token=""
    )


def advance_batch(plan: Plan, *, now: datetime) -> int:
    """Claim, move and write one batch of the plan's journey; returns how many participants it
    moved (0: nothing due, or the claim was lost)."""
    token, participants = claim(plan.journey.id, now=now)
    if not participants:
        return 0
    batch = Pass(plan, participants, now=now)
    batch.run()
    batch.pace()
    try:
        batch.write(token)
    except LeaseLost:
        release(token, participants)
        return 0
    return len(participants)


def journey_advance(journey_id: str, *, now: datetime | None = None, max_batches: int | None = None) -> int:
    """Move the due participants of an ACTIVE (or CLOSED) journey, batch by batch, for up to ADVANCE_SECONDS (or
    `max_batches`); returns how many participants were moved. Safe to run concurrently and to repeat:
    each batch is claimed with a lease and written in one transaction."""
    now = now or timezone.now()
    journey = Journey.objects.select_related("project").filter(pk=journey_id, state__in=MOVING).first()
    if journey is None:
        return 0
    plan = plan_for(journey)
    deadline = time.monotonic() + ADVANCE_SECONDS
    moved = batches = 0
    while True:
        n = advance_batch(plan, now=now)
        if not n:
            return moved
        moved += n
        batches += 1
        if max_batches is not None and batches >= max_batches:
            return moved
        if time.monotonic() >= deadline:  # the rest in a task of its own (and the next tick)
            from journeys.tasks import journey_advance_task

            enqueue_on_commit(journey_advance_task, journey_id)
            return moved
