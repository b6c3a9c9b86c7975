/*  bench/pipeline: envelopes per second through the broker and the
    normalize, score and notify stage processes after ingest over tcp loopback, beside raw ZeroMQ
    PUSH->PULL of the same size measured in the same run.

    usage: bench_pipeline [envelopes] [runs]   (defaults 100000, 5)

    Each configuration (1 and 2 workers per stage) starts a `drift broker`
    and the stage processes (DRIFT_BIN, or `drift` beside this binary), then
    times `runs` batches: from the first SUBMIT until the broker reports the
    last stage done with all of them. A run is 7 socket transfers per
    envelope (SUBMIT, then WORK and DONE at each of three stages). Archive
    is left out: it writes PostgreSQL and the object store for every report,
    which bench/archive measures; here the envelopes are transport load. Printed:
    every run, the median, the ratio of the median to raw PUSH->PULL, and
    the broker's peak resident memory.

    Each configuration runs twice: the broker in plaintext (--curve-cert "")
    and with CURVE as deployed (its keypair, a role key per stage, the
    bench's own key with roles ingest and operator), so the price of the
    broker's encryption is printed beside the protocol's own cost.
*/
#include "median.h"
#include "../lib/clock.h"
#include "../lib/drp.h"
#include "../lib/link.h"
#include "../lib/producer.h"
#include "../lib/rolekeys.h"
#include "drift.pb-c.h"

#include <czmq.h>
#include <jansson.h>
#include <libgen.h>
#include <signal.h>
#include <sys/wait.h>

#define BODY_SIZE 1024

static const char *s_stages [] = { "normalize", "score", "notify" };
#define STAGES ((int) (sizeof s_stages / sizeof s_stages [0]))

//  --------------------------------------------------------------------------
//  Raw PUSH -> PULL baseline

static void
s_puller (zsock_t *pipe, void *args)
{
    int count = *(int *) args;
    zsock_t *pull = zsock_new_pull ("tcp://127.0.0.1:*");
    zsock_signal (pipe, 0);
    zsock_send (pipe, "i", zsock_endpoint (pull) ? atoi (strrchr (zsock_endpoint (pull), ':') + 1) : -1);
    zmq_msg_t msg;
    zmq_msg_init (&msg);
    for (int i = 0; i < count; i++)
        zmq_msg_recv (&msg, zsock_resolve (pull), 0);
    zmq_msg_close (&msg);
    zsock_send (pipe, "i", 0);
    zsock_destroy (&pull);
}

static double
s_raw_push_pull (int count)
{
    zactor_t *puller = zactor_new (s_puller, &count);
    int port;
    zsock_recv (puller, "i", &port);
    zsock_t *push = zsock_new (ZMQ_PUSH);
    zsock_connect (push, "tcp://127.0.0.1:%d", port);
    char body [BODY_SIZE];
    memset (body, 'x', sizeof body);
    zclock_sleep (100);
    int64_t start = clock_wall_us ();
    for (int i = 0; i < count; i++)
        zmq_send (zsock_resolve (push), body, sizeof body, 0);
    int done;
    zsock_recv (puller, "i", &done);
    double seconds = (double) (clock_wall_us () - start) / 1e6;
    zsock_destroy (&push);
    zactor_destroy (&puller);
    return count / seconds;
}

//  --------------------------------------------------------------------------
//  The pipeline

static pid_t
s_spawn (const char *drift, char **argv)
{
    pid_t pid = fork ();
    if (pid == 0) {
        execv (drift, argv);
        _exit (127);
    }
    return pid;
}

static long
s_stat (const char *endpoint, const char *stage, const char *field)
{
    zsock_t *socket = zsock_new (ZMQ_DEALER);
    zsock_set_linger (socket, 0);
    zsock_set_rcvtimeo (socket, 2000);
    link_curve_apply (socket);
    zsock_connect (socket, "%s", endpoint);
    drp_header_t request = { .command = DRP_STATS };
    drp_send (zsock_resolve (socket), NULL, &request, NULL, 0);
    long value = -1;
    zmq_msg_t frames [2];
    int count;
    while (value < 0 && (count = drp_recv_frames (zsock_resolve (socket), frames, 2, 0)) > 0) {
        if (count == 2) {
            json_t *root = json_loadb ((const char *) zmq_msg_data (&frames [1]),
                                       zmq_msg_size (&frames [1]), 0, NULL);
            size_t index;
            json_t *entry;
            json_array_foreach (json_object_get (root, "stages"), index, entry)
                if (streq (json_string_value (json_object_get (entry, "name")), stage))
                    value = (long) json_integer_value (json_object_get (entry, field));
            json_decref (root);
        }
        drp_close_frames (frames, count, 2);
    }
    zsock_destroy (&socket);
    return value;
}

static long
s_peak_rss_kib (pid_t pid)
{
    char path [64];
    snprintf (path, sizeof path, "/proc/%d/status", (int) pid);
    FILE *file = fopen (path, "r");
    char line [256];
    long kib = -1;
    while (file && fgets (line, sizeof line, file))
        if (strncmp (line, "VmHWM:", 6) == 0)
            kib = atol (line + 6);
    if (file)
        fclose (file);
    return kib;
}

//  The broker's keypair, a key per stage and the bench's own (producer
//  and operator) in a fresh directory; returns it (caller frees).
static char *
s_make_keys (void)
{
    char *dir = zsys_sprintf ("/tmp/drift-bench-keys-%d", (int) getpid ());
    char *roles = zsys_sprintf ("%s/roles", dir);
    char *allowed = zsys_sprintf ("%s/broker-roles", dir);
    char error [256];
    int rc = zsys_dir_create ("%s", roles) || zsys_dir_create ("%s", allowed)
          || rolekeys_make (dir, NULL, "broker", NULL, error, sizeof error)
          || rolekeys_make (roles, allowed, "bench", "ingest,operator", error, sizeof error);
    for (int i = 0; rc == 0 && i < STAGES; i++)
        rc = rolekeys_make (roles, allowed, s_stages [i], s_stages [i], error, sizeof error);
    if (rc) {
        fprintf (stderr, "bench_pipeline: cannot make keys in %s\n", dir);
        exit (1);
    }
    zstr_free (&roles);
    zstr_free (&allowed);
    return dir;
}

static double
s_pipeline (const char *drift, int workers, int count, int runs, double raw, const char *keys)
{
    char endpoint [64];
    snprintf (endpoint, sizeof endpoint, "tcp://127.0.0.1:%d", 20000 + (getpid () % 20000));
    char cert [512] = "", roles [512] = "", server [512] = "";
    if (keys) {
        snprintf (cert, sizeof cert, "%s/broker.key", keys);
        snprintf (roles, sizeof roles, "%s/broker-roles", keys);
        snprintf (server, sizeof server, "%s/broker.key", keys);
        char own [512], error [256];
        snprintf (own, sizeof own, "%s/roles/bench.key", keys);
        if (link_curve_set (own, server, error, sizeof error)) {
            fprintf (stderr, "bench_pipeline: %s\n", error);
            exit (1);
        }
    }
    else
        link_curve_clear ();
    char *broker_argv [] = { "drift", "broker", "--bind", endpoint, "--pipeline",
                             "normalize,score,notify", "--log-level", "warn",
                             "--curve-cert", cert, "--curve-roles", roles, NULL };
    pid_t broker = s_spawn (drift, broker_argv);
    pid_t stages [10];
    int stage_count = 0;
    for (int i = 0; i < STAGES; i++)
        for (int w = 0; w < workers; w++) {
            char stage_cert [600] = "";
            if (keys)
                snprintf (stage_cert, sizeof stage_cert, "%s/roles/%s.key", keys, s_stages [i]);
            char *argv [] = { "drift", (char *) s_stages [i], "--broker", endpoint,
                              "--log-level", "warn", "--broker-cert", stage_cert,
                              "--broker-key", server, NULL };
            stages [stage_count++] = s_spawn (drift, argv);
        }
    int64_t deadline = clock_mono_ms () + 10000;
    for (int i = 0; i < STAGES; i++)
        while (s_stat (endpoint, s_stages [i], "workers") != workers
           &&  clock_mono_ms () < deadline)
            zclock_sleep (20);

    producer_t *producer = producer_new (endpoint, "normalize", 256, 1000, 3);
    Drift__Envelope envelope = DRIFT__ENVELOPE__INIT;
    uint8_t raw_body [BODY_SIZE];
    memset (raw_body, 'x', sizeof raw_body);
    envelope.tenant = "bench";
    envelope.report_id = "bench-report";
    envelope.body_case = DRIFT__ENVELOPE__BODY_RAW;
    envelope.raw.data = raw_body;
    envelope.raw.len = sizeof raw_body;
    size_t size = drift__envelope__get_packed_size (&envelope);
    uint8_t *packed = (uint8_t *) malloc (size);
    drift__envelope__pack (&envelope, packed);

    double rates [32];
    long finished = 0;
    printf ("pipeline, %s, %d worker%s per stage (%zu-byte envelopes):",
            keys ? "CURVE" : "plaintext", workers, workers > 1 ? "s" : "", size);
    for (int run = 0; run < runs; run++) {
        int64_t start = clock_wall_us ();
        for (int i = 0; i < count; i++)
            producer_submit (producer, packed, size, 1, -1);
        finished += count;
        while (s_stat (endpoint, "notify", "done") < finished)
            zclock_sleep (2);
        rates [run] = count / ((double) (clock_wall_us () - start) / 1e6);
        printf (" %.0f", rates [run]);
        fflush (stdout);
    }
    double median = median_of (rates, runs);
    printf ("\n  mean WORK batch per stage:");
    for (int i = 0; i < STAGES; i++)
        printf (" %s %.1f", s_stages [i], (double) s_stat (endpoint, s_stages [i], "done")
                                          / (double) s_stat (endpoint, s_stages [i], "batches"));
    printf ("\n  median %.0f envelopes/s = %.3f of raw PUSH->PULL, %.0f transfers/s; "
            "broker peak RSS %ld KiB\n", median, median / raw, median * (1 + 2 * STAGES), s_peak_rss_kib (broker));
    free (packed);
    producer_destroy (&producer);
    for (int i = 0; i < stage_count; i++)
        kill (stages [i], SIGTERM);
    for (int i = 0; i < stage_count; i++)
        waitpid (stages [i], NULL, 0);
    kill (broker, SIGTERM);
    waitpid (broker, NULL, 0);
    return median;
}

int
main (int argc, char **argv)
{
    int count = argc > 1 ? atoi (argv [1]) : 100000;
    int runs = argc > 2 ? atoi (argv [2]) : 5;
    if (count < 1 || runs < 1 || runs > 32) {
        fprintf (stderr, "usage: bench_pipeline [envelopes] [runs <= 32]\n");
        return 2;
    }
    char beside [4096];
    snprintf (beside, sizeof beside, "%s/drift", dirname (strdup (argv [0])));
    const char *drift = getenv ("DRIFT_BIN") ? getenv ("DRIFT_BIN") : beside;
    zsys_handler_set (NULL);

    double raw_rates [32];
    printf ("raw PUSH->PULL, %d-byte messages over tcp loopback:", BODY_SIZE);
    for (int run = 0; run < runs; run++) {
        raw_rates [run] = s_raw_push_pull (count * STAGES);
        printf (" %.0f", raw_rates [run]);
        fflush (stdout);
    }
    double raw = median_of (raw_rates, runs);
    printf ("\n  median %.0f messages/s\n", raw);
    char *keys = s_make_keys ();
    for (int workers = 1; workers <= 2; workers++) {
        double plain = s_pipeline (drift, workers, count, runs, raw, NULL);
        double curve = s_pipeline (drift, workers, count, runs, raw, keys);
        printf ("  CURVE / plaintext, %d worker%s per stage: %.2f\n", workers,
                workers > 1 ? "s" : "", curve / plain);
    }
    link_curve_clear ();
    char *command = zsys_sprintf ("rm -rf '%s'", keys);
    if (system (command) != 0)
        fprintf (stderr, "bench_pipeline: could not remove %s\n", keys);
    zstr_free (&command);
    zstr_free (&keys);
    return 0;
}
