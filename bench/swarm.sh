#!/usr/bin/env bash
# bench/swarm.sh -- reports archived per second by the stack on Docker Swarm
# with 1, 2 and 4 replicas of the archive stage (scripts/bench swarm; issue
# 22). A bench: it prints numbers and asserts nothing about them.
#
# It deploys compose/docker-stack.yml on a one-node swarm of the compose
# test's engine and images (scripts/lib/swarm.sh), like the Swarm test, then
# for each replica count: `docker service scale archive=N`, waits until
# `drift status` lists N archive workers, starts SWARM_BENCH_AGENTS (8)
# agent containers sending reports back to back (each a new stack, so notify
# sends an email for each too), lets them warm up (10 s) and counts the
# reports archived over SWARM_BENCH_SECONDS (30). With each figure it prints
# what shows where the limit is: the broker's queue and in-flight count per
# stage at the end of the window (a stage with work waiting is behind) and
# each service's CPU share (docker stats; 200 % is both cores).
#
# Archive is the stage scaled: bench/archive measures it as the slowest
# stage (about 700 reports/s alone, one PL/pgSQL call per report).
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
AGENTS=${SWARM_BENCH_AGENTS:-8}
WINDOW=${SWARM_BENCH_SECONDS:-30}
S=$SWARM_STACK
RESULTS=()

say() { printf '[bench swarm] %s\n' "$*" >&2; }
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    [[ ${#SWARM_STREAM_IDS[@]} -eq 0 ]] || docker rm -f "${SWARM_STREAM_IDS[@]}" >/dev/null 2>&1
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
mkdir -p "$WORK"
docker_engine_start || die "no Docker engine"
docker_engine_lock || die "the engine is busy"
docker_base_image "$WORK" || die "no base image"
say "building the images"
swarm_images "$ROOT" "$WORK" || { tail -n 20 "$WORK/build.log"; die "building the images"; }
say "deploying the stack"
SWARM_LOG_LEVEL=warn swarm_up "$ROOT" "$WORK" || { tail -n 20 "$WORK/deploy.log"; die "swarm_up"; }
swarm_tenant || die "tenant, agent and channel"

archived() { swarm_sql "SELECT count(*) FROM reports"; }
archive_workers() { [[ $(swarm_workers archive) == "$1" ]]; }
# The services' CPU share over a few seconds, as "name=NN%" words.
cpu_shares() {
    # shellcheck disable=SC2046  # one argument per container
    docker stats --no-stream --format '{{.Name}} {{.CPUPerc}}' \
        $(docker ps -q --filter "label=com.docker.stack.namespace=$S") \
        | sed "s/^${S}_\([a-z]*\)\.[^ ]* /\1=/" | awk -F= '{ split($2, p, "%"); c[$1] += p[1] }
            END { for (n in c) printf "%s=%.0f%% ", n, c[n] }'
}

for n in 1 2 4; do
    docker service scale --detach "${S}_archive=$n" >/dev/null || die "scale archive=$n"
    _swarm_wait 120 archive_workers "$n" || die "drift status lists no $n archive workers after 120 s"
    for a in $(seq 1 "$AGENTS"); do swarm_stream_start "b$n-$a" || die "agent $a"; done
    sleep 10
    c0=$(archived); t0=$EPOCHREALTIME
    sleep "$WINDOW"
    cpu=$(cpu_shares)
    c1=$(archived); t1=$EPOCHREALTIME
    stages=$(swarm_status | jq -r '[.stages[] | "\(.name) queued \(.queued) in flight \(.in_flight)"] | join(", ")')
    swarm_stream_stop || say "a sender had a report not acked"
    rate=$(awk -v a="$c0" -v b="$c1" -v s="$t0" -v e="$t1" 'BEGIN { printf "%.1f", (b - a) / (e - s) }')
    RESULTS+=("$(printf 'archive x%d: %6s reports/s archived (%d agents); broker: %s; CPU: %s' \
        "$n" "$rate" "$AGENTS" "$stages" "$cpu")")
    say "${RESULTS[-1]}"
done

echo "Swarm, one node, $(nproc) cores: reports archived per second over $WINDOW s, $AGENTS agents sending back to back"
printf '  %s\n' "${RESULTS[@]}"
