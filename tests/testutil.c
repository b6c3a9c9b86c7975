/*  testutil: helpers shared by the tests; see testutil.h. */
#include "testutil.h"
#include "../lib/clock.h"
#include "../lib/link.h"
#include "../lib/rolekeys.h"
#include "../lib/zap.h"

#include <criterion/criterion.h>
#include <fcntl.h>
#include <jansson.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

//  --------------------------------------------------------------------------
//  Broker CURVE, as production runs it, for every test

//  Every role and stage name the tests run: the test process's one key
//  holds them all, as a host's key would for the roles it runs.
#define TU_TEST_ROLES "ingest,replayer,operator,normalize,score,archive,notify," \
                      "sink,only,first,second,last"

static char s_curve_dir [512];       // this process's keys ("" until made)
static char s_curve_cert [600];      // the broker's keypair
static char s_curve_roles [600];     // the broker's allowed role keys
static char s_curve_client [600];    // the test process's role keypair
static zactor_t *s_zap;              // the ZAP handler for in-process brokers

static void
s_zap_stop (void)
{
    zactor_destroy (&s_zap);
}

const char *
tu_curve_dir (void)
{
    if (s_curve_dir [0])
        return s_curve_dir;
    const char *var = getenv ("DRIFT_TEST_VAR_DIR");
    snprintf (s_curve_dir, sizeof s_curve_dir, "%s/curve-%d", var ? var : "/tmp", (int) getpid ());
    char *roles = zsys_sprintf ("%s/roles", s_curve_dir);
    char *allowed = zsys_sprintf ("%s/broker-roles", s_curve_dir);
    cr_assert (zsys_dir_create ("%s", roles) == 0 && zsys_dir_create ("%s", allowed) == 0);
    char error [512];
    cr_assert (rolekeys_make (s_curve_dir, NULL, "broker", NULL, error, sizeof error) >= 0,
               "%s", error);
    cr_assert (rolekeys_make (roles, allowed, "test", TU_TEST_ROLES, error, sizeof error) >= 0,
               "%s", error);
    snprintf (s_curve_cert, sizeof s_curve_cert, "%s/broker.key", s_curve_dir);
    snprintf (s_curve_roles, sizeof s_curve_roles, "%s", allowed);
    snprintf (s_curve_client, sizeof s_curve_client, "%s/test.key", roles);
    //  In this process: every broker link is a CURVE client.
    cr_assert (link_curve_set (s_curve_client, s_curve_cert, error, sizeof error) == 0,
               "%s", error);
    //  In every `drift` it starts: brokers serve CURVE, roles are clients.
    setenv ("DRIFT_CURVE_CERT", s_curve_cert, 1);
    setenv ("DRIFT_CURVE_ROLES", s_curve_roles, 1);
    setenv ("DRIFT_BROKER_CERT", s_curve_client, 1);
    setenv ("DRIFT_BROKER_KEY", s_curve_cert, 1);
    zstr_free (&roles);
    zstr_free (&allowed);
    return s_curve_dir;
}

long
tu_zap_stat (const char *field)
{
    cr_assert (s_zap, "the ZAP handler runs once a broker was started");
    zstr_send (s_zap, "STATS");
    char *text = zstr_recv (s_zap);
    json_t *root = json_loads (text, 0, NULL);
    zstr_free (&text);
    json_t *value = json_object_get (root, field);
    cr_assert (value, "no ZAP stat %s", field);
    long result = (long) json_integer_value (value);
    json_decref (root);
    return result;
}

broker_config_t
tu_broker_config (const char *pipeline)
{
    tu_curve_dir ();
    broker_config_t config = {
        .pipeline = pipeline,
        .capacity = 1000,
        .heartbeat_ms = 100,
        .liveness = 3,
        .producer_window = 64,
        .max_body = 65536,
        .drain_ms = 5000,
        .curve_cert = s_curve_cert,
        .role_keys = s_curve_roles
    };
    return config;
}

zactor_t *
tu_broker_start (broker_config_t *config, char *endpoint)
{
    if (config->curve_cert && *config->curve_cert && !s_zap) {
        //  The handler reads its settings for as long as it runs.
        static zap_config_t zap_config;
        zap_config = (zap_config_t) { .role_keys = s_curve_roles };
        s_zap = zactor_new (zap_actor, &zap_config);
        atexit (s_zap_stop);    //  before CZMQ's own exit handler, which waits for sockets
    }
    zactor_t *broker = zactor_new (broker_actor, config);
    cr_assert (broker);
    int port = broker_bind (broker, "tcp://127.0.0.1:*");
    cr_assert (port > 0);
    sprintf (endpoint, "tcp://127.0.0.1:%d", port);
    return broker;
}

static long
s_stat_from_json (char *text, const char *stage, const char *field)
{
    json_t *root = json_loads (text, 0, NULL);
    free (text);
    cr_assert (root);
    json_t *value = NULL;
    if (!stage)
        value = json_object_get (root, field);
    else
    if (streq (stage, "errors"))
        value = json_object_get (json_object_get (root, "errors"), field);
    else {
        size_t index;
        json_t *entry;
        json_array_foreach (json_object_get (root, "stages"), index, entry)
            if (streq (json_string_value (json_object_get (entry, "name")), stage))
                value = json_object_get (entry, field);
    }
    cr_assert (value, "no stat %s.%s", stage ? stage : "", field);
    long result = (long) json_integer_value (value);
    json_decref (root);
    return result;
}

long
tu_stat (zactor_t *broker, const char *stage, const char *field)
{
    return s_stat_from_json (broker_stats (broker), stage, field);
}

long
tu_remote_stat (const char *endpoint, const char *stage, const char *field)
{
    zsock_t *raw = tu_raw_connect (endpoint);
    drp_header_t request = { .command = DRP_STATS };
    tu_raw_send (raw, &request, NULL, 0);
    drp_header_t reply;
    zchunk_t *body = NULL;
    long result = -1;
    if (tu_raw_recv (raw, &reply, &body, 1000) == 0 && reply.command == DRP_STATS && body) {
        char *text = strndup ((const char *) zchunk_data (body), zchunk_size (body));
        result = s_stat_from_json (text, stage, field);
    }
    zchunk_destroy (&body);
    zsock_destroy (&raw);
    return result;
}

long
tu_wait_stat (zactor_t *broker, const char *stage, const char *field, long expected,
              int timeout_ms)
{
    int64_t deadline = clock_mono_ms () + timeout_ms;
    long value = tu_stat (broker, stage, field);
    while (value != expected && clock_mono_ms () < deadline) {
        zclock_sleep (10);
        value = tu_stat (broker, stage, field);
    }
    return value;
}

zsock_t *
tu_raw_connect (const char *endpoint)
{
    tu_curve_dir ();
    zsock_t *raw = zsock_new (ZMQ_DEALER);
    zsock_set_linger (raw, 0);
    link_curve_apply (raw);
    cr_assert (zsock_connect (raw, "%s", endpoint) == 0);
    return raw;
}

void
tu_raw_send (zsock_t *raw, drp_header_t *header, const void *body, size_t size)
{
    int rc = body ? drp_send_bytes (zsock_resolve (raw), NULL, header, body, size, 0)
                  : drp_send (zsock_resolve (raw), NULL, header, NULL, 0);
    cr_assert (rc == 0);
}

int
tu_raw_recv (zsock_t *raw, drp_header_t *header, zchunk_t **body, int timeout_ms)
{
    int64_t deadline = clock_mono_ms () + timeout_ms;
    while (true) {
        int64_t left = deadline - clock_mono_ms ();
        zmq_pollitem_t item = { zsock_resolve (raw), 0, ZMQ_POLLIN, 0 };
        if (left <= 0 || zmq_poll (&item, 1, left) <= 0)
            return -1;
        zmq_msg_t frames [1 + DRP_BATCH_MAX];
        int count = drp_recv_frames (zsock_resolve (raw), frames, 1 + DRP_BATCH_MAX, 0);
        const char *reason;
        cr_assert (count >= 1);
        cr_assert (drp_decode ((const uint8_t *) zmq_msg_data (&frames [0]),
                               zmq_msg_size (&frames [0]), header, &reason) == 0);
        if (body)
            *body = count >= 2 ? zchunk_new (zmq_msg_data (&frames [1]),
                                             zmq_msg_size (&frames [1])) : NULL;
        drp_close_frames (frames, count, 1 + DRP_BATCH_MAX);
        if (header->command != DRP_HEARTBEAT)
            return 0;
        if (body)
            zchunk_destroy (body);
    }
}

void
tu_raw_ready (zsock_t *raw, const char *stage, uint32_t credit)
{
    drp_header_t ready = { .command = DRP_READY, .count = credit };
    strcpy (ready.name, stage);
    strcpy (ready.instance, "raw-test-worker");
    tu_raw_send (raw, &ready, NULL, 0);
}

//  Whose envelopes tu_envelope makes (tu_envelope_owner).
static char s_owner_tenant [64] = "tenant-test";
static char s_owner_key [64] = "";

void
tu_envelope_owner (const char *tenant, const char *agent_key)
{
    snprintf (s_owner_tenant, sizeof s_owner_tenant, "%s", tenant);
    snprintf (s_owner_key, sizeof s_owner_key, "%s", agent_key);
}

uint8_t *
tu_envelope (const char *report_id, size_t body_size, size_t *size)
{
    Drift__Envelope envelope = DRIFT__ENVELOPE__INIT;
    envelope.tenant = s_owner_tenant;
    envelope.agent_key = s_owner_key;
    envelope.stack = (char *) "payments";
    envelope.report_id = (char *) report_id;
    envelope.attempt = 1;
    uint8_t *raw = (uint8_t *) malloc (body_size + 1);
    memset (raw, 'x', body_size);
    envelope.body_case = DRIFT__ENVELOPE__BODY_RAW;
    envelope.raw.data = raw;
    envelope.raw.len = body_size;
    *size = drift__envelope__get_packed_size (&envelope);
    uint8_t *packed = (uint8_t *) malloc (*size);
    drift__envelope__pack (&envelope, packed);
    free (raw);
    return packed;
}

void
tu_die_with_parent (pid_t parent)
{
    //  PR_SET_PDEATHSIG fires when the forking thread ends; tests fork from
    //  the test's own (main) thread. The check after it closes the race
    //  with a parent that died before the call.
    if (prctl (PR_SET_PDEATHSIG, SIGKILL) || getppid () != parent)
        _exit (127);
}

pid_t
tu_spawn (const char *log_path, ...)
{
    const char *drift = getenv ("DRIFT_BIN");
    cr_assert (drift, "DRIFT_BIN must name the drift executable");
    tu_curve_dir ();
    char *argv [32] = { (char *) drift };
    int argc = 1;
    va_list args;
    va_start (args, log_path);
    char *arg;
    while ((arg = va_arg (args, char *)) && argc < 31)
        argv [argc++] = arg;
    va_end (args);
    argv [argc] = NULL;
    return tu_spawn_argv (log_path, argv);
}

pid_t
tu_spawn_argv (const char *log_path, char *const *argv)
{
    pid_t parent = getpid ();
    pid_t pid = fork ();
    cr_assert (pid >= 0);
    if (pid == 0) {
        tu_die_with_parent (parent);
        int fd = open (log_path ? log_path : "/dev/null", O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
            dup2 (fd, 1);
            dup2 (fd, 2);
            close (fd);
        }
        execv (argv [0], argv);
        _exit (127);
    }
    return pid;
}

char *
tu_drift_output (int *code, const char *stdin_path, bool with_stderr, const char *first,
                 va_list args)
{
    const char *bin = getenv ("DRIFT_BIN");
    cr_assert (bin, "DRIFT_BIN is not set");
    char out_path [] = "/tmp/drift-output-XXXXXX";
    int out = mkstemp (out_path);
    cr_assert (out >= 0);
    char *argv [32] = { (char *) bin, (char *) first };
    int argc = first ? 2 : 1;
    for (const char *arg = va_arg (args, const char *); arg && argc < 31;
         arg = va_arg (args, const char *))
        argv [argc++] = (char *) arg;
    pid_t pid = fork ();
    cr_assert (pid >= 0);
    if (pid == 0) {
        int in = open (stdin_path ? stdin_path : "/dev/null", O_RDONLY);
        dup2 (in, 0);
        dup2 (out, 1);
        if (with_stderr)
            dup2 (out, 2);
        execv (bin, argv);
        _exit (127);
    }
    int status;
    waitpid (pid, &status, 0);
    *code = WIFEXITED (status) ? WEXITSTATUS (status) : -1;
    off_t size = lseek (out, 0, SEEK_END);
    char *text = (char *) calloc (1, (size_t) size + 1);
    cr_assert_eq (pread (out, text, (size_t) size, 0), size);
    close (out);
    unlink (out_path);
    return text;
}

void
tu_stop (pid_t pid, int signal_number)
{
    kill (pid, signal_number);
    int status;
    for (int i = 0; i < 500; i++) {
        if (waitpid (pid, &status, WNOHANG) == pid)
            return;
        zclock_sleep (10);
    }
    kill (pid, SIGKILL);
    waitpid (pid, &status, 0);
}

//  scripts/lib/free_port.py chooses, below the kernel's ephemeral range, so
//  none of the test's own outgoing connections can take the port before its
//  server binds it; its shared counter keeps ports chosen together distinct.
int
tu_free_port (void)
{
    char *command = zsys_sprintf ("/usr/bin/python3 %s/scripts/lib/free_port.py",
                                  getenv ("DRIFT_SOURCE_DIR"));
    FILE *helper = popen (command, "r");
    zstr_free (&command);
    cr_assert (helper, "scripts/lib/free_port.py runs");
    int port = 0;
    int fields = fscanf (helper, "%d", &port);
    int status = pclose (helper);
    cr_assert (fields == 1 && status == 0 && port > 0 && port < 65536,
               "scripts/lib/free_port.py gave a port");
    return port;
}

//  The server URL with its database part replaced by name.
static char *
s_database_url (const char *server, const char *name)
{
    const char *slash = strrchr (server, '/');
    cr_assert (slash && slash > strstr (server, "//") + 1, "no database in URL %s", server);
    const char *query = strchr (slash, '?');
    char *url = (char *) malloc (strlen (server) + strlen (name) + 2);
    sprintf (url, "%.*s/%s%s", (int) (slash - server), server, name, query ? query : "");
    return url;
}

static const char *
s_server (void)
{
    const char *server = getenv ("DRIFT_TEST_PGMQ_URL");
    if (!server || !*server)
        server = getenv ("DRIFT_TEST_PG_URL");
    cr_assert (server, "DRIFT_TEST_PG_URL is not set: run the tests through scripts/test");
    return server;
}

static void
s_admin (const char *sql)
{
    PGconn *conn = PQconnectdb (s_server ());
    cr_assert (PQstatus (conn) == CONNECTION_OK, "test server: %s", PQerrorMessage (conn));
    PGresult *result = PQexec (conn, sql);
    cr_assert (PQresultStatus (result) == PGRES_COMMAND_OK, "%s: %s", sql,
               PQresultErrorMessage (result));
    PQclear (result);
    PQfinish (conn);
}

char *
tu_fresh_database (void)
{
    static int counter;
    char name [64], sql [128];
    snprintf (name, sizeof name, "drift_test_%d_%d", (int) getpid (), ++counter);
    snprintf (sql, sizeof sql, "CREATE DATABASE %s", name);
    s_admin (sql);
    return s_database_url (s_server (), name);
}

void
tu_drop_database (char *url)
{
    const char *name = strrchr (url, '/') + 1;
    char sql [160];
    snprintf (sql, sizeof sql, "DROP DATABASE IF EXISTS %.*s WITH (FORCE)",
              (int) strcspn (name, "?"), name);
    s_admin (sql);
    free (url);
}

long
tu_query_long (const char *url, const char *sql)
{
    PGconn *conn = PQconnectdb (url);
    PGresult *result = PQexec (conn, sql);
    long value = PQresultStatus (result) == PGRES_TUPLES_OK && PQntuples (result) > 0
               ? atol (PQgetvalue (result, 0, 0)) : -1;
    PQclear (result);
    PQfinish (conn);
    return value;
}

long
tu_wait_query (const char *url, const char *sql, long expected, int timeout_ms)
{
    int64_t deadline = clock_mono_ms () + timeout_ms;
    long value = tu_query_long (url, sql);
    while (value != expected && clock_mono_ms () < deadline) {
        zclock_sleep (20);
        value = tu_query_long (url, sql);
    }
    return value;
}

void
tu_scratch_dir (const char *name, char *dir, size_t size)
{
    const char *var = getenv ("DRIFT_TEST_VAR_DIR");
    cr_assert ((size_t) snprintf (dir, size, "%s/drift-test-%s-XXXXXX",
                                  var && *var ? var : "/tmp", name) < size);
    cr_assert (mkdtemp (dir), "cannot make %s: %s", dir, strerror (errno));
}

void
tu_remove_tree (const char *dir)
{
    char command [1200];
    cr_assert ((size_t) snprintf (command, sizeof command, "rm -rf '%s'", dir)
               < sizeof command);
    cr_assert_eq (system (command), 0, "%s", command);
}

char *
tu_read_file (const char *path, size_t *size)
{
    FILE *file = fopen (path, "rb");
    if (!file)
        return NULL;
    fseek (file, 0, SEEK_END);
    long length = ftell (file);
    rewind (file);
    char *data = (char *) malloc ((size_t) length + 1);
    size_t got = fread (data, 1, (size_t) length, file);
    fclose (file);
    data [got] = 0;
    if (size)
        *size = got;
    return data;
}

char *
tu_fixture_path (const char *name)
{
    const char *source = getenv ("DRIFT_SOURCE_DIR");
    cr_assert (source, "DRIFT_SOURCE_DIR is not set");
    return zsys_sprintf ("%s/tests/fixtures/terraform/%s", source, name);
}

char *
tu_read_fixture (const char *name, size_t *size)
{
    char *path = tu_fixture_path (name);
    char *text = tu_read_file (path, size);
    cr_assert (text, "cannot read %s", path);
    free (path);
    return text;
}

json_t *
tu_read_fixture_json (const char *name)
{
    size_t size;
    char *text = tu_read_fixture (name, &size);
    json_error_t error;
    json_t *json = json_loadb (text, size, 0, &error);
    cr_assert (json, "%s: %s", name, error.text);
    free (text);
    return json;
}

json_t *
tu_notice_plan (const char *message)
{
    const char *text = message ? strchr (message, '{') : NULL;
    return text ? json_loads (text, JSON_DISABLE_EOF_CHECK, NULL) : NULL;
}

double
tu_plan_rows (json_t *node, const char *relation)
{
    double loops = json_number_value (json_object_get (node, "Actual Loops"));
    double rows = loops * json_number_value (json_object_get (node,
                                                              "Rows Removed by Join Filter"));
    const char *name = json_string_value (json_object_get (node, "Relation Name"));
    if (name && strcmp (name, relation) == 0)
        rows += loops * (json_number_value (json_object_get (node, "Actual Rows"))
                       + json_number_value (json_object_get (node, "Rows Removed by Filter")));
    size_t index;
    json_t *child;
    json_array_foreach (json_object_get (node, "Plans"), index, child)
        rows += tu_plan_rows (child, relation);
    return rows;
}

//  --------------------------------------------------------------------------
//  The archive's setting-up

const char *
tu_archive_env (void)
{
    static char root [512];
    if (*root)
        return root;
    const char *var = getenv ("DRIFT_TEST_VAR_DIR");
    cr_assert (var && *var, "DRIFT_TEST_VAR_DIR is not set: run the tests through scripts/test");
    char key [512];
    snprintf (root, sizeof root, "%s/archive-%d", var, (int) getpid ());
    snprintf (key, sizeof key, "%s/archive-%d.key", var, (int) getpid ());
    int fd = open (key, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    cr_assert (fd >= 0, "cannot write %s", key);
    uint8_t bytes [32];
    for (size_t i = 0; i < sizeof bytes; i++)
        bytes [i] = (uint8_t) (random () & 0xff);
    cr_assert_eq (write (fd, bytes, sizeof bytes), (ssize_t) sizeof bytes);
    close (fd);
    setenv ("DRIFT_SEAL_KEY", key, 1);
    setenv ("DRIFT_STORE_ROOT", root, 1);
    return root;
}

void
tu_tenant_agent (const char *url, const char *name, char *tenant_id, char *agent_key)
{
    //  40 characters of the Z85 alphabet, different for every call.
    static int counter;
    snprintf (agent_key, 41, "%08u%08u%024u", (unsigned) getpid () % 100000000u,
              (unsigned) ++counter % 100000000u, 0u);
    for (size_t i = 0; i < 8 && name [i]; i++)
        agent_key [16 + i] = name [i] == '_' ? '-' : name [i];
    PGconn *conn = PQconnectdb (url);
    cr_assert (PQstatus (conn) == CONNECTION_OK, "%s", PQerrorMessage (conn));
    const char *params [] = { name, agent_key };
    PGresult *result = PQexecParams (conn,
        "WITH t AS (INSERT INTO tenants (name) VALUES ($1) RETURNING id) "
        "INSERT INTO agents (tenant_id, name, public_key) SELECT id, 'agent-1', $2 FROM t "
        "RETURNING tenant_id", 2, NULL, params, NULL, NULL, 0);
    cr_assert (PQresultStatus (result) == PGRES_TUPLES_OK && PQntuples (result) == 1,
               "tenant %s: %s", name, PQresultErrorMessage (result));
    snprintf (tenant_id, 37, "%s", PQgetvalue (result, 0, 0));
    PQclear (result);
    PQfinish (conn);
}

char *
tu_app_url (const char *url)
{
    static char role [64];
    if (!*role) {
        snprintf (role, sizeof role, "drift_test_app_%d", (int) getpid ());
        char sql [160];
        snprintf (sql, sizeof sql, "CREATE ROLE %s LOGIN IN ROLE drift_app", role);
        s_admin (sql);
    }
    const char *at = strchr (strstr (url, "://") + 3, '@');
    cr_assert (at, "no user in %s", url);
    char *app = (char *) malloc (strlen (role) + strlen (at) + 16);
    sprintf (app, "postgresql://%s%s", role, at);
    return app;
}
