#!/usr/bin/env bash
# bench/https.sh -- reports acked per second over HTTPS through Caddy beside
# CurveZMQ straight to ingest (scripts/bench https; issue 18). A bench: it
# prints numbers and asserts nothing about them.
#
# Called by scripts/bench with a private durable PostgreSQL and Redis
# (DRIFT_TEST_PG_URL, DRIFT_TEST_REDIS_URL) and VAR_DIR. It makes a database,
# the keys and 8 agents with the real commands (`drift keys issue` writes each
# agent's CURVE certificate and its client certificate from the local CA),
# starts `drift ingest` with its CURVE endpoint and its HTTPS face (no broker:
# reports are journaled and acked, nothing downstream runs) and a real Caddy
# from Debian running the shipped compose/Caddyfile.agents (with its client
# timeouts, Caddyfile.agents-timeouts, as deployed) on loopback, then
# bench_https (bench/https.c) measures both links with drift-agent's own
# transports.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN=$ROOT/build/release
RUNS=${1:-5}
: "${DRIFT_TEST_PG_URL:?} ${DRIFT_TEST_REDIS_URL:?} ${VAR_DIR:?}"
command -v caddy >/dev/null || { echo "bench/https.sh: caddy is not installed (scripts/setup)" >&2; exit 1; }
port() { python3 "$ROOT/scripts/lib/free_port.py"; }

W=$VAR_DIR/https
mkdir -p "$W"
chmod 700 "$W"
DB=${DRIFT_TEST_PG_URL%/*}/drift_bench_https
psql "$DRIFT_TEST_PG_URL" -qc "DROP DATABASE IF EXISTS drift_bench_https" \
    -c "CREATE DATABASE drift_bench_https" >/dev/null
"$BIN/drift" migrate --database "$DB" >/dev/null 2>&1
"$BIN/drift" keys init --keys-dir "$W/keys" >/dev/null
"$BIN/drift" tenant create bench --database "$DB" >/dev/null
for i in 0 1 2 3 4 5 6 7; do
    "$BIN/drift" keys issue --tenant bench --name "bench-$$-$i" --out "$W/agent-$i.cert" \
        --keys-dir "$W/keys" --database "$DB" --redis "$DRIFT_TEST_REDIS_URL" >/dev/null
done
SERVER_KEY=$(sed -n 's/^ *public-key = "\(.*\)"/\1/p' "$W/keys/server.key")

CURVE_PORT=$(port)
FACE_PORT=$(port)
AGENT_PORT=$(port)
(umask 077 && head -c 36 /dev/urandom | base64 -w0 >"$W/proxy.secret")
"$BIN/drift" ingest --endpoint "tcp://127.0.0.1:$CURVE_PORT" --stats "tcp://127.0.0.1:$(port)" \
    --keys-dir "$W/keys" --database "$DB" --redis "$DRIFT_TEST_REDIS_URL" \
    --broker tcp://127.0.0.1:9 --rate 100000000 --burst 100000000 --log-level error \
    --https-bind "127.0.0.1:$FACE_PORT" --https-proxy-secret "$W/proxy.secret" \
    >"$W/ingest.log" 2>&1 &
INGEST_PID=$!
cat >"$W/Caddyfile" <<CADDY
{
	admin off
	default_bind 127.0.0.1
	http_port $(port)
	https_port $(port)
	skip_install_trust
	local_certs
	storage file_system $W/caddy
	log {
		level ERROR
	}
	import $ROOT/compose/Caddyfile.agents-timeouts
}
import $ROOT/compose/Caddyfile.agents
CADDY
HOME=$W XDG_DATA_HOME=$W/caddy-data XDG_CONFIG_HOME=$W/caddy-config \
DRIFT_DOMAIN=localhost DRIFT_AGENT_HTTPS_PORT=$AGENT_PORT DRIFT_AGENT_CA=$W/keys/ca.crt \
DRIFT_AGENT_BIND_HOST=127.0.0.1 \
DRIFT_INGEST_HTTPS=127.0.0.1:$FACE_PORT DRIFT_PROXY_SECRET=$(cat "$W/proxy.secret") \
    caddy run --config "$W/Caddyfile" --adapter caddyfile >"$W/caddy.log" 2>&1 &
CADDY_PID=$!
trap 'kill "$CADDY_PID" "$INGEST_PID" 2>/dev/null; wait "$CADDY_PID" "$INGEST_PID" 2>/dev/null' EXIT
SERVER_CA=$W/caddy/pki/authorities/local/root.crt
for _ in $(seq 100); do
    [[ -s $SERVER_CA ]] && python3 -c "import socket; socket.create_connection(('127.0.0.1', $AGENT_PORT), 1)" \
        2>/dev/null && break
    sleep 0.2
done
echo "load: $(cut -d' ' -f1-3 /proc/loadavg) (1/5/15 min), $(nproc) cores, $(caddy version | cut -d' ' -f1) Caddy"
"$BIN/bench_https" "$DB" "$W" "tcp://127.0.0.1:$CURVE_PORT" "$SERVER_KEY" \
    "https://localhost:$AGENT_PORT" "$SERVER_CA" "$RUNS"
