/*  zap: the ZAP handler (ZeroMQ RFC 27) that lets agents in, and the CURVE
    server set-up that makes ZeroMQ ask it.

    Agents authenticate with CURVE keys issued by `drift keys`; the registry
    of those keys (tenant, agent, revocation) lives in PostgreSQL and is
    cached in Redis (lib/registry). CZMQ's zauth can only read certificates
    from a directory (Debian's CZMQ 4.2.1 lacks the DRAFT certstore loader),
    so this is our own handler on inproc://zeromq.zap.01: a CURVE client is
    let in only when the registry knows its key and the key is not revoked.
    Everything else (NULL, PLAIN, another ZAP domain, an unknown or revoked
    key, a registry that cannot answer) is refused.

    The same handler serves the broker (domain ZAP_BROKER_DOMAIN) when it
    is given a directory of allowed role keys (lib/rolekeys): a CURVE
    client is let in only when its key is listed there. libzmq has one ZAP
    endpoint per process, so one handler answers for both domains.

    Fail closed: zap_secure_server sets a ZAP domain with
    ZMQ_ZAP_ENFORCE_DOMAIN, so with no handler running libzmq refuses every
    client instead of accepting any key (libzmq 4.3.4's default).
*/
#ifndef ZAP_H_INCLUDED
#define ZAP_H_INCLUDED

#include <czmq.h>

//  ZAP domain of the agent endpoint.
#define ZAP_AGENT_DOMAIN "drift-agents"
//  ZAP domain of the broker's endpoint.
#define ZAP_BROKER_DOMAIN "drift-broker"

typedef struct {
    const char *database;    // PostgreSQL URL of the agent key registry
    const char *redis;       // Redis URL of its cache
    const char *domain;      // the agents' ZAP domain (NULL: no agents served)
    int cache_ms;            // how long an answer is reused in process
    const char *role_keys;   // directory of allowed broker role keys (NULL: no broker)
} zap_config_t;

//  The handler, as a CZMQ actor: zactor_new (zap_actor, &config). Only one
//  per process (it binds the well-known ZAP endpoint). Pipe commands:
//  "STATS" → one frame of JSON counters (allowed, refused_mechanism,
//  refused_domain, refused_unknown, refused_revoked, refused_unavailable,
//  malformed, logs_suppressed; broker_allowed, broker_refused for the
//  broker's domain); "$TERM" ends it. Refusals are logged at most 10 a
//  second, then one line says how many were not (every one is counted).
void zap_actor (zsock_t *pipe, void *args);

//  Make sock a CURVE server with server_cert's keys that asks the ZAP
//  handler (domain, enforced) about every client. -1 (logged) if libzmq
//  cannot enforce the domain: then the socket must not be used.
int zap_secure_server (zsock_t *sock, zcert_t *server_cert, const char *domain);

#endif
