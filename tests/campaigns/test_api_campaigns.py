"""The Pinpoint campaign API through boto3 against the live server: CRUD, versions, activities,
validation in Pinpoint's error shape, tenancy, tags, segment deletion and queued deliveries."""

from datetime import UTC, datetime, timedelta

import pytest

from audience.models import Segment, SegmentType
from audience.segments import segment_create, segment_delete
from campaigns.campaigns import campaign_create
from campaigns.models import (
    Campaign,
    CampaignActivity,
    CampaignRun,
    CampaignState,
    CampaignVersion,
    Delivery,
    DeliveryStatus,
)
from campaigns.templates import template_create
from projects.models import Role
from tests.campaigns.provider_server import ProviderServer
from tests.conftest import make_client, send_signed
from tests.factories import MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)

START = "2030-01-01T10:00:00Z"
PLAN_PRO = {"Attributes": {"Plan": {"AttributeType": "INCLUSIVE", "Values": ["pro"]}}}
EMAIL = {"EmailMessage": {"Title": "Hi {{User.UserAttributes.FirstName}}", "HtmlBody": "<p>Sale</p>"}}
PURCHASE = {"FilterType": "ENDPOINT", "Dimensions": {"EventType": {"DimensionType": "INCLUSIVE", "Values": ["buy"]}}}


@pytest.fixture
def segment(project):
    return segment_create(project, name="Pro", dimensions=PLAN_PRO)


def request_for(segment, **members):
    """A valid WriteCampaignRequest with `members` changed (None: left out)."""
    body = {
        "Name": "Spring sale",
        "SegmentId": segment.id,
        "Schedule": {"StartTime": START, "Frequency": "ONCE"},
        "MessageConfiguration": EMAIL,
        **members,
    }
    return {k: v for k, v in body.items() if v is not None}


def create(pinpoint, project, segment, **members):
    return pinpoint.create_campaign(ApplicationId=project.id, WriteCampaignRequest=request_for(segment, **members))


def test_create_campaign_answers_201_with_the_campaign_response(pinpoint, project, segment, settings):
    answer = create(pinpoint, project, segment, Description="d", tags={"team": "growth"})

    campaign = answer["CampaignResponse"]
    assert answer["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert campaign["Arn"] == (
        f"arn:aws:mobiletargeting:{settings.ENGAGE_REGION}:{settings.ENGAGE_ACCOUNT_ID}:apps/{project.id}"
        f"/campaigns/{campaign['Id']}"
    )
    assert campaign["ApplicationId"] == project.id
    assert (campaign["Name"], campaign["Description"], campaign["Version"]) == ("Spring sale", "d", 1)
    assert (campaign["SegmentId"], campaign["SegmentVersion"]) == (segment.id, 1)
    assert campaign["State"] == {"CampaignStatus": "SCHEDULED"}
    assert campaign["MessageConfiguration"] == EMAIL
    assert campaign["Schedule"] == {"StartTime": START, "Frequency": "ONCE"}
    assert campaign["tags"] == {"team": "growth"}
    assert (campaign["IsPaused"], campaign["HoldoutPercent"], campaign["AdditionalTreatments"]) == (False, 0, [])
    assert "DefaultState" not in campaign
    assert {"CreationDate", "LastModifiedDate"} <= campaign.keys()


def test_create_sets_the_columns_the_engine_reads(pinpoint, project, segment):
    campaign_id = create(pinpoint, project, segment, Priority=2)["CampaignResponse"]["Id"]

    row = Campaign.objects.get(pk=campaign_id)
    assert row.next_run_at == datetime(2030, 1, 1, 10, tzinfo=UTC)
    assert (row.frequency, row.segment_id, row.segment_version, row.priority) == ("ONCE", segment.id, None, 2)
    assert row.definition["Name"] == "Spring sale"
    assert CampaignVersion.objects.get(campaign=row).definition == row.definition


def test_a_local_time_schedule_begins_when_the_earliest_zone_reaches_the_start(pinpoint, project, segment):
    schedule = {"StartTime": "2030-01-01T09:00:00", "Timezone": "UTC+02", "IsLocalTime": True, "Frequency": "DAILY"}

    campaign_id = create(pinpoint, project, segment, Schedule=schedule)["CampaignResponse"]["Id"]

    # 09:00 wall clock read in UTC+14 is 19:00 UTC the day before.
    assert Campaign.objects.get(pk=campaign_id).next_run_at == datetime(2029, 12, 31, 19, tzinfo=UTC)


def test_event_and_in_app_campaigns_have_no_next_run(pinpoint, project, segment):
    schedule = {"StartTime": START, "Frequency": "EVENT", "EventFilter": PURCHASE}

    campaign_id = create(pinpoint, project, segment, Schedule=schedule)["CampaignResponse"]["Id"]

    row = Campaign.objects.get(pk=campaign_id)
    assert (row.frequency, row.next_run_at, row.state) == ("EVENT", None, "SCHEDULED")


def test_get_campaign_and_get_campaigns_pages(pinpoint, project, segment):
    ids = [create(pinpoint, project, segment, Name=f"c{i}")["CampaignResponse"]["Id"] for i in range(3)]

    one = pinpoint.get_campaign(ApplicationId=project.id, CampaignId=ids[1])["CampaignResponse"]
    first = pinpoint.get_campaigns(ApplicationId=project.id, PageSize="2")["CampaignsResponse"]
    second = pinpoint.get_campaigns(ApplicationId=project.id, PageSize="2", Token=first["NextToken"])[
        "CampaignsResponse"
    ]

    assert one["Name"] == "c1"
    assert [c["Name"] for c in first["Item"] + second["Item"]] == ["c0", "c1", "c2"]
    assert second.get("NextToken") is None


def test_get_campaigns_query_count_does_not_grow_with_campaigns(
    pinpoint, project, segment, django_assert_max_num_queries
):
    for i in range(15):
        campaign_create(project, request_for(segment, Name=f"c{i}"))

    with django_assert_max_num_queries(8):
        items = pinpoint.get_campaigns(ApplicationId=project.id)["CampaignsResponse"]["Item"]

    assert len(items) == 15


def test_update_is_a_new_version_and_old_versions_stay_readable(pinpoint, project, segment):
    campaign_id = create(pinpoint, project, segment, tags={"a": "1"})["CampaignResponse"]["Id"]
    sms = {"SMSMessage": {"Body": "Sale!", "MessageType": "PROMOTIONAL"}}

    updated = pinpoint.update_campaign(
        ApplicationId=project.id,
        CampaignId=campaign_id,
        WriteCampaignRequest={"Name": "Renamed", "MessageConfiguration": sms, "tags": {"ignored": "yes"}},
    )["CampaignResponse"]
    first = pinpoint.get_campaign_version(ApplicationId=project.id, CampaignId=campaign_id, Version="1")[
        "CampaignResponse"
    ]
    versions = pinpoint.get_campaign_versions(ApplicationId=project.id, CampaignId=campaign_id)["CampaignsResponse"]

    assert (updated["Version"], updated["Name"], updated["MessageConfiguration"]) == (2, "Renamed", sms)
    assert updated["Schedule"] == {"StartTime": START, "Frequency": "ONCE"}  # not sent: kept
    assert updated["tags"] == {"a": "1"}
    assert (first["Version"], first["Name"], first["MessageConfiguration"]) == (1, "Spring sale", EMAIL)
    assert [(v["Version"], v["Name"]) for v in versions["Item"]] == [(1, "Spring sale"), (2, "Renamed")]


def test_a_new_start_time_moves_the_next_run(pinpoint, project, segment):
    campaign_id = create(pinpoint, project, segment)["CampaignResponse"]["Id"]

    pinpoint.update_campaign(
        ApplicationId=project.id,
        CampaignId=campaign_id,
        WriteCampaignRequest={"Schedule": {"StartTime": "2030-03-01T08:00:00Z"}},
    )

    assert Campaign.objects.get(pk=campaign_id).next_run_at == datetime(2030, 3, 1, 8, tzinfo=UTC)


def test_an_unknown_campaign_version_is_not_found(pinpoint, project, segment):
    campaign_id = create(pinpoint, project, segment)["CampaignResponse"]["Id"]

    with pytest.raises(pinpoint.exceptions.NotFoundException):
        pinpoint.get_campaign_version(ApplicationId=project.id, CampaignId=campaign_id, Version="7")


def test_pausing_and_resuming(pinpoint, project, segment):
    campaign_id = create(pinpoint, project, segment)["CampaignResponse"]["Id"]

    paused = pinpoint.update_campaign(
        ApplicationId=project.id, CampaignId=campaign_id, WriteCampaignRequest={"IsPaused": True}
    )["CampaignResponse"]
    resumed = pinpoint.update_campaign(
        ApplicationId=project.id, CampaignId=campaign_id, WriteCampaignRequest={"IsPaused": False}
    )["CampaignResponse"]

    assert (paused["IsPaused"], paused["State"]["CampaignStatus"], paused["Version"]) == (True, "PAUSED", 2)
    assert (resumed["IsPaused"], resumed["State"]["CampaignStatus"], resumed["Version"]) == (False, "SCHEDULED", 3)


def test_an_immediate_campaign_cannot_be_paused(pinpoint, project, segment):
    campaign_id = create(pinpoint, project, segment, Schedule={"StartTime": "IMMEDIATE"})["CampaignResponse"]["Id"]

    with pytest.raises(pinpoint.exceptions.BadRequestException) as refused:
        pinpoint.update_campaign(
            ApplicationId=project.id, CampaignId=campaign_id, WriteCampaignRequest={"IsPaused": True}
        )

    assert "IMMEDIATE cannot be paused" in refused.value.response["Error"]["Message"]
    assert Campaign.objects.get(pk=campaign_id).version == 1


def test_ab_treatments_get_ids_sizes_and_states(pinpoint, project, segment):
    treatments = [
        {"SizePercent": 30, "TreatmentName": "B", "MessageConfiguration": {"SMSMessage": {"Body": "B"}}},
        {"SizePercent": 20, "TreatmentName": "C", "Schedule": {"StartTime": "2030-01-02T10:00:00Z"}},
    ]

    campaign = create(
        pinpoint, project, segment, HoldoutPercent=10, AdditionalTreatments=treatments, TreatmentName="A"
    )["CampaignResponse"]

    assert [(t["Id"], t["SizePercent"], t["TreatmentName"]) for t in campaign["AdditionalTreatments"]] == [
        ("1", 30, "B"),
        ("2", 20, "C"),
    ]
    assert campaign["AdditionalTreatments"][0]["State"] == {"CampaignStatus": "SCHEDULED"}
    assert campaign["DefaultState"] == {"CampaignStatus": "SCHEDULED"}
    assert (campaign["TreatmentName"], campaign["HoldoutPercent"]) == ("A", 10)


def test_delete_returns_the_campaign_and_fails_its_queued_deliveries(pinpoint, project, segment):
    campaign_id = create(pinpoint, project, segment)["CampaignResponse"]["Id"]
    common = {"project": project, "channel": "EMAIL", "address": "a@example.com", "campaign_id": campaign_id}
    queued = Delivery.objects.create(message_id="q@engage", status=DeliveryStatus.QUEUED, **common)
    sent = Delivery.objects.create(message_id="s@engage", status=DeliveryStatus.SENT, **common)
    other = Delivery.objects.create(
        message_id="o@engage", status=DeliveryStatus.QUEUED, **{**common, "campaign_id": "f" * 32}
    )

    deleted = pinpoint.delete_campaign(ApplicationId=project.id, CampaignId=campaign_id)["CampaignResponse"]

    assert (deleted["Id"], deleted["Name"], deleted["State"]["CampaignStatus"]) == (
        campaign_id,
        "Spring sale",
        "SCHEDULED",
    )
    assert not Campaign.objects.filter(pk=campaign_id).exists()
    assert not CampaignVersion.objects.exists()
    queued.refresh_from_db()
    assert queued.status == DeliveryStatus.FAILED_PERMANENT
    assert queued.last_error.startswith("CAMPAIGN_DELETED: ")
    assert Delivery.objects.get(pk=sent.pk).status == DeliveryStatus.SENT
    assert Delivery.objects.get(pk=other.pk).status == DeliveryStatus.QUEUED


def test_deleting_the_segment_makes_its_campaigns_deleted(pinpoint, project, segment):
    campaign_id = create(pinpoint, project, segment)["CampaignResponse"]["Id"]
    kept_segment = segment_create(project, name="Other", dimensions=PLAN_PRO)
    kept_id = create(pinpoint, project, kept_segment)["CampaignResponse"]["Id"]
    segment_id = segment.id

    segment_delete(segment)

    row = Campaign.objects.get(pk=campaign_id)
    assert (row.state, row.next_run_at, row.segment_id) == (CampaignState.DELETED, None, None)
    fetched = pinpoint.get_campaign(ApplicationId=project.id, CampaignId=campaign_id)["CampaignResponse"]
    assert (fetched["State"]["CampaignStatus"], fetched["SegmentId"]) == ("DELETED", segment_id)
    assert Campaign.objects.get(pk=kept_id).state == CampaignState.SCHEDULED


def test_activities_newest_run_first_in_pages(pinpoint, project, segment):
    campaign = Campaign.objects.get(pk=create(pinpoint, project, segment)["CampaignResponse"]["Id"])
    base = datetime(2030, 1, 1, 10, tzinfo=UTC)
    for day in range(2):
        run = CampaignRun.objects.create(
            campaign=campaign, campaign_version=1, scheduled_start=base + timedelta(days=day)
        )
        for treatment in ("0", "1"):
            CampaignActivity.objects.create(
                run=run,
                campaign=campaign,
                treatment_id=treatment,
                scheduled_start=run.scheduled_start,
                state="COMPLETED",
                result="SUCCESS",
                start=run.scheduled_start,
                total_endpoint_count=10,
                successful_endpoint_count=9,
                execution_metrics={"SUCCESS": 9, "QUIET_TIME": 1},
            )

    first = pinpoint.get_campaign_activities(ApplicationId=project.id, CampaignId=campaign.id, PageSize="3")[
        "ActivitiesResponse"
    ]
    second = pinpoint.get_campaign_activities(
        ApplicationId=project.id, CampaignId=campaign.id, PageSize="3", Token=first["NextToken"]
    )["ActivitiesResponse"]

    items = first["Item"] + second["Item"]
    assert [(a["ScheduledStart"][:10], a["TreatmentId"]) for a in items] == [
        ("2030-01-02", "0"),
        ("2030-01-02", "1"),
        ("2030-01-01", "0"),
        ("2030-01-01", "1"),
    ]
    assert items[0]["ExecutionMetrics"] == {"SUCCESS": "9", "QUIET_TIME": "1"}
    assert (items[0]["ApplicationId"], items[0]["CampaignId"], items[0]["Result"]) == (
        project.id,
        campaign.id,
        "SUCCESS",
    )
    assert (items[0]["TotalEndpointCount"], items[0]["SuccessfulEndpointCount"]) == (10, 9)
    assert second.get("NextToken") is None


def test_a_bad_activities_token_is_a_bad_request(pinpoint, project, segment):
    campaign_id = create(pinpoint, project, segment)["CampaignResponse"]["Id"]

    with pytest.raises(pinpoint.exceptions.BadRequestException):
        pinpoint.get_campaign_activities(ApplicationId=project.id, CampaignId=campaign_id, Token="nonsense")


def test_another_projects_campaign_is_not_found_and_untouched(pinpoint, project, user):
    other = MembershipFactory(role=Role.OWNER).project
    foreign = campaign_create(other, request_for(segment_create(other, name="theirs", dimensions=PLAN_PRO)))

    calls = [
        lambda: pinpoint.get_campaign(ApplicationId=project.id, CampaignId=foreign.id),
        lambda: pinpoint.update_campaign(
            ApplicationId=project.id, CampaignId=foreign.id, WriteCampaignRequest={"Name": "hijacked"}
        ),
        lambda: pinpoint.delete_campaign(ApplicationId=project.id, CampaignId=foreign.id),
        lambda: pinpoint.get_campaign_versions(ApplicationId=project.id, CampaignId=foreign.id),
        lambda: pinpoint.get_campaign_activities(ApplicationId=project.id, CampaignId=foreign.id),
        lambda: pinpoint.get_campaign(ApplicationId=other.id, CampaignId=foreign.id),
    ]
    for call in calls:
        with pytest.raises(pinpoint.exceptions.NotFoundException):
            call()

    row = Campaign.objects.get(pk=foreign.id)
    assert (row.name, row.version) == ("Spring sale", 1)


def test_a_campaign_of_another_projects_segment_is_refused(pinpoint, project):
    other = MembershipFactory(role=Role.OWNER).project
    theirs = segment_create(other, name="theirs", dimensions=PLAN_PRO)

    with pytest.raises(pinpoint.exceptions.BadRequestException) as refused:
        create(pinpoint, project, theirs)

    assert "no segment" in refused.value.response["Error"]["Message"]
    assert not Campaign.objects.exists()


def test_viewers_read_but_cannot_write(pinpoint_for, project, segment):
    viewer = UserFactory(username="viewer")
    MembershipFactory(user=viewer, project=project, role=Role.VIEWER)
    client = pinpoint_for(viewer)
    campaign = campaign_create(project, request_for(segment))

    assert client.get_campaign(ApplicationId=project.id, CampaignId=campaign.id)["CampaignResponse"]["Id"]
    with pytest.raises(client.exceptions.ForbiddenException):
        client.create_campaign(ApplicationId=project.id, WriteCampaignRequest=request_for(segment))
    with pytest.raises(client.exceptions.ForbiddenException):
        client.delete_campaign(ApplicationId=project.id, CampaignId=campaign.id)
    assert Campaign.objects.count() == 1


def test_tags_on_the_campaign_arn(pinpoint, project, segment):
    campaign = create(pinpoint, project, segment, tags={"a": "1"})["CampaignResponse"]

    pinpoint.tag_resource(ResourceArn=campaign["Arn"], TagsModel={"tags": {"b": "2"}})
    pinpoint.untag_resource(ResourceArn=campaign["Arn"], TagKeys=["a"])
    listed = pinpoint.list_tags_for_resource(ResourceArn=campaign["Arn"])["TagsModel"]["tags"]

    assert listed == {"b": "2"}
    assert Campaign.objects.get(pk=campaign["Id"]).tags == {"b": "2"}


# --- validation ----------------------------------------------------------------------------------

LONG_PUSH = {"DefaultMessage": {"Body": "x" * 201}}
BAD_EVENT_FILTER = {"FilterType": "CLIENT", "Dimensions": {"EventType": {"Values": ["buy"]}}}


@pytest.mark.parametrize(
    ("members", "says"),
    [
        ({"Schedule": None}, "Schedule is required"),
        ({"Schedule": {"Frequency": "ONCE"}}, "StartTime is required"),
        ({"Schedule": {"StartTime": "next tuesday"}}, "ISO-8601"),
        ({"Schedule": {"StartTime": START, "EndTime": "2029-12-31T00:00:00Z"}}, "EndTime must be after"),
        ({"Schedule": {"StartTime": START, "Frequency": "YEARLY"}}, "Frequency must be one of"),
        ({"Schedule": {"StartTime": START, "Timezone": "UTC-01"}}, "Timezone must be one of"),
        ({"Schedule": {"StartTime": START, "IsLocalTime": "yes"}}, "IsLocalTime must be true or false"),
        ({"Schedule": {"StartTime": START, "QuietTime": {"Start": "25:00", "End": "08:00"}}}, "HH:MM"),
        ({"Schedule": {"StartTime": START, "QuietTime": {"Start": "22:00"}}}, "QuietTime.End"),
        ({"Schedule": {"StartTime": START, "Frequency": "EVENT"}}, "needs Schedule.EventFilter"),
        (
            {"Schedule": {"StartTime": "IMMEDIATE", "Frequency": "EVENT", "EventFilter": PURCHASE}},
            "cannot start IMMEDIATE",
        ),
        ({"Schedule": {"StartTime": START, "EventFilter": PURCHASE}}, "applies only to EVENT"),
        ({"Schedule": {"StartTime": START, "Frequency": "EVENT", "EventFilter": BAD_EVENT_FILTER}}, "FilterType"),
        (
            {"Schedule": {"StartTime": START, "Frequency": "EVENT", "EventFilter": {"FilterType": "ENDPOINT"}}},
            "Dimensions must be an object",
        ),
        ({"SegmentId": None}, "SegmentId is required"),
        ({"SegmentId": "0" * 32}, "no segment"),
        ({"SegmentVersion": 9}, "has no version 9"),
        ({"SegmentVersion": True}, "SegmentVersion must be a whole number"),
        ({"Name": "n" * 257}, "256"),
        ({"MessageConfiguration": {}}, "needs a MessageConfiguration or a TemplateConfiguration"),
        ({"MessageConfiguration": LONG_PUSH}, "the limit is 200"),
        ({"MessageConfiguration": {"GCMMessage": {"Action": "LAUNCH"}}}, "Action must be one of"),
        ({"MessageConfiguration": {"APNSMessage": {"TimeToLive": -1}}}, "TimeToLive must be between"),
        ({"MessageConfiguration": {"SMSMessage": {"Body": "x", "MessageType": "URGENT"}}}, "MessageType"),
        ({"MessageConfiguration": {"EmailMessage": {"Title": "{{#if}}"}}}, "does not parse"),
        (
            {"MessageConfiguration": {"EmailMessage": {"Headers": [{"Name": "X", "Value": "v"}] * 16}}},
            "the limit is 15",
        ),
        ({"MessageConfiguration": {"CustomMessage": {"Data": "{}"}}}, "needs a CustomDeliveryConfiguration"),
        (
            {
                "MessageConfiguration": {"CustomMessage": {"Data": "x" * 5121}},
                "CustomDeliveryConfiguration": {"DeliveryUri": "https://example.com"},
            },
            "5 KB",
        ),
        (
            {"MessageConfiguration": {"InAppMessage": {"Layout": "TOP_BANNER"}}},
            "only in campaigns whose Schedule.Frequency is IN_APP_EVENT",
        ),
        (
            {
                "MessageConfiguration": {"InAppMessage": {"Layout": "SIDEBAR"}},
                "Schedule": {"StartTime": START, "Frequency": "IN_APP_EVENT"},
            },
            "Layout must be one of",
        ),
        ({"Schedule": {"StartTime": START, "Frequency": "IN_APP_EVENT"}}, "needs an InAppMessage or an InAppTemplate"),
        ({"TemplateConfiguration": {"EmailTemplate": {"Name": "nope"}}}, "no EMAIL template named nope"),
        ({"TemplateConfiguration": {"VoiceTemplate": {"Name": "v"}}}, "isn't supported for campaigns"),
        ({"Limits": {"Daily": 101}}, "Daily must be between 0 and 100"),
        ({"Limits": {"Total": 101}}, "Total must be between 0 and 100"),
        ({"Limits": {"MessagesPerSecond": 0}}, "MessagesPerSecond must be between 1 and 20000"),
        ({"Limits": {"MessagesPerSecond": 20001}}, "MessagesPerSecond must be between 1 and 20000"),
        ({"Limits": {"MaximumDuration": 59}}, "MaximumDuration must be between 60"),
        ({"Limits": {"Session": -1}}, "Session must be between 0"),
        ({"HoldoutPercent": 101}, "HoldoutPercent must be between 0 and 100"),
        ({"AdditionalTreatments": [{"SizePercent": 10}] * 5}, "at most 4 AdditionalTreatments"),
        ({"AdditionalTreatments": [{"TreatmentName": "B"}]}, "SizePercent must be a whole number"),
        ({"HoldoutPercent": 50, "AdditionalTreatments": [{"SizePercent": 30}, {"SizePercent": 21}]}, "make 101%"),
        (
            {"AdditionalTreatments": [{"SizePercent": 10, "Schedule": {"StartTime": START, "Frequency": "DAILY"}}]},
            "must be the campaign's (ONCE)",
        ),
        (
            {"AdditionalTreatments": [{"SizePercent": 10, "MessageConfiguration": {"CustomMessage": {"Data": "x"}}}]},
            "AdditionalTreatments[0]: a CustomMessage needs a CustomDeliveryConfiguration",
        ),
        ({"CustomDeliveryConfiguration": {"DeliveryUri": "arn:aws:lambda:us-east-1:1:function:f"}}, "Lambda"),
        ({"CustomDeliveryConfiguration": {"DeliveryUri": "http://example.com/hook"}}, "plain http://"),
        ({"CustomDeliveryConfiguration": {}}, "DeliveryUri must be a string"),
        ({"Hook": {"Mode": "DELIVERY", "WebUrl": "https://example.com/h"}}, "DELIVERY is no longer supported"),
        ({"Hook": {"LambdaFunctionName": "filter", "Mode": "FILTER"}}, "give WebUrl"),
        ({"Hook": {"WebUrl": "http://example.com/h", "Mode": "FILTER"}}, "plain http://"),
        ({"IsPaused": "yes"}, "IsPaused must be true or false"),
        ({"IsPaused": True, "Schedule": {"StartTime": "IMMEDIATE"}}, "IMMEDIATE cannot be paused"),
        ({"Priority": 0}, "Priority must be between 1 and 5"),
        ({"tags": {"aws:x": "1"}}, "reserved prefix"),
    ],
)
def test_invalid_requests_answer_400_saying_why(unvalidated_pinpoint, project, segment, members, says):
    with pytest.raises(unvalidated_pinpoint.exceptions.BadRequestException) as refused:
        unvalidated_pinpoint.create_campaign(
            ApplicationId=project.id, WriteCampaignRequest=request_for(segment, **members)
        )

    error = refused.value.response
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert error["ResponseMetadata"]["HTTPHeaders"]["x-amzn-errortype"] == "BadRequestException"
    assert says in error["Error"]["Message"]
    assert not Campaign.objects.exists()


def test_an_event_campaign_needs_a_dynamic_segment(pinpoint, project):
    imported = Segment.objects.create(project=project, name="csv", segment_type=SegmentType.IMPORT)
    schedule = {"StartTime": START, "Frequency": "EVENT", "EventFilter": PURCHASE}

    with pytest.raises(pinpoint.exceptions.BadRequestException) as refused:
        create(pinpoint, project, imported, Schedule=schedule)

    assert "needs a dynamic segment" in refused.value.response["Error"]["Message"]


def test_a_pinned_segment_version_must_exist_and_is_answered(pinpoint, project, segment):
    from audience.segments import segment_update

    segment_update(segment, name="Pro v2", dimensions=PLAN_PRO)

    pinned = create(pinpoint, project, segment, SegmentVersion=1)["CampaignResponse"]
    latest = create(pinpoint, project, segment)["CampaignResponse"]

    assert (pinned["SegmentVersion"], latest["SegmentVersion"]) == (1, 2)
    assert Campaign.objects.get(pk=pinned["Id"]).segment_version == 1


def test_templates_must_exist_with_their_type_and_version(unvalidated_pinpoint, project, segment, user):
    template_create("SMS", "promo", {"Body": "Sale"})
    template_create("EMAIL", "welcome", {"Subject": "Hi", "HtmlPart": "<p>Hi</p>"})

    def refused(configuration):
        with pytest.raises(unvalidated_pinpoint.exceptions.BadRequestException) as error:
            unvalidated_pinpoint.create_campaign(
                ApplicationId=project.id,
                WriteCampaignRequest=request_for(
                    segment, MessageConfiguration=None, TemplateConfiguration=configuration
                ),
            )
        return error.value.response["Error"]["Message"]

    assert "promo is a SMS template" in refused({"EmailTemplate": {"Name": "promo"}})
    assert "has no version 2" in refused({"SMSTemplate": {"Name": "promo", "Version": "2"}})
    created = unvalidated_pinpoint.create_campaign(
        ApplicationId=project.id,
        WriteCampaignRequest={
            **request_for(segment, MessageConfiguration=None),
            "TemplateConfiguration": {
                "SMSTemplate": {"Name": "promo", "Version": "1"},
                "EmailTemplate": {"Name": "welcome"},
            },
        },
    )["CampaignResponse"]
    assert created["TemplateConfiguration"] == {
        "SMSTemplate": {"Name": "promo", "Version": "1"},
        "EmailTemplate": {"Name": "welcome"},
    }


def test_a_webhook_delivery_uri_must_pass_pinpoints_head_check(pinpoint, project, segment, settings):
    settings.ENGAGE_ACCOUNT_ID = "123456789012"
    receiver = ProviderServer()
    try:
        custom = {
            "MessageConfiguration": {"CustomMessage": {"Data": '{"offer": 42}'}},
            "CustomDeliveryConfiguration": {"DeliveryUri": receiver.url + "/hook", "EndpointTypes": ["CUSTOM"]},
        }
        with pytest.raises(pinpoint.exceptions.BadRequestException) as refused:
            create(pinpoint, project, segment, **custom)
        receiver.answer((200, {"X-Amz-Pinpoint-AccountId": "123456789012"}, b""))

        created = create(pinpoint, project, segment, **custom)["CampaignResponse"]
    finally:
        receiver.stop()

    assert "X-Amz-Pinpoint-AccountId: 123456789012" in refused.value.response["Error"]["Message"]
    assert created["CustomDeliveryConfiguration"] == custom["CustomDeliveryConfiguration"]
    assert [r.method for r in receiver.received] == ["HEAD", "HEAD"]


def test_at_most_25_event_campaigns_per_project(pinpoint, project, segment):
    schedule = {"StartTime": START, "Frequency": "EVENT", "EventFilter": PURCHASE}
    for _ in range(25):
        campaign_create(project, request_for(segment, Schedule=schedule))

    with pytest.raises(pinpoint.exceptions.BadRequestException) as refused:
        create(pinpoint, project, segment, Schedule=schedule)

    assert "at most 25 event-based campaigns" in refused.value.response["Error"]["Message"]
    assert create(pinpoint, project, segment)["CampaignResponse"]["Id"]  # other kinds still fit


def test_at_most_200_active_campaigns_per_project(pinpoint, project, segment):
    Campaign.objects.bulk_create(
        Campaign(project=project, state=CampaignState.SCHEDULED, definition={}) for _ in range(199)
    )
    Campaign.objects.create(project=project, state=CampaignState.COMPLETED, definition={})
    create(pinpoint, project, segment)

    with pytest.raises(pinpoint.exceptions.BadRequestException) as refused:
        create(pinpoint, project, segment)

    assert "at most 200 active campaigns" in refused.value.response["Error"]["Message"]
    paused = create(pinpoint, project, segment, IsPaused=True)["CampaignResponse"]
    assert paused["State"]["CampaignStatus"] == "PAUSED"


@pytest.mark.parametrize("path", ["campaigns", "campaigns/{campaign}/versions", "campaigns/{campaign}/activities"])
def test_the_last_page_of_campaigns_leaves_next_token_out_of_the_json(path, live_server, project, access_key, segment):
    key_id, secret = access_key
    campaign = make_client(live_server, key_id, secret).create_campaign(
        ApplicationId=project.id, WriteCampaignRequest=request_for(segment)
    )["CampaignResponse"]
    url = f"/v1/apps/{project.id}/{path.format(campaign=campaign['Id'])}"

    answer = send_signed(live_server, "GET", url, key_id=key_id, secret=secret)

    assert answer.status == 200
    assert "NextToken" not in answer.json()  # Pinpoint leaves it out; null is no string to the model
