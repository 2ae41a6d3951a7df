"""Statement-level change-trail triggers (django-pghistory): made to survive Django's migrations,
and to read the request context once per statement.

django-pgtrigger tells a row-level trigger from a statement-level one by comparing its ``level``
with the module's ``Statement`` object by identity (pgtrigger 4.17, pghistory 3.9). Django deep-
copies models' options when it builds migration states, and the copy of ``Statement`` is a new
object, so a copied statement-level trigger renders half as a row-level one and makemigrations
fails ("Composer trigger references NEW values..."). The levels, operations and timings are
immutable constants: a copy may as well be the constant itself. Imported by the settings, before
any model is defined.

Statement-level history triggers write a bulk statement's events in one INSERT … SELECT from the
statement's transition table instead of one trigger call per row: the roster import of 100,000
members is the case they are for (bench/import_bench.py). pghistory puts the context (who, from
where, which import: ``pghistory.context_metadata``, a JSON text) into that SELECT as an
expression, so PostgreSQL reads the setting and parses the JSON again for every row; the
trackers below move both into the statement's one-row ``_pgh_attached_context``, evaluated once.
Every event still carries the same context.
"""

import pghistory
import pgtrigger
from django.db import models
from pghistory import trigger
from pgtrigger import core


def _same(self, memo=None):
    return self


core._Primitive.__copy__ = _same
core._Primitive.__deepcopy__ = _same


_ONE_ROW = "WITH _pgh_attached_context AS ( SELECT _pgh_attach_context() AS value )"
_PER_ROW = {
    "metadata": (
        "COALESCE(NULLIF(CURRENT_SETTING('pghistory.context_metadata', TRUE), ''), NULL)::JSONB"
    ),
    "context_id": "COALESCE(NULLIF(CURRENT_SETTING('pghistory.context_id', TRUE), ''), NULL)::UUID",
}


class _ContextOnceEvent(trigger.Event):
    def get_func(self, model):
        sql = super().get_func(model).func
        if self.level != pgtrigger.Statement:
            return pgtrigger.Func(sql)
        if _ONE_ROW not in sql:
            raise RuntimeError(f"django-pghistory's trigger SQL changed; revisit {__name__}")
        for name, expr in _PER_ROW.items():
            if expr not in sql:
                raise RuntimeError(f"django-pghistory's trigger SQL changed; revisit {__name__}")
            sql = sql.replace(expr, f"_pgh_attached_context.{name}")
        once = ", ".join(f"{expr} AS {name}" for name, expr in _PER_ROW.items())
        return pgtrigger.Func(sql.replace(_ONE_ROW, f"{_ONE_ROW[:-2]}, {once} )"))


class _ContextOnce:
    def add_event_trigger(self, event_model):
        pgtrigger.register(
            _ContextOnceEvent(
                event_model=event_model,
                label=self.label,
                name=self.trigger_name,
                row=self.row,
                operation=self.operation,
                condition=self.condition,
                level=self.level,
            )
        )(event_model.pgh_tracked_model)


class InsertEvent(_ContextOnce, pghistory.InsertEvent):
    pass


class UpdateEvent(_ContextOnce, pghistory.UpdateEvent):
    pass


class DeleteEvent(_ContextOnce, pghistory.DeleteEvent):
    pass


# --- The trail is append-only, TRUNCATE included ---------------------------------------------
# PGHISTORY_APPEND_ONLY protects event tables against UPDATE and DELETE only; a TRUNCATE (or
# `manage.py flush` run against production) would still empty them.

NO_TRUNCATE = "no_truncate"


def no_truncate(name: str = NO_TRUNCATE) -> pgtrigger.Trigger:
    """A trigger refusing TRUNCATE of its table (pgtrigger's Protect has no TRUNCATE)."""
    return pgtrigger.Trigger(
        name=name,
        when=pgtrigger.Before,
        operation=pgtrigger.Truncate,
        level=pgtrigger.Statement,
        func="RAISE EXCEPTION 'pgtrigger: Cannot truncate % table', TG_TABLE_NAME; RETURN NULL;",
    )


def track(*trackers, meta: dict | None = None, **kwargs):
    """``pghistory.track``, the event table protected against TRUNCATE as well, and indexed on
    the tracked object's key and the event's id.

    pghistory reads an update's diff against the object's previous event (``pghistory.models
    .Events``: same ``pgh_obj_id``, the greatest smaller ``pgh_id``). With the object's key alone
    indexed, a table the planner has no statistics of yet — the minute after an import put
    100,000 events in it — is walked backwards along its primary key for every event read, and
    exporting 2,000 events took 35 s instead of 0.14 s (bench/audit_export_bench.py). The pair
    answers that lookup whatever the statistics, and the object's history as the key did.
    """
    meta = dict(meta or {})
    meta["triggers"] = [*meta.get("triggers", []), no_truncate()]
    # Unnamed: Django names it after the event table (a new Index per table, hence here).
    meta["indexes"] = [*meta.get("indexes", []), models.Index(fields=["pgh_obj", "pgh_id"])]
    return pghistory.track(*trackers, meta=meta, **kwargs)
