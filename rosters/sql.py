"""Every SQL statement of the bulk roster import, in one place.

Validated rows go with COPY into a temporary staging table, a batch at a time (services.py
writes one batch while the next is read); a plan table then says,
row by row, whether the member is new, changed or unchanged; and set-based statements write the
real tables — ``INSERT … ON CONFLICT (id_number_hash) DO UPDATE … WHERE`` something changed for
members, the same on the one-current-mobility index for mobilities — so no query runs per row,
unchanged rows are not touched, and database triggers (the audit trail) see every real change.

ID numbers are encrypted at rest (``portal.crypto``): a member is matched on the keyed hash of
the number, the staging table holds only that hash, the ciphertext and the clear last four
characters — never the number itself — and the ciphertext is written for new members only
(re-encrypting an unchanged number would give a new ciphertext and a spurious change).

Table and column names come from the models' metadata.
"""

from __future__ import annotations

import datetime
import io

from members.choices import PartyStatus
from members.models import Member, Mobility
from portal import crypto

from .choices import LinkAction
from .models import RosterImportMember
from .validation import CleanRow

STAGE = "roster_stage"
PLAN = "roster_plan"
# One lock for all roster imports: two imports of overlapping files must not interleave between
# planning and writing (forms and the API still may; ON CONFLICT keeps those correct).
IMPORT_LOCK_KEY = 0x726F7374  # "rost"

_STAGE_TYPES = {
    "row_number": "integer",
    "id_number_hash": "varchar(64)",
    "id_number": "text",  # the ciphertext
    "id_tail": "varchar(4)",
    "name": "varchar(30)",
    "gender": "varchar(10)",
    "ethnicity": "varchar(10)",
    "birth_date": "date",
    "education": "varchar(30)",
    "phone": "varchar(20)",
    "member_type": "varchar(20)",
    "joined_on": "date",
    "converted_on": "date",
    "home_org_id": "bigint",
    "remarks": "varchar(500)",
    "left_on": "date",
    "reason": "varchar(20)",
    "destination_code": "varchar(6)",
    "destination_address": "varchar(200)",
    "employer": "varchar(100)",
    "inflow_org_id": "bigint",
    "inflow_org_name": "varchar(100)",
    "certificate_no": "varchar(50)",
    "contact_person": "varchar(50)",
}
# The staging table mirrors CleanRow, the ID number replaced by its hash, ciphertext and tail
# (test_services.py checks it).

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


def create_stage(cursor) -> None:
    columns = ", ".join(f"{name} {kind}" for name, kind in _STAGE_TYPES.items())
    cursor.execute(f"DROP TABLE IF EXISTS {STAGE}; DROP TABLE IF EXISTS {PLAN}")
    cursor.execute(f"CREATE TEMP TABLE {STAGE} ({columns}) ON COMMIT DROP")


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


class CopyFormatter:
    """Rows in COPY's text format, the ID number as hash, ciphertext and tail.

    Written out field by field, as this runs once per row of a province's roster: free text is
    escaped; closed-list values, codes and numbers cannot hold a tab or a backslash.
    """

    def __init__(self) -> None:
        self.dates = _Dates()

    def __call__(self, row: CleanRow) -> str:
        number, d = row.id_number, self.dates
        inflow = "\\N" if row.inflow_org_id is None else row.inflow_org_id
        return (
            f"{row.row_number}\t{crypto.lookup_hash(number)}\t{crypto.encrypt(number)}\t"
            f"{number[-4:]}\t{_text(row.name)}\t{row.gender}\t{row.ethnicity}\t"
            f"{d[row.birth_date]}\t{row.education}\t{_text(row.phone)}\t{row.member_type}\t"
            f"{d[row.joined_on]}\t{d[row.converted_on]}\t{row.home_org_id}\t"
            f"{_text(row.remarks)}\t{d[row.left_on]}\t{row.reason}\t{row.destination_code}\t"
            f"{_text(row.destination_address)}\t{_text(row.employer)}\t{inflow}\t"
            f"{_text(row.inflow_org_name)}\t{_text(row.certificate_no)}\t"
            f"{_text(row.contact_person)}\n"
        )


def copy_line(row: CleanRow) -> str:
    """One row in COPY's text format (see CopyFormatter)."""
    return CopyFormatter()(row)


def stage_lines(cursor, lines: list[str]) -> None:
    """Replace the staged rows by one batch of rows already in COPY's format (copy_line)."""
    cursor.execute(f"TRUNCATE {STAGE}")
    data = "".join(lines)
    # Handed to COPY in one read: the rows are produced by another thread, and every call back
    # into Python would wait for the interpreter lock.
    cursor.copy_expert(
        f"COPY {STAGE} ({', '.join(_STAGE_TYPES)}) FROM STDIN", io.StringIO(data), len(data) + 1
    )


# ---------------------------------------------------------------------------------------------
# Checks against what the database holds


def _distinct(
    model, fields: list[str], table: str, other: str, *, other_named_by_field: bool
) -> str:
    """SQL: the stored row ``table`` differs from ``other`` in one of ``fields``.

    ``other`` is the staging/plan table (columns named like the fields) or EXCLUDED (columns
    named like the model's).
    """
    stored = [f"{table}.{_column(model, f)}" for f in fields]
    given = [f"{other}.{f if other_named_by_field else _column(model, f)}" for f in fields]
    return f"ROW({', '.join(stored)}) IS DISTINCT FROM ROW({', '.join(given)})"


def _set(model, fields: list[str]) -> str:
    """SQL: the SET list of an ON CONFLICT update."""
    return ", ".join(f"{_column(model, f)} = EXCLUDED.{_column(model, f)}" for f in fields)


def plan(
    cursor, *, present: set[str], scope: set[int] | None = None
) -> tuple[dict[str, int], list[tuple[int, str, object]]]:
    """Sort staged rows into new, changed and unchanged members: the counts, and the conflicts.

    Conflicts are rows the stored member's state does not allow, as (row number, problem,
    detail): ``out_of_scope`` (the member belongs to an organization outside ``scope``, the
    ids the importing user is responsible for; detail: that organization's id), ``standing``
    (the member is not in normal standing; detail: the status) and ``left_before_return``
    (外出日期 before the end of the member's last mobility; detail: that date), the last two
    the rules of ``member_register_outflow``. They are left out of the plan and the counts.
    Members are looked up once per row for both.
    """
    member, mobility = _table(Member), _table(Mobility)
    member_fields = fields_for(MEMBER_FIELDS, present)
    mobility_fields = fields_for(MOBILITY_FIELDS, present)
    member_changed = _distinct(Member, member_fields, "m", "s", other_named_by_field=True)
    mobility_changed = _distinct(Mobility, mobility_fields, "mob", "s", other_named_by_field=True)
    scoped = scope is not None
    cursor.execute(f"SELECT pg_advisory_xact_lock({IMPORT_LOCK_KEY})")
    cursor.execute(f"DROP TABLE IF EXISTS {PLAN}")
    cursor.execute(
        f"""
        CREATE TEMP TABLE {PLAN} ON COMMIT DROP AS
        SELECT s.*, m.id AS member_id, mob.id AS mobility_id,
               m.id IS NULL AS is_new,
               m.id IS NOT NULL AND {member_changed} AS member_changed,
               mob.id IS NULL OR {mobility_changed} AS mobility_changed,
               m.home_org_id AS stored_home_id, m.party_status AS stored_status,
               -- Asked only for stored members (CASE evaluates it only then): on new ones
               -- a first import would otherwise scan the growing, unanalyzed mobilities.
               CASE WHEN m.id IS NOT NULL THEN (
                   SELECT max(x.ended_on) FROM {mobility} x
                   WHERE x.member_id = m.id AND x.ended_on IS NOT NULL
               ) END AS last_ended_on
        FROM {STAGE} s
        LEFT JOIN {member} m ON m.id_number_hash = s.id_number_hash
        LEFT JOIN {mobility} mob ON mob.member_id = m.id AND mob.ended_on IS NULL
        """
    )
    found = []
    cursor.execute(
        f"""
        SELECT row_number, stored_home_id, stored_status, last_ended_on, left_on FROM {PLAN}
        WHERE member_id IS NOT NULL AND (
            stored_status <> %(normal)s OR left_on < last_ended_on
            OR (%(scoped)s AND NOT stored_home_id = ANY(%(scope)s)))
        ORDER BY row_number
        """,
        {"normal": PartyStatus.NORMAL, "scoped": scoped, "scope": sorted(scope or ())},
    )
    for row_number, home_id, status, last_ended, left_on in cursor.fetchall():
        if scoped and home_id not in scope:
            found.append((row_number, "out_of_scope", home_id))
        elif status != PartyStatus.NORMAL:
            found.append((row_number, "standing", status))
        elif last_ended and left_on < last_ended:
            found.append((row_number, "left_before_return", last_ended))
    if found:
        cursor.execute(
            f"DELETE FROM {PLAN} WHERE row_number = ANY(%s)", [[number for number, *_r in found]]
        )
    cursor.execute(
        f"""
        SELECT count(*) FILTER (WHERE is_new),
               count(*) FILTER (WHERE NOT is_new AND (member_changed OR mobility_changed)),
               count(*) FILTER (WHERE NOT is_new AND NOT member_changed AND NOT mobility_changed)
        FROM {PLAN}
        """
    )
    created, updated, unchanged = cursor.fetchone()
    return {"created": created, "updated": updated, "unchanged": unchanged}, found


# ---------------------------------------------------------------------------------------------
# Writing


def _fast_trigger_checks(cursor) -> None:
    """Let the audit triggers skip their slow path for this transaction.

    django-pgtrigger's triggers first ask whether they are to be ignored by reading the setting
    ``pgtrigger.ignore``; when it was never set that read raises and the trigger catches the
    error, which costs about 0.15 ms per row. An empty list means the same — ignore nothing —
    without the error: every trigger still fires. An ignore list already set is left alone.
    """
    cursor.execute(
        "SELECT set_config('pgtrigger.ignore', '{}', true) "
        "WHERE coalesce(current_setting('pgtrigger.ignore', true), '') = ''"
    )


def _assign_member_ids(cursor) -> None:
    """Give the planned new members their ids, in file order, before they are written.

    The mobilities and the import's links then name their member by id, without joining the
    members table back on the ID number's hash for every batch.
    """
    member = _table(Member)
    cursor.execute(
        f"""
        UPDATE {PLAN} p SET member_id = n.id
        FROM (
            SELECT o.row_number, nextval(pg_get_serial_sequence('{member}', 'id')) AS id
            FROM (SELECT row_number FROM {PLAN} WHERE is_new ORDER BY row_number) o
        ) n
        WHERE p.row_number = n.row_number
        """
    )


def apply(cursor, *, import_id: int, present: set[str], today: datetime.date, now) -> None:
    """Write the planned rows: members, their current mobility, and the import's links."""
    _fast_trigger_checks(cursor)
    _assign_member_ids(cursor)
    member, mobility = _table(Member), _table(Mobility)
    member_fields = fields_for(MEMBER_FIELDS, present)
    mobility_fields = fields_for(MOBILITY_FIELDS, present)
    m_all = ("id_number", "id_number_hash", "id_tail", *MEMBER_FIELDS)
    m_cols = [_column(Member, f) for f in m_all]
    extra = ["party_status", "last_contact_on", "transferred_out_on", "transferred_to"]
    stamps = ["created_at", "updated_at"]
    # ON CONFLICT updates the changed members. A member someone adds through a form between
    # the plan and this statement is updated too, but the mobility below names the id planned
    # for them, so the import then fails at commit and writes nothing (it can be run again).
    cursor.execute(
        f"""
        INSERT INTO {member} AS m (id, {", ".join(m_cols + extra + stamps)})
        SELECT p.member_id, {", ".join(f"p.{f}" for f in m_all)}, %(normal)s, %(today)s, NULL,
               '', %(now)s, %(now)s
        FROM {PLAN} p
        WHERE p.is_new OR p.member_changed
        ORDER BY p.row_number
        ON CONFLICT ({_column(Member, "id_number_hash")}) DO UPDATE SET
            {_set(Member, member_fields)}, updated_at = EXCLUDED.updated_at
        WHERE {_distinct(Member, member_fields, "m", "EXCLUDED", other_named_by_field=False)}
        """,
        {"normal": PartyStatus.NORMAL, "today": today, "now": now},
    )
    # Registering an outflow counts as contact (member_register_outflow does the same).
    cursor.execute(
        f"""
        UPDATE {member} m
        SET last_contact_on = GREATEST(COALESCE(m.last_contact_on, %(today)s), %(today)s)
        FROM {PLAN} p
        WHERE p.member_id = m.id AND NOT p.is_new AND p.mobility_id IS NULL
          AND m.last_contact_on IS DISTINCT FROM
              GREATEST(COALESCE(m.last_contact_on, %(today)s), %(today)s)
        """,
        {"today": today},
    )
    b_all = MOBILITY_FIELDS
    b_cols = [_column(Mobility, f) for f in b_all]
    cursor.execute(
        f"""
        INSERT INTO {mobility} AS mob
            (member_id, {", ".join(b_cols)}, remarks, ended_on, end_kind, created_at, updated_at)
        SELECT p.member_id, {", ".join(f"p.{f}" for f in b_all)}, '', NULL, '', %(now)s, %(now)s
        FROM {PLAN} p
        WHERE p.mobility_changed
        ORDER BY p.row_number
        ON CONFLICT (member_id) WHERE ended_on IS NULL DO UPDATE SET
            {_set(Mobility, mobility_fields)}, updated_at = EXCLUDED.updated_at
        WHERE {_distinct(Mobility, mobility_fields, "mob", "EXCLUDED", other_named_by_field=False)}
        """,
        {"now": now},
    )
    cursor.execute(
        f"""
        INSERT INTO {_table(RosterImportMember)} (roster_import_id, member_id, action, row_number)
        SELECT %(import_id)s, p.member_id,
               CASE WHEN p.is_new THEN %(created)s ELSE %(updated)s END, p.row_number
        FROM {PLAN} p
        WHERE p.is_new OR p.member_changed OR p.mobility_changed
        ON CONFLICT (roster_import_id, member_id) DO NOTHING
        """,
        {"import_id": import_id, "created": LinkAction.CREATED, "updated": LinkAction.UPDATED},
    )


def analyze() -> None:
    """Refresh the planner's statistics of members and mobilities after a large import.

    PostgreSQL advises ANALYZE after a bulk load: until autovacuum gets to it, the planner
    still sees the tables as they were (empty, for a first import) and picks nested loops over
    whole tables for the next queries, the ledger export among them.
    """
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {_table(Member)}, {_table(Mobility)}")
