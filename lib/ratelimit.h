/*  ratelimit: per-agent token buckets in Redis, so one flooding agent cannot
    starve the others and several ingest processes share one budget.

    Each bucket holds up to burst tokens and refills at rate per second; the
    refill is computed inside Redis (a Lua script on Redis's own clock), so
    ingests on hosts with skewed clocks agree. A caller asks for many buckets
    at once in one pipelined round trip: ingest takes, per drained batch of
    messages, as many tokens per agent as that agent sent messages.
*/
#ifndef RATELIMIT_H_INCLUDED
#define RATELIMIT_H_INCLUDED

#include "kv.h"

typedef struct _ratelimit_t ratelimit_t;

//  Buckets named prefix + key, of burst tokens refilled at rate per second.
ratelimit_t *ratelimit_new (kv_t *kv, const char *prefix, double rate, int burst);
void ratelimit_destroy (ratelimit_t **self_p);

//  Take wanted [i] tokens from bucket keys [i], for n buckets: granted [i]
//  is how many it had (0..wanted [i]) and retry_ms [i], when short, how long
//  until the next token. -1 when Redis did not answer: nothing is known.
int ratelimit_take (ratelimit_t *self, const char *const *keys, const int *wanted, int n,
                    int *granted, int *retry_ms);

#endif
