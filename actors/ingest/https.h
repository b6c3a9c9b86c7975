/*  https: ingest's HTTPS face, for agents that can only speak HTTPS (issue
    18, proto/AGENT-LINK.md "HTTPS binding").

    Caddy terminates TLS and verifies the agent's client certificate against
    the install's local CA; this face, on the internal network only, takes
    one Report per POST and hands it to ingest's loop, which treats it
    exactly as a report that came over CURVE (registry, rate limit, journal,
    ACK only after the commit). The command channel is polled the same way:
    GET /v1/commands (the next command, or 204) and POST
    /v1/command-updates (one CommandUpdate, answered COMMAND_ACK). See
    actors/ingest/https.c for how.
*/
#ifndef HTTPS_H_INCLUDED
#define HTTPS_H_INCLUDED

#include <czmq.h>
#include <stdint.h>

//  The path agents POST reports to.
#define HTTPS_REPORTS_PATH "/v1/reports"
//  The path agents GET their WELCOME from, as a CURVE agent's HELLO does.
#define HTTPS_HELLO_PATH "/v1/hello"
//  The path agents GET their next command from (proto/AGENT-LINK.md §7).
#define HTTPS_COMMANDS_PATH "/v1/commands"
//  The path agents POST command updates to.
#define HTTPS_UPDATES_PATH "/v1/command-updates"
//  The headers Caddy sets (and overwrites: a client's own are never seen).
#define HTTPS_PROXY_HEADER "X-Drift-Proxy-Secret"
#define HTTPS_SERIAL_HEADER "X-Drift-Client-Serial"

typedef struct {
    const char *bind;            // HOST:PORT or SUBNET/BITS:PORT (an internal address)
    const char *proxy_secret_file; // the secret Caddy sends in HTTPS_PROXY_HEADER
    const char *database;        // for the certificate serial → agent key look-up
    const char *ingest;          // the inproc endpoint of ingest's loop (PAIR)
    uint64_t max_body_bytes;     // largest request body read
    int timeout_s;               // idle connection timeout (slow clients)
    int connections;             // most connections at once
    int answer_timeout_ms;       // a request ingest did not answer by then gets 503
} https_config_t;

//  The face as a CZMQ actor, args an https_config_t (read only while it
//  starts). zactor_new returns once it listens or failed: a failed start
//  sends -1 with zsock_signal, then the actor ends (check
//  https_face_started). The pipe answers "STATS" with the face's counters
//  as JSON text.
void https_face_actor (zsock_t *pipe, void *args);

//  Start the face; NULL (logged) if it could not listen or read its secret.
zactor_t *https_face_new (const https_config_t *config);

#endif
