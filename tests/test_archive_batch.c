/*  archive_batch: the set-based batch write (schema 0017) against applying
    the same reports one by one (the per-report path, drift_archive_batch_each
    with one document per call and transaction), on a real PostgreSQL as a
    drift_app login, so row-level security applies to both.

    Sequences are generated from fixed seeds over three stacks: drift that
    opens, persists (its value changing), resolves, reopens; clean reports;
    failed reports in between; late reports older than ones already
    archived; the same report sent again; a fingerprint twice in one report.
    The batched path gets them in batches of 1 to 16, so one batch holds
    several reports of a stack, and two tenants' copies of the sequence share
    each batch; the reference tenant gets them one at a time. What must hold:
    every row (stacks, reports, drift items with their episodes, sightings)
    and every answer is the same. Also: a batch of good reports never runs
    the per-report path; one with a report the tables refuse, or whose agent
    key is not its tenant's, does and answers as before. And with the
    statistics of empty tables, a round reads its own stacks' items, not
    the tenant's, and however long their history, a round reads what its
    reports name, not every item its stacks ever had (auto_explain counts
    the rows).
*/
#define _GNU_SOURCE             // asprintf
#include "testutil.h"
#include "../lib/log.h"
#include "../lib/migrations.h"

#include <criterion/criterion.h>
#include <jansson.h>
#include <libpq-fe.h>
#include <stdio.h>

//  2026-11-27 10:00:00 UTC, and one minute, in microseconds.
#define T0 1795773600000000LL
#define MINUTE 60000000LL
#define STACKS 3
#define POOL 6                       // fingerprints a stack's drift is drawn from
#define REPORTS 60                   // per sequence
#define SEEDS 6

static char *s_url;                  // the test's database, as its owner
static char *s_app;                  // ... as a drift_app login

static void
s_setup (void)
{
    log_init ("test", "logfmt", "error");
    s_url = tu_fresh_database ();
    cr_assert_gt (migrations_apply (s_url), 0);
    s_app = tu_app_url (s_url);
}

static void
s_teardown (void)
{
    free (s_app);
    tu_drop_database (s_url);
}

TestSuite (archive_batch, .init = s_setup, .fini = s_teardown, .timeout = 300);

//  --------------------------------------------------------------------------
//  Generated sequences

//  What the generator made sure a run covers.
typedef struct {
    int late;                        // reports older than one already archived
    int failed;                      // failed reports
    int resent;                      // reports sent again
    int shared;                      // batches with two reports of one stack
} s_cover_t;

typedef struct {
    uint64_t state;                  // xorshift64
} s_random_t;

static int
s_next (s_random_t *random, int below)
{
    random->state ^= random->state << 13;
    random->state ^= random->state >> 7;
    random->state ^= random->state << 17;
    return (int) (random->state % (uint64_t) below);
}

static const char *s_stacks [STACKS] = { "network", "database", "web" };

//  One drift item; value picks the attribute's new value (a change of
//  value keeps the fingerprint here: the lifecycle updates the item).
static json_t *
s_item (int stack, int slot, int severity, int value)
{
    char fingerprint [64], address [64], after [32];
    snprintf (fingerprint, sizeof fingerprint, "fp-%s-%d", s_stacks [stack], slot);
    snprintf (address, sizeof address, "aws_security_group.sg_%d", slot);
    snprintf (after, sizeof after, "\"10.%d.0.0/16\"", value);
    return json_pack ("{s:s, s:s, s:s, s:s, s:s, s:[{s:s, s:s, s:s, s:s}], s:i, s:f,"
                      " s:[{s:s, s:i}], s:b}",
                      "fingerprint", fingerprint, "address", address,
                      "type", "aws_security_group", "kind", slot == 5 ? "deleted" : "modified",
                      "class", "real",
                      "changes", "path", "ingress[0].cidr_blocks[0]", "op", "changed",
                      "before", "\"10.0.0.0/8\"", "after", after,
                      "severity", severity, "score", 0.2 * severity,
                      "reasons", "rule", "aws-sg-ingress", "severity", severity,
                      "suppressed", false);
}

//  Report number `number` of a sequence as a document without tenant and
//  agent key (the caller adds them); present says which fingerprints of
//  the stack it carries.
static json_t *
s_report (s_random_t *random, int number, int stack, int64_t received_us, bool failed,
          const bool *present)
{
    char report_id [32], object_key [96];
    snprintf (report_id, sizeof report_id, "r-%03d", number);
    snprintf (object_key, sizeof object_key, "tenant/%s/%s", s_stacks [stack], report_id);
    json_t *items = json_array ();
    int worst = 0;
    for (int slot = 0; slot < POOL && !failed; slot++) {
        if (!present [slot])
            continue;
        int severity = 1 + s_next (random, 5);
        json_array_append_new (items, s_item (stack, slot, severity, s_next (random, 3)));
        //  Now and then the same fingerprint twice: the worse one counts.
        if (s_next (random, 10) == 0)
            json_array_append_new (items, s_item (stack, slot, severity % 5 + 1, 9));
        worst = severity > worst ? severity : worst;
    }
    json_t *doc = json_pack ("{s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:i, s:i, s:{s:i},"
                             " s:s, s:s, s:o}",
                             "report_id", report_id, "stack", s_stacks [stack],
                             "engine", "terraform", "status", failed ? "failed" : "ok",
                             "received_us", (json_int_t) received_us,
                             "normalized_us", (json_int_t) received_us + 1000,
                             "scored_us", (json_int_t) received_us + 2000,
                             "severity", worst, "score", worst * 2,
                             "counts", "items", (int) json_array_size (items),
                             "object_key", object_key, "key_id", "k1", "items", items);
    if (failed)
        json_object_set_new (doc, "reason", json_string ("terraform plan exited 1"));
    return doc;
}

//  A sequence of count documents (caller decrefs) from seed.
static json_t *
s_sequence (uint64_t seed, int count, s_cover_t *cover)
{
    s_random_t random = { seed * 0x9E3779B97F4A7C15ULL + 1 };
    bool present [STACKS][POOL] = { { false } };
    json_t *sequence = json_array ();
    int64_t clock_us = T0;
    for (int number = 0; number < count; number++) {
        if (number > 0 && s_next (&random, 12) == 0) {
            //  The same report again, as a replay delivers it.
            json_array_append (sequence, json_array_get (sequence, (size_t)
                               s_next (&random, (int) json_array_size (sequence))));
            cover->resent++;
            continue;
        }
        int stack = s_next (&random, STACKS);
        clock_us += MINUTE;
        int64_t received_us = clock_us + number;
        if (s_next (&random, 7) == 0) {
            //  Late: older than reports already archived.
            received_us -= (1 + s_next (&random, 10)) * MINUTE + 7000000;
            cover->late++;
        }
        bool failed = s_next (&random, 10) == 0;
        cover->failed += failed;
        if (!failed) {
            //  Drift comes and goes; a clean report now and then.
            bool clean = s_next (&random, 10) == 0;
            for (int slot = 0; slot < POOL; slot++) {
                if (clean)
                    present [stack][slot] = false;
                else
                if (s_next (&random, 5) == 0)
                    present [stack][slot] = !present [stack][slot];
            }
        }
        json_array_append_new (sequence, s_report (&random, number, stack, received_us, failed,
                                                   present [stack]));
    }
    return sequence;
}

//  The document for tenant (a copy of doc with tenant and agent key).
static json_t *
s_for (json_t *doc, const char *tenant, const char *agent_key)
{
    json_t *copy = json_deep_copy (doc);
    json_object_set_new (copy, "tenant", json_string (tenant));
    json_object_set_new (copy, "agent_key", json_string (agent_key));
    return copy;
}

//  --------------------------------------------------------------------------
//  Writing and reading back

static PGconn *
s_connect (const char *url)
{
    PGconn *conn = PQconnectdb (url);
    cr_assert (PQstatus (conn) == CONNECTION_OK, "%s", PQerrorMessage (conn));
    PQsetNoticeProcessor (conn, NULL, NULL);
    return conn;
}

//  Call function (drift_archive_batch or drift_archive_batch_each) with
//  docs; each answer, without its stack_id (the tenants' ids differ), into
//  answers at the document's index in docs.
static void
s_call (PGconn *conn, const char *function, json_t *docs, json_t *answers)
{
    char *text = json_dumps (docs, JSON_COMPACT);
    char sql [128];
    snprintf (sql, sizeof sql, "SELECT batch_index, outcome FROM %s ($1::jsonb)", function);
    const char *params [] = { text };
    PGresult *result = PQexecParams (conn, sql, 1, NULL, params, NULL, NULL, 0);
    cr_assert_eq (PQresultStatus (result), PGRES_TUPLES_OK, "%s: %s", function,
                  PQresultErrorMessage (result));
    cr_assert_eq (PQntuples (result), (int) json_array_size (docs), "one answer per document");
    for (int row = 0; row < PQntuples (result); row++) {
        size_t index = (size_t) atoi (PQgetvalue (result, row, 0));
        cr_assert_lt (index, json_array_size (docs));
        json_t *outcome = json_loads (PQgetvalue (result, row, 1), 0, NULL);
        cr_assert (outcome);
        json_object_del (outcome, "stack_id");
        json_array_set_new (answers, index, outcome);
    }
    PQclear (result);
    free (text);
}

//  Everything the archive holds for tenant, ids replaced by names, as one
//  JSON text in a fixed order (caller frees).
static char *
s_dump (const char *tenant)
{
    PGconn *conn = s_connect (s_url);
    const char *params [] = { tenant };
    PGresult *result = PQexecParams (conn,
        "SELECT jsonb_build_object ("
        " 'stacks', (SELECT jsonb_agg (to_jsonb (s) - 'tenant_id' - 'id' - 'created_at'"
        "            ORDER BY s.name) FROM stacks s WHERE s.tenant_id = $1::uuid),"
        " 'reports', (SELECT jsonb_agg (to_jsonb (r) - 'tenant_id' - 'stack_id' - 'agent_id'"
        "            - 'archived_at' || jsonb_build_object ('stack', s.name) ORDER BY r.report_id)"
        "            FROM reports r JOIN stacks s ON s.tenant_id = r.tenant_id AND s.id = r.stack_id"
        "            WHERE r.tenant_id = $1::uuid),"
        " 'items', (SELECT jsonb_agg (to_jsonb (d) - 'tenant_id' - 'stack_id'"
        "            || jsonb_build_object ('stack', s.name) ORDER BY s.name, d.fingerprint)"
        "            FROM drift_items d JOIN stacks s ON s.tenant_id = d.tenant_id"
        "            AND s.id = d.stack_id WHERE d.tenant_id = $1::uuid),"
        " 'sightings', (SELECT jsonb_agg (to_jsonb (g) - 'tenant_id' - 'stack_id'"
        "            || jsonb_build_object ('stack', s.name)"
        "            ORDER BY s.name, g.fingerprint, g.seen_at, g.report_id)"
        "            FROM drift_sightings g JOIN stacks s ON s.tenant_id = g.tenant_id"
        "            AND s.id = g.stack_id WHERE g.tenant_id = $1::uuid))::text",
        1, NULL, params, NULL, NULL, 0);
    cr_assert_eq (PQresultStatus (result), PGRES_TUPLES_OK, "%s", PQresultErrorMessage (result));
    char *dump = strdup (PQgetvalue (result, 0, 0));
    PQclear (result);
    PQfinish (conn);
    return dump;
}

static long
s_sum (json_t *answers, const char *field)
{
    long sum = 0;
    size_t index;
    json_t *answer;
    json_array_foreach (answers, index, answer)
        sum += (long) json_integer_value (json_object_get (answer, field));
    return sum;
}

//  --------------------------------------------------------------------------
//  The comparison

Test (archive_batch, batches_give_the_rows_and_answers_that_one_by_one_gives)
{
    PGconn *app = s_connect (s_app);
    s_cover_t cover = { 0 };
    long reopened = 0, resolved = 0, opened = 0;
    for (int seed = 1; seed <= SEEDS; seed++) {
        //  Tenants A and C get the sequence in shared batches, B one by one.
        char a [37], a_key [41], b [37], b_key [41], c [37], c_key [41], name [32];
        snprintf (name, sizeof name, "batched-%d", seed);
        tu_tenant_agent (s_url, name, a, a_key);
        snprintf (name, sizeof name, "single-%d", seed);
        tu_tenant_agent (s_url, name, b, b_key);
        snprintf (name, sizeof name, "sharing-%d", seed);
        tu_tenant_agent (s_url, name, c, c_key);
        json_t *sequence = s_sequence ((uint64_t) seed, REPORTS, &cover);
        size_t count = json_array_size (sequence);

        json_t *single = json_array ();
        for (size_t i = 0; i < count; i++) {
            json_t *docs = json_array ();
            json_array_append_new (docs, s_for (json_array_get (sequence, i), b, b_key));
            json_t *answer = json_array ();
            json_array_append_new (answer, json_null ());
            s_call (app, "drift_archive_batch_each", docs, answer);
            json_array_append (single, json_array_get (answer, 0));
            json_decref (answer);
            json_decref (docs);
        }

        s_random_t random = { (uint64_t) seed * 7919 };
        json_t *batched_a = json_array (), *batched_c = json_array ();
        for (size_t first = 0; first < count; ) {
            size_t size = 1 + (size_t) s_next (&random, 16);
            size_t last = first + size < count ? first + size : count;
            json_t *docs = json_array (), *answers = json_array ();
            bool seen [STACKS] = { false }, shared = false;
            for (size_t i = first; i < last; i++) {
                json_t *doc = json_array_get (sequence, i);
                int stack = 0;
                while (strcmp (s_stacks [stack], json_string_value (json_object_get (doc, "stack"))))
                    stack++;
                shared |= seen [stack];
                seen [stack] = true;
                json_array_append_new (docs, s_for (doc, a, a_key));
                json_array_append_new (docs, s_for (doc, c, c_key));
                json_array_append_new (answers, json_null ());
                json_array_append_new (answers, json_null ());
            }
            cover.shared += shared;
            s_call (app, "drift_archive_batch", docs, answers);
            for (size_t i = 0; i < last - first; i++) {
                json_array_append (batched_a, json_array_get (answers, 2 * i));
                json_array_append (batched_c, json_array_get (answers, 2 * i + 1));
            }
            json_decref (docs);
            json_decref (answers);
            first = last;
        }

        char *one_by_one = s_dump (b), *in_batches = s_dump (a), *sharing = s_dump (c);
        cr_assert_str_eq (in_batches, one_by_one, "seed %d: the batched rows differ", seed);
        cr_assert_str_eq (sharing, one_by_one, "seed %d: the other tenant's rows differ", seed);
        for (size_t i = 0; i < count; i++) {
            cr_assert (json_equal (json_array_get (batched_a, i), json_array_get (single, i)),
                       "seed %d, report %zu: answered %s, one by one %s", seed, i,
                       json_dumps (json_array_get (batched_a, i), JSON_COMPACT),
                       json_dumps (json_array_get (single, i), JSON_COMPACT));
            cr_assert (json_equal (json_array_get (batched_c, i), json_array_get (single, i)));
        }
        opened += s_sum (single, "opened");
        reopened += s_sum (single, "reopened");
        resolved += s_sum (single, "resolved");
        free (one_by_one);
        free (in_batches);
        free (sharing);
        json_decref (single);
        json_decref (batched_a);
        json_decref (batched_c);
        json_decref (sequence);
    }
    PQfinish (app);
    //  The sequences did what they are for.
    cr_assert_gt (opened, 0);
    cr_assert_gt (reopened, 0, "some drift came back after being resolved");
    cr_assert_gt (resolved, 0);
    cr_assert_gt (cover.late, 0);
    cr_assert_gt (cover.failed, 0);
    cr_assert_gt (cover.resent, 0);
    cr_assert_gt (cover.shared, 0, "some batch held two reports of one stack");
}

//  --------------------------------------------------------------------------
//  Which path runs

//  Calls of function in the current transaction of conn.
static long
s_calls (PGconn *conn, const char *function)
{
    const char *params [] = { function };
    PGresult *result = PQexecParams (conn,
        "SELECT coalesce (sum (calls), 0) FROM pg_stat_xact_user_functions WHERE funcname = $1",
        1, NULL, params, NULL, NULL, 0);
    cr_assert_eq (PQresultStatus (result), PGRES_TUPLES_OK, "%s", PQresultErrorMessage (result));
    long calls = atol (PQgetvalue (result, 0, 0));
    PQclear (result);
    return calls;
}

static void
s_exec (PGconn *conn, const char *sql)
{
    PGresult *result = PQexec (conn, sql);
    cr_assert_eq (PQresultStatus (result), PGRES_COMMAND_OK, "%s: %s", sql,
                  PQresultErrorMessage (result));
    PQclear (result);
}

//  Archive docs in one batch, in one transaction; the calls of the
//  per-report path it made, and each answer into answers.
static long
s_batch_calls (PGconn *conn, json_t *docs, json_t *answers)
{
    s_exec (conn, "BEGIN");
    s_call (conn, "drift_archive_batch", docs, answers);
    long calls = s_calls (conn, "drift_archive_batch_each");
    cr_assert_gt (s_calls (conn, "drift_archive_batch"), 0, "function calls are counted");
    s_exec (conn, "COMMIT");
    return calls;
}

Test (archive_batch, good_reports_take_the_set_path_and_a_refused_one_the_per_report_path)
{
    //  Function calls are counted for the sessions of this database.
    char *database = strrchr (s_url, '/') + 1, sql [256];
    snprintf (sql, sizeof sql, "ALTER DATABASE \"%s\" SET track_functions = 'pl'", database);
    PGconn *owner = s_connect (s_url);
    s_exec (owner, sql);
    PQfinish (owner);
    char a [37], a_key [41], b [37], b_key [41];
    tu_tenant_agent (s_url, "acme", a, a_key);
    tu_tenant_agent (s_url, "globex", b, b_key);
    s_cover_t cover = { 0 };
    json_t *sequence = s_sequence (42, 12, &cover);
    PGconn *app = s_connect (s_app);

    //  One report of each stack: one round, set-based.
    json_t *docs = json_array (), *answers = json_array ();
    bool seen [STACKS] = { false };
    for (size_t i = 0; i < json_array_size (sequence); i++) {
        json_t *doc = json_array_get (sequence, i);
        int stack = 0;
        while (strcmp (s_stacks [stack], json_string_value (json_object_get (doc, "stack"))))
            stack++;
        if (seen [stack])
            continue;
        seen [stack] = true;
        json_array_append_new (docs, s_for (doc, a, a_key));
        json_array_append_new (answers, json_null ());
    }
    cr_assert_eq (s_batch_calls (app, docs, answers), 0, "good reports: set-based");
    //  The rest, stacks repeating: the per-report path.
    json_array_clear (docs);
    json_array_clear (answers);
    for (size_t i = 0; i < json_array_size (sequence); i++) {
        json_array_append_new (docs, s_for (json_array_get (sequence, i), a, a_key));
        json_array_append_new (answers, json_null ());
    }
    cr_assert_gt (s_batch_calls (app, docs, answers), 0, "a stack twice: the per-report path");

    //  A drift item of no known kind: the tables refuse the report, which
    //  the per-report path records as failed with the reason; its stack's
    //  other reports in the batch are recorded as one by one would.
    json_t *odd = s_for (json_array_get (sequence, 0), b, b_key);
    json_object_set_new (odd, "report_id", json_string ("odd"));
    json_object_set_new (odd, "status", json_string ("ok"));
    json_t *items = json_array ();
    json_t *item = s_item (0, 1, 3, 1);
    json_object_set_new (item, "kind", json_string ("unspecified"));
    json_array_append_new (items, item);
    json_object_set_new (odd, "items", items);
    json_array_clear (docs);
    json_array_clear (answers);
    json_array_append_new (docs, odd);
    json_array_append_new (answers, json_null ());
    //  ... and one from an agent key that is not the tenant's.
    json_t *stranger = s_for (json_array_get (sequence, 1), b, a_key);
    json_object_set_new (stranger, "report_id", json_string ("stranger"));
    json_array_append_new (docs, stranger);
    json_array_append_new (answers, json_null ());
    for (size_t i = 0; i < json_array_size (sequence); i++) {
        json_array_append_new (docs, s_for (json_array_get (sequence, i), b, b_key));
        json_array_append_new (answers, json_null ());
    }
    cr_assert_gt (s_batch_calls (app, docs, answers), 0, "a refused report: the per-report path");
    const char *refused = json_string_value (json_object_get (json_array_get (answers, 0),
                                                              "refused"));
    cr_assert (refused && strstr (refused, "kind"), "refused: %s", refused ? refused : "(none)");
    const char *error = json_string_value (json_object_get (json_array_get (answers, 1), "error"));
    cr_assert (error && strstr (error, "no agent of tenant"), "error: %s",
               error ? error : "(none)");
    cr_assert_eq (tu_query_long (s_url, "SELECT count (*) FROM reports WHERE report_id = 'odd' "
                                        "AND status = 'failed'"), 1);
    cr_assert_eq (tu_query_long (s_url, "SELECT count (*) FROM reports "
                                        "WHERE report_id = 'stranger'"), 0);
    //  Tenant B's other rows are tenant A's (the refused report aside).
    PGconn *cleanup = s_connect (s_url);
    char delete [160];
    snprintf (delete, sizeof delete, "DELETE FROM reports WHERE report_id = 'odd' "
                                     "AND tenant_id = '%s'", b);
    s_exec (cleanup, delete);
    PQfinish (cleanup);
    char *first = s_dump (a), *second = s_dump (b);
    cr_assert_str_eq (second, first);
    free (first);
    free (second);
    json_decref (docs);
    json_decref (answers);
    json_decref (sequence);
    PQfinish (app);
}

//  --------------------------------------------------------------------------
//  Empty statistics

//  A plan auto_explain sends as a notice (JSON), kept when it is the
//  lifecycle statement's.
static json_t *s_lifecycle_plan;

static void
s_keep_lifecycle_plan (void *arg, const PGresult *result)
{
    (void) arg;
    json_t *plan = tu_notice_plan (PQresultErrorMessage (result));
    const char *query = json_string_value (json_object_get (plan, "Query Text"));
    if (query && strstr (query, "WITH x AS (SELECT * FROM drift_archive_entries (entries)")
    &&  !s_lifecycle_plan)
        s_lifecycle_plan = plan;
    else
        json_decref (plan);
}

//  A successful report of stack name carrying fingerprints (a JSON array
//  of strings, stolen) as medium security group changes.
static json_t *
s_plain_report (const char *tenant, const char *key, const char *report_id, const char *name,
                int64_t received, json_t *fingerprints)
{
    json_t *items = json_array ();
    size_t index;
    json_t *fingerprint;
    json_array_foreach (fingerprints, index, fingerprint)
        json_array_append_new (items, json_pack (
            "{s:O, s:s, s:s, s:s, s:s, s:[], s:i, s:f, s:[], s:b}",
            "fingerprint", fingerprint, "address", "aws_security_group.sg", "type",
            "aws_security_group", "kind", "modified", "class", "real", "changes",
            "severity", 2, "score", 0.4, "reasons", "suppressed", false));
    json_decref (fingerprints);
    char object_key [64];
    snprintf (object_key, sizeof object_key, "tenant/%s/%s", name, report_id);
    return json_pack ("{s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:i, s:i, s:{}, s:s,"
                      " s:s, s:o}",
                      "tenant", tenant, "agent_key", key, "report_id", report_id, "stack", name,
                      "engine", "terraform", "status", "ok", "received_us", (json_int_t) received,
                      "normalized_us", (json_int_t) received, "scored_us", (json_int_t) received,
                      "severity", 2, "score", 4, "counts", "object_key", object_key,
                      "key_id", "k1", "items", items);
}

//  A report of stack `stack` (of 50) carrying its 20 items but `dropped`.
static json_t *
s_wide_report (const char *tenant, const char *key, int round, int stack, int dropped)
{
    char report_id [32], name [16];
    snprintf (report_id, sizeof report_id, "w-%d-%d", round, stack);
    snprintf (name, sizeof name, "wide-%02d", stack);
    json_t *fingerprints = json_array ();
    for (int slot = 0; slot < 20; slot++) {
        if (slot == dropped)
            continue;
        char fingerprint [32];
        snprintf (fingerprint, sizeof fingerprint, "w-%d-%d", stack, slot);
        json_array_append_new (fingerprints, json_string (fingerprint));
    }
    return s_plain_report (tenant, key, report_id, name, T0 + (round * 100 + stack) * MINUTE,
                           fingerprints);
}

//  app closed and the drift_app login connected again with auto_explain
//  (JSON plans of every nested statement, with row counts, as notices),
//  the lifecycle statement's plan kept in s_lifecycle_plan.
static PGconn *
s_explained_app (PGconn *owner, PGconn *app)
{
    PQfinish (app);
    char *database = strrchr (s_url, '/') + 1, *role = strstr (s_app, "://") + 3;
    const char *settings [] = { "session_preload_libraries = 'auto_explain'",
                                "auto_explain.log_min_duration = 0",
                                "auto_explain.log_analyze = on",
                                "auto_explain.log_timing = off",
                                "auto_explain.log_nested_statements = on",
                                "auto_explain.log_format = json",
                                "auto_explain.log_level = notice" };
    for (size_t i = 0; i < sizeof settings / sizeof settings [0]; i++) {
        char sql [512];
        snprintf (sql, sizeof sql, "ALTER ROLE %.*s IN DATABASE \"%s\" SET %s",
                  (int) (strchr (role, '@') - role), role, database, settings [i]);
        s_exec (owner, sql);
    }
    PGconn *explained = s_connect (s_app);
    PQsetNoticeReceiver (explained, s_keep_lifecycle_plan, NULL);
    return explained;
}

//  A new install's tables were analyzed empty, so until autovacuum's first
//  ANALYZE the planner thinks a tenant holds almost no items. A round must
//  still read only its own stacks' items: in bench/e2e's first pass the
//  lifecycle statement read every open item of the tenant once per row of
//  the round (a tenant of 1 000 open items: 262 000 item rows for 7
//  reports). auto_explain counts the item rows the statement reads.
Test (archive_batch, a_round_reads_its_stacks_items_whatever_the_statistics_say)
{
    char tenant [37], key [41];
    tu_tenant_agent (s_url, "acme", tenant, key);
    PGconn *owner = s_connect (s_url);
    s_exec (owner, "ANALYZE");
    const char *tables [] = { "drift_items", "drift_sightings", "reports", "stacks" };
    for (int i = 0; i < 4; i++) {
        char sql [96];
        snprintf (sql, sizeof sql, "ALTER TABLE %s SET (autovacuum_enabled = off)", tables [i]);
        s_exec (owner, sql);
    }
    //  50 stacks of 20 open items.
    PGconn *app = s_connect (s_app);
    json_t *answers = json_array ();
    for (int first = 0; first < 50; first += 10) {
        json_t *docs = json_array ();
        for (int stack = first; stack < first + 10; stack++) {
            json_array_append_new (docs, s_wide_report (tenant, key, 0, stack, -1));
            json_array_append_new (answers, json_null ());
        }
        s_call (app, "drift_archive_batch", docs, answers);
        json_decref (docs);
    }
    char *said = json_dumps (json_array_get (answers, 0), JSON_COMPACT);
    cr_assert_eq (tu_query_long (s_url, "SELECT count (*) FROM drift_items "
                                        "WHERE resolved_at IS NULL"), 1000, "answer: %s", said);
    free (said);
    //  Rounds of 7 reports, each without one of its stack's items; the
    //  plan of the seventh (past the five custom plans a cached statement
    //  gets before a generic one) on a connection with auto_explain.
    for (int round = 1; round <= 7; round++) {
        if (round == 7) {
            app = s_explained_app (owner, app);
        }
        json_t *docs = json_array ();
        json_array_clear (answers);
        for (int stack = round * 7 - 7; stack < round * 7; stack++) {
            json_array_append_new (docs, s_wide_report (tenant, key, round, stack, round));
            json_array_append_new (answers, json_null ());
        }
        s_call (app, "drift_archive_batch", docs, answers);
        json_decref (docs);
        cr_assert_eq (s_sum (answers, "resolved"), 7, "each report resolves its dropped item");
    }
    cr_assert (s_lifecycle_plan, "auto_explain sent the lifecycle statement's plan");
    double rows = tu_plan_rows (json_object_get (s_lifecycle_plan, "Plan"), "drift_items");
    //  262 705 before schema 0030, about 600 with it, 420 with 0031.
    cr_assert_lt (rows, 2000, "the round read %.0f item rows: its 7 stacks hold 140, the "
                  "tenant 1 000", rows);
    cr_assert_eq (tu_query_long (s_url, "SELECT count (*) FROM drift_items "
                                        "WHERE resolved_at IS NULL"), 1000 - 49);
    json_decref (s_lifecycle_plan);
    json_decref (answers);
    PQfinish (app);
    PQfinish (owner);
}

//  A stack's history grows for as long as it is checked: every value that
//  changed left a resolved item behind. A round must read what its reports
//  name, not their stacks' history: before schema 0031 the look-up of
//  items back after being resolved scanned each stack's items by
//  (tenant, stack), resolved ones included, for every report that carried
//  drift, when the statistics said a stack holds few. Ten stacks of 230
//  resolved and 5 open items among 400 of one; the rows the lifecycle
//  statement reads stay near the 100 the round's reports name and resolve.
Test (archive_batch, a_round_reads_what_its_reports_name_not_their_stacks_history)
{
    char tenant [37], key [41];
    tu_tenant_agent (s_url, "acme", tenant, key);
    PGconn *owner = s_connect (s_url), *app = s_connect (s_app);
    json_t *answers = json_array ();
    //  Most stacks hold an item or two, so the statistics say a stack has
    //  few; 400 of them, with one item each.
    for (int first = 0; first < 400; first += 100) {
        json_t *docs = json_array ();
        for (int stack = first; stack < first + 100; stack++) {
            char report_id [32], name [32];
            snprintf (report_id, sizeof report_id, "q-%d", stack);
            snprintf (name, sizeof name, "quiet-%d", stack);
            json_array_append_new (docs, s_plain_report (tenant, key, report_id, name,
                                   T0 + stack, json_pack ("[s]", report_id)));
            json_array_append_new (answers, json_null ());
        }
        s_call (app, "drift_archive_batch", docs, answers);
        json_decref (docs);
    }
    //  Version v of every aged stack shows items h-<stack>-<slot>-<v>, slots
    //  0-4: each round resolves the previous version's 5 and opens 5.
    for (int version = 0; version < 47; version++) {
        if (version == 39)
            s_exec (owner, "ANALYZE");
        if (version == 46) {
            app = s_explained_app (owner, app);
        }
        json_t *docs = json_array ();
        json_array_clear (answers);
        for (int stack = 0; stack < 10; stack++) {
            char report_id [32], name [16];
            snprintf (report_id, sizeof report_id, "h-%d-%d", version, stack);
            snprintf (name, sizeof name, "aged-%d", stack);
            json_t *fingerprints = json_array ();
            for (int slot = 0; slot < 5; slot++) {
                char fingerprint [32];
                snprintf (fingerprint, sizeof fingerprint, "h-%d-%d-%d", stack, slot, version);
                json_array_append_new (fingerprints, json_string (fingerprint));
            }
            json_array_append_new (docs, s_plain_report (tenant, key, report_id, name,
                                   T0 + (version * 100 + stack) * MINUTE, fingerprints));
            json_array_append_new (answers, json_null ());
        }
        s_call (app, "drift_archive_batch", docs, answers);
        json_decref (docs);
        cr_assert_eq (s_sum (answers, "opened"), 50);
        cr_assert_eq (s_sum (answers, "resolved"), version ? 50 : 0);
    }
    cr_assert_eq (tu_query_long (s_url, "SELECT count (*) FROM drift_items "
                                        "WHERE resolved_at IS NULL"), 450);
    cr_assert_eq (tu_query_long (s_url, "SELECT count (*) FROM drift_items"), 2750);
    cr_assert (s_lifecycle_plan, "auto_explain sent the lifecycle statement's plan");
    double rows = tu_plan_rows (json_object_get (s_lifecycle_plan, "Plan"), "drift_items");
    //  13 795 before schema 0031, about 250 with it.
    cr_assert_lt (rows, 400, "the round read %.0f item rows: its reports name 50 and resolve "
                  "50, their stacks hold 2 350", rows);
    json_decref (s_lifecycle_plan);
    json_decref (answers);
    PQfinish (app);
    PQfinish (owner);
}
