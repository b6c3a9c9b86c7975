/*  drift tail: lines logged by separate actor processes arrive in one tail
    (the stages' workers and the producers in front of them, the replayer
    here as ingest's stand-in: both feed the pipeline through lib/producer),
    a role filter keeps only that role, tenant and report filters keep only
    the lines of that tenant or report (logfmt or JSON), and lines shed under
    overload are counted and reported rather than silently lost.
*/
#include "testutil.h"
#include "../lib/clock.h"
#include "../lib/migrations.h"

#include <criterion/criterion.h>
#include <signal.h>

static char *
s_read_file (const char *path)
{
    FILE *file = fopen (path, "r");
    if (!file)
        return strdup ("");
    fseek (file, 0, SEEK_END);
    long size = ftell (file);
    fseek (file, 0, SEEK_SET);
    char *text = (char *) calloc (1, (size_t) size + 1);
    size_t got = fread (text, 1, (size_t) size, file);
    text [got] = 0;
    fclose (file);
    return text;
}

//  Wait until the file holds every one of the NULL-terminated needles.
static bool
s_wait_for (const char *path, int timeout_ms, ...)
{
    int64_t deadline = clock_mono_ms () + timeout_ms;
    while (true) {
        char *text = s_read_file (path);
        bool all = true;
        va_list args;
        va_start (args, timeout_ms);
        const char *needle;
        while ((needle = va_arg (args, const char *)))
            if (!strstr (text, needle))
                all = false;
        va_end (args);
        free (text);
        if (all)
            return true;
        if (clock_mono_ms () > deadline)
            return false;
        zclock_sleep (50);
    }
}

static void
s_temp_path (char *path, const char *name)
{
    snprintf (path, 256, "/tmp/drift-test-%d-%s", getpid (), name);
    unlink (path);
}

static void
s_wait_peers (const char *endpoint, long peers)
{
    int64_t deadline = clock_mono_ms () + 10000;
    while (tu_remote_stat (endpoint, NULL, "peers") != peers && clock_mono_ms () < deadline)
        zclock_sleep (20);
    cr_assert_eq (tu_remote_stat (endpoint, NULL, "peers"), peers);
}

Test (tail, lines_of_three_actor_processes_appear_in_one_tail, .timeout = 60)
{
    char endpoint [64];
    snprintf (endpoint, sizeof endpoint, "tcp://127.0.0.1:%d", tu_free_port ());
    char all_path [256], score_path [256];
    s_temp_path (all_path, "tail-all");
    s_temp_path (score_path, "tail-score");
    pid_t broker = tu_spawn (NULL, "broker", "--bind", endpoint, NULL);
    pid_t tail_all = tu_spawn (all_path, "tail", "--broker", endpoint, NULL);
    pid_t tail_score = tu_spawn (score_path, "tail", "--broker", endpoint, "--role", "score",
                                 NULL);
    s_wait_peers (endpoint, 2);

    pid_t normalize = tu_spawn (NULL, "normalize", "--broker", endpoint, NULL);
    pid_t score = tu_spawn (NULL, "score", "--broker", endpoint, NULL);
    tu_archive_env ();          // archive needs its sealing key and store
    pid_t archive = tu_spawn (NULL, "archive", "--broker", endpoint, NULL);
    bool all_seen = s_wait_for (all_path, 10000,
                                "role=normalize", "role=score", "role=archive",
                                "msg=\"worker started\" stage=normalize",
                                "msg=\"worker started\" stage=score",
                                "msg=\"worker started\" stage=archive",
                                "role=broker", NULL);
    bool score_seen = s_wait_for (score_path, 5000, "msg=\"worker started\" stage=score", NULL);
    tu_stop (normalize, SIGTERM);
    tu_stop (score, SIGTERM);
    tu_stop (archive, SIGTERM);
    tu_stop (tail_all, SIGTERM);
    tu_stop (tail_score, SIGTERM);
    tu_stop (broker, SIGTERM);

    char *all = s_read_file (all_path);
    char *filtered = s_read_file (score_path);
    cr_assert (all_seen, "tail output was:\n%s", all);
    cr_assert (score_seen, "filtered tail output was:\n%s", filtered);
    cr_assert_null (strstr (filtered, "role=normalize"), "role filter lets other roles through");
    cr_assert_null (strstr (filtered, "role=archive"));
    cr_assert (strstr (all, "drift tail: stopped, 0 log lines shed in all"));
    free (all);
    free (filtered);
    unlink (all_path);
    unlink (score_path);
}

Test (tail, lines_shed_toward_a_stuck_tail_are_reported, .timeout = 120)
{
    char endpoint [64];
    snprintf (endpoint, sizeof endpoint, "tcp://127.0.0.1:%d", tu_free_port ());
    char path [256];
    s_temp_path (path, "tail-shed");
    pid_t broker = tu_spawn (NULL, "broker", "--bind", endpoint, "--liveness", "100", NULL);
    //  The tail is frozen on purpose: its link must not give the broker up
    //  meanwhile (a new subscription would start its shed count over), how
    //  ever long the flood takes (CURVE on every line, sanitizers).
    pid_t tail = tu_spawn (path, "tail", "--broker", endpoint, "--liveness", "100", NULL);
    s_wait_peers (endpoint, 1);
    kill (tail, SIGSTOP);

    //  Far more lines than the queues toward the frozen tail can hold.
    zsock_t *chatty = tu_raw_connect (endpoint);
    drp_header_t log = { .command = DRP_LOG, .status = 1, .name = "flood", .instance = "test/1" };
    const char *line = "level=info role=flood msg=\"one of many\"";
    for (int i = 0; i < 400000; i++)
        tu_raw_send (chatty, &log, line, strlen (line));
    int64_t deadline = clock_mono_ms () + 30000;
    while (tu_remote_stat (endpoint, NULL, "log_lines") < 400000 && clock_mono_ms () < deadline)
        zclock_sleep (50);
    long shed = tu_remote_stat (endpoint, NULL, "log_shed");
    kill (tail, SIGCONT);
    //  A line after the jam carries the broker's count to the tail.
    zclock_sleep (2000);
    const char *last = "level=info role=flood msg=\"after the jam\"";
    tu_raw_send (chatty, &log, last, strlen (last));
    bool reported = s_wait_for (path, 20000, "after the jam", "log lines shed so far", NULL);
    zsock_destroy (&chatty);
    tu_stop (tail, SIGTERM);
    tu_stop (broker, SIGTERM);

    cr_assert_gt (shed, 0, "the broker shed lines toward the frozen tail");
    cr_assert (reported, "the tail reported the shed lines");
    char *text = s_read_file (path);
    char expected [64];
    snprintf (expected, sizeof expected, "stopped, %ld log lines shed in all", shed);
    cr_assert (strstr (text, expected), "expected '%s'", expected);
    free (text);
    unlink (path);
}

//  Which of the lines "line-1" ... "line-<count>" the file at path holds, as
//  "1 3 4" (caller frees).
static char *
s_lines_shown (const char *path, int count)
{
    char *text = s_read_file (path);
    char *shown = (char *) calloc (1, 256);
    for (int i = 1; i <= count; i++) {
        char needle [32];
        snprintf (needle, sizeof needle, "line-%d\"", i);
        if (strstr (text, needle))
            snprintf (shown + strlen (shown), 256 - strlen (shown), "%s%d", *shown ? " " : "", i);
    }
    free (text);
    return shown;
}

Test (tail, tenant_and_report_filters_show_exactly_the_matching_lines, .timeout = 60)
{
    char endpoint [64];
    snprintf (endpoint, sizeof endpoint, "tcp://127.0.0.1:%d", tu_free_port ());
    char tenant_path [256], report_path [256], both_path [256];
    s_temp_path (tenant_path, "tail-tenant");
    s_temp_path (report_path, "tail-report");
    s_temp_path (both_path, "tail-both");
    pid_t broker = tu_spawn (NULL, "broker", "--bind", endpoint, NULL);
    pid_t by_tenant = tu_spawn (tenant_path, "tail", "--broker", endpoint, "--tenant", "acme",
                                NULL);
    pid_t by_report = tu_spawn (report_path, "tail", "--broker", endpoint, "--report", "r2",
                                NULL);
    pid_t by_both = tu_spawn (both_path, "tail", "--broker", endpoint, "--tenant", "acme",
                              "--report", "r2", NULL);
    s_wait_peers (endpoint, 3);

    //  Two tenants, three report ids, both formats; the traps are a tenant
    //  whose name starts with another's, field text inside a quoted message,
    //  and lines with no tenant at all.
    static const char *lines [] = {
        "level=info role=normalize msg=\"line-1\" tenant=acme report_id=r1",
        "level=info role=normalize msg=\"line-2\" tenant=globex report_id=r1",
        "level=warn role=score msg=\"line-3\" tenant=acme report_id=r2 reason=\"a b\"",
        "{\"level\":\"info\",\"role\":\"score\",\"msg\":\"line-4\",\"tenant\":\"acme\","
            "\"report_id\":\"r3\"}",
        "{\"level\":\"info\",\"role\":\"archive\",\"msg\":\"line-5\",\"tenant\":\"globex\","
            "\"report_id\":\"r2\"}",
        "level=info role=broker msg=\"line-6\" stage=normalize",
        "level=warn role=score msg=\"line-7\" reason=\"tenant=acme report_id=r2\" tenant=globex "
            "report_id=r3",
        "level=info role=score msg=\"line-8\" tenant=acmeco report_id=r22",
        "level=info role=archive msg=\"line-9\" tenant=\"acme\" report_id=\"r2\"",
        "{\"level\":\"info\",\"role\":\"notify\",\"msg\":\"line-10\",\"tenant\":\"acme\","
            "\"report_id\":\"r2\"}"
    };
    zsock_t *sender = tu_raw_connect (endpoint);
    drp_header_t log = { .command = DRP_LOG, .status = 1, .name = "test", .instance = "test/1" };
    for (size_t i = 0; i < sizeof lines / sizeof lines [0]; i++)
        tu_raw_send (sender, &log, lines [i], strlen (lines [i]));
    //  The last line matches every filter and comes last on one connection,
    //  so once each tail shows it, each has seen them all.
    bool tenant_done = s_wait_for (tenant_path, 10000, "line-10\"", NULL);
    bool report_done = s_wait_for (report_path, 10000, "line-10\"", NULL);
    bool both_done = s_wait_for (both_path, 10000, "line-10\"", NULL);
    zsock_destroy (&sender);
    tu_stop (by_tenant, SIGTERM);
    tu_stop (by_report, SIGTERM);
    tu_stop (by_both, SIGTERM);
    tu_stop (broker, SIGTERM);

    cr_assert (tenant_done && report_done && both_done);
    char *shown = s_lines_shown (tenant_path, 10);
    cr_assert_str_eq (shown, "1 3 4 9 10", "--tenant acme");
    free (shown);
    shown = s_lines_shown (report_path, 10);
    cr_assert_str_eq (shown, "3 5 9 10", "--report r2");
    free (shown);
    shown = s_lines_shown (both_path, 10);
    cr_assert_str_eq (shown, "3 9 10", "--tenant acme --report r2");
    free (shown);
    unlink (tenant_path);
    unlink (report_path);
    unlink (both_path);
}

//  The replayer is a producer, not a stage worker: its lines reached stderr
//  but never the broker, so `drift tail` showed no replayer and no ingest
//  (the compose test found it). Now lib/producer publishes its thread's lines.
Test (tail, lines_of_a_producer_role_appear_in_the_tail, .timeout = 60)
{
    char *url = tu_fresh_database ();
    cr_assert_gt (migrations_apply (url), 0);
    char *app = tu_app_url (url);
    char endpoint [64];
    snprintf (endpoint, sizeof endpoint, "tcp://127.0.0.1:%d", tu_free_port ());
    char path [256];
    s_temp_path (path, "tail-producer");
    pid_t broker = tu_spawn (NULL, "broker", "--bind", endpoint, NULL);
    pid_t tail = tu_spawn (path, "tail", "--broker", endpoint, NULL);
    s_wait_peers (endpoint, 1);

    pid_t replayer = tu_spawn (NULL, "replayer", "--broker", endpoint, "--database", app, NULL);
    bool seen = s_wait_for (path, 10000, "role=replayer", "msg=\"replayer started\"", NULL);
    tu_stop (replayer, SIGTERM);
    tu_stop (tail, SIGTERM);
    tu_stop (broker, SIGTERM);

    char *text = s_read_file (path);
    cr_assert (seen, "tail output was:\n%s", text);
    free (text);
    unlink (path);
    free (app);
    tu_drop_database (url);
}
