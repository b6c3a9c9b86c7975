/*  drift tenant: create and list tenants, the owners of agents and their
    reports. A tenant is a name (1 to 63 of a-z, 0-9 and '-'); agents are
    issued keys under it with `drift keys issue --tenant NAME`.

    `drift tenant rules|ignore NAME FILE|-` sets the tenant's own scoring
    rules (docs/RULES.md) or suppressions (docs/IGNORE.md), checked here
    with the same parsers the score stage uses, so a malformed file is
    refused with its line before anything is stored; an empty file removes
    them. The score stage picks a change up within seconds, no restart.

    Exit codes: 0 done, 1 refused (exists, invalid name), 2 usage or
    settings, 3 PostgreSQL unreachable or failing.
*/
#include "commands.h"
#include "../api/audit.h"
#include "../lib/config.h"
#include "../lib/db.h"
#include "../actors/score/ignore.h"
#include "../lib/registry.h"
#include "../actors/score/score.h"

#include <czmq.h>
#include <libpq-fe.h>

#define EXIT_REFUSED 1
#define EXIT_USAGE 2
#define EXIT_DATABASE 3

#define TENANT_USAGE \
    "  drift tenant create NAME\n" \
    "  drift tenant list\n" \
    "  drift tenant rules NAME FILE|-     the tenant's scoring rules (an empty file removes them)\n" \
    "  drift tenant ignore NAME FILE|-    the tenant's suppressions (.driftignore lines)\n"

static const config_option_t s_options [] = {
    CONFIG_COMMON_OPTIONS,
    CMD_DATABASE_OPTION,
    CONFIG_END
};

//  Say why a statement failed; the exit code for it.
static int
s_database_failed (PGresult *result, const char *what)
{
    char *error = strdup (PQresultErrorMessage (result));
    error [strcspn (error, "\n")] = 0;
    fprintf (stderr, "drift tenant: %s failed: %s%s\n", what, error,
             strstr (error, "does not exist") ? " (has `drift migrate` run?)" : "");
    free (error);
    return EXIT_DATABASE;
}

static int
s_create (PGconn *conn, const char *name)
{
    if (!registry_name_valid (name)) {
        fprintf (stderr, "drift tenant: invalid tenant name '%s': use 1 to 63 of a-z, 0-9 and "
                 "'-', not starting with '-'\n", name);
        return EXIT_REFUSED;
    }
    const char *params [] = { name };
    PGresult *result = PQexecParams (conn,
        "INSERT INTO tenants (name) VALUES ($1::text) RETURNING id", 1, NULL, params, NULL, NULL, 0);
    int rc = 0;
    const char *state = PQresultErrorField (result, PG_DIAG_SQLSTATE);
    if (PQresultStatus (result) == PGRES_TUPLES_OK)
        printf ("created tenant '%s' (id %s)\n", name, PQgetvalue (result, 0, 0));
    else
    if (state && streq (state, "23505")) {
        fprintf (stderr, "drift tenant: tenant '%s' already exists\n", name);
        rc = EXIT_REFUSED;
    }
    else
        rc = s_database_failed (result, "creating the tenant");
    PQclear (result);
    return rc;
}

static int
s_list (PGconn *conn)
{
    PGresult *result = PQexec (conn,
        "SELECT t.name, t.id,"
        " to_char (t.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'),"
        " count (a.id) FILTER (WHERE a.revoked_at IS NULL),"
        " count (a.id) FILTER (WHERE a.revoked_at IS NOT NULL)"
        " FROM tenants t LEFT JOIN agents a ON a.tenant_id = t.id"
        " GROUP BY t.id ORDER BY t.name");
    if (PQresultStatus (result) != PGRES_TUPLES_OK) {
        int rc = s_database_failed (result, "listing the tenants");
        PQclear (result);
        return rc;
    }
    int width = (int) strlen ("TENANT");
    for (int row = 0; row < PQntuples (result); row++)
        if (PQgetlength (result, row, 0) > width)
            width = PQgetlength (result, row, 0);
    printf ("%-*s  %-36s  %-20s  %6s  %7s\n", width, "TENANT", "ID", "CREATED", "AGENTS",
            "REVOKED");
    for (int row = 0; row < PQntuples (result); row++)
        printf ("%-*s  %-36s  %-20s  %6s  %7s\n", width, PQgetvalue (result, row, 0),
                PQgetvalue (result, row, 1), PQgetvalue (result, row, 2),
                PQgetvalue (result, row, 3), PQgetvalue (result, row, 4));
    PQclear (result);
    return 0;
}

//  Store (or, for an empty file, remove) a tenant's rules or suppressions
//  after checking them with the parser the score stage uses.
static int
s_set_scoring (PGconn *conn, bool rules, const char *name, const char *path)
{
    size_t size;
    char *text = cmd_read_all (path, &size);
    if (!text) {
        fprintf (stderr, "drift tenant: cannot read %s\n", path);
        return EXIT_USAGE;
    }
    char error [512] = "";
    bool valid = true;
    if (size && rules) {
        score_t *score = score_new ();
        valid = score && score_load_text (score, path, text, size, error, sizeof error) == 0;
        score_destroy (&score);
    }
    else
    if (size) {
        char *reason = NULL;
        ignore_t *ignore = ignore_parse (text, size, path, &reason);
        valid = ignore != NULL;
        if (!valid)
            snprintf (error, sizeof error, "%s", reason ? reason : "out of memory");
        ignore_destroy (&ignore);
        free (reason);
    }
    if (!valid) {
        fprintf (stderr, "drift tenant: refused, nothing was changed: %s\n", error);
        free (text);
        return EXIT_REFUSED;
    }
    const char *params [] = { name, text };
    const char *sql = size == 0
        ? (rules ? "DELETE FROM tenant_rules r USING tenants t"
                   " WHERE r.tenant_id = t.id AND t.name = $1 RETURNING t.id"
                 : "DELETE FROM tenant_ignores r USING tenants t"
                   " WHERE r.tenant_id = t.id AND t.name = $1 RETURNING t.id")
        : (rules ? "INSERT INTO tenant_rules (tenant_id, rules) SELECT id, $2 FROM tenants"
                   " WHERE name = $1 ON CONFLICT (tenant_id) DO UPDATE"
                   " SET rules = excluded.rules, updated_at = now() RETURNING tenant_id"
                 : "INSERT INTO tenant_ignores (tenant_id, driftignore) SELECT id, $2 FROM tenants"
                   " WHERE name = $1 ON CONFLICT (tenant_id) DO UPDATE"
                   " SET driftignore = excluded.driftignore, updated_at = now()"
                   " RETURNING tenant_id");
    //  The settings and their audit entry commit together or not at all.
    PGresult *result = db_exec (conn, "begin", "BEGIN") ? NULL
                     : PQexecParams (conn, sql, size ? 2 : 1, NULL, params, NULL, NULL, 0);
    free (text);
    int rc = 0;
    if (!result || PQresultStatus (result) != PGRES_TUPLES_OK)
        rc = s_database_failed (result, rules ? "store the rules" : "store the suppressions");
    else
    if (PQntuples (result) == 0 && size) {
        fprintf (stderr, "drift tenant: no tenant '%s'\n", name);
        rc = EXIT_REFUSED;
    }
    else
    if (PQntuples (result) == 1
    &&  audit_record_in (conn, PQgetvalue (result, 0, 0),
                         rules ? "tenant.rules" : "tenant.driftignore", name,
                         json_pack ("{s:I, s:b}", "bytes", (json_int_t) size,
                                    "removed", size == 0))) {
        fprintf (stderr, "drift tenant: cannot record it in the audit log; nothing was "
                 "changed\n");
        rc = EXIT_DATABASE;
    }
    else
    if (db_exec (conn, "commit", "COMMIT"))
        rc = EXIT_DATABASE;
    else
        printf ("tenant '%s': %s %s\n", name, rules ? "rules" : "suppressions",
                size ? "stored (the score stage takes them within seconds)" : "removed");
    PQclear (result);
    if (rc)
        db_exec (conn, "roll back", "ROLLBACK");
    return rc;
}

int
cmd_tenant (int argc, char **argv)
{
    int exit_code;
    config_t *config = cmd_load ("tenant",
        "Tenants: the owners of agents and their reports.\n\n" TENANT_USAGE
        "\nExit codes: 0 done, 1 refused (exists, invalid name), 2 usage, 3 database unreachable.",
        s_options, argc, argv, &exit_code);
    if (!config)
        return exit_code;
    const char *command = config_argc (config) > 0 ? config_argv (config, 0) : "";
    bool create = streq (command, "create") && config_argc (config) == 2;
    bool list = streq (command, "list") && config_argc (config) == 1;
    bool scoring = (streq (command, "rules") || streq (command, "ignore"))
                && config_argc (config) == 3;
    if (!create && !list && !scoring) {
        fprintf (stderr, "usage:\n" TENANT_USAGE "(drift tenant --help for every option)\n");
        config_destroy (&config);
        return EXIT_USAGE;
    }
    int rc = EXIT_DATABASE;
    PGconn *conn = db_connect (config_get (config, "database"), 5000);
    if (!conn)
        fprintf (stderr, "drift tenant: PostgreSQL unreachable (--database or DRIFT_DATABASE); "
                 "nothing was changed\n");
    else
    if (audit_actor_cli (conn)) {
        fprintf (stderr, "drift tenant: cannot name the audit log's actor; nothing was "
                 "changed\n");
        PQfinish (conn);
    }
    else {
        rc = create ? s_create (conn, config_argv (config, 1))
           : scoring ? s_set_scoring (conn, streq (command, "rules"), config_argv (config, 1),
                                      config_argv (config, 2))
           : s_list (conn);
        PQfinish (conn);
    }
    config_destroy (&config);
    return rc;
}
