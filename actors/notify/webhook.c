/*  webhook: the Slack and generic JSON bodies of a notice, their HMAC
    signature, and the POST that carries them; see webhook.h and
    docs/WEBHOOKS.md.

    Bodies are built with jansson, so every string is escaped as JSON wants
    whatever the archive's rows hold; text that is not UTF-8 (which jansson
    refuses) goes out with its non-ASCII bytes as '?', never dropped. The
    Slack body is also mrkdwn, whose own escaping (&, <, >) is applied to
    every value from a report before it is placed in text, and Slack's
    limits (header 150 characters, section text 3000, field text 2000, 10
    fields, 50 blocks) are kept by measuring in bytes, which never
    undercounts characters, and cutting at a character boundary outside an
    entity.

    The POST itself, its egress check and how a reply is judged are
    actors/notify/httppost's, shared with the other HTTP channels.
*/
#include "webhook.h"
#include "../../lib/curlinit.h"
#include "httppost.h"
#include "../../lib/severity.h"
#include "../../lib/textbuf.h"

#include <curl/curl.h>
#include <jansson.h>
#include <math.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define SLACK_HEADER_MAX 150         // plain_text of a header block
#define SLACK_SECTION_MAX 3000       // mrkdwn text of a section
#define SLACK_FIELD_MAX 2000         // mrkdwn text of one field
#define SLACK_TEXT_MAX 3000          // our fallback text (Slack allows more; a line is enough)
#define SLACK_ITEMS_MAX 20           // item sections; the rest are counted in a context block
#define SLACK_PATHS_MAX 10           // changed paths named per item

//  --------------------------------------------------------------------------
//  Text

//  Append text escaped as Slack's mrkdwn wants (&, <, > as entities); in a
//  code span (code), a backtick would end the span early, so it becomes '.
static void
s_mrkdwn_add (textbuf_t *buffer, const char *text, bool code)
{
    for (const char *byte = text ? text : ""; *byte; byte++) {
        if (*byte == '&')
            textbuf_adds (buffer, "&amp;");
        else
        if (*byte == '<')
            textbuf_adds (buffer, "&lt;");
        else
        if (*byte == '>')
            textbuf_adds (buffer, "&gt;");
        else
        if (code && *byte == '`')
            textbuf_addc (buffer, '\'');
        else
        if (code && (*byte == '\n' || *byte == '\r'))
            textbuf_addc (buffer, ' ');
        else
            textbuf_addc (buffer, *byte);
    }
}

//  Cut buffer to at most limit bytes (so at most limit characters), ending
//  with "…" when cut: never inside a UTF-8 sequence nor inside an entity
//  s_mrkdwn_add wrote.
static void
s_fit (textbuf_t *buffer, size_t limit)
{
    if (buffer->failed || buffer->size <= limit)
        return;
    //  Room for "…", three bytes; data [size] starts the cut-off part.
    size_t size = notice_utf8_cut (buffer->data, limit - 3);
    for (size_t back = 1; back <= 4 && back <= size; back++) {
        char c = buffer->data [size - back];
        if (c == ';')
            break;
        if (c == '&') {
            size -= back;
            break;
        }
    }
    textbuf_truncate (buffer, size);
    textbuf_adds (buffer, "\xE2\x80\xA6");
}

//  The buffer's text as a JSON string (NULL if memory ran out); empties it.
static json_t *
s_detach (textbuf_t *buffer)
{
    char *text = textbuf_detach (buffer);
    if (!text)
        return NULL;
    json_t *string = httppost_json_string (text);
    free (text);
    return string;
}

//  --------------------------------------------------------------------------
//  Generic format

static const char *
s_event (const notice_t *notice)
{
    return notice->digest ? "drift.digest" : "drift.report";
}

static json_t *
s_generic (const notice_t *notice)
{
    char received_at [32];
    notice_iso8601 (notice->received_us, received_at, sizeof received_at);
    json_t *items = json_array ();
    for (size_t index = 0; index < notice->item_count; index++) {
        const notice_item_t *item = &notice->items [index];
        json_array_append_new (items, json_pack ("{s:s, s:o, s:o, s:o, s:o, s:s, s:f, s:o, s:o, s:o, s:o}",
            "state", item->resolved ? "resolved" : "new",
            "fingerprint", httppost_json_string (item->fingerprint),
            "address", httppost_json_string (item->address),
            "type", httppost_json_string (item->type),
            "kind", httppost_json_string (item->kind),
            "severity", severity_name (item->severity),
            "score", isfinite (item->score) ? item->score : 0.0,
            "stack", httppost_json_string (item->stack),
            "report_id", httppost_json_string (item->report_id),
            "reasons", httppost_json_array (item->reasons),
            "changes", httppost_json_array (item->changes)));
    }
    json_t *checks = json_array ();
    for (size_t index = 0; index < notice->check_count; index++) {
        const notice_check_t *check = &notice->checks [index];
        char check_received [32];
        notice_iso8601 (check->received_us, check_received, sizeof check_received);
        json_array_append_new (checks, json_pack ("{s:s, s:o, s:o, s:s, s:o}",
            "state", notice_check_state_name (check->state),
            "stack", httppost_json_string (check->stack),
            "report_id", httppost_json_string (check->report_id),
            "received_at", check_received,
            "reason", httppost_json_string (check->state == NOTICE_CHECK_FAILED ? check->reason : "")));
    }
    return json_pack ("{s:i, s:s, s:o, s:o, s:o, s:o, s:s, s:s, s:i, s:o, s:o}",
        "version", 1,
        "event", s_event (notice),
        "delivery", httppost_json_string (notice->delivery_id),
        "tenant", httppost_json_string (notice->tenant),
        "stack", httppost_json_string (notice->stack),
        "report_id", httppost_json_string (notice->report_id),
        "received_at", received_at,
        "severity", severity_name (notice->severity),
        "score", notice->score,
        "checks", checks,
        "items", items);
}

//  --------------------------------------------------------------------------
//  Slack format

static size_t
s_resolved (const notice_t *notice)
{
    size_t resolved = 0;
    for (size_t index = 0; index < notice->item_count; index++)
        if (notice->items [index].resolved)
            resolved++;
    return resolved;
}

//  One field of the summary section: "*Name*\nvalue".
static json_t *
s_field (const char *name, const char *value)
{
    textbuf_t text = TEXTBUF_INIT;
    textbuf_addc (&text, '*');
    textbuf_adds (&text, name);
    textbuf_adds (&text, "*\n");
    s_mrkdwn_add (&text, value, false);
    s_fit (&text, SLACK_FIELD_MAX);
    return json_pack ("{s:s, s:o}", "type", "mrkdwn", "text", s_detach (&text));
}

//  What a reader needs of one item: state, address, kind, severity, its
//  first reason and the paths that changed.
static json_t *
s_item_section (const notice_t *notice, const notice_item_t *item)
{
    textbuf_t text = TEXTBUF_INIT;
    textbuf_adds (&text, item->resolved ? "*Resolved* `" : "*New* `");
    s_mrkdwn_add (&text, item->address, true);
    textbuf_adds (&text, "` ");
    s_mrkdwn_add (&text, item->kind, false);
    char line [96];
    snprintf (line, sizeof line, ", *%s* (%.2f)", severity_name (item->severity),
              isfinite (item->score) ? item->score : 0.0);
    textbuf_adds (&text, line);
    if (notice->digest && item->stack && *item->stack) {
        textbuf_adds (&text, " in ");
        s_mrkdwn_add (&text, item->stack, false);
    }
    json_t *reasons = httppost_json_array (item->reasons);
    const char *reason = json_string_value (json_object_get (json_array_get (reasons, 0), "reason"));
    if (reason && *reason) {
        textbuf_addc (&text, '\n');
        s_mrkdwn_add (&text, reason, false);
    }
    json_decref (reasons);
    json_t *changes = httppost_json_array (item->changes);
    size_t named = 0, paths = 0;
    for (size_t index = 0; index < json_array_size (changes); index++) {
        const char *path = json_string_value (json_object_get (json_array_get (changes, index), "path"));
        if (!path)
            continue;
        paths++;
        if (named == SLACK_PATHS_MAX)
            continue;
        textbuf_adds (&text, named ? ", `" : "\nChanged: `");
        s_mrkdwn_add (&text, path, true);
        textbuf_addc (&text, '`');
        named++;
    }
    if (paths > named) {
        snprintf (line, sizeof line, " and %zu more", paths - named);
        textbuf_adds (&text, line);
    }
    json_decref (changes);
    s_fit (&text, SLACK_SECTION_MAX);
    return json_pack ("{s:s, s:{s:s, s:o}}", "type", "section",
                      "text", "type", "mrkdwn", "text", s_detach (&text));
}

//  A stack's check that failed (with why), went silent or works again.
static json_t *
s_check_section (const notice_check_t *check)
{
    static const char *const titles [NOTICE_CHECK_STATES] = {
        "*Check failed* in ", "*No report lately* from ", "*Reporting again* after a silence: ",
        "*Check works again* in "
    };
    textbuf_t text = TEXTBUF_INIT;
    textbuf_adds (&text, titles [check->state]);
    s_mrkdwn_add (&text, check->stack, false);
    textbuf_adds (&text, check->state == NOTICE_CHECK_SILENT ? ", the last report `"
                                                             : ", report `");
    s_mrkdwn_add (&text, check->report_id, true);
    textbuf_addc (&text, '`');
    if (check->state == NOTICE_CHECK_SILENT) {
        char received [32];
        notice_iso8601 (check->received_us, received, sizeof received);
        textbuf_adds (&text, " at ");
        textbuf_adds (&text, received);
        textbuf_adds (&text, "\nIts agent may have stopped: its drift goes unseen.");
    }
    if (check->state == NOTICE_CHECK_FAILED) {
        textbuf_adds (&text, "\nIts drift goes unseen until it works again.");
        if (check->reason && *check->reason) {
            textbuf_addc (&text, '\n');
            s_mrkdwn_add (&text, check->reason, false);
        }
    }
    s_fit (&text, SLACK_SECTION_MAX);
    return json_pack ("{s:s, s:{s:s, s:o}}", "type", "section",
                      "text", "type", "mrkdwn", "text", s_detach (&text));
}

static json_t *
s_slack (const notice_t *notice)
{
    size_t resolved = s_resolved (notice);
    size_t fresh = notice->item_count - resolved;
    size_t checks [NOTICE_CHECK_STATES] = { 0 };
    for (size_t index = 0; index < notice->check_count; index++)
        checks [notice->checks [index].state]++;
    size_t failed = checks [NOTICE_CHECK_FAILED], silent = checks [NOTICE_CHECK_SILENT];
    const char *severity = severity_name (notice->severity);
    char counts [160];
    snprintf (counts, sizeof counts, "%s%s%s%s%zu new, %zu resolved",
              failed ? "check failed, " : "", silent ? "no report lately, " : "",
              checks [NOTICE_CHECK_RESUMED] ? "reporting again, " : "",
              checks [NOTICE_CHECK_RECOVERED] ? "check works again, " : "", fresh, resolved);
    char score [16];
    snprintf (score, sizeof score, "%d", notice->score);

    //  The fallback: what a notification or an old client shows.
    textbuf_t text = TEXTBUF_INIT;
    if (notice->digest) {
        textbuf_adds (&text, "Drift digest for ");
        s_mrkdwn_add (&text, notice->tenant, false);
    }
    else {
        textbuf_adds (&text, "Drift in ");
        s_mrkdwn_add (&text, notice->stack, false);
    }
    textbuf_adds (&text, ": ");
    textbuf_adds (&text, severity);
    textbuf_adds (&text, ", score ");
    textbuf_adds (&text, score);
    textbuf_adds (&text, ", ");
    textbuf_adds (&text, counts);
    s_fit (&text, SLACK_TEXT_MAX);

    //  The header is plain_text: shown as written, so not escaped.
    textbuf_t header = TEXTBUF_INIT;
    if (notice->digest)
        textbuf_adds (&header, "Drift digest: ");
    else {
        textbuf_adds (&header, failed ? "Drift check failed in "
                             : silent ? "No drift report lately from " : "Drift in ");
        textbuf_adds (&header, notice->stack ? notice->stack : "");
        textbuf_adds (&header, ": ");
    }
    textbuf_adds (&header, severity);
    textbuf_adds (&header, ", score ");
    textbuf_adds (&header, score);
    for (size_t index = 0; index < header.size; index++)
        if (header.data [index] == '\n' || header.data [index] == '\r')
            header.data [index] = ' ';
    s_fit (&header, SLACK_HEADER_MAX);

    json_t *fields = json_pack ("[o, o, o, o, o, o]",
        s_field ("Tenant", notice->tenant),
        s_field ("Stack", notice->digest ? "several" : notice->stack),
        s_field ("Severity", severity),
        s_field ("Score", score),
        s_field ("Report", notice->digest ? "digest" : notice->report_id),
        s_field ("Items", counts));
    json_t *blocks = json_pack ("[{s:s, s:{s:s, s:o}}, {s:s, s:o}]",
        "type", "header", "text", "type", "plain_text", "text", s_detach (&header),
        "type", "section", "fields", fields);
    //  Checks first, then items, SLACK_ITEMS_MAX sections in all.
    size_t checks_shown = notice->check_count < SLACK_ITEMS_MAX ? notice->check_count
                                                                : SLACK_ITEMS_MAX;
    for (size_t index = 0; index < checks_shown; index++)
        json_array_append_new (blocks, s_check_section (&notice->checks [index]));
    size_t room = SLACK_ITEMS_MAX - checks_shown;
    size_t shown = notice->item_count < room ? notice->item_count : room;
    for (size_t index = 0; index < shown; index++)
        json_array_append_new (blocks, s_item_section (notice, &notice->items [index]));
    size_t hidden = notice->check_count - checks_shown + notice->item_count - shown;
    if (hidden) {
        char more [64];
        snprintf (more, sizeof more, "and %zu more", hidden);
        json_array_append_new (blocks, json_pack ("{s:s, s:[{s:s, s:s}]}", "type", "context",
                               "elements", "type", "mrkdwn", "text", more));
    }
    return json_pack ("{s:o, s:o}", "text", s_detach (&text), "blocks", blocks);
}

//  --------------------------------------------------------------------------
//  Body and signature

char *
webhook_body (const char *format, const notice_t *notice)
{
    if (!format || !notice)
        return NULL;
    json_t *body = NULL;
    if (strcmp (format, "generic") == 0)
        body = s_generic (notice);
    else
    if (strcmp (format, "slack") == 0)
        body = s_slack (notice);
    if (!body)
        return NULL;
    //  Ten significant digits: an item score of 0.9 reads 0.9, not 0.90000000000000002.
    char *text = json_dumps (body, JSON_COMPACT | JSON_REAL_PRECISION (10));
    json_decref (body);
    return text;
}

//  HMAC-SHA256 (secret, "TIMESTAMP." + body) into mac.
static void
s_mac (const char *secret, int64_t timestamp, const char *body, size_t size,
       uint8_t mac [crypto_auth_hmacsha256_BYTES])
{
    curlinit_once ();           // libsodium ready
    char prefix [32];
    int prefix_size = snprintf (prefix, sizeof prefix, "%lld.", (long long) timestamp);
    crypto_auth_hmacsha256_state state;
    crypto_auth_hmacsha256_init (&state, (const uint8_t *) secret, strlen (secret));
    crypto_auth_hmacsha256_update (&state, (const uint8_t *) prefix, (size_t) prefix_size);
    crypto_auth_hmacsha256_update (&state, (const uint8_t *) body, size);
    crypto_auth_hmacsha256_final (&state, mac);
    sodium_memzero (&state, sizeof state);  // the state holds the key's pads
}

void
webhook_signature (const char *secret, int64_t timestamp, const char *body, size_t size,
                   char *signature)
{
    uint8_t mac [crypto_auth_hmacsha256_BYTES];
    s_mac (secret ? secret : "", timestamp, body, size, mac);
    char hex [2 * crypto_auth_hmacsha256_BYTES + 1];
    sodium_bin2hex (hex, sizeof hex, mac, sizeof mac);
    snprintf (signature, WEBHOOK_SIGNATURE_SIZE, "t=%lld,v1=%s", (long long) timestamp, hex);
}

int
webhook_verify (const char *secret, const char *header, const char *body, size_t size,
                int64_t now, int tolerance_s)
{
    if (!secret || !*secret || !header || !body)
        return -1;
    //  t=DIGITS first, then one or more ",v1=HEX" (several while a sender
    //  rotates its secret; any one may match).
    if (strncmp (header, "t=", 2) != 0)
        return -1;
    const char *cursor = header + 2;
    int64_t timestamp = 0;
    int digits = 0;
    for (; *cursor >= '0' && *cursor <= '9'; cursor++, digits++) {
        if (digits == 15)
            return -1;                  // no sane clock is that far off
        timestamp = timestamp * 10 + (*cursor - '0');
    }
    if (digits == 0 || *cursor != ',')
        return -1;
    int64_t age = now - timestamp;
    if (age > tolerance_s || age < -(int64_t) tolerance_s)
        return -1;
    uint8_t expected [crypto_auth_hmacsha256_BYTES];
    s_mac (secret, timestamp, body, size, expected);
    int rc = -1;
    while (*cursor == ',') {
        cursor++;
        const char *value = cursor;
        cursor += strcspn (cursor, ",");
        if (strncmp (value, "v1=", 3) != 0 || cursor - value != 3 + 2 * crypto_auth_hmacsha256_BYTES)
            continue;
        uint8_t given [crypto_auth_hmacsha256_BYTES];
        size_t given_size = 0;
        if (sodium_hex2bin (given, sizeof given, value + 3, 2 * crypto_auth_hmacsha256_BYTES,
                            NULL, &given_size, NULL) == 0
        &&  given_size == sizeof given
        &&  sodium_memcmp (given, expected, sizeof expected) == 0)
            rc = 0;                     // no early exit: the time taken says nothing
    }
    sodium_memzero (expected, sizeof expected);
    return rc;
}

//  --------------------------------------------------------------------------
//  Sending

send_result_t
webhook_send (const webhook_config_t *config, const notice_t *notice,
              char *error, size_t error_size)
{
    char prefix [512];
    send_result_t begun = httppost_begin ("webhook", config ? config->url : NULL, notice, prefix,
                                          sizeof prefix, error, error_size);
    if (begun != SEND_OK)
        return begun;
    char *body = webhook_body (config->format, notice);
    if (!body) {
        snprintf (error, error_size, "%s: unknown format \"%.32s\" (slack or generic); not sent",
                  prefix, config->format ? config->format : "");
        return SEND_PERMANENT;
    }
    size_t body_size = strlen (body);
    if (body_size > WEBHOOK_BODY_MAX) {
        snprintf (error, error_size, "%s: the %s body is %zu bytes, over the limit of %d; not sent",
                  prefix, config->format, body_size, WEBHOOK_BODY_MAX);
        free (body);
        return SEND_PERMANENT;
    }
    char line [WEBHOOK_SIGNATURE_SIZE + 64];
    snprintf (line, sizeof line, "X-Drift-Delivery: %s", notice->delivery_id);
    struct curl_slist *headers = curl_slist_append (NULL, line);
    snprintf (line, sizeof line, "X-Drift-Event: %s", s_event (notice));
    headers = curl_slist_append (headers, line);
    if (config->secret && *config->secret) {
        char signature [WEBHOOK_SIGNATURE_SIZE];
        webhook_signature (config->secret, (int64_t) time (NULL), body, body_size, signature);
        snprintf (line, sizeof line, "X-Drift-Signature: %s", signature);
        headers = curl_slist_append (headers, line);
    }
    httppost_target_t target = {
        .url = config->url, .ca_file = config->ca_file, .timeout_ms = config->timeout_ms,
        .allow_hosts = config->allow_hosts
    };
    send_result_t result = headers
        ? httppost_send (&target, headers, body, body_size, prefix, error, error_size)
        : SEND_TRANSIENT;
    if (!headers)
        snprintf (error, error_size, "%s: out of memory", prefix);
    curl_slist_free_all (headers);
    free (body);
    return result;
}
