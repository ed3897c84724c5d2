"""Background work of the audience: each task takes a job id and calls one service.

The services enqueue these through engage.queue (they import this module when they do, since
this one imports them).
"""

from audience.exports import export_job_run, export_jobs_sweep
from audience.imports import import_job_run, import_jobs_sweep, import_preview_run


def import_job(job_id: str) -> None:
    """Run or resume an import job."""
    import_job_run(job_id)


def import_preview(job_id: str) -> None:
    """Check an uploaded file without writing."""
    import_preview_run(job_id)


def export_job(job_id: str) -> None:
    """Run or resume an export job."""
    export_job_run(job_id)


def jobs_sweep() -> None:
    """Re-enqueue import and export jobs whose worker died; fail those out of attempts."""
    import_jobs_sweep()
    export_jobs_sweep()
