/*  resource: helpers the resource handlers share; see resource.h. */
#define _GNU_SOURCE             // timegm
#include "resource.h"

#include "csv.h"
#include "../lib/log.h"
#include "../lib/metrics.h"

#include <assert.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

PGresult *
resource_query_status (api_call_t *call, const char *sql, int count, const char *const *params)
{
    return PQexecParams (call->conn, sql, count, NULL, params, NULL, NULL, 0);
}

const char *
resource_sqlstate (const PGresult *result)
{
    const char *state = result ? PQresultErrorField (result, PG_DIAG_SQLSTATE) : NULL;
    return state ? state : "";
}

PGresult *
resource_query (api_call_t *call, json_t **reply, const char *what, const char *sql, int count,
                const char *const *params)
{
    PGresult *result = resource_query_status (call, sql, count, params);
    ExecStatusType status = PQresultStatus (result);
    if (status == PGRES_TUPLES_OK || status == PGRES_COMMAND_OK)
        return result;
    char error [256];
    snprintf (error, sizeof error, "%s", PQresultErrorMessage (result));
    error [strcspn (error, "\n")] = 0;
    //  The operator gets the reason; the client only that it failed.
    log_error ("api: a statement failed, the request is answered 500 and rolled back",
               "what", what, "tenant", call->tenant_id, "error", error);
    PQclear (result);
    api_error (reply, 500, "the database failed to answer", NULL);
    return NULL;
}

json_t *
resource_row (const PGresult *result, int column)
{
    if (PQntuples (result) < 1 || PQgetisnull (result, 0, column))
        return NULL;
    return json_loads (PQgetvalue (result, 0, column), JSON_DECODE_ANY, NULL);
}

json_t *
resource_rows (const PGresult *result, int column)
{
    json_t *items = json_array ();
    for (int row = 0; row < PQntuples (result); row++) {
        json_t *item = json_loads (PQgetvalue (result, row, column), JSON_DECODE_ANY, NULL);
        if (item)
            json_array_append_new (items, item);
    }
    return items;
}

int
resource_paging (api_call_t *call, long *limit, long *offset, json_t **reply)
{
    int status = api_query_int (call, "limit", 1, 200, 50, limit, reply);
    if (status == 0)
        status = api_query_int (call, "offset", 0, 1000000, 0, offset, reply);
    return status;
}

int
resource_page (json_t **reply, json_t *items, long limit, long offset)
{
    if (json_array_size (items) == 0 && offset > 0) {
        json_decref (items);
        return api_error (reply, 400, "offset is beyond the end", "offset");
    }
    bool more = json_array_size (items) > (size_t) limit;
    if (more)
        json_array_remove (items, (size_t) limit);
    *reply = json_pack ("{s:o, s:I, s:I, s:b}", "items", items, "offset", (json_int_t) offset,
                        "limit", (json_int_t) limit, "more", more);
    return 200;
}

int
resource_list (api_call_t *call, json_t **reply, const char *what, const char *sql)
{
    return resource_list_of (call, reply, what, sql, 0, NULL);
}

int
resource_list_of (api_call_t *call, json_t **reply, const char *what, const char *sql,
                  int count, const char *const *extra)
{
    long limit, offset;
    int status = resource_paging (call, &limit, &offset, reply);
    if (status)
        return status;
    char limit_text [24], offset_text [24];
    //  One row more than the page: whether there is more, without a count.
    snprintf (limit_text, sizeof limit_text, "%ld", limit + 1);
    snprintf (offset_text, sizeof offset_text, "%ld", offset);
    const char *params [8] = { call->tenant_id, limit_text, offset_text };
    assert (count >= 0 && count <= 5);
    for (int i = 0; i < count; i++)
        params [3 + i] = extra [i];
    PGresult *result = resource_query (call, reply, what, sql, 3 + count, params);
    if (!result)
        return 500;
    json_t *items = resource_rows (result, 0);
    PQclear (result);
    return resource_page (reply, items, limit, offset);
}

int
resource_reply (json_t **reply, int status, json_t *value)
{
    *reply = value;
    return status;
}

bool
resource_time (const char *text, time_t *when)
{
    //  Shape first, character by character: sscanf would take blanks and signs.
    static const char shape [] = "dddd-dd-ddTdd:dd:dd";
    size_t length = strlen (text);
    if (length < sizeof shape || length > sizeof shape + 7)
        return false;
    for (size_t i = 0; i < sizeof shape - 1; i++)
        if (shape [i] == 'd' ? !isdigit ((unsigned char) text [i]) : text [i] != shape [i])
            return false;
    const char *rest = text + sizeof shape - 1;
    if (*rest == '.') {
        rest++;
        if (!isdigit ((unsigned char) *rest))
            return false;
        while (isdigit ((unsigned char) *rest))
            rest++;
    }
    if (strcmp (rest, "Z") != 0)
        return false;
    struct tm tm = { 0 };
    tm.tm_year = atoi (text) - 1900;
    tm.tm_mon = atoi (text + 5) - 1;
    tm.tm_mday = atoi (text + 8);
    tm.tm_hour = atoi (text + 11);
    tm.tm_min = atoi (text + 14);
    tm.tm_sec = atoi (text + 17);
    if (tm.tm_year < 1970 - 1900 || tm.tm_mon > 11 || tm.tm_hour > 23 || tm.tm_min > 59
    ||  tm.tm_sec > 59)
        return false;
    //  A day the calendar does not have (02-30) comes back normalized.
    struct tm copy = tm;
    time_t seconds = timegm (&copy);
    if (seconds == (time_t) -1 || copy.tm_mday != tm.tm_mday || copy.tm_mon != tm.tm_mon)
        return false;
    if (when)
        *when = seconds;
    return true;
}


int
resource_stack_filter (api_call_t *call, const char **stack, json_t **reply)
{
    json_t *value = json_object_get (call->query, "stack");
    *stack = value ? json_string_value (value) : NULL;
    if (value && (!*stack || !**stack || strlen (*stack) > 200))
        return api_error (reply, 400, "stack must be a stack's id or name", "stack");
    return 0;
}

int
resource_expiry (const char *expires_at, json_t **reply)
{
    time_t until;
    if (expires_at && !resource_time (expires_at, &until))
        return api_error (reply, 400, "expires_at must be a time in ISO 8601 UTC", "expires_at");
    if (expires_at && until <= time (NULL))
        return api_error (reply, 400, "expires_at must be in the future", "expires_at");
    return 0;
}

const char *
resource_actor (const api_call_t *call)
{
    return call->user_email && *call->user_email ? call->user_email : call->user_id;
}

//  --------------------------------------------------------------------------
//  Exports

int
resource_format (api_call_t *call, bool *csv, json_t **reply)
{
    static const char *const formats [] = { "json", "csv", NULL };
    const char *format;
    int status = api_query_enum (call, "format", formats, "json", &format, reply);
    *csv = status == 0 && strcmp (format, "csv") == 0;
    return status;
}

int
resource_csv (api_call_t *call, json_t **reply, csv_t *csv, const char *name)
{
    size_t size;
    char *data = csv_take (csv, &size);
    csv_destroy (&csv);
    if (!data)
        return api_error (reply, 500, "the export ran out of memory", NULL);
    time_t now = time (NULL);
    struct tm day;
    gmtime_r (&now, &day);
    free (call->file.data);
    call->file = (api_file_t) { .data = data, .size = size, .type = "text/csv; charset=utf-8" };
    char date [16];
    strftime (date, sizeof date, "%Y-%m-%d", &day);
    snprintf (call->file.name, sizeof call->file.name, "%.40s-%s.csv", name, date);
    metric_inc (metrics_counter (metrics_default (), "drift_api_exports_total",
                                 "CSV exports answered, by what was exported",
                                 "what", name, NULL));
    *reply = NULL;
    return 200;
}
