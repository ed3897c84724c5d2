"""A journey advance survives its worker killed with SIGKILL: 3,000 participants of a segment
journey go through an email activity into a wait, moved by a real django-q2 cluster (`manage.py
qcluster`) that sends to a real SMTP server on loopback (aiosmtpd); the cluster is killed while the
advance is half done and a new cluster finishes it. PostgreSQL only: the cluster is another process
sharing the test database (SQLite's test database is in memory)."""
# ruff: noqa: F811 - pytest fixtures imported from other test modules are parameters here

import os
import signal
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone
from django_q.conf import Conf
from django_q.models import OrmQ

from audience.models import Endpoint, cohort_of
from campaigns.deliveries import BATCH_SIZE, deliveries_sweep
from campaigns.models import Delivery, DeliveryStatus
from campaigns.tasks import deliveries_send
from engage.queue import enqueue_on_commit
from journeys.engine.admission import journeys_admit_due, open_runs, run_admit
from journeys.models import JourneyParticipant, JourneyStep, ParticipantState
from journeys.tasks import journey_advance_task
from tests.campaigns.test_campaign_fault import (  # noqa: F401 - the sink fixture
    WORKERS,
    cluster_env,
    sink,
    start_cluster,
    stop,
    wait_until,
)
from tests.campaigns.test_deliveries import free_port  # noqa: F401
from tests.journeys.test_engine_support import email, email_on, make_journey, pro, welcome  # noqa: F401

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="needs PostgreSQL: the worker cluster is another process sharing the test database "
        "(SQLite's test database is in memory)",
    ),
]

PARTICIPANTS = 3_000


def test_a_journey_advance_whose_cluster_is_killed_sends_each_participant_one_message(
    project, pro, welcome, email_on, sink, monkeypatch, tmp_path
):
    now = timezone.now()
    Endpoint.objects.bulk_create(
        [
            Endpoint(
                project=project,
                endpoint_id=f"jp{n:05d}",
                key=f"jp{n:05d}",
                channel_type="EMAIL",
                address=f"jp{n:05d}@example.org",
                attributes={"Plan": ["pro"], "FirstName": [f"N{n}"]},
                effective_date=now - timedelta(days=1),
                creation_date=now - timedelta(days=1),
                cohort_id=cohort_of(f"jp{n:05d}"),
            )
            for n in range(PARTICIPANTS)
        ],
        batch_size=2000,
    )
    activities = {"mail": email("hold"), "hold": {"Wait": {"WaitTime": {"WaitFor": "P30D"}}}}
    journey = make_journey(project, activities, "mail", segment=pro, now=now - timedelta(minutes=1))
    journeys_admit_due(now)
    for run_id in open_runs(now):
        run_admit(run_id, now=now)
    assert JourneyParticipant.objects.filter(journey=journey).count() == PARTICIPANTS

    monkeypatch.setattr(Conf, "SYNC", False)  # this process enqueues for the cluster
    env = cluster_env(sink.port)
    log = (tmp_path / "qcluster.log").open("w")
    in_hold = JourneyParticipant.objects.filter(journey=journey, activity_id="hold")

    def mid_advance() -> bool:
        return 0 < in_hold.count() < PARTICIPANTS

    enqueue_on_commit(journey_advance_task, journey.pk)  # what the tick does for a due journey
    first = start_cluster(env, log)
    try:
        wait_until(mid_advance, "the advance half done", first)
        os.killpg(first.pid, signal.SIGKILL)
        first.wait(30)
    finally:
        stop(first, signal.SIGKILL)
    moved_at_kill, at_sink_at_kill = in_hold.count(), sink.count()
    # Leases (participants, deliveries) and the broker's task locks lapse with time: moved to the
    # past instead of waited for; then what the cluster's schedules do every minute: the tick
    # enqueues the journey's advance, the sweep re-queues and enqueues the outbox's rows.
    past = timezone.now() - timedelta(seconds=1)
    JourneyParticipant.objects.filter(journey=journey, lease_until__isnull=False).update(lease_until=past)
    Delivery.objects.filter(status=DeliveryStatus.SENDING).update(lease_until=past)
    OrmQ.objects.update(lock=past)
    deliveries_sweep()
    queued = list(Delivery.objects.filter(status=DeliveryStatus.QUEUED).values_list("id", flat=True))
    for start in range(0, len(queued), BATCH_SIZE):  # rows made just before the kill (the sweep's grace)
        enqueue_on_commit(deliveries_send, *queued[start : start + BATCH_SIZE])
    enqueue_on_commit(journey_advance_task, journey.pk)
    second = start_cluster(env, log)
    try:
        wait_until(
            lambda: (
                in_hold.count() == PARTICIPANTS
                and Delivery.objects.count() == PARTICIPANTS
                and not Delivery.objects.exclude(status=DeliveryStatus.SENT).exists()
            ),
            "every participant moved and every message sent",
            second,
        )
        wait_until(lambda: sink.count() >= PARTICIPANTS, "the last messages at the sink")
    finally:
        stop(second)
        log.close()

    tally = sink.tally()
    duplicates = tally.duplicates
    print(f"killed with {moved_at_kill} participants moved, {at_sink_at_kill} at the sink; duplicates {duplicates}")
    assert 0 < moved_at_kill < PARTICIPANTS  # the kill was in the middle of the advance
    tally.assert_one_message_each({f"jp{n:05d}@example.org" for n in range(PARTICIPANTS)})
    assert 0 <= duplicates <= WORKERS * 50  # same-Message-ID copies: at most one flush per worker
    participants = JourneyParticipant.objects.filter(journey=journey)
    assert set(participants.values_list("activity_id", "state")) == {("hold", ParticipantState.ACTIVE)}
    assert JourneyStep.objects.filter(participant__journey=journey, activity_id="mail").count() == PARTICIPANTS
