/*  drift user: dashboard accounts from the command line, for an operator
    setting up a tenant (the first login of a tenant made with `drift
    tenant create`, or a reset), where the dashboard's own signup and users
    pages (drift api) are not reachable yet.

        drift user add TENANT EMAIL [--role owner|admin|viewer] [--password-file FILE]
        drift user list [TENANT]

    The password is read from a file (mode 0600 or stricter, its first line)
    or from DRIFT_USER_PASSWORD, never from the command line where `ps`
    would show it; it is stored only as an Argon2id hash (crypto_pwhash_str,
    the same as the API). Rows are written under the tenant's row-level
    security. Exit codes: 0 done, 1 refused (no such tenant, email taken,
    weak or unreadable password), 2 usage, 3 PostgreSQL unreachable.
*/
#include "commands.h"
#include "../api/audit.h"
#include "../lib/config.h"
#include "../lib/db.h"
#include "../lib/secret.h"

#include <czmq.h>
#include <libpq-fe.h>
#include <sodium.h>

#define EXIT_REFUSED 1
#define EXIT_USAGE 2
#define EXIT_DATABASE 3

//  The API's rule (docs/API.md).
#define PASSWORD_MIN 12
#define PASSWORD_MAX 256

static const config_option_t s_options [] = {
    CONFIG_COMMON_OPTIONS,
    CMD_DATABASE_OPTION,
    { "role", CONFIG_STRING, "owner", "add: owner, admin or viewer" },
    { "password-file", CONFIG_STRING, "",
      "add: file holding the password (0600); empty: DRIFT_USER_PASSWORD" },
    CONFIG_END
};

//  The password into buffer [PASSWORD_MAX + 2]; 0, or -1 said why.
static int
s_password (const char *path, char *buffer)
{
    size_t length = 0;
    if (*path) {
        //  The first line of a file read as every secret is (lib/secret).
        char error [512];
        if (secret_read (path, (uint8_t *) buffer, PASSWORD_MAX + 2, &length, error,
                         sizeof error)) {
            fprintf (stderr, "drift user: %s\n", error);
            return -1;
        }
        length = strcspn (buffer, "\r\n");
    }
    else {
        const char *value = getenv ("DRIFT_USER_PASSWORD");
        if (!value) {
            fprintf (stderr, "drift user: give --password-file FILE or DRIFT_USER_PASSWORD\n");
            return -1;
        }
        length = strlen (value) > PASSWORD_MAX ? PASSWORD_MAX + 1 : strlen (value);
        memcpy (buffer, value, length);
    }
    buffer [length] = 0;
    if (length < PASSWORD_MIN || length > PASSWORD_MAX) {
        fprintf (stderr, "drift user: a password has %d to %d characters\n", PASSWORD_MIN,
                 PASSWORD_MAX);
        sodium_memzero (buffer, PASSWORD_MAX + 2);
        return -1;
    }
    return 0;
}

//  BEGIN under the tenant named name (or with that id); 0, 1 none, -1 failed.
static int
s_tenant (PGconn *conn, const char *name)
{
    PQclear (PQexec (conn, "BEGIN"));
    const char *params [] = { name };
    PGresult *result = PQexecParams (conn,
        "SELECT drift_set_tenant (t.id) FROM tenants t WHERE t.name = $1 OR t.id::text = lower ($1)",
        1, NULL, params, NULL, NULL, 0);
    int rc = PQresultStatus (result) != PGRES_TUPLES_OK ? -1 : PQntuples (result) == 1 ? 0 : 1;
    PQclear (result);
    if (rc == 1)
        fprintf (stderr, "drift user: no tenant '%s'\n", name);
    return rc;
}

static int
s_add (PGconn *conn, config_t *config, const char *tenant, const char *email)
{
    const char *role = config_get (config, "role");
    if (strcmp (role, "owner") && strcmp (role, "admin") && strcmp (role, "viewer")) {
        fprintf (stderr, "drift user: --role is owner, admin or viewer\n");
        return EXIT_USAGE;
    }
    char password [PASSWORD_MAX + 2];
    if (s_password (config_get (config, "password-file"), password))
        return EXIT_REFUSED;
    char hash [crypto_pwhash_STRBYTES];
    int hashed = sodium_init () >= 0 ? crypto_pwhash_str (hash, password, strlen (password),
                                                          crypto_pwhash_OPSLIMIT_INTERACTIVE,
                                                          crypto_pwhash_MEMLIMIT_INTERACTIVE) : -1;
    sodium_memzero (password, sizeof password);
    if (hashed) {
        fprintf (stderr, "drift user: cannot hash the password (out of memory)\n");
        return EXIT_REFUSED;
    }
    int rc = s_tenant (conn, tenant);
    if (rc) {
        PQclear (PQexec (conn, "ROLLBACK"));
        return rc < 0 ? EXIT_DATABASE : EXIT_REFUSED;
    }
    const char *params [] = { email, hash, role };
    PGresult *result = PQexecParams (conn,
        "INSERT INTO users (tenant_id, email, password_hash, role) "
        "VALUES (nullif (current_setting ('drift.tenant', true), '')::uuid, lower ($1), $2, $3) "
        "RETURNING id", 3, NULL, params, NULL, NULL, 0);
    const char *state = PQresultErrorField (result, PG_DIAG_SQLSTATE);
    if (PQresultStatus (result) == PGRES_TUPLES_OK
    &&  (audit_actor_cli (conn)
    ||   audit_record (conn, "user.create", PQgetvalue (result, 0, 0),
                       json_pack ("{s:s, s:s}", "email", email, "role", role)))) {
        fprintf (stderr, "drift user: cannot record it in the audit log; nothing was changed\n");
        rc = EXIT_DATABASE;
    }
    else
    if (PQresultStatus (result) == PGRES_TUPLES_OK)
        printf ("added %s '%s' to tenant %s (id %s)\n", role, email, tenant,
                PQgetvalue (result, 0, 0));
    else {
        fprintf (stderr, "drift user: %s\n", state && streq (state, "23505")
                 ? "that email already has an account" : state && streq (state, "23514")
                 ? "not an email address" : PQresultErrorMessage (result));
        rc = state && (streq (state, "23505") || streq (state, "23514")) ? EXIT_REFUSED
                                                                         : EXIT_DATABASE;
    }
    PQclear (result);
    PQclear (PQexec (conn, rc == 0 ? "COMMIT" : "ROLLBACK"));
    sodium_memzero (hash, sizeof hash);
    return rc;
}

static int
s_list (PGconn *conn, const char *tenant)
{
    const char *params [] = { tenant };
    PGresult *tenants = PQexecParams (conn,
        "SELECT id, name FROM tenants WHERE $1 = '' OR name = $1 OR id::text = lower ($1) "
        "ORDER BY name", 1, NULL, params, NULL, NULL, 0);
    if (PQresultStatus (tenants) != PGRES_TUPLES_OK) {
        fprintf (stderr, "drift user: %s", PQerrorMessage (conn));
        PQclear (tenants);
        return EXIT_DATABASE;
    }
    printf ("%-16s %-32s %-7s %-9s %s\n", "TENANT", "EMAIL", "ROLE", "DISABLED", "CREATED");
    for (int t = 0; t < PQntuples (tenants); t++) {
        if (s_tenant (conn, PQgetvalue (tenants, t, 0)))
            break;
        PGresult *result = PQexec (conn,
            "SELECT email, role, disabled, to_char (created_at AT TIME ZONE 'UTC', "
            "'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') FROM users ORDER BY email");
        for (int i = 0; PQresultStatus (result) == PGRES_TUPLES_OK && i < PQntuples (result); i++)
            printf ("%-16s %-32s %-7s %-9s %s\n", PQgetvalue (tenants, t, 1),
                    PQgetvalue (result, i, 0), PQgetvalue (result, i, 1),
                    *PQgetvalue (result, i, 2) == 't' ? "yes" : "no", PQgetvalue (result, i, 3));
        PQclear (result);
        PQclear (PQexec (conn, "COMMIT"));
    }
    PQclear (tenants);
    return 0;
}

int
cmd_user (int argc, char **argv)
{
    int exit_code;
    config_t *config = cmd_load ("user", "Dashboard accounts of a tenant.", s_options, argc, argv,
                                 &exit_code);
    if (!config)
        return exit_code;
    int args = config_argc (config);
    const char *verb = args > 0 ? config_argv (config, 0) : "";
    if (!((streq (verb, "add") && args == 3) || (streq (verb, "list") && args <= 2))) {
        fprintf (stderr, "usage:\n  drift user add TENANT EMAIL [--role owner|admin|viewer] "
                 "[--password-file FILE]\n  drift user list [TENANT]\n");
        config_destroy (&config);
        return EXIT_USAGE;
    }
    PGconn *conn = db_connect (config_get (config, "database"), 5000);
    int rc = EXIT_DATABASE;
    if (!conn)
        fprintf (stderr, "drift user: the database is unreachable\n");
    else
    if (streq (verb, "add"))
        rc = s_add (conn, config, config_argv (config, 1), config_argv (config, 2));
    else
        rc = s_list (conn, args == 2 ? config_argv (config, 1) : "");
    if (conn)
        PQfinish (conn);
    config_destroy (&config);
    return rc;
}
