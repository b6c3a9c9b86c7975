/*  commands: ingest's side of the command channel in PostgreSQL
    (proto/AGENT-LINK.md section 7, schema 0021).

    One connection of its own, which LISTENs on drift_commands: the API's
    insert of a command NOTIFYs the agent's id, and ingest's poll loop
    watches this connection's socket (commands_fd), so a command reaches a
    connected agent at once. The same connection reads an agent's commands
    not yet received (drift_commands_pending) and stores the agent's
    updates (drift_command_update, which decides whether one may follow).
    The connection is made lazily and again after a failure, never more
    often than once a second; while it is down commands wait in the
    database and updates are answered UNAVAILABLE.
*/
#ifndef INGEST_COMMANDS_H_INCLUDED
#define INGEST_COMMANDS_H_INCLUDED

#include "drift.pb-c.h"

#include <czmq.h>

typedef struct _commands_t commands_t;

//  What became of an update.
typedef enum {
    COMMANDS_STORED = 0,         // new: stored
    COMMANDS_DUPLICATE,          // that seq was stored before: ack it again
    COMMANDS_NOT_FOUND,          // no such command of this agent
    COMMANDS_OUT_OF_ORDER,       // seq beyond the next one
    COMMANDS_BAD_STATE,          // the state cannot follow the stored one
    COMMANDS_BAD_PLAN,           // plan_json is not a JSON document
    COMMANDS_UNAVAILABLE         // the database did not answer
} commands_outcome_t;

commands_t *commands_new (const char *database_url, uint64_t max_plan_bytes);
void commands_destroy (commands_t **self_p);

//  Connect (and LISTEN) when not connected and the retry time has come:
//  1 when a new connection was made since the last call (here or by a
//  query: commands made while it was down are due now), 0 otherwise.
int commands_connect (commands_t *self);

//  The connection's socket to poll, or -1 while disconnected.
int commands_fd (commands_t *self);

//  After the socket was readable: the agent ids notified (added to ids,
//  strings the list owns; duplicates dropped). -1 if the connection broke.
int commands_notified (commands_t *self, zlistx_t *ids);

//  The agent's commands not yet received, oldest first (at most 64), each
//  allocated (free with commands_free); their count, or -1 if the database
//  did not answer.
int commands_pending (commands_t *self, const char *tenant_id, const char *agent_id,
                      Drift__Command ***commands);
void commands_free (Drift__Command **commands, int count);

//  Store an update (already checked by agent_command_check_update) of
//  agent_id's command.
commands_outcome_t commands_store (commands_t *self, const char *tenant_id,
                                   const char *agent_id, const Drift__CommandUpdate *update);

#endif
