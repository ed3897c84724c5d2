"""Journey execution metrics through boto3: the journey's and an activity's, overall and per run
(figures from the engine's rows), unknown runs and activities, tenancy."""

from datetime import UTC, datetime

import pytest

from audience.segments import segment_create
from campaigns.templates import template_create
from journeys.journeys import journey_create, journey_set_state
from journeys.models import Journey, JourneyParticipant, JourneyRun, JourneyStep
from projects.models import Role
from tests.factories import MembershipFactory

pytestmark = pytest.mark.django_db(transaction=True)

PLAN_PRO = {"Attributes": {"Plan": {"AttributeType": "INCLUSIVE", "Values": ["pro"]}}}
AT = datetime(2030, 1, 1, tzinfo=UTC)


def published(project) -> Journey:
    template_create("EMAIL", f"welcome{project.id[:6]}", {"Subject": "Hi", "HtmlPart": "<p>Hi</p>"})
    segment = segment_create(project, name="Pro", dimensions=PLAN_PRO)
    journey = journey_create(
        project,
        {
            "Name": "J",
            "StartCondition": {"SegmentStartCondition": {"SegmentId": segment.id}},
            "StartActivity": "dice",
            "Activities": {
                "dice": {"RandomSplit": {"Branches": [{"Percentage": 50, "NextActivity": "mail"}, {"Percentage": 50}]}},
                "mail": {"EMAIL": {"TemplateName": f"welcome{project.id[:6]}"}},
            },
        },
    )
    return journey_set_state(journey, "ACTIVE")


def run_with(journey: Journey, at: datetime, states: list[str]) -> JourneyRun:
    """A run whose participants went through the random split (the first one to branch 1)."""
    run = JourneyRun.objects.create(journey=journey, scheduled_at=at, status="RUNNING")
    for i, state in enumerate(states):
        participant = JourneyParticipant.objects.create(
            journey=journey, run=run, endpoint_key=f"e{at.day}-{i}", activity_id="dice", state=state
        )
        JourneyStep.objects.create(
            participant=participant,
            journey=journey,
            run=run,
            activity_id="dice",
            activity_type="RandomSplit",
            status="BRANCH_1" if i == 0 else "BRANCH_2",
        )
    return run


@pytest.fixture
def journey(project):
    return published(project)


def test_journey_execution_metrics(pinpoint, project, journey):
    run_with(journey, AT, ["DONE", "ACTIVE"])
    run_with(journey, AT.replace(day=2), ["DONE"])

    answer = pinpoint.get_journey_execution_metrics(ApplicationId=project.id, JourneyId=journey.id)[
        "JourneyExecutionMetricsResponse"
    ]

    assert (answer["ApplicationId"], answer["JourneyId"]) == (project.id, journey.id)
    assert answer["Metrics"]["ENDPOINT_ENTERED"] == "3"
    assert (answer["Metrics"]["ENDPOINT_ACTIVE"], answer["Metrics"]["ENDPOINT_LEFT"]) == ("1", "2")
    assert answer["LastEvaluatedTime"]


def test_run_execution_metrics_count_that_run_only(pinpoint, project, journey):
    first = run_with(journey, AT, ["DONE", "ACTIVE"])
    run_with(journey, AT.replace(day=2), ["DONE"])

    answer = pinpoint.get_journey_run_execution_metrics(ApplicationId=project.id, JourneyId=journey.id, RunId=first.id)[
        "JourneyRunExecutionMetricsResponse"
    ]

    assert (answer["RunId"], answer["Metrics"]["ENDPOINT_ENTERED"]) == (first.id, "2")


def test_activity_metrics_overall_and_per_run(pinpoint, project, journey):
    first = run_with(journey, AT, ["DONE", "ACTIVE"])
    run_with(journey, AT.replace(day=2), ["DONE"])

    overall = pinpoint.get_journey_execution_activity_metrics(
        ApplicationId=project.id, JourneyId=journey.id, JourneyActivityId="dice"
    )["JourneyExecutionActivityMetricsResponse"]
    of_run = pinpoint.get_journey_run_execution_activity_metrics(
        ApplicationId=project.id, JourneyId=journey.id, RunId=first.id, JourneyActivityId="dice"
    )["JourneyRunExecutionActivityMetricsResponse"]

    assert (overall["ActivityType"], overall["JourneyActivityId"]) == ("RANDOM_SPLIT", "dice")
    assert (overall["Metrics"]["Branch_1"], overall["Metrics"]["Branch_2"]) == ("2", "1")
    assert (of_run["RunId"], of_run["Metrics"]["Branch_1"], of_run["Metrics"]["Branch_2"]) == (first.id, "1", "1")


def test_unknown_activities_and_runs_are_not_found(pinpoint, project, journey):
    other = published(MembershipFactory(role=Role.OWNER).project)
    foreign_run = run_with(other, AT, ["DONE"])
    calls = [
        lambda: pinpoint.get_journey_execution_activity_metrics(
            ApplicationId=project.id, JourneyId=journey.id, JourneyActivityId="nope"
        ),
        lambda: pinpoint.get_journey_run_execution_metrics(
            ApplicationId=project.id, JourneyId=journey.id, RunId=foreign_run.id
        ),
        lambda: pinpoint.get_journey_run_execution_activity_metrics(
            ApplicationId=project.id, JourneyId=journey.id, RunId="0" * 32, JourneyActivityId="dice"
        ),
    ]

    for call in calls:
        with pytest.raises(pinpoint.exceptions.NotFoundException):
            call()


def test_another_projects_journey_metrics_are_not_found(pinpoint, project):
    other = published(MembershipFactory(role=Role.OWNER).project)
    run = run_with(other, AT, ["DONE"])
    calls = [
        lambda: pinpoint.get_journey_execution_metrics(ApplicationId=project.id, JourneyId=other.id),
        lambda: pinpoint.get_journey_execution_activity_metrics(
            ApplicationId=project.id, JourneyId=other.id, JourneyActivityId="dice"
        ),
        lambda: pinpoint.get_journey_run_execution_metrics(ApplicationId=project.id, JourneyId=other.id, RunId=run.id),
        lambda: pinpoint.get_journey_run_execution_activity_metrics(
            ApplicationId=project.id, JourneyId=other.id, RunId=run.id, JourneyActivityId="dice"
        ),
    ]

    for call in calls:
        with pytest.raises(pinpoint.exceptions.NotFoundException):
            call()
