/*  commands: the agent's side of the command channel (proto/AGENT-LINK.md
    section 7): a command is recorded before it is answered, run at most
    once, and its updates are spooled until ingest acks them.

    Records live in SPOOL/commands/ (one ID.command file each, JSON, written
    like a report: temporary file, fsync, rename, fsync of the directory),
    updates in SPOOL/commands/out/ (one ID.SEQ.update file each, a packed
    CommandUpdate). The uplink sends those updates with the reports' own
    window, ack timeout and resends (agent/uplink.c) and removes each when
    its COMMAND_ACK comes. A command sent again (a reconnect, a lost
    update) finds its record and is not recorded or run again; its updates
    not yet acked are still in out/ and go again. A record left "running"
    by an agent that was killed is finished FAILED at the next start,
    never run a second time. Records of finished commands whose updates
    are all acked are pruned after a while (agent_commands_prune).

    What a command does is the run loop's (agent/main.c: CHECK) and
    agent/remediation.c's (PLAN, PLAN_REFRESH_ONLY, APPLY); this file only
    keeps the promise of once.
*/
#ifndef AGENT_COMMANDS_H_INCLUDED
#define AGENT_COMMANDS_H_INCLUDED

#include "spool.h"
#include "drift.pb-c.h"

typedef struct _agent_commands_t agent_commands_t;

//  Open (creating) SPOOL/commands and SPOOL/commands/out; NULL if unusable.
agent_commands_t *agent_commands_new (const char *spool_directory);
void agent_commands_destroy (agent_commands_t **self_p);

//  The updates waiting for their COMMAND_ACK (the uplink's to send).
spool_t *agent_commands_updates (agent_commands_t *self);

//  A packed Command from ingest: recorded (fsynced) and answered RECEIVED
//  (update 1, spooled), or, when its id is recorded already, left alone.
//  0, or -1 when it could not be recorded (not answered: ingest sends it
//  again).
int agent_commands_receive (agent_commands_t *self, const uint8_t *command, size_t size);

//  Whether a recorded command waits to run.
bool agent_commands_waiting (agent_commands_t *self);

//  The oldest recorded command not yet run, now marked running (its
//  record says so, and a RUNNING update is spooled), or NULL. The caller
//  frees it with drift__command__free_unpacked after agent_commands_finish.
Drift__Command *agent_commands_start (agent_commands_t *self);

//  The command's final update: state (SUCCEEDED, FAILED, REFUSED,
//  TIMED_OUT), why, the engine's exit code, the report its check made ("" or
//  NULL: none), output lines (at most 256 a call, each cut at 4 KiB).
int agent_commands_finish (agent_commands_t *self, const Drift__Command *command,
                           Drift__CommandState state, const char *message, int exit_code,
                           const char *report_id, const char *const *lines, size_t count);

//  Spool update of command (its id and seq are set here): a RUNNING one
//  with output lines, or a final one with whatever it holds (plan_sha256,
//  plan_json, report_id); lines (at most 256) and message are cut to the
//  caps. A final state marks the record done.
int agent_commands_update (agent_commands_t *self, const Drift__Command *command,
                           Drift__CommandUpdate *update);

//  Forget the records of commands that finished before before_us (wall
//  clock) and whose updates are all acked (none left in out/); the number
//  pruned. Safe, for the promise of once, because ingest sends only
//  commands not yet RECEIVED: a finished, fully acked command is never
//  sent again, so its id need not be remembered (drift-agent run prunes
//  after command-records-days).
int agent_commands_prune (agent_commands_t *self, int64_t before_us);

//  Whether the plan file of command id can no longer be applied as far as
//  the agent knows: no record of the command, or it finished other than
//  SUCCEEDED (a plan that failed is never approved). A plan still being
//  made, or made and waiting for its approval, is not spent.
bool agent_commands_plan_spent (agent_commands_t *self, const char *id);

#endif
