"""Campaign pages: list, detail (runs, results, chart table), calendar, pause/resume/delete, and the
wizard through the test client. Rows other parts write (deliveries, events, runs) are made here
directly: the pages only read them."""

import re
from datetime import UTC, datetime

import pytest
from django.urls import reverse

from audience.models import Segment, SegmentType
from audience.services import endpoints_write
from audience.validation import parse_endpoint
from campaigns.campaign_results import calendar_month, daily_series, treatment_results
from campaigns.models import (
    Campaign,
    CampaignActivity,
    CampaignRun,
    CampaignState,
    Delivery,
    DeliveryStatus,
    Frequency,
)
from campaigns.templates import template_create
from campaigns.tracking import email_click_record, email_open_record, email_unsubscribe
from projects.models import Role
from tests.factories import EventFactory, MembershipFactory, ProjectFactory

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
    row = re.search(rf'<tr id="{row_id}">(.*?)</tr>', html, re.S).group(1)
    return {
        m: re.sub(r"<div.*", "", v, flags=re.S).strip()
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


def _deliveries(project, campaign, treatment_id: str, statuses: list[tuple[str, datetime | None]]) -> None:
    Delivery.objects.bulk_create(
        Delivery(
            project=project,
            channel="EMAIL",
            address=f"r{treatment_id}-{n}@example.com",
            endpoint_key=f"r{treatment_id}-{n}",
            source="CAMPAIGN",
            campaign_id=campaign.pk,
            treatment_id=treatment_id,
            status=status,
            sent_at=sent_at,
            message_id=f"<{campaign.pk}-{treatment_id}-{n}@example.com>",
        )
        for n, (status, sent_at) in enumerate(statuses)
    )


def _event(project, campaign, treatment_id: str, event_type: str, endpoint: str, when: datetime) -> None:
    EventFactory(
        project=project,
        endpoint_key=endpoint,
        event_type=event_type,
        timestamp=when,
        attributes={"campaign_id": campaign.pk, "treatment_id": treatment_id},
    )


@pytest.fixture
def ab_campaign(project, segment):
    campaign = make_campaign(
        project,
        "Subject test",
        segment=segment,
        definition={
            "HoldoutPercent": 10,
            "TreatmentName": "Plain",
            "AdditionalTreatments": [
                {"Id": "1", "SizePercent": 40, "TreatmentName": "Emoji", "MessageConfiguration": EMAIL}
            ],
        },
    )
    Campaign.objects.filter(pk=campaign.pk).update(creation_date=at(1))
    campaign.refresh_from_db()
    sent, failed, queued = DeliveryStatus.SENT, DeliveryStatus.FAILED_PERMANENT, DeliveryStatus.QUEUED
    _deliveries(project, campaign, "0", [(sent, at(10)), (sent, at(10)), (sent, at(11)), (failed, None)])
    _deliveries(project, campaign, "1", [(sent, at(10)), (sent, at(11)), (queued, None)])
    _event(project, campaign, "0", "_email.open", "r0-0", at(10, 12))
    _event(project, campaign, "0", "_email.open", "r0-0", at(10, 15))  # the same endpoint, another hour
    _event(project, campaign, "0", "_email.open", "r0-1", at(11, 10))
    _event(project, campaign, "0", "_email.click", "r0-1", at(11, 10))
    _event(project, campaign, "1", "_email.open", "r1-0", at(11, 10))
    _event(project, campaign, "1", "_email.unsubscribe", "r1-0", at(11, 11))
    _event(project, campaign, "1", "_email.delivered", "r1-0", at(10, 9))
    # Not this campaign's: another campaign's open, and an open without campaign attributes.
    EventFactory(project=project, endpoint_key="r0-2", event_type="_email.open", timestamp=at(11), attributes={})
    _event(project, make_campaign(project, "Other"), "0", "_email.open", "r0-2", at(11))
    return campaign


def test_the_detail_page_shows_per_treatment_figures_from_the_rows(signed_in, ab_campaign):
    html = signed_in.get(reverse("campaigns:campaign", args=[ab_campaign.pk])).content.decode()

    assert cells(html, "treatment-0") == {
        "sent": "3",
        "failed": "1",
        "pending": "0",
        "delivered": "0",
        "opened": "2",
        "clicked": "1",
        "opted_out": "0",
    }
    assert cells(html, "treatment-1") == {
        "sent": "2",
        "failed": "0",
        "pending": "1",
        "delivered": "1",
        "opened": "1",
        "clicked": "0",
        "opted_out": "1",
    }
    assert "A — Plain" in html and "B — Emoji" in html
    assert "50% of the segment" in html and "40% of the segment" in html
    assert "66.7%" in html  # treatment A: 2 of 3 sent messages opened


def test_the_chart_table_has_the_daily_numbers(signed_in, ab_campaign):
    html = signed_in.get(reverse("campaigns:campaign", args=[ab_campaign.pk])).content.decode()

    table = re.search(r'<table class="compact" id="results-table">.*?<tbody>(.*?)</tbody>', html, re.S).group(1)
    rows = {
        re.search(r'datetime="([\d-]+)"', row).group(1): re.findall(r'<td class="number">(\d+)</td>', row)
        for row in re.findall(r"<tr><th.*?</tr>", table, re.S)
    }
    # sent, delivered, opened, clicked, opted out (endpoints per day)
    assert rows == {"2030-03-10": ["3", "1", "1", "0", "0"], "2030-03-11": ["2", "0", "2", "1", "1"]}
    assert 'id="results-data"' in html
    assert 'role="img"' in html


def test_the_daily_figures_download_as_csv(signed_in, ab_campaign):
    response = signed_in.get(reverse("campaigns:campaign_daily_csv", args=[ab_campaign.pk]))

    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response.content.decode().splitlines() == [
        "day,sent,delivered,opened,clicked,opted_out",
        "2030-03-10,3,1,1,0,0",
        "2030-03-11,2,0,2,1,1",
    ]


def test_results_count_endpoints_not_events(ab_campaign):
    results = {r.treatment_id: r for r in treatment_results(ab_campaign)}
    series = daily_series(ab_campaign)

    assert results["0"].opened == 2
    assert series.values["opened"] == [1, 2]
    assert series.chart_data()["labels"] == ["2030-03-10", "2030-03-11"]


def test_tracked_opens_clicks_and_unsubscribes_count_for_the_campaign(signed_in, project):
    _endpoint(project, "ada", {"ChannelType": "EMAIL", "Address": "ada@example.com"})
    campaign = make_campaign(project)
    delivery = Delivery.objects.create(
        project=project,
        channel="EMAIL",
        address="ada@example.com",
        endpoint_key="ada",
        source="CAMPAIGN",
        campaign_id=campaign.pk,
        campaign_activity_id="a1",
        treatment_id="0",
        status=DeliveryStatus.SENT,
        sent_at=at(10),
        message_id="<m1@example.com>",
    )

    email_open_record(delivery)
    email_click_record(delivery, "https://example.com/sale")
    email_unsubscribe(delivery)

    html = signed_in.get(reverse("campaigns:campaign", args=[campaign.pk])).content.decode()
    figures = cells(html, "treatment-0")
    assert (figures["sent"], figures["opened"], figures["clicked"], figures["opted_out"]) == ("1", "1", "1", "1")


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
