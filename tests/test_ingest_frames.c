/*  Malformed frames against every socket drift ingest binds (issue 16,
    item 3): the stats endpoint (anyone on the host reaches it) and the
    agent endpoint (as an outsider without a key, and as an authenticated
    agent). Each attack is a bounded set of bad messages: bare frames
    without the REQ envelope (the DEALER that wedged the REP socket for good),
    empty frames, many parts, frames over the size limit, random bytes and
    raw non-ZMTP bytes on TCP. Afterwards ingest must still answer a stats
    request and ack a real agent's report, and have counted the bad input.
*/
#include "linkutil.h"
#include "../lib/agent_link.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <sodium.h>
#include <sys/socket.h>
#include <unistd.h>

static lu_env_t s_env;

static void
s_setup (void)
{
    lu_setup (&s_env);
}

static void
s_teardown (void)
{
    lu_teardown (&s_env);
}

TestSuite (ingest_frames, .init = s_setup, .fini = s_teardown, .timeout = 120);

//  Send parts as one multipart message, without waiting.
static void
s_send_parts (zsock_t *sock, int parts, const void *data, size_t size)
{
    for (int i = 0; i < parts; i++)
        zmq_send (zsock_resolve (sock), data, size,
                  ZMQ_DONTWAIT | (i + 1 < parts ? ZMQ_SNDMORE : 0));
}

//  Write random bytes to a TCP endpoint ("tcp://127.0.0.1:PORT") as a
//  client that does not speak ZMTP at all.
static void
s_raw_tcp_junk (const char *endpoint)
{
    int port = atoi (strrchr (endpoint, ':') + 1);
    int fd = socket (AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in address = { .sin_family = AF_INET, .sin_port = htons ((uint16_t) port) };
    inet_pton (AF_INET, "127.0.0.1", &address.sin_addr);
    cr_assert_eq (connect (fd, (struct sockaddr *) &address, sizeof address), 0);
    uint8_t junk [4096];
    for (int i = 0; i < 8; i++) {
        randombytes_buf (junk, sizeof junk);
        //  MSG_NOSIGNAL: once ingest has hung up, a write raises SIGPIPE,
        //  which killed the test (CI, once) instead of ending the loop.
        if (send (fd, junk, sizeof junk, MSG_NOSIGNAL) < 0)
            break;              // ingest hung up on us: that is an answer too
    }
    close (fd);
}

//  A good agent still gets its report acked.
static void
s_agent_is_served (const char *certificate, const char *report_id)
{
    zsock_t *client = lu_client (&s_env, certificate);
    Drift__AgentMessage *welcome = lu_hello (client, 5000);
    cr_assert_not_null (welcome, "ingest still welcomes an agent");
    agent_link_free (welcome);
    cr_assert (lu_send_until_acked (client, report_id, "payments", 10000, NULL),
               "ingest still acks a report");
    zsock_destroy (&client);
}

Test (ingest_frames, the_stats_socket_survives_malformed_requests)
{
    char *certificate = lu_issue (&s_env, "acme", "steady");
    lu_ingest_start (&s_env, NULL);

    zsock_t *dealer = zsock_new (ZMQ_DEALER);
    zsock_set_linger (dealer, 0);
    cr_assert_eq (zsock_connect (dealer, "%s", s_env.stats), 0);
    //  The attack of issue 16: one bare frame without the REQ envelope. A
    //  REP socket polled readable, dropped it in recv and waited there, so
    //  no agent was answered until some other stats request came.
    s_send_parts (dealer, 1, "STATS", 5);
    s_agent_is_served (certificate, "after-bare-frame");
    s_send_parts (dealer, 1, "", 0);
    uint8_t random [512];
    randombytes_buf (random, sizeof random);
    s_send_parts (dealer, 1, random, sizeof random);
    s_send_parts (dealer, 3, "", 0);                    // envelope, empty request, more
    s_send_parts (dealer, 100, random, 16);             // many parts
    zmq_send (zsock_resolve (dealer), "", 0, ZMQ_SNDMORE);
    zmq_send (zsock_resolve (dealer), "NOPE", 4, 0);     // the envelope, another request
    zmq_send (zsock_resolve (dealer), "", 0, ZMQ_SNDMORE);
    zmq_send (zsock_resolve (dealer), "STATS", 5, ZMQ_SNDMORE);
    zmq_send (zsock_resolve (dealer), "X", 1, 0);       // STATS with a part too many
    //  A client that asks and never reads its answers.
    zsock_t *deaf = zsock_new_req (s_env.stats);
    zstr_send (deaf, "STATS");
    const long malformed = 7;
    cr_assert_geq (lu_wait_stat (&s_env, "stats_malformed", malformed, 10000), malformed,
                   "each malformed request is counted");

    //  A frame far over the stats socket's 1 KiB limit costs the sender its connection.
    zsock_t *huge_sender = zsock_new (ZMQ_DEALER);
    zsock_set_linger (huge_sender, 0);
    cr_assert_eq (zsock_connect (huge_sender, "%s", s_env.stats), 0);
    size_t huge_size = 1024 * 1024;
    uint8_t *huge = (uint8_t *) calloc (1, huge_size);
    zmq_send (zsock_resolve (huge_sender), "", 0, ZMQ_SNDMORE);
    zmq_send (zsock_resolve (huge_sender), huge, huge_size, 0);
    free (huge);
    s_raw_tcp_junk (s_env.stats);

    cr_assert_geq (lu_stat (&s_env, "stats_malformed"), malformed,
                   "the stats endpoint still answers a REQ client");
    s_agent_is_served (certificate, "after-stats-attack");
    zsock_destroy (&huge_sender);
    zsock_destroy (&deaf);
    zsock_destroy (&dealer);
    free (certificate);
}

Test (ingest_frames, the_agent_socket_survives_malformed_multipart_messages)
{
    char *bad = lu_issue (&s_env, "acme", "bad");
    char *good = lu_issue (&s_env, "acme", "good");
    lu_ingest_start (&s_env, "--max-report-bytes", "1048576", "--rate", "1000",
                     "--burst", "1000", NULL);

    //  As an outsider: no CURVE at all (refused at the greeting), then a key
    //  ingest does not know (refused by ZAP), then bytes that are not ZMTP.
    long failed_before = lu_stat (&s_env, "handshakes_failed");
    zsock_t *plain = zsock_new (ZMQ_DEALER);
    zsock_set_linger (plain, 0);
    cr_assert_eq (zsock_connect (plain, "%s", s_env.endpoint), 0);
    s_send_parts (plain, 3, "junk", 4);
    zsock_t *stranger = lu_client (&s_env, NULL);
    s_send_parts (stranger, 3, "junk", 4);
    s_raw_tcp_junk (s_env.endpoint);
    cr_assert_geq (lu_wait_stat (&s_env, "zap.refused_unknown", 1, 5000), 1);
    cr_assert_gt (lu_wait_stat (&s_env, "handshakes_failed", failed_before + 2, 5000),
                  failed_before, "the handshakes are refused and counted");

    //  As an authenticated agent.
    zsock_t *client = lu_client (&s_env, bad);
    agent_link_free (lu_hello (client, 5000));
    uint8_t random [512];
    randombytes_buf (random, sizeof random);
    const int rounds = 5;
    for (int i = 0; i < rounds; i++) {
        s_send_parts (client, 1, "", 0);                // empty
        s_send_parts (client, 2, "", 0);                // empty parts
        s_send_parts (client, 200, random, 8);          // many parts
        s_send_parts (client, 1, random, sizeof random); // random bytes
        s_send_parts (client, 1, "\x1a\xff\xff\xff\xff\x0f", 6); // a length past the end
    }
    cr_assert_geq (lu_wait_stat (&s_env, "nacks.bad_message", 5 * rounds, 10000), 5 * rounds,
                   "each bad message is answered BAD_MESSAGE");
    cr_assert_geq (lu_stat (&s_env, "bad.empty_frames"), rounds);
    cr_assert_geq (lu_stat (&s_env, "bad.extra_frames"), 2 * rounds);
    cr_assert_geq (lu_stat (&s_env, "bad.undecodable"), 2 * rounds);
    //  Over the frame limit: libzmq drops the connection.
    long disconnected = lu_stat (&s_env, "peers_disconnected");
    size_t huge_size = 2 * 1024 * 1024;
    uint8_t *huge = (uint8_t *) calloc (1, huge_size);
    zmq_send (zsock_resolve (client), huge, huge_size, 0);
    free (huge);
    cr_assert_gt (lu_wait_stat (&s_env, "peers_disconnected", disconnected + 1, 10000),
                  disconnected);

    s_agent_is_served (good, "after-agent-attack");
    zsock_destroy (&client);
    zsock_destroy (&stranger);
    zsock_destroy (&plain);
    free (bad);
    free (good);
}
