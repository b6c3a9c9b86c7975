/*  breaker: circuit breakers per channel in Redis; see breaker.h. */
#include "breaker.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct _breaker_t {
    kv_t *kv;                // Redis (not owned)
    char failures [16];      // consecutive failures that open it
    char cooldown_ms [16];   // how long it stays open
};

//  KEYS: breaker. ARGV: threshold, cooldown_ms. Returns {allowed, retry_ms}.
static const char *s_allow =
    "local t = redis.call('TIME')\n"
    "local now = t[1] * 1000 + math.floor(t[2] / 1000)\n"
    "local b = redis.call('HMGET', KEYS[1], 'failures', 'opened_ms', 'probe_ms')\n"
    "local failures = tonumber(b[1]) or 0\n"
    "local opened = tonumber(b[2])\n"
    "local cooldown = tonumber(ARGV[2])\n"
    "if failures < tonumber(ARGV[1]) or not opened then return {1, 0} end\n"
    "if now < opened + cooldown then return {0, opened + cooldown - now} end\n"
    "local probe = tonumber(b[3])\n"
    "if probe and now < probe + cooldown then return {0, probe + cooldown - now} end\n"
    "redis.call('HSET', KEYS[1], 'probe_ms', now)\n"
    "return {1, 0}\n";

//  KEYS: breaker. ARGV: ok (1/0), threshold. Returns the state after:
//  0 closed, 1 open.
static const char *s_record =
    "if ARGV[1] == '1' then redis.call('DEL', KEYS[1]) return 0 end\n"
    "local t = redis.call('TIME')\n"
    "local now = t[1] * 1000 + math.floor(t[2] / 1000)\n"
    "local failures = redis.call('HINCRBY', KEYS[1], 'failures', 1)\n"
    "if failures >= tonumber(ARGV[2]) then\n"
    "  redis.call('HSET', KEYS[1], 'opened_ms', now)\n"
    "  redis.call('HDEL', KEYS[1], 'probe_ms')\n"
    "  return 1\n"
    "end\n"
    "return 0\n";

//  KEYS: breaker. ARGV: threshold, cooldown_ms. Returns {state, failures}:
//  state 0 closed, 1 open, 2 half open.
static const char *s_state =
    "local t = redis.call('TIME')\n"
    "local now = t[1] * 1000 + math.floor(t[2] / 1000)\n"
    "local b = redis.call('HMGET', KEYS[1], 'failures', 'opened_ms')\n"
    "local failures = tonumber(b[1]) or 0\n"
    "local opened = tonumber(b[2])\n"
    "if failures < tonumber(ARGV[1]) or not opened then return {0, failures} end\n"
    "if now < opened + tonumber(ARGV[2]) then return {1, failures} end\n"
    "return {2, failures}\n";

breaker_t *
breaker_new (kv_t *kv, int failures, int cooldown_ms)
{
    assert (kv);
    breaker_t *self = (breaker_t *) calloc (1, sizeof *self);
    self->kv = kv;
    snprintf (self->failures, sizeof self->failures, "%d", failures < 1 ? 1 : failures);
    snprintf (self->cooldown_ms, sizeof self->cooldown_ms, "%d", cooldown_ms < 0 ? 0 : cooldown_ms);
    return self;
}

void
breaker_destroy (breaker_t **self_p)
{
    if (*self_p) {
        free (*self_p);
        *self_p = NULL;
    }
}

//  EVAL script on the channel's key with two arguments.
static redisReply *
s_eval (breaker_t *self, const char *script, const char *channel, const char *first,
        const char *second)
{
    char key [160];
    snprintf (key, sizeof key, "drift:breaker:%s", channel);
    const char *argv [] = { "EVAL", script, "1", key, first, second };
    redisReply *reply = kv_command_argv (self->kv, 6, argv);
    if (reply && reply->type == REDIS_REPLY_ERROR) {
        freeReplyObject (reply);
        reply = NULL;
    }
    return reply;
}

int
breaker_allow (breaker_t *self, const char *channel, int *retry_ms)
{
    redisReply *reply = s_eval (self, s_allow, channel, self->failures, self->cooldown_ms);
    if (!reply)
        return -1;
    int rc = -1;
    if (reply->type == REDIS_REPLY_ARRAY && reply->elements == 2) {
        rc = (int) reply->element [0]->integer;
        *retry_ms = (int) reply->element [1]->integer;
    }
    freeReplyObject (reply);
    return rc;
}

int
breaker_record (breaker_t *self, const char *channel, int ok)
{
    redisReply *reply = s_eval (self, s_record, channel, ok ? "1" : "0", self->failures);
    if (!reply)
        return -1;
    int rc = reply->type == REDIS_REPLY_INTEGER ? (int) reply->integer : -1;
    freeReplyObject (reply);
    return rc;
}

int
breaker_state (breaker_t *self, const char *channel, breaker_state_t *state, int *failures)
{
    redisReply *reply = s_eval (self, s_state, channel, self->failures, self->cooldown_ms);
    if (!reply)
        return -1;
    int rc = -1;
    if (reply->type == REDIS_REPLY_ARRAY && reply->elements == 2) {
        long code = (long) reply->element [0]->integer;
        *state = code == 1 ? BREAKER_OPEN : code == 2 ? BREAKER_HALF_OPEN : BREAKER_CLOSED;
        *failures = (int) reply->element [1]->integer;
        rc = 0;
    }
    freeReplyObject (reply);
    return rc;
}

const char *
breaker_state_name (breaker_state_t state)
{
    return state == BREAKER_OPEN ? "open" : state == BREAKER_HALF_OPEN ? "half-open" : "closed";
}
