/*  alerting: the PagerDuty, Opsgenie and Microsoft Teams channels
    (actors/notify/alerting.h, docs/NOTIFY.md), each added as `drift channel`
    and the API add one (channel_settings_prepare: the key sealed under a
    real channel key), opened as notify opens it (channel_new) and sent to
    a real HTTP receiver on loopback (tests/httpsink), which records each
    request. Every body is checked against the service's documented shape:
    required fields, severity values, the dedup_key or alias a resolution
    reuses; each status the services answer is mapped to what the sender
    does (5xx and 429 retried, 4xx not). Bad settings are refused with a
    reason, and the key never reaches the stored settings.
*/
#include "../actors/notify/alerting.h"
#include "../actors/notify/channel.h"
#include "../lib/seal.h"
#include "httpsink.h"
#include "testutil.h"

#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define TENANT_ID "6a1e9c3e-8c1b-4d42-9a53-0d6f6c0f7a11"
#define CHANNEL_ID "0b5a3c1d-2f4e-4a6b-8c9d-1e2f3a4b5c6d"
#define ROUTING_KEY "R0uting0Key0abcdef0123456789abcd"
#define GENIE_KEY "eb243592-faa2-4ba2-a551q-1afdf565c889"

static seal_keyring_t *s_keyring;
static char s_key_path [256];
static char s_error [1024];

static void
s_setup (void)
{
    snprintf (s_key_path, sizeof s_key_path, "%s/alerting-channel-%d.key",
              getenv ("DRIFT_TEST_VAR_DIR") ? getenv ("DRIFT_TEST_VAR_DIR") : "/tmp",
              (int) getpid ());
    FILE *file = fopen (s_key_path, "w");
    cr_assert (file);
    fprintf (file, "%s\n", "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff");
    fclose (file);
    chmod (s_key_path, 0600);
    s_keyring = seal_keyring_load (s_key_path, NULL, s_error, sizeof s_error);
    cr_assert (s_keyring, "%s", s_error);
}

static void
s_teardown (void)
{
    seal_keyring_destroy (&s_keyring);
    unlink (s_key_path);
}

TestSuite (alerting, .init = s_setup, .fini = s_teardown);

//  --------------------------------------------------------------------------
//  Notices

static notice_item_t
s_item (const char *fingerprint, const char *address, int severity, bool resolved)
{
    return (notice_item_t) {
        .fingerprint = fingerprint, .address = address, .type = "aws_security_group",
        .kind = "modified", .severity = severity, .score = 0.9,
        .changes = "[{\"path\":\"ingress[0].cidr_blocks[0]\",\"op\":\"added\"}]",
        .reasons = "[{\"rule\":\"aws-sg-ingress-world-ssh\",\"severity\":5,"
                   "\"reason\":\"ingress 0.0.0.0/0 on port 22 added\",\"path\":\"\"}]",
        .resolved = resolved, .stack = "payments", .report_id = resolved ? "r-2" : "r-1"
    };
}

static notice_t
s_notice (const char *delivery, const notice_item_t *items, size_t count)
{
    return (notice_t) {
        .delivery_id = delivery, .tenant = "acme", .stack = "payments",
        .report_id = items [0].report_id, .received_us = 1764000000000000LL,
        .severity = items [0].severity, .score = 90, .items = items, .item_count = count
    };
}

//  A channel of kind with settings (JSON), prepared as the API does and
//  opened as notify does; NULL (reason in s_error) if either refuses.
static channel_t *
s_channel (const char *kind, const char *settings, char **stored_out)
{
    channel_context_t context = {
        .timeout_ms = 3000, .allow_hosts = "127.0.0.1", .keyring = s_keyring
    };
    char secret [65], *sealed = NULL;
    char *stored = channel_settings_prepare (kind, settings, TENANT_ID, CHANNEL_ID, &context,
                                             secret, &sealed, s_error, sizeof s_error);
    if (!stored)
        return NULL;
    channel_t *channel = channel_new (kind, stored, sealed, TENANT_ID, CHANNEL_ID, &context,
                                      s_error, sizeof s_error);
    if (stored_out)
        *stored_out = stored;
    else
        free (stored);
    free (sealed);
    return channel;
}

//  Request index of sink as JSON (caller decrefs).
static json_t *
s_body (httpsink_t *sink, int index, httpsink_request_t *request)
{
    cr_assert_eq (httpsink_request (sink, index, request), 0, "no request %d", index);
    json_t *body = json_loads (request->body, 0, NULL);
    cr_assert (body, "request %d is not JSON: %s", index, request->body);
    return body;
}

static const char *
s_text (json_t *object, const char *path)
{
    //  "a.b.c": nested objects.
    char copy [128];
    snprintf (copy, sizeof copy, "%s", path);
    json_t *node = object;
    for (char *rest = copy, *name = strsep (&rest, "."); name; name = strsep (&rest, "."))
        node = json_object_get (node, name);
    return json_string_value (node);
}

//  --------------------------------------------------------------------------
//  PagerDuty

Test (alerting, pagerduty_triggers_with_the_documented_payload_and_resolves_the_same_dedup_key)
{
    char url [64];
    httpsink_t *sink = httpsink_start ((int []) { 202 }, 1, url);
    char settings [256], *stored = NULL;
    snprintf (settings, sizeof settings, "{\"url\": \"%s\", \"routing_key\": \"%s\"}", url,
              ROUTING_KEY);
    channel_t *channel = s_channel ("pagerduty", settings, &stored);
    cr_assert (channel, "%s", s_error);
    cr_assert_null (strstr (stored, ROUTING_KEY), "the key is sealed, not stored: %s", stored);

    notice_item_t opened [] = { s_item ("fp-web", "aws_security_group.web", 5, false),
                                s_item ("fp-db", "aws_db_instance.main", 3, false) };
    notice_t notice = s_notice ("d-open", opened, 2);
    cr_assert_eq (channel_send (channel, &notice, s_error, sizeof s_error), SEND_OK, "%s", s_error);
    notice_item_t resolved [] = { s_item ("fp-web", "aws_security_group.web", 5, true) };
    notice = s_notice ("d-resolve", resolved, 1);
    cr_assert_eq (channel_send (channel, &notice, s_error, sizeof s_error), SEND_OK, "%s", s_error);
    cr_assert_eq (httpsink_count (sink), 3, "one event per item");

    httpsink_request_t request;
    json_t *trigger = s_body (sink, 0, &request);
    cr_assert_str_eq (request.path, "/hook");
    cr_assert_str_eq (s_text (trigger, "routing_key"), ROUTING_KEY);
    cr_assert_str_eq (s_text (trigger, "event_action"), "trigger");
    const char *dedup_key = s_text (trigger, "dedup_key");
    cr_assert (dedup_key && strncmp (dedup_key, "drift-", 6) == 0 && strlen (dedup_key) == 38,
               "%s", dedup_key);
    const char *summary = s_text (trigger, "payload.summary");
    cr_assert (summary && *summary && strlen (summary) <= 1024);
    cr_assert (strstr (summary, "aws_security_group.web"), "%s", summary);
    cr_assert_str_eq (s_text (trigger, "payload.source"), "payments");
    cr_assert_str_eq (s_text (trigger, "payload.severity"), "critical");
    cr_assert_str_eq (s_text (trigger, "payload.timestamp"), "2025-11-24T16:00:00Z");
    cr_assert_str_eq (s_text (trigger, "payload.custom_details.fingerprint"), "fp-web");
    cr_assert_str_eq (s_text (trigger, "payload.custom_details.tenant"), "acme");
    json_t *medium = s_body (sink, 1, &request);
    cr_assert_str_eq (s_text (medium, "payload.severity"), "warning");
    cr_assert_str_neq (s_text (medium, "dedup_key"), dedup_key, "one alert per drift");

    json_t *resolve = s_body (sink, 2, &request);
    cr_assert_str_eq (s_text (resolve, "event_action"), "resolve");
    cr_assert_str_eq (s_text (resolve, "dedup_key"), dedup_key,
                      "the resolution names the alert the drift opened");
    cr_assert_str_eq (s_text (resolve, "routing_key"), ROUTING_KEY);
    cr_assert_null (json_object_get (resolve, "payload"), "a resolve carries no payload");
    json_decref (trigger);
    json_decref (medium);
    json_decref (resolve);
    channel_destroy (&channel);
    free (stored);
    httpsink_stop (&sink);
}

Test (alerting, pagerduty_severities_are_the_four_the_api_accepts)
{
    static const char *const expected [] = { "info", "info", "info", "warning", "error",
                                             "critical" };
    alerting_config_t config = { .key = ROUTING_KEY };
    for (int severity = 1; severity <= 5; severity++) {
        notice_item_t item = s_item ("fp", "aws_s3_bucket.logs", severity, false);
        notice_t notice = s_notice ("d", &item, 1);
        json_t *event = pagerduty_event (&config, &notice, 0);
        cr_assert_str_eq (s_text (event, "payload.severity"), expected [severity]);
        json_decref (event);
    }
}

Test (alerting, a_failing_check_triggers_and_its_recovery_resolves_it)
{
    alerting_config_t config = { .key = ROUTING_KEY };
    notice_check_t failed = { .stack = "payments", .report_id = "r-1",
                              .state = NOTICE_CHECK_FAILED, .reason = "provider auth failed" };
    notice_check_t recovered = { .stack = "payments", .report_id = "r-2",
                                 .state = NOTICE_CHECK_RECOVERED };
    notice_t notice = { .delivery_id = "d", .tenant = "acme", .stack = "payments",
                        .report_id = "r-1", .checks = &failed, .check_count = 1 };
    json_t *trigger = pagerduty_event (&config, &notice, 0);
    notice.checks = &recovered;
    json_t *resolve = pagerduty_event (&config, &notice, 0);
    cr_assert_str_eq (s_text (trigger, "event_action"), "trigger");
    cr_assert_str_eq (s_text (trigger, "payload.severity"), "error");
    cr_assert (strstr (s_text (trigger, "payload.summary"), "provider auth failed"));
    cr_assert_str_eq (s_text (resolve, "event_action"), "resolve");
    cr_assert_str_eq (s_text (resolve, "dedup_key"), s_text (trigger, "dedup_key"));
    json_decref (trigger);
    json_decref (resolve);
}

Test (alerting, server_errors_and_429_are_retried_other_4xx_are_not)
{
    char url [64];
    httpsink_t *sink = httpsink_start ((int []) { 500, 429, 400, 202 }, 4, url);
    char settings [256];
    snprintf (settings, sizeof settings, "{\"url\": \"%s\", \"routing_key\": \"%s\"}", url,
              ROUTING_KEY);
    channel_t *channel = s_channel ("pagerduty", settings, NULL);
    cr_assert (channel, "%s", s_error);
    notice_item_t item = s_item ("fp-web", "aws_security_group.web", 5, false);
    notice_t notice = s_notice ("d-1", &item, 1);
    cr_assert_eq (channel_send (channel, &notice, s_error, sizeof s_error), SEND_TRANSIENT);
    cr_assert (strstr (s_error, "5xx; retryable"), "%s", s_error);
    cr_assert_eq (channel_send (channel, &notice, s_error, sizeof s_error), SEND_TRANSIENT);
    cr_assert (strstr (s_error, "429, too many requests; retryable"), "%s", s_error);
    cr_assert_eq (channel_send (channel, &notice, s_error, sizeof s_error), SEND_PERMANENT);
    cr_assert (strstr (s_error, "4xx; not retryable"), "%s", s_error);
    cr_assert_null (strstr (s_error, ROUTING_KEY), "%s", s_error);
    cr_assert_eq (channel_send (channel, &notice, s_error, sizeof s_error), SEND_OK, "%s", s_error);
    channel_destroy (&channel);
    httpsink_stop (&sink);
}

//  --------------------------------------------------------------------------
//  Opsgenie

Test (alerting, opsgenie_creates_with_an_alias_and_closes_by_the_same_alias)
{
    char url [64];
    httpsink_t *sink = httpsink_start ((int []) { 202 }, 1, url);
    //  The channel's URL is the API's base: the sink's origin.
    char base [64], settings [256];
    snprintf (base, sizeof base, "%.*s", (int) (strrchr (url, '/') - url), url);
    snprintf (settings, sizeof settings, "{\"url\": \"%s/\", \"api_key\": \"%s\"}", base,
              GENIE_KEY);
    char *stored = NULL;
    channel_t *channel = s_channel ("opsgenie", settings, &stored);
    cr_assert (channel, "%s", s_error);
    cr_assert_null (strstr (stored, GENIE_KEY), "%s", stored);
    //  A long address: Opsgenie's message is at most 130 characters.
    char address [300];
    memset (address, 'a', sizeof address - 1);
    address [sizeof address - 1] = 0;
    memcpy (address, "aws_iam_role.", 13);
    notice_item_t opened [] = { s_item ("fp-role", address, 4, false) };
    notice_t notice = s_notice ("d-open", opened, 1);
    cr_assert_eq (channel_send (channel, &notice, s_error, sizeof s_error), SEND_OK, "%s", s_error);
    notice_item_t resolved [] = { s_item ("fp-role", address, 4, true) };
    notice = s_notice ("d-resolve", resolved, 1);
    cr_assert_eq (channel_send (channel, &notice, s_error, sizeof s_error), SEND_OK, "%s", s_error);
    cr_assert_eq (httpsink_count (sink), 2);

    httpsink_request_t request;
    json_t *create = s_body (sink, 0, &request);
    cr_assert_str_eq (request.path, "/v2/alerts");
    cr_assert_str_eq (request.authorization, "GenieKey " GENIE_KEY);
    const char *message = s_text (create, "message");
    cr_assert (message && *message && strlen (message) <= 130, "%s", message);
    const char *alias = s_text (create, "alias");
    cr_assert (alias && strncmp (alias, "drift-", 6) == 0 && strlen (alias) <= 512);
    cr_assert_str_eq (s_text (create, "priority"), "P2", "high is P2");
    cr_assert_str_eq (s_text (create, "source"), "dd0c/drift");
    cr_assert_str_eq (s_text (create, "entity"), address);
    cr_assert (strlen (s_text (create, "description")) <= 15000);
    json_t *tags = json_object_get (create, "tags");
    cr_assert (json_is_array (tags) && json_array_size (tags) <= 20);
    for (size_t index = 0; index < json_array_size (tags); index++)
        cr_assert (strlen (json_string_value (json_array_get (tags, index))) <= 50);
    const char *key;
    json_t *value;
    json_object_foreach (json_object_get (create, "details"), key, value)
        cr_assert (json_is_string (value), "details are strings: %s", key);

    json_t *close = s_body (sink, 1, &request);
    char path [128];
    snprintf (path, sizeof path, "/v2/alerts/%s/close", alias);
    cr_assert_str_eq (request.path, path, "the resolution closes the alert the drift opened");
    cr_assert_str_eq (request.identifier_type, "alias");
    cr_assert_str_eq (request.authorization, "GenieKey " GENIE_KEY);
    cr_assert_str_eq (s_text (close, "source"), "dd0c/drift");
    json_decref (create);
    json_decref (close);
    channel_destroy (&channel);
    free (stored);
    httpsink_stop (&sink);
}

Test (alerting, opsgenie_priorities_follow_severity)
{
    static const char *const expected [] = { "", "P5", "P4", "P3", "P2", "P1" };
    for (int severity = 1; severity <= 5; severity++) {
        notice_item_t item = s_item ("fp", "aws_s3_bucket.logs", severity, false);
        notice_t notice = s_notice ("d", &item, 1);
        char path [128];
        json_t *create = opsgenie_request (&notice, 0, path);
        cr_assert_str_eq (s_text (create, "priority"), expected [severity]);
        json_decref (create);
    }
}

//  --------------------------------------------------------------------------
//  Microsoft Teams

Test (alerting, teams_gets_one_adaptive_card_per_notice_within_its_size_limit)
{
    char url [64];
    httpsink_t *sink = httpsink_start ((int []) { 200 }, 1, url);
    char settings [256];
    snprintf (settings, sizeof settings, "{\"url\": \"%s?sig=s3cret\"}", url);
    channel_t *channel = s_channel ("teams", settings, NULL);
    cr_assert (channel, "%s", s_error);
    //  Fifty items with long, hostile text: a link of their own, markdown.
    notice_item_t items [50];
    char addresses [50][700];
    for (int index = 0; index < 50; index++) {
        snprintf (addresses [index], sizeof addresses [index],
                  "aws_s3_bucket.b%d[\"[click](https://evil.example/)**%0600d\"]", index, 0);
        items [index] = s_item ("fp", addresses [index], 4, index % 2);
    }
    notice_t notice = s_notice ("d-teams", items, 50);
    cr_assert_eq (channel_send (channel, &notice, s_error, sizeof s_error), SEND_OK, "%s", s_error);
    cr_assert_eq (httpsink_count (sink), 1, "one message per notice");
    httpsink_request_t request;
    json_t *message = s_body (sink, 0, &request);
    cr_assert_lt (request.size, 28 * 1024, "Teams takes at most 28 KB: %zu", request.size);
    cr_assert_null (strstr (request.body, "](https://evil"), "no link made from a report's text");
    cr_assert_str_eq (s_text (message, "type"), "message");
    json_t *attachment = json_array_get (json_object_get (message, "attachments"), 0);
    cr_assert_str_eq (s_text (attachment, "contentType"), "application/vnd.microsoft.card.adaptive");
    cr_assert (json_is_null (json_object_get (attachment, "contentUrl")));
    json_t *card = json_object_get (attachment, "content");
    cr_assert_str_eq (s_text (card, "type"), "AdaptiveCard");
    cr_assert_str_eq (s_text (card, "version"), "1.4");
    json_t *body = json_object_get (card, "body");
    cr_assert_eq (json_array_size (body), 2 + 20 + 1, "title, facts, 20 items, and N more");
    cr_assert_str_eq (s_text (json_array_get (body, 1), "type"), "FactSet");
    size_t index;
    json_t *block;
    json_array_foreach (body, index, block) {
        if (index == 1)
            continue;
        cr_assert_str_eq (s_text (block, "type"), "TextBlock");
        cr_assert (json_is_string (json_object_get (block, "text")));
    }
    cr_assert (strstr (s_text (json_array_get (body, 22), "text"), "30 more"));
    json_decref (message);
    channel_destroy (&channel);
    httpsink_stop (&sink);
}

Test (alerting, a_channel_test_to_pagerduty_resolves_the_alert_it_raised)
{
    char url [64];
    httpsink_t *sink = httpsink_start ((int []) { 202 }, 1, url);
    char settings [256], delivery [48];
    snprintf (settings, sizeof settings, "{\"url\": \"%s\", \"routing_key\": \"%s\"}", url,
              ROUTING_KEY);
    channel_t *channel = s_channel ("pagerduty", settings, NULL);
    cr_assert (channel, "%s", s_error);
    cr_assert_eq (channel_send_test (channel, "acme", delivery, s_error, sizeof s_error), SEND_OK,
                  "%s", s_error);
    cr_assert_eq (httpsink_count (sink), 2, "the sample, then its resolution");
    httpsink_request_t request;
    json_t *trigger = s_body (sink, 0, &request);
    json_t *resolve = s_body (sink, 1, &request);
    cr_assert_str_eq (s_text (trigger, "event_action"), "trigger");
    cr_assert_str_eq (s_text (resolve, "event_action"), "resolve");
    cr_assert_str_eq (s_text (resolve, "dedup_key"), s_text (trigger, "dedup_key"));
    json_decref (trigger);
    json_decref (resolve);
    channel_destroy (&channel);
    httpsink_stop (&sink);
}

//  --------------------------------------------------------------------------
//  Settings

Test (alerting, bad_settings_are_refused_with_a_reason)
{
    static const struct {
        const char *kind, *settings, *reason;
    } cases [] = {
        { "pagerduty", "{}", "needs routing_key" },
        { "pagerduty", "{\"routing_key\": \"abc\\r\\nX-Injected: 1\"}", "printable ASCII" },
        { "pagerduty", "{\"routing_key\": 42}", "printable ASCII" },
        { "pagerduty", "{\"routing_key\": \"k\", \"url\": \"ftp://x\"}", "http:// or https://" },
        { "opsgenie", "{\"api_key\": \"with space\"}", "printable ASCII" },
        { "opsgenie", "{}", "needs api_key" },
        { "teams", "{}", "url" },
        { "webhook", "{\"url\": \"http://127.0.0.1/\", \"routing_key\": \"k\"}", "credential" },
        { "slack", "{\"url\": \"http://127.0.0.1/\"}", "a channel kind is" },
    };
    for (size_t index = 0; index < sizeof cases / sizeof cases [0]; index++) {
        cr_assert_null (s_channel (cases [index].kind, cases [index].settings, NULL),
                        "%s %s was accepted", cases [index].kind, cases [index].settings);
        cr_assert (strstr (s_error, cases [index].reason), "%s %s: %s", cases [index].kind,
                   cases [index].settings, s_error);
    }
}

Test (alerting, defaults_and_what_readers_see)
{
    channel_context_t context = { .timeout_ms = 3000, .allow_hosts = "127.0.0.1",
                                  .keyring = s_keyring };
    char secret [65], *sealed = NULL;
    char *stored = channel_settings_prepare ("pagerduty", "{\"url\": \"http://127.0.0.1:9/\", "
                                             "\"routing_key\": \"" ROUTING_KEY "\"}", TENANT_ID,
                                             CHANNEL_ID, &context, secret, &sealed, s_error,
                                             sizeof s_error);
    cr_assert (stored, "%s", s_error);
    cr_assert (sealed);
    free (stored);
    //  No url: the service's own enqueue URL, so the settings open.
    channel_t *channel = channel_new ("pagerduty", "{}", sealed, TENANT_ID, CHANNEL_ID, &context,
                                      s_error, sizeof s_error);
    cr_assert (channel, "%s", s_error);
    channel_destroy (&channel);
    //  Sealed for this tenant and channel: another row's id does not open it.
    cr_assert_null (channel_new ("pagerduty", "{}", sealed, TENANT_ID,
                                 "ffffffff-2f4e-4a6b-8c9d-1e2f3a4b5c6d", &context, s_error,
                                 sizeof s_error));
    cr_assert (strstr (s_error, "does not open"), "%s", s_error);
    //  And without its sealed key the channel does not open at all.
    cr_assert_null (channel_new ("pagerduty", "{}", "", TENANT_ID, CHANNEL_ID, &context,
                                 s_error, sizeof s_error));
    cr_assert (strstr (s_error, "no routing_key"), "%s", s_error);
    //  Nor without the operator's channel key.
    context.keyring = NULL;
    cr_assert_null (channel_new ("pagerduty", "{}", sealed, TENANT_ID, CHANNEL_ID, &context,
                                 s_error, sizeof s_error));
    free (sealed);
    //  A Teams URL's path and query are its credential: readers see its origin.
    char *shown = channel_settings_public ("teams",
        "{\"url\": \"https://acme.webhook.office.com/webhookb2/abc?sig=s3cret\"}", true);
    cr_assert_null (strstr (shown, "s3cret"), "%s", shown);
    cr_assert (strstr (shown, "https://acme.webhook.office.com"), "%s", shown);
    free (shown);
    shown = channel_settings_public ("opsgenie", "{\"api_key\": \"k\", \"url\": \"u\"}", false);
    cr_assert_null (strstr (shown, "api_key"), "%s", shown);
    free (shown);
}
