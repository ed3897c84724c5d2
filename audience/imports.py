"""The verbs of import jobs: create one (CreateImportJob or an upload), check an upload without
writing (the dry run), confirm it, and run a job.

A job reads its files as streams, in chunks of CHUNK_ROWS records. Each chunk is one transaction:
its endpoints go through parse_endpoint and endpoints_write(strict=False) — the same rules as the
API — its segment members and failed rows are stored, and the job's progress (file, byte offset,
line, counts) is saved with them. A worker that dies loses at most the chunk it had not committed;
the next run resumes at the saved offset, so no row is lost or written twice.

Pieces are files. A piece fails when its file cannot be read or its CSV header is unusable; bad
rows do not fail their piece: they are counted (TotalFailures), listed (the first 100 in
Failures, all of them in ImportFailure) and skipped, and the good rows are kept. A job ends
FAILED when a piece failed or no file matched (Pinpoint: "FAILED if one or more pieces failed"),
else COMPLETED — with TotalFailures telling how many rows were refused.
"""

import logging
import queue
import threading
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import PurePosixPath

from django.core.files import File
from django.core.files.storage import default_storage
from django.db import connection, transaction
from django.db.models import Count, F, Q
from django.utils import timezone
from django.utils.text import get_valid_filename

from audience import bulk, storage
from audience.formats import SUFFIXES, HeaderInvalid, Record, RecordReader
from audience.jobs import LEASE, job_claim, job_failed, job_save, jobs_sweep
from audience.models import (
    MAX_JOB_FAILURES,
    Endpoint,
    ImportFailure,
    ImportFormat,
    ImportJob,
    ImportSource,
    JobStatus,
    Segment,
    SegmentMember,
    SegmentType,
)
from audience.services import endpoints_write
from audience.validation import EndpointInvalid, EndpointWrite, parse_endpoint
from engage.db import commit_without_flush_wait
from engage.dbfaults import DATABASE_ERRORS, wait_for_database
from engage.queue import enqueue_on_commit
from projects.models import Project

logger = logging.getLogger(__name__)

CHUNK_ROWS = 5000
SLICE_SECONDS = 240.0  # then the task re-enqueues itself (django-q2 kills tasks after 600 s)
ID_NAMESPACE = uuid.UUID("6f1c1a52-8f43-4c1e-9a55-0d6f2f0a7c11")


class ImportRequestInvalid(ValueError):
    """The import request cannot be run; the message says why (a 400 for the API)."""


class ClaimLost(RuntimeError):
    """Another worker took the job over (ours stalled past its lease): stop without writing."""


@dataclass(frozen=True)
class ImportDefinition:
    """ImportJobRequest: what to read and what to do with it."""

    format: str
    s3_url: str
    role_arn: str = ""
    register_endpoints: bool = True
    define_segment: bool = False
    segment_id: str = ""
    segment_name: str = ""
    external_id: str = ""


def _segment_for(project: Project, definition: ImportDefinition, *, default_name: str) -> Segment | None:
    if definition.segment_id:
        segment = Segment.objects.select_for_update().filter(project=project, pk=definition.segment_id).first()
        if segment is None:
            raise Segment.DoesNotExist(f"Segment {definition.segment_id} does not exist in this project.")
        if segment.segment_type != SegmentType.IMPORT:
            raise ImportRequestInvalid(
                f"Segment {segment.pk} is a dynamic segment; an import can only extend an imported segment."
            )
        return segment
    if not definition.define_segment:
        return None
    return Segment.objects.create(
        project=project,
        name=definition.segment_name or default_name,
        segment_type=SegmentType.IMPORT,
        import_format=definition.format,
        import_s3_url=definition.s3_url,
        import_role_arn=definition.role_arn,
        import_external_id=definition.external_id,
    )


def _check(definition: ImportDefinition) -> None:
    if definition.format not in ImportFormat.values:
        raise ImportRequestInvalid("Format must be CSV or JSON.")
    if not (definition.register_endpoints or definition.define_segment or definition.segment_id):
        raise ImportRequestInvalid("Nothing to do: set RegisterEndpoints, DefineSegment or SegmentId.")
    if len(definition.segment_name) > 256:
        raise ImportRequestInvalid("SegmentName must be at most 256 characters.")


MAX_ACTIVE_IMPORT_JOBS = 10  # Pinpoint's quota of import jobs running at once


def _check_room(project: Project) -> None:
    """Raise ImportRequestInvalid when the project has MAX_ACTIVE_IMPORT_JOBS jobs that have not
    finished (uploads waiting for confirmation do not count). Call inside a transaction: the
    project row is locked so two requests cannot both take the last place."""
    Project.objects.select_for_update().filter(pk=project.pk).values_list("pk").first()
    active = ImportJob.objects.filter(project=project, confirmed=True).unfinished().count()
    if active >= MAX_ACTIVE_IMPORT_JOBS:
        raise ImportRequestInvalid(
            f"The project already has {active} import jobs in progress; at most {MAX_ACTIVE_IMPORT_JOBS} can "
            "run at once. Try again when one has finished."
        )


def import_job_create(project: Project, definition: ImportDefinition, *, user=None) -> ImportJob:
    """CreateImportJob: check the request, create or find the segment, save the job and run it on
    the worker. Raises ImportRequestInvalid (also when MAX_ACTIVE_IMPORT_JOBS are running), or
    Segment.DoesNotExist for an unknown SegmentId."""
    _check(definition)
    try:
        location = storage.parse_s3_url(definition.s3_url)
    except ValueError as error:
        raise ImportRequestInvalid(f"S3Url: {error}") from None
    default_name = PurePosixPath(location.key).name or location.bucket
    with transaction.atomic():
        _check_room(project)
        segment = _segment_for(project, definition, default_name=default_name)
        job = ImportJob.objects.create(
            project=project,
            source=ImportSource.S3,
            format=definition.format,
            s3_url=definition.s3_url,
            role_arn=definition.role_arn,
            external_id=definition.external_id,
            register_endpoints=definition.register_endpoints,
            define_segment=definition.define_segment,
            segment=segment,
            segment_name=segment.name if segment else definition.segment_name,
            created_by=user,
        )
        _enqueue_run(job)
    return job


def import_upload_create(
    project: Project, *, upload: File, format: str, define_segment: bool = False, segment_name: str = "", user=None
) -> ImportJob:
    """An import uploaded on the Audience page: store the file, save an unconfirmed job and check
    the file on the worker (a dry run that writes nothing). Raises ImportRequestInvalid."""
    name = get_valid_filename(PurePosixPath(upload.name or "upload").name) or "upload"
    definition = ImportDefinition(
        format=format, s3_url=f"upload://{name}", define_segment=define_segment, segment_name=segment_name
    )
    _check(definition)
    stored = default_storage.save(f"imports/{project.pk}/{uuid.uuid4().hex}/{name}", upload)
    with transaction.atomic():
        segment = _segment_for(project, definition, default_name=name)
        job = ImportJob.objects.create(
            project=project,
            source=ImportSource.UPLOAD,
            format=format,
            s3_url=definition.s3_url,
            define_segment=define_segment,
            segment=segment,
            segment_name=segment.name if segment else "",
            upload=stored,
            created_by=user,
            confirmed=False,
            preview={"done": False, "rows": 0, "new": 0, "updated": 0, "invalid": 0, "reasons": []},
        )
        from audience import tasks

        enqueue_on_commit(tasks.import_preview, job.pk)
    return job


def import_job_confirm(job: ImportJob) -> bool:
    """Run a checked upload for real; False if it was confirmed already (idempotent). Raises
    ImportRequestInvalid when MAX_ACTIVE_IMPORT_JOBS of the project are running."""
    with transaction.atomic():
        if not ImportJob.objects.filter(pk=job.pk, confirmed=False, status=JobStatus.CREATED).exists():
            return False
        _check_room(job.project)
        confirmed = ImportJob.objects.filter(pk=job.pk, confirmed=False, status=JobStatus.CREATED).update(
            confirmed=True
        )
        if confirmed:
            _enqueue_run(job)
    return bool(confirmed)


def import_job_cancel(job: ImportJob) -> bool:
    """Drop an upload that was checked but not confirmed: the job, its file, and the segment it
    was to define if nothing else filled it. False if it was confirmed meanwhile (idempotent)."""
    with transaction.atomic():
        deleted, _ = ImportJob.objects.filter(pk=job.pk, confirmed=False, status=JobStatus.CREATED).delete()
        if deleted and job.define_segment and job.segment_id:
            # Created with the upload, so empty unless another job extended it since.
            Segment.objects.filter(
                pk=job.segment_id, segment_type=SegmentType.IMPORT, import_jobs=None, members=None
            ).delete()
    if deleted and job.upload:
        transaction.on_commit(lambda: default_storage.delete(job.upload))
    return bool(deleted)


UPLOAD_KEPT = timedelta(hours=24)  # an upload not confirmed by then is deleted with its file


def abandoned_uploads_sweep(now: datetime | None = None) -> int:
    """Delete uploads not confirmed (nor cancelled) within UPLOAD_KEPT of being uploaded, as a
    cancel would; a dry run still running is left alone. Returns how many were deleted."""
    now = now or timezone.now()
    abandoned = ImportJob.objects.filter(
        source=ImportSource.UPLOAD, confirmed=False, status=JobStatus.CREATED, creation_date__lt=now - UPLOAD_KEPT
    ).filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))
    return sum(import_job_cancel(job) for job in abandoned.only("pk", "upload", "define_segment", "segment_id"))


def _enqueue_run(job: ImportJob) -> None:
    from audience import tasks

    enqueue_on_commit(tasks.import_job, job.pk)


# --- reading ---------------------------------------------------------------------------------------


def _job_files(job: ImportJob) -> list[dict]:
    """The files a job reads, fixed when it starts. Raises storage.StorageError."""
    if job.source == ImportSource.UPLOAD:
        return [
            {"key": job.upload, "name": job.s3_url.removeprefix("upload://"), "size": default_storage.size(job.upload)}
        ]
    location = storage.parse_s3_url(job.s3_url)
    objects = storage.list_objects(location, suffixes=SUFFIXES[job.format])
    return [{"key": o.key, "name": o.key, "size": o.size} for o in objects]


def _upload_blocks(name: str, offset: int) -> Iterator[bytes]:
    with default_storage.open(name, "rb") as handle:
        handle.seek(offset)
        while block := handle.read(1024 * 1024):
            yield block


def _blocks(job: ImportJob, file: dict, offset: int) -> Iterator[bytes]:
    """The file's bytes from `offset` on. Raises storage.StorageError."""
    if job.source == ImportSource.UPLOAD:
        return _upload_blocks(file["key"], offset)
    bucket = storage.parse_s3_url(job.s3_url).bucket
    return storage.read_chunks(storage.open_object(bucket, file["key"], offset=offset))


def _chunks(records: Iterable[Record], size: int) -> Iterator[list[Record]]:
    chunk: list[Record] = []
    for record in records:
        chunk.append(record)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


# --- one chunk -------------------------------------------------------------------------------------


@dataclass
class ChunkResult:
    processed: int = 0
    new: int = 0
    updated: int = 0
    failures: list[tuple[Record, str]] = field(default_factory=list)
    created: set[str] = field(default_factory=set)  # keys of the endpoints the chunk created


def derived_endpoint_id(channel_type: str, address: str) -> str:
    """The id of a row without one: stable per channel and address, so importing the same file
    twice updates the endpoints it created instead of adding copies."""
    return uuid.uuid5(ID_NAMESPACE, f"{channel_type}:{address}").hex


def _parse(record: Record) -> EndpointWrite:
    body = record.body
    endpoint_id = body.pop("Id", None)
    if endpoint_id is None:
        channel, address = body.get("ChannelType"), body.get("Address")
        if not (isinstance(channel, str) and channel and isinstance(address, str) and address):
            raise EndpointInvalid("A row without an Id is a new endpoint: it needs ChannelType and Address.")
        endpoint_id = derived_endpoint_id(channel, address)
    return parse_endpoint(endpoint_id, body, small_and_clean=record.small_and_clean)


def prepare(record: Record) -> Record:
    """Parse a record's endpoint (once): sets record.write, or record.error with the reason."""
    if record.body is not None and record.write is None and record.error is None:
        try:
            record.write = _parse(record)
        except EndpointInvalid as error:
            record.error = str(error)
    return record


def _prepared_chunks(reader: RecordReader, size: int) -> Iterator[tuple[list[Record], int, int]]:
    """Chunks of parsed records, with the byte offset and line number after each."""
    for chunk in _chunks(reader, size):
        for record in chunk:
            prepare(record)
        yield chunk, chunk[-1].end, reader.line


def _ahead(items: Iterator, depth: int = 2) -> Iterator:
    """`items`, produced in a thread up to `depth` ahead: reading and parsing the next chunk (pure
    Python, no database) overlaps with writing this one (the database's work, on its own core).
    Exceptions of the producer are raised here; leaving the loop early stops the producer."""
    handoff: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item: object) -> bool:
        while not stop.is_set():
            try:
                handoff.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not put(item):
                    return
            put(_END)
        except BaseException as error:  # handed to the consumer, which raises it
            put(error)

    threading.Thread(target=produce, name="import-reader", daemon=True).start()
    try:
        while (item := handoff.get()) is not _END:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()


_END = object()


def apply_chunk(
    project: Project,
    records: list[Record],
    *,
    register: bool,
    segment_id: str | None,
    define_segment: bool,
    request_id: str,
) -> ChunkResult:
    """Write one chunk of records (inside the caller's transaction); returns counts and failures."""
    result = ChunkResult()
    parsed: list[tuple[Record, EndpointWrite]] = []
    references: list[Record] = []
    for record in records:
        prepare(record)
        if record.error is not None:
            result.processed += 1
            result.failures.append((record, record.error))
        elif record.user_ids is not None:
            references.append(record)
        else:
            result.processed += 1
            parsed.append((record, record.write))
    members: list[str] = []
    if parsed:
        members += _write_endpoints(project, parsed, result, register=register, request_id=request_id)
    if references:
        members += _resolve_users(project, references, result, define_segment=define_segment)
    if segment_id and members:
        bulk.add_segment_members(segment_id, members)
    result.failures.sort(key=lambda failure: failure[0].line)
    return result


def _write_endpoints(
    project: Project,
    parsed: list[tuple[Record, EndpointWrite]],
    result: ChunkResult,
    *,
    register: bool,
    request_id: str,
) -> list[str]:
    """Write the chunk's endpoints (or, without RegisterEndpoints, only find the existing ones);
    returns the keys to add to the segment."""
    if not register:
        existing = bulk.existing_endpoints(project.pk, [w.key for _, w in parsed])
        keys = []
        for record, write in parsed:
            if write.key in existing:
                keys.append(write.key)
                result.updated += 1
            else:
                reason = f"Endpoint {write.endpoint_id} does not exist, and RegisterEndpoints is false."
                result.failures.append((record, reason))
        return keys
    outcome = endpoints_write(
        project, [w for _, w in parsed], request_id=request_id, strict=False, new_need_address=True
    )
    result.created |= outcome.created
    accepted: list[str] = []
    counted: set[str] = set()
    for position, (record, write) in enumerate(parsed):
        reason = outcome.rejected.get(position)
        if reason is not None:
            result.failures.append((record, reason))
            continue
        accepted.append(write.key)
        if write.key in outcome.created and write.key not in counted:
            result.new += 1
        else:
            result.updated += 1
        counted.add(write.key)
    return accepted


def _resolve_users(
    project: Project, references: list[Record], result: ChunkResult, *, define_segment: bool
) -> list[str]:
    """User-ID-only rows: every endpoint of each user joins the segment."""
    wanted = {user_id for record in references for user_id in record.user_ids}
    found: dict[str, list[str]] = {}
    if define_segment and wanted:
        for user_id, key in Endpoint.objects.filter(project=project, user_id__in=wanted).values_list("user_id", "key"):
            found.setdefault(user_id, []).append(key)
    keys: list[str] = []
    for record in references:
        if not record.user_ids:
            result.processed += 1
            result.failures.append((record, "The row names no User.UserId."))
            continue
        for user_id in record.user_ids:
            result.processed += 1
            if not define_segment:
                result.failures.append(
                    (record, f"User {user_id}: a User.UserId-only row adds a user to a segment; set DefineSegment.")
                )
            elif user_id not in found:
                result.failures.append((record, f"User {user_id} has no endpoints in this project."))
            else:
                keys += found[user_id]
                result.updated += 1
    return keys


def _failure_text(file: str, record: Record, reason: str) -> str:
    return _storable(f"{file} line {record.line}: {reason}")


def _storable(text: str) -> str:
    """The text with NUL characters (which PostgreSQL text and jsonb cannot hold) shown as U+FFFD."""
    return text.replace("\x00", "\ufffd")


# --- running a job ---------------------------------------------------------------------------------


def _claim(job_id: str, now: datetime, **conditions) -> ImportJob | None:
    """Take the job for this worker; None if it is finished or held by another."""
    return ImportJob.objects.get(pk=job_id) if job_claim(ImportJob, job_id, now, **conditions) else None


def _save(job: ImportJob, *fields: str) -> None:
    """Save progress if the job is still ours, renewing the lease; raises ClaimLost."""
    if not job_save(job, *fields):
        raise ClaimLost(f"import job {job.pk} was taken over by another worker")


def _record_failures(job: ImportJob, file: str, failures: list[tuple[Record, str]]) -> None:
    if not failures:
        return
    ImportFailure.objects.bulk_create(
        [
            ImportFailure(job=job, file=file, line=r.line, reason=_storable(reason), row=_storable(r.text))
            for r, reason in failures
        ]
    )
    room = MAX_JOB_FAILURES - len(job.failures)
    job.failures = job.failures + [_failure_text(file, r, reason) for r, reason in failures[:room]]
    job.total_failures += len(failures)


PROGRESS_FIELDS = (
    "status",
    "file_index",
    "file_offset",
    "file_line",
    "file_header",
    "total_processed",
    "total_failures",
    "failures",
    "new_endpoints",
    "updated_endpoints",
    "completed_pieces",
    "failed_pieces",
)


def import_job_run(
    job_id: str, *, chunk_rows: int = CHUNK_ROWS, slice_seconds: float = SLICE_SECONDS, max_chunks: int | None = None
) -> None:
    """Run (or resume) a confirmed import job. Idempotent: a finished or claimed job is left alone.

    Works for `slice_seconds`, then re-enqueues itself; `max_chunks` stops after that many chunks
    as if the worker died (the claim stays until its lease lapses). Storage errors while listing
    fail the job; other errors propagate after the claim is released, and the sweeper retries.
    """
    job = _claim(job_id, timezone.now(), confirmed=True)
    if job is None:
        return
    try:
        finished = _run(job, chunk_rows=chunk_rows, deadline=time.monotonic() + slice_seconds, max_chunks=max_chunks)
    except ClaimLost:
        logger.warning("import job %s: claim lost, stopping", job_id)
        return
    except DATABASE_ERRORS:
        if not _hand_back_after_outage(job):
            raise
        return
    except Exception as error:
        ImportJob.objects.filter(pk=job.pk, claimed_until=job.claimed_until).update(
            claimed_until=None, last_error=str(error)[:2000]
        )
        raise
    if finished is None:  # max_chunks: stop as a killed worker would
        return
    if not finished:
        with transaction.atomic():
            ImportJob.objects.filter(pk=job.pk).update(claimed_until=None)
            _enqueue_run(job)


def _hand_back_after_outage(job: ImportJob) -> bool:
    """The database went away under the job (a restart, a failover). Once it answers again (within
    engage.dbfaults.OUTAGE_WAIT), release the claim — if nobody claimed the job since, as its
    `attempts` tell — and enqueue the job: it resumes from the progress the database kept. Not the
    progress this worker holds: a crash can lose the last chunk's commit (written without waiting
    for the disk), and the chunk is then read again. False when the database stays away (the
    claim's lease and the sweeper take over)."""
    if connection.in_atomic_block or not wait_for_database():
        return False
    with transaction.atomic():
        released = ImportJob.objects.filter(pk=job.pk, attempts=job.attempts, claimed_until__isnull=False).update(
            claimed_until=None
        )
        if released:
            _enqueue_run(job)
    logger.warning("import job %s: the database went away; %s", job.pk, "resuming" if released else "claimed since")
    return True


def _start(job: ImportJob) -> bool:
    """List the files; False (and the job FAILED) when there are none or they cannot be listed."""
    job.status = JobStatus.INITIALIZING
    _save(job, "status")
    try:
        files = _job_files(job)
    except (storage.StorageError, OSError) as error:
        _finish(job, failure=str(error))
        return False
    if not files:
        kind = "JSON (.json, .jsonl, .ndjson)" if job.format == ImportFormat.JSON else "CSV (.csv)"
        _finish(job, failure=f"No {kind} files found at {job.s3_url}.")
        return False
    job.files = files
    job.total_pieces = len(files)
    job.status = JobStatus.PROCESSING
    _save(job, "files", "total_pieces", "status")
    return True


def _run(job: ImportJob, *, chunk_rows: int, deadline: float, max_chunks: int | None) -> bool | None:
    """True when the job finished, False when its time slice ran out, None when max_chunks hit."""
    starting = job.status in (JobStatus.CREATED, JobStatus.PREPARING_FOR_INITIALIZATION, JobStatus.INITIALIZING)
    if starting and not _start(job):
        return True
    chunks_done = 0
    statistics = _Statistics()
    while job.file_index < len(job.files):
        file = job.files[job.file_index]
        try:
            reader = RecordReader(
                _blocks(job, file, job.file_offset),
                format=job.format,
                offset=job.file_offset,
                line=job.file_line,
                header=job.file_header or None,
            )
            if job.format == ImportFormat.CSV and reader.header is None:
                reader.read_header()
            for chunk, end, line in _ahead(_prepared_chunks(reader, chunk_rows)):
                statistics.grew(_commit_chunk(job, file["name"], chunk, end=end, line=line, header=reader.header))
                chunks_done += 1
                if max_chunks is not None and chunks_done >= max_chunks:
                    return None
                if time.monotonic() > deadline:
                    return False
        except HeaderInvalid as error:
            _next_file(job, failure=f"{file['name']}: {error}")
            continue
        except storage.StorageError as error:
            if job.file_offset:
                raise  # lost part-way: retry later from the saved offset
            _next_file(job, failure=f"{file['name']}: {error}")
            continue
        _next_file(job)
    _finish(job)
    return True


class _Statistics:
    """Refreshes the endpoint table's statistics each time an import has doubled it."""

    def __init__(self) -> None:
        self.rows = bulk.endpoint_rows_estimate()
        self.added = 0

    def grew(self, new_endpoints: int) -> None:
        self.added += new_endpoints
        if self.added >= max(self.rows, CHUNK_ROWS):
            bulk.endpoint_statistics_refresh()
            self.rows += self.added
            self.added = 0


def _commit_chunk(job: ImportJob, name: str, chunk: list[Record], *, end: int, line: int, header) -> int:
    """Write one chunk and the job's progress in one transaction; returns the endpoints created."""
    with transaction.atomic():
        # The chunk and the offset after it commit together: losing both in a crash only means
        # the next run reads the chunk again, so the commit need not wait for the disk.
        commit_without_flush_wait()
        result = apply_chunk(
            job.project,
            chunk,
            register=job.register_endpoints,
            segment_id=job.segment_id,
            define_segment=job.segment_id is not None,
            request_id=job.pk,
        )
        _record_failures(job, name, result.failures)
        job.total_processed += result.processed
        job.new_endpoints += result.new
        job.updated_endpoints += result.updated
        job.file_offset = end
        job.file_line = line
        job.file_header = header.names if header else []
        _save(job, *PROGRESS_FIELDS)
    return result.new


def _next_file(job: ImportJob, *, failure: str = "") -> None:
    with transaction.atomic():
        if failure:
            job.failed_pieces += 1
            if len(job.failures) < MAX_JOB_FAILURES:
                job.failures = [*job.failures, failure]
        else:
            job.completed_pieces += 1
        job.file_index += 1
        job.file_offset = 0
        job.file_line = 0
        job.file_header = []
        _save(job, *PROGRESS_FIELDS)


def _finish(job: ImportJob, *, failure: str = "") -> None:
    """COMPLETING: size the segment; then COMPLETED, or FAILED when a piece failed or none ran."""
    job.status = JobStatus.COMPLETING
    _save(job, "status")
    with transaction.atomic():
        if job.segment_id:
            segment_refresh_import(job.segment, job=job)
        if failure:
            job.failures = [*job.failures, failure][:MAX_JOB_FAILURES]
        failed = bool(failure) or job.failed_pieces > 0 or job.total_pieces == 0
        job.status = JobStatus.FAILED if failed else JobStatus.COMPLETED
        job.completion_date = timezone.now()
        _save(job, "status", "completion_date", "failures")
        ImportJob.objects.filter(pk=job.pk).update(claimed_until=None)
    if job.upload:
        transaction.on_commit(lambda: default_storage.delete(job.upload))


def segment_refresh_import(segment: Segment, *, job: ImportJob) -> Segment:
    """After an import into a segment: its size and channel counts from its members, the job's
    definition, and a new version when the job extended an existing segment."""
    members = SegmentMember.objects.filter(segment=segment).values("endpoint_key")
    counts = (
        Endpoint.objects.filter(project_id=segment.project_id, key__in=members)
        .values("channel_type")
        .annotate(n=Count("pk"))
        .order_by()
    )
    segment.import_size = SegmentMember.objects.filter(segment=segment).count()
    segment.import_channel_counts = {row["channel_type"]: row["n"] for row in counts if row["channel_type"]}
    segment.import_format = job.format
    segment.import_s3_url = job.s3_url
    segment.import_role_arn = job.role_arn
    segment.import_external_id = job.external_id
    if ImportJob.objects.filter(segment=segment).exclude(pk=job.pk).exists():
        segment.version = F("version") + 1
    segment.last_modified_date = timezone.now()
    segment.save()
    segment.refresh_from_db(fields=["version"])
    return segment


# --- the dry run of an upload ----------------------------------------------------------------------


class _Rollback(Exception):
    pass


def import_preview_run(job_id: str, *, chunk_rows: int = CHUNK_ROWS) -> None:
    """Check an uploaded file without writing: each chunk runs through the real writes in a
    transaction that is rolled back, and the counts (new, updated, invalid with reasons) are
    stored in job.preview. Each chunk is checked against the project as it is, not as the
    earlier chunks would leave it. Idempotent: a preview that is done is not redone."""
    job = _claim(job_id, timezone.now(), confirmed=False, status=JobStatus.CREATED)
    if job is None or (job.preview or {}).get("done"):
        return
    preview = {"done": False, "rows": 0, "new": 0, "updated": 0, "invalid": 0, "reasons": [], "error": ""}
    try:
        file = _job_files(job)[0]
        ImportJob.objects.filter(pk=job.pk).update(files=[file])
        reader = RecordReader(_blocks(job, file, 0), format=job.format)
        if job.format == ImportFormat.CSV:
            reader.read_header()
        for chunk in _chunks(reader, chunk_rows):
            result = ChunkResult()
            try:
                with transaction.atomic():
                    result = apply_chunk(
                        job.project,
                        chunk,
                        register=job.register_endpoints,
                        segment_id=None,
                        define_segment=job.define_segment or job.segment_id is not None,
                        request_id=job.pk,
                    )
                    raise _Rollback
            except _Rollback:
                pass
            preview["rows"] += result.processed
            preview["new"] += result.new
            preview["updated"] += result.updated
            preview["invalid"] += len(result.failures)
            room = MAX_JOB_FAILURES - len(preview["reasons"])
            preview["reasons"] += [{"line": r.line, "reason": _storable(why)} for r, why in result.failures[:room]]
            preview["offset"] = reader.offset
            ImportJob.objects.filter(pk=job.pk).update(preview=preview, claimed_until=timezone.now() + LEASE)
    except (HeaderInvalid, OSError) as error:
        preview["error"] = str(error)
    preview["done"] = True
    ImportJob.objects.filter(pk=job.pk).update(preview=preview, claimed_until=None)


def import_jobs_sweep(now: datetime | None = None) -> int:
    """Re-enqueue confirmed jobs nobody holds (a worker died, or an error stopped them); jobs out of
    attempts end FAILED with their last error; uploads never confirmed are deleted after
    UPLOAD_KEPT. Returns how many were re-enqueued."""
    now = now or timezone.now()
    requeued = jobs_sweep(
        ImportJob.objects.unfinished().filter(confirmed=True),
        now,
        retry=_enqueue_run,
        give_up=lambda job: job_failed(
            job,
            now,
            failed_pieces=max(job.total_pieces - job.completed_pieces - job.failed_pieces, 1) + job.failed_pieces,
        ),
    )
    requeued += _previews_sweep(now)
    abandoned_uploads_sweep(now)
    return requeued


PREVIEW_STOPPED = "The check of this file stopped; upload it again."


def _previews_sweep(now: datetime) -> int:
    """Dry runs of uploads whose worker died: run again, or give up with a reason on the page."""
    from audience import tasks

    return jobs_sweep(
        ImportJob.objects.filter(confirmed=False, status=JobStatus.CREATED, preview__done=False),
        now,
        retry=lambda job: enqueue_on_commit(tasks.import_preview, job.pk),
        give_up=lambda job: {
            "preview": {
                **(job.preview or {}),
                "done": True,
                "error": "The check of this file stopped; upload it again.",
            }
        },
    )
