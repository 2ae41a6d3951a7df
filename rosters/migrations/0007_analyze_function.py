"""A function that refreshes the planner's statistics of members and mobilities after a large
import (rosters.sql.analyze), as the tables' owner.

PostgreSQL 16 lets only a table's owner (or the database's, or a superuser) ANALYZE it; anyone
else gets a warning and nothing is done. In production the portal connects as a role that owns
nothing (portal/db_roles.py), so the import calls this SECURITY DEFINER function, created by the
role that migrates and so owns the tables. It can only analyze these two tables.
"""

from django.db import migrations

FUNCTION = "rosters_analyze_imported()"

CREATE = f"""
CREATE OR REPLACE FUNCTION {FUNCTION} RETURNS void
LANGUAGE sql SECURITY DEFINER SET search_path = public, pg_temp
AS $$ ANALYZE members_member, members_mobility $$
"""


class Migration(migrations.Migration):
    dependencies = [
        ("rosters", "0006_event_object_version_index"),
        ("members", "0011_event_object_version_index"),
    ]

    operations = [
        migrations.RunSQL(CREATE, reverse_sql=f"DROP FUNCTION IF EXISTS {FUNCTION}"),
    ]
