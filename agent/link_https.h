/*  link_https: the agent link over HTTPS (proto/AGENT-LINK.md §6).

    Every connection starts with `GET /v1/hello`, answered with the same
    WELCOME as CURVE's HELLO (tenant, agent, max_report_bytes): the uplink
    sends no report before it. Each report is one `POST /v1/reports` (protobuf body) to Caddy's agent
    site, with the agent's client certificate from the install's local CA.
    libcurl's multi interface keeps several requests in flight (up to the
    uplink's window) on kept-alive connections. libcurl reads HTTPS_PROXY
    and NO_PROXY itself: nothing here sets a proxy, so a proxy the
    environment names is used (HTTP CONNECT, the TLS session stays end to
    end). The client key is read through lib/secret (0600, owner, no link)
    and handed to libcurl as bytes, never as a path it would open itself.

    The status and body map to the same answers as CURVE's (link.h): 200 an
    ACK, 400/404/405/413/415 a NACK for good, 429/503 a NACK to resend after
    Retry-After, 403 REVOKED (the key is refused); 502, 504, anything else
    and a failed connection break the link (resend after backoff).

    Commands (proto/AGENT-LINK.md §7), which CURVE brings unasked, are
    polled: on a welcomed connection a `GET /v1/commands` every
    command_poll_s (0: never; only `drift-agent run` takes commands), one
    at a time, and again at once after a 200 as soon as that command's
    update has its answer. A 200 is the COMMAND a CURVE agent would have
    been sent, 204 nothing. Each command update is one `POST
    /v1/command-updates` (the AgentMessage), its 200 the COMMAND_ACK.
*/
#ifndef LINK_HTTPS_H_INCLUDED
#define LINK_HTTPS_H_INCLUDED

#include "link.h"

//  The largest client key file read (PEM: an EC or RSA key is well under).
#define LINK_HTTPS_KEY_MAX 16384

typedef struct {
    const char *endpoint;        // https://host[:port]
    const char *certificate;     // the client certificate, PEM
    const char *key;             // its private key, PEM (a secret file)
    const char *ca;              // a private server CA bundle, or NULL/"" for the system's
    int window;                  // reports in flight at once (connections kept at most)
    int timeout_ms;              // a request unanswered this long fails
    int command_poll_s;          // seconds between polls for commands (0: never poll)
} link_https_config_t;

//  An HTTPS transport. -1 with the reason in error if a setting or the key
//  file is unusable.
int link_https_new (link_t *link, const link_https_config_t *config, char *error,
                    size_t error_size);

//  The answer for an HTTP response to GET /v1/hello: WELCOME (200 with a
//  Welcome), KEY_REFUSED (403), else BROKEN. Always fills answer.
void link_https_welcome (long status, const uint8_t *body, size_t size, link_answer_t *answer);

//  The answer for an HTTP response to the request for report id: status,
//  body (an AgentMessage, or anything a proxy sent), Retry-After (seconds,
//  or NULL). Always fills answer.
void link_https_answer (long status, const uint8_t *body, size_t size,
                        const char *retry_after, const char *id, link_answer_t *answer);

//  The answer for an HTTP response to the POST of the update seq of
//  command_id: COMMAND_ACK (200 with the CommandAck naming that update),
//  a NACK (400 ... 503 as link_https_answer, naming the update in
//  command_id and seq), else BROKEN. Always fills answer.
void link_https_update_answer (long status, const uint8_t *body, size_t size,
                               const char *retry_after, const char *command_id, uint32_t seq,
                               link_answer_t *answer);

//  The answer for an HTTP response to GET /v1/commands: 1 with answer
//  filled (COMMAND for a 200 holding a Command that keeps the rules; for
//  the other statuses what link_https_answer says, e.g. 403 a NACK
//  REVOKED, 503 a NACK with its retry time, 502 BROKEN; BROKEN for a 200
//  holding anything else), 0 when there is
//  nothing to tell (204; a Command that breaks the rules, logged).
int link_https_command (long status, const uint8_t *body, size_t size, const char *retry_after,
                        link_answer_t *answer);

#endif
