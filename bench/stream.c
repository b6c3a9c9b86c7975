/*  bench/stream: agents that stream, for benches that run the server
    elsewhere (bench/swarm.sh runs it in a container beside a Swarm stack).

    usage: bench_stream ENDPOINT SERVER_KEY CERTIFICATE PLAN PREFIX CONNECTIONS SECONDS

    CONNECTIONS threads each open a CURVE connection to ingest at ENDPOINT as
    the agent of CERTIFICATE (a zcert file; SERVER_KEY is ingest's public key
    in Z85) and send PLAN (a Terraform show -json file) as reports back to
    back, 64 in flight per connection, for SECONDS. Report i of connection c
    is PREFIX-c-i of stack PREFIX-c-(i mod 100), so each stack's drift
    recurs from one report to the next, as it does between checks (the
    stack's first report opens it; later ones only see it persist). A
    report ingest answers with UNAVAILABLE or RATE_LIMITED is sent again.
    After SECONDS, sending stops and what is in flight is awaited (30 s at
    most). Printed, one line: sent, acked, refused, resent, and acks per
    second over the sending time. Exit 1 when anything was refused or left
    unanswered.
*/
#include "agents.h"
#include "../lib/clock.h"

#include <czmq.h>

#define STREAM_WINDOW 64
#define STREAM_STACKS 100
#define STREAM_CONNECTIONS_MAX 64
#define STREAM_DRAIN_MS 30000

typedef struct {
    const char *endpoint;        // ingest's agent endpoint
    const char *server_key;      // ingest's public key, Z85
    const char *certificate;     // the agent's zcert file
    const char *plan;            // the report's payload
    size_t plan_length;
    char prefix [64];            // PREFIX-c
    int64_t until_us;            // wall time at which sending stops
    long sent, acked, refused, resent, unanswered;
} s_connection_t;

static void
s_names (const s_connection_t *self, long i, char *id, char *stack)
{
    snprintf (id, 96, "%s-%ld", self->prefix, i);
    snprintf (stack, 96, "%s-%ld", self->prefix, i % STREAM_STACKS);
}

static void
s_connection (zsock_t *pipe, void *args)
{
    s_connection_t *self = (s_connection_t *) args;
    zsock_t *dealer = agents_connect (self->certificate, self->server_key, self->endpoint);
    zsock_signal (pipe, 0);
    zpoller_t *poller = dealer ? zpoller_new (dealer, NULL) : NULL;
    char id [96], stack [96];
    long answered = 0;
    int64_t drain_until = 0;
    while (dealer && !zsys_interrupted) {
        int64_t now = clock_wall_us ();
        bool sending = now < self->until_us;
        while (sending && self->sent - answered < STREAM_WINDOW) {
            s_names (self, self->sent++, id, stack);
            agents_send_plan (dealer, id, stack, self->plan, self->plan_length);
        }
        if (!sending && answered == self->sent)
            break;
        if (!sending && !drain_until)
            drain_until = now + STREAM_DRAIN_MS * 1000LL;
        if (drain_until && now > drain_until)
            break;
        if (!zpoller_wait (poller, 100))
            continue;
        agents_answer_t answer = agents_answer (dealer, id, sizeof id);
        if (answer == AGENTS_GONE)
            break;
        if (answer == AGENTS_RESEND) {
            const char *dash = strrchr (id, '-');
            long i = dash ? atol (dash + 1) : 0;
            s_names (self, i, id, stack);
            agents_send_plan (dealer, id, stack, self->plan, self->plan_length);
            self->resent++;
            continue;
        }
        self->acked += answer == AGENTS_ACKED;
        self->refused += answer == AGENTS_REFUSED;
        answered++;
    }
    self->unanswered = self->sent - answered;
    zpoller_destroy (&poller);
    zsock_destroy (&dealer);
    //  Done: say so, then wait for the main thread's $TERM.
    zsock_signal (pipe, 0);
    char *term = zstr_recv (pipe);
    zstr_free (&term);
}

int
main (int argc, char **argv)
{
    if (argc != 8) {
        fprintf (stderr, "usage: bench_stream ENDPOINT SERVER_KEY CERTIFICATE PLAN PREFIX "
                         "CONNECTIONS SECONDS\n");
        return 2;
    }
    int connections = atoi (argv [6]);
    int seconds = atoi (argv [7]);
    if (connections < 1 || connections > STREAM_CONNECTIONS_MAX || seconds < 1) {
        fprintf (stderr, "bench_stream: CONNECTIONS 1..%d, SECONDS at least 1\n",
                 STREAM_CONNECTIONS_MAX);
        return 2;
    }
    zfile_t *file = zfile_new (NULL, argv [4]);
    zchunk_t *chunk = file && zfile_input (file) == 0 ? zfile_read (file, zfile_cursize (file), 0)
                                                     : NULL;
    if (!chunk) {
        fprintf (stderr, "bench_stream: cannot read %s\n", argv [4]);
        return 2;
    }
    zsys_init ();
    zsys_set_ipv6 (1);
    s_connection_t *all = (s_connection_t *) calloc ((size_t) connections, sizeof *all);
    zactor_t *actors [STREAM_CONNECTIONS_MAX];
    int64_t start = clock_wall_us ();
    for (int c = 0; c < connections; c++) {
        all [c] = (s_connection_t) {
            .endpoint = argv [1], .server_key = argv [2], .certificate = argv [3],
            .plan = (const char *) zchunk_data (chunk), .plan_length = zchunk_size (chunk),
            .until_us = start + seconds * 1000000LL
        };
        snprintf (all [c].prefix, sizeof all [c].prefix, "%s-%d", argv [5], c);
        actors [c] = zactor_new (s_connection, &all [c]);
    }
    long sent = 0, acked = 0, refused = 0, resent = 0, unanswered = 0;
    for (int c = 0; c < connections; c++) {
        zsock_wait (actors [c]);
        zactor_destroy (&actors [c]);
        sent += all [c].sent;
        acked += all [c].acked;
        refused += all [c].refused;
        resent += all [c].resent;
        unanswered += all [c].unanswered;
    }
    printf ("sent %ld acked %ld refused %ld resent %ld unanswered %ld acked/s %.1f\n",
            sent, acked, refused, resent, unanswered, acked / (double) seconds);
    free (all);
    zchunk_destroy (&chunk);
    zfile_destroy (&file);
    return refused || unanswered ? 1 : 0;
}
