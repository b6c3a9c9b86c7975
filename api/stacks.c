/*  stacks: GET /api/v1/stacks, the dashboard's first screen: every stack of
    the tenant with when it last reported, whether that report's check
    failed and why, when it last had a successful check (stale when that is
    older than --stale-after-s, or never), and its open drift counted per
    severity.

    Open means what GET /api/v1/drift?state=open lists (RESOURCE_OPEN_SQL),
    so the counts and the list agree; they are read through the open-drift
    index of schema 0007, one stack at a time.
*/
#include "resource.h"

#include <stdio.h>

int
api_stacks_list (api_call_t *call, json_t **reply)
{
    long limit, offset;
    int status = resource_paging (call, &limit, &offset, reply);
    if (status)
        return status;
    char stale [24], limit_text [24], offset_text [24];
    snprintf (stale, sizeof stale, "%d", call->settings ? call->settings->stale_after_s : 86400);
    snprintf (limit_text, sizeof limit_text, "%ld", limit + 1);
    snprintf (offset_text, sizeof offset_text, "%ld", offset);
    const char *params [] = { stale, limit_text, offset_text, call->tenant_id };
    PGresult *result = resource_query (call, reply, "listing stacks",
        "SELECT jsonb_build_object ("
        "  'id', s.id, 'name', s.name, 'engine', s.engine,"
        "  'last_report_at', drift_iso (s.last_report_at),"
        "  'last_success_at', drift_iso (s.last_success_at),"
        "  'failing', coalesce (r.status = 'failed', false),"
        "  'last_failure', CASE WHEN r.status = 'failed' THEN r.reason END,"
        "  'stale', s.last_success_at IS NULL"
        "           OR s.last_success_at < now () - $1::integer * interval '1 second',"
        "  'open', jsonb_build_object ('critical', o.n5, 'high', o.n4,"
        "          'medium', o.n3, 'low', o.n2, 'info', o.n1, 'none', o.n0),"
        "  'open_total', o.total)::text"
        " FROM stacks s CROSS JOIN LATERAL ("
        "   SELECT count (*) FILTER (WHERE d.severity = 5) AS n5,"
        "          count (*) FILTER (WHERE d.severity = 4) AS n4,"
        "          count (*) FILTER (WHERE d.severity = 3) AS n3,"
        "          count (*) FILTER (WHERE d.severity = 2) AS n2,"
        "          count (*) FILTER (WHERE d.severity = 1) AS n1,"
        "          count (*) FILTER (WHERE d.severity = 0) AS n0,"
        "          count (*) AS total"
        "     FROM drift_items d"
        "    WHERE d.tenant_id = s.tenant_id AND d.stack_id = s.id AND " RESOURCE_OPEN_SQL ") o"
        " LEFT JOIN reports r ON r.tenant_id = s.tenant_id AND r.report_id = s.last_report_id"
        " WHERE s.tenant_id = $4::uuid"
        " ORDER BY s.name LIMIT $2::bigint OFFSET $3::bigint",
        4, params);
    if (!result)
        return 500;
    json_t *items = resource_rows (result, 0);
    PQclear (result);
    return resource_page (reply, items, limit, offset);
}
