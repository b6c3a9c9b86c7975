/*  agents: an agent's side of the agent link, for the benchmarks that play
    agents on threads (bench/ingest, bench/e2e): connect with the agent's
    certificate and say HELLO, send a report, read ingest's answer.
*/
#ifndef AGENTS_H_INCLUDED
#define AGENTS_H_INCLUDED

#include "../lib/agent_link.h"

#include <czmq.h>

//  A DEALER to ingest at endpoint as the agent of certificate (a zcert
//  file), its HELLO answered by WELCOME; unlimited queues, as an agent's
//  window bounds what is in flight. NULL if the certificate is unreadable.
zsock_t *agents_connect (const char *certificate, const char *server_key, const char *endpoint);

//  A report of size payload bytes ('{' each, PLAN_JSON, stack "payments",
//  no id yet) into report; the caller frees report->payload.data.
void agents_report (Drift__Report *report, size_t size);

//  Send report on dealer.
void agents_send (zsock_t *dealer, Drift__Report *report);

//  Send a Terraform plan (show -json, length bytes) as report id of stack,
//  produced now.
void agents_send_plan (zsock_t *dealer, const char *id, const char *stack, const char *plan,
                       size_t length);

//  What ingest answered.
typedef enum {
    AGENTS_ACKED,                    // the report is journaled
    AGENTS_RESEND,                   // busy or over the rate: send it again
    AGENTS_REFUSED,                  // refused for good
    AGENTS_GONE                      // nothing to read (interrupted)
} agents_answer_t;

//  Read one answer; the report id it names into id (id_size bytes).
agents_answer_t agents_answer (zsock_t *dealer, char *id, size_t id_size);

#endif
