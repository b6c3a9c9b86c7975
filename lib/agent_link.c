/*  agent_link: strict codec and checks for agent link messages; see
    agent_link.h. */
#include "agent_link.h"

#include <stdlib.h>
#include <string.h>
#include <zstd.h>

//  Unknown fields anywhere in the message: protobuf-c keeps them aside
//  instead of failing, so they are looked for here.
static int
s_has_unknown (const ProtobufCMessage *message)
{
    if (!message)
        return 0;
    if (message->n_unknown_fields)
        return 1;
    const ProtobufCMessageDescriptor *descriptor = message->descriptor;
    for (unsigned i = 0; i < descriptor->n_fields; i++) {
        const ProtobufCFieldDescriptor *field = &descriptor->fields [i];
        if (field->type != PROTOBUF_C_TYPE_MESSAGE || field->label == PROTOBUF_C_LABEL_REPEATED)
            continue;
        if (field->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
            uint32_t which = *(const uint32_t *) ((const char *) message + field->quantifier_offset);
            if (which != field->id)
                continue;
        }
        const ProtobufCMessage *child =
            *(ProtobufCMessage * const *) ((const char *) message + field->offset);
        if (s_has_unknown (child))
            return 1;
    }
    return 0;
}

Drift__AgentMessage *
agent_link_decode (const uint8_t *data, size_t size, const char **error)
{
    if (size == 0) {
        *error = "empty frame";
        return NULL;
    }
    Drift__AgentMessage *message = drift__agent_message__unpack (NULL, size, data);
    if (!message) {
        *error = "not an AgentMessage (protobuf does not decode)";
        return NULL;
    }
    if (message->kind_case == DRIFT__AGENT_MESSAGE__KIND__NOT_SET) {
        *error = "AgentMessage has no kind set";
        goto refuse;
    }
    if (s_has_unknown (&message->base)) {
        *error = "AgentMessage has fields this server does not know";
        goto refuse;
    }
    return message;
refuse:
    drift__agent_message__free_unpacked (message, NULL);
    return NULL;
}

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

//  The first length-delimited field numbered field in the message bytes
//  [at, end), with its length; NULL if there is none or the bytes are not
//  protobuf's wire format.
static const uint8_t *
s_wire_field (const uint8_t *at, const uint8_t *end, uint64_t field, size_t *length)
{
    while (at < end) {
        uint64_t key, value;
        if (s_varint (&at, end, &key))
            return NULL;
        switch (key & 7) {
            case 0:
                if (s_varint (&at, end, &value))
                    return NULL;
                break;
            case 1:
            case 5: {
                size_t width = (key & 7) == 1 ? 8 : 4;
                if ((size_t) (end - at) < width)
                    return NULL;
                at += width;
                break;
            }
            case 2:
                if (s_varint (&at, end, &value) || value > (uint64_t) (end - at))
                    return NULL;
                if (key >> 3 == field) {
                    *length = (size_t) value;
                    return at;
                }
                at += value;
                break;
            default:
                return NULL;
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
