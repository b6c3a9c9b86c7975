/*  The actor runtime: a body that is not an envelope is failed and counted
    without hurting the worker, a restarted broker is found again, one worker
    serves several brokers, a stopping worker hands its work back at once,
    and a stage that writes one batch while it runs the next (the archive)
    forwards nothing before its write is done.
*/
#include "testutil.h"
#include "../lib/clock.h"
#include "../lib/producer.h"

#include <criterion/criterion.h>
#include <poll.h>
#include <pthread.h>
#include <unistd.h>

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
    s_settings = (worker_config_t) { .stage = "only", .brokers = s_endpoint,
                                     .credit = 4, .heartbeat_ms = 100, .liveness = 3,
                                     .fn = s_pass, .state = &s_calls };
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
    worker_config_t settings = { .stage = "only", .brokers = both,
                                 .credit = 4, .heartbeat_ms = 100, .liveness = 3,
                                 .fn = s_pass, .state = &calls };
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
    worker_config_t sink_settings = { .stage = "sink", .brokers = s_endpoint,
                                      .credit = 64, .heartbeat_ms = 100, .liveness = 3,
                                      .fn = s_check_large, .state = &intact };
    zactor_t *sink = zactor_new (worker_actor, &sink_settings);
    s_settings = (worker_config_t) { .stage = "only", .brokers = s_endpoint,
                                     .credit = 64, .heartbeat_ms = 100, .liveness = 3,
                                     .fn = s_pass, .state = &s_calls };
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

//  --------------------------------------------------------------------------
//  A stage that writes one batch while the next runs (flush_begin/flush_end,
//  as the archive): its writes finish on another thread after WRITE_MS, and
//  a pipe says so.

#define WRITE_MS 30

typedef struct {
    pthread_mutex_t lock;
    int done_pipe [2];              // a byte when the write is done
    char *open_ids [DRP_BATCH_MAX]; // the batch being taken
    uint32_t open_items [DRP_BATCH_MAX];
    int open_count;
    char *write_ids [DRP_BATCH_MAX]; // the batch being written
    uint32_t write_items [DRP_BATCH_MAX];
    int write_count;
    bool writing;                   // a write is running
    zhashx_t *written;              // ids whose write is done (the sink looks)
    int taken_while_writing;        // stage function calls during a write
    int begun_while_writing;        // writes begun during another (must stay 0)
    int writes;                     // writes begun
    int forwarded_early;            // envelopes the sink saw before their write ended
    int sunk;                       // envelopes the sink saw
} s_writer_t;

static s_writer_t s_writer;

static void *
s_finish_write (void *args)
{
    (void) args;
    zclock_sleep (WRITE_MS);
    cr_assert_eq (write (s_writer.done_pipe [1], "x", 1), 1);
    return NULL;
}

static stage_result_t
s_take (void *state, Drift__Envelope *envelope)
{
    s_writer_t *self = (s_writer_t *) state;
    pthread_mutex_lock (&self->lock);
    self->taken_while_writing += self->writing;
    self->open_ids [self->open_count] = strdup (envelope->report_id);
    self->open_items [self->open_count++] = worker_item_index ();
    pthread_mutex_unlock (&self->lock);
    return STAGE_FORWARD;
}

static int
s_write_begin (void *state)
{
    s_writer_t *self = (s_writer_t *) state;
    pthread_mutex_lock (&self->lock);
    self->begun_while_writing += self->writing;
    self->writing = true;
    self->writes++;
    memcpy (self->write_ids, self->open_ids, sizeof self->open_ids);
    memcpy (self->write_items, self->open_items, sizeof self->open_items);
    self->write_count = self->open_count;
    self->open_count = 0;
    pthread_mutex_unlock (&self->lock);
    pthread_t thread;
    pthread_create (&thread, NULL, s_finish_write, NULL);
    pthread_detach (thread);
    return 0;
}

//  Done once the pipe has its byte; ids starting "bad" fail alone.
static int
s_write_end (void *state, bool wait)
{
    s_writer_t *self = (s_writer_t *) state;
    if (!self->writing)
        return 0;
    struct pollfd ready = { self->done_pipe [0], POLLIN, 0 };
    if (!wait && poll (&ready, 1, 0) == 0)
        return 1;
    char byte;
    cr_assert_eq (read (self->done_pipe [0], &byte, 1), 1);
    pthread_mutex_lock (&self->lock);
    for (int i = 0; i < self->write_count; i++) {
        if (strncmp (self->write_ids [i], "bad", 3) == 0)
            worker_fail_item (self->write_items [i], "the test's write refused %s",
                              self->write_ids [i]);
        else
            zhashx_insert (self->written, self->write_ids [i], self);
        free (self->write_ids [i]);
    }
    self->writing = false;
    pthread_mutex_unlock (&self->lock);
    return 0;
}

static int
s_write_fd (void *state)
{
    s_writer_t *self = (s_writer_t *) state;
    return self->writing ? self->done_pipe [0] : -1;
}

static stage_result_t
s_sink_written (void *state, Drift__Envelope *envelope)
{
    s_writer_t *self = (s_writer_t *) state;
    pthread_mutex_lock (&self->lock);
    self->forwarded_early += zhashx_lookup (self->written, envelope->report_id) == NULL;
    self->sunk++;
    pthread_mutex_unlock (&self->lock);
    return STAGE_END;
}

//  count envelopes through "only" (the writing stage, credit two batches;
//  with_fd: it gives the descriptor to wait on) into "sink"; the id
//  numbered bad is named "bad-N".
static void
s_run_writer (zactor_t **broker_p, int count, int bad, bool with_fd)
{
    memset (&s_writer, 0, sizeof s_writer);
    pthread_mutex_init (&s_writer.lock, NULL);
    cr_assert_eq (pipe (s_writer.done_pipe), 0);
    s_writer.written = zhashx_new ();
    s_config = tu_broker_config ("only,sink");
    zactor_t *broker = tu_broker_start (&s_config, s_endpoint);
    worker_config_t sink_settings = { .stage = "sink", .brokers = s_endpoint,
                                      .credit = 128, .heartbeat_ms = 100, .liveness = 3,
                                      .fn = s_sink_written, .state = &s_writer };
    worker_config_t writer_settings = { .stage = "only", .brokers = s_endpoint,
                                        .credit = 128, .heartbeat_ms = 100, .liveness = 3,
                                        .fn = s_take, .state = &s_writer,
                                        .flush_begin = s_write_begin,
                                        .flush_end = s_write_end,
                                        .flush_fd = with_fd ? s_write_fd : NULL };
    zactor_t *sink = zactor_new (worker_actor, &sink_settings);
    zactor_t *writer = zactor_new (worker_actor, &writer_settings);
    cr_assert_eq (tu_wait_stat (broker, "only", "workers", 1, 3000), 1);
    producer_t *producer = producer_new (s_endpoint, "only", 256, 100, 3);
    for (int i = 0; i < count; i++) {
        char id [16];
        snprintf (id, sizeof id, "%s-%d", i == bad ? "bad" : "good", i);
        s_submit (producer, id);
    }
    cr_assert_eq (tu_wait_stat (broker, "only", "done", count, 20000), count);
    cr_assert_eq (tu_wait_stat (broker, "sink", "done", count - (bad >= 0), 10000),
                  count - (bad >= 0));
    producer_destroy (&producer);
    zactor_destroy (&writer);
    zactor_destroy (&sink);
    *broker_p = broker;
}

static void
s_writer_end (zactor_t **broker)
{
    zactor_destroy (broker);
    zhashx_destroy (&s_writer.written);
    close (s_writer.done_pipe [0]);
    close (s_writer.done_pipe [1]);
    pthread_mutex_destroy (&s_writer.lock);
}

Test (worker, a_stage_writes_one_batch_while_it_runs_the_next)
{
    zactor_t *broker;
    s_run_writer (&broker, 600, -1, true);
    cr_assert_eq (s_writer.sunk, 600);
    cr_assert_eq (s_writer.forwarded_early, 0, "nothing is forwarded before its write is done");
    cr_assert_eq (s_writer.begun_while_writing, 0, "one write at a time");
    cr_assert_gt (s_writer.taken_while_writing, 0, "the next batch ran during a write");
    cr_assert_lt (s_writer.writes, 600 / 4, "in batches (%d writes)", s_writer.writes);
    cr_assert_eq (tu_stat (broker, "only", "failed"), 0);
    s_writer_end (&broker);
}

Test (worker, an_item_a_write_refuses_is_failed_alone)
{
    zactor_t *broker;
    s_run_writer (&broker, 300, 150, true);
    cr_assert_eq (tu_stat (broker, "only", "failed"), 1, "the refused item alone");
    cr_assert_eq (s_writer.sunk, 299, "the rest of its batch went on");
    cr_assert_eq (s_writer.forwarded_early, 0);
    cr_assert_eq (zhashx_lookup (s_writer.written, "bad-150"), NULL);
    s_writer_end (&broker);
}

Test (worker, a_write_without_a_descriptor_is_waited_for_at_the_next_turn)
{
    zactor_t *broker;
    s_run_writer (&broker, 300, -1, false);
    cr_assert_eq (s_writer.sunk, 300);
    cr_assert_eq (s_writer.forwarded_early, 0);
    cr_assert_eq (s_writer.begun_while_writing, 0);
    s_writer_end (&broker);
}
