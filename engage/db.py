"""The one seam for PostgreSQL-only database features (GIN indexes, COPY), and for the read replica.

Everything else in Engage runs the same SQL on PostgreSQL and SQLite; code that needs more asks
here which database it is talking to. Reads that tolerate a replica's lag (analytics, segment
estimates) ask `read_alias()` which connection to use.
"""

from collections.abc import Sequence

from django.db import InterfaceError, OperationalError, connections, router, transaction
from django.db.migrations.operations import RunSQL
from django.db.models import Model
from django.db.models.constants import OnConflict
from django.db.models.sql import InsertQuery


def is_postgresql(alias: str = "default") -> bool:
    return connections[alias].vendor == "postgresql"


REPLICA = "replica"

# What Django raises when the database does not answer (OperationalError) or a connection died
# under a query (InterfaceError): engage.dbfaults answers 503 for them and workers wait them out.
DATABASE_ERRORS = (OperationalError, InterfaceError)


def read_alias() -> str:
    """The database alias for a read that may lag behind the primary by a replica's delay: "replica"
    when DATABASE_REPLICA_URL configured one, else "default". Inside a transaction on the primary
    the answer is "default", so a caller never misses its own uncommitted writes. For reads only."""
    if REPLICA not in connections.settings or connections["default"].in_atomic_block:
        return "default"
    return REPLICA


class PostgreSQLOnlySQL(RunSQL):
    """A migration step that runs only on PostgreSQL (e.g. a GIN index); a no-op elsewhere."""

    def database_forwards(self, app_label, schema_editor, from_state, to_state) -> None:
        if schema_editor.connection.vendor == "postgresql":
            super().database_forwards(app_label, schema_editor, from_state, to_state)

    def database_backwards(self, app_label, schema_editor, from_state, to_state) -> None:
        if schema_editor.connection.vendor == "postgresql":
            super().database_backwards(app_label, schema_editor, from_state, to_state)

    def describe(self) -> str:
        return "PostgreSQL-only SQL"


def run_within(sql: str, params: list, *, milliseconds: int, alias: str = "default") -> list[tuple] | None:
    """Run a read query with a PostgreSQL statement timeout; None if it was cancelled for time.

    Elsewhere (SQLite) the query simply runs to the end.
    """
    connection = connections[alias]
    if connection.vendor != "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchall()
    try:
        with transaction.atomic(using=alias), connection.cursor() as cursor:
            cursor.execute(f"SET LOCAL statement_timeout = {int(milliseconds)}")
            cursor.execute(sql, params)
            return cursor.fetchall()
    except OperationalError as error:
        if getattr(error.__cause__, "sqlstate", None) == "57014":  # query_canceled
            return None
        raise


def table_sample(sql: str, table: str, percent: float, seed: int = 42) -> str:
    """The same query reading a random `percent` of the table's pages (PostgreSQL TABLESAMPLE
    SYSTEM, repeatable). Only the outermost FROM of `table` is sampled."""
    quoted = f'FROM "{table}"'
    if quoted not in sql:
        raise ValueError(f"{table} is not read by this query")
    return sql.replace(quoted, f"{quoted} TABLESAMPLE SYSTEM ({float(percent)}) REPEATABLE ({int(seed)})", 1)


def estimated_rows(table: str, alias: str = "default") -> int:
    """PostgreSQL's own estimate of a table's rows (pg_class.reltuples; no scan)."""
    with connections[alias].cursor() as cursor:
        cursor.execute("SELECT reltuples::bigint FROM pg_class WHERE oid = %s::regclass", [table])
        row = cursor.fetchone()
    return max(int(row[0]) if row else 0, 0)


def commit_without_flush_wait(alias: str = "default") -> None:
    """Let the current transaction's commit return before its WAL is flushed to disk (PostgreSQL
    `SET LOCAL synchronous_commit = off`; nothing elsewhere). A crash right after may lose the
    transaction, whole — never part of it — so use it only where everything the transaction
    records, progress included, can be redone (a chunk of an import job)."""
    connection = connections[alias]
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit = off")


def insert_new_returning(model: type[Model], objs: Sequence[Model], returning: Sequence[str]) -> list[tuple]:
    """`bulk_create(objs, ignore_conflicts=True)` that also says which rows were inserted: the
    `returning` columns (field names) of the inserted rows only — rows a unique constraint turned
    away are not returned. The same SQL Django writes for bulk_create, with RETURNING (PostgreSQL,
    and SQLite ≥ 3.35 whose RETURNING also leaves out ignored rows); field defaults and pre_save
    (auto_now_add) apply as in bulk_create."""
    if not objs:
        return []
    connection = connections[router.db_for_write(model)]
    opts = model._meta
    fields = [f for f in opts.local_concrete_fields if not f.primary_key and not f.generated]
    columns = ", ".join(connection.ops.quote_name(opts.get_field(name).column) for name in returning)
    size = max(connection.ops.bulk_batch_size(fields, objs), 1)
    inserted: list[tuple] = []
    with transaction.atomic(using=connection.alias, savepoint=False), connection.cursor() as cursor:
        for start in range(0, len(objs), size):
            query = InsertQuery(model, on_conflict=OnConflict.IGNORE)
            query.insert_values(fields, objs[start : start + size], raw=False)
            for sql, params in query.get_compiler(connection=connection).as_sql():
                cursor.execute(f"{sql} RETURNING {columns}", params)
                inserted.extend(cursor.fetchall())
    return inserted


def upsert_add(model: type[Model], key_fields: Sequence[str], rows: Sequence[tuple], value_field: str) -> None:
    """Add to counters: for each row (the key fields' values, then the amount) insert it, or add the
    amount to the row with the same key (INSERT … ON CONFLICT (key) DO UPDATE SET value = value +
    excluded.value; PostgreSQL and SQLite alike). Rows are written in key order, so concurrent
    transactions lock shared counters in the same order and cannot deadlock on them."""
    if not rows:
        return
    connection = connections[router.db_for_write(model)]
    opts = model._meta
    quote = connection.ops.quote_name
    keys = [opts.get_field(name) for name in key_fields]
    value = quote(opts.get_field(value_field).column)
    table = quote(opts.db_table)
    names = ", ".join([quote(f.column) for f in keys] + [value])
    conflict = ", ".join(quote(f.column) for f in keys)
    per_row = len(keys) + 1
    size = max(min(999 // per_row, 500), 1)
    ordered = sorted(rows, key=lambda row: tuple(str(part) for part in row[:-1]))
    with connection.cursor() as cursor:
        for start in range(0, len(ordered), size):
            chunk = ordered[start : start + size]
            placeholders = ", ".join(["(" + ", ".join(["%s"] * per_row) + ")"] * len(chunk))
            params = []
            for row in chunk:
                params.extend(f.get_db_prep_save(part, connection) for f, part in zip(keys, row[:-1], strict=True))
                params.append(int(row[-1]))
            cursor.execute(
                f"INSERT INTO {table} ({names}) VALUES {placeholders} "
                f"ON CONFLICT ({conflict}) DO UPDATE SET {value} = {table}.{value} + excluded.{value}",
                params,
            )
