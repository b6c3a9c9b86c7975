/*  multihost: actors spread across hosts, made of Linux network namespaces.

    Host A is this machine's own namespace: PostgreSQL, Redis, the broker,
    ingest, score, archive, notify, the replayer and the agent. Hosts B and C
    are network namespaces made here, each joined to A by a veth link into a
    bridge of A's that carries only their subnet; each runs one normalize
    worker that knows nothing but `--broker tcp://A:PORT`. Reports flow and
    both B and C do work; then C's link is cut (`ip link set ... down`) and
    its worker killed mid-flow: the flow goes on through B (which normalizes
    the reports sent after C is lost), `drift status` shows both remote
    workers and then C gone, and every report ends archived exactly once. The namespaces, links and bridge are made and
    removed by the test itself; it needs root. A machine that does not allow
    namespaces fails the test with the reason: it never passes silently.
*/
#include "testutil.h"
#include "linkutil.h"
#include "../bench/hosts.h"
#include "../lib/clock.h"
#include "../lib/log.h"

#include <criterion/criterion.h>
#include <jansson.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/wait.h>
#include <unistd.h>

#define REPORTS 400
#define REPORTS_AFTER 100           // sent once host C is lost

static lu_env_t s_env;
static hosts_t s_hosts;              // hosts B and C (bench/hosts)
static pid_t s_pids [16];           // every process started, stopped at the end
static int s_pid_count;

//  Hosts B (.2) and C (.3) on A's bridge (.1).
static void
s_hosts_make (void)
{
    cr_assert_eq (geteuid (), 0, "the multi-host test makes network namespaces: it must run "
                  "as root");
    char error [256];
    cr_assert_eq (hosts_make (&s_hosts, 2, 213, error, sizeof error), 0,
                  "%s: the multi-host test cannot run here", error);
}

//  Start `drift ARGS` on host (NULL: A), output to log; its PID.
static pid_t
s_start (const char *host, const char *log, ...)
{
    const char *drift = getenv ("DRIFT_BIN");
    char *argv [48];
    int argc = 0;
    if (host) {
        argv [argc++] = (char *) "ip";
        argv [argc++] = (char *) "netns";
        argv [argc++] = (char *) "exec";
        argv [argc++] = (char *) host;
    }
    argv [argc++] = (char *) drift;
    va_list args;
    va_start (args, log);
    char *arg;
    while ((arg = va_arg (args, char *)) && argc < 47)
        argv [argc++] = arg;
    va_end (args);
    argv [argc] = NULL;
    pid_t parent = getpid ();
    pid_t pid = fork ();
    if (pid == 0) {
        tu_die_with_parent (parent);
        FILE *out = fopen (log, "a");
        dup2 (fileno (out), 1);
        dup2 (fileno (out), 2);
        execvp (argv [0], argv);
        _exit (127);
    }
    s_pids [s_pid_count++] = pid;
    return pid;
}

static void
s_setup (void)
{
    log_init ("test", "logfmt", "error");
    lu_setup (&s_env);
    tu_archive_env ();
    s_hosts_make ();
}

static void
s_teardown (void)
{
    for (int i = s_pid_count - 1; i >= 0; i--)
        if (s_pids [i] > 0)
            tu_stop (s_pids [i], SIGTERM);
    s_pid_count = 0;
    hosts_remove (&s_hosts);
    lu_teardown (&s_env);
}

//  The normalize workers the broker lists (drift status --format json):
//  their instances, comma separated, in *instances (caller frees); the count.
static int
s_normalize_workers (const char *broker, char **instances)
{
    char *command = zsys_sprintf ("%s status --broker %s --format json --timeout-ms 1000 "
                                  "2>/dev/null", getenv ("DRIFT_BIN"), broker);
    FILE *out = popen (command, "r");
    json_t *stats = json_loadf (out, JSON_DISABLE_EOF_CHECK, NULL);
    pclose (out);
    zstr_free (&command);
    int count = 0;
    char listed [512] = "";
    size_t index;
    json_t *worker;
    json_array_foreach (json_object_get (stats, "workers"), index, worker) {
        if (strcmp (json_string_value (json_object_get (worker, "stage")), "normalize"))
            continue;
        count++;
        size_t used = strlen (listed);
        snprintf (listed + used, sizeof listed - used, "%s%s", used ? "," : "",
                  json_string_value (json_object_get (worker, "instance")));
    }
    json_decref (stats);
    *instances = strdup (listed);
    return count;
}

//  drift-agent run draining spool to ingest, as the agent of certificate.
static void
s_agent_start (const char *spool, const char *certificate)
{
    pid_t parent = getpid ();
    pid_t agent = fork ();
    if (agent == 0) {
        tu_die_with_parent (parent);
        execl (getenv ("DRIFT_AGENT_BIN"), "drift-agent", "run", "--stacks", "", "--endpoint",
               s_env.endpoint, "--server-key", s_env.server_key, "--certificate", certificate,
               "--spool", spool, "--ack-timeout-ms", "3000", "--backoff-max-ms", "1000",
               "--log-level", "error", (char *) NULL);
        _exit (127);
    }
    s_pids [s_pid_count++] = agent;
}

//  Lines of a worker's log saying it normalized a report.
static long
s_normalized (const char *log)
{
    char *text = tu_read_file (log, NULL);
    long count = 0;
    for (char *at = text ? strstr (text, "report normalized") : NULL; at;
         at = strstr (at + 1, "report normalized"))
        count++;
    free (text);
    return count;
}

Test (multihost, normalize_on_two_other_hosts_shares_work_and_survives_losing_one,
      .init = s_setup, .fini = s_teardown, .timeout = 300)
{
    char *app = tu_app_url (s_env.database);
    int port = tu_free_port ();
    char bind [160], remote [64];
    //  The broker listens on A's loopback (for A's roles; ingest feeds
    //  env.broker) and on A's bridge address (for B and C) only.
    char address [32];
    hosts_address (&s_hosts, -1, address, sizeof address);
    snprintf (remote, sizeof remote, "tcp://%s:%d", address, port);
    snprintf (s_env.broker, sizeof s_env.broker, "tcp://127.0.0.1:%d", port);
    snprintf (bind, sizeof bind, "%s,%s", s_env.broker, remote);
    char log [2][400], a_log [400];
    snprintf (a_log, sizeof a_log, "%s/host-a.log", s_env.directory);
    for (int i = 0; i < 2; i++)
        snprintf (log [i], sizeof log [i], "%s/host-%c.log", s_env.directory, 'b' + i);

    s_start (NULL, a_log, "broker", "--bind", bind, "--heartbeat-ms", "100", "--liveness", "5",
             "--log-level", "warn", NULL);
    const char *stages [] = { "score", "archive", "notify" };
    for (int i = 0; i < 3; i++)
        s_start (NULL, a_log, stages [i], "--broker", s_env.broker, "--database", app,
                 "--heartbeat-ms", "100", "--liveness", "5", "--log-level", "warn", NULL);
    s_start (NULL, a_log, "replayer", "--broker", s_env.broker, "--database", app, "--stage",
             "normalize", "--deadline-s", "5", "--max-attempts", "50", "--interval-ms", "200",
             "--heartbeat-ms", "100", "--liveness", "5", "--log-level", "warn", NULL);
    //  Hosts B and C know only the broker's address.
    pid_t normalize [2];
    for (int i = 0; i < 2; i++)
        normalize [i] = s_start (s_hosts.names [i], log [i], "normalize", "--broker", remote,
                                 "--credit", "4", "--heartbeat-ms", "100", "--liveness", "5",
                                 "--log-level", "debug", NULL);
    char *instances = NULL;
    int64_t deadline = clock_mono_ms () + 15000;
    int workers = 0;
    while ((workers = s_normalize_workers (s_env.broker, &instances)) != 2
       &&  clock_mono_ms () < deadline) {
        free (instances);
        zclock_sleep (100);
    }
    cr_assert_eq (workers, 2, "drift status shows both remote workers: %s", instances);
    //  Each is listed under its own process: ip netns exec execs drift in place.
    for (int i = 0; i < 2; i++) {
        char pid [24];
        snprintf (pid, sizeof pid, "/%d", (int) normalize [i]);
        cr_assert (strstr (instances, pid), "host %c's worker (pid %d) listed: %s", 'B' + i,
                   (int) normalize [i], instances);
    }
    free (instances);

    lu_ingest_start (&s_env, "--rate", "100000", "--burst", "100000", "--heartbeat-ms", "100",
                     "--liveness", "5", NULL);     // as the broker expects
    char *certificate = lu_issue (&s_env, "acme", "agent-0");
    char spool [400];
    snprintf (spool, sizeof spool, "%s/spool", s_env.directory);
    lu_spool_reports (spool, "mh", REPORTS);
    s_agent_start (spool, certificate);

    //  Both hosts do work before C is lost.
    const char *archived = "SELECT count (*) FROM reports";
    deadline = clock_mono_ms () + 60000;
    while ((s_normalized (log [0]) == 0 || s_normalized (log [1]) == 0
        ||  tu_query_long (s_env.database, archived) < REPORTS / 4)
       &&  clock_mono_ms () < deadline)
        zclock_sleep (50);
    long by_b = s_normalized (log [0]), by_c = s_normalized (log [1]);
    long before = tu_query_long (s_env.database, archived);
    cr_assert (by_b > 0 && by_c > 0, "work shared between B (%ld) and C (%ld)", by_b, by_c);
    cr_assert_lt (before, REPORTS, "C is lost mid-flow (%ld archived)", before);

    //  C's link is cut and its worker killed.
    cr_assert_eq (hosts_cut (&s_hosts, 1), 0);
    kill (normalize [1], SIGKILL);
    deadline = clock_mono_ms () + 15000;
    while ((workers = s_normalize_workers (s_env.broker, &instances)) != 1
       &&  clock_mono_ms () < deadline) {
        free (instances);
        zclock_sleep (100);
    }
    char pid [24];
    snprintf (pid, sizeof pid, "/%d", (int) normalize [0]);
    cr_assert_eq (workers, 1, "drift status shows C gone: %s", instances);
    cr_assert (strstr (instances, pid), "B remains: %s", instances);
    free (instances);

    //  More reports after C is gone, so B has work that only it can do
    //  (the first ones may all be normalized already: archive is slower).
    char spool_after [400];
    snprintf (spool_after, sizeof spool_after, "%s/spool-after", s_env.directory);
    lu_spool_reports (spool_after, "mh-after", REPORTS_AFTER);
    s_agent_start (spool_after, certificate);

    //  The flow goes on through B; every report archived exactly once.
    long done = tu_wait_query (s_env.database, archived, REPORTS + REPORTS_AFTER, 180000);
    long acked = tu_wait_query (s_env.database, "SELECT count (DISTINCT message->>'report_id') "
                                "FROM pgmq.a_drift_journal", REPORTS + REPORTS_AFTER, 60000);
    long entries = tu_query_long (s_env.database, "SELECT count (*) FROM pgmq.a_drift_journal");
    long dead = tu_query_long (s_env.database, "SELECT count (*) FROM pgmq.q_drift_dead");
    long after_b = s_normalized (log [0]);
    cr_assert_eq (done, REPORTS + REPORTS_AFTER, "every report archived (%ld)", done);
    cr_assert_eq (acked, REPORTS + REPORTS_AFTER, "every report finished");
    cr_assert_eq (entries, REPORTS + REPORTS_AFTER, "once each in the journal");
    cr_assert_eq (dead, 0);
    cr_assert_gt (after_b, by_b, "B carried on after C was lost (B normalized %ld before, %ld "
                  "in all; C %ld; %ld archived when C was lost)", by_b, after_b, by_c, before);
    cr_log_info ("normalized by B %ld before and %ld in all, by C %ld before it was lost",
                 by_b, after_b, by_c);
    free (certificate);
    free (app);
}
