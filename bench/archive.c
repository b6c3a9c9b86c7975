/*  bench/archive: reports per second archived by the archive stage (the
    sealed raw report written to the object store, the report row and its
    stack's drift lifecycle in PostgreSQL), beside a plain batched SQL loop
    writing the same rows, measured in the same run.

    usage: bench_archive DATABASE_URL [reports] [runs]
           (scripts/bench archive starts a durable private cluster and
           creates a database for it; DATABASE_URL is its owner, a superuser)

    Reports are built in code: status OK, 5 drift items of 2 attribute
    changes each, one finding with a reason per item, and a raw report of
    about 4 KiB. They go round-robin over 10 tenants × 20 stacks, received
    1 ms apart; per stack, 2 items persist from report to report (updated),
    1 flips between two fingerprints (resolved, then reopened) and 2 are new
    each time (opened, resolved by the next), so the lifecycle does real
    work. The stage runs in-process as the worker runtime calls it: the
    stage function for each of 64 envelopes, then the write of the batch
    begun (one call of drift_archive_batch, sent without waiting), and the
    next 64 through the stage function while it is written, connected as a drift_app login so row-level
    security applies as in production; the store is local (objects put
    lazily, one syncfs per batch before the rows), and on s3 as well when DRIFT_TEST_S3_ENDPOINT and friends are
    set (scripts/lib/s3.sh). The baseline, as the owner: per batch of 64,
    one transaction with one multi-row INSERT into reports, one into
    drift_items and one into drift_sightings (stacks made beforehand; no lifecycle, no object, no
    sealing; each report's fingerprints made unique so every item is a
    plain insert). Each run starts from the same tables (drift_sightings,
    drift_items, reports and stacks truncated, then seeded with the history
    of other stacks and analyzed: s_seed_history) and an empty local store,
    with the same report ids, so runs are comparable (the s3 bucket is not emptied: runs after
    the first overwrite the same keys). Printed: medians of `runs`, the ratio
    stage/plain, where the stage's time goes (the stage function: unpack,
    seal, store, document; the flush: syncing the store, sending the SQL and
    waiting for the write before) and the stored object's size.
*/
#define _GNU_SOURCE
#include "median.h"
#include "../actors/actors.h"
#include "../actors/archive/archive_doc.h"
#include "../lib/log.h"
#include "../lib/migrations.h"

#include <fcntl.h>
#include <ftw.h>
#include <jansson.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define TENANTS 10
#define STACKS_PER_TENANT 20
#define STACKS (TENANTS * STACKS_PER_TENANT)
#define ITEMS 5
#define BATCH 64
#define RAW_TARGET 4096
#define RUNS_MAX 15
#define APP_ROLE "drift_bench_app"
//  2026-11-27 10:00:00 UTC in microseconds: every run archives the same times.
#define T0 1795773600000000LL

typedef struct {
    char id [37];                   // tenant uuid
    char agent_key [41];            // its agent's Z85 public key
    char agent_id [37];             // ... and the agent's uuid
} s_tenant_t;

//  One drift item as the plain loop writes it.
typedef struct {
    char fingerprint [80];          // the stage's fingerprint, made unique per report
    char address [64];              // resource address
    char *changes;                  // masked changes, JSON, as the stage's document has them
    char *reasons;                  // findings, JSON, likewise
    char severity [4];              // item severity
    char score [32];                // item score
} s_plain_item_t;

//  One report: the envelope the stage gets, and the rows the plain loop writes.
typedef struct {
    Drift__Envelope envelope;       // tenant, agent key, stack, report id, scored body
    char report_id [32];            // unique in a run
    char stack [32];                // stack name
    int tenant;                     // index into the tenants
    int stack_index;                // index into all stacks (tenant-major)
    char received [40];             // received_us as a timestamptz literal
    char severity [4];              // report severity
    char score [32];                // report score
    char *counts;                   // report counts, JSON
    s_plain_item_t items [ITEMS];   // its drift items
} s_report_t;

static char s_dir [512];            // temporary directory: key file and store root
static size_t s_raw_size;           // bytes of one raw report

static double
s_now (void)
{
    struct timespec now;
    clock_gettime (CLOCK_MONOTONIC, &now);
    return now.tv_sec + now.tv_nsec / 1e9;
}

static void
s_die (const char *what, const char *detail)
{
    fprintf (stderr, "bench_archive: %s%s%s\n", what, detail ? ": " : "", detail ? detail : "");
    exit (1);
}

//  --------------------------------------------------------------------------
//  SQL helpers, as the owner

static PGresult *
s_query (PGconn *conn, const char *sql, int count, const char *const *params)
{
    PGresult *result = PQexecParams (conn, sql, count, NULL, params, NULL, NULL, 0);
    ExecStatusType status = PQresultStatus (result);
    if (status != PGRES_TUPLES_OK && status != PGRES_COMMAND_OK) {
        fprintf (stderr, "bench_archive: %s\n", sql);
        s_die ("query failed", PQresultErrorMessage (result));
    }
    return result;
}

static void
s_exec (PGconn *conn, const char *sql)
{
    PQclear (s_query (conn, sql, 0, NULL));
}

static long
s_query_long (PGconn *conn, const char *sql)
{
    PGresult *result = s_query (conn, sql, 0, NULL);
    long value = PQntuples (result) ? atol (PQgetvalue (result, 0, 0)) : 0;
    PQclear (result);
    return value;
}

//  --------------------------------------------------------------------------
//  Setting up: tenants, the application login, key file and store root

//  Ten tenants with an agent each; an earlier run's are dropped first.
static void
s_make_tenants (PGconn *conn, s_tenant_t *tenants)
{
    s_exec (conn, "TRUNCATE drift_sightings, drift_items, reports, stacks");
    //  Agents do not cascade with their tenant (revocation keeps them): first.
    s_exec (conn, "DELETE FROM agents WHERE tenant_id IN "
                  "(SELECT id FROM tenants WHERE name LIKE 'bench-archive-%')");
    s_exec (conn, "DELETE FROM tenants WHERE name LIKE 'bench-archive-%'");
    for (int t = 0; t < TENANTS; t++) {
        char name [32];
        snprintf (name, sizeof name, "bench-archive-%d", t);
        //  40 characters of the Z85 alphabet.
        snprintf (tenants [t].agent_key, sizeof tenants [t].agent_key,
                  "benchArchiveAgent%023d", t);
        const char *params [] = { name, tenants [t].agent_key };
        PGresult *result = s_query (conn,
            "WITH t AS (INSERT INTO tenants (name) VALUES ($1) RETURNING id) "
            "INSERT INTO agents (tenant_id, name, public_key) SELECT id, 'agent-1', $2 FROM t "
            "RETURNING tenant_id, id", 2, params);
        snprintf (tenants [t].id, sizeof tenants [t].id, "%s", PQgetvalue (result, 0, 0));
        snprintf (tenants [t].agent_id, sizeof tenants [t].agent_id, "%s",
                  PQgetvalue (result, 0, 1));
        PQclear (result);
    }
}

//  The stage connects as a login in drift_app, never as the owner: a
//  superuser would skip row-level security and measure less than production.
//  The URL is DATABASE_URL with its user part replaced (caller frees).
static char *
s_app_url (PGconn *conn, const char *url)
{
    s_exec (conn, "DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '"
                  APP_ROLE "') THEN CREATE ROLE " APP_ROLE " LOGIN IN ROLE drift_app; "
                  "END IF; END $$");
    char *app = (char *) malloc (strlen (url) + sizeof APP_ROLE + 16);
    const char *scheme = strstr (url, "://");
    if (!scheme) {
        //  A keyword/value string: a later user= wins.
        sprintf (app, "%s user=" APP_ROLE, url);
        return app;
    }
    const char *authority = scheme + 3;
    size_t authority_length = strcspn (authority, "/?");
    const char *at = memchr (authority, '@', authority_length);
    const char *host = at ? at + 1 : authority;
    sprintf (app, "%.*s" APP_ROLE "@%s", (int) (authority - url), url, host);
    return app;
}

static int
s_remove_entry (const char *path, const struct stat *info, int flag, struct FTW *walk)
{
    (void) info;
    (void) flag;
    (void) walk;
    remove (path);
    return 0;
}

//  Everything under path, but path itself: the store keeps its root.
static int
s_remove_below (const char *path, const struct stat *info, int flag, struct FTW *walk)
{
    return walk->level == 0 ? 0 : s_remove_entry (path, info, flag, walk);
}

static void
s_remove_dir (void)
{
    if (*s_dir)
        nftw (s_dir, s_remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

//  A temporary directory with a fresh sealing key (seal.key) and the store
//  root (store), removed at exit whatever happens.
static void
s_make_dir (void)
{
    const char *base = getenv ("DRIFT_BENCH_DIR");
    snprintf (s_dir, sizeof s_dir, "%s/bench-archive-XXXXXX", base && *base ? base : "/tmp");
    if (!mkdtemp (s_dir))
        s_die ("cannot make a temporary directory", s_dir);
    atexit (s_remove_dir);
    char path [600];
    snprintf (path, sizeof path, "%s/seal.key", s_dir);
    uint8_t key [32];
    if (getrandom (key, sizeof key, 0) != (ssize_t) sizeof key)
        s_die ("no random bytes for the key", NULL);
    int fd = open (path, O_WRONLY | O_CREAT | O_EXCL, 0600);
    if (fd < 0 || write (fd, key, sizeof key) != (ssize_t) sizeof key)
        s_die ("cannot write the key file", path);
    close (fd);
    memset (key, 0, sizeof key);
}

//  --------------------------------------------------------------------------
//  The reports

//  64 hex digits from a few numbers, so fingerprints look like real ones.
static void
s_fingerprint (char *out, int stack, const char *label, int a, int b)
{
    uint64_t state = (uint64_t) stack * 0x9E3779B97F4A7C15ULL ^ (uint64_t) (a * 131 + b);
    for (const char *c = label; *c; c++)
        state = (state ^ (uint8_t) *c) * 0x100000001B3ULL;
    char *cursor = out;
    for (int part = 0; part < 4; part++) {
        state += 0x9E3779B97F4A7C15ULL;
        uint64_t z = state;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
        cursor += sprintf (cursor, "%016llx", (unsigned long long) (z ^ (z >> 31)));
    }
}

//  A packed drift.Report of about RAW_TARGET bytes, as an agent sends it.
static uint8_t *
s_raw (const char *report_id, const char *stack, size_t *size)
{
    char payload [RAW_TARGET];
    size_t length = 0;
    const char *resource = "{\"address\":\"aws_security_group.web\",\"change\":{\"actions\":"
                           "[\"update\"],\"before\":{\"ingress\":[\"10.0.0.0/8\"]},\"after\":"
                           "{\"ingress\":[\"0.0.0.0/0\"]}}},";
    size_t piece = strlen (resource);
    while (length + piece < RAW_TARGET - 128) {
        memcpy (payload + length, resource, piece);
        length += piece;
    }
    Drift__Report report = DRIFT__REPORT__INIT;
    report.report_id = (char *) report_id;
    report.stack = (char *) stack;
    report.format = DRIFT__REPORT_FORMAT__REPORT_FORMAT_PLAN_JSON;
    report.payload.data = (uint8_t *) payload;
    report.payload.len = length;
    report.uncompressed_size = length;
    report.produced_us = T0;
    report.engine = (char *) "terraform";
    *size = drift__report__get_packed_size (&report);
    uint8_t *raw = (uint8_t *) malloc (*size);
    drift__report__pack (&report, raw);
    return raw;
}

//  Report number `number`: its stack, and the fingerprints that give the
//  lifecycle its work (see the opening comment).
static void
s_make_report (s_report_t *report, int number, const s_tenant_t *tenants)
{
    report->stack_index = number % STACKS;
    report->tenant = report->stack_index / STACKS_PER_TENANT;
    int sequence = number / STACKS;
    snprintf (report->report_id, sizeof report->report_id, "bench-%07d", number);
    snprintf (report->stack, sizeof report->stack, "stack-%02d",
              report->stack_index % STACKS_PER_TENANT);
    int64_t received_us = T0 + number * 1000LL;
    time_t seconds = (time_t) (received_us / 1000000);
    struct tm utc;
    gmtime_r (&seconds, &utc);
    size_t at = strftime (report->received, sizeof report->received, "%Y-%m-%d %H:%M:%S", &utc);
    snprintf (report->received + at, sizeof report->received - at, ".%06d+00",
              (int) (received_us % 1000000));

    Drift__DriftItem items [ITEMS], *item_list [ITEMS];
    Drift__AttributeChange changes [ITEMS][2], *change_list [ITEMS][2];
    Drift__Finding findings [ITEMS], *finding_list [ITEMS];
    char fingerprints [ITEMS][65], addresses [ITEMS][64], reasons [ITEMS][128];
    for (int i = 0; i < ITEMS; i++) {
        if (i < 2)
            s_fingerprint (fingerprints [i], report->stack_index, "persist", i, 0);
        else
        if (i == 2)
            s_fingerprint (fingerprints [i], report->stack_index, "flip", sequence % 2, 0);
        else
            s_fingerprint (fingerprints [i], report->stack_index, "fresh", sequence, i);
        snprintf (addresses [i], sizeof addresses [i], "aws_security_group.%s_%d",
                  i < 2 ? "persist" : i == 2 ? "flip" : "fresh", i == 2 ? sequence % 2 : i);
        drift__attribute_change__init (&changes [i][0]);
        changes [i][0].path = (char *) "ingress[0].cidr_blocks[0]";
        changes [i][0].op = DRIFT__CHANGE_OP__CHANGE_OP_CHANGED;
        changes [i][0].before = (char *) "\"10.0.0.0/8\"";
        changes [i][0].after = (char *) "\"0.0.0.0/0\"";
        drift__attribute_change__init (&changes [i][1]);
        changes [i][1].path = (char *) "tags.owner";
        changes [i][1].op = DRIFT__CHANGE_OP__CHANGE_OP_CHANGED;
        changes [i][1].before = (char *) "\"platform\"";
        changes [i][1].after = (char *) "\"someone\"";
        change_list [i][0] = &changes [i][0];
        change_list [i][1] = &changes [i][1];
        drift__drift_item__init (&items [i]);
        items [i].address = addresses [i];
        items [i].type = (char *) "aws_security_group";
        items [i].name = addresses [i] + strlen ("aws_security_group.");
        items [i].provider = (char *) "registry.terraform.io/hashicorp/aws";
        items [i].kind = DRIFT__DRIFT_KIND__DRIFT_KIND_MODIFIED;
        items [i].class_ = DRIFT__DRIFT_CLASS__DRIFT_CLASS_REAL;
        items [i].n_changes = 2;
        items [i].changes = change_list [i];
        items [i].fingerprint = fingerprints [i];
        item_list [i] = &items [i];
        snprintf (reasons [i], sizeof reasons [i],
                  "%.63s: ingress[0] opens port 22 to 0.0.0.0/0 (was 10.0.0.0/8)", addresses [i]);
        drift__finding__init (&findings [i]);
        findings [i].rule = (char *) "aws-sg-ingress-ssh-world";
        findings [i].severity = DRIFT__SEVERITY__SEVERITY_HIGH;
        findings [i].weight = 0.2;
        findings [i].reason = reasons [i];
        findings [i].address = addresses [i];
        findings [i].path = (char *) "ingress[0].cidr_blocks[0]";
        findings [i].fingerprint = fingerprints [i];
        findings [i].item = (uint32_t) i;
        findings [i].kind = DRIFT__DRIFT_KIND__DRIFT_KIND_MODIFIED;
        finding_list [i] = &findings [i];
    }
    Drift__ReportCounts counts = DRIFT__REPORT_COUNTS__INIT;
    counts.modified = ITEMS;
    counts.real = ITEMS;
    Drift__CanonicalReport canonical = DRIFT__CANONICAL_REPORT__INIT;
    canonical.version = 1;
    canonical.report_id = report->report_id;
    canonical.stack = report->stack;
    canonical.engine = (char *) "terraform";
    canonical.source = DRIFT__SOURCE_FORMAT__SOURCE_FORMAT_PLAN_JSON;
    canonical.status = DRIFT__REPORT_STATUS__REPORT_STATUS_OK;
    canonical.n_items = ITEMS;
    canonical.items = item_list;
    canonical.counts = &counts;
    canonical.produced_us = T0;
    canonical.normalized_us = received_us;
    canonical.raw.data = s_raw (report->report_id, report->stack, &canonical.raw.len);
    s_raw_size = canonical.raw.len;
    Drift__ScoredReport scored = DRIFT__SCORED_REPORT__INIT;
    scored.report = &canonical;
    scored.n_findings = ITEMS;
    scored.findings = finding_list;
    scored.score = 80;
    scored.severity = DRIFT__SEVERITY__SEVERITY_HIGH;

    Drift__Envelope *envelope = &report->envelope;
    drift__envelope__init (envelope);
    envelope->tenant = (char *) tenants [report->tenant].id;
    envelope->agent_key = (char *) tenants [report->tenant].agent_key;
    envelope->report_id = report->report_id;
    envelope->stack = report->stack;
    envelope->received_us = received_us;
    envelope->attempt = 1;
    envelope->body_case = DRIFT__ENVELOPE__BODY_SCORED;
    envelope->scored.len = drift__scored_report__get_packed_size (&scored);
    envelope->scored.data = (uint8_t *) malloc (envelope->scored.len);
    drift__scored_report__pack (&scored, envelope->scored.data);

    //  The plain rows hold what the stage's document holds, taken from it.
    char *doc_text = archive_doc (envelope, &scored, NULL, NULL);
    json_t *doc = json_loads (doc_text, 0, NULL);
    if (!doc)
        s_die ("archive_doc gave no document", report->report_id);
    snprintf (report->severity, sizeof report->severity, "%d",
              (int) json_integer_value (json_object_get (doc, "severity")));
    snprintf (report->score, sizeof report->score, "%g",
              json_number_value (json_object_get (doc, "score")));
    report->counts = json_dumps (json_object_get (doc, "counts"), JSON_COMPACT);
    for (int i = 0; i < ITEMS; i++) {
        json_t *entry = json_array_get (json_object_get (doc, "items"), (size_t) i);
        s_plain_item_t *plain = &report->items [i];
        snprintf (plain->fingerprint, sizeof plain->fingerprint, "%.64s-%d",
                  fingerprints [i], number);
        snprintf (plain->address, sizeof plain->address, "%.63s", addresses [i]);
        plain->changes = json_dumps (json_object_get (entry, "changes"), JSON_COMPACT);
        plain->reasons = json_dumps (json_object_get (entry, "reasons"), JSON_COMPACT);
        snprintf (plain->severity, sizeof plain->severity, "%d",
                  (int) json_integer_value (json_object_get (entry, "severity")));
        snprintf (plain->score, sizeof plain->score, "%g",
                  json_number_value (json_object_get (entry, "score")));
    }
    json_decref (doc);
    free (doc_text);
    free (canonical.raw.data);
}

static void
s_free_report (s_report_t *report)
{
    free (report->envelope.scored.data);
    free (report->counts);
    for (int i = 0; i < ITEMS; i++) {
        free (report->items [i].changes);
        free (report->items [i].reasons);
    }
}

//  --------------------------------------------------------------------------
//  The stage

typedef struct {
    config_t *config;               // its settings (the option table outlives them)
    void *state;                    // the opened stage
} s_stage_t;

//  Open the archive stage as the worker runtime does: its options after the
//  common ones and "database", set from the command-line words in extra.
static void
s_stage_open (s_stage_t *stage, const char *app_url, const char *const *extra, int extra_count)
{
    static config_option_t options [64] = {
        CONFIG_COMMON_OPTIONS,
        { "database", CONFIG_STRING, "", "" }
    };
    size_t count = 4;
    for (size_t i = 0; archive_actor.options [i].name; i++)
        options [count++] = archive_actor.options [i];
    options [count] = (config_option_t) CONFIG_END;
    char key [600];
    snprintf (key, sizeof key, "%s/seal.key", s_dir);
    const char *argv [32] = { "archive", "--database", app_url, "--seal-key", key,
                              "--seal-old-keys", "", "--log-level", "warn" };
    int argc = 9;
    for (int i = 0; i < extra_count; i++)
        argv [argc++] = extra [i];
    int exit_code;
    stage->config = config_load ("archive", "", options, argc, (char **) argv, &exit_code);
    if (!stage->config)
        s_die ("the stage's settings were refused", NULL);
    stage->state = archive_actor.open (stage->config);
    if (!stage->state)
        s_die ("the stage did not open", NULL);
}

static void
s_stage_close (s_stage_t *stage)
{
    archive_actor.close (stage->state);
    config_destroy (&stage->config);
}

//  One run through the stage as the worker runtime runs it: each batch's
//  write is begun, and the next batch goes through the stage function while
//  it is written. Reports per second, and the seconds spent in the stage
//  function and waiting for (or beginning) writes added to *in_fn and
//  *in_flush.
static double
s_stage_rate (s_stage_t *stage, s_report_t *reports, int count, double *in_fn, double *in_flush)
{
    double start = s_now ();
    for (int first = 0; first < count; first += BATCH) {
        int last = first + BATCH < count ? first + BATCH : count;
        double before = s_now ();
        for (int i = first; i < last; i++)
            if (archive_actor.fn (stage->state, &reports [i].envelope) != STAGE_FORWARD)
                s_die ("the stage failed a report", reports [i].report_id);
        double between = s_now ();
        if (archive_actor.flush_end (stage->state, true)
        ||  archive_actor.flush_begin (stage->state))
            s_die ("the stage's write failed", NULL);
        *in_fn += between - before;
        *in_flush += s_now () - between;
    }
    double before = s_now ();
    if (archive_actor.flush_end (stage->state, true))
        s_die ("the stage's write failed", NULL);
    *in_flush += s_now () - before;
    return count / (s_now () - start);
}

//  --------------------------------------------------------------------------
//  The plain loop

//  "INSERT INTO table (columns) VALUES (row),(row)..." for rows rows, each
//  row a pattern of $%d (one per parameter, numbered from the row's first).
static char *
s_insert_sql (const char *head, const char *row, int per_row, int rows)
{
    size_t size = strlen (head) + (size_t) rows * (strlen (row) + (size_t) per_row * 8 + 4) + 1;
    char *sql = (char *) malloc (size);
    char *cursor = sql + sprintf (sql, "%s", head);
    for (int r = 0; r < rows; r++) {
        int n = r * per_row;
        if (r)
            *cursor++ = ',';
        //  The row pattern names its parameters by offset: 1 .. per_row.
        for (const char *c = row; *c; c++) {
            if (*c == '$') {
                int offset = (int) strtol (c + 1, (char **) &c, 10);
                cursor += sprintf (cursor, "$%d", n + offset);
                c--;
            }
            else
                *cursor++ = *c;
        }
    }
    *cursor = 0;
    return sql;
}

#define REPORT_PARAMS 8
#define ITEM_PARAMS 10
#define SIGHTING_PARAMS 6

static const char *s_report_head =
    "INSERT INTO reports (tenant_id, report_id, stack_id, agent_id, received_at, status, "
    "severity, score, counts) VALUES ";
static const char *s_report_row =
    "($1::uuid,$2,$3::uuid,$4::uuid,$5::timestamptz,'ok',$6::smallint,$7::real,$8::jsonb)";
static const char *s_item_head =
    "INSERT INTO drift_items (tenant_id, stack_id, fingerprint, address, type, kind, class, "
    "changes, severity, score, reasons, first_seen, last_seen, opened_by_report, last_report) "
    "VALUES ";
static const char *s_item_row =
    "($1::uuid,$2::uuid,$3,$4,'aws_security_group','modified','real',$5::jsonb,$6::smallint,"
    "$7::real,$8::jsonb,$9::timestamptz,$9::timestamptz,$10,$10)";

static const char *s_sighting_head =
    "INSERT INTO drift_sightings (tenant_id, stack_id, fingerprint, seen_at, report_id, severity) "
    "VALUES ";
static const char *s_sighting_row = "($1::uuid,$2::uuid,$3,$4::timestamptz,$5,$6::smallint)";

//  The stacks, made beforehand (not timed); their ids in stack_ids.
static void
s_plain_stacks (PGconn *conn, const s_tenant_t *tenants, char stack_ids [][37])
{
    for (int s = 0; s < STACKS; s++) {
        char name [32];
        snprintf (name, sizeof name, "stack-%02d", s % STACKS_PER_TENANT);
        const char *params [] = { tenants [s / STACKS_PER_TENANT].id, name };
        PGresult *result = s_query (conn,
            "INSERT INTO stacks (tenant_id, name, engine) VALUES ($1, $2, 'terraform') "
            "RETURNING id", 2, params);
        snprintf (stack_ids [s], 37, "%s", PQgetvalue (result, 0, 0));
        PQclear (result);
    }
}

//  One run of the plain loop: reports per second.
static double
s_plain_rate (PGconn *conn, const s_tenant_t *tenants, s_report_t *reports, int count)
{
    static char stack_ids [STACKS][37];
    s_plain_stacks (conn, tenants, stack_ids);
    char *report_sql = s_insert_sql (s_report_head, s_report_row, REPORT_PARAMS, BATCH);
    char *item_sql = s_insert_sql (s_item_head, s_item_row, ITEM_PARAMS, BATCH * ITEMS);
    char *sighting_sql = s_insert_sql (s_sighting_head, s_sighting_row, SIGHTING_PARAMS,
                                       BATCH * ITEMS);
    const char **report_params = (const char **) malloc (BATCH * REPORT_PARAMS * sizeof (char *));
    const char **item_params = (const char **) malloc (BATCH * ITEMS * ITEM_PARAMS * sizeof (char *));
    const char **sighting_params =
        (const char **) malloc (BATCH * ITEMS * SIGHTING_PARAMS * sizeof (char *));
    double start = s_now ();
    for (int first = 0; first < count; first += BATCH) {
        int rows = first + BATCH < count ? BATCH : count - first;
        if (rows < BATCH) {
            free (report_sql);
            free (item_sql);
            free (sighting_sql);
            report_sql = s_insert_sql (s_report_head, s_report_row, REPORT_PARAMS, rows);
            item_sql = s_insert_sql (s_item_head, s_item_row, ITEM_PARAMS, rows * ITEMS);
            sighting_sql = s_insert_sql (s_sighting_head, s_sighting_row, SIGHTING_PARAMS,
                                         rows * ITEMS);
        }
        int n = 0, m = 0, k = 0;
        for (int r = first; r < first + rows; r++) {
            s_report_t *report = &reports [r];
            const char *tenant = tenants [report->tenant].id;
            const char *stack_id = stack_ids [report->stack_index];
            const char *row [REPORT_PARAMS] = {
                tenant, report->report_id, stack_id, tenants [report->tenant].agent_id,
                report->received, report->severity, report->score, report->counts };
            memcpy (report_params + n, row, sizeof row);
            n += REPORT_PARAMS;
            for (int i = 0; i < ITEMS; i++) {
                s_plain_item_t *item = &report->items [i];
                const char *item_row [ITEM_PARAMS] = {
                    tenant, stack_id, item->fingerprint, item->address, item->changes,
                    item->severity, item->score, item->reasons, report->received,
                    report->report_id };
                memcpy (item_params + m, item_row, sizeof item_row);
                m += ITEM_PARAMS;
                const char *sighting_row [SIGHTING_PARAMS] = {
                    tenant, stack_id, item->fingerprint, report->received, report->report_id,
                    item->severity };
                memcpy (sighting_params + k, sighting_row, sizeof sighting_row);
                k += SIGHTING_PARAMS;
            }
        }
        s_exec (conn, "BEGIN");
        PQclear (s_query (conn, report_sql, n, report_params));
        PQclear (s_query (conn, item_sql, m, item_params));
        PQclear (s_query (conn, sighting_sql, k, sighting_params));
        s_exec (conn, "COMMIT");
    }
    double rate = count / (s_now () - start);
    free (report_sql);
    free (item_sql);
    free (sighting_sql);
    free (report_params);
    free (item_params);
    free (sighting_params);
    return rate;
}

//  --------------------------------------------------------------------------
//  Runs

//  Every run starts from the same history, as a running server's tables
//  hold one: per tenant, HISTORY_STACKS other stacks of HISTORY_REPORTS
//  reports each, each stack with HISTORY_ITEMS items (half of them resolved)
//  seen by every report. Then ANALYZE, as autovacuum keeps a server's
//  statistics. Empty tables without statistics are no server's state: the
//  planner ties every index there, and the foreign keys' checks then read a
//  tenant's items through drift_items_opened_by, slowing the stage 2x.
#define HISTORY_STACKS 50
#define HISTORY_REPORTS 8
#define HISTORY_ITEMS 16

static void
s_seed_history (PGconn *conn)
{
    char sql [4096];
    snprintf (sql, sizeof sql,
        "INSERT INTO stacks (tenant_id, name, engine, last_report_id, last_report_at, "
        "                    last_success_at)"
        " SELECT t.id, 'history-' || s, 'terraform', 'history-' || s || '-' || %d,"
        "        $1::timestamptz, $1::timestamptz"
        "   FROM tenants t, generate_series (1, %d) s WHERE t.name LIKE 'bench-archive-%%'",
        HISTORY_REPORTS, HISTORY_STACKS);
    const char *before [] = { "2026-11-01 00:00:00+00" };
    PQclear (s_query (conn, sql, 1, before));
    snprintf (sql, sizeof sql,
        "INSERT INTO reports (tenant_id, report_id, stack_id, agent_id, received_at, status,"
        "                     severity, score, counts)"
        " SELECT s.tenant_id, s.name || '-' || r, s.id, a.id,"
        "        $1::timestamptz - (%d - r) * interval '1 hour', 'ok', 2, 2, '{\"modified\":%d}'"
        "   FROM stacks s JOIN agents a ON a.tenant_id = s.tenant_id,"
        "        generate_series (1, %d) r WHERE s.name LIKE 'history-%%'",
        HISTORY_REPORTS, HISTORY_ITEMS, HISTORY_REPORTS);
    PQclear (s_query (conn, sql, 1, before));
    snprintf (sql, sizeof sql,
        "INSERT INTO drift_items (tenant_id, stack_id, fingerprint, address, type, kind, class,"
        "                         changes, severity, score, reasons, first_seen, last_seen,"
        "                         opened_by_report, last_report, resolved_at, resolved_by_report)"
        " SELECT s.tenant_id, s.id, s.name || '-fp-' || i, 'aws_security_group.h' || i,"
        "        'aws_security_group', 'modified', 'real', '[]', 2, 2, '[]',"
        "        $1::timestamptz - %d * interval '1 hour', $1::timestamptz,"
        "        s.name || '-1', s.name || '-' || %d,"
        "        CASE WHEN i %% 2 = 0 THEN $1::timestamptz + interval '1 minute' END,"
        "        CASE WHEN i %% 2 = 0 THEN s.name || '-' || %d END"
        "   FROM stacks s, generate_series (1, %d) i WHERE s.name LIKE 'history-%%'",
        HISTORY_REPORTS - 1, HISTORY_REPORTS, HISTORY_REPORTS, HISTORY_ITEMS);
    PQclear (s_query (conn, sql, 1, before));
    s_exec (conn,
        "INSERT INTO drift_sightings (tenant_id, stack_id, fingerprint, seen_at, report_id, severity)"
        " SELECT d.tenant_id, d.stack_id, d.fingerprint, r.received_at, r.report_id, 2"
        "   FROM drift_items d JOIN reports r"
        "     ON r.tenant_id = d.tenant_id AND r.stack_id = d.stack_id");
    s_exec (conn, "ANALYZE stacks, reports, drift_items, drift_sightings");
}

//  The seeded history and an empty local store: every run starts alike.
static void
s_reset (PGconn *conn)
{
    s_exec (conn, "TRUNCATE drift_sightings, drift_items, reports, stacks");
    s_seed_history (conn);
    char store [600];
    snprintf (store, sizeof store, "%s/store", s_dir);
    nftw (store, s_remove_below, 16, FTW_DEPTH | FTW_PHYS);
}

static void
s_check_archived (PGconn *conn, int count)
{
    long archived = s_query_long (conn, "SELECT count (*) FROM reports WHERE status = 'ok' "
                                        "AND report_id NOT LIKE 'history-%'");
    if (archived != count) {
        char detail [64];
        snprintf (detail, sizeof detail, "%ld of %d", archived, count);
        s_die ("the stage did not record every report", detail);
    }
}

//  Size of the object the stage stored for the last report (local store).
static long
s_object_size (PGconn *conn)
{
    PGresult *result = s_query (conn, "SELECT object_key FROM reports "
                                      "ORDER BY received_at DESC LIMIT 1", 0, NULL);
    char path [1024];
    snprintf (path, sizeof path, "%s/store/%s", s_dir, PQgetvalue (result, 0, 0));
    PQclear (result);
    struct stat info;
    return stat (path, &info) == 0 ? (long) info.st_size : -1;
}

//  The store settings for s3 from DRIFT_TEST_S3_* (scripts/lib/s3.sh), into
//  words; how many, or 0 when no S3 server is given.
static int
s_s3_words (const char **words)
{
    const char *endpoint = getenv ("DRIFT_TEST_S3_ENDPOINT");
    const char *bucket = getenv ("DRIFT_TEST_S3_BUCKET");
    const char *access = getenv ("DRIFT_TEST_S3_ACCESS_KEY");
    const char *secret = getenv ("DRIFT_TEST_S3_SECRET_KEY");
    if (!endpoint || !*endpoint || !bucket || !access || !secret)
        return 0;
    //  The secret key is never an option (store_config.h): the environment.
    setenv ("DRIFT_S3_SECRET_KEY", secret, 1);
    const char *list [] = { "--store", "s3", "--s3-endpoint", endpoint, "--s3-bucket", bucket,
                            "--s3-access-key", access, "--s3-prefix", "bench-archive",
                            "--store-retry-ms", "0" };
    memcpy (words, list, sizeof list);
    return (int) (sizeof list / sizeof list [0]);
}

int
main (int argc, char **argv)
{
    if (argc < 2) {
        fprintf (stderr, "usage: bench_archive DATABASE_URL [reports] [runs]\n");
        return 2;
    }
    const char *url = argv [1];
    int count = argc > 2 ? atoi (argv [2]) : 5000;
    int runs = argc > 3 ? atoi (argv [3]) : 5;
    if (count < 1)
        count = 5000;
    if (runs < 1 || runs > RUNS_MAX)
        runs = 5;
    log_init ("bench", "logfmt", "warn");
    if (migrations_apply (url) < 0)
        return 1;
    PGconn *conn = PQconnectdb (url);
    if (PQstatus (conn) != CONNECTION_OK)
        s_die ("cannot connect", PQerrorMessage (conn));
    PQsetNoticeProcessor (conn, NULL, NULL);
    s_tenant_t tenants [TENANTS];
    s_make_tenants (conn, tenants);
    char *app_url = s_app_url (conn, url);
    s_make_dir ();

    s_report_t *reports = (s_report_t *) calloc ((size_t) count, sizeof *reports);
    for (int i = 0; i < count; i++)
        s_make_report (&reports [i], i, tenants);

    char store_root [600];
    snprintf (store_root, sizeof store_root, "%s/store", s_dir);
    const char *local [] = { "--store", "local", "--store-root", store_root };
    s_stage_t stage, s3_stage = { NULL, NULL };
    s_stage_open (&stage, app_url, local, 4);
    const char *s3 [16];
    int s3_count = s_s3_words (s3);
    if (s3_count)
        s_stage_open (&s3_stage, app_url, s3, s3_count);

    double plain [RUNS_MAX], staged [RUNS_MAX], on_s3 [RUNS_MAX];
    double in_fn = 0, in_flush = 0, unused_fn = 0, unused_flush = 0;
    long object_size = -1, open_items = 0, resolved_items = 0;
    for (int run = 0; run < runs; run++) {
        s_reset (conn);
        plain [run] = s_plain_rate (conn, tenants, reports, count);
        s_reset (conn);
        staged [run] = s_stage_rate (&stage, reports, count, &in_fn, &in_flush);
        s_check_archived (conn, count);
        object_size = s_object_size (conn);
        open_items = s_query_long (conn, "SELECT count (*) FROM drift_items "
                                         "WHERE resolved_at IS NULL AND fingerprint NOT LIKE 'history-%'");
        resolved_items = s_query_long (conn, "SELECT count (*) FROM drift_items WHERE "
                                             "resolved_at IS NOT NULL AND fingerprint NOT LIKE 'history-%'");
        if (s3_count) {
            s_reset (conn);
            on_s3 [run] = s_stage_rate (&s3_stage, reports, count, &unused_fn, &unused_flush);
            s_check_archived (conn, count);
        }
    }

    PGresult *setting = PQexec (conn, "SHOW synchronous_commit");
    printf ("archive on PostgreSQL %d, synchronous_commit=%s, %d reports of %d drift items "
            "over %d stacks, batches of %d, median of %d\n", PQserverVersion (conn),
            PQgetvalue (setting, 0, 0), count, ITEMS, STACKS, BATCH, runs);
    PQclear (setting);
    double plain_median = median_of (plain, runs);
    double stage_median = median_of (staged, runs);
    printf ("  %-44s %8.0f reports/s  (%.2f of plain SQL)\n",
            "archive stage, local store (1 syncfs/batch)", stage_median, stage_median / plain_median);
    if (s3_count) {
        double s3_median = median_of (on_s3, runs);
        printf ("  %-44s %8.0f reports/s  (%.2f of plain SQL)\n",
                "archive stage, s3 store", s3_median, s3_median / plain_median);
    }
    printf ("  %-44s %8.0f reports/s\n", "plain SQL: 3 multi-row INSERTs per 64", plain_median);
    //  Each run's pair, so the spread shows (the plain loop moves most).
    printf ("  each run, stage / plain:");
    for (int run = 0; run < runs; run++)
        printf ("%s %.0f / %.0f", run ? "," : "", staged [run], plain [run]);
    printf ("\n");
    printf ("  stage time: %.0f%% in the function (unpack, seal, store, document), "
            "%.0f%% in the flush (store sync, waiting for drift_archive_batch)\n",
            100 * in_fn / (in_fn + in_flush), 100 * in_flush / (in_fn + in_flush));
    printf ("  object per report: %ld bytes sealed (raw report %zu bytes); after a run "
            "%ld drift items open, %ld resolved\n", object_size,
            s_raw_size, open_items, resolved_items);

    s_reset (conn);
    s_stage_close (&stage);
    if (s3_count)
        s_stage_close (&s3_stage);
    for (int i = 0; i < count; i++)
        s_free_report (&reports [i]);
    free (reports);
    free (app_url);
    PQfinish (conn);
    return 0;
}
