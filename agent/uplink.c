/*  uplink: send, settle, reconnect with backoff; see uplink.h. */
#include "uplink.h"
#include "../lib/agent_link.h"
#include "../lib/clock.h"
#include "../lib/log.h"
#include "../lib/shutdown.h"

#include <jansson.h>
#include <sodium.h>

#define UPLINK_BACKOFF_FIRST_MS 500
//  Broken links, each on the report's own request, that refuse a report
//  when the link worked between them (proto/AGENT-LINK.md §6).
#define UPLINK_BROKEN_STRIKES 3

//  A report whose own request ended in a broken link: how often, and how
//  many proofs of a working link there had been at the last time.
typedef struct {
    int strikes;                 // broken links that counted against it
    uint64_t proofs_at;          // the uplink's proofs then
} strike_t;

struct _uplink_t {
    uplink_config_t config;      // settings (strings not owned; the link owned)
    bool connected;              // the transport has a connection
    bool welcomed;               // reports may be sent on it (WELCOME, or at once)
    int64_t welcome_deadline;    // when waiting for WELCOME gives up
    int64_t next_attempt;        // no connection attempt before this
    int backoff_ms;              // the current backoff
    int64_t hold_until;          // no report sent before this (RATE_LIMITED, UNAVAILABLE)
    bool key_refused;            // the server refused our key
    char state [16];             // connected, disconnected, refused
    char tenant [64];            // from WELCOME
    char agent [64];             // from WELCOME
    uint64_t max_report_bytes;   // from WELCOME: larger reports are refused here (0: unknown)
    uint64_t proofs;             // WELCOMEs and ACKs received: the link worked
    zhashx_t *strikes;           // report id → strike_t, for reports that broke the link
    char last_ack [80];          // report id of the last ACK
    int64_t last_ack_us;         // when it came
    char last_error [256];       // the last thing that went wrong
    agent_commands_t *commands;  // the command channel (not owned), or NULL
};

void
uplink_set_commands (uplink_t *self, agent_commands_t *commands)
{
    self->commands = commands;
}

uplink_t *
uplink_new (const uplink_config_t *config)
{
    if (!config->endpoint || !config->link.ops || config->ack_timeout_ms < 1
    ||  config->window < 1) {
        if (config->link.ops)
            config->link.ops->destroy (config->link.self);
        return NULL;
    }
    uplink_t *self = (uplink_t *) zmalloc (sizeof *self);
    self->config = *config;
    if (self->config.backoff_max_ms < UPLINK_BACKOFF_FIRST_MS)
        self->config.backoff_max_ms = 30000;
    strcpy (self->state, "disconnected");
    self->strikes = zhashx_new ();
    zhashx_set_destructor (self->strikes, (zhashx_destructor_fn *) zstr_free);
    //  What an earlier run knew (its last ACK, who the server said we are)
    //  stays in the status until this run learns better.
    json_t *previous = config->status_path ? json_load_file (config->status_path, 0, NULL) : NULL;
    if (previous) {
        const char *text;
        if ((text = json_string_value (json_object_get (previous, "last_ack_report"))))
            snprintf (self->last_ack, sizeof self->last_ack, "%s", text);
        if ((text = json_string_value (json_object_get (previous, "tenant"))))
            snprintf (self->tenant, sizeof self->tenant, "%s", text);
        if ((text = json_string_value (json_object_get (previous, "agent"))))
            snprintf (self->agent, sizeof self->agent, "%s", text);
        self->last_ack_us = json_integer_value (json_object_get (previous, "last_ack_us"));
        json_decref (previous);
    }
    return self;
}

static void
s_disconnect (uplink_t *self, const char *why)
{
    self->config.link.ops->disconnect (self->config.link.self);
    self->connected = false;
    self->welcomed = false;
    self->backoff_ms = self->backoff_ms
        ? (self->backoff_ms * 2 > self->config.backoff_max_ms
           ? self->config.backoff_max_ms : self->backoff_ms * 2)
        : UPLINK_BACKOFF_FIRST_MS;
    //  Jitter: anywhere from half to one and a half times the backoff.
    int jitter = (int) randombytes_uniform ((uint32_t) self->backoff_ms + 1);
    self->next_attempt = clock_mono_ms () + self->backoff_ms / 2 + jitter;
    if (!self->key_refused)
        strcpy (self->state, "disconnected");
    snprintf (self->last_error, sizeof self->last_error, "%s", why);
    log_warn ("link to ingest down", "reason", why, "retry_in_ms",
              LOG_NUM (self->next_attempt - clock_mono_ms ()));
}

void
uplink_destroy (uplink_t **self_p)
{
    if (*self_p) {
        (*self_p)->config.link.ops->destroy ((*self_p)->config.link.self);
        zhashx_destroy (&(*self_p)->strikes);
        free (*self_p);
        *self_p = NULL;
    }
}

static void
s_connect (uplink_t *self)
{
    char error [256];
    int ready = self->config.link.ops->connect (self->config.link.self, error, sizeof error);
    if (ready == -1) {
        s_disconnect (self, error);
        return;
    }
    self->connected = true;
    self->welcome_deadline = clock_mono_ms () + self->config.ack_timeout_ms;
    if (ready == 1) {
        self->welcomed = true;
        strcpy (self->state, "connected");
    }
}

static void
s_key_refused (uplink_t *self, const char *message)
{
    self->key_refused = true;
    strcpy (self->state, "refused");
    snprintf (self->last_error, sizeof self->last_error, "%s", message);
    log_error ("ingest refuses this agent's key or certificate (unknown or revoked): "
               "stopping; ask the operator for a new one", "reason", message);
}

//  Per flush: reports in flight and the queue still to send. Command
//  updates share both under their spool name with a leading '@' (no report
//  id holds one): the same window, ack timeout and resends.
typedef struct {
    zhashx_t *in_flight;         // report id → send time (ms, as a pointer-sized int)
    zlistx_t *queue;             // report ids to send, in order
    spool_t *spool;              // the spool
    uplink_result_t *result;     // what happened
} flush_t;

static void
s_requeue_front (flush_t *flush, const char *id)
{
    zlistx_add_start (flush->queue, strdup (id));
}

static void
s_settle_ack (uplink_t *self, flush_t *flush, const link_answer_t *ack)
{
    zhashx_delete (flush->in_flight, ack->report_id);
    void *queued = zlistx_find (flush->queue, (void *) ack->report_id);
    if (queued)
        zlistx_delete (flush->queue, queued);
    if (spool_remove (flush->spool, ack->report_id) == 0) {
        flush->result->sent++;
        if (ack->duplicate)
            log_info ("report acked as a duplicate (ingest had journaled it before)",
                      "report_id", ack->report_id);
    }
    zhashx_delete (self->strikes, ack->report_id);
    snprintf (self->last_ack, sizeof self->last_ack, "%s", ack->report_id);
    self->last_ack_us = clock_wall_us ();
    self->proofs++;
    //  An answer is proof the link works: the next failure starts the
    //  backoff afresh.
    self->backoff_ms = 0;
}

//  Updates spooled (agent/commands) and not yet queued or in flight, to
//  the end of the queue, in their spool's order (per command, by seq).
static void
s_queue_updates (uplink_t *self, flush_t *flush)
{
    if (!self->commands || !self->config.link.ops->send_update)
        return;
    zlistx_t *names = spool_list (agent_commands_updates (self->commands));
    for (const char *name = (const char *) zlistx_first (names); name;
         name = (const char *) zlistx_next (names)) {
        char *key = zsys_sprintf ("@%s", name);
        if (!zhashx_lookup (flush->in_flight, key) && !zlistx_find (flush->queue, key))
            zlistx_add_end (flush->queue, key);
        else
            zstr_free (&key);
    }
    zlistx_destroy (&names);
}

//  COMMAND_ACK: the update is stored, forget it.
static void
s_settle_command_ack (uplink_t *self, flush_t *flush, const link_answer_t *ack)
{
    char name [64];
    snprintf (name, sizeof name, "%s.%06u", ack->command_id, ack->seq);
    char key [66];
    snprintf (key, sizeof key, "@%s", name);
    zhashx_delete (flush->in_flight, key);
    void *queued = zlistx_find (flush->queue, key);
    if (queued)
        zlistx_delete (flush->queue, queued);
    spool_remove (agent_commands_updates (self->commands), name);
    self->backoff_ms = 0;
}

//  A command from ingest: recorded and answered (its RECEIVED update
//  queued), or found recorded already.
static void
s_command (uplink_t *self, flush_t *flush, link_answer_t *answer)
{
    if (self->commands) {
        agent_commands_receive (self->commands, answer->command, answer->command_size);
        s_queue_updates (self, flush);
    }
    free (answer->command);
    answer->command = NULL;
}

//  A command update refused for good (ingest named it: a command deleted
//  on the server, a state it will not take): kept in the updates'
//  refused/ with the reason, and never sent again. Resending it could only
//  be refused again, after every ack timeout, for ever.
static void
s_refuse_update (uplink_t *self, flush_t *flush, const char *key, const char *reason)
{
    void *queued = zlistx_find (flush->queue, (void *) key);
    if (!queued && !zhashx_lookup (flush->in_flight, key)) {
        log_error ("ingest refused a command update this agent is not sending",
                   "update", key + 1, "reason", reason);
        return;
    }
    zhashx_delete (flush->in_flight, key);
    if (queued)
        zlistx_delete (flush->queue, queued);
    if (spool_refuse (agent_commands_updates (self->commands), key + 1, reason) == 0) {
        log_error ("command update refused by ingest (kept in commands/out/refused/, not "
                   "sent again)", "update", key + 1, "reason", reason);
        flush->result->updates_refused++;
    }
}

static void
s_settle_nack (uplink_t *self, flush_t *flush, const link_answer_t *nack)
{
    //  A report by its id, or a command update by its key in the queue.
    char key [64];
    bool update = *nack->command_id && self->commands;
    if (update)
        snprintf (key, sizeof key, "@%s.%06u", nack->command_id, nack->seq);
    const char *id = update ? key : nack->report_id;
    bool ours = *id && zhashx_lookup (flush->in_flight, id);
    snprintf (self->last_error, sizeof self->last_error, "%s", nack->message);
    switch (nack->code) {
        case DRIFT__NACK_CODE__NACK_RATE_LIMITED:
        case DRIFT__NACK_CODE__NACK_UNAVAILABLE: {
            uint32_t wait = nack->retry_after_ms ? nack->retry_after_ms : 1000;
            int64_t until = clock_mono_ms () + wait + randombytes_uniform (wait / 4 + 1);
            if (until > self->hold_until)
                self->hold_until = until;
            if (ours) {
                zhashx_delete (flush->in_flight, id);
                s_requeue_front (flush, id);
            }
            break;
        }
        case DRIFT__NACK_CODE__NACK_REVOKED:
            s_key_refused (self, nack->message);
            break;
        default:
            if (update)
                s_refuse_update (self, flush, key, nack->message);
            else
            if (ours) {
                zhashx_delete (flush->in_flight, id);
                log_error ("report refused by ingest (kept in refused/)", "report_id", id,
                           "reason", nack->message);
                spool_refuse (flush->spool, id, nack->message);
                zhashx_delete (self->strikes, id);
                flush->result->refused++;
            }
            else
                log_error ("ingest refused a message", "reason", nack->message);
    }
}

//  Every report in flight back to the head of the queue, in id order (the
//  spool's order), and the connection dropped.
static void
s_break (uplink_t *self, flush_t *flush, const char *why)
{
    zlistx_t *back = zlistx_new ();
    zlistx_set_destructor (back, (zlistx_destructor_fn *) zstr_free);
    zlistx_set_comparator (back, (zlistx_comparator_fn *) strcmp);
    for (void *sent = zhashx_first (flush->in_flight); sent; sent = zhashx_next (flush->in_flight))
        zlistx_add_end (back, strdup ((const char *) zhashx_cursor (flush->in_flight)));
    zlistx_sort (back);
    for (char *id = (char *) zlistx_last (back); id; id = (char *) zlistx_prev (back))
        s_requeue_front (flush, id);
    zlistx_destroy (&back);
    zhashx_purge (flush->in_flight);
    s_disconnect (self, why);
}

//  Keep report id in refused/ with reason: it is never sent again.
static void
s_refuse_here (flush_t *flush, const char *id, const char *reason)
{
    log_error ("report refused by the agent (kept in refused/)", "report_id", id,
               "reason", reason);
    spool_refuse (flush->spool, id, reason);
    flush->result->refused++;
}

//  The link broke on report id's own request (a 502 from a proxy, a
//  connection closed under its body). Once is the link's fault; but a
//  report that breaks it UPLINK_BROKEN_STRIKES times while the link works
//  between those times (a WELCOME after the reconnect, other reports
//  acked) is what a proxy will not carry (a body over a limit lower than
//  the server's, said only by closing): it is refused rather than resent
//  for ever. A failure with no proof of a working link since the last one
//  does not count: then the link is down for everyone.
static void
s_strike (uplink_t *self, flush_t *flush, const char *id)
{
    if (!*id || !zhashx_lookup (flush->in_flight, id))
        return;
    strike_t *strike = (strike_t *) zhashx_lookup (self->strikes, id);
    if (!strike) {
        strike = (strike_t *) zmalloc (sizeof *strike);
        strike->strikes = 1;
        strike->proofs_at = self->proofs;
        zhashx_insert (self->strikes, id, strike);
        return;
    }
    if (self->proofs > strike->proofs_at)
        strike->strikes++;
    strike->proofs_at = self->proofs;
    if (strike->strikes >= UPLINK_BROKEN_STRIKES) {
        zhashx_delete (flush->in_flight, id);
        char reason [512];
        snprintf (reason, sizeof reason, "the link broke on this report %d times while it "
                  "worked for others (a proxy that will not carry it?): %s", strike->strikes,
                  self->last_error);
        zhashx_delete (self->strikes, id);
        s_refuse_here (flush, id, reason);
    }
}

//  Wait up to timeout_ms for answers and settle each.
static void
s_receive (uplink_t *self, flush_t *flush, int timeout_ms)
{
    link_answer_t answer;
    while (self->connected && !self->key_refused
       &&  self->config.link.ops->poll (self->config.link.self, timeout_ms, &answer) == 1) {
        timeout_ms = 0;
        switch (answer.kind) {
            case LINK_WELCOME:
                self->welcomed = true;
                self->backoff_ms = 0;
                strcpy (self->state, "connected");
                snprintf (self->tenant, sizeof self->tenant, "%s", answer.tenant);
                snprintf (self->agent, sizeof self->agent, "%s", answer.agent);
                self->max_report_bytes = answer.max_report_bytes;
                self->proofs++;
                log_info ("connected to ingest", "endpoint", self->config.endpoint,
                          "tenant", self->tenant, "agent", self->agent,
                          "max_report_bytes", LOG_NUM (self->max_report_bytes));
                break;
            case LINK_ACK:
                s_settle_ack (self, flush, &answer);
                break;
            case LINK_NACK:
                s_settle_nack (self, flush, &answer);
                break;
            case LINK_KEY_REFUSED:
                s_key_refused (self, answer.message);
                break;
            case LINK_BROKEN:
                snprintf (self->last_error, sizeof self->last_error, "%s", answer.message);
                s_strike (self, flush, answer.report_id);
                s_break (self, flush, answer.message);
                break;
            case LINK_COMMAND:
                s_command (self, flush, &answer);
                break;
            case LINK_COMMAND_ACK:
                if (self->commands)
                    s_settle_command_ack (self, flush, &answer);
                break;
        }
    }
}

//  Why the server would refuse report as too large, or NULL: a report
//  over the limit its WELCOME said is never sent. Over CURVE such a frame
//  is cut off by ZMQ_MAXMSGSIZE, over HTTPS a proxy may answer 502 rather
//  than 413: either way only a broken link would come back, for ever.
static const char *
s_too_large (uplink_t *self, const uint8_t *report, size_t size)
{
    if (!self->max_report_bytes)
        return NULL;
    if (size > self->max_report_bytes + AGENT_LINK_OVERHEAD_BYTES)
        return "report larger than the server's max_report_bytes (its WELCOME said so)";
    Drift__Report *decoded = drift__report__unpack (NULL, size, report);
    const char *error = NULL;
    Drift__NackCode code = decoded
        ? agent_link_check_report (decoded, self->max_report_bytes, &error) : 0;
    if (decoded)
        drift__report__free_unpacked (decoded, NULL);
    return code == DRIFT__NACK_CODE__NACK_TOO_LARGE ? error : NULL;
}

//  Whether an update of the command that key (@ID.SEQ) is an update of is
//  in flight.
static bool
s_command_in_flight (flush_t *flush, const char *key)
{
    const char *dot = strrchr (key, '.');
    size_t prefix = dot ? (size_t) (dot - key) + 1 : strlen (key);
    for (void *sent = zhashx_first (flush->in_flight); sent; sent = zhashx_next (flush->in_flight))
        if (strncmp ((const char *) zhashx_cursor (flush->in_flight), key, prefix) == 0)
            return true;
    return false;
}

//  The first queued item that may go now, or NULL: a report, or an update
//  whose command has none in flight. One update of a command at a time:
//  ingest takes seq N+1 only after N, so an update sent while the one
//  before it waits to be resent (RATE_LIMITED, UNAVAILABLE) would be
//  refused for good as out of order.
static void *
s_next_sendable (flush_t *flush)
{
    for (const char *id = (const char *) zlistx_first (flush->queue); id;
         id = (const char *) zlistx_next (flush->queue))
        if (*id != '@' || !s_command_in_flight (flush, id))
            return zlistx_cursor (flush->queue);
    return NULL;
}

//  Fill the window from the queue.
static void
s_send_queued (uplink_t *self, flush_t *flush)
{
    void *next;
    while (zhashx_size (flush->in_flight) < (size_t) self->config.window
       &&  clock_mono_ms () >= self->hold_until && (next = s_next_sendable (flush))) {
        char *id = (char *) zlistx_detach (flush->queue, next);
        size_t size;
        bool update = *id == '@';
        uint8_t *report = update
            ? spool_get (agent_commands_updates (self->commands), id + 1, &size)
            : spool_get (flush->spool, id, &size);
        //  Only reports have the server's size limit; updates are capped by their rules.
        const char *too_large = report && !update ? s_too_large (self, report, size) : NULL;
        if (too_large) {
            s_refuse_here (flush, id, too_large);
            free (report);
        }
        else
        if (report) {
            if (update ? self->config.link.ops->send_update (self->config.link.self, report, size)
                       : self->config.link.ops->send (self->config.link.self, id, report, size)) {
                free (report);
                zlistx_add_start (flush->queue, id);
                return;
            }
            zhashx_insert (flush->in_flight, id, (void *) (intptr_t) clock_mono_ms ());
            free (report);
        }
        free (id);
    }
}

//  Reports unanswered past the ack timeout: the link is broken.
static void
s_check_timeouts (uplink_t *self, flush_t *flush)
{
    int64_t now = clock_mono_ms ();
    bool expired = false;
    for (void *sent = zhashx_first (flush->in_flight); sent; sent = zhashx_next (flush->in_flight))
        if (now - (int64_t) (intptr_t) sent > self->config.ack_timeout_ms)
            expired = true;
    if (!self->welcomed && now > self->welcome_deadline)
        expired = true;
    if (expired)
        s_break (self, flush, self->welcomed ? "no answer from ingest within the ack timeout"
                                             : "ingest did not answer HELLO");
}

int
uplink_flush (uplink_t *self, spool_t *spool, const char *only, int timeout_ms,
              uplink_result_t *result)
{
    memset (result, 0, sizeof *result);
    flush_t flush = { .in_flight = zhashx_new (), .spool = spool, .result = result };
    if (only) {
        flush.queue = zlistx_new ();
        zlistx_set_destructor (flush.queue, (zlistx_destructor_fn *) zstr_free);
        zlistx_set_comparator (flush.queue, (zlistx_comparator_fn *) strcmp);
        zlistx_add_end (flush.queue, strdup (only));
    }
    else
        flush.queue = spool_list (spool);
    s_queue_updates (self, &flush);
    int64_t deadline = clock_mono_ms () + timeout_ms;
    while ((zlistx_size (flush.queue) || zhashx_size (flush.in_flight) || self->commands)
       &&  !self->key_refused && !shutdown_requested () && clock_mono_ms () < deadline) {
        if (!self->connected) {
            if (clock_mono_ms () < self->next_attempt) {
                int64_t pause = self->next_attempt - clock_mono_ms ();
                int64_t left = deadline - clock_mono_ms ();
                zclock_sleep ((int) (pause < left ? (pause < 100 ? pause : 100) : (left < 100 ? left : 100)));
                continue;
            }
            s_connect (self);
            continue;
        }
        if (self->welcomed)
            s_send_queued (self, &flush);
        s_receive (self, &flush, 50);
        if (self->connected && !self->key_refused)
            s_check_timeouts (self, &flush);
    }
    result->key_refused = self->key_refused;
    if (only) {
        size_t size;
        uint8_t *still = spool_get (spool, only, &size);
        result->waiting = still ? 1 : 0;
        free (still);
    }
    else
        result->waiting = spool_depth (spool);
    zhashx_destroy (&flush.in_flight);
    zlistx_destroy (&flush.queue);
    uplink_write_status (self, spool);
    return 0;
}

void
uplink_write_status (uplink_t *self, spool_t *spool)
{
    if (!self->config.status_path)
        return;
    json_t *status = json_pack ("{s:s, s:s, s:s, s:s, s:s, s:I, s:s, s:I, s:I, s:I}",
        "state", self->state,
        "endpoint", self->config.endpoint,
        "tenant", self->tenant,
        "agent", self->agent,
        "last_ack_report", self->last_ack,
        "last_ack_us", (json_int_t) self->last_ack_us,
        "last_error", self->last_error,
        "spool_depth", (json_int_t) spool_depth (spool),
        "refused", (json_int_t) spool_refused (spool),
        "updated_us", (json_int_t) clock_wall_us ());
    if (self->commands)
        json_object_set_new (status, "updates_refused", json_integer (
            (json_int_t) spool_refused (agent_commands_updates (self->commands))));
    char *temporary = zsys_sprintf ("%s.tmp", self->config.status_path);
    if (json_dump_file (status, temporary, JSON_INDENT (2)) == 0)
        rename (temporary, self->config.status_path);
    zstr_free (&temporary);
    json_decref (status);
}
