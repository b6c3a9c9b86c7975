/*  The journal cycle through a live pipeline: overdue entries are replayed
    into the entry stage, the last stage acks them (archive), a report that
    fails every time ends in the dead-letter queue after the attempt limit,
    and `drift replay` brings it back once the cause is fixed.
*/
#include "testutil.h"
#include "../actors/actors.h"
#include "../lib/clock.h"
#include "../lib/journal.h"
#include "../lib/log.h"
#include "../lib/migrations.h"
#include "../lib/replayer.h"

#include <criterion/criterion.h>
#include <libpq-fe.h>
#include <sys/wait.h>

static char *s_url;
static volatile int s_poison_fixed;     // normalize stops failing "poison" when set

static stage_result_t
s_normalize (void *state, Drift__Envelope *envelope)
{
    (void) state;
    if (streq (envelope->report_id, "poison") && !s_poison_fixed)
        return STAGE_FAILED;
    return STAGE_FORWARD;
}

static long
s_query_long (const char *sql)
{
    PGconn *conn = PQconnectdb (s_url);
    PGresult *result = PQexec (conn, sql);
    long value = PQresultStatus (result) == PGRES_TUPLES_OK ? atol (PQgetvalue (result, 0, 0)) : -1;
    PQclear (result);
    PQfinish (conn);
    return value;
}

static long
s_wait_query (const char *sql, long expected, int timeout_ms)
{
    int64_t deadline = clock_mono_ms () + timeout_ms;
    long value = s_query_long (sql);
    while (value != expected && clock_mono_ms () < deadline) {
        zclock_sleep (50);
        value = s_query_long (sql);
    }
    return value;
}

static void
s_journal_reports (int count, const char *poison)
{
    journal_t *journal = journal_new (s_url, 5000);
    Drift__Envelope *envelopes = (Drift__Envelope *) calloc ((size_t) count, sizeof *envelopes);
    Drift__Envelope **pointers = (Drift__Envelope **) calloc ((size_t) count, sizeof *pointers);
    char (*ids) [16] = calloc ((size_t) count, 16);
    int64_t *journal_ids = (int64_t *) calloc ((size_t) count, sizeof *journal_ids);
    for (int i = 0; i < count; i++) {
        drift__envelope__init (&envelopes [i]);
        snprintf (ids [i], sizeof ids [i], "r-%d", i);
        envelopes [i].tenant = (char *) "tenant-a";
        envelopes [i].report_id = (i == 0 && poison) ? (char *) poison : ids [i];
        envelopes [i].body_case = DRIFT__ENVELOPE__BODY_RAW;
        envelopes [i].raw.data = (uint8_t *) "plan";
        envelopes [i].raw.len = 4;
        pointers [i] = &envelopes [i];
    }
    //  Delay 0: as if ingest had journaled them and then died before the
    //  pipeline finished them.
    for (int sent = 0; sent < count; sent += 500)
        cr_assert_eq (journal_send (journal, pointers + sent, count - sent < 500 ? count - sent : 500,
                                    0, journal_ids + sent), 0);
    journal_destroy (&journal);
    free (envelopes);
    free (pointers);
    free (ids);
    free (journal_ids);
}

static const config_option_t s_options [] = {
    { "database", CONFIG_STRING, "", "journal database" },
    CONFIG_END
};

Test (replay, overdue_entries_are_replayed_acked_and_poison_is_dead_lettered, .timeout = 120)
{
    log_init ("test", "logfmt", "warn");
    s_url = tu_fresh_database ();
    cr_assert_gt (migrations_apply (s_url), 0);
    s_journal_reports (200, "poison");

    broker_config_t broker_config = tu_broker_config ("normalize,notify");
    char endpoint [64];
    zactor_t *broker = tu_broker_start (&broker_config, endpoint);
    char *argv [] = { "notify", "--database", s_url, NULL };
    int exit_code;
    config_t *config = config_load ("notify", "", s_options, 3, argv, &exit_code);
    void *notify_state = notify_actor.open (config);
    worker_config_t normalize = { "normalize", endpoint, 16, 100, 3, s_normalize, NULL, NULL };
    worker_config_t notify = { "notify", endpoint, 16, 100, 3, notify_actor.fn, notify_state,
                               notify_actor.flush };
    zactor_t *normalize_worker = zactor_new (worker_actor, &normalize);
    zactor_t *notify_worker = zactor_new (worker_actor, &notify);
    replayer_config_t replay = { s_url, endpoint, "normalize", 1, 3, 100, 50, 100, 3 };
    zactor_t *replayer = zactor_new (replayer_actor, &replay);

    //  Everything but the poison is finished and acked once.
    cr_assert_eq (s_wait_query ("SELECT count (*) FROM pgmq.a_drift_journal "
                                "WHERE message->>'report_id' <> 'poison'", 199, 30000), 199);
    //  The poison fails at normalize on every delivery, then is dead-lettered.
    cr_assert_eq (s_wait_query ("SELECT count (*) FROM pgmq.q_drift_dead", 1, 30000), 1);
    cr_assert_eq (s_query_long ("SELECT count (*) FROM pgmq.q_drift_journal"), 0);
    cr_assert_eq (s_query_long ("SELECT (message->>'attempts')::int FROM pgmq.q_drift_dead"), 3);
    cr_assert_eq (s_query_long ("SELECT count (*) FROM pgmq.q_drift_dead "
                                "WHERE message->>'report_id' = 'poison'"), 1);
    cr_assert_eq (tu_stat (broker, "normalize", "failed"), 2,
                  "both replays failed (the first delivery would have been ingest's)");

    //  The operator sees it in `drift status`, with the id to replay.
    char dead_id [24];
    snprintf (dead_id, sizeof dead_id, "%ld", s_query_long ("SELECT msg_id FROM pgmq.q_drift_dead"));
    char status_path [64], expected [96];
    snprintf (status_path, sizeof status_path, "/tmp/drift-test-%d-status", (int) getpid ());
    unlink (status_path);
    pid_t status_command = tu_spawn (status_path, "status", "--broker", endpoint, "--database",
                                     s_url, "--format", "json", NULL);
    int status;
    waitpid (status_command, &status, 0);
    cr_assert (WIFEXITED (status) && WEXITSTATUS (status) == 0, "drift status failed");
    FILE *file = fopen (status_path, "r");
    char output [8192] = "";
    size_t got = fread (output, 1, sizeof output - 1, file);
    output [got] = 0;
    fclose (file);
    unlink (status_path);
    snprintf (expected, sizeof expected, "{\"journal\":0,\"dead\":1,\"dead_ids\":[%s]}", dead_id);
    cr_assert (strstr (output, expected), "status said:\n%s", output);
    cr_assert (strstr (output, "\"name\":\"normalize\""), "and the broker's stages");

    //  The cause is fixed; `drift replay` sends it back and it completes.
    s_poison_fixed = 1;
    pid_t replay_command = tu_spawn (NULL, "replay", "--database", s_url, dead_id, NULL);
    waitpid (replay_command, &status, 0);
    cr_assert (WIFEXITED (status) && WEXITSTATUS (status) == 0, "drift replay failed");
    cr_assert_eq (s_wait_query ("SELECT count (*) FROM pgmq.a_drift_journal "
                                "WHERE message->>'report_id' = 'poison'", 2, 30000), 2,
                  "the dead original and its finished revival, both kept for audit");
    cr_assert_eq (s_query_long ("SELECT count (*) FROM pgmq.q_drift_dead"), 0);
    cr_assert_eq (s_query_long ("SELECT count (*) FROM pgmq.q_drift_journal"), 0);
    cr_assert_eq (s_query_long ("SELECT count (*) FROM pgmq.a_drift_journal"), 201,
                  "every report acked once, the poison twice");

    zactor_destroy (&replayer);
    zactor_destroy (&normalize_worker);
    zactor_destroy (&notify_worker);
    zactor_destroy (&broker);
    notify_actor.close (notify_state);
    config_destroy (&config);
    tu_drop_database (s_url);
}

Test (replay, a_postgresql_restart_mid_flow_loses_and_doubles_nothing, .timeout = 180)
{
    const char *restart = getenv ("DRIFT_TEST_PG_RESTART");
    if ((!restart || !*restart) && getenv ("DRIFT_TEST_PGMQ_URL"))
        cr_skip_test ("the server of DRIFT_TEST_PGMQ_URL is not restarted by tests");
    cr_assert (restart && *restart, "DRIFT_TEST_PG_RESTART is not set: run through scripts/test");
    log_init ("test", "logfmt", "error");
    s_url = tu_fresh_database ();
    cr_assert_gt (migrations_apply (s_url), 0);
    s_journal_reports (3000, NULL);

    broker_config_t broker_config = tu_broker_config ("normalize,notify");
    char endpoint [64];
    zactor_t *broker = tu_broker_start (&broker_config, endpoint);
    char *argv [] = { "notify", "--database", s_url, NULL };
    int exit_code;
    config_t *config = config_load ("notify", "", s_options, 3, argv, &exit_code);
    void *notify_state = notify_actor.open (config);
    worker_config_t normalize = { "normalize", endpoint, 16, 100, 3, s_normalize, NULL, NULL };
    worker_config_t notify = { "notify", endpoint, 16, 100, 3, notify_actor.fn, notify_state,
                               notify_actor.flush };
    zactor_t *normalize_worker = zactor_new (worker_actor, &normalize);
    zactor_t *notify_worker = zactor_new (worker_actor, &notify);
    //  Generous attempts: acks lost to the restart are replays, not poison.
    replayer_config_t replay = { s_url, endpoint, "normalize", 2, 20, 100, 50, 100, 3 };
    zactor_t *replayer = zactor_new (replayer_actor, &replay);

    //  Restart while reports are in flight.
    int64_t deadline = clock_mono_ms () + 30000;
    while (s_query_long ("SELECT count (*) FROM pgmq.a_drift_journal") < 300
       &&  clock_mono_ms () < deadline)
        zclock_sleep (5);
    long before_restart = s_query_long ("SELECT count (*) FROM pgmq.a_drift_journal");
    cr_assert_eq (system (restart), 0, "PostgreSQL restart failed");

    //  Every report finishes, and exactly once: one archive row each.
    cr_assert_eq (s_wait_query ("SELECT count (*) FROM pgmq.a_drift_journal", 3000, 120000), 3000);
    cr_assert_eq (s_query_long ("SELECT count (*) FROM pgmq.q_drift_journal"), 0);
    cr_assert_eq (s_query_long ("SELECT count (*) FROM pgmq.q_drift_dead"), 0);
    cr_assert_eq (s_query_long ("SELECT count (DISTINCT message->>'report_id') "
                                "FROM pgmq.a_drift_journal"), 3000);
    cr_assert_lt (before_restart, 3000, "the restart happened mid-flow");

    zactor_destroy (&replayer);
    zactor_destroy (&normalize_worker);
    zactor_destroy (&notify_worker);
    zactor_destroy (&broker);
    notify_actor.close (notify_state);
    config_destroy (&config);
    tu_drop_database (s_url);
}
