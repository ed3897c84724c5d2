"""Event triggers of one campaign running at the same time (PostgreSQL: concurrent writers): the
campaign's caps hold across them, because a trigger decides and writes holding its run's row."""

# ruff: noqa: F811 (the fixtures imported from test_deliveries are test arguments)

import threading

import pytest
from django.db import connection, connections
from django.utils import timezone

from audience.models import Event
from campaigns.models import Delivery
from campaigns.triggers import campaign_trigger_send
from tests.campaigns.provider_server import ProviderServer
from tests.campaigns.test_deliveries import email_channel, make_endpoint, smtp_sink  # noqa: F401 (fixtures)
from tests.campaigns.test_triggers_send import event_campaign, pro_segment


def waiting_on_a_lock() -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        return cursor.fetchone()[0] > 0


@pytest.mark.django_db(transaction=True)
def test_two_events_triggered_at_once_keep_the_total_cap(project, smtp_sink, email_channel):
    if connection.vendor != "postgresql":
        pytest.skip("concurrent writers are PostgreSQL's; SQLite has one writer at a time")
    make_endpoint(project, "ann", "ann@example.org", attributes={"Plan": ["pro"]})
    make_endpoint(project, "bob", "bob@example.org", attributes={"Plan": ["pro"]})
    hook = ProviderServer()
    hook.answer((200, None, {"Endpoints": {"ann": {"Attributes": {"Plan": ["pro"]}}}}))
    campaign = event_campaign(
        project, pro_segment(project), Limits={"Total": 1}, Hook={"WebUrl": f"{hook.url}/hook", "Mode": "FILTER"}
    )
    now = timezone.now()
    campaign_trigger_send(campaign.pk, [("bob", "ev-0")], triggered_at=now, now=now)  # the run and activity exist
    hook.received.clear()
    hook.hold = threading.Event()  # the hook holds the first trigger mid-decision until released
    decided: dict = {}

    def trigger(event_id: str) -> None:
        try:
            decided.update(campaign_trigger_send(campaign.pk, [("ann", event_id)], triggered_at=now, now=now))
        finally:
            connections.close_all()

    first = threading.Thread(target=trigger, args=("ev-1",))
    second = threading.Thread(target=trigger, args=("ev-2",))
    try:
        first.start()
        while not hook.received and first.is_alive():  # the first is in its hook call, caps decided
            threading.Event().wait(0.05)
        second.start()
        # The second either waits for the first's run row (the fix) or reaches the hook too (the bug).
        while len(hook.received) < 2 and not waiting_on_a_lock() and second.is_alive():
            threading.Event().wait(0.05)
    finally:
        hook.hold.set()
        first.join(60)
        second.join(60)
        hook.stop()

    assert decided == {("ann", "ev-1"): "SUCCESS", ("ann", "ev-2"): "CAMPAIGN_CAP"}
    assert list(Delivery.objects.values_list("endpoint_key", flat=True)) == ["ann"]
    assert Event.objects.filter(event_type="_campaign.send", endpoint_key="ann").count() == 2
