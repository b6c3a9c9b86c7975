# scripts/lib/docker.sh -- a Docker engine and a Debian 12 base image for the
# compose test (tests/test_compose.sh), on a machine that reaches Debian's
# package mirror but no image registry.
# shellcheck shell=bash
#
#   docker_engine_start  use the engine that answers (DOCKER_HOST or the
#                        default socket); when none does, start dockerd with
#                        its own socket, pid file, exec root and data root,
#                        and export DOCKER_HOST for it. Fails loudly when it
#                        cannot start: the compose test never skips.
#   docker_engine_stop   stop the dockerd docker_engine_start started (by its
#                        pid), nothing else
#   docker_engine_lock   wait (at most 900 s) for the engine's lock, held on fd 9
#                        until the caller exits: one compose test, Swarm test
#                        or Swarm bench at a time (project names, ports, the
#                        swarm are the engine's)
#   docker_base_image    make DRIFT_TEST_BASE_IMAGE (drift-test/debian:12)
#                        once: debootstrap --variant=minbase bookworm from
#                        the machine's own apt mirror, then `docker import`
#
# The data root is fixed, /var/lib/drift-test-docker (DRIFT_TEST_DOCKER_ROOT
# to change it), not under the clone's var/: CI clones into a new folder
# every time, and the base image and the layer cache (the compiled drift
# image, the stand-ins' apt layers) are what make a second run minutes
# faster. Only images and build cache stay there; the test removes its
# containers, networks and volumes (`down -v`) on every exit path.

DRIFT_TEST_DOCKER_ROOT=${DRIFT_TEST_DOCKER_ROOT:-/var/lib/drift-test-docker}
DRIFT_TEST_BASE_IMAGE=${DRIFT_TEST_BASE_IMAGE:-drift-test/debian:12}
# Short paths: containerd's sockets live under the exec root, and a unix
# socket path is limited to 108 bytes.
_DOCKER_RUN=${DRIFT_TEST_DOCKER_RUN:-/run/drift-test-docker}
_DOCKER_PID=""          # the dockerd we started, if any

_docker_log() { printf '[%s] %s\n' "${SVC_LOG_NAME:-${0##*/}}" "$*" >&2; }

# Debian's client is /usr/bin/docker; another one earlier on PATH is fine.
_docker_answers() { timeout 20 docker info >/dev/null 2>&1; }

docker_engine_start() {
    local waited=0
    command -v dockerd >/dev/null || { _docker_log "ERROR: no dockerd (scripts/setup installs docker.io)"; return 1; }
    command -v docker >/dev/null || { _docker_log "ERROR: no docker client (scripts/setup installs docker.io)"; return 1; }
    if _docker_answers; then
        _docker_log "using the Docker engine that answers (${DOCKER_HOST:-the default socket})"
        return 0
    fi
    mkdir -p "$_DOCKER_RUN" "$DRIFT_TEST_DOCKER_ROOT"
    export DOCKER_HOST="unix://$_DOCKER_RUN/docker.sock"
    if _docker_answers; then
        _docker_log "using the test engine another run started ($DOCKER_HOST)"
        return 0
    fi
    _docker_log "starting dockerd (data root $DRIFT_TEST_DOCKER_ROOT, socket $DOCKER_HOST)"
    # setsid: its own session, so a Ctrl-C to the test does not reach it
    # before the test has taken its containers down.
    setsid dockerd --data-root "$DRIFT_TEST_DOCKER_ROOT" --exec-root "$_DOCKER_RUN/exec" \
        --pidfile "$_DOCKER_RUN/dockerd.pid" -H "$DOCKER_HOST" \
        >"$_DOCKER_RUN/dockerd.log" 2>&1 </dev/null &
    _DOCKER_PID=$!
    until _docker_answers; do
        if ! kill -0 "$_DOCKER_PID" 2>/dev/null || [[ $waited -ge 60 ]]; then
            _docker_log "ERROR: dockerd did not start; its log ($_DOCKER_RUN/dockerd.log):"
            tail -n 20 "$_DOCKER_RUN/dockerd.log" >&2
            docker_engine_stop
            return 1
        fi
        sleep 1
        waited=$((waited + 1))
    done
    _docker_log "dockerd ready (pid $_DOCKER_PID)"
}

docker_engine_stop() {
    [[ -n $_DOCKER_PID ]] || return 0
    local i
    kill -TERM "$_DOCKER_PID" 2>/dev/null
    for ((i = 0; i < 300; i++)); do
        kill -0 "$_DOCKER_PID" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$_DOCKER_PID" 2>/dev/null; then
        _docker_log "dockerd (pid $_DOCKER_PID) did not stop in 30 s: killing it"
        kill -KILL "$_DOCKER_PID" 2>/dev/null
    fi
    wait "$_DOCKER_PID" 2>/dev/null
    _DOCKER_PID=""
}

docker_engine_lock() {
    exec 9>"$DRIFT_TEST_DOCKER_ROOT/.compose-test.lock"
    flock -w 900 9 || { _docker_log "ERROR: another test holds $DRIFT_TEST_DOCKER_ROOT/.compose-test.lock"; return 1; }
}

# The Debian archive this machine's apt uses (deb822 .sources first, then
# sources.list): the one mirror known to be reachable from here.
docker_debian_mirror() {
    local uri
    uri=$(awk '
        /^URIs:/ { uris = $2 }
        /^Suites:/ { for (i = 2; i <= NF; i++) if ($i == "bookworm") found = uris }
        /^$/ { uris = "" }
        END { print found }' /etc/apt/sources.list.d/*.sources 2>/dev/null)
    if [[ -z $uri && -r /etc/apt/sources.list ]]; then
        uri=$(awk '$1 == "deb" && $3 == "bookworm" { print $2; exit }' /etc/apt/sources.list)
    fi
    [[ -n $uri ]] || uri=http://deb.debian.org/debian
    echo "$uri"
}

docker_base_image() {  # WORK-DIR
    local work=$1 mirror rootfs
    if docker image inspect "$DRIFT_TEST_BASE_IMAGE" >/dev/null 2>&1; then
        _docker_log "base image $DRIFT_TEST_BASE_IMAGE: kept"
        return 0
    fi
    command -v debootstrap >/dev/null || { _docker_log "ERROR: no debootstrap (scripts/setup installs it)"; return 1; }
    mirror=$(docker_debian_mirror)
    rootfs="$work/debian-rootfs"
    rm -rf "$rootfs"
    _docker_log "making $DRIFT_TEST_BASE_IMAGE: debootstrap --variant=minbase bookworm $mirror"
    if ! debootstrap --variant=minbase bookworm "$rootfs" "$mirror" >"$work/debootstrap.log" 2>&1; then
        _docker_log "ERROR: debootstrap failed; the end of $work/debootstrap.log:"
        tail -n 20 "$work/debootstrap.log" >&2
        rm -rf "$rootfs"
        return 1
    fi
    # An image has no use for the package cache; apt lists are fetched again
    # by each Dockerfile's apt-get update. As in Debian's official images, apt
    # fetches no translations (a third of every update) and keeps no .deb.
    rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
    printf 'Acquire::Languages "none";\n' >"$rootfs/etc/apt/apt.conf.d/docker-no-languages"
    printf 'APT::Keep-Downloaded-Packages "false";\n' >"$rootfs/etc/apt/apt.conf.d/docker-clean"
    if ! tar -C "$rootfs" -c . | docker import - "$DRIFT_TEST_BASE_IMAGE" >/dev/null; then
        _docker_log "ERROR: docker import of the base image failed"
        rm -rf "$rootfs"
        return 1
    fi
    rm -rf "$rootfs"
    _docker_log "base image $DRIFT_TEST_BASE_IMAGE made"
}
