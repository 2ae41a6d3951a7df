"""Production settings pass Django's deployment checks; intranet switches work."""

import contextlib
import json
import os

import pytest

PRODUCTION = {
    "DJANGO_DEBUG": "0",
    "DJANGO_SECRET_KEY": "x" * 20 + "-a-long-random-production-secret-key-for-the-check-0123456789",
    "DJANGO_ALLOWED_HOSTS": "portal.example.gov.cn",
    "PORTAL_ENCRYPTION_KEYS": "k1:" + "A" * 43,
    "PORTAL_LOOKUP_KEY": "lookup-key-for-the-deploy-check",
    "DJANGO_SETTINGS_MODULE": "portal.settings",
}


@pytest.mark.slow
def test_check_deploy_passes_with_production_settings(run_manage):
    result = run_manage(
        "check", "--deploy", "--fail-level", "WARNING", env_changes=PRODUCTION,
        unset=("PORTAL_ALLOW_DEV_SECRET",),
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.slow
def test_check_deploy_passes_on_a_plain_http_intranet(run_manage):
    """README "Intranets on plain HTTP": the three switches set to 0 on purpose are not
    deployment warnings (Django's W008, W010, W016 failed the check); the check still says,
    as information, what was switched off."""
    plain = {
        **PRODUCTION,
        "DJANGO_SECURE_SSL_REDIRECT": "0",
        "DJANGO_SESSION_COOKIE_SECURE": "0",
        "DJANGO_CSRF_COOKIE_SECURE": "0",
    }
    result = run_manage(
        "check", "--deploy", "--fail-level", "WARNING", env_changes=plain,
        unset=("PORTAL_ALLOW_DEV_SECRET",),
    )  # fmt: skip
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "portal.I001" in output
    assert "DJANGO_SESSION_COOKIE_SECURE=0" in output and "DJANGO_CSRF_COOKIE_SECURE=0" in output


@pytest.mark.slow
def test_production_refuses_to_start_without_keys(run_manage):
    env = {k: v for k, v in PRODUCTION.items() if k != "PORTAL_ENCRYPTION_KEYS"}
    result = run_manage("check", env_changes=env, unset=("PORTAL_ALLOW_DEV_SECRET",))
    assert result.returncode != 0
    assert "PORTAL_ENCRYPTION_KEYS" in result.stderr


@pytest.mark.slow
def test_trusted_proxies_are_read_and_a_wrong_one_refused(run_manage):
    probe = "from django.conf import settings as s; print(s.PORTAL_TRUSTED_PROXIES)"
    env = {**PRODUCTION, "PORTAL_TRUSTED_PROXIES": "172.16.0.0/12, 10.0.0.5 ,"}
    result = run_manage("shell", "-c", probe, env_changes=env, unset=("PORTAL_ALLOW_DEV_SECRET",))
    assert result.stdout.strip().splitlines()[-1] == "['172.16.0.0/12', '10.0.0.5']"
    env["PORTAL_TRUSTED_PROXIES"] = "172.16.0.0/12,proxy.example"
    result = run_manage("check", env_changes=env, unset=("PORTAL_ALLOW_DEV_SECRET",))
    assert result.returncode != 0
    assert "PORTAL_TRUSTED_PROXIES: 'proxy.example' is not an address or network" in result.stderr


@pytest.mark.slow
def test_intranet_http_switches(run_manage):
    probe = (
        "from django.conf import settings as s;"
        "print(s.SECURE_SSL_REDIRECT, s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE)"
    )
    secure = run_manage(
        "shell", "-c", probe, env_changes=PRODUCTION, unset=("PORTAL_ALLOW_DEV_SECRET",)
    )
    assert secure.stdout.strip().splitlines()[-1].split() == ["True", "True", "True"], secure.stderr
    plain = run_manage(
        "shell", "-c", probe,
        env_changes={
            **PRODUCTION,
            "DJANGO_SECURE_SSL_REDIRECT": "0",
            "DJANGO_SESSION_COOKIE_SECURE": "0",
            "DJANGO_CSRF_COOKIE_SECURE": "0",
        },
        unset=("PORTAL_ALLOW_DEV_SECRET",),
    )  # fmt: skip
    assert plain.stdout.strip().splitlines()[-1].split() == ["False", "False", "False"]


def test_audit_retention_cannot_be_set_below_the_law(settings):
    from django.core.management import call_command
    from django.core.management.base import SystemCheckError

    settings.PORTAL_AUDIT_RETENTION_DAYS = 90
    with pytest.raises(SystemCheckError) as exc:
        call_command("check")
    assert "PORTAL_AUDIT_RETENTION_DAYS=90：审计记录保存期限不得少于 180 天" in str(exc.value)
    settings.PORTAL_AUDIT_RETENTION_DAYS = 365
    call_command("check")


@pytest.mark.parametrize("rate", ["600 per minute", "600/fortnight", "600/", "600"])
def test_a_malformed_api_rate_is_refused_by_check(settings, rate):
    """DRF would read it at the first API call and answer every call with an internal error."""
    from django.core.management import call_command
    from django.core.management.base import SystemCheckError

    settings.PORTAL_API_RATE = rate
    with pytest.raises(SystemCheckError) as exc:
        call_command("check")
    assert "portal.E003" in str(exc.value) and "API 调用频率的写法不对" in str(exc.value)
    settings.PORTAL_API_RATE = "30/hour"
    call_command("check")


@pytest.mark.slow
def test_production_serves_the_collected_static_files(run_manage, tmp_path):
    """Under gunicorn nothing but the portal serves /static/ (docker-compose.yml has no other
    web server): the styles, htmx and the admin's files come from STATIC_ROOT, gzipped to
    browsers that take it."""
    env = {**PRODUCTION, "DJANGO_STATIC_ROOT": str(tmp_path), "DJANGO_SECURE_SSL_REDIRECT": "0"}
    unset = ("PORTAL_ALLOW_DEV_SECRET",)
    collected = run_manage("collectstatic", "--noinput", env_changes=env, unset=unset)
    assert collected.returncode == 0, collected.stderr
    probe = (
        "from django.test import Client; c = Client(HTTP_HOST='portal.example.gov.cn');"
        "paths = ['/static/css/portal.css', '/static/admin/css/base.css', '/static/nope.css'];"
        "print([c.get(p).status_code for p in paths]);"
        "r = c.get(paths[0], HTTP_ACCEPT_ENCODING='gzip');"
        "print(r.status_code, r.headers.get('Content-Encoding'), r.headers['Content-Type'])"
    )
    result = run_manage("shell", "-c", probe, env_changes=env, unset=unset)
    lines = result.stdout.strip().splitlines()
    assert lines[-2:] == ["[200, 200, 404]", '200 gzip text/css; charset="utf-8"'], result.stderr


@pytest.mark.django_db
def test_a_host_name_not_allowed_gets_a_chinese_page(client):
    response = client.get("/accounts/login/", HTTP_HOST="10.1.2.3")
    assert response.status_code == 400
    page = response.content.decode()
    assert "请求无效" in page and "DJANGO_ALLOWED_HOSTS" in page
    assert "Bad Request" not in page


@pytest.mark.slow
def test_secrets_starting_with_a_dollar_are_read_as_written(run_manage):
    """Django's own key generator uses "$"; django-environ would read "$HOME" as a reference."""
    env = {
        **PRODUCTION,
        "DJANGO_SECRET_KEY": "$x9k2-" + "y" * 50,
        "PORTAL_LOOKUP_KEY": "$HOME",
        "PORTAL_ENCRYPTION_KEYS": "k2:" + "B" * 43 + ", k1:" + "A" * 43,
    }
    probe = (
        "import json; from django.conf import settings as s;"
        "print(json.dumps([s.SECRET_KEY, s.PORTAL_LOOKUP_KEY, s.PORTAL_ENCRYPTION_KEYS]))"
    )
    result = run_manage("shell", "-c", probe, env_changes=env, unset=("PORTAL_ALLOW_DEV_SECRET",))
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1]) == [
        "$x9k2-" + "y" * 50,
        "$HOME",
        ["k2:" + "B" * 43, "k1:" + "A" * 43],
    ]


@pytest.mark.slow
def test_gunicorn_serves_requests_longer_than_its_timeout_to_the_end(tmp_path):
    """deploy/gunicorn.conf.py (the compose file's web server): a request outlasting the worker
    timeout — a big export — is served whole, not killed with the worker."""
    import socket
    import subprocess
    import sys
    import time
    import urllib.request
    from pathlib import Path

    repo = Path(__file__).resolve().parent.parent
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    # Half the slow requests' 4 s (a gthread worker reports to its arbiter about once a second,
    # so 1 s would be too tight even for a worker that is not hung).
    env = {**os.environ, "GUNICORN_BIND": f"127.0.0.1:{port}", "GUNICORN_TIMEOUT": "2"}
    env["GUNICORN_WORKERS"], env["GUNICORN_THREADS"] = "1", "2"
    log = tmp_path / "gunicorn.log"
    with log.open("w") as out:
        server = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "deploy/gunicorn.conf.py",
             "tests.slow_wsgi:app"],
            cwd=repo, env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline and server.poll() is None, log.read_text()
                time.sleep(0.1)
        base = f"http://127.0.0.1:{port}"
        with urllib.request.urlopen(base + "/stream", timeout=30) as response:
            assert response.read() == b"0\n1\n2\n3\n"
        with urllib.request.urlopen(base + "/page", timeout=30) as response:
            assert response.status == 200 and response.read() == b"done\n"
    finally:
        server.terminate()
        server.wait(timeout=30)
    assert "WORKER TIMEOUT" not in log.read_text()


@pytest.mark.slow
def test_a_statement_timeout_bounds_each_query_when_set(run_manage):
    """PORTAL_DB_STATEMENT_TIMEOUT (the web server's, in docker-compose.yml): a statement
    running longer is cancelled; unset, there is no limit."""
    probe = (
        "from django.db import connection, utils\n"
        "with connection.cursor() as c:\n"
        "    c.execute('SHOW statement_timeout'); print(c.fetchone()[0])\n"
        "    try:\n"
        "        c.execute('SELECT pg_sleep(2)'); print('finished')\n"
        "    except utils.OperationalError as exc:\n"
        "        print('cancelled', type(exc.__cause__).__name__)\n"
    )
    bounded = run_manage("shell", "-c", probe, env_changes={"PORTAL_DB_STATEMENT_TIMEOUT": "1"})
    assert bounded.stdout.split()[-3:] == ["1s", "cancelled", "QueryCanceled"], bounded.stderr
    free = run_manage("shell", "-c", probe, unset=("PORTAL_DB_STATEMENT_TIMEOUT",))
    assert free.stdout.split()[-2:] == ["0", "finished"], free.stderr


@pytest.mark.slow
def test_make_runs_beat_where_nothing_made_var(tmp_path):
    """`make run` with DATABASE_URL and REDIS_URL set starts no embedded server, so nothing has
    made var/ in a fresh checkout: beat (Procfile.dev) makes PORTAL_VAR_DIR and keeps its
    schedule there, instead of failing and taking the web server and worker down with it."""
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path

    from django.conf import settings
    from django.db import connection

    from portal.embedded import database_url

    repo = Path(__file__).resolve().parent.parent
    procfile = (repo / "Procfile.dev").read_text(encoding="utf-8")
    beat = next(line for line in procfile.splitlines() if line.startswith("beat:"))
    var = tmp_path / "fresh" / "var"
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "DATABASE_URL": database_url(connection.settings_dict),
        "REDIS_URL": settings.REDIS_URL,
        "PORTAL_VAR_DIR": str(var),
        "PORTAL_ALLOW_DEV_SECRET": "1",
    }
    log = tmp_path / "beat.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            ["sh", "-c", beat.removeprefix("beat:").strip()],
            cwd=repo, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not list(var.glob("celerybeat-schedule*")):
            assert process.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)


@pytest.mark.slow
def test_the_compose_web_command_hands_a_stop_to_gunicorn(tmp_path):
    """`docker compose stop` (and every redeploy) sends SIGTERM to the web container's command,
    a shell running collectstatic and then gunicorn. Unless the shell execs gunicorn, gunicorn
    never sees the signal (the shell, as the container's PID 1, ignores it; outside a container
    it dies and leaves gunicorn running): gunicorn is killed after the stop timeout, cutting off
    the downloads under way, instead of finishing them and stopping."""
    import shlex
    import signal
    import socket
    import subprocess
    import sys
    import time
    from pathlib import Path

    from django.conf import settings
    from django.db import connection

    from portal.embedded import database_url

    yaml = pytest.importorskip("yaml")
    repo = Path(__file__).resolve().parent.parent
    compose = yaml.safe_load((repo / "docker-compose.yml").read_text(encoding="utf-8"))
    command = shlex.split(compose["services"]["web"]["command"])
    # A Unix socket: no TCP port taken on the machine running the tests.
    sock = tmp_path / "web.sock"
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "DATABASE_URL": database_url(connection.settings_dict),
        "REDIS_URL": settings.REDIS_URL,
        "PORTAL_ALLOW_DEV_SECRET": "1",
        "DJANGO_STATIC_ROOT": str(tmp_path / "static"),
        "GUNICORN_BIND": f"unix:{sock}",
        "GUNICORN_WORKERS": "1",
        "GUNICORN_THREADS": "1",
    }

    def answers() -> bool:
        with socket.socket(socket.AF_UNIX) as probe:
            try:
                probe.connect(str(sock))
            except OSError:
                return False
            return True

    log = tmp_path / "web.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            command, cwd=repo, env=env, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not answers():
            assert process.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
        time.sleep(0.5)
        assert not answers(), "gunicorn outlived the container's command:\n" + log.read_text()
        assert "Handling signal: term" in log.read_text()
    finally:
        # Whatever the command left behind (an orphaned gunicorn) is in its session.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
