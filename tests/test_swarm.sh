#!/usr/bin/env bash
# tests/test_swarm.sh -- the stack on Docker Swarm, scaled and upgraded while
# reports stream (ctest: swarm; issue 22). Needs root, docker.io,
# debootstrap, jq (scripts/setup) and DRIFT_BIN (set by ctest, for
# install.sh's `drift keys init`).
#
#   1. the Docker engine and base image of the compose test (scripts/lib/
#      docker.sh), its lock, and this checkout's images on its layer cache;
#   2. a one-node swarm; scripts/install.sh (keys, .env, secrets) and
#      compose/stack-deploy.sh: compose/docker-stack.yml as stack
#      drift-swarm-test, its secrets as Swarm secrets; an SMTP sink service;
#      the first tenant, its agent and an email channel; one report over
#      HTTPS through the stack's Caddy (client certificate from the local
#      CA) to ingest's HTTPS face, archived;
#   3. drift-agent streams reports without pause, each to a stack of its own
#      (so each opens new drift and is told by one email), while
#        a. `docker service scale normalize=3 archive=2`: `drift status`
#           lists the new workers (the seconds it took are printed);
#        b. every drift role is updated (`docker service update --image`) to
#           an image rebuilt from the Dockerfile with a new label (a new
#           image ID): every task runs it at the end, none rolled back;
#        c. `docker kill` of a score task's container: Swarm starts another;
#      reports are acked after each step;
#   4. every acked report archived exactly once (a row and a sealed object
#      each, nothing else), the journal empty, nothing dead-lettered, one
#      email per report and none twice;
#   5. stack rm, volumes removed, swarm left: nothing of it remains.
# Every wait is bounded; the teardown runs on every exit path.
set -uo pipefail

ROOT=${DRIFT_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
cd "$ROOT" || exit 1
SVC_LOG_NAME=swarm
# shellcheck source=../scripts/lib/docker.sh
source "$ROOT/scripts/lib/docker.sh"
# shellcheck source=../scripts/lib/swarm.sh
source "$ROOT/scripts/lib/swarm.sh"

DRIFT_BIN=${DRIFT_BIN:-$ROOT/build/test/drift}
WORK=${DRIFT_TEST_VAR_DIR:-$ROOT/var}/swarm-$$
REBUILT=dd0c/drift:swarm-rebuilt
S=$SWARM_STACK
START=$SECONDS
PHASE_AT=$SECONDS
FIGURES=()

say() { printf '[swarm %4ds] %s\n' "$((SECONDS - START))" "$*"; }
# figure NAME SECONDS: a line of the closing figures.
figure() { FIGURES+=("$(printf '%-62s %5d s' "$1" "$2")"); }
# phase NAME: passed, with the seconds since the last phase.
phase() { figure "$1" $((SECONDS - PHASE_AT)); say "PASS $1 ($((SECONDS - PHASE_AT)) s)"; PHASE_AT=$SECONDS; }
diagnose() {
    echo "---- docker service ls"
    docker service ls 2>&1 | tail -n 20
    local service
    for service in $(docker service ls -q --filter "label=com.docker.stack.namespace=$S" 2>/dev/null); do
        echo "---- $(docker service inspect -f '{{.Spec.Name}}' "$service"): tasks and last log lines"
        docker service ps --no-trunc "$service" 2>&1 | head -n 6 | cut -c1-220
        docker service logs --tail 5 "$service" 2>&1 | cut -c1-300
    done
}
fail() {
    say "FAIL $*"
    diagnose
    exit 1
}
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    [[ ${#SWARM_STREAM_IDS[@]} -eq 0 ]] || docker rm -f "${SWARM_STREAM_IDS[@]}" >/dev/null 2>&1
    swarm_down
    docker image rm "$REBUILT" >/dev/null 2>&1
    docker_engine_stop
    local verdict=PASSED
    [[ $rc -eq 0 ]] || verdict="FAILED (exit $rc)"
    [[ ${KEEP_VAR:-0} == 1 ]] || rm -rf "$WORK"
    say "swarm: $verdict"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# wait_for SECONDS WHAT COMMAND...: until COMMAND succeeds (polled every
# 2 s), or fail.
wait_for() {
    local limit=$1 what=$2
    shift 2
    _swarm_wait "$limit" "$@" || fail "$what: not within $limit s"
}
acked_beyond() { [[ $(swarm_acked) -ge $1 ]]; }
# more_acked WHAT: 5 more reports acked than now (the stack still serves).
more_acked() {
    local want=$(($(swarm_acked) + 5))
    wait_for 180 "5 more reports acked $1" acked_beyond "$want"
    [[ -z $(grep -v '^sent ' "$WORK/ctl/sent-s.txt") ]] || fail "the stream: $(grep -v '^sent ' "$WORK/ctl/sent-s.txt" | head -n 3)"
}

[[ $EUID -eq 0 && -x $DRIFT_BIN ]] || fail "runs as root (it starts dockerd), with DRIFT_BIN (now '$DRIFT_BIN')"
missing=$(for tool in docker debootstrap jq; do command -v "$tool" >/dev/null || echo "$tool"; done)
[[ -z $missing ]] || fail "not installed (scripts/setup): $missing"
mkdir -p "$WORK" || fail "cannot create $WORK"

# ---------------------------------------------------------------- 1. engine, images

docker_engine_start || fail "no Docker engine"
docker_engine_lock || fail "the engine is busy"
# A stack an earlier run left (SIGKILL before its teardown).
if [[ -n $(docker stack ls --format '{{.Name}}' 2>/dev/null | grep -x "$S") ]]; then
    say "removing the stack an earlier run left"
    _SWARM_WORK=$WORK swarm_down
fi
docker_base_image "$WORK" || fail "no base image"
phase "Docker engine and base image"
swarm_images "$ROOT" "$WORK" || { tail -n 30 "$WORK/build.log"; fail "building the images"; }
OLD_ID=$(docker image inspect -f '{{.Id}}' "$SWARM_IMAGE")
phase "images built"

# ---------------------------------------------------------------- 2. deploy

swarm_up "$ROOT" "$WORK" || { cat "$WORK/install.out" "$WORK/deploy.log" 2>/dev/null | tail -n 30; fail "swarm_up"; }
for secret in broker_key_secret service_conf role_normalize_secret archive_key; do
    docker secret inspect "${S}_$secret" >/dev/null 2>&1 || fail "no Swarm secret ${S}_$secret"
done
# No password in any service's environment or command line.
for service in $(docker service ls -q --filter "label=com.docker.stack.namespace=$S"); do
    spec=$(docker service inspect -f '{{json .Spec.TaskTemplate.ContainerSpec}}' "$service")
    for key in POSTGRES_PASSWORD DRIFT_SERVICE_PASSWORD REDIS_PASSWORD DRIFT_PROXY_SECRET; do
        value=$(_swarm_env "$key")
        [[ $spec != *"$value"* ]] || fail "$(docker service inspect -f '{{.Spec.Name}}' "$service") carries $key in its spec"
    done
done
phase "stack deployed: every task running, the broker sees every stage"
swarm_tenant || { cat "$WORK/tenant.log"; fail "tenant, agent and channel"; }
phase "tenant, agent and email channel"
swarm_https_send https-1 >"$WORK/https.out" 2>&1 || { cat "$WORK/https.out"; fail "drift-agent send over HTTPS through Caddy"; }
HTTPS_ID=$(sed -n 's/^sent //p' "$WORK/https.out")
[[ -n $HTTPS_ID ]] || fail "no report id acked over HTTPS: $(cat "$WORK/https.out")"
https_archived() { [[ $(swarm_sql "SELECT count(*) FROM reports WHERE report_id = '$HTTPS_ID'") == 1 ]]; }
wait_for 120 "the report sent over HTTPS archived" https_archived
phase "a report over HTTPS through Caddy's agent site to ingest's HTTPS face, archived"

# ---------------------------------------------------------------- 3. a stream, scaled, upgraded, killed

swarm_stream_start s || fail "the agent's stream did not start"
wait_for 120 "the first reports acked" acked_beyond 5
say "streaming: $(swarm_acked) reports acked"

# a. scale
t0=$SECONDS
docker service scale --detach "${S}_normalize=3" "${S}_archive=2" >"$WORK/scale.log" 2>&1 \
    || { cat "$WORK/scale.log"; fail "docker service scale"; }
scaled() { [[ $(swarm_workers normalize) == 3 && $(swarm_workers archive) == 2 ]]; }
wait_for 120 "drift status lists 3 normalize and 2 archive workers" scaled
swarm_status >"$WORK/status-scaled.json" || fail "drift status"
figure "scale normalize=3 archive=2 until drift status lists them" $((SECONDS - t0))
say "drift status: $(jq -c '[.workers[] | .stage] | group_by(.) | map({(.[0]): length}) | add' "$WORK/status-scaled.json")"
more_acked "after the scale"
phase "scaled mid-stream: drift status lists the new workers"

# b. a rebuilt image, every role updated to it
ca=compose/extra-ca/none.pem
[[ -n ${NODE_EXTRA_CA_CERTS:-} ]] && ca=compose/extra-ca/host.pem
DOCKER_BUILDKIT=0 docker build -t "$REBUILT" --label "org.dd0c.drift.rebuild=$(date +%s%N)" \
    --build-arg "DEBIAN_IMAGE=$DRIFT_TEST_BASE_IMAGE" --build-arg "EXTRA_CA_CERTS=$ca" "$ROOT" \
    >"$WORK/rebuild.log" 2>&1 || { tail -n 20 "$WORK/rebuild.log"; fail "the rebuild"; }
NEW_ID=$(docker image inspect -f '{{.Id}}' "$REBUILT")
[[ $NEW_ID != "$OLD_ID" ]] || fail "the rebuilt image has the old image ID"
for role in "${SWARM_ROLES[@]}"; do
    docker service update --detach --image "$REBUILT" "${S}_$role" >>"$WORK/update.log" 2>&1 \
        || { cat "$WORK/update.log"; fail "docker service update --image of $role"; }
done
# Every role's update completed and each of its running tasks on the new ID.
updated() {
    local role state id
    for role in "${SWARM_ROLES[@]}"; do
        state=$(docker service inspect -f '{{if .UpdateStatus}}{{.UpdateStatus.State}}{{end}}' "${S}_$role")
        [[ $state != rollback* ]] || fail "$role's update rolled back: $(docker service inspect -f '{{.UpdateStatus.Message}}' "${S}_$role")"
        [[ $state == completed ]] || return 1
        for id in $(docker ps -q --filter "label=com.docker.swarm.service.name=${S}_$role" --filter status=running); do
            [[ $(docker inspect -f '{{.Image}}' "$id") == "$NEW_ID" ]] || return 1
        done
    done
}
t0=$SECONDS
wait_for 900 "every role updated to the rebuilt image" updated
figure "every role updated to the rebuilt image (rolling)" $((SECONDS - t0))
wait_for 120 "drift status lists 3 normalize and 2 archive workers after the update" scaled
more_acked "after the update"
phase "every role upgraded mid-stream to a rebuilt image"

# c. docker kill of a task's container
victim=$(swarm_task_container score)
[[ -n $victim ]] || fail "no running score container"
docker kill "$victim" >/dev/null || fail "docker kill $victim"
replaced() {
    local now
    now=$(swarm_task_container score)
    [[ -n $now && $now != "$victim" && $(swarm_workers score) -ge 1 ]]
}
wait_for 120 "Swarm starts another score task" replaced
more_acked "after the kill"
phase "a score task's container killed: Swarm replaced it"

swarm_stream_stop || fail "the agent's stream ended badly: $(tail -n 5 "$WORK/stream.log"; grep -v '^sent ' "$WORK/ctl/sent-s.txt" | head -n 3)"
SENT=$(swarm_acked)
[[ $(sed -n 's/^sent //p' "$WORK/ctl/sent-s.txt" | sort | uniq -d | wc -l) == 0 ]] || fail "a report id acked twice"
say "$SENT reports acked"

# ---------------------------------------------------------------- 4. exactly once

stream_rows() {
    swarm_sql "SELECT count(*) FROM reports r JOIN stacks s ON s.tenant_id = r.tenant_id AND s.id = r.stack_id WHERE s.name LIKE 's-%'"
}
all_archived() { [[ $(stream_rows) -ge $SENT ]]; }
wait_for 300 "all $SENT acked reports archived" all_archived
journal_empty() { [[ $(swarm_sql "SELECT count(*) FROM pgmq.q_drift_journal") == 0 ]]; }
wait_for 240 "the journal empty" journal_empty
ids=$(sed -n "s/^sent \(.*\)/'\1'/p" "$WORK/ctl/sent-s.txt" | paste -sd,)
[[ $(swarm_sql "SELECT count(DISTINCT report_id) FROM reports WHERE report_id IN ($ids)") == "$SENT" ]] \
    || fail "not every acked report is archived"
rows=$(stream_rows)
[[ $rows == "$SENT" ]] || fail "$rows reports archived for $SENT acked: each once, nothing else"
all_rows=$(swarm_sql "SELECT count(*) FROM reports")
objects=$(docker exec "$(swarm_task_container archive)" find /var/lib/drift/archive -type f | wc -l)
[[ $objects == "$all_rows" ]] || fail "$objects sealed objects for $all_rows reports"
dead=$(swarm_sql "SELECT count(*) FROM pgmq.q_drift_dead")
[[ $dead == 0 ]] || fail "$dead reports dead-lettered"
smtp=$(docker ps -q --filter "label=com.docker.swarm.service.name=${S}-smtp" --filter status=running | head -n 1)
mails() { docker exec "$smtp" sh -c 'grep -h "^Subject: \[drift\] s-" /mail/*.eml 2>/dev/null' >"$WORK/subjects.txt"; [[ $(wc -l <"$WORK/subjects.txt") -ge $SENT ]]; }
wait_for 240 "one email per report ($SENT)" mails
sleep 5
mails
[[ $(wc -l <"$WORK/subjects.txt") == "$SENT" ]] || fail "$(wc -l <"$WORK/subjects.txt") emails for $SENT reports"
[[ $(sort "$WORK/subjects.txt" | uniq -d | wc -l) == 0 ]] || fail "an email sent twice: $(sort "$WORK/subjects.txt" | uniq -d | head -n 3)"
phase "$SENT reports: each archived once, emailed once; journal empty, none dead"

# Each container's memory, for the stack file's resource limits.
# shellcheck disable=SC2046  # one argument per container
while read -r name mem; do
    FIGURES+=("$(printf '%-62s %s' "memory of ${name%%.*}" "$mem")")
done < <(docker stats --no-stream --format '{{.Name}} {{.MemUsage}}' \
             $(docker ps -q --filter "label=com.docker.stack.namespace=$S") | sed 's| / .*||' | sort)

# ---------------------------------------------------------------- 5. down

swarm_down
[[ -z $(docker ps -aq --filter "label=com.docker.stack.namespace=$S") ]] || fail "containers left after stack rm"
[[ -z $(docker volume ls -q --filter "label=com.docker.stack.namespace=$S") ]] || fail "volumes left after stack rm"
phase "stack removed, volumes removed, swarm left"

say "figures"
printf '  %s\n' "${FIGURES[@]}"
