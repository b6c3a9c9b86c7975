/*  migrations: applying the embedded schema; see migrations.h.

    One session advisory lock serialises every `drift migrate` on every host;
    inside it each pending migration runs in its own transaction together with
    the row that records it, so a migration is applied whole or not at all,
    and a second run finds nothing to do.
*/
#include "migrations.h"
#include "db.h"
#include "log.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

//  Any fixed number: the lock's name among advisory locks.
#define MIGRATIONS_LOCK "7031974"

static bool
s_applied (PGconn *conn, const char *name)
{
    const char *params [] = { name };
    PGresult *result = PQexecParams (conn,
        "SELECT 1 FROM drift_migrations WHERE name = $1::text", 1, NULL, params, NULL, NULL, 0);
    bool applied = PQresultStatus (result) == PGRES_TUPLES_OK && PQntuples (result) == 1;
    PQclear (result);
    return applied;
}

static bool
s_pgmq_extension_available (PGconn *conn)
{
    PGresult *result = PQexec (conn,
        "SELECT 1 FROM pg_available_extensions WHERE name = 'pgmq'");
    bool available = PQresultStatus (result) == PGRES_TUPLES_OK && PQntuples (result) == 1;
    PQclear (result);
    return available;
}

static bool
s_pgmq_extension_installed (PGconn *conn)
{
    PGresult *result = PQexec (conn, "SELECT 1 FROM pg_extension WHERE extname = 'pgmq'");
    bool installed = PQresultStatus (result) == PGRES_TUPLES_OK && PQntuples (result) == 1;
    PQclear (result);
    return installed;
}

static int
s_apply (PGconn *conn, const migration_t *migration)
{
    if (db_exec (conn, migration->name, "BEGIN"))
        return -1;
    const char *sql = migration->sql;
    const char *how = "sql";
    if (strncmp (migration->sql, "-- drift: pgmq refresh\n", 23) == 0) {
        //  pgmq.sql again (it is idempotent and keeps every queue), unless
        //  the extension is what this database runs.
        bool extension = s_pgmq_extension_installed (conn);
        sql = extension ? "SELECT 1" : migrations_pgmq_sql;
        how = extension ? "pgmq extension, nothing to refresh" : "project's pgmq refreshed";
    }
    else
    if (strncmp (migration->sql, "-- drift: pgmq", 14) == 0) {
        bool extension = s_pgmq_extension_available (conn);
        sql = extension ? "CREATE EXTENSION IF NOT EXISTS pgmq" : migrations_pgmq_sql;
        how = extension ? "pgmq extension" : "project's pgmq implementation";
    }
    const char *params [] = { migration->name };
    PGresult *result = NULL;
    int rc = db_exec (conn, migration->name, sql);
    if (rc == 0) {
        result = PQexecParams (conn, "INSERT INTO drift_migrations (name) VALUES ($1::text)",
                               1, NULL, params, NULL, NULL, 0);
        rc = PQresultStatus (result) == PGRES_COMMAND_OK ? 0 : -1;
        PQclear (result);
    }
    if (rc == 0 && db_exec (conn, migration->name, "COMMIT") == 0) {
        log_info ("migration applied", "migration", migration->name, "how", how);
        return 0;
    }
    db_exec (conn, "rollback", "ROLLBACK");
    log_error ("migration failed, rolled back; nothing after it was applied",
               "migration", migration->name);
    return -1;
}

int
migrations_apply (const char *url)
{
    PGconn *conn = db_connect (url, 30000);
    if (!conn) {
        log_error ("cannot migrate: database unreachable");
        return -1;
    }
    int applied = 0;
    if (db_exec (conn, "quiet notices", "SET client_min_messages = warning")
    ||  db_exec (conn, "migration lock", "SELECT pg_advisory_lock (" MIGRATIONS_LOCK ")")
    ||  db_exec (conn, "migrations table",
                 "CREATE TABLE IF NOT EXISTS drift_migrations ("
                 " name text PRIMARY KEY,"
                 " applied_at timestamptz NOT NULL DEFAULT now ())"))
        applied = -1;
    for (const migration_t *m = migrations; applied >= 0 && m->name; m++)
        if (!s_applied (conn, m->name))
            applied = s_apply (conn, m) == 0 ? applied + 1 : -1;
    db_exec (conn, "migration unlock", "SELECT pg_advisory_unlock (" MIGRATIONS_LOCK ")");
    PQfinish (conn);
    return applied;
}
