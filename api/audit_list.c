/*  audit_list: GET /api/v1/audit, the tenant's audit log newest first, a
    page at a time by cursor (before: the last id of the page read; limit
    1..500, default 100), filtered by action (exact, or a prefix such as
    "channel" for every channel.*), actor (an id, "token:ID", "cli:NAME",
    or the email or name it was shown as) and since (ISO 8601 UTC).
    format=csv answers the same page as CSV. An id cursor rather than an
    offset: entries keep arriving while someone pages, and audit_log_newest
    (schema 0022) serves every page as one index range.
*/
#include "audit.h"
#include "csv.h"
#include "resource.h"

#include <stdio.h>
#include <string.h>

#define AUDIT_PAGE_MAX 500
#define AUDIT_PAGE_DEFAULT 100
//  The largest cursor api_query_int reads (18 digits): past every id.
#define AUDIT_ID_MAX 999999999999999999L

//  A CSV record's columns, in the order of the SELECT below.
static const char *const s_columns [] = {
    "id", "at", "actor", "actor_label", "action", "target", "source", "detail", NULL
};

static int
s_csv (api_call_t *call, json_t **reply, PGresult *result, long limit)
{
    csv_t *csv = csv_new ();
    if (!csv)
        return api_error (reply, 500, "the export ran out of memory", NULL);
    for (int column = 0; s_columns [column]; column++)
        csv_value (csv, s_columns [column]);
    csv_end_record (csv);
    for (int row = 0; row < PQntuples (result) && row < limit; row++) {
        //  id and at are the database's; the rest came from people.
        csv_value (csv, PQgetvalue (result, row, 1));
        csv_value (csv, PQgetvalue (result, row, 2));
        for (int column = 3; column < 9; column++)
            csv_text (csv, PQgetvalue (result, row, column));
        csv_end_record (csv);
    }
    return resource_csv (call, reply, csv, "audit");
}

int
api_audit_list (api_call_t *call, json_t **reply)
{
    long limit, before;
    const char *since;
    bool csv;
    int status;
    if ((status = resource_format (call, &csv, reply))
    ||  (status = api_query_int (call, "limit", 1, AUDIT_PAGE_MAX, AUDIT_PAGE_DEFAULT, &limit,
                                 reply))
    ||  (status = api_query_int (call, "before", 1, AUDIT_ID_MAX, AUDIT_ID_MAX, &before, reply))
    ||  (status = api_query_time (call, "since", &since, reply)))
        return status;
    const char *filter [2] = { NULL, NULL };
    static const char *const names [] = { "action", "actor" };
    for (int i = 0; i < 2; i++) {
        json_t *value = json_object_get (call->query, names [i]);
        filter [i] = value ? json_string_value (value) : NULL;
        if (filter [i] && (!*filter [i] || strlen (filter [i]) > 300))
            return api_error (reply, 400, "a filter has 1 to 300 characters", names [i]);
    }
    char limit_text [24], before_text [24];
    snprintf (limit_text, sizeof limit_text, "%ld", limit + 1);
    snprintf (before_text, sizeof before_text, "%ld", before);
    const char *params [] = { call->tenant_id, before_text, limit_text, filter [0], filter [1],
                              since };
    PGresult *result = resource_query (call, reply, "listing the audit log",
        "SELECT jsonb_build_object ('id', id, 'at', drift_iso (at), 'actor', actor,"
        "         'actor_label', actor_label, 'action', action, 'target', target,"
        "         'detail', detail, 'source', source)::text,"
        "       id, drift_iso (at), actor, actor_label, action, target, source, detail::text"
        "  FROM audit_log"
        " WHERE tenant_id = $1::uuid AND id < $2::bigint"
        "   AND ($4::text IS NULL OR action = $4::text OR action LIKE $4::text || '.%')"
        "   AND ($5::text IS NULL OR actor = $5::text OR actor_label = $5::text)"
        "   AND ($6::timestamptz IS NULL OR at >= $6::timestamptz)"
        " ORDER BY id DESC LIMIT $3::bigint", 6, params);
    if (!result)
        return 500;
    if (csv) {
        status = s_csv (call, reply, result, limit);
        PQclear (result);
        return status;
    }
    bool more = PQntuples (result) > limit;
    json_t *items = resource_rows (result, 0);
    if (more)
        json_array_remove (items, (size_t) limit);
    json_t *next = more ? json_integer (json_integer_value (json_object_get (
                              json_array_get (items, (size_t) limit - 1), "id")))
                        : json_null ();
    PQclear (result);
    *reply = json_pack ("{s:o, s:i, s:o}", "items", items, "limit", (json_int_t) limit,
                        "next_before", next);
    return 200;
}
