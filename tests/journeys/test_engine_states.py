"""Journey states and crashes: paused timers freeze and resume, cancelling exits the waiting, a
batch whose worker died is redone once, a worker that lost its lease writes nothing."""
# ruff: noqa: F811 - pytest fixtures imported from test_engine_support are parameters here

from datetime import timedelta

import time_machine

from audience.models import Event
from campaigns.models import Delivery
from journeys.engine import journey_advance, journey_execution_metrics
from journeys.engine.advance import LEASE, Pass, claim, plan_for
from journeys.engine.states import FROZEN_BASE
from journeys.models import Journey, JourneyParticipant, JourneyRun, JourneyStep
from tests.journeys.test_engine_support import (  # noqa: F401 - fixtures
    NOW,
    email,
    email_on,
    endpoint,
    make_journey,
    pro,
    tick,
    welcome,
)

WAIT_THEN_MAIL = {"pause": {"Wait": {"WaitTime": {"WaitFor": "PT2H"}, "NextActivity": "mail"}}, "mail": email()}


def set_state(journey, state):
    Journey.objects.filter(pk=journey.pk).update(state=state)


def test_a_paused_journey_freezes_waits_and_resumes_where_they_were(project, pro, welcome, email_on):
    endpoint(project, "ann")
    journey = make_journey(project, WAIT_THEN_MAIL, "pause", segment=pro)
    tick(NOW)

    set_state(journey, "PAUSED")
    tick(NOW + timedelta(minutes=30))
    frozen = JourneyParticipant.objects.get().next_at
    tick(NOW + timedelta(hours=5))
    set_state(journey, "ACTIVE")
    tick(NOW + timedelta(hours=5))
    thawed = JourneyParticipant.objects.get().next_at
    tick(NOW + timedelta(hours=6, minutes=29))
    before = Delivery.objects.count()
    tick(NOW + timedelta(hours=6, minutes=30))

    assert frozen == FROZEN_BASE + timedelta(hours=1, minutes=30)
    assert thawed == NOW + timedelta(hours=6, minutes=30)
    assert before == 0 and Delivery.objects.count() == 1
    assert JourneyParticipant.objects.get().state == "DONE"


def test_a_paused_journey_admits_no_one_and_moves_no_one(project, pro, welcome, email_on):
    endpoint(project, "ann")
    journey = make_journey(project, {"mail": email()}, "mail", segment=pro, state="PAUSED")

    tick(NOW)

    assert JourneyParticipant.objects.filter(journey=journey).count() == 0
    assert Delivery.objects.count() == 0


def test_cancelling_exits_the_waiting_and_admits_no_one_new(project, pro, welcome, email_on):
    endpoint(project, "ann")
    journey = make_journey(project, WAIT_THEN_MAIL, "pause", segment=pro, RefreshFrequency="PT1H")
    tick(NOW)
    endpoint(project, "bob")

    set_state(journey, "CANCELLED")
    tick(NOW + timedelta(hours=3))

    assert list(JourneyParticipant.objects.values_list("endpoint_key", "state")) == [("ann", "EXITED")]
    assert list(JourneyStep.objects.values_list("activity_id", "status")) == [("pause", "CANCELLED")]
    assert Delivery.objects.count() == 0
    assert set(JourneyRun.objects.values_list("status", flat=True)) == {"CANCELLED"}
    assert journey_execution_metrics(journey)["Metrics"]["CANCELLED"] == "1"


def test_cancelling_lets_a_batch_in_flight_finish(project, pro, welcome, email_on):
    endpoint(project, "ann")
    journey = make_journey(project, {"mail": email()}, "mail", segment=pro)
    with time_machine.travel(NOW, tick=False):
        from journeys.engine.admission import journeys_admit_due, open_runs, run_admit

        journeys_admit_due(NOW)
        for run_id in open_runs(NOW):
            run_admit(run_id, now=NOW)
        plan = plan_for(Journey.objects.select_related("project").get(pk=journey.pk))
        token, claimed = claim(journey.id, now=NOW)
        set_state(journey, "CANCELLED")
        tick(NOW)  # the claimed participant is not exited under the batch
        batch = Pass(plan, claimed, now=NOW)
        batch.run()
        batch.write(token)

    assert JourneyParticipant.objects.get().state == "DONE"
    assert Delivery.objects.count() == 1


def test_a_batch_whose_worker_died_is_redone_once_after_its_lease(project, pro, welcome, email_on):
    for i in range(30):
        endpoint(project, f"e{i:02d}")
    journey = make_journey(project, {"mail": email("w"), "w": {"Wait": {"WaitTime": {"WaitFor": "P1D"}}}}, "mail")
    journey.segment = pro
    journey.definition["StartCondition"] = {"SegmentStartCondition": {"SegmentId": pro.pk}}
    journey.save()
    with time_machine.travel(NOW, tick=False):
        from journeys.engine.admission import journeys_admit_due, open_runs, run_admit

        journeys_admit_due(NOW)
        for run_id in open_runs(NOW):
            run_admit(run_id, now=NOW)
        plan = plan_for(Journey.objects.select_related("project").get(pk=journey.pk))
        _, claimed = claim(journey.id, now=NOW)
        Pass(plan, claimed, now=NOW).run()  # decided in memory, then the worker is killed: nothing written

    held_back = journey_advance(journey.id, now=NOW + timedelta(minutes=1))
    redone = journey_advance(journey.id, now=NOW + LEASE + timedelta(seconds=1))
    again = journey_advance(journey.id, now=NOW + LEASE + timedelta(seconds=2))

    assert (len(claimed), held_back, redone, again) == (30, 0, 30, 0)
    assert Delivery.objects.count() == 30
    assert Delivery.objects.values("endpoint_key").distinct().count() == 30
    assert JourneyStep.objects.filter(activity_id="mail").count() == 30
    assert Event.objects.filter(event_type="_journey.send").count() == 30
    assert set(JourneyParticipant.objects.values_list("activity_id", "state")) == {("w", "ACTIVE")}


def test_a_worker_that_lost_its_lease_writes_nothing(project, pro, welcome, email_on):
    endpoint(project, "ann")
    journey = make_journey(project, {"mail": email()}, "mail", segment=pro)
    with time_machine.travel(NOW, tick=False):
        from journeys.engine.admission import journeys_admit_due, open_runs, run_admit

        journeys_admit_due(NOW)
        for run_id in open_runs(NOW):
            run_admit(run_id, now=NOW)
    plan = plan_for(Journey.objects.select_related("project").get(pk=journey.pk))
    slow_token, slow_claim = claim(journey.id, now=NOW)
    slow = Pass(plan, slow_claim, now=NOW)
    slow.run()

    journey_advance(journey.id, now=NOW + LEASE + timedelta(seconds=1))  # another worker takes over
    from journeys.engine.advance import LeaseLost

    try:
        slow.write(slow_token)
        lost = False
    except LeaseLost:
        lost = True

    assert lost
    assert Delivery.objects.count() == 1
    assert JourneyStep.objects.count() == 1


def test_finished_runs_and_journeys_complete(project, pro, welcome, email_on):
    endpoint(project, "ann")
    journey = make_journey(project, {"mail": email()}, "mail", segment=pro)

    tick(NOW)
    tick(NOW + timedelta(minutes=1))

    journey.refresh_from_db()
    assert JourneyRun.objects.get().status == "COMPLETED"
    assert journey.state == "COMPLETED"


def test_past_its_end_a_journey_is_closed_admits_no_one_and_its_participants_go_on(project, pro, welcome, email_on):
    endpoint(project, "ann")
    journey = make_journey(project, WAIT_THEN_MAIL, "pause", segment=pro, RefreshFrequency="PT1H")
    Journey.objects.filter(pk=journey.pk).update(end_time=NOW + timedelta(minutes=90))
    tick(NOW)
    endpoint(project, "bob")

    tick(NOW + timedelta(hours=2))

    journey.refresh_from_db()
    assert (journey.state, journey.next_refresh_at) == ("CLOSED", None)
    assert list(JourneyParticipant.objects.values_list("endpoint_key", "activity_id", "state")) == [
        ("ann", "mail", "DONE")
    ]
    assert Delivery.objects.count() == 1
