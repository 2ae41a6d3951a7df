"""backup_db and restore_test against the real PostgreSQL server (pg_dump / pg_restore)."""

import json
import os
import subprocess
import sys

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from branches.tests.factories import make_tree
from members.models import Member
from members.tests.factories import make_member
from portal import backup as backup_module
from portal.access import record_access
from portal.backup import counts_path, restore_test, table_counts
from portal.choices import AccessEventKind
from portal.embedded import database_url
from portal.models import AccessEvent
from portal.tests.factories import make_user

from .conftest import REPO

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def live_counts():
    return table_counts(connection.settings_dict, connection.settings_dict["NAME"])


def backup(path):
    call_command("backup_db", "-o", str(path))
    return json.loads(counts_path(path).read_text(encoding="utf-8"))


def test_restore_test_restores_every_row(capsys, settings, tmp_path):
    settings.PORTAL_BACKUP_DIR = tmp_path / "backups"  # where the fresh dumps go
    tree = make_tree()
    for i in range(5):
        make_member(home_org=tree["village"], name=f"备份{i}")
    report = restore_test()
    assert report.ok, report.mismatches
    assert not report.approximate
    assert report.restored["members_member"] == 5
    # The change trail is restored too: five inserts were recorded.
    assert report.restored["members_memberevent"] == report.source["members_memberevent"] >= 5
    call_command("restore_test")
    out = capsys.readouterr().out
    assert "核对依据：备份时记录的行数" in out and "恢复演练通过" in out
    # The fresh dump of the command is a backup like any other: recorded as an export.
    event = AccessEvent.objects.get(kind=AccessEventKind.EXPORT)
    assert event.detail["scope"] == "backup"
    assert event.detail["file"].startswith(str(tmp_path / "backups" / "restore-test-"))
    # A drill that passed leaves no copy of every row behind.
    assert list((tmp_path / "backups").iterdir()) == []


def test_an_older_dump_still_passes_after_writes_and_the_backup_is_recorded(tmp_path, capsys):
    tree = make_tree()
    for i in range(3):
        make_member(home_org=tree["village"], name=f"备份{i}")
    before = live_counts()
    path = tmp_path / "portal-nightly.dump"
    recorded = backup(path)
    assert "已备份到" in capsys.readouterr().out

    # The counts file describes exactly the data of the dump.
    assert recorded["dump"] == "portal-nightly.dump"
    assert recorded["database"] == connection.settings_dict["NAME"]
    assert recorded["created_at"] and recorded["size"] == path.stat().st_size
    assert recorded["tables"] == before
    assert recorded["total_rows"] == sum(before.values())
    assert recorded["tables"]["members_member"] == 3

    # The backup is an export access event, written after the snapshot (so not in the dump).
    event = AccessEvent.objects.get(kind=AccessEventKind.EXPORT)
    assert event.detail == {
        "scope": "backup",
        "rows": recorded["total_rows"],
        "file": str(path.resolve()),
        "source": "command",
    }
    assert event.user is None and event.username.startswith("命令行（系统用户 ")

    # The live database moves on: a login, a new account, a new member.
    user = make_user(username="after-dump")
    record_access(kind=AccessEventKind.LOGIN, user=user)
    make_member(home_org=tree["village"], name="备份之后")
    now = live_counts()
    assert now["auth_user"] > before["auth_user"]
    assert now["portal_accessevent"] > before["portal_accessevent"]

    report = restore_test(dump_file=path)
    assert report.ok, report.mismatches
    assert report.restored == recorded["tables"]
    call_command("restore_test", "--dump", str(path))
    out = capsys.readouterr().out
    tables, rows = len(before), sum(before.values())
    assert f"恢复演练通过：{tables} 张表、{rows} 行与备份时记录的行数一致" in out
    # Only backup_db's dump was recorded; restoring is not an export.
    assert AccessEvent.objects.filter(kind=AccessEventKind.EXPORT).count() == 1


def test_dump_and_counts_share_one_snapshot(tmp_path, monkeypatch):
    """A row committed between the count and the start of pg_dump is in neither."""
    tree = make_tree()
    make_member(home_org=tree["village"], name="快照之前")
    real_run = subprocess.run

    def write_then_run(args, **kwargs):
        if "pg_dump" in os.path.basename(args[0]) and "--version" not in args:
            make_member(home_org=tree["village"], name="快照之后")  # committed (autocommit)
        return real_run(args, **kwargs)

    monkeypatch.setattr(backup_module.subprocess, "run", write_then_run)
    made = backup_module.dump(tmp_path / "snap.dump")
    monkeypatch.undo()
    assert Member.objects.count() == 2
    assert made.tables["members_member"] == 1
    report = restore_test(dump_file=made.path)
    assert report.ok, report.mismatches
    assert report.restored["members_member"] == 1


def test_tampered_counts_fail_with_the_mismatch(tmp_path):
    tree = make_tree()
    for i in range(2):
        make_member(home_org=tree["village"], name=f"备份{i}")
    path = tmp_path / "portal.dump"
    recorded = backup(path)
    recorded["tables"]["members_member"] = 5
    counts_path(path).write_text(json.dumps(recorded), encoding="utf-8")
    with pytest.raises(CommandError) as exc:
        call_command("restore_test", "--dump", str(path))
    assert str(exc.value) == "恢复演练失败，行数不一致：\nmembers_member: 备份时 5，恢复后 2"

    # A table the dump should hold but the restore lacks.
    recorded["tables"]["members_member"] = 2
    recorded["tables"]["portal_vanished"] = 7
    counts_path(path).write_text(json.dumps(recorded), encoding="utf-8")
    with pytest.raises(CommandError) as exc:
        call_command("restore_test", "--dump", str(path))
    assert str(exc.value).endswith("portal_vanished: 备份时 7，恢复后 无此表")


def test_counts_of_another_dump_are_refused(tmp_path):
    make_tree()
    first, second = tmp_path / "a.dump", tmp_path / "b.dump"
    backup(first)
    make_user(username="between")
    backup(second)
    first.write_bytes(second.read_bytes())  # a.dump replaced, its counts file kept
    with pytest.raises(CommandError) as exc:
        call_command("restore_test", "--dump", str(first))
    assert "与备份文件" in str(exc.value) and "不对应" in str(exc.value)


def test_a_dump_without_counts(tmp_path, capsys):
    make_tree()
    path = tmp_path / "old.dump"
    backup(path)
    counts_path(path).unlink()
    capsys.readouterr()
    with pytest.raises(CommandError) as exc:
        call_command("restore_test", "--dump", str(path))
    assert str(exc.value).startswith(f"恢复演练失败：备份文件 {path} 没有行数记录")
    assert "--approximate" in str(exc.value)

    # --approximate compares with the live database, and says so. The backup's own access
    # event was written after the dump: that alone already differs.
    with pytest.raises(CommandError) as exc:
        call_command("restore_test", "--dump", str(path), "--approximate")
    assert str(exc.value).startswith("近似核对未通过")
    assert "portal_accessevent: 当前数据库 1，恢复后 0" in str(exc.value)
    assert "近似核对" in capsys.readouterr().out

    # A dump taken with plain pg_dump of an unchanged database passes, labelled approximate.
    plain = tmp_path / "plain.dump"
    subprocess.run(
        [
            backup_module._binary("pg_dump", connection.settings_dict),
            "--format=custom",
            "--no-owner",
            "--file",
            str(plain),
        ],
        env=backup_module._libpq_env(connection.settings_dict),
        check=True,
        capture_output=True,
    )
    call_command("restore_test", "--dump", str(plain), "--approximate")
    out = capsys.readouterr().out
    assert "近似核对通过" in out and "没有行数记录" in out


def test_exit_statuses_of_the_real_commands(tmp_path):
    make_tree()
    env = {
        **os.environ,
        "DATABASE_URL": database_url(connection.settings_dict),
        "PORTAL_ALLOW_DEV_SECRET": "1",
    }

    def manage(*args):
        return subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=REPO, env=env, capture_output=True, text=True, timeout=300,
        )  # fmt: skip

    path = tmp_path / "nightly.dump"
    assert manage("backup_db", "-o", str(path)).returncode == 0
    make_user(username="after-dump")
    assert manage("restore_test", "--dump", str(path)).returncode == 0
    recorded = json.loads(counts_path(path).read_text(encoding="utf-8"))
    recorded["tables"]["auth_user"] += 1
    counts_path(path).write_text(json.dumps(recorded), encoding="utf-8")
    failed = manage("restore_test", "--dump", str(path))
    assert failed.returncode == 1
    users = recorded["tables"]["auth_user"]
    expected = f"恢复演练失败，行数不一致：\nauth_user: 备份时 {users}，恢复后 {users - 1}"
    assert expected in failed.stderr


def test_a_socket_given_as_a_url_query_reaches_pg_dump_and_psql(run_manage):
    """DATABASE_URL=postgres://user@/portal?host=/run/postgresql: the settings put the socket
    where pg_dump and pg_restore (and Django) look for it."""
    probe = (
        "import json; from django.conf import settings; from portal import backup;"
        "print(json.dumps(backup._libpq_env(settings.DATABASES['default'])))"
    )
    result = run_manage(
        "shell", "-c", probe, env_changes={"DATABASE_URL": "postgres://u@/portal?host=/run/pg"}
    )
    env = json.loads(result.stdout.strip().splitlines()[-1])
    assert (env["PGHOST"], env["PGDATABASE"], env["PGUSER"]) == ("/run/pg", "portal", "u")
    assert "PGPORT" not in env or env["PGPORT"] == os.environ.get("PGPORT")


def test_a_url_without_port_or_query_is_read(run_manage):
    """postgres://user@host/name, the plainest URL an operator writes, has no OPTIONS at all."""
    probe = (
        "import json; from django.conf import settings;"
        "db = settings.DATABASES['default'];"
        "print(json.dumps([db['HOST'], db['PORT'], db['NAME'], db['USER']]))"
    )
    result = run_manage(
        "shell", "-c", probe, env_changes={"DATABASE_URL": "postgres://u@db.example/portal"}
    )
    assert json.loads(result.stdout.strip().splitlines()[-1]) == ["db.example", "", "portal", "u"]


def test_dumps_are_readable_by_their_owner_only(tmp_path):
    """A dump holds every row, phones in clear among them."""
    make_tree()
    path = tmp_path / "nightly" / "portal.dump"
    backup(path)
    assert path.stat().st_mode & 0o777 == 0o600
    assert counts_path(path).stat().st_mode & 0o777 == 0o600
    assert path.parent.stat().st_mode & 0o777 == 0o700


def test_a_restore_test_without_createdb_says_so(tmp_path):
    make_tree()
    path = tmp_path / "portal.dump"
    backup(path)
    role = f"no_createdb_{os.getpid()}"
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE ROLE {role} LOGIN NOCREATEDB")
    try:
        with pytest.raises(backup_module.BackupError) as exc:
            restore_test(dump_file=path, db={**connection.settings_dict, "USER": role})
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"DROP ROLE {role}")
    assert str(exc.value).startswith(f"数据库用户 {role} 没有建库权限：恢复演练要把备份恢复到")
    assert "CREATEDB" in str(exc.value)


@pytest.mark.parametrize(
    ("found", "server", "expected"),
    [
        ({"/usr/bin/pg_dump": 15, "/pgserver/pg_dump": 16}, 16, "/pgserver/pg_dump"),
        ({"/usr/bin/pg_dump": 17, "/pgserver/pg_dump": 16}, 17, "/usr/bin/pg_dump"),
        ({"/usr/bin/pg_dump": 18, "/pgserver/pg_dump": 16}, 17, "/usr/bin/pg_dump"),
        ({"/usr/bin/pg_dump": 18, "/usr/local/pg17/pg_dump": 17}, 15, "/usr/local/pg17/pg_dump"),
        ({"/usr/bin/pg_dump": 14}, 16, "/usr/bin/pg_dump"),
        ({}, 16, None),
    ],
)
def test_pg_dump_is_the_one_matching_the_server(found, server, expected):
    """pg_dump refuses a newer server; a newer pg_dump may write what an older server cannot
    restore. The same major version first, else the oldest newer one."""
    assert backup_module.pick_binary(found, server) == expected


def test_a_database_that_cannot_be_reached_is_said_in_chinese_and_leaves_no_file(tmp_path):
    db = {**connection.settings_dict, "NAME": "no_such_portal_database"}
    with pytest.raises(backup_module.BackupError) as exc:
        backup_module.dump(tmp_path / "portal.dump", db=db)
    assert str(exc.value).startswith("无法连接数据库 no_such_portal_database：")
    assert list(tmp_path.iterdir()) == []


def test_a_pg_bin_dir_without_pg_dump_is_said_in_chinese(tmp_path, monkeypatch):
    monkeypatch.setenv("PG_BIN_DIR", str(tmp_path / "bin"))
    with pytest.raises(backup_module.BackupError) as exc:
        backup_module.dump(tmp_path / "portal.dump")
    assert str(exc.value) == f"PG_BIN_DIR 指定的目录 {tmp_path / 'bin'} 中没有 pg_dump"
    assert not (tmp_path / "portal.dump.partial").exists()
