"""Lanes: a large campaign run split into key ranges written by several workers at once
(campaigns.runs.engine). The workers are played here by calling the lanes' steps in turn; with
ENGAGE_QUEUE_SYNC the tasks a step enqueues after commit run at once when callbacks execute."""
# ruff: noqa: F811 - pytest fixtures imported from test_deliveries are parameters here

import signal
import subprocess
import sys
import time
from collections import Counter, defaultdict
from datetime import timedelta

import pytest
import time_machine
from django.db import connection
from django.db.models import Count
from django.utils import timezone
from django_q.conf import Conf

from audience.models import Event
from audience.segments import segment_create
from campaigns.deliveries import deliveries_sweep
from campaigns.models import (
    Campaign,
    CampaignActivity,
    CampaignRun,
    CampaignRunLane,
    CampaignState,
    Delivery,
    DeliveryStatus,
    RunState,
)
from campaigns.runs import campaign_run_lane_step, campaign_run_step, campaign_runs_sweep, campaigns_start_due, engine
from tests.campaigns.test_campaign_runs import NOW, PRO, endpoint, make_campaign, pro, statuses  # noqa: F401 - fixture
from tests.campaigns.test_campaign_runs_kill import worker_env
from tests.campaigns.test_campaign_runs_scale import endpoints as many_endpoints
from tests.campaigns.test_deliveries import email_channel, smtp_sink  # noqa: F401 - fixtures


@pytest.fixture
def three_lanes(settings, monkeypatch):
    """Up to three lanes of at least ten endpoints; batches of four."""
    settings.ENGAGE_CAMPAIGN_RUN_LANES = 3
    settings.ENGAGE_CAMPAIGN_LANE_MIN_ENDPOINTS = 10
    monkeypatch.setattr(engine, "BATCH_SIZE", 4)


def endpoints(project, count: int) -> None:
    for n in range(count):
        endpoint(project, f"e{n:02d}")


def lanes_of(run_id: str) -> list[CampaignRunLane]:
    return list(CampaignRunLane.objects.filter(run_id=run_id).order_by("number"))


def test_the_first_step_of_a_large_run_splits_it_into_contiguous_key_ranges_and_writes_nothing(
    project, pro, email_channel, three_lanes
):
    endpoints(project, 31)  # e00 … e30
    make_campaign(project, pro)

    with time_machine.travel(NOW, tick=False):
        (run_id,) = campaigns_start_due(NOW)
        assert campaign_run_step(run_id)

    # 31 keys in 3 lanes: the first ends at the 10th key, the second at the 20th.
    assert [(lane.after, lane.upto) for lane in lanes_of(run_id)] == [("", "e09"), ("e09", "e19"), ("e19", "")]
    assert not Delivery.objects.exists()
    run = CampaignRun.objects.get(pk=run_id)
    assert (run.state, run.cursor, run.lease_token) == (RunState.EXECUTING, "", "")


def test_lanes_written_in_turn_send_each_recipient_once_and_the_run_ends_after_the_last(
    project, pro, email_channel, three_lanes
):
    endpoints(project, 31)
    campaign = make_campaign(project, pro)

    with time_machine.travel(NOW, tick=False):
        (run_id,) = campaigns_start_due(NOW)
        campaign_run_step(run_id)
        open_lanes = {0, 1, 2}
        while open_lanes:  # three workers, a batch each in turn
            for number in sorted(open_lanes):
                campaign_run_lane_step(run_id, number, max_batches=1)
            open_lanes = {lane.number for lane in lanes_of(run_id) if lane.ended_at is None}
        assert CampaignRun.objects.get(pk=run_id).state == RunState.EXECUTING  # the run's step ends it
        assert campaign_run_step(run_id)

    per_endpoint = Counter(Delivery.objects.values_list("endpoint_key", flat=True))
    assert per_endpoint == {f"e{n:02d}": 1 for n in range(31)}
    assert Counter(statuses(project).values()) == {"SUCCESS": 31}
    activity = CampaignActivity.objects.get()
    assert (activity.total_endpoint_count, activity.successful_endpoint_count) == (31, 31)
    assert (activity.state, activity.result) == ("COMPLETED", "SUCCESS")
    assert CampaignRun.objects.get(pk=run_id).state == RunState.COMPLETED
    campaign.refresh_from_db()
    assert campaign.state == CampaignState.COMPLETED
    assert [lane.cursor for lane in lanes_of(run_id)] == ["e09", "e19", "e30"]


def test_the_tasks_a_split_enqueues_finish_the_run_and_send_every_message(
    project, pro, email_channel, smtp_sink, three_lanes, django_capture_on_commit_callbacks
):
    endpoints(project, 31)
    make_campaign(project, pro)

    with time_machine.travel(NOW, tick=False), django_capture_on_commit_callbacks(execute=True):
        (run_id,) = campaigns_start_due(NOW)

    assert CampaignRun.objects.get(pk=run_id).state == RunState.COMPLETED
    assert all(lane.ended_at is not None for lane in lanes_of(run_id))
    assert Counter(m["To"] for m in smtp_sink.messages) == {f"e{n:02d}@example.org": 1 for n in range(31)}
    assert len(smtp_sink.message_ids()) == 31
    assert set(Delivery.objects.values_list("status", flat=True)) == {DeliveryStatus.SENT}


def test_a_lane_whose_worker_died_is_enqueued_again_and_resumes_after_its_cursor(
    project, pro, email_channel, three_lanes, django_capture_on_commit_callbacks
):
    endpoints(project, 31)
    make_campaign(project, pro)
    with time_machine.travel(NOW, tick=False):
        (run_id,) = campaigns_start_due(NOW)
        campaign_run_step(run_id)
        campaign_run_lane_step(run_id, 1, max_batches=1)
        # The worker writing lane 1 dies holding it, after its first batch (e10 … e13).
        CampaignRunLane.objects.filter(run_id=run_id, number=1).update(lease_token="dead", lease_until=NOW)
        while campaign_run_lane_step(run_id, 0):
            pass
        while campaign_run_lane_step(run_id, 2):
            pass
        assert not campaign_run_lane_step(run_id, 1)  # its lease still holds: nobody else writes it
        assert CampaignRun.objects.get(pk=run_id).state == RunState.EXECUTING

    later = NOW + engine.LEASE + timedelta(minutes=1)
    with time_machine.travel(later, tick=False), django_capture_on_commit_callbacks(execute=True):
        assert campaign_runs_sweep(later) == [run_id]  # the run's step finds the lapsed lane

    assert lanes_of(run_id)[1].ended_at is not None
    assert CampaignRun.objects.get(pk=run_id).state == RunState.COMPLETED
    written = Delivery.objects.values("endpoint_key").annotate(n=Count("id"))
    assert {row["endpoint_key"]: row["n"] for row in written} == {f"e{n:02d}": 1 for n in range(31)}
    assert CampaignActivity.objects.get().total_endpoint_count == 31


def test_a_step_holding_a_lapsed_lane_lease_writes_nothing_once_another_took_it(
    project, pro, email_channel, three_lanes
):
    endpoints(project, 31)
    make_campaign(project, pro)
    with time_machine.travel(NOW, tick=False):
        (run_id,) = campaigns_start_due(NOW)
        campaign_run_step(run_id)
        campaign_run_lane_step(run_id, 0, max_batches=1)
        stale = lanes_of(run_id)[0]  # cursor e03, as the slow worker saw it
        CampaignRunLane.objects.filter(pk=stale.pk).update(lease_token="slow", lease_until=NOW - timedelta(seconds=1))
        while campaign_run_lane_step(run_id, 0):  # another worker takes the lane over and ends it
            pass
        run = CampaignRun.objects.get(pk=run_id)

        with pytest.raises(engine.LeaseLost):
            engine._write(stale, "slow", engine.plan_for(run.campaign), {}, [("e04", 50)], None)

    assert Delivery.objects.filter(endpoint_key__lte="e09").count() == 10


def test_duplicate_addresses_in_different_lanes_get_one_message(project, pro, email_channel, three_lanes):
    endpoints(project, 30)
    endpoint(project, "a0", "shared@example.org")  # first key: lane 0
    endpoint(project, "z9", "shared@example.org")  # last key: lane 2
    make_campaign(project, pro)

    with time_machine.travel(NOW, tick=False):
        (run_id,) = campaigns_start_due(NOW)
        campaign_run_step(run_id)
        for number in (2, 1, 0):  # the later lane first
            while campaign_run_lane_step(run_id, number):
                pass
        campaign_run_step(run_id)

    assert {lane.number for lane in lanes_of(run_id)} == {0, 1, 2}
    assert statuses(project)["a0"] == "SUCCESS"
    assert statuses(project)["z9"] == "DUPLICATE_ADDRESS"
    assert Delivery.objects.filter(address="shared@example.org").count() == 1


@pytest.mark.parametrize(
    ("count", "definition", "lanes"),
    [
        (19, {}, 0),  # under twice the minimum lane size
        (20, {}, 2),
        (31, {"Limits": {"MessagesPerSecond": 50}}, 0),  # the rate's send times are one writer's
    ],
)
def test_which_runs_are_split(project, pro, email_channel, three_lanes, count, definition, lanes):
    endpoints(project, count)
    make_campaign(project, pro, **definition)

    with time_machine.travel(NOW, tick=False):
        (run_id,) = campaigns_start_due(NOW)
        campaign_run_step(run_id, max_batches=1)

    assert len(lanes_of(run_id)) == lanes
    assert Delivery.objects.count() == (0 if lanes else 4)


def test_one_lane_setting_keeps_every_run_to_one_writer(project, pro, email_channel, three_lanes, settings):
    settings.ENGAGE_CAMPAIGN_RUN_LANES = 1
    endpoints(project, 31)
    make_campaign(project, pro)

    with time_machine.travel(NOW, tick=False):
        (run_id,) = campaigns_start_due(NOW)
        while campaign_run_step(run_id):
            pass

    assert not lanes_of(run_id)
    assert CampaignRun.objects.get(pk=run_id).state == RunState.COMPLETED
    assert Delivery.objects.count() == 31


def test_a_laned_run_whose_segment_is_deleted_fails_with_the_reason(project, pro, email_channel, three_lanes):
    endpoints(project, 31)
    campaign = make_campaign(project, pro)
    with time_machine.travel(NOW, tick=False):
        (run_id,) = campaigns_start_due(NOW)
        campaign_run_step(run_id)
        campaign_run_lane_step(run_id, 0, max_batches=1)
        pro.delete()

        assert campaign_run_lane_step(run_id, 1)  # gives the lane back; the run's step says why
        assert campaign_run_step(run_id)
        assert not campaign_run_lane_step(run_id, 2)  # the run has ended

    run = CampaignRun.objects.get(pk=run_id)
    assert (run.state, run.result) == (RunState.FAILED, "The campaign's segment was deleted.")
    campaign.refresh_from_db()
    assert campaign.state == CampaignState.DELETED
    assert Delivery.objects.count() == 4


LANE_WORKER = """
import sys, django
django.setup()
from campaigns.runs import engine
engine.BATCH_SIZE = 100
while engine.campaign_run_lane_step(sys.argv[1], int(sys.argv[2])):
    pass
"""


@pytest.mark.django_db(transaction=True)
def test_two_worker_processes_write_a_run_at_once_and_a_killed_one_is_resumed_without_duplicates(
    project, email_channel, smtp_sink, settings, monkeypatch
):
    """Two processes write the two lanes of one run concurrently; the second is killed mid-lane; the
    sweep resumes its lane here. Every recipient has one Delivery, one event and one Message-ID."""
    if connection.vendor != "postgresql":
        pytest.skip("the workers are other processes on the same database: PostgreSQL")
    recipients = 3_000
    settings.ENGAGE_CAMPAIGN_RUN_LANES, settings.ENGAGE_CAMPAIGN_LANE_MIN_ENDPOINTS = 2, 1_000
    monkeypatch.setattr(Conf, "SYNC", False)  # the split's lane tasks wait in the queue: the workers play them
    many_endpoints(project, recipients)
    campaign = make_campaign(project, segment_create(project, name="pro", dimensions=PRO), now=timezone.now())
    run = CampaignRun.objects.create(campaign=campaign, campaign_version=1, scheduled_start=timezone.now())
    CampaignActivity.objects.create(run=run, campaign=campaign, treatment_id="0", scheduled_start=run.scheduled_start)
    Campaign.objects.filter(pk=campaign.pk).update(next_run_at=None)
    assert campaign_run_step(run.pk)
    assert len(lanes_of(run.pk)) == 2

    workers = [
        subprocess.Popen([sys.executable, "-c", LANE_WORKER, run.pk, str(n)], env=worker_env(), cwd=settings.BASE_DIR)
        for n in (0, 1)
    ]
    try:
        deadline = time.monotonic() + 120
        upper = Delivery.objects.filter(endpoint_key__gt=lanes_of(run.pk)[1].after, status=DeliveryStatus.SENT)
        while upper.count() < recipients // 4:
            assert workers[1].poll() is None, "the second worker ended before it could be killed"
            assert time.monotonic() < deadline, "the second worker made no progress"
            time.sleep(0.05)
        workers[1].send_signal(signal.SIGKILL)
        assert workers[0].wait(120) == 0
    finally:
        for worker in workers:
            worker.kill()
            worker.wait(30)
    at_kill = lanes_of(run.pk)

    monkeypatch.setattr(Conf, "SYNC", True)  # from here the tasks run in this process
    later = timezone.now() + timedelta(minutes=10)  # the dead lane's and its deliveries' leases ran out
    with time_machine.travel(later, tick=True):
        assert campaign_runs_sweep() == [run.pk]
        deliveries_sweep()

    assert at_kill[0].ended_at is not None and at_kill[1].ended_at is None and at_kill[1].cursor
    assert CampaignRun.objects.get(pk=run.pk).state == RunState.COMPLETED
    per_endpoint = Delivery.objects.values_list("endpoint_key", flat=True)
    assert len(per_endpoint) == len(set(per_endpoint)) == recipients
    assert Event.objects.filter(event_type="_campaign.send").count() == recipients
    assert CampaignActivity.objects.get().successful_endpoint_count == recipients
    assert set(Delivery.objects.values_list("status", flat=True)) == {DeliveryStatus.SENT}
    recipients_of = defaultdict(set)
    for message in smtp_sink.messages:
        recipients_of[message["Message-ID"]].add(message["To"])
    assert len(recipients_of) == recipients and all(len(to) == 1 for to in recipients_of.values())
