/*  remediation: where the agent's run loop hands a PLAN,
    PLAN_REFRESH_ONLY or APPLY command (proto/AGENT-LINK.md section 7).

    The one place remediation is dispatched, kept small so that the runner
    of plans and applies (agent/remediate.c, built apart) is wired in here
    and nowhere else. Until then every such command ends REFUSED, saying
    whether the stack has remediation off (the default: the agent's
    configuration lists it in `remediation = NAME,NAME`) or on.
*/
#ifndef REMEDIATION_H_INCLUDED
#define REMEDIATION_H_INCLUDED

#include "commands.h"

#include <stdbool.h>

//  Run (or refuse) command, a PLAN, PLAN_REFRESH_ONLY or APPLY of a stack
//  whose remediation is enabled or not, and record its final update.
void remediation_dispatch (agent_commands_t *commands, const Drift__Command *command,
                           const char *directory, bool enabled);

#endif
