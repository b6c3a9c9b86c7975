/*  opsgenie: notices as Opsgenie alerts (Alerts API v2); see alerting.h.

    One request per entry of a notice, below the channel's API URL
    (https://api.opsgenie.com unless the channel names another, e.g.
    https://api.eu.opsgenie.com), with "Authorization: GenieKey KEY":

      POST /v2/alerts   {"message" (at most 130 bytes), "alias", "description"
                         (at most 15000), "priority": P1..P5, "tags",
                         "details" (strings), "entity" (the address or the
                         stack), "source": "dd0c/drift"}
      POST /v2/alerts/ALIAS/close?identifierType=alias
                        {"source": "dd0c/drift", "note"}

    The alias is the entry's alert key ("drift-" and hex: nothing to
    escape in a path), so a resolved drift closes the alert its opening
    created, and Opsgenie's own de-duplication by alias makes a retried
    create count once more instead of opening a second alert. Drift's
    severities map to priorities: critical P1, high P2, medium P3, low P4,
    info P5. Opsgenie answers 202; 429 is retried, as 5xx is.
*/
#include "alerting.h"
#include "../../lib/severity.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define OPSGENIE_MESSAGE_MAX 130         // the API's limit on message
#define OPSGENIE_DESCRIPTION_MAX 15000   // and on description
#define OPSGENIE_TAG_MAX 50              // and on one tag

//  A tag "name:value", cut to the API's limit.
static json_t *
s_tag (const char *name, const char *value)
{
    char tag [OPSGENIE_TAG_MAX * 2];
    snprintf (tag, sizeof tag, "%s:%s", name, value ? value : "");
    tag [notice_utf8_cut (tag, OPSGENIE_TAG_MAX)] = 0;
    return httppost_json_string (tag);
}

json_t *
opsgenie_request (const notice_t *notice, size_t index, char *path)
{
    if (index >= alerting_entries (notice))
        return NULL;
    alerting_entry_t entry;
    alerting_entry (notice, index, &entry);
    char *summary = alerting_summary (&entry, OPSGENIE_DESCRIPTION_MAX);
    if (!entry.raises) {
        snprintf (path, 128, "/v2/alerts/%s/close?identifierType=alias", entry.key);
        json_t *close = json_pack ("{s:s, s:o}", "source", "dd0c/drift",
                                   "note", httppost_json_string (summary));
        free (summary);
        return close;
    }
    snprintf (path, 128, "/v2/alerts");
    char *message = alerting_summary (&entry, OPSGENIE_MESSAGE_MAX);
    static const char *const priorities [] = { "P5", "P5", "P4", "P3", "P2", "P1" };
    const char *priority = priorities [entry.severity < 0 ? 0 : entry.severity > 5 ? 5
                                                                               : entry.severity];
    json_t *tags = json_pack ("[s, o, o]", "drift",
                              s_tag ("severity", severity_name (entry.severity)),
                              s_tag ("stack", entry.stack));
    json_t *create = json_pack ("{s:o, s:s, s:o, s:s, s:o, s:o, s:o, s:s}",
        "message", httppost_json_string (message),
        "alias", entry.key,
        "description", httppost_json_string (summary),
        "priority", priority,
        "tags", tags,
        "details", alerting_details (notice, &entry),
        "entity", httppost_json_string (entry.item ? entry.item->address : entry.stack),
        "source", "dd0c/drift");
    free (message);
    free (summary);
    return create;
}

//  opsgenie_request as alerting_send_each asks.
static json_t *
s_request (const alerting_config_t *config, const notice_t *notice, size_t index, char *path)
{
    (void) config;
    return opsgenie_request (notice, index, path);
}

send_result_t
opsgenie_send (const alerting_config_t *config, const notice_t *notice, char *error,
               size_t error_size)
{
    //  The key goes into a header: channel.c admits only printable ASCII
    //  without spaces, so it cannot end the header early.
    const char *key = config && config->key ? config->key : "";
    size_t size = strlen ("Authorization: GenieKey ") + strlen (key) + 1;
    char *authorization = (char *) malloc (size);
    struct curl_slist *headers = NULL;
    if (authorization) {
        snprintf (authorization, size, "Authorization: GenieKey %s", key);
        headers = curl_slist_append (NULL, authorization);
        sodium_memzero (authorization, size);
        free (authorization);
    }
    if (!headers) {
        snprintf (error, error_size, "opsgenie: out of memory");
        return SEND_TRANSIENT;
    }
    send_result_t result = alerting_send_each ("opsgenie", config, headers, notice, s_request,
                                               error, error_size);
    //  The header holds the key: wiped before it is freed.
    sodium_memzero (headers->data, strlen (headers->data));
    curl_slist_free_all (headers);
    return result;
}
