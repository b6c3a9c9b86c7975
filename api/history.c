/*  history: GET /api/v1/history, how the tenant's drift (or one stack's)
    came and went over a window of days (UTC): the last `days` days, or
    `from` to `to` (dates, inclusive). The series the dashboard's charts
    draw (web/src/trends.ts):

    - per day, the items opened (an episode's first_seen: a reopened item
      counts again) and resolved;
    - per day, the items open at its end (at the time of asking, for
      today) by their severity: from first_seen until resolved_at; items
      suppressed or muted now are left out on every day, as the drift
      list leaves them out today (when a suppression began is not kept);
    - per ISO week (from Monday, cut to the window), how many were fixed
      and their median time to fix, from first seen to resolved;
    - over the window, the time to fix of the items resolved in it (count,
      mean, median, 90th percentile, in seconds).

    Every day and week of the window is in the answer, zeros included, so a
    chart needs no gap filling. One statement reads the tenant's items
    once (under row-level security, as every handler) and counts in SQL,
    never in C: the open counts are a running sum of +1 on the day an item
    opened (or the window's first day) and -1 on the day it resolved, so
    the work grows with items plus days, not their product.

    ?format=csv answers the days as CSV (api/csv.h), one record per day.
*/
#define _GNU_SOURCE             // timegm
#include "resource.h"
#include "csv.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define HISTORY_MAX_DAYS 366

//  The query's date parameter name (YYYY-MM-DD, a real day from 1970):
//  0 with *day its midnight UTC, or absent (*given false); else a 400.
static int
s_query_date (api_call_t *call, const char *name, time_t *day, bool *given, json_t **reply)
{
    json_t *value = json_object_get (call->query, name);
    *given = value != NULL;
    if (!value)
        return 0;
    char message [96];
    snprintf (message, sizeof message, "%s must be a date, YYYY-MM-DD", name);
    const char *text = json_string_value (value);
    static const char shape [] = "dddd-dd-dd";
    if (!text || strlen (text) != sizeof shape - 1)
        return api_error (reply, 400, message, name);
    for (size_t i = 0; i < sizeof shape - 1; i++)
        if (shape [i] == 'd' ? !isdigit ((unsigned char) text [i]) : text [i] != shape [i])
            return api_error (reply, 400, message, name);
    struct tm tm = { .tm_year = atoi (text) - 1900, .tm_mon = atoi (text + 5) - 1,
                     .tm_mday = atoi (text + 8) };
    struct tm copy = tm;
    *day = timegm (&copy);
    //  A day the calendar does not have (02-30) comes back normalized.
    if (tm.tm_year < 70 || tm.tm_mon > 11 || tm.tm_mday < 1 || *day == (time_t) -1
    ||  copy.tm_mday != tm.tm_mday || copy.tm_mon != tm.tm_mon)
        return api_error (reply, 400, message, name);
    return 0;
}

static void
s_date_text (time_t day, char text [16])
{
    struct tm tm;
    gmtime_r (&day, &tm);
    strftime (text, 16, "%Y-%m-%d", &tm);
}

//  The window's first and last day: days (1..365, default 30) ending at
//  to (default today), or from..to; at most HISTORY_MAX_DAYS, never after
//  today (UTC).
static int
s_window (api_call_t *call, char first [16], char last [16], json_t **reply)
{
    time_t from, to, today = time (NULL) / 86400 * 86400;
    bool has_from, has_to;
    long days;
    int status = api_query_int (call, "days", 1, 365, 30, &days, reply);
    if (!status)
        status = s_query_date (call, "from", &from, &has_from, reply);
    if (!status)
        status = s_query_date (call, "to", &to, &has_to, reply);
    if (status)
        return status;
    if (has_from && json_object_get (call->query, "days"))
        return api_error (reply, 400, "days and from are two ways to say where the window "
                          "starts: give one", "days");
    if (!has_to)
        to = today;
    if (to > today)
        return api_error (reply, 400, "to must not be after today (UTC)", "to");
    if (!has_from)
        from = to - (days - 1) * 86400;
    if (from > to)
        return api_error (reply, 400, "from must not be after to", "from");
    if ((to - from) / 86400 + 1 > HISTORY_MAX_DAYS)
        return api_error (reply, 400, "the window from..to must be at most 366 days", "from");
    s_date_text (from, first);
    s_date_text (to, last);
    return 0;
}

//  The history's days as CSV: a record per day.
static int
s_csv (api_call_t *call, json_t **reply, json_t *history)
{
    static const char *const severities [] = {
        "critical", "high", "medium", "low", "info", "none", NULL
    };
    csv_t *csv = csv_new ();
    if (!csv) {
        json_decref (history);
        return api_error (reply, 500, "the export ran out of memory", NULL);
    }
    csv_value (csv, "day");
    csv_value (csv, "opened");
    csv_value (csv, "resolved");
    char column [32];
    for (size_t i = 0; severities [i]; i++) {
        snprintf (column, sizeof column, "open_%s", severities [i]);
        csv_value (csv, column);
    }
    csv_end_record (csv);
    size_t index;
    json_t *day;
    json_array_foreach (json_object_get (history, "days"), index, day) {
        char number [32];
        csv_value (csv, json_string_value (json_object_get (day, "day")));
        snprintf (number, sizeof number, "%" JSON_INTEGER_FORMAT,
                  json_integer_value (json_object_get (day, "opened")));
        csv_value (csv, number);
        snprintf (number, sizeof number, "%" JSON_INTEGER_FORMAT,
                  json_integer_value (json_object_get (day, "resolved")));
        csv_value (csv, number);
        json_t *open = json_object_get (day, "open");
        for (size_t i = 0; severities [i]; i++) {
            snprintf (number, sizeof number, "%" JSON_INTEGER_FORMAT,
                      json_integer_value (json_object_get (open, severities [i])));
            csv_value (csv, number);
        }
        csv_end_record (csv);
    }
    json_decref (history);
    return resource_csv (call, reply, csv, "history");
}

int
api_history_get (api_call_t *call, json_t **reply)
{
    bool csv;
    char first [16], last [16];
    int status = resource_format (call, &csv, reply);
    if (!status)
        status = s_window (call, first, last, reply);
    if (status)
        return status;
    const char *stack;
    status = resource_stack_filter (call, &stack, reply);
    if (status)
        return status;
    const char *params [] = { call->tenant_id, first, last, stack };
    PGresult *result = resource_query (call, reply, "reading the history",
        "WITH bounds AS ("
        "   SELECT $2::date AS first_day, $3::date AS last_day,"
        "          $2::date::timestamp AT TIME ZONE 'UTC' AS t0,"
        "          ($3::date + 1)::timestamp AT TIME ZONE 'UTC' AS t1),"
        //  Every item open at some time in the window.
        " items AS ("
        "   SELECT d.severity, d.first_seen, d.resolved_at,"
        "          NOT (d.suppressed OR " RESOURCE_MUTED_SQL ") AS counted"
        "     FROM drift_items d, bounds b"
        "    WHERE d.tenant_id = $1::uuid AND d.first_seen < b.t1"
        "      AND (d.resolved_at IS NULL OR d.resolved_at >= b.t0)"
        "      AND ($4::text IS NULL OR d.stack_id IN (SELECT x.id FROM stacks x"
        "           WHERE x.tenant_id = $1::uuid AND (x.name = $4::text OR x.id::text = lower ($4::text))))),"
        " days AS ("
        "   SELECT generate_series (b.first_day, b.last_day, interval '1 day')::date AS day"
        "     FROM bounds b),"
        " opened AS ("
        "   SELECT (i.first_seen AT TIME ZONE 'UTC')::date AS day, count (*) AS n"
        "     FROM items i, bounds b WHERE i.first_seen >= b.t0 GROUP BY 1),"
        " resolved AS ("
        "   SELECT (i.resolved_at AT TIME ZONE 'UTC')::date AS day, count (*) AS n"
        "     FROM items i, bounds b WHERE i.resolved_at < b.t1 GROUP BY 1),"
        " deltas AS ("
        "   SELECT e.day, e.severity, sum (e.delta) AS n FROM ("
        "       SELECT greatest ((i.first_seen AT TIME ZONE 'UTC')::date, b.first_day) AS day,"
        "              i.severity, 1 AS delta FROM items i, bounds b WHERE i.counted"
        "       UNION ALL"
        "       SELECT (i.resolved_at AT TIME ZONE 'UTC')::date, i.severity, -1"
        "         FROM items i, bounds b WHERE i.counted AND i.resolved_at < b.t1) e"
        "    GROUP BY 1, 2),"
        " open_days AS ("
        "   SELECT o.day, jsonb_object_agg (drift_severity_name (o.severity::smallint), o.n) AS open"
        "     FROM (SELECT d.day, v.severity, (sum (coalesce (x.n, 0))"
        "                  OVER (PARTITION BY v.severity ORDER BY d.day))::bigint AS n"
        "             FROM days d CROSS JOIN generate_series (0, 5) AS v (severity)"
        "             LEFT JOIN deltas x ON x.day = d.day AND x.severity = v.severity) o"
        "    GROUP BY o.day),"
        " fixes AS ("
        "   SELECT (i.resolved_at AT TIME ZONE 'UTC') AS resolved,"
        "          extract (epoch FROM i.resolved_at - i.first_seen)::double precision AS s"
        "     FROM items i, bounds b WHERE i.resolved_at < b.t1),"
        " weeks AS ("
        "   SELECT generate_series (date_trunc ('week', b.first_day::timestamp),"
        "                           date_trunc ('week', b.last_day::timestamp),"
        "                           interval '1 week')::date AS week FROM bounds b),"
        " weekly AS ("
        "   SELECT date_trunc ('week', f.resolved)::date AS week, count (*) AS n,"
        "          round (percentile_cont (0.5) WITHIN GROUP (ORDER BY f.s)::numeric) AS p50"
        "     FROM fixes f GROUP BY 1)"
        " SELECT jsonb_build_object ("
        "   'from', to_char (b.first_day::timestamp, 'YYYY-MM-DD'),"
        "   'to', to_char (b.last_day::timestamp, 'YYYY-MM-DD'),"
        "   'days', (SELECT jsonb_agg (jsonb_build_object ("
        "               'day', to_char (d.day::timestamp, 'YYYY-MM-DD'),"
        "               'opened', coalesce (o.n, 0), 'resolved', coalesce (r.n, 0),"
        "               'open', od.open) ORDER BY d.day)"
        "              FROM days d LEFT JOIN opened o ON o.day = d.day"
        "                          LEFT JOIN resolved r ON r.day = d.day"
        "                          JOIN open_days od ON od.day = d.day),"
        "   'weeks', (SELECT jsonb_agg (jsonb_build_object ("
        "               'week', to_char (w.week::timestamp, 'YYYY-MM-DD'),"
        "               'fixed', coalesce (k.n, 0), 'p50_s', k.p50) ORDER BY w.week)"
        "              FROM weeks w LEFT JOIN weekly k ON k.week = w.week),"
        "   'time_to_fix', (SELECT jsonb_build_object ("
        "               'count', count (*),"
        "               'mean_s', coalesce (round (avg (f.s)), 0),"
        "               'p50_s', coalesce (round (percentile_cont (0.5) WITHIN GROUP (ORDER BY f.s)::numeric), 0),"
        "               'p90_s', coalesce (round (percentile_cont (0.9) WITHIN GROUP (ORDER BY f.s)::numeric), 0))"
        "              FROM fixes f))::text"
        " FROM bounds b",
        4, params);
    if (!result)
        return 500;
    json_t *history = resource_row (result, 0);
    PQclear (result);
    if (!history)
        return api_error (reply, 500, "the history could not be read", NULL);
    if (csv)
        return s_csv (call, reply, history);
    return resource_reply (reply, 200, history);
}
