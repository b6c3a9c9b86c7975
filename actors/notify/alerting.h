/*  alerting: the channels that speak to incident services and chat
    platforms over HTTP (docs/NOTIFY.md): PagerDuty's Events API v2
    (actors/notify/pagerduty.c), Opsgenie's Alerts API
    (actors/notify/opsgenie.c) and a Microsoft Teams incoming webhook with
    an Adaptive Card (actors/notify/teams.c).

    PagerDuty and Opsgenie keep one alert per drift (and per stack's failing
    or silent check), named by notice_alert_key: new drift triggers or
    creates it, resolved drift resolves or closes the same alert. A notice
    of several items is several API calls, made in order; if one fails the
    whole notice is retried, which both services absorb: a trigger with an
    open alert's key adds to it, a resolve of a resolved alert is a no-op.
    Teams gets one card per notice, as Slack gets one message.

    Their credentials (PagerDuty's routing key, Opsgenie's API key) arrive
    opened from their seal (actors/notify/channel.c) and go only into the
    request body or the Authorization header, never into an error.
*/
#ifndef ALERTING_H_INCLUDED
#define ALERTING_H_INCLUDED

#include "httppost.h"
#include "notice.h"

//  Where one alerting channel sends, and with what credential.
typedef struct {
    httppost_target_t target;    // url (PagerDuty: the enqueue URL; Opsgenie: the API's base
                                 // URL; Teams: the webhook), ca_file, timeout, allow_hosts
    const char *key;             // PagerDuty routing key, Opsgenie API key; NULL for Teams
} alerting_config_t;

//  The Events API v2 event for entry index of notice (its checks, then its
//  items): a trigger with payload, or a resolve, both with the entry's
//  dedup_key. Caller owns it; NULL past the last entry.
json_t *pagerduty_event (const alerting_config_t *config, const notice_t *notice, size_t index);

//  Send every event of notice, in order. As httppost_send, for the first
//  event that is not accepted.
send_result_t pagerduty_send (const alerting_config_t *config, const notice_t *notice,
                              char *error, size_t error_size);

//  The Opsgenie request for entry index of notice: the path below the base
//  URL ("/v2/alerts", or "/v2/alerts/ALIAS/close?identifierType=alias") in
//  path [128], and the body (create: message, alias, description,
//  priority, tags, details, entity, source; close: source, note). Caller
//  owns it; NULL past the last entry.
json_t *opsgenie_request (const notice_t *notice, size_t index, char *path);

//  Send every request of notice, in order, with "Authorization: GenieKey
//  KEY". As httppost_send, for the first one that is not accepted.
send_result_t opsgenie_send (const alerting_config_t *config, const notice_t *notice,
                             char *error, size_t error_size);

//  The Teams message for notice: {"type": "message", "attachments": [an
//  Adaptive Card 1.4]}. Caller owns it.
json_t *teams_message (const notice_t *notice);

//  POST the message to the Teams webhook.
send_result_t teams_send (const alerting_config_t *config, const notice_t *notice,
                          char *error, size_t error_size);

//  The request for entry index of notice: its body (caller owns; NULL past
//  the last entry), and in path [128] what follows the channel's URL ("" to
//  post to the URL itself).
typedef json_t *(alerting_request_fn) (const alerting_config_t *config, const notice_t *notice,
                                       size_t index, char *path);

//  POST each entry's request of notice in order, with headers (may be
//  NULL), errors prefixed by name; stops at the first that is not
//  accepted and returns what httppost_send said of it.
send_result_t alerting_send_each (const char *name, const alerting_config_t *config,
                                  const struct curl_slist *headers, const notice_t *notice,
                                  alerting_request_fn *request, char *error, size_t error_size);

//  The entries of notice an incident service hears of: its checks and its
//  items.
size_t alerting_entries (const notice_t *notice);

//  One entry: what it is about and whether it opens or ends an alert.
typedef struct {
    bool raises;                 // opens (trigger, create) rather than ends (resolve, close)
    char key [NOTICE_ALERT_KEY_SIZE]; // its alert's key (notice_alert_key)
    int severity;                // drift's severity 1..5 (a check: NOTICE_CHECK_SEVERITY)
    const char *stack;           // the stack it is in
    const char *report_id;       // the report that opened or ended it
    const notice_item_t *item;   // a drift item, or NULL
    const notice_check_t *check; // a stack's check, or NULL
} alerting_entry_t;

//  Entry index (checks first, then items) of notice.
void alerting_entry (const notice_t *notice, size_t index, alerting_entry_t *entry);

//  One line about entry, at most limit bytes (cut at a character, "..."
//  added): "critical drift: ADDRESS modified in STACK: REASON", "check
//  failed in STACK: REASON", "no report lately from STACK", or what ended
//  it. Caller frees.
char *alerting_summary (const alerting_entry_t *entry, size_t limit);

//  The entry's drift facts as a JSON object of strings (tenant, stack,
//  report_id, and for an item address, type, kind, severity, score,
//  fingerprint; for a check state and reason). Caller owns it.
json_t *alerting_details (const notice_t *notice, const alerting_entry_t *entry);

#endif
