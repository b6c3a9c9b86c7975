/*  bench/hops: the design we replaced, for bench/e2e to measure beside ours.
    The cloud version of this product passed reports between its stages
    through a queue at every hop (SQS); here every hop is a pgmq queue in
    the same PostgreSQL, and each stage is this process running the stage's
    own code (its actor_def_t: open, fn, flush) instead of a broker worker.

    usage: bench_hops bridge BROKER ROLE_CERT BROKER_KEY QUEUE
           bench_hops STAGE INPUT_QUEUE OUTPUT_QUEUE|-

    - STAGE (normalize, score, archive or notify) reads INPUT_QUEUE in
      batches of 64 (pgmq.read_with_poll: the queue's long poll, 10 ms),
      calls the stage on each envelope, calls its flush, then in one
      transaction sends what it forwards to OUTPUT_QUEUE (pgmq.send_batch)
      and archives what it read (pgmq.archive): a queue at every hop, each
      consumer archiving its input, as the old design's stages did with SQS.
      A stage that failed a report leaves it unarchived: it comes back after
      the visibility timeout (60 s). The stage's settings come from the
      environment (DRIFT_DATABASE, DRIFT_SEAL_KEY, ... as for `drift STAGE`).
    - bridge is ingest's hop into the first queue: ingest journals a report
      and submits it to the broker, as always; the bridge takes the
      pipeline's first stage at the broker (as normalize, with its role
      key) and puts every envelope into QUEUE in one send per batch, so the
      agent link, ingest and the journal are the same in both designs.

    Envelopes travel as {"e": base64 of the Envelope} (pgmq messages are
    jsonb). Stops on SIGTERM.
*/
#include "../actors/actors.h"
#include "../lib/db.h"
#include "../lib/link.h"
#include "../lib/log.h"
#include "../lib/shutdown.h"

#include <czmq.h>
#include <libpq-fe.h>
#include <sodium.h>

#define HOPS_BATCH 64
#define HOPS_VISIBILITY_S 60

//  A batch of envelopes to send, as a JSON array of pgmq messages.
typedef struct {
    zchunk_t *json;                  // "[{"e":"..."},...]" being built
    int count;
} s_outgoing_t;

static void
s_outgoing_reset (s_outgoing_t *self)
{
    zchunk_set (self->json, "[", 1);
    self->count = 0;
}

static void
s_outgoing_add (s_outgoing_t *self, const Drift__Envelope *envelope)
{
    size_t size = drift__envelope__get_packed_size (envelope);
    uint8_t *bytes = (uint8_t *) malloc (size ? size : 1);
    drift__envelope__pack (envelope, bytes);
    size_t encoded_size = sodium_base64_ENCODED_LEN (size, sodium_base64_VARIANT_ORIGINAL);
    char *encoded = (char *) malloc (encoded_size);
    sodium_bin2base64 (encoded, encoded_size, bytes, size, sodium_base64_VARIANT_ORIGINAL);
    if (self->count++)
        zchunk_extend (self->json, ",", 1);
    zchunk_extend (self->json, "{\"e\":\"", 6);
    zchunk_extend (self->json, encoded, strlen (encoded));
    zchunk_extend (self->json, "\"}", 2);
    free (encoded);
    free (bytes);
}

//  Send the batch to queue and archive read_ids (a bigint[] literal, or
//  NULL) of input, in one transaction. 0 or -1.
static int
s_commit (PGconn *conn, const char *queue, s_outgoing_t *out, const char *input,
          const char *read_ids)
{
    zchunk_extend (out->json, "]", 2);      // with the terminating NUL
    PGresult *result = PQexec (conn, "BEGIN");
    int rc = PQresultStatus (result) == PGRES_COMMAND_OK ? 0 : -1;
    PQclear (result);
    if (rc == 0 && queue && out->count) {
        const char *params [] = { queue, (const char *) zchunk_data (out->json) };
        result = PQexecParams (conn, "SELECT pgmq.send_batch ($1::text, "
                                     "ARRAY (SELECT jsonb_array_elements ($2::jsonb)))",
                               2, NULL, params, NULL, NULL, 0);
        rc = PQresultStatus (result) == PGRES_TUPLES_OK ? 0 : -1;
        if (rc)
            log_error ("pgmq send_batch failed", "error", PQerrorMessage (conn));
        PQclear (result);
    }
    if (rc == 0 && read_ids) {
        const char *params [] = { input, read_ids };
        result = PQexecParams (conn, "SELECT pgmq.archive ($1::text, $2::bigint[])",
                               2, NULL, params, NULL, NULL, 0);
        rc = PQresultStatus (result) == PGRES_TUPLES_OK ? 0 : -1;
        if (rc)
            log_error ("pgmq archive failed", "error", PQerrorMessage (conn));
        PQclear (result);
    }
    result = PQexec (conn, rc == 0 ? "COMMIT" : "ROLLBACK");
    PQclear (result);
    s_outgoing_reset (out);
    return rc;
}

//  --------------------------------------------------------------------------
//  bridge: the broker's first stage, putting envelopes into the first queue

typedef struct {
    const char *database;
    const char *queue;
    PGconn *conn;
    s_outgoing_t out;
} s_bridge_t;

static stage_result_t
s_bridge_fn (void *state, Drift__Envelope *envelope)
{
    s_bridge_t *self = (s_bridge_t *) state;
    s_outgoing_add (&self->out, envelope);
    return STAGE_END;
}

static int
s_bridge_flush (void *state)
{
    s_bridge_t *self = (s_bridge_t *) state;
    if (!self->conn)
        self->conn = db_connect (self->database, 10000);
    if (!self->conn || s_commit (self->conn, self->queue, &self->out, NULL, NULL)) {
        s_outgoing_reset (&self->out);
        return -1;
    }
    return 0;
}

static int
s_bridge (int argc, char **argv)
{
    if (argc != 6)
        return 2;
    char error [256];
    if (link_curve_set (argv [3], argv [4], error, sizeof error)) {
        fprintf (stderr, "bench_hops bridge: %s\n", error);
        return 1;
    }
    s_bridge_t bridge = { .database = getenv ("DRIFT_DATABASE"), .queue = argv [5] };
    bridge.out.json = zchunk_new (NULL, 64 * 1024);
    s_outgoing_reset (&bridge.out);
    worker_config_t worker = {
        .stage = "normalize", .brokers = argv [2], .credit = HOPS_BATCH,
        .heartbeat_ms = 1000, .liveness = 3, .fn = s_bridge_fn, .state = &bridge,
        .flush = s_bridge_flush, .database = bridge.database
    };
    int rc = worker_run (&worker, NULL);
    PQfinish (bridge.conn);
    zchunk_destroy (&bridge.out.json);
    return rc ? 1 : 0;
}

//  --------------------------------------------------------------------------
//  A stage between two queues

static const actor_def_t *
s_actor (const char *name)
{
    const actor_def_t *actors [] = { &normalize_actor, &score_actor, &archive_actor,
                                     &notify_actor };
    for (size_t i = 0; i < sizeof actors / sizeof actors [0]; i++)
        if (streq (actors [i]->name, name))
            return actors [i];
    return NULL;
}

//  The stage's options after the ones every stage has (caller frees).
static config_option_t *
s_options (const actor_def_t *actor)
{
    static const config_option_t common [] = {
        CONFIG_COMMON_OPTIONS,
        { "database", CONFIG_STRING, "", "PostgreSQL URL" },
    };
    size_t ncommon = sizeof common / sizeof common [0], own = 0;
    while (actor->options && actor->options [own].name)
        own++;
    config_option_t *options = (config_option_t *) calloc (ncommon + own + 1, sizeof *options);
    memcpy (options, common, sizeof common);
    if (own)
        memcpy (options + ncommon, actor->options, own * sizeof *options);
    options [ncommon + own] = (config_option_t) CONFIG_END;
    return options;
}

static int
s_stage (const actor_def_t *actor, const char *input, const char *output)
{
    config_option_t *options = s_options (actor);
    char *args [] = { (char *) actor->name, NULL };
    int exit_code;
    config_t *config = config_load (actor->name, actor->summary, options, 1, args, &exit_code);
    if (!config) {
        free (options);
        return exit_code;
    }
    void *state = actor->open ? actor->open (config) : NULL;
    PGconn *conn = db_connect (config_get (config, "database"), 10000);
    if ((actor->open && !state) || !conn) {
        fprintf (stderr, "bench_hops %s: cannot start\n", actor->name);
        return 1;
    }
    s_outgoing_t out = { .json = zchunk_new (NULL, 64 * 1024) };
    s_outgoing_reset (&out);
    char visibility [16], batch [16];
    snprintf (visibility, sizeof visibility, "%d", HOPS_VISIBILITY_S);
    snprintf (batch, sizeof batch, "%d", HOPS_BATCH);
    zchunk_t *ids = zchunk_new (NULL, 1024);
    while (!shutdown_requested ()) {
        const char *params [] = { input, visibility, batch };
        PGresult *result = PQexecParams (conn,
            "SELECT msg_id, message->>'e' FROM pgmq.read_with_poll ($1::text, $2::integer, "
            "$3::integer, 1, 10)", 3, NULL, params, NULL, NULL, 0);
        if (PQresultStatus (result) != PGRES_TUPLES_OK) {
            log_error ("pgmq read failed", "error", PQerrorMessage (conn));
            PQclear (result);
            zclock_sleep (100);
            continue;
        }
        int rows = PQntuples (result);
        zchunk_set (ids, "{", 1);
        int kept = 0;
        for (int row = 0; row < rows; row++) {
            const char *encoded = PQgetvalue (result, row, 1);
            size_t length = strlen (encoded), size = 0;
            uint8_t *bytes = (uint8_t *) malloc (length + 1);
            Drift__Envelope *envelope = NULL;
            if (sodium_base642bin (bytes, length + 1, encoded, length, NULL, &size, NULL,
                                   sodium_base64_VARIANT_ORIGINAL) == 0)
                envelope = drift__envelope__unpack (NULL, size, bytes);
            free (bytes);
            stage_result_t outcome = envelope ? actor->fn (state, envelope) : STAGE_FAILED;
            if (outcome == STAGE_FORWARD && output)
                s_outgoing_add (&out, envelope);
            if (envelope)
                drift__envelope__free_unpacked (envelope, NULL);
            if (outcome == STAGE_FAILED)
                continue;           // back after the visibility timeout
            char id [32];
            int id_length = snprintf (id, sizeof id, "%s%s", kept++ ? "," : "",
                                      PQgetvalue (result, row, 0));
            zchunk_extend (ids, id, (size_t) id_length);
        }
        PQclear (result);
        zchunk_extend (ids, "}", 2);
        if (rows == 0)
            continue;
        if (actor->flush && actor->flush (state) != 0) {
            s_outgoing_reset (&out);    // the batch comes back after the timeout
            continue;
        }
        s_commit (conn, output, &out, input, kept ? (const char *) zchunk_data (ids) : NULL);
    }
    zchunk_destroy (&ids);
    zchunk_destroy (&out.json);
    PQfinish (conn);
    if (actor->close)
        actor->close (state);
    config_destroy (&config);
    free (options);
    return 0;
}

int
main (int argc, char **argv)
{
    zsys_handler_set (NULL);
    shutdown_install ();
    log_init ("bench-hops", "logfmt", getenv ("DRIFT_LOG_LEVEL") ? getenv ("DRIFT_LOG_LEVEL")
                                                                : "warn");
    if (sodium_init () < 0)
        return 1;
    if (argc >= 2 && streq (argv [1], "bridge"))
        return s_bridge (argc, argv);
    const actor_def_t *actor = argc == 4 ? s_actor (argv [1]) : NULL;
    if (!actor) {
        fprintf (stderr, "usage: bench_hops bridge BROKER ROLE_CERT BROKER_KEY QUEUE\n"
                         "       bench_hops STAGE INPUT_QUEUE OUTPUT_QUEUE|-\n");
        return 2;
    }
    return s_stage (actor, argv [2], streq (argv [3], "-") ? NULL : argv [3]);
}
