/*  archive: the archive stage against a real PostgreSQL, connected as a
    drift_app login (row-level security applies), with a real local store.

    Reports are real: fixtures from tests/fixtures/terraform, wrapped as
    an agent would send them, normalized and scored by the same code as the
    pipeline, then handed to the stage's function and flush as the worker
    runtime does. What must hold: the drift lifecycle (opens, updated,
    changed value → new fingerprint and the old one resolved, resolved by a
    clean report, reopened, a failed report resolving nothing, a late older
    report undoing nothing), sightings (every successful report that
    contained an item, one archived late included), idempotence (the same envelope twice writes the
    same rows), a batch taken while the one before is written and a write
    whose connection is killed written again, the sealed object bound to its
    tenant and report, and refusals (another tenant's agent key, a report the
    tables refuse).
*/
#define _GNU_SOURCE             // asprintf
#include "testutil.h"
#include "../actors/actors.h"
#include "../lib/clock.h"
#include "../lib/journal.h"
#include "../lib/log.h"
#include "../lib/metrics.h"
#include "../lib/migrations.h"
#include "../actors/normalize/normalize.h"
#include "../actors/score/score.h"
#include "../lib/seal.h"
#include "../actors/archive/store.h"
#include "../actors/archive/store_config.h"

#include <criterion/criterion.h>
#include <libpq-fe.h>
#include <signal.h>
#include <stdio.h>
#include <sys/wait.h>

//  2026-11-27 10:00:00 UTC, and one minute, in microseconds.
#define T0 1795773600000000LL
#define MINUTE 60000000LL

static char *s_url;                 // the test's database, as its owner
static char *s_app;                 // ... as a drift_app login
static char s_tenant [37], s_key [41];          // tenant A and its agent
static char s_other [37], s_other_key [41];     // tenant B and its agent
static const actor_def_t *s_stage = &archive_actor;
static void *s_state;               // the stage, opened on s_app
static config_t *s_config;          // its settings
static normalize_t *s_normalize;
static score_t *s_score;

static void
s_open_stage (const char *database, const char *store)
{
    //  The settings keep pointing at their table: it outlives them.
    static config_option_t options [64] = {
        CONFIG_COMMON_OPTIONS,
        { "database", CONFIG_STRING, "", "" }
    };
    size_t count = 4;
    for (size_t i = 0; s_stage->options [i].name; i++)
        options [count++] = s_stage->options [i];
    options [count] = (config_option_t) CONFIG_END;
    char *argv [] = { (char *) "archive", (char *) "--database", (char *) database,
                      (char *) "--store", (char *) store, (char *) "--store-retry-ms",
                      (char *) "200", NULL };
    int exit_code;
    s_config = config_load ("archive", "", options, 7, argv, &exit_code);
    cr_assert (s_config, "settings refused: %d", exit_code);
    s_state = s_stage->open (s_config);
    cr_assert (s_state, "the stage did not open");
}

static void
s_setup (void)
{
    log_init ("test", "logfmt", "error");
    s_url = tu_fresh_database ();
    cr_assert_gt (migrations_apply (s_url), 0);
    tu_archive_env ();
    tu_tenant_agent (s_url, "acme", s_tenant, s_key);
    tu_tenant_agent (s_url, "globex", s_other, s_other_key);
    s_app = tu_app_url (s_url);
    s_normalize = normalize_new (NULL);
    s_score = score_new ();
    s_open_stage (s_app, "local");
}

static void
s_teardown (void)
{
    s_stage->close (s_state);
    config_destroy (&s_config);
    normalize_destroy (&s_normalize);
    score_destroy (&s_score);
    free (s_app);
    tu_drop_database (s_url);
}

TestSuite (archive, .init = s_setup, .fini = s_teardown, .timeout = 120);

//  --------------------------------------------------------------------------
//  Reports as the pipeline makes them

//  A raw report (packed drift.Report) of document text, as an agent sends it.
static uint8_t *
s_raw (const char *report_id, const char *stack, const char *text, size_t *size)
{
    Drift__Report report = DRIFT__REPORT__INIT;
    report.report_id = (char *) report_id;
    report.stack = (char *) stack;
    report.format = DRIFT__REPORT_FORMAT__REPORT_FORMAT_PLAN_JSON;
    report.compression = DRIFT__COMPRESSION__COMPRESSION_NONE;
    report.payload.data = (uint8_t *) text;
    report.payload.len = strlen (text);
    report.uncompressed_size = strlen (text);
    report.produced_us = T0;
    report.engine = (char *) "terraform";
    *size = drift__report__get_packed_size (&report);
    uint8_t *raw = (uint8_t *) malloc (*size);
    drift__report__pack (&report, raw);
    return raw;
}

//  An envelope as score forwards it: the report normalized and scored.
static Drift__Envelope *
s_envelope (const char *tenant, const char *key, const char *report_id, const char *stack,
            int64_t received_us, const char *text)
{
    size_t raw_size;
    uint8_t *raw = s_raw (report_id, stack, text, &raw_size);
    Drift__CanonicalReport *report = normalize_raw (s_normalize, tenant, raw, raw_size);
    free (raw);
    cr_assert (report);
    Drift__ScoredReport *scored = score_report (s_score, report);
    cr_assert (scored);
    Drift__Envelope *envelope = (Drift__Envelope *) calloc (1, sizeof *envelope);
    drift__envelope__init (envelope);
    envelope->tenant = strdup (tenant);
    envelope->agent_key = strdup (key);
    envelope->report_id = strdup (report_id);
    envelope->stack = strdup (stack);
    envelope->received_us = received_us;
    envelope->attempt = 1;
    envelope->body_case = DRIFT__ENVELOPE__BODY_SCORED;
    envelope->scored.len = drift__scored_report__get_packed_size (scored);
    envelope->scored.data = (uint8_t *) malloc (envelope->scored.len);
    drift__scored_report__pack (scored, envelope->scored.data);
    score_scored_destroy (&scored);
    drift__canonical_report__free_unpacked (report, NULL);
    return envelope;
}

static void
s_envelope_destroy (Drift__Envelope *envelope)
{
    free (envelope->tenant);
    free (envelope->agent_key);
    free (envelope->report_id);
    free (envelope->stack);
    free (envelope->scored.data);
    free (envelope);
}

//  A fixture's plan, with every occurrence of from replaced by to (NULL: as it is).
static char *
s_plan (const char *fixture, const char *from, const char *to)
{
    char name [64];
    snprintf (name, sizeof name, "%s.plan.json", fixture);
    char *text = tu_read_fixture (name, NULL);
    if (!from)
        return text;
    size_t count = 0;
    for (char *at = strstr (text, from); at; at = strstr (at + strlen (from), from))
        count++;
    cr_assert_gt (count, 0, "%s is not in %s", from, fixture);
    char *changed = (char *) malloc (strlen (text) + count * (strlen (to) + 1) + 1);
    char *out = changed;
    const char *in = text;
    for (const char *at = strstr (in, from); at; at = strstr (in, from)) {
        memcpy (out, in, (size_t) (at - in));
        out += at - in;
        memcpy (out, to, strlen (to));
        out += strlen (to);
        in = at + strlen (from);
    }
    strcpy (out, in);
    free (text);
    return changed;
}

//  Archive one report of tenant A's stack payments at T0 + minutes: the
//  stage function, then the flush, as the worker runs them. Returns what
//  the function said.
static stage_result_t
s_archive_text (const char *report_id, int minutes, const char *text)
{
    Drift__Envelope *envelope = s_envelope (s_tenant, s_key, report_id, "payments",
                                            T0 + minutes * MINUTE, text);
    stage_result_t result = s_stage->fn (s_state, envelope);
    cr_assert_eq (s_stage->flush (s_state), 0, "the batch was written");
    s_envelope_destroy (envelope);
    return result;
}

static void
s_archive (const char *report_id, int minutes, const char *fixture)
{
    char *text = s_plan (fixture, NULL, NULL);
    cr_assert_eq (s_archive_text (report_id, minutes, text), STAGE_FORWARD);
    free (text);
}

//  --------------------------------------------------------------------------
//  Reading back

static long
s_count (const char *where)
{
    char sql [512];
    snprintf (sql, sizeof sql, "SELECT count (*) FROM drift_items WHERE %s", where);
    return tu_query_long (s_url, sql);
}

//  One text value from the database (caller frees; "" when no row).
static char *
s_text (const char *sql)
{
    PGconn *conn = PQconnectdb (s_url);
    PGresult *result = PQexec (conn, sql);
    cr_assert_eq (PQresultStatus (result), PGRES_TUPLES_OK, "%s: %s", sql,
                  PQresultErrorMessage (result));
    char *value = strdup (PQntuples (result) ? PQgetvalue (result, 0, 0) : "");
    PQclear (result);
    PQfinish (conn);
    return value;
}

//  The reports that saw the items matching where, oldest first ("r1,r2").
static char *
s_sightings (const char *where)
{
    char sql [512];
    snprintf (sql, sizeof sql, "SELECT coalesce (string_agg (report_id, ',' ORDER BY seen_at,"
                               " report_id), '') FROM drift_sightings WHERE %s", where);
    return s_text (sql);
}

//  Every drift item of the test's tenants, as one JSON text (row order fixed).
static char *
s_snapshot (void)
{
    return s_text ("SELECT coalesce (jsonb_agg (d ORDER BY tenant_id, fingerprint)::text, '') "
                   "FROM drift_items d");
}

//  --------------------------------------------------------------------------
//  The lifecycle

Test (archive, drift_opens_persists_changes_value_and_resolves_and_a_failed_report_resolves_nothing)
{
    //  scenario-01: SSH opened to the world on aws_security_group.web.
    s_archive ("r1", 0, "scenario-01");
    cr_assert_eq (s_count ("resolved_at IS NULL"), 1, "the drift opened");
    cr_assert_eq (s_count ("address = 'aws_security_group.web' AND opened_by_report = 'r1' "
                           "AND last_report = 'r1' AND severity = 5 AND NOT suppressed "
                           "AND kind = 'modified' AND class = 'real'"), 1);
    char *reasons = s_text ("SELECT reasons::text FROM drift_items");
    cr_assert (strstr (reasons, "0.0.0.0/0"), "the finding's reason is kept: %s", reasons);
    free (reasons);
    char *changes = s_text ("SELECT changes::text FROM drift_items");
    cr_assert (strstr (changes, "\"path\": \"ingress"), "masked changes are kept: %s", changes);
    free (changes);
    char *first = s_text ("SELECT fingerprint FROM drift_items");

    //  Seen again: the same item, updated.
    s_archive ("r2", 10, "scenario-01");
    cr_assert_eq (s_count ("true"), 1, "no second item");
    cr_assert_eq (s_count ("opened_by_report = 'r1' AND last_report = 'r2' "
                           "AND last_seen > first_seen AND resolved_at IS NULL"), 1);

    //  A failed report in between: recorded, resolves nothing.
    cr_assert_eq (s_archive_text ("r3", 20, "{\"format_version\": "), STAGE_FORWARD);
    cr_assert_eq (tu_query_long (s_url, "SELECT count (*) FROM reports WHERE report_id = 'r3' "
                                        "AND status = 'failed' AND reason <> ''"), 1);
    cr_assert_eq (s_count ("resolved_at IS NULL"), 1, "a failed check resolves nothing");
    cr_assert_eq (tu_query_long (s_url, "SELECT count (*) FROM stacks WHERE last_report_id = 'r3' "
                                        "AND last_success_at < last_report_at"), 1,
                  "the stack's last success is still r2's");

    //  The value changes: a new drift (new fingerprint), the old one resolved.
    char *changed = s_plan ("scenario-01", "0.0.0.0/0", "198.51.100.0/24");
    cr_assert_eq (s_archive_text ("r4", 30, changed), STAGE_FORWARD);
    free (changed);
    cr_assert_eq (s_count ("true"), 2);
    char sql [256];
    snprintf (sql, sizeof sql, "fingerprint = '%s' AND resolved_by_report = 'r4'", first);
    cr_assert_eq (s_count (sql), 1, "the old value's drift resolved by r4");
    snprintf (sql, sizeof sql, "fingerprint <> '%s' AND opened_by_report = 'r4' "
                               "AND resolved_at IS NULL", first);
    cr_assert_eq (s_count (sql), 1, "the new value is a new drift");

    //  scenario-08 is clean: everything of the stack resolved.
    s_archive ("r5", 40, "scenario-08");
    cr_assert_eq (s_count ("resolved_at IS NULL"), 0, "a clean report resolves all");
    cr_assert_eq (s_count ("resolved_by_report = 'r5'"), 1);
    cr_assert_eq (tu_query_long (s_url, "SELECT count (*) FROM reports"), 5);

    //  Sightings: the successful reports that contained each fingerprint.
    snprintf (sql, sizeof sql, "fingerprint = '%s'", first);
    char *seen = s_sightings (sql);
    cr_assert_str_eq (seen, "r1,r2", "the old value was seen by r1 and r2 (r3 failed)");
    free (seen);
    snprintf (sql, sizeof sql, "fingerprint <> '%s'", first);
    seen = s_sightings (sql);
    cr_assert_str_eq (seen, "r4");
    free (seen);
    cr_assert_eq (tu_query_long (s_url, "SELECT count (*) FROM drift_sightings WHERE severity = 5 "
                                        "AND seen_at = '2026-11-27 10:10:00+00' AND report_id = 'r2'"),
                  1, "a sighting keeps its report's time and the item's severity in it");
    free (first);
}

Test (archive, drift_that_comes_back_after_being_resolved_opens_a_new_episode)
{
    s_archive ("r1", 0, "scenario-04");
    cr_assert_eq (s_count ("resolved_at IS NULL"), 2, "tags of two resources");
    s_archive ("r2", 10, "scenario-08");
    cr_assert_eq (s_count ("resolved_by_report = 'r2'"), 2);
    s_archive ("r3", 20, "scenario-04");
    cr_assert_eq (s_count ("resolved_at IS NULL AND opened_by_report = 'r3' "
                           "AND first_seen = '2026-11-27 10:20:00+00'"), 2,
                  "reopened with a new first sighting");
    char *seen = s_sightings ("true");
    cr_assert_str_eq (seen, "r1,r1,r3,r3", "both episodes' sightings are kept");
    free (seen);
}

Test (archive, a_late_older_report_undoes_nothing_a_newer_one_decided)
{
    s_archive ("r2", 10, "scenario-08");
    s_archive ("r3", 20, "scenario-05");
    //  r1 (drift of another resource) arrives after both: its drift was
    //  gone by r2, and r3's drift is not resolved by it.
    s_archive ("r1", 0, "scenario-01");
    cr_assert_eq (s_count ("address = 'aws_security_group.web' AND opened_by_report = 'r1' "
                           "AND resolved_by_report = 'r2'"), 1, "recorded, resolved by r2");
    cr_assert_eq (s_count ("address = 'aws_dynamodb_table.sessions' AND resolved_at IS NULL"), 1,
                  "r3's drift stays open");
    cr_assert_eq (tu_query_long (s_url, "SELECT count (*) FROM stacks WHERE last_report_id = 'r3'"),
                  1, "the stack's last report is still the newest");
}

Test (archive, a_report_archived_late_is_still_a_sighting_of_what_it_saw)
{
    s_archive ("r2", 10, "scenario-01");
    s_archive ("r3", 20, "scenario-01");
    //  r1 is older than what the item knows: the item does not move...
    char *before = s_snapshot ();
    s_archive ("r1", 0, "scenario-01");
    char *after = s_snapshot ();
    cr_assert_str_eq (after, before, "the item is left as r3 made it");
    //  ...but r1 saw it, and says so.
    char *seen = s_sightings ("true");
    cr_assert_str_eq (seen, "r1,r2,r3");
    free (seen);
    free (before);
    free (after);
}

//  --------------------------------------------------------------------------
//  Idempotence

Test (archive, the_same_envelope_archived_twice_writes_one_report_and_the_same_items)
{
    char *text = s_plan ("scenario-02", NULL, NULL);
    Drift__Envelope *envelope = s_envelope (s_tenant, s_key, "r1", "payments", T0, text);
    cr_assert_eq (s_stage->fn (s_state, envelope), STAGE_FORWARD);
    cr_assert_eq (s_stage->flush (s_state), 0);
    char *once = s_snapshot ();
    char *report_once = s_text ("SELECT row_to_json (r)::text FROM reports r");
    cr_assert_eq (s_count ("true"), 3, "three drifted resources");

    cr_assert_eq (s_stage->fn (s_state, envelope), STAGE_FORWARD);
    cr_assert_eq (s_stage->flush (s_state), 0);
    char *twice = s_snapshot ();
    char *report_twice = s_text ("SELECT row_to_json (r)::text FROM reports r");
    cr_assert_str_eq (twice, once, "the same drift items");
    cr_assert_str_eq (report_twice, report_once, "the same report row");
    cr_assert_eq (tu_query_long (s_url, "SELECT count (*) FROM reports"), 1);

    //  Both in one batch: the same again.
    cr_assert_eq (s_stage->fn (s_state, envelope), STAGE_FORWARD);
    cr_assert_eq (s_stage->fn (s_state, envelope), STAGE_FORWARD);
    cr_assert_eq (s_stage->flush (s_state), 0);
    char *thrice = s_snapshot ();
    cr_assert_str_eq (thrice, once);
    cr_assert_eq (tu_query_long (s_url, "SELECT count (*) FROM drift_sightings"), 3,
                  "one sighting per item, however often the report is archived");
    free (once);
    free (twice);
    free (thrice);
    free (report_once);
    free (report_twice);
    s_envelope_destroy (envelope);
    free (text);
}

//  --------------------------------------------------------------------------
//  A batch written while the next runs (flush_begin, flush_end), as the
//  worker runtime drives the stage

//  An envelope of scenario-02's drift (three resources), as score forwards it.
static Drift__Envelope *
s_drifted (const char *tenant, const char *key, const char *report_id)
{
    char *text = s_plan ("scenario-02", NULL, NULL);
    Drift__Envelope *envelope = s_envelope (tenant, key, report_id, "payments", T0, text);
    free (text);
    return envelope;
}

//  Report rows with this id.
static long
s_rows_of (const char *report_id)
{
    char sql [160];
    snprintf (sql, sizeof sql, "SELECT count (*) FROM reports WHERE report_id = '%s'", report_id);
    return tu_query_long (s_url, sql);
}

Test (archive, the_next_batch_runs_through_the_stage_while_one_is_written)
{
    Drift__Envelope *first = s_drifted (s_tenant, s_key, "w1");
    Drift__Envelope *second = s_drifted (s_other, s_other_key, "w2");
    cr_assert_eq (s_stage->fn (s_state, first), STAGE_FORWARD);
    cr_assert_eq (s_stage->flush_begin (s_state), 0);
    cr_assert_geq (s_stage->flush_fd (s_state), 0, "a descriptor to wait on while it is written");
    //  Another tenant's agent key, never seen: looked up while the write's
    //  connection is busy.
    cr_assert_eq (s_stage->fn (s_state, second), STAGE_FORWARD,
                  "the next report is taken during the write");
    cr_assert_eq (s_stage->flush_end (s_state, true), 0);
    cr_assert_eq (s_stage->flush_fd (s_state), -1, "nothing is being written");
    cr_assert_eq (s_rows_of ("w1"), 1);
    cr_assert_eq (s_rows_of ("w2"), 0,
                  "the second report waits for its own write");
    cr_assert_eq (s_stage->flush_begin (s_state), 0);
    cr_assert_eq (s_stage->flush_end (s_state, true), 0);
    cr_assert_eq (s_rows_of ("w2"), 1);
    s_envelope_destroy (first);
    s_envelope_destroy (second);
}

Test (archive, a_write_whose_connection_is_killed_mid_statement_is_written_again)
{
    Drift__Envelope *envelope = s_drifted (s_tenant, s_key, "k1");
    //  The write waits on a lock held here, so it is surely mid-statement
    //  when its backend is ended.
    PGconn *owner = PQconnectdb (s_url);
    cr_assert_eq (PQstatus (owner), CONNECTION_OK);
    PQclear (PQexec (owner, "BEGIN"));
    PQclear (PQexec (owner, "LOCK TABLE reports IN ACCESS EXCLUSIVE MODE"));
    cr_assert_eq (s_stage->fn (s_state, envelope), STAGE_FORWARD);
    cr_assert_eq (s_stage->flush_begin (s_state), 0);
    const char *waiting = "SELECT count (*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                          "AND query LIKE '%drift_archive_batch%'";
    int64_t deadline = zclock_mono () + 10000;
    while (tu_query_long (s_url, waiting) != 1 && zclock_mono () < deadline)
        zclock_sleep (20);
    cr_assert_eq (tu_query_long (s_url, waiting), 1, "the write waits on the lock");
    cr_assert_eq (s_stage->flush_end (s_state, false), 1, "and is not done");
    cr_assert_eq (tu_query_long (s_url, "SELECT count (*) FROM pg_stat_activity, "
                  "LATERAL pg_terminate_backend (pid) WHERE wait_event_type = 'Lock' "
                  "AND query LIKE '%drift_archive_batch%'"), 1);
    PQclear (PQexec (owner, "COMMIT"));
    PQfinish (owner);
    cr_assert_eq (s_stage->flush_end (s_state, true), 0, "written again on a new connection");
    cr_assert_eq (s_rows_of ("k1"), 1);
    cr_assert_eq (s_count ("true"), 3, "with its three drifted resources");
    s_envelope_destroy (envelope);
}

//  The rows go to PostgreSQL while the store syncs the batch's objects;
//  when the sync fails, their transaction is rolled back, not committed.
Test (archive, a_batch_whose_objects_cannot_be_made_durable_commits_no_row)
{
    Drift__Envelope *envelope = s_drifted (s_tenant, s_key, "u1");
    const char *root = tu_archive_env ();
    char away [600];
    snprintf (away, sizeof away, "%s.away", root);
    cr_assert_eq (s_stage->fn (s_state, envelope), STAGE_FORWARD);
    //  The store's directory gone between the put and the sync: syncfs has
    //  nothing to open.
    cr_assert_eq (rename (root, away), 0);
    cr_assert_eq (s_stage->flush_begin (s_state), -1, "the batch fails whole, for the journal");
    cr_assert_eq (s_stage->flush_end (s_state, true), 0, "nothing is left being written");
    cr_assert_eq (rename (away, root), 0);
    cr_assert_eq (s_rows_of ("u1"), 0, "no row without its durable object");
    cr_assert_eq (s_count ("true"), 0, "and no drift item");
    //  The connection is not left in the rolled-back transaction: the
    //  replay is written on it.
    cr_assert_eq (s_stage->fn (s_state, envelope), STAGE_FORWARD);
    cr_assert_eq (s_stage->flush (s_state), 0);
    cr_assert_eq (s_rows_of ("u1"), 1);
    cr_assert_eq (s_count ("true"), 3);
    s_envelope_destroy (envelope);
}

//  --------------------------------------------------------------------------
//  The object

Test (archive, the_raw_report_is_stored_sealed_and_bound_to_its_tenant_and_report)
{
    s_archive ("r1", 0, "scenario-01");
    char *key = s_text ("SELECT object_key FROM reports WHERE report_id = 'r1'");
    char expected [128];
    snprintf (expected, sizeof expected, "%s/payments/2026/11/27/r1", s_tenant);
    cr_assert_str_eq (key, expected);
    store_t *store = store_new_local (tu_archive_env ());
    uint8_t *blob;
    size_t size;
    cr_assert_eq (store_get (store, key, &blob, &size), 0, "%s", store_error (store));

    char error [256];
    seal_keyring_t *keyring = seal_keyring_load (getenv ("DRIFT_SEAL_KEY"), NULL, error,
                                                 sizeof error);
    cr_assert (keyring, "%s", error);
    char key_id [9];
    cr_assert_eq (seal_blob_key_id (blob, size, key_id), 0);
    char *stored_id = s_text ("SELECT key_id FROM reports WHERE report_id = 'r1'");
    cr_assert_str_eq (stored_id, key_id, "the row names the key that sealed it");
    char associated [128];
    snprintf (associated, sizeof associated, "%s/r1", s_tenant);
    uint8_t *plain;
    size_t plain_size;
    cr_assert_eq (seal_open (keyring, blob, size, associated, &plain, &plain_size, error,
                             sizeof error), 0, "%s", error);
    Drift__Report *report = drift__report__unpack (NULL, plain_size, plain);
    cr_assert (report, "the object is the raw report");
    cr_assert_str_eq (report->report_id, "r1");
    char *text = s_plan ("scenario-01", NULL, NULL);
    cr_assert_eq (report->payload.len, strlen (text));
    cr_assert_eq (memcmp (report->payload.data, text, strlen (text)), 0);
    free (text);
    drift__report__free_unpacked (report, NULL);
    free (plain);

    //  Under another tenant's name (or report's) it does not open.
    snprintf (associated, sizeof associated, "%s/r1", s_other);
    cr_assert_eq (seal_open (keyring, blob, size, associated, &plain, &plain_size, error,
                             sizeof error), -1);
    free (blob);
    free (key);
    free (stored_id);
    seal_keyring_destroy (&keyring);
    store_destroy (&store);
}

//  --------------------------------------------------------------------------
//  Refusals

//  Whether the store holds an object for report_id (any tenant, any day).
static bool
s_object_exists (const char *report_id)
{
    zdir_t *dir = zdir_new (tu_archive_env (), NULL);
    bool found = false;
    zfile_t **files = dir ? zdir_flatten (dir) : NULL;
    for (int i = 0; files && files [i] && !found; i++) {
        const char *path = zfile_filename (files [i], NULL);
        const char *slash = strrchr (path, '/');
        found = slash && streq (slash + 1, report_id);
    }
    zdir_flatten_free (&files);
    zdir_destroy (&dir);
    return found;
}

static int64_t
s_agent_refused (void)
{
    return metric_value (metrics_counter (metrics_default (), "drift_archive_agent_refused_total",
        "Envelopes the archive refused: agent key unknown, of another tenant, or revoked", NULL));
}

//  A producer that is not ingest forges envelopes: tenant B's id with
//  tenant A's agent key, a key no agent has, and B's agent once revoked.
//  Each fails at the stage function, before anything is sealed or stored,
//  counted; B's own report beside them is archived.
Test (archive, an_envelope_not_from_an_agent_of_its_tenant_is_refused_before_anything_is_stored)
{
    char *text = s_plan ("scenario-01", NULL, NULL);
    Drift__Envelope *forged = s_envelope (s_other, s_key, "forged", "payments", T0, text);
    Drift__Envelope *unknown = s_envelope (s_other, "0000000000000000000000000000000000000000",
                                           "unknown", "payments", T0, text);
    Drift__Envelope *good = s_envelope (s_other, s_other_key, "good", "payments", T0, text);
    cr_assert_eq (s_stage->fn (s_state, forged), STAGE_FAILED, "another tenant's key");
    cr_assert_eq (s_stage->fn (s_state, unknown), STAGE_FAILED, "a key no agent has");
    cr_assert_eq (s_stage->fn (s_state, good), STAGE_FORWARD);
    cr_assert_eq (s_stage->flush (s_state), 0, "the batch is written without them");
    cr_assert_eq (s_agent_refused (), 2);
    cr_assert_not (s_object_exists ("forged"), "nothing sealed for the forged report");
    cr_assert_not (s_object_exists ("unknown"));
    cr_assert (s_object_exists ("good"));
    cr_assert_eq (tu_query_long (s_url, "SELECT count (*) FROM reports WHERE report_id IN "
                                        "('forged', 'unknown')"), 0);
    char sql [256];
    snprintf (sql, sizeof sql, "SELECT count (*) FROM reports WHERE report_id = 'good' "
                               "AND tenant_id = '%s'", s_other);
    cr_assert_eq (tu_query_long (s_url, sql), 1);
    cr_assert_eq (tu_query_long (s_url, "SELECT count (DISTINCT tenant_id) FROM drift_items"), 1);

    //  B's agent is revoked: a report under its key no longer gets in
    //  (a replay of an old one included), and resolves nothing of B's.
    snprintf (sql, sizeof sql, "UPDATE agents SET revoked_at = now () WHERE public_key = '%s'",
              s_other_key);
    cr_assert_eq (tu_query_long (s_url, sql), -1, "an UPDATE returns no row");
    zclock_sleep (1100);        // past the stage's one-second answer cache
    char *clean = s_plan ("scenario-08", NULL, NULL);     // a clean plan
    Drift__Envelope *revoked = s_envelope (s_other, s_other_key, "after-revoke", "payments",
                                           T0 + MINUTE, clean);
    cr_assert_eq (s_stage->fn (s_state, revoked), STAGE_FAILED, "a revoked key");
    cr_assert_eq (s_stage->flush (s_state), 0);
    cr_assert_eq (s_agent_refused (), 3);
    cr_assert_not (s_object_exists ("after-revoke"));
    snprintf (sql, sizeof sql, "SELECT count (*) FROM drift_items WHERE tenant_id = '%s' "
                               "AND resolved_at IS NULL", s_other);
    cr_assert_gt (tu_query_long (s_url, sql), 0, "B's open drift stays open");
    s_envelope_destroy (forged);
    s_envelope_destroy (unknown);
    s_envelope_destroy (good);
    s_envelope_destroy (revoked);
    free (clean);
    free (text);
}

Test (archive, a_report_the_tables_refuse_is_recorded_as_failed_with_the_reason)
{
    //  A drift item of no known kind: the tables' check refuses it.
    char *text = s_plan ("scenario-01", NULL, NULL);
    Drift__Envelope *envelope = s_envelope (s_tenant, s_key, "odd", "payments", T0, text);
    Drift__ScoredReport *scored = drift__scored_report__unpack (NULL, envelope->scored.len,
                                                               envelope->scored.data);
    scored->report->items [0]->kind = DRIFT__DRIFT_KIND__DRIFT_KIND_UNSPECIFIED;
    free (envelope->scored.data);
    envelope->scored.len = drift__scored_report__get_packed_size (scored);
    envelope->scored.data = (uint8_t *) malloc (envelope->scored.len);
    drift__scored_report__pack (scored, envelope->scored.data);
    drift__scored_report__free_unpacked (scored, NULL);

    cr_assert_eq (s_stage->fn (s_state, envelope), STAGE_FORWARD);
    cr_assert_eq (s_stage->flush (s_state), 0);
    char *reason = s_text ("SELECT reason FROM reports WHERE report_id = 'odd' "
                           "AND status = 'failed'");
    cr_assert (strstr (reason, "the archive refused the report") && strstr (reason, "kind"),
               "%s", reason);
    cr_assert_eq (s_count ("true"), 0, "nothing of it opened");
    free (reason);
    s_envelope_destroy (envelope);
    free (text);
}

Test (archive, an_envelope_that_is_not_scored_fails)
{
    Drift__Envelope envelope = DRIFT__ENVELOPE__INIT;
    envelope.tenant = s_tenant;
    envelope.report_id = (char *) "raw";
    envelope.stack = (char *) "payments";
    envelope.body_case = DRIFT__ENVELOPE__BODY_RAW;
    envelope.raw.data = (uint8_t *) "xyz";
    envelope.raw.len = 3;
    cr_assert_eq (s_stage->fn (s_state, &envelope), STAGE_FAILED);
    envelope.body_case = DRIFT__ENVELOPE__BODY_SCORED;
    envelope.scored.data = (uint8_t *) "\xff\xff\xff";
    envelope.scored.len = 3;
    cr_assert_eq (s_stage->fn (s_state, &envelope), STAGE_FAILED);
    cr_assert_eq (s_stage->flush (s_state), 0, "nothing to write");
}

//  --------------------------------------------------------------------------
//  drift archive get

//  Run `drift COMMAND ARGS --database` (the owner's URL); its exit code, and
//  what capture (a redirection into "%s/drift.out", %s the test's var
//  directory) caught in *said (caller frees).
static int
s_drift (char **said, const char *command_name, const char *args, const char *capture)
{
    const char *var = getenv ("DRIFT_TEST_VAR_DIR");
    char redirect [600], *command;
    snprintf (redirect, sizeof redirect, capture, var);
    cr_assert (asprintf (&command, "%s %s %s --database '%s' %s", getenv ("DRIFT_BIN"),
                         command_name, args, s_url, redirect) > 0);
    int status = system (command);
    free (command);
    char path [512];
    snprintf (path, sizeof path, "%s/drift.out", var);
    *said = tu_read_file (path, NULL);
    return WIFEXITED (status) ? WEXITSTATUS (status) : -1;
}

//  Run `drift prune ARGS` as the owner, as an operator would; its exit
//  code, and what it printed (both streams) in *said (caller frees).
static int
s_prune (char **said, const char *args)
{
    return s_drift (said, "prune", args, "> %s/drift.out 2>&1");
}

Test (archive, prune_removes_old_reports_with_their_objects_and_resolved_drift_not_open_drift)
{
    s_archive ("r1", 0, "scenario-01");              // day 0: a group opened to the world
    s_archive ("r2", 24 * 60, "scenario-08");        // day 1: clean, resolves it
    s_archive ("r3", 2 * 24 * 60, "scenario-05");    // day 2: drift that stays open
    char *old_key = s_text ("SELECT object_key FROM reports WHERE report_id = 'r1'");
    char *new_key = s_text ("SELECT object_key FROM reports WHERE report_id = 'r3'");
    char *before = s_snapshot ();
    store_t *store = store_new_local (tu_archive_env ());

    //  A dry run counts what would go (r1, r2 and the resolved item) and removes nothing.
    char *said;
    cr_assert_eq (s_prune (&said, "--before 2026-11-28T12:00:00Z --dry-run 1"), 0, "%s", said);
    cr_assert (strstr (said, "acme: would lose 2 reports (2 objects), 1 resolved drift item"),
               "%s", said);
    free (said);
    char *after = s_snapshot ();
    cr_assert_str_eq (after, before);
    free (after);
    cr_assert_eq (store_head (store, old_key, NULL), 0);

    cr_assert_eq (s_prune (&said, "--before 2026-11-28T12:00:00Z"), 0, "%s", said);
    cr_assert (strstr (said, "acme: pruned 2 reports (2 objects), 1 resolved drift item"), "%s",
               said);
    free (said);
    cr_assert_eq (tu_query_long (s_url, "SELECT count (*) FROM reports"), 1);
    cr_assert_eq (tu_query_long (s_url, "SELECT count (*) FROM reports WHERE report_id = 'r3'"), 1);
    cr_assert_eq (store_head (store, old_key, NULL), 1, "r1's object is gone");
    cr_assert_eq (store_head (store, new_key, NULL), 0, "r3's is kept");
    cr_assert_eq (s_count ("true"), 1, "the resolved item went");
    cr_assert_eq (s_count ("address = 'aws_dynamodb_table.sessions' AND resolved_at IS NULL"), 1,
                  "open drift stays");
    char *seen = s_sightings ("true");
    cr_assert_str_eq (seen, "r3", "sightings went with their reports");
    free (seen);
    cr_assert_eq (tu_query_long (s_url, "SELECT count (*) FROM stacks"), 1, "the stack stays");

    //  Again: nothing left to do. An unknown tenant is a usage error.
    cr_assert_eq (s_prune (&said, "--before 2026-11-28T12:00:00Z --tenant acme"), 0, "%s", said);
    cr_assert (strstr (said, "acme: pruned 0 reports (0 objects), 0 resolved drift items"), "%s",
               said);
    free (said);
    cr_assert_eq (s_prune (&said, "--tenant nobody"), 2, "%s", said);
    free (said);
    cr_assert_eq (s_prune (&said, "--before yesterday-ish"), 2, "%s", said);
    free (said);
    //  A store that cannot be reached stops the run (exit 3) before any of
    //  the batch's rows go.
    s_archive ("r4", 3 * 24 * 60, "scenario-05");
    setenv ("DRIFT_S3_SECRET_KEY", "not-used", 1);
    cr_assert_eq (s_prune (&said, "--before 2026-12-01T00:00:00Z --store s3 --s3-endpoint "
                                  "http://127.0.0.1:9 --s3-bucket drift-gone --s3-access-key k "
                                  "--s3-timeout-ms 500"), 3, "%s", said);
    cr_assert (strstr (said, "cannot remove"), "%s", said);
    free (said);
    unsetenv ("DRIFT_S3_SECRET_KEY");
    cr_assert_eq (tu_query_long (s_url, "SELECT count (*) FROM reports"), 2, "r3 and r4 stay");

    //  The default retention (365 days) keeps everything this young.
    cr_assert_eq (s_prune (&said, ""), 0, "%s", said);
    free (said);
    cr_assert_eq (tu_query_long (s_url, "SELECT count (*) FROM reports"), 2);
    store_destroy (&store);
    free (before);
    free (old_key);
    free (new_key);
}

//  Run `drift archive get ARGS` for tenant A's database; its exit code, and
//  what it wrote to stderr in *said (caller frees).
static int
s_get (char **said, const char *args)
{
    return s_drift (said, "archive get", args, "2> %s/drift.out");
}

Test (archive, drift_archive_get_gives_back_the_document_and_refuses_a_tampered_object)
{
    s_archive ("r1", 0, "scenario-02");
    const char *var = getenv ("DRIFT_TEST_VAR_DIR");
    char args [1024], *said;
    snprintf (args, sizeof args, "r1 --tenant acme --output %s/got.json", var);
    cr_assert_eq (s_get (&said, args), 0, "%s", said);
    cr_assert (strstr (said, "stack payments") && strstr (said, "sealed with key"), "%s", said);
    free (said);
    char path [512];
    snprintf (path, sizeof path, "%s/got.json", var);
    size_t size;
    char *got = tu_read_file (path, &size);
    char *text = s_plan ("scenario-02", NULL, NULL);
    cr_assert_eq (size, strlen (text));
    cr_assert_eq (memcmp (got, text, size), 0, "the document as the agent sent it");
    free (got);
    free (text);

    //  By tenant id too; not under the other tenant, not an unknown id.
    snprintf (args, sizeof args, "r1 --tenant %s --output /dev/null", s_tenant);
    cr_assert_eq (s_get (&said, args), 0, "%s", said);
    free (said);
    cr_assert_eq (s_get (&said, "r1 --tenant globex --output /dev/null"), 1);
    cr_assert (strstr (said, "no report"), "%s", said);
    free (said);
    cr_assert_eq (s_get (&said, "r9 --tenant acme --output /dev/null"), 1);
    free (said);
    cr_assert_eq (s_get (&said, "r1"), 2, "the tenant is required");
    free (said);

    //  One bit flipped in the stored object: refused.
    char *key = s_text ("SELECT object_key FROM reports WHERE report_id = 'r1'");
    snprintf (path, sizeof path, "%s/%s", tu_archive_env (), key);
    char *blob = tu_read_file (path, &size);
    blob [size / 2] ^= 1;
    FILE *file = fopen (path, "wb");
    cr_assert_eq (fwrite (blob, 1, size, file), size);
    fclose (file);
    snprintf (args, sizeof args, "r1 --tenant acme --output %s/tampered.json", var);
    cr_assert_eq (s_get (&said, args), 1);
    cr_assert (strstr (said, "refused"), "%s", said);
    free (said);
    free (blob);
    free (key);
}

Test (archive, objects_sealed_before_a_key_rotation_stay_readable)
{
    s_archive ("r1", 0, "scenario-01");
    //  Rotate: a new current key, the old one kept in the old-keys directory.
    const char *var = getenv ("DRIFT_TEST_VAR_DIR");
    char old_dir [256], command [4096];
    snprintf (old_dir, sizeof old_dir, "%s/old-keys-%d", var, (int) getpid ());
    snprintf (command, sizeof command,
              "rm -rf %s && mkdir -p %s && cp -p %s %s/previous.key && "
              "head -c 32 /dev/urandom > %s/current.key && chmod 600 %s/current.key",
              old_dir, old_dir, getenv ("DRIFT_SEAL_KEY"), old_dir, old_dir, old_dir);
    cr_assert_eq (system (command), 0);

    char args [2048], *said;
    snprintf (args, sizeof args, "r1 --tenant acme --output /dev/null --seal-key %s/current.key "
              "--seal-old-keys %s", old_dir, old_dir);
    cr_assert_eq (s_get (&said, args), 0, "the old key still opens it: %s", said);
    free (said);
    snprintf (args, sizeof args, "r1 --tenant acme --output /dev/null --seal-key %s/current.key",
              old_dir);
    cr_assert_eq (s_get (&said, args), 1, "without the old key it cannot open");
    cr_assert (strstr (said, "refused"), "%s", said);
    free (said);

    //  The stage with the new key seals new reports under it; the old ones
    //  stay readable beside them.
    s_stage->close (s_state);
    config_destroy (&s_config);
    char current [600];
    snprintf (current, sizeof current, "%s/current.key", old_dir);
    char *previous = strdup (getenv ("DRIFT_SEAL_KEY"));
    setenv ("DRIFT_SEAL_KEY", current, 1);
    s_open_stage (s_app, "local");
    s_archive ("r2", 10, "scenario-01");
    setenv ("DRIFT_SEAL_KEY", previous, 1);
    free (previous);
    char *ids = s_text ("SELECT string_agg (DISTINCT key_id, ',') FROM reports");
    cr_assert (strchr (ids, ','), "two keys in use: %s", ids);
    free (ids);
    snprintf (args, sizeof args, "r2 --tenant acme --output /dev/null --seal-key %s/current.key "
              "--seal-old-keys %s", old_dir, old_dir);
    cr_assert_eq (s_get (&said, args), 0, "%s", said);
    free (said);
}

//  --------------------------------------------------------------------------
//  The object store away

//  The S3 test server's settings for a `drift archive` (the secret key
//  travels in the environment, which children inherit).
static const char *
s_s3 (const char *name)
{
    const char *value = getenv (name);
    cr_assert (value && *value, "%s is not set: the S3 test server is not started "
               "(run the tests through scripts/test)", name);
    return value;
}

Test (archive, with_the_store_down_a_report_fails_fast_and_succeeds_once_it_is_back)
{
    s_stage->close (s_state);
    config_destroy (&s_config);
    setenv ("DRIFT_S3_ENDPOINT", s_s3 ("DRIFT_TEST_S3_ENDPOINT"), 1);
    setenv ("DRIFT_S3_BUCKET", s_s3 ("DRIFT_TEST_S3_BUCKET"), 1);
    setenv ("DRIFT_S3_ACCESS_KEY", s_s3 ("DRIFT_TEST_S3_ACCESS_KEY"), 1);
    setenv ("DRIFT_S3_SECRET_KEY", s_s3 ("DRIFT_TEST_S3_SECRET_KEY"), 1);
    setenv ("DRIFT_S3_PREFIX", "stage-test", 1);
    s_open_stage (s_app, "s3");

    char *text = s_plan ("scenario-01", NULL, NULL);
    Drift__Envelope *first = s_envelope (s_tenant, s_key, "r1", "payments", T0, text);
    Drift__Envelope *second = s_envelope (s_tenant, s_key, "r2", "payments", T0 + MINUTE, text);
    cr_assert_eq (system (s_s3 ("DRIFT_TEST_S3_STOP")), 0);
    //  The first put is retried for store-retry-ms, the second of the same
    //  batch is not tried at all: the batch ends fast, both for replay.
    cr_assert_eq (s_stage->fn (s_state, first), STAGE_FAILED);
    cr_assert_eq (s_stage->fn (s_state, second), STAGE_FAILED);
    cr_assert_eq (s_stage->flush (s_state), 0);
    cr_assert_eq (tu_query_long (s_url, "SELECT count (*) FROM reports"), 0,
                  "no row without its object");

    cr_assert_eq (system (s_s3 ("DRIFT_TEST_S3_START")), 0);
    cr_assert_eq (s_stage->fn (s_state, first), STAGE_FORWARD, "the replay succeeds");
    cr_assert_eq (s_stage->fn (s_state, second), STAGE_FORWARD);
    cr_assert_eq (s_stage->flush (s_state), 0);
    cr_assert_eq (tu_query_long (s_url, "SELECT count (*) FROM reports "
                                        "WHERE object_key IS NOT NULL"), 2);
    char *key = s_text ("SELECT object_key FROM reports WHERE report_id = 'r2'");
    char error [256];
    store_t *store = store_from_config (s_config, error, sizeof error);
    cr_assert (store, "%s", error);
    cr_assert_eq (store_head (store, key, NULL), 0, "the object is in the bucket");
    store_destroy (&store);
    free (key);
    s_envelope_destroy (first);
    s_envelope_destroy (second);
    free (text);
}

//  Journal reports first .. first + count - 1 (ids s3-N) of tenant A, as
//  ingest would: visible at once, for the replayer to feed the pipeline.
static void
s_journal_reports (int first, int count)
{
    journal_t *journal = journal_new (s_url, 5000);
    char *text = s_plan ("scenario-01", NULL, NULL);
    for (int sent = first; sent < first + count; sent += 50) {
        Drift__Envelope envelopes [50], *pointers [50];
        char ids [50][16];
        uint8_t *raws [50];
        int64_t journal_ids [50];
        int group = first + count - sent < 50 ? first + count - sent : 50;
        for (int i = 0; i < group; i++) {
            drift__envelope__init (&envelopes [i]);
            snprintf (ids [i], sizeof ids [i], "s3-%d", sent + i);
            size_t size;
            raws [i] = s_raw (ids [i], "payments", text, &size);
            envelopes [i].tenant = s_tenant;
            envelopes [i].agent_key = s_key;
            envelopes [i].stack = (char *) "payments";
            envelopes [i].report_id = ids [i];
            envelopes [i].received_us = T0 + (sent + i) * MINUTE;
            envelopes [i].body_case = DRIFT__ENVELOPE__BODY_RAW;
            envelopes [i].raw.data = raws [i];
            envelopes [i].raw.len = size;
            pointers [i] = &envelopes [i];
        }
        cr_assert_eq (journal_send (journal, pointers, group, 0, journal_ids), 0);
        for (int i = 0; i < group; i++)
            free (raws [i]);
    }
    journal_destroy (&journal);
    free (text);
}

//  The whole pipeline as processes, fed from the journal by the replayer.
//  A first lot of reports is archived; the S3 server stops; a second lot
//  arrives: while the store is away none of it is acked (none is finished
//  without its object) and the archive says why; once the server is back
//  every report is archived once, with its object, nothing dead-lettered.
Test (archive, s3_stopped_mid_run_holds_the_acks_until_the_objects_are_stored, .timeout = 240)
{
    enum { FIRST = 100, REPORTS = 300 };
    char endpoint [64];
    snprintf (endpoint, sizeof endpoint, "tcp://127.0.0.1:%d", tu_free_port ());
    setenv ("DRIFT_S3_SECRET_KEY", s_s3 ("DRIFT_TEST_S3_SECRET_KEY"), 1);
    s_journal_reports (0, FIRST);

    pid_t pids [6];
    pids [0] = tu_spawn (NULL, "broker", "--bind", endpoint, "--heartbeat-ms", "100",
                         "--liveness", "5", "--log-level", "error", NULL);
    const char *stages [] = { "normalize", "score", "notify" };
    for (int i = 0; i < 3; i++)
        pids [i + 1] = tu_spawn (NULL, stages [i], "--broker", endpoint, "--database", s_app,
                                 "--heartbeat-ms", "100", "--liveness", "5", "--credit", "8",
                                 "--log-level", "error", NULL);
    pids [4] = tu_spawn (NULL, "archive", "--broker", endpoint, "--database", s_app,
                         "--heartbeat-ms", "100", "--liveness", "5", "--credit", "8",
                         "--store", "s3", "--s3-endpoint", s_s3 ("DRIFT_TEST_S3_ENDPOINT"),
                         "--s3-bucket", s_s3 ("DRIFT_TEST_S3_BUCKET"),
                         "--s3-access-key", s_s3 ("DRIFT_TEST_S3_ACCESS_KEY"),
                         "--s3-prefix", "pipeline-test", "--store-retry-ms", "200",
                         "--log-level", "error", NULL);
    pids [5] = tu_spawn (NULL, "replayer", "--broker", endpoint, "--database", s_app,
                         "--stage", "normalize", "--deadline-s", "2", "--max-attempts", "100",
                         "--interval-ms", "200", "--heartbeat-ms", "100", "--liveness", "5",
                         "--log-level", "error", NULL);

    const char *acked = "SELECT count (*) FROM pgmq.a_drift_journal";
    cr_assert_eq (tu_wait_query (s_url, acked, FIRST, 60000), FIRST, "the first lot archived");
    cr_assert_eq (system (s_s3 ("DRIFT_TEST_S3_STOP")), 0);
    s_journal_reports (FIRST, REPORTS - FIRST);
    //  The second lot reaches the archive, which cannot store it and says so.
    long failures = tu_wait_query (s_url, "SELECT least (count (*), 1) FROM drift_failures "
                                          "WHERE stage = 'archive' AND reason LIKE '%object store%'",
                                   1, 30000);
    long during = tu_query_long (s_url, acked);
    zclock_sleep (2000);
    long later = tu_query_long (s_url, acked);
    cr_assert_eq (system (s_s3 ("DRIFT_TEST_S3_START")), 0);

    long finished = tu_wait_query (s_url, acked, REPORTS, 120000);
    long reports = tu_query_long (s_url, "SELECT count (*) FROM reports "
                                         "WHERE object_key LIKE '%/s3-%' AND key_id IS NOT NULL");
    long dead = tu_query_long (s_url, "SELECT count (*) FROM pgmq.q_drift_dead");
    long distinct = tu_query_long (s_url, "SELECT count (DISTINCT message->>'report_id') "
                                          "FROM pgmq.a_drift_journal");
    for (int i = 5; i >= 0; i--)
        tu_stop (pids [i], SIGTERM);

    cr_assert_eq (failures, 1, "the archive said why it failed reports");
    cr_assert_eq (during, FIRST, "nothing of the second lot acked while the store was away");
    cr_assert_eq (later, FIRST, "... and still nothing two seconds later (%ld)", later);
    cr_assert_eq (finished, REPORTS, "every report finished once the store was back");
    cr_assert_eq (distinct, REPORTS);
    cr_assert_eq (reports, REPORTS, "each recorded once, with its object");
    cr_assert_eq (dead, 0, "nothing dead-lettered");
}
