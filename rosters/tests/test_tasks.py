"""The Celery job of an uploaded roster (rosters/tasks.py), run by a real worker process."""

import time

import pytest
from django.contrib.auth import get_user_model
from django.core.files import File

from members.models import Member
from portal.tests.locks import a_session_waits_on_a_lock
from rosters.choices import ImportStatus
from rosters.models import RosterImport
from rosters.services import roster_import_start
from rosters.tasks import run_roster_import

from .rosterdata import member_rows, write_csv
from .worker import worker_fixture  # noqa: F401 - the "worker" fixture

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def wait_for(predicate, timeout=90.0, every=0.02):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise AssertionError("timed out")


def test_an_upload_runs_as_a_job_with_progress(worker, tree, homes, tmp_path):
    count = 9000
    path = write_csv(tmp_path / "roster.csv", member_rows(count, homes=homes))
    admin = get_user_model().objects.create_superuser("county-admin", password="x")
    with path.open("rb") as handle:
        record = roster_import_start(upload=File(handle, name="登记表.csv"), user=admin)
    # Not in a transaction (transactional test): the job is queued at once.
    seen: list[tuple[int, int, str]] = []

    def finished():
        row = RosterImport.objects.values_list("progress", "progress_total", "status").get(
            pk=record.pk
        )
        if not seen or seen[-1] != row:
            seen.append(row)
        return row[2] in (ImportStatus.IMPORTED, ImportStatus.FAILED, ImportStatus.REFUSED)

    wait_for(finished)
    record.refresh_from_db()
    assert record.status == ImportStatus.IMPORTED, (record.message, "".join(worker.lines[-30:]))
    assert record.rows_created == count
    assert Member.objects.count() == count
    assert (record.progress, record.progress_total) == (count, count)
    # The bar moved while the job ran: progress was written from outside its transaction.
    assert any(0 < done < count and status == ImportStatus.RUNNING for done, _t, status in seen), (
        seen
    )
    assert record.percent == 100

    # Delivered twice (acks_late after a lost worker): the second run leaves it alone.
    finished_at = record.finished_at
    run_roster_import.apply_async(args=[record.pk], queue=worker.queue)
    wait_for(lambda: worker.succeeded() >= 2)
    record.refresh_from_db()
    assert record.finished_at == finished_at
    assert Member.objects.count() == count


def _trail_events() -> int:
    """Rows in every table of the change trail."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT table_name FROM information_schema.tables "
            "WHERE table_schema = 'public' AND table_name LIKE '%%event'"
        )
        tables = [name for (name,) in cursor.fetchall()]
        total = 0
        for name in tables:
            cursor.execute(f'SELECT count(*) FROM "{name}"')
            total += cursor.fetchone()[0]
    return total


def test_an_import_whose_worker_is_killed_says_so_and_runs_again(
    worker, tree, homes, tmp_path, settings, client
):
    from django.urls import reverse

    from members.models import Mobility
    from portal.celery import app
    from rosters.models import RosterImportMember
    from rosters.services import roster_import_confirm, roster_imports_resume

    from .worker import Worker

    count = 20000
    path = write_csv(tmp_path / "roster.csv", member_rows(count, homes=homes))
    admin = get_user_model().objects.create_superuser("county-admin", password="x")
    with path.open("rb") as handle:
        preview = roster_import_start(
            upload=File(handle, name="登记表.csv"), user=admin, dry_run=True
        )
    wait_for(lambda: RosterImport.objects.get(pk=preview.pk).status == ImportStatus.PREVIEWED)

    def state():
        return (
            Member.objects.count(),
            Mobility.objects.count(),
            RosterImportMember.objects.count(),
            _trail_events(),
        )

    before = state()
    record = roster_import_confirm(preview=RosterImport.objects.get(pk=preview.pk), user=admin)
    wait_for(
        lambda: RosterImport.objects.filter(
            pk=record.pk, status=ImportStatus.RUNNING, progress__gt=0
        ).exists(),
        every=0.005,
    )
    worker.process.kill()  # SIGKILL: the whole worker, as the kernel's OOM killer would
    worker.process.wait()

    # Nothing was written, the record still says running: the page says the worker is gone.
    assert state() == before
    record.refresh_from_db()
    assert record.status == ImportStatus.RUNNING and record.interrupted
    client.force_login(admin)
    progress_url = reverse("rosters:progress", args=[record.pk])
    text = client.get(progress_url, headers={"HX-Request": "true"}).content.decode()
    assert "后台处理进程意外中断" in text and "数据未作任何改动" in text
    assert 'hx-trigger="every 10s"' in text

    # The broker would give the message back only after an hour: the beat job queues it again.
    again = Worker(settings.MEDIA_ROOT)
    queue = app.conf.task_default_queue
    app.conf.task_default_queue = again.queue
    try:
        assert again.ready.wait(60), "".join(again.lines)
        assert roster_imports_resume() == 1
        wait_for(lambda: RosterImport.objects.get(pk=record.pk).is_finished)
    finally:
        app.conf.task_default_queue = queue
        again.stop()
    record = RosterImport.objects.get(pk=record.pk)
    assert record.status == ImportStatus.IMPORTED, (record.message, "".join(again.lines[-30:]))
    assert (record.runs, record.rows_created) == (2, count)
    assert Member.objects.count() == before[0] + count
    assert RosterImportMember.objects.count() == before[2] + count
    assert not record.interrupted and roster_imports_resume() == 0


def test_an_import_queued_behind_another_says_it_waits_not_that_the_worker_is_down(
    worker, tree, homes, tmp_path, client
):
    """Imports run one at a time (the tree lock). One queued behind a long one waits more
    than the 2 minutes after which a pending import is said to have no worker: its page says
    it waits for the other, whether a worker has it (running, blocked on the lock) or not yet
    (pending while every worker is busy); once nothing runs, both are imported."""
    import datetime

    from django.db import connections
    from django.urls import reverse
    from django.utils import timezone

    from branches.constants import TREE_LOCK_KEY

    admin = get_user_model().objects.create_superuser("county-admin", password="x")
    client.force_login(admin)

    def start(name, start):
        path = write_csv(tmp_path / name, member_rows(3, homes=homes, start=start))
        with path.open("rb") as handle:
            return roster_import_start(upload=File(handle, name=name), user=admin)

    def page(record):
        url = reverse("rosters:progress", args=[record.pk])
        return client.get(url, headers={"HX-Request": "true"}).content.decode()

    # Another import (the command line's, say), or a change of the tree, is under way.
    other = connections.create_connection("default")
    try:
        other.set_autocommit(False)
        with other.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [TREE_LOCK_KEY])
        first = start("first.csv", 0)
        # The worker has it, and waits for the lock.
        wait_for(
            lambda: (
                RosterImport.objects.filter(pk=first.pk, status=ImportStatus.RUNNING).exists()
                and a_session_waits_on_a_lock()
            )
        )
        text = page(first)
        assert "正在等待其他文件的导入（或组织架构的调整）完成" in text
        assert "后台处理" not in text and 'hx-trigger="every 5s"' in text

        # The (solo) worker is busy with the first: the second stays queued, for long.
        second = start("second.csv", 3)
        queued = timezone.now() - datetime.timedelta(minutes=3)
        RosterImport.objects.filter(pk=second.pk).update(created_at=queued)
        assert RosterImport.objects.get(pk=second.pk).status == ImportStatus.PENDING
        text = page(second)
        assert "前面有其他文件正在导入（或正在调整组织架构）" in text and "排队" in text
        assert "后台处理服务可能没有运行" not in text
    finally:
        other.rollback()
        other.close()

    for record in (first, second):
        wait_for(lambda record=record: RosterImport.objects.get(pk=record.pk).is_finished)
        record.refresh_from_db()
        assert record.status == ImportStatus.IMPORTED, (record.message, "".join(worker.lines))
    assert Member.objects.count() == 6


def test_an_upload_deleted_before_its_job_runs_fails_with_a_clear_message(
    worker, tree, homes, tmp_path, client
):
    from django.db import transaction
    from django.urls import reverse

    path = write_csv(tmp_path / "roster.csv", member_rows(5, homes=homes))
    admin = get_user_model().objects.create_superuser("county-admin", password="x")
    with transaction.atomic():  # queued when this commits: the file is gone by then
        with path.open("rb") as handle:
            record = roster_import_start(upload=File(handle, name="登记表.csv"), user=admin)
        record.file.storage.delete(record.file.name)
    wait_for(lambda: RosterImport.objects.get(pk=record.pk).is_finished)
    record.refresh_from_db()
    assert record.status == ImportStatus.FAILED
    assert record.message == "上传的文件已不在服务器上，数据未作任何改动，请重新上传"
    assert not record.file and Member.objects.count() == 0
    # The page does not blame the file: it was never read.
    client.force_login(admin)
    text = client.get(reverse("rosters:detail", args=[record.pk])).content.decode()
    assert "处理失败，未导入任何数据" in text and "上传的文件已不在服务器上" in text
    assert "无法读取" not in text
