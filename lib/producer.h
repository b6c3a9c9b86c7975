/*  producer: feeds envelopes into a stage of the pipeline, within the credit
    the brokers grant.

    Ingest and the journal replayer are producers; so are tests and benches.
    The producer OPENs a stage on every broker it is given, and each broker
    GRANTs credit while that stage has room. producer_submit never queues more
    than it was granted: with no credit left it waits up to a timeout and then
    says so, which is the back-pressure a producer acts on (ingest keeps the
    report in the journal and lets the replayer feed it later).
*/
#ifndef PRODUCER_H_INCLUDED
#define PRODUCER_H_INCLUDED

#include <czmq.h>

typedef struct _producer_t producer_t;

//  Connect to brokers (comma separated) to feed stage, asking for a window of
//  window credits at each. NULL if the endpoint list is unusable. The calling
//  thread's log lines are published to the brokers (drift tail) until
//  producer_destroy, which must run on the same thread.
producer_t *producer_new (const char *brokers, const char *stage, int window,
                          int heartbeat_ms, int liveness);
void producer_destroy (producer_t **self_p);

//  Send one envelope (protobuf bytes). Waits up to timeout_ms for credit
//  (-1: forever, 0: not at all). Returns 0, or -1 if no broker granted credit
//  in time: the caller still owns the report.
int producer_submit (producer_t *self, const void *body, size_t size, uint32_t attempt,
                     int timeout_ms);

//  Read GRANTs and heartbeats for up to timeout_ms; keeps links alive while
//  the caller has nothing to send.
void producer_poll (producer_t *self, int timeout_ms);

//  Credit left over all brokers.
uint64_t producer_credit (producer_t *self);

//  true while some broker link is up (link_up): for readiness.
bool producer_connected (producer_t *self);

#endif
