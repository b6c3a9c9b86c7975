/*  drift-agent against a live ingest: the real agent executable with real
    Terraform fixtures. Secrets never reach the spool or the wire; reports
    survive an absent server and a SIGKILLed agent and arrive exactly once;
    a report goes from `drift-agent send` through the whole pipeline. A
    command's record is forgotten only once it finished, every update of
    it was acked and it is older than the limit.
*/
#include "linkutil.h"
#include "../agent/commands.h"
#include "../agent/link_https.h"
#include "../agent/report.h"
#include "../agent/spool.h"
#include "../lib/agent_link.h"
#include "../lib/clock.h"

#include <criterion/criterion.h>
#include <fcntl.h>
#include <libpq-fe.h>
#include <sodium.h>
#include <signal.h>
#include <sys/wait.h>

static lu_env_t s_env;
static char s_spool [400];
static char *s_certificate;
static pid_t s_pipeline [5];     // broker and stages a test started, stopped at teardown

static void
s_setup (void)
{
    lu_setup (&s_env);
    snprintf (s_spool, sizeof s_spool, "%s/spool", s_env.directory);
    s_certificate = lu_issue (&s_env, "acme", "builder");
}

static void
s_teardown (void)
{
    //  Also when a test failed half way: no stage outlives its test.
    for (int i = 4; i >= 0; i--)
        if (s_pipeline [i]) {
            tu_stop (s_pipeline [i], SIGTERM);
            s_pipeline [i] = 0;
        }
    free (s_certificate);
    lu_teardown (&s_env);
}

TestSuite (agent, .init = s_setup, .fini = s_teardown, .timeout = 240);

static const char *s_scenarios [] = {
    "scenario-00", "scenario-01", "scenario-02", "scenario-04", "scenario-05", "scenario-08",
    "scenario-10"
};
#define SCENARIOS ((int) (sizeof s_scenarios / sizeof s_scenarios [0]))

//  Secrets the fixtures hold in clear (marked sensitive in the plans).
static const char *s_secrets [] = { "sk_live_initial_value_0001", "correct-horse-battery-staple" };

static char *
s_fixture (const char *name)
{
    char *file = zsys_sprintf ("%s.plan.json", name);
    char *path = tu_fixture_path (file);
    zstr_free (&file);
    return path;
}

//  Start drift-agent with the link options and args (NULL-terminated).
static pid_t
s_agent_start (const char *command, ...)
{
    const char *agent = getenv ("DRIFT_AGENT_BIN");
    cr_assert (agent, "DRIFT_AGENT_BIN names drift-agent");
    char *argv [40] = {
        (char *) agent, (char *) command, "--endpoint", s_env.endpoint,
        "--server-key", s_env.server_key, "--certificate", s_certificate,
        "--spool", s_spool, "--ack-timeout-ms", "2000", "--backoff-max-ms", "1000",
        "--log-level", "warn"
    };
    int argc = 16;
    va_list args;
    va_start (args, command);
    char *arg;
    while ((arg = va_arg (args, char *)) && argc < 39)
        argv [argc++] = arg;
    va_end (args);
    argv [argc] = NULL;
    char *log = zsys_sprintf ("%s/agent.log", s_env.directory);
    pid_t parent = getpid ();
    pid_t pid = fork ();
    if (pid == 0) {
        tu_die_with_parent (parent);
        int fd = open (log, O_WRONLY | O_CREAT | O_APPEND, 0644);
        dup2 (fd, 1);
        dup2 (fd, 2);
        execv (agent, argv);
        _exit (127);
    }
    zstr_free (&log);
    return pid;
}

static int
s_wait_exit (pid_t pid)
{
    int status;
    waitpid (pid, &status, 0);
    return WIFEXITED (status) ? WEXITSTATUS (status) : 128;
}

static size_t
s_spool_depth (void)
{
    spool_t *spool = spool_new (s_spool);
    size_t depth = spool_depth (spool);
    spool_destroy (&spool);
    return depth;
}

static void
s_assert_no_secret (const char *text, const char *where)
{
    for (size_t i = 0; i < sizeof s_secrets / sizeof s_secrets [0]; i++)
        cr_assert_null (strstr (text, s_secrets [i]), "%s holds the secret %s", where, s_secrets [i]);
}

//  A spooled or journaled report's document, decompressed.
static char *
s_document (const uint8_t *packed, size_t size)
{
    Drift__Report *report = drift__report__unpack (NULL, size, packed);
    cr_assert (report, "a Report");
    size_t length;
    char *text = report_payload (report, &length);
    cr_assert (text, "the payload decompresses to its declared size");
    drift__report__free_unpacked (report, NULL);
    return text;
}

Test (agent, no_sensitive_value_reaches_the_spool_or_the_wire)
{
    //  Server away: every send fails (exit 3) and leaves its report spooled.
    for (int i = 0; i < SCENARIOS; i++) {
        char *fixture = s_fixture (s_scenarios [i]);
        pid_t pid = s_agent_start ("send", "--stack", s_scenarios [i], "--timeout-s", "1",
                                   fixture, NULL);
        cr_assert_eq (s_wait_exit (pid), 3, "%s: not delivered, kept", s_scenarios [i]);
        zstr_free (&fixture);
    }
    spool_t *spool = spool_new (s_spool);
    zlistx_t *ids = spool_list (spool);
    cr_assert_eq (zlistx_size (ids), SCENARIOS);
    char *first_marker = NULL;
    for (char *id = (char *) zlistx_first (ids); id; id = (char *) zlistx_next (ids)) {
        size_t size;
        uint8_t *bytes = spool_get (spool, id, &size);
        //  Compressed bytes too: a secret must not survive in either form.
        char *raw = (char *) malloc (size + 1);
        memcpy (raw, bytes, size);
        raw [size] = 0;
        for (size_t at = 0; at < size; at++)
            if (!raw [at])
                raw [at] = ' ';
        s_assert_no_secret (raw, "spooled bytes");
        char *document = s_document (bytes, size);
        s_assert_no_secret (document, "spooled report");
        cr_assert (strstr (document, "(sensitive:"), "secrets are replaced by markers");
        //  The same secret (the api_key parameter) hashes the same in every report.
        const char *marker = strstr (document, "(sensitive:");
        if (!first_marker)
            first_marker = strndup (marker, 44);
        free (raw);
        free (document);
        free (bytes);
    }
    zlistx_destroy (&ids);
    spool_destroy (&spool);

    //  Server back: the daemon (no stacks, so it only flushes) sends them all.
    lu_ingest_start (&s_env, NULL);
    pid_t daemon = s_agent_start ("run", "--stacks", "", NULL);
    int64_t deadline = clock_mono_ms () + 30000;
    while (s_spool_depth () && clock_mono_ms () < deadline)
        zclock_sleep (50);
    tu_stop (daemon, SIGTERM);
    cr_assert_eq (s_spool_depth (), 0, "every spooled report was acked");

    PGconn *conn = PQconnectdb (s_env.database);
    PGresult *result = PQexec (conn, "SELECT message->>'raw' FROM pgmq.q_drift_journal");
    cr_assert_eq (PQntuples (result), SCENARIOS);
    for (int row = 0; row < PQntuples (result); row++) {
        const char *base64 = PQgetvalue (result, row, 0);
        size_t length = strlen (base64);
        uint8_t *packed = (uint8_t *) malloc (length);
        size_t size;
        cr_assert_eq (sodium_base642bin (packed, length, base64, length, NULL, &size, NULL,
                                         sodium_base64_VARIANT_ORIGINAL), 0);
        char *document = s_document (packed, size);
        s_assert_no_secret (document, "journaled report");
        cr_assert (strstr (document, first_marker), "one secret, one marker, every report");
        free (document);
        free (packed);
    }
    PQclear (result);
    PQfinish (conn);
    free (first_marker);
}

Test (agent, reports_survive_an_absent_server_and_a_killed_agent_and_arrive_once)
{
    //  Reports pile up while the server is away: 300 spooled, and the
    //  daemon checks a stack (the stand-in replays a fixture) and keeps
    //  trying to send until it is SIGKILLed.
    lu_spool_reports (s_spool, "r", 300);
    const char *source = getenv ("DRIFT_SOURCE_DIR");
    char *engine = zsys_sprintf ("%s/tests/fixtures/fake-terraform", source);
    char *scenario = zsys_sprintf ("%s/tests/fixtures/terraform/scenario-04", source);
    setenv ("FAKE_TF_SCENARIO", scenario, 1);
    char *stacks = zsys_sprintf ("web=%s", s_env.directory);
    pid_t daemon = s_agent_start ("run", "--stacks", stacks, "--engine", engine,
                                  "--interval-s", "1", NULL);
    int64_t deadline = clock_mono_ms () + 20000;
    while (s_spool_depth () < 302 && clock_mono_ms () < deadline)
        zclock_sleep (50);
    tu_stop (daemon, SIGKILL);
    size_t produced = s_spool_depth ();
    cr_assert_geq (produced, 302, "the daemon kept producing while the server was away");

    //  The server comes back with a tight rate limit, so the flush takes a
    //  while; the agent is SIGKILLed in the middle of it and restarted.
    lu_ingest_start (&s_env, "--rate", "100", "--burst", "20", NULL);
    daemon = s_agent_start ("run", "--stacks", "", "--window", "8", NULL);
    deadline = clock_mono_ms () + 30000;
    while (s_spool_depth () > produced - 60 && clock_mono_ms () < deadline)
        zclock_sleep (10);
    tu_stop (daemon, SIGKILL);
    size_t left = s_spool_depth ();
    cr_assert (left > 0 && left < produced, "killed mid-flush (%zu of %zu left)", left, produced);

    daemon = s_agent_start ("run", "--stacks", "", "--window", "8", NULL);
    deadline = clock_mono_ms () + 60000;
    while (s_spool_depth () && clock_mono_ms () < deadline)
        zclock_sleep (50);
    tu_stop (daemon, SIGTERM);
    cr_assert_eq (s_spool_depth (), 0);

    long rows = tu_query_long (s_env.database, "SELECT count(*) FROM pgmq.q_drift_journal");
    long distinct = tu_query_long (s_env.database,
        "SELECT count(DISTINCT message->>'report_id') FROM pgmq.q_drift_journal");
    cr_assert_eq (rows, (long) produced, "every report arrived");
    cr_assert_eq (distinct, rows, "and only once");
    cr_log_info ("store and forward: %zu reports, %ld resends acked as duplicates, %ld rate limited",
                 produced, lu_stat (&s_env, "duplicates"), lu_stat (&s_env, "nacks.rate_limited"));
    zstr_free (&engine);
    zstr_free (&scenario);
    zstr_free (&stacks);
}

Test (agent, send_says_sent_refused_or_failed_by_its_exit_code)
{
    char *fixture = s_fixture ("scenario-01");
    lu_ingest_start (&s_env, NULL);
    pid_t pid = s_agent_start ("send", "--stack", "payments", fixture, NULL);
    cr_assert_eq (s_wait_exit (pid), 0, "sent");

    //  Not a plan: refused locally, exit 2, nothing spooled.
    char *junk = zsys_sprintf ("%s/junk.txt", s_env.directory);
    FILE *file = fopen (junk, "w");
    fputs ("this is not terraform output\n", file);
    fclose (file);
    pid = s_agent_start ("send", "--stack", "payments", junk, NULL);
    cr_assert_eq (s_wait_exit (pid), 2);
    cr_assert_eq (s_spool_depth (), 0);

    //  A revoked key: the handshake is refused, exit 1.
    cr_assert_eq (lu_drift (&s_env, "keys", "revoke", "--tenant", "acme", "--name", "builder",
                            "--database", s_env.database, "--redis",
                            getenv ("DRIFT_TEST_REDIS_URL"), NULL), 0);
    zclock_sleep (1500);
    pid = s_agent_start ("send", "--stack", "payments", "--timeout-s", "10", fixture, NULL);
    cr_assert_eq (s_wait_exit (pid), 1, "refused");

    //  status shows what is left and the last ACK.
    char *out = zsys_sprintf ("%s/status.txt", s_env.directory);
    const char *agent = getenv ("DRIFT_AGENT_BIN");
    char *command = zsys_sprintf ("%s status --spool %s > %s", agent, s_spool, out);
    cr_assert_eq (system (command), 0);
    char *status = tu_read_file (out, NULL);
    cr_assert (strstr (status, "spool depth  1"), "%s", status);
    cr_assert (strstr (status, "state        refused"), "%s", status);
    cr_assert (strstr (status, "last ack     2"), "the first send's ACK: %s", status);
    free (status);
    zstr_free (&command);
    zstr_free (&out);
    zstr_free (&junk);
    zstr_free (&fixture);
}

Test (agent, a_fixture_goes_from_drift_agent_send_through_every_stage)
{
    char *log = zsys_sprintf ("%s/pipeline.log", s_env.directory);
    s_pipeline [0] = tu_spawn (log, "broker", "--bind", s_env.broker, "--log-level", "warn", NULL);
    const char *stages [] = { "normalize", "score", "archive", "notify" };
    tu_archive_env ();
    char *app = tu_app_url (s_env.database);
    for (int i = 0; i < 4; i++)
        s_pipeline [i + 1] = tu_spawn (log, stages [i], "--broker", s_env.broker, "--database",
                                       app, "--log-level", "warn", NULL);
    lu_ingest_start (&s_env, NULL);
    //  Ingest feeds the pipeline once a broker granted it credit; before
    //  that a report would wait for the replayer (none runs here).
    cr_assert_gt (lu_wait_stat (&s_env, "broker_credit", 1, 10000), 0);
    char *fixture = s_fixture ("scenario-02");
    pid_t pid = s_agent_start ("send", "--stack", "payments", fixture, NULL);
    cr_assert_eq (s_wait_exit (pid), 0);
    //  The last stage acks the journal: the entry moves to the archive.
    cr_assert_eq (tu_wait_query (s_env.database,
        "SELECT count(*) FROM pgmq.a_drift_journal WHERE message->>'stack' = 'payments'",
        1, 20000), 1, "the report finished the pipeline");
    cr_assert_eq (tu_query_long (s_env.database, "SELECT count(*) FROM pgmq.q_drift_journal"), 0);
    cr_assert_eq (lu_stat (&s_env, "submitted"), 1, "fed to the pipeline by ingest, not the replayer");
    //  Archived: the report, its three drifted resources, the sealed original.
    cr_assert_eq (tu_query_long (s_env.database,
        "SELECT count (*) FROM reports r JOIN stacks s USING (tenant_id) "
        "WHERE s.id = r.stack_id AND s.name = 'payments' AND r.status = 'ok' "
        "AND r.severity >= 4 AND r.object_key IS NOT NULL"), 1);
    cr_assert_eq (tu_query_long (s_env.database,
        "SELECT count (*) FROM drift_items WHERE resolved_at IS NULL"), 3);
    free (app);
    //  Stages first, then the broker (teardown stops them in that order).
    for (int i = 4; i >= 0; i--) {
        tu_stop (s_pipeline [i], SIGTERM);
        s_pipeline [i] = 0;
    }
    zstr_free (&fixture);
    zstr_free (&log);
}

/*  The HTTPS link's answers (proto/AGENT-LINK.md §6): each status, with the
    body ingest's face sends or none (Caddy's or a proxy's own pages), maps
    to the answer the uplink settles a report by, as over CURVE.
*/
#define S_ID "20261206T000000Z-00000000000000aa"

//  ingest's Ack for id (duplicate set) as the face sends it, encoded here
//  by hand (AgentMessage field 4 holding Ack's fields 1 and 2), so the
//  decoding is checked against the wire format rather than our encoder.
static uint8_t *
s_ack_body (const char *id, size_t *size)
{
    size_t length = strlen (id);
    uint8_t *body = (uint8_t *) malloc (length + 6);
    body [0] = (4 << 3) | 2;
    body [1] = (uint8_t) (length + 4);
    body [2] = (1 << 3) | 2;
    body [3] = (uint8_t) length;
    memcpy (body + 4, id, length);
    body [4 + length] = 2 << 3;
    body [5 + length] = 1;
    *size = length + 6;
    return body;
}

static link_answer_t
s_https_answer (long status, Drift__NackCode code, const char *retry_after, uint32_t retry_ms)
{
    size_t size = 0;
    uint8_t *body = NULL;
    if (status == 200)
        body = s_ack_body (S_ID, &size);
    else
    if (code)
        body = agent_link_encode_nack (NULL, code, "said by ingest", retry_ms, &size);
    link_answer_t answer;
    link_https_answer (status, body, size, retry_after, S_ID, &answer);
    free (body);
    return answer;
}

Test (https_answer, ok_with_an_ack_is_an_ack_with_its_duplicate_flag)
{
    link_answer_t answer = s_https_answer (200, 0, NULL, 0);
    cr_assert_eq (answer.kind, LINK_ACK);
    cr_assert (answer.duplicate);
    cr_assert_str_eq (answer.report_id, S_ID);
}

Test (https_answer, ok_without_an_ack_breaks_the_link)
{
    //  A 200 from something that is not ingest (a captive portal, a
    //  misrouted proxy) must never remove a report from the spool.
    link_answer_t answer;
    link_https_answer (200, (const uint8_t *) "<html>", 6, NULL, S_ID, &answer);
    cr_assert_eq (answer.kind, LINK_BROKEN);
    //  Nor an Ack for another report.
    size_t size;
    uint8_t *body = s_ack_body ("20261206T000000Z-00000000000000bb", &size);
    link_https_answer (200, body, size, NULL, S_ID, &answer);
    free (body);
    cr_assert_eq (answer.kind, LINK_BROKEN);
}

Test (https_answer, client_errors_refuse_the_report_for_good)
{
    struct { long status; Drift__NackCode code; } cases [] = {
        { 400, DRIFT__NACK_CODE__NACK_BAD_MESSAGE },
        { 404, DRIFT__NACK_CODE__NACK_BAD_MESSAGE },
        { 405, DRIFT__NACK_CODE__NACK_BAD_MESSAGE },
        { 413, DRIFT__NACK_CODE__NACK_TOO_LARGE },
        { 415, DRIFT__NACK_CODE__NACK_UNSUPPORTED_FORMAT }
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases [0]; i++) {
        link_answer_t answer = s_https_answer (cases [i].status, cases [i].code, NULL, 0);
        cr_assert_eq (answer.kind, LINK_NACK, "status %ld", cases [i].status);
        cr_assert_eq (answer.code, (int) cases [i].code, "status %ld", cases [i].status);
        cr_assert_str_eq (answer.report_id, S_ID);
        cr_assert_str_eq (answer.message, "said by ingest");
        //  Without ingest's body (Caddy's own 413) the status alone decides.
        answer = s_https_answer (cases [i].status, 0, NULL, 0);
        cr_assert_eq (answer.code, (int) cases [i].code, "status %ld bare", cases [i].status);
    }
}

Test (https_answer, rate_limited_and_unavailable_wait_for_retry_after)
{
    link_answer_t answer = s_https_answer (429, DRIFT__NACK_CODE__NACK_RATE_LIMITED, "2", 1500);
    cr_assert_eq (answer.code, DRIFT__NACK_CODE__NACK_RATE_LIMITED);
    cr_assert_eq (answer.retry_after_ms, 1500);
    answer = s_https_answer (503, 0, "7", 0);
    cr_assert_eq (answer.kind, LINK_NACK);
    cr_assert_eq (answer.code, DRIFT__NACK_CODE__NACK_UNAVAILABLE);
    cr_assert_eq (answer.retry_after_ms, 7000);
    //  A date or nonsense in Retry-After: the uplink's own default applies.
    answer = s_https_answer (503, 0, "Wed, 21 Oct 2015 07:28:00 GMT", 0);
    cr_assert_eq (answer.retry_after_ms, 0);
}

Test (https_answer, forbidden_is_a_revoked_certificate)
{
    link_answer_t answer = s_https_answer (403, DRIFT__NACK_CODE__NACK_REVOKED, NULL, 0);
    cr_assert_eq (answer.kind, LINK_NACK);
    cr_assert_eq (answer.code, DRIFT__NACK_CODE__NACK_REVOKED);
}

Test (https_answer, gateway_errors_and_the_rest_break_the_link)
{
    long statuses [] = { 502, 504, 500, 301, 0 };
    for (size_t i = 0; i < sizeof statuses / sizeof statuses [0]; i++) {
        link_answer_t answer = s_https_answer (statuses [i], 0, NULL, 0);
        cr_assert_eq (answer.kind, LINK_BROKEN, "status %ld", statuses [i]);
        cr_assert_str_eq (answer.report_id, S_ID);
    }
}

//  GET /v1/hello: ingest's Welcome is the 200's body (the same message a
//  CURVE agent gets after HELLO), encoded here with protobuf-c.
Test (https_welcome, ok_with_a_welcome_names_the_agent_and_the_limit)
{
    Drift__Welcome welcome = DRIFT__WELCOME__INIT;
    welcome.protocol = 1;
    welcome.tenant = (char *) "acme";
    welcome.agent = (char *) "web-prod";
    welcome.max_report_bytes = 1048576;
    Drift__AgentMessage message = DRIFT__AGENT_MESSAGE__INIT;
    message.kind_case = DRIFT__AGENT_MESSAGE__KIND_WELCOME;
    message.welcome = &welcome;
    size_t size;
    uint8_t *body = agent_link_encode (&message, &size);
    link_answer_t answer;
    link_https_welcome (200, body, size, &answer);
    cr_assert_eq (answer.kind, LINK_WELCOME);
    cr_assert_str_eq (answer.tenant, "acme");
    cr_assert_str_eq (answer.agent, "web-prod");
    cr_assert_eq (answer.max_report_bytes, 1048576);
    //  The same body under another status is no welcome.
    link_https_welcome (502, body, size, &answer);
    cr_assert_eq (answer.kind, LINK_BROKEN);
    free (body);
}

Test (https_welcome, forbidden_stops_and_anything_else_breaks_the_link)
{
    size_t size;
    uint8_t *body = agent_link_encode_nack (NULL, DRIFT__NACK_CODE__NACK_REVOKED,
                                            "certificate not in the registry", 0, &size);
    link_answer_t answer;
    link_https_welcome (403, body, size, &answer);
    cr_assert_eq (answer.kind, LINK_KEY_REFUSED);
    cr_assert_str_eq (answer.message, "certificate not in the registry");
    free (body);
    //  A portal's page, a bare 200, an Ack instead of a Welcome.
    link_https_welcome (200, (const uint8_t *) "<html>", 6, &answer);
    cr_assert_eq (answer.kind, LINK_BROKEN);
    link_https_welcome (200, NULL, 0, &answer);
    cr_assert_eq (answer.kind, LINK_BROKEN);
    body = s_ack_body (S_ID, &size);
    link_https_welcome (200, body, size, &answer);
    cr_assert_eq (answer.kind, LINK_BROKEN);
    free (body);
    link_https_welcome (503, NULL, 0, &answer);
    cr_assert_eq (answer.kind, LINK_BROKEN);
}

/*  The command channel over HTTPS (proto/AGENT-LINK.md §7): what a poll
    of GET /v1/commands and the POST of an update become for the uplink.
*/
#define S_COMMAND "0b0e2a4c-6f7e-4d2a-9a55-3c1e8f2b9d10"

static uint8_t *
s_command_body (const char *id, size_t *size)
{
    Drift__Command command = DRIFT__COMMAND__INIT;
    command.command_id = (char *) id;
    command.kind = DRIFT__COMMAND_KIND__COMMAND_KIND_CHECK;
    command.stack = (char *) "payments";
    Drift__AgentMessage message = DRIFT__AGENT_MESSAGE__INIT;
    message.kind_case = DRIFT__AGENT_MESSAGE__KIND_COMMAND;
    message.command = &command;
    return agent_link_encode (&message, size);
}

Test (https_command, ok_with_a_command_is_the_command_and_no_content_is_nothing)
{
    size_t size;
    uint8_t *body = s_command_body (S_COMMAND, &size);
    link_answer_t answer;
    cr_assert_eq (link_https_command (200, body, size, NULL, &answer), 1);
    cr_assert_eq (answer.kind, LINK_COMMAND);
    Drift__Command *command = drift__command__unpack (NULL, answer.command_size, answer.command);
    cr_assert (command);
    cr_assert_str_eq (command->command_id, S_COMMAND);
    cr_assert_str_eq (command->stack, "payments");
    drift__command__free_unpacked (command, NULL);
    free (answer.command);
    free (body);
    cr_assert_eq (link_https_command (204, NULL, 0, NULL, &answer), 0);
    //  A command that breaks the rules is ignored, as over CURVE: the link works.
    body = s_command_body ("not-a-uuid", &size);
    cr_assert_eq (link_https_command (200, body, size, NULL, &answer), 0);
    free (body);
}

Test (https_command, a_200_without_a_command_breaks_the_link_and_errors_say_so)
{
    link_answer_t answer;
    //  A portal's page, a bare 200, an Ack: never a command.
    cr_assert_eq (link_https_command (200, (const uint8_t *) "<html>", 6, NULL, &answer), 1);
    cr_assert_eq (answer.kind, LINK_BROKEN);
    cr_assert_eq (link_https_command (200, NULL, 0, NULL, &answer), 1);
    cr_assert_eq (answer.kind, LINK_BROKEN);
    size_t size;
    uint8_t *body = s_ack_body (S_ID, &size);
    cr_assert_eq (link_https_command (200, body, size, NULL, &answer), 1);
    cr_assert_eq (answer.kind, LINK_BROKEN);
    free (body);
    //  503 waits its retry time; 403 is a revoked certificate; 502 breaks.
    body = agent_link_encode_nack (NULL, DRIFT__NACK_CODE__NACK_UNAVAILABLE, "store down",
                                   2500, &size);
    cr_assert_eq (link_https_command (503, body, size, "3", &answer), 1);
    cr_assert_eq (answer.kind, LINK_NACK);
    cr_assert_eq (answer.code, DRIFT__NACK_CODE__NACK_UNAVAILABLE);
    cr_assert_eq (answer.retry_after_ms, 2500);
    free (body);
    cr_assert_eq (link_https_command (403, NULL, 0, NULL, &answer), 1);
    cr_assert_eq (answer.code, DRIFT__NACK_CODE__NACK_REVOKED);
    cr_assert_eq (link_https_command (502, NULL, 0, NULL, &answer), 1);
    cr_assert_eq (answer.kind, LINK_BROKEN);
    cr_assert_str_eq (answer.report_id, "");
}

Test (https_update, ok_counts_only_with_the_ack_of_that_update)
{
    //  ingest's CommandAck of update 2, by hand as s_ack_body does: field
    //  10 holding CommandAck's fields 1 (the id) and 2 (the seq).
    uint8_t body [64];
    size_t size = 0;
    body [size++] = (10 << 3) | 2;
    body [size++] = (uint8_t) (strlen (S_COMMAND) + 4);
    body [size++] = (1 << 3) | 2;
    body [size++] = (uint8_t) strlen (S_COMMAND);
    memcpy (body + size, S_COMMAND, strlen (S_COMMAND));
    size += strlen (S_COMMAND);
    body [size++] = 2 << 3;
    body [size++] = 2;
    link_answer_t answer;
    link_https_update_answer (200, body, size, NULL, S_COMMAND, 2, &answer);
    cr_assert_eq (answer.kind, LINK_COMMAND_ACK);
    cr_assert_str_eq (answer.command_id, S_COMMAND);
    cr_assert_eq (answer.seq, 2);
    //  The ack of another update is no ack of this one.
    link_https_update_answer (200, body, size, NULL, S_COMMAND, 3, &answer);
    cr_assert_eq (answer.kind, LINK_BROKEN);
    link_https_update_answer (200, (const uint8_t *) "<html>", 6, NULL, S_COMMAND, 2, &answer);
    cr_assert_eq (answer.kind, LINK_BROKEN);
    //  A refusal names the update it refuses.
    uint8_t *nack = agent_link_encode_nack (NULL, DRIFT__NACK_CODE__NACK_BAD_MESSAGE,
                                            "update seq is not the next one of the command", 0,
                                            &size);
    link_https_update_answer (400, nack, size, NULL, S_COMMAND, 2, &answer);
    cr_assert_eq (answer.kind, LINK_NACK);
    cr_assert_eq (answer.code, DRIFT__NACK_CODE__NACK_BAD_MESSAGE);
    cr_assert_str_eq (answer.command_id, S_COMMAND);
    cr_assert_eq (answer.seq, 2);
    cr_assert_str_eq (answer.message, "update seq is not the next one of the command");
    free (nack);
}

//  --------------------------------------------------------------------------
//  Command records (agent/commands.c): pruned once finished, acked and old.

#define RECORD_ID "0b9f4c1e-2d3a-4e5f-8a7b-6c5d4e3f2a1b"
#define PLAN_ID "1c0a5d2f-3e4b-4f60-9b8c-7d6e5f4a3b2c"

//  Command id of kind recorded as received.
static void
s_receive (agent_commands_t *commands, const char *id, Drift__CommandKind kind)
{
    Drift__Command command = DRIFT__COMMAND__INIT;
    command.command_id = (char *) id;
    command.kind = kind;
    command.stack = "payments";
    uint8_t bytes [256];
    size_t size = drift__command__pack (&command, bytes);
    cr_assert_eq (agent_commands_receive (commands, bytes, size), 0);
}

//  The next waiting command run and finished in state.
static void
s_run_to (agent_commands_t *commands, Drift__CommandState state)
{
    Drift__Command *command = agent_commands_start (commands);
    cr_assert (command);
    cr_assert_eq (agent_commands_finish (commands, command, state, "", 0, NULL, NULL, 0), 0);
    drift__command__free_unpacked (command, NULL);
}

//  Every spooled update acked (removed, as COMMAND_ACK does).
static void
s_ack_all (agent_commands_t *commands)
{
    spool_t *updates = agent_commands_updates (commands);
    zlistx_t *names = spool_list (updates);
    for (const char *name = (const char *) zlistx_first (names); name;
         name = (const char *) zlistx_next (names))
        cr_assert_eq (spool_remove (updates, name), 0);
    zlistx_destroy (&names);
}

Test (command_records, only_finished_fully_acked_old_records_are_pruned)
{
    char root [256];
    tu_scratch_dir ("records", root, sizeof root);
    agent_commands_t *commands = agent_commands_new (root);
    cr_assert (commands);
    s_receive (commands, RECORD_ID, DRIFT__COMMAND_KIND__COMMAND_KIND_CHECK);
    cr_assert_eq (agent_commands_prune (commands, INT64_MAX), 0, "waiting to run: kept");
    Drift__Command *running = agent_commands_start (commands);
    cr_assert_eq (agent_commands_prune (commands, INT64_MAX), 0, "running: kept");
    agent_commands_finish (commands, running, DRIFT__COMMAND_STATE__COMMAND_STATE_SUCCEEDED,
                           "", 0, NULL, NULL, 0);
    drift__command__free_unpacked (running, NULL);
    cr_assert_eq (agent_commands_prune (commands, INT64_MAX), 0,
                  "finished, its updates not all acked: kept");
    s_ack_all (commands);
    cr_assert_eq (agent_commands_prune (commands, clock_wall_us () - 30 * 86400 * INT64_C (1000000)),
                  0, "finished just now, younger than the limit: kept");
    cr_assert_eq (agent_commands_prune (commands, clock_wall_us () + 1), 1, "older: pruned");
    char path [512];
    snprintf (path, sizeof path, "%s/commands/%s.command", root, RECORD_ID);
    cr_assert_eq (access (path, F_OK), -1, "the record is gone");

    //  A plan's file is spent once its command ended other than SUCCEEDED,
    //  or when no record of it is left; not while it waits for approval.
    cr_assert (agent_commands_plan_spent (commands, RECORD_ID), "no record");
    s_receive (commands, PLAN_ID, DRIFT__COMMAND_KIND__COMMAND_KIND_PLAN);
    cr_assert_not (agent_commands_plan_spent (commands, PLAN_ID), "waiting to run");
    s_run_to (commands, DRIFT__COMMAND_STATE__COMMAND_STATE_SUCCEEDED);
    cr_assert_not (agent_commands_plan_spent (commands, PLAN_ID), "waiting for its approval");
    agent_commands_destroy (&commands);
    tu_remove_tree (root);
    tu_scratch_dir ("records", root, sizeof root);
    commands = agent_commands_new (root);
    s_receive (commands, PLAN_ID, DRIFT__COMMAND_KIND__COMMAND_KIND_PLAN);
    s_run_to (commands, DRIFT__COMMAND_STATE__COMMAND_STATE_FAILED);
    cr_assert (agent_commands_plan_spent (commands, PLAN_ID), "its plan failed");
    agent_commands_destroy (&commands);
    tu_remove_tree (root);
}
