"""Set-based endpoint upserts: the SQL behind UpdateEndpoint(s), PutEvents and import jobs.

Rows are staged in a temporary table (PostgreSQL: COPY, the fast path; SQLite: executemany),
then merged with statements that both databases run:

1. INSERT … SELECT … ON CONFLICT DO NOTHING creates the endpoints that do not exist yet;
2. UPDATE … FROM staging applies what was sent: a staged NULL means "not sent, keep", a sent
   Attributes/Metrics map replaces only the keys it names (jsonb `||`, SQLite `json_patch`).
   On PostgreSQL the rows step 1 inserted are marked in the staging table (INSERT … RETURNING
   in a CTE) and skipped here; on SQLite step 2 runs on them too, which changes nothing;
3. other ACTIVE endpoints with an address just written become INACTIVE (the last write of an
   address in the chunk wins).

Concurrent writers of the same new endpoint cannot lose each other's update: the loser of the
insert race is not marked inserted, so step 2 (a new statement, a new snapshot) updates it.

Steps 2 and 3 join a chunk (thousands of rows) to a table of millions: each also names the
chunk's keys (or addresses) as one array parameter, `= ANY(%s)`, so PostgreSQL finds those rows
through the (project, key) and (project, address) indexes instead of hashing the whole table
once per chunk, which would make a large import quadratic.
"""

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from django.db import connection

from audience.models import AudienceUser, Endpoint, Event, SegmentMember
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
STAGED_VALUE_COLUMNS = (*STAGED_TEXT_COLUMNS, *STAGED_FLOAT_COLUMNS)
# Columns a new endpoint gets when the write does not send them.
INSERT_DEFAULTS = {"opt_out": "NONE"}


class StagedEndpoint(NamedTuple):
    """One endpoint write as a staging row. None in `values` means "not sent".

    A named tuple: an import builds one per row, and a tuple is the cheapest object to build."""

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
        f"attributes {json_type}, metrics {json_type}, status text, cohort_id integer, "
        "inserted boolean NOT NULL DEFAULT false)"
    )


def _rows(staged: Sequence[StagedEndpoint]) -> Iterable[tuple]:
    dumps = json.dumps
    for seq, item in enumerate(staged):
        yield (
            seq,
            item.key,
            item.endpoint_id,
            *map(item.values.get, STAGED_VALUE_COLUMNS),
            None if item.attributes is None else dumps(item.attributes),
            None if item.metrics is None else dumps(item.metrics),
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
    """Insert or merge the staged endpoints (keys must be unique within `staged`), then deactivate
    other ACTIVE endpoints with their addresses. Call inside a transaction; the caller has applied
    every other rule already."""
    table = Endpoint._meta.db_table
    text_select = ", ".join(f"COALESCE(s.{c}, '{INSERT_DEFAULTS.get(c, '')}')" for c in STAGED_TEXT_COLUMNS)
    float_select = ", ".join(f"s.{c}" for c in STAGED_FLOAT_COLUMNS)
    # The staged columns but `seq`, in their order, framed by what the server sets.
    insert_columns = ", ".join(
        ["project_id", *STAGING_COLUMNS[1:], "effective_date", "creation_date", "last_active_at"]
    )
    empty = "'{}'::jsonb" if is_postgresql() else "'{}'"
    set_columns = ", ".join(
        f"{c} = COALESCE(s.{c}, {table}.{c})" for c in (*STAGED_TEXT_COLUMNS, *STAGED_FLOAT_COLUMNS)
    )
    insert = (
        f"INSERT INTO {table} ({insert_columns}) "
        f"SELECT %s, s.key, s.endpoint_id, {text_select}, {float_select}, "
        f"COALESCE(s.attributes, {empty}), COALESCE(s.metrics, {empty}), s.status, s.cohort_id, %s, %s, %s "
        "FROM engage_endpoint_staging s ORDER BY s.seq "
        "ON CONFLICT (project_id, key) DO NOTHING"
    )
    # Both steps return each written row's final address and status, for step 3.
    written = f"{table}.key, {table}.address, {table}.status"
    with connection.cursor() as cursor:
        _create_staging(cursor)
        _fill_staging(cursor, staged)
        if is_postgresql():
            cursor.execute(
                f"WITH inserted AS ({insert} RETURNING key, address, status) "
                "UPDATE engage_endpoint_staging s SET inserted = true FROM inserted i WHERE s.key = i.key "
                "RETURNING i.key, i.address, i.status",
                [project_id, now, now, now],
            )
            rows = cursor.fetchall()
        else:
            cursor.execute(insert, [project_id, now, now, now])
            rows = []
        if len(rows) < len(staged):
            cursor.execute(
                f"UPDATE {table} SET {set_columns}, "
                f"attributes = {_merge(f'{table}.attributes', 's.attributes')}, "
                f"metrics = {_merge(f'{table}.metrics', 's.metrics')}, "
                "status = s.status, effective_date = %s, last_active_at = %s "
                f"FROM engage_endpoint_staging s WHERE {table}.project_id = %s AND {table}.key = s.key "
                f"AND {_keys_condition(f'{table}.key')} AND NOT s.inserted RETURNING {written}",
                [now, now, project_id, _list_parameter(item.key for item in staged)],
            )
            rows += cursor.fetchall()
        cursor.execute("DROP TABLE engage_endpoint_staging")
        _deactivate_duplicate_addresses(cursor, project_id, [item.key for item in staged], rows)


def _deactivate_duplicate_addresses(cursor, project_id: str, keys: list[str], written: list[tuple]) -> None:
    """Other ACTIVE endpoints of the project with the address of a just-written ACTIVE endpoint
    become INACTIVE; within the chunk (`keys`, in write order), the last write of an address wins.
    `written`: (key, address, status) of each written row."""
    order = {key: i for i, key in enumerate(keys)}
    winner: dict[str, str] = {}
    for key, address, status in sorted(written, key=lambda row: order[row[0]]):
        if status == "ACTIVE" and address:
            winner[address] = key
    if not winner:
        return
    table = Endpoint._meta.db_table
    if is_postgresql():
        # Address by address (LATERAL … OFFSET 0 keeps it a probe of the (project, address) index
        # per address, whatever the planner thinks of `status`), each row found compared with its
        # own winner. Joining the chunk's addresses to the table lets the planner pick a hash join
        # over every row of the project, and `NOT key = ANY(all the winners)` compares each row
        # with the whole chunk: either is quadratic over an import, seconds per chunk at 1M rows.
        cursor.execute(
            f"UPDATE {table} SET status = 'INACTIVE' WHERE id = ANY(ARRAY("
            "SELECT e.id FROM unnest(%s::text[], %s::text[]) AS w(address, key), "
            f"LATERAL (SELECT id, key, status FROM {table} WHERE project_id = %s AND address = w.address OFFSET 0) e "
            "WHERE e.status = 'ACTIVE' AND e.key <> w.key)) "
            # Checked again on the row as it is when locked, should a concurrent write change it.
            "AND status = 'ACTIVE' AND address = ANY(%s)",
            [list(winner), list(winner.values()), project_id, list(winner)],
        )
        return
    cursor.execute(
        f"UPDATE {table} SET status = 'INACTIVE' WHERE project_id = %s "
        f"AND {_keys_condition('address')} AND status = 'ACTIVE' AND NOT ({_keys_condition('key')})",
        [project_id, _list_parameter(winner), _list_parameter(winner.values())],
    )


@dataclass(frozen=True)
class ExistingEndpoint:
    user_id: str
    channel_type: str


def _keys_condition(column: str) -> str:
    """`column` is one of a list passed as one parameter (no statement with thousands of them)."""
    if is_postgresql():
        return f"{column} = ANY(%s)"
    return f"{column} IN (SELECT value FROM json_each(%s))"


def _list_parameter(values: Iterable[str]):
    return list(values) if is_postgresql() else json.dumps(list(values))


def existing_endpoints(project_id: str, keys: Sequence[str]) -> dict[str, ExistingEndpoint]:
    """The endpoints among `keys` that exist, with what the rules need of them (one query)."""
    if not keys:
        return {}
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT key, user_id, channel_type FROM {Endpoint._meta.db_table} "
            f"WHERE project_id = %s AND {_keys_condition('key')}",
            [project_id, _list_parameter(keys)],
        )
        return {key: ExistingEndpoint(user_id, channel) for key, user_id, channel in cursor.fetchall()}


def user_endpoint_counts(project_id: str, user_ids: Iterable[str]) -> dict[str, int]:
    """How many endpoints each of these users has (one grouped query)."""
    user_ids = list(user_ids)
    if not user_ids:
        return {}
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT user_id, COUNT(*) FROM {Endpoint._meta.db_table} "
            f"WHERE project_id = %s AND {_keys_condition('user_id')} GROUP BY user_id",
            [project_id, _list_parameter(user_ids)],
        )
        return dict(cursor.fetchall())


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


def endpoint_rows_estimate() -> int:
    """The planner's idea of how many rows the endpoint table has (0 on SQLite, or never analyzed)."""
    if not is_postgresql():
        return 0
    with connection.cursor() as cursor:
        cursor.execute("SELECT reltuples FROM pg_class WHERE oid = %s::regclass", [Endpoint._meta.db_table])
        row = cursor.fetchone()
    return max(int(row[0]), 0) if row else 0


def endpoint_statistics_refresh() -> None:
    """ANALYZE the endpoint table (PostgreSQL). A bulk load calls this as the table grows: with
    statistics of a table a fraction of its size the planner picks plans that scan all of it."""
    if is_postgresql():
        with connection.cursor() as cursor:
            # The columns chunk statements look rows up or filter by: the JSON maps are slow to
            # sample. Without `status` the planner takes status = 'ACTIVE' for a selective filter.
            cursor.execute(f"ANALYZE {Endpoint._meta.db_table} (project_id, key, address, user_id, status)")


def event_types_present(project_id: str, types: Iterable[str]) -> set[str]:
    """Which of these event types the project has stored events of (an index probe each)."""
    types = list(types)
    if not types:
        return set()
    values = "unnest(%s::text[]) AS t(value)" if is_postgresql() else "json_each(%s) AS t"
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT t.value FROM {values} WHERE EXISTS (SELECT 1 FROM {Event._meta.db_table} e "
            "WHERE e.project_id = %s AND e.event_type = t.value)",
            [_list_parameter(types), project_id],
        )
        return {row[0] for row in cursor.fetchall()}


def custom_event_type_count(project_id: str) -> int:
    """How many distinct custom event types (not `_`-prefixed) the project has stored events of.

    PostgreSQL: a loose index scan of (project, event_type, timestamp) — one probe per distinct
    type, not a read of every event."""
    table = Event._meta.db_table
    custom = "substr(event_type, 1, 1) <> '_'"
    with connection.cursor() as cursor:
        if is_postgresql():
            cursor.execute(
                "WITH RECURSIVE types(event_type) AS ("
                f"(SELECT event_type FROM {table} WHERE project_id = %s ORDER BY event_type LIMIT 1) "
                f"UNION ALL SELECT (SELECT e.event_type FROM {table} e WHERE e.project_id = %s "
                "AND e.event_type > types.event_type ORDER BY e.event_type LIMIT 1) "
                "FROM types WHERE types.event_type IS NOT NULL) "
                f"SELECT COUNT(*) FROM types WHERE event_type IS NOT NULL AND {custom}",
                [project_id, project_id],
            )
        else:
            cursor.execute(
                f"SELECT COUNT(DISTINCT event_type) FROM {table} WHERE project_id = %s AND {custom}", [project_id]
            )
        return cursor.fetchone()[0]
