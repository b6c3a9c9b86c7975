/*  mail_render: what a notice's email says: its Subject, its header lines
    and its two bodies, plain text and HTML; mail_send.c carries them
    (mail.h is the API of both).

    Headers are built line by line here, never pasted from data: the From
    and the recipients come from the channel's settings, which mail_send
    has checked (no CR, LF or other control characters) before anything is
    rendered; the Subject carries a stack name from an agent, so it goes
    out as RFC 2047 encoded words whenever it is not short printable
    ASCII, folded onto continuation lines we write ourselves, and the To
    line is folded between recipients. The delivery id is checked
    [A-Za-z0-9.-] (notice.h) first too, so the Message-ID and
    X-Drift-Delivery cannot carry anything else either. libcurl takes the
    header list as the mail's own headers and adds "Mime-Version: 1.0"
    itself when the list has none, so we leave it out.

    The bodies show what the notice holds, each value cut at about 200
    bytes (on a UTF-8 boundary, with an ellipsis) and with control
    characters as spaces, so a value with newlines cannot fake structure in
    the text part; the HTML part escapes it too. A digest groups its items
    by stack. Values are shown as the archive gave them: masked already.
*/
#include "mail_render.h"
#include "../../lib/severity.h"
#include "../../lib/textbuf.h"

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
    if (cut)
        length = notice_utf8_cut (text, limit);
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
        s_addf (&buf, " (%s)", severity_name (notice->severity));
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
            take = notice_utf8_cut (subject + offset, MAIL_WORD_BYTES);
            if (take == 0)
                take = 1;           // not UTF-8: one byte still moves on
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

//  One reason of an item: what it says, and the rule that said it.
static void
s_render_reason (textbuf_t *buf, json_t *reason, bool html)
{
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

//  One change of an item: its path, its operation, before and after.
static void
s_render_change (textbuf_t *buf, json_t *change, bool html)
{
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

//  A JSON array text of an item (notice_item_t's reasons or changes) as a
//  titled list, each entry by render; nothing when the array is missing,
//  unreadable or empty.
static void
s_render_list (textbuf_t *buf, const char *list_json, const char *title, bool html,
               void (*render) (textbuf_t *buf, json_t *entry, bool html))
{
    json_t *list = list_json ? json_loads (list_json, 0, NULL) : NULL;
    if (!json_is_array (list) || json_array_size (list) == 0) {
        json_decref (list);
        return;
    }
    textbuf_adds (buf, html ? "<p>" : "  ");
    textbuf_adds (buf, title);
    textbuf_adds (buf, html ? ":</p>\r\n<ul>\r\n" : ":\r\n");
    size_t index;
    json_t *entry;
    json_array_foreach (list, index, entry)
        render (buf, entry, html);
    if (html)
        textbuf_adds (buf, "</ul>\r\n");
    json_decref (list);
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
    s_addf (buf, ", severity %s, score %.2f", severity_name (item->severity), item->score);
    if (notice->digest && item->report_id && *item->report_id) {
        textbuf_adds (buf, ", report ");
        s_add_text (buf, item->report_id, MAIL_VALUE_MAX, html);
    }
    textbuf_adds (buf, html ? "</p>\r\n" : "\r\n");
    s_render_list (buf, item->reasons, "Reasons", html, s_render_reason);
    s_render_list (buf, item->changes, "Changes", html, s_render_change);
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
    notice_iso8601 (check->received_us, received, sizeof received);
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

char *
mail_render_body (const notice_t *notice, const char *subject, bool html)
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
    notice_iso8601 (notice->received_us, received, sizeof received);
    snprintf (severity, sizeof severity, "%s", severity_name (notice->severity));
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
//  Headers

//  "To: ..." with every recipient, folded so that no line passes 78
//  characters; NULL if memory ran out.
static char *
s_to_header (const mail_config_t *config)
{
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
    return textbuf_detach (&to);
}

//  Every value is checked printable (mail_send does, before it renders) or
//  built here.
struct curl_slist *
mail_render_headers (const mail_config_t *config, const char *delivery_id, const char *subject)
{
    char date [64], date_line [80], message_id [320], delivery [320];
    s_rfc5322_date (time (NULL), date, sizeof date);
    snprintf (date_line, sizeof date_line, "Date: %s", date);
    snprintf (message_id, sizeof message_id, "Message-ID: <%s@drift>", delivery_id);
    snprintf (delivery, sizeof delivery, "X-Drift-Delivery: %s", delivery_id);
    //  The From may be longer than a buffer on the stack: built on the heap.
    textbuf_t from = TEXTBUF_INIT;
    textbuf_adds (&from, "From: ");
    textbuf_adds (&from, config->from);
    char *from_header = textbuf_detach (&from);
    char *to_header = s_to_header (config);
    char *subject_header = s_subject_header (subject);
    const char *lines [] = {
        date_line, message_id, delivery, from_header, to_header, subject_header,
        //  The top-level part's type: libcurl keeps it and adds its boundary.
        "Content-Type: multipart/alternative"
    };
    struct curl_slist *headers = NULL;
    for (size_t i = 0; i < sizeof lines / sizeof lines [0]; i++) {
        struct curl_slist *appended = lines [i] ? curl_slist_append (headers, lines [i]) : NULL;
        if (!appended) {
            curl_slist_free_all (headers);
            headers = NULL;
            break;
        }
        headers = appended;
    }
    free (from_header);
    free (to_header);
    free (subject_header);
    return headers;
}
