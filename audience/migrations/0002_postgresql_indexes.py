from django.db import migrations

from engage.db import PostgreSQLOnlySQL


class Migration(migrations.Migration):
    """GIN indexes for segment dimensions on the JSON maps (PostgreSQL only; SQLite scans).

    jsonb_path_ops serves `@>` containment, which is what INCLUSIVE attribute dimensions compile to.
    """

    dependencies = [("audience", "0001_initial")]

    operations = [
        PostgreSQLOnlySQL(
            "CREATE INDEX endpoint_attributes_gin ON audience_endpoint USING gin (attributes jsonb_path_ops)",
            "DROP INDEX IF EXISTS endpoint_attributes_gin",
        ),
        PostgreSQLOnlySQL(
            "CREATE INDEX audience_user_attributes_gin ON audience_audienceuser USING gin (attributes jsonb_path_ops)",
            "DROP INDEX IF EXISTS audience_user_attributes_gin",
        ),
    ]
