/*  Agent keys end to end, against the real PostgreSQL and Redis of
    DRIFT_TEST_PG_URL and DRIFT_TEST_REDIS_URL: `drift keys` and `drift
    tenant` as an operator runs them, the registry ingest asks (PostgreSQL,
    then Redis, then its own cache; a revocation seen once invalidated;
    Redis down answered from PostgreSQL; both down refused), and kv's
    connection surviving a restart of a Redis the test runs itself.
    Each test gets its own database and scratch directory.
*/
#include "testutil.h"
#include "../lib/kv.h"
#include "../lib/log.h"
#include "../lib/migrations.h"
#include "../lib/registry.h"
#include "../lib/rolekeys.h"

#include <criterion/criterion.h>
#include <fcntl.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char s_dir [64];         // this test's scratch directory
static char s_log [96];         // where a drift command's output goes
static char s_keys [96];        // keys-dir for drift keys
static char *s_url;             // this test's database
static const char *s_redis;     // the test Redis
static char s_output [16384];   // output of the last drift command
static pid_t s_redis_pid;       // a Redis the test started itself, 0 if none

static void
s_setup (void)
{
    log_init ("test", "logfmt", "error");
    snprintf (s_dir, sizeof s_dir, "/tmp/drift-test-keys-XXXXXX");
    cr_assert (mkdtemp (s_dir));
    snprintf (s_log, sizeof s_log, "%s/output", s_dir);
    snprintf (s_keys, sizeof s_keys, "%s/keys", s_dir);
    s_redis = getenv ("DRIFT_TEST_REDIS_URL");
    cr_assert (s_redis && *s_redis, "DRIFT_TEST_REDIS_URL is not set: run the tests through scripts/test");
    s_url = tu_fresh_database ();
    cr_assert_gt (migrations_apply (s_url), 0);
}

static void
s_teardown (void)
{
    if (s_redis_pid > 0)
        tu_stop (s_redis_pid, SIGKILL);
    s_redis_pid = 0;
    if (s_url)
        tu_drop_database (s_url);
    s_url = NULL;
    zdir_t *dir = zdir_new (s_dir, NULL);
    if (dir)
        zdir_remove (dir, true);
    zdir_destroy (&dir);
}

TestSuite (keys, .init = s_setup, .fini = s_teardown, .timeout = 60);
TestSuite (tenant, .init = s_setup, .fini = s_teardown, .timeout = 60);
TestSuite (registry, .init = s_setup, .fini = s_teardown, .timeout = 60);
TestSuite (kv, .init = s_setup, .fini = s_teardown, .timeout = 60);

//  --------------------------------------------------------------------------
//  Helpers

//  Wait for a `drift` child; its exit code, and its output in s_output.
static int
s_finish (pid_t pid)
{
    int status;
    cr_assert_eq (waitpid (pid, &status, 0), pid);
    FILE *file = fopen (s_log, "r");
    size_t size = file ? fread (s_output, 1, sizeof s_output - 1, file) : 0;
    s_output [size] = 0;
    if (file)
        fclose (file);
    unlink (s_log);
    return WIFEXITED (status) ? WEXITSTATUS (status) : -1;
}

//  Run `drift ARGS...`: its exit code, with stdout and stderr in s_output.
#define s_drift(...) (unlink (s_log), s_finish (tu_spawn (s_log, __VA_ARGS__, NULL)))

static char *
s_read_file (const char *path)
{
    FILE *file = fopen (path, "r");
    cr_assert (file, "cannot read %s", path);
    char *text = (char *) calloc (1, 8192);
    fread (text, 1, 8191, file);
    fclose (file);
    return text;
}

static mode_t
s_mode (const char *path)
{
    struct stat st;
    cr_assert_eq (stat (path, &st), 0, "no %s", path);
    return st.st_mode & 0777;
}

//  A tenant with one agent issued through the CLI; the agent's public key
//  in key [41].
static void
s_issue (const char *tenant, const char *agent, char *key)
{
    cr_assert_eq (s_drift ("keys", "init", "--keys-dir", s_keys), 0, "%s", s_output);
    int rc = s_drift ("tenant", "create", tenant, "--database", s_url);
    cr_assert (rc == 0 || rc == 1, "%s", s_output);
    char out [160];
    snprintf (out, sizeof out, "%s/%s.cert", s_dir, agent);
    cr_assert_eq (s_drift ("keys", "issue", "--tenant", tenant, "--name", agent, "--out", out,
                           "--keys-dir", s_keys, "--database", s_url, "--redis", s_redis), 0,
                  "%s", s_output);
    zcert_t *cert = zcert_load (out);
    cr_assert (cert);
    snprintf (key, 41, "%s", zcert_public_txt (cert));
    zcert_destroy (&cert);
}

//  A valid key that no agent has.
static void
s_unknown_key (char *key)
{
    zcert_t *cert = zcert_new ();
    snprintf (key, 41, "%s", zcert_public_txt (cert));
    zcert_destroy (&cert);
}

//  A URL of the same kind as url's whose server is a closed port.
static char *
s_dead_postgresql (void)
{
    char *url = (char *) malloc (128);
    snprintf (url, 128, "postgresql://postgres@127.0.0.1:%d/drift?connect_timeout=2",
              tu_free_port ());
    return url;
}

static char *
s_dead_redis (void)
{
    char *url = (char *) malloc (64);
    snprintf (url, 64, "redis://127.0.0.1:%d", tu_free_port ());
    return url;
}

static registry_stats_t
s_stats (registry_t *registry)
{
    registry_stats_t stats;
    registry_stats (registry, &stats);
    return stats;
}

//  --------------------------------------------------------------------------
//  drift keys init

Test (keys, init_writes_a_private_secret_once_and_never_overwrites)
{
    cr_assert_eq (s_drift ("keys", "init", "--keys-dir", s_keys), 0, "%s", s_output);
    char public_path [128], secret_path [128];
    snprintf (public_path, sizeof public_path, "%s/server.key", s_keys);
    snprintf (secret_path, sizeof secret_path, "%s/server.key_secret", s_keys);
    cr_assert_eq (s_mode (s_keys), 0700, "the directory holding the secret is private");
    cr_assert_eq (s_mode (secret_path), 0600);

    zcert_t *server = zcert_load (secret_path);
    cr_assert (server);
    char expected [80];
    snprintf (expected, sizeof expected, "server-key = %s\n", zcert_public_txt (server));
    cr_assert (strstr (s_output, expected), "the public key is printed:\n%s", s_output);
    cr_assert_null (strstr (s_output, zcert_secret_txt (server)), "never the secret one");
    zcert_t *public_only = zcert_load (public_path);
    cr_assert (public_only);
    cr_assert_str_eq (zcert_public_txt (public_only), zcert_public_txt (server));
    zcert_destroy (&public_only);

    //  normalize's mask key: 64 hex digits, private.
    char mask_path [128];
    snprintf (mask_path, sizeof mask_path, "%s/mask.key", s_keys);
    cr_assert_eq (s_mode (mask_path), 0600);
    char *mask = s_read_file (mask_path);
    cr_assert_eq (strspn (mask, "0123456789abcdef"), 64);
    cr_assert_null (strstr (s_output, mask), "the mask key is never printed");
    //  archive's sealing key: the same, and a different key.
    char archive_path [128];
    snprintf (archive_path, sizeof archive_path, "%s/archive.key", s_keys);
    cr_assert_eq (s_mode (archive_path), 0600);
    char *archive = s_read_file (archive_path);
    cr_assert_eq (strspn (archive, "0123456789abcdef"), 64);
    cr_assert_null (strstr (s_output, archive), "the archive key is never printed");
    cr_assert_neq (memcmp (archive, mask, 64), 0);
    //  The channels' sealing key: the same again, a key of its own.
    char channel_path [128];
    snprintf (channel_path, sizeof channel_path, "%s/channel.key", s_keys);
    cr_assert_eq (s_mode (channel_path), 0600);
    char *channel = s_read_file (channel_path);
    cr_assert_eq (strspn (channel, "0123456789abcdef"), 64);
    cr_assert_null (strstr (s_output, channel), "the channel key is never printed");
    cr_assert_neq (memcmp (channel, archive, 64), 0);
    free (channel);

    //  A second run keeps the keypair (agents hold its public key) and the
    //  mask key (markers must stay comparable).
    char *before = s_read_file (secret_path);
    cr_assert_eq (s_drift ("keys", "init", "--keys-dir", s_keys), 0, "%s", s_output);
    cr_assert (strstr (s_output, expected), "the existing key is printed:\n%s", s_output);
    char *after = s_read_file (secret_path);
    cr_assert_str_eq (after, before);
    free (after);
    char *mask_after = s_read_file (mask_path);
    cr_assert_str_eq (mask_after, mask);
    free (mask_after);
    free (mask);
    char *archive_after = s_read_file (archive_path);
    cr_assert_str_eq (archive_after, archive, "the archive key is never replaced");
    free (archive_after);
    free (archive);

    //  A public key whose secret is gone is not silently replaced either.
    cr_assert_eq (unlink (secret_path), 0);
    char *public_before = s_read_file (public_path);
    cr_assert_eq (s_drift ("keys", "init", "--keys-dir", s_keys), 1, "%s", s_output);
    cr_assert (strstr (s_output, "refusing to overwrite"), "%s", s_output);
    char *public_after = s_read_file (public_path);
    cr_assert_str_eq (public_after, public_before);
    cr_assert_not (access (secret_path, F_OK) == 0);
    free (public_before);
    free (public_after);
    free (before);
    zcert_destroy (&server);
}

//  The broker's keypair and one per role: the broker's list holds each
//  role's public key with its roles, nothing secret; each role's keypair
//  is private; a second run keeps them all.
Test (keys, init_makes_the_broker_keypair_and_a_key_per_role_once)
{
    cr_assert_eq (s_drift ("keys", "init", "--keys-dir", s_keys), 0, "%s", s_output);
    char path [256];
    snprintf (path, sizeof path, "%s/broker.key_secret", s_keys);
    cr_assert_eq (s_mode (path), 0600);
    zcert_t *broker = zcert_load (path);
    cr_assert (broker);
    cr_assert_null (strstr (s_output, zcert_secret_txt (broker)), "no secret printed");
    snprintf (path, sizeof path, "%s/broker-roles", s_keys);
    rolekeys_t *allowed = rolekeys_new (path);
    const char *roles [] = { "ingest", "normalize", "score", "archive", "notify", "replayer",
                             "operator" };
    cr_assert_eq (rolekeys_size (allowed), 7, "one listed key per role");
    char *before [7];
    for (int i = 0; i < 7; i++) {
        snprintf (path, sizeof path, "%s/roles/%s.key_secret", s_keys, roles [i]);
        cr_assert_eq (s_mode (path), 0600, "%s", path);
        zcert_t *cert = zcert_load (path);
        cr_assert (cert, "%s", path);
        cr_assert_null (strstr (s_output, zcert_secret_txt (cert)));
        cr_assert_str_eq (rolekeys_roles (allowed, zcert_public_txt (cert)), roles [i],
                          "the broker lists %s's key with its role", roles [i]);
        before [i] = s_read_file (path);
        zcert_destroy (&cert);
        snprintf (path, sizeof path, "%s/broker-roles/%s.key_secret", s_keys, roles [i]);
        cr_assert_neq (access (path, F_OK), 0, "no secret in the broker's list");
    }
    rolekeys_destroy (&allowed);
    cr_assert_eq (s_drift ("keys", "init", "--keys-dir", s_keys), 0, "%s", s_output);
    for (int i = 0; i < 7; i++) {
        snprintf (path, sizeof path, "%s/roles/%s.key_secret", s_keys, roles [i]);
        char *after = s_read_file (path);
        cr_assert_str_eq (after, before [i], "%s kept", roles [i]);
        free (after);
        free (before [i]);
    }
    zcert_destroy (&broker);
}

//  --------------------------------------------------------------------------
//  drift tenant

Test (tenant, create_list_and_refuse_duplicates_and_invalid_names)
{
    cr_assert_eq (s_drift ("tenant", "create", "acme", "--database", s_url), 0, "%s", s_output);
    cr_assert (strstr (s_output, "created tenant 'acme'"), "%s", s_output);
    char longest [64];
    memset (longest, 'a', 63);
    longest [63] = 0;
    cr_assert_eq (s_drift ("tenant", "create", longest, "--database", s_url), 0, "%s", s_output);

    cr_assert_eq (s_drift ("tenant", "create", "acme", "--database", s_url), 1);
    cr_assert (strstr (s_output, "tenant 'acme' already exists"), "%s", s_output);
    char too_long [65];
    memset (too_long, 'a', 64);
    too_long [64] = 0;
    const char *invalid [] = { "Acme", "-acme", "ac me", "acme_1", "", too_long,
                               "x'); DROP TABLE tenants; --" };
    for (size_t i = 0; i < sizeof invalid / sizeof invalid [0]; i++) {
        cr_assert_eq (s_drift ("tenant", "create", invalid [i], "--database", s_url), 1,
                      "'%s' refused: %s", invalid [i], s_output);
        cr_assert (strstr (s_output, "invalid tenant name"), "%s", s_output);
    }
    cr_assert_eq (tu_query_long (s_url, "SELECT count (*) FROM tenants"), 2);

    cr_assert_eq (s_drift ("tenant", "list", "--database", s_url), 0, "%s", s_output);
    cr_assert (strstr (s_output, "\nacme "), "%s", s_output);
    cr_assert (strstr (s_output, longest), "%s", s_output);

    cr_assert_eq (s_drift ("tenant", "--database", s_url), 2, "no subcommand is a usage error");
    cr_assert_eq (s_drift ("tenant", "create", "a", "b", "--database", s_url), 2);
    char *dead = s_dead_postgresql ();
    cr_assert_eq (s_drift ("tenant", "list", "--database", dead), 3, "%s", s_output);
    free (dead);
}

//  --------------------------------------------------------------------------
//  drift keys issue, list, revoke

Test (keys, issue_registers_the_key_and_writes_a_loadable_certificate)
{
    cr_assert_eq (s_drift ("keys", "init", "--keys-dir", s_keys), 0, "%s", s_output);
    cr_assert_eq (s_drift ("tenant", "create", "acme", "--database", s_url), 0, "%s", s_output);
    char out [128], server_path [128];
    snprintf (out, sizeof out, "%s/web.cert", s_dir);
    snprintf (server_path, sizeof server_path, "%s/server.key", s_keys);
    cr_assert_eq (s_drift ("keys", "issue", "--tenant", "acme", "--name", "web", "--out", out,
                           "--agent-endpoint", "tcp://ingest.example:5560", "--keys-dir", s_keys,
                           "--database", s_url, "--redis", s_redis), 0, "%s", s_output);

    //  zcert_save_secret wrote exactly the file named: both keys, metadata,
    //  private; there is no separate _secret file.
    cr_assert_eq (s_mode (out), 0600);
    char stray [160];
    snprintf (stray, sizeof stray, "%s_secret", out);
    cr_assert_neq (access (stray, F_OK), 0);
    zcert_t *cert = zcert_load (out);
    cr_assert (cert);
    cr_assert_str_eq (zcert_meta (cert, "tenant"), "acme");
    cr_assert_str_eq (zcert_meta (cert, "agent"), "web");
    cr_assert_str_neq (zcert_secret_txt (cert), "0000000000000000000000000000000000000000");
    cr_assert_null (strstr (s_output, zcert_secret_txt (cert)), "the secret is never printed");

    //  Registered under its tenant.
    char sql [256];
    snprintf (sql, sizeof sql, "SELECT count (*) FROM agents a JOIN tenants t ON t.id = a.tenant_id"
              " WHERE t.name = 'acme' AND a.name = 'web' AND a.revoked_at IS NULL"
              " AND a.public_key = '%s'", zcert_public_txt (cert));
    cr_assert_eq (tu_query_long (s_url, sql), 1);

    //  The agent's configuration, ready to paste.
    zcert_t *server = zcert_load (server_path);
    char line [192];
    snprintf (line, sizeof line, "\nserver-key = %s\n", zcert_public_txt (server));
    cr_assert (strstr (s_output, line), "%s", s_output);
    cr_assert (strstr (s_output, "\nendpoint = tcp://ingest.example:5560\n"), "%s", s_output);
    snprintf (line, sizeof line, "\ncertificate = %s\n", out);
    cr_assert (strstr (s_output, line), "%s", s_output);
    cr_assert (strstr (s_output, zcert_public_txt (cert)), "%s", s_output);
    zcert_destroy (&server);

    //  Listed.
    cr_assert_eq (s_drift ("keys", "list", "--tenant", "acme", "--database", s_url), 0);
    cr_assert (strstr (s_output, zcert_public_txt (cert)), "%s", s_output);

    //  Refused: a name in use, a tenant that does not exist, an existing
    //  file, no server keypair. Nothing is registered or left behind.
    char other [128];
    snprintf (other, sizeof other, "%s/other.cert", s_dir);
    cr_assert_eq (s_drift ("keys", "issue", "--tenant", "acme", "--name", "web", "--out", other,
                           "--keys-dir", s_keys, "--database", s_url, "--redis", s_redis), 1);
    cr_assert (strstr (s_output, "already has an agent 'web'"), "%s", s_output);
    cr_assert_eq (s_drift ("keys", "issue", "--tenant", "nobody", "--name", "web", "--out", other,
                           "--keys-dir", s_keys, "--database", s_url, "--redis", s_redis), 1);
    cr_assert (strstr (s_output, "no tenant 'nobody'"), "%s", s_output);
    cr_assert_neq (access (other, F_OK), 0);
    cr_assert_eq (s_drift ("keys", "issue", "--tenant", "acme", "--name", "api", "--out", out,
                           "--keys-dir", s_keys, "--database", s_url, "--redis", s_redis), 1);
    cr_assert (strstr (s_output, "not overwriting"), "%s", s_output);
    zcert_t *again = zcert_load (out);
    cr_assert (zcert_eq (again, cert), "the existing certificate is untouched");
    zcert_destroy (&again);
    cr_assert_eq (s_drift ("keys", "issue", "--tenant", "acme", "--name", "api", "--out", other,
                           "--keys-dir", s_dir, "--database", s_url, "--redis", s_redis), 2);
    cr_assert (strstr (s_output, "run `drift keys init"), "%s", s_output);
    cr_assert_eq (tu_query_long (s_url, "SELECT count (*) FROM agents"), 1);
    cr_assert_eq (s_drift ("keys", "issue", "--tenant", "acme", "--database", s_url), 2);
    zcert_destroy (&cert);
}

Test (keys, revoke_marks_the_agent_and_refuses_unknown_or_revoked_ones)
{
    char key [41];
    s_issue ("acme", "web", key);
    cr_assert_eq (s_drift ("keys", "revoke", "--tenant", "acme", "--name", "web",
                           "--database", s_url, "--redis", s_redis), 0, "%s", s_output);
    cr_assert (strstr (s_output, "revoked agent 'web' of tenant 'acme'"), "%s", s_output);
    cr_assert_eq (tu_query_long (s_url, "SELECT count (*) FROM agents WHERE revoked_at IS NOT NULL"), 1);

    cr_assert_eq (s_drift ("keys", "revoke", "--tenant", "acme", "--name", "web",
                           "--database", s_url, "--redis", s_redis), 1);
    cr_assert_eq (s_drift ("keys", "revoke", "--key", key, "--database", s_url, "--redis", s_redis), 1);
    cr_assert (strstr (s_output, "already revoked"), "%s", s_output);
    char unknown [41];
    s_unknown_key (unknown);
    cr_assert_eq (s_drift ("keys", "revoke", "--key", unknown, "--database", s_url, "--redis", s_redis), 1);
    cr_assert (strstr (s_output, "no agent has the key"), "%s", s_output);
    cr_assert_eq (s_drift ("keys", "revoke", "--key", "not-a-key", "--database", s_url), 2);
    cr_assert_eq (s_drift ("keys", "revoke", "--tenant", "acme", "--database", s_url), 2);

    //  The name can be issued again; the old key stays revoked.
    char out [128];
    snprintf (out, sizeof out, "%s/web2.cert", s_dir);
    cr_assert_eq (s_drift ("keys", "issue", "--tenant", "acme", "--name", "web", "--out", out,
                           "--keys-dir", s_keys, "--database", s_url, "--redis", s_redis), 0,
                  "%s", s_output);
    cr_assert_eq (s_drift ("keys", "list", "--database", s_url), 0);
    cr_assert (strstr (s_output, key), "%s", s_output);
    cr_assert_eq (tu_query_long (s_url, "SELECT count (*) FROM agents WHERE revoked_at IS NULL"), 1);
}

//  --------------------------------------------------------------------------
//  The registry

Test (registry, finds_a_key_in_postgresql_then_redis_then_locally)
{
    char key [41];
    s_issue ("acme", "web", key);
    //  A local TTL of a second: the lookups in between must fit in it on a
    //  loaded machine (100 ms did not, once).
    registry_t *registry = registry_new (s_url, s_redis, 1000);
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
    cr_assert_eq (tu_query_long (s_url, sql), 1, "the ids are the agent's and its tenant's");
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
    registry_t *other = registry_new (s_url, s_redis, 1000);
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
    registry_t *registry = registry_new (s_url, s_redis, 0);
    char unknown [41];
    s_unknown_key (unknown);
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
    char *dead_database = s_dead_postgresql ();
    char *dead_redis = s_dead_redis ();
    registry = registry_new (dead_database, dead_redis, 1000);
    cr_assert_eq (registry_lookup (registry, injection, &entry), 0);
    cr_assert_eq (s_stats (registry).failures, 0);
    registry_destroy (&registry);
    free (dead_database);
    free (dead_redis);
    cr_assert_eq (tu_query_long (s_url, "SELECT count (*) FROM agents"), 0);
}

Test (registry, a_revocation_is_seen_once_the_cache_is_invalidated)
{
    char key [41];
    s_issue ("acme", "web", key);
    registry_t *registry = registry_new (s_url, s_redis, 100);
    registry_entry_t entry;
    cr_assert_eq (registry_lookup (registry, key, &entry), 1);
    cr_assert_not (entry.revoked);
    zclock_sleep (150);
    cr_assert_eq (registry_lookup (registry, key, &entry), 1);
    cr_assert_not (entry.revoked);
    cr_assert_eq (s_stats (registry).redis_hits, 1, "the answer is cached in Redis for 300 s");

    cr_assert_eq (s_drift ("keys", "revoke", "--tenant", "acme", "--name", "web",
                           "--database", s_url, "--redis", s_redis), 0, "%s", s_output);
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
    PGconn *conn = PQconnectdb (s_url);
    PQclear (PQexec (conn, sql));
    PQfinish (conn);
    zclock_sleep (150);
    cr_assert_eq (registry_lookup (registry, key, &entry), 1);
    cr_assert (entry.revoked, "still the cached answer");
    kv_t *kv = kv_new (s_redis, 1000);
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
    kv_t *kv = kv_new (s_redis, 1000);
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
    s_issue ("acme", "web", key);
    //  Hold the lookup inside PostgreSQL (after its Redis miss) with a lock,
    //  change the key's generation meanwhile, as `drift keys revoke` does.
    PGconn *locker = PQconnectdb (s_url);
    PQclear (PQexec (locker, "BEGIN"));
    PQclear (PQexec (locker, "LOCK TABLE agents IN ACCESS EXCLUSIVE MODE"));
    racer_t racer = { registry_new (s_url, s_redis, 0), key, -2 };
    pthread_t thread;
    cr_assert_eq (pthread_create (&thread, NULL, s_racer, &racer), 0);
    cr_assert_eq (tu_wait_query (s_url, "SELECT count (*) FROM pg_stat_activity"
                                 " WHERE wait_event_type = 'Lock'"
                                 " AND query LIKE '%FROM drift_agent_by_key%'", 1, 10000), 1);
    kv_t *kv = kv_new (s_redis, 1000);
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
    s_issue ("acme", "web", key);
    s_unknown_key (unknown);
    char *dead_redis = s_dead_redis ();
    registry_t *registry = registry_new (s_url, dead_redis, 0);
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
    s_issue ("acme", "web", key);
    char *dead_database = s_dead_postgresql ();
    char *dead_redis = s_dead_redis ();
    registry_entry_t entry;

    registry_t *registry = registry_new (dead_database, dead_redis, 1000);
    cr_assert_eq (registry_lookup (registry, key, &entry), -1);
    cr_assert_eq (registry_lookup (registry, key, &entry), -1, "and no failure is cached");
    cr_assert_eq (s_stats (registry).failures, 2);
    registry_destroy (&registry);

    //  With PostgreSQL down, what Redis has cached still answers.
    registry = registry_new (s_url, s_redis, 0);
    cr_assert_eq (registry_lookup (registry, key, &entry), 1);
    registry_destroy (&registry);
    registry = registry_new (dead_database, s_redis, 0);
    cr_assert_eq (registry_lookup (registry, key, &entry), 1);
    cr_assert_str_eq (entry.tenant, "acme");
    char unknown [41];
    s_unknown_key (unknown);
    cr_assert_eq (registry_lookup (registry, unknown, &entry), -1, "not cached: cannot answer");
    registry_stats_t stats = s_stats (registry);
    cr_assert_eq (stats.redis_hits, 1);
    cr_assert_eq (stats.failures, 1);
    registry_destroy (&registry);
    free (dead_database);
    free (dead_redis);
}

//  --------------------------------------------------------------------------
//  kv

//  Start our own redis-server on port, requiring password; it dies with us.
static void
s_redis_start (int port, const char *password)
{
    char port_text [16];
    snprintf (port_text, sizeof port_text, "%d", port);
    pid_t pid = fork ();
    cr_assert (pid >= 0);
    if (pid == 0) {
        prctl (PR_SET_PDEATHSIG, SIGKILL);
        int null = open ("/dev/null", O_WRONLY);
        dup2 (null, 1);
        dup2 (null, 2);
        execlp ("redis-server", "redis-server", "--bind", "127.0.0.1", "--port", port_text,
                "--requirepass", password, "--save", "", "--appendonly", "no",
                "--dir", s_dir, (char *) NULL);
        _exit (127);
    }
    s_redis_pid = pid;
}

//  Poll until kv answers PING (generously), or fail.
static void
s_wait_answering (kv_t *kv)
{
    int64_t deadline = zclock_mono () + 15000;
    redisReply *reply = NULL;
    while (!reply && zclock_mono () < deadline) {
        reply = kv_command (kv, "PING");
        if (!reply)
            zclock_sleep (50);
    }
    cr_assert (reply, "Redis never answered");
    cr_assert_eq (reply->type, REDIS_REPLY_STATUS);
    freeReplyObject (reply);
}

Test (kv, survives_a_redis_restart_with_password_and_database)
{
    int port = tu_free_port ();
    s_redis_start (port, "p@ss/w:rd");
    char url [128], url_db0 [128], wrong [128];
    snprintf (url, sizeof url, "redis://:p%%40ss%%2Fw%%3Ard@127.0.0.1:%d/3", port);
    snprintf (url_db0, sizeof url_db0, "redis://:p%%40ss%%2Fw%%3Ard@127.0.0.1:%d", port);
    snprintf (wrong, sizeof wrong, "redis://:guess@127.0.0.1:%d", port);
    kv_t *kv = kv_new (url, 1000);
    cr_assert (kv);
    s_wait_answering (kv);
    redisReply *reply = kv_command (kv, "SET drift:test %s", "kept");
    cr_assert (reply && reply->type == REDIS_REPLY_STATUS);
    freeReplyObject (reply);

    //  SELECT 3 took effect: database 0 does not have it.
    kv_t *db0 = kv_new (url_db0, 1000);
    reply = kv_command (db0, "GET drift:test");
    cr_assert (reply && reply->type == REDIS_REPLY_NIL);
    freeReplyObject (reply);
    kv_destroy (&db0);

    //  A wrong password never yields a connection.
    kv_t *refused = kv_new (wrong, 1000);
    cr_assert_null (kv_context (refused));
    cr_assert_null (kv_command (refused, "PING"));
    kv_destroy (&refused);

    //  Redis goes away: commands fail (no hang, no SIGPIPE), then come back
    //  on their own once it is up again.
    tu_stop (s_redis_pid, SIGKILL);
    s_redis_pid = 0;
    reply = kv_command (kv, "GET drift:test");
    cr_assert_null (reply);
    cr_assert_null (kv_command (kv, "GET drift:test"));
    s_redis_start (port, "p@ss/w:rd");
    s_wait_answering (kv);
    reply = kv_command (kv, "SET drift:test %s", "again");
    cr_assert (reply && reply->type == REDIS_REPLY_STATUS);
    freeReplyObject (reply);
    reply = kv_command (kv, "GET drift:test");
    cr_assert (reply && reply->type == REDIS_REPLY_STRING);
    cr_assert_str_eq (reply->str, "again");
    freeReplyObject (reply);

    //  An error reply is a reply, and the connection stays.
    reply = kv_command (kv, "NOSUCHCOMMAND");
    cr_assert (reply && reply->type == REDIS_REPLY_ERROR);
    freeReplyObject (reply);
    cr_assert (kv_context (kv));
    kv_destroy (&kv);
    cr_assert_null (kv);
}

Test (kv, refuses_unusable_urls)
{
    const char *unusable [] = {
        "http://127.0.0.1:6379", "rediss://127.0.0.1:6379", "redis://127.0.0.1:0",
        "redis://127.0.0.1:99999", "redis://127.0.0.1:port", "redis://127.0.0.1:6379/db",
        "redis://127.0.0.1:6379/-1", "redis://password@127.0.0.1", "redis://:p%4@127.0.0.1",
        "redis://127.0.0.1:6379?timeout=1", "redis://[::1"
    };
    for (size_t i = 0; i < sizeof unusable / sizeof unusable [0]; i++)
        cr_assert_null (kv_new (unusable [i], 1000), "%s", unusable [i]);
    const char *usable [] = {
        "redis://127.0.0.1", "redis://localhost:6380/", "redis://:secret@host:1/15",
        "redis://user:secret@host", "redis://[::1]:6379/2", "redis://"
    };
    for (size_t i = 0; i < sizeof usable / sizeof usable [0]; i++) {
        kv_t *kv = kv_new (usable [i], 1000);
        cr_assert (kv, "%s", usable [i]);
        kv_destroy (&kv);
    }
}
