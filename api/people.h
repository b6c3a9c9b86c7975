/*  people: the routes of people and machines beside a tenant's users
    (api/users.c, whose table api_account_routes routes them all): a
    signed-in user's own password and sessions (api/me.c), one-time
    set-password links (api/password.c) and API tokens (api/tokens.c).

    None of these routes takes an API token: a token is a machine's, for
    the resource routes (api/routes.c) only, so a leaked token can neither
    mint more tokens nor touch anyone's account.
*/
#ifndef API_PEOPLE_H_INCLUDED
#define API_PEOPLE_H_INCLUDED

#include "api.h"
#include "auth.h"

//  How long a set-password link lives.
#define PASSWORD_LINK_TTL "24 hours"

//  A new set-password link for user (the call's tenant set), made by by:
//  earlier unspent links of the user are spent, the new one stored as a
//  hash. Its token (TENANT.LINK_ID.SECRET, caller frees) and expiry (ISO
//  8601 UTC) in expires; NULL when the database refused.
char *password_link_issue (PGconn *conn, const char *tenant, const char *user, const char *by,
                           char expires [32]);

//  POST /api/v1/password: {token, password}, an AuthProvider route (the
//  local provider's set_password): the link spent, the password set, the
//  user's sessions ended. A bad, spent or expired link is 401 and counts
//  as a failure of the client address (auth_limit_fail).
auth_route_fn password_link_use;

//  An invitation's link mailed to email through the tenant's email channel
//  (api/invite.c), when it has one and --public-url is set: the answer's
//  "invitation_email", {sent, channel?, error?} (caller owns it).
json_t *invite_mail (api_call_t *call, const char *email, const char *token,
                     const char *expires);

//  The caller's own account (api/me.c).
api_handler_fn api_me_password;
api_handler_fn api_me_sessions;
api_handler_fn api_me_session_revoke;

//  API tokens (api/tokens.c).
api_handler_fn api_tokens_list;
api_handler_fn api_tokens_create;
api_handler_fn api_tokens_revoke;

//  Who an API token is, as the database says now (conn in a transaction,
//  the token's tenant set): 0 with *session (the role: the token's, never
//  more than its maker's now; the email: "NAME (API token)"), or -1 when it
//  is unknown, revoked, expired, its hash differs (constant time) or its
//  maker is disabled. Notes its use (last_used_at, at most once a minute).
int api_token_verify (PGconn *conn, const char *id, const char *hash, auth_session_t *session);

#endif
