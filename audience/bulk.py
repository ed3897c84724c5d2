"""Set-based endpoint upserts: the SQL behind UpdateEndpoint(s), PutEvents and import jobs.

Rows are staged in a temporary table (PostgreSQL: COPY, the fast path; SQLite: executemany),
then merged with two statements that both databases run:

1. INSERT … SELECT … ON CONFLICT DO NOTHING creates the endpoints that do not exist yet;
2. UPDATE … FROM staging applies what was sent: a staged NULL means "not sent, keep", a sent
   Attributes/Metrics map replaces only the keys it names (jsonb `||`, SQLite `json_patch`).

Running step 2 on freshly inserted rows changes nothing, so concurrent writers of the same new
endpoint cannot lose each other's update: the loser of the insert race updates instead.
"""

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import connection

from audience.models import AudienceUser, Endpoint, SegmentMember
from engage.db import is_postgresql

STAGED_TEXT_COLUMNS = (
    "channel_type",
    "address",
    "user_id",
    "app_version",
    "locale",
    "make",
    "model",
    "model_version",
    "platform",
    "platform_version",
    "timezone",
    "city",
    "country",
    "postal_code",
    "region",
    "opt_out",
    "request_id",
)
STAGED_FLOAT_COLUMNS = ("latitude", "longitude")
# Columns a new endpoint gets when the write does not send them.
INSERT_DEFAULTS = {"opt_out": "NONE"}


@dataclass(frozen=True)
class StagedEndpoint:
    """One endpoint write as a staging row. None in `values` means "not sent"."""

    key: str
    endpoint_id: str
    values: dict[str, Any]
    attributes: dict[str, list[str]] | None
    metrics: dict[str, float] | None
    status: str
    cohort_id: int


STAGING_COLUMNS = (
    "seq",
    "key",
    "endpoint_id",
    *STAGED_TEXT_COLUMNS,
    *STAGED_FLOAT_COLUMNS,
    "attributes",
    "metrics",
    "status",
    "cohort_id",
)


def _json_type() -> str:
    return "jsonb" if is_postgresql() else "text"


def _merge(target: str, staged: str) -> str:
    if is_postgresql():
        return f"CASE WHEN {staged} IS NULL THEN {target} ELSE {target} || {staged} END"
    return f"CASE WHEN {staged} IS NULL THEN {target} ELSE json_patch({target}, {staged}) END"


def _create_staging(cursor) -> None:
    text = ", ".join(f"{c} text" for c in STAGED_TEXT_COLUMNS)
    floats = ", ".join(f"{c} double precision" for c in STAGED_FLOAT_COLUMNS)
    json_type = _json_type()
    cursor.execute("DROP TABLE IF EXISTS engage_endpoint_staging")
    cursor.execute(
        "CREATE TEMPORARY TABLE engage_endpoint_staging ("
        f"seq integer, key text, endpoint_id text, {text}, {floats}, "
        f"attributes {json_type}, metrics {json_type}, status text, cohort_id integer)"
    )


def _rows(staged: Sequence[StagedEndpoint]) -> Iterable[tuple]:
    for seq, item in enumerate(staged):
        yield (
            seq,
            item.key,
            item.endpoint_id,
            *(item.values.get(c) for c in STAGED_TEXT_COLUMNS),
            *(item.values.get(c) for c in STAGED_FLOAT_COLUMNS),
            None if item.attributes is None else json.dumps(item.attributes),
            None if item.metrics is None else json.dumps(item.metrics),
            item.status,
            item.cohort_id,
        )


def _fill_staging(cursor, staged: Sequence[StagedEndpoint]) -> None:
    columns = ", ".join(STAGING_COLUMNS)
    if is_postgresql():
        with cursor.cursor.copy(f"COPY engage_endpoint_staging ({columns}) FROM STDIN") as copy:
            for row in _rows(staged):
                copy.write_row(row)
        return
    placeholders = ", ".join(["%s"] * len(STAGING_COLUMNS))
    cursor.executemany(f"INSERT INTO engage_endpoint_staging ({columns}) VALUES ({placeholders})", list(_rows(staged)))


def upsert_endpoints(project_id: str, staged: Sequence[StagedEndpoint], *, now: datetime) -> None:
    """Insert or merge the staged endpoints (keys must be unique within `staged`). Call inside a
    transaction; the caller has applied every rule already."""
    table = Endpoint._meta.db_table
    text_select = ", ".join(f"COALESCE(s.{c}, '{INSERT_DEFAULTS.get(c, '')}')" for c in STAGED_TEXT_COLUMNS)
    float_select = ", ".join(f"s.{c}" for c in STAGED_FLOAT_COLUMNS)
    insert_columns = ", ".join(
        [
            "project_id",
            "key",
            "endpoint_id",
            *STAGED_TEXT_COLUMNS,
            *STAGED_FLOAT_COLUMNS,
            "attributes",
            "metrics",
            "status",
            "cohort_id",
            "effective_date",
            "creation_date",
            "last_active_at",
        ]
    )
    empty = "'{}'::jsonb" if is_postgresql() else "'{}'"
    set_columns = ", ".join(
        f"{c} = COALESCE(s.{c}, {table}.{c})" for c in (*STAGED_TEXT_COLUMNS, *STAGED_FLOAT_COLUMNS)
    )
    with connection.cursor() as cursor:
        _create_staging(cursor)
        _fill_staging(cursor, staged)
        cursor.execute(
            f"INSERT INTO {table} ({insert_columns}) "
            f"SELECT %s, s.key, s.endpoint_id, {text_select}, {float_select}, "
            f"COALESCE(s.attributes, {empty}), COALESCE(s.metrics, {empty}), s.status, s.cohort_id, %s, %s, %s "
            "FROM engage_endpoint_staging s ORDER BY s.seq "
            "ON CONFLICT (project_id, key) DO NOTHING",
            [project_id, now, now, now],
        )
        cursor.execute(
            f"UPDATE {table} SET {set_columns}, "
            f"attributes = {_merge(f'{table}.attributes', 's.attributes')}, "
            f"metrics = {_merge(f'{table}.metrics', 's.metrics')}, "
            "status = s.status, effective_date = %s, last_active_at = %s "
            f"FROM engage_endpoint_staging s WHERE {table}.project_id = %s AND {table}.key = s.key",
            [now, now, project_id],
        )
        cursor.execute("DROP TABLE engage_endpoint_staging")


def upsert_user_attributes(project_id: str, users: dict[str, dict[str, list[str]]]) -> None:
    """Create users and merge the sent UserAttributes keys into theirs (one statement)."""
    if not users:
        return
    table = AudienceUser._meta.db_table
    merge = (
        f"{table}.attributes || EXCLUDED.attributes"
        if is_postgresql()
        else f"json_patch({table}.attributes, EXCLUDED.attributes)"
    )
    with connection.cursor() as cursor:
        cursor.executemany(
            f"INSERT INTO {table} (project_id, user_id, attributes, updated_at) VALUES (%s, %s, %s, CURRENT_TIMESTAMP) "
            f"ON CONFLICT (project_id, user_id) DO UPDATE SET attributes = {merge}, updated_at = CURRENT_TIMESTAMP",
            [(project_id, user_id, json.dumps(attrs)) for user_id, attrs in users.items()],
        )


def add_segment_members(segment_id: str, keys: Sequence[str]) -> None:
    """Add endpoint keys to an imported segment; keys already in it are skipped (one statement)."""
    if not keys:
        return
    table = SegmentMember._meta.db_table
    with connection.cursor() as cursor:
        if is_postgresql():
            cursor.execute(
                f"INSERT INTO {table} (segment_id, endpoint_key) SELECT %s, unnest(%s::text[]) "
                "ON CONFLICT (segment_id, endpoint_key) DO NOTHING",
                [segment_id, list(keys)],
            )
            return
        cursor.executemany(
            f"INSERT INTO {table} (segment_id, endpoint_key) VALUES (%s, %s) "
            "ON CONFLICT (segment_id, endpoint_key) DO NOTHING",
            [(segment_id, key) for key in keys],
        )
