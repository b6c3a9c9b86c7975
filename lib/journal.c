/*  journal: pgmq calls for the durable journal; see journal.h. */
#include "journal.h"
#include "db.h"
#include "log.h"

#include <czmq.h>
#include <jansson.h>
#include <sodium.h>

struct _journal_t {
    PGconn *conn;            // the journal's own connection
    int timeout_ms;          // how long a call waits for a restarted database
    int counts [JOURNAL_IN_FLIGHT]; // messages in each send in flight, oldest at head
    bool accepts [JOURNAL_IN_FLIGHT]; // whether that send is an accept (rows: ord, msg_id, duplicate)
    int head;                // oldest send in flight
    int in_flight;           // sends begun and not yet ended (libpq pipeline mode)
};

//  --------------------------------------------------------------------------
//  Message encoding

//  Append the journal message of envelope to buffer (grown as needed). The
//  identity fields go through jansson, which escapes them; the raw report is
//  base64, which needs no escaping, so it is written straight into the text:
//  jansson would scan every byte of it again (measured: most of the CPU of a
//  grouped send).
static void
s_append_message (zchunk_t *buffer, const Drift__Envelope *envelope)
{
    json_t *identity = json_pack ("{s:s, s:s, s:s, s:s, s:I}",
                                  "tenant", envelope->tenant,
                                  "report_id", envelope->report_id,
                                  "agent_key", envelope->agent_key,
                                  "stack", envelope->stack,
                                  "received_us", (json_int_t) envelope->received_us);
    char *text = json_dumps (identity, JSON_COMPACT);
    json_decref (identity);
    const uint8_t *raw = envelope->body_case == DRIFT__ENVELOPE__BODY_RAW
                       ? envelope->raw.data : NULL;
    size_t raw_size = raw ? envelope->raw.len : 0;
    size_t encoded_size = sodium_base64_ENCODED_LEN (raw_size, sodium_base64_VARIANT_ORIGINAL);
    size_t text_length = strlen (text) - 1;     // without the closing brace
    zchunk_extend (buffer, text, text_length);
    zchunk_extend (buffer, ",\"raw\":\"", 8);
    //  zchunk_resize would drop what the buffer holds: the base64 goes
    //  through a scratch buffer and one extend instead.
    char *encoded = (char *) malloc (encoded_size);
    sodium_bin2base64 (encoded, encoded_size, raw ? raw : (const uint8_t *) "", raw_size,
                       sodium_base64_VARIANT_ORIGINAL);
    zchunk_extend (buffer, encoded, encoded_size - 1);
    free (encoded);
    zchunk_extend (buffer, "\"}", 2);
    free (text);
}

char *
journal_encode (const Drift__Envelope *envelope)
{
    zchunk_t *buffer = zchunk_new (NULL, 4096);
    s_append_message (buffer, envelope);
    zchunk_extend (buffer, "", 1);
    char *text = strdup ((const char *) zchunk_data (buffer));
    zchunk_destroy (&buffer);
    return text;
}

static char *
s_string (json_t *message, const char *key)
{
    const char *value = json_string_value (json_object_get (message, key));
    return strdup (value ? value : "");
}

//  An envelope (raw body and identity) from a journal message; NULL if the
//  message is not one.
static Drift__Envelope *
s_decode (const char *json, size_t size)
{
    json_t *message = json_loadb (json, size, 0, NULL);
    const char *raw = json_string_value (json_object_get (message, "raw"));
    const char *tenant = json_string_value (json_object_get (message, "tenant"));
    const char *report_id = json_string_value (json_object_get (message, "report_id"));
    if (!raw || !tenant || !report_id || !*tenant || !*report_id) {
        json_decref (message);
        return NULL;
    }
    size_t raw_length = strlen (raw);
    uint8_t *bytes = (uint8_t *) malloc (raw_length + 1);
    size_t bytes_size = 0;
    if (sodium_base642bin (bytes, raw_length + 1, raw, raw_length, NULL, &bytes_size, NULL,
                           sodium_base64_VARIANT_ORIGINAL)) {
        free (bytes);
        json_decref (message);
        return NULL;
    }
    //  Built with malloc throughout, so drift__envelope__free_unpacked frees it.
    Drift__Envelope *envelope = (Drift__Envelope *) malloc (sizeof *envelope);
    drift__envelope__init (envelope);
    envelope->tenant = s_string (message, "tenant");
    envelope->report_id = s_string (message, "report_id");
    envelope->agent_key = s_string (message, "agent_key");
    envelope->stack = s_string (message, "stack");
    envelope->received_us = (int64_t) json_integer_value (json_object_get (message, "received_us"));
    envelope->body_case = DRIFT__ENVELOPE__BODY_RAW;
    envelope->raw.data = bytes;
    envelope->raw.len = bytes_size;
    json_decref (message);
    return envelope;
}

//  --------------------------------------------------------------------------
//  Calls

journal_t *
journal_new (const char *url, int timeout_ms)
{
    PGconn *conn = db_connect (url, timeout_ms);
    if (!conn)
        return NULL;
    journal_t *self = (journal_t *) zmalloc (sizeof *self);
    self->conn = conn;
    self->timeout_ms = timeout_ms;
    //  The journal's commit is the promise made to the agent.
    db_exec (conn, "durable commits", "SET synchronous_commit = on");
    return self;
}

void
journal_destroy (journal_t **self_p)
{
    if (*self_p) {
        PQfinish ((*self_p)->conn);
        free (*self_p);
        *self_p = NULL;
    }
}

//  Run a statement; on a broken connection reconnect once (waiting for a
//  restarting database) and report failure: the caller decides whether to
//  retry, since only it knows whether that is safe.
static PGresult *
s_call (journal_t *self, const char *what, const char *sql, int count, const char **params)
{
    PGresult *result = PQexecParams (self->conn, sql, count, NULL, params, NULL, NULL, 0);
    ExecStatusType status = PQresultStatus (result);
    if (status == PGRES_TUPLES_OK || status == PGRES_COMMAND_OK)
        return result;
    char *error = strdup (PQresultErrorMessage (result));
    error [strcspn (error, "\n")] = 0;
    log_error ("journal call failed", "what", what, "error", error);
    free (error);
    PQclear (result);
    if (PQstatus (self->conn) != CONNECTION_OK)
        db_reconnect (self->conn, self->timeout_ms);
    return NULL;
}

//  One jsonb array, split in SQL with its order kept: no array-literal
//  quoting of JSON in C.
static const char *s_send_sql =
    "SELECT * FROM pgmq.send_batch ($1::text,"
    " (SELECT array_agg (m ORDER BY i)"
    "  FROM jsonb_array_elements ($2::jsonb) WITH ORDINALITY AS e (m, i)),"
    " $3::integer)";

//  Ingest's send: the same, through drift_journal_accept (schema 0004),
//  which skips report ids the journal already has.
static const char *s_accept_sql =
    "SELECT ord, msg_id, duplicate FROM drift_journal_accept ($1::text, $2::jsonb, $3::integer)";

static int
s_send_begin (journal_t *self, bool accept, Drift__Envelope *const *envelopes, int count,
              int delay_s)
{
    if (count < 1 || self->in_flight == JOURNAL_IN_FLIGHT)
        return -1;
    //  A connection broken since the last call (a database restart) is
    //  rebuilt before anything is promised on it.
    if (self->in_flight == 0 && PQstatus (self->conn) != CONNECTION_OK
    &&  db_reconnect (self->conn, self->timeout_ms))
        return -1;
    if (self->in_flight == 0 && PQenterPipelineMode (self->conn) != 1)
        return -1;
    zchunk_t *buffer = zchunk_new (NULL, (size_t) count * 2048 + 16);
    zchunk_extend (buffer, "[", 1);
    for (int i = 0; i < count; i++) {
        if (i)
            zchunk_extend (buffer, ",", 1);
        s_append_message (buffer, envelopes [i]);
    }
    zchunk_extend (buffer, "]", 2);     // with the NUL: the parameter is a C string
    char delay [16];
    snprintf (delay, sizeof delay, "%d", delay_s);
    const char *params [] = { JOURNAL_QUEUE, (const char *) zchunk_data (buffer), delay };
    //  A sync after each send makes it its own transaction: its commit is
    //  the promise for exactly its reports.
    int sent = PQsendQueryParams (self->conn, accept ? s_accept_sql : s_send_sql, 3, NULL,
                                  params, NULL, NULL, 0)
            && PQpipelineSync (self->conn);
    zchunk_destroy (&buffer);
    if (!sent) {
        log_error ("journal send failed", "error", PQerrorMessage (self->conn));
        if (self->in_flight == 0)
            PQexitPipelineMode (self->conn);
        return -1;
    }
    int slot = (self->head + self->in_flight) % JOURNAL_IN_FLIGHT;
    self->counts [slot] = count;
    self->accepts [slot] = accept;
    self->in_flight++;
    return 0;
}

int
journal_send_begin (journal_t *self, Drift__Envelope *const *envelopes, int count, int delay_s)
{
    return s_send_begin (self, false, envelopes, count, delay_s);
}

int
journal_accept_begin (journal_t *self, Drift__Envelope *const *envelopes, int count,
                      int delay_s)
{
    return s_send_begin (self, true, envelopes, count, delay_s);
}

//  End the oldest send in flight: fill ids (and, for an accept, duplicates
//  when not NULL).
static int
s_send_end (journal_t *self, int64_t *ids, bool *duplicates)
{
    if (self->in_flight == 0)
        return -1;
    int count = self->counts [self->head];
    bool accept = self->accepts [self->head];
    self->head = (self->head + 1) % JOURNAL_IN_FLIGHT;
    self->in_flight--;
    int rc = -1;
    PGresult *result;
    //  The send's rows, the NULL that ends them, then its sync.
    while ((result = PQgetResult (self->conn))) {
        ExecStatusType status = PQresultStatus (result);
        if (status == PGRES_TUPLES_OK && PQntuples (result) == count) {
            for (int i = 0; i < count; i++) {
                ids [i] = atoll (PQgetvalue (result, i, accept ? 1 : 0));
                if (duplicates)
                    duplicates [i] = accept && *PQgetvalue (result, i, 2) == 't';
            }
            rc = 0;
        }
        else
        if (status == PGRES_FATAL_ERROR) {
            char *error = strdup (PQresultErrorMessage (result));
            error [strcspn (error, "\n")] = 0;
            log_error ("journal send failed, nothing promised", "error", error);
            free (error);
        }
        PQclear (result);
    }
    result = PQgetResult (self->conn);
    if (PQresultStatus (result) != PGRES_PIPELINE_SYNC)
        rc = -1;
    PQclear (result);
    if (self->in_flight == 0 && PQexitPipelineMode (self->conn) != 1)
        rc = -1;
    if (PQstatus (self->conn) != CONNECTION_OK && self->in_flight == 0)
        db_reconnect (self->conn, self->timeout_ms);
    return rc;
}

int
journal_send_end (journal_t *self, int64_t *ids)
{
    return s_send_end (self, ids, NULL);
}

int
journal_accept_end (journal_t *self, int64_t *ids, bool *duplicates)
{
    return s_send_end (self, ids, duplicates);
}

int
journal_in_flight (journal_t *self)
{
    return self->in_flight;
}

int
journal_fd (journal_t *self)
{
    return PQsocket (self->conn);
}

bool
journal_send_ready (journal_t *self)
{
    if (self->in_flight == 0)
        return false;
    //  A broken connection is "ready": ending the send reports the failure.
    if (PQconsumeInput (self->conn) != 1)
        return true;
    return PQisBusy (self->conn) == 0;
}

int
journal_send (journal_t *self, Drift__Envelope *const *envelopes, int count, int delay_s,
              int64_t *ids)
{
    if (self->in_flight || journal_send_begin (self, envelopes, count, delay_s))
        return -1;
    return journal_send_end (self, ids);
}

static char *
s_id_array (const int64_t *ids, int count)
{
    char *text = (char *) malloc ((size_t) count * 21 + 3);
    size_t length = 0;
    text [length++] = '{';
    for (int i = 0; i < count; i++)
        length += (size_t) sprintf (text + length, "%s%lld", i ? "," : "", (long long) ids [i]);
    text [length++] = '}';
    text [length] = 0;
    return text;
}

int
journal_archive (journal_t *self, const int64_t *ids, int count)
{
    char *array = s_id_array (ids, count);
    const char *params [] = { JOURNAL_QUEUE, array };
    //  A finished entry's recorded failures are history: forgotten in the
    //  same statement (a data-modifying CTE always runs).
    PGresult *result = s_call (self, "archive",
        "WITH forgotten AS ("
        "  DELETE FROM drift_failures WHERE journal_id = ANY ($2::bigint[])"
        ") SELECT * FROM pgmq.archive ($1::text, $2::bigint[])", 2, params);
    free (array);
    if (!result)
        return -1;
    int archived = PQntuples (result);
    PQclear (result);
    return archived;
}

int
journal_release (journal_t *self, const int64_t *ids, int count)
{
    char *array = s_id_array (ids, count);
    const char *params [] = { JOURNAL_QUEUE, array };
    //  One UPDATE for the list (schema 0028), not a set_vt per entry.
    PGresult *result = s_call (self, "release",
        "SELECT drift_journal_release ($1::text, $2::bigint[])", 2, params);
    free (array);
    if (!result)
        return -1;
    int released = atoi (PQgetvalue (result, 0, 0));
    PQclear (result);
    return released;
}

int
journal_read (journal_t *self, int vt_s, int qty, Drift__Envelope **envelopes)
{
    char vt [16], limit [16];
    snprintf (vt, sizeof vt, "%d", vt_s);
    snprintf (limit, sizeof limit, "%d", qty);
    const char *params [] = { JOURNAL_QUEUE, vt, limit };
    PGresult *result = s_call (self, "read",
        "SELECT msg_id, read_ct, message FROM pgmq.read ($1::text, $2::integer, $3::integer)",
        3, params);
    if (!result)
        return -1;
    int count = 0;
    for (int row = 0; row < PQntuples (result); row++) {
        int64_t msg_id = atoll (PQgetvalue (result, row, 0));
        Drift__Envelope *envelope = s_decode (PQgetvalue (result, row, 2),
                                                    (size_t) PQgetlength (result, row, 2));
        if (!envelope) {
            journal_dead_letter (self, msg_id, PQgetvalue (result, row, 2),
                                 (uint32_t) atoi (PQgetvalue (result, row, 1)),
                                 "journal message cannot be decoded");
            continue;
        }
        envelope->journal_id = msg_id;
        //  The first delivery (by ingest) was no read: a first read is attempt 2.
        envelope->attempt = (uint32_t) atoi (PQgetvalue (result, row, 1)) + 1;
        envelopes [count++] = envelope;
    }
    PQclear (result);
    return count;
}

int
journal_dead_letter (journal_t *self, int64_t msg_id, const char *message, uint32_t attempts,
                      const char *error)
{
    char id [24], tries [16];
    snprintf (id, sizeof id, "%lld", (long long) msg_id);
    snprintf (tries, sizeof tries, "%u", attempts);
    //  A message that is not JSON at all is kept as a string.
    json_t *parsed = json_loads (message, 0, NULL);
    json_t *letter = json_is_object (parsed) ? parsed : json_pack ("{s:s}", "unreadable", message);
    if (letter != parsed)
        json_decref (parsed);
    json_object_set_new (letter, "journal_id", json_integer (msg_id));
    json_object_set_new (letter, "attempts", json_integer (attempts));
    //  The cause, as the stage that last failed it said.
    char *full_error = strdup (error);
    const char *lookup [] = { id };
    PGresult *failure = s_call (self, "last failure",
        "SELECT stage, attempt, reason FROM drift_failures WHERE journal_id = $1::bigint",
        1, lookup);
    if (failure && PQntuples (failure) == 1) {
        json_object_set_new (letter, "last_failure", json_pack ("{s:s, s:i, s:s}",
            "stage", PQgetvalue (failure, 0, 0), "attempt", atoi (PQgetvalue (failure, 0, 1)),
            "reason", PQgetvalue (failure, 0, 2)));
        free (full_error);
        full_error = zsys_sprintf ("%s; last failure at %s (attempt %s): %s", error,
                                   PQgetvalue (failure, 0, 0), PQgetvalue (failure, 0, 1),
                                   PQgetvalue (failure, 0, 2));
    }
    PQclear (failure);
    json_object_set_new (letter, "error", json_string (full_error));
    char *text = json_dumps (letter, JSON_COMPACT);
    json_decref (letter);
    const char *params [] = { JOURNAL_QUEUE, id, JOURNAL_DEAD_QUEUE, text };
    //  One statement is one transaction: the letter is in drift_dead exactly
    //  when its journal entry is archived (and its failure forgotten).
    PGresult *result = s_call (self, "dead letter",
        "WITH forgotten AS (DELETE FROM drift_failures WHERE journal_id = $2::bigint)"
        " SELECT pgmq.send ($3::text, $4::jsonb), pgmq.archive ($1::text, $2::bigint)",
        4, params);
    free (text);
    if (!result) {
        free (full_error);
        return -1;
    }
    PQclear (result);
    log_warn ("report dead-lettered", "journal_id", id, "attempts", tries, "error", full_error);
    free (full_error);
    return 0;
}

int
journal_record_failure (journal_t *self, int64_t msg_id, const char *stage, uint32_t attempt,
                        const char *reason)
{
    char id [24], tries [16];
    snprintf (id, sizeof id, "%lld", (long long) msg_id);
    snprintf (tries, sizeof tries, "%u", attempt);
    const char *params [] = { id, stage, tries, reason };
    PGresult *result = s_call (self, "record failure",
        "INSERT INTO drift_failures (journal_id, stage, attempt, reason)"
        " VALUES ($1::bigint, $2::text, $3::integer, $4::text)"
        " ON CONFLICT (journal_id) DO UPDATE SET stage = excluded.stage,"
        " attempt = excluded.attempt, reason = excluded.reason, failed_at = now()",
        4, params);
    if (!result)
        return -1;
    PQclear (result);
    return 0;
}

int64_t
journal_revive (journal_t *self, int64_t dead_msg_id)
{
    char id [24];
    snprintf (id, sizeof id, "%lld", (long long) dead_msg_id);
    const char *params [] = { JOURNAL_DEAD_QUEUE, id, JOURNAL_QUEUE };
    //  set_vt returns the letter (and touches nothing else that matters):
    //  the documented way to read one message by id.
    PGresult *result = s_call (self, "revive",
        "WITH letter AS ("
        "  SELECT message - 'error' - 'attempts' - 'journal_id' AS message"
        "  FROM pgmq.set_vt ($1::text, $2::bigint, 0)"
        "), sent AS ("
        "  SELECT pgmq.send ($3::text, message) AS msg_id FROM letter"
        ") SELECT (SELECT msg_id FROM sent),"
        "         (SELECT pgmq.archive ($1::text, $2::bigint) FROM sent)",
        3, params);
    if (!result)
        return -1;
    int64_t revived = PQgetisnull (result, 0, 0) ? 0 : atoll (PQgetvalue (result, 0, 0));
    PQclear (result);
    if (revived)
        log_info ("dead letter sent back to the journal", "dead_id", id,
                  "journal_id", LOG_NUM (revived));
    return revived;
}

int
journal_lengths (journal_t *self, int64_t *journal_length, int64_t *dead_length)
{
    const char *params [] = { JOURNAL_QUEUE, JOURNAL_DEAD_QUEUE };
    PGresult *result = s_call (self, "metrics",
        "SELECT (pgmq.metrics ($1::text)).queue_length, (pgmq.metrics ($2::text)).queue_length",
        2, params);
    if (!result)
        return -1;
    *journal_length = atoll (PQgetvalue (result, 0, 0));
    *dead_length = atoll (PQgetvalue (result, 0, 1));
    PQclear (result);
    return 0;
}

int
journal_dead_ids (journal_t *self, int64_t *ids, int max)
{
    char limit [16];
    snprintf (limit, sizeof limit, "%d", max);
    const char *params [] = { JOURNAL_DEAD_QUEUE, limit };
    PGresult *result = s_call (self, "dead letters",
        "SELECT msg_id FROM pgmq.read ($1::text, 0::integer, $2::integer)", 2, params);
    if (!result)
        return -1;
    int count = PQntuples (result);
    for (int i = 0; i < count; i++)
        ids [i] = atoll (PQgetvalue (result, i, 0));
    PQclear (result);
    return count;
}

long
journal_prune_archive (journal_t *self, int days)
{
    char interval [32], limit [16];
    snprintf (interval, sizeof interval, "%d days", days);
    snprintf (limit, sizeof limit, "%d", JOURNAL_PRUNE_BATCH);
    const char *params [] = { interval, limit };
    //  By archived_at (pgmq indexes it), a bounded batch per call.
    PGresult *result = s_call (self, "prune archive",
        "DELETE FROM pgmq.a_" JOURNAL_QUEUE " WHERE msg_id IN ("
        "  SELECT msg_id FROM pgmq.a_" JOURNAL_QUEUE
        "   WHERE archived_at < now () - $1::interval LIMIT $2::integer)", 2, params);
    if (!result)
        return -1;
    long pruned = atol (PQcmdTuples (result));
    PQclear (result);
    return pruned;
}

long
journal_prune_ingested (journal_t *self, int days)
{
    char interval [32], limit [16];
    snprintf (interval, sizeof interval, "%d days", days);
    snprintf (limit, sizeof limit, "%d", JOURNAL_PRUNE_BATCH);
    const char *params [] = { interval, limit };
    //  A bounded batch per call, so the replayer never holds a long lock.
    PGresult *result = s_call (self, "prune ingested",
        "WITH old AS (SELECT tenant, report_id FROM drift_ingested "
        "              WHERE accepted_at < now () - $1::interval LIMIT $2::integer) "
        "DELETE FROM drift_ingested d USING old "
        "WHERE d.tenant = old.tenant AND d.report_id = old.report_id", 2, params);
    if (!result)
        return -1;
    long pruned = atol (PQcmdTuples (result));
    PQclear (result);
    return pruned;
}
