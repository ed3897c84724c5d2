"""Admission decisions that make no participant row, counted in JourneyRun.metrics and answered by
the journey's and the run's execution metrics, with controlled time."""
# ruff: noqa: F811 - pytest fixtures imported from test_engine_support are parameters here

from datetime import timedelta

from django.utils import timezone

from journeys.engine import admission, journey_execution_metrics
from journeys.engine.admission import run_admit
from journeys.engine.triggers import journey_events_admit
from journeys.models import JourneyParticipant, JourneyRun
from tests.journeys.test_engine_e2e import event_journey
from tests.journeys.test_engine_support import (  # noqa: F401 - fixtures
    NOW,
    email_on,
    endpoint,
    make_journey,
    pro,
    tick,
    welcome,
)

ADMISSION = (
    "REENTRY_CAP_EXCEEDED",
    "ACTIVE_ENDPOINT_REJECTED",
    "ENDPOINT_MISSING_TIMEZONE",
    "REENTRY_INTERVAL_NOT_PASSED",
)


def counted(journey, run=None) -> dict[str, str]:
    metrics = journey_execution_metrics(journey, run=run)["Metrics"]
    return {name: metrics[name] for name in ADMISSION if name in metrics}


def runs(journey) -> list[JourneyRun]:
    return list(JourneyRun.objects.filter(journey=journey).order_by("scheduled_at"))


def test_reentry_cap_and_interval_rejections_are_counted_per_run(project, pro):
    endpoint(project, "ann")
    journey = make_journey(
        project,
        {"w": {"Wait": {"WaitTime": {"WaitFor": "PT30M"}}}},
        "w",
        segment=pro,
        RefreshFrequency="PT1H",
        Limits={"EndpointReentryCap": 2, "EndpointReentryInterval": "PT90M"},
    )

    tick(NOW)  # entry 1
    tick(NOW + timedelta(minutes=40))  # left
    tick(NOW + timedelta(hours=1))  # the interval (90 min) has not passed
    tick(NOW + timedelta(hours=2))  # entry 2
    tick(NOW + timedelta(hours=2, minutes=40))  # left
    tick(NOW + timedelta(hours=3))  # the cap (2 entries) is reached
    tick(NOW + timedelta(hours=4))  # again

    first, _, _, fourth, _ = runs(journey)
    assert [r.metrics for r in runs(journey)] == [
        {},
        {"REENTRY_INTERVAL_NOT_PASSED": 1},
        {},
        {"REENTRY_CAP_EXCEEDED": 1},
        {"REENTRY_CAP_EXCEEDED": 1},
    ]
    assert counted(journey, first) == {"REENTRY_CAP_EXCEEDED": "0", "ACTIVE_ENDPOINT_REJECTED": "0"}
    assert counted(journey, fourth) == {"REENTRY_CAP_EXCEEDED": "1", "ACTIVE_ENDPOINT_REJECTED": "0"}
    assert counted(journey) == {
        "REENTRY_CAP_EXCEEDED": "2",
        "ACTIVE_ENDPOINT_REJECTED": "0",
        "REENTRY_INTERVAL_NOT_PASSED": "1",
    }
    assert journey_execution_metrics(journey)["Metrics"]["ENDPOINT_ENTERED"] == "2"


def test_an_endpoint_active_in_the_journey_is_counted_as_rejected(project, pro):
    endpoint(project, "ann")
    endpoint(project, "bob")
    journey = make_journey(
        project,
        {"w": {"Wait": {"WaitTime": {"WaitFor": "P7D"}}}},
        "w",
        segment=pro,
        RefreshFrequency="PT1H",
        Limits={"EndpointReentryCap": 0},
    )

    tick(NOW)
    tick(NOW + timedelta(hours=1))
    tick(NOW + timedelta(hours=1))  # the same refresh again: no new run, nothing counted twice

    assert [r.metrics for r in runs(journey)] == [{}, {"ACTIVE_ENDPOINT_REJECTED": 2}]
    assert counted(journey)["ACTIVE_ENDPOINT_REJECTED"] == "2"
    assert JourneyParticipant.objects.filter(journey=journey).count() == 2


def test_local_time_counts_endpoints_without_a_time_zone(project, pro):
    endpoint(project, "ann", timezone="Europe/Berlin")
    endpoint(project, "bob")
    endpoint(project, "cat", timezone="Mars/Olympus")
    journey = make_journey(project, {"w": {"Wait": {}}}, "w", segment=pro, LocalTime=True)

    tick(NOW)

    (run,) = runs(journey)
    assert run.metrics == {"ENDPOINT_MISSING_TIMEZONE": 2}
    assert counted(journey, run)["ENDPOINT_MISSING_TIMEZONE"] == "2"
    assert journey_execution_metrics(journey, run=run)["Metrics"]["ENDPOINT_PRODUCED"] == "1"


def test_each_admission_batch_counts_once_when_admission_resumes(project, pro, monkeypatch):
    monkeypatch.setattr(admission, "ADMIT_BATCH", 1)
    for name in ("ann", "bob", "cat"):
        endpoint(project, name)
    journey = make_journey(project, {"w": {"Wait": {}}}, "w", segment=pro, LocalTime=True)
    endpoint(project, "dan", timezone="Asia/Tokyo")
    admission.journeys_admit_due(NOW)
    (run,) = runs(journey)

    assert run_admit(run.id, now=NOW, max_batches=2) == 0  # ann, bob: no zone
    assert run_admit(run.id, now=NOW) == 1  # cat (no zone), dan

    run.refresh_from_db()
    assert (run.status, run.metrics) == ("RUNNING", {"ENDPOINT_MISSING_TIMEZONE": 3})


def test_event_entry_counts_active_endpoints_but_not_a_repeated_event(project, welcome, email_on):
    endpoint(project, "ann")
    journey = event_journey(project, Limits={"EndpointReentryCap": 0})
    now = timezone.now()

    assert journey_events_admit(journey.id, [("ann", "ev-1")], triggered_at=now) == 1
    assert journey_events_admit(journey.id, [("ann", "ev-1")], triggered_at=now) == 0  # a retry: not counted
    assert journey_events_admit(journey.id, [("ann", "ev-2")], triggered_at=now) == 0  # active: rejected

    (run,) = runs(journey)
    assert run.metrics == {"ACTIVE_ENDPOINT_REJECTED": 1}


def test_the_api_answers_the_counts(pinpoint, project, pro):
    endpoint(project, "ann")
    journey = make_journey(
        project,
        {"w": {"Wait": {"WaitTime": {"WaitFor": "P7D"}}}},
        "w",
        segment=pro,
        RefreshFrequency="PT1H",
        Limits={"EndpointReentryCap": 0},
    )
    tick(NOW)
    tick(NOW + timedelta(hours=1))
    second = runs(journey)[1]

    whole = pinpoint.get_journey_execution_metrics(ApplicationId=project.id, JourneyId=journey.id)
    scoped = pinpoint.get_journey_run_execution_metrics(ApplicationId=project.id, JourneyId=journey.id, RunId=second.id)

    assert whole["JourneyExecutionMetricsResponse"]["Metrics"]["ACTIVE_ENDPOINT_REJECTED"] == "1"
    assert scoped["JourneyRunExecutionMetricsResponse"]["Metrics"]["ACTIVE_ENDPOINT_REJECTED"] == "1"
    assert scoped["JourneyRunExecutionMetricsResponse"]["Metrics"]["REENTRY_CAP_EXCEEDED"] == "0"
