/*  registry: which tenant and agent own a CURVE public key, and whether it
    is revoked.

    The ingest server authenticates agents by their CURVE public key and
    asks here for every connection, so the answer must be fast, must not
    depend on Redis being up, and must see a revocation soon. PostgreSQL
    (tables tenants, agents) is the truth. Answers are cached in Redis,
    shared by every ingest process (positive for 300 s, "unknown key" for
    10 s), and removed from it by registry_invalidate whenever `drift keys`
    changes a key, so a revocation is seen by the next lookup that reaches
    Redis. Each process also keeps an answer for local_ttl_ms, so a flood of
    connections from one agent costs no round trip; that is the delay after
    which a revocation takes effect.

    When Redis is unreachable, lookups go straight to PostgreSQL; when
    neither can answer, a lookup says so (-1) and callers refuse the agent:
    the registry fails closed, never open. The key is untrusted input: it is
    checked (40 characters of the Z85 alphabet) before it reaches Redis or
    SQL, and SQL takes it only as a parameter.

    A registry_t belongs to one thread (its connections and its local cache
    are not shared).
*/
#ifndef REGISTRY_H_INCLUDED
#define REGISTRY_H_INCLUDED

#include "kv.h"

#include <stdbool.h>
#include <stdint.h>

typedef struct {
    char tenant_id [37];     // tenants.id (uuid text)
    char tenant [64];        // tenants.name
    char agent_id [37];      // agents.id
    char agent [64];         // agents.name
    bool revoked;            // revoked_at is set
} registry_entry_t;

typedef struct _registry_t registry_t;

//  A registry reading database_url and caching in redis_url. local_ttl_ms:
//  how long an answer is reused in process before asking Redis again
//  (ingest uses ~1000: a revocation is seen within about that; 0: never
//  reused). Connects
//  lazily: neither server needs to be up yet. NULL if redis_url is unusable.
registry_t *registry_new (const char *database_url, const char *redis_url, int local_ttl_ms);
void registry_destroy (registry_t **self_p);

//  1: key known (entry filled; the caller checks revoked), 0: unknown or
//  malformed key, -1: neither Redis nor PostgreSQL could answer (callers
//  fail closed).
int registry_lookup (registry_t *self, const char *public_key_z85, registry_entry_t *entry);

//  After a change in PostgreSQL: remove key's cached answer from Redis, so
//  the next lookup that misses its local cache reads PostgreSQL (callers:
//  drift keys issue/revoke). Also stops a lookup that read PostgreSQL
//  before the change from caching its stale answer. Returns 0 or -1.
int registry_invalidate (kv_t *kv, const char *public_key_z85);

//  True if text is a CURVE public key in Z85: 40 characters of the Z85
//  alphabet.
bool registry_key_valid (const char *text);

//  True if text can name a tenant or an agent: 1 to 63 of a-z, 0-9 and '-',
//  not starting with '-' (the schema checks the same).
bool registry_name_valid (const char *text);

//  Counters for operators/tests.
typedef struct {
    uint64_t local_hits;     // answered from the in-process cache
    uint64_t redis_hits;     // answered from Redis
    uint64_t database_hits;  // answered from PostgreSQL (Redis missed or was down)
    uint64_t failures;       // lookups that returned -1
    uint64_t malformed;      // keys refused before any look-up
} registry_stats_t;

void registry_stats (registry_t *self, registry_stats_t *stats);

#endif
