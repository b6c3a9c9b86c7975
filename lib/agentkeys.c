/*  agentkeys: issuing and revoking agents' keys; see agentkeys.h. */
#define _GNU_SOURCE             // mkdtemp
#include "agentkeys.h"
#include "kv.h"
#include "registry.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

int
agentkeys_save_secret (zcert_t *cert, const char *path)
{
    int fd = open (path, O_WRONLY | O_CREAT | O_EXCL, 0600);
    if (fd < 0)
        return -1;
    close (fd);
    errno = EIO;
    if (zcert_save_secret (cert, path) == 0 && chmod (path, 0600) == 0) {
        //  Read back as every secret is read (secret_cert_load); also
        //  catches a stray PATH_secret, which it would prefer.
        zcert_t *check = secret_cert_load (path, NULL, 0);
        bool same = check && zcert_eq (cert, check);
        secret_cert_destroy (&check);
        if (same)
            return 0;
        errno = EIO;
    }
    int error = errno;
    unlink (path);
    errno = error;
    return -1;
}

int
agentkeys_server_paths (const char *dir, char *public_path, char *secret_path, size_t size)
{
    if (strlen (dir) + strlen ("/server.key_secret") > AGENTKEYS_PATH_MAX)
        return -1;
    snprintf (public_path, size, "%s/server.key", dir);
    snprintf (secret_path, size, "%s/server.key_secret", dir);
    return 0;
}

int
agentkeys_server_key (const char *keys_dir, char *server_key, char *error, size_t error_size)
{
    char public_path [AGENTKEYS_PATH_MAX + 1], secret_path [AGENTKEYS_PATH_MAX + 1];
    if (!keys_dir || !*keys_dir) {
        snprintf (error, error_size, "no keys directory is set (--keys-dir)");
        return -1;
    }
    if (agentkeys_server_paths (keys_dir, public_path, secret_path, sizeof public_path)) {
        snprintf (error, error_size, "keys-dir '%s' is too long (at most %d characters)",
                  keys_dir, AGENTKEYS_PATH_MAX - (int) strlen ("/server.key_secret"));
        return -1;
    }
    //  Only the public half is wanted: zconfig reads the named file itself
    //  (zcert_load would prefer, and read, server.key_secret).
    zconfig_t *root = zconfig_load (public_path);
    const char *key = root ? zconfig_get (root, "/curve/public-key", NULL) : NULL;
    if (!key || strlen (key) != 40) {
        snprintf (error, error_size, "no server key in %s (server.key): run "
                  "`drift keys init --keys-dir %s` first", keys_dir, keys_dir);
        zconfig_destroy (&root);
        return -1;
    }
    snprintf (server_key, 41, "%s", key);
    zconfig_destroy (&root);
    return 0;
}

zcert_t *
agentkeys_cert_new (const char *tenant, const char *agent)
{
    zcert_t *cert = zcert_new ();
    if (cert) {
        zcert_set_meta (cert, "tenant", "%s", tenant);
        zcert_set_meta (cert, "agent", "%s", agent);
    }
    return cert;
}

char *
agentkeys_cert_text (zcert_t *cert)
{
    //  zcert writes its ZPL text only to files (its string form is not in
    //  Debian's stable API), so the text is written where only this
    //  process can read it (a fresh 0700 directory, the file 0600), read
    //  back and removed at once.
    const char *tmp = getenv ("TMPDIR");
    char dir [AGENTKEYS_PATH_MAX - 32];
    if (snprintf (dir, sizeof dir, "%s/drift-cert-XXXXXX", tmp && *tmp ? tmp : "/tmp")
        >= (int) sizeof dir || !mkdtemp (dir))
        return NULL;
    char path [AGENTKEYS_PATH_MAX + 1];
    snprintf (path, sizeof path, "%s/agent.cert", dir);
    char *text = NULL;
    if (agentkeys_save_secret (cert, path) == 0) {
        text = (char *) malloc (SECRET_CERT_MAX);
        size_t got;
        if (text && secret_read (path, (uint8_t *) text, SECRET_CERT_MAX, &got, NULL, 0)) {
            free (text);
            text = NULL;
        }
        unlink (path);
    }
    rmdir (dir);
    return text;
}

agentkeys_result_t
agentkeys_register (PGconn *conn, const char *tenant_name, const char *tenant_id,
                    const char *name, const char *key, char *agent_id, char *error,
                    size_t error_size)
{
    const char *params [] = { tenant_name, tenant_id, name, key };
    PGresult *result = PQexecParams (conn,
        "INSERT INTO agents (tenant_id, name, public_key)"
        " SELECT id, $3::text, $4::text FROM tenants"
        " WHERE ($1::text IS NULL OR name = $1::text) AND ($2::uuid IS NULL OR id = $2::uuid)"
        "   AND ($1::text IS NOT NULL OR $2::uuid IS NOT NULL)"
        " RETURNING id",
        4, NULL, params, NULL, NULL, 0);
    agentkeys_result_t rc = AGENTKEYS_OK;
    if (PQresultStatus (result) != PGRES_TUPLES_OK) {
        const char *state = PQresultErrorField (result, PG_DIAG_SQLSTATE);
        const char *constraint = PQresultErrorField (result, PG_DIAG_CONSTRAINT_NAME);
        if (state && streq (state, "23505") && constraint
        &&  streq (constraint, "agents_active_name"))
            rc = AGENTKEYS_NAME_TAKEN;
        else {
            snprintf (error, error_size, "%s", PQresultErrorMessage (result));
            error [strcspn (error, "\n")] = 0;
            rc = AGENTKEYS_FAILED;
        }
    }
    else
    if (PQntuples (result) == 0)
        rc = AGENTKEYS_NO_TENANT;
    else
    if (agent_id)
        snprintf (agent_id, 37, "%s", PQgetvalue (result, 0, 0));
    PQclear (result);
    return rc;
}

int
agentkeys_invalidate (const char *redis_url, const char *key)
{
    kv_t *kv = redis_url && *redis_url ? kv_new (redis_url, 2000) : NULL;
    int rc = kv && registry_invalidate (kv, key) == 0 ? 0 : -1;
    kv_destroy (&kv);
    return rc;
}
