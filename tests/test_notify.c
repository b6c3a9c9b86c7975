/*  notify: the notify stage against a real PostgreSQL (as drift_app), a real
    Redis, a real SMTP server (aiosmtpd, tests/smtp/smtp_sink.py) and a real
    HTTP receiver (tests/httpsink).

    Reports are real fixtures, archived by the archive stage and then given
    to the notify stage, both in this process as the worker runtime runs
    them; notify's sender thread sends for real. What must hold: a critical
    drift is told once by email and once by webhook, the message parsed and
    its signature verified; the same envelope twice, or a second report with
    the same drift, tells nothing new; a changed value and a resolved drift
    are told; what is below the channel's severity or suppressed is not;
    the SMTP server down opens the breaker, the report still completes and
    the email arrives once the server is back; a webhook answering 500 then
    200 gets one delivery. Through the whole pipeline as processes: Redis
    restarted mid-flow loses and doubles nothing, and a fixture sent by
    drift-agent ends as one email, one webhook call and an archived journal
    entry.
*/
#define _GNU_SOURCE             // asprintf
#include "testutil.h"
#include "linkutil.h"
#include "httpsink.h"
#include "../actors/actors.h"
#include "../actors/notify/breaker.h"
#include "../lib/clock.h"
#include "../lib/journal.h"
#include "../lib/kv.h"
#include "../lib/log.h"
#include "../lib/metrics.h"
#include "../lib/migrations.h"
#include "../actors/normalize/normalize.h"
#include "../actors/score/score.h"
#include "../actors/notify/webhook.h"
#include "../actors/notify/channel.h"
#include "../lib/seal.h"

#include <criterion/criterion.h>
#include <dirent.h>
#include <jansson.h>
#include <libpq-fe.h>
#include <signal.h>
#include <stdio.h>
#include <time.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

//  The reports' time: the hour a day before the test runs (hours old, so
//  silent; within notify's week of look-back, so still watched), and one
//  minute, in microseconds. A fixed date would leave the look-back a week
//  after it was written.
#define T0 s_t0 ()
#define MINUTE 60000000LL

static int64_t
s_t0 (void)
{
    static int64_t t0;
    if (!t0)
        t0 = ((int64_t) time (NULL) / 3600 - 24) * 3600 * 1000000LL;
    return t0;
}

//  T0 + minutes as drift status and the mails write it.
static const char *
s_at (int minutes, char *buffer, size_t size)
{
    time_t seconds = (time_t) (T0 / 1000000 + minutes * 60);
    struct tm tm;
    gmtime_r (&seconds, &tm);
    strftime (buffer, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buffer;
}

static char *s_url;                 // the test's database, as its owner
static char *s_app;                 // ... as a drift_app login
static char s_tenant [37], s_key [41];
static normalize_t *s_normalize;
static score_t *s_score;
static config_t *s_archive_config, *s_notify_config;
static void *s_archive, *s_notify;  // the two stages, in this process

//  The SMTP server of a test.
static pid_t s_smtp;                // its PID, 0 when not running
static int s_smtp_port;             // its port
static char s_mail_dir [300];       // where it writes what it received
static char s_channel_key [300];    // notify's --channel-key, sealing channel keys

//  --------------------------------------------------------------------------
//  Servers

static void
s_smtp_start (void)
{
    int ready [2];
    cr_assert_eq (pipe (ready), 0);
    char port [16];
    snprintf (port, sizeof port, "%d", s_smtp_port);
    char *script;
    cr_assert (asprintf (&script, "%s/tests/smtp/smtp_sink.py", getenv ("DRIFT_SOURCE_DIR")) > 0);
    pid_t parent = getpid ();
    s_smtp = fork ();
    if (s_smtp == 0) {
        tu_die_with_parent (parent);
        dup2 (ready [1], STDOUT_FILENO);
        close (ready [0]);
        execl ("/usr/bin/python3", "python3", script, "--port", port, "--dir", s_mail_dir,
               (char *) NULL);
        _exit (127);
    }
    close (ready [1]);
    char line [64] = "";
    FILE *out = fdopen (ready [0], "r");
    cr_assert (fgets (line, sizeof line, out) && strncmp (line, "ready", 5) == 0,
               "the SMTP server did not start (is python3-aiosmtpd installed?)");
    fclose (out);
    free (script);
}

static void
s_smtp_stop (void)
{
    if (s_smtp > 0) {
        kill (s_smtp, SIGTERM);
        waitpid (s_smtp, NULL, 0);
        s_smtp = 0;
    }
}

//  Messages the SMTP server has received.
static int
s_mails (void)
{
    DIR *dir = opendir (s_mail_dir);
    int count = 0;
    struct dirent *entry;
    while (dir && (entry = readdir (dir)))
        if (strstr (entry->d_name, ".eml") && !strstr (entry->d_name, ".tmp"))
            count++;
    if (dir)
        closedir (dir);
    return count;
}

static int
s_wait_mails (int expected, int timeout_ms)
{
    int64_t deadline = clock_mono_ms () + timeout_ms;
    while (s_mails () < expected && clock_mono_ms () < deadline)
        zclock_sleep (20);
    return s_mails ();
}

//  Message number n (1-based), parsed by tests/smtp/mail_to_json.py.
static json_t *
s_mail (int n)
{
    char *command;
    cr_assert (asprintf (&command, "/usr/bin/python3 %s/tests/smtp/mail_to_json.py %s/%04d.eml",
                         getenv ("DRIFT_SOURCE_DIR"), s_mail_dir, n) > 0);
    FILE *out = popen (command, "r");
    json_error_t error;
    json_t *mail = json_loadf (out, 0, &error);
    pclose (out);
    cr_assert (mail, "message %d does not parse: %s", n, error.text);
    free (command);
    return mail;
}

//  A header of a parsed message ("" if absent).
static const char *
s_header (json_t *mail, const char *name)
{
    const char *value = json_string_value (json_object_get (json_object_get (mail, "headers"),
                                                            name));
    return value ? value : "";
}

//  The decoded body of the part of content type type.
static const char *
s_part (json_t *mail, const char *type)
{
    size_t index;
    json_t *part;
    json_array_foreach (json_object_get (mail, "parts"), index, part)
        if (strcmp (json_string_value (json_object_get (part, "content_type")), type) == 0)
            return json_string_value (json_object_get (part, "body"));
    return "";
}

static int
s_wait_requests (httpsink_t *sink, int expected, int timeout_ms)
{
    int64_t deadline = clock_mono_ms () + timeout_ms;
    while (httpsink_count (sink) < expected && clock_mono_ms () < deadline)
        zclock_sleep (20);
    return httpsink_count (sink);
}

//  --------------------------------------------------------------------------
//  Channels

static void
s_exec (const char *sql)
{
    PGconn *conn = PQconnectdb (s_url);
    PGresult *result = PQexec (conn, sql);
    cr_assert (PQresultStatus (result) == PGRES_COMMAND_OK
            || PQresultStatus (result) == PGRES_TUPLES_OK, "%s: %s", sql,
               PQresultErrorMessage (result));
    PQclear (result);
    PQfinish (conn);
}

//  An email channel to the test's SMTP server, from min_severity.
static void
s_email_channel (int min_severity)
{
    char sql [1024];
    snprintf (sql, sizeof sql,
              "INSERT INTO notification_channels (tenant_id, name, kind, settings, min_severity) "
              "VALUES ('%s', 'ops-mail', 'email', '{\"url\": \"smtp://127.0.0.1:%d\", "
              "\"starttls\": false, \"from\": \"drift@example.com\", "
              "\"to\": [\"ops@example.com\", \"sec@example.com\"]}', %d)",
              s_tenant, s_smtp_port, min_severity);
    s_exec (sql);
}

static void
s_webhook_channel (const char *url, const char *format)
{
    char sql [1024];
    snprintf (sql, sizeof sql,
              "INSERT INTO notification_channels (tenant_id, name, kind, settings, min_severity) "
              "VALUES ('%s', 'ops-hook', 'webhook', '{\"url\": \"%s\", \"format\": \"%s\", "
              "\"secret\": \"test-secret\"}', 4)", s_tenant, url, format);
    s_exec (sql);
}

//  A channel of kind added as the API adds it (its key sealed under the
//  channel key notify has); its id in id [37].
static void
s_sealed_channel (const char *name, const char *kind, const char *settings, char *id)
{
    char error [512], secret [65], *sealed = NULL;
    seal_keyring_t *keyring = seal_keyring_load (s_channel_key, NULL, error, sizeof error);
    cr_assert (keyring, "%s", error);
    channel_context_t context = { .allow_hosts = "127.0.0.1", .keyring = keyring };
    channel_new_id (id);
    char *stored = channel_settings_prepare (kind, settings, s_tenant, id, &context, secret,
                                             &sealed, error, sizeof error);
    cr_assert (stored && sealed, "%s", error);
    char sql [2048];
    snprintf (sql, sizeof sql,
              "INSERT INTO notification_channels (tenant_id, id, name, kind, settings, "
              "min_severity, password_sealed) VALUES ('%s', '%s', '%s', '%s', '%s', 4, '%s')",
              s_tenant, id, name, kind, stored, sealed);
    s_exec (sql);
    free (stored);
    free (sealed);
    seal_keyring_destroy (&keyring);
}

//  --------------------------------------------------------------------------
//  The stages

static void *
s_open_stage (const actor_def_t *actor, config_t **config, const char *const *extra)
{
    //  The settings keep pointing at their table: it outlives them.
    static config_option_t tables [2][64];
    config_option_t *options = tables [actor == &notify_actor];
    options [0] = (config_option_t) { "config", CONFIG_STRING, "", "" };
    options [1] = (config_option_t) { "log-format", CONFIG_STRING, "logfmt", "" };
    options [2] = (config_option_t) { "log-level", CONFIG_STRING, "error", "" };
    options [3] = (config_option_t) { "database", CONFIG_STRING, "", "" };
    size_t count = 4;
    for (size_t i = 0; actor->options [i].name; i++)
        options [count++] = actor->options [i];
    options [count] = (config_option_t) CONFIG_END;
    char *argv [32] = { (char *) actor->name, (char *) "--database", s_app };
    int argc = 3;
    for (int i = 0; extra && extra [i]; i++)
        argv [argc++] = (char *) extra [i];
    int exit_code;
    *config = config_load (actor->name, "", options, argc, argv, &exit_code);
    cr_assert (*config, "settings refused: %d", exit_code);
    void *state = actor->open (*config);
    cr_assert (state, "the %s stage did not open", actor->name);
    return state;
}

static void
s_setup (void)
{
    log_init ("test", "logfmt", "error");
    s_url = tu_fresh_database ();
    cr_assert_gt (migrations_apply (s_url), 0);
    tu_archive_env ();
    tu_tenant_agent (s_url, "acme", s_tenant, s_key);
    s_app = tu_app_url (s_url);
    s_normalize = normalize_new (NULL);
    s_score = score_new ();
    //  The outbox is one sorted set for every tenant: start it empty.
    kv_t *kv = kv_new (getenv ("DRIFT_TEST_REDIS_URL"), 2000);
    cr_assert (kv, "DRIFT_TEST_REDIS_URL is not set: run the tests through scripts/test");
    redisReply *reply = kv_command (kv, "FLUSHALL");
    cr_assert (reply, "Redis is not reachable");
    freeReplyObject (reply);
    kv_destroy (&kv);
    s_archive = s_open_stage (&archive_actor, &s_archive_config, NULL);
    //  The operator's channel key, as `drift keys init` leaves it: PagerDuty's
    //  and Opsgenie's keys are stored sealed under it.
    snprintf (s_channel_key, sizeof s_channel_key, "%s/channel-%d.key",
              getenv ("DRIFT_TEST_VAR_DIR"), (int) getpid ());
    FILE *key = fopen (s_channel_key, "w");
    cr_assert (key);
    fprintf (key, "%s\n", "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff");
    fclose (key);
    chmod (s_channel_key, 0600);
    const char *extra [] = { "--redis", getenv ("DRIFT_TEST_REDIS_URL"), "--poll-ms", "20",
                             "--channel-key", s_channel_key,
                             "--egress-allow-hosts", "127.0.0.1",     // the sinks are on loopback
                             "--retry-base-ms", "100", "--retry-max-ms", "300",
                             "--breaker-failures", "2", "--breaker-cooldown-ms", "400",
                             "--send-timeout-ms", "3000", "--silent-after-s", "0", NULL };
    //  No watch for silent stacks: the test's reports are hours old (T0).
    s_notify = s_open_stage (&notify_actor, &s_notify_config, extra);
    snprintf (s_mail_dir, sizeof s_mail_dir, "%s/mail-%d-%lld", getenv ("DRIFT_TEST_VAR_DIR"),
              (int) getpid (), (long long) clock_mono_ms ());
    cr_assert_eq (mkdir (s_mail_dir, 0700), 0);
    s_smtp_port = tu_free_port ();
}

static void
s_teardown (void)
{
    notify_actor.close (s_notify);
    archive_actor.close (s_archive);
    config_destroy (&s_notify_config);
    config_destroy (&s_archive_config);
    s_smtp_stop ();
    unlink (s_channel_key);
    normalize_destroy (&s_normalize);
    score_destroy (&s_score);
    free (s_app);
    tu_drop_database (s_url);
}

TestSuite (notify, .init = s_setup, .fini = s_teardown, .timeout = 120);

//  --------------------------------------------------------------------------
//  Reports

static char *
s_plan (const char *fixture, const char *from, const char *to)
{
    char name [64];
    snprintf (name, sizeof name, "%s.plan.json", fixture);
    char *text = tu_read_fixture (name, NULL);
    if (!from)
        return text;
    char *at = strstr (text, from);
    cr_assert (at, "%s is not in %s", from, fixture);
    char *changed;
    cr_assert (asprintf (&changed, "%.*s%s%s", (int) (at - text), text, to,
                         at + strlen (from)) > 0);
    free (text);
    return changed;
}

//  A scored envelope of tenant's report of stack at T0 + minutes, journaled
//  first (so notify's ack can be seen); suppress marks every finding
//  suppressed. Caller frees with drift__envelope__free_unpacked.
static Drift__Envelope *
s_envelope (const char *report_id, const char *stack, int minutes, const char *text,
            bool suppress)
{
    Drift__Report report = DRIFT__REPORT__INIT;
    report.report_id = (char *) report_id;
    report.stack = (char *) stack;
    report.format = DRIFT__REPORT_FORMAT__REPORT_FORMAT_PLAN_JSON;
    report.payload.data = (uint8_t *) text;
    report.payload.len = strlen (text);
    report.uncompressed_size = strlen (text);
    report.engine = (char *) "terraform";
    size_t raw_size = drift__report__get_packed_size (&report);
    uint8_t *raw = (uint8_t *) malloc (raw_size);
    drift__report__pack (&report, raw);

    Drift__Envelope journaled = DRIFT__ENVELOPE__INIT, *pointer = &journaled;
    journaled.tenant = s_tenant;
    journaled.agent_key = s_key;
    journaled.report_id = (char *) report_id;
    journaled.stack = (char *) stack;
    journaled.received_us = T0 + minutes * MINUTE;
    journaled.body_case = DRIFT__ENVELOPE__BODY_RAW;
    journaled.raw.data = raw;
    journaled.raw.len = raw_size;
    int64_t journal_id;
    journal_t *journal = journal_new (s_url, 5000);
    cr_assert_eq (journal_send (journal, &pointer, 1, 3600, &journal_id), 0);
    journal_destroy (&journal);

    Drift__CanonicalReport *canonical = normalize_raw (s_normalize, s_tenant, raw, raw_size);
    Drift__ScoredReport *scored = score_report (s_score, canonical);
    for (size_t i = 0; suppress && i < scored->n_findings; i++)
        score_suppress (scored->findings [i], "test-ignore");
    if (suppress)
        score_recompute (scored);
    journaled.journal_id = journal_id;
    journaled.body_case = DRIFT__ENVELOPE__BODY_SCORED;
    journaled.scored.len = drift__scored_report__get_packed_size (scored);
    journaled.scored.data = (uint8_t *) malloc (journaled.scored.len);
    drift__scored_report__pack (scored, journaled.scored.data);
    size_t size = drift__envelope__get_packed_size (&journaled);
    uint8_t *packed = (uint8_t *) malloc (size);
    drift__envelope__pack (&journaled, packed);
    Drift__Envelope *envelope = drift__envelope__unpack (NULL, size, packed);
    free (packed);
    free (journaled.scored.data);
    score_scored_destroy (&scored);
    drift__canonical_report__free_unpacked (canonical, NULL);
    free (raw);
    return envelope;
}

//  Archive and notify one envelope as the pipeline does.
static void
s_process (Drift__Envelope *envelope)
{
    cr_assert_eq (archive_actor.fn (s_archive, envelope), STAGE_FORWARD);
    cr_assert_eq (archive_actor.flush (s_archive), 0);
    cr_assert_eq (notify_actor.fn (s_notify, envelope), STAGE_FORWARD);
    cr_assert_eq (notify_actor.flush (s_notify), 0);
}

static void
s_report (const char *report_id, int minutes, const char *text)
{
    Drift__Envelope *envelope = s_envelope (report_id, "payments", minutes, text, false);
    s_process (envelope);
    drift__envelope__free_unpacked (envelope, NULL);
}

static void
s_fixture (const char *report_id, int minutes, const char *fixture)
{
    char *text = s_plan (fixture, NULL, NULL);
    s_report (report_id, minutes, text);
    free (text);
}

static long
s_acked (const char *report_id)
{
    char sql [256];
    snprintf (sql, sizeof sql, "SELECT count (*) FROM pgmq.a_drift_journal "
                               "WHERE message->>'report_id' = '%s'", report_id);
    return tu_query_long (s_url, sql);
}

//  What `drift status --database` prints (no broker runs here: only its
//  database part matters), with extra arguments; the caller frees.
static char *
s_status (const char *extra)
{
    char *command;
    cr_assert (asprintf (&command, "%s status --broker tcp://127.0.0.1:%d --timeout-ms 200 "
                         "--database '%s' %s > %s/status.out 2>&1", getenv ("DRIFT_BIN"),
                         tu_free_port (), s_url, extra, getenv ("DRIFT_TEST_VAR_DIR")) > 0);
    cr_assert_neq (system (command), -1);
    free (command);
    char path [512];
    snprintf (path, sizeof path, "%s/status.out", getenv ("DRIFT_TEST_VAR_DIR"));
    return tu_read_file (path, NULL);
}

//  --------------------------------------------------------------------------
//  What is told

Test (notify, a_critical_drift_is_told_once_by_email_and_once_by_signed_webhook)
{
    s_smtp_start ();
    s_email_channel (4);
    char url [64];
    httpsink_t *sink = httpsink_start (NULL, 0, url);
    s_webhook_channel (url, "generic");
    s_fixture ("r1", 0, "scenario-01");
    cr_assert_eq (s_acked ("r1"), 1, "the journal entry is archived once the news is queued");
    cr_assert_eq (s_wait_mails (1, 10000), 1);
    cr_assert_eq (s_wait_requests (sink, 1, 10000), 1);

    json_t *mail = s_mail (1);
    cr_assert (strstr (s_header (mail, "Subject"), "payments")
            && strstr (s_header (mail, "Subject"), "critical"), "%s", s_header (mail, "Subject"));
    cr_assert (strstr (s_header (mail, "To"), "ops@example.com")
            && strstr (s_header (mail, "To"), "sec@example.com"));
    cr_assert (*s_header (mail, "Message-ID") && *s_header (mail, "Date"));
    const char *text = s_part (mail, "text/plain");
    cr_assert (strstr (text, "aws_security_group.web") && strstr (text, "0.0.0.0/0"), "%s", text);
    cr_assert (strstr (s_part (mail, "text/html"), "aws_security_group.web"));
    json_decref (mail);

    httpsink_request_t request;
    cr_assert_eq (httpsink_request (sink, 0, &request), 0);
    cr_assert (request.signature, "the webhook is signed");
    cr_assert_eq (webhook_verify ("test-secret", request.signature, request.body, request.size,
                                  zclock_time () / 1000, 300), 0, "the signature verifies");
    cr_assert_neq (webhook_verify ("wrong-secret", request.signature, request.body, request.size,
                                   zclock_time () / 1000, 300), 0);
    json_t *body = json_loads (request.body, 0, NULL);
    cr_assert_str_eq (json_string_value (json_object_get (body, "stack")), "payments");
    json_t *item = json_array_get (json_object_get (body, "items"), 0);
    cr_assert_str_eq (json_string_value (json_object_get (item, "state")), "new");
    cr_assert_str_eq (json_string_value (json_object_get (item, "address")),
                      "aws_security_group.web");
    json_decref (body);
    httpsink_stop (&sink);
}

Test (notify, the_same_envelope_twice_is_told_once)
{
    s_smtp_start ();
    s_email_channel (4);
    char *text = s_plan ("scenario-01", NULL, NULL);
    Drift__Envelope *envelope = s_envelope ("r1", "payments", 0, text, false);
    s_process (envelope);
    s_process (envelope);
    cr_assert_eq (s_wait_mails (1, 10000), 1);
    zclock_sleep (1000);
    cr_assert_eq (s_mails (), 1, "one email for a replayed envelope");
    drift__envelope__free_unpacked (envelope, NULL);
    free (text);
}

Test (notify, the_same_drift_again_is_not_told_a_changed_value_and_a_resolution_are)
{
    s_smtp_start ();
    s_email_channel (4);
    s_fixture ("r1", 0, "scenario-01");
    cr_assert_eq (s_wait_mails (1, 10000), 1);
    s_fixture ("r2", 10, "scenario-01");
    zclock_sleep (800);
    cr_assert_eq (s_mails (), 1, "the same drift again: nothing new");
    cr_assert_eq (s_acked ("r2"), 1, "but the report is finished");

    char *changed = s_plan ("scenario-01", "0.0.0.0/0", "198.51.100.0/24");
    s_report ("r3", 20, changed);
    free (changed);
    cr_assert_eq (s_wait_mails (2, 10000), 2, "a changed value is told");
    json_t *mail = s_mail (2);
    const char *text = s_part (mail, "text/plain");
    cr_assert (strstr (text, "198.51.100.0/24"), "the new value: %s", text);
    cr_assert (strstr (text, "Resolved") || strstr (text, "resolved"),
               "the old value's drift is told resolved: %s", text);
    json_decref (mail);

    s_fixture ("r4", 30, "scenario-08");
    cr_assert_eq (s_wait_mails (3, 10000), 3, "a resolution is told");
    mail = s_mail (3);
    cr_assert (strstr (s_part (mail, "text/plain"), "aws_security_group.web"));
    cr_assert (strstr (s_header (mail, "Subject"), "resolved"), "%s", s_header (mail, "Subject"));
    json_decref (mail);
    zclock_sleep (500);
    cr_assert_eq (s_mails (), 3);
}

Test (notify, a_check_that_starts_failing_is_told_once_and_so_is_its_recovery)
{
    s_smtp_start ();
    s_email_channel (4);
    s_fixture ("r1", 0, "scenario-08");
    //  Not a plan: normalize records the report as failed, with why.
    s_report ("r2", 10, "{\"format_version\": ");
    cr_assert_eq (s_wait_mails (1, 10000), 1, "the first failure is told");
    json_t *mail = s_mail (1);
    cr_assert (strstr (s_header (mail, "Subject"), "payments: check failed (high)"), "%s",
               s_header (mail, "Subject"));
    const char *text = s_part (mail, "text/plain");
    cr_assert (strstr (text, "r2") && strstr (text, "Reason: "), "%s", text);
    json_decref (mail);

    //  drift status lists the failing stack with why (silence not asked: the
    //  test's reports are all hours old).
    char *status = s_status ("--silent-after-s 0");
    char at [32], expected [128];
    snprintf (expected, sizeof expected, "acme/payments failed at %s: ", s_at (10, at, sizeof at));
    cr_assert (strstr (status, "stacks: 1 failing, 0 silent") && strstr (status, expected),
               "%s", status);
    free (status);

    s_report ("r3", 20, "{\"format_version\": ");
    s_fixture ("r4", 30, "scenario-08");
    cr_assert_eq (s_wait_mails (2, 10000), 2, "the recovery is told");
    mail = s_mail (2);
    cr_assert (strstr (s_header (mail, "Subject"), "payments: check works again"), "%s",
               s_header (mail, "Subject"));
    cr_assert (strstr (s_part (mail, "text/plain"), "r4"));
    json_decref (mail);
    zclock_sleep (800);
    cr_assert_eq (s_mails (), 2, "a stack that keeps failing is told once (r3 said nothing)");
    cr_assert_eq (s_acked ("r1") + s_acked ("r2") + s_acked ("r3") + s_acked ("r4"), 4);
    //  Working again: not failing; but hours without a report is silent.
    status = s_status ("--silent-after-s 60");
    snprintf (expected, sizeof expected, "acme/payments silent, no report since %s",
              s_at (30, at, sizeof at));
    cr_assert (strstr (status, "stacks: 0 failing, 1 silent") && strstr (status, expected),
               "%s", status);
    free (status);
    status = s_status ("--silent-after-s 60 --format json");
    cr_assert (strstr (status, "{\"stacks\":[{\"tenant\":\"acme\",\"stack\":\"payments\","
                               "\"state\":\"silent\""), "%s", status);
    free (status);

    //  A channel that takes only critical hears nothing of checks.
    s_exec ("UPDATE notification_channels SET min_severity = 5");
    s_report ("r5", 40, "{\"format_version\": ");
    zclock_sleep (800);
    cr_assert_eq (s_mails (), 2);
    cr_assert_eq (s_acked ("r5"), 1);
}

Test (notify, drift_below_the_channels_severity_or_suppressed_is_not_told)
{
    s_smtp_start ();
    s_email_channel (5);
    //  scenario-04: tags changed, low.
    s_fixture ("r1", 0, "scenario-04");
    //  scenario-01 with every finding suppressed.
    char *text = s_plan ("scenario-01", NULL, NULL);
    Drift__Envelope *envelope = s_envelope ("r2", "web", 0, text, true);
    s_process (envelope);
    drift__envelope__free_unpacked (envelope, NULL);
    free (text);
    zclock_sleep (1000);
    cr_assert_eq (s_mails (), 0);
    cr_assert_eq (s_acked ("r1") + s_acked ("r2"), 2, "both reports finished");
    cr_assert_eq (tu_query_long (s_url, "SELECT count (*) FROM drift_items WHERE suppressed"), 1,
                  "the suppressed drift is archived, just not told");
}

//  Notify reads a batch's news in one call (schema 0024): for every report
//  it must say exactly what the per-report function says, over a history
//  that opens, repeats, changes, resolves, fails, recovers after a silence,
//  suppresses and mutes; a report not archived and a tenant that is not a
//  uuid get no row.
Test (notify, the_news_of_a_batch_is_each_reports_news)
{
    s_smtp_start ();
    s_email_channel (3);
    s_fixture ("r1", 0, "scenario-01");
    s_fixture ("r2", 10, "scenario-01");
    char *changed = s_plan ("scenario-01", "0.0.0.0/0", "198.51.100.0/24");
    s_report ("r3", 20, changed);
    free (changed);
    s_fixture ("r4", 30, "scenario-08");
    s_report ("r5", 40, "{\"format_version\": ");
    s_report ("r6", 50, "{\"format_version\": ");
    s_fixture ("r7", 60, "scenario-01");
    char *text = s_plan ("scenario-04", NULL, NULL);
    Drift__Envelope *envelope = s_envelope ("r8", "web", 0, text, true);
    s_process (envelope);
    drift__envelope__free_unpacked (envelope, NULL);
    free (text);
    text = s_plan ("scenario-04", NULL, NULL);
    envelope = s_envelope ("r9", "web", 200, text, false);
    s_process (envelope);
    drift__envelope__free_unpacked (envelope, NULL);
    free (text);
    s_exec ("UPDATE drift_items SET muted_reason = 'test', muted_until = now () + interval '1 day' "
            "WHERE opened_by_report = 'r9'");

    char sql [2048];
    snprintf (sql, sizeof sql,
        "WITH asked (tenant, report, ord) AS ("
        "    SELECT t, r, o::integer FROM unnest ("
        "        ARRAY ['%1$s', '%1$s', '%1$s', '%1$s', '%1$s', '%1$s', '%1$s', '%1$s',"
        "               '%1$s', 'not-a-uuid', '%1$s'],"
        "        ARRAY ['r1', 'r2', 'r3', 'r4', 'r5', 'r6', 'r7', 'r8', 'r9', 'r1', 'absent'])"
        "      WITH ORDINALITY u (t, r, o)),"
        "  batch AS (SELECT b.ord, b.news FROM drift_batch_news ("
        "      (SELECT jsonb_agg (jsonb_build_object ('tenant', tenant, 'report', report)"
        "                         ORDER BY ord) FROM asked), interval '1 hour') b) "
        "SELECT (SELECT count (*) FROM batch) * 1000000"
        "     + (SELECT count (*) FROM asked a JOIN batch b USING (ord) WHERE a.ord <= 9"
        "          AND b.news = drift_report_news (a.tenant::uuid, a.report, interval '1 hour'))"
        "       * 10000"
        "     + (SELECT count (*) FROM batch WHERE news->'items' <> '[]') * 100"
        "     + (SELECT count (*) FROM batch WHERE news->'check' <> 'null')", s_tenant);
    long counts = tu_query_long (s_url, sql);
    cr_assert_eq (counts / 1000000, 9, "a row for each archived report of a real tenant: %ld",
                  counts);
    cr_assert_eq (counts / 10000 % 100, 9, "each row is the report's own news: %ld", counts);
    //  The comparison is not between empty documents.
    cr_assert_geq (counts / 100 % 100, 4, "items told: %ld", counts);
    cr_assert_geq (counts % 100, 3, "checks told (failed, resumed, recovered): %ld", counts);
}

Test (notify, a_stack_gone_silent_is_told_once_per_silence)
{
    //  Silent after a minute: the test's reports are hours old.
    notify_actor.close (s_notify);
    config_destroy (&s_notify_config);
    const char *extra [] = { "--redis", getenv ("DRIFT_TEST_REDIS_URL"), "--poll-ms", "20",
                             "--egress-allow-hosts", "127.0.0.1",     // the sinks are on loopback
                             "--silent-after-s", "60", "--silent-check-ms", "100", NULL };
    s_notify = s_open_stage (&notify_actor, &s_notify_config, extra);
    s_smtp_start ();
    s_email_channel (4);
    s_fixture ("r1", 0, "scenario-08");
    cr_assert_eq (s_wait_mails (1, 10000), 1, "the silence is told");
    json_t *mail = s_mail (1);
    cr_assert (strstr (s_header (mail, "Subject"), "payments: no report lately (high)"), "%s",
               s_header (mail, "Subject"));
    const char *text = s_part (mail, "text/plain");
    char at [32], expected [128];
    snprintf (expected, sizeof expected, "no report since %s (the last was r1)",
              s_at (0, at, sizeof at));
    cr_assert (strstr (text, expected), "%s", text);
    json_decref (mail);
    zclock_sleep (800);
    cr_assert_eq (s_mails (), 1, "once per silence, however often notify looks");

    //  A report ends that silence (ten minutes without one: told as
    //  reporting again); as it is old too, a new silence begins. The two
    //  notices are queued apart, so they may come in either order.
    s_fixture ("r2", 10, "scenario-08");
    cr_assert_eq (s_wait_mails (3, 10000), 3, "the end of the silence and the next one are told");
    int resumed = 0, silent = 0;
    for (int n = 2; n <= 3; n++) {
        mail = s_mail (n);
        if (strstr (s_header (mail, "Subject"), "payments: reporting again")
        &&  strstr (s_part (mail, "text/plain"), "a report came after a silence. Report r2"))
            resumed++;
        if (strstr (s_part (mail, "text/plain"), "(the last was r2)"))
            silent++;
        json_decref (mail);
    }
    cr_assert (resumed == 1 && silent == 1, "one of each: %d resumed, %d silent", resumed, silent);

    //  A channel that takes only critical hears nothing of silences.
    s_exec ("UPDATE notification_channels SET min_severity = 5");
    s_fixture ("r3", 20, "scenario-08");
    zclock_sleep (800);
    cr_assert_eq (s_mails (), 3);
}

Test (notify, a_channel_over_its_rate_gets_every_notice_later_none_lost)
{
    //  One send at once, then one a second, for the channel.
    notify_actor.close (s_notify);
    config_destroy (&s_notify_config);
    const char *extra [] = { "--redis", getenv ("DRIFT_TEST_REDIS_URL"), "--poll-ms", "20",
                             "--egress-allow-hosts", "127.0.0.1",     // the sinks are on loopback
                             "--channel-rate", "60", "--channel-burst", "1",
                             "--silent-after-s", "0", NULL };
    s_notify = s_open_stage (&notify_actor, &s_notify_config, extra);
    metric_t *limited = metrics_counter (metrics_default (), "drift_notify_rate_limited_total",
                                         "", NULL);
    int64_t limited_before = metric_value (limited);
    s_smtp_start ();
    s_email_channel (4);
    //  Three stacks with critical drift: three notices queued at once.
    const char *stacks [] = { "payments", "billing", "search" };
    char *text = s_plan ("scenario-01", NULL, NULL);
    for (int i = 0; i < 3; i++) {
        char report_id [16];
        snprintf (report_id, sizeof report_id, "r%d", i + 1);
        Drift__Envelope *envelope = s_envelope (report_id, stacks [i], 0, text, false);
        s_process (envelope);
        drift__envelope__free_unpacked (envelope, NULL);
    }
    free (text);
    cr_assert_eq (s_acked ("r1") + s_acked ("r2") + s_acked ("r3"), 3,
                  "the reports finish at once: the rate holds sends, not reports");
    cr_assert_eq (s_wait_mails (3, 15000), 3, "every notice arrives");
    cr_assert_gt (metric_value (limited) - limited_before, 0,
                  "some waited for the channel's rate");
    zclock_sleep (800);
    cr_assert_eq (s_mails (), 3, "none twice");
    cr_assert_eq (tu_query_long (s_url, "SELECT count (*) FROM notification_channels "
                                        "WHERE last_error IS NULL AND failed_total = 0"), 1,
                  "waiting is not a failure");
}

//  --------------------------------------------------------------------------
//  Failures

Test (notify, smtp_down_opens_the_breaker_the_report_completes_and_the_email_comes_once_back)
{
    s_email_channel (4);
    s_fixture ("r1", 0, "scenario-01");
    cr_assert_eq (s_acked ("r1"), 1, "the report completes while the server is down");
    //  Nothing listens: the sends fail until the breaker opens.
    char *id = NULL;
    PGconn *conn = PQconnectdb (s_url);
    PGresult *result = PQexec (conn, "SELECT id FROM notification_channels");
    id = strdup (PQgetvalue (result, 0, 0));
    PQclear (result);
    PQfinish (conn);
    kv_t *kv = kv_new (getenv ("DRIFT_TEST_REDIS_URL"), 2000);
    breaker_t *breaker = breaker_new (kv, 2, 400);
    breaker_state_t state = BREAKER_CLOSED;
    int failures = 0;
    int64_t deadline = clock_mono_ms () + 10000;
    while (failures < 2 && clock_mono_ms () < deadline) {
        zclock_sleep (20);
        cr_assert_eq (breaker_state (breaker, id, &state, &failures), 0);
    }
    cr_assert_geq (failures, 2, "the breaker counted the failures");
    cr_assert_neq (state, BREAKER_CLOSED, "and opened");

    s_smtp_start ();
    cr_assert_eq (s_wait_mails (1, 15000), 1, "delivered once the server is back");
    zclock_sleep (1000);
    cr_assert_eq (s_mails (), 1, "once");
    cr_assert_eq (breaker_state (breaker, id, &state, &failures), 0);
    cr_assert_eq (state, BREAKER_CLOSED, "a success closes the breaker");
    char sql [256];
    snprintf (sql, sizeof sql, "SELECT sent_total FROM notification_channels WHERE id = '%s'", id);
    cr_assert_eq (tu_query_long (s_url, sql), 1, "the channel's row counts the delivery");
    breaker_destroy (&breaker);
    kv_destroy (&kv);
    free (id);
}

Test (notify, a_webhook_answering_500_then_200_gets_one_delivery)
{
    int statuses [] = { 500, 200 };
    char url [64];
    httpsink_t *sink = httpsink_start (statuses, 2, url);
    s_webhook_channel (url, "slack");
    s_fixture ("r1", 0, "scenario-01");
    cr_assert_eq (s_wait_requests (sink, 2, 10000), 2);
    zclock_sleep (800);
    cr_assert_eq (httpsink_count (sink), 2, "no third request once one was accepted");
    httpsink_request_t first, second;
    httpsink_request (sink, 0, &first);
    httpsink_request (sink, 1, &second);
    cr_assert_eq (first.status, 500);
    cr_assert_eq (second.status, 200);
    cr_assert_str_eq (first.delivery, second.delivery, "the retry is the same delivery");
    json_t *body = json_loads (second.body, 0, NULL);
    cr_assert (json_is_array (json_object_get (body, "blocks")), "Slack blocks");
    json_decref (body);
    httpsink_stop (&sink);
}

Test (notify, pagerduty_through_429_and_5xx_opens_the_breaker_triggers_once_and_resolves)
{
    int statuses [] = { 429, 500, 500, 202 };
    char url [64], settings [256], id [37];
    httpsink_t *sink = httpsink_start (statuses, 4, url);
    snprintf (settings, sizeof settings, "{\"url\": \"%s\", \"routing_key\": "
              "\"R0uting0Key0abcdef0123456789abcd\"}", url);
    s_sealed_channel ("ops-pager", "pagerduty", settings, id);
    s_fixture ("r1", 0, "scenario-01");
    cr_assert_eq (s_acked ("r1"), 1, "the report completes while PagerDuty refuses");
    //  429 and 5xx count as failures: the breaker opens before the 202.
    kv_t *kv = kv_new (getenv ("DRIFT_TEST_REDIS_URL"), 2000);
    breaker_t *breaker = breaker_new (kv, 2, 400);
    breaker_state_t state = BREAKER_CLOSED;
    int failures = 0;
    bool opened = false;
    int64_t deadline = clock_mono_ms () + 10000;
    while (!opened && httpsink_count (sink) < 4 && clock_mono_ms () < deadline) {
        zclock_sleep (10);
        cr_assert_eq (breaker_state (breaker, id, &state, &failures), 0);
        opened = state != BREAKER_CLOSED;
    }
    cr_assert (opened, "the breaker opened on 429 and 5xx");
    cr_assert_eq (s_wait_requests (sink, 4, 15000), 4, "retried until accepted");
    zclock_sleep (800);
    cr_assert_eq (httpsink_count (sink), 4, "nothing more once accepted");
    cr_assert_eq (breaker_state (breaker, id, &state, &failures), 0);
    cr_assert_eq (state, BREAKER_CLOSED, "a success closes the breaker");
    httpsink_request_t request;
    char dedup_key [64] = "";
    for (int index = 0; index < 4; index++) {
        cr_assert_eq (httpsink_request (sink, index, &request), 0);
        cr_assert_eq (request.status, statuses [index]);
        json_t *event = json_loads (request.body, 0, NULL);
        cr_assert_str_eq (json_string_value (json_object_get (event, "event_action")), "trigger");
        const char *key = json_string_value (json_object_get (event, "dedup_key"));
        cr_assert (key);
        if (index == 0)
            snprintf (dedup_key, sizeof dedup_key, "%s", key);
        cr_assert_str_eq (key, dedup_key, "every retry is the same alert");
        json_decref (event);
    }
    //  The drift goes away: its alert is resolved by the same key.
    s_fixture ("r2", 10, "scenario-08");
    cr_assert_eq (s_wait_requests (sink, 5, 10000), 5);
    cr_assert_eq (httpsink_request (sink, 4, &request), 0);
    json_t *resolve = json_loads (request.body, 0, NULL);
    cr_assert_str_eq (json_string_value (json_object_get (resolve, "event_action")), "resolve");
    cr_assert_str_eq (json_string_value (json_object_get (resolve, "dedup_key")), dedup_key);
    json_decref (resolve);
    char sql [256];
    snprintf (sql, sizeof sql, "SELECT sent_total FROM notification_channels WHERE id = '%s'", id);
    cr_assert_eq (tu_query_long (s_url, sql), 2, "two deliveries: the drift and its end");
    breaker_destroy (&breaker);
    kv_destroy (&kv);
    httpsink_stop (&sink);
}

//  `drift CHANNEL_ARGS --database URL`: its exit code and output (caller frees).
static int
s_channel_command (char **out, const char *args)
{
    char *command, *path;
    cr_assert (asprintf (&path, "%s/channel-%d.out", getenv ("DRIFT_TEST_VAR_DIR"),
                         (int) getpid ()) > 0);
    cr_assert (asprintf (&command, "%s channel %s --database '%s' > %s 2>&1",
                         getenv ("DRIFT_BIN"), args, s_url, path) > 0);
    int status = system (command);
    *out = tu_read_file (path, NULL);
    unlink (path);
    free (command);
    free (path);
    return WIFEXITED (status) ? WEXITSTATUS (status) : -1;
}

Test (notify, drift_channel_adds_lists_and_tests_a_pagerduty_channel_its_key_sealed)
{
    char url [64], *args, *out;
    httpsink_t *sink = httpsink_start ((int []) { 202 }, 1, url);
    cr_assert (asprintf (&args, "add acme pager --kind pagerduty --channel-key %s "
                         "--egress-allow-hosts 127.0.0.1 --settings '{\"url\": \"%s\", "
                         "\"routing_key\": \"CliRoutingKey0123\"}'", s_channel_key, url) > 0);
    cr_assert_eq (s_channel_command (&out, args), 0, "%s", out);
    cr_assert_null (strstr (out, "CliRoutingKey"), "%s", out);
    free (out);
    free (args);
    cr_assert_eq (s_channel_command (&out, "list acme"), 0, "%s", out);
    cr_assert (strstr (out, "pager") && strstr (out, "pagerduty"), "%s", out);
    cr_assert_null (strstr (out, "CliRoutingKey"), "%s", out);
    free (out);
    cr_assert_eq (tu_query_long (s_url, "SELECT count (*) FROM notification_channels "
                                        "WHERE settings::text LIKE '%CliRoutingKey%'"), 0);
    //  A test send raises the sample alert and resolves it.
    cr_assert (asprintf (&args, "test acme pager --channel-key %s --egress-allow-hosts 127.0.0.1",
                         s_channel_key) > 0);
    cr_assert_eq (s_channel_command (&out, args), 0, "%s", out);
    free (out);
    free (args);
    cr_assert_eq (httpsink_count (sink), 2);
    httpsink_request_t request;
    httpsink_request (sink, 1, &request);
    cr_assert (strstr (request.body, "\"resolve\""), "%s", request.body);
    //  Without its key the channel is refused, saying what is missing.
    cr_assert (asprintf (&args, "add acme pager2 --kind pagerduty --channel-key %s "
                         "--egress-allow-hosts 127.0.0.1 --settings '{\"url\": \"%s\"}'",
                         s_channel_key, url) > 0);
    cr_assert_eq (s_channel_command (&out, args), 1, "%s", out);
    cr_assert (strstr (out, "needs routing_key"), "%s", out);
    free (out);
    free (args);
    httpsink_stop (&sink);
}

Test (notify, a_permanent_failure_is_recorded_against_the_channel)
{
    int statuses [] = { 404 };
    char url [64];
    httpsink_t *sink = httpsink_start (statuses, 1, url);
    s_webhook_channel (url, "generic");
    s_fixture ("r1", 0, "scenario-01");
    cr_assert_eq (tu_wait_query (s_url, "SELECT failed_total FROM notification_channels", 1,
                                 10000), 1);
    char *command;
    cr_assert (asprintf (&command, "%s channel list acme --database '%s' > %s/list.out",
                         getenv ("DRIFT_BIN"), s_url, getenv ("DRIFT_TEST_VAR_DIR")) > 0);
    cr_assert_eq (system (command), 0);
    free (command);
    char path [512];
    snprintf (path, sizeof path, "%s/list.out", getenv ("DRIFT_TEST_VAR_DIR"));
    char *listed = tu_read_file (path, NULL);
    cr_assert (strstr (listed, "ops-hook") && strstr (listed, "HTTP 4xx"),
               "drift channel list shows why: %s", listed);
    cr_assert_null (strstr (listed, "test-secret"), "never the secret");
    free (listed);
    //  drift status names it too.
    char *status = s_status ("");
    cr_assert (strstr (status, "channels: 1 failing for good")
            && strstr (status, "acme/ops-hook (webhook)") && strstr (status, "HTTP 4xx"), "%s",
               status);
    free (status);
    zclock_sleep (500);
    cr_assert_eq (httpsink_count (sink), 1, "not retried");
    httpsink_stop (&sink);
}

//  A channel's outcome goes to PostgreSQL as SQL text, its values quoted by
//  libpq (one round trip an email). A reason with quotes in it (this one
//  names '@') must be stored as it is: a quote that ended the literal would
//  fail the record, or run what follows it.
Test (notify, a_failure_reason_with_quotes_is_recorded_as_it_is)
{
    char sql [1024];
    snprintf (sql, sizeof sql,
              "INSERT INTO notification_channels (tenant_id, name, kind, settings, min_severity) "
              "VALUES ('%s', 'ops-mail', 'email', '{\"url\": \"smtp://127.0.0.1:%d\", "
              "\"starttls\": false, \"from\": \"drift@example.com\", "
              "\"to\": [\"ops''); DROP TABLE reports; --\"]}', 4)", s_tenant, s_smtp_port);
    s_exec (sql);
    s_fixture ("r1", 0, "scenario-01");
    cr_assert_eq (tu_wait_query (s_url, "SELECT failed_total FROM notification_channels", 1,
                                 10000), 1);
    cr_assert_eq (tu_query_long (s_url, "SELECT count (*) FROM notification_channels WHERE "
                                        "last_error LIKE '%not a bare address (printable "
                                        "ASCII, one ''@'', no spaces%' AND last_sent_at IS NULL "
                                        "AND sent_total = 0"), 1);
    cr_assert_eq (tu_query_long (s_url, "SELECT count (*) FROM reports"), 1,
                  "the reports table is still there");
    cr_assert_eq (s_mails (), 0);
}

//  --------------------------------------------------------------------------
//  The whole pipeline, as processes

static lu_env_t s_env;
static pid_t s_roles [7];
static int s_role_count;

static void
s_pipeline_setup (void)
{
    log_init ("test", "logfmt", "error");
    lu_setup (&s_env);
    s_url = s_env.database;
    s_app = tu_app_url (s_url);
    tu_archive_env ();
    kv_t *kv = kv_new (getenv ("DRIFT_TEST_REDIS_URL"), 2000);
    cr_assert (kv, "DRIFT_TEST_REDIS_URL is not set: run the tests through scripts/test");
    redisReply *reply = kv_command (kv, "FLUSHALL");
    cr_assert (reply, "Redis is not reachable");
    freeReplyObject (reply);
    kv_destroy (&kv);
    snprintf (s_mail_dir, sizeof s_mail_dir, "%s/mail-%d-%lld", getenv ("DRIFT_TEST_VAR_DIR"),
              (int) getpid (), (long long) clock_mono_ms ());
    cr_assert_eq (mkdir (s_mail_dir, 0700), 0);
    s_smtp_port = tu_free_port ();
    s_role_count = 0;
}

static void
s_pipeline_teardown (void)
{
    for (int i = s_role_count - 1; i >= 0; i--)
        tu_stop (s_roles [i], SIGTERM);
    s_smtp_stop ();
    free (s_app);
    lu_teardown (&s_env);
}

//  Broker, the four stages as drift_app, and (with replayer) the replayer.
static void
s_pipeline_start (bool replayer)
{
    char *log = zsys_sprintf ("%s/pipeline.log", s_env.directory);
    s_roles [s_role_count++] = tu_spawn (log, "broker", "--bind", s_env.broker,
                                         "--heartbeat-ms", "100", "--liveness", "5",
                                         "--log-level", "warn", NULL);
    const char *stages [] = { "normalize", "score", "archive" };
    for (int i = 0; i < 3; i++)
        s_roles [s_role_count++] = tu_spawn (log, stages [i], "--broker", s_env.broker,
                                             "--database", s_app, "--heartbeat-ms", "100",
                                             "--liveness", "5", "--log-level", "warn", NULL);
    s_roles [s_role_count++] = tu_spawn (log, "notify", "--broker", s_env.broker,
                                         "--database", s_app, "--redis",
                                         getenv ("DRIFT_TEST_REDIS_URL"), "--poll-ms", "20",
                                         "--retry-base-ms", "100", "--retry-max-ms", "400",
                                         "--lease-ms", "5000", "--heartbeat-ms", "100",
                                         "--egress-allow-hosts", "127.0.0.1",   // the sinks' host
                                         "--liveness", "5", "--log-level", "warn", NULL);
    if (replayer)
        s_roles [s_role_count++] = tu_spawn (log, "replayer", "--broker", s_env.broker,
                                             "--database", s_app, "--stage", "normalize",
                                             "--deadline-s", "2", "--max-attempts", "50",
                                             "--interval-ms", "200", "--heartbeat-ms", "100",
                                             "--liveness", "5", "--log-level", "warn", NULL);
    zstr_free (&log);
}

//  Run `drift ARGS` with the test's database; its exit code, its standard
//  output in *out (caller frees).
static int
s_drift (char **out, const char *args)
{
    char *command, *path;
    cr_assert (asprintf (&path, "%s/drift.out", s_env.directory) > 0);
    //  The sinks are on loopback: the operator's allowance (actors/notify/egress).
    cr_assert (asprintf (&command, "DRIFT_EGRESS_ALLOW_HOSTS=127.0.0.1 %s %s --database '%s' > %s 2>&1",
                         getenv ("DRIFT_BIN"), args, s_url, path) > 0);
    int status = system (command);
    *out = tu_read_file (path, NULL);
    free (command);
    free (path);
    return WIFEXITED (status) ? WEXITSTATUS (status) : -1;
}

Test (notify_pipeline, redis_restarted_mid_flow_loses_and_doubles_nothing,
      .init = s_pipeline_setup, .fini = s_pipeline_teardown, .timeout = 180)
{
    enum { REPORTS = 20 };
    //  A tenant and agent key to journal the reports under.
    tu_tenant_agent (s_url, "globex", s_tenant, s_key);
    s_smtp_start ();
    s_email_channel (4);
    //  Journal the reports as ingest would: the replayer feeds them.
    char *text = s_plan ("scenario-01", NULL, NULL);
    journal_t *journal = journal_new (s_url, 5000);
    for (int i = 0; i < REPORTS; i++) {
        char id [16], stack [16];
        snprintf (id, sizeof id, "r-%d", i);
        snprintf (stack, sizeof stack, "stack-%d", i);
        Drift__Report report = DRIFT__REPORT__INIT;
        report.report_id = id;
        report.stack = stack;
        report.format = DRIFT__REPORT_FORMAT__REPORT_FORMAT_PLAN_JSON;
        report.payload.data = (uint8_t *) text;
        report.payload.len = strlen (text);
        report.uncompressed_size = strlen (text);
        report.engine = (char *) "terraform";
        size_t size = drift__report__get_packed_size (&report);
        uint8_t *raw = (uint8_t *) malloc (size);
        drift__report__pack (&report, raw);
        Drift__Envelope envelope = DRIFT__ENVELOPE__INIT, *pointer = &envelope;
        envelope.tenant = s_tenant;
        envelope.agent_key = s_key;
        envelope.report_id = id;
        envelope.stack = stack;
        envelope.received_us = T0 + i * MINUTE;
        envelope.body_case = DRIFT__ENVELOPE__BODY_RAW;
        envelope.raw.data = raw;
        envelope.raw.len = size;
        int64_t journal_id;
        cr_assert_eq (journal_send (journal, &pointer, 1, 0, &journal_id), 0);
        free (raw);
    }
    journal_destroy (&journal);
    free (text);

    s_pipeline_start (true);
    cr_assert_geq (s_wait_mails (4, 60000), 4, "the flow started");
    cr_assert_eq (system (getenv ("DRIFT_TEST_REDIS_RESTART")), 0, "Redis restarted");
    long acked = tu_wait_query (s_url, "SELECT count (*) FROM pgmq.a_drift_journal", REPORTS,
                                60000);
    cr_assert_eq (acked, REPORTS, "every report finished");
    cr_assert_eq (s_wait_mails (REPORTS, 30000), REPORTS, "every report told");
    zclock_sleep (1500);
    cr_assert_eq (s_mails (), REPORTS, "none told twice");
    //  Twenty different messages, one per stack.
    zhashx_t *ids = zhashx_new ();
    for (int n = 1; n <= REPORTS; n++) {
        json_t *mail = s_mail (n);
        zhashx_insert (ids, s_header (mail, "Message-ID"), (void *) 1);
        json_decref (mail);
    }
    cr_assert_eq (zhashx_size (ids), REPORTS);
    zhashx_destroy (&ids);
    cr_assert_eq (tu_query_long (s_url, "SELECT count (*) FROM pgmq.q_drift_dead"), 0);
}

Test (notify_pipeline, a_critical_fixture_from_drift_agent_ends_as_one_email_and_one_webhook,
      .init = s_pipeline_setup, .fini = s_pipeline_teardown, .timeout = 180)
{
    s_smtp_start ();
    char url [64];
    httpsink_t *sink = httpsink_start (NULL, 0, url);
    //  Channels through the operator's command, as a platform team adds them.
    char *out, *settings;
    cr_assert (asprintf (&settings, "channel add acme ops-mail --kind email --settings "
                         "'{\"url\": \"smtp://127.0.0.1:%d\", \"starttls\": false, "
                         "\"from\": \"drift@example.com\", \"to\": [\"ops@example.com\"]}'",
                         s_smtp_port) > 0);
    cr_assert_eq (s_drift (&out, settings), 0, "%s", out);
    free (out);
    free (settings);
    cr_assert (asprintf (&settings, "channel add acme ops-hook --kind webhook --min-severity "
                         "critical --settings '{\"url\": \"%s\", \"format\": \"generic\"}'",
                         url) > 0);
    cr_assert_eq (s_drift (&out, settings), 0, "%s", out);
    char *secret_at = strstr (out, "shown once");
    cr_assert (secret_at, "a webhook gets a signing secret, shown once: %s", out);
    char secret [65];
    cr_assert_eq (sscanf (strrchr (out, ':') + 1, " %64s", secret), 1);
    free (out);
    free (settings);

    s_pipeline_start (false);
    //  Heartbeats as the pipeline's broker expects them (100 ms x 5): at
    //  ingest's default of 1 s that broker expires it between heartbeats.
    lu_ingest_start (&s_env, "--heartbeat-ms", "100", "--liveness", "5", NULL);
    cr_assert_gt (lu_wait_stat (&s_env, "broker_credit", 1, 10000), 0);
    char *certificate = lu_issue (&s_env, "acme", "web-prod");
    char *fixture = tu_fixture_path ("scenario-01.plan.json");
    char *spool;
    cr_assert (asprintf (&spool, "%s/spool", s_env.directory) > 0);
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

    cr_assert_eq (s_wait_mails (1, 20000), 1, "one email");
    cr_assert_eq (s_wait_requests (sink, 1, 20000), 1, "one webhook call");
    cr_assert_eq (tu_wait_query (s_url, "SELECT count (*) FROM pgmq.a_drift_journal "
                                        "WHERE message->>'stack' = 'payments'", 1, 20000), 1,
                  "the journal entry archived");
    httpsink_request_t request;
    httpsink_request (sink, 0, &request);
    cr_assert_eq (webhook_verify (secret, request.signature, request.body, request.size,
                                  zclock_time () / 1000, 300), 0,
                  "signed with the secret drift channel add printed");
    json_t *mail = s_mail (1);
    cr_assert (strstr (s_header (mail, "Subject"), "critical"), "%s", s_header (mail, "Subject"));
    json_decref (mail);

    zclock_sleep (1000);
    cr_assert_eq (s_mails (), 1);
    cr_assert_eq (httpsink_count (sink), 1);
    cr_assert_eq (s_drift (&out, "channel list acme"), 0, "%s", out);
    cr_assert (strstr (out, "ops-mail") && strstr (out, "ops-hook"), "%s", out);
    cr_assert_null (strstr (out, secret), "the list never shows the secret");
    free (out);
    cr_assert_eq (tu_query_long (s_url, "SELECT sum (sent_total) FROM notification_channels"), 2);

    //  drift channel test sends a sample at once.
    cr_assert_eq (s_drift (&out, "channel test acme ops-mail"), 0, "%s", out);
    free (out);
    cr_assert_eq (s_wait_mails (2, 10000), 2, "the test notice arrived");
    httpsink_stop (&sink);
    free (spool);
    free (fixture);
    free (certificate);
}

Test (notify, a_digest_channel_tells_several_reports_in_one_message)
{
    s_smtp_start ();
    char sql [1024];
    snprintf (sql, sizeof sql,
              "INSERT INTO notification_channels (tenant_id, name, kind, settings, min_severity, "
              "digest_seconds) VALUES ('%s', 'ops-digest', 'email', '{\"url\": "
              "\"smtp://127.0.0.1:%d\", \"starttls\": false, \"from\": \"drift@example.com\", "
              "\"to\": [\"ops@example.com\"]}', 4, 2)", s_tenant, s_smtp_port);
    s_exec (sql);
    char *text = s_plan ("scenario-01", NULL, NULL);
    char *other = s_plan ("scenario-05", NULL, NULL);
    Drift__Envelope *first = s_envelope ("r1", "payments", 0, text, false);
    Drift__Envelope *second = s_envelope ("r2", "sessions", 0, other, false);
    //  Windows are aligned to the wall clock: start just after one begins,
    //  so both reports fall into the same window.
    zclock_sleep ((int) (2000 - clock_wall_us () / 1000 % 2000) + 20);
    s_process (first);
    s_process (second);
    cr_assert_eq (s_acked ("r1") + s_acked ("r2"), 2, "both reports finished at once");
    //  One message at the end of the window (2 s), naming both stacks.
    cr_assert_eq (s_wait_mails (1, 10000), 1);
    zclock_sleep (2500);
    cr_assert_eq (s_mails (), 1, "one digest");
    json_t *mail = s_mail (1);
    const char *body = s_part (mail, "text/plain");
    cr_assert (strstr (body, "payments") && strstr (body, "sessions")
            && strstr (body, "aws_security_group.web")
            && strstr (body, "aws_dynamodb_table.sessions"), "both reports: %s", body);
    json_decref (mail);
    drift__envelope__free_unpacked (first, NULL);
    drift__envelope__free_unpacked (second, NULL);
    free (text);
    free (other);
}

//  One batch of 32 reports, each opening drift on a stack of its own: the
//  process's senders (4 by default) claim the deliveries a few at a time,
//  in parallel, and every stack is told exactly once.
Test (notify, a_batch_of_news_is_sent_by_several_senders_each_message_once)
{
    enum { REPORTS = 32 };
    s_smtp_start ();
    s_email_channel (4);
    char *text = s_plan ("scenario-01", NULL, NULL);
    Drift__Envelope *envelopes [REPORTS];
    for (int i = 0; i < REPORTS; i++) {
        char id [16], stack [32];
        snprintf (id, sizeof id, "r%d", i);
        snprintf (stack, sizeof stack, "stack-%02d", i);
        envelopes [i] = s_envelope (id, stack, 0, text, false);
        cr_assert_eq (archive_actor.fn (s_archive, envelopes [i]), STAGE_FORWARD);
    }
    cr_assert_eq (archive_actor.flush (s_archive), 0);
    for (int i = 0; i < REPORTS; i++)
        cr_assert_eq (notify_actor.fn (s_notify, envelopes [i]), STAGE_FORWARD);
    cr_assert_eq (notify_actor.flush (s_notify), 0);
    cr_assert_eq (s_wait_mails (REPORTS, 20000), REPORTS);
    zclock_sleep (1000);
    cr_assert_eq (s_mails (), REPORTS, "no message sent twice by two senders");
    int told [REPORTS] = { 0 };
    for (int n = 1; n <= REPORTS; n++) {
        json_t *mail = s_mail (n);
        const char *subject = s_header (mail, "Subject");
        const char *at = strstr (subject, "stack-");
        cr_assert (at, "a subject names its stack: %s", subject);
        int which = atoi (at + 6);
        cr_assert (which >= 0 && which < REPORTS);
        told [which]++;
        json_decref (mail);
    }
    for (int i = 0; i < REPORTS; i++) {
        cr_assert_eq (told [i], 1, "stack-%02d told %d times", i, told [i]);
        drift__envelope__free_unpacked (envelopes [i], NULL);
    }
    free (text);
}
