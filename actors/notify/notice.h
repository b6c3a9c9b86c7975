/*  notice: what one notification says, whatever carries it.

    The notify stage decides what a channel hears about a report (new and
    changed drift, resolved drift, at or above the channel's severity, not
    suppressed; and a stack's check that starts failing or works again) and
    hands it over as a notice_t; actors/notify/mail renders it as an
    email, actors/notify/webhook as Slack or generic JSON, and
    actors/notify/alerting.h as PagerDuty events, Opsgenie alerts or a
    Teams card. Every value in it comes from
    the archive's rows, so attribute values are already masked.

    A notice has a delivery id, stable for its (tenant, report or digest,
    channel): the Message-ID of its email and the X-Drift-Delivery header of
    its webhook, so a receiver can tell a resend from a new notice.

    What mail and webhooks both need to say a notice is here too, once
    (actors/notify/notice.c): the time format, the delivery-id check, where
    text may be cut, and whether a failed libcurl transfer is worth a retry.
    Severity names are the runtime's (lib/severity.h).
*/
#ifndef NOTICE_H_INCLUDED
#define NOTICE_H_INCLUDED

#include <curl/curl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

//  One drift item in a notice.
typedef struct {
    const char *fingerprint;   // the item's identity
    const char *address;       // resource address, e.g. aws_security_group.web
    const char *type;          // resource type
    const char *kind;          // modified, deleted, replaced, moved, ignored
    int severity;              // 0 none .. 5 critical (proto Severity)
    double score;              // sum of its findings' weights
    const char *changes;       // JSON array text: [{path, op, before, after, sensitive?}]
    const char *reasons;       // JSON array text: [{rule, severity, reason, path}]
    bool resolved;             // a resolved notice, not new drift
    const char *stack;         // the item's stack (digests mix stacks)
    const char *report_id;     // the report that opened or resolved it
} notice_item_t;

//  What became of a stack's check, most urgent first.
typedef enum {
    NOTICE_CHECK_FAILED,       // a failed report after a successful one (or as its first)
    NOTICE_CHECK_SILENT,       // no report at all for longer than notify's silent-after-s
    NOTICE_CHECK_RESUMED,      // a report again after such a silence
    NOTICE_CHECK_RECOVERED,    // the first successful report after a failed one
    NOTICE_CHECK_STATES
} notice_check_state_t;

//  The state's name in documents and webhooks: "failed", "silent",
//  "resumed", "recovered".
static inline const char *
notice_check_state_name (notice_check_state_t state)
{
    return state == NOTICE_CHECK_FAILED ? "failed"
         : state == NOTICE_CHECK_SILENT ? "silent"
         : state == NOTICE_CHECK_RESUMED ? "resumed" : "recovered";
}

//  A stack's check that started failing, went silent, or works again.
typedef struct {
    const char *stack;         // the stack
    const char *report_id;     // the report that failed, the last one before the
                               // silence, the first one after it, or the first one
                               // to succeed again
    notice_check_state_t state;  // what became of it
    const char *reason;        // why it failed, as the archive recorded it ("" otherwise)
    int64_t received_us;       // when that report was received
} notice_check_t;

//  The severity a failed or silent check counts as for a channel's minimum
//  (and a notice's severity): the stack's drift goes unseen meanwhile.
#define NOTICE_CHECK_SEVERITY 4

//  One notification: a report's news for one channel, or a digest of several.
typedef struct {
    const char *delivery_id;   // stable per (tenant, report or digest, channel); [A-Za-z0-9.-]
    const char *tenant;        // tenant name
    const char *stack;         // the report's stack ("" for a digest of several)
    const char *report_id;     // the report ("" for a digest)
    int64_t received_us;       // when the report was received (a digest: its newest)
    int severity;              // strongest item's
    int score;                 // the report's score 0-100 (a digest: the highest)
    const notice_item_t *items;  // new and changed first, then resolved
    size_t item_count;         // how many
    const notice_check_t *checks;  // checks by state, in notice_check_state_t's order
    size_t check_count;        // how many
    bool digest;               // several reports in one notice
} notice_t;

//  How a send ended: a transient failure is retried, a permanent one is
//  recorded against the channel and not retried.
typedef enum {
    SEND_OK = 0,
    SEND_TRANSIENT = 1,        // connection refused or lost, timeout, 4xx SMTP, HTTP 408/429/5xx
    SEND_PERMANENT = 2         // refused login, bad address, TLS refused, other HTTP 4xx
} send_result_t;

//  The longest delivery id accepted; longer ones are refused.
#define NOTICE_DELIVERY_ID_MAX 200

//  "2026-11-27T12:09:35Z" (UTC, ISO 8601) for microseconds since the epoch,
//  into out (at least 21 bytes); the epoch itself if it cannot be written.
void notice_iso8601 (int64_t time_us, char *out, size_t size);

//  Whether id may be a delivery id: 1 to NOTICE_DELIVERY_ID_MAX bytes of
//  [A-Za-z0-9.-], so it can go into a header or an error as it is.
bool notice_delivery_id_ok (const char *id);

//  Where to cut text, which is longer than limit bytes, so that no UTF-8
//  character is split: the largest length <= limit at which text [length]
//  starts a character (0 if none does).
size_t notice_utf8_cut (const char *text, size_t limit);

//  The bytes of an alert key: "drift-" and 32 hex digits, and the NUL.
#define NOTICE_ALERT_KEY_SIZE 39

//  The key that names one alert at an incident service (PagerDuty's
//  dedup_key, Opsgenie's alias): BLAKE2b-128 of tenant, stack and what the
//  alert is about (an item's fingerprint, or "check-failed" /
//  "check-silent" for a stack's check), so the notice that resolves a
//  drift names the alert the notice that opened it raised, whatever
//  channel or digest carries either. Into key [NOTICE_ALERT_KEY_SIZE].
void notice_alert_key (const char *tenant, const char *stack, const char *subject, char *key);

//  The subject of a check's alert: "check-failed" for failed and
//  recovered, "check-silent" for silent and resumed (a recovery ends the
//  failure, a resumption the silence).
const char *notice_check_subject (notice_check_state_t state);

//  Whether a check's state raises an alert (failed, silent) rather than
//  ending one (recovered, resumed).
bool notice_check_raises (notice_check_state_t state);

//  Whether libcurl refused the peer's certificate or could not check it.
bool notice_tls_untrusted (CURLcode code);

//  What a libcurl transfer's result means for the notice: SEND_OK,
//  SEND_PERMANENT for what only the operator can fix (the URL, the
//  credentials, TLS that is refused or not trusted), SEND_TRANSIENT for the
//  rest. Replies (SMTP codes, HTTP statuses) are each sender's to judge.
send_result_t notice_curl_result (CURLcode code);

#endif
