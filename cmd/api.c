/*  drift api: the dashboard's HTTP API (docs/API.md), its static files,
    /healthz, /readyz and /metrics.

    The role only gathers settings, loads the JWT secret and the channel
    key, starts the channel test workers (api/channel_tests) and the server
    (api/server.c) with the local AuthProvider; the server's own threads do
    all the work, so the main thread just waits for SIGINT or SIGTERM and
    then stops it (requests in flight are finished).
*/
#include "commands.h"
#include "../api/channel_tests.h"
#include "../api/server.h"
#include "../lib/agent_link.h"
#include "../lib/config.h"
#include "../lib/health.h"
#include "../lib/log.h"
#include "../lib/seal.h"
#include "../lib/secret.h"
#include "../lib/shutdown.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

//  The metrics token from path into token (size bytes): its first line,
//  16 bytes or more, read as every secret is (lib/secret). 0, or -1 (said
//  on stderr) when it cannot be used.
static int
s_read_token (const char *path, char *token, size_t size)
{
    size_t length;
    char error [512];
    if (secret_read (path, (uint8_t *) token, size, &length, error, sizeof error)) {
        fprintf (stderr, "drift api: --metrics-token-file refused: %s\n", error);
        return -1;
    }
    token [strcspn (token, "\r\n")] = 0;
    if (strlen (token) < 16) {
        sodium_memzero (token, size);
        fprintf (stderr, "drift api: the metrics token in %s is shorter than 16 bytes\n", path);
        return -1;
    }
    return 0;
}

static const config_option_t s_options [] = {
    CONFIG_COMMON_OPTIONS,
    CMD_DATABASE_OPTION,
    CMD_REDIS_OPTION,
    CMD_KEYS_DIR_OPTION,
    CMD_METRICS_OPTION,
    { "listen", CONFIG_STRING, "127.0.0.1:8080", "serve HTTP on IPV4:PORT or [IPV6]:PORT" },
    { "jwt-secret-file", CONFIG_STRING, "/etc/drift/jwt.secret",
      "the access tokens' HS256 secret: 32 bytes or more, mode 0600" },
    { "signup", CONFIG_STRING, "first",
      "who may sign up: open, first (until a first tenant has a user), closed" },
    { "access-ttl-s", CONFIG_INT, "900", "lifetime of an access token, seconds" },
    { "stale-after-s", CONFIG_INT, "86400",
      "a stack without a successful check for this long is stale" },
    { "static", CONFIG_STRING, "", "directory of the dashboard's files (\"\" = none)" },
    { "threads", CONFIG_INT, "4", "server threads, each with one database connection" },
    { "agent-endpoint", CONFIG_STRING, AGENT_LINK_ENDPOINT,
      "the ingest endpoint issued agents are told to connect to" },
    { "trusted-proxies", CONFIG_STRING, "",
      "reverse proxies (IP addresses, comma separated) whose X-Forwarded-For names the client" },
    { "send-timeout-ms", CONFIG_INT, "10000", "a channel test's send timeout" },
    { "public-url", CONFIG_STRING, "",
      "the dashboard's address as users open it (https://drift.example.com): invitations "
      "mailed through the tenant's email channel link to it (\"\" = never mailed)" },
    { "allowed-hosts", CONFIG_STRING, "",
      "Host names answered, comma separated (\"\" = the listen address, localhost, 127.0.0.1, [::1])" },
    { "metrics-token-file", CONFIG_STRING, "",
      "serve /metrics on --listen to a bearer of this file's token (\"\" = not on --listen; see --metrics)" },
    CMD_CHANNEL_OPTIONS,
    { "channel-tests-per-tenant", CONFIG_INT, "2",
      "channel test sends of one tenant queued or running at once; more are answered 429" },
    CONFIG_END
};

int
cmd_api (int argc, char **argv)
{
    int exit_code;
    config_t *config = cmd_load ("api", "serve the dashboard's HTTP API", s_options, argc,
                                 argv, &exit_code);
    if (!config)
        return exit_code;
    const char *signup = config_get (config, "signup");
    long ttl = config_get_int (config, "access-ttl-s");
    long stale = config_get_int (config, "stale-after-s");
    long threads = config_get_int (config, "threads");
    long send_timeout = config_get_int (config, "send-timeout-ms");
    if ((strcmp (signup, "open") && strcmp (signup, "first") && strcmp (signup, "closed"))
    ||  ttl < 60 || ttl > 86400 || stale < 60 || threads < 1 || threads > 256
    ||  send_timeout < 100) {
        fprintf (stderr, "drift api: need --signup open|first|closed, 60 <= access-ttl-s <= "
                 "86400, stale-after-s >= 60, 1 <= threads <= 256, send-timeout-ms >= 100\n");
        config_destroy (&config);
        return 2;
    }
    char metrics_token [256] = "";
    const char *token_file = config_get (config, "metrics-token-file");
    if (*token_file && s_read_token (token_file, metrics_token, sizeof metrics_token)) {
        config_destroy (&config);
        return 2;
    }
    long per_tenant = config_get_int (config, "channel-tests-per-tenant");
    if (per_tenant < 1 || per_tenant > 100) {
        fprintf (stderr, "drift api: need 1 <= channel-tests-per-tenant <= 100\n");
        config_destroy (&config);
        return 2;
    }
    seal_keyring_t *channel_key = NULL;
    if (cmd_channel_key (config, "api", &channel_key)) {
        config_destroy (&config);
        return 2;
    }
    //  Two workers: a test is mostly waiting on a network, and the limit
    //  per tenant keeps one tenant from holding both for long.
    channel_tests_t *tests = channel_tests_new (2, (int) per_tenant, 256);
    jwt_t *jwt = tests ? jwt_new_from_file (config_get (config, "jwt-secret-file")) : NULL;
    auth_provider_t *auth = jwt ? auth_local_new (jwt, signup, ttl) : NULL;
    metrics_http_t *metrics = NULL;
    api_server_t *server = NULL;
    int rc = 1;
    //  The --metrics port's /readyz answers as the API's own does.
    health_probe_add ("postgresql", api_health_probe, strdup (config_get (config, "database")),
                      free);
    if (auth && cmd_metrics_start (config, "api", &metrics) == 0) {
        shutdown_install ();
        api_server_config_t server_config = {
            .listen = config_get (config, "listen"),
            .database = config_get (config, "database"),
            .redis = config_get (config, "redis"),
            .static_dir = config_get (config, "static"),
            .threads = (int) threads,
            .trusted_proxies = config_get (config, "trusted-proxies"),
            .allowed_hosts = config_get (config, "allowed-hosts"),
            .metrics_token = metrics_token,
            .auth = auth,
            .jwt = jwt,
            .settings = {
                .stale_after_s = (int) stale,
                .agent_endpoint = config_get (config, "agent-endpoint"),
                .keys_dir = config_get (config, "keys-dir"),
                .redis = config_get (config, "redis"),
                .send_timeout_ms = send_timeout,
                .public_url = config_get (config, "public-url"),
                .allow_hosts = config_get (config, "egress-allow-hosts"),
                .channel_keyring = channel_key,
                .channel_tests = tests
            }
        };
        server = api_server_new (&server_config);
    }
    if (server) {
        while (!shutdown_requested ())
            usleep (100 * 1000);
        log_info ("stopping the dashboard API");
        api_server_destroy (&server);
        rc = 0;
    }
    if (auth)
        auth->destroy (&auth);
    //  After the server: no request can queue a test any more.
    channel_tests_destroy (&tests);
    seal_keyring_destroy (&channel_key);
    jwt_destroy (&jwt);
    sodium_memzero (metrics_token, sizeof metrics_token);
    metrics_http_destroy (&metrics);
    health_probe_clear ();
    config_destroy (&config);
    return rc;
}
