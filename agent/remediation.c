/*  remediation: the dispatch of remediation commands; see remediation.h. */
#include "remediation.h"

void
remediation_dispatch (agent_commands_t *commands, const Drift__Command *command,
                      const char *directory, bool enabled)
{
    (void) directory;
    const char *why = enabled
        ? "remediation is not built into this agent"
        : "remediation is off for this stack (the agent's configuration must list it in "
          "remediation = NAME,...)";
    agent_commands_finish (commands, command, DRIFT__COMMAND_STATE__COMMAND_STATE_REFUSED, why,
                           0, NULL, NULL, 0);
}
