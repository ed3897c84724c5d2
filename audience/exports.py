"""The verbs of export jobs: create one (CreateExportJob) and run it; and the same stream of
endpoints for a download from the Audience page.

An export writes gzip files of newline-delimited EndpointResponse JSON under S3UrlPrefix
(`{prefix}{job id}/part-00001.json.gz`, ...), reading endpoints in key order with keyset
pagination (one indexed range query per page, however deep). After each file is uploaded the job
saves the last key it holds: a resumed export writes the next file from there, and a file that
was uploaded but not recorded is written again under the same name, so nothing is duplicated.
"""

import gzip
import json
import logging
import math
import tempfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from audience import storage
from audience.api.serializers import endpoint_responses
from audience.compiler import SegmentInvalid
from audience.jobs import job_claim, job_failed, job_save, jobs_sweep
from audience.models import Endpoint, ExportJob, JobStatus, Segment, SegmentType
from audience.segments import segment_members
from engage.queue import enqueue_on_commit
from projects.models import Project

logger = logging.getLogger(__name__)

PAGE = 1000
FILE_ENDPOINTS = 100_000


class ExportRequestInvalid(ValueError):
    """The export request cannot be run; the message says why (a 400 for the API)."""


@dataclass(frozen=True)
class ExportDefinition:
    """ExportJobRequest."""

    s3_url_prefix: str
    role_arn: str = ""
    segment_id: str = ""
    segment_version: int | None = None


def export_job_create(project: Project, definition: ExportDefinition, *, user=None) -> ExportJob:
    """CreateExportJob: check the request, save the job and run it on the worker. Raises
    ExportRequestInvalid, or Segment.DoesNotExist for an unknown SegmentId."""
    try:
        storage.parse_s3_url(definition.s3_url_prefix)
    except ValueError as error:
        raise ExportRequestInvalid(f"S3UrlPrefix: {error}") from None
    segment = None
    if definition.segment_id:
        segment = Segment.objects.filter(project=project, pk=definition.segment_id).first()
        if segment is None:
            raise Segment.DoesNotExist(f"Segment {definition.segment_id} does not exist in this project.")
        if segment.segment_type == SegmentType.IMPORT and definition.segment_version not in (None, segment.version):
            raise ExportRequestInvalid(
                f"Segment {segment.pk} is imported and keeps no history: only its current version "
                f"({segment.version}) can be exported."
            )
        try:
            segment_members(project, segment, version=definition.segment_version).exists()
        except SegmentInvalid as error:
            raise ExportRequestInvalid(str(error)) from None
    with transaction.atomic():
        job = ExportJob.objects.create(
            project=project,
            s3_url_prefix=definition.s3_url_prefix,
            role_arn=definition.role_arn,
            segment=segment,
            segment_version=definition.segment_version,
            created_by=user,
        )
        _enqueue_run(job)
    return job


def _enqueue_run(job: ExportJob) -> None:
    from audience import tasks

    enqueue_on_commit(tasks.export_job, job.pk)


def endpoints_to_export(project: Project, segment: Segment | None = None, version: int | None = None) -> QuerySet:
    """The endpoints an export covers: every endpoint of the project, or a segment's members
    (imported or dynamic, at a pinned version if given)."""
    if segment is None:
        return Endpoint.objects.for_project(project)
    return segment_members(project, segment, version=version)


def export_pages(
    project: Project,
    *,
    segment: Segment | None = None,
    version: int | None = None,
    after: str = "",
    size: int = PAGE,
) -> Iterator[list[tuple[str, dict]]]:
    """(key, EndpointResponse) in key order, a page at a time, from just after key `after`."""
    endpoints = endpoints_to_export(project, segment, version)
    while True:
        page = list(endpoints.filter(key__gt=after).order_by("key")[:size])
        if not page:
            return
        after = page[-1].key
        yield [(e.key, body) for e, body in zip(page, endpoint_responses(project, page), strict=True)]


def _line(body: dict) -> bytes:
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode() + b"\n"


def export_download(project: Project, *, segment: Segment | None = None) -> Iterator[bytes]:
    """The export as one gzip stream of newline-delimited EndpointResponse JSON (for a download):
    compressed page by page, so memory stays flat whatever the size."""
    compressor = zlib.compressobj(wbits=31)  # 31: gzip header and trailer
    for page in export_pages(project, segment=segment):
        chunk = compressor.compress(b"".join(_line(body) for _, body in page))
        if chunk:
            yield chunk
    yield compressor.flush()


def _claim(job_id: str, now: datetime) -> ExportJob | None:
    if not job_claim(ExportJob, job_id, now):
        return None
    return ExportJob.objects.select_related("project", "segment").get(pk=job_id)


def _object_location(job: ExportJob, number: int) -> storage.S3Location:
    prefix = storage.parse_s3_url(job.s3_url_prefix)
    folder = prefix.key if not prefix.key or prefix.key.endswith("/") else prefix.key + "/"
    return storage.S3Location(bucket=prefix.bucket, key=f"{folder}{job.pk}/part-{number:05d}.json.gz")


def _write_file(job: ExportJob, pages: Iterator[list[tuple[str, dict]]], *, limit: int) -> tuple[int, str]:
    """Upload the next file of at most `limit` endpoints; returns (count, last key). Raises StorageError."""
    count, last_key = 0, job.last_key
    with tempfile.SpooledTemporaryFile(max_size=storage.UPLOAD_PART_BYTES) as spool:
        with gzip.GzipFile(fileobj=spool, mode="wb", mtime=0) as compressed:
            for page in pages:
                for key, body in page:
                    compressed.write(_line(body))
                    count, last_key = count + 1, key
                if count >= limit:
                    break
        if count:
            spool.seek(0)
            location = _object_location(job, len(job.written_files) + 1)
            storage.upload(location, spool, content_type="application/x-ndjson", content_encoding="gzip")
            job.written_files = [*job.written_files, location.url]
    return count, last_key


def export_job_run(job_id: str, *, file_endpoints: int = FILE_ENDPOINTS, max_files: int | None = None) -> None:
    """Run (or resume) an export job; a finished or claimed job is left alone. `max_files` stops
    after that many files as if the worker died. Storage errors propagate after the claim is
    released (the sweeper retries)."""
    job = _claim(job_id, timezone.now())
    if job is None:
        return
    if job.status == JobStatus.CREATED:
        job.status = JobStatus.PROCESSING
        total = endpoints_to_export(job.project, job.segment, job.segment_version).count()
        job.total_pieces = math.ceil(total / file_endpoints)
        if not job_save(job, "status", "total_pieces"):
            return
    files = 0
    while True:
        pages = export_pages(
            job.project,
            segment=job.segment,
            version=job.segment_version,
            after=job.last_key,
            size=min(PAGE, file_endpoints),
        )
        try:
            count, last_key = _write_file(job, pages, limit=file_endpoints)
        except storage.StorageError as error:
            ExportJob.objects.filter(pk=job.pk, claimed_until=job.claimed_until).update(
                claimed_until=None, last_error=str(error)[:2000]
            )
            raise
        if not count:
            break
        job.last_key = last_key
        job.total_processed += count
        job.completed_pieces += 1
        job.total_pieces = max(job.total_pieces, job.completed_pieces)
        if not job_save(job, "last_key", "total_processed", "completed_pieces", "total_pieces", "written_files"):
            logger.warning("export job %s: claim lost, stopping", job.pk)
            return
        files += 1
        if max_files is not None and files >= max_files:
            return
    job.status = JobStatus.COMPLETED
    job.total_pieces = job.completed_pieces
    job.completion_date = timezone.now()
    job_save(job, "status", "total_pieces", "completion_date")
    ExportJob.objects.filter(pk=job.pk).update(claimed_until=None)


def export_jobs_sweep(now: datetime | None = None) -> int:
    """Re-enqueue export jobs nobody holds; fail those out of attempts. Returns how many."""
    now = now or timezone.now()
    return jobs_sweep(
        ExportJob.objects.unfinished(),
        now,
        retry=_enqueue_run,
        give_up=lambda job: job_failed(job, now, failed_pieces=1),
    )
