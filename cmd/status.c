/*  drift status: ask each broker for its stats and print them, one table per
    broker (or the raw JSON with --format json).
*/
#include "commands.h"
#include "../lib/config.h"
#include "../lib/drp.h"
#include "../lib/journal.h"
#include "../lib/log.h"

#include <czmq.h>
#include <jansson.h>

static const config_option_t s_options [] = {
    CONFIG_COMMON_OPTIONS,
    { "broker", CONFIG_STRING, "tcp://127.0.0.1:5555", "broker endpoints, comma separated" },
    { "format", CONFIG_STRING, "text", "text or json" },
    { "timeout-ms", CONFIG_INT, "3000", "how long to wait for each broker" },
    { "database", CONFIG_STRING, "", "also show the journal and dead letters of this database" },
    { "ingest", CONFIG_STRING, "", "also show the counters of these ingest stats endpoints, comma separated" },
    CONFIG_END
};

static char *
s_ask (const char *endpoint, int timeout_ms)
{
    zsock_t *socket = zsock_new (ZMQ_DEALER);
    zsock_set_linger (socket, 0);
    zsock_set_rcvtimeo (socket, timeout_ms);
    char *json = NULL;
    if (zsock_connect (socket, "%s", endpoint) == 0) {
        drp_header_t request = { .command = DRP_STATS };
        drp_send (zsock_resolve (socket), NULL, &request, NULL, 0);
        //  Skip heartbeats; the reply is the one STATS with a body.
        zmq_msg_t frames [2];
        int count;
        while (!json && (count = drp_recv_frames (zsock_resolve (socket), frames, 2, 0)) > 0) {
            drp_header_t header;
            const char *reason;
            if (count == 2
            &&  drp_decode ((const uint8_t *) zmq_msg_data (&frames [0]),
                            zmq_msg_size (&frames [0]), &header, &reason) == 0
            &&  header.command == DRP_STATS)
                json = strndup ((const char *) zmq_msg_data (&frames [1]),
                                zmq_msg_size (&frames [1]));
            drp_close_frames (frames, count, 2);
        }
    }
    zsock_destroy (&socket);
    return json;
}

static void
s_print_table (const char *endpoint, const char *text)
{
    json_t *root = json_loads (text, 0, NULL);
    if (!root) {
        printf ("%s: unreadable stats\n", endpoint);
        return;
    }
    printf ("broker %s: %lld peers, %lld items (peak %lld, capacity %lld per stage)%s\n",
            endpoint,
            (long long) json_integer_value (json_object_get (root, "peers")),
            (long long) json_integer_value (json_object_get (root, "items")),
            (long long) json_integer_value (json_object_get (root, "items_peak")),
            (long long) json_integer_value (json_object_get (root, "capacity")),
            json_is_true (json_object_get (root, "draining")) ? ", draining" : "");
    static const char *columns [] = { "workers", "credit", "queued", "in_flight", "done",
                                      "requeued", "failed", "dropped" };
    printf ("  %-12s", "stage");
    for (size_t c = 0; c < 8; c++)
        printf (" %10s", columns [c]);
    printf ("\n");
    size_t index;
    json_t *stage;
    json_array_foreach (json_object_get (root, "stages"), index, stage) {
        printf ("  %-12s", json_string_value (json_object_get (stage, "name")));
        for (size_t c = 0; c < 8; c++)
            printf (" %10lld", (long long) json_integer_value (json_object_get (stage, columns [c])));
        printf ("\n");
    }
    const char *name;
    json_t *value;
    int shown = 0;
    json_object_foreach (json_object_get (root, "errors"), name, value) {
        if (json_integer_value (value)) {
            printf ("%s %s=%lld", shown++ ? "" : "  errors:", name,
                    (long long) json_integer_value (value));
        }
    }
    if (shown)
        printf ("\n");
    printf ("  log lines %lld, shed toward tails %lld\n",
            (long long) json_integer_value (json_object_get (root, "log_lines")),
            (long long) json_integer_value (json_object_get (root, "log_shed")));
    json_decref (root);
}

//  Entries in the journal (reports not yet finished) and dead letters, with
//  the ids an operator passes to `drift replay`.
static int
s_print_journal (const char *database, bool json)
{
    journal_t *journal = journal_new (database, 3000);
    int64_t length = 0, dead = 0;
    if (!journal || journal_lengths (journal, &length, &dead)) {
        fprintf (stderr, "drift status: cannot read the journal\n");
        journal_destroy (&journal);
        return -1;
    }
    int64_t ids [10];
    int listed = journal_dead_ids (journal, ids, 10);
    if (json) {
        printf ("{\"journal\":%lld,\"dead\":%lld,\"dead_ids\":[", (long long) length,
                (long long) dead);
        for (int i = 0; i < listed; i++)
            printf ("%s%lld", i ? "," : "", (long long) ids [i]);
        printf ("]}\n");
    }
    else {
        printf ("journal: %lld report%s not yet finished, %lld dead letter%s", (long long) length,
                length == 1 ? "" : "s", (long long) dead, dead == 1 ? "" : "s");
        for (int i = 0; i < listed; i++)
            printf ("%s%lld", i ? " " : " (drift replay ", (long long) ids [i]);
        printf ("%s\n", listed ? (dead > listed ? " ...)" : ")") : "");
    }
    journal_destroy (&journal);
    return 0;
}

//  One ingest's counters (its --stats endpoint): what it accepted and every
//  kind of refusal, so an operator sees why agents are turned away.
static int
s_print_ingest (const char *endpoint, int timeout, bool json)
{
    zsock_t *request = zsock_new_req (endpoint);
    zsock_set_rcvtimeo (request, timeout);
    zsock_set_linger (request, 0);
    zstr_send (request, "STATS");
    char *text = zstr_recv (request);
    zsock_destroy (&request);
    if (!text) {
        fprintf (stderr, "drift status: no answer from ingest %s within %d ms\n", endpoint, timeout);
        return -1;
    }
    json_t *stats = json_loads (text, 0, NULL);
    if (json)
        printf ("%s\n", text);
    else {
        printf ("ingest %s: journal %s; %lld messages, %lld reports accepted, %lld duplicates, "
                "%lld acked, %lld fed to the pipeline, %lld left to the replayer\n", endpoint,
                json_is_true (json_object_get (stats, "journal_up")) ? "up" : "DOWN",
                json_integer_value (json_object_get (stats, "messages")),
                json_integer_value (json_object_get (stats, "accepted")),
                json_integer_value (json_object_get (stats, "duplicates")),
                json_integer_value (json_object_get (stats, "acked")),
                json_integer_value (json_object_get (stats, "submitted")),
                json_integer_value (json_object_get (stats, "deferred")));
        const char *groups [] = { "nacks", "bad", "zap" };
        for (size_t g = 0; g < sizeof groups / sizeof groups [0]; g++) {
            printf ("  %-6s", groups [g]);
            const char *name;
            json_t *value;
            json_object_foreach (json_object_get (stats, groups [g]), name, value)
                printf (" %s %lld", name, json_integer_value (value));
            printf ("\n");
        }
    }
    json_decref (stats);
    zstr_free (&text);
    return 0;
}

int
cmd_status (int argc, char **argv)
{
    int exit_code;
    config_t *config = cmd_load ("status", "Show each broker's stages, queues and counters.",
                                 s_options, argc, argv, &exit_code);
    if (!config)
        return exit_code;
    bool json = streq (config_get (config, "format"), "json");
    int timeout = (int) config_get_int (config, "timeout-ms");
    char *endpoints = strdup (config_get (config, "broker"));
    char *rest = endpoints;
    char *endpoint;
    int rc = 0;
    while ((endpoint = strsep (&rest, ","))) {
        if (!*endpoint)
            continue;
        char *stats = s_ask (endpoint, timeout);
        if (!stats) {
            fprintf (stderr, "drift status: no answer from broker %s within %d ms\n",
                     endpoint, timeout);
            rc = 1;
            continue;
        }
        if (json)
            printf ("%s\n", stats);
        else
            s_print_table (endpoint, stats);
        free (stats);
    }
    free (endpoints);
    const char *database = config_get (config, "database");
    if (*database && s_print_journal (database, json))
        rc = 1;
    char *ingests = strdup (config_get (config, "ingest"));
    rest = ingests;
    while ((endpoint = strsep (&rest, ",")))
        if (*endpoint && s_print_ingest (endpoint, timeout, json))
            rc = 1;
    free (ingests);
    config_destroy (&config);
    return rc;
}
