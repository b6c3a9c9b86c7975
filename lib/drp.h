/*  drp: the Drift Pipeline Protocol spoken between the broker and its peers.

    Every message is one header frame followed by the body frame its command
    calls for: an Envelope for SUBMIT, a log line for LOG and LINE, JSON for a
    STATS reply. WORK and DONE carry a batch of up to DRP_BATCH_MAX items: the
    header lists each item's id and size, and one body frame holds the items'
    envelopes back to back. One large frame instead of many small ones is
    what lets a busy pipeline move bytes at TCP speed (measured: 64 KiB
    frames carry about 2.5 times the bytes per second of 1 KiB frames). The header is a fixed signature, a command
    byte and the command's fields in network order; proto/PIPELINE.md is the
    specification. A field added to DRP/1 after its first release (the
    version in READY and OPEN) is optional and trailing: it is encoded only
    when set, and a header without it decodes with it empty. Decoding
    checks every length against the frame, so any bytes from the network can be
    handed to drp_decode: it answers -1 and never asserts on them.

    drp_send / drp_recv move one message on a raw libzmq socket with zmq_msg_t,
    because the broker's hot path cannot afford an allocation per frame.
*/
#ifndef DRP_H_INCLUDED
#define DRP_H_INCLUDED

#include <stddef.h>
#include <stdint.h>
#include <zmq.h>

#define DRP_SIGNATURE "DRP"
#define DRP_VERSION 1
#define DRP_NAME_MAX 255          // longest stage, role or instance name
#define DRP_BATCH_MAX 64          // most items in one WORK or DONE
#define DRP_HEADER_MAX 1200       // longest encoded header (three names + fields, or a batch)

typedef enum {
    DRP_READY = 1,       // worker -> broker: stage, credit, instance, [version]
    DRP_WORK = 2,        // broker -> worker: (id, attempt, size) per item + the bodies
    DRP_DONE = 3,        // worker -> broker: (id, status, size) per item + forwarded bodies
    DRP_HEARTBEAT = 4,   // both ways, while nothing else is said
    DRP_DISCONNECT = 5,  // both ways: forget me / you are unknown, re-register
    DRP_OPEN = 6,        // producer -> broker: stage fed, window, instance, [version]
    DRP_GRANT = 7,       // broker -> producer: this many more SUBMITs allowed
    DRP_SUBMIT = 8,      // producer -> broker: attempt + body, enters the stage opened
    DRP_LOG = 9,         // any peer -> broker: one log line
    DRP_SUBSCRIBE = 10,  // tail -> broker: send me log lines (role filter, level)
    DRP_LINE = 11,       // broker -> tail: one log line with shed counts
    DRP_STATS = 12,      // status -> broker (empty), broker -> status (+ JSON body)
    DRP_COMMAND_MAX = 12
} drp_command_t;

typedef enum {
    DRP_DONE_FORWARD = 0,  // body is the envelope for the next stage
    DRP_DONE_END = 1,      // the envelope finished the pipeline here
    DRP_DONE_FAILED = 2    // the stage could not process it (poison); not forwarded
} drp_done_status_t;

//  One item of a WORK or DONE batch.
typedef struct {
    uint64_t id;                      // broker's work item id
    uint32_t attempt;                 // WORK: delivery attempt
    uint8_t status;                   // DONE: drp_done_status_t
    uint32_t size;                    // bytes of its body in the batch frame (0: none)
} drp_item_t;

//  One decoded header. Only the fields of its command are meaningful.
typedef struct {
    uint8_t command;                  // drp_command_t
    uint32_t count;                   // READY: credit; OPEN: window; GRANT: credits;
                                      // SUBMIT: attempt; WORK, DONE: items in the batch
    drp_item_t items [DRP_BATCH_MAX]; // WORK, DONE: the batch
    uint8_t status;                   // LOG, LINE, SUBSCRIBE: level
    uint64_t shed;                    // LOG, LINE: lines the sender shed so far
    uint64_t broker_shed;             // LINE: lines the broker shed toward this subscriber
    char name[DRP_NAME_MAX + 1];      // stage (READY, OPEN), role (LOG, LINE, SUBSCRIBE), reason (DISCONNECT)
    char instance[DRP_NAME_MAX + 1];  // READY, OPEN, LOG, LINE: host/pid of the peer
    char version[DRP_NAME_MAX + 1];   // READY, OPEN: the peer's software version ("" if
                                      // it did not say: an optional trailing field)
} drp_header_t;

//  Encode header into buf (at least DRP_HEADER_MAX bytes). Returns the length,
//  or -1 if a name is too long or the command is unknown.
int drp_encode (const drp_header_t *header, uint8_t *buf);

//  Decode untrusted bytes. Returns 0, or -1 with *reason set to a static
//  string ("bad signature", "unknown command", "truncated", ...).
int drp_decode (const uint8_t *data, size_t size, drp_header_t *header, const char **reason);

//  Body frames that must follow this header (a STATS request has none).
int drp_body_count (const drp_header_t *header);

//  Bytes the batch frame of a WORK or DONE must have: the sum of item sizes.
size_t drp_batch_size (const drp_header_t *header);

//  Human name of a command, "?" if unknown.
const char *drp_command_name (uint8_t command);

//  Send header and body_count bodies on socket, after an optional routing id
//  (ROUTER side). Bodies are sent by moving them (zero copy) and are left
//  empty. flags may hold ZMQ_DONTWAIT. Returns 0 or -1 (errno).
int drp_send_bodies (void *socket, zmq_msg_t *routing_id, const drp_header_t *header,
                     zmq_msg_t *bodies, int body_count, int flags);

//  The same with one optional body (NULL for none).
int drp_send (void *socket, zmq_msg_t *routing_id, const drp_header_t *header,
              zmq_msg_t *body, int flags);

//  Convenience: send a body given as bytes (copied).
int drp_send_bytes (void *socket, zmq_msg_t *routing_id, const drp_header_t *header,
                    const void *data, size_t size, int flags);

//  Receive one multipart message into frames (max_frames of them, not yet
//  initialised); frames beyond max are read and discarded. Returns how many
//  frames the message had, or -1 if none was waiting (ZMQ_DONTWAIT) or on
//  error. flags apply to every frame (ZMQ_DONTWAIT never waits, even mid-message).
//  The first min (result, max_frames) frames must be closed by the caller.
int drp_recv_frames (void *socket, zmq_msg_t *frames, int max_frames, int flags);

//  Close the frames drp_recv_frames filled.
void drp_close_frames (zmq_msg_t *frames, int count, int max_frames);

#endif
