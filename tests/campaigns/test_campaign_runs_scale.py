"""The run loop is set-based: a batch costs the same number of queries whatever its size. The
20,000-endpoint measurement runs only with ENGAGE_MEASURE=1 (it prints, asserts no timing)."""
# ruff: noqa: F811 - pytest fixtures imported from test_deliveries are parameters here

import os
import time
from datetime import timedelta

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext

from audience.models import Endpoint, Event, cohort_of
from audience.segments import segment_create
from campaigns.models import CampaignRun, Delivery
from campaigns.runs import campaign_run_step, campaigns_start_due, engine
from tests.campaigns.test_campaign_runs import NOW, PRO, make_campaign
from tests.campaigns.test_deliveries import email_channel  # noqa: F401 - a fixture


def endpoints(project, count: int) -> None:
    Endpoint.objects.bulk_create(
        [
            Endpoint(
                project=project,
                endpoint_id=f"e{n:06d}",
                key=f"e{n:06d}",
                channel_type="EMAIL",
                address=f"e{n:06d}@example.org",
                attributes={"Plan": ["pro"], "FirstName": [f"N{n}"]},
                effective_date=NOW - timedelta(days=1),
                creation_date=NOW - timedelta(days=1),
                cohort_id=cohort_of(f"e{n:06d}"),
            )
            for n in range(count)
        ],
        batch_size=2000,
    )


def queries_of_one_batch(project, size: int, monkeypatch, **definition) -> int:
    """The queries of a step that writes one batch of `size` endpoints (its INSERTs too, but on SQLite)."""
    monkeypatch.setattr(engine, "BATCH_SIZE", size)
    segment = segment_create(project, name=f"pro{size}", dimensions=PRO)
    make_campaign(project, segment, **definition)
    with time_machine.travel(NOW, tick=False):
        (run_id,) = campaigns_start_due(NOW)
        with CaptureQueriesContext(connection) as queries:
            campaign_run_step(run_id, max_batches=1)
    # SQLite splits a bulk INSERT by its limit on parameters; PostgreSQL takes 1,000 rows a statement.
    return len([q for q in queries.captured_queries if connection.vendor != "sqlite" or "INSERT" not in q["sql"]])


@pytest.mark.parametrize(
    "definition",
    [{}, {"Limits": {"Daily": 5, "Total": 5, "MessagesPerSecond": 100}, "HoldoutPercent": 10}],
    ids=["plain", "limits"],
)
def test_a_batch_costs_the_same_queries_for_10_or_200_endpoints(project, email_channel, monkeypatch, definition):
    endpoints(project, 400)

    small = queries_of_one_batch(project, 10, monkeypatch, **definition)
    large = queries_of_one_batch(project, 200, monkeypatch, **definition)

    assert Delivery.objects.count() > 150
    assert small == large


@pytest.mark.skipif(not os.environ.get("ENGAGE_MEASURE"), reason="a measurement: ENGAGE_MEASURE=1 to run it")
def test_measure_a_20000_endpoint_run(project, email_channel):
    endpoints(project, 20_000)
    segment = segment_create(project, name="pro", dimensions=PRO)
    make_campaign(project, segment, Limits={"Daily": 5, "Total": 5}, HoldoutPercent=10)

    with time_machine.travel(NOW, tick=True):
        (run_id,) = campaigns_start_due(NOW)
        started = time.perf_counter()
        with CaptureQueriesContext(connection) as queries:
            while campaign_run_step(run_id):
                pass
        elapsed = time.perf_counter() - started

    batches = 20_000 // engine.BATCH_SIZE
    rows = Delivery.objects.count()
    print(
        f"\n{connection.vendor}: {rows} deliveries + {Event.objects.count()} events for 20,000 endpoints in "
        f"{elapsed:.1f} s = {20_000 / elapsed:,.0f} endpoints/s; {len(queries)} queries, "
        f"{len(queries) / batches:.1f} a batch of {engine.BATCH_SIZE}"
    )
    assert CampaignRun.objects.get().state == "COMPLETED"
