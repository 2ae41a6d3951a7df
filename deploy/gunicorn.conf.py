"""Gunicorn settings of the web service: ``gunicorn -c deploy/gunicorn.conf.py portal.wsgi``.

Threaded workers (gthread). A sync worker busy with one request for longer than ``timeout`` is
killed by gunicorn's arbiter: a 500 for a slow page, and for a streamed download — a province's
ledger, the audit trail — a file cut off mid-way under a 200 status, which the user may never
notice. A gthread worker keeps answering its arbiter while its threads serve requests, so the
timeout only catches a worker process that hangs, not one slow request: docker-compose.yml
bounds each SQL statement of the web server instead (PORTAL_DB_STATEMENT_TIMEOUT, 120 s), so a
request stuck behind a lock fails rather than holding its thread.

Each thread holds its own database connection: workers × threads must stay below PostgreSQL's
max_connections (100 by default), beside the Celery worker's.

Every value can be changed in the environment (portal.env) without rebuilding the image.
"""

import os

bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")
worker_class = "gthread"
workers = int(os.environ.get("GUNICORN_WORKERS", "3"))
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "60"))
accesslog = "-"
