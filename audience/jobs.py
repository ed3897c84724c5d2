"""The worker's hold on an import or export job row: claim it, renew it, lose it.

A job is claimed with a conditional UPDATE (unfinished, and nobody's lease running), so two
workers given the same job id cannot both run it; progress is saved only while the lease is
still ours, so a worker that lost its claim (it stalled past the lease) stops instead of
writing over the one that took over.
"""

from collections.abc import Callable
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import F, Q, QuerySet
from django.utils import timezone

from audience.models import FINISHED_JOB_STATUSES, MAX_JOB_FAILURES, Job, JobStatus

LEASE = timedelta(minutes=10)  # a claim not renewed for this long belongs to a dead worker


def job_claim(model: type[Job], job_id: str, now: datetime, **conditions) -> bool:
    """Take the job for this worker; False if it is finished or someone else holds it."""
    claimed = (
        model.objects.filter(pk=job_id, **conditions)
        .exclude(status__in=FINISHED_JOB_STATUSES)
        .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))
        .update(claimed_until=now + LEASE, attempts=F("attempts") + 1)
    )
    return claimed == 1


def job_save(job: Job, *fields: str) -> bool:
    """Save these fields and renew the lease if the job is still ours; False if the claim was lost."""
    lease = timezone.now() + LEASE
    values = {name: getattr(job, name) for name in fields}
    saved = type(job).objects.filter(pk=job.pk, claimed_until=job.claimed_until).update(claimed_until=lease, **values)
    if saved != 1:
        return False
    job.claimed_until = lease
    return True


MAX_ATTEMPTS = 5  # claims of one job before the sweeper gives up on it


def jobs_sweep(stuck: QuerySet, now: datetime, *, retry: Callable[[Job], None], give_up: Callable[[Job], dict]) -> int:
    """For each job of `stuck` older than a minute that nobody holds (never claimed, or its worker's
    lease lapsed): `retry(job)` while attempts remain, else write `give_up(job)`'s field values,
    unless someone claimed it meanwhile. Returns how many were retried."""
    requeued = 0
    unheld = stuck.filter(creation_date__lt=now - timedelta(minutes=1)).filter(
        Q(claimed_until__isnull=True) | Q(claimed_until__lt=now)
    )
    for job in unheld:
        with transaction.atomic():
            if job.attempts < MAX_ATTEMPTS:
                retry(job)
                requeued += 1
                continue
            type(job).objects.filter(pk=job.pk, claimed_until=job.claimed_until).update(**give_up(job))
    return requeued


def job_failed(job: Job, now: datetime, *, failed_pieces: int) -> dict:
    """The field values of a job the sweeper gives up on, with the reason among its failures."""
    reason = f"Stopped after {job.attempts} attempts: {job.last_error or 'the worker stopped responding'}"
    return {
        "status": JobStatus.FAILED,
        "completion_date": now,
        "failed_pieces": failed_pieces,
        "failures": [*job.failures, reason][:MAX_JOB_FAILURES],
    }
