import pytest
from django.db import connection

from engage import db

pytestmark = pytest.mark.django_db

postgresql_only = pytest.mark.skipif(connection.vendor != "postgresql", reason="a PostgreSQL fast path")


@postgresql_only
def test_a_query_over_its_time_is_cancelled_and_reported_as_none():
    assert db.run_within("SELECT pg_sleep(1)", [], milliseconds=50) is None


def test_a_query_within_its_time_answers():
    assert db.run_within("SELECT 1 + 1", [], milliseconds=5000) == [(2,)]


@postgresql_only
def test_a_full_table_sample_reads_everything():
    sql = 'SELECT count(*) FROM "projects_project"'

    assert db.run_within(db.table_sample(sql, "projects_project", 100), [], milliseconds=0) == db.run_within(
        sql, [], milliseconds=0
    )


def test_sampling_a_table_the_query_does_not_read_is_refused():
    with pytest.raises(ValueError):
        db.table_sample('SELECT 1 FROM "other"', "projects_project", 10)
