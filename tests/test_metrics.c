/*  Tests of metrics: the registry's text rendering, and every role of a real
    pipeline serving Prometheus metrics that move as one report goes
    through.

    What a role serves is read by a real Prometheus parser
    (tests/metrics/parse.py, Debian's python3-prometheus-client) and checked
    as numbers, never by matching text: a family the parser cannot read
    fails the test.
*/
#define _GNU_SOURCE
#include "testutil.h"
#include "linkutil.h"
#include "../lib/log.h"
#include "../lib/metrics.h"

#include <criterion/criterion.h>
#include <jansson.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <sys/wait.h>

//  --------------------------------------------------------------------------
//  Reading what was served

//  source (a URL or a file) parsed by parse.py: {family: {type, samples}}.
static json_t *
s_parse (const char *source)
{
    char *command, *out = zsys_sprintf ("%s/metrics-%d.json",
                                        getenv ("DRIFT_TEST_VAR_DIR") ? getenv ("DRIFT_TEST_VAR_DIR")
                                                                      : "/tmp", (int) getpid ());
    cr_assert (asprintf (&command, "/usr/bin/python3 %s/tests/metrics/parse.py '%s' > %s",
                         getenv ("DRIFT_SOURCE_DIR"), source, out) > 0);
    int status = system (command);
    free (command);
    cr_assert (WIFEXITED (status) && WEXITSTATUS (status) == 0,
               "the Prometheus parser read %s", source);
    json_error_t error;
    json_t *families = json_load_file (out, 0, &error);
    cr_assert (families, "parse.py printed JSON: %s", error.text);
    unlink (out);
    zstr_free (&out);
    return families;
}

//  The sample named name whose labels include the (name, value) pairs
//  given, NULL-terminated; NULL if there is none.
static json_t *
s_sample_v (json_t *families, const char *name, va_list pairs)
{
    const char *family_name;
    json_t *family;
    json_object_foreach (families, family_name, family) {
        size_t index;
        json_t *sample;
        json_array_foreach (json_object_get (family, "samples"), index, sample) {
            if (strcmp (json_string_value (json_object_get (sample, "name")), name))
                continue;
            json_t *labels = json_object_get (sample, "labels");
            va_list args;
            va_copy (args, pairs);
            bool match = true;
            const char *label;
            while (match && (label = va_arg (args, const char *))) {
                const char *value = va_arg (args, const char *);
                const char *has = json_string_value (json_object_get (labels, label));
                match = has && streq (has, value);
            }
            va_end (args);
            if (match)
                return sample;
        }
    }
    return NULL;
}

//  The value of that sample; NAN if there is none.
static double
s_value (json_t *families, const char *name, ...)
{
    va_list pairs;
    va_start (pairs, name);
    json_t *sample = s_sample_v (families, name, pairs);
    va_end (pairs);
    return sample ? json_number_value (json_object_get (sample, "value")) : NAN;
}

static const char *
s_type (json_t *families, const char *family)
{
    return json_string_value (json_object_get (json_object_get (families, family), "type"));
}

//  --------------------------------------------------------------------------
//  The renderer

static int
s_two_and_a_half (void *arg, double *value)
{
    (void) arg;
    *value = 2.5;
    return 0;
}

static int
s_unreadable (void *arg, double *value)
{
    (void) arg;
    (void) value;
    return -1;
}

Test (metrics, renders_what_a_prometheus_parser_reads_back)
{
    metrics_t *registry = metrics_new ();
    const char *awkward = "back\\slash \"quoted\"\nnext line";
    metric_t *counter = metrics_counter (registry, "test_events_total", "Events, \"quoted\"\\",
                                         "kind", awkward, NULL);
    metric_add (counter, 41);
    metric_inc (counter);
    cr_assert_eq (metrics_counter (registry, "test_events_total", "ignored",
                                   "kind", awkward, NULL), counter,
                  "registering a series again finds it");
    metric_inc (metrics_counter (registry, "test_events_total", "ignored", "kind", "plain", NULL));
    metric_set (metrics_gauge (registry, "test_level", "A level", NULL), -7);
    metric_t *histogram = metrics_histogram (registry, "test_wait_seconds", "Waits",
                                             "stage", "score", NULL);
    metric_observe_ns (histogram, 500000);          // 0.0005 s: le 0.001
    metric_observe_ns (histogram, 3000000);         // 0.003 s: le 0.005
    metric_observe_ns (histogram, 1000000000);      // 1 s exactly: le 1
    metric_observe_ns (histogram, 20000000000);     // 20 s: only +Inf
    metrics_gauge_fn (registry, "test_computed", "Computed", s_two_and_a_half, NULL, NULL);
    metrics_gauge_fn (registry, "test_missing", "Unreadable", s_unreadable, NULL, NULL);

    char *text = metrics_render (registry);
    char *path = zsys_sprintf ("%s/render-%d.prom", getenv ("DRIFT_TEST_VAR_DIR")
                               ? getenv ("DRIFT_TEST_VAR_DIR") : "/tmp", (int) getpid ());
    FILE *file = fopen (path, "w");
    cr_assert (file);
    fputs (text, file);
    fclose (file);
    json_t *families = s_parse (path);
    unlink (path);
    zstr_free (&path);
    free (text);

    cr_assert_str_eq (s_type (families, "test_events"), "counter");
    cr_assert_eq (s_value (families, "test_events_total", "kind", awkward, NULL), 42,
                  "a label value with a backslash, quotes and a newline comes back whole");
    cr_assert_eq (s_value (families, "test_events_total", "kind", "plain", NULL), 1);
    cr_assert_str_eq (json_string_value (json_object_get (
                          json_object_get (families, "test_events"), "type")), "counter");
    cr_assert_str_eq (s_type (families, "test_level"), "gauge");
    cr_assert_eq (s_value (families, "test_level", NULL), -7);
    cr_assert_str_eq (s_type (families, "test_computed"), "gauge");
    cr_assert_eq (s_value (families, "test_computed", NULL), 2.5);
    cr_assert (json_object_get (families, "test_missing"), "its family is still declared");
    cr_assert (isnan (s_value (families, "test_missing", NULL)),
               "a gauge whose source cannot be read has no sample");

    cr_assert_str_eq (s_type (families, "test_wait_seconds"), "histogram");
    const char *bounds [] = { "0.001", "0.005", "0.01", "0.05", "0.1", "0.5", "1", "5", "10",
                              "+Inf" };
    const double cumulative [] = { 1, 2, 2, 2, 2, 2, 3, 3, 3, 4 };
    for (int i = 0; i < 10; i++)
        cr_assert_eq (s_value (families, "test_wait_seconds_bucket", "stage", "score",
                               "le", bounds [i], NULL), cumulative [i],
                      "bucket le=%s is cumulative", bounds [i]);
    cr_assert_eq (s_value (families, "test_wait_seconds_count", "stage", "score", NULL), 4,
                  "count is the +Inf bucket");
    cr_assert_float_eq (s_value (families, "test_wait_seconds_sum", "stage", "score", NULL),
                        21.0035, 1e-9, "sum in seconds");
    cr_assert_eq (metric_value (histogram), 4);
    json_decref (families);
    metrics_destroy (&registry);
    cr_assert_null (registry);
}

//  --------------------------------------------------------------------------
//  Every role of a pipeline

#define ROLES 7

static lu_env_t s_env;
static char *s_app;
static pid_t s_roles [ROLES];
static int s_role_count;

static void
s_setup (void)
{
    log_init ("test", "logfmt", "error");
    lu_setup (&s_env);
    s_app = tu_app_url (s_env.database);
    tu_archive_env ();
    s_role_count = 0;
}

static void
s_teardown (void)
{
    for (int i = s_role_count - 1; i >= 0; i--)
        tu_stop (s_roles [i], SIGTERM);
    free (s_app);
    lu_teardown (&s_env);
}

static json_t *
s_scrape (const char *address)
{
    char url [96];
    snprintf (url, sizeof url, "http://%s/metrics", address);
    return s_parse (url);
}

Test (metrics, every_role_serves_metrics_that_count_one_report,
      .init = s_setup, .fini = s_teardown, .timeout = 180)
{
    //  broker, normalize, score, archive, notify, replayer, ingest
    const char *roles [ROLES] = { "broker", "normalize", "score", "archive", "notify",
                                  "replayer", "ingest" };
    char address [ROLES][32];
    for (int i = 0; i < ROLES; i++)
        snprintf (address [i], sizeof address [i], "127.0.0.1:%d", tu_free_port ());
    char *log = zsys_sprintf ("%s/pipeline.log", s_env.directory);
    s_roles [s_role_count++] = tu_spawn (log, "broker", "--bind", s_env.broker,
                                         "--heartbeat-ms", "250", "--liveness", "12",
                                         "--metrics", address [0], "--log-level", "warn", NULL);
    for (int i = 1; i <= 3; i++)
        s_roles [s_role_count++] = tu_spawn (log, roles [i], "--broker", s_env.broker,
                                             "--database", s_app, "--heartbeat-ms", "250",
                                             "--liveness", "12", "--metrics", address [i],
                                             "--log-level", "warn", NULL);
    s_roles [s_role_count++] = tu_spawn (log, "notify", "--broker", s_env.broker,
                                         "--database", s_app, "--redis",
                                         getenv ("DRIFT_TEST_REDIS_URL"), "--poll-ms", "20",
                                         "--heartbeat-ms", "250", "--liveness", "12",
                                         "--metrics", address [4], "--log-level", "warn", NULL);
    //  A deadline far beyond the test: nothing is replayed, so every stage
    //  sees the report exactly once.
    s_roles [s_role_count++] = tu_spawn (log, "replayer", "--broker", s_env.broker,
                                         "--database", s_app, "--deadline-s", "600",
                                         "--interval-ms", "200", "--heartbeat-ms", "250",
                                         "--liveness", "12", "--metrics", address [5],
                                         "--log-level", "warn", NULL);
    zstr_free (&log);
    //  Ingest heartbeats at the broker's pace, like every role here. The
    //  window (250 ms x 12) is wide enough that a loaded machine does not
    //  expire a worker mid-report, which would count the report twice.
    lu_ingest_start (&s_env, "--metrics", address [6], "--heartbeat-ms", "250", "--liveness",
                     "12", NULL);
    cr_assert_gt (lu_wait_stat (&s_env, "broker_credit", 1, 10000), 0);

    char *certificate = lu_issue (&s_env, "acme", "web-prod");
    char *fixture = tu_fixture_path ("scenario-01.plan.json");
    char *spool = zsys_sprintf ("%s/spool", s_env.directory);
    pid_t agent = fork ();
    if (agent == 0) {
        execl (getenv ("DRIFT_AGENT_BIN"), "drift-agent", "send", "--stack", "payments",
               "--endpoint", s_env.endpoint, "--server-key", s_env.server_key,
               "--certificate", certificate, "--spool", spool, "--log-level", "warn",
               fixture, (char *) NULL);
        _exit (127);
    }
    int status;
    waitpid (agent, &status, 0);
    cr_assert (WIFEXITED (status) && WEXITSTATUS (status) == 0, "drift-agent send delivered");
    cr_assert_eq (tu_wait_query (s_env.database, "SELECT count (*) FROM pgmq.a_drift_journal",
                                 1, 30000), 1, "the journal entry archived");
    //  The broker counts notify's DONE after notify has counted its answer.
    json_t *broker = NULL;
    int64_t deadline = zclock_mono () + 10000;
    do {
        json_decref (broker);
        broker = s_scrape (address [0]);
        if (s_value (broker, "drift_broker_done_total", "stage", "notify", NULL) == 1)
            break;
        zclock_sleep (100);
    } while (zclock_mono () < deadline);

    json_t *scraped [ROLES] = { broker };
    for (int i = 1; i < ROLES; i++)
        scraped [i] = s_scrape (address [i]);
    for (int i = 0; i < ROLES; i++) {
        cr_assert_eq (s_value (scraped [i], "drift_build_info", "role", roles [i], NULL), 1,
                      "%s says its role in drift_build_info", roles [i]);
        cr_assert_gt (s_value (scraped [i], "drift_process_start_time_seconds", NULL),
                      1.6e9, "%s says when it started", roles [i]);
    }

    //  The broker saw one envelope through every stage.
    const char *stages [] = { "normalize", "score", "archive", "notify" };
    cr_assert_eq (s_value (broker, "drift_broker_submitted_total", "stage", "normalize", NULL), 1);
    for (int i = 0; i < 4; i++) {
        cr_assert_eq (s_value (broker, "drift_broker_done_total", "stage", stages [i], NULL), 1,
                      "broker: %s finished one", stages [i]);
        cr_assert_eq (s_value (broker, "drift_broker_failed_total", "stage", stages [i], NULL), 0);
        cr_assert_eq (s_value (broker, "drift_broker_queue_depth", "stage", stages [i], NULL), 0);
        cr_assert_eq (s_value (broker, "drift_broker_in_flight", "stage", stages [i], NULL), 0);
        cr_assert_eq (s_value (broker, "drift_broker_workers", "stage", stages [i], NULL), 1);
        cr_assert_gt (s_value (broker, "drift_broker_credit", "stage", stages [i], NULL), 0);
    }
    cr_assert_str_eq (s_type (broker, "drift_broker_queue_depth"), "gauge");
    cr_assert_str_eq (s_type (broker, "drift_broker_done"), "counter");

    //  Each stage forwarded the one report, once, and timed it once.
    for (int i = 1; i <= 4; i++) {
        const char *stage = roles [i];
        json_t *m = scraped [i];
        cr_assert_eq (s_value (m, "drift_stage_messages_total", "stage", stage,
                               "outcome", "forwarded", NULL), 1, "%s forwarded it", stage);
        cr_assert_eq (s_value (m, "drift_stage_messages_total", "stage", stage,
                               "outcome", "failed", NULL), 0, "%s failed nothing", stage);
        cr_assert_eq (s_value (m, "drift_stage_messages_total", "stage", stage,
                               "outcome", "ended", NULL), 0);
        cr_assert_eq (s_value (m, "drift_stage_bad_envelopes_total", "stage", stage, NULL), 0);
        cr_assert_eq (s_value (m, "drift_stage_batches_total", "stage", stage, NULL), 1);
        cr_assert_eq (s_value (m, "drift_stage_flush_failures_total", "stage", stage, NULL), 0);
        cr_assert_str_eq (s_type (m, "drift_stage_duration_seconds"), "histogram");
        cr_assert_eq (s_value (m, "drift_stage_duration_seconds_count", "stage", stage, NULL),
                      1, "%s timed it once", stage);
        cr_assert_eq (s_value (m, "drift_stage_duration_seconds_bucket", "stage", stage,
                               "le", "+Inf", NULL), 1);
        cr_assert_geq (s_value (m, "drift_stage_duration_seconds_sum", "stage", stage, NULL), 0);
    }
    //  acme has no channels: nothing to queue, nothing to send.
    cr_assert_eq (s_value (scraped [4], "drift_notify_queued_total", NULL), 0);
    cr_assert_eq (s_value (scraped [4], "drift_notify_deliveries_total", "outcome", "sent", NULL),
                  0);
    cr_assert_eq (s_value (scraped [4], "drift_notify_breakers_open", NULL), 0);

    //  Ingest accepted one report, refused nothing, journaled one group.
    json_t *ingest = scraped [6];
    cr_assert_eq (s_value (ingest, "drift_ingest_reports_total", "outcome", "accepted", NULL), 1);
    cr_assert_eq (s_value (ingest, "drift_ingest_reports_total", "outcome", "duplicate", NULL),
                  0);
    cr_assert_eq (s_value (ingest, "drift_ingest_nacks_total", "code", "BAD_MESSAGE", NULL), 0);
    cr_assert_eq (s_value (ingest, "drift_ingest_nacks_total", "code", "RATE_LIMITED", NULL), 0);
    cr_assert_eq (s_value (ingest, "drift_ingest_handshakes_failed_total", NULL), 0);
    cr_assert_geq (s_value (ingest, "drift_ingest_journal_group_seconds_count", NULL), 1);

    //  The replayer: the journal is empty again, nothing replayed or dead.
    json_t *replayer = scraped [5];
    cr_assert_eq (s_value (replayer, "drift_journal_depth", NULL), 0, "journal drained");
    cr_assert_eq (s_value (replayer, "drift_journal_oldest_age_seconds", NULL), 0);
    cr_assert_eq (s_value (replayer, "drift_dead_letters", NULL), 0);
    cr_assert_eq (s_value (replayer, "drift_replayed_total", NULL), 0);
    cr_assert_eq (s_value (replayer, "drift_dead_lettered_total", NULL), 0);

    for (int i = 0; i < ROLES; i++)
        json_decref (scraped [i]);
    zstr_free (&spool);
    free (fixture);
    free (certificate);
}

Test (metrics, a_metrics_address_that_cannot_be_served_stops_the_role)
{
    //  Taken by a broker of ours first, then asked for again.
    char address [32], broker [64];
    snprintf (address, sizeof address, "127.0.0.1:%d", tu_free_port ());
    snprintf (broker, sizeof broker, "tcp://127.0.0.1:%d", tu_free_port ());
    pid_t first = tu_spawn (NULL, "broker", "--bind", broker, "--metrics", address,
                            "--log-level", "warn", NULL);
    char url [96];
    snprintf (url, sizeof url, "http://%s/metrics", address);
    json_t *families = NULL;
    for (int i = 0; i < 50 && !families; i++) {
        zclock_sleep (100);
        char *command = zsys_sprintf ("curl -sf -o /dev/null %s", url);
        if (system (command) == 0)
            families = s_parse (url);
        zstr_free (&command);
    }
    cr_assert (families, "the first broker serves metrics");
    json_decref (families);
    char *command = zsys_sprintf ("%s broker --bind tcp://127.0.0.1:%d --metrics %s "
                                  "--log-level error 2>/dev/null", getenv ("DRIFT_BIN"),
                                  tu_free_port (), address);
    int status = system (command);
    zstr_free (&command);
    cr_assert (WIFEXITED (status) && WEXITSTATUS (status) == 1, "a clear startup error");
    command = zsys_sprintf ("%s broker --metrics 127.0.0.1 2>/dev/null", getenv ("DRIFT_BIN"));
    status = system (command);
    zstr_free (&command);
    cr_assert (WIFEXITED (status) && WEXITSTATUS (status) == 1, "an address with no port");
    tu_stop (first, SIGTERM);
}
