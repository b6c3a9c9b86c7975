/*  drift ingest|normalize|score|archive|notify: run one pipeline stage as a
    worker of the brokers given.
*/
#include "commands.h"
#include "../lib/config.h"
#include "../lib/log.h"
#include "../lib/shutdown.h"

static const config_option_t s_options [] = {
    CONFIG_COMMON_OPTIONS,
    CMD_BROKER_OPTIONS,
    CMD_DATABASE_OPTION,
    { "credit", CONFIG_INT, "64", "envelopes each broker may have in flight here" },
    CONFIG_END
};

int
cmd_actor (const actor_def_t *actor, int argc, char **argv)
{
    int exit_code;
    config_t *config = cmd_load (actor->name, actor->summary, s_options, argc, argv,
                                 &exit_code);
    if (!config)
        return exit_code;
    long credit = config_get_int (config, "credit");
    long heartbeat = config_get_int (config, "heartbeat-ms");
    long liveness = config_get_int (config, "liveness");
    if (credit < 1 || credit > 10000 || heartbeat < 10 || liveness < 2) {
        fprintf (stderr, "drift %s: need 1 <= credit <= 10000, heartbeat-ms >= 10, "
                 "liveness >= 2\n", actor->name);
        config_destroy (&config);
        return 2;
    }
    shutdown_install ();
    void *state = actor->open ? actor->open (config) : NULL;
    if (actor->open && !state) {
        config_destroy (&config);
        return 1;
    }
    worker_config_t worker = {
        .stage = actor->name,
        .brokers = config_get (config, "broker"),
        .credit = (int) credit,
        .heartbeat_ms = (int) heartbeat,
        .liveness = (int) liveness,
        .fn = actor->fn,
        .state = state,
        .flush = actor->flush,
        .database = config_get (config, "database")
    };
    int rc = worker_run (&worker, NULL);
    if (actor->close)
        actor->close (state);
    config_destroy (&config);
    return rc ? 1 : 0;
}
