"""Scale-out on one machine: two worker hosts (tests.scaleout — each a network namespace with its own
django-q2 cluster and its own local SMTP sink, where the machine allows it; otherwise separate
process groups) share one PostgreSQL and one Redis, and send a campaign started by the scheduler
tick; the run is split into lanes, written by whichever hosts take them. Every recipient gets
exactly one message and both hosts do part of the work. PostgreSQL only: the hosts are other
processes sharing the test database (SQLite's test database is in memory)."""

from collections import Counter

import pytest
from django.db import connection
from django.utils import timezone

from audience.segments import segment_create
from campaigns.models import CampaignActivity, CampaignRun, Delivery, DeliveryStatus, RunState
from campaigns.runs import campaigns_start_due
from tests.campaigns.test_campaign_fault import wait_until
from tests.campaigns.test_campaign_runs import PRO, make_campaign
from tests.campaigns.test_campaign_runs_scale import endpoints
from tests.campaigns.test_deliveries import email_channel  # noqa: F401 - a fixture
from tests.scaleout import Hosts, point_broker_at

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="needs PostgreSQL: the worker hosts are other processes sharing the test database "
        "(SQLite's test database is in memory)",
    ),
]

RECIPIENTS = 3_000
HOSTS = 2
LANES = {"ENGAGE_CAMPAIGN_LANE_MIN_ENDPOINTS": "1000"}  # the hosts split this run into 3 lanes (writers)


def unfinished() -> int:
    return Delivery.objects.filter(status__in=[DeliveryStatus.QUEUED, DeliveryStatus.SENDING]).count()


def test_two_hosts_sharing_postgresql_and_redis_send_each_recipient_exactly_one_message(
    project,
    email_channel,  # noqa: F811
    tmp_path,
    monkeypatch,
):
    endpoints(project, RECIPIENTS)
    campaign = make_campaign(project, segment_create(project, name="pro", dimensions=PRO), now=timezone.now())

    with Hosts(HOSTS, database=connection.settings_dict, workdir=tmp_path, env=LANES) as hosts:
        monkeypatch.setattr("django_q.conf.Conf.ORM", None)  # restored after the test (point_broker_at sets it)
        monkeypatch.setattr("django_q.conf.Conf.REDIS", None)
        monkeypatch.setattr("django_q.conf.Conf.SYNC", True)
        point_broker_at(hosts.redis_url)  # this process's tick enqueues the run to the hosts' Redis
        (run_id,) = campaigns_start_due()

        def done() -> bool:
            hosts.check_alive()
            return CampaignRun.objects.get(pk=run_id).state == RunState.COMPLETED and unfinished() == 0

        wait_until(done, "every delivery to end")
        wait_until(lambda: sum(hosts.counts()) >= RECIPIENTS, "the last messages at the sinks")
        hosts.stop_clusters()
        received = hosts.received()

    print(f"\n{HOSTS} hosts, {hosts.describe()}: messages per host {[len(r) for r in received]}")
    everything = [pair for per_host in received for pair in per_host]
    assert all(received), "a host sent nothing"  # both hosts did part of the work
    assert len(everything) == RECIPIENTS  # no message twice, across hosts too...
    assert len({message_id for _rcpt, message_id in everything}) == RECIPIENTS  # ...each its own Message-ID
    assert {rcpt for rcpt, _message_id in everything} == {f"e{n:06d}@example.org" for n in range(RECIPIENTS)}
    assert set(Delivery.objects.values_list("message_id", flat=True)) == {m for _r, m in everything}
    assert Counter(Delivery.objects.values_list("status", flat=True)) == {DeliveryStatus.SENT: RECIPIENTS}
    assert CampaignActivity.objects.get(run_id=run_id).successful_endpoint_count == RECIPIENTS
    assert campaign.runs.count() == 1
    assert CampaignRun.objects.get(pk=run_id).lanes.filter(ended_at__isnull=False).count() == 3
