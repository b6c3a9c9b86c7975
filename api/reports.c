/*  reports: GET /api/v1/reports, the tenant's reports newest first, with
    filters stack (id or name) and status (ok, failed): what each report
    said (severity, score, counts per severity and state) or why it failed.
    Read through reports_newest (schema 0011), or reports_stack_history
    (0007) for one stack, so a first page costs one index range.
*/
#include "resource.h"

#include <stdio.h>
#include <string.h>

static const char *const s_statuses [] = { "ok", "failed", NULL };

int
api_reports_list (api_call_t *call, json_t **reply)
{
    const char *status_filter;
    long limit, offset;
    int status = api_query_enum (call, "status", s_statuses, NULL, &status_filter, reply);
    if (!status)
        status = resource_paging (call, &limit, &offset, reply);
    if (status)
        return status;
    const char *stack;
    status = resource_stack_filter (call, &stack, reply);
    if (status)
        return status;
    char limit_text [24], offset_text [24];
    snprintf (limit_text, sizeof limit_text, "%ld", limit + 1);
    snprintf (offset_text, sizeof offset_text, "%ld", offset);
    const char *params [] = { call->tenant_id, status_filter, stack, limit_text, offset_text };
    PGresult *result = resource_query (call, reply, "listing reports",
        "SELECT jsonb_build_object ("
        "  'report_id', r.report_id,"
        "  'stack', jsonb_build_object ('id', s.id, 'name', s.name),"
        "  'received_at', drift_iso (r.received_at), 'status', r.status, 'reason', r.reason,"
        "  'severity', drift_severity_name (r.severity), 'score', r.score, 'counts', r.counts)::text"
        " FROM reports r JOIN stacks s ON s.tenant_id = r.tenant_id AND s.id = r.stack_id"
        " WHERE r.tenant_id = $1::uuid"
        "   AND ($2::text IS NULL OR r.status = $2::text)"
        "   AND ($3::text IS NULL OR r.stack_id IN (SELECT x.id FROM stacks x"
        "        WHERE x.tenant_id = $1::uuid AND (x.name = $3::text OR x.id::text = lower ($3::text))))"
        " ORDER BY r.received_at DESC, r.report_id"
        " LIMIT $4::bigint OFFSET $5::bigint",
        5, params);
    if (!result)
        return 500;
    json_t *items = resource_rows (result, 0);
    PQclear (result);
    return resource_page (reply, items, limit, offset);
}
