#!/usr/bin/env bash
# test_orphans.sh -- a test that fails, crashes or is killed leaves no
# process behind. tests/orphan_maker.c has one test of each kind; each
# starts a real `drift broker` through tu_spawn and records its PID before
# ending badly. The program must fail (that is its point); then every
# broker it started must be gone within a few seconds, because tu_spawn's
# children die with the test process (PR_SET_PDEATHSIG). A survivor fails
# this test and is stopped here by its PID.
set -euo pipefail
: "${ORPHAN_MAKER:?ORPHAN_MAKER names the orphan_maker executable}"
: "${DRIFT_BIN:?}"

dir=$(mktemp -d "${DRIFT_TEST_VAR_DIR:-/tmp}/orphans.XXXXXX")
trap 'rm -rf "$dir"' EXIT
export DRIFT_ORPHAN_DIR=$dir

rc=0
"$ORPHAN_MAKER" --jobs 1 >"$dir/maker.log" 2>&1 || rc=$?
if [[ $rc -eq 0 ]]; then
    echo "FAIL: orphan_maker passed; its tests are meant to crash, fail and be killed"
    cat "$dir/maker.log"
    exit 1
fi

# Alive means present and not a zombie waiting to be reaped.
alive() { local state; state=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) && [[ $state != Z ]]; }

failed=0
for name in crashes fails killed; do
    file=$dir/$name.pid
    if [[ ! -s $file ]]; then
        echo "FAIL: the test that $name never recorded its broker"
        cat "$dir/maker.log"
        failed=1
        continue
    fi
    pid=$(cat "$file")
    for _ in $(seq 1 100); do
        alive "$pid" || break
        sleep 0.1
    done
    if alive "$pid" && grep -q broker "/proc/$pid/cmdline" 2>/dev/null; then
        echo "FAIL: the broker ($pid) of the test that $name outlived it"
        kill -KILL "$pid" 2>/dev/null || true
        failed=1
    else
        echo "ok: the broker of the test that $name died with it"
    fi
done
exit "$failed"
