/*  drift token: a tenant's API tokens from the command line (issue 21), for
    an operator wiring a CI job before anyone uses the dashboard, or
    revoking a token that leaked.

        drift token create TENANT NAME [--role viewer|admin] [--expires-at TIME]
        drift token list TENANT
        drift token revoke TENANT NAME|ID

    `create` prints the token once, alone on stdout (so a script can take
    it: `TOKEN=$(drift token create acme ci)`); it is stored only as a
    hash, through the same api_token_create as the dashboard's route. A
    token made here has no maker and only its own role. Rows are written
    under the tenant's row-level security. Exit codes: 0 done, 1 refused
    (no such tenant or token, a live token has the name, a bad name, role
    or time), 2 usage, 3 PostgreSQL unreachable.
*/
#include "commands.h"
#include "../api/audit.h"
#include "../api/tokens.h"
#include "../lib/config.h"
#include "../lib/db.h"

#include <czmq.h>
#include <sodium.h>

#define EXIT_REFUSED 1
#define EXIT_USAGE 2
#define EXIT_DATABASE 3

static const config_option_t s_options [] = {
    CONFIG_COMMON_OPTIONS,
    CMD_DATABASE_OPTION,
    { "role", CONFIG_STRING, "viewer", "create: viewer or admin" },
    { "expires-at", CONFIG_STRING, "",
      "create: when the token stops working, ISO 8601 UTC (\"\" = never)" },
    CONFIG_END
};

static int
s_create (PGconn *conn, const char *tenant, const char *name, config_t *config)
{
    const char *role = config_get (config, "role");
    const char *expires = config_get (config, "expires-at");
    if (!api_token_name_valid (name)) {
        fprintf (stderr, "drift token: a name is 1 to 63 of a-z, 0-9, '.', '_' and '-'\n");
        return EXIT_REFUSED;
    }
    if (!streq (role, "viewer") && !streq (role, "admin")) {
        fprintf (stderr, "drift token: --role is viewer or admin\n");
        return EXIT_USAGE;
    }
    char id [37];
    int rc = cmd_tenant_begin (conn, "token", tenant, id);
    if (rc) {
        PQclear (PQexec (conn, "ROLLBACK"));
        return rc < 0 ? EXIT_DATABASE : EXIT_REFUSED;
    }
    PGresult *row;
    char *token = api_token_create (conn, id, name, role, NULL, "operator (drift token)",
                                    *expires ? expires : NULL, &row);
    const char *state = row ? PQresultErrorField (row, PG_DIAG_SQLSTATE) : NULL;
    if (token) {
        //  The token's id from its row (JSON), for the audit log.
        json_t *made = json_loads (PQgetvalue (row, 0, 0), 0, NULL);
        rc = audit_record (conn, "token.create",
                           json_string_value (json_object_get (made, "id")),
                           json_pack ("{s:s, s:s, s:s?}", "name", name, "role", role,
                                      "expires_at", *expires ? expires : NULL))
           ? EXIT_DATABASE : 0;
        json_decref (made);
        if (rc) {
            fprintf (stderr, "drift token: cannot record it in the audit log; nothing was "
                     "changed\n");
            sodium_memzero (token, strlen (token));
            free (token);
            token = NULL;
        }
    }
    else
    if (state && streq (state, "23505")) {
        fprintf (stderr, "drift token: tenant %s has a live token named '%s'\n", tenant, name);
        rc = EXIT_REFUSED;
    }
    else
    if (state && (streq (state, "22007") || streq (state, "22008"))) {
        fprintf (stderr, "drift token: --expires-at is not a time (ISO 8601 UTC)\n");
        rc = EXIT_REFUSED;
    }
    else {
        fprintf (stderr, "drift token: %s", row ? PQresultErrorMessage (row) : "out of memory\n");
        rc = EXIT_DATABASE;
    }
    PQclear (row);
    PQclear (PQexec (conn, rc == 0 ? "COMMIT" : "ROLLBACK"));
    if (token) {
        printf ("%s\n", token);
        fprintf (stderr, "made %s token '%s' of tenant %s; it is shown once, never again\n",
                 role, name, tenant);
        sodium_memzero (token, strlen (token));
        free (token);
    }
    return rc;
}

static int
s_list (PGconn *conn, const char *tenant)
{
    char id [37];
    int rc = cmd_tenant_begin (conn, "token", tenant, id);
    if (rc) {
        PQclear (PQexec (conn, "ROLLBACK"));
        return rc < 0 ? EXIT_DATABASE : EXIT_REFUSED;
    }
    PGresult *result = PQexec (conn,
        "SELECT id, name, role, coalesce (drift_iso (expires_at), '-'),"
        "       coalesce (drift_iso (last_used_at), '-'),"
        "       CASE WHEN revoked_at IS NOT NULL THEN 'revoked'"
        "            WHEN expires_at <= now () THEN 'expired' ELSE 'live' END, created_by"
        "  FROM api_tokens ORDER BY revoked_at IS NOT NULL, created_at DESC, id");
    rc = PQresultStatus (result) == PGRES_TUPLES_OK ? 0 : EXIT_DATABASE;
    if (rc)
        fprintf (stderr, "drift token: %s", PQerrorMessage (conn));
    else
        printf ("%-36s %-24s %-6s %-20s %-20s %-7s %s\n", "ID", "NAME", "ROLE", "EXPIRES",
                "LAST USED", "STATE", "CREATED BY");
    for (int i = 0; rc == 0 && i < PQntuples (result); i++)
        printf ("%-36s %-24s %-6s %-20s %-20s %-7s %s\n", PQgetvalue (result, i, 0),
                PQgetvalue (result, i, 1), PQgetvalue (result, i, 2), PQgetvalue (result, i, 3),
                PQgetvalue (result, i, 4), PQgetvalue (result, i, 5), PQgetvalue (result, i, 6));
    PQclear (result);
    PQclear (PQexec (conn, "COMMIT"));
    return rc;
}

static int
s_revoke (PGconn *conn, const char *tenant, const char *which)
{
    char id [37];
    int rc = cmd_tenant_begin (conn, "token", tenant, id);
    if (rc) {
        PQclear (PQexec (conn, "ROLLBACK"));
        return rc < 0 ? EXIT_DATABASE : EXIT_REFUSED;
    }
    const char *params [] = { which };
    PGresult *result = PQexecParams (conn,
        "UPDATE api_tokens SET revoked_at = now ()"
        " WHERE (name = $1 OR id::text = lower ($1)) AND revoked_at IS NULL"
        " RETURNING id, name", 1, NULL, params, NULL, NULL, 0);
    if (PQresultStatus (result) != PGRES_TUPLES_OK) {
        fprintf (stderr, "drift token: %s", PQerrorMessage (conn));
        rc = EXIT_DATABASE;
    }
    else
    if (PQntuples (result) != 1) {
        fprintf (stderr, "drift token: tenant %s has no live token '%s'\n", tenant, which);
        rc = EXIT_REFUSED;
    }
    else
    if (audit_record (conn, "token.revoke", PQgetvalue (result, 0, 0),
                      json_pack ("{s:s}", "name", PQgetvalue (result, 0, 1)))) {
        fprintf (stderr, "drift token: cannot record it in the audit log; nothing was changed\n");
        rc = EXIT_DATABASE;
    }
    else
        printf ("revoked token '%s' of tenant %s\n", which, tenant);
    PQclear (result);
    PQclear (PQexec (conn, rc == 0 ? "COMMIT" : "ROLLBACK"));
    return rc;
}

int
cmd_token (int argc, char **argv)
{
    int exit_code;
    config_t *config = cmd_load ("token", "API tokens of a tenant.", s_options, argc, argv,
                                 &exit_code);
    if (!config)
        return exit_code;
    int args = config_argc (config);
    const char *verb = args > 0 ? config_argv (config, 0) : "";
    if (!((streq (verb, "create") && args == 3) || (streq (verb, "list") && args == 2)
       || (streq (verb, "revoke") && args == 3))) {
        fprintf (stderr, "usage:\n  drift token create TENANT NAME [--role viewer|admin] "
                 "[--expires-at TIME]\n  drift token list TENANT\n"
                 "  drift token revoke TENANT NAME|ID\n");
        config_destroy (&config);
        return EXIT_USAGE;
    }
    PGconn *conn = db_connect (config_get (config, "database"), 5000);
    int rc = EXIT_DATABASE;
    if (!conn)
        fprintf (stderr, "drift token: the database is unreachable\n");
    else
    if (audit_actor_cli (conn))
        fprintf (stderr, "drift token: cannot name the audit log's actor\n");
    else
    if (streq (verb, "create"))
        rc = s_create (conn, config_argv (config, 1), config_argv (config, 2), config);
    else
    if (streq (verb, "list"))
        rc = s_list (conn, config_argv (config, 1));
    else
        rc = s_revoke (conn, config_argv (config, 1), config_argv (config, 2));
    if (conn)
        PQfinish (conn);
    config_destroy (&config);
    return rc;
}
