/*  api_resources: the dashboard API's resource handlers (api/stacks.c,
    api/drift.c and the others) called directly, as the HTTP server calls
    them: a drift_app login (row-level
    security applies), BEGIN, drift_set_tenant, the handler, COMMIT after a
    2xx and ROLLBACK otherwise. The data is written by the archive's own
    SQL (drift_archive_report) from documents shaped as the archive stage
    builds them, received in the last hours so the history's window holds
    them whatever the day.

    What must hold: the contract's shapes (docs/API.md); strict parameters
    (hostile values are 400 naming the parameter); the drift list's
    filters, order and pages; a mute that the next report does not undo
    and that notify does not tell; pattern suppressions that the score
    stage applies; channels checked (no server file or variable for a
    password, no internal host), secrets shown once, passwords sealed and
    never shown, webhook URLs cut to their origin for viewers, test sends
    queued off the request thread (202, polled; 429 past the tenant's
    limit; failures as a status class only); agents issued as `drift keys issue` does
    (registered, found by the registry, revoked); and every id of another
    tenant answered 404.
*/
#define _GNU_SOURCE             // asprintf
#include "testutil.h"
#include "httpsink.h"
#include "../actors/actors.h"
#include "../api/audit.h"
#include "../api/channel_tests.h"
#include "../api/resource.h"
#include "../actors/notify/channel.h"
#include "../lib/log.h"
#include "../lib/migrations.h"
#include "../actors/normalize/normalize.h"
#include "../lib/registry.h"
#include "../lib/seal.h"

#include <criterion/criterion.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MINUTE 60000000LL

static char *s_url;                 // the test's database, as its owner
static char *s_app;                 // ... as a drift_app login
static PGconn *s_conn;              // s_app, the handlers' connection
static char s_acme [37], s_acme_key [41];       // tenant A and its agent
static char s_globex [37], s_globex_key [41];   // tenant B and its agent
static int64_t s_t0;                // two hours ago, microseconds
static char s_keys_dir [256];       // a server keypair for issuing agents
static api_settings_t s_settings;
static api_role_t s_role = API_ROLE_OWNER;  // the role of the next handler calls

//  --------------------------------------------------------------------------
//  Data, written by the archive's SQL as the archive stage would

static json_t *
s_item (const char *fingerprint, const char *address, const char *class_name, int severity,
        bool suppressed)
{
    const char *type = "aws_security_group";
    json_t *item = json_pack (
        "{s:s, s:s, s:s, s:s, s:s, s:[{s:s, s:s, s:s, s:s}], s:i, s:f,"
        " s:[{s:s, s:i, s:f, s:s, s:s}], s:b}",
        "fingerprint", fingerprint, "address", address, "type", type, "kind", "modified",
        "class", class_name,
        "changes", "path", "ingress[0].cidr_blocks[0]", "op", "added", "before", "",
        "after", "\"0.0.0.0/0\"",
        "severity", severity, "score", severity * 0.2,
        "reasons", "rule", "aws-sg-ingress-world-ssh", "severity", severity, "weight", 0.5,
        "reason", "SSH open to the world", "path", "ingress[0]",
        "suppressed", suppressed);
    if (suppressed)
        json_object_set_new (item, "suppressed_by",
                             json_sprintf ("tenant .driftignore:1 %s", address));
    return item;
}

//  Archive one report (items: a json array, taken; NULL for a failed
//  report) of tenant's stack received at received_us.
static void
s_archive_at (const char *tenant, const char *key, const char *report_id, const char *stack,
              int64_t received_us, json_t *items)
{
    json_t *doc = json_pack ("{s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:i, s:f, s:{}}",
        "report_id", report_id, "stack", stack, "engine", "terraform", "agent_key", key,
        "status", items ? "ok" : "failed", "received_us", (json_int_t) received_us,
        "normalized_us", (json_int_t) (received_us + 1000),
        "scored_us", (json_int_t) (received_us + 2000),
        "severity", 0, "score", 0.0, "counts");
    if (items)
        json_object_set_new (doc, "items", items);
    else
        json_object_set_new (doc, "reason", json_string ("terraform plan exited 1"));
    char *text = json_dumps (doc, JSON_COMPACT);
    json_decref (doc);
    PGconn *conn = PQconnectdb (s_url);
    const char *params [] = { tenant, text };
    PGresult *result = PQexecParams (conn, "SELECT drift_archive_report ($1::uuid, $2::jsonb)",
                                     2, NULL, params, NULL, NULL, 0);
    cr_assert_eq (PQresultStatus (result), PGRES_TUPLES_OK, "%s", PQerrorMessage (conn));
    PQclear (result);
    PQfinish (conn);
    free (text);
}

//  The same at s_t0 + minutes.
static void
s_archive (const char *tenant, const char *key, const char *report_id, const char *stack,
           int minutes, json_t *items)
{
    s_archive_at (tenant, key, report_id, stack, s_t0 + minutes * MINUTE, items);
}

//  SQL as the owner; the first value of the first row (caller frees), or NULL.
static char *
s_owner (const char *sql, const char *param)
{
    PGconn *conn = PQconnectdb (s_url);
    const char *params [] = { param };
    PGresult *result = PQexecParams (conn, sql, param ? 1 : 0, NULL, params, NULL, NULL, 0);
    ExecStatusType status = PQresultStatus (result);
    cr_assert (status == PGRES_TUPLES_OK || status == PGRES_COMMAND_OK, "%s: %s", sql,
               PQerrorMessage (conn));
    char *value = status == PGRES_TUPLES_OK && PQntuples (result) > 0 && !PQgetisnull (result, 0, 0)
                ? strdup (PQgetvalue (result, 0, 0)) : NULL;
    PQclear (result);
    PQfinish (conn);
    return value;
}

static void
s_setup (void)
{
    log_init ("test", "logfmt", "error");
    s_url = tu_fresh_database ();
    cr_assert_gt (migrations_apply (s_url), 0);
    tu_tenant_agent (s_url, "acme", s_acme, s_acme_key);
    tu_tenant_agent (s_url, "globex", s_globex, s_globex_key);
    s_app = tu_app_url (s_url);
    s_conn = PQconnectdb (s_app);
    cr_assert_eq (PQstatus (s_conn), CONNECTION_OK, "%s", PQerrorMessage (s_conn));
    s_t0 = ((int64_t) time (NULL) - 7200) * 1000000LL;

    //  acme: payments (a critical group, tags that go away, noise, a bucket
    //  its .driftignore suppressed) and network (a high ACL, then a failed
    //  report); globex: a group of its own.
    s_archive (s_acme, s_acme_key, "r-1", "payments", 0, json_pack ("[o, o, o, o]",
        s_item ("f-ssh", "aws_security_group.web", "real", 5, false),
        s_item ("f-tags", "aws_instance.app", "mirror", 2, false),
        s_item ("f-noise", "aws_db_instance.main", "noise", 1, false),
        s_item ("f-bucket", "aws_s3_bucket.logs", "real", 4, true)));
    s_archive (s_acme, s_acme_key, "n-1", "network", 1, json_pack ("[o]",
        s_item ("f-nacl", "aws_network_acl.main", "real", 4, false)));
    s_archive (s_acme, s_acme_key, "r-2", "payments", 2, json_pack ("[o, o, o]",
        s_item ("f-ssh", "aws_security_group.web", "real", 5, false),
        s_item ("f-noise", "aws_db_instance.main", "noise", 1, false),
        s_item ("f-bucket", "aws_s3_bucket.logs", "real", 4, true)));
    s_archive (s_acme, s_acme_key, "n-2", "network", 3, NULL);
    s_archive (s_globex, s_globex_key, "g-1", "payments", 0, json_pack ("[o]",
        s_item ("f-ssh", "aws_security_group.web", "real", 5, false)));

    //  A server keypair, as `drift keys init` leaves it, for issuing agents.
    snprintf (s_keys_dir, sizeof s_keys_dir, "%s/api-keys-%d",
              getenv ("DRIFT_TEST_VAR_DIR") ? getenv ("DRIFT_TEST_VAR_DIR") : "/tmp", getpid ());
    cr_assert_eq (mkdir (s_keys_dir, 0700), 0);
    char path [300];
    snprintf (path, sizeof path, "%s/server.key", s_keys_dir);
    zcert_t *server = zcert_new ();
    cr_assert_eq (zcert_save_public (server, path), 0);
    zcert_destroy (&server);
    //  The operator's channel key, as `drift keys init` leaves it.
    snprintf (path, sizeof path, "%s/channel.key", s_keys_dir);
    FILE *key = fopen (path, "w");
    cr_assert (key);
    fprintf (key, "%s\n", "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff");
    fclose (key);
    chmod (path, 0600);
    char error [256];
    seal_keyring_t *keyring = seal_keyring_load (path, NULL, error, sizeof error);
    cr_assert (keyring, "%s", error);
    s_settings = (api_settings_t) {
        .stale_after_s = 86400, .agent_endpoint = "tcp://drift.example.com:5560",
        .keys_dir = s_keys_dir, .redis = getenv ("DRIFT_TEST_REDIS_URL"), .send_timeout_ms = 5000,
        .allow_hosts = "127.0.0.1",             // the test's receivers are on loopback
        .channel_keyring = keyring, .channel_tests = channel_tests_new (2, 2, 16)
    };
}

static void
s_teardown (void)
{
    char path [300];
    snprintf (path, sizeof path, "%s/server.key", s_keys_dir);
    unlink (path);
    snprintf (path, sizeof path, "%s/channel.key", s_keys_dir);
    unlink (path);
    rmdir (s_keys_dir);
    channel_tests_destroy (&s_settings.channel_tests);
    seal_keyring_destroy (&s_settings.channel_keyring);
    PQfinish (s_conn);
    free (s_app);
    tu_drop_database (s_url);
}

TestSuite (api_resources, .init = s_setup, .fini = s_teardown, .timeout = 120);

//  --------------------------------------------------------------------------
//  Calling a handler as the server does

typedef struct {
    int status;                  // what the handler answered
    json_t *reply;               // its JSON (NULL for 204 and files)
    api_file_t file;             // its file answer (a CSV export), else empty
} s_answer_t;

static s_answer_t s_last;       // the last call's answer, freed by the next

//  Call handler for tenant with path parameter param (or NULL), query
//  (JSON object of strings, or NULL) and body (JSON text, or NULL).
static s_answer_t *
s_call_as (api_handler_fn *handler, const char *tenant, const char *param, const char *query,
           const char *body)
{
    json_decref (s_last.reply);
    s_last.reply = NULL;
    free (s_last.file.data);
    s_last.file = (api_file_t) { 0 };
    PGresult *result = PQexec (s_conn, "BEGIN");
    PQclear (result);
    const char *params [] = { tenant };
    result = PQexecParams (s_conn, "SELECT drift_set_tenant ($1::uuid)", 1, NULL, params, NULL,
                           NULL, 0);
    cr_assert_eq (PQresultStatus (result), PGRES_TUPLES_OK);
    PQclear (result);
    //  As the server does: who acts, for the audit log (api/audit.h).
    cr_assert_eq (audit_actor_set (s_conn, "00000000-0000-0000-0000-000000000001",
                                   "ops@acme.example", "127.0.0.1", false), 0);
    api_call_t call = {
        .conn = s_conn, .tenant_id = tenant, .user_id = "00000000-0000-0000-0000-000000000001",
        .user_email = "ops@acme.example", .role = s_role,
        .params = { param }, .param_count = param ? 1 : 0,
        .query = query ? json_loads (query, 0, NULL) : json_object (),
        .body = body ? json_loads (body, 0, NULL) : NULL, .settings = &s_settings
    };
    cr_assert (call.query && (!body || call.body), "test input is JSON");
    s_last.status = handler (&call, &s_last.reply);
    result = PQexec (s_conn, s_last.status / 100 == 2 ? "COMMIT" : "ROLLBACK");
    cr_assert_eq (PQresultStatus (result), PGRES_COMMAND_OK);
    PQclear (result);
    //  As the server does: the handler's after-commit work, only after a commit.
    if (call.after_commit && s_last.status / 100 == 2)
        call.after_commit (&call, call.after_arg);
    free (call.after_arg);
    s_last.file = call.file;
    json_decref (call.query);
    json_decref (call.body);
    //  Errors always have the contract's shape.
    if (s_last.status >= 400)
        cr_assert (json_string_value (json_object_get (json_object_get (s_last.reply, "error"),
                                                       "message")));
    return &s_last;
}

static s_answer_t *
s_call (api_handler_fn *handler, const char *param, const char *query, const char *body)
{
    return s_call_as (handler, s_acme, param, query, body);
}

//  The field named in an error answer ("" if none).
static const char *
s_field (s_answer_t *answer)
{
    const char *field = json_string_value (json_object_get (json_object_get (answer->reply,
                                                                             "error"), "field"));
    return field ? field : "";
}

static size_t
s_count (s_answer_t *answer)
{
    return json_array_size (json_object_get (answer->reply, "items"));
}

static const char *
s_text (json_t *object, const char *path)
{
    //  "a.b.c": nested objects; a number part indexes an array.
    char copy [128];
    snprintf (copy, sizeof copy, "%s", path);
    json_t *value = object;
    for (char *part = strtok (copy, "."); part && value; part = strtok (NULL, "."))
        value = json_is_array (value) ? json_array_get (value, (size_t) atoi (part))
                                      : json_object_get (value, part);
    return json_string_value (value) ? json_string_value (value) : "";
}

static json_t *
s_get (json_t *object, const char *path)
{
    char copy [128];
    snprintf (copy, sizeof copy, "%s", path);
    json_t *value = object;
    for (char *part = strtok (copy, "."); part && value; part = strtok (NULL, "."))
        value = json_is_array (value) ? json_array_get (value, (size_t) atoi (part))
                                      : json_object_get (value, part);
    return value;
}

//  The id of tenant's item fingerprint in stack (caller frees).
static char *
s_item_id (const char *tenant, const char *stack, const char *fingerprint)
{
    char sql [256];
    snprintf (sql, sizeof sql, "SELECT s.id || '.%s' FROM stacks s WHERE s.name = '%s' "
              "AND s.tenant_id = $1::uuid", fingerprint, stack);
    char *id = s_owner (sql, tenant);
    cr_assert (id);
    return id;
}

//  --------------------------------------------------------------------------
//  Routes and parameters

Test (api_resources, every_route_has_the_least_role_of_the_contract)
{
    size_t routes = 0, admin = 0;
    for (const api_route_t *route = api_resource_routes; route->method; route++) {
        routes++;
        //  Reads are for viewers, but a channel test's outcome is for the
        //  admins who may run one, and the audit log for the admins.
        //  Four-eyes, the rule that binds the admins, is the owner's to set.
        api_role_t expected = streq (route->method, "GET") && !strstr (route->pattern, "/tests/")
                              && !streq (route->pattern, "/api/v1/audit")
                            ? API_ROLE_VIEWER
                            : strstr (route->pattern, "/settings/") ? API_ROLE_OWNER
                            : API_ROLE_ADMIN;
        cr_assert_eq (route->role, expected, "%s %s", route->method, route->pattern);
        cr_assert (route->handler);
        admin += route->role == API_ROLE_ADMIN;
    }
    cr_assert_eq (routes, 29);
    cr_assert_eq (admin, 16);
}

Test (api_resources, hostile_query_values_are_400_naming_the_parameter)
{
    struct { api_handler_fn *handler; const char *query; const char *field; } cases [] = {
        { api_drift_list, "{\"limit\": \"1e9\"}", "limit" },
        { api_drift_list, "{\"limit\": \"-1\"}", "limit" },
        { api_drift_list, "{\"limit\": \"abc\"}", "limit" },
        { api_drift_list, "{\"limit\": \"\"}", "limit" },
        { api_drift_list, "{\"limit\": \" 5\"}", "limit" },
        { api_drift_list, "{\"limit\": \"+5\"}", "limit" },
        { api_drift_list, "{\"limit\": \"201\"}", "limit" },
        { api_drift_list, "{\"limit\": \"0\"}", "limit" },
        { api_drift_list, "{\"limit\": \"99999999999999999999\"}", "limit" },
        { api_drift_list, "{\"offset\": \"1000001\"}", "offset" },
        { api_drift_list, "{\"severity\": \"x'; drop table drift_items; --\"}", "severity" },
        { api_drift_list, "{\"severity\": \"HIGH\"}", "severity" },
        { api_drift_list, "{\"state\": \"closed\"}", "state" },
        { api_drift_list, "{\"class\": \"real \"}", "class" },
        { api_drift_list, "{\"since\": \"yesterday\"}", "since" },
        { api_drift_list, "{\"since\": \"2026-02-30T00:00:00Z\"}", "since" },
        { api_drift_list, "{\"since\": \"2026-11-27T10:00:00+01:00\"}", "since" },
        { api_drift_list, "{\"since\": \"2026-11-27 10:00:00Z\"}", "since" },
        { api_drift_list, "{\"stack\": \"\"}", "stack" },
        { api_reports_list, "{\"status\": \"ok' OR '1'='1\"}", "status" },
        { api_history_get, "{\"days\": \"0\"}", "days" },
        { api_history_get, "{\"days\": \"366\"}", "days" },
        { api_history_get, "{\"days\": \"7.5\"}", "days" },
        { api_stacks_list, "{\"limit\": \"0x10\"}", "limit" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases [0]; i++) {
        s_answer_t *answer = s_call (cases [i].handler, NULL, cases [i].query, NULL);
        cr_assert_eq (answer->status, 400, "%s: %d", cases [i].query, answer->status);
        cr_assert_str_eq (s_field (answer), cases [i].field, "%s", cases [i].query);
        cr_assert_str_eq (s_text (answer->reply, "error.code"), "bad_request");
    }
    //  The table survived the quote.
    cr_assert_eq (tu_query_long (s_url, "SELECT count (*) FROM drift_items"), 6);
    //  A good time with a fraction is taken.
    cr_assert_eq (s_call (api_drift_list, NULL, "{\"since\": \"2020-01-01T00:00:00.5Z\"}",
                          NULL)->status, 200);
}

//  --------------------------------------------------------------------------
//  Drift

Test (api_resources, the_drift_list_filters_orders_worst_first_and_pages)
{
    s_answer_t *answer = s_call (api_drift_list, NULL, NULL, NULL);
    cr_assert_eq (answer->status, 200);
    //  Open: the tags were resolved by r-2, the bucket is suppressed.
    cr_assert_eq (s_count (answer), 3);
    cr_assert_str_eq (s_text (answer->reply, "items.0.fingerprint"), "f-ssh");
    cr_assert_str_eq (s_text (answer->reply, "items.0.severity"), "critical");
    cr_assert_str_eq (s_text (answer->reply, "items.0.stack.name"), "payments");
    cr_assert_str_eq (s_text (answer->reply, "items.0.state"), "open");
    cr_assert_str_eq (s_text (answer->reply, "items.1.fingerprint"), "f-nacl");
    cr_assert_str_eq (s_text (answer->reply, "items.2.fingerprint"), "f-noise");
    cr_assert (json_is_null (s_get (answer->reply, "items.0.resolved_at")));
    cr_assert_eq (strlen (s_text (answer->reply, "items.0.first_seen")), 20, "ISO 8601 UTC");
    cr_assert (s_text (answer->reply, "items.0.first_seen") [19] == 'Z');
    cr_assert_eq (json_integer_value (json_object_get (answer->reply, "offset")), 0);
    cr_assert_eq (json_integer_value (json_object_get (answer->reply, "limit")), 50);
    cr_assert (json_is_false (json_object_get (answer->reply, "more")));
    char *ssh = s_item_id (s_acme, "payments", "f-ssh");
    cr_assert_str_eq (s_text (answer->reply, "items.0.id"), ssh);
    free (ssh);

    cr_assert_eq (s_count (s_call (api_drift_list, NULL, "{\"severity\": \"high\"}", NULL)), 2);
    answer = s_call (api_drift_list, NULL, "{\"state\": \"resolved\"}", NULL);
    cr_assert_eq (s_count (answer), 1);
    cr_assert_str_eq (s_text (answer->reply, "items.0.fingerprint"), "f-tags");
    cr_assert_str_eq (s_text (answer->reply, "items.0.state"), "resolved");
    answer = s_call (api_drift_list, NULL, "{\"state\": \"suppressed\"}", NULL);
    cr_assert_eq (s_count (answer), 1);
    cr_assert_str_eq (s_text (answer->reply, "items.0.fingerprint"), "f-bucket");
    cr_assert_eq (s_count (s_call (api_drift_list, NULL, "{\"state\": \"all\"}", NULL)), 5,
                  "globex's item is not acme's");
    answer = s_call (api_drift_list, NULL, "{\"class\": \"noise\"}", NULL);
    cr_assert_eq (s_count (answer), 1);
    cr_assert_str_eq (s_text (answer->reply, "items.0.class"), "noise");
    answer = s_call (api_drift_list, NULL, "{\"stack\": \"network\"}", NULL);
    cr_assert_eq (s_count (answer), 1);
    char *query;
    cr_assert (asprintf (&query, "{\"stack\": \"%s\"}",
                         s_text (answer->reply, "items.0.stack.id")) > 0);
    cr_assert_eq (s_count (s_call (api_drift_list, NULL, query, NULL)), 1, "a stack by id");
    free (query);
    cr_assert_eq (s_count (s_call (api_drift_list, NULL, "{\"stack\": \"nope\"}", NULL)), 0);
    cr_assert_eq (s_count (s_call (api_drift_list, NULL,
                                   "{\"since\": \"2099-01-01T00:00:00Z\"}", NULL)), 0);

    //  Pages: two of one, then one beyond the end.
    answer = s_call (api_drift_list, NULL, "{\"limit\": \"2\"}", NULL);
    cr_assert_eq (s_count (answer), 2);
    cr_assert (json_is_true (json_object_get (answer->reply, "more")));
    answer = s_call (api_drift_list, NULL, "{\"limit\": \"2\", \"offset\": \"2\"}", NULL);
    cr_assert_eq (s_count (answer), 1);
    cr_assert_str_eq (s_text (answer->reply, "items.0.fingerprint"), "f-noise");
    cr_assert (json_is_false (json_object_get (answer->reply, "more")));
    answer = s_call (api_drift_list, NULL, "{\"offset\": \"3\"}", NULL);
    cr_assert_eq (answer->status, 400);
    cr_assert_str_eq (s_field (answer), "offset");
    cr_assert_str_eq (s_text (answer->reply, "error.message"), "offset is beyond the end");
}

Test (api_resources, an_item_in_detail_with_changes_reasons_and_reports)
{
    char *id = s_item_id (s_acme, "payments", "f-ssh");
    s_answer_t *answer = s_call (api_drift_get, id, NULL, NULL);
    cr_assert_eq (answer->status, 200, "%d %s", answer->status,
                  s_text (answer->reply, "error.message"));
    json_t *item = answer->reply;
    cr_assert_str_eq (s_text (item, "address"), "aws_security_group.web");
    cr_assert_str_eq (s_text (item, "changes.0.path"), "ingress[0].cidr_blocks[0]");
    cr_assert_str_eq (s_text (item, "changes.0.after"), "\"0.0.0.0/0\"");
    cr_assert_str_eq (s_text (item, "reasons.0.rule"), "aws-sg-ingress-world-ssh");
    cr_assert_str_eq (s_text (item, "reasons.0.severity"), "critical");
    cr_assert (json_is_null (json_object_get (item, "suppression")));
    cr_assert_eq (json_array_size (json_object_get (item, "reports")), 2);
    cr_assert_str_eq (s_text (item, "reports.0.role"), "opened");
    cr_assert_str_eq (s_text (item, "reports.0.report_id"), "r-1");
    cr_assert_str_eq (s_text (item, "reports.1.role"), "last_seen");
    cr_assert_str_eq (s_text (item, "reports.1.report_id"), "r-2");
    cr_assert_str_eq (s_text (item, "reports.1.status"), "ok");
    cr_assert_eq (json_integer_value (json_object_get (item, "seen_in_reports")), 2);

    //  Every report that saw it, newest first, a page at a time.
    answer = s_call (api_drift_sightings, id, NULL, NULL);
    cr_assert_eq (answer->status, 200);
    cr_assert_eq (s_count (answer), 2);
    cr_assert_str_eq (s_text (answer->reply, "items.0.report_id"), "r-2");
    cr_assert_str_eq (s_text (answer->reply, "items.0.severity"), "critical");
    cr_assert_str_eq (s_text (answer->reply, "items.0.status"), "ok");
    cr_assert_str_eq (s_text (answer->reply, "items.1.report_id"), "r-1");
    answer = s_call (api_drift_sightings, id, "{\"limit\": \"1\", \"offset\": \"1\"}", NULL);
    cr_assert_eq (s_count (answer), 1);
    cr_assert_str_eq (s_text (answer->reply, "items.0.report_id"), "r-1");
    cr_assert (json_is_false (json_object_get (answer->reply, "more")));
    cr_assert_eq (s_call (api_drift_sightings, id, "{\"offset\": \"2\"}", NULL)->status, 400);
    free (id);

    id = s_item_id (s_acme, "payments", "f-tags");
    answer = s_call (api_drift_get, id, NULL, NULL);
    cr_assert_str_eq (s_text (answer->reply, "state"), "resolved");
    cr_assert_str_eq (s_text (answer->reply, "reports.2.role"), "resolved");
    cr_assert_str_eq (s_text (answer->reply, "reports.2.report_id"), "r-2");
    free (id);

    id = s_item_id (s_acme, "payments", "f-bucket");
    answer = s_call (api_drift_get, id, NULL, NULL);
    cr_assert_str_eq (s_text (answer->reply, "state"), "suppressed");
    cr_assert_str_eq (s_text (answer->reply, "suppression.source"), "driftignore");
    cr_assert (strstr (s_text (answer->reply, "suppression.by"), "aws_s3_bucket.logs"));
    free (id);

    //  Not ids, or ids nobody has: 404.
    const char *bad [] = { "", "x", "f-ssh", "not-a-uuid-at-all-not-a-uuid-at-all.f-ssh",
                           "00000000-0000-0000-0000-000000000000.f-ssh" };
    for (size_t i = 0; i < sizeof bad / sizeof bad [0]; i++) {
        cr_assert_eq (s_call (api_drift_get, bad [i], NULL, NULL)->status, 404, "%s", bad [i]);
        cr_assert_eq (s_call (api_drift_sightings, bad [i], NULL, NULL)->status, 404, "%s",
                      bad [i]);
    }
}

Test (api_resources, another_tenants_ids_are_404_everywhere)
{
    char *theirs = s_item_id (s_globex, "payments", "f-ssh");
    cr_assert_eq (s_call (api_drift_get, theirs, NULL, NULL)->status, 404);
    cr_assert_eq (s_call (api_drift_suppress, theirs, NULL, "{\"reason\": \"mine now\"}")->status,
                  404);
    cr_assert_eq (s_call (api_drift_unsuppress, theirs, NULL, "{}")->status, 404);
    cr_assert_eq (s_call (api_drift_sightings, theirs, NULL, NULL)->status, 404);
    cr_assert_eq (s_call_as (api_drift_get, s_globex, theirs, NULL, NULL)->status, 200,
                  "its own tenant sees it");
    cr_assert_eq (s_count (s_call_as (api_drift_sightings, s_globex, theirs, NULL, NULL)), 1);
    char *muted = s_owner ("SELECT count (*) FROM drift_items WHERE muted_reason IS NOT NULL",
                           NULL);
    cr_assert_str_eq (muted, "0");
    free (muted);
    free (theirs);

    //  Suppressions, channels and agents of globex, touched by acme.
    s_answer_t *answer = s_call_as (api_suppressions_create, s_globex, NULL, NULL,
        "{\"pattern\": \"aws_instance.*\", \"reason\": \"globex's own\"}");
    cr_assert_eq (answer->status, 201);
    char *suppression = strdup (s_text (answer->reply, "id"));
    cr_assert_eq (s_call (api_suppressions_delete, suppression, NULL, NULL)->status, 404);
    cr_assert_eq (s_count (s_call (api_suppressions_list, NULL, NULL, NULL)), 0);
    cr_assert_eq (s_call_as (api_suppressions_delete, s_globex, suppression, NULL, NULL)->status,
                  204);
    free (suppression);

    answer = s_call_as (api_channels_create, s_globex, NULL, NULL,
        "{\"name\": \"ops\", \"kind\": \"webhook\", "
        "\"settings\": {\"url\": \"http://127.0.0.1:9/hook\", \"format\": \"generic\"}}");
    cr_assert_eq (answer->status, 201);
    char *channel = strdup (s_text (answer->reply, "id"));
    cr_assert_eq (s_call (api_channels_test, channel, NULL, NULL)->status, 404);
    cr_assert_eq (s_call (api_channels_delete, channel, NULL, NULL)->status, 404);
    cr_assert_eq (s_count (s_call (api_channels_list, NULL, NULL, NULL)), 0);
    free (channel);

    char *agent = s_owner ("SELECT id FROM agents WHERE tenant_id = $1::uuid", s_globex);
    cr_assert_eq (s_call (api_agents_delete, agent, NULL, NULL)->status, 404);
    char *revoked = s_owner ("SELECT count (*) FROM agents WHERE revoked_at IS NOT NULL", NULL);
    cr_assert_str_eq (revoked, "0");
    free (revoked);
    free (agent);
    answer = s_call (api_agents_list, NULL, NULL, NULL);
    cr_assert_eq (s_count (answer), 1);
    cr_assert_str_eq (s_text (answer->reply, "items.0.public_key"), s_acme_key);
}

Test (api_resources, a_mute_survives_the_next_report_and_notify_does_not_tell_it)
{
    char *id = s_item_id (s_acme, "payments", "f-ssh");
    //  Refused bodies first: nothing changes.
    cr_assert_str_eq (s_field (s_call (api_drift_suppress, id, NULL, "{}")), "reason");
    cr_assert_str_eq (s_field (s_call (api_drift_suppress, id, NULL, "{\"reason\": 7}")), "reason");
    cr_assert_str_eq (s_field (s_call (api_drift_suppress, id, NULL,
                                       "{\"reason\": \"r\", \"by\": \"someone\"}")), "by");
    cr_assert_str_eq (s_field (s_call (api_drift_suppress, id, NULL,
        "{\"reason\": \"r\", \"expires_at\": \"2001-01-01T00:00:00Z\"}")), "expires_at");
    cr_assert_str_eq (s_field (s_call (api_drift_suppress, id, NULL,
        "{\"reason\": \"r\", \"expires_at\": \"next week\"}")), "expires_at");

    s_answer_t *answer = s_call (api_drift_suppress, id, NULL,
        "{\"reason\": \"bastion, reviewed\", \"expires_at\": \"2099-01-01T00:00:00Z\"}");
    cr_assert_eq (answer->status, 200);
    cr_assert_str_eq (s_text (answer->reply, "state"), "suppressed");
    cr_assert_str_eq (s_text (answer->reply, "suppression.reason"), "bastion, reviewed");
    cr_assert_str_eq (s_text (answer->reply, "suppression.by"), "ops@acme.example");
    cr_assert_str_eq (s_text (answer->reply, "suppression.expires_at"), "2099-01-01T00:00:00Z");
    cr_assert_eq (s_count (s_call (api_drift_list, NULL, NULL, NULL)), 2);

    //  The archive's next report of the stack rewrites the item's content:
    //  the mute stays.
    s_archive (s_acme, s_acme_key, "r-3", "payments", 10, json_pack ("[o, o, o]",
        s_item ("f-ssh", "aws_security_group.web", "real", 5, false),
        s_item ("f-noise", "aws_db_instance.main", "noise", 1, false),
        s_item ("f-bucket", "aws_s3_bucket.logs", "real", 4, true)));
    answer = s_call (api_drift_get, id, NULL, NULL);
    cr_assert_str_eq (s_text (answer->reply, "state"), "suppressed");
    cr_assert_str_eq (s_text (answer->reply, "reports.1.report_id"), "r-3");

    //  Notify is not told about it (r-1 opened it).
    char *news = s_owner ("SELECT drift_report_news ($1::uuid, 'r-1')::text", s_acme);
    cr_assert (!strstr (news, "f-ssh"), "%s", news);
    cr_assert (strstr (news, "f-noise"), "%s", news);
    free (news);

    //  A mute that has ended counts as open again, untouched.
    free (s_owner ("UPDATE drift_items SET muted_until = now () - interval '1 second' "
                   "WHERE muted_reason IS NOT NULL", NULL));
    cr_assert_eq (s_count (s_call (api_drift_list, NULL, NULL, NULL)), 3);
    news = s_owner ("SELECT drift_report_news ($1::uuid, 'r-1')::text", s_acme);
    cr_assert (strstr (news, "f-ssh"), "%s", news);
    free (news);

    //  Suppress again, then unsuppress.
    cr_assert_eq (s_call (api_drift_suppress, id, NULL, "{\"reason\": \"again\"}")->status, 200);
    cr_assert_eq (s_count (s_call (api_drift_list, NULL, NULL, NULL)), 2);
    answer = s_call (api_drift_unsuppress, id, NULL, NULL);
    cr_assert_eq (answer->status, 200);
    cr_assert_str_eq (s_text (answer->reply, "state"), "open");
    cr_assert (json_is_null (json_object_get (answer->reply, "suppression")));
    cr_assert_eq (s_count (s_call (api_drift_list, NULL, NULL, NULL)), 3);

    //  Each mute and its end are in the audit log, the refused ones not.
    char sql [300];
    snprintf (sql, sizeof sql, "SELECT count (*) FROM audit_log WHERE target = '%s'"
              " AND actor = '00000000-0000-0000-0000-000000000001'"
              " AND action IN ('drift.suppress', 'drift.unsuppress')", id);
    cr_assert_eq (tu_query_long (s_url, sql), 3);
    free (id);
}

//  --------------------------------------------------------------------------
//  Stacks, reports, history

Test (api_resources, stacks_count_open_drift_per_severity_and_say_when_stale)
{
    s_answer_t *answer = s_call (api_stacks_list, NULL, NULL, NULL);
    cr_assert_eq (answer->status, 200);
    cr_assert_eq (s_count (answer), 2);
    json_t *network = s_get (answer->reply, "items.0");
    json_t *payments = s_get (answer->reply, "items.1");
    cr_assert_str_eq (s_text (network, "name"), "network");
    cr_assert_str_eq (s_text (payments, "name"), "payments");
    cr_assert_str_eq (s_text (payments, "engine"), "terraform");
    cr_assert_eq (json_integer_value (s_get (payments, "open.critical")), 1);
    cr_assert_eq (json_integer_value (s_get (payments, "open.info")), 1);
    cr_assert_eq (json_integer_value (s_get (payments, "open.high")), 0, "the bucket is suppressed");
    cr_assert_eq (json_integer_value (s_get (payments, "open_total")), 2);
    cr_assert_eq (json_integer_value (s_get (network, "open.high")), 1);
    cr_assert (json_is_false (json_object_get (payments, "stale")));
    //  network's last report failed: it reported later than it succeeded,
    //  and says why.
    cr_assert_str_neq (s_text (network, "last_report_at"), s_text (network, "last_success_at"));
    cr_assert (json_is_true (json_object_get (network, "failing")));
    cr_assert_str_eq (s_text (network, "last_failure"), "terraform plan exited 1");
    cr_assert (json_is_false (json_object_get (payments, "failing")));
    cr_assert (json_is_null (json_object_get (payments, "last_failure")));

    s_settings.stale_after_s = 60;
    answer = s_call (api_stacks_list, NULL, NULL, NULL);
    s_settings.stale_after_s = 86400;
    cr_assert (json_is_true (s_get (answer->reply, "items.1.stale")));
}

Test (api_resources, reports_newest_first_with_status_and_stack_filters)
{
    s_answer_t *answer = s_call (api_reports_list, NULL, NULL, NULL);
    cr_assert_eq (answer->status, 200);
    cr_assert_eq (s_count (answer), 4);
    cr_assert_str_eq (s_text (answer->reply, "items.0.report_id"), "n-2");
    cr_assert_str_eq (s_text (answer->reply, "items.3.report_id"), "r-1");
    answer = s_call (api_reports_list, NULL, "{\"status\": \"failed\"}", NULL);
    cr_assert_eq (s_count (answer), 1);
    cr_assert_str_eq (s_text (answer->reply, "items.0.reason"), "terraform plan exited 1");
    cr_assert_str_eq (s_text (answer->reply, "items.0.stack.name"), "network");
    cr_assert_str_eq (s_text (answer->reply, "items.0.severity"), "none");
    cr_assert (json_is_object (s_get (answer->reply, "items.0.counts")));
    cr_assert_eq (s_count (s_call (api_reports_list, NULL, "{\"stack\": \"payments\"}", NULL)), 2);
}

Test (api_resources, history_counts_days_and_time_to_fix)
{
    s_answer_t *answer = s_call (api_history_get, NULL, "{\"days\": \"2\"}", NULL);
    cr_assert_eq (answer->status, 200);
    json_t *days = json_object_get (answer->reply, "days");
    cr_assert_eq (json_array_size (days), 2, "every day, zeros included");
    long opened = 0, resolved = 0;
    for (size_t i = 0; i < 2; i++) {
        opened += json_integer_value (s_get (days, i ? "1.opened" : "0.opened"));
        resolved += json_integer_value (s_get (days, i ? "1.resolved" : "0.resolved"));
    }
    cr_assert_eq (opened, 5);
    cr_assert_eq (resolved, 1);
    cr_assert_eq (strlen (s_text (days, "1.day")), 10);
    cr_assert_eq (json_integer_value (s_get (answer->reply, "time_to_fix.count")), 1);
    //  The tags were opened by r-1 and resolved by r-2, two minutes later.
    cr_assert_eq (json_number_value (s_get (answer->reply, "time_to_fix.p50_s")), 120);
    cr_assert_eq (json_number_value (s_get (answer->reply, "time_to_fix.mean_s")), 120);

    answer = s_call (api_history_get, NULL, "{\"stack\": \"network\"}", NULL);
    cr_assert_eq (json_array_size (json_object_get (answer->reply, "days")), 30);
    cr_assert_eq (json_integer_value (s_get (answer->reply, "time_to_fix.count")), 0);
}

//  --------------------------------------------------------------------------
//  Trends (the charts' series) and CSV exports

//  Microseconds since the epoch of an ISO 8601 UTC time.
static int64_t
s_us (const char *iso)
{
    time_t when;
    cr_assert (resource_time (iso, &when), "%s", iso);
    return (int64_t) when * 1000000LL;
}

//  The day of the history's days array at index, as "opened/resolved/
//  critical/high/medium/low/info/none".
static char *
s_day (json_t *history, size_t index)
{
    json_t *day = json_array_get (json_object_get (history, "days"), index);
    cr_assert (day, "day %zu", index);
    json_t *open = json_object_get (day, "open");
    char *text;
    cr_assert (asprintf (&text, "%lld/%lld/%lld/%lld/%lld/%lld/%lld/%lld",
        (long long) json_integer_value (json_object_get (day, "opened")),
        (long long) json_integer_value (json_object_get (day, "resolved")),
        (long long) json_integer_value (json_object_get (open, "critical")),
        (long long) json_integer_value (json_object_get (open, "high")),
        (long long) json_integer_value (json_object_get (open, "medium")),
        (long long) json_integer_value (json_object_get (open, "low")),
        (long long) json_integer_value (json_object_get (open, "info")),
        (long long) json_integer_value (json_object_get (open, "none"))) > 0);
    return text;
}

static void
s_assert_day (json_t *history, size_t index, const char *day, const char *expected)
{
    cr_assert_str_eq (s_text (json_array_get (json_object_get (history, "days"), index), "day"),
                      day, "day %zu", index);
    char *got = s_day (history, index);
    cr_assert_str_eq (got, expected, "%s: opened/resolved/critical/high/medium/low/info/none",
                      day);
    free (got);
}

//  The ledger stack of acme, on known days of January 2026 (Monday 5 to
//  Sunday 18): a critical, a high and a low open on Monday; the low is
//  fixed after 1 day (Tuesday, when a medium opens), the high after 2 days
//  (Wednesday), the critical after 8 days 6 hours (Tuesday 13); an info and
//  a suppressed high open on Wednesday 14.
static void
s_ledger (void)
{
    s_archive_at (s_acme, s_acme_key, "l-1", "ledger", s_us ("2026-01-05T10:00:00Z"),
        json_pack ("[o, o, o]", s_item ("l-a", "aws_iam_role.admin", "real", 5, false),
                   s_item ("l-b", "aws_security_group.db", "real", 4, false),
                   s_item ("l-c", "aws_instance.tags", "mirror", 2, false)));
    s_archive_at (s_acme, s_acme_key, "l-2", "ledger", s_us ("2026-01-06T10:00:00Z"),
        json_pack ("[o, o, o]", s_item ("l-a", "aws_iam_role.admin", "real", 5, false),
                   s_item ("l-b", "aws_security_group.db", "real", 4, false),
                   s_item ("l-d", "aws_s3_bucket.audit", "real", 3, false)));
    s_archive_at (s_acme, s_acme_key, "l-3", "ledger", s_us ("2026-01-07T10:00:00Z"),
        json_pack ("[o, o]", s_item ("l-a", "aws_iam_role.admin", "real", 5, false),
                   s_item ("l-d", "aws_s3_bucket.audit", "real", 3, false)));
    s_archive_at (s_acme, s_acme_key, "l-4", "ledger", s_us ("2026-01-13T16:00:00Z"),
        json_pack ("[o]", s_item ("l-d", "aws_s3_bucket.audit", "real", 3, false)));
    s_archive_at (s_acme, s_acme_key, "l-5", "ledger", s_us ("2026-01-14T10:00:00Z"),
        json_pack ("[o, o, o]", s_item ("l-d", "aws_s3_bucket.audit", "real", 3, false),
                   s_item ("l-e", "aws_instance.note", "noise", 1, false),
                   s_item ("l-f", "aws_s3_bucket.tmp", "real", 4, true)));
}

Test (api_resources, trends_count_chosen_days_exactly)
{
    s_ledger ();
    const char *window = "{\"stack\": \"ledger\", \"from\": \"2026-01-05\", \"to\": \"2026-01-18\"}";
    s_answer_t *answer = s_call (api_history_get, NULL, window, NULL);
    cr_assert_eq (answer->status, 200, "%s", s_text (answer->reply, "error.message"));
    json_t *history = answer->reply;
    cr_assert_str_eq (s_text (history, "from"), "2026-01-05");
    cr_assert_str_eq (s_text (history, "to"), "2026-01-18");
    cr_assert_eq (json_array_size (json_object_get (history, "days")), 14);
    s_assert_day (history, 0, "2026-01-05", "3/0/1/1/0/1/0/0");
    s_assert_day (history, 1, "2026-01-06", "1/1/1/1/1/0/0/0");
    s_assert_day (history, 2, "2026-01-07", "0/1/1/0/1/0/0/0");
    for (size_t i = 3; i < 8; i++) {
        char day [16];
        snprintf (day, sizeof day, "2026-01-%02zu", 5 + i);
        s_assert_day (history, i, day, "0/0/1/0/1/0/0/0");
    }
    s_assert_day (history, 8, "2026-01-13", "0/1/0/0/1/0/0/0");
    //  The suppressed high counts as opened, never as open.
    s_assert_day (history, 9, "2026-01-14", "2/0/0/0/1/0/1/0");
    s_assert_day (history, 13, "2026-01-18", "0/0/0/0/1/0/1/0");

    //  Weeks from Monday: two fixes (1 and 2 days: median 1.5 days), then one.
    json_t *weeks = json_object_get (history, "weeks");
    cr_assert_eq (json_array_size (weeks), 2);
    cr_assert_str_eq (s_text (weeks, "0.week"), "2026-01-05");
    cr_assert_eq (json_integer_value (s_get (weeks, "0.fixed")), 2);
    cr_assert_eq (json_number_value (s_get (weeks, "0.p50_s")), 129600);
    cr_assert_str_eq (s_text (weeks, "1.week"), "2026-01-12");
    cr_assert_eq (json_integer_value (s_get (weeks, "1.fixed")), 1);
    cr_assert_eq (json_number_value (s_get (weeks, "1.p50_s")), 712800);
    cr_assert_eq (json_integer_value (s_get (history, "time_to_fix.count")), 3);
    cr_assert_eq (json_number_value (s_get (history, "time_to_fix.p50_s")), 172800);
    cr_assert_eq (json_number_value (s_get (history, "time_to_fix.mean_s")), 324000);

    //  The whole tenant over the same days: only the ledger had drift then.
    answer = s_call (api_history_get, NULL, "{\"from\": \"2026-01-05\", \"to\": \"2026-01-18\"}",
                     NULL);
    s_assert_day (answer->reply, 9, "2026-01-14", "2/0/0/0/1/0/1/0");
    cr_assert_eq (json_integer_value (s_get (answer->reply, "time_to_fix.count")), 3);

    //  A window that starts mid-way: what was open before it is open on its
    //  first day; the first week holds only the fix inside the window.
    answer = s_call (api_history_get, NULL,
                     "{\"stack\": \"ledger\", \"from\": \"2026-01-07\", \"to\": \"2026-01-13\"}", NULL);
    cr_assert_eq (json_array_size (json_object_get (answer->reply, "days")), 7);
    s_assert_day (answer->reply, 0, "2026-01-07", "0/1/1/0/1/0/0/0");
    s_assert_day (answer->reply, 6, "2026-01-13", "0/1/0/0/1/0/0/0");
    weeks = json_object_get (answer->reply, "weeks");
    cr_assert_eq (json_array_size (weeks), 2);
    cr_assert_eq (json_integer_value (s_get (weeks, "0.fixed")), 1);
    cr_assert_eq (json_number_value (s_get (weeks, "0.p50_s")), 172800);
    cr_assert_eq (json_number_value (s_get (weeks, "1.p50_s")), 712800);

    //  A week without fixes has no median (null), and another stack, or
    //  another tenant (row-level security), has none of it.
    answer = s_call (api_history_get, NULL,
                     "{\"stack\": \"ledger\", \"from\": \"2026-01-15\", \"to\": \"2026-01-25\"}", NULL);
    weeks = json_object_get (answer->reply, "weeks");
    cr_assert_eq (json_array_size (weeks), 2);
    cr_assert_eq (json_integer_value (s_get (weeks, "1.fixed")), 0);
    cr_assert (json_is_null (s_get (weeks, "1.p50_s")));
    answer = s_call (api_history_get, NULL,
                     "{\"stack\": \"payments\", \"from\": \"2026-01-05\", \"to\": \"2026-01-18\"}", NULL);
    s_assert_day (answer->reply, 0, "2026-01-05", "0/0/0/0/0/0/0/0");
    answer = s_call_as (api_history_get, s_globex, NULL,
                        "{\"from\": \"2026-01-05\", \"to\": \"2026-01-18\"}", NULL);
    s_assert_day (answer->reply, 9, "2026-01-14", "0/0/0/0/0/0/0/0");
    cr_assert_eq (json_integer_value (s_get (answer->reply, "time_to_fix.count")), 0);
}

Test (api_resources, trend_windows_are_strict)
{
    struct { const char *query; const char *field; } cases [] = {
        { "{\"from\": \"2026-02-30\"}", "from" },
        { "{\"from\": \"2026-1-05\"}", "from" },
        { "{\"from\": \"1969-12-31\"}", "from" },
        { "{\"to\": \"2026-01-05T00:00:00Z\"}", "to" },
        { "{\"to\": \"2999-01-01\"}", "to" },
        { "{\"from\": \"2026-01-10\", \"to\": \"2026-01-09\"}", "from" },
        { "{\"from\": \"2024-01-01\", \"to\": \"2025-01-01\"}", "from" },
        { "{\"from\": \"2026-01-01\", \"days\": \"7\"}", "days" },
        { "{\"format\": \"xlsx\"}", "format" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases [0]; i++) {
        s_answer_t *answer = s_call (api_history_get, NULL, cases [i].query, NULL);
        cr_assert_eq (answer->status, 400, "%s: %d", cases [i].query, answer->status);
        cr_assert_str_eq (s_field (answer), cases [i].field, "%s", cases [i].query);
    }
    //  366 days (a leap year) is the most; days ends at to.
    cr_assert_eq (s_call (api_history_get, NULL,
                          "{\"from\": \"2024-01-01\", \"to\": \"2024-12-31\"}", NULL)->status, 200);
    s_answer_t *answer = s_call (api_history_get, NULL, "{\"days\": \"3\", \"to\": \"2026-03-02\"}",
                                 NULL);
    cr_assert_str_eq (s_text (answer->reply, "from"), "2026-02-28");
    cr_assert_eq (json_array_size (json_object_get (answer->reply, "days")), 3);
    cr_assert_eq (json_array_size (json_object_get (answer->reply, "weeks")), 2,
                  "Saturday and Sunday, then Monday 2 March");
    cr_assert_str_eq (s_text (answer->reply, "weeks.0.week"), "2026-02-23");
}

//  A CSV document parsed as RFC 4180 says: an array of records, each an
//  array of fields; asserts that it is well-formed (CRLF after every
//  record, quotes closed, no stray quote).
static json_t *
s_parse_csv (const char *text, size_t size)
{
    json_t *records = json_array ();
    json_t *record = json_array ();
    char *field = (char *) malloc (size + 1);
    size_t length = 0;
    size_t at = 0;
    while (at < size) {
        if (text [at] == '"' && length == 0) {
            for (at++; ; at++) {
                cr_assert_lt (at, size, "a quoted field is not closed");
                if (text [at] == '"' && at + 1 < size && text [at + 1] == '"')
                    field [length++] = text [at++];
                else
                if (text [at] == '"')
                    break;
                else
                    field [length++] = text [at];
            }
            at++;
            cr_assert (at < size && (text [at] == ',' || text [at] == '\r'),
                       "text after a closing quote at %zu", at);
        }
        else
        if (text [at] != ',' && text [at] != '\r') {
            cr_assert (text [at] != '"' && text [at] != '\n', "a stray quote or LF at %zu", at);
            field [length++] = text [at++];
            continue;
        }
        json_array_append_new (record, json_stringn (field, length));
        length = 0;
        if (text [at] == '\r') {
            cr_assert (at + 1 < size && text [at + 1] == '\n', "CR without LF at %zu", at);
            json_array_append_new (records, record);
            record = json_array ();
            at += 2;
        }
        else
            at++;
    }
    cr_assert_eq (json_array_size (record), 0, "the last record has no CRLF");
    json_decref (record);
    free (field);
    return records;
}

//  The column of the export's records named name (in the header record).
static const char *
s_cell (json_t *records, size_t row, const char *name)
{
    json_t *header = json_array_get (records, 0);
    for (size_t i = 0; i < json_array_size (header); i++)
        if (streq (json_string_value (json_array_get (header, i)), name))
            return json_string_value (json_array_get (json_array_get (records, row), i));
    cr_assert_fail ("no column %s", name);
    return NULL;
}

Test (api_resources, the_drift_export_is_rfc_4180_csv_guarded_against_formulas)
{
    //  Addresses as agents may send them: commas, quotes, a newline, and
    //  the starts a spreadsheet reads as a formula.
    const char *addresses [] = {
        "aws_instance.web[\"a,b\"]", "module.x.aws_s3_bucket.b[\"say \\\"hi\\\"\"]",
        "aws_iam_policy.p[\"line one\nline two\"]", "=HYPERLINK(\"http://evil.example\",\"x\")",
        "+1+2", "-2+3", "@SUM(A1:A9)", "\tcmd"
    };
    const char *written [] = {
        "aws_instance.web[\"a,b\"]", "module.x.aws_s3_bucket.b[\"say \\\"hi\\\"\"]",
        "aws_iam_policy.p[\"line one\nline two\"]", "'=HYPERLINK(\"http://evil.example\",\"x\")",
        "'+1+2", "'-2+3", "'@SUM(A1:A9)", "'\tcmd"
    };
    size_t count = sizeof addresses / sizeof addresses [0];
    json_t *items = json_array ();
    for (size_t i = 0; i < count; i++) {
        char fingerprint [16];
        snprintf (fingerprint, sizeof fingerprint, "x-%zu", i);
        json_array_append_new (items, s_item (fingerprint, addresses [i], "real", 3, false));
    }
    s_archive (s_acme, s_acme_key, "x-1", "odd,\"stack\"", 5, items);

    s_answer_t *answer = s_call (api_drift_list, NULL,
                                 "{\"format\": \"csv\", \"stack\": \"odd,\\\"stack\\\"\"}", NULL);
    cr_assert_eq (answer->status, 200, "%s", s_text (answer->reply, "error.message"));
    cr_assert (answer->file.data);
    cr_assert_str_eq (answer->file.type, "text/csv; charset=utf-8");
    cr_assert (strncmp (answer->file.name, "drift-", 6) == 0, "%s", answer->file.name);
    cr_assert (strstr (answer->file.name, ".csv"), "%s", answer->file.name);
    json_t *records = s_parse_csv (answer->file.data, answer->file.size);
    cr_assert_eq (json_array_size (records), 1 + count);
    for (size_t row = 1; row <= count; row++) {
        cr_assert_eq (json_array_size (json_array_get (records, row)), 14);
        cr_assert_str_eq (s_cell (records, row, "stack"), "odd,\"stack\"");
        cr_assert_str_eq (s_cell (records, row, "severity"), "medium");
        cr_assert_str_eq (s_cell (records, row, "state"), "open");
        cr_assert_eq (strlen (s_cell (records, row, "first_seen")), 20);
        cr_assert_str_eq (s_cell (records, row, "resolved_at"), "");
        //  The item of this row, found by its fingerprint.
        size_t i = (size_t) atoi (s_cell (records, row, "fingerprint") + 2);
        cr_assert_lt (i, count);
        cr_assert_str_eq (s_cell (records, row, "address"), written [i]);
    }
    json_decref (records);

    //  The JSON list's filters apply; every match, not a page.
    answer = s_call (api_drift_list, NULL, "{\"format\": \"csv\", \"severity\": \"critical\"}", NULL);
    records = s_parse_csv (answer->file.data, answer->file.size);
    cr_assert_eq (json_array_size (records), 2);
    cr_assert_str_eq (s_cell (records, 1, "address"), "aws_security_group.web");
    json_decref (records);
    answer = s_call (api_drift_list, NULL, "{\"format\": \"csv\", \"state\": \"all\"}", NULL);
    records = s_parse_csv (answer->file.data, answer->file.size);
    cr_assert_eq (json_array_size (records), 1 + 5 + count, "more than a page of 50 would be too");
    json_decref (records);
    answer = s_call (api_drift_list, NULL, "{\"format\": \"csv\", \"stack\": \"nope\"}", NULL);
    cr_assert_eq (answer->status, 200);
    cr_assert_eq (answer->file.size, strlen ("id,stack_id,stack,fingerprint,address,type,kind,"
                  "class,severity,score,state,first_seen,last_seen,resolved_at\r\n"),
                  "only the header");
    //  Pages are for JSON; other formats are refused.
    cr_assert_str_eq (s_field (s_call (api_drift_list, NULL,
                                       "{\"format\": \"csv\", \"limit\": \"10\"}", NULL)), "limit");
    cr_assert_str_eq (s_field (s_call (api_drift_list, NULL,
                                       "{\"format\": \"csv\", \"offset\": \"1\"}", NULL)), "offset");
    cr_assert_str_eq (s_field (s_call (api_drift_list, NULL, "{\"format\": \"CSV\"}", NULL)),
                      "format");
    cr_assert (!s_last.file.data, "no file with an error");
    //  JSON stays the default.
    answer = s_call (api_drift_list, NULL, "{\"format\": \"json\"}", NULL);
    cr_assert_eq (s_count (answer), 3 + count);
    cr_assert (!answer->file.data);
}

Test (api_resources, a_drift_export_of_more_than_100000_items_is_refused_not_cut)
{
    free (s_owner ("INSERT INTO drift_items (tenant_id, stack_id, fingerprint, address, type, kind,"
                   "                         class, severity, first_seen, last_seen,"
                   "                         opened_by_report, last_report)"
                   " SELECT s.tenant_id, s.id, 'bulk-' || n, 'aws_instance.n' || n, 'aws_instance',"
                   "        'modified', 'real', 1, now (), now (), 'n-1', 'n-1'"
                   "   FROM stacks s, generate_series (1, 100000) AS n"
                   "  WHERE s.tenant_id = $1::uuid AND s.name = 'network'", s_acme));
    s_answer_t *answer = s_call (api_drift_list, NULL, "{\"format\": \"csv\"}", NULL);
    cr_assert_eq (answer->status, 400, "100 003 open items");
    cr_assert (strstr (s_text (answer->reply, "error.message"), "more than 100000 items match"),
               "%s", s_text (answer->reply, "error.message"));
    cr_assert (!answer->file.data);
    //  Narrowed, it is whole again.
    answer = s_call (api_drift_list, NULL, "{\"format\": \"csv\", \"severity\": \"high\"}", NULL);
    cr_assert_eq (answer->status, 200);
    json_t *records = s_parse_csv (answer->file.data, answer->file.size);
    cr_assert_eq (json_array_size (records), 3);
    json_decref (records);
}

Test (api_resources, the_history_export_is_a_csv_record_per_day)
{
    s_ledger ();
    s_answer_t *answer = s_call (api_history_get, NULL, "{\"format\": \"csv\", \"stack\": "
                                 "\"ledger\", \"from\": \"2026-01-05\", \"to\": \"2026-01-18\"}", NULL);
    cr_assert_eq (answer->status, 200, "%s", s_text (answer->reply, "error.message"));
    cr_assert (strncmp (answer->file.name, "history-", 8) == 0, "%s", answer->file.name);
    json_t *records = s_parse_csv (answer->file.data, answer->file.size);
    cr_assert_eq (json_array_size (records), 15);
    const char *header = "day,opened,resolved,open_critical,open_high,open_medium,open_low,"
                         "open_info,open_none\r\n";
    cr_assert (strncmp (answer->file.data, header, strlen (header)) == 0);
    cr_assert_str_eq (s_cell (records, 1, "day"), "2026-01-05");
    cr_assert_str_eq (s_cell (records, 1, "opened"), "3");
    cr_assert_str_eq (s_cell (records, 1, "open_low"), "1");
    cr_assert_str_eq (s_cell (records, 10, "day"), "2026-01-14");
    cr_assert_str_eq (s_cell (records, 10, "opened"), "2");
    cr_assert_str_eq (s_cell (records, 10, "open_info"), "1");
    cr_assert_str_eq (s_cell (records, 10, "open_high"), "0");
    json_decref (records);
}

//  --------------------------------------------------------------------------
//  Pattern suppressions, applied by the score stage

static const config_option_t s_score_options [] = {
    { "rules", CONFIG_STRING, "", "" },
    { "overrides-check-ms", CONFIG_INT, "100", "" },
    { "database", CONFIG_STRING, "", "" },
    CONFIG_END
};

//  scenario-01 scored by the stage for acme: whether its finding on
//  aws_security_group.web is suppressed, and by what (*by, caller frees).
static bool
s_web_suppressed (void *state, char **by)
{
    size_t size;
    char *text = tu_read_fixture ("scenario-01.plan.json", &size);
    normalize_t *normalize = normalize_new (NULL);
    Drift__CanonicalReport *report = normalize_document (normalize, s_acme, "payments", text,
                                                         size);
    normalize_destroy (&normalize);
    free (text);
    cr_assert (report);
    Drift__Envelope *envelope = (Drift__Envelope *) calloc (1, sizeof *envelope);
    drift__envelope__init (envelope);
    envelope->tenant = strdup (s_acme);
    envelope->report_id = strdup ("s-1");
    envelope->body_case = DRIFT__ENVELOPE__BODY_NORMALIZED;
    envelope->normalized.len = drift__canonical_report__get_packed_size (report);
    envelope->normalized.data = (uint8_t *) malloc (envelope->normalized.len);
    drift__canonical_report__pack (report, envelope->normalized.data);
    drift__canonical_report__free_unpacked (report, NULL);
    cr_assert_eq (score_actor.fn (state, envelope), STAGE_FORWARD);
    Drift__ScoredReport *scored = drift__scored_report__unpack (NULL, envelope->scored.len,
                                                                envelope->scored.data);
    cr_assert (scored);
    bool suppressed = false, found = false;
    for (size_t i = 0; i < scored->n_findings; i++)
        if (streq (scored->findings [i]->address, "aws_security_group.web")) {
            found = true;
            suppressed = scored->findings [i]->suppressed;
            *by = suppressed ? strdup (scored->findings [i]->suppressed_by) : NULL;
        }
    cr_assert (found);
    drift__scored_report__free_unpacked (scored, NULL);
    free (envelope->tenant);
    free (envelope->report_id);
    free (envelope->scored.data);
    free (envelope);
    return suppressed;
}

Test (api_resources, a_pattern_suppression_is_checked_stored_and_applied_by_score)
{
    const char *refused [] = {
        "{\"pattern\": \"aws_instance.web\\nmodule.all\", \"reason\": \"two lines\"}",
        "{\"pattern\": \"# only a comment\", \"reason\": \"nothing\"}",
        "{\"pattern\": \"aws_instance.web until 2026-02-30\", \"reason\": \"no such day\"}",
        "{\"pattern\": \"aws_instance.web[\", \"reason\": \"unclosed\"}",
    };
    for (size_t i = 0; i < sizeof refused / sizeof refused [0]; i++) {
        s_answer_t *answer = s_call (api_suppressions_create, NULL, NULL, refused [i]);
        cr_assert_eq (answer->status, 400, "%s", refused [i]);
        cr_assert_str_eq (s_field (answer), "pattern", "%s", refused [i]);
    }
    cr_assert_str_eq (s_field (s_call (api_suppressions_create, NULL, NULL,
                                       "{\"pattern\": \"aws_instance.web\"}")), "reason");

    char *argv [] = { "score", "--database", s_url, NULL };
    int exit_code;
    config_t *config = config_load ("score", "", s_score_options, 3, argv, &exit_code);
    cr_assert (config);
    void *state = score_actor.open (config);
    cr_assert (state);
    char *by = NULL;
    cr_assert_not (s_web_suppressed (state, &by));

    //  An expired suppression does nothing.
    free (s_owner ("INSERT INTO suppressions (tenant_id, pattern, reason, expires_at, created_by) "
                   "VALUES ($1::uuid, 'aws_security_group.web', 'old', now () - interval '1 day',"
                   " 'someone')", s_acme));
    s_answer_t *answer = s_call (api_suppressions_create, NULL, NULL,
        "{\"pattern\": \"aws_security_group.web\", \"reason\": \"bastion group, reviewed\", "
        "\"expires_at\": \"2099-12-31T00:00:00Z\"}");
    cr_assert_eq (answer->status, 201);
    cr_assert_str_eq (s_text (answer->reply, "pattern"), "aws_security_group.web");
    cr_assert_str_eq (s_text (answer->reply, "created_by"), "ops@acme.example");
    cr_assert_str_eq (s_text (answer->reply, "expires_at"), "2099-12-31T00:00:00Z");
    char *id = strdup (s_text (answer->reply, "id"));
    cr_assert_eq (s_count (s_call (api_suppressions_list, NULL, NULL, NULL)), 2);

    zclock_sleep (200);
    cr_assert (s_web_suppressed (state, &by), "the score stage applies it");
    cr_assert (strstr (by, "aws_security_group.web"), "%s", by);
    free (by);

    cr_assert_eq (s_call (api_suppressions_delete, id, NULL, NULL)->status, 204);
    cr_assert_eq (s_call (api_suppressions_delete, id, NULL, NULL)->status, 404);
    cr_assert_eq (s_call (api_suppressions_delete, "nope", NULL, NULL)->status, 404);
    zclock_sleep (200);
    cr_assert_not (s_web_suppressed (state, &by), "and stops once it is removed");
    free (id);
    score_actor.close (state);
    config_destroy (&config);
}

//  --------------------------------------------------------------------------
//  Channels

//  Queue a test send through channel id and poll it until it is done:
//  its state ("sent" or "failed"), the answer in s_last.
static const char *
s_test_outcome (const char *id)
{
    s_answer_t *answer = s_call (api_channels_test, id, NULL, NULL);
    cr_assert_eq (answer->status, 202, "%s", s_text (answer->reply, "error.message"));
    cr_assert_str_eq (s_text (answer->reply, "state"), "pending");
    char test [37];
    snprintf (test, sizeof test, "%s", s_text (answer->reply, "id"));
    for (int i = 0; i < 400; i++) {
        json_decref (s_last.reply);
        s_last.reply = NULL;
        s_last.status = api_channels_test_get (&(api_call_t) {
            .tenant_id = s_acme, .role = s_role, .params = { id, test }, .param_count = 2,
            .settings = &s_settings }, &s_last.reply);
        cr_assert_eq (s_last.status, 200);
        if (strcmp (s_text (s_last.reply, "state"), "pending"))
            return s_text (s_last.reply, "state");
        usleep (25 * 1000);
    }
    cr_assert_fail ("the test send did not finish");
    return NULL;
}

Test (api_resources, channels_are_checked_keep_their_secret_and_send_a_test)
{
    int statuses [] = { 200, 500 };
    char url [64];
    httpsink_t *sink = httpsink_start (statuses, 2, url);
    char *body;
    cr_assert (asprintf (&body, "{\"name\": \"ops-hook\", \"kind\": \"webhook\", "
                         "\"settings\": {\"url\": \"%s\", \"format\": \"generic\"}, "
                         "\"min_severity\": \"critical\", \"digest_seconds\": 300}", url) > 0);
    s_answer_t *answer = s_call (api_channels_create, NULL, NULL, body);
    cr_assert_eq (answer->status, 201);
    char *secret = strdup (s_text (answer->reply, "secret"));
    cr_assert_eq (strlen (secret), 64, "a webhook without a secret gets one, shown once");
    cr_assert_str_eq (s_text (answer->reply, "settings.secret"), "(set)");
    cr_assert_str_eq (s_text (answer->reply, "min_severity"), "critical");
    cr_assert_eq (json_integer_value (json_object_get (answer->reply, "digest_seconds")), 300);
    char *id = strdup (s_text (answer->reply, "id"));
    char *stored = s_owner ("SELECT settings->>'secret' FROM notification_channels", NULL);
    cr_assert_str_eq (stored, secret);
    free (stored);

    answer = s_call (api_channels_list, NULL, NULL, NULL);
    cr_assert_eq (s_count (answer), 1);
    cr_assert_str_eq (s_text (answer->reply, "items.0.settings.secret"), "(set)");
    cr_assert_str_eq (s_text (answer->reply, "items.0.settings.url"), url);
    cr_assert (json_is_integer (s_get (answer->reply, "items.0.sent_total")));
    char *listed = json_dumps (answer->reply, 0);
    cr_assert (!strstr (listed, secret), "a listing never shows the secret");
    free (listed);
    free (secret);

    //  Refusals.
    cr_assert_eq (s_call (api_channels_create, NULL, NULL, body)->status, 409);
    free (body);
    struct { const char *body; const char *field; } cases [] = {
        { "{\"name\": \"a\", \"kind\": \"webhook\", \"settings\": {\"url\": \"ftp://x\"}}",
          "settings" },
        { "{\"name\": \"a\", \"kind\": \"sms\", \"settings\": {}}", "kind" },
        { "{\"name\": \"a\", \"kind\": \"webhook\", \"settings\": \"{}\"}", "settings" },
        { "{\"name\": \"A B\", \"kind\": \"webhook\", \"settings\": {\"url\": \"http://x/\"}}",
          "name" },
        { "{\"name\": \"a\", \"kind\": \"webhook\", \"settings\": {\"url\": \"http://x/\"}, "
          "\"min_severity\": \"none\"}", "min_severity" },
        { "{\"name\": \"a\", \"kind\": \"webhook\", \"settings\": {\"url\": \"http://x/\"}, "
          "\"digest_seconds\": -1}", "digest_seconds" },
        { "{\"name\": \"a\", \"kind\": \"webhook\", \"settings\": {\"url\": \"http://x/\"}, "
          "\"enabled\": false}", "enabled" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases [0]; i++) {
        answer = s_call (api_channels_create, NULL, NULL, cases [i].body);
        cr_assert_eq (answer->status, 400, "%s: %d", cases [i].body, answer->status);
        cr_assert_str_eq (s_field (answer), cases [i].field, "%s", cases [i].body);
    }

    //  A test notice: queued (202), then received once, signed; the
    //  second is answered 500, told as its class without the body.
    cr_assert_str_eq (s_test_outcome (id), "sent");
    cr_assert_eq (httpsink_count (sink), 1);
    httpsink_request_t request;
    cr_assert_eq (httpsink_request (sink, 0, &request), 0);
    cr_assert (request.signature && strstr (request.body, "aws_security_group.example"));
    cr_assert_str_eq (s_test_outcome (id), "failed");
    cr_assert (strstr (s_text (s_last.reply, "error"), "HTTP 5xx"), "%s",
               s_text (s_last.reply, "error"));

    cr_assert_eq (s_call (api_channels_delete, id, NULL, NULL)->status, 204);
    cr_assert_eq (s_call (api_channels_delete, id, NULL, NULL)->status, 404);
    cr_assert_eq (s_call (api_channels_test, id, NULL, NULL)->status, 404);
    free (id);
    httpsink_stop (&sink);
}

Test (api_resources, a_channel_password_is_a_value_sealed_never_a_server_file_or_variable)
{
    //  The attack: a tenant admin names the server's own secrets as the
    //  channel's password, to have them sent to an SMTP server of theirs.
    const char *refused [] = {
        "{\"name\": \"m\", \"kind\": \"email\", \"settings\": {\"url\": \"smtp://127.0.0.1:2525\","
        " \"username\": \"u\", \"password_file\": \"/run/secrets/jwt.secret\", \"from\": \"d@x.io\","
        " \"to\": [\"o@x.io\"]}}",
        "{\"name\": \"m\", \"kind\": \"email\", \"settings\": {\"url\": \"smtp://127.0.0.1:2525\","
        " \"username\": \"u\", \"password_env\": \"DRIFT_DATABASE\", \"from\": \"d@x.io\","
        " \"to\": [\"o@x.io\"]}}",
        //  A login over a session without TLS.
        "{\"name\": \"m\", \"kind\": \"email\", \"settings\": {\"url\": \"smtp://127.0.0.1:2525\","
        " \"starttls\": false, \"username\": \"u\", \"password\": \"pw\", \"from\": \"d@x.io\","
        " \"to\": [\"o@x.io\"]}}",
        //  A file of the server as the CA bundle.
        "{\"name\": \"m\", \"kind\": \"webhook\", \"settings\": {\"url\": \"https://127.0.0.1/\","
        " \"ca_file\": \"/run/drift/keys/archive.key\"}}",
        //  A username without its password.
        "{\"name\": \"m\", \"kind\": \"email\", \"settings\": {\"url\": \"smtps://127.0.0.1:2525\","
        " \"username\": \"u\", \"from\": \"d@x.io\", \"to\": [\"o@x.io\"]}}",
    };
    for (size_t i = 0; i < sizeof refused / sizeof refused [0]; i++) {
        s_answer_t *answer = s_call (api_channels_create, NULL, NULL, refused [i]);
        cr_assert_eq (answer->status, 400, "%s: %d", refused [i], answer->status);
        cr_assert_str_eq (s_field (answer), "settings");
    }
    cr_assert (strstr (s_text (s_call (api_channels_create, NULL, NULL, refused [0])->reply,
                               "error.message"), "password_file"));

    //  The password itself: stored sealed, never in the settings, never answered.
    const char *body = "{\"name\": \"mail\", \"kind\": \"email\", \"settings\": {\"url\": "
        "\"smtps://127.0.0.1:2525\", \"username\": \"u\", \"password\": \"Hunter2-Sealed\","
        " \"from\": \"d@x.io\", \"to\": [\"o@x.io\"]}}";
    s_answer_t *answer = s_call (api_channels_create, NULL, NULL, body);
    cr_assert_eq (answer->status, 201, "%s", s_text (answer->reply, "error.message"));
    char *id = strdup (s_text (answer->reply, "id"));
    char *text = json_dumps (answer->reply, 0);
    cr_assert_null (strstr (text, "Hunter2"), "%s", text);
    free (text);
    cr_assert (json_is_true (json_object_get (answer->reply, "password_set")));
    char *row = s_owner ("SELECT settings::text || coalesce (password_sealed, '') "
                         "FROM notification_channels WHERE name = 'mail'", NULL);
    cr_assert_null (strstr (row, "Hunter2"), "%s", row);
    cr_assert_null (strstr (row, "48756e74657232"), "not in hex either: %s", row);
    free (row);
    answer = s_call (api_channels_list, NULL, NULL, NULL);
    text = json_dumps (answer->reply, 0);
    cr_assert_null (strstr (text, "Hunter2"), "%s", text);
    free (text);

    //  It opens under its own tenant and channel only.
    char *sealed = s_owner ("SELECT password_sealed FROM notification_channels WHERE id = $1",
                            id);
    char *settings = s_owner ("SELECT settings::text FROM notification_channels WHERE id = $1",
                              id);
    channel_context_t context = { .timeout_ms = 1000, .keyring = s_settings.channel_keyring };
    char error [512];
    channel_t *channel = channel_new ("email", settings, sealed, s_acme, id, &context, error,
                                      sizeof error);
    cr_assert (channel, "%s", error);
    channel_destroy (&channel);
    cr_assert_null (channel_new ("email", settings, sealed, s_globex, id, &context, error,
                                 sizeof error));
    cr_assert (strstr (error, "does not open"), "%s", error);
    context.keyring = NULL;
    cr_assert_null (channel_new ("email", settings, sealed, s_acme, id, &context, error,
                                 sizeof error));
    cr_assert (strstr (error, "channel key"), "%s", error);
    free (sealed);
    free (settings);

    //  Without a channel key a password is refused, not kept in clear.
    seal_keyring_t *keyring = s_settings.channel_keyring;
    s_settings.channel_keyring = NULL;
    answer = s_call (api_channels_create, NULL, NULL,
        "{\"name\": \"mail2\", \"kind\": \"email\", \"settings\": {\"url\": "
        "\"smtps://127.0.0.1:2525\", \"username\": \"u\", \"password\": \"pw\","
        " \"from\": \"d@x.io\", \"to\": [\"o@x.io\"]}}");
    s_settings.channel_keyring = keyring;
    cr_assert_eq (answer->status, 400);
    cr_assert (strstr (s_text (answer->reply, "error.message"), "channel key"), "%s",
               s_text (answer->reply, "error.message"));
    cr_assert_eq (s_call (api_channels_delete, id, NULL, NULL)->status, 204);
    free (id);
}

Test (api_resources, pagerduty_teams_and_opsgenie_are_channel_kinds_their_keys_sealed)
{
    //  A kind the server does not know is refused, naming the field.
    s_answer_t *answer = s_call (api_channels_create, NULL, NULL,
        "{\"name\": \"x\", \"kind\": \"slack\", \"settings\": {\"url\": \"http://127.0.0.1:9/\"}}");
    cr_assert_eq (answer->status, 400);
    cr_assert_str_eq (s_field (answer), "kind");
    cr_assert (strstr (s_text (answer->reply, "error.message"), "pagerduty"));

    const char *bodies [] = {
        "{\"name\": \"pager\", \"kind\": \"pagerduty\", \"settings\": {\"url\": "
        "\"http://127.0.0.1:9/v2/enqueue\", \"routing_key\": \"R0utingKeySealed0123\"}}",
        "{\"name\": \"genie\", \"kind\": \"opsgenie\", \"settings\": {\"url\": "
        "\"http://127.0.0.1:9\", \"api_key\": \"GenieKeySealed-0123\"}}",
        "{\"name\": \"teams\", \"kind\": \"teams\", \"settings\": {\"url\": "
        "\"http://127.0.0.1:9/webhookb2/secretpath?sig=s1\"}}"
    };
    char *ids [3];
    for (size_t i = 0; i < 3; i++) {
        answer = s_call (api_channels_create, NULL, NULL, bodies [i]);
        cr_assert_eq (answer->status, 201, "%s", s_text (answer->reply, "error.message"));
        ids [i] = strdup (s_text (answer->reply, "id"));
    }
    //  Without its key a PagerDuty channel is refused.
    answer = s_call (api_channels_create, NULL, NULL,
        "{\"name\": \"pager2\", \"kind\": \"pagerduty\", \"settings\": {\"url\": "
        "\"http://127.0.0.1:9/\"}}");
    cr_assert_eq (answer->status, 400);
    cr_assert (strstr (s_text (answer->reply, "error.message"), "routing_key"));

    //  The keys are sealed: in no listing, not in the rows in clear.
    s_role = API_ROLE_VIEWER;
    answer = s_call (api_channels_list, NULL, NULL, NULL);
    s_role = API_ROLE_OWNER;
    char *text = json_dumps (answer->reply, 0);
    cr_assert_null (strstr (text, "KeySealed"), "%s", text);
    cr_assert_null (strstr (text, "secretpath"), "a viewer sees a Teams URL's origin: %s", text);
    free (text);
    char *rows = s_owner ("SELECT string_agg (settings::text || password_sealed, ' ') "
                          "FROM notification_channels WHERE kind IN ('pagerduty', 'opsgenie')",
                          NULL);
    cr_assert_null (strstr (rows, "KeySealed"), "%s", rows);
    free (rows);
    //  Schema 0020: such a channel's row without its sealed key is refused.
    PGconn *conn = PQconnectdb (s_url);
    PGresult *result = PQexec (conn, "UPDATE notification_channels SET password_sealed = NULL "
                                     "WHERE kind = 'pagerduty'");
    cr_assert_eq (PQresultStatus (result), PGRES_FATAL_ERROR);
    cr_assert (strstr (PQresultErrorMessage (result), "notification_channels_key_sealed"), "%s",
               PQresultErrorMessage (result));
    PQclear (result);
    PQfinish (conn);
    for (size_t i = 0; i < 3; i++) {
        cr_assert_eq (s_call (api_channels_delete, ids [i], NULL, NULL)->status, 204);
        free (ids [i]);
    }
}

Test (api_resources, a_webhook_to_an_internal_host_is_refused_unless_the_operator_allows_it)
{
    const char *allowed = s_settings.allow_hosts;
    s_settings.allow_hosts = NULL;
    const char *hosts [] = { "127.0.0.1", "[::1]", "2130706433", "169.254.169.254", "10.0.0.1" };
    for (size_t i = 0; i < sizeof hosts / sizeof hosts [0]; i++) {
        char body [256];
        snprintf (body, sizeof body, "{\"name\": \"probe\", \"kind\": \"webhook\", "
                  "\"settings\": {\"url\": \"http://%s:6379/\"}}", hosts [i]);
        s_answer_t *answer = s_call (api_channels_create, NULL, NULL, body);
        cr_assert_eq (answer->status, 400, "%s: %d", hosts [i], answer->status);
        cr_assert (strstr (s_text (answer->reply, "error.message"), "internal"), "%s",
                   s_text (answer->reply, "error.message"));
    }
    s_settings.allow_hosts = allowed;
}

Test (api_resources, viewers_see_a_webhook_urls_origin_only)
{
    s_answer_t *answer = s_call (api_channels_create, NULL, NULL,
        "{\"name\": \"slack\", \"kind\": \"webhook\", \"settings\": {\"url\": "
        "\"http://127.0.0.1:9/services/T000/B000/XXXXsecretpath?k=v\", \"format\": \"slack\"}}");
    cr_assert_eq (answer->status, 201, "%s", s_text (answer->reply, "error.message"));
    char *id = strdup (s_text (answer->reply, "id"));
    s_role = API_ROLE_VIEWER;
    answer = s_call (api_channels_list, NULL, NULL, NULL);
    s_role = API_ROLE_OWNER;
    cr_assert_str_eq (s_text (answer->reply, "items.0.settings.url"), "http://127.0.0.1:9");
    char *text = json_dumps (answer->reply, 0);
    cr_assert_null (strstr (text, "secretpath"), "%s", text);
    free (text);
    s_role = API_ROLE_ADMIN;
    answer = s_call (api_channels_list, NULL, NULL, NULL);
    s_role = API_ROLE_OWNER;
    cr_assert_str_eq (s_text (answer->reply, "items.0.settings.url"),
                      "http://127.0.0.1:9/services/T000/B000/XXXXsecretpath?k=v");
    cr_assert_eq (s_call (api_channels_delete, id, NULL, NULL)->status, 204);
    free (id);
}

//  --------------------------------------------------------------------------
//  Agents

Test (api_resources, agents_are_issued_like_drift_keys_issue_and_revoked)
{
    s_answer_t *answer = s_call (api_agents_create, NULL, NULL, "{\"name\": \"ci-runner\"}");
    cr_assert_eq (answer->status, 201, "%s", s_text (answer->reply, "error.message"));
    const char *certificate = s_text (answer->reply, "certificate");
    cr_assert (strstr (certificate, "secret-key") && strstr (certificate, "public-key"));
    cr_assert (strstr (certificate, "agent = \"ci-runner\""), "%s", certificate);
    cr_assert (strstr (certificate, "tenant = \"acme\""), "%s", certificate);
    cr_assert_str_eq (s_text (answer->reply, "configuration.endpoint"),
                      "tcp://drift.example.com:5560");
    char path [300];
    snprintf (path, sizeof path, "%s/server.key", s_keys_dir);
    zcert_t *server = zcert_load (path);
    cr_assert_str_eq (s_text (answer->reply, "configuration.server_key"),
                      zcert_public_txt (server));
    zcert_destroy (&server);
    char key [41];
    snprintf (key, sizeof key, "%s", s_text (answer->reply, "agent.public_key"));
    cr_assert (strstr (certificate, key));
    char *id = strdup (s_text (answer->reply, "agent.id"));
    cr_assert (json_is_null (s_get (answer->reply, "agent.revoked_at")));

    //  The certificate loads as the agent's keypair; the secret is nowhere
    //  in the database.
    char cert_path [300];
    snprintf (cert_path, sizeof cert_path, "%s/agent.cert", s_keys_dir);
    FILE *file = fopen (cert_path, "w");
    fputs (certificate, file);
    fclose (file);
    zcert_t *cert = zcert_load (cert_path);
    cr_assert (cert);
    cr_assert_str_eq (zcert_public_txt (cert), key);
    char *secret_rows = s_owner ("SELECT count (*) FROM agents a WHERE strpos (a::text, $1) > 0",
                                 zcert_secret_txt (cert));
    cr_assert_str_eq (secret_rows, "0");
    free (secret_rows);
    zcert_destroy (&cert);
    unlink (cert_path);

    //  The registry finds it under acme.
    registry_t *registry = registry_new (s_url, getenv ("DRIFT_TEST_REDIS_URL"), 0);
    registry_entry_t entry;
    cr_assert_eq (registry_lookup (registry, key, &entry), 1);
    cr_assert_str_eq (entry.tenant_id, s_acme);
    cr_assert_str_eq (entry.agent, "ci-runner");
    cr_assert_not (entry.revoked);

    cr_assert_eq (s_call (api_agents_create, NULL, NULL, "{\"name\": \"ci-runner\"}")->status,
                  409);
    cr_assert_str_eq (s_field (s_call (api_agents_create, NULL, NULL, "{\"name\": \"-x\"}")),
                      "name");
    cr_assert_str_eq (s_field (s_call (api_agents_create, NULL, NULL, "{\"name\": \"CI\"}")),
                      "name");
    cr_assert_str_eq (s_field (s_call (api_agents_create, NULL, NULL, "{\"name\": 1}")), "name");
    cr_assert_eq (s_count (s_call (api_agents_list, NULL, NULL, NULL)), 2);

    //  Revoked: the registry sees it at once (its Redis answer was removed).
    cr_assert_eq (s_call (api_agents_delete, id, NULL, NULL)->status, 204);
    cr_assert_eq (registry_lookup (registry, key, &entry), 1);
    cr_assert (entry.revoked);
    cr_assert_eq (s_call (api_agents_delete, id, NULL, NULL)->status, 204, "again: still 204");
    cr_assert_eq (s_call (api_agents_delete, "nope", NULL, NULL)->status, 404);
    registry_destroy (&registry);
    free (id);

    //  Without a server keypair nothing is issued.
    s_settings.keys_dir = "/nonexistent";
    answer = s_call (api_agents_create, NULL, NULL, "{\"name\": \"other\"}");
    s_settings.keys_dir = s_keys_dir;
    cr_assert_eq (answer->status, 503);
    cr_assert_eq (s_count (s_call (api_agents_list, NULL, NULL, NULL)), 2);
}

Test (api_resources, the_upgrade_disables_channels_that_name_a_password_file_or_variable)
{
    //  The database as it was before schema 0016, with a channel of each
    //  old kind and one without a password.
    free (s_owner ("DELETE FROM drift_migrations WHERE name = '0016_channel_credentials'", NULL));
    free (s_owner ("ALTER TABLE notification_channels DROP COLUMN password_sealed", NULL));
    free (s_owner ("INSERT INTO notification_channels (tenant_id, name, kind, settings) VALUES"
                   " ($1::uuid, 'old-file', 'email', '{\"url\": \"smtp://mail.example.com\","
                   " \"username\": \"u\", \"password_file\": \"/run/secrets/jwt.secret\"}'),"
                   " ($1::uuid, 'old-env', 'email', '{\"url\": \"smtp://mail.example.com\","
                   " \"username\": \"u\", \"password_env\": \"DRIFT_DATABASE\"}'),"
                   " ($1::uuid, 'plain', 'webhook', '{\"url\": \"https://hooks.example.com/x\"}')",
                   s_acme));
    cr_assert_eq (migrations_apply (s_url), 1);
    char *disabled = s_owner ("SELECT string_agg (name, ',' ORDER BY name) FROM "
                              "notification_channels WHERE NOT enabled AND last_error LIKE "
                              "'%add the channel again with its password%' AND NOT settings ? "
                              "'password_file' AND NOT settings ? 'password_env'", NULL);
    cr_assert_str_eq (disabled, "old-env,old-file");
    free (disabled);
    char *kept = s_owner ("SELECT name FROM notification_channels WHERE enabled", NULL);
    cr_assert_str_eq (kept, "plain");
    free (kept);
    free (s_owner ("DELETE FROM notification_channels WHERE name IN ('old-env', 'old-file', "
                   "'plain')", NULL));
}
