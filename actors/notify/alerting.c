/*  alerting: what PagerDuty, Opsgenie and Teams share of a notice: its
    entries (checks, then items), each with its alert key and one line
    that says it; see alerting.h.
*/
#include "alerting.h"
#include "../../lib/severity.h"
#include "../../lib/textbuf.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

size_t
alerting_entries (const notice_t *notice)
{
    return notice->check_count + notice->item_count;
}

void
alerting_entry (const notice_t *notice, size_t index, alerting_entry_t *entry)
{
    memset (entry, 0, sizeof *entry);
    if (index < notice->check_count) {
        const notice_check_t *check = &notice->checks [index];
        entry->check = check;
        entry->raises = notice_check_raises (check->state);
        entry->severity = NOTICE_CHECK_SEVERITY;
        entry->stack = check->stack;
        entry->report_id = check->report_id;
        notice_alert_key (notice->tenant, check->stack, notice_check_subject (check->state),
                          entry->key);
        return;
    }
    const notice_item_t *item = &notice->items [index - notice->check_count];
    entry->item = item;
    entry->raises = !item->resolved;
    entry->severity = item->severity;
    //  A digest mixes stacks: each item says its own.
    entry->stack = item->stack && *item->stack ? item->stack : notice->stack;
    entry->report_id = item->report_id && *item->report_id ? item->report_id : notice->report_id;
    notice_alert_key (notice->tenant, entry->stack, item->fingerprint, entry->key);
}

//  The item's first reason, or NULL.
static char *
s_first_reason (const notice_item_t *item)
{
    json_t *reasons = httppost_json_array (item->reasons);
    const char *reason = json_string_value (json_object_get (json_array_get (reasons, 0),
                                                             "reason"));
    char *copy = reason && *reason ? strdup (reason) : NULL;
    json_decref (reasons);
    return copy;
}

char *
alerting_summary (const alerting_entry_t *entry, size_t limit)
{
    textbuf_t text = TEXTBUF_INIT;
    const char *stack = entry->stack ? entry->stack : "";
    if (entry->check) {
        static const char *const lines [NOTICE_CHECK_STATES] = {
            "check failed in ", "no report lately from ", "reporting again: ",
            "check works again in "
        };
        textbuf_adds (&text, lines [entry->check->state]);
        textbuf_adds (&text, stack);
        if (entry->check->state == NOTICE_CHECK_FAILED && entry->check->reason
        &&  *entry->check->reason) {
            textbuf_adds (&text, ": ");
            textbuf_adds (&text, entry->check->reason);
        }
    }
    else {
        const notice_item_t *item = entry->item;
        textbuf_adds (&text, entry->raises ? severity_name (item->severity) : "resolved");
        textbuf_adds (&text, " drift: ");
        textbuf_adds (&text, item->address ? item->address : "");
        textbuf_addc (&text, ' ');
        textbuf_adds (&text, item->kind ? item->kind : "");
        textbuf_adds (&text, " in ");
        textbuf_adds (&text, stack);
        char *reason = entry->raises ? s_first_reason (item) : NULL;
        if (reason) {
            textbuf_adds (&text, ": ");
            textbuf_adds (&text, reason);
            free (reason);
        }
    }
    //  Lines of a summary: a newline would end it early in some viewers.
    for (size_t index = 0; !text.failed && index < text.size; index++)
        if (text.data [index] == '\n' || text.data [index] == '\r')
            text.data [index] = ' ';
    if (!text.failed && text.size > limit) {
        textbuf_truncate (&text, notice_utf8_cut (text.data, limit - 3));
        textbuf_adds (&text, "...");
    }
    return textbuf_detach (&text);
}

json_t *
alerting_details (const notice_t *notice, const alerting_entry_t *entry)
{
    json_t *details = json_pack ("{s:o, s:o, s:o}",
        "tenant", httppost_json_string (notice->tenant),
        "stack", httppost_json_string (entry->stack),
        "report_id", httppost_json_string (entry->report_id));
    if (!details)
        return NULL;
    if (entry->check) {
        json_object_set_new (details, "check", json_string (notice_check_state_name (
                                                            entry->check->state)));
        json_object_set_new (details, "reason", httppost_json_string (
                             entry->check->state == NOTICE_CHECK_FAILED ? entry->check->reason
                                                                       : ""));
        return details;
    }
    const notice_item_t *item = entry->item;
    char score [32];
    snprintf (score, sizeof score, "%.2f", isfinite (item->score) ? item->score : 0.0);
    json_object_set_new (details, "address", httppost_json_string (item->address));
    json_object_set_new (details, "type", httppost_json_string (item->type));
    json_object_set_new (details, "kind", httppost_json_string (item->kind));
    json_object_set_new (details, "severity", json_string (severity_name (item->severity)));
    json_object_set_new (details, "score", json_string (score));
    json_object_set_new (details, "fingerprint", httppost_json_string (item->fingerprint));
    json_object_set_new (details, "state", json_string (item->resolved ? "resolved" : "new"));
    return details;
}

send_result_t
alerting_send_each (const char *name, const alerting_config_t *config,
                    const struct curl_slist *headers, const notice_t *notice,
                    alerting_request_fn *request, char *error, size_t error_size)
{
    char prefix [512];
    send_result_t result = httppost_begin (name, config ? config->target.url : NULL, notice,
                                           prefix, sizeof prefix, error, error_size);
    if (result != SEND_OK)
        return result;
    //  A path is added to the URL as a base: without its trailing slashes.
    size_t base_size = strlen (config->target.url);
    size_t count = alerting_entries (notice);
    for (size_t index = 0; index < count && result == SEND_OK; index++) {
        char path [128] = "", url [2048], request_prefix [600];
        json_t *body = request (config, notice, index, path);
        size_t size = base_size;
        while (*path && size && config->target.url [size - 1] == '/')
            size--;
        snprintf (url, sizeof url, "%.*s%s", (int) size, config->target.url, path);
        snprintf (request_prefix, sizeof request_prefix, "%s, request %zu of %zu", prefix,
                  index + 1, count);
        httppost_target_t target = config->target;
        target.url = url;
        result = httppost_send_json (&target, headers, body, request_prefix, error, error_size);
    }
    return result;
}
