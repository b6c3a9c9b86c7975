/*  webhook: a notice as a signed HTTP POST, in Slack's Block Kit or in our
    own generic JSON (docs/WEBHOOKS.md is the receiver's contract).

    Two formats because there are two kinds of receivers: people read Slack
    (and Mattermost, and anything else that takes Slack's incoming-webhook
    shape), programs read the generic JSON, which carries every item with its
    reasons and changes as structured data, not prose.

    Every POST carries X-Drift-Delivery (the notice's delivery id, stable
    across retries, so a receiver can drop a resend) and, when the channel
    has a secret, X-Drift-Signature: "t=UNIX_SECONDS,v1=HEX", HEX being
    HMAC-SHA256 (secret, "UNIX_SECONDS." + body). The timestamp is inside the
    MAC so a captured request cannot be replayed after the receiver's
    tolerance; the body is signed as sent, byte for byte, so a receiver
    verifies before it parses.

    A send follows no redirect: a redirect would carry a signed notice to a
    URL the operator never configured, so it is refused as a permanent error
    that names the status class. The host is resolved and checked at every
    send (actors/notify/egress: no loopback, private, link-local or metadata address
    unless the operator allows the host) and the connection pinned to what
    was checked. Errors say only the status class ("HTTP 4xx", "could not
    connect", "timed out") and the URL's scheme and host: never a byte of
    the reply nor curl's detailed message, which would let whoever sets a
    channel read or port-scan what the server can reach, and never the
    URL's path, which for a Slack webhook is itself the credential. The
    send reads at most 64 KiB of a reply and drops it.
*/
#ifndef WEBHOOK_H_INCLUDED
#define WEBHOOK_H_INCLUDED

#include "notice.h"

#include <stddef.h>
#include <stdint.h>

#define WEBHOOK_SIGNATURE_SIZE 160          // bytes for webhook_signature's output
#define WEBHOOK_BODY_MAX (4 * 1024 * 1024)  // a larger body is refused, not sent

//  Where and how one channel's notices go.
typedef struct {
    const char *url;            // http:// or https://
    const char *format;         // "slack" or "generic"
    const char *secret;         // HMAC-SHA256 key; NULL or "": unsigned (allowed, docs say why not)
    const char *ca_file;        // PEM CA bundle for https; NULL: the system's
    long timeout_ms;            // connect and whole transfer; 0 (or less): 10000 (httppost.h)
    const char *allow_hosts;    // the operator's hosts that may be internal (comma-separated)
} webhook_config_t;

//  The JSON body for notice in format ("slack" or "generic"); the caller
//  frees it. NULL on an unknown format (or if memory ran out).
char *webhook_body (const char *format, const notice_t *notice);

//  The signature header value for body at timestamp (unix seconds):
//  "t=TIMESTAMP,v1=HEX", HEX = hex (HMAC-SHA256 (secret, "TIMESTAMP." +
//  body)), into signature [WEBHOOK_SIGNATURE_SIZE]. A secret of any length.
void webhook_signature (const char *secret, int64_t timestamp, const char *body, size_t size,
                        char *signature);

//  Check a signature header against body, secret and now (unix seconds):
//  0 if one of its v1 values is the MAC of body and its t is within
//  tolerance_s of now (either way), else -1 (also for a NULL or empty
//  secret, or a malformed header). The MACs are compared in constant time.
int webhook_verify (const char *secret, const char *header, const char *body, size_t size,
                    int64_t now, int tolerance_s);

//  POST notice as config says. SEND_OK on 2xx; SEND_TRANSIENT on a
//  connection error, a timeout, HTTP 408, 429 or 5xx; SEND_PERMANENT on any
//  other status (redirects included), a malformed or non-http(s) URL, an
//  unknown format, a body over WEBHOOK_BODY_MAX, a TLS verification
//  failure or a host that is internal (egress.h) and not in allow_hosts.
//  The reason goes into error as a class (never the secret, the URL's
//  path or query, the reply's bytes or curl's detail).
send_result_t webhook_send (const webhook_config_t *config, const notice_t *notice,
                            char *error, size_t error_size);

#endif
