"""WriteJourneyRequest validation through boto3: every member's rule answers 400
BadRequestException in Pinpoint's error shape, saying why, and saves nothing; drafts may be
incomplete where Pinpoint's console lets them be."""

import json
from datetime import UTC, datetime

import pytest

from audience.models import Segment, SegmentType
from audience.segments import segment_create
from campaigns.templates import template_create
from journeys.models import Journey
from tests.conftest import send_signed

pytestmark = pytest.mark.django_db(transaction=True)

PLAN_PRO = {"Attributes": {"Plan": {"AttributeType": "INCLUSIVE", "Values": ["pro"]}}}
SIGNUP = {"FilterType": "ENDPOINT", "Dimensions": {"EventType": {"Values": ["signup"]}}}
QUIET = {"Start": "22:00", "End": "07:00"}


@pytest.fixture
def segment(project):
    return segment_create(project, name="Pro", dimensions=PLAN_PRO)


@pytest.fixture(autouse=True)
def templates(db):
    template_create("EMAIL", "welcome", {"Subject": "Hi", "HtmlPart": "<p>Hi</p>"})
    template_create("SMS", "nudge", {"Body": "Still there?"})


def with_activity(activity):
    return {"Activities": {"first": activity}, "StartActivity": "first"}


def email(**members):
    return {"EMAIL": {"TemplateName": "welcome", **members}}


def split(condition):
    return {"ConditionalSplit": {"Condition": {"Conditions": [condition]}}}


def journey_request(segment, **members):
    body = {
        "Name": "Welcome",
        "StartCondition": {"SegmentStartCondition": {"SegmentId": segment.id}},
        "StartActivity": "first",
        "Activities": {"first": email()},
        **members,
    }
    return {k: v for k, v in body.items() if v is not None}


def refused_message(client, project, request) -> str:
    with pytest.raises(client.exceptions.BadRequestException) as refused:
        client.create_journey(ApplicationId=project.id, WriteJourneyRequest=request)
    error = refused.value.response
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert error["ResponseMetadata"]["HTTPHeaders"]["x-amzn-errortype"] == "BadRequestException"
    assert error["Error"]["Message"]
    assert not Journey.objects.exists()
    return error["Error"]["Message"]


@pytest.mark.parametrize(
    ("members", "says"),
    [
        ({"Name": None}, "Name is required."),
        ({"Name": "Welcome series"}, "Name can't contain spaces"),
        ({"Name": "n" * 151}, "the limit is 150"),
        ({"State": "PAUSED"}, "State must be DRAFT or ACTIVE here"),
        ({"Activities": {"bad-id": email()}}, "Activity id 'bad-id' must be 1 to 100 letters and digits."),
        ({"Activities": {f"a{i}": email() for i in range(41)}}, "at most 40 activities; this one has 41"),
        (with_activity({}), "Activity first: An activity needs exactly one of EMAIL, SMS"),
        (with_activity({**email(), "Wait": {}}), "(it has EMAIL, Wait)"),
        (with_activity({"ContactCenter": {}}), "ContactCenter activities (Amazon Connect outbound calls) are not"),
        (with_activity(email(TemplateName="nope")), "EMAIL.TemplateName: there is no EMAIL template named nope."),
        (with_activity(email(TemplateName="nudge")), "(nudge is a SMS template)"),
        (with_activity(email(TemplateVersion="9")), "EMAIL.TemplateVersion: template welcome has no version 9."),
        (with_activity({"EMAIL": {"TemplateVersion": "1"}}), "EMAIL.TemplateVersion needs a TemplateName."),
        (with_activity(email(NextActivity=7)), "EMAIL.NextActivity must be a string."),
        (with_activity(email(MessageConfig={"FromAddress": 1})), "EMAIL.MessageConfig.FromAddress must be a string"),
        (
            with_activity({"SMS": {"TemplateName": "nudge", "MessageConfig": {"MessageType": "URGENT"}}}),
            "SMS.MessageConfig.MessageType must be one of TRANSACTIONAL, PROMOTIONAL.",
        ),
        (with_activity({"PUSH": {"MessageConfig": {"TimeToLive": "-1"}}}), "PUSH.MessageConfig.TimeToLive must be"),
        (with_activity({"CUSTOM": {"MessageConfig": {"Data": "x" * 5001}}}), "Data is 5001 characters long"),
        (with_activity({"CUSTOM": {"TemplateName": "welcome"}}), "Engage has no custom-channel templates"),
        (with_activity({"CUSTOM": {"DeliveryUri": "arn:aws:lambda:us-east-1:1:function:f"}}), "Lambda"),
        (with_activity({"CUSTOM": {"DeliveryUri": "http://example.com/hook"}}), "CUSTOM.DeliveryUri:"),
        (with_activity({"CUSTOM": {"EndpointTypes": ["FAX"]}}), "CUSTOM.EndpointTypes must be one of"),
        (
            with_activity({"Wait": {"WaitTime": {"WaitFor": "P1D", "WaitUntil": "2030-01-01T00:00:00Z"}}}),
            "Wait.WaitTime needs exactly one of WaitFor",
        ),
        (with_activity({"Wait": {"WaitTime": {"WaitFor": "1 day"}}}), "Wait.WaitTime.WaitFor '1 day' is not an"),
        (with_activity({"Wait": {"WaitTime": {"WaitFor": "P1M"}}}), "in years or months"),
        (with_activity({"Wait": {"WaitTime": {"WaitFor": "PT0S"}}}), "WaitFor must be at least"),
        (with_activity({"Wait": {"WaitTime": {"WaitUntil": "tomorrow"}}}), "WaitUntil must be an ISO-8601"),
        (
            with_activity({"ConditionalSplit": {"Condition": {"Operator": "XOR"}}}),
            "ConditionalSplit.Condition.Operator must be one of ALL, ANY.",
        ),
        (
            with_activity({"ConditionalSplit": {"EvaluationWaitTime": {"WaitFor": "soon"}}}),
            "ConditionalSplit.EvaluationWaitTime.WaitFor 'soon' is not an ISO-8601 duration",
        ),
        (with_activity(split({})), "needs exactly one of EventCondition, SegmentCondition or segmentDimensions"),
        (with_activity(split({"SegmentCondition": {"SegmentId": "0" * 32}})), "there is no segment 000"),
        (
            with_activity(split({"EventCondition": {"Dimensions": {}}})),
            "EventCondition.Dimensions.EventType must be an object.",
        ),
        (
            with_activity({"MultiCondition": {"Branches": [{"NextActivity": "x"}] * 5}}),
            "MultiCondition.Branches has 5 branches; the limit is 4",
        ),
        (
            with_activity({"MultiCondition": {"Branches": [{"Condition": {"EventCondition": {}}}]}}),
            "MultiCondition.Branches[0].Condition.EventCondition.Dimensions must be an object.",
        ),
        (
            with_activity({"RandomSplit": {"Branches": [{"Percentage": 10}] * 6}}),
            "RandomSplit.Branches has 6 branches; the limit is 5.",
        ),
        (
            with_activity({"RandomSplit": {"Branches": [{"Percentage": 101}]}}),
            "RandomSplit.Branches[0].Percentage must be between 0 and 100, not 101.",
        ),
        (with_activity({"Holdout": {"NextActivity": "x"}}), "Holdout.Percentage must be a whole number."),
        (with_activity({"Holdout": {"Percentage": 150}}), "Holdout.Percentage must be between 0 and 100"),
        ({"StartActivity": 5}, "StartActivity must be a string."),
        (
            {"StartCondition": {"SegmentStartCondition": {"SegmentId": "x"}, "EventStartCondition": {}}},
            "either a SegmentStartCondition or an EventStartCondition, not both",
        ),
        ({"StartCondition": {"SegmentStartCondition": {"SegmentId": "0" * 32}}}, "there is no segment"),
        (
            {"StartCondition": {"EventStartCondition": {"EventFilter": {**SIGNUP, "FilterType": "CLIENT"}}}},
            "EventFilter.FilterType must be one of SYSTEM, ENDPOINT.",
        ),
        (
            {"StartCondition": {"EventStartCondition": {"EventFilter": {"FilterType": "ENDPOINT"}}}},
            "EventFilter.Dimensions must be an object.",
        ),
        ({"Schedule": {"Timezone": "UTC-01"}}, "Schedule.Timezone must be one of"),
        (
            {"Schedule": {"StartTime": datetime(2030, 2, 1, tzinfo=UTC), "EndTime": datetime(2030, 1, 1, tzinfo=UTC)}},
            "Schedule.EndTime must be after Schedule.StartTime.",
        ),
        ({"LocalTime": "yes"}, "LocalTime must be true or false."),
        (
            {"LocalTime": True, "StartCondition": {"EventStartCondition": {"EventFilter": SIGNUP}}},
            "LocalTime is not supported for journeys started by an event",
        ),
        ({"QuietTime": {"Start": "25:00", "End": "07:00"}}, "QuietTime.Start must be a time of day as HH:MM"),
        ({"QuietTime": {"Start": "22:00"}}, "QuietTime.End must be a time of day"),
        ({"WaitForQuietTime": "no"}, "WaitForQuietTime must be true or false."),
        ({"RefreshFrequency": "PT30M"}, "RefreshFrequency must be at least 1 hour."),
        ({"RefreshFrequency": "hourly"}, "RefreshFrequency 'hourly' is not an ISO-8601 duration"),
        ({"RefreshOnSegmentUpdate": True}, "RefreshOnSegmentUpdate needs a RefreshFrequency"),
        ({"SendingSchedule": True}, "SendingSchedule needs QuietTime to be set first."),
        (
            {"QuietTime": QUIET, "OpenHours": {"EMAIL": {"MONDAY": [{"StartTime": "09:00", "EndTime": "17:00"}]}}},
            "OpenHours needs SendingSchedule set to true",
        ),
        (
            {"QuietTime": QUIET, "SendingSchedule": True, "OpenHours": {"SMS": {"FUNDAY": []}}},
            "OpenHours.SMS's days must be one of MONDAY",
        ),
        (
            {
                "QuietTime": QUIET,
                "SendingSchedule": True,
                "OpenHours": {"SMS": {"MONDAY": [{"StartTime": "09:00", "EndTime": "10:00"}] * 5}},
            },
            "OpenHours.SMS.MONDAY has 5 ranges; the limit is 4 a day.",
        ),
        (
            {
                "QuietTime": QUIET,
                "SendingSchedule": True,
                "OpenHours": {"SMS": {"MONDAY": [{"StartTime": "17:00", "EndTime": "09:00"}]}},
            },
            "OpenHours.SMS.MONDAY[0].EndTime must be after its StartTime.",
        ),
        (
            {
                "QuietTime": QUIET,
                "SendingSchedule": True,
                "ClosedDays": {
                    "EMAIL": [{"StartDateTime": "2030-01-02T00:00:00Z", "EndDateTime": "2030-01-01T00:00:00Z"}]
                },
            },
            "ClosedDays.EMAIL[0].EndDateTime must be after its StartDateTime.",
        ),
        (
            {
                "QuietTime": QUIET,
                "SendingSchedule": True,
                "ClosedDays": {
                    "EMAIL": [{"StartDateTime": "2030-01-01T00:00:00Z", "EndDateTime": "2030-01-02T00:00:00Z"}] * 21
                },
            },
            "ClosedDays.EMAIL has 21 rules; the limit is 20.",
        ),
        ({"Limits": {"DailyCap": 101}}, "Limits.DailyCap must be between 0 and 100, not 101."),
        ({"Limits": {"EndpointReentryCap": 101}}, "Limits.EndpointReentryCap must be between 0 and 100"),
        ({"Limits": {"TotalCap": -1}}, "Limits.TotalCap must be between 0 and 100"),
        ({"Limits": {"MessagesPerSecond": 0}}, "Limits.MessagesPerSecond must be between 1 and 20000"),
        ({"Limits": {"TimeframeCap": {"Cap": 101}}}, "Limits.TimeframeCap.Cap must be between 0 and 100"),
        ({"Limits": {"TimeframeCap": {"Days": 31}}}, "Limits.TimeframeCap.Days must be between 0 and 30"),
        ({"Limits": {"EndpointReentryInterval": "1h"}}, "Limits.EndpointReentryInterval '1h' is not an ISO-8601"),
        ({"TimezoneEstimationMethods": ["GPS"]}, "TimezoneEstimationMethods must be one of PHONE_NUMBER, POSTAL_CODE"),
        ({"TimezoneEstimationMethods": ["PHONE_NUMBER"] * 2}, "TimezoneEstimationMethods lists a method twice."),
        (
            {"JourneyChannelSettings": {"ConnectCampaignExecutionRoleArn": "arn:aws:iam::123456789012:role/a/b"}},
            "must be an IAM role ARN without a path",
        ),
    ],
)
def test_invalid_requests_answer_400_saying_why(unvalidated_pinpoint, project, segment, members, says):
    message = refused_message(unvalidated_pinpoint, project, journey_request(segment, **members))

    assert says in message


@pytest.mark.parametrize(
    ("members", "says"),
    [
        ({"Activities": ["first"]}, "Activities must be an object."),
        (with_activity({"EMAIL": "welcome"}), "Activity first: EMAIL must be an object."),
        (
            with_activity({"ConditionalSplit": {"Condition": {"Conditions": {"a": 1}}}}),
            "ConditionalSplit.Condition.Conditions must be a list.",
        ),
        (
            with_activity(split({"SegmentDimensions": PLAN_PRO})),
            "Pinpoint's JSON spells SegmentDimensions as segmentDimensions",
        ),
        (
            with_activity(split({"segmentDimensions": {"Demographic": {"Shoe": {"Values": ["9"]}}}})),
            "segmentDimensions: Demographic.Shoe is not a segment dimension.",
        ),
        (
            {"QuietTime": QUIET, "SendingSchedule": True, "OpenHours": {"FAX": {}}},
            "OpenHours' channels must be one of EMAIL, SMS, PUSH, VOICE, CUSTOM.",
        ),
        ({"Schedule": {"StartTime": "soon"}}, "Schedule.StartTime must be an ISO-8601 timestamp."),
    ],
)
def test_json_botocore_would_not_send_answers_400(live_server, access_key, project, segment, members, says):
    key_id, secret = access_key
    body = json.dumps(journey_request(segment, **members)).encode()

    response = send_signed(
        live_server, "POST", f"/v1/apps/{project.id}/journeys", key_id=key_id, secret=secret, body=body
    )

    assert (response.status, response.headers["x-amzn-errortype"]) == (400, "BadRequestException")
    assert says in response.json()["Message"]
    assert not Journey.objects.exists()


def test_segment_dimensions_travel_as_segmentdimensions(pinpoint, project, segment):
    activities = {"first": split({"SegmentDimensions": PLAN_PRO})}

    created = pinpoint.create_journey(
        ApplicationId=project.id, WriteJourneyRequest=journey_request(segment, Activities=activities)
    )["JourneyResponse"]

    stored = Journey.objects.get(pk=created["Id"]).definition["Activities"]["first"]
    assert stored["ConditionalSplit"]["Condition"]["Conditions"] == [{"segmentDimensions": PLAN_PRO}]
    assert created["Activities"] == activities


def test_every_bad_activity_is_reported_at_once(unvalidated_pinpoint, project, segment):
    activities = {
        "first": email(TemplateName="nope", NextActivity=3),
        "second": {"Holdout": {"Percentage": 101}},
    }

    message = refused_message(unvalidated_pinpoint, project, journey_request(segment, Activities=activities))

    assert "Activity first: EMAIL.NextActivity must be a string." in message
    assert "Activity first: EMAIL.TemplateName: there is no EMAIL template named nope." in message
    assert "Activity second: Holdout.Percentage must be between 0 and 100, not 101." in message


def test_an_event_started_journey_needs_a_dynamic_segment(pinpoint, project):
    imported = Segment.objects.create(project=project, name="csv", segment_type=SegmentType.IMPORT)
    start = {"EventStartCondition": {"EventFilter": SIGNUP, "SegmentId": imported.id}}

    message = refused_message(pinpoint, project, journey_request(imported, StartCondition=start))

    assert "an event-started journey needs a dynamic segment" in message


def test_a_segment_started_journey_may_use_an_imported_segment(pinpoint, project):
    imported = Segment.objects.create(project=project, name="csv", segment_type=SegmentType.IMPORT)

    journey = pinpoint.create_journey(ApplicationId=project.id, WriteJourneyRequest=journey_request(imported))

    assert journey["JourneyResponse"]["StartCondition"]["SegmentStartCondition"]["SegmentId"] == imported.id


def test_a_draft_may_be_incomplete(pinpoint, project, segment):
    activities = {
        "first": {"EMAIL": {"NextActivity": "missing"}},
        "split": {"RandomSplit": {"Branches": [{"Percentage": 30}]}},
        "pause": {"Wait": {}},
    }

    journey = pinpoint.create_journey(
        ApplicationId=project.id,
        WriteJourneyRequest={"Name": "Draft", "Activities": activities},
    )["JourneyResponse"]

    assert (journey["State"], journey["Activities"]) == ("DRAFT", activities)
    assert "StartActivity" not in journey


def test_a_webhook_delivery_uri_gets_pinpoints_head_check(pinpoint, project, segment, settings):
    from tests.campaigns.provider_server import ProviderServer

    settings.ENGAGE_ACCOUNT_ID = "123456789012"
    receiver = ProviderServer()
    try:
        custom = with_activity({"CUSTOM": {"DeliveryUri": receiver.url + "/hook", "MessageConfig": {"Data": "{}"}}})
        message = refused_message(pinpoint, project, journey_request(segment, **custom))
        receiver.answer((200, {"X-Amz-Pinpoint-AccountId": "123456789012"}, b""))

        created = pinpoint.create_journey(
            ApplicationId=project.id, WriteJourneyRequest=journey_request(segment, **custom)
        )
        pinpoint.update_journey(
            ApplicationId=project.id,
            JourneyId=created["JourneyResponse"]["Id"],
            WriteJourneyRequest={"Name": "Renamed"},
        )
    finally:
        receiver.stop()

    assert "X-Amz-Pinpoint-AccountId: 123456789012" in message
    assert [r.method for r in receiver.received] == ["HEAD", "HEAD"]  # not again for an unchanged URI
