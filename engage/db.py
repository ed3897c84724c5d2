"""The one seam for PostgreSQL-only database features (GIN indexes, COPY).

Everything else in Engage runs the same SQL on PostgreSQL and SQLite; code that needs more asks
here which database it is talking to.
"""

from django.db import connections
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
