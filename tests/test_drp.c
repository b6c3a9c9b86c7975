/*  The pipeline protocol's header codec: every command round-trips, and any
    bytes at all are answered with an error rather than a crash.
*/
#include "../lib/drp.h"

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

static void
s_round_trip (drp_header_t *header)
{
    uint8_t buf [DRP_HEADER_MAX];
    int size = drp_encode (header, buf);
    cr_assert_gt (size, 0, "encode %s", drp_command_name (header->command));
    drp_header_t decoded;
    const char *reason = NULL;
    cr_assert_eq (drp_decode (buf, (size_t) size, &decoded, &reason), 0, "%s", reason);
    cr_assert_eq (decoded.command, header->command);
    cr_assert_eq (decoded.count, header->count);
    if (header->command == DRP_WORK || header->command == DRP_DONE)
        for (uint32_t i = 0; i < header->count; i++) {
            cr_assert_eq (decoded.items [i].id, header->items [i].id);
            cr_assert_eq (decoded.items [i].attempt, header->items [i].attempt);
            cr_assert_eq (decoded.items [i].status, header->items [i].status);
            cr_assert_eq (decoded.items [i].size, header->items [i].size);
        }
    cr_assert_eq (decoded.status, header->status);
    cr_assert_eq (decoded.shed, header->shed);
    cr_assert_eq (decoded.broker_shed, header->broker_shed);
    cr_assert_str_eq (decoded.name, header->name);
    cr_assert_str_eq (decoded.instance, header->instance);
    cr_assert_str_eq (decoded.version, header->version);
}

Test (drp, every_command_round_trips)
{
    drp_header_t ready = { .command = DRP_READY, .count = 64, .name = "normalize",
                           .instance = "host/12", .version = "1.4.0" };
    drp_header_t work = { .command = DRP_WORK, .count = DRP_BATCH_MAX };
    for (int i = 0; i < DRP_BATCH_MAX; i++)
        work.items [i] = (drp_item_t) { .id = 0x0102030405060708ULL + (uint64_t) i,
                                        .attempt = 3, .size = 1000 + (uint32_t) i };
    drp_header_t done = { .command = DRP_DONE, .count = 3 };
    done.items [0] = (drp_item_t) { .id = 99, .status = DRP_DONE_FAILED };
    done.items [1] = (drp_item_t) { .id = 100, .status = DRP_DONE_FORWARD, .size = 7 };
    done.items [2] = (drp_item_t) { .id = 101, .status = DRP_DONE_END };
    drp_header_t heartbeat = { .command = DRP_HEARTBEAT };
    drp_header_t disconnect = { .command = DRP_DISCONNECT, .name = "broker stopping" };
    drp_header_t open = { .command = DRP_OPEN, .count = 256, .name = "ingest", .instance = "i/1",
                          .version = "1.4.0" };
    drp_header_t grant = { .command = DRP_GRANT, .count = 4000000000U };
    drp_header_t submit = { .command = DRP_SUBMIT, .count = 2 };
    drp_header_t log = { .command = DRP_LOG, .status = 2, .shed = 7, .name = "score",
                         .instance = "h/3" };
    drp_header_t subscribe = { .command = DRP_SUBSCRIBE, .status = 1, .name = "archive" };
    drp_header_t line = { .command = DRP_LINE, .status = 3, .shed = 1, .broker_shed = 2,
                          .name = "notify", .instance = "h/4" };
    drp_header_t stats = { .command = DRP_STATS };
    drp_header_t *all [] = { &ready, &work, &done, &heartbeat, &disconnect, &open, &grant,
                             &submit, &log, &subscribe, &line, &stats };
    for (size_t i = 0; i < sizeof all / sizeof all [0]; i++)
        s_round_trip (all [i]);
}

Test (drp, longest_names_fit_and_longer_are_refused)
{
    drp_header_t ready = { .command = DRP_READY, .count = 1 };
    memset (ready.name, 'n', DRP_NAME_MAX);
    memset (ready.instance, 'i', DRP_NAME_MAX);
    memset (ready.version, 'v', DRP_NAME_MAX);
    s_round_trip (&ready);
    drp_header_t unknown = { .command = 200 };
    uint8_t buf [DRP_HEADER_MAX];
    cr_assert_eq (drp_encode (&unknown, buf), -1);
    drp_header_t too_many = { .command = DRP_WORK, .count = DRP_BATCH_MAX + 1 };
    cr_assert_eq (drp_encode (&too_many, buf), -1);
    drp_header_t empty = { .command = DRP_DONE, .count = 0 };
    cr_assert_eq (drp_encode (&empty, buf), -1);
}

//  The version in READY and OPEN came after DRP/1 was first released: a peer
//  that does not send it is still understood, with the version empty, and
//  one that has none to tell sends exactly the old header.
Test (drp, version_is_an_optional_trailing_field_of_ready_and_open)
{
    static const uint8_t old_ready [] = {
        'D', 'R', 'P', 1, DRP_READY, 0, 0, 0, 8, 5, 's', 'c', 'o', 'r', 'e', 3, 'h', '/', '1'
    };
    drp_header_t decoded;
    const char *reason = NULL;
    cr_assert_eq (drp_decode (old_ready, sizeof old_ready, &decoded, &reason), 0, "%s", reason);
    cr_assert_eq (decoded.count, 8);
    cr_assert_str_eq (decoded.name, "score");
    cr_assert_str_eq (decoded.instance, "h/1");
    cr_assert_str_eq (decoded.version, "");

    drp_header_t unversioned = { .command = DRP_READY, .count = 8, .name = "score",
                                 .instance = "h/1" };
    uint8_t buf [DRP_HEADER_MAX];
    cr_assert_eq (drp_encode (&unversioned, buf), (int) sizeof old_ready);
    cr_assert_eq (memcmp (buf, old_ready, sizeof old_ready), 0);

    //  A version cut short, or anything after it, is still refused.
    drp_header_t versioned = unversioned;
    strcpy (versioned.version, "1.4.0");
    int size = drp_encode (&versioned, buf);
    cr_assert_eq (size, (int) sizeof old_ready + 6);
    cr_assert_eq (drp_decode (buf, (size_t) size - 1, &decoded, &reason), -1);
    buf [size] = 'x';
    cr_assert_eq (drp_decode (buf, (size_t) size + 1, &decoded, &reason), -1);
}

Test (drp, bad_headers_are_refused_with_a_reason)
{
    struct { const char *bytes; size_t size; const char *reason; } cases [] = {
        { "", 0, "bad signature" },
        { "XYZ\x01\x04", 5, "bad signature" },
        { "DRP\x02\x04", 5, "unsupported version" },
        { "DRP\x01\x00", 5, "unknown command" },
        { "DRP\x01\x63", 5, "unknown command" },
        { "DRP\x01\x02\x01\x00", 7, "malformed header" },           // WORK cut short
        { "DRP\x01\x02\x00", 6, "malformed header" },                // empty batch
        { "DRP\x01\x02\x41", 6, "malformed header" },                // batch of 65
        { "DRP\x01\x03\x01" "\0\0\0\0\0\0\0\1" "\x09" "\0\0\0\0", 19,
          "malformed header" },                                       // DONE status 9
        { "DRP\x01\x03\x01" "\0\0\0\0\0\0\0\1" "\x01" "\0\0\0\5", 19,
          "malformed header" },                                       // END with a body
        { "DRP\x01\x04\x00", 6, "trailing bytes in header" },
        { "DRP\x01\x01\0\0\0\1\x05" "ab", 12, "malformed header" },  // name longer than frame
        { "DRP\x01\x01\0\0\0\1\x02" "a\0" "\0", 13, "malformed header" }, // NUL inside a name
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases [0]; i++) {
        drp_header_t header;
        const char *reason = NULL;
        cr_assert_eq (drp_decode ((const uint8_t *) cases [i].bytes, cases [i].size, &header,
                                  &reason), -1, "case %zu accepted", i);
        cr_assert_str_eq (reason, cases [i].reason, "case %zu", i);
    }
}

//  Random bytes, and random mutations of valid headers, never crash the
//  decoder (the sanitizers watch every read).
Test (drp, random_bytes_never_crash_the_decoder)
{
    srand (7);
    uint8_t buf [DRP_HEADER_MAX];
    drp_header_t line = { .command = DRP_LINE, .status = 3, .shed = 1, .broker_shed = 2,
                          .name = "notify", .instance = "h/4" };
    int valid_size = drp_encode (&line, buf);
    int accepted = 0;
    for (int round = 0; round < 200000; round++) {
        uint8_t input [64];
        size_t size = (size_t) (rand () % (int) sizeof input);
        if (round % 2) {
            memcpy (input, buf, (size_t) valid_size);
            input [rand () % valid_size] = (uint8_t) rand ();
            size = (size_t) (rand () % (valid_size + 1));
        }
        else
            for (size_t i = 0; i < size; i++)
                input [i] = (uint8_t) rand ();
        //  Copy to an exact-size buffer so any overread is caught.
        uint8_t *exact = (uint8_t *) malloc (size ? size : 1);
        memcpy (exact, input, size);
        drp_header_t header;
        const char *reason;
        if (drp_decode (exact, size, &header, &reason) == 0)
            accepted++;
        free (exact);
    }
    cr_assert_gt (accepted, 0, "some mutations stay valid");
}
