"""A roster imported in a real browser on a phone (登记表导入): the blank template, the upload,
the preview's counts, the confirmation and the progress bar polled by htmx, with both jobs run
by a real Celery worker."""

import re
import time
from contextlib import contextmanager

import pytest
from django.db import connection, transaction
from openpyxl import load_workbook
from playwright.sync_api import Page, expect

from members.models import Member
from rosters import services
from rosters.choices import ImportStatus
from rosters.models import RosterImport
from rosters.template import HEADER_ROW
from rosters.tests.rosterdata import member_rows, write_csv
from rosters.tests.worker import worker_fixture  # noqa: F401 - the "worker" fixture

from .support import assert_fits_phone, sign_in

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

ROWS = 6000


@contextmanager
def members_held():
    """While the block runs, members can be read but not written (a SHARE lock, as another
    session could hold): an import stops at its first write with its bar part-way, however
    fast or slow the machine. Leaving the block lets it go on. Yields a function that tells
    whether a writer is waiting."""
    table = Member._meta.db_table
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"LOCK TABLE {table} IN SHARE MODE")

        def writer_waiting() -> bool:
            cursor.execute(
                "SELECT count(*) FROM pg_locks WHERE relation = %s::regclass AND NOT granted",
                [table],
            )
            return cursor.fetchone()[0] > 0

        yield writer_waiting


def wait_until(predicate, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def stat(page: Page, label: str):
    """The number on an import's page under ``label`` (读取行数, 新增, 错误行, ...)."""
    card = page.locator(".stat-card").filter(
        has=page.locator(".stat-label", has_text=re.compile(f"^{label}$"))
    )
    return card.locator(".stat-value")


def test_a_roster_is_previewed_then_imported_under_a_progress_bar(
    live_server, page, watch, county_admin, tree, worker, tmp_path
):
    # A long name without spaces, as files are named: it breaks, not widens the page.
    roster = write_csv(
        tmp_path / "Dongcun_liudong_dangyuan_dengjibiao_2026Q3_final_version_v2_revised.csv",
        member_rows(ROWS, homes=[tree["village"].code, tree["other"].code]),
    )
    sign_in(page, live_server, county_admin)
    page.get_by_role("button", name="展开导航").click()
    page.locator("#portal-nav").get_by_role("link", name="登记表导入").click()
    expect(page.get_by_role("heading", name="登记表导入")).to_be_visible()
    assert_fits_phone(page)

    with page.expect_download() as download:
        page.get_by_role("link", name="下载空白登记表模板").click()
    blank = download.value
    assert blank.failure() is None
    assert blank.suggested_filename == "流动党员登记表.xlsx"
    blank.save_as(tmp_path / blank.suggested_filename)
    sheet = load_workbook(tmp_path / blank.suggested_filename, read_only=True).worksheets[0]
    (headers,) = sheet.iter_rows(min_row=HEADER_ROW, max_row=HEADER_ROW, values_only=True)
    assert "公民身份号码" in headers

    page.get_by_role("link", name="上传登记表").click()
    page.locator("input[type=file]").set_input_files(roster)
    page.get_by_role("button", name="上传并预览").click()

    # The preview runs in the worker; when it is done, the bar's poll has the page reloaded.
    expect(page.locator(".badge", has_text="已预览")).to_be_visible()
    expect(stat(page, "读取行数")).to_have_text(str(ROWS))
    expect(stat(page, "将新增")).to_have_text(str(ROWS))
    expect(stat(page, "错误行")).to_have_text("0")
    assert Member.objects.count() == 0

    bar = page.locator("#import-progress")
    percent = bar.get_by_role("status")
    with members_held() as writer_waiting:
        page.get_by_role("button", name="确认导入").click()
        expect(bar).to_contain_text("正在导入…")
        wait_until(writer_waiting)
        # Stopped at its first write: the job's progress no longer changes, and the polling bar
        # has caught up with it.
        running = RosterImport.objects.get(dry_run=False)
        assert 0 < running.progress < running.progress_total == ROWS
        expect(percent).to_have_text(f"{running.percent}%")
        assert_fits_phone(page)

        page.reload()

        # The numbers are on the import's row: the bar comes back where it was, not at 0%.
        expect(bar).to_contain_text("正在导入…")
        expect(percent).to_have_text(f"{running.percent}%")
        expect(bar.locator("progress")).to_have_attribute("value", str(running.percent))

    # Let go: the job finishes and the polling bar has the page show the outcome.
    expect(page.locator(".badge", has_text="已导入")).to_be_visible()
    expect(page.get_by_role("status").filter(has_text="已导入：")).to_have_text(
        f"已导入：读取 {ROWS} 行：新增 {ROWS}，更新 0，未变 0，错误 0"
    )
    expect(stat(page, "新增")).to_have_text(str(ROWS))
    imported = RosterImport.objects.get(dry_run=False)
    assert (imported.status, imported.rows_created, imported.user) == (
        ImportStatus.IMPORTED,
        ROWS,
        county_admin,
    )
    assert Member.objects.count() == ROWS
    assert_fits_phone(page)
    page.goto(f"{live_server.url}/rosters/")  # the list of imports, with the long name twice
    expect(page.get_by_role("link", name=roster.name).first).to_be_visible()
    assert_fits_phone(page)
    watch.assert_clean()


def test_a_long_bad_value_leaves_its_reason_readable_on_a_desktop(
    live_server, browser, county_admin, tree, tmp_path
):
    # A value far over its column's limit (an address pasted ten times) took the table's
    # width and left the reason, what the user came to read, three characters wide.
    rows = member_rows(2, homes=[tree["village"].code])
    rows[0]["详细地址"] = "西安市雁塔区长安南路" * 40
    roster = write_csv(tmp_path / "long.csv", rows)
    services.roster_import(source=roster, filename=roster.name, user=county_admin, dry_run=True)
    record = RosterImport.objects.get()
    context = browser.new_context(viewport={"width": 1366, "height": 900}, locale="zh-CN")
    page = context.new_page()
    try:
        sign_in(page, live_server, county_admin)
        page.goto(f"{live_server.url}/rosters/imports/{record.pk}/")
        reason = page.locator("#errors tbody tr td").nth(3)
        expect(reason).to_contain_text("详细地址最多")
        assert reason.bounding_box()["width"] >= 240, reason.bounding_box()
        header = page.locator("#errors thead th").first
        expect(header).to_have_text("行号")
        assert header.bounding_box()["height"] < 2 * header.evaluate(
            "e => parseFloat(getComputedStyle(e).lineHeight)"
        )
    finally:
        context.close()
