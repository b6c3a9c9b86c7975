/*  drift broker: run the broker in the foreground until SIGINT/SIGTERM, then
    drain (see broker/broker.h).

    CURVE by default: the broker's keypair (--curve-cert) and the directory
    of allowed role keys (--curve-roles) come from `drift keys init`, and
    this process runs the ZAP handler (lib/zap) that checks every client
    key against that directory. A missing keypair is an error, never a
    silent fall-back to plaintext: running without keys takes
    --curve-cert "" (loopback only) or, beyond this host, --insecure 1.
*/
#include "commands.h"
#include "../broker/broker.h"
#include "../lib/config.h"
#include "../lib/log.h"
#include "../lib/shutdown.h"
#include "../lib/zap.h"

static const config_option_t s_options [] = {
    CONFIG_COMMON_OPTIONS,
    { "bind", CONFIG_STRING, "tcp://127.0.0.1:5555", "endpoints to listen on, comma separated" },
    { "pipeline", CONFIG_STRING, BROKER_DEFAULT_PIPELINE, "stages in order, comma separated" },
    { "capacity", CONFIG_INT, "1000", "most envelopes queued per stage" },
    { "heartbeat-ms", CONFIG_INT, "1000", "heartbeat interval, both ways" },
    { "liveness", CONFIG_INT, "3", "heartbeats missed before a peer is expired" },
    { "producer-window", CONFIG_INT, "256", "most credit one producer may hold" },
    { "max-body", CONFIG_INT, "33554432", "largest envelope accepted, bytes" },
    { "drain-ms", CONFIG_INT, "5000", "on stop, longest wait for queued work to finish" },
    { "curve-cert", CONFIG_STRING, "/var/lib/drift/keys/broker.key",
      "the broker's CURVE keypair (drift keys init; \"\" = plaintext, loopback only)" },
    { "curve-roles", CONFIG_STRING, "/var/lib/drift/keys/broker-roles",
      "directory of the role keys allowed in, each with its roles (drift keys init)" },
    { "insecure", CONFIG_INT, "0",
      "1: allow a plaintext broker on addresses beyond this host (anyone reaching it joins)" },
    CMD_METRICS_OPTION,
    CMD_STALL_OPTION,
    CONFIG_END
};

int
cmd_broker (int argc, char **argv)
{
    int exit_code;
    config_t *config = cmd_load ("broker", "Route envelopes between the pipeline's stages.",
                                 s_options, argc, argv, &exit_code);
    if (!config)
        return exit_code;
    broker_config_t settings = {
        .pipeline = config_get (config, "pipeline"),
        .capacity = (int) config_get_int (config, "capacity"),
        .heartbeat_ms = (int) config_get_int (config, "heartbeat-ms"),
        .liveness = (int) config_get_int (config, "liveness"),
        .producer_window = (int) config_get_int (config, "producer-window"),
        .max_body = (int) config_get_int (config, "max-body"),
        .drain_ms = (int) config_get_int (config, "drain-ms"),
        .curve_cert = config_get (config, "curve-cert"),
        .role_keys = config_get (config, "curve-roles"),
        .insecure = config_get_int (config, "insecure") != 0
    };
    if (settings.capacity < 1 || settings.heartbeat_ms < 10 || settings.liveness < 2
    ||  settings.producer_window < 1 || settings.max_body < 1024 || settings.drain_ms < 0) {
        fprintf (stderr, "drift broker: need capacity >= 1, heartbeat-ms >= 10, liveness >= 2, "
                 "producer-window >= 1, max-body >= 1024, drain-ms >= 0\n");
        config_destroy (&config);
        return 2;
    }
    if (broker_check_pipeline (settings.pipeline)) {
        fprintf (stderr, "drift broker: pipeline '%s': stage names must be distinct and "
                 "non-empty, at most 16\n", settings.pipeline);
        config_destroy (&config);
        return 2;
    }
    if (cmd_health_start (config, false, NULL, NULL)) {
        fprintf (stderr, "drift broker: need stall-ms >= 100\n");
        config_destroy (&config);
        return 2;
    }
    metrics_http_t *metrics;
    if (cmd_metrics_start (config, "broker", &metrics)) {
        config_destroy (&config);
        return 1;
    }
    shutdown_install ();
    //  The ZAP handler first: the broker's socket asks it about every
    //  client, and without it (domain enforced) refuses them all.
    zap_config_t zap_config = { .role_keys = settings.role_keys };
    zactor_t *zap = *settings.curve_cert ? zactor_new (zap_actor, &zap_config) : NULL;
    if (!zap)
        log_warn ("broker runs in plaintext: no client is authenticated (--curve-cert \"\")");
    zactor_t *broker = zactor_new (broker_actor, &settings);
    int rc = 0;
    char *endpoints = strdup (config_get (config, "bind"));
    char *rest = endpoints;
    char *endpoint;
    while ((endpoint = strsep (&rest, ",")))
        if (*endpoint && broker_bind (broker, endpoint) < 0)
            rc = 1;
    free (endpoints);
    while (rc == 0 && !shutdown_requested ())
        zclock_sleep (100);
    zactor_destroy (&broker);
    zactor_destroy (&zap);
    metrics_http_destroy (&metrics);
    config_destroy (&config);
    return rc;
}
