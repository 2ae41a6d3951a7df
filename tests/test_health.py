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


def test_healthz_names_redis_when_it_is_down(client, settings):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens on port 1
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["failed"] == ["redis"]


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
    assert json.loads(body)["failed"] == ["database"]
