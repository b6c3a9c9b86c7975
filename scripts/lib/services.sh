# scripts/lib/services.sh -- shared helpers for scripts/test and scripts/run:
# start a private PostgreSQL cluster and a private Redis on free loopback
# ports, and stop them again. Source it; do not execute it.
# shellcheck shell=bash
#
#   free_port [COUNT]    print free TCP ports on 127.0.0.1 (scripts/lib/free_port.py)
#   pg_start DIR         private PostgreSQL in DIR (DIR/data, DIR/postgres.log,
#                        unix socket in DIR/sock); exports DRIFT_PG_PORT and
#                        DRIFT_TEST_PG_URL
#   redis_start DIR      private Redis in DIR (append-only, DIR/redis.log, DIR/redis.pid);
#                        exports DRIFT_REDIS_PORT, DRIFT_TEST_REDIS_URL and
#                        DRIFT_TEST_REDIS_RESTART (same port and data)
#   s3_start DIR         private S3-compatible server (s3rver) in DIR; exports
#                        DRIFT_TEST_S3_* (see scripts/lib/s3.sh)
#   pg_pid, redis_pid    the PID of the PostgreSQL (postmaster) or Redis
#                        started above, when it runs
#   pg_revive, redis_revive
#                        start it again on the same port and data after it
#                        died (scripts/run's supervisor); 0 when it is back
#   services_rm_on_stop DIR
#                        remove DIR in services_stop (unless KEEP_VAR=1)
#   services_stop        stop everything started above; safe to call twice,
#                        meant for `trap services_stop EXIT`
#   spawn_session CMD... start CMD in the background in its own session
#                        (setsid, SIGINT not ignored); its PID is in SPAWNED_PID
#   terminate_pids T PID...
#                        SIGTERM our child PIDs, SIGKILL what is left after T s
#   terminate_group T PID
#                        same for the whole process group led by PID (a
#                        spawn_session child and everything it started),
#                        also once the leader itself has exited
#   group_members PGID   the live members of a process group: PID and
#                        command line, one a line
#
# Everything listens on 127.0.0.1 only. PostgreSQL refuses to run as root, so
# when we are root the cluster runs as the `postgres` system user (runuser).
#
# Environment knobs:
#   PG_BIN            PostgreSQL server binaries (default: newest under
#                     /usr/lib/postgresql/*/bin, preferring 15)
#   DRIFT_PG_EXTRA_CONF  extra postgresql.conf lines for this start, e.g.
#                     "fsync = off" (scripts/test uses this for speed)
#   KEEP_VAR=1        keep directories registered with services_rm_on_stop

# Guard against double sourcing (state below must not be reset).
if [[ -n "${_DRIFT_SERVICES_SH:-}" ]]; then return 0; fi
_DRIFT_SERVICES_SH=1

# --- state of what this shell started (read by services_stop) -------------
_SVC_PG_DATA=""        # data dir of the cluster we started
_SVC_REDIS_DIR=""      # data dir of the Redis we started (its pidfile is there)
_SVC_REDIS_PORT=""     # and its port
_SVC_RM_DIRS=()        # dirs to remove on stop (unless KEEP_VAR=1)

# Log lines are prefixed with [$SVC_LOG_NAME] (default: the script's name).
svc_log() { printf '[%s] %s\n' "${SVC_LOG_NAME:-${0##*/}}" "$*" >&2; }
svc_die() { svc_log "ERROR: $*"; return 1; }

# --- small helpers ----------------------------------------------------------

_svc_python() {
    if [[ -x /usr/bin/python3 ]]; then echo /usr/bin/python3; else echo python3; fi
}

free_port() {
    "$(_svc_python)" "$(dirname "${BASH_SOURCE[0]}")/free_port.py" "$@"
}

# Is PID alive (and not a zombie waiting to be reaped)?
_svc_alive() {
    local st
    st=$(ps -o stat= -p "$1" 2>/dev/null) || return 1
    [[ -n "$st" && "$st" != Z* ]]
}

# terminate_pids TIMEOUT PID... : SIGTERM each PID, wait up to TIMEOUT seconds
# for all to exit, SIGKILL the rest, then reap those that are our children.
# Only ever signals the PIDs given. A PID that is a zombie still belongs to us,
# so the SIGKILL cannot hit a recycled PID.
terminate_pids() {
    local timeout=$1; shift
    local pid deadline any
    for pid in "$@"; do
        if _svc_alive "$pid"; then kill -TERM "$pid" 2>/dev/null || true; fi
    done
    deadline=$(( SECONDS + timeout ))
    while :; do
        any=""
        for pid in "$@"; do _svc_alive "$pid" && any=1; done
        [[ -z "$any" || $SECONDS -ge $deadline ]] && break
        sleep 0.1
    done
    for pid in "$@"; do
        if _svc_alive "$pid"; then
            svc_log "PID $pid did not exit within ${timeout}s after SIGTERM; sending SIGKILL"
            kill -KILL "$pid" 2>/dev/null || true
        fi
    done
    for pid in "$@"; do wait "$pid" 2>/dev/null || true; done
    return 0
}

# spawn_session CMD... : run CMD in the background as its own session and
# process group leader. A terminal Ctrl-C then reaches only the calling script,
# which shuts its children down in order. Plain `cmd &` in a script would also
# start CMD with SIGINT ignored, which its own children would inherit; the
# subshell resets that. setsid does not fork here (a background job is never a
# group leader), so the PID is CMD's own.
SPAWNED_PID=""
spawn_session() {
    ( trap - INT QUIT; exec setsid "$@" ) &
    SPAWNED_PID=$!
}

# group_members PGID : the group's members that are not zombies, as "PID
# COMMAND LINE" lines (nothing when the group is empty).
group_members() {
    ps -eo pid=,pgid=,stat=,args= \
        | awk -v g="$1" '$2 == g && $3 !~ /^Z/ { $2 = ""; $3 = ""; print }'
}

# terminate_group TIMEOUT PID : like terminate_pids for the process group whose
# leader is PID (a spawn_session child); stragglers in the group get SIGKILL.
# It waits for every member, not only the leader: a leader that has exited
# (ctest after its run) can leave children behind in its group.
terminate_group() {
    local timeout=$1 pid=$2 deadline
    kill -TERM -- "-$pid" 2>/dev/null || true
    deadline=$(( SECONDS + timeout ))
    while [[ -n "$(group_members "$pid")" && $SECONDS -lt $deadline ]]; do sleep 0.1; done
    if [[ -n "$(group_members "$pid")" ]]; then
        svc_log "process group $pid did not exit within ${timeout}s after SIGTERM; sending SIGKILL"
    fi
    kill -KILL -- "-$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    return 0
}

services_rm_on_stop() { _SVC_RM_DIRS+=("$1"); }

# --- PostgreSQL ---------------------------------------------------------------

_pg_bin() {
    if [[ -n "${PG_BIN:-}" ]]; then echo "$PG_BIN"; return 0; fi
    if [[ -x /usr/lib/postgresql/15/bin/postgres ]]; then
        echo /usr/lib/postgresql/15/bin; return 0
    fi
    local d
    d=$(printf '%s\n' /usr/lib/postgresql/*/bin | grep -v '\*' | sort -V | tail -n 1 || true)
    [[ -n "$d" ]] || { svc_die "no PostgreSQL server binaries found (run scripts/setup)"; return 1; }
    echo "$d"
}

# Run a command as the cluster owner: `postgres` when we are root, else us.
# cd / first so the owner never starts in a directory it cannot read.
_pg_as_owner() {
    if [[ $EUID -eq 0 ]]; then
        (cd / && runuser -u postgres -- "$@")
    else
        (cd / && "$@")
    fi
}

_pg_chown() {
    if [[ $EUID -eq 0 ]]; then chown postgres:postgres "$@"; fi
}

# pg_start DIR
pg_start() {
    local dir=$1 bin port attempt sock log data conf
    bin=$(_pg_bin) || return 1
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd -P)

    if [[ $EUID -eq 0 ]] && ! id postgres >/dev/null 2>&1; then
        svc_die "system user 'postgres' missing (run scripts/setup)"; return 1
    fi
    _pg_chown "$dir"
    chmod 0700 "$dir"

    # The owner must be able to reach DIR (e.g. a checkout under /root is not
    # reachable for `postgres`), and the socket path must fit in sun_path
    # (107 bytes). Otherwise fall back to a short private dir under /tmp.
    if ! _pg_as_owner test -w "$dir" -a -x "$dir" 2>/dev/null \
       || (( ${#dir} > 80 )); then
        local alt
        alt=$(mktemp -d /tmp/drift-pg.XXXXXX)
        _pg_chown "$alt"
        svc_log "$dir is not usable by the PostgreSQL owner (or too long); using $alt instead"
        services_rm_on_stop "$alt"
        dir=$alt
    fi

    data=$dir/data
    sock=$dir/sock
    log=$dir/postgres.log
    mkdir -p "$sock"
    _pg_chown "$sock"

    if [[ ! -f "$data/PG_VERSION" ]]; then
        svc_log "initdb $data"
        _pg_as_owner "$bin/initdb" -D "$data" -U postgres --auth=trust \
            -E UTF8 --locale=C --no-sync >"$dir/initdb.log" 2>&1 \
            || { cat "$dir/initdb.log" >&2; svc_die "initdb failed"; return 1; }
        # Per-start settings live in drift_run.conf, rewritten each start.
        echo "include_if_exists = 'drift_run.conf'" >>"$data/postgresql.conf"
    fi
    if _pg_as_owner "$bin/pg_ctl" -D "$data" status >/dev/null 2>&1; then
        svc_die "a PostgreSQL server is already running on $data"; return 1
    fi

    conf=$data/drift_run.conf
    for attempt in 1 2 3; do
        port=$(free_port)
        {
            echo "# written by scripts/lib/services.sh at each start"
            echo "listen_addresses = '127.0.0.1'"
            echo "port = $port"
            echo "unix_socket_directories = '$sock'"
            echo "max_connections = 200"
            printf '%s\n' "${DRIFT_PG_EXTRA_CONF:-}"
        } >"$conf"
        _pg_chown "$conf"
        if _pg_as_owner "$bin/pg_ctl" -D "$data" -l "$log" -w -t 60 start >/dev/null; then
            break
        fi
        svc_log "PostgreSQL failed to start on port $port (attempt $attempt); tail of $log:"
        tail -n 5 "$log" >&2 || true
        port=""
    done
    [[ -n "$port" ]] || { svc_die "could not start PostgreSQL"; return 1; }
    _SVC_PG_DATA=$data

    for _ in $(seq 1 100); do
        "$bin/pg_isready" -q -h 127.0.0.1 -p "$port" -U postgres && break
        sleep 0.1
    done
    "$bin/pg_isready" -q -h 127.0.0.1 -p "$port" -U postgres \
        || { svc_die "PostgreSQL on port $port not ready"; return 1; }

    export DRIFT_PG_PORT=$port
    export DRIFT_TEST_PG_URL="postgresql://postgres@127.0.0.1:$port/postgres"
    # How a fault test restarts this server mid-flow (a shell command line).
    local restart
    restart=$(printf '%q ' "$bin/pg_ctl" -D "$data" -l "$log" -w -t 60 -m fast restart)
    if [[ $EUID -eq 0 ]]; then
        restart="cd / && runuser -u postgres -- $restart"
    fi
    export DRIFT_TEST_PG_RESTART="$restart >/dev/null"
    svc_log "PostgreSQL up: $DRIFT_TEST_PG_URL (data $data, log $log)"
}

pg_pid() {
    local pid
    [[ -n "$_SVC_PG_DATA" ]] || return 1
    pid=$(head -n 1 "$_SVC_PG_DATA/postmaster.pid" 2>/dev/null) || return 1
    [[ "$pid" =~ ^[0-9]+$ ]] && _svc_alive "$pid" || return 1
    echo "$pid"
}

# The port and settings are in the data dir (drift_run.conf), so the
# clients' URLs stay right. A postmaster killed with SIGKILL leaves its
# backends for a moment, and PostgreSQL refuses to start while they hold the
# shared memory: the caller retries.
pg_revive() {
    local bin
    [[ -n "$_SVC_PG_DATA" ]] || return 1
    bin=$(_pg_bin) || return 1
    _pg_as_owner "$bin/pg_ctl" -D "$_SVC_PG_DATA" -l "$(dirname "$_SVC_PG_DATA")/postgres.log" \
        -w -t 30 start >/dev/null 2>&1 || return 1
    "$bin/pg_isready" -q -h 127.0.0.1 -p "$DRIFT_PG_PORT" -U postgres
}

_pg_stop() {
    [[ -n "$_SVC_PG_DATA" ]] || return 0
    local data=$_SVC_PG_DATA bin pid
    bin=$(_pg_bin) || return 1
    if [[ -f "$data/postmaster.pid" ]]; then
        if ! _pg_as_owner "$bin/pg_ctl" -D "$data" -m fast -w -t 30 stop >/dev/null 2>&1; then
            svc_log "pg_ctl stop -m fast failed; trying -m immediate"
            _pg_as_owner "$bin/pg_ctl" -D "$data" -m immediate -w -t 10 stop >/dev/null 2>&1 || true
        fi
        if [[ -f "$data/postmaster.pid" ]]; then
            pid=$(head -n 1 "$data/postmaster.pid" 2>/dev/null || true)
            if [[ "$pid" =~ ^[0-9]+$ ]] && _svc_alive "$pid"; then
                svc_log "postmaster $pid still alive; sending SIGKILL"
                kill -KILL "$pid" 2>/dev/null || true
                sleep 1
                if _svc_alive "$pid"; then
                    svc_log "postmaster $pid survived SIGKILL"
                    return 1
                fi
            fi
        fi
    fi
    _SVC_PG_DATA=""
    svc_log "PostgreSQL stopped"
}

# --- Redis --------------------------------------------------------------------

# redis_start DIR
# Redis keeps notify's dedup marks and delivery queue, so it runs as in
# production: append-only file, fsynced at every write (appendfsync always),
# data in DIR. It daemonizes with a pidfile, so a test can restart it on the
# same port and data (DRIFT_TEST_REDIS_RESTART) and services_stop still
# finds it. The restart command is this file executed: `bash services.sh
# redis-restart DIR PORT`.
_redis_args() {
    local dir=$1 port=$2
    printf '%s\n' --bind 127.0.0.1 --port "$port" --protected-mode yes --save '' \
        --appendonly yes --appendfsync always --dir "$dir" --logfile "$dir/redis.log" \
        --daemonize yes --pidfile "$dir/redis.pid"
}

# Start redis-server for DIR on PORT and wait for PONG; 0 when up.
_redis_launch() {
    local dir=$1 port=$2 pid
    local -a args
    mapfile -t args < <(_redis_args "$dir" "$port")
    rm -f "$dir/redis.pid"
    redis-server "${args[@]}" >/dev/null 2>&1 || return 1
    for _ in $(seq 1 100); do
        if [[ "$(redis-cli -h 127.0.0.1 -p "$port" ping 2>/dev/null)" == PONG ]]; then
            return 0
        fi
        sleep 0.1
    done
    pid=$(cat "$dir/redis.pid" 2>/dev/null || true)
    [[ -n "$pid" ]] && terminate_pids 5 "$pid"
    return 1
}

# The PID of the Redis serving DIR, if it runs (checked against its command
# line, so a recycled PID is never taken for ours).
_redis_pid() {
    local dir=$1 pid
    pid=$(cat "$dir/redis.pid" 2>/dev/null) || return 1
    [[ -n "$pid" ]] && _svc_alive "$pid" || return 1
    [[ "$(readlink "/proc/$pid/exe" 2>/dev/null)" == *redis* ]] || return 1
    echo "$pid"
}

# Stop the Redis serving DIR on PORT: SHUTDOWN (which flushes the
# append-only file), then SIGTERM/SIGKILL by its PID if it lingers.
_redis_halt() {
    local dir=$1 port=$2 pid
    pid=$(_redis_pid "$dir") || return 0
    redis-cli -h 127.0.0.1 -p "$port" shutdown >/dev/null 2>&1 || true
    for _ in $(seq 1 50); do _svc_alive "$pid" || return 0; sleep 0.1; done
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do _svc_alive "$pid" || return 0; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
}

redis_start() {
    local dir=$1 port attempt
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd -P)
    command -v redis-server >/dev/null || { svc_die "redis-server not found (run scripts/setup)"; return 1; }

    for attempt in 1 2 3; do
        port=$(free_port)
        if _redis_launch "$dir" "$port"; then
            _SVC_REDIS_DIR=$dir
            _SVC_REDIS_PORT=$port
            export DRIFT_REDIS_PORT=$port
            export DRIFT_TEST_REDIS_URL="redis://127.0.0.1:$port"
            export DRIFT_TEST_REDIS_RESTART="bash '${BASH_SOURCE[0]}' redis-restart '$dir' $port"
            svc_log "Redis up: $DRIFT_TEST_REDIS_URL (pid $(_redis_pid "$dir"), log $dir/redis.log)"
            return 0
        fi
        svc_log "Redis failed to start on port $port (attempt $attempt); tail of $dir/redis.log:"
        tail -n 5 "$dir/redis.log" >&2 || true
    done
    svc_die "could not start Redis"
}

redis_pid() {
    [[ -n "$_SVC_REDIS_DIR" ]] || return 1
    _redis_pid "$_SVC_REDIS_DIR"
}

# Append-only with appendfsync always: it comes back with every write.
redis_revive() {
    [[ -n "$_SVC_REDIS_DIR" ]] || return 1
    _redis_launch "$_SVC_REDIS_DIR" "$_SVC_REDIS_PORT"
}

_redis_stop() {
    [[ -n "$_SVC_REDIS_DIR" ]] || return 0
    _redis_halt "$_SVC_REDIS_DIR" "$_SVC_REDIS_PORT"
    _SVC_REDIS_DIR=""
    svc_log "Redis stopped"
}

# --- S3 (s3rver) ---------------------------------------------------------------

# shellcheck source=s3.sh
source "$(dirname "${BASH_SOURCE[0]}")/s3.sh"

# --- everything -------------------------------------------------------------

services_stop() {
    local - d ok=1
    set +e
    _s3_stop
    _redis_stop
    _pg_stop || ok=""
    if [[ -z "$ok" ]]; then
        svc_log "PostgreSQL may still be running; keeping: ${_SVC_RM_DIRS[*]:-}"
    elif [[ "${KEEP_VAR:-0}" == 1 ]]; then
        [[ ${#_SVC_RM_DIRS[@]} -gt 0 ]] && svc_log "KEEP_VAR=1: keeping ${_SVC_RM_DIRS[*]}"
    else
        for d in "${_SVC_RM_DIRS[@]}"; do rm -rf -- "$d"; done
    fi
    _SVC_RM_DIRS=()
    return 0
}

# Executed rather than sourced: the restart command a test runs.
if [[ "${BASH_SOURCE[0]}" == "$0" && "${1:-}" == redis-restart ]]; then
    _redis_halt "$2" "$3"
    _redis_launch "$2" "$3" || { svc_log "Redis did not come back on port $3"; exit 1; }
fi
