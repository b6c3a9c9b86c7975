/*  webhook: signed notices over HTTP as actors/notify/webhook.h and docs/WEBHOOKS.md
    promise, sent to a real receiver: libmicrohttpd in this process on a
    free loopback port, recording every request (method, path, headers, the
    whole body) and answering a scripted sequence of statuses.

    The generic body is checked field by field against the documented
    schema and its signature verified as a receiver would (and refused with
    a wrong secret, a changed byte, a stale timestamp); the Slack body is
    checked against Slack's limits with hostile text and 50 items; each
    answer a receiver can give (2xx, 3xx, 404, 408/429/5xx, silence, no
    listener) is mapped to the send result the notify stage acts on.
*/
#define _GNU_SOURCE                 // asprintf
#include "../lib/metrics.h"
#include "../actors/notify/webhook.h"
#include "testutil.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <jansson.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define SECRET "whsec-test-0123456789"
#define RX_REQUESTS_MAX 16          // requests a receiver records
#define RX_HEADERS_MAX 32           // headers recorded per request

//  One request as the receiver saw it.
typedef struct {
    char *method;                   // e.g. "POST"
    char *path;                     // e.g. "/hook"
    char *names [RX_HEADERS_MAX];   // header names as sent
    char *values [RX_HEADERS_MAX];  // and their values
    int header_count;               // headers recorded
    char *body;                     // the whole body, NUL-terminated
    size_t size;                    // bytes in body
} s_request_t;

//  The receiver: a libmicrohttpd daemon and what it was told and saw.
typedef struct {
    struct MHD_Daemon *daemon;      // NULL when none is running
    pthread_mutex_t lock;           // guards requests (MHD's threads add to it)
    int statuses [8];               // answer i for request i; after the last, 200
    size_t status_count;            // statuses scripted
    const char *reply;              // the reply body for every answer
    size_t reply_size;              // bytes in reply
    bool hold;                      // answer nothing until s_receiver_release
    pthread_cond_t released;        // signalled when hold ends
    size_t answers;                 // answers queued so far
    s_request_t *requests [RX_REQUESTS_MAX];  // completed requests, in order
    size_t request_count;           // how many
    char url [128];                 // http://127.0.0.1:PORT/hook
} s_receiver_t;

static s_receiver_t s_rx;
static char s_error [1024];         // the last send's reason

static void
s_request_free (s_request_t *request)
{
    if (!request)
        return;
    free (request->method);
    free (request->path);
    for (int index = 0; index < request->header_count; index++) {
        free (request->names [index]);
        free (request->values [index]);
    }
    free (request->body);
    free (request);
}

static enum MHD_Result
s_header (void *argument, enum MHD_ValueKind kind, const char *name, const char *value)
{
    (void) kind;
    s_request_t *request = (s_request_t *) argument;
    if (request->header_count < RX_HEADERS_MAX) {
        request->names [request->header_count] = strdup (name);
        request->values [request->header_count] = strdup (value ? value : "");
        request->header_count++;
    }
    return MHD_YES;
}

static enum MHD_Result
s_handle (void *argument, struct MHD_Connection *connection, const char *url, const char *method,
          const char *version, const char *upload_data, size_t *upload_data_size, void **state)
{
    (void) argument;
    (void) version;
    s_request_t *request = (s_request_t *) *state;
    if (!request) {
        request = (s_request_t *) calloc (1, sizeof *request);
        request->method = strdup (method);
        request->path = strdup (url);
        request->body = strdup ("");
        MHD_get_connection_values (connection, MHD_HEADER_KIND, s_header, request);
        *state = request;
        return MHD_YES;
    }
    if (*upload_data_size) {
        request->body = (char *) realloc (request->body, request->size + *upload_data_size + 1);
        memcpy (request->body + request->size, upload_data, *upload_data_size);
        request->size += *upload_data_size;
        request->body [request->size] = 0;
        *upload_data_size = 0;
        return MHD_YES;
    }
    //  The whole request is in: record it, then answer as scripted.
    *state = NULL;
    pthread_mutex_lock (&s_rx.lock);
    size_t index = s_rx.request_count;
    if (index < RX_REQUESTS_MAX)
        s_rx.requests [s_rx.request_count++] = request;
    else
        s_request_free (request);
    int status = index < s_rx.status_count ? s_rx.statuses [index] : 200;
    //  A held receiver stays silent until the test releases it; the bound
    //  only keeps a broken test from hanging its daemon for ever.
    struct timespec bound;
    clock_gettime (CLOCK_REALTIME, &bound);
    bound.tv_sec += 120;
    while (s_rx.hold)
        if (pthread_cond_timedwait (&s_rx.released, &s_rx.lock, &bound) != 0)
            break;
    s_rx.answers++;
    pthread_mutex_unlock (&s_rx.lock);
    struct MHD_Response *response = MHD_create_response_from_buffer (
        s_rx.reply_size, (void *) (s_rx.reply ? s_rx.reply : ""), MHD_RESPMEM_MUST_COPY);
    if (status >= 300 && status < 400)
        MHD_add_response_header (response, "Location", "http://elsewhere.example/next?token=t0ps3cret");
    enum MHD_Result rc = MHD_queue_response (connection, (unsigned) status, response);
    MHD_destroy_response (response);
    return rc;
}

//  A request that never completed (its client gave up) is freed here.
static void
s_completed (void *argument, struct MHD_Connection *connection, void **state,
             enum MHD_RequestTerminationCode code)
{
    (void) argument;
    (void) connection;
    (void) code;
    s_request_free ((s_request_t *) *state);
    *state = NULL;
}

//  Start the receiver answering statuses (count of them, then 200).
static void
s_receiver_start (const int *statuses, size_t count)
{
    cr_assert (count <= 8);
    memcpy (s_rx.statuses, statuses, count * sizeof *statuses);
    s_rx.status_count = count;
    int port = tu_free_port ();
    struct sockaddr_in address = { .sin_family = AF_INET, .sin_port = htons ((uint16_t) port) };
    address.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
    s_rx.daemon = MHD_start_daemon (
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION, (uint16_t) port,
        NULL, NULL, s_handle, NULL,
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *) &address,
        MHD_OPTION_NOTIFY_COMPLETED, s_completed, NULL,
        MHD_OPTION_END);
    cr_assert (s_rx.daemon, "cannot start the receiver on port %d", port);
    snprintf (s_rx.url, sizeof s_rx.url, "http://127.0.0.1:%d/hook", port);
}

//  Let a held receiver answer.
static void
s_receiver_release (void)
{
    pthread_mutex_lock (&s_rx.lock);
    s_rx.hold = false;
    pthread_cond_broadcast (&s_rx.released);
    pthread_mutex_unlock (&s_rx.lock);
}

static void
s_setup (void)
{
    memset (&s_rx, 0, sizeof s_rx);
    pthread_mutex_init (&s_rx.lock, NULL);
    pthread_cond_init (&s_rx.released, NULL);
    s_error [0] = 0;
}

static void
s_teardown (void)
{
    if (s_rx.daemon) {
        s_receiver_release ();
        MHD_stop_daemon (s_rx.daemon);
    }
    for (size_t index = 0; index < s_rx.request_count; index++)
        s_request_free (s_rx.requests [index]);
    pthread_cond_destroy (&s_rx.released);
    pthread_mutex_destroy (&s_rx.lock);
}

TestSuite (webhook, .init = s_setup, .fini = s_teardown);

//  Requests recorded so far.
static size_t
s_requests (void)
{
    pthread_mutex_lock (&s_rx.lock);
    size_t count = s_rx.request_count;
    pthread_mutex_unlock (&s_rx.lock);
    return count;
}

//  A header of a recorded request by name (case-insensitive), NULL if absent.
static const char *
s_header_of (const s_request_t *request, const char *name)
{
    for (int index = 0; index < request->header_count; index++)
        if (strcasecmp (request->names [index], name) == 0)
            return request->values [index];
    return NULL;
}

//  --------------------------------------------------------------------------
//  Notices

static const notice_item_t s_items [] = {
    { .fingerprint = "fp-sg-web", .address = "aws_security_group.web", .type = "aws_security_group",
      .kind = "modified", .severity = 5, .score = 0.9,
      .changes = "[{\"path\":\"ingress[0].cidr_blocks[0]\",\"op\":\"replace\",\"before\":\"10.0.0.0/8\",\"after\":\"0.0.0.0/0\"}]",
      .reasons = "[{\"rule\":\"sg-open-world\",\"severity\":\"critical\",\"reason\":\"ingress opened to 0.0.0.0/0\",\"path\":\"ingress[0].cidr_blocks[0]\"}]",
      .stack = "payments", .report_id = "r-0001" },
    { .fingerprint = "fp-bucket", .address = "aws_s3_bucket.logs", .type = "aws_s3_bucket",
      .kind = "deleted", .severity = 3, .score = 0.4,
      .changes = "[]", .reasons = "not json at all",
      .stack = "payments", .report_id = "r-0001" },
    { .fingerprint = "fp-old", .address = "aws_iam_role.ci", .type = "aws_iam_role",
      .kind = "modified", .severity = 4, .score = 0.6, .resolved = true,
      .changes = "[{\"path\":\"assume_role_policy\",\"op\":\"replace\",\"before\":\"x\",\"after\":\"y\"}]",
      .reasons = "[{\"rule\":\"iam-trust\",\"severity\":\"high\",\"reason\":\"trust policy changed\",\"path\":\"assume_role_policy\"}]",
      .stack = "payments", .report_id = "r-0000" },
};

//  A report's notice with the three items above, received at 2026-11-27T12:00:00Z.
static notice_t
s_notice (void)
{
    notice_t notice = {
        .delivery_id = "d-acme-r-0001-ch7", .tenant = "acme", .stack = "payments",
        .report_id = "r-0001", .received_us = INT64_C (1795780800) * 1000000, .severity = 5,
        .score = 87, .items = s_items, .item_count = 3 };
    return notice;
}

static webhook_config_t
s_config (const char *format, const char *secret)
{
    webhook_config_t config = { .url = s_rx.url, .format = format, .secret = secret,
                                .timeout_ms = 3000,
                                .allow_hosts = "127.0.0.1" };   // the receiver is on loopback
    return config;
}

//  Characters in UTF-8 text (Slack's limits count characters).
static size_t
s_chars (const char *text)
{
    size_t chars = 0;
    for (const char *byte = text; *byte; byte++)
        if (((unsigned char) *byte & 0xC0) != 0x80)
            chars++;
    return chars;
}

//  Every '&' in mrkdwn text starts one of the three entities Slack knows.
static bool
s_entities_whole (const char *text)
{
    for (const char *amp = strchr (text, '&'); amp; amp = strchr (amp + 1, '&'))
        if (strncmp (amp, "&amp;", 5) && strncmp (amp, "&lt;", 4) && strncmp (amp, "&gt;", 4))
            return false;
    return true;
}

//  Check a Slack body against Slack's limits: header ≤ 150 characters,
//  ≤ 10 fields of ≤ 2000, section text ≤ 3000, ≤ 50 blocks, entities whole
//  and no raw < or > in mrkdwn. Returns the parsed body.
static json_t *
s_slack_checked (const char *text)
{
    json_error_t failure;
    json_t *body = json_loads (text, 0, &failure);
    cr_assert (body, "slack body does not parse: %s", failure.text);
    cr_assert (json_is_string (json_object_get (body, "text")));
    cr_assert (*json_string_value (json_object_get (body, "text")));
    json_t *blocks = json_object_get (body, "blocks");
    cr_assert (json_is_array (blocks));
    cr_assert (json_array_size (blocks) >= 2 && json_array_size (blocks) <= 50);
    json_t *header = json_array_get (blocks, 0);
    cr_assert_str_eq (json_string_value (json_object_get (header, "type")), "header");
    cr_assert_str_eq (json_string_value (json_object_get (json_object_get (header, "text"), "type")),
                      "plain_text");
    const char *title = json_string_value (json_object_get (json_object_get (header, "text"), "text"));
    cr_assert (title && *title && s_chars (title) <= 150, "header of %zu characters", s_chars (title));
    size_t index;
    json_t *block;
    json_array_foreach (blocks, index, block) {
        const char *type = json_string_value (json_object_get (block, "type"));
        cr_assert (type);
        json_t *fields = json_object_get (block, "fields");
        if (fields) {
            cr_assert (json_array_size (fields) >= 1 && json_array_size (fields) <= 10);
            size_t field_index;
            json_t *field;
            json_array_foreach (fields, field_index, field) {
                const char *field_text = json_string_value (json_object_get (field, "text"));
                cr_assert_str_eq (json_string_value (json_object_get (field, "type")), "mrkdwn");
                cr_assert (field_text && s_chars (field_text) <= 2000);
                cr_assert (!strpbrk (field_text, "<>") && s_entities_whole (field_text));
            }
        }
        if (strcmp (type, "section") == 0 && json_object_get (block, "text")) {
            const char *section = json_string_value (json_object_get (json_object_get (block, "text"), "text"));
            cr_assert (section && *section && s_chars (section) <= 3000,
                       "section of %zu characters", s_chars (section));
            cr_assert (!strpbrk (section, "<>"), "raw < or > in %s", section);
            cr_assert (s_entities_whole (section), "a cut entity in %s", section);
        }
    }
    return body;
}

//  --------------------------------------------------------------------------
//  Generic format

Test (webhook, generic_body_matches_the_documented_schema_and_verifies)
{
    int statuses [] = { 200 };
    s_receiver_start (statuses, 1);
    notice_t notice = s_notice ();
    webhook_config_t config = s_config ("generic", SECRET);
    cr_assert_eq (webhook_send (&config, &notice, s_error, sizeof s_error), SEND_OK, "%s", s_error);
    cr_assert_str_empty (s_error);
    cr_assert_eq (s_requests (), 1);
    const s_request_t *request = s_rx.requests [0];
    cr_assert_str_eq (request->method, "POST");
    cr_assert_str_eq (request->path, "/hook");
    cr_assert_str_eq (s_header_of (request, "Content-Type"), "application/json");
    cr_assert_str_eq (s_header_of (request, "User-Agent"), "drift-notify/1");
    cr_assert_str_eq (s_header_of (request, "X-Drift-Delivery"), "d-acme-r-0001-ch7");
    cr_assert_str_eq (s_header_of (request, "X-Drift-Event"), "drift.report");
    cr_assert_null (s_header_of (request, "Expect"));

    json_error_t failure;
    json_t *body = json_loads (request->body, 0, &failure);
    cr_assert (body, "body does not parse: %s", failure.text);
    cr_assert_eq (json_object_size (body), 11);
    cr_assert_eq (json_integer_value (json_object_get (body, "version")), 1);
    cr_assert (json_is_array (json_object_get (body, "checks")));
    cr_assert_eq (json_array_size (json_object_get (body, "checks")), 0, "no check changed");
    cr_assert (json_is_integer (json_object_get (body, "version")));
    cr_assert_str_eq (json_string_value (json_object_get (body, "event")), "drift.report");
    cr_assert_str_eq (json_string_value (json_object_get (body, "delivery")), "d-acme-r-0001-ch7");
    cr_assert_str_eq (json_string_value (json_object_get (body, "tenant")), "acme");
    cr_assert_str_eq (json_string_value (json_object_get (body, "stack")), "payments");
    cr_assert_str_eq (json_string_value (json_object_get (body, "report_id")), "r-0001");
    cr_assert_str_eq (json_string_value (json_object_get (body, "received_at")), "2026-11-27T12:00:00Z");
    cr_assert_str_eq (json_string_value (json_object_get (body, "severity")), "critical");
    cr_assert (json_is_integer (json_object_get (body, "score")));
    cr_assert_eq (json_integer_value (json_object_get (body, "score")), 87);
    json_t *items = json_object_get (body, "items");
    cr_assert (json_is_array (items));
    cr_assert_eq (json_array_size (items), 3);

    const char *states [] = { "new", "new", "resolved" };
    const char *severities [] = { "critical", "medium", "high" };
    for (size_t index = 0; index < 3; index++) {
        json_t *item = json_array_get (items, index);
        cr_assert_eq (json_object_size (item), 11);
        cr_assert_str_eq (json_string_value (json_object_get (item, "state")), states [index]);
        cr_assert_str_eq (json_string_value (json_object_get (item, "fingerprint")),
                          s_items [index].fingerprint);
        cr_assert_str_eq (json_string_value (json_object_get (item, "address")), s_items [index].address);
        cr_assert_str_eq (json_string_value (json_object_get (item, "type")), s_items [index].type);
        cr_assert_str_eq (json_string_value (json_object_get (item, "kind")), s_items [index].kind);
        cr_assert_str_eq (json_string_value (json_object_get (item, "severity")), severities [index]);
        cr_assert (json_is_real (json_object_get (item, "score")));
        cr_assert_float_eq (json_real_value (json_object_get (item, "score")), s_items [index].score, 1e-9);
        cr_assert_str_eq (json_string_value (json_object_get (item, "stack")), "payments");
        cr_assert_str_eq (json_string_value (json_object_get (item, "report_id")), s_items [index].report_id);
        cr_assert (json_is_array (json_object_get (item, "reasons")));
        cr_assert (json_is_array (json_object_get (item, "changes")));
    }
    //  Reasons and changes are embedded as given, parsed; bad JSON becomes [].
    json_t *first = json_array_get (items, 0);
    json_t *given = json_loads (s_items [0].changes, 0, NULL);
    cr_assert (json_equal (json_object_get (first, "changes"), given));
    json_decref (given);
    given = json_loads (s_items [0].reasons, 0, NULL);
    cr_assert (json_equal (json_object_get (first, "reasons"), given));
    json_decref (given);
    cr_assert_eq (json_array_size (json_object_get (json_array_get (items, 1), "reasons")), 0);
    cr_assert_eq (json_array_size (json_object_get (json_array_get (items, 1), "changes")), 0);
    json_decref (body);

    //  The signature verifies as a receiver checks it, and only then.
    const char *signature = s_header_of (request, "X-Drift-Signature");
    cr_assert (signature);
    int64_t now = (int64_t) time (NULL);
    cr_assert_eq (webhook_verify (SECRET, signature, request->body, request->size, now, 300), 0);
    cr_assert_eq (webhook_verify ("whsec-wrong", signature, request->body, request->size, now, 300), -1);
    cr_assert_eq (webhook_verify ("", signature, request->body, request->size, now, 300), -1);
    char *changed = strdup (request->body);
    changed [request->size / 2] ^= 0x01;
    cr_assert_eq (webhook_verify (SECRET, signature, changed, request->size, now, 300), -1);
    free (changed);
    cr_assert_eq (webhook_verify (SECRET, signature, request->body, request->size - 1, now, 300), -1);
    cr_assert_eq (webhook_verify (SECRET, signature, request->body, request->size, now + 301, 300), -1);
    cr_assert_eq (webhook_verify (SECRET, signature, request->body, request->size, now - 301, 300), -1);
}

Test (webhook, signature_is_hmac_sha256_of_timestamp_dot_body_as_openssl_computes_it)
{
    //  A key longer than SHA-256's 64-byte block, so it is hashed first.
    char key [101];
    memset (key, 'k', 100);
    key [100] = 0;
    const char *body = "{\"version\":1,\"event\":\"drift.report\"}";
    char signature [WEBHOOK_SIGNATURE_SIZE];
    webhook_signature (key, 1795780800, body, strlen (body), signature);
    cr_assert (strncmp (signature, "t=1795780800,v1=", 16) == 0, "%s", signature);
    cr_assert_eq (strlen (signature), 16 + 64);

    char path [] = "/tmp/drift-test-webhook-XXXXXX";
    int fd = mkstemp (path);
    cr_assert (fd != -1);
    const char *signed_text = "1795780800.";
    cr_assert (write (fd, signed_text, strlen (signed_text)) == (ssize_t) strlen (signed_text));
    cr_assert (write (fd, body, strlen (body)) == (ssize_t) strlen (body));
    close (fd);
    char *command;
    cr_assert (asprintf (&command, "openssl dgst -sha256 -hmac '%s' -r '%s'", key, path) > 0);
    FILE *pipe = popen (command, "r");
    cr_assert (pipe);
    char line [256] = "";
    cr_assert (fgets (line, sizeof line, pipe));
    pclose (pipe);
    unlink (path);
    free (command);
    cr_assert (strncmp (line, signature + 16, 64) == 0, "openssl %.64s, we %s", line, signature + 16);
    cr_assert_eq (webhook_verify (key, signature, body, strlen (body), 1795780800 + 10, 300), 0);
}

Test (webhook, verify_refuses_malformed_headers)
{
    const char *body = "{}";
    char signature [WEBHOOK_SIGNATURE_SIZE];
    webhook_signature (SECRET, 1000, body, 2, signature);
    cr_assert_eq (webhook_verify (SECRET, signature, body, 2, 1000, 300), 0);
    const char *hex = strstr (signature, "v1=") + 3;
    char header [256];
    //  A second, wrong v1 (a sender rotating its secret) does not spoil a right one.
    snprintf (header, sizeof header, "t=1000,v1=%064d,v1=%s", 0, hex);
    cr_assert_eq (webhook_verify (SECRET, header, body, 2, 1000, 300), 0);
    const char *bad [] = { "", "t=1000", "t=1000,", "t=,v1=00", "v1=00,t=1000", "t=1000,v1=abc",
                           "t=-1000,v1=00", "t=99999999999999999999,v1=00" };
    for (size_t index = 0; index < sizeof bad / sizeof *bad; index++)
        cr_assert_eq (webhook_verify (SECRET, bad [index], body, 2, 1000, 300), -1, "%s", bad [index]);
    snprintf (header, sizeof header, "t=1000,v0=%s", hex);
    cr_assert_eq (webhook_verify (SECRET, header, body, 2, 1000, 300), -1);
    snprintf (header, sizeof header, "t=1000,v1=%.63s", hex);
    cr_assert_eq (webhook_verify (SECRET, header, body, 2, 1000, 300), -1);
    cr_assert_eq (webhook_verify (NULL, signature, body, 2, 1000, 300), -1);
}

Test (webhook, a_failed_check_and_a_recovery_are_in_both_formats)
{
    notice_check_t checks [] = {
        { .stack = "payments", .report_id = "r-0002", .state = NOTICE_CHECK_FAILED,
          .reason = "terraform plan exited 1: <creds> & *expired*",
          .received_us = 1795780800000000LL },
        { .stack = "search", .report_id = "r-0001", .state = NOTICE_CHECK_SILENT, .reason = "",
          .received_us = 1795694400000000LL },
        { .stack = "billing", .report_id = "r-0003", .state = NOTICE_CHECK_RECOVERED, .reason = "",
          .received_us = 1795780860000000LL },
        { .stack = "search", .report_id = "r-0004", .state = NOTICE_CHECK_RESUMED, .reason = "",
          .received_us = 1795780920000000LL }
    };
    notice_t notice = s_notice ();
    notice.digest = true;
    notice.stack = "";
    notice.report_id = "";
    notice.items = NULL;
    notice.item_count = 0;
    notice.checks = checks;
    notice.check_count = 3;
    char *text = webhook_body ("generic", &notice);
    json_t *body = json_loads (text, 0, NULL);
    free (text);
    json_t *listed = json_object_get (body, "checks");
    cr_assert_eq (json_array_size (listed), 3);
    json_t *failed = json_array_get (listed, 0);
    cr_assert_eq (json_object_size (failed), 5);
    cr_assert_str_eq (json_string_value (json_object_get (failed, "state")), "failed");
    cr_assert_str_eq (json_string_value (json_object_get (failed, "stack")), "payments");
    cr_assert_str_eq (json_string_value (json_object_get (failed, "report_id")), "r-0002");
    cr_assert_str_eq (json_string_value (json_object_get (failed, "received_at")),
                      "2026-11-27T12:00:00Z");
    cr_assert_str_eq (json_string_value (json_object_get (failed, "reason")), checks [0].reason);
    json_t *silent = json_array_get (listed, 1);
    cr_assert_str_eq (json_string_value (json_object_get (silent, "state")), "silent");
    cr_assert_str_eq (json_string_value (json_object_get (silent, "report_id")), "r-0001");
    cr_assert_str_eq (json_string_value (json_object_get (silent, "received_at")),
                      "2026-11-26T12:00:00Z");
    json_t *recovered = json_array_get (listed, 2);
    cr_assert_str_eq (json_string_value (json_object_get (recovered, "state")), "recovered");
    cr_assert_str_eq (json_string_value (json_object_get (recovered, "reason")), "");
    //  (As given: the sender orders checks; here the fourth is last.)
    notice.check_count = 4;
    char *four = webhook_body ("generic", &notice);
    json_t *all = json_loads (four, 0, NULL);
    cr_assert_str_eq (json_string_value (json_object_get (json_array_get (
        json_object_get (all, "checks"), 3), "state")), "resumed");
    json_decref (all);
    free (four);
    char *slack_four = webhook_body ("slack", &notice);
    cr_assert (strstr (slack_four, "*Reporting again* after a silence: search"), "%s", slack_four);
    free (slack_four);
    notice.check_count = 3;
    cr_assert_eq (json_array_size (json_object_get (body, "items")), 0);
    json_decref (body);

    text = webhook_body ("slack", &notice);
    body = s_slack_checked (text);
    free (text);
    json_t *blocks = json_object_get (body, "blocks");
    cr_assert_eq (json_array_size (blocks), 5);     // header, fields, three checks
    const char *section = json_string_value (json_object_get (
        json_object_get (json_array_get (blocks, 2), "text"), "text"));
    cr_assert (strstr (section, "*Check failed* in payments, report `r-0002`"), "%s", section);
    cr_assert (strstr (section, "&lt;creds&gt; &amp;"), "escaped: %s", section);
    section = json_string_value (json_object_get (
        json_object_get (json_array_get (blocks, 3), "text"), "text"));
    cr_assert (strstr (section, "*No report lately* from search, the last report `r-0001` at "
                                "2026-11-26T12:00:00Z"), "%s", section);
    section = json_string_value (json_object_get (
        json_object_get (json_array_get (blocks, 4), "text"), "text"));
    cr_assert (strstr (section, "*Check works again* in billing"), "%s", section);
    const char *fallback = json_string_value (json_object_get (body, "text"));
    cr_assert (strstr (fallback, "check failed, no report lately, check works again, 0 new, "
                                 "0 resolved"), "%s",
               fallback);
    json_decref (body);

    //  One report's failure: the header says so.
    notice.digest = false;
    notice.stack = "payments";
    notice.report_id = "r-0002";
    notice.check_count = 1;
    text = webhook_body ("slack", &notice);
    body = s_slack_checked (text);
    free (text);
    const char *header = json_string_value (json_object_get (json_object_get (
        json_array_get (json_object_get (body, "blocks"), 0), "text"), "text"));
    cr_assert (strncmp (header, "Drift check failed in payments", 30) == 0, "%s", header);
    json_decref (body);
}

Test (webhook, digest_is_a_drift_digest_event)
{
    int statuses [] = { 200 };
    s_receiver_start (statuses, 1);
    notice_t notice = s_notice ();
    notice.digest = true;
    notice.stack = "";
    notice.report_id = "";
    notice.delivery_id = "digest-acme-2026-11-27.ch7";
    webhook_config_t config = s_config ("generic", SECRET);
    cr_assert_eq (webhook_send (&config, &notice, s_error, sizeof s_error), SEND_OK, "%s", s_error);
    cr_assert_eq (s_requests (), 1);
    cr_assert_str_eq (s_header_of (s_rx.requests [0], "X-Drift-Event"), "drift.digest");
    json_t *body = json_loads (s_rx.requests [0]->body, 0, NULL);
    cr_assert_str_eq (json_string_value (json_object_get (body, "event")), "drift.digest");
    cr_assert_str_eq (json_string_value (json_object_get (body, "stack")), "");
    json_decref (body);
}

Test (webhook, unknown_format_has_no_body_and_is_not_sent)
{
    int statuses [] = { 200 };
    s_receiver_start (statuses, 1);
    notice_t notice = s_notice ();
    cr_assert_null (webhook_body ("teams", &notice));
    webhook_config_t config = s_config ("teams", SECRET);
    cr_assert_eq (webhook_send (&config, &notice, s_error, sizeof s_error), SEND_PERMANENT);
    cr_assert (strstr (s_error, "unknown format"), "%s", s_error);
    cr_assert_eq (s_requests (), 0);
}

Test (webhook, unsigned_sends_no_signature_header)
{
    int statuses [] = { 200, 200 };
    s_receiver_start (statuses, 2);
    notice_t notice = s_notice ();
    webhook_config_t config = s_config ("generic", NULL);
    cr_assert_eq (webhook_send (&config, &notice, s_error, sizeof s_error), SEND_OK, "%s", s_error);
    config.secret = "";
    cr_assert_eq (webhook_send (&config, &notice, s_error, sizeof s_error), SEND_OK, "%s", s_error);
    cr_assert_eq (s_requests (), 2);
    cr_assert_null (s_header_of (s_rx.requests [0], "X-Drift-Signature"));
    cr_assert_null (s_header_of (s_rx.requests [1], "X-Drift-Signature"));
    cr_assert_str_eq (s_header_of (s_rx.requests [0], "X-Drift-Delivery"), "d-acme-r-0001-ch7");
}

//  --------------------------------------------------------------------------
//  Slack format

Test (webhook, slack_escapes_hostile_text_and_keeps_within_limits)
{
    int statuses [] = { 200 };
    s_receiver_start (statuses, 1);
    notice_item_t item = s_items [0];
    item.address = "aws_s3_bucket.a<b>&c";
    //  A reason far over a section's 3000 characters, full of what must be escaped.
    char *reason = (char *) malloc (6000 + 1);
    for (size_t index = 0; index < 6000; index += 6)
        memcpy (reason + index, "a&<>\xC3\xA9", 6);     // "a&<>é"
    reason [6000] = 0;
    char *reasons;
    cr_assert (asprintf (&reasons, "[{\"rule\":\"r\",\"severity\":\"high\",\"reason\":\"%s\",\"path\":\"p\"}]",
                         reason) > 0);
    item.reasons = reasons;
    notice_t notice = s_notice ();
    notice.items = &item;
    notice.item_count = 1;
    notice.tenant = "acme <!channel> & co";
    webhook_config_t config = s_config ("slack", SECRET);
    cr_assert_eq (webhook_send (&config, &notice, s_error, sizeof s_error), SEND_OK, "%s", s_error);
    cr_assert_eq (s_requests (), 1);
    const s_request_t *request = s_rx.requests [0];
    cr_assert (webhook_verify (SECRET, s_header_of (request, "X-Drift-Signature"), request->body,
                               request->size, (int64_t) time (NULL), 300) == 0);
    json_t *body = s_slack_checked (request->body);
    json_t *blocks = json_object_get (body, "blocks");
    cr_assert_eq (json_array_size (blocks), 3);     // header, fields, the one item
    json_t *fields = json_object_get (json_array_get (blocks, 1), "fields");
    const char *expected [] = { "*Tenant*\nacme &lt;!channel&gt; &amp; co", "*Stack*\npayments",
                                "*Severity*\ncritical", "*Score*\n87", "*Report*\nr-0001",
                                "*Items*\n1 new, 0 resolved" };
    cr_assert_eq (json_array_size (fields), 6);
    for (size_t index = 0; index < 6; index++)
        cr_assert_str_eq (json_string_value (json_object_get (json_array_get (fields, index), "text")),
                          expected [index]);
    const char *section = json_string_value (json_object_get (
        json_object_get (json_array_get (blocks, 2), "text"), "text"));
    cr_assert (strstr (section, "`aws_s3_bucket.a&lt;b&gt;&amp;c`"), "%s", section);
    cr_assert (strstr (section, "modified"));
    cr_assert (strstr (section, "*critical*"));
    cr_assert (strstr (section, "Changed: `ingress[0].cidr_blocks[0]`") == NULL,
               "the reason filled the section, so the paths were cut");
    cr_assert (strstr (section, "\xE2\x80\xA6"), "a cut section ends with an ellipsis");
    cr_assert_null (strstr (request->body, "<!channel>"));
    json_decref (body);
    free (reasons);
    free (reason);
}

Test (webhook, slack_names_reason_and_changed_paths)
{
    notice_t notice = s_notice ();
    char *text = webhook_body ("slack", &notice);
    cr_assert (text);
    json_t *body = s_slack_checked (text);
    json_t *blocks = json_object_get (body, "blocks");
    cr_assert_eq (json_array_size (blocks), 5);
    const char *first = json_string_value (json_object_get (
        json_object_get (json_array_get (blocks, 2), "text"), "text"));
    cr_assert_str_eq (first, "*New* `aws_security_group.web` modified, *critical* (0.90)\n"
                             "ingress opened to 0.0.0.0/0\nChanged: `ingress[0].cidr_blocks[0]`");
    const char *resolved = json_string_value (json_object_get (
        json_object_get (json_array_get (blocks, 4), "text"), "text"));
    cr_assert (strncmp (resolved, "*Resolved* `aws_iam_role.ci`", 28) == 0, "%s", resolved);
    const char *header = json_string_value (json_object_get (
        json_object_get (json_array_get (blocks, 0), "text"), "text"));
    cr_assert_str_eq (header, "Drift in payments: critical, score 87");
    cr_assert_str_eq (json_string_value (json_object_get (body, "text")),
                      "Drift in payments: critical, score 87, 2 new, 1 resolved");
    json_decref (body);
    free (text);
}

Test (webhook, slack_with_fifty_items_shows_twenty_and_says_how_many_more)
{
    notice_item_t items [50];
    char addresses [50][64];
    char changes [4096];
    //  Thirty changed paths on every item: ten are named, the rest counted.
    size_t used = (size_t) snprintf (changes, sizeof changes, "[");
    for (int path = 0; path < 30; path++)
        used += (size_t) snprintf (changes + used, sizeof changes - used,
                                   "%s{\"path\":\"tags.k%d\",\"op\":\"add\"}", path ? "," : "", path);
    snprintf (changes + used, sizeof changes - used, "]");
    for (int index = 0; index < 50; index++) {
        items [index] = s_items [0];
        snprintf (addresses [index], sizeof addresses [index], "aws_instance.node[%d]", index);
        items [index].address = addresses [index];
        items [index].changes = changes;
    }
    notice_t notice = s_notice ();
    notice.items = items;
    notice.item_count = 50;
    //  A stack name far over the header's 150 characters.
    char stack [400];
    memset (stack, 's', sizeof stack - 1);
    stack [sizeof stack - 1] = 0;
    notice.stack = stack;
    char *text = webhook_body ("slack", &notice);
    cr_assert (text);
    json_t *body = s_slack_checked (text);
    json_t *blocks = json_object_get (body, "blocks");
    cr_assert_eq (json_array_size (blocks), 2 + 20 + 1);
    json_t *context = json_array_get (blocks, 22);
    cr_assert_str_eq (json_string_value (json_object_get (context, "type")), "context");
    cr_assert_str_eq (json_string_value (json_object_get (
        json_array_get (json_object_get (context, "elements"), 0), "text")), "and 30 more");
    const char *section = json_string_value (json_object_get (
        json_object_get (json_array_get (blocks, 2), "text"), "text"));
    cr_assert (strstr (section, "`tags.k9` and 20 more"), "%s", section);
    cr_assert_null (strstr (section, "tags.k10`"));
    json_decref (body);
    free (text);
}

//  --------------------------------------------------------------------------
//  What each answer means

Test (webhook, server_error_is_transient_and_the_retry_is_accepted)
{
    int statuses [] = { 500, 200 };
    s_receiver_start (statuses, 2);
    s_rx.reply = "boom: database down\nsecond line";
    s_rx.reply_size = strlen (s_rx.reply);
    notice_t notice = s_notice ();
    webhook_config_t config = s_config ("generic", SECRET);
    cr_assert_eq (webhook_send (&config, &notice, s_error, sizeof s_error), SEND_TRANSIENT);
    cr_assert (strstr (s_error, "HTTP 5xx; retryable"), "%s", s_error);
    cr_assert_null (strstr (s_error, "boom"), "no byte of the reply: %s", s_error);
    cr_assert (strstr (s_error, "d-acme-r-0001-ch7"), "%s", s_error);
    cr_assert_eq (webhook_send (&config, &notice, s_error, sizeof s_error), SEND_OK, "%s", s_error);
    cr_assert_eq (s_requests (), 2);
    //  The same delivery both times, so the receiver can tell a resend.
    cr_assert_str_eq (s_header_of (s_rx.requests [0], "X-Drift-Delivery"),
                      s_header_of (s_rx.requests [1], "X-Drift-Delivery"));
}

Test (webhook, not_found_is_permanent)
{
    int statuses [] = { 404 };
    s_receiver_start (statuses, 1);
    notice_t notice = s_notice ();
    webhook_config_t config = s_config ("slack", SECRET);
    cr_assert_eq (webhook_send (&config, &notice, s_error, sizeof s_error), SEND_PERMANENT);
    cr_assert (strstr (s_error, "HTTP 4xx; not retryable"), "%s", s_error);
}

Test (webhook, too_many_requests_and_request_timeout_are_transient)
{
    int statuses [] = { 429, 408, 503 };
    s_receiver_start (statuses, 3);
    notice_t notice = s_notice ();
    webhook_config_t config = s_config ("generic", SECRET);
    cr_assert_eq (webhook_send (&config, &notice, s_error, sizeof s_error), SEND_TRANSIENT);
    cr_assert (strstr (s_error, "HTTP 429"), "%s", s_error);
    cr_assert_eq (webhook_send (&config, &notice, s_error, sizeof s_error), SEND_TRANSIENT);
    cr_assert_eq (webhook_send (&config, &notice, s_error, sizeof s_error), SEND_TRANSIENT);
    cr_assert_eq (s_requests (), 3);
}

Test (webhook, nothing_listening_is_transient)
{
    notice_t notice = s_notice ();
    snprintf (s_rx.url, sizeof s_rx.url, "http://127.0.0.1:%d/hook", tu_free_port ());
    webhook_config_t config = s_config ("generic", SECRET);
    cr_assert_eq (webhook_send (&config, &notice, s_error, sizeof s_error), SEND_TRANSIENT);
    cr_assert (strstr (s_error, "http://127.0.0.1:"), "%s", s_error);
    cr_assert (strstr (s_error, "could not connect; retryable"), "%s", s_error);
}

Test (webhook, a_receiver_slower_than_the_timeout_is_transient, .timeout = 60)
{
    //  The receiver says nothing until the test releases it, after the
    //  send has returned: only the send's own timeout can have ended it.
    //  No clock is read; the test's timeout is the deadline.
    int statuses [] = { 200 };
    s_receiver_start (statuses, 1);
    s_rx.hold = true;
    notice_t notice = s_notice ();
    webhook_config_t config = s_config ("generic", SECRET);
    config.timeout_ms = 300;
    cr_assert_eq (webhook_send (&config, &notice, s_error, sizeof s_error), SEND_TRANSIENT);
    cr_assert (strstr (s_error, "timed out; retryable"), "%s", s_error);
    pthread_mutex_lock (&s_rx.lock);
    size_t answers = s_rx.answers;
    pthread_mutex_unlock (&s_rx.lock);
    cr_assert_eq (answers, 0, "the send ended before any answer");
    s_receiver_release ();
}

Test (webhook, a_redirect_is_permanent_and_not_followed)
{
    int statuses [] = { 302 };
    s_receiver_start (statuses, 1);
    notice_t notice = s_notice ();
    webhook_config_t config = s_config ("generic", SECRET);
    cr_assert_eq (webhook_send (&config, &notice, s_error, sizeof s_error), SEND_PERMANENT);
    cr_assert (strstr (s_error, "HTTP 3xx, a redirect, not followed"), "%s", s_error);
    cr_assert_null (strstr (s_error, "elsewhere"), "%s", s_error);
    cr_assert_null (strstr (s_error, "t0ps3cret"));
    cr_assert_eq (s_requests (), 1);
}

Test (webhook, a_huge_reply_is_read_only_so_far)
{
    int statuses [] = { 400 };
    s_receiver_start (statuses, 1);
    size_t size = 4 * 1024 * 1024;
    char *reply = (char *) malloc (size);
    memset (reply, 'x', size);
    s_rx.reply = reply;
    s_rx.reply_size = size;
    notice_t notice = s_notice ();
    webhook_config_t config = s_config ("generic", SECRET);
    cr_assert_eq (webhook_send (&config, &notice, s_error, sizeof s_error), SEND_PERMANENT);
    cr_assert (strstr (s_error, "HTTP 4xx"), "%s", s_error);
    cr_assert_null (strstr (s_error, "xxxx"), "no byte of the reply: %s", s_error);
    MHD_stop_daemon (s_rx.daemon);
    s_rx.daemon = NULL;
    free (reply);
}

Test (webhook, bad_urls_are_refused_before_sending)
{
    int statuses [] = { 200 };
    s_receiver_start (statuses, 1);
    notice_t notice = s_notice ();
    char injected [256];
    snprintf (injected, sizeof injected, "%s\r\nX-Evil: 1", s_rx.url);
    const char *urls [] = { injected, "ftp://127.0.0.1/hook", "file:///etc/passwd",
                            "127.0.0.1/hook", "", "http://", "gopher://127.0.0.1:70/" };
    for (size_t index = 0; index < sizeof urls / sizeof *urls; index++) {
        webhook_config_t config = s_config ("generic", SECRET);
        config.url = urls [index];
        cr_assert_eq (webhook_send (&config, &notice, s_error, sizeof s_error), SEND_PERMANENT,
                      "%s", urls [index]);
        cr_assert (*s_error);
    }
    webhook_config_t config = s_config ("generic", SECRET);
    config.url = NULL;
    cr_assert_eq (webhook_send (&config, &notice, s_error, sizeof s_error), SEND_PERMANENT);
    cr_assert_eq (s_requests (), 0);
}

Test (webhook, errors_name_neither_the_secret_nor_the_url_path)
{
    int statuses [] = { 403 };
    s_receiver_start (statuses, 1);
    s_rx.reply = "invalid_token";
    s_rx.reply_size = strlen (s_rx.reply);
    char url [256];
    snprintf (url, sizeof url, "%s/services/T000/B000/XXXXsecretpath?key=querysecret",
              s_rx.url);
    notice_t notice = s_notice ();
    webhook_config_t config = s_config ("slack", SECRET);
    config.url = url;
    cr_assert_eq (webhook_send (&config, &notice, s_error, sizeof s_error), SEND_PERMANENT);
    cr_assert (strstr (s_error, "HTTP 4xx"), "%s", s_error);
    cr_assert_null (strstr (s_error, "invalid_token"), "%s", s_error);
    cr_assert_null (strstr (s_error, "secretpath"), "%s", s_error);
    cr_assert_null (strstr (s_error, "querysecret"), "%s", s_error);
    cr_assert_null (strstr (s_error, SECRET), "%s", s_error);
    cr_assert_str_eq (s_rx.requests [0]->path, "/hook/services/T000/B000/XXXXsecretpath");
}

Test (webhook, a_bad_delivery_id_is_refused)
{
    int statuses [] = { 200 };
    s_receiver_start (statuses, 1);
    notice_t notice = s_notice ();
    notice.delivery_id = "d1\r\nX-Evil: 1";
    webhook_config_t config = s_config ("generic", SECRET);
    cr_assert_eq (webhook_send (&config, &notice, s_error, sizeof s_error), SEND_PERMANENT);
    cr_assert_eq (s_requests (), 0);
}

Test (webhook, text_that_is_not_utf8_is_kept_as_question_marks)
{
    notice_item_t item = s_items [0];
    item.address = "aws_s3_bucket.caf\xE9";            // Latin-1, not UTF-8
    item.score = 0.0 / 0.0;                             // NaN: JSON has none
    notice_t notice = s_notice ();
    notice.items = &item;
    notice.item_count = 1;
    char *text = webhook_body ("generic", &notice);
    cr_assert (text);
    json_t *body = json_loads (text, 0, NULL);
    cr_assert (body);
    json_t *first = json_array_get (json_object_get (body, "items"), 0);
    cr_assert_str_eq (json_string_value (json_object_get (first, "address")), "aws_s3_bucket.caf?");
    cr_assert (json_is_real (json_object_get (first, "score")));
    json_decref (body);
    free (text);
    text = webhook_body ("slack", &notice);
    cr_assert (text);
    json_decref (s_slack_checked (text));
    cr_assert (strstr (text, "`aws_s3_bucket.caf?`"), "%s", text);
    free (text);
}

//  --------------------------------------------------------------------------
//  Where a webhook may go (actors/notify/egress)

Test (webhook, internal_addresses_are_refused_in_every_spelling)
{
    //  The attack: a tenant admin points a channel at the server's own
    //  network. A receiver listens on loopback, so a send that got through
    //  would be seen there.
    int statuses [] = { 200 };
    s_receiver_start (statuses, 1);
    int port = atoi (strrchr (s_rx.url, ':') + 1);
    const char *hosts [] = {
        "127.0.0.1", "localhost", "2130706433", "0177.0.0.1", "0x7f000001", "0x7f.1", "127.1",
        "[::1]", "[::ffff:127.0.0.1]", "[::ffff:7f00:1]", "0.0.0.0", "[::]",
        "10.1.2.3", "172.16.0.1", "192.168.1.1", "100.64.0.1", "169.254.169.254",
        "[fe80::1]", "[fd00::1]", "[64:ff9b::a9fe:a9fe]", "[2002:7f00:1::]", "224.0.0.1"
    };
    notice_t notice = s_notice ();
    for (size_t i = 0; i < sizeof hosts / sizeof hosts [0]; i++) {
        char url [128];
        snprintf (url, sizeof url, "http://%s:%d/hook", hosts [i], port);
        webhook_config_t config = s_config ("generic", SECRET);
        config.url = url;
        config.allow_hosts = NULL;
        cr_assert_eq (webhook_send (&config, &notice, s_error, sizeof s_error), SEND_PERMANENT,
                      "%s: %s", url, s_error);
        cr_assert (strstr (s_error, "refused"), "%s: %s", url, s_error);
    }
    cr_assert_eq (s_requests (), 0, "no send reached the receiver");
    cr_assert_eq (metric_value (metrics_counter (metrics_default (),
                  "drift_channel_egress_refused_total", "", "reason", "internal", NULL)),
                  (int64_t) (sizeof hosts / sizeof hosts [0]), "every refusal counted");
    //  The operator's allowance, by the name the URL uses, lets it through.
    webhook_config_t config = s_config ("generic", SECRET);
    config.allow_hosts = "hooks.example.com,127.0.0.1";
    cr_assert_eq (webhook_send (&config, &notice, s_error, sizeof s_error), SEND_OK, "%s", s_error);
    cr_assert_eq (s_requests (), 1);
}
