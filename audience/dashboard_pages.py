"""The project dashboard (the home page): the project's card and its analytics for a range of UTC
days — headline numbers, charts and tables from audience.analytics.dashboard, each table also as CSV.

It lives in the audience app, not in projects, because it reads audience's analytics (the apps'
dependency direction is projects ← audience ← campaigns ← journeys); its URL names stay
`dashboard` and `dashboard_csv` (audience/dashboard_urls.py, not namespaced).
"""

from datetime import UTC, timedelta

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from audience.analytics.dashboard import CHANNEL_LABELS, MAX_DAYS, TABLES, Dashboard, csv_rows, dashboard_data
from audience.dashboard_forms import DateRangeForm
from engage.csv_export import csv_response
from projects.middleware import project_required
from projects.models import Role


def _today():
    return timezone.now().astimezone(UTC).date()


def _chart_data(data: Dashboard) -> dict:
    labels = [d.day.isoformat() for d in data.days]
    return {
        "activity": {
            "type": "line",
            "labels": labels,
            "datasets": [
                {"label": "Active endpoints", "data": [d.active for d in data.days]},
                {"label": "New endpoints", "data": [d.new_endpoints for d in data.days]},
                {"label": "Sessions", "data": [d.sessions for d in data.days]},
            ],
        },
        "messages": {
            "type": "line",
            "labels": labels,
            "datasets": [
                {"label": "Sent", "data": [d.messages.sent for d in data.days]},
                {"label": "Delivered", "data": [d.messages.delivered for d in data.days]},
                {"label": "Email opens", "data": [d.messages.email_opens for d in data.days]},
                {"label": "Email clicks", "data": [d.messages.email_clicks for d in data.days]},
                {"label": "Push opens", "data": [d.messages.push_opens for d in data.days]},
                {"label": "Opt-outs", "data": [d.messages.opt_outs for d in data.days]},
            ],
        },
        "channels": {
            "type": "bar",
            "labels": [CHANNEL_LABELS[group] for group in data.channels],
            "datasets": [
                {"label": "Sent", "data": [m.sent for m in data.channels.values()]},
                {"label": "Delivered", "data": [m.delivered for m in data.channels.values()]},
                {"label": "Failed", "data": [m.failed for m in data.channels.values()]},
            ],
        },
    }


@login_required
@require_GET
@project_required
def dashboard(request: HttpRequest) -> HttpResponse:
    project = request.project
    today = _today()
    form = DateRangeForm.for_request(request.GET, today)
    context = {
        "project": project,
        "role_label": Role(project.role).label,
        "member_count": project.memberships.count(),
        "tags": sorted(project.tags.items()),
        "range_form": form,
        "max_days": MAX_DAYS,
        "quick_ranges": [
            (f"Last {days} days", (today - timedelta(days=days - 1)).isoformat(), today.isoformat())
            for days in (7, 30, 90)
        ],
    }
    if form.is_valid():
        data = dashboard_data(project.id, form.cleaned_data["start"], form.cleaned_data["end"])
        context.update(
            analytics=data,
            tables=[build(data) for build in TABLES.values()],
            chart_data=_chart_data(data),
            range_query=f"start={data.start.isoformat()}&end={data.end.isoformat()}",
        )
    return render(request, "projects/dashboard.html", context)


@login_required
@require_GET
@project_required
def dashboard_csv(request: HttpRequest, table: str) -> HttpResponse:
    """One of the dashboard's tables as CSV, for the same date range as the page."""
    build = TABLES.get(table)
    if build is None:
        return HttpResponseBadRequest("No such table.", content_type="text/plain")
    form = DateRangeForm.for_request(request.GET, _today())
    if not form.is_valid():
        problems = " ".join(e for errors in form.errors.values() for e in errors)
        return HttpResponseBadRequest(problems, content_type="text/plain")
    start, end = form.cleaned_data["start"], form.cleaned_data["end"]
    chosen = build(dashboard_data(request.project.id, start, end))
    return csv_response(f"engage-{table}-{start:%Y%m%d}-{end:%Y%m%d}.csv", chosen.header, csv_rows(chosen))
