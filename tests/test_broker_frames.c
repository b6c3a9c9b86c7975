/*  Malformed multipart messages against the broker's ROUTER, the one socket
    the broker binds (work, credit, log lines and stats all come through it;
    issue 16, item 3). A bounded, randomly seeded stream of bad messages:
    empty and zero-part-length frames, many parts, random bytes, and valid
    DRP headers of every command with bytes flipped, cut or extended, with
    and without bodies, some from a peer that registered first. The broker
    runs in this process, so the sanitizers watch its receive path. After
    it, the broker must answer STATS, count the bad input, and still carry
    work from a producer to a worker.
*/
#include "testutil.h"
#include "../lib/producer.h"

#include <criterion/criterion.h>
#include <sodium.h>

static zactor_t *s_broker;
static char s_endpoint [64];

static void
s_teardown (void)
{
    zactor_destroy (&s_broker);
}

//  The sum of the broker's error counters.
static long
s_errors (void)
{
    static const char *names [] = {
        "bad_signature", "bad_version", "unknown_command", "malformed_header", "bad_frames",
        "oversize", "unknown_peer", "unknown_stage", "unknown_work", "submit_without_credit",
        "unexpected_command"
    };
    long sum = 0;
    for (size_t i = 0; i < sizeof names / sizeof names [0]; i++) {
        long value = tu_stat (s_broker, "errors", names [i]);
        sum += value > 0 ? value : 0;
    }
    return sum;
}

//  One valid header of command, encoded into buf; its size.
static int
s_valid_header (drp_command_t command, uint8_t *buf)
{
    drp_header_t header = { .command = command, .count = 1 };
    strcpy (header.name, "only");
    strcpy (header.instance, "fuzz/1");
    header.items [0] = (drp_item_t) { .id = 7, .attempt = 1, .status = DRP_DONE_END, .size = 4 };
    return drp_encode (&header, buf);
}

//  One malformed message on raw, chosen and shaped by random bytes.
static void
s_send_bad (zsock_t *raw)
{
    void *handle = zsock_resolve (raw);
    uint8_t random [600];
    randombytes_buf (random, sizeof random);
    uint32_t kind = randombytes_uniform (6);
    if (kind == 0) {                                   // empty frames, 1 to 4 of them
        int parts = 1 + (int) randombytes_uniform (4);
        for (int i = 0; i < parts; i++)
            zmq_send (handle, "", 0, i + 1 < parts ? ZMQ_SNDMORE : 0);
    }
    else
    if (kind == 1) {                                   // many parts
        int parts = 4 + (int) randombytes_uniform (60);
        for (int i = 0; i < parts; i++)
            zmq_send (handle, random, randombytes_uniform (32), i + 1 < parts ? ZMQ_SNDMORE : 0);
    }
    else
    if (kind == 2)                                     // random bytes
        zmq_send (handle, random, 1 + randombytes_uniform (sizeof random - 1), 0);
    else {                                             // a valid header, damaged
        uint8_t header [DRP_HEADER_MAX + 64];
        drp_command_t command = (drp_command_t) (1 + randombytes_uniform (12));
        int size = s_valid_header (command, header);
        cr_assert_gt (size, 0);
        if (kind == 3) {                               // bytes flipped
            int flips = 1 + (int) randombytes_uniform (4);
            for (int i = 0; i < flips; i++)
                header [4 + randombytes_uniform ((uint32_t) size - 4)] ^= random [i] | 1;
        }
        else
        if (kind == 4)                                 // cut short
            size = 4 + (int) randombytes_uniform ((uint32_t) size - 4);
        else {                                         // extended with junk
            memcpy (header + size, random, 64);
            size += 1 + (int) randombytes_uniform (64);
        }
        //  With no body, one, or two.
        int bodies = (int) randombytes_uniform (3);
        zmq_send (handle, header, (size_t) size, bodies ? ZMQ_SNDMORE : 0);
        for (int i = 0; i < bodies; i++)
            zmq_send (handle, random + 100, randombytes_uniform (400), i + 1 < bodies ? ZMQ_SNDMORE : 0);
    }
}

Test (broker_frames, malformed_multipart_messages_are_counted_and_service_goes_on,
      .fini = s_teardown, .timeout = 120)
{
    broker_config_t config = tu_broker_config ("only");
    config.liveness = 50;
    s_broker = tu_broker_start (&config, s_endpoint);

    //  A stranger, and a peer that registered as a worker first, so damaged
    //  DONE, HEARTBEAT and LOG headers reach the code past the peer lookup.
    zsock_t *stranger = tu_raw_connect (s_endpoint);
    zsock_t *member = tu_raw_connect (s_endpoint);
    tu_raw_ready (member, "only", 1);
    const int messages = 3000;
    for (int i = 0; i < messages; i++)
        s_send_bad (i % 2 ? member : stranger);
    //  Read through the broker's pipe until most are counted (some damaged
    //  headers are valid commands and are not errors).
    int64_t deadline = zclock_mono () + 30000;
    long errors = s_errors ();
    while (errors < messages / 4 && zclock_mono () < deadline) {
        zclock_sleep (100);
        errors = s_errors ();
    }
    cr_assert_geq (errors, messages / 4, "the bad input is counted (%ld)", errors);
    cr_log_info ("%d malformed messages: %ld counted as errors", messages, errors);
    //  And through its socket: a DRP STATS request is still answered.
    cr_assert_geq (tu_remote_stat (s_endpoint, "errors", "bad_signature"), 1,
                   "the broker answers STATS on its socket");

    //  Still serving: a producer's work reaches a worker. The two attackers
    //  leave first: a damaged header can still be a valid READY that made
    //  one of them a worker with plenty of credit.
    drp_header_t leave = { .command = DRP_DISCONNECT };
    tu_raw_send (member, &leave, NULL, 0);
    tu_raw_send (stranger, &leave, NULL, 0);
    cr_assert_eq (tu_wait_stat (s_broker, "only", "workers", 0, 5000), 0,
                  "no worker is left registered");
    //  Damaged SUBMITs may have queued junk of their own: it is delivered too.
    long queued = tu_stat (s_broker, "only", "queued");
    zsock_t *worker = tu_raw_connect (s_endpoint);
    tu_raw_ready (worker, "only", 1000);
    producer_t *producer = producer_new (s_endpoint, "only", 64, 100, 3);
    for (int i = 0; i < 3; i++) {
        char id [32];
        snprintf (id, sizeof id, "after-%d", i);
        size_t size;
        uint8_t *body = tu_envelope (id, 16, &size);
        cr_assert_eq (producer_submit (producer, body, size, 1, 5000), 0, "credit for %d", i);
        free (body);
    }
    int work = 0;
    drp_header_t header;
    while (work < queued + 3 && tu_raw_recv (worker, &header, NULL, 5000) == 0)
        if (header.command == DRP_WORK)
            work += (int) header.count;
    cr_assert_eq (work, queued + 3, "the broker still carries work (%ld queued before)", queued);
    producer_destroy (&producer);
    zsock_destroy (&worker);
    zsock_destroy (&member);
    zsock_destroy (&stranger);
}
