/*  agent_command: section 7's names and checks; see agent_command.h. */
#include "agent_command.h"
#include "agent_link.h"

#include <string.h>

static const char *s_kinds [] = { NULL, "check", "plan", "plan_refresh_only", "apply" };
static const char *s_states [] = {
    NULL, "received", "running", "succeeded", "failed", "refused", "timed_out"
};
#define S_COUNT(array) ((int) (sizeof array / sizeof array [0]))

const char *
agent_command_kind_name (Drift__CommandKind kind)
{
    return (int) kind > 0 && (int) kind < S_COUNT (s_kinds) ? s_kinds [kind] : NULL;
}

Drift__CommandKind
agent_command_kind_of (const char *name)
{
    for (int kind = 1; name && kind < S_COUNT (s_kinds); kind++)
        if (strcmp (name, s_kinds [kind]) == 0)
            return (Drift__CommandKind) kind;
    return DRIFT__COMMAND_KIND__COMMAND_KIND_UNSPECIFIED;
}

const char *
agent_command_state_name (Drift__CommandState state)
{
    return (int) state > 0 && (int) state < S_COUNT (s_states) ? s_states [state] : NULL;
}

bool
agent_command_state_final (Drift__CommandState state)
{
    return state >= DRIFT__COMMAND_STATE__COMMAND_STATE_SUCCEEDED
        && state <= DRIFT__COMMAND_STATE__COMMAND_STATE_TIMED_OUT;
}

static bool
s_hex64 (const char *text)
{
    if (strlen (text) != 64)
        return false;
    for (const char *at = text; *at; at++)
        if (!strchr ("0123456789abcdef", *at))
            return false;
    return true;
}

int
agent_command_check_update (const Drift__CommandUpdate *update, const char **error)
{
    if (!agent_link_valid_uuid (update->command_id))
        *error = "command_id must be a lower-case UUID";
    else
    if (update->seq < 1)
        *error = "seq starts at 1";
    else
    if (!agent_command_state_name (update->state))
        *error = "unknown command state";
    else
    if (update->seq == 1 && update->state != DRIFT__COMMAND_STATE__COMMAND_STATE_RECEIVED)
        *error = "update 1 of a command is RECEIVED";
    else
    if (update->n_output > AGENT_COMMAND_LINES_MAX)
        *error = "more than 256 output lines in one update";
    else
    if (strlen (update->message) > AGENT_COMMAND_MESSAGE_MAX)
        *error = "message longer than 4 KiB";
    else
    if (*update->plan_sha256 && !s_hex64 (update->plan_sha256))
        *error = "plan_sha256 must be 64 lower-case hex digits";
    else
    if (*update->report_id && !agent_link_valid_report_id (update->report_id))
        *error = "report_id must be 1-64 characters of A-Z a-z 0-9 . _ : -";
    else {
        for (size_t i = 0; i < update->n_output; i++)
            if (strlen (update->output [i]) > AGENT_COMMAND_LINE_MAX) {
                *error = "an output line longer than 4 KiB";
                return -1;
            }
        return 0;
    }
    return -1;
}

int
agent_command_check (const Drift__Command *command, const char **error)
{
    if (!agent_link_valid_uuid (command->command_id))
        *error = "command_id must be a lower-case UUID";
    else
    if (!agent_command_kind_name (command->kind))
        *error = "unknown command kind";
    else
    if (*command->stack && !agent_link_valid_stack (command->stack))
        *error = "stack must be 1-200 bytes of text without control characters";
    else
    if (*command->plan_sha256 && !s_hex64 (command->plan_sha256))
        *error = "plan_sha256 must be 64 lower-case hex digits";
    else
        return 0;
    return -1;
}
