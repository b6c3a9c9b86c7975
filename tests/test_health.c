/*  /healthz and /readyz of real roles (lib/health), over HTTP on their
    --metrics ports.

    Liveness is proved with a stage that really stops turning, through a
    real dependency and no test hook: the test holds an exclusive lock on
    the reports table, so the archive stage's batch write (its flush) waits
    on PostgreSQL; the role must answer 503 naming its loop while it waits,
    and 200 again once the lock is gone and the report is written.
    Readiness is proved by starting a stage with its broker and database
    missing, then giving it the broker.
*/
#include "testutil.h"
#include "../lib/clock.h"
#include "../lib/migrations.h"
#include "../actors/normalize/normalize.h"
#include "../lib/producer.h"
#include "../actors/score/score.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <jansson.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

static char *s_url;                 // the test's database, as its owner
static char *s_app;                 // ... as a drift_app login
static char s_tenant [37], s_key [41];

static void
s_setup (void)
{
    s_url = tu_fresh_database ();
    cr_assert_gt (migrations_apply (s_url), 0);
    tu_archive_env ();
    tu_tenant_agent (s_url, "acme", s_tenant, s_key);
    s_app = tu_app_url (s_url);
}

static void
s_teardown (void)
{
    free (s_app);
    tu_drop_database (s_url);
}

TestSuite (health, .init = s_setup, .fini = s_teardown, .timeout = 120);

//  GET path from 127.0.0.1:port: the HTTP status (-1 if nothing answered)
//  and, when body is not NULL, the JSON body (NULL if not JSON).
static int
s_get (int port, const char *path, json_t **body)
{
    if (body)
        *body = NULL;
    int fd = socket (AF_INET, SOCK_STREAM, 0);
    cr_assert (fd >= 0);
    struct sockaddr_in address = { .sin_family = AF_INET, .sin_port = htons ((uint16_t) port) };
    inet_pton (AF_INET, "127.0.0.1", &address.sin_addr);
    struct timeval timeout = { .tv_sec = 10 };
    setsockopt (fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    if (connect (fd, (struct sockaddr *) &address, sizeof address)) {
        close (fd);
        return -1;
    }
    char request [256];
    int length = snprintf (request, sizeof request,
                           "GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n", path);
    cr_assert_eq (write (fd, request, (size_t) length), length);
    char reply [8192];
    size_t used = 0;
    ssize_t got;
    while (used < sizeof reply - 1 && (got = read (fd, reply + used, sizeof reply - 1 - used)) > 0)
        used += (size_t) got;
    close (fd);
    reply [used] = 0;
    int status = -1;
    if (sscanf (reply, "HTTP/1.%*d %d", &status) != 1)
        return -1;
    const char *start = strstr (reply, "\r\n\r\n");
    if (body && start)
        *body = json_loads (start + 4, 0, NULL);
    return status;
}

//  Poll GET path until it answers status (at most timeout_ms); the last
//  status seen.
static int
s_wait_status (int port, const char *path, int status, int timeout_ms)
{
    int64_t deadline = clock_mono_ms () + timeout_ms;
    int seen = s_get (port, path, NULL);
    while (seen != status && clock_mono_ms () < deadline) {
        zclock_sleep (100);
        seen = s_get (port, path, NULL);
    }
    return seen;
}

//  Whether the array field of body has an entry whose "name" is name.
static bool
s_names (json_t *body, const char *field, const char *name)
{
    size_t index;
    json_t *entry;
    json_array_foreach (json_object_get (body, field), index, entry)
        if (streq (json_string_value (json_object_get (entry, "name")), name))
            return true;
    return false;
}

//  A packed envelope as score forwards it: scenario-01's plan as tenant
//  acme's report report_id, normalized and scored.
static uint8_t *
s_scored_envelope (const char *report_id, size_t *size)
{
    size_t text_size;
    char *text = tu_read_fixture ("scenario-01.plan.json", &text_size);
    Drift__Report report = DRIFT__REPORT__INIT;
    report.report_id = (char *) report_id;
    report.stack = (char *) "payments";
    report.format = DRIFT__REPORT_FORMAT__REPORT_FORMAT_PLAN_JSON;
    report.compression = DRIFT__COMPRESSION__COMPRESSION_NONE;
    report.payload.data = (uint8_t *) text;
    report.payload.len = text_size;
    report.uncompressed_size = text_size;
    report.produced_us = clock_wall_us ();
    report.engine = (char *) "terraform";
    size_t raw_size = drift__report__get_packed_size (&report);
    uint8_t *raw = (uint8_t *) malloc (raw_size);
    drift__report__pack (&report, raw);
    free (text);

    normalize_t *normalize = normalize_new (NULL);
    score_t *score = score_new ();
    Drift__CanonicalReport *canonical = normalize_raw (normalize, s_tenant, raw, raw_size);
    cr_assert (canonical);
    Drift__ScoredReport *scored = score_report (score, canonical);
    cr_assert (scored);
    Drift__Envelope envelope = DRIFT__ENVELOPE__INIT;
    envelope.tenant = s_tenant;
    envelope.agent_key = s_key;
    envelope.report_id = (char *) report_id;
    envelope.stack = (char *) "payments";
    envelope.received_us = clock_wall_us ();
    envelope.attempt = 1;
    envelope.body_case = DRIFT__ENVELOPE__BODY_SCORED;
    envelope.scored.len = drift__scored_report__get_packed_size (scored);
    envelope.scored.data = (uint8_t *) malloc (envelope.scored.len);
    drift__scored_report__pack (scored, envelope.scored.data);
    *size = drift__envelope__get_packed_size (&envelope);
    uint8_t *packed = (uint8_t *) malloc (*size);
    drift__envelope__pack (&envelope, packed);
    free (envelope.scored.data);
    score_scored_destroy (&scored);
    drift__canonical_report__free_unpacked (canonical, NULL);
    score_destroy (&score);
    normalize_destroy (&normalize);
    free (raw);
    return packed;
}

Test (health, a_stage_blocked_in_its_batch_write_is_not_alive_until_it_turns_again)
{
    char endpoint [64], broker_metrics [32], archive_metrics [32];
    int broker_port = tu_free_port (), archive_port = tu_free_port ();
    snprintf (endpoint, sizeof endpoint, "tcp://127.0.0.1:%d", tu_free_port ());
    snprintf (broker_metrics, sizeof broker_metrics, "127.0.0.1:%d", broker_port);
    snprintf (archive_metrics, sizeof archive_metrics, "127.0.0.1:%d", archive_port);
    //  Archive is the pipeline's first stage here: the test's producer may
    //  feed only the first stage (the broker's role keys).
    pid_t broker = tu_spawn (NULL, "broker", "--bind", endpoint, "--pipeline", "archive",
                             "--heartbeat-ms", "100", "--liveness", "5", "--metrics", broker_metrics,
                             "--log-level", "error", NULL);
    pid_t archive = tu_spawn (NULL, "archive", "--broker", endpoint, "--database", s_app,
                              "--heartbeat-ms", "100", "--liveness", "5", "--credit", "1",
                              "--metrics", archive_metrics, "--stall-ms", "1000",
                              "--log-level", "error", NULL);
    cr_assert_eq (s_wait_status (archive_port, "/readyz", 200, 30000), 200,
                  "the archive is ready: broker answered, PostgreSQL reachable");
    json_t *body;
    cr_assert_eq (s_get (archive_port, "/healthz", &body), 200);
    cr_assert (s_names (body, "loops", "archive"), "it names its loop");
    json_decref (body);
    cr_assert_eq (s_get (broker_port, "/healthz", &body), 200);
    cr_assert (s_names (body, "loops", "broker"));
    json_decref (body);

    //  Hold the table the batch write needs, then hand the stage a report.
    PGconn *holder = PQconnectdb (s_url);
    cr_assert_eq (PQstatus (holder), CONNECTION_OK);
    PQclear (PQexec (holder, "BEGIN"));
    PGresult *locked = PQexec (holder, "LOCK TABLE reports IN ACCESS EXCLUSIVE MODE");
    cr_assert_eq (PQresultStatus (locked), PGRES_COMMAND_OK, "%s", PQerrorMessage (holder));
    PQclear (locked);
    producer_t *producer = producer_new (endpoint, "archive", 8, 100, 5);
    size_t size;
    uint8_t *envelope = s_scored_envelope ("health-1", &size);
    cr_assert_eq (producer_submit (producer, envelope, size, 1, 10000), 0);
    free (envelope);

    int stalled = s_wait_status (archive_port, "/healthz", 503, 30000);
    cr_assert_eq (s_get (archive_port, "/healthz", &body), 503, "stalled: %d", stalled);
    cr_assert_str_eq (json_string_value (json_object_get (body, "status")), "stalled");
    cr_assert (s_names (body, "loops", "archive"));
    json_decref (body);
    cr_assert_eq (s_get (archive_port, "/readyz", &body), 503, "a stalled role is not ready");
    cr_assert (s_names (body, "waiting_for", "liveness"));
    json_decref (body);
    cr_assert_eq (s_get (broker_port, "/healthz", NULL), 200, "the broker's loop still turns");
    cr_assert_eq (tu_query_long (s_url, "SELECT count (*) FROM pg_locks l JOIN pg_stat_activity a"
                                        " USING (pid) WHERE NOT l.granted"
                                        " AND a.usename LIKE 'drift_test_app%'"), 1,
                  "the archive waits on the lock, nothing else");

    PQclear (PQexec (holder, "ROLLBACK"));
    PQfinish (holder);
    cr_assert_eq (s_wait_status (archive_port, "/healthz", 200, 30000), 200,
                  "alive again once its batch write went through");
    cr_assert_eq (tu_wait_query (s_url, "SELECT count (*) FROM reports", 1, 30000), 1,
                  "the report was written");
    producer_destroy (&producer);
    tu_stop (archive, SIGTERM);
    tu_stop (broker, SIGTERM);
}

Test (health, readyz_names_what_a_stage_waits_for)
{
    char endpoint [64], metrics [32], nowhere [96];
    int port = tu_free_port ();
    snprintf (endpoint, sizeof endpoint, "tcp://127.0.0.1:%d", tu_free_port ());
    snprintf (metrics, sizeof metrics, "127.0.0.1:%d", port);
    //  A port nothing listens on stands for a PostgreSQL that is away.
    snprintf (nowhere, sizeof nowhere, "postgresql://drift@127.0.0.1:%d/drift",
              tu_free_port ());
    pid_t stage = tu_spawn (NULL, "normalize", "--broker", endpoint, "--database", nowhere,
                            "--heartbeat-ms", "100", "--liveness", "5", "--metrics", metrics,
                            "--log-level", "error", NULL);
    cr_assert_eq (s_wait_status (port, "/healthz", 200, 30000), 200,
                  "alive: its loop turns with nothing to talk to");
    json_t *body;
    cr_assert_eq (s_get (port, "/readyz", &body), 503);
    cr_assert_str_eq (json_string_value (json_object_get (body, "status")), "not ready");
    cr_assert (s_names (body, "waiting_for", "broker"));
    cr_assert (s_names (body, "waiting_for", "postgresql"));
    json_decref (body);

    pid_t broker = tu_spawn (NULL, "broker", "--bind", endpoint, "--heartbeat-ms", "100",
                             "--liveness", "5", "--log-level", "error", NULL);
    int64_t deadline = clock_mono_ms () + 30000;
    bool broker_waited = true;
    while (broker_waited && clock_mono_ms () < deadline) {
        zclock_sleep (100);
        cr_assert_eq (s_get (port, "/readyz", &body), 503, "PostgreSQL is still away");
        broker_waited = s_names (body, "waiting_for", "broker");
        cr_assert (s_names (body, "waiting_for", "postgresql"));
        json_decref (body);
    }
    cr_assert_not (broker_waited, "the broker answered, so it is waited for no longer");
    tu_stop (broker, SIGTERM);
    tu_stop (stage, SIGTERM);
}
