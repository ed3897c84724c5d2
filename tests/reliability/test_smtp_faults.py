# ruff: noqa: F811 - pytest fixtures imported from other test modules are parameters here
"""SMTP faults the outbox must absorb, against real servers on loopback: a 4xx temporary answer
(retried with backoff, attempts and next_attempt_at recorded), a server that never answers (timeout:
temporary), servers that refuse every session (a batch knocks a bounded number of times, not once per
message) and a 5xx answer to a message (permanent, a hard bounce). Refused connections with nothing
listening and 5xx refusals of a recipient are in
tests/campaigns/test_deliveries.py; provider (HTTP API) faults in test_email_anymail.py and
test_transports_sms.py."""

import socketserver
import threading
from collections import Counter
from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from audience.models import Event
from campaigns.deliveries import BACKOFF, deliveries_create, deliveries_send_batch, deliveries_sweep
from campaigns.models import Delivery, DeliveryStatus
from tests.campaigns.test_deliveries import email_channel, outgoing, smtp_sink  # noqa: F401 (fixtures)

pytestmark = pytest.mark.django_db(transaction=True)

BATCH = 120  # more than two flushes of the outbox


class CountingServer(socketserver.ThreadingTCPServer):
    """A TCP server on loopback counting the connections it accepts; `greeting` is written to each
    (None: say nothing, hold the connection open until the client gives up)."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, greeting: bytes | None) -> None:
        self.greeting = greeting
        self.connections = 0
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        server = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                with server.lock:
                    server.connections += 1
                if server.greeting is not None:
                    self.request.sendall(server.greeting)
                    return
                server.stopping.wait(30)

        super().__init__(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.stopping.set()
        self.shutdown()
        self.server_close()


@pytest.fixture
def smtp_server(settings):
    servers: list[CountingServer] = []

    def start(greeting: bytes | None, timeout: float = 5) -> CountingServer:
        server = CountingServer(greeting)
        servers.append(server)
        settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
        settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", server.server_address[1]
        settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
        settings.EMAIL_TIMEOUT = timeout
        return server

    yield start
    for server in servers:
        server.stop()


def batch(project, n: int = BATCH) -> list[int]:
    rows = deliveries_create(project, [outgoing(f"r{i}@example.org") for i in range(n)], enqueue=False)
    return [row.id for row in rows]


def test_a_4xx_answer_is_retried_with_backoff_and_then_sent_once(
    project, smtp_sink, django_capture_on_commit_callbacks
):
    commits = django_capture_on_commit_callbacks
    smtp_sink.refuse_temporarily = True
    original = type(smtp_sink).handle_RCPT

    async def handle_rcpt(server, session, envelope, address, rcpt_options):
        if smtp_sink.refuse_temporarily:
            return "451 4.3.0 Mailbox busy, try again later"
        return await original(smtp_sink, server, session, envelope, address, rcpt_options)

    smtp_sink.handle_RCPT = handle_rcpt
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        ids = batch(project, 3)
        outcomes = deliveries_send_batch(ids)
    first = Delivery.objects.get(id=ids[0])
    with time_machine.travel(start + timedelta(minutes=2), tick=False), commits(execute=True):
        deliveries_sweep()  # the second attempt: still 451
    second = Delivery.objects.get(id=ids[0])
    smtp_sink.refuse_temporarily = False
    with time_machine.travel(start + timedelta(minutes=4), tick=False), commits(execute=True):
        too_early = deliveries_sweep()
    with time_machine.travel(start + timedelta(minutes=8), tick=False), commits(execute=True):
        deliveries_sweep()

    assert {(o.status, o.code) for o in outcomes.values()} == {(DeliveryStatus.QUEUED, 451)}
    assert (first.status, first.attempts, first.next_attempt_at) == (DeliveryStatus.QUEUED, 1, start + BACKOFF[0])
    assert first.last_error.startswith("SMTP 451")
    assert (second.attempts, second.next_attempt_at) == (2, start + timedelta(minutes=2) + BACKOFF[1])
    assert too_early == []
    assert set(Delivery.objects.values_list("status", "attempts")) == {(DeliveryStatus.SENT, 3)}
    assert smtp_sink.message_ids() == Counter({row.message_id: 1 for row in Delivery.objects.all()})


def test_a_server_that_never_answers_times_out_as_a_temporary_failure_once_per_batch(project, smtp_server):
    server = smtp_server(None, timeout=1)
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        ids = batch(project)
        outcomes = deliveries_send_batch(ids)

    rows = Delivery.objects.filter(id__in=ids)
    assert {o.status for o in outcomes.values()} == {DeliveryStatus.QUEUED}
    assert {(row.attempts, row.next_attempt_at) for row in rows} == {(1, start + BACKOFF[0])}
    assert all(row.last_error.startswith("SMTP connection failed") for row in rows)
    assert server.connections == 1  # the batch gave up on the server after its first timeout


@pytest.mark.parametrize(
    "greeting",
    [b"421 4.3.2 Service not available, closing channel\r\n", b"554 5.3.2 No SMTP service here\r\n", b""],
    ids=["421-greeting", "554-greeting", "closed-at-once"],
)
def test_a_refusing_server_gets_a_bounded_number_of_connections_and_nothing_fails_for_good(
    project, smtp_server, greeting
):
    server = smtp_server(greeting)
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        ids = batch(project)
        deliveries_send_batch(ids)
    with time_machine.travel(start + timedelta(seconds=30), tick=False):
        deliveries_send_batch(ids)  # not due yet: no knocking at all

    rows = Delivery.objects.filter(id__in=ids)
    assert set(rows.values_list("status", "attempts")) == {(DeliveryStatus.QUEUED, 1)}
    assert set(rows.values_list("next_attempt_at", flat=True)) == {start + BACKOFF[0]}
    assert server.connections == 1  # one knock for the whole batch, not one per message


def test_a_5xx_answer_to_the_message_fails_it_for_good_as_a_hard_bounce_and_the_batch_goes_on(project, smtp_sink):
    async def handle_data(server, session, envelope):
        if envelope.rcpt_tos == ["spam@example.org"]:
            return "554 5.7.1 Message rejected as spam"
        return "250 Message accepted for delivery"

    smtp_sink.handle_DATA = handle_data
    rows = deliveries_create(
        project,
        [outgoing("spam@example.org", endpoint_key="e1"), outgoing("ann@example.org", endpoint_key="e2")],
        enqueue=False,
    )

    outcomes = deliveries_send_batch([row.id for row in rows])

    rejected, accepted = (Delivery.objects.get(id=row.id) for row in rows)
    assert (outcomes[rows[0].id].status, outcomes[rows[0].id].code) == (DeliveryStatus.FAILED_PERMANENT, 554)
    assert (rejected.status, rejected.attempts) == (DeliveryStatus.FAILED_PERMANENT, 1)
    assert rejected.last_error.startswith("SMTP 554")
    assert accepted.status == DeliveryStatus.SENT
    assert deliveries_sweep(timezone.now() + timedelta(days=1)) == []  # never retried
    assert set(Event.objects.values_list("endpoint_key", "event_type")) == {
        ("e1", "_email.hardbounce"),
        ("e2", "_email.send"),
    }
