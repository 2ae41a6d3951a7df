"""For tests of concurrent writers: whether one of them waits for a lock, and running one
beside another's open transaction."""

import threading
import time

from django.db import connections, transaction


def a_session_waits_on_a_lock() -> bool:
    """Whether a session of the test database waits for a lock, asked from a connection of its
    own: a transaction keeps answering from its first view of pg_stat_activity."""
    observer = connections.create_connection("default")
    try:
        with observer.cursor() as cursor:
            cursor.execute(
                "SELECT EXISTS (SELECT 1 FROM pg_stat_activity"
                " WHERE datname = current_database() AND wait_event_type = 'Lock')"
            )
            return cursor.fetchone()[0]
    finally:
        observer.close()


def run_beside(write, other, *, must_wait: bool = True):
    """Run ``other`` in a thread of its own while this thread's transaction, opened by
    ``write``, is still open: committed once ``other`` waits for a lock (``must_wait``: it must;
    otherwise it may also have finished without waiting). Returns what ``other`` returned."""
    done = {}

    def target():
        try:
            done["result"] = other()
        finally:
            connections.close_all()  # this thread's own

    thread = threading.Thread(target=target)
    with transaction.atomic():
        write()
        thread.start()
        deadline = time.monotonic() + 30
        while (must_wait or thread.is_alive()) and not a_session_waits_on_a_lock():
            assert time.monotonic() < deadline and (thread.is_alive() or not must_wait), done
            time.sleep(0.02)
    thread.join(60)
    return done["result"]
