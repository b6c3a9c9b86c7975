#!/usr/bin/env bash
# tests/test_browser.sh -- ctest `browser`: the web dashboard in a real browser.
#
# Starts the whole stack with `scripts/run --no-build --no-demo` on the ctest
# build (the directory of $DRIFT_BIN), in a private run dir and on free
# loopback ports, `drift api` among it serving web/dist; then runs
# tests/browser/dashboard.test.mjs (node + playwright-core driving Debian's
# headless Chromium): sign up, log in, issue an agent key in the UI, send
# examples/reports/payments-web.plan.json with drift-agent send, see its
# critical drift, open it, suppress it, see it leave the open list; a channel
# added, tested and removed; a user invited, their password set through the
# link in a second browser context, their role changed, an API token made in
# the UI and used with fetch, revoked, the user removed, a session ended and
# the password changed (issue 21). Screenshots (overview.png, detail.png, ...) go
# to ARTIFACTS (default build/test-artifacts/browser, DRIFT_ARTIFACTS_DIR).
# Stops everything it started and checks nothing is left. When Chromium,
# playwright-core, web/dist or `drift api` is missing the test FAILS and says
# why: it never passes without having run the browser.
# Environment (from ctest): DRIFT_BIN, DRIFT_AGENT_BIN, DRIFT_SOURCE_DIR.
set -euo pipefail

: "${DRIFT_BIN:?DRIFT_BIN is not set: run through ctest (scripts/test -R '^browser$')}"
: "${DRIFT_AGENT_BIN:?DRIFT_AGENT_BIN is not set}"
SRC=${DRIFT_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
PY=/usr/bin/python3
CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
ARTIFACTS=${DRIFT_ARTIFACTS_DIR:-$SRC/build/test-artifacts/browser}
BASE=${DRIFT_TEST_VAR_DIR:-${TMPDIR:-/tmp}}

die() { echo "FAIL: $*" >&2; exit 1; }

# What the test needs, each missing piece named.
[[ -x "$CHROMIUM" ]] || die "no Chromium at $CHROMIUM (scripts/setup installs Debian's chromium)"
command -v node >/dev/null || die "node is missing (scripts/setup)"
[[ -f "$SRC/tests/browser/node_modules/playwright-core/package.json" ]] \
    || die "playwright-core is not installed in tests/browser (scripts/setup runs npm ci there)"
[[ -f "$SRC/web/dist/index.html" ]] || die "web/dist is not built (scripts/setup builds it: npm ci && npm run build in web/)"
if ! "$DRIFT_BIN" api --help >/dev/null 2>&1; then
    die "'$DRIFT_BIN api --help' fails: this build has no dashboard API"
fi

mkdir -p "$BASE" "$ARTIFACTS"
rm -f "$ARTIFACTS"/*.png
RUN_DIR=$(mktemp -d "$BASE/browser-XXXXXX")
chmod 0755 "$RUN_DIR"       # as root PostgreSQL runs as `postgres` and must reach its data dir
free_port() { "$PY" "$SRC/scripts/lib/free_port.py"; }
API_PORT=$(free_port)
URL=http://127.0.0.1:$API_PORT
RUN_PID=""

stop_stack() {
    [[ -n "$RUN_PID" ]] || return 0
    if kill -0 "$RUN_PID" 2>/dev/null; then
        kill -TERM "$RUN_PID" 2>/dev/null || true
        for _ in $(seq 1 300); do kill -0 "$RUN_PID" 2>/dev/null || break; sleep 0.1; done
        if kill -0 "$RUN_PID" 2>/dev/null; then
            echo "FAIL: scripts/run (pid $RUN_PID) did not stop within 30 s; killing it" >&2
            kill -KILL "$RUN_PID" 2>/dev/null || true
            RC=1
        fi
    fi
    wait "$RUN_PID" 2>/dev/null || true
    RUN_PID=""
}
RC=0
on_exit() {
    local rc=$?
    trap - EXIT INT TERM
    stop_stack
    [[ $RC -ne 0 ]] && rc=$RC
    if [[ $rc -eq 0 ]]; then rm -rf "$RUN_DIR"; else echo "test_browser: state kept in $RUN_DIR" >&2; fi
    exit "$rc"
}
trap on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

echo "--- starting the stack: scripts/run --no-build --no-demo, drift api on $URL"
DRIFT_BUILD_DIR=$(dirname "$DRIFT_BIN") DRIFT_RUN_DIR=$RUN_DIR/state DRIFT_SKIP_SETUP=1 \
DRIFT_BROKER_PORT=$(free_port) DRIFT_AGENT_PORT=$(free_port) DRIFT_STATS_PORT=$(free_port) \
DRIFT_SMTP_PORT=$(free_port) DRIFT_API_PORT=$API_PORT DRIFT_STOP_TIMEOUT=10 \
    "$SRC/scripts/run" --no-build --no-demo >"$RUN_DIR/run.out" 2>"$RUN_DIR/run.err" &
RUN_PID=$!

# Up when /readyz answers 200 (the database reachable, the schema current).
up=0
for _ in $(seq 1 1200); do
    if ! kill -0 "$RUN_PID" 2>/dev/null; then break; fi
    if [[ $(curl -s -o /dev/null -w '%{http_code}' "$URL/readyz" 2>/dev/null) == 200 ]]; then up=1; break; fi
    sleep 0.1
done
if [[ $up -ne 1 ]]; then
    echo "FAIL: drift api did not answer $URL/readyz within 120 s; the end of scripts/run's log:" >&2
    tail -n 60 "$RUN_DIR/run.err" >&2
    exit 1
fi
curl -sf "$URL/" | grep -q '<div id="app">' || { echo "FAIL: $URL/ does not serve the dashboard (web/dist)" >&2; exit 1; }
echo "--- stack up; the dashboard on $URL"

rc=0
DRIFT_URL=$URL DRIFT_AGENT_BIN=$DRIFT_AGENT_BIN CHROMIUM=$CHROMIUM \
DRIFT_FIXTURE=$SRC/examples/reports/payments-web.plan.json ARTIFACTS=$ARTIFACTS WORK_DIR=$RUN_DIR/agent \
DRIFT_FAKE_ENGINE=$SRC/tests/fixtures/fake-terraform DRIFT_CAPTURES=$SRC/tests/fixtures/terraform \
    timeout 300 node "$SRC/tests/browser/dashboard.test.mjs" || rc=$?
case $rc in
    0) ;;
    2) echo "FAIL: Chromium could not start (see above)" >&2 ;;
    124) echo "FAIL: the browser test did not finish within 240 s" >&2 ;;
    *) echo "FAIL: the browser test failed (exit $rc)" >&2 ;;
esac
if [[ $rc -ne 0 ]]; then
    echo "--- the end of scripts/run's log:" >&2
    tail -n 40 "$RUN_DIR/run.err" >&2
    RC=1
fi

# Stop the stack; nothing it started may be left.
stop_stack
if pgrep -f "$RUN_DIR" >/dev/null 2>&1; then
    echo "FAIL: processes naming $RUN_DIR still run: $(pgrep -af "$RUN_DIR" | head -n 5)" >&2
    RC=1
fi
grep -q "stopped (exit 0)" "$RUN_DIR/run.err" || { echo "FAIL: scripts/run did not stop cleanly" >&2; tail -n 20 "$RUN_DIR/run.err" >&2; RC=1; }

echo "ARTIFACTS: $ARTIFACTS"
ls -1 "$ARTIFACTS" 2>/dev/null | sed 's/^/  /'
if [[ $RC -ne 0 ]]; then
    echo "test_browser: FAILED" >&2
    exit 1
fi
echo "test_browser: passed"
