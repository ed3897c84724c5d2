"""The advancer is set-based: a batch costs the same number of queries whatever its size. The
10,000-participant measurement runs only with ENGAGE_MEASURE=1 (it prints, asserts no timing)."""
# ruff: noqa: F811 - pytest fixtures imported from test_engine_support are parameters here

import os
import time
from datetime import timedelta

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext

from audience.models import Endpoint, cohort_of
from campaigns.models import Delivery
from campaigns.templates import template_create
from journeys.engine import advance
from journeys.engine.admission import journeys_admit_due, open_runs, run_admit
from journeys.models import Journey, JourneyParticipant, JourneyStep
from tests.journeys.test_engine_support import (  # noqa: F401 - fixtures
    NOW,
    email,
    email_on,
    make_journey,
    pro,
    sms_on,
    welcome,
)

GOLD = {"Attributes": {"Tier": {"AttributeType": "INCLUSIVE", "Values": ["gold"]}}}


def endpoints(project, count: int) -> None:
    Endpoint.objects.bulk_create(
        [
            Endpoint(
                project=project,
                endpoint_id=f"e{n:06d}",
                key=f"e{n:06d}",
                channel_type="EMAIL" if n % 2 else "SMS",
                address=f"e{n:06d}@example.org" if n % 2 else f"+4915112{n:06d}",
                attributes={"Plan": ["pro"], "FirstName": [f"N{n}"], "Tier": ["gold" if n % 3 else "basic"]},
                timezone="Europe/Berlin",
                effective_date=NOW - timedelta(days=1),
                creation_date=NOW - timedelta(days=1),
                cohort_id=cohort_of(f"e{n:06d}"),
            )
            for n in range(count)
        ],
        batch_size=2000,
    )


def five_activities(project, segment) -> Journey:
    """email → wait → yes/no split (opened the email, or gold) → SMS / exit."""
    template_create("SMS", "text", {"Body": "Hi {{Attributes.FirstName}}"})
    split = {
        "ConditionalSplit": {
            "Condition": {
                "Conditions": [
                    {
                        "EventCondition": {
                            "Dimensions": {"EventType": {"DimensionType": "INCLUSIVE", "Values": ["_email.open"]}},
                            "MessageActivity": "mail",
                        }
                    },
                    {"segmentDimensions": GOLD},
                ],
                "Operator": "ANY",
            },
            "TrueActivity": "text",
        }
    }
    activities = {
        "mail": email("pause"),
        "pause": {"Wait": {"WaitTime": {"WaitFor": "P1D"}, "NextActivity": "split"}},
        "split": split,
        "text": {"SMS": {"TemplateName": "text"}},
    }
    return make_journey(
        project,
        activities,
        "mail",
        segment=segment,
        Limits={"DailyCap": 3, "TotalCap": 5},
        QuietTime={"Start": "22:00", "End": "06:00"},
    )


def admit(now=NOW) -> None:
    with time_machine.travel(now, tick=False):
        journeys_admit_due(now)
        for run_id in open_runs(now):
            run_admit(run_id, now=now)


def queries_of_one_batch(journey, size: int, monkeypatch, now) -> int:
    monkeypatch.setattr(advance, "BATCH_SIZE", size)
    plan = advance.plan_for(Journey.objects.select_related("project").get(pk=journey.pk))
    with time_machine.travel(now, tick=False), CaptureQueriesContext(connection) as queries:
        advance.advance_batch(plan, now=now)
    # SQLite splits bulk INSERTs and the participants' bulk UPDATE by its limit on parameters.
    split = ("INSERT", "UPDATE")
    return len([q for q in queries.captured_queries if connection.vendor != "sqlite" or not q["sql"].startswith(split)])


def test_a_batch_costs_the_same_queries_for_10_or_200_participants(
    project, pro, welcome, email_on, sms_on, monkeypatch
):
    endpoints(project, 420)
    journey = five_activities(project, pro)
    admit()
    later = NOW + timedelta(days=1)

    first = [queries_of_one_batch(journey, size, monkeypatch, NOW) for size in (10, 200)]
    advance.journey_advance(journey.id, now=NOW)  # the rest reach the wait too
    second = [queries_of_one_batch(journey, size, monkeypatch, later) for size in (10, 200)]

    assert JourneyStep.objects.filter(activity_id="split").count() == 210
    assert Delivery.objects.filter(channel="SMS", journey_activity_id="text").count() > 20
    assert first[0] == first[1] and second[0] == second[1]
    assert max(first + second) <= 30


@pytest.mark.skipif(not os.environ.get("ENGAGE_MEASURE"), reason="a measurement: ENGAGE_MEASURE=1 to run it")
def test_measure_10000_participants_through_five_activities(project, pro, welcome, email_on, sms_on):
    endpoints(project, 10_000)
    journey = five_activities(project, pro)
    with time_machine.travel(NOW, tick=True):
        started = time.perf_counter()
        admit()
        print(f"\n{connection.vendor} admission: 10,000 in {time.perf_counter() - started:.1f} s")
    for now, phase in ((NOW, "email + wait"), (NOW + timedelta(days=1), "split + SMS")):
        with time_machine.travel(now, tick=True), CaptureQueriesContext(connection) as queries:
            started, moved, batches = time.perf_counter(), 0, 0
            while n := advance.journey_advance(journey.id, now=now, max_batches=1):
                moved, batches = moved + n, batches + 1
            elapsed = time.perf_counter() - started
        print(
            f"{connection.vendor} {phase}: {moved:,} participants in {elapsed:.1f} s = {moved / elapsed:,.0f}/s; "
            f"{len(queries) / batches:.1f} queries a batch of {advance.BATCH_SIZE}"
        )
    assert JourneyParticipant.objects.filter(state="ACTIVE").count() == 0
