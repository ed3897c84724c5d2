"""Segment pages: the list, the builder (htmx fragments for its structure and the live estimate),
an imported segment's page, and deletion.

Form data ↔ definition is audience.segment_forms; sizes and writes are audience.segments. Every
lookup starts from `request.project`; another project's segment is a 404.
"""

import json
import time
from dataclasses import dataclass
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db.models import Prefetch
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from audience.compiler import SegmentInvalid
from audience.models import AttributeDefinition, AttributeKind, ChannelType, Endpoint, ImportJob, Segment, SegmentType
from audience.segment_forms import (
    DURATIONS,
    GROUP_TYPES,
    INCLUDE_CHOICES,
    KINDS,
    SOURCE_TYPES,
    Builder,
    BuilderInvalid,
    BuilderUnsupported,
    Group,
    builder_change,
    builder_from_definition,
    builder_from_form,
    builder_rows,
    definition_from_builder,
)
from audience.segments import (
    Estimate,
    definition_of,
    estimate,
    sample_members,
    segment_create,
    segment_delete,
    segment_update,
)
from engage.api.errors import BadRequest
from engage.api.paging import paginate
from projects.middleware import project_required
from projects.models import WRITE_ROLES, Project

PAGE_SIZE = 50
SAMPLE_SIZE = 10
NAME_MAX = 256
CONFLICT = (
    "Someone saved this segment while you were editing; it is now version {version}. "
    "Your changes are below, not saved. Save again to replace that version with them."
)


def _segment(project: Project, segment_id: str) -> Segment:
    if "\x00" in segment_id:
        raise Http404("No segment id holds NUL.")
    return get_object_or_404(project.segments, pk=segment_id)


def _can_edit(project: Project) -> bool:
    return project.role in WRITE_ROLES


def _members_definition(segment: Segment) -> dict[str, Any]:
    """A definition whose members are the segment's: what an imported segment's size is counted by."""
    return {"SegmentGroups": {"Include": "ALL", "Groups": [{"SourceSegments": [{"Id": segment.pk}]}]}}


@login_required
@require_GET
@project_required
def segments(request: HttpRequest) -> HttpResponse:
    project = request.project
    listing = project.segments.prefetch_related(
        Prefetch("import_jobs", queryset=ImportJob.objects.order_by("-creation_date", "-id"))
    )
    try:
        page, next_token = paginate(
            listing, page_size=str(PAGE_SIZE), token=request.GET.get("after"), order=("creation_date", "id")
        )
    except BadRequest:  # a cursor mangled by hand: start over
        page, next_token = paginate(listing, page_size=str(PAGE_SIZE), token=None, order=("creation_date", "id"))
    return render(
        request,
        "audience/segments.html",
        {
            "project": project,
            "segments": page,
            "next_token": next_token,
            "paged": bool(request.GET.get("after")),
            "can_edit": _can_edit(project),
        },
    )


@login_required
@require_GET
@project_required
def segment_size(request: HttpRequest, segment_id: str) -> HttpResponse:
    """One row's size on the list, loaded lazily (one count per segment)."""
    project = request.project
    segment = _segment(project, segment_id)
    definition = _members_definition(segment) if segment.segment_type == SegmentType.IMPORT else definition_of(segment)
    try:
        size, error = estimate(project, definition), ""
    except SegmentInvalid as invalid:
        size, error = None, str(invalid)
    return render(request, "audience/segment_size.html", {"segment": segment, "size": size, "error": error})


@dataclass
class Panel:
    """What the estimate panel shows: counts and a sample, or why there are none."""

    definition_json: str = ""
    error: str = ""
    size: Estimate | None = None
    sample: list[Endpoint] | None = None
    milliseconds: int = 0


def _panel(project: Project, builder: Builder, name: str, *, exact: bool = False) -> Panel:
    try:
        definition = definition_from_builder(builder)
    except BuilderInvalid as invalid:
        return Panel(error=str(invalid))
    panel = Panel(definition_json=json.dumps({"Name": name, **definition}, indent=2))
    started = time.perf_counter()
    try:
        panel.size = estimate(project, definition, exact=exact)
        if panel.size.total:
            panel.sample = sample_members(project, definition, limit=SAMPLE_SIZE)
    except SegmentInvalid as invalid:
        panel.error, panel.size = str(invalid), None
    panel.milliseconds = round((time.perf_counter() - started) * 1000)
    return panel


def _source_options(available: list[Segment], group: Group) -> list[dict[str, Any]]:
    """Checkboxes for a group's base segments: the project's segments, a pinned version kept as chosen."""
    chosen = list(group.sources)
    options = []
    for segment in available:
        pinned = next((s for s in chosen if s.startswith(f"{segment.pk}@")), None)
        value = pinned or segment.pk
        options.append(
            {
                "value": value,
                "segment": segment,
                "version": pinned.partition("@")[2] if pinned else "",
                "checked": value in chosen,
            }
        )
    known = {option["value"] for option in options}
    # Whatever else was posted stays visible and checked, so saving it fails with the compiler's message.
    options.extend({"value": s, "segment": None, "version": "", "checked": True} for s in chosen if s not in known)
    return options


def _builder_context(
    request: HttpRequest, builder: Builder, *, name: str, segment: Segment | None, error: str = ""
) -> dict[str, Any]:
    project = request.project
    available = list(
        project.segments.exclude(pk=segment.pk if segment else None)
        .order_by("name", "id")
        .only("id", "name", "segment_type", "version")
    )
    names: dict[str, list[str]] = {kind: [] for kind in AttributeKind.values}
    for kind, attribute in (
        AttributeDefinition.objects.filter(project=project, removed_at__isnull=True)
        .order_by("name")
        .values_list("kind", "name")
    ):
        names[kind].append(attribute)
    rows = builder_rows(builder)
    return {
        "project": project,
        "segment": segment,
        "name": name,
        "error": error,
        "can_edit": _can_edit(project),
        "builder": builder,
        "groups": [(row, _source_options(available, row.group)) for row in rows],
        "panel": _panel(project, builder, name),
        "kinds": KINDS,
        "include_choices": INCLUDE_CHOICES,
        "group_types": GROUP_TYPES,
        "source_types": SOURCE_TYPES,
        "durations": DURATIONS,
        "channels": ChannelType.values,
        "attribute_names": names[AttributeKind.CUSTOM],
        "user_attribute_names": names[AttributeKind.USER],
        "metric_names": names[AttributeKind.METRIC],
    }


def _save(request: HttpRequest, segment: Segment | None) -> tuple[Segment | None, str]:
    """Create or update from the posted builder: (saved segment, "") or (None, why not)."""
    name = request.POST.get("name", "").strip()
    if not name:
        return None, "Give the segment a name."
    if len(name) > NAME_MAX:
        return None, f"The name can have at most {NAME_MAX} characters."
    try:
        groups = definition_from_builder(builder_from_form(request.POST))["SegmentGroups"]
        if segment is None:
            return segment_create(request.project, name=name, groups=groups), ""
        return segment_update(segment, name=name, groups=groups), ""
    except (BuilderInvalid, SegmentInvalid) as invalid:
        return None, str(invalid)


def _builder_page(request: HttpRequest, segment: Segment | None) -> HttpResponse:
    if request.method == "POST":
        # The form carries the version the editor started from: a save over a newer one is refused.
        if segment is not None and request.POST.get("version") != str(segment.version):
            saved, error = None, CONFLICT.format(version=segment.version)
        else:
            saved, error = _save(request, segment)
        if saved is not None:
            messages.success(request, f"Segment “{saved.name}” saved as version {saved.version}.")
            return redirect("audience:segments")
        builder, name = builder_from_form(request.POST), request.POST.get("name", "")
    elif segment is None:
        builder, name, error = Builder(), "", ""
    else:
        try:
            builder, name, error = builder_from_definition(definition_of(segment)), segment.name, ""
        except BuilderUnsupported as unsupported:
            return render(
                request,
                "audience/segment_unsupported.html",
                {
                    "project": request.project,
                    "segment": segment,
                    "reason": str(unsupported),
                    "definition_json": json.dumps({"Name": segment.name, **definition_of(segment)}, indent=2),
                },
            )
    context = _builder_context(request, builder, name=name, segment=segment, error=error)
    return render(request, "audience/segment_builder.html", context)


@login_required
@require_http_methods(["GET", "POST"])
@project_required
def segment_new(request: HttpRequest) -> HttpResponse:
    if not _can_edit(request.project):
        raise PermissionDenied("Your role in this project does not allow changes.")
    return _builder_page(request, None)


@login_required
@require_http_methods(["GET", "POST"])
@project_required
def segment_detail(request: HttpRequest, segment_id: str) -> HttpResponse:
    """A dynamic segment's builder, or an imported segment's page (rename only)."""
    segment = _segment(request.project, segment_id)
    if segment.segment_type == SegmentType.IMPORT:
        return _imported_page(request, segment)
    return _builder_page(request, segment)


@login_required
@require_POST
@project_required
def segment_estimate(request: HttpRequest) -> HttpResponse:
    """The estimate panel for the posted builder (debounced by the page)."""
    builder = builder_from_form(request.POST)
    panel = _panel(request.project, builder, request.POST.get("name", "").strip(), exact="exact" in request.POST)
    return render(request, "audience/segment_estimate.html", {"panel": panel, "can_edit": True})


@login_required
@require_POST
@project_required
def segment_builder(request: HttpRequest) -> HttpResponse:
    """The groups after one structural change (add/remove a criterion or group), and the new estimate."""
    segment_id = request.POST.get("segment", "")
    segment = _segment(request.project, segment_id) if segment_id else None
    builder = builder_change(request.POST)
    context = _builder_context(request, builder, name=request.POST.get("name", "").strip(), segment=segment)
    return render(request, "audience/segment_builder_change.html", context)


def _imported_page(request: HttpRequest, segment: Segment) -> HttpResponse:
    error = ""
    if request.method == "POST":
        name = request.POST.get("name", "").strip()
        if not name or len(name) > NAME_MAX:
            error = f"Give the segment a name of 1 to {NAME_MAX} characters."
        else:
            try:
                saved = segment_update(segment, name=name)
            except SegmentInvalid as invalid:
                error = str(invalid)
            else:
                messages.success(request, f"Segment “{saved.name}” renamed (version {saved.version}).")
                return redirect("audience:segments")
    try:
        size, size_error = estimate(request.project, _members_definition(segment)), ""
    except SegmentInvalid as invalid:
        size, size_error = None, str(invalid)
    return render(
        request,
        "audience/segment_imported.html",
        {
            "project": request.project,
            "segment": segment,
            "name": request.POST.get("name", segment.name) if error else segment.name,
            "error": error,
            "can_edit": _can_edit(request.project),
            "size": size,
            "size_error": size_error,
            "jobs": list(segment.import_jobs.order_by("-creation_date", "-id")),
            "channel_counts": sorted(segment.import_channel_counts.items()),
        },
    )


def _uses(definition: dict | None, segment_id: str) -> bool:
    groups = (definition or {}).get("Groups") or []
    return any(ref.get("Id") == segment_id for group in groups for ref in group.get("SourceSegments") or [])


@login_required
@require_http_methods(["GET", "POST"])
@project_required
def segment_delete_page(request: HttpRequest, segment_id: str) -> HttpResponse:
    project = request.project
    if not _can_edit(project):
        raise PermissionDenied("Your role in this project does not allow changes.")
    segment = _segment(project, segment_id)
    if request.method == "POST":
        segment_delete(segment)
        messages.success(request, f"Segment “{segment}” deleted.")
        return redirect("audience:segments")
    # Segments that use it as a base segment would stop resolving; a project has few segments.
    dependents = [
        other
        for other in project.segments.exclude(pk=segment.pk).filter(segment_type=SegmentType.DIMENSIONAL)
        if _uses(other.segment_groups, segment.pk)
    ]
    return render(
        request, "audience/segment_delete.html", {"project": project, "segment": segment, "dependents": dependents}
    )
