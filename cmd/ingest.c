/*  drift ingest: serve agents on the CURVE endpoint (and, with --https-bind,
    on the HTTPS face behind Caddy), journal what they send
    and feed it to the pipeline (see actors/ingest/ingest.h). Any number may run
    behind one address; the journal keeps them from double-accepting a
    report.
*/
#include "commands.h"
#include "../actors/ingest/ingest.h"
#include "../lib/agent_link.h"
#include "../lib/config.h"
#include "../lib/shutdown.h"

#include <stdio.h>

static const config_option_t s_options [] = {
    CONFIG_COMMON_OPTIONS,
    CMD_BROKER_OPTIONS,
    CMD_DATABASE_OPTION,
    CMD_REDIS_OPTION,
    CMD_KEYS_DIR_OPTION,
    CMD_METRICS_OPTION,
    CMD_STALL_OPTION,
    { "endpoint", CONFIG_STRING, AGENT_LINK_BIND_ENDPOINT, "agent endpoint to bind (CURVE)" },
    { "stats", CONFIG_STRING, "tcp://127.0.0.1:5561", "endpoint answering STATS with JSON counters (\"\" for none)" },
    { "stage", CONFIG_STRING, "normalize", "stage accepted reports enter" },
    { "deadline-s", CONFIG_INT, "30", "completion deadline: a report not finished by then is replayed" },
    { "group-ms", CONFIG_INT, "2", "longest a report waits to be journaled with others" },
    { "group-max", CONFIG_INT, "256", "most reports in one journal send" },
    { "group-max-bytes", CONFIG_INT, "4194304", "a group is sent once its reports reach this size" },
    //  16 MiB, not the agent's 64 MiB ceiling: a drained frame is held, then
    //  copied by the decode and again into the journal's envelope, so each
    //  report in flight costs about three times its size; large real plans
    //  are a few MiB (tests/fixtures' largest is 3 MB).
    { "max-report-bytes", CONFIG_INT, "16777216", "largest report accepted, uncompressed (16 MiB)" },
    { "rate", CONFIG_INT, "20", "messages per second per agent, sustained" },
    { "burst", CONFIG_INT, "200", "messages per agent accepted at once" },
    { "https-bind", CONFIG_STRING, "", "HOST:PORT of the HTTPS face for agents behind Caddy, internal network only; HOST an IPv4 address, or SUBNET/BITS for this host's address in it (\"\" for none)" },
    { "https-proxy-secret", CONFIG_STRING, "", "file holding the secret Caddy sends in X-Drift-Proxy-Secret (https-bind)" },
    { "https-timeout-s", CONFIG_INT, "30", "HTTPS face: idle connection timeout (slow clients are cut off)" },
    { "https-connections", CONFIG_INT, "256", "HTTPS face: most connections at once" },
    { "registry-cache-ms", CONFIG_INT, "1000", "how long a key's registry answer is reused (revocations take effect within it)" },
    CONFIG_END
};

int
cmd_ingest (int argc, char **argv)
{
    int exit_code;
    config_t *config = cmd_load ("ingest",
        "Serve agents over CurveZMQ, journal their reports and feed them to the pipeline.",
        s_options, argc, argv, &exit_code);
    if (!config)
        return exit_code;
    if (cmd_health_start (config, true, config_get (config, "database"),
                          config_get (config, "redis"))) {
        fprintf (stderr, "drift ingest: need stall-ms >= 100\n");
        config_destroy (&config);
        return 2;
    }
    metrics_http_t *metrics;
    if (cmd_metrics_start (config, "ingest", &metrics)) {
        cmd_health_stop ();
        config_destroy (&config);
        return 1;
    }
    shutdown_install ();
    ingest_config_t settings = {
        .endpoint = config_get (config, "endpoint"),
        .keys_dir = config_get (config, "keys-dir"),
        .database = config_get (config, "database"),
        .redis = config_get (config, "redis"),
        .brokers = config_get (config, "broker"),
        .stage = config_get (config, "stage"),
        .stats_endpoint = config_get (config, "stats"),
        .deadline_s = (int) config_get_int (config, "deadline-s"),
        .group_ms = (int) config_get_int (config, "group-ms"),
        .group_max = (int) config_get_int (config, "group-max"),
        .group_max_bytes = (size_t) config_get_int (config, "group-max-bytes"),
        .max_report_bytes = (uint64_t) config_get_int (config, "max-report-bytes"),
        .rate = (double) config_get_int (config, "rate"),
        .burst = (int) config_get_int (config, "burst"),
        .registry_cache_ms = (int) config_get_int (config, "registry-cache-ms"),
        .heartbeat_ms = (int) config_get_int (config, "heartbeat-ms"),
        .liveness = (int) config_get_int (config, "liveness"),
        .https_bind = config_get (config, "https-bind"),
        .https_proxy_secret_file = config_get (config, "https-proxy-secret"),
        .https_timeout_s = (int) config_get_int (config, "https-timeout-s"),
        .https_connections = (int) config_get_int (config, "https-connections")
    };
    int rc = ingest_run (&settings);
    metrics_http_destroy (&metrics);
    cmd_health_stop ();
    config_destroy (&config);
    return rc ? 2 : 0;
}
