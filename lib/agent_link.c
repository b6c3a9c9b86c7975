/*  agent_link: strict codec and checks for agent link messages; see
    agent_link.h. */
#include "agent_link.h"

#include <stdlib.h>
#include <string.h>
#include <zstd.h>

//  A varint at *at, before end; -1 if cut short or longer than 64 bits.
static int
s_varint (const uint8_t **at, const uint8_t *end, uint64_t *value)
{
    *value = 0;
    for (int shift = 0; shift < 64 && *at < end; shift += 7) {
        uint8_t byte = *(*at)++;
        *value |= (uint64_t) (byte & 0x7f) << shift;
        if (!(byte & 0x80))
            return 0;
    }
    return -1;
}

//  Step over the value at *at (before end) of a field of wire_type; a
//  length-delimited one's bytes are *value, *length. -1 if it is cut short
//  or of a wire type protobuf-c does not read (groups, 6, 7).
static int
s_wire_value (const uint8_t **at, const uint8_t *end, uint64_t wire_type,
              const uint8_t **value, size_t *length)
{
    uint64_t number;
    *value = NULL;
    *length = 0;
    switch (wire_type) {
        case 0:
            return s_varint (at, end, &number);
        case 1:
        case 5: {
            size_t width = wire_type == 1 ? 8 : 4;
            if ((size_t) (end - *at) < width)
                return -1;
            *at += width;
            return 0;
        }
        case 2:
            if (s_varint (at, end, &number) || number > (uint64_t) (end - *at))
                return -1;
            *value = *at;
            *length = (size_t) number;
            *at += number;
            return 0;
        default:
            return -1;
    }
}

//  Whether every key in the message bytes [at, end) names a field of
//  descriptor, in the messages inside it too: 1, or 0 at the first that
//  does not, or -1 if the bytes are not protobuf's wire format. Read before
//  protobuf-c sees a frame, so an unknown field costs no allocation, and
//  protobuf-c's tag parser never meets the key it mishandles: on a key of
//  five bytes with a high last byte (a field number of 2^31 or more, which
//  no message has) protobuf-c 1.4.1 (and 1.5.2) shifts a signed int past
//  its width, undefined behaviour found by fuzz/agent_link_fuzz.c.
static int
s_fields_known (const ProtobufCMessageDescriptor *descriptor, const uint8_t *at,
                const uint8_t *end)
{
    while (at < end) {
        uint64_t key;
        const uint8_t *value;
        size_t length;
        if (s_varint (&at, end, &key))
            return -1;
        const ProtobufCFieldDescriptor *field = key >> 3 <= UINT32_MAX
            ? protobuf_c_message_descriptor_get_field (descriptor, (unsigned) (key >> 3))
            : NULL;
        if (!field)
            return 0;
        if (s_wire_value (&at, end, key & 7, &value, &length))
            return -1;
        //  A message of the wrong wire type is protobuf-c's to refuse.
        if (field->type == PROTOBUF_C_TYPE_MESSAGE && value) {
            int known = s_fields_known (
                (const ProtobufCMessageDescriptor *) field->descriptor, value, value + length);
            if (known <= 0)
                return known;
        }
    }
    return 1;
}

Drift__AgentMessage *
agent_link_decode (const uint8_t *data, size_t size, const char **error)
{
    if (size == 0) {
        *error = "empty frame";
        return NULL;
    }
    int known = s_fields_known (&drift__agent_message__descriptor, data, data + size);
    if (known == 0) {
        *error = "AgentMessage has fields this server does not know";
        return NULL;
    }
    Drift__AgentMessage *message =
        known > 0 ? drift__agent_message__unpack (NULL, size, data) : NULL;
    if (!message) {
        *error = "not an AgentMessage (protobuf does not decode)";
        return NULL;
    }
    if (message->kind_case == DRIFT__AGENT_MESSAGE__KIND__NOT_SET) {
        *error = "AgentMessage has no kind set";
        drift__agent_message__free_unpacked (message, NULL);
        return NULL;
    }
    return message;
}

//  The first length-delimited field numbered field in the message bytes
//  [at, end), with its length; NULL if there is none or the bytes are not
//  protobuf's wire format.
static const uint8_t *
s_wire_field (const uint8_t *at, const uint8_t *end, uint64_t field, size_t *length)
{
    while (at < end) {
        uint64_t key;
        const uint8_t *value;
        size_t value_length;
        if (s_varint (&at, end, &key) || s_wire_value (&at, end, key & 7, &value, &value_length))
            return NULL;
        if ((key & 7) == 2 && key >> 3 == field) {
            *length = value_length;
            return value;
        }
    }
    return NULL;
}

int
agent_link_peek_report_id (const uint8_t *data, size_t size, char *id, size_t id_size)
{
    size_t length;
    const uint8_t *report = s_wire_field (data, data + size, 3, &length);
    const uint8_t *text = report ? s_wire_field (report, report + length, 1, &length) : NULL;
    if (!text || length >= id_size)
        return -1;
    memcpy (id, text, length);
    id [length] = 0;
    if (strlen (id) != length || !agent_link_valid_report_id (id)) {
        id [0] = 0;
        return -1;
    }
    return 0;
}

bool
agent_link_holds_only (const uint8_t *data, size_t size, unsigned kind)
{
    const uint8_t *at = data, *end = data + size;
    if (at == end)
        return false;
    while (at < end) {
        uint64_t key;
        const uint8_t *value;
        size_t length;
        if (s_varint (&at, end, &key) || (key & 7) != 2 || key >> 3 != kind
        ||  s_wire_value (&at, end, key & 7, &value, &length))
            return false;
    }
    return true;
}

//  The first varint field numbered field in the message bytes [at, end);
//  -1 if there is none or the bytes are not protobuf's wire format.
static int
s_wire_varint (const uint8_t *at, const uint8_t *end, uint64_t field, uint64_t *number)
{
    while (at < end) {
        uint64_t key;
        const uint8_t *value;
        size_t length;
        if (s_varint (&at, end, &key))
            return -1;
        if ((key & 7) == 0 && key >> 3 == field)
            return s_varint (&at, end, number);
        if (s_wire_value (&at, end, key & 7, &value, &length))
            return -1;
    }
    return -1;
}

int
agent_link_peek_update (const uint8_t *data, size_t size, char command_id [37], uint32_t *seq)
{
    size_t length, text_length;
    command_id [0] = 0;
    *seq = 0;
    const uint8_t *update = s_wire_field (data, data + size, 9, &length);
    const uint8_t *text = update ? s_wire_field (update, update + length, 1, &text_length) : NULL;
    if (!text || text_length != 36)
        return -1;
    memcpy (command_id, text, 36);
    command_id [36] = 0;
    if (!agent_link_valid_uuid (command_id)) {
        command_id [0] = 0;
        return -1;
    }
    uint64_t number;
    if (s_wire_varint (update, update + length, 2, &number) == 0 && number <= UINT32_MAX)
        *seq = (uint32_t) number;
    return 0;
}

//  A varint of value at *at; the bytes written.
static size_t
s_put_varint (uint8_t *at, uint64_t value)
{
    size_t used = 0;
    for (; value >= 0x80; value >>= 7)
        at [used++] = (uint8_t) (value | 0x80);
    at [used++] = (uint8_t) value;
    return used;
}

size_t
agent_link_field_header (unsigned field, uint64_t length,
                         uint8_t header [AGENT_LINK_FIELD_HEADER_MAX])
{
    size_t used = s_put_varint (header, ((uint64_t) field << 3) | 2);
    return used + s_put_varint (header + used, length);
}

void
agent_link_free (Drift__AgentMessage *message)
{
    if (message)
        drift__agent_message__free_unpacked (message, NULL);
}

uint8_t *
agent_link_encode (const Drift__AgentMessage *message, size_t *size)
{
    *size = drift__agent_message__get_packed_size (message);
    uint8_t *buffer = (uint8_t *) malloc (*size ? *size : 1);
    drift__agent_message__pack (message, buffer);
    return buffer;
}

//  A NACK naming what it refuses: a report by id, or a command update by
//  command id and seq, each echoed only when valid.
static uint8_t *
s_encode_nack (const char *report_id, const char *command_id, uint32_t seq,
               Drift__NackCode code, const char *text, uint32_t retry_after_ms, size_t *size)
{
    Drift__Nack nack = DRIFT__NACK__INIT;
    nack.report_id = (char *) (report_id && agent_link_valid_report_id (report_id) ? report_id : "");
    bool update = command_id && agent_link_valid_uuid (command_id);
    nack.command_id = (char *) (update ? command_id : "");
    nack.seq = update ? seq : 0;
    nack.code = code;
    nack.message = (char *) text;
    nack.retry_after_ms = retry_after_ms;
    Drift__AgentMessage message = DRIFT__AGENT_MESSAGE__INIT;
    message.kind_case = DRIFT__AGENT_MESSAGE__KIND_NACK;
    message.nack = &nack;
    return agent_link_encode (&message, size);
}

uint8_t *
agent_link_encode_nack (const char *report_id, Drift__NackCode code, const char *text,
                        uint32_t retry_after_ms, size_t *size)
{
    return s_encode_nack (report_id, NULL, 0, code, text, retry_after_ms, size);
}

uint8_t *
agent_link_encode_update_nack (const char *command_id, uint32_t seq, Drift__NackCode code,
                               const char *text, uint32_t retry_after_ms, size_t *size)
{
    return s_encode_nack (NULL, command_id, seq, code, text, retry_after_ms, size);
}

int
agent_link_valid_report_id (const char *text)
{
    size_t length = strlen (text);
    if (length < 1 || length > 64)
        return 0;
    for (const char *at = text; *at; at++)
        if (!(  (*at >= 'a' && *at <= 'z') || (*at >= 'A' && *at <= 'Z')
             || (*at >= '0' && *at <= '9') || strchr ("._:-", *at)))
            return 0;
    return 1;
}

bool
agent_link_valid_uuid (const char *text)
{
    if (!text || strlen (text) != 36)
        return false;
    for (int i = 0; i < 36; i++) {
        bool dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash ? text [i] != '-' : !strchr ("0123456789abcdef", text [i]))
            return false;
    }
    return true;
}

int
agent_link_valid_stack (const char *text)
{
    size_t length = strlen (text);
    if (length < 1 || length > 200)
        return 0;
    //  protobuf-c has already checked that strings are UTF-8.
    for (const unsigned char *at = (const unsigned char *) text; *at; at++)
        if (*at < 0x20 || *at == 0x7f)
            return 0;
    return 1;
}

Drift__NackCode
agent_link_check_report (const Drift__Report *report, uint64_t max_bytes, const char **error)
{
    if (!agent_link_valid_report_id (report->report_id)) {
        *error = "report_id must be 1-64 characters of A-Z a-z 0-9 . _ : -";
        return DRIFT__NACK_CODE__NACK_BAD_MESSAGE;
    }
    if (!agent_link_valid_stack (report->stack)) {
        *error = "stack must be 1-200 bytes of text without control characters";
        return DRIFT__NACK_CODE__NACK_BAD_MESSAGE;
    }
    if (report->format != DRIFT__REPORT_FORMAT__REPORT_FORMAT_PLAN_JSON
    &&  report->format != DRIFT__REPORT_FORMAT__REPORT_FORMAT_PLAN_STREAM
    &&  report->format != DRIFT__REPORT_FORMAT__REPORT_FORMAT_CLOUDFORMATION
    &&  report->format != DRIFT__REPORT_FORMAT__REPORT_FORMAT_PULUMI) {
        *error = "unsupported report format (expected PLAN_JSON, PLAN_STREAM, CLOUDFORMATION "
                 "or PULUMI)";
        return DRIFT__NACK_CODE__NACK_UNSUPPORTED_FORMAT;
    }
    if (report->uncompressed_size > max_bytes || report->payload.len > max_bytes) {
        *error = "report larger than the server's max_report_bytes";
        return DRIFT__NACK_CODE__NACK_TOO_LARGE;
    }
    if (report->payload.len == 0) {
        *error = "report has an empty payload";
        return DRIFT__NACK_CODE__NACK_BAD_MESSAGE;
    }
    if (report->compression == DRIFT__COMPRESSION__COMPRESSION_NONE) {
        if (report->payload.len != report->uncompressed_size) {
            *error = "uncompressed_size differs from the payload's size";
            return DRIFT__NACK_CODE__NACK_BAD_MESSAGE;
        }
    }
    else
    if (report->compression == DRIFT__COMPRESSION__COMPRESSION_ZSTD) {
        unsigned long long content =
            ZSTD_getFrameContentSize (report->payload.data, report->payload.len);
        if (content == ZSTD_CONTENTSIZE_ERROR || content == ZSTD_CONTENTSIZE_UNKNOWN) {
            *error = "payload is not a zstd frame with its content size";
            return DRIFT__NACK_CODE__NACK_BAD_MESSAGE;
        }
        if (content != report->uncompressed_size) {
            *error = "uncompressed_size differs from the zstd frame's content size";
            return DRIFT__NACK_CODE__NACK_BAD_MESSAGE;
        }
    }
    else {
        *error = "unsupported compression (expected NONE or ZSTD)";
        return DRIFT__NACK_CODE__NACK_UNSUPPORTED_FORMAT;
    }
    return DRIFT__NACK_CODE__NACK_UNSPECIFIED;
}
