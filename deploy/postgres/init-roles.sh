#!/bin/sh
# Run once by the postgres image when it makes its data directory (compose.yaml mounts
# it in /docker-entrypoint-initdb.d): the three least-privilege roles the backend
# connects as, each with the password in its secret file. `lead infra up` then creates
# the tables and grants. docs/security.md, "Against a managed PostgreSQL", is the same.
set -eu
for role in lead_app lead_read lead_auditor; do
    password=$(cat "/run/secrets/$role")
    psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
        --set role="$role" --set password="$password" <<'SQL'
CREATE ROLE :"role" LOGIN PASSWORD :'password';
GRANT CONNECT ON DATABASE lead TO :"role";
SQL
done
