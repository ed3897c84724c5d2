"""Campaign pages: list, detail (runs, results per treatment and run, the A/B verdict, the chart's
table, CSV downloads), calendar, pause/resume/delete, and the wizard through the test client. The
results come from real sends: campaigns run by the engine to the SMTP sink, opens, clicks and
unsubscribes recorded by the tracking functions, a bounce reported as a provider's webhook does."""
# ruff: noqa: F811 - pytest fixtures imported from test_deliveries are parameters here

import csv
import io
import re
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.urls import reverse

from audience.analytics.rollups import rollup_rebuild
from audience.models import Segment, SegmentType
from audience.segments import segment_create
from audience.services import endpoints_write
from audience.validation import parse_endpoint
from campaigns.campaign_results import calendar_month, treatment_results
from campaigns.models import (
    Campaign,
    CampaignActivity,
    CampaignRun,
    CampaignRunLane,
    CampaignState,
    Delivery,
    DeliveryStatus,
    Frequency,
)
from campaigns.runs import campaigns_start_due
from campaigns.significance import two_proportion_z_test
from campaigns.templates import template_create
from campaigns.tracking import email_click_record, email_open_record, email_unsubscribe, provider_event_record
from projects.models import Role
from tests.campaigns.test_campaign_runs import EMAIL as RUNS_EMAIL
from tests.campaigns.test_campaign_runs import NOW as RUN_AT
from tests.campaigns.test_campaign_runs import PRO, run_all
from tests.campaigns.test_campaign_runs import endpoint as runs_endpoint
from tests.campaigns.test_campaign_runs import make_campaign as runnable_campaign
from tests.campaigns.test_deliveries import email_channel, smtp_sink  # noqa: F401 - fixtures
from tests.factories import MembershipFactory, ProjectFactory

pytestmark = pytest.mark.django_db

ONCE = {"StartTime": "2030-03-10T09:00:00+00:00", "Frequency": "ONCE", "Timezone": "UTC"}
WEEKLY = {
    "StartTime": "2030-03-04T08:00:00+00:00",
    "EndTime": "2030-06-01T00:00:00+00:00",
    "Frequency": "WEEKLY",
    "Timezone": "UTC",
}
EMAIL = {"EmailMessage": {"Title": "Spring sale", "HtmlBody": "<p>Hi</p>"}}


@pytest.fixture
def signed_in(client, user, project):
    client.force_login(user)
    return client


@pytest.fixture
def segment(project):
    return Segment.objects.create(project=project, name="Everyone", segment_type=SegmentType.DIMENSIONAL)


def make_campaign(project, name="Spring", *, schedule=ONCE, state=CampaignState.SCHEDULED, **fields) -> Campaign:
    definition = {"Name": name, "Schedule": schedule, "MessageConfiguration": EMAIL, **fields.pop("definition", {})}
    return Campaign.objects.create(
        project=project,
        name=name,
        state=state,
        frequency=schedule.get("Frequency", "ONCE"),
        definition=definition,
        **fields,
    )


def at(day: int, hour: int = 9) -> datetime:
    return datetime(2030, 3, day, hour, tzinfo=UTC)


def cells(html: str, row_id: str) -> dict[str, str]:
    """The data-metric cells of one results row, as text."""
    row = re.search(rf'<tr id="{row_id}"[^>]*>(.*?)</tr>', html, re.S).group(1)
    return {
        m: re.sub(r"<(div|span).*", "", v, flags=re.S).strip()
        for m, v in re.findall(r'data-metric="(\w+)">(.*?)</td>', row, re.S)
    }


# --- list ----------------------------------------------------------------------------------------


def test_the_list_shows_status_type_segment_and_next_run(signed_in, project, segment):
    make_campaign(project, "Spring", segment=segment, next_run_at=at(10))
    make_campaign(
        project, "Weekly digest", schedule=WEEKLY, state=CampaignState.PENDING_NEXT_RUN, next_run_at=at(11, 8)
    )

    html = signed_in.get(reverse("campaigns:campaigns")).content.decode()

    assert "Spring" in html and "Weekly digest" in html
    assert 'class="badge campaign-state state-scheduled">Scheduled<' in html
    assert "Waiting for next run" in html
    assert "One-time" in html and "Recurring, weekly" in html
    assert f'href="{reverse("audience:segment", args=[segment.pk])}">Everyone<' in html
    assert 'datetime="2030-03-10T09:00:00+00:00"' in html
    assert "Create a campaign" in html


def test_the_list_filters_by_status(signed_in, project):
    make_campaign(project, "Running one", state=CampaignState.EXECUTING)
    make_campaign(project, "Done one", state=CampaignState.COMPLETED)

    html = signed_in.get(reverse("campaigns:campaigns"), {"status": "COMPLETED"}).content.decode()

    assert "Done one" in html
    assert "Running one" not in html


def test_a_viewer_sees_campaigns_but_cannot_change_them(client, project):
    viewer = MembershipFactory(project=project, role=Role.VIEWER).user
    campaign = make_campaign(project, next_run_at=at(10))
    client.force_login(viewer)

    html = client.get(reverse("campaigns:campaigns")).content.decode()
    page = client.get(reverse("campaigns:campaign", args=[campaign.pk])).content.decode()
    paused = client.post(reverse("campaigns:campaign_pause", args=[campaign.pk]))
    deleted = client.post(reverse("campaigns:campaign_delete", args=[campaign.pk]))
    wizard = client.get(reverse("campaigns:wizard_step", args=["details"]))

    assert "Spring" in html
    assert "Create a campaign" not in html
    assert reverse("campaigns:campaign_pause", args=[campaign.pk]) not in html + page
    assert reverse("campaigns:campaign_delete", args=[campaign.pk]) not in html + page
    assert (paused.status_code, deleted.status_code, wizard.status_code) == (403, 403, 403)
    campaign.refresh_from_db()
    assert not campaign.is_paused


def test_another_projects_campaign_is_not_found(signed_in):
    theirs = make_campaign(ProjectFactory(), "Theirs")

    assert signed_in.get(reverse("campaigns:campaign", args=[theirs.pk])).status_code == 404
    assert signed_in.get(reverse("campaigns:campaign_daily_csv", args=[theirs.pk])).status_code == 404
    assert signed_in.get(reverse("campaigns:campaign_treatments_csv", args=[theirs.pk])).status_code == 404
    assert signed_in.get(reverse("campaigns:campaign_runs_csv", args=[theirs.pk])).status_code == 404
    assert signed_in.post(reverse("campaigns:campaign_pause", args=[theirs.pk])).status_code == 404
    assert signed_in.post(reverse("campaigns:campaign_delete", args=[theirs.pk])).status_code == 404
    assert "Theirs" not in signed_in.get(reverse("campaigns:campaigns")).content.decode()
    assert Campaign.objects.filter(pk=theirs.pk, is_paused=False).exists()


def test_pausing_and_resuming_from_the_list(signed_in, project):
    campaign = make_campaign(project, next_run_at=at(10))
    back = reverse("campaigns:campaigns") + "?status=SCHEDULED"

    paused = signed_in.post(reverse("campaigns:campaign_pause", args=[campaign.pk]), {"next": back})
    campaign.refresh_from_db()
    was_paused = campaign.is_paused
    signed_in.post(reverse("campaigns:campaign_resume", args=[campaign.pk]))
    campaign.refresh_from_db()

    assert paused.status_code == 302
    assert paused["Location"] == back
    assert was_paused
    assert not campaign.is_paused


def test_an_immediate_campaign_cannot_be_paused(signed_in, project):
    campaign = make_campaign(project, schedule={"StartTime": "IMMEDIATE", "Frequency": "ONCE"})

    response = signed_in.post(reverse("campaigns:campaign_pause", args=[campaign.pk]), follow=True)

    assert "cannot be paused" in response.content.decode()
    campaign.refresh_from_db()
    assert not campaign.is_paused


def test_the_list_takes_a_fixed_number_of_queries(signed_in, project, segment, django_assert_max_num_queries):
    for n in range(20):
        make_campaign(project, f"Campaign {n}", segment=segment, next_run_at=at(10))

    with django_assert_max_num_queries(10):
        response = signed_in.get(reverse("campaigns:campaigns"))

    assert response.content.decode().count('class="badge campaign-state') == 20


def test_deleting_a_campaign(signed_in, project):
    campaign = make_campaign(project)

    response = signed_in.post(reverse("campaigns:campaign_delete", args=[campaign.pk]))

    assert response.status_code == 302
    assert not Campaign.objects.filter(pk=campaign.pk).exists()


# --- detail --------------------------------------------------------------------------------------


def _sent(project, *, count: int, ab: bool = True, execute: bool = True, capture=None):
    """A campaign (A/B, 50/50, when `ab`) to `count` endpoints run at RUN_AT by the campaign engine;
    with `execute`, the outbox sends to the SMTP sink.
    Returns the campaign and its deliveries per treatment, sent ones in endpoint order."""
    for n in range(count):
        runs_endpoint(project, f"p{n:03d}")
    segment = segment_create(project, name="pro", dimensions=PRO)
    extra = {"TreatmentName": "Plain"}
    if ab:
        extra["AdditionalTreatments"] = [
            {"Id": "1", "SizePercent": 50, "TreatmentName": "Emoji", "MessageConfiguration": RUNS_EMAIL}
        ]
    campaign = runnable_campaign(project, segment, now=RUN_AT, **extra)
    if execute:
        with time_machine.travel(RUN_AT, tick=False), capture(execute=True):
            campaigns_start_due(RUN_AT)
    else:
        run_all(campaign, RUN_AT)  # the run's steps write the deliveries; the outbox never runs
    rows = Delivery.objects.filter(project=project, campaign_id=campaign.pk).order_by("endpoint_key")
    sent = {t: [d for d in rows if d.treatment_id == t and d.status == DeliveryStatus.SENT] for t in ("0", "1")}
    failed = {
        t: sum(1 for d in rows if d.treatment_id == t and d.status == DeliveryStatus.FAILED_PERMANENT)
        for t in ("0", "1")
    }
    return campaign, sent, failed


DAY1, DAY2 = RUN_AT + timedelta(days=1), RUN_AT + timedelta(days=2)


@pytest.fixture
def ab_campaign(project, email_channel, smtp_sink, django_capture_on_commit_callbacks):
    """100 endpoints, A/B 50/50, one address refused by the SMTP server; then, through tracking and a
    provider's report: a bounce after sending (A), unique opens 5 of A and 30 of B, clicks 1 of A and
    2 of B, an unsubscribe in B, spread over the two days after the send."""
    smtp_sink.refuse.add("p007@example.org")
    campaign, sent, failed = _sent(project, count=100, capture=django_capture_on_commit_callbacks)
    a, b = sent["0"], sent["1"]
    assert len(a) > 35 and len(b) > 35 and failed["0"] + failed["1"] == 1
    provider_event_record(a[0], "bounced", esp="postmark", when=RUN_AT + timedelta(hours=1))
    for delivery in a[1:6] + b[:30]:
        email_open_record(delivery, now=DAY1)
    email_open_record(a[1], now=DAY2)  # the same message again: not a unique open
    email_click_record(a[1], "https://example.com/sale", now=DAY1)
    email_click_record(b[0], "https://example.com/sale", now=DAY2)
    email_click_record(b[0], "https://example.com/other", now=DAY2)  # another link of the same message
    email_click_record(b[1], "https://example.com/sale", now=DAY2)
    email_unsubscribe(b[2], now=DAY2)
    return campaign, sent, failed


def test_the_detail_page_shows_per_treatment_figures_from_the_campaigns_events(signed_in, ab_campaign):
    campaign, sent, failed = ab_campaign
    a, b = len(sent["0"]), len(sent["1"])

    html = signed_in.get(reverse("campaigns:campaign", args=[campaign.pk])).content.decode()

    figures_a, figures_b = cells(html, "treatment-0"), cells(html, "treatment-1")
    assert {k: figures_a[k] for k in ("attempted", "delivered", "opens", "clicks", "opt_outs", "pending")} == {
        "attempted": str(a + failed["0"]),
        "delivered": str(a - 1),
        "opens": "5",
        "clicks": "1",
        "opt_outs": "0",
        "pending": "0",
    }
    assert {k: figures_b[k] for k in ("attempted", "delivered", "opens", "clicks", "opt_outs", "pending")} == {
        "attempted": str(b + failed["1"]),
        "delivered": str(b),
        "opens": "30",
        "clicks": "2",
        "opt_outs": "1",
        "pending": "0",
    }
    assert figures_a["open_rate"] == f"{round(100 * 5 / (a - 1), 1)}%"
    assert figures_b["click_rate"] == f"{round(100 * 2 / b, 1)}%"
    assert figures_a["delivery_rate"] == f"{round(100 * (a - 1) / (a + failed['0']), 1)}%"
    assert "A — Plain" in html and "B — Emoji" in html


def test_the_winner_is_marked_by_the_z_test_on_the_chosen_rate(signed_in, ab_campaign):
    campaign, sent, _failed = ab_campaign
    a, b = len(sent["0"]), len(sent["1"])
    page = reverse("campaigns:campaign", args=[campaign.pk])

    by_open = signed_in.get(page).content.decode()
    by_click = signed_in.get(page, {"rate": "click"}).content.decode()

    expected = two_proportion_z_test(5, a - 1, 30, b)
    assert expected.p_value < 0.001
    assert '<tr id="treatment-1" class="winner">' in by_open
    assert '<tr id="treatment-0">' in by_open
    assert "Treatment B wins on open rate" in by_open
    assert "statistically significant (p &lt; 0.001, below 0.05)" in by_open
    assert cells(by_open, "treatment-1")["p_value"].startswith("&lt; 0.001")
    # clicks: 1 of A's against 2 of B's, far from significant
    clicks = two_proportion_z_test(1, a - 1, 2, b)
    assert clicks.p_value > 0.05
    assert 'class="winner"' not in by_click
    assert "No winner: the differences in click rate" in by_click
    assert cells(by_click, "treatment-1")["p_value"] == clicks.p_text
    assert '<option value="click" selected>' in by_click


def test_too_few_delivered_messages_are_not_tested(
    signed_in, project, email_channel, smtp_sink, django_capture_on_commit_callbacks
):
    campaign, sent, _failed = _sent(project, count=8, capture=django_capture_on_commit_callbacks)
    for delivery in sent["1"]:
        email_open_record(delivery, now=DAY1)

    html = signed_in.get(reverse("campaigns:campaign", args=[campaign.pk])).content.decode()

    assert "No winner yet: too few delivered messages to test" in html
    assert f"A {len(sent['0'])}, B {len(sent['1'])}" in html
    assert 'class="winner"' not in html
    assert 'data-metric="p_value"><span class="hint">not tested</span>' in html


def test_messages_not_sent_yet_are_waiting(signed_in, project, email_channel):
    campaign, _sent_rows, _failed = _sent(project, count=6, ab=False, execute=False)

    html = signed_in.get(reverse("campaigns:campaign", args=[campaign.pk])).content.decode()

    assert cells(html, "treatment-0")["pending"] == "6"
    assert cells(html, "treatment-0")["attempted"] == "0"
    assert "p-value vs A" not in html  # one treatment: no A/B test
    assert "Nothing sent yet" in html


def _table_rows(html: str, table_id: str) -> dict[str, list[str]]:
    table = re.search(rf'<table class="compact" id="{table_id}">.*?<tbody>(.*?)</tbody>', html, re.S).group(1)
    return {
        re.search(r'datetime="([\d-]+)"', row).group(1): re.findall(r'<td class="number">(\d+)</td>', row)
        for row in re.findall(r"<tr><th.*?</tr>", table, re.S)
    }


def test_the_chart_table_has_the_daily_numbers(signed_in, ab_campaign):
    campaign, sent, _failed = ab_campaign
    total = len(sent["0"]) + len(sent["1"])

    html = signed_in.get(reverse("campaigns:campaign", args=[campaign.pk])).content.decode()

    # sent, delivered, unique opens, unique clicks, opt-outs per UTC day
    assert _table_rows(html, "results-table") == {
        "2026-11-30": [str(total), str(total - 1), "0", "0", "0"],
        "2026-12-01": ["0", "0", "35", "1", "0"],
        "2026-12-02": ["0", "0", "0", "2", "1"],
    }
    assert 'data-chart="results-data"' in html
    assert 'id="results-data"' in html
    assert 'role="img"' in html


def test_the_daily_figures_download_as_csv(signed_in, ab_campaign):
    campaign, sent, _failed = ab_campaign
    total = len(sent["0"]) + len(sent["1"])

    response = signed_in.get(reverse("campaigns:campaign_daily_csv", args=[campaign.pk]))

    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response.content.decode().splitlines() == [
        "day,sent,delivered,opens,clicks,opt_outs",
        f"2026-11-30,{total},{total - 1},0,0,0",
        "2026-12-01,0,0,35,1,0",
        "2026-12-02,0,0,0,2,1",
    ]


def test_the_treatment_table_downloads_as_csv_with_the_test(signed_in, ab_campaign):
    campaign, sent, failed = ab_campaign
    a, b = len(sent["0"]), len(sent["1"])

    response = signed_in.get(reverse("campaigns:campaign_treatments_csv", args=[campaign.pk]), {"rate": "click"})

    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert [(r["treatment"], r["name"], r["winner"]) for r in rows] == [
        ("A", "Plain", "false"),
        ("B", "Emoji", "false"),
    ]
    assert (rows[0]["attempted"], rows[0]["delivered"], rows[0]["unique_opens"], rows[0]["unique_clicks"]) == (
        str(a + failed["0"]),
        str(a - 1),
        "5",
        "1",
    )
    assert (rows[1]["delivered"], rows[1]["unique_opens"], rows[1]["opt_outs"]) == (str(b), "30", "1")
    assert rows[0]["click_rate_p_value_vs_a"] == ""
    assert float(rows[1]["click_rate_p_value_vs_a"]) == pytest.approx(
        two_proportion_z_test(1, a - 1, 2, b).p_value, abs=1e-6
    )


def test_each_run_shows_its_messages_and_downloads_as_csv(signed_in, ab_campaign):
    campaign, sent, failed = ab_campaign
    activities = {a.treatment_id: a for a in CampaignActivity.objects.filter(campaign=campaign)}

    html = signed_in.get(reverse("campaigns:campaign", args=[campaign.pk])).content.decode()
    response = signed_in.get(reverse("campaigns:campaign_runs_csv", args=[campaign.pk]))

    assert cells(html, f"activity-{activities['1'].id}") == {
        "attempted": str(len(sent["1"]) + failed["1"]),
        "delivered": str(len(sent["1"])),
        "opens": "30",
        "clicks": "2",
        "opt_outs": "1",
    }
    rows = {r["treatment"]: r for r in csv.DictReader(io.StringIO(response.content.decode()))}
    assert set(rows) == {"A", "B"}
    assert (rows["A"]["activity_id"], rows["A"]["delivered"], rows["A"]["unique_opens"]) == (
        activities["0"].id,
        str(len(sent["0"]) - 1),
        "5",
    )
    assert rows["A"]["successful_endpoints"] == str(activities["0"].successful_endpoint_count)


def test_the_detail_page_takes_a_fixed_number_of_queries(signed_in, ab_campaign, django_assert_max_num_queries):
    campaign, _sent_rows, _failed = ab_campaign
    for day in (1, 2, 3):  # more runs (as the scheduler records them) add no query
        run = CampaignRun.objects.create(
            campaign=campaign, campaign_version=1, scheduled_start=RUN_AT + timedelta(days=day), state="COMPLETED"
        )
        for treatment_id in ("0", "1"):
            CampaignActivity.objects.create(
                run=run, campaign=campaign, treatment_id=treatment_id, state="COMPLETED", scheduled_start=RUN_AT
            )

    with django_assert_max_num_queries(17):  # the runs' activities and lanes: one prefetch each
        response = signed_in.get(reverse("campaigns:campaign", args=[campaign.pk]))

    assert response.status_code == 200


def test_the_figures_are_the_events_rebuilt(ab_campaign):
    campaign, _sent_rows, _failed = ab_campaign
    live = [(r.treatment_id, r.figures) for r in treatment_results(campaign)]

    rollup_rebuild(campaign.project_id)

    assert [(r.treatment_id, r.figures) for r in treatment_results(campaign)] == live


def test_the_detail_page_lists_runs_with_activities_and_metrics(signed_in, project):
    campaign = make_campaign(project)
    run = CampaignRun.objects.create(campaign=campaign, campaign_version=1, scheduled_start=at(10), state="COMPLETED")
    CampaignActivity.objects.create(
        run=run,
        campaign=campaign,
        treatment_id="0",
        state="COMPLETED",
        result="SUCCESS",
        scheduled_start=at(10),
        total_endpoint_count=120,
        successful_endpoint_count=97,
        execution_metrics={"SUCCESS": 97, "QUIET_TIME": 23},
    )

    html = signed_in.get(reverse("campaigns:campaign", args=[campaign.pk])).content.decode()

    assert ">120<" in html and ">97<" in html
    assert "<code>QUIET_TIME</code> 23" in html
    assert "COMPLETED (SUCCESS)" in html
    assert "Nothing sent yet" in html


def test_a_run_written_in_lanes_shows_how_many_parts_are_done(signed_in, project):
    campaign = make_campaign(project)
    run = CampaignRun.objects.create(campaign=campaign, campaign_version=1, scheduled_start=at(10), state="EXECUTING")
    CampaignActivity.objects.create(run=run, campaign=campaign, treatment_id="0", scheduled_start=at(10))
    CampaignRunLane.objects.create(run=run, number=0, upto="m", ended_at=at(10, 5))
    CampaignRunLane.objects.create(run=run, number=1, after="m")
    single = CampaignRun.objects.create(campaign=campaign, campaign_version=1, scheduled_start=at(9), state="COMPLETED")
    CampaignActivity.objects.create(run=single, campaign=campaign, treatment_id="0", scheduled_start=at(9))

    html = signed_in.get(reverse("campaigns:campaign", args=[campaign.pk])).content.decode()

    assert html.count("written in") == 1
    assert "written in 2 parts, 1 done" in html


# --- calendar ------------------------------------------------------------------------------------


def test_the_calendar_shows_past_runs_and_scheduled_recurring_starts(signed_in, project):
    weekly = make_campaign(project, "Weekly digest", schedule=WEEKLY, next_run_at=at(11, 8))
    Campaign.objects.filter(pk=weekly.pk).update(state=CampaignState.PENDING_NEXT_RUN)
    CampaignRun.objects.create(campaign=weekly, campaign_version=1, scheduled_start=at(4, 8), state="COMPLETED")
    make_campaign(project, "Paused one", next_run_at=at(12), is_paused=True)
    make_campaign(project, "Cart reminder", schedule={"Frequency": "EVENT", "StartTime": "IMMEDIATE"})
    Campaign.objects.filter(name="Cart reminder").update(frequency=Frequency.EVENT)

    response = signed_in.get(reverse("campaigns:campaign_calendar"), {"month": "2030-03"})
    month = calendar_month(project, 2030, 3)

    html = response.content.decode()
    days = {
        day.day: [(e.campaign.name, e.past) for e in entries]
        for week in month.weeks
        for day, entries in week
        if entries
    }
    assert days == {
        4: [("Weekly digest", True)],
        11: [("Weekly digest", False)],
        18: [("Weekly digest", False)],
        25: [("Weekly digest", False)],
    }
    assert "March 2030" in html
    assert "?month=2030-02" in html and "?month=2030-04" in html
    assert html.count("entry-scheduled") == 3 + 1  # three entries and the legend
    assert "Paused one" not in html
    assert "Cart reminder" in html  # listed as event-triggered


def test_the_calendar_filters_by_type(signed_in, project):
    make_campaign(project, "Weekly digest", schedule=WEEKLY, next_run_at=at(11, 8))
    make_campaign(project, "One-off", next_run_at=at(10))

    html = signed_in.get(reverse("campaigns:campaign_calendar"), {"month": "2030-03", "type": "once"}).content.decode()

    assert "One-off" in html
    assert "Weekly digest" not in html


def test_an_hourly_campaign_is_one_entry_a_day(project):
    hourly = {"StartTime": "2030-03-30T10:00:00+00:00", "Frequency": "HOURLY", "Timezone": "UTC"}
    make_campaign(project, "Hourly", schedule=hourly, next_run_at=datetime(2030, 3, 30, 10, tzinfo=UTC))

    month = calendar_month(project, 2030, 3)

    counts = {day.day: entries[0].count for week in month.weeks for day, entries in week if entries}
    assert counts == {30: 14, 31: 24}


def test_a_mangled_month_shows_the_current_month(signed_in):
    response = signed_in.get(reverse("campaigns:campaign_calendar"), {"month": "20x0-13"})

    assert response.status_code == 200


# --- wizard --------------------------------------------------------------------------------------


def _endpoint(project, endpoint_id: str, body: dict) -> None:
    endpoints_write(project, [parse_endpoint(endpoint_id, body)])


def _step(client, step: str, data: dict):
    return client.post(reverse("campaigns:wizard_step", args=[step]), data)


def test_the_wizard_creates_an_ab_campaign(signed_in, project, segment, user):
    template_create("EMAIL", "welcome", {"Subject": "Welcome", "HtmlPart": "<p>Hi</p>"})
    signed_in.get(reverse("campaigns:campaign_new"))

    steps = [
        _step(signed_in, "details", {"name": "Spring", "kind": "ab", "treatments": "2", "channel": "EMAIL"}),
        _step(signed_in, "segment", {"segment": segment.pk, "holdout": "10", "share_1": "30"}),
        _step(
            signed_in,
            "message",
            {
                "t0-source": "template",
                "t0-template": "welcome",
                "t0-template_version": "pin",
                "t1-source": "inline",
                "t1-treatment_name": "Short",
                "t1-subject": "Hello {{User.UserAttributes.FirstName}}",
                "t1-text": "Spring is here",
            },
        ),
        _step(
            signed_in,
            "schedule",
            {
                "when": "recurring",
                "start": "2030-03-04T08:00",
                "end": "2030-06-01T00:00",
                "frequency": "WEEKLY",
                "timezone": "UTC+02",
                "quiet_start": "22:00",
                "quiet_end": "07:00",
                "limit_daily": "2",
                "limit_rate": "50",
            },
        ),
    ]
    review = signed_in.get(reverse("campaigns:wizard_step", args=["review"]))
    launched = _step(signed_in, "review", {})

    assert [s.status_code for s in steps] == [302, 302, 302, 302]
    assert steps[-1]["Location"] == reverse("campaigns:wizard_step", args=["review"])
    assert "Weekly, from 2030-03-04T08:00:00+02:00" in review.content.decode()
    campaign = Campaign.objects.get(project=project)
    assert launched.status_code == 302
    assert launched["Location"] == reverse("campaigns:campaign", args=[campaign.pk])
    definition = campaign.definition
    assert definition["Name"] == "Spring"
    assert definition["SegmentId"] == segment.pk
    assert definition["HoldoutPercent"] == 10
    assert definition["TemplateConfiguration"] == {"EmailTemplate": {"Name": "welcome", "Version": "1"}}
    assert definition["Schedule"] == {
        "StartTime": "2030-03-04T08:00:00+02:00",
        "EndTime": "2030-06-01T00:00:00+02:00",
        "Frequency": "WEEKLY",
        "Timezone": "UTC+02",
        "QuietTime": {"Start": "22:00", "End": "07:00"},
    }
    assert definition["Limits"] == {"Daily": 2, "MessagesPerSecond": 50}
    [treatment] = definition["AdditionalTreatments"]
    assert treatment["SizePercent"] == 30
    assert treatment["TreatmentName"] == "Short"
    assert treatment["MessageConfiguration"] == {
        "EmailMessage": {"Title": "Hello {{User.UserAttributes.FirstName}}", "Body": "Spring is here"}
    }
    assert campaign.created_by == user
    assert signed_in.get(reverse("campaigns:wizard_step", args=["review"])).status_code == 302  # state cleared


def test_a_step_with_errors_is_shown_again_with_them(signed_in, segment):
    _step(signed_in, "details", {"name": "Spring", "kind": "ab", "treatments": "3", "channel": "SMS"})

    response = _step(signed_in, "segment", {"segment": segment.pk, "holdout": "50", "share_1": "30", "share_2": "20"})

    assert response.status_code == 400
    assert "treatment A would receive no one" in response.content.decode()


def test_a_later_step_needs_the_earlier_ones(signed_in):
    response = signed_in.get(reverse("campaigns:wizard_step", args=["schedule"]))

    assert response.status_code == 302
    assert response["Location"] == reverse("campaigns:wizard_step", args=["details"])


def test_the_segment_step_offers_only_this_projects_segments(signed_in, project, segment):
    theirs = Segment.objects.create(project=ProjectFactory(), name="Theirs", segment_type=SegmentType.DIMENSIONAL)
    _step(signed_in, "details", {"name": "Spring", "kind": "standard", "channel": "EMAIL"})

    page = signed_in.get(reverse("campaigns:wizard_step", args=["segment"])).content.decode()
    response = _step(signed_in, "segment", {"segment": theirs.pk, "holdout": "0"})

    assert "Everyone" in page and "Theirs" not in page
    assert response.status_code == 400


def test_the_segment_size_is_the_segment_lists(signed_in, project, segment):
    _endpoint(project, "ada", {"ChannelType": "EMAIL", "Address": "ada@example.com"})
    _endpoint(project, "bob", {"ChannelType": "SMS", "Address": "+4915112345678"})

    response = signed_in.get(reverse("campaigns:wizard_segment_size"), {"segment": segment.pk})

    assert '<span class="segment-size">2</span>' in response.content.decode()


def test_the_preview_renders_inline_content_for_an_endpoint(signed_in, project):
    _endpoint(project, "ada", {"ChannelType": "SMS", "Address": "+4915112345678", "Attributes": {"Plan": ["pro"]}})
    _step(signed_in, "details", {"name": "Spring", "kind": "standard", "channel": "SMS"})

    response = signed_in.post(
        reverse("campaigns:wizard_preview", args=[0]),
        {"t0-source": "inline", "t0-body": "Your plan: {{Attributes.Plan}}", "t0-endpoint": "ada"},
    )

    html = response.content.decode()
    assert "Your plan: pro" in html
    assert '<code class="endpoint-id">ada</code>' in html


def test_the_preview_renders_a_chosen_template(signed_in, project):
    template_create(
        "SMS",
        "promo",
        {"Body": "Hi {{User.UserAttributes.Name}}", "DefaultSubstitutions": '{"User.UserAttributes.Name": "friend"}'},
    )
    _step(signed_in, "details", {"name": "Spring", "kind": "standard", "channel": "SMS"})

    response = signed_in.post(
        reverse("campaigns:wizard_preview", args=[0]), {"t0-source": "template", "t0-template": "promo"}
    )

    assert "Hi friend" in response.content.decode()


def test_a_campaign_the_service_refuses_is_shown_on_its_step(signed_in, project, segment):
    _step(signed_in, "details", {"name": "Spring", "kind": "standard", "channel": "EMAIL"})
    _step(signed_in, "segment", {"segment": segment.pk, "holdout": "0"})
    _step(signed_in, "message", {"t0-source": "inline", "t0-subject": "Hi {{#if x}}", "t0-text": "Body"})
    _step(signed_in, "schedule", {"when": "immediate", "timezone": "UTC"})

    response = _step(signed_in, "review", {})

    html = response.content.decode()
    assert response.status_code == 400
    assert "EmailMessage.Title does not parse" in html
    assert '<li aria-current="step">Message</li>' in html
    assert not Campaign.objects.filter(project=project).exists()
