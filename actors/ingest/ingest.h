/*  ingest: where agents' reports enter the system.

    Ingest is not a broker stage but a producer: it serves agents on a CURVE
    endpoint and, behind Caddy, an HTTPS face (proto/AGENT-LINK.md), journals each accepted report and acks
    the agent only after that commit, then feeds the report to the first
    stage through the brokers. See actors/ingest/ingest.c for how.
*/
#ifndef INGEST_H_INCLUDED
#define INGEST_H_INCLUDED

#include <stddef.h>
#include <stdint.h>

typedef struct {
    const char *endpoint;        // where agents connect (CURVE), e.g. tcp://*:5560
    const char *keys_dir;        // the server's keypair (drift keys init)
    const char *database;        // journal and key registry
    const char *redis;           // registry cache and rate limits
    const char *brokers;         // broker endpoints, comma separated
    const char *stage;           // the first stage after ingest
    const char *stats_endpoint;  // ROUTER answering REQ clients' STATS with JSON ("" for none)
    int deadline_s;              // completion deadline: the journal entry's delay
    int group_ms;                // longest a report waits for its group's send
    int group_max;               // most reports in one journal send
    size_t group_max_bytes;      // a group is sent once its reports reach this size
    uint64_t max_report_bytes;   // largest report accepted, uncompressed
    double rate;                 // messages per second per agent, sustained
    int burst;                   // messages per agent at once
    int registry_cache_ms;       // how long a key's registry answer is reused
    int heartbeat_ms;            // broker heartbeats
    int liveness;                // broker liveness
    //  The HTTPS face behind Caddy (actors/ingest/https.h): "" for none.
    const char *https_bind;      // HOST:PORT on the internal network
    const char *https_proxy_secret_file; // the secret Caddy sends to prove it is Caddy
    int https_timeout_s;         // idle connection timeout
    int https_connections;       // most connections at once
} ingest_config_t;

//  Serve agents until shutdown_requested (): then stop reading, finish the
//  journal sends in flight (acking them) and return. 0, or -1 if it could
//  not start (keys, endpoint, libzmq without ZAP domain enforcement).
int ingest_run (const ingest_config_t *config);

#endif
