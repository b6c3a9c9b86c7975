/*  link: what the agent's uplink needs of a transport to ingest.

    The uplink (agent/uplink.c) owns the delivery promise: the spool, the
    window of reports in flight, the ack timeout, resends, backoff with
    jitter and the status file. A transport only moves reports and brings
    back answers, so both ways in share that logic:

    - agent/link_curve.c: a DEALER, CURVE client of ingest (tcp://), the
      HELLO/WELCOME handshake and answers as AgentMessage frames;
    - agent/link_https.c: GET /v1/hello (the same WELCOME), then POST
      /v1/reports over HTTPS with a client certificate (https://), through
      libcurl, one request per report (proto/AGENT-LINK.md §6), its status
      mapped to the same answers.

    A transport delivers every event as a link_answer_t, one per call of
    poll; it never decides what happens to a report.
*/
#ifndef LINK_H_INCLUDED
#define LINK_H_INCLUDED

#include "drift.pb-c.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum {
    LINK_WELCOME = 1,            // the server knows this agent (tenant, agent set)
    LINK_ACK,                    // report_id is journaled (duplicate: it was already)
    LINK_NACK,                   // report_id (or update seq of command_id) refused: code, message, retry_after_ms
    LINK_KEY_REFUSED,            // the server refuses this agent's key: stop
    LINK_BROKEN,                 // the connection is unusable: message says why
    LINK_COMMAND,                // ingest sends a command: command, command_size
    LINK_COMMAND_ACK             // ingest stored update seq of command_id
} link_event_t;

typedef struct {
    link_event_t kind;           // what happened
    char report_id [80];         // the report answered ("" if the answer names none)
    bool duplicate;              // ACK: the report had been journaled before
    int code;                    // NACK: a Drift__NackCode
    uint32_t retry_after_ms;     // NACK RATE_LIMITED/UNAVAILABLE: wait this long
    char message [256];          // NACK, BROKEN, KEY_REFUSED: for the operator
    char tenant [64];            // WELCOME: who the server says we are
    char agent [64];             // WELCOME
    uint64_t max_report_bytes;   // WELCOME: the largest report the server takes (0: unsaid)
    uint8_t *command;            // COMMAND: the packed Command (malloc'd: the receiver frees it)
    size_t command_size;         // its size
    char command_id [40];        // COMMAND_ACK: the command; NACK: of the update refused ("" if none)
    uint32_t seq;                // COMMAND_ACK: the update stored; NACK: the update refused
} link_answer_t;

typedef struct {
    //  Start a connection: 1 when reports may be sent at once, 0 when the
    //  transport first waits for a WELCOME, -1 when it cannot even start
    //  (the reason in error).
    int (*connect) (void *self, char *error, size_t error_size);
    //  Send one report (the spooled Report bytes): 0, or -1 to try later.
    int (*send) (void *self, const char *id, const uint8_t *report, size_t size);
    //  Wait up to timeout_ms for the next event: 1 with answer filled, 0
    //  when there is none.
    int (*poll) (void *self, int timeout_ms, link_answer_t *answer);
    //  Drop the connection and whatever is in flight on it.
    void (*disconnect) (void *self);
    //  Disconnect and free self.
    void (*destroy) (void *self);
    //  Send one command update (the spooled CommandUpdate bytes): 0, or -1
    //  to try later. NULL: the transport carries no commands.
    int (*send_update) (void *self, const uint8_t *update, size_t size);
} link_ops_t;

//  A transport: its operations and its state.
typedef struct {
    const link_ops_t *ops;       // what it does
    void *self;                  // its state, owned
} link_t;

//  An AgentMessage from ingest (WELCOME, ACK, NACK, COMMAND or COMMAND_ACK)
//  as an answer: 1 with answer filled, 0 for any other kind (what agents
//  send), an ACK with an invalid report id or a command that breaks the
//  rules of agent_command_check.
int link_answer_from_message (const Drift__AgentMessage *message, link_answer_t *answer);

#endif
