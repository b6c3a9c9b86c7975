/*  breaker: a circuit breaker per notification channel, in Redis.

    A channel that fails again and again (its SMTP server down, its webhook
    answering 500) is not hammered: after `failures` consecutive failed
    sends its breaker opens and no send is tried for `cooldown_ms`; then one
    probe is let through (half-open): success closes the breaker, failure
    opens it for another cooldown. The state is in Redis, shared by every
    notify process, so a breaker opened by one sender holds for all; it
    lives in one hash per channel, changed only by Lua scripts on Redis's
    clock.

        drift:breaker:{channel}   failures, opened_ms, probe_ms
*/
#ifndef BREAKER_H_INCLUDED
#define BREAKER_H_INCLUDED

#include "../../lib/kv.h"

#include <stdint.h>

typedef struct _breaker_t breaker_t;

typedef enum {
    BREAKER_CLOSED,          // sends go through
    BREAKER_OPEN,            // no sends until the cooldown ends
    BREAKER_HALF_OPEN        // cooldown over: one probe at a time
} breaker_state_t;

//  Breakers on kv (not owned) opening after failures consecutive failures
//  for cooldown_ms.
breaker_t *breaker_new (kv_t *kv, int failures, int cooldown_ms);
void breaker_destroy (breaker_t **self_p);

//  May a send to channel go now? 1 yes, 0 no (*retry_ms: when to ask
//  again), -1 Redis failed. In half-open state only one caller at a time
//  gets yes (the probe), for up to cooldown_ms.
int breaker_allow (breaker_t *self, const char *channel, int *retry_ms);

//  The send's outcome: success closes the breaker, failure counts and may
//  open it. The state after, or -1 if Redis failed.
int breaker_record (breaker_t *self, const char *channel, int ok);

//  The channel's state and consecutive failures, for operators; -1 if
//  Redis failed.
int breaker_state (breaker_t *self, const char *channel, breaker_state_t *state,
                   int *failures);

const char *breaker_state_name (breaker_state_t state);

#endif
