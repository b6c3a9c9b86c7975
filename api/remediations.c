/*  remediations: remediation over the dashboard API (issue 19, proto/
    AGENT-LINK.md section 7, schema 0021 and 0023): ask the agent beside a
    stack for a plan, then approve it (which makes the APPLY of exactly
    that plan file) or reject it.

    The API decides only who may and whether the plan is still fit to
    approve: a SUCCEEDED plan with its SHA-256, at most an hour old, not
    yet approved or rejected, and, with four-eyes on (the default), not
    approved by the person or token that asked for it. The agent checks
    again what it alone can see: the file's hash and age, and whether its
    configuration allows remediation of the stack at all. The plan row is
    locked while it is approved, and a unique index allows one APPLY per
    plan, so two approvals racing make one APPLY.
*/
#include "audit.h"
#include "commands.h"
#include "resource.h"
#include "../lib/metrics.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REMEDIATIONS_MAX_AGE_S 3600    // a plan older than this is not approved
#define REMEDIATIONS_MAX_TARGETS 1000  // as the agent takes (agent/remediate.h)
#define REMEDIATIONS_TARGET_MAX 1000   // bytes of one resource address

//  Refuse a remediation request: counted by reason in
//  drift_api_remediation_refusals_total, answered status with message.
static int
s_refuse (json_t **reply, int status, const char *reason, const char *message,
          const char *field)
{
    metric_inc (metrics_counter (metrics_default (), "drift_api_remediation_refusals_total",
        "Remediation requests refused (bad input, a plan not fit to approve, four-eyes)",
        "reason", reason, NULL));
    return api_error (reply, status, message, field);
}

//  Answer status with the one row result holds (500 saying what was not
//  stored if none), and clear result. With action, the row is first
//  recorded in the audit log, in the request's transaction: a command or a
//  decision nobody can trace is not made.
static int
s_answer (api_call_t *call, PGresult *result, int status, const char *failed,
          const char *action, json_t **reply)
{
    if (!result)
        return 500;
    json_t *row = resource_row (result, 0);
    PQclear (result);
    if (!row)
        return api_error (reply, 500, failed, NULL);
    if (action) {
        json_t *detail = json_pack ("{s:O?, s:O?, s:O?, s:O?, s:O?}",
            "kind", json_object_get (row, "kind"), "stack", json_object_get (row, "stack"),
            "targets", json_object_get (row, "targets"),
            "plan_command_id", json_object_get (row, "plan_command_id"),
            "plan_sha256", json_object_get (row, "plan_sha256"));
        int audited = audit_call (call, reply, action,
                                  json_string_value (json_object_get (row, "id")), detail);
        if (audited) {
            json_decref (row);
            return audited;
        }
    }
    return resource_reply (reply, status, row);
}

//  The targets field: absent or an array of resource addresses (no '-'
//  first, which the engine would read as an option, no control characters).
static int
s_targets (json_t *body, json_t **reply)
{
    json_t *targets = json_object_get (body, "targets");
    if (!targets || json_is_null (targets))
        return 0;
    if (!json_is_array (targets) || json_array_size (targets) > REMEDIATIONS_MAX_TARGETS)
        return s_refuse (reply, 400, "bad_targets", "targets must be an array of at most "
                         "1000 resource addresses", "targets");
    size_t index;
    json_t *target;
    json_array_foreach (targets, index, target) {
        const char *text = json_string_value (target);
        size_t length = json_string_length (target);
        bool fit = text && length > 0 && length <= REMEDIATIONS_TARGET_MAX
                && strlen (text) == length && *text != '-';
        for (size_t i = 0; fit && i < length; i++)
            fit = (unsigned char) text [i] >= 0x20 && text [i] != 0x7f;
        if (!fit)
            return s_refuse (reply, 400, "bad_targets", "each target must be a resource "
                             "address (e.g. aws_s3_bucket.logs): 1 to 1000 bytes, no '-' "
                             "first, no control characters", "targets");
    }
    return 0;
}

int
api_stacks_remediate (api_call_t *call, json_t **reply)
{
    static const char *const known [] = { "targets", "mode", NULL };
    static const char *const modes [] = { "revert", "accept", NULL };
    const char *mode = NULL;
    int status = api_json_only (call->body, known, reply);
    if (!status)
        status = api_json_string (call->body, "mode", false, 16, &mode, reply);
    if (!status && mode) {
        size_t i = 0;
        while (modes [i] && strcmp (modes [i], mode))
            i++;
        if (!modes [i])
            status = s_refuse (reply, 400, "bad_mode", "mode must be revert (put the resources "
                               "back as the code says) or accept (take the drift into state)",
                               "mode");
    }
    if (!status)
        status = s_targets (call->body, reply);
    if (status)
        return status;
    char *agent_id, *name;
    status = api_stack_agent (call, reply, call->param_count ? call->params [0] : "",
                              &agent_id, &name);
    if (status)
        return status;
    json_t *targets = call->body ? json_object_get (call->body, "targets") : NULL;
    char *targets_text = json_is_array (targets) ? json_dumps (targets, JSON_COMPACT)
                                                 : strdup ("[]");
    const char *kind = mode && strcmp (mode, "accept") == 0 ? "plan_refresh_only" : "plan";
    const char *params [] = { call->tenant_id, agent_id, name, kind, targets_text,
                              call->user_id, resource_actor (call) };
    PGresult *result = resource_query (call, reply, "asking for a remediation plan",
        "WITH c AS (INSERT INTO agent_commands"
        "   (tenant_id, agent_id, stack, kind, targets, requested_by_id, requested_by)"
        "   VALUES ($1::uuid, $2::uuid, $3::text, $4::text,"
        "           ARRAY (SELECT jsonb_array_elements_text ($5::jsonb)), $6::uuid, $7::text)"
        "   RETURNING *)"
        " SELECT " COMMANDS_ROW_SQL "::text FROM c JOIN agents a"
        " ON a.tenant_id = c.tenant_id AND a.id = c.agent_id", 7, params);
    free (targets_text);
    free (agent_id);
    free (name);
    return s_answer (call, result, 202, "the command was not stored", "command.plan", reply);
}

//  The plan command params[1] of the tenant, locked, checked fit to be
//  approved or rejected: 0, or the status of the error in *reply.
static int
s_plan_fit (api_call_t *call, json_t **reply, bool approve)
{
    if (call->param_count < 1 || !api_is_uuid (call->params [0]))
        return api_error (reply, 404, "no such command", NULL);
    char max_age [16];
    snprintf (max_age, sizeof max_age, "%d", REMEDIATIONS_MAX_AGE_S);
    const char *params [] = { call->tenant_id, call->params [0], call->user_id, max_age };
    PGresult *result = resource_query (call, reply, "reading a plan",
        "SELECT c.kind IN ('plan', 'plan_refresh_only'),"
        "       c.state = 'succeeded' AND c.plan_sha256 IS NOT NULL,"
        "       c.approved_at IS NOT NULL OR c.rejected_at IS NOT NULL,"
        "       c.finished_at < now () - make_interval (secs => $4::int),"
        "       coalesce ((SELECT s.four_eyes FROM remediation_settings s"
        "                  WHERE s.tenant_id = c.tenant_id), true)"
        "       AND c.requested_by_id IS NOT DISTINCT FROM $3::uuid"
        "  FROM agent_commands c WHERE c.tenant_id = $1::uuid AND c.id = $2::uuid"
        "   FOR UPDATE", 4, params);
    if (!result)
        return 500;
    int status = 0;
    #define S_IS(column) (strcmp (PQgetvalue (result, 0, column), "t") == 0)
    if (PQntuples (result) == 0)
        status = api_error (reply, 404, "no such command", NULL);
    else
    if (!S_IS (0))
        status = s_refuse (reply, 409, "not_a_plan", "the command is not a remediation plan",
                           NULL);
    else
    if (S_IS (2))
        status = s_refuse (reply, 409, "decided", "the plan is approved or rejected already",
                           NULL);
    else
    if (approve && !S_IS (1))
        status = s_refuse (reply, 409, "not_made", "only a plan the agent made (state "
                           "succeeded, with its SHA-256) can be approved", NULL);
    else
    if (approve && S_IS (3))
        status = s_refuse (reply, 409, "expired", "the plan is older than an hour: ask for a "
                           "new one", NULL);
    else
    if (approve && S_IS (4))
        status = s_refuse (reply, 403, "four_eyes", "four-eyes is on: someone other than the "
                           "requester must approve this plan", NULL);
    #undef S_IS
    PQclear (result);
    return status;
}

int
api_commands_approve (api_call_t *call, json_t **reply)
{
    int status = s_plan_fit (call, reply, true);
    if (status)
        return status;
    char max_age [16];
    snprintf (max_age, sizeof max_age, "%d", REMEDIATIONS_MAX_AGE_S);
    const char *params [] = { call->tenant_id, call->params [0], call->user_id,
                              resource_actor (call), max_age };
    //  The APPLY names the plan and its hash as approved; requested_by
    //  stays the plan's requester, the approver is approved_by on both.
    PGresult *result = resource_query (call, reply, "approving a plan",
        "WITH p AS (UPDATE agent_commands SET approved_by_id = $3::uuid,"
        "       approved_by = $4::text, approved_at = now ()"
        "   WHERE tenant_id = $1::uuid AND id = $2::uuid RETURNING *),"
        " c AS (INSERT INTO agent_commands (tenant_id, agent_id, stack, kind, plan_command_id,"
        "       plan_sha256, max_plan_age_s, requested_by_id, requested_by,"
        "       approved_by_id, approved_by, approved_at)"
        "   SELECT p.tenant_id, p.agent_id, p.stack, 'apply', p.id, p.plan_sha256,"
        "       $5::int, p.requested_by_id, p.requested_by, p.approved_by_id, p.approved_by,"
        "       p.approved_at FROM p RETURNING *)"
        " SELECT " COMMANDS_ROW_SQL "::text FROM c JOIN agents a"
        " ON a.tenant_id = c.tenant_id AND a.id = c.agent_id", 5, params);
    return s_answer (call, result, 202, "the apply was not stored", "command.approve", reply);
}

int
api_commands_reject (api_call_t *call, json_t **reply)
{
    int status = s_plan_fit (call, reply, false);
    if (status)
        return status;
    const char *params [] = { call->tenant_id, call->params [0], call->user_id,
                              resource_actor (call) };
    PGresult *result = resource_query (call, reply, "rejecting a plan",
        "WITH c AS (UPDATE agent_commands SET rejected_by_id = $3::uuid,"
        "       rejected_by = $4::text, rejected_at = now ()"
        "   WHERE tenant_id = $1::uuid AND id = $2::uuid RETURNING *)"
        " SELECT " COMMANDS_ROW_SQL "::text FROM c JOIN agents a"
        " ON a.tenant_id = c.tenant_id AND a.id = c.agent_id", 4, params);
    return s_answer (call, result, 200, "the rejection was not stored", "command.reject",
                     reply);
}

//  The tenant's remediation settings, as stored or the defaults.
static int
s_settings_reply (api_call_t *call, json_t **reply)
{
    const char *params [] = { call->tenant_id };
    PGresult *result = resource_query (call, reply, "reading remediation settings",
        "SELECT jsonb_build_object ('four_eyes', coalesce (s.four_eyes, true),"
        "       'updated_by', s.updated_by, 'updated_at', drift_iso (s.updated_at))::text"
        "  FROM (SELECT 1) one LEFT JOIN remediation_settings s ON s.tenant_id = $1::uuid",
        1, params);
    return s_answer (call, result, 200, "the settings were not read", NULL, reply);
}

int
api_remediation_settings_get (api_call_t *call, json_t **reply)
{
    return s_settings_reply (call, reply);
}

int
api_remediation_settings_put (api_call_t *call, json_t **reply)
{
    static const char *const known [] = { "four_eyes", NULL };
    int status = api_json_only (call->body, known, reply);
    if (status)
        return status;
    json_t *four_eyes = call->body ? json_object_get (call->body, "four_eyes") : NULL;
    if (!json_is_boolean (four_eyes))
        return s_refuse (reply, 400, "bad_setting", "four_eyes must be true or false",
                         "four_eyes");
    const char *params [] = { call->tenant_id, json_is_true (four_eyes) ? "t" : "f",
                              resource_actor (call) };
    PGresult *result = resource_query (call, reply, "storing remediation settings",
        "INSERT INTO remediation_settings (tenant_id, four_eyes, updated_by)"
        " VALUES ($1::uuid, $2::boolean, $3::text)"
        " ON CONFLICT (tenant_id) DO UPDATE SET four_eyes = excluded.four_eyes,"
        "     updated_by = excluded.updated_by, updated_at = now ()", 3, params);
    if (!result)
        return 500;
    PQclear (result);
    status = audit_call (call, reply, "settings.remediation", NULL,
                         json_pack ("{s:b}", "four_eyes", json_is_true (four_eyes)));
    return status ? status : s_settings_reply (call, reply);
}
