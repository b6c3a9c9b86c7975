/*  broker: routes envelopes between the pipeline's stages.

    Runs as a CZMQ actor owning one ROUTER socket. Workers announce a stage and
    grant credit; the broker hands each stage's queued work to the least
    recently used worker that still has credit, and only while the next stage
    has room, so a slow stage pauses the ones before it instead of growing
    memory. Producers (ingest, the replayer, tests) feed a stage with credit
    the broker grants. Workers and producers that miss heartbeats are expired;
    a worker's in-flight work goes back to the head of its stage's queue.
    Log lines from every peer are fanned out to `drift tail` subscribers.
    proto/PIPELINE.md is the protocol.

    Security: with curve_cert set the endpoint is a CURVE server in ZAP
    domain "drift-broker" (enforced, so with no ZAP handler in the process
    nobody gets in); the process's ZAP handler (lib/zap) lets in the keys
    listed in role_keys, and the broker itself checks, per message, what
    the sending key's roles allow (lib/rolekeys): a stage's role may work
    that stage only, ingest and replayer may only produce into the first
    stage, operator may only ask for STATS and logs. A key removed from the
    list loses its registrations within a second. Without curve_cert the
    broker is plaintext and binds only loopback and local endpoints unless
    insecure is set.

    Pipe commands: "BIND" endpoint -> port (int, -1 on failure);
                   "STATS" -> JSON string; "$TERM" -> drain, then stop.
*/
#ifndef BROKER_H_INCLUDED
#define BROKER_H_INCLUDED

#include <czmq.h>

typedef struct {
    const char *pipeline;   // stage names in order, comma separated
    int capacity;           // most envelopes queued per stage
    int heartbeat_ms;       // heartbeat interval, both ways
    int liveness;           // heartbeats missed before a peer is expired
    int producer_window;    // most credit outstanding at one producer
    int max_body;           // largest envelope accepted, bytes
    int drain_ms;           // on $TERM, longest wait for queued work to finish
    const char *curve_cert; // the broker's keypair (zcert file); NULL or "": plaintext
    const char *role_keys;  // directory of allowed role keys (with curve_cert)
    bool insecure;          // plaintext on any address, not loopback only
} broker_config_t;

#define BROKER_DEFAULT_PIPELINE "normalize,score,archive,notify"

//  zactor_new (broker_actor, &config); config is copied before the actor
//  signals that it is ready.
void broker_actor (zsock_t *pipe, void *args);

//  0 if pipeline names distinct, non-empty stages (at most 16), else -1.
int broker_check_pipeline (const char *pipeline);

//  Bind the broker to endpoint; returns the port, or -1.
int broker_bind (zactor_t *broker, const char *endpoint);

//  Stats as a JSON string owned by the caller (see proto/PIPELINE.md).
char *broker_stats (zactor_t *broker);

#endif
