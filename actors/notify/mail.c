/*  mail: a notice as one email over SMTP with libcurl; see mail.h.

    The message is libcurl's MIME structure, not text we assemble: a
    multipart/alternative (its type set by a Content-Type in the header
    list, which libcurl completes with its boundary) holding a text/plain
    and a text/html part, both UTF-8 and quoted-printable through libcurl's
    encoder, which keeps lines within 76 characters. For SMTP libcurl takes
    the CURLOPT_HTTPHEADER list as the mail's own headers and adds
    "Mime-Version: 1.0" itself when the list has none, so we leave it out.

    Headers we build are checked as we build them: the From and the
    recipients come from the channel's settings and are refused with CR, LF
    or other control characters in them; the Subject carries a stack name
    from an agent, so it goes out as RFC 2047 encoded words whenever it is
    not short printable ASCII, folded onto continuation lines we write
    ourselves. The delivery id must be [A-Za-z0-9.-] (notice.h), so the
    Message-ID and X-Drift-Delivery cannot carry anything else either.

    The bodies show what the notice holds, each value cut at about 200
    bytes (on a UTF-8 boundary, with an ellipsis) and with control
    characters as spaces, so a value with newlines cannot fake structure in
    the text part; the HTML part escapes it too. A digest groups its items
    by stack. Values are shown as the archive gave them: masked already.

    Outcomes follow notice.h: what a retry cannot fix (a refused login, a
    5xx reply, TLS refused or untrusted, a bad URL) is permanent; a refused
    connection, a timeout, a 4xx reply or anything else is transient. The
    reason names the URL and what failed, and is scrubbed of the password in
    case a server ever echoes it.
*/
#include "mail.h"
#include "../../lib/curlinit.h"
#include "egress.h"
#include "../score/score.h"
#include "../../lib/textbuf.h"

#include <curl/curl.h>
#include <jansson.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

//  How many bytes of one value, reason or address the bodies show.
#define MAIL_VALUE_MAX 200
//  How many bytes of the stack name the Subject shows.
#define MAIL_SUBJECT_STACK_MAX 80
//  Bytes of UTF-8 per encoded word: 45 bytes are 60 of base64, so a
//  folded "=?UTF-8?B?...?=" line stays under 78 characters.
#define MAIL_WORD_BYTES 45
//  RFC 5322's recommended line length, which we keep our headers within.
#define MAIL_LINE_MAX 78

//  --------------------------------------------------------------------------
//  Text helpers

static void
s_addf (textbuf_t *buf, const char *format, ...)
{
    va_list args;
    va_start (args, format);
    char small [256];
    int size = vsnprintf (small, sizeof small, format, args);
    va_end (args);
    if (size < 0) {
        buf->failed = true;
        return;
    }
    if ((size_t) size < sizeof small) {
        textbuf_add (buf, small, (size_t) size);
        return;
    }
    char *large = (char *) malloc ((size_t) size + 1);
    if (!large) {
        buf->failed = true;
        return;
    }
    va_start (args, format);
    vsnprintf (large, (size_t) size + 1, format, args);
    va_end (args);
    textbuf_add (buf, large, (size_t) size);
    free (large);
}

//  Append text, at most limit bytes of it (cut on a UTF-8 boundary, then
//  "…"), control characters as spaces, and for HTML with &<>"' escaped.
static void
s_add_text (textbuf_t *buf, const char *text, size_t limit, bool html)
{
    if (!text)
        text = "";
    size_t length = strlen (text);
    bool cut = length > limit;
    if (cut) {
        length = limit;
        while (length > 0 && ((unsigned char) text [length] & 0xC0) == 0x80)
            length--;
    }
    for (size_t i = 0; i < length; i++) {
        unsigned char c = (unsigned char) text [i];
        if (c < 0x20 || c == 0x7F)
            textbuf_addc (buf, ' ');
        else
        if (html && c == '&')
            textbuf_adds (buf, "&amp;");
        else
        if (html && c == '<')
            textbuf_adds (buf, "&lt;");
        else
        if (html && c == '>')
            textbuf_adds (buf, "&gt;");
        else
        if (html && c == '"')
            textbuf_adds (buf, "&quot;");
        else
        if (html && c == '\'')
            textbuf_adds (buf, "&#39;");
        else
            textbuf_addc (buf, (char) c);
    }
    if (cut)
        textbuf_adds (buf, "\xE2\x80\xA6");
}

static const char *
s_severity_name (int severity)
{
    if (severity < DRIFT__SEVERITY__SEVERITY_NONE || severity > DRIFT__SEVERITY__SEVERITY_CRITICAL)
        severity = DRIFT__SEVERITY__SEVERITY_NONE;
    return score_severity_name ((Drift__Severity) severity);
}

//  "2026-11-27T12:09:35Z" for microseconds since the epoch.
static void
s_iso8601 (int64_t time_us, char *out, size_t size)
{
    time_t seconds = (time_t) (time_us / 1000000);
    struct tm tm;
    if (!gmtime_r (&seconds, &tm)) {
        snprintf (out, size, "(unknown)");
        return;
    }
    strftime (out, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

//  RFC 5322's date, "Fri, 27 Nov 2026 12:09:35 +0000", with English names
//  whatever the locale.
static void
s_rfc5322_date (time_t now, char *out, size_t size)
{
    static const char *days [] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };
    static const char *months [] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                     "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
    struct tm tm;
    gmtime_r (&now, &tm);
    snprintf (out, size, "%s, %02d %s %04d %02d:%02d:%02d +0000", days [tm.tm_wday],
              tm.tm_mday, months [tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
              tm.tm_sec);
}

//  --------------------------------------------------------------------------
//  Subject

static void
s_count (const notice_t *notice, size_t *fresh, size_t *resolved)
{
    *fresh = *resolved = 0;
    for (size_t i = 0; i < notice->item_count; i++)
        if (notice->items [i].resolved)
            (*resolved)++;
        else
            (*fresh)++;
}

//  How many checks of the notice are in each state.
static void
s_count_checks (const notice_t *notice, size_t counts [NOTICE_CHECK_STATES])
{
    for (int state = 0; state < NOTICE_CHECK_STATES; state++)
        counts [state] = 0;
    for (size_t i = 0; i < notice->check_count; i++)
        counts [notice->checks [i].state]++;
}

//  The distinct stacks of a notice's checks and items, in order of first appearance
//  (an array of pointers into the items; caller frees). *count is set.
static const char **
s_stacks (const notice_t *notice, size_t *count)
{
    *count = 0;
    const char **stacks = (const char **) calloc (notice->check_count + notice->item_count + 1,
                                                  sizeof (char *));
    if (!stacks)
        return NULL;
    for (size_t i = 0; i < notice->check_count + notice->item_count; i++) {
        const char *stack = i < notice->check_count
                          ? notice->checks [i].stack
                          : notice->items [i - notice->check_count].stack;
        if (!stack || !*stack)
            stack = notice->stack ? notice->stack : "";
        size_t seen = 0;
        while (seen < *count && strcmp (stacks [seen], stack) != 0)
            seen++;
        if (seen == *count)
            stacks [(*count)++] = stack;
    }
    return stacks;
}

char *
mail_subject (const notice_t *notice)
{
    textbuf_t buf = TEXTBUF_INIT;
    size_t fresh, resolved;
    s_count (notice, &fresh, &resolved);
    textbuf_adds (&buf, "[drift] ");
    if (notice->digest) {
        size_t stack_count = 0;
        const char **stacks = s_stacks (notice, &stack_count);
        free (stacks);
        s_add_text (&buf, notice->tenant, MAIL_SUBJECT_STACK_MAX, false);
        s_addf (&buf, " digest, %zu stack%s: ", stack_count, stack_count == 1 ? "" : "s");
    }
    else {
        s_add_text (&buf, notice->stack, MAIL_SUBJECT_STACK_MAX, false);
        textbuf_adds (&buf, ": ");
    }
    size_t checks [NOTICE_CHECK_STATES];
    s_count_checks (notice, checks);
    size_t failed = checks [NOTICE_CHECK_FAILED], silent = checks [NOTICE_CHECK_SILENT];
    size_t resumed = checks [NOTICE_CHECK_RESUMED], recovered = checks [NOTICE_CHECK_RECOVERED];
    //  What happened, most urgent first: "check failed, 2 new drift".
    char phrases [7][48];
    size_t count = 0;
    if (failed == 1)
        snprintf (phrases [count++], sizeof phrases [0], "check failed");
    if (failed > 1)
        snprintf (phrases [count++], sizeof phrases [0], "%zu checks failed", failed);
    if (silent == 1)
        snprintf (phrases [count++], sizeof phrases [0], "no report lately");
    if (silent > 1)
        snprintf (phrases [count++], sizeof phrases [0], "%zu stacks silent", silent);
    if (fresh)
        snprintf (phrases [count++], sizeof phrases [0], "%zu new drift", fresh);
    if (resolved)
        snprintf (phrases [count++], sizeof phrases [0], "%zu resolved", resolved);
    if (resumed)
        snprintf (phrases [count++], sizeof phrases [0], "reporting again");
    if (recovered == 1)
        snprintf (phrases [count++], sizeof phrases [0], "check works again");
    if (recovered > 1)
        snprintf (phrases [count++], sizeof phrases [0], "%zu checks work again", recovered);
    for (size_t i = 0; i < count; i++) {
        if (i)
            textbuf_adds (&buf, ", ");
        textbuf_adds (&buf, phrases [i]);
    }
    if (count == 0)
        textbuf_adds (&buf, "no drift");
    //  Only good news (a check that works again): no severity to name.
    if (notice->item_count || notice->severity > 0)
        s_addf (&buf, " (%s)", s_severity_name (notice->severity));
    return textbuf_detach (&buf);
}

//  "Subject: ..." for the header list: as it is when short printable
//  ASCII, else RFC 2047 B-encoded words of whole UTF-8 characters, one per
//  folded line. NULL if memory ran out.
static char *
s_subject_header (const char *subject)
{
    textbuf_t buf = TEXTBUF_INIT;
    textbuf_adds (&buf, "Subject: ");
    bool plain = strlen ("Subject: ") + strlen (subject) <= MAIL_LINE_MAX;
    for (const char *byte = subject; plain && *byte; byte++)
        if ((unsigned char) *byte < 0x20 || (unsigned char) *byte >= 0x7F)
            plain = false;
    if (plain) {
        textbuf_adds (&buf, subject);
        return textbuf_detach (&buf);
    }
    size_t length = strlen (subject);
    size_t offset = 0;
    while (offset < length) {
        size_t take = length - offset;
        if (take > MAIL_WORD_BYTES) {
            take = MAIL_WORD_BYTES;
            while (take > 1 && ((unsigned char) subject [offset + take] & 0xC0) == 0x80)
                take--;
        }
        char word [sodium_base64_ENCODED_LEN (MAIL_WORD_BYTES, sodium_base64_VARIANT_ORIGINAL)];
        sodium_bin2base64 (word, sizeof word, (const unsigned char *) subject + offset, take,
                           sodium_base64_VARIANT_ORIGINAL);
        //  Whitespace between two encoded words is not part of the text
        //  (RFC 2047 6.2), so folding between them adds no spaces.
        if (offset > 0)
            textbuf_adds (&buf, "\r\n ");
        s_addf (&buf, "=?UTF-8?B?%s?=", word);
        offset += take;
    }
    return textbuf_detach (&buf);
}

//  --------------------------------------------------------------------------
//  Bodies

//  A JSON value as shown: a string as it is, null as "(none)", anything
//  else as compact JSON.
static void
s_add_json_value (textbuf_t *buf, json_t *value, bool html)
{
    if (!value || json_is_null (value)) {
        textbuf_adds (buf, "(none)");
        return;
    }
    if (json_is_string (value)) {
        s_add_text (buf, json_string_value (value), MAIL_VALUE_MAX, html);
        return;
    }
    char *dumped = json_dumps (value, JSON_COMPACT | JSON_ENCODE_ANY);
    s_add_text (buf, dumped ? dumped : "(unreadable)", MAIL_VALUE_MAX, html);
    free (dumped);
}

static void
s_render_reasons (textbuf_t *buf, const char *reasons_json, bool html)
{
    json_t *reasons = reasons_json ? json_loads (reasons_json, 0, NULL) : NULL;
    if (!json_is_array (reasons) || json_array_size (reasons) == 0) {
        json_decref (reasons);
        return;
    }
    textbuf_adds (buf, html ? "<p>Reasons:</p>\r\n<ul>\r\n" : "  Reasons:\r\n");
    size_t index;
    json_t *reason;
    json_array_foreach (reasons, index, reason) {
        textbuf_adds (buf, html ? "<li>" : "    - ");
        json_t *text = json_object_get (reason, "reason");
        s_add_text (buf, json_is_string (text) ? json_string_value (text) : "(no reason given)",
                    MAIL_VALUE_MAX, html);
        json_t *rule = json_object_get (reason, "rule");
        if (json_is_string (rule)) {
            textbuf_adds (buf, html ? " <small>(rule " : " (rule ");
            s_add_text (buf, json_string_value (rule), MAIL_VALUE_MAX, html);
            textbuf_adds (buf, html ? ")</small>" : ")");
        }
        textbuf_adds (buf, html ? "</li>\r\n" : "\r\n");
    }
    if (html)
        textbuf_adds (buf, "</ul>\r\n");
    json_decref (reasons);
}

static void
s_render_changes (textbuf_t *buf, const char *changes_json, bool html)
{
    json_t *changes = changes_json ? json_loads (changes_json, 0, NULL) : NULL;
    if (!json_is_array (changes) || json_array_size (changes) == 0) {
        json_decref (changes);
        return;
    }
    textbuf_adds (buf, html ? "<p>Changes:</p>\r\n<ul>\r\n" : "  Changes:\r\n");
    size_t index;
    json_t *change;
    json_array_foreach (changes, index, change) {
        json_t *path = json_object_get (change, "path");
        textbuf_adds (buf, html ? "<li><code>" : "    - ");
        s_add_text (buf, json_is_string (path) ? json_string_value (path) : "(no path)",
                    MAIL_VALUE_MAX, html);
        textbuf_adds (buf, html ? "</code>" : "");
        json_t *op = json_object_get (change, "op");
        if (json_is_string (op)) {
            textbuf_adds (buf, " (");
            s_add_text (buf, json_string_value (op), MAIL_VALUE_MAX, html);
            textbuf_adds (buf, ")");
        }
        textbuf_adds (buf, ": ");
        s_add_json_value (buf, json_object_get (change, "before"), html);
        textbuf_adds (buf, " \xE2\x86\x92 ");
        s_add_json_value (buf, json_object_get (change, "after"), html);
        textbuf_adds (buf, html ? "</li>\r\n" : "\r\n");
    }
    if (html)
        textbuf_adds (buf, "</ul>\r\n");
    json_decref (changes);
}

static void
s_render_item (textbuf_t *buf, const notice_t *notice, const notice_item_t *item, bool html)
{
    textbuf_adds (buf, html ? "<h4><code>" : "* ");
    s_add_text (buf, item->address, MAIL_VALUE_MAX, html);
    textbuf_adds (buf, html ? "</code></h4>\r\n<p>" : "\r\n  ");
    s_add_text (buf, item->type, MAIL_VALUE_MAX, html);
    textbuf_adds (buf, ", ");
    s_add_text (buf, item->kind, MAIL_VALUE_MAX, html);
    s_addf (buf, ", severity %s, score %.2f", s_severity_name (item->severity), item->score);
    if (notice->digest && item->report_id && *item->report_id) {
        textbuf_adds (buf, ", report ");
        s_add_text (buf, item->report_id, MAIL_VALUE_MAX, html);
    }
    textbuf_adds (buf, html ? "</p>\r\n" : "\r\n");
    s_render_reasons (buf, item->reasons, html);
    s_render_changes (buf, item->changes, html);
    if (!html)
        textbuf_adds (buf, "\r\n");
}

static void
s_render_heading (textbuf_t *buf, int level, const char *title, const char *detail, bool html)
{
    if (html) {
        s_addf (buf, "<h%d>", level);
        s_add_text (buf, title, MAIL_VALUE_MAX, true);
        if (detail) {
            textbuf_adds (buf, " <code>");
            s_add_text (buf, detail, MAIL_VALUE_MAX, true);
            textbuf_adds (buf, "</code>");
        }
        s_addf (buf, "</h%d>\r\n", level);
    }
    else {
        const char *rule = level == 2 ? "==" : "--";
        s_addf (buf, "%s ", rule);
        s_add_text (buf, title, MAIL_VALUE_MAX, false);
        if (detail) {
            textbuf_addc (buf, ' ');
            s_add_text (buf, detail, MAIL_VALUE_MAX, false);
        }
        s_addf (buf, " %s\r\n\r\n", rule);
    }
}

static void
s_render_check (textbuf_t *buf, const notice_t *notice, const notice_check_t *check, bool html)
{
    char received [40];
    s_iso8601 (check->received_us, received, sizeof received);
    textbuf_adds (buf, html ? "<p>" : "* ");
    if (notice->digest || !notice->stack || !*notice->stack) {
        textbuf_adds (buf, html ? "<code>" : "");
        s_add_text (buf, check->stack, MAIL_VALUE_MAX, html);
        textbuf_adds (buf, html ? "</code>: " : ": ");
    }
    if (check->state == NOTICE_CHECK_SILENT) {
        s_addf (buf, "no report since %s (the last was ", received);
        s_add_text (buf, check->report_id, MAIL_VALUE_MAX, html);
        textbuf_adds (buf, "): its agent may have stopped, so drift on this stack goes unseen.");
    }
    else {
        textbuf_adds (buf, check->state == NOTICE_CHECK_FAILED
                           ? "the drift check failed, so drift on this stack goes unseen until it "
                             "works again. Report "
                           : check->state == NOTICE_CHECK_RESUMED
                           ? "a report came after a silence. Report "
                           : "the drift check works again. Report ");
        s_add_text (buf, check->report_id, MAIL_VALUE_MAX, html);
        s_addf (buf, ", received %s.", received);
    }
    if (check->state == NOTICE_CHECK_FAILED && check->reason && *check->reason) {
        textbuf_adds (buf, html ? "</p>\r\n<pre>" : "\r\n  Reason: ");
        s_add_text (buf, check->reason, MAIL_VALUE_MAX, html);
        textbuf_adds (buf, html ? "</pre>\r\n" : "\r\n\r\n");
    }
    else
        textbuf_adds (buf, html ? "</p>\r\n" : "\r\n\r\n");
}

//  The checks, then the new and the resolved items of one stack (all of
//  them when stack is NULL), each kind under its own heading.
static void
s_render_stack (textbuf_t *buf, const notice_t *notice, const char *stack, int level, bool html)
{
    static const char *const headings [NOTICE_CHECK_STATES] = {
        "Check failed", "No report lately", "Reporting again", "Check works again"
    };
    for (int state = 0; state < NOTICE_CHECK_STATES; state++) {
        bool headed = false;
        for (size_t i = 0; i < notice->check_count; i++) {
            const notice_check_t *check = &notice->checks [i];
            if ((int) check->state != state || (stack && strcmp (check->stack, stack) != 0))
                continue;
            if (!headed) {
                s_render_heading (buf, level, headings [state], NULL, html);
                headed = true;
            }
            s_render_check (buf, notice, check, html);
        }
    }
    for (int pass = 0; pass < 2; pass++) {
        bool want_resolved = pass == 1;
        bool headed = false;
        for (size_t i = 0; i < notice->item_count; i++) {
            const notice_item_t *item = &notice->items [i];
            const char *item_stack = item->stack && *item->stack ? item->stack
                                   : (notice->stack ? notice->stack : "");
            if (item->resolved != want_resolved || (stack && strcmp (item_stack, stack) != 0))
                continue;
            if (!headed) {
                s_render_heading (buf, level, want_resolved ? "Resolved" : "New and changed drift",
                                  NULL, html);
                headed = true;
            }
            s_render_item (buf, notice, item, html);
        }
    }
}

//  One row of the summary: a table row in HTML, "Name: value" in text.
static void
s_render_field (textbuf_t *buf, const char *name, const char *value, bool html)
{
    if (html) {
        s_addf (buf, "<tr><th align=\"left\">%s</th><td>", name);
        s_add_text (buf, value, MAIL_VALUE_MAX, true);
        textbuf_adds (buf, "</td></tr>\r\n");
    }
    else {
        s_addf (buf, "%-10s", name);
        s_add_text (buf, value, MAIL_VALUE_MAX, false);
        textbuf_adds (buf, "\r\n");
    }
}

//  The whole body, text or HTML; NULL if memory ran out.
static char *
s_render (const notice_t *notice, const char *subject, bool html)
{
    textbuf_t buf = TEXTBUF_INIT;
    size_t fresh, resolved, stack_count = 0;
    s_count (notice, &fresh, &resolved);
    const char **stacks = s_stacks (notice, &stack_count);
    if (!stacks)
        return NULL;

    if (html) {
        textbuf_adds (&buf, "<!DOCTYPE html>\r\n<html><head><meta charset=\"utf-8\"><title>");
        s_add_text (&buf, subject, SIZE_MAX, true);
        textbuf_adds (&buf, "</title></head>\r\n<body>\r\n<p>");
    }
    size_t checks [NOTICE_CHECK_STATES];
    s_count_checks (notice, checks);
    size_t failed = checks [NOTICE_CHECK_FAILED], silent = checks [NOTICE_CHECK_SILENT];
    size_t resumed = checks [NOTICE_CHECK_RESUMED], recovered = checks [NOTICE_CHECK_RECOVERED];
    if (failed)
        s_addf (&buf, "The drift check of %zu stack%s failed.", failed, failed == 1 ? "" : "s");
    if (silent)
        s_addf (&buf, "%s%zu stack%s sent no report lately.", failed ? " " : "", silent,
                silent == 1 ? "" : "s");
    if (resumed)
        s_addf (&buf, "%s%zu silent stack%s reported again.", failed || silent ? " " : "",
                resumed, resumed == 1 ? "" : "s");
    if (recovered)
        s_addf (&buf, "%sThe drift check of %zu stack%s works again.",
                failed || silent || resumed ? " " : "", recovered, recovered == 1 ? "" : "s");
    if (fresh || resolved || notice->check_count == 0)
        s_addf (&buf, "%sdrift found %zu new or changed drift item%s and %zu resolved.",
                notice->check_count ? " " : "", fresh, fresh == 1 ? "" : "s", resolved);
    textbuf_adds (&buf, html ? "</p>\r\n<table>\r\n" : "\r\n\r\n");

    char received [40], severity [64], score [16];
    s_iso8601 (notice->received_us, received, sizeof received);
    snprintf (severity, sizeof severity, "%s", s_severity_name (notice->severity));
    snprintf (score, sizeof score, "%d", notice->score);
    s_render_field (&buf, "Tenant:", notice->tenant, html);
    if (notice->digest) {
        textbuf_t list = TEXTBUF_INIT;
        for (size_t i = 0; i < stack_count; i++) {
            if (i)
                textbuf_adds (&list, ", ");
            textbuf_adds (&list, stacks [i]);
        }
        char *joined = textbuf_detach (&list);
        s_render_field (&buf, "Stacks:", joined ? joined : "", html);
        free (joined);
        s_render_field (&buf, "Newest:", received, html);
        s_render_field (&buf, "Severity:", severity, html);
        s_render_field (&buf, "Score:", score, html);
    }
    else {
        s_render_field (&buf, "Stack:", notice->stack, html);
        s_render_field (&buf, "Report:", notice->report_id, html);
        s_render_field (&buf, "Received:", received, html);
        s_render_field (&buf, "Severity:", severity, html);
        s_render_field (&buf, "Score:", score, html);
    }
    textbuf_adds (&buf, html ? "</table>\r\n" : "\r\n");

    if (notice->digest)
        for (size_t i = 0; i < stack_count; i++) {
            s_render_heading (&buf, 2, "Stack", stacks [i], html);
            s_render_stack (&buf, notice, stacks [i], 3, html);
        }
    else
        s_render_stack (&buf, notice, NULL, 2, html);

    textbuf_adds (&buf, html ? "<p><small>" : "-- \r\n");
    textbuf_adds (&buf, "Sent by drift, delivery ");
    s_add_text (&buf, notice->delivery_id, MAIL_VALUE_MAX, html);
    textbuf_adds (&buf, html ? ".</small></p>\r\n</body></html>\r\n" : ".\r\n");
    free (stacks);
    return textbuf_detach (&buf);
}

//  --------------------------------------------------------------------------
//  Settings

//  Is text free of control characters (CR and LF above all)?
static bool
s_printable (const char *text)
{
    for (const char *byte = text; *byte; byte++)
        if ((unsigned char) *byte < 0x20 || (unsigned char) *byte == 0x7F)
            return false;
    return true;
}

//  A bare address we put on the wire: one '@', nothing that would end an
//  address or a header (whitespace, control characters, <>,;"), ASCII.
static bool
s_address_ok (const char *address, size_t length)
{
    size_t at = 0;
    for (size_t i = 0; i < length; i++) {
        unsigned char c = (unsigned char) address [i];
        if (c <= 0x20 || c >= 0x7F || strchr ("<>,;\"()[]\\", c))
            return false;
        if (c == '@')
            at++;
    }
    return length >= 3 && at == 1 && address [0] != '@' && address [length - 1] != '@';
}

//  The bare address in from ("Name <a@b>" or "a@b") into out; 0 or -1.
static int
s_bare_from (const char *from, char *out, size_t size)
{
    const char *start = strchr (from, '<');
    const char *end = start ? strchr (start, '>') : NULL;
    size_t length;
    if (start) {
        if (!end || end [1] != '\0')
            return -1;
        start++;
        length = (size_t) (end - start);
    }
    else {
        start = from;
        length = strlen (from);
    }
    if (length >= size || !s_address_ok (start, length))
        return -1;
    memcpy (out, start, length);
    out [length] = '\0';
    return 0;
}

static bool
s_delivery_id_ok (const char *id)
{
    if (!id || !*id || strlen (id) > 200)
        return false;
    for (const char *byte = id; *byte; byte++)
        if (!strchr ("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-", *byte))
            return false;
    return true;
}

//  0, or -1 with the reason in error.
static int
s_check_config (const mail_config_t *config, const notice_t *notice, char *bare_from,
                size_t bare_size, char *error, size_t error_size)
{
    const char *url = config->url;
    if (!url || !*url) {
        snprintf (error, error_size, "mail: no SMTP URL configured");
        return -1;
    }
    if (!s_printable (url) || (strncmp (url, "smtp://", 7) != 0 && strncmp (url, "smtps://", 8) != 0)) {
        snprintf (error, error_size, "mail: the URL must be smtp://host[:port] or smtps://host[:port]");
        return -1;
    }
    //  Credentials in the URL would end up in every error message.
    if (strchr (url, '@')) {
        snprintf (error, error_size,
                  "mail: the URL must not hold credentials; set the username and password instead");
        return -1;
    }
    if (!config->from || !*config->from) {
        snprintf (error, error_size, "mail: %s: no From address configured", url);
        return -1;
    }
    //  The From goes into a header as it is: printable ASCII only (a
    //  display name in UTF-8 would need encoding we do not do).
    bool ascii = s_printable (config->from);
    for (const char *byte = config->from; ascii && *byte; byte++)
        ascii = (unsigned char) *byte < 0x80;
    if (!ascii || s_bare_from (config->from, bare_from, bare_size)) {
        snprintf (error, error_size,
                  "mail: %s: the From address is not \"name <address>\" or a bare address "
                  "(printable ASCII, with '@')", url);
        return -1;
    }
    if (!config->to || config->to_count == 0) {
        snprintf (error, error_size, "mail: %s: no recipient configured", url);
        return -1;
    }
    for (size_t i = 0; i < config->to_count; i++) {
        const char *to = config->to [i];
        if (!to || !s_address_ok (to, strlen (to))) {
            snprintf (error, error_size,
                      "mail: %s: recipient %zu is not a bare address (printable ASCII, one '@', "
                      "no spaces, CR or LF)", url, i + 1);
            return -1;
        }
    }
    if (!s_delivery_id_ok (notice->delivery_id)) {
        snprintf (error, error_size, "mail: %s: the notice's delivery id is not [A-Za-z0-9.-]", url);
        return -1;
    }
    //  Credentials cross the network only inside TLS: smtps://, or
    //  smtp:// with STARTTLS required (libcurl then fails rather than go
    //  on in clear when the server does not offer it).
    bool tls = config->starttls || strncmp (url, "smtps://", 8) == 0;
    if (config->username && *config->username && !tls) {
        snprintf (error, error_size, "mail: %s: credentials are sent only over TLS (smtps:// or "
                  "STARTTLS); not sent", url);
        return -1;
    }
    return 0;
}

//  --------------------------------------------------------------------------
//  Sending

//  Replace every occurrence of secret in text by "***".
static void
s_scrub (char *text, const char *secret)
{
    if (!secret || !*secret)
        return;
    size_t length = strlen (secret);
    char *found;
    while ((found = strstr (text, secret))) {
        size_t rest = strlen (found + length);
        memmove (found + 3, found + length, rest + 1);
        memcpy (found, "***", 3);
    }
}

static send_result_t
s_classify (CURLcode rc, long code)
{
    switch (rc) {
        case CURLE_OK:
            return SEND_OK;
        case CURLE_LOGIN_DENIED:
        case CURLE_USE_SSL_FAILED:
        case CURLE_PEER_FAILED_VERIFICATION:
        case CURLE_SSL_CACERT_BADFILE:
        case CURLE_URL_MALFORMAT:
        case CURLE_UNSUPPORTED_PROTOCOL:
            return SEND_PERMANENT;
        default:
            return code >= 500 && code < 600 ? SEND_PERMANENT : SEND_TRANSIENT;
    }
}

static void
s_describe (CURLcode rc, long code, const char *detail, const mail_config_t *config,
            long timeout_ms, char *error, size_t error_size)
{
    const char *url = config->url;
    if (!*detail)
        detail = curl_easy_strerror (rc);
    if (rc == CURLE_LOGIN_DENIED)
        snprintf (error, error_size, "mail: %s: login denied (%ld) for user %s", url, code,
                  config->username);
    else
    if (rc == CURLE_USE_SSL_FAILED)
        snprintf (error, error_size, "mail: %s: TLS required but the server refused it: %s", url,
                  detail);
    else
    if (rc == CURLE_PEER_FAILED_VERIFICATION || rc == CURLE_SSL_CACERT_BADFILE)
        snprintf (error, error_size, "mail: %s: the server's TLS certificate is not trusted: %s",
                  url, detail);
    else
    if (rc == CURLE_OPERATION_TIMEDOUT)
        snprintf (error, error_size, "mail: %s: no answer within %ld ms: %s", url, timeout_ms,
                  detail);
    else
    if (code >= 400 && code < 600)
        snprintf (error, error_size, "mail: %s: the server answered %ld: %s", url, code, detail);
    else
        snprintf (error, error_size, "mail: %s: %s", url, detail);
}

//  Append text to *list; 0, or -1 (the list freed) if memory ran out.
static int
s_append (struct curl_slist **list, const char *text)
{
    struct curl_slist *appended = curl_slist_append (*list, text);
    if (!appended) {
        curl_slist_free_all (*list);
        *list = NULL;
        return -1;
    }
    *list = appended;
    return 0;
}

//  The mail's headers, for CURLOPT_HTTPHEADER; NULL if memory ran out.
//  Every value is checked printable (s_check_config) or built by us.
static struct curl_slist *
s_headers (const mail_config_t *config, const notice_t *notice, const char *subject_header,
           const char *to_header)
{
    struct curl_slist *headers = NULL;
    char date [64], header [320];
    s_rfc5322_date (time (NULL), date, sizeof date);
    snprintf (header, sizeof header, "Date: %s", date);
    if (s_append (&headers, header))
        return NULL;
    snprintf (header, sizeof header, "Message-ID: <%s@drift>", notice->delivery_id);
    if (s_append (&headers, header))
        return NULL;
    snprintf (header, sizeof header, "X-Drift-Delivery: %s", notice->delivery_id);
    if (s_append (&headers, header))
        return NULL;
    //  The From may be longer than our buffer: built on the heap.
    textbuf_t from = TEXTBUF_INIT;
    textbuf_adds (&from, "From: ");
    textbuf_adds (&from, config->from);
    char *from_header = textbuf_detach (&from);
    int rc = from_header ? s_append (&headers, from_header) : -1;
    free (from_header);
    if (rc
    ||  s_append (&headers, to_header)
    ||  s_append (&headers, subject_header)
    //  The top-level part's type: libcurl keeps it and adds its boundary.
    ||  s_append (&headers, "Content-Type: multipart/alternative")) {
        curl_slist_free_all (headers);
        return NULL;
    }
    return headers;
}

//  The MIME message on curl: the two parts; 0 or -1.
static int
s_add_part (curl_mime *mime, const char *body, const char *type)
{
    curl_mimepart *part = curl_mime_addpart (mime);
    if (!part
    ||  curl_mime_data (part, body, CURL_ZERO_TERMINATED) != CURLE_OK
    ||  curl_mime_type (part, type) != CURLE_OK
    ||  curl_mime_encoder (part, "quoted-printable") != CURLE_OK)
        return -1;
    return 0;
}

send_result_t
mail_send (const mail_config_t *config, const notice_t *notice, char *error, size_t error_size)
{
    char bare_from [256];
    *error = '\0';
    if (s_check_config (config, notice, bare_from, sizeof bare_from, error, error_size))
        return SEND_PERMANENT;
    if (curlinit_once ()) {
        snprintf (error, error_size, "mail: %s: libcurl did not initialise", config->url);
        return SEND_TRANSIENT;
    }
    //  Resolved, checked and pinned at every send (actors/notify/egress).
    char refused [512];
    egress_t *egress = egress_check (config->url, config->allow_hosts, refused, sizeof refused);
    if (!egress) {
        snprintf (error, error_size, "mail: %s: refused: %s; not sent", config->url, refused);
        return SEND_PERMANENT;
    }

    send_result_t result = SEND_TRANSIENT;
    long timeout_ms = config->timeout_ms > 0 ? config->timeout_ms : 15000;
    char *subject = mail_subject (notice);
    char *subject_header = subject ? s_subject_header (subject) : NULL;
    char *text = subject ? s_render (notice, subject, false) : NULL;
    char *html = subject ? s_render (notice, subject, true) : NULL;
    struct curl_slist *headers = NULL;
    struct curl_slist *recipients = NULL;
    curl_mime *mime = NULL;
    CURL *curl = NULL;
    char *to_header = NULL;
    char curl_error [CURL_ERROR_SIZE] = "";

    //  To: every recipient, folded so that no line passes 78 characters.
    textbuf_t to = TEXTBUF_INIT;
    textbuf_adds (&to, "To: ");
    size_t line = strlen ("To: ");
    for (size_t i = 0; i < config->to_count; i++) {
        size_t length = strlen (config->to [i]);
        if (i > 0) {
            bool fold = line + 2 + length > MAIL_LINE_MAX;
            textbuf_adds (&to, fold ? ",\r\n " : ", ");
            line = fold ? 1 : line + 2;
        }
        textbuf_adds (&to, config->to [i]);
        line += length;
    }
    to_header = textbuf_detach (&to);
    if (!subject_header || !text || !html || !to_header)
        goto nomem;

    headers = s_headers (config, notice, subject_header, to_header);
    if (!headers)
        goto nomem;
    for (size_t i = 0; i < config->to_count; i++) {
        if (s_append (&recipients, config->to [i]))
            goto nomem;
    }

    curl = curl_easy_init ();
    mime = curl ? curl_mime_init (curl) : NULL;
    if (!mime || egress_apply (egress, curl)
    ||  s_add_part (mime, text, "text/plain; charset=utf-8")
    ||  s_add_part (mime, html, "text/html; charset=utf-8"))
        goto nomem;

    bool tls = config->starttls || strncmp (config->url, "smtps://", 8) == 0;
    curl_easy_setopt (curl, CURLOPT_URL, config->url);
    curl_easy_setopt (curl, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
    curl_easy_setopt (curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt (curl, CURLOPT_ERRORBUFFER, curl_error);
    curl_easy_setopt (curl, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt (curl, CURLOPT_MAIL_FROM, bare_from);
    curl_easy_setopt (curl, CURLOPT_MAIL_RCPT, recipients);
    curl_easy_setopt (curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt (curl, CURLOPT_MIMEPOST, mime);
    curl_easy_setopt (curl, CURLOPT_UPLOAD, 1L);
    if (tls)
        curl_easy_setopt (curl, CURLOPT_USE_SSL, (long) CURLUSESSL_ALL);
    if (config->ca_file && *config->ca_file)
        curl_easy_setopt (curl, CURLOPT_CAINFO, config->ca_file);
    if (config->username && *config->username) {
        curl_easy_setopt (curl, CURLOPT_USERNAME, config->username);
        curl_easy_setopt (curl, CURLOPT_PASSWORD, config->password ? config->password : "");
    }

    CURLcode rc = curl_easy_perform (curl);
    long code = 0;
    curl_easy_getinfo (curl, CURLINFO_RESPONSE_CODE, &code);
    result = s_classify (rc, code);
    if (result != SEND_OK)
        s_describe (rc, code, curl_error, config, timeout_ms, error, error_size);
    goto done;

nomem:
    snprintf (error, error_size, "mail: %s: out of memory building the message", config->url);
    result = SEND_TRANSIENT;
done:
    curl_easy_cleanup (curl);
    egress_destroy (&egress);
    curl_mime_free (mime);
    curl_slist_free_all (headers);
    curl_slist_free_all (recipients);
    free (subject);
    free (subject_header);
    free (text);
    free (html);
    free (to_header);
    s_scrub (error, config->password);
    return result;
}
