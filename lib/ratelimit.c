/*  ratelimit: token buckets in Redis; see ratelimit.h. */
#include "ratelimit.h"
#include "log.h"

#include <czmq.h>
#include <hiredis/hiredis.h>

struct _ratelimit_t {
    kv_t *kv;                // the Redis connection (not owned)
    char *prefix;            // bucket key prefix
    char rate [32];          // tokens per second, as the script's argument
    char burst [16];         // bucket size, as the script's argument
    char ttl_ms [24];        // a full bucket's key expires after this
    char sha [41];           // the script's SHA1 once loaded, "" before
};

//  KEYS[1] bucket; ARGV rate, burst, wanted, ttl_ms. Returns {granted,
//  retry_ms}. Tokens are fractional; the time is Redis's.
static const char *s_script =
    "local rate, burst, wanted = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])\n"
    "local t = redis.call('TIME')\n"
    "local now = t[1] * 1000 + math.floor(t[2] / 1000)\n"
    "local b = redis.call('HMGET', KEYS[1], 'tokens', 'at')\n"
    "local tokens = tonumber(b[1]) or burst\n"
    "local at = tonumber(b[2]) or now\n"
    "if now > at then tokens = math.min(burst, tokens + (now - at) * rate / 1000) end\n"
    "local granted = math.min(wanted, math.floor(tokens))\n"
    "tokens = tokens - granted\n"
    "redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', now)\n"
    "redis.call('PEXPIRE', KEYS[1], ARGV[4])\n"
    "local retry = 0\n"
    "if granted < wanted then retry = math.ceil((1 - (tokens - math.floor(tokens))) * 1000 / rate) end\n"
    "return {granted, retry}\n";

ratelimit_t *
ratelimit_new (kv_t *kv, const char *prefix, double rate, int burst)
{
    if (rate <= 0 || burst < 1)
        return NULL;
    ratelimit_t *self = (ratelimit_t *) zmalloc (sizeof *self);
    self->kv = kv;
    self->prefix = strdup (prefix);
    snprintf (self->rate, sizeof self->rate, "%.6f", rate);
    snprintf (self->burst, sizeof self->burst, "%d", burst);
    snprintf (self->ttl_ms, sizeof self->ttl_ms, "%lld",
              (long long) (burst / rate * 1000) + 1000);
    return self;
}

void
ratelimit_destroy (ratelimit_t **self_p)
{
    if (*self_p) {
        free ((*self_p)->prefix);
        free (*self_p);
        *self_p = NULL;
    }
}

static int
s_load_script (ratelimit_t *self, redisContext *redis)
{
    redisReply *reply = (redisReply *) redisCommand (redis, "SCRIPT LOAD %s", s_script);
    int rc = -1;
    if (reply && reply->type == REDIS_REPLY_STRING && reply->len == 40) {
        memcpy (self->sha, reply->str, 41);
        rc = 0;
    }
    if (reply)
        freeReplyObject (reply);
    else
        kv_failed (self->kv);
    return rc;
}

int
ratelimit_take (ratelimit_t *self, const char *const *keys, const int *wanted, int n,
                int *granted, int *retry_ms)
{
    redisContext *redis = kv_context (self->kv);
    if (!redis)
        return -1;
    //  Redis forgets scripts when it restarts: load again on NOSCRIPT.
    for (int round = 0; round < 2; round++) {
        if (!*self->sha && s_load_script (self, redis))
            return -1;
        for (int i = 0; i < n; i++) {
            char bucket [256], count [16];
            snprintf (bucket, sizeof bucket, "%s%s", self->prefix, keys [i]);
            snprintf (count, sizeof count, "%d", wanted [i]);
            redisAppendCommand (redis, "EVALSHA %s 1 %s %s %s %s %s", self->sha, bucket,
                                self->rate, self->burst, count, self->ttl_ms);
        }
        int noscript = 0, failed = 0;
        for (int i = 0; i < n; i++) {
            redisReply *reply = NULL;
            if (redisGetReply (redis, (void **) &reply) != REDIS_OK || !reply) {
                kv_failed (self->kv);
                return -1;
            }
            if (reply->type == REDIS_REPLY_ARRAY && reply->elements == 2) {
                granted [i] = (int) reply->element [0]->integer;
                retry_ms [i] = (int) reply->element [1]->integer;
            }
            else
            if (reply->type == REDIS_REPLY_ERROR && strncmp (reply->str, "NOSCRIPT", 8) == 0)
                noscript = 1;
            else {
                if (!failed)
                    log_warn ("rate limit script failed", "error",
                              reply->type == REDIS_REPLY_ERROR ? reply->str : "unexpected reply");
                failed = 1;
            }
            freeReplyObject (reply);
        }
        if (!noscript)
            return failed ? -1 : 0;
        *self->sha = 0;
    }
    return -1;
}
