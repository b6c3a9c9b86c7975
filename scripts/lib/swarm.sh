# scripts/lib/swarm.sh -- the drift stack on a one-node Docker Swarm, for the
# Swarm test (tests/test_swarm.sh) and the Swarm bench (bench/swarm.sh).
# Source it after scripts/lib/docker.sh; do not execute it.
# shellcheck shell=bash
#
#   swarm_images WORK     build this checkout's images with the classic
#                         builder, on the compose test's base image and layer
#                         cache (same Dockerfiles, same arguments: a warm
#                         cache rebuilds only what changed)
#   swarm_up WORK         swarm init (when the engine is in no swarm), an
#                         installation by scripts/install.sh (no docker: keys,
#                         .env, secrets/), compose/stack-deploy.sh, and an
#                         SMTP sink service `smtp` on the stack's frontend;
#                         waits until every role's tasks run and the broker
#                         sees a worker of every stage
#   swarm_tenant          tenant `default`, agent `agent-1` (its certificate
#                         and configuration in WORK/agent, endpoint ingest:5560;
#                         its client certificate and HTTPS configuration,
#                         agent-1-https.conf, endpoint https://localhost:8443)
#                         and an email channel to the sink, min severity low
#   swarm_https_send STACK
#                         drift-agent sends one report over HTTPS through the
#                         stack's Caddy (in Caddy's network namespace, so that
#                         `localhost` is Caddy's site; Caddy's root CA copied
#                         out as the agent's `ca`); prints "sent ID"
#   swarm_down            stack rm, the sink removed, the stack's volumes
#                         removed, swarm leave when swarm_up initialised it
#   swarm_op ARGS...      a drift operator command as the owner, in a
#                         container on the stack's backend network
#   swarm_sql SQL         one value from PostgreSQL, as the owner, in the
#                         postgres task's container
#   swarm_status          drift status --format json through the broker
#   swarm_stream_start PREFIX
#                         drift-agent in a container on frontend sends one
#                         report after the other (stack PREFIX-N, a new stack
#                         each, so each opens new drift and is told once by
#                         email) until swarm_stream_stop; acked ids in
#                         WORK/ctl/sent-PREFIX.txt. Several may run at once.
#   swarm_stream_stop     stop them all; 1 when one had a report not acked
#   swarm_acked           how many reports the streams have had acked
#   swarm_workers STAGE   how many workers of STAGE the broker lists
#   swarm_task_container SERVICE
#                         the id of a running container of SERVICE
#
# The stack is SWARM_STACK (drift-swarm-test); its drift image SWARM_IMAGE.
# Nothing is published: the agent and the operator run in containers on the
# stack's attachable overlay networks (Swarm can publish on every address
# only, and these machines keep servers on loopback).

SWARM_STACK=${SWARM_STACK:-drift-swarm-test}
SWARM_IMAGE=${SWARM_IMAGE:-dd0c/drift:0.1.0}
SWARM_AGENT_IMAGE=drift-test/drift-agent
SWARM_PG_IMAGE=drift-test/postgres:15
SWARM_REDIS_IMAGE=drift-test/redis:7
SWARM_SMTP_IMAGE=drift-test/smtp-sink
SWARM_CADDY_IMAGE=drift-test/caddy:2
SWARM_ROLES=(broker ingest normalize score archive notify replayer api)
_SWARM_INITIALISED=""
_SWARM_WORK=""
_SWARM_CA_COPY=""

_swarm_log() { printf '[%s] %s\n' "${SVC_LOG_NAME:-swarm}" "$*" >&2; }

# ---------------------------------------------------------------- images

# _swarm_build TAG DOCKERFILE CONTEXT [ARG=VALUE...]
_swarm_build() {
    local tag=$1 file=$2 context=$3 arg args=()
    shift 3
    for arg in "$@"; do args+=(--build-arg "$arg"); done
    DOCKER_BUILDKIT=0 timeout 1800 docker build -t "$tag" -f "$file" "${args[@]}" "$context" \
        >>"$_SWARM_WORK/build.log" 2>&1
}

swarm_images() {
    local root=$1 ca=compose/extra-ca/none.pem base="DEBIAN_IMAGE=$DRIFT_TEST_BASE_IMAGE"
    _SWARM_WORK=$2
    # As the compose test: the host's extra CA for the dashboard's npm ci.
    if [[ -n ${NODE_EXTRA_CA_CERTS:-} ]]; then
        cp "$NODE_EXTRA_CA_CERTS" "$root/compose/extra-ca/host.pem" || return 1
        _SWARM_CA_COPY=$root/compose/extra-ca/host.pem
        ca=compose/extra-ca/host.pem
    fi
    _swarm_build "$SWARM_IMAGE" "$root/Dockerfile" "$root" "$base" "EXTRA_CA_CERTS=$ca" \
        && _swarm_build "$SWARM_AGENT_IMAGE" "$root/agent/Dockerfile" "$root" "$base" \
        && _swarm_build "$SWARM_PG_IMAGE" "$root/compose/test/postgres/Dockerfile" "$root/compose/test/postgres" "$base" \
        && _swarm_build "$SWARM_REDIS_IMAGE" "$root/compose/test/redis/Dockerfile" "$root/compose/test/redis" "$base" \
        && _swarm_build "$SWARM_SMTP_IMAGE" "$root/compose/test/smtp/Dockerfile" "$root" "$base" \
        && _swarm_build "$SWARM_CADDY_IMAGE" "$root/compose/test/caddy/Dockerfile" "$root/compose/test/caddy" "$base"
}

# ---------------------------------------------------------------- up and down

# All tasks of every role running (desired replicas), migrate and dbrole done.
_swarm_converged() {
    local name replicas
    while read -r name replicas; do
        case $name in
            "${SWARM_STACK}_migrate"|"${SWARM_STACK}_dbrole") ;;
            *) [[ ${replicas%/*} == "${replicas#*/}" && ${replicas%/*} != 0 ]] || return 1 ;;
        esac
    done < <(docker service ls --filter "label=com.docker.stack.namespace=$SWARM_STACK" --format '{{.Name}} {{.Replicas}}')
    [[ $(docker service ps "${SWARM_STACK}_dbrole" --filter desired-state=shutdown --format '{{.CurrentState}}' \
         | grep -c '^Complete') -ge 1 ]]
}

_swarm_every_stage() {
    local s
    for s in normalize score archive notify; do
        [[ $(swarm_workers "$s") -ge 1 ]] || return 1
    done
}

# _swarm_wait SECONDS COMMAND...: poll every 2 s; 1 when time ran out.
_swarm_wait() {
    local until=$((SECONDS + $1))
    shift
    until "$@"; do
        [[ $SECONDS -lt $until ]] || return 1
        sleep 2
    done
}

swarm_up() {
    local root=$1 work=$2 state
    _SWARM_WORK=$work
    SWARM_DIR=$work/drift
    state=$(docker info --format '{{.Swarm.LocalNodeState}}')
    if [[ $state == inactive ]]; then
        docker swarm init --advertise-addr 127.0.0.1 >"$work/swarm-init.log" 2>&1 || return 1
        _SWARM_INITIALISED=1
        _swarm_log "swarm initialised (one node, advertised on 127.0.0.1)"
    fi
    DRIFT_INSTALL_NO_DOCKER=1 DRIFT_EGRESS_ALLOW_HOSTS=smtp DRIFT_LOG_LEVEL=${SWARM_LOG_LEVEL:-info} \
        PATH="/usr/sbin:/usr/bin:/sbin:/bin" DRIFT_BIN="$DRIFT_BIN" \
        bash "$root/scripts/install.sh" "$SWARM_DIR" >"$work/install.out" 2>&1 || return 1
    # DRIFT_CHANNEL_RATE=0: the test's relay takes every email at once (the
    # default, 60 a minute to one channel, would pace a stream's emails).
    DRIFT_RESOLVE_IMAGE=never DRIFT_CHANNEL_RATE=0 DRIFT_IMAGE=$SWARM_IMAGE DRIFT_POSTGRES_IMAGE=$SWARM_PG_IMAGE \
        DRIFT_REDIS_IMAGE=$SWARM_REDIS_IMAGE DRIFT_CADDY_IMAGE=$SWARM_CADDY_IMAGE "$root/compose/stack-deploy.sh" "$SWARM_DIR" "$SWARM_STACK" \
        >"$work/deploy.log" 2>&1 || return 1
    # The mail relay: reached as `smtp` on frontend, like one outside the stack.
    docker service create --detach --name "${SWARM_STACK}-smtp" --endpoint-mode dnsrr \
        --network "name=${SWARM_STACK}_frontend,alias=smtp" "$SWARM_SMTP_IMAGE" >>"$work/deploy.log" 2>&1 \
        || return 1
    _swarm_wait 300 _swarm_converged || { _swarm_log "the stack did not converge in 300 s"; return 1; }
    _swarm_wait 120 _swarm_every_stage || { _swarm_log "the broker lists no worker of some stage after 120 s"; return 1; }
}

swarm_down() {
    local left
    [[ -n $_SWARM_WORK ]] || return 0
    docker service rm "${SWARM_STACK}-smtp" >/dev/null 2>&1
    docker stack rm "$SWARM_STACK" >/dev/null 2>&1
    # Containers go first, then the networks and volumes can.
    _swarm_wait 120 _swarm_nothing_runs || _swarm_log "containers of $SWARM_STACK still there after 120 s"
    left=$(docker volume ls -q --filter "label=com.docker.stack.namespace=$SWARM_STACK")
    # shellcheck disable=SC2086
    [[ -z $left ]] || _swarm_wait 60 docker volume rm $left >/dev/null 2>&1
    if [[ -n $_SWARM_INITIALISED ]]; then
        docker swarm leave --force >/dev/null 2>&1 && _swarm_log "left the swarm"
        _SWARM_INITIALISED=""
    fi
    [[ -z $_SWARM_CA_COPY ]] || rm -f "$_SWARM_CA_COPY"
    _SWARM_WORK=""
}

_swarm_nothing_runs() {
    [[ -z $(docker ps -aq --filter "label=com.docker.stack.namespace=$SWARM_STACK") \
       && -z $(docker ps -aq --filter "label=com.docker.swarm.service.name=${SWARM_STACK}-smtp") \
       && -z $(docker network ls -q --filter "label=com.docker.stack.namespace=$SWARM_STACK") ]]
}

# ---------------------------------------------------------------- operator

_swarm_env() { sed -n "s/^$1=//p" "$SWARM_DIR/.env" | tail -n1; }

swarm_task_container() {
    docker ps -q --filter "label=com.docker.swarm.service.name=${SWARM_STACK}_$1" --filter status=running | head -n 1
}

# _swarm_run DOCKER-CREATE-ARGS...: a one-off container on both of the
# stack's networks (the database is on backend only, a channel's relay on
# frontend only), its output on ours, removed after; its exit status.
_swarm_run() {
    local id rc=0
    id=$(docker create --network "${SWARM_STACK}_backend" "$@") || return 1
    docker network connect "${SWARM_STACK}_frontend" "$id" >/dev/null || { docker rm -f "$id" >/dev/null; return 1; }
    docker start -a "$id" || rc=$?
    docker rm -f "$id" >/dev/null 2>&1
    return "$rc"
}

swarm_op() {
    _swarm_run -e DRIFT_DATABASE="postgresql://drift:$(_swarm_env POSTGRES_PASSWORD)@postgres:5432/drift" \
        "$SWARM_IMAGE" "$@"
}

swarm_sql() {
    docker exec "$(swarm_task_container postgres)" psql -X -q -At -U drift -d drift -c "$1" 2>/dev/null
}

swarm_status() {
    local keys=$SWARM_DIR/secrets/keys
    timeout 30 docker run --rm --network "${SWARM_STACK}_backend" -v "$keys/roles/operator.key:/k/operator.key:ro" \
        -v "$keys/roles/operator.key_secret:/k/operator.key_secret:ro" -v "$keys/broker.key:/k/broker.key:ro" "$SWARM_IMAGE" \
        status --broker tcp://broker:5555 --broker-cert /k/operator.key --broker-key /k/broker.key --format json
}

swarm_workers() {
    swarm_status 2>/dev/null | jq --arg s "$1" '[.workers[] | select(.stage == $s)] | length' 2>/dev/null || echo 0
}

swarm_tenant() {
    local agent=$_SWARM_WORK/agent redis
    swarm_op tenant create default >>"$_SWARM_WORK/tenant.log" 2>&1 || return 1
    mkdir -p "$agent" && chmod 0700 "$agent"
    redis="redis://:$(_swarm_env REDIS_PASSWORD)@redis:6379"
    _swarm_run --user 0:0 -e DRIFT_DATABASE="postgresql://drift:$(_swarm_env POSTGRES_PASSWORD)@postgres:5432/drift" \
        -e DRIFT_REDIS="$redis" -v "$SWARM_DIR/secrets/keys/server.key:/keys/server.key:ro" \
        -v "$SWARM_DIR/secrets/keys/ca.key:/keys/ca.key:ro" -v "$SWARM_DIR/secrets/keys/ca.crt:/keys/ca.crt:ro" \
        -v "$agent:/out" "$SWARM_IMAGE" keys issue --tenant default --name agent-1 --keys-dir /keys \
        --out /out/agent-1.cert --agent-endpoint tcp://ingest:5560 --https-endpoint https://localhost:8443 \
        >"$agent/issue.out" 2>>"$_SWARM_WORK/tenant.log" || return 1
    sed -n '/^drift-agent configuration:/,/^$/p' "$agent/issue.out" | sed '1d;/^$/d' | sed 's/^ *//' \
        | sed 's|^certificate = .*|certificate = /etc/drift-agent/agent-1.cert|' >"$agent/agent-1.conf"
    grep -q '^endpoint = tcp://ingest:5560$' "$agent/agent-1.conf" || return 1
    echo "spool = /tmp/spool" >>"$agent/agent-1.conf"
    sed -n '/^drift-agent configuration over HTTPS/,/^$/p' "$agent/issue.out" | sed '1d;/^$/d' \
        | sed 's|/out/|/etc/drift-agent/|' >"$agent/agent-1-https.conf"
    grep -q '^endpoint = https://localhost:8443$' "$agent/agent-1-https.conf" || return 1
    printf '%s\n' "ca = /etc/drift-agent/server-ca.crt" "spool = /tmp/spool" >>"$agent/agent-1-https.conf"
    chown -R 10002:10002 "$agent" && chmod 0600 "$agent"/*
    # The channel, as the owner: the relay `smtp` is an internal host, allowed.
    swarm_op channel add default ops-mail --kind email --min-severity low --egress-allow-hosts smtp \
        --settings '{"url": "smtp://smtp:2525", "starttls": false, "from": "drift <drift@localhost>", "to": ["ops@localhost"]}' \
        >>"$_SWARM_WORK/tenant.log" 2>&1
}

swarm_https_send() {
    local agent=$_SWARM_WORK/agent caddy root=/data/caddy/pki/authorities/local/root.crt
    caddy=$(swarm_task_container caddy)
    [[ -n $caddy ]] || return 1
    _swarm_wait 60 docker exec "$caddy" test -s "$root" || return 1
    docker exec "$caddy" cat "$root" >"$agent/server-ca.crt" || return 1
    chown 10002:10002 "$agent/server-ca.crt" && chmod 0600 "$agent/server-ca.crt"
    docker run --rm --network "container:$caddy" -v "$agent:/etc/drift-agent:ro" \
        -v "$ROOT/examples/reports:/plans:ro" "$SWARM_AGENT_IMAGE" send \
        --config /etc/drift-agent/agent-1-https.conf --stack "$1" --timeout-s 120 /plans/orders-queue.plan.json
}

# ---------------------------------------------------------------- the stream

SWARM_STREAM_IDS=()
swarm_stream_start() {
    local prefix=$1 ctl=$_SWARM_WORK/ctl id
    mkdir -p "$ctl" && chmod 0777 "$ctl" || return 1
    [[ ${#SWARM_STREAM_IDS[@]} -gt 0 ]] || rm -f "$ctl/stop"
    : >"$ctl/sent-$prefix.txt" && chmod 0666 "$ctl/sent-$prefix.txt" || return 1
    id=$(docker run -d --network "${SWARM_STACK}_frontend" \
        -v "$_SWARM_WORK/agent:/etc/drift-agent:ro" -v "$ROOT/examples/reports:/plans:ro" -v "$ctl:/ctl" \
        --entrypoint bash "$SWARM_AGENT_IMAGE" -c "i=0
            while [ ! -f /ctl/stop ]; do
                i=\$((i + 1))
                drift-agent send --config /etc/drift-agent/agent-1.conf --stack $prefix-\$i --timeout-s 180 \
                    --log-level warn /plans/orders-queue.plan.json >>/ctl/sent-$prefix.txt \
                    || { echo \"report \$i not acked\" >>/ctl/sent-$prefix.txt; exit 1; }
            done") || return 1
    SWARM_STREAM_IDS+=("$id")
}

# Stop every stream; 0 when each ended without a report unacked.
swarm_stream_stop() {
    local id ok=0
    touch "$_SWARM_WORK/ctl/stop"
    for id in "${SWARM_STREAM_IDS[@]}"; do
        [[ $(docker wait "$id") == 0 ]] || ok=1
        docker logs "$id" >>"$_SWARM_WORK/stream.log" 2>&1
        docker rm -f "$id" >/dev/null 2>&1
    done
    SWARM_STREAM_IDS=()
    return "$ok"
}

# Reports acked by every stream so far; the ids in SWARM_WORK/ctl/sent-*.txt.
swarm_acked() { cat "$_SWARM_WORK"/ctl/sent-*.txt 2>/dev/null | grep -c '^sent ' || true; }
