/*  auth: who may use the dashboard API, behind one interface.

    An AuthProvider answers the five account routes (signup, login,
    refresh, logout, set a password by link) and, on every authenticated request, whether the
    access token's session is still alive and what the user's role is now.
    The server (api/server.c) owns HTTP, bodies and transactions, and the
    JWT format (api/jwt.h) is common to every provider, so another provider
    (OIDC, LDAP) is one more struct of these function pointers.
    auth_local.c is the first: accounts in PostgreSQL, Argon2id passwords,
    login rate limits in Redis.
*/
#ifndef AUTH_H_INCLUDED
#define AUTH_H_INCLUDED

#include "jwt.h"
#include "../lib/kv.h"

#include <jansson.h>
#include <libpq-fe.h>
#include <stdbool.h>

//  One account request, as the server hands it over.
typedef struct {
    PGconn *conn;                // in a transaction; no tenant set yet
    kv_t *kv;                    // this thread's Redis (rate limits)
    json_t *body;                // the JSON object sent, or NULL
    const char *client;          // the client's address
    const char *tenant_id;       // logout: the access token's tenant, else NULL
    const char *session_id;      // logout: the access token's session, else NULL
    int retry_after;             // out: seconds to wait, with a 429
    bool keep;                   // out: commit even though the answer is an error
} auth_request_t;

//  A live session's user, as the database says now (not as the token says).
typedef struct {
    char role [8];               // owner, admin or viewer
    char email [256];            // for created_by / suppressed_by
} auth_session_t;

typedef struct _auth_provider_t auth_provider_t;

//  An account route: fills *reply (an object, an api_error, or NULL for
//  204) and returns the HTTP status. The server commits on 2xx (or when
//  request->keep is set) and rolls back otherwise.
typedef int (auth_route_fn) (auth_provider_t *self, auth_request_t *request, json_t **reply);

struct _auth_provider_t {
    const char *name;            // "local", ...
    void *state;                 // the provider's own
    auth_route_fn *signup;       // POST /api/v1/signup
    auth_route_fn *login;        // POST /api/v1/login
    auth_route_fn *refresh;      // POST /api/v1/refresh
    auth_route_fn *logout;       // POST /api/v1/logout
    auth_route_fn *set_password; // POST /api/v1/password (a set-password link)
    //  0 when the session of claims is alive and its user enabled (conn in a
    //  transaction with the claims' tenant set), with *session filled; -1
    //  otherwise.
    int (*verify_session) (auth_provider_t *self, PGconn *conn, const jwt_claims_t *claims,
                           auth_session_t *session);
    void (*destroy) (auth_provider_t **self_p);
};

//  The local provider: signup under policy ("open", "first", "closed"),
//  access tokens of access_ttl_s signed by jwt (not owned).
auth_provider_t *auth_local_new (jwt_t *jwt, const char *policy, long access_ttl_s);

//  What local accounts accept (also used by the users routes): an email
//  address lower-cased into lower (256 bytes), and a password (12 to 256
//  characters). 0 or -1.
int auth_email_normalize (const char *email, char lower [256]);
int auth_password_check (const char *password);
//  The login failure windows (AUTH_FAIL_*: 5 failures per account, 20 per
//  client address, 15 minutes) for every other check of a secret: a
//  current password (email set) and an API token or set-password link
//  (email NULL: the address only). auth_limit_wait answers the seconds to
//  wait (0: go on, also while Redis is away), auth_limit_fail counts one.
int auth_limit_wait (kv_t *kv, const char *email, const char *client);
void auth_limit_fail (kv_t *kv, const char *email, const char *client);

//  An Argon2id hash of password (libsodium's interactive limits) into hash
//  (crypto_pwhash_STRBYTES = 128 bytes). 0, or -1 when out of memory.
int auth_password_hash (const char *password, char hash [128]);

#endif
