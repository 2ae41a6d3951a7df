"""The audit trail's last line of defence, in plain PostgreSQL triggers.

django-pgtrigger's triggers (the history triggers of django-pghistory, and the Protect
triggers that make the trail append-only) first ask the session setting ``pgtrigger.ignore``
whether to skip themselves, and any database session may set it: one ``SET LOCAL`` would let
a statement change a member unrecorded, or edit and delete the trail itself. The triggers here
do not ask it:

- every trail table (the change events and the access events) refuses UPDATE, DELETE and
  TRUNCATE, whatever the session says;
- every tracked table refuses a statement while ``pgtrigger.ignore`` names one of that table's
  triggers, so the history triggers cannot be skipped: checked before the statement and again
  after it (the history triggers read the setting after the rows are written, and a statement
  can set it on its way, in a WHERE clause or a CTE);
- every tracked table refuses TRUNCATE, which no history trigger would see.

All are statement-level: one check per statement, however many rows it writes (the roster
import writes 100,000). They are (re)installed after every ``migrate`` (``post_migrate``), so
a trail table added later is covered as soon as it exists. Disabling them takes the owner of
the tables (``ALTER TABLE … DISABLE TRIGGER``) or a superuser: the deployment's application
role is neither (README "Security").
"""

from __future__ import annotations

APPEND_ONLY = "portal_trail_append_only"
NOT_IGNORED = "portal_trail_not_ignored"
NOT_IGNORED_AFTER = "portal_trail_not_ignored_after"
NO_TRUNCATE = "portal_trail_no_truncate"
# Trigger -> (when, operations, function, on the trail tables or the tracked ones).
TRIGGERS = {
    APPEND_ONLY: ("BEFORE", "UPDATE OR DELETE OR TRUNCATE", APPEND_ONLY, "trail"),
    NOT_IGNORED: ("BEFORE", "INSERT OR UPDATE OR DELETE", NOT_IGNORED, "tracked"),
    NOT_IGNORED_AFTER: ("AFTER", "INSERT OR UPDATE OR DELETE", NOT_IGNORED, "tracked"),
    NO_TRUNCATE: ("BEFORE", "TRUNCATE", NO_TRUNCATE, "tracked"),
}

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
CREATE OR REPLACE FUNCTION {NO_TRUNCATE}() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '受审计的表不能清空（%）：清空不会留下审计记录', TG_TABLE_NAME;
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


def wanted(existing: set[str] | None = None) -> set[tuple[str, str]]:
    """(table, trigger) pairs that must exist (on the tables of ``existing``, when given: after
    ``migrate <app> zero`` some are gone)."""
    tables = {"trail": trail_tables(), "tracked": tracked_tables()}
    return {
        (table, trigger)
        for trigger, (_when, _ops, _function, on) in TRIGGERS.items()
        for table in tables[on]
        if existing is None or table in existing
    }


def missing(cursor) -> set[tuple[str, str]]:
    cursor.execute(
        "SELECT relname FROM pg_class WHERE relkind IN ('r', 'p') AND relname = ANY(%s)",
        [sorted({table for table, _trigger in wanted()})],
    )
    existing = {name for (name,) in cursor.fetchall()}
    cursor.execute(
        "SELECT c.relname, t.tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid"
        " WHERE t.tgname = ANY(%s) AND NOT t.tgisinternal",
        [list(TRIGGERS)],
    )
    return wanted(existing) - set(cursor.fetchall())


def install(connection) -> int:
    """Create the functions and whatever triggers are missing; returns how many were made."""
    from psycopg2 import sql

    with connection.cursor() as cursor:
        todo = missing(cursor)
        if not todo:
            return 0
        cursor.execute(_FUNCTIONS)
        for table, trigger in sorted(todo):
            when, operations, function, _on = TRIGGERS[trigger]
            statement = sql.SQL(
                "CREATE TRIGGER {trigger} " + when + " " + operations + " ON {table}"
                " FOR EACH STATEMENT EXECUTE FUNCTION {function}()"
            ).format(
                trigger=sql.Identifier(trigger),
                table=sql.Identifier(table),
                function=sql.Identifier(function),
            )
            cursor.execute(statement.as_string(cursor.connection))
        return len(todo)


def install_after_migrate(sender, *, using="default", **kwargs) -> None:
    """``post_migrate`` receiver: the triggers, on every table that has appeared since."""
    from django.db import connections

    install(connections[using])
