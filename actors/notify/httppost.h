/*  httppost: one JSON POST of a notice to a receiver, for every channel that
    speaks HTTP (webhooks and Slack, PagerDuty, Microsoft Teams, Opsgenie).

    What the senders share is here once: the URL must be http(s) without
    control characters; the host is resolved and checked at every send
    (actors/notify/egress: no loopback, private, link-local or metadata
    address unless the operator allows the host) and the connection pinned
    to what was checked; no redirect is followed (a redirect would carry a
    notice, and its credential, to a URL the operator never configured);
    at most HTTPPOST_REPLY_MAX bytes of a reply are read and dropped. A
    status is judged one way for all: 2xx sent, 408, 429 and 5xx retryable
    (the sender's breaker counts them), any other status permanent. Errors
    say only the status class and the URL's scheme and host, never a byte
    of the reply, curl's detailed message, or the URL's path and query
    (for Slack and Teams the path is itself the credential).
*/
#ifndef HTTPPOST_H_INCLUDED
#define HTTPPOST_H_INCLUDED

#include "notice.h"

#include <curl/curl.h>
#include <jansson.h>
#include <stddef.h>

#define HTTPPOST_REPLY_MAX (64 * 1024)   // most bytes of a reply read
#define HTTPPOST_TIMEOUT_MS 10000        // when the target says 0

//  Where a POST goes and how.
typedef struct {
    const char *url;            // http:// or https://
    const char *ca_file;        // PEM CA bundle for https; NULL: the system's
    long timeout_ms;            // connect and whole transfer; 0 (or less): HTTPPOST_TIMEOUT_MS
    const char *allow_hosts;    // the operator's hosts that may be internal (comma-separated)
} httppost_target_t;

//  "scheme://host[:port]" of url into origin: what errors and readers
//  without the right to post may see of a URL. 0, or -1 if url is not one.
int httppost_origin (const char *url, char *origin, size_t origin_size);

//  0 with url's origin if url is one we may POST to (http or https, no
//  control characters, parsed by libcurl), else -1.
int httppost_check_url (const char *url, char *origin, size_t origin_size);

//  POST body (size bytes, JSON) to target with headers (Content-Type,
//  User-Agent and an empty Expect are added; headers may be NULL and stays
//  the caller's). SEND_OK on 2xx, SEND_TRANSIENT on a connection error, a
//  timeout, HTTP 408, 429 or 5xx, SEND_PERMANENT otherwise (redirects,
//  refused egress, untrusted TLS). error starts with prefix (who sent what
//  where, e.g. "pagerduty ID to https://host") and names a class only.
send_result_t httppost_send (const httppost_target_t *target, const struct curl_slist *headers,
                             const char *body, size_t size, const char *prefix, char *error,
                             size_t error_size);

//  What every HTTP sender checks before it builds a body: the URL, the
//  notice's delivery id, libcurl. SEND_OK with prefix "NAME ID to ORIGIN"
//  (what its errors start with); otherwise the result and the reason.
send_result_t httppost_begin (const char *name, const char *url, const notice_t *notice,
                              char *prefix, size_t prefix_size, char *error, size_t error_size);

//  httppost_send of body as compact JSON; takes body (NULL: out of memory).
send_result_t httppost_send_json (const httppost_target_t *target,
                                  const struct curl_slist *headers, json_t *body,
                                  const char *prefix, char *error, size_t error_size);

//  A copy of text fit for JSON: text itself when it is UTF-8, else with
//  every non-ASCII byte as '?', never dropped (jansson refuses text that
//  is not UTF-8). NULL text is "". Caller owns the json_t.
json_t *httppost_json_string (const char *text);

//  JSON array text as given by notice_item_t (changes, reasons), parsed; an
//  empty array if it is missing, does not parse, or is not an array: one
//  bad column should not cost the receiver the rest of the notice.
json_t *httppost_json_array (const char *text);

#endif
