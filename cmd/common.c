/*  common: what every `drift` subcommand shares (declared in commands.h):
    loading its settings and starting its logging and broker credentials,
    serving metrics and health, the channel key, reading a whole input.
    Kept apart from the dispatcher (drift.c), so a subcommand depends on
    these helpers and never on the file that calls it.
*/
#include "commands.h"
#include "../lib/config.h"
#include "../lib/health.h"
#include "../lib/log.h"
#include "../lib/link.h"
#include "../lib/seal.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

config_t *
cmd_load (const char *role, const char *summary, const config_option_t *options,
          int argc, char **argv, int *exit_code)
{
    config_t *config = config_load (role, summary, options, argc, argv, exit_code);
    if (config
    &&  log_init (role, config_get (config, "log-format"), config_get (config, "log-level"))) {
        fprintf (stderr, "drift %s: log-format must be logfmt or json, log-level one of "
                 "debug, info, warn, error\n", role);
        config_destroy (&config);
        *exit_code = 2;
    }
    if (config && config_has (config, "broker-cert") && *config_get (config, "broker-cert")) {
        char error [512];
        if (link_curve_set (config_get (config, "broker-cert"), config_get (config, "broker-key"),
                            error, sizeof error)) {
            fprintf (stderr, "drift %s: %s\n", role, error);
            config_destroy (&config);
            *exit_code = 2;
        }
    }
    return config;
}

int
cmd_metrics_start (config_t *config, const char *role, metrics_http_t **server)
{
    *server = NULL;
    metrics_process (role);
    const char *address = config_get (config, "metrics");
    if (!*address)
        return 0;
    *server = metrics_http_new (address, metrics_default ());
    if (!*server) {
        fprintf (stderr, "drift %s: cannot serve metrics on '%s' (need a free IPV4:PORT or "
                 "[IPV6]:PORT of this host)\n", role, address);
        return -1;
    }
    return 0;
}

//  The role's broker need, declared before its loop starts (see health.h).
static health_need_t *s_broker_need;

int
cmd_health_start (config_t *config, bool broker, const char *database, const char *redis)
{
    long stall_ms = config_get_int (config, "stall-ms");
    if (stall_ms < 100)
        return -1;
    health_set_stall_ms (stall_ms);
    if (broker)
        s_broker_need = health_need_new ("broker");
    health_probe_services (database, redis);
    return 0;
}

void
cmd_health_stop (void)
{
    health_need_destroy (&s_broker_need);
    health_probe_clear ();
}

int
cmd_channel_key (config_t *config, const char *role, seal_keyring_t **keyring)
{
    *keyring = NULL;
    const char *path = config_get (config, "channel-key");
    if (!*path)
        return 0;
    char error [512];
    *keyring = seal_keyring_load (path, NULL, error, sizeof error);
    if (!*keyring) {
        fprintf (stderr, "drift %s: --channel-key refused: %s\n", role, error);
        return -1;
    }
    return 0;
}

int
cmd_tenant_begin (PGconn *conn, const char *command, const char *name, char id [37])
{
    PQclear (PQexec (conn, "BEGIN"));
    const char *params [] = { name };
    PGresult *result = PQexecParams (conn,
        "SELECT t.id, drift_set_tenant (t.id) FROM tenants t "
        "WHERE t.name = $1 OR t.id::text = lower ($1)", 1, NULL, params, NULL, NULL, 0);
    int rc = PQresultStatus (result) != PGRES_TUPLES_OK ? -1 : PQntuples (result) == 1 ? 0 : 1;
    if (rc == 0)
        snprintf (id, 37, "%s", PQgetvalue (result, 0, 0));
    else
    if (rc == 1)
        fprintf (stderr, "drift %s: no tenant '%s'\n", command, name);
    PQclear (result);
    return rc;
}
