/*  drift: the tenant's drift items over the dashboard API (docs/API.md):
    the list (filters, worst first, pages, or every match as CSV), one
    item in detail, the reports that saw it, and an operator's suppression
    of one item ("muting", schema 0011) and its end.

    An item's id is STACK_ID.FINGERPRINT. State is derived, never stored:
    resolved when resolved_at is set; suppressed when a .driftignore line
    (the score stage's suppressed flag) or an unexpired mute covers it;
    open otherwise. A mute is kept in columns the archive never writes, so
    the next report of the stack does not undo it.

    The list is the dashboard's hottest query: its SQL is one of a few
    fixed texts (chosen by state, never built from input) whose WHERE
    repeats the partial index's predicate (resolved_at IS NULL for open
    and suppressed), so the planner walks drift_items_open_worst in the
    order it answers and stops after one page.
*/
#include "resource.h"
#include "audit.h"
#include "csv.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

//  An item's state (alias d).
#define STATE_SQL \
    "CASE WHEN d.resolved_at IS NOT NULL THEN 'resolved'" \
    "     WHEN d.suppressed OR " RESOURCE_MUTED_SQL " THEN 'suppressed'" \
    "     ELSE 'open' END"

//  One item as every route answers it (alias d, joined stack s).
#define ITEM_SQL \
    "jsonb_build_object (" \
    "  'id', d.stack_id::text || '.' || d.fingerprint," \
    "  'stack', jsonb_build_object ('id', s.id, 'name', s.name)," \
    "  'fingerprint', d.fingerprint, 'address', d.address, 'type', d.type," \
    "  'kind', d.kind, 'class', d.class, 'severity', drift_severity_name (d.severity)," \
    "  'score', d.score," \
    "  'state', " STATE_SQL "," \
    "  'first_seen', drift_iso (d.first_seen), 'last_seen', drift_iso (d.last_seen)," \
    "  'resolved_at', drift_iso (d.resolved_at))"

//  The same item as a CSV export's columns, in s_csv_columns' order.
#define CSV_SQL \
    "d.stack_id::text || '.' || d.fingerprint, s.id::text, s.name, d.fingerprint, d.address," \
    " d.type, d.kind, d.class, drift_severity_name (d.severity), d.score::text, " STATE_SQL "," \
    " drift_iso (d.first_seen), drift_iso (d.last_seen), drift_iso (d.resolved_at)"
static const char *const s_csv_columns [] = {
    "id", "stack_id", "stack", "fingerprint", "address", "type", "kind", "class", "severity",
    "score", "state", "first_seen", "last_seen", "resolved_at", NULL
};
//  Columns a CSV export writes as the API made them, never formula-guarded:
//  ids, names from fixed lists, numbers and times (the rest came from agents).
static const bool s_csv_ours [] = {
    false, true, false, false, false, false, true, true, true, true, true, true, true, true
};
//  An export holds at most this many items: a bigger one is refused (400)
//  rather than cut short, so an audit never reads a partial list as whole.
#define DRIFT_EXPORT_MAX 100000

//  The detail's additions: changes as stored (masked by normalize),
//  reasons with severities by name, the suppression in force, how many
//  reports saw it, and the reports that opened, last saw and resolved it.
#define DETAIL_SQL \
    ITEM_SQL " || jsonb_build_object (" \
    "  'changes', d.changes," \
    "  'reasons', (SELECT coalesce (jsonb_agg (jsonb_strip_nulls (jsonb_build_object (" \
    "                 'rule', r->>'rule'," \
    "                 'severity', drift_severity_name ((r->>'severity')::smallint)," \
    "                 'reason', r->>'reason', 'path', r->>'path'," \
    "                 'suppressed', CASE WHEN (r->>'suppressed')::boolean THEN true END," \
    "                 'suppressed_by', r->>'suppressed_by')) ORDER BY n), '[]')" \
    "                FROM jsonb_array_elements (d.reasons) WITH ORDINALITY AS x (r, n))," \
    "  'suppression', CASE" \
    "      WHEN " RESOURCE_MUTED_SQL " THEN jsonb_build_object (" \
    "          'source', 'manual', 'reason', d.muted_reason, 'by', d.muted_by," \
    "          'at', drift_iso (d.muted_at), 'expires_at', drift_iso (d.muted_until))" \
    "      WHEN d.suppressed THEN jsonb_build_object (" \
    "          'source', 'driftignore', 'reason', 'a .driftignore line', 'by', d.suppressed_by," \
    "          'expires_at', NULL)" \
    "      END," \
    "  'seen_in_reports', (SELECT count (*) FROM drift_sightings g" \
    "                       WHERE g.tenant_id = d.tenant_id AND g.stack_id = d.stack_id" \
    "                         AND g.fingerprint = d.fingerprint)," \
    "  'reports', (SELECT coalesce (jsonb_agg (jsonb_build_object (" \
    "                 'role', x.role, 'report_id', x.report_id," \
    "                 'received_at', drift_iso (r.received_at), 'status', r.status)" \
    "                 ORDER BY x.n), '[]')" \
    "                FROM (VALUES (1, 'opened', d.opened_by_report), (2, 'last_seen', d.last_report)," \
    "                             (3, 'resolved', d.resolved_by_report)) AS x (n, role, report_id)" \
    "                JOIN reports r ON r.tenant_id = d.tenant_id AND r.report_id = x.report_id))"

//  --------------------------------------------------------------------------
//  The list

static const char *const s_states [] = { "open", "resolved", "suppressed", "all", NULL };
static const char *const s_classes [] = { "real", "mirror", "noise", NULL };
static const char *const s_severities [] = {
    "none", "info", "low", "medium", "high", "critical", NULL
};

//  The WHERE of each state, in s_states' order.
static const char *const s_state_sql [] = {
    RESOURCE_OPEN_SQL,
    "d.resolved_at IS NOT NULL",
    "d.resolved_at IS NULL AND (d.suppressed OR " RESOURCE_MUTED_SQL ")",
    "true"
};

static int
s_severity_number (const char *name)
{
    for (int i = 0; s_severities [i]; i++)
        if (strcmp (s_severities [i], name) == 0)
            return i;
    return 0;
}

//  The export of the items sql selects (CSV_SQL, LIMIT $6 OFFSET $7):
//  every matching item, not a page of them.
static int
s_export (api_call_t *call, json_t **reply, const char *sql, const char **params)
{
    if (json_object_get (call->query, "limit") || json_object_get (call->query, "offset"))
        return api_error (reply, 400, "format=csv exports every matching item: "
                          "limit and offset are for pages of JSON",
                          json_object_get (call->query, "limit") ? "limit" : "offset");
    char limit_text [24];
    snprintf (limit_text, sizeof limit_text, "%d", DRIFT_EXPORT_MAX + 1);
    params [5] = limit_text;
    params [6] = "0";
    PGresult *result = resource_query (call, reply, "exporting drift", sql, 7, params);
    if (!result)
        return 500;
    if (PQntuples (result) > DRIFT_EXPORT_MAX) {
        PQclear (result);
        char message [160];
        snprintf (message, sizeof message, "more than %d items match: narrow the export "
                  "with severity, class, since or stack", DRIFT_EXPORT_MAX);
        return api_error (reply, 400, message, NULL);
    }
    csv_t *csv = csv_new ();
    if (!csv) {
        PQclear (result);
        return api_error (reply, 500, "the export ran out of memory", NULL);
    }
    for (int column = 0; s_csv_columns [column]; column++)
        csv_value (csv, s_csv_columns [column]);
    csv_end_record (csv);
    for (int row = 0; row < PQntuples (result); row++) {
        for (int column = 0; s_csv_columns [column]; column++) {
            const char *value = PQgetisnull (result, row, column)
                              ? NULL : PQgetvalue (result, row, column);
            if (s_csv_ours [column])
                csv_value (csv, value);
            else
                csv_text (csv, value);
        }
        csv_end_record (csv);
    }
    PQclear (result);
    return resource_csv (call, reply, csv, "drift");
}

int
api_drift_list (api_call_t *call, json_t **reply)
{
    const char *state, *severity, *class_name, *since;
    long limit = 0, offset = 0;
    bool csv;
    int status = resource_format (call, &csv, reply);
    if (!status)
        status = api_query_enum (call, "state", s_states, "open", &state, reply);
    if (!status)
        status = api_query_enum (call, "severity", s_severities, "none", &severity, reply);
    if (!status)
        status = api_query_enum (call, "class", s_classes, NULL, &class_name, reply);
    if (!status)
        status = api_query_time (call, "since", &since, reply);
    if (!status && !csv)
        status = resource_paging (call, &limit, &offset, reply);
    if (status)
        return status;
    const char *stack;
    status = resource_stack_filter (call, &stack, reply);
    if (status)
        return status;

    int which = 0;
    while (strcmp (s_states [which], state) != 0)
        which++;
    char sql [4096];
    snprintf (sql, sizeof sql,
        "SELECT %s"
        " FROM drift_items d JOIN stacks s ON s.tenant_id = d.tenant_id AND s.id = d.stack_id"
        " WHERE d.tenant_id = $1::uuid AND %s"
        "   AND d.severity >= $2::smallint"
        "   AND ($3::text IS NULL OR d.class = $3::text)"
        "   AND ($4::timestamptz IS NULL OR d.last_seen >= $4::timestamptz)"
        "   AND ($5::text IS NULL OR d.stack_id IN (SELECT x.id FROM stacks x"
        "        WHERE x.tenant_id = $1::uuid AND (x.name = $5::text OR x.id::text = lower ($5::text))))"
        " ORDER BY d.severity DESC, d.last_seen DESC, d.stack_id, d.fingerprint"
        " LIMIT $6::bigint OFFSET $7::bigint", csv ? CSV_SQL : ITEM_SQL "::text",
        s_state_sql [which]);
    char severity_text [8], limit_text [24], offset_text [24];
    snprintf (severity_text, sizeof severity_text, "%d", s_severity_number (severity));
    snprintf (limit_text, sizeof limit_text, "%ld", limit + 1);
    snprintf (offset_text, sizeof offset_text, "%ld", offset);
    const char *params [] = {
        call->tenant_id, severity_text, class_name, since, stack, limit_text, offset_text
    };
    if (csv)
        return s_export (call, reply, sql, params);
    PGresult *result = resource_query (call, reply, "listing drift", sql, 7, params);
    if (!result)
        return 500;
    json_t *items = resource_rows (result, 0);
    PQclear (result);
    return resource_page (reply, items, limit, offset);
}

//  --------------------------------------------------------------------------
//  One item

//  Split an item id into its stack id (stack [37]) and fingerprint; false
//  if it is not one (answered 404 like an id of another tenant).
static bool
s_item_id (const char *id, char *stack, const char **fingerprint)
{
    if (!id || strlen (id) < 38 || id [36] != '.' || strlen (id) > 36 + 1 + 512)
        return false;
    snprintf (stack, 37, "%.36s", id);
    *fingerprint = id + 37;
    return api_is_uuid (stack);
}

//  The item's detail as the answer: 200, or 404.
static int
s_detail (api_call_t *call, const char *stack, const char *fingerprint, json_t **reply)
{
    const char *params [] = { call->tenant_id, stack, fingerprint };
    PGresult *result = resource_query (call, reply, "reading a drift item",
        "SELECT (" DETAIL_SQL ")::text"
        " FROM drift_items d JOIN stacks s ON s.tenant_id = d.tenant_id AND s.id = d.stack_id"
        " WHERE d.tenant_id = $1::uuid AND d.stack_id = $2::uuid AND d.fingerprint = $3::text",
        3, params);
    if (!result)
        return 500;
    json_t *item = resource_row (result, 0);
    PQclear (result);
    if (!item)
        return api_error (reply, 404, "no such drift item", NULL);
    return resource_reply (reply, 200, item);
}

int
api_drift_get (api_call_t *call, json_t **reply)
{
    char stack [37];
    const char *fingerprint;
    if (call->param_count < 1 || !s_item_id (call->params [0], stack, &fingerprint))
        return api_error (reply, 404, "no such drift item", NULL);
    return s_detail (call, stack, fingerprint, reply);
}

//  Every report that saw the item (schema 0012), newest first, a page at a
//  time; 404 for an item that is not the tenant's.
int
api_drift_sightings (api_call_t *call, json_t **reply)
{
    char stack [37];
    const char *fingerprint;
    if (call->param_count < 1 || !s_item_id (call->params [0], stack, &fingerprint))
        return api_error (reply, 404, "no such drift item", NULL);
    const char *params [] = { call->tenant_id, stack, fingerprint };
    PGresult *result = resource_query (call, reply, "finding a drift item",
        "SELECT 1 FROM drift_items d"
        " WHERE d.tenant_id = $1::uuid AND d.stack_id = $2::uuid AND d.fingerprint = $3::text",
        3, params);
    if (!result)
        return 500;
    bool found = PQntuples (result) == 1;
    PQclear (result);
    if (!found)
        return api_error (reply, 404, "no such drift item", NULL);
    return resource_list_of (call, reply, "listing a drift item's sightings",
        "SELECT jsonb_build_object ('report_id', g.report_id, 'seen_at', drift_iso (g.seen_at),"
        "       'severity', drift_severity_name (g.severity), 'status', r.status)::text"
        " FROM drift_sightings g"
        " JOIN reports r ON r.tenant_id = g.tenant_id AND r.report_id = g.report_id"
        " WHERE g.tenant_id = $1::uuid AND g.stack_id = $4::uuid AND g.fingerprint = $5::text"
        " ORDER BY g.seen_at DESC, g.report_id DESC LIMIT $2::bigint OFFSET $3::bigint",
        2, params + 1);
}

//  Change one item (sql's $1 tenant, $2 stack, $3 fingerprint), record it
//  in the audit log as action with detail (taken), and answer the item's
//  detail, or 404 when no such item is the tenant's.
static int
s_update (api_call_t *call, json_t **reply, const char *what, const char *action,
          json_t *detail, const char *sql, int count, const char *const *params)
{
    PGresult *result = resource_query (call, reply, what, sql, count, params);
    bool found = result && atoi (PQcmdTuples (result)) == 1;
    PQclear (result);
    if (!found)
        json_decref (detail);
    if (!result)
        return 500;
    if (!found)
        return api_error (reply, 404, "no such drift item", NULL);
    int status = audit_call (call, reply, action, call->params [0], detail);
    return status ? status : s_detail (call, params [1], params [2], reply);
}

int
api_drift_suppress (api_call_t *call, json_t **reply)
{
    char stack [37];
    const char *fingerprint;
    if (call->param_count < 1 || !s_item_id (call->params [0], stack, &fingerprint))
        return api_error (reply, 404, "no such drift item", NULL);
    static const char *const known [] = { "reason", "expires_at", NULL };
    const char *reason, *expires_at;
    int status = api_json_only (call->body, known, reply);
    if (!status)
        status = api_json_string (call->body, "reason", true, 1000, &reason, reply);
    if (!status)
        status = api_json_string (call->body, "expires_at", false, 40, &expires_at, reply);
    if (status)
        return status;
    status = resource_expiry (expires_at, reply);
    if (status)
        return status;
    const char *by = resource_actor (call);
    const char *params [] = { call->tenant_id, stack, fingerprint, reason, by, expires_at };
    return s_update (call, reply, "suppressing a drift item", "drift.suppress",
        json_pack ("{s:s, s:s?}", "reason", reason, "expires_at", expires_at),
        "UPDATE drift_items d SET muted_reason = $4::text, muted_by = $5::text, muted_at = now (),"
        " muted_until = $6::timestamptz"
        " WHERE d.tenant_id = $1::uuid AND d.stack_id = $2::uuid AND d.fingerprint = $3::text",
        6, params);
}

int
api_drift_unsuppress (api_call_t *call, json_t **reply)
{
    char stack [37];
    const char *fingerprint;
    if (call->param_count < 1 || !s_item_id (call->params [0], stack, &fingerprint))
        return api_error (reply, 404, "no such drift item", NULL);
    static const char *const known [] = { NULL };
    int status = api_json_only (call->body, known, reply);
    if (status)
        return status;
    //  Only the mute ends here: an item a .driftignore line covers stays
    //  suppressed until that line goes (the detail's suppression says which).
    const char *params [] = { call->tenant_id, stack, fingerprint };
    return s_update (call, reply, "unsuppressing a drift item", "drift.unsuppress", NULL,
        "UPDATE drift_items d SET muted_reason = NULL, muted_by = NULL, muted_at = NULL,"
        " muted_until = NULL"
        " WHERE d.tenant_id = $1::uuid AND d.stack_id = $2::uuid AND d.fingerprint = $3::text",
        3, params);
}
