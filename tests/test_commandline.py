"""Changes made on the command line reach the audit trail with who made them (manage.py)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.apps import apps
from django.db import connection

from portal.commandline import command_context, command_operator, os_user
from portal.embedded import database_url

REPO = Path(__file__).resolve().parent.parent


def test_servers_and_help_get_no_command_context():
    for argv in (["manage.py"], ["manage.py", "runserver"], ["manage.py", "--version"],
                 ["manage.py", "help"]):  # fmt: skip
        with command_context(argv) as entered:
            assert entered is None, argv


def test_the_operator_is_the_system_user_without_an_account():
    assert command_operator() == f"命令行（系统用户 {os_user()}）"


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_command_run_through_manage_py_is_in_the_trail_as_its_system_user():
    env = {
        **os.environ,
        "DATABASE_URL": database_url(connection.settings_dict),
        "PORTAL_ALLOW_DEV_SECRET": "1",
    }
    done = subprocess.run(
        [sys.executable, "manage.py", "grant_role", "auditor1", "auditor"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    events = apps.get_model("portal", "RoleAssignmentEvent").objects.filter(
        pgh_obj__user__username="auditor1"
    )
    assert [e.pgh_label for e in events] == ["insert"]
    context = events.get().pgh_context
    assert context["username"] == f"命令行（系统用户 {os_user()}）"
    assert context["command"] == "grant_role" and context["user"] is None


def test_a_command_refusal_is_prefixed_in_chinese_not_with_the_exception_name(run_manage):
    done = run_manage("seed_demo", "--batch-size", "0")
    assert done.returncode == 1
    assert done.stderr.strip().endswith("错误：每批人数至少为 1"), done.stderr
    assert "CommandError" not in done.stderr
    # --traceback still shows the exception as it is.
    done = run_manage("seed_demo", "--batch-size", "0", "--traceback")
    assert "CommandError: 每批人数至少为 1" in done.stderr
