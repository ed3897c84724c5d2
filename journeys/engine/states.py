"""What a journey's state does to its participants and runs — set-based UPDATEs, every tick.

- PAUSED: participants are not advanced (the advancer claims ACTIVE journeys only) and their timers
  freeze: the tick stores each waiting participant's remaining wait in next_at itself, as
  FROZEN_BASE + remaining (one UPDATE; a participant already due keeps 0), so no claim finds it due.
  When the journey is ACTIVE again, the tick thaws them: next_at = now + remaining. Waits therefore
  continue where they were, give or take the tick (a minute) on each side.
- CANCELLED: no one is admitted (admission reads ACTIVE journeys only); a batch in flight finishes
  and is written; then every ACTIVE participant not held by a live lease is EXITED, with a
  JourneyStep "CANCELLED" in the activity it was in. Open runs are CANCELLED.
- CLOSED: an ACTIVE journey whose end_time has passed is CLOSED (no refresh, no event entry); its
  participants go on to the end of their way.
- Runs: a RUNNING run with no ACTIVE participant left is COMPLETED. An ACTIVE segment journey with
  no refresh to come, no run admitting and no ACTIVE participant is COMPLETED.
"""

from datetime import UTC, datetime

from django.db import transaction
from django.db.models import Exists, F, OuterRef

from journeys.engine.graph import ACTIVITY_TYPE, Definition, kind_of
from journeys.models import (
    Journey,
    JourneyParticipant,
    JourneyRun,
    JourneyRunStatus,
    JourneyState,
    JourneyStep,
    ParticipantState,
)

FROZEN_BASE = datetime(9000, 1, 1, tzinfo=UTC)
CANCEL_BATCH = 1000


def journeys_close(now: datetime) -> int:
    """ACTIVE journeys past their end_time → CLOSED; returns how many."""
    return Journey.objects.filter(state=JourneyState.ACTIVE, end_time__lte=now).update(
        state=JourneyState.CLOSED, next_refresh_at=None, last_modified_date=now
    )


def participants_freeze(now: datetime) -> int:
    """Freeze the timers of PAUSED journeys' waiting participants; returns how many."""
    paused = JourneyParticipant.objects.filter(
        journey__state=JourneyState.PAUSED, state=ParticipantState.ACTIVE, next_at__lt=FROZEN_BASE
    )
    with transaction.atomic():
        paused.filter(next_at__lt=now).update(next_at=now)
        return paused.update(next_at=F("next_at") + (FROZEN_BASE - now))


def participants_thaw(now: datetime) -> int:
    """Restart the frozen timers of journeys that are no longer PAUSED; returns how many."""
    return (
        JourneyParticipant.objects.filter(state=ParticipantState.ACTIVE, next_at__gte=FROZEN_BASE)
        .exclude(journey__state=JourneyState.PAUSED)
        .update(next_at=F("next_at") - (FROZEN_BASE - now))
    )


def participants_cancel(now: datetime) -> int:
    """EXIT the ACTIVE participants of CANCELLED journeys (not those a live batch holds); returns how many."""
    exited = 0
    journeys = list(
        Journey.objects.filter(state=JourneyState.CANCELLED)
        .filter(Exists(JourneyParticipant.objects.filter(journey=OuterRef("pk"), state=ParticipantState.ACTIVE)))
        .values_list("id", "definition")
    )
    for journey_id, definition in journeys:
        activities = Definition(definition or {}).activities
        while True:
            with transaction.atomic():
                batch = list(
                    JourneyParticipant.objects.filter(journey_id=journey_id, state=ParticipantState.ACTIVE)
                    .exclude(lease_until__gte=now)
                    .values_list("id", "run_id", "activity_id")[:CANCEL_BATCH]
                )
                if not batch:
                    break
                ids = [pid for pid, _, _ in batch]
                JourneyStep.objects.bulk_create(
                    [
                        JourneyStep(
                            participant_id=pid,
                            journey_id=journey_id,
                            run_id=run_id,
                            activity_id=activity_id,
                            activity_type=ACTIVITY_TYPE.get(kind_of(activities.get(activity_id)), "UNKNOWN"),
                            status="CANCELLED",
                            at=now,
                        )
                        for pid, run_id, activity_id in batch
                    ],
                    ignore_conflicts=True,
                )
                exited += JourneyParticipant.objects.filter(id__in=ids, state=ParticipantState.ACTIVE).update(
                    state=ParticipantState.EXITED, next_at=None, updated_at=now
                )
    JourneyRun.objects.filter(
        journey__state=JourneyState.CANCELLED, status__in=(JourneyRunStatus.SCHEDULED, JourneyRunStatus.RUNNING)
    ).update(status=JourneyRunStatus.CANCELLED, last_update_time=now, lease_until=None, lease_token="")
    return exited


def runs_complete(now: datetime) -> int:
    """RUNNING runs with no ACTIVE participant → COMPLETED (an event journey's one run stays open
    while the journey is ACTIVE); then finished segment journeys → COMPLETED. Returns how many runs
    completed."""
    active = JourneyParticipant.objects.filter(run=OuterRef("pk"), state=ParticipantState.ACTIVE)
    candidates = (
        JourneyRun.objects.filter(status=JourneyRunStatus.RUNNING)
        .exclude(Exists(active))
        .values_list("id", "journey__state", "journey__definition")[:1000]
    )
    done = [
        run_id
        for run_id, state, definition in candidates
        if state != JourneyState.ACTIVE or Definition(definition or {}).event_start is None
    ]
    completed = JourneyRun.objects.filter(id__in=done, status=JourneyRunStatus.RUNNING).update(
        status=JourneyRunStatus.COMPLETED, last_update_time=now
    )
    finished = (
        Journey.objects.filter(state=JourneyState.ACTIVE, next_refresh_at__isnull=True)
        .filter(Exists(JourneyRun.objects.filter(journey=OuterRef("pk"))))
        .exclude(Exists(JourneyRun.objects.filter(journey=OuterRef("pk")).exclude(status=JourneyRunStatus.COMPLETED)))
        .values_list("id", "definition")
    )
    ids = [journey_id for journey_id, definition in finished if Definition(definition or {}).event_start is None]
    if ids:
        Journey.objects.filter(id__in=ids, state=JourneyState.ACTIVE).update(
            state=JourneyState.COMPLETED, last_modified_date=now
        )
    return completed
