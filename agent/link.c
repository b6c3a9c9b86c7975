/*  link: what both transports share; see link.h. */
#include "link.h"
#include "../lib/agent_command.h"
#include "../lib/agent_link.h"
#include "../lib/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int
link_answer_from_message (const Drift__AgentMessage *message, link_answer_t *answer)
{
    memset (answer, 0, sizeof *answer);
    switch (message->kind_case) {
        case DRIFT__AGENT_MESSAGE__KIND_WELCOME:
            answer->kind = LINK_WELCOME;
            snprintf (answer->tenant, sizeof answer->tenant, "%s", message->welcome->tenant);
            snprintf (answer->agent, sizeof answer->agent, "%s", message->welcome->agent);
            answer->max_report_bytes = message->welcome->max_report_bytes;
            return 1;
        case DRIFT__AGENT_MESSAGE__KIND_ACK:
            if (!agent_link_valid_report_id (message->ack->report_id))
                return 0;
            answer->kind = LINK_ACK;
            snprintf (answer->report_id, sizeof answer->report_id, "%s", message->ack->report_id);
            answer->duplicate = message->ack->duplicate;
            return 1;
        case DRIFT__AGENT_MESSAGE__KIND_NACK:
            answer->kind = LINK_NACK;
            if (agent_link_valid_report_id (message->nack->report_id))
                snprintf (answer->report_id, sizeof answer->report_id, "%s",
                          message->nack->report_id);
            //  A refused command update is named by its command and seq.
            if (agent_link_valid_uuid (message->nack->command_id)) {
                snprintf (answer->command_id, sizeof answer->command_id, "%s",
                          message->nack->command_id);
                answer->seq = message->nack->seq;
            }
            answer->code = message->nack->code;
            answer->retry_after_ms = message->nack->retry_after_ms;
            snprintf (answer->message, sizeof answer->message, "%s", message->nack->message);
            return 1;
        case DRIFT__AGENT_MESSAGE__KIND_COMMAND: {
            const char *error;
            if (agent_command_check (message->command, &error)) {
                log_warn ("command from ingest ignored", "reason", error);
                return 0;
            }
            answer->kind = LINK_COMMAND;
            answer->command_size = drift__command__get_packed_size (message->command);
            answer->command = (uint8_t *) malloc (answer->command_size + 1);
            drift__command__pack (message->command, answer->command);
            return 1;
        }
        case DRIFT__AGENT_MESSAGE__KIND_COMMAND_ACK:
            if (!agent_link_valid_uuid (message->command_ack->command_id))
                return 0;
            answer->kind = LINK_COMMAND_ACK;
            snprintf (answer->command_id, sizeof answer->command_id, "%s",
                      message->command_ack->command_id);
            answer->seq = message->command_ack->seq;
            return 1;
        default:
            return 0;
    }
}
