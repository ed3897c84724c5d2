"""GetInAppMessages: the endpoint's eligible in-app campaigns, through boto3 against the live server."""

from datetime import timedelta

import pytest
from django.utils import timezone

from audience.models import Endpoint
from audience.segments import segment_create
from campaigns.inapp import inapp_messages
from campaigns.models import Campaign, CampaignState, Frequency, TemplateType
from campaigns.templates import template_create, template_update
from projects.models import ApplicationSettings
from tests.campaigns import recipients
from tests.campaigns.recipients import pro_segment
from tests.factories import MembershipFactory, ProjectFactory

BANNER = {
    "Layout": "TOP_BANNER",
    "Content": [
        {
            "BackgroundColor": "#FFFFFF",
            "HeaderConfig": {"Alignment": "CENTER", "Header": "Sale", "TextColor": "#000000"},
            "BodyConfig": {"Alignment": "LEFT", "Body": "Half price today", "TextColor": "#333333"},
            "PrimaryBtn": {"DefaultConfig": {"ButtonAction": "CLOSE", "Text": "OK"}},
        }
    ],
    "CustomConfig": {"campaign": "sale"},
}
TRIGGER = {"FilterType": "ENDPOINT", "Dimensions": {"EventType": {"DimensionType": "INCLUSIVE", "Values": ["open"]}}}


def make_endpoint(project, endpoint_id: str, **fields) -> Endpoint:
    fields.setdefault("channel_type", "IN_APP")
    return recipients.make_endpoint(project, endpoint_id, **fields)


def inapp_campaign(
    project, segment, *, name: str = "banner", schedule: dict | None = None, state=CampaignState.SCHEDULED, **members
) -> Campaign:
    """An IN_APP_EVENT campaign as the campaign API stores it (definition = CampaignResponse members)."""
    definition = {
        "Name": name,
        "SegmentId": segment.pk,
        "SegmentVersion": segment.version,
        "Schedule": {
            "StartTime": "IMMEDIATE",
            "Frequency": "IN_APP_EVENT",
            "EventFilter": TRIGGER,
            **(schedule or {}),
        },
        "MessageConfiguration": {"InAppMessage": {"Body": "ignored", **BANNER}},
        **members,
    }
    return Campaign.objects.create(
        project=project,
        name=name,
        frequency=Frequency.IN_APP_EVENT,
        state=state,
        is_paused=bool(definition.get("IsPaused")),
        segment=segment,
        priority=definition.get("Priority"),
        definition=definition,
    )


def test_eligible_campaign_is_returned_with_message_caps_and_schedule(pinpoint, project):
    segment = pro_segment(project)
    make_endpoint(project, "Phone-1", attributes={"Plan": ["pro"]})
    end = (timezone.now() + timedelta(days=30)).strftime("%Y-%m-%dT%H:%M:%SZ")
    campaign = inapp_campaign(
        project,
        segment,
        Priority=2,
        Limits={"Daily": 3, "Session": 1, "Total": 10},
        schedule={"EndTime": end, "QuietTime": {"Start": "22:00", "End": "07:00"}},
    )

    response = pinpoint.get_in_app_messages(ApplicationId=project.id, EndpointId="phone-1")

    assert response["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert response["InAppMessagesResponse"]["InAppMessageCampaigns"] == [
        {
            "CampaignId": campaign.pk,
            "TreatmentId": "0",
            "Priority": 2,
            "DailyCap": 3,
            "SessionCap": 1,
            "TotalCap": 10,
            "InAppMessage": BANNER,
            "Schedule": {"EndDate": end, "EventFilter": TRIGGER, "QuietTime": {"Start": "22:00", "End": "07:00"}},
        }
    ]


def test_campaigns_are_ordered_by_priority_one_first_unprioritised_last(pinpoint, project):
    segment = pro_segment(project)
    make_endpoint(project, "p1", attributes={"Plan": ["pro"]})
    none = inapp_campaign(project, segment, name="none")
    low = inapp_campaign(project, segment, name="low", Priority=5)
    high = inapp_campaign(project, segment, name="high", Priority=1)

    response = pinpoint.get_in_app_messages(ApplicationId=project.id, EndpointId="p1")

    ids = [c["CampaignId"] for c in response["InAppMessagesResponse"]["InAppMessageCampaigns"]]
    assert ids == [high.pk, low.pk, none.pk]


def test_only_active_started_unpaused_in_app_campaigns_of_the_endpoints_segments_are_returned(project):
    segment = pro_segment(project)
    other = segment_create(
        project, name="free", dimensions={"Attributes": {"Plan": {"AttributeType": "INCLUSIVE", "Values": ["free"]}}}
    )
    make_endpoint(project, "p1", attributes={"Plan": ["pro"]})
    now = timezone.now()
    eligible = inapp_campaign(project, segment, name="eligible")
    inapp_campaign(project, segment, name="paused", IsPaused=True)
    inapp_campaign(project, segment, name="completed", state=CampaignState.COMPLETED)
    inapp_campaign(project, segment, name="later", schedule={"StartTime": (now + timedelta(hours=1)).isoformat()})
    inapp_campaign(project, segment, name="ended", schedule={"EndTime": (now - timedelta(minutes=1)).isoformat()})
    inapp_campaign(project, other, name="other segment")
    email = inapp_campaign(project, segment, name="email campaign")
    Campaign.objects.filter(pk=email.pk).update(frequency=Frequency.ONCE)

    answer = inapp_messages(project, "P1", now=now)

    assert [c["CampaignId"] for c in answer] == [eligible.pk]


def test_endpoint_outside_every_segment_gets_an_empty_list(pinpoint, project):
    inapp_campaign(project, pro_segment(project))
    make_endpoint(project, "p1", attributes={"Plan": ["free"]})

    response = pinpoint.get_in_app_messages(ApplicationId=project.id, EndpointId="p1")

    assert response["InAppMessagesResponse"] == {"InAppMessageCampaigns": []}


def test_inactive_and_opted_out_endpoints_get_nothing(project):
    inapp_campaign(project, pro_segment(project))
    make_endpoint(project, "inactive", attributes={"Plan": ["pro"]}, status="INACTIVE")
    make_endpoint(project, "opted-out", attributes={"Plan": ["pro"]}, opt_out="ALL")

    assert inapp_messages(project, "inactive") == []
    assert inapp_messages(project, "opted-out") == []


def test_endpoint_in_the_holdout_gets_nothing_from_that_campaign(project):
    segment = pro_segment(project)
    make_endpoint(project, "held", cohort=9, attributes={"Plan": ["pro"]})
    make_endpoint(project, "reached", cohort=10, attributes={"Plan": ["pro"]})
    campaign = inapp_campaign(project, segment, HoldoutPercent=10)

    assert inapp_messages(project, "held") == []
    assert [c["CampaignId"] for c in inapp_messages(project, "reached")] == [campaign.pk]


def test_additional_treatment_sends_its_own_message_by_cohort(project):
    segment = pro_segment(project)
    make_endpoint(project, "default", cohort=59, attributes={"Plan": ["pro"]})
    make_endpoint(project, "variant", cohort=60, attributes={"Plan": ["pro"]})
    variant = {**BANNER, "Layout": "BOTTOM_BANNER"}
    inapp_campaign(
        project,
        segment,
        AdditionalTreatments=[
            {"Id": "1", "SizePercent": 40, "MessageConfiguration": {"InAppMessage": variant}},
        ],
    )

    (default,) = inapp_messages(project, "default")
    (treated,) = inapp_messages(project, "variant")

    assert (default["TreatmentId"], default["InAppMessage"]["Layout"]) == ("0", "TOP_BANNER")
    assert (treated["TreatmentId"], treated["InAppMessage"]["Layout"]) == ("1", "BOTTOM_BANNER")


def test_in_app_template_gives_the_message_pinned_version_or_active(project):
    segment = pro_segment(project)
    make_endpoint(project, "p1", attributes={"Plan": ["pro"]})
    template_create(TemplateType.INAPP, "promo", {"Layout": "OVERLAYS", "Content": BANNER["Content"]})
    template_update(
        TemplateType.INAPP, "promo", {"Layout": "CAROUSEL", "Content": BANNER["Content"]}, create_new_version=True
    )
    active = inapp_campaign(
        project,
        segment,
        name="active",
        MessageConfiguration={},
        TemplateConfiguration={"InAppTemplate": {"Name": "promo"}},
    )
    pinned = inapp_campaign(
        project,
        segment,
        name="pinned",
        MessageConfiguration={},
        TemplateConfiguration={"InAppTemplate": {"Name": "promo", "Version": "2"}},
    )
    inapp_campaign(
        project,
        segment,
        name="gone",
        MessageConfiguration={},
        TemplateConfiguration={"InAppTemplate": {"Name": "nope"}},
    )

    answer = {c["CampaignId"]: c["InAppMessage"] for c in inapp_messages(project, "p1")}

    assert answer == {
        active.pk: {"Layout": "OVERLAYS", "Content": BANNER["Content"]},
        pinned.pk: {"Layout": "CAROUSEL", "Content": BANNER["Content"]},
    }


def test_missing_caps_come_from_the_project_settings(project):
    ApplicationSettings.objects.update_or_create(project=project, defaults={"limits_daily": 4, "limits_session": 2})
    make_endpoint(project, "p1", attributes={"Plan": ["pro"]})
    inapp_campaign(project, pro_segment(project), Limits={"Daily": 1})

    (entry,) = inapp_messages(project, "p1")

    assert (entry["DailyCap"], entry["SessionCap"], "TotalCap" in entry) == (1, 2, False)


def test_imported_segment_members_get_the_campaign(project):
    from audience.models import Segment, SegmentMember, SegmentType

    segment = Segment.objects.create(project=project, name="imported", segment_type=SegmentType.IMPORT)
    SegmentMember.objects.create(segment=segment, endpoint_key="p1")
    make_endpoint(project, "p1")
    make_endpoint(project, "p2")
    campaign = inapp_campaign(project, segment)

    assert [c["CampaignId"] for c in inapp_messages(project, "p1")] == [campaign.pk]
    assert inapp_messages(project, "p2") == []


def test_segment_membership_of_many_campaigns_is_one_query(project, django_assert_max_num_queries):
    segment = pro_segment(project)
    make_endpoint(project, "p1", attributes={"Plan": ["pro"]})
    for n in range(10):
        inapp_campaign(project, segment, name=f"c{n}", Priority=n + 1)

    # exists, campaigns, membership of all 10, settings
    with django_assert_max_num_queries(4):
        answer = inapp_messages(project, "p1")

    assert len(answer) == 10


def test_unknown_endpoint_is_not_found(pinpoint, project):
    with pytest.raises(pinpoint.exceptions.NotFoundException):
        pinpoint.get_in_app_messages(ApplicationId=project.id, EndpointId="nobody")


def test_another_projects_endpoint_is_not_found(pinpoint, project):
    stranger = ProjectFactory()
    inapp_campaign(stranger, pro_segment(stranger))
    make_endpoint(stranger, "theirs", attributes={"Plan": ["pro"]})

    with pytest.raises(pinpoint.exceptions.NotFoundException):
        pinpoint.get_in_app_messages(ApplicationId=project.id, EndpointId="theirs")


def test_another_projects_application_id_is_not_found(pinpoint, project):
    stranger = MembershipFactory().project
    make_endpoint(stranger, "theirs", attributes={"Plan": ["pro"]})

    with pytest.raises(pinpoint.exceptions.NotFoundException):
        pinpoint.get_in_app_messages(ApplicationId=stranger.id, EndpointId="theirs")


def test_in_app_campaign_created_through_create_campaign_is_returned(pinpoint, project):
    segment = pro_segment(project)
    make_endpoint(project, "p1", attributes={"Plan": ["pro"]})
    created = pinpoint.create_campaign(
        ApplicationId=project.id,
        WriteCampaignRequest={
            "Name": "banner",
            "SegmentId": segment.pk,
            "Priority": 1,
            "Limits": {"Daily": 2, "Session": 1, "Total": 5},
            "Schedule": {"StartTime": "IMMEDIATE", "Frequency": "IN_APP_EVENT", "EventFilter": TRIGGER},
            "MessageConfiguration": {"InAppMessage": BANNER},
        },
    )["CampaignResponse"]

    answer = pinpoint.get_in_app_messages(ApplicationId=project.id, EndpointId="p1")["InAppMessagesResponse"]

    (entry,) = answer["InAppMessageCampaigns"]
    assert (entry["CampaignId"], entry["Priority"], entry["DailyCap"], entry["TotalCap"]) == (created["Id"], 1, 2, 5)
    assert entry["InAppMessage"] == BANNER
    assert entry["Schedule"]["EventFilter"]["FilterType"] == "ENDPOINT"
