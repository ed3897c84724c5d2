"""The journey editor's JSON views (session authentication + CSRF, like every page form).

Save: POST {"definition": WriteJourneyRequest, "layout": {activity id: {x, y}}} → the definition
service (journey_create / journey_update), answering {"id", "url", "state"} or
{"errors": [[activity id or "", message], ...]} with 400 (invalid) or 409 (not allowed now).
State: POST {"State": ACTIVE | PAUSED | CANCELLED} → journey_set_state.
Metrics: GET → per-activity figures for the canvas, from the engine's execution metrics (a draft
has none yet: the answer says when they appear).
"""

import json
from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, JsonResponse
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from journeys import journeys as service
from journeys.definition import MEMBERS
from journeys.engine import journey_activity_metrics
from journeys.models import Journey, JourneyState
from journeys.pages import METRICS_PLACEHOLDER, journey_of
from projects.middleware import project_required

MAX_BODY = 1_000_000  # bytes: 40 activities with their conditions are a few kB


def _problem(errors: list[tuple[str, str]] | list[list[str]], status: int) -> JsonResponse:
    return JsonResponse({"errors": [[activity, message] for activity, message in errors]}, status=status)


def _body(request: HttpRequest) -> dict[str, Any] | None:
    if len(request.body) > MAX_BODY:
        return None
    try:
        body = json.loads(request.body)
    except (ValueError, UnicodeDecodeError):
        return None
    return body if isinstance(body, dict) else None


def _layout(raw: object) -> dict[str, dict[str, float]] | None:
    """The canvas positions: {key: {"x": number, "y": number}}; anything else is refused."""
    if not isinstance(raw, dict):
        return None
    layout = {}
    for key, point in raw.items():
        if not isinstance(key, str) or len(key) > 128 or not isinstance(point, dict):
            return None
        x, y = point.get("x"), point.get("y")
        if not all(isinstance(v, int | float) and not isinstance(v, bool) and abs(v) < 1e7 for v in (x, y)):
            return None
        layout[key] = {"x": x, "y": y}
    return layout


def _saved(journey: Journey) -> JsonResponse:
    return JsonResponse(
        {"id": journey.pk, "url": reverse("journeys:journey", args=[journey.pk]), "state": journey.state}
    )


@login_required
@require_POST
@project_required
def journey_save(request: HttpRequest, journey_id: str | None = None) -> JsonResponse:
    body = _body(request)
    if body is None or not isinstance(body.get("definition"), dict):
        return _problem([("", 'Send a JSON object: {"definition": {...}, "layout": {...}}.')], 400)
    layout = _layout(body.get("layout") or {})
    if layout is None:
        return _problem([("", "layout must map activity ids to {x, y} numbers.")], 400)
    # The editor sends the whole journey: a member it leaves out is removed (None), not kept.
    definition = {member: body["definition"].get(member) for member in MEMBERS}
    definition.pop("State", None)
    try:
        if journey_id is None:
            created = {m: v for m, v in definition.items() if v is not None}
            journey = service.journey_create(request.project, created, user=request.user, layout=layout)
        else:
            journey = journey_of(request.project, journey_id)
            journey = service.journey_update(journey, definition, user=request.user, layout=layout)
    except service.JourneyInvalid as invalid:
        return _problem(invalid.errors, 400)
    except service.JourneyConflict as conflict:
        return _problem([("", str(conflict))], 409)
    return _saved(journey)


@login_required
@require_POST
@project_required
def journey_state(request: HttpRequest, journey_id: str) -> JsonResponse:
    journey = journey_of(request.project, journey_id)
    body = _body(request)
    state = body.get("State") if body else None
    if state not in ("ACTIVE", "PAUSED", "CANCELLED"):
        return _problem([("", "State must be ACTIVE, PAUSED or CANCELLED.")], 400)
    try:
        journey = service.journey_set_state(journey, state, user=request.user)
    except service.JourneyInvalid as invalid:
        return _problem(invalid.errors, 400)
    except service.JourneyConflict as conflict:
        return _problem([("", str(conflict))], 409)
    return _saved(journey)


OUTBOX_METRICS = ("SENT", "PENDING", "PERMANENT_FAILURE", "UNKNOWN_FAILURE")  # what SUCCESS rows became


def canvas_figures(activity: dict[str, Any], response: dict[str, Any]) -> dict[str, Any]:
    """An activity's execution metrics (journeys.engine's Metrics map) as the canvas shows them:
    entered (passed through or in it now), waiting (in it now), sent and failed for messages, and
    for splits the count per branch keyed by the node's handle (true/false, b0.., default)."""
    metrics = {name: int(value) for name, value in (response.get("Metrics") or {}).items()}
    figures: dict[str, Any] = {
        "entered": sum(n for name, n in metrics.items() if name not in OUTBOX_METRICS),
        "waiting": metrics.get("ACTIVE", 0),
    }
    if response.get("ActivityType") == "MESSAGE":
        figures["sent"] = metrics.get("SENT", 0)
        figures["failed"] = sum(metrics.get(n, 0) for n in ("FAILURE", "PERMANENT_FAILURE", "UNKNOWN_FAILURE"))
    kind = next((k for k in ("ConditionalSplit", "MultiCondition", "RandomSplit") if activity.get(k)), "")
    if kind:
        count = len(activity[kind].get("Branches") or []) if kind != "ConditionalSplit" else 0
        handles = ["true", "false"] if kind == "ConditionalSplit" else [f"b{i}" for i in range(count)]
        if kind == "MultiCondition":
            handles.append("default")
        figures["branches"] = {handle: metrics.get(f"Branch_{i}", 0) for i, handle in enumerate(handles, 1)}
    return figures


@login_required
@require_GET
@project_required
def journey_metrics(request: HttpRequest, journey_id: str) -> JsonResponse:
    """Per-activity figures for the canvas: {"available", "message", "activities": {id: {...}}}."""
    journey = journey_of(request.project, journey_id)
    if journey.state == JourneyState.DRAFT:
        return JsonResponse({"available": False, "message": METRICS_PLACEHOLDER, "activities": {}})
    activities = {
        activity_id: canvas_figures(activity or {}, journey_activity_metrics(journey, activity_id))
        for activity_id, activity in (journey.definition.get("Activities") or {}).items()
    }
    return JsonResponse({"available": True, "message": "", "activities": activities})
