"""The campaign wizard, Pinpoint's five steps: details and type → segment (live size, holdout and
A/B shares) → a message per treatment (template or inline, with a rendered preview) → schedule →
review and launch.

Each step's submitted fields are kept in the session, per project, until the campaign is launched;
the steps can be revisited in any order once reached. Launching builds the WriteCampaignRequest
(campaigns.campaign_forms.write_request) and calls campaigns.campaigns.campaign_create — the same
service CreateCampaign uses — and shows a CampaignInvalid message on the step it concerns.
"""

import json
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from audience import segment_pages
from audience.models import Endpoint
from campaigns import templates as template_service
from campaigns.campaign_forms import (
    CHANNELS,
    STEP_TITLES,
    STEPS,
    TREATMENT_LETTERS,
    DetailsForm,
    ScheduleForm,
    SegmentForm,
    TreatmentForm,
    forms_bound,
    step_of_problem,
    write_request,
)
from campaigns.campaign_pages import can_edit, message_text, schedule_text
from campaigns.campaigns import CampaignInvalid, campaign_create
from campaigns.template_pages import _endpoint_context, render_preview
from projects.middleware import project_required
from projects.models import Project

SESSION_KEY = "campaign_wizard"
ENDPOINT_CHOICES = 50


def _state(request: HttpRequest) -> dict[str, dict[str, str]]:
    return dict(request.session.get(SESSION_KEY, {}).get(request.project.pk, {}))


def _store(request: HttpRequest, state: dict[str, dict[str, str]] | None) -> None:
    everything = dict(request.session.get(SESSION_KEY, {}))
    if state is None:
        everything.pop(request.project.pk, None)
    else:
        everything[request.project.pk] = state
    request.session[SESSION_KEY] = everything


def _segments(project: Project) -> list[tuple[str, str]]:
    return [(pk, name or pk) for pk, name in project.segments.order_by("name", "id").values_list("id", "name")]


def _valid(bound: dict[str, Any], step: str) -> bool:
    form = bound.get(step)
    if form is None:
        return False
    if isinstance(form, list):
        return all(f.is_valid() for f in form)
    return form.is_valid()


def _step_url(step: str) -> str:
    return reverse("campaigns:wizard_step", args=[step])


def _forms_for(step: str, bound: dict[str, Any], project: Project, data: dict[str, str] | None = None) -> Any:
    """The step's form(s): bound to `data` when given, else to the stored data, else unbound."""
    count, channel = bound["count"], bound["channel"]
    if data is None and bound.get(step) is not None:
        return bound[step]
    if step == "details":
        return DetailsForm(data)
    if step == "segment":
        return SegmentForm(data, segments=_segments(project), treatments=count)
    if step == "message":
        return [TreatmentForm(data, prefix=f"t{i}", channel=channel) for i in range(count)]
    if step == "schedule":
        return ScheduleForm(data)
    return None


def _page(
    request: HttpRequest, step: str, bound: dict[str, Any], form: Any, *, error: str = "", status: int = 200
) -> HttpResponse:
    index = STEPS.index(step)
    reached = [s for s in STEPS if s == "details" or all(_valid(bound, p) for p in STEPS[: STEPS.index(s)])]
    context: dict[str, Any] = {
        "project": request.project,
        "step": step,
        "title": STEP_TITLES[step],
        "steps": [(s, STEP_TITLES[s], s in reached) for s in STEPS],
        "number": index + 1,
        "previous": STEPS[index - 1] if index else "",
        "next_title": STEP_TITLES[STEPS[index + 1]] if index + 1 < len(STEPS) else "",
        "form": form,
        "error": error,
        "channel": bound["channel"],
        "channel_label": CHANNELS[bound["channel"]][0],
        "count": bound["count"],
    }
    if step == "message":
        context["treatment_forms"] = [(TREATMENT_LETTERS[i], i, f) for i, f in enumerate(form)]
        endpoints = Endpoint.objects.for_project(request.project).order_by("key")
        context["endpoint_ids"] = list(endpoints.values_list("endpoint_id", flat=True)[:ENDPOINT_CHOICES])
    if step == "review":
        context.update(_review(request.project, bound))
    return render(request, "campaigns/campaign_wizard.html", context, status=status)


def _review(project: Project, bound: dict[str, Any]) -> dict[str, Any]:
    request = _request_of(bound)
    segment = project.segments.filter(pk=request["SegmentId"]).first()
    treatments = [
        {
            "letter": TREATMENT_LETTERS[0],
            "name": request.get("TreatmentName", ""),
            "percent": bound["segment"].default_share(),
            "message": message_text(request),
        }
    ] + [
        {
            "letter": TREATMENT_LETTERS[i],
            "name": t.get("TreatmentName", ""),
            "percent": t["SizePercent"],
            "message": message_text(t),
        }
        for i, t in enumerate(request.get("AdditionalTreatments", []), 1)
    ]
    return {
        "write": request,
        "request_json": json.dumps(request, indent=2, ensure_ascii=False),
        "segment": segment,
        "holdout": request.get("HoldoutPercent", 0),
        "treatments": treatments,
        "schedule_text": schedule_text(request["Schedule"]),
        "limits": sorted((request.get("Limits") or {}).items()),
    }


def _request_of(bound: dict[str, Any]) -> dict[str, Any]:
    return write_request(bound["details"], bound["segment"], bound["message"], bound["schedule"])


@login_required
@require_GET
@project_required
def wizard_start(request: HttpRequest) -> HttpResponse:
    """A new campaign: forget an unfinished wizard of this project and start at the first step."""
    if not can_edit(request.project):
        raise PermissionDenied("Your role in this project does not allow changes.")
    _store(request, None)
    return redirect(_step_url("details"))


@login_required
@require_http_methods(["GET", "POST"])
@project_required
def wizard_step(request: HttpRequest, step: str) -> HttpResponse:
    if step not in STEPS:
        raise Http404("No such step.")
    project = request.project
    if not can_edit(project):
        raise PermissionDenied("Your role in this project does not allow changes.")
    state = _state(request)
    bound = forms_bound(state, segments=_segments(project))
    for earlier in STEPS[: STEPS.index(step)]:
        if not _valid(bound, earlier):
            return redirect(_step_url(earlier))
    if request.method == "GET":
        return _page(request, step, bound, _forms_for(step, bound, project))
    index = STEPS.index(step)
    if step == "review":
        return redirect(_step_url(STEPS[index - 1])) if "back" in request.POST else _launch(request, bound)
    data = {key: value for key, value in request.POST.items() if key != "csrfmiddlewaretoken"}
    state[step] = data
    _store(request, state)
    if "back" in request.POST and index:
        return redirect(_step_url(STEPS[index - 1]))
    form = _forms_for(step, bound, project, data)
    if not _valid({step: form}, step):
        return _page(request, step, bound, form, status=400)
    return redirect(_step_url(STEPS[index + 1]))


def _launch(request: HttpRequest, bound: dict[str, Any]) -> HttpResponse:
    project = request.project
    try:
        campaign = campaign_create(project, _request_of(bound), user=request.user)
    except CampaignInvalid as problem:
        step = step_of_problem(str(problem))
        return _page(request, step, bound, _forms_for(step, bound, project), error=str(problem), status=400)
    _store(request, None)
    messages.success(request, f"Campaign “{campaign}” launched.")
    return redirect("campaigns:campaign", campaign.pk)


@login_required
@require_GET
@project_required
def wizard_segment_size(request: HttpRequest) -> HttpResponse:
    """The chosen segment's size, as the segment list shows it (htmx, on choosing a segment)."""
    segment_id = request.GET.get("segment", "")
    if not segment_id:
        return HttpResponse('<span class="hint">Choose a segment to see its size.</span>')
    return segment_pages.segment_size(request, segment_id)


@login_required
@require_POST
@project_required
def wizard_preview(request: HttpRequest, index: int) -> HttpResponse:
    """One treatment's message rendered for an endpoint (htmx, as the fields change)."""
    bound = forms_bound(_state(request), segments=())
    if index >= bound["count"]:
        raise Http404("No such treatment.")
    form = TreatmentForm(request.POST, prefix=f"t{index}", channel=bound["channel"])
    form.is_valid()
    template_type = CHANNELS[bound["channel"]][1]
    endpoint_id = request.POST.get(f"t{index}-endpoint", "")
    context, chosen = _endpoint_context(request.project, endpoint_id)
    preview_error, parts = "", []
    if form["source"].value() == "template":
        name = form["template"].value()
        if not name:
            preview_error = "Choose a template to see it rendered."
        else:
            try:
                row = template_service.template_get(template_type, name)
            except (template_service.TemplateNotFound, template_service.TemplateInvalid):
                preview_error = f"No {template_type.lower()} template “{name}”."
            else:
                parts = render_preview(template_type, row.content, row.default_substitutions, context)
    else:
        parts = render_preview(template_type, form.preview_content(), "", context)
    return render(
        request,
        "campaigns/template_preview.html",
        {
            "template_type": template_type,
            "parts": parts,
            "preview_error": preview_error,
            "endpoint": chosen,
            "endpoint_missing": bool(endpoint_id) and not chosen,
            "has_endpoint": context is not None,
        },
    )
