#!/bin/sh
# Run once by the postgres image when it creates the database (docker-compose.yml mounts this
# into /docker-entrypoint-initdb.d/). The tables belong to POSTGRES_USER, who migrates them;
# the web server, the workers and the operators' commands connect as portal_app, which owns
# nothing: `migrate` grants it what it needs; it may only read the change trail and add
# access events (portal/db_roles.py). An existing database: run the CREATE ROLE below by hand
# as a superuser, then migrate.
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
     -v app_password="$PORTAL_APP_DB_PASSWORD" <<'SQL'
CREATE ROLE portal_app LOGIN PASSWORD :'app_password';
SQL
