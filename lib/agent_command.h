/*  agent_command: the command channel's rules shared by ingest and the
    agent (proto/AGENT-LINK.md section 7): names of kinds and states as the
    database and the API write them, the checks of a Command and of a
    CommandUpdate, and the caps on output.

    Which side may send what is the dispatchers' rule: ingest takes
    COMMAND_UPDATE from agents (a COMMAND or COMMAND_ACK from an agent is
    refused as a wrong type), the agent takes COMMAND and COMMAND_ACK from
    ingest. The checks here are what each side asks of the other's message
    before acting on it.
*/
#ifndef AGENT_COMMAND_H_INCLUDED
#define AGENT_COMMAND_H_INCLUDED

#include "drift.pb-c.h"

#include <stdbool.h>

#define AGENT_COMMAND_LINE_MAX 4096      // bytes of one output line
#define AGENT_COMMAND_LINES_MAX 256      // output lines in one update
#define AGENT_COMMAND_MESSAGE_MAX 4096   // bytes of an update's message

//  "check", "plan", "plan_refresh_only", "apply"; NULL if unknown.
const char *agent_command_kind_name (Drift__CommandKind kind);
//  The kind of name, or 0 (UNSPECIFIED).
Drift__CommandKind agent_command_kind_of (const char *name);
//  "received", "running", "succeeded", "failed", "refused", "timed_out";
//  NULL if unknown.
const char *agent_command_state_name (Drift__CommandState state);
//  Whether state ends a command.
bool agent_command_state_final (Drift__CommandState state);

//  0 if the update keeps the rules (id, seq from 1, a known state, output
//  within the caps, hashes and report ids well formed), else -1 with
//  *error saying why (a static string for the NACK).
int agent_command_check_update (const Drift__CommandUpdate *update, const char **error);

//  The same for a Command as the agent receives it.
int agent_command_check (const Drift__Command *command, const char **error);

#endif
