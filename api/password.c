/*  password: one-time set-password links, how an invited user chooses
    their password (issue 21).

    An owner invites a user by creating the account with no password anyone
    knows; the answer holds a link, TENANT_ID.LINK_ID.SECRET, shown once to
    the owner (and mailed when the tenant has an email channel). The link
    lives PASSWORD_LINK_TTL, is spent on first use, and a newer link of the
    same user spends the older ones. The database keeps only the hash of
    its secret, compared in constant time. Setting a password ends every
    session of the user: whoever held the account before holds it no more.
    A bad link counts against the client's address as a failed login does,
    so guessing links is bounded by the same limit as guessing passwords.
*/
#include "audit.h"
#include "people.h"
#include "credential.h"
#include "../lib/log.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

char *
password_link_issue (PGconn *conn, const char *tenant, const char *user, const char *by,
                     char expires [32])
{
    char hash [65];
    char *secret = credential_secret (hash);
    if (!secret)
        return NULL;
    const char *params [] = { tenant, user, hash, by };
    PGresult *spent = PQexecParams (conn,
        "UPDATE password_links SET used_at = now () WHERE user_id = $1 AND used_at IS NULL",
        1, NULL, params + 1, NULL, NULL, 0);
    bool ok = PQresultStatus (spent) == PGRES_COMMAND_OK;
    PQclear (spent);
    PGresult *result = ok ? PQexecParams (conn,
        "INSERT INTO password_links (tenant_id, user_id, hash, created_by, expires_at)"
        " VALUES ($1, $2, $3, $4, now () + interval '" PASSWORD_LINK_TTL "')"
        " RETURNING id, drift_iso (expires_at)", 4, NULL, params, NULL, NULL, 0) : NULL;
    char *token = NULL;
    if (result && PQresultStatus (result) == PGRES_TUPLES_OK && PQntuples (result) == 1
    &&  (token = (char *) malloc (36 + 1 + 36 + 1 + strlen (secret) + 1))) {
        sprintf (token, "%s.%s.%s", tenant, PQgetvalue (result, 0, 0), secret);
        snprintf (expires, 32, "%s", PQgetvalue (result, 0, 1));
    }
    else
        log_error ("cannot make a set-password link", "tenant", tenant, "user", user,
                   "error", result ? PQresultErrorMessage (result) : "");
    PQclear (result);
    sodium_memzero (secret, strlen (secret));
    free (secret);
    return token;
}

//  The link's user, locked, when the link is live and its hash matches:
//  0 with user and their email set, else -1.
static int
s_link_user (PGconn *conn, const char *link, const char *hash, char user [37],
             char email [256])
{
    const char *params [] = { link };
    PGresult *result = PQexecParams (conn,
        "SELECT l.hash, l.user_id, u.email FROM password_links l"
        "  JOIN users u ON u.tenant_id = l.tenant_id AND u.id = l.user_id"
        " WHERE l.id = $1 AND l.used_at IS NULL AND l.expires_at > now () AND NOT u.disabled"
        "   FOR UPDATE OF l, u", 1, NULL, params, NULL, NULL, 0);
    int rc = -1;
    if (PQresultStatus (result) == PGRES_TUPLES_OK && PQntuples (result) == 1
    &&  credential_equal (PQgetvalue (result, 0, 0), hash)) {
        snprintf (user, 37, "%s", PQgetvalue (result, 0, 1));
        snprintf (email, 256, "%s", PQgetvalue (result, 0, 2));
        rc = 0;
    }
    PQclear (result);
    return rc;
}

int
password_link_use (auth_provider_t *provider, auth_request_t *request, json_t **reply)
{
    (void) provider;
    static const char *const known [] = { "token", "password", NULL };
    const char *token, *password;
    int status;
    if ((status = api_json_only (request->body, known, reply))
    ||  (status = api_json_string (request->body, "token", true, 256, &token, reply))
    ||  (status = api_json_string (request->body, "password", true, 1024, &password, reply)))
        return status;
    if (auth_password_check (password))
        return api_error (reply, 400, "a password has 12 to 256 characters", "password");
    int wait = auth_limit_wait (request->kv, NULL, request->client);
    if (wait > 0) {
        request->retry_after = wait;
        return api_error (reply, 429, "too many failed attempts; try again later", NULL);
    }
    char tenant [37], link [37], hash [65], user [37], email [256];
    const char *set [] = { tenant };
    bool parsed = credential_triple_parse (token, tenant, link, hash) == 0;
    PGresult *result = parsed ? PQexecParams (request->conn, "SELECT drift_set_tenant ($1::uuid)",
                                              1, NULL, set, NULL, NULL, 0) : NULL;
    bool tenant_set = result && PQresultStatus (result) == PGRES_TUPLES_OK;
    PQclear (result);
    if (!tenant_set || s_link_user (request->conn, link, hash, user, email)) {
        auth_limit_fail (request->kv, NULL, request->client);
        log_info ("set-password link refused", "client", request->client);
        return api_error (reply, 401, "this link is not valid: it was used, has expired or "
                          "was replaced; ask for a new one", "token");
    }
    char new_hash [128];
    if (auth_password_hash (password, new_hash))
        return api_error (reply, 500, "cannot hash the password", NULL);
    const char *params [] = { user, new_hash };
    result = PQexecParams (request->conn,
        "WITH changed AS (UPDATE users SET password_hash = $2 WHERE id = $1 RETURNING id),"
        "     spent AS (UPDATE password_links SET used_at = now ()"
        "                WHERE user_id = $1 AND used_at IS NULL RETURNING id)"
        " UPDATE sessions SET revoked_at = now (), revoked_why = 'password'"
        "  WHERE user_id = $1 AND revoked_at IS NULL", 2, NULL, params, NULL, NULL, 0);
    sodium_memzero (new_hash, sizeof new_hash);
    status = PQresultStatus (result) == PGRES_COMMAND_OK ? 204 : 500;
    if (status == 500)
        log_error ("cannot set a password by link", "tenant", tenant,
                   "error", PQresultErrorMessage (result));
    PQclear (result);
    //  The link's holder acts: they proved it by holding the link.
    if (status == 204
    &&  (audit_actor_set (request->conn, user, email, request->client, false)
    ||   audit_record (request->conn, "password.set", user, json_pack ("{s:s}", "link", link))))
        status = 500;
    if (status == 500)
        return api_error (reply, 500, "cannot set the password", NULL);
    log_info ("password set by link", "tenant", tenant, "user", user);
    *reply = NULL;
    return 204;
}
