# scripts/lib/supervise.sh -- the supervisor of scripts/run: restart what
# dies, back off, give up on a crash loop. Source it; do not execute it.
# shellcheck shell=bash
#
# scripts/run used to wait for the first child to exit and stop everything
# (issue 22: a kill -9 of normalize took the whole stack down). Now each
# process it starts is registered here with the command that starts it, and
# supervise_loop, the runner's main loop, restarts one that exits by itself:
#
#   - after an exponential backoff (DRIFT_RUN_BACKOFF_MS, 500 ms, doubled at
#     each crash inside the window, at most DRIFT_RUN_BACKOFF_MAX_MS, 30 s),
#     so a role that dies at once does not spin the CPU;
#   - counted: RUN_DIR/supervisor.status has one line per supervised process
#     (name, pid, state, restarts, last exit), rewritten at every change and
#     printed by `scripts/run --status`; every restart is logged;
#   - until a crash loop: DRIFT_RUN_CRASH_LIMIT crashes (5) of one process
#     within DRIFT_RUN_CRASH_WINDOW seconds (60) and the runner gives up,
#     says so and exits non-zero (stopping the rest through its EXIT trap).
#     A role that cannot start (a bad key, a port taken) is not hidden by an
#     endless restart loop.
#
# PostgreSQL and Redis are daemons (pg_ctl, redis-server --daemonize), not
# children: their PIDs are polled at every tick (500 ms) and a dead one is
# started again on the same port and data (pg_revive, redis_revive in
# services.sh), with the same backoff, count and crash-loop rule. A restart
# that fails counts as another crash.
#
# The loop sleeps in `wait -n` on the children and a 500 ms timer, so a
# child's exit is seen at once and Ctrl-C/SIGTERM (whose traps run when
# `wait` is interrupted) stop everything as before.
#
#   supervise_child NAME CMD...   start CMD as NAME (spawn_session), keep CMD
#   supervise_service NAME        watch postgres or redis (started already)
#   supervise_loop                restart what dies; returns only by exit
#   supervise_status_write        rewrite RUN_DIR/supervisor.status
#
# It reads RUN_DIR and CHILD_NAME (PID -> name, the runner's table of what to
# stop on exit) and the log function of the runner.

SUP_BACKOFF_MS=${DRIFT_RUN_BACKOFF_MS:-500}
SUP_BACKOFF_MAX_MS=${DRIFT_RUN_BACKOFF_MAX_MS:-30000}
SUP_CRASH_LIMIT=${DRIFT_RUN_CRASH_LIMIT:-5}
SUP_CRASH_WINDOW=${DRIFT_RUN_CRASH_WINDOW:-60}
SUP_TICK=0.5

declare -A SUP_CMD=()       # name -> the command that starts it (printf %q words)
declare -A SUP_PID=()       # name -> its current PID (empty while it waits to restart)
declare -A SUP_RESTARTS=()  # name -> restarts so far
declare -A SUP_CRASHES=()   # name -> epoch seconds of its crashes inside the window
declare -A SUP_DUE=()       # name -> epoch ms when it is started again (set while it is down)
declare -A SUP_EXIT=()      # name -> how it last ended ("status 137 (SIGKILL)")
declare -a SUP_ORDER=()     # names in the order they were registered, for the status file

_sup_now_ms() { local t=${EPOCHREALTIME/[.,]/}; echo $((10#$t / 1000)); }

# Is PID running (not gone, not a zombie)? /proc, not ps: it runs every tick.
_sup_alive() {
    local st _x
    [[ -r /proc/$1/stat ]] || return 1
    read -r _x _x st _x 2>/dev/null </proc/"$1"/stat || return 1
    [[ $st != Z ]]
}

_sup_register() {
    local name=$1
    [[ -n ${SUP_RESTARTS[$name]+x} ]] && return 0
    SUP_ORDER+=("$name")
    SUP_RESTARTS[$name]=0
    SUP_CRASHES[$name]=""
    SUP_EXIT[$name]="-"
}

supervise_status_write() {
    local name state file=$RUN_DIR/supervisor.status
    {
        echo "# scripts/run's supervisor, $(date -u +%Y-%m-%dT%H:%M:%SZ): name pid state restarts last-exit"
        for name in "${SUP_ORDER[@]}"; do
            if [[ -n ${SUP_DUE[$name]:-} ]]; then state=restarting; else state=running; fi
            printf 'name=%s pid=%s state=%s restarts=%s last_exit="%s"\n' "$name" "${SUP_PID[$name]:--}" \
                "$state" "${SUP_RESTARTS[$name]}" "${SUP_EXIT[$name]}"
        done
    } >"$file.new" && mv -f "$file.new" "$file"
}

# Start (or start again) child NAME from its kept command.
_sup_spawn() {
    local name=$1
    local -a cmd
    eval "cmd=(${SUP_CMD[$name]})"
    spawn_session "${cmd[@]}"
    SUP_PID[$name]=$SPAWNED_PID
    CHILD_NAME[$SPAWNED_PID]=$name
}

supervise_child() {
    local name=$1; shift
    _sup_register "$name"
    SUP_CMD[$name]=$(printf '%q ' "$@")
    _sup_spawn "$name"
}

# postgres or redis, already running: its PID is read now and polled.
supervise_service() {
    local name=$1
    _sup_register "$name"
    SUP_PID[$name]=$(_sup_service_pid "$name") || SUP_PID[$name]=""
}

_sup_service_pid() {
    case $1 in
        postgres) pg_pid ;;
        redis) redis_pid ;;
    esac
}

_sup_service_start() {
    case $1 in
        postgres) pg_revive ;;
        redis) redis_revive ;;
    esac
}

# How a wait status reads: "status 137 (SIGKILL)".
_sup_describe() {
    local rc=$1 sig
    if [[ $rc -gt 128 ]] && sig=$(kill -l $((rc - 128)) 2>/dev/null); then
        echo "status $rc (SIG$sig)"
    else
        echo "status $rc"
    fi
}

# NAME went down (how): count the crash, give up on a loop, else schedule
# its restart after the backoff.
_sup_crashed() {
    local name=$1 how=$2 now t kept="" count=0 delay i
    now=$(date +%s)
    for t in ${SUP_CRASHES[$name]} "$now"; do
        if [[ $((now - t)) -lt $SUP_CRASH_WINDOW ]]; then kept="$kept $t"; count=$((count + 1)); fi
    done
    SUP_CRASHES[$name]=$kept
    SUP_EXIT[$name]=$how
    SUP_PID[$name]=""
    if [[ $count -ge $SUP_CRASH_LIMIT ]]; then
        SUP_DUE[$name]=never
        supervise_status_write
        log "ERROR: $name crashed $count times within $SUP_CRASH_WINDOW s (last: $how): a crash loop, giving up;" \
            "stopping the stack (DRIFT_RUN_CRASH_LIMIT=$SUP_CRASH_LIMIT, DRIFT_RUN_CRASH_WINDOW=$SUP_CRASH_WINDOW)"
        exit 1
    fi
    delay=$SUP_BACKOFF_MS
    for ((i = 1; i < count; i++)); do delay=$((delay * 2)); done
    [[ $delay -le $SUP_BACKOFF_MAX_MS ]] || delay=$SUP_BACKOFF_MAX_MS
    SUP_DUE[$name]=$(($(_sup_now_ms) + delay))
    log "$name (${how}) exited unexpectedly: crash $count within $SUP_CRASH_WINDOW s, restarting in $delay ms"
    supervise_status_write
}

# Start what is due; a service that does not come back is another crash.
_sup_restart_due() {
    local name now
    now=$(_sup_now_ms)
    for name in "${SUP_ORDER[@]}"; do
        [[ -n ${SUP_DUE[$name]:-} && ${SUP_DUE[$name]} != never && ${SUP_DUE[$name]} -le $now ]] || continue
        unset "SUP_DUE[$name]"
        SUP_RESTARTS[$name]=$((SUP_RESTARTS[$name] + 1))
        if [[ -n ${SUP_CMD[$name]:-} ]]; then
            _sup_spawn "$name"
        else
            _sup_service_start "$name" || true
            SUP_PID[$name]=$(_sup_service_pid "$name") || SUP_PID[$name]=""
            if [[ -z ${SUP_PID[$name]} ]]; then
                _sup_crashed "$name" "its restart failed"
                continue
            fi
        fi
        log "restarted $name (pid ${SUP_PID[$name]}), restart ${SUP_RESTARTS[$name]}"
        supervise_status_write
    done
}

supervise_loop() {
    local died rc timer name pid
    supervise_status_write
    while :; do
        sleep "$SUP_TICK" &
        timer=$!
        died=""
        rc=0
        # 2>/dev/null: a child bash has already reaped and forgotten (it
        # printed its "Killed" notice) makes wait say "no record"; the
        # scan below finds that child dead all the same.
        wait -n -p died "${!CHILD_NAME[@]}" "$timer" 2>/dev/null || rc=$?
        if [[ $died != "$timer" ]]; then
            kill "$timer" 2>/dev/null || true
            wait "$timer" 2>/dev/null || true
        fi
        # Every child, not only the one wait named: two may die in one tick.
        for pid in "${!CHILD_NAME[@]}"; do
            _sup_alive "$pid" && continue
            if [[ $pid != "$died" ]]; then
                rc=0
                wait "$pid" 2>/dev/null || rc=$?
            fi
            name=${CHILD_NAME[$pid]}
            unset "CHILD_NAME[$pid]"
            _sup_crashed "$name" "pid $pid, $(_sup_describe "$rc")"
        done
        # The daemons: polled.
        for name in "${SUP_ORDER[@]}"; do
            [[ -z ${SUP_CMD[$name]:-} && -z ${SUP_DUE[$name]:-} ]] || continue
            pid=${SUP_PID[$name]}
            if [[ -z $pid ]] || ! _sup_alive "$pid"; then
                _sup_crashed "$name" "pid ${pid:--} gone"
            fi
        done
        _sup_restart_due
    done
}
