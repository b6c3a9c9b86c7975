/*  audit: writing the audit log; see audit.h. Every entry goes through
    drift_audit () (schema 0022), the same function SQL callers use, so
    the tenant, actor and source are read the same way for both.
*/
#include "audit.h"
#include "../lib/log.h"
#include "../lib/metrics.h"

#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

//  A refused entry is counted: each one is a change that did not happen
//  (or an actor not named), which an operator wants to see at once.
static int
s_exec (PGconn *conn, const char *what, const char *sql, int count, const char *const *params)
{
    PGresult *result = PQexecParams (conn, sql, count, NULL, params, NULL, NULL, 0);
    int rc = PQresultStatus (result) == PGRES_TUPLES_OK ? 0 : -1;
    if (rc) {
        log_error (what, "error", PQresultErrorMessage (result));
        metric_inc (metrics_counter (metrics_default (), "drift_audit_write_failures_total",
                                     "audit log writes the database refused (what they "
                                     "recorded was rolled back with them)", NULL));
    }
    PQclear (result);
    return rc;
}

int
audit_actor_set (PGconn *conn, const char *actor, const char *label, const char *source,
                 bool session)
{
    const char *params [] = { actor, label ? label : "", source ? source : "",
                              session ? "false" : "true" };
    return s_exec (conn, "cannot set the audit log's actor",
                   "SELECT set_config ('drift.actor', $1::text, $4::boolean),"
                   "       set_config ('drift.actor_label', $2::text, $4::boolean),"
                   "       set_config ('drift.source', $3::text, $4::boolean)", 4, params);
}

int
audit_actor_cli (PGconn *conn)
{
    struct passwd *entry = getpwuid (geteuid ());
    char actor [300];
    if (entry && entry->pw_name && *entry->pw_name)
        snprintf (actor, sizeof actor, "cli:%s", entry->pw_name);
    else
        snprintf (actor, sizeof actor, "cli:uid-%ld", (long) geteuid ());
    return audit_actor_set (conn, actor, actor + 4, "local", true);
}

int
audit_record_in (PGconn *conn, const char *tenant, const char *action, const char *target,
                 json_t *detail)
{
    char *text = detail ? json_dumps (detail, JSON_COMPACT) : strdup ("{}");
    json_decref (detail);
    if (!text)
        return -1;
    const char *params [] = { action, target ? target : "", text, tenant };
    int rc = s_exec (conn, "cannot write the audit log",
                     "SELECT drift_audit ($1::text, $2::text, $3::jsonb, $4::uuid)", 4, params);
    free (text);
    return rc;
}

int
audit_record (PGconn *conn, const char *action, const char *target, json_t *detail)
{
    return audit_record_in (conn, NULL, action, target, detail);
}

int
audit_call (api_call_t *call, json_t **reply, const char *action, const char *target,
            json_t *detail)
{
    if (audit_record (call->conn, action, target, detail) == 0)
        return 0;
    json_decref (*reply);
    *reply = NULL;
    return api_error (reply, 500, "the change could not be recorded in the audit log", NULL);
}

int
audit_login_failure (PGconn *conn, const char *email, const char *source, const char *reason)
{
    const char *params [] = { email, source ? source : "", reason };
    return s_exec (conn, "cannot record a failed login",
                   "SELECT drift_audit_login_failure ($1::text, $2::text, $3::text)",
                   3, params);
}
