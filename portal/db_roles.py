"""Least privilege in the database: the portal running as a role that owns nothing.

Whoever owns a table may disable its triggers (``ALTER TABLE … DISABLE TRIGGER``), the audit
trail's included (portal/trail_guard.py). In production the tables therefore belong to the
role that migrates them, and the web server, the workers and the operators' commands connect
as another role, named by ``PORTAL_DB_APP_ROLE``, which may read and write the portal's data
and only append to the trail:

- SELECT, INSERT, UPDATE, DELETE on every table, and the sequences;
- on the trail tables (the change events and the access events) SELECT and INSERT only: even
  with every trigger gone it could not change or delete a line of the trail;
- TEMPORARY on the database (the roster import stages its rows in temporary tables).

The grants are (re)applied after every ``migrate`` run by the owner (``post_migrate``), so a
table added by a later migration is covered at once. docker-compose.yml creates the role
(deploy/postgres-init.sh) and runs migrations as the owner.
"""

from __future__ import annotations

from django.conf import settings
from psycopg2 import sql


def grant_statements(role: str, database: str, trail_tables: list[str]) -> list[sql.Composed]:
    """The statements giving ``role`` what the portal needs, and no more on the trail."""
    who = sql.Identifier(role)
    statements = [
        sql.SQL("GRANT CONNECT, TEMPORARY ON DATABASE {} TO {}").format(
            sql.Identifier(database), who
        ),
        sql.SQL("GRANT USAGE ON SCHEMA public TO {}").format(who),
        sql.SQL("GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {}").format(
            who
        ),
        sql.SQL("GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA public TO {}").format(who),
    ]
    statements += [
        sql.SQL("REVOKE UPDATE, DELETE, TRUNCATE ON {} FROM {}").format(sql.Identifier(t), who)
        for t in trail_tables
    ]
    return statements


def grant(connection, role: str) -> None:
    """Apply the grants to ``role`` on the database of ``connection``."""
    from .trail_guard import trail_tables

    with connection.cursor() as cursor:
        for statement in grant_statements(role, connection.settings_dict["NAME"], trail_tables()):
            cursor.execute(statement.as_string(cursor.connection))


def grant_after_migrate(sender, *, using="default", **kwargs) -> None:
    """``post_migrate`` receiver: the grants, when PORTAL_DB_APP_ROLE names a role."""
    from django.db import connections

    role = settings.PORTAL_DB_APP_ROLE
    if role:
        grant(connections[using], role)
