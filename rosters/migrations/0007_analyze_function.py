"""A function that refreshes the planner's statistics of members and mobilities after a large
import (rosters.sql.analyze), as the tables' owner.

PostgreSQL 16 lets only a table's owner (or the database's, or a superuser) ANALYZE it; anyone
else gets a warning and nothing is done. In production the portal connects as a role that owns
nothing (portal/db_roles.py), so the import calls this SECURITY DEFINER function, created by the
role that migrates and so owns the tables. It can only analyze these two tables, and only the
owner and the application role may call it (portal/db_roles.py grants it).
"""

from django.db import migrations

FUNCTION = "rosters_analyze_imported()"

CREATE = f"""
CREATE OR REPLACE FUNCTION {FUNCTION} RETURNS void
LANGUAGE sql SECURITY DEFINER SET search_path = public, pg_temp
AS $$ ANALYZE public.members_member, public.members_mobility $$;
REVOKE ALL ON FUNCTION {FUNCTION} FROM PUBLIC
"""


class Migration(migrations.Migration):
    dependencies = [
        ("rosters", "0006_event_object_version_index"),
        ("members", "0011_event_object_version_index"),
    ]

    operations = [
        migrations.RunSQL(CREATE, reverse_sql=f"DROP FUNCTION IF EXISTS {FUNCTION}"),
    ]
