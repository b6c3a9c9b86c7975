/*  drift: the server executable. One binary, one role per subcommand, so one
    image serves every compose service and any number of copies of a role can
    run on any host. This file only dispatches: the helpers the subcommands
    share are in cmd/common.c.
*/
#include "commands.h"

#include <stdio.h>
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
        "  token       API tokens of a tenant (CI, scripts): create, list, revoke\n"
        "  check       normalize and score one plan locally; exit 1 when it should fail CI\n"
        "  keys        the server's CURVE keypair, agent certificates, revocation\n"
        "  migrate     apply pending schema migrations\n"
        "  prune       remove reports, their objects and resolved drift past the retention\n"
        "  replay      send dead letters back into the journal\n"
        "  status      show each stage's workers, queues and counters\n"
        "  tail        print the live log lines of every role connected to a broker\n"
        "  tenant      create and list tenants\n");
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
    if (strcmp (command, "token") == 0)
        return cmd_token (argc - 1, argv + 1);
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
