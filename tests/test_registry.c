/*  registry: the key registry ingest asks (lib/registry) against the
    real PostgreSQL and Redis of DRIFT_TEST_PG_URL and DRIFT_TEST_REDIS_URL,
    with agents issued by `drift keys` as an operator does it: a key found
    in PostgreSQL, then Redis, then the process's own cache; unknown and
    malformed keys not found (and never sent to a server); a revocation seen
    once the cache is invalidated; a lookup overlapping a change not
    cached; Redis down answered from PostgreSQL; both down refused.
    Each test gets its own database and scratch directory (keyutil).
*/
#include "keyutil.h"
#include "../lib/kv.h"
#include "../lib/registry.h"

#include <criterion/criterion.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

static ku_env_t s_env;          // this test's directory, database and last output

static void
s_setup (void)
{
    ku_setup (&s_env, "registry");
}

static void
s_teardown (void)
{
    ku_teardown (&s_env);
}

TestSuite (registry, .init = s_setup, .fini = s_teardown, .timeout = 60);

//  --------------------------------------------------------------------------
//  Helpers

//  Run `drift ARGS...`: its exit code, with stdout and stderr in s_env.output.
#define s_drift(...) ku_drift (&s_env, __VA_ARGS__)

static registry_stats_t
s_stats (registry_t *registry)
{
    registry_stats_t stats;
    registry_stats (registry, &stats);
    return stats;
}

//  --------------------------------------------------------------------------
//  Lookups


Test (registry, finds_a_key_in_postgresql_then_redis_then_locally)
{
    char key [41];
    ku_issue (&s_env, "acme", "web", key);
    //  A local TTL of a second: the lookups in between must fit in it on a
    //  loaded machine (100 ms did not, once).
    registry_t *registry = registry_new (s_env.url, s_env.redis, 1000);
    cr_assert (registry);
    registry_entry_t entry;
    cr_assert_eq (registry_lookup (registry, key, &entry), 1);
    cr_assert_str_eq (entry.tenant, "acme");
    cr_assert_str_eq (entry.agent, "web");
    cr_assert_not (entry.revoked);
    char sql [256];
    snprintf (sql, sizeof sql, "SELECT count (*) FROM agents a JOIN tenants t ON t.id = a.tenant_id"
              " WHERE a.id = '%s' AND t.id = '%s' AND a.public_key = '%s'",
              entry.agent_id, entry.tenant_id, key);
    cr_assert_eq (tu_query_long (s_env.url, sql), 1, "the ids are the agent's and its tenant's");
    cr_assert_eq (s_stats (registry).database_hits, 1);

    //  Within the local TTL, from the process's own cache.
    registry_entry_t again;
    cr_assert_eq (registry_lookup (registry, key, &again), 1);
    cr_assert_eq (memcmp (&again, &entry, sizeof entry), 0);
    cr_assert_eq (s_stats (registry).local_hits, 1);

    //  After it, and in another process, from Redis.
    zclock_sleep (1100);
    memset (&again, 0, sizeof again);
    cr_assert_eq (registry_lookup (registry, key, &again), 1);
    cr_assert_eq (memcmp (&again, &entry, sizeof entry), 0);
    registry_t *other = registry_new (s_env.url, s_env.redis, 1000);
    memset (&again, 0, sizeof again);
    cr_assert_eq (registry_lookup (other, key, &again), 1);
    cr_assert_eq (memcmp (&again, &entry, sizeof entry), 0);
    registry_stats_t stats = s_stats (registry);
    cr_assert_eq (stats.redis_hits, 1);
    cr_assert_eq (stats.database_hits, 1);
    cr_assert_eq (stats.failures, 0);
    stats = s_stats (other);
    cr_assert_eq (stats.redis_hits, 1);
    cr_assert_eq (stats.database_hits, 0);
    registry_destroy (&other);
    registry_destroy (&registry);
    cr_assert_null (registry);
}

Test (registry, unknown_and_malformed_keys_are_not_found)
{
    registry_t *registry = registry_new (s_env.url, s_env.redis, 0);
    char unknown [41];
    ku_unknown_key (unknown);
    registry_entry_t entry;
    cr_assert_eq (registry_lookup (registry, unknown, &entry), 0);
    cr_assert_eq (registry_lookup (registry, unknown, &entry), 0);
    registry_stats_t stats = s_stats (registry);
    cr_assert_eq (stats.database_hits, 1);
    cr_assert_eq (stats.redis_hits, 1, "\"unknown\" is cached too");

    char too_long [42], bad_character [41], injection [41];
    memset (too_long, 'a', 41);
    too_long [41] = 0;
    memcpy (bad_character, unknown, 41);
    bad_character [20] = ' ';
    snprintf (injection, sizeof injection, "%-40s", "x' OR '1'='1'; DROP TABLE agents; --");
    const char *malformed [] = { "", "short", too_long, bad_character, injection, NULL };
    for (size_t i = 0; i < sizeof malformed / sizeof malformed [0]; i++)
        cr_assert_eq (registry_lookup (registry, malformed [i], &entry), 0);
    stats = s_stats (registry);
    cr_assert_eq (stats.malformed, 6);
    cr_assert_eq (stats.database_hits, 1, "no malformed key reached PostgreSQL");
    cr_assert_eq (stats.redis_hits, 1, "nor Redis");
    registry_destroy (&registry);

    //  Proof that no server is asked: with neither reachable, a malformed
    //  key is still "not found", not "cannot answer".
    char *dead_database = ku_dead_postgresql ();
    char *dead_redis = ku_dead_redis ();
    registry = registry_new (dead_database, dead_redis, 1000);
    cr_assert_eq (registry_lookup (registry, injection, &entry), 0);
    cr_assert_eq (s_stats (registry).failures, 0);
    registry_destroy (&registry);
    free (dead_database);
    free (dead_redis);
    cr_assert_eq (tu_query_long (s_env.url, "SELECT count (*) FROM agents"), 0);
}

Test (registry, a_revocation_is_seen_once_the_cache_is_invalidated)
{
    char key [41];
    ku_issue (&s_env, "acme", "web", key);
    registry_t *registry = registry_new (s_env.url, s_env.redis, 100);
    registry_entry_t entry;
    cr_assert_eq (registry_lookup (registry, key, &entry), 1);
    cr_assert_not (entry.revoked);
    zclock_sleep (150);
    cr_assert_eq (registry_lookup (registry, key, &entry), 1);
    cr_assert_not (entry.revoked);
    cr_assert_eq (s_stats (registry).redis_hits, 1, "the answer is cached in Redis for 300 s");

    cr_assert_eq (s_drift ("keys", "revoke", "--tenant", "acme", "--name", "web",
                           "--database", s_env.url, "--redis", s_env.redis), 0, "%s", s_env.output);
    //  Seen as soon as the local answer expires: much sooner than Redis's
    //  300 s, so it was the invalidation.
    int64_t deadline = zclock_mono () + 10000;
    do {
        zclock_sleep (20);
        cr_assert_eq (registry_lookup (registry, key, &entry), 1);
    } while (!entry.revoked && zclock_mono () < deadline);
    cr_assert (entry.revoked);
    cr_assert_eq (s_stats (registry).database_hits, 2, "Redis no longer had it");

    //  A change made behind the registry's back is not seen until someone
    //  invalidates: the cache is trusted, the invalidation is what counts.
    char sql [160];
    snprintf (sql, sizeof sql, "UPDATE agents SET revoked_at = NULL WHERE public_key = '%s'", key);
    PGconn *conn = PQconnectdb (s_env.url);
    PQclear (PQexec (conn, sql));
    PQfinish (conn);
    zclock_sleep (150);
    cr_assert_eq (registry_lookup (registry, key, &entry), 1);
    cr_assert (entry.revoked, "still the cached answer");
    kv_t *kv = kv_new (s_env.redis, 1000);
    cr_assert_eq (registry_invalidate (kv, key), 0);
    redisReply *reply = kv_command (kv, "EXISTS drift:agent:%s", key);
    cr_assert (reply && reply->type == REDIS_REPLY_INTEGER && reply->integer == 0);
    freeReplyObject (reply);
    cr_assert_eq (registry_invalidate (kv, "not a key"), -1);
    kv_destroy (&kv);
    zclock_sleep (150);
    cr_assert_eq (registry_lookup (registry, key, &entry), 1);
    cr_assert_not (entry.revoked);
    registry_destroy (&registry);
}

typedef struct {
    registry_t *registry;    // used by the racing thread only
    const char *key;         // what it looks up
    int answer;              // what registry_lookup said
} racer_t;

static void *
s_racer (void *args)
{
    racer_t *racer = (racer_t *) args;
    registry_entry_t entry;
    racer->answer = registry_lookup (racer->registry, racer->key, &entry);
    return NULL;
}

static long
s_redis_exists (const char *key)
{
    kv_t *kv = kv_new (s_env.redis, 1000);
    redisReply *reply = kv_command (kv, "EXISTS drift:agent:%s", key);
    cr_assert (reply && reply->type == REDIS_REPLY_INTEGER);
    long exists = (long) reply->integer;
    freeReplyObject (reply);
    kv_destroy (&kv);
    return exists;
}

Test (registry, a_lookup_overlapping_a_change_does_not_cache_its_answer)
{
    char key [41];
    ku_issue (&s_env, "acme", "web", key);
    //  Hold the lookup inside PostgreSQL (after its Redis miss) with a lock,
    //  change the key's generation meanwhile, as `drift keys revoke` does.
    PGconn *locker = PQconnectdb (s_env.url);
    PQclear (PQexec (locker, "BEGIN"));
    PQclear (PQexec (locker, "LOCK TABLE agents IN ACCESS EXCLUSIVE MODE"));
    racer_t racer = { registry_new (s_env.url, s_env.redis, 0), key, -2 };
    pthread_t thread;
    cr_assert_eq (pthread_create (&thread, NULL, s_racer, &racer), 0);
    cr_assert_eq (tu_wait_query (s_env.url, "SELECT count (*) FROM pg_stat_activity"
                                 " WHERE wait_event_type = 'Lock'"
                                 " AND query LIKE '%FROM drift_agent_by_key%'", 1, 10000), 1);
    kv_t *kv = kv_new (s_env.redis, 1000);
    cr_assert_eq (registry_invalidate (kv, key), 0);
    kv_destroy (&kv);
    PQclear (PQexec (locker, "ROLLBACK"));
    PQfinish (locker);
    pthread_join (thread, NULL);

    //  It answered, but did not cache what it read before the change.
    cr_assert_eq (racer.answer, 1);
    cr_assert_eq (s_redis_exists (key), 0);
    registry_entry_t entry;
    cr_assert_eq (registry_lookup (racer.registry, key, &entry), 1);
    cr_assert_eq (s_redis_exists (key), 1, "a lookup with nothing overlapping caches");
    registry_destroy (&racer.registry);
}

Test (registry, lookups_fall_back_to_postgresql_while_redis_is_down)
{
    char key [41], unknown [41];
    ku_issue (&s_env, "acme", "web", key);
    ku_unknown_key (unknown);
    char *dead_redis = ku_dead_redis ();
    registry_t *registry = registry_new (s_env.url, dead_redis, 0);
    registry_entry_t entry;
    for (int i = 0; i < 3; i++) {
        cr_assert_eq (registry_lookup (registry, key, &entry), 1);
        cr_assert_str_eq (entry.agent, "web");
        cr_assert_eq (registry_lookup (registry, unknown, &entry), 0);
    }
    registry_stats_t stats = s_stats (registry);
    cr_assert_eq (stats.database_hits, 6);
    cr_assert_eq (stats.redis_hits, 0);
    cr_assert_eq (stats.failures, 0);
    registry_destroy (&registry);
    free (dead_redis);
}

Test (registry, fails_closed_when_neither_can_answer)
{
    char key [41];
    ku_issue (&s_env, "acme", "web", key);
    char *dead_database = ku_dead_postgresql ();
    char *dead_redis = ku_dead_redis ();
    registry_entry_t entry;

    registry_t *registry = registry_new (dead_database, dead_redis, 1000);
    cr_assert_eq (registry_lookup (registry, key, &entry), -1);
    cr_assert_eq (registry_lookup (registry, key, &entry), -1, "and no failure is cached");
    cr_assert_eq (s_stats (registry).failures, 2);
    registry_destroy (&registry);

    //  With PostgreSQL down, what Redis has cached still answers.
    registry = registry_new (s_env.url, s_env.redis, 0);
    cr_assert_eq (registry_lookup (registry, key, &entry), 1);
    registry_destroy (&registry);
    registry = registry_new (dead_database, s_env.redis, 0);
    cr_assert_eq (registry_lookup (registry, key, &entry), 1);
    cr_assert_str_eq (entry.tenant, "acme");
    char unknown [41];
    ku_unknown_key (unknown);
    cr_assert_eq (registry_lookup (registry, unknown, &entry), -1, "not cached: cannot answer");
    registry_stats_t stats = s_stats (registry);
    cr_assert_eq (stats.redis_hits, 1);
    cr_assert_eq (stats.failures, 1);
    registry_destroy (&registry);
    free (dead_database);
    free (dead_redis);
}
