"""The audit trail: every change recorded with who and from where, append-only, auditor-only."""

import csv
import datetime
import io
import json
import re

import pytest
from django.db import connection, transaction
from django.db.utils import InternalError
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from branches.tests.factories import make_tree
from members import services
from members.models import Member
from members.tests.factories import make_member
from portal.audit import event_models
from portal.choices import AccessEventKind, Role
from portal.masking import mask_id_number, mask_phone
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


def test_a_statement_reads_its_context_once_and_every_event_carries_it(world):
    import pghistory

    other = make_member(home_org=world["tree"]["village"], name="审计乙")
    with pghistory.context(source="批量测试", operator="审计测试"):
        Member.objects.filter(pk__in=[world["member"].pk, other.pk]).update(remarks="批量")
    events = list(Member.pgh_event_model.objects.filter(pgh_label="update"))
    assert len(events) == 2
    assert [(e.pgh_context["source"], e.pgh_context["operator"]) for e in events] == [
        ("批量测试", "审计测试")
    ] * 2
    assert len({e.pgh_context_id for e in events}) == 1 and events[0].pgh_context_id
    # In every history trigger the context is read in the statement's one-row CTE, not in the
    # SELECT over its rows (portal/triggers.py).
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT proname, prosrc FROM pg_proc WHERE prosrc LIKE '%%_pgh_attached_context%%'"
        )
        bodies = cursor.fetchall()
    assert len(bodies) >= 3 * 8  # insert, update and delete of every tracked model
    for name, body in bodies:
        once, per_row = body.split("INSERT INTO", 1)
        assert "CURRENT_SETTING('pghistory.context_metadata'" in once, name
        assert "CURRENT_SETTING" not in per_row, name


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


def test_no_trail_table_can_be_truncated(world):
    """Every event table and the access events refuse TRUNCATE too, so that neither a stray
    statement nor `manage.py flush` run against production empties the trail."""
    from portal.audit import event_models

    tables = [m._meta.db_table for m in event_models()] + [AccessEvent._meta.db_table]
    assert len(tables) >= 9
    for table in tables:
        with (
            pytest.raises(InternalError) as refused,
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            cursor.execute(f"TRUNCATE {table}")
        assert f"Cannot truncate {table} table" in str(refused.value)
        # Nor with every trigger of the table named in pgtrigger.ignore (trail_guard.py).
        with (
            pytest.raises(InternalError) as refused,
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            ignored = _every_trigger_of(cursor, [table])
            cursor.execute("SELECT set_config('pgtrigger.ignore', %s, true)", [ignored])
            cursor.execute(f"TRUNCATE {table}")
        assert f"审计记录只能追加，不能修改、删除或清空（{table}）" in str(refused.value)


def _every_trigger_of(cursor, tables: list[str]) -> str:
    cursor.execute(
        "SELECT array_agg(t.tgname::text) FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid"
        " WHERE c.relname = ANY(%s) AND NOT t.tgisinternal",
        [tables],
    )
    names = cursor.fetchone()[0]
    return "{" + ",".join(names) + "}"


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE members_memberevent SET remarks = 'x'",
        "DELETE FROM members_memberevent",
        "UPDATE portal_accessevent SET username = 'nobody', ip_address = '10.9.9.9'",
        "DELETE FROM portal_accessevent",
    ],
)
def test_no_session_setting_opens_the_trail(world, sql):
    """django-pgtrigger's triggers skip themselves for any trigger ``pgtrigger.ignore`` names,
    and any session may set it: the trail's own triggers do not ask."""
    from portal.access import record_access

    record_access(kind=AccessEventKind.LOGIN, user=make_user())
    with (
        pytest.raises(InternalError) as refused,
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        ignored = _every_trigger_of(cursor, ["members_memberevent", "portal_accessevent"])
        cursor.execute("SELECT set_config('pgtrigger.ignore', %s, true)", [ignored])
        cursor.execute(sql)
    assert "审计记录只能追加，不能修改、删除或清空" in str(refused.value)
    assert AccessEvent.objects.filter(kind=AccessEventKind.LOGIN).count() == 1


def test_no_session_setting_skips_the_recording(world):
    """Naming a tracked table's history triggers in ``pgtrigger.ignore`` does not make an
    unrecorded change: the statement is refused."""
    member = world["member"]
    before = member_events(member).count()
    with (
        pytest.raises(InternalError) as refused,
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        ignored = _every_trigger_of(cursor, ["members_member"])
        cursor.execute("SELECT set_config('pgtrigger.ignore', %s, true)", [ignored])
        cursor.execute(
            "UPDATE members_member SET remarks = 'unrecorded' WHERE id = %s", [member.pk]
        )
    assert "审计触发器不能被跳过" in str(refused.value)
    member.refresh_from_db()
    assert member.remarks != "unrecorded"
    assert member_events(member).count() == before
    # Ignoring nothing (what the import sets for speed) is no obstacle.
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT set_config('pgtrigger.ignore', '{}', true)")
        cursor.execute("UPDATE members_member SET remarks = 'recorded' WHERE id = %s", [member.pk])
    assert member_events(member).count() == before + 1


def test_a_statement_setting_pgtrigger_ignore_on_its_way_is_refused(world):
    """The setting read by the history triggers after the rows are written, set by the
    statement itself (in its WHERE clause, or a CTE): the check after the statement sees it."""
    member = world["member"]
    before = member_events(member).count()
    with connection.cursor() as cursor:
        ignored = _every_trigger_of(cursor, ["members_member"])
    for sql in [
        "UPDATE members_member SET remarks = 'unrecorded' WHERE id = %s"
        " AND set_config('pgtrigger.ignore', %s, true) IS NOT NULL",
        "WITH s AS (SELECT set_config('pgtrigger.ignore', %s, true))"
        " UPDATE members_member SET remarks = 'unrecorded' FROM s WHERE id = %s",
    ]:
        params = [member.pk, ignored] if sql.startswith("UPDATE") else [ignored, member.pk]
        with (
            pytest.raises(InternalError) as refused,
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            cursor.execute(sql, params)
        assert "审计触发器不能被跳过" in str(refused.value)
    member.refresh_from_db()
    assert member.remarks != "unrecorded"
    assert member_events(member).count() == before


def test_tracked_tables_cannot_be_emptied_unrecorded():
    for table in ("members_member", "branches_organization"):
        with (
            pytest.raises(InternalError) as refused,
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            cursor.execute(f"TRUNCATE {table} CASCADE")
        assert "受审计的表不能清空" in str(refused.value)


def test_every_trail_and_tracked_table_has_its_guard():
    from portal import trail_guard

    with connection.cursor() as cursor:
        assert trail_guard.missing(cursor) == set()
    assert len(trail_guard.trail_tables()) >= 10
    assert {"members_member", "members_mobility", "branches_organization"} <= set(
        trail_guard.tracked_tables()
    )


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


@pytest.mark.parametrize("method", ["get", "head", "options"])
def test_changes_made_by_reading_requests_carry_who_and_from_where(world, method):
    """Requests that only read write too: opening the second factor's page sets up an
    authenticator, a token's call dates its last use (before DRF names the request's user).
    Their changes name who and from where, HEAD and OPTIONS requests' included."""
    from django.apps import apps
    from django.test import Client
    from rest_framework.test import APIClient

    from portal.models import ApiToken
    from portal.services import api_token_create

    browser = Client()
    browser.force_login(make_user(Role.BRANCH_SECRETARY, world["tree"]["village"], username="hd"))
    assert getattr(browser, method)(reverse("otp"), REMOTE_ADDR="10.1.2.4").status_code == 200
    device = apps.get_model("portal", "SecondFactorEvent").objects.get(pgh_label="insert")
    token, key = api_token_create(name="大屏", organization=world["tree"]["township"])
    system = APIClient()
    system.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert getattr(system, method)("/api/v1/members/", REMOTE_ADDR="10.1.2.5").status_code == 200
    used = ApiToken.pgh_event_model.objects.filter(pgh_obj_id=token.pk, pgh_label="update").get()
    assert used.last_used_at is not None
    assert (device.pgh_context["username"], device.pgh_context["ip"]) == ("hd", "10.1.2.4")
    assert device.pgh_context["method"] == method.upper()
    assert (used.pgh_context["username"], used.pgh_context["ip"]) == (
        token.user.username,
        "10.1.2.5",
    )


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
    assert "备注：" in html and "已核实" in html
    assert "党员 #" in html and "members.Member" not in html.split("<tbody")[1]


def test_access_page_reads_in_chinese(world, client):
    from portal.access import record_access

    record_access(kind=AccessEventKind.REVEAL, obj=world["member"], field="phone")
    record_access(kind=AccessEventKind.TOKEN_REFUSED, reason="revoked", token="大屏", locked=True)
    record_access(kind=AccessEventKind.EXPORT, scope="ledger:all", rows=12, source="command")
    record_access(kind=AccessEventKind.EXPORT, scope="members?q=甲", filters={"q": "甲"}, rows=1)
    # The contact person is the member's current mobility's field.
    record_access(kind=AccessEventKind.REVEAL, obj=world["member"], field="contact_person")
    record_access(kind=AccessEventKind.EXPORT, scope="import:7:bad-rows", rows=3)
    record_access(kind=AccessEventKind.EXPORT, scope="audit:access", rows=3)
    record_access(
        kind=AccessEventKind.EXPORT,
        scope="members?member_type=full&mobile=true",
        filters={"member_type": "full", "mobile": "true"},
        rows=2,
    )
    record_access(
        kind=AccessEventKind.EXPORT,
        scope="members?province=610000",
        filters={"province": "610000"},
        rows=2,
    )
    client.force_login(make_user(Role.AUDITOR))
    rows = client.get(reverse("audit:access")).content.decode().split("<tbody")[1]
    for shown in (
        f"党员 #{world['member'].pk}",
        "字段：联系电话",
        "字段：联系人",
        "范围：全部台账",
        "范围：党员名册筛选结果<",  # what it was filtered by is the next detail's, in Chinese
        "范围：登记表导入 #7 的错误行",
        "范围：访问记录",
        "筛选条件：党员类型=正式党员；流动党员=是",
        "筛选条件：流入省份=陕西省",
        "原因：令牌已吊销",
        "令牌：大屏",
        "地址已锁定：是",
        "行数：12",
        "来源：命令行",
        "筛选条件：搜索=甲",  # a member-list export's filters, by their labels
    ):
        assert shown in rows, shown
    for code in ("members.member", "reason", "revoked", "locked", "command", "phone", "contact"):
        assert code not in rows, code
    for code in ("ledger:all", "import:7", "audit:access", "q=甲", "mobile=true", "province="):
        assert code not in rows, code


def test_auditor_searches_and_exports(world, client):
    auditor = make_user(Role.AUDITOR, username="auditor2")
    client.force_login(auditor)
    page = client.get(reverse("audit:access"), {"kind": AccessEventKind.LOGIN})
    assert page.status_code == 200
    assert "auditor2" in page.content.decode()
    export = client.get(reverse("audit:export", args=["changes"]), {"model": "members.Member"})
    assert export.status_code == 200
    body = b"".join(export.streaming_content).decode("utf-8")
    assert body.startswith("\ufeff导出人 auditor2 导出时间 ")
    assert body.splitlines()[1].startswith("时间,操作人")
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


def test_accounts_named_like_phones_stay_identifiable(client):
    """Two accounts whose names are phone numbers differing in the masked middle: the trail must
    tell them apart. A phone-like name no account has (typed at a failed sign-in) is masked."""
    first = make_user(username="13912345678", password="Zhao#2026abc")
    make_user(username="13900005678", password="Zhao#2026abc")
    client.post(reverse("login"), {"username": "13912345678", "password": "wrong"})
    client.post(reverse("login"), {"username": "13900005678", "password": "Zhao#2026abc"})
    client.logout()
    client.post(reverse("login"), {"username": "13811112222", "password": "Zhao#2026abc"})
    from portal.access import record_access

    record_access(
        kind=AccessEventKind.EXPORT, user=first, username="13912345678（命令行，系统用户 root）"
    )
    names = list(AccessEvent.objects.order_by("pk").values_list("kind", "username"))
    assert names == [
        (AccessEventKind.LOGIN_FAILED, "13912345678"),
        (AccessEventKind.LOGIN, "13900005678"),
        (AccessEventKind.LOGOUT, "13900005678"),
        (AccessEventKind.LOGIN_FAILED, "138****2222"),
        (AccessEventKind.EXPORT, "13912345678（命令行，系统用户 root）"),
    ]


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


def test_permissions_groups_and_deleted_imports_are_recorded(world, client):
    """What a superuser can do in the back office beyond roles: permissions and groups given
    to accounts and groups, and deleting an import's record with its links to members."""
    from django.apps import apps
    from django.contrib.auth.models import Group, Permission

    from rosters.models import RosterImport

    user = make_user(username="clerk")
    group = Group.objects.create(name="办事员")
    permission = Permission.objects.get(codename="change_member")
    user.user_permissions.add(permission)
    user.groups.add(group)
    group.permissions.add(permission)
    user.user_permissions.remove(permission)
    events = {
        name: list(apps.get_model("portal", name).objects.order_by("pgh_id").values_list(
            "pgh_label", flat=True))
        for name in ("AccountPermissionEvent", "AccountGroupEvent", "GroupPermissionEvent")
    }  # fmt: skip
    assert events == {
        "AccountPermissionEvent": ["insert", "delete"],
        "AccountGroupEvent": ["insert"],
        "GroupPermissionEvent": ["insert"],
    }
    member = world["member"]
    record = RosterImport.objects.create(filename="花名册.xlsx", rows_read=1, rows_created=1)
    record.member_links.create(member=member, action="created", row_number=2)
    client.force_login(get_superuser())
    response = client.post(
        reverse("admin:rosters_rosterimport_delete", args=[record.pk]), {"post": "yes"}
    )
    assert response.status_code == 302 and not RosterImport.objects.exists()
    (gone,) = apps.get_model("rosters", "RosterImportEvent").objects.all()
    assert (gone.pgh_label, gone.filename, gone.rows_created) == ("delete", "花名册.xlsx", 1)
    assert gone.pgh_context["username"] == "root"
    (link,) = apps.get_model("rosters", "RosterImportMemberEvent").objects.all()
    assert (link.pgh_label, link.member_id, link.row_number) == ("delete", member.pk, 2)
    # The auditor reads them in Chinese.
    client.force_login(make_user(Role.AUDITOR, username="auditor9"))
    page = client.get(reverse("audit:changes"), {"model": "portal.AccountPermission"})
    text = page.content.decode()
    assert "账号权限" in text and "权限" in text and ">user<" not in text


def get_superuser():
    from django.contrib.auth import get_user_model

    return get_user_model().objects.create_superuser("root", password="Root#2026pw")


# ---------------------------------------------------------------------------------------------
# What the auditor reads: values masked, inserts and deletes with their values, exports counted


def export_csv(client, which="changes", **params):
    """The export's lines as lists of cells, with the BOM checked and taken off."""
    response = client.get(reverse("audit:export", args=[which]), params)
    assert response.status_code == 200
    body = b"".join(response.streaming_content).decode("utf-8")
    assert body.startswith("\ufeff")
    return list(csv.reader(io.StringIO(body[1:])))


def change_dicts(lines):
    """The data rows of a change-trail export, by header, the before/after cells parsed."""
    header = lines[1]
    rows = [dict(zip(header, line, strict=True)) for line in lines[2:]]
    for row in rows:
        for key in ("变更前", "变更后"):
            row[key] = json.loads(row[key]) if row[key] else {}
    return rows


@pytest.fixture
def auditor_client(client):
    client.force_login(make_user(Role.AUDITOR, username="auditor3"))
    return client


def test_phones_and_id_numbers_are_masked_in_the_trail(world, auditor_client):
    member = world["member"]
    old_phone, new_phone = member.phone, "13912345678"
    services.member_update(member=member, phone=new_phone)
    village = world["tree"]["village"]
    village.phone = "0359-1234567"
    village.save()
    services.member_register_outflow(
        member=member,
        left_on=datetime.date(2025, 1, 1),
        destination_code="610113",
        contact_person="孙荣海 17326678980",
    )
    clear = [old_phone, new_phone, member.id_number, "0359-1234567", "17326678980"]

    html = auditor_client.get(reverse("audit:changes")).content.decode()
    assert not [value for value in clear if value in html]
    assert f"{mask_phone(old_phone)} → {mask_phone(new_phone)}" in html
    assert mask_phone("0359-1234567") in html
    assert mask_id_number(member.id_number) in html  # the insert's values
    assert "联系人：孙荣海 173****8980" in html  # a phone inside free text

    lines = export_csv(auditor_client)
    body = "\n".join(",".join(line) for line in lines)
    assert not [value for value in clear if value in body]
    rows = change_dicts(lines)
    update = next(r for r in rows if r["对象编号"] == str(member.pk) and r["操作"] == "修改")
    assert update["变更前"]["联系电话"] == mask_phone(old_phone)
    assert update["变更后"]["联系电话"] == mask_phone(new_phone)
    org = next(r for r in rows if r["对象编号"] == str(village.pk) and r["操作"] == "修改")
    assert org["变更后"]["联系电话"] == "0359-***4567"


def test_an_update_that_only_reencrypts_the_id_number_does_not_show_it(world, auditor_client):
    # Every save encrypts the ID number anew (random nonce): a new ciphertext, the same number.
    services.member_update(member=world["member"], remarks="已核实")
    rows = change_dicts(export_csv(auditor_client, model="members.Member", label="update"))
    assert len(rows) == 1
    assert rows[0]["变更后"]["备注"] == "已核实"
    assert "公民身份号码" not in rows[0]["变更前"] and "公民身份号码" not in rows[0]["变更后"]
    # A real change of the number is shown, masked on both sides.
    from members.tests.factories import make_id_number

    old, new = world["member"].id_number, make_id_number()
    services.member_update(member=world["member"], id_number=new)
    rows = change_dicts(export_csv(auditor_client, model="members.Member", label="update"))
    assert rows[0]["变更前"]["公民身份号码"] == mask_id_number(old)
    assert rows[0]["变更后"]["公民身份号码"] == mask_id_number(new)


def test_the_pages_keys_find_what_pghistorys_query_finds(world, client):
    """ChangePages (keys first, then one page's values) against pghistory's aggregate query
    filtered by the same FilterSet: the same events in the same order, for every filter."""
    from portal.audit import ChangeEventFilterSet, ChangePages, change_events

    user = make_user(Role.BRANCH_SECRETARY, world["tree"]["village"], username="secretary")
    client.force_login(user)
    client.post(
        reverse("members:outflow", args=[world["member"].pk]),
        {"left_on": "2025-05-01", "reason": "work", "destination": "陕西省西安市雁塔区"},
        REMOTE_ADDR="10.1.2.3",
    )
    services.member_update(member=world["member"], remarks="核实")
    import pghistory

    with pghistory.context(username="secretary（命令行，系统用户 root）"):
        services.member_update(member=world["member"], remarks="命令行核实")
    with pghistory.context(username="secretary2"):
        services.member_update(member=world["member"], remarks="另一人核实")
    today = timezone.localdate().isoformat()
    member_id = str(world["member"].pk)
    for query in [
        {},
        {"model": "members.Member"},
        {"model": "members.Member", "object_id": member_id, "label": "update"},
        {"username": "secretary"},
        {"ip": "10.1.2.3", "label": "insert"},
        {"since": today, "until": today},
        {"until": "2000-01-01"},
        {"object_id": member_id},
    ]:
        filterset = ChangeEventFilterSet(query, queryset=change_events())
        assert filterset.is_valid(), query
        expected = [(e.pgh_model, e.pgh_id) for e in filterset.qs]
        pages = ChangePages(filterset.form.cleaned_data)
        assert pages.count() == len(expected), query
        assert [(e.pgh_model, e.pgh_id) for e in pages[0:1000]] == expected, query
        assert [(e.pgh_model, e.pgh_id) for e in pages[1:3]] == expected[1:3], query
        # The CSV's reading: the same, each with their number, in chunks of any size.
        for size in (1, 2, 1000):
            read = list(ChangePages(filterset.form.cleaned_data).counted(chunk_size=size))
            assert [(e.pgh_model, e.pgh_id) for _total, e in read] == expected, (query, size)
            assert {total for total, _e in read} <= {len(expected)}, (query, size)
    # An account's search finds its command-line work too, and not another account's.
    found = ChangePages({"username": "secretary"})[0:100]
    names = {e.pgh_context["username"] for e in found}
    assert names == {"secretary", "secretary（命令行，系统用户 root）"}


def test_the_page_says_where_each_change_came_from(world, auditor_client):
    import pghistory
    from django.test import Client

    user = make_user(Role.BRANCH_SECRETARY, world["tree"]["village"], username="secretary")
    client = Client()
    client.force_login(user)
    outflow = reverse("members:outflow", args=[world["member"].pk])
    client.post(outflow, {"left_on": "2025-05-01", "reason": "work", "destination": "陕西省西安市"})
    with pghistory.context(roster_import=7, username="county"):
        services.member_update(member=world["member"], remarks="导入核实")
    with pghistory.context(username="命令行（系统用户 root）", command="rotate_encryption_keys"):
        services.member_update(member=world["member"], remarks="命令核实")
    html = auditor_client.get(reverse("audit:changes")).content.decode()
    assert f"POST {outflow}" in html
    assert "登记表导入 #7" in html
    assert "命令 rotate_encryption_keys" in html
    # The CSV says it too.
    sources = {
        (r["请求方法"], r["请求路径"], r["来源"]) for r in change_dicts(export_csv(auditor_client))
    }
    assert {("", "", "登记表导入 #7"), ("", "", "命令 rotate_encryption_keys")} <= sources
    assert ("POST", outflow, "") in sources


def test_an_accounts_access_events_include_its_command_line_ones(auditor_client):
    from portal.access import record_access

    for name in ("county", "county（命令行，系统用户 root）", "county2", "命令行（系统用户 root）"):
        record_access(kind=AccessEventKind.EXPORT, username=name, scope="ledger", rows=1)
    page = auditor_client.get(reverse("audit:access"), {"username": "county"})
    shown = [e.username for e in page.context["object_list"]]
    assert sorted(shown) == ["county", "county（命令行，系统用户 root）"]


def test_inserts_and_deletes_show_their_values(world, auditor_client):
    member = world["member"]
    services.member_update(member=member, remarks="删除前备注")
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM members_member WHERE id = %s", [member.pk])
    filters = {"model": "members.Member", "object_id": member.pk}

    inserted = auditor_client.get(reverse("audit:changes"), {**filters, "label": "insert"})
    html = inserted.content.decode()
    assert "姓名：审计甲" in html and f"编号：{member.pk}" in html
    assert f"联系电话：{mask_phone(member.phone)}" in html
    assert f"公民身份号码：{mask_id_number(member.id_number)}" in html
    assert f"出生日期：{member.birth_date.year}-**-**" in html
    assert member.birth_date.isoformat() not in html
    deleted = auditor_client.get(reverse("audit:changes"), {**filters, "label": "delete"})
    html = deleted.content.decode()
    assert "备注：删除前备注" in html
    assert f"联系电话：{mask_phone(member.phone)}" in html
    assert "→" not in html.split("<tbody>")[1]
    # Times among the values are local, as the event times are (not UTC).
    created = timezone.localtime(member.created_at)
    assert created.utcoffset() == datetime.timedelta(hours=8)
    assert f"创建时间：{created.isoformat(sep=' ')}" in inserted.content.decode()
    assert "+00:00" not in html

    rows = {r["操作"]: r for r in change_dicts(export_csv(auditor_client, **filters))}
    assert rows.keys() == {"新增", "修改", "删除"}
    assert rows["新增"]["变更前"] == {}
    assert rows["新增"]["变更后"]["姓名"] == "审计甲"
    assert rows["新增"]["变更后"]["联系电话"] == mask_phone(member.phone)
    assert rows["新增"]["变更后"]["公民身份号码"] == mask_id_number(member.id_number)
    # In the page's words: the model's and columns' Chinese names, coded values by their labels.
    assert rows["新增"]["对象类型"] == "党员"
    assert rows["新增"]["变更后"]["党籍状态"] == "正常"
    assert rows["新增"]["变更后"]["党员类型"] == member.get_member_type_display()
    assert rows["新增"]["变更后"]["组织关系所在党组织"] == str(member.home_org_id)
    assert not [k for k in rows["新增"]["变更后"] if k.isascii() and k != "ID"]
    assert rows["删除"]["变更后"] == {}
    assert rows["删除"]["变更前"]["备注"] == "删除前备注"
    assert rows["删除"]["变更前"]["公民身份号码"] == mask_id_number(member.id_number)
    assert set(rows["修改"]["变更前"]) == {"备注", "更新时间"}
    # Times in the export are local, with their offset, like the page's.
    offset = "+08:00"
    assert rows["新增"]["时间"].endswith(offset)
    assert rows["新增"]["变更后"]["创建时间"] == timezone.localtime(member.created_at).isoformat(
        sep=" "
    )
    assert rows["修改"]["变更后"]["更新时间"].endswith(offset)


def test_the_trail_is_read_in_a_fixed_number_of_queries(world, auditor_client):
    def queries(action):
        with CaptureQueriesContext(connection) as captured:
            action()
        return captured

    shown = []

    def page():
        response = auditor_client.get(reverse("audit:changes"))
        assert response.status_code == 200
        shown.append({event.pgh_model for event in response.context["object_list"]})

    def export():
        export_csv(auditor_client)

    page()  # the session's first request reads what later ones have cached
    few = (queries(page), queries(export))
    village = world["tree"]["village"]
    for n in range(10):
        make_member(home_org=village, name=f"审计{n}")
    services.member_update(member=world["member"], remarks="再次核实")
    many = (queries(page), queries(export))
    assert [len(c) for c in few] == [len(c) for c in many]
    # The page: its count and its keys from the event tables alone, then the values of its
    # events, one query per event table on the page (never per row). The export: one query of
    # the keys and their number together, then the values of a chunk of keys, one query per
    # event table in the chunk (all of them fit in one here), and one access event.
    page_sqls = [q["sql"] for q in many[0].captured_queries]
    assert len([s for s in page_sqls if "UNION ALL" in s and "pgh_obj_model" not in s]) == 2
    assert len([s for s in page_sqls if "pgh_obj_model" in s]) == len(shown[-1]) >= 2
    sqls = [q["sql"] for q in many[1].captured_queries]
    keys = [s for s in sqls if "UNION ALL" in s and "pgh_obj_model" not in s]
    assert len(keys) == 1 and "count(*) OVER ()" in keys[0]
    tables = [m for m in event_models() if m.objects.exists()]
    assert len([s for s in sqls if "pgh_obj_model" in s]) == len(tables) >= 3
    assert len([s for s in sqls if s.startswith("INSERT") and "portal_accessevent" in s]) == 1


def test_an_export_is_watermarked_and_recorded_with_its_rows(world, auditor_client):
    services.member_update(member=world["member"], remarks="已核实")
    lines = export_csv(auditor_client, model="members.Member")
    mark = re.fullmatch(r"导出人 auditor3 导出时间 (\d{4}-\d{2}-\d{2} \d{2}:\d{2})", lines[0][0])
    assert mark and len(lines[0]) == 1
    at = datetime.datetime.strptime(mark[1], "%Y-%m-%d %H:%M")
    assert abs(timezone.localtime().replace(tzinfo=None) - at) < datetime.timedelta(minutes=2)
    assert lines[1][0] == "时间"
    assert len(lines) - 2 == 2  # the member's insert and update
    # Empty cells stay empty (no formula-escape apostrophe): no request made these changes.
    assert lines[2][1:5] == ["", "", "", ""]
    event = AccessEvent.objects.get(kind=AccessEventKind.EXPORT)
    assert event.detail["rows"] == 2 and event.detail["scope"] == "audit:changes"

    lines = export_csv(auditor_client, "access", kind=AccessEventKind.EXPORT)
    assert lines[0][0].startswith("导出人 auditor3 导出时间 ")
    assert len(lines) - 2 == 1  # the first export; this one is recorded after its rows were read
    detail = {"范围": "变更记录", "行数": "2", "筛选条件": "对象类型=党员"}
    assert json.loads(lines[2][7]) == detail
    latest = AccessEvent.objects.filter(kind=AccessEventKind.EXPORT).latest("pk")
    assert latest.detail["rows"] == 1 and latest.detail["scope"] == "audit:access"

    lines = export_csv(auditor_client, model="members.Member", object_id="0")
    assert len(lines) == 2
    latest = AccessEvent.objects.filter(kind=AccessEventKind.EXPORT).latest("pk")
    assert latest.detail["rows"] == 0


def test_lockouts_unlocking_and_second_factors_are_in_the_trail(client):
    from axes.models import AccessAttempt
    from django.apps import apps
    from django_otp.plugins.otp_totp.models import TOTPDevice

    user = make_user(username="li", password="Secret#2026pw")
    for _ in range(2):
        client.post(
            reverse("login"), {"username": "li", "password": "wrong"}, REMOTE_ADDR="10.0.0.9"
        )
    lockouts = apps.get_model("portal", "LockoutEvent").objects.filter(username="li")
    assert sorted(lockouts.values_list("pgh_label", flat=True)) == ["insert", "update"]
    AccessAttempt.objects.filter(username="li").delete()  # what unlocking does
    assert lockouts.filter(pgh_label="delete").count() == 1
    device = TOTPDevice.objects.create(user=user, name="手机")
    events = apps.get_model("portal", "SecondFactorEvent")
    assert events.objects.get(pgh_obj_id=device.pk).name == "手机"
    # The shared secret never reaches the trail.
    assert "key" not in {f.name for f in events._meta.fields}
    with connection.cursor() as cursor:
        columns = [c.name for c in connection.introspection.get_table_description(
            cursor, events._meta.db_table)]  # fmt: skip
    assert "key" not in columns


def test_phones_and_id_numbers_typed_into_free_text_are_masked_in_the_trail(world, client):
    from members.tests.factories import make_id_number

    number = make_id_number()
    services.member_update(member=world["member"], remarks=f"家属电话 13912345678，身份证 {number}")
    # A phone or ID number typed as the username of a failed sign-in (no such account).
    client.post(reverse("login"), {"username": number, "password": "wrong"}, REMOTE_ADDR="10.0.0.9")
    client.force_login(make_user(Role.AUDITOR, username="auditor4"))
    html = client.get(reverse("audit:changes")).content.decode()
    body = "\n".join(",".join(line) for line in export_csv(client))
    for shown in (html, body):
        assert "13912345678" not in shown and number not in shown
        assert "139****5678" in shown and mask_id_number(number) in shown
    lockout = client.get(reverse("audit:changes"), {"model": "portal.Lockout"}).content.decode()
    assert "登录失败记录" in lockout and "Attempted Access" not in lockout


def test_failures_a_sign_in_clears_are_cleared_in_the_name_of_who_signed_in(client):
    from django.apps import apps

    make_user(username="li", password="Secret#2026pw")
    login = reverse("login")
    client.post(login, {"username": "li", "password": "wrong"}, REMOTE_ADDR="10.0.0.9")
    response = client.post(
        login, {"username": "li", "password": "Secret#2026pw"}, REMOTE_ADDR="10.0.0.9"
    )
    assert response.status_code == 302
    cleared = apps.get_model("portal", "LockoutEvent").objects.get(pgh_label="delete")
    assert cleared.pgh_context["username"] == "li"
    assert cleared.pgh_context["user"] is not None


def test_every_trail_table_refuses_updates_and_deletes():
    """Whatever is tracked, now or later: each event table carries its append-only trigger."""
    from portal.audit import event_models

    tables = {model._meta.db_table for model in event_models()}
    assert {"members_memberevent", "portal_lockoutevent", "portal_secondfactorevent"} <= tables
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid"
            " WHERE NOT t.tgisinternal AND t.tgname LIKE 'pgtrigger_append_only_%%'"
        )
        protected = {name for (name,) in cursor.fetchall()}
    assert tables <= protected, tables - protected


def test_crafted_filters_are_refused_or_recorded_never_a_server_error(world, client):
    """A NUL character in a query string (PostgreSQL's text and JSON cannot hold one) and an
    address filter that is no address: refused with a message, or recorded with a mark."""
    client.force_login(make_user(Role.AUDITOR))
    page = client.get(reverse("audit:access"), {"ip": "abc"})
    assert page.status_code == 200 and "ip" in page.context["filterset"].form.errors
    export = client.get(reverse("audit:export", args=["access"]), {"kind": "\x00"})
    assert export.status_code == 200
    b"".join(export.streaming_content)
    event = AccessEvent.objects.filter(kind=AccessEventKind.EXPORT).latest("pk")
    assert event.detail["filters"] == {"kind": "\ufffd"}


def test_every_column_of_the_trail_is_named_in_chinese():
    """Lockouts (django-axes) and TOTP devices (django-otp) come with English names only; the
    portal's catalog names them for the auditor."""
    from django.utils import translation

    from portal.audit import Change, event_models

    with translation.override("zh-hans"):
        english = [
            (model.__name__, field.column, Change(field.column, None, None, field).label)
            for model in event_models()
            for field in model._meta.concrete_fields
            if not field.column.startswith("pgh_")
            and Change(field.column, None, None, field).label.isascii()
            and field.column != "id"
        ]
    assert english == []


def test_references_are_named_on_the_pages(world, auditor_client):
    """An auditor reads who and what, not bare ids: the object of each line, and the objects
    its reference columns point to (a role's account and organization)."""
    from portal.access import record_access
    from portal.services import role_grant

    village = world["tree"]["village"]
    assignment = role_grant(username="wang", role=Role.BRANCH_SECRETARY, organization=village)
    html = auditor_client.get(reverse("audit:changes"), {"model": "portal.RoleAssignment"})
    html = html.content.decode()
    assert f"用户：{assignment.user_id}（wang）" in html
    assert f"所在党组织：{village.pk}（{village.name}）" in html
    member = world["member"]
    record_access(kind=AccessEventKind.REVEAL, user=assignment.user, obj=member, field="phone")
    html = auditor_client.get(reverse("audit:access")).content.decode()
    assert f"#{member.pk} 审计甲" in html


def test_previous_versions_are_found_through_the_object_and_event_index(world):
    """Every event table is indexed on (tracked object, event id): pghistory's lookup of an
    event's previous version (for the diff the page and the CSV show) is answered by it, with
    both conditions in the index, rather than by walking the table along its primary key."""
    from django.apps import apps
    from pghistory.models import Events

    with connection.cursor() as cursor:
        for model in event_models():
            table = model._meta.db_table
            indexes = connection.introspection.get_constraints(cursor, table).values()
            pairs = [i["columns"] for i in indexes if i["index"] and not i["primary_key"]]
            assert ["pgh_obj_id", "pgh_id"] in pairs, table
            assert ["pgh_obj_id"] not in pairs, table  # the pair's first column serves for it

    for n in range(3):
        services.member_update(member=world["member"], remarks=f"第{n}次核实")
    event_model = apps.get_model("members.MemberEvent")
    ids = list(event_model.objects.values_list("pgh_id", flat=True))
    sql, params = Events.objects.across(event_model).filter(pgh_id__in=ids).query.sql_with_params()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")  # tiny tables: the plan of big ones
        cursor.execute("EXPLAIN (FORMAT JSON) " + sql, params)
        (plan,) = cursor.fetchone()
        table = event_model._meta.db_table
        pair = next(
            name
            for name, index in connection.introspection.get_constraints(cursor, table).items()
            if index["columns"] == ["pgh_obj_id", "pgh_id"]
        )

    def nodes(node):
        yield node
        for child in node.get("Plans", []):
            yield from nodes(child)

    # The lookup of each event's previous version: both its conditions answered by the pair.
    lookups = [n for n in nodes(plan[0]["Plan"]) if n.get("Index Name") == pair]
    assert lookups, plan
    assert all("pgh_obj_id =" in n["Index Cond"] and "pgh_id <" in n["Index Cond"] for n in lookups)


def test_a_download_stopped_early_closes_its_cursor(world, auditor_client, monkeypatch):
    """The export reads the trail through a server-side cursor; a download that stops mid-way
    (the server closes the response, which closes the CSV's generator) closes it at once. With
    server-side cursors disabled in the settings (a PgBouncer in transaction mode) the export
    reads the keys whole, the same rows."""
    from portal import audit

    for n in range(3):
        services.member_update(member=world["member"], remarks=f"第{n}次核实")
    everything = export_csv(auditor_client)
    monkeypatch.setattr(audit, "CHUNK_SIZE", 2)

    def open_cursors() -> int:
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM pg_cursors")
            return cursor.fetchone()[0]

    def first_lines():
        lines = audit.csv_lines(
            audit.ChangePages({}).counted(), audit.CHANGE_HEADER, audit.change_row,
            mark="auditor3", on_total=lambda rows: None,
        )  # fmt: skip
        for _ in range(3):  # the watermark, the header, the first event
            next(lines)
        return lines

    lines = first_lines()
    assert open_cursors() == 1
    lines.close()
    assert open_cursors() == 0

    monkeypatch.setitem(connection.settings_dict, "DISABLE_SERVER_SIDE_CURSORS", True)
    lines = first_lines()
    assert open_cursors() == 0
    lines.close()
    assert export_csv(auditor_client)[2:] == everything[2:]


def test_exports_have_chinese_file_names_and_an_unfiltered_one_says_so(world, auditor_client):
    from urllib.parse import quote

    for which, name in (("changes", "变更记录"), ("access", "访问记录")):
        response = auditor_client.get(reverse("audit:export", args=[which]))
        disposition = response["Content-Disposition"]
        assert disposition.startswith("attachment;") and quote(name) in disposition
        b"".join(response.streaming_content)
    page = auditor_client.get(reverse("audit:access"), {"kind": AccessEventKind.EXPORT})
    assert "筛选条件：无" in page.content.decode()


def test_region_codes_in_the_trail_name_their_place(world, auditor_client):
    services.member_register_outflow(
        member=world["member"], left_on=datetime.date(2025, 1, 1), destination_code="610113"
    )
    html = auditor_client.get(reverse("audit:changes"), {"model": "members.Mobility"})
    assert "610113（陕西省西安市雁塔区）" in html.content.decode()


def test_a_large_export_is_announced_with_how_to_narrow_it(world, auditor_client, monkeypatch):
    from portal import audit_views

    page = auditor_client.get(reverse("audit:changes")).content.decode()
    assert "可能需要几分钟" not in page
    monkeypatch.setattr(audit_views, "LARGE_EXPORT", 1)
    page = auditor_client.get(reverse("audit:changes")).content.decode()
    assert "可能需要几分钟；可先用筛选条件" in page


def test_an_export_records_only_the_filters_set(world, auditor_client):
    params = {"page": "2", "username": "", "since": "", "label": "update"}
    b"".join(
        auditor_client.get(reverse("audit:export", args=["changes"]), params).streaming_content
    )
    event = AccessEvent.objects.filter(kind=AccessEventKind.EXPORT).latest("pk")
    assert event.detail["filters"] == {"label": "update"}
    page = auditor_client.get(reverse("audit:access"), {"kind": AccessEventKind.EXPORT})
    assert "筛选条件：操作=修改" in page.content.decode()


@pytest.mark.parametrize("which", ["changes", "access"])
def test_a_period_that_ends_before_it_starts_is_refused_with_a_message(
    world, auditor_client, which
):
    """Not a silent empty trail: the auditor is told the two dates are the wrong way round."""
    page = auditor_client.get(
        reverse(f"audit:{which}"), {"since": "2026-12-01", "until": "2026-01-01"}
    )
    assert page.status_code == 200
    assert page.context["filterset"].form.errors["until"] == ["截止日期不能早于起始日期"]
    assert "截止日期不能早于起始日期" in page.content.decode()
    same_day = auditor_client.get(
        reverse(f"audit:{which}"), {"since": "2026-01-01", "until": "2026-01-01"}
    )
    assert same_day.context["filterset"].form.errors == {}


@pytest.mark.parametrize("which", ["changes", "access"])
def test_an_address_filter_that_is_no_address_says_so_on_both_tabs(world, auditor_client, which):
    """A partial address (127.0.0) finds nothing on either tab: both say why."""
    page = auditor_client.get(reverse(f"audit:{which}"), {"ip": "127.0.0"})
    assert page.status_code == 200
    assert "ip" in page.context["filterset"].form.errors
    assert not page.context["object_list"]
