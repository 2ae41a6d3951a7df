# The two commands: `make run` and `make test`. Everything else is a helper of theirs.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
PORT ?= 8000
DEMO_SEED ?= 1
export PORT

.PHONY: run test install install-dev lint format stop clean bench bench-audit backup restore-test

$(VENV)/bin/activate:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

$(VENV)/.installed: requirements.txt | $(VENV)/bin/activate
	$(PIP) install --quiet -r requirements.txt
	touch $@

$(VENV)/.installed-dev: requirements.txt requirements-dev.txt | $(VENV)/bin/activate
	$(PIP) install --quiet -r requirements-dev.txt
	touch $(VENV)/.installed $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

## run: the portal with the demo county on http://127.0.0.1:$(PORT) (web, Celery worker, beat)
run: export DJANGO_DEBUG ?= 1
run: install
	$(PY) manage.py migrate --noinput
	$(PY) manage.py seed_demo --seed $(DEMO_SEED)
	$(PY) manage.py create_demo_users
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(VENV)/bin/honcho --procfile Procfile.dev --env /dev/null start

## test: lint, then the whole suite (external servers when DATABASE_URL/REDIS_URL are set)
test: install-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(PY) -m pytest

lint: install-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: install-dev
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

## backup: pg_dump of the portal database into var/backups/ (schedule: README "Backups")
backup: install
	$(PY) manage.py backup_db

## restore-test: restore a fresh dump (or DUMP=file) into a scratch database, compare row counts
restore-test: install
	$(PY) manage.py restore_test $(if $(DUMP),--dump $(DUMP),)

## bench: the roster import benchmark (BENCH_ARGS="--rows 100000 --xlsx --costs"; README "Speed")
bench: install
	$(PY) bench/import_bench.py $(BENCH_ARGS)

## bench-audit: the audit-trail export benchmark (BENCH_ARGS="--rows 100000 --updates 1")
bench-audit: install
	$(PY) bench/audit_export_bench.py $(BENCH_ARGS)

## stop: shut down the embedded PostgreSQL and Redis under var/
stop: install
	$(PY) manage.py embedded stop

clean: stop
	rm -rf var/
