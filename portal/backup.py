"""Backups with pg_dump and a tested restore (等保: 数据备份与恢复)."""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import psycopg2
from django.conf import settings
from django.db import connection


def _binary(name: str) -> str:
    """pg_dump / pg_restore: PG_BIN_DIR, else the ones pgserver ships, else the system's."""
    candidates = []
    if os.environ.get("PG_BIN_DIR"):
        candidates.append(Path(os.environ["PG_BIN_DIR"]) / name)
    try:
        import pgserver

        candidates.append(Path(pgserver.__file__).parent / "pginstall" / "bin" / name)
    except ImportError:  # pragma: no cover - pgserver is a requirement
        pass
    for candidate in candidates:
        if candidate.exists():
            return str(candidate)
    found = shutil.which(name)
    if not found:
        raise FileNotFoundError(f"{name} not found; set PG_BIN_DIR")
    return found


def _libpq_env(db: dict, name: str | None = None) -> dict:
    env = dict(os.environ)
    env.update(
        {
            "PGHOST": str(db.get("HOST") or ""),
            "PGPORT": str(db.get("PORT") or ""),
            "PGUSER": str(db.get("USER") or ""),
            "PGPASSWORD": str(db.get("PASSWORD") or ""),
            "PGDATABASE": name or db["NAME"],
        }
    )
    return {k: v for k, v in env.items() if v != ""}


def dump(out: Path, *, db: dict | None = None) -> Path:
    """A custom-format dump of the portal database (compressed, restorable table by table)."""
    db = db or connection.settings_dict
    out.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [_binary("pg_dump"), "--format=custom", "--no-owner", "--file", str(out)],
        env=_libpq_env(db),
        check=True,
        capture_output=True,
    )
    return out


def _connect(db: dict, name: str):
    return psycopg2.connect(
        dbname=name,
        user=db.get("USER") or None,
        password=db.get("PASSWORD") or None,
        host=db.get("HOST") or None,
        port=db.get("PORT") or None,
    )


def table_counts(db: dict, name: str) -> dict[str, int]:
    """Exact row counts of every table in the public schema."""
    conn = _connect(db, name)
    try:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename"
            )
            tables = [row[0] for row in cur.fetchall()]
            counts = {}
            for table in tables:
                cur.execute(f'SELECT count(*) FROM "{table}"')
                counts[table] = cur.fetchone()[0]
            return counts
    finally:
        conn.close()


@dataclass
class RestoreReport:
    dump: Path
    scratch: str
    source: dict[str, int]
    restored: dict[str, int]

    @property
    def mismatches(self) -> dict[str, tuple[int | None, int | None]]:
        names = set(self.source) | set(self.restored)
        return {
            t: (self.source.get(t), self.restored.get(t))
            for t in sorted(names)
            if self.source.get(t) != self.restored.get(t)
        }

    @property
    def ok(self) -> bool:
        return not self.mismatches


def restore_test(*, dump_file: Path | None = None, db: dict | None = None) -> RestoreReport:
    """Restore a dump into a scratch database, compare row counts, drop the scratch database.

    Without ``dump_file`` a fresh dump is taken first and compared with the live counts.
    """
    db = db or connection.settings_dict
    workdir = Path(settings.BASE_DIR) / "var" / "backups"
    if dump_file is None:
        dump_file = dump(workdir / f"restore-test-{os.getpid()}.dump", db=db)
    source = table_counts(db, db["NAME"])
    scratch = f"{db['NAME']}_restore_test_{os.getpid()}"
    admin = _connect(db, "postgres")
    admin.autocommit = True
    try:
        with admin.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{scratch}"')
            cur.execute(f'CREATE DATABASE "{scratch}"')
        subprocess.run(
            [_binary("pg_restore"), "--no-owner", "--exit-on-error", "--dbname", scratch,
             str(dump_file)],
            env=_libpq_env(db, scratch),
            check=True,
            capture_output=True,
        )  # fmt: skip
        restored = table_counts(db, scratch)
    finally:
        with admin.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{scratch}"')
        admin.close()
    return RestoreReport(dump=dump_file, scratch=scratch, source=source, restored=restored)
