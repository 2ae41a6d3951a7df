"""The audit trail: every change recorded with who and from where, append-only, auditor-only."""

import pytest
from django.db import connection, transaction
from django.db.utils import InternalError
from django.urls import reverse

from branches.tests.factories import make_tree
from members import services
from members.models import Member
from members.tests.factories import make_member
from portal.choices import AccessEventKind, Role
from portal.models import AccessEvent
from portal.tests.factories import make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def world():
    tree = make_tree()
    member = make_member(home_org=tree["village"], name="审计甲")
    return {"tree": tree, "member": member}


def member_events(member):
    from members.models import Member as M

    return M.pgh_event_model.objects.filter(pgh_obj_id=member.pk).order_by("pgh_id")


def test_bulk_update_and_raw_sql_are_recorded(world):
    member = world["member"]
    Member.objects.filter(pk=member.pk).update(remarks="批量修改")
    with connection.cursor() as cursor:
        cursor.execute("UPDATE members_member SET remarks = '原始SQL' WHERE id = %s", [member.pk])
    labels = list(member_events(member).values_list("pgh_label", "remarks"))
    assert labels == [("insert", ""), ("update", "批量修改"), ("update", "原始SQL")]


def test_a_bulk_statement_records_one_event_per_changed_row(world):
    village = world["tree"]["village"]
    others = [make_member(home_org=village, name=f"审计{n}") for n in "乙丙"]
    Member.objects.filter(pk=others[0].pk).update(remarks="已改")
    before = Member.pgh_event_model.objects.count()
    # One statement over three rows, one of which already holds the value: two events.
    touched = Member.objects.filter(pk__in=[world["member"].pk, *(m.pk for m in others)])
    assert touched.update(remarks="已改") == 3
    events = Member.pgh_event_model.objects.order_by("pgh_id")[before:]
    assert sorted(e.pgh_obj_id for e in events) == sorted([world["member"].pk, others[1].pk])
    assert {(e.pgh_label, e.remarks) for e in events} == {("update", "已改")}
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM members_member WHERE id = %s", [others[1].pk])
    deleted = Member.pgh_event_model.objects.get(pgh_label="delete")
    assert (deleted.pgh_obj_id, deleted.name) == (others[1].pk, "审计丙")


def test_trail_triggers_are_statement_level_and_survive_migration_states():
    import copy

    import pgtrigger

    assert copy.deepcopy(pgtrigger.Statement) is pgtrigger.Statement
    triggers = [t for t in Member._meta.triggers if t.name in {"insert_insert", "update_update"}]
    assert len(triggers) == 2
    for trigger in copy.deepcopy(triggers):  # as Django's migration states copy them
        sql = " ".join(str(trigger.compile(Member).sql).split())
        assert "NEW TABLE AS new_values FOR EACH STATEMENT" in sql
        assert "SELECT new_values.* FROM" in sql


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE members_memberevent SET remarks = 'x'",
        "DELETE FROM members_memberevent",
        "UPDATE portal_accessevent SET username = 'x'",
        "DELETE FROM portal_accessevent",
    ],
)
def test_no_one_can_alter_the_trail(world, sql):
    from portal.access import record_access

    record_access(kind=AccessEventKind.LOGIN, user=world["member"] and make_user())
    with pytest.raises(InternalError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql)


def test_request_context_is_recorded(world, client):
    user = make_user(Role.BRANCH_SECRETARY, world["tree"]["village"], username="secretary")
    client.force_login(user)
    response = client.post(
        reverse("members:return", args=[world["member"].pk]),
        {"returned_on": "2026-01-01"},
        REMOTE_ADDR="10.1.2.3",
    )
    # No current mobility: the form refuses, nothing changes. Register one through a request.
    assert response.status_code in (200, 302)
    response = client.post(
        reverse("members:outflow", args=[world["member"].pk]),
        {
            "left_on": "2025-05-01",
            "reason": "work",
            "destination": "陕西省西安市雁塔区",
            "employer": "某公司",
        },
        REMOTE_ADDR="10.1.2.3",
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    from members.models import Mobility

    event = Mobility.pgh_event_model.objects.get(pgh_label="insert")
    assert event.pgh_context["username"] == "secretary"
    assert event.pgh_context["ip"] == "10.1.2.3"
    assert event.pgh_context["url"].endswith("/outflow/")


def test_trail_pages_are_for_the_auditor_only(world, client):
    services.member_update(member=world["member"], remarks="已核实")
    for role, org in (
        (Role.COUNTY_ADMIN, world["tree"]["root"]),
        (Role.SYSTEM_ADMIN, None),
        (Role.SECURITY_ADMIN, None),
    ):
        client.force_login(make_user(role, org))
        assert client.get(reverse("audit:changes")).status_code == 403
        assert client.get(reverse("audit:export", args=["changes"])).status_code == 403
    superuser = make_user(is_superuser=True, is_staff=True)
    client.force_login(superuser)
    assert client.get(reverse("audit:changes")).status_code == 403
    client.force_login(make_user(Role.AUDITOR, username="auditor1"))
    page = client.get(reverse("audit:changes"), {"model": "members.Member"})
    assert page.status_code == 200
    html = page.content.decode()
    assert "remarks" in html and "已核实" in html


def test_auditor_searches_and_exports(world, client):
    auditor = make_user(Role.AUDITOR, username="auditor2")
    client.force_login(auditor)
    page = client.get(reverse("audit:access"), {"kind": AccessEventKind.LOGIN})
    assert page.status_code == 200
    assert "auditor2" in page.content.decode()
    export = client.get(reverse("audit:export", args=["changes"]), {"model": "members.Member"})
    assert export.status_code == 200
    body = b"".join(export.streaming_content).decode("utf-8")
    assert body.startswith("\ufeff时间,操作人")
    assert str(world["member"].pk) in body
    # The member's clear ID number never reaches the trail.
    assert world["member"].id_number not in body
    exported = AccessEvent.objects.get(kind=AccessEventKind.EXPORT)
    assert exported.username == "auditor2" and exported.detail["scope"] == "audit:changes"


def test_login_failures_and_logins_are_recorded(client):
    user = make_user(username="zhao", password="Zhao#2026abc")
    client.post(reverse("login"), {"username": "zhao", "password": "wrong"}, REMOTE_ADDR="10.0.0.9")
    client.post(reverse("login"), {"username": "zhao", "password": "Zhao#2026abc"})
    kinds = list(AccessEvent.objects.order_by("pk").values_list("kind", "username", "ip_address"))
    assert kinds[0] == (AccessEventKind.LOGIN_FAILED, "zhao", "10.0.0.9")
    assert kinds[1][:2] == (AccessEventKind.LOGIN, "zhao")
    assert user.pk


def test_account_changes_are_recorded_without_the_password():
    from django.apps import apps

    user = make_user(username="acct", password="Acct#2026pw")
    user.is_active = False
    user.save()
    events = apps.get_model("portal", "UserEvent").objects.filter(pgh_obj_id=user.pk)
    assert list(events.order_by("pgh_id").values_list("pgh_label", "is_active")) == [
        ("insert", True),
        ("update", False),
    ]
    assert not hasattr(events.first(), "password")
    # A login or a new password alone changes no tracked column: no event.
    from django.contrib.auth.models import update_last_login

    user.set_password("Acct#2027pw")
    user.save(update_fields=["password"])
    update_last_login(None, user)
    assert events.count() == 2
