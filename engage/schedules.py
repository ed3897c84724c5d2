"""Recurring work, declared in code and synced into django-q2's Schedule table idempotently.

`python manage.py sync_schedules` runs on every start (make run) and deploy; editing a row in
the admin lasts until the next sync.
"""

from dataclasses import dataclass

from django.db import transaction
from django_q.models import Schedule


@dataclass(frozen=True)
class Recurring:
    name: str
    func: str
    minutes: int


SCHEDULES: tuple[Recurring, ...] = (
    Recurring(name="engage.clear_expired_sessions", func="engage.tasks.clear_expired_sessions", minutes=24 * 60),
    # Import and export jobs whose worker died are re-enqueued (they resume from their saved progress).
    Recurring(name="engage.audience_jobs_sweep", func="audience.tasks.jobs_sweep", minutes=1),
    # Deliveries whose worker died are re-queued; due retries are enqueued in batches.
    Recurring(name="engage.deliveries_sweep", func="campaigns.tasks.deliveries_sweep_due", minutes=1),
    # Deliveries written to fall due later (MessagesPerSecond, local time) go out within a second of it.
    Recurring(name="engage.deliveries_pace", func="campaigns.tasks.deliveries_pace_due", minutes=1),
    # Campaigns: due runs start; runs whose worker died (their lease ran out) are enqueued again.
    Recurring(name="engage.campaigns_tick", func="campaigns.tasks.campaigns_tick", minutes=1),
    # Journeys: due admissions, paused and cancelled journeys' participants, due participants moved.
    Recurring(name="engage.journeys_tick", func="journeys.tasks.journeys_tick", minutes=1),
    # Event streams with waiting events that are due (after a failure's backoff, or a lost task) ship.
    Recurring(name="engage.event_streams_sweep", func="audience.streams.tasks.streams_sweep", minutes=1),
)
PREFIX = "engage."


@transaction.atomic
def sync_schedules(schedules: tuple[Recurring, ...] = SCHEDULES) -> list[str]:
    """Create or update the declared schedules and delete Engage schedules no longer declared;
    returns the names written. Idempotent."""
    names = []
    for item in schedules:
        Schedule.objects.update_or_create(
            name=item.name,
            defaults={
                "func": item.func,
                "schedule_type": Schedule.MINUTES,
                "minutes": item.minutes,
                "repeats": -1,
            },
        )
        names.append(item.name)
    Schedule.objects.filter(name__startswith=PREFIX).exclude(name__in=names).delete()
    return names
