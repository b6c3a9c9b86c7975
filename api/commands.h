/*  commands: what the command routes (api/commands.c, check now and the
    history; api/remediations.c, plan, approve, reject) answer for a
    command, in one place so every route shows a command the same way.
*/
#ifndef API_COMMANDS_H_INCLUDED
#define API_COMMANDS_H_INCLUDED

//  One command (alias c, its agent a) as a jsonb object.
#define COMMANDS_ROW_SQL \
    "jsonb_build_object ('id', c.id, 'agent_id', c.agent_id, 'agent', a.name," \
    " 'stack', nullif (c.stack, ''), 'kind', c.kind, 'targets', to_jsonb (c.targets)," \
    " 'state', c.state, 'requested_by', c.requested_by, 'approved_by', c.approved_by," \
    " 'approved_at', drift_iso (c.approved_at), 'created_at', drift_iso (c.created_at)," \
    " 'received_at', drift_iso (c.received_at), 'started_at', drift_iso (c.started_at)," \
    " 'finished_at', drift_iso (c.finished_at), 'exit_code', c.exit_code," \
    " 'message', c.message, 'report_id', c.report_id, 'plan_sha256', c.plan_sha256," \
    " 'output_dropped', c.output_dropped, 'plan_command_id', c.plan_command_id," \
    " 'rejected_by', c.rejected_by, 'rejected_at', drift_iso (c.rejected_at))"

#define COMMANDS_FROM_SQL \
    " FROM agent_commands c JOIN agents a ON a.tenant_id = c.tenant_id AND a.id = c.agent_id"

#endif
