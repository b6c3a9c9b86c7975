/*  server: the HTTP side of `drift api` (libmicrohttpd).

    Routing by method and pattern, bodies (64 KiB, JSON objects, 415/413/400),
    error bodies that are always JSON, authentication (api/jwt.h, the
    AuthProvider of api/auth.h), one PostgreSQL connection and one Redis
    connection per server thread, and the transaction around every request:
    BEGIN, drift_set_tenant (the token's tenant), the handler, COMMIT after
    a 2xx and ROLLBACK otherwise. Resource handlers (api.h) see only an
    api_call_t. Also /healthz, /readyz, /metrics and, with a static
    directory, the dashboard's files.
*/
#ifndef SERVER_H_INCLUDED
#define SERVER_H_INCLUDED

#include "api.h"
#include "auth.h"

//  How to run the server.
typedef struct {
    const char *listen;          // "HOST:PORT" (IPv4) or "[IPV6]:PORT"
    const char *database;        // PostgreSQL URL (a drift_app login)
    const char *redis;           // Redis URL (rate limits)
    const char *static_dir;      // the dashboard's files, or NULL / "" for none
    int threads;                 // server threads (one connection each)
    const char *trusted_proxies; // comma-separated proxy addresses whose X-Forwarded-For counts
    const char *allowed_hosts;   // comma-separated Host names answered ("" = listen host + localhost)
    const char *metrics_token;   // bearer token for /metrics on this port, NULL/"" = not served
    auth_provider_t *auth;       // accounts (not owned)
    jwt_t *jwt;                  // access tokens (not owned)
    api_settings_t settings;     // what handlers may need
} api_server_config_t;

typedef struct _api_server_t api_server_t;

//  Start serving; NULL (logged with why) when the address cannot be used.
api_server_t *api_server_new (const api_server_config_t *config);
void api_server_destroy (api_server_t **self_p);

//  Routes of the accounts (api/users.c): /me and the owner's users.
extern const api_route_t api_account_routes [];

//  /readyz (api/health.c): 0 when the database answers and holds every
//  migration this binary carries; else -1 with *reason set (static).
int api_health_ready (PGconn *conn, const char **reason);

//  The same as a lib/health probe: arg is the database URL; the answer
//  comes from a connection made and closed for it.
int api_health_probe (void *arg, char *reason, size_t size);

#endif
