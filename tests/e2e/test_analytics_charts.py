"""The campaign and journey analytics charts in Chromium: static/campaigns/chart.js draws each canvas
from its JSON (a line chart of the days, a bar chart of the journey's funnel) and shows it, with no
script error; the tables beside them stay the accessible copy."""
# ruff: noqa: F811 - pytest fixtures imported from other test modules are parameters here

from datetime import UTC, datetime

import time_machine
from django.urls import reverse

from audience.segments import segment_create
from campaigns.models import Delivery
from campaigns.runs import campaigns_start_due
from campaigns.tracking import email_open_record
from journeys.engine import journeys_tick
from tests.campaigns.test_campaign_runs import PRO, endpoint, make_campaign
from tests.campaigns.test_deliveries import email_channel, smtp_sink  # noqa: F401 - fixtures
from tests.journeys.test_engine_support import email, email_on, make_journey, pro, welcome  # noqa: F401 - fixtures

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def drawn(page, canvas_id: str) -> dict:
    return page.evaluate(
        """(id) => {
            const canvas = document.getElementById(id);
            const chart = window.Chart && window.Chart.getChart(canvas);
            return {hidden: canvas.hidden, type: chart ? chart.config.type : null,
                    sets: chart ? chart.data.datasets.map((s) => s.label) : [],
                    first: chart ? chart.data.datasets[0].data : []};
        }""",
        canvas_id,
    )


def test_the_campaign_chart_is_drawn(sign_in, user, project, email_channel, smtp_sink):
    for name in ("ann", "bob", "cy"):
        endpoint(project, name)
    campaign = make_campaign(project, segment_create(project, name="pro", dimensions=PRO), now=NOW)
    with time_machine.travel(NOW, tick=False):
        campaigns_start_due(NOW)
    email_open_record(Delivery.objects.get(endpoint_key="ann"), now=NOW)
    page = sign_in(user)
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))

    page.goto(reverse("campaigns:campaign", args=[campaign.pk]))
    page.wait_for_function("() => !document.getElementById('results-chart').hidden")

    assert drawn(page, "results-chart") == {
        "hidden": False,
        "type": "line",
        "sets": ["Sent", "Delivered", "Opened", "Clicked", "Opted out"],
        "first": [3],
    }
    assert errors == []


def test_the_journey_funnel_and_series_are_drawn(sign_in, user, project, pro, smtp_sink, welcome, email_on):
    for name in ("ann", "bob"):
        endpoint(project, name)
    journey = make_journey(project, {"mail": email()}, "mail", segment=pro, now=NOW)
    with time_machine.travel(NOW, tick=False):
        journeys_tick(NOW)
    page = sign_in(user)
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))

    page.goto(reverse("journeys:journey_analytics", args=[journey.pk]))
    page.wait_for_function("() => !document.getElementById('series-chart').hidden")

    funnel = drawn(page, "funnel-chart")
    assert (funnel["type"], funnel["sets"], funnel["first"]) == (
        "bar",
        ["Entered", "Sent", "Delivered", "Opened", "Clicked"],
        [2],
    )
    assert drawn(page, "series-chart")["first"] == [2]
    assert errors == []
