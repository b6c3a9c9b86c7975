/*  drift keys: the local certificate authority of the self-hosted mode.

    Agents authenticate to ingest with CurveZMQ. The server has one keypair
    (`drift keys init`, kept in --keys-dir); every agent has its own, issued
    here and registered in PostgreSQL with its tenant, where ingest's
    registry (lib/registry) finds it. Revoking marks the key in PostgreSQL
    and removes its cached answer from Redis, so ingest refuses it as soon
    as its short in-process cache expires.

    Certificates are CZMQ's zcert files (ZPL text). zcert_save_secret (cert,
    FILE) writes exactly FILE, holding both keys and the metadata; it adds
    no `_secret` suffix (zcert_save does: it writes the public half to FILE
    and calls zcert_save_secret on FILE_secret). So:

        KEYS-DIR/server.key          the server's public key
        KEYS-DIR/server.key_secret   the server's keypair, mode 0600, for ingest
        KEYS-DIR/mask.key            normalize's key for markers of secrets, 0600
        KEYS-DIR/archive.key         archive's AES-256-GCM key sealing raw reports, 0600
        KEYS-DIR/channel.key         the key channels' SMTP passwords are sealed under
                                     (drift api and notify: --channel-key), 0600
        KEYS-DIR/broker.key          the broker's public key, for every role
        KEYS-DIR/broker.key_secret   the broker's keypair, 0600, for drift broker
        KEYS-DIR/roles/ROLE.key      a role's public key (metadata roles = ROLE)
        KEYS-DIR/roles/ROLE.key_secret  its keypair, 0600: that role's --broker-cert
        KEYS-DIR/broker-roles/ROLE.key  the same public key: the broker's list of
                                     allowed keys (--curve-roles), nothing secret
        AGENT.cert                   an agent's keypair, metadata tenant and
                                     agent, mode 0600: the file to hand over

    zcert_load (FILE) reads FILE_secret when it exists, else FILE, so
    zcert_load ("KEYS-DIR/server.key") and zcert_load ("AGENT.cert") both
    give a whole keypair. A key file is created with O_EXCL before anything
    is written to it, so an existing one is never overwritten, not even by
    two runs at once. No secret key is printed or logged, and secret keys
    are wiped from memory after use. Issuing, registering and cache
    invalidation are lib/agentkeys, shared with the dashboard API.

    Exit codes: 0 done, 1 refused (not found, already exists, cannot write),
    2 usage or settings, 3 PostgreSQL unreachable or failing.
*/
#include "commands.h"
#include "keys_ca.h"
#include "../api/audit.h"
#include "../lib/agent_link.h"
#include "../lib/agentkeys.h"
#include "../lib/config.h"
#include "../lib/db.h"
#include "../lib/registry.h"
#include "../lib/rolekeys.h"

#include <czmq.h>
#include <errno.h>
#include <fcntl.h>
#include <libpq-fe.h>
#include <limits.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#define EXIT_REFUSED 1
#define EXIT_USAGE 2
#define EXIT_DATABASE 3

#define KEYS_PATH_MAX AGENTKEYS_PATH_MAX

#define KEYS_USAGE \
    "  drift keys init   [--keys-dir DIR]\n" \
    "  drift keys issue  --tenant NAME --name AGENT [--out FILE] [--agent-endpoint tcp://HOST:PORT]\n" \
    "                    [--https-endpoint https://HOST:PORT] [--days N]\n" \
    "  drift keys renew  --tenant NAME --name AGENT [--out FILE] [--days N]\n" \
    "  drift keys list   [--tenant NAME]\n" \
    "  drift keys revoke --tenant NAME --name AGENT | --key Z85\n"

static const config_option_t s_options [] = {
    CONFIG_COMMON_OPTIONS,
    CMD_DATABASE_OPTION,
    CMD_REDIS_OPTION,
    CMD_KEYS_DIR_OPTION,
    { "tenant", CONFIG_STRING, "", "tenant of the agent (issue, revoke) or to list (list)" },
    { "name", CONFIG_STRING, "", "agent name (issue, revoke)" },
    { "key", CONFIG_STRING, "", "agent public key in Z85 (revoke, instead of --tenant and --name)" },
    { "out", CONFIG_STRING, "", "certificate file issue writes (default ./AGENT.cert)" },
    { "agent-endpoint", CONFIG_STRING, AGENT_LINK_ENDPOINT,
      "ingest endpoint the agents connect to, for the configuration issue prints" },
    { "https-endpoint", CONFIG_STRING, "https://localhost:8443",
      "Caddy's agent route (HTTPS with client certificates), for the configuration issue prints" },
    { "days", CONFIG_INT, "365", "validity of an agent's client certificate (issue, renew)" },
    CONFIG_END
};

//  --------------------------------------------------------------------------
//  Key files

//  Create dir and missing parents; dir itself 0700, as it holds a secret.
static int
s_make_private_dir (const char *dir)
{
    char *path = strdup (dir);
    size_t length = strlen (path);
    while (length > 1 && path [length - 1] == '/')
        path [--length] = 0;
    int rc = 0;
    for (char *slash = strchr (path + 1, '/'); slash && rc == 0; slash = strchr (slash + 1, '/')) {
        *slash = 0;
        if (mkdir (path, 0755) && errno != EEXIST)
            rc = -1;
        *slash = '/';
    }
    if (rc == 0 && mkdir (path, 0700) && errno != EEXIST)
        rc = -1;
    free (path);
    return rc;
}

static bool
s_exists (const char *path)
{
    struct stat st;
    return lstat (path, &st) == 0;
}

//  The server's key files in dir; -1 (said) if the names would be too long.
static int
s_server_paths (const char *dir, char *public_path, char *secret_path, size_t size)
{
    if (agentkeys_server_paths (dir, public_path, secret_path, size) == 0)
        return 0;
    fprintf (stderr, "drift keys: keys-dir '%s' is too long (at most %d characters)\n", dir,
             AGENTKEYS_PATH_MAX - (int) strlen ("/server.key_secret"));
    return -1;
}

//  A keypair that is already there is kept, never replaced: agents hold its
//  public key. A missing public half is written again from the secret one.
static int
s_init_existing (const char *dir, const char *public_path, const char *secret_path)
{
    if (!s_exists (secret_path)) {
        fprintf (stderr, "drift keys: %s exists without server.key_secret (the secret key is "
                 "missing); refusing to overwrite it. To make a new keypair, move server.key "
                 "away first; every agent then needs the new server key.\n", public_path);
        return EXIT_REFUSED;
    }
    //  Read as every secret is (secret_cert_load): a keypair file another
    //  user owns or may read is refused, not silently kept.
    char error [512];
    zcert_t *cert = secret_cert_load (secret_path, error, sizeof error);
    if (!cert) {
        fprintf (stderr, "drift keys: %s; refusing to overwrite it\n", error);
        return EXIT_REFUSED;
    }
    int rc = 0;
    if (!s_exists (public_path)) {
        rc = zcert_save_public (cert, public_path) == 0 ? 0 : EXIT_REFUSED;
        if (rc)
            fprintf (stderr, "drift keys: cannot write %s: %s\n", public_path, strerror (errno));
        else
            printf ("drift keys: %s was missing; written again from server.key_secret\n",
                    public_path);
    }
    if (rc == 0)
        printf ("drift keys: server keypair already in %s, kept\nserver-key = %s\n", dir,
                zcert_public_txt (cert));
    secret_cert_destroy (&cert);
    return rc;
}

static int
s_init_keypair (config_t *config)
{
    const char *dir = config_get (config, "keys-dir");
    char public_path [KEYS_PATH_MAX + 1], secret_path [KEYS_PATH_MAX + 1];
    if (!*dir || s_server_paths (dir, public_path, secret_path, sizeof public_path))
        return EXIT_USAGE;
    if (s_exists (secret_path) || s_exists (public_path))
        return s_init_existing (dir, public_path, secret_path);
    if (s_make_private_dir (dir)) {
        fprintf (stderr, "drift keys: cannot create %s: %s\n", dir, strerror (errno));
        return EXIT_REFUSED;
    }
    zcert_t *cert = zcert_new ();
    zcert_set_meta (cert, "role", "drift ingest server");
    int rc = 0;
    if (agentkeys_save_secret (cert, secret_path)) {
        if (errno == EEXIST)
            //  Another `drift keys init` got there first: its keypair stands.
            rc = s_init_existing (dir, public_path, secret_path);
        else {
            fprintf (stderr, "drift keys: cannot write %s: %s\n", secret_path, strerror (errno));
            rc = EXIT_REFUSED;
        }
        secret_cert_destroy (&cert);
        return rc;
    }
    if (zcert_save_public (cert, public_path)) {
        fprintf (stderr, "drift keys: wrote %s but cannot write %s: %s (run drift keys init "
                 "again to write it from the secret file)\n", secret_path, public_path,
                 strerror (errno));
        rc = EXIT_REFUSED;
    }
    else
        printf ("drift keys: server keypair written: %s (public), %s (secret, mode 0600, for "
                "drift ingest only)\nserver-key = %s\n", public_path, secret_path,
                zcert_public_txt (cert));
    secret_cert_destroy (&cert);
    return rc;
}

//  A random 32-byte key as 64 hex digits in KEYS-DIR/NAME, mode 0600:
//  mask.key, the key normalize uses for the markers of sensitive values an
//  agent left in clear (every normalize worker must share it, or the same
//  secret would get different markers on different hosts); archive.key,
//  the key the archive seals raw reports with; channel.key, the key the API
//  seals channels' SMTP passwords under and notify opens them with. Made
//  once, never replaced:
//  a new archive key is a rotation (docs/ARCHITECTURE.md), not a rerun.
static int
s_init_secret_key (const char *dir, const char *name, const char *purpose)
{
    char path [KEYS_PATH_MAX + 16];
    snprintf (path, sizeof path, "%s/%s", dir, name);
    int fd = open (path, O_WRONLY | O_CREAT | O_EXCL, 0600);
    if (fd == -1 && errno == EEXIST) {
        printf ("drift keys: %s already in %s, kept\n", name, path);
        return 0;
    }
    uint8_t key [32];
    char hex [65];
    randombytes_buf (key, sizeof key);
    sodium_bin2hex (hex, sizeof hex, key, sizeof key);
    sodium_memzero (key, sizeof key);
    hex [64] = '\n';
    bool written = fd != -1 && write (fd, hex, sizeof hex) == (ssize_t) sizeof hex
                && fsync (fd) == 0;
    sodium_memzero (hex, sizeof hex);
    if (fd != -1)
        close (fd);
    if (!written) {
        fprintf (stderr, "drift keys: cannot write %s: %s\n", path, strerror (errno));
        unlink (path);
        return EXIT_REFUSED;
    }
    printf ("drift keys: %s written: %s (mode 0600, %s)\n", name, path, purpose);
    return 0;
}

//  The roles that talk to the broker, one keypair each: the four stages,
//  the two producers, and operator for drift status and drift tail.
static const char *s_broker_roles [] = {
    "ingest", "normalize", "score", "archive", "notify", "replayer", "operator", NULL
};

//  The broker's keypair and a keypair per role, each kept if already made
//  (roles and brokers hold them).
static int
s_init_broker_keys (const char *dir)
{
    char roles_dir [KEYS_PATH_MAX + 1], allowed_dir [KEYS_PATH_MAX + 1];
    snprintf (roles_dir, sizeof roles_dir, "%s/roles", dir);
    snprintf (allowed_dir, sizeof allowed_dir, "%s/broker-roles", dir);
    if (s_make_private_dir (roles_dir) || s_make_private_dir (allowed_dir)) {
        fprintf (stderr, "drift keys: cannot create %s: %s\n", roles_dir, strerror (errno));
        return EXIT_REFUSED;
    }
    char error [512];
    int made = rolekeys_make (dir, NULL, "broker", NULL, error, sizeof error);
    if (made < 0) {
        fprintf (stderr, "drift keys: broker keypair: %s\n", error);
        return EXIT_REFUSED;
    }
    printf ("drift keys: broker keypair %s: %s/broker.key (public, for every role: "
            "--broker-key), broker.key_secret (mode 0600, for drift broker: --curve-cert)\n",
            made ? "already there, kept" : "written", dir);
    for (int i = 0; s_broker_roles [i]; i++) {
        made = rolekeys_make (roles_dir, allowed_dir, s_broker_roles [i], s_broker_roles [i],
                              error, sizeof error);
        if (made < 0) {
            fprintf (stderr, "drift keys: %s keypair: %s\n", s_broker_roles [i], error);
            return EXIT_REFUSED;
        }
    }
    printf ("drift keys: role keypairs in %s (ROLE.key: --broker-cert of that role), their "
            "public keys in %s (drift broker --curve-roles)\n", roles_dir, allowed_dir);
    return 0;
}

static int
s_init (config_t *config)
{
    int rc = s_init_keypair (config);
    const char *dir = config_get (config, "keys-dir");
    if (!rc)
        rc = s_init_secret_key (dir, "mask.key", "for drift normalize: --mask-key-file");
    if (!rc)
        rc = s_init_secret_key (dir, "archive.key", "for drift archive: --seal-key");
    if (!rc)
        rc = s_init_secret_key (dir, "channel.key",
                                "for drift api, notify and channel: --channel-key");
    if (!rc)
        rc = s_init_broker_keys (dir);
    if (!rc) {
        char error [512];
        int made = keys_ca_init (dir, error, sizeof error);
        if (made < 0) {
            fprintf (stderr, "drift keys: local CA: %s\n", error);
            rc = EXIT_REFUSED;
        }
        else
            printf ("drift keys: local CA %s: %s/ca.crt (public: Caddy's trusted_ca_cert_file), "
                    "ca.key (mode 0600, for drift keys only)\n",
                    made ? "already there, kept" : "written", dir);
    }
    return rc;
}

//  The server's public key (Z85) from keys-dir, for the agents' configuration.
static int
s_server_key (config_t *config, char *server_key)
{
    char error [512];
    if (agentkeys_server_key (config_get (config, "keys-dir"), server_key, error, sizeof error)) {
        fprintf (stderr, "drift keys: %s\n", error);
        return -1;
    }
    return 0;
}

//  --------------------------------------------------------------------------
//  PostgreSQL

static PGconn *
s_connect (config_t *config)
{
    PGconn *conn = db_connect (config_get (config, "database"), 5000);
    if (!conn)
        fprintf (stderr, "drift keys: PostgreSQL unreachable (--database or DRIFT_DATABASE); "
                 "nothing was changed\n");
    else
    if (audit_actor_cli (conn)) {
        fprintf (stderr, "drift keys: cannot name the audit log's actor; nothing was changed\n");
        PQfinish (conn);
        conn = NULL;
    }
    return conn;
}

//  Record what was done to agent (its id) in its tenant's audit log, in
//  the caller's transaction: action, the agent's name and public key, and
//  more (taken, may be NULL). 0, or -1 (said).
static int
s_audit (PGconn *conn, const char *agent, const char *action, json_t *more)
{
    const char *params [] = { agent };
    PGresult *result = PQexecParams (conn,
        "SELECT tenant_id, name, public_key FROM agents WHERE id = $1::uuid",
        1, NULL, params, NULL, NULL, 0);
    json_t *detail = more ? more : json_object ();
    int rc = -1;
    if (PQresultStatus (result) == PGRES_TUPLES_OK && PQntuples (result) == 1) {
        json_object_set_new (detail, "name", json_string (PQgetvalue (result, 0, 1)));
        json_object_set_new (detail, "public_key", json_string (PQgetvalue (result, 0, 2)));
        rc = audit_record_in (conn, PQgetvalue (result, 0, 0), action, agent,
                              json_incref (detail));
    }
    PQclear (result);
    json_decref (detail);
    if (rc)
        fprintf (stderr, "drift keys: cannot record %s in the audit log; nothing was changed\n",
                 action);
    return rc;
}

//  End the transaction the change and its audit entry share: COMMIT when
//  rc is 0, else ROLLBACK; rc, or EXIT_DATABASE when the COMMIT failed.
static int
s_finish (PGconn *conn, int rc)
{
    if (rc == 0 && db_exec (conn, "commit the change and its audit entry", "COMMIT") == 0)
        return 0;
    db_exec (conn, "roll back", "ROLLBACK");
    return rc ? rc : EXIT_DATABASE;
}

//  Say why a statement failed; the exit code for it.
static int
s_database_failed (PGresult *result, const char *what)
{
    char *error = strdup (PQresultErrorMessage (result));
    error [strcspn (error, "\n")] = 0;
    fprintf (stderr, "drift keys: %s failed: %s%s\n", what, error,
             strstr (error, "does not exist") ? " (has `drift migrate` run?)" : "");
    free (error);
    return EXIT_DATABASE;
}

//  Remove key's cached answer from Redis; a warning with what it means if
//  Redis cannot be reached.
static void
s_invalidate (config_t *config, const char *key, const char *consequence)
{
    if (agentkeys_invalidate (config_get (config, "redis"), key))
        fprintf (stderr, "drift keys: warning: could not remove the key's cached answer from "
                 "Redis (--redis or DRIFT_REDIS); %s\n", consequence);
}

//  --------------------------------------------------------------------------
//  Subcommands

//  The client certificate's files beside an agent's CURVE certificate:
//  AGENT.cert gives AGENT.crt and AGENT.key.
static void
s_https_paths (const char *out, char *crt, char *crt_key, size_t size)
{
    size_t length = strlen (out);
    if (length > 5 && streq (out + length - 5, ".cert"))
        length -= 5;
    snprintf (crt, size, "%.*s.crt", (int) length, out);
    snprintf (crt_key, size, "%.*s.key", (int) length, out);
}

//  Issue the agent's client certificate from the local CA and record its
//  serial in agent_certs; 0, or an exit code (said). Without a CA (made by
//  an older `drift keys init`) it says how to make one.
static int
s_https_issue (config_t *config, const char *tenant, const char *name, const char *crt,
               const char *crt_key, const char *action)
{
    int days = (int) config_get_int (config, "days");
    if (days < 1 || days > 3650) {
        fprintf (stderr, "drift keys: --days must be 1 to 3650\n");
        return EXIT_USAGE;
    }
    PGconn *conn = s_connect (config);
    if (!conn)
        return EXIT_DATABASE;
    if (db_exec (conn, "begin", "BEGIN")) {
        PQfinish (conn);
        return EXIT_DATABASE;
    }
    //  The agent first: no certificate is signed for one that is not there.
    const char *who [] = { tenant, name };
    PGresult *result = PQexecParams (conn,
        "SELECT a.id FROM agents a JOIN tenants t ON t.id = a.tenant_id"
        " WHERE t.name = $1::text AND a.name = $2::text AND a.revoked_at IS NULL",
        2, NULL, who, NULL, NULL, 0);
    int rc = 0;
    if (PQresultStatus (result) != PGRES_TUPLES_OK)
        rc = s_database_failed (result, "looking up the agent");
    else
    if (PQntuples (result) != 1) {
        fprintf (stderr, "drift keys: tenant '%s' has no agent '%s' that is not revoked\n",
                 tenant, name);
        rc = EXIT_REFUSED;
    }
    char agent_id [37] = "";
    if (rc == 0)
        snprintf (agent_id, sizeof agent_id, "%s", PQgetvalue (result, 0, 0));
    PQclear (result);
    keys_ca_cert_t issued;
    char error [512];
    if (rc == 0
    &&  keys_ca_issue (config_get (config, "keys-dir"), tenant, name, days, crt, crt_key,
                       &issued, error, sizeof error)) {
        fprintf (stderr, "drift keys: no client certificate for HTTPS: %s\n", error);
        rc = EXIT_REFUSED;
    }
    if (rc == 0) {
        char not_before [24], not_after [24];
        snprintf (not_before, sizeof not_before, "%lld", (long long) issued.not_before);
        snprintf (not_after, sizeof not_after, "%lld", (long long) issued.not_after);
        const char *params [] = { issued.serial, agent_id, not_before, not_after };
        result = PQexecParams (conn,
            "INSERT INTO agent_certs (serial, agent_id, not_before, not_after)"
            " VALUES ($1::text, $2::uuid, to_timestamp ($3::bigint), to_timestamp ($4::bigint))",
            4, NULL, params, NULL, NULL, 0);
        if (PQresultStatus (result) != PGRES_COMMAND_OK)
            rc = s_database_failed (result, "recording the certificate");
        PQclear (result);
        if (rc == 0
        &&  s_audit (conn, agent_id, action, json_pack ("{s:s, s:I}", "serial", issued.serial,
                                                        "not_after",
                                                        (json_int_t) issued.not_after)))
            rc = EXIT_DATABASE;
        rc = s_finish (conn, rc);
        if (rc) {
            unlink (crt);
            unlink (crt_key);
        }
    }
    else
        db_exec (conn, "roll back", "ROLLBACK");
    PQfinish (conn);
    return rc;
}

static void
s_https_print (config_t *config, const char *crt, const char *crt_key)
{
    char ca [PATH_MAX];
    snprintf (ca, sizeof ca, "%s/ca.crt", config_get (config, "keys-dir"));
    char *crt_where = realpath (crt, NULL), *key_where = realpath (crt_key, NULL);
    char *ca_where = realpath (ca, NULL);
    printf ("\ndrift-agent configuration over HTTPS (through Caddy; the client certificate "
            "from the local CA %s):\n"
            "endpoint = %s\n"
            "certificate = %s\n"
            "key = %s\n",
            ca_where ? ca_where : ca, config_get (config, "https-endpoint"),
            crt_where ? crt_where : crt, key_where ? key_where : crt_key);
    free (crt_where);
    free (key_where);
    free (ca_where);
}

//  --tenant and --name, which command requires; false (said) without them.
static bool
s_agent_named (config_t *config, const char *command, const char **tenant, const char **name)
{
    *tenant = config_get (config, "tenant");
    *name = config_get (config, "name");
    if (**tenant && **name)
        return true;
    fprintf (stderr, "drift keys %s: --tenant and --name are required\n" KEYS_USAGE, command);
    return false;
}

static int
s_issue (config_t *config)
{
    const char *tenant, *name;
    if (!s_agent_named (config, "issue", &tenant, &name))
        return EXIT_USAGE;
    if (!registry_name_valid (name)) {
        fprintf (stderr, "drift keys: invalid agent name '%s': use 1 to 63 of a-z, 0-9 and '-', "
                 "not starting with '-'\n", name);
        return EXIT_REFUSED;
    }
    char server_key [41];
    if (s_server_key (config, server_key))
        return EXIT_USAGE;
    char out [PATH_MAX];
    if (*config_get (config, "out"))
        snprintf (out, sizeof out, "%s", config_get (config, "out"));
    else
        snprintf (out, sizeof out, "./%s.cert", name);
    if (strlen (out) > KEYS_PATH_MAX) {
        fprintf (stderr, "drift keys: --out is too long (at most %d characters)\n", KEYS_PATH_MAX);
        return EXIT_USAGE;
    }
    PGconn *conn = s_connect (config);
    if (!conn)
        return EXIT_DATABASE;

    //  The file first: a certificate nobody registered is harmless and is
    //  removed again; a registered key whose secret was lost is not.
    zcert_t *cert = agentkeys_cert_new (tenant, name);
    char key [41];
    snprintf (key, sizeof key, "%s", zcert_public_txt (cert));
    int rc = 0;
    if (agentkeys_save_secret (cert, out)) {
        fprintf (stderr, "drift keys: cannot write %s: %s%s\n", out, strerror (errno),
                 errno == EEXIST ? " (not overwriting it: choose another --out)" : "");
        rc = EXIT_REFUSED;
    }
    secret_cert_destroy (&cert);
    if (rc) {
        PQfinish (conn);
        return rc;
    }
    char error [512], agent_id [37];
    //  The key and its audit entry commit together or not at all.
    if (db_exec (conn, "begin", "BEGIN")) {
        PQfinish (conn);
        unlink (out);
        return EXIT_DATABASE;
    }
    switch (agentkeys_register (conn, tenant, NULL, name, key, agent_id, error, sizeof error)) {
        case AGENTKEYS_OK:
            if (s_audit (conn, agent_id, "agent_key.issue", NULL))
                rc = EXIT_DATABASE;
            break;
        case AGENTKEYS_NAME_TAKEN:
            fprintf (stderr, "drift keys: tenant '%s' already has an agent '%s' (revoke it first "
                     "to issue the name again)\n", tenant, name);
            rc = EXIT_REFUSED;
            break;
        case AGENTKEYS_NO_TENANT:
            fprintf (stderr, "drift keys: no tenant '%s' (create it with `drift tenant create "
                     "%s`)\n", tenant, tenant);
            rc = EXIT_REFUSED;
            break;
        default:
            fprintf (stderr, "drift keys: registering the key failed: %s%s\n", error,
                     strstr (error, "does not exist") ? " (has `drift migrate` run?)" : "");
            rc = EXIT_DATABASE;
    }
    rc = s_finish (conn, rc);
    PQfinish (conn);
    if (rc) {
        unlink (out);
        return rc;
    }
    s_invalidate (config, key, "ingest may refuse the new key for up to 10 s");
    char crt [PATH_MAX], crt_key [PATH_MAX];
    s_https_paths (out, crt, crt_key, sizeof crt);
    bool https = s_https_issue (config, tenant, name, crt, crt_key, "agent_cert.issue") == 0;

    char *where = realpath (out, NULL);
    printf ("issued agent '%s' of tenant '%s'\n"
            "  public key   %s\n"
            "  certificate  %s (the agent's keypair, mode 0600: give it to the agent only, "
            "over a secure channel)\n\n"
            "drift-agent configuration:\n"
            "endpoint = %s\n"
            "server-key = %s\n"
            "certificate = %s\n",
            name, tenant, key, where ? where : out, config_get (config, "agent-endpoint"),
            server_key, where ? where : out);
    free (where);
    if (https)
        s_https_print (config, crt, crt_key);
    return 0;
}

//  drift keys renew: a new client certificate for an agent that has one
//  key; the old certificate stays valid until it expires (no gap).
static int
s_renew (config_t *config)
{
    const char *tenant, *name;
    if (!s_agent_named (config, "renew", &tenant, &name))
        return EXIT_USAGE;
    char out [PATH_MAX], crt [PATH_MAX], crt_key [PATH_MAX];
    if (*config_get (config, "out"))
        snprintf (out, sizeof out, "%s", config_get (config, "out"));
    else {
        //  Beside the old files, never over them: named by the date.
        char day [16];
        time_t now = time (NULL);
        strftime (day, sizeof day, "%Y%m%d", gmtime (&now));
        snprintf (out, sizeof out, "./%s-%s.cert", name, day);
    }
    s_https_paths (out, crt, crt_key, sizeof crt);
    int rc = s_https_issue (config, tenant, name, crt, crt_key, "agent_cert.renew");
    if (rc == 0) {
        printf ("renewed the client certificate of agent '%s' of tenant '%s'\n", name, tenant);
        s_https_print (config, crt, crt_key);
    }
    return rc;
}

static int
s_list (config_t *config)
{
    const char *tenant = config_get (config, "tenant");
    PGconn *conn = s_connect (config);
    if (!conn)
        return EXIT_DATABASE;
    const char *params [] = { *tenant ? tenant : NULL };
    PGresult *result = PQexecParams (conn,
        "SELECT t.name, a.name, a.public_key,"
        " to_char (a.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'),"
        " coalesce (to_char (a.revoked_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), '-')"
        " FROM tenants t LEFT JOIN agents a ON a.tenant_id = t.id"
        " WHERE $1::text IS NULL OR t.name = $1::text"
        " ORDER BY t.name, a.name, a.created_at",
        1, NULL, params, NULL, NULL, 0);
    int rc = 0;
    if (PQresultStatus (result) != PGRES_TUPLES_OK)
        rc = s_database_failed (result, "listing the keys");
    else
    if (*tenant && PQntuples (result) == 0) {
        fprintf (stderr, "drift keys: no tenant '%s'\n", tenant);
        rc = EXIT_REFUSED;
    }
    else {
        //  Tenants without agents come back once with NULL agent columns.
        int width [2] = { (int) strlen ("TENANT"), (int) strlen ("AGENT") };
        for (int row = 0; row < PQntuples (result); row++)
            for (int column = 0; column < 2; column++)
                if (PQgetlength (result, row, column) > width [column])
                    width [column] = PQgetlength (result, row, column);
        printf ("%-*s  %-*s  %-40s  %-20s  %s\n", width [0], "TENANT", width [1], "AGENT",
                "PUBLIC KEY", "CREATED", "REVOKED");
        for (int row = 0; row < PQntuples (result); row++)
            if (!PQgetisnull (result, row, 1))
                printf ("%-*s  %-*s  %-40s  %-20s  %s\n", width [0], PQgetvalue (result, row, 0),
                        width [1], PQgetvalue (result, row, 1), PQgetvalue (result, row, 2),
                        PQgetvalue (result, row, 3), PQgetvalue (result, row, 4));
    }
    PQclear (result);
    PQfinish (conn);
    return rc;
}

//  Why nothing was revoked: no such agent, or it already was.
static int
s_revoke_refused (PGconn *conn, config_t *config)
{
    const char *key = config_get (config, "key");
    const char *tenant = config_get (config, "tenant");
    const char *name = config_get (config, "name");
    if (!*key) {
        fprintf (stderr, "drift keys: tenant '%s' has no agent '%s' that is not revoked already "
                 "(see drift keys list --tenant %s)\n", tenant, name, tenant);
        return EXIT_REFUSED;
    }
    const char *params [] = { key };
    PGresult *result = PQexecParams (conn,
        "SELECT t.name, a.name, to_char (a.revoked_at AT TIME ZONE 'UTC',"
        " 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"
        " FROM agents a JOIN tenants t ON t.id = a.tenant_id WHERE a.public_key = $1::text",
        1, NULL, params, NULL, NULL, 0);
    int rc = EXIT_REFUSED;
    if (PQresultStatus (result) != PGRES_TUPLES_OK)
        rc = s_database_failed (result, "looking up the key");
    else
    if (PQntuples (result) == 0)
        fprintf (stderr, "drift keys: no agent has the key %s\n", key);
    else {
        fprintf (stderr, "drift keys: agent '%s' of tenant '%s' was already revoked at %s\n",
                 PQgetvalue (result, 0, 1), PQgetvalue (result, 0, 0), PQgetvalue (result, 0, 2));
        //  Running revoke again is how an operator retries an invalidation
        //  that Redis missed the first time.
        s_invalidate (config, key, "its cached answer expires within 300 s");
    }
    PQclear (result);
    return rc;
}

static int
s_revoke (config_t *config)
{
    const char *key = config_get (config, "key");
    const char *tenant = config_get (config, "tenant");
    const char *name = config_get (config, "name");
    if (*key ? (*tenant || *name) : (!*tenant || !*name)) {
        fprintf (stderr, "drift keys revoke: give either --tenant and --name, or --key\n" KEYS_USAGE);
        return EXIT_USAGE;
    }
    if (*key && !registry_key_valid (key)) {
        fprintf (stderr, "drift keys: '%s' is not a public key (40 characters of Z85)\n", key);
        return EXIT_USAGE;
    }
    PGconn *conn = s_connect (config);
    if (!conn)
        return EXIT_DATABASE;
    const char *by_key [] = { key };
    const char *by_name [] = { tenant, name };
    //  The revocation and its audit entry commit together or not at all.
    if (db_exec (conn, "begin", "BEGIN")) {
        PQfinish (conn);
        return EXIT_DATABASE;
    }
    PGresult *result = *key
        ? PQexecParams (conn,
            "UPDATE agents a SET revoked_at = now () FROM tenants t"
            " WHERE t.id = a.tenant_id AND a.public_key = $1::text AND a.revoked_at IS NULL"
            " RETURNING t.name, a.name, a.public_key, a.id",
            1, NULL, by_key, NULL, NULL, 0)
        : PQexecParams (conn,
            "UPDATE agents a SET revoked_at = now () FROM tenants t"
            " WHERE t.id = a.tenant_id AND t.name = $1::text AND a.name = $2::text"
            " AND a.revoked_at IS NULL"
            " RETURNING t.name, a.name, a.public_key, a.id",
            2, NULL, by_name, NULL, NULL, 0);
    int rc = 0;
    if (PQresultStatus (result) != PGRES_TUPLES_OK)
        rc = s_database_failed (result, "revoking the key");
    else
    if (PQntuples (result) == 0)
        rc = s_revoke_refused (conn, config);
    else
    if (s_finish (conn, s_audit (conn, PQgetvalue (result, 0, 3), "agent_key.revoke", NULL)
                        ? EXIT_DATABASE : 0))
        rc = EXIT_DATABASE;
    else {
        const char *revoked_key = PQgetvalue (result, 0, 2);
        char consequence [200];
        snprintf (consequence, sizeof consequence, "ingest may still accept the key until its "
                  "cached answer expires (at most 300 s); retry with `drift keys revoke --key '%s'`",
                  revoked_key);
        s_invalidate (config, revoked_key, consequence);
        printf ("revoked agent '%s' of tenant '%s' (key %s)\n", PQgetvalue (result, 0, 1),
                PQgetvalue (result, 0, 0), revoked_key);
    }
    PQclear (result);
    PQfinish (conn);
    return rc;
}

int
cmd_keys (int argc, char **argv)
{
    int exit_code;
    config_t *config = cmd_load ("keys",
        "Agent keys: the server's CURVE keypair, agent certificates, revocation.\n\n" KEYS_USAGE
        "\nExit codes: 0 done, 1 refused (not found, exists), 2 usage, 3 database unreachable.",
        s_options, argc, argv, &exit_code);
    if (!config)
        return exit_code;
    const char *command = config_argc (config) == 1 ? config_argv (config, 0) : "";
    int rc;
    if (streq (command, "init"))
        rc = s_init (config);
    else
    if (streq (command, "issue"))
        rc = s_issue (config);
    else
    if (streq (command, "renew"))
        rc = s_renew (config);
    else
    if (streq (command, "list"))
        rc = s_list (config);
    else
    if (streq (command, "revoke"))
        rc = s_revoke (config);
    else {
        fprintf (stderr, "usage:\n" KEYS_USAGE "(drift keys --help for every option)\n");
        rc = EXIT_USAGE;
    }
    config_destroy (&config);
    return rc;
}
