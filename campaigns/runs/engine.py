"""The campaign scheduler and the run loop.

- `campaigns_start_due` (every minute): each due campaign (next_run_at ≤ now) gets one CampaignRun for
  the start it is due for, with one CampaignActivity per treatment — unique per (campaign, start) and
  (run, treatment), and the campaign row is locked (SKIP LOCKED on PostgreSQL), so concurrent ticks
  make one run. Its next start (campaigns.schedule.next_start) becomes next_run_at (run_begins of it),
  or NULL. A paused campaign's due run is skipped (Pinpoint: pause skips the next run; a running run
  completes), and next_run_at moves on to the start after it.
- `campaign_run_step` (a task): claims the run with a lease and a token (conditional UPDATE), then
  writes it in batches of BATCH_SIZE segment members by keyset on Endpoint.key after `run.cursor`;
  each batch is one transaction that first moves the cursor (only while this claim holds the lease)
  and then writes the batch's decisions (campaigns.runs.send), so a worker killed anywhere resumes
  after the last committed batch, and no batch is written twice. After STEP_SECONDS it releases the
  lease and enqueues itself again.
- Lanes: a run of at least twice ENGAGE_CAMPAIGN_LANE_MIN_ENDPOINTS endpoints (and no
  MessagesPerSecond, whose send times one writer works out) is split by its first step into up to
  ENGAGE_CAMPAIGN_RUN_LANES ranges of endpoint keys of about equal size (CampaignRunLane), each
  written by `campaign_run_lane_step` — its own task, cursor and lease, the same batches — so several
  workers (hosts) write one run at once. The run's own step then only coordinates: it enqueues lanes
  whose lease ran out and finishes the run once every lane has ended (the last lane to end enqueues
  it). Decisions that look across the run (DUPLICATE_ADDRESS's lowest key per address, the caps)
  read the whole audience or the endpoint's own rows, so they do not depend on the lane; the
  activity's counters are one locked row.
- `campaign_runs_sweep` (every minute): open runs whose lease ran out (their worker died, or their
  task was lost) are enqueued again; a laned run's step then enqueues its lanes whose lease ran out.

Runs of EVENT campaigns (Campaign.frequency EVENT) are no segment-wide sends: their activities grow
as events trigger them (campaigns.triggers), so the claim and the sweep leave them out. A run made
for an EVENT version of a campaign that is no longer EVENT (updated to a schedule) is completed by
its first step, unsent.
"""

import functools
import logging
import time
import uuid
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from audience.compiler import SegmentInvalid
from audience.segments import segment_members
from campaigns.models import (
    ActivityState,
    Campaign,
    CampaignActivity,
    CampaignRun,
    CampaignRunLane,
    CampaignState,
    Frequency,
    RunState,
)
from campaigns.runs.plan import Plan, RunInvalid, plan_for, start_of_run
from campaigns.runs.send import batch_decide
from campaigns.schedule import ScheduleInvalid, first_start, next_start, run_begins
from campaigns.treatments import HOLDOUT, treatment_of, treatments_of
from engage.db import is_postgresql
from engage.dbfaults import DATABASE_ERRORS, ride_out_outage, wait_for_database
from engage.queue import enqueue_on_commit

BATCH_SIZE = 1000  # endpoints per batch transaction
STEP_SECONDS = 20.0  # a step's time box, then it enqueues itself again
LEASE = timedelta(minutes=5)  # longer than a batch can take
GRACE = timedelta(minutes=2)  # an enqueued step has this long to claim its run before the sweeper acts
DUE_LIMIT = 200  # campaigns started per tick
OPEN = (RunState.PENDING, RunState.EXECUTING)
ENDED = (CampaignState.DELETED, CampaignState.COMPLETED, CampaignState.INVALID)


logger = logging.getLogger(__name__)


class LeaseLost(Exception):
    """Another claim holds the run (or lane) now: this step stops, its batch rolled back."""


class Unrunnable(Exception):
    """The run cannot be made (`reason`); its campaign becomes `campaign_state`."""

    def __init__(self, reason: str, campaign_state: str) -> None:
        super().__init__(reason)
        self.reason, self.campaign_state = reason, campaign_state


def campaigns_start_due(now: datetime | None = None) -> list[str]:
    """Start the runs of due campaigns; returns the ids of the runs made. Idempotent."""
    now = now or timezone.now()
    due = (
        Campaign.objects.filter(next_run_at__lte=now)
        .exclude(state__in=ENDED)
        .order_by("next_run_at")
        .values_list("id", flat=True)[:DUE_LIMIT]
    )
    made = []
    for campaign_id in list(due):
        run_id = _start(campaign_id, now)
        if run_id:
            made.append(run_id)
    return made


def _start(campaign_id: str, now: datetime) -> str | None:
    with transaction.atomic():
        locked = Campaign.objects.filter(pk=campaign_id, next_run_at__lte=now).exclude(state__in=ENDED)
        locked = locked.select_for_update(skip_locked=True) if is_postgresql() else locked.select_for_update()
        campaign = locked.first()
        if campaign is None:  # another tick has it, or it is no longer due
            return None
        schedule = campaign.definition.get("Schedule") or {}
        try:
            start = start_of_run(schedule, campaign.next_run_at)
            following = next_start(schedule, after=start, first=first_start(schedule, now=start))
        except ScheduleInvalid:
            campaign.state, campaign.next_run_at = CampaignState.INVALID, None
            campaign.save(update_fields=["state", "next_run_at"])
            return None
        campaign.next_run_at = run_begins(schedule, following) if following is not None else None
        if campaign.is_paused or campaign.state == CampaignState.PAUSED:
            campaign.save(update_fields=["next_run_at"])
            return None
        run, created = CampaignRun.objects.get_or_create(
            campaign=campaign,
            scheduled_start=start,
            defaults={"campaign_version": campaign.version, "lease_until": now + GRACE},
        )
        for treatment in treatments_of(campaign.definition):
            CampaignActivity.objects.get_or_create(
                run=run,
                treatment_id=treatment["Id"],
                defaults={"campaign": campaign, "scheduled_start": start},
            )
        campaign.state = CampaignState.EXECUTING
        campaign.save(update_fields=["next_run_at", "state"])
        if created:
            from campaigns.tasks import campaign_run

            enqueue_on_commit(campaign_run, run.id)
    return run.id if created else None


def _claim(run_id: str, now: datetime) -> str | None:
    token = uuid.uuid4().hex
    claimed = (
        CampaignRun.objects.filter(pk=run_id, state__in=OPEN)
        .exclude(campaign__frequency=Frequency.EVENT)
        .filter(Q(lease_token="") | Q(lease_until__isnull=True) | Q(lease_until__lt=now))
        .update(state=RunState.EXECUTING, lease_until=now + LEASE, lease_token=token)
    )
    return token if claimed else None


def campaign_run_step(run_id: str, *, max_batches: int | None = None) -> bool:
    """Write the next batches of a run for up to STEP_SECONDS (or `max_batches`), then enqueue the
    rest; finish the run when its audience is exhausted. A large run is split into lanes instead
    (see the module doc), and a laned run's step coordinates them. Returns False when the run was
    not claimable (ended, or held by another worker). Idempotent. A database outage the step cannot
    ride out where it stands hands the run back once the database answers (see `_outage`)."""
    now = timezone.now()
    token = ride_out_outage(functools.partial(_claim, run_id, now))
    if token is None:
        return False
    try:
        return _run_step(run_id, token, now, max_batches)
    except DATABASE_ERRORS:
        _outage(CampaignRun(pk=run_id), token)
        return True


def _run_step(run_id: str, token: str, now: datetime, max_batches: int | None) -> bool:
    run = CampaignRun.objects.select_related("campaign__project", "campaign__segment").get(pk=run_id)
    if run.started_at is None:
        CampaignRun.objects.filter(pk=run.pk, started_at__isnull=True).update(started_at=now)
    try:
        plan, members = _audience(run)
    except Unrunnable as stop:
        _fail(run, token, stop.reason, stop.campaign_state)
        return True
    if (plan.definition.get("Schedule") or {}).get("Frequency") == Frequency.EVENT:
        _finish(run, token)  # an EVENT version's run: its messages were the triggers' to send
        return True
    lanes = list(run.lanes.all())
    if not lanes and not run.cursor:
        try:
            lanes = _split(run, token, plan, members)
        except LeaseLost:
            return False
    if lanes:
        _coordinate(run, token, lanes)
        return True
    return _write_for(run, token, plan, members, max_batches=max_batches)


def campaign_run_lane_step(run_id: str, number: int, *, max_batches: int | None = None) -> bool:
    """Write the next batches of one lane of a run for up to STEP_SECONDS (or `max_batches`), then
    enqueue the rest; at the lane's end, enqueue the run's step (it finishes the run after the last
    lane). Returns False when the lane was not claimable (ended, the run ended, or held by another
    worker). Idempotent; a database outage is handled as the run's step does."""
    now = timezone.now()
    token = uuid.uuid4().hex
    claimed = ride_out_outage(
        lambda: (
            CampaignRunLane.objects.filter(run_id=run_id, number=number, ended_at__isnull=True, run__state__in=OPEN)
            .filter(Q(lease_token="") | Q(lease_until__isnull=True) | Q(lease_until__lt=now))
            .update(lease_until=now + LEASE, lease_token=token)
        )
    )
    if not claimed:
        return False
    try:
        lane = CampaignRunLane.objects.select_related("run__campaign__project", "run__campaign__segment").get(
            run_id=run_id, number=number
        )
        try:
            plan, members = _audience(lane.run)
        except Unrunnable:  # the run's step ends the run with the reason
            _release(lane, token)
            return True
        return _write_for(lane, token, plan, members, max_batches=max_batches)
    except DATABASE_ERRORS:
        _outage(CampaignRunLane(run_id=run_id, number=number), token)
        return True


def _outage(holder: CampaignRun | CampaignRunLane, token: str) -> None:
    """The database connection broke where the step could not simply go on (a read, the finish, a
    batch whose outage outlasted its own wait): once the database answers again, give the run or
    lane back (its next step enqueued) instead of leaving it to its lease, which would pause it for
    minutes; raises when the database stays away for OUTAGE_WAIT (the lease then takes over)."""
    if connection.in_atomic_block or not wait_for_database():
        raise
    name = f"lane {holder.number} of run {holder.run_id}" if isinstance(holder, CampaignRunLane) else f"run {holder.pk}"
    logger.warning("campaign %s: the database went away under a step; handing it back", name)
    _release(holder, token)


def _audience(run: CampaignRun) -> tuple[Plan, QuerySet]:
    """The run's plan and its segment's members; raises Unrunnable."""
    campaign = run.campaign
    if campaign.segment is None:  # Pinpoint: deleting a campaign's segment makes the campaign DELETED
        if campaign.definition.get("SegmentId"):
            raise Unrunnable("The campaign's segment was deleted.", CampaignState.DELETED)
        raise Unrunnable("The campaign has no segment.", CampaignState.INVALID)
    try:
        plan = plan_for(campaign, run.campaign_version)
        members = segment_members(
            campaign.project, campaign.segment, version=campaign.segment_version, now=run.scheduled_start
        )
    except (RunInvalid, SegmentInvalid, ScheduleInvalid) as error:
        raise Unrunnable(str(error), CampaignState.INVALID) from error
    return plan, members


def _write_for(
    holder: CampaignRun | CampaignRunLane,
    token: str,
    plan: Plan,
    members: QuerySet,
    *,
    max_batches: int | None,
) -> bool:
    """The batch loop of a run written by one step, or of a lane: batches after the holder's cursor
    (within the lane's range) until the audience is exhausted or the time box is over."""
    run = holder.run if isinstance(holder, CampaignRunLane) else holder
    activities = {a.treatment_id: a for a in run.activities.all()}
    ordered = members.order_by("key").values_list("key", "cohort_id")
    if isinstance(holder, CampaignRunLane) and holder.upto:
        ordered = ordered.filter(key__lte=holder.upto)
    start = holder.after if isinstance(holder, CampaignRunLane) else ""
    deadline = time.monotonic() + STEP_SECONDS
    batches = 0

    def next_batch() -> list[tuple[str, int]]:
        """Read and write the batch after the cursor (nothing when the audience is exhausted)."""
        after = holder.cursor or start
        batch = list((ordered.filter(key__gt=after) if after else ordered)[:BATCH_SIZE])
        if batch:
            _write(holder, token, plan, activities, batch, members)
        return batch

    while True:
        try:
            # A batch is one transaction with its cursor: after an outage it is read and written again.
            batch = ride_out_outage(next_batch)
        except LeaseLost:
            return False
        if not batch:
            if isinstance(holder, CampaignRunLane):
                ride_out_outage(functools.partial(_lane_end, holder, token))
            else:
                ride_out_outage(functools.partial(_finish, run, token))
            return True
        batches += 1
        if time.monotonic() >= deadline or (max_batches is not None and batches >= max_batches):
            ride_out_outage(functools.partial(_release, holder, token))
            return True


def _split(run: CampaignRun, token: str, plan: Plan, members: QuerySet) -> list[CampaignRunLane]:
    """The lanes of a run large enough to have some (see the module doc), made and enqueued; [] when
    the run is written by its own step."""
    wanted = settings.ENGAGE_CAMPAIGN_RUN_LANES
    if wanted < 2 or plan.limit("MessagesPerSecond"):  # rate-limited send times are one writer's
        return []
    total = members.count()
    count = min(wanted, total // max(1, settings.ENGAGE_CAMPAIGN_LANE_MIN_ENDPOINTS))
    if count < 2:
        return []
    keys = members.order_by("key").values_list("key", flat=True)
    # Lane n ends at the key at position total * (n + 1) / count - 1 (one OFFSET read each); the first
    # lane starts before every key and the last has no end, so keys added since are in some lane.
    ends = [keys[total * (n + 1) // count - 1] for n in range(count - 1)]
    now = timezone.now()
    lanes = [
        CampaignRunLane(
            run=run,
            number=n,
            after=ends[n - 1] if n else "",
            upto=ends[n] if n < count - 1 else "",
            lease_until=now + GRACE,
        )
        for n in range(count)
    ]
    from campaigns.tasks import campaign_run_lane

    with transaction.atomic():
        if not CampaignRun.objects.filter(pk=run.pk, lease_token=token, cursor="").update(lease_until=now + LEASE):
            raise LeaseLost(run.pk)
        CampaignRunLane.objects.bulk_create(lanes)
        for lane in lanes:
            enqueue_on_commit(campaign_run_lane, run.pk, lane.number)
    return lanes


def _coordinate(run: CampaignRun, token: str, lanes: list[CampaignRunLane]) -> None:
    """A laned run's step: finish the run once every lane has ended; otherwise enqueue the lanes
    whose lease ran out (a dead worker, a lost task) and come back after GRACE (the sweeper)."""
    now = timezone.now()
    if all(lane.ended_at is not None for lane in lanes):
        _finish(run, token)
        return
    from campaigns.tasks import campaign_run_lane

    lapsed = Q(ended_at__isnull=True) & (Q(lease_until__isnull=True) | Q(lease_until__lt=now))
    with transaction.atomic():
        if not CampaignRun.objects.filter(pk=run.pk, lease_token=token).update(lease_token="", lease_until=now + GRACE):
            return
        idle = list(run.lanes.filter(lapsed).values_list("number", flat=True))
        run.lanes.filter(lapsed, number__in=idle).update(lease_token="", lease_until=now + GRACE)
        for number in idle:
            enqueue_on_commit(campaign_run_lane, run.pk, number)


def _write(
    holder: CampaignRun | CampaignRunLane,
    token: str,
    plan: Plan,
    activities: dict[str, CampaignActivity],
    batch: list[tuple[str, int]],
    members: QuerySet,
) -> None:
    """One batch: each treatment's decisions (the holdout's go to treatment "0") are made first,
    outside any transaction (reads, the hook's calls); then one transaction moves the cursor of the
    run or lane (only while `token` holds its lease) and records them all."""
    now = timezone.now()
    last = batch[-1][0]
    by_treatment: dict[str, list[str]] = {}
    for key, cohort in batch:
        treatment = treatment_of(cohort, plan.allocation)
        if treatment is not None:
            by_treatment.setdefault("0" if treatment == HOLDOUT else treatment, []).append(key)
    decided = [
        batch_decide(plan, activities[treatment_id], keys, now=now, members=members)
        for treatment_id, keys in by_treatment.items()
        if treatment_id in activities
    ]
    with transaction.atomic():
        moved = (
            type(holder)
            .objects.filter(pk=holder.pk, lease_token=token, cursor=holder.cursor)
            .update(cursor=last, lease_until=now + LEASE)
        )
        if not moved:
            raise LeaseLost(holder.pk)
        for part in decided:
            if part is not None:
                part.write()
    holder.cursor = last


def _release(holder: CampaignRun | CampaignRunLane, token: str) -> None:
    """Give the run's (or lane's) lease up and enqueue its next step (the sweeper, or the run's
    coordinating step, steps in if it is lost)."""
    from campaigns.tasks import campaign_run, campaign_run_lane

    if isinstance(holder, CampaignRunLane):
        held = CampaignRunLane.objects.filter(run_id=holder.run_id, number=holder.number, lease_token=token)
    else:
        held = CampaignRun.objects.filter(pk=holder.pk, lease_token=token)
    with transaction.atomic():
        released = held.update(lease_token="", lease_until=timezone.now() + GRACE)
        if not released:
            return
        if isinstance(holder, CampaignRunLane):
            enqueue_on_commit(campaign_run_lane, holder.run_id, holder.number)
        else:
            enqueue_on_commit(campaign_run, holder.pk)


def _lane_end(lane: CampaignRunLane, token: str) -> None:
    """The lane's last batch is committed: end it and enqueue the run's step, which finishes the run
    after its last lane."""
    from campaigns.tasks import campaign_run

    with transaction.atomic():
        ended = CampaignRunLane.objects.filter(pk=lane.pk, lease_token=token).update(
            ended_at=timezone.now(), lease_token="", lease_until=None
        )
        if ended:
            enqueue_on_commit(campaign_run, lane.run_id)


def _finish(run: CampaignRun, token: str) -> None:
    now = timezone.now()
    with transaction.atomic():
        ended = CampaignRun.objects.filter(pk=run.pk, lease_token=token, state__in=OPEN).update(
            state=RunState.COMPLETED, ended_at=now, lease_until=None, lease_token=""
        )
        if not ended:
            return
        run.activities.exclude(state=ActivityState.COMPLETED).update(
            state=ActivityState.COMPLETED, result="SUCCESS", end=now
        )
        run.activities.filter(start__isnull=True).update(start=now)
        _campaign_after_run(run)


def _campaign_after_run(run: CampaignRun) -> None:
    """EXECUTING → PENDING_NEXT_RUN or COMPLETED once no run of the campaign is open."""
    if CampaignRun.objects.filter(campaign_id=run.campaign_id, state__in=OPEN).exclude(pk=run.pk).exists():
        return
    campaign = Campaign.objects.filter(pk=run.campaign_id, state=CampaignState.EXECUTING)
    campaign.filter(next_run_at__isnull=False).update(state=CampaignState.PENDING_NEXT_RUN)
    campaign.filter(next_run_at__isnull=True).update(state=CampaignState.COMPLETED)


def _fail(run: CampaignRun, token: str, reason: str, campaign_state: str) -> None:
    """The run cannot be made: FAILED with the reason; the campaign INVALID (or DELETED, when its
    segment is gone), with nothing more scheduled."""
    now = timezone.now()
    with transaction.atomic():
        ended = CampaignRun.objects.filter(pk=run.pk, lease_token=token, state__in=OPEN).update(
            state=RunState.FAILED, result=reason[:512], ended_at=now, lease_until=None, lease_token=""
        )
        if not ended:
            return
        run.activities.update(state=ActivityState.CANCELLED, result="FAIL", end=now)
        Campaign.objects.filter(pk=run.campaign_id).exclude(state=CampaignState.DELETED).update(
            state=campaign_state, next_run_at=None
        )


def campaign_runs_sweep(now: datetime | None = None) -> list[str]:
    """Enqueue again the open runs whose lease ran out (a dead worker, a lost task) — never an EVENT
    campaign's; returns their ids."""
    now = now or timezone.now()
    from campaigns.tasks import campaign_run

    with transaction.atomic():
        stuck = (
            CampaignRun.objects.filter(state__in=OPEN)
            .exclude(campaign__frequency=Frequency.EVENT)
            .filter(Q(lease_until__lt=now) | Q(lease_until__isnull=True))
        )
        if is_postgresql():  # a run whose batch is still committing is locked: not stuck, and not waited for
            stuck = stuck.select_for_update(skip_locked=True, of=("self",))  # not the campaign rows
        stuck = list(stuck.values_list("id", flat=True)[:DUE_LIMIT])
        CampaignRun.objects.filter(pk__in=stuck).update(lease_token="", lease_until=now + GRACE)
        for run_id in stuck:
            enqueue_on_commit(campaign_run, run_id)
    return stuck
