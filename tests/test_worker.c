/*  The actor runtime: a body that is not an envelope is failed and counted
    without hurting the worker, a restarted broker is found again, one worker
    serves several brokers, and a stopping worker hands its work back at once.
*/
#include "testutil.h"
#include "../lib/clock.h"
#include "../lib/producer.h"

#include <criterion/criterion.h>

static stage_result_t
s_pass (void *state, Drift__Envelope *envelope)
{
    (void) envelope;
    __atomic_add_fetch ((int *) state, 1, __ATOMIC_RELAXED);
    return STAGE_FORWARD;
}

static void
s_submit (producer_t *producer, const char *id)
{
    size_t size;
    uint8_t *body = tu_envelope (id, 100, &size);
    cr_assert_eq (producer_submit (producer, body, size, 1, 5000), 0);
    free (body);
}

//  A broker with stage "only" and one counting worker; the fixture every
//  single-broker test starts from.
static broker_config_t s_config;
static char s_endpoint [64];
static int s_calls;
static worker_config_t s_settings;

static void
s_start (zactor_t **broker, zactor_t **worker)
{
    s_config = tu_broker_config ("only");
    *broker = tu_broker_start (&s_config, s_endpoint);
    s_settings = (worker_config_t) { "only", s_endpoint, 4, 100, 3, s_pass, &s_calls, NULL, NULL };
    *worker = zactor_new (worker_actor, &s_settings);
}

Test (worker, body_that_is_not_an_envelope_is_failed_and_counted)
{
    zactor_t *broker, *worker;
    s_start (&broker, &worker);
    const char *endpoint = s_endpoint;
    producer_t *producer = producer_new (endpoint, "only", 16, 100, 3);

    const char garbage [] = "\xff\xff\xff\xff not protobuf";
    cr_assert_eq (producer_submit (producer, garbage, sizeof garbage, 1, 5000), 0);
    cr_assert_eq (tu_wait_stat (broker, "only", "failed", 1, 3000), 1);
    s_submit (producer, "good");
    cr_assert_eq (tu_wait_stat (broker, "only", "done", 2, 3000), 2, "the worker carried on");
    cr_assert_eq (tu_stat (broker, "only", "workers"), 1);
    producer_destroy (&producer);
    zactor_destroy (&worker);
    cr_assert_eq (s_calls, 1, "the stage function saw only the real envelope");
    zactor_destroy (&broker);
}

Test (worker, finds_a_restarted_broker_again)
{
    zactor_t *broker, *worker;
    s_start (&broker, &worker);
    const char *endpoint = s_endpoint;
    cr_assert_eq (tu_wait_stat (broker, "only", "workers", 1, 3000), 1);
    zactor_destroy (&broker);

    //  A new broker on the same endpoint: the worker re-registers by itself.
    zclock_sleep (500);
    broker = zactor_new (broker_actor, &s_config);
    cr_assert_gt (broker_bind (broker, endpoint), 0);
    cr_assert_eq (tu_wait_stat (broker, "only", "workers", 1, 10000), 1);
    producer_t *producer = producer_new (endpoint, "only", 16, 100, 3);
    s_submit (producer, "after-restart");
    cr_assert_eq (tu_wait_stat (broker, "only", "done", 1, 3000), 1);
    producer_destroy (&producer);
    zactor_destroy (&worker);
    zactor_destroy (&broker);
}

Test (worker, serves_every_broker_it_is_given)
{
    broker_config_t config = tu_broker_config ("only");
    char first [64], second [64], both [140];
    zactor_t *broker_a = tu_broker_start (&config, first);
    zactor_t *broker_b = tu_broker_start (&config, second);
    snprintf (both, sizeof both, "%s,%s", first, second);
    int calls = 0;
    worker_config_t settings = { "only", both, 4, 100, 3, s_pass, &calls, NULL, NULL };
    zactor_t *worker = zactor_new (worker_actor, &settings);
    producer_t *producer = producer_new (both, "only", 16, 100, 3);
    int64_t deadline = clock_mono_ms () + 3000;
    while (producer_credit (producer) < 32 && clock_mono_ms () < deadline)
        producer_poll (producer, 50);
    cr_assert_eq (producer_credit (producer), 32, "both brokers granted a window");
    for (int i = 0; i < 10; i++)
        s_submit (producer, "either");
    cr_assert_eq (tu_wait_stat (broker_a, "only", "done", 5, 3000), 5, "producer spreads work");
    cr_assert_eq (tu_wait_stat (broker_b, "only", "done", 5, 3000), 5);
    producer_destroy (&producer);
    zactor_destroy (&worker);
    zactor_destroy (&broker_a);
    zactor_destroy (&broker_b);
}

Test (worker, stopping_worker_hands_back_its_work_at_once)
{
    broker_config_t config = tu_broker_config ("only");
    config.liveness = 1000;     // expiry would take 100 s: only DISCONNECT can explain a requeue
    char endpoint [64];
    zactor_t *broker = tu_broker_start (&config, endpoint);
    zsock_t *holder = tu_raw_connect (endpoint);
    tu_raw_ready (holder, "only", 3);
    cr_assert_eq (tu_wait_stat (broker, "only", "workers", 1, 3000), 1);
    producer_t *producer = producer_new (endpoint, "only", 16, 100, 3);
    for (int i = 0; i < 3; i++)
        s_submit (producer, "held");
    cr_assert_eq (tu_wait_stat (broker, "only", "in_flight", 3, 3000), 3);
    drp_header_t bye = { .command = DRP_DISCONNECT, .name = "worker stopping" };
    tu_raw_send (holder, &bye, NULL, 0);
    cr_assert_eq (tu_wait_stat (broker, "only", "requeued", 3, 2000), 3);
    cr_assert_eq (tu_stat (broker, "only", "queued"), 3);
    producer_destroy (&producer);
    zsock_destroy (&holder);
    zactor_destroy (&broker);
}

//  Forwarded envelopes of a batch travel back to back in one DONE frame,
//  which grows as they are packed: each must arrive whole, however large.
static stage_result_t
s_check_large (void *state, Drift__Envelope *envelope)
{
    int index = atoi (envelope->report_id + 4);
    if (envelope->raw.len == 20000 + (size_t) index * 300
    &&  envelope->raw.data [envelope->raw.len - 1] == 'x')
        __atomic_add_fetch ((int *) state, 1, __ATOMIC_RELAXED);
    return STAGE_END;
}

Test (worker, a_batch_of_large_envelopes_is_forwarded_intact)
{
    s_config = tu_broker_config ("only,sink");
    s_config.max_body = 1 << 20;
    zactor_t *broker = tu_broker_start (&s_config, s_endpoint);
    producer_t *producer = producer_new (s_endpoint, "only", 64, 100, 3);
    enum { COUNT = 48 };
    for (int i = 0; i < COUNT; i++) {
        char id [16];
        snprintf (id, sizeof id, "big-%d", i);
        size_t size;
        uint8_t *body = tu_envelope (id, 20000 + (size_t) i * 300, &size);
        cr_assert_eq (producer_submit (producer, body, size, 1, 5000), 0);
        free (body);
    }
    //  Started after the submits, so the first batches are full ones.
    int intact = 0;
    worker_config_t sink_settings = { "sink", s_endpoint, 64, 100, 3, s_check_large, &intact, NULL, NULL };
    zactor_t *sink = zactor_new (worker_actor, &sink_settings);
    s_settings = (worker_config_t) { "only", s_endpoint, 64, 100, 3, s_pass, &s_calls, NULL, NULL };
    zactor_t *worker = zactor_new (worker_actor, &s_settings);
    cr_assert_eq (tu_wait_stat (broker, "sink", "done", COUNT, 10000), COUNT);
    cr_assert_eq (tu_stat (broker, "sink", "failed"), 0, "every forwarded envelope decodes");
    cr_assert_eq (intact, COUNT, "and carries its whole body");
    cr_assert_gt (tu_stat (broker, "only", "done") / tu_stat (broker, "only", "batches"), 1,
                  "forwarded in batches of several");
    producer_destroy (&producer);
    zactor_destroy (&worker);
    zactor_destroy (&sink);
    zactor_destroy (&broker);
}
