#!/usr/bin/env bash
# tests/test_supervise.sh -- ctest `supervise`: scripts/run keeps its stack
# running when any process of it dies (issue 22, scripts/lib/supervise.sh).
#
#   1. scripts/run (the demo, then supervising) on free ports and a private
#      run dir; drift-agent send streams reports of the demo agent without
#      pause while each process of the stack is killed with SIGKILL in turn:
#      every role, the SMTP sink, Redis and PostgreSQL. After each kill the
#      supervisor's status file shows it running again under a new pid with
#      one restart, and reports sent after the kill are acked (the stack
#      keeps serving). At the end every acked report is archived exactly
#      once (one row, one sealed object each, nothing else), the journal is
#      empty and nothing is dead-lettered.
#   2. SIGTERM: exit 0, nothing it started still running.
#   3. A crash loop: started again (--no-demo) with DRIFT_RUN_CRASH_LIMIT=3;
#      normalize killed three times: the runner gives up with the crash-loop
#      message, exits non-zero and leaves nothing running.
# Environment (from ctest): DRIFT_BIN, DRIFT_AGENT_BIN, DRIFT_SOURCE_DIR.
set -euo pipefail

: "${DRIFT_BIN:?DRIFT_BIN is not set: run through ctest (scripts/test -R '^supervise$')}"
SRC=${DRIFT_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
AGENT_BIN=${DRIFT_AGENT_BIN:-$(dirname "$DRIFT_BIN")/drift-agent}
STREAM_PID=""
TEST_NAME=supervise
# PY, RUN_DIR, STATE; say, fail, free_port, wait_until, start_run, supervising,
# stack_database, sql; the EXIT trap
# shellcheck source=tests/lib/runstack.sh
source "$SRC/tests/lib/runstack.sh"
STATUS=$STATE/supervisor.status
stop_more() {
    [[ -n $STREAM_PID ]] && kill "$STREAM_PID" 2>/dev/null
    return 0
}

# field NAME KEY: KEY of NAME's line in the supervisor's status file.
# Empty while the supervisor has not written its status yet ("supervising"
# is logged first): under set -e a failing sed would end the test unsaid.
field() { sed -n "s/^name=$1 .*\<$2=\([^ ]*\).*/\1/p" "$STATUS" 2>/dev/null || true; }
has_pid() { [[ $(field "$1" pid) =~ ^[0-9]+$ ]]; }
# At least COUNT restarts: a first restart may fail and be retried, as when a
# SIGKILLed postmaster's backends still hold its shared memory for a moment
# and PostgreSQL refuses to start beside them.
restarted() {  # NAME OLD-PID COUNT
    local pid restarts
    pid=$(field "$1" pid)
    restarts=$(field "$1" restarts)
    [[ $(field "$1" state) == running && $restarts =~ ^[0-9]+$ && $pid != "$2" && $pid != - ]] \
        && (( restarts >= $3 )) && kill -0 "$pid" 2>/dev/null
}
acked() { grep -c '^sent ' "$RUN_DIR/sent.txt" 2>/dev/null || true; }
acked_beyond() { [[ $(acked) -ge $1 ]]; }
# Everything scripts/run started has stopped: no process names the run dir.
nothing_left() {
    local left
    left=$(pgrep -af "$RUN_DIR" | grep -v "^$$ " || true)
    [[ -z $left ]] || fail "$1: processes naming $RUN_DIR still run: $left"
}

# --------------------------------------------------------------- 1. kill each under a stream

start_run
wait_until 240 "the stack up and the demo done" supervising
say "the stack is up, its demo done; streaming reports"
stack_database
BEFORE=$(sql "SELECT count(*) FROM reports")

# The stream: one report after the other until told to stop; each send
# retries on its own (the agent resends the same report id) for 120 s.
: >"$RUN_DIR/sent.txt"
(
    i=0
    while [[ ! -f $RUN_DIR/stop ]]; do
        i=$((i + 1))
        "$AGENT_BIN" send --config "$STATE/demo/agent.conf" --stack "stream-$((i % 5))" \
            --timeout-s 120 --log-level warn "$SRC/examples/reports/orders-queue.plan.json" \
            >>"$RUN_DIR/sent.txt" 2>>"$RUN_DIR/agent.err" || { echo "report $i not acked" >>"$RUN_DIR/sent.txt"; exit 1; }
    done
) &
STREAM_PID=$!
wait_until 60 "the first streamed reports acked" acked_beyond 3

for name in normalize score archive notify replayer ingest broker api smtp redis postgres; do
    pid=$(field "$name" pid)
    [[ $pid =~ ^[0-9]+$ ]] || fail "$name has no pid in $STATUS: $(cat "$STATUS")"
    kill -KILL "$pid" || fail "kill -9 $name ($pid)"
    at=$(acked)
    wait_until 60 "$name restarted by the supervisor" restarted "$name" "$pid" 1
    # A child's wait status; a daemon (PostgreSQL, Redis) is found gone by its pid.
    grep -Eq "$name \(pid $pid(, status 137 \(SIGKILL\)| gone)\) exited unexpectedly" "$RUN_DIR/run.err" \
        || fail "no log line of $name's death"
    wait_until 150 "reports acked after $name's restart" acked_beyond $((at + 2))
    kill -0 "$STREAM_PID" 2>/dev/null || fail "the stream stopped: $(tail -n 3 "$RUN_DIR/sent.txt")"
    say "killed $name (pid $pid): restarted as $(field "$name" pid), $(($(acked) - at)) reports acked since"
done
touch "$RUN_DIR/stop"
wait "$STREAM_PID" || fail "the stream: $(grep -v '^sent ' "$RUN_DIR/sent.txt" | head -n 3); $(tail -n 5 "$RUN_DIR/agent.err")"
STREAM_PID=""
SENT=$(acked)
IDS=$(sed -n "s/^sent \(.*\)/'\1'/p" "$RUN_DIR/sent.txt" | paste -sd,)
[[ $(sed -n 's/^sent //p' "$RUN_DIR/sent.txt" | sort | uniq -d | wc -l) == 0 ]] || fail "a report id acked twice"
say "$SENT reports acked during eleven kills"

all_archived() { [[ $(sql "SELECT count(*) FROM reports WHERE report_id IN ($IDS)") == "$SENT" ]]; }
wait_until 240 "all $SENT acked reports archived" all_archived
journal_empty() { [[ $(sql "SELECT count(*) FROM pgmq.q_drift_journal") == 0 ]]; }
wait_until 180 "the journal empty" journal_empty
ROWS=$(sql "SELECT count(*) FROM reports")
[[ $ROWS == $((BEFORE + SENT)) ]] || fail "$ROWS reports archived, expected $BEFORE + $SENT (each acked report once, nothing else)"
OBJECTS=$(find "$STATE/archive" -type f | wc -l)
[[ $OBJECTS == "$ROWS" ]] || fail "$OBJECTS sealed objects for $ROWS reports"
DEAD=$(sql "SELECT count(*) FROM pgmq.q_drift_dead")
[[ $DEAD == 0 ]] || fail "$DEAD reports dead-lettered"
# Each role was killed once and restarted once; a daemon's first restart may
# have been refused and retried (see restarted).
for name in normalize score archive notify replayer ingest broker api smtp; do
    [[ $(field "$name" restarts) == 1 ]] || fail "$name: $(field "$name" restarts) restarts counted, not 1"
done
for name in redis postgres; do
    restarted "$name" - 1 || fail "$name: $(field "$name" restarts) restarts counted, not 1 or more"
done
DRIFT_RUN_DIR=$STATE "$SRC/scripts/run" --status >"$RUN_DIR/status.out" \
    || fail "scripts/run --status: $(cat "$RUN_DIR/status.out")"
grep -q "^name=archive pid=[0-9]* state=running restarts=1 " "$RUN_DIR/status.out" \
    || fail "scripts/run --status shows no restarted archive: $(cat "$RUN_DIR/status.out")"
say "every acked report archived once ($SENT + $BEFORE rows, $OBJECTS objects), journal empty, none dead"

# --------------------------------------------------------------- 2. SIGTERM stops everything

kill -TERM "$RUN_PID"
rc=0
wait "$RUN_PID" || rc=$?
RUN_PID=""
[[ $rc == 0 ]] || fail "scripts/run exited $rc on SIGTERM"
nothing_left "after SIGTERM"
[[ ! -e $STATUS ]] || fail "the supervisor's status file outlives the stack"
if DRIFT_RUN_DIR=$STATE "$SRC/scripts/run" --status >"$RUN_DIR/status.out" 2>&1; then
    fail "scripts/run --status answers for a stopped stack: $(cat "$RUN_DIR/status.out")"
fi
say "SIGTERM: exit 0, nothing left running"

# --------------------------------------------------------------- 3. a crash loop

export DRIFT_RUN_CRASH_LIMIT=3 DRIFT_RUN_CRASH_WINDOW=300
start_run --no-demo
wait_until 120 "the stack up again" supervising
for n in 1 2 3; do
    wait_until 30 "normalize in the supervisor's status" has_pid normalize
    pid=$(field normalize pid)
    [[ $pid =~ ^[0-9]+$ ]] || fail "crash loop: normalize has no pid"
    kill -KILL "$pid" || fail "crash loop: kill -9 normalize ($pid)"
    [[ $n == 3 ]] || wait_until 60 "normalize restarted ($n)" restarted normalize "$pid" "$n"
done
rc=0
for _ in $(seq 1 300); do kill -0 "$RUN_PID" 2>/dev/null || break; sleep 0.2; done
wait "$RUN_PID" || rc=$?
RUN_PID=""
[[ $rc != 0 ]] || fail "scripts/run exited 0 after a crash loop"
grep -q "ERROR: normalize crashed 3 times within 300 s .*a crash loop, giving up" "$RUN_DIR/run.err" \
    || fail "no crash-loop message"
nothing_left "after the crash loop"
say "crash loop: normalize killed 3 times, scripts/run gave up (exit $rc), nothing left running"
