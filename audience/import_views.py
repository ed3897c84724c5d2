"""The import and export pages of the Audience: upload a file, check it (a dry run that writes
nothing), confirm, watch it run, download the rows it refused; download an export.

Each view parses input, calls one service from audience.imports or audience.exports, and renders.
Jobs are looked up from the current project only; writing needs an editor or owner
(project_required turns a viewer's POST into 403).
"""

import csv
import io
from collections.abc import Iterator

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from audience.exports import export_download
from audience.import_forms import ImportUploadForm, too_large_message, upload_max_bytes
from audience.imports import ImportRequestInvalid, import_job_cancel, import_job_confirm, import_upload_create
from audience.models import ImportFailure, ImportJob, Segment, SegmentType
from engage.csv_export import csv_cell
from projects.middleware import project_required
from projects.models import WRITE_ROLES

RECENT_JOBS = 20
FORM_OVERHEAD = 64 * 1024  # the multipart framing and the other fields around the file
FAILURES_PAGE = 2000


def _job(request: HttpRequest, job_id: str) -> ImportJob:
    job = ImportJob.objects.for_project(request.project).filter(pk=job_id).select_related("segment").first()
    if job is None:
        raise Http404("No such import in this project.")
    return job


@login_required
@require_http_methods(["GET", "POST"])
@project_required
def imports(request: HttpRequest) -> HttpResponse:
    project = request.project
    status = 200
    if request.method == "POST" and int(request.META.get("CONTENT_LENGTH") or 0) > upload_max_bytes() + FORM_OVERHEAD:
        # Refused from its announced length, before a byte of the body is read or stored.
        messages.error(request, too_large_message())
        form, status = ImportUploadForm(), 413
    else:
        form = ImportUploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and status == 200 and form.is_valid():
        try:
            job = import_upload_create(
                project,
                upload=form.cleaned_data["file"],
                format=form.cleaned_data["format"],
                define_segment=form.cleaned_data["define_segment"],
                segment_name=form.cleaned_data["segment_name"],
                user=request.user,
            )
        except ImportRequestInvalid as error:
            form.add_error(None, str(error))
        else:
            return redirect("audience:import_job", job_id=job.pk)
    return render(
        request,
        "audience/imports.html",
        {
            "project": project,
            "form": form,
            "can_write": project.role in WRITE_ROLES,
            "jobs": ImportJob.objects.for_project(project).order_by("-creation_date", "-id")[:RECENT_JOBS],
            "segments": Segment.objects.filter(project=project, segment_type=SegmentType.IMPORT).order_by("name"),
        },
        status=status,
    )


def _progress(job: ImportJob) -> int:
    """Percent of the job's bytes read (the dry run's, before it is confirmed)."""
    if job.finished:
        return 100
    total = sum(f.get("size", 0) for f in job.files) or 0
    if not job.confirmed:
        size = job.files[0]["size"] if job.files else 0
        offset = (job.preview or {}).get("offset", 0)
        return min(99, int(100 * offset / size)) if size else 0
    done = sum(f.get("size", 0) for f in job.files[: job.file_index]) + job.file_offset
    return min(99, int(100 * done / total)) if total else 0


@login_required
@require_GET
@project_required
def import_job(request: HttpRequest, job_id: str) -> HttpResponse:
    job = _job(request, job_id)
    preview = job.preview or {}
    checking = not job.confirmed and not preview.get("done")
    running = job.confirmed and not job.finished
    return render(
        request,
        "audience/import_job.html",
        {
            "project": request.project,
            "job": job,
            "preview": preview,
            "checking": checking,
            "running": running,
            "refresh": checking or running,
            "progress": _progress(job),
            "can_write": request.project.role in WRITE_ROLES,
            "has_failures": job.total_failures > 0 or bool(preview.get("invalid")),
        },
    )


@login_required
@require_POST
@project_required
def import_confirm(request: HttpRequest, job_id: str) -> HttpResponse:
    job = _job(request, job_id)
    if (job.preview or {}).get("error"):
        messages.error(request, "This file cannot be imported; upload a corrected one.")
    else:
        try:
            if import_job_confirm(job):
                messages.success(request, "Import started. Rows are written in chunks; this page follows its progress.")
        except ImportRequestInvalid as error:
            messages.error(request, str(error))
    return redirect("audience:import_job", job_id=job.pk)


@login_required
@require_POST
@project_required
def import_cancel(request: HttpRequest, job_id: str) -> HttpResponse:
    job = _job(request, job_id)
    if import_job_cancel(job):
        messages.success(request, "Import cancelled; nothing was written.")
        return redirect("audience:import")
    messages.error(request, "This import has already started.")
    return redirect("audience:import_job", job_id=job.pk)


def _csv_rows(job: ImportJob) -> Iterator[str]:
    buffer = io.StringIO()
    out = csv.writer(buffer)
    out.writerow(["File", "Line", "Reason", "Row"])
    last = 0
    while True:
        page = list(
            ImportFailure.objects.filter(job=job, id__gt=last)
            .order_by("id")
            .values_list("id", "file", "line", "reason", "row")[:FAILURES_PAGE]
        )
        for failure_id, file, line, reason, row in page:
            out.writerow([csv_cell(cell) for cell in (file, line, reason, row)])
            last = failure_id
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        if len(page) < FAILURES_PAGE:
            return


def _preview_rows(job: ImportJob) -> Iterator[str]:
    buffer = io.StringIO()
    out = csv.writer(buffer)
    out.writerow(["File", "Line", "Reason"])
    name = job.s3_url.removeprefix("upload://")
    for reason in (job.preview or {}).get("reasons", []):
        out.writerow([csv_cell(cell) for cell in (name, reason["line"], reason["reason"])])
    yield buffer.getvalue()


@login_required
@require_GET
@project_required
def import_failures(request: HttpRequest, job_id: str) -> StreamingHttpResponse:
    """The rows an import refused, as CSV (File, Line, Reason, Row); before it ran, the dry run's
    first 100 reasons."""
    job = _job(request, job_id)
    rows = _csv_rows(job) if job.confirmed else _preview_rows(job)
    response = StreamingHttpResponse(rows, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="import-{job.pk}-failed-rows.csv"'
    return response


@login_required
@require_GET
@project_required
def export_endpoints(request: HttpRequest) -> StreamingHttpResponse:
    """Every endpoint of the project (or of one imported segment, ?segment=<id>) as gzip
    newline-delimited EndpointResponse JSON, the format of CreateExportJob, streamed."""
    project = request.project
    segment = None
    if request.GET.get("segment"):
        segment = Segment.objects.filter(project=project, pk=request.GET["segment"]).first()
        if segment is None or segment.segment_type != SegmentType.IMPORT:
            raise Http404("No such imported segment in this project.")
    name = f"endpoints-{project.pk}{f'-{segment.pk}' if segment else ''}-{timezone.now():%Y%m%d-%H%M%S}.jsonl.gz"
    response = StreamingHttpResponse(export_download(project, segment=segment), content_type="application/gzip")
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response
