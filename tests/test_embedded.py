"""The laptop path: with no DATABASE_URL / REDIS_URL the portal starts its own real servers."""

import json
import os
import shutil
import tempfile
from pathlib import Path

import pytest

PROBE = (
    "import json; from django.db import connection; from django.conf import settings;"
    "import redis;"
    "c = connection.cursor(); c.execute('SELECT version()');"
    "r = redis.Redis.from_url(settings.REDIS_URL); r.set('embedded-probe', 'ok');"
    "print(json.dumps({'pg': c.fetchone()[0], 'redis': r.get('embedded-probe').decode(),"
    " 'host': settings.DATABASES['default']['HOST'], 'broker': settings.CELERY_BROKER_URL}))"
)


@pytest.mark.slow
def test_embedded_postgres_and_redis_start_and_stop(run_manage):
    # pgserver drops root privileges to its own user, so the data directory must be traversable.
    var = tempfile.mkdtemp(prefix="portal-var-", dir="/tmp")
    os.chmod(var, 0o755)
    env = {"PORTAL_VAR_DIR": var}
    try:
        result = run_manage(
            "shell", "-c", PROBE, env_changes=env, unset=("DATABASE_URL", "REDIS_URL")
        )
        assert result.returncode == 0, result.stderr
        info = json.loads(result.stdout.strip().splitlines()[-1])
        assert info["pg"].startswith("PostgreSQL")
        assert info["redis"] == "ok"
        assert info["host"].startswith(var)
        assert info["broker"].startswith("redis+socket://")
        # A second process reuses the running servers (web, worker and beat share them).
        again = run_manage(
            "shell", "-c", PROBE, env_changes=env, unset=("DATABASE_URL", "REDIS_URL")
        )
        assert again.returncode == 0, again.stderr
        migrate = run_manage(
            "migrate", "--noinput", env_changes=env, unset=("DATABASE_URL", "REDIS_URL")
        )
        assert migrate.returncode == 0, migrate.stderr
    finally:
        unset = ("DATABASE_URL", "REDIS_URL")
        stop = run_manage("embedded", "stop", env_changes=env, unset=unset)
        # Asking about stopped servers, or stopping them again, starts nothing.
        status = run_manage("embedded", "status", env_changes=env, unset=unset)
        stop_again = run_manage("embedded", "stop", env_changes=env, unset=unset)
        started = (Path(var) / "pg" / "postmaster.pid").exists()
        if started:
            run_manage("embedded", "stop", env_changes=env, unset=unset)
        shutil.rmtree(var, ignore_errors=True)
    assert "postgresql" in stop.stdout and "redis" in stop.stdout
    assert status.returncode != 0 and "内置 PostgreSQL 未运行" in status.stderr, status.stdout
    assert stop_again.returncode == 0 and "已停止：无" in stop_again.stdout, stop_again.stderr
    assert not started
