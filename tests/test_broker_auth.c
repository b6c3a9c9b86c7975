/*  Attacks on the broker from the backend network, each refused, counted,
    and the pipeline still serving: a plaintext client, an unknown CURVE
    key, a key removed from the broker's list (at the handshake and on a
    connection already open), a stage's key trying to work another stage,
    to produce, to read STATS or to subscribe to logs, a peer speaking for
    another's registration, a plaintext broker asked to bind beyond the
    host, a broker whose keypair is missing, and a CURVE broker with no ZAP
    handler in its process. Every client here drives the protocol frame by
    frame with the key the attack needs.
*/
#include "testutil.h"
#include "../lib/agentkeys.h"
#include "../lib/producer.h"
#include "../lib/rolekeys.h"

#include <criterion/criterion.h>
#include <unistd.h>

#define S_PIPELINE "normalize,score,archive,notify"
//  How long a refused client waits for an answer that must not come.
#define S_SILENCE_MS 600

static zactor_t *s_broker;
static char s_endpoint [64];
static broker_config_t s_config;

static zcert_t *s_role_key (const char *name, const char *roles);

//  The keys the attacks use, listed before the broker starts (an operator's
//  change to the list takes up to a second to be read).
static void
s_start (void)
{
    const char *keys [][2] = {
        { "normalize-1", "normalize" }, { "normalize-2", "normalize" },
        { "ingest-1", "ingest" }, { "operator-1", "operator" }, { "score-1", "score" }
    };
    for (size_t i = 0; i < sizeof keys / sizeof keys [0]; i++) {
        zcert_t *cert = s_role_key (keys [i][0], keys [i][1]);
        secret_cert_destroy (&cert);
    }
    s_config = tu_broker_config (S_PIPELINE);
    s_config.liveness = 50;         // raw peers do not heartbeat
    s_broker = tu_broker_start (&s_config, s_endpoint);
}

static void
s_teardown (void)
{
    zactor_destroy (&s_broker);
}

//  A key made for the attack: NAME with roles, allowed on the broker (its
//  public half in broker-roles); made once, loaded after. Caller destroys.
static zcert_t *
s_role_key (const char *name, const char *roles)
{
    const char *dir = tu_curve_dir ();
    char *pairs = zsys_sprintf ("%s/roles", dir);
    char *list = zsys_sprintf ("%s/broker-roles", dir);
    char error [256];
    cr_assert_geq (rolekeys_make (pairs, list, name, roles, error,
                                  sizeof error), 0, "%s", error);
    char *path = zsys_sprintf ("%s/%s.key", pairs, name);
    zcert_t *cert = zcert_load (path);
    cr_assert (cert);
    zstr_free (&path);
    zstr_free (&pairs);
    zstr_free (&list);
    return cert;
}

//  A DEALER to the broker: a CURVE client with cert, or plaintext (NULL).
static zsock_t *
s_client (zcert_t *cert)
{
    zsock_t *client = zsock_new (ZMQ_DEALER);
    zsock_set_linger (client, 0);
    if (cert) {
        char *path = zsys_sprintf ("%s/broker.key", tu_curve_dir ());
        zcert_t *broker = zcert_load (path);
        zstr_free (&path);
        cr_assert (broker);
        zcert_apply (cert, client);
        zsock_set_curve_serverkey (client, zcert_public_txt (broker));
        secret_cert_destroy (&broker);
    }
    cr_assert_eq (zsock_connect (client, "%s", s_endpoint), 0);
    return client;
}

//  A refused client's libzmq keeps trying again, so refusals are counted
//  at least, not exactly: wait until a stat of the broker reaches least.
static long
s_wait_at_least (zactor_t *broker, const char *stage, const char *field, long least)
{
    long value = tu_stat (broker, stage, field);
    for (int i = 0; i < 500 && value < least; i++) {
        zclock_sleep (10);
        value = tu_stat (broker, stage, field);
    }
    return value;
}

static void
s_send (zsock_t *client, int command, const char *name)
{
    drp_header_t header = { .command = (uint8_t) command, .count = 4 };
    snprintf (header.name, sizeof header.name, "%s", name ? name : "");
    snprintf (header.instance, sizeof header.instance, "attacker");
    tu_raw_send (client, &header, NULL, 0);
}

//  The pipeline still works: the test's own producer key feeds normalize
//  and a worker with the test's key is given the envelope.
static void
s_assert_still_serving (void)
{
    zsock_t *worker = tu_raw_connect (s_endpoint);
    tu_raw_ready (worker, "normalize", 4);
    producer_t *producer = producer_new (s_endpoint, "normalize", 16, 100, 3);
    size_t size;
    uint8_t *body = tu_envelope ("after-the-attack", 16, &size);
    cr_assert_eq (producer_submit (producer, body, size, 1, 5000), 0, "producer granted credit");
    free (body);
    drp_header_t header;
    bool worked = false;
    while (!worked && tu_raw_recv (worker, &header, NULL, 5000) == 0)
        worked = header.command == DRP_WORK;
    cr_assert (worked, "the envelope reached a normalize worker");
    producer_destroy (&producer);
    zsock_destroy (&worker);
}

Test (broker_auth, plaintext_and_unknown_keys_are_refused_at_the_handshake,
      .init = s_start, .fini = s_teardown)
{
    //  A process on the backend network without a key asks for STATS.
    zsock_t *plain = s_client (NULL);
    s_send (plain, DRP_STATS, NULL);
    drp_header_t header;
    cr_assert_eq (tu_raw_recv (plain, &header, NULL, S_SILENCE_MS), -1, "no answer in plaintext");
    cr_assert_geq (s_wait_at_least (s_broker, NULL, "handshakes_failed", 1), 1,
                   "the plaintext client was counted");
    zsock_destroy (&plain);
    long failed_before = tu_stat (s_broker, NULL, "handshakes_failed");
    //  ... and one with a key of its own, which the broker does not list.
    zcert_t *stranger = zcert_new ();
    zsock_t *unknown = s_client (stranger);
    s_send (unknown, DRP_READY, "normalize");
    s_send (unknown, DRP_STATS, NULL);
    cr_assert_eq (tu_raw_recv (unknown, &header, NULL, S_SILENCE_MS), -1,
                  "no answer to an unknown key");

    cr_assert_gt (s_wait_at_least (s_broker, NULL, "handshakes_failed", failed_before + 1),
                  failed_before, "the unknown key was counted by the broker");
    cr_assert_geq (tu_zap_stat ("broker_refused"), 1, "and by the ZAP handler");
    cr_assert_eq (tu_stat (s_broker, "normalize", "workers"), 0, "nobody registered");
    s_assert_still_serving ();
    cr_assert_geq (tu_zap_stat ("broker_allowed"), 2, "the test's own key got in");
    zsock_destroy (&unknown);
    secret_cert_destroy (&stranger);
}

Test (broker_auth, a_stage_key_works_its_stage_and_nothing_else,
      .init = s_start, .fini = s_teardown)
{
    zcert_t *key = s_role_key ("normalize-1", "normalize");
    zsock_t *client = s_client (key);
    drp_header_t header;

    //  Registering as archive would hand it every tenant's archived work.
    s_send (client, DRP_READY, "archive");
    cr_assert_eq (tu_raw_recv (client, &header, NULL, 5000), 0);
    cr_assert_eq (header.command, DRP_DISCONNECT, "told why, not served");
    cr_assert_eq (tu_stat (s_broker, "archive", "workers"), 0);
    //  Producing into the pipeline would let it make reports up.
    s_send (client, DRP_OPEN, "normalize");
    cr_assert_eq (tu_raw_recv (client, &header, NULL, 5000), 0);
    cr_assert_eq (header.command, DRP_DISCONNECT);
    cr_assert_eq (tu_stat (s_broker, "normalize", "producers"), 0);
    //  The broker's numbers and every role's log lines are an operator's.
    s_send (client, DRP_STATS, NULL);
    cr_assert_eq (tu_raw_recv (client, &header, NULL, 5000), 0);
    cr_assert_eq (header.command, DRP_DISCONNECT, "no STATS for a stage's key");
    s_send (client, DRP_SUBSCRIBE, "");
    cr_assert_eq (tu_raw_recv (client, &header, NULL, 5000), 0);
    cr_assert_eq (header.command, DRP_DISCONNECT, "no log lines for a stage's key");
    cr_assert_eq (tu_stat (s_broker, "errors", "forbidden"), 4);

    //  Its own stage it may work.
    s_send (client, DRP_READY, "normalize");
    cr_assert_eq (tu_wait_stat (s_broker, "normalize", "workers", 1, 5000), 1);
    zsock_destroy (&client);
    secret_cert_destroy (&key);
}

Test (broker_auth, producers_feed_only_the_first_stage, .init = s_start, .fini = s_teardown)
{
    //  Even ingest's key may not skip normalize and score: a report
    //  entering at archive would be recorded unchecked.
    zcert_t *key = s_role_key ("ingest-1", "ingest");
    zsock_t *client = s_client (key);
    s_send (client, DRP_OPEN, "archive");
    drp_header_t header;
    cr_assert_eq (tu_raw_recv (client, &header, NULL, 5000), 0);
    cr_assert_eq (header.command, DRP_DISCONNECT);
    cr_assert_eq (tu_stat (s_broker, "archive", "producers"), 0);
    cr_assert_eq (tu_stat (s_broker, "errors", "forbidden"), 1);
    s_send (client, DRP_OPEN, "normalize");
    cr_assert_eq (tu_wait_stat (s_broker, "normalize", "producers", 1, 5000), 1,
                  "ingest's key produces into the first stage");
    zsock_destroy (&client);
    secret_cert_destroy (&key);
}

Test (broker_auth, an_operator_key_reads_stats_and_logs_but_works_nothing,
      .init = s_start, .fini = s_teardown)
{
    zcert_t *key = s_role_key ("operator-1", "operator");
    zsock_t *client = s_client (key);
    s_send (client, DRP_STATS, NULL);
    drp_header_t header;
    cr_assert_eq (tu_raw_recv (client, &header, NULL, 5000), 0);
    cr_assert_eq (header.command, DRP_STATS, "an operator gets the stats");
    s_send (client, DRP_READY, "normalize");
    cr_assert_eq (tu_raw_recv (client, &header, NULL, 5000), 0);
    cr_assert_eq (header.command, DRP_DISCONNECT, "but works no stage");
    cr_assert_eq (tu_stat (s_broker, "normalize", "workers"), 0);
    zsock_destroy (&client);
    secret_cert_destroy (&key);
}

Test (broker_auth, a_removed_key_loses_its_registration_and_its_next_handshake,
      .init = s_start, .fini = s_teardown)
{
    zcert_t *key = s_role_key ("score-1", "score");
    zsock_t *client = s_client (key);
    s_send (client, DRP_READY, "score");
    cr_assert_eq (tu_wait_stat (s_broker, "score", "workers", 1, 5000), 1);

    //  The operator takes the key off the broker's list.
    char *path = zsys_sprintf ("%s/broker-roles/score-1.key", tu_curve_dir ());
    cr_assert_eq (unlink (path), 0);
    zstr_free (&path);
    cr_assert_eq (tu_wait_stat (s_broker, "score", "workers", 0, 10000), 0,
                  "the open connection's registration is dropped");
    cr_assert_geq (tu_stat (s_broker, "errors", "unauthorised"), 1);
    //  On the connection still open, registering again is refused...
    s_send (client, DRP_READY, "score");
    drp_header_t header;
    bool refused = false;
    while (!refused && tu_raw_recv (client, &header, NULL, 5000) == 0)
        refused = header.command == DRP_DISCONNECT;
    cr_assert (refused);
    cr_assert_eq (tu_wait_stat (s_broker, "errors", "unauthorised", 2, 5000), 2,
                  "the registration on the open connection was refused too");
    cr_assert_eq (tu_stat (s_broker, "score", "workers"), 0);
    //  ... and a new connection with the key does not get past the handshake.
    long refused_before = tu_zap_stat ("broker_refused");
    zsock_t *again = s_client (key);
    s_send (again, DRP_READY, "score");
    cr_assert_eq (tu_raw_recv (again, &header, NULL, S_SILENCE_MS), -1);
    cr_assert_gt (tu_zap_stat ("broker_refused"), refused_before);
    cr_assert_eq (tu_stat (s_broker, "score", "workers"), 0);
    s_assert_still_serving ();
    zsock_destroy (&client);
    zsock_destroy (&again);
    secret_cert_destroy (&key);
}

Test (broker_auth, a_peer_cannot_speak_for_another_keys_registration,
      .init = s_start, .fini = s_teardown)
{
    //  The test's key registers a worker; a second key on its own
    //  connection sends DONE for an item it never held: with no handover
    //  it cannot take the first one's routing id, so it is a stranger.
    zsock_t *worker = tu_raw_connect (s_endpoint);
    tu_raw_ready (worker, "normalize", 4);
    cr_assert_eq (tu_wait_stat (s_broker, "normalize", "workers", 1, 5000), 1);
    zcert_t *key = s_role_key ("normalize-2", "normalize");
    zsock_t *other = s_client (key);
    drp_header_t done = { .command = DRP_DONE, .count = 1 };
    done.items [0] = (drp_item_t) { .id = 1, .status = DRP_DONE_END };
    tu_raw_send (other, &done, NULL, 0);
    drp_header_t header;
    cr_assert_eq (tu_raw_recv (other, &header, NULL, 5000), 0);
    cr_assert_eq (header.command, DRP_DISCONNECT, "register first");
    cr_assert_eq (tu_stat (s_broker, "errors", "unknown_peer"), 1);
    cr_assert_eq (tu_stat (s_broker, "normalize", "workers"), 1, "the first worker stays");
    zsock_destroy (&other);
    zsock_destroy (&worker);
    secret_cert_destroy (&key);
}

Test (broker_auth, a_plaintext_broker_binds_only_this_host)
{
    broker_config_t config = tu_broker_config (S_PIPELINE);
    config.curve_cert = NULL;
    zactor_t *broker = zactor_new (broker_actor, &config);
    cr_assert_eq (broker_bind (broker, "tcp://0.0.0.0:*"), -1,
                  "no plaintext beyond loopback without insecure");
    cr_assert_gt (broker_bind (broker, "tcp://127.0.0.1:*"), 0, "loopback is allowed");
    zactor_destroy (&broker);
}

Test (broker_auth, a_broker_without_its_keypair_binds_nothing)
{
    broker_config_t config = tu_broker_config (S_PIPELINE);
    char *missing = zsys_sprintf ("%s/no-such-broker.key", tu_curve_dir ());
    config.curve_cert = missing;
    zactor_t *broker = zactor_new (broker_actor, &config);
    cr_assert_eq (broker_bind (broker, "tcp://127.0.0.1:*"), -1,
                  "CURVE asked for and not possible: closed, not plaintext");
    zactor_destroy (&broker);
    zstr_free (&missing);
}

Test (broker_auth, without_a_zap_handler_nobody_gets_in)
{
    //  The broker actor alone, never tu_broker_start: this process has no
    //  ZAP handler, so the enforced domain refuses even a listed key.
    s_config = tu_broker_config (S_PIPELINE);
    zactor_t *broker = zactor_new (broker_actor, &s_config);
    int port = broker_bind (broker, "tcp://127.0.0.1:*");
    cr_assert_gt (port, 0);
    snprintf (s_endpoint, sizeof s_endpoint, "tcp://127.0.0.1:%d", port);
    zsock_t *client = tu_raw_connect (s_endpoint);
    tu_raw_ready (client, "normalize", 4);
    drp_header_t stats = { .command = DRP_STATS };
    tu_raw_send (client, &stats, NULL, 0);
    drp_header_t header;
    cr_assert_eq (tu_raw_recv (client, &header, NULL, S_SILENCE_MS), -1);
    cr_assert_eq (tu_stat (broker, "normalize", "workers"), 0);
    cr_assert_geq (s_wait_at_least (broker, NULL, "handshakes_failed", 1), 1);
    zsock_destroy (&client);
    zactor_destroy (&broker);
}
