"""Roster and organization imports (rosters/services.py)."""

import datetime
import io

import pytest
from django.apps import apps
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from branches.choices import BranchType, OrgKind
from branches.models import BranchTypeChange, Organization
from branches.tests.factories import make_branch, make_committee
from members import services as member_services
from members.models import Member, Mobility
from members.tests.factories import make_member
from portal.tests.locks import a_session_waits_on_a_lock, run_beside
from rosters import services, sql
from rosters.choices import ImportKind, ImportStatus, LinkAction
from rosters.models import RosterImport, RosterImportMember

from .rosterdata import member_row, member_rows, write_xlsx

pytestmark = pytest.mark.django_db


def test_the_staging_table_mirrors_clean_rows():
    from rosters.validation import CleanRow

    staged = tuple(sql._STAGE_TYPES)
    assert staged == ("row_number", *sql.MEMBER_COLUMNS, *sql.MOBILITY_FIELDS)
    assert set(staged) == set(CleanRow._fields) | {"id_number_hash", "id_tail"}


def run(path, **kw):
    return services.roster_import(source=path, filename=path.name, **kw)


def member_of(row) -> Member:
    return Member.objects.by_id_number(row["公民身份号码"]).get()


# --- importing ---------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["xlsx", "xls", "csv"])
def test_a_roster_is_imported(roster_file, rows, counts, tree, fmt):
    user = get_user_model().objects.create_user("county", password="x")
    record = run(roster_file(rows, fmt), user=user)
    assert record.status == ImportStatus.IMPORTED
    assert (record.rows_read, record.rows_created, record.rows_bad) == (6, 6, 0)
    assert record.message == "已导入：读取 6 行：新增 6，更新 0，未变 0，错误 0"
    assert counts() == (6, 6)
    member = member_of(rows[0])
    assert member.home_org == tree["village"]
    assert member.name == rows[0]["姓名"]
    assert member.last_contact_on == datetime.date.today()
    mobility = member.mobilities.get()
    assert (mobility.destination_code, mobility.left_on) == ("610113", datetime.date(2020, 3, 1))
    assert mobility.is_current
    assert list(member.roster_imports.all()) == [record]
    link = member.roster_links.get()
    assert (link.action, link.row_number) == (LinkAction.CREATED, 2)
    assert record.user == user and record.kind == ImportKind.MEMBERS


def test_importing_the_same_file_twice_changes_nothing(roster_file, rows, counts):
    path = roster_file(rows)
    run(path)
    events = apps.get_model("members", "MemberEvent").objects.count()
    stamps = list(Member.objects.order_by("pk").values_list("updated_at", flat=True))
    again = run(path)
    assert (again.rows_unchanged, again.rows_created, again.rows_updated) == (6, 0, 0)
    assert again.status == ImportStatus.IMPORTED
    assert counts() == (6, 6)
    assert list(Member.objects.order_by("pk").values_list("updated_at", flat=True)) == stamps
    assert apps.get_model("members", "MemberEvent").objects.count() == events
    assert not again.member_links.exists()


@pytest.mark.parametrize("dry_run", [False, True])
def test_batches_after_a_mostly_stored_one_are_planned_whole(
    roster_file, homes, counts, monkeypatch, dry_run
):
    """A re-imported roster with new members further down: they are planned, then written."""
    monkeypatch.setattr(services, "BATCH_ROWS", 2)
    rows = member_rows(7, homes=homes)
    run(roster_file(rows[:3]))
    rows[2]["联系电话"] = "13700000000"
    # Batches: rows 0-1 (stored), 2-3 (one changed, one new: planned whole), 4-5, 6 (new).
    record = run(roster_file(rows), dry_run=dry_run)
    assert (record.rows_created, record.rows_updated, record.rows_unchanged) == (4, 1, 2)
    if dry_run:
        assert counts() == (3, 3)
        return
    assert counts() == (7, 7)
    created = [member_of(row) for row in rows[3:]]
    assert [m.pk for m in created] == sorted(m.pk for m in created)  # ids in file order
    assert all(m.mobilities.get().is_current for m in created)
    assert member_of(rows[2]).phone == "13700000000"
    links = record.member_links.order_by("row_number").values_list("row_number", "action")
    assert list(links) == [(4, LinkAction.UPDATED)] + [(n, LinkAction.CREATED) for n in range(5, 9)]


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_tabs_backslashes_and_line_breaks_in_free_text_survive(roster_file, rows, counts, fmt):
    """COPY's own delimiters in cells, on the COPY path and again on the planned one."""
    # (XML turns a CR LF into LF: in an .xlsx cell a line break is LF.)
    address = "一路\r\n二号" if fmt == "csv" else "一路\n二号"
    rows[0].update({"备注": "甲\t乙\\丙\n丁", "工作单位": "C:\\单位\\N", "详细地址": address})
    path = roster_file(rows, fmt)
    assert run(path).rows_created == 6
    member = member_of(rows[0])
    mobility = member.mobilities.get()
    assert member.remarks == "甲\t乙\\丙\n丁"
    assert mobility.employer == "C:\\单位\\N"
    assert mobility.destination_address == address
    again = run(path)
    assert (again.rows_unchanged, again.rows_updated) == (6, 0)


def test_a_known_id_number_updates_the_member_and_the_current_mobility(roster_file, tree, homes):
    member = make_member(home_org=tree["village"], id_number="11010519491231002X",
                         gender="female", birth=datetime.date(1949, 12, 31),
                         joined_on=datetime.date(1980, 7, 1))  # fmt: skip
    mobility = member_services.member_register_outflow(
        member=member, left_on=datetime.date(2019, 5, 1), destination_code="140100"
    )
    rows = member_rows(2, homes=homes)
    rows[1].update({"公民身份号码": "110105491231002", "性别": "女", "出生日期": "",
                    "入党日期": "1980-07-01", "转正日期": "1981-07-01", "联系电话": "13912345678",
                    "组织关系所在党组织": tree["other"].code})  # fmt: skip
    record = run(roster_file(rows))
    assert (record.rows_created, record.rows_updated) == (1, 1)
    member.refresh_from_db()
    assert (member.phone, member.home_org) == ("13912345678", tree["other"])
    assert member.mobilities.get().pk == mobility.pk  # updated in place
    mobility.refresh_from_db()
    assert mobility.destination_code == "110105"  # 北京市朝阳区
    link = member.roster_links.get(roster_import=record)
    assert (link.action, link.row_number) == (LinkAction.UPDATED, 3)


def _back_home(tree, returned_on: datetime.date):
    """A member away from 2018 and back home on ``returned_on``, and the roster columns that
    name them as stored."""
    member = make_member(home_org=tree["village"], id_number="11010519491231002X",
                         gender="female", birth=datetime.date(1949, 12, 31))  # fmt: skip
    member_services.member_register_outflow(
        member=member, left_on=datetime.date(2018, 1, 1), destination_code="140100"
    )
    member_services.member_return(member=member, returned_on=returned_on)
    base = {"公民身份号码": "11010519491231002X", "性别": "女", "出生日期": "1949-12-31",
            "入党日期": "2010-07-01", "转正日期": "2011-07-01"}  # fmt: skip
    return member, base


def test_a_member_back_home_gets_a_new_mobility(roster_file, tree):
    member, base = _back_home(tree, datetime.date(2019, 6, 1))
    early = run(
        roster_file([member_row(0, home=tree["village"].code, 外出日期="2019-05-01", **base)])
    )
    assert early.status == ImportStatus.REFUSED
    assert early.errors == [
        [2, "外出日期", "2019-05-01", "外出日期早于该党员上次外出的结束日期 2019-06-01"]
    ]
    assert early.bad_rows["rows"][0][0] == 2
    record = run(roster_file([member_row(0, home=tree["village"].code, **base)]))
    assert (record.rows_updated, record.rows_bad) == (1, 0)
    assert member.mobilities.count() == 2
    assert member.mobilities.current().get().left_on == datetime.date(2020, 3, 1)


def test_a_year_and_month_before_the_return_says_it_was_read_as_the_first(roster_file, tree):
    """June 2019 for a member back home on 15 June 2019 is refused as 1 June: the message says
    so, as the row's own rules do, or the user, who wrote no day, cannot see why."""
    member, base = _back_home(tree, datetime.date(2019, 6, 15))
    for typed in ("2019年6月", "2019.06"):
        row = member_row(0, home=tree["village"].code, 外出日期=typed, **base)
        record = run(roster_file([row], "csv"), dry_run=True)
        assert record.errors == [
            [
                2,
                "外出日期",
                typed,
                "外出日期早于该党员上次外出的结束日期 2019-06-15；"
                f"“{typed}”只写了年月，按 2019-06-01 计算，请填写完整日期",
            ]
        ]
    # A full date is reported as before, and the next month is a new registration.
    row = member_row(0, home=tree["village"].code, 外出日期="2019-06-01", **base)
    record = run(roster_file([row]), dry_run=True)
    assert record.errors[0][3] == "外出日期早于该党员上次外出的结束日期 2019-06-15"
    row = member_row(0, home=tree["village"].code, 外出日期="2019年7月", **base)
    record = run(roster_file([row]))
    assert (record.status, record.rows_updated) == (ImportStatus.IMPORTED, 1)
    assert member.mobilities.current().get().left_on == datetime.date(2019, 7, 1)


def test_a_member_not_in_standing_is_not_updated(roster_file, tree, rows):
    run(roster_file(rows[:1]))
    member = member_of(rows[0])
    member_services.member_transfer_out(
        member=member, transferred_out_on=datetime.date(2025, 1, 1), transferred_to="外省某党支部"
    )
    record = run(roster_file([{**rows[0], "联系电话": "13700000000"}]))
    assert record.status == ImportStatus.REFUSED
    assert record.errors[0][1:] == [
        "公民身份号码",
        rows[0]["公民身份号码"],
        "该党员党籍状态为“已转出”，不能通过登记表更新",
    ]


def test_an_absent_optional_column_keeps_what_is_stored(roster_file, rows):
    run(roster_file(rows))
    trimmed = [{k: v for k, v in row.items() if k not in ("学历", "工作单位")} for row in rows]
    record = run(roster_file(trimmed))
    assert record.rows_unchanged == 6
    assert member_of(rows[0]).education != ""
    # An empty cell in a column that is there does clear the value.
    record = run(roster_file([{**rows[0], "学历": ""}]))
    assert record.rows_updated == 1 and member_of(rows[0]).education == ""


# --- bad rows ----------------------------------------------------------------------------------


def test_by_default_a_bad_row_means_nothing_is_written(roster_file, rows, counts):
    rows[2]["公民身份号码"] = 110105194912310000.0
    rows[4]["联系电话"] = "123"
    record = run(roster_file(rows))
    assert record.status == ImportStatus.REFUSED
    assert counts() == (0, 0)
    assert (record.rows_read, record.rows_bad, record.rows_created, record.rows_skipped) == (
        6,
        2,
        4,
        0,
    )
    assert [e[:2] for e in record.errors] == [[4, "公民身份号码"], [6, "联系电话"]]
    assert record.errors[0][2] == "1.1010519491231e+17"
    assert record.message.endswith(
        "因有错误行，本次未导入任何数据；请修正后重新上传（上传或确认导入时可选择跳过错误行）"
    )
    bad = record.bad_rows
    assert bad["headers"][:3] == ["序号", "姓名", "性别"]
    assert [r[0] for r in bad["rows"]] == [4, 6]
    assert bad["rows"][1][1][7] == "123" and bad["rows"][1][2].startswith("联系电话 123 格式不正确")


def test_bad_rows_beyond_the_reported_number_are_counted_not_kept(
    roster_file, homes, counts, monkeypatch
):
    monkeypatch.setattr(services, "REPORTED_BAD_ROWS", 3)
    rows = member_rows(8, homes=homes)
    for row in rows[:6]:
        row["入党日期"] = "去年"
        row["联系电话"] = "123"
    record = run(roster_file(rows, fmt="csv"), skip_invalid=True)
    assert (record.rows_read, record.rows_bad, record.rows_skipped) == (8, 6, 6)
    assert (record.rows_created, counts()) == (2, (2, 2))
    # The first three bad rows with all their problems; the other three only counted.
    assert [e[:2] for e in record.errors] == [
        [n, column] for n in (2, 3, 4) for column in ("联系电话", "入党日期")
    ]
    assert [r[0] for r in record.bad_rows["rows"]] == [2, 3, 4]
    assert record.warnings[-1].startswith("错误行太多：错误清单和错误行只列出前 3 行，另有 3 个")
    assert "错误 6" in record.message and "6 个错误行已跳过" in record.message


def test_the_rows_kept_are_the_first_of_the_file_conflicts_included(
    roster_file, homes, monkeypatch
):
    """Conflicts with stored members are found after the other bad rows: earlier in the file,
    they take the places of the last rows listed."""
    rows = member_rows(6, homes=homes)
    run(roster_file(rows[:2]))
    for row in rows[:2]:
        member_services.member_transfer_out(
            member=member_of(row),
            transferred_out_on=datetime.date(2025, 1, 1),
            transferred_to="外省",
        )
    for row in rows[2:]:
        row["联系电话"] = "123"
    monkeypatch.setattr(services, "REPORTED_BAD_ROWS", 3)
    record = run(roster_file(rows, fmt="csv"))
    assert (record.rows_bad, record.status) == (6, ImportStatus.REFUSED)
    assert [r[0] for r in record.bad_rows["rows"]] == [2, 3, 4]
    assert [e[:2] for e in record.errors] == [
        [2, "公民身份号码"],
        [3, "公民身份号码"],
        [4, "联系电话"],
    ]
    assert "只列出前 3 行，另有 3 个错误行未列出" in record.warnings[-1]


def test_skip_invalid_imports_the_good_rows(roster_file, rows, counts):
    rows[2]["入党日期"] = "去年"
    record = run(roster_file(rows), skip_invalid=True)
    assert record.status == ImportStatus.IMPORTED
    assert (record.rows_created, record.rows_bad, record.rows_skipped) == (5, 1, 1)
    assert counts() == (5, 5)
    assert "1 个错误行已跳过" in record.message


def test_a_duplicate_within_the_file_is_an_error_on_the_later_row(roster_file, rows):
    rows.append({**rows[1], "序号": 7, "姓名": "重复者"})
    record = run(roster_file(rows), skip_invalid=True)
    assert record.errors == [
        [8, "公民身份号码", rows[1]["公民身份号码"], "与第 3 行的公民身份号码重复"]
    ]
    assert member_of(rows[1]).name == rows[1]["姓名"]


def test_an_unreadable_file_is_recorded_as_failed(tmp_path, counts):
    path = tmp_path / "r.xlsx"
    path.write_bytes(b"%PDF-1.4")
    record = run(path)
    assert record.status == ImportStatus.FAILED
    assert record.message == "这是一个PDF文件，不是表格：请上传 .xlsx、.xls 或 .csv 文件"
    assert counts() == (0, 0)


@pytest.mark.parametrize("step", ["insert_new", "apply"])
def test_a_failure_while_writing_leaves_the_database_as_it_was(
    step, roster_file, rows, counts, monkeypatch
):
    if step == "apply":  # the members are stored: the file changes them
        run(roster_file(rows))
        for row in rows:
            row["联系电话"] = "13700000000"
    before = (counts(), sorted(Member.objects.values_list("phone", flat=True)))
    links = RosterImportMember.objects.count()
    real = getattr(sql, step)

    def write_then_fail(*args, **kw):
        real(*args, **kw)
        raise RuntimeError("disk full")

    monkeypatch.setattr(sql, step, write_then_fail)
    with pytest.raises(RuntimeError):
        run(roster_file(rows))
    assert (counts(), sorted(Member.objects.values_list("phone", flat=True))) == before
    assert RosterImportMember.objects.count() == links
    record = RosterImport.objects.latest("pk")
    assert record.status == ImportStatus.FAILED
    assert record.message.startswith("导入失败：处理文件时发生内部错误，数据未作任何改动")


# --- imports beside other writers ------------------------------------------------------------


def _import_beside(write, path=None, *, importer=None):
    """Import ``path`` (or run ``importer``) in a thread of its own while this thread's
    transaction, opened by ``write`` (a form's service, another import), is still open:
    committed once the import waits for it."""
    return run_beside(write, importer or (lambda: run(path)))


@pytest.mark.django_db(transaction=True)
def test_a_return_registered_while_an_import_runs_is_not_written_over(roster_file, homes):
    """A branch secretary registers a member's return while an import of a roster that still
    has them away runs: the import plans with the return, and refuses the row (外出日期 before
    it), instead of writing the roster's values into the mobility that just ended."""
    rows = member_rows(3, homes=homes)
    assert run(roster_file(rows)).status == ImportStatus.IMPORTED
    rows[0]["工作单位"] = "新单位"
    member = member_of(rows[0])
    today = timezone.localdate()

    record = _import_beside(
        lambda: member_services.member_return(member=member, returned_on=today),
        roster_file(rows),
    )
    ended = member.mobilities.get()
    assert (ended.ended_on, ended.employer) == (today, "宏达建筑工程有限公司")
    assert record.status == ImportStatus.REFUSED
    (number, _column, _value, reason), *_others = record.errors
    assert number == 2 and reason.startswith("外出日期早于该党员上次外出的结束日期")


@pytest.mark.django_db(transaction=True)
def test_a_member_registered_through_a_form_while_an_import_adds_them_fails_it_plainly(
    roster_file, tree, homes
):
    """A secretary registers one of the roster's new members while the import runs: the
    import fails whole on the ID number taken meanwhile, and says so (not an internal error
    to report to an administrator): uploading the file again imports it."""
    rows = member_rows(3, homes=homes)
    record = _import_beside(
        lambda: make_member(
            home_org=tree["village"], id_number=rows[1]["公民身份号码"], name="王二"
        ),
        roster_file(rows),
    )
    assert record.status == ImportStatus.FAILED
    assert record.message == (
        "导入期间有其他用户登记了文件中的党员，数据未作任何改动，请重新上传文件导入"
    )
    assert not services.failed_reading(record)
    assert list(Member.objects.values_list("name", flat=True)) == ["王二"]


@pytest.mark.django_db(transaction=True)
def test_a_branch_changed_while_an_import_runs_gets_no_members_it_may_not_hold(roster_file, tree):
    """An organization import (or a form) makes a branch 临时 while a roster of new members
    homed there imports: the branch had none, so the change is allowed; the import then reads
    the branch as changed and refuses its rows, instead of placing members in a branch that
    may not hold their 组织关系."""
    from branches import services as org_services

    village = tree["village"]
    rows = member_rows(3, homes=[village.code])

    record = _import_beside(
        lambda: org_services.organization_change_branch_type(
            org=village, to_type=BranchType.TEMPORARY, planned_end_on=datetime.date(2030, 1, 1)
        ),
        roster_file(rows),
    )
    assert not Member.objects.filter(home_org=village).exists()
    assert record.status == ImportStatus.REFUSED and record.rows_bad == 3
    assert "不能接收党员组织关系" in record.errors[0][3]


@pytest.mark.django_db(transaction=True)
def test_a_key_rotation_while_an_import_runs_does_not_deadlock(
    roster_file, homes, monkeypatch, settings
):
    """rotate_encryption_keys locks members in id order, a batch per transaction; an import
    locks them a batch at a time in the file's order. With the file's first batch holding a
    member the rotation reached, and its next batch wanting one the rotation had locked, one
    of them failed as a deadlock: the rotation now waits for imports under way."""
    import io
    import threading
    import time

    from django.core.management import call_command

    from portal import crypto

    rows = member_rows(2, homes=homes)
    assert run(roster_file(rows)).status == ImportStatus.IMPORTED
    by_pk = {member_of(row).pk: {**row, "工作单位": "新单位"} for row in rows}
    path = roster_file([by_pk[pk] for pk in sorted(by_pk, reverse=True)])  # higher id first
    monkeypatch.setattr(services, "BATCH_ROWS", 1)
    monkeypatch.setattr("rosters.constants.PROGRESS_EVERY", 1)
    between = threading.Event()

    def progress(done, total):
        if done == 1:  # the first batch is locked: the rotation runs before the second
            between.set()
            deadline = time.monotonic() + 15
            while not a_session_waits_on_a_lock() and time.monotonic() < deadline:
                time.sleep(0.02)

    done = {}

    def target():
        try:
            done["record"] = run(path, progress=progress)
        finally:
            connection.close()

    old = list(settings.PORTAL_ENCRYPTION_KEYS)
    settings.PORTAL_ENCRYPTION_KEYS = [crypto.generate_key_spec("k2"), *old]
    crypto.reset_key_cache()
    try:
        thread = threading.Thread(target=target)
        thread.start()
        assert between.wait(30)
        call_command("rotate_encryption_keys", stdout=io.StringIO())
        thread.join(60)
        assert done["record"].status == ImportStatus.IMPORTED, done["record"].message
        with connection.cursor() as cursor:
            cursor.execute("SELECT id_number FROM members_member ORDER BY id")
            assert all(number.startswith("k2$") for (number,) in cursor.fetchall())
    finally:
        settings.PORTAL_ENCRYPTION_KEYS = old
        crypto.reset_key_cache()
    assert set(Mobility.objects.values_list("employer", flat=True)) == {"新单位"}


# --- preview -----------------------------------------------------------------------------------


def test_preview_writes_nothing(roster_file, rows, counts, homes):
    run(roster_file(rows[:2]))
    before = (
        counts(),
        RosterImportMember.objects.count(),
        list(Member.objects.values_list("phone", flat=True)),
    )
    rows[0]["联系电话"] = "13700000000"
    record = run(roster_file(rows), dry_run=True)
    assert record.status == ImportStatus.PREVIEWED
    assert (record.rows_created, record.rows_updated, record.rows_unchanged) == (4, 1, 1)
    assert record.message.startswith("预览（未写入）：")
    after = (
        counts(),
        RosterImportMember.objects.count(),
        list(Member.objects.values_list("phone", flat=True)),
    )
    assert after == before


def test_queries_do_not_grow_with_the_rows(roster_file, homes):
    def queries(n, **kw):
        path = roster_file(member_rows(n, homes=homes, start=1000 * n))
        with CaptureQueriesContext(connection) as ctx:
            record = run(path, **kw)
        assert record.rows_read == n
        return len(ctx.captured_queries)

    assert queries(3, dry_run=True) == queries(60, dry_run=True)
    assert queries(4) == queries(80)


def test_progress_is_reported(roster_file, homes, monkeypatch):
    monkeypatch.setattr("rosters.constants.PROGRESS_EVERY", 10)
    seen = []
    run(
        roster_file(member_rows(35, homes=homes)),
        progress=lambda done, total: seen.append((done, total)),
    )
    assert seen[0] == (0, 35)
    assert [done for done, _t in seen[1:-1]] == [10, 20, 30]
    assert seen[-1] == (35, 35)


# --- uploads and Celery ------------------------------------------------------------------------


def test_an_upload_is_stored_and_queued_after_commit(roster_file, rows, settings, tmp_path,
                                                     django_capture_on_commit_callbacks, monkeypatch):  # fmt: skip  # noqa: E501
    settings.MEDIA_ROOT = tmp_path / "media"
    queued = []
    monkeypatch.setattr("rosters.tasks.run_roster_import.delay", queued.append)
    path = roster_file(rows)
    from django.core.files import File

    with path.open("rb") as handle, django_capture_on_commit_callbacks(execute=True):
        record = services.roster_import_start(
            upload=File(handle, name="登记表.xlsx"), dry_run=True, scoped=False
        )
        assert queued == []
    assert queued == [record.pk]
    assert record.status == ImportStatus.PENDING
    assert record.file.name.startswith("rosters/")
    assert (settings.MEDIA_ROOT / record.file.name).is_file()
    done = services.roster_import_run(import_id=record.pk)
    assert (done.status, done.rows_created) == (ImportStatus.PREVIEWED, 6)
    # Safe to run twice: a finished import is left alone.
    assert services.roster_import_run(import_id=record.pk).finished_at == done.finished_at
    with django_capture_on_commit_callbacks(execute=True):
        confirmed = services.roster_import_confirm(preview=done)
    assert queued[-1] == confirmed.pk and confirmed.file.name == record.file.name
    stored = settings.MEDIA_ROOT / record.file.name
    assert services.roster_import_run(import_id=confirmed.pk).status == ImportStatus.IMPORTED
    assert Member.objects.count() == 6
    # The roster holds ID numbers in the clear: gone once imported.
    assert not stored.exists()
    assert RosterImport.objects.exclude(file="").count() == 0


def test_an_import_whose_worker_died_runs_again_once_then_fails(
    roster_file, rows, settings, tmp_path
):
    """The task goes back to the queue when its worker process dies (reject_on_worker_lost):
    the import left running is run again; if that run's worker dies too, it fails."""
    from django.core.files import File

    from rosters.tasks import run_roster_import

    assert run_roster_import.acks_late and run_roster_import.reject_on_worker_lost
    settings.MEDIA_ROOT = tmp_path / "media"
    with roster_file(rows).open("rb") as handle:
        record = services.roster_import_start(upload=File(handle, name="r.xlsx"), scoped=False)
    # A first run whose worker died: left running at 30%, nothing written.
    RosterImport.objects.filter(pk=record.pk).update(
        status=ImportStatus.RUNNING, runs=1, progress=2
    )
    done = services.roster_import_run(import_id=record.pk)
    assert (done.status, done.runs, done.rows_created) == (ImportStatus.IMPORTED, 2, 6)
    with roster_file(rows).open("rb") as handle:
        record = services.roster_import_start(upload=File(handle, name="r.xlsx"), scoped=False)
    stored = settings.MEDIA_ROOT / record.file.name
    RosterImport.objects.filter(pk=record.pk).update(status=ImportStatus.RUNNING, runs=2)
    failed = services.roster_import_run(import_id=record.pk)
    assert failed.status == ImportStatus.FAILED and "两次中断" in failed.message
    assert not stored.exists()  # the roster (ID numbers in clear) is not kept for nothing


@pytest.mark.django_db(transaction=True)
def test_an_import_whose_worker_dies_after_its_commit_is_not_run_again(
    roster_file, rows, settings, tmp_path, monkeypatch
):
    """Rows committed, then the worker killed before the record was finished (here in the
    ANALYZE that follows a large import): the record says imported, with what was written,
    and a second delivery of the task leaves it alone."""
    from django.core.files import File

    settings.MEDIA_ROOT = tmp_path / "media"
    with roster_file(rows).open("rb") as handle:
        record = services.roster_import_start(upload=File(handle, name="r.xlsx"), scoped=False)

    def killed():
        raise SystemExit("SIGKILL")  # not an Exception: nothing of the import's own runs after

    monkeypatch.setattr(services, "ANALYZE_AFTER", 1)
    monkeypatch.setattr(sql, "analyze", killed)
    with pytest.raises(SystemExit):
        services.roster_import_run(import_id=record.pk)
    assert Member.objects.count() == 6
    record.refresh_from_db()
    assert (record.status, record.rows_created, record.runs) == (ImportStatus.IMPORTED, 6, 1)
    assert record.message == "已导入：读取 6 行：新增 6，更新 0，未变 0，错误 0"
    monkeypatch.undo()
    again = services.roster_import_run(import_id=record.pk)
    assert (again.status, again.rows_created, again.runs) == (ImportStatus.IMPORTED, 6, 1)
    assert RosterImportMember.objects.filter(roster_import=record).count() == 6


def test_stored_previews_never_confirmed_are_purged(roster_file, rows, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    from django.core.files import File

    with roster_file(rows).open("rb") as handle:
        record = services.roster_import_start(upload=File(handle, name="r.xlsx"), dry_run=True)
    services.roster_import_run(import_id=record.pk)
    path = settings.MEDIA_ROOT / record.file.name
    assert services.roster_uploads_purge() == 0 and path.exists()
    RosterImport.objects.filter(pk=record.pk).update(
        created_at=timezone.now() - datetime.timedelta(days=2)
    )
    assert services.roster_uploads_purge() == 1
    assert not path.exists()


def test_an_import_is_limited_to_the_users_organizations(roster_file, tree, homes):
    run(roster_file(member_rows(2, homes=[tree["other"].code])))
    scope = Organization.objects.subtree(tree["village"])
    rows = member_rows(3, homes=[tree["village"].code], start=100)
    rows[1]["组织关系所在党组织"] = tree["other"].code
    record = run(roster_file(rows), orgs=scope)
    assert record.errors == [
        [3, "组织关系所在党组织", tree["other"].code,
         "“西村党支部”不在您的管辖范围内，不能把党员导入到该组织"],
    ]  # fmt: skip
    known = member_rows(2, homes=[tree["village"].code])  # the members of "other", moved here
    record = run(roster_file(known[:1]), orgs=scope)
    assert record.errors[0][3] == (
        "该身份证号已登记在您管辖范围以外的党组织，不能通过此登记表更新，请联系上级组织部门核实"
    )
    assert "西村" not in str(record.errors)  # where the member belongs is not said


def test_an_upload_is_limited_to_what_its_user_may_see(roster_file, rows, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    from django.core.files import File

    nobody = get_user_model().objects.create_user("nobody", password="x")
    with roster_file(rows).open("rb") as handle:
        record = services.roster_import_start(upload=File(handle, name="r.xlsx"), user=nobody)
    record = services.roster_import_run(import_id=record.pk)
    assert record.status == ImportStatus.REFUSED
    assert record.rows_bad == 6 and "不在您的管辖范围内" in record.errors[0][3]


# --- organizations -----------------------------------------------------------------------------

ORG_HEADERS = ["组织编码", "组织名称", "上级组织编码", "组织类别", "支部类型", "所在地", "成立日期",
               "计划撤销日期", "依托单位", "联系电话"]  # fmt: skip


def org(code, name, parent, kind, branch_type="", **kw):
    row = dict.fromkeys(ORG_HEADERS, "")
    row.update({"组织编码": code, "组织名称": name, "上级组织编码": parent, "组织类别": kind,
                "支部类型": branch_type})  # fmt: skip
    row.update(kw)
    return row


def run_orgs(tmp_path, rows, **kw):
    path = write_xlsx(tmp_path / "orgs.xlsx", rows, headers=ORG_HEADERS)
    return services.organization_import(source=path, filename=path.name, **kw)


def test_an_organization_tree_with_parents_after_children(tmp_path):
    rows = [
        org("W003", "万荣县驻西安党支部", "W002", "党支部", "功能型", 所在地="陕西省西安市",
            成立日期="2017-07-01"),
        org("W004", "解店镇东村党支部", "W005", "党支部", "建制型"),
        org("W002", "万荣县在外党总支", "W001", "党总支"),
        org("W005", "中共万荣县解店镇委员会", "W001", "党委", 联系电话="0359-4521234"),
        org("W001", "中共万荣县委员会", "", "党委"),
        org("W006", "项目临时党支部", "W002", "党支部", "临时", 计划撤销日期="2027-06-30"),
    ]  # fmt: skip
    record = run_orgs(tmp_path, rows)
    assert record.status == ImportStatus.IMPORTED, record.errors
    assert (record.rows_created, record.kind) == (6, ImportKind.ORGANIZATIONS)
    xian = Organization.objects.get(code="W003")
    assert (xian.parent.code, xian.branch_type, xian.location_code) == (
        "W002",
        BranchType.FUNCTIONAL,
        "610100",
    )
    assert xian.path.startswith(Organization.objects.get(code="W001").path)
    assert Organization.objects.get(code="W005").phone == "0359-4521234"
    again = run_orgs(tmp_path, rows)
    assert again.rows_unchanged == 6


@pytest.mark.django_db(transaction=True)
def test_an_organization_import_whose_worker_dies_is_told_truly_when_run_again(
    tmp_path, settings, monkeypatch
):
    """The worker killed at the end of an organization import, as its report of a bad row is
    drawn up: whether the rows were committed or not, the record and its second run agree
    with the database (never 新增 0 for organizations the first run wrote)."""
    from django.core.files import File

    settings.MEDIA_ROOT = tmp_path / "media"
    rows = [org("K001", "中共某县委员会", "", "党委"),
            org("K002", "某镇党委", "K001", "党委"),
            org("K003", "东村党支部", "K002", "党支部", "建制型"),
            org("K004", "", "K002", "党支部", "建制型")]  # fmt: skip
    path = write_xlsx(tmp_path / "orgs.xlsx", rows, headers=ORG_HEADERS)
    with path.open("rb") as handle:
        record = services.roster_import_start(
            upload=File(handle, name="orgs.xlsx"),
            kind=ImportKind.ORGANIZATIONS,
            skip_invalid=True,
            scoped=False,
        )

    def killed(*args, **kwargs):
        raise SystemExit("SIGKILL")  # not an Exception: nothing of the import's own runs after

    monkeypatch.setattr(services._Outcome, "add", killed)
    # Nor its clean-up: a killed worker does not delete the stored upload on its way out.
    monkeypatch.setattr(services, "_forget_upload", lambda record: None)
    with pytest.raises(SystemExit):
        services.roster_import_run(import_id=record.pk)
    monkeypatch.undo()
    record.refresh_from_db()
    written = Organization.objects.filter(code__startswith="K").count()
    assert record.status == ImportStatus.RUNNING and written == 0
    again = services.roster_import_run(import_id=record.pk)
    assert (again.status, again.rows_created, again.rows_unchanged, again.rows_bad) == (
        ImportStatus.IMPORTED, 3, 0, 1,
    )  # fmt: skip
    assert Organization.objects.filter(code__startswith="K").count() == 3


@pytest.mark.django_db(transaction=True)
def test_two_organization_imports_of_one_tree_at_once_create_it_once(tmp_path):
    """The county's file imported from the browser and with import_orgs at the same time:
    the second reads the tree once the first has committed, and finds every row unchanged
    (instead of failing on the codes the first was creating)."""
    rows = [org("N001", "中共某县委员会", "", "党委"),
            org("N002", "某镇党委", "N001", "党委"),
            org("N003", "东村党支部", "N002", "党支部", "建制型")]  # fmt: skip
    path = write_xlsx(tmp_path / "orgs.xlsx", rows, headers=ORG_HEADERS)

    def import_orgs():
        return services.organization_import(source=path, filename=path.name)

    first = {}
    second = _import_beside(lambda: first.update(record=import_orgs()), importer=import_orgs)
    assert (first["record"].status, first["record"].rows_created) == (ImportStatus.IMPORTED, 3)
    assert (second.status, second.rows_created, second.rows_unchanged) == (
        ImportStatus.IMPORTED, 0, 3,
    ), second.message  # fmt: skip
    assert Organization.objects.filter(code__startswith="N").count() == 3


@pytest.mark.django_db(transaction=True)
def test_an_organization_created_through_a_form_while_an_import_creates_it_fails_it_plainly(
    tmp_path, tree
):
    """Someone sets up a branch through a form (which does not wait for imports) while an
    organization import creates the same code: the import fails whole on the code taken
    meanwhile and says so, instead of an internal error to report to an administrator;
    uploading the file again updates the branch the form created."""
    from branches import services as org_services

    township = tree["township"].code
    rows = [org("M001", "某镇新党委", tree["root"].code, "党委"),
            org("M002", "西村党支部", township, "党支部", "建制型")]  # fmt: skip
    path = write_xlsx(tmp_path / "orgs.xlsx", rows, headers=ORG_HEADERS)

    def import_orgs():
        return services.organization_import(source=path, filename=path.name)

    record = _import_beside(
        lambda: org_services.organization_create(
            code="M002", name="西村支部", kind=OrgKind.BRANCH, parent=tree["township"],
            branch_type=BranchType.ESTABLISHED,
        ),
        importer=import_orgs,
    )  # fmt: skip
    assert record.status == ImportStatus.FAILED
    assert record.message == (
        "导入期间有其他用户新建了与文件中组织编码相同的党组织，数据未作任何改动，请重新上传文件导入"
    )
    assert not services.failed_reading(record)
    assert not Organization.objects.filter(code="M001").exists()
    assert Organization.objects.get(code="M002").name == "西村支部"

    again = import_orgs()
    assert (again.status, again.rows_created, again.rows_updated) == (ImportStatus.IMPORTED, 1, 1)
    assert Organization.objects.get(code="M002").name == "西村党支部"


@pytest.mark.django_db(transaction=True)
def test_an_organization_created_under_a_parent_an_import_changes_does_not_deadlock(tmp_path, tree):
    """A branch set up through a form under the township while an organization import renames
    the township and creates the same code: the form's foreign key to the township is checked
    when it commits (FOR KEY SHARE), after the import locked the township to rename it and
    while the import waits for the form's code. Without a lock order one of them failed as a
    deadlock (an error page, or an internal error); the import now waits for the form to
    commit before it renames the township, and refuses the code it then finds taken."""
    from branches import services as org_services

    township = tree["township"]
    rows = [org(township.code, "某镇党委（新）", tree["root"].code, "党委"),
            org("M002", "西村党支部", township.code, "党支部", "建制型")]  # fmt: skip
    path = write_xlsx(tmp_path / "orgs.xlsx", rows, headers=ORG_HEADERS)

    record = _import_beside(
        lambda: org_services.organization_create(
            code="M002", name="西村支部", kind=OrgKind.BRANCH, parent=township,
            branch_type=BranchType.ESTABLISHED,
        ),
        importer=lambda: services.organization_import(source=path, filename=path.name),
    )  # fmt: skip
    assert record.status == ImportStatus.REFUSED, record.message
    assert [(row, column) for row, column, _value, _reason in record.errors] == [(3, "组织编码")]
    assert Organization.objects.get(code="M002").name == "西村支部"
    assert Organization.objects.get(pk=township.pk).name == township.name


def test_existing_codes_update_and_branch_type_changes_are_kept(tmp_path, tree):
    village = tree["village"]
    rows = [org(tree["functional"].code, "驻西安党支部", tree["root"].code, "党支部", "建制型",
                所在地="陕西省西安市"),
            org(village.code, "东村党支部（新）", tree["township"].code, "党支部", "建制型")]  # fmt: skip  # noqa: E501
    record = run_orgs(tmp_path, rows)
    assert record.rows_updated == 2, record.errors
    change = BranchTypeChange.objects.get(organization=tree["functional"])
    assert (change.from_type, change.to_type) == (BranchType.FUNCTIONAL, BranchType.ESTABLISHED)
    village.refresh_from_db()
    assert village.name == "东村党支部（新）"


def test_organization_rows_that_break_the_rules(tmp_path, tree):
    rows = [
        org("X1", "循环甲", "X2", "党委"),
        org("X2", "循环乙", "X1", "党委"),
        org("X3", "缺上级", "NOPE", "党支部", "建制型"),
        org("X4", "临时无日期", tree["township"].code, "党支部", "临时"),
        org("X5", "党委不设类型", tree["root"].code, "党委", "建制型"),
        org("X6", "支部无类型", tree["township"].code, "党支部"),
        org("X7", "小组挂错", tree["root"].code, "党小组"),
        org("X7", "重复编码", tree["root"].code, "党委"),
        org("X8", "所在地只有省", tree["root"].code, "党委", 所在地="陕西省"),
        org("X9", "类别错", tree["root"].code, "支委会"),
        org("X10", "挂在坏行下", "X4", "党小组"),
    ]
    record = run_orgs(tmp_path, rows)
    assert record.status == ImportStatus.REFUSED
    assert not Organization.objects.filter(code__startswith="X").exists()
    by_row = {}
    for row, column, _value, reason in record.errors:
        by_row.setdefault(row, []).append((column, reason))
    assert by_row[2] == [("上级组织编码", "上级组织关系形成循环：X1 → X2 → X1")]
    assert by_row[3] == [("上级组织编码", "上级组织关系形成循环：X2 → X1 → X2")]
    assert by_row[4] == [("上级组织编码", "本文件和系统中都没有组织编码为“NOPE”的上级组织")]
    assert by_row[5] == [("计划撤销日期", "临时党支部必须填写计划撤销日期")]
    assert by_row[6] == [("支部类型", "只有党支部填写支部类型")]
    assert by_row[7] == [("支部类型", "党支部须填写支部类型（建制型、联合、功能型或临时）")]
    assert by_row[8] == [("上级组织编码", "党小组不能设在党委之下")]
    assert by_row[9] == [("组织编码", "与第 8 行的组织编码重复")]
    assert by_row[10] == [("所在地", "所在地至少要填到地级市，如“陕西省西安市”")]
    assert by_row[11][0][0] == "组织类别"
    assert by_row[12] == [("上级组织编码", "上级组织（第 5 行）有错误，本行未导入")]


def test_an_organization_file_without_an_optional_column_leaves_that_field_alone(tmp_path):
    full = [
        org("W001", "中共万荣县委员会", "", "党委"),
        org("W002", "万荣县在外党总支", "W001", "党总支"),
        org("W003", "万荣县驻南京党支部", "W002", "党支部", "功能型", 所在地="江苏省南京市",
            成立日期="2018-07-01", 依托单位="南京万荣商会", 联系电话="0359-4521234"),
    ]  # fmt: skip
    assert run_orgs(tmp_path, full).status == ImportStatus.IMPORTED
    # Code, name, kind and type only, renaming the branch; then no parent column at all.
    for headers in (ORG_HEADERS[:5], ["组织编码", "组织名称", "组织类别", "支部类型"]):
        row = {**full[2], "组织名称": f"万荣县驻南京党支部{len(headers)}"}
        path = write_xlsx(tmp_path / "few.xlsx", [row], headers=headers)
        record = services.organization_import(source=path, filename=path.name)
        assert record.status == ImportStatus.IMPORTED, record.errors
        assert record.rows_updated == 1
        branch = Organization.objects.get(code="W003")
        assert branch.name == f"万荣县驻南京党支部{len(headers)}"
        assert (branch.parent.code, branch.location_code, branch.host_unit, branch.phone) == (
            "W002", "320100", "南京万荣商会", "0359-4521234"
        )  # fmt: skip
        assert branch.established_on == datetime.date(2018, 7, 1)


def test_an_organization_import_is_limited_to_the_users_organizations(tmp_path, tree):
    scope = Organization.objects.subtree(tree["township"])
    rows = [
        org("S1", "新村党支部", tree["township"].code, "党支部", "建制型"),
        org(tree["functional"].code, "改名", tree["root"].code, "党支部", "功能型"),
        org("S2", "新党委", tree["root"].code, "党委"),
        org("S3", "无上级", "", "党委"),
        org(tree["township"].code, "测试镇党委", tree["root"].code, "党委"),
    ]
    record = run_orgs(tmp_path, rows, orgs=scope, skip_invalid=True)
    assert [e[0] for e in record.errors] == [3, 4, 5]
    assert (
        record.errors[0][3]
        == f"组织编码“{tree['functional'].code}”属于您管辖范围以外的党组织，不能修改"
    )
    assert record.errors[1][3] == f"上级组织“{tree['root'].code}”不在您的管辖范围内"
    assert record.errors[2][3] == "请填写上级组织编码：只能在您管辖的党组织下新建组织"
    assert (record.rows_created, record.rows_unchanged) == (1, 1)


def test_organization_import_skip_invalid_and_preview(tmp_path, tree):
    rows = [org("Y1", "新党委", tree["root"].code, "党委"), org("Y2", "坏", "NOPE", "党委")]
    preview = run_orgs(tmp_path, rows, dry_run=True, skip_invalid=True)
    assert (preview.status, preview.rows_created, preview.rows_bad) == (
        ImportStatus.PREVIEWED,
        1,
        1,
    )
    assert not Organization.objects.filter(code="Y1").exists()
    record = run_orgs(tmp_path, rows, skip_invalid=True)
    assert (record.status, record.rows_created, record.rows_skipped) == (
        ImportStatus.IMPORTED,
        1,
        1,
    )
    assert Organization.objects.get(code="Y1").parent == tree["root"]


def test_a_branch_with_members_cannot_become_functional(tmp_path, tree):
    make_member(home_org=tree["village"])
    rows = [org(tree["village"].code, "东村党支部", tree["township"].code, "党支部", "功能型")]
    record = run_orgs(tmp_path, rows)
    assert record.errors[0][1] == "支部类型"
    assert "请先转移组织关系再改为功能型" in record.errors[0][3]
    assert Organization.objects.get(pk=tree["village"].pk).branch_type == BranchType.ESTABLISHED
    assert tree["village"].kind == OrgKind.BRANCH
    assert make_branch  # factories stay importable


def test_a_new_lookup_key_not_yet_applied_refuses_the_import(roster_file, rows, counts, settings):
    """Between a new PORTAL_LOOKUP_KEY and `rotate_encryption_keys --rehash` nobody is found by
    ID number: an import would register every stored member again (and the rehash would then
    fail on the duplicates). It is refused, and says what to run."""
    from django.core.management import call_command

    from portal import crypto

    path = roster_file(rows)
    run(path)
    settings.PORTAL_LOOKUP_KEY = "a-new-lookup-key-not-yet-applied"
    crypto.reset_key_cache()
    try:
        for dry_run in (True, False):
            record = run(path, dry_run=dry_run)
            assert record.status == ImportStatus.FAILED
            assert "rotate_encryption_keys --rehash" in record.message
            assert not services.failed_reading(record)  # the file is not at fault
        assert counts() == (6, 6)
        call_command("rotate_encryption_keys", "--rehash", stdout=io.StringIO())
        again = run(path)
        assert (again.status, again.rows_unchanged, again.rows_created) == (
            ImportStatus.IMPORTED, 6, 0,
        )  # fmt: skip
    finally:
        crypto.reset_key_cache()


def test_an_organization_file_cannot_change_a_kind_that_no_longer_suits_those_below(tmp_path, tree):
    from branches import services as org_services

    org_services.organization_create(
        code="GB1", name="某党总支", kind=OrgKind.GENERAL_BRANCH, parent=tree["township"]
    )
    rows = [org(tree["township"].code, "测试镇党总支", tree["root"].code, "党总支")]
    record = run_orgs(tmp_path, rows)
    assert record.status == ImportStatus.REFUSED
    assert record.errors == [
        [2, "组织类别", "党总支", "党总支之下不能设党总支，本组织下已有党总支，请先调整下级组织"]
    ]
    assert Organization.objects.get(pk=tree["township"].pk).kind == OrgKind.COMMITTEE


def test_an_organization_file_sets_up_nothing_under_a_dissolved_organization(tmp_path, tree):
    from branches import services as org_services

    closed = make_branch(parent=tree["township"], code="DB1", name="已撤销党支部")
    org_services.organization_dissolve(org=closed, dissolved_on=datetime.date(2024, 1, 1))
    before = Organization.objects.count()
    record = run_orgs(tmp_path, [org("DG1", "第一党小组", "DB1", "党小组")])
    assert record.status == ImportStatus.REFUSED
    assert record.errors == [
        [2, "上级组织编码", "DB1", "上级组织“已撤销党支部”已撤销，不能在其下设立或调入组织"]
    ]
    assert Organization.objects.count() == before


def test_an_organization_file_does_not_turn_a_branch_into_another_kind(tmp_path, tree):
    """A 党支部 given as a 党委, or a 党委 as a 党支部, is told so on its 组织类别, not that its
    branch type is unknown or that only a 党支部 has one."""
    refused = (
        "党支部与其他类别的组织不能直接互相转换（%s）：请新设组织，转移党员和下级组织后撤销原组织"
    )
    record = run_orgs(
        tmp_path, [org(tree["other"].code, "西村党委", tree["township"].code, "党委")]
    )
    assert record.errors == [[2, "组织类别", "党委", refused % "党支部不能改为党委"]]
    rows = [org(tree["township"].code, "测试镇党支部", tree["root"].code, "党支部", "建制型")]
    record = run_orgs(tmp_path, rows)
    assert record.errors == [[2, "组织类别", "党支部", refused % "党委不能改为党支部"]]
    assert not BranchTypeChange.objects.exists()


def test_an_organization_file_without_kind_type_or_planned_end_keeps_them(tmp_path, tree):
    """组织类别, 支部类型 and 计划撤销日期 are optional columns like the others: a file of codes
    and names renames the organizations it names, the stored kind, type and planned end
    standing for the missing columns (a formal name such as 中共某县委员会 does not end with
    its kind, and a branch without its type was refused)."""
    temporary = make_branch(
        parent=tree["township"], code="TMP1", name="项目临时党支部",
        branch_type=BranchType.TEMPORARY, planned_end_on=datetime.date(2030, 1, 1),
    )  # fmt: skip
    renames = {
        tree["root"].code: "中共测试县委员会",
        tree["village"].code: "东村党支部（新）",
        temporary.code: "项目临时党支部（新）",
    }
    rows = [{"组织编码": code, "组织名称": name} for code, name in renames.items()]
    path = write_xlsx(tmp_path / "names.xlsx", rows, headers=["组织编码", "组织名称"])
    record = services.organization_import(source=path, filename=path.name)
    assert (record.status, record.errors, record.rows_updated) == (ImportStatus.IMPORTED, [], 3)
    stored = {o.code: o for o in Organization.objects.filter(code__in=renames)}
    assert {code: o.name for code, o in stored.items()} == renames
    assert (stored["TMP1"].branch_type, stored["TMP1"].planned_end_on) == (
        BranchType.TEMPORARY, datetime.date(2030, 1, 1),
    )  # fmt: skip
    # With 组织类别 but no 支部类型 or 计划撤销日期.
    rows = [{"组织编码": "TMP1", "组织名称": "项目临时党支部", "组织类别": "党支部"}]
    path = write_xlsx(tmp_path / "kinds.xlsx", rows, headers=["组织编码", "组织名称", "组织类别"])
    record = services.organization_import(source=path, filename=path.name)
    assert (record.status, record.errors, record.rows_updated) == (ImportStatus.IMPORTED, [], 1)
    assert not BranchTypeChange.objects.exists()
    # A new organization still needs them: its kind from the name, its type in the file.
    rows = [{"组织编码": "NEW1", "组织名称": "南村党支部"}]
    path = write_xlsx(tmp_path / "new.xlsx", rows, headers=["组织编码", "组织名称"])
    record = services.organization_import(source=path, filename=path.name)
    assert [e[1:] for e in record.errors] == [
        ["支部类型", "", "党支部须填写支部类型（建制型、联合、功能型或临时）"]
    ]


def test_an_organization_moved_under_one_whose_township_the_file_moved_gets_the_right_path(
    tmp_path,
):
    """A file moves a township under another, and a branch under a general branch of that
    township (not in the file): the branch's materialized path, by which every scope is
    drawn, must go through the township's new place, not its old one."""
    from branches import services as org_services

    root = make_committee(code="R", name="中共某县委员会")
    township = make_committee(code="T", parent=root, name="甲镇党委")
    org_services.organization_create(
        code="G", name="甲镇机关党总支", kind=OrgKind.GENERAL_BRANCH, parent=township
    )
    other = make_committee(code="S", parent=root, name="乙镇党委")
    make_branch(code="Y", parent=root, name="县直党支部")
    rows = [org("T", "甲镇党委", "S", "党委"), org("Y", "县直党支部", "G", "党支部", "建制型")]
    record = run_orgs(tmp_path, rows)
    assert (record.status, record.rows_updated) == (ImportStatus.IMPORTED, 2), record.errors
    for stored in Organization.objects.all():
        assert (stored.path, stored.depth) == stored.computed_path(), stored.code
    assert set(Organization.objects.subtree(other).values_list("code", flat=True)) == {
        "S", "T", "G", "Y",
    }  # fmt: skip
