/*  teams: a notice as a Microsoft Teams message with an Adaptive Card,
    POSTed to an incoming webhook (a Teams Workflows "when a webhook request
    is received" flow, or a legacy connector URL); see alerting.h.

      {"type": "message", "attachments": [{
         "contentType": "application/vnd.microsoft.card.adaptive",
         "contentUrl": null,
         "content": {"type": "AdaptiveCard", "version": "1.4", "$schema": ...,
                     "body": [a title TextBlock, a FactSet (tenant, stack,
                              report, severity, score, received), a TextBlock
                              per check and per item (at most 20, then "and N
                              more")],
                     "msteams": {"width": "Full"}}}]}

    Card text is Teams' markdown subset: a report's values could make a
    link of their own, so "](" is broken up as "] (" (the only way that
    subset makes one) and every block is cut to TEAMS_BLOCK_MAX bytes, which
    keeps a card of 20 items well under the 28 KB a Teams message may be.
    The URL is the credential (like Slack's): it is shown to readers only
    as its origin (channel_settings_public) and never in an error.
*/
#include "alerting.h"
#include "../../lib/severity.h"
#include "../../lib/textbuf.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TEAMS_ITEMS_MAX 20       // blocks of checks and items; the rest are counted
#define TEAMS_BLOCK_MAX 1000     // bytes of one block's text

//  Append text with any markdown link broken up.
static void
s_add (textbuf_t *buffer, const char *text)
{
    for (const char *byte = text ? text : ""; *byte; byte++) {
        textbuf_addc (buffer, *byte);
        if (byte [0] == ']' && byte [1] == '(')
            textbuf_addc (buffer, ' ');
    }
}

//  A wrapping TextBlock of the buffer's text, cut to TEAMS_BLOCK_MAX.
static json_t *
s_block (textbuf_t *buffer, const char *color)
{
    if (!buffer->failed && buffer->size > TEAMS_BLOCK_MAX) {
        textbuf_truncate (buffer, notice_utf8_cut (buffer->data, TEAMS_BLOCK_MAX - 3));
        textbuf_adds (buffer, "...");
    }
    char *text = textbuf_detach (buffer);
    json_t *block = json_pack ("{s:s, s:o, s:b}", "type", "TextBlock",
                               "text", httppost_json_string (text), "wrap", 1);
    free (text);
    if (block && color)
        json_object_set_new (block, "color", json_string (color));
    return block;
}

static json_t *
s_fact (const char *title, const char *value)
{
    return json_pack ("{s:s, s:o}", "title", title, "value", httppost_json_string (value));
}

json_t *
teams_message (const notice_t *notice)
{
    size_t resolved = 0;
    for (size_t index = 0; index < notice->item_count; index++)
        resolved += notice->items [index].resolved;
    textbuf_t title = TEXTBUF_INIT;
    char line [128];
    if (notice->digest)
        textbuf_adds (&title, "Drift digest");
    else {
        textbuf_adds (&title, "Drift in ");
        s_add (&title, notice->stack);
    }
    snprintf (line, sizeof line, ": %zu new, %zu resolved", notice->item_count - resolved,
              resolved);
    textbuf_adds (&title, line);
    if (notice->check_count) {
        snprintf (line, sizeof line, ", %zu check%s", notice->check_count,
                  notice->check_count == 1 ? "" : "s");
        textbuf_adds (&title, line);
    }
    json_t *heading = s_block (&title, notice->severity >= 4 ? "Attention" : "Default");
    json_object_set_new (heading, "size", json_string ("Large"));
    json_object_set_new (heading, "weight", json_string ("Bolder"));
    char received [32], score [16];
    notice_iso8601 (notice->received_us, received, sizeof received);
    snprintf (score, sizeof score, "%d", notice->score);
    json_t *facts = json_pack ("[o, o, o, o, o, o]",
        s_fact ("Tenant", notice->tenant), s_fact ("Stack", notice->digest ? "(several)"
                                                                           : notice->stack),
        s_fact ("Report", notice->digest ? "(several)" : notice->report_id),
        s_fact ("Severity", severity_name (notice->severity)), s_fact ("Score", score),
        s_fact ("Received", received));
    json_t *body = json_pack ("[o, {s:s, s:o}]", heading, "type", "FactSet", "facts", facts);
    size_t count = alerting_entries (notice);
    size_t shown = count < TEAMS_ITEMS_MAX ? count : TEAMS_ITEMS_MAX;
    for (size_t index = 0; body && index < shown; index++) {
        alerting_entry_t entry;
        alerting_entry (notice, index, &entry);
        char *summary = alerting_summary (&entry, TEAMS_BLOCK_MAX);
        textbuf_t text = TEXTBUF_INIT;
        textbuf_adds (&text, entry.raises ? "**" : "");
        s_add (&text, summary);
        textbuf_adds (&text, entry.raises ? "**" : "");
        free (summary);
        json_array_append_new (body, s_block (&text, entry.raises && entry.severity >= 4
                                                   ? "Attention" : NULL));
    }
    if (body && count > shown) {
        textbuf_t more = TEXTBUF_INIT;
        snprintf (line, sizeof line, "and %zu more", count - shown);
        textbuf_adds (&more, line);
        json_array_append_new (body, s_block (&more, NULL));
    }
    return json_pack ("{s:s, s:[{s:s, s:n, s:{s:s, s:s, s:s, s:o, s:{s:s}}}]}",
        "type", "message", "attachments",
        "contentType", "application/vnd.microsoft.card.adaptive", "contentUrl",
        "content", "$schema", "http://adaptivecards.io/schemas/adaptive-card.json",
        "type", "AdaptiveCard", "version", "1.4", "body", body,
        "msteams", "width", "Full");
}

send_result_t
teams_send (const alerting_config_t *config, const notice_t *notice, char *error,
            size_t error_size)
{
    char prefix [512];
    send_result_t result = httppost_begin ("teams", config ? config->target.url : NULL, notice,
                                           prefix, sizeof prefix, error, error_size);
    if (result != SEND_OK)
        return result;
    return httppost_send_json (&config->target, NULL, teams_message (notice), prefix, error,
                               error_size);
}
