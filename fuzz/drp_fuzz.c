/*  drp_fuzz: libFuzzer target for drp_decode, the pipeline protocol's
    header codec (lib/drp.c). Every peer of the broker decodes header frames
    with it, and the broker decodes what any peer on the backend network
    sends, so it takes bytes from the network.

    The input is used twice. As a header frame: it is decoded or refused
    with a reason, without a fault (the sanitizers watch); what decodes
    encodes again to the input itself, but for at most one empty trailing
    name (the optional READY/OPEN version, which an encoder omits when
    empty, or the DISCONNECT reason, which it always writes), and that
    decodes to the same header. As the fields of a header: one is built
    from the bytes, encoded, and decoded back to the same header
    (decode (encode (x)) == x), or refused by the decoder exactly when it
    breaks a rule of proto/PIPELINE.md that the encoder does not check.
    The asserts check the codec's invariants, not the input.
    Built and run by scripts/fuzz.
*/
#include "../lib/drp.h"

#include <assert.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

//  The fields of its command that a decoded header holds, equal in both.
static bool
s_equal (const drp_header_t *a, const drp_header_t *b)
{
    if (a->command != b->command || a->count != b->count || a->status != b->status
    ||  a->shed != b->shed || a->broker_shed != b->broker_shed
    ||  strcmp (a->name, b->name) || strcmp (a->instance, b->instance)
    ||  strcmp (a->version, b->version))
        return false;
    if (a->command == DRP_WORK || a->command == DRP_DONE)
        for (uint32_t i = 0; i < a->count; i++)
            if (a->items [i].id != b->items [i].id || a->items [i].attempt != b->items [i].attempt
            ||  a->items [i].status != b->items [i].status || a->items [i].size != b->items [i].size)
                return false;
    return true;
}

//  What a decoded header promises whatever the input was.
static void
s_check_decoded (const drp_header_t *header)
{
    assert (strcmp (drp_command_name (header->command), "?") != 0);
    assert (strlen (header->name) <= DRP_NAME_MAX && strlen (header->instance) <= DRP_NAME_MAX
            && strlen (header->version) <= DRP_NAME_MAX);
    if (header->command == DRP_WORK || header->command == DRP_DONE) {
        assert (header->count >= 1 && header->count <= DRP_BATCH_MAX);
        size_t sum = 0;
        for (uint32_t i = 0; i < header->count; i++) {
            sum += header->items [i].size;
            if (header->command == DRP_WORK)
                assert (header->items [i].status == 0);
            else {
                assert (header->items [i].attempt == 0);
                assert (header->items [i].status <= DRP_DONE_FAILED);
                assert ((header->items [i].status == DRP_DONE_FORWARD)
                        == (header->items [i].size > 0));
            }
        }
        assert (drp_batch_size (header) == sum);
        assert (drp_body_count (header) == (sum > 0));
    }
    else
        assert (drp_body_count (header) == (header->command == DRP_SUBMIT
                                            || header->command == DRP_LOG
                                            || header->command == DRP_LINE));
}

//  The input as a header frame.
static void
s_as_frame (const uint8_t *data, size_t size)
{
    drp_header_t header;
    const char *reason = NULL;
    if (drp_decode (data, size, &header, &reason) != 0) {
        assert (reason && *reason);
        return;
    }
    s_check_decoded (&header);
    uint8_t again [DRP_HEADER_MAX];
    int length = drp_encode (&header, again);
    assert (length >= 5);
    //  The same bytes, but for one empty optional trailing name: present
    //  in one and absent in the other (an encoder leaves out an empty
    //  version, but writes an empty DISCONNECT reason).
    size_t shorter = (size_t) length < size ? (size_t) length : size;
    assert (memcmp (again, data, shorter) == 0);
    if ((size_t) length != size) {
        const uint8_t *longer = (size_t) length > size ? again : data;
        assert (shorter + 1 == ((size_t) length > size ? (size_t) length : size));
        assert (longer [shorter] == 0);
        assert (header.command == DRP_READY || header.command == DRP_OPEN
                || header.command == DRP_DISCONNECT);
    }
    drp_header_t decoded;
    assert (drp_decode (again, (size_t) length, &decoded, &reason) == 0);
    assert (s_equal (&decoded, &header));
}

//  A cursor over the input, read as the fields of a header; zeros once
//  it runs out.
typedef struct {
    const uint8_t *at;          // next byte
    const uint8_t *end;         // one past the last
} source_t;

static uint64_t
s_take (source_t *source, int width)
{
    uint64_t value = 0;
    for (int i = 0; i < width; i++)
        value = (value << 8) | (source->at < source->end ? *source->at++ : 0);
    return value;
}

//  A name of up to DRP_NAME_MAX bytes without NULs (the longest a
//  header's buffer holds; the encoder's refusal of a longer one is
//  tests/test_drp.c's).
static void
s_take_name (source_t *source, char *name)
{
    size_t length = (size_t) s_take (source, 1);
    size_t index = 0;
    while (index < length && source->at < source->end) {
        uint8_t byte = *source->at++;
        name [index++] = (char) (byte ? byte : 'x');
    }
    name [index] = 0;
}

//  The input as the fields of a header: only its command's fields set,
//  the rest zero, as the decoder leaves them.
static void
s_as_fields (const uint8_t *data, size_t size)
{
    source_t source = { data, data + size };
    drp_header_t header;
    memset (&header, 0, sizeof header);
    //  One past the last command too: the encoder must refuse it.
    header.command = (uint8_t) (s_take (&source, 1) % (DRP_COMMAND_MAX + 2));
    //  A DONE item whose status is unknown or whose size disagrees with
    //  its status: the encoder writes it, the decoder must refuse it.
    bool refused = false;
    switch (header.command) {
        case DRP_READY:
        case DRP_OPEN:
            header.count = (uint32_t) s_take (&source, 4);
            s_take_name (&source, header.name);
            s_take_name (&source, header.instance);
            s_take_name (&source, header.version);
            break;
        case DRP_WORK:
        case DRP_DONE:
            //  0 and DRP_BATCH_MAX + 1 too: the encoder must refuse them.
            header.count = (uint32_t) s_take (&source, 1) % (DRP_BATCH_MAX + 2);
            for (uint32_t i = 0; i < header.count && i < DRP_BATCH_MAX; i++) {
                drp_item_t *item = &header.items [i];
                item->id = s_take (&source, 8);
                if (header.command == DRP_WORK)
                    item->attempt = (uint32_t) s_take (&source, 4);
                else
                    item->status = (uint8_t) (s_take (&source, 1) % 4);
                item->size = (uint32_t) s_take (&source, 4);
                if (header.command == DRP_DONE
                &&  (item->status > DRP_DONE_FAILED
                     || (item->status == DRP_DONE_FORWARD) != (item->size > 0)))
                    refused = true;
            }
            break;
        case DRP_DISCONNECT:
            s_take_name (&source, header.name);
            break;
        case DRP_GRANT:
        case DRP_SUBMIT:
            header.count = (uint32_t) s_take (&source, 4);
            break;
        case DRP_LOG:
        case DRP_LINE:
            header.status = (uint8_t) s_take (&source, 1);
            header.shed = s_take (&source, 8);
            if (header.command == DRP_LINE)
                header.broker_shed = s_take (&source, 8);
            s_take_name (&source, header.name);
            s_take_name (&source, header.instance);
            break;
        case DRP_SUBSCRIBE:
            header.status = (uint8_t) s_take (&source, 1);
            s_take_name (&source, header.name);
            break;
        default:
            break;
    }
    uint8_t frame [DRP_HEADER_MAX];
    int length = drp_encode (&header, frame);
    bool known = header.command >= DRP_READY && header.command <= DRP_COMMAND_MAX;
    bool batch_ok = (header.command != DRP_WORK && header.command != DRP_DONE)
                 || (header.count >= 1 && header.count <= DRP_BATCH_MAX);
    if (!known || !batch_ok) {
        assert (length == -1);
        return;
    }
    assert (length >= 5 && length <= DRP_HEADER_MAX);
    drp_header_t decoded;
    const char *reason = NULL;
    int rc = drp_decode (frame, (size_t) length, &decoded, &reason);
    if (refused) {
        assert (rc == -1 && reason && *reason);
        return;
    }
    assert (rc == 0);
    assert (s_equal (&decoded, &header));
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    s_as_frame (data, size);
    s_as_fields (data, size);
    return 0;
}
