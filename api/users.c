/*  users: the routes of a tenant's accounts: who am I (/me, any role) and
    the management of users (an admin lists them; the owner creates or
    invites, changes a role, disables, removes, makes a new set-password
    link). The table at the end also routes a user's own password and
    sessions (api/me.c) and the API tokens (api/tokens.c): api/people.h.

    Everything runs under the caller's tenant (row-level security), so an id
    of another tenant's user is simply not found (404). The last enabled
    owner of a tenant can be neither demoted, disabled nor removed (409): the owners'
    rows are locked first, so two owners demoting each other at once cannot
    both succeed. Disabling a user also revokes their sessions, and because
    every request checks the session and takes the role from the database,
    a role change or a disable applies at the user's next request.
*/
#include "server.h"
#include "audit.h"
#include "people.h"
#include "resource.h"
#include "../lib/log.h"

#include <sodium.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_TIME(column) \
    "to_char (" column " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"

static const char *const s_roles [] = { "owner", "admin", "viewer", NULL };

static bool
s_role_known (const char *role)
{
    for (int i = 0; s_roles [i]; i++)
        if (strcmp (role, s_roles [i]) == 0)
            return true;
    return false;
}

static json_t *
s_user (PGresult *result, int row)
{
    return json_pack ("{s:s, s:s, s:s, s:s, s:b}", "id", PQgetvalue (result, row, 0),
                      "email", PQgetvalue (result, row, 1), "role", PQgetvalue (result, row, 2),
                      "created_at", PQgetvalue (result, row, 3),
                      "disabled", strcmp (PQgetvalue (result, row, 4), "t") == 0);
}

#define S_USER_COLUMNS "id, email, role, " S_TIME ("created_at") ", disabled"

static int
s_failed (PGresult *result, json_t **reply, const char *what)
{
    log_error ("users statement failed", "what", what, "error", PQresultErrorMessage (result));
    PQclear (result);
    return api_error (reply, 500, what, NULL);
}

static int
s_me (api_call_t *call, json_t **reply)
{
    const char *params [] = { call->user_id };
    PGresult *result = PQexecParams (call->conn,
        "SELECT u.id, u.email, u.role, " S_TIME ("u.created_at") ", u.disabled, t.id, t.name"
        "  FROM users u JOIN tenants t ON t.id = u.tenant_id WHERE u.id = $1",
        1, NULL, params, NULL, NULL, 0);
    if (PQresultStatus (result) != PGRES_TUPLES_OK || PQntuples (result) != 1)
        return s_failed (result, reply, "cannot read the user");
    *reply = json_pack ("{s:o, s:{s:s, s:s}}", "user", s_user (result, 0), "tenant",
                        "id", PQgetvalue (result, 0, 5), "name", PQgetvalue (result, 0, 6));
    PQclear (result);
    return 200;
}

//  A list parameter: absent (fallback) or a whole number in low..high.
static int
s_query_long (api_call_t *call, const char *name, long low, long high, long fallback,
              long *value, json_t **reply)
{
    const char *text = json_string_value (json_object_get (call->query, name));
    *value = fallback;
    if (!text)
        return 0;
    char *end;
    *value = strtol (text, &end, 10);
    if (!*text || *end || *value < low || *value > high) {
        char message [80];
        snprintf (message, sizeof message, "must be a whole number from %ld to %ld", low, high);
        return api_error (reply, 400, message, name);
    }
    return 0;
}

static int
s_list (api_call_t *call, json_t **reply)
{
    long limit, offset;
    int status;
    if ((status = s_query_long (call, "limit", 1, 200, 50, &limit, reply))
    ||  (status = s_query_long (call, "offset", 0, 1000000, 0, &offset, reply)))
        return status;
    char limit_text [24], offset_text [24];
    snprintf (limit_text, sizeof limit_text, "%ld", limit + 1);
    snprintf (offset_text, sizeof offset_text, "%ld", offset);
    const char *params [] = { limit_text, offset_text };
    PGresult *result = PQexecParams (call->conn,
        "SELECT " S_USER_COLUMNS " FROM users ORDER BY created_at, id LIMIT $1 OFFSET $2",
        2, NULL, params, NULL, NULL, 0);
    if (PQresultStatus (result) != PGRES_TUPLES_OK)
        return s_failed (result, reply, "cannot list users");
    int rows = PQntuples (result);
    if (rows == 0 && offset > 0) {
        PQclear (result);
        return api_error (reply, 400, "offset is beyond the end", "offset");
    }
    json_t *items = json_array ();
    for (int row = 0; row < rows && row < limit; row++)
        json_array_append_new (items, s_user (result, row));
    *reply = json_pack ("{s:o, s:I, s:I, s:b}", "items", items, "offset", (json_int_t) offset,
                        "limit", (json_int_t) limit, "more", rows > limit);
    PQclear (result);
    return 200;
}

//  An invited user's password until they choose one: random, never shown,
//  hashed like any other so their login costs what everyone's does.
static int
s_unknown_password (char hash [128])
{
    uint8_t secret [32];
    char text [65];
    randombytes_buf (secret, sizeof secret);
    sodium_bin2hex (text, sizeof text, secret, sizeof secret);
    int rc = auth_password_hash (text, hash);
    sodium_memzero (secret, sizeof secret);
    sodium_memzero (text, sizeof text);
    return rc;
}

//  A set-password link for the user of reply (a user object) added to it
//  as "password_link": {token, expires_at}; 0 or 500.
static int
s_add_link (api_call_t *call, const char *user, json_t **reply)
{
    char expires [32];
    char *token = password_link_issue (call->conn, call->tenant_id, user, resource_actor (call),
                                       expires);
    if (!token) {
        json_decref (*reply);
        return api_error (reply, 500, "cannot make a set-password link", NULL);
    }
    json_object_set_new (*reply, "password_link",
                         json_pack ("{s:s, s:s}", "token", token, "expires_at", expires));
    sodium_memzero (token, strlen (token));
    free (token);
    return 0;
}

//  Create a user with a password, or (no password) invite them: the
//  answer then holds their one-time set-password link.
static int
s_create (api_call_t *call, json_t **reply)
{
    static const char *const known [] = { "email", "password", "role", NULL };
    const char *email, *password, *role;
    char lower [256], hash [128];
    int status;
    if ((status = api_json_only (call->body, known, reply))
    ||  (status = api_json_string (call->body, "email", true, 254, &email, reply))
    ||  (status = api_json_string (call->body, "password", false, 1024, &password, reply))
    ||  (status = api_json_string (call->body, "role", true, 16, &role, reply)))
        return status;
    if (auth_email_normalize (email, lower))
        return api_error (reply, 400, "not an email address", "email");
    if (password && auth_password_check (password))
        return api_error (reply, 400, "a password has 12 to 256 characters", "password");
    if (!s_role_known (role))
        return api_error (reply, 400, "role is owner, admin or viewer", "role");
    if (password ? auth_password_hash (password, hash) : s_unknown_password (hash))
        return api_error (reply, 500, "cannot hash the password", NULL);
    const char *params [] = { call->tenant_id, lower, hash, role };
    PGresult *result = PQexecParams (call->conn,
        "INSERT INTO users (tenant_id, email, password_hash, role) VALUES ($1, $2, $3, $4)"
        " RETURNING " S_USER_COLUMNS, 4, NULL, params, NULL, NULL, 0);
    sodium_memzero (hash, sizeof hash);
    if (PQresultStatus (result) != PGRES_TUPLES_OK) {
        const char *state = PQresultErrorField (result, PG_DIAG_SQLSTATE);
        if (state && strcmp (state, "23505") == 0) {
            PQclear (result);
            return api_error (reply, 409, "the email address is taken", "email");
        }
        return s_failed (result, reply, "cannot create the user");
    }
    *reply = s_user (result, 0);
    char user [37];
    snprintf (user, sizeof user, "%s", PQgetvalue (result, 0, 0));
    PQclear (result);
    if (!password && (status = s_add_link (call, user, reply)))
        return status;
    if (!password) {
        json_t *link = json_object_get (*reply, "password_link");
        json_object_set_new (*reply, "invitation_email",
            invite_mail (call, lower, json_string_value (json_object_get (link, "token")),
                         json_string_value (json_object_get (link, "expires_at"))));
    }
    if ((status = audit_call (call, reply, password ? "user.create" : "user.invite", user,
                              json_pack ("{s:s, s:s}", "email", lower, "role", role))))
        return status;
    log_info (password ? "user created" : "user invited", "tenant", call->tenant_id,
              "by", call->user_id, "role", role);
    return 201;
}

//  POST /users/{id}/password-link: a new link for a user who lost theirs
//  (or their password); older links of the user are spent.
static int
s_link (api_call_t *call, json_t **reply)
{
    if (!api_is_uuid (call->params [0]))
        return api_error (reply, 404, "no such user", NULL);
    const char *params [] = { call->params [0] };
    PGresult *result = PQexecParams (call->conn,
        "SELECT " S_USER_COLUMNS " FROM users WHERE id = $1 AND NOT disabled",
        1, NULL, params, NULL, NULL, 0);
    if (PQresultStatus (result) != PGRES_TUPLES_OK)
        return s_failed (result, reply, "cannot read the user");
    if (PQntuples (result) != 1) {
        PQclear (result);
        return api_error (reply, 404, "no such enabled user", NULL);
    }
    *reply = s_user (result, 0);
    PQclear (result);
    int status = s_add_link (call, call->params [0], reply);
    if (status == 0)
        status = audit_call (call, reply, "user.password_link", call->params [0],
                             json_pack ("{s:O}", "email", json_object_get (*reply, "email")));
    if (status)
        return status;
    log_info ("set-password link made", "tenant", call->tenant_id, "user", call->params [0],
              "by", call->user_id);
    return 201;
}

//  The enabled owners, locked (so two owners stepping down or removing
//  each other at once cannot both succeed): how many, and whether id is
//  one of them. -1 when the database failed (reply set).
static int
s_owners (api_call_t *call, const char *id, bool *is_owner, json_t **reply)
{
    PGresult *result = PQexec (call->conn,
        "SELECT id FROM users WHERE role = 'owner' AND NOT disabled FOR UPDATE");
    if (PQresultStatus (result) != PGRES_TUPLES_OK) {
        s_failed (result, reply, "cannot read the owners");
        return -1;
    }
    int owners = PQntuples (result);
    *is_owner = false;
    for (int row = 0; row < owners; row++)
        *is_owner |= strcmp (PQgetvalue (result, row, 0), id) == 0;
    PQclear (result);
    return owners;
}

//  DELETE /users/{id}: the user, their sessions, links and tokens go (the
//  foreign keys cascade); the last owner stays.
static int
s_remove (api_call_t *call, json_t **reply)
{
    if (!api_is_uuid (call->params [0]))
        return api_error (reply, 404, "no such user", NULL);
    bool is_owner;
    int owners = s_owners (call, call->params [0], &is_owner, reply);
    if (owners < 0)
        return 500;
    if (is_owner && owners == 1)
        return api_error (reply, 409, "the last owner cannot be removed", NULL);
    const char *params [] = { call->params [0] };
    PGresult *result = PQexecParams (call->conn,
        "DELETE FROM users WHERE id = $1 RETURNING email, role", 1, NULL, params, NULL, NULL, 0);
    if (PQresultStatus (result) != PGRES_TUPLES_OK)
        return s_failed (result, reply, "cannot remove the user");
    json_t *removed = PQntuples (result) == 1
        ? json_pack ("{s:s, s:s}", "email", PQgetvalue (result, 0, 0),
                     "role", PQgetvalue (result, 0, 1)) : NULL;
    PQclear (result);
    if (!removed)
        return api_error (reply, 404, "no such user", NULL);
    int status = audit_call (call, reply, "user.remove", call->params [0], removed);
    if (status)
        return status;
    log_info ("user removed", "tenant", call->tenant_id, "user", call->params [0],
              "by", call->user_id);
    *reply = NULL;
    return 204;
}

static int
s_update (api_call_t *call, json_t **reply)
{
    static const char *const known [] = { "role", "disabled", NULL };
    const char *role;
    int status;
    if (!api_is_uuid (call->params [0]))
        return api_error (reply, 404, "no such user", NULL);
    if ((status = api_json_only (call->body, known, reply))
    ||  (status = api_json_string (call->body, "role", false, 16, &role, reply)))
        return status;
    json_t *disabled = json_object_get (call->body, "disabled");
    if (disabled && !json_is_boolean (disabled))
        return api_error (reply, 400, "field must be true or false", "disabled");
    if (role && !s_role_known (role))
        return api_error (reply, 400, "role is owner, admin or viewer", "role");

    //  Lock the owners, then see whether this change would leave none.
    bool target_owner;
    int owners = s_owners (call, call->params [0], &target_owner, reply);
    if (owners < 0)
        return 500;
    bool leaves_owner = (role && strcmp (role, "owner")) || json_is_true (disabled);
    if (target_owner && leaves_owner && owners == 1)
        return api_error (reply, 409, "the last owner cannot be demoted or disabled",
                          role && strcmp (role, "owner") ? "role" : "disabled");

    const char *params [] = { call->params [0], role,
                              disabled ? (json_is_true (disabled) ? "t" : "f") : NULL };
    PGresult *result = PQexecParams (call->conn,
        "UPDATE users SET role = coalesce ($2, role), disabled = coalesce ($3::boolean, disabled)"
        " WHERE id = $1 RETURNING " S_USER_COLUMNS, 3, NULL, params, NULL, NULL, 0);
    if (PQresultStatus (result) != PGRES_TUPLES_OK)
        return s_failed (result, reply, "cannot change the user");
    if (PQntuples (result) == 0) {
        PQclear (result);
        return api_error (reply, 404, "no such user", NULL);
    }
    *reply = s_user (result, 0);
    PQclear (result);
    if (json_is_true (disabled)) {
        const char *revoke [] = { call->params [0] };
        result = PQexecParams (call->conn,
            "UPDATE sessions SET revoked_at = now (), revoked_why = 'disabled'"
            " WHERE user_id = $1 AND revoked_at IS NULL", 1, NULL, revoke, NULL, NULL, 0);
        if (PQresultStatus (result) != PGRES_COMMAND_OK) {
            json_decref (*reply);
            return s_failed (result, reply, "cannot end the user's sessions");
        }
        PQclear (result);
    }
    //  What was asked, and the user as they are now.
    json_t *detail = json_pack ("{s:O, s:O, s:O}", "email", json_object_get (*reply, "email"),
                                "role", json_object_get (*reply, "role"),
                                "disabled", json_object_get (*reply, "disabled"));
    if ((status = audit_call (call, reply, "user.change", call->params [0], detail)))
        return status;
    log_info ("user changed", "tenant", call->tenant_id, "user", call->params [0],
              "by", call->user_id);
    return 200;
}

//  People and machines: a token may use none of these (api/people.h).
const api_route_t api_account_routes [] = {
    { "GET", "/api/v1/me", API_ROLE_VIEWER, s_me },
    { "POST", "/api/v1/me/password", API_ROLE_VIEWER, api_me_password },
    { "GET", "/api/v1/me/sessions", API_ROLE_VIEWER, api_me_sessions },
    { "DELETE", "/api/v1/me/sessions/{id}", API_ROLE_VIEWER, api_me_session_revoke },
    { "GET", "/api/v1/users", API_ROLE_ADMIN, s_list },
    { "POST", "/api/v1/users", API_ROLE_OWNER, s_create },
    { "PATCH", "/api/v1/users/{id}", API_ROLE_OWNER, s_update },
    { "DELETE", "/api/v1/users/{id}", API_ROLE_OWNER, s_remove },
    { "POST", "/api/v1/users/{id}/password-link", API_ROLE_OWNER, s_link },
    { "GET", "/api/v1/tokens", API_ROLE_ADMIN, api_tokens_list },
    { "POST", "/api/v1/tokens", API_ROLE_ADMIN, api_tokens_create },
    { "DELETE", "/api/v1/tokens/{id}", API_ROLE_ADMIN, api_tokens_revoke },
    { NULL, NULL, 0, NULL }
};
