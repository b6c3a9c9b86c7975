/*  commands: the command channel over the dashboard API (proto/AGENT-LINK.md
    section 7, schema 0021): ask an agent to check a stack now, and follow
    what became of every command.

    A check of a stack goes to the agent that last reported it (the agent
    beside that stack's code); a check of an agent covers all its stacks.
    The insert is all the API does: its trigger wakes ingest (NOTIFY
    drift_commands), which sends the command to the agent if it is
    connected, and again after each reconnect until the agent has it. The
    answer is 202 with the command, state "pending". Who asked is recorded
    (requested_by: the caller's email, or the API token's name).
*/
#include "audit.h"
#include "commands.h"
#include "resource.h"

#include <stdio.h>
#include <string.h>

#define ROW_SQL COMMANDS_ROW_SQL
#define FROM_SQL COMMANDS_FROM_SQL

static const char *const s_states [] = {
    "pending", "received", "running", "succeeded", "failed", "refused", "timed_out", NULL
};

//  Insert a CHECK of stack ("": every stack) for agent, answer 202 with it.
static int
s_check (api_call_t *call, json_t **reply, const char *agent_id, const char *stack)
{
    //  user_id is a user's id, or an API token's (api/api.h): a UUID either way.
    const char *params [] = { call->tenant_id, agent_id, stack, call->user_id,
                              resource_actor (call) };
    PGresult *result = resource_query (call, reply, "asking for a check",
        "WITH c AS (INSERT INTO agent_commands"
        "   (tenant_id, agent_id, stack, kind, requested_by_id, requested_by)"
        "   VALUES ($1::uuid, $2::uuid, $3::text, 'check', $4::uuid, $5::text)"
        "   RETURNING *)"
        //  The new row is the CTE's: the statement's snapshot has not got it.
        " SELECT " ROW_SQL "::text FROM c JOIN agents a"
        " ON a.tenant_id = c.tenant_id AND a.id = c.agent_id", 5, params);
    if (!result)
        return 500;
    json_t *row = resource_row (result, 0);
    PQclear (result);
    if (!row)
        return api_error (reply, 500, "the command was not stored", NULL);
    //  In the same transaction: a command nobody can trace is not made.
    int status = audit_call (call, reply, "command.check",
                             json_string_value (json_object_get (row, "id")),
                             json_pack ("{s:s, s:s}", "agent_id", agent_id, "stack", stack));
    if (status) {
        json_decref (row);
        return status;
    }
    return resource_reply (reply, 202, row);
}

int
api_stack_agent (api_call_t *call, json_t **reply, const char *stack, char **agent_id,
                 char **name)
{
    *agent_id = *name = NULL;
    if (!*stack || strlen (stack) > 200)
        return api_error (reply, 404, "no such stack", NULL);
    //  The agent of the stack's last report, if it still holds its key.
    const char *params [] = { call->tenant_id, stack };
    PGresult *result = resource_query (call, reply, "finding a stack's agent",
        "SELECT s.name, r.agent_id, a.revoked_at IS NOT NULL"
        " FROM stacks s"
        " LEFT JOIN reports r ON r.tenant_id = s.tenant_id AND r.report_id = s.last_report_id"
        " LEFT JOIN agents a ON a.tenant_id = r.tenant_id AND a.id = r.agent_id"
        " WHERE s.tenant_id = $1::uuid AND (s.id::text = $2::text OR s.name = $2::text)"
        " ORDER BY s.id::text = $2::text DESC LIMIT 1", 2, params);
    if (!result)
        return 500;
    int status = 0;
    if (PQntuples (result) == 0)
        status = api_error (reply, 404, "no such stack", NULL);
    else
    if (PQgetisnull (result, 0, 1))
        status = api_error (reply, 409, "no agent has reported this stack yet", NULL);
    else
    if (strcmp (PQgetvalue (result, 0, 2), "t") == 0)
        status = api_error (reply, 409, "the agent that reports this stack is revoked", NULL);
    else {
        *agent_id = strdup (PQgetvalue (result, 0, 1));
        *name = strdup (PQgetvalue (result, 0, 0));
    }
    PQclear (result);
    return status;
}

int
api_stacks_check (api_call_t *call, json_t **reply)
{
    char *agent_id, *name;
    int status = api_stack_agent (call, reply, call->param_count ? call->params [0] : "",
                                  &agent_id, &name);
    if (!status)
        status = s_check (call, reply, agent_id, name);
    free (agent_id);
    free (name);
    return status;
}

int
api_agents_check (api_call_t *call, json_t **reply)
{
    if (call->param_count < 1 || !api_is_uuid (call->params [0]))
        return api_error (reply, 404, "no such agent", NULL);
    const char *params [] = { call->tenant_id, call->params [0] };
    PGresult *result = resource_query (call, reply, "finding an agent",
        "SELECT revoked_at IS NOT NULL FROM agents WHERE tenant_id = $1::uuid AND id = $2::uuid",
        2, params);
    if (!result)
        return 500;
    int status = PQntuples (result) == 0
        ? api_error (reply, 404, "no such agent", NULL)
        : strcmp (PQgetvalue (result, 0, 0), "t") == 0
        ? api_error (reply, 409, "the agent is revoked", NULL)
        : s_check (call, reply, call->params [0], "");
    PQclear (result);
    return status;
}

int
api_commands_list (api_call_t *call, json_t **reply)
{
    const char *stack, *state;
    int status = resource_stack_filter (call, &stack, reply);
    if (!status)
        status = api_query_enum (call, "state", s_states, NULL, &state, reply);
    if (status)
        return status;
    const char *extra [] = { stack, state };
    return resource_list_of (call, reply, "listing commands",
        "SELECT " ROW_SQL "::text" FROM_SQL
        " WHERE c.tenant_id = $1::uuid"
        "   AND ($4::text IS NULL OR c.stack = $4::text OR c.stack IN"
        "        (SELECT x.name FROM stacks x WHERE x.tenant_id = $1::uuid AND x.id::text = $4::text))"
        "   AND ($5::text IS NULL OR c.state = $5::text)"
        " ORDER BY c.created_at DESC, c.id LIMIT $2::bigint OFFSET $3::bigint", 2, extra);
}

int
api_commands_get (api_call_t *call, json_t **reply)
{
    if (call->param_count < 1 || !api_is_uuid (call->params [0]))
        return api_error (reply, 404, "no such command", NULL);
    const char *params [] = { call->tenant_id, call->params [0] };
    //  Its updates in order, each with the output lines it brought.
    PGresult *result = resource_query (call, reply, "reading a command",
        "SELECT (" ROW_SQL " || jsonb_build_object ('updates', coalesce ((SELECT jsonb_agg ("
        "   jsonb_build_object ('seq', u.seq, 'state', u.state, 'message', u.message,"
        "     'output', to_jsonb (u.output), 'received_at', drift_iso (u.received_at))"
        "   ORDER BY u.seq) FROM agent_command_updates u"
        "   WHERE u.tenant_id = c.tenant_id AND u.command_id = c.id), '[]'::jsonb),"
        "   'plan_json', c.plan_json))::text"
        FROM_SQL " WHERE c.tenant_id = $1::uuid AND c.id = $2::uuid", 2, params);
    if (!result)
        return 500;
    json_t *row = resource_row (result, 0);
    PQclear (result);
    return row ? resource_reply (reply, 200, row) : api_error (reply, 404, "no such command", NULL);
}
