/*  drp: the Drift Pipeline Protocol spoken between the broker and its peers.

    Every message is one header frame, optionally followed by one body frame
    (an Envelope for WORK, DONE and SUBMIT, a log line for LOG and LINE, JSON for
    STATS). The header is a fixed signature, a command byte and the command's
    fields in network order; proto/PIPELINE.md is the specification. Decoding
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
#define DRP_HEADER_MAX 600        // longest encoded header (two names + fields)

typedef enum {
    DRP_READY = 1,       // worker -> broker: stage, credit, instance
    DRP_WORK = 2,        // broker -> worker: id, attempt + body
    DRP_DONE = 3,        // worker -> broker: id, status (+ body when forwarded)
    DRP_HEARTBEAT = 4,   // both ways, while nothing else is said
    DRP_DISCONNECT = 5,  // both ways: forget me / you are unknown, re-register
    DRP_OPEN = 6,        // producer -> broker: stage fed, window, instance
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

//  One decoded header. Only the fields of its command are meaningful.
typedef struct {
    uint8_t command;                  // drp_command_t
    uint64_t id;                      // WORK, DONE: broker's work item id
    uint32_t count;                   // READY: credit; OPEN: window; GRANT: credits; WORK, SUBMIT: attempt
    uint8_t status;                   // DONE: drp_done_status_t; LOG, LINE, SUBSCRIBE: level
    uint64_t shed;                    // LOG, LINE: lines the sender shed so far
    uint64_t broker_shed;             // LINE: lines the broker shed toward this subscriber
    char name[DRP_NAME_MAX + 1];      // stage (READY, OPEN), role (LOG, LINE, SUBSCRIBE), reason (DISCONNECT)
    char instance[DRP_NAME_MAX + 1];  // READY, OPEN, LOG, LINE: host/pid of the peer
} drp_header_t;

//  Encode header into buf (at least DRP_HEADER_MAX bytes). Returns the length,
//  or -1 if a name is too long or the command is unknown.
int drp_encode (const drp_header_t *header, uint8_t *buf);

//  Decode untrusted bytes. Returns 0, or -1 with *reason set to a static
//  string ("bad signature", "unknown command", "truncated", ...).
int drp_decode (const uint8_t *data, size_t size, drp_header_t *header, const char **reason);

//  True if a body frame must follow this command.
int drp_has_body (uint8_t command);

//  Human name of a command, "?" if unknown.
const char *drp_command_name (uint8_t command);

//  Send header and optional body (NULL for none) on socket, after an optional
//  routing id (ROUTER side). The body is sent by moving it (zero copy); it is
//  left empty on success. flags may hold ZMQ_DONTWAIT. Returns 0 or -1 (errno).
int drp_send (void *socket, zmq_msg_t *routing_id, const drp_header_t *header,
              zmq_msg_t *body, int flags);

//  Convenience: send a body given as bytes (copied).
int drp_send_bytes (void *socket, zmq_msg_t *routing_id, const drp_header_t *header,
                    const void *data, size_t size, int flags);

//  Receive the rest of a multipart message into at most max_frames messages
//  (already initialised by the caller); frames beyond max are read and
//  discarded. Returns the number of frames the message had, or -1.
int drp_recv_frames (void *socket, zmq_msg_t *frames, int max_frames, int flags);

#endif
