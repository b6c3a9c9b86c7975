/*  db: connections to PostgreSQL that survive it restarting.

    Every role that talks to PostgreSQL connects through here: db_connect
    retries with a doubling backoff until a deadline, logging each failure
    once with what happens next, so a database that is still starting or
    restarting is waited for rather than fatal. Statements go through
    db_exec / libpq directly; a caller that sees CONNECTION_BAD calls
    db_reconnect.
*/
#ifndef DB_H_INCLUDED
#define DB_H_INCLUDED

#include <libpq-fe.h>

//  Connect to url, retrying for up to timeout_ms (0: one try). NULL if the
//  database could not be reached in time. The connection's
//  application_name is "drift-" and the process's role (log_init), so
//  pg_stat_activity shows which role holds it, unless url sets one.
PGconn *db_connect (const char *url, int timeout_ms);

//  Reset a broken connection, retrying for up to timeout_ms; 0 when it is
//  usable again.
int db_reconnect (PGconn *conn, int timeout_ms);

//  Run one statement that returns no rows we need; -1 (logged with what)
//  on failure.
int db_exec (PGconn *conn, const char *what, const char *sql);

//  Run sql with params in a transaction of its own under tenant's
//  row-level security (drift_set_tenant, schema 0007). Its result (the
//  caller's; rolled back unless it succeeded), or NULL when the
//  transaction could not begin, set the tenant or commit: the reason is
//  in PQerrorMessage (conn).
PGresult *db_tenant_query (PGconn *conn, const char *tenant, const char *sql, int count,
                           const char *const *params);

#endif
