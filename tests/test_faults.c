/*  Fault tests with every role in its own process: reports journaled (as
    ingest does) flow through broker, normalize, score, archive and notify
    while the replayer watches the journal; each stage process, the replayer
    and the broker are killed with SIGKILL mid-flow and started again. At the
    end every report is finished exactly once in effect: one archived journal
    entry each, none missing, none dead-lettered. The same for ingest itself,
    with real agents resending what it never acked.
*/
#include "linkutil.h"
#include "../lib/clock.h"
#include "../lib/journal.h"
#include "../lib/log.h"
#include "../lib/migrations.h"

#include <criterion/criterion.h>
#include <libpq-fe.h>
#include <signal.h>

#define FAULT_REPORTS 3000

static char *s_url;                 // the database, as its owner
static char *s_app;                 // ... as a drift_app login, as every role connects
static char s_endpoint [64];

static long
s_archived (void)
{
    return tu_query_long (s_url, "SELECT count (*) FROM pgmq.a_drift_journal");
}

static void
s_wait_archived (long at_least, int timeout_ms)
{
    int64_t deadline = clock_mono_ms () + timeout_ms;
    while (s_archived () < at_least && clock_mono_ms () < deadline)
        zclock_sleep (20);
}

static pid_t
s_start (const char *role)
{
    if (streq (role, "broker"))
        return tu_spawn (NULL, "broker", "--bind", s_endpoint,
                         "--pipeline", "normalize,score,archive,notify",
                         "--heartbeat-ms", "100", "--liveness", "3", NULL);
    if (streq (role, "replayer"))
        return tu_spawn (NULL, "replayer", "--broker", s_endpoint, "--database", s_app,
                         "--stage", "normalize", "--deadline-s", "2", "--max-attempts", "50",
                         "--interval-ms", "200", "--heartbeat-ms", "100", "--liveness", "3",
                         NULL);
    return tu_spawn (NULL, role, "--broker", s_endpoint, "--database", s_app,
                     "--heartbeat-ms", "100", "--liveness", "3", NULL);
}

Test (faults, sigkill_of_every_role_mid_flow_loses_and_doubles_nothing, .timeout = 600)
{
    log_init ("test", "logfmt", "error");
    s_url = tu_fresh_database ();
    cr_assert_gt (migrations_apply (s_url), 0);
    s_app = tu_app_url (s_url);
    tu_archive_env ();
    char tenant [37], agent_key [41];
    tu_tenant_agent (s_url, "acme", tenant, agent_key);
    snprintf (s_endpoint, sizeof s_endpoint, "tcp://127.0.0.1:%d", tu_free_port ());

    //  Journal the reports as ingest would have, visible at once: the
    //  replayer is what brings them into the pipeline.
    journal_t *journal = journal_new (s_url, 5000);
    Drift__Envelope envelopes [100], *pointers [100];
    char ids [100][16];
    int64_t journal_ids [100];
    for (int sent = 0; sent < FAULT_REPORTS; sent += 100) {
        for (int i = 0; i < 100; i++) {
            drift__envelope__init (&envelopes [i]);
            snprintf (ids [i], sizeof ids [i], "r-%d", sent + i);
            envelopes [i].tenant = tenant;
            envelopes [i].agent_key = agent_key;
            envelopes [i].stack = (char *) "payments";
            envelopes [i].report_id = ids [i];
            envelopes [i].body_case = DRIFT__ENVELOPE__BODY_RAW;
            envelopes [i].raw.data = (uint8_t *) "plan";
            envelopes [i].raw.len = 4;
            pointers [i] = &envelopes [i];
        }
        cr_assert_eq (journal_send (journal, pointers, 100, 0, journal_ids), 0);
    }
    journal_destroy (&journal);

    const char *roles [] = { "broker", "normalize", "score", "archive", "notify", "replayer" };
    pid_t pids [6];
    for (int i = 0; i < 6; i++)
        pids [i] = s_start (roles [i]);

    //  Kill each in turn while reports are moving, then start it again.
    const int victims [] = { 1, 2, 0, 3, 5, 4 };
    long archived_at_kill [6];
    for (int k = 0; k < 6; k++) {
        int victim = victims [k];
        s_wait_archived ((long) (k + 1) * FAULT_REPORTS / 8, 60000);
        archived_at_kill [k] = s_archived ();
        tu_stop (pids [victim], SIGKILL);
        pids [victim] = s_start (roles [victim]);
    }
    s_wait_archived (FAULT_REPORTS, 300000);
    long archived = s_archived ();
    long distinct = tu_query_long (s_url, "SELECT count (DISTINCT message->>'report_id') "
                                  "FROM pgmq.a_drift_journal");
    long left = tu_query_long (s_url, "SELECT count (*) FROM pgmq.q_drift_journal");
    long dead = tu_query_long (s_url, "SELECT count (*) FROM pgmq.q_drift_dead");
    long reports = tu_query_long (s_url, "SELECT count (*) FROM reports");
    for (int i = 0; i < 6; i++)
        tu_stop (pids [i], SIGTERM);

    for (int k = 0; k < 6; k++)
        cr_assert_lt (archived_at_kill [k], FAULT_REPORTS, "kill %d came after the flow ended", k);
    cr_assert_eq (archived, FAULT_REPORTS, "every report finished: %ld of %d", archived,
                  FAULT_REPORTS);
    cr_assert_eq (distinct, FAULT_REPORTS, "each report archived once");
    cr_assert_eq (left, 0);
    cr_assert_eq (dead, 0, "nothing dead-lettered");
    cr_assert_eq (reports, FAULT_REPORTS, "the archive recorded every report, once");
    free (s_app);
    tu_drop_database (s_url);
}

//  Two drift-agent daemons send their spools (1 500 reports each) through
//  ingest into the pipeline; ingest is SIGKILLed mid-flow and restarted. The
//  agents resend what was never acked; nothing is lost or doubled.
Test (faults, sigkill_of_ingest_mid_flow_loses_and_doubles_nothing, .timeout = 600)
{
    lu_env_t env;
    lu_setup (&env);
    s_url = env.database;
    s_app = tu_app_url (s_url);
    tu_archive_env ();
    snprintf (s_endpoint, sizeof s_endpoint, "%s", env.broker);
    pid_t roles [6];
    const char *names [] = { "broker", "normalize", "score", "archive", "notify", "replayer" };
    for (int i = 0; i < 6; i++)
        roles [i] = s_start (names [i]);

    pid_t agents [2];
    char spools [2][400];
    for (int a = 0; a < 2; a++) {
        char name [16], prefix [16];
        snprintf (name, sizeof name, "agent-%d", a);
        snprintf (prefix, sizeof prefix, "a%d", a);
        char *certificate = lu_issue (&env, "acme", name);
        snprintf (spools [a], sizeof spools [a], "%s/spool-%d", env.directory, a);
        lu_spool_reports (spools [a], prefix, FAULT_REPORTS / 2);
        const char *agent = getenv ("DRIFT_AGENT_BIN");
        pid_t parent = getpid ();
        pid_t pid = fork ();
        if (pid == 0) {
            tu_die_with_parent (parent);
            execl (agent, agent, "run", "--stacks", "", "--endpoint", env.endpoint,
                   "--server-key", env.server_key, "--certificate", certificate,
                   "--spool", spools [a], "--ack-timeout-ms", "2000", "--backoff-max-ms", "1000",
                   "--log-level", "error", (char *) NULL);
            _exit (127);
        }
        agents [a] = pid;
        free (certificate);
    }
    //  Ingest heartbeats as often as the broker expects (100 ms × 3), or the
    //  broker forgets it between heartbeats and its reports wait for the replayer.
    lu_ingest_start (&env, "--deadline-s", "2", "--rate", "100000", "--burst", "100000",
                     "--heartbeat-ms", "100", "--liveness", "3", NULL);
    long accepted = lu_wait_stat (&env, "accepted", FAULT_REPORTS / 3, 60000);
    lu_ingest_stop (&env, SIGKILL);
    cr_assert_lt (accepted, FAULT_REPORTS, "ingest was killed mid-flow (%ld accepted)", accepted);
    lu_ingest_start (&env, "--deadline-s", "2", "--rate", "100000", "--burst", "100000",
                     "--heartbeat-ms", "100", "--liveness", "3", NULL);

    s_wait_archived (FAULT_REPORTS, 300000);
    long archived = s_archived ();
    long distinct = tu_query_long (s_url, "SELECT count (DISTINCT message->>'report_id') "
                                  "FROM pgmq.a_drift_journal");
    long dead = tu_query_long (s_url, "SELECT count (*) FROM pgmq.q_drift_dead");
    long reports = tu_query_long (s_url, "SELECT count (*) FROM reports");
    long with_objects = tu_query_long (s_url, "SELECT count (*) FROM reports "
                                              "WHERE object_key IS NOT NULL");
    cr_log_info ("ingest killed after %ld accepted; after the restart %ld duplicates acked",
                 accepted, lu_stat (&env, "duplicates"));
    for (int a = 0; a < 2; a++)
        tu_stop (agents [a], SIGTERM);
    for (int i = 0; i < 6; i++)
        tu_stop (roles [i], SIGTERM);
    cr_assert_eq (archived, FAULT_REPORTS, "every report finished: %ld of %d", archived,
                  FAULT_REPORTS);
    cr_assert_eq (distinct, FAULT_REPORTS, "each report archived once");
    cr_assert_eq (dead, 0, "nothing dead-lettered");
    cr_assert_eq (reports, FAULT_REPORTS, "the archive recorded every report, once");
    cr_assert_eq (with_objects, FAULT_REPORTS, "each with its sealed raw report stored");
    free (s_app);
    lu_teardown (&env);
}
