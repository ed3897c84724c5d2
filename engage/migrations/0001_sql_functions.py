from django.db import migrations

from engage.db import PostgreSQLOnlySQL

TRY_TIMESTAMPTZ = """
CREATE OR REPLACE FUNCTION engage_try_timestamptz(value text) RETURNS timestamptz
LANGUAGE plpgsql STABLE PARALLEL SAFE AS $$
BEGIN
    RETURN value::timestamptz;
EXCEPTION WHEN others THEN
    RETURN NULL;
END
$$;
"""


class Migration(migrations.Migration):
    """SQL helpers of the PostgreSQL fast paths (SQLite needs none: it has julianday())."""

    operations = [
        # Date segment dimensions read attribute values as instants; a value that is no date
        # simply does not match instead of failing the whole query.
        PostgreSQLOnlySQL(TRY_TIMESTAMPTZ, "DROP FUNCTION IF EXISTS engage_try_timestamptz(text)"),
    ]
