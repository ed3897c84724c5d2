from django.db import migrations

from engage.db import PostgreSQLOnlySQL


class Migration(migrations.Migration):
    """Fresh planner statistics after 0006 rewrote the endpoint table (ALTER … TYPE drops them, and
    autovacuum would not analyze until a tenth of the rows change): without them a lookup of a few
    thousand keys is planned as a full table scan."""

    dependencies = [("audience", "0006_endpoint_key_c_collation")]

    operations = [PostgreSQLOnlySQL("ANALYZE audience_endpoint", migrations.RunSQL.noop)]
