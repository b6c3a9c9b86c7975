/*  link: one peer's connection to one broker, kept alive Paranoid-Pirate
    style.

    A link owns a DEALER socket for the protocol and a second DEALER for log
    lines (the log channel: apart from data, small queue, lines shed rather
    than ever blocking). On connect it sends its registration (READY, OPEN or
    SUBSCRIBE). It sends HEARTBEAT every interval and counts the broker dead
    after `liveness` silent intervals; then, or on DISCONNECT, it throws the
    socket away and reconnects on a fresh one after a backoff that doubles up
    to a cap, so nothing queued for a dead broker is ever delivered late.

    CURVE: a process that talks to brokers sets its credentials once, before
    any link is made (link_curve_set: its own role keypair and the broker's
    public key, from --broker-cert and --broker-key); every socket a link
    makes, both channels, is then a CURVE client. The broker decides what
    the key may do (lib/rolekeys). Without credentials links are plaintext,
    which a broker with CURVE refuses.
*/
#ifndef LINK_H_INCLUDED
#define LINK_H_INCLUDED

#include "drp.h"
#include "log.h"

#include <czmq.h>

typedef struct {
    char endpoint [256];         // broker endpoint
    zsock_t *socket;             // protocol socket, NULL while down
    void *handle;                // its raw libzmq socket
    zsock_t *log_socket;         // log channel to the same broker
    drp_header_t hello;          // registration sent on every (re)connect
    int heartbeat_ms;            // interval, both ways
    int liveness;                // intervals of silence before reconnecting
    int64_t expires_at;          // monotonic ms: broker is dead after this
    int64_t next_heartbeat;      // monotonic ms of our next HEARTBEAT
    int64_t reconnect_at;        // monotonic ms of the next attempt, while down
    int backoff_ms;              // current reconnect delay
    int generation;              // bumped on every reconnect
    bool heard;                  // the broker has spoken on this socket
} link_t;

//  This process's CURVE credentials for every broker socket made from now
//  on: the keypair in cert_path (zcert, secret file) and the broker's public
//  key from server_path (a zcert public file). Set once, before threads
//  that make links start. 0, or -1 with the reason in error.
int link_curve_set (const char *cert_path, const char *server_path, char *error,
                    size_t error_size);

//  Forget the credentials (secret wiped): later sockets are plaintext.
void link_curve_clear (void);

//  Make socket a CURVE client with the credentials, before it connects; a
//  no-op without them. For one-shot broker clients (drift status).
void link_curve_apply (zsock_t *socket);

//  Least time a new connection is given before the broker counts as silent.
#define LINK_CONNECT_GRACE_MS 2000

#define LINK_BACKOFF_MIN_MS 250
#define LINK_BACKOFF_MAX_MS 8000

link_t *link_new (const char *endpoint, const drp_header_t *hello, int heartbeat_ms,
                  int liveness);
void link_destroy (link_t **self_p);

//  Split "tcp://a:1,tcp://b:2" into links (at most max); returns how many,
//  or -1 if the list is empty or too long.
int link_new_all (const char *endpoints, const drp_header_t *hello, int heartbeat_ms,
                  int liveness, link_t **links, int max);

//  Drop the socket and schedule a reconnect after the backoff.
void link_reset (link_t *self, const char *why);

//  The broker said something: it is alive, and the backoff starts over.
void link_heard (link_t *self);

//  Connected, and the broker has answered on this socket: what readiness
//  calls connected to the broker (lib/health).
bool link_up (link_t *self);

//  Heartbeat, expiry and reconnect; call whenever the loop wakes.
void link_tick (link_t *self);

//  Milliseconds until link_tick has something to do.
int64_t link_next_timer (link_t *self);

//  Send one log line on the log channel; returns -1 (and the line is shed)
//  when its queue is full or the link is down.
int link_send_log (link_t *self, log_level_t level, uint64_t shed, const char *line);

//  The log publisher for a set of links: every line goes to every broker.
typedef struct {
    link_t **links;              // links to publish on
    int count;                   // how many
    uint64_t shed;               // lines not sent to at least one broker
} link_log_t;

void link_log_publish (void *arg, log_level_t level, const char *line);

#endif
