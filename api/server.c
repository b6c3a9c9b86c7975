/*  server: the HTTP side of `drift api`. See server.h.

    libmicrohttpd runs an internal thread pool (--threads). A request's
    body is gathered in its own state (at most 64 KiB kept; the rest is
    read and dropped so the 413 can be answered on a clean connection),
    then dispatched once complete. Each pool thread owns one PostgreSQL
    connection and one Redis connection, made on its first request and
    remembered in a list the server closes at the end; a thread never
    shares them, so there is no locking around a request.

    The order of checks for an API request is fixed and matches
    docs/API.md: route (404, 405), body (413, 415, 400), token (401),
    session and role (401, 403), then the handler inside one transaction.
    Every error answer is the JSON of api_error.
*/
#include "server.h"
#include "audit.h"
#include "credential.h"
#include "people.h"
#include "../lib/db.h"
#include "../lib/kv.h"
#include "../lib/log.h"
#include "../lib/metrics.h"
#include "../lib/metrics_http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define API_MAX_BODY (64 * 1024)
#define API_DB_TIMEOUT_MS 2000
#define API_KV_TIMEOUT_MS 500

//  What one pool thread owns.
typedef struct _s_thread_t {
    PGconn *conn;                // its database connection, or NULL until needed
    kv_t *kv;                    // its Redis connection
    struct _s_thread_t *next;    // the server's list of them
} s_thread_t;

struct _api_server_t {
    struct MHD_Daemon *daemon;   // the HTTP server and its threads
    api_server_config_t config;  // as given (strings owned by the caller)
    char *static_root;           // realpath of the static directory, or NULL
    char *allowed_hosts;         // ",host,host," lower case: the Host names answered
    int port;                    // the port bound
    pthread_mutex_t lock;        // guards threads and metrics rendering
    s_thread_t *threads;         // every thread's connections
};

//  One request's state between libmicrohttpd's calls.
typedef struct {
    char *body;                  // what was received, up to API_MAX_BODY
    size_t size;                 // its length
    bool too_large;              // more than API_MAX_BODY arrived
} s_request_t;

static _Thread_local s_thread_t *s_thread;

//  --------------------------------------------------------------------------
//  Replies (errors are api_error's, api/error.c)

//  On every answer, the dashboard's files included: the browser runs only
//  this origin's scripts and styles, no page may frame ours (clickjacking),
//  a body is never sniffed into another type, and no URL leaks in Referer.
static void
s_security_headers (struct MHD_Response *response)
{
    MHD_add_response_header (response, "Content-Security-Policy",
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
        "form-action 'self'; frame-ancestors 'none'");
    MHD_add_response_header (response, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header (response, "X-Frame-Options", "DENY");
    MHD_add_response_header (response, "Referrer-Policy", "no-referrer");
}

static enum MHD_Result
s_send (struct MHD_Connection *connection, int status, const char *type, void *body,
        size_t size, enum MHD_ResponseMemoryMode mode, const char *const *headers)
{
    struct MHD_Response *response = MHD_create_response_from_buffer (size, body, mode);
    if (!response)
        return MHD_NO;
    s_security_headers (response);
    if (type)
        MHD_add_response_header (response, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    for (int i = 0; headers && headers [i]; i += 2)
        MHD_add_response_header (response, headers [i], headers [i + 1]);
    enum MHD_Result result = MHD_queue_response (connection, (unsigned int) status, response);
    MHD_destroy_response (response);
    return result;
}

//  reply as JSON (taking it), or no body for 204 / a NULL reply.
static enum MHD_Result
s_send_json (struct MHD_Connection *connection, int status, json_t *reply,
             const char *const *headers)
{
    const char *extra [8] = { "Cache-Control", "no-store" };
    int count = 2;
    for (int i = 0; headers && headers [i] && count < 6; i += 2) {
        extra [count++] = headers [i];
        extra [count++] = headers [i + 1];
    }
    extra [count] = NULL;
    if (status == 204 || !reply) {
        json_decref (reply);
        return s_send (connection, status, NULL, (void *) "", 0, MHD_RESPMEM_PERSISTENT,
                       extra);
    }
    char *text = json_dumps (reply, JSON_COMPACT);
    json_decref (reply);
    if (!text)
        return MHD_NO;
    return s_send (connection, status, "application/json", text, strlen (text),
                   MHD_RESPMEM_MUST_FREE, extra);
}

//  A handler's file answer (taking its data): not cached, and saved by a
//  browser under its name rather than shown (the name is the API's own,
//  never the client's, so it needs no escaping).
static enum MHD_Result
s_send_file (struct MHD_Connection *connection, int status, api_file_t *file)
{
    char disposition [96];
    snprintf (disposition, sizeof disposition, "attachment; filename=\"%s\"", file->name);
    const char *headers [] = { "Cache-Control", "no-store",
                               "Content-Disposition", disposition, NULL };
    char *data = file->data;
    file->data = NULL;
    return s_send (connection, status, file->type, data, file->size, MHD_RESPMEM_MUST_FREE,
                   headers);
}

static enum MHD_Result
s_send_error (struct MHD_Connection *connection, int status, const char *message,
              const char *field)
{
    json_t *reply;
    api_error (&reply, status, message, field);
    return s_send_json (connection, status, reply, NULL);
}

//  --------------------------------------------------------------------------
//  Per-thread connections

static s_thread_t *
s_thread_get (api_server_t *self)
{
    if (!s_thread) {
        s_thread_t *thread = (s_thread_t *) calloc (1, sizeof *thread);
        if (!thread)
            return NULL;
        thread->kv = self->config.redis && *self->config.redis
                   ? kv_new (self->config.redis, API_KV_TIMEOUT_MS) : NULL;
        pthread_mutex_lock (&self->lock);
        thread->next = self->threads;
        self->threads = thread;
        pthread_mutex_unlock (&self->lock);
        s_thread = thread;
    }
    return s_thread;
}

//  This thread's database connection, usable, or NULL (the request is 503).
static PGconn *
s_conn (api_server_t *self)
{
    s_thread_t *thread = s_thread_get (self);
    if (!thread)
        return NULL;
    if (!thread->conn)
        thread->conn = db_connect (self->config.database, API_DB_TIMEOUT_MS);
    else
    if (PQstatus (thread->conn) != CONNECTION_OK
    ||  PQtransactionStatus (thread->conn) == PQTRANS_UNKNOWN)
        db_reconnect (thread->conn, API_DB_TIMEOUT_MS);
    if (thread->conn && PQstatus (thread->conn) == CONNECTION_OK)
        return thread->conn;
    return NULL;
}

//  --------------------------------------------------------------------------
//  Routing

//  Whether path matches pattern; captures its {name} segments into params.
static bool
s_match (const char *pattern, const char *path, char params [4][128], int *count)
{
    *count = 0;
    while (*pattern && *path) {
        if (*pattern != '/' || *path != '/')
            return false;
        pattern++;
        path++;
        size_t want = strcspn (pattern, "/");
        size_t have = strcspn (path, "/");
        if (*pattern == '{') {
            if (have == 0 || have >= 128 || *count == 4)
                return false;
            memcpy (params [*count], path, have);
            params [(*count)++][have] = 0;
        }
        else
        if (want != have || strncmp (pattern, path, want))
            return false;
        pattern += want;
        path += have;
    }
    return !*pattern && !*path;
}

typedef enum { S_SIGNUP, S_LOGIN, S_REFRESH, S_LOGOUT, S_PASSWORD } s_account_t;

static const struct {
    const char *pattern;         // always POST
    s_account_t which;           // which provider function
} s_account_routes [] = {
    { "/api/v1/signup", S_SIGNUP }, { "/api/v1/login", S_LOGIN },
    { "/api/v1/refresh", S_REFRESH }, { "/api/v1/logout", S_LOGOUT },
    { "/api/v1/password", S_PASSWORD }
};

//  --------------------------------------------------------------------------
//  Requests

typedef struct {
    api_server_t *server;        // the server
    struct MHD_Connection *connection;   // the client
    const char *path;            // the URL path (decoded)
    const char *method;          // GET, POST, ...
    s_request_t *request;        // the gathered body
    char client [INET6_ADDRSTRLEN];   // the client's address
    api_file_t file;             // a handler's file answer (a CSV export), sent in place of JSON
} s_ctx_t;

static enum MHD_Result
s_query_value (void *arg, enum MHD_ValueKind kind, const char *key, const char *value)
{
    (void) kind;
    if (key)
        json_object_set_new ((json_t *) arg, key, json_string (value ? value : ""));
    return MHD_YES;
}

//  The body as a JSON object (NULL when there is none), or an error status.
static int
s_body (s_ctx_t *ctx, json_t **body, json_t **reply)
{
    *body = NULL;
    if (ctx->request->too_large)
        return api_error (reply, 413, "the body is larger than 64 KiB", NULL);
    if (ctx->request->size == 0)
        return 0;
    const char *type = MHD_lookup_connection_value (ctx->connection, MHD_HEADER_KIND,
                                                    MHD_HTTP_HEADER_CONTENT_TYPE);
    size_t length = type ? strcspn (type, "; \t") : 0;
    if (!type || length != strlen ("application/json")
    ||  strncasecmp (type, "application/json", length))
        return api_error (reply, 415, "the body must be application/json", NULL);
    json_error_t error;
    *body = json_loadb (ctx->request->body, ctx->request->size, JSON_REJECT_DUPLICATES,
                        &error);
    if (!json_is_object (*body)) {
        json_decref (*body);
        *body = NULL;
        return api_error (reply, 400, "the body must be a JSON object", NULL);
    }
    return 0;
}

//  The bearer token of the request, or NULL.
static const char *
s_bearer (s_ctx_t *ctx)
{
    const char *header = MHD_lookup_connection_value (ctx->connection, MHD_HEADER_KIND,
                                                      MHD_HTTP_HEADER_AUTHORIZATION);
    if (!header || strncasecmp (header, "Bearer ", 7))
        return NULL;
    header += 7;
    while (*header == ' ')
        header++;
    return header;
}

//  End the transaction: COMMIT when keep, else ROLLBACK. A failed COMMIT
//  turns the answer into a 500.
static int
s_finish (PGconn *conn, bool keep, int status, json_t **reply)
{
    if (keep) {
        if (db_exec (conn, "commit an API request", "COMMIT") == 0)
            return status;
        db_exec (conn, "roll back an API request", "ROLLBACK");
        json_decref (*reply);
        return api_error (reply, 500, "the change could not be committed", NULL);
    }
    db_exec (conn, "roll back an API request", "ROLLBACK");
    return status;
}

static int
s_set_tenant (PGconn *conn, const char *tenant)
{
    const char *params [] = { tenant };
    PGresult *result = PQexecParams (conn, "SELECT drift_set_tenant ($1::uuid)", 1, NULL,
                                     params, NULL, NULL, 0);
    int rc = PQresultStatus (result) == PGRES_TUPLES_OK ? 0 : -1;
    PQclear (result);
    return rc;
}

static int
s_account (s_ctx_t *ctx, s_account_t which, json_t *body, json_t **reply, int *retry_after)
{
    api_server_t *self = ctx->server;
    auth_provider_t *auth = self->config.auth;
    jwt_claims_t claims;
    auth_request_t request = { .body = body, .client = ctx->client };
    //  Logout may name its session by the access token instead of a
    //  refresh token; a token that is there must be valid.
    const char *token = which == S_LOGOUT ? s_bearer (ctx) : NULL;
    if (token) {
        const char *reason;
        if (jwt_verify (self->config.jwt, token, time (NULL), &claims, &reason))
            return api_error (reply, 401, "invalid access token", NULL);
        request.tenant_id = claims.tid;
        request.session_id = claims.sid;
    }
    PGconn *conn = s_conn (self);
    if (!conn || db_exec (conn, "begin an API request", "BEGIN"))
        return api_error (reply, 503, "the database is unavailable", NULL);
    request.conn = conn;
    request.kv = s_thread ? s_thread->kv : NULL;
    auth_route_fn *fn = which == S_SIGNUP ? auth->signup : which == S_LOGIN ? auth->login
                      : which == S_REFRESH ? auth->refresh : which == S_PASSWORD
                      ? auth->set_password : auth->logout;
    int status = fn (auth, &request, reply);
    *retry_after = request.retry_after;
    return s_finish (conn, request.keep || (status >= 200 && status < 300), status, reply);
}

static const char *const s_role_names [] = { NULL, "viewer", "admin", "owner" };

static api_role_t
s_role (const char *name)
{
    for (int role = API_ROLE_VIEWER; role <= API_ROLE_OWNER; role++)
        if (strcmp (name, s_role_names [role]) == 0)
            return (api_role_t) role;
    return 0;
}

//  Who is calling, from a JWT or an API token: -1 with *reply set (401 or
//  429) when neither is valid. The token's tenant is set on conn (in a
//  transaction: BEGIN is the caller's).
typedef struct {
    char tenant [37];            // the tenant
    char user [37];              // the user, or the API token's id
    char session [37];           // the session ("" for an API token)
    bool token;                  // an API token
    auth_session_t who;          // role and email, as the database says now
} s_caller_t;

//  A bearer token of the API token form (api/credential.h): the client's
//  failed attempts are counted under the login limits, so guessing tokens
//  is bounded like guessing passwords and ends in 429 for the address.
static int
s_caller_token (s_ctx_t *ctx, PGconn *conn, const char *bearer, s_caller_t *caller,
                json_t **reply, int *retry_after)
{
    kv_t *kv = s_thread ? s_thread->kv : NULL;
    int wait = auth_limit_wait (kv, NULL, ctx->client);
    if (wait > 0) {
        *retry_after = wait;
        metric_inc (metrics_counter (metrics_default (), "drift_api_token_refusals_total",
            "API tokens refused (bad, revoked, expired, or the client over its limit)", NULL));
        return api_error (reply, 429, "too many failed attempts from this address; "
                          "try again later", NULL);
    }
    char hash [65];
    caller->token = true;
    if (credential_token_parse (bearer, caller->tenant, caller->user, hash)
    ||  s_set_tenant (conn, caller->tenant)
    ||  api_token_verify (conn, caller->user, hash, &caller->who)) {
        auth_limit_fail (kv, NULL, ctx->client);
        metric_inc (metrics_counter (metrics_default (), "drift_api_token_refusals_total",
            "API tokens refused (bad, revoked, expired, or the client over its limit)", NULL));
        log_info ("API token refused", "client", ctx->client);
        return api_error (reply, 401, "the API token is not valid (unknown, revoked or "
                          "expired)", NULL);
    }
    return 0;
}

//  A JWT: signature and claims, then its session as the database says now.
static int
s_caller_jwt (s_ctx_t *ctx, PGconn *conn, const jwt_claims_t *claims, s_caller_t *caller,
              json_t **reply)
{
    snprintf (caller->tenant, sizeof caller->tenant, "%s", claims->tid);
    snprintf (caller->user, sizeof caller->user, "%s", claims->sub);
    snprintf (caller->session, sizeof caller->session, "%s", claims->sid);
    if (s_set_tenant (conn, claims->tid))
        return api_error (reply, 500, "cannot set the tenant", NULL);
    if (ctx->server->config.auth->verify_session (ctx->server->config.auth, conn, claims,
                                                  &caller->who))
        return api_error (reply, 401, "the session has ended", NULL);
    return 0;
}

//  Who the audit log (api/audit.h) names for what this request changes: a
//  person by their user id, an API token as token:ID, with the email or
//  name they go by, and the client's address.
static int
s_audit_actor (s_ctx_t *ctx, PGconn *conn, const s_caller_t *caller)
{
    char actor [48];
    snprintf (actor, sizeof actor, "%s%s", caller->token ? "token:" : "", caller->user);
    return audit_actor_set (conn, actor, caller->who.email, ctx->client, false);
}

static bool
s_route_in (const api_route_t *table, const api_route_t *route)
{
    for (const api_route_t *r = table; r->method; r++)
        if (r == route)
            return true;
    return false;
}

static int
s_resource (s_ctx_t *ctx, const api_route_t *route, char params [4][128], int count,
            json_t *body, json_t **reply, int *retry_after)
{
    api_server_t *self = ctx->server;
    const char *bearer = s_bearer (ctx);
    bool token = credential_is_token (bearer);
    jwt_claims_t claims = { .sub = "" };
    const char *reason = "no bearer token";
    if (!token && (!bearer || jwt_verify (self->config.jwt, bearer, time (NULL), &claims, &reason)
               ||  !api_is_uuid (claims.tid))) {
        log_debug ("access token refused", "reason", reason, "client", ctx->client);
        return api_error (reply, 401, "a valid access token is required", NULL);
    }
    PGconn *conn = s_conn (self);
    if (!conn || db_exec (conn, "begin an API request", "BEGIN"))
        return api_error (reply, 503, "the database is unavailable", NULL);
    s_caller_t caller = { .token = false };
    int status;
    api_call_t call = { 0 };
    status = token ? s_caller_token (ctx, conn, bearer, &caller, reply, retry_after)
                   : s_caller_jwt (ctx, conn, &claims, &caller, reply);
    if (status == 0 && caller.token && !s_route_in (api_resource_routes, route))
        status = api_error (reply, 403, "an API token cannot use this route: accounts and "
                            "tokens need a person's session", NULL);
    else
    if (status == 0 && s_role (caller.who.role) < route->role)
        status = api_error (reply, 403, "your role may not use this route", NULL);
    else
    if (status == 0 && s_audit_actor (ctx, conn, &caller))
        status = api_error (reply, 500, "cannot open the request's audit context", NULL);
    else
    if (status == 0) {
        json_t *query = json_object ();
        MHD_get_connection_values (ctx->connection, MHD_GET_ARGUMENT_KIND, s_query_value,
                                   query);
        call = (api_call_t) {
            .conn = conn, .tenant_id = caller.tenant, .user_id = caller.user,
            .user_email = caller.who.email, .role = s_role (caller.who.role),
            .session_id = caller.token ? NULL : caller.session,
            .token_id = caller.token ? caller.user : NULL,
            .kv = s_thread ? s_thread->kv : NULL, .client = ctx->client,
            .param_count = count, .query = query, .body = body,
            .settings = &self->config.settings
        };
        for (int i = 0; i < count; i++)
            call.params [i] = params [i];
        *reply = NULL;
        status = route->handler (&call, reply);
        *retry_after = call.retry_after;
        json_decref (query);
        call.query = NULL;
    }
    bool keep = status >= 200 && status < 300;
    int answered = s_finish (conn, keep, status, reply);
    if (call.after_commit && keep && answered == status)
        call.after_commit (&call, call.after_arg);
    free (call.after_arg);
    if (keep && answered == status)
        ctx->file = call.file;
    else
        free (call.file.data);
    return answered;
}

//  Find a route among the tables for method and path: 0 with *route (or
//  *account for the account routes) and captures, 404 or 405.
static int
s_route (s_ctx_t *ctx, const api_route_t **route, int *account, char params [4][128],
         int *count, char *allow, size_t allow_size)
{
    bool path_known = false;
    *allow = 0;
    *route = NULL;
    *account = -1;
    for (size_t i = 0; i < sizeof s_account_routes / sizeof s_account_routes [0]; i++)
        if (s_match (s_account_routes [i].pattern, ctx->path, params, count)) {
            if (strcmp (ctx->method, "POST") == 0) {
                *account = (int) s_account_routes [i].which;
                return 0;
            }
            path_known = true;
            snprintf (allow, allow_size, "POST");
        }
    const api_route_t *tables [] = { api_account_routes, api_resource_routes };
    for (size_t t = 0; t < 2; t++)
        for (const api_route_t *r = tables [t]; r->method; r++)
            if (s_match (r->pattern, ctx->path, params, count)) {
                if (strcmp (ctx->method, r->method) == 0) {
                    *route = r;
                    return 0;
                }
                path_known = true;
                size_t used = strlen (allow);
                if (!strstr (allow, r->method))
                    snprintf (allow + used, allow_size - used, "%s%s", used ? ", " : "",
                              r->method);
            }
    return path_known ? 405 : 404;
}

static enum MHD_Result
s_api (s_ctx_t *ctx)
{
    const api_route_t *route;
    int account, count;
    char params [4][128], allow [64];
    json_t *reply = NULL;
    int status = s_route (ctx, &route, &account, params, &count, allow, sizeof allow);
    if (status == 405) {
        api_error (&reply, 405, "method not allowed", NULL);
        const char *headers [] = { "Allow", allow, NULL };
        return s_send_json (ctx->connection, status, reply, headers);
    }
    if (status == 404)
        return s_send_error (ctx->connection, 404, "no such route", NULL);
    json_t *body;
    status = s_body (ctx, &body, &reply);
    int retry_after = 0;
    if (status == 0)
        status = account >= 0 ? s_account (ctx, (s_account_t) account, body, &reply,
                                           &retry_after)
                              : s_resource (ctx, route, params, count, body, &reply,
                                            &retry_after);
    json_decref (body);
    if (status >= 500)
        log_warn ("API request failed", "method", ctx->method, "path", ctx->path,
                  "status", LOG_NUM (status));
    if (ctx->file.data) {
        json_decref (reply);
        return s_send_file (ctx->connection, status, &ctx->file);
    }
    char seconds [24];
    snprintf (seconds, sizeof seconds, "%d", retry_after > 0 ? retry_after : 1);
    const char *headers [] = { status == 429 ? "Retry-After" : NULL, seconds, NULL };
    const char *unauthorized [] = { "WWW-Authenticate", "Bearer", NULL };
    return s_send_json (ctx->connection, status, reply,
                        status == 429 ? headers : status == 401 ? unauthorized : NULL);
}

//  --------------------------------------------------------------------------
//  Operations: /healthz, /readyz, /metrics

static enum MHD_Result
s_operations (s_ctx_t *ctx)
{
    if (strcmp (ctx->method, "GET") && strcmp (ctx->method, "HEAD")) {
        json_t *reply;
        api_error (&reply, 405, "method not allowed", NULL);
        const char *headers [] = { "Allow", "GET, HEAD", NULL };
        return s_send_json (ctx->connection, 405, reply, headers);
    }
    if (strcmp (ctx->path, "/healthz") == 0)
        return s_send_json (ctx->connection, 200, json_pack ("{s:s}", "status", "ok"), NULL);
    if (strcmp (ctx->path, "/readyz") == 0) {
        PGconn *conn = s_conn (ctx->server);
        const char *reason = "the database is unreachable";
        if (conn && api_health_ready (conn, &reason) == 0)
            return s_send_json (ctx->connection, 200, json_pack ("{s:s}", "status", "ready"),
                                NULL);
        return s_send_error (ctx->connection, 503, reason, NULL);
    }
    //  /metrics tells anyone who can read it the tenants' activity: on this
    //  port (public behind the proxy) only with the operator's token; the
    //  role's --metrics address serves it apart, for a private network.
    const char *token = ctx->server->config.metrics_token;
    if (!token || !*token)
        return s_send_error (ctx->connection, 404, "/metrics is not served on this port "
                             "(use drift api --metrics ADDRESS or --metrics-token-file)", NULL);
    const char *given = s_bearer (ctx);
    if (!given || strlen (given) != strlen (token)
    ||  sodium_memcmp (given, token, strlen (token))) {
        json_t *reply;
        api_error (&reply, 401, "/metrics needs the metrics bearer token", NULL);
        const char *unauthorized [] = { "WWW-Authenticate", "Bearer", NULL };
        return s_send_json (ctx->connection, 401, reply, unauthorized);
    }
    //  Rendering runs computed gauges' callbacks: one at a time.
    pthread_mutex_lock (&ctx->server->lock);
    char *text = metrics_render (metrics_default ());
    pthread_mutex_unlock (&ctx->server->lock);
    if (!text)
        return s_send_error (ctx->connection, 500, "cannot render metrics", NULL);
    return s_send (ctx->connection, 200, "text/plain; version=0.0.4; charset=utf-8", text,
                   strlen (text), MHD_RESPMEM_MUST_FREE, NULL);
}

//  --------------------------------------------------------------------------
//  The dashboard's static files

static const char *
s_content_type (const char *path)
{
    static const char *const types [] = {
        ".html", "text/html; charset=utf-8", ".js", "text/javascript; charset=utf-8",
        ".mjs", "text/javascript; charset=utf-8", ".css", "text/css; charset=utf-8",
        ".json", "application/json", ".svg", "image/svg+xml", ".png", "image/png",
        ".ico", "image/x-icon", ".jpg", "image/jpeg", ".woff2", "font/woff2",
        ".woff", "font/woff", ".txt", "text/plain; charset=utf-8", ".map", "application/json",
        ".webmanifest", "application/manifest+json", NULL
    };
    const char *dot = strrchr (path, '.');
    for (int i = 0; dot && types [i]; i += 2)
        if (strcasecmp (dot, types [i]) == 0)
            return types [i + 1];
    return "application/octet-stream";
}

//  Serve file under the static root: 0 sent, -1 when it is not a regular
//  file inside the root.
static int
s_static_file (s_ctx_t *ctx, const char *relative, enum MHD_Result *result)
{
    api_server_t *self = ctx->server;
    char path [PATH_MAX], real [PATH_MAX];
    if (snprintf (path, sizeof path, "%s/%s", self->static_root, relative) >= (int) sizeof path
    ||  !realpath (path, real))
        return -1;
    //  A symbolic link must not lead out of the root.
    size_t root = strlen (self->static_root);
    if (strncmp (real, self->static_root, root) || (real [root] && real [root] != '/'))
        return -1;
    int fd = open (real, O_RDONLY | O_CLOEXEC);
    struct stat status;
    if (fd < 0)
        return -1;
    if (fstat (fd, &status) || !S_ISREG (status.st_mode)) {
        close (fd);
        return -1;
    }
    struct MHD_Response *response = MHD_create_response_from_fd ((uint64_t) status.st_size,
                                                                 fd);
    if (!response) {
        close (fd);
        *result = MHD_NO;
        return 0;
    }
    MHD_add_response_header (response, MHD_HTTP_HEADER_CONTENT_TYPE, s_content_type (real));
    s_security_headers (response);
    *result = MHD_queue_response (ctx->connection, MHD_HTTP_OK, response);
    MHD_destroy_response (response);
    return 0;
}

static enum MHD_Result
s_static (s_ctx_t *ctx)
{
    if (!ctx->server->static_root)
        return s_send_error (ctx->connection, 404, "not found", NULL);
    if (strcmp (ctx->method, "GET") && strcmp (ctx->method, "HEAD")) {
        json_t *reply;
        api_error (&reply, 405, "method not allowed", NULL);
        const char *headers [] = { "Allow", "GET, HEAD", NULL };
        return s_send_json (ctx->connection, 405, reply, headers);
    }
    //  Refuse any segment starting with a dot (., .., dotfiles), empty
    //  segments and backslashes, before touching the file system.
    const char *path = ctx->path;
    if (*path != '/' || strchr (path, '\\'))
        return s_send_error (ctx->connection, 400, "bad path", NULL);
    for (const char *segment = path; segment; segment = strchr (segment + 1, '/'))
        if (segment [1] == '.' || (segment [1] == '/' ))
            return s_send_error (ctx->connection, 400, "bad path", NULL);
    enum MHD_Result result = MHD_YES;
    const char *relative = path [1] ? path + 1 : "index.html";
    if (s_static_file (ctx, relative, &result) == 0)
        return result;
    //  A client-side route (no file by that name): the application itself.
    if (s_static_file (ctx, "index.html", &result) == 0)
        return result;
    return s_send_error (ctx->connection, 404, "not found", NULL);
}

//  Behind a reverse proxy every peer is the proxy: when the peer is one we
//  trust, the client is the last X-Forwarded-For entry (the one that proxy
//  added; entries before it are whatever the client claimed).
static void
s_forwarded_for (s_ctx_t *ctx)
{
    const char *proxies = ctx->server->config.trusted_proxies;
    size_t length = strlen (ctx->client);
    const char *found = proxies && length ? strstr (proxies, ctx->client) : NULL;
    while (found && ((found != proxies && found [-1] != ',' && found [-1] != ' ')
                 ||  (found [length] && found [length] != ',' && found [length] != ' ')))
        found = strstr (found + 1, ctx->client);
    const char *header = found ? MHD_lookup_connection_value (ctx->connection,
                                                              MHD_HEADER_KIND,
                                                              "X-Forwarded-For") : NULL;
    if (!header)
        return;
    const char *last = strrchr (header, ',');
    last = last ? last + 1 : header;
    while (*last == ' ')
        last++;
    size_t size = strcspn (last, " ");
    unsigned char address [sizeof (struct in6_addr)];
    char text [INET6_ADDRSTRLEN];
    if (size == 0 || size >= sizeof text)
        return;
    memcpy (text, last, size);
    text [size] = 0;
    //  Only a well-formed address replaces the peer's.
    if (inet_pton (AF_INET, text, address) == 1 || inet_pton (AF_INET6, text, address) == 1)
        memcpy (ctx->client, text, size + 1);
}

//  Whether the request's Host names this server. A page on another origin
//  can point a name it controls at 127.0.0.1 (DNS rebinding) and then
//  talk to a developer's local API as same-origin; its requests still say
//  Host: that name, so only the names in --allowed-hosts are answered. A
//  request without Host (HTTP/1.0, not a browser) is let through.
static bool
s_host_allowed (s_ctx_t *ctx)
{
    const char *host = MHD_lookup_connection_value (ctx->connection, MHD_HEADER_KIND,
                                                    MHD_HTTP_HEADER_HOST);
    if (!host)
        return true;
    //  The name without its port: "[::1]:8080" is "[::1]", "a.b:80" is "a.b".
    size_t length = host [0] == '[' ? strcspn (host, "]") + 1 : strcspn (host, ":");
    if (length == 0 || length > 255 || (host [0] == '[' && host [length - 1] != ']'))
        return false;
    char wanted [260] = ",";
    for (size_t i = 0; i < length; i++) {
        char c = host [i];
        if (c == ',' || c == ' ')
            return false;
        wanted [i + 1] = (char) (c >= 'A' && c <= 'Z' ? c + 32 : c);
    }
    wanted [length + 1] = ',';
    wanted [length + 2] = 0;
    return strstr (ctx->server->allowed_hosts, wanted) != NULL;
}

//  --------------------------------------------------------------------------
//  libmicrohttpd's callbacks

static enum MHD_Result
s_handle (void *arg, struct MHD_Connection *connection, const char *url, const char *method,
          const char *version, const char *upload_data, size_t *upload_data_size,
          void **request_state)
{
    (void) version;
    api_server_t *self = (api_server_t *) arg;
    s_request_t *request = (s_request_t *) *request_state;
    if (!request) {
        request = (s_request_t *) calloc (1, sizeof *request);
        if (!request)
            return MHD_NO;
        *request_state = request;
        return MHD_YES;
    }
    if (*upload_data_size) {
        if (request->size + *upload_data_size > API_MAX_BODY)
            request->too_large = true;
        else {
            char *grown = (char *) realloc (request->body, request->size + *upload_data_size);
            if (!grown)
                return MHD_NO;
            request->body = grown;
            memcpy (request->body + request->size, upload_data, *upload_data_size);
            request->size += *upload_data_size;
        }
        *upload_data_size = 0;
        return MHD_YES;
    }
    s_ctx_t ctx = { .server = self, .connection = connection, .path = url,
                    .method = method, .request = request };
    const union MHD_ConnectionInfo *info =
        MHD_get_connection_info (connection, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (info && info->client_addr) {
        const struct sockaddr *address = info->client_addr;
        if (address->sa_family == AF_INET)
            inet_ntop (AF_INET, &((const struct sockaddr_in *) address)->sin_addr,
                       ctx.client, sizeof ctx.client);
        else
        if (address->sa_family == AF_INET6)
            inet_ntop (AF_INET6, &((const struct sockaddr_in6 *) address)->sin6_addr,
                       ctx.client, sizeof ctx.client);
    }
    s_forwarded_for (&ctx);
    if (!s_host_allowed (&ctx)) {
        log_debug ("request for another host refused", "client", ctx.client);
        return s_send_error (connection, 421, "this server does not answer for that host name",
                             NULL);
    }
    if (strcmp (url, "/api") == 0 || strncmp (url, "/api/", 5) == 0)
        return s_api (&ctx);
    if (strcmp (url, "/healthz") == 0 || strcmp (url, "/readyz") == 0
    ||  strcmp (url, "/metrics") == 0)
        return s_operations (&ctx);
    return s_static (&ctx);
}

static void
s_completed (void *arg, struct MHD_Connection *connection, void **request_state,
             enum MHD_RequestTerminationCode code)
{
    (void) arg;
    (void) connection;
    (void) code;
    s_request_t *request = (s_request_t *) *request_state;
    if (request) {
        free (request->body);
        free (request);
        *request_state = NULL;
    }
}

//  --allowed-hosts as ",name,name," in lower case, spaces dropped; by
//  default the listen address (unless a wildcard) and the loopback names.
static char *
s_allowed_hosts (const api_server_config_t *config)
{
    char listen [300] = "";
    const char *address = config->listen;
    size_t length = address [0] == '[' ? strcspn (address, "]") + 1 : strcspn (address, ":");
    if (length < sizeof listen)
        snprintf (listen, sizeof listen, "%.*s", (int) length, address);
    if (strcmp (listen, "0.0.0.0") == 0 || strcmp (listen, "[::]") == 0)
        listen [0] = 0;
    const char *given = config->allowed_hosts && *config->allowed_hosts
                      ? config->allowed_hosts : NULL;
    size_t size = (given ? strlen (given) : strlen (listen) + 32) + 3;
    char *list = (char *) malloc (size);
    if (!list)
        return NULL;
    if (given)
        snprintf (list, size, ",%s,", given);
    else
        snprintf (list, size, ",%s,localhost,127.0.0.1,[::1],", listen);
    char *out = list;
    for (char *in = list; *in; in++)
        if (*in != ' ')
            *out++ = (char) (*in >= 'A' && *in <= 'Z' ? *in + 32 : *in);
    *out = 0;
    return list;
}

api_server_t *
api_server_new (const api_server_config_t *config)
{
    struct sockaddr_storage storage;
    bool ipv6;
    if (!config->listen || metrics_http_parse_address (config->listen, &storage, &ipv6)) {
        log_error ("--listen must be IPV4:PORT or [IPV6]:PORT", "listen", config->listen);
        return NULL;
    }
    api_server_t *self = (api_server_t *) calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->config = *config;
    pthread_mutex_init (&self->lock, NULL);
    self->allowed_hosts = s_allowed_hosts (config);
    if (!self->allowed_hosts) {
        api_server_destroy (&self);
        return NULL;
    }
    if (config->static_dir && *config->static_dir) {
        self->static_root = realpath (config->static_dir, NULL);
        if (!self->static_root) {
            log_error ("--static names no directory", "static", config->static_dir,
                       "error", strerror (errno));
            api_server_destroy (&self);
            return NULL;
        }
    }
    unsigned int flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL
                       | (ipv6 ? MHD_USE_IPv6 : 0);
    self->daemon = MHD_start_daemon (flags, 0, NULL, NULL, s_handle, self,
                                     MHD_OPTION_SOCK_ADDR, (struct sockaddr *) &storage,
                                     MHD_OPTION_THREAD_POOL_SIZE,
                                     (unsigned int) (config->threads > 0 ? config->threads : 1),
                                     MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int) 30,
                                     MHD_OPTION_CONNECTION_LIMIT, (unsigned int) 512,
                                     MHD_OPTION_NOTIFY_COMPLETED, s_completed, self,
                                     MHD_OPTION_END);
    if (!self->daemon) {
        log_error ("cannot listen: the address is in use or not ours", "listen",
                   config->listen);
        api_server_destroy (&self);
        return NULL;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info (self->daemon,
                                                            MHD_DAEMON_INFO_BIND_PORT);
    self->port = info ? info->port : 0;
    log_info ("serving the dashboard API", "listen", config->listen,
              "port", LOG_NUM (self->port), "threads", LOG_NUM (config->threads));
    return self;
}

void
api_server_destroy (api_server_t **self_p)
{
    api_server_t *self = *self_p;
    if (!self)
        return;
    if (self->daemon)
        MHD_stop_daemon (self->daemon);
    //  The pool's threads have ended: their connections are ours to close.
    while (self->threads) {
        s_thread_t *next = self->threads->next;
        if (self->threads->conn)
            PQfinish (self->threads->conn);
        kv_destroy (&self->threads->kv);
        free (self->threads);
        self->threads = next;
    }
    pthread_mutex_destroy (&self->lock);
    free (self->static_root);
    free (self->allowed_hosts);
    free (self);
    *self_p = NULL;
}
