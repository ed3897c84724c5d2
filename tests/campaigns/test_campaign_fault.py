"""A campaign send survives a worker killed with SIGKILL: a 20,000-recipient email campaign run by
a real django-q2 cluster (`manage.py qcluster`, a separate process group on the test database) to a
real SMTP server on loopback (aiosmtpd, in this process); the cluster is killed in the middle of
the send and a new one finishes it. PostgreSQL only (the cluster and this process share the
database; SQLite's test database is in memory)."""

import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import timedelta
from email.parser import BytesHeaderParser
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from django.db import connection
from django.utils import timezone
from django_q.conf import Conf
from django_q.models import OrmQ

from audience.models import Endpoint, cohort_of
from audience.segments import segment_create
from campaigns.campaigns import campaign_create
from campaigns.channels import channel_update
from campaigns.deliveries import FLUSH_EVERY, deliveries_sweep
from campaigns.models import CampaignActivity, CampaignRun, Delivery, DeliveryStatus, RunState
from campaigns.runs import campaign_runs_sweep, campaigns_start_due
from tests.campaigns.test_deliveries import free_port

pytestmark = pytest.mark.django_db(transaction=True)

ROOT = Path(__file__).resolve().parents[2]
RECIPIENTS = 20_000
WORKERS = 2
KILL_AFTER = 4_000  # messages at the sink when the cluster is killed
DEADLINE = 240.0  # seconds: only so that a broken engine fails instead of hanging


class RecordingSink:
    """An SMTP handler keeping (recipient, Message-ID) of every message it accepts."""

    def __init__(self) -> None:
        self.received: list[tuple[str, str]] = []
        self.lock = threading.Lock()
        self.parser = BytesHeaderParser()

    async def handle_DATA(self, server, session, envelope):
        message_id = self.parser.parsebytes(envelope.content)["Message-ID"]
        with self.lock:
            self.received.extend((rcpt, message_id) for rcpt in envelope.rcpt_tos)
        return "250 Message accepted for delivery"

    def count(self) -> int:
        with self.lock:
            return len(self.received)

    def tally(self) -> "Tally":
        with self.lock:
            received = list(self.received)
        tally = Tally(defaultdict(set), defaultdict(set), 0)
        for rcpt, message_id in received:
            tally.by_recipient[rcpt].add(message_id)
            tally.recipients_of[message_id].add(rcpt)
        tally.duplicates = len(received) - sum(len(rcpts) for rcpts in tally.recipients_of.values())
        return tally


@dataclass
class Tally:
    """What a RecordingSink received: the Message-IDs of each recipient, the recipients of each
    Message-ID, and the copies received again (same Message-ID, same recipient)."""

    by_recipient: dict[str, set[str]]
    recipients_of: dict[str, set[str]]
    duplicates: int

    def assert_one_message_each(self, recipients: set[str]) -> None:
        """Every recipient got one message (one Message-ID), nobody was left out, and no Message-ID
        went to two recipients."""
        assert set(self.by_recipient) == recipients  # nobody left out, nobody else
        assert all(len(ids) == 1 for ids in self.by_recipient.values())  # never two different messages
        assert all(len(rcpts) == 1 for rcpts in self.recipients_of.values())


@pytest.fixture
def sink():
    handler = RecordingSink()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    handler.port = controller.port
    yield handler
    controller.stop()


def cluster_env(port: int) -> dict[str, str]:
    """The worker's environment: production settings on this test database, mail to the sink."""
    db = connection.settings_dict
    url = (
        f"postgres://{db['USER']}:{db['PASSWORD'] or ''}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    )
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "engage.settings",
            "DATABASE_URL": url,
            "SECRET_KEY": "engage-test-suite-only",
            "ENGAGE_QUEUE_SYNC": "0",
            "ENGAGE_WORKERS": str(WORKERS),
            "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "EMAIL_HOST": "127.0.0.1",
            "EMAIL_PORT": str(port),
            "EMAIL_USE_TLS": "0",
            "EMAIL_USE_SSL": "0",
            "ENGAGE_PUBLIC_URL": "",
            "LOG_LEVEL": "WARNING",
            "PYTHONPATH": str(ROOT),
        }
    )
    return env


def start_cluster(env: dict[str, str], log) -> subprocess.Popen:
    """`manage.py qcluster` in a process group of its own (its workers are forked into it)."""
    return subprocess.Popen(
        [sys.executable, str(ROOT / "manage.py"), "qcluster"],
        env=env,
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def stop(cluster: subprocess.Popen, sig: int = signal.SIGTERM) -> None:
    if cluster.poll() is None:
        os.killpg(cluster.pid, sig)
        try:
            cluster.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(cluster.pid, signal.SIGKILL)
            cluster.wait(30)


def wait_until(condition, what: str, cluster: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + DEADLINE
    while not condition():
        if cluster is not None and cluster.poll() is not None:
            raise AssertionError(f"the cluster ended ({cluster.returncode}) before {what}")
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.05)


def mid_send(sink: RecordingSink):
    """True once KILL_AFTER messages arrived and a worker is in the middle of a flush: rows are
    SENDING and the sink holds messages whose outcome cannot have been recorded yet."""

    def ready() -> bool:
        count = sink.count()
        if count < KILL_AFTER or count % FLUSH_EVERY == 0:
            return False
        return Delivery.objects.filter(status=DeliveryStatus.SENDING).exists()

    return ready


def unfinished() -> int:
    return Delivery.objects.filter(status__in=[DeliveryStatus.QUEUED, DeliveryStatus.SENDING]).count()


@pytest.fixture
def campaign(project):
    """RECIPIENTS email endpoints, the segment of them all and an IMMEDIATE campaign to it."""
    channel_update(
        project, "EMAIL", {"Enabled": True, "FromAddress": "news@example.com", "Identity": "example.com"}, by="t"
    )
    now = timezone.now()
    Endpoint.objects.bulk_create(
        [
            Endpoint(
                project=project,
                endpoint_id=f"ep{n:05d}",
                key=f"ep{n:05d}",
                channel_type="EMAIL",
                address=f"ep{n:05d}@example.org",
                attributes={"Plan": ["pro"], "FirstName": [f"Name{n}"]},
                effective_date=now,
                creation_date=now,
                cohort_id=cohort_of(f"ep{n:05d}"),
            )
            for n in range(RECIPIENTS)
        ],
        batch_size=2000,
    )
    segment = segment_create(
        project, name="All", dimensions={"Attributes": {"Plan": {"AttributeType": "INCLUSIVE", "Values": ["pro"]}}}
    )
    return campaign_create(
        project,
        {
            "Name": "Big send",
            "SegmentId": segment.id,
            "Schedule": {"StartTime": "IMMEDIATE", "Frequency": "ONCE"},
            "MessageConfiguration": {
                "EmailMessage": {"Title": "Hi {{Attributes.FirstName}}", "Body": "Hello {{Attributes.FirstName}}"}
            },
        },
    )


@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="needs PostgreSQL: a worker in another process shares the test database (SQLite's is in memory)",
)
def test_a_cluster_killed_mid_send_loses_nothing_and_sends_no_recipient_two_messages(
    campaign, sink, monkeypatch, tmp_path, record_property
):
    monkeypatch.setattr(Conf, "SYNC", False)  # this process enqueues for the cluster instead of running tasks
    env = cluster_env(sink.port)
    log = (tmp_path / "qcluster.log").open("w")

    (run_id,) = campaigns_start_due()  # the tick: the run is made and its first step enqueued
    first = start_cluster(env, log)
    try:
        wait_until(mid_send(sink), f"{KILL_AFTER} messages at the sink, in the middle of a flush", first)
        os.killpg(first.pid, signal.SIGKILL)
        first.wait(30)
    finally:
        stop(first, signal.SIGKILL)
    at_kill = sink.count()
    run_at_kill = CampaignRun.objects.get(pk=run_id)
    statuses_at_kill = Counter(Delivery.objects.values_list("status", flat=True))
    # What a dead worker held is released with time: its run lease and delivery leases (LEASE, 5
    # minutes) and the broker's lock on the tasks it had taken (Q_CLUSTER retry, 15 minutes). The
    # clock is not waited on: those instants are moved to the past, and the sweeps the cluster's
    # one-minute schedules run are called here.
    past = timezone.now() - timedelta(seconds=1)
    CampaignRun.objects.filter(pk=run_id, state__in=[RunState.PENDING, RunState.EXECUTING]).update(lease_until=past)
    Delivery.objects.filter(status=DeliveryStatus.SENDING).update(lease_until=past)
    OrmQ.objects.update(lock=past)
    campaign_runs_sweep()
    deliveries_sweep()
    second = start_cluster(env, log)
    try:
        wait_until(
            lambda: CampaignRun.objects.get(pk=run_id).state == RunState.COMPLETED and unfinished() == 0,
            "every delivery to end",
            second,
        )
        wait_until(lambda: sink.count() >= RECIPIENTS, "the last messages at the sink")
    finally:
        stop(second)
        log.close()

    tally = sink.tally()
    duplicates = tally.duplicates
    record_property("messages_at_kill", at_kill)
    record_property("duplicates", duplicates)
    print(
        f"killed at {at_kill} messages (run {run_at_kill.state}, cursor {run_at_kill.cursor}, rows {statuses_at_kill});"
        f" received {len(sink.received)}, duplicates with the same Message-ID: {duplicates}"
    )
    assert 0 < at_kill < RECIPIENTS  # the kill was in the middle of the send
    tally.assert_one_message_each({f"ep{n:05d}@example.org" for n in range(RECIPIENTS)})
    # A copy is sent twice only when its outcome was not recorded: at most one flush per worker.
    assert 0 <= duplicates <= WORKERS * FLUSH_EVERY
    assert Counter(Delivery.objects.values_list("status", flat=True)) == {DeliveryStatus.SENT: RECIPIENTS}
    assert CampaignActivity.objects.get(run_id=run_id).successful_endpoint_count == RECIPIENTS
