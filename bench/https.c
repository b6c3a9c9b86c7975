/*  bench/https: reports acked per second over HTTPS through Caddy beside
    CurveZMQ straight to ingest, in the same run, with drift-agent's own
    transports (agent/link_curve.c, agent/link_https.c) on threads.

    usage: bench_https DATABASE_URL DIR CURVE_ENDPOINT SERVER_KEY HTTPS_ENDPOINT SERVER_CA [runs]
    (bench/https.sh sets up PostgreSQL, Redis, `drift ingest` with its HTTPS
    face, a real Caddy with compose/Caddyfile.agents and 8 agents issued by
    `drift keys issue`, DIR/agent-N.cert, .crt and .key, then runs this.)

    Each configuration — 1 KiB and 64 KiB reports, 1 and 8 agents, each
    agent a thread with its own transport keeping the agent's default window
    of 16 reports in flight — is timed from the first send until every report
    is acked (so committed in the journal); each report's send→ack time is
    kept for p50/p99. The transports are used directly, without the spool
    (whose fsync per report would measure the disk). The journal is emptied
    between runs. Printed: every run's rate, then the medians of the rate,
    p50 and p99 over the runs, and HTTPS as a fraction of CURVE.
*/
#include "agents.h"
#include "median.h"
#include "../agent/link_curve.h"
#include "../agent/link_https.h"
#include "../lib/clock.h"
#include "../lib/secret.h"

#include <libpq-fe.h>
#include <pthread.h>

#define BENCH_WINDOW 16
#define BENCH_AGENTS_MAX 8

typedef struct {
    bool https;                  // which transport
    int index;                   // agent number
    int run;                     // run number, in the report ids
    int count;                   // reports to send
    size_t size;                 // payload bytes each
    link_t link;                 // the transport
    int64_t *latency_us;         // send→ack of each acked report
    int acked;                   // reports acked
    int resent;                  // resends (busy, rate limited, broken)
    int refused;                 // refused for good
} agent_t;

static const char *s_dir, *s_curve, *s_server_key, *s_https, *s_ca;

//  The report number from an id "bN-aN-N".
static int
s_number (const char *id)
{
    const char *dash = strrchr (id, '-');
    return dash ? atoi (dash + 1) : -1;
}

static void *
s_agent (void *args)
{
    agent_t *agent = (agent_t *) args;
    char error [256];
    int ready = agent->link.ops->connect (agent->link.self, error, sizeof error);
    link_answer_t answer;
    while (ready == 0) {
        if (agent->link.ops->poll (agent->link.self, 1000, &answer) != 1)
            continue;
        if (answer.kind == LINK_WELCOME)
            ready = 1;
        else
        if (answer.kind == LINK_KEY_REFUSED) {
            fprintf (stderr, "bench_https: agent %d: %s\n", agent->index, answer.message);
            exit (1);
        }
    }
    if (ready == -1) {
        fprintf (stderr, "bench_https: agent %d: %s\n", agent->index, error);
        exit (1);
    }
    Drift__Report report;
    agents_report (&report, agent->size);
    uint8_t *packed = (uint8_t *) malloc (drift__report__get_packed_size (&report) + 64);
    int64_t *sent_at = (int64_t *) calloc ((size_t) agent->count, sizeof (int64_t));
    int next = 0, answered = 0;
    char id [64];
    while (answered < agent->count) {
        while (next < agent->count && next - answered < BENCH_WINDOW) {
            snprintf (id, sizeof id, "b%d-a%d%c-%d", agent->run, agent->index,
                      agent->https ? 'h' : 'c', next);
            report.report_id = id;
            size_t size = drift__report__pack (&report, packed);
            sent_at [next] = clock_mono_us ();
            agent->link.ops->send (agent->link.self, id, packed, size);
            next++;
        }
        if (agent->link.ops->poll (agent->link.self, 1000, &answer) != 1)
            continue;
        int number = s_number (answer.report_id);
        if (number < 0 || number >= agent->count)
            continue;
        bool resend = answer.kind == LINK_BROKEN
                   || (answer.kind == LINK_NACK
                       && (answer.code == DRIFT__NACK_CODE__NACK_RATE_LIMITED
                       ||  answer.code == DRIFT__NACK_CODE__NACK_UNAVAILABLE));
        if (resend) {
            //  As an agent does: the same report again.
            agent->resent++;
            report.report_id = answer.report_id;
            size_t size = drift__report__pack (&report, packed);
            agent->link.ops->send (agent->link.self, answer.report_id, packed, size);
            continue;
        }
        if (answer.kind == LINK_ACK)
            agent->latency_us [agent->acked++] = clock_mono_us () - sent_at [number];
        else
            agent->refused++;
        answered++;
    }
    free (sent_at);
    free (packed);
    free (report.payload.data);
    return NULL;
}

static int
s_compare (const void *a, const void *b)
{
    int64_t x = *(const int64_t *) a, y = *(const int64_t *) b;
    return x < y ? -1 : x > y;
}

//  One run: the rate, p50 and p99 (ms) into out.
static void
s_run (bool https, int agents, int total, size_t size, int run, double out [3], int *resent,
       int *refused)
{
    agent_t settings [BENCH_AGENTS_MAX];
    pthread_t threads [BENCH_AGENTS_MAX];
    for (int i = 0; i < agents; i++) {
        settings [i] = (agent_t) { https, i, run, total / agents, size, { NULL, NULL },
                                   NULL, 0, 0, 0 };
        settings [i].latency_us = (int64_t *) calloc ((size_t) total / agents, sizeof (int64_t));
        char error [256], path [512], key [512];
        int rc;
        if (https) {
            snprintf (path, sizeof path, "%s/agent-%d.crt", s_dir, i);
            snprintf (key, sizeof key, "%s/agent-%d.key", s_dir, i);
            link_https_config_t config = { s_https, path, key, s_ca, BENCH_WINDOW, 30000, 0 };
            rc = link_https_new (&settings [i].link, &config, error, sizeof error);
        }
        else {
            snprintf (path, sizeof path, "%s/agent-%d.cert", s_dir, i);
            zcert_t *cert = secret_cert_load (path, error, sizeof error);
            rc = cert ? link_curve_new (&settings [i].link, s_curve, s_server_key, cert) : -1;
        }
        if (rc) {
            fprintf (stderr, "bench_https: agent %d: %s\n", i, error);
            exit (1);
        }
    }
    int64_t start = clock_mono_us ();
    for (int i = 0; i < agents; i++)
        pthread_create (&threads [i], NULL, s_agent, &settings [i]);
    int acked = 0;
    int64_t *all = (int64_t *) calloc ((size_t) total, sizeof (int64_t));
    for (int i = 0; i < agents; i++) {
        pthread_join (threads [i], NULL);
        memcpy (all + acked, settings [i].latency_us, (size_t) settings [i].acked * sizeof (int64_t));
        acked += settings [i].acked;
        *resent += settings [i].resent;
        *refused += settings [i].refused;
    }
    out [0] = acked / ((double) (clock_mono_us () - start) / 1e6);
    qsort (all, (size_t) acked, sizeof (int64_t), s_compare);
    out [1] = acked ? all [acked / 2] / 1000.0 : 0;
    out [2] = acked ? all [(acked * 99) / 100] / 1000.0 : 0;
    free (all);
    for (int i = 0; i < agents; i++) {
        //  The CURVE link borrows the certificate; it goes with the link.
        settings [i].link.ops->destroy (settings [i].link.self);
        free (settings [i].latency_us);
    }
}

int
main (int argc, char **argv)
{
    if (argc < 7) {
        fprintf (stderr, "usage: bench_https DATABASE_URL DIR CURVE_ENDPOINT SERVER_KEY "
                 "HTTPS_ENDPOINT SERVER_CA [runs]\n");
        return 2;
    }
    s_dir = argv [2];
    s_curve = argv [3];
    s_server_key = argv [4];
    s_https = argv [5];
    s_ca = argv [6];
    int runs = argc > 7 ? atoi (argv [7]) : 5;
    if (runs < 1 || runs > 15)
        runs = 5;
    zsys_handler_set (NULL);
    PGconn *conn = PQconnectdb (argv [1]);
    if (PQstatus (conn) != CONNECTION_OK) {
        fprintf (stderr, "bench_https: %s", PQerrorMessage (conn));
        return 1;
    }
    printf ("drift-agent's transports on threads, window %d per agent, median of %d runs\n",
            BENCH_WINDOW, runs);
    struct { size_t size; int agents; int total; } cases [] = {
        { 1024, 1, 4000 }, { 1024, 8, 8000 }, { 65536, 1, 1000 }, { 65536, 8, 2000 }
    };
    int run_number = 0;
    for (size_t c = 0; c < sizeof cases / sizeof cases [0]; c++) {
        double medians [2][3];
        for (int t = 0; t < 2; t++) {
            double rate [16], p50 [16], p99 [16];
            int resent = 0, refused = 0;
            printf ("%-5s %5zu-byte reports, %d agent%s:", t ? "HTTPS" : "CURVE", cases [c].size,
                    cases [c].agents, cases [c].agents > 1 ? "s" : " ");
            for (int run = 0; run < runs; run++) {
                PQclear (PQexec (conn, "SELECT pgmq.purge_queue ('drift_journal')"));
                PQclear (PQexec (conn, "TRUNCATE drift_ingested"));
                double out [3];
                s_run (t == 1, cases [c].agents, cases [c].total, cases [c].size, run_number++,
                       out, &resent, &refused);
                rate [run] = out [0];
                p50 [run] = out [1];
                p99 [run] = out [2];
                printf (" %.0f", out [0]);
                fflush (stdout);
            }
            medians [t][0] = median_of (rate, runs);
            medians [t][1] = median_of (p50, runs);
            medians [t][2] = median_of (p99, runs);
            printf ("\n  median %.0f reports/s acked, send->ack p50 %.1f ms, p99 %.1f ms%s",
                    medians [t][0], medians [t][1], medians [t][2],
                    refused ? " (some refused: see ingest's log)" : "");
            if (resent)
                printf (" (%d resends)", resent);
            printf ("\n");
        }
        printf ("  HTTPS/CURVE: %.2f of the rate\n", medians [1][0] / medians [0][0]);
    }
    PQfinish (conn);
    return 0;
}
