"""The journey analytics page and its CSV downloads, through the test client, over a journey the
engine ran: email → yes/no split on the email being opened (evaluated after 2 days) → end or a
reminder email, sent to the SMTP sink; opens and clicks recorded by the tracking functions, a bounce
reported as a provider's webhook reports it."""
# ruff: noqa: F811 - pytest fixtures imported from other test modules are parameters here

import csv
import io
import re
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.urls import reverse

from campaigns.models import Delivery
from campaigns.tracking import email_click_record, email_open_record, provider_event_record
from journeys.engine import journeys_tick
from journeys.models import JourneyState
from tests.campaigns.test_deliveries import smtp_sink  # noqa: F401 - fixture
from tests.factories import ProjectFactory
from tests.journeys.test_engine_support import (  # noqa: F401 - fixtures
    email,
    email_on,
    endpoint,
    make_journey,
    pro,
    welcome,
)

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
ACTIVITIES = {
    "mail": email("opened"),
    "opened": {
        "ConditionalSplit": {
            "Condition": {
                "Conditions": [
                    {
                        "EventCondition": {
                            "Dimensions": {"EventType": {"DimensionType": "INCLUSIVE", "Values": ["_email.open"]}},
                            "MessageActivity": "mail",
                        }
                    }
                ]
            },
            "EvaluationWaitTime": {"WaitFor": "P2D"},
            "TrueActivity": "done",
            "FalseActivity": "reminder",
        }
    },
    "done": {"Holdout": {"Percentage": 0}},
    "reminder": {"EMAIL": {"TemplateName": "welcome"}},
}


NA = "\u2013"  # the dash of a stage that does not apply


@pytest.fixture
def signed_in(client, user, project):
    client.force_login(user)
    return client


def tick(at, capture) -> None:
    with time_machine.travel(at, tick=False), capture(execute=True):
        journeys_tick(at)  # the send tasks run after commit, at the controlled time


@pytest.fixture
def ran(project, pro, smtp_sink, welcome, email_on, django_capture_on_commit_callbacks):
    """Four participants get the email; ann and bob open it (bob twice, a day apart), ann clicks,
    dan's bounces after sending; two days later cy and dan get the reminder."""
    for name in ("ann", "bob", "cy", "dan"):
        endpoint(project, name)
    journey = make_journey(project, ACTIVITIES, "mail", segment=pro, now=NOW)
    tick(NOW, django_capture_on_commit_callbacks)
    mail = {d.endpoint_key: d for d in Delivery.objects.filter(journey_id=journey.pk)}
    email_open_record(mail["ann"], now=NOW + timedelta(hours=5))
    email_open_record(mail["bob"], now=NOW + timedelta(hours=5))
    email_open_record(mail["bob"], now=NOW + timedelta(days=1, hours=1))  # not a unique open
    email_click_record(mail["ann"], "https://example.com/start", now=NOW + timedelta(hours=6))
    tick(NOW + timedelta(days=2), django_capture_on_commit_callbacks)
    # Reported once the reminder is out (a hard bounce opts dan out: reported before, dan would not
    # get the reminder); the event keeps the provider's time.
    provider_event_record(mail["dan"], "bounced", esp="postmark", when=NOW + timedelta(hours=1))
    assert sorted(m["To"] for m in smtp_sink.messages) == sorted(
        ["ann@example.org", "bob@example.org", "cy@example.org", "dan@example.org", "cy@example.org", "dan@example.org"]
    )
    return journey


def funnel_cells(html: str, activity_id: str) -> dict[str, str]:
    row = re.search(rf'<tr id="funnel-{activity_id}">(.*?)</tr>', html, re.S).group(1)
    return {
        key: re.sub(r"<[^>]+>", " ", value).split()[0] if NA not in value else NA
        for key, value in re.findall(r'data-metric="(\w+)">(.*?)</td>', row, re.S)
    }


def funnel_rates(html: str, activity_id: str) -> dict[str, str]:
    row = re.search(rf'<tr id="funnel-{activity_id}">(.*?)</tr>', html, re.S).group(1)
    return dict(re.findall(r'data-metric="(\w+)">[^<]*<div class="rate">([^<]*)</div>', row))


def test_the_funnel_counts_participants_and_messages_per_activity_in_journey_order(signed_in, ran):
    html = signed_in.get(reverse("journeys:journey_analytics", args=[ran.pk])).content.decode()

    assert re.findall(r'<tr id="funnel-(\w+)">', html) == ["mail", "opened", "done", "reminder"]
    assert funnel_cells(html, "mail") == {"entered": "4", "sent": "4", "delivered": "3", "opens": "2", "clicks": "1"}
    assert funnel_cells(html, "opened") == {"entered": "4", "sent": NA, "delivered": NA, "opens": NA, "clicks": NA}
    assert funnel_cells(html, "done")["entered"] == "2"
    assert funnel_cells(html, "reminder") == {
        "entered": "2",
        "sent": "2",
        "delivered": "2",
        "opens": "0",
        "clicks": "0",
    }
    assert funnel_rates(html, "mail") == {
        "entered": "100.0% of participants",
        "sent": "100.0%",
        "delivered": "75.0%",
        "opens": "66.7%",
        "clicks": "50.0%",
    }
    assert funnel_rates(html, "done") == {"entered": "50.0% of participants"}
    assert funnel_rates(html, "reminder")["opens"] == "0.0%"
    assert "clicks" not in funnel_rates(html, "reminder")  # nothing opened: no conversion
    assert "4 participants entered the journey" in html
    assert 'data-chart="funnel-data" data-chart-type="bar"' in html and 'id="funnel-data"' in html


def test_the_funnel_agrees_with_the_canvas_figures(signed_in, ran):
    canvas = signed_in.get(reverse("journeys:journey_metrics", args=[ran.pk])).json()["activities"]

    html = signed_in.get(reverse("journeys:journey_analytics", args=[ran.pk])).content.decode()

    for activity_id, figures in canvas.items():
        assert funnel_cells(html, activity_id)["entered"] == str(figures["entered"])


def test_the_daily_table_has_entries_and_message_figures_per_utc_day(signed_in, ran):
    html = signed_in.get(reverse("journeys:journey_analytics", args=[ran.pk])).content.decode()

    table = re.search(r'<table class="compact" id="series-table">.*?<tbody>(.*?)</tbody>', html, re.S).group(1)
    rows = {
        re.search(r'datetime="([\d-]+)"', row).group(1): re.findall(r'<td class="number">(\d+)</td>', row)
        for row in re.findall(r"<tr><th.*?</tr>", table, re.S)
    }
    # entered, sent, delivered, unique opens, unique clicks, opt-outs
    assert rows == {
        "2026-11-30": ["4", "4", "3", "2", "1", "0"],
        "2026-12-01": ["0", "0", "0", "0", "0", "0"],
        "2026-12-02": ["0", "2", "2", "0", "0", "0"],
    }


def test_the_tables_download_as_csv(signed_in, ran):
    funnel = signed_in.get(reverse("journeys:journey_funnel_csv", args=[ran.pk]))
    daily = signed_in.get(reverse("journeys:journey_daily_csv", args=[ran.pk]))

    rows = list(csv.DictReader(io.StringIO(funnel.content.decode())))
    assert funnel["Content-Type"] == "text/csv; charset=utf-8"
    assert [(r["activity_id"], r["entered"], r["sent"], r["delivered"], r["opens"], r["clicks"]) for r in rows] == [
        ("mail", "4", "4", "3", "2", "1"),
        ("opened", "4", "", "", "", ""),
        ("done", "2", "", "", "", ""),
        ("reminder", "2", "2", "2", "0", "0"),
    ]
    assert (rows[0]["delivered_percent_of_previous"], rows[0]["clicks_percent_of_previous"]) == ("75.0", "50.0")
    assert rows[2]["entered_percent_of_journey"] == "50.0"
    assert daily.content.decode().splitlines() == [
        "day,entered,sent,delivered,opens,clicks,opt_outs",
        "2026-11-30,4,4,3,2,1,0",
        "2026-12-01,0,0,0,0,0,0",
        "2026-12-02,0,2,2,0,0,0",
    ]


def test_the_page_takes_a_fixed_number_of_queries(signed_in, ran, django_assert_max_num_queries):
    with django_assert_max_num_queries(16):
        response = signed_in.get(reverse("journeys:journey_analytics", args=[ran.pk]))

    assert response.status_code == 200


def test_a_draft_says_figures_come_after_publishing(signed_in, project):
    journey = make_journey(project, ACTIVITIES, "mail", state=JourneyState.DRAFT)

    html = signed_in.get(reverse("journeys:journey_analytics", args=[journey.pk])).content.decode()
    editor = signed_in.get(reverse("journeys:journey", args=[journey.pk])).content.decode()

    assert "figures appear once the journey is published" in html
    assert "0 participants entered the journey" in html
    assert "No participant yet" in html
    assert funnel_cells(html, "mail")["entered"] == "0"
    assert reverse("journeys:journey_analytics", args=[journey.pk]) in editor


def test_another_projects_journey_is_not_found(signed_in):
    theirs = make_journey(ProjectFactory(), ACTIVITIES, "mail")

    for name in ("journey_analytics", "journey_funnel_csv", "journey_daily_csv"):
        assert signed_in.get(reverse(f"journeys:{name}", args=[theirs.pk])).status_code == 404
