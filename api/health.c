/*  health: whether `drift api` can serve (/readyz).

    Ready means the database answers and its schema holds every migration
    this binary carries: a server started before `drift migrate` ran (or
    an older schema restored) would answer errors on the first route that
    needs a newer table, so it reports itself not ready instead and a load
    balancer keeps traffic away. Migrations are applied in order, so the
    last one being recorded means all are.

    api_health_probe asks the same on a connection of its own, for the
    /readyz of the role's --metrics port (lib/health), so both faces of
    `drift api` agree.
*/
#include "server.h"
#include "../lib/migrations.h"

#include <stdio.h>
#include <string.h>

int
api_health_ready (PGconn *conn, const char **reason)
{
    const char *last = NULL;
    for (const migration_t *m = migrations; m->name; m++)
        last = m->name;
    const char *params [] = { last };
    PGresult *result = PQexecParams (conn,
        "SELECT count (*) FROM drift_migrations WHERE name = $1", 1, NULL, params, NULL,
        NULL, 0);
    int rc = -1;
    if (PQresultStatus (result) != PGRES_TUPLES_OK)
        *reason = "the database does not answer";
    else
    if (strcmp (PQgetvalue (result, 0, 0), "1"))
        *reason = "the schema is behind this binary: run drift migrate";
    else
        rc = 0;
    PQclear (result);
    return rc;
}

int
api_health_probe (void *arg, char *reason, size_t size)
{
    const char *keys [] = { "dbname", "connect_timeout", NULL };
    const char *values [] = { (const char *) arg, "2", NULL };
    PGconn *conn = PQconnectdbParams (keys, values, 1);
    const char *why = "the database is unreachable";
    int rc = conn && PQstatus (conn) == CONNECTION_OK ? api_health_ready (conn, &why) : -1;
    if (rc)
        snprintf (reason, size, "%s", why);
    PQfinish (conn);
    return rc;
}
