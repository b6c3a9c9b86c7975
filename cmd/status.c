/*  drift status: ask each broker for its stats and print them, one table per
    broker with every connected worker and producer under it (or the raw JSON
    with --format json). With --database also the journal (reports not yet
    finished, dead letters), the notification channels that failed for
    good, with why, and the stacks whose last check failed or that have sent
    nothing for --silent-after-s.
*/
#include "commands.h"
#include "../lib/config.h"
#include "../lib/db.h"
#include "../lib/drp.h"
#include "../lib/journal.h"
#include "../lib/link.h"
#include "../lib/log.h"

#include <czmq.h>
#include <jansson.h>

static const config_option_t s_options [] = {
    CONFIG_COMMON_OPTIONS,
    { "broker", CONFIG_STRING, "tcp://127.0.0.1:5555", "broker endpoints, comma separated" },
    CMD_BROKER_CURVE_OPTIONS,
    { "format", CONFIG_STRING, "text", "text or json" },
    { "timeout-ms", CONFIG_INT, "3000", "how long to wait for each broker" },
    { "database", CONFIG_STRING, "",
      "also show the journal, dead letters, failing channels and failing or silent stacks" },
    { "silent-after-s", CONFIG_INT, "86400",
      "with --database: a stack with no report for this long is silent (0: not shown)" },
    { "ingest", CONFIG_STRING, "", "also show the counters of these ingest stats endpoints, comma separated" },
    CONFIG_END
};

static char *
s_ask (const char *endpoint, int timeout_ms)
{
    zsock_t *socket = zsock_new (ZMQ_DEALER);
    zsock_set_linger (socket, 0);
    zsock_set_rcvtimeo (socket, timeout_ms);
    link_curve_apply (socket);
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

//  Every worker (or producer) connected to the broker, one line each: a host
//  that is lost drops out of this list once the broker expires it.
static void
s_print_peers (json_t *root, const char *kind)
{
    json_t *peers = json_object_get (root, kind);
    if (!json_array_size (peers))
        return;
    bool workers = streq (kind, "workers");
    printf ("  %-12s %-28s %-10s %11s %10s %10s %10s\n", workers ? "worker" : "producer",
            "instance", "version", workers ? "credit" : "granted", "in_flight", "heard_ms",
            "up_s");
    size_t index;
    json_t *peer;
    json_array_foreach (peers, index, peer) {
        const char *version = json_string_value (json_object_get (peer, "version"));
        //  A worker's credit left of what its READY granted; a producer's
        //  credit outstanding of its window.
        char credit [48], in_flight [24] = "-";
        snprintf (credit, sizeof credit, "%lld/%lld", (long long) json_integer_value (
                      json_object_get (peer, workers ? "credit" : "granted")),
                  (long long) json_integer_value (
                      json_object_get (peer, workers ? "ready_credit" : "window")));
        if (workers)
            snprintf (in_flight, sizeof in_flight, "%lld",
                      (long long) json_integer_value (json_object_get (peer, "in_flight")));
        printf ("  %-12s %-28s %-10s %11s %10s %10lld %10lld\n",
                json_string_value (json_object_get (peer, "stage")),
                json_string_value (json_object_get (peer, "instance")),
                version && *version ? version : "-", credit, in_flight,
                (long long) json_integer_value (json_object_get (peer, "heard_ms_ago")),
                (long long) json_integer_value (json_object_get (peer, "connected_ms_ago")) / 1000);
    }
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
    s_print_peers (root, "workers");
    s_print_peers (root, "producers");
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
//  Channels whose last delivery failed for good (later than their last
//  success), every tenant's: read under each tenant in turn, since the
//  channels are under row-level security even for their owner.
//  sql (parameters: tenant_id, then param if not NULL) under tenant_id
//  (db_tenant_query); the result, the caller's (NULL if the transaction
//  failed).
static PGresult *
s_tenant_query (PGconn *conn, const char *tenant_id, const char *sql, const char *param)
{
    const char *params [] = { tenant_id, param };
    return db_tenant_query (conn, tenant_id, sql, param ? 2 : 1, params);
}

static int
s_print_channels (const char *database, bool json)
{
    PGconn *conn = db_connect (database, 3000);
    if (!conn) {
        fprintf (stderr, "drift status: cannot read the channels\n");
        return -1;
    }
    PGresult *tenants = PQexec (conn, "SELECT id, name FROM tenants ORDER BY name");
    json_t *failing = json_array ();
    for (int t = 0; PQresultStatus (tenants) == PGRES_TUPLES_OK && t < PQntuples (tenants); t++) {
        PGresult *result = s_tenant_query (conn, PQgetvalue (tenants, t, 0),
            "SELECT name, kind, last_error, to_char (last_error_at AT TIME ZONE 'UTC', "
            "'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), failed_total FROM notification_channels "
            "WHERE tenant_id = $1::uuid AND last_error IS NOT NULL"
            "  AND (last_sent_at IS NULL OR last_error_at > last_sent_at) "
            "ORDER BY name", NULL);
        for (int i = 0; PQresultStatus (result) == PGRES_TUPLES_OK && i < PQntuples (result); i++) {
            json_t *entry = json_object ();
            json_object_set_new (entry, "tenant", json_string (PQgetvalue (tenants, t, 1)));
            json_object_set_new (entry, "channel", json_string (PQgetvalue (result, i, 0)));
            json_object_set_new (entry, "kind", json_string (PQgetvalue (result, i, 1)));
            json_object_set_new (entry, "last_error", json_string (PQgetvalue (result, i, 2)));
            json_object_set_new (entry, "last_error_at", json_string (PQgetvalue (result, i, 3)));
            json_object_set_new (entry, "failed_total", json_integer (atoll (PQgetvalue (result, i, 4))));
            json_array_append_new (failing, entry);
        }
        PQclear (result);
    }
    int rc = PQresultStatus (tenants) == PGRES_TUPLES_OK ? 0 : -1;
    PQclear (tenants);
    PQfinish (conn);
    if (rc) {
        fprintf (stderr, "drift status: cannot read the channels\n");
        json_decref (failing);
        return -1;
    }
    if (json) {
        char *text = json_dumps (failing, JSON_COMPACT);
        printf ("{\"failing_channels\":%s}\n", text);
        free (text);
    }
    else {
        printf ("channels: %zu failing for good\n", json_array_size (failing));
        size_t index;
        json_t *entry;
        json_array_foreach (failing, index, entry)
            printf ("  %s/%s (%s) at %s, %lld failed in all: %s\n",
                    json_string_value (json_object_get (entry, "tenant")),
                    json_string_value (json_object_get (entry, "channel")),
                    json_string_value (json_object_get (entry, "kind")),
                    json_string_value (json_object_get (entry, "last_error_at")),
                    (long long) json_integer_value (json_object_get (entry, "failed_total")),
                    json_string_value (json_object_get (entry, "last_error")));
    }
    json_decref (failing);
    return 0;
}

//  Stacks whose last report failed, and stacks with no report for
//  silent_after_s (0: none counted silent), every tenant's.
static int
s_print_stacks (const char *database, int silent_after_s, bool json)
{
    PGconn *conn = db_connect (database, 3000);
    if (!conn) {
        fprintf (stderr, "drift status: cannot read the stacks\n");
        return -1;
    }
    char silent [24];
    snprintf (silent, sizeof silent, "%d", silent_after_s);
    PGresult *tenants = PQexec (conn, "SELECT id, name FROM tenants ORDER BY name");
    json_t *stacks = json_array ();
    size_t failing = 0;
    for (int t = 0; PQresultStatus (tenants) == PGRES_TUPLES_OK && t < PQntuples (tenants); t++) {
        PGresult *result = s_tenant_query (conn, PQgetvalue (tenants, t, 0),
            "SELECT s.name, CASE WHEN r.status = 'failed' THEN 'failing' ELSE 'silent' END,"
            "       to_char (s.last_report_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'),"
            "       coalesce (r.reason, '')"
            "  FROM stacks s LEFT JOIN reports r"
            "    ON r.tenant_id = s.tenant_id AND r.report_id = s.last_report_id"
            " WHERE s.tenant_id = $1::uuid"
            "   AND (r.status = 'failed' OR ($2::integer > 0"
            "        AND s.last_report_at < now () - $2::integer * interval '1 second'))"
            " ORDER BY 2, s.name", silent);
        for (int i = 0; PQresultStatus (result) == PGRES_TUPLES_OK && i < PQntuples (result); i++) {
            bool is_failing = streq (PQgetvalue (result, i, 1), "failing");
            failing += is_failing;
            json_array_append_new (stacks, json_pack ("{s:s, s:s, s:s, s:s, s:s}",
                "tenant", PQgetvalue (tenants, t, 1), "stack", PQgetvalue (result, i, 0),
                "state", PQgetvalue (result, i, 1), "last_report_at", PQgetvalue (result, i, 2),
                "reason", PQgetvalue (result, i, 3)));
        }
        PQclear (result);
    }
    int rc = PQresultStatus (tenants) == PGRES_TUPLES_OK ? 0 : -1;
    PQclear (tenants);
    PQfinish (conn);
    if (rc)
        fprintf (stderr, "drift status: cannot read the stacks\n");
    else
    if (json) {
        char *text = json_dumps (stacks, JSON_COMPACT);
        printf ("{\"stacks\":%s}\n", text);
        free (text);
    }
    else {
        printf ("stacks: %zu failing, %zu silent\n", failing, json_array_size (stacks) - failing);
        size_t index;
        json_t *entry;
        json_array_foreach (stacks, index, entry) {
            bool is_failing = streq (json_string_value (json_object_get (entry, "state")),
                                     "failing");
            printf ("  %s/%s %s %s%s%s\n", json_string_value (json_object_get (entry, "tenant")),
                    json_string_value (json_object_get (entry, "stack")),
                    is_failing ? "failed at" : "silent, no report since",
                    json_string_value (json_object_get (entry, "last_report_at")),
                    is_failing ? ": " : "",
                    is_failing ? json_string_value (json_object_get (entry, "reason")) : "");
        }
    }
    json_decref (stacks);
    return rc;
}

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
    if (*database && s_print_channels (database, json))
        rc = 1;
    if (*database && s_print_stacks (database, (int) config_get_int (config, "silent-after-s"),
                                     json))
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
