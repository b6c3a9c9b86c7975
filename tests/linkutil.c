/*  linkutil: a live agent link for tests; see linkutil.h. */
#include "linkutil.h"
#include "../agent/report.h"
#include "../agent/spool.h"
#include "../lib/agent_link.h"
#include "../lib/clock.h"

#include <criterion/criterion.h>
#include <fcntl.h>
#include <jansson.h>
#include <libpq-fe.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/wait.h>

static char *
s_log_path (lu_env_t *env)
{
    return zsys_sprintf ("%s/drift.log", env->directory);
}

static int
s_run (lu_env_t *env, va_list args)
{
    const char *drift = getenv ("DRIFT_BIN");
    cr_assert (drift);
    char *argv [40] = { (char *) drift };
    int argc = 1;
    char *arg;
    while ((arg = va_arg (args, char *)) && argc < 39)
        argv [argc++] = arg;
    argv [argc] = NULL;
    char *log = s_log_path (env);
    pid_t pid = fork ();
    if (pid == 0) {
        int fd = open (log, O_WRONLY | O_CREAT | O_APPEND, 0644);
        dup2 (fd, 1);
        dup2 (fd, 2);
        execv (drift, argv);
        _exit (127);
    }
    zstr_free (&log);
    int status;
    waitpid (pid, &status, 0);
    return WIFEXITED (status) ? WEXITSTATUS (status) : 128;
}

int
lu_drift (lu_env_t *env, ...)
{
    va_list args;
    va_start (args, env);
    int rc = s_run (env, args);
    va_end (args);
    return rc;
}

void
lu_setup (lu_env_t *env)
{
    memset (env, 0, sizeof *env);
    tu_curve_dir ();            // the broker keys every `drift` it starts inherits
    const char *var = getenv ("DRIFT_TEST_VAR_DIR");
    snprintf (env->directory, sizeof env->directory, "%s/link-XXXXXX", var ? var : "/tmp");
    cr_assert (mkdtemp (env->directory));
    snprintf (env->keys_dir, sizeof env->keys_dir, "%s/keys", env->directory);
    env->database = tu_fresh_database ();
    cr_assert_eq (lu_drift (env, "migrate", "--database", env->database, NULL), 0);
    cr_assert_eq (lu_drift (env, "keys", "init", "--keys-dir", env->keys_dir, NULL), 0);
    char path [400];
    snprintf (path, sizeof path, "%s/server.key", env->keys_dir);
    zcert_t *server = zcert_load (path);
    cr_assert (server, "server key written by drift keys init");
    snprintf (env->server_key, sizeof env->server_key, "%s", zcert_public_txt (server));
    zcert_destroy (&server);
    cr_assert_eq (lu_drift (env, "tenant", "create", "acme", "--database", env->database, NULL), 0);
    snprintf (env->endpoint, sizeof env->endpoint, "tcp://127.0.0.1:%d", tu_free_port ());
    snprintf (env->stats, sizeof env->stats, "tcp://127.0.0.1:%d", tu_free_port ());
    snprintf (env->broker, sizeof env->broker, "tcp://127.0.0.1:%d", tu_free_port ());
}

void
lu_teardown (lu_env_t *env)
{
    if (env->ingest)
        lu_ingest_stop (env, SIGTERM);
    if (env->database)
        tu_drop_database (env->database);
    env->database = NULL;
}

char *
lu_issue (lu_env_t *env, const char *tenant, const char *name)
{
    char *path = zsys_sprintf ("%s/%s.cert", env->directory, name);
    const char *redis = getenv ("DRIFT_TEST_REDIS_URL");
    cr_assert (redis, "DRIFT_TEST_REDIS_URL is not set: run the tests through scripts/test");
    cr_assert_eq (lu_drift (env, "keys", "issue", "--tenant", tenant, "--name", name,
                            "--out", path, "--keys-dir", env->keys_dir,
                            "--database", env->database, "--redis", redis, NULL), 0,
                  "drift keys issue %s/%s", tenant, name);
    char *certificate = strdup (path);
    zstr_free (&path);
    //  zcert_save_secret writes the secret file as named.
    return certificate;
}

void
lu_ingest_start (lu_env_t *env, ...)
{
    const char *drift = getenv ("DRIFT_BIN");
    char *argv [48] = {
        (char *) drift, "ingest", "--endpoint", env->endpoint, "--stats", env->stats,
        "--keys-dir", env->keys_dir, "--database", env->database,
        "--redis", (char *) getenv ("DRIFT_TEST_REDIS_URL"), "--broker", env->broker,
        "--log-level", "warn"
    };
    int argc = 16;
    va_list args;
    va_start (args, env);
    char *arg;
    while ((arg = va_arg (args, char *)) && argc < 47)
        argv [argc++] = arg;
    va_end (args);
    argv [argc] = NULL;
    char *log = s_log_path (env);
    pid_t parent = getpid ();
    pid_t pid = fork ();
    if (pid == 0) {
        tu_die_with_parent (parent);
        int fd = open (log, O_WRONLY | O_CREAT | O_APPEND, 0644);
        dup2 (fd, 1);
        dup2 (fd, 2);
        execv (drift, argv);
        _exit (127);
    }
    zstr_free (&log);
    env->ingest = pid;
    int64_t deadline = clock_mono_ms () + 10000;
    while (lu_stat (env, "messages") < 0 && clock_mono_ms () < deadline)
        zclock_sleep (50);
    cr_assert (lu_stat (env, "messages") >= 0, "ingest answers on its stats endpoint");
}

void
lu_ingest_stop (lu_env_t *env, int signal_number)
{
    if (env->ingest)
        tu_stop (env->ingest, signal_number);
    env->ingest = 0;
}

void
lu_pipeline_start (lu_env_t *env, pid_t pids [5])
{
    char *log = zsys_sprintf ("%s/pipeline.log", env->directory);
    pids [0] = tu_spawn (log, "broker", "--bind", env->broker, "--log-level", "warn", NULL);
    const char *stages [] = { "normalize", "score", "archive", "notify" };
    tu_archive_env ();
    char *app = tu_app_url (env->database);
    for (int i = 0; i < 4; i++)
        pids [i + 1] = tu_spawn (log, stages [i], "--broker", env->broker, "--database", app,
                                 "--log-level", "warn", NULL);
    free (app);
    zstr_free (&log);
}

void
lu_pipeline_stop (pid_t pids [5])
{
    for (int i = 4; i >= 0; i--)
        if (pids [i]) {
            tu_stop (pids [i], SIGTERM);
            pids [i] = 0;
        }
}

long
lu_stat (lu_env_t *env, const char *path)
{
    zsock_t *request = zsock_new_req (env->stats);
    zsock_set_rcvtimeo (request, 1000);
    zsock_set_linger (request, 0);
    zstr_send (request, "STATS");
    char *text = zstr_recv (request);
    zsock_destroy (&request);
    if (!text)
        return -1;
    json_t *stats = json_loads (text, 0, NULL);
    zstr_free (&text);
    json_t *value = stats;
    char *copy = strdup (path), *rest = copy, *part;
    while (value && (part = strsep (&rest, ".")))
        value = json_object_get (value, part);
    long number = json_is_integer (value) ? (long) json_integer_value (value)
                : json_is_boolean (value) ? (long) json_is_true (value) : -1;
    free (copy);
    json_decref (stats);
    return number;
}

long
lu_wait_stat (lu_env_t *env, const char *path, long at_least, int timeout_ms)
{
    int64_t deadline = clock_mono_ms () + timeout_ms;
    long value = lu_stat (env, path);
    while (value < at_least && clock_mono_ms () < deadline) {
        zclock_sleep (20);
        value = lu_stat (env, path);
    }
    return value;
}

zsock_t *
lu_client (lu_env_t *env, const char *certificate)
{
    zcert_t *cert = certificate ? zcert_load (certificate) : zcert_new ();
    cr_assert (cert, "certificate %s loads", certificate);
    zsock_t *client = zsock_new (ZMQ_DEALER);
    zcert_apply (cert, client);
    zcert_destroy (&cert);
    zsock_set_curve_serverkey (client, env->server_key);
    zsock_set_linger (client, 0);
    cr_assert_eq (zsock_connect (client, "%s", env->endpoint), 0);
    return client;
}

void
lu_send (zsock_t *client, const Drift__AgentMessage *message)
{
    size_t size;
    uint8_t *bytes = agent_link_encode (message, &size);
    zmq_send (zsock_resolve (client), bytes, size, 0);
    free (bytes);
}

uint8_t *
lu_update_frame (const char *command_id, uint32_t seq, Drift__CommandState state, size_t *size)
{
    Drift__CommandUpdate update = DRIFT__COMMAND_UPDATE__INIT;
    update.command_id = (char *) command_id;
    update.seq = seq;
    update.state = state;
    Drift__AgentMessage message = DRIFT__AGENT_MESSAGE__INIT;
    message.kind_case = DRIFT__AGENT_MESSAGE__KIND_COMMAND_UPDATE;
    message.command_update = &update;
    return agent_link_encode (&message, size);
}

void
lu_send_update (zsock_t *client, const char *command_id, uint32_t seq, Drift__CommandState state)
{
    size_t size;
    uint8_t *bytes = lu_update_frame (command_id, seq, state, &size);
    zmq_send (zsock_resolve (client), bytes, size, 0);
    free (bytes);
}

Drift__AgentMessage *
lu_recv (zsock_t *client, int timeout_ms)
{
    zmq_pollitem_t item = { zsock_resolve (client), 0, ZMQ_POLLIN, 0 };
    if (zmq_poll (&item, 1, timeout_ms) <= 0)
        return NULL;
    zmq_msg_t frame;
    zmq_msg_init (&frame);
    zmq_msg_recv (&frame, zsock_resolve (client), 0);
    const char *error;
    Drift__AgentMessage *message = agent_link_decode (
        (const uint8_t *) zmq_msg_data (&frame), zmq_msg_size (&frame), &error);
    zmq_msg_close (&frame);
    cr_assert (message, "ingest sent a valid message: %s", error);
    return message;
}

Drift__AgentMessage *
lu_hello (zsock_t *client, int timeout_ms)
{
    Drift__Hello hello = DRIFT__HELLO__INIT;
    hello.protocol = 1;
    hello.agent_version = (char *) "test";
    Drift__AgentMessage message = DRIFT__AGENT_MESSAGE__INIT;
    message.kind_case = DRIFT__AGENT_MESSAGE__KIND_HELLO;
    message.hello = &hello;
    lu_send (client, &message);
    return lu_recv (client, timeout_ms);
}

Drift__AgentMessage *
lu_report (const char *report_id, const char *stack, const char *payload)
{
    Drift__Report *report = (Drift__Report *) calloc (1, sizeof *report);
    drift__report__init (report);
    report->report_id = strdup (report_id);
    report->stack = strdup (stack);
    report->format = DRIFT__REPORT_FORMAT__REPORT_FORMAT_PLAN_JSON;
    report->compression = DRIFT__COMPRESSION__COMPRESSION_NONE;
    report->payload.len = strlen (payload);
    report->payload.data = (uint8_t *) strdup (payload);
    report->uncompressed_size = report->payload.len;
    report->engine = strdup ("terraform");
    report->engine_version = strdup ("1.11.4");
    Drift__AgentMessage *message = (Drift__AgentMessage *) calloc (1, sizeof *message);
    drift__agent_message__init (message);
    message->kind_case = DRIFT__AGENT_MESSAGE__KIND_REPORT;
    message->report = report;
    return message;
}

void
lu_report_free (Drift__AgentMessage *message)
{
    //  Built with the default allocator throughout.
    drift__agent_message__free_unpacked (message, NULL);
}

int
lu_send_until_acked (zsock_t *client, const char *report_id, const char *stack,
                     int timeout_ms, bool *duplicate)
{
    Drift__AgentMessage *report = lu_report (report_id, stack,
                                             "{\"format_version\":\"1.2\"}");
    int64_t deadline = clock_mono_ms () + timeout_ms;
    int acked = 0;
    lu_send (client, report);
    while (!acked && clock_mono_ms () < deadline) {
        Drift__AgentMessage *answer = lu_recv (client, 200);
        if (!answer)
            continue;
        if (answer->kind_case == DRIFT__AGENT_MESSAGE__KIND_ACK
        &&  streq (answer->ack->report_id, report_id)) {
            acked = 1;
            if (duplicate)
                *duplicate = answer->ack->duplicate;
        }
        else
        if (answer->kind_case == DRIFT__AGENT_MESSAGE__KIND_NACK
        &&  streq (answer->nack->report_id, report_id)) {
            cr_assert (answer->nack->code == DRIFT__NACK_CODE__NACK_RATE_LIMITED
                    || answer->nack->code == DRIFT__NACK_CODE__NACK_UNAVAILABLE,
                       "only retryable refusals for %s: %s", report_id, answer->nack->message);
            zclock_sleep ((int) answer->nack->retry_after_ms);
            lu_send (client, report);
        }
        agent_link_free (answer);
    }
    lu_report_free (report);
    return acked;
}

char *
lu_tenant_id (lu_env_t *env, const char *name)
{
    PGconn *conn = PQconnectdb (env->database);
    const char *params [] = { name };
    PGresult *result = PQexecParams (conn, "SELECT id::text FROM tenants WHERE name = $1",
                                     1, NULL, params, NULL, NULL, 0);
    char *id = PQresultStatus (result) == PGRES_TUPLES_OK && PQntuples (result) == 1
             ? strdup (PQgetvalue (result, 0, 0)) : NULL;
    PQclear (result);
    PQfinish (conn);
    cr_assert (id, "tenant %s exists", name);
    return id;
}

Drift__Report *
lu_agent_report (const char *plan, size_t size, const char *stack, uint8_t key_byte)
{
    uint8_t key [REDACT_KEY_BYTES];
    memset (key, key_byte, sizeof key);
    report_options_t options = { .stack = stack, .engine = "terraform", .redact_key = key };
    char *error = NULL;
    Drift__Report *report = report_build (plan, size, &options, &error);
    cr_assert (report, "report_build: %s", error);
    return report;
}

void
lu_spool_reports (const char *directory, const char *prefix, int count)
{
    spool_t *spool = spool_new (directory);
    cr_assert (spool);
    uint8_t key [REDACT_KEY_BYTES] = { 1 };
    report_options_t options = { .stack = "payments", .engine = "terraform", .redact_key = key };
    size_t size;
    char *plan = tu_read_fixture ("scenario-01.plan.json", &size);
    char *error = NULL;
    Drift__Report *report = report_build (plan, size, &options, &error);
    cr_assert (report, "%s", error);
    for (int i = 0; i < count; i++) {
        //  Ids that sort in creation order and differ within one second.
        free (report->report_id);
        report->report_id = zsys_sprintf ("%s-%06d", prefix, i);
        size_t packed_size = drift__report__get_packed_size (report);
        uint8_t *packed = (uint8_t *) malloc (packed_size);
        drift__report__pack (report, packed);
        cr_assert_eq (spool_put (spool, report->report_id, packed, packed_size), 0);
        free (packed);
    }
    drift__report__free_unpacked (report, NULL);
    free (plan);
    spool_destroy (&spool);
}
