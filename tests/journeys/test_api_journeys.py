"""The Pinpoint journey API through boto3 against the live server: CRUD, paging, state changes,
409 conflicts, publish-time errors per activity, tenancy, tags and runs."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from audience.segments import segment_create
from campaigns.models import Delivery, DeliveryStatus
from campaigns.templates import template_create
from journeys.journeys import journey_create, journey_set_state
from journeys.models import Journey, JourneyRun
from projects.models import Role
from tests.conftest import make_client, send_signed
from tests.factories import MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)

PLAN_PRO = {"Attributes": {"Plan": {"AttributeType": "INCLUSIVE", "Values": ["pro"]}}}
NOW = datetime(2030, 1, 1, 9, 0, tzinfo=UTC)
SIGNUP = {"FilterType": "ENDPOINT", "Dimensions": {"EventType": {"Values": ["signup"]}}}


@pytest.fixture
def segment(project):
    return segment_create(project, name="Pro", dimensions=PLAN_PRO)


@pytest.fixture
def templates(db):
    template_create("EMAIL", "welcome", {"Subject": "Hi", "HtmlPart": "<p>Hi</p>"})
    template_create("SMS", "nudge", {"Body": "Still there?"})


def journey_request(segment, **members):
    """A publishable WriteJourneyRequest: email → wait a day → opened? → SMS / end."""
    body = {
        "Name": "Welcome-series",
        "StartCondition": {"SegmentStartCondition": {"SegmentId": segment.id}},
        "StartActivity": "welcome",
        "Activities": {
            "welcome": {"EMAIL": {"TemplateName": "welcome", "NextActivity": "pause"}},
            "pause": {"Wait": {"WaitTime": {"WaitFor": "P1D"}, "NextActivity": "opened"}},
            "opened": {
                "ConditionalSplit": {
                    "Condition": {
                        "Conditions": [
                            {
                                "EventCondition": {
                                    "Dimensions": {"EventType": {"Values": ["_email.open"]}},
                                    "MessageActivity": "welcome",
                                }
                            }
                        ],
                        "Operator": "ANY",
                    },
                    "FalseActivity": "nudge",
                }
            },
            "nudge": {"SMS": {"TemplateName": "nudge"}},
        },
        **members,
    }
    return {k: v for k, v in body.items() if v is not None}


def create(pinpoint, project, segment, **members):
    return pinpoint.create_journey(ApplicationId=project.id, WriteJourneyRequest=journey_request(segment, **members))[
        "JourneyResponse"
    ]


def error_of(raised) -> dict:
    return raised.value.response


# --- CRUD ----------------------------------------------------------------------------------------


def test_create_journey_answers_201_with_the_journey_response(pinpoint, project, segment, templates):
    answer = pinpoint.create_journey(
        ApplicationId=project.id,
        WriteJourneyRequest=journey_request(segment, RefreshFrequency="PT12H"),
    )

    journey = answer["JourneyResponse"]
    assert answer["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert (journey["ApplicationId"], journey["Name"], journey["State"]) == (project.id, "Welcome-series", "DRAFT")
    assert journey["Activities"] == journey_request(segment)["Activities"]
    assert journey["StartActivity"] == "welcome"
    assert journey["StartCondition"] == {"SegmentStartCondition": {"SegmentId": segment.id}}
    assert (journey["RefreshFrequency"], journey["tags"]) == ("PT12H", {})
    assert {"CreationDate", "LastModifiedDate", "Id"} <= journey.keys()
    assert "layout" not in journey


def test_create_stores_the_definition_and_segment_but_no_layout_in_answers(pinpoint, project, segment, templates):
    journey_id = create(pinpoint, project, segment)["Id"]

    row = Journey.objects.get(pk=journey_id)
    assert row.segment_id == segment.id
    assert row.definition["StartActivity"] == "welcome"
    assert (row.state, row.start_time, row.next_refresh_at) == ("DRAFT", None, None)


def test_schedule_timestamps_come_back_as_timestamps(pinpoint, project, segment, templates):
    schedule = {"StartTime": datetime(2030, 2, 1, 8, tzinfo=UTC), "EndTime": datetime(2030, 3, 1, tzinfo=UTC)}

    journey = create(pinpoint, project, segment, Schedule={**schedule, "Timezone": "UTC+08:45"}, LocalTime=True)

    assert journey["Schedule"] == {**schedule, "Timezone": "UTC+08:45"}
    assert journey["LocalTime"] is True


def test_every_member_round_trips(pinpoint, project, segment, templates):
    members = {
        "QuietTime": {"Start": "22:00", "End": "07:00"},
        "WaitForQuietTime": True,
        "RefreshFrequency": "PT6H",
        "RefreshOnSegmentUpdate": True,
        "SendingSchedule": True,
        "OpenHours": {"EMAIL": {"MONDAY": [{"StartTime": "09:00", "EndTime": "17:00"}]}},
        "ClosedDays": {
            "SMS": [
                {"Name": "New year", "StartDateTime": "2030-01-01T00:00:00Z", "EndDateTime": "2030-01-02T00:00:00Z"}
            ]
        },
        "Limits": {
            "DailyCap": 2,
            "EndpointReentryCap": 3,
            "EndpointReentryInterval": "P7D",
            "MessagesPerSecond": 50,
            "TimeframeCap": {"Cap": 5, "Days": 7},
            "TotalCap": 10,
        },
        "TimezoneEstimationMethods": ["PHONE_NUMBER", "POSTAL_CODE"],
        "JourneyChannelSettings": {
            "ConnectCampaignArn": "arn:aws:connect-campaigns:us-east-1:123456789012:campaign/c1",
            "ConnectCampaignExecutionRoleArn": "arn:aws:iam::123456789012:role/dialer",
        },
    }

    journey = create(pinpoint, project, segment, **members)

    assert {k: journey[k] for k in members} == members


def test_get_and_list_journeys_in_pages(pinpoint, project, segment, templates):
    ids = [create(pinpoint, project, segment, Name=f"j{i}")["Id"] for i in range(3)]

    one = pinpoint.get_journey(ApplicationId=project.id, JourneyId=ids[1])["JourneyResponse"]
    first = pinpoint.list_journeys(ApplicationId=project.id, PageSize="2")["JourneysResponse"]
    second = pinpoint.list_journeys(ApplicationId=project.id, PageSize="2", Token=first["NextToken"])[
        "JourneysResponse"
    ]

    assert one["Name"] == "j1"
    assert [j["Name"] for j in first["Item"] + second["Item"]] == ["j0", "j1", "j2"]
    assert second.get("NextToken") is None


def test_list_journeys_query_count_does_not_grow(pinpoint, project, segment, templates, django_assert_max_num_queries):
    for i in range(12):
        journey_create(project, journey_request(segment, Name=f"j{i}"))

    with django_assert_max_num_queries(8):
        items = pinpoint.list_journeys(ApplicationId=project.id)["JourneysResponse"]["Item"]

    assert len(items) == 12


def test_update_merges_members(pinpoint, project, segment, templates):
    journey_id = create(pinpoint, project, segment, QuietTime={"Start": "22:00", "End": "07:00"})["Id"]

    updated = pinpoint.update_journey(
        ApplicationId=project.id,
        JourneyId=journey_id,
        WriteJourneyRequest={"Name": "Renamed", "RefreshFrequency": "PT1H"},
    )["JourneyResponse"]

    assert (updated["Name"], updated["RefreshFrequency"]) == ("Renamed", "PT1H")
    assert updated["QuietTime"] == {"Start": "22:00", "End": "07:00"}
    assert updated["Activities"] == journey_request(segment)["Activities"]
    assert Journey.objects.get(pk=journey_id).name == "Renamed"


def test_a_draft_can_change_its_activities(pinpoint, project, segment, templates):
    journey_id = create(pinpoint, project, segment)["Id"]
    activities = {"only": {"EMAIL": {"TemplateName": "welcome"}}}

    updated = pinpoint.update_journey(
        ApplicationId=project.id,
        JourneyId=journey_id,
        WriteJourneyRequest={"Name": "Welcome-series", "Activities": activities, "StartActivity": "only"},
    )["JourneyResponse"]

    assert (updated["Activities"], updated["StartActivity"]) == (activities, "only")


def test_delete_answers_the_journey_and_fails_its_queued_deliveries(pinpoint, project, segment, templates):
    journey_id = create(pinpoint, project, segment)["Id"]
    common = {"project": project, "channel": "EMAIL", "address": "a@example.com", "journey_id": journey_id}
    queued = Delivery.objects.create(message_id="q@engage", status=DeliveryStatus.QUEUED, **common)
    sent = Delivery.objects.create(message_id="s@engage", status=DeliveryStatus.SENT, **common)

    deleted = pinpoint.delete_journey(ApplicationId=project.id, JourneyId=journey_id)["JourneyResponse"]

    assert (deleted["Id"], deleted["Name"], deleted["State"]) == (journey_id, "Welcome-series", "DRAFT")
    assert not Journey.objects.filter(pk=journey_id).exists()
    queued.refresh_from_db()
    assert (queued.status, queued.last_error[:16]) == (DeliveryStatus.FAILED_PERMANENT, "JOURNEY_DELETED:")
    assert Delivery.objects.get(pk=sent.pk).status == DeliveryStatus.SENT
    with pytest.raises(pinpoint.exceptions.NotFoundException):
        pinpoint.get_journey(ApplicationId=project.id, JourneyId=journey_id)


# --- states --------------------------------------------------------------------------------------


def set_state(pinpoint, project, journey_id, state):
    return pinpoint.update_journey_state(
        ApplicationId=project.id, JourneyId=journey_id, JourneyStateRequest={"State": state}
    )["JourneyResponse"]


def test_publishing_starts_five_minutes_later_and_plans_the_first_segment_read(pinpoint, project, segment, templates):
    journey_id = create(pinpoint, project, segment)["Id"]

    with time_machine.travel(NOW, tick=False):
        published = set_state(pinpoint, project, journey_id, "ACTIVE")

    row = Journey.objects.get(pk=journey_id)
    assert published["State"] == "ACTIVE"
    assert (row.start_time, row.next_refresh_at, row.published_at) == (NOW + timedelta(minutes=5),) * 2 + (NOW,)
    assert row.end_time == NOW + timedelta(minutes=5, days=540)


def test_publishing_keeps_a_later_schedule_start_and_end(pinpoint, project, segment, templates):
    start, end = datetime(2030, 2, 1, tzinfo=UTC), datetime(2030, 3, 1, tzinfo=UTC)
    journey_id = create(pinpoint, project, segment, Schedule={"StartTime": start, "EndTime": end})["Id"]

    with time_machine.travel(NOW, tick=False):
        set_state(pinpoint, project, journey_id, "ACTIVE")

    row = Journey.objects.get(pk=journey_id)
    assert (row.start_time, row.end_time, row.next_refresh_at) == (start, end, start)


def test_an_event_started_journey_has_no_segment_reads(pinpoint, project, segment, templates):
    start = {
        "EventStartCondition": {
            "EventFilter": SIGNUP,
            "SegmentId": segment.id,
        }
    }

    journey = create(pinpoint, project, segment, StartCondition=start, State="ACTIVE")

    row = Journey.objects.get(pk=journey["Id"])
    assert (journey["State"], row.next_refresh_at, row.segment_id) == ("ACTIVE", None, segment.id)
    assert row.start_time is not None


def test_pause_resume_and_cancel(pinpoint, project, segment, templates):
    journey_id = create(pinpoint, project, segment, State="ACTIVE")["Id"]

    paused = set_state(pinpoint, project, journey_id, "PAUSED")
    resumed = set_state(pinpoint, project, journey_id, "ACTIVE")
    cancelled = set_state(pinpoint, project, journey_id, "CANCELLED")

    assert [paused["State"], resumed["State"], cancelled["State"]] == ["PAUSED", "ACTIVE", "CANCELLED"]
    assert Journey.objects.get(pk=journey_id).next_refresh_at is None


@pytest.mark.parametrize(
    ("path", "state", "says"),
    [
        ([], "PAUSED", "A DRAFT journey cannot become PAUSED. Publish it first"),
        ([], "CANCELLED", "A DRAFT journey cannot become CANCELLED"),
        (["ACTIVE", "CANCELLED"], "ACTIVE", "A CANCELLED journey cannot become ACTIVE. Cancelling is permanent."),
        (["ACTIVE", "CANCELLED"], "PAUSED", "A CANCELLED journey cannot become PAUSED"),
        ([], "DRAFT", "State must be ACTIVE, PAUSED or CANCELLED"),
        ([], "COMPLETED", "State must be ACTIVE, PAUSED or CANCELLED"),
    ],
)
def test_state_changes_pinpoint_refuses(pinpoint, project, segment, templates, path, state, says):
    journey_id = create(pinpoint, project, segment)["Id"]
    for step in path:
        set_state(pinpoint, project, journey_id, step)
    before = Journey.objects.get(pk=journey_id).state

    with pytest.raises(pinpoint.exceptions.BadRequestException) as refused:
        set_state(pinpoint, project, journey_id, state)

    assert says in error_of(refused)["Error"]["Message"]
    assert Journey.objects.get(pk=journey_id).state == before


def test_asking_for_the_current_state_changes_nothing(pinpoint, project, segment, templates):
    journey_id = create(pinpoint, project, segment, State="ACTIVE")["Id"]
    before = Journey.objects.get(pk=journey_id)

    again = set_state(pinpoint, project, journey_id, "ACTIVE")

    after = Journey.objects.get(pk=journey_id)
    assert again["State"] == "ACTIVE"
    assert (after.start_time, after.last_modified_date) == (before.start_time, before.last_modified_date)


def test_publishing_an_incomplete_draft_lists_each_bad_activity(pinpoint, project, segment, templates):
    activities = {
        "welcome": {"EMAIL": {"NextActivity": "gone"}},
        "split": {"RandomSplit": {"Branches": [{"Percentage": 60, "NextActivity": "a"}, {"Percentage": 30}]}},
        "a": {"Wait": {"NextActivity": "b"}},
        "b": {"Holdout": {"Percentage": 10, "NextActivity": "a"}},
    }
    journey_id = create(pinpoint, project, segment, Activities=activities)["Id"]

    with pytest.raises(pinpoint.exceptions.BadRequestException) as refused:
        set_state(pinpoint, project, journey_id, "ACTIVE")

    message = error_of(refused)["Error"]["Message"]
    assert "Activity welcome: EMAIL.NextActivity names gone, which is not an activity of this journey." in message
    assert "Activity welcome: EMAIL.TemplateName is required" in message
    assert "Activity split: RandomSplit.Branches' percentages add up to 90; they must add up to 100." in message
    assert "Activity split: Nothing leads to this activity: a journey has one start (StartActivity welcome)." in message
    assert "Activity a: Wait.WaitTime is required" in message
    assert "The activities loop back" in message
    assert Journey.objects.get(pk=journey_id).state == "DRAFT"


def test_creating_active_checks_as_publishing(pinpoint, project, segment, templates):
    with pytest.raises(pinpoint.exceptions.BadRequestException) as refused:
        create(pinpoint, project, segment, State="ACTIVE", StartActivity="nowhere")

    assert (
        "StartActivity names nowhere, which is not an activity of this journey."
        in error_of(refused)["Error"]["Message"]
    )
    assert not Journey.objects.exists()


# --- 409 -----------------------------------------------------------------------------------------


def test_an_active_journeys_activities_cannot_change(pinpoint, project, segment, templates):
    journey_id = create(pinpoint, project, segment, State="ACTIVE")["Id"]

    with pytest.raises(pinpoint.exceptions.ConflictException) as refused:
        pinpoint.update_journey(
            ApplicationId=project.id,
            JourneyId=journey_id,
            WriteJourneyRequest={"Name": "Welcome-series", "Activities": {"x": {"EMAIL": {"TemplateName": "welcome"}}}},
        )

    error = error_of(refused)
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 409
    assert "its Activities cannot be changed" in error["Error"]["Message"]
    assert Journey.objects.get(pk=journey_id).definition["StartActivity"] == "welcome"


def test_an_active_journey_may_be_renamed_and_resend_its_activities(pinpoint, project, segment, templates):
    journey_id = create(pinpoint, project, segment, State="ACTIVE")["Id"]

    updated = pinpoint.update_journey(
        ApplicationId=project.id,
        JourneyId=journey_id,
        WriteJourneyRequest=journey_request(segment, Name="Renamed"),
    )["JourneyResponse"]

    assert (updated["Name"], updated["State"]) == ("Renamed", "ACTIVE")


@pytest.mark.parametrize(
    ("states", "request_members", "says"),
    [
        (["ACTIVE"], {"State": "DRAFT"}, "cannot go back to DRAFT"),
        (["ACTIVE", "PAUSED"], {"StartActivity": "pause"}, "its StartActivity cannot be changed"),
        (
            ["ACTIVE"],
            {"StartCondition": {"EventStartCondition": {"EventFilter": SIGNUP}}},
            "its StartCondition cannot be changed",
        ),
        (["ACTIVE", "CANCELLED"], {}, "The journey is CANCELLED: it can no longer be changed."),
    ],
)
def test_updates_a_published_journey_refuses_with_409(
    unvalidated_pinpoint, project, segment, templates, states, request_members, says
):
    journey_id = journey_create(project, journey_request(segment)).id
    for state in states:
        journey_set_state(Journey.objects.get(pk=journey_id), state)

    with pytest.raises(unvalidated_pinpoint.exceptions.ConflictException) as refused:
        unvalidated_pinpoint.update_journey(
            ApplicationId=project.id, JourneyId=journey_id, WriteJourneyRequest={"Name": "X", **request_members}
        )

    assert says in error_of(refused)["Error"]["Message"]
    assert Journey.objects.get(pk=journey_id).name == "Welcome-series"


def test_a_draft_updated_with_state_active_is_published(pinpoint, project, segment, templates):
    journey_id = create(pinpoint, project, segment)["Id"]

    updated = pinpoint.update_journey(
        ApplicationId=project.id, JourneyId=journey_id, WriteJourneyRequest={"Name": "Go", "State": "ACTIVE"}
    )["JourneyResponse"]

    assert updated["State"] == "ACTIVE"
    assert Journey.objects.get(pk=journey_id).start_time is not None


# --- runs ----------------------------------------------------------------------------------------


def test_journey_runs_oldest_first_in_pages(pinpoint, project, segment, templates):
    journey = journey_create(project, journey_request(segment))
    base = datetime(2030, 1, 1, tzinfo=UTC)
    for hour in range(3):
        at = base + timedelta(hours=hour)
        JourneyRun.objects.create(
            journey=journey, scheduled_at=at, creation_time=at, last_update_time=at, status="COMPLETED"
        )

    first = pinpoint.get_journey_runs(ApplicationId=project.id, JourneyId=journey.id, PageSize="2")[
        "JourneyRunsResponse"
    ]
    second = pinpoint.get_journey_runs(
        ApplicationId=project.id, JourneyId=journey.id, PageSize="2", Token=first["NextToken"]
    )["JourneyRunsResponse"]

    items = first["Item"] + second["Item"]
    assert [i["CreationTime"] for i in items] == [f"2030-01-01T0{h}:00:00.000Z" for h in range(3)]
    assert items[0]["Status"] == "COMPLETED"
    assert items[0]["RunId"] == JourneyRun.objects.order_by("creation_time").first().id
    assert second.get("NextToken") is None


# --- tenancy, permissions, tags ------------------------------------------------------------------


def test_another_projects_journey_is_not_found_and_untouched(pinpoint, project, templates):
    other = MembershipFactory(role=Role.OWNER).project
    foreign = journey_create(other, journey_request(segment_create(other, name="theirs", dimensions=PLAN_PRO)))

    calls = [
        lambda: pinpoint.get_journey(ApplicationId=project.id, JourneyId=foreign.id),
        lambda: pinpoint.update_journey(
            ApplicationId=project.id, JourneyId=foreign.id, WriteJourneyRequest={"Name": "hijacked"}
        ),
        lambda: pinpoint.update_journey_state(
            ApplicationId=project.id, JourneyId=foreign.id, JourneyStateRequest={"State": "ACTIVE"}
        ),
        lambda: pinpoint.delete_journey(ApplicationId=project.id, JourneyId=foreign.id),
        lambda: pinpoint.get_journey_runs(ApplicationId=project.id, JourneyId=foreign.id),
        lambda: pinpoint.get_journey(ApplicationId=other.id, JourneyId=foreign.id),
    ]
    for call in calls:
        with pytest.raises(pinpoint.exceptions.NotFoundException):
            call()

    row = Journey.objects.get(pk=foreign.id)
    assert (row.name, row.state) == ("Welcome-series", "DRAFT")
    assert pinpoint.list_journeys(ApplicationId=project.id)["JourneysResponse"]["Item"] == []


def test_a_journey_of_another_projects_segment_is_refused(pinpoint, project, templates):
    other = MembershipFactory(role=Role.OWNER).project
    theirs = segment_create(other, name="theirs", dimensions=PLAN_PRO)

    with pytest.raises(pinpoint.exceptions.BadRequestException) as refused:
        create(pinpoint, project, theirs)

    assert "no segment" in error_of(refused)["Error"]["Message"]
    assert not Journey.objects.exists()


def test_viewers_read_but_cannot_write(pinpoint_for, project, segment, templates):
    viewer = UserFactory(username="viewer")
    MembershipFactory(user=viewer, project=project, role=Role.VIEWER)
    client = pinpoint_for(viewer)
    journey = journey_create(project, journey_request(segment))

    assert client.get_journey(ApplicationId=project.id, JourneyId=journey.id)["JourneyResponse"]["Id"]
    with pytest.raises(client.exceptions.ForbiddenException):
        client.create_journey(ApplicationId=project.id, WriteJourneyRequest=journey_request(segment))
    with pytest.raises(client.exceptions.ForbiddenException):
        client.update_journey_state(
            ApplicationId=project.id, JourneyId=journey.id, JourneyStateRequest={"State": "ACTIVE"}
        )
    assert (Journey.objects.count(), Journey.objects.get().state) == (1, "DRAFT")


def test_tags_on_the_journey_arn(pinpoint, project, segment, templates, settings):
    journey = create(pinpoint, project, segment)
    arn = (
        f"arn:aws:mobiletargeting:{settings.ENGAGE_REGION}:{settings.ENGAGE_ACCOUNT_ID}:"
        f"apps/{project.id}/journeys/{journey['Id']}"
    )

    pinpoint.tag_resource(ResourceArn=arn, TagsModel={"tags": {"a": "1", "b": "2"}})
    pinpoint.untag_resource(ResourceArn=arn, TagKeys=["a"])
    listed = pinpoint.list_tags_for_resource(ResourceArn=arn)["TagsModel"]["tags"]

    assert listed == {"b": "2"}
    assert Journey.objects.get(pk=journey["Id"]).tags == {"b": "2"}
    assert pinpoint.get_journey(ApplicationId=project.id, JourneyId=journey["Id"])["JourneyResponse"]["tags"] == {
        "b": "2"
    }
    with pytest.raises(pinpoint.exceptions.NotFoundException):
        pinpoint.list_tags_for_resource(ResourceArn=arn.replace(journey["Id"], "0" * 32))


@pytest.mark.parametrize("path", ["journeys", "journeys/{journey}/runs"])
def test_the_last_page_of_journeys_leaves_next_token_out_of_the_json(
    path, live_server, project, access_key, segment, templates
):
    key_id, secret = access_key
    journey = create(make_client(live_server, key_id, secret), project, segment)
    url = f"/v1/apps/{project.id}/{path.format(journey=journey['Id'])}"

    answer = send_signed(live_server, "GET", url, key_id=key_id, secret=secret)

    assert answer.status == 200
    assert "NextToken" not in answer.json()  # Pinpoint leaves it out; null is no string to the model
