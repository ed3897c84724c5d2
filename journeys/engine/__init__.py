"""The journey engine (see ARCHITECTURE.md, "Journey engine"): admission, the advancer, the states'
effects on participants, metrics. The public interface other modules code against."""

import time
from datetime import datetime

from django.utils import timezone

from engage.queue import enqueue_on_commit
from journeys.engine.admission import journeys_admit_due, open_runs, run_admit
from journeys.engine.advance import MOVING, journey_advance
from journeys.engine.metrics import journey_activity_metrics, journey_execution_metrics
from journeys.engine.states import (
    journeys_close,
    participants_cancel,
    participants_freeze,
    participants_thaw,
    runs_complete,
)
from journeys.models import JourneyParticipant, ParticipantState

TICK_SECONDS = 40.0  # the tick's time box; journeys still due after it get a task each

__all__ = ["journey_activity_metrics", "journey_advance", "journey_execution_metrics", "journeys_tick"]


def journeys_tick(now: datetime | None = None) -> int:
    """Every minute: close journeys past their end, start the runs of due segment journeys and admit
    their members, apply paused and cancelled journeys' effects, advance the due participants of
    every ACTIVE or CLOSED journey, complete finished
    runs and journeys. Returns how many participants were admitted or moved. Idempotent."""
    now = now or timezone.now()
    deadline = time.monotonic() + TICK_SECONDS
    journeys_close(now)
    journeys_admit_due(now)
    done = 0
    for run_id in open_runs(now):
        done += run_admit(run_id, now=now)
    participants_freeze(now)
    participants_thaw(now)
    participants_cancel(now)
    due = (
        JourneyParticipant.objects.filter(state=ParticipantState.ACTIVE, next_at__lte=now, journey__state__in=MOVING)
        .values_list("journey_id", flat=True)
        .distinct()
        .order_by()
    )
    for journey_id in list(due):
        if time.monotonic() >= deadline:
            from journeys.tasks import journey_advance_task

            enqueue_on_commit(journey_advance_task, journey_id)
            continue
        done += journey_advance(journey_id, now=now)
    runs_complete(now)
    return done
