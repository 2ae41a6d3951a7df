"""For tests of concurrent writers: whether one of them waits for a lock."""

from django.db import connections


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
