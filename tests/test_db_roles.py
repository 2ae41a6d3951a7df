"""The portal runs as a database role that owns nothing (portal/db_roles.py): it works, and it
cannot change the trail even with the triggers out of the way."""

import os
import subprocess
import sys

import psycopg2
import pytest
from django.db import connection

from branches.tests.factories import make_branch, make_committee
from members.models import Member
from portal import db_roles
from portal.embedded import database_url
from rosters.tests.rosterdata import member_rows, write_csv

from .conftest import REPO

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def app_role():
    role = f"portal_app_{os.getpid()}"
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE ROLE {role} LOGIN")
    db_roles.grant(connection, role)
    yield role
    with connection.cursor() as cursor:
        cursor.execute(f"DROP OWNED BY {role}")
        cursor.execute(f"DROP ROLE {role}")


def connect_as(role):
    db = connection.settings_dict
    return psycopg2.connect(
        dbname=db["NAME"], user=role, host=db.get("HOST") or None, port=db.get("PORT") or None
    )


@pytest.mark.parametrize(
    "statement",
    [
        "DELETE FROM portal_accessevent",
        "UPDATE members_memberevent SET remarks = 'x'",
        # A forged change: only the history triggers write change events.
        "INSERT INTO members_memberevent (pgh_created_at, pgh_label, pgh_obj_id, id, name)"
        " VALUES (now(), 'update', 1, 1, '伪造')",
        "TRUNCATE members_memberevent",
        "ALTER TABLE portal_accessevent DISABLE TRIGGER ALL",
        "DROP TRIGGER portal_trail_append_only ON portal_accessevent",
        "SET session_replication_role = replica",
    ],
)
def test_the_application_role_cannot_touch_the_trail(app_role, statement):
    conn = connect_as(app_role)
    try:
        with pytest.raises(psycopg2.errors.InsufficientPrivilege), conn.cursor() as cursor:
            cursor.execute(statement)
    finally:
        conn.close()


def test_the_portal_works_as_the_application_role(app_role, tmp_path):
    """A roster import (COPY, temporary tables, sequences, the trail's triggers) run as the
    role that owns nothing, through manage.py as an operator would."""
    township = make_committee(name="角色测试镇党委")
    branch = make_branch(parent=township, name="角色测试村党支部")
    path = write_csv(tmp_path / "r.csv", member_rows(3, homes=[branch.code]))
    env = {
        **os.environ,
        "DATABASE_URL": database_url({**connection.settings_dict, "USER": app_role}),
        "PORTAL_ALLOW_DEV_SECRET": "1",
    }
    done = subprocess.run(
        [sys.executable, "manage.py", "import_roster", str(path)],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert Member.objects.filter(home_org=branch).count() == 3
    # Recorded by the history triggers, which write as the tables' owner.
    assert Member.pgh_event_model.objects.filter(pgh_label="insert").count() >= 3
    # A change through the services (the ORM, as a form makes it) is recorded too.
    member = Member.objects.filter(home_org=branch).first()
    probe = (
        "from members import services; from members.models import Member;"
        f"services.member_update(member=Member.objects.get(pk={member.pk}), remarks='角色核实')"
    )
    done = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", probe],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    updates = Member.pgh_event_model.objects.filter(pgh_obj_id=member.pk, pgh_label="update")
    assert [e.remarks for e in updates] == ["角色核实"]
    conn = connect_as(app_role)
    try:
        with conn.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM portal_accessevent")
            assert cursor.fetchone()[0] >= 0
    finally:
        conn.close()


def test_the_application_role_refreshes_the_statistics_after_an_import(app_role):
    """A large import asks PostgreSQL to ANALYZE members and mobilities (rosters.sql.analyze);
    the role that owns nothing may not itself, and would only get a warning."""
    import time

    from rosters import sql

    def analyzed() -> int:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_stat_clear_snapshot()")
            cursor.execute(
                "SELECT analyze_count FROM pg_stat_user_tables WHERE relname = 'members_member'"
            )
            return cursor.fetchone()[0]

    before = analyzed()
    conn = connect_as(app_role)
    conn.autocommit = True
    try:
        with conn.cursor() as cursor:
            cursor.execute("ANALYZE members_member")
            assert any("skipping" in notice for notice in conn.notices)  # what it cannot do
            del conn.notices[:]
            cursor.execute(sql.ANALYZE)
            assert conn.notices == []
    finally:
        conn.close()
    deadline = time.monotonic() + 10  # statistics reach other sessions within a moment
    while analyzed() == before and time.monotonic() < deadline:
        time.sleep(0.1)
    assert analyzed() == before + 1


def test_only_the_application_role_may_call_the_owners_functions(app_role):
    """Another role that can connect may not make the owner analyze tables at will."""
    from rosters import sql

    other = f"portal_other_{os.getpid()}"
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE ROLE {other} LOGIN")
    try:
        conn = connect_as(other)
        try:
            with pytest.raises(psycopg2.errors.InsufficientPrivilege), conn.cursor() as cursor:
                cursor.execute(sql.ANALYZE)
        finally:
            conn.close()
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"DROP ROLE {other}")
