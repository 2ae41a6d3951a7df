"""Roster import benchmark: this import against django-import-export and a bare COPY.

    python bench/import_bench.py [--rows 100000] [--baseline-rows 2000] [--xlsx] [--costs]

What it does, in one run:

1. Creates a scratch database ``<database>_import_bench`` on the server of ``DATABASE_URL`` (or
   the embedded server when that is unset), migrates it and builds an organization tree of its
   own (a county committee, 10 township committees, 50 established branches). The scratch
   database is dropped at the end (``--keep`` keeps it). Nothing else is touched.
2. Generates N valid roster rows (``--rows``, default 100,000) as a UTF-8 CSV file.
3. Times, each in a process of its own so that peak memory (peak RSS) belongs to one step:
   - PostgreSQL ``COPY`` of that CSV into a bare table of 21 text columns: the floor;
   - this import (``rosters.services.roster_import``) of the CSV into the empty tables, then
     the same file again (every row unchanged), then once more into empty tables with the
     audit triggers disabled, to show what the database-level audit trail costs;
   - ``MemberRosterResource().import_data`` (django-import-export, one row at a time through
     the services) on ``--baseline-rows`` rows, extrapolated linearly to N and marked so;
   - the tables alone: the import's own COPYs of the N rows, already validated, into the
     members, mobilities and links tables (indexes, constraints, audit triggers): the floor;
   - reading alone: the same rows read, validated, hashed, encrypted and put in COPY's
     format by the import's code, nothing written: the floor of the other side; and of it,
     the ID numbers' encryption and keyed hash alone (what issue 5's encryption adds);
   - an xlsx ledger export of the N members (``rosters.exports.export_ledger``);
   - with ``--xlsx``, the import of the same rows as an .xlsx file (python-calamine);
   - with ``--costs``, what the parts of the tables cost: the floor's COPYs again, each time
     in a transaction rolled back (foreign keys checked before it is), with one part taken
     away — the audit trail's triggers, the foreign keys, the four search indexes, the
     import links' indexes — and with all of them away, best of three each.
4. Prints times, rows per second, the ratio to COPY, peak memory and, for the steps that
   write, the WAL PostgreSQL wrote: the work behind the ratio (each index entry, trail row
   and foreign-key lock is logged; a bare table's COPY logs its rows and nothing else).
"""

from __future__ import annotations

import argparse
import csv
import datetime
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
os.environ.setdefault("PORTAL_ALLOW_DEV_SECRET", "1")

TOWNSHIPS = 10
BRANCHES_PER_TOWNSHIP = 5


def _django():
    import django

    django.setup()


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# ---------------------------------------------------------------------------------------------
# Phases, each run in a child process (python bench/import_bench.py --phase NAME ...)


def phase_setup(args) -> dict:
    from django.core.management import call_command

    _django()
    call_command("migrate", verbosity=0)
    from branches.choices import OrgKind
    from branches.services import organization_create
    from rosters.tests.rosterdata import member_rows, write_csv

    root = organization_create(code="BENCH", name="基准测试县委", kind=OrgKind.COMMITTEE)
    homes = []
    for t in range(1, TOWNSHIPS + 1):
        township = organization_create(
            code=f"BENCH{t:02d}", name=f"基准测试第{t}镇党委", kind=OrgKind.COMMITTEE, parent=root
        )
        for b in range(1, BRANCHES_PER_TOWNSHIP + 1):
            branch = organization_create(
                code=f"BENCH{t:02d}{b:03d}",
                name=f"基准测试第{t}镇第{b}村党支部",
                kind=OrgKind.BRANCH,
                branch_type="established",
                parent=township,
            )
            homes.append(branch.code)
    csv_path = Path(args.workdir) / "roster.csv"
    write_csv(csv_path, member_rows(args.rows, homes=homes))
    result = {"csv": str(csv_path), "csv_mb": csv_path.stat().st_size / 1024 / 1024}
    if args.xlsx:
        from rosters.tests.rosterdata import write_xlsx

        xlsx_path = Path(args.workdir) / "roster.xlsx"
        write_xlsx(xlsx_path, member_rows(args.rows, homes=homes))
        result["xlsx"] = str(xlsx_path)
        result["xlsx_mb"] = xlsx_path.stat().st_size / 1024 / 1024
    return result


class _Wal:
    """WAL PostgreSQL writes during a block, in MB: every row, index entry, trail row and lock
    the database logs, which is what a COPY into a bare table does not do."""

    def __enter__(self):
        self.start = self._lsn()
        self.mb = 0.0
        return self

    def __exit__(self, *exc):
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), %s)", [self.start])
            self.mb = float(cursor.fetchone()[0]) / 1024 / 1024

    @staticmethod
    def _lsn() -> str:
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_current_wal_lsn()::text")
            return cursor.fetchone()[0]


def _empty_members() -> None:
    from django.db import connection, transaction

    with transaction.atomic(), connection.cursor() as cursor:
        # The trail guard refuses to empty tracked tables (portal/trail_guard.py); this is the
        # benchmark's own scratch database, and its superuser sets the triggers aside.
        cursor.execute("SET LOCAL session_replication_role = replica")
        cursor.execute(
            "TRUNCATE members_mobility, members_member, rosters_rosterimportmember, "
            "rosters_rosterimport RESTART IDENTITY CASCADE"
        )


def _trigger_statements(enabled: bool) -> list[str]:
    """Statements that switch the audit trail's triggers of members and mobilities."""
    action = "ENABLE" if enabled else "DISABLE"
    return [
        f"ALTER TABLE {t} {action} TRIGGER USER" for t in ("members_member", "members_mobility")
    ]


def _triggers(enabled: bool) -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        for statement in _trigger_statements(enabled):
            cursor.execute(statement)


def phase_roster(args) -> dict:
    import logging

    _django()
    from rosters.services import roster_import

    laps: list[str] = []

    class Catch(logging.Handler):
        def emit(self, record):
            laps.append(record.getMessage().split("; ", 1)[-1])

    logging.getLogger("rosters.services").addHandler(Catch())
    logging.getLogger("rosters.services").setLevel(logging.INFO)
    source = args.source
    if not args.again:
        _empty_members()
    if args.no_triggers:
        _triggers(False)
    try:
        with _Wal() as wal:
            started = time.perf_counter()
            record = roster_import(source=source, filename=Path(source).name, upload_limit=False)
            seconds = time.perf_counter() - started
    finally:
        if args.no_triggers:
            _triggers(True)
    return {
        "seconds": seconds,
        "peak_mb": _peak_mb(),
        "wal_mb": wal.mb,
        "status": record.status,
        "message": record.message,
        "laps": laps[-1] if laps else "",
    }


def phase_baseline(args) -> dict:
    _django()
    import tablib

    from members.resources import MemberRosterResource

    _empty_members()
    with open(args.source, encoding="utf-8-sig", newline="") as handle:
        reader = csv.reader(handle)
        headers = next(reader)
        dataset = tablib.Dataset(headers=headers)
        for index, row in enumerate(reader):
            if index >= args.baseline_rows:
                break
            dataset.append(row)
    started = time.perf_counter()
    result = MemberRosterResource().import_data(dataset, use_transactions=True)
    seconds = time.perf_counter() - started
    return {
        "seconds": seconds,
        "rows": len(dataset),
        "peak_mb": _peak_mb(),
        "errors": result.has_errors() or result.has_validation_errors(),
    }


def phase_copy(args) -> dict:
    _django()
    from django.db import connection

    with open(args.source, encoding="utf-8-sig") as handle:
        columns = len(next(csv.reader(handle)))
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS bench_bare")
        cols = ", ".join(f"c{i} text" for i in range(columns))
        cursor.execute(f"CREATE TABLE bench_bare ({cols})")
    with _Wal() as wal:
        started = time.perf_counter()
        with connection.cursor() as cursor, open(args.source, "rb") as data:
            cursor.copy_expert("COPY bench_bare FROM STDIN WITH (FORMAT csv, HEADER true)", data)
        seconds = time.perf_counter() - started
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM bench_bare")
        (rows,) = cursor.fetchone()
        cursor.execute("DROP TABLE bench_bare")
    return {"seconds": seconds, "rows": rows, "peak_mb": _peak_mb(), "wal_mb": wal.mb}


def phase_export(args) -> dict:
    _django()
    from members.models import Member
    from rosters.exports import export_ledger, ledger_branches

    out = Path(args.workdir) / f"ledger.{args.fmt}"
    started = time.perf_counter()
    with out.open("wb") as handle:
        written = export_ledger(
            members_qs=Member.objects.all(), orgs=ledger_branches(None), fmt=args.fmt, out=handle
        )
    seconds = time.perf_counter() - started
    return {
        "seconds": seconds,
        "rows": written,
        "peak_mb": _peak_mb(),
        "mb": out.stat().st_size / 1024 / 1024,
    }


def phase_floor(args) -> dict:
    """The tables' own cost: the import's COPYs of the same rows, nothing read or validated.

    The rows are read, validated and formatted by the import's own code first (not timed);
    then, in one transaction, every batch is written as this import writes new members —
    COPY into members, mobilities and the import's links, with their indexes, constraints and
    audit triggers — and committed (deferred foreign-key checks included).
    """
    _django()
    from django.db import transaction

    staged, today = _staged(args)
    with _Wal() as wal:
        started = time.perf_counter()
        with transaction.atomic():
            _write_staged(staged, today)
        seconds = time.perf_counter() - started
    return {"seconds": seconds, "rows": len(staged), "peak_mb": _peak_mb(), "wal_mb": wal.mb}


def phase_read(args) -> dict:
    """The other side's own cost: the file read, validated and encrypted by the import's code,
    ready for COPY, and nothing written (empty tables, so nothing stored to compare with); and,
    of that, what the ID numbers' encryption and keyed hash take."""
    _django()
    from portal import crypto
    from rosters.schema import MEMBER_SCHEMA

    _empty_members()
    started = time.perf_counter()
    staged, _today = _staged(args, empty=False)
    seconds = time.perf_counter() - started
    with open(args.source, encoding="utf-8-sig", newline="") as handle:
        rows = csv.reader(handle)
        column = next(rows).index(MEMBER_SCHEMA.column("id_number").header)
        numbers = [row[column] for row in rows]
    started = time.perf_counter()
    for number in numbers:
        crypto.encrypt(number)
        crypto.lookup_hash(number)
    crypto_seconds = time.perf_counter() - started
    return {
        "seconds": seconds,
        "rows": len(staged),
        "peak_mb": _peak_mb(),
        "crypto_seconds": crypto_seconds,
    }


def _staged(args, *, empty: bool = True) -> tuple[list, datetime.date]:
    """The file's rows read, validated and formatted by the import's own code (empty tables)."""
    from rosters import sql
    from rosters.readers import open_table
    from rosters.schema import MEMBER_SCHEMA
    from rosters.validation import MemberRows, OrgDirectory

    if empty:
        _empty_members()
    with open_table(
        args.source, filename=Path(args.source).name, schema=MEMBER_SCHEMA, upload_limit=False
    ) as table:
        headers = {key: table.header_of(key, MEMBER_SCHEMA) for key in table.columns}
        validator = MemberRows(headers=headers, present=set(table.columns), orgs=OrgDirectory())
        line = sql.CopyFormatter()
        staged = [line(validator.check(n, table.values(cells))[0]) for n, cells in table.rows]
    return staged, validator.today


def _write_staged(staged: list, today: datetime.date) -> None:
    """The import's COPYs of new members, batch by batch, in the caller's transaction."""
    import pghistory
    from django.db import connection
    from django.utils import timezone

    from rosters import services, sql
    from rosters.models import RosterImport

    record = RosterImport.objects.create(filename="floor")
    batch = services.BATCH_ROWS
    with connection.cursor() as cursor, pghistory.context(roster_import=record.pk) as trail:
        sql.create_stage(cursor, trail)
        for start in range(0, len(staged), batch):
            sql.insert_new(
                cursor, staged[start : start + batch], import_id=record.pk, today=today,
                now=timezone.now(),
            )  # fmt: skip


def _cost_parts() -> dict[str, list[str]]:
    """What --costs takes away, one part at a time (then all together), inside the rolled-back
    transaction: statements run before the COPYs. The search indexes are the members' own
    (Member.Meta.indexes); the keys and the ID-number hash's unique index stay."""
    from django.db import connection

    from members.models import Member, Mobility
    from rosters.models import RosterImportMember

    tables = [m._meta.db_table for m in (Member, Mobility, RosterImportMember)]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT conrelid::regclass::text, conname, contype FROM pg_constraint"
            " WHERE conrelid::regclass::text = ANY(%s) AND contype IN ('f', 'p', 'u')",
            [tables],
        )
        constraints = cursor.fetchall()
        cursor.execute(
            "SELECT indexname FROM pg_indexes WHERE tablename = %s AND indexname NOT IN"
            " (SELECT conname FROM pg_constraint WHERE contype IN ('p', 'u'))",
            [tables[2]],
        )
        link_indexes = [name for (name,) in cursor.fetchall()]
    drop = 'ALTER TABLE {} DROP CONSTRAINT "{}"'.format
    foreign = [drop(t, c) for t, c, kind in constraints if kind == "f"]
    links = [drop(t, c) for t, c, kind in constraints if t == tables[2] and kind in "pu"]
    links += [f'DROP INDEX "{name}"' for name in link_indexes]
    parts = {
        "the audit trail's triggers": _trigger_statements(False),
        "the foreign-key checks": foreign,
        "the four search indexes": [f'DROP INDEX "{i.name}"' for i in Member._meta.indexes],
        "the import links' indexes": links,
    }
    parts["all of these at once"] = [
        statement for statements in parts.values() for statement in statements
    ]
    return parts


def phase_costs(args) -> dict:
    _django()
    from django.db import connection, transaction

    staged, today = _staged(args)

    def timed(prepare: list[str]) -> float:
        best = float("inf")
        for _ in range(3):
            with transaction.atomic(), connection.cursor() as cursor:
                for statement in prepare:
                    cursor.execute(statement)
                started = time.perf_counter()
                _write_staged(staged, today)
                cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # the checks a commit runs
                best = min(best, time.perf_counter() - started)
                transaction.set_rollback(True)
            with connection.cursor() as cursor:  # what the rollback left behind, away
                cursor.execute(
                    "VACUUM members_member, members_mobility, rosters_rosterimportmember,"
                    " members_memberevent, members_mobilityevent"
                )
        return best

    everything = timed([])
    costs = {name: everything - timed(prepare) for name, prepare in _cost_parts().items()}
    return {"everything": everything, "costs": costs, "rows": len(staged)}


PHASES = {
    "setup": phase_setup,
    "floor": phase_floor,
    "read": phase_read,
    "costs": phase_costs,
    "roster": phase_roster,
    "baseline": phase_baseline,
    "copy": phase_copy,
    "export": phase_export,
}


# ---------------------------------------------------------------------------------------------
# The run


def _server() -> dict:
    _django()
    from django.conf import settings

    return dict(settings.DATABASES["default"])


def _url(db: dict, name: str) -> str:
    from portal.embedded import database_url

    # The embedded server listens on a socket directory only; database_url says so in the URL.
    return database_url({**db, "NAME": name})


def _admin(db: dict, sql: str) -> None:
    import psycopg2

    conn = psycopg2.connect(
        dbname="postgres",
        user=db.get("USER") or None,
        password=db.get("PASSWORD") or None,
        host=db.get("HOST") or None,
        port=db.get("PORT") or None,
    )
    conn.autocommit = True
    with conn.cursor() as cursor:
        cursor.execute(sql)
    conn.close()


def _run_phase(name: str, env: dict, args, **extra) -> dict:
    command = [sys.executable, __file__, "--phase", name, "--workdir", args.workdir]
    command += ["--rows", str(args.rows), "--baseline-rows", str(args.baseline_rows)]
    for key, value in extra.items():
        flag = "--" + key.replace("_", "-")
        if value is True:
            command.append(flag)
        elif value not in (None, False):
            command += [flag, str(value)]
    if args.xlsx:
        command.append("--xlsx")
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.stderr.write(done.stdout + done.stderr)
        raise SystemExit(f"phase {name} failed")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _line(
    label: str, seconds: float, rows: int, copy: float | None, peak: float, note="", *, wal=None
):
    rate = f"{rows / seconds:>10,.0f}" if seconds else f"{'—':>10}"
    ratio = f"{seconds / copy:>7.1f}×" if copy else f"{'—':>8}"
    logged = f"{wal:>7.0f} MB" if wal is not None else f"{'':>10}"
    print(f"{label:<44}{seconds:>9.2f} s{rate}{ratio}{peak:>9.0f} MB{logged}  {note}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--baseline-rows", type=int, default=2_000)
    parser.add_argument("--xlsx", action="store_true", help="also time an .xlsx import")
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    parser.add_argument(
        "--costs", action="store_true", help="also time what each part of the tables costs"
    )
    parser.add_argument("--phase", choices=PHASES, help=argparse.SUPPRESS)
    parser.add_argument("--workdir", help=argparse.SUPPRESS)
    parser.add_argument("--source", help=argparse.SUPPRESS)
    parser.add_argument("--fmt", default="xlsx", help=argparse.SUPPRESS)
    parser.add_argument("--again", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--no-triggers", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.phase:
        print(json.dumps(PHASES[args.phase](args)))
        return

    server = _server()
    scratch = f"{server['NAME']}_import_bench"
    _admin(server, f'DROP DATABASE IF EXISTS "{scratch}"')
    _admin(server, f'CREATE DATABASE "{scratch}"')
    env = {**os.environ, "DATABASE_URL": _url(server, scratch), "PORTAL_ALLOW_DEV_SECRET": "1"}
    try:
        with tempfile.TemporaryDirectory(prefix="import_bench_") as workdir:
            args.workdir = workdir
            setup = _run_phase("setup", env, args)
            source = setup["csv"]
            copy = _run_phase("copy", env, args, source=source)
            first = _run_phase("roster", env, args, source=source)
            again = _run_phase("roster", env, args, source=source, again=True)
            export = _run_phase("export", env, args, fmt="xlsx")
            export_csv = _run_phase("export", env, args, fmt="csv")
            bare = _run_phase("roster", env, args, source=source, no_triggers=True)
            floor = _run_phase("floor", env, args, source=source)
            read = _run_phase("read", env, args, source=source)
            baseline = _run_phase("baseline", env, args, source=source)
            xlsx = costs = None
            if args.xlsx:
                xlsx = _run_phase("roster", env, args, source=setup["xlsx"])
            if args.costs:
                costs = _run_phase("costs", env, args, source=source)
    finally:
        if not args.keep:
            _admin(server, f'DROP DATABASE IF EXISTS "{scratch}"')

    n = args.rows
    print()
    print(f"Roster import benchmark: {n:,} rows, CSV {setup['csv_mb']:.1f} MB, "
          f"scratch database {scratch} ({'kept' if args.keep else 'dropped'}), "
          f"{os.cpu_count()} CPUs")  # fmt: skip
    print(f"{'':<44}{'time':>11}{'rows/s':>10}{'× COPY':>8}{'peak RSS':>12}{'WAL':>10}")
    _line("PostgreSQL COPY into a bare table", copy["seconds"], copy["rows"], copy["seconds"],
          copy["peak_mb"], wal=copy["wal_mb"])  # fmt: skip
    _line("this import, all rows new", first["seconds"], n, copy["seconds"], first["peak_mb"],
          wal=first["wal_mb"])  # fmt: skip
    _line("this import, same file again (unchanged)", again["seconds"], n, copy["seconds"],
          again["peak_mb"], wal=again["wal_mb"])  # fmt: skip
    _line("this import, new, audit triggers disabled*", bare["seconds"], n, copy["seconds"],
          bare["peak_mb"], wal=bare["wal_mb"])  # fmt: skip
    _line("the tables alone: its COPYs, nothing read**", floor["seconds"], floor["rows"],
          copy["seconds"], floor["peak_mb"], wal=floor["wal_mb"])  # fmt: skip
    _line("reading alone: its rows, nothing written***", read["seconds"], read["rows"],
          copy["seconds"], read["peak_mb"])  # fmt: skip
    print(f"{'  of which encrypting and hashing ID numbers':<44}{read['crypto_seconds']:>9.2f} s")
    if xlsx:
        _line(f"this import of the .xlsx ({setup['xlsx_mb']:.1f} MB)", xlsx["seconds"], n,
              copy["seconds"], xlsx["peak_mb"], "(all rows new)", wal=xlsx["wal_mb"])  # fmt: skip
    rows_done = baseline["rows"]
    extrapolated = baseline["seconds"] * n / rows_done
    _line("django-import-export import_data", extrapolated, n, copy["seconds"],
          baseline["peak_mb"],
          f"EXTRAPOLATED from {rows_done:,} rows in {baseline['seconds']:.1f} s"
          if rows_done < n else "")  # fmt: skip
    _line(f"xlsx ledger export ({export['mb']:.1f} MB)", export["seconds"], export["rows"], None,
          export["peak_mb"])  # fmt: skip
    _line(f"csv ledger export ({export_csv['mb']:.1f} MB)", export_csv["seconds"],
          export_csv["rows"], None, export_csv["peak_mb"])  # fmt: skip
    print()
    print(f"steps of the first import: {first['laps']}")
    print(f"steps with the same file again: {again['laps']}")
    print(f"steps with audit triggers disabled: {bare['laps']}")
    print(f"first import: {first['message']}")
    print(f"again: {again['message']}")
    if baseline["errors"]:
        print("django-import-export reported errors on the baseline rows")
    print("* for comparison only: in the portal the audit triggers always fire.")
    print("** the import's COPYs of already validated rows into members, mobilities and links,")
    print("   with their indexes, constraints and audit triggers: the floor of any import that")
    print("   keeps them; 'this import, all rows new' reads, validates and encrypts on top.")
    print("*** the import's reading thread alone: the file read, every row validated, its ID")
    print("   number hashed and encrypted and the row put in COPY's format, nothing written.")
    print("   The import runs this beside the tables' work, on the machine's other core.")
    if costs:
        print()
        print(f"What the tables' parts cost ({costs['rows']:,} new members, the floor's COPYs in a")
        print("transaction rolled back after its foreign-key checks, best of 3):")
        print(f"  {'all of it (the floor, as above)':<74}{costs['everything']:>6.2f} s"
              f"{costs['everything'] / copy['seconds']:>7.1f}×")  # fmt: skip
        for name, seconds in costs["costs"].items():
            print(f"  {'taking away ' + name:<74}{-seconds:>+6.2f} s"
                  f"{-seconds / copy['seconds']:>+7.1f}×")  # fmt: skip
        left = costs["everything"] - costs["costs"]["all of these at once"]
        print(f"  {'left: rows, primary keys, ID-number hash, one current mobility':<74}"
              f"{left:>6.2f} s{left / copy['seconds']:>7.1f}×")  # fmt: skip


if __name__ == "__main__":
    main()
