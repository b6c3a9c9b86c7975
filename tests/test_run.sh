#!/usr/bin/env bash
# tests/test_run.sh -- ctest `run`: the README's first command works.
#
# Runs `scripts/run --no-build --demo-exit` twice on the ctest build (the
# directory of $DRIFT_BIN), on free ports and in a private run dir, and
# checks: exit 0; every demo stack printed with its severity; the demo's
# reports archived (sealed objects in the run dir's archive); the email in
# the SMTP sink, parsed by tests/smtp/mail_to_json.py; nothing it started
# still running. The second run reuses tenant, agent and channel and must
# tell the drift again. Environment (from ctest): DRIFT_BIN, DRIFT_SOURCE_DIR.
set -euo pipefail

: "${DRIFT_BIN:?DRIFT_BIN is not set: run through ctest (scripts/test -R '^run$')}"
SRC=${DRIFT_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
PY=/usr/bin/python3
BASE=${DRIFT_TEST_VAR_DIR:-${TMPDIR:-/tmp}}
mkdir -p "$BASE"
RUN_DIR=$(mktemp -d "$BASE/run-XXXXXX")
# As root, PostgreSQL runs as `postgres`, which must reach its data dir to
# keep it between the two runs.
chmod 0755 "$RUN_DIR"
FAILED=0

fail() { echo "FAIL: $*" >&2; FAILED=1; }
free_port() { "$PY" "$SRC/scripts/lib/free_port.py"; }

# check_children_env N LOG PID: while scripts/run (PID) runs, read the
# environment of each child it logs as started: none may hold the owner's
# (superuser) database URL, only normalize the masking key, only archive the
# sealing key (issue 16: a child needs only what its role reads).
check_children_env() {
    local n=$1 log=$2 run_pid=$3 seen=" " line role pid env checked=0
    while kill -0 "$run_pid" 2>/dev/null; do
        while read -r line; do
            role=$(sed -n 's/.*started \([a-z]*\) (pid \([0-9]*\)).*/\1/p' <<<"$line")
            pid=$(sed -n 's/.*started \([a-z]*\) (pid \([0-9]*\)).*/\2/p' <<<"$line")
            [[ -n "$pid" && "$seen" != *" $pid "* ]] || continue
            env=$(tr '\0' '\n' <"/proc/$pid/environ" 2>/dev/null) || continue
            seen="$seen$pid "
            checked=$((checked + 1))
            grep -q "postgres@" <<<"$env" && fail "run $n: $role's environment holds the superuser URL"
            grep -q "^DRIFT_SEAL_KEY=" <<<"$env" && [[ $role != archive ]] \
                && fail "run $n: $role was given the sealing key"
            grep -q "^DRIFT_MASK_KEY_FILE=" <<<"$env" && [[ $role != normalize ]] \
                && fail "run $n: $role was given the masking key"
            grep -q "^DRIFT_DATABASE=postgresql://drift_service@" <<<"$env" \
                || fail "run $n: $role has no drift_service DRIFT_DATABASE"
        done < <(grep "started [a-z]* (pid " "$log" 2>/dev/null)
        [[ $checked -ge 8 ]] && break
        sleep 0.2
    done
    [[ $checked -ge 8 ]] || fail "run $n: only $checked children's environments were read"
}

# run_once N: one scripts/run --demo-exit, output in RUN_DIR/runN.{out,err}.
run_once() {
    local n=$1 rc=0 out err
    out=$RUN_DIR/run$n.out
    err=$RUN_DIR/run$n.err
    local agent_port
    agent_port=$(free_port)
    DRIFT_BUILD_DIR=$(dirname "$DRIFT_BIN") DRIFT_RUN_DIR=$RUN_DIR/state DRIFT_SKIP_SETUP=1 \
    DRIFT_BROKER_PORT=$(free_port) DRIFT_AGENT_PORT=$agent_port DRIFT_STATS_PORT=$(free_port) \
    DRIFT_SMTP_PORT=$SMTP_PORT DRIFT_API_PORT=$(free_port) DRIFT_STOP_TIMEOUT=10 \
        timeout 100 "$SRC/scripts/run" --no-build --demo-exit >"$out" 2>"$err" &
    local run_pid=$!
    check_children_env "$n" "$err" "$run_pid"
    wait "$run_pid" || rc=$?
    echo "--- run $n: exit $rc; its printout:"
    cat "$out"
    if [[ $rc -ne 0 ]]; then
        fail "run $n: scripts/run --demo-exit exited $rc; the end of its log:"
        tail -n 60 "$err" >&2
        return 0
    fi

    # Every demo stack with its severity.
    local spec stack severity
    for spec in payments-web:critical receipts-bucket:high sessions-db:high orders-queue:low; do
        stack=${spec%:*}; severity=${spec#*:}
        grep -Eq "^  $stack  \(report [^ ]+, ok, severity $severity," "$out" \
            || fail "run $n: $stack with severity $severity not in the printout"
    done
    grep -q "critical  modified  aws_security_group.web" "$out" \
        || fail "run $n: payments-web's open drift (aws_security_group.web) not shown"
    grep -q "drift-agent run --config" "$out" || fail "run $n: no drift-agent run example"
    grep -q "drift status --broker" "$out" || fail "run $n: no drift status command"
    grep -q "drift tail --broker" "$out" || fail "run $n: no drift tail command"

    # The email: each .eml named parses and is the drift notice.
    local mails=0 path subject json
    while read -r path; do
        [[ "$path" == /* ]] || path=$SRC/$path
        mails=$((mails + 1))
        if [[ ! -f "$path" ]]; then fail "run $n: $path does not exist"; continue; fi
        if ! json=$("$PY" "$SRC/tests/smtp/mail_to_json.py" "$path"); then
            fail "run $n: $path does not parse"; continue
        fi
        subject=$("$PY" -c 'import json, sys; print(json.load(sys.stdin)["headers"]["Subject"])' <<<"$json")
        [[ "$subject" == "[drift] "*"new drift"* ]] || fail "run $n: $path: Subject '$subject'"
        grep -q "platform-team@localhost" <<<"$json" || fail "run $n: $path not to platform-team@localhost"
    done < <(sed -n 's/^  \([^ ]*\.eml\)  Subject: .*/\1/p' "$out")
    [[ $mails -eq 3 ]] || fail "run $n: $mails emails shown, expected 3 (critical, high, high)"
    grep -q "payments-web: 1 new drift (critical)" "$out" || fail "run $n: no critical email for payments-web"

    # Nothing it started still runs: the PIDs it printed, PostgreSQL's data
    # dir and anything else naming the run dir.
    local pids pid data
    pids=$(sed -n 's/^Started (PIDs): //p' "$out" | tr ' ' '\n' | sed -n 's/^[a-z]*=\([0-9]*\)$/\1/p')
    [[ $(wc -w <<<"$pids") -ge 8 ]] || fail "run $n: expected at least 8 PIDs printed: $pids"
    for pid in $pids; do
        if ps -o stat= -p "$pid" 2>/dev/null | grep -qv '^Z'; then
            fail "run $n: pid $pid ($(ps -o args= -p "$pid")) still running"
        fi
    done
    data=$(sed -n 's/.*PostgreSQL up: .* (data \([^,]*\), log .*/\1/p' "$err" | head -n 1)
    [[ -n "$data" ]] || fail "run $n: no PostgreSQL data dir in the log"
    if [[ -n "$data" && -f "$data/postmaster.pid" ]]; then fail "run $n: PostgreSQL still running ($data)"; fi
    if pgrep -f "$RUN_DIR" >/dev/null 2>&1; then
        fail "run $n: processes naming $RUN_DIR still run: $(pgrep -af "$RUN_DIR" | head -n 5)"
    fi
    return 0
}

start=$SECONDS
# One SMTP port for both runs: the channel, which names it, is then reused.
SMTP_PORT=$(free_port)
run_once 1
# The demo's reports were archived: sealed raw reports under tenant/stack/.
objects=$(find "$RUN_DIR/state/archive" -type f 2>/dev/null | wc -l)
[[ $objects -ge 4 ]] || fail "run 1: $objects archived objects, expected 4"
# The dashboard and its demo login are printed; the password file is private.
grep -q "^Dashboard: http://127.0.0.1:[0-9]*/ (log in as demo@localhost" "$RUN_DIR/run1.out" \
    || fail "run 1: no dashboard line in the printout"
[[ "$(stat -c %a "$RUN_DIR/state/demo/dashboard.password" 2>/dev/null)" == 600 ]] \
    || fail "run 1: the demo's dashboard password file is not 0600"
# Again on the same state: tenant, agent and channel reused, drift told again.
run_once 2
grep -q "tenant demo exists, reused" "$RUN_DIR/run2.err" || fail "run 2: the tenant was not reused"
grep -q "agent demo-agent exists .*, reused" "$RUN_DIR/run2.err" || fail "run 2: the agent was not reused"
grep -q "channel demo-mail exists, reused" "$RUN_DIR/run2.err" || fail "run 2: the channel was not reused"
grep -q "dashboard user demo@localhost exists, reused" "$RUN_DIR/run2.err" || fail "run 2: the dashboard user was not reused"
objects=$(find "$RUN_DIR/state/archive" -type f 2>/dev/null | wc -l)
[[ $objects -ge 12 ]] || fail "run 2: $objects archived objects, expected 12 (4 + 4 clean + 4)"
echo "--- two runs in $((SECONDS - start)) s"

if [[ $FAILED -ne 0 ]]; then
    echo "test_run: FAILED (state kept in $RUN_DIR)" >&2
    exit 1
fi
rm -rf "$RUN_DIR"
echo "test_run: passed"
