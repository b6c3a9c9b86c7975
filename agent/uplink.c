/*  uplink: send, settle, reconnect with backoff; see uplink.h. */
#include "uplink.h"
#include "../lib/agent_link.h"
#include "../lib/clock.h"
#include "../lib/log.h"
#include "../lib/shutdown.h"

#include <jansson.h>
#include <sodium.h>

#define UPLINK_BACKOFF_FIRST_MS 500

struct _uplink_t {
    uplink_config_t config;      // settings (strings not owned)
    zsock_t *dealer;             // the link, NULL while disconnected
    zactor_t *monitor;           // handshake events of dealer
    bool welcomed;               // WELCOME received on this connection
    int64_t welcome_deadline;    // when waiting for WELCOME gives up
    int64_t next_attempt;        // no connection attempt before this
    int backoff_ms;              // the current backoff
    int64_t hold_until;          // no report sent before this (RATE_LIMITED, UNAVAILABLE)
    bool key_refused;            // the server refused our key
    char state [16];             // connected, disconnected, refused
    char tenant [64];            // from WELCOME
    char agent [64];             // from WELCOME
    char last_ack [80];          // report id of the last ACK
    int64_t last_ack_us;         // when it came
    char last_error [256];       // the last thing that went wrong
};

uplink_t *
uplink_new (const uplink_config_t *config)
{
    if (!config->endpoint || !config->server_key || strlen (config->server_key) != 40
    ||  !config->cert || config->ack_timeout_ms < 1 || config->window < 1)
        return NULL;
    uplink_t *self = (uplink_t *) zmalloc (sizeof *self);
    self->config = *config;
    if (self->config.backoff_max_ms < UPLINK_BACKOFF_FIRST_MS)
        self->config.backoff_max_ms = 30000;
    strcpy (self->state, "disconnected");
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
    zactor_destroy (&self->monitor);
    zsock_destroy (&self->dealer);
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
        zactor_destroy (&(*self_p)->monitor);
        zsock_destroy (&(*self_p)->dealer);
        free (*self_p);
        *self_p = NULL;
    }
}

static void
s_send_message (uplink_t *self, const Drift__AgentMessage *message)
{
    size_t size;
    uint8_t *bytes = agent_link_encode (message, &size);
    zmq_send (zsock_resolve (self->dealer), bytes, size, ZMQ_DONTWAIT);
    free (bytes);
}

static void
s_connect (uplink_t *self)
{
    self->dealer = zsock_new (ZMQ_DEALER);
    zcert_apply (self->config.cert, self->dealer);
    zsock_set_curve_serverkey (self->dealer, self->config.server_key);
    zsock_set_linger (self->dealer, 0);
    zsock_set_maxmsgsize (self->dealer, 1024 * 1024);
    self->monitor = zactor_new (zmonitor, self->dealer);
    zstr_sendx (self->monitor, "LISTEN", "HANDSHAKE_FAILED_AUTH", "HANDSHAKE_SUCCEEDED", NULL);
    zstr_send (self->monitor, "START");
    zsock_wait (self->monitor);
    if (zsock_connect (self->dealer, "%s", self->config.endpoint) == -1) {
        s_disconnect (self, "endpoint is not usable");
        return;
    }
    Drift__Hello hello = DRIFT__HELLO__INIT;
    hello.protocol = AGENT_LINK_PROTOCOL;
    hello.agent_version = (char *) DRIFT_VERSION;
    Drift__AgentMessage message = DRIFT__AGENT_MESSAGE__INIT;
    message.kind_case = DRIFT__AGENT_MESSAGE__KIND_HELLO;
    message.hello = &hello;
    s_send_message (self, &message);
    self->welcome_deadline = clock_mono_ms () + self->config.ack_timeout_ms;
}

//  A report as an AgentMessage frame: field 3, length-delimited, then the
//  spooled Report bytes as they are.
static int
s_send_report (uplink_t *self, const uint8_t *report, size_t size)
{
    uint8_t head [11];
    size_t length = 0;
    head [length++] = (3 << 3) | 2;
    uint64_t value = size;
    do {
        head [length++] = (uint8_t) ((value & 0x7f) | (value > 0x7f ? 0x80 : 0));
        value >>= 7;
    } while (value);
    zmq_msg_t frame;
    zmq_msg_init_size (&frame, length + size);
    memcpy (zmq_msg_data (&frame), head, length);
    memcpy ((uint8_t *) zmq_msg_data (&frame) + length, report, size);
    if (zmq_msg_send (&frame, zsock_resolve (self->dealer), ZMQ_DONTWAIT) == -1) {
        zmq_msg_close (&frame);
        return -1;
    }
    return 0;
}

static void
s_monitor_event (uplink_t *self)
{
    zmsg_t *event = zmsg_recv (self->monitor);
    char *name = event ? zmsg_popstr (event) : NULL;
    char *value = event ? zmsg_popstr (event) : NULL;
    if (name && streq (name, "HANDSHAKE_FAILED_AUTH")) {
        //  ZAP status 300 is "try later" (the registry was unavailable).
        if (value && streq (value, "300"))
            s_disconnect (self, "ingest could not check this agent's key yet");
        else {
            self->key_refused = true;
            strcpy (self->state, "refused");
            snprintf (self->last_error, sizeof self->last_error,
                      "ingest refused this agent's key (unknown or revoked)");
            log_error ("ingest refused this agent's key (unknown or revoked): "
                       "ask the operator for a new certificate");
        }
    }
    zstr_free (&name);
    zstr_free (&value);
    zmsg_destroy (&event);
}

//  Per flush: reports in flight and the queue still to send.
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
s_settle_ack (uplink_t *self, flush_t *flush, const Drift__Ack *ack)
{
    if (!agent_link_valid_report_id (ack->report_id))
        return;
    zhashx_delete (flush->in_flight, ack->report_id);
    void *queued = zlistx_find (flush->queue, (void *) ack->report_id);
    if (queued)
        zlistx_delete (flush->queue, queued);
    if (spool_remove (flush->spool, ack->report_id) == 0)
        flush->result->sent++;
    snprintf (self->last_ack, sizeof self->last_ack, "%s", ack->report_id);
    self->last_ack_us = clock_wall_us ();
}

static void
s_settle_nack (uplink_t *self, flush_t *flush, const Drift__Nack *nack)
{
    const char *id = nack->report_id;
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
            self->key_refused = true;
            strcpy (self->state, "refused");
            log_error ("ingest says this agent's key is revoked: stopping",
                       "message", nack->message);
            break;
        default:
            if (ours) {
                zhashx_delete (flush->in_flight, id);
                log_error ("report refused by ingest (kept in refused/)", "report_id", id,
                           "reason", nack->message);
                spool_refuse (flush->spool, id, nack->message);
                flush->result->refused++;
            }
            else
                log_error ("ingest refused a message", "reason", nack->message);
    }
}

static void
s_receive (uplink_t *self, flush_t *flush)
{
    while (self->dealer) {
        zmq_msg_t frame;
        zmq_msg_init (&frame);
        if (zmq_msg_recv (&frame, zsock_resolve (self->dealer), ZMQ_DONTWAIT) == -1) {
            zmq_msg_close (&frame);
            return;
        }
        const char *error;
        Drift__AgentMessage *message = agent_link_decode (
            (const uint8_t *) zmq_msg_data (&frame), zmq_msg_size (&frame), &error);
        zmq_msg_close (&frame);
        if (!message) {
            log_warn ("unreadable message from ingest", "reason", error);
            continue;
        }
        switch (message->kind_case) {
            case DRIFT__AGENT_MESSAGE__KIND_WELCOME:
                self->welcomed = true;
                self->backoff_ms = 0;
                strcpy (self->state, "connected");
                snprintf (self->tenant, sizeof self->tenant, "%s", message->welcome->tenant);
                snprintf (self->agent, sizeof self->agent, "%s", message->welcome->agent);
                log_info ("connected to ingest", "endpoint", self->config.endpoint,
                          "tenant", self->tenant, "agent", self->agent);
                break;
            case DRIFT__AGENT_MESSAGE__KIND_ACK:
                s_settle_ack (self, flush, message->ack);
                break;
            case DRIFT__AGENT_MESSAGE__KIND_NACK:
                s_settle_nack (self, flush, message->nack);
                break;
            default:
                break;
        }
        agent_link_free (message);
    }
}

//  Fill the window from the queue.
static void
s_send_queued (uplink_t *self, flush_t *flush)
{
    while (zhashx_size (flush->in_flight) < (size_t) self->config.window
       &&  zlistx_size (flush->queue) && clock_mono_ms () >= self->hold_until) {
        char *id = (char *) zlistx_detach (flush->queue, NULL);
        size_t size;
        uint8_t *report = spool_get (flush->spool, id, &size);
        if (report) {
            if (s_send_report (self, report, size)) {
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
    if (!expired)
        return;
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
    s_disconnect (self, self->welcomed ? "no answer from ingest within the ack timeout"
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
    int64_t deadline = clock_mono_ms () + timeout_ms;
    while ((zlistx_size (flush.queue) || zhashx_size (flush.in_flight))
       &&  !self->key_refused && !shutdown_requested () && clock_mono_ms () < deadline) {
        if (!self->dealer) {
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
        zmq_pollitem_t items [] = {
            { zsock_resolve (self->dealer), 0, ZMQ_POLLIN, 0 },
            { zsock_resolve (self->monitor), 0, ZMQ_POLLIN, 0 }
        };
        zmq_poll (items, 2, 50);
        if (items [1].revents & ZMQ_POLLIN)
            s_monitor_event (self);
        if (items [0].revents & ZMQ_POLLIN)
            s_receive (self, &flush);
        if (self->dealer && !self->key_refused)
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
    char *temporary = zsys_sprintf ("%s.tmp", self->config.status_path);
    if (json_dump_file (status, temporary, JSON_INDENT (2)) == 0)
        rename (temporary, self->config.status_path);
    zstr_free (&temporary);
    json_decref (status);
}
