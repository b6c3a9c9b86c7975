/*  drift ingest|normalize|score|archive|notify: run one pipeline stage as a
    worker of the brokers given. A stage's own settings are added to the
    common ones; `drift normalize --input` runs once instead (cmd/normalize.c).
*/
#include "commands.h"
#include "../lib/config.h"
#include "../lib/log.h"
#include "../lib/shutdown.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

static const config_option_t s_options [] = {
    CONFIG_COMMON_OPTIONS,
    CMD_BROKER_OPTIONS,
    CMD_DATABASE_OPTION,
    CMD_METRICS_OPTION,
    CMD_STALL_OPTION,
    //  Two batches (DRP_BATCH_MAX each): the next waits here while one is
    //  flushed, and the archive writes one while it runs the next.
    { "credit", CONFIG_INT, "128", "envelopes each broker may have in flight here" },
    CONFIG_END
};

//  The common options followed by the stage's own (caller frees).
static config_option_t *
s_all_options (const actor_def_t *actor)
{
    size_t common = sizeof s_options / sizeof s_options [0] - 1;
    size_t own = 0;
    while (actor->options && actor->options [own].name)
        own++;
    config_option_t *options = (config_option_t *) malloc ((common + own + 1) * sizeof *options);
    assert (options);
    memcpy (options, s_options, common * sizeof *options);
    if (own)
        memcpy (options + common, actor->options, own * sizeof *options);
    options [common + own] = s_options [common];
    return options;
}

int
cmd_actor (const actor_def_t *actor, int argc, char **argv)
{
    int exit_code;
    config_option_t *options = s_all_options (actor);
    config_t *config = cmd_load (actor->name, actor->summary, options, argc, argv,
                                 &exit_code);
    if (!config) {
        free (options);
        return exit_code;
    }
    if (actor == &normalize_actor && *config_get (config, "input")) {
        int rc = cmd_normalize_input (config);
        config_destroy (&config);
        free (options);
        return rc;
    }
    long credit = config_get_int (config, "credit");
    long heartbeat = config_get_int (config, "heartbeat-ms");
    long liveness = config_get_int (config, "liveness");
    if (credit < 1 || credit > 10000 || heartbeat < 10 || liveness < 2) {
        fprintf (stderr, "drift %s: need 1 <= credit <= 10000, heartbeat-ms >= 10, "
                 "liveness >= 2\n", actor->name);
        config_destroy (&config);
        free (options);
        return 2;
    }
    //  Every stage records failures in the journal (PostgreSQL); notify
    //  also keeps its outbox and dedup marks in Redis.
    if (cmd_health_start (config, true, config_get (config, "database"),
                          config_has (config, "redis") ? config_get (config, "redis") : NULL)) {
        fprintf (stderr, "drift %s: need stall-ms >= 100\n", actor->name);
        config_destroy (&config);
        free (options);
        return 2;
    }
    metrics_http_t *metrics;
    if (cmd_metrics_start (config, actor->name, &metrics)) {
        cmd_health_stop ();
        config_destroy (&config);
        free (options);
        return 1;
    }
    shutdown_install ();
    void *state = actor->open ? actor->open (config) : NULL;
    if (actor->open && !state) {
        metrics_http_destroy (&metrics);
        cmd_health_stop ();
        config_destroy (&config);
        free (options);
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
        .database = config_get (config, "database"),
        .flush_begin = actor->flush_begin,
        .flush_end = actor->flush_end,
        .flush_fd = actor->flush_fd
    };
    int rc = worker_run (&worker, NULL);
    if (actor->close)
        actor->close (state);
    metrics_http_destroy (&metrics);
    cmd_health_stop ();
    config_destroy (&config);
    free (options);
    return rc ? 1 : 0;
}
