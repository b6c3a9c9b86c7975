/*  suppressions: the tenant's pattern suppressions over the dashboard API:
    .driftignore lines (docs/IGNORE.md) with a reason, who made them and an
    optional end, stored in the suppressions table (schema 0007).

    The score stage applies them to later reports (actors/score/overrides reads the
    unexpired ones as further lines after the tenant's .driftignore), so a
    pattern is checked here exactly as `drift tenant ignore` checks a file,
    by actors/score/ignore's parser, and must be one line holding one pattern: a
    comment or blank alone would suppress nothing, and a second line would
    smuggle in a rule nobody listed.
*/
#include "audit.h"
#include "resource.h"
#include "../actors/score/ignore.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define ROW_SQL \
    "jsonb_build_object ('id', p.id, 'pattern', p.pattern, 'reason', p.reason," \
    " 'expires_at', drift_iso (p.expires_at), 'created_by', p.created_by," \
    " 'created_at', drift_iso (p.created_at))::text"

int
api_suppressions_list (api_call_t *call, json_t **reply)
{
    return resource_list (call, reply, "listing suppressions",
        "SELECT " ROW_SQL " FROM suppressions p WHERE p.tenant_id = $1::uuid"
        " ORDER BY p.created_at, p.id LIMIT $2::bigint OFFSET $3::bigint");
}

//  0 if pattern is one .driftignore line with one pattern; else a 400.
static int
s_check_pattern (const char *pattern, json_t **reply)
{
    if (strpbrk (pattern, "\r\n"))
        return api_error (reply, 400, "pattern must be one line", "pattern");
    char *reason = NULL;
    ignore_t *ignore = ignore_parse (pattern, strlen (pattern), "pattern", &reason);
    size_t rules = ignore ? ignore_size (ignore) : 0;
    ignore_destroy (&ignore);
    int status = 0;
    if (reason || rules != 1) {
        char message [512];
        snprintf (message, sizeof message, "pattern is not a .driftignore pattern: %s",
                  reason ? reason : "the line holds no pattern");
        status = api_error (reply, 400, message, "pattern");
    }
    free (reason);
    return status;
}

int
api_suppressions_create (api_call_t *call, json_t **reply)
{
    static const char *const known [] = { "pattern", "reason", "expires_at", NULL };
    const char *pattern, *reason, *expires_at;
    int status = api_json_only (call->body, known, reply);
    if (!status)
        status = api_json_string (call->body, "pattern", true, 1000, &pattern, reply);
    if (!status)
        status = api_json_string (call->body, "reason", true, 1000, &reason, reply);
    if (!status)
        status = api_json_string (call->body, "expires_at", false, 40, &expires_at, reply);
    if (!status)
        status = s_check_pattern (pattern, reply);
    if (status)
        return status;
    status = resource_expiry (expires_at, reply);
    if (status)
        return status;
    const char *by = resource_actor (call);
    const char *params [] = { call->tenant_id, pattern, reason, expires_at, by };
    PGresult *result = resource_query (call, reply, "adding a suppression",
        "INSERT INTO suppressions AS p (tenant_id, pattern, reason, expires_at, created_by)"
        " VALUES ($1::uuid, $2::text, $3::text, $4::timestamptz, $5::text)"
        " RETURNING " ROW_SQL, 5, params);
    if (!result)
        return 500;
    json_t *row = resource_row (result, 0);
    PQclear (result);
    if (!row)
        return api_error (reply, 500, "the suppression was not stored", NULL);
    status = audit_call (call, reply, "suppression.create",
                         json_string_value (json_object_get (row, "id")),
                         json_pack ("{s:s, s:s, s:s?}", "pattern", pattern, "reason", reason,
                                    "expires_at", expires_at));
    if (status) {
        json_decref (row);
        return status;
    }
    return resource_reply (reply, 201, row);
}

int
api_suppressions_delete (api_call_t *call, json_t **reply)
{
    if (call->param_count < 1 || !api_is_uuid (call->params [0]))
        return api_error (reply, 404, "no such suppression", NULL);
    const char *params [] = { call->tenant_id, call->params [0] };
    PGresult *result = resource_query (call, reply, "removing a suppression",
        "DELETE FROM suppressions WHERE tenant_id = $1::uuid AND id = $2::uuid"
        " RETURNING pattern, reason", 2, params);
    if (!result)
        return 500;
    json_t *removed = PQntuples (result) == 1
        ? json_pack ("{s:s, s:s}", "pattern", PQgetvalue (result, 0, 0),
                     "reason", PQgetvalue (result, 0, 1)) : NULL;
    PQclear (result);
    if (!removed)
        return api_error (reply, 404, "no such suppression", NULL);
    int status = audit_call (call, reply, "suppression.delete", call->params [0], removed);
    if (status)
        return status;
    return resource_reply (reply, 204, NULL);
}
