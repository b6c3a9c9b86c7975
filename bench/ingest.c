/*  bench/ingest: reports per second accepted and acked by `drift ingest`
    over CurveZMQ, beside raw CURVE PUSH->PULL of the same sizes and the
    journal's own accept rate, all measured in the same run.

    usage: bench_ingest DATABASE_URL REDIS_URL [runs]   (scripts/bench ingest
    starts a durable private PostgreSQL and a Redis and passes their URLs)

    Set-up uses the real commands (`drift migrate`, `keys init`, `tenant
    create`, `keys issue` for 8 agents) and starts `drift ingest` with a rate
    limit too high to matter. Each configuration — 1 KiB and 64 KiB reports
    from 1 and 8 agents, each agent a thread with its own CURVE connection
    keeping 128 reports in flight — is timed from the first send until every
    report is acked (so committed in the journal). The journal is emptied
    between runs. Printed: every run, the median, and the median's ratio to
    raw CURVE PUSH->PULL and to the journal's accept rate for the same size.
*/
#include "agents.h"
#include "median.h"
#include "rates.h"
#include "../lib/clock.h"
#include "../lib/db.h"
#include "../lib/log.h"

#include <czmq.h>
#include <libgen.h>
#include <signal.h>
#include <sys/wait.h>

#define BENCH_WINDOW 128
#define BENCH_AGENTS_MAX 8

static const char *s_drift;
static char s_directory [256];

static int
s_run (char *const argv [])
{
    pid_t pid = fork ();
    if (pid == 0) {
        int null = open ("/dev/null", O_WRONLY);
        dup2 (null, 1);
        dup2 (null, 2);
        execv (s_drift, argv);
        _exit (127);
    }
    int status;
    waitpid (pid, &status, 0);
    return WIFEXITED (status) ? WEXITSTATUS (status) : 128;
}

//  --------------------------------------------------------------------------
//  Raw CURVE PUSH->PULL: the transport's own ceiling on this machine.

typedef struct {
    const char *endpoint;        // where to connect
    const char *server_key;      // the PULL side's public key
    int count;                   // messages to send
    size_t size;                 // bytes each
} pusher_t;

static void
s_pusher (zsock_t *pipe, void *args)
{
    pusher_t *pusher = (pusher_t *) args;
    zcert_t *cert = zcert_new ();
    zsock_t *push = zsock_new (ZMQ_PUSH);
    zcert_apply (cert, push);
    zsock_set_curve_serverkey (push, pusher->server_key);
    zsock_set_sndhwm (push, 10000);
    zsock_connect (push, "%s", pusher->endpoint);
    zsock_signal (pipe, 0);
    uint8_t *body = (uint8_t *) calloc (1, pusher->size);
    for (int i = 0; i < pusher->count; i++)
        zmq_send (zsock_resolve (push), body, pusher->size, 0);
    free (body);
    char *command = zstr_recv (pipe);
    zstr_free (&command);
    zsock_destroy (&push);
    zcert_destroy (&cert);
}

static double
s_raw_curve (int count, size_t size)
{
    zcert_t *server = zcert_new ();
    zsock_t *pull = zsock_new (ZMQ_PULL);
    zcert_apply (server, pull);
    zsock_set_curve_server (pull, 1);
    zsock_set_rcvhwm (pull, 10000);
    int port = zsock_bind (pull, "tcp://127.0.0.1:*");
    char endpoint [64];
    snprintf (endpoint, sizeof endpoint, "tcp://127.0.0.1:%d", port);
    pusher_t pusher = { endpoint, zcert_public_txt (server), count, size };
    zmq_msg_t message;
    zmq_msg_init (&message);
    zactor_t *thread = zactor_new (s_pusher, &pusher);
    zmq_msg_recv (&message, zsock_resolve (pull), 0);
    int64_t start = clock_wall_us ();
    for (int i = 1; i < count; i++)
        zmq_msg_recv (&message, zsock_resolve (pull), 0);
    double rate = (count - 1) / ((double) (clock_wall_us () - start) / 1e6);
    zmq_msg_close (&message);
    zactor_destroy (&thread);
    zsock_destroy (&pull);
    zcert_destroy (&server);
    return rate;
}

//  --------------------------------------------------------------------------
//  Agents against drift ingest

typedef struct {
    const char *endpoint;        // ingest
    const char *server_key;      // ingest's public key
    char certificate [300];      // this agent's certificate
    int index;                   // agent number, part of report ids
    int run;                     // run number, part of report ids
    int count;                   // reports to send
    size_t size;                 // payload bytes each
    int acked;                   // reports acked
    int refused;                 // reports refused for good
    int retried;                 // resends after UNAVAILABLE (ingest busy)
} agent_t;

static void
s_agent (zsock_t *pipe, void *args)
{
    agent_t *agent = (agent_t *) args;
    //  The first exchange (handshake, WELCOME) is outside the timing.
    zsock_t *dealer = agents_connect (agent->certificate, agent->server_key, agent->endpoint);
    zsock_signal (pipe, 0);
    char *go = zstr_recv (pipe);
    zstr_free (&go);

    Drift__Report report;
    agents_report (&report, agent->size);
    int sent = 0, answered = 0;
    char id [64];
    while (dealer && answered < agent->count) {
        while (sent < agent->count && sent - answered < BENCH_WINDOW) {
            snprintf (id, sizeof id, "r%d-a%d-%d", agent->run, agent->index, sent++);
            report.report_id = id;
            agents_send (dealer, &report);
        }
        agents_answer_t answer = agents_answer (dealer, id, sizeof id);
        if (answer == AGENTS_GONE)
            break;
        if (answer == AGENTS_ACKED) {
            agent->acked++;
            answered++;
        }
        else
        if (answer == AGENTS_RESEND) {
            //  As an agent does: the same report again (ingest was busy).
            agent->retried++;
            report.report_id = id;
            agents_send (dealer, &report);
        }
        else {
            agent->refused++;
            answered++;
        }
    }
    free (report.payload.data);
    zsock_signal (pipe, 0);
    char *end = zstr_recv (pipe);
    zstr_free (&end);
    zsock_destroy (&dealer);
}

static double
s_ingest_rate (const char *endpoint, const char *server_key, int agents, int total, size_t size,
               int run, int *refused, int *retried)
{
    agent_t settings [BENCH_AGENTS_MAX];
    zactor_t *threads [BENCH_AGENTS_MAX];
    for (int i = 0; i < agents; i++) {
        settings [i] = (agent_t) { endpoint, server_key, "", i, run, total / agents, size, 0, 0, 0 };
        snprintf (settings [i].certificate, sizeof settings [i].certificate,
                  "%s/agent-%d.cert", s_directory, i);
        threads [i] = zactor_new (s_agent, &settings [i]);
    }
    int64_t start = clock_wall_us ();
    for (int i = 0; i < agents; i++)
        zstr_send (threads [i], "GO");
    int acked = 0;
    for (int i = 0; i < agents; i++) {
        zsock_wait (threads [i]);
        acked += settings [i].acked;
        *refused += settings [i].refused;
        *retried += settings [i].retried;
    }
    double rate = acked / ((double) (clock_wall_us () - start) / 1e6);
    for (int i = 0; i < agents; i++)
        zactor_destroy (&threads [i]);
    return rate;
}

static void
s_reset (PGconn *conn)
{
    db_exec (conn, "purge", "SELECT pgmq.purge_queue ('drift_journal')");
    db_exec (conn, "truncate", "TRUNCATE drift_ingested");
}

int
main (int argc, char **argv)
{
    if (argc < 3) {
        fprintf (stderr, "usage: bench_ingest DATABASE_URL REDIS_URL [runs]\n");
        return 2;
    }
    const char *url = argv [1], *redis = argv [2];
    int runs = argc > 3 ? atoi (argv [3]) : 5;
    if (runs < 1 || runs > 15)
        runs = 5;
    char beside [4096];
    snprintf (beside, sizeof beside, "%s/drift", dirname (strdup (argv [0])));
    s_drift = getenv ("DRIFT_BIN") ? getenv ("DRIFT_BIN") : beside;
    zsys_handler_set (NULL);
    log_init ("bench", "logfmt", "warn");
    snprintf (s_directory, sizeof s_directory, "/tmp/bench-ingest-XXXXXX");
    if (!mkdtemp (s_directory))
        return 1;

    //  Keys, tenant and agents through the real commands.
    char keys [300];
    snprintf (keys, sizeof keys, "%s/keys", s_directory);
    char *migrate [] = { "drift", "migrate", "--database", (char *) url, NULL };
    char *init [] = { "drift", "keys", "init", "--keys-dir", keys, NULL };
    char *tenant [] = { "drift", "tenant", "create", "bench", "--database", (char *) url, NULL };
    if (s_run (migrate) || s_run (init) || s_run (tenant) > 1) {
        fprintf (stderr, "bench_ingest: set-up failed (migrate, keys init, tenant create)\n");
        return 1;
    }
    for (int i = 0; i < BENCH_AGENTS_MAX; i++) {
        char name [32], out [300];
        snprintf (name, sizeof name, "bench-%d-%d", getpid (), i);
        snprintf (out, sizeof out, "%s/agent-%d.cert", s_directory, i);
        char *issue [] = { "drift", "keys", "issue", "--tenant", "bench", "--name", name,
                           "--out", out, "--keys-dir", keys, "--database", (char *) url,
                           "--redis", (char *) redis, NULL };
        if (s_run (issue)) {
            fprintf (stderr, "bench_ingest: drift keys issue failed\n");
            return 1;
        }
    }
    char path [400];
    snprintf (path, sizeof path, "%s/server.key", keys);
    zcert_t *server = zcert_load (path);
    char server_key [41];
    snprintf (server_key, sizeof server_key, "%s", zcert_public_txt (server));
    zcert_destroy (&server);

    char endpoint [64], stats [64];
    snprintf (endpoint, sizeof endpoint, "tcp://127.0.0.1:%d", 30000 + getpid () % 10000);
    snprintf (stats, sizeof stats, "tcp://127.0.0.1:%d", 40000 + getpid () % 10000);
    pid_t ingest = fork ();
    if (ingest == 0) {
        execl (s_drift, "drift", "ingest", "--endpoint", endpoint, "--stats", stats,
               "--keys-dir", keys, "--database", url, "--redis", redis,
               "--broker", "tcp://127.0.0.1:9", "--rate", "100000000", "--burst", "100000000",
               "--log-level", "error", (char *) NULL);
        _exit (127);
    }
    zclock_sleep (1000);

    PGconn *conn = db_connect (url, 10000);
    PGresult *setting = PQexec (conn, "SHOW synchronous_commit");
    printf ("ingest over CURVE on PostgreSQL %d, synchronous_commit=%s, median of %d\n",
            PQserverVersion (conn), PQgetvalue (setting, 0, 0), runs);
    PQclear (setting);

    struct { size_t size; int agents; int total; } cases [] = {
        { 1024, 1, 20000 }, { 1024, 8, 40000 }, { 65536, 1, 2000 }, { 65536, 8, 4000 }
    };
    double raw [2], journal_accept [2] = { 0, 0 };
    for (int s = 0; s < 2; s++) {
        double rates [16];
        size_t size = s == 0 ? 1024 : 65536;
        printf ("raw CURVE PUSH->PULL, %zu-byte messages:", size);
        for (int run = 0; run < runs; run++) {
            rates [run] = s_raw_curve (s == 0 ? 200000 : 20000, size);
            printf (" %.0f", rates [run]);
            fflush (stdout);
        }
        raw [s] = median_of (rates, runs);
        printf ("\n  median %.0f messages/s\n", raw [s]);
    }
    journal_t *journal = journal_new (url, 10000);
    for (int s = 0; s < 2; s++) {
        double rates [16];
        size_t size = s == 0 ? 1024 : 65536;
        printf ("journal accept (groups of 256, 3 in flight), %zu-byte reports:", size);
        for (int run = 0; run < runs; run++) {
            s_reset (conn);
            rates [run] = rates_journal_accept (journal, size, s == 0 ? 40000 : 4096, 256, 3);
            printf (" %.0f", rates [run]);
            fflush (stdout);
        }
        journal_accept [s] = median_of (rates, runs);
        printf ("\n  median %.0f messages/s\n", journal_accept [s]);
    }
    journal_destroy (&journal);
    int run_number = 0;
    for (size_t c = 0; c < sizeof cases / sizeof cases [0]; c++) {
        double rates [16];
        int refused = 0, retried = 0;
        printf ("ingest, %zu-byte reports from %d agent%s:", cases [c].size, cases [c].agents,
                cases [c].agents > 1 ? "s" : "");
        for (int run = 0; run < runs; run++) {
            s_reset (conn);
            rates [run] = s_ingest_rate (endpoint, server_key, cases [c].agents, cases [c].total,
                                         cases [c].size, run_number++, &refused, &retried);
            printf (" %.0f", rates [run]);
            fflush (stdout);
        }
        double median = median_of (rates, runs);
        int s = cases [c].size == 1024 ? 0 : 1;
        printf ("\n  median %.0f reports/s acked (%.2f of raw CURVE, %.2f of the journal's "
                "accept rate", median, median / raw [s], median / journal_accept [s]);
        printf (")%s\n", refused ? " — some reports were refused: see the ingest log" : "");
        if (retried)
            printf ("  %d resends after UNAVAILABLE (ingest busy) over all runs\n", retried);
    }
    s_reset (conn);
    PQfinish (conn);
    kill (ingest, SIGTERM);
    waitpid (ingest, NULL, 0);
    char *remove [] = { "/bin/rm", "-rf", s_directory, NULL };
    pid_t rm = fork ();
    if (rm == 0) {
        execv (remove [0], remove);
        _exit (127);
    }
    waitpid (rm, NULL, 0);
    return 0;
}
