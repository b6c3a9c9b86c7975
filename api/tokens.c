/*  tokens: a tenant's API tokens (issue 21), the credentials of CI jobs and
    scripts: list, create (the token answered once), revoke; and the check
    the server makes when one is presented (api_token_verify).

    A token is named, has its own role (viewer or admin; never owner) and
    an optional expiry, and is stored only as the hash of its secret
    (api/credential.h). A token made in the dashboard belongs to its maker:
    it can never do more than they may now (the lesser of the two roles),
    it stops when they are disabled and goes when they are removed. A token
    made by the operator (`drift token create`, cmd/token.c, through the
    same api_token_create) has no maker and only its own role. The time of
    last use is written at most once a minute per token, so a busy CI job
    does not turn every read into a write.
*/
#include "audit.h"
#include "people.h"
#include "credential.h"
#include "resource.h"
#include "tokens.h"
#include "../lib/log.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ROW_SQL \
    "jsonb_build_object ('id', t.id, 'name', t.name, 'role', t.role," \
    " 'created_by', t.created_by, 'created_at', drift_iso (t.created_at)," \
    " 'expires_at', drift_iso (t.expires_at), 'last_used_at', drift_iso (t.last_used_at)," \
    " 'revoked_at', drift_iso (t.revoked_at))::text"

bool
api_token_name_valid (const char *name)
{
    size_t length = name ? strlen (name) : 0;
    if (length < 1 || length > 63 || name [0] == '-' || name [0] == '.' || name [0] == '_')
        return false;
    for (const char *c = name; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '-' || *c == '.'
           || *c == '_'))
            return false;
    return true;
}

char *
api_token_create (PGconn *conn, const char *tenant, const char *name, const char *role,
                  const char *user, const char *by, const char *expires_at, PGresult **row)
{
    char id [37], hash [65];
    char *token = credential_token_new (tenant, id, hash);
    *row = NULL;
    if (!token)
        return NULL;
    const char *params [] = { tenant, id, name, role, hash, user, by, expires_at };
    *row = PQexecParams (conn,
        "INSERT INTO api_tokens AS t (tenant_id, id, name, role, hash, user_id, created_by,"
        "                             expires_at)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8::timestamptz) RETURNING " ROW_SQL,
        8, NULL, params, NULL, NULL, 0);
    if (PQresultStatus (*row) != PGRES_TUPLES_OK) {
        sodium_memzero (token, strlen (token));
        free (token);
        return NULL;
    }
    return token;
}

int
api_tokens_list (api_call_t *call, json_t **reply)
{
    return resource_list (call, reply, "listing API tokens",
        "SELECT " ROW_SQL " FROM api_tokens t WHERE t.tenant_id = $1::uuid"
        " ORDER BY t.revoked_at IS NOT NULL, t.created_at DESC, t.id"
        " LIMIT $2::bigint OFFSET $3::bigint");
}

int
api_tokens_create (api_call_t *call, json_t **reply)
{
    static const char *const known [] = { "name", "role", "expires_at", NULL };
    const char *name, *role, *expires_at;
    int status;
    if ((status = api_json_only (call->body, known, reply))
    ||  (status = api_json_string (call->body, "name", true, 63, &name, reply))
    ||  (status = api_json_string (call->body, "role", true, 16, &role, reply))
    ||  (status = api_json_string (call->body, "expires_at", false, 40, &expires_at, reply))
    ||  (status = resource_expiry (expires_at, reply)))
        return status;
    if (!api_token_name_valid (name))
        return api_error (reply, 400, "name must be 1 to 63 of a-z, 0-9, '.', '_' and '-', "
                          "starting with a letter or digit", "name");
    if (strcmp (role, "viewer") && strcmp (role, "admin"))
        return api_error (reply, 400, "role is viewer or admin", "role");
    if (strcmp (role, "admin") == 0 && call->role < API_ROLE_ADMIN)
        return api_error (reply, 403, "a token cannot have more rights than its maker", "role");
    PGresult *row;
    char *token = api_token_create (call->conn, call->tenant_id, name, role, call->user_id,
                                    resource_actor (call), expires_at, &row);
    if (!token) {
        bool taken = strcmp (resource_sqlstate (row), "23505") == 0;
        if (!taken)
            log_error ("api: cannot create an API token", "tenant", call->tenant_id,
                       "error", row ? PQresultErrorMessage (row) : "out of memory");
        PQclear (row);
        return taken ? api_error (reply, 409, "a live token has this name", "name")
                     : api_error (reply, 500, "cannot create the token", NULL);
    }
    json_t *item = resource_row (row, 0);
    PQclear (row);
    *reply = json_pack ("{s:o, s:s}", "token", item ? item : json_null (), "secret", token);
    sodium_memzero (token, strlen (token));
    free (token);
    //  The token's id, name, role and expiry: never its secret.
    if ((status = audit_call (call, reply, "token.create",
                              json_string_value (json_object_get (item, "id")),
                              json_pack ("{s:s, s:s, s:s?}", "name", name, "role", role,
                                         "expires_at", expires_at))))
        return status;
    log_info ("API token created", "tenant", call->tenant_id, "name", name, "role", role,
              "by", call->user_id);
    return 201;
}

int
api_tokens_revoke (api_call_t *call, json_t **reply)
{
    if (!api_is_uuid (call->params [0]))
        return api_error (reply, 404, "no such token", NULL);
    const char *params [] = { call->params [0] };
    PGresult *result = resource_query (call, reply, "revoking an API token",
        "UPDATE api_tokens SET revoked_at = now () WHERE id = $1 AND revoked_at IS NULL"
        " RETURNING name", 1, params);
    if (!result)
        return 500;
    json_t *revoked = PQntuples (result) == 1
                    ? json_pack ("{s:s}", "name", PQgetvalue (result, 0, 0)) : NULL;
    PQclear (result);
    if (!revoked)
        return api_error (reply, 404, "no such live token", NULL);
    int status = audit_call (call, reply, "token.revoke", call->params [0], revoked);
    if (status)
        return status;
    log_info ("API token revoked", "tenant", call->tenant_id, "token", call->params [0],
              "by", call->user_id);
    return resource_reply (reply, 204, NULL);
}

int
api_token_verify (PGconn *conn, const char *id, const char *hash, auth_session_t *session)
{
    const char *params [] = { id };
    PGresult *result = PQexecParams (conn,
        "SELECT t.hash, t.name,"
        "       CASE WHEN u.role IS NULL OR t.role = 'viewer' OR u.role <> 'viewer'"
        "            THEN t.role ELSE u.role END,"
        "       t.last_used_at IS NULL OR t.last_used_at < now () - interval '1 minute'"
        "  FROM api_tokens t LEFT JOIN users u ON u.tenant_id = t.tenant_id AND u.id = t.user_id"
        " WHERE t.id = $1 AND t.revoked_at IS NULL"
        "   AND (t.expires_at IS NULL OR t.expires_at > now ())"
        "   AND (t.user_id IS NULL OR NOT u.disabled)", 1, NULL, params, NULL, NULL, 0);
    int rc = -1;
    bool stale = false;
    if (PQresultStatus (result) == PGRES_TUPLES_OK && PQntuples (result) == 1
    &&  credential_equal (PQgetvalue (result, 0, 0), hash)) {
        snprintf (session->role, sizeof session->role, "%s", PQgetvalue (result, 0, 2));
        snprintf (session->email, sizeof session->email, "%s (API token)",
                  PQgetvalue (result, 0, 1));
        stale = strcmp (PQgetvalue (result, 0, 3), "t") == 0;
        rc = 0;
    }
    PQclear (result);
    if (rc == 0 && stale) {
        //  Best effort: a token that cannot note its use still works.
        result = PQexecParams (conn, "UPDATE api_tokens SET last_used_at = now () WHERE id = $1",
                               1, NULL, params, NULL, NULL, 0);
        if (PQresultStatus (result) != PGRES_COMMAND_OK)
            log_warn ("cannot note an API token's use", "token", id,
                      "error", PQresultErrorMessage (result));
        PQclear (result);
    }
    return rc;
}
