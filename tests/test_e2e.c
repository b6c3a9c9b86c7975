/*  End to end over tcp loopback with every role in its own process: the
    broker and the four stages after ingest (two workers for score) started as `drift`
    subcommands, a producer and a sink in this process. Every envelope must
    reach the end exactly once, having visited all four stages in order; and
    a stage process killed with SIGKILL while holding work must have that work
    finished by another.
*/
#include "testutil.h"
#include "../lib/migrations.h"
#include "../lib/clock.h"
#include "../lib/producer.h"

#include <criterion/criterion.h>
#include <signal.h>

#define E2E_ENVELOPES 10000

static const char *s_stages [] = { "normalize", "score", "archive", "notify" };

//  What the sink saw; written by the sink's thread, read after it stops.
typedef struct {
    int expected_stamps;            // stamps every envelope must carry
    const char **stage_names;       // in order
    volatile int received;          // envelopes that reached the sink
    int duplicates;                 // report ids seen twice
    int out_of_order;               // envelopes whose stamps were wrong
    uint8_t *seen;                  // per report index
    int seen_size;                  // entries in seen
    zhashx_t *instances;            // stage/instance pairs that did work
} sink_t;

static stage_result_t
s_sink (void *state, Drift__Envelope *envelope)
{
    sink_t *sink = (sink_t *) state;
    int index = atoi (envelope->report_id + 2);
    if (index >= 0 && index < sink->seen_size) {
        if (sink->seen [index]++)
            sink->duplicates++;
    }
    bool in_order = (int) envelope->n_stamps == sink->expected_stamps;
    int64_t previous = 0;
    for (size_t i = 0; in_order && i < envelope->n_stamps; i++) {
        Drift__StageStamp *stamp = envelope->stamps [i];
        in_order = streq (stamp->stage, sink->stage_names [i]) && stamp->at_us >= previous;
        previous = stamp->at_us;
        char key [600];
        snprintf (key, sizeof key, "%s %s", stamp->stage, stamp->instance);
        zhashx_update (sink->instances, key, (void *) 1);
    }
    if (!in_order)
        sink->out_of_order++;
    __atomic_add_fetch (&sink->received, 1, __ATOMIC_RELEASE);
    return STAGE_END;
}

static int
s_count_instances (sink_t *sink, const char *stage)
{
    int count = 0;
    size_t length = strlen (stage);
    for (void *item = zhashx_first (sink->instances); item; item = zhashx_next (sink->instances)) {
        const char *key = (const char *) zhashx_cursor (sink->instances);
        if (strncmp (key, stage, length) == 0 && key [length] == ' ')
            count++;
    }
    return count;
}

static void
s_wait_received (sink_t *sink, int expected, int timeout_ms)
{
    int64_t deadline = clock_mono_ms () + timeout_ms;
    while (__atomic_load_n (&sink->received, __ATOMIC_ACQUIRE) < expected
       &&  clock_mono_ms () < deadline)
        zclock_sleep (20);
}

static void
s_submit_all (producer_t *producer, int count, size_t body_size)
{
    for (int i = 0; i < count; i++) {
        char id [32];
        snprintf (id, sizeof id, "r-%d", i);
        size_t size;
        uint8_t *body = tu_envelope (id, body_size, &size);
        cr_assert_eq (producer_submit (producer, body, size, 1, 30000), 0,
                      "no credit for envelope %d", i);
        free (body);
    }
}

Test (e2e, ten_thousand_envelopes_visit_four_stage_processes_in_order, .timeout = 300)
{
    //  Archive records every report: it needs a database that knows the
    //  envelopes' tenant and agent, connected to as the services do.
    char *url = tu_fresh_database ();
    cr_assert_gt (migrations_apply (url), 0);
    char tenant [37], agent_key [41];
    tu_tenant_agent (url, "acme", tenant, agent_key);
    tu_envelope_owner (tenant, agent_key);
    tu_archive_env ();
    char *app = tu_app_url (url);
    char endpoint [64];
    snprintf (endpoint, sizeof endpoint, "tcp://127.0.0.1:%d", tu_free_port ());
    pid_t broker = tu_spawn (NULL, "broker", "--bind", endpoint, "--pipeline",
                             "normalize,score,archive,notify,sink",
                             "--heartbeat-ms", "250", "--liveness", "8", "--log-level", "warn",
                             NULL);
    pid_t stages [6];
    int stage_count = 0;
    for (int i = 0; i < 4; i++) {
        stages [stage_count++] = tu_spawn (NULL, s_stages [i], "--broker", endpoint,
                                           "--database", app,
                                           "--heartbeat-ms", "250", "--liveness", "8",
                                           "--log-level", "warn", NULL);
        if (streq (s_stages [i], "score"))
            stages [stage_count++] = tu_spawn (NULL, "score", "--broker", endpoint,
                                               "--heartbeat-ms", "250", "--liveness", "8",
                                               "--log-level", "warn", NULL);
    }
    sink_t sink = { .expected_stamps = 4, .stage_names = s_stages,
                    .seen = (uint8_t *) calloc (E2E_ENVELOPES, 1), .seen_size = E2E_ENVELOPES,
                    .instances = zhashx_new () };
    worker_config_t sink_config = { .stage = "sink", .brokers = endpoint,
                                    .credit = 64, .heartbeat_ms = 250, .liveness = 8,
                                    .fn = s_sink, .state = &sink };
    zactor_t *sink_worker = zactor_new (worker_actor, &sink_config);
    producer_t *producer = producer_new (endpoint, "normalize", 256, 250, 8);

    s_submit_all (producer, E2E_ENVELOPES, 1024);
    s_wait_received (&sink, E2E_ENVELOPES, 120000);
    long workers_score = tu_remote_stat (endpoint, "score", "workers");
    producer_destroy (&producer);
    zactor_destroy (&sink_worker);
    for (int i = 0; i < stage_count; i++)
        tu_stop (stages [i], SIGTERM);
    tu_stop (broker, SIGTERM);

    cr_assert_eq (sink.received, E2E_ENVELOPES, "reached the end: %d", sink.received);
    cr_assert_eq (sink.duplicates, 0);
    cr_assert_eq (sink.out_of_order, 0, "every envelope stamped by the four stages in order");
    for (int i = 0; i < E2E_ENVELOPES; i++)
        cr_assert_eq (sink.seen [i], 1, "report r-%d arrived %d times", i, sink.seen [i]);
    cr_assert_eq (workers_score, 2);
    cr_assert_eq (s_count_instances (&sink, "score"), 2, "both score workers did work");
    cr_assert_eq (s_count_instances (&sink, "normalize"), 1);
    cr_assert_eq (tu_query_long (url, "SELECT count (*) FROM reports"), E2E_ENVELOPES,
                  "archive recorded each report once");
    free (sink.seen);
    zhashx_destroy (&sink.instances);
    free (app);
    tu_drop_database (url);
}

Test (e2e, work_held_by_a_killed_stage_process_is_finished_by_another, .timeout = 120)
{
    char endpoint [64];
    snprintf (endpoint, sizeof endpoint, "tcp://127.0.0.1:%d", tu_free_port ());
    pid_t broker = tu_spawn (NULL, "broker", "--bind", endpoint, "--pipeline", "normalize,sink",
                             "--heartbeat-ms", "100", "--liveness", "3", NULL);
    pid_t doomed = tu_spawn (NULL, "normalize", "--broker", endpoint, "--credit", "50",
                             "--heartbeat-ms", "100", "--liveness", "3", NULL);
    const char *names [] = { "normalize" };
    sink_t sink = { .expected_stamps = 1, .stage_names = names,
                    .seen = (uint8_t *) calloc (200, 1), .seen_size = 200,
                    .instances = zhashx_new () };
    worker_config_t sink_config = { .stage = "sink", .brokers = endpoint,
                                    .credit = 64, .heartbeat_ms = 100, .liveness = 3,
                                    .fn = s_sink, .state = &sink };
    zactor_t *sink_worker = zactor_new (worker_actor, &sink_config);

    //  Freeze the only normalize worker once registered, so what it is sent
    //  stays in its hands, then kill it.
    int64_t deadline = clock_mono_ms () + 10000;
    while (tu_remote_stat (endpoint, "normalize", "workers") != 1 && clock_mono_ms () < deadline)
        zclock_sleep (20);
    kill (doomed, SIGSTOP);
    producer_t *producer = producer_new (endpoint, "normalize", 256, 100, 3);
    s_submit_all (producer, 200, 1024);
    deadline = clock_mono_ms () + 10000;
    while (tu_remote_stat (endpoint, "normalize", "in_flight") != 50 && clock_mono_ms () < deadline)
        zclock_sleep (5);
    long held = tu_remote_stat (endpoint, "normalize", "in_flight");
    tu_stop (doomed, SIGKILL);
    pid_t heir = tu_spawn (NULL, "normalize", "--broker", endpoint, "--credit", "50",
                           "--heartbeat-ms", "100", "--liveness", "3", NULL);

    s_wait_received (&sink, 200, 30000);
    long requeued = tu_remote_stat (endpoint, "normalize", "requeued");
    producer_destroy (&producer);
    zactor_destroy (&sink_worker);
    tu_stop (heir, SIGTERM);
    tu_stop (broker, SIGTERM);

    cr_assert_eq (held, 50, "the frozen worker held its whole credit");
    cr_assert_eq (requeued, 50, "its 50 went back to the queue");
    cr_assert_eq (sink.received, 200);
    cr_assert_eq (sink.duplicates, 0);
    cr_assert_eq (s_count_instances (&sink, "normalize"), 1, "only the heir finished work");
    free (sink.seen);
    zhashx_destroy (&sink.instances);
}
