/*  drift replayer: send overdue journal entries through the pipeline again,
    dead-lettering those past the attempt limit (see actors/replayer/replayer.h). Any
    number may run, on any hosts.
*/
#include "commands.h"
#include "../lib/config.h"
#include "../actors/replayer/replayer.h"
#include "../lib/shutdown.h"

static const config_option_t s_options [] = {
    CONFIG_COMMON_OPTIONS,
    CMD_BROKER_OPTIONS,
    CMD_DATABASE_OPTION,
    CMD_METRICS_OPTION,
    CMD_STALL_OPTION,
    { "stage", CONFIG_STRING, "normalize", "stage replayed reports enter (the one after ingest)" },
    { "deadline-s", CONFIG_INT, "30", "completion deadline: a report not finished by then is replayed" },
    { "max-attempts", CONFIG_INT, "5", "deliveries before a report goes to the dead-letter queue" },
    { "interval-ms", CONFIG_INT, "1000", "pause between journal reads when there is no backlog" },
    { "batch", CONFIG_INT, "100", "most entries read at once" },
    { "dedup-days", CONFIG_INT, "30",
      "ingest's claims of report ids are forgotten after this many days (0: never)" },
    { "journal-keep-days", CONFIG_INT, "7",
      "finished journal entries (pgmq's archive, raw reports included) are dropped after "
      "this many days (0: never)" },
    CONFIG_END
};

int
cmd_replayer (int argc, char **argv)
{
    int exit_code;
    config_t *config = cmd_load ("replayer",
        "Send reports the journal says were not finished through the pipeline again.",
        s_options, argc, argv, &exit_code);
    if (!config)
        return exit_code;
    if (cmd_health_start (config, true, config_get (config, "database"), NULL)) {
        fprintf (stderr, "drift replayer: need stall-ms >= 100\n");
        config_destroy (&config);
        return 2;
    }
    metrics_http_t *metrics;
    if (cmd_metrics_start (config, "replayer", &metrics)) {
        cmd_health_stop ();
        config_destroy (&config);
        return 1;
    }
    shutdown_install ();
    replayer_config_t settings = {
        .database = config_get (config, "database"),
        .brokers = config_get (config, "broker"),
        .stage = config_get (config, "stage"),
        .deadline_s = (int) config_get_int (config, "deadline-s"),
        .max_attempts = (int) config_get_int (config, "max-attempts"),
        .interval_ms = (int) config_get_int (config, "interval-ms"),
        .batch = (int) config_get_int (config, "batch"),
        .heartbeat_ms = (int) config_get_int (config, "heartbeat-ms"),
        .liveness = (int) config_get_int (config, "liveness"),
        .dedup_days = (int) config_get_int (config, "dedup-days"),
        .journal_keep_days = (int) config_get_int (config, "journal-keep-days")
    };
    int rc = replayer_run (&settings, NULL);
    metrics_http_destroy (&metrics);
    cmd_health_stop ();
    config_destroy (&config);
    return rc ? 2 : 0;
}
