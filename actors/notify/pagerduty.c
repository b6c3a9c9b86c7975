/*  pagerduty: notices as PagerDuty Events API v2 events; see alerting.h.

    One event per entry of a notice, POSTed to the enqueue URL
    (https://events.pagerduty.com/v2/enqueue unless the channel names
    another, e.g. a regional one):

      {"routing_key", "event_action": "trigger", "dedup_key",
       "payload": {"summary" (at most 1024 bytes), "source" (the stack),
                   "severity": critical|error|warning|info, "timestamp",
                   "component" (the address), "group" (the stack),
                   "class" (the kind), "custom_details"},
       "client": "dd0c/drift"}
      {"routing_key", "event_action": "resolve", "dedup_key"}

    Drift's severities map to PagerDuty's four: critical to critical, high
    to error, medium to warning, low and info to info. PagerDuty answers
    202; 429 is its rate limit and is retried, as 5xx is.
*/
#include "alerting.h"

#include <stdlib.h>

#define PAGERDUTY_SUMMARY_MAX 1024       // the API's limit on payload.summary

//  PagerDuty's severity for drift's.
static const char *
s_severity (int severity)
{
    return severity >= 5 ? "critical" : severity == 4 ? "error" : severity == 3 ? "warning"
                                                                             : "info";
}

json_t *
pagerduty_event (const alerting_config_t *config, const notice_t *notice, size_t index)
{
    if (index >= alerting_entries (notice))
        return NULL;
    alerting_entry_t entry;
    alerting_entry (notice, index, &entry);
    json_t *event = json_pack ("{s:s, s:s, s:s}",
        "routing_key", config->key ? config->key : "",
        "event_action", entry.raises ? "trigger" : "resolve",
        "dedup_key", entry.key);
    if (!event || !entry.raises)
        return event;
    char timestamp [32];
    notice_iso8601 (entry.check ? entry.check->received_us : notice->received_us, timestamp,
                    sizeof timestamp);
    char *summary = alerting_summary (&entry, PAGERDUTY_SUMMARY_MAX);
    json_t *payload = json_pack ("{s:o, s:o, s:s, s:s, s:o, s:o, s:s, s:o}",
        "summary", httppost_json_string (summary),
        "source", httppost_json_string (entry.stack),
        "severity", s_severity (entry.severity),
        "timestamp", timestamp,
        "component", httppost_json_string (entry.item ? entry.item->address : "check"),
        "group", httppost_json_string (entry.stack),
        "class", entry.item ? "drift" : "check",
        "custom_details", alerting_details (notice, &entry));
    free (summary);
    if (!payload) {
        json_decref (event);
        return NULL;
    }
    json_object_set_new (event, "payload", payload);
    json_object_set_new (event, "client", json_string ("dd0c/drift"));
    return event;
}

//  pagerduty_event as alerting_send_each asks: posted to the URL itself.
static json_t *
s_request (const alerting_config_t *config, const notice_t *notice, size_t index, char *path)
{
    *path = 0;
    return pagerduty_event (config, notice, index);
}

send_result_t
pagerduty_send (const alerting_config_t *config, const notice_t *notice, char *error,
                size_t error_size)
{
    return alerting_send_each ("pagerduty", config, NULL, notice, s_request, error, error_size);
}
