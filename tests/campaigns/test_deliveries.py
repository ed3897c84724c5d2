import socket
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from email import message_from_bytes
from email.policy import default as default_policy

import pytest
import time_machine
from aiosmtpd.controller import Controller
from django.db import connection, connections, transaction
from django.utils import timezone

from audience.models import Endpoint, Event
from campaigns import deliveries
from campaigns.channels import channel_update
from campaigns.deliveries import (
    LEASE,
    MAX_ATTEMPTS,
    OutgoingMessage,
    deliveries_create,
    deliveries_send_batch,
    deliveries_sweep,
)
from campaigns.models import Delivery, DeliveryStatus
from tests.campaigns.recipients import make_endpoint


class Sink:
    """An SMTP server's handler that keeps what it accepts and refuses the listed recipients (550)."""

    def __init__(self) -> None:
        self.messages = []
        self.refuse: set[str] = set()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.refuse:
            return "550 5.1.1 No such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(message_from_bytes(envelope.content, policy=default_policy))
        return "250 Message accepted for delivery"

    def message_ids(self) -> Counter:
        return Counter(m["Message-ID"] for m in self.messages)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def serving(sink: Sink, settings) -> Iterator[Sink]:
    """A real SMTP server (aiosmtpd) on loopback with `sink` as its handler, and Engage's email
    settings pointing at it."""
    controller = Controller(sink, hostname="127.0.0.1", port=free_port())
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = controller.port
    settings.EMAIL_USE_TLS = False
    settings.EMAIL_USE_SSL = False
    settings.EMAIL_TIMEOUT = 5
    try:
        yield sink
    finally:
        controller.stop()


@pytest.fixture
def smtp_sink(settings):
    """A real SMTP server (aiosmtpd) on loopback, and Engage's email settings pointing at it."""
    with serving(Sink(), settings) as sink:
        yield sink


@pytest.fixture
def email_channel(project):
    return channel_update(
        project, "EMAIL", {"Enabled": True, "FromAddress": "news@example.com", "Identity": "example.com"}, by="t"
    )


def outgoing(address: str = "ann@example.org", **fields) -> OutgoingMessage:
    return OutgoingMessage(
        channel="EMAIL",
        address=address,
        subject="Hello",
        text="Hi there",
        html="<p>Hi there</p>",
        from_address="news@example.com",
        **fields,
    )


def test_created_deliveries_are_sent_by_the_enqueued_batch(project, smtp_sink, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        rows = deliveries_create(project, [outgoing("ann@example.org"), outgoing("bob@example.org")])

    assert sorted(m["To"] for m in smtp_sink.messages) == ["ann@example.org", "bob@example.org"]
    assert set(Delivery.objects.values_list("status", flat=True)) == {DeliveryStatus.SENT}
    assert smtp_sink.message_ids() == Counter({row.message_id: 1 for row in rows})


def test_sent_email_carries_sender_unsubscribe_and_both_parts(project, smtp_sink):
    rows = deliveries_create(project, [outgoing()], enqueue=False)

    deliveries_send_batch([rows[0].id])

    sent = smtp_sink.messages[0]
    assert sent["From"] == "news@example.com"
    assert sent["List-Unsubscribe"] == "<mailto:news@example.com?subject=unsubscribe>"
    assert sent["Message-ID"] == rows[0].message_id
    assert sent.get_body(("plain",)).get_content().strip() == "Hi there"
    assert sent.get_body(("html",)).get_content().strip() == "<p>Hi there</p>"


def test_long_lines_and_bare_newlines_are_delivered_intact(project, smtp_sink):
    text = "line one\nline two\r\n" + "x" * 5000
    rows = deliveries_create(
        project, [OutgoingMessage("EMAIL", "ann@example.org", subject="S", text=text)], enqueue=False
    )

    deliveries_send_batch([rows[0].id])

    assert smtp_sink.messages[0].get_content().replace("\r\n", "\n").rstrip("\n") == text.replace("\r\n", "\n")


def test_sending_a_batch_twice_sends_once(project, smtp_sink):
    rows = deliveries_create(project, [outgoing()], enqueue=False)

    deliveries_send_batch([rows[0].id])
    second = deliveries_send_batch([rows[0].id])

    assert second == {}
    assert len(smtp_sink.messages) == 1
    assert Delivery.objects.get().attempts == 1


def test_endpoint_delivery_emits_email_send_event(project, smtp_sink):
    make_endpoint(project, "E1", "ann@example.org")
    rows = deliveries_create(project, [outgoing(endpoint_key="e1")], enqueue=False)

    deliveries_send_batch([rows[0].id])

    event = Event.objects.get(project=project)
    assert (event.endpoint_key, event.event_type) == ("e1", "_email.send")
    assert event.attributes["message_id"] == rows[0].message_id.strip("<>")


def test_refused_recipient_fails_permanently_without_retry(project, smtp_sink):
    smtp_sink.refuse.add("gone@example.org")
    rows = deliveries_create(project, [outgoing("gone@example.org", endpoint_key="e1")], enqueue=False)

    outcome = deliveries_send_batch([rows[0].id])[rows[0].id]

    row = Delivery.objects.get()
    assert (outcome.status, outcome.code) == (DeliveryStatus.FAILED_PERMANENT, 550)
    assert row.status == DeliveryStatus.FAILED_PERMANENT
    assert "550" in row.last_error
    assert deliveries_sweep(timezone.now() + timedelta(days=1)) == []
    assert Event.objects.get().event_type == "_email.hardbounce"
    assert smtp_sink.messages == []


def test_a_hard_bounce_opts_the_inbox_out_and_nothing_else(project, smtp_sink):
    smtp_sink.refuse.add("gone@example.org")
    make_endpoint(project, "E1", "gone@example.org")
    make_endpoint(project, "E2", "gone@example.org")  # another endpoint of the same inbox
    make_endpoint(project, "E3", "ann@example.org")
    rows = deliveries_create(
        project,
        [outgoing("gone@example.org", endpoint_key="e1"), outgoing("ann@example.org", endpoint_key="e3")],
        enqueue=False,
    )

    deliveries_send_batch([row.id for row in rows])

    opt_out = dict(Endpoint.objects.filter(project=project).values_list("key", "opt_out"))
    assert opt_out == {"e1": "ALL", "e2": "ALL", "e3": "NONE"}  # the delivered inbox is untouched
    assert Delivery.objects.get(endpoint_key="e3").status == DeliveryStatus.SENT


def test_a_temporary_failure_opts_no_one_out(project, smtp_sink, settings):
    make_endpoint(project, "E1", "ann@example.org")
    rows = deliveries_create(project, [outgoing("ann@example.org", endpoint_key="e1")], enqueue=False)
    settings.EMAIL_PORT = free_port()  # nothing listens there: temporary

    outcome = deliveries_send_batch([rows[0].id])[rows[0].id]

    assert outcome.status == DeliveryStatus.QUEUED
    assert Endpoint.objects.get(project=project).opt_out == "NONE"


def test_refused_recipient_does_not_stop_the_rest_of_the_batch(project, smtp_sink):
    smtp_sink.refuse.add("gone@example.org")
    rows = deliveries_create(project, [outgoing("gone@example.org"), outgoing("ann@example.org")], enqueue=False)

    deliveries_send_batch([row.id for row in rows])

    assert [m["To"] for m in smtp_sink.messages] == ["ann@example.org"]
    assert Delivery.objects.get(address="ann@example.org").status == DeliveryStatus.SENT


def test_server_down_is_retried_by_the_sweeper_after_backoff(
    project, smtp_sink, settings, django_capture_on_commit_callbacks
):
    sink_port = settings.EMAIL_PORT
    settings.EMAIL_PORT = free_port()  # nothing listens there
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        rows = deliveries_create(project, [outgoing(), outgoing("bob@example.org")], enqueue=False)
        outcomes = deliveries_send_batch([row.id for row in rows])
    queued = Delivery.objects.get(id=rows[0].id)
    assert {o.status for o in outcomes.values()} == {DeliveryStatus.QUEUED}
    assert (queued.attempts, queued.next_attempt_at) == (1, start + timedelta(minutes=1))
    settings.EMAIL_PORT = sink_port

    with (
        time_machine.travel(start + timedelta(seconds=30), tick=False),
        django_capture_on_commit_callbacks(execute=True),
    ):
        too_early = deliveries_sweep()
    with (
        time_machine.travel(start + timedelta(minutes=2), tick=False),
        django_capture_on_commit_callbacks(execute=True),
    ):
        swept = deliveries_sweep()

    assert too_early == []
    assert sorted(swept) == sorted(row.id for row in rows)
    assert set(smtp_sink.message_ids().values()) == {1}
    assert len(smtp_sink.messages) == 2
    assert set(Delivery.objects.values_list("status", "attempts")) == {(DeliveryStatus.SENT, 2)}


def test_transient_failures_stop_after_the_last_attempt(project, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", free_port()
    rows = deliveries_create(project, [outgoing()], enqueue=False)
    moment = timezone.now()

    for _ in range(MAX_ATTEMPTS):
        moment += timedelta(hours=3)
        deliveries_send_batch([rows[0].id], now=moment)

    row = Delivery.objects.get()
    assert (row.status, row.attempts) == (DeliveryStatus.FAILED_PERMANENT, MAX_ATTEMPTS)
    assert row.last_error.startswith(f"Gave up after {MAX_ATTEMPTS} attempts")


class WorkerDied(BaseException):
    pass


def test_worker_dying_after_smtp_accepted_resends_with_the_same_message_id(
    project, smtp_sink, monkeypatch, django_capture_on_commit_callbacks
):
    rows = deliveries_create(project, [outgoing()], enqueue=False)
    real_record = deliveries._record

    def die(*args, **kwargs):
        raise WorkerDied

    monkeypatch.setattr(deliveries, "_record", die)
    with pytest.raises(WorkerDied):
        deliveries_send_batch([rows[0].id])
    monkeypatch.setattr(deliveries, "_record", real_record)
    assert Delivery.objects.get().status == DeliveryStatus.SENDING

    with time_machine.travel(timezone.now() + LEASE - timedelta(seconds=5), tick=False):
        assert deliveries_sweep() == []  # the lease still holds: the worker may be alive
    with (
        time_machine.travel(timezone.now() + LEASE + timedelta(seconds=5), tick=False),
        django_capture_on_commit_callbacks(execute=True),
    ):
        deliveries_sweep()

    # At least once: the documented in-flight duplicate, recognisable by its Message-ID.
    assert smtp_sink.message_ids() == Counter({rows[0].message_id: 2})
    row = Delivery.objects.get()
    assert (row.status, row.attempts) == (DeliveryStatus.SENT, 2)


def test_claimed_but_unsent_row_is_sent_once_after_its_lease(project, smtp_sink, django_capture_on_commit_callbacks):
    rows = deliveries_create(project, [outgoing()], enqueue=False)
    deliveries._claim([rows[0].id], timezone.now())  # a worker claimed it and died before sending

    with (
        time_machine.travel(timezone.now() + LEASE + timedelta(seconds=5), tick=False),
        django_capture_on_commit_callbacks(execute=True),
    ):
        deliveries_sweep()

    assert smtp_sink.message_ids() == Counter({rows[0].message_id: 1})
    assert Delivery.objects.get().status == DeliveryStatus.SENT


def test_sweeper_leaves_fresh_rows_to_their_own_task(project):
    deliveries_create(project, [outgoing()], enqueue=False)

    assert deliveries_sweep() == []
    assert len(deliveries_sweep(timezone.now() + timedelta(minutes=3))) == 1


def test_message_ids_are_unique_and_on_the_sender_domain(project, email_channel):
    rows = deliveries_create(project, [outgoing(), outgoing()], enqueue=False)

    assert rows[0].message_id != rows[1].message_id
    assert all(row.message_id.endswith("@example.com>") for row in rows)


def test_sent_email_records_the_transports_id_as_provider_message_id(project, smtp_sink):
    rows = deliveries_create(project, [outgoing()], enqueue=False)

    outcome = deliveries_send_batch([rows[0].id])[rows[0].id]

    row = Delivery.objects.get()
    assert row.provider_message_id == rows[0].message_id == outcome.provider_message_id


def test_channel_without_transport_fails_permanently_as_unsupported(project, smtp_sink):
    make_endpoint(project, "D1", "device-token-1", channel_type="ADM")
    rows = deliveries_create(
        project,
        [
            OutgoingMessage("ADM", "device-token-1", payload={"Title": "Hi", "Body": "There"}, endpoint_key="d1"),
            outgoing("ann@example.org"),
        ],
        enqueue=False,
    )

    outcomes = deliveries_send_batch([row.id for row in rows])

    adm = Delivery.objects.get(channel="ADM")
    assert adm.status == DeliveryStatus.FAILED_PERMANENT
    assert adm.last_error.startswith("UNSUPPORTED_CHANNEL: ")
    assert adm.payload == {"Title": "Hi", "Body": "There"}
    assert outcomes[adm.id].unsupported
    assert deliveries_sweep(timezone.now() + timedelta(days=1)) == []
    assert Delivery.objects.get(channel="EMAIL").status == DeliveryStatus.SENT  # the email still goes
    assert [m["To"] for m in smtp_sink.messages] == ["ann@example.org"]
    # Pinpoint reports no push events for transactional sends; the email to an address reports its
    # _email.send with no endpoint key (the transactional KPIs count it).
    assert list(Event.objects.values_list("event_type", "endpoint_key")) == [("_email.send", "")]


def test_non_email_rows_get_a_plain_idempotency_key(project):
    rows = deliveries_create(project, [OutgoingMessage("SMS", "+15555550100", payload={"Body": "Hi"})], enqueue=False)

    assert len(rows[0].message_id) == 32
    assert "@" not in rows[0].message_id


@pytest.mark.django_db(transaction=True)
def test_postgresql_claim_skips_rows_another_claim_holds(project, smtp_sink):
    if connection.vendor != "postgresql":
        pytest.skip("FOR UPDATE SKIP LOCKED is the PostgreSQL claim; SQLite has one writer at a time")
    held, free = deliveries_create(project, [outgoing("held@example.org"), outgoing("free@example.org")], enqueue=False)
    locked, release = threading.Event(), threading.Event()

    def other_claim() -> None:  # another worker, mid-claim, holding the row lock
        with transaction.atomic():
            list(Delivery.objects.select_for_update().filter(id=held.id))
            locked.set()
            release.wait(30)
        connections.close_all()

    worker = threading.Thread(target=other_claim)
    worker.start()
    locked.wait(30)
    try:
        with connection.cursor() as cursor:
            cursor.execute("SET lock_timeout = '5s'")  # waiting instead of skipping would fail, not hang
        outcomes = deliveries_send_batch([held.id, free.id])
    finally:
        release.set()
        worker.join()

    assert set(outcomes) == {free.id}
    assert [m["To"] for m in smtp_sink.messages] == ["free@example.org"]
    assert Delivery.objects.get(id=held.id).status == DeliveryStatus.QUEUED


@pytest.mark.django_db(transaction=True)
def test_rows_written_to_fall_due_later_are_paced_out_as_they_fall_due(project, email_channel, smtp_sink):
    """The pacer enqueues rows made due in the future (a campaign's rate) second by second, and each
    leaves no earlier than its time; rows due at creation are left to the task enqueued with them."""
    now = timezone.now()
    rows = deliveries_create(project, [outgoing(f"r{i}@example.org") for i in range(4)], enqueue=False)
    for offset, row in enumerate(rows[:3]):  # due in 1.5, 2.5 and 3.5 seconds
        Delivery.objects.filter(id=row.id).update(next_attempt_at=now + timedelta(seconds=offset + 1.5))
    enqueued = deliveries.deliveries_pace(pace_for=timedelta(seconds=10))
    assert enqueued == 3  # not rows[3]: due at creation, a task was (or would have been) enqueued with it
    sent = {row.id: row for row in Delivery.objects.filter(id__in=[r.id for r in rows[:3]])}
    assert {row.status for row in sent.values()} == {DeliveryStatus.SENT}
    assert all(row.sent_at >= row.next_attempt_at for row in sent.values())
    assert Delivery.objects.get(id=rows[3].id).status == DeliveryStatus.QUEUED
    assert sorted(smtp_sink.message_ids().values()) == [1, 1, 1]


@pytest.mark.django_db
def test_the_pacer_returns_at_once_when_nothing_falls_due_soon(project, email_channel):
    (row,) = deliveries_create(project, [outgoing()], enqueue=False)
    Delivery.objects.filter(id=row.id).update(next_attempt_at=timezone.now() + timedelta(hours=1))
    slept = []
    assert deliveries.deliveries_pace(sleep=slept.append) == 0
    assert slept == []


@pytest.mark.django_db
def test_the_sweeper_also_sends_rows_that_fell_due_later_before_its_grace(project, email_channel):
    now = timezone.now()
    (row,) = deliveries_create(project, [outgoing()], enqueue=False)
    Delivery.objects.filter(id=row.id).update(next_attempt_at=now + timedelta(seconds=30))
    assert deliveries_sweep(now + timedelta(seconds=31)) == [row.id]


@pytest.mark.django_db
def test_channel_events_of_campaign_deliveries_carry_the_campaign(project, email_channel, smtp_sink):
    make_endpoint(project, "ep-1", "ann@example.org")
    (row,) = deliveries_create(project, [outgoing(endpoint_key="ep-1")], enqueue=False)
    Delivery.objects.filter(id=row.id).update(campaign_id="c" * 32, campaign_activity_id="a" * 32, treatment_id="1")
    deliveries_send_batch([row.id])
    event = Event.objects.get(project=project, event_type="_email.send")
    assert event.attributes["campaign_id"] == "c" * 32
    assert event.attributes["campaign_activity_id"] == "a" * 32
    assert event.attributes["treatment_id"] == "1"


@pytest.mark.django_db
def test_channel_events_of_journey_deliveries_carry_the_journey(project, email_channel, smtp_sink):
    make_endpoint(project, "ep-1", "ann@example.org")
    (row,) = deliveries_create(project, [outgoing(endpoint_key="ep-1")], enqueue=False)
    Delivery.objects.filter(id=row.id).update(journey_id="j" * 32, journey_activity_id="mail1", journey_run_id="r" * 32)
    deliveries_send_batch([row.id])
    attributes = Event.objects.get(project=project, event_type="_email.send").attributes
    assert (attributes["journey_id"], attributes["journey_activity_id"]) == ("j" * 32, "mail1")
    assert attributes["journey_run_id"] == "r" * 32
    assert "campaign_id" not in attributes
