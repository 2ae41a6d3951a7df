"""Roster and organization imports. Views, commands and the Celery task call these.

An import is recorded first (:class:`RosterImport`), then runs in one transaction: a preview,
an import refused because of bad rows, or any failure leaves members and mobilities exactly as
they were; only the record of the import itself is kept. Members go through the bulk path of
``sql.py`` whatever the file's size; organizations (a few hundred rows) through
``branches.services``, one row at a time, in the order parents before children.
"""

from __future__ import annotations

import contextlib
import datetime
import heapq
import logging
import queue
import threading
import time
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pghistory
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.core.files.base import File
from django.db import DEFAULT_DB_ALIAS, connection, connections, transaction
from django.db.models import QuerySet
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from branches import services as org_services
from branches.choices import BranchType, OrgKind
from branches.constants import TREE_LOCK_KEY
from branches.models import LOCATION_NOT_A_CITY, Organization
from members.choices import PartyStatus
from members.models import LEFT_BEFORE_LAST_END, LOOKUP_KEY_NOT_APPLIED, Member
from members.validators import normalize_phone
from portal import regions
from portal.scoping import scope_for

from . import constants, schema, sql
from .choices import ImportKind, ImportStatus
from .exports import ledger_orgs
from .models import RosterImport
from .readers import RosterFileError, Table, open_table
from .schema import DATE_KEYS, MEMBER_SCHEMA, ORG_SCHEMA, ErrorCells, cell_text, display_value
from .validation import MemberRows, OrgDirectory, Problem

logger = logging.getLogger(__name__)

ProgressCallback = Callable[[int, int], None]
# After writing this many rows, refresh the planner's statistics of the tables (see sql.analyze).
ANALYZE_AFTER = 5000
# Rows staged, planned and written at a time, while the next ones are being read.
BATCH_ROWS = 5000
# Bad rows an import keeps with their problems and cells, for its reports; the others are
# counted. A file whose every row is bad (the wrong sheet, a shifted header) would otherwise
# hold millions of problems in memory and in one database row, and no one fixes them one by one.
REPORTED_BAD_ROWS = 10_000
# Runs of one queued import, the first included, before a worker dying under it fails it.
IMPORT_RUNS = 2
# Stored uploads of previews never confirmed are deleted after this long.
UPLOAD_RETENTION = datetime.timedelta(days=1)
# Why an import failed when its file was not at fault (the page does not say it was unreadable).
INTERNAL_ERROR = gettext_noop("导入失败：处理文件时发生内部错误，数据未作任何改动，请联系管理员")
INTERRUPTED_TWICE = gettext_noop(
    "导入处理两次中断（处理进程意外退出），数据未作任何改动，请重新上传或联系管理员"
)
UPLOAD_GONE = gettext_noop("上传的文件已不在服务器上，数据未作任何改动，请重新上传")
REGISTERED_MEANWHILE = gettext_noop(
    "导入期间有其他用户登记了文件中的党员，数据未作任何改动，请重新上传文件导入"
)
# The unique index a member registered through a form while an import adds them breaks: the
# import looked the ID number up before the form committed (forms do not wait for imports).
_REGISTERED_MEANWHILE_CONSTRAINTS = {"member_id_number_unique"}
ORG_CREATED_MEANWHILE = gettext_noop(
    "导入期间有其他用户新建了与文件中组织编码相同的党组织，数据未作任何改动，请重新上传文件导入"
)
_IMPORT_RUN_LOCK = 0x726F7375  # with the import's id: one run of an import at a time


# ---------------------------------------------------------------------------------------------
# Shared machinery


@dataclass
class _Outcome:
    """What came of the rows of one file, gathered while it is read."""

    problems: dict[int, list[Problem]] = field(default_factory=dict)  # by row number
    bad_rows: dict[int, list[str]] = field(default_factory=dict)  # row number -> cells as read
    # Bad rows beyond REPORTED_BAD_ROWS: counted, their problems and cells not kept. The rows
    # kept are the first of the file: ``listed`` holds their numbers, negated (a heap of the
    # highest), so that a row found bad later (a conflict with a stored member) but earlier
    # in the file takes the place of the last one listed.
    unlisted: int = 0
    listed: list[int] = field(default_factory=list)
    read: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    # Positions of the file's date columns: a date cell there is copied into the bad rows as
    # the day the import reads from it, which reads back (a time of day would not).
    date_columns: frozenset[int] = frozenset()

    def add(self, number: int, cells: list[Any], problems: list[Problem], width: int) -> None:
        if number in self.bad_rows:
            self.problems[number].extend(problems)
            return
        if len(self.bad_rows) >= REPORTED_BAD_ROWS:
            self.unlisted += 1
            if not self.listed or number > -self.listed[0]:
                return
            last = -heapq.heappop(self.listed)
            del self.bad_rows[last], self.problems[last]
        heapq.heappush(self.listed, -number)
        self.problems[number] = list(problems)
        shown = [display_value(c) for c in cells[:width]]
        for index in self.date_columns:
            if index < len(shown) and isinstance(cells[index], datetime.datetime):
                shown[index] = cells[index].date().isoformat()
        self.bad_rows[number] = shown + [""] * (width - len(shown))

    def dates_in(self, table: Table) -> None:
        self.date_columns = frozenset(i for k, i in table.columns.items() if k in DATE_KEYS)

    @property
    def bad(self) -> int:
        return len(self.bad_rows) + self.unlisted


class _Clock:
    """Seconds spent in each step of an import, for the log (and the benchmark)."""

    def __init__(self) -> None:
        self.start = self.last = time.perf_counter()
        self.laps: dict[str, float] = {}

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.laps[name] = now - self.last
        self.last = now

    @contextlib.contextmanager
    def adding(self, name: str):
        """Add the seconds spent in the block to ``name`` (steps repeated once per batch)."""
        started = time.perf_counter()
        try:
            yield
        finally:
            self.laps[name] = self.laps.get(name, 0.0) + time.perf_counter() - started

    def __str__(self) -> str:
        return ", ".join(f"{name} {seconds:.2f}s" for name, seconds in self.laps.items())


class _Progress:
    """Reports progress to a callback and onto the import's row.

    The import's own transaction is invisible to others until it commits, so the row is updated
    through a second connection (autocommit) — only when the record itself is committed, that
    is when the import is not nested in a caller's transaction.
    """

    def __init__(self, record: RosterImport, callback: ProgressCallback | None) -> None:
        self.record = record
        self.callback = callback
        self.to_row = record.pk is not None and not connection.in_atomic_block
        self.conn = None

    def __call__(self, done: int, total: int) -> None:
        self.record.progress, self.record.progress_total = done, max(total, done)
        if self.callback:
            self.callback(done, self.record.progress_total)
        if not self.to_row:
            return
        try:
            if self.conn is None:
                self.conn = connections.create_connection(DEFAULT_DB_ALIAS)
            with self.conn.cursor() as cursor:
                cursor.execute(
                    f"UPDATE {RosterImport._meta.db_table} "
                    "SET progress = %s, progress_total = %s WHERE id = %s",
                    [done, self.record.progress_total, self.record.pk],
                )
        except Exception:  # progress is a courtesy: never let it fail an import
            logger.exception("could not record the progress of roster import %s", self.record.pk)
            self.to_row = False

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None


class _Stopped(Exception):
    """The reading thread is told to stop (the import failed while writing)."""


class _Feeder:
    """Runs ``produce`` in a thread of its own and hands what it sends to the caller, in order.

    A roster is read and validated in Python while PostgreSQL writes the batches read before
    (psycopg2 releases the interpreter lock while a statement runs), so on two cores the two
    take the time of the slower one instead of their sum. Only the calling thread touches the
    import's database connection; the reading thread runs with the caller's language and time
    zone, and an exception raised there is raised again in the caller.
    """

    def __init__(self, produce: Callable[[Callable[[tuple], None]], None]) -> None:
        self.queue: queue.Queue[tuple] = queue.Queue(maxsize=4)
        self.stopping = threading.Event()
        language, zone = translation.get_language(), timezone.get_current_timezone()

        def run() -> None:
            try:
                with translation.override(language), timezone.override(zone):
                    produce(self._put)
                self._put(("end",))
            except _Stopped:
                pass
            except BaseException as exc:  # noqa: BLE001 - raised again by the caller
                with contextlib.suppress(_Stopped):
                    self._put(("error", exc))
            finally:
                connections.close_all()  # this thread's own, should anything have opened one

        self.thread = threading.Thread(target=run, name="roster-reader", daemon=True)
        self.thread.start()

    def _put(self, item: tuple) -> None:
        while True:
            if self.stopping.is_set():
                raise _Stopped
            try:
                self.queue.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def __iter__(self) -> Iterator[tuple]:
        while True:
            item = self.queue.get()
            if item[0] == "end":
                return
            if item[0] == "error":
                raise item[1]
            yield item

    def close(self) -> None:
        self.stopping.set()
        self.thread.join()


# What ``_counted`` sets on an import's record.
_COUNTED_FIELDS = [
    "status",
    "finished_at",
    "rows_read",
    "rows_bad",
    "rows_created",
    "rows_updated",
    "rows_unchanged",
    "rows_skipped",
    "progress",
    "progress_total",
]


def _counted(record: RosterImport, outcome: _Outcome, status: str, *, bad: int) -> None:
    """The outcome of an import in numbers, on its record (saved by the caller)."""
    record.status = status
    record.finished_at = timezone.now()
    record.rows_read = outcome.read
    record.rows_bad = bad
    record.rows_created = outcome.created
    record.rows_updated = outcome.updated
    record.rows_unchanged = outcome.unchanged
    record.rows_skipped = bad if status == ImportStatus.IMPORTED else 0
    record.progress = record.progress_total = max(record.progress_total, outcome.read)


def _finish(record: RosterImport, table: Table | None, outcome: _Outcome, status: str) -> None:
    _counted(record, outcome, status, bad=outcome.bad)
    problems = [p for number in sorted(outcome.problems) for p in outcome.problems[number]]
    record.errors = [list(p) for p in problems]
    if table is not None:
        reasons: dict[int, list[str]] = {}
        for problem in problems:
            reasons.setdefault(problem.row, []).append(problem.reason)
        record.bad_rows = {
            "headers": table.headers,
            "rows": [
                [number, cells, "；".join(reasons.get(number, ()))]
                for number, cells in sorted(outcome.bad_rows.items())
            ],
        }
    if outcome.unlisted:
        record.warnings = [
            *record.warnings,
            _(
                "错误行太多：错误清单和错误行只列出前 %(listed)d 行，另有 %(unlisted)d 个错误行"
                "未列出。请先检查文件是否选对、表头是否对齐，改正后重新导入"
            )
            % {"listed": len(outcome.bad_rows), "unlisted": outcome.unlisted},
        ]
    record.message = import_summary(record)
    record.save()


def _fail(record: RosterImport, message: str) -> RosterImport:
    record.status = ImportStatus.FAILED
    record.finished_at = timezone.now()
    record.message = message
    record.save()
    return record


def failed_reading(record: RosterImport) -> bool:
    """Whether a failed import failed because its file could not be read (else the server
    failed: a worker that died, an internal error, the stored upload gone)."""
    return record.status == ImportStatus.FAILED and record.message not in {
        _(INTERNAL_ERROR),
        _(INTERRUPTED_TWICE),
        _(UPLOAD_GONE),
        str(LOOKUP_KEY_NOT_APPLIED),
        _(REGISTERED_MEANWHILE),
        _(ORG_CREATED_MEANWHILE),
    }


def import_summary(record: RosterImport) -> str:
    """One Chinese sentence on what an import did (or would do)."""
    if record.status == ImportStatus.FAILED:
        return record.message
    counts = _(
        "读取 %(read)d 行：新增 %(created)d，更新 %(updated)d，未变 %(unchanged)d，错误 %(bad)d"
    ) % {
        "read": record.rows_read,
        "created": record.rows_created,
        "updated": record.rows_updated,
        "unchanged": record.rows_unchanged,
        "bad": record.rows_bad,
    }
    if record.status == ImportStatus.PREVIEWED:
        return _("预览（未写入）：%(counts)s") % {"counts": counts}
    if record.status == ImportStatus.REFUSED:
        return _(
            "%(counts)s。因有错误行，本次未导入任何数据；请修正后重新上传（上传或确认导入时"
            "可选择跳过错误行）"
        ) % {"counts": counts}
    if record.rows_skipped:
        return _("已导入：%(counts)s（%(skipped)d 个错误行已跳过）") % {
            "counts": counts,
            "skipped": record.rows_skipped,
        }
    return _("已导入：%(counts)s") % {"counts": counts}


def _audit_context(record: RosterImport):
    """Tag the audit trail's events of this import with the import, who made it and from
    which address (the browser's; none on the command line)."""
    return pghistory.context(
        roster_import=record.pk,
        user=record.user_id,
        username=record.operator,
        ip=record.ip_address,
    )


def _operator(user, operator: str = "") -> str:
    """Who an import is recorded as: the given name (the command line's), else the user's."""
    return operator or (user.get_username() if user is not None else "")


def _new_record(*, user=None, operator: str = "", **kwargs) -> RosterImport:
    return RosterImport.objects.create(
        status=ImportStatus.RUNNING,
        started_at=timezone.now(),
        user=user,
        operator=_operator(user, operator),
        **kwargs,
    )


def _status(dry_run: bool, bad: int, skip_invalid: bool) -> str:
    if dry_run:
        return ImportStatus.PREVIEWED
    if bad and not skip_invalid:
        return ImportStatus.REFUSED
    return ImportStatus.IMPORTED


# ---------------------------------------------------------------------------------------------
# Members


def roster_import(
    *,
    source,
    filename: str,
    user=None,
    operator: str = "",
    dry_run: bool = False,
    skip_invalid: bool = False,
    sheet: str | None = None,
    progress: ProgressCallback | None = None,
    upload_limit: bool = True,
    orgs: QuerySet | None = None,
) -> RosterImport:
    """Import (or with ``dry_run`` preview) a roster of members and their current mobility.

    ``source`` is a path, bytes or a binary file. By default a file with any bad row writes
    nothing; ``skip_invalid`` imports the good rows. A member whose ID number is already in the
    portal is updated, with their current mobility; an unchanged row is not written at all.
    ``upload_limit=False`` lifts the upload size limit (the command line does). ``orgs``, the
    organizations the user is responsible for (``import_scope(user)``),
    limits where rows may place members and which stored members they may update.
    Returns the import's record; an unreadable file gives status FAILED and its reason.
    """
    record = _new_record(
        kind=ImportKind.MEMBERS,
        filename=filename,
        user=user,
        operator=operator,
        dry_run=dry_run,
        skip_invalid=skip_invalid,
        sheet=sheet or "",
    )
    return _run_members(record, source, progress, upload_limit=upload_limit, orgs=orgs)


def import_scope(user) -> QuerySet[Organization]:
    """The organizations an import by ``user`` may write in: those whose ledgers they keep
    (county admin, committee staff), not every one they see. A second role without ledger
    rights (a branch secretary elsewhere) adds nothing, as it adds nothing to their exports:
    committee staff do not set up or rename organizations outside their committee's subtree,
    nor place members there."""
    if user is None:
        return Organization.objects.none()
    return ledger_orgs(scope_for(user))


def _run(
    importer,
    record: RosterImport,
    source,
    callback: ProgressCallback | None,
    *,
    upload_limit: bool = True,
    orgs: QuerySet | None = None,
) -> RosterImport:
    """Run ``importer`` (members or organizations) with progress reporting; an unreadable
    file becomes a FAILED record with its reason, anything unexpected a logged failure."""
    reporter = _Progress(record, callback)
    try:
        return importer(record, source, reporter, upload_limit=upload_limit, orgs=orgs)
    except RosterFileError as exc:
        return _fail(record, str(exc))
    except Exception as exc:
        meanwhile = _taken_meanwhile(exc)
        if meanwhile:
            logger.warning("%s import %s: %s", record.kind, record.pk, meanwhile)
            return _fail(record, meanwhile)
        logger.exception("%s import %s failed", record.kind, record.pk)
        _fail(record, _(INTERNAL_ERROR))
        raise
    finally:
        reporter.close()


def _taken_meanwhile(exc: Exception) -> str | None:
    """Why an import failed, when it failed on a unique index a form's write took meanwhile
    (psycopg's error, raised by COPY as it is, by other statements as the cause of Django's):
    a member registered, or an organization set up with one of the file's codes (forms do not
    wait for imports, see ``_import_orgs``); else None."""
    for error in (exc, exc.__cause__):
        name = getattr(getattr(error, "diag", None), "constraint_name", None)
        if not name:
            continue
        if name in _REGISTERED_MEANWHILE_CONSTRAINTS:
            return _(REGISTERED_MEANWHILE)
        if name in _org_code_indexes():
            return _(ORG_CREATED_MEANWHILE)
    return None


def _org_code_indexes() -> set[str]:
    """The names of the unique indexes on an organization's code (``unique=True``: PostgreSQL
    named it, branches_organization_code_key), read from the database."""
    table = Organization._meta.db_table
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, table)
    return {
        name
        for name, info in constraints.items()
        if info["unique"] and not info["primary_key"] and info["columns"] == ["code"]
    }


def _run_members(record: RosterImport, source, callback, **kwargs) -> RosterImport:
    return _run(_import_members, record, source, callback, **kwargs)


def _run_orgs(record: RosterImport, source, callback, **kwargs) -> RosterImport:
    return _run(_import_orgs, record, source, callback, **kwargs)


class _BatchWriter:
    """Plans and writes the batches of valid rows of one member roster, in its transaction.

    Members the database does not hold go straight in with COPY; the others are staged and
    planned against what is stored (sql.py), and when most of a batch is stored, the next
    batch is staged whole. Batches are written as they come while the import can still
    succeed; once a bad row means it cannot (or for a preview), the rest is only planned, for
    the counts.
    """

    def __init__(self, cursor, record: RosterImport, *, present, scope, today, clock: _Clock):
        self.cursor, self.record, self.clock = cursor, record, clock
        self.present, self.scope, self.today = present, scope, today
        self.now = timezone.now()
        self.writing = not record.dry_run
        self.mostly_stored = False
        self.counts = {"created": 0, "updated": 0, "unchanged": 0}
        self.conflicts: list[tuple[int, str, object]] = []

    def _plan(self):
        return sql.plan(
            self.cursor, present=self.present, scope=self.scope, assign_ids=self.writing
        )

    def __call__(self, *, batch: list[sql.Staged], bad: int) -> None:
        cursor, planned, fresh, staged = self.cursor, None, [], batch
        with self.clock.adding("plan"):
            if not self.mostly_stored:
                known = sql.stored(cursor, batch)
                fresh = [row for row in batch if row.id_number_hash not in known]
                staged = [row for row in batch if row.id_number_hash in known]
                self.counts["created"] += len(fresh)
            if staged:
                sql.stage(cursor, staged)
                planned, found = self._plan()
                # The members it would write, locked, then planned again: a form's change
                # committed meanwhile is seen, not written over (sql.lock_members). Again
                # until every member it would write is locked (a form may have changed one
                # planned unchanged); members left alone, as in a file imported again, are
                # never locked.
                locked: set[int] = set()
                while self.writing and (writes := sql.planned_writes(cursor) - locked):
                    sql.lock_members(cursor, writes)
                    locked |= writes
                    sql.replan(cursor)
                    planned, found = self._plan()
                self.conflicts += found
                for key, value in planned.items():
                    self.counts[key] += value
            # A file that mostly updates stored members (a roster imported again) skips the
            # separate lookup of the next batch: the plan looks members up anyway.
            self.mostly_stored = len(fresh) + (planned or {}).get("created", 0) < len(batch) / 2
        if (bad or self.conflicts) and not self.record.skip_invalid:
            self.writing = False
        if not self.writing:
            return
        with self.clock.adding("write"):
            stamps = {"import_id": self.record.pk, "today": self.today, "now": self.now}
            if fresh:
                sql.insert_new(cursor, fresh, **stamps)
            if planned and planned["created"] + planned["updated"]:
                sql.apply(cursor, present=self.present, updates=bool(planned["updated"]), **stamps)


def _import_members(
    record: RosterImport, source, reporter: _Progress, *, upload_limit: bool, orgs
) -> RosterImport:
    if Member.objects.hashed_under_another_lookup_key():
        # Every stored member would be read as new: refused before the file is even opened.
        return _fail(record, str(LOOKUP_KEY_NOT_APPLIED))
    outcome = _Outcome()
    with open_table(
        source,
        filename=record.filename,
        schema=MEMBER_SCHEMA,
        sheet=record.sheet or None,
        upload_limit=upload_limit,
    ) as table:
        record.warnings = table.warnings
        outcome.dates_in(table)
        headers = {key: table.header_of(key, MEMBER_SCHEMA) for key in table.columns}
        present = set(table.columns)
        width = len(table.headers)
        reporter(0, table.total_rows)

        line = sql.CopyFormatter()

        def read(send: Callable[[tuple], None]) -> None:
            """Validate the rows; send batches of good ones in COPY's format, and progress."""
            every = constants.PROGRESS_EVERY
            batch: list[sql.Staged] = []
            for number, cells in table.rows:
                outcome.read += 1
                row, problems = validator.check(number, table.values(cells))
                if row is None:
                    outcome.add(number, cells, problems, width)
                else:
                    batch.append(line(row))
                    if len(batch) >= BATCH_ROWS:
                        send(("rows", batch, outcome.bad))
                        batch = []
                if outcome.read % every == 0:
                    send(("progress", outcome.read))
            if batch:
                send(("rows", batch, outcome.bad))
            clock.lap("read")

        clock = _Clock()
        with (
            transaction.atomic(),
            connection.cursor() as cursor,
            _audit_context(record) as trail,
        ):
            sql.create_stage(cursor, trail)
            # Read under the import lock, which changes to the organization tree take too: rows
            # are judged by the tree the import writes into, not by one changed meanwhile.
            scope = None if orgs is None else set(orgs.values_list("pk", flat=True))
            validator = MemberRows(headers=headers, present=present, orgs=OrgDirectory(scope=scope))
            writer = _BatchWriter(
                cursor, record, present=present, scope=scope, today=validator.today, clock=clock
            )
            feeder = _Feeder(read)
            try:
                for item in feeder:
                    if item[0] == "progress":
                        reporter(item[1], table.total_rows)
                    else:
                        writer(batch=item[1], bad=item[2])
            finally:
                feeder.close()
            counts, conflicts = writer.counts, writer.conflicts
            reporter(outcome.read, outcome.read)
            status = _status(record.dry_run, outcome.bad + len(conflicts), record.skip_invalid)
            outcome.created = counts["created"]
            outcome.updated = counts["updated"]
            outcome.unchanged = counts["unchanged"]
            if status != ImportStatus.IMPORTED:
                transaction.set_rollback(True)
            elif not conflicts:
                # Finished in the transaction that writes its rows: a worker dying after the
                # commit (in sql.analyze) must not leave it running, to be run again and to
                # report every row it wrote as unchanged.
                _finish(record, table, outcome, status)
            else:
                _mark_imported(record, outcome, len(conflicts))
            clock.last = time.perf_counter()
        clock.lap("commit")
        clock.laps["total"] = clock.last - clock.start
        logger.info(
            "roster import %s: %d rows (%d judged by the models); %s "
            "(reading overlaps planning and writing)",
            record.pk,
            outcome.read,
            validator.model_checked,
            clock,
        )
    if status == ImportStatus.IMPORTED and counts["created"] + counts["updated"] >= ANALYZE_AFTER:
        sql.analyze()
    if conflicts:
        _add_conflicts(record, source, validator, conflicts, outcome, width, upload_limit)
    if status != ImportStatus.IMPORTED or conflicts:
        _finish(record, table, outcome, status)
    return record


def _mark_imported(record: RosterImport, outcome: _Outcome, conflicts: int) -> None:
    """Record an import with conflicts as done in the transaction that writes its rows (see
    ``_import_members``); ``_finish`` adds the problems and the bad rows once the conflicting
    rows have been read again, after the commit."""
    _counted(record, outcome, ImportStatus.IMPORTED, bad=outcome.bad + conflicts)
    record.message = import_summary(record)
    record.save(update_fields=[*_COUNTED_FIELDS, "message"])


def _add_conflicts(
    record, source, validator, conflicts, outcome: _Outcome, width: int, upload_limit: bool
) -> None:
    """Rows the stored members' state refuses; their cells are read again from the file."""
    wanted = {number: (problem, detail) for number, problem, detail in conflicts}
    with open_table(
        source,
        filename=record.filename,
        schema=MEMBER_SCHEMA,
        sheet=record.sheet or None,
        upload_limit=upload_limit,
    ) as table:
        for number, cells in table.rows:
            if number not in wanted:
                continue
            problem, detail = wanted.pop(number)
            raw = table.values(cells)
            if problem == "out_of_scope":
                # Which organization holds them is not said: outside one's scope a member is
                # not to be seen, and a roster must not become a way to look them up.
                key = "id_number"
                reason = _(
                    "该身份证号已登记在您管辖范围以外的党组织，不能通过此登记表更新，"
                    "请联系上级组织部门核实"
                )
            elif problem == "standing":
                key = "id_number"
                reason = _("该党员党籍状态为“%(status)s”，不能通过登记表更新") % {
                    "status": PartyStatus(detail).label
                }
            else:
                key = "left_on"
                reason = validator.month_read(
                    key, str(LEFT_BEFORE_LAST_END % {"date": detail}), raw
                )
            problems = [Problem(number, validator.column(key), display_value(raw.get(key)), reason)]
            outcome.add(number, cells, problems, width)
            if not wanted:
                break


# ---------------------------------------------------------------------------------------------
# Uploads from the browser: stored, then run by a Celery job


def roster_import_start(
    *,
    upload: File,
    filename: str | None = None,
    user=None,
    kind: str = ImportKind.MEMBERS,
    dry_run: bool = False,
    skip_invalid: bool = False,
    sheet: str | None = None,
    scoped: bool = True,
    ip_address: str | None = None,
) -> RosterImport:
    """Keep an uploaded file under MEDIA_ROOT/rosters/ and queue its import (after commit).

    The import is limited to what ``user`` is responsible for unless ``scoped`` is False. The
    stored file is deleted once a real import of it has run (a preview keeps it for the
    confirmation; ``roster_uploads_purge`` removes those never confirmed).
    """
    from .tasks import run_roster_import  # the task module imports this one

    filename = filename or getattr(upload, "name", "") or "roster"
    record = RosterImport(
        kind=kind,
        filename=filename,
        user=user,
        operator=_operator(user),
        ip_address=ip_address,
        dry_run=dry_run,
        skip_invalid=skip_invalid,
        sheet=sheet or "",
        scoped=scoped,
        status=ImportStatus.PENDING,
    )
    record.file.save(filename, upload, save=False)
    record.save()
    transaction.on_commit(lambda: run_roster_import.delay(record.pk))
    return record


def roster_import_confirm(
    *,
    preview: RosterImport,
    user=None,
    skip_invalid: bool | None = None,
    ip_address: str | None = None,
) -> RosterImport:
    """After a preview, queue the real import of the same stored file."""
    from .tasks import run_roster_import

    user = user or preview.user
    record = RosterImport.objects.create(
        kind=preview.kind,
        filename=preview.filename,
        file=preview.file.name,
        preview=preview,
        sheet=preview.sheet,
        user=user,
        operator=_operator(user) or preview.operator,
        ip_address=ip_address or preview.ip_address,
        scoped=preview.scoped,
        dry_run=False,
        skip_invalid=preview.skip_invalid if skip_invalid is None else skip_invalid,
        status=ImportStatus.PENDING,
    )
    transaction.on_commit(lambda: run_roster_import.delay(record.pk))
    return record


def roster_import_run(*, import_id: int, progress: ProgressCallback | None = None) -> RosterImport:
    """Run a queued import. Safe to run twice: a finished import, or one running elsewhere,
    is left alone; one whose worker died is run again (its transaction was rolled back), up
    to ``IMPORT_RUNS`` runs in all, then failed: a file that kills its worker every time must
    not come back forever."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", [_IMPORT_RUN_LOCK, import_id])
        (locked,) = cursor.fetchone()
    if not locked:
        return RosterImport.objects.get(pk=import_id)
    try:
        record = RosterImport.objects.select_related("user").get(pk=import_id)
        if record.is_finished:
            return record
        if record.runs >= IMPORT_RUNS:
            failed = _fail(
                record,
                _(INTERRUPTED_TWICE),
            )
            _forget_upload(record)  # nothing will read it: a failed preview is not confirmed
            return failed
        record.status = ImportStatus.RUNNING
        record.started_at = timezone.now()
        record.progress = 0
        record.runs += 1
        record.save(update_fields=["status", "started_at", "progress", "runs"])
        if not record.file or not record.file.storage.exists(record.file.name):
            # Never stored, or deleted since (by hand, a restored backup without the uploads):
            # the user's fault no more than an internal error; the record forgets the name.
            _forget_upload(record)
            return _fail(record, _(UPLOAD_GONE))
        orgs = None
        if record.scoped:
            orgs = import_scope(record.user)
        try:
            if record.kind == ImportKind.ORGANIZATIONS:
                return _run_orgs(record, record.file, progress, orgs=orgs)
            return _run_members(record, record.file, progress, orgs=orgs)
        finally:
            if not record.dry_run:
                _forget_upload(record)
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [_IMPORT_RUN_LOCK, import_id])


def _run_lock_held(cursor, import_id: int) -> bool:
    """Whether some session holds the run lock of an import (a worker is running it)."""
    cursor.execute(
        "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted"
        " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
        " AND classid = %s AND objid = %s AND objsubid = 2)",
        [_IMPORT_RUN_LOCK, import_id],
    )
    return cursor.fetchone()[0]


def roster_import_interrupted(record: RosterImport) -> bool:
    """A queued import marked running whose worker is gone (killed, out of memory, the machine
    restarted): no session holds its run lock. Its transaction was rolled back; the broker
    gives its message back only after its visibility timeout (an hour on Redis), so
    ``roster_imports_resume`` queues it again meanwhile."""
    if record.status != ImportStatus.RUNNING or not record.file:
        return False  # the command line's imports run without the lock and without a file
    with connection.cursor() as cursor:
        if _run_lock_held(cursor, record.pk):
            return False
    # Finished between the two reads: the lock is released after the record is saved.
    return (
        RosterImport.objects.filter(pk=record.pk, status=ImportStatus.RUNNING)
        .exclude(file="")
        .exists()
    )


def _advisory_lock(alias: str, kind: str) -> str:
    """SQL matching in pg_locks (as ``alias``) an advisory lock of this database: an import's
    run lock (``pg_try_advisory_lock(int, int)``: objsubid 2, the import's id in objid) or
    the tree lock (``pg_advisory_xact_lock(bigint)``: objsubid 1, the key split in two)."""
    condition = (
        f"{alias}.locktype = 'advisory' AND {alias}.database = "
        "(SELECT oid FROM pg_database WHERE datname = current_database())"
    )
    if kind == "run":
        return f"{condition} AND {alias}.classid = %(run)s AND {alias}.objsubid = 2"
    key = f"{alias}.classid = 0 AND {alias}.objid = %(tree)s"
    return f"{condition} AND {key} AND {alias}.objsubid = 1"


def roster_import_waiting(record: RosterImport) -> bool:
    """Whether a queued import waits for another import, or a change of the organization tree,
    to finish (they run one at a time, see ``sql.create_stage``): its worker holds its run lock
    and waits for the tree lock; or it is still pending while another import's run lock, or
    the tree lock, is held (every worker is busy with them). A pending import that nothing
    runs beside has no worker to pick it up: the page says so (``RosterImport.stalled``)."""
    if record.status == ImportStatus.RUNNING:
        query = (
            "SELECT EXISTS (SELECT 1 FROM pg_locks AS own JOIN pg_locks AS tree USING (pid)"
            f" WHERE {_advisory_lock('own', 'run')} AND own.objid = %(id)s AND own.granted"
            f" AND {_advisory_lock('tree', 'tree')} AND NOT tree.granted)"
        )
    elif record.status == ImportStatus.PENDING:
        query = (
            "SELECT EXISTS (SELECT 1 FROM pg_locks AS other WHERE other.granted AND"
            f" (({_advisory_lock('other', 'run')} AND other.objid <> %(id)s)"
            f" OR ({_advisory_lock('other', 'tree')})))"
        )
    else:
        return False
    with connection.cursor() as cursor:
        cursor.execute(query, {"run": _IMPORT_RUN_LOCK, "tree": TREE_LOCK_KEY, "id": record.pk})
        return cursor.fetchone()[0]


def roster_imports_resume() -> int:
    """Queue again the imports whose worker died while running them (see
    ``roster_import_interrupted``); ``roster_import_run`` runs each once more, or fails it
    after ``IMPORT_RUNS`` runs. Returns how many were queued (Celery beat, every minute)."""
    from .tasks import run_roster_import

    queued = 0
    candidates = RosterImport.objects.filter(status=ImportStatus.RUNNING).exclude(file="")
    for pk in candidates.values_list("pk", flat=True):
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", [_IMPORT_RUN_LOCK, pk])
            (locked,) = cursor.fetchone()
            if not locked:
                continue  # a worker is running it
            try:
                lost = RosterImport.objects.filter(pk=pk, status=ImportStatus.RUNNING).exists()
            finally:
                cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [_IMPORT_RUN_LOCK, pk])
        if lost:
            logger.warning("roster import %s lost its worker: queued again", pk)
            run_roster_import.delay(pk)
            queued += 1
    return queued


def _forget_upload(record: RosterImport) -> None:
    """Delete a stored roster (it holds ID numbers in the clear) once it is no longer needed."""
    name = record.file.name
    if (
        name
        and not RosterImport.objects.filter(
            file=name, status__in=(ImportStatus.PENDING, ImportStatus.RUNNING)
        )
        .exclude(pk=record.pk)
        .exists()
    ):
        record.file.storage.delete(name)
    RosterImport.objects.filter(file=name).update(file="")
    record.file = ""


def roster_uploads_purge(*, older_than: datetime.timedelta = UPLOAD_RETENTION) -> int:
    """Delete stored rosters of finished imports older than ``older_than`` (previews that were
    never confirmed, imports whose worker died); returns how many files were deleted."""
    cutoff = timezone.now() - older_than
    stale = (
        RosterImport.objects.exclude(file="")
        .filter(created_at__lt=cutoff)
        .exclude(status__in=(ImportStatus.PENDING, ImportStatus.RUNNING))
    )
    deleted = 0
    for name in set(stale.values_list("file", flat=True)):
        if RosterImport.objects.filter(
            file=name, status__in=(ImportStatus.PENDING, ImportStatus.RUNNING)
        ).exists():
            continue
        storage = RosterImport._meta.get_field("file").storage
        if storage.exists(name):
            storage.delete(name)
            deleted += 1
        RosterImport.objects.filter(file=name).update(file="")
    return deleted


# ---------------------------------------------------------------------------------------------
# Organizations


@dataclass
class _OrgRow:
    number: int
    cells: list[Any]
    raw: dict[str, Any]
    values: dict[str, Any] = field(default_factory=dict)
    problems: list[tuple[str | None, str]] = field(default_factory=list)


_ORG_KEY_OF_FIELD = {
    "code": "code",
    "name": "name",
    "kind": "kind",
    "branch_type": "branch_type",
    "parent": "parent_code",
    "location_code": "location",
    "host_unit": "host_unit",
    "phone": "phone",
    "established_on": "established_on",
    "planned_end_on": "planned_end_on",
}
# Which column a check constraint's message belongs to.
_ORG_KEY_OF_CONSTRAINT = {
    "org_branch_type_only_for_branches": "branch_type",
    "org_temporary_needs_planned_end": "planned_end_on",
    "org_planned_end_after_established": "planned_end_on",
}


def organization_import(
    *,
    source,
    filename: str,
    user=None,
    operator: str = "",
    dry_run: bool = False,
    skip_invalid: bool = False,
    sheet: str | None = None,
    progress: ProgressCallback | None = None,
    upload_limit: bool = True,
    orgs: QuerySet | None = None,
) -> RosterImport:
    """Import (or preview) an organization tree; an existing code updates that organization.

    Parents may come after their children in the file; a missing parent or a cycle is an error
    on the rows concerned. Each row goes through ``branches.services``, so every rule of the
    tree applies; the branch type changes through ``organization_change_branch_type`` (kept in
    the branch's history) and the parent through ``organization_move``. ``orgs``, the
    organizations the user is responsible for, limits which may be changed and hung under.
    """
    record = _new_record(
        kind=ImportKind.ORGANIZATIONS,
        filename=filename,
        user=user,
        operator=operator,
        dry_run=dry_run,
        skip_invalid=skip_invalid,
        sheet=sheet or "",
    )
    return _run_orgs(record, source, progress, upload_limit=upload_limit, orgs=orgs)


def _org_header(table: Table, key: str | None) -> str:
    return _("整行") if key is None else table.header_of(key, ORG_SCHEMA)


def _import_orgs(
    record: RosterImport, source, reporter: _Progress, *, upload_limit: bool, orgs
) -> RosterImport:
    outcome = _Outcome()
    with open_table(
        source,
        filename=record.filename,
        schema=ORG_SCHEMA,
        sheet=record.sheet or None,
        upload_limit=upload_limit,
    ) as table:
        record.warnings = table.warnings
        outcome.dates_in(table)
        rows = [_OrgRow(n, cells, table.values(cells)) for n, cells in table.rows]
    outcome.read = len(rows)
    reporter(0, len(rows))
    present = set(table.columns)

    with transaction.atomic():
        # The organizations stored are read once imports and changes to the tree under way
        # have committed: another import's new codes are then updated, not created twice.
        # Setting up an organization does not wait for imports (a form would wait for a long
        # roster import): one set up meanwhile with a code the file creates fails the import
        # on the code's unique index, which says so (ORG_CREATED_MEANWHILE).
        org_services.organization_tree_lock()
        existing = {org.code: org for org in Organization.objects.select_related("parent")}
        by_code: dict[str, _OrgRow] = {}
        for row in rows:
            row.values, row.problems = parse_org_row(row.raw, present=present, existing=existing)
            code = row.values.get("code")
            if code:
                if code in by_code:
                    number = by_code[code].number
                    row.problems.append(
                        ("code", _("与第 %(row)d 行的组织编码重复") % {"row": number})
                    )
                else:
                    by_code[code] = row
        if orgs is not None:
            _check_org_scope(rows, by_code, existing, set(orgs.values_list("pk", flat=True)))
        order = _parents_first(rows, by_code, existing)
        done: dict[str, Organization] = {}
        with _audit_context(record):
            for index, row in enumerate(order, start=1):
                if not row.problems:
                    _write_org(row, by_code, existing, done, outcome, present)
                reporter(index, len(rows))
        bad = sum(1 for row in rows if row.problems)
        status = _status(record.dry_run, bad, record.skip_invalid)
        width = len(table.headers)
        for row in rows:
            if row.problems:
                problems = [
                    Problem(
                        row.number, _org_header(table, key), display_value(row.raw.get(key)), msg
                    )
                    for key, msg in dict.fromkeys(row.problems)
                ]
                outcome.add(row.number, row.cells, problems, width)
        if status == ImportStatus.IMPORTED:
            # Finished in the transaction that writes its rows, as a member import is: a
            # worker dying after the commit must not leave it running, to be run again and to
            # report every row it wrote as unchanged.
            _finish(record, table, outcome, status)
        else:
            transaction.set_rollback(True)
    if status != ImportStatus.IMPORTED:
        _finish(record, table, outcome, status)
    return record


def _kind_named_by(name: str) -> str:
    """The organization kind a name ends with (…党支部, …党委), or ""."""
    for label, kind in schema.org_kind_values().items():
        if name.endswith(label):
            return kind
    return ""


def parse_org_row(
    raw: dict[str, Any],
    *,
    present: set[str] | None = None,
    existing: dict[str, Organization] | None = None,
) -> tuple[dict[str, Any], list[tuple[str | None, str]]]:
    """An organization row's values, read with the template's rules, and its problems as
    (column key, reason); the rules of the tree itself are checked when the row is written.

    ``present``, the column keys of the file, and ``existing``, the stored organizations by
    code: a file without 组织类别, 支部类型 or 计划撤销日期 leaves them as stored for the
    organizations it updates, and their rules are checked with the stored values."""
    values: dict[str, Any] = {}
    problems: list[tuple[str | None, str]] = []
    cell_errors = schema.cell_error_problems(raw) if type(raw) is ErrorCells else {}
    if cell_errors:  # read as empty, and refused as what they are
        raw = {**raw, **dict.fromkeys(cell_errors)}

    def text(
        key: str, *, required: bool = False, max_length: int | None = None, fold: bool = False
    ) -> str:
        value = cell_text(raw.get(key))
        if fold:
            # Codes are typed by hand: full-width letters and digits (Ｗ００１, from a Chinese
            # input method) and spaces are folded, as roster files' organization columns are
            # read (validation.OrgDirectory), so that the code stored is the one rosters name.
            value = "".join(unicodedata.normalize("NFKC", value).split())
        if required and not value:
            problems.append(
                (key, _("请填写%(column)s") % {"column": ORG_SCHEMA.column(key).header})
            )
        elif max_length and len(value) > max_length:
            problems.append(
                (
                    key,
                    _("%(column)s最多 %(max)d 个字，这里有 %(n)d 个字")
                    % {"column": ORG_SCHEMA.column(key).header, "max": max_length, "n": len(value)},
                )
            )
        return value

    field_length = {f.name: f.max_length for f in Organization._meta.fields if f.max_length}
    values["code"] = text("code", required=True, max_length=field_length["code"], fold=True)
    values["name"] = text("name", required=True, max_length=field_length["name"])
    values["parent_code"] = text("parent_code", fold=True)
    values["host_unit"] = text("host_unit", max_length=field_length["host_unit"])
    for key, choices in (
        ("kind", schema.org_kind_values()),
        ("branch_type", schema.branch_type_values()),
    ):
        try:
            values[key] = schema.parse_choice(
                raw.get(key), choices, header=ORG_SCHEMA.column(key).header
            )
        except ValidationError as exc:
            problems.append((key, exc.messages[0]))
            values[key] = None
    stored = None
    if present is not None and existing is not None:
        stored = existing.get(values["code"])
    if stored is not None and "kind" not in present:
        values["kind"] = stored.kind
    if stored is not None and "branch_type" not in present and values["kind"] == stored.kind:
        values["branch_type"] = stored.branch_type
    if values["kind"] == "" and not any(k == "kind" for k, _m in problems):
        # No 组织类别 (the column is optional): the name says it when it ends with one, as in
        # 南村党支部 or 解店镇党委; otherwise the row must say.
        values["kind"] = _kind_named_by(values["name"])
        if not values["kind"]:
            problems.append(
                (
                    "kind",
                    _("请填写组织类别（党委、党工委、党总支、党支部或党小组）：名称没有以它结尾"),
                )
            )
    if values["kind"] and values["kind"] != OrgKind.BRANCH and values["branch_type"]:
        problems.append(("branch_type", _("只有党支部填写支部类型")))
    if values["kind"] == OrgKind.BRANCH and values["branch_type"] == "":
        problems.append(("branch_type", _("党支部须填写支部类型（建制型、联合、功能型或临时）")))
    for key in ("established_on", "planned_end_on"):
        try:
            values[key] = schema.parse_date(raw.get(key))
        except ValidationError as exc:
            problems.append((key, exc.messages[0]))
            values[key] = None
        if stored is not None and key not in present:
            values[key] = getattr(stored, key)
    if (
        values.get("branch_type") == BranchType.TEMPORARY
        and values.get("planned_end_on") is None
        and not any(k == "planned_end_on" for k, _m in problems)
    ):
        problems.append(("planned_end_on", _("临时党支部必须填写计划撤销日期")))
    location = cell_text(raw.get("location"))
    values["location_code"] = ""
    if location:
        try:
            region = regions.parse_place(location)
            if not regions.is_city_level_or_below(region):
                raise ValidationError(LOCATION_NOT_A_CITY)  # Organization.clean's rule
            values["location_code"] = region.code
        except ValidationError as exc:
            problems.append(("location", exc.messages[0]))
    phone = cell_text(raw.get("phone"))
    values["phone"] = ""
    if phone:
        try:
            values["phone"] = normalize_phone(raw.get("phone"))
        except ValidationError as exc:
            problems.append(("phone", exc.messages[0]))
    if cell_errors:
        problems = [p for p in problems if p[0] not in cell_errors] + list(cell_errors.items())
    return values, problems


def _check_org_scope(
    rows: list[_OrgRow],
    by_code: dict[str, _OrgRow],
    existing: dict[str, Organization],
    scope: set[int],
) -> None:
    """A user changes only organizations they are responsible for, and adds only below them."""
    for row in rows:
        code, parent = row.values.get("code"), row.values.get("parent_code")
        if code in existing and existing[code].pk not in scope:
            row.problems.append(
                (
                    "code",
                    _("组织编码“%(code)s”属于您管辖范围以外的党组织，不能修改") % {"code": code},
                )
            )
        if not parent and code not in existing:
            row.problems.append(
                ("parent_code", _("请填写上级组织编码：只能在您管辖的党组织下新建组织"))
            )
        elif (
            parent not in by_code
            and parent in existing
            and existing[parent].pk not in scope
            and (code not in existing or existing[code].parent_id != existing[parent].pk)
        ):
            row.problems.append(
                ("parent_code", _("上级组织“%(code)s”不在您的管辖范围内") % {"code": parent})
            )


def _parents_first(
    rows: list[_OrgRow], by_code: dict[str, _OrgRow], existing: dict[str, Organization]
) -> list[_OrgRow]:
    """Rows ordered so that a parent in the file comes before its children (Kahn's algorithm).

    A parent code found neither in the file nor in the portal, and a cycle, are row errors.
    """
    children: dict[str, list[_OrgRow]] = {}
    ready: list[_OrgRow] = []
    for row in rows:
        parent = row.values.get("parent_code")
        if parent and by_code.get(parent) is not row and parent in by_code:
            children.setdefault(parent, []).append(row)
        elif parent and parent == row.values.get("code"):
            row.problems.append(("parent_code", _("上级组织编码不能是本组织自己的编码")))
            ready.append(row)
        else:
            if parent and parent not in existing:
                row.problems.append(
                    (
                        "parent_code",
                        _("本文件和系统中都没有组织编码为“%(code)s”的上级组织") % {"code": parent},
                    )
                )
            ready.append(row)
    order: list[_OrgRow] = []
    while ready:
        row = ready.pop(0)
        order.append(row)
        if by_code.get(row.values.get("code")) is row:
            ready.extend(children.pop(row.values["code"], []))
    placed = {id(row) for row in order}
    for row in rows:
        if id(row) in placed:
            continue
        # Not reached from any root: the row is in a cycle, or below one.
        chain, code = [], row.values.get("code")
        while code and code not in chain:
            chain.append(code)
            code = by_code[code].values.get("parent_code") if code in by_code else None
        if code == row.values.get("code"):
            cycle = " → ".join([*chain, code])
            row.problems.append(
                ("parent_code", _("上级组织关系形成循环：%(cycle)s") % {"cycle": cycle})
            )
        else:
            row.problems.append(("parent_code", _("上级组织处在循环的上下级关系中，无法导入")))
        order.append(row)
    return order


def org_problems(exc: ValidationError) -> list[tuple[str | None, str]]:
    """A ValidationError of branches.services as (column key, reason)."""
    constraint_key = {
        str(c.violation_error_message): _ORG_KEY_OF_CONSTRAINT.get(c.name)
        for c in Organization._meta.constraints
    }
    problems = []
    for field_name, messages in (
        exc.message_dict.items()
        if hasattr(exc, "error_dict")
        else [(NON_FIELD_ERRORS, exc.messages)]
    ):
        for message in messages:
            key = _ORG_KEY_OF_FIELD.get(field_name) or constraint_key.get(message)
            problems.append((key, message))
    return problems


def _write_org(
    row: _OrgRow,
    by_code: dict[str, _OrgRow],
    existing: dict[str, Organization],
    done: dict[str, Organization],
    outcome: _Outcome,
    present: set[str],
) -> None:
    v = row.values
    parent_code = v["parent_code"]
    parent = None
    org = existing.get(v["code"])
    if org is not None and "parent_code" not in present:
        parent = org.parent  # a file without 上级组织编码 leaves the tree as it is
    elif parent_code:
        parent_row = by_code.get(parent_code)
        if parent_row is not None and parent_row is not row:
            parent = done.get(parent_code)
            if parent is None:
                row.problems.append(
                    (
                        "parent_code",
                        _("上级组织（第 %(row)d 行）有错误，本行未导入")
                        % {"row": parent_row.number},
                    )
                )
                return
        else:
            parent = done.get(parent_code) or existing[parent_code]
    fields = {
        "name": v["name"],
        "kind": v["kind"],
        "location_code": v["location_code"],
        "host_unit": v["host_unit"],
        "phone": v["phone"],
        "established_on": v["established_on"],
        "planned_end_on": v["planned_end_on"],
    }
    if org is not None:
        # Like a roster without 学历, a file without an optional column leaves that field
        # of the organizations it updates alone.
        fields = {k: value for k, value in fields.items() if _ORG_KEY_OF_FIELD[k] in present}
    try:
        with transaction.atomic():
            if org is None:
                org = org_services.organization_create(
                    code=v["code"], parent=parent, branch_type=v["branch_type"] or "", **fields
                )
                outcome.created += 1
            else:
                org = _update_org(org, parent, v["branch_type"] or "", fields, outcome)
    except ValidationError as exc:
        row.problems.extend(org_problems(exc))
        return
    done[v["code"]] = org


@contextlib.contextmanager
def _errors_on(field_name: str):
    """Attribute a service's message without a field to ``field_name``."""
    try:
        yield
    except ValidationError as exc:
        if hasattr(exc, "error_dict"):
            raise
        raise ValidationError({field_name: exc.messages}) from exc


def _update_org(
    org: Organization, parent: Organization | None, branch_type: str, fields: dict, outcome
) -> Organization:
    changed = False
    # Before the branch type: a 党委 given as a 党支部 is told that, not that a 党委 has no type.
    org_services.check_kind_change(org, fields.get("kind", org.kind))
    if branch_type != org.branch_type:
        with _errors_on("branch_type"):
            org_services.organization_change_branch_type(
                org=org,
                to_type=branch_type,
                planned_end_on=fields.get("planned_end_on", org.planned_end_on),
                reason=_("组织架构表导入"),
            )
        org.refresh_from_db()
        changed = True
    if (parent.pk if parent else None) != org.parent_id:
        if parent is None:
            raise ValidationError({"parent": [_("已有组织不能改为根组织，请填写上级组织编码")]})
        with _errors_on("parent"):
            org = org_services.organization_move(org=org, new_parent=parent)
        changed = True
    changes = {name: value for name, value in fields.items() if getattr(org, name) != value}
    if changes:
        org = org_services.organization_update(org=org, **changes)
        changed = True
    if changed:
        outcome.updated += 1
    else:
        outcome.unchanged += 1
    return org
