"""The journey analytics page (the per-activity funnel and the daily series, as charts and tables)
and its CSV downloads. Figures come from journeys.journey_results; the activities' order and names
from the outline the editor page shows (journeys.pages.outline). Every lookup starts from
`request.project`: another project's journey is a 404.
"""

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from campaigns.message_metrics import series_csv
from engage.csv_export import csv_response
from journeys.journey_results import STAGES, Funnel, journey_funnel, journey_series
from journeys.models import Journey, JourneyState
from journeys.pages import STATE_LABELS, journey_of, outline
from projects.middleware import project_required


def _funnel(journey: Journey) -> Funnel:
    activities = [(row["id"], row["label"]) for row in outline(journey.definition or {}, {})]
    return journey_funnel(journey, activities)


@login_required
@require_GET
@project_required
def journey_analytics(request: HttpRequest, journey_id: str) -> HttpResponse:
    journey = journey_of(request.project, journey_id)
    funnel = _funnel(journey)
    series = journey_series(journey)
    return render(
        request,
        "journeys/journey_analytics.html",
        {
            "project": request.project,
            "journey": journey,
            "state_label": STATE_LABELS.get(journey.state, journey.state),
            "draft": journey.state == JourneyState.DRAFT,
            "funnel": funnel,
            "stage_labels": [label for _key, label in STAGES],
            "funnel_chart": funnel.chart_data(),
            "series": series,
            "series_rows": series.rows(),
            "series_chart": series.chart_data(),
        },
    )


@login_required
@require_GET
@project_required
def journey_funnel_csv(request: HttpRequest, journey_id: str) -> HttpResponse:
    """The funnel table: per activity in journey order, each stage and its conversion from the previous."""
    journey = journey_of(request.project, journey_id)
    funnel = _funnel(journey)
    header = ["activity_id", "activity", "entered", "entered_percent_of_journey"]
    for key, _label in STAGES[1:]:
        header += [key, f"{key}_percent_of_previous"]
    rows = []
    for row in funnel.rows:
        cells = [row.activity_id, row.label, row.entered, "" if row.of_journey is None else row.of_journey]
        for stage in row.stages[1:]:
            cells += [
                "" if stage["value"] is None else stage["value"],
                "" if stage["conversion"] is None else stage["conversion"],
            ]
        rows.append(cells)
    return csv_response(f"journey-{journey.pk}-funnel.csv", header, rows)


@login_required
@require_GET
@project_required
def journey_daily_csv(request: HttpRequest, journey_id: str) -> HttpResponse:
    """The daily table: participants entering and the journey's message figures per UTC day."""
    journey = journey_of(request.project, journey_id)
    series = journey_series(journey)
    return series_csv(f"journey-{journey.pk}-daily.csv", series)
