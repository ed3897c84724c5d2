"""The one seam for PostgreSQL-only database features (GIN indexes, COPY).

Everything else in Engage runs the same SQL on PostgreSQL and SQLite; code that needs more asks
here which database it is talking to.
"""

from django.db import OperationalError, connections, transaction
from django.db.migrations.operations import RunSQL


def is_postgresql(alias: str = "default") -> bool:
    return connections[alias].vendor == "postgresql"


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
