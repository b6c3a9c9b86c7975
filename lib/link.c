/*  link: connection, registration, heartbeats and reconnect to one broker.
    See link.h.
*/
#include "link.h"
#include "clock.h"
#include "log.h"
#include "metrics.h"
#include "secret.h"

//  The process's broker credentials (link_curve_set), read-only once set.
static zcert_t *s_curve_cert;            // our role keypair
static char s_curve_server [41];         // the broker's public key, Z85

int
link_curve_set (const char *cert_path, const char *server_path, char *error,
                size_t error_size)
{
    link_curve_clear ();
    char reason [512];
    zcert_t *cert = secret_cert_load (cert_path, reason, sizeof reason);
    if (!cert) {
        snprintf (error, error_size, "%s (drift keys init writes KEYS-DIR/roles/ROLE.key and "
                  "ROLE.key_secret)", reason);
        return -1;
    }
    //  Only the public half of the broker's file is wanted; zconfig reads
    //  the named file itself (zcert_load would prefer a FILE_secret).
    zconfig_t *server = zconfig_load (server_path);
    const char *key = server ? zconfig_get (server, "curve/public-key", NULL) : NULL;
    if (!key || strlen (key) != 40) {
        snprintf (error, error_size, "%s is not the broker's public certificate "
                  "(KEYS-DIR/broker.key)", server_path);
        zconfig_destroy (&server);
        secret_cert_destroy (&cert);
        return -1;
    }
    snprintf (s_curve_server, sizeof s_curve_server, "%s", key);
    zconfig_destroy (&server);
    s_curve_cert = cert;
    return 0;
}

void
link_curve_clear (void)
{
    secret_cert_destroy (&s_curve_cert);
    s_curve_server [0] = 0;
}

void
link_curve_apply (zsock_t *socket)
{
    if (!s_curve_cert)
        return;
    zcert_apply (s_curve_cert, socket);
    zsock_set_curve_serverkey (socket, s_curve_server);
}

static void
s_connect (link_t *self)
{
    self->socket = zsock_new (ZMQ_DEALER);
    assert (self->socket);
    self->handle = zsock_resolve (self->socket);
    //  A short linger lets a DONE or DISCONNECT already sent reach the broker
    //  when we close; it never holds the process up for long.
    zsock_set_linger (self->socket, 500);
    zsock_set_sndhwm (self->socket, 100000);
    zsock_set_rcvhwm (self->socket, 100000);
    link_curve_apply (self->socket);
    if (zsock_connect (self->socket, "%s", self->endpoint)) {
        log_error ("cannot connect to broker", "endpoint", self->endpoint,
                   "error", zmq_strerror (errno));
        zsock_destroy (&self->socket);
        self->handle = NULL;
        self->reconnect_at = clock_mono_ms () + self->backoff_ms;
        return;
    }
    self->generation++;
    self->heard = false;
    int64_t now = clock_mono_ms ();
    //  A fresh connection first has its CURVE handshake (and the broker's
    //  ZAP check) to make: on a busy host that can outlast short heartbeat
    //  settings, and a link that gave up on every new connection before it
    //  was up would never come up. So the first wait is at least the grace.
    int64_t patience = (int64_t) self->heartbeat_ms * self->liveness;
    self->expires_at = now + (patience > LINK_CONNECT_GRACE_MS ? patience : LINK_CONNECT_GRACE_MS);
    self->next_heartbeat = now + self->heartbeat_ms;
    drp_send (self->handle, NULL, &self->hello, NULL, ZMQ_DONTWAIT);
}

link_t *
link_new (const char *endpoint, const drp_header_t *hello, int heartbeat_ms, int liveness)
{
    link_t *self = (link_t *) zmalloc (sizeof *self);
    snprintf (self->endpoint, sizeof self->endpoint, "%s", endpoint);
    self->hello = *hello;
    self->heartbeat_ms = heartbeat_ms;
    self->liveness = liveness;
    self->backoff_ms = LINK_BACKOFF_MIN_MS;
    self->log_socket = zsock_new (ZMQ_DEALER);
    assert (self->log_socket);
    //  Log lines are worth little once stale: a small queue, and shed beyond.
    zsock_set_sndhwm (self->log_socket, 1000);
    zsock_set_linger (self->log_socket, 200);
    link_curve_apply (self->log_socket);
    zsock_connect (self->log_socket, "%s", endpoint);
    s_connect (self);
    return self;
}

void
link_destroy (link_t **self_p)
{
    if (*self_p) {
        link_t *self = *self_p;
        zsock_destroy (&self->socket);
        zsock_destroy (&self->log_socket);
        free (self);
        *self_p = NULL;
    }
}

int
link_new_all (const char *endpoints, const drp_header_t *hello, int heartbeat_ms,
              int liveness, link_t **links, int max)
{
    char *copy = strdup (endpoints);
    char *rest = copy;
    char *endpoint;
    int count = 0;
    while ((endpoint = strsep (&rest, ","))) {
        if (!*endpoint)
            continue;
        if (count == max) {
            count = -1;
            break;
        }
        links [count++] = link_new (endpoint, hello, heartbeat_ms, liveness);
    }
    free (copy);
    if (count <= 0)
        for (int i = 0; i < max && links [i]; i++)
            link_destroy (&links [i]);
    return count > 0 ? count : -1;
}

void
link_reset (link_t *self, const char *why)
{
    log_warn ("broker link lost, reconnecting", "endpoint", self->endpoint, "why", why,
              "retry_ms", LOG_NUM (self->backoff_ms));
    //  Rare, so finding the series each time costs nothing worth keeping.
    metric_inc (metrics_counter (metrics_default (), "drift_broker_reconnects_total",
                                 "Broker links lost and reconnected (any broker)", NULL));
    zsock_destroy (&self->socket);
    self->handle = NULL;
    self->heard = false;
    self->reconnect_at = clock_mono_ms () + self->backoff_ms;
    self->backoff_ms = self->backoff_ms * 2 > LINK_BACKOFF_MAX_MS
                     ? LINK_BACKOFF_MAX_MS : self->backoff_ms * 2;
}

void
link_heard (link_t *self)
{
    self->expires_at = clock_mono_ms () + (int64_t) self->heartbeat_ms * self->liveness;
    self->backoff_ms = LINK_BACKOFF_MIN_MS;
    self->heard = true;
}

bool
link_up (link_t *self)
{
    return self->socket && self->heard;
}

void
link_tick (link_t *self)
{
    int64_t now = clock_mono_ms ();
    if (!self->socket) {
        if (now >= self->reconnect_at)
            s_connect (self);
        return;
    }
    if (now >= self->expires_at) {
        link_reset (self, "broker silent");
        return;
    }
    if (now >= self->next_heartbeat) {
        drp_header_t header = { .command = DRP_HEARTBEAT };
        drp_send (self->handle, NULL, &header, NULL, ZMQ_DONTWAIT);
        self->next_heartbeat = now + self->heartbeat_ms;
    }
}

int64_t
link_next_timer (link_t *self)
{
    int64_t now = clock_mono_ms ();
    int64_t at = self->socket
               ? (self->next_heartbeat < self->expires_at ? self->next_heartbeat
                                                          : self->expires_at)
               : self->reconnect_at;
    return at > now ? at - now : 0;
}

int
link_send_log (link_t *self, log_level_t level, uint64_t shed, const char *line)
{
    drp_header_t header = { .command = DRP_LOG, .status = (uint8_t) level, .shed = shed };
    snprintf (header.name, sizeof header.name, "%s", log_role ());
    snprintf (header.instance, sizeof header.instance, "%s", log_instance ());
    return drp_send_bytes (zsock_resolve (self->log_socket), NULL, &header, line,
                           strlen (line), ZMQ_DONTWAIT);
}

void
link_log_publish (void *arg, log_level_t level, const char *line)
{
    link_log_t *log = (link_log_t *) arg;
    bool shed = false;
    for (int i = 0; i < log->count; i++)
        if (link_send_log (log->links [i], level, log->shed, line))
            shed = true;
    if (shed)
        log->shed++;
}
