/*  db: what lib/db's connections tell PostgreSQL about themselves, on a
    real server. A role's connections carry its name as application_name,
    so pg_stat_activity (and a DBA looking at a busy server) shows which
    role holds which backend; a name the operator put in the URL wins.
*/
#define _GNU_SOURCE             // asprintf
#include "testutil.h"
#include "../lib/db.h"
#include "../lib/log.h"

#include <criterion/criterion.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>

static char *s_url;             // this test's database, as the owner

static void
s_setup (void)
{
    s_url = tu_fresh_database ();
}

static void
s_teardown (void)
{
    tu_drop_database (s_url);
}

TestSuite (db, .init = s_setup, .fini = s_teardown, .timeout = 60);

//  The application_name PostgreSQL has for conn's backend (caller frees).
static char *
s_application_name (PGconn *conn)
{
    char *sql;
    cr_assert (asprintf (&sql, "SELECT application_name FROM pg_stat_activity WHERE pid = %d",
                         PQbackendPID (conn)) > 0);
    PGconn *owner = PQconnectdb (s_url);
    PGresult *result = PQexec (owner, sql);
    cr_assert_eq (PQresultStatus (result), PGRES_TUPLES_OK, "%s", PQresultErrorMessage (result));
    cr_assert_eq (PQntuples (result), 1);
    char *name = strdup (PQgetvalue (result, 0, 0));
    PQclear (result);
    PQfinish (owner);
    free (sql);
    return name;
}

Test (db, a_roles_connections_carry_its_name)
{
    log_init ("archive", "logfmt", "error");
    PGconn *conn = db_connect (s_url, 5000);
    cr_assert (conn);
    char *name = s_application_name (conn);
    cr_assert_str_eq (name, "drift-archive");
    free (name);
    //  A reset connection (db_reconnect after a restart) keeps it.
    cr_assert_eq (db_reconnect (conn, 5000), 0);
    name = s_application_name (conn);
    cr_assert_str_eq (name, "drift-archive");
    free (name);
    PQfinish (conn);
}

Test (db, a_name_in_the_url_wins)
{
    log_init ("notify", "logfmt", "error");
    char *url;
    cr_assert (asprintf (&url, "%s?application_name=nightly-report", s_url) > 0);
    PGconn *conn = db_connect (url, 5000);
    cr_assert (conn);
    char *name = s_application_name (conn);
    cr_assert_str_eq (name, "nightly-report");
    free (name);
    PQfinish (conn);
    free (url);
}
