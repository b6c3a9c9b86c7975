/*  resource: what the dashboard API's resource handlers (api/stacks.c,
    api/drift.c, ...) share, so each of them holds only its own SQL: running
    a statement with parameters and answering 500 when it fails, turning
    rows of JSON text into values, paging, and checking ids.

    Handlers build their JSON in SQL (jsonb_build_object, drift_iso,
    drift_severity_name from schema 0011) and read one JSON text per row:
    one place formats times and severities, and C never assembles values
    by hand.
*/
#ifndef API_RESOURCE_H_INCLUDED
#define API_RESOURCE_H_INCLUDED

#include "api.h"
#include "../actors/notify/channel.h"

#include <time.h>

//  Run sql with params (text, NULL for SQL NULL) in the call's transaction.
//  The result (tuples or command done), or NULL with *reply a 500 and the
//  failure logged with what.
PGresult *resource_query (api_call_t *call, json_t **reply, const char *what, const char *sql,
                          int count, const char *const *params);

//  The SQLSTATE of a failed statement ("" if none): resource_query_status
//  runs like resource_query but hands back a failed result too, for the
//  caller to tell a conflict (23505) from a failure.
const char *resource_sqlstate (const PGresult *result);
PGresult *resource_query_status (api_call_t *call, const char *sql, int count,
                                 const char *const *params);

//  The rows' column parsed as JSON, in a new array.
json_t *resource_rows (const PGresult *result, int column);
//  Row 0's column parsed as JSON (NULL if there is no row).
json_t *resource_row (const PGresult *result, int column);

//  limit and offset of a list (docs/API.md: 1..200 default 50, 0..1000000).
int resource_paging (api_call_t *call, long *limit, long *offset, json_t **reply);
//  A page of a list read with LIMIT limit + 1: {"items", "offset", "limit",
//  "more"}, or 400 when offset is past the end. Takes items.
int resource_page (json_t **reply, json_t *items, long limit, long offset);

//  A list read by sql, which takes the tenant as $1, the page's LIMIT as
//  $2 and OFFSET as $3 and returns its rows in column 0 as JSON text:
//  paging checked, the query run, the page answered (docs/API.md).
int resource_list (api_call_t *call, json_t **reply, const char *what, const char *sql);
//  The same with up to 5 more parameters, $4 onwards.
int resource_list_of (api_call_t *call, json_t **reply, const char *what, const char *sql,
                      int count, const char *const *extra);

//  True if text is a time as the API writes it, ISO 8601 UTC
//  (YYYY-MM-DDTHH:MM:SS[.fraction]Z) naming a real instant (from 1970);
//  its Unix seconds in *when when not NULL.
bool resource_time (const char *text, time_t *when);

//  The list's optional ?stack= filter (a stack's id or name): *stack NULL
//  when absent; 400 when empty or longer than 200 bytes.
int resource_stack_filter (api_call_t *call, const char **stack, json_t **reply);

//  An optional expires_at field (NULL: none) as the API takes it: ISO 8601
//  UTC and in the future, or 400 naming the field.
int resource_expiry (const char *expires_at, json_t **reply);

//  Who did it, for the records that say so: the caller's email, else its id.
const char *resource_actor (const api_call_t *call);

//  A drift item is open while unresolved, not suppressed by a .driftignore
//  line and not muted by hand (or its mute has ended); SQL over alias d.
#define RESOURCE_MUTED_SQL "(d.muted_reason IS NOT NULL AND (d.muted_until IS NULL OR d.muted_until > now ()))"
#define RESOURCE_OPEN_SQL "d.resolved_at IS NULL AND NOT d.suppressed AND NOT " RESOURCE_MUTED_SQL

//  ?format=json|csv of the routes that export (docs/API.md, "Exports"):
//  *csv true for csv; 400 naming format otherwise.
int resource_format (api_call_t *call, bool *csv, json_t **reply);
//  Answer a CSV export (taking csv): 200 with call->file set to the
//  document, saved as NAME-YYYY-MM-DD.csv (today, UTC); 500 when memory
//  ran out.
struct _csv_t;
int resource_csv (api_call_t *call, json_t **reply, struct _csv_t *csv, const char *name);

//  An answer: *reply = value, status returned.
int resource_reply (json_t **reply, int status, json_t *value);

//  The handlers (api/stacks.c, drift.c, suppressions.c, reports.c,
//  history.c, channels.c, agents.c), routed by api/routes.c.
api_handler_fn api_stacks_list;
api_handler_fn api_drift_list;
api_handler_fn api_drift_get;
api_handler_fn api_drift_sightings;
api_handler_fn api_drift_suppress;
api_handler_fn api_drift_unsuppress;
api_handler_fn api_suppressions_list;
api_handler_fn api_suppressions_create;
api_handler_fn api_suppressions_delete;
api_handler_fn api_reports_list;
api_handler_fn api_history_get;
api_handler_fn api_channels_list;
api_handler_fn api_channels_create;
api_handler_fn api_channels_test;
api_handler_fn api_channels_test_get;
api_handler_fn api_channels_delete;
//  What this process gives every channel it checks or sends through
//  (api/channels.c; also api/invite.c's mail): the send timeout, the
//  hosts allowed though internal, the channel key.
channel_context_t api_channels_context (const api_call_t *call);
api_handler_fn api_agents_list;
api_handler_fn api_agents_create;
api_handler_fn api_agents_delete;
//  api/commands.c: check now, and the commands' history.
api_handler_fn api_stacks_check;
api_handler_fn api_agents_check;
api_handler_fn api_commands_list;
api_handler_fn api_commands_get;
//  The agent that last reported stack (its id or name): 0 with its id and
//  the stack's name (the caller frees both), else the status of the error
//  in *reply (404 no such stack, 409 none reported it or it is revoked).
int api_stack_agent (api_call_t *call, json_t **reply, const char *stack, char **agent_id,
                     char **name);
//  api/remediations.c: remediation plans, their approval, four-eyes.
api_handler_fn api_stacks_remediate;
api_handler_fn api_commands_approve;
api_handler_fn api_commands_reject;
api_handler_fn api_remediation_settings_get;
api_handler_fn api_remediation_settings_put;

#endif
