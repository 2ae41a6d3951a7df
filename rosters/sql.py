"""Every SQL statement of the bulk roster import, in one place.

Validated rows come a batch at a time (services.py writes one batch while the next is read).
Each batch's ID-number hashes are looked up first (``stored``): members the database does not
hold yet get their ids from the sequence and go straight into members, mobilities and the
import's links with COPY (``insert_new``). The others are staged with COPY into a temporary
table, and a plan table says, row by row, whether the member or their current mobility changes
(``plan``); set-based inserts and updates then write what changed (``apply``). No query runs
per row, unchanged rows are not touched, and the audit trail's database triggers
(statement-level, portal/triggers.py) record every real change, COPY included.

ID numbers are encrypted at rest (``portal.crypto``): a member is matched on the keyed hash of
the number, the staging table holds only that hash, the ciphertext and the clear last four
characters — never the number itself — and the ciphertext is written for new members only
(re-encrypting an unchanged number would give a new ciphertext and a spurious change).

Table and column names come from the models' metadata.
"""

from __future__ import annotations

import datetime
import io
import json
from typing import NamedTuple

import pghistory.config

from branches.constants import TREE_LOCK_KEY
from members.choices import PartyStatus
from members.models import Member, Mobility
from portal import crypto

from .choices import LinkAction
from .models import RosterImportMember
from .validation import CleanRow

STAGE = "roster_stage"
PLAN = "roster_plan"
_STAGE_TYPES = {
    "row_number": "integer",
    # MEMBER_COLUMNS:
    "id_number": "text",  # the ciphertext
    "id_number_hash": "varchar(64)",
    "id_tail": "varchar(4)",
    "name": "varchar(30)",
    "gender": "varchar(10)",
    "birth_date": "date",
    "phone": "varchar(20)",
    "member_type": "varchar(20)",
    "joined_on": "date",
    "converted_on": "date",
    "home_org_id": "bigint",
    "ethnicity": "varchar(10)",
    "education": "varchar(30)",
    "remarks": "varchar(500)",
    # MOBILITY_FIELDS:
    "left_on": "date",
    "destination_code": "varchar(6)",
    "reason": "varchar(20)",
    "destination_address": "varchar(200)",
    "employer": "varchar(100)",
    "inflow_org_id": "bigint",
    "inflow_org_name": "varchar(100)",
    "certificate_no": "varchar(50)",
    "contact_person": "varchar(50)",
}
# What the plan says of each staged row (see plan()).
_PLAN_TYPES = {
    "row_number": "integer",
    "member_id": "bigint",
    "mobility_id": "bigint",
    "is_new": "boolean",
    "member_changed": "boolean",
    "mobility_changed": "boolean",
    "stored_home_id": "bigint",
    "stored_status": "varchar(20)",
    "last_ended_on": "date",
}
# The staging table holds CleanRow's values, the ID number as ciphertext, hash and tail, in the
# order of a row number, MEMBER_COLUMNS and MOBILITY_FIELDS (test_services.py checks it).

# Member fields a roster row sets. Those of optional columns are only updated when the file has
# the column: a roster without 学历 does not wipe the members' education.
MEMBER_FIELDS = (
    "name",
    "gender",
    "birth_date",
    "phone",
    "member_type",
    "joined_on",
    "converted_on",
    "home_org_id",
    "ethnicity",
    "education",
    "remarks",
)
MOBILITY_FIELDS = (
    "left_on",
    "destination_code",
    "reason",
    "destination_address",
    "employer",
    "inflow_org_id",
    "inflow_org_name",
    "certificate_no",
    "contact_person",
)
# The member columns a roster row gives, in the order Staged.member holds them.
MEMBER_COLUMNS = ("id_number", "id_number_hash", "id_tail", *MEMBER_FIELDS)


def _member_extras(today: datetime.date, now: datetime.datetime) -> dict[str, object]:
    """The columns a new member gets besides the roster's (registering counts as contact)."""
    return {
        "party_status": PartyStatus.NORMAL,
        "last_contact_on": today,
        "transferred_out_on": None,
        "transferred_to": "",
        "created_at": now,
        "updated_at": now,
    }


def _mobility_extras(now: datetime.datetime) -> dict[str, object]:
    """The columns a new current mobility gets besides the roster's."""
    return {"remarks": "", "ended_on": None, "end_kind": "", "created_at": now, "updated_at": now}


# Field -> roster column key, for the optional columns.
OPTIONAL_FIELDS = {
    "ethnicity": "ethnicity",
    "education": "education",
    "remarks": "remarks",
    "reason": "reason",
    "destination_address": "destination_address",
    "employer": "employer",
    "inflow_org_id": "inflow_org",
    "inflow_org_name": "inflow_org",
    "certificate_no": "certificate_no",
    "contact_person": "contact_person",
}


def _column(model, field: str) -> str:
    return model._meta.get_field(field.removesuffix("_id")).column


def _table(model) -> str:
    return model._meta.db_table


def fields_for(fields: tuple[str, ...], present: set[str]) -> list[str]:
    """The fields a file sets: all but those of optional columns the file lacks."""
    return [f for f in fields if f not in OPTIONAL_FIELDS or OPTIONAL_FIELDS[f] in present]


# ---------------------------------------------------------------------------------------------
# Staging


def create_stage(cursor, trail) -> None:
    """Start an import's transaction: its lock, trail context, staging and plan tables.

    One lock for all roster imports (``TREE_LOCK_KEY``), held until the transaction ends: two
    imports of overlapping files must not interleave between planning and writing (forms and
    the API still may; the unique indexes then make the import fail whole). Changes to the
    organization tree take it too (``branches.services``): the rows are judged by the
    organizations as the import reads them once it holds the lock.

    ``trail`` is the entered ``pghistory.context``. django-pghistory hands it to the audit
    triggers by prefixing the statements run through Django's cursor; COPY goes around that
    path, so the context is set here for the whole transaction instead, as pghistory does.
    """
    stage = ", ".join(f"{name} {kind}" for name, kind in _STAGE_TYPES.items())
    plan = ", ".join(f"{name} {kind}" for name, kind in _PLAN_TYPES.items())
    cursor.execute(
        f"""
        SELECT pg_advisory_xact_lock({TREE_LOCK_KEY});
        SELECT set_config('pghistory.context_id', %s, true),
               set_config('pghistory.context_metadata', %s, true);
        {_FAST_TRIGGER_CHECKS};
        DROP TABLE IF EXISTS {STAGE};
        DROP TABLE IF EXISTS {PLAN};
        CREATE TEMP TABLE {STAGE} ({stage}) ON COMMIT DROP;
        CREATE TEMP TABLE {PLAN} ({plan}) ON COMMIT DROP;
        """,
        [str(trail.id), json.dumps(trail.metadata, cls=pghistory.config.json_encoder())],
    )


_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _text(value: str) -> str:
    if "\\" in value or "\t" in value or "\n" in value or "\r" in value:
        return value.translate(_ESCAPES)
    return value


class _Dates(dict):
    """ISO text of dates, each computed once (a roster repeats its dates many times)."""

    def __missing__(self, day: datetime.date | None) -> str:
        text = self[day] = "\\N" if day is None else day.isoformat()
        return text


class Staged(NamedTuple):
    """A valid row ready for COPY: its member and mobility columns in COPY's text format."""

    row_number: int
    id_number_hash: str
    member: str  # MEMBER_COLUMNS, tab-separated
    mobility: str  # MOBILITY_FIELDS, tab-separated

    def stage_line(self) -> str:
        return f"{self.row_number}\t{self.member}\t{self.mobility}\n"


class CopyFormatter:
    """Rows in COPY's text format, the ID number as ciphertext, hash and tail.

    Written out field by field, as this runs once per row of a province's roster: free text is
    escaped; closed-list values, codes and numbers cannot hold a tab or a backslash.
    """

    def __init__(self) -> None:
        self.dates = _Dates()

    def __call__(self, row: CleanRow) -> Staged:
        number, d = row.id_number, self.dates
        digest = crypto.lookup_hash(number)
        inflow = "\\N" if row.inflow_org_id is None else row.inflow_org_id
        return Staged(
            row.row_number,
            digest,
            f"{crypto.encrypt(number)}\t{digest}\t{number[-4:]}\t{_text(row.name)}\t"
            f"{row.gender}\t{d[row.birth_date]}\t{_text(row.phone)}\t{row.member_type}\t"
            f"{d[row.joined_on]}\t{d[row.converted_on]}\t{row.home_org_id}\t{row.ethnicity}\t"
            f"{row.education}\t{_text(row.remarks)}",
            f"{d[row.left_on]}\t{row.destination_code}\t{row.reason}\t"
            f"{_text(row.destination_address)}\t{_text(row.employer)}\t{inflow}\t"
            f"{_text(row.inflow_org_name)}\t{_text(row.certificate_no)}\t"
            f"{_text(row.contact_person)}",
        )


def _copy_fields(values) -> str:
    """The end of a COPY line: these values (text, dates, None), and the line break."""

    def field(value) -> str:
        if value is None:
            return "\\N"
        return _text(value.isoformat() if hasattr(value, "isoformat") else str(value))

    return "\t".join(map(field, values)) + "\n"


def _copy(cursor, table: str, columns: list[str], lines: list[str]) -> None:
    data = "".join(lines)
    # Handed to COPY in one read: the rows are produced by another thread, and every call back
    # into Python would wait for the interpreter lock.
    cursor.copy_expert(
        f"COPY {table} ({', '.join(columns)}) FROM STDIN", io.StringIO(data), len(data) + 1
    )


def stage(cursor, rows: list[Staged]) -> None:
    """Replace the staged rows by one batch."""
    cursor.execute(f"TRUNCATE {STAGE}, {PLAN}")
    _copy(cursor, STAGE, list(_STAGE_TYPES), [row.stage_line() for row in rows])


def stored(cursor, rows: list[Staged]) -> set[str]:
    """The ID-number hashes of the batch that stored members have (one index probe each)."""
    cursor.execute(
        f"""
        SELECT m.id_number_hash FROM unnest(%s::varchar[]) AS h(value)
        CROSS JOIN LATERAL (
            SELECT id_number_hash FROM {_table(Member)} x
            WHERE x.id_number_hash = h.value LIMIT 1
        ) m
        """,
        [[row.id_number_hash for row in rows]],
    )
    return {digest for (digest,) in cursor.fetchall()}


def planned_writes(cursor) -> set[int]:
    """The stored members the plan would write: changed, or with a changed mobility."""
    cursor.execute(
        f"SELECT member_id FROM {PLAN} WHERE NOT is_new AND (member_changed OR mobility_changed)"
    )
    return {member_id for (member_id,) in cursor.fetchall()}


def lock_members(cursor, ids: set[int]) -> None:
    """Lock these stored members until the import's transaction ends, in id order.

    The plan reads members and mobilities as committed when it runs; a return or transfer
    registered through a form between the plan and the writes would otherwise be written over:
    the import would update the mobility that just ended instead of the member's current one,
    or a member no longer in normal standing. The services lock a member before changing them
    or their mobility (``members.services.member_lock``), so once these locks are held the
    batch is planned again and sees what they committed (``services._BatchWriter``). Members
    the plan leaves alone are not locked: nothing of theirs is written.
    """
    cursor.execute(  # counted, not fetched: the ids themselves are not needed here
        f"SELECT count(*) FROM (SELECT id FROM {_table(Member)}"
        " WHERE id = ANY(%s) ORDER BY id FOR NO KEY UPDATE) AS locked",
        [sorted(ids)],
    )


def replan(cursor) -> None:
    """Forget the plan of the staged batch, to plan it again."""
    cursor.execute(f"TRUNCATE {PLAN}")


# ---------------------------------------------------------------------------------------------
# Checks against what the database holds


def _distinct(model, fields: list[str], table: str, given: str) -> str:
    """SQL: the stored row ``table`` differs from ``given`` (the staging table) in a field."""
    stored_cols = [f"{table}.{_column(model, f)}" for f in fields]
    given_cols = [f"{given}.{f}" for f in fields]
    return f"ROW({', '.join(stored_cols)}) IS DISTINCT FROM ROW({', '.join(given_cols)})"


def _set(model, fields: list[str]) -> str:
    """SQL: the SET list of an update from the staging table ``s``."""
    return ", ".join(f"{_column(model, f)} = s.{f}" for f in fields)


def plan(
    cursor, *, present: set[str], scope: set[int] | None = None, assign_ids: bool = True
) -> tuple[dict[str, int], list[tuple[int, str, object]]]:
    """Sort staged rows into new, changed and unchanged members: the counts, and the conflicts.

    Each staged row gets a line in the plan table: the stored member and current mobility it
    matches (by the ID number's hash), whether either changes, and for new members, with
    ``assign_ids``, the id they will have (taken from the members' sequence in file order, so
    that mobilities and the import's links can name them before they are written).

    Conflicts are rows the stored member's state does not allow, as (row number, problem,
    detail): ``out_of_scope`` (the member belongs to an organization outside ``scope``, the
    ids the importing user is responsible for; detail: that organization's id), ``standing``
    (the member is not in normal standing; detail: the status) and ``left_before_return``
    (外出日期 before the end of the member's last mobility; detail: that date), the last two
    the rules of ``member_register_outflow`` and ``Mobility.clean``. They are taken out of the
    plan and the counts.
    """
    member, mobility = _table(Member), _table(Mobility)
    member_changed = _distinct(Member, fields_for(MEMBER_FIELDS, present), "m", "s")
    mobility_changed = _distinct(Mobility, fields_for(MOBILITY_FIELDS, present), "mob", "s")
    new_id = f"nextval(pg_get_serial_sequence('{member}', 'id'))" if assign_ids else "NULL::bigint"
    # The counts come back from the insert itself (a data-modifying WITH), in one round trip.
    cursor.execute(
        f"""
        WITH planned AS (
            INSERT INTO {PLAN}
            SELECT s.row_number,
                   CASE WHEN m.id IS NULL THEN {new_id} ELSE m.id END,
                   mob.id,
                   m.id IS NULL,
                   m.id IS NOT NULL AND {member_changed},
                   mob.id IS NULL OR {mobility_changed},
                   m.home_org_id,
                   m.party_status,
                   -- Asked only for stored members (CASE evaluates it only then): on new ones
                   -- a first import would otherwise scan the growing, unanalyzed mobilities.
                   CASE WHEN m.id IS NOT NULL THEN (
                       SELECT max(x.ended_on) FROM {mobility} x
                       WHERE x.member_id = m.id AND x.ended_on IS NOT NULL
                   ) END
            FROM {STAGE} s
            -- One index probe per staged row, whatever the planner thinks of the tables' sizes
            -- (LIMIT keeps the subqueries from being flattened into a hash join that would read
            -- every stored member for every batch).
            LEFT JOIN LATERAL (
                SELECT * FROM {member} x WHERE x.id_number_hash = s.id_number_hash LIMIT 1
            ) m ON true
            LEFT JOIN LATERAL (
                SELECT * FROM {mobility} x WHERE x.member_id = m.id AND x.ended_on IS NULL LIMIT 1
            ) mob ON true
            ORDER BY s.row_number
            RETURNING is_new, member_changed, mobility_changed
        )
        SELECT count(*) FILTER (WHERE is_new),
               count(*) FILTER (WHERE NOT is_new AND (member_changed OR mobility_changed)),
               count(*) FILTER (WHERE NOT is_new AND NOT member_changed AND NOT mobility_changed)
        FROM planned
        """
    )
    created, updated, unchanged = cursor.fetchone()
    scoped = scope is not None
    if not updated + unchanged:  # all new: nothing stored to conflict with
        return {"created": created, "updated": 0, "unchanged": 0}, []
    cursor.execute(
        f"""
        DELETE FROM {PLAN} p USING {STAGE} s
        WHERE s.row_number = p.row_number AND NOT p.is_new AND (
            p.stored_status <> %(normal)s OR s.left_on < p.last_ended_on
            OR (%(scoped)s AND NOT p.stored_home_id = ANY(%(scope)s)))
        RETURNING p.row_number, p.stored_home_id, p.stored_status, p.last_ended_on,
                  p.member_changed OR p.mobility_changed
        """,
        {"normal": PartyStatus.NORMAL, "scoped": scoped, "scope": sorted(scope or ())},
    )
    found = []
    for row_number, home_id, status, last_ended, changed in sorted(cursor.fetchall()):
        if changed:
            updated -= 1
        else:
            unchanged -= 1
        if scoped and home_id not in scope:
            found.append((row_number, "out_of_scope", home_id))
        elif status != PartyStatus.NORMAL:
            found.append((row_number, "standing", status))
        else:
            found.append((row_number, "left_before_return", last_ended))
    return {"created": created, "updated": updated, "unchanged": unchanged}, found


# ---------------------------------------------------------------------------------------------
# Writing


# django-pgtrigger's triggers first ask whether they are to be ignored by reading the setting
# ``pgtrigger.ignore``; when it was never set that read raises and the trigger catches the error,
# which is slow. An empty list means the same — ignore nothing — without the error: every trigger
# still fires. An ignore list already set is left alone. (The settings set it for every
# connection; this covers connections made otherwise.)
_FAST_TRIGGER_CHECKS = (
    "SELECT set_config('pgtrigger.ignore', '{}', true) "
    "WHERE coalesce(current_setting('pgtrigger.ignore', true), '') = ''"
)


def insert_new(
    cursor, rows: list[Staged], *, import_id: int, today: datetime.date, now: datetime.datetime
) -> None:
    """Write members the database does not hold yet, with COPY straight into the tables.

    ``rows`` are those whose hash ``stored`` did not find (under the import lock: only a form
    or the API could add one of them meanwhile, and the unique index then fails the import
    whole). Ids come from the members' sequence first, in file order, so that their mobilities
    and the import's links name them in the same round of COPYs.
    """
    member, mobility = _table(Member), _table(Mobility)
    cursor.execute(
        "SELECT array_agg(nextval(s.seq) ORDER BY n) FROM generate_series(1, %s) AS n,"
        " (SELECT pg_get_serial_sequence(%s, 'id')::regclass AS seq) AS s",
        [len(rows), member],
    )
    (ids,) = cursor.fetchone()
    member_extras, mobility_extras = _member_extras(today, now), _mobility_extras(now)
    member_tail = _copy_fields(member_extras.values())
    _copy(
        cursor,
        member,
        ["id", *(_column(Member, f) for f in MEMBER_COLUMNS), *member_extras],
        [f"{i}\t{row.member}\t{member_tail}" for i, row in zip(ids, rows, strict=True)],
    )
    mobility_tail = _copy_fields(mobility_extras.values())
    _copy(
        cursor,
        mobility,
        ["member_id", *(_column(Mobility, f) for f in MOBILITY_FIELDS), *mobility_extras],
        [f"{i}\t{row.mobility}\t{mobility_tail}" for i, row in zip(ids, rows, strict=True)],
    )
    _copy(
        cursor,
        _table(RosterImportMember),
        ["roster_import_id", "member_id", "action", "row_number"],
        [
            f"{import_id}\t{i}\t{LinkAction.CREATED}\t{row.row_number}\n"
            for i, row in zip(ids, rows, strict=True)
        ],
    )


def apply(
    cursor,
    *,
    import_id: int,
    present: set[str],
    today: datetime.date,
    now,
    updates: bool = True,
) -> None:
    """Write the planned rows: members, their current mobility, and the import's links.

    New rows are plain inserts and changed rows plain updates (left out when ``updates`` is
    false: the plan found no stored member to change), all in one round trip. A member or
    current mobility someone adds through a form between the plan and these statements makes
    an insert fail on the unique indexes, so the import fails and writes nothing (it can be run
    again).
    """
    member = _table(Member)
    rows = f"{PLAN} p JOIN {STAGE} s ON s.row_number = p.row_number"
    member_extras, mobility_extras = _member_extras(today, now), _mobility_extras(now)
    params = {f"new_{k}": v for k, v in (member_extras | mobility_extras).items()}
    new_members = _insert_planned(
        Member, "id", MEMBER_COLUMNS, member_extras, rows, where="p.is_new"
    )
    changed_members = _update_changed(Member, fields_for(MEMBER_FIELDS, present), rows, "member")
    # Registering an outflow counts as contact (member_register_outflow does the same).
    contacted = f"""
        UPDATE {member} m
        SET last_contact_on = GREATEST(COALESCE(m.last_contact_on, %(today)s), %(today)s)
        FROM {PLAN} p
        WHERE p.member_id = m.id AND NOT p.is_new AND p.mobility_id IS NULL
          AND m.last_contact_on IS DISTINCT FROM
              GREATEST(COALESCE(m.last_contact_on, %(today)s), %(today)s)"""
    new_mobilities = _insert_planned(
        Mobility, "member_id", MOBILITY_FIELDS, mobility_extras, rows, where="p.mobility_id IS NULL"
    )
    changed_mobilities = _update_changed(
        Mobility, fields_for(MOBILITY_FIELDS, present), rows, "mobility"
    )
    links = f"""
        INSERT INTO {_table(RosterImportMember)}
            (roster_import_id, member_id, action, row_number)
        SELECT %(import_id)s, p.member_id,
               CASE WHEN p.is_new THEN %(created)s ELSE %(updated)s END, p.row_number
        FROM {PLAN} p
        WHERE p.is_new OR p.member_changed OR p.mobility_changed"""
    statements = [new_members, new_mobilities, links]
    if updates:
        statements[1:1] = [changed_members, contacted]
        statements[-1:-1] = [changed_mobilities]
    cursor.execute(
        ";".join(statements),
        {
            **params,
            "today": today,
            "now": now,
            "import_id": import_id,
            "created": LinkAction.CREATED,
            "updated": LinkAction.UPDATED,
        },
    )


def _insert_planned(
    model, key: str, fields: tuple[str, ...], extras: dict, rows: str, *, where: str
) -> str:
    """SQL: insert the planned ``rows`` matching ``where``, keyed by ``p.member_id``.

    ``key`` is the column that takes the member's id, ``fields`` the staged columns, ``extras``
    the columns a new row gets besides (values passed as ``%(new_<name>)s``).
    """
    columns = [key, *(_column(model, f) for f in fields), *extras]
    values = ["p.member_id", *(f"s.{f}" for f in fields), *(f"%(new_{k})s" for k in extras)]
    return f"""
        INSERT INTO {_table(model)} ({", ".join(columns)})
        SELECT {", ".join(values)}
        FROM {rows}
        WHERE {where}
        ORDER BY p.row_number"""


def _update_changed(model, fields: list[str], rows: str, planned: str) -> str:
    """SQL: update the stored ``model`` rows the plan says changed (``p.<planned>_id``)."""
    table = _table(model)
    return f"""
        UPDATE {table} t
        SET {_set(model, fields)}, updated_at = %(now)s
        FROM {rows}
        WHERE t.id = p.{planned}_id AND p.{planned}_changed
          AND {_distinct(model, fields, "t", "s")}"""


# Created by migration rosters/0007 as the tables' owner: ANALYZE is the owner's to run, and
# the portal connects as a role that owns nothing (portal/db_roles.py lets it call this).
ANALYZE_FUNCTION = "rosters_analyze_imported()"
ANALYZE = f"SELECT {ANALYZE_FUNCTION}"


def analyze() -> None:
    """Refresh the planner's statistics of members and mobilities after a large import.

    PostgreSQL advises ANALYZE after a bulk load: until autovacuum gets to it, the planner
    still sees the tables as they were (empty, for a first import) and picks nested loops over
    whole tables for the next queries, the ledger export among them.
    """
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(ANALYZE)
