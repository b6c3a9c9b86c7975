/*  audit: the tenant's audit log (schema 0022) in SQL, as the application
    role drift_app meets it, and as `drift keys` and `drift token` write it.
    Its HTTP side (the entries each API change leaves, failed logins, who
    may read it, pages, a change that cannot be recorded) is tested over
    real HTTP with the rest of the API in test_api.c ("The audit log").

    What must hold here: drift_audit () files an entry under the tenant and
    actor set; drift_app can neither change nor remove an entry (UPDATE,
    DELETE, TRUNCATE refused), sees no other tenant's and cannot write into
    one, and gets no entry without an actor; `drift keys issue`, `renew`,
    `revoke`, `drift token create`, `revoke` and `drift tenant ignore`
    leave theirs as cli:USER, and a renewal that failed leaves none.
*/
#include "keyutil.h"
#include "testutil.h"
#include "../lib/migrations.h"

#include <criterion/criterion.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *s_url;             // the test's database, as its owner
static char *s_app_url;         // ... as a drift_app login

//  --------------------------------------------------------------------------
//  Append-only, one tenant at a time, as drift_app

//  Run sql on conn: its status, and row 0's first column into value (if
//  not NULL, up to size bytes; "" when none).
static ExecStatusType
s_sql (PGconn *conn, const char *sql, char *value, size_t size)
{
    PGresult *result = PQexec (conn, sql);
    ExecStatusType status = PQresultStatus (result);
    if (value)
        snprintf (value, size, "%s", status == PGRES_TUPLES_OK && PQntuples (result) > 0
                                     ? PQgetvalue (result, 0, 0) : "");
    PQclear (result);
    return status;
}

//  As drift_app: tenant set, an actor named, in a transaction left open.
static void
s_as (PGconn *conn, const char *tenant)
{
    char sql [300];
    cr_assert_eq (s_sql (conn, "BEGIN", NULL, 0), PGRES_COMMAND_OK);
    snprintf (sql, sizeof sql, "SELECT drift_set_tenant ('%s'),"
              " set_config ('drift.actor', 'cli:test', true)", tenant);
    cr_assert_eq (s_sql (conn, sql, NULL, 0), PGRES_TUPLES_OK, "%s", PQerrorMessage (conn));
}

Test (audit, the_log_is_append_only_and_per_tenant_for_drift_app)
{
    s_url = tu_fresh_database ();
    cr_assert_gt (migrations_apply (s_url), 0);
    s_app_url = tu_app_url (s_url);
    char acme [37], globex [37], key [41], value [64];
    tu_tenant_agent (s_url, "acme", acme, key);
    tu_tenant_agent (s_url, "globex", globex, key);
    PGconn *app = PQconnectdb (s_app_url);
    cr_assert_eq (PQstatus (app), CONNECTION_OK);

    //  drift_audit adds an entry to the tenant set, by the actor set.
    s_as (app, acme);
    cr_assert_eq (s_sql (app, "SELECT drift_audit ('suppression.create', 'x',"
                              " '{\"pattern\": \"a\"}')", value, sizeof value), PGRES_TUPLES_OK,
                  "%s", PQerrorMessage (app));
    cr_assert_eq (s_sql (app, "COMMIT", NULL, 0), PGRES_COMMAND_OK);
    cr_assert_eq (tu_query_long (s_url, "SELECT count (*) FROM audit_log WHERE actor = 'cli:test'"
                                        " AND tenant_id IS NOT NULL"), 1);

    //  Neither changed nor removed, not even one's own tenant's.
    static const char *const refused [] = {
        "UPDATE audit_log SET action = 'nothing.happened'",
        "UPDATE audit_log SET detail = '{}' WHERE id > 0",
        "DELETE FROM audit_log",
        "TRUNCATE audit_log"
    };
    for (size_t i = 0; i < sizeof refused / sizeof refused [0]; i++) {
        s_as (app, acme);
        cr_assert_eq (s_sql (app, refused [i], NULL, 0), PGRES_FATAL_ERROR, "%s", refused [i]);
        cr_assert (strstr (PQerrorMessage (app), "permission denied"), "%s: %s", refused [i],
                   PQerrorMessage (app));
        s_sql (app, "ROLLBACK", NULL, 0);
    }
    cr_assert_eq (tu_query_long (s_url, "SELECT count (*) FROM audit_log"
                                        " WHERE action = 'suppression.create'"), 1);

    //  Another tenant sees none of it, and cannot write into it.
    s_as (app, globex);
    cr_assert_eq (s_sql (app, "SELECT count (*) FROM audit_log", value, sizeof value),
                  PGRES_TUPLES_OK);
    cr_assert_str_eq (value, "0");
    char sql [300];
    snprintf (sql, sizeof sql, "SELECT drift_audit ('channel.delete', 'x', '{}', '%s')", acme);
    cr_assert_eq (s_sql (app, sql, NULL, 0), PGRES_FATAL_ERROR);
    cr_assert (strstr (PQerrorMessage (app), "row-level security"), "%s", PQerrorMessage (app));
    s_sql (app, "ROLLBACK", NULL, 0);
    s_as (app, globex);
    snprintf (sql, sizeof sql, "INSERT INTO audit_log (tenant_id, actor, action)"
              " VALUES ('%s', 'cli:test', 'channel.delete')", acme);
    cr_assert_eq (s_sql (app, sql, NULL, 0), PGRES_FATAL_ERROR);
    s_sql (app, "ROLLBACK", NULL, 0);

    //  An entry must say who: no actor, no entry (and no change with it).
    cr_assert_eq (s_sql (app, "BEGIN", NULL, 0), PGRES_COMMAND_OK);
    snprintf (sql, sizeof sql, "SELECT drift_set_tenant ('%s')", acme);
    cr_assert_eq (s_sql (app, sql, NULL, 0), PGRES_TUPLES_OK);
    cr_assert_eq (s_sql (app, "SELECT drift_audit ('channel.delete', 'x')", NULL, 0),
                  PGRES_FATAL_ERROR);
    cr_assert (strstr (PQerrorMessage (app), "no actor"), "%s", PQerrorMessage (app));
    s_sql (app, "ROLLBACK", NULL, 0);
    //  Without a tenant set, drift_app sees no entry at all.
    cr_assert_eq (s_sql (app, "SELECT count (*) FROM audit_log", value, sizeof value),
                  PGRES_TUPLES_OK);
    cr_assert_str_eq (value, "0", "drift_app without a tenant sees entries");
    PQfinish (app);
    free (s_app_url);
    s_app_url = NULL;
    tu_drop_database (s_url);
    s_url = NULL;
}

//  --------------------------------------------------------------------------
//  drift keys, drift token, drift tenant

Test (audit, drift_commands_are_recorded_as_the_os_user)
{
    ku_env_t env;
    ku_setup (&env, "audit-keys");
    char key [41];
    ku_issue (&env, "acme", "web", key);
    cr_assert_eq (ku_drift (&env, "keys", "renew", "--tenant", "acme", "--name", "web",
                            "--out", "/dev/null/x", "--keys-dir", env.keys,
                            "--database", env.url), 1, "%s", env.output);
    char out [160];
    snprintf (out, sizeof out, "%s/web-renewed.cert", env.dir);
    cr_assert_eq (ku_drift (&env, "keys", "renew", "--tenant", "acme", "--name", "web",
                            "--out", out, "--keys-dir", env.keys, "--database", env.url),
                  0, "%s", env.output);
    cr_assert_eq (ku_drift (&env, "keys", "revoke", "--tenant", "acme", "--name", "web",
                            "--database", env.url, "--redis", env.redis), 0, "%s", env.output);

    char sql [400];
    static const char *const actions [] = {
        "agent_key.issue", "agent_cert.issue", "agent_cert.renew", "agent_key.revoke"
    };
    for (size_t i = 0; i < 4; i++) {
        snprintf (sql, sizeof sql, "SELECT count (*) FROM audit_log l JOIN tenants t"
                  " ON t.id = l.tenant_id JOIN agents a ON a.id::text = l.target"
                  " WHERE t.name = 'acme' AND a.name = 'web' AND l.action = '%s'"
                  " AND l.actor LIKE 'cli:_%%' AND l.source = 'local'"
                  " AND l.detail ->> 'public_key' = '%s'", actions [i], key);
        cr_assert_eq (tu_query_long (env.url, sql), 1, "%s", actions [i]);
    }
    //  A renewal that failed (its files could not be written) left no entry.
    cr_assert_eq (tu_query_long (env.url, "SELECT count (*) FROM audit_log"
                                          " WHERE action = 'agent_cert.renew'"), 1);

    //  drift token: made and revoked, by name, the token's id as target.
    cr_assert_eq (ku_drift (&env, "token", "create", "acme", "nightly", "--role", "viewer",
                            "--database", env.url), 0, "%s", env.output);
    cr_assert_eq (ku_drift (&env, "token", "revoke", "acme", "nightly", "--database", env.url),
                  0, "%s", env.output);
    for (size_t i = 0; i < 2; i++) {
        snprintf (sql, sizeof sql, "SELECT count (*) FROM audit_log l JOIN api_tokens k"
                  " ON k.id::text = l.target AND k.tenant_id = l.tenant_id"
                  " WHERE k.name = 'nightly' AND l.action = '%s' AND l.actor LIKE 'cli:_%%'"
                  " AND l.detail ->> 'name' = 'nightly'", i ? "token.revoke" : "token.create");
        cr_assert_eq (tu_query_long (env.url, sql), 1, "token entry %zu", i);
    }

    //  drift tenant ignore: the tenant's settings, their size (not content).
    char ignore [160];
    snprintf (ignore, sizeof ignore, "%s/driftignore", env.dir);
    FILE *file = fopen (ignore, "w");
    cr_assert (file);
    fputs ("aws_instance.web\n", file);
    fclose (file);
    cr_assert_eq (ku_drift (&env, "tenant", "ignore", "acme", ignore, "--database", env.url),
                  0, "%s", env.output);
    cr_assert_eq (tu_query_long (env.url, "SELECT count (*) FROM audit_log l JOIN tenants t"
                                          " ON t.id = l.tenant_id WHERE t.name = 'acme'"
                                          " AND l.action = 'tenant.driftignore'"
                                          " AND l.target = 'acme' AND l.actor LIKE 'cli:_%'"
                                          " AND (l.detail ->> 'bytes')::int = 17"), 1);
    ku_teardown (&env);
}
