"""journeys.definition and journeys.journeys as services: publish-time errors per activity, the
stored definition and layout, update merging, publishing's columns."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from audience.segments import segment_create
from campaigns.templates import template_create, template_delete
from journeys.definition import parse_duration
from journeys.journeys import (
    JourneyConflict,
    JourneyInvalid,
    _locked_as_read,
    journey_create,
    journey_response,
    journey_set_state,
    journey_update,
    journey_validate,
)
from journeys.models import Journey

pytestmark = pytest.mark.django_db

PLAN_PRO = {"Attributes": {"Plan": {"AttributeType": "INCLUSIVE", "Values": ["pro"]}}}
OPENED = {"EventCondition": {"Dimensions": {"EventType": {"Values": ["_email.open"]}}, "MessageActivity": "mail"}}


@pytest.fixture
def segment(project):
    return segment_create(project, name="Pro", dimensions=PLAN_PRO)


@pytest.fixture(autouse=True)
def templates(db):
    template_create("EMAIL", "welcome", {"Subject": "Hi", "HtmlPart": "<p>Hi</p>"})


def definition(segment, activities, start="mail", **members):
    return {
        "Name": "J",
        "StartCondition": {"SegmentStartCondition": {"SegmentId": segment.id}},
        "StartActivity": start,
        "Activities": activities,
        **members,
    }


def mail(next_activity=None):
    body = {"TemplateName": "welcome"}
    if next_activity:
        body["NextActivity"] = next_activity
    return {"EMAIL": body}


def test_a_complete_journey_has_no_errors(project, segment):
    activities = {
        "mail": mail("wait"),
        "wait": {"Wait": {"WaitTime": {"WaitFor": "PT2H"}, "NextActivity": "split"}},
        "split": {
            "MultiCondition": {
                "Branches": [{"Condition": OPENED, "NextActivity": "again"}],
                "DefaultActivity": "dice",
            }
        },
        "again": mail(),
        "dice": {"RandomSplit": {"Branches": [{"Percentage": 50, "NextActivity": "hold"}, {"Percentage": 50}]}},
        "hold": {"Holdout": {"Percentage": 10}},
    }

    assert journey_validate(definition(segment, activities), project=project, publishing=True) == []


def test_publishing_errors_name_their_activity(project, segment):
    activities = {
        "mail": mail("split"),
        "split": {"ConditionalSplit": {"TrueActivity": "ghost", "FalseActivity": "mail"}},
        "multi": {"MultiCondition": {"Branches": [{"NextActivity": "mail"}]}},
        "orphan": {"Wait": {"WaitTime": {"WaitFor": "P1D"}}},
        "chk": {
            "ConditionalSplit": {
                "Condition": {
                    "Conditions": [{"EventCondition": {**OPENED["EventCondition"], "MessageActivity": "orphan"}}]
                }
            }
        },
    }

    errors = journey_validate(definition(segment, activities), project=project, publishing=True)

    assert ("split", "ConditionalSplit.TrueActivity names ghost, which is not an activity of this journey.") in errors
    assert ("split", "ConditionalSplit.Condition.Conditions needs at least one condition.") in errors
    assert ("multi", "MultiCondition.Branches[0].Condition is required.") in errors
    assert ("orphan", "Nothing leads to this activity: a journey has one start (StartActivity mail).") in errors
    assert (
        "chk",
        "ConditionalSplit.Condition.Conditions[0].EventCondition.MessageActivity orphan is not a message activity "
        "(EMAIL, SMS, PUSH, CUSTOM).",
    ) in errors
    assert ("mail", "The activities loop back: mail → split → mail. A journey cannot go round in a circle.") in errors


def test_an_activity_reachable_only_through_a_loop_is_reported(project, segment):
    activities = {"mail": mail(), "a": mail("b"), "b": mail("a")}

    errors = journey_validate(definition(segment, activities), project=project, publishing=True)

    assert ("a", "This activity cannot be reached from StartActivity mail.") in errors
    assert ("b", "This activity cannot be reached from StartActivity mail.") in errors


def test_the_journey_needs_a_start_and_an_entry_to_publish(project, segment):
    errors = journey_validate({"Name": "J", "Activities": {"mail": mail()}}, project=project, publishing=True)

    assert ("", "StartCondition is required to publish: a SegmentStartCondition or an EventStartCondition.") in errors
    assert ("", "StartActivity is required to publish: the id of the journey's first activity.") in errors
    assert journey_validate({"Name": "J", "Activities": {"mail": mail()}}, project=project, publishing=False) == []


def test_drafts_are_not_judged_as_a_graph(project, segment):
    activities = {"mail": mail("nowhere"), "x": {"RandomSplit": {"Branches": [{"Percentage": 1}]}}}

    assert journey_validate(definition(segment, activities, start="zzz"), project=project, publishing=False) == []


def test_a_template_deleted_after_the_draft_stops_publishing(project, segment):
    journey = journey_create(project, definition(segment, {"mail": mail()}))
    template_delete("EMAIL", "welcome")

    with pytest.raises(JourneyInvalid) as refused:
        journey_set_state(journey, "ACTIVE")

    assert refused.value.errors == [("mail", "EMAIL.TemplateName: there is no EMAIL template named welcome.")]


def test_layout_is_stored_apart_and_never_answered(project, segment):
    layout = {"mail": {"x": 10, "y": 20.5}}

    journey = journey_create(project, definition(segment, {"mail": mail()}), layout=layout)
    moved = journey_update(journey, {}, layout={"mail": {"x": 0, "y": 0}})

    assert journey.layout == layout
    assert moved.layout == {"mail": {"x": 0, "y": 0}}
    assert "layout" not in journey_response(moved)
    assert "mail" not in journey_response(moved)


def test_a_bad_layout_is_refused(project, segment):
    with pytest.raises(JourneyInvalid) as refused:
        journey_create(project, definition(segment, {"mail": mail()}), layout={"mail": {"x": "left"}})

    assert refused.value.errors == [("mail", "layout: a position needs numbers x and y.")]


def test_null_removes_a_member_on_update(project, segment):
    journey = journey_create(
        project, definition(segment, {"mail": mail()}, QuietTime={"Start": "22:00", "End": "07:00"})
    )

    updated = journey_update(journey, {"QuietTime": None})

    assert "QuietTime" not in updated.definition
    assert updated.definition["Activities"] == {"mail": mail()}


def test_the_start_condition_sets_the_segment_column(project, segment):
    other = segment_create(project, name="Other", dimensions=PLAN_PRO)
    journey = journey_create(project, definition(segment, {"mail": mail()}))

    updated = journey_update(journey, {"StartCondition": {"SegmentStartCondition": {"SegmentId": other.id}}})

    assert (journey.segment_id, updated.segment_id) == (segment.id, other.id)


def test_a_journey_whose_end_has_passed_cannot_be_published(project, segment):
    schedule = {"StartTime": "2029-01-01T00:00:00Z", "EndTime": "2029-02-01T00:00:00Z"}
    journey = journey_create(project, definition(segment, {"mail": mail()}, Schedule=schedule))

    with time_machine.travel(datetime(2030, 1, 1, tzinfo=UTC), tick=False), pytest.raises(JourneyInvalid) as refused:
        journey_set_state(journey, "ACTIVE")

    assert "Schedule.EndTime has passed" in str(refused.value)


def test_a_past_start_time_starts_five_minutes_after_publishing(project, segment):
    now = datetime(2030, 1, 1, tzinfo=UTC)
    journey = journey_create(
        project, definition(segment, {"mail": mail()}, Schedule={"StartTime": "2029-06-01T00:00:00Z"})
    )

    with time_machine.travel(now, tick=False):
        published = journey_set_state(journey, "ACTIVE")

    assert published.start_time == now + timedelta(minutes=5)


def test_a_schedule_time_without_offset_is_read_in_its_timezone(project, segment):
    schedule = {"StartTime": "2030-01-01T09:00:00", "Timezone": "UTC+05:30"}

    journey = journey_create(project, definition(segment, {"mail": mail()}, Schedule=schedule))

    assert journey.definition["Schedule"]["StartTime"] == "2030-01-01T03:30:00.000Z"


@pytest.mark.parametrize(
    ("text", "length"),
    [
        ("PT1H", timedelta(hours=1)),
        ("P2D", timedelta(days=2)),
        ("P1DT12H", timedelta(days=1, hours=12)),
        ("P1W", timedelta(weeks=1)),
        ("PT90S", timedelta(seconds=90)),
    ],
)
def test_durations(text, length):
    assert parse_duration(text) == length


@pytest.mark.parametrize("text", ["", "P", "PT", "P1DT", "1H", "P1M", "P1Y", "PT-1H"])
def test_not_durations(text):
    with pytest.raises(ValueError):
        parse_duration(text)


def test_an_active_journeys_activities_written_differently_are_no_change(project, segment):
    pinned = {"mail": {"EMAIL": {"TemplateName": "welcome", "TemplateVersion": 1}}}
    journey = journey_set_state(journey_create(project, definition(segment, pinned)), "ACTIVE")

    updated = journey_update(journey, {"Name": "Renamed", "Activities": pinned})

    assert updated.definition["Activities"]["mail"]["EMAIL"]["TemplateVersion"] == "1"
    assert updated.name == "Renamed"


def test_time_strings_are_kept_as_written(project, segment):
    activities = {"mail": mail("wait"), "wait": {"Wait": {"WaitTime": {"WaitUntil": "2030-01-01T10:00:00+02:00"}}}}

    journey = journey_create(project, definition(segment, activities))

    assert journey_response(journey)["Activities"]["wait"] == activities["wait"]


def test_an_update_refuses_a_journey_changed_since_it_was_read(project, segment):
    journey = journey_create(project, definition(segment, {"mail": mail()}))
    stale = Journey.objects.get(pk=journey.pk)
    journey_update(journey, {"Name": "First"})

    with pytest.raises(JourneyConflict):
        _locked_as_read(stale)


def test_a_refused_member_is_not_reported_again_as_missing(project, segment):
    request = definition(segment, {"mail": mail()}, StartCondition={"SegmentStartCondition": {"SegmentId": "0" * 32}})

    errors = journey_validate(request, project=project, publishing=True)

    assert errors == [
        ("", f"StartCondition.SegmentStartCondition.SegmentId: there is no segment {'0' * 32} in this project.")
    ]
