/*  agent_link: the agent link's decoder (lib/agent_link) on frames written
    byte by byte. A field this version does not know, at the top or inside
    a kind, is refused before protobuf-c reads the frame: the decode makes
    no allocation at all (counted with the sanitizers' allocation hook, on
    this thread only), where protobuf-c would allocate the message first.
    Among them the five-byte key that made protobuf-c 1.4.1's tag parser
    shift a signed int past its width (found by fuzz/agent_link_fuzz.c with
    protobuf-c built instrumented). Frames of our own kinds still decode,
    and a command update is named from the wire without a decode.
    Needs the sanitizer build (scripts/test): the hook is the sanitizers'.
*/
#include "linkutil.h"
#include "../lib/agent_link.h"

#include <criterion/criterion.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

//  The sanitizer runtime's hook (libasan), declared weak so a build
//  without it fails the test with a reason instead of not linking.
int __sanitizer_install_malloc_and_free_hooks (void (*malloc_hook) (const volatile void *, size_t),
                                               void (*free_hook) (const volatile void *))
    __attribute__ ((weak));

static _Thread_local bool s_counting;   // count this thread's allocations now
static _Thread_local size_t s_allocations;  // allocations counted

static void
s_on_malloc (const volatile void *pointer, size_t size)
{
    (void) pointer;
    (void) size;
    if (s_counting)
        s_allocations++;
}

static void
s_on_free (const volatile void *pointer)
{
    (void) pointer;
}

static void
s_setup (void)
{
    cr_assert (__sanitizer_install_malloc_and_free_hooks,
               "needs the sanitizer build (DRIFT_SANITIZE=ON, as scripts/test builds)");
    cr_assert (__sanitizer_install_malloc_and_free_hooks (s_on_malloc, s_on_free));
}

TestSuite (agent_link, .init = s_setup);

//  Decode frame; what it allocated meanwhile in *allocations.
static Drift__AgentMessage *
s_decode (const uint8_t *frame, size_t size, const char **error, size_t *allocations)
{
    s_allocations = 0;
    s_counting = true;
    Drift__AgentMessage *message = agent_link_decode (frame, size, error);
    s_counting = false;
    *allocations = s_allocations;
    return message;
}

Test (agent_link, an_unknown_field_is_refused_before_protobuf_c_reads_the_frame)
{
    //  Field 3 (report) with field 1 (report_id) "r-1", then each unknown.
    static const struct {
        const char *what;                 // the case
        uint8_t bytes [16];               // the frame
        size_t size;                      // its length
    } frames [] = {
        //  Key 8a 80 80 80 7f: field number 2^31 + 1, length-delimited,
        //  empty. protobuf-c 1.4.1 computes (0x7f << 25) in an int.
        { "five-byte key", { 0x8a, 0x80, 0x80, 0x80, 0x7f, 0x00 }, 6 },
        { "five-byte key after a report",
          { 0x1a, 0x05, 0x0a, 0x03, 'r', '-', '1', 0x8a, 0x80, 0x80, 0x80, 0x7f, 0x00 }, 13 },
        //  Field 127 (varint 0) inside a Hello.
        { "unknown field inside a kind", { 0x0a, 0x05, 0x08, 0x01, 0xf8, 0x07, 0x00 }, 7 },
        //  Field 12 (a tenant, say) inside a Report (11 is command_id since
        //  issue 19).
        { "unknown field inside a report",
          { 0x1a, 0x0a, 0x0a, 0x03, 'r', '-', '1', 0x62, 0x03, 'a', 'c', 'm' }, 12 },
        //  Field 0 is no field.
        { "field zero", { 0x02, 0x00 }, 2 },
    };
    for (size_t i = 0; i < sizeof frames / sizeof frames [0]; i++) {
        const char *error = NULL;
        size_t allocations;
        Drift__AgentMessage *message = s_decode (frames [i].bytes, frames [i].size, &error,
                                                 &allocations);
        cr_assert_null (message, "%s: decoded", frames [i].what);
        cr_assert_str_eq (error, "AgentMessage has fields this server does not know", "%s",
                          frames [i].what);
        cr_assert_eq (allocations, 0, "%s: %zu allocations, so protobuf-c read it",
                      frames [i].what, allocations);
    }
}

Test (agent_link, the_fuzzers_input_is_refused_as_not_protobuf)
{
    //  A key varint that never ends.
    const uint8_t frame [] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xf7 };
    const char *error = NULL;
    size_t allocations;
    cr_assert_null (s_decode (frame, sizeof frame, &error, &allocations));
    cr_assert_str_eq (error, "not an AgentMessage (protobuf does not decode)");
    cr_assert_eq (allocations, 0);
}

Test (agent_link, our_own_kinds_still_decode)
{
    //  A Hello (protocol 1, agent_version "0.1"), and a Report as in the
    //  first test without its unknown field. protobuf-c allocates them: the
    //  count above is not zero for want of counting.
    const uint8_t hello [] = { 0x0a, 0x07, 0x08, 0x01, 0x12, 0x03, '0', '.', '1' };
    const uint8_t report [] = { 0x1a, 0x05, 0x0a, 0x03, 'r', '-', '1' };
    const char *error = NULL;
    size_t allocations;
    Drift__AgentMessage *message = s_decode (hello, sizeof hello, &error, &allocations);
    cr_assert (message, "%s", error);
    cr_assert_eq (message->kind_case, DRIFT__AGENT_MESSAGE__KIND_HELLO);
    cr_assert_eq (message->hello->protocol, 1);
    cr_assert_str_eq (message->hello->agent_version, "0.1");
    cr_assert_gt (allocations, 0);
    agent_link_free (message);
    message = s_decode (report, sizeof report, &error, &allocations);
    cr_assert (message, "%s", error);
    cr_assert_str_eq (message->report->report_id, "r-1");
    cr_assert_gt (allocations, 0);
    agent_link_free (message);
}

//  A Report's bytes behind agent_link_field_header are the AgentMessage
//  holding that Report, at every length the varint takes more bytes for.
Test (agent_link, a_field_header_makes_the_bytes_behind_it_a_field)
{
    const size_t lengths [] = { 0, 100, 127, 128, 16383, 16384, 300000 };
    for (size_t i = 0; i < sizeof lengths / sizeof lengths [0]; i++) {
        Drift__Report report = DRIFT__REPORT__INIT;
        report.report_id = (char *) "r-1";
        report.stack = (char *) "payments";
        report.payload.len = lengths [i];
        report.payload.data = (uint8_t *) calloc (1, lengths [i] + 1);
        size_t size = drift__report__get_packed_size (&report);
        uint8_t *framed = (uint8_t *) malloc (AGENT_LINK_FIELD_HEADER_MAX + size);
        size_t used = agent_link_field_header (DRIFT__AGENT_MESSAGE__KIND_REPORT, size, framed);
        cr_assert (used >= 2 && used <= AGENT_LINK_FIELD_HEADER_MAX);
        drift__report__pack (&report, framed + used);
        Drift__AgentMessage *message = drift__agent_message__unpack (NULL, used + size, framed);
        cr_assert (message, "payload of %zu bytes", lengths [i]);
        cr_assert_eq (message->kind_case, DRIFT__AGENT_MESSAGE__KIND_REPORT);
        cr_assert_str_eq (message->report->report_id, "r-1");
        cr_assert_eq (message->report->payload.len, lengths [i]);
        drift__agent_message__free_unpacked (message, NULL);
        free (framed);
        free (report.payload.data);
    }
}

//  The HTTPS face's check of POST /v1/command-updates: the body holds a
//  CommandUpdate (field 9) and nothing else, however protobuf orders it; a
//  Report hidden after one (a oneof takes the last) is not an update.
Test (agent_link, holds_only_finds_any_other_kind_on_the_wire)
{
    const uint8_t update [] = { 0x4a, 0x02, 0x10, 0x01 };
    const uint8_t twice [] = { 0x4a, 0x02, 0x10, 0x01, 0x4a, 0x00 };
    const uint8_t report_after [] = { 0x4a, 0x02, 0x10, 0x01, 0x1a, 0x05, 0x0a, 0x03, 'r', '-', '1' };
    const uint8_t report [] = { 0x1a, 0x05, 0x0a, 0x03, 'r', '-', '1' };
    const uint8_t cut [] = { 0x4a, 0x05, 0x10, 0x01 };
    const uint8_t varint_nine [] = { 0x48, 0x01 };
    cr_assert (agent_link_holds_only (update, sizeof update, 9));
    cr_assert (agent_link_holds_only (twice, sizeof twice, 9));
    cr_assert_not (agent_link_holds_only (report_after, sizeof report_after, 9));
    cr_assert_not (agent_link_holds_only (report, sizeof report, 9));
    cr_assert_not (agent_link_holds_only (cut, sizeof cut, 9));
    cr_assert_not (agent_link_holds_only (varint_nine, sizeof varint_nine, 9));
    cr_assert_not (agent_link_holds_only (update, 0, 9));
    //  And the poll the face makes of GET /v1/commands decodes as one.
    const uint8_t poll [] = { 0x5a, 0x00 };
    const char *error = NULL;
    Drift__AgentMessage *message = agent_link_decode (poll, sizeof poll, &error);
    cr_assert (message, "%s", error);
    cr_assert_eq (message->kind_case, DRIFT__AGENT_MESSAGE__KIND_COMMAND_POLL);
    agent_link_free (message);
}

Test (agent_link, an_update_is_named_from_the_wire_without_a_decode)
{
    size_t size, allocations = 0;
    uint8_t *frame = lu_update_frame ("0b9f4c1e-2d3a-4e5f-8a7b-6c5d4e3f2a1b", 7, DRIFT__COMMAND_STATE__COMMAND_STATE_RUNNING, &size);
    char id [37];
    uint32_t seq;
    s_allocations = 0;
    s_counting = true;
    int rc = agent_link_peek_update (frame, size, id, &seq);
    s_counting = false;
    allocations = s_allocations;
    cr_assert_eq (rc, 0);
    cr_assert_str_eq (id, "0b9f4c1e-2d3a-4e5f-8a7b-6c5d4e3f2a1b");
    cr_assert_eq (seq, 7);
    cr_assert_eq (allocations, 0, "nothing is decoded");
    free (frame);
    //  An id that is no UUID is not echoed; a report is no update.
    frame = lu_update_frame ("../../etc/passwd-and-then-some-more!", 1, DRIFT__COMMAND_STATE__COMMAND_STATE_RUNNING, &size);
    cr_assert_eq (agent_link_peek_update (frame, size, id, &seq), -1);
    cr_assert_str_eq (id, "");
    free (frame);
    const uint8_t report [] = { 0x1a, 0x05, 0x0a, 0x03, 'r', '-', '1' };
    cr_assert_eq (agent_link_peek_update (report, sizeof report, id, &seq), -1);
    //  Cut short: nothing.
    frame = lu_update_frame ("0b9f4c1e-2d3a-4e5f-8a7b-6c5d4e3f2a1b", 7, DRIFT__COMMAND_STATE__COMMAND_STATE_RUNNING, &size);
    cr_assert_eq (agent_link_peek_update (frame, size - 30, id, &seq), -1);
    free (frame);
}
