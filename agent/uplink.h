/*  uplink: the agent's side of the agent link (proto/AGENT-LINK.md).

    Sends what the spool holds over a transport (agent/link.h: CurveZMQ or
    HTTPS, the same rules for both) and settles each report by ingest's
    answer: ACK removes it from the spool, a permanent NACK moves it to
    refused/, RATE_LIMITED and UNAVAILABLE hold sending for the time ingest
    asks. A report left unanswered for the ack timeout, or a connection the
    transport says is broken, means the link is down: the connection is
    dropped, every report in flight goes back to the head of the queue, and
    the next connection is tried after an exponential backoff with jitter
    (so a fleet of agents does not return in lockstep). Resends are
    harmless: ingest acks a report id it already has without journaling it
    again.

    A server that refuses the agent's key or certificate (unknown or
    revoked) stops the agent; one that is away is retried. The state is
    written to a status file for `drift-agent status`.
*/
#ifndef UPLINK_H_INCLUDED
#define UPLINK_H_INCLUDED

#include "commands.h"
#include "link.h"
#include "spool.h"

#include <czmq.h>

typedef struct {
    const char *endpoint;        // ingest's agent endpoint, for the status
    link_t link;                 // the transport (owned from uplink_new on)
    int ack_timeout_ms;          // unanswered for this long: the link is broken
    int window;                  // reports in flight at once
    int backoff_max_ms;          // longest pause between connection attempts
    const char *status_path;     // status file to keep current, or NULL
} uplink_config_t;

typedef struct {
    int sent;                    // reports acked (a resend acked again counts)
    int refused;                 // reports refused for good (moved to refused/)
    int updates_refused;         // command updates refused for good (moved to commands/out/refused/)
    int key_refused;             // the server refuses this agent's key: stop
    size_t waiting;              // reports still in the spool for this flush
} uplink_result_t;

typedef struct _uplink_t uplink_t;

//  The uplink takes the transport in config->link, also when it returns
//  NULL (settings unusable).
uplink_t *uplink_new (const uplink_config_t *config);
void uplink_destroy (uplink_t **self_p);

//  Send the spool's reports (only report id only, when not NULL) until each
//  is settled, the key is refused, timeout_ms passes or shutdown is asked
//  for. Returns 0 with result filled.
int uplink_flush (uplink_t *self, spool_t *spool, const char *only, int timeout_ms,
                  uplink_result_t *result);

//  Carry the command channel too (drift-agent run): commands from ingest
//  are recorded in commands (agent/commands.h), its updates are sent with
//  the reports and settled by COMMAND_ACK, and uplink_flush stays connected
//  until its timeout even with nothing to send, so commands reach the agent
//  while it waits for its next check.
void uplink_set_commands (uplink_t *self, agent_commands_t *commands);

//  Write the status file now (state, last ACK, spool depth).
void uplink_write_status (uplink_t *self, spool_t *spool);

#endif
