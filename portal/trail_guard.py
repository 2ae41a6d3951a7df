"""The audit trail's last line of defence, in plain PostgreSQL triggers.

django-pgtrigger's triggers (the history triggers of django-pghistory, and the Protect
triggers that make the trail append-only) first ask the session setting ``pgtrigger.ignore``
whether to skip themselves, and any database session may set it: one ``SET LOCAL`` would let
a statement change a member unrecorded, or edit and delete the trail itself. The triggers here
do not ask it:

- every trail table (the change events and the access events) refuses UPDATE, DELETE and
  TRUNCATE, whatever the session says;
- every tracked table refuses a statement while ``pgtrigger.ignore`` names one of that table's
  triggers, so the history triggers cannot be skipped.

Both are statement-level: one check per statement, however many rows it writes (the roster
import writes 100,000). They are (re)installed after every ``migrate`` (``post_migrate``), so
a trail table added later is covered as soon as it exists. Disabling them takes the owner of
the tables (``ALTER TABLE … DISABLE TRIGGER``) or a superuser: the deployment's application
role is neither (README "Security").
"""

from __future__ import annotations

APPEND_ONLY = "portal_trail_append_only"
NOT_IGNORED = "portal_trail_not_ignored"

_FUNCTIONS = f"""
CREATE OR REPLACE FUNCTION {APPEND_ONLY}() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '审计记录只能追加，不能修改、删除或清空（%）', TG_TABLE_NAME;
END
$$;
CREATE OR REPLACE FUNCTION {NOT_IGNORED}() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    ignored text := current_setting('pgtrigger.ignore', true);
BEGIN
    IF ignored IS NOT NULL AND ignored NOT IN ('', '{{}}') AND EXISTS (
        SELECT 1 FROM pg_trigger
        WHERE tgrelid = TG_RELID AND tgname = ANY (ignored::text[])
    ) THEN
        RAISE EXCEPTION '审计触发器不能被跳过（pgtrigger.ignore 指定了表 % 的触发器）',
            TG_TABLE_NAME;
    END IF;
    RETURN NULL;
END
$$;
"""


def trail_tables() -> list[str]:
    """The tables of the trail: every change-event table and the access events."""
    from portal.audit import event_models
    from portal.models import AccessEvent

    return sorted({m._meta.db_table for m in event_models()} | {AccessEvent._meta.db_table})


def tracked_tables() -> list[str]:
    """The tables whose changes the trail records."""
    from portal.audit import event_models

    return sorted({m.pgh_tracked_model._meta.db_table for m in event_models()})


def wanted() -> set[tuple[str, str]]:
    """(table, trigger) pairs that must exist."""
    return {(t, APPEND_ONLY) for t in trail_tables()} | {(t, NOT_IGNORED) for t in tracked_tables()}


def missing(cursor) -> set[tuple[str, str]]:
    cursor.execute(
        "SELECT c.relname, t.tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid"
        " WHERE t.tgname = ANY(%s) AND NOT t.tgisinternal",
        [[APPEND_ONLY, NOT_IGNORED]],
    )
    return wanted() - set(cursor.fetchall())


def install(connection) -> int:
    """Create the functions and whatever triggers are missing; returns how many were made."""
    from psycopg2 import sql

    with connection.cursor() as cursor:
        todo = missing(cursor)
        if not todo:
            return 0
        cursor.execute(_FUNCTIONS)
        for table, trigger in sorted(todo):
            operations = (
                "UPDATE OR DELETE OR TRUNCATE"
                if trigger == APPEND_ONLY
                else "INSERT OR UPDATE OR DELETE"
            )
            statement = sql.SQL(
                "CREATE TRIGGER {trigger} BEFORE " + operations + " ON {table}"
                " FOR EACH STATEMENT EXECUTE FUNCTION {function}()"
            ).format(
                trigger=sql.Identifier(trigger),
                table=sql.Identifier(table),
                function=sql.Identifier(trigger),
            )
            cursor.execute(statement.as_string(cursor.connection))
        return len(todo)


def install_after_migrate(sender, *, using="default", **kwargs) -> None:
    """``post_migrate`` receiver: the triggers, on every table that has appeared since."""
    from django.db import connections

    install(connections[using])
