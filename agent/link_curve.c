/*  link_curve: the CURVE transport; see link_curve.h. */
#include "link_curve.h"
#include "../lib/agent_link.h"
#include "../lib/log.h"

typedef struct {
    char *endpoint;              // ingest's agent endpoint
    char *server_key;            // ingest's public key, Z85
    zcert_t *cert;               // this agent's keypair (not owned)
    zsock_t *dealer;             // the link, NULL while disconnected
    zactor_t *monitor;           // handshake events of dealer
} curve_t;

static void
s_disconnect (void *self_)
{
    curve_t *self = (curve_t *) self_;
    zactor_destroy (&self->monitor);
    zsock_destroy (&self->dealer);
}

static void
s_destroy (void *self_)
{
    curve_t *self = (curve_t *) self_;
    s_disconnect (self);
    free (self->endpoint);
    free (self->server_key);
    free (self);
}

static int
s_connect (void *self_, char *error, size_t error_size)
{
    curve_t *self = (curve_t *) self_;
    self->dealer = zsock_new (ZMQ_DEALER);
    zcert_apply (self->cert, self->dealer);
    zsock_set_curve_serverkey (self->dealer, self->server_key);
    zsock_set_linger (self->dealer, 0);
    zsock_set_maxmsgsize (self->dealer, 1024 * 1024);
    self->monitor = zactor_new (zmonitor, self->dealer);
    //  DISCONNECTED too: libzmq reconnects by itself, but a restarted ingest
    //  knows this agent only after a new HELLO (it sends commands to the
    //  agents it welcomed), so a lost connection is a broken link here.
    zstr_sendx (self->monitor, "LISTEN", "HANDSHAKE_FAILED_AUTH", "HANDSHAKE_SUCCEEDED",
                "DISCONNECTED", NULL);
    zstr_send (self->monitor, "START");
    zsock_wait (self->monitor);
    if (zsock_connect (self->dealer, "%s", self->endpoint) == -1) {
        snprintf (error, error_size, "endpoint is not usable");
        s_disconnect (self);
        return -1;
    }
    Drift__Hello hello = DRIFT__HELLO__INIT;
    hello.protocol = AGENT_LINK_PROTOCOL;
    hello.agent_version = (char *) DRIFT_VERSION;
    Drift__AgentMessage message = DRIFT__AGENT_MESSAGE__INIT;
    message.kind_case = DRIFT__AGENT_MESSAGE__KIND_HELLO;
    message.hello = &hello;
    size_t size;
    uint8_t *bytes = agent_link_encode (&message, &size);
    zmq_send (zsock_resolve (self->dealer), bytes, size, ZMQ_DONTWAIT);
    free (bytes);
    return 0;
}

//  A spooled message as a field of an AgentMessage frame: the field's key
//  (length-delimited), its length, then the bytes as they are.
static int
s_send_field (void *self_, uint8_t field, const uint8_t *report, size_t size)
{
    curve_t *self = (curve_t *) self_;
    uint8_t head [11];
    size_t length = 0;
    head [length++] = (uint8_t) ((field << 3) | 2);
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

//  A report: field 3, the spooled Report bytes.
static int
s_send (void *self_, const char *id, const uint8_t *report, size_t size)
{
    (void) id;
    return s_send_field (self_, 3, report, size);
}

//  A command update as an AgentMessage frame: field 9, as a report is 3.
static int
s_send_update (void *self_, const uint8_t *update, size_t size)
{
    return s_send_field (self_, 9, update, size);
}

//  A handshake event: 1 with answer filled when it says something.
static int
s_monitor_event (curve_t *self, link_answer_t *answer)
{
    zmsg_t *event = zmsg_recv (self->monitor);
    char *name = event ? zmsg_popstr (event) : NULL;
    char *value = event ? zmsg_popstr (event) : NULL;
    int rc = 0;
    if (name && streq (name, "HANDSHAKE_FAILED_AUTH")) {
        //  ZAP status 300 is "try later" (the registry was unavailable).
        if (value && streq (value, "300")) {
            answer->kind = LINK_BROKEN;
            snprintf (answer->message, sizeof answer->message,
                      "ingest could not check this agent's key yet");
        }
        else {
            answer->kind = LINK_KEY_REFUSED;
            snprintf (answer->message, sizeof answer->message,
                      "ingest refused this agent's key (unknown or revoked)");
        }
        rc = 1;
    }
    else
    if (name && streq (name, "DISCONNECTED")) {
        answer->kind = LINK_BROKEN;
        snprintf (answer->message, sizeof answer->message, "ingest closed the connection");
        rc = 1;
    }
    zstr_free (&name);
    zstr_free (&value);
    zmsg_destroy (&event);
    return rc;
}

//  The next message from ingest: 1 with answer filled, 0 when none waits.
static int
s_receive (curve_t *self, link_answer_t *answer)
{
    while (true) {
        zmq_msg_t frame;
        zmq_msg_init (&frame);
        if (zmq_msg_recv (&frame, zsock_resolve (self->dealer), ZMQ_DONTWAIT) == -1) {
            zmq_msg_close (&frame);
            return 0;
        }
        const char *error;
        Drift__AgentMessage *message = agent_link_decode (
            (const uint8_t *) zmq_msg_data (&frame), zmq_msg_size (&frame), &error);
        zmq_msg_close (&frame);
        if (!message) {
            log_warn ("unreadable message from ingest", "reason", error);
            continue;
        }
        int rc = link_answer_from_message (message, answer);
        agent_link_free (message);
        if (rc)
            return 1;
    }
}

static int
s_poll (void *self_, int timeout_ms, link_answer_t *answer)
{
    curve_t *self = (curve_t *) self_;
    if (!self->dealer)
        return 0;
    memset (answer, 0, sizeof *answer);
    zmq_pollitem_t items [] = {
        { zsock_resolve (self->dealer), 0, ZMQ_POLLIN, 0 },
        { zsock_resolve (self->monitor), 0, ZMQ_POLLIN, 0 }
    };
    if (zmq_poll (items, 2, timeout_ms) <= 0)
        return 0;
    if ((items [1].revents & ZMQ_POLLIN) && s_monitor_event (self, answer))
        return 1;
    if (items [0].revents & ZMQ_POLLIN)
        return s_receive (self, answer);
    return 0;
}

static const link_ops_t s_ops = {
    s_connect, s_send, s_poll, s_disconnect, s_destroy, s_send_update
};

int
link_curve_new (link_t *link, const char *endpoint, const char *server_key, zcert_t *cert)
{
    if (!endpoint || !server_key || strlen (server_key) != 40 || !cert)
        return -1;
    curve_t *self = (curve_t *) zmalloc (sizeof *self);
    self->endpoint = strdup (endpoint);
    self->server_key = strdup (server_key);
    self->cert = cert;
    link->ops = &s_ops;
    link->self = self;
    return 0;
}
