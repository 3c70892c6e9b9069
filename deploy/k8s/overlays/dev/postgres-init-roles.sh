#!/bin/sh
# The two database roles of a development PostgreSQL (the dev overlay's and docker-compose.yml's), created by the
# postgres image's entrypoint on an empty data directory (/docker-entrypoint-initdb.d, as POSTGRES_USER):
#   outreach_migrator  DDL: creates the service schemas and their tables (the <service>-migrate Jobs / one-shots)
#   outreach_app       DML only: the services' runtime role; each migration grants it USAGE and row rights on
#                      its schema (DB_RUNTIME_ROLE), never CREATE
# Development passwords (OUTREACH_MIGRATOR_PASSWORD, OUTREACH_APP_PASSWORD override them); production roles come
# from the platform.
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
  -v db="$POSTGRES_DB" \
  -v migrator_password="${OUTREACH_MIGRATOR_PASSWORD:-outreach-migrator}" \
  -v app_password="${OUTREACH_APP_PASSWORD:-outreach-app}" <<'SQL'
CREATE ROLE outreach_migrator LOGIN PASSWORD :'migrator_password';
CREATE ROLE outreach_app LOGIN PASSWORD :'app_password';
GRANT CONNECT, CREATE ON DATABASE :"db" TO outreach_migrator;
GRANT CONNECT ON DATABASE :"db" TO outreach_app;
-- Nobody but the migrator creates objects: not in public (PostgreSQL 15+ default, made explicit), not elsewhere.
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
SQL
