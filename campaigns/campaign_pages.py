"""Campaign pages: the list (filter by status; pause, resume, delete), a campaign's page (definition,
runs, per-treatment results and the daily chart with its table) and the month calendar.

The wizard that creates campaigns is campaigns.campaign_wizard. Writes go through the campaign
services (campaigns.campaigns); figures come from campaigns.campaign_results. Every lookup starts
from `request.project`: another project's campaign is a 404.
"""

import json
from datetime import date
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST

from campaigns.campaign_results import (
    RATES,
    ab_test,
    calendar_month,
    daily_series,
    letter,
    run_rows,
    scheduled_start,
    treatment_results,
    treatments,
)
from campaigns.campaigns import CampaignInvalid, campaign_delete, campaign_set_paused
from campaigns.message_metrics import series_csv
from campaigns.models import Campaign, CampaignState, Frequency
from engage.api.errors import BadRequest
from engage.api.paging import paginate
from engage.csv_export import csv_response
from projects.middleware import project_required
from projects.models import WRITE_ROLES, Project

PAGE_SIZE = 50
RUNS_SHOWN = 50
STATE_LABELS = {
    CampaignState.SCHEDULED: "Scheduled",
    CampaignState.EXECUTING: "Running",
    CampaignState.PENDING_NEXT_RUN: "Waiting for next run",
    CampaignState.COMPLETED: "Completed",
    CampaignState.PAUSED: "Paused",
    CampaignState.DELETED: "Deleted (segment gone)",
    CampaignState.INVALID: "Invalid",
}
TYPE_LABELS = {
    Frequency.ONCE: "One-time",
    Frequency.HOURLY: "Recurring, hourly",
    Frequency.DAILY: "Recurring, daily",
    Frequency.WEEKLY: "Recurring, weekly",
    Frequency.MONTHLY: "Recurring, monthly",
    Frequency.EVENT: "Event-triggered",
    Frequency.IN_APP_EVENT: "In-app",
}
CHANNEL_OF_MEMBER = {
    "EmailMessage": "Email",
    "EmailTemplate": "Email",
    "SMSMessage": "SMS",
    "SMSTemplate": "SMS",
    "VoiceTemplate": "Voice",
    "DefaultMessage": "Push",
    "GCMMessage": "Push",
    "APNSMessage": "Push",
    "ADMMessage": "Push",
    "BaiduMessage": "Push",
    "PushTemplate": "Push",
    "CustomMessage": "Custom",
    "InAppMessage": "In-app",
    "InAppTemplate": "In-app",
}


def _campaign(project: Project, campaign_id: str) -> Campaign:
    if "\x00" in campaign_id:
        raise Http404("No campaign id holds NUL.")
    return get_object_or_404(project.campaigns.select_related("segment"), pk=campaign_id)


def can_edit(project: Project) -> bool:
    return project.role in WRITE_ROLES


def channels_of(definition: dict[str, Any]) -> list[str]:
    """The channels a definition sends on (from its message and template members, every treatment)."""
    found: list[str] = []
    for treatment in treatments(definition):
        for part in ("MessageConfiguration", "TemplateConfiguration"):
            for member in treatment["definition"].get(part) or {}:
                label = CHANNEL_OF_MEMBER.get(member)
                if label and label not in found:
                    found.append(label)
    if definition.get("CustomDeliveryConfiguration") and "Custom" not in found:
        found.append("Custom")
    return found


def schedule_text(schedule: dict[str, Any]) -> str:
    """A Schedule in words."""
    frequency = schedule.get("Frequency") or "ONCE"
    start = schedule.get("StartTime") or "IMMEDIATE"
    zone = schedule.get("Timezone") or "UTC"
    when = "at launch" if start == "IMMEDIATE" else f"from {start}"
    if frequency == "ONCE":
        text = "Once, immediately at launch" if start == "IMMEDIATE" else f"Once, at {start}"
    elif frequency in (Frequency.EVENT, Frequency.IN_APP_EVENT):
        event_filter = schedule.get("EventFilter") or {}
        kinds = ((event_filter.get("Dimensions") or {}).get("EventType") or {}).get("Values") or []
        source = event_filter.get("FilterType") or "ENDPOINT"
        text = f"When {' or '.join(kinds) or 'an event'} occurs ({source} events), {when}"
    else:
        text = f"{frequency.capitalize()}, {when}"
    if schedule.get("EndTime"):
        text += f", until {schedule['EndTime']}"
    text += f" (time zone {zone})"
    if schedule.get("IsLocalTime"):
        text += "; in each recipient's local time"
    quiet = schedule.get("QuietTime") or {}
    if quiet.get("Start"):
        text += f"; quiet time {quiet['Start']} to {quiet.get('End', '')}"
    return text


def message_text(treatment: dict[str, Any]) -> list[str]:
    """A treatment's message in a few lines: the template it uses or the start of its content."""
    lines = []
    for member, reference in (treatment.get("TemplateConfiguration") or {}).items():
        version = f"version {reference['Version']}" if reference.get("Version") else "the version active when sent"
        lines.append(f"{CHANNEL_OF_MEMBER.get(member, member)} template “{reference.get('Name', '')}”, {version}")
    for member, message in (treatment.get("MessageConfiguration") or {}).items():
        if not isinstance(message, dict):
            continue
        summary = message.get("Title") or message.get("Body") or message.get("Data") or ""
        lines.append(f"{CHANNEL_OF_MEMBER.get(member, member)} message: {summary[:120]}")
    return lines or ["No message."]


def _row(campaign: Campaign) -> dict[str, Any]:
    schedule = campaign.definition.get("Schedule") or {}
    return {
        "campaign": campaign,
        "state_label": STATE_LABELS.get(campaign.state, campaign.state),
        "type_label": TYPE_LABELS.get(campaign.frequency, campaign.frequency),
        "ab": bool(campaign.definition.get("AdditionalTreatments")),
        "channels": channels_of(campaign.definition),
        "next_start": scheduled_start(campaign, schedule),
        "triggered": campaign.frequency in (Frequency.EVENT, Frequency.IN_APP_EVENT),
        "can_pause": _can_pause(campaign),
    }


def _can_pause(campaign: Campaign) -> bool:
    """Pinpoint: a campaign that starts IMMEDIATE cannot be paused; ended ones have nothing to pause."""
    immediate = (campaign.definition.get("Schedule") or {}).get("StartTime", "IMMEDIATE") == "IMMEDIATE"
    return not campaign.is_paused and not immediate and campaign.state not in _ENDED


_ENDED = (CampaignState.COMPLETED, CampaignState.DELETED, CampaignState.INVALID)


@login_required
@require_GET
@project_required
def campaign_list(request: HttpRequest) -> HttpResponse:
    project = request.project
    status = request.GET.get("status", "")
    listing = project.campaigns.select_related("segment")
    if status in CampaignState.values:
        listing = listing.filter(state=status)
    else:
        status = ""
    order = ("creation_date", "id")
    try:
        page, next_token = paginate(listing, page_size=str(PAGE_SIZE), token=request.GET.get("after"), order=order)
    except BadRequest:  # a cursor mangled by hand: start over
        page, next_token = paginate(listing, page_size=str(PAGE_SIZE), token=None, order=order)
    return render(
        request,
        "campaigns/campaigns.html",
        {
            "project": project,
            "rows": [_row(c) for c in page],
            "status": status,
            "states": [(value, STATE_LABELS[value]) for value in CampaignState.values],
            "next_token": next_token,
            "paged": bool(request.GET.get("after")),
            "can_edit": can_edit(project),
            "now": timezone.now(),
        },
    )


@login_required
@require_GET
@project_required
def campaign_detail(request: HttpRequest, campaign_id: str) -> HttpResponse:
    project = request.project
    campaign = _campaign(project, campaign_id)
    definition = campaign.definition
    runs = run_rows(
        campaign, campaign.runs.order_by("-scheduled_start").prefetch_related("activities", "lanes")[:RUNS_SHOWN]
    )
    results = treatment_results(campaign)
    test = ab_test(results, request.GET.get("rate", "open"))
    series = daily_series(campaign)
    return render(
        request,
        "campaigns/campaign_detail.html",
        {
            "project": project,
            "row": _row(campaign),
            "campaign": campaign,
            "schedule_text": schedule_text(definition.get("Schedule") or {}),
            "treatments": _treatment_rows(definition),
            "holdout": definition.get("HoldoutPercent") or 0,
            "limits": sorted((definition.get("Limits") or {}).items()),
            "definition_json": json.dumps(definition, indent=2, ensure_ascii=False, sort_keys=True),
            "runs": runs,
            "more_runs": len(runs) == RUNS_SHOWN,
            "results": results,
            "test": test,
            "rates": [(key, label) for key, (label, _name) in RATES.items()],
            "series": series,
            "series_rows": series.rows(),
            "chart_data": series.chart_data(),
            "can_edit": can_edit(project),
        },
    )


def _treatment_rows(definition: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for treatment in treatments(definition):
        own = treatment["definition"]
        override = own.get("Schedule") if own.get("Schedule") != definition.get("Schedule") else None
        rows.append(
            {
                **treatment,
                "letter": letter(treatment["id"]),
                "message": message_text(own),
                "schedule": schedule_text(override) if override else "",
            }
        )
    return rows


def _rate(value: float | None) -> float | str:
    return "" if value is None else value


@login_required
@require_GET
@project_required
def campaign_results_csv(request: HttpRequest, campaign_id: str) -> HttpResponse:
    """The daily figures of the campaign page's chart and table, as CSV."""
    campaign = _campaign(request.project, campaign_id)
    series = daily_series(campaign)
    return series_csv(f"campaign-{campaign.pk}-daily.csv", series)


@login_required
@require_GET
@project_required
def campaign_treatments_csv(request: HttpRequest, campaign_id: str) -> HttpResponse:
    """The per-treatment table, with the A/B test on the rate the page shows (?rate=open|click)."""
    campaign = _campaign(request.project, campaign_id)
    results = treatment_results(campaign)
    test = ab_test(results, request.GET.get("rate", "open"))
    header = [
        "treatment",
        "treatment_id",
        "name",
        "attempted",
        "delivered",
        "delivery_rate",
        "unique_opens",
        "open_rate",
        "unique_clicks",
        "click_rate",
        "opt_outs",
        "waiting",
        f"{test.rate}_rate_p_value_vs_a",
        "winner",
    ]
    rows = [
        [
            r.letter,
            r.treatment_id,
            r.name,
            r.figures.attempted,
            r.figures.delivered,
            _rate(r.figures.delivery_rate),
            r.figures.opens,
            _rate(r.figures.open_rate),
            r.figures.clicks,
            _rate(r.figures.click_rate),
            r.figures.opt_outs,
            r.pending,
            "" if r.comparison is None else round(r.comparison.p_value, 6),
            r.winner,
        ]
        for r in results
    ]
    return csv_response(f"campaign-{campaign.pk}-treatments.csv", header, rows)


@login_required
@require_GET
@project_required
def campaign_runs_csv(request: HttpRequest, campaign_id: str) -> HttpResponse:
    """Every run's activities (one per treatment) with their message figures, newest first."""
    campaign = _campaign(request.project, campaign_id)
    runs = run_rows(campaign, campaign.runs.order_by("-scheduled_start").prefetch_related("activities", "lanes"))
    header = [
        "scheduled_start",
        "run_state",
        "treatment",
        "activity_id",
        "activity_state",
        "endpoints",
        "successful_endpoints",
        "attempted",
        "delivered",
        "unique_opens",
        "unique_clicks",
        "opt_outs",
    ]
    rows = [
        [
            run.scheduled_start.isoformat(),
            run.state,
            a.letter,
            a.id,
            a.state,
            a.total_endpoint_count,
            a.successful_endpoint_count,
            a.figures.attempted,
            a.figures.delivered,
            a.figures.opens,
            a.figures.clicks,
            a.figures.opt_outs,
        ]
        for run in runs
        for a in run.activity_rows
    ]
    return csv_response(f"campaign-{campaign.pk}-runs.csv", header, rows)


def _month(value: str) -> tuple[int, int]:
    today = timezone.localdate()
    try:
        year, month = (int(part) for part in value.split("-"))
        date(year, month, 1)
    except ValueError:
        return today.year, today.month
    if not 1970 <= year <= 9998:
        return today.year, today.month
    return year, month


CALENDAR_TYPES = {
    "once": ("One-time", (Frequency.ONCE,)),
    "recurring": ("Recurring", (Frequency.HOURLY, Frequency.DAILY, Frequency.WEEKLY, Frequency.MONTHLY)),
    "event": ("Event-triggered and in-app", (Frequency.EVENT, Frequency.IN_APP_EVENT)),
}


@login_required
@require_GET
@project_required
def campaign_calendar(request: HttpRequest) -> HttpResponse:
    year, month = _month(request.GET.get("month", ""))
    kind = request.GET.get("type", "")
    if kind not in CALENDAR_TYPES:
        kind = ""
    frequencies = CALENDAR_TYPES[kind][1] if kind else ()
    return render(
        request,
        "campaigns/campaign_calendar.html",
        {
            "project": request.project,
            "month": calendar_month(request.project, year, month, frequencies=frequencies),
            "kind": kind,
            "kinds": [(key, label) for key, (label, _f) in CALENDAR_TYPES.items()],
            "today": timezone.localdate(),
            "weekdays": ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"),
        },
    )


def _back(request: HttpRequest, campaign: Campaign) -> HttpResponse:
    """Back to where the button was (the list, filtered, or the campaign's page)."""
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        return redirect(target)
    return redirect("campaigns:campaign", campaign.pk)


def _set_paused(request: HttpRequest, campaign_id: str, paused: bool) -> HttpResponse:
    campaign = _campaign(request.project, campaign_id)
    try:
        campaign_set_paused(campaign, paused, user=request.user)
    except CampaignInvalid as problem:
        messages.error(request, f"“{campaign}” was not changed: {problem}")
    else:
        verb = "paused: its next run is skipped until you resume it" if paused else "resumed"
        messages.success(request, f"Campaign “{campaign}” {verb}.")
    return _back(request, campaign)


@login_required
@require_POST
@project_required
def campaign_pause(request: HttpRequest, campaign_id: str) -> HttpResponse:
    return _set_paused(request, campaign_id, True)


@login_required
@require_POST
@project_required
def campaign_resume(request: HttpRequest, campaign_id: str) -> HttpResponse:
    return _set_paused(request, campaign_id, False)


@login_required
@require_POST
@project_required
def campaign_delete_page(request: HttpRequest, campaign_id: str) -> HttpResponse:
    campaign = _campaign(request.project, campaign_id)
    campaign_delete(campaign)
    messages.success(request, f"Campaign “{campaign}” deleted. Messages already sent stay in its figures' rows.")
    return redirect("campaigns:campaigns")
