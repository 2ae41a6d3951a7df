"""A real Celery worker process for tests that run roster imports as jobs (test_tasks.py and
the browser tests in tests/browser/)."""

import os
import subprocess
import sys
import threading
import uuid
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.db import connection

from portal.celery import app
from portal.embedded import database_url

REPO = Path(__file__).resolve().parents[2]


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


@pytest.fixture(name="worker")
def worker_fixture(tmp_path, settings):
    """``worker``: a started worker; jobs queued meanwhile by this process (the live server's
    thread included) go to its queue. Uploads are stored under tmp_path, where it reads them.
    A test module imports this function to use the fixture."""
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
