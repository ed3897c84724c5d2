"""The worker's hold on an import or export job row: claim it, renew it, lose it.

A job is claimed with a conditional UPDATE (unfinished, and nobody's lease running), so two
workers given the same job id cannot both run it; progress is saved only while the lease is
still ours, so a worker that lost its claim (it stalled past the lease) stops instead of
writing over the one that took over.
"""

from datetime import datetime, timedelta

from django.db.models import F, Q
from django.utils import timezone

from audience.models import FINISHED_JOB_STATUSES, Job

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
