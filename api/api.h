/*  api: the contract between the dashboard API's server (api/server.c, the
    HTTP side: routing, authentication, bodies, errors, transactions) and
    its resource handlers (api/stacks.c, api/drift.c, ...: the SQL side).

    A handler gets one call: an authenticated user of one tenant, inside a
    PostgreSQL transaction whose tenant is already set (drift_set_tenant),
    the route's path parameters, the query string and the parsed body. It
    answers an HTTP status and a JSON value; an error is api_error's shape
    (docs/API.md). The server commits after a 2xx and rolls back otherwise,
    so a handler never commits. Handlers only ever pass values to SQL as
    parameters.
*/
#ifndef API_H_INCLUDED
#define API_H_INCLUDED

#include "error.h"

#include <jansson.h>
#include <libpq-fe.h>
#include <stdbool.h>

typedef enum {
    API_ROLE_VIEWER = 1,         // reads
    API_ROLE_ADMIN = 2,          // + suppress, channels, agents
    API_ROLE_OWNER = 3           // + users
} api_role_t;

//  Settings of `drift api` a handler may need.
typedef struct {
    int stale_after_s;           // a stack with no successful check for this long is stale
    const char *agent_endpoint;  // what issued agents are told to connect to
    const char *keys_dir;        // the server's CURVE keypair (issuing agent keys)
    const char *redis;           // Redis URL (the key registry's cache)
    long send_timeout_ms;        // a channel test's send
    const char *public_url;      // the dashboard's address for mailed links, or NULL / ""
    const char *allow_hosts;     // hosts channels may reach though internal (actors/notify/egress)
    struct _seal_keyring_t *channel_keyring; // channel.key: seals SMTP passwords; NULL: none
    struct _channel_tests_t *channel_tests;  // test sends off the request threads
} api_settings_t;

//  An answer that is not JSON (a CSV export, api/csv.h): what the server
//  sends as an attachment in place of the handler's JSON reply.
typedef struct {
    char *data;                  // the body (malloc'd); NULL: the answer is JSON
    size_t size;                 // its length
    const char *type;            // its media type
    char name [64];              // the file name it is saved as
} api_file_t;

//  One request, as a handler sees it.
typedef struct _api_call_t {
    PGconn *conn;                // in a transaction with the tenant set
    const char *tenant_id;       // the token's tenant
    const char *user_id;         // the token's user (an API token: the token's id)
    const char *user_email;      // ... and their email (for created_by / suppressed_by;
                                 // an API token: "NAME (API token)")
    api_role_t role;             // the token's role
    const char *session_id;      // the caller's session; NULL for an API token
    const char *token_id;        // the API token used, or NULL for a person
    struct _kv_t *kv;            // this thread's Redis (rate limits), or NULL
    const char *client;          // the client's address
    int retry_after;             // out: seconds to wait, with a 429
    const char *params [4];      // the route pattern's {captures}, in order
    int param_count;             // how many
    json_t *query;               // query string as an object of strings (never NULL)
    json_t *body;                // the JSON object sent (POST, PATCH), else NULL
    api_file_t file;             // set by a handler whose 200 is a file, else empty
    const api_settings_t *settings;
    //  Work that must follow the commit (dropping a cache entry a racing
    //  reader could otherwise refill from the old row): set by a handler,
    //  called with after_arg once the transaction committed, never after a
    //  rollback; after_arg (malloc'd) is freed by the server either way.
    void (*after_commit) (const struct _api_call_t *call, void *arg);
    void *after_arg;             // for after_commit
} api_call_t;

//  A handler: fills *reply (owned by the caller afterwards) and returns the
//  HTTP status.
typedef int (api_handler_fn) (api_call_t *call, json_t **reply);

//  A route: method and pattern ("/api/v1/drift/{id}/suppress"), the least
//  role allowed, the handler.
typedef struct {
    const char *method;
    const char *pattern;
    api_role_t role;
    api_handler_fn *handler;
} api_route_t;

//  The resource routes (api/routes.c), ended by a route with a NULL method.
extern const api_route_t api_resource_routes [];


//  Helpers for handlers (api/params.c): a query parameter checked and
//  converted; each returns 0, or fills *reply with a 400 naming the
//  parameter and returns its status.
int api_query_int (api_call_t *call, const char *name, long low, long high, long fallback,
                   long *value, json_t **reply);
int api_query_enum (api_call_t *call, const char *name, const char *const *allowed,
                    const char *fallback, const char **value, json_t **reply);
int api_query_time (api_call_t *call, const char *name, const char **value, json_t **reply);
//  A field of a request's JSON body (call->body, or an auth route's): a
//  string of 1 to max_length bytes without NUL (required), or absent or
//  null (optional: *value NULL); else a 400 naming it. api_json_only
//  refuses a body that is not an object or has a field not in known
//  (NULL-terminated); no body at all passes.
int api_json_string (json_t *body, const char *name, bool required, size_t max_length,
                     const char **value, json_t **reply);
int api_json_only (json_t *body, const char *const *known, json_t **reply);

//  Whether text is a UUID in canonical form (lower case, as PostgreSQL
//  writes it): a path id that is not one is 404 without asking the database.
bool api_is_uuid (const char *text);

#endif
