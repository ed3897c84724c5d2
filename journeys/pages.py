"""Journey pages: the list and the editor (a React Flow canvas island, static/journeys/editor.js,
built from journeys/editor/) with the journey's outline — the same graph as a server-rendered list,
for screen readers, keyboard users and review before publishing.

The editor saves through the JSON views in journeys.views, which call the definition service
(journeys.journeys). Every lookup starts from `request.project`: another project's journey is a 404.
"""

import json
from collections import deque
from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db.models import F
from django.http import Http404, HttpRequest, HttpResponse
from django.middleware.csrf import get_token
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.views.decorators.http import require_GET

from campaigns.models import MessageTemplate, TemplateType, TemplateVersion
from engage.api.errors import BadRequest
from engage.api.paging import paginate
from journeys.definition.values import TIMEZONES
from journeys.models import Journey, JourneyState
from projects.middleware import project_required
from projects.models import WRITE_ROLES, Project

PAGE_SIZE = 50
TEMPLATES_LISTED = 500  # per type, in the editor's template picker
STATE_LABELS = {
    JourneyState.DRAFT: "Draft",
    JourneyState.ACTIVE: "Active",
    JourneyState.PAUSED: "Paused",
    JourneyState.COMPLETED: "Completed",
    JourneyState.CANCELLED: "Cancelled",
    JourneyState.CLOSED: "Closed",
}
ACTIVITY_LABELS = {
    "EMAIL": "Email",
    "SMS": "SMS",
    "PUSH": "Push",
    "CUSTOM": "Custom",
    "Wait": "Wait",
    "ConditionalSplit": "Yes/no split",
    "MultiCondition": "Multivariate split",
    "RandomSplit": "Random split",
    "Holdout": "Holdout",
    "ContactCenter": "Contact center",
}
METRICS_PLACEHOLDER = "Metrics appear on the activities once the journey is published and the engine runs."


def journey_of(project: Project, journey_id: str) -> Journey:
    if "\x00" in journey_id:
        raise Http404("No journey id holds NUL.")
    return get_object_or_404(project.journeys.all(), pk=journey_id)


def can_edit(project: Project) -> bool:
    return project.role in WRITE_ROLES


def entry_text(definition: dict[str, Any], segment_names: dict[str, str]) -> str:
    """How participants enter, in words."""
    start = definition.get("StartCondition") or {}
    segment = (start.get("SegmentStartCondition") or {}).get("SegmentId")
    if segment:
        return f"Segment “{segment_names.get(segment, segment)}”"
    event = start.get("EventStartCondition") or {}
    if event:
        kinds = (((event.get("EventFilter") or {}).get("Dimensions") or {}).get("EventType") or {}).get("Values") or []
        text = f"Event {' or '.join(kinds) or '(none chosen)'}"
        if event.get("SegmentId"):
            text += f" in segment “{segment_names.get(event['SegmentId'], event['SegmentId'])}”"
        return text
    return "Not set"


def _segment_names(project: Project) -> dict[str, str]:
    return {pk: name or pk for pk, name in project.segments.values_list("id", "name")}


@login_required
@require_GET
@project_required
def journey_list(request: HttpRequest) -> HttpResponse:
    project = request.project
    order = ("creation_date", "id")
    listing = project.journeys.all()
    try:
        page, next_token = paginate(listing, page_size=str(PAGE_SIZE), token=request.GET.get("after"), order=order)
    except BadRequest:  # a cursor mangled by hand: start over
        page, next_token = paginate(listing, page_size=str(PAGE_SIZE), token=None, order=order)
    names = _segment_names(project) if page else {}
    rows = [
        {
            "journey": journey,
            "state_label": STATE_LABELS.get(journey.state, journey.state),
            "entry": entry_text(journey.definition, names),
            "start": journey.start_time or (journey.definition.get("Schedule") or {}).get("StartTime") or "",
        }
        for journey in page
    ]
    return render(
        request,
        "journeys/journeys.html",
        {
            "project": project,
            "rows": rows,
            "next_token": next_token,
            "paged": bool(request.GET.get("after")),
            "can_edit": can_edit(project),
        },
    )


def activity_kind(activity: dict[str, Any]) -> str:
    return next((kind for kind in ACTIVITY_LABELS if activity.get(kind) is not None), "")


def outputs(kind: str, members: dict[str, Any]) -> list[tuple[str, str]]:
    """(label, next activity id or "") of each way out of an activity, in the canvas's order."""
    if kind == "ConditionalSplit":
        return [("Yes", members.get("TrueActivity") or ""), ("No", members.get("FalseActivity") or "")]
    branches = [b for b in members.get("Branches") or [] if isinstance(b, dict)]
    if kind == "MultiCondition":
        found = [(f"Branch {i}", b.get("NextActivity") or "") for i, b in enumerate(branches, 1)]
        return [*found, ("Else", members.get("DefaultActivity") or "")]
    if kind == "RandomSplit":
        return [
            (f"Path {i} ({b.get('Percentage', '?')}%)", b.get("NextActivity") or "") for i, b in enumerate(branches, 1)
        ]
    return [("Then", members.get("NextActivity") or "")]


def _wait_text(wait: dict[str, Any]) -> str:
    if wait.get("WaitFor"):
        return f"for {wait['WaitFor']}"
    if wait.get("WaitUntil"):
        return f"until {wait['WaitUntil']}"
    return "immediately"


def _condition_text(condition: dict[str, Any], segment_names: dict[str, str]) -> str:
    if condition.get("SegmentCondition"):
        segment = condition["SegmentCondition"].get("SegmentId", "")
        return f"is in segment “{segment_names.get(segment, segment)}”"
    if condition.get("EventCondition"):
        event = condition["EventCondition"]
        kinds = ((event.get("Dimensions") or {}).get("EventType") or {}).get("Values") or []
        return f"{' or '.join(kinds) or 'an event'} of activity {event.get('MessageActivity') or '?'}"
    if condition.get("segmentDimensions"):
        attributes = (condition["segmentDimensions"].get("Attributes") or {}).items()
        texts = [
            f"attribute {name} {spec.get('AttributeType', 'INCLUSIVE').lower()} {', '.join(spec.get('Values') or [])}"
            for name, spec in attributes
        ]
        return "; ".join(texts) or "endpoint dimensions"
    return "(no condition)"


def activity_text(kind: str, members: dict[str, Any], segment_names: dict[str, str]) -> list[str]:
    """An activity's settings in a few lines (the outline's description of it)."""
    if kind in ("EMAIL", "SMS", "PUSH"):
        if not members.get("TemplateName"):
            return ["No template chosen."]
        version = f"version {members['TemplateVersion']}" if members.get("TemplateVersion") else "the active version"
        return [f"Template “{members['TemplateName']}”, {version}."]
    if kind == "CUSTOM":
        return [f"Delivered to {members.get('DeliveryUri') or '(no URI)'}."]
    if kind == "Wait":
        return [f"Waits {_wait_text(members.get('WaitTime') or {})}."]
    if kind == "Holdout":
        return [f"Holds out {members.get('Percentage', '?')}% of participants (they leave the journey)."]
    if kind == "ConditionalSplit":
        condition = members.get("Condition") or {}
        joined = " and " if condition.get("Operator", "ALL") == "ALL" else " or "
        texts = [_condition_text(c, segment_names) for c in condition.get("Conditions") or [] if isinstance(c, dict)]
        lines = [f"Yes when {joined.join(texts) or '(no condition)'}."]
        if members.get("EvaluationWaitTime"):
            lines.append(f"Evaluated {_wait_text(members['EvaluationWaitTime'])}.")
        return lines
    if kind == "MultiCondition":
        branches = [b for b in members.get("Branches") or [] if isinstance(b, dict)]
        lines = [
            f"Branch {i}: {_condition_text(b.get('Condition') or {}, segment_names)}."
            for i, b in enumerate(branches, 1)
        ]
        if members.get("EvaluationWaitTime"):
            lines.append(f"Evaluated {_wait_text(members['EvaluationWaitTime'])}.")
        return lines
    if kind == "RandomSplit":
        return ["Sends each participant down one path at random."]
    if kind == "ContactCenter":
        return ["Amazon Connect calls are not supported by Engage."]
    return ["An activity type Engage does not know."]


def outline(definition: dict[str, Any], segment_names: dict[str, str]) -> list[dict[str, Any]]:
    """The activities in reading order: breadth-first from StartActivity, then those not reached."""
    activities = definition.get("Activities") or {}
    order: list[str] = []
    queue = deque([definition.get("StartActivity")] if definition.get("StartActivity") in activities else [])
    while queue:
        activity_id = queue.popleft()
        if activity_id in order:
            continue
        order.append(activity_id)
        activity = activities[activity_id] or {}
        kind = activity_kind(activity)
        for _label, target in outputs(kind, activity.get(kind) or {}):
            if target in activities and target not in order:
                queue.append(target)
    rows = []
    for activity_id in [*order, *(a for a in activities if a not in order)]:
        activity = activities[activity_id] if isinstance(activities[activity_id], dict) else {}
        kind = activity_kind(activity)
        members = activity.get(kind) or {}
        rows.append(
            {
                "id": activity_id,
                "label": ACTIVITY_LABELS.get(kind, "Unknown"),
                "description": activity.get("Description", ""),
                "text": activity_text(kind, members, segment_names),
                "outputs": [(label, target, target in activities) for label, target in outputs(kind, members)],
                "reached": activity_id in order,
            }
        )
    return rows


def _preview(template_type: str, content: dict[str, Any]) -> tuple[str, str]:
    if template_type == TemplateType.EMAIL:
        return content.get("Subject", ""), (content.get("TextPart") or content.get("HtmlPart") or "")[:300]
    if template_type == TemplateType.SMS:
        return "", (content.get("Body") or "")[:300]
    default = content.get("Default") or content.get("DefaultMessage") or {}
    return default.get("Title", ""), (default.get("Body") or "")[:300]


def template_choices() -> dict[str, list[dict[str, Any]]]:
    """Message templates per type with their active version's subject and start: the picker's list."""
    types = (TemplateType.EMAIL, TemplateType.SMS, TemplateType.PUSH)
    choices: dict[str, list[dict[str, Any]]] = {t: [] for t in types}
    templates = {}
    for template_type in types:
        listed = MessageTemplate.objects.filter(template_type=template_type).order_by("name")[:TEMPLATES_LISTED]
        templates.update({t.pk: t for t in listed})
    active = TemplateVersion.objects.filter(template_id__in=list(templates), version=F("template__active_version"))
    contents = {v.template_id: v.content for v in active}
    for template in sorted(templates.values(), key=lambda t: t.name):
        subject, body = _preview(template.template_type, contents.get(template.pk) or {})
        choices[template.template_type].append(
            {"name": template.name, "version": template.active_version, "subject": subject, "body": body}
        )
    return choices


def _editor(request: HttpRequest, journey: Journey | None) -> HttpResponse:
    project = request.project
    names = _segment_names(project)
    definition = journey.definition if journey else {}
    urls = {"save": reverse("journeys:journey_create")}
    if journey:
        urls = {
            "save": reverse("journeys:journey_save", args=[journey.pk]),
            "state": reverse("journeys:journey_state", args=[journey.pk]),
            "metrics": reverse("journeys:journey_metrics", args=[journey.pk]),
        }
    data = {
        "journeyId": journey.pk if journey else None,
        "definition": definition,
        "layout": journey.layout if journey else {},
        "state": journey.state if journey else JourneyState.DRAFT,
        "canEdit": can_edit(project),
        "templates": template_choices(),
        "segments": [{"id": pk, "name": name} for pk, name in sorted(names.items(), key=lambda item: item[1])],
        "urls": urls,
        "csrfToken": get_token(request),
        "timezones": list(TIMEZONES),  # Schedule.Timezone's choices in the Journey settings panel
        "metricsNote": METRICS_PLACEHOLDER if journey and journey.state != JourneyState.DRAFT else "",
    }
    return render(
        request,
        "journeys/journey_editor.html",
        {
            "project": project,
            "journey": journey,
            "state_label": STATE_LABELS.get(journey.state, journey.state) if journey else "New",
            "editor_data": data,
            "definition_json": json.dumps(definition, indent=2, ensure_ascii=False, sort_keys=True),
            "entry": entry_text(definition, names),
            "outline": outline(definition, names),
            "can_edit": can_edit(project),
        },
    )


@login_required
@require_GET
@project_required
def journey_new(request: HttpRequest) -> HttpResponse:
    if not can_edit(request.project):
        raise PermissionDenied("Creating journeys needs the owner or editor role.")
    return _editor(request, None)


@login_required
@require_GET
@project_required
def journey_editor(request: HttpRequest, journey_id: str) -> HttpResponse:
    return _editor(request, journey_of(request.project, journey_id))
