/*  notify_sender: sends what the outbox holds; see notify_sender.h. */
#include "notify_sender.h"
#include "notify_silence.h"
#include "breaker.h"
#include "channel.h"
#include "../../lib/clock.h"
#include "../../lib/db.h"
#include "../../lib/health.h"
#include "../../lib/kv.h"
#include "../../lib/log.h"
#include "../../lib/metrics.h"
#include "outbox.h"
#include "../../lib/ratelimit.h"

#include <jansson.h>
#include <libpq-fe.h>
#include <sodium.h>

//  Few at a time: a sender sends what it claimed one by one, so a large
//  claim would hold deliveries the process's other senders could be sending.
#define S_CLAIM_MAX 4            // deliveries taken per look
#define S_CHANNEL_TTL_MS 5000    // a channel's settings are read again after this
#define S_BREAKER_WINDOW_MS 60000 // a breaker seen open counts as open this long
#define S_DEPTH_EVERY_MS 1000    // the outbox depth gauge is refreshed this often

//  A channel as last read from its row.
typedef struct {
    channel_t *channel;          // NULL: removed, disabled or unusable (see error)
    char error [256];            // why it is unusable
    int64_t read_ms;             // when it was read (monotonic)
} s_cached_t;

typedef struct {
    const notify_sender_config_t *config;
    PGconn *conn;                // the database, connected when first needed
    kv_t *kv;                    // Redis
    outbox_t *outbox;            // the deliveries
    breaker_t *breaker;          // the channels' breakers
    ratelimit_t *rate;           // the channels' send rates (NULL: unlimited)
    notify_silence_t *silence;   // the watch for silent stacks (NULL: off)
    int64_t silence_due_ms;      // when it next looks (monotonic)
    zhashx_t *channels;          // tenant/channel id → s_cached_t
    zlistx_t *unfinished;        // ids sent but not yet removed (Redis was away)
    zhashx_t *open_seen;         // channel id → monotonic ms its breaker was last seen open
    int64_t depth_read_ms;       // when the outbox depth gauge was last refreshed
    metric_t *sent;              // drift_notify_deliveries_total{outcome="sent"}
    metric_t *retried;           // {outcome="retried"}
    metric_t *failed;            // {outcome="failed"}
    metric_t *rate_limited;      // drift_notify_rate_limited_total
    metric_t *breakers_open;     // drift_notify_breakers_open
    metric_t *outbox_depth;      // drift_notify_outbox_depth
} s_sender_t;

//  A channel's breaker was seen open now (counted for S_BREAKER_WINDOW_MS).
//  Channel ids are bounded by the tenants' channels; the window forgets them.
static void
s_saw_open (s_sender_t *self, const char *channel)
{
    int64_t *at = (int64_t *) zhashx_lookup (self->open_seen, channel);
    if (!at) {
        at = (int64_t *) malloc (sizeof *at);
        assert (at);
        zhashx_insert (self->open_seen, channel, at);
    }
    *at = clock_mono_ms ();
}

//  The gauges only this thread can compute, refreshed each tick.
static void
s_gauges (s_sender_t *self)
{
    int64_t now = clock_mono_ms ();
    zlistx_t *stale = zlistx_new ();
    for (int64_t *at = (int64_t *) zhashx_first (self->open_seen); at;
         at = (int64_t *) zhashx_next (self->open_seen))
        if (now - *at > S_BREAKER_WINDOW_MS)
            zlistx_add_end (stale, (void *) zhashx_cursor (self->open_seen));
    for (const char *key = (const char *) zlistx_first (stale); key;
         key = (const char *) zlistx_next (stale))
        zhashx_delete (self->open_seen, key);
    zlistx_destroy (&stale);
    metric_set (self->breakers_open, (int64_t) zhashx_size (self->open_seen));
    if (self->outbox && now - self->depth_read_ms >= S_DEPTH_EVERY_MS) {
        self->depth_read_ms = now;
        long depth = outbox_depth (self->outbox);
        if (depth >= 0)
            metric_set (self->outbox_depth, depth);
    }
}


static void
s_cached_destroy (void **item)
{
    s_cached_t *cached = (s_cached_t *) *item;
    if (cached) {
        channel_destroy (&cached->channel);
        free (cached);
        *item = NULL;
    }
}

//  --------------------------------------------------------------------------
//  The database: channels and their health

static bool
s_connected (s_sender_t *self)
{
    if (!self->conn)
        self->conn = db_connect (self->config->database, 0);
    else
    if (PQstatus (self->conn) != CONNECTION_OK)
        db_reconnect (self->conn, 0);
    return self->conn && PQstatus (self->conn) == CONNECTION_OK;
}

//  Begin a transaction under tenant (row-level security reads the setting
//  as each statement starts, so it is set by a statement of its own). 0, -1.
static int
s_begin (s_sender_t *self, const char *tenant)
{
    PGresult *result = PQexec (self->conn, "BEGIN");
    bool ok = PQresultStatus (result) == PGRES_COMMAND_OK;
    PQclear (result);
    const char *params [] = { tenant };
    result = PQexecParams (self->conn, "SELECT drift_set_tenant ($1::uuid)", 1, NULL, params,
                           NULL, NULL, 0);
    ok = ok && PQresultStatus (result) == PGRES_TUPLES_OK;
    PQclear (result);
    if (!ok) {
        result = PQexec (self->conn, "ROLLBACK");
        PQclear (result);
    }
    return ok ? 0 : -1;
}

static void
s_commit (s_sender_t *self)
{
    PGresult *result = PQexec (self->conn, "COMMIT");
    PQclear (result);
}

//  The channel of a delivery: from the cache, or read under its tenant.
//  NULL when the database cannot be asked (try later).
static s_cached_t *
s_channel (s_sender_t *self, const outbox_delivery_t *delivery)
{
    char key [160];
    snprintf (key, sizeof key, "%s/%s", delivery->tenant, delivery->channel);
    s_cached_t *cached = (s_cached_t *) zhashx_lookup (self->channels, key);
    if (cached && clock_mono_ms () - cached->read_ms < S_CHANNEL_TTL_MS)
        return cached;
    if (!s_connected (self) || s_begin (self, delivery->tenant))
        return NULL;
    const char *params [] = { delivery->tenant, delivery->channel };
    PGresult *result = PQexecParams (self->conn,
        "SELECT c.kind, c.settings::text, coalesce (c.password_sealed, ''), c.enabled "
        "FROM notification_channels c "
        "WHERE c.tenant_id = $1::uuid AND c.id = $2::uuid", 2, NULL, params, NULL, NULL, 0);
    s_commit (self);
    if (PQresultStatus (result) != PGRES_TUPLES_OK) {
        log_warn ("cannot read a channel, its deliveries wait", "channel", delivery->channel,
                  "error", PQerrorMessage (self->conn));
        PQclear (result);
        return NULL;
    }
    s_cached_t *fresh = (s_cached_t *) calloc (1, sizeof *fresh);
    fresh->read_ms = clock_mono_ms ();
    if (PQntuples (result) == 0 || *PQgetvalue (result, 0, 3) != 't')
        snprintf (fresh->error, sizeof fresh->error, "the channel was removed or disabled");
    else {
        channel_context_t context = {
            .timeout_ms = self->config->send_timeout_ms,
            .allow_hosts = self->config->allow_hosts,
            .keyring = self->config->channel_keyring
        };
        fresh->channel = channel_new (PQgetvalue (result, 0, 0), PQgetvalue (result, 0, 1),
                                      PQgetvalue (result, 0, 2), delivery->tenant,
                                      delivery->channel, &context, fresh->error,
                                      sizeof fresh->error);
    }
    PQclear (result);
    zhashx_update (self->channels, key, fresh);
    return fresh;
}

//  Write a send's outcome on the channel's row (best effort: the log line
//  has it too), in one round trip: the transaction, its tenant, the UPDATE
//  and the commit go as one simple query, the values quoted by libpq (four
//  round trips an email had been most of the sender's PostgreSQL time). Its
//  commit does not wait for the disk: a send waited for one flush of the
//  WAL per email, for counters a crash may lose.
static void
s_record (s_sender_t *self, const outbox_delivery_t *delivery, const char *error)
{
    if (!s_connected (self))
        return;
    char *tenant = PQescapeLiteral (self->conn, delivery->tenant, strlen (delivery->tenant));
    char *channel = PQescapeLiteral (self->conn, delivery->channel, strlen (delivery->channel));
    char *reason = error ? PQescapeLiteral (self->conn, error, strlen (error)) : NULL;
    if (!tenant || !channel || (error && !reason)) {
        log_warn ("cannot record a channel's outcome", "channel", delivery->channel,
                  "error", PQerrorMessage (self->conn));
        PQfreemem (tenant);
        PQfreemem (channel);
        PQfreemem (reason);
        return;
    }
    char *set = reason
        ? zsys_sprintf ("last_error = %s, last_error_at = now (), failed_total = failed_total + 1",
                        reason)
        : strdup ("last_sent_at = now (), sent_total = sent_total + 1");
    char *sql = zsys_sprintf (
        "BEGIN; SET LOCAL synchronous_commit = off; SELECT drift_set_tenant (%s::uuid); "
        "UPDATE notification_channels SET %s WHERE tenant_id = %s::uuid AND id = %s::uuid; "
        "COMMIT", tenant, set, tenant, channel);
    PGresult *result = PQexec (self->conn, sql);
    if (PQresultStatus (result) != PGRES_COMMAND_OK)
        log_warn ("cannot record a channel's outcome", "channel", delivery->channel,
                  "error", PQerrorMessage (self->conn));
    PQclear (result);
    //  A statement that failed left the transaction open and aborted.
    if (PQtransactionStatus (self->conn) != PQTRANS_IDLE) {
        result = PQexec (self->conn, "ROLLBACK");
        PQclear (result);
    }
    zstr_free (&sql);
    zstr_free (&set);
    PQfreemem (tenant);
    PQfreemem (channel);
    PQfreemem (reason);
}

//  --------------------------------------------------------------------------
//  The notice a delivery's items make

//  Items as parsed JSON, and the texts notice_item_t points to.
typedef struct {
    json_t **docs;               // parsed items
    char **texts;                // changes and reasons as JSON text, two per item
    notice_item_t *items;        // the notice's items, new before resolved
    size_t count;                // how many
    notice_check_t *checks;      // the notice's checks, failures first
    size_t check_count;          // how many
} s_items_t;

static const char *
s_field (json_t *doc, const char *name)
{
    const char *value = json_string_value (json_object_get (doc, name));
    return value ? value : "";
}

//  One more entry (item or check) of the notice: whether all are of one
//  stack and one report so far, and the newest receipt time.
static void
s_note_report (notice_t *notice, const char **stack, const char **report, bool *one_stack,
               bool *one_report, const char *entry_stack, const char *entry_report,
               int64_t received_us)
{
    if (*stack && strcmp (*stack, entry_stack))
        *one_stack = false;
    if (*report && strcmp (*report, entry_report))
        *one_report = false;
    *stack = entry_stack;
    *report = entry_report;
    if (received_us > notice->received_us)
        notice->received_us = received_us;
}

static void
s_build (const outbox_delivery_t *delivery, s_items_t *built, notice_t *notice)
{
    size_t count = delivery->item_count;
    built->docs = (json_t **) calloc (count + 1, sizeof *built->docs);
    built->texts = (char **) calloc (2 * count + 1, sizeof *built->texts);
    built->items = (notice_item_t *) calloc (count + 1, sizeof *built->items);
    built->checks = (notice_check_t *) calloc (count + 1, sizeof *built->checks);
    built->count = 0;
    built->check_count = 0;
    memset (notice, 0, sizeof *notice);
    notice->delivery_id = delivery->id;
    notice->tenant = delivery->tenant_name;
    notice->digest = delivery->digest == 1;
    const char *stack = NULL, *report = NULL;
    bool one_stack = true, one_report = true;
    for (size_t i = 0; i < count; i++)
        built->docs [i] = json_loads (delivery->items [i], 0, NULL);
    //  Checks that failed, went silent, resumed, work again (notify's
    //  documents with "check": {"state", "reason"}), in that order.
    for (int state = 0; state < NOTICE_CHECK_STATES; state++)
        for (size_t i = 0; i < count; i++) {
            json_t *check = json_object_get (built->docs [i], "check");
            if (!json_is_object (check)
            ||  !streq (s_field (check, "state"), notice_check_state_name (state)))
                continue;
            notice_check_t *entry = &built->checks [built->check_count++];
            entry->stack = s_field (built->docs [i], "stack");
            entry->report_id = s_field (built->docs [i], "report_id");
            entry->state = (notice_check_state_t) state;
            entry->reason = s_field (check, "reason");
            entry->received_us = json_integer_value (json_object_get (built->docs [i],
                                                                      "received_us"));
            s_note_report (notice, &stack, &report, &one_stack, &one_report, entry->stack,
                           entry->report_id, entry->received_us);
            //  Bad news sets the notice's severity; good news does not.
            if ((state == NOTICE_CHECK_FAILED || state == NOTICE_CHECK_SILENT)
            &&  NOTICE_CHECK_SEVERITY > notice->severity)
                notice->severity = NOTICE_CHECK_SEVERITY;
        }
    //  New and changed drift first, then what was resolved.
    for (int resolved_pass = 0; resolved_pass < 2; resolved_pass++)
        for (size_t i = 0; i < count; i++) {
            json_t *doc = built->docs [i];
            if (!json_is_object (doc) || json_object_get (doc, "check")
            ||  json_is_true (json_object_get (doc, "resolved")) != (resolved_pass == 1))
                continue;
            notice_item_t *item = &built->items [built->count];
            item->fingerprint = s_field (doc, "fingerprint");
            item->address = s_field (doc, "address");
            item->type = s_field (doc, "type");
            item->kind = s_field (doc, "kind");
            item->severity = (int) json_integer_value (json_object_get (doc, "severity"));
            item->score = json_number_value (json_object_get (doc, "score"));
            built->texts [2 * built->count] = json_dumps (json_object_get (doc, "changes"),
                                                          JSON_COMPACT | JSON_ENCODE_ANY);
            built->texts [2 * built->count + 1] = json_dumps (json_object_get (doc, "reasons"),
                                                              JSON_COMPACT | JSON_ENCODE_ANY);
            item->changes = built->texts [2 * built->count] ? built->texts [2 * built->count]
                                                            : "[]";
            item->reasons = built->texts [2 * built->count + 1]
                          ? built->texts [2 * built->count + 1] : "[]";
            item->resolved = resolved_pass == 1;
            item->stack = s_field (doc, "stack");
            item->report_id = s_field (doc, "report_id");
            s_note_report (notice, &stack, &report, &one_stack, &one_report, item->stack,
                           item->report_id, json_integer_value (json_object_get (doc,
                                                                                 "received_us")));
            if (item->severity > notice->severity)
                notice->severity = item->severity;
            int score = (int) json_integer_value (json_object_get (doc, "report_score"));
            if (score > notice->score)
                notice->score = score;
            built->count++;
        }
    notice->stack = stack && one_stack ? stack : "";
    notice->report_id = report && one_report ? report : "";
    notice->items = built->items;
    notice->item_count = built->count;
    notice->checks = built->checks;
    notice->check_count = built->check_count;
}

static void
s_built_free (s_items_t *built, size_t count)
{
    for (size_t i = 0; i < count; i++)
        json_decref (built->docs [i]);
    for (size_t i = 0; i < 2 * count; i++)
        free (built->texts [i]);
    free (built->docs);
    free (built->texts);
    free (built->items);
    free (built->checks);
}

//  --------------------------------------------------------------------------
//  One delivery

//  The pause before the next try: base × 2^attempts, at most max, ±25 %.
static int
s_backoff (const notify_sender_config_t *config, int attempts)
{
    double delay = config->retry_base_ms;
    for (int i = 0; i < attempts && delay < config->retry_max_ms; i++)
        delay *= 2;
    if (delay > config->retry_max_ms)
        delay = config->retry_max_ms;
    double jitter = 0.75 + 0.5 * ((double) randombytes_uniform (10001) / 10000.0);
    return (int) (delay * jitter);
}

//  Drop a delivery that failed for good, saying so everywhere.
static void
s_give_up (s_sender_t *self, const outbox_delivery_t *delivery, const char *error)
{
    log_error ("notification failed for good, recorded against the channel",
               "tenant", delivery->tenant, "channel", delivery->channel,
               "delivery", delivery->id, "attempts", LOG_NUM (delivery->attempts + 1),
               "error", error);
    metric_inc (self->failed);
    s_record (self, delivery, error);
    outbox_complete (self->outbox, delivery->id);
}

static void
s_deliver (s_sender_t *self, const outbox_delivery_t *delivery)
{
    s_cached_t *cached = s_channel (self, delivery);
    if (!cached) {
        outbox_retry (self->outbox, delivery->id, self->config->retry_base_ms, 0, NULL);
        return;
    }
    if (!cached->channel) {
        s_give_up (self, delivery, cached->error);
        return;
    }
    int retry_ms = 0;
    if (self->rate) {
        //  Over the channel's rate: not a try, just later. If Redis does
        //  not answer, the breaker below finds out too.
        const char *keys [] = { delivery->channel };
        int wanted [] = { 1 }, granted [1];
        if (ratelimit_take (self->rate, keys, wanted, 1, granted, &retry_ms) == 0
        &&  granted [0] == 0) {
            metric_inc (self->rate_limited);
            log_debug ("notification waits for its channel's rate", "channel", delivery->channel,
                       "delivery", delivery->id, "retry_ms", LOG_NUM (retry_ms));
            outbox_retry (self->outbox, delivery->id, retry_ms + 10, 0, NULL);
            return;
        }
    }
    int allowed = breaker_allow (self->breaker, delivery->channel, &retry_ms);
    if (allowed != 1) {
        if (allowed == 0)
            s_saw_open (self, delivery->channel);
        //  Open breaker (or Redis away): not a try, just later.
        outbox_retry (self->outbox, delivery->id,
                      allowed == 0 ? retry_ms + 10 : self->config->retry_base_ms, 0, NULL);
        return;
    }
    notice_t notice;
    s_items_t built;
    s_build (delivery, &built, &notice);
    char error [512] = "";
    send_result_t result = channel_send (cached->channel, &notice, error, sizeof error);
    s_built_free (&built, delivery->item_count);
    int state = breaker_record (self->breaker, delivery->channel, result == SEND_OK);
    if (state == 1)
        s_saw_open (self, delivery->channel);
    if (result == SEND_OK) {
        metric_inc (self->sent);
        log_info ("notification sent", "tenant", delivery->tenant, "channel", delivery->channel,
                  "delivery", delivery->id, "items", LOG_NUM (delivery->item_count),
                  "attempts", LOG_NUM (delivery->attempts + 1));
        //  Sent: it must leave the outbox, or its lease would run out and
        //  send it again. If Redis is away, keep trying before anything else.
        if (outbox_complete (self->outbox, delivery->id))
            zlistx_add_end (self->unfinished, strdup (delivery->id));
        s_record (self, delivery, NULL);
    }
    else
    if (result == SEND_PERMANENT || delivery->attempts + 1 >= self->config->max_attempts) {
        char reason [640];
        snprintf (reason, sizeof reason, "%s%s", error,
                  result == SEND_PERMANENT ? "" : " (gave up after the last attempt)");
        s_give_up (self, delivery, reason);
    }
    else {
        int delay = s_backoff (self->config, delivery->attempts);
        log_warn ("notification not sent, retried later", "tenant", delivery->tenant,
                  "channel", delivery->channel, "delivery", delivery->id,
                  "attempt", LOG_NUM (delivery->attempts + 1), "retry_ms", LOG_NUM (delay),
                  "breaker", state == 1 ? "open" : "closed", "error", error);
        metric_inc (self->retried);
        outbox_retry (self->outbox, delivery->id, delay, 1, error);
    }
}

//  Remove what was sent while Redis was away. 0 when none is left.
static int
s_finish (s_sender_t *self)
{
    char *id = (char *) zlistx_first (self->unfinished);
    while (id) {
        if (outbox_complete (self->outbox, id))
            return -1;
        zlistx_delete (self->unfinished, zlistx_cursor (self->unfinished));
        id = (char *) zlistx_first (self->unfinished);
    }
    return 0;
}

//  Take what is due and send it. True when the claim was full: more may
//  be due, so the caller looks again at once instead of after poll_ms.
static bool
s_tick (s_sender_t *self)
{
    if (s_finish (self))
        return false;
    outbox_delivery_t deliveries [S_CLAIM_MAX];
    int claimed = outbox_claim (self->outbox, self->config->lease_ms, deliveries, S_CLAIM_MAX);
    for (int i = 0; i < claimed; i++) {
        s_deliver (self, &deliveries [i]);
        outbox_delivery_free (&deliveries [i]);
    }
    return claimed == S_CLAIM_MAX;
}

//  Look for silent stacks when it is time (and the database answers).
static void
s_watch_silence (s_sender_t *self)
{
    if (!self->silence || clock_mono_ms () < self->silence_due_ms)
        return;
    self->silence_due_ms = clock_mono_ms () + self->config->silent_check_ms;
    if (s_connected (self))
        notify_silence_check (self->silence, self->conn, self->outbox);
}

//  Read every command waiting on the pipe (wakes pile up while a send
//  takes its time): true on "$TERM".
static bool
s_commands (zsock_t *pipe)
{
    while (zsock_events (pipe) & ZMQ_POLLIN) {
        char *command = zstr_recv (pipe);
        bool stop = !command || streq (command, "$TERM");
        zstr_free (&command);
        if (stop)
            return true;
    }
    return false;
}

void
notify_sender_actor (zsock_t *pipe, void *args)
{
    s_sender_t self = { .config = (const notify_sender_config_t *) args };
    self.kv = kv_new (self.config->redis, 2000);
    self.outbox = self.kv ? outbox_new (self.kv) : NULL;
    self.breaker = self.kv ? breaker_new (self.kv, self.config->breaker_failures,
                                          self.config->breaker_cooldown_ms) : NULL;
    if (self.kv && self.config->channel_rate > 0)
        self.rate = ratelimit_new (self.kv, "drift:notify-rate:",
                                   self.config->channel_rate / 60.0, self.config->channel_burst);
    //  Told about for a week of silence at most (see notify_silence.h).
    if (self.config->silent_after_s > 0)
        self.silence = notify_silence_new (self.config->silent_after_s, 7 * 86400);
    self.channels = zhashx_new ();
    zhashx_set_destructor (self.channels, s_cached_destroy);
    self.unfinished = zlistx_new ();
    zlistx_set_destructor (self.unfinished, (zlistx_destructor_fn *) zstr_free);
    self.open_seen = zhashx_new ();
    zhashx_set_destructor (self.open_seen, (zhashx_destructor_fn *) zstr_free);
    metrics_t *registry = metrics_default ();
    const char *deliveries = "Notification send attempts, by what came of them";
    self.sent = metrics_counter (registry, "drift_notify_deliveries_total", deliveries,
                                 "outcome", "sent", NULL);
    self.retried = metrics_counter (registry, "drift_notify_deliveries_total", deliveries,
                                    "outcome", "retried", NULL);
    self.failed = metrics_counter (registry, "drift_notify_deliveries_total", deliveries,
                                   "outcome", "failed", NULL);
    self.rate_limited = metrics_counter (registry, "drift_notify_rate_limited_total",
        "Sends put off because the channel was over its rate (sent later, not lost)", NULL);
    self.breakers_open = metrics_gauge (registry, "drift_notify_breakers_open",
        "Channels whose breaker this sender saw open in the last minute", NULL);
    self.outbox_depth = metrics_gauge (registry, "drift_notify_outbox_depth",
        "Deliveries waiting in the Redis outbox, due or not (refreshed every second)", NULL);
    zsock_signal (pipe, 0);
    zpoller_t *poller = zpoller_new (pipe, NULL);
    //  The sender is a loop of notify's liveness of its own (lib/health):
    //  the stage can be fine while sending is stuck.
    health_loop_t *loop = health_loop_new ("notify-sender");
    bool more = false;           // the last look took a full claim
    while (true) {
        health_loop_beat (loop);
        //  "WAKE" (the stage queued deliveries) or poll_ms, whichever
        //  comes first: a new delivery goes out at once, and retries and
        //  digests fall due on the timer.
        void *which = zpoller_wait (poller, more ? 0 : self.config->poll_ms);
        if (which == pipe && s_commands (pipe))
            break;
        else
        if (zpoller_terminated (poller))
            break;
        more = false;
        if (self.outbox) {
            more = s_tick (&self);
            s_watch_silence (&self);
        }
        s_gauges (&self);
    }
    health_loop_destroy (&loop);
    zpoller_destroy (&poller);
    if (zlistx_size (self.unfinished))
        log_warn ("notify stopped with sent deliveries still in the outbox: they will be "
                  "sent again after their lease", "deliveries",
                  LOG_NUM (zlistx_size (self.unfinished)));
    zlistx_destroy (&self.unfinished);
    zhashx_destroy (&self.open_seen);
    zhashx_destroy (&self.channels);
    breaker_destroy (&self.breaker);
    ratelimit_destroy (&self.rate);
    notify_silence_destroy (&self.silence);
    outbox_destroy (&self.outbox);
    kv_destroy (&self.kv);
    if (self.conn)
        PQfinish (self.conn);
}
