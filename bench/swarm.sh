#!/usr/bin/env bash
# bench/swarm.sh -- reports archived per second by the stack on Docker Swarm
# with 1, 2 and 4 replicas of the archive stage (scripts/bench swarm; issue
# 22). A bench: it prints numbers and asserts nothing about them.
#
# It deploys compose/docker-stack.yml on a one-node swarm of the compose
# test's engine and images (scripts/lib/swarm.sh), like the Swarm test, with
# the per-agent rate limit lifted (DRIFT_AGENT_RATE), then for each replica
# count: `docker service scale archive=N`, waits until `drift status` lists N
# archive workers, and streams reports for SWARM_BENCH_WARMUP (10) +
# SWARM_BENCH_SECONDS (30) + 15 s from bench_stream (bench/stream.c: the agent
# link on SWARM_BENCH_CONNECTIONS (8) threads, 64 reports in flight each, a
# plan with drift over 100 stacks per thread, so drift persists from one
# report to the next as between checks) in a container on the stack's
# frontend network, the host's release build mounted into the drift image.
# It counts the reports archived in the window after the warm-up. With each
# figure it prints what shows where the limit is: the broker's queue and
# in-flight count per stage at the end of the window (a stage with work
# waiting is behind), each service's CPU share (docker stats; 200 % is both
# cores) and the ingest acks of the stream.
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT" || exit 1
SVC_LOG_NAME=bench-swarm
# shellcheck source=../scripts/lib/docker.sh
source "$ROOT/scripts/lib/docker.sh"
# shellcheck source=../scripts/lib/swarm.sh
source "$ROOT/scripts/lib/swarm.sh"

DRIFT_BIN=${DRIFT_BIN:-$ROOT/build/release/drift}
WORK=$ROOT/var/bench-swarm-$$
STREAM_BIN=${STREAM_BIN:-$ROOT/build/release/bench_stream}
CONNECTIONS=${SWARM_BENCH_CONNECTIONS:-8}
WARMUP=${SWARM_BENCH_WARMUP:-10}
WINDOW=${SWARM_BENCH_SECONDS:-30}
STREAM_ID=""
S=$SWARM_STACK
RESULTS=()

say() { printf '[bench swarm] %s\n' "$*" >&2; }
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    [[ -z $STREAM_ID ]] || docker rm -f "$STREAM_ID" >/dev/null 2>&1
    swarm_down
    docker_engine_stop
    rm -rf "$WORK"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
die() { say "ERROR: $*"; exit 1; }

[[ $EUID -eq 0 ]] || die "runs as root (it starts dockerd)"
[[ -x $DRIFT_BIN ]] || die "no $DRIFT_BIN (scripts/bench builds it)"
[[ -x $STREAM_BIN ]] || die "no $STREAM_BIN (scripts/bench builds it)"
mkdir -p "$WORK"
docker_engine_start || die "no Docker engine"
docker_engine_lock || die "the engine is busy"
docker_base_image "$WORK" || die "no base image"
say "building the images"
swarm_images "$ROOT" "$WORK" || { tail -n 20 "$WORK/build.log"; die "building the images"; }
say "deploying the stack"
DRIFT_AGENT_RATE=1000000 DRIFT_AGENT_BURST=1000000 SWARM_LOG_LEVEL=warn swarm_up "$ROOT" "$WORK" || { tail -n 20 "$WORK/deploy.log"; die "swarm_up"; }
swarm_tenant || die "tenant, agent and channel"

archived() { swarm_sql "SELECT count(*) FROM reports"; }
archive_workers() { [[ $(swarm_workers archive) == "$1" ]]; }
stages_idle() { [[ $(swarm_status | jq '[.stages[] | .queued + .in_flight] | add') == 0 ]]; }
# The services' CPU share over a few seconds, as "name=NN%" words.
cpu_shares() {
    # shellcheck disable=SC2046  # one argument per container
    docker stats --no-stream --format '{{.Name}} {{.CPUPerc}}' \
        $(docker ps -q --filter "label=com.docker.stack.namespace=$S") \
        | sed "s/^${S}_\([a-z]*\)\.[^ ]* /\1=/" | awk -F= '{ split($2, p, "%"); c[$1] += p[1] }
            END { for (n in c) printf "%s=%.0f%% ", n, c[n] }'
}

# The stream: bench_stream in the drift image (it has the libraries the
# host's build links), as the agent the Swarm test uses.
stream_start() {
    local conf=$WORK/agent/agent-1.conf key
    key=$(sed -n 's/^server-key = //p' "$conf")
    [[ ${#key} -eq 40 ]] || return 1
    STREAM_ID=$(docker run -d --network "${S}_frontend" --user 10002:10002 \
        -v "$STREAM_BIN:/usr/local/bin/bench_stream:ro" -v "$WORK/agent:/agent:ro" \
        -v "$ROOT/examples/reports:/plans:ro" --entrypoint bench_stream "$SWARM_IMAGE" \
        tcp://ingest:5560 "$key" /agent/agent-1.cert /plans/orders-queue.plan.json "$1" \
        "$CONNECTIONS" $((WARMUP + WINDOW + 15)))
}

for n in 1 2 4; do
    docker service scale --detach "${S}_archive=$n" >/dev/null || die "scale archive=$n"
    _swarm_wait 120 archive_workers "$n" || die "drift status lists no $n archive workers after 120 s"
    stream_start "b$n" || die "the stream"
    sleep "$WARMUP"
    c0=$(archived); t0=$EPOCHREALTIME
    # docker stats samples for about 2 s: taken in the window's last seconds.
    sleep $((WINDOW - 3))
    cpu=$(cpu_shares)
    c1=$(archived); t1=$EPOCHREALTIME
    stages=$(swarm_status | jq -r '[.stages[] | "\(.name) queued \(.queued) in flight \(.in_flight)"] | join(", ")')
    [[ $(docker wait "$STREAM_ID") == 0 ]] || say "the stream had reports refused or unanswered"
    acks=$(docker logs "$STREAM_ID" 2>&1 | tail -n 1)
    docker rm "$STREAM_ID" >/dev/null; STREAM_ID=""
    rate=$(awk -v a="$c0" -v b="$c1" -v s="$t0" -v e="$t1" 'BEGIN { printf "%.1f", (b - a) / (e - s) }')
    RESULTS+=("$(printf 'archive x%d: %6s reports/s archived; broker: %s; CPU: %s; stream: %s' \
        "$n" "$rate" "$stages" "$cpu" "$acks")")
    say "${RESULTS[-1]}"
    # Let the queue drain, so the next count starts from an idle stack.
    _swarm_wait 300 stages_idle || say "the stages did not drain in 300 s"
done

echo "Swarm, one node, $(nproc) cores: reports archived per second over $WINDOW s after $WARMUP s, $CONNECTIONS agent connections streaming (64 in flight each)"
printf '  %s\n' "${RESULTS[@]}"
