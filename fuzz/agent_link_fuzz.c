/*  agent_link_fuzz: libFuzzer target for the agent link's decoder
    (lib/agent_link.c): agent_link_decode, which ingest runs on every frame
    an agent sends and drift-agent on every ACK, NACK and WELCOME ingest
    sends back; agent_link_holds_only, which the HTTPS face runs on a
    command update's body; agent_link_peek_report_id, which ingest runs on
    frames it refuses before decoding, and agent_link_peek_update, the same
    for a command update; and agent_link_check_report, which reads a
    decoded report's zstd frame header; and agent_link_encode_update_nack,
    which names a refused command update. protobuf-c does the unpacking
    underneath (1.4.1 on Debian 12, with memory-safety fixes only in 1.5).
    It is Debian's shared library, not instrumented: the fuzzer is guided
    by our code's coverage, and ASan sees the library's allocations and
    what it hands back, not each of its reads. Linked once instead with
    protobuf-c 1.4.1 compiled from its source with the sanitizers, this
    target found undefined behaviour in protobuf-c's tag parser, which
    agent_link_decode now keeps protobuf-c from meeting (tests/test_agent_link.c).

    Any input is decoded or refused with a reason, without a fault. What
    decodes has exactly one kind and no field this version does not know,
    is a CommandUpdate whenever agent_link_holds_only said the bytes hold
    nothing else (the HTTPS face's check of POST /v1/command-updates),
    and encodes to protobuf's canonical form, which decodes again and
    encodes to the same bytes (decode (encode (x)) == x); in that form the
    peeked report id is the decoded one when it is valid, and nothing
    otherwise. A peek never yields an invalid id; a report check answers a
    known NACK code, with a reason unless it accepts. The asserts check the
    codec's invariants, not the input.
    Built and run by scripts/fuzz.
*/
#include "../lib/agent_link.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ID_SIZE 65                  // a valid report id and its NUL

//  A peek answers a valid id, or -1 with id untouched or "".
static int
s_peek (const uint8_t *data, size_t size, char *id)
{
    snprintf (id, ID_SIZE, "untouched");
    int rc = agent_link_peek_report_id (data, size, id, ID_SIZE);
    if (rc == 0)
        assert (agent_link_valid_report_id (id));
    else
        assert (rc == -1 && (strcmp (id, "untouched") == 0 || id [0] == 0));
    return rc;
}

static void
s_check_report (const Drift__Report *report)
{
    const char *error = NULL;
    Drift__NackCode code =
        agent_link_check_report (report, AGENT_LINK_MAX_REPORT_BYTES / 4, &error);
    assert (code == DRIFT__NACK_CODE__NACK_UNSPECIFIED || code == DRIFT__NACK_CODE__NACK_BAD_MESSAGE
            || code == DRIFT__NACK_CODE__NACK_TOO_LARGE
            || code == DRIFT__NACK_CODE__NACK_UNSUPPORTED_FORMAT);
    if (code != DRIFT__NACK_CODE__NACK_UNSPECIFIED)
        assert (error && *error);
    else {
        assert (agent_link_valid_report_id (report->report_id));
        assert (agent_link_valid_stack (report->stack));
        assert (report->payload.len > 0);
    }
}

//  A NACK naming an update echoes its command id only when it is a UUID,
//  and then its seq; never anything else the sender sent.
static void
s_nack_update (const Drift__Nack *nack)
{
    size_t size;
    uint8_t *bytes = agent_link_encode_update_nack (nack->command_id, nack->seq, nack->code,
                                                    nack->message, 0, &size);
    const char *error = NULL;
    Drift__AgentMessage *echo = agent_link_decode (bytes, size, &error);
    assert (echo && echo->kind_case == DRIFT__AGENT_MESSAGE__KIND_NACK);
    assert (*echo->nack->report_id == 0);
    if (agent_link_valid_uuid (nack->command_id))
        assert (strcmp (echo->nack->command_id, nack->command_id) == 0
                && echo->nack->seq == nack->seq);
    else
        assert (*echo->nack->command_id == 0 && echo->nack->seq == 0);
    agent_link_free (echo);
    free (bytes);
}

//  The message of the kind that is set.
static const ProtobufCMessage *
s_kind (const Drift__AgentMessage *message)
{
    switch (message->kind_case) {
        case DRIFT__AGENT_MESSAGE__KIND_HELLO: return &message->hello->base;
        case DRIFT__AGENT_MESSAGE__KIND_WELCOME: return &message->welcome->base;
        case DRIFT__AGENT_MESSAGE__KIND_REPORT: return &message->report->base;
        case DRIFT__AGENT_MESSAGE__KIND_ACK: return &message->ack->base;
        case DRIFT__AGENT_MESSAGE__KIND_NACK: return &message->nack->base;
        case DRIFT__AGENT_MESSAGE__KIND_PING: return &message->ping->base;
        case DRIFT__AGENT_MESSAGE__KIND_PONG: return &message->pong->base;
        case DRIFT__AGENT_MESSAGE__KIND_COMMAND: return &message->command->base;
        case DRIFT__AGENT_MESSAGE__KIND_COMMAND_UPDATE: return &message->command_update->base;
        case DRIFT__AGENT_MESSAGE__KIND_COMMAND_ACK: return &message->command_ack->base;
        case DRIFT__AGENT_MESSAGE__KIND_COMMAND_POLL: return &message->command_poll->base;
        case DRIFT__AGENT_MESSAGE__KIND_NO_COMMAND: return &message->no_command->base;
        default: return NULL;
    }
}

//  A peek at an update answers a UUID, or -1 with "".
static int
s_peek_update (const uint8_t *data, size_t size, char command_id [37], uint32_t *seq)
{
    int rc = agent_link_peek_update (data, size, command_id, seq);
    if (rc == 0)
        assert (agent_link_valid_uuid (command_id));
    else
        assert (rc == -1 && command_id [0] == 0);
    return rc;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    char id [ID_SIZE];
    s_peek (data, size, id);
    char command_id [37];
    uint32_t seq;
    s_peek_update (data, size, command_id, &seq);

    //  What the HTTPS face lets through to POST /v1/command-updates.
    bool update_only = agent_link_holds_only (data, size, DRIFT__AGENT_MESSAGE__KIND_COMMAND_UPDATE);

    const char *error = NULL;
    Drift__AgentMessage *message = agent_link_decode (data, size, &error);
    if (!message) {
        assert (error && *error);
        return 0;
    }
    //  One kind, and nothing unknown rode along (a tenant, say).
    const ProtobufCMessage *kind = s_kind (message);
    assert (kind);
    assert (!update_only || message->kind_case == DRIFT__AGENT_MESSAGE__KIND_COMMAND_UPDATE);
    assert (message->base.n_unknown_fields == 0 && kind->n_unknown_fields == 0);
    if (message->kind_case == DRIFT__AGENT_MESSAGE__KIND_REPORT)
        s_check_report (message->report);
    if (message->kind_case == DRIFT__AGENT_MESSAGE__KIND_NACK)
        s_nack_update (message->nack);

    //  The canonical form: decodes again, to what encodes the same.
    size_t canonical_size;
    uint8_t *canonical = agent_link_encode (message, &canonical_size);
    Drift__AgentMessage *again = agent_link_decode (canonical, canonical_size, &error);
    assert (again);
    assert (again->kind_case == message->kind_case);
    size_t again_size;
    uint8_t *twice = agent_link_encode (again, &again_size);
    assert (again_size == canonical_size && memcmp (twice, canonical, canonical_size) == 0);

    //  In it, the kind's field is the only one (the face's check of a body).
    assert (agent_link_holds_only (canonical, canonical_size, (unsigned) message->kind_case));

    //  In it, the report id is where a peek looks, and only a report has one.
    int peeked = s_peek (canonical, canonical_size, id);
    if (message->kind_case == DRIFT__AGENT_MESSAGE__KIND_REPORT
    &&  agent_link_valid_report_id (message->report->report_id))
        assert (peeked == 0 && strcmp (id, message->report->report_id) == 0);
    else
        assert (peeked == -1);

    //  And the command id and seq of an update, where a peek looks for them.
    peeked = s_peek_update (canonical, canonical_size, command_id, &seq);
    if (message->kind_case == DRIFT__AGENT_MESSAGE__KIND_COMMAND_UPDATE
    &&  agent_link_valid_uuid (message->command_update->command_id))
        assert (peeked == 0 && strcmp (command_id, message->command_update->command_id) == 0
                && seq == message->command_update->seq);
    else
        assert (peeked == -1);

    free (twice);
    agent_link_free (again);
    free (canonical);
    agent_link_free (message);
    return 0;
}
