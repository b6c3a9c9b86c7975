/*  me: what a signed-in user does to their own account (issue 21): change
    their password and list and end their sessions.

    Changing the password needs the current one (a stolen access token
    alone must not take the account over), checked under the login limits
    (auth_limit_*: a wrong current password counts as a failed login), and
    ends every other session of the user: the one asking stays signed in,
    whoever else held the account does not. A wrong current password is
    403, not 401: the caller's token is fine, and 401 would tell the
    dashboard its session ended. Sessions are listed and ended only among
    the caller's own; another user's session id is 404, as if it were not
    there.
*/
#include "audit.h"
#include "people.h"
#include "resource.h"
#include "../lib/log.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

int
api_me_password (api_call_t *call, json_t **reply)
{
    static const char *const known [] = { "current_password", "password", NULL };
    const char *current, *password;
    int status;
    if ((status = api_json_only (call->body, known, reply))
    ||  (status = api_json_string (call->body, "current_password", true, 1024, &current, reply))
    ||  (status = api_json_string (call->body, "password", true, 1024, &password, reply)))
        return status;
    if (auth_password_check (password))
        return api_error (reply, 400, "a password has 12 to 256 characters", "password");
    const char *params [] = { call->user_id, NULL };
    PGresult *result = resource_query (call, reply, "read the user's password",
        "SELECT password_hash, email FROM users WHERE id = $1 FOR UPDATE", 1, params);
    if (!result)
        return 500;
    if (PQntuples (result) != 1) {
        PQclear (result);
        return api_error (reply, 404, "no such user", NULL);
    }
    char email [256];
    snprintf (email, sizeof email, "%s", PQgetvalue (result, 0, 1));
    int wait = auth_limit_wait (call->kv, email, call->client);
    if (wait > 0) {
        PQclear (result);
        call->retry_after = wait;
        return api_error (reply, 429, "too many failed attempts; try again later", NULL);
    }
    bool valid = crypto_pwhash_str_verify (PQgetvalue (result, 0, 0), current,
                                           strlen (current)) == 0;
    PQclear (result);
    if (!valid) {
        auth_limit_fail (call->kv, email, call->client);
        log_info ("password change refused: wrong current password", "tenant", call->tenant_id,
                  "user", call->user_id, "client", call->client);
        return api_error (reply, 403, "the current password is not right", "current_password");
    }
    char hash [128];
    if (auth_password_hash (password, hash))
        return api_error (reply, 500, "cannot hash the password", NULL);
    const char *change [] = { call->user_id, hash, call->session_id };
    result = resource_query (call, reply, "change the user's password",
        "WITH changed AS (UPDATE users SET password_hash = $2 WHERE id = $1 RETURNING id),"
        "     spent AS (UPDATE password_links SET used_at = now ()"
        "                WHERE user_id = $1 AND used_at IS NULL RETURNING id)"
        " UPDATE sessions SET revoked_at = now (), revoked_why = 'password'"
        "  WHERE user_id = $1 AND id <> $3 AND revoked_at IS NULL", 3, change);
    sodium_memzero (hash, sizeof hash);
    if (!result)
        return 500;
    log_info ("password changed; other sessions ended", "tenant", call->tenant_id,
              "user", call->user_id, "sessions", PQcmdTuples (result));
    json_t *detail = json_pack ("{s:s, s:i}", "email", email, "sessions_ended",
                                atoi (PQcmdTuples (result)));
    PQclear (result);
    if ((status = audit_call (call, reply, "password.change", call->user_id, detail)))
        return status;
    return resource_reply (reply, 204, NULL);
}

int
api_me_sessions (api_call_t *call, json_t **reply)
{
    const char *extra [] = { call->user_id, call->session_id };
    return resource_list_of (call, reply, "list the user's sessions",
        "SELECT jsonb_build_object ('id', id, 'created_at', drift_iso (created_at),"
        "       'last_used_at', drift_iso (rotated_at), 'expires_at', drift_iso (expires_at),"
        "       'current', id = $5)"
        "  FROM sessions WHERE tenant_id = $1 AND user_id = $4 AND revoked_at IS NULL"
        "   AND expires_at > now ()"
        " ORDER BY id = $5 DESC, rotated_at DESC, id LIMIT $2 OFFSET $3", 2, extra);
}

int
api_me_session_revoke (api_call_t *call, json_t **reply)
{
    if (!api_is_uuid (call->params [0]))
        return api_error (reply, 404, "no such session", NULL);
    const char *params [] = { call->params [0], call->user_id };
    PGresult *result = resource_query (call, reply, "end a session",
        "UPDATE sessions SET revoked_at = now (), revoked_why = 'revoked'"
        " WHERE id = $1 AND user_id = $2 AND revoked_at IS NULL", 2, params);
    if (!result)
        return 500;
    bool ended = strcmp (PQcmdTuples (result), "1") == 0;
    PQclear (result);
    if (!ended)
        return api_error (reply, 404, "no such session", NULL);
    int status = audit_call (call, reply, "session.revoke", call->params [0], NULL);
    if (status)
        return status;
    log_info ("session ended by its user", "tenant", call->tenant_id, "user", call->user_id,
              "session", call->params [0]);
    return resource_reply (reply, 204, NULL);
}
