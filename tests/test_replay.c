/*  The journal cycle through a live pipeline: overdue entries are replayed
    into the entry stage, the last stage acks them (archive), a report that
    fails every time ends in the dead-letter queue after the attempt limit,
    and `drift replay` brings it back once the cause is fixed. The last
    stage here is a stand-in that only acks (notify proper needs archived
    reports; tests/test_notify.c covers it): this is about the journal.
*/
#include "testutil.h"
#include "../lib/clock.h"
#include "../lib/drp.h"
#include "../lib/worker.h"
#include "../lib/journal.h"
#include "../lib/log.h"
#include "../lib/migrations.h"
#include "../actors/replayer/replayer.h"

#include <criterion/criterion.h>
#include <libpq-fe.h>
#include <sys/wait.h>

static char *s_url;
static volatile int s_poison_fixed;     // normalize stops failing "poison" when set

static stage_result_t
s_normalize (void *state, Drift__Envelope *envelope)
{
    (void) state;
    if (streq (envelope->report_id, "poison") && !s_poison_fixed) {
        worker_fail ("not a plan: the test's poison (attempt %u)", envelope->attempt);
        return STAGE_FAILED;
    }
    return STAGE_FORWARD;
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

//  The last stage: acks each batch's journal entries, as notify does once
//  a report's news is queued.
typedef struct {
    journal_t *journal;              // the journal
    int64_t ids [DRP_BATCH_MAX];     // entries of this batch
    int count;                       // how many
} s_acker_t;

static stage_result_t
s_ack (void *state, Drift__Envelope *envelope)
{
    s_acker_t *self = (s_acker_t *) state;
    if (envelope->journal_id > 0 && self->count < DRP_BATCH_MAX)
        self->ids [self->count++] = envelope->journal_id;
    return STAGE_FORWARD;
}

static int
s_ack_flush (void *state)
{
    s_acker_t *self = (s_acker_t *) state;
    if (self->count == 0)
        return 0;
    if (!self->journal)
        self->journal = journal_new (s_url, 1000);
    int archived = self->journal ? journal_archive (self->journal, self->ids, self->count) : -1;
    self->count = 0;
    if (archived < 0)
        journal_destroy (&self->journal);
    return archived < 0 ? -1 : 0;
}

//  A journal database and the pipeline's end around it: a broker with
//  normalize and notify, a normalize worker (s_normalize), a notify worker
//  that acks the journal, and a replayer feeding normalize.
typedef struct {
    zactor_t *broker;                // in-process broker
    char endpoint [64];              // its endpoint
    broker_config_t broker_config;   // its settings
    s_acker_t acker;                 // the last stage's state
    worker_config_t normalize;       // settings of the two workers
    worker_config_t notify;
    replayer_config_t replay;        // settings of the replayer
    zactor_t *workers [2];           // normalize, notify
    zactor_t *replayer;
} flow_t;

static void
s_flow_start (flow_t *flow, int reports, const char *poison, int deadline_s, int max_attempts)
{
    s_url = tu_fresh_database ();
    cr_assert_gt (migrations_apply (s_url), 0);
    s_journal_reports (reports, poison);
    flow->broker_config = tu_broker_config ("normalize,notify");
    flow->broker = tu_broker_start (&flow->broker_config, flow->endpoint);
    flow->acker = (s_acker_t) { 0 };
    flow->normalize = (worker_config_t) { .stage = "normalize", .brokers = flow->endpoint,
                                          .credit = 16, .heartbeat_ms = 100, .liveness = 3,
                                          .fn = s_normalize, .database = s_url };
    flow->notify = (worker_config_t) { .stage = "notify", .brokers = flow->endpoint,
                                       .credit = 16, .heartbeat_ms = 100, .liveness = 3,
                                       .fn = s_ack, .state = &flow->acker,
                                       .flush = s_ack_flush, .database = s_url };
    flow->workers [0] = zactor_new (worker_actor, &flow->normalize);
    flow->workers [1] = zactor_new (worker_actor, &flow->notify);
    flow->replay = (replayer_config_t) { s_url, flow->endpoint, "normalize", deadline_s,
                                         max_attempts, 100, 50, 100, 3, 30, 7 };
    flow->replayer = zactor_new (replayer_actor, &flow->replay);
}

static void
s_flow_stop (flow_t *flow)
{
    zactor_destroy (&flow->replayer);
    zactor_destroy (&flow->workers [0]);
    zactor_destroy (&flow->workers [1]);
    zactor_destroy (&flow->broker);
    journal_destroy (&flow->acker.journal);
    tu_drop_database (s_url);
}

Test (replay, overdue_entries_are_replayed_acked_and_poison_is_dead_lettered, .timeout = 120)
{
    log_init ("test", "logfmt", "warn");
    flow_t flow;
    s_flow_start (&flow, 200, "poison", 1, 3);
    zactor_t *broker = flow.broker;
    const char *endpoint = flow.endpoint;

    //  Everything but the poison is finished and acked once.
    cr_assert_eq (tu_wait_query (s_url, "SELECT count (*) FROM pgmq.a_drift_journal "
                                "WHERE message->>'report_id' <> 'poison'", 199, 30000), 199);
    //  The poison fails at normalize on every delivery, then is dead-lettered.
    cr_assert_eq (tu_wait_query (s_url, "SELECT count (*) FROM pgmq.q_drift_dead", 1, 30000), 1);
    cr_assert_eq (tu_query_long (s_url, "SELECT count (*) FROM pgmq.q_drift_journal"), 0);
    cr_assert_eq (tu_query_long (s_url, "SELECT (message->>'attempts')::int FROM pgmq.q_drift_dead"), 3);
    cr_assert_eq (tu_query_long (s_url, "SELECT count (*) FROM pgmq.q_drift_dead "
                                "WHERE message->>'report_id' = 'poison'"), 1);
    cr_assert_eq (tu_stat (broker, "normalize", "failed"), 2,
                  "both replays failed (the first delivery would have been ingest's)");
    //  The letter says why: the stage's own reason on the last attempt.
    cr_assert_eq (tu_query_long (s_url, "SELECT count (*) FROM pgmq.q_drift_dead WHERE "
                                "message->'last_failure'->>'stage' = 'normalize' AND "
                                "(message->'last_failure'->>'attempt')::int = 3 AND "
                                "message->>'error' LIKE '%last failure at normalize (attempt 3): "
                                "not a plan: the test''s poison (attempt 3)'"), 1);
    cr_assert_eq (tu_query_long (s_url, "SELECT count (*) FROM drift_failures"), 0,
                  "forgotten once dead-lettered");

    //  The operator sees it in `drift status`, with the id to replay.
    char dead_id [24];
    snprintf (dead_id, sizeof dead_id, "%ld", tu_query_long (s_url, "SELECT msg_id FROM pgmq.q_drift_dead"));
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
    cr_assert_eq (tu_wait_query (s_url, "SELECT count (*) FROM pgmq.a_drift_journal "
                                "WHERE message->>'report_id' = 'poison'", 2, 30000), 2,
                  "the dead original and its finished revival, both kept for audit");
    cr_assert_eq (tu_query_long (s_url, "SELECT count (*) FROM pgmq.q_drift_dead"), 0);
    cr_assert_eq (tu_query_long (s_url, "SELECT count (*) FROM pgmq.q_drift_journal"), 0);
    cr_assert_eq (tu_query_long (s_url, "SELECT count (*) FROM pgmq.a_drift_journal"), 201,
                  "every report acked once, the poison twice");

    s_flow_stop (&flow);
}

Test (replay, a_postgresql_restart_mid_flow_loses_and_doubles_nothing, .timeout = 180)
{
    const char *restart = getenv ("DRIFT_TEST_PG_RESTART");
    if ((!restart || !*restart) && getenv ("DRIFT_TEST_PGMQ_URL"))
        cr_skip_test ("the server of DRIFT_TEST_PGMQ_URL is not restarted by tests");
    cr_assert (restart && *restart, "DRIFT_TEST_PG_RESTART is not set: run through scripts/test");
    log_init ("test", "logfmt", "error");
    flow_t flow;
    //  Generous attempts: acks lost to the restart are replays, not poison.
    s_flow_start (&flow, 3000, NULL, 2, 20);

    //  Restart while reports are in flight.
    int64_t deadline = clock_mono_ms () + 30000;
    while (tu_query_long (s_url, "SELECT count (*) FROM pgmq.a_drift_journal") < 300
       &&  clock_mono_ms () < deadline)
        zclock_sleep (5);
    long before_restart = tu_query_long (s_url, "SELECT count (*) FROM pgmq.a_drift_journal");
    cr_assert_eq (system (restart), 0, "PostgreSQL restart failed");

    //  Every report finishes, and exactly once: one archive row each.
    cr_assert_eq (tu_wait_query (s_url, "SELECT count (*) FROM pgmq.a_drift_journal", 3000, 120000), 3000);
    cr_assert_eq (tu_query_long (s_url, "SELECT count (*) FROM pgmq.q_drift_journal"), 0);
    cr_assert_eq (tu_query_long (s_url, "SELECT count (*) FROM pgmq.q_drift_dead"), 0);
    cr_assert_eq (tu_query_long (s_url, "SELECT count (DISTINCT message->>'report_id') "
                                "FROM pgmq.a_drift_journal"), 3000);
    cr_assert_lt (before_restart, 3000, "the restart happened mid-flow");

    s_flow_stop (&flow);
}
