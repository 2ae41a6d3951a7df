"""Celery jobs of roster imports: thin wrappers around rosters.services."""

from celery import shared_task

from .services import roster_import_run, roster_imports_resume, roster_uploads_purge


# Acknowledged when done, and put back in the queue if the worker process running it dies (out
# of memory, killed): ``roster_import_run`` runs it again, a bounded number of times.
@shared_task(acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def run_roster_import(import_id: int) -> str:
    """Run a queued import (members or organizations). Safe to run twice: see
    ``roster_import_run``; progress is kept on the import's row for the progress bar."""
    return roster_import_run(import_id=import_id).status


@shared_task(ignore_result=True)
def purge_roster_uploads() -> int:
    """Delete stored rosters no longer needed (schedule it daily with Celery beat)."""
    return roster_uploads_purge()


@shared_task(ignore_result=True)
def resume_roster_imports() -> int:
    """Queue again the imports whose worker died under them (schedule it every minute)."""
    return roster_imports_resume()
