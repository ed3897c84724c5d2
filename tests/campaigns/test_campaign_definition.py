"""campaigns.campaigns, the definition service: treatments, pause and resume, next runs after runs,
states, and what an update re-checks."""

from datetime import UTC, datetime

import pytest
import time_machine

from audience.segments import segment_create, segment_delete
from campaigns.campaigns import (
    CampaignInvalid,
    activity_response,
    campaign_create,
    campaign_response,
    campaign_set_paused,
    campaign_update,
    treatments_of,
)
from campaigns.models import Campaign, CampaignActivity, CampaignRun, CampaignState, CampaignVersion
from tests.campaigns.provider_server import ProviderServer

pytestmark = pytest.mark.django_db(transaction=True)

PLAN_PRO = {"Attributes": {"Plan": {"AttributeType": "INCLUSIVE", "Values": ["pro"]}}}
EMAIL = {"EmailMessage": {"Title": "Hi", "HtmlBody": "<p>Sale</p>"}}
SMS = {"SMSMessage": {"Body": "Sale"}}
NOW = datetime(2030, 1, 1, 8, tzinfo=UTC)


@pytest.fixture
def segment(project):
    return segment_create(project, name="Pro", dimensions=PLAN_PRO)


def request_for(segment, **members):
    return {
        "Name": "Sale",
        "SegmentId": segment.id,
        "Schedule": {"StartTime": "2030-01-01T10:00:00Z"},
        "MessageConfiguration": EMAIL,
        **members,
    }


def ran(campaign, start: datetime) -> CampaignRun:
    return CampaignRun.objects.create(campaign=campaign, campaign_version=campaign.version, scheduled_start=start)


def test_treatments_take_cohorts_after_the_holdout_in_id_order():
    definition = {
        "HoldoutPercent": 10,
        "MessageConfiguration": EMAIL,
        "AdditionalTreatments": [{"Id": "1", "SizePercent": 30}, {"Id": "2", "SizePercent": 20}],
    }

    treatments = treatments_of(definition)

    assert [(t["Id"], t["SizePercent"], t["Cohorts"]) for t in treatments] == [
        ("0", 40, (10, 50)),
        ("1", 30, (50, 80)),
        ("2", 20, (80, 100)),
    ]


def test_treatments_inherit_the_campaigns_members_unless_they_override():
    definition = {
        "TreatmentName": "A",
        "MessageConfiguration": EMAIL,
        "Schedule": {"StartTime": "IMMEDIATE"},
        "AdditionalTreatments": [
            {"Id": "1", "SizePercent": 50, "TreatmentName": "B", "MessageConfiguration": SMS},
        ],
    }

    default, other = treatments_of(definition)

    assert (default["TreatmentName"], default["MessageConfiguration"]) == ("A", EMAIL)
    assert (other["TreatmentName"], other["MessageConfiguration"]) == ("B", SMS)
    assert other["Schedule"] == {"StartTime": "IMMEDIATE"}
    assert "TemplateConfiguration" not in other


def test_a_treatment_without_a_message_of_its_own_uses_the_campaigns(project, segment):
    campaign = campaign_create(project, request_for(segment, AdditionalTreatments=[{"SizePercent": 50}]))

    assert treatments_of(campaign.definition)[1]["MessageConfiguration"] == EMAIL


def test_set_paused_is_a_new_version_and_keeps_the_planned_run(project, segment):
    campaign = campaign_create(project, request_for(segment))

    paused = campaign_set_paused(campaign, True)
    resumed = campaign_set_paused(paused, False)

    assert (paused.state, paused.is_paused, paused.version) == (CampaignState.PAUSED, True, 2)
    assert paused.definition["IsPaused"] is True
    assert paused.next_run_at == datetime(2030, 1, 1, 10, tzinfo=UTC)
    assert (resumed.state, resumed.is_paused, resumed.version) == (CampaignState.SCHEDULED, False, 3)
    assert list(CampaignVersion.objects.filter(campaign=campaign).values_list("version", flat=True)) == [1, 2, 3]


def test_an_immediate_campaign_cannot_be_paused(project, segment):
    campaign = campaign_create(project, request_for(segment, Schedule={"StartTime": "IMMEDIATE"}))

    with pytest.raises(CampaignInvalid, match="IMMEDIATE cannot be paused"):
        campaign_set_paused(campaign, True)


def test_resuming_a_recurring_campaign_after_missed_starts_plans_the_next_start_ahead(project, segment):
    schedule = {"StartTime": "2030-01-01T10:00:00Z", "Frequency": "DAILY", "EndTime": "2030-02-01T00:00:00Z"}
    with time_machine.travel(NOW, tick=False):
        campaign = campaign_set_paused(campaign_create(project, request_for(segment, Schedule=schedule)), True)

    with time_machine.travel(datetime(2030, 1, 5, 12, tzinfo=UTC), tick=False):
        resumed = campaign_set_paused(campaign, False)

    assert resumed.next_run_at == datetime(2030, 1, 6, 10, tzinfo=UTC)
    assert resumed.state == CampaignState.SCHEDULED


def test_a_new_schedule_of_a_recurring_campaign_continues_after_its_last_run(project, segment):
    schedule = {"StartTime": "2030-01-01T10:00:00Z", "Frequency": "DAILY"}
    campaign = campaign_create(project, request_for(segment, Schedule=schedule))
    ran(campaign, datetime(2030, 1, 1, 10, tzinfo=UTC))
    ran(campaign, datetime(2030, 1, 2, 10, tzinfo=UTC))

    updated = campaign_update(campaign, {"Schedule": {**schedule, "EndTime": "2030-01-10T00:00:00Z"}})

    assert updated.next_run_at == datetime(2030, 1, 3, 10, tzinfo=UTC)
    assert updated.state == CampaignState.PENDING_NEXT_RUN


def test_renaming_a_completed_campaign_keeps_it_completed(project, segment):
    campaign = campaign_create(project, request_for(segment))
    ran(campaign, datetime(2030, 1, 1, 10, tzinfo=UTC))
    Campaign.objects.filter(pk=campaign.pk).update(state=CampaignState.COMPLETED, next_run_at=None)

    updated = campaign_update(Campaign.objects.get(pk=campaign.pk), {"Name": "Renamed"})

    assert (updated.name, updated.state, updated.next_run_at) == ("Renamed", CampaignState.COMPLETED, None)


def test_a_once_campaign_that_ran_runs_again_only_for_a_later_start_time(project, segment):
    campaign = campaign_create(project, request_for(segment))
    ran(campaign, datetime(2030, 1, 1, 10, tzinfo=UTC))
    Campaign.objects.filter(pk=campaign.pk).update(state=CampaignState.COMPLETED, next_run_at=None)

    updated = campaign_update(campaign, {"Schedule": {"StartTime": "2030-02-01T10:00:00Z"}})

    assert (updated.state, updated.next_run_at) == (
        CampaignState.PENDING_NEXT_RUN,
        datetime(2030, 2, 1, 10, tzinfo=UTC),
    )


def test_an_executing_campaign_stays_executing_when_updated(project, segment):
    campaign = campaign_create(project, request_for(segment))
    Campaign.objects.filter(pk=campaign.pk).update(state=CampaignState.EXECUTING)

    updated = campaign_update(campaign, {"Description": "tweak"})

    assert updated.state == CampaignState.EXECUTING


def test_a_deleted_campaign_comes_back_with_a_new_segment(project, segment):
    campaign = campaign_create(project, request_for(segment))
    replacement = segment_create(project, name="Replacement", dimensions=PLAN_PRO)
    segment_delete(segment)
    campaign.refresh_from_db()

    with pytest.raises(CampaignInvalid, match="no segment"):
        campaign_update(campaign, {"Name": "still pointing at the old one"})
    revived = campaign_update(campaign, {"SegmentId": replacement.id})

    assert (revived.state, revived.segment_id) == (CampaignState.SCHEDULED, replacement.id)


def test_a_new_segment_is_followed_at_its_latest_version(project, segment):
    campaign = campaign_create(project, request_for(segment, SegmentVersion=1))
    other = segment_create(project, name="Other", dimensions=PLAN_PRO)

    updated = campaign_update(campaign, {"SegmentId": other.id})

    assert (updated.segment_id, updated.segment_version) == (other.id, None)
    assert "SegmentVersion" not in updated.definition


def test_an_unchanged_delivery_uri_is_not_checked_again(project, segment, settings):
    settings.ENGAGE_ACCOUNT_ID = "123456789012"
    receiver = ProviderServer()
    receiver.answer((200, {"X-Amz-Pinpoint-AccountId": "123456789012"}, b""))
    custom = {
        "MessageConfiguration": {"CustomMessage": {"Data": "x"}},
        "CustomDeliveryConfiguration": {"DeliveryUri": receiver.url + "/hook"},
    }
    campaign = campaign_create(project, request_for(segment, **custom))
    receiver.stop()

    updated = campaign_update(campaign, {"Name": "Renamed"})

    assert updated.version == 2
    assert len(receiver.received) == 1


def test_a_treatments_delivery_uri_gets_the_head_check(project, segment, settings):
    receiver = ProviderServer()
    try:
        treatment = {
            "SizePercent": 50,
            "MessageConfiguration": {"CustomMessage": {"Data": "x"}},
            "CustomDeliveryConfiguration": {"DeliveryUri": receiver.url + "/b"},
        }
        with pytest.raises(CampaignInvalid, match=r"AdditionalTreatments\[0\].CustomDeliveryConfiguration.DeliveryUri"):
            campaign_create(project, request_for(segment, AdditionalTreatments=[treatment]))
    finally:
        receiver.stop()

    assert [r.path for r in receiver.received] == ["/b"]


def test_an_in_app_campaign_keeps_its_message_priority_and_trigger(project, segment):
    in_app = {
        "Layout": "TOP_BANNER",
        "Content": [{"BodyConfig": {"Alignment": "LEFT", "Body": "Half price", "TextColor": "#000000"}}],
        "CustomConfig": {"k": "v"},
    }
    trigger = {"FilterType": "ENDPOINT", "Dimensions": {"EventType": {"Values": ["_session.start"]}}}
    schedule = {"StartTime": "2030-01-01T10:00:00Z", "Frequency": "IN_APP_EVENT", "EventFilter": trigger}

    campaign = campaign_create(
        project,
        request_for(segment, Schedule=schedule, MessageConfiguration={"InAppMessage": in_app}, Priority=1),
    )

    assert (campaign.frequency, campaign.priority, campaign.next_run_at) == ("IN_APP_EVENT", 1, None)
    assert campaign.definition["MessageConfiguration"]["InAppMessage"] == in_app
    assert campaign.definition["Schedule"]["EventFilter"] == trigger


def test_an_event_filter_keeps_attributes_and_metrics_and_checks_them(project, segment):
    dimensions = {
        "EventType": {"DimensionType": "INCLUSIVE", "Values": ["purchase"]},
        "Attributes": {"sku": {"AttributeType": "INCLUSIVE", "Values": ["a", "b"]}},
        "Metrics": {"price": {"ComparisonOperator": "GREATER_THAN", "Value": 10}},
    }
    schedule = {
        "StartTime": "2030-01-01T10:00:00Z",
        "Frequency": "EVENT",
        "EventFilter": {"FilterType": "ENDPOINT", "Dimensions": dimensions},
    }

    campaign = campaign_create(project, request_for(segment, Schedule=schedule))
    bad_metric = {**dimensions, "Metrics": {"price": {"ComparisonOperator": "ABOUT", "Value": 10}}}
    with pytest.raises(CampaignInvalid, match="ComparisonOperator must be one of"):
        campaign_update(
            campaign, {"Schedule": {**schedule, "EventFilter": {"FilterType": "ENDPOINT", "Dimensions": bad_metric}}}
        )

    assert campaign.definition["Schedule"]["EventFilter"]["Dimensions"] == dimensions


def test_the_in_app_quota_is_25_per_project(project, segment):
    schedule = {"StartTime": "2030-01-01T10:00:00Z", "Frequency": "IN_APP_EVENT"}
    request = request_for(segment, Schedule=schedule, MessageConfiguration={"InAppMessage": {"Layout": "OVERLAYS"}})
    for _ in range(25):
        campaign_create(project, request)

    with pytest.raises(CampaignInvalid, match="at most 25 in-app campaigns"):
        campaign_create(project, request)


def test_a_version_response_shows_that_versions_members(project, segment):
    campaign = campaign_create(project, request_for(segment))
    campaign = campaign_update(campaign, {"Name": "Two", "Limits": {"Daily": 3}})

    first = campaign_response(campaign, version=CampaignVersion.objects.get(campaign=campaign, version=1))
    now = campaign_response(campaign)

    assert (first["Version"], first["Name"], "Limits" in first) == (1, "Sale", False)
    assert (now["Version"], now["Name"], now["Limits"]) == (2, "Two", {"Daily": 3})


def test_activity_response_leaves_out_what_has_not_happened(project, segment):
    campaign = campaign_create(project, request_for(segment))
    run = ran(campaign, datetime(2030, 1, 1, 10, tzinfo=UTC))
    activity = CampaignActivity.objects.create(run=run, campaign=campaign, scheduled_start=run.scheduled_start)

    body = activity_response(activity)

    assert body["State"] == "PENDING"
    assert body["ScheduledStart"] == "2030-01-01T10:00:00.000Z"
    assert {"Start", "End", "Result"}.isdisjoint(body)
    assert body["ExecutionMetrics"] == {}


def test_resuming_a_campaign_whose_segment_was_deleted_leaves_it_deleted(project, segment):
    campaign = campaign_set_paused(campaign_create(project, request_for(segment)), True)
    segment_delete(segment)
    campaign.refresh_from_db()

    resumed = campaign_set_paused(campaign, False)

    assert (resumed.state, resumed.next_run_at, resumed.is_paused) == (CampaignState.DELETED, None, False)


def test_an_update_removes_a_member_sent_as_null(project, segment):
    from campaigns.templates import template_create

    template_create("SMS", "promo", {"Body": "Sale"})
    campaign = campaign_create(project, request_for(segment, Description="old"))

    updated = campaign_update(
        campaign, {"MessageConfiguration": None, "TemplateConfiguration": {"SMSTemplate": {"Name": "promo"}}}
    )

    assert "MessageConfiguration" not in updated.definition
    assert updated.definition["TemplateConfiguration"] == {"SMSTemplate": {"Name": "promo"}}
    assert updated.definition["Description"] == "old"


def test_a_treatment_with_content_of_its_own_inherits_neither_message_nor_template():
    template = {"EmailTemplate": {"Name": "welcome"}}
    definition = {
        "MessageConfiguration": EMAIL,
        "TemplateConfiguration": template,
        "AdditionalTreatments": [
            {"Id": "1", "SizePercent": 30, "TemplateConfiguration": {"SMSTemplate": {"Name": "promo"}}},
            {"Id": "2", "SizePercent": 30, "TreatmentName": "same content"},
        ],
    }

    _, own, inherited = treatments_of(definition)

    assert "MessageConfiguration" not in own
    assert own["TemplateConfiguration"] == {"SMSTemplate": {"Name": "promo"}}
    assert (inherited["MessageConfiguration"], inherited["TemplateConfiguration"]) == (EMAIL, template)
