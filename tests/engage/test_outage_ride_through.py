"""Workers ride a database outage out (engage.dbfaults.ride_out_outage): the connection of the
worker is really cut by the server (pg_terminate_backend from another connection) at a chosen
moment — in the middle of an outbox batch, just before a campaign run's claim — and the work goes
on once the database answers, with nothing sent twice and nothing left to a lapsing lease.
PostgreSQL only: SQLite has no server to cut a connection; tests/reliability/test_pg_restart.py
restarts a whole PostgreSQL under a running cluster."""
# ruff: noqa: F811 - pytest fixtures imported from other test modules are parameters here

import logging

import psycopg
import pytest
import time_machine
from django.db import connection

from campaigns.deliveries import FLUSH_EVERY, deliveries_create, deliveries_send_batch
from campaigns.models import CampaignRun, Delivery, DeliveryStatus, RunState
from campaigns.runs import campaign_run_step, campaigns_start_due
from engage.dbfaults import ride_out_outage
from tests.campaigns.test_campaign_runs import NOW, endpoint, make_campaign, pro  # noqa: F401 - fixture
from tests.campaigns.test_deliveries import Sink, email_channel, outgoing, serving  # noqa: F401 - fixture

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="cuts a connection from the server side: PostgreSQL"),
]


def backend_pid() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


def terminate(pid: int) -> None:
    """Cut one server connection, as a restart or failover does, from a connection of our own."""
    db = connection.settings_dict
    with psycopg.connect(
        host=db["HOST"] or "127.0.0.1",
        port=db["PORT"] or 5432,
        user=db["USER"],
        password=db["PASSWORD"] or None,
        dbname=db["NAME"],
        autocommit=True,
    ) as other:
        assert other.execute("SELECT pg_terminate_backend(%s)", [pid]).fetchone()[0]


def test_a_step_whose_connection_is_cut_runs_again_on_a_new_one(caplog):
    pids = []

    def step() -> int:
        pids.append(backend_pid())
        if len(pids) == 1:
            terminate(pids[0])
            backend_pid()  # the cut connection fails here
        return pids[-1]

    with caplog.at_level(logging.WARNING, logger="engage.dbfaults"):
        answered = ride_out_outage(step)

    assert len(pids) == 2 and pids[0] != pids[1] and answered == pids[1]
    assert "database unavailable in" in caplog.text and "running" in caplog.text


def test_without_a_database_the_step_fails_after_the_wait(monkeypatch):
    def step():
        terminate(backend_pid())
        backend_pid()

    settings_dict = connection.settings_dict
    monkeypatch.setitem(settings_dict, "PORT", 1)  # the reconnection finds nothing listening

    with pytest.raises(Exception) as raised:
        ride_out_outage(step, timeout=1.0)
    monkeypatch.undo()
    connection.close()

    assert type(raised.value).__name__ in {"OperationalError", "InterfaceError"}


class CuttingSink(Sink):
    """An SMTP server that, on accepting its `at`-th message, cuts the sender's database connection:
    the outcomes of the flush in progress cannot be recorded on it."""

    def __init__(self, at: int) -> None:
        super().__init__()
        self.at, self.pid = at, None

    async def handle_DATA(self, server, session, envelope):
        answer = await super().handle_DATA(server, session, envelope)
        if len(self.messages) == self.at:
            terminate(self.pid)
        return answer


def test_an_outbox_batch_records_its_sent_messages_after_the_outage_and_sends_none_twice(
    project, email_channel, settings, caplog
):
    rows = deliveries_create(project, [outgoing(f"r{n}@example.org") for n in range(120)], enqueue=False)
    sink = CuttingSink(at=FLUSH_EVERY + 7)  # in the middle of the second flush
    sink.pid = backend_pid()

    with serving(sink, settings), caplog.at_level(logging.WARNING, logger="engage.dbfaults"):
        outcomes = deliveries_send_batch([row.id for row in rows])

    assert len(outcomes) == 120
    assert set(Delivery.objects.values_list("status", flat=True)) == {DeliveryStatus.SENT}
    assert len(sink.messages) == 120 and set(sink.message_ids().values()) == {1}
    assert backend_pid() != sink.pid  # the connection was really cut and replaced
    assert "database back after" in caplog.text


def test_a_run_step_whose_connection_was_cut_claims_and_writes_on_a_new_one(project, pro, email_channel):
    for n in range(5):
        endpoint(project, f"e{n}")
    make_campaign(project, pro)
    with time_machine.travel(NOW, tick=False):
        (run_id,) = campaigns_start_due(NOW)
        cut = backend_pid()
        terminate(cut)  # the database restarted between the tick and the step

        while campaign_run_step(run_id):
            pass

    assert backend_pid() != cut
    assert CampaignRun.objects.get(pk=run_id).state == RunState.COMPLETED
    assert Delivery.objects.count() == 5
