/*  rls: row-level security of the archive schema (migration 0007) against a
    real PostgreSQL. The owner writes two tenants' rows into every tenant
    table; then a LOGIN user in drift_app, as the services connect, scoped
    to tenant A with drift_set_tenant inside a transaction, reads only A's
    rows, updates and deletes none of B's, cannot write a row for B, sees
    nothing with no tenant set, and gets nowhere with the crafted queries a
    bug or an injection might produce. The limit is shown too: SQL that can
    call set_config can choose its tenant. The key registry's look-up works
    across tenants only through drift_agent_by_key.
    Each test gets its own database and its own login role.
*/
#include "testutil.h"
#include "../lib/log.h"
#include "../lib/migrations.h"

#include <criterion/criterion.h>
#include <libpq-fe.h>
#include <string.h>
#include <unistd.h>

#define A "00000000-0000-0000-0000-00000000000a"
#define B "00000000-0000-0000-0000-00000000000b"
#define STACK_A "00000000-0000-0000-0001-00000000000a"
#define STACK_B "00000000-0000-0000-0001-00000000000b"
#define AGENT_A "00000000-0000-0000-0002-00000000000a"
#define AGENT_B "00000000-0000-0000-0002-00000000000b"
#define KEY_A "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
#define KEY_B "BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB"
#define USER_A "00000000-0000-0000-0003-00000000000a"
#define USER_B "00000000-0000-0000-0003-00000000000b"
#define SESSION_A "00000000-0000-0000-0004-00000000000a"
#define SESSION_B "00000000-0000-0000-0004-00000000000b"
#define COMMAND_A "00000000-0000-0000-0005-00000000000a"
#define COMMAND_B "00000000-0000-0000-0005-00000000000b"

static char *s_url;             // this test's database, as the owner
static PGconn *s_owner;         // connected as the owner (the server's superuser)
static PGconn *s_app;           // connected as s_role, a member of drift_app
static char s_role [64];        // the login role this test created

//  The tenant tables, how each names its tenant, and whether drift_app may
//  write it (the others it only reads: operator commands write them).
typedef struct {
    const char *name;           // table
    const char *tenant;         // its tenant column
    const char *touch;          // an assignment that changes nothing
    const char *insert_b;       // a new row of tenant B (NULL: not writable)
} table_t;

static const table_t s_tables [] = {
    { "tenants", "id", "name = name", NULL },
    { "agents", "tenant_id", "name = name", NULL },
    { "tenant_rules", "tenant_id", "rules = rules", NULL },
    { "tenant_ignores", "tenant_id", "driftignore = driftignore", NULL },
    { "stacks", "tenant_id", "name = name",
      "INSERT INTO stacks (tenant_id, name, engine) VALUES ('" B "', 'other', 'tofu')" },
    { "reports", "tenant_id", "score = score",
      "INSERT INTO reports (tenant_id, report_id, stack_id, agent_id, received_at, status)"
      " VALUES ('" B "', 'r-new', '" STACK_B "', '" AGENT_B "', now (), 'ok')" },
    { "drift_items", "tenant_id", "score = score",
      "INSERT INTO drift_items (tenant_id, stack_id, fingerprint, address, type, kind, class,"
      " severity, first_seen, last_seen, opened_by_report, last_report)"
      " VALUES ('" B "', '" STACK_B "', 'f-new', 'aws_s3_bucket.y', 'aws_s3_bucket',"
      " 'deleted', 'real', 3, now (), now (), 'r-b', 'r-b')" },
    { "drift_sightings", "tenant_id", "severity = severity",
      "INSERT INTO drift_sightings (tenant_id, stack_id, fingerprint, seen_at, report_id, severity)"
      " VALUES ('" B "', '" STACK_B "', 'f-b', now () + interval '1 hour', 'r-b', 5)" },
    { "suppressions", "tenant_id", "reason = reason",
      "INSERT INTO suppressions (tenant_id, pattern, reason, created_by)"
      " VALUES ('" B "', 'aws_*', 'x', 'mallory')" },
    { "notification_channels", "tenant_id", "name = name",
      "INSERT INTO notification_channels (tenant_id, kind, name)"
      " VALUES ('" B "', 'webhook', 'exfil')" },
    { "users", "tenant_id", "email = email",
      "INSERT INTO users (tenant_id, email, password_hash, role)"
      " VALUES ('" B "', 'mallory@b.example', '$argon2id$x', 'owner')" },
    { "sessions", "tenant_id", "expires_at = expires_at",
      "INSERT INTO sessions (tenant_id, user_id, expires_at)"
      " VALUES ('" B "', '" USER_B "', now () + interval '1 day')" },
    { "refresh_tokens", "tenant_id", "hash = hash",
      "INSERT INTO refresh_tokens (tenant_id, hash, session_id)"
      " VALUES ('" B "', repeat ('c', 64), '" SESSION_B "')" },
    { "password_links", "tenant_id", "hash = hash",
      "INSERT INTO password_links (tenant_id, user_id, hash, created_by, expires_at)"
      " VALUES ('" B "', '" USER_B "', repeat ('c', 64), 'mallory', now ())" },
    { "api_tokens", "tenant_id", "name = name",
      "INSERT INTO api_tokens (tenant_id, name, role, hash, created_by)"
      " VALUES ('" B "', 'exfil', 'admin', repeat ('c', 64), 'mallory')" },
    { "agent_commands", "tenant_id", "stack = stack",
      "INSERT INTO agent_commands (tenant_id, agent_id, kind, requested_by)"
      " VALUES ('" B "', '" AGENT_B "', 'check', 'mallory')" },
    { "agent_command_updates", "tenant_id", "message = message",
      "INSERT INTO agent_command_updates (tenant_id, command_id, seq, state)"
      " VALUES ('" B "', '" COMMAND_B "', 2, 'running')" },
    { "remediation_settings", "tenant_id", "four_eyes = four_eyes",
      "INSERT INTO remediation_settings (tenant_id, four_eyes, updated_by)"
      " VALUES ('" B "', false, 'mallory')" },
    { "audit_log", "tenant_id", "action = action",
      "INSERT INTO audit_log (tenant_id, actor, action)"
      " VALUES ('" B "', 'mallory', 'user.remove')" },
};
#define TABLES (sizeof s_tables / sizeof s_tables [0])

//  --------------------------------------------------------------------------
//  Helpers

static void
s_exec (PGconn *conn, const char *sql)
{
    PGresult *result = PQexec (conn, sql);
    ExecStatusType status = PQresultStatus (result);
    cr_assert (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK, "%s: %s", sql,
               PQresultErrorMessage (result));
    PQclear (result);
}

//  Run sql on the app connection in a transaction of its own, scoped to
//  tenant (NULL: no tenant set), rolled back afterwards so every check
//  starts from the same rows. The result is the caller's.
static PGresult *
s_app_run (const char *tenant, const char *sql)
{
    s_exec (s_app, "BEGIN");
    if (tenant) {
        const char *params [] = { tenant };
        PGresult *set = PQexecParams (s_app, "SELECT drift_set_tenant ($1::uuid)", 1, NULL,
                                      params, NULL, NULL, 0);
        cr_assert (PQresultStatus (set) == PGRES_TUPLES_OK, "%s", PQresultErrorMessage (set));
        PQclear (set);
    }
    PGresult *result = PQexec (s_app, sql);
    PQclear (PQexec (s_app, "ROLLBACK"));
    return result;
}

//  The number sql (a SELECT of one number) answers for tenant.
static long
s_app_count (const char *tenant, const char *sql)
{
    PGresult *result = s_app_run (tenant, sql);
    cr_assert (PQresultStatus (result) == PGRES_TUPLES_OK && PQntuples (result) == 1,
               "%s: %s", sql, PQresultErrorMessage (result));
    long value = atol (PQgetvalue (result, 0, 0));
    PQclear (result);
    return value;
}

//  The rows sql (UPDATE or DELETE) affected for tenant.
static long
s_app_affected (const char *tenant, const char *sql)
{
    PGresult *result = s_app_run (tenant, sql);
    cr_assert (PQresultStatus (result) == PGRES_COMMAND_OK, "%s: %s", sql,
               PQresultErrorMessage (result));
    long value = atol (PQcmdTuples (result));
    PQclear (result);
    return value;
}

//  sql must fail for tenant with SQLSTATE state.
static void
s_app_refused (const char *tenant, const char *sql, const char *state)
{
    PGresult *result = s_app_run (tenant, sql);
    const char *got = PQresultErrorField (result, PG_DIAG_SQLSTATE);
    cr_assert (PQresultStatus (result) == PGRES_FATAL_ERROR && got && strcmp (got, state) == 0,
               "%s: expected SQLSTATE %s, got %s (%s)", sql, state, got ? got : "success",
               PQresultErrorMessage (result));
    PQclear (result);
}

//  Whether drift_app may delete rows of table at all: sessions are revoked,
//  never deleted (migration 0010), set-password links spent and API tokens
//  revoked (0019), commands and their updates kept (0021), remediation
//  settings changed, never removed (0023), the audit log appended to only
//  (0022), so for those the DELETE checks below expect a refusal instead of
//  "no row". An owner removes users (0019).
static bool
s_app_deletes (const char *table)
{
    return strcmp (table, "sessions") && strcmp (table, "refresh_tokens")
        && strcmp (table, "password_links") && strcmp (table, "api_tokens")
        && strcmp (table, "agent_commands") && strcmp (table, "agent_command_updates")
        && strcmp (table, "remediation_settings") && strcmp (table, "audit_log");
}

//  Whether drift_app may update rows of table: the audit log is
//  append-only (0022) and a command's updates are written once (0021), so
//  an UPDATE of them is refused rather than "no row".
static bool
s_app_updates (const char *table)
{
    return strcmp (table, "audit_log") && strcmp (table, "agent_command_updates");
}

//  UPDATE or DELETE sql of table t as tenant touches affected rows when
//  drift_app may, or is refused.
static void
s_app_write (const table_t *t, bool allowed, const char *tenant, const char *sql,
             long affected)
{
    if (allowed)
        cr_expect_eq (s_app_affected (tenant, sql), affected, "%s: %s", t->name, sql);
    else
        s_app_refused (tenant, sql, "42501");
}

static void
s_app_update (const table_t *t, const char *tenant, const char *sql, long affected)
{
    s_app_write (t, s_app_updates (t->name), tenant, sql, affected);
}

static void
s_app_delete (const table_t *t, const char *tenant, const char *sql, long affected)
{
    s_app_write (t, s_app_deletes (t->name), tenant, sql, affected);
}

static PGconn *
s_connect (const char *url)
{
    PGconn *conn = PQconnectdb (url);
    cr_assert (PQstatus (conn) == CONNECTION_OK, "%s", PQerrorMessage (conn));
    PQclear (PQexec (conn, "SET client_min_messages = warning"));
    return conn;
}

//  One row of each tenant in every tenant table, written by the owner.
static void
s_fill (void)
{
    static const char *const rows [] = {
        "INSERT INTO tenants (id, name) VALUES ('" A "', 'tenant-a'), ('" B "', 'tenant-b')",
        "INSERT INTO agents (id, tenant_id, name, public_key) VALUES"
        " ('" AGENT_A "', '" A "', 'ci', '" KEY_A "'), ('" AGENT_B "', '" B "', 'ci', '" KEY_B "')",
        "INSERT INTO tenant_rules (tenant_id, rules) VALUES ('" A "', 'a'), ('" B "', 'b')",
        "INSERT INTO tenant_ignores (tenant_id, driftignore) VALUES ('" A "', 'a'), ('" B "', 'b')",
        "INSERT INTO stacks (tenant_id, id, name, engine) VALUES"
        " ('" A "', '" STACK_A "', 'payments', 'terraform'), ('" B "', '" STACK_B "', 'payments', 'tofu')",
        "INSERT INTO reports (tenant_id, report_id, stack_id, agent_id, received_at, status,"
        " severity, object_key, key_id) VALUES"
        " ('" A "', 'r-a', '" STACK_A "', '" AGENT_A "', now (), 'ok', 4, 'a/payments/r-a', 'k1'),"
        " ('" B "', 'r-b', '" STACK_B "', '" AGENT_B "', now (), 'ok', 5, 'b/payments/r-b', 'k1')",
        "INSERT INTO drift_items (tenant_id, stack_id, fingerprint, address, type, kind, class,"
        " severity, first_seen, last_seen, opened_by_report, last_report) VALUES"
        " ('" A "', '" STACK_A "', 'f-a', 'aws_s3_bucket.x', 'aws_s3_bucket', 'modified', 'real',"
        "  4, now (), now (), 'r-a', 'r-a'),"
        " ('" B "', '" STACK_B "', 'f-b', 'aws_s3_bucket.x', 'aws_s3_bucket', 'modified', 'real',"
        "  5, now (), now (), 'r-b', 'r-b')",
        "INSERT INTO drift_sightings (tenant_id, stack_id, fingerprint, seen_at, report_id,"
        " severity) VALUES ('" A "', '" STACK_A "', 'f-a', now (), 'r-a', 4),"
        " ('" B "', '" STACK_B "', 'f-b', now (), 'r-b', 5)",
        "INSERT INTO suppressions (tenant_id, pattern, reason, created_by) VALUES"
        " ('" A "', 'aws_iam_*', 'managed elsewhere', 'alice'),"
        " ('" B "', 'aws_iam_*', 'managed elsewhere', 'bob')",
        "INSERT INTO notification_channels (tenant_id, kind, name, settings) VALUES"
        " ('" A "', 'email', 'ops', '{\"to\": \"ops@a.example\"}'),"
        " ('" B "', 'webhook', 'ops', '{\"url\": \"https://b.example/hook\"}')",
        "INSERT INTO users (tenant_id, id, email, password_hash, role) VALUES"
        " ('" A "', '" USER_A "', 'alice@a.example', '$argon2id$a', 'owner'),"
        " ('" B "', '" USER_B "', 'bob@b.example', '$argon2id$b', 'owner')",
        "INSERT INTO sessions (tenant_id, id, user_id, expires_at) VALUES"
        " ('" A "', '" SESSION_A "', '" USER_A "', now () + interval '1 day'),"
        " ('" B "', '" SESSION_B "', '" USER_B "', now () + interval '1 day')",
        "INSERT INTO refresh_tokens (tenant_id, hash, session_id) VALUES"
        " ('" A "', repeat ('a', 64), '" SESSION_A "'), ('" B "', repeat ('b', 64), '" SESSION_B "')",
        "INSERT INTO password_links (tenant_id, user_id, hash, created_by, expires_at) VALUES"
        " ('" A "', '" USER_A "', repeat ('a', 64), 'alice', now () + interval '1 day'),"
        " ('" B "', '" USER_B "', repeat ('b', 64), 'bob', now () + interval '1 day')",
        "INSERT INTO api_tokens (tenant_id, name, role, hash, user_id, created_by) VALUES"
        " ('" A "', 'ci', 'viewer', repeat ('a', 64), '" USER_A "', 'alice'),"
        " ('" B "', 'ci', 'admin', repeat ('b', 64), '" USER_B "', 'bob')",
        "INSERT INTO agent_commands (tenant_id, id, agent_id, kind, requested_by) VALUES"
        " ('" A "', '" COMMAND_A "', '" AGENT_A "', 'check', 'alice'),"
        " ('" B "', '" COMMAND_B "', '" AGENT_B "', 'check', 'bob')",
        "INSERT INTO agent_command_updates (tenant_id, command_id, seq, state) VALUES"
        " ('" A "', '" COMMAND_A "', 1, 'received'), ('" B "', '" COMMAND_B "', 1, 'received')",
        //  And a failed login of an address no account has: no tenant's.
        "INSERT INTO audit_log (tenant_id, actor, action) VALUES"
        " ('" A "', '" USER_A "', 'login.success'), ('" B "', '" USER_B "', 'login.success'),"
        " (NULL, 'anonymous', 'login.failure')",
        "INSERT INTO remediation_settings (tenant_id, four_eyes, updated_by) VALUES"
        " ('" A "', true, 'alice'), ('" B "', true, 'bob')",
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows [0]; i++)
        s_exec (s_owner, rows [i]);
}

static void
s_setup (void)
{
    log_init ("test", "logfmt", "error");
    s_url = tu_fresh_database ();
    cr_assert_gt (migrations_apply (s_url), 0);
    s_owner = s_connect (s_url);
    s_fill ();

    static int counter;
    snprintf (s_role, sizeof s_role, "drift_rls_test_%d_%d", (int) getpid (), ++counter);
    char sql [160];
    snprintf (sql, sizeof sql, "CREATE ROLE %s LOGIN IN ROLE drift_app", s_role);
    s_exec (s_owner, sql);
    //  The same server and database as the owner's URL, as the new role.
    const char *at = strchr (strstr (s_url, "://") + 3, '@');
    cr_assert (at, "no user in %s", s_url);
    char url [512];
    snprintf (url, sizeof url, "postgresql://%s%s", s_role, at);
    s_app = s_connect (url);
}

static void
s_teardown (void)
{
    if (s_app)
        PQfinish (s_app);
    s_app = NULL;
    if (s_owner && *s_role) {
        char sql [160];
        snprintf (sql, sizeof sql, "DROP ROLE IF EXISTS %s", s_role);
        s_exec (s_owner, sql);
    }
    s_role [0] = 0;
    if (s_owner)
        PQfinish (s_owner);
    s_owner = NULL;
    if (s_url)
        tu_drop_database (s_url);
    s_url = NULL;
}

TestSuite (rls, .init = s_setup, .fini = s_teardown, .timeout = 60);

//  --------------------------------------------------------------------------
//  Reading, writing and the tenant setting

Test (rls, tenant_a_reads_only_its_own_rows)
{
    char sql [256];
    for (size_t i = 0; i < TABLES; i++) {
        const table_t *t = &s_tables [i];
        snprintf (sql, sizeof sql, "SELECT count(*) FROM %s", t->name);
        cr_expect_eq (s_app_count (A, sql), 1, "%s: A sees one row", t->name);
        snprintf (sql, sizeof sql, "SELECT count(*) FROM %s WHERE %s = '" A "'", t->name, t->tenant);
        cr_expect_eq (s_app_count (A, sql), 1, "%s: the row is A's", t->name);
        snprintf (sql, sizeof sql, "SELECT count(*) FROM %s WHERE %s = '" B "'", t->name, t->tenant);
        cr_expect_eq (s_app_count (A, sql), 0, "%s: asked for B's rows by name", t->name);
    }
}

Test (rls, tenant_a_updates_and_deletes_none_of_b)
{
    char sql [256];
    for (size_t i = 0; i < TABLES; i++) {
        const table_t *t = &s_tables [i];
        if (!t->insert_b) {
            //  Not the services' to write at all.
            snprintf (sql, sizeof sql, "UPDATE %s SET %s", t->name, t->touch);
            s_app_refused (A, sql, "42501");
            snprintf (sql, sizeof sql, "DELETE FROM %s", t->name);
            s_app_refused (A, sql, "42501");
            continue;
        }
        snprintf (sql, sizeof sql, "UPDATE %s SET %s WHERE %s = '" B "'", t->name, t->touch, t->tenant);
        s_app_update (t, A, sql, 0);
        snprintf (sql, sizeof sql, "DELETE FROM %s WHERE %s = '" B "'", t->name, t->tenant);
        s_app_delete (t, A, sql, 0);
        //  No WHERE at all: only A's row.
        snprintf (sql, sizeof sql, "UPDATE %s SET %s", t->name, t->touch);
        s_app_update (t, A, sql, 1);
        snprintf (sql, sizeof sql, "DELETE FROM %s", t->name);
        s_app_delete (t, A, sql, 1);
    }
    //  And B's rows are all still there, as the owner sees them.
    for (size_t i = 0; i < TABLES; i++) {
        snprintf (sql, sizeof sql, "SELECT count(*) FROM %s WHERE %s = '" B "'",
                  s_tables [i].name, s_tables [i].tenant);
        cr_expect_eq (tu_query_long (s_url, sql), 1, "%s", s_tables [i].name);
    }
}

Test (rls, tenant_a_cannot_write_a_row_of_b)
{
    char sql [256];
    for (size_t i = 0; i < TABLES; i++) {
        const table_t *t = &s_tables [i];
        if (!t->insert_b)
            continue;
        //  WITH CHECK: "new row violates row-level security policy".
        s_app_refused (A, t->insert_b, "42501");
        //  Nor move its own row to B.
        snprintf (sql, sizeof sql, "UPDATE %s SET tenant_id = '" B "'", t->name);
        s_app_refused (A, sql, "42501");
    }
    //  Tables the services only read refuse inserts outright.
    s_app_refused (A, "INSERT INTO tenants (name) VALUES ('mallory')", "42501");
    //  Agents: the dashboard API issues and revokes its own tenant's
    //  (schema 0011), never another's, and changes nothing else of one.
    s_app_refused (A, "INSERT INTO agents (tenant_id, name, public_key)"
                      " VALUES ('" B "', 'x', 'CCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCC')", "42501");
    cr_expect_eq (s_app_affected (A, "UPDATE agents SET revoked_at = now () WHERE tenant_id = '"
                                     B "'"), 0, "agents: revoking B's");
    s_app_refused (A, "UPDATE agents SET public_key = 'CCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCC'",
                   "42501");
    s_app_refused (A, "INSERT INTO tenant_rules (tenant_id, rules) VALUES ('" A "', 'x')", "42501");
    //  Command updates: A's may be added, never one of B's command.
    s_app_refused (A, "INSERT INTO agent_command_updates (tenant_id, command_id, seq, state)"
                      " VALUES ('" B "', '" COMMAND_B "', 2, 'running')", "42501");
    cr_expect_eq (s_app_affected (A, "INSERT INTO agent_command_updates (tenant_id, command_id,"
                                     " seq, state) VALUES ('" A "', '" COMMAND_A "', 2, 'running')"),
                  1, "agent_command_updates: A adds its own");
}

Test (rls, no_tenant_set_sees_nothing_and_writes_nothing)
{
    char sql [256];
    for (size_t i = 0; i < TABLES; i++) {
        const table_t *t = &s_tables [i];
        snprintf (sql, sizeof sql, "SELECT count(*) FROM %s", t->name);
        cr_expect_eq (s_app_count (NULL, sql), 0, "%s: never set", t->name);
        if (t->insert_b) {
            s_app_refused (NULL, t->insert_b, "42501");
            snprintf (sql, sizeof sql, "DELETE FROM %s", t->name);
            s_app_delete (t, NULL, sql, 0);
        }
    }
    //  An empty setting (what a reset custom setting reads as) is no cast
    //  error and no tenant either.
    s_exec (s_app, "SELECT set_config ('drift.tenant', '', false)");
    cr_expect_eq (s_app_count (NULL, "SELECT count(*) FROM drift_items"), 0);
    cr_expect_eq (s_app_count (NULL, "SELECT count(*) FROM reports"), 0);
    s_exec (s_app, "RESET drift.tenant");
}

Test (rls, tenant_setting_ends_with_its_transaction)
{
    //  A pooled connection reused by the next job carries no tenant over.
    s_exec (s_app, "BEGIN");
    s_exec (s_app, "SELECT drift_set_tenant ('" A "')");
    s_exec (s_app, "COMMIT");
    cr_expect_eq (s_app_count (NULL, "SELECT count(*) FROM stacks"), 0);
    cr_expect_eq (s_app_count (NULL, "SELECT count(*) FROM drift_items"), 0);
}

//  --------------------------------------------------------------------------
//  Crafted queries

Test (rls, crafted_queries_reach_nothing_of_b)
{
    //  Joins and subqueries on B's ids: every table on the way is filtered.
    cr_expect_eq (s_app_count (A, "SELECT count(*) FROM drift_items d"
                                  " JOIN stacks s ON s.tenant_id = d.tenant_id AND s.id = d.stack_id"
                                  " WHERE s.id = '" STACK_B "'"), 0);
    cr_expect_eq (s_app_count (A, "SELECT count(*) FROM reports WHERE stack_id IN"
                                  " (SELECT id FROM stacks WHERE tenant_id = '" B "')"), 0);
    cr_expect_eq (s_app_count (A, "SELECT count(*) FROM reports r, stacks s"
                                  " WHERE r.stack_id = '" STACK_B "' OR s.id = '" STACK_B "'"), 0);
    cr_expect_eq (s_app_count (A, "SELECT count(*) FROM (SELECT tenant_id FROM drift_items"
                                  " UNION ALL SELECT tenant_id FROM suppressions) u"
                                  " WHERE tenant_id = '" B "'"), 0);
    cr_expect_eq (s_app_count (A, "SELECT count(*) FROM drift_items WHERE true OR tenant_id = '" B "'"), 1);
    //  A's row pointing into B's stack: the foreign key names the tenant too.
    s_app_refused (A, "INSERT INTO drift_items (tenant_id, stack_id, fingerprint, address, type,"
                      " kind, class, severity, first_seen, last_seen, opened_by_report, last_report)"
                      " VALUES ('" A "', '" STACK_B "', 'f-x', 'a', 't', 'deleted', 'real', 3,"
                      " now (), now (), 'r-a', 'r-a')", "23503");
    s_app_refused (A, "INSERT INTO reports (tenant_id, report_id, stack_id, agent_id, received_at, status)"
                      " VALUES ('" A "', 'r-x', '" STACK_A "', '" AGENT_B "', now (), 'ok')", "23503");
    //  What it would take to switch the policies off, the role may not do.
    s_app_refused (A, "SET LOCAL row_security = off; SELECT count(*) FROM stacks", "42501");
    s_app_refused (A, "ALTER TABLE drift_items DISABLE ROW LEVEL SECURITY", "42501");
    s_app_refused (A, "ALTER TABLE drift_items NO FORCE ROW LEVEL SECURITY", "42501");
    s_app_refused (A, "CREATE POLICY open ON drift_items USING (true)", "42501");
    s_app_refused (A, "DROP POLICY drift_items_tenant ON drift_items", "42501");
    s_app_refused (A, "TRUNCATE drift_items", "42501");
    s_app_refused (A, "SET ROLE postgres", "42501");
    s_app_refused (A, "CREATE FUNCTION peek () RETURNS bigint LANGUAGE sql SECURITY DEFINER"
                      " AS 'SELECT count(*) FROM drift_items'", "42501");
}

//  The honest limit: the setting is the session's own, so SQL that can call
//  set_config (an injection into a statement that runs anything) can pick
//  any tenant. Row-level security here catches application bugs, not
//  arbitrary SQL; that must be kept out by parameters, never concatenation.
Test (rls, arbitrary_sql_can_choose_its_tenant)
{
    cr_expect_eq (s_app_count (A, "SELECT count(*) FROM drift_items WHERE tenant_id = '" B "'"), 0);
    //  A session SET after the transaction-local one wins, and outlives it.
    s_exec (s_app, "BEGIN");
    s_exec (s_app, "SELECT drift_set_tenant ('" A "')");
    s_exec (s_app, "SET drift.tenant = '" B "'");
    s_exec (s_app, "COMMIT");
    cr_expect_eq (s_app_count (NULL, "SELECT count(*) FROM drift_items WHERE tenant_id = '" B "'"), 1);
    s_exec (s_app, "RESET drift.tenant");
    cr_expect_eq (s_app_count (NULL, "SELECT count(*) FROM drift_items"), 0);
}

//  --------------------------------------------------------------------------
//  The role and the registry's look-up

Test (rls, app_role_cannot_skip_the_policies)
{
    char sql [512];
    snprintf (sql, sizeof sql,
              "SELECT count(*) FROM pg_roles WHERE rolname IN ('drift_app', '%s')"
              " AND NOT rolsuper AND NOT rolbypassrls", s_role);
    cr_expect_eq (tu_query_long (s_url, sql), 2);
    snprintf (sql, sizeof sql,
              "SELECT count(*) FROM pg_class c JOIN pg_roles r ON r.oid = c.relowner"
              " WHERE r.rolname IN ('drift_app', '%s')", s_role);
    cr_expect_eq (tu_query_long (s_url, sql), 0, "the app roles own nothing");
    for (size_t i = 0; i < TABLES; i++) {
        snprintf (sql, sizeof sql,
                  "SELECT count(*) FROM pg_class WHERE relname = '%s'"
                  " AND relrowsecurity AND relforcerowsecurity", s_tables [i].name);
        cr_expect_eq (tu_query_long (s_url, sql), 1, "%s: ENABLE and FORCE", s_tables [i].name);
    }
    //  As the session itself sees it.
    cr_expect_eq (s_app_count (NULL, "SELECT count(*) FROM pg_roles WHERE rolname = current_user"
                                     " AND (rolsuper OR rolbypassrls)"), 0);
}

Test (rls, agent_by_key_is_the_only_way_across_tenants)
{
    cr_expect_eq (s_app_count (NULL, "SELECT count(*) FROM agents"), 0);
    cr_expect_eq (s_app_count (NULL, "SELECT count(*) FROM agents WHERE public_key = '" KEY_B "'"), 0);
    PGresult *result = s_app_run (NULL, "SELECT tenant_id, tenant_name, id, name, revoked_at IS NULL"
                                        " FROM drift_agent_by_key ('" KEY_B "')");
    cr_assert_eq (PQresultStatus (result), PGRES_TUPLES_OK, "%s", PQresultErrorMessage (result));
    cr_assert_eq (PQntuples (result), 1);
    cr_expect_str_eq (PQgetvalue (result, 0, 0), B);
    cr_expect_str_eq (PQgetvalue (result, 0, 1), "tenant-b");
    cr_expect_str_eq (PQgetvalue (result, 0, 2), AGENT_B);
    cr_expect_str_eq (PQgetvalue (result, 0, 3), "ci");
    cr_expect_str_eq (PQgetvalue (result, 0, 4), "t");
    PQclear (result);
    //  Scoped to A, it still answers for B's key: the key is the question.
    cr_expect_eq (s_app_count (A, "SELECT count(*) FROM drift_agent_by_key ('" KEY_B "')"), 1);
    cr_expect_eq (s_app_count (NULL, "SELECT count(*) FROM drift_agent_by_key"
                                     " ('CCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCC')"), 0);
    //  And it stays a look-up by key, not a listing.
    cr_expect_eq (s_app_count (NULL, "SELECT count(*) FROM drift_agent_by_key (NULL)"), 0);
    cr_expect_eq (s_app_count (NULL, "SELECT count(*) FROM drift_agent_by_key ('%')"), 0);
}

//  A new tenant table that this file does not know is a table no test
//  guards: every table holding a tenant column must be listed above, and
//  every one must have its policies enabled and forced.
Test (rls, every_tenant_table_is_guarded_and_tested)
{
    PGconn *conn = PQconnectdb (s_url);
    PGresult *result = PQexec (conn,
        "SELECT DISTINCT c.table_name FROM information_schema.columns c "
        "JOIN information_schema.tables t USING (table_schema, table_name) "
        "WHERE c.table_schema = 'public' AND c.column_name = 'tenant_id' "
        "AND t.table_type = 'BASE TABLE' ORDER BY 1");
    cr_assert_eq (PQresultStatus (result), PGRES_TUPLES_OK, "%s", PQresultErrorMessage (result));
    for (int row = 0; row < PQntuples (result); row++) {
        const char *name = PQgetvalue (result, row, 0);
        bool listed = false;
        for (size_t i = 0; i < TABLES && !listed; i++)
            listed = strcmp (s_tables [i].name, name) == 0;
        cr_expect (listed, "table %s holds tenant_id but tests/test_rls.c does not test it", name);
        char sql [256];
        snprintf (sql, sizeof sql, "SELECT count(*) FROM pg_class WHERE relname = '%s'"
                  " AND relnamespace = 'public'::regnamespace"
                  " AND relrowsecurity AND relforcerowsecurity", name);
        cr_expect_eq (tu_query_long (s_url, sql), 1, "%s: ENABLE and FORCE", name);
    }
    PQclear (result);
    PQfinish (conn);
}
