/*  mail: actors/notify/mail against a real SMTP server.

    Every test that sends starts tests/smtp/smtp_sink.py (aiosmtpd, run by
    /usr/bin/python3) on a free port, sends through actors/notify/mail, and asserts on
    what the server kept: the message as tests/smtp/mail_to_json.py parses
    it with Python's email package (decoded headers, decoded parts, line
    lengths), and what only the server saw (envelope, TLS, login). Nothing
    is checked by grepping raw text: a test that agrees with our own encoder
    would prove nothing about what a mail client reads.

    TLS uses a CA and a server certificate for 127.0.0.1 made with openssl
    in the test's scratch directory, plus a second CA that did not sign it.
*/
#define _GNU_SOURCE                 // asprintf
#include "../actors/notify/mail.h"
#include "testutil.h"

#include <criterion/criterion.h>
#include <dirent.h>
#include <arpa/inet.h>
#include <jansson.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define PYTHON "/usr/bin/python3"

static char s_dir [256];            // this test's scratch directory
static char s_mail_dir [300];       // where the sink files messages
static pid_t s_sink;                // the running sink, 0 when none
static int s_sink_stdout = -1;      // read end of the sink's stdout
static int s_port;                  // the sink's port

static void
s_setup (void)
{
    const char *var = getenv ("DRIFT_TEST_VAR_DIR");
    snprintf (s_dir, sizeof s_dir, "%s/drift-test-mail-XXXXXX", var && *var ? var : "/tmp");
    cr_assert (mkdtemp (s_dir));
    snprintf (s_mail_dir, sizeof s_mail_dir, "%s/mail", s_dir);
    s_sink = 0;
    s_port = 0;
}

static void
s_teardown (void)
{
    if (s_sink > 0)
        tu_stop (s_sink, SIGTERM);
    s_sink = 0;
    if (s_sink_stdout >= 0)
        close (s_sink_stdout);
    s_sink_stdout = -1;
    char *command;
    cr_assert (asprintf (&command, "rm -rf '%s'", s_dir) > 0);
    cr_assert (system (command) == 0);
    free (command);
}

TestSuite (mail, .init = s_setup, .fini = s_teardown);

//  --------------------------------------------------------------------------
//  The server, its certificates, what it kept

static char *
s_source (const char *relative)
{
    const char *root = getenv ("DRIFT_SOURCE_DIR");
    cr_assert (root && *root, "DRIFT_SOURCE_DIR is not set: run the tests through scripts/test");
    char *path;
    cr_assert (asprintf (&path, "%s/%s", root, relative) > 0);
    return path;
}

//  Start the sink with extra arguments (NULL-terminated) and wait for its
//  "ready"; fails the test if it does not come within 10 s.
static void
s_sink_start (const char *arg, ...)
{
    char *script = s_source ("tests/smtp/smtp_sink.py");
    char port [16], log [320];
    if (!s_port)                    // s_sink_restart keeps the port
        s_port = tu_free_port ();
    snprintf (port, sizeof port, "%d", s_port);
    snprintf (log, sizeof log, "%s/sink.log", s_dir);
    char *argv [32] = { PYTHON, script, "--port", port, "--dir", s_mail_dir };
    int argc = 6;
    va_list args;
    va_start (args, arg);
    for (const char *next = arg; next && argc < 31; next = va_arg (args, const char *))
        argv [argc++] = (char *) next;
    va_end (args);
    argv [argc] = NULL;

    int fds [2];
    cr_assert (pipe (fds) == 0);
    pid_t parent = getpid ();
    pid_t pid = fork ();
    cr_assert (pid >= 0);
    if (pid == 0) {
        tu_die_with_parent (parent);
        dup2 (fds [1], 1);
        close (fds [0]);
        close (fds [1]);
        FILE *err = fopen (log, "a");
        if (err)
            dup2 (fileno (err), 2);
        execv (PYTHON, argv);
        _exit (127);
    }
    close (fds [1]);
    s_sink = pid;
    s_sink_stdout = fds [0];
    free (script);

    char seen [64] = "";
    size_t size = 0;
    while (!strstr (seen, "ready\n")) {
        struct pollfd item = { .fd = s_sink_stdout, .events = POLLIN };
        cr_assert (poll (&item, 1, 10000) == 1, "smtp_sink did not say ready (see %s)", log);
        ssize_t got = read (s_sink_stdout, seen + size, sizeof seen - 1 - size);
        cr_assert (got > 0, "smtp_sink exited before ready (see %s)", log);
        size += (size_t) got;
        seen [size] = '\0';
    }
}

//  A CA, a server certificate for 127.0.0.1 signed by it, and a second CA
//  that signed nothing, in DIR/certs.
static void
s_make_certs (void)
{
    char *command;
    cr_assert (asprintf (&command,
        "set -e; mkdir -p '%1$s/certs'; cd '%1$s/certs'; "
        "EC='-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes'; "
        "openssl req -x509 $EC -keyout ca.key -out ca.pem -days 2 -subj /CN=drift-test-ca; "
        "openssl req -x509 $EC -keyout other.key -out other-ca.pem -days 2 -subj /CN=other-ca; "
        "openssl req $EC -keyout server.key -out server.csr -subj /CN=127.0.0.1; "
        "printf 'subjectAltName=IP:127.0.0.1\\nbasicConstraints=CA:FALSE\\n"
        "extendedKeyUsage=serverAuth\\n' > server.ext; "
        "openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial "
        "-out server.pem -days 2 -extfile server.ext; "
        "chmod 600 *.key", s_dir) > 0);
    char *quiet;
    cr_assert (asprintf (&quiet, "(%s) >'%s/openssl.log' 2>&1", command, s_dir) > 0);
    cr_assert (system (quiet) == 0, "openssl failed: see %s/openssl.log", s_dir);
    free (command);
    free (quiet);
}

static char *
s_cert (const char *name)
{
    char *path;
    cr_assert (asprintf (&path, "%s/certs/%s", s_dir, name) > 0);
    return path;
}

static char *
s_url (const char *scheme, int port)
{
    char *url;
    cr_assert (asprintf (&url, "%s://127.0.0.1:%d", scheme, port) > 0);
    return url;
}

static int
s_message_count (void)
{
    DIR *dir = opendir (s_mail_dir);
    if (!dir)
        return 0;
    int count = 0;
    struct dirent *entry;
    while ((entry = readdir (dir))) {
        size_t length = strlen (entry->d_name);
        if (length > 4 && strcmp (entry->d_name + length - 4, ".eml") == 0)
            count++;
    }
    closedir (dir);
    return count;
}

//  Message number n as mail_to_json.py sees it.
static json_t *
s_message (int n)
{
    char *script = s_source ("tests/smtp/mail_to_json.py");
    char *command;
    cr_assert (asprintf (&command, "%s '%s' '%s/%04d.eml'", PYTHON, script, s_mail_dir, n) > 0);
    FILE *pipe = popen (command, "r");
    cr_assert (pipe);
    json_error_t error;
    json_t *message = json_loadf (pipe, 0, &error);
    cr_assert (pclose (pipe) == 0, "mail_to_json.py failed on message %d", n);
    cr_assert (message, "mail_to_json.py: %s", error.text);
    free (command);
    free (script);
    return message;
}

//  What the sink saw of message n: mail_from, rcpt_tos, tls, auth_user.
static json_t *
s_meta (int n)
{
    char path [400];
    snprintf (path, sizeof path, "%s/%04d.json", s_mail_dir, n);
    json_error_t error;
    json_t *meta = json_load_file (path, 0, &error);
    cr_assert (meta, "%s: %s", path, error.text);
    return meta;
}

//  The value of the one header called name (any case); fails the test if
//  it is missing or there twice.
static const char *
s_header (json_t *message, const char *name)
{
    const char *value = NULL;
    int count = 0;
    size_t index;
    json_t *pair;
    json_array_foreach (json_object_get (message, "header_list"), index, pair) {
        if (strcasecmp (json_string_value (json_array_get (pair, 0)), name) == 0) {
            value = json_string_value (json_array_get (pair, 1));
            count++;
        }
    }
    cr_assert_eq (count, 1, "header %s appears %d times", name, count);
    return value;
}

static const char *
s_part (json_t *message, size_t index, const char *field)
{
    json_t *part = json_array_get (json_object_get (message, "parts"), index);
    cr_assert (part, "no part %zu", index);
    return json_string_value (json_object_get (part, field));
}

//  --------------------------------------------------------------------------
//  The notice

#define STACK "zahlungen-\xC3\xBC"  // "zahlungen-ü"

static const notice_item_t s_items [] = {
    { .fingerprint = "fp-1", .address = "aws_security_group.web", .type = "aws_security_group",
      .kind = "modified", .severity = 5, .score = 0.9, .stack = STACK, .report_id = "rep-42",
      .changes = "[{\"path\":\"ingress[0].cidr_blocks[0]\",\"op\":\"update\","
                 "\"before\":\"10.0.0.0/8\",\"after\":\"0.0.0.0/0\"},"
                 "{\"path\":\"tags.Owner\",\"op\":\"update\","
                 "\"before\":\"team <payments> & ops\",\"after\":\"nobody\"}]",
      .reasons = "[{\"rule\":\"sg-open-world\",\"severity\":\"critical\","
                 "\"reason\":\"Ingress open to 0.0.0.0/0 on port 22 <ssh>\",\"path\":\"ingress[0]\"}]" },
    { .fingerprint = "fp-2", .address = "aws_db_instance.main", .type = "aws_db_instance",
      .kind = "modified", .severity = 4, .score = 0.7, .stack = STACK, .report_id = "rep-42",
      .changes = "[{\"path\":\"password\",\"op\":\"update\",\"before\":\"(sensitive:3f2a9c1d)\","
                 "\"after\":\"(sensitive:77b0e4aa)\",\"sensitive\":true},"
                 "{\"path\":\"backup_retention_period\",\"op\":\"update\",\"before\":7,\"after\":0}]",
      .reasons = "[{\"rule\":\"db-backups-off\",\"severity\":\"high\","
                 "\"reason\":\"Automated backups disabled\",\"path\":\"backup_retention_period\"}]" },
    { .fingerprint = "fp-3", .address = "aws_s3_bucket.logs", .type = "aws_s3_bucket",
      .kind = "modified", .severity = 3, .score = 0.4, .stack = STACK, .report_id = "rep-42",
      .resolved = true,
      .changes = "[{\"path\":\"versioning.enabled\",\"op\":\"update\",\"before\":true,\"after\":false}]",
      .reasons = "[{\"rule\":\"s3-versioning\",\"severity\":\"medium\","
                 "\"reason\":\"Bucket versioning turned off\",\"path\":\"versioning.enabled\"}]" },
};

static notice_t
s_notice (void)
{
    notice_t notice = {
        .delivery_id = "dlv-7f3a.42", .tenant = "acme", .stack = STACK, .report_id = "rep-42",
        .received_us = 1795781375000000LL, .severity = 5, .score = 87,
        .items = s_items, .item_count = 3, .digest = false
    };
    return notice;
}

static const char *s_to [] = { "ops@example.com", "oncall@example.com" };

static mail_config_t
s_config (const char *url)
{
    mail_config_t config = {
        .url = url, .from = "drift <drift@example.com>", .to = s_to, .to_count = 2,
        .timeout_ms = 5000, .allow_hosts = "127.0.0.1"      // the sink is on loopback
    };
    return config;
}

//  --------------------------------------------------------------------------
//  Tests

Test (mail, subject_names_stack_counts_and_severity)
{
    notice_t notice = s_notice ();
    notice.stack = "payments";
    char *subject = mail_subject (&notice);
    cr_assert_str_eq (subject, "[drift] payments: 2 new drift, 1 resolved (critical)");
    free (subject);
}

Test (mail, delivers_one_multipart_message_a_client_can_read)
{
    s_sink_start (NULL);
    char *url = s_url ("smtp", s_port);
    mail_config_t config = s_config (url);
    notice_t notice = s_notice ();
    char error [512];
    send_result_t result = mail_send (&config, &notice, error, sizeof error);
    cr_assert_eq (result, SEND_OK, "%s", error);
    cr_assert_eq (s_message_count (), 1);

    json_t *meta = s_meta (1);
    cr_assert_str_eq (json_string_value (json_object_get (meta, "mail_from")), "drift@example.com");
    json_t *rcpt = json_object_get (meta, "rcpt_tos");
    cr_assert_eq (json_array_size (rcpt), 2);
    cr_assert_str_eq (json_string_value (json_array_get (rcpt, 0)), "ops@example.com");
    cr_assert_str_eq (json_string_value (json_array_get (rcpt, 1)), "oncall@example.com");
    cr_assert (json_is_false (json_object_get (meta, "tls")));

    json_t *message = s_message (1);
    const char *date = s_header (message, "Date");
    cr_assert (strstr (date, "+0000") && strchr (date, ','), "Date: %s", date);
    cr_assert_str_eq (s_header (message, "Message-ID"), "<dlv-7f3a.42@drift>");
    cr_assert_str_eq (s_header (message, "X-Drift-Delivery"), "dlv-7f3a.42");
    cr_assert_str_eq (s_header (message, "From"), "drift <drift@example.com>");
    cr_assert_str_eq (s_header (message, "To"), "ops@example.com, oncall@example.com");
    cr_assert_str_eq (s_header (message, "MIME-Version"), "1.0");
    const char *subject = s_header (message, "Subject");
    cr_assert_str_eq (subject, "[drift] " STACK ": 2 new drift, 1 resolved (critical)");
    cr_assert (strstr (s_header (message, "Content-Type"), "multipart/alternative"));

    cr_assert_eq (json_array_size (json_object_get (message, "parts")), 2);
    cr_assert_str_eq (s_part (message, 0, "content_type"), "text/plain");
    cr_assert_str_eq (s_part (message, 1, "content_type"), "text/html");
    const char *needles [] = {
        "aws_security_group.web", "aws_db_instance.main", "aws_s3_bucket.logs",
        "Automated backups disabled", "Bucket versioning turned off",
        "ingress[0].cidr_blocks[0]", "tags.Owner", "password", "backup_retention_period",
        "versioning.enabled", "(sensitive:3f2a9c1d)", "(sensitive:77b0e4aa)", "0.0.0.0/0",
        "critical", "acme", "rep-42", "2026-11-27T", "Resolved", STACK
    };
    for (size_t index = 0; index < 2; index++) {
        json_t *part = json_array_get (json_object_get (message, "parts"), index);
        cr_assert_str_eq (s_part (message, index, "charset"), "utf-8");
        cr_assert_str_eq (s_part (message, index, "transfer_encoding"), "quoted-printable");
        cr_assert_leq (json_integer_value (json_object_get (part, "max_line_length")), 76);
        const char *body = s_part (message, index, "body");
        for (size_t n = 0; n < sizeof needles / sizeof *needles; n++)
            cr_assert (strstr (body, needles [n]), "part %zu lacks %s:\n%s", index, needles [n], body);
    }
    const char *text = s_part (message, 0, "body");
    cr_assert (strstr (text, "Ingress open to 0.0.0.0/0 on port 22 <ssh>"));
    cr_assert (strstr (text, "team <payments> & ops \xE2\x86\x92 nobody"));
    const char *html = s_part (message, 1, "body");
    cr_assert (strstr (html, "Ingress open to 0.0.0.0/0 on port 22 &lt;ssh&gt;"), "%s", html);
    cr_assert (strstr (html, "team &lt;payments&gt; &amp; ops"));
    cr_assert_null (strstr (html, "<payments>"));
    cr_assert_null (strstr (html, "<ssh>"));
    cr_assert_leq (json_integer_value (json_object_get (message, "max_line_length")), 998);

    json_decref (message);
    json_decref (meta);
    free (url);
}

Test (mail, cuts_long_values_and_keeps_a_hostile_stack_name_in_the_subject)
{
    s_sink_start (NULL);
    char *url = s_url ("smtp", s_port);
    mail_config_t config = s_config (url);
    char long_value [400];
    memset (long_value, 'y', 300);
    long_value [300] = '\0';
    char *changes;
    cr_assert (asprintf (&changes, "[{\"path\":\"user_data\",\"op\":\"update\",\"before\":\"a\","
                                   "\"after\":\"%s\"}]", long_value) > 0);
    notice_item_t item = s_items [0];
    item.changes = changes;
    item.stack = "evil\r\nBcc: victim@example.com";
    notice_t notice = s_notice ();
    notice.stack = item.stack;
    notice.items = &item;
    notice.item_count = 1;
    char error [512];
    cr_assert_eq (mail_send (&config, &notice, error, sizeof error), SEND_OK, "%s", error);

    json_t *message = s_message (1);
    json_t *headers = json_object_get (message, "headers");
    cr_assert_null (json_object_get (headers, "Bcc"));
    const char *subject = s_header (message, "Subject");
    cr_assert (strstr (subject, "Bcc: victim@example.com"), "%s", subject);
    cr_assert_null (strchr (subject, '\n'));
    json_t *meta = s_meta (1);
    cr_assert_eq (json_array_size (json_object_get (meta, "rcpt_tos")), 2);
    json_decref (meta);
    const char *text = s_part (message, 0, "body");
    cr_assert_null (strstr (text, long_value));
    long_value [200] = '\0';
    cr_assert (strstr (text, long_value));
    cr_assert (strstr (text, "\xE2\x80\xA6"));
    json_decref (message);
    free (changes);
    free (url);
}

Test (mail, digest_groups_items_by_stack)
{
    s_sink_start (NULL);
    char *url = s_url ("smtp", s_port);
    mail_config_t config = s_config (url);
    notice_item_t items [3] = { s_items [0], s_items [1], s_items [2] };
    items [1].stack = "billing";
    items [1].report_id = "rep-43";
    notice_t notice = s_notice ();
    notice.digest = true;
    notice.stack = "";
    notice.report_id = "";
    notice.items = items;
    char error [512];
    cr_assert_eq (mail_send (&config, &notice, error, sizeof error), SEND_OK, "%s", error);
    json_t *message = s_message (1);
    const char *subject = s_header (message, "Subject");
    cr_assert (strstr (subject, "acme digest, 2 stacks"), "%s", subject);
    const char *text = s_part (message, 0, "body");
    const char *first = strstr (text, "Stack " STACK);
    const char *second = strstr (text, "Stack billing");
    cr_assert (first && second, "%s", text);
    //  billing's item sits under billing, the other stack's items before it.
    cr_assert (strstr (second, "aws_db_instance.main"));
    cr_assert (strstr (first, "aws_security_group.web") < second);
    cr_assert (strstr (text, "rep-43"));
    json_decref (message);
    free (url);
}

Test (mail, a_failed_check_is_told_with_its_reason_and_a_recovery_after_it)
{
    notice_check_t failed = {
        .stack = STACK, .report_id = "rep-44", .state = NOTICE_CHECK_FAILED,
        .reason = "terraform plan exited 1: Error: <no valid credential sources>",
        .received_us = 1795780800000000LL
    };
    notice_t notice = s_notice ();
    notice.stack = "payments";
    notice.items = NULL;
    notice.item_count = 0;
    notice.checks = &failed;
    notice.check_count = 1;
    notice.severity = NOTICE_CHECK_SEVERITY;
    char *subject = mail_subject (&notice);
    cr_assert_str_eq (subject, "[drift] payments: check failed (high)");
    free (subject);
    failed.state = NOTICE_CHECK_SILENT;
    subject = mail_subject (&notice);
    cr_assert_str_eq (subject, "[drift] payments: no report lately (high)");
    free (subject);
    //  Good news alone names no severity.
    failed.state = NOTICE_CHECK_RESUMED;
    notice.severity = 0;
    subject = mail_subject (&notice);
    cr_assert_str_eq (subject, "[drift] payments: reporting again");
    free (subject);
    failed.state = NOTICE_CHECK_FAILED;
    notice.severity = NOTICE_CHECK_SEVERITY;

    s_sink_start (NULL);
    char *url = s_url ("smtp", s_port);
    mail_config_t config = s_config (url);
    notice.stack = STACK;
    char error [512];
    cr_assert_eq (mail_send (&config, &notice, error, sizeof error), SEND_OK, "%s", error);
    json_t *message = s_message (1);
    const char *text = s_part (message, 0, "body");
    cr_assert (strstr (text, "The drift check of 1 stack failed."), "%s", text);
    cr_assert_null (strstr (text, "drift found"), "no drift sentence for a failed check: %s", text);
    cr_assert (strstr (text, "== Check failed ==") && strstr (text, "rep-44"), "%s", text);
    cr_assert (strstr (text, "Reason: terraform plan exited 1: Error: <no valid credential"), "%s",
               text);
    const char *html = s_part (message, 1, "body");
    cr_assert (strstr (html, "<h2>Check failed</h2>"), "%s", html);
    cr_assert (strstr (html, "&lt;no valid credential sources&gt;"), "escaped: %s", html);
    json_decref (message);

    //  It works again, with new drift in the same report.
    notice_check_t recovered = {
        .stack = STACK, .report_id = "rep-45", .state = NOTICE_CHECK_RECOVERED, .reason = "",
        .received_us = 1795784400000000LL
    };
    notice = s_notice ();
    notice.checks = &recovered;
    notice.check_count = 1;
    cr_assert_eq (mail_send (&config, &notice, error, sizeof error), SEND_OK, "%s", error);
    message = s_message (2);
    cr_assert_str_eq (s_header (message, "Subject"),
                      "[drift] " STACK ": 2 new drift, 1 resolved, check works again (critical)");
    text = s_part (message, 0, "body");
    cr_assert (strstr (text, "The drift check of 1 stack works again. drift found 2 new"), "%s",
               text);
    cr_assert (strstr (text, "== Check works again =="), "%s", text);
    cr_assert (strstr (text, "== Check works again ==") < strstr (text, "aws_security_group.web"),
               "the check before the drift: %s", text);
    json_decref (message);
    free (url);
}

Test (mail, starttls_with_the_test_ca_is_delivered_encrypted)
{
    s_make_certs ();
    char *cert = s_cert ("server.pem"), *key = s_cert ("server.key"), *ca = s_cert ("ca.pem");
    s_sink_start ("--tls-cert", cert, "--tls-key", key, "--require-starttls", NULL);
    char *url = s_url ("smtp", s_port);
    mail_config_t config = s_config (url);
    config.starttls = true;
    config.ca_file = ca;
    notice_t notice = s_notice ();
    char error [512];
    cr_assert_eq (mail_send (&config, &notice, error, sizeof error), SEND_OK, "%s", error);
    json_t *meta = s_meta (1);
    cr_assert (json_is_true (json_object_get (meta, "tls")));
    json_decref (meta);
    free (url);
    free (cert);
    free (key);
    free (ca);
}

Test (mail, starttls_with_an_untrusted_certificate_is_permanent)
{
    s_make_certs ();
    char *cert = s_cert ("server.pem"), *key = s_cert ("server.key");
    char *other = s_cert ("other-ca.pem");
    s_sink_start ("--tls-cert", cert, "--tls-key", key, "--require-starttls", NULL);
    char *url = s_url ("smtp", s_port);
    mail_config_t config = s_config (url);
    config.starttls = true;
    config.ca_file = other;
    notice_t notice = s_notice ();
    char error [512];
    cr_assert_eq (mail_send (&config, &notice, error, sizeof error), SEND_PERMANENT);
    cr_assert (strstr (error, "certificate"), "%s", error);
    cr_assert (strstr (error, url), "%s", error);
    cr_assert_eq (s_message_count (), 0);
    free (url);
    free (cert);
    free (key);
    free (other);
}

Test (mail, starttls_required_but_not_offered_is_permanent)
{
    s_sink_start (NULL);
    char *url = s_url ("smtp", s_port);
    mail_config_t config = s_config (url);
    config.starttls = true;
    notice_t notice = s_notice ();
    char error [512];
    cr_assert_eq (mail_send (&config, &notice, error, sizeof error), SEND_PERMANENT);
    cr_assert (strstr (error, "TLS"), "%s", error);
    cr_assert_eq (s_message_count (), 0);
    free (url);
}

Test (mail, smtps_is_delivered_encrypted)
{
    s_make_certs ();
    char *cert = s_cert ("server.pem"), *key = s_cert ("server.key"), *ca = s_cert ("ca.pem");
    s_sink_start ("--tls-cert", cert, "--tls-key", key, "--smtps", NULL);
    char *url = s_url ("smtps", s_port);
    mail_config_t config = s_config (url);
    config.ca_file = ca;
    notice_t notice = s_notice ();
    char error [512];
    cr_assert_eq (mail_send (&config, &notice, error, sizeof error), SEND_OK, "%s", error);
    json_t *meta = s_meta (1);
    cr_assert (json_is_true (json_object_get (meta, "tls")));
    json_decref (meta);
    free (url);
    free (cert);
    free (key);
    free (ca);
}

//  The sink with AUTH required and STARTTLS offered, certificates made.
static void
s_auth_sink_start (void)
{
    s_make_certs ();
    char *cert = s_cert ("server.pem"), *key = s_cert ("server.key");
    s_sink_start ("--tls-cert", cert, "--tls-key", key, "--auth-user", "drift-mailer",
                  "--auth-password", "s3cret-Pa55", NULL);
    free (cert);
    free (key);
}

//  What the sink's auth.log holds (caller frees; "" when nothing logged in).
static char *
s_auth_log (void)
{
    char path [400];
    snprintf (path, sizeof path, "%s/auth.log", s_mail_dir);
    char *text = tu_read_file (path, NULL);
    return text ? text : strdup ("");
}

Test (mail, auth_with_the_right_password_is_delivered)
{
    s_auth_sink_start ();
    char *url = s_url ("smtp", s_port), *ca = s_cert ("ca.pem");
    mail_config_t config = s_config (url);
    config.starttls = true;
    config.ca_file = ca;
    config.username = "drift-mailer";
    config.password = "s3cret-Pa55";
    notice_t notice = s_notice ();
    char error [512];
    cr_assert_eq (mail_send (&config, &notice, error, sizeof error), SEND_OK, "%s", error);
    json_t *meta = s_meta (1);
    cr_assert_str_eq (json_string_value (json_object_get (meta, "auth_user")), "drift-mailer");
    json_decref (meta);
    char *log = s_auth_log ();
    cr_assert (strstr (log, "tls=1 login=drift-mailer"), "%s", log);
    free (log);
    free (url);
    free (ca);
}

Test (mail, credentials_never_cross_a_plain_session)
{
    //  The attack: an admin points a channel with a login at their own
    //  server and turns STARTTLS off, to read the password in clear.
    s_auth_sink_start ();
    char *url = s_url ("smtp", s_port);
    mail_config_t config = s_config (url);
    config.starttls = false;
    config.username = "drift-mailer";
    config.password = "s3cret-Pa55";
    notice_t notice = s_notice ();
    char error [512];
    cr_assert_eq (mail_send (&config, &notice, error, sizeof error), SEND_PERMANENT);
    cr_assert (strstr (error, "only over TLS"), "%s", error);
    char *log = s_auth_log ();
    cr_assert_str_empty (log, "the server saw an AUTH: %s", log);
    free (log);
    cr_assert_eq (s_message_count (), 0);
    free (url);
}

Test (mail, an_internal_server_is_refused_unless_the_operator_allows_it)
{
    s_sink_start (NULL);
    char *url = s_url ("smtp", s_port);
    mail_config_t config = s_config (url);
    config.allow_hosts = NULL;
    notice_t notice = s_notice ();
    char error [512];
    cr_assert_eq (mail_send (&config, &notice, error, sizeof error), SEND_PERMANENT);
    cr_assert (strstr (error, "internal address"), "%s", error);
    cr_assert_eq (s_message_count (), 0);
    config.allow_hosts = "smtp.example.com, 127.0.0.1";
    cr_assert_eq (mail_send (&config, &notice, error, sizeof error), SEND_OK, "%s", error);
    cr_assert_eq (s_message_count (), 1);
    free (url);
}

Test (mail, auth_required_but_not_configured_is_permanent)
{
    s_sink_start ("--auth-user", "drift-mailer", "--auth-password", "s3cret-Pa55", NULL);
    char *url = s_url ("smtp", s_port);
    mail_config_t config = s_config (url);
    notice_t notice = s_notice ();
    char error [512];
    cr_assert_eq (mail_send (&config, &notice, error, sizeof error), SEND_PERMANENT);
    cr_assert (strstr (error, "530"), "%s", error);
    free (url);
}

Test (mail, server_down_is_transient)
{
    char *url = s_url ("smtp", tu_free_port ());
    mail_config_t config = s_config (url);
    notice_t notice = s_notice ();
    char error [512];
    cr_assert_eq (mail_send (&config, &notice, error, sizeof error), SEND_TRANSIENT);
    cr_assert (strstr (error, url), "%s", error);
    free (url);
}

Test (mail, a_server_that_never_greets_is_cut_off_as_transient, .timeout = 60)
{
    //  A listening socket nobody accepts on: the connection completes in
    //  the kernel, the 220 greeting never comes, so only the send's own
    //  timeout can end it (no clock is read; the test's timeout is the
    //  deadline), and the error names that timeout.
    int port = tu_free_port ();
    int fd = socket (AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in address = { .sin_family = AF_INET, .sin_port = htons ((uint16_t) port) };
    address.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
    cr_assert (bind (fd, (struct sockaddr *) &address, sizeof address) == 0);
    cr_assert (listen (fd, 4) == 0);
    char *url = s_url ("smtp", port);
    mail_config_t config = s_config (url);
    config.timeout_ms = 500;
    notice_t notice = s_notice ();
    char error [512];
    cr_assert_eq (mail_send (&config, &notice, error, sizeof error), SEND_TRANSIENT);
    cr_assert (strstr (error, "no answer within 500 ms"), "%s", error);
    close (fd);
    free (url);
}

Test (mail, a_451_is_transient_and_the_retry_is_delivered)
{
    s_sink_start ("--fail-first", "1", NULL);
    char *url = s_url ("smtp", s_port);
    mail_config_t config = s_config (url);
    notice_t notice = s_notice ();
    char error [512];
    cr_assert_eq (mail_send (&config, &notice, error, sizeof error), SEND_TRANSIENT);
    cr_assert (strstr (error, "451"), "%s", error);
    cr_assert_eq (mail_send (&config, &notice, error, sizeof error), SEND_OK, "%s", error);
    cr_assert_eq (s_message_count (), 1);
    free (url);
}

//  The client's address and port the server saw for message n.
static char *
s_peer (int n)
{
    json_t *meta = s_meta (n);
    const char *peer = json_string_value (json_object_get (meta, "peer"));
    cr_assert (peer, "the sink recorded no peer for message %d", n);
    char *copy = strdup (peer);
    json_decref (meta);
    return copy;
}

Test (mail, a_session_carries_a_channels_messages_over_one_connection)
{
    s_sink_start (NULL);
    char *url = s_url ("smtp", s_port);
    mail_config_t config = s_config (url);
    config.session = mail_session_new ();
    notice_t notice = s_notice ();
    char error [512];
    for (int i = 0; i < 3; i++)
        cr_assert_eq (mail_send (&config, &notice, error, sizeof error), SEND_OK, "%s", error);
    //  Without the session: a connection of its own.
    mail_config_t alone = config;
    alone.session = NULL;
    cr_assert_eq (mail_send (&alone, &notice, error, sizeof error), SEND_OK, "%s", error);
    cr_assert_eq (s_message_count (), 4);
    char *first = s_peer (1), *second = s_peer (2), *third = s_peer (3), *fourth = s_peer (4);
    cr_assert_str_eq (second, first, "the second message came on another connection");
    cr_assert_str_eq (third, first, "the third message came on another connection");
    cr_assert_str_neq (fourth, first, "a send without the session used the session's connection");
    json_t *message = s_message (3);
    cr_assert_str_eq (s_header (message, "To"), "ops@example.com, oncall@example.com");
    json_decref (message);
    mail_session_destroy (&config.session);
    cr_assert_null (config.session);
    free (first);
    free (second);
    free (third);
    free (fourth);
    free (url);
}

Test (mail, a_session_whose_server_restarted_connects_again)
{
    s_sink_start (NULL);
    char *url = s_url ("smtp", s_port);
    mail_config_t config = s_config (url);
    config.session = mail_session_new ();
    notice_t notice = s_notice ();
    char error [512];
    cr_assert_eq (mail_send (&config, &notice, error, sizeof error), SEND_OK, "%s", error);
    //  The server goes away with the kept connection and comes back on the
    //  same port: the next message is delivered at the first try.
    tu_stop (s_sink, SIGTERM);
    s_sink = 0;
    close (s_sink_stdout);
    s_sink_stdout = -1;
    s_sink_start (NULL);
    cr_assert_eq (mail_send (&config, &notice, error, sizeof error), SEND_OK, "%s", error);
    cr_assert_eq (s_message_count (), 2);
    char *before = s_peer (1), *after = s_peer (2);
    cr_assert_str_neq (after, before);
    mail_session_destroy (&config.session);
    free (before);
    free (after);
    free (url);
}

Test (mail, a_failed_send_closes_the_sessions_connection)
{
    s_sink_start ("--fail-first", "1", NULL);
    char *url = s_url ("smtp", s_port);
    mail_config_t config = s_config (url);
    config.session = mail_session_new ();
    notice_t notice = s_notice ();
    char error [512];
    cr_assert_eq (mail_send (&config, &notice, error, sizeof error), SEND_TRANSIENT);
    cr_assert (strstr (error, "451"), "%s", error);
    cr_assert_eq (mail_send (&config, &notice, error, sizeof error), SEND_OK, "%s", error);
    cr_assert_eq (mail_send (&config, &notice, error, sizeof error), SEND_OK, "%s", error);
    cr_assert_eq (s_message_count (), 2);
    char *retry = s_peer (1), *next = s_peer (2);
    cr_assert_str_eq (next, retry, "the connection after the failure was not kept");
    mail_session_destroy (&config.session);
    free (retry);
    free (next);
    free (url);
}

Test (mail, a_session_keeps_starttls_and_the_login_for_its_next_message)
{
    s_auth_sink_start ();
    char *url = s_url ("smtp", s_port), *ca = s_cert ("ca.pem");
    mail_config_t config = s_config (url);
    config.starttls = true;
    config.ca_file = ca;
    config.username = "drift-mailer";
    config.password = "s3cret-Pa55";
    config.session = mail_session_new ();
    notice_t notice = s_notice ();
    char error [512];
    cr_assert_eq (mail_send (&config, &notice, error, sizeof error), SEND_OK, "%s", error);
    cr_assert_eq (mail_send (&config, &notice, error, sizeof error), SEND_OK, "%s", error);
    char *first = s_peer (1), *second = s_peer (2);
    cr_assert_str_eq (second, first, "the second message came on another connection");
    for (int n = 1; n <= 2; n++) {
        json_t *meta = s_meta (n);
        cr_assert (json_is_true (json_object_get (meta, "tls")), "message %d not encrypted", n);
        cr_assert_str_eq (json_string_value (json_object_get (meta, "auth_user")), "drift-mailer");
        json_decref (meta);
    }
    //  One login, inside TLS, for both.
    char *log = s_auth_log ();
    cr_assert_str_eq (log, "tls=1 login=drift-mailer password=s3cret-Pa55\n");
    free (log);
    mail_session_destroy (&config.session);
    free (first);
    free (second);
    free (url);
    free (ca);
}

Test (mail, bad_settings_are_refused_without_connecting)
{
    //  Nothing listens there: a refusal that mentions a connection would
    //  mean mail_send tried.
    char *url = s_url ("smtp", tu_free_port ());
    notice_t notice = s_notice ();
    char error [512];

    const char *injected [] = { "ops@example.com\r\nBcc: victim@example.com" };
    mail_config_t config = s_config (url);
    config.to = injected;
    config.to_count = 1;
    cr_assert_eq (mail_send (&config, &notice, error, sizeof error), SEND_PERMANENT);
    cr_assert (strstr (error, "recipient"), "%s", error);

    const char *no_at [] = { "ops.example.com" };
    config.to = no_at;
    cr_assert_eq (mail_send (&config, &notice, error, sizeof error), SEND_PERMANENT);
    cr_assert (strstr (error, "recipient"), "%s", error);

    config = s_config (url);
    config.to_count = 0;
    cr_assert_eq (mail_send (&config, &notice, error, sizeof error), SEND_PERMANENT);
    cr_assert (strstr (error, "no recipient"), "%s", error);

    config = s_config (url);
    config.from = "drift <drift@example.com>\r\nBcc: victim@example.com";
    cr_assert_eq (mail_send (&config, &notice, error, sizeof error), SEND_PERMANENT);
    cr_assert (strstr (error, "From"), "%s", error);
    config.from = NULL;
    cr_assert_eq (mail_send (&config, &notice, error, sizeof error), SEND_PERMANENT);
    cr_assert (strstr (error, "From"), "%s", error);

    config = s_config (NULL);
    cr_assert_eq (mail_send (&config, &notice, error, sizeof error), SEND_PERMANENT);
    cr_assert (strstr (error, "URL"), "%s", error);
    config = s_config ("http://127.0.0.1/");
    cr_assert_eq (mail_send (&config, &notice, error, sizeof error), SEND_PERMANENT);
    config = s_config ("smtp://user:pw@127.0.0.1/");
    cr_assert_eq (mail_send (&config, &notice, error, sizeof error), SEND_PERMANENT);
    cr_assert_null (strstr (error, "pw@"), "%s", error);

    config = s_config (url);
    notice.delivery_id = "x>\r\nBcc: victim@example.com";
    cr_assert_eq (mail_send (&config, &notice, error, sizeof error), SEND_PERMANENT);
    cr_assert (strstr (error, "delivery id"), "%s", error);
    free (url);
}
