/*  auth_local: the first AuthProvider: accounts kept in PostgreSQL.

    Passwords are Argon2id hashes (crypto_pwhash_str, libsodium's
    interactive limits). Signup and login go through the SECURITY DEFINER
    functions of schema/migrations/0010_accounts.sql, the only cross-tenant
    steps; everything after runs under the user's tenant. A session has one
    live refresh token at a time, TENANT_ID.SESSION_ID.SECRET, stored as a
    BLAKE2b hash; a spent one presented again revokes the session.

    Login is rate limited in Redis: 5 failures per account or 20 per client
    address within 15 minutes (the window starts at the first failure) and
    further attempts, right password or not, are 429 with Retry-After
    until it ends. The checks are Lua scripts so each is one round trip
    and atomic. While Redis is unreachable logins are allowed (kv logs the
    outage once): locking every user out because a cache is down would be
    worse than Argon2id's own cost per guess. Accounts are keyed by a hash
    of the address so Redis never holds email addresses.

    Signup spends no Argon2id work on a request that will be refused: after
    the body checks come the closed policy, 10 signups per client address
    per 15 minutes (Redis), and a dry run of drift_signup that checks the
    "first" policy and the names in use; only then the hash. A tenant name
    or email in use is one answer for both, so signup does not say whether
    an address has an account somewhere.
*/
#include "auth.h"
#include "audit.h"
#include "api.h"
#include "server.h"
#include "credential.h"
#include "people.h"
#include "../lib/db.h"
#include "../lib/log.h"
#include "../lib/metrics.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define AUTH_REFRESH_DAYS "30 days"
#define AUTH_FAIL_WINDOW_S 900
#define AUTH_FAIL_ACCOUNT 5
#define AUTH_FAIL_ADDRESS 20
#define AUTH_SIGNUP_WINDOW_S 900
#define AUTH_SIGNUP_ADDRESS 10

typedef struct {
    jwt_t *jwt;                  // signs access tokens (not owned)
    char policy [8];             // signup: open, first, closed
    long access_ttl_s;           // access token lifetime
    char dummy_hash [crypto_pwhash_STRBYTES];   // verified for unknown emails (timing)
} s_local_t;

//  Count a failure: INCR, and start the window on the first one.
static const char s_fail_script [] =
    "local n = redis.call ('INCR', KEYS [1]) "
    "if n == 1 then redis.call ('EXPIRE', KEYS [1], ARGV [1]) end "
    "return n";

//  Take one attempt from KEYS [1] (ARGV [2] per ARGV [1] seconds, the window
//  starting at the first): 0 when within it, else the seconds left. INCR
//  first, so parallel attempts cannot all pass one check.
static const char s_take_script [] =
    "local n = redis.call ('INCR', KEYS [1]) "
    "if n == 1 then redis.call ('EXPIRE', KEYS [1], ARGV [1]) end "
    "if n <= tonumber (ARGV [2]) then return 0 end "
    "local ttl = redis.call ('TTL', KEYS [1]) "
    "if ttl < 1 then ttl = 1 end "
    "return ttl";

//  Seconds until every key is below its limit (ARGV [i]); 0 when all are.
static const char s_check_script [] =
    "local wait = 0 "
    "for i, key in ipairs (KEYS) do "
    "  local n = tonumber (redis.call ('GET', key) or '0') "
    "  if n >= tonumber (ARGV [i]) then "
    "    local ttl = redis.call ('TTL', key) "
    "    if ttl < 1 then ttl = 1 end "
    "    if ttl > wait then wait = ttl end "
    "  end "
    "end "
    "return wait";

//  --------------------------------------------------------------------------
//  Checks shared with the users routes

int
auth_email_normalize (const char *email, char lower [256])
{
    size_t length = email ? strlen (email) : 0;
    const char *at = email ? strchr (email, '@') : NULL;
    if (length < 3 || length > 254 || !at || at == email || !at [1] || strchr (at + 1, '@'))
        return -1;
    for (size_t i = 0; i <= length; i++) {
        unsigned char c = (unsigned char) email [i];
        if (c && (c <= ' ' || c == 0x7f))
            return -1;
        lower [i] = (char) (c >= 'A' && c <= 'Z' ? c + 32 : c);
    }
    return 0;
}

int
auth_password_check (const char *password)
{
    //  Characters, not bytes: UTF-8 continuation bytes do not count.
    size_t characters = 0;
    for (const unsigned char *p = (const unsigned char *) password; *p; p++)
        characters += (*p & 0xc0) != 0x80;
    return characters >= 12 && characters <= 256 ? 0 : -1;
}

int
auth_password_hash (const char *password, char hash [128])
{
    //  Counted, so a test (and an operator) can see what spends Argon2id.
    metric_inc (metrics_counter (metrics_default (), "drift_api_password_hashes_total",
                                 "Passwords hashed with Argon2id (signup, user creation)",
                                 NULL));
    return crypto_pwhash_str (hash, password, strlen (password),
                              crypto_pwhash_OPSLIMIT_INTERACTIVE,
                              crypto_pwhash_MEMLIMIT_INTERACTIVE) ? -1 : 0;
}

//  --------------------------------------------------------------------------
//  Sessions and tokens

static bool
s_sql_ok (PGresult *result)
{
    ExecStatusType status = PQresultStatus (result);
    return status == PGRES_TUPLES_OK || status == PGRES_COMMAND_OK;
}

static int
s_exec (PGconn *conn, const char *sql, int count, const char *const *params)
{
    PGresult *result = PQexecParams (conn, sql, count, NULL, params, NULL, NULL, 0);
    int rc = s_sql_ok (result) ? 0 : -1;
    if (rc)
        log_error ("account statement failed", "error", PQresultErrorMessage (result));
    PQclear (result);
    return rc;
}

//  A new refresh token for session, stored as its hash: token (caller frees).
static char *
s_refresh_issue (PGconn *conn, const char *tenant, const char *session)
{
    char hash [65];
    char *encoded = credential_secret (hash);
    const char *params [] = { tenant, hash, session };
    char *token = NULL;
    if (encoded && s_exec (conn, "INSERT INTO refresh_tokens (tenant_id, hash, session_id)"
                                 " VALUES ($1, $2, $3)", 3, params) == 0
    &&  (token = (char *) malloc (strlen (tenant) + strlen (session) + strlen (encoded) + 3)))
        sprintf (token, "%s.%s.%s", tenant, session, encoded);
    free (encoded);
    return token;
}

static int
s_set_tenant (PGconn *conn, const char *tenant)
{
    const char *params [] = { tenant };
    return s_exec (conn, "SELECT drift_set_tenant ($1::uuid)", 1, params);
}

//  The tokens of a session: {access_token, refresh_token, expires_in}.
static json_t *
s_tokens (s_local_t *self, PGconn *conn, const char *tenant, const char *user,
          const char *session, const char *role)
{
    jwt_claims_t claims = { 0 };
    snprintf (claims.sub, sizeof claims.sub, "%s", user);
    snprintf (claims.tid, sizeof claims.tid, "%s", tenant);
    snprintf (claims.sid, sizeof claims.sid, "%s", session);
    snprintf (claims.role, sizeof claims.role, "%s", role);
    jwt_claims_fill (&claims, time (NULL), self->access_ttl_s);
    char *access = jwt_sign (self->jwt, &claims);
    char *refresh = access ? s_refresh_issue (conn, tenant, session) : NULL;
    json_t *tokens = refresh ? json_pack ("{s:s, s:s, s:I}", "access_token", access,
                                          "refresh_token", refresh,
                                          "expires_in", (json_int_t) self->access_ttl_s)
                             : NULL;
    free (access);
    free (refresh);
    return tokens;
}

//  A new session of user in tenant (the tenant set), and its tokens.
static json_t *
s_session_new (s_local_t *self, PGconn *conn, const char *tenant, const char *user,
               const char *role)
{
    const char *params [] = { tenant, user };
    PGresult *result = PQexecParams (conn,
        "INSERT INTO sessions (tenant_id, user_id, expires_at)"
        " VALUES ($1, $2, now () + interval '" AUTH_REFRESH_DAYS "') RETURNING id",
        2, NULL, params, NULL, NULL, 0);
    json_t *tokens = NULL;
    if (PQresultStatus (result) == PGRES_TUPLES_OK && PQntuples (result) == 1)
        tokens = s_tokens (self, conn, tenant, user, PQgetvalue (result, 0, 0), role);
    else
        log_error ("cannot open a session", "tenant", tenant,
                   "error", PQresultErrorMessage (result));
    PQclear (result);
    return tokens;
}

//  --------------------------------------------------------------------------
//  Login rate limits

static void
s_limit_keys (const char *email, const char *client, char account [96], char address [96])
{
    uint8_t digest [16];
    char hex [33];
    crypto_generichash (digest, sizeof digest, (const uint8_t *) email, strlen (email),
                        NULL, 0);
    sodium_bin2hex (hex, sizeof hex, digest, sizeof digest);
    snprintf (account, 96, "drift:login:account:%s", hex);
    snprintf (address, 96, "drift:login:address:%s", client);
}

//  Seconds the client must wait, 0 when it may try (or Redis is away).
static int
s_limit_wait (kv_t *kv, const char *account, const char *address)
{
    if (!kv)
        return 0;
    char account_limit [8], address_limit [8];
    snprintf (account_limit, sizeof account_limit, "%d", AUTH_FAIL_ACCOUNT);
    snprintf (address_limit, sizeof address_limit, "%d", AUTH_FAIL_ADDRESS);
    //  Without an account (an API token, a set-password link), the address alone.
    const char *argv [] = { "EVAL", s_check_script, account ? "2" : "1",
                            account ? account : address, account ? address : address_limit,
                            account ? account_limit : NULL, address_limit };
    redisReply *reply = kv_command_argv (kv, account ? 7 : 5, argv);
    int wait = reply && reply->type == REDIS_REPLY_INTEGER ? (int) reply->integer : 0;
    if (reply && reply->type == REDIS_REPLY_ERROR)
        log_warn ("login rate limit check failed; allowing the attempt", "error", reply->str);
    if (reply)
        freeReplyObject (reply);
    return wait;
}

static void
s_limit_fail (kv_t *kv, const char *key)
{
    if (!kv)
        return;
    char window [16];
    snprintf (window, sizeof window, "%d", AUTH_FAIL_WINDOW_S);
    const char *argv [] = { "EVAL", s_fail_script, "1", key, window };
    redisReply *reply = kv_command_argv (kv, 5, argv);
    if (reply)
        freeReplyObject (reply);
}

//  Whether a login refused by the rate limit is the first from this client
//  in the window: only that one goes into the audit log, so a flood of
//  refused attempts costs one row per client and window, not one each.
static bool
s_limit_audit_first (kv_t *kv, const char *client)
{
    if (!kv)
        return true;
    char key [96], window [16];
    snprintf (key, sizeof key, "drift:login:audited:%s", client);
    snprintf (window, sizeof window, "%d", AUTH_FAIL_WINDOW_S);
    const char *argv [] = { "SET", key, "1", "NX", "EX", window };
    redisReply *reply = kv_command_argv (kv, 6, argv);
    bool first = reply && reply->type == REDIS_REPLY_STATUS;
    if (reply)
        freeReplyObject (reply);
    return first;
}

int
auth_limit_wait (kv_t *kv, const char *email, const char *client)
{
    char account [96], address [96];
    s_limit_keys (email ? email : "", client, account, address);
    return s_limit_wait (kv, email ? account : NULL, address);
}

void
auth_limit_fail (kv_t *kv, const char *email, const char *client)
{
    char account [96], address [96];
    s_limit_keys (email ? email : "", client, account, address);
    if (email)
        s_limit_fail (kv, account);
    s_limit_fail (kv, address);
}

//  --------------------------------------------------------------------------
//  Signup's checks before the hash

//  Seconds the client must wait before another signup, 0 when it may go
//  on (or Redis is away, as for logins). Every attempt that passes the
//  body checks counts.
static int
s_signup_wait (kv_t *kv, const char *client)
{
    if (!kv)
        return 0;
    char key [96], window [16], limit [16];
    snprintf (key, sizeof key, "drift:signup:address:%s", client);
    snprintf (window, sizeof window, "%d", AUTH_SIGNUP_WINDOW_S);
    snprintf (limit, sizeof limit, "%d", AUTH_SIGNUP_ADDRESS);
    const char *argv [] = { "EVAL", s_take_script, "1", key, window, limit };
    redisReply *reply = kv_command_argv (kv, 6, argv);
    int wait = reply && reply->type == REDIS_REPLY_INTEGER ? (int) reply->integer : 0;
    if (reply && reply->type == REDIS_REPLY_ERROR)
        log_warn ("signup rate limit check failed; allowing the attempt", "error", reply->str);
    if (reply)
        freeReplyObject (reply);
    return wait;
}

//  drift_signup's refusal as an answer. A name or address in use is one
//  answer for both: naming which would tell anyone whether an address
//  has an account in some tenant.
static int
s_signup_refused (PGresult *result, json_t **reply)
{
    const char *state = PQresultErrorField (result, PG_DIAG_SQLSTATE);
    if (state && strcmp (state, "42501") == 0)
        return api_error (reply, 403, "signup is closed", NULL);
    if (state && strcmp (state, "23505") == 0)
        return api_error (reply, 409, "this tenant name or email address cannot be used; "
                          "choose another tenant name, or log in", NULL);
    log_error ("signup failed", "error", PQresultErrorMessage (result));
    return api_error (reply, 500, "signup failed", NULL);
}

//  drift_signup run first with a hash no password has, in a savepoint
//  rolled back: the policy, the names in use and the lock are checked by
//  the one function that decides, before any Argon2id work. 0 when the
//  signup would succeed, else the answer's status.
static int
s_signup_dry_run (PGconn *conn, const char *const params [4], json_t **reply)
{
    if (db_exec (conn, "open signup's dry run", "SAVEPOINT signup_dry_run"))
        return api_error (reply, 500, "signup failed", NULL);
    const char *dry [] = { params [0], params [1], "$argon2id$dry-run", params [3] };
    PGresult *result = PQexecParams (conn,
        "SELECT tenant_id, user_id FROM drift_signup ($1, $2, $3, $4)",
        4, NULL, dry, NULL, NULL, 0);
    int status = PQresultStatus (result) == PGRES_TUPLES_OK && PQntuples (result) == 1
               ? 0 : s_signup_refused (result, reply);
    PQclear (result);
    if (db_exec (conn, "end signup's dry run", "ROLLBACK TO SAVEPOINT signup_dry_run")) {
        json_decref (*reply);
        return api_error (reply, 500, "signup failed", NULL);
    }
    return status;
}

//  --------------------------------------------------------------------------
//  The routes

static int
s_signup (auth_provider_t *provider, auth_request_t *request, json_t **reply)
{
    s_local_t *self = (s_local_t *) provider->state;
    static const char *const known [] = { "tenant", "email", "password", NULL };
    const char *tenant, *email, *password;
    char lower [256], hash [crypto_pwhash_STRBYTES];
    int status;
    if ((status = api_json_only (request->body, known, reply))
    ||  (status = api_json_string (request->body, "tenant", true, 63, &tenant, reply))
    ||  (status = api_json_string (request->body, "email", true, 254, &email, reply))
    ||  (status = api_json_string (request->body, "password", true, 1024, &password, reply)))
        return status;
    bool name_ok = *tenant && strlen (tenant) <= 63 && tenant [0] != '-';
    for (const char *c = tenant; *c && name_ok; c++)
        name_ok = (*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '-';
    if (!name_ok)
        return api_error (reply, 400, "a tenant name is 1 to 63 of a-z, 0-9 and -, "
                          "not starting with -", "tenant");
    if (auth_email_normalize (email, lower))
        return api_error (reply, 400, "not an email address", "email");
    if (auth_password_check (password))
        return api_error (reply, 400, "a password has 12 to 256 characters", "password");
    //  Everything cheap before the hash (Argon2id costs 64 MiB and tens of
    //  milliseconds a time): the closed policy, the client's signup rate,
    //  then the database's own verdict on the policy and the names.
    if (strcmp (self->policy, "closed") == 0)
        return api_error (reply, 403, "signup is closed", NULL);
    int wait = s_signup_wait (request->kv, request->client);
    if (wait > 0) {
        request->retry_after = wait;
        log_info ("signup refused: over the rate for this client", "client", request->client);
        return api_error (reply, 429, "too many signups from this address; try again later",
                          NULL);
    }
    const char *params [] = { tenant, lower, NULL, self->policy };
    if ((status = s_signup_dry_run (request->conn, params, reply)))
        return status;
    if (auth_password_hash (password, hash))
        return api_error (reply, 500, "cannot hash the password", NULL);
    params [2] = hash;
    PGresult *result = PQexecParams (request->conn,
        "SELECT tenant_id, user_id FROM drift_signup ($1, $2, $3, $4)",
        4, NULL, params, NULL, NULL, 0);
    sodium_memzero (hash, sizeof hash);
    if (PQresultStatus (result) != PGRES_TUPLES_OK || PQntuples (result) != 1) {
        status = s_signup_refused (result, reply);
        PQclear (result);
        return status;
    }
    char tenant_id [37], user_id [37];
    snprintf (tenant_id, sizeof tenant_id, "%s", PQgetvalue (result, 0, 0));
    snprintf (user_id, sizeof user_id, "%s", PQgetvalue (result, 0, 1));
    PQclear (result);
    //  The new tenant's first entry: its owner signed it up.
    json_t *tokens = s_set_tenant (request->conn, tenant_id)
                  || audit_actor_set (request->conn, user_id, lower, request->client, false)
                  || audit_record (request->conn, "signup", tenant_id,
                                   json_pack ("{s:s}", "tenant", tenant)) ? NULL
                   : s_session_new (self, request->conn, tenant_id, user_id, "owner");
    if (!tokens)
        return api_error (reply, 500, "cannot open a session", NULL);
    json_object_set_new (tokens, "tenant", json_pack ("{s:s, s:s}", "id", tenant_id,
                                                      "name", tenant));
    json_object_set_new (tokens, "user", json_pack ("{s:s, s:s, s:s}", "id", user_id,
                                                    "email", lower, "role", "owner"));
    log_info ("tenant signed up", "tenant", tenant_id, "name", tenant);
    *reply = tokens;
    return 201;
}

static int
s_login (auth_provider_t *provider, auth_request_t *request, json_t **reply)
{
    s_local_t *self = (s_local_t *) provider->state;
    static const char *const known [] = { "email", "password", NULL };
    const char *email, *password;
    char lower [256];
    int status;
    if ((status = api_json_only (request->body, known, reply))
    ||  (status = api_json_string (request->body, "email", true, 254, &email, reply))
    ||  (status = api_json_string (request->body, "password", true, 1024, &password, reply)))
        return status;
    if (auth_email_normalize (email, lower) || strlen (password) > 1024)
        return api_error (reply, 401, "invalid credentials", NULL);
    char account [96], address [96];
    s_limit_keys (lower, request->client, account, address);
    int wait = s_limit_wait (request->kv, account, address);
    if (wait > 0) {
        request->retry_after = wait;
        if (s_limit_audit_first (request->kv, request->client))
            request->keep = audit_login_failure (request->conn, lower, request->client,
                                                 "rate_limited") == 0;
        return api_error (reply, 429, "too many failed logins; try again later", NULL);
    }
    const char *params [] = { lower };
    PGresult *result = PQexecParams (request->conn,
        "SELECT id, tenant_id, tenant_name, role, password_hash, disabled"
        "  FROM drift_user_by_email ($1)", 1, NULL, params, NULL, NULL, 0);
    if (PQresultStatus (result) != PGRES_TUPLES_OK) {
        log_error ("login lookup failed", "error", PQresultErrorMessage (result));
        PQclear (result);
        return api_error (reply, 500, "login failed", NULL);
    }
    bool found = PQntuples (result) == 1;
    //  An unknown address costs the same hash as a known one.
    const char *hash = found ? PQgetvalue (result, 0, 4) : self->dummy_hash;
    bool valid = crypto_pwhash_str_verify (hash, password, strlen (password)) == 0
              && found && strcmp (PQgetvalue (result, 0, 5), "f") == 0;
    if (!valid) {
        //  Known or not, the attempt is recorded the same way and the
        //  answer is the same: the entry lands in the tenant of the account
        //  the address names, or in none (schema 0022). Kept although the
        //  answer is an error.
        const char *reason = !found ? "unknown" : strcmp (PQgetvalue (result, 0, 5), "f")
                           ? "disabled" : "password";
        PQclear (result);
        s_limit_fail (request->kv, account);
        s_limit_fail (request->kv, address);
        log_info ("login failed", "client", request->client);
        request->keep = audit_login_failure (request->conn, lower, request->client, reason) == 0;
        return api_error (reply, 401, "invalid credentials", NULL);
    }
    char user [37], tenant [37], tenant_name [64], role [8];
    snprintf (user, sizeof user, "%s", PQgetvalue (result, 0, 0));
    snprintf (tenant, sizeof tenant, "%s", PQgetvalue (result, 0, 1));
    snprintf (tenant_name, sizeof tenant_name, "%s", PQgetvalue (result, 0, 2));
    snprintf (role, sizeof role, "%s", PQgetvalue (result, 0, 3));
    PQclear (result);
    if (request->kv) {
        redisReply *done = kv_command (request->kv, "DEL %s", account);
        if (done)
            freeReplyObject (done);
    }
    json_t *tokens = s_set_tenant (request->conn, tenant)
                  || audit_actor_set (request->conn, user, lower, request->client, false)
                  || audit_record (request->conn, "login.success", user, NULL) ? NULL
                   : s_session_new (self, request->conn, tenant, user, role);
    if (!tokens)
        return api_error (reply, 500, "cannot open a session", NULL);
    json_object_set_new (tokens, "user",
                         json_pack ("{s:s, s:s, s:s, s:{s:s, s:s}}", "id", user,
                                    "email", lower, "role", role, "tenant", "id", tenant,
                                    "name", tenant_name));
    *reply = tokens;
    return 200;
}

static int
s_refresh (auth_provider_t *provider, auth_request_t *request, json_t **reply)
{
    s_local_t *self = (s_local_t *) provider->state;
    static const char *const known [] = { "refresh_token", NULL };
    const char *token;
    int status;
    if ((status = api_json_only (request->body, known, reply))
    ||  (status = api_json_string (request->body, "refresh_token", true, 256, &token, reply)))
        return status;
    char tenant [37], session [37], hash [65];
    if (credential_triple_parse (token, tenant, session, hash) || s_set_tenant (request->conn, tenant))
        return api_error (reply, 401, "invalid refresh token", NULL);
    const char *params [] = { hash, session };
    PGresult *result = PQexecParams (request->conn,
        "SELECT r.spent_at IS NOT NULL, s.revoked_at IS NOT NULL OR s.expires_at <= now ()"
        "       OR u.disabled, s.user_id, u.role"
        "  FROM refresh_tokens r"
        "  JOIN sessions s ON s.tenant_id = r.tenant_id AND s.id = r.session_id"
        "  JOIN users u ON u.tenant_id = s.tenant_id AND u.id = s.user_id"
        " WHERE r.hash = $1 AND r.session_id = $2"
        "   FOR UPDATE OF r, s", 2, NULL, params, NULL, NULL, 0);
    if (PQresultStatus (result) != PGRES_TUPLES_OK || PQntuples (result) != 1) {
        PQclear (result);
        return api_error (reply, 401, "invalid refresh token", NULL);
    }
    bool spent = strcmp (PQgetvalue (result, 0, 0), "t") == 0;
    bool ended = strcmp (PQgetvalue (result, 0, 1), "t") == 0;
    char user [37], role [8];
    snprintf (user, sizeof user, "%s", PQgetvalue (result, 0, 2));
    snprintf (role, sizeof role, "%s", PQgetvalue (result, 0, 3));
    PQclear (result);
    if (spent) {
        //  Two holders of one token: revoke the session for both.
        const char *revoke [] = { session };
        if (!ended && s_exec (request->conn,
                              "UPDATE sessions SET revoked_at = now (), revoked_why = 'reuse'"
                              " WHERE id = $1 AND revoked_at IS NULL", 1, revoke) == 0)
            request->keep = true;
        log_warn ("a spent refresh token was presented again; session revoked",
                  "tenant", tenant, "session", session, "client", request->client);
        return api_error (reply, 401, "invalid refresh token", NULL);
    }
    if (ended)
        return api_error (reply, 401, "the session has ended", NULL);
    const char *rotate [] = { hash, session };
    if (s_exec (request->conn, "UPDATE refresh_tokens SET spent_at = now () WHERE hash = $1",
                1, rotate)
    ||  s_exec (request->conn, "UPDATE sessions SET rotated_at = now (),"
                " expires_at = now () + interval '" AUTH_REFRESH_DAYS "' WHERE id = $1",
                1, rotate + 1))
        return api_error (reply, 500, "cannot rotate the refresh token", NULL);
    json_t *tokens = s_tokens (self, request->conn, tenant, user, session, role);
    if (!tokens)
        return api_error (reply, 500, "cannot rotate the refresh token", NULL);
    *reply = tokens;
    return 200;
}

//  End a session on logout, recorded as its user's logout (a session
//  ended already changes nothing and records nothing).
static int
s_revoke (PGconn *conn, const char *tenant, const char *session, const char *client)
{
    const char *params [] = { session };
    PGresult *result = s_set_tenant (conn, tenant) ? NULL : PQexecParams (conn,
        "UPDATE sessions s SET revoked_at = now (), revoked_why = 'logout' FROM users u"
        " WHERE u.tenant_id = s.tenant_id AND u.id = s.user_id"
        "   AND s.id = $1 AND s.revoked_at IS NULL"
        " RETURNING s.user_id, u.email", 1, NULL, params, NULL, NULL, 0);
    int rc = result && s_sql_ok (result) ? 0 : -1;
    if (rc == 0 && PQntuples (result) == 1) {
        const char *user = PQgetvalue (result, 0, 0);
        rc = audit_actor_set (conn, user, PQgetvalue (result, 0, 1), client, false)
          || audit_record (conn, "logout", user, json_pack ("{s:s}", "session", session))
           ? -1 : 0;
    }
    PQclear (result);
    return rc;
}

static int
s_logout (auth_provider_t *provider, auth_request_t *request, json_t **reply)
{
    (void) provider;
    static const char *const known [] = { "refresh_token", NULL };
    const char *token = NULL;
    int status;
    if (request->body
    &&  ((status = api_json_only (request->body, known, reply))
    ||   (status = api_json_string (request->body, "refresh_token", false, 256, &token, reply))))
        return status;
    char tenant [37], session [37], hash [65];
    if (token && credential_triple_parse (token, tenant, session, hash))
        return api_error (reply, 401, "invalid refresh token", NULL);
    if (!token && !request->session_id)
        return api_error (reply, 401, "an access token or a refresh token is required", NULL);
    if (token) {
        //  The token must be one of the session's, spent or not: knowing a
        //  session's id alone does not end it.
        const char *params [] = { hash, session };
        PGresult *result = s_set_tenant (request->conn, tenant) ? NULL
                         : PQexecParams (request->conn,
                               "SELECT 1 FROM refresh_tokens WHERE hash = $1"
                               " AND session_id = $2", 2, NULL, params, NULL, NULL, 0);
        bool known_token = result && PQresultStatus (result) == PGRES_TUPLES_OK
                        && PQntuples (result) == 1;
        PQclear (result);
        if (!known_token)
            return api_error (reply, 401, "invalid refresh token", NULL);
        if (s_revoke (request->conn, tenant, session, request->client))
            return api_error (reply, 500, "cannot end the session", NULL);
    }
    if (request->session_id && s_revoke (request->conn, request->tenant_id, request->session_id,
                                             request->client))
        return api_error (reply, 500, "cannot end the session", NULL);
    *reply = NULL;
    return 204;
}

static int
s_verify_session (auth_provider_t *provider, PGconn *conn, const jwt_claims_t *claims,
                  auth_session_t *session)
{
    (void) provider;
    if (!api_is_uuid (claims->sid) || !api_is_uuid (claims->sub))
        return -1;
    const char *params [] = { claims->sid, claims->sub };
    PGresult *result = PQexecParams (conn,
        "SELECT u.role, u.email FROM sessions s"
        "  JOIN users u ON u.tenant_id = s.tenant_id AND u.id = s.user_id"
        " WHERE s.id = $1 AND s.user_id = $2 AND s.revoked_at IS NULL"
        "   AND s.expires_at > now () AND NOT u.disabled", 2, NULL, params, NULL, NULL, 0);
    int rc = -1;
    if (PQresultStatus (result) == PGRES_TUPLES_OK && PQntuples (result) == 1) {
        snprintf (session->role, sizeof session->role, "%s", PQgetvalue (result, 0, 0));
        snprintf (session->email, sizeof session->email, "%s", PQgetvalue (result, 0, 1));
        rc = 0;
    }
    PQclear (result);
    return rc;
}

static void
s_destroy (auth_provider_t **self_p)
{
    auth_provider_t *self = *self_p;
    if (!self)
        return;
    free (self->state);
    free (self);
    *self_p = NULL;
}

auth_provider_t *
auth_local_new (jwt_t *jwt, const char *policy, long access_ttl_s)
{
    if (sodium_init () < 0 || !jwt || access_ttl_s < 1
    ||  (strcmp (policy, "open") && strcmp (policy, "first") && strcmp (policy, "closed")))
        return NULL;
    s_local_t *state = (s_local_t *) calloc (1, sizeof *state);
    auth_provider_t *self = (auth_provider_t *) calloc (1, sizeof *self);
    if (!state || !self || auth_password_hash ("no such user, never a password", state->dummy_hash)) {
        free (state);
        free (self);
        return NULL;
    }
    state->jwt = jwt;
    snprintf (state->policy, sizeof state->policy, "%s", policy);
    state->access_ttl_s = access_ttl_s;
    *self = (auth_provider_t) {
        .name = "local", .state = state, .signup = s_signup, .login = s_login,
        .refresh = s_refresh, .logout = s_logout, .set_password = password_link_use,
        .verify_session = s_verify_session,
        .destroy = s_destroy
    };
    return self;
}
