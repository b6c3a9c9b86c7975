# tests/lib/runstack.sh -- sourced by the shell tests that run scripts/run's
# whole stack on this build (tests/test_supervise.sh, tests/test_https_link.sh):
# log lines, failing, waiting, free ports, starting scripts/run on free ports
# in a private run dir, and the stack's database.
#
# The test sets before sourcing: SRC (the source tree), TEST_NAME and
# DRIFT_BIN; this sets PY (python3), RUN_DIR (a private dir under
# DRIFT_TEST_VAR_DIR or TMPDIR) and STATE (scripts/run's DRIFT_RUN_DIR in it).
# It may define fail_more, called by fail to print more logs,
# and stop_more, called on exit to stop what else it started. The EXIT trap
# is set here: scripts/run stopped, the run dir removed after a pass and
# kept after a failure.
# shellcheck shell=bash

START=$SECONDS
RUN_PID=""
PY=/usr/bin/python3
BASE=${DRIFT_TEST_VAR_DIR:-${TMPDIR:-/tmp}}
mkdir -p "$BASE"
RUN_DIR=$(mktemp -d "$BASE/$TEST_NAME-XXXXXX")
chmod 0755 "$RUN_DIR"           # PostgreSQL runs as `postgres` under root
STATE=$RUN_DIR/state

say() { printf '[%s %4ds] %s\n' "$TEST_NAME" "$((SECONDS - START))" "$*"; }
fail() {
    say "FAIL: $*"
    [[ -f $RUN_DIR/run.err ]] && { echo "--- the end of scripts/run's log:"; tail -n 60 "$RUN_DIR/run.err"; }
    declare -F fail_more >/dev/null && fail_more
    exit 1
}
free_port() { "$PY" "$SRC/scripts/lib/free_port.py"; }
# wait_until SECONDS WHAT COMMAND...: poll COMMAND until it succeeds, or fail
# (also when scripts/run, if started, has exited).
wait_until() {
    local limit=$1 what=$2 until=$((SECONDS + $1))
    shift 2
    until "$@"; do
        [[ $SECONDS -lt $until ]] || fail "$what: not within $limit s"
        [[ -z $RUN_PID ]] || kill -0 "$RUN_PID" 2>/dev/null || fail "$what: scripts/run exited"
        sleep 0.2
    done
}

# start_run ARGS...: scripts/run on this build, free ports, the private run dir.
start_run() {
    # Not the last run's log and status: the waits read them.
    rm -f "$RUN_DIR/run.out" "$RUN_DIR/run.err" "$STATE/supervisor.status"
    DRIFT_BUILD_DIR=$(dirname "$DRIFT_BIN") DRIFT_RUN_DIR=$STATE DRIFT_SKIP_SETUP=1 \
    DRIFT_BROKER_PORT=$(free_port) DRIFT_AGENT_PORT=$(free_port) DRIFT_STATS_PORT=$(free_port) \
    DRIFT_SMTP_PORT=$(free_port) DRIFT_API_PORT=$(free_port) DRIFT_STOP_TIMEOUT=10 \
        "$SRC/scripts/run" --no-build "$@" >"$RUN_DIR/run.out" 2>"$RUN_DIR/run.err" &
    RUN_PID=$!
}
supervising() { grep -q "supervising: a process that dies is restarted" "$RUN_DIR/run.err" 2>/dev/null; }

# After supervising: OWNER_URL (the database as its owner) and sql SQL.
stack_database() {
    local pg_url
    pg_url=$(sed -n 's/.*PostgreSQL up: \(postgresql:[^ ]*\) .*/\1/p' "$RUN_DIR/run.err" | head -n 1)
    [[ -n $pg_url ]] || fail "no PostgreSQL URL in the log"
    OWNER_URL=${pg_url%/*}/drift
}
sql() { psql -X -q -At -v ON_ERROR_STOP=1 "$OWNER_URL" -c "$1"; }

cleanup() {
    local rc=$?
    trap - EXIT
    declare -F stop_more >/dev/null && stop_more
    if [[ -n $RUN_PID ]] && kill -0 "$RUN_PID" 2>/dev/null; then
        kill -TERM "$RUN_PID" 2>/dev/null
        wait "$RUN_PID" 2>/dev/null
    fi
    if [[ $rc -eq 0 ]]; then rm -rf "$RUN_DIR"; say "passed"; else say "FAILED (state kept in $RUN_DIR)"; fi
    exit "$rc"
}
trap cleanup EXIT
