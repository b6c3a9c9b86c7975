#!/usr/bin/env bash
# tests/test_https_link.sh -- ctest `https_link`: the agent link over HTTPS
# with client certificates from the local CA, through a real Caddy (issue 18).
#
# scripts/run starts the whole stack on loopback with ingest's HTTPS face
# (DRIFT_HTTPS_BIND, DRIFT_HTTPS_PROXY_SECRET); Caddy from Debian runs the
# shipped compose/Caddyfile.agents (imported by a Caddyfile of global
# options that keeps it on loopback), with the demo agent's client
# certificate issued by `drift keys issue`. tests/https/client.py plays
# the agent. Checked:
#   1. reports sent over HTTPS are acked, archived once each; a resend of an
#      acked report (its answer "lost") is acked as a duplicate and
#      journaled once; reports spaced by the face's idle timeout are all
#      acked (Caddy drops an idle connection to the face first). drift-agent itself: send, run with a spool of
#      several, a lost answer resent and acked as a duplicate, an unreadable
#      report refused for good, no client certificate, a key others can
#      read, a certificate from another CA, and through an HTTP CONNECT
#      proxy (tests/https/proxy.py, counting its tunnels).
#   1c. commands over HTTPS (proto/AGENT-LINK.md §7): GET /v1/commands with
#      none waiting is 204; drift-agent run over HTTPS gets a check asked
#      through the API by polling, runs it once, its report is archived and
#      named by the command, which ends succeeded with its 3 updates stored
#      once; a remediation plan is made, approved and applied once over
#      HTTPS; forged updates (another agent's command, a seq beyond the
#      next, a Report on the update route) are refused 400 and counted, and
#      a poll straight to the face without the proxy secret is 403.
#   2. refused: no client certificate, a certificate from another CA, an
#      expired one (and one the registry says is expired), a request straight
#      to the face (bypassing Caddy), a forged serial header sent through
#      Caddy, an oversize body (by Content-Length and streamed), a revoked
#      agent (within a few seconds; drift-agent exits 1); a slow-loris client is cut off by the
#      face's timeout while the face keeps serving others.
#   3. kill -9 of ingest (the face's process) under a stream of reports from
#      8 threads: every acked report archived exactly once, nothing else.
# Environment (from ctest): DRIFT_BIN, DRIFT_AGENT_BIN, DRIFT_SOURCE_DIR.
set -euo pipefail

: "${DRIFT_BIN:?DRIFT_BIN is not set: run through ctest (scripts/test -R '^https_link$')}"
: "${DRIFT_AGENT_BIN:?DRIFT_AGENT_BIN is not set: run through ctest}"
SRC=${DRIFT_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
CADDY_PID=""
SMALL_CADDY_PID=""
PROXY_PID=""
TEST_NAME=https_link
# PY, RUN_DIR, STATE; say, fail, free_port, wait_until, start_run, supervising,
# stack_database, sql; the EXIT trap
# shellcheck source=tests/lib/runstack.sh
source "$SRC/tests/lib/runstack.sh"
fail_more() {
    [[ -f $RUN_DIR/caddy.log ]] && { echo "--- the end of Caddy's log:"; tail -n 20 "$RUN_DIR/caddy.log"; }
    return 0
}
stop_more() {
    [[ -z $PROXY_PID ]] || kill "$PROXY_PID" 2>/dev/null || true
    [[ -n $SMALL_CADDY_PID ]] && kill "$SMALL_CADDY_PID" 2>/dev/null && wait "$SMALL_CADDY_PID" 2>/dev/null
    [[ -n $CADDY_PID ]] && kill "$CADDY_PID" 2>/dev/null && wait "$CADDY_PID" 2>/dev/null
    return 0
}

command -v caddy >/dev/null || fail "caddy is not installed (scripts/setup installs Debian's)"

# --------------------------------------------------------------- the stack, Caddy

FACE_PORT=$(free_port)
AGENT_PORT=$(free_port)
SECRET=$RUN_DIR/proxy.secret
(umask 077 && head -c 36 /dev/urandom | base64 -w0 >"$SECRET")
# ingest's HTTPS face (cmd/ingest.c reads these as --https-*), a short idle
# timeout for the slow-loris case, and a 1 MiB report limit so an oversize
# body is small enough to send quickly.
# The face's address given as a subnet (as the Swarm stack does): this
# host's address in 127.0.0.0/8 is 127.0.0.1.
export DRIFT_HTTPS_BIND=127.0.0.0/8:$FACE_PORT DRIFT_HTTPS_PROXY_SECRET=$SECRET
export DRIFT_HTTPS_TIMEOUT_S=3 DRIFT_MAX_REPORT_BYTES=1048576

start_run
wait_until 240 "the stack up" supervising
stack_database
# drift keys tells the registry's Redis cache about a revocation.
REDIS_URL=$(grep -o 'DRIFT_REDIS=[^ ]*' "$RUN_DIR/run.out" | head -n 1 | cut -d= -f2-)
[[ -n $REDIS_URL ]] || fail "no Redis URL in scripts/run's output"
export DRIFT_REDIS=$REDIS_URL
KEYS=$STATE/keys
DEMO=$STATE/demo
[[ -s $KEYS/ca.crt && -s $DEMO/demo-agent.crt && -s $DEMO/demo-agent.key ]] \
    || fail "drift keys made no CA or no client certificate for the demo agent: $(ls "$KEYS" "$DEMO")"
[[ $(stat -c %a "$KEYS/ca.key") == 600 && $(stat -c %a "$DEMO/demo-agent.key") == 600 ]] \
    || fail "a private key is not mode 0600"
grep -q "^endpoint = https://" "$DEMO/issue.out" || fail "drift keys issue printed no HTTPS configuration"
SERIAL=$(openssl x509 -in "$DEMO/demo-agent.crt" -noout -serial | sed 's/serial=//')
[[ $(sql "SELECT count(*) FROM agent_certs c JOIN agents a ON a.id = c.agent_id
          WHERE a.name = 'demo-agent' AND a.revoked_at IS NULL") == 1 ]] \
    || fail "the demo agent's certificate is not in agent_certs"
say "stack up; the demo agent has client certificate serial 0x$SERIAL"

# Caddy: the shipped agent site and its client timeouts, on loopback, its
# own CA for localhost; a 3 s header timeout for the slow-loris case, and
# idle connections to the face dropped after 1 s (the face's is 3 s here).
caddy_start() {  # caddy_start NAME PORT MAX_BODY: sets STARTED_PID; state in $RUN_DIR/NAME*
    local name=$1 port=$2
    cat >"$RUN_DIR/$name.Caddyfile" <<EOF
{
	admin off
	default_bind 127.0.0.1
	http_port $(free_port)
	https_port $(free_port)
	skip_install_trust
	local_certs
	storage file_system $RUN_DIR/$name
	import $SRC/compose/Caddyfile.agents-timeouts
}
import $SRC/compose/Caddyfile.agents
EOF
    HOME=$RUN_DIR XDG_DATA_HOME=$RUN_DIR/$name-data XDG_CONFIG_HOME=$RUN_DIR/$name-config \
    DRIFT_DOMAIN=localhost DRIFT_AGENT_HTTPS_PORT=$port DRIFT_AGENT_CA=$KEYS/ca.crt \
    DRIFT_AGENT_BIND_HOST=127.0.0.1 DRIFT_AGENT_READ_HEADER_TIMEOUT=3s DRIFT_AGENT_MAX_BODY=$3 \
    DRIFT_AGENT_UPSTREAM_IDLE=1s \
    DRIFT_INGEST_HTTPS=127.0.0.1:$FACE_PORT DRIFT_PROXY_SECRET=$(cat "$SECRET") \
        caddy run --config "$RUN_DIR/$name.Caddyfile" --adapter caddyfile >"$RUN_DIR/$name.log" 2>&1 &
    STARTED_PID=$!
    caddy_up() {
        kill -0 "$STARTED_PID" 2>/dev/null || fail "caddy ($name) exited: $(tail -n 5 "$RUN_DIR/$name.log")"
        [[ -s $RUN_DIR/$name/pki/authorities/local/root.crt ]] \
            && "$PY" -c "import socket; socket.create_connection(('127.0.0.1', $port), 1)" 2>/dev/null
    }
    wait_until 60 "Caddy ($name) listening" caddy_up
}
caddy_start caddy "$AGENT_PORT" 17MB
CADDY_PID=$STARTED_PID
SERVER_CA=$RUN_DIR/caddy/pki/authorities/local/root.crt

client() {  # client CERT-BASE ARGS...: tests/https/client.py through Caddy
    local base=$1
    shift
    "$PY" "$SRC/tests/https/client.py" --port "$AGENT_PORT" --ca "$SERVER_CA" \
        ${base:+--cert "$base.crt" --key "$base.key"} "$@"
}

# --------------------------------------------------------------- 1. reports over HTTPS

client "$DEMO/demo-agent" send https-a 20 --threads 4 >"$RUN_DIR/a.txt" \
    || fail "reports over HTTPS not acked: $(tail -n 3 "$RUN_DIR/a.txt")"
[[ $(grep -c '^sent https-a-[0-9]* 0$' "$RUN_DIR/a.txt") == 20 ]] \
    || fail "20 new reports not acked as new: $(cat "$RUN_DIR/a.txt")"
# The answer to https-a-3 "lost": the agent sends it again.
client "$DEMO/demo-agent" post https-a-3 >"$RUN_DIR/dup.txt"
grep -q '^status 200 ack true' "$RUN_DIR/dup.txt" || fail "a resend not acked as a duplicate: $(cat "$RUN_DIR/dup.txt")"
archived() { [[ $(sql "SELECT count(*) FROM reports WHERE report_id LIKE '$1-%'") == "$2" ]]; }
wait_until 120 "the 20 reports archived" archived https-a 20
sleep 1
archived https-a 20 || fail "a report archived twice"
journaled() {  # journal entries (waiting and archived) of report ids LIKE $1
    sql "SELECT (SELECT count(*) FROM pgmq.q_drift_journal WHERE message->>'report_id' LIKE '$1')
              + (SELECT count(*) FROM pgmq.a_drift_journal WHERE message->>'report_id' LIKE '$1')"
}
[[ $(journaled https-a-3) == 1 ]] || fail "https-a-3 journaled $(journaled https-a-3) times"
say "20 reports over HTTPS acked and archived once each; a resend acked as a duplicate"

# Reports spaced by about the face's idle timeout (3 s): Caddy drops its
# idle connection to the face first (1 s), so none meets a connection the
# face is closing (that race gave 502 to 5 of 31 gaps before Caddy's
# keepalive was set).
client "$DEMO/demo-agent" spaced https-gap 2.96 3.10 0.01 >"$RUN_DIR/gaps.txt"
grep -q '^gaps 15 failed 0$' "$RUN_DIR/gaps.txt" \
    || fail "reports spaced by the face's idle timeout: $(cat "$RUN_DIR/gaps.txt")"
wait_until 60 "the 16 spaced reports archived" archived https-gap 16
say "16 reports spaced by the face's idle timeout (2.96 to 3.10 s) all acked: Caddy drops idle connections first"

# --------------------------------------------------------------- 1b. drift-agent over HTTPS

PLAN=$SRC/examples/reports/orders-queue.plan.json
NOPROXY=(env -u HTTPS_PROXY -u https_proxy -u ALL_PROXY -u all_proxy)
agent_args() {  # agent_args CERT-BASE SPOOL: ARGS for drift-agent over HTTPS through Caddy
    ARGS=(--endpoint "https://localhost:$AGENT_PORT" --ca "$SERVER_CA" --certificate "$1.crt"
          --key "$1.key" --spool "$2" --window 4)
}
agent() {  # agent CERT-BASE SPOOL COMMAND ARGS...: drift-agent over HTTPS, no proxy
    agent_args "$1" "$2"
    local command=$3
    shift 3
    "${NOPROXY[@]}" "$DRIFT_AGENT_BIN" "$command" "${ARGS[@]}" "$@"
}
report_archived() { [[ $(sql "SELECT count(*) FROM reports WHERE report_id = '$1'") == 1 ]]; }

# send: one report, acked, archived once.
agent "$DEMO/demo-agent" "$RUN_DIR/spool-send" send --stack https-agent "$PLAN" \
    >"$RUN_DIR/agent-send.out" 2>"$RUN_DIR/agent-send.err" \
    || fail "drift-agent send over HTTPS failed: $(cat "$RUN_DIR/agent-send.out" "$RUN_DIR/agent-send.err")"
SENT_ID=$(sed -n 's/^sent //p' "$RUN_DIR/agent-send.out")
[[ -n $SENT_ID ]] || fail "drift-agent send printed no id: $(cat "$RUN_DIR/agent-send.out")"
wait_until 60 "the agent's report archived" report_archived "$SENT_ID"
say "drift-agent send over HTTPS: $SENT_ID acked and archived"

# run: a spool of 6 reports made while the server was unreachable (send
# gives up, exit 3, the report stays spooled), one of them kept aside to
# play a lost answer later; then run sends them all.
SPOOL=$RUN_DIR/spool-run
DEAD_PORT=$(free_port)
for i in 1 2 3 4 5 6; do
    rc=0
    "${NOPROXY[@]}" "$DRIFT_AGENT_BIN" send --endpoint "https://localhost:$DEAD_PORT" \
        --ca "$SERVER_CA" --certificate "$DEMO/demo-agent.crt" --key "$DEMO/demo-agent.key" \
        --spool "$SPOOL" --timeout-s 1 --stack "https-run-$i" "$PLAN" >>"$RUN_DIR/spooled.out" 2>/dev/null || rc=$?
    [[ $rc == 3 ]] || fail "send to an unreachable server: exit $rc, not 3"
done
mapfile -t RUN_IDS < <(sed -n 's/^failed \([^ ]*\) .*/\1/p' "$RUN_DIR/spooled.out")
[[ ${#RUN_IDS[@]} == 6 && $(find "$SPOOL" -maxdepth 1 -name '*.report' | wc -l) == 6 ]] \
    || fail "6 reports not spooled: $(cat "$RUN_DIR/spooled.out")"
cp "$SPOOL/${RUN_IDS[2]}.report" "$RUN_DIR/lost.report"
grep -q '"state": "disconnected"' "$SPOOL/status.json" || fail "status not disconnected: $(cat "$SPOOL/status.json")"
run_agent() {  # run_agent LOG: drift-agent run on $SPOOL (no stacks: it sends its spool) until the spool is empty
    agent_args "$DEMO/demo-agent" "$SPOOL"
    "${NOPROXY[@]}" "$DRIFT_AGENT_BIN" run "${ARGS[@]}" --stacks "" >"$1" 2>&1 &
    local pid=$!
    spool_empty() { [[ $(find "$SPOOL" -maxdepth 1 -name '*.report' | wc -l) == 0 ]]; }
    wait_until 60 "drift-agent run emptying its spool" spool_empty
    kill -TERM "$pid"
    wait "$pid" || fail "drift-agent run exited $?: $(tail -n 5 "$1")"
}
run_agent "$RUN_DIR/agent-run.log"
for id in "${RUN_IDS[@]}"; do
    wait_until 60 "$id archived" report_archived "$id"
done
STATUS_OUT=$("$DRIFT_AGENT_BIN" status --spool "$SPOOL")
grep -q '^state        connected' <<<"$STATUS_OUT" || fail "drift-agent status after run: $STATUS_OUT"
grep -q '^spool depth  0' <<<"$STATUS_OUT" || fail "drift-agent status after run: $STATUS_OUT"
# Who the agent is, from the WELCOME of GET /v1/hello (as over CURVE).
grep -q '^tenant       demo$' <<<"$STATUS_OUT" && grep -q '^agent        demo-agent$' <<<"$STATUS_OUT" \
    || fail "drift-agent status over HTTPS names no tenant or agent: $STATUS_OUT"
say "drift-agent run over HTTPS: a spool of 6 acked, archived once each; status names demo/demo-agent"

# A lost answer: the report acked a moment ago is back in the spool (as if
# the ack never arrived); run resends it, ingest acks it as a duplicate,
# and it is journaled once.
cp "$RUN_DIR/lost.report" "$SPOOL/${RUN_IDS[2]}.report"
run_agent "$RUN_DIR/agent-rerun.log"
grep -q "report acked as a duplicate.*${RUN_IDS[2]}" "$RUN_DIR/agent-rerun.log" \
    || fail "the resend not acked as a duplicate: $(cat "$RUN_DIR/agent-rerun.log")"
sleep 1
for id in "${RUN_IDS[@]}"; do
    [[ $(journaled "$id") == 1 ]] || fail "$id journaled $(journaled "$id") times"
done
report_archived "${RUN_IDS[2]}" || fail "the resent report archived twice"
say "drift-agent: a resend after a lost answer acked as a duplicate, journaled once"

# A report ingest cannot read: 400 BAD_MESSAGE, moved to refused/ for good
# (send exits 1 and never resends it).
BAD_ID=20260101T000000Z-00000000000000bd
printf 'not a report' >"$RUN_DIR/spool-bad.report"
mkdir -p "$RUN_DIR/spool-bad"
chmod 700 "$RUN_DIR/spool-bad"
cp "$RUN_DIR/spool-bad.report" "$RUN_DIR/spool-bad/$BAD_ID.report"
agent_args "$DEMO/demo-agent" "$RUN_DIR/spool-bad"
"${NOPROXY[@]}" "$DRIFT_AGENT_BIN" run "${ARGS[@]}" --stacks "" >"$RUN_DIR/agent-bad.log" 2>&1 &
BAD_PID=$!
bad_refused() { [[ -f $RUN_DIR/spool-bad/refused/$BAD_ID.report ]]; }
wait_until 30 "an unreadable report moved to refused/" bad_refused
kill -TERM "$BAD_PID"
wait "$BAD_PID" || true
grep -q "report refused by ingest" "$RUN_DIR/agent-bad.log" || fail "no refusal logged: $(cat "$RUN_DIR/agent-bad.log")"
[[ ! -f $RUN_DIR/spool-bad/$BAD_ID.report ]] || fail "the refused report is still spooled"
say "drift-agent: an unreadable report refused (400) and kept in refused/"

# Reports the server or a proxy will not take. spool_with SPOOL PLAN...:
# each plan spooled in order (sent to a dead port: send exits 3, the report
# stays), the ids in SPOOLED.
spool_with() {
    local spool=$1 plan rc
    shift
    SPOOLED=()
    for plan in "$@"; do
        rc=0
        "${NOPROXY[@]}" "$DRIFT_AGENT_BIN" send --endpoint "https://localhost:$DEAD_PORT" \
            --ca "$SERVER_CA" --certificate "$DEMO/demo-agent.crt" --key "$DEMO/demo-agent.key" \
            --spool "$spool" --timeout-s 1 --stack "https-limit" "$plan" >"$RUN_DIR/spool-with.out" 2>/dev/null || rc=$?
        [[ $rc == 3 ]] || fail "send to an unreachable server: exit $rc, not 3"
        SPOOLED+=("$(sed -n 's/^failed \([^ ]*\) .*/\1/p' "$RUN_DIR/spool-with.out")")
    done
}
run_until_empty() {  # run_until_empty PORT CA SPOOL LOG: drift-agent run until SPOOL has no report
    "${NOPROXY[@]}" "$DRIFT_AGENT_BIN" run --endpoint "https://localhost:$1" --ca "$2" \
        --certificate "$DEMO/demo-agent.crt" --key "$DEMO/demo-agent.key" --spool "$3" --window 4 \
        --stacks "" >"$4" 2>&1 &
    local pid=$! spool=$3
    emptied() { [[ $(find "$spool" -maxdepth 1 -name '*.report' | wc -l) == 0 ]]; }
    wait_until 60 "drift-agent run emptying $spool" emptied
    kill -TERM "$pid"
    wait "$pid" || fail "drift-agent run exited $?: $(tail -n 5 "$4")"
}
random_plan() {  # random_plan NAME BYTES: a plan of random (incompressible) text
    "$PY" -c "import base64, json, os, sys
print(json.dumps({'format_version': '1.2', 'variables': {'blob': {'value':
    base64.b64encode(os.urandom(int(sys.argv[1]) * 3 // 4)).decode()}}}))" "$2" >"$RUN_DIR/$1.json"
}

# Over the server's limit (1 MiB here; 1.6 MB of random text is over it
# compressed too, so the face would refuse the body by Content-Length and
# Caddy might say only 502): the agent learnt the limit from the WELCOME
# and refuses it itself, never sending it, and goes on with the next ones.
random_plan oversize 1600000
spool_with "$RUN_DIR/spool-large" "$PLAN" "$RUN_DIR/oversize.json" "$PLAN"
run_until_empty "$AGENT_PORT" "$SERVER_CA" "$RUN_DIR/spool-large" "$RUN_DIR/agent-large.log"
[[ -f $RUN_DIR/spool-large/refused/${SPOOLED[1]}.report ]] \
    || fail "the oversize report is not in refused/: $(ls -R "$RUN_DIR/spool-large")"
grep -q "report refused by the agent.*${SPOOLED[1]}.*max_report_bytes" "$RUN_DIR/agent-large.log" \
    || fail "the oversize report was not refused by the agent: $(cat "$RUN_DIR/agent-large.log")"
grep -q "connected to ingest.*max_report_bytes.*1048576" "$RUN_DIR/agent-large.log" \
    || fail "the WELCOME over HTTPS did not give the limit: $(cat "$RUN_DIR/agent-large.log")"
wait_until 60 "the report after the oversize one archived" report_archived "${SPOOLED[2]}"
report_archived "${SPOOLED[0]}" || fail "${SPOOLED[0]} (before the oversize one) not archived"
say "drift-agent: a report over the server's limit refused before sending (refused/), the next ones sent"

# Under the server's limit but over a proxy's (a second Caddy whose
# request_body limit is 100KB: Caddy 2.6 answers 502, a broken link, not
# 413): the link breaks on that report alone while it works otherwise
# (WELCOMEs, ACKs); after 3 such breaks the agent keeps it in refused/
# rather than resending it for ever.
SMALL_PORT=$(free_port)
caddy_start caddy-small "$SMALL_PORT" 100KB
SMALL_CADDY_PID=$STARTED_PID
random_plan proxy-large 300000
spool_with "$RUN_DIR/spool-proxy-large" "$RUN_DIR/proxy-large.json" "$PLAN"
run_until_empty "$SMALL_PORT" "$RUN_DIR/caddy-small/pki/authorities/local/root.crt" \
    "$RUN_DIR/spool-proxy-large" "$RUN_DIR/agent-proxy-large.log"
grep -q "the link broke on this report 3 times" "$RUN_DIR/spool-proxy-large/refused/${SPOOLED[0]}.reason" \
    || fail "the report a proxy will not carry is not refused after 3 broken links: $(cat "$RUN_DIR/agent-proxy-large.log")"
wait_until 60 "the report beside it archived" report_archived "${SPOOLED[1]}"
kill "$SMALL_CADDY_PID"
wait "$SMALL_CADDY_PID" 2>/dev/null || true
SMALL_CADDY_PID=""
say "drift-agent: a report that broke the link 3 times while it worked otherwise kept in refused/"

# No client certificate: the agent will not start without one, and says so.
rc=0
"$DRIFT_AGENT_BIN" send --endpoint "https://localhost:$AGENT_PORT" --ca "$SERVER_CA" \
    --spool "$RUN_DIR/spool-nocert" --stack x "$PLAN" >/dev/null 2>"$RUN_DIR/nocert.err" || rc=$?
[[ $rc == 2 ]] && grep -q "certificate and key .* are required over HTTPS" "$RUN_DIR/nocert.err" \
    || fail "no client certificate: exit $rc, $(cat "$RUN_DIR/nocert.err")"
# A client key another user can read is refused like every secret file.
cp "$DEMO/demo-agent.key" "$RUN_DIR/open.key"
cp "$DEMO/demo-agent.crt" "$RUN_DIR/open.crt"
chmod 644 "$RUN_DIR/open.key"
rc=0
agent "$RUN_DIR/open" "$RUN_DIR/spool-nocert" send --stack x "$PLAN" >/dev/null 2>"$RUN_DIR/open.err" || rc=$?
[[ $rc == 2 ]] && grep -q "chmod 600" "$RUN_DIR/open.err" || fail "a readable client key: exit $rc, $(cat "$RUN_DIR/open.err")"
say "drift-agent: no client certificate, or a key others can read: refused before connecting"

# Through an HTTP CONNECT proxy: HTTPS_PROXY set, NO_PROXY unset; the proxy
# counts the tunnels, so the reports provably went through it.
PROXY_PORT=$(free_port)
: >"$RUN_DIR/proxy.log"
"$PY" "$SRC/tests/https/proxy.py" "$PROXY_PORT" "$RUN_DIR/proxy.log" 2>"$RUN_DIR/proxy.err" &
PROXY_PID=$!
proxy_up() { "$PY" -c "import socket; socket.create_connection(('127.0.0.1', $PROXY_PORT), 1)" 2>/dev/null; }
wait_until 20 "the CONNECT proxy listening" proxy_up
for i in 1 2 3; do
    env -u NO_PROXY -u no_proxy -u ALL_PROXY -u all_proxy HTTPS_PROXY="http://127.0.0.1:$PROXY_PORT" \
        "$DRIFT_AGENT_BIN" send --endpoint "https://localhost:$AGENT_PORT" --ca "$SERVER_CA" \
        --certificate "$DEMO/demo-agent.crt" --key "$DEMO/demo-agent.key" --spool "$RUN_DIR/spool-proxy" \
        --stack "https-proxy-$i" "$PLAN" >>"$RUN_DIR/proxy-send.out" 2>>"$RUN_DIR/proxy-send.err" \
        || fail "drift-agent send through the proxy: $(cat "$RUN_DIR/proxy-send.out" "$RUN_DIR/proxy-send.err")"
done
kill "$PROXY_PID"
wait "$PROXY_PID" 2>/dev/null || true
PROXY_PID=""
[[ $(grep -c "^CONNECT localhost:$AGENT_PORT\$" "$RUN_DIR/proxy.log") -ge 3 ]] \
    || fail "the agent did not go through the proxy: $(cat "$RUN_DIR/proxy.log")"
while read -r id; do
    wait_until 60 "$id (through the proxy) archived" report_archived "$id"
done < <(sed -n 's/^sent //p' "$RUN_DIR/proxy-send.out")
[[ $(grep -c '^sent ' "$RUN_DIR/proxy-send.out") == 3 ]] || fail "3 reports not sent through the proxy"
say "drift-agent through an HTTP CONNECT proxy: $(wc -l <"$RUN_DIR/proxy.log") tunnels, 3 reports archived"

# --------------------------------------------------------------- 1c. commands over HTTPS

# The command channel polled (proto/AGENT-LINK.md §7): none waiting is 204.
expect_line() {  # expect_line WHAT PATTERN OUTPUT
    grep -Eq "$2" <<<"$3" || fail "$1: expected /$2/, got: $3"
    say "$1: $3"
}
expect_line "GET /v1/commands with none waiting" '^status 204 none$' "$(client "$DEMO/demo-agent" commands)"
INGEST_STATS=$(grep -o -- '--ingest tcp://[^ ]*' "$RUN_DIR/run.out" | head -n 1 | cut -d' ' -f2)
API_URL=$(sed -n 's|^Dashboard: \(http://[^ ]*\)/ .*|\1|p' "$RUN_DIR/run.out" | head -n 1)
[[ -n $INGEST_STATS && -n $API_URL ]] || fail "no ingest stats endpoint or dashboard URL in scripts/run's output"
ingest_stat() {  # ingest_stat GROUP KEY: a counter of ingest's stats endpoint
    "$DRIFT_BIN" status --broker "" --ingest "$INGEST_STATS" --format json \
        | jq -r --arg g "$1" --arg k "$2" '.[$g][$k]'
}
SENT_BEFORE=$(ingest_stat commands sent)

# drift-agent run over HTTPS with a stack checked by the stand-in engine
# (tests/fixtures/fake-terraform, whose log counts its runs), polling
# every second; its first check makes the stack known as the demo agent's.
CMD_STACK=$RUN_DIR/cmd-stack
CMD_SPOOL=$RUN_DIR/spool-commands
mkdir -p "$CMD_STACK"
agent_args "$DEMO/demo-agent" "$CMD_SPOOL"
FAKE_TF_SCENARIO=$SRC/tests/fixtures/terraform/scenario-02 FAKE_TF_LOG=$RUN_DIR/engine.log \
    "${NOPROXY[@]}" "$DRIFT_AGENT_BIN" run "${ARGS[@]}" --engine "$SRC/tests/fixtures/fake-terraform" \
    --stacks "https-cmd=$CMD_STACK:3600" --remediation https-cmd --command-poll-s 1 \
    >"$RUN_DIR/agent-commands.log" 2>&1 &
CMD_AGENT=$!
stack_known() { [[ $(sql "SELECT count(*) FROM stacks WHERE name = 'https-cmd' AND last_report_id IS NOT NULL") == 1 ]]; }
wait_until 60 "the command agent's first check archived" stack_known
plans() { grep -c $'\tplan\t' "$RUN_DIR/engine.log" 2>/dev/null || true; }
[[ $(plans) == 1 ]] || fail "the stand-in ran plan $(plans) times for the first check"

# A check now, asked through the API as the demo tenant's owner.
TOKEN=$(jq -n --arg e demo@localhost --rawfile p "$STATE/demo/dashboard.password" \
            '{email: $e, password: ($p | rtrimstr("\n"))}' \
        | curl -sS -f -X POST -H 'Content-Type: application/json' --data-binary @- "$API_URL/api/v1/login" \
        | jq -r .access_token) || fail "the demo owner cannot log in to the API"
api() {  # api METHOD PATH [JSON]: the body, then the status on a line of its own
    curl -sS -w '\n%{http_code}' -X "$1" -H "Authorization: Bearer $TOKEN" \
        -H 'Content-Type: application/json' ${3:+--data "$3"} "$API_URL$2"
}
CHECK=$(api POST /api/v1/stacks/https-cmd/check)
[[ $(tail -n 1 <<<"$CHECK") == 202 ]] || fail "POST /api/v1/stacks/https-cmd/check: $CHECK"
COMMAND=$(head -n 1 <<<"$CHECK" | jq -r .id)
[[ $COMMAND =~ ^[0-9a-f-]{36}$ ]] || fail "no command id in $CHECK"
command_state() { [[ $(sql "SELECT state FROM agent_commands WHERE id = '$COMMAND'") == "$1" ]]; }
wait_until 60 "the check asked through the API succeeded on the HTTPS agent" command_state succeeded
[[ $(plans) == 2 ]] || fail "the stand-in ran plan $(plans) times, not once more for the command"
command_report() {
    [[ $(sql "SELECT count(*) FROM agent_commands c JOIN reports r
              ON r.tenant_id = c.tenant_id AND r.report_id = c.report_id
              WHERE c.id = '$COMMAND' AND r.status = 'ok'") == 1 ]]
}
wait_until 60 "the command's report archived" command_report
[[ $(sql "SELECT string_agg (state, ',' ORDER BY seq) FROM agent_command_updates
          WHERE command_id = '$COMMAND'") == received,running,succeeded ]] \
    || fail "the command's updates: $(sql "SELECT seq, state FROM agent_command_updates WHERE command_id = '$COMMAND'")"
[[ $(ingest_stat commands sent) -gt $SENT_BEFORE ]] || fail "commands_sent did not count the command sent over HTTPS"
[[ $(ingest_stat commands stored) == 3 ]] || fail "ingest stored $(ingest_stat commands stored) updates, not 3"
expect_line "GET /v1/commands once the command was received" '^status 204 none$' \
    "$(client "$DEMO/demo-agent" commands)"
say "a check asked through the API reached drift-agent over HTTPS by polling, ran once, its report archived, 3 updates stored once"

# Forged updates with the demo agent's certificate: another agent's (or no)
# command, a seq beyond the next one, a Report posted to the update route.
NOT_FOUND_BEFORE=$(ingest_stat commands not_found)
BAD_STATE_BEFORE=$(ingest_stat commands bad_state)
OTHER_COMMAND=$("$PY" -c "import uuid; print(uuid.uuid4())")
expect_line "refused: an update for a command that is not this agent's" '^status 400 nack \[1,' \
    "$(client "$DEMO/demo-agent" update "$OTHER_COMMAND" 1 1)"
expect_line "refused: an update with a seq beyond the next one" '^status 400 nack \[1,' \
    "$(client "$DEMO/demo-agent" update "$COMMAND" 9 4)"
expect_line "refused: a Report posted as a command update" '^status 400 nack \[1,' \
    "$(client "$DEMO/demo-agent" update "$COMMAND" 1 1 --as-report)"
[[ $(ingest_stat commands not_found) == $((NOT_FOUND_BEFORE + 1)) ]] || fail "the forged update is not counted as not_found"
[[ $(ingest_stat commands bad_state) == $((BAD_STATE_BEFORE + 1)) ]] || fail "the seq beyond the next is not counted as bad_state"
[[ $(ingest_stat https wrong_kind) == 1 ]] || fail "the Report posted as an update is not counted as wrong_kind"
[[ $(journaled https-u-1) == 0 ]] || fail "a Report posted as a command update was journaled"
[[ $(sql "SELECT count(*) FROM agent_command_updates WHERE command_id = '$COMMAND'") == 3 ]] \
    || fail "a forged update was stored"
# Straight to the face without the proxy secret: 403 before anything else.
poll_direct() {
    "$PY" - "$FACE_PORT" "$("$PY" -c "print(int('$SERIAL', 16))")" <<'EOF'
import http.client, sys
conn = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]), timeout=10)
conn.request("GET", "/v1/commands", headers={"X-Drift-Client-Serial": sys.argv[2]})
print("status %d" % conn.getresponse().status)
EOF
}
UNTRUSTED_BEFORE=$(ingest_stat https untrusted)
expect_line "refused: GET /v1/commands bypassing Caddy" '^status 403$' "$(poll_direct)"
[[ $(ingest_stat https untrusted) == $((UNTRUSTED_BEFORE + 1)) ]] || fail "the poll bypassing Caddy is not counted"
say "refused and counted: forged updates (400), a Report on the update route (400, not journaled), a poll bypassing Caddy (403)"

# Remediation over HTTPS: a plan (the stand-in's), approved (four-eyes off:
# the demo tenant has one person), applied from that plan file only.
[[ $(api PUT /api/v1/settings/remediation '{"four_eyes": false}' | tail -n 1) == 200 ]] \
    || fail "four-eyes could not be turned off"
PLAN_REPLY=$(api POST /api/v1/stacks/https-cmd/remediations '{}')
[[ $(tail -n 1 <<<"$PLAN_REPLY") == 202 ]] || fail "POST /api/v1/stacks/https-cmd/remediations: $PLAN_REPLY"
COMMAND=$(head -n 1 <<<"$PLAN_REPLY" | jq -r .id)
wait_until 60 "the remediation plan made by the HTTPS agent" command_state succeeded
[[ $(sql "SELECT plan_sha256 ~ '^[0-9a-f]{64}$' AND plan_json IS NOT NULL FROM agent_commands
          WHERE id = '$COMMAND'") == t ]] || fail "the plan came back without its hash or its JSON"
APPROVED=$(api POST "/api/v1/commands/$COMMAND/approve")
[[ $(tail -n 1 <<<"$APPROVED") == 202 ]] || fail "approve: $APPROVED"
COMMAND=$(head -n 1 <<<"$APPROVED" | jq -r .id)
wait_until 60 "the approved plan applied by the HTTPS agent" command_state succeeded
[[ $(grep -c $'\tapply\t' "$RUN_DIR/engine.log") == 1 ]] || fail "the stand-in did not apply once"
say "remediation over HTTPS: a plan with its hash and JSON, approved, applied once"
kill -TERM "$CMD_AGENT"
wait "$CMD_AGENT" || fail "drift-agent run (commands) exited $?: $(tail -n 5 "$RUN_DIR/agent-commands.log")"

# --------------------------------------------------------------- 2. refusals

expect() {  # expect WHAT PATTERN OUTPUT
    grep -Eq "$2" <<<"$3" || fail "$1: expected /$2/, got: $3"
    say "$1: $3"
}
expect "refused: no client certificate" '^error SSL' "$(client "" post https-x-1)"

# A certificate from another CA, with the demo agent's serial.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 -subj "/CN=other CA" \
    -keyout "$RUN_DIR/other-ca.key" -out "$RUN_DIR/other-ca.crt" 2>/dev/null
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/O=demo/CN=demo-agent" \
    -keyout "$RUN_DIR/other.key" -out "$RUN_DIR/other.csr" 2>/dev/null
openssl x509 -req -in "$RUN_DIR/other.csr" -CA "$RUN_DIR/other-ca.crt" -CAkey "$RUN_DIR/other-ca.key" \
    -set_serial "0x$SERIAL" -days 30 -out "$RUN_DIR/other.crt" 2>/dev/null
expect "refused: a certificate from another CA" '^error SSL' "$(client "$RUN_DIR/other" post https-x-2)"
# A certificate from another CA: Caddy ends the handshake; the agent keeps
# the report, exits 3 and its status says why.
chmod 600 "$RUN_DIR/other.key"
rc=0
agent "$RUN_DIR/other" "$RUN_DIR/spool-other" send --stack x --timeout-s 2 "$PLAN" \
    >"$RUN_DIR/other.out" 2>&1 || rc=$?
[[ $rc == 3 ]] || fail "a certificate from another CA: exit $rc, $(cat "$RUN_DIR/other.out")"
OTHER_STATUS=$("$DRIFT_AGENT_BIN" status --spool "$RUN_DIR/spool-other")
grep -Eq '^last error   .*TLS or connection failure' <<<"$OTHER_STATUS" \
    && grep -q '^spool depth  1' <<<"$OTHER_STATUS" \
    || fail "a certificate from another CA: status says $OTHER_STATUS"
say "drift-agent: a certificate from another CA fails the handshake, said in status"


# An expired certificate from the right CA (openssl ca sets past dates).
mkdir -p "$RUN_DIR/ca-db"
: >"$RUN_DIR/ca-db/index.txt"
cat >"$RUN_DIR/ca.cnf" <<EOF
[ca]
default_ca = local
[local]
database = $RUN_DIR/ca-db/index.txt
new_certs_dir = $RUN_DIR/ca-db
serial = $RUN_DIR/ca-db/serial
default_md = sha256
policy = any
[any]
commonName = supplied
EOF
echo 1000 >"$RUN_DIR/ca-db/serial"
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=demo-agent" \
    -keyout "$RUN_DIR/expired.key" -out "$RUN_DIR/expired.csr" 2>/dev/null
openssl ca -batch -config "$RUN_DIR/ca.cnf" -cert "$KEYS/ca.crt" -keyfile "$KEYS/ca.key" \
    -startdate 20200101000000Z -enddate 20200201000000Z -in "$RUN_DIR/expired.csr" \
    -out "$RUN_DIR/expired.crt" 2>/dev/null || fail "openssl ca could not make an expired certificate"
expect "refused: an expired certificate" '^error SSL' "$(client "$RUN_DIR/expired" post https-x-3)"

# The face checks validity too: a certificate Caddy accepts whose record
# says it expired (the registry is the truth, e.g. for a shortened validity).
cp "$DEMO/demo-agent.crt" "$RUN_DIR/short.crt"
cp "$DEMO/demo-agent.key" "$RUN_DIR/short.key"
RENEWED=$RUN_DIR/renewed
"$DRIFT_BIN" keys renew --database "$OWNER_URL" --keys-dir "$KEYS" --tenant demo --name demo-agent \
    --out "$RENEWED.cert" >"$RUN_DIR/renew.out" || fail "drift keys renew: $(cat "$RUN_DIR/renew.out")"
NEW_SERIAL=$(openssl x509 -in "$RENEWED.crt" -noout -serial | sed 's/serial=//')
[[ $NEW_SERIAL != "$SERIAL" ]] || fail "renew kept the serial"
grep -q "^certificate = $RENEWED.crt" "$RUN_DIR/renew.out" || fail "renew printed no configuration"
# Both the old and the renewed certificate are good: no gap.
expect "accepted: the old certificate after renew" '^status 200 ack false' \
    "$(client "$DEMO/demo-agent" post https-r-1)"
expect "accepted: the renewed certificate" '^status 200 ack false' "$(client "$RENEWED" post https-r-2)"
sql "UPDATE agent_certs SET not_before = now () - interval '2 days', not_after = now () - interval '1 day'
     WHERE serial = '$("$PY" -c "print(int('$NEW_SERIAL', 16))")'" >/dev/null
[[ $(sql "SELECT count(*) FROM agent_certs WHERE not_after < now ()") == 1 ]] || fail "no certificate marked expired"
# The face caches a serial's answer for up to a minute: a new ingest reads it.
expired_in_registry() {
    grep -q "status 403 nack.*expired" <<<"$(client "$RENEWED" post https-x-4)"
}
kill -TERM "$(sed -n 's/^name=ingest pid=\([0-9]*\) .*/\1/p' "$STATE/supervisor.status")"
wait_until 60 "a certificate expired in the registry refused by the face" expired_in_registry
say "refused: a certificate the registry says expired (403)"

# Straight to the face, bypassing Caddy: no secret, a wrong one, a forged serial.
direct() {
    "$PY" - "$FACE_PORT" "$@" <<'EOF'
import http.client, sys
port, headers = int(sys.argv[1]), dict(h.split(":", 1) for h in sys.argv[2:])
conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
conn.request("POST", "/v1/reports", body=b"\x0a\x01x", headers=headers)
print("status %d" % conn.getresponse().status)
EOF
}
# The demo agent's real serial: the identity is right, the path is not.
DEMO_SERIAL=$("$PY" -c "print(int('$SERIAL', 16))")
expect "refused: bypassing Caddy" '^status 403$' "$(direct "X-Drift-Client-Serial:$DEMO_SERIAL")"
expect "refused: bypassing Caddy with a guessed secret" '^status 403$' \
    "$(direct "X-Drift-Proxy-Secret:$(head -c 36 /dev/urandom | base64 -w0)" "X-Drift-Client-Serial:$DEMO_SERIAL")"

# A forged serial header through Caddy: Caddy replaces it with the real
# certificate's, so the report is the demo agent's (acked) whatever the
# header said, and a certificate-less client gets nowhere at all.
expect "a forged identity header, overwritten by Caddy" '^status 200 ack false' \
    "$(client "$DEMO/demo-agent" post https-f-1 --header "X-Drift-Client-Serial:12345" \
        --header "X-Drift-Proxy-Secret:forged")"
wait_until 60 "https-f-1 archived" archived https-f 1
[[ $(sql "SELECT a.name FROM reports r JOIN agents a ON a.id = r.agent_id WHERE r.report_id = 'https-f-1'") \
    == demo-agent ]] || fail "https-f-1 archived under another agent"

# Oversize by Content-Length: the face answers 413 TOO_LARGE on the headers
# alone, before a byte of the body (here none is ever sent: the answer
# cannot have waited for it). Asked as Caddy asks, with the secret.
declared() {
    "$PY" - "$FACE_PORT" "$SECRET" "$DEMO_SERIAL" <<'EOF'
import socket, sys
port, secret, serial = int(sys.argv[1]), open(sys.argv[2]).read().strip(), sys.argv[3]
s = socket.create_connection(("127.0.0.1", port), timeout=10)
s.sendall(("POST /v1/reports HTTP/1.1\r\nHost: ingest\r\nX-Drift-Proxy-Secret: %s\r\n"
           "X-Drift-Client-Serial: %s\r\nContent-Length: 100000000\r\n\r\n" % (secret, serial)).encode())
print(s.recv(200).split(b"\r\n")[0].decode())
EOF
}
expect "refused: a body declared over the limit, before it is sent" '^HTTP/1.1 413 ' "$(declared)"
# Through Caddy, with the bytes: by Content-Length (413, or 502 when Caddy
# is still writing the body as the face closes) and streamed in chunks (cut
# off at the limit: the connection ends, Caddy answers 502). Neither is
# ever journaled (checked at the end).
head -c 2000000 /dev/zero | tr '\0' 'x' >"$RUN_DIR/big.json"
expect "refused: an oversize body" '^status (413 nack \[2,|502)' \
    "$(client "$DEMO/demo-agent" post https-x-5 --payload "$RUN_DIR/big.json")"
expect "refused: an oversize streamed body" '^(status 502|error (BrokenPipe|ConnectionReset))' \
    "$(client "$DEMO/demo-agent" post https-x-6 --payload "$RUN_DIR/big.json" --chunked)"

# Slow-loris: two clients that send their headers and one byte of a body,
# then nothing. Caddy passes them on to the face, which keeps serving others
# (3 reports acked meanwhile) and closes their connections after its 3 s
# idle timeout: no connection to the face is left while they still hang on
# Caddy (whose own client timeouts are Caddy's business).
client "$DEMO/demo-agent" slow 40 >"$RUN_DIR/slow1.txt" &
SLOW1=$!
client "$DEMO/demo-agent" slow 40 >"$RUN_DIR/slow2.txt" &
SLOW2=$!
face_connections() { ss -Htn state established "( sport = :$FACE_PORT )" | wc -l; }
slow_at_face() { [[ $(face_connections) -ge 2 ]]; }
wait_until 10 "the slow clients reaching the face" slow_at_face
client "$DEMO/demo-agent" send https-s 3 >"$RUN_DIR/s.txt" || fail "reports not acked beside slow clients"
face_idle() {
    kill -0 "$SLOW1" "$SLOW2" 2>/dev/null || fail "a slow client ended before the face cut it off"
    [[ $(face_connections) == 0 ]]
}
wait_until 20 "the face cutting off the slow clients" face_idle
kill "$SLOW1" "$SLOW2" 2>/dev/null
wait "$SLOW1" "$SLOW2" 2>/dev/null || true
say "refused: slow-loris clients cut off by the face; 3 reports acked beside them"

# Slow-loris on Caddy itself: clients that dribble their headers a byte a
# second never reach the face; Caddy's read_header timeout (3 s here, from
# Caddyfile.agents-timeouts) ends them while another agent is served.
client "$DEMO/demo-agent" drip 40 >"$RUN_DIR/drip1.txt" &
DRIP1=$!
client "$DEMO/demo-agent" drip 40 >"$RUN_DIR/drip2.txt" &
DRIP2=$!
client "$DEMO/demo-agent" send https-d 3 >"$RUN_DIR/d.txt" || fail "reports not acked beside dribbling clients"
drips_ended() { ! kill -0 "$DRIP1" 2>/dev/null && ! kill -0 "$DRIP2" 2>/dev/null; }
wait_until 30 "Caddy cutting off the dribbling clients" drips_ended
grep -q '^closed after' "$RUN_DIR/drip1.txt" && grep -q '^closed after' "$RUN_DIR/drip2.txt" \
    || fail "Caddy did not cut off the dribbling clients: $(cat "$RUN_DIR/drip1.txt" "$RUN_DIR/drip2.txt")"
say "refused: clients dribbling headers cut off by Caddy ($(cat "$RUN_DIR/drip1.txt")); 3 reports acked beside them"

# Revoked: refused (403 REVOKED) within a few seconds of drift keys revoke.
"$DRIFT_BIN" keys issue --database "$OWNER_URL" --keys-dir "$KEYS" --tenant demo --name https-b \
    --out "$RUN_DIR/b.cert" >/dev/null || fail "drift keys issue https-b"
expect "accepted: a new agent" '^status 200 ack false' "$(client "$RUN_DIR/b" post https-b-1)"
"$DRIFT_BIN" keys revoke --database "$OWNER_URL" --tenant demo --name https-b >/dev/null
revoked() { grep -q '^status 403 nack \[6,' <<<"$(client "$RUN_DIR/b" post "https-b-$RANDOM")"; }
wait_until 10 "a revoked agent refused" revoked
rc=0
agent "$RUN_DIR/b" "$RUN_DIR/spool-revoked" send --stack x "$PLAN" >"$RUN_DIR/revoked.out" 2>&1 || rc=$?
[[ $rc == 1 ]] && grep -q "^refused " "$RUN_DIR/revoked.out" \
    || fail "drift-agent with a revoked certificate: exit $rc, $(cat "$RUN_DIR/revoked.out")"
grep -q '^state        refused' <<<"$("$DRIFT_AGENT_BIN" status --spool "$RUN_DIR/spool-revoked")" \
    || fail "drift-agent status does not say refused"
say "refused: a revoked agent (and drift-agent exits 1, status refused)"

# --------------------------------------------------------------- 3. kill -9 mid-stream

client "$DEMO/demo-agent" send https-k 400 --threads 8 >"$RUN_DIR/k.txt" 2>"$RUN_DIR/k.err" &
STREAM=$!
acked() { [[ $(grep -c '^sent ' "$RUN_DIR/k.txt" 2>/dev/null || true) -ge $1 ]]; }
wait_until 60 "the stream started" acked 20
PID=$(sed -n 's/^name=ingest pid=\([0-9]*\) .*/\1/p' "$STATE/supervisor.status")
kill -KILL "$PID"
say "killed ingest (pid $PID) with $(grep -c '^sent ' "$RUN_DIR/k.txt") of 400 acked"
wait "$STREAM" || fail "the stream after kill -9: $(tail -n 3 "$RUN_DIR/k.err")"
[[ $(grep -c '^sent ' "$RUN_DIR/k.txt") == 400 ]] || fail "not every report acked after the restart"
[[ $(sed -n 's/^sent \([^ ]*\) .*/\1/p' "$RUN_DIR/k.txt" | sort -u | wc -l) == 400 ]] || fail "an id acked twice"
wait_until 240 "the 400 reports archived" archived https-k 400
journal_empty() { [[ $(sql "SELECT count(*) FROM pgmq.q_drift_journal") == 0 ]]; }
wait_until 180 "the journal empty" journal_empty
archived https-k 400 || fail "a report archived twice"
[[ $(journaled 'https-k-%') == 400 ]] || fail "$(journaled 'https-k-%') journal entries for 400 reports"
[[ $(sql "SELECT count(*) FROM pgmq.q_drift_dead") == 0 ]] || fail "reports dead-lettered"
[[ $(journaled 'https-x-%') == 0 ]] || fail "a refused request was journaled"
say "kill -9 under 8 streams: 400 acked, each archived once, journal empty"
