from django.db import migrations

from engage.db import PostgreSQLOnlySQL


class Migration(migrations.Migration):
    """Endpoint keys in the "C" collation on PostgreSQL: byte order, as SQLite sorts them, so keyset
    pages and prefix searches (key LIKE 'abc%') use the unique (project, key) index."""

    dependencies = [("audience", "0005_endpoint_counts_index")]

    operations = [
        PostgreSQLOnlySQL(
            'ALTER TABLE audience_endpoint ALTER COLUMN key TYPE varchar(128) COLLATE "C"',
            'ALTER TABLE audience_endpoint ALTER COLUMN key TYPE varchar(128) COLLATE "default"',
        ),
    ]
