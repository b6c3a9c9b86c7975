/*  bench/api: how fast the dashboard's hottest question is answered:
    GET /api/v1/drift?severity=high&state=open&limit=50, the filtered first
    page of the drift list, with 100 000 drift items in the tenant and 10
    other tenants holding as many each.

    usage: bench_api DATABASE_URL [runs] [--http BASE_URL]
           (scripts/bench api: a durable private cluster, a new database;
           DATABASE_URL is its owner, a superuser)

    Data is made by SQL (generate_series), as the owner: 11 tenants of 20
    stacks and 100 000 items each, severities spread evenly over none ..
    critical, 30 % resolved, 5 % suppressed by a .driftignore line, 1 %
    muted by hand, last seen over the past 30 days; then ANALYZE. The query
    plan is printed (EXPLAIN ANALYZE, as a drift_app login with the tenant
    set, as the handler runs it).

    Requests are made one after another by one client. In process (the
    default) each is what the server does around a handler: BEGIN,
    drift_set_tenant, the handler (api_drift_list), its JSON serialized,
    COMMIT, on a drift_app login so row-level security applies. With
    --http, over real HTTP against a running `drift api` on the same
    database: the bench signs up (POST /api/v1/signup, tenant "bench") for
    a token, makes the data under that tenant, and sends each request with
    libcurl on one kept-alive connection. Printed: medians over `runs` of
    requests per second, p50 and p99 latency (target p99 < 50 ms).
*/
#define _GNU_SOURCE
#include "median.h"
#include "../api/resource.h"
#include "../lib/clock.h"
#include "../lib/log.h"
#include "../lib/migrations.h"

#include <curl/curl.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define ITEMS_PER_TENANT 100000
#define OTHER_TENANTS 10
#define STACKS_PER_TENANT 20
#define REQUESTS_PER_RUN 2000
#define WARMUP_REQUESTS 200
#define QUERY "{\"severity\": \"high\", \"state\": \"open\", \"limit\": \"50\"}"
#define PATH "/api/v1/drift?severity=high&state=open&limit=50"

static int64_t
s_now_us (void)
{
    struct timespec now;
    clock_gettime (CLOCK_MONOTONIC, &now);
    return (int64_t) now.tv_sec * 1000000 + now.tv_nsec / 1000;
}

static PGconn *
s_connect (const char *url)
{
    PGconn *conn = PQconnectdb (url);
    if (PQstatus (conn) != CONNECTION_OK) {
        fprintf (stderr, "bench_api: cannot connect: %s", PQerrorMessage (conn));
        exit (1);
    }
    return conn;
}

static void
s_exec (PGconn *conn, const char *sql)
{
    PGresult *result = PQexec (conn, sql);
    if (PQresultStatus (result) != PGRES_COMMAND_OK && PQresultStatus (result) != PGRES_TUPLES_OK) {
        fprintf (stderr, "bench_api: %.200s: %s", sql, PQerrorMessage (conn));
        exit (1);
    }
    PQclear (result);
}

//  url with its user replaced by user (caller frees).
static char *
s_as_user (const char *url, const char *user)
{
    const char *at = strchr (strstr (url, "://") + 3, '@');
    char *other;
    if (asprintf (&other, "postgresql://%s%s", user, at ? at : "@127.0.0.1/postgres") < 0)
        exit (1);
    return other;
}

//  --------------------------------------------------------------------------
//  Data

//  Tenants, agents, stacks, one report per stack and ITEMS_PER_TENANT items
//  for tenant bench (made here or by the signup) and OTHER_TENANTS others.
static void
s_make_data (PGconn *conn)
{
    int64_t start = clock_mono_ms ();
    s_exec (conn, "INSERT INTO tenants (name) VALUES ('bench') ON CONFLICT (name) DO NOTHING");
    char sql [2048];
    snprintf (sql, sizeof sql, "INSERT INTO tenants (name) SELECT 'other-' || n "
              "FROM generate_series (1, %d) n", OTHER_TENANTS);
    s_exec (conn, sql);
    //  Made-up keys: 40 characters of the Z85 alphabet, one per tenant.
    s_exec (conn, "INSERT INTO agents (tenant_id, name, public_key) "
                  "SELECT id, 'agent-1', rpad (replace (id::text, '-', ''), 40, 'x') FROM tenants");
    snprintf (sql, sizeof sql, "INSERT INTO stacks (tenant_id, name, engine, last_report_id, "
              "last_report_at, last_success_at) SELECT t.id, 'stack-' || n, 'terraform', "
              "'report-' || n, now (), now () FROM tenants t, generate_series (1, %d) n",
              STACKS_PER_TENANT);
    s_exec (conn, sql);
    s_exec (conn, "INSERT INTO reports (tenant_id, report_id, stack_id, agent_id, received_at, "
                  "status, severity, score) SELECT s.tenant_id, s.last_report_id, s.id, a.id, "
                  "now (), 'ok', 4, 50 FROM stacks s JOIN agents a ON a.tenant_id = s.tenant_id");
    snprintf (sql, sizeof sql,
        "INSERT INTO drift_items (tenant_id, stack_id, fingerprint, address, type, kind, class,"
        " changes, severity, score, reasons, suppressed, suppressed_by, muted_reason, muted_by,"
        " muted_at, first_seen, last_seen, resolved_at, opened_by_report, last_report,"
        " resolved_by_report)"
        " SELECT t.id, s.id, md5 (t.id::text || n), 'aws_security_group.sg_' || n,"
        "  'aws_security_group', 'modified', (ARRAY ['real', 'mirror', 'noise']) [1 + n %% 3],"
        "  '[{\"path\": \"ingress[0].cidr_blocks[0]\", \"op\": \"added\", \"before\": \"\","
        "     \"after\": \"\\\"0.0.0.0/0\\\"\"}]', n %% 6, (n %% 6) * 0.2,"
        "  '[{\"rule\": \"aws-sg-ingress-world\", \"severity\": 4, \"reason\": \"open\"}]',"
        "  n %% 20 = 7, CASE WHEN n %% 20 = 7 THEN 'tenant .driftignore:1 x' END,"
        "  CASE WHEN n %% 100 = 11 THEN 'reviewed' END, CASE WHEN n %% 100 = 11 THEN 'ops' END,"
        "  CASE WHEN n %% 100 = 11 THEN now () END,"
        "  now () - interval '40 days', now () - (n %% 43200) * interval '1 minute',"
        "  CASE WHEN n %% 10 < 3 THEN now () END, s.last_report_id, s.last_report_id,"
        "  CASE WHEN n %% 10 < 3 THEN s.last_report_id END"
        " FROM tenants t CROSS JOIN generate_series (1, %d) n"
        " JOIN stacks s ON s.tenant_id = t.id AND s.name = 'stack-' || (1 + n %% %d)",
        ITEMS_PER_TENANT, STACKS_PER_TENANT);
    s_exec (conn, sql);
    s_exec (conn, "ANALYZE");
    printf ("data: %d tenants x %d items (%d stacks each), made in %.1f s\n", OTHER_TENANTS + 1,
            ITEMS_PER_TENANT, STACKS_PER_TENANT, (clock_mono_ms () - start) / 1000.0);
}

//  --------------------------------------------------------------------------
//  Requests

static int
s_compare (const void *a, const void *b)
{
    double x = *(const double *) a, y = *(const double *) b;
    return x < y ? -1 : x > y;
}

typedef struct {
    double rate;                 // requests per second
    double p50_ms;               // median latency
    double p99_ms;               // 99th percentile
} s_run_t;

static s_run_t
s_summary (double *latencies, int count, double seconds)
{
    qsort (latencies, (size_t) count, sizeof *latencies, s_compare);
    return (s_run_t) { count / seconds, latencies [count / 2], latencies [count * 99 / 100] };
}

//  One request in process, as the server runs it; the JSON's size.
static size_t
s_request_in_process (PGconn *conn, const char *tenant, const api_settings_t *settings)
{
    s_exec (conn, "BEGIN");
    const char *params [] = { tenant };
    PGresult *result = PQexecParams (conn, "SELECT drift_set_tenant ($1::uuid)", 1, NULL,
                                     params, NULL, NULL, 0);
    PQclear (result);
    api_call_t call = {
        .conn = conn, .tenant_id = tenant, .user_id = tenant, .user_email = "bench",
        .role = API_ROLE_VIEWER, .query = json_loads (QUERY, 0, NULL), .settings = settings
    };
    json_t *reply = NULL;
    int status = api_drift_list (&call, &reply);
    char *text = json_dumps (reply, JSON_COMPACT);
    size_t size = strlen (text);
    s_exec (conn, status == 200 ? "COMMIT" : "ROLLBACK");
    if (status != 200 || json_array_size (json_object_get (reply, "items")) != 50) {
        fprintf (stderr, "bench_api: the handler answered %d: %.300s\n", status, text);
        exit (1);
    }
    free (text);
    json_decref (reply);
    json_decref (call.query);
    return size;
}

typedef struct {
    char *data;                  // the body so far
    size_t size;                 // its length
} s_body_t;

static size_t
s_collect (char *data, size_t size, size_t count, void *arg)
{
    s_body_t *body = (s_body_t *) arg;
    body->data = (char *) realloc (body->data, body->size + size * count + 1);
    memcpy (body->data + body->size, data, size * count);
    body->size += size * count;
    body->data [body->size] = 0;
    return size * count;
}

//  A request over HTTP on curl's kept-alive connection; the HTTP status,
//  the body in *body (reset first).
static long
s_http (CURL *curl, const char *url, const char *token, const char *post, s_body_t *body)
{
    body->size = 0;
    struct curl_slist *headers = NULL;
    char authorization [2048];
    if (token) {
        snprintf (authorization, sizeof authorization, "Authorization: Bearer %s", token);
        headers = curl_slist_append (headers, authorization);
    }
    if (post)
        headers = curl_slist_append (headers, "Content-Type: application/json");
    curl_easy_setopt (curl, CURLOPT_URL, url);
    curl_easy_setopt (curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt (curl, CURLOPT_WRITEFUNCTION, s_collect);
    curl_easy_setopt (curl, CURLOPT_WRITEDATA, body);
    if (post)
        curl_easy_setopt (curl, CURLOPT_POSTFIELDS, post);
    else
        curl_easy_setopt (curl, CURLOPT_HTTPGET, 1L);
    long status = 0;
    if (curl_easy_perform (curl) == CURLE_OK)
        curl_easy_getinfo (curl, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all (headers);
    return status;
}

//  --------------------------------------------------------------------------

int
main (int argc, char *argv [])
{
    if (argc < 2) {
        fprintf (stderr, "usage: bench_api DATABASE_URL [runs] [--http BASE_URL]\n");
        return 2;
    }
    const char *url = argv [1];
    int runs = argc > 2 && argv [2][0] != '-' ? atoi (argv [2]) : 5;
    const char *http = NULL;
    for (int i = 2; i + 1 < argc; i++)
        if (strcmp (argv [i], "--http") == 0)
            http = argv [i + 1];
    if (runs < 1 || runs > 50)
        runs = 5;
    log_init ("bench_api", "logfmt", "error");
    if (migrations_apply (url) < 0) {
        fprintf (stderr, "bench_api: migrations failed on %s\n", url);
        return 1;
    }
    PGconn *owner = s_connect (url);
    s_exec (owner, "DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = "
                   "'drift_bench_app') THEN CREATE ROLE drift_bench_app LOGIN IN ROLE drift_app; "
                   "END IF; END $$");

    //  Over HTTP the tenant is the signup's: made first, filled after.
    CURL *curl = NULL;
    char *token = NULL;
    s_body_t body = { NULL, 0 };
    char endpoint [512];
    if (http) {
        curl_global_init (CURL_GLOBAL_DEFAULT);
        curl = curl_easy_init ();
        snprintf (endpoint, sizeof endpoint, "%s/api/v1/signup", http);
        long status = s_http (curl, endpoint, NULL, "{\"tenant\": \"bench\", \"email\": "
                              "\"bench@example.com\", \"password\": \"bench-password-1234\"}",
                              &body);
        if (status != 201) {
            snprintf (endpoint, sizeof endpoint, "%s/api/v1/login", http);
            status = s_http (curl, endpoint, NULL, "{\"email\": \"bench@example.com\", "
                             "\"password\": \"bench-password-1234\"}", &body);
        }
        json_t *answer = json_loads (body.data ? body.data : "", 0, NULL);
        const char *access = json_string_value (json_object_get (answer, "access_token"));
        if (!access) {
            fprintf (stderr, "bench_api: no token from %s (HTTP %ld): %s\n", http, status,
                     body.data ? body.data : "");
            return 1;
        }
        token = strdup (access);
        json_decref (answer);
    }
    PGresult *existing = PQexec (owner, "SELECT count (*) FROM drift_items");
    bool made = PQresultStatus (existing) == PGRES_TUPLES_OK
             && atol (PQgetvalue (existing, 0, 0)) > 0;
    PQclear (existing);
    if (!made)
        s_make_data (owner);
    PGresult *tenant_row = PQexec (owner, "SELECT id FROM tenants WHERE name = 'bench'");
    char tenant [37];
    snprintf (tenant, sizeof tenant, "%s", PQgetvalue (tenant_row, 0, 0));
    PQclear (tenant_row);
    PQfinish (owner);

    char *app_url = s_as_user (url, "drift_bench_app");
    PGconn *conn = s_connect (app_url);
    api_settings_t settings = { .stale_after_s = 86400 };

    //  The plan, as the handler's statement runs under the tenant.
    s_exec (conn, "BEGIN");
    const char *params [] = { tenant };
    PGresult *result = PQexecParams (conn, "SELECT drift_set_tenant ($1::uuid)", 1, NULL, params,
                                     NULL, NULL, 0);
    PQclear (result);
    result = PQexecParams (conn,
        "EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) SELECT d.stack_id, d.fingerprint, s.name"
        " FROM drift_items d JOIN stacks s ON s.tenant_id = d.tenant_id AND s.id = d.stack_id"
        " WHERE d.tenant_id = $1::uuid AND " RESOURCE_OPEN_SQL
        "   AND d.severity >= 4::smallint"
        " ORDER BY d.severity DESC, d.last_seen DESC, d.stack_id, d.fingerprint"
        " LIMIT 51 OFFSET 0", 1, NULL, params, NULL, NULL, 0);
    printf ("plan of the filtered first page (the handler's WHERE and ORDER, as drift_app):\n");
    for (int row = 0; row < PQntuples (result); row++)
        printf ("    %s\n", PQgetvalue (result, row, 0));
    PQclear (result);
    s_exec (conn, "COMMIT");

    if (http)
        snprintf (endpoint, sizeof endpoint, "%s" PATH, http);
    double *latencies = (double *) malloc (REQUESTS_PER_RUN * sizeof *latencies);
    double rates [50], p50s [50], p99s [50];
    size_t size = 0;
    for (int i = 0; i < WARMUP_REQUESTS; i++)
        if (!http)
            size = s_request_in_process (conn, tenant, &settings);
        else
            s_http (curl, endpoint, token, NULL, &body);
    for (int run = 0; run < runs; run++) {
        int64_t run_start = s_now_us ();
        for (int i = 0; i < REQUESTS_PER_RUN; i++) {
            int64_t start = s_now_us ();
            if (!http)
                size = s_request_in_process (conn, tenant, &settings);
            else {
                long status = s_http (curl, endpoint, token, NULL, &body);
                if (status != 200) {
                    fprintf (stderr, "bench_api: HTTP %ld: %.300s\n", status,
                             body.data ? body.data : "");
                    return 1;
                }
                size = body.size;
            }
            latencies [i] = (s_now_us () - start) / 1000.0;
        }
        s_run_t summary = s_summary (latencies, REQUESTS_PER_RUN,
                                     (s_now_us () - run_start) / 1e6);
        rates [run] = summary.rate;
        p50s [run] = summary.p50_ms;
        p99s [run] = summary.p99_ms;
        printf ("run %d: %.0f requests/s, p50 %.2f ms, p99 %.2f ms\n", run + 1, summary.rate,
                summary.p50_ms, summary.p99_ms);
    }
    double p99 = median_of (p99s, runs);
    printf ("GET " PATH " (%s, %d items in the tenant, %d other tenants, %zu-byte answer):\n"
            "  median of %d runs of %d requests: %.0f requests/s, p50 %.2f ms, p99 %.2f ms "
            "(target p99 < 50 ms: %s)\n",
            http ? "over HTTP against drift api" : "in process: the handler, no HTTP server",
            ITEMS_PER_TENANT, OTHER_TENANTS, size, runs, REQUESTS_PER_RUN,
            median_of (rates, runs), median_of (p50s, runs), p99, p99 < 50 ? "met" : "MISSED");
    free (latencies);
    free (body.data);
    free (token);
    if (curl) {
        curl_easy_cleanup (curl);
        curl_global_cleanup ();
    }
    PQfinish (conn);
    free (app_url);
    return 0;
}
