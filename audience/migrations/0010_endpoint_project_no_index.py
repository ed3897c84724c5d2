"""Drop Endpoint.project's own index (and, on PostgreSQL, its varchar_pattern_ops twin).

Both are redundant with the unique (project, key) constraint, whose leading column is the project,
and each costs time on every insert (about a fifth of COPY's cost into the table, measured). The
indexes are dropped by name, found by introspection: Django's AlterField would instead re-create the
foreign key (a full validating scan on PostgreSQL) or copy the whole table (SQLite).
"""

import django.db.models.deletion
from django.db import migrations, models

TABLE = "audience_endpoint"


def drop_project_indexes(apps, schema_editor):
    connection = schema_editor.connection
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, TABLE)
    for name, info in constraints.items():
        if info["columns"] == ["project_id"] and info["index"] and not (info["unique"] or info["primary_key"]):
            schema_editor.execute(f"DROP INDEX {schema_editor.quote_name(name)}")


def restore_project_index(apps, schema_editor):
    schema_editor.execute(f"CREATE INDEX audience_endpoint_project_id_idx ON {TABLE} (project_id)")


class Migration(migrations.Migration):
    dependencies = [
        ("audience", "0009_event_keys"),
        ("projects", "0002_settings_int32_bounds"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="endpoint",
                    name="project",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="endpoints",
                        to="projects.project",
                    ),
                ),
            ],
            database_operations=[migrations.RunPython(drop_project_indexes, restore_project_index)],
        ),
    ]
