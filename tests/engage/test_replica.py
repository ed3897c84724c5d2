"""The read replica: with DATABASE_REPLICA_URL the segment estimate and the analytics reads go
through the "replica" alias (here a real second connection to the test database, as Django's TEST
MIRROR makes it) and give the same numbers; without it, or inside a transaction on the primary,
they read "default"."""

import copy
import json
import os
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from django.db import connections, transaction
from django.test.utils import CaptureQueriesContext

from audience.analytics.dashboard import dashboard_data
from audience.analytics.explorer import counts_by_day, counts_by_day_where
from audience.analytics.kpi_events import recipients
from audience.analytics.rollups import rollup_rebuild
from audience.segments import estimate
from audience.services import endpoints_write
from audience.validation import parse_endpoint
from engage.db import REPLICA, read_alias
from tests.factories import EventFactory, ProjectFactory

pytestmark = pytest.mark.django_db(transaction=True, databases=["default", REPLICA])

ROOT = Path(__file__).resolve().parents[2]
DAY = date(2026, 11, 20)
AT = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)


@pytest.fixture(scope="module", autouse=True)
def replica(django_db_setup, django_db_blocker):
    """The "replica" alias as DATABASE_REPLICA_URL pointing at the test database gives it: its own
    connection, a mirror of "default" for the test runner. Added for this module when the test run
    has no DATABASE_REPLICA_URL of its own."""
    if REPLICA in connections.settings:
        yield
        return
    settings_dict = copy.deepcopy(connections["default"].settings_dict)
    settings_dict["TEST"] = {**settings_dict.get("TEST", {}), "MIRROR": "default"}
    connections.settings[REPLICA] = settings_dict
    try:
        yield
    finally:
        with django_db_blocker.unblock():
            connections[REPLICA].close()
        del connections[REPLICA]
        del connections.settings[REPLICA]


def tables_read(context: CaptureQueriesContext) -> str:
    return " ".join(query["sql"] for query in context.captured_queries)


def add_endpoints(project):
    endpoints = [
        parse_endpoint("a", {"ChannelType": "EMAIL", "Address": "a@x.io"}),
        parse_endpoint("b", {"ChannelType": "SMS", "Address": "+15555550100"}),
        parse_endpoint("c", {"ChannelType": "EMAIL", "Address": "c@x.io", "OptOut": "ALL"}),
    ]
    endpoints_write(project, endpoints, now=AT)


def test_the_replica_is_a_connection_of_its_own_to_the_same_database():
    assert read_alias() == REPLICA
    project = ProjectFactory()
    with connections[REPLICA].cursor() as cursor:
        cursor.execute("SELECT name FROM projects_project WHERE id = %s", [project.id])
        assert cursor.fetchone() == (project.name,)
    assert connections[REPLICA].connection is not connections["default"].connection


def test_the_estimate_reads_the_replica_and_counts_right():
    project = ProjectFactory()
    add_endpoints(project)

    with (
        CaptureQueriesContext(connections[REPLICA]) as on_replica,
        CaptureQueriesContext(connections["default"]) as on_primary,
    ):
        size = estimate(project, {"Dimensions": {}})

    assert (size.total, size.opted_out, size.reachable_by_channel) == (3, 1, {"EMAIL": 1, "SMS": 1})
    assert "audience_endpoint" in tables_read(on_replica)
    assert "audience_endpoint" not in tables_read(on_primary)


def test_an_estimate_inside_a_transaction_reads_the_primary_and_sees_its_own_writes():
    project = ProjectFactory()
    with transaction.atomic():
        add_endpoints(project)
        assert read_alias() == "default"
        with CaptureQueriesContext(connections[REPLICA]) as on_replica:
            size = estimate(project, {"Dimensions": {}})

    assert size.total == 3
    assert on_replica.captured_queries == []


def events(project):
    for key, kind, hour in [
        ("a", "_session.start", 10),
        ("a", "_email.send", 11),
        ("b", "_email.send", 12),
        ("a", "_email.send", 13),
        ("b", "pageView", 14),
    ]:
        EventFactory(
            project=project,
            endpoint_key=key,
            event_type=kind,
            timestamp=AT.replace(hour=hour),
            attributes={"plan": "pro"} if key == "b" else {},
        )
    rollup_rebuild(project.id)


def test_the_dashboard_and_kpi_reads_go_to_the_replica_and_count_right():
    project = ProjectFactory()
    add_endpoints(project)
    events(project)

    with (
        CaptureQueriesContext(connections[REPLICA]) as on_replica,
        CaptureQueriesContext(connections["default"]) as on_primary,
    ):
        data = dashboard_data(project.id, DAY - timedelta(days=1), DAY)
        unique = recipients(project.id, DAY, DAY, event_type="_email.send")

    day = data.days[-1]
    assert (day.new_endpoints, day.sessions, data.active_endpoints) == (3, 1, 2)
    assert unique == {"": 2}
    replica_sql = tables_read(on_replica)
    for table in ("audience_metricday", "audience_analyticsseen", "audience_endpoint", "audience_event"):
        assert table in replica_sql
    assert on_primary.captured_queries == []


def test_the_explorer_reads_the_replica_and_counts_right():
    project = ProjectFactory()
    events(project)

    with (
        CaptureQueriesContext(connections[REPLICA]) as on_replica,
        CaptureQueriesContext(connections["default"]) as on_primary,
    ):
        rolled = counts_by_day(project.id, DAY, DAY, types=["_email.send"])
        raw = counts_by_day_where(project.id, DAY, DAY, attribute="plan", value="pro")

    assert rolled.counts == {(DAY, "_email.send"): 3}
    assert raw.counts == {(DAY, "_email.send"): 1, (DAY, "pageView"): 1}
    assert "audience_metricday" in tables_read(on_replica) and "audience_event" in tables_read(on_replica)
    assert on_primary.captured_queries == []


def settings_of(environment: dict[str, str]) -> dict:
    """DATABASES' aliases and read_alias() as a fresh process with `environment` sees them."""
    code = (
        "import json, django; django.setup(); from django.conf import settings; from engage.db import read_alias; "
        "print(json.dumps({'aliases': sorted(settings.DATABASES), 'read': read_alias(), "
        "'replica': settings.DATABASES.get('replica', {})}))"
    )
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_REPLICA_URL"}
    # engage.settings itself: tests.settings drops a DATABASE_REPLICA_URL inherited from the shell.
    env.update(environment, DJANGO_SETTINGS_MODULE="engage.settings", DEBUG="1")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_database_replica_url_adds_the_replica_alias_and_without_it_nothing_changes():
    without = settings_of({})
    assert (without["aliases"], without["read"]) == (["default"], "default")

    configured = settings_of({"DATABASE_REPLICA_URL": "postgres://reader:secret@replica.internal:5433/engage"})
    assert (configured["aliases"], configured["read"]) == (["default", REPLICA], REPLICA)
    replica = configured["replica"]
    assert (replica["HOST"], replica["PORT"], replica["NAME"], replica["USER"]) == (
        "replica.internal",
        5433,
        "engage",
        "reader",
    )
    assert replica["ENGINE"] == "django.db.backends.postgresql"
    assert replica["TEST"]["MIRROR"] == "default"
