/*  notify: the notify stage, the last one. It decides who hears about a
    report, queues it for them exactly once, and then acks the journal.

    Per batch (the flush), one call of drift_batch_news (schema 0024, 0025)
    says for each report what the archive recorded for it, under its
    tenant (drift_report_news of schema 0009/0011/0013, for a whole batch
    at once): the drift items it opened (new, reopened, or a changed value, which is a new
    fingerprint) and those it resolved, never suppressed ones, whether the
    stack's check started failing or works again (schema 0013), and the
    tenant's enabled channels. Each channel gets the items at or above its
    minimum severity (resolved ones by the severity they had; a check's
    change counts as high), if any, as one delivery per report, or into its
    digest when it has a digest window. Drift already announced and
    unchanged is in no report's news, so nothing is said twice about it.

    Queueing (actors/notify/outbox) marks (tenant, report, channel) first, so the same
    envelope processed twice queues one delivery. A report whose deliveries
    are all queued (or that has none) is finished: its journal entry is
    archived, in one pgmq call per batch. If Redis is away its reports are
    failed one by one (worker_fail_item) and the journal replays them; if
    PostgreSQL is, the whole batch is. Sending is the sender thread's
    (actors/notify/notify_sender), so a slow or dead channel never holds a report.
*/
#include "../actors.h"
#include "notify_sender.h"
#include "../../lib/db.h"
#include "../../lib/drp.h"
#include "../../lib/journal.h"
#include "../../lib/kv.h"
#include "../../lib/log.h"
#include "../../lib/metrics.h"
#include "notice.h"
#include "../../lib/seal.h"
#include "outbox.h"

#include <jansson.h>
#include <libpq-fe.h>

#define NOTIFY_SENDERS_MAX 16       // most sender threads in one process

//  One report waiting for the flush.
typedef struct {
    char *tenant;                    // tenant id
    char *report_id;                 // report id
    int64_t journal_id;              // its journal entry (0: none to ack)
    uint32_t item;                   // its place in the WORK batch
} s_pending_t;

typedef struct {
    char *database;                  // the application database
    char *redis;                     // the outbox's Redis
    char *allow_hosts;               // --egress-allow-hosts, for the sender
    seal_keyring_t *channel_keyring; // --channel-key, for the sender (NULL: none)
    PGconn *conn;                    // connected at the first flush
    journal_t *journal;              // connected at the first ack
    kv_t *kv;                        // Redis, this thread's
    outbox_t *outbox;                // on kv
    s_pending_t pending [DRP_BATCH_MAX]; // the batch's reports
    int count;                       // how many
    notify_sender_config_t sender_config; // the first sender's settings
    notify_sender_config_t others_config; // the others': the same, no silence watch
    char silent_after [32];          // "N seconds", or "" when silences are not watched
    zactor_t *senders [NOTIFY_SENDERS_MAX]; // the sender threads
    int sender_count;                // how many
    uint64_t queued;                 // deliveries queued
    uint64_t duplicates;             // deliveries already queued before (replays)
    metric_t *queued_metric;         // drift_notify_queued_total
    metric_t *duplicates_metric;     // drift_notify_duplicates_total
} notify_t;

static const config_option_t s_options [] = {
    { "redis", CONFIG_STRING, "redis://127.0.0.1:6379",
      "Redis URL: the outbox of deliveries and the channels' breakers (keep it append-only)" },
    { "senders", CONFIG_INT, "4",
      "sender threads: deliveries sent at once (a send waits on its receiver; 1 to 16)" },
    { "poll-ms", CONFIG_INT, "200",
      "how often a sender looks for deliveries due later (retries, digests); new ones wake it" },
    { "lease-ms", CONFIG_INT, "60000",
      "a delivery being sent is another sender's after this (a sender that died mid-send)" },
    { "retry-base-ms", CONFIG_INT, "2000", "first retry of a failed send after about this" },
    { "retry-max-ms", CONFIG_INT, "600000", "retries back off, doubling, up to this" },
    { "max-attempts", CONFIG_INT, "30", "sends of one delivery before it fails for good" },
    { "breaker-failures", CONFIG_INT, "3", "consecutive failures that open a channel's breaker" },
    { "breaker-cooldown-ms", CONFIG_INT, "30000", "an open breaker lets a probe through after this" },
    { "send-timeout-ms", CONFIG_INT, "10000", "one send, connect to last byte" },
    { "channel-rate", CONFIG_INT, "60",
      "sends per minute to one channel, over every notify process (0: unlimited); more wait" },
    { "channel-burst", CONFIG_INT, "20", "sends to one channel at once before channel-rate applies" },
    { "silent-after-s", CONFIG_INT, "86400",
      "tell a stack's channels when it has sent no report for this long (0: never)" },
    { "silent-check-ms", CONFIG_INT, "60000", "how often silent stacks are looked for" },
    { "channel-key", CONFIG_STRING, "",
      "channel.key (drift keys init): opens channels' SMTP passwords (\"\" = none: channels "
      "with a password fail)" },
    { "egress-allow-hosts", CONFIG_STRING, "",
      "hosts (comma separated, as written in channel URLs) channels may reach though they "
      "resolve to internal addresses" },
    CONFIG_END
};

static stage_result_t
s_notify (void *state, Drift__Envelope *envelope)
{
    notify_t *self = (notify_t *) state;
    if (self->count == DRP_BATCH_MAX) {
        worker_fail ("notify: batch full");
        return STAGE_FAILED;
    }
    s_pending_t *pending = &self->pending [self->count++];
    pending->tenant = strdup (envelope->tenant);
    pending->report_id = strdup (envelope->report_id);
    pending->journal_id = envelope->journal_id;
    pending->item = worker_item_index ();
    return STAGE_FORWARD;
}

//  --------------------------------------------------------------------------
//  Queueing a report's news

//  One outbox document of news: the item (or check) with its report's
//  stack, id, receipt time and score (caller frees).
static char *
s_document (json_t *news, const char *report_id, json_t *part)
{
    json_t *document = json_deep_copy (part);
    json_object_set (document, "stack", json_object_get (news, "stack"));
    json_object_set_new (document, "report_id", json_string (report_id));
    json_object_set (document, "received_us", json_object_get (news, "received_us"));
    json_object_set_new (document, "report_score", json_integer (
        (json_int_t) json_number_value (json_object_get (news, "score"))));
    char *text = json_dumps (document, JSON_COMPACT);
    json_decref (document);
    return text;
}

//  The items of news for a channel with min_severity, as documents that
//  carry their report, and the check's change if the channel takes high
//  (caller frees each and the array). *count set.
static char **
s_items_for (json_t *news, const char *report_id, int min_severity, size_t *count)
{
    json_t *items = json_object_get (news, "items");
    char **documents = (char **) calloc (json_array_size (items) + 2, sizeof *documents);
    *count = 0;
    json_t *check = json_object_get (news, "check");
    if (json_is_object (check) && NOTICE_CHECK_SEVERITY >= min_severity) {
        //  {"check": {"state", "reason"}}: the sender tells it from drift items.
        json_t *part = json_pack ("{s:O, s:i}", "check", check,
                                  "severity", NOTICE_CHECK_SEVERITY);
        documents [(*count)++] = s_document (news, report_id, part);
        json_decref (part);
    }
    size_t index;
    json_t *item;
    json_array_foreach (items, index, item) {
        if (json_integer_value (json_object_get (item, "severity")) >= min_severity)
            documents [(*count)++] = s_document (news, report_id, item);
    }
    return documents;
}

//  Queue news for every channel: 0, or -1 if Redis failed.
static int
s_queue (notify_t *self, const s_pending_t *pending, json_t *news)
{
    json_t *channels = json_object_get (news, "channels");
    size_t index;
    json_t *channel;
    json_array_foreach (channels, index, channel) {
        size_t count;
        int min_severity = (int) json_integer_value (json_object_get (channel, "min_severity"));
        char **items = s_items_for (news, pending->report_id, min_severity, &count);
        int rc = count == 0 ? 0 : outbox_enqueue (
            self->outbox, pending->tenant, json_string_value (json_object_get (news, "tenant")),
            pending->report_id, json_string_value (json_object_get (channel, "id")),
            (int) json_integer_value (json_object_get (channel, "digest_seconds")),
            (const char *const *) items, count);
        for (size_t i = 0; i < count; i++)
            free (items [i]);
        free (items);
        if (rc < 0)
            return -1;
        if (rc == 1) {
            self->queued++;
            metric_inc (self->queued_metric);
            log_debug ("notification queued", "tenant", pending->tenant,
                       "report_id", pending->report_id,
                       "channel", json_string_value (json_object_get (channel, "name")),
                       "items", LOG_NUM (count));
        }
        else
        if (count) {
            self->duplicates++;
            metric_inc (self->duplicates_metric);
        }
    }
    return 0;
}

//  What the archive recorded for each report of the batch, in one call of
//  drift_batch_news (schema 0024): news [i] is report i's (caller decrefs),
//  NULL when it is not archived (or its tenant is not a uuid, the
//  envelope's fault). Returns 0, or -1 when the database failed.
static int
s_batch_news (notify_t *self, json_t **news)
{
    json_t *batch = json_array ();
    for (int i = 0; i < self->count; i++) {
        news [i] = NULL;
        json_array_append_new (batch, json_pack ("{s:s, s:s}",
            "tenant", self->pending [i].tenant, "report", self->pending [i].report_id));
    }
    char *text = json_dumps (batch, JSON_COMPACT);
    json_decref (batch);
    //  A report after a silence longer than the watch's is news too (NULL:
    //  no watch, so no silence to end).
    const char *params [] = { text, *self->silent_after ? self->silent_after : NULL };
    PGresult *result = PQexecParams (self->conn,
        "SELECT ord, news FROM drift_batch_news ($1::jsonb, $2::interval)", 2, NULL, params,
        NULL, NULL, 0);
    free (text);
    int rc = PQresultStatus (result) == PGRES_TUPLES_OK ? 0 : -1;
    if (rc < 0)
        log_warn ("cannot read the batch's news", "reports", LOG_NUM (self->count),
                  "error", PQerrorMessage (self->conn));
    for (int row = 0; rc == 0 && row < PQntuples (result); row++) {
        int ord = atoi (PQgetvalue (result, row, 0));
        if (ord >= 1 && ord <= self->count && !news [ord - 1])
            news [ord - 1] = json_loads (PQgetvalue (result, row, 1), 0, NULL);
    }
    PQclear (result);
    return rc;
}

static void
s_clear (notify_t *self)
{
    for (int i = 0; i < self->count; i++) {
        free (self->pending [i].tenant);
        free (self->pending [i].report_id);
    }
    self->count = 0;
}

static int
s_flush (void *state)
{
    notify_t *self = (notify_t *) state;
    if (self->count == 0)
        return 0;
    if (!self->conn)
        self->conn = db_connect (self->database, 1000);
    else
    if (PQstatus (self->conn) != CONNECTION_OK)
        db_reconnect (self->conn, 1000);
    if (!self->conn || PQstatus (self->conn) != CONNECTION_OK) {
        log_warn ("notify cannot reach the database, the batch will be replayed",
                  "reports", LOG_NUM (self->count));
        s_clear (self);
        return -1;
    }
    int64_t acks [DRP_BATCH_MAX];
    int ack_count = 0;
    uint64_t queued_before = self->queued;
    json_t *news [DRP_BATCH_MAX];
    int rc = s_batch_news (self, news);
    for (int i = 0; i < self->count && rc == 0; i++) {
        s_pending_t *pending = &self->pending [i];
        if (!news [i])
            worker_fail_item (pending->item, "notify: report %s of tenant %s is not archived",
                              pending->report_id, pending->tenant);
        else
        if (s_queue (self, pending, news [i]))
            worker_fail_item (pending->item, "notify: Redis unavailable, the outbox cannot "
                              "take the report's news");
        else
        if (pending->journal_id > 0)
            acks [ack_count++] = pending->journal_id;
    }
    for (int i = 0; i < self->count; i++)
        json_decref (news [i]);
    //  The senders would find them within poll-ms; told, they send now. A
    //  wake is a hint: never wait for a busy sender's pipe.
    if (self->queued > queued_before)
        for (int i = 0; i < self->sender_count; i++)
            zmq_send (zsock_resolve (self->senders [i]), "WAKE", 4, ZMQ_DONTWAIT);
    if (rc == 0 && ack_count > 0) {
        if (!self->journal)
            self->journal = journal_new (self->database, 1000);
        if (!self->journal || journal_archive (self->journal, acks, ack_count) < 0) {
            log_warn ("journal ack failed, the batch will be replayed", "entries",
                      LOG_NUM (ack_count));
            journal_destroy (&self->journal);
            rc = -1;
        }
    }
    s_clear (self);
    return rc;
}

//  --------------------------------------------------------------------------
//  Setting up

static void
s_close (void *state)
{
    notify_t *self = (notify_t *) state;
    if (!self)
        return;
    for (int i = 0; i < self->sender_count; i++)
        zactor_destroy (&self->senders [i]);
    s_clear (self);
    journal_destroy (&self->journal);
    outbox_destroy (&self->outbox);
    kv_destroy (&self->kv);
    if (self->conn)
        PQfinish (self->conn);
    log_info ("notify stopped", "queued", LOG_NUM (self->queued),
              "duplicates", LOG_NUM (self->duplicates));
    seal_keyring_destroy (&self->channel_keyring);
    free (self->allow_hosts);
    free (self->database);
    free (self->redis);
    free (self);
}

static void *
s_open (config_t *config)
{
    notify_t *self = (notify_t *) calloc (1, sizeof *self);
    self->database = strdup (config_get (config, "database"));
    self->redis = strdup (config_get (config, "redis"));
    self->kv = kv_new (self->redis, 2000);
    if (!self->kv) {
        log_error ("notify cannot start: bad Redis URL", "redis", self->redis);
        s_close (self);
        return NULL;
    }
    self->outbox = outbox_new (self->kv);
    self->allow_hosts = strdup (config_get (config, "egress-allow-hosts"));
    const char *key_path = config_get (config, "channel-key");
    char error [512];
    if (*key_path
    &&  !(self->channel_keyring = seal_keyring_load (key_path, NULL, error, sizeof error))) {
        log_error ("notify cannot start: --channel-key refused", "error", error);
        s_close (self);
        return NULL;
    }
    self->queued_metric = metrics_counter (metrics_default (), "drift_notify_queued_total",
        "Deliveries queued in the outbox (one per report and channel with news for it)", NULL);
    self->duplicates_metric = metrics_counter (metrics_default (),
        "drift_notify_duplicates_total",
        "Deliveries not queued because they were queued before (a replayed report)", NULL);
    self->sender_config = (notify_sender_config_t) {
        .database = self->database,
        .redis = self->redis,
        .poll_ms = (int) config_get_int (config, "poll-ms"),
        .lease_ms = (int) config_get_int (config, "lease-ms"),
        .retry_base_ms = (int) config_get_int (config, "retry-base-ms"),
        .retry_max_ms = (int) config_get_int (config, "retry-max-ms"),
        .max_attempts = (int) config_get_int (config, "max-attempts"),
        .breaker_failures = (int) config_get_int (config, "breaker-failures"),
        .breaker_cooldown_ms = (int) config_get_int (config, "breaker-cooldown-ms"),
        .send_timeout_ms = config_get_int (config, "send-timeout-ms"),
        .channel_rate = (int) config_get_int (config, "channel-rate"),
        .channel_burst = (int) config_get_int (config, "channel-burst"),
        .silent_after_s = (int) config_get_int (config, "silent-after-s"),
        .silent_check_ms = (int) config_get_int (config, "silent-check-ms"),
        .allow_hosts = self->allow_hosts,
        .channel_keyring = self->channel_keyring
    };
    if (self->sender_config.poll_ms < 10 || self->sender_config.lease_ms < 1000
    ||  self->sender_config.retry_base_ms < 10
    ||  self->sender_config.retry_max_ms < self->sender_config.retry_base_ms
    ||  self->sender_config.max_attempts < 1 || self->sender_config.channel_rate < 0
    ||  self->sender_config.channel_burst < 1 || self->sender_config.silent_after_s < 0
    ||  self->sender_config.silent_check_ms < 10
    ||  config_get_int (config, "senders") < 1
    ||  config_get_int (config, "senders") > NOTIFY_SENDERS_MAX) {
        log_error ("notify cannot start: need poll-ms >= 10, lease-ms >= 1000, "
                   "retry-base-ms >= 10, retry-max-ms >= retry-base-ms, max-attempts >= 1, "
                   "channel-rate >= 0, channel-burst >= 1, silent-after-s >= 0, "
                   "silent-check-ms >= 10, senders 1 to 16");
        s_close (self);
        return NULL;
    }
    if (self->sender_config.silent_after_s > 0)
        snprintf (self->silent_after, sizeof self->silent_after, "%d seconds",
                  self->sender_config.silent_after_s);
    //  Several senders, each claiming a few deliveries at a time (the outbox
    //  leases them, as between notify processes): a receiver that takes
    //  20 ms a message would otherwise bound the process at 50 a second.
    //  Only the first watches for silent stacks, so a silence is told once.
    self->others_config = self->sender_config;
    self->others_config.silent_after_s = 0;
    self->sender_count = (int) config_get_int (config, "senders");
    for (int i = 0; i < self->sender_count; i++)
        self->senders [i] = zactor_new (notify_sender_actor,
                                        i == 0 ? &self->sender_config : &self->others_config);
    return self;
}

const actor_def_t notify_actor = {
    .name = "notify",
    .summary = "The notify stage: tells each channel about new and resolved drift and "
               "failing checks, exactly once, then acks the journal.",
    .fn = s_notify,
    .open = s_open,
    .flush = s_flush,
    .close = s_close,
    .options = s_options
};
