/*  The broker's promises, checked with raw protocol peers that the test
    drives frame by frame: credit is never exceeded, least recently used
    workers go first, silent workers are expired and their work given to
    others, a stalled stage bounds memory and pauses upstream, stopping
    drains what is queued, bad input is counted while service goes on, and
    `drift status` shows every worker until it is lost.
*/
#include "testutil.h"
#include "../lib/clock.h"
#include "../lib/log.h"
#include "../lib/producer.h"

#include <criterion/criterion.h>
#include <jansson.h>
#include <signal.h>
#include <sys/wait.h>

static zactor_t *s_broker;
static char s_endpoint [64];
static broker_config_t s_config;

//  Raw test peers do not heartbeat unless a test says so: give them five
//  seconds of grace, except where expiry is what is tested.
static void
s_start (const char *pipeline)
{
    s_config = tu_broker_config (pipeline);
    s_config.liveness = 50;
    s_broker = tu_broker_start (&s_config, s_endpoint);
}

static void
s_teardown (void)
{
    zactor_destroy (&s_broker);
}

//  Submit count small envelopes to stage, failing the test if credit never comes.
static void
s_submit (producer_t *producer, int count)
{
    for (int i = 0; i < count; i++) {
        char id [32];
        snprintf (id, sizeof id, "report-%d", i);
        size_t size;
        uint8_t *body = tu_envelope (id, 16, &size);
        cr_assert (producer_submit (producer, body, size, 1, 5000) == 0, "no credit for %d", i);
        free (body);
    }
}

//  Count work items arriving at raw within timeout_ms (a WORK carries a batch).
static int
s_count_work (zsock_t *raw, int timeout_ms, uint64_t *ids, int max)
{
    int count = 0;
    drp_header_t header;
    while (tu_raw_recv (raw, &header, NULL, timeout_ms) == 0)
        if (header.command == DRP_WORK)
            for (uint32_t i = 0; i < header.count; i++) {
                if (ids && count < max)
                    ids [count] = header.items [i].id;
                count++;
            }
    return count;
}

static void
s_done (zsock_t *raw, uint64_t id)
{
    drp_header_t done = { .command = DRP_DONE, .count = 1 };
    done.items [0] = (drp_item_t) { .id = id, .status = DRP_DONE_END };
    tu_raw_send (raw, &done, NULL, 0);
}

//  Answer a WORK batch by forwarding every item unchanged.
static void
s_forward_all (zsock_t *raw, drp_header_t *work, zchunk_t *body)
{
    drp_header_t done = { .command = DRP_DONE, .count = work->count };
    for (uint32_t i = 0; i < work->count; i++)
        done.items [i] = (drp_item_t) { .id = work->items [i].id, .status = DRP_DONE_FORWARD,
                                        .size = work->items [i].size };
    tu_raw_send (raw, &done, zchunk_data (body), zchunk_size (body));
}

Test (broker, credit_is_never_exceeded, .fini = s_teardown)
{
    s_start ("only");
    zsock_t *worker = tu_raw_connect (s_endpoint);
    tu_raw_ready (worker, "only", 3);
    cr_assert_eq (tu_wait_stat (s_broker, "only", "workers", 1, 2000), 1);
    producer_t *producer = producer_new (s_endpoint, "only", 64, 100, 3);
    s_submit (producer, 20);

    uint64_t ids [20];
    cr_assert_eq (s_count_work (worker, 300, ids, 20), 3, "worker granted 3 got more or fewer");
    cr_assert_eq (tu_stat (s_broker, "only", "queued"), 17);
    s_done (worker, ids [0]);
    uint64_t more [20];
    cr_assert_eq (s_count_work (worker, 300, more, 20), 1, "one DONE returns one credit");
    cr_assert_eq (tu_stat (s_broker, "only", "in_flight"), 3);
    producer_destroy (&producer);
    zsock_destroy (&worker);
}

Test (broker, least_recently_used_worker_goes_first, .fini = s_teardown)
{
    s_start ("only");
    zsock_t *a = tu_raw_connect (s_endpoint);
    zsock_t *b = tu_raw_connect (s_endpoint);
    zsock_t *c = tu_raw_connect (s_endpoint);
    tu_raw_ready (a, "only", 1);
    cr_assert_eq (tu_wait_stat (s_broker, "only", "workers", 1, 2000), 1);
    tu_raw_ready (b, "only", 1);
    cr_assert_eq (tu_wait_stat (s_broker, "only", "workers", 2, 2000), 2);
    tu_raw_ready (c, "only", 1);
    cr_assert_eq (tu_wait_stat (s_broker, "only", "workers", 3, 2000), 3);

    producer_t *producer = producer_new (s_endpoint, "only", 64, 100, 3);
    s_submit (producer, 3);
    uint64_t id_a = 0, id_b = 0, id_c = 0;
    cr_assert_eq (s_count_work (a, 300, &id_a, 1), 1);
    cr_assert_eq (s_count_work (b, 300, &id_b, 1), 1);
    cr_assert_eq (s_count_work (c, 300, &id_c, 1), 1);
    cr_assert (id_a < id_b && id_b < id_c, "registration order is the first LRU order");

    //  Finish in the order a, c, b: that is the new order of use.
    s_done (a, id_a);
    cr_assert_eq (tu_wait_stat (s_broker, "only", "done", 1, 2000), 1);
    s_done (c, id_c);
    cr_assert_eq (tu_wait_stat (s_broker, "only", "done", 2, 2000), 2);
    s_done (b, id_b);
    cr_assert_eq (tu_wait_stat (s_broker, "only", "done", 3, 2000), 3);
    s_submit (producer, 3);
    cr_assert_eq (s_count_work (a, 300, &id_a, 1), 1);
    cr_assert_eq (s_count_work (b, 300, &id_b, 1), 1);
    cr_assert_eq (s_count_work (c, 300, &id_c, 1), 1);
    cr_assert (id_a < id_c && id_c < id_b, "least recently used first: a, then c, then b");
    producer_destroy (&producer);
    zsock_destroy (&a);
    zsock_destroy (&b);
    zsock_destroy (&c);
}

Test (broker, silent_busy_worker_is_expired_and_its_work_goes_to_another,
      .fini = s_teardown)
{
    s_config = tu_broker_config ("only");
    s_broker = tu_broker_start (&s_config, s_endpoint);
    zsock_t *doomed = tu_raw_connect (s_endpoint);
    tu_raw_ready (doomed, "only", 5);
    cr_assert_eq (tu_wait_stat (s_broker, "only", "workers", 1, 2000), 1);
    producer_t *producer = producer_new (s_endpoint, "only", 64, 100, 3);
    s_submit (producer, 5);
    cr_assert_eq (s_count_work (doomed, 300, NULL, 0), 5);
    //  The worker dies holding five messages: no DISCONNECT, no heartbeats.
    zsock_destroy (&doomed);

    zsock_t *heir = tu_raw_connect (s_endpoint);
    tu_raw_ready (heir, "only", 10);
    cr_assert_eq (tu_wait_stat (s_broker, "only", "requeued", 5, 3000), 5);
    int received = 0;
    drp_header_t header;
    zchunk_t *body;
    while (received < 5 && tu_raw_recv (heir, &header, &body, 2000) == 0) {
        if (header.command != DRP_WORK)
            continue;
        const uint8_t *cursor = zchunk_data (body);
        for (uint32_t i = 0; i < header.count; i++) {
            Drift__Envelope *envelope = drift__envelope__unpack (NULL, header.items [i].size,
                                                                 cursor);
            cursor += header.items [i].size;
            char expected [32];
            snprintf (expected, sizeof expected, "report-%d", received);
            cr_assert_str_eq (envelope->report_id, expected, "requeued in original order");
            drift__envelope__free_unpacked (envelope, NULL);
            received++;
            s_done (heir, header.items [i].id);
        }
        zchunk_destroy (&body);
    }
    cr_assert_eq (received, 5);
    cr_assert_eq (tu_wait_stat (s_broker, "only", "done", 5, 2000), 5);
    cr_assert_eq (tu_stat (s_broker, NULL, "items"), 0);
    producer_destroy (&producer);
    zsock_destroy (&heir);
}

Test (broker, idle_silent_worker_is_expired_but_heartbeating_one_is_kept,
      .fini = s_teardown)
{
    s_config = tu_broker_config ("only");
    s_broker = tu_broker_start (&s_config, s_endpoint);
    zsock_t *silent = tu_raw_connect (s_endpoint);
    zsock_t *alive = tu_raw_connect (s_endpoint);
    tu_raw_ready (silent, "only", 2);
    tu_raw_ready (alive, "only", 2);
    cr_assert_eq (tu_wait_stat (s_broker, "only", "workers", 2, 2000), 2);
    //  Ten heartbeat intervals: the one answering heartbeats stays.
    drp_header_t heartbeat = { .command = DRP_HEARTBEAT };
    for (int i = 0; i < 10; i++) {
        tu_raw_send (alive, &heartbeat, NULL, 0);
        zclock_sleep (100);
    }
    cr_assert_eq (tu_stat (s_broker, "only", "workers"), 1);
    cr_assert_eq (tu_stat (s_broker, "only", "credit"), 2);
    //  An expired worker that speaks again is told to register anew.
    s_done (silent, 1);
    drp_header_t header;
    cr_assert_eq (tu_raw_recv (silent, &header, NULL, 1000), 0);
    cr_assert_eq (header.command, DRP_DISCONNECT);
    zsock_destroy (&silent);
    zsock_destroy (&alive);
}

Test (broker, stalled_stage_bounds_memory_pauses_upstream_and_resumes,
      .fini = s_teardown)
{
    s_config = tu_broker_config ("first,second");
    s_config.capacity = 50;
    s_config.producer_window = 20;
    s_config.liveness = 50;
    s_broker = tu_broker_start (&s_config, s_endpoint);
    zsock_t *first = tu_raw_connect (s_endpoint);
    zsock_t *second = tu_raw_connect (s_endpoint);
    tu_raw_ready (first, "first", 10);
    tu_raw_ready (second, "second", 5);
    producer_t *producer = producer_new (s_endpoint, "first", 20, 100, 3);

    //  "first" forwards everything at once; "second" takes five and stalls
    //  (it keeps heartbeating, so it is slow, not dead).
    int accepted = 0;
    int64_t deadline = clock_mono_ms () + 3000;
    drp_header_t heartbeat = { .command = DRP_HEARTBEAT };
    size_t size;
    uint8_t *body = tu_envelope ("stalled", 1000, &size);
    while (clock_mono_ms () < deadline) {
        while (producer_submit (producer, body, size, 1, 0) == 0)
            accepted++;
        producer_poll (producer, 5);
        drp_header_t header;
        zchunk_t *work;
        while (tu_raw_recv (first, &header, &work, 1) == 0)
            if (header.command == DRP_WORK) {
                s_forward_all (first, &header, work);
                zchunk_destroy (&work);
            }
        tu_raw_send (second, &heartbeat, NULL, 0);
    }
    //  Everything the broker holds is within its bounds, and the producer
    //  stopped getting credit: upstream is paused, nothing was dropped.
    long items = tu_stat (s_broker, NULL, "items");
    long peak = tu_stat (s_broker, NULL, "items_peak");
    cr_assert_leq (tu_stat (s_broker, "second", "queued"), 50);
    cr_assert_leq (peak, 2 * 50 + 20, "items peak %ld beyond two queues plus a window", peak);
    cr_assert_eq (producer_submit (producer, body, size, 1, 300), -1, "upstream paused");
    cr_assert_eq (items, accepted, "every accepted envelope is still held");
    cr_assert_eq (tu_stat (s_broker, "second", "in_flight"), 5);

    //  The stage recovers: finish everything, and the flow resumes.
    int finished = 0;
    int extra = 0;
    deadline = clock_mono_ms () + 10000;
    while (finished < accepted + extra && clock_mono_ms () < deadline) {
        drp_header_t header;
        zchunk_t *work;
        if (tu_raw_recv (first, &header, &work, 1) == 0 && header.command == DRP_WORK)
            s_forward_all (first, &header, work);
        zchunk_destroy (&work);
        if (tu_raw_recv (second, &header, NULL, 1) == 0 && header.command == DRP_WORK)
            for (uint32_t i = 0; i < header.count; i++) {
                s_done (second, header.items [i].id);
                finished++;
            }
        if (extra < 100 && producer_submit (producer, body, size, 1, 0) == 0)
            extra++;
        producer_poll (producer, 0);
    }
    if (extra != 100) {
        char *stats = broker_stats (s_broker);
        cr_log_error ("after recovery: accepted %d finished %d extra %d stats %s",
                      accepted, finished, extra, stats);
        free (stats);
    }
    cr_assert_eq (extra, 100, "producer got credit again after the stall");
    cr_assert_eq (finished, accepted + extra);
    cr_assert_eq (tu_wait_stat (s_broker, NULL, "items", 0, 2000), 0);
    free (body);
    producer_destroy (&producer);
    zsock_destroy (&first);
    zsock_destroy (&second);
}

//  A stage function counting what reaches the end.
static stage_result_t
s_count_end (void *state, Drift__Envelope *envelope)
{
    (void) envelope;
    (*(volatile int *) state)++;
    return STAGE_END;
}

static stage_result_t
s_pass (void *state, Drift__Envelope *envelope)
{
    (void) state;
    (void) envelope;
    return STAGE_FORWARD;
}

Test (broker, stopping_drains_queued_work_first)
{
    s_start ("first,last");
    producer_t *producer = producer_new (s_endpoint, "first", 64, 100, 3);
    s_submit (producer, 200);
    cr_assert_eq (tu_wait_stat (s_broker, "first", "queued", 200, 2000), 200);
    producer_destroy (&producer);

    volatile int ended = 0;
    worker_config_t first = { .stage = "first", .brokers = s_endpoint,
                              .credit = 8, .heartbeat_ms = 100, .liveness = 3,
                              .fn = s_pass };
    worker_config_t last = { .stage = "last", .brokers = s_endpoint,
                             .credit = 8, .heartbeat_ms = 100, .liveness = 3,
                             .fn = s_count_end, .state = (void *) &ended };
    zactor_t *first_worker = zactor_new (worker_actor, &first);
    zactor_t *last_worker = zactor_new (worker_actor, &last);
    //  Stop at once: the broker must finish the 200 before it goes.
    zactor_destroy (&s_broker);
    cr_assert_eq (ended, 200, "queued work finished before stopping, got %d", ended);
    zactor_destroy (&first_worker);
    zactor_destroy (&last_worker);
}

Test (broker, bad_input_is_counted_and_service_goes_on, .fini = s_teardown)
{
    s_start ("only");
    zsock_t *rogue = tu_raw_connect (s_endpoint);
    void *handle = zsock_resolve (rogue);
    zmq_send (handle, "garbage", 7, 0);                      // no signature
    zmq_send (handle, "DRP\x07\x01", 5, 0);                  // unknown version
    zmq_send (handle, "DRP\x01\x63", 5, 0);                  // unknown command
    zmq_send (handle, "DRP\x01\x01\x00", 6, 0);              // READY cut short
    zmq_send (handle, "DRP\x01\x04", 5, ZMQ_SNDMORE);        // too many frames
    zmq_send (handle, "a", 1, ZMQ_SNDMORE);
    zmq_send (handle, "b", 1, 0);
    drp_header_t done = { .command = DRP_DONE, .count = 1 };
    done.items [0] = (drp_item_t) { .id = 42, .status = DRP_DONE_END };
    tu_raw_send (rogue, &done, NULL, 0);                     // DONE from a stranger
    drp_header_t ready = { .command = DRP_READY, .count = 1 };
    strcpy (ready.name, "nonesuch");
    tu_raw_send (rogue, &ready, NULL, 0);                    // unknown stage

    //  A producer sending more than max-body is refused, but keeps its link.
    producer_t *producer = producer_new (s_endpoint, "only", 64, 100, 3);
    size_t big_size = (size_t) s_config.max_body + 1;
    uint8_t *big = (uint8_t *) calloc (1, big_size);
    cr_assert_eq (producer_submit (producer, big, big_size, 1, 5000), 0);
    free (big);

    cr_assert_eq (tu_wait_stat (s_broker, "errors", "oversize", 1, 2000), 1);
    cr_assert_eq (tu_stat (s_broker, "errors", "bad_signature"), 1);
    cr_assert_eq (tu_stat (s_broker, "errors", "bad_version"), 1);
    cr_assert_eq (tu_stat (s_broker, "errors", "unknown_command"), 1);
    cr_assert_eq (tu_stat (s_broker, "errors", "malformed_header"), 1);
    cr_assert_eq (tu_stat (s_broker, "errors", "bad_frames"), 1);
    cr_assert_eq (tu_stat (s_broker, "errors", "unknown_peer"), 1);
    cr_assert_eq (tu_stat (s_broker, "errors", "unknown_stage"), 1);
    cr_assert_eq (tu_stat (s_broker, "only", "queued"), 0, "the oversize envelope was not queued");

    //  A sender past libzmq's hard limit is cut off by libzmq; still serving.
    zsock_t *flood = tu_raw_connect (s_endpoint);
    size_t huge_size = (size_t) s_config.max_body * 3 + 65536;
    uint8_t *huge = (uint8_t *) calloc (1, huge_size);
    drp_header_t submit = { .command = DRP_SUBMIT, .count = 1 };
    tu_raw_send (flood, &submit, huge, huge_size);
    free (huge);

    zsock_t *worker = tu_raw_connect (s_endpoint);
    tu_raw_ready (worker, "only", 4);
    s_submit (producer, 3);
    cr_assert_eq (s_count_work (worker, 500, NULL, 0), 3, "the broker keeps serving");
    producer_destroy (&producer);
    zsock_destroy (&worker);
    zsock_destroy (&flood);
    zsock_destroy (&rogue);
}

//  Run `drift status --broker endpoint --format format` to the end; returns
//  what it printed (caller frees).
static char *
s_drift_status (const char *format)
{
    char path [64];
    snprintf (path, sizeof path, "/tmp/drift-test-%d-status", (int) getpid ());
    unlink (path);
    pid_t status = tu_spawn (path, "status", "--broker", s_endpoint, "--format", format, NULL);
    int code = -1;
    cr_assert_eq (waitpid (status, &code, 0), status);
    cr_assert (WIFEXITED (code) && WEXITSTATUS (code) == 0, "drift status failed");
    char *text = tu_read_file (path, NULL);
    cr_assert (text);
    unlink (path);
    return text;
}

//  The "workers" of `drift status --format json`, as stage:instance:version:
//  credit left/granted:in flight, sorted, joined by spaces.
static char *
s_workers_seen (void)
{
    char *text = s_drift_status ("json");
    json_error_t error;
    json_t *root = json_loads (text, JSON_DISABLE_EOF_CHECK, &error);
    cr_assert (root, "status JSON unreadable (%s): %s", error.text, text);
    char *seen = (char *) calloc (1, 4096);
    size_t index;
    json_t *worker;
    json_array_foreach (json_object_get (root, "workers"), index, worker) {
        cr_assert_lt (json_integer_value (json_object_get (worker, "heard_ms_ago")), 5000);
        cr_assert_geq (json_integer_value (json_object_get (worker, "connected_ms_ago")),
                       json_integer_value (json_object_get (worker, "heard_ms_ago")));
        snprintf (seen + strlen (seen), 4096 - strlen (seen), "%s%s:%s:%s:%lld/%lld:%lld",
                  index ? " " : "",
                  json_string_value (json_object_get (worker, "stage")),
                  json_string_value (json_object_get (worker, "instance")),
                  json_string_value (json_object_get (worker, "version")),
                  (long long) json_integer_value (json_object_get (worker, "credit")),
                  (long long) json_integer_value (json_object_get (worker, "ready_credit")),
                  (long long) json_integer_value (json_object_get (worker, "in_flight")));
    }
    json_t *producer = json_array_get (json_object_get (root, "producers"), 0);
    if (producer)
        snprintf (seen + strlen (seen), 4096 - strlen (seen), " producer %s:%s:%s:%lld/%lld",
                  json_string_value (json_object_get (producer, "stage")),
                  json_string_value (json_object_get (producer, "instance")),
                  json_string_value (json_object_get (producer, "version")),
                  (long long) json_integer_value (json_object_get (producer, "granted")),
                  (long long) json_integer_value (json_object_get (producer, "window")));
    json_decref (root);
    free (text);
    return seen;
}

Test (broker, status_lists_every_worker_until_it_is_lost, .fini = s_teardown, .timeout = 60)
{
    s_start ("normalize");
    pid_t small = tu_spawn (NULL, "normalize", "--broker", s_endpoint, "--credit", "3", NULL);
    pid_t large = tu_spawn (NULL, "normalize", "--broker", s_endpoint, "--credit", "7", NULL);
    cr_assert_eq (tu_wait_stat (s_broker, "normalize", "workers", 2, 10000), 2);
    producer_t *producer = producer_new (s_endpoint, "normalize", 16, 100, 50);
    cr_assert_eq (tu_wait_stat (s_broker, "normalize", "granted", 16, 5000), 16);

    char host [256] = "unknown";
    gethostname (host, sizeof host - 1);
    char small_worker [400], large_worker [400], expected [1024];
    snprintf (small_worker, sizeof small_worker, "normalize:%.250s/%d:%s:3/3:0", host,
              (int) small, DRIFT_VERSION);
    snprintf (large_worker, sizeof large_worker, "normalize:%.250s/%d:%s:7/7:0", host,
              (int) large, DRIFT_VERSION);
    //  Sorted by instance: the same host, so by pid as text.
    char small_pid [16], large_pid [16];
    snprintf (small_pid, sizeof small_pid, "%d", (int) small);
    snprintf (large_pid, sizeof large_pid, "%d", (int) large);
    bool small_first = strcmp (small_pid, large_pid) < 0;
    snprintf (expected, sizeof expected, "%s %s producer normalize:%s:%s:16/16",
              small_first ? small_worker : large_worker,
              small_first ? large_worker : small_worker, log_instance (), DRIFT_VERSION);
    char *seen = s_workers_seen ();
    cr_assert_str_eq (seen, expected);
    free (seen);
    producer_destroy (&producer);

    char small_instance [300], large_instance [300];
    snprintf (small_instance, sizeof small_instance, "%.250s/%d ", host, (int) small);
    snprintf (large_instance, sizeof large_instance, "%.250s/%d ", host, (int) large);
    char *text = s_drift_status ("text");
    cr_assert (strstr (text, small_instance) && strstr (text, large_instance), "%s", text);
    free (text);

    //  A host lost without a word: its worker expires and leaves the list.
    tu_stop (small, SIGKILL);
    cr_assert_eq (tu_wait_stat (s_broker, "normalize", "workers", 1, 10000), 1);
    snprintf (large_worker, sizeof large_worker, "normalize:%.250s/%d:%s:7/7:0", host,
              (int) large, DRIFT_VERSION);
    seen = s_workers_seen ();
    cr_assert_str_eq (seen, large_worker);
    free (seen);
    text = s_drift_status ("text");
    cr_assert (strstr (text, large_instance), "%s", text);
    cr_assert_null (strstr (text, small_instance), "a lost worker is still listed:\n%s", text);
    free (text);
    tu_stop (large, SIGTERM);
}
