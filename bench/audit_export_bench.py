"""Audit-trail export benchmark: how soon the auditor's CSV starts and how fast it runs.

    python bench/audit_export_bench.py [--rows 100000] [--updates 1]

Creates a scratch database ``<database>_audit_bench`` beside the one of ``DATABASE_URL`` (or
on the embedded server), builds import_bench.py's organization tree, imports its generated
roster of N rows (a member and a mobility event per row), then changes every member's remarks
``--updates`` times in one statement each (a member event per row each time), then times in a
process of its own, as the auditor's download runs it (``portal.audit.csv_lines`` over
``ChangePages.counted``): the seconds until the first line, the whole export, events per second
and peak memory. The scratch database is dropped at the end
(``--keep`` keeps it).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
os.environ.setdefault("PORTAL_ALLOW_DEV_SECRET", "1")

import import_bench  # noqa: E402  (beside this file)


def phase_changes(args) -> dict:
    """Every member's remarks changed in one statement: one member event per row."""
    import_bench._django()
    import pghistory
    from django.db import connection, transaction

    with transaction.atomic(), pghistory.context(username="bench"), connection.cursor() as c:
        c.execute("UPDATE members_member SET remarks = %s", [f"第{args.round}次核实"])
        return {"rows": c.rowcount}


def phase_export(args) -> dict:
    import_bench._django()
    from portal import audit

    started = time.perf_counter()
    first_line = total = None

    def on_total(n: int) -> None:
        nonlocal total
        total = n

    lines = audit.csv_lines(
        audit.ChangePages({}).counted(), audit.CHANGE_HEADER, audit.change_row,
        mark="bench", on_total=on_total,
    )  # fmt: skip
    written = 0
    for _line in lines:
        if first_line is None:
            first_line = time.perf_counter() - started
        written += 1
    return {
        "first_line": first_line,
        "seconds": time.perf_counter() - started,
        "events": total,
        "lines": written,
        "peak_mb": import_bench._peak_mb(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--updates", type=int, default=1)
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    parser.add_argument("--phase", choices=["changes", "export"], help=argparse.SUPPRESS)
    parser.add_argument("--round", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase:
        print(json.dumps({"changes": phase_changes, "export": phase_export}[args.phase](args)))
        return

    import subprocess

    server = import_bench._server()
    scratch = f"{server['NAME']}_audit_bench"
    import_bench._admin(server, f'DROP DATABASE IF EXISTS "{scratch}"')
    import_bench._admin(server, f'CREATE DATABASE "{scratch}"')
    env = {**os.environ, "DATABASE_URL": import_bench._url(server, scratch)}

    def run(*extra: str, script: str = __file__) -> dict:
        done = subprocess.run(
            [sys.executable, script, *extra], env=env, capture_output=True, text=True, check=False
        )
        if done.returncode != 0:
            sys.stderr.write(done.stdout + done.stderr)
            raise SystemExit(f"{extra} failed")
        return json.loads(done.stdout.strip().splitlines()[-1])

    try:
        with tempfile.TemporaryDirectory(prefix="audit_bench_") as workdir:
            common = ["--workdir", workdir, "--rows", str(args.rows), "--baseline-rows", "0"]
            setup = run("--phase", "setup", *common, script=import_bench.__file__)
            first = run("--phase", "roster", *common, "--source", setup["csv"],
                        script=import_bench.__file__)  # fmt: skip
            for n in range(1, args.updates + 1):
                run("--phase", "changes", "--round", str(n))
            export = run("--phase", "export")
    finally:
        if not args.keep:
            import_bench._admin(server, f'DROP DATABASE IF EXISTS "{scratch}"')

    print()
    print(f"Audit-trail export benchmark: {export['events']:,} change events "
          f"({args.rows:,} members imported: {first['message']}; "
          f"{args.updates} update(s) of every member), {os.cpu_count()} CPUs")  # fmt: skip
    print(f"  first line of the CSV after      {export['first_line']:>8.2f} s")
    print(f"  whole CSV ({export['lines']:,} lines) in    {export['seconds']:>8.2f} s"
          f"  {export['events'] / export['seconds']:>10,.0f} events/s")  # fmt: skip
    print(f"  peak memory                      {export['peak_mb']:>8.0f} MB")


if __name__ == "__main__":
    main()
