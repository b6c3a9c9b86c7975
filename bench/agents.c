/*  agents: an agent's side of the agent link for the benchmarks; see
    agents.h. Written against lib/agent_link, as drift-agent speaks it.
*/
#include "agents.h"
#include "../lib/clock.h"

zsock_t *
agents_connect (const char *certificate, const char *server_key, const char *endpoint)
{
    zcert_t *cert = zcert_load (certificate);
    if (!cert)
        return NULL;
    zsock_t *dealer = zsock_new (ZMQ_DEALER);
    zcert_apply (cert, dealer);
    zcert_destroy (&cert);
    zsock_set_curve_serverkey (dealer, server_key);
    zsock_set_sndhwm (dealer, 0);
    zsock_set_rcvhwm (dealer, 0);
    zsock_connect (dealer, "%s", endpoint);
    Drift__Hello hello = DRIFT__HELLO__INIT;
    hello.protocol = AGENT_LINK_PROTOCOL;
    hello.agent_version = (char *) "bench";
    Drift__AgentMessage message = DRIFT__AGENT_MESSAGE__INIT;
    message.kind_case = DRIFT__AGENT_MESSAGE__KIND_HELLO;
    message.hello = &hello;
    size_t size;
    uint8_t *bytes = agent_link_encode (&message, &size);
    zmq_send (zsock_resolve (dealer), bytes, size, 0);
    free (bytes);
    zframe_t *welcome = zframe_recv (dealer);
    zframe_destroy (&welcome);
    return dealer;
}

void
agents_send (zsock_t *dealer, Drift__Report *report)
{
    Drift__AgentMessage message = DRIFT__AGENT_MESSAGE__INIT;
    message.kind_case = DRIFT__AGENT_MESSAGE__KIND_REPORT;
    message.report = report;
    size_t size;
    uint8_t *bytes = agent_link_encode (&message, &size);
    zmq_send (zsock_resolve (dealer), bytes, size, 0);
    free (bytes);
}

void
agents_send_plan (zsock_t *dealer, const char *id, const char *stack, const char *plan,
                  size_t length)
{
    Drift__Report report = DRIFT__REPORT__INIT;
    report.report_id = (char *) id;
    report.stack = (char *) stack;
    report.format = DRIFT__REPORT_FORMAT__REPORT_FORMAT_PLAN_JSON;
    report.payload.data = (uint8_t *) plan;
    report.payload.len = length;
    report.uncompressed_size = length;
    report.produced_us = clock_wall_us ();
    report.engine = (char *) "terraform";
    agents_send (dealer, &report);
}

agents_answer_t
agents_answer (zsock_t *dealer, char *id, size_t id_size)
{
    zframe_t *frame = zframe_recv (dealer);
    if (!frame)
        return AGENTS_GONE;
    const char *error;
    Drift__AgentMessage *answer = agent_link_decode (zframe_data (frame), zframe_size (frame),
                                                     &error);
    agents_answer_t result = AGENTS_REFUSED;
    if (answer && answer->kind_case == DRIFT__AGENT_MESSAGE__KIND_ACK)
        result = AGENTS_ACKED;
    else
    if (answer && answer->kind_case == DRIFT__AGENT_MESSAGE__KIND_NACK
    &&  (answer->nack->code == DRIFT__NACK_CODE__NACK_UNAVAILABLE
      || answer->nack->code == DRIFT__NACK_CODE__NACK_RATE_LIMITED)) {
        result = AGENTS_RESEND;
        snprintf (id, id_size, "%s", answer->nack->report_id);
    }
    agent_link_free (answer);
    zframe_destroy (&frame);
    return result;
}

void
agents_report (Drift__Report *report, size_t size)
{
    drift__report__init (report);
    report->stack = (char *) "payments";
    report->format = DRIFT__REPORT_FORMAT__REPORT_FORMAT_PLAN_JSON;
    report->payload.data = (uint8_t *) malloc (size);
    memset (report->payload.data, '{', size);
    report->payload.len = size;
    report->uncompressed_size = size;
}
