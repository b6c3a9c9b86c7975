/*  drp: encoding and decoding of the pipeline protocol's header frame, and the
    zero-copy send/receive helpers every peer uses. See drp.h and
    proto/PIPELINE.md. Decoding is written for hostile input: every read is
    bounds-checked against the frame size first.
*/
#include "drp.h"

#include <errno.h>
#include <string.h>

//  --------------------------------------------------------------------------
//  Field writers and readers

static uint8_t *
s_put_u8 (uint8_t *p, uint8_t v)
{
    *p = v;
    return p + 1;
}

static uint8_t *
s_put_u32 (uint8_t *p, uint32_t v)
{
    p [0] = (uint8_t) (v >> 24);
    p [1] = (uint8_t) (v >> 16);
    p [2] = (uint8_t) (v >> 8);
    p [3] = (uint8_t) v;
    return p + 4;
}

static uint8_t *
s_put_u64 (uint8_t *p, uint64_t v)
{
    p = s_put_u32 (p, (uint32_t) (v >> 32));
    return s_put_u32 (p, (uint32_t) v);
}

static uint8_t *
s_put_str (uint8_t *p, const char *s)
{
    size_t len = strlen (s);
    *p++ = (uint8_t) len;
    memcpy (p, s, len);
    return p + len;
}

//  A cursor over untrusted bytes: any read past the end sets failed.
typedef struct {
    const uint8_t *p;   // next unread byte
    const uint8_t *end; // one past the last byte
    int failed;         // a read ran past the end
} reader_t;

static uint64_t
s_get (reader_t *r, int width)
{
    if (r->failed || r->end - r->p < width) {
        r->failed = 1;
        return 0;
    }
    uint64_t v = 0;
    for (int i = 0; i < width; i++)
        v = (v << 8) | *r->p++;
    return v;
}

static void
s_get_str (reader_t *r, char *dest)
{
    size_t len = (size_t) s_get (r, 1);
    if (r->failed || (size_t) (r->end - r->p) < len) {
        r->failed = 1;
        dest [0] = 0;
        return;
    }
    memcpy (dest, r->p, len);
    dest [len] = 0;
    if (memchr (dest, 0, len))
        r->failed = 1;          // embedded NUL: not a name we can print or match
    r->p += len;
}

//  --------------------------------------------------------------------------
//  Header

int
drp_encode (const drp_header_t *h, uint8_t *buf)
{
    if (strlen (h->name) > DRP_NAME_MAX || strlen (h->instance) > DRP_NAME_MAX
    ||  strlen (h->version) > DRP_NAME_MAX)
        return -1;
    uint8_t *p = buf;
    memcpy (p, DRP_SIGNATURE, 3);
    p += 3;
    p = s_put_u8 (p, DRP_VERSION);
    p = s_put_u8 (p, h->command);
    switch (h->command) {
        case DRP_READY:
        case DRP_OPEN:
            p = s_put_u32 (p, h->count);
            p = s_put_str (p, h->name);
            p = s_put_str (p, h->instance);
            //  Optional and trailing, so a peer that has no version to tell
            //  sends what a DRP/1 peer before versions did.
            if (h->version [0])
                p = s_put_str (p, h->version);
            break;
        case DRP_WORK:
        case DRP_DONE:
            if (h->count == 0 || h->count > DRP_BATCH_MAX)
                return -1;
            p = s_put_u8 (p, (uint8_t) h->count);
            for (uint32_t i = 0; i < h->count; i++) {
                p = s_put_u64 (p, h->items [i].id);
                if (h->command == DRP_WORK)
                    p = s_put_u32 (p, h->items [i].attempt);
                else
                    p = s_put_u8 (p, h->items [i].status);
                p = s_put_u32 (p, h->items [i].size);
            }
            break;
        case DRP_HEARTBEAT:
        case DRP_STATS:
            break;
        case DRP_DISCONNECT:
            p = s_put_str (p, h->name);
            break;
        case DRP_GRANT:
        case DRP_SUBMIT:
            p = s_put_u32 (p, h->count);
            break;
        case DRP_LOG:
            p = s_put_u8 (p, h->status);
            p = s_put_u64 (p, h->shed);
            p = s_put_str (p, h->name);
            p = s_put_str (p, h->instance);
            break;
        case DRP_SUBSCRIBE:
            p = s_put_u8 (p, h->status);
            p = s_put_str (p, h->name);
            break;
        case DRP_LINE:
            p = s_put_u8 (p, h->status);
            p = s_put_u64 (p, h->shed);
            p = s_put_u64 (p, h->broker_shed);
            p = s_put_str (p, h->name);
            p = s_put_str (p, h->instance);
            break;
        default:
            return -1;
    }
    return (int) (p - buf);
}

int
drp_decode (const uint8_t *data, size_t size, drp_header_t *h, const char **reason)
{
    h->command = 0;
    h->count = 0;
    h->status = 0;
    h->shed = 0;
    h->broker_shed = 0;
    h->name [0] = 0;
    h->instance [0] = 0;
    h->version [0] = 0;
    if (size < 5 || memcmp (data, DRP_SIGNATURE, 3) != 0) {
        *reason = "bad signature";
        return -1;
    }
    if (data [3] != DRP_VERSION) {
        *reason = "unsupported version";
        return -1;
    }
    reader_t r = { data + 5, data + size, 0 };
    h->command = data [4];
    switch (h->command) {
        case DRP_READY:
        case DRP_OPEN:
            h->count = (uint32_t) s_get (&r, 4);
            s_get_str (&r, h->name);
            s_get_str (&r, h->instance);
            if (!r.failed && r.p < r.end)
                s_get_str (&r, h->version);
            break;
        case DRP_WORK:
        case DRP_DONE:
            h->count = (uint32_t) s_get (&r, 1);
            if (h->count == 0 || h->count > DRP_BATCH_MAX)
                r.failed = 1;
            for (uint32_t i = 0; i < h->count && !r.failed; i++) {
                h->items [i] = (drp_item_t) { 0 };
                h->items [i].id = s_get (&r, 8);
                if (h->command == DRP_WORK)
                    h->items [i].attempt = (uint32_t) s_get (&r, 4);
                else
                if ((h->items [i].status = (uint8_t) s_get (&r, 1)) > DRP_DONE_FAILED)
                    r.failed = 1;
                h->items [i].size = (uint32_t) s_get (&r, 4);
                //  Only a forwarded item has a body; every WORK item has one.
                if (h->command == DRP_DONE
                &&  (h->items [i].status == DRP_DONE_FORWARD) != (h->items [i].size > 0))
                    r.failed = 1;
            }
            break;
        case DRP_HEARTBEAT:
        case DRP_STATS:
            break;
        case DRP_DISCONNECT:
            if (r.p < r.end)
                s_get_str (&r, h->name);
            break;
        case DRP_GRANT:
        case DRP_SUBMIT:
            h->count = (uint32_t) s_get (&r, 4);
            break;
        case DRP_LOG:
            h->status = (uint8_t) s_get (&r, 1);
            h->shed = s_get (&r, 8);
            s_get_str (&r, h->name);
            s_get_str (&r, h->instance);
            break;
        case DRP_SUBSCRIBE:
            h->status = (uint8_t) s_get (&r, 1);
            s_get_str (&r, h->name);
            break;
        case DRP_LINE:
            h->status = (uint8_t) s_get (&r, 1);
            h->shed = s_get (&r, 8);
            h->broker_shed = s_get (&r, 8);
            s_get_str (&r, h->name);
            s_get_str (&r, h->instance);
            break;
        default:
            *reason = "unknown command";
            return -1;
    }
    if (r.failed) {
        *reason = "malformed header";
        return -1;
    }
    if (r.p != r.end) {
        *reason = "trailing bytes in header";
        return -1;
    }
    return 0;
}

int
drp_body_count (const drp_header_t *header)
{
    switch (header->command) {
        case DRP_WORK:
        case DRP_DONE:
            return drp_batch_size (header) > 0;
        case DRP_SUBMIT:
        case DRP_LOG:
        case DRP_LINE:
            return 1;
        default:
            return 0;
    }
}

size_t
drp_batch_size (const drp_header_t *header)
{
    size_t total = 0;
    for (uint32_t i = 0; i < header->count; i++)
        total += header->items [i].size;
    return total;
}

const char *
drp_command_name (uint8_t command)
{
    static const char *names [] = {
        "?", "READY", "WORK", "DONE", "HEARTBEAT", "DISCONNECT", "OPEN",
        "GRANT", "SUBMIT", "LOG", "SUBSCRIBE", "LINE", "STATS"
    };
    return command <= DRP_COMMAND_MAX ? names [command] : "?";
}

//  --------------------------------------------------------------------------
//  Sending and receiving

int
drp_send_bodies (void *socket, zmq_msg_t *routing_id, const drp_header_t *header,
                 zmq_msg_t *bodies, int body_count, int flags)
{
    uint8_t buf [DRP_HEADER_MAX];
    int size = drp_encode (header, buf);
    if (size < 0) {
        errno = EINVAL;
        return -1;
    }
    if (routing_id) {
        //  The routing id is copied so the caller keeps it for later sends.
        zmq_msg_t copy;
        zmq_msg_init (&copy);
        zmq_msg_copy (&copy, routing_id);
        if (zmq_msg_send (&copy, socket, ZMQ_SNDMORE | flags) < 0) {
            zmq_msg_close (&copy);
            return -1;
        }
    }
    //  After the first frame a multipart message is sent whole, so later
    //  frames are never refused by the high-water mark.
    if (zmq_send (socket, buf, (size_t) size, body_count ? ZMQ_SNDMORE : 0) < 0)
        return -1;
    for (int i = 0; i < body_count; i++)
        if (zmq_msg_send (&bodies [i], socket, i + 1 < body_count ? ZMQ_SNDMORE : 0) < 0)
            return -1;
    return 0;
}

int
drp_send (void *socket, zmq_msg_t *routing_id, const drp_header_t *header,
          zmq_msg_t *body, int flags)
{
    return drp_send_bodies (socket, routing_id, header, body, body ? 1 : 0, flags);
}

int
drp_send_bytes (void *socket, zmq_msg_t *routing_id, const drp_header_t *header,
                const void *data, size_t size, int flags)
{
    zmq_msg_t body;
    zmq_msg_init_size (&body, size);
    if (size)
        memcpy (zmq_msg_data (&body), data, size);
    int rc = drp_send (socket, routing_id, header, &body, flags);
    zmq_msg_close (&body);
    return rc;
}

int
drp_recv_frames (void *socket, zmq_msg_t *frames, int max_frames, int flags)
{
    int count = 0;
    int more = 1;
    while (more) {
        zmq_msg_t spill;
        zmq_msg_t *target = count < max_frames ? &frames [count] : &spill;
        zmq_msg_init (target);
        //  flags on every frame: libzmq delivers a message's frames
        //  together, so with ZMQ_DONTWAIT a missing one ends the message
        //  short instead of waiting (no read on a role's loop may block).
        if (zmq_msg_recv (target, socket, flags) < 0) {
            zmq_msg_close (target);
            if (count == 0)
                return -1;
            break;
        }
        more = zmq_msg_more (target);
        if (target == &spill)
            zmq_msg_close (&spill);
        count++;
    }
    return count;
}

void
drp_close_frames (zmq_msg_t *frames, int count, int max_frames)
{
    for (int i = 0; i < count && i < max_frames; i++)
        zmq_msg_close (&frames [i]);
}
