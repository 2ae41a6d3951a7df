"""The Celery job of an uploaded roster (rosters/tasks.py), run by a real worker process."""

import time

import pytest
from django.contrib.auth import get_user_model
from django.core.files import File

from members.models import Member
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
