/*  orphan_maker: tests that end badly on purpose, for tests/test_orphans.sh.

    Each test starts a real `drift broker` with tu_spawn, waits until it
    answers, writes its PID to $DRIFT_ORPHAN_DIR/NAME.pid, and then ends the
    way a broken test does: it crashes (abort), it fails an assertion, or it
    is killed (SIGKILL, as a timeout would). The shell test runs this
    program, which therefore exits non-zero by design (it is not a ctest
    test of its own), and checks that none of the brokers outlived its test.
*/
#include "testutil.h"

#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

//  Start a broker, wait for it to answer, and record its PID under name.
static void
s_broker_then_record (const char *name)
{
    const char *directory = getenv ("DRIFT_ORPHAN_DIR");
    cr_assert (directory && *directory, "DRIFT_ORPHAN_DIR names where the PIDs go");
    char endpoint [64];
    snprintf (endpoint, sizeof endpoint, "tcp://127.0.0.1:%d", tu_free_port ());
    pid_t pid = tu_spawn (NULL, "broker", "--bind", endpoint, "--log-level", "error", NULL);
    int64_t deadline = zclock_mono () + 20000;
    while (tu_remote_stat (endpoint, NULL, "capacity") < 0 && zclock_mono () < deadline)
        zclock_sleep (50);
    cr_assert (tu_remote_stat (endpoint, NULL, "capacity") >= 0, "the broker answers");
    char path [512];
    snprintf (path, sizeof path, "%s/%s.pid", directory, name);
    FILE *file = fopen (path, "w");
    cr_assert (file);
    fprintf (file, "%d\n", (int) pid);
    fclose (file);
}

Test (orphan, test_that_crashes)
{
    s_broker_then_record ("crashes");
    abort ();
}

Test (orphan, test_that_fails)
{
    s_broker_then_record ("fails");
    cr_assert_fail ("failing on purpose, with the broker still running");
}

Test (orphan, test_that_is_killed)
{
    s_broker_then_record ("killed");
    raise (SIGKILL);
}
