"""Least privilege in the database: the portal running as a role that owns nothing.

Whoever owns a table may disable its triggers (``ALTER TABLE … DISABLE TRIGGER``), the audit
trail's included (portal/trail_guard.py). In production the tables therefore belong to the
role that migrates them, and the web server, the workers and the operators' commands connect
as another role, named by ``PORTAL_DB_APP_ROLE``, which may read and write the portal's data
and only append to the trail:

- SELECT, INSERT, UPDATE, DELETE on every table, and the sequences;
- on the change events SELECT only: the history triggers write them as the tables' owner
  (their functions are made SECURITY DEFINER), so the role can neither forge a change nor
  change or delete one, even with every trigger gone;
- on the access events SELECT and INSERT (the portal writes them itself), never UPDATE,
  DELETE or TRUNCATE;
- TEMPORARY on the database (the roster import stages its rows in temporary tables).

What only the owner may do and the portal needs is done by SECURITY DEFINER functions the
owner's migrations create, which no one else may call (``OWNER_FUNCTIONS``): the role gets
EXECUTE on them. The statistics refresh after a large import is one (rosters/migrations/0007).

The grants are (re)applied after every ``migrate`` run by the owner (``post_migrate``), so a
table added by a later migration is covered at once. docker-compose.yml creates the role
(deploy/postgres-init.sh) and runs migrations as the owner.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.conf import settings
from psycopg2 import sql


def owner_functions() -> list[str]:
    """The SECURITY DEFINER functions the portal calls, as ``regprocedure`` text."""
    from rosters.sql import ANALYZE_FUNCTION

    return [ANALYZE_FUNCTION]


def grant_statements(
    role: str,
    database: str,
    trail_tables: list[str],
    change_tables: list[str],
    functions: Sequence[str] = (),
) -> list[sql.Composed]:
    """The statements giving ``role`` what the portal needs, and no more on the trail
    (``change_tables``: the trail tables only triggers write; ``functions``: the owner's
    functions it may call)."""
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
    statements += [
        sql.SQL("REVOKE INSERT ON {} FROM {}").format(sql.Identifier(t), who) for t in change_tables
    ]
    statements += [
        sql.SQL("GRANT EXECUTE ON FUNCTION {} TO {}").format(sql.SQL(f), who) for f in functions
    ]
    return statements


def history_functions(cursor) -> list[str]:
    """The functions of the triggers on tracked tables (django-pghistory's, which write the
    change events), as ``regprocedure`` text."""
    from .trail_guard import tracked_tables

    cursor.execute(
        "SELECT DISTINCT t.tgfoid::regprocedure::text FROM pg_trigger t"
        " JOIN pg_class c ON c.oid = t.tgrelid"
        " WHERE c.relname = ANY(%s) AND t.tgname LIKE 'pgtrigger\\_%%' AND NOT t.tgisinternal",
        [tracked_tables()],
    )
    return sorted(name for (name,) in cursor.fetchall())


def grant(connection, role: str) -> None:
    """Apply the grants to ``role`` on the database of ``connection``, and make the history
    triggers write as the tables' owner (again after every migrate: django-pgtrigger replaces
    a function it reinstalls, and with it this attribute)."""
    from .models import AccessEvent
    from .trail_guard import trail_tables

    change_tables = [t for t in trail_tables() if t != AccessEvent._meta.db_table]
    with connection.cursor() as cursor:
        for function in history_functions(cursor):
            # A fixed search path, as a SECURITY DEFINER function must have.
            cursor.execute(
                f"ALTER FUNCTION {function} SECURITY DEFINER SET search_path = public, pg_temp"
            )
        # Those that exist: a migrate back to before one was created still ends here.
        cursor.execute(
            "SELECT f FROM unnest(%s::text[]) AS f WHERE to_regprocedure(f) IS NOT NULL",
            [owner_functions()],
        )
        functions = [f for (f,) in cursor.fetchall()]
        statements = grant_statements(
            role, connection.settings_dict["NAME"], trail_tables(), change_tables, functions
        )
        for statement in statements:
            cursor.execute(statement.as_string(cursor.connection))


def grant_after_migrate(sender, *, using="default", **kwargs) -> None:
    """``post_migrate`` receiver: the grants, when PORTAL_DB_APP_ROLE names a role."""
    from django.db import connections

    role = settings.PORTAL_DB_APP_ROLE
    if role:
        grant(connections[using], role)
