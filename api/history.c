/*  history: GET /api/v1/history, how the tenant's drift (or one stack's)
    came and went over the last `days` days (UTC): per day, the items
    opened (an episode's first_seen: a reopened item counts again) and
    resolved; and the time to fix of the items resolved in that window,
    from first seen to resolved (count, mean, median, 90th percentile, in
    seconds).

    Every day of the window is in the answer, zeros included, so a chart
    needs no gap filling. One statement reads the tenant's items once (the
    dashboard asks this per page view, not per row) and counts by day in
    SQL, never in C.
*/
#include "resource.h"

#include <stdio.h>
#include <string.h>

int
api_history_get (api_call_t *call, json_t **reply)
{
    long days;
    int status = api_query_int (call, "days", 1, 365, 30, &days, reply);
    if (status)
        return status;
    const char *stack;
    status = resource_stack_filter (call, &stack, reply);
    if (status)
        return status;
    char days_text [8];
    snprintf (days_text, sizeof days_text, "%ld", days);
    const char *params [] = { call->tenant_id, days_text, stack };
    PGresult *result = resource_query (call, reply, "reading the history",
        "WITH window_start AS ("
        "   SELECT (date_trunc ('day', now () AT TIME ZONE 'UTC')"
        "           - ($2::integer - 1) * interval '1 day') AT TIME ZONE 'UTC' AS t),"
        " items AS ("
        "   SELECT d.first_seen, d.resolved_at FROM drift_items d, window_start w"
        "    WHERE d.tenant_id = $1::uuid"
        "      AND (d.first_seen >= w.t OR d.resolved_at >= w.t)"
        "      AND ($3::text IS NULL OR d.stack_id IN (SELECT x.id FROM stacks x"
        "           WHERE x.tenant_id = $1::uuid AND (x.name = $3::text OR x.id::text = lower ($3::text))))),"
        " days AS ("
        "   SELECT generate_series (w.t, w.t + ($2::integer - 1) * interval '1 day',"
        "                           interval '1 day') AS day FROM window_start w),"
        " opened AS ("
        "   SELECT date_trunc ('day', i.first_seen AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' AS day,"
        "          count (*) AS n FROM items i, window_start w WHERE i.first_seen >= w.t GROUP BY 1),"
        " resolved AS ("
        "   SELECT date_trunc ('day', i.resolved_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' AS day,"
        "          count (*) AS n FROM items i, window_start w WHERE i.resolved_at >= w.t GROUP BY 1),"
        " fixes AS ("
        "   SELECT extract (epoch FROM i.resolved_at - i.first_seen)::double precision AS s"
        "     FROM items i, window_start w WHERE i.resolved_at >= w.t)"
        " SELECT jsonb_build_object ("
        "   'days', (SELECT jsonb_agg (jsonb_build_object ("
        "               'day', to_char (d.day AT TIME ZONE 'UTC', 'YYYY-MM-DD'),"
        "               'opened', coalesce (o.n, 0), 'resolved', coalesce (r.n, 0)) ORDER BY d.day)"
        "              FROM days d LEFT JOIN opened o ON o.day = d.day"
        "                          LEFT JOIN resolved r ON r.day = d.day),"
        "   'time_to_fix', (SELECT jsonb_build_object ("
        "               'count', count (*),"
        "               'mean_s', coalesce (round (avg (f.s)), 0),"
        "               'p50_s', coalesce (round (percentile_cont (0.5) WITHIN GROUP (ORDER BY f.s)::numeric), 0),"
        "               'p90_s', coalesce (round (percentile_cont (0.9) WITHIN GROUP (ORDER BY f.s)::numeric), 0))"
        "              FROM fixes f))::text",
        3, params);
    if (!result)
        return 500;
    json_t *history = resource_row (result, 0);
    PQclear (result);
    if (!history)
        return api_error (reply, 500, "the history could not be read", NULL);
    return resource_reply (reply, 200, history);
}
