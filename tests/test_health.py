import json

import pytest

pytestmark = pytest.mark.django_db

PROBE = (
    "from django.test import Client;"
    "r = Client().get('/healthz', HTTP_HOST='localhost');"
    "print(r.status_code, r.content.decode())"
)


def test_healthz_ok(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_healthz_names_redis_when_it_is_down(client, settings, caplog):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens on port 1
    response = client.get("/healthz")
    assert response.status_code == 503
    # Who is down, not where it lives: the probe answers anyone, the log tells the operator.
    assert response.json() == {"status": "fail", "failed": ["redis"]}
    assert "127.0.0.1:1" not in response.content.decode()
    assert any("redis is down" in r.getMessage() and ":1" in r.getMessage() for r in caplog.records)


def test_healthz_names_database_when_it_is_down(run_manage):
    result = run_manage(
        "shell",
        "-c",
        PROBE,
        env_changes={"DATABASE_URL": "postgres://postgres@127.0.0.1:1/portal"},
    )
    assert result.returncode == 0, result.stderr
    status, body = result.stdout.strip().splitlines()[-1].split(" ", 1)
    assert status == "503"
    assert json.loads(body) == {"status": "fail", "failed": ["database"]}
