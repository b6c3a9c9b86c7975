#!/bin/bash
# The PostgreSQL stand-in's entrypoint (compose/test/postgres/Dockerfile):
# the part of the official image's docker-entrypoint.sh that
# docker-compose.yml uses. On the first `postgres` start (an empty PGDATA)
# it runs initdb with POSTGRES_INITDB_ARGS, makes POSTGRES_USER the
# superuser with POSTGRES_PASSWORD (or POSTGRES_PASSWORD_FILE's content), creates POSTGRES_DB, and lets every
# host in over TCP with a password (scram-sha-256), then runs the server as
# the postgres user. Any other command (psql in dbrole) runs as given.
set -euo pipefail

if [[ ${1:-} != postgres ]]; then
    exec "$@"
fi
# POSTGRES_PASSWORD_FILE, as the official image: a Swarm secret (docker-stack.yml).
if [[ -n ${POSTGRES_PASSWORD_FILE:-} ]]; then
    POSTGRES_PASSWORD=$(cat "$POSTGRES_PASSWORD_FILE")
fi
: "${POSTGRES_PASSWORD:?the PostgreSQL stand-in needs POSTGRES_PASSWORD or POSTGRES_PASSWORD_FILE}"
user=${POSTGRES_USER:-postgres}
db=${POSTGRES_DB:-$user}
as_postgres=(setpriv --reuid=postgres --regid=postgres --init-groups)

if [[ $(id -u) == 0 ]]; then
    # A fresh named volume is root's: the server needs it as its own.
    chown postgres:postgres "$PGDATA"
    chmod 0700 "$PGDATA"
fi
if [[ ! -s $PGDATA/PG_VERSION ]]; then
    pwfile=$(mktemp)
    printf '%s\n' "$POSTGRES_PASSWORD" >"$pwfile"
    chown postgres "$pwfile"
    # shellcheck disable=SC2086  # POSTGRES_INITDB_ARGS is a list of words
    "${as_postgres[@]}" initdb -D "$PGDATA" -U "$user" --pwfile="$pwfile" \
        ${POSTGRES_INITDB_ARGS:-} >/dev/null
    rm -f "$pwfile"
    printf '%s\n' "listen_addresses = '*'" >>"$PGDATA/postgresql.conf"
    printf '%s\n' "host all all all scram-sha-256" >>"$PGDATA/pg_hba.conf"
    if [[ $db != postgres ]]; then
        # A server on the socket only, for creating the database.
        "${as_postgres[@]}" pg_ctl -D "$PGDATA" -w -o "-c listen_addresses=''" start >/dev/null
        "${as_postgres[@]}" psql -X -q -v ON_ERROR_STOP=1 -U "$user" -d postgres \
            -c "CREATE DATABASE \"$db\"" >/dev/null
        "${as_postgres[@]}" pg_ctl -D "$PGDATA" -w -m fast stop >/dev/null
    fi
    echo "drift-test-postgres: initialised $PGDATA (superuser $user, database $db)"
fi
exec "${as_postgres[@]}" "$@"
