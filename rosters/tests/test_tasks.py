"""The Celery job of an uploaded roster (rosters/tasks.py), run by a real worker process."""

import os
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.contrib.auth import get_user_model
from django.core.files import File
from django.db import connection

from members.models import Member
from portal.celery import app
from portal.embedded import database_url
from rosters.choices import ImportStatus
from rosters.models import RosterImport
from rosters.services import roster_import_start
from rosters.tasks import run_roster_import

from .rosterdata import member_rows, write_csv

REPO = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


class Worker:
    """A ``celery -A portal worker --pool solo`` on a queue of its own, on the test database."""

    def __init__(self, media_root: Path) -> None:
        self.queue = f"rosters-test-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        url = database_url(connection.settings_dict)
        env = {
            **os.environ,
            "DATABASE_URL": url,
            "REDIS_URL": django_settings.REDIS_URL,
            "DJANGO_MEDIA_ROOT": str(media_root),
            "PORTAL_ALLOW_DEV_SECRET": "1",
        }
        self.lines: list[str] = []
        self.ready = threading.Event()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "portal", "worker", "--pool", "solo",
             "-Q", self.queue, "-n", f"{self.queue}@%h", "--without-gossip", "--without-mingle",
             "--without-heartbeat", "--loglevel", "INFO"],
            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.process.stdout:
            self.lines.append(line)
            if " ready." in line:
                self.ready.set()

    def succeeded(self) -> int:
        return sum(1 for line in self.lines if "run_roster_import" in line and "succeeded" in line)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@pytest.fixture
def worker(tmp_path, settings):
    settings.MEDIA_ROOT = tmp_path / "media"
    started = Worker(settings.MEDIA_ROOT)
    default_queue = app.conf.task_default_queue
    app.conf.task_default_queue = started.queue
    try:
        assert started.ready.wait(60), "".join(started.lines)
        yield started
    finally:
        app.conf.task_default_queue = default_queue
        started.stop()


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
