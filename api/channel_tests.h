/*  channel_tests: channel test sends of `drift api`, off the request
    threads.

    A test send waits on a tenant's server (a webhook receiver, an SMTP
    relay) for up to the send timeout. Run on the API's few request
    threads, a handful of tests against a slow server held every thread
    and stalled every tenant's requests. So POST .../test only queues the
    send here and answers 202 with a test id; a small pool of worker
    threads sends, and GET .../tests/{id} reads the outcome.

    Limits, in this process: each tenant has at most per_tenant tests
    queued or running (beyond it, 429), and the queue holds at most
    capacity tests with their outcomes (beyond it, 503). In-process rather
    than in Redis because what they protect is this process's workers: a
    second API process has workers of its own. Outcomes are kept for
    CHANNEL_TESTS_KEEP_MS, or until room is needed for a newer test, and
    only in the process that ran them (a poll that reaches another
    process answers 404).
*/
#ifndef CHANNEL_TESTS_H_INCLUDED
#define CHANNEL_TESTS_H_INCLUDED

#include "../actors/notify/channel.h"

#include <jansson.h>

#define CHANNEL_TESTS_KEEP_MS (15 * 60 * 1000)  // an outcome is kept this long

typedef struct _channel_tests_t channel_tests_t;

//  workers threads sending; at most per_tenant tests of one tenant queued
//  or running, at most capacity tests kept (queued, running or done).
channel_tests_t *channel_tests_new (int workers, int per_tenant, int capacity);
//  Stops the workers once their current sends end; drops what is queued.
void channel_tests_destroy (channel_tests_t **self_p);

//  Queue a test send through channel (taken: destroyed after the send),
//  for the tenant (id, and name as the notice shows it) and its channel.
//  0 with the test's id in id [37]; 1 when the tenant has per_tenant
//  tests in progress (channel destroyed); 2 when the queue is full
//  (channel destroyed).
int channel_tests_start (channel_tests_t *self, const char *tenant_id, const char *tenant_name,
                         const char *channel_id, channel_t *channel, char *id);

//  The test's state as the API answers it: {"id", "channel_id", "state":
//  "pending" | "sent" | "failed", and once done "delivery" or "error",
//  "retryable"} (caller owns it); NULL if the tenant has no such test of
//  that channel (never another tenant's).
json_t *channel_tests_get (channel_tests_t *self, const char *tenant_id, const char *channel_id,
                           const char *test_id);

#endif
