"""The roster pages: upload → preview → confirm, progress, downloads, ledger exports, scope.

The import runs as a Celery job; here the job runs eagerly when the request's transaction
commits (test_tasks.py runs it in a real worker), because these tests are about the pages.
"""

from __future__ import annotations

import csv
import datetime
import io
from types import SimpleNamespace

import pytest
from django.apps import apps
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from openpyxl import load_workbook

from branches.choices import OrgKind
from branches.models import Organization
from branches.tests.factories import make_branch, make_committee
from members.models import Member
from members.services import member_register_outflow
from members.tests.factories import make_id_number, make_member
from portal.celery import app
from portal.choices import AccessEventKind, Role
from portal.masking import mask_id_number
from portal.models import AccessEvent, RoleAssignment
from portal.storage import MARKER
from portal.tests.factories import make_user
from rosters.choices import ImportKind, ImportStatus
from rosters.exports import ERROR_HEADERS
from rosters.models import RosterImport
from rosters.readers import open_table
from rosters.schema import MEMBER_SCHEMA

from .rosterdata import HEADERS, member_rows, write_xlsx

pytestmark = pytest.mark.django_db

ID_COLUMN = HEADERS.index("公民身份号码")
LEFT_ON = datetime.date(2024, 3, 1)


@pytest.fixture
def eager(settings, tmp_path):
    """Celery jobs run in the test's process, on commit; uploads are stored under tmp_path."""
    # Read Celery's values before changing the Django setting: app.conf loads the settings
    # lazily, and reading it afterwards would "restore" eager mode for every later test.
    previous = app.conf.task_always_eager, app.conf.task_eager_propagates
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.CELERY_TASK_ALWAYS_EAGER = True
    # Celery read the Django settings when it was configured: tell it directly too.
    app.conf.task_always_eager = app.conf.task_eager_propagates = True
    yield settings.MEDIA_ROOT
    app.conf.task_always_eager, app.conf.task_eager_propagates = previous


@pytest.fixture
def world(tree):
    """The county of make_tree, a neighbouring county, and one user per role."""
    neighbour = make_committee(name="邻县县委")
    neighbour_branch = make_branch(parent=neighbour, name="邻村党支部")
    users = SimpleNamespace(
        county=make_user(Role.COUNTY_ADMIN, tree["root"], username="county"),
        staff=make_user(Role.COMMITTEE_STAFF, tree["township"], username="staff"),
        secretary=make_user(Role.BRANCH_SECRETARY, tree["village"], username="secretary"),
    )
    return SimpleNamespace(
        tree=tree, neighbour=neighbour, neighbour_branch=neighbour_branch, users=users
    )


def mobile_member(home_org, name, **kw):
    member = make_member(home_org=home_org, name=name)
    member_register_outflow(member=member, left_on=LEFT_ON, destination_code="610113", **kw)
    return member


def upload(client, path, **data):
    with open(path, "rb") as handle:
        return client.post(
            reverse("rosters:upload"), {"file": handle, "kind": ImportKind.MEMBERS, **data}
        )


def content(response) -> bytes:
    return b"".join(response.streaming_content)


def xlsx_rows(response, sheet=None) -> list[list]:
    workbook = load_workbook(io.BytesIO(content(response)), read_only=True)
    sheets = [workbook[sheet]] if sheet else workbook.worksheets
    return [list(row) for ws in sheets for row in ws.iter_rows(values_only=True)]


def csv_rows(response) -> list[list[str]]:
    return list(csv.reader(io.StringIO(content(response).decode("utf-8-sig"))))


def ledger_ids(rows: list[list]) -> set[str]:
    """ID numbers of the data rows of a ledger (below each sheet's title and header rows)."""
    ids, in_data = set(), False
    for row in rows:
        if list(row[: len(HEADERS)]) == list(HEADERS):
            in_data = True
        elif in_data and len(row) > ID_COLUMN and row[ID_COLUMN]:
            ids.add(str(row[ID_COLUMN]).strip())
    return ids


def html(response) -> str:
    return response.content.decode()


# --- who may come in ----------------------------------------------------------------------------


def every_url(record_pk: int) -> list[tuple[str, str]]:
    return [
        ("get", reverse("rosters:index")),
        ("get", reverse("rosters:template")),
        ("get", reverse("rosters:upload")),
        ("post", reverse("rosters:upload")),
        ("get", reverse("rosters:detail", args=[record_pk])),
        ("get", reverse("rosters:progress", args=[record_pk])),
        ("post", reverse("rosters:confirm", args=[record_pk])),
        ("get", reverse("rosters:errors", args=[record_pk, "xlsx"])),
        ("get", reverse("rosters:bad_rows", args=[record_pk, "csv"])),
        ("get", reverse("rosters:export")),
        ("get", reverse("rosters:export_members")),
    ]


def test_a_branch_secretary_gets_403_on_every_roster_page(client, world):
    own = RosterImport.objects.create(
        filename="a.xlsx", user=world.users.secretary, status=ImportStatus.PREVIEWED
    )
    client.force_login(world.users.secretary)
    for method, url in every_url(own.pk):
        response = getattr(client, method)(url)
        assert response.status_code == 403, url
    assert "只有县委组织部管理员和党（工）委工作人员" in html(client.get(reverse("rosters:index")))
    assert not AccessEvent.objects.filter(kind=AccessEventKind.EXPORT).exists()


def test_anonymous_users_are_sent_to_login(client, world):
    for method, url in every_url(1):
        response = getattr(client, method)(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith("/accounts/login/"), url


def test_the_navbar_links_the_rosters_only_for_ledger_rights(client, world):
    client.force_login(world.users.secretary)
    assert reverse("rosters:index") not in html(client.get("/"))
    client.force_login(world.users.staff)
    page = html(client.get("/"))
    assert reverse("rosters:index") in page and "登记表导入" in page


def _previewed(user, filename="a.xlsx"):
    return RosterImport.objects.create(
        filename=filename,
        user=user,
        operator=user.get_username() if user else "root",
        status=ImportStatus.PREVIEWED,
        dry_run=True,
        rows_read=2,
        rows_created=1,
        rows_bad=1,
        errors=[[3, "姓名", "", "请填写姓名"]],
        bad_rows={"headers": ["姓名"], "rows": [[3, [""], "请填写姓名"]]},
    )


def _import_urls(record):
    return (
        reverse("rosters:detail", args=[record.pk]),
        reverse("rosters:progress", args=[record.pk]),
        reverse("rosters:errors", args=[record.pk, "xlsx"]),
        reverse("rosters:bad_rows", args=[record.pk, "csv"]),
    )


def test_an_import_beyond_the_users_ledger_is_404(client, world, eager):
    """Neither a neighbouring county nor a township's staff opens the county's own import;
    nobody but a superuser opens a command-line import made without --user."""
    theirs = _previewed(world.users.county)
    command_line = _previewed(None, "命令行.csv")
    for user in (
        make_user(Role.COUNTY_ADMIN, world.neighbour, username="neighbour"),
        world.users.staff,
    ):
        client.force_login(user)
        for record in (theirs, command_line):
            for url in _import_urls(record):
                assert client.get(url).status_code == 404, (user, url)
            assert client.post(reverse("rosters:confirm", args=[record.pk])).status_code == 404
        index = html(client.get(reverse("rosters:index")))
        assert "a.xlsx" not in index and "命令行.csv" not in index
    assert RosterImport.objects.count() == 2
    # Its owner sees it.
    client.force_login(world.users.county)
    assert client.get(reverse("rosters:detail", args=[theirs.pk])).status_code == 200
    assert "a.xlsx" in html(client.get(reverse("rosters:index")))
    assert "命令行.csv" not in html(client.get(reverse("rosters:index")))


def test_the_county_opens_its_townships_imports_but_confirms_only_its_own(client, world, eager):
    theirs = _previewed(world.users.staff, "镇上报.xlsx")
    id_number = make_id_number()
    born = f"{id_number[6:10]}-{id_number[10:12]}-{id_number[12:14]}"
    theirs.errors = [
        [3, "姓名", "", "请填写姓名"],
        [4, "公民身份号码", id_number, "与第 3 行重复"],
        [4, "出生日期", "1960-07-25", f"与身份证号中的 {born} 不符"],
    ]
    theirs.save()
    client.force_login(world.users.staff)
    assert id_number in html(client.get(reverse("rosters:detail", args=[theirs.pk])))
    client.force_login(world.users.county)
    page = html(client.get(reverse("rosters:detail", args=[theirs.pk])))
    assert id_number not in page and mask_id_number(id_number) in page  # not the county's file
    # Nor the birth date beside it, in the value or in the reason.
    assert "1960-07-25" not in page and born not in page
    assert "1960-**-**" in page and f"与身份证号中的 {born[:4]}-**-** 不符" in page
    index = html(client.get(reverse("rosters:index")))
    assert "镇上报.xlsx" in index and "staff" in index  # with who uploaded it
    for url in _import_urls(theirs):
        assert client.get(url).status_code == 200, url
    page = html(client.get(reverse("rosters:detail", args=[theirs.pk])))
    assert "只有上传该文件的用户可以确认导入" in page
    assert f'action="{reverse("rosters:confirm", args=[theirs.pk])}"' not in page
    response = client.post(reverse("rosters:confirm", args=[theirs.pk]), {"skip_invalid": "on"})
    assert response.status_code == 302
    assert RosterImport.objects.count() == 1  # nothing queued
    # The downloads of someone else's import are recorded like one's own.
    downloads = AccessEvent.objects.filter(kind=AccessEventKind.EXPORT, user=world.users.county)
    assert downloads.count() == 2


def test_an_uploader_with_a_ledger_beyond_the_users_does_not_show_the_user_their_imports(
    client, world, eager
):
    """Staff of the township and of the neighbouring county: their import may hold rows of
    the neighbour, so the township does not open it (the county of both would)."""
    both = make_user(Role.COMMITTEE_STAFF, world.tree["township"], username="both")
    RoleAssignment.objects.create(
        user=both, role=Role.COMMITTEE_STAFF, organization=world.neighbour
    )
    theirs = _previewed(both, "两地.csv")
    client.force_login(world.users.staff)
    for url in _import_urls(theirs):
        assert client.get(url).status_code == 404, url
    assert "两地.csv" not in html(client.get(reverse("rosters:index")))
    # A keeper of the township alone still shows the township their imports.
    mine = _previewed(make_user(Role.COMMITTEE_STAFF, world.tree["township"]), "本镇.csv")
    assert client.get(reverse("rosters:detail", args=[mine.pk])).status_code == 200
    assert set(RosterImport.objects.visible_to(world.users.staff)) == {mine}


def test_the_index_lists_the_users_imports_in_constant_queries(
    client, world, django_assert_max_num_queries
):
    for n in range(30):
        RosterImport.objects.create(
            filename=f"f{n}.xlsx", user=world.users.staff, status=ImportStatus.IMPORTED
        )
    client.force_login(world.users.staff)
    client.get(reverse("rosters:index"))  # session and scope warmed up
    with django_assert_max_num_queries(12):
        page = html(client.get(reverse("rosters:index")))
    assert "f29.xlsx" in page and "f0.xlsx" not in page  # 20 a page, newest first
    assert reverse("rosters:upload") in page and reverse("rosters:template") in page
    assert reverse("rosters:export") in page
    # The export form offers the user's ledger scope only.
    assert world.tree["village"].name in page and world.neighbour_branch.name not in page


# --- the template -------------------------------------------------------------------------------


def test_the_blank_template_is_an_xlsx_with_the_header_row(client, world):
    client.force_login(world.users.staff)
    response = client.get(reverse("rosters:template"))
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/vnd.openxmlformats")
    assert "attachment" in response["Content-Disposition"]
    rows = xlsx_rows(response, sheet="流动党员登记表")
    assert list(rows[1][: len(MEMBER_SCHEMA.headers)]) == list(MEMBER_SCHEMA.headers)


# --- upload → preview → confirm -----------------------------------------------------------------


def test_upload_preview_then_confirm_imports(
    client, world, eager, homes, roster_file, counts, django_capture_on_commit_callbacks
):
    path = roster_file(member_rows(6, homes=homes))
    client.force_login(world.users.county)
    before = counts()
    with django_capture_on_commit_callbacks(execute=True):
        response = upload(client, path)
    preview = RosterImport.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("rosters:detail", args=[preview.pk])
    assert preview.dry_run and preview.scoped and preview.user == world.users.county
    assert preview.status == ImportStatus.PREVIEWED
    assert counts() == before  # the preview wrote nothing

    page = html(client.get(response["Location"]))
    assert "预览（未写入）" in page and "将新增" in page
    assert reverse("rosters:confirm", args=[preview.pk]) in page
    assert 'hx-trigger="every 1s"' not in page  # finished: no polling

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("rosters:confirm", args=[preview.pk]))
    record = RosterImport.objects.exclude(pk=preview.pk).get()
    assert response["Location"] == reverse("rosters:detail", args=[record.pk])
    assert record.status == ImportStatus.IMPORTED and not record.dry_run
    assert record.rows_created == 6
    assert counts() == (before[0] + 6, before[1] + 6)
    page = html(client.get(response["Location"]))
    assert "已导入" in page and "新增 6" in page
    # The preview leads to the import, though the stored file is gone; confirming it again
    # (another tab) lands there too.
    assert not RosterImport.objects.get(pk=preview.pk).file
    page = html(client.get(reverse("rosters:detail", args=[preview.pk])))
    assert "该文件已确认导入" in page and reverse("rosters:detail", args=[record.pk]) in page
    assert "已不在服务器上" not in page
    again = client.post(reverse("rosters:confirm", args=[preview.pk]))
    assert again["Location"] == reverse("rosters:detail", args=[record.pk])
    # Who and from where, on the import and on every change it made in the trail.
    username = world.users.county.username
    assert (record.operator, record.ip_address) == (username, "127.0.0.1")
    assert "（127.0.0.1）" in page
    contexts = (
        apps.get_model("members", "MemberEvent")
        .objects.filter(pgh_context__roster_import=record.pk)
        .values_list("pgh_context", flat=True)
    )
    assert len(contexts) == 6
    assert {(c["username"], c["ip"], c["user"]) for c in contexts} == {
        (username, "127.0.0.1", world.users.county.pk)
    }

    # Pressing the button again queues nothing more.
    response = client.post(reverse("rosters:confirm", args=[preview.pk]))
    assert response.status_code == 302
    assert RosterImport.objects.count() == 2
    assert counts() == (before[0] + 6, before[1] + 6)


def test_an_uploaded_roster_waits_sealed_on_disk(
    client, world, eager, homes, roster_file, counts, django_capture_on_commit_callbacks
):
    """A preview keeps the file for the confirmation: encrypted at rest, read back in clear."""
    rows = member_rows(3, homes=homes)
    client.force_login(world.users.county)
    with django_capture_on_commit_callbacks(execute=True):
        upload(client, roster_file(rows, "csv"))
    preview = RosterImport.objects.get()
    assert (preview.status, preview.rows_read) == (ImportStatus.PREVIEWED, 3)
    stored = (eager / preview.file.name).read_bytes()
    assert stored.startswith(MARKER)
    for row in rows:
        assert row["公民身份号码"].encode() not in stored and row["姓名"].encode() not in stored
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("rosters:confirm", args=[preview.pk]))
    record = RosterImport.objects.exclude(pk=preview.pk).get()
    assert (record.status, record.rows_created) == (ImportStatus.IMPORTED, 3)


def test_an_upload_stored_before_sealing_is_still_read(eager):
    """Files written by earlier versions (no marker) open as they are."""
    storage = RosterImport._meta.get_field("file").storage
    (eager / "rosters").mkdir(parents=True)
    (eager / "rosters" / "old.csv").write_bytes(b"plain,text\n")
    with storage.open("rosters/old.csv") as handle:
        assert handle.read() == b"plain,text\n"
    name = storage.save("rosters/new.csv", ContentFile(b"plain,text\n"))
    assert (eager / name).read_bytes() != b"plain,text\n"
    with storage.open(name) as handle:
        assert handle.read() == b"plain,text\n"


def test_bad_rows_are_listed_and_block_the_import_unless_skipped(
    client, world, eager, homes, roster_file, counts, django_capture_on_commit_callbacks
):
    rows = member_rows(5, homes=homes)
    rows[1]["公民身份号码"] = "1.10105E+17"
    rows[3]["联系电话"] = "123"
    path = roster_file(rows, title_rows=[["测试县流动党员登记表"]])
    client.force_login(world.users.staff)
    before = counts()
    with django_capture_on_commit_callbacks(execute=True):
        response = upload(client, path)
    preview = RosterImport.objects.get()
    assert preview.rows_bad == 2
    page = html(client.get(response["Location"]))
    for header in ("行号", "列", "值", "错误"):
        assert f"<th>{header}</th>" in page
    assert "1.10105E+17" in page and "联系电话" in page
    assert reverse("rosters:errors", args=[preview.pk, "xlsx"]) in page
    assert reverse("rosters:bad_rows", args=[preview.pk, "csv"]) in page
    assert 'name="skip_invalid"' in page

    # Without ticking 跳过错误行: refused, nothing queued.
    response = client.post(reverse("rosters:confirm", args=[preview.pk]), follow=True)
    assert "预览发现 2 个错误行" in html(response)
    assert RosterImport.objects.count() == 1 and counts() == before

    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("rosters:confirm", args=[preview.pk]), {"skip_invalid": "on"})
    record = RosterImport.objects.exclude(pk=preview.pk).get()
    assert record.status == ImportStatus.IMPORTED and record.rows_skipped == 2
    assert counts() == (before[0] + 3, before[1] + 3)


def test_a_preview_without_changes_offers_no_confirmation(
    client, world, eager, homes, roster_file, django_capture_on_commit_callbacks
):
    path = roster_file(member_rows(2, homes=homes))
    client.force_login(world.users.county)
    for _ in range(2):  # import, then preview the same file again
        with django_capture_on_commit_callbacks(execute=True):
            upload(client, path)
        preview = RosterImport.objects.order_by("-pk").first()
        if preview.rows_created:
            with django_capture_on_commit_callbacks(execute=True):
                client.post(reverse("rosters:confirm", args=[preview.pk]))
    assert preview.rows_unchanged == 2
    page = html(client.get(reverse("rosters:detail", args=[preview.pk])))
    assert "无需导入" in page
    assert reverse("rosters:confirm", args=[preview.pk]) not in page
    client.post(reverse("rosters:confirm", args=[preview.pk]))
    assert RosterImport.objects.filter(dry_run=False).count() == 1


def test_out_of_scope_rows_are_bad_rows_of_the_preview(
    client, world, eager, roster_file, counts, django_capture_on_commit_callbacks
):
    rows = member_rows(2, homes=[world.tree["village"].code, world.neighbour_branch.code])
    client.force_login(world.users.staff)
    with django_capture_on_commit_callbacks(execute=True):
        upload(client, roster_file(rows))
    preview = RosterImport.objects.get()
    assert preview.rows_bad == 1 and preview.rows_created == 1


@pytest.mark.parametrize(
    ("name", "body", "limit_mb", "message"),
    [
        (None, None, 20, "请选择要上传的文件"),
        ("empty.xlsx", b"", 20, "文件是空的"),
        ("scan.xlsx", b"%PDF-1.7 not a sheet", 20, "这是一个PDF文件，不是表格"),
        ("big.csv", "姓名,公民身份号码\n".encode() * 10, 0, "超过了 0 MB 的上限"),
    ],
)
def test_a_bad_upload_shows_the_form_with_its_error_and_stores_nothing(
    client, world, eager, settings, name, body, limit_mb, message
):
    settings.ROSTER_MAX_UPLOAD_MB = limit_mb
    data = {"kind": ImportKind.MEMBERS}
    if name:
        data["file"] = SimpleUploadedFile(name, body)
    client.force_login(world.users.staff)
    response = client.post(reverse("rosters:upload"), data)
    assert response.status_code == 200
    assert message in html(response)
    assert not RosterImport.objects.exists()
    assert not eager.exists() or not any(eager.rglob("*.*"))


def test_the_upload_form_says_the_size_limit_before_anything_is_sent(client, world, settings):
    settings.ROSTER_MAX_UPLOAD_MB = 12
    client.force_login(world.users.staff)
    assert "不超过 12 MB" in html(client.get(reverse("rosters:upload")))


def test_a_preview_whose_every_row_is_bad_says_so_when_confirming_is_refused(world):
    from rosters.views import confirm_refusal

    preview = RosterImport.objects.create(
        filename="r.xlsx", user=world.users.staff, status=ImportStatus.PREVIEWED, dry_run=True,
        file="rosters/r.xlsx", rows_read=9, rows_bad=9,
    )  # fmt: skip
    assert confirm_refusal(preview, world.users.staff) == (
        "文件中全部 9 行都有错误，没有可以导入的行：请下载错误行，改正后重新上传"
    )
    preview.rows_bad, preview.rows_unchanged = 0, 9
    assert confirm_refusal(preview, world.users.staff) == "文件中没有需要新增或更新的行，无需导入"


def test_an_unreadable_file_shows_why_on_its_page(
    client, world, eager, homes, roster_file, counts, django_capture_on_commit_callbacks
):
    rows = [
        {k: v for k, v in row.items() if k != "联系电话"} for row in member_rows(2, homes=homes)
    ]
    client.force_login(world.users.staff)
    with django_capture_on_commit_callbacks(execute=True):
        response = upload(client, roster_file(rows, fmt="csv"))
    record = RosterImport.objects.get()
    assert record.status == ImportStatus.FAILED
    page = html(client.get(response["Location"]))
    assert "无法读取文件" in page and record.message in page
    assert reverse("rosters:confirm", args=[record.pk]) not in page


# --- progress -----------------------------------------------------------------------------------


def test_the_progress_bar_reads_the_row_and_polls_until_finished(client, world):
    record = RosterImport.objects.create(
        filename="big.xlsx",
        user=world.users.staff,
        dry_run=True,
        status=ImportStatus.RUNNING,
        progress=500,
        progress_total=2000,
    )
    client.force_login(world.users.staff)
    progress_url = reverse("rosters:progress", args=[record.pk])
    page = html(client.get(reverse("rosters:detail", args=[record.pk])))
    assert f'hx-get="{progress_url}"' in page and 'hx-trigger="every 1s"' in page
    assert 'value="25"' in page  # a reload finds the bar where the job is

    fragment = client.get(progress_url, headers={"HX-Request": "true"})
    text = html(fragment)
    assert "25%" in text and '<progress class="import-progress" max="100" value="25"' in text
    assert "500 / 2000" in text
    assert "HX-Refresh" not in fragment and "<html" not in text

    RosterImport.objects.filter(pk=record.pk).update(progress=1500)
    assert "75%" in html(client.get(progress_url, headers={"HX-Request": "true"}))

    RosterImport.objects.filter(pk=record.pk).update(status=ImportStatus.PREVIEWED, progress=2000)
    fragment = client.get(progress_url, headers={"HX-Request": "true"})
    assert fragment["HX-Refresh"] == "true"  # htmx reloads the page, which shows the outcome
    assert 'hx-trigger="every 1s"' not in html(fragment)


def test_an_import_queued_for_long_says_the_worker_may_be_down_and_polls_slower(client, world):
    import datetime

    from django.utils import timezone

    record = RosterImport.objects.create(filename="r.xlsx", user=world.users.staff)
    client.force_login(world.users.staff)
    progress_url = reverse("rosters:progress", args=[record.pk])
    text = html(client.get(progress_url, headers={"HX-Request": "true"}))
    assert "后台处理服务可能没有运行" not in text and 'hx-trigger="every 1s"' in text
    queued = timezone.now() - datetime.timedelta(minutes=3)
    RosterImport.objects.filter(pk=record.pk).update(created_at=queued)
    text = html(client.get(progress_url, headers={"HX-Request": "true"}))
    assert "后台处理服务可能没有运行，请联系系统管理员" in text
    assert 'hx-trigger="every 10s"' in text
    # Once a worker has it, it is running, whatever its age.
    RosterImport.objects.filter(pk=record.pk).update(status=ImportStatus.RUNNING)
    assert "后台处理服务" not in html(client.get(progress_url, headers={"HX-Request": "true"}))


def test_an_import_queued_for_long_behind_a_running_one_says_it_waits(client, world):
    """Pending for 3 minutes while a worker runs another import (it holds that import's run
    lock): the file waits its turn, and the page does not say the service may be down."""
    import datetime

    from django.db import connections
    from django.utils import timezone

    from rosters.services import _IMPORT_RUN_LOCK

    running = RosterImport.objects.create(
        filename="a.xlsx", file="rosters/a.xlsx", user=world.users.staff,
        status=ImportStatus.RUNNING, runs=1,
    )  # fmt: skip
    record = RosterImport.objects.create(filename="b.xlsx", user=world.users.staff)
    RosterImport.objects.filter(pk=record.pk).update(
        created_at=timezone.now() - datetime.timedelta(minutes=3)
    )
    client.force_login(world.users.staff)
    progress_url = reverse("rosters:progress", args=[record.pk])
    worker = connections.create_connection("default")  # the session of the worker running it
    try:
        with worker.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_lock(%s, %s)", [_IMPORT_RUN_LOCK, running.pk])
        text = html(client.get(progress_url, headers={"HX-Request": "true"}))
        assert "前面有其他文件正在导入" in text and "不必重新上传" in text
        assert "后台处理服务可能没有运行" not in text and 'hx-trigger="every 5s"' in text
        # The running one's own page does not say it waits: it is not blocked.
        running_url = reverse("rosters:progress", args=[running.pk])
        assert "正在等待" not in html(client.get(running_url, headers={"HX-Request": "true"}))
    finally:
        worker.close()
    # Nothing runs any more, and it is still not picked up: no worker may be running.
    text = html(client.get(progress_url, headers={"HX-Request": "true"}))
    assert "后台处理服务可能没有运行，请联系系统管理员" in text and "前面有其他文件" not in text


def test_an_import_whose_worker_died_says_whether_it_will_be_run_again(client, world):
    # Marked running with a stored file, and no worker holds its run lock: its worker died.
    record = RosterImport.objects.create(
        filename="r.xlsx", file="rosters/r.xlsx", user=world.users.staff,
        status=ImportStatus.RUNNING, runs=1, progress=2000, progress_total=20000,
    )  # fmt: skip
    client.force_login(world.users.staff)
    progress_url = reverse("rosters:progress", args=[record.pk])
    text = html(client.get(progress_url, headers={"HX-Request": "true"}))
    assert "后台处理进程意外中断" in text and "自动重新处理，不必重新上传" in text
    assert 'hx-trigger="every 10s"' in text
    RosterImport.objects.filter(pk=record.pk).update(runs=2)
    text = html(client.get(progress_url, headers={"HX-Request": "true"}))
    assert "后台处理进程再次意外中断" in text and "系统不再自动重试" in text
    assert "自动重新处理" not in text


# --- downloads of an import ---------------------------------------------------------------------


@pytest.fixture
def bad_preview(client, world, eager, homes, roster_file, django_capture_on_commit_callbacks):
    rows = member_rows(3, homes=homes)
    rows[1]["公民身份号码"] = "=1+1"  # text in a CSV (openpyxl would write a formula)
    rows[2]["入党日期"] = "去年"
    client.force_login(world.users.staff)
    with django_capture_on_commit_callbacks(execute=True):
        upload(client, roster_file(rows, fmt="csv"))
    return RosterImport.objects.get()


def test_the_error_report_downloads_with_its_four_columns(client, bad_preview):
    response = client.get(reverse("rosters:errors", args=[bad_preview.pk, "xlsx"]))
    assert response.status_code == 200
    assert response["Cache-Control"].startswith("max-age=0")
    rows = xlsx_rows(response)
    assert rows[0][0].startswith("导出人 staff 导出时间 ")  # the watermark
    assert tuple(rows[1]) == ERROR_HEADERS == ("行号", "列", "值", "错误")
    assert {row[0] for row in rows[2:]} == {3, 4}
    assert "'=1+1" in [row[2] for row in rows[2:]]  # never run as a formula

    rows = csv_rows(client.get(reverse("rosters:errors", args=[bad_preview.pk, "csv"])))
    assert rows[0][0].startswith("导出人 staff 导出时间 ")
    assert rows[1] == ["行号", "列", "值", "错误"] and len(rows) == 4


def test_the_bad_rows_download_has_the_files_columns_and_an_error_column(client, bad_preview):
    rows = xlsx_rows(client.get(reverse("rosters:bad_rows", args=[bad_preview.pk, "xlsx"])))
    assert rows[0][0].startswith("导出人 staff 导出时间 ")  # above the header; imports skip it
    assert list(rows[1]) == [*HEADERS, "错误"]
    assert len(rows) == 4 and all(row[-1] for row in rows[2:])
    rows = csv_rows(client.get(reverse("rosters:bad_rows", args=[bad_preview.pk, "csv"])))
    assert rows[0][0].startswith("导出人 staff 导出时间 ")
    assert rows[1] == [*HEADERS, "错误"] and len(rows) == 4


def test_downloads_of_an_import_are_recorded(client, world, bad_preview):
    client.get(reverse("rosters:errors", args=[bad_preview.pk, "csv"]))
    event = AccessEvent.objects.get(kind=AccessEventKind.EXPORT)
    assert event.user == world.users.staff and event.object_id == str(bad_preview.pk)
    assert event.detail["rows"] == 2


def test_downloads_of_an_import_without_problems_are_404(client, world):
    record = RosterImport.objects.create(
        filename="ok.xlsx", user=world.users.staff, status=ImportStatus.IMPORTED
    )
    client.force_login(world.users.staff)
    assert client.get(reverse("rosters:errors", args=[record.pk, "xlsx"])).status_code == 404
    assert client.get(reverse("rosters:bad_rows", args=[record.pk, "csv"])).status_code == 404
    assert client.get(f"/rosters/imports/{record.pk}/errors.pdf").status_code == 404


# --- ledger exports ------------------------------------------------------------------------------


@pytest.fixture
def members(world):
    tree = world.tree
    return SimpleNamespace(
        east=mobile_member(tree["village"], "王东村"),
        west=mobile_member(tree["other"], "赵西村"),
        neighbour=mobile_member(world.neighbour_branch, "钱邻县"),
        # Home in the neighbouring county, takes part in the life of 东村党支部: on the member
        # list of the township's staff as an inflow member.
        inflow=mobile_member(world.neighbour_branch, "孙流入", inflow_org=tree["village"]),
        at_home=make_member(home_org=tree["village"], name="李在家"),
    )


def test_a_committees_ledger_is_a_book_of_its_branches(client, world, members):
    client.force_login(world.users.staff)
    township = world.tree["township"]
    response = client.get(reverse("rosters:export"), {"org": township.pk, "format": "xlsx"})
    assert response.status_code == 200
    assert "attachment" in response["Content-Disposition"]
    workbook = load_workbook(io.BytesIO(content(response)), read_only=True)
    assert workbook.sheetnames == ["东村党支部", "西村党支部"]
    title = next(workbook["东村党支部"].iter_rows(values_only=True))[0]
    assert "导出人 staff 导出时间" in title
    rows = [list(r) for ws in workbook.worksheets for r in ws.iter_rows(values_only=True)]
    assert ledger_ids(rows) == {members.east.id_number, members.west.id_number}

    event = AccessEvent.objects.get(kind=AccessEventKind.EXPORT)
    assert event.user == world.users.staff
    assert event.detail["rows"] == 2 and event.detail["scope"] == township.code


def test_a_branchs_ledger_as_csv_carries_the_watermark_and_reads_back(client, world, members):
    client.force_login(world.users.staff)
    village = world.tree["village"]
    response = client.get(reverse("rosters:export"), {"org": village.pk, "format": "csv"})
    body = content(response)
    assert response["Content-Type"].startswith("text/csv")
    assert body.startswith(b"\xef\xbb\xbf") and body.count(b"\xef\xbb\xbf") == 1
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
    assert "导出人 staff" in rows[0][0]
    assert rows[1] == list(HEADERS)
    assert [r[ID_COLUMN].strip() for r in rows[2:]] == [members.east.id_number]
    # The import finds the header below the watermark line.
    with open_table(body, filename="ledger.csv", schema=MEMBER_SCHEMA) as table:
        assert table.header_row == 2 and len(list(table.rows)) == 1
    assert AccessEvent.objects.get(kind=AccessEventKind.EXPORT).detail["rows"] == 1


def test_exporting_an_organization_outside_the_subtree_is_404(client, world, members):
    client.force_login(world.users.staff)
    for org in (world.neighbour_branch, world.neighbour, world.tree["root"]):
        response = client.get(reverse("rosters:export"), {"org": org.pk})
        assert response.status_code == 404, org
    assert client.get(reverse("rosters:export"), {"org": "x"}).status_code == 404
    assert client.get(reverse("rosters:export"), {"format": "pdf"}).status_code == 404
    assert not AccessEvent.objects.filter(kind=AccessEventKind.EXPORT).exists()


def test_without_an_organization_the_ledger_covers_the_users_scope(client, world, members):
    client.force_login(world.users.staff)
    rows = xlsx_rows(client.get(reverse("rosters:export")))
    assert ledger_ids(rows) == {members.east.id_number, members.west.id_number}
    client.force_login(world.users.county)
    rows = xlsx_rows(client.get(reverse("rosters:export"), {"org": world.tree["root"].pk}))
    assert ledger_ids(rows) == {members.east.id_number, members.west.id_number}


def test_the_member_list_export_is_exactly_the_filtered_scoped_list(client, world, members):
    client.force_login(world.users.staff)
    url = reverse("rosters:export_members")
    in_scope = {m.id_number for m in (members.east, members.west, members.inflow, members.at_home)}

    rows = xlsx_rows(client.get(url, {"format": "xlsx"}))
    assert ledger_ids(rows) == in_scope  # never 钱邻县 of the neighbouring county
    rows = csv_rows(client.get(url, {"format": "csv"}))
    assert "导出人 staff" in rows[0][0] and rows[1] == list(HEADERS)
    assert {r[ID_COLUMN].strip() for r in rows[2:]} == in_scope

    rows = xlsx_rows(client.get(url, {"mobile": "false", "page": "2"}))
    assert ledger_ids(rows) == {members.at_home.id_number}
    rows = xlsx_rows(client.get(url, {"org": world.tree["other"].pk}))
    assert ledger_ids(rows) == {members.west.id_number}
    # A filter naming an organization outside the scope is not an export of "everything".
    assert client.get(url, {"org": world.neighbour_branch.pk}).status_code == 404

    events = AccessEvent.objects.filter(kind=AccessEventKind.EXPORT).order_by("at", "pk")
    assert [e.detail["rows"] for e in events] == [4, 4, 1, 1]
    assert events[2].detail["filters"] == {"mobile": "false"}
    assert events[3].detail["scope"] == f"members?org={world.tree['other'].pk}"

    # What was searched for is masked in the scope as in the filters, however it was written.
    for q in ("139 1234 5678", "+86 158 0516 6826", "13912345678"):
        client.get(url, {"q": q, "format": "csv"})
        event = AccessEvent.objects.filter(kind=AccessEventKind.EXPORT).latest("pk")
        assert event.detail["scope"] == "members?q=" + event.detail["filters"]["q"]
        assert "****" in event.detail["scope"] and q not in event.detail["scope"]


def test_the_trail_names_the_organization_a_member_list_export_was_filtered_by(
    client, world, members
):
    other = world.tree["other"]
    client.force_login(world.users.staff)
    client.get(reverse("rosters:export_members"), {"org": other.pk, "mobile": "true"})
    event = AccessEvent.objects.filter(kind=AccessEventKind.EXPORT).latest("pk")
    assert event.detail["filter_names"] == {"org": other.name}
    other.name = "改名后的党支部"  # the trail keeps the name the export was made under
    other.save()

    client.force_login(make_user(Role.AUDITOR, username="auditor"))
    rows = client.get(reverse("audit:access")).content.decode().split("<tbody")[1]
    assert f"筛选条件：党组织（含下级）={event.detail['filter_names']['org']}；流动党员=是" in rows
    assert "filter_names" not in rows and "改名后的党支部" not in rows
    export = client.get(reverse("audit:export", args=["access"]), {"kind": "export"})
    text = b"".join(export.streaming_content).decode("utf-8-sig")
    assert f"党组织（含下级）={event.detail['filter_names']['org']}" in text
    assert "filter_names" not in text


def test_a_refused_import_says_what_it_could_have_done_not_what_it_did(client, world, eager):
    refused = RosterImport.objects.create(
        filename="r.xlsx", user=world.users.county, status=ImportStatus.REFUSED,
        rows_read=3, rows_created=2, rows_bad=1,
    )  # fmt: skip
    client.force_login(world.users.county)
    page = html(client.get(reverse("rosters:detail", args=[refused.pk])))
    assert "可新增" in page and "可更新" in page
    assert 'stat-label">新增<' not in page


def test_export_buttons_show_for_ledger_rights_only(client, world, members):
    village = world.tree["village"]
    detail_url = reverse("branches:detail", args=[village.pk])
    export_url = f"{reverse('rosters:export')}?org={village.pk}&amp;format=xlsx"

    client.force_login(world.users.secretary)
    assert "导出台账" not in html(client.get(detail_url))
    assert "导出当前筛选结果" not in html(client.get(reverse("members:list")))

    client.force_login(world.users.staff)
    assert export_url in html(client.get(detail_url))
    page = html(client.get(reverse("members:list"), {"org": village.pk, "page": "1"}))
    assert "导出当前筛选结果" in page
    assert f"{reverse('rosters:export_members')}?org={village.pk}&amp;format=xlsx" in page
    # A refused filter (a stale link's) has its error on the list, and no export that would 404.
    page = html(client.get(reverse("members:list"), {"province": "61"}))
    assert "errorlist" in page or "invalid-feedback" in page
    assert "导出当前筛选结果" not in page
    # A functional branch is no membership's home, but it has a table, as the ledger form's
    # export of it has: the mobile members it organizes. A party group has none of its own.
    client.force_login(world.users.county)
    functional = world.tree["functional"]
    page = html(client.get(reverse("branches:detail", args=[functional.pk])))
    assert f"{reverse('rosters:export')}?org={functional.pk}&amp;format=xlsx" in page
    assert "没有台账" not in page
    group = Organization.objects.create(
        code="G-1", name="东村第一党小组", kind=OrgKind.GROUP, parent=village
    )
    page = html(client.get(reverse("branches:detail", args=[group.pk])))
    assert "导出台账" not in page and "党小组的党员在所在党支部的台账中" in page
    page = html(client.get(reverse("branches:detail", args=[world.tree["township"].pk])))
    assert f"{reverse('rosters:export')}?org={world.tree['township'].pk}&amp;format=xlsx" in page


def test_a_second_role_without_ledger_rights_adds_nothing_to_exports(client, world, members):
    """Committee staff of the township who is also a branch secretary in the neighbouring
    county sees that branch's members, but keeps no ledger of them."""
    staff = world.users.staff
    RoleAssignment.objects.create(
        user=staff, role=Role.BRANCH_SECRETARY, organization=world.neighbour_branch
    )
    client.force_login(staff)
    neighbour_page = html(client.get(reverse("branches:detail", args=[world.neighbour_branch.pk])))
    assert "钱邻县" in html(client.get(reverse("members:list")))  # visible on the list ...
    assert "导出台账" not in neighbour_page
    response = client.get(reverse("rosters:export"), {"org": world.neighbour_branch.pk})
    assert response.status_code == 403
    # ... but not in its export; 孙流入 is there as an inflow member of 东村党支部.
    rows = xlsx_rows(client.get(reverse("rosters:export_members")))
    assert ledger_ids(rows) == {
        m.id_number for m in (members.east, members.west, members.inflow, members.at_home)
    }
    village_page = html(client.get(reverse("branches:detail", args=[world.tree["village"].pk])))
    assert "导出台账" in village_page


def test_a_members_page_lists_the_imports_that_touched_them(client, world, tmp_path, homes):
    from rosters.services import roster_import

    from .rosterdata import write_csv

    def run(name, user):
        return roster_import(source=write_csv(tmp_path / name, rows), filename=name, user=user)

    rows = member_rows(2, homes=homes)
    first = run("春季登记.csv", world.users.staff)
    rows[0]["联系电话"] = "13700000000"
    again = run("秋季核对.csv", world.users.county)
    assert (first.rows_created, again.rows_updated) == (2, 1)
    member = Member.objects.by_id_number(rows[0]["公民身份号码"]).get()
    client.force_login(world.users.county)
    page = html(client.get(reverse("members:detail", args=[member.pk])))
    assert "名册导入记录" in page
    assert page.index("秋季核对.csv") < page.index("春季登记.csv")  # newest first
    # The county opens both its own import and its township staff's.
    assert f'href="{reverse("rosters:detail", args=[again.pk])}"' in page
    assert f'href="{reverse("rosters:detail", args=[first.pk])}"' in page
    # The staff member opens theirs; the county's is named only.
    client.force_login(world.users.staff)
    page = html(client.get(reverse("members:detail", args=[member.pk])))
    assert "秋季核对.csv" in page
    assert f'href="{reverse("rosters:detail", args=[again.pk])}"' not in page
    assert f'href="{reverse("rosters:detail", args=[first.pk])}"' in page
    client.force_login(world.users.county)
    assert "新增" in page and "更新" in page
    untouched = make_member(home_org=world.tree["village"], name="未导入")
    page = html(client.get(reverse("members:detail", args=[untouched.pk])))
    assert "名册导入记录" not in page


def test_a_second_role_without_ledger_rights_adds_nothing_to_imports(
    client, world, eager, tmp_path, django_capture_on_commit_callbacks
):
    """Committee staff of the township who is also a branch secretary in the neighbouring
    county sees that branch, but neither renames it, sets up a party group under it, nor
    places members in it through an import: it is no ledger of theirs."""
    staff = world.users.staff
    RoleAssignment.objects.create(
        user=staff, role=Role.BRANCH_SECRETARY, organization=world.neighbour_branch
    )
    neighbour = world.neighbour_branch
    headers = ["组织编码", "组织名称", "上级组织编码", "组织类别", "支部类型"]
    client.force_login(staff)

    def preview(row):
        path = write_xlsx(tmp_path / "orgs.xlsx", [row], headers=headers)
        with django_capture_on_commit_callbacks(execute=True), open(path, "rb") as handle:
            client.post(
                reverse("rosters:upload"), {"file": handle, "kind": ImportKind.ORGANIZATIONS}
            )
        record = RosterImport.objects.latest("pk")
        assert (record.rows_created, record.rows_updated, record.rows_bad) == (0, 0, 1)
        return [tuple(error[1:]) for error in record.errors]

    assert preview(
        {"组织编码": neighbour.code, "组织名称": "邻村党支部（改）", "上级组织编码":
         world.neighbour.code, "组织类别": "党支部", "支部类型": "建制型"}
    ) == [("组织编码", neighbour.code,
           f"组织编码“{neighbour.code}”属于您管辖范围以外的党组织，不能修改")]  # fmt: skip
    assert preview(
        {"组织编码": "G-9", "组织名称": "邻村第一党小组", "上级组织编码": neighbour.code,
         "组织类别": "党小组"}
    ) == [("上级组织编码", neighbour.code,
           f"上级组织“{neighbour.code}”不在您的管辖范围内")]  # fmt: skip
    with django_capture_on_commit_callbacks(execute=True):
        upload(client, write_xlsx(tmp_path / "r.xlsx", member_rows(1, homes=[neighbour.code])))
    members = RosterImport.objects.latest("pk")
    assert (members.rows_created, members.rows_bad) == (0, 1)
    assert "不在您的管辖范围内" in members.errors[0][3]
