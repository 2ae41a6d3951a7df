"""Backups with pg_dump and a tested restore (等保: 数据备份与恢复).

Every dump carries the exact row counts of the data it holds, so a restore test can tell a
faulty dump from a database that simply moved on since the dump was taken.

How the counts are taken: one REPEATABLE READ, read-only transaction exports its snapshot
(``pg_export_snapshot()``), counts every table of the public schema, and stays open while
``pg_dump --snapshot=<id>`` runs. pg_dump therefore sees exactly the rows that were counted,
whatever is written meanwhile. The counting transaction also holds ACCESS SHARE locks on every
table it counted, so no DDL (a migration, say) can slip in between the count and the dump.

Where the counts are kept: in a small JSON file beside the dump, ``<dump>.counts.json``
(the dump's file name, database, snapshot time, SHA-256 and size of the dump, and the count of
every table). Not inside the dump, because there is no clean place there: a pg_dump archive has
no room for free-form metadata, and writing the counts into a table (or a comment) of the
database would mean writing to the database from inside the read-only snapshot that the dump
is taken from. A plain file is readable by an operator (``cat``) without pg_restore, and the
SHA-256 in it ties it to one dump: a dump replaced or damaged after the counts were written is
refused instead of being compared with the wrong numbers. Operators copy both files off the
machine (README "Backups").
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import psycopg2
from django.conf import settings
from django.db import connection
from psycopg2 import sql
from psycopg2.extensions import ISOLATION_LEVEL_REPEATABLE_READ

from .private_files import open_private

COUNTS_SUFFIX = ".counts.json"
COUNTS_VERSION = 1


class BackupError(Exception):
    """A backup or restore test that cannot go on; the message is meant for the operator."""


def _version(path: str) -> int | None:
    """The major version a binary says it is (``pg_dump (PostgreSQL) 16.2``: 16)."""
    try:
        out = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=30)
        return int(out.stdout.split()[-1].split(".")[0])
    except (OSError, ValueError, IndexError, subprocess.SubprocessError):
        return None


def pick_binary(found: dict[str, int], server: int) -> str | None:
    """Of binaries by major version, the one to use against a server of major version ``server``:
    the same major version, else the oldest newer one (pg_dump refuses newer servers, and a newer
    pg_dump's output may not restore into an older server), else the newest there is."""
    if not found:
        return None
    same = [path for path, major in found.items() if major == server]
    newer = sorted((major, path) for path, major in found.items() if major > server)
    if same:
        return same[0]
    if newer:
        return newer[0][1]
    return max(found, key=found.get)


def _binary(name: str, db: dict) -> str:
    """pg_dump / pg_restore: PG_BIN_DIR's when set; else, of the system's (PATH) and the one
    pgserver ships, the one matching the server's major version (``pick_binary``)."""
    if os.environ.get("PG_BIN_DIR"):
        named = Path(os.environ["PG_BIN_DIR"]) / name
        if not named.is_file():
            raise BackupError(f"PG_BIN_DIR 指定的目录 {named.parent} 中没有 {name}")
        return str(named)
    candidates = [shutil.which(name)]
    # Located without importing pgserver (whose import warns on a machine without a session).
    spec = importlib.util.find_spec("pgserver")
    if spec and spec.submodule_search_locations:
        bundled = Path(spec.submodule_search_locations[0]) / "pginstall" / "bin" / name
        candidates.append(str(bundled) if bundled.exists() else None)
    found = {path: major for path in candidates if path and (major := _version(path)) is not None}
    conn = _connect(db, db["NAME"])
    try:
        server = conn.server_version // 10000
    finally:
        conn.close()
    chosen = pick_binary(found, server)
    if chosen is None:
        raise BackupError(f"找不到 {name}：请安装 PostgreSQL 客户端，或用 PG_BIN_DIR 指定其目录")
    return chosen


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


def _run(args: list[str], *, env: dict, what: str) -> None:
    """Run pg_dump / pg_restore; a failure becomes a BackupError quoting its stderr."""
    try:
        subprocess.run(args, env=env, check=True, capture_output=True)
    except subprocess.CalledProcessError as exc:
        err = exc.stderr.decode("utf-8", "replace").strip()[-2000:]
        raise BackupError(f"{what} 失败（退出码 {exc.returncode}）：{err}") from exc


def _connect(db: dict, name: str):
    try:
        return psycopg2.connect(
            dbname=name,
            user=db.get("USER") or None,
            password=db.get("PASSWORD") or None,
            host=db.get("HOST") or None,
            port=db.get("PORT") or None,
        )
    except psycopg2.OperationalError as exc:
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise BackupError(f"无法连接数据库 {name}：{detail}") from exc


def _count_rows(cur) -> dict[str, int]:
    """Exact row counts of every table in the public schema, as the cursor's snapshot sees them."""
    cur.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename")
    tables = [row[0] for row in cur.fetchall()]
    counts = {}
    for table in tables:
        cur.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier("public", table)))
        counts[table] = cur.fetchone()[0]
    return counts


def table_counts(db: dict, name: str) -> dict[str, int]:
    """Exact row counts of every table in the public schema of database ``name``, now."""
    conn = _connect(db, name)
    try:
        with conn.cursor() as cur:
            return _count_rows(cur)
    finally:
        conn.close()


def counts_path(dump_file: Path) -> Path:
    """Where the row counts of ``dump_file`` are kept: ``<dump>.counts.json`` beside it."""
    dump_file = Path(dump_file)
    return dump_file.with_name(dump_file.name + COUNTS_SUFFIX)


def _sha256(path: Path) -> str:
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


@dataclass
class Backup:
    """A dump and the row counts of the snapshot it was taken from."""

    path: Path
    database: str
    created_at: str  # the snapshot's time (ISO 8601, from the database server)
    sha256: str
    size: int
    tables: dict[str, int] = field(default_factory=dict)

    @property
    def counts_file(self) -> Path:
        return counts_path(self.path)

    @property
    def total_rows(self) -> int:
        return sum(self.tables.values())

    def as_json(self) -> dict:
        return {
            "version": COUNTS_VERSION,
            "dump": self.path.name,
            "database": self.database,
            "created_at": self.created_at,
            "sha256": self.sha256,
            "size": self.size,
            "total_rows": self.total_rows,
            "tables": self.tables,
        }


def dump(out: Path, *, db: dict | None = None) -> Backup:
    """A custom-format dump of the portal database (compressed, restorable table by table),
    with the exact row counts of the same snapshot written to ``<out>.counts.json``.

    The dump is written under a temporary name and renamed when complete, so ``out`` is never a
    half-written file; a stale counts file from an earlier dump at the same path is removed first.
    """
    db = db or connection.settings_dict
    out = Path(out)
    out.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".partial")
    pg_dump = _binary("pg_dump", db)  # before the snapshot: it asks the server its version
    conn = _connect(db, db["NAME"])
    done = False
    try:
        # Every row of the portal is in a dump, phones in clear among them: only the owner
        # reads it (pg_dump keeps the mode of the file it overwrites).
        _private(partial)
        conn.set_session(isolation_level=ISOLATION_LEVEL_REPEATABLE_READ, readonly=True)
        with conn.cursor() as cur:
            # The first statement fixes the transaction's snapshot; now() is its start time.
            cur.execute("SELECT pg_export_snapshot(), now()")
            snapshot, taken_at = cur.fetchone()
            tables = _count_rows(cur)
            # The exporting transaction must stay open until pg_dump has imported the snapshot;
            # it stays open for the whole dump.
            _run(
                [pg_dump, "--format=custom", "--no-owner", f"--snapshot={snapshot}",
                 "--file", str(partial)],
                env=_libpq_env(db),
                what="pg_dump 备份",
            )  # fmt: skip
        conn.rollback()
        backup = Backup(
            path=out,
            database=db["NAME"],
            created_at=taken_at.isoformat(),
            sha256=_sha256(partial),
            size=partial.stat().st_size,
            tables=tables,
        )
        counts_file = backup.counts_file
        counts_file.unlink(missing_ok=True)
        os.replace(partial, out)
        tmp = counts_file.with_name(counts_file.name + ".partial")
        _private(tmp)
        tmp.write_text(
            json.dumps(backup.as_json(), ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
        )
        os.replace(tmp, counts_file)
        done = True
        return backup
    finally:
        conn.close()
        if not done:
            partial.unlink(missing_ok=True)


def _private(path: Path) -> None:
    """Create ``path`` empty, readable and writable by its owner only."""
    open_private(path).close()


def load_counts(dump_file: Path) -> Backup | None:
    """The recorded row counts of ``dump_file``; None when it has none (an older dump).

    Raises BackupError when the counts file cannot be read or belongs to another dump.
    """
    dump_file = Path(dump_file)
    path = counts_path(dump_file)
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("version") != COUNTS_VERSION:
            raise ValueError(f"version {data.get('version')!r}")
        backup = Backup(
            path=dump_file,
            database=str(data["database"]),
            created_at=str(data["created_at"]),
            sha256=str(data["sha256"]),
            size=int(data["size"]),
            tables={str(k): int(v) for k, v in data["tables"].items()},
        )
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise BackupError(f"行数记录 {path} 无法读取或格式不对：{exc}") from exc
    if backup.size != dump_file.stat().st_size or backup.sha256 != _sha256(dump_file):
        raise BackupError(
            f"行数记录 {path} 与备份文件 {dump_file} 不对应（文件大小或 SHA-256 校验值不同）："
            "备份文件在记录行数之后被替换或损坏，不能用这份记录核对"
        )
    return backup


def backup_dir() -> Path:
    """Where dumps go by default: PORTAL_BACKUP_DIR (``<PORTAL_VAR_DIR>/backups``)."""
    return Path(settings.PORTAL_BACKUP_DIR)


def fresh_dump_path() -> Path:
    """Where a restore test without ``--dump`` writes its fresh dump (deleted once it passed)."""
    return backup_dir() / f"restore-test-{os.getpid()}.dump"


def discard(backup: Backup) -> None:
    """Delete a dump and its counts (a restore test's own fresh dump, once it passed)."""
    backup.path.unlink(missing_ok=True)
    backup.counts_file.unlink(missing_ok=True)


def record_backup(backup: Backup, *, source: str = "command"):
    """Record a dump as an export access event: a backup is a copy of every row."""
    from .access import record_access
    from .choices import AccessEventKind
    from .commandline import command_operator

    return record_access(
        kind=AccessEventKind.EXPORT,
        username=command_operator(),
        scope="backup",
        rows=backup.total_rows,
        file=str(backup.path.resolve()),
        source=source,
    )


@dataclass
class RestoreReport:
    dump: Path
    scratch: str
    source: dict[str, int]  # the recorded counts of the dump, else the live database's
    restored: dict[str, int]
    recorded: Backup | None = None  # None: the dump had no counts; compared with the live DB

    @property
    def approximate(self) -> bool:
        """True when the dump had no recorded counts and the live database stood in."""
        return self.recorded is None

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


def restore_test(
    *,
    dump_file: Path | None = None,
    db: dict | None = None,
    allow_live: bool = False,
    on_fresh_dump: Callable[[Backup], object] | None = None,
) -> RestoreReport:
    """Restore a dump into a scratch database, compare row counts, drop the scratch database.

    The restored counts are compared with the counts recorded when the dump was taken. Without
    ``dump_file`` a fresh dump (with its counts) is taken first, handed to ``on_fresh_dump``
    (the command records it as a backup) and deleted once the drill passed. A dump without counts
    raises BackupError, unless ``allow_live``: then the live database's counts stand in, an
    approximation that any write since the dump breaks (``report.approximate``).
    """
    db = db or connection.settings_dict
    fresh = dump_file is None
    if fresh:
        recorded = dump(fresh_dump_path(), db=db)
        if on_fresh_dump is not None:
            on_fresh_dump(recorded)
        dump_file = recorded.path
    else:
        dump_file = Path(dump_file)
        if not dump_file.is_file():
            raise BackupError(f"备份文件 {dump_file} 不存在")
        recorded = load_counts(dump_file)
        if recorded is None and not allow_live:
            raise BackupError(
                f"备份文件 {dump_file} 没有行数记录（应为同目录下的 "
                f"{counts_path(dump_file).name}），无法核对恢复出的行数是否与备份时一致。"
                "该备份可能由旧版 backup_db 或直接由 pg_dump 生成，或复制备份时漏掉了行数记录"
                "文件。请用 backup_db 重新备份；若只想确认这份旧备份能否恢复，可加 --approximate "
                "与当前数据库近似核对"
            )
    source = recorded.tables if recorded is not None else table_counts(db, db["NAME"])
    scratch = f"{db['NAME']}_restore_test_{os.getpid()}"
    admin = _connect(db, "postgres")
    admin.autocommit = True
    try:
        with admin.cursor() as cur:
            cur.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(scratch)))
            try:
                cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(scratch)))
            except psycopg2.errors.InsufficientPrivilege:
                user = db.get("USER") or "（默认）"
                raise BackupError(
                    f"数据库用户 {user} 没有建库权限：恢复演练要把备份恢复到临时数据库 "
                    f"{scratch}，演练完即删除。请授予该用户 CREATEDB（ALTER ROLE … CREATEDB），"
                    "或用有此权限的用户运行"
                ) from None
        _run(
            [_binary("pg_restore", db), "--no-owner", "--exit-on-error", "--dbname", scratch,
             str(dump_file)],
            env=_libpq_env(db, scratch),
            what="pg_restore 恢复",
        )  # fmt: skip
        restored = table_counts(db, scratch)
    finally:
        with admin.cursor() as cur:
            cur.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(scratch)))
        admin.close()
    report = RestoreReport(
        dump=dump_file, scratch=scratch, source=source, restored=restored, recorded=recorded
    )
    if fresh and report.ok:
        discard(recorded)  # its own copy of every row; kept only when the drill failed
    return report
