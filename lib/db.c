/*  db: connecting with retry and backoff. See db.h. */
#include "db.h"
#include "clock.h"
#include "log.h"
#include "metrics.h"

#include <czmq.h>
#include <string.h>

#define DB_BACKOFF_MIN_MS 100
#define DB_BACKOFF_MAX_MS 5000

//  Every PQreset is an attempt to connect again.
static void
s_count_reconnect (void)
{
    metric_inc (metrics_counter (metrics_default (), "drift_postgres_reconnects_total",
                                 "Attempts to connect to PostgreSQL again (retries and "
                                 "reconnects after a lost connection)", NULL));
}

static int
s_wait_until_usable (PGconn *conn, const char *url, int timeout_ms)
{
    int64_t deadline = clock_mono_ms () + timeout_ms;
    int backoff = DB_BACKOFF_MIN_MS;
    bool said = false;
    while (PQstatus (conn) != CONNECTION_OK) {
        int64_t left = deadline - clock_mono_ms ();
        if (left <= 0)
            return -1;
        if (!said) {
            //  The message holds no password: libpq reports host and port only.
            char *error = strdup (PQerrorMessage (conn));
            error [strcspn (error, "\n")] = 0;
            log_warn ("database unreachable, retrying", "error", error,
                      "retry_for_ms", LOG_NUM (left), "url", url ? "given" : NULL);
            free (error);
            said = true;
        }
        zclock_sleep (backoff < left ? backoff : (int) left);
        backoff = backoff * 2 > DB_BACKOFF_MAX_MS ? DB_BACKOFF_MAX_MS : backoff * 2;
        s_count_reconnect ();
        PQreset (conn);
    }
    if (said)
        log_info ("database reachable again");
    return 0;
}

PGconn *
db_connect (const char *url, int timeout_ms)
{
    //  The role names its connections (pg_stat_activity's application_name:
    //  "drift-archive", ...) unless url names them itself.
    const char *role = log_role ();
    char name [80] = "drift";
    if (*role && strcmp (role, "drift") != 0)
        snprintf (name, sizeof name, "drift-%s", role);
    const char *keys [] = { "dbname", "fallback_application_name", NULL };
    const char *values [] = { url, name, NULL };
    PGconn *conn = PQconnectdbParams (keys, values, 1);
    if (!conn)
        return NULL;
    if (s_wait_until_usable (conn, url, timeout_ms)) {
        PQfinish (conn);
        return NULL;
    }
    return conn;
}

int
db_reconnect (PGconn *conn, int timeout_ms)
{
    s_count_reconnect ();
    PQreset (conn);
    return s_wait_until_usable (conn, NULL, timeout_ms);
}

int
db_exec (PGconn *conn, const char *what, const char *sql)
{
    PGresult *result = PQexec (conn, sql);
    ExecStatusType status = PQresultStatus (result);
    int rc = status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK ? 0 : -1;
    if (rc) {
        char *error = strdup (PQresultErrorMessage (result));
        error [strcspn (error, "\n")] = 0;
        log_error ("database statement failed", "what", what, "error", error);
        free (error);
    }
    PQclear (result);
    return rc;
}

PGresult *
db_tenant_query (PGconn *conn, const char *tenant, const char *sql, int count,
                 const char *const *params)
{
    PGresult *begin = PQexec (conn, "BEGIN");
    bool begun = PQresultStatus (begin) == PGRES_COMMAND_OK;
    PQclear (begin);
    if (!begun)
        return NULL;
    const char *set_params [] = { tenant };
    PGresult *set = PQexecParams (conn, "SELECT drift_set_tenant ($1::uuid)", 1, NULL,
                                  set_params, NULL, NULL, 0);
    bool tenant_set = PQresultStatus (set) == PGRES_TUPLES_OK;
    PQclear (set);
    PGresult *result = tenant_set
                     ? PQexecParams (conn, sql, count, NULL, params, NULL, NULL, 0) : NULL;
    ExecStatusType status = PQresultStatus (result);
    bool ok = status == PGRES_TUPLES_OK || status == PGRES_COMMAND_OK;
    PGresult *end = PQexec (conn, ok ? "COMMIT" : "ROLLBACK");
    bool ended = PQresultStatus (end) == PGRES_COMMAND_OK;
    PQclear (end);
    if (!tenant_set || (ok && !ended)) {
        PQclear (result);
        return NULL;
    }
    return result;
}
