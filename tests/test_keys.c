/*  Agent keys end to end, against the real PostgreSQL and Redis of
    DRIFT_TEST_PG_URL and DRIFT_TEST_REDIS_URL: `drift keys` and `drift
    tenant` as an operator runs them (init, issue, list, revoke; tenant
    create and list). The registry ingest asks is tested in
    test_registry.c, kv's connection in test_kv.c.
    Each test gets its own database and scratch directory (keyutil).
*/
#include "keyutil.h"
#include "../lib/rolekeys.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static ku_env_t s_env;          // this test's directory, database and last output

static void
s_setup (void)
{
    ku_setup (&s_env, "keys");
}

static void
s_teardown (void)
{
    ku_teardown (&s_env);
}

TestSuite (keys, .init = s_setup, .fini = s_teardown, .timeout = 60);
TestSuite (tenant, .init = s_setup, .fini = s_teardown, .timeout = 60);

//  --------------------------------------------------------------------------
//  Helpers

//  Run `drift ARGS...`: its exit code, with stdout and stderr in s_env.output.
#define s_drift(...) ku_drift (&s_env, __VA_ARGS__)

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

//  --------------------------------------------------------------------------
//  drift keys init

Test (keys, init_writes_a_private_secret_once_and_never_overwrites)
{
    cr_assert_eq (s_drift ("keys", "init", "--keys-dir", s_env.keys), 0, "%s", s_env.output);
    char public_path [128], secret_path [128];
    snprintf (public_path, sizeof public_path, "%s/server.key", s_env.keys);
    snprintf (secret_path, sizeof secret_path, "%s/server.key_secret", s_env.keys);
    cr_assert_eq (s_mode (s_env.keys), 0700, "the directory holding the secret is private");
    cr_assert_eq (s_mode (secret_path), 0600);

    zcert_t *server = zcert_load (secret_path);
    cr_assert (server);
    char expected [80];
    snprintf (expected, sizeof expected, "server-key = %s\n", zcert_public_txt (server));
    cr_assert (strstr (s_env.output, expected), "the public key is printed:\n%s", s_env.output);
    cr_assert_null (strstr (s_env.output, zcert_secret_txt (server)), "never the secret one");
    zcert_t *public_only = zcert_load (public_path);
    cr_assert (public_only);
    cr_assert_str_eq (zcert_public_txt (public_only), zcert_public_txt (server));
    zcert_destroy (&public_only);

    //  normalize's mask key: 64 hex digits, private.
    char mask_path [128];
    snprintf (mask_path, sizeof mask_path, "%s/mask.key", s_env.keys);
    cr_assert_eq (s_mode (mask_path), 0600);
    char *mask = s_read_file (mask_path);
    cr_assert_eq (strspn (mask, "0123456789abcdef"), 64);
    cr_assert_null (strstr (s_env.output, mask), "the mask key is never printed");
    //  archive's sealing key: the same, and a different key.
    char archive_path [128];
    snprintf (archive_path, sizeof archive_path, "%s/archive.key", s_env.keys);
    cr_assert_eq (s_mode (archive_path), 0600);
    char *archive = s_read_file (archive_path);
    cr_assert_eq (strspn (archive, "0123456789abcdef"), 64);
    cr_assert_null (strstr (s_env.output, archive), "the archive key is never printed");
    cr_assert_neq (memcmp (archive, mask, 64), 0);
    //  The channels' sealing key: the same again, a key of its own.
    char channel_path [128];
    snprintf (channel_path, sizeof channel_path, "%s/channel.key", s_env.keys);
    cr_assert_eq (s_mode (channel_path), 0600);
    char *channel = s_read_file (channel_path);
    cr_assert_eq (strspn (channel, "0123456789abcdef"), 64);
    cr_assert_null (strstr (s_env.output, channel), "the channel key is never printed");
    cr_assert_neq (memcmp (channel, archive, 64), 0);
    free (channel);

    //  A second run keeps the keypair (agents hold its public key) and the
    //  mask key (markers must stay comparable).
    char *before = s_read_file (secret_path);
    cr_assert_eq (s_drift ("keys", "init", "--keys-dir", s_env.keys), 0, "%s", s_env.output);
    cr_assert (strstr (s_env.output, expected), "the existing key is printed:\n%s", s_env.output);
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
    cr_assert_eq (s_drift ("keys", "init", "--keys-dir", s_env.keys), 1, "%s", s_env.output);
    cr_assert (strstr (s_env.output, "refusing to overwrite"), "%s", s_env.output);
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
    cr_assert_eq (s_drift ("keys", "init", "--keys-dir", s_env.keys), 0, "%s", s_env.output);
    char path [256];
    snprintf (path, sizeof path, "%s/broker.key_secret", s_env.keys);
    cr_assert_eq (s_mode (path), 0600);
    zcert_t *broker = zcert_load (path);
    cr_assert (broker);
    cr_assert_null (strstr (s_env.output, zcert_secret_txt (broker)), "no secret printed");
    snprintf (path, sizeof path, "%s/broker-roles", s_env.keys);
    rolekeys_t *allowed = rolekeys_new (path);
    const char *roles [] = { "ingest", "normalize", "score", "archive", "notify", "replayer",
                             "operator" };
    cr_assert_eq (rolekeys_size (allowed), 7, "one listed key per role");
    char *before [7];
    for (int i = 0; i < 7; i++) {
        snprintf (path, sizeof path, "%s/roles/%s.key_secret", s_env.keys, roles [i]);
        cr_assert_eq (s_mode (path), 0600, "%s", path);
        zcert_t *cert = zcert_load (path);
        cr_assert (cert, "%s", path);
        cr_assert_null (strstr (s_env.output, zcert_secret_txt (cert)));
        cr_assert_str_eq (rolekeys_roles (allowed, zcert_public_txt (cert)), roles [i],
                          "the broker lists %s's key with its role", roles [i]);
        before [i] = s_read_file (path);
        zcert_destroy (&cert);
        snprintf (path, sizeof path, "%s/broker-roles/%s.key_secret", s_env.keys, roles [i]);
        cr_assert_neq (access (path, F_OK), 0, "no secret in the broker's list");
    }
    rolekeys_destroy (&allowed);
    cr_assert_eq (s_drift ("keys", "init", "--keys-dir", s_env.keys), 0, "%s", s_env.output);
    for (int i = 0; i < 7; i++) {
        snprintf (path, sizeof path, "%s/roles/%s.key_secret", s_env.keys, roles [i]);
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
    cr_assert_eq (s_drift ("tenant", "create", "acme", "--database", s_env.url), 0, "%s", s_env.output);
    cr_assert (strstr (s_env.output, "created tenant 'acme'"), "%s", s_env.output);
    char longest [64];
    memset (longest, 'a', 63);
    longest [63] = 0;
    cr_assert_eq (s_drift ("tenant", "create", longest, "--database", s_env.url), 0, "%s", s_env.output);

    cr_assert_eq (s_drift ("tenant", "create", "acme", "--database", s_env.url), 1);
    cr_assert (strstr (s_env.output, "tenant 'acme' already exists"), "%s", s_env.output);
    char too_long [65];
    memset (too_long, 'a', 64);
    too_long [64] = 0;
    const char *invalid [] = { "Acme", "-acme", "ac me", "acme_1", "", too_long,
                               "x'); DROP TABLE tenants; --" };
    for (size_t i = 0; i < sizeof invalid / sizeof invalid [0]; i++) {
        cr_assert_eq (s_drift ("tenant", "create", invalid [i], "--database", s_env.url), 1,
                      "'%s' refused: %s", invalid [i], s_env.output);
        cr_assert (strstr (s_env.output, "invalid tenant name"), "%s", s_env.output);
    }
    cr_assert_eq (tu_query_long (s_env.url, "SELECT count (*) FROM tenants"), 2);

    cr_assert_eq (s_drift ("tenant", "list", "--database", s_env.url), 0, "%s", s_env.output);
    cr_assert (strstr (s_env.output, "\nacme "), "%s", s_env.output);
    cr_assert (strstr (s_env.output, longest), "%s", s_env.output);

    cr_assert_eq (s_drift ("tenant", "--database", s_env.url), 2, "no subcommand is a usage error");
    cr_assert_eq (s_drift ("tenant", "create", "a", "b", "--database", s_env.url), 2);
    char *dead = ku_dead_postgresql ();
    cr_assert_eq (s_drift ("tenant", "list", "--database", dead), 3, "%s", s_env.output);
    free (dead);
}

//  --------------------------------------------------------------------------
//  drift keys issue, list, revoke

Test (keys, issue_registers_the_key_and_writes_a_loadable_certificate)
{
    cr_assert_eq (s_drift ("keys", "init", "--keys-dir", s_env.keys), 0, "%s", s_env.output);
    cr_assert_eq (s_drift ("tenant", "create", "acme", "--database", s_env.url), 0, "%s", s_env.output);
    char out [128], server_path [128];
    snprintf (out, sizeof out, "%s/web.cert", s_env.dir);
    snprintf (server_path, sizeof server_path, "%s/server.key", s_env.keys);
    cr_assert_eq (s_drift ("keys", "issue", "--tenant", "acme", "--name", "web", "--out", out,
                           "--agent-endpoint", "tcp://ingest.example:5560", "--keys-dir", s_env.keys,
                           "--database", s_env.url, "--redis", s_env.redis), 0, "%s", s_env.output);

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
    cr_assert_null (strstr (s_env.output, zcert_secret_txt (cert)), "the secret is never printed");

    //  Registered under its tenant.
    char sql [256];
    snprintf (sql, sizeof sql, "SELECT count (*) FROM agents a JOIN tenants t ON t.id = a.tenant_id"
              " WHERE t.name = 'acme' AND a.name = 'web' AND a.revoked_at IS NULL"
              " AND a.public_key = '%s'", zcert_public_txt (cert));
    cr_assert_eq (tu_query_long (s_env.url, sql), 1);

    //  The agent's configuration, ready to paste.
    zcert_t *server = zcert_load (server_path);
    char line [192];
    snprintf (line, sizeof line, "\nserver-key = %s\n", zcert_public_txt (server));
    cr_assert (strstr (s_env.output, line), "%s", s_env.output);
    cr_assert (strstr (s_env.output, "\nendpoint = tcp://ingest.example:5560\n"), "%s", s_env.output);
    snprintf (line, sizeof line, "\ncertificate = %s\n", out);
    cr_assert (strstr (s_env.output, line), "%s", s_env.output);
    cr_assert (strstr (s_env.output, zcert_public_txt (cert)), "%s", s_env.output);
    zcert_destroy (&server);

    //  Listed.
    cr_assert_eq (s_drift ("keys", "list", "--tenant", "acme", "--database", s_env.url), 0);
    cr_assert (strstr (s_env.output, zcert_public_txt (cert)), "%s", s_env.output);

    //  Refused: a name in use, a tenant that does not exist, an existing
    //  file, no server keypair. Nothing is registered or left behind.
    char other [128];
    snprintf (other, sizeof other, "%s/other.cert", s_env.dir);
    cr_assert_eq (s_drift ("keys", "issue", "--tenant", "acme", "--name", "web", "--out", other,
                           "--keys-dir", s_env.keys, "--database", s_env.url, "--redis", s_env.redis), 1);
    cr_assert (strstr (s_env.output, "already has an agent 'web'"), "%s", s_env.output);
    cr_assert_eq (s_drift ("keys", "issue", "--tenant", "nobody", "--name", "web", "--out", other,
                           "--keys-dir", s_env.keys, "--database", s_env.url, "--redis", s_env.redis), 1);
    cr_assert (strstr (s_env.output, "no tenant 'nobody'"), "%s", s_env.output);
    cr_assert_neq (access (other, F_OK), 0);
    cr_assert_eq (s_drift ("keys", "issue", "--tenant", "acme", "--name", "api", "--out", out,
                           "--keys-dir", s_env.keys, "--database", s_env.url, "--redis", s_env.redis), 1);
    cr_assert (strstr (s_env.output, "not overwriting"), "%s", s_env.output);
    zcert_t *again = zcert_load (out);
    cr_assert (zcert_eq (again, cert), "the existing certificate is untouched");
    zcert_destroy (&again);
    cr_assert_eq (s_drift ("keys", "issue", "--tenant", "acme", "--name", "api", "--out", other,
                           "--keys-dir", s_env.dir, "--database", s_env.url, "--redis", s_env.redis), 2);
    cr_assert (strstr (s_env.output, "run `drift keys init"), "%s", s_env.output);
    cr_assert_eq (tu_query_long (s_env.url, "SELECT count (*) FROM agents"), 1);
    cr_assert_eq (s_drift ("keys", "issue", "--tenant", "acme", "--database", s_env.url), 2);
    zcert_destroy (&cert);
}

Test (keys, revoke_marks_the_agent_and_refuses_unknown_or_revoked_ones)
{
    char key [41];
    ku_issue (&s_env, "acme", "web", key);
    cr_assert_eq (s_drift ("keys", "revoke", "--tenant", "acme", "--name", "web",
                           "--database", s_env.url, "--redis", s_env.redis), 0, "%s", s_env.output);
    cr_assert (strstr (s_env.output, "revoked agent 'web' of tenant 'acme'"), "%s", s_env.output);
    cr_assert_eq (tu_query_long (s_env.url, "SELECT count (*) FROM agents WHERE revoked_at IS NOT NULL"), 1);

    cr_assert_eq (s_drift ("keys", "revoke", "--tenant", "acme", "--name", "web",
                           "--database", s_env.url, "--redis", s_env.redis), 1);
    cr_assert_eq (s_drift ("keys", "revoke", "--key", key, "--database", s_env.url, "--redis", s_env.redis), 1);
    cr_assert (strstr (s_env.output, "already revoked"), "%s", s_env.output);
    char unknown [41];
    ku_unknown_key (unknown);
    cr_assert_eq (s_drift ("keys", "revoke", "--key", unknown, "--database", s_env.url, "--redis", s_env.redis), 1);
    cr_assert (strstr (s_env.output, "no agent has the key"), "%s", s_env.output);
    cr_assert_eq (s_drift ("keys", "revoke", "--key", "not-a-key", "--database", s_env.url), 2);
    cr_assert_eq (s_drift ("keys", "revoke", "--tenant", "acme", "--database", s_env.url), 2);

    //  The name can be issued again; the old key stays revoked.
    char out [128];
    snprintf (out, sizeof out, "%s/web2.cert", s_env.dir);
    cr_assert_eq (s_drift ("keys", "issue", "--tenant", "acme", "--name", "web", "--out", out,
                           "--keys-dir", s_env.keys, "--database", s_env.url, "--redis", s_env.redis), 0,
                  "%s", s_env.output);
    cr_assert_eq (s_drift ("keys", "list", "--database", s_env.url), 0);
    cr_assert (strstr (s_env.output, key), "%s", s_env.output);
    cr_assert_eq (tu_query_long (s_env.url, "SELECT count (*) FROM agents WHERE revoked_at IS NULL"), 1);
}
