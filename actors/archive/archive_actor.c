/*  archive: the archive stage, the system of record. For each scored report
    it keeps the raw report, sealed, in the object store, and records the
    report and its stack's drift lifecycle in PostgreSQL; only then does the
    envelope move on to notify.

    Per envelope (the stage function): the raw report the canonical report
    carries is sealed (lib/seal, AES-256-GCM, bound to tenant and report id)
    and put under tenant/stack/YYYY/MM/DD/report-id (actors/archive/store), lazily:
    the flush makes the batch's objects durable with one store_sync before
    any row refers to them. A put that
    fails is retried with a doubling pause for up to `store-retry-ms`; then
    the report fails, and so does every later report of the batch at once
    (the store is down: no point waiting per report while the brokers miss
    our heartbeats), and the journal replays them. The key is a function of
    the report, so a replay overwrites the same object.

    Per batch (the flush, begun while the worker runs the next batch:
    flush_begin sends the transaction, flush_end reads its answer; agent
    keys are looked up on a second connection meanwhile): BEGIN and the
    call go first (libpq pipeline mode), so PostgreSQL writes the rows while
    the store syncs the batch's objects; the COMMIT follows only once they
    are durable, so no committed row refers to an object that could be
    lost. Every report's row and drift items are written by
    one call of drift_archive_batch (schema 0017) in one transaction, which
    sets each report's tenant for row-level security itself and runs the
    lifecycle (open, update, resolve, reopen; failed reports resolve
    nothing) set-based for a batch of distinct stacks (two statements per
    tenant), report by report when a stack repeats in it. A report the
    tables refuse is recorded as failed with the reason; one that cannot be
    recorded at all is failed alone
    (worker_fail_item); a batch that cannot be written (database down,
    deadlock) is retried once and then failed whole for the journal to
    replay. Archiving the same report twice writes the same rows.

    Whose report (before anything is stored): the envelope's agent key
    must be an agent of the envelope's tenant, not revoked, as PostgreSQL
    says now (drift_agent_by_key, answers kept a second). Ingest sets both
    from the agent's authenticated CURVE key; this check is what stops a
    producer that is not ingest (a forged or replayed envelope) from
    writing into a tenant whose agents did not send it, or overwriting a
    report's sealed object. A refused envelope fails with the reason and,
    replayed until dead-lettered, is never archived.
*/
#include "../actors.h"
#include "archive_doc.h"
#include "../../lib/db.h"
#include "../../lib/drp.h"
#include "../../lib/log.h"
#include "../../lib/metrics.h"
#include "../../lib/seal.h"
#include "store.h"
#include "store_config.h"

#include <jansson.h>
#include <libpq-fe.h>
#include <time.h>

//  Longest wait for the database at the start of a flush: well inside the
//  brokers' patience (heartbeat-ms × liveness, 3 s by default).
#define S_CONNECT_MS 1000
//  How long an agent key's answer is reused: a revocation is seen within it.
#define S_AGENT_CACHE_MS 1000
//  Most agent keys remembered; past it the cache starts over.
#define S_AGENT_CACHE_MAX 10000

//  What PostgreSQL said of an agent key, and when.
typedef struct {
    char tenant_id [37];                 // its tenant ("" if no agent has the key)
    bool revoked;                        // revoked_at is set
    int64_t at;                          // monotonic ms of the answer
} agent_answer_t;

//  A batch: the documents of the reports the stage function took, written
//  by one call of drift_archive_batch.
typedef struct {
    char *docs [DRP_BATCH_MAX];          // documents, in the order taken
    uint32_t items [DRP_BATCH_MAX];      // ... and their places in the worker's group
    int count;                           // how many
    char *joined;                        // the documents as one JSON array, once sent
    bool sent;                           // its transaction was sent and is not answered yet
    int answers;                         // statements of it answered so far
    PGresult *answer;                    // the call's answer, once read
    bool committed;                      // its COMMIT succeeded
} s_batch_t;

typedef struct {
    char *database;                      // application database URL (a drift_app login)
    PGconn *conn;                        // writes batches, connected at the first flush
    PGconn *lookup;                      // agent keys, while conn may be writing
    seal_keyring_t *keyring;             // seals raw reports
    store_t *store;                      // keeps them
    int retry_ms;                        // how long one put is retried
    bool store_down;                     // a put gave up in this batch: fail the rest
    s_batch_t batches [2];               // the one taking reports, and the one written
    s_batch_t *open;                     // takes the stage function's reports
    s_batch_t *writing;                  // begun and not yet finished, or NULL
    uint64_t archived;                   // reports recorded
    uint64_t refused;                    // ... of which recorded as failed by the tables
    uint64_t objects;                    // raw reports stored
    zhashx_t *agents;                    // agent key -> agent_answer_t, recent answers
    metric_t *agent_refused;             // envelopes refused for their agent key
} archive_t;

static const config_option_t s_options [] = {
    STORE_CONFIG_OPTIONS,
    { "seal-key", CONFIG_STRING, "/var/lib/drift/keys/archive.key",
      "AES-256-GCM key sealing raw reports (32 bytes or 64 hex digits, mode 0600)" },
    { "seal-old-keys", CONFIG_STRING, "",
      "directory of retired *.key files, still used to open what they sealed" },
    { "store-retry-ms", CONFIG_INT, "1500",
      "how long a failed put is retried before the report is left to the journal" },
    CONFIG_END
};

//  --------------------------------------------------------------------------
//  The object: sealed raw report

static void
s_sleep_ms (int ms)
{
    struct timespec pause = { ms / 1000, (long) (ms % 1000) * 1000000L };
    nanosleep (&pause, NULL);
}

//  Put data under key, retrying for up to retry_ms. 0 when stored.
static int
s_put (archive_t *self, const char *key, const uint8_t *data, size_t size)
{
    int waited = 0, pause = 50;
    while (store_put_lazy (self->store, key, data, size)) {
        if (waited >= self->retry_ms)
            return -1;
        if (waited == 0)
            log_warn ("object store put failed, retrying", "key", key,
                      "error", store_error (self->store));
        s_sleep_ms (pause);
        waited += pause;
        pause = pause * 2 > 400 ? 400 : pause * 2;
    }
    return 0;
}

//  Seal and store the raw report; its key in *object_key (caller frees).
static int
s_store_raw (archive_t *self, const Drift__Envelope *envelope,
             const Drift__CanonicalReport *report, char **object_key)
{
    *object_key = store_key (envelope->tenant, envelope->stack, envelope->received_us,
                             envelope->report_id);
    if (!*object_key) {
        worker_fail ("archive: no object key for stack '%s' and report id '%s'",
                     envelope->stack, envelope->report_id);
        return -1;
    }
    if (self->store_down) {
        worker_fail ("archive: object store unavailable (%s)", store_error (self->store));
        return -1;
    }
    char associated [256];
    snprintf (associated, sizeof associated, "%s/%s", envelope->tenant, envelope->report_id);
    uint8_t *sealed;
    size_t sealed_size;
    if (seal_seal (self->keyring, report->raw.data, report->raw.len, associated,
                   &sealed, &sealed_size)) {
        worker_fail ("archive: raw report of %zu bytes cannot be sealed", report->raw.len);
        return -1;
    }
    int rc = s_put (self, *object_key, sealed, sealed_size);
    free (sealed);
    if (rc) {
        self->store_down = true;
        worker_fail ("archive: object store put failed after %d ms of retries: %s",
                     self->retry_ms, store_error (self->store));
        return -1;
    }
    self->objects++;
    return 0;
}

//  --------------------------------------------------------------------------
//  Whose report: the agent key against the tenant

static void
s_check_role (PGconn *conn);

//  One of the stage's connections, made (its role checked) or mended when
//  it broke; *conn stays NULL while PostgreSQL cannot be reached.
static void
s_connect (archive_t *self, PGconn **conn)
{
    if (!*conn) {
        *conn = db_connect (self->database, S_CONNECT_MS);
        if (*conn)
            s_check_role (*conn);
    }
    else
    if (PQstatus (*conn) != CONNECTION_OK)
        db_reconnect (*conn, S_CONNECT_MS);
}

//  The answer for key, from the cache or PostgreSQL; NULL when the
//  database cannot answer.
static agent_answer_t *
s_agent_answer (archive_t *self, const char *key)
{
    agent_answer_t *answer = (agent_answer_t *) zhashx_lookup (self->agents, key);
    int64_t now = zclock_mono ();
    if (answer && now - answer->at < S_AGENT_CACHE_MS)
        return answer;
    s_connect (self, &self->lookup);
    if (!self->lookup)
        return NULL;
    const char *params [] = { key };
    PGresult *result = PQexecParams (self->lookup,
        "SELECT tenant_id, revoked_at IS NOT NULL FROM drift_agent_by_key ($1::text)",
        1, NULL, params, NULL, NULL, 0);
    if (PQresultStatus (result) != PGRES_TUPLES_OK) {
        log_warn ("archive cannot look up an agent key", "error", PQresultErrorMessage (result));
        PQclear (result);
        return NULL;
    }
    if (zhashx_size (self->agents) >= S_AGENT_CACHE_MAX)
        zhashx_purge (self->agents);
    agent_answer_t fresh = { .at = now };
    if (PQntuples (result) == 1) {
        snprintf (fresh.tenant_id, sizeof fresh.tenant_id, "%s", PQgetvalue (result, 0, 0));
        fresh.revoked = *PQgetvalue (result, 0, 1) == 't';
    }
    PQclear (result);
    answer = (agent_answer_t *) malloc (sizeof *answer);
    *answer = fresh;
    zhashx_update (self->agents, key, answer);
    return answer;
}

//  0 when the envelope's agent is the tenant's and not revoked; else the
//  report fails with why, counted.
static int
s_check_agent (archive_t *self, const Drift__Envelope *envelope)
{
    const char *key = envelope->agent_key;
    agent_answer_t *answer = key && *key ? s_agent_answer (self, key) : NULL;
    const char *why = NULL;
    if (key && *key && !answer) {
        worker_fail ("archive: cannot check the agent key: database unavailable");
        return -1;
    }
    if (!answer || !answer->tenant_id [0])
        why = "no agent has the envelope's agent key";
    else
    if (!envelope->tenant || !streq (answer->tenant_id, envelope->tenant))
        why = "the envelope's agent key belongs to another tenant";
    else
    if (answer->revoked)
        why = "the envelope's agent key is revoked";
    if (!why)
        return 0;
    metric_inc (self->agent_refused);
    log_warn ("archive refused an envelope: not from an agent of its tenant", "why", why,
              "tenant", envelope->tenant, "agent_key", key, "report_id", envelope->report_id);
    worker_fail ("archive: refused: %s", why);
    return -1;
}

//  --------------------------------------------------------------------------
//  The stage

static stage_result_t
s_archive (void *state, Drift__Envelope *envelope)
{
    archive_t *self = (archive_t *) state;
    if (s_check_agent (self, envelope))
        return STAGE_FAILED;
    if (envelope->body_case != DRIFT__ENVELOPE__BODY_SCORED) {
        worker_fail ("archive: the envelope holds no scored report (body %d)",
                     (int) envelope->body_case);
        return STAGE_FAILED;
    }
    Drift__ScoredReport *scored = drift__scored_report__unpack (NULL, envelope->scored.len,
                                                               envelope->scored.data);
    if (!scored || !scored->report) {
        if (scored)
            drift__scored_report__free_unpacked (scored, NULL);
        worker_fail ("archive: the scored body is not a scored report");
        return STAGE_FAILED;
    }
    char *object_key = NULL;
    if (s_store_raw (self, envelope, scored->report, &object_key)) {
        free (object_key);
        drift__scored_report__free_unpacked (scored, NULL);
        return STAGE_FAILED;
    }
    char *doc = archive_doc (envelope, scored, object_key,
                             seal_keyring_current_id (self->keyring));
    free (object_key);
    drift__scored_report__free_unpacked (scored, NULL);
    s_batch_t *batch = self->open;
    if (!doc || batch->count == DRP_BATCH_MAX) {
        free (doc);
        worker_fail ("archive: no room for the report's document");
        return STAGE_FAILED;
    }
    batch->docs [batch->count] = doc;
    batch->items [batch->count] = worker_item_index ();
    batch->count++;
    return STAGE_FORWARD;
}

//  --------------------------------------------------------------------------
//  The flush: one transaction for the batch

//  Warn once per connection when row-level security would not apply.
static void
s_check_role (PGconn *conn)
{
    PGresult *result = PQexec (conn,
        "SELECT rolsuper OR rolbypassrls FROM pg_roles WHERE rolname = current_user");
    if (PQresultStatus (result) == PGRES_TUPLES_OK && PQntuples (result) == 1
    &&  *PQgetvalue (result, 0, 0) == 't')
        log_warn ("archive connected as a role that bypasses row-level security: connect "
                  "as a login in the drift_app role", "user", PQuser (conn));
    PQclear (result);
}

//  Read what the batch function said of each report. 0, or -1 if the
//  answer is not what was asked for.
static int
s_read_outcomes (archive_t *self, s_batch_t *batch, PGresult *result)
{
    if (PQntuples (result) != batch->count)
        return -1;
    for (int row = 0; row < PQntuples (result); row++) {
        int index = atoi (PQgetvalue (result, row, 0));
        if (index < 0 || index >= batch->count)
            return -1;
        json_t *outcome = json_loads (PQgetvalue (result, row, 1), 0, NULL);
        const char *error = json_string_value (json_object_get (outcome, "error"));
        const char *refused = json_string_value (json_object_get (outcome, "refused"));
        if (error)
            worker_fail_item (batch->items [index], "archive: the report cannot be recorded: %s",
                              error);
        else {
            self->archived++;
            if (refused) {
                self->refused++;
                log_warn ("report recorded as failed: the archive refused it",
                          "error", refused);
            }
        }
        json_decref (outcome);
    }
    return 0;
}

//  What the batch's call answered (result, which is cleared): 0 done; 1
//  failed in a way worth one retry (the connection broke, a deadlock); -1
//  failed.
static int
s_judge (archive_t *self, s_batch_t *batch, PGresult *result)
{
    int rc = 0;
    if (PQresultStatus (result) != PGRES_TUPLES_OK) {
        const char *state = PQresultErrorField (result, PG_DIAG_SQLSTATE);
        char *error = strdup (result ? PQresultErrorMessage (result)
                                     : PQerrorMessage (self->conn));
        error [strcspn (error, "\n")] = 0;
        log_warn ("archive batch not written", "error", error, "sqlstate", state ? state : "");
        free (error);
        bool retry = PQstatus (self->conn) != CONNECTION_OK
                  || (state && (strcmp (state, "40P01") == 0 || strcmp (state, "40001") == 0));
        rc = retry ? 1 : -1;
    }
    else
    if (s_read_outcomes (self, batch, result)) {
        log_error ("archive batch answered with the wrong rows", "rows",
                   LOG_NUM (PQntuples (result)));
        rc = -1;
    }
    PQclear (result);
    return rc;
}

#define S_BATCH_SQL "SELECT batch_index, outcome FROM drift_archive_batch ($1::jsonb)"

//  Run the batch once and wait for its answer (s_judge's codes).
static int
s_write_batch (archive_t *self, s_batch_t *batch)
{
    const char *params [] = { batch->joined };
    return s_judge (self, batch, PQexecParams (self->conn, S_BATCH_SQL, 1, NULL, params,
                                               NULL, NULL, 0));
}

//  The documents as one JSON array (caller frees).
static char *
s_join_docs (const s_batch_t *batch)
{
    size_t size = 3;
    for (int i = 0; i < batch->count; i++)
        size += strlen (batch->docs [i]) + 1;
    char *joined = (char *) malloc (size);
    if (!joined)
        return NULL;
    char *cursor = joined;
    *cursor++ = '[';
    for (int i = 0; i < batch->count; i++) {
        if (i)
            *cursor++ = ',';
        size_t length = strlen (batch->docs [i]);
        memcpy (cursor, batch->docs [i], length);
        cursor += length;
    }
    *cursor++ = ']';
    *cursor = 0;
    return joined;
}

static void
s_batch_clear (s_batch_t *batch)
{
    for (int i = 0; i < batch->count; i++)
        free (batch->docs [i]);
    batch->count = 0;
    free (batch->joined);
    batch->joined = NULL;
    batch->sent = false;
    batch->answers = 0;
    PQclear (batch->answer);
    batch->answer = NULL;
    batch->committed = false;
}

//  The batch's transaction, first half: BEGIN and the call, sent without
//  waiting (pipeline mode). true when all of it went.
static bool
s_send_rows (archive_t *self, s_batch_t *batch)
{
    const char *params [] = { batch->joined };
    return PQenterPipelineMode (self->conn) == 1
        && PQsendQueryParams (self->conn, "BEGIN", 0, NULL, NULL, NULL, NULL, 0) == 1
        && PQsendQueryParams (self->conn, S_BATCH_SQL, 1, NULL, params, NULL, NULL, 0) == 1
        && PQflush (self->conn) == 0;
}

//  Its second half: COMMIT (or ROLLBACK) and the pipeline's sync.
static bool
s_send_end (archive_t *self, const char *command)
{
    return PQsendQueryParams (self->conn, command, 0, NULL, NULL, NULL, NULL, 0) == 1
        && PQpipelineSync (self->conn) == 1
        && PQflush (self->conn) == 0;
}

//  Read the transaction's answers (BEGIN, the call's rows, the end, then
//  the sync), blocking only if wait. 1 while some are due; 0 once all are
//  read or the connection broke.
static int
s_read_answers (archive_t *self, s_batch_t *batch, bool wait)
{
    while (true) {
        if (!wait && PQconsumeInput (self->conn) && PQisBusy (self->conn))
            return 1;
        PGresult *result = PQgetResult (self->conn);
        if (!result) {
            //  Between two statements' answers, unless the connection broke.
            if (PQstatus (self->conn) != CONNECTION_OK)
                return 0;
            continue;
        }
        ExecStatusType status = PQresultStatus (result);
        if (status == PGRES_PIPELINE_SYNC) {
            PQclear (result);
            return 0;
        }
        batch->answers++;
        if (batch->answers == 2)
            batch->answer = result;
        else {
            if (batch->answers == 3)
                batch->committed = status == PGRES_COMMAND_OK;
            PQclear (result);
        }
    }
}

//  The connection back to one statement at a time, outside any
//  transaction (a failed call leaves its transaction aborted; a broken
//  pipeline is dropped with the connection, which rolls it back).
static void
s_leave_pipeline (archive_t *self)
{
    if (PQstatus (self->conn) != CONNECTION_OK)
        return;                         // s_connect mends it; the server rolled back
    if (PQpipelineStatus (self->conn) != PQ_PIPELINE_OFF
    &&  PQexitPipelineMode (self->conn) != 1) {
        db_reconnect (self->conn, S_CONNECT_MS);
        return;
    }
    if (PQtransactionStatus (self->conn) != PQTRANS_IDLE)
        db_exec (self->conn, "archive rollback", "ROLLBACK");
}

//  Begin writing the open batch: its rows sent, its objects made durable
//  (one store sync) while PostgreSQL writes them, then its COMMIT; the
//  stage function fills the other batch meanwhile. 0, or -1: the batch
//  failed whole (the store or the database is away), for the journal.
static int
s_flush_begin (void *state)
{
    archive_t *self = (archive_t *) state;
    s_batch_t *batch = self->open;
    self->store_down = false;
    if (batch->count == 0)
        return 0;
    assert (!self->writing);
    s_connect (self, &self->conn);
    batch->joined = s_join_docs (batch);
    if (!self->conn || !batch->joined) {
        log_warn ("archive batch failed, the journal replays it", "reports",
                  LOG_NUM (batch->count));
        s_batch_clear (batch);
        return -1;
    }
    //  Not sent (the connection broke): flush_end writes it, waiting.
    batch->sent = s_send_rows (self, batch);
    if (store_sync (self->store)) {
        log_warn ("object store sync failed, the batch will be replayed",
                  "error", store_error (self->store));
        if (batch->sent && s_send_end (self, "ROLLBACK"))
            s_read_answers (self, batch, true);
        s_leave_pipeline (self);
        s_batch_clear (batch);
        return -1;
    }
    if (batch->sent)
        batch->sent = s_send_end (self, "COMMIT");
    if (!batch->sent)
        s_leave_pipeline (self);
    self->writing = batch;
    self->open = batch == &self->batches [0] ? &self->batches [1] : &self->batches [0];
    return 0;
}

//  Finish the batch begun: 1 while its answer is not in (only without wait),
//  0 written, -1 failed whole. A broken connection, a deadlock or a failed
//  COMMIT is retried once, waiting.
static int
s_flush_end (void *state, bool wait)
{
    archive_t *self = (archive_t *) state;
    s_batch_t *batch = self->writing;
    if (!batch)
        return 0;
    int rc = 1;
    if (batch->sent) {
        if (s_read_answers (self, batch, wait))
            return 1;
        s_leave_pipeline (self);
        PGresult *answer = batch->answer;
        batch->answer = NULL;
        if (batch->committed || PQresultStatus (answer) != PGRES_TUPLES_OK)
            rc = s_judge (self, batch, answer);
        else {
            PQclear (answer);
            log_warn ("archive batch not committed", "error", PQerrorMessage (self->conn));
        }
    }
    if (rc == 1) {
        s_connect (self, &self->conn);
        rc = s_write_batch (self, batch);
    }
    if (rc)
        log_warn ("archive batch failed, the journal replays it", "reports",
                  LOG_NUM (batch->count));
    s_batch_clear (batch);
    self->writing = NULL;
    return rc ? -1 : 0;
}

//  Readable when the batch's answer may be in.
static int
s_flush_fd (void *state)
{
    archive_t *self = (archive_t *) state;
    return self->writing && self->writing->sent ? PQsocket (self->conn) : -1;
}

//  The same write, begun and waited for (the flush of a caller without the
//  worker runtime: tests and benches).
static int
s_flush (void *state)
{
    return s_flush_begin (state) ? -1 : s_flush_end (state, true);
}

//  --------------------------------------------------------------------------
//  Setting up

static void
s_close (void *state)
{
    archive_t *self = (archive_t *) state;
    if (!self)
        return;
    if (self->writing)
        s_flush_end (self, true);
    for (int i = 0; i < 2; i++)
        s_batch_clear (&self->batches [i]);
    if (self->conn)
        PQfinish (self->conn);
    if (self->lookup)
        PQfinish (self->lookup);
    seal_keyring_destroy (&self->keyring);
    store_destroy (&self->store);
    zhashx_destroy (&self->agents);
    log_info ("archive stopped", "archived", LOG_NUM (self->archived),
              "refused", LOG_NUM (self->refused), "objects", LOG_NUM (self->objects));
    free (self->database);
    free (self);
}

static void *
s_open (config_t *config)
{
    archive_t *self = (archive_t *) calloc (1, sizeof *self);
    self->open = &self->batches [0];
    self->database = strdup (config_get (config, "database"));
    self->retry_ms = (int) config_get_int (config, "store-retry-ms");
    self->agents = zhashx_new ();
    zhashx_set_destructor (self->agents, (zhashx_destructor_fn *) zstr_free);
    self->agent_refused = metrics_counter (metrics_default (), "drift_archive_agent_refused_total",
        "Envelopes the archive refused: agent key unknown, of another tenant, or revoked", NULL);
    char error [512];
    const char *old_keys = config_get (config, "seal-old-keys");
    self->keyring = seal_keyring_load (config_get (config, "seal-key"),
                                       *old_keys ? old_keys : NULL, error, sizeof error);
    if (!self->keyring) {
        log_error ("archive cannot start: no sealing key", "error", error);
        s_close (self);
        return NULL;
    }
    self->store = store_from_config (config, error, sizeof error);
    if (!self->store) {
        log_error ("archive cannot start: no object store", "error", error);
        s_close (self);
        return NULL;
    }
    if (self->retry_ms < 0)
        self->retry_ms = 0;
    log_info ("archive ready", "store", config_get (config, "store"),
              "key_id", seal_keyring_current_id (self->keyring),
              "keys", LOG_NUM (seal_keyring_size (self->keyring)));
    return self;
}

const actor_def_t archive_actor = {
    .name = "archive",
    .summary = "The archive stage: keeps the sealed raw report and records the report and "
               "its drift history.",
    .fn = s_archive,
    .open = s_open,
    .flush = s_flush,
    .close = s_close,
    .options = s_options,
    .flush_begin = s_flush_begin,
    .flush_end = s_flush_end,
    .flush_fd = s_flush_fd
};
