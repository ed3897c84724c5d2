"""The outbox's expiry rule (event-triggered campaign messages are dropped after 5 minutes), with
the real SMTP sink: an expired row is ended without a message arriving."""

# ruff: noqa: F811 (the fixtures imported from test_deliveries are test arguments)

from datetime import timedelta

import time_machine
from django.utils import timezone

from campaigns.deliveries import deliveries_create, deliveries_send_batch, deliveries_sweep
from campaigns.models import Delivery, DeliveryStatus
from tests.campaigns.test_deliveries import outgoing, smtp_sink  # noqa: F401 (fixtures)


def test_claimed_row_past_its_expiry_fails_expired_and_is_not_sent(project, smtp_sink):
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        (row,) = deliveries_create(project, [outgoing(endpoint_key="e1")], enqueue=False)
        Delivery.objects.filter(pk=row.pk).update(expires_at=start + timedelta(minutes=5))

    with time_machine.travel(start + timedelta(minutes=5, seconds=1), tick=False):
        outcome = deliveries_send_batch([row.pk])[row.pk]

    row.refresh_from_db()
    assert smtp_sink.messages == []
    assert (row.status, outcome.status) == (DeliveryStatus.FAILED_PERMANENT, DeliveryStatus.FAILED_PERMANENT)
    assert row.last_error.startswith("EXPIRED:")
    assert (row.lease_token, row.lease_until) == ("", None)


def test_row_claimed_before_its_expiry_is_sent(project, smtp_sink):
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        (row,) = deliveries_create(project, [outgoing()], enqueue=False)
        Delivery.objects.filter(pk=row.pk).update(expires_at=start + timedelta(minutes=5))

    with time_machine.travel(start + timedelta(minutes=4), tick=False):
        deliveries_send_batch([row.pk])

    assert [m["Message-ID"] for m in smtp_sink.messages] == [row.message_id]
    assert Delivery.objects.get().status == DeliveryStatus.SENT


def test_expired_row_found_by_the_sweeper_is_ended_unsent(project, smtp_sink, django_capture_on_commit_callbacks):
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        (row,) = deliveries_create(project, [outgoing(), outgoing("bob@example.org")], enqueue=False)[:1]
        Delivery.objects.filter(pk=row.pk).update(expires_at=start + timedelta(minutes=5))

    with (
        time_machine.travel(start + timedelta(minutes=10), tick=False),
        django_capture_on_commit_callbacks(execute=True),
    ):
        deliveries_sweep()

    assert [m["To"] for m in smtp_sink.messages] == ["bob@example.org"]
    assert Delivery.objects.get(pk=row.pk).last_error.startswith("EXPIRED:")
