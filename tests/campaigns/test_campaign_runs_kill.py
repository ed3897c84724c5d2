"""A worker killed with SIGKILL in the middle of a campaign run (PostgreSQL: the worker is another
process on the same database): after the sweepers resume it, every recipient has exactly one
Delivery and one `_campaign.send` event, and the SMTP sink holds exactly one distinct Message-ID per
recipient (a message the killed worker handed to SMTP but had not recorded is sent again with the
same Message-ID: the outbox's documented at-least-once window)."""
# ruff: noqa: F811 - pytest fixtures imported from test_deliveries are parameters here

import os
import signal
import subprocess
import sys
import time
from collections import defaultdict
from datetime import timedelta

import pytest
import time_machine
from django.conf import settings
from django.db import connection
from django.utils import timezone

from audience.models import Event
from audience.segments import segment_create
from campaigns.deliveries import deliveries_sweep
from campaigns.models import CampaignActivity, CampaignRun, Delivery, DeliveryStatus, RunState
from campaigns.runs import campaign_runs_sweep
from tests.campaigns.test_campaign_runs import PRO, make_campaign
from tests.campaigns.test_campaign_runs_scale import endpoints
from tests.campaigns.test_deliveries import email_channel, smtp_sink  # noqa: F401 - fixtures

RECIPIENTS = 2_000
WORKER = """
import sys, django
django.setup()
from campaigns.runs import engine
engine.BATCH_SIZE = 100
while engine.campaign_run_step(sys.argv[1]):
    pass
"""


def worker_env(**overrides: str) -> dict[str, str]:
    """A worker process's environment: this test database, mail to the sink, tasks run inline."""
    db = connection.settings_dict
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "ENGAGE_QUEUE_SYNC": "1",  # the worker sends each batch's messages itself, after its commit
        "EMAIL_HOST": settings.EMAIL_HOST,
        "EMAIL_PORT": str(settings.EMAIL_PORT),
        **overrides,
    }


@pytest.mark.django_db(transaction=True)
def test_a_run_whose_worker_is_killed_resumes_and_reaches_each_recipient_once(project, email_channel, smtp_sink):
    if connection.vendor != "postgresql":
        pytest.skip("the worker is a second process on the same database: PostgreSQL")
    endpoints(project, RECIPIENTS)
    campaign = make_campaign(project, segment_create(project, name="pro", dimensions=PRO), now=timezone.now())
    run = CampaignRun.objects.create(campaign=campaign, campaign_version=1, scheduled_start=timezone.now())
    CampaignActivity.objects.create(run=run, campaign=campaign, treatment_id="0", scheduled_start=run.scheduled_start)
    campaign.next_run_at = None
    campaign.save()
    worker = subprocess.Popen([sys.executable, "-c", WORKER, run.pk], env=worker_env(), cwd=settings.BASE_DIR)
    try:
        deadline = time.monotonic() + 120
        while Delivery.objects.filter(status=DeliveryStatus.SENT).count() < RECIPIENTS // 4:
            assert worker.poll() is None, "the worker ended before it could be killed"
            assert time.monotonic() < deadline, "the worker made no progress"
            time.sleep(0.05)
        worker.send_signal(signal.SIGKILL)
    finally:
        worker.wait(30)
    killed_at = CampaignRun.objects.get(pk=run.pk)

    later = timezone.now() + timedelta(minutes=10)  # both leases (run and deliveries) have run out
    with time_machine.travel(later, tick=True):
        assert campaign_runs_sweep() == [run.pk]  # the run resumes here, in this process
        deliveries_sweep()

    assert killed_at.state == RunState.EXECUTING and killed_at.cursor
    assert CampaignRun.objects.get(pk=run.pk).state == RunState.COMPLETED
    per_endpoint = Delivery.objects.values_list("endpoint_key", flat=True)
    assert len(per_endpoint) == len(set(per_endpoint)) == RECIPIENTS
    assert Event.objects.filter(event_type="_campaign.send").count() == RECIPIENTS
    activity = CampaignActivity.objects.get()
    assert activity.successful_endpoint_count == RECIPIENTS
    assert set(Delivery.objects.values_list("status", flat=True)) == {DeliveryStatus.SENT}
    recipients_of = defaultdict(set)
    for message in smtp_sink.messages:
        recipients_of[message["Message-ID"]].add(message["To"])
    assert len(recipients_of) == RECIPIENTS
    assert all(len(to) == 1 for to in recipients_of.values())
    print(f"\n{len(smtp_sink.messages) - RECIPIENTS} message(s) sent twice with the same Message-ID")
