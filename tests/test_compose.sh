#!/usr/bin/env bash
# tests/test_compose.sh -- the compose deployment started for real and driven
# the way a self-hosted user drives it (ctest: compose). Needs root, docker.io,
# docker-compose and debootstrap (scripts/setup installs them), DRIFT_BIN (the
# host's drift, for `drift tail` and `drift status`; set by ctest).
#
#   1. a Docker engine: the one that answers, else dockerd started here
#      (scripts/lib/docker.sh: its own socket and pid file, stopped at the
#      end; a fixed data root, so images and layers survive between runs);
#   2. the Debian 12 base image, made once with debootstrap from this
#      machine's apt mirror (no image registry is reachable);
#   3. the images, built by docker-compose from the project's Dockerfiles on
#      that base (DOCKER_BUILDKIT=0, the legacy builder), with the host's
#      NODE_EXTRA_CA_CERTS as the build's extra CA when set; the third-party
#      images swapped for the stand-ins of compose/test/ (its README);
#   4. scripts/install.sh on its docker path, then `docker-compose up -d`
#      (Grafana at scale 0: no stand-in; its provisioning is checked instead,
#      as uid 472 reads it), every service healthy;
#   5. the issued agent certificate used by `drift-agent send` from the agent
#      image against the published ingest port; the report's drift read
#      through Caddy over HTTPS (/api/v1, the first owner's login that
#      install.sh made, Caddy's CA from its volume); the email in the SMTP
#      sink; Prometheus reporting every drift target up; `drift status` and
#      `drift tail` from the host seeing every role through the published
#      broker port;
#   6. a few hundred reports streamed while archive is killed (SIGKILL) and
#      started again: every one archived once, none lost, the journal empty;
#      then `drift archive get` and `drift prune` (the prune service) on the
#      archive's store;
#   7. `down -v`: no container, network or volume of the project left.
# A second, shorter pass (DRIFT_COMPOSE_S3=1, the default) on the same images
# has the archive on S3: DRIFT_STORE=s3 and DRIFT_S3_* in .env, pointing at
# the override's S3-compatible stand-in (profile s3): install.sh, up, a
# report to the first owner's dashboard, its object in the bucket, `drift
# archive get`, `drift prune`, `down -v`.
# Every wait is bounded; `down -v` runs on every exit path. It prints how
# long each phase took, each image's size and each container's RSS.
set -uo pipefail

ROOT=${DRIFT_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
cd "$ROOT" || exit 1
SVC_LOG_NAME=compose
# shellcheck source=../scripts/lib/docker.sh
source "$ROOT/scripts/lib/docker.sh"

DRIFT_BIN=${DRIFT_BIN:-$ROOT/build/test/drift}
PYTHON=/usr/bin/python3
WORK=${DRIFT_TEST_VAR_DIR:-$ROOT/var}/compose-$$
PROJECT=drift-compose-test
STREAM=${DRIFT_COMPOSE_STREAM:-300}
EXTRA_CA="$ROOT/compose/extra-ca/host.pem"

export COMPOSE_PROJECT_NAME=$PROJECT
# Debian's docker-compose 1.29 builds through the engine's API with the
# legacy builder; BuildKit is not there (and ignores nothing we rely on).
export DOCKER_BUILDKIT=0 COMPOSE_DOCKER_CLI_BUILD=0
# docker-compose's HTTP timeout: a busy 2-core machine answers slowly.
export COMPOSE_HTTP_TIMEOUT=300

START=$SECONDS
PHASE_AT=$SECONDS
FIGURES=()
INSTALL=""
say() { printf '[compose %4ds] %s\n' "$((SECONDS - START))" "$*"; }
# phase NAME: the time since the last phase, kept for the closing figures.
phase() {
    local took=$((SECONDS - PHASE_AT))
    FIGURES+=("$(printf '%-58s %5d s' "$1" "$took")")
    say "PASS $1 (${took} s)"
    PHASE_AT=$SECONDS
}

dc() { (cd "$INSTALL" && timeout 900 docker-compose "$@"); }

diagnose() {
    [[ -n $INSTALL && -f $INSTALL/.env ]] || return 0
    echo "---- docker-compose ps"
    dc ps -a 2>&1 | tail -n 40
    echo "---- the last log lines of each service"
    dc logs --no-color --tail 15 2>&1 | tail -n 200
}

fail() {
    say "FAIL $*"
    diagnose
    exit 1
}

take_down() {
    [[ -n $INSTALL && -f $INSTALL/.env ]] || return 0
    dc --profile s3 down -v --remove-orphans --timeout 20 >/dev/null 2>&1
}

# Background commands of a pass (drift tail, the agent's stream), stopped
# by pid on every exit path.
BACKGROUND=()
cleanup() {
    local rc=$? pid
    trap - EXIT INT TERM
    for pid in "${BACKGROUND[@]}"; do
        kill "$pid" 2>/dev/null
    done
    take_down
    rm -f "$EXTRA_CA"
    docker_engine_stop
    [[ ${KEEP_VAR:-0} == 1 ]] || rm -rf "$WORK"
    if [[ $rc -eq 0 ]]; then say "compose: PASSED"; else say "compose: FAILED (exit $rc)"; fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# wait_for SECONDS WHAT COMMAND...: until COMMAND succeeds, or fail.
wait_for() {
    local limit=$1 what=$2 until=$((SECONDS + $1))
    shift 2
    until "$@"; do
        [[ $SECONDS -lt $until ]] || fail "$what: not within $limit s"
        sleep 2
    done
}

[[ $EUID -eq 0 ]] || fail "the compose test runs as root (it starts dockerd)"
[[ -x $DRIFT_BIN ]] || fail "DRIFT_BIN=$DRIFT_BIN is not an executable"
for tool in docker-compose debootstrap curl jq; do
    command -v "$tool" >/dev/null || fail "$tool is not installed (scripts/setup)"
done
mkdir -p "$WORK" || fail "cannot create $WORK"

# ---------------------------------------------------------------- 1-3. engine, base, images

docker_engine_start || fail "no Docker engine"
# One compose test at a time per engine: the project name, the fixed backend
# subnet and the published ports are the machine's.
exec 9>"$DRIFT_TEST_DOCKER_ROOT/.compose-test.lock"
flock -w 900 9 || fail "another compose test holds $DRIFT_TEST_DOCKER_ROOT/.compose-test.lock"
# A run killed before its `down -v` (SIGKILL, a lost machine) leaves its
# containers, volumes and networks behind: remove them, or this run would
# start on the old data.
leftover=$(docker ps -aq --filter "label=com.docker.compose.project=$PROJECT")
if [[ -n $leftover ]]; then
    say "removing what an earlier run left"
    # shellcheck disable=SC2086
    docker rm -f -v $leftover >/dev/null
fi
leftover=$(docker volume ls -q --filter "label=com.docker.compose.project=$PROJECT")
# shellcheck disable=SC2086
[[ -z $leftover ]] || docker volume rm $leftover >/dev/null
leftover=$(docker network ls -q --filter "label=com.docker.compose.project=$PROJECT")
# shellcheck disable=SC2086
[[ -z $leftover ]] || docker network rm $leftover >/dev/null
phase "Docker engine"

docker_base_image "$WORK" || fail "no base image"
phase "base image $DRIFT_TEST_BASE_IMAGE"

# The host's extra CA for the dashboard's npm ci (a TLS-inspecting proxy
# between this machine and the npm registry); none.pem otherwise.
CA_SETTING=compose/extra-ca/none.pem
if [[ -n ${NODE_EXTRA_CA_CERTS:-} ]]; then
    [[ -r $NODE_EXTRA_CA_CERTS ]] || fail "NODE_EXTRA_CA_CERTS=$NODE_EXTRA_CA_CERTS is not readable"
    cp "$NODE_EXTRA_CA_CERTS" "$EXTRA_CA" || fail "cannot copy $NODE_EXTRA_CA_CERTS"
    CA_SETTING=compose/extra-ca/host.pem
fi

# Ports on 127.0.0.1 only (DRIFT_*_PUBLISH): nothing leaves this machine.
read -r HTTP_PORT HTTPS_PORT AGENT_PORT BROKER_PORT AGENT_HTTPS_PORT \
    < <("$PYTHON" scripts/lib/free_port.py 5 | tr '\n' ' ')
[[ -n $AGENT_HTTPS_PORT ]] || fail "no free ports"
SETTINGS=(DRIFT_HTTP_PUBLISH=127.0.0.1 DRIFT_HTTP_PORT="$HTTP_PORT" DRIFT_HTTPS_PORT="$HTTPS_PORT"
          DRIFT_AGENT_PUBLISH=127.0.0.1 DRIFT_AGENT_PORT="$AGENT_PORT"
          DRIFT_AGENT_HTTPS_PORT="$AGENT_HTTPS_PORT"
          DRIFT_BROKER_PUBLISH=127.0.0.1 DRIFT_BROKER_PORT="$BROKER_PORT"
          DRIFT_DEBIAN_IMAGE="$DRIFT_TEST_BASE_IMAGE" DRIFT_EXTRA_CA_CERTS="$CA_SETTING"
          DRIFT_LOG_LEVEL=debug
          # the mail sink is on the stack's own (private) network: the
          # operator's allowance, as for a relay inside a company's network
          DRIFT_EGRESS_ALLOW_HOSTS=smtp)
OVERRIDE="$ROOT/compose/test/docker-compose.test.yml"

# The images are built before install.sh from a throwaway settings file, so
# that a changed checkout is rebuilt (compose only builds a missing image).
BUILD_DIR="$WORK/build"
mkdir -p "$BUILD_DIR"
cp compose/docker-compose.yml "$BUILD_DIR/"
{ cat compose/.env.example; echo "DRIFT_SOURCE=$ROOT"; printf '%s\n' "${SETTINGS[@]}"; } >"$BUILD_DIR/.env"
CACHE=warm
docker image inspect dd0c/drift:0.1.0 >/dev/null 2>&1 || CACHE=cold
say "building the images ($CACHE cache): drift, drift-agent, the stand-ins"
INSTALL=$BUILD_DIR
# Absolute: compose resolves COMPOSE_FILE against the working directory.
export COMPOSE_FILE="$BUILD_DIR/docker-compose.yml:$OVERRIDE"
# The drift image first: the agent's build stage installs the same packages
# with the same instructions, so it reuses that layer; then the rest at once.
{ dc build migrate && dc build --parallel agent postgres redis caddy prometheus smtp s3; } \
    >"$WORK/build.log" 2>&1 || { tail -n 40 "$WORK/build.log"; INSTALL=""; fail "docker-compose build"; }
INSTALL=""
phase "images built ($CACHE cache)"

# ---------------------------------------------------------------- 4-7. one pass

# env_of KEY: a setting of the installation's .env.
env_of() { sed -n "s/^$1=//p" "$INSTALL/.env" | tail -n1; }

# api METHOD PATH [JSON]: the dashboard API through Caddy, with the owner's
# token once logged in; prints the body, fails on a non-2xx answer.
TOKEN=""
api() {
    local args=(-sS --fail --max-time 20 --cacert "$PASS_DIR/caddy-root.crt"
                --resolve "localhost:$HTTPS_PORT:127.0.0.1" -X "$1")
    [[ -n $TOKEN ]] && args+=(-H "Authorization: Bearer $TOKEN")
    [[ $# -ge 3 ]] && args+=(-H 'Content-Type: application/json' --data "$3")
    curl "${args[@]}" "https://localhost:$HTTPS_PORT$2"
}

# psql_owner SQL: one value from PostgreSQL as the owner (bypasses RLS).
psql_owner() { dc exec -T postgres psql -X -q -At -U drift -d drift -c "$1" 2>/dev/null; }

services_healthy() {
    local ids line bad=0
    ids=$(docker ps -aq --filter "label=com.docker.compose.project=$PROJECT")
    [[ -n $ids ]] || return 1
    # shellcheck disable=SC2086
    while read -r line; do
        set -- $line
        case "$1" in
            migrate|dbrole) [[ $2 == exited && $4 == 0 ]] || bad=1 ;;
            smtp|s3) [[ $2 == running ]] || bad=1 ;;
            *) [[ $2 == running && $3 == healthy ]] || bad=1 ;;
        esac
    done < <(docker inspect -f '{{index .Config.Labels "com.docker.compose.service"}} {{.State.Status}} {{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}} {{.State.ExitCode}}' $ids)
    [[ $bad == 0 ]]
}

report_archived() {  # STACK
    api GET "/api/v1/reports?stack=$1" 2>/dev/null | jq -e '(.items // .) | length > 0' >/dev/null
}

mail_arrived() {
    dc exec -T smtp sh -c 'ls /mail/*.eml' >/dev/null 2>&1
}

prometheus_all_up() {
    local auth
    auth="$(env_of METRICS_USER):$(env_of METRICS_PASSWORD)"
    curl -sS --fail --max-time 20 --cacert "$PASS_DIR/caddy-root.crt" \
        --resolve "localhost:$HTTPS_PORT:127.0.0.1" -u "$auth" \
        "https://localhost:$HTTPS_PORT/prometheus/api/v1/targets" >"$PASS_DIR/targets.json" 2>/dev/null \
        || return 1
    jq -e '[.data.activeTargets[] | select(.labels.job != "prometheus")] as $t
           | ($t | length) >= 8 and ($t | all(.health == "up"))
           and ([$t[].labels.job] | unique) == ["api","archive","broker","ingest","normalize","notify","replayer","score"]' \
        "$PASS_DIR/targets.json" >/dev/null
}

# agent_send STACK PLAN: one report from the agent image, with the issued
# certificate and configuration, to the published ingest port.
agent_send() {
    dc run --rm -T -v "$PASS_DIR/agent:/etc/drift-agent:ro" -v "$ROOT/examples/reports:/plans:ro" \
        agent send --config /etc/drift-agent/agent-1.conf --stack "$1" "/plans/$2" >>"$PASS_DIR/agent.log" 2>&1
}

stream_archived() {
    local n
    n=$(psql_owner "SELECT count(*) FROM reports r JOIN stacks s ON s.tenant_id = r.tenant_id AND s.id = r.stack_id WHERE s.name LIKE 'stream-%'")
    STREAM_COUNT=${n:-0}
    [[ ${n:-0} -ge $1 ]]
}

journal_empty() {
    local n
    n=$(psql_owner "SELECT count(*) FROM pgmq.q_drift_journal")
    [[ $n == 0 ]]
}

# one_pass NAME [SETTING=VALUE...]: 4-7 with these settings in .env too.
one_pass() {
    local name=$1 t0 first_archive rows objects full=1
    shift
    # The S3 pass is the short one: the user's path to the first archived
    # report, then archive get and prune, on the images of the first pass.
    [[ $STORE == s3 ]] && full=0
    PASS_DIR="$WORK/$name"
    INSTALL="$PASS_DIR/drift"
    TOKEN=""
    export COMPOSE_FILE="$INSTALL/docker-compose.yml:$OVERRIDE"
    mkdir -p "$PASS_DIR"
    PHASE_AT=$SECONDS

    # 4. install.sh, up, healthy
    t0=$SECONDS
    env "${SETTINGS[@]}" "$@" PATH="/usr/sbin:/usr/bin:/sbin:/bin" DRIFT_BIN="$DRIFT_BIN" \
        bash scripts/install.sh "$INSTALL" >"$PASS_DIR/install.out" 2>&1 \
        || { cat "$PASS_DIR/install.out"; fail "$name: scripts/install.sh"; }
    grep -q "issued agent 'agent-1' of tenant 'default'" "$PASS_DIR/install.out" \
        || { cat "$PASS_DIR/install.out"; fail "$name: install.sh issued no agent"; }
    grep -q "added the owner admin@localhost of tenant 'default' (password: $INSTALL/secrets/owner_password)" \
        "$PASS_DIR/install.out" || { cat "$PASS_DIR/install.out"; fail "$name: install.sh added no first owner"; }
    if grep -qF -f <(cat "$INSTALL/secrets/owner_password"; sed -n 's/^[A-Z_]*PASSWORD=//p' "$INSTALL/.env") \
            "$PASS_DIR/install.out"; then
        fail "$name: install.sh printed a password"
    fi
    phase "$name: scripts/install.sh (docker path)"

    local profiles=()
    [[ $STORE == s3 ]] && profiles=(--profile s3)
    dc "${profiles[@]}" up -d --scale grafana=0 >"$PASS_DIR/up.log" 2>&1 \
        || { cat "$PASS_DIR/up.log"; fail "$name: docker-compose up -d"; }
    wait_for 300 "$name: every service healthy" services_healthy
    phase "$name: docker-compose up -d, every service healthy"

    # Grafana's provisioning as Grafana (uid 472) would read it, mounted as
    # docker-compose.yml mounts it.
    if [[ $full == 1 ]]; then
        docker run --rm --user 472:472 --network none \
            -v "$INSTALL/grafana/provisioning:/etc/grafana/provisioning:ro" \
            -v "$INSTALL/grafana/dashboards:/var/lib/grafana/dashboards:ro" "$DRIFT_TEST_BASE_IMAGE" \
            sh -c 'find /etc/grafana/provisioning /var/lib/grafana/dashboards -type f | sort | while read -r f; do cat "$f" >/dev/null || exit 1; echo "$f"; done' \
            >"$PASS_DIR/grafana.files" 2>"$PASS_DIR/grafana.err" \
            || fail "$name: Grafana (uid 472) cannot read its provisioning: $(cat "$PASS_DIR/grafana.err")"
        grep -qx /etc/grafana/provisioning/datasources/prometheus.yml "$PASS_DIR/grafana.files" \
            || fail "$name: no datasource file for Grafana"
        "$PYTHON" - "$INSTALL/grafana" "$ROOT/compose/grafana" <<'EOF' || fail "$name: Grafana's provisioning is not valid"
import json, os, sys, yaml
installed, source = sys.argv[1], sys.argv[2]
for folder in ("datasources", "dashboards"):
    for f in sorted(os.listdir(os.path.join(installed, "provisioning", folder))):
        doc = yaml.safe_load(open(os.path.join(installed, "provisioning", folder, f)))
        assert doc.get("apiVersion") == 1, f
wanted = sorted(os.listdir(os.path.join(source, "dashboards")))
have = sorted(os.listdir(os.path.join(installed, "dashboards")))
assert wanted == have and wanted, (wanted, have)
for f in have:
    assert json.load(open(os.path.join(installed, "dashboards", f))).get("panels"), f
EOF
        phase "$name: Grafana's provisioning readable by uid 472, valid, complete"
    fi

    # 5. the first owner logs in through Caddy and adds the email channel, as
    # in the dashboard (the api resolves and checks the mail host: the sink
    # is an internal host, allowed by DRIFT_EGRESS_ALLOW_HOSTS); then a report
    # from the agent image.
    # Caddy's local CA, from its volume: the HTTPS faces are checked for real.
    wait_for 60 "$name: Caddy's root certificate" \
        dc exec -T caddy test -s /data/caddy/pki/authorities/local/root.crt
    dc exec -T caddy cat /data/caddy/pki/authorities/local/root.crt >"$PASS_DIR/caddy-root.crt"
    local login
    login=$(jq -n --arg e admin@localhost --arg p "$(head -n1 "$INSTALL/secrets/owner_password")" '{email: $e, password: $p}')
    TOKEN=$(api POST /api/v1/login "$login" | jq -r .access_token) || fail "$name: the first owner cannot log in through Caddy"
    [[ -n $TOKEN && $TOKEN != null ]] || fail "$name: no access token"
    api POST /api/v1/channels '{"name": "ops-mail", "kind": "email", "min_severity": "low",
        "settings": {"url": "smtp://smtp:2525", "starttls": false, "from": "drift <drift@localhost>",
                     "to": ["ops@localhost"]}}' >"$PASS_DIR/channel.log" 2>&1 \
        || { cat "$PASS_DIR/channel.log"; fail "$name: POST /api/v1/channels"; }
    mkdir -p "$PASS_DIR/agent"
    cp "$INSTALL/agents/agent-1.cert" "$INSTALL/agents/agent-1.conf" "$PASS_DIR/agent/"
    sed -i 's/^ *//' "$PASS_DIR/agent/agent-1.conf"
    chown -R 10002:10002 "$PASS_DIR/agent" && chmod 0700 "$PASS_DIR/agent" && chmod 0600 "$PASS_DIR/agent"/*
    grep -q "^endpoint = tcp://localhost:$AGENT_PORT$" "$PASS_DIR/agent/agent-1.conf" \
        || fail "$name: the issued configuration names no ingest on port $AGENT_PORT: $(cat "$PASS_DIR/agent/agent-1.conf")"
    agent_send payments-web payments-web.plan.json || { cat "$PASS_DIR/agent.log"; fail "$name: drift-agent send"; }
    # The same agent over HTTPS through Caddy's agent site (issue 18), with
    # the client certificate install.sh issued from the install's CA; a
    # client without one gets no TLS handshake.
    grep -q "^endpoint = https://localhost:$AGENT_HTTPS_PORT$" "$INSTALL/agents/agent-1-https.conf" \
        || fail "$name: no HTTPS configuration for agent-1: $(cat "$INSTALL/agents/agent-1-https.conf")"
    local https_client=("$PYTHON" "$ROOT/tests/https/client.py" --port "$AGENT_HTTPS_PORT"
                        --ca "$PASS_DIR/caddy-root.crt")
    local answer
    answer=$("${https_client[@]}" --cert "$INSTALL/agents/agent-1.crt" --key "$INSTALL/agents/agent-1.key" \
        post "compose-https-$name")
    [[ $answer == "status 200 ack false"* ]] || fail "$name: a report over HTTPS through Caddy: $answer"
    answer=$("${https_client[@]}" post "compose-https-refused-$name")
    [[ $answer == "error SSL"* ]] || fail "$name: a client without a certificate: $answer"
    # drift-agent itself with the HTTPS configuration as install.sh printed
    # it: its `ca` is Caddy's root CA, which install.sh copied beside it.
    grep -q "^ca = /etc/drift-agent/server-ca.crt$" "$INSTALL/agents/agent-1-https.conf" \
        || fail "$name: the HTTPS configuration names no server CA: $(cat "$INSTALL/agents/agent-1-https.conf")"
    cmp -s "$INSTALL/agents/server-ca.crt" "$PASS_DIR/caddy-root.crt" \
        || fail "$name: install.sh did not copy Caddy's root CA to agents/server-ca.crt"
    cp "$INSTALL/agents/agent-1-https.conf" "$INSTALL/agents/agent-1.crt" "$INSTALL/agents/agent-1.key" \
        "$INSTALL/agents/server-ca.crt" "$PASS_DIR/agent/"
    chown -R 10002:10002 "$PASS_DIR/agent" && chmod 0600 "$PASS_DIR/agent"/*
    dc run --rm -T -v "$PASS_DIR/agent:/etc/drift-agent:ro" -v "$ROOT/examples/reports:/plans:ro" \
        agent send --config /etc/drift-agent/agent-1-https.conf --stack "https-$name" \
        /plans/payments-web.plan.json >>"$PASS_DIR/agent.log" 2>&1 \
        || { cat "$PASS_DIR/agent.log"; fail "$name: drift-agent send with the HTTPS configuration as printed"; }
    # The face listens on ingest's backend address only: from the frontend
    # network (where ingest's agent port and metrics are) it is not there.
    local probe=(docker run --rm --network "${PROJECT}_frontend" --entrypoint bash
                 "${DRIFT_IMAGE:-dd0c/drift:0.1.0}" -c)
    "${probe[@]}" 'exec 3<>/dev/tcp/ingest/9102' 2>/dev/null \
        || fail "$name: ingest's metrics port not reachable from the frontend network (the probe is broken)"
    ! "${probe[@]}" 'exec 3<>/dev/tcp/ingest/5580' 2>/dev/null \
        || fail "$name: ingest's HTTPS face is reachable from the frontend network"
    phase "$name: agents over HTTPS through Caddy (drift-agent with install.sh's configuration, a client certificate needed); the face not on the frontend network"

    wait_for 120 "$name: the report in the first owner's dashboard" report_archived payments-web
    first_archive=$((SECONDS - t0))
    api GET "/api/v1/drift?stack=payments-web" >"$PASS_DIR/drift.json" || fail "$name: GET /api/v1/drift"
    jq -e '(.items // .) | length > 0 and all(.stack.name == "payments-web")' "$PASS_DIR/drift.json" >/dev/null \
        || fail "$name: no open drift for payments-web: $(head -c 400 "$PASS_DIR/drift.json")"
    FIGURES+=("$(printf '%-58s %5d s' "$name: install.sh to the first archived report ($CACHE images)" "$first_archive")")
    phase "$name: agent -> ingest -> ... -> the drift over HTTPS as the first owner"
    if [[ $full == 1 ]]; then

        wait_for 120 "$name: the email in the SMTP sink" mail_arrived
        dc exec -T smtp sh -c 'cat /mail/*.eml' >"$PASS_DIR/mail.eml"
        grep -qi '^Subject: .*payments-web' "$PASS_DIR/mail.eml" \
            || fail "$name: the email names no payments-web: $(grep -i '^Subject' "$PASS_DIR/mail.eml")"
        phase "$name: the email in the SMTP sink"

        wait_for 150 "$name: Prometheus reports every drift target up" prometheus_all_up
        phase "$name: Prometheus: every drift target up"

        # drift status and drift tail from the host, through the published
        # broker, with the operator's role key (the broker is CURVE). The
        # install's copy belongs to the containers' user (uid 10001) and drift
        # reads a secret file only of its own user, so root uses its own copy.
        install -m 0600 -o 0 -g 0 "$INSTALL/secrets/keys/roles/operator.key_secret" \
            "$PASS_DIR/operator.key_secret"
        local operator=(--broker-cert "$PASS_DIR/operator.key"
                        --broker-key "$INSTALL/secrets/keys/broker.key")
        timeout 20 "$DRIFT_BIN" status --broker "tcp://127.0.0.1:$BROKER_PORT" "${operator[@]}" --format json \
            >"$PASS_DIR/status.json" 2>"$PASS_DIR/status.err" || fail "$name: drift status: $(cat "$PASS_DIR/status.err")"
        jq -e '[.workers[].stage] | unique == ["archive","normalize","notify","score"]' "$PASS_DIR/status.json" >/dev/null \
            || fail "$name: drift status sees no worker of every stage: $(jq -c '[.workers[].stage]' "$PASS_DIR/status.json")"
        jq -e '(.producers | length) >= 2' "$PASS_DIR/status.json" >/dev/null \
            || fail "$name: drift status sees no ingest and replayer"
        phase "$name: drift status from the host sees every stage and producer"

        # 6. archive killed mid-stream, with `drift tail` from the host watching:
        # ingest logs each agent, normalize and score each report (debug, the
        # level of this install), notify what it queues, archive its restart.
        "$DRIFT_BIN" tail --broker "tcp://127.0.0.1:$BROKER_PORT" "${operator[@]}" >"$PASS_DIR/tail.log" 2>&1 &
        local tail_pid=$!
        BACKGROUND+=("$tail_pid")
        dc run --rm -T -v "$PASS_DIR/agent:/etc/drift-agent:ro" -v "$ROOT/examples/reports:/plans:ro" \
            --entrypoint bash agent -c "for i in \$(seq 1 $STREAM); do
                drift-agent send --config /etc/drift-agent/agent-1.conf --stack stream-\$((i % 10)) /plans/orders-queue.plan.json \
                    >/dev/null || { echo \"report \$i not acked\"; exit 1; }
            done; echo \"$STREAM reports acked\"" >"$PASS_DIR/stream.log" 2>&1 &
        local stream_pid=$!
        BACKGROUND+=("$stream_pid")
        STREAM_COUNT=0
        wait_for 180 "$name: the stream under way" stream_archived $((STREAM / 6))
        dc kill -s KILL archive >>"$PASS_DIR/kill.log" 2>&1 || fail "$name: docker-compose kill archive"
        say "killed archive after $STREAM_COUNT streamed reports were archived"
        sleep 3
        dc up -d archive >>"$PASS_DIR/kill.log" 2>&1 || { cat "$PASS_DIR/kill.log"; fail "$name: docker-compose up -d archive"; }
        wait "$stream_pid" || { cat "$PASS_DIR/stream.log"; fail "$name: the agent's stream"; }
        wait_for 300 "$name: all $STREAM streamed reports archived" stream_archived "$STREAM"
        wait_for 180 "$name: the journal empty (every report finished)" journal_empty
        kill -INT "$tail_pid" 2>/dev/null
        wait "$tail_pid" 2>/dev/null
        rows=$(psql_owner "SELECT count(*) FROM reports")
        [[ $STREAM_COUNT == "$STREAM" ]] || fail "$name: $STREAM_COUNT streamed reports archived, not $STREAM"
        # The stream, payments-web (CURVE) and the two reports sent over
        # HTTPS (the test client's and drift-agent's).
        [[ $rows == $((STREAM + 3)) ]] || fail "$name: $rows reports archived, not $((STREAM + 3))"
        objects=$(count_objects)
        [[ $objects == "$rows" ]] || fail "$name: the $name store holds $objects objects for $rows reports"
        phase "$name: archive SIGKILLed mid-stream: $STREAM reports, each archived once"
        local role
        for role in broker ingest normalize score archive notify; do
            grep -Eq "role=$role( |$)" "$PASS_DIR/tail.log" \
                || fail "$name: drift tail shows no line of $role: $(grep -o 'role=[a-z]*' "$PASS_DIR/tail.log" | sort | uniq -c | tr '\n' ' ')"
        done
        phase "$name: drift tail from the host shows every role's lines"
    fi

    # drift archive get and drift prune, on the prune service, with the
    # archive's store settings.
    rows=$(psql_owner "SELECT count(*) FROM reports")
    objects=$(count_objects)
    [[ $rows -ge 1 && $objects == "$rows" ]] || fail "$name: the $name store holds $objects objects for $rows reports"
    local report_id
    report_id=$(api GET "/api/v1/reports?stack=payments-web" | jq -r '.items[0].report_id')
    dc run --rm -T prune archive get "$report_id" --tenant default >"$PASS_DIR/get.json" 2>"$PASS_DIR/get.err" \
        || fail "$name: drift archive get $report_id: $(tail -n 3 "$PASS_DIR/get.err")"
    jq -e '.format_version and (.resource_drift | length > 0)' "$PASS_DIR/get.json" >/dev/null \
        || fail "$name: drift archive get gave no plan: $(head -c 300 "$PASS_DIR/get.json")"
    dc run --rm -T prune prune --before "$(date -u -d '+1 day' +%Y-%m-%dT%H:%M:%SZ)" \
        >"$PASS_DIR/prune.log" 2>&1 || { tail -n 5 "$PASS_DIR/prune.log"; fail "$name: drift prune"; }
    rows=$(psql_owner "SELECT count(*) FROM reports")
    objects=$(count_objects)
    [[ $rows == 0 && $objects == 0 ]] || fail "$name: after drift prune $rows reports and $objects objects are left"
    phase "$name: drift archive get and drift prune on the $name store"

    # figures, then 7. down -v
    sizes_and_rss "$name"
    dc --profile s3 down -v --remove-orphans --timeout 20 >"$PASS_DIR/down.log" 2>&1 \
        || { cat "$PASS_DIR/down.log"; fail "$name: docker-compose down -v"; }
    [[ -z $(docker ps -aq --filter "label=com.docker.compose.project=$PROJECT") ]] \
        || fail "$name: containers left after down -v"
    [[ -z $(docker volume ls -q --filter "label=com.docker.compose.project=$PROJECT") ]] \
        || fail "$name: volumes left after down -v"
    [[ -z $(docker network ls -q --filter "label=com.docker.compose.project=$PROJECT") ]] \
        || fail "$name: networks left after down -v"
    phase "$name: docker-compose down -v leaves nothing"
    INSTALL=""
}

# The sealed objects in the pass's store: files in the archive volume, or
# the objects s3rver keeps in its bucket folder.
count_objects() {
    if [[ $STORE == s3 ]]; then
        dc exec -T s3 sh -c 'find /data -type f -name "*._S3rver_object" | wc -l' 2>/dev/null | tr -d '\r '
    else
        dc exec -T archive sh -c 'find /var/lib/drift/archive -type f | wc -l' 2>/dev/null | tr -d '\r '
    fi
}

# Each container's resident memory (its cgroup's rss) and each image's size.
sizes_and_rss() {  # NAME
    local id service rss
    for id in $(docker ps -q --filter "label=com.docker.compose.project=$PROJECT"); do
        service=$(docker inspect -f '{{index .Config.Labels "com.docker.compose.service"}}' "$id")
        rss=$(awk '$1 == "total_rss" { printf "%.1f MiB", $2 / 1048576 }' \
                  "/sys/fs/cgroup/memory/docker/$(docker inspect -f '{{.Id}}' "$id")/memory.stat" 2>/dev/null)
        [[ -n $rss ]] || rss=$(docker stats --no-stream --format '{{.MemUsage}}' "$id" | cut -d/ -f1)
        FIGURES+=("$(printf '%-58s %s' "$1: RSS of $service" "$rss")")
    done
}

STORE=local
one_pass local
if [[ ${DRIFT_COMPOSE_S3:-1} == 1 ]]; then
    # The same images, the archive on S3: archive, archive get and prune.
    # s3rver knows one access key, S3RVER; the secret key is the generated
    # secrets/s3_secret_key, which the stand-in's SigV4 check verifies.
    STORE=s3
    one_pass s3 DRIFT_STORE=s3 DRIFT_S3_ENDPOINT=http://s3:4568 DRIFT_S3_BUCKET=drift-archive \
        DRIFT_S3_ACCESS_KEY=S3RVER
fi

say "figures"
docker image ls --format '{{.Repository}}:{{.Tag}} {{.Size}}' \
    | grep -E '^(dd0c/drift|drift-test/)' | sort \
    | while read -r image size; do printf '  %-58s %s\n' "image $image" "$size"; done
printf '  %s\n' "${FIGURES[@]}"
