/*  drift: the server executable. One binary, one role per subcommand, so one
    image serves every compose service and any number of copies of a role can
    run on any host.
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

static const actor_def_t *s_actors [] = {
    &normalize_actor, &score_actor, &archive_actor, &notify_actor
};

static void
s_usage (FILE *out)
{
    fprintf (out,
        "usage: drift COMMAND [options]   (drift COMMAND --help for its options)\n\n"
        "pipeline roles:\n"
        "  api         serve the dashboard's HTTP API and its files\n"
        "  broker      route envelopes between the stages\n"
        "  ingest      serve agents over CurveZMQ, journal their reports, feed the pipeline\n"
        "  replayer    send reports the journal says were not finished through again\n");
    for (size_t i = 0; i < sizeof s_actors / sizeof s_actors [0]; i++)
        fprintf (out, "  %-11s %s\n", s_actors [i]->name, s_actors [i]->summary);
    fprintf (out,
        "\noperator commands:\n"
        "  archive get fetch one archived raw report, checked and decrypted\n"
        "  channel     a tenant's notification channels: add, list, test, remove\n"
        "  user        dashboard accounts of a tenant: add, list\n"
        "  check       normalize and score one plan locally; exit 1 when it should fail CI\n"
        "  keys        the server's CURVE keypair, agent certificates, revocation\n"
        "  migrate     apply pending schema migrations\n"
        "  prune       remove reports, their objects and resolved drift past the retention\n"
        "  replay      send dead letters back into the journal\n"
        "  status      show each stage's workers, queues and counters\n"
        "  tail        print the live log lines of every role connected to a broker\n"
        "  tenant      create and list tenants\n");
}

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

char *
cmd_read_all (const char *path, size_t *size)
{
    FILE *file = strcmp (path, "-") == 0 ? stdin : fopen (path, "rb");
    if (!file)
        return NULL;
    size_t capacity = 1 << 16, used = 0;
    char *data = (char *) malloc (capacity + 1);
    while (data) {
        used += fread (data + used, 1, capacity - used, file);
        if (used < capacity)
            break;
        capacity *= 2;
        char *grown = (char *) realloc (data, capacity + 1);
        if (!grown) {
            free (data);
            data = NULL;
            break;
        }
        data = grown;
    }
    bool failed = ferror (file) != 0;
    if (file != stdin)
        fclose (file);
    if (failed || !data) {
        free (data);
        return NULL;
    }
    data [used] = 0;
    *size = used;
    return data;
}

int
main (int argc, char **argv)
{
    if (argc < 2) {
        s_usage (stderr);
        return 2;
    }
    const char *command = argv [1];
    if (strcmp (command, "help") == 0 || strcmp (command, "--help") == 0) {
        s_usage (stdout);
        return 0;
    }
    if (strcmp (command, "api") == 0)
        return cmd_api (argc - 1, argv + 1);
    if (strcmp (command, "broker") == 0)
        return cmd_broker (argc - 1, argv + 1);
    //  `drift archive get` is an operator command beside the archive stage.
    if (strcmp (command, "archive") == 0 && argc > 2 && strcmp (argv [2], "get") == 0)
        return cmd_archive_get (argc - 2, argv + 2);
    if (strcmp (command, "user") == 0)
        return cmd_user (argc - 1, argv + 1);
    if (strcmp (command, "channel") == 0)
        return cmd_channel (argc - 1, argv + 1);
    if (strcmp (command, "check") == 0)
        return cmd_check (argc - 1, argv + 1);
    if (strcmp (command, "ingest") == 0)
        return cmd_ingest (argc - 1, argv + 1);
    if (strcmp (command, "keys") == 0)
        return cmd_keys (argc - 1, argv + 1);
    if (strcmp (command, "migrate") == 0)
        return cmd_migrate (argc - 1, argv + 1);
    if (strcmp (command, "prune") == 0)
        return cmd_prune (argc - 1, argv + 1);
    if (strcmp (command, "replayer") == 0)
        return cmd_replayer (argc - 1, argv + 1);
    if (strcmp (command, "replay") == 0)
        return cmd_replay (argc - 1, argv + 1);
    if (strcmp (command, "status") == 0)
        return cmd_status (argc - 1, argv + 1);
    if (strcmp (command, "tail") == 0)
        return cmd_tail (argc - 1, argv + 1);
    if (strcmp (command, "tenant") == 0)
        return cmd_tenant (argc - 1, argv + 1);
    for (size_t i = 0; i < sizeof s_actors / sizeof s_actors [0]; i++)
        if (strcmp (command, s_actors [i]->name) == 0)
            return cmd_actor (s_actors [i], argc - 1, argv + 1);
    fprintf (stderr, "drift: unknown command '%s'\n\n", command);
    s_usage (stderr);
    return 2;
}
