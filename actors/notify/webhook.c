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

    A send uses its own curl handle: notices are rare next to the reports
    they summarise, and a handle per send keeps webhook_send free of state
    and safe to call from any thread. libcurl is told to speak only http and
    https and to follow nothing; "Expect:" is sent empty so a larger body is
    not held back a second waiting for a 100 Continue that many receivers
    never send.
*/
#include "webhook.h"
#include "../../lib/curlinit.h"
#include "egress.h"
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

#define WEBHOOK_TIMEOUT_MS 10000     // when the config says 0
#define SLACK_HEADER_MAX 150         // plain_text of a header block
#define SLACK_SECTION_MAX 3000       // mrkdwn text of a section
#define SLACK_FIELD_MAX 2000         // mrkdwn text of one field
#define SLACK_TEXT_MAX 3000          // our fallback text (Slack allows more; a line is enough)
#define SLACK_ITEMS_MAX 20           // item sections; the rest are counted in a context block
#define SLACK_PATHS_MAX 10           // changed paths named per item

//  --------------------------------------------------------------------------
//  Text

//  A copy of text fit for JSON: text itself when it is UTF-8, else with
//  every non-ASCII byte as '?'. Caller frees (json_t, a string).
static json_t *
s_string (const char *text)
{
    if (!text)
        text = "";
    json_t *string = json_string (text);
    if (string)
        return string;
    char *copy = strdup (text);
    if (!copy)
        return NULL;
    for (char *byte = copy; *byte; byte++)
        if ((unsigned char) *byte >= 0x80)
            *byte = '?';
    string = json_string (copy);
    free (copy);
    return string;
}

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
    json_t *string = s_string (text);
    free (text);
    return string;
}

//  --------------------------------------------------------------------------
//  Generic format

//  JSON array text as given by notice_item_t (changes, reasons), parsed; an
//  empty array if it is missing, does not parse, or is not an array: one
//  bad column should not cost the receiver the rest of the notice.
static json_t *
s_array (const char *text)
{
    json_t *array = text ? json_loads (text, JSON_DECODE_ANY, NULL) : NULL;
    if (array && json_is_array (array))
        return array;
    json_decref (array);
    return json_array ();
}

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
            "fingerprint", s_string (item->fingerprint),
            "address", s_string (item->address),
            "type", s_string (item->type),
            "kind", s_string (item->kind),
            "severity", severity_name (item->severity),
            "score", isfinite (item->score) ? item->score : 0.0,
            "stack", s_string (item->stack),
            "report_id", s_string (item->report_id),
            "reasons", s_array (item->reasons),
            "changes", s_array (item->changes)));
    }
    json_t *checks = json_array ();
    for (size_t index = 0; index < notice->check_count; index++) {
        const notice_check_t *check = &notice->checks [index];
        char check_received [32];
        notice_iso8601 (check->received_us, check_received, sizeof check_received);
        json_array_append_new (checks, json_pack ("{s:s, s:o, s:o, s:s, s:o}",
            "state", notice_check_state_name (check->state),
            "stack", s_string (check->stack),
            "report_id", s_string (check->report_id),
            "received_at", check_received,
            "reason", s_string (check->state == NOTICE_CHECK_FAILED ? check->reason : "")));
    }
    return json_pack ("{s:i, s:s, s:o, s:o, s:o, s:o, s:s, s:s, s:i, s:o, s:o}",
        "version", 1,
        "event", s_event (notice),
        "delivery", s_string (notice->delivery_id),
        "tenant", s_string (notice->tenant),
        "stack", s_string (notice->stack),
        "report_id", s_string (notice->report_id),
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
    json_t *reasons = s_array (item->reasons);
    const char *reason = json_string_value (json_object_get (json_array_get (reasons, 0), "reason"));
    if (reason && *reason) {
        textbuf_addc (&text, '\n');
        s_mrkdwn_add (&text, reason, false);
    }
    json_decref (reasons);
    json_t *changes = s_array (item->changes);
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

//  How much the receiver answered: read and dropped (nothing of a reply
//  is ever shown), at most WEBHOOK_REPLY_MAX bytes.
typedef struct {
    size_t size;                // bytes read
    bool cut;                   // there was more: the transfer was ended there
} s_reply_t;

static size_t
s_receive (char *bytes, size_t size, size_t count, void *argument)
{
    (void) bytes;
    s_reply_t *reply = (s_reply_t *) argument;
    size_t more = size * count;
    if (more > WEBHOOK_REPLY_MAX - reply->size) {
        reply->cut = true;
        return 0;                       // ends the transfer with CURLE_WRITE_ERROR
    }
    reply->size += more;
    return more;
}

//  "scheme://host[:port]" of url into origin: what errors may name. The
//  path and query may be the credential (a Slack webhook's is) and the
//  user-info certainly is.
int
webhook_origin (const char *url, char *origin, size_t origin_size)
{
    *origin = 0;
    CURLU *parsed = curl_url ();
    if (!parsed)
        return -1;
    char *scheme = NULL, *host = NULL, *port = NULL;
    int rc = -1;
    if (curl_url_set (parsed, CURLUPART_URL, url, 0) == CURLUE_OK
    &&  curl_url_get (parsed, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK
    &&  curl_url_get (parsed, CURLUPART_HOST, &host, 0) == CURLUE_OK) {
        curl_url_get (parsed, CURLUPART_PORT, &port, 0);
        snprintf (origin, origin_size, "%s://%s%s%s", scheme, host, port ? ":" : "",
                  port ? port : "");
        rc = 0;
    }
    curl_free (scheme);
    curl_free (host);
    curl_free (port);
    curl_url_cleanup (parsed);
    return rc;
}

//  A URL we may POST to: http or https, no control characters (a CR or LF
//  would smuggle a header into the request line), parsed by libcurl.
static int
s_check_url (const char *url, char *origin, size_t origin_size)
{
    if (!url)
        return -1;
    for (const char *byte = url; *byte; byte++)
        if ((unsigned char) *byte < 0x20 || *byte == 0x7F)
            return -1;
    if (strncasecmp (url, "http://", 7) != 0 && strncasecmp (url, "https://", 8) != 0)
        return -1;
    return webhook_origin (url, origin, origin_size);
}

//  What an HTTP status means for the notice, with its class in error:
//  never the reply's bytes nor where a redirect points, which would make
//  a channel test a reader of whatever answers at the URL.
static send_result_t
s_status_result (long status, const char *prefix, char *error, size_t error_size)
{
    if (status >= 200 && status < 300)
        return SEND_OK;
    if (status >= 300 && status < 400) {
        snprintf (error, error_size,
                  "%s: HTTP 3xx, a redirect, not followed (a signed notice goes only to the "
                  "configured URL): configure the final URL; not retryable", prefix);
        return SEND_PERMANENT;
    }
    bool transient = status == 408 || status == 429 || status >= 500;
    const char *class_name = status == 429 ? "429, too many requests"
                           : status == 408 ? "408, timed out"
                           : status >= 500 && status < 600 ? "5xx"
                           : status >= 400 && status < 500 ? "4xx" : "status of no known class";
    snprintf (error, error_size, "%s: HTTP %s; %s", prefix, class_name,
              transient ? "retryable" : "not retryable");
    return transient ? SEND_TRANSIENT : SEND_PERMANENT;
}

//  What a failed transfer was, as a class: curl's own message names
//  addresses, ports and TLS details of whatever was reached.
static const char *
s_curl_class (CURLcode code)
{
    if (notice_tls_untrusted (code))
        return "the TLS certificate is not trusted";
    switch (code) {
        case CURLE_COULDNT_RESOLVE_HOST:
            return "the host does not resolve";
        case CURLE_COULDNT_CONNECT:
            return "could not connect";
        case CURLE_OPERATION_TIMEDOUT:
            return "timed out";
        case CURLE_SSL_CONNECT_ERROR:
            return "TLS failed";
        case CURLE_URL_MALFORMAT:
        case CURLE_UNSUPPORTED_PROTOCOL:
            return "the URL is not usable";
        default:
            return "the connection failed";
    }
}

send_result_t
webhook_send (const webhook_config_t *config, const notice_t *notice,
              char *error, size_t error_size)
{
    snprintf (error, error_size, "webhook: no settings or no notice");
    if (!config || !notice)
        return SEND_PERMANENT;
    char origin [256];
    if (s_check_url (config->url, origin, sizeof origin)) {
        snprintf (error, error_size,
                  "webhook: the URL is not a well-formed http:// or https:// URL; not sent");
        return SEND_PERMANENT;
    }
    //  The id goes into a header and into errors: only after it is checked.
    bool id_ok = notice_delivery_id_ok (notice->delivery_id);
    char prefix [512];
    snprintf (prefix, sizeof prefix, "webhook %s to %s", id_ok ? notice->delivery_id : "?", origin);
    if (!id_ok) {
        snprintf (error, error_size, "%s: the delivery id is empty or not [A-Za-z0-9.-]; not sent",
                  prefix);
        return SEND_PERMANENT;
    }
    if (curlinit_once ()) {
        snprintf (error, error_size, "%s: cannot initialise libsodium or libcurl", prefix);
        return SEND_TRANSIENT;
    }
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
    //  Resolved, checked and pinned now, at every send: the host's
    //  addresses may have changed since the channel was added.
    char refused [512];
    egress_t *egress = egress_check (config->url, config->allow_hosts, refused, sizeof refused);
    if (!egress) {
        snprintf (error, error_size, "%s: refused: %s; not sent", prefix, refused);
        free (body);
        return SEND_PERMANENT;
    }
    CURL *curl = curl_easy_init ();
    s_reply_t *reply = (s_reply_t *) calloc (1, sizeof *reply);
    if (!curl || !reply || egress_apply (egress, curl)) {
        snprintf (error, error_size, "%s: out of memory", prefix);
        curl_easy_cleanup (curl);
        egress_destroy (&egress);
        free (reply);
        free (body);
        return SEND_TRANSIENT;
    }
    char line [WEBHOOK_SIGNATURE_SIZE + 64];
    struct curl_slist *headers = curl_slist_append (NULL, "Content-Type: application/json");
    headers = curl_slist_append (headers, "User-Agent: drift-notify/1");
    headers = curl_slist_append (headers, "Expect:");
    snprintf (line, sizeof line, "X-Drift-Delivery: %s", notice->delivery_id);
    headers = curl_slist_append (headers, line);
    snprintf (line, sizeof line, "X-Drift-Event: %s", s_event (notice));
    headers = curl_slist_append (headers, line);
    if (config->secret && *config->secret) {
        char signature [WEBHOOK_SIGNATURE_SIZE];
        webhook_signature (config->secret, (int64_t) time (NULL), body, body_size, signature);
        snprintf (line, sizeof line, "X-Drift-Signature: %s", signature);
        headers = curl_slist_append (headers, line);
    }
    long timeout_ms = config->timeout_ms > 0 ? config->timeout_ms : WEBHOOK_TIMEOUT_MS;
    curl_easy_setopt (curl, CURLOPT_URL, config->url);
    curl_easy_setopt (curl, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt (curl, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt (curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt (curl, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt (curl, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms);
    if (config->ca_file && *config->ca_file)
        curl_easy_setopt (curl, CURLOPT_CAINFO, config->ca_file);
    curl_easy_setopt (curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt (curl, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt (curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t) body_size);
    curl_easy_setopt (curl, CURLOPT_WRITEFUNCTION, s_receive);
    curl_easy_setopt (curl, CURLOPT_WRITEDATA, reply);

    send_result_t result;
    CURLcode code = curl_easy_perform (curl);
    long status = 0;
    curl_easy_getinfo (curl, CURLINFO_RESPONSE_CODE, &status);
    if (code == CURLE_OK || (code == CURLE_WRITE_ERROR && reply->cut && status))
        result = s_status_result (status, prefix, error, error_size);
    else {
        result = notice_curl_result (code);
        snprintf (error, error_size, "%s: %s; %s", prefix, s_curl_class (code),
                  result == SEND_TRANSIENT ? "retryable" : "not retryable");
    }
    if (result == SEND_OK)
        *error = 0;
    curl_slist_free_all (headers);
    curl_easy_cleanup (curl);
    egress_destroy (&egress);
    free (reply);
    free (body);
    return result;
}
