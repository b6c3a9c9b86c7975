/*  registry: key look-ups through three tiers; see registry.h.

    A lookup asks, in order, the local cache, Redis, PostgreSQL, and writes
    what PostgreSQL said back to both caches. Redis holds one hash per key,
    drift:agent:<z85>, with the fields known (0/1), and when known tenant_id,
    tenant, agent_id, agent, revoked (0/1).

    Invalidation has a race to close: a lookup reads PostgreSQL just before
    `drift keys revoke` commits, the revoke deletes the Redis entry, and
    then the lookup writes its stale "not revoked" answer back for 300 s.
    So every key has a generation counter, drift:agent-gen:<z85>, that
    registry_invalidate increments (in the same script as the delete). A
    lookup reads the generation on its Redis miss, before PostgreSQL, and
    its write-back (a script, atomic in Redis) is dropped if the generation
    has moved since.
*/
#include "registry.h"
#include "clock.h"
#include "db.h"
#include "log.h"

#include <czmq.h>
#include <libpq-fe.h>

#define REGISTRY_KEY "drift:agent:"
#define REGISTRY_GENERATION "drift:agent-gen:"
#define REGISTRY_KNOWN_TTL_MS 300000       // answers for known keys, in Redis
#define REGISTRY_UNKNOWN_TTL_MS 10000      // "unknown key" answers, in Redis
#define REGISTRY_GENERATION_TTL_MS 3600000 // far longer than any lookup in flight
#define REGISTRY_LOCAL_MAX 10000           // local entries before the cache is emptied
#define REGISTRY_REDIS_TIMEOUT_MS 1000     // per Redis step: an agent's handshake waits for it
#define REGISTRY_STATEMENT_TIMEOUT "2000"  // ms: a lookup holds up an agent's handshake
#define REGISTRY_BACKOFF_MIN_MS 100        // between connects to an absent database,
#define REGISTRY_BACKOFF_MAX_MS 5000       // doubling from the one to the other

static const char s_z85 [] =
    "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#";

//  Write the answer back if the key's generation is still ARGV [1]:
//  KEYS = entry, generation; ARGV = generation seen, ttl ms, field, value...
static const char s_put_script [] =
    "if (redis.call ('GET', KEYS [2]) or '0') ~= ARGV [1] then return 0 end "
    "redis.call ('DEL', KEYS [1]) "
    "redis.call ('HSET', KEYS [1], unpack (ARGV, 3)) "
    "redis.call ('PEXPIRE', KEYS [1], ARGV [2]) "
    "return 1";

//  KEYS = entry, generation; ARGV = generation ttl ms.
static const char s_invalidate_script [] =
    "redis.call ('INCR', KEYS [2]) "
    "redis.call ('PEXPIRE', KEYS [2], ARGV [1]) "
    "return redis.call ('DEL', KEYS [1])";

typedef struct {
    registry_entry_t entry;  // the answer, when known
    bool known;              // false: the key is unknown
    int64_t expires_at;      // monotonic ms after which Redis is asked again
} cached_t;

struct _registry_t {
    char *database_url;          // PostgreSQL, the truth
    PGconn *conn;                // connection to it, NULL until needed or after a failure
    int64_t database_retry_at;   // monotonic ms before which no connect is tried
    int database_backoff_ms;     // wait after the next failed connect
    bool database_down;          // a database outage was logged and has not ended
    kv_t *kv;                    // Redis, the cache shared by every process
    zhashx_t *local;             // key -> cached_t: this process's cache
    int local_ttl_ms;            // how long a local answer is reused
    registry_stats_t stats;      // counters for registry_stats
};

bool
registry_key_valid (const char *text)
{
    if (!text)
        return false;
    for (int i = 0; i < 40; i++)
        if (!text [i] || !strchr (s_z85, text [i]))
            return false;
    return text [40] == 0;
}

bool
registry_name_valid (const char *text)
{
    if (!text || !*text || *text == '-')
        return false;
    size_t length = strspn (text, "abcdefghijklmnopqrstuvwxyz0123456789-");
    return length <= 63 && text [length] == 0;
}

//  Copy a field of at most size - 1 characters, at least min; -1 if it does
//  not fit (a cached value someone else wrote is not trusted either).
static int
s_copy (char *field, size_t size, const char *value, size_t min)
{
    size_t length = value ? strlen (value) : 0;
    if (!value || length < min || length >= size)
        return -1;
    memcpy (field, value, length + 1);
    return 0;
}

//  --------------------------------------------------------------------------
//  PostgreSQL

static void
s_database_outage (registry_t *self, const char *error)
{
    if (!self->database_down)
        log_warn ("registry database unavailable; keys not cached in Redis are refused",
                  "error", error, "retry_in_ms",
                  LOG_NUM (self->database_retry_at - clock_mono_ms ()));
    self->database_down = true;
}

//  The connection, connecting at most once per backoff step while the
//  database is away; NULL if there is none.
static PGconn *
s_database (registry_t *self)
{
    if (self->conn || clock_mono_ms () < self->database_retry_at)
        return self->conn;
    //  One try: a lookup answers now or fails closed; it never waits.
    self->conn = db_connect (self->database_url, 0);
    if (self->conn
    &&  db_exec (self->conn, "registry statement timeout",
                 "SET statement_timeout = " REGISTRY_STATEMENT_TIMEOUT)) {
        PQfinish (self->conn);
        self->conn = NULL;
    }
    if (self->conn)
        self->database_backoff_ms = REGISTRY_BACKOFF_MIN_MS;
    else {
        self->database_retry_at = clock_mono_ms () + self->database_backoff_ms;
        self->database_backoff_ms = self->database_backoff_ms * 2 > REGISTRY_BACKOFF_MAX_MS
                                  ? REGISTRY_BACKOFF_MAX_MS : self->database_backoff_ms * 2;
        s_database_outage (self, "cannot connect");
    }
    return self->conn;
}

//  1 or 0 as PostgreSQL says, -1 if it cannot answer.
static int
s_database_lookup (registry_t *self, const char *key, registry_entry_t *entry)
{
    const char *params [] = { key };
    //  A second attempt only after a broken connection: PostgreSQL restarted
    //  and a new connection may well answer at once.
    for (int attempt = 0; attempt < 2; attempt++) {
        PGconn *conn = s_database (self);
        if (!conn)
            return -1;
        PGresult *result = PQexecParams (conn,
            //  Through the SECURITY DEFINER function (schema 0007): the
            //  services' role reads no tenant's agents directly.
            "SELECT tenant_id, tenant_name, id, name, revoked_at IS NOT NULL"
            " FROM drift_agent_by_key ($1::text)",
            1, NULL, params, NULL, NULL, 0);
        if (PQresultStatus (result) == PGRES_TUPLES_OK) {
            int found = PQntuples (result) == 1;
            if (found) {
                memset (entry, 0, sizeof *entry);
                s_copy (entry->tenant_id, sizeof entry->tenant_id, PQgetvalue (result, 0, 0), 1);
                s_copy (entry->tenant, sizeof entry->tenant, PQgetvalue (result, 0, 1), 1);
                s_copy (entry->agent_id, sizeof entry->agent_id, PQgetvalue (result, 0, 2), 1);
                s_copy (entry->agent, sizeof entry->agent, PQgetvalue (result, 0, 3), 1);
                entry->revoked = streq (PQgetvalue (result, 0, 4), "t");
            }
            PQclear (result);
            if (self->database_down)
                log_info ("registry database answering again");
            self->database_down = false;
            return found;
        }
        char *error = strdup (PQresultErrorMessage (result));
        error [strcspn (error, "\n")] = 0;
        PQclear (result);
        bool broken = PQstatus (conn) == CONNECTION_BAD;
        if (!broken || attempt == 1)
            s_database_outage (self, error);
        free (error);
        if (!broken)
            return -1;
        PQfinish (self->conn);
        self->conn = NULL;
    }
    return -1;
}

//  --------------------------------------------------------------------------
//  Redis

static const char *
s_field (redisReply *hash, const char *name)
{
    for (size_t i = 0; i + 1 < hash->elements; i += 2)
        if (hash->element [i]->type == REDIS_REPLY_STRING
        &&  streq (hash->element [i]->str, name)
        &&  hash->element [i + 1]->type == REDIS_REPLY_STRING)
            return hash->element [i + 1]->str;
    return NULL;
}

//  The cached answer (1 or 0) from a drift:agent hash; -1 if it holds none.
static int
s_from_hash (redisReply *hash, registry_entry_t *entry)
{
    const char *known = s_field (hash, "known");
    if (known && streq (known, "0"))
        return 0;
    const char *revoked = s_field (hash, "revoked");
    if (!known || !streq (known, "1") || !revoked
    ||  (!streq (revoked, "0") && !streq (revoked, "1")))
        return -1;
    memset (entry, 0, sizeof *entry);
    if (s_copy (entry->tenant_id, sizeof entry->tenant_id, s_field (hash, "tenant_id"), 36)
    ||  s_copy (entry->tenant, sizeof entry->tenant, s_field (hash, "tenant"), 1)
    ||  s_copy (entry->agent_id, sizeof entry->agent_id, s_field (hash, "agent_id"), 36)
    ||  s_copy (entry->agent, sizeof entry->agent, s_field (hash, "agent"), 1))
        return -1;
    entry->revoked = streq (revoked, "1");
    return 1;
}

//  1 or 0 as Redis has it cached; -1 if it has no answer. On a miss with
//  Redis answering, generation holds the key's generation (for s_redis_put)
//  and the result is still -1.
static int
s_redis_get (registry_t *self, const char *key, registry_entry_t *entry, char *generation,
             size_t size)
{
    *generation = 0;
    redisReply *reply = kv_command (self->kv, "HGETALL " REGISTRY_KEY "%s", key);
    if (!reply)
        return -1;
    int answer = -1;
    if (reply->type == REDIS_REPLY_ARRAY && reply->elements > 0)
        answer = s_from_hash (reply, entry);
    freeReplyObject (reply);
    if (answer >= 0)
        return answer;
    reply = kv_command (self->kv, "GET " REGISTRY_GENERATION "%s", key);
    if (reply && reply->type == REDIS_REPLY_STRING && reply->len < size)
        snprintf (generation, size, "%s", reply->str);
    else
    if (reply && reply->type == REDIS_REPLY_NIL)
        snprintf (generation, size, "0");
    if (reply)
        freeReplyObject (reply);
    return -1;
}

//  Cache PostgreSQL's answer in Redis unless the key changed meanwhile.
static void
s_redis_put (registry_t *self, const char *key, int known, const registry_entry_t *entry,
             const char *generation)
{
    redisReply *reply = known
        ? kv_command (self->kv, "EVAL %s 2 " REGISTRY_KEY "%s " REGISTRY_GENERATION "%s %s %d"
                      " known 1 tenant_id %s tenant %s agent_id %s agent %s revoked %s",
                      s_put_script, key, key, generation, REGISTRY_KNOWN_TTL_MS,
                      entry->tenant_id, entry->tenant, entry->agent_id, entry->agent,
                      entry->revoked ? "1" : "0")
        : kv_command (self->kv, "EVAL %s 2 " REGISTRY_KEY "%s " REGISTRY_GENERATION "%s %s %d"
                      " known 0",
                      s_put_script, key, key, generation, REGISTRY_UNKNOWN_TTL_MS);
    if (reply && reply->type == REDIS_REPLY_ERROR)
        log_warn ("registry could not cache an answer in Redis; the next lookup asks PostgreSQL",
                  "error", reply->str);
    if (reply)
        freeReplyObject (reply);
}

int
registry_invalidate (kv_t *kv, const char *public_key_z85)
{
    assert (kv);
    if (!registry_key_valid (public_key_z85))
        return -1;
    redisReply *reply = kv_command (kv, "EVAL %s 2 " REGISTRY_KEY "%s " REGISTRY_GENERATION "%s %d",
                                    s_invalidate_script, public_key_z85, public_key_z85,
                                    REGISTRY_GENERATION_TTL_MS);
    int rc = reply && reply->type == REDIS_REPLY_INTEGER ? 0 : -1;
    if (reply && reply->type == REDIS_REPLY_ERROR)
        log_warn ("registry cache not invalidated: Redis refused", "error", reply->str);
    if (reply)
        freeReplyObject (reply);
    return rc;
}

//  --------------------------------------------------------------------------
//  The class

static void
s_cached_destroy (void **item)
{
    free (*item);
    *item = NULL;
}

registry_t *
registry_new (const char *database_url, const char *redis_url, int local_ttl_ms)
{
    assert (database_url);
    assert (redis_url);
    kv_t *kv = kv_new (redis_url, REGISTRY_REDIS_TIMEOUT_MS);
    if (!kv)
        return NULL;
    registry_t *self = (registry_t *) calloc (1, sizeof *self);
    assert (self);
    self->database_url = strdup (database_url);
    self->database_backoff_ms = REGISTRY_BACKOFF_MIN_MS;
    self->kv = kv;
    self->local = zhashx_new ();
    zhashx_set_destructor (self->local, s_cached_destroy);
    self->local_ttl_ms = local_ttl_ms;
    return self;
}

void
registry_destroy (registry_t **self_p)
{
    assert (self_p);
    if (*self_p) {
        registry_t *self = *self_p;
        if (self->conn)
            PQfinish (self->conn);
        kv_destroy (&self->kv);
        zhashx_destroy (&self->local);
        free (self->database_url);
        free (self);
        *self_p = NULL;
    }
}

//  Keep an answer locally. The keys come from the network, so the cache is
//  bounded: when full it is emptied, which costs one Redis round trip per
//  key afterwards and nothing else.
static void
s_remember (registry_t *self, const char *key, int known, const registry_entry_t *entry)
{
    if (self->local_ttl_ms <= 0)
        return;
    if (zhashx_size (self->local) >= REGISTRY_LOCAL_MAX && !zhashx_lookup (self->local, key))
        zhashx_purge (self->local);
    cached_t *cached = (cached_t *) calloc (1, sizeof *cached);
    assert (cached);
    cached->known = known == 1;
    if (known == 1)
        cached->entry = *entry;
    cached->expires_at = clock_mono_ms () + self->local_ttl_ms;
    zhashx_update (self->local, key, cached);
}

int
registry_lookup (registry_t *self, const char *public_key_z85, registry_entry_t *entry)
{
    assert (self);
    assert (entry);
    if (!registry_key_valid (public_key_z85)) {
        self->stats.malformed++;
        return 0;
    }
    const char *key = public_key_z85;
    cached_t *cached = (cached_t *) zhashx_lookup (self->local, key);
    if (cached && clock_mono_ms () < cached->expires_at) {
        self->stats.local_hits++;
        if (cached->known)
            *entry = cached->entry;
        return cached->known ? 1 : 0;
    }
    char generation [32];
    int answer = s_redis_get (self, key, entry, generation, sizeof generation);
    if (answer >= 0)
        self->stats.redis_hits++;
    else {
        answer = s_database_lookup (self, key, entry);
        if (answer < 0) {
            self->stats.failures++;
            return -1;
        }
        self->stats.database_hits++;
        if (*generation)
            s_redis_put (self, key, answer, entry, generation);
    }
    s_remember (self, key, answer, entry);
    return answer;
}

void
registry_stats (registry_t *self, registry_stats_t *stats)
{
    assert (self);
    assert (stats);
    *stats = self->stats;
}
