/*  agent_link: the messages of the agent link (proto/AGENT-LINK.md), shared
    by drift-agent and ingest.

    Both ends decode strictly: a frame is one AgentMessage with exactly one
    kind set and no field this version does not know (an unknown field is
    refused, not skipped, so nothing unseen can ride along, e.g. a tenant;
    it is found before protobuf-c reads the frame, at no allocation). A
    report's fields are checked here too, so the agent refuses locally what
    ingest would refuse.
*/
#ifndef AGENT_LINK_H_INCLUDED
#define AGENT_LINK_H_INCLUDED

#include "drift.pb-c.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define AGENT_LINK_PROTOCOL 1

//  Ingest's agent port: what ingest binds and what agents, `drift keys
//  issue` and the API's issued configurations connect to by default.
#define AGENT_LINK_PORT "5560"
#define AGENT_LINK_BIND_ENDPOINT "tcp://*:" AGENT_LINK_PORT
#define AGENT_LINK_ENDPOINT "tcp://127.0.0.1:" AGENT_LINK_PORT

//  Largest report (uncompressed) the agent ever builds. Ingest's own limit
//  (--max-report-bytes) defaults to a quarter of it; see cmd/ingest.c.
#define AGENT_LINK_MAX_REPORT_BYTES (64u * 1024 * 1024)
//  What a frame may carry beyond its report's payload (ids, names, framing).
#define AGENT_LINK_OVERHEAD_BYTES (64u * 1024)

//  Decode one frame; NULL with *error (a static string for the NACK's
//  message) if it is not a valid AgentMessage. Free with agent_link_free.
Drift__AgentMessage *agent_link_decode (const uint8_t *data, size_t size, const char **error);
void agent_link_free (Drift__AgentMessage *message);

//  The report id of a frame that carries a Report, read from protobuf's wire
//  format without decoding (or copying) the payload: ingest names the report
//  in a refusal it decides before decoding (the rate limit). 0 with a valid
//  id in id (id_size bytes), or -1 with id untouched or "".
int agent_link_peek_report_id (const uint8_t *data, size_t size, char *id, size_t id_size);

//  Whether the bytes of an AgentMessage hold field number kind only (the
//  oneof's field of one kind, e.g. 9 for a CommandUpdate), read from
//  protobuf's wire format without decoding: a oneof takes the last of its
//  fields on the wire, so one kind checked is every field checked. The
//  HTTPS face sends a route's body on only when it holds that route's kind;
//  whether it decodes is ingest's to say. false for bytes that are not
//  protobuf's wire format, or that hold no field.
bool agent_link_holds_only (const uint8_t *data, size_t size, unsigned kind);

//  The command id and seq of a frame that carries a CommandUpdate, read the
//  same way: ingest names an update it refuses before decoding (the rate
//  limit), so the agent resends it after retry_after_ms rather than after
//  its ack timeout. 0 with a UUID in command_id and *seq (0 when absent or
//  out of range), or -1 with command_id "".
int agent_link_peek_update (const uint8_t *data, size_t size, char command_id [37],
                            uint32_t *seq);

//  The most bytes agent_link_field_header writes.
#define AGENT_LINK_FIELD_HEADER_MAX 16

//  The head of a length-delimited field: its key (field, wire type 2) and
//  the varint length, written into header; the bytes written. Bytes sent
//  as they came (a Report, a CommandUpdate) become a field of an
//  AgentMessage without a decode: these bytes, then theirs.
size_t agent_link_field_header (unsigned field, uint64_t length,
                                uint8_t header [AGENT_LINK_FIELD_HEADER_MAX]);

//  Encode a message; the buffer is the caller's (free).
uint8_t *agent_link_encode (const Drift__AgentMessage *message, size_t *size);

//  Encode the NACK refusing report_id (echoed only when it is a valid id,
//  else "": nothing else a sender sent goes back) with code, a human text
//  and a retry time; the buffer is the caller's (free). Ingest's CURVE and
//  HTTPS faces both answer with it.
uint8_t *agent_link_encode_nack (const char *report_id, Drift__NackCode code, const char *text,
                                 uint32_t retry_after_ms, size_t *size);

//  The NACK refusing update seq of command_id (AGENT-LINK.md section 7):
//  the same, naming the update (the command id echoed only when it is a
//  UUID, else "" and seq 0), so the agent knows which update it was.
uint8_t *agent_link_encode_update_nack (const char *command_id, uint32_t seq,
                                        Drift__NackCode code, const char *text,
                                        uint32_t retry_after_ms, size_t *size);

//  Check a report against the link's rules and max_bytes: 0 if acceptable,
//  else the NACK code for it with *error saying why. Checks the declared
//  size against the zstd frame header without decompressing anything.
Drift__NackCode agent_link_check_report (const Drift__Report *report, uint64_t max_bytes,
                                         const char **error);

//  Whether text is a valid report id (1-64 of [A-Za-z0-9._:-]) or stack name
//  (1-200 bytes of UTF-8 text without control characters).
int agent_link_valid_report_id (const char *text);
int agent_link_valid_stack (const char *text);

//  Whether text is a UUID in canonical lower-case form, as PostgreSQL
//  writes one: a command id (section 7), and any id the dashboard API
//  takes in a path (api_is_uuid).
bool agent_link_valid_uuid (const char *text);

#endif
