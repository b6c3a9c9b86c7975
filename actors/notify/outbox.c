/*  outbox: notify's deliveries in Redis; see outbox.h. Each operation is one
    Lua script, so a mark never exists without its delivery and a claim is
    never half done.
*/
#include "outbox.h"
#include "../../lib/clock.h"

#include <assert.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_PREFIX "drift:outbox:"
#define S_DUE S_PREFIX "due"
#define S_SEEN_TTL "2592000"    // 30 days: replays come within the journal's retention

struct _outbox_t {
    kv_t *kv;                   // Redis (not owned)
};

//  KEYS: seen, delivery hash, items, due. ARGV: id, channel, tenant,
//  tenant name, digest, due_at_ms (0: now), ttl_s, items... Returns 1
//  queued, 0 seen before.
static const char *s_enqueue =
    "if not redis.call('SET', KEYS[1], ARGV[1], 'NX', 'EX', ARGV[7]) then return 0 end\n"
    "local t = redis.call('TIME')\n"
    "local now = t[1] * 1000 + math.floor(t[2] / 1000)\n"
    "if redis.call('EXISTS', KEYS[2]) == 0 then\n"
    "  redis.call('HSET', KEYS[2], 'channel', ARGV[2], 'tenant', ARGV[3], 'tenant_name', ARGV[4],\n"
    "             'digest', ARGV[5], 'attempts', 0, 'created_ms', now)\n"
    "  local due = tonumber(ARGV[6])\n"
    "  if due == 0 then due = now end\n"
    "  redis.call('ZADD', KEYS[4], 'NX', due, ARGV[1])\n"
    "end\n"
    "for i = 8, #ARGV do redis.call('RPUSH', KEYS[3], ARGV[i]) end\n"
    "return 1\n";

//  KEYS: due. ARGV: lease_ms, max. Returns the ids claimed.
static const char *s_claim =
    "local t = redis.call('TIME')\n"
    "local now = t[1] * 1000 + math.floor(t[2] / 1000)\n"
    "local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[2]))\n"
    "for _, id in ipairs(ids) do redis.call('ZADD', KEYS[1], 'XX', now + tonumber(ARGV[1]), id) end\n"
    "return ids\n";

//  KEYS: due, delivery hash, items. ARGV: id.
static const char *s_complete =
    "redis.call('ZREM', KEYS[1], ARGV[1])\n"
    "redis.call('DEL', KEYS[2], KEYS[3])\n"
    "return 1\n";

//  KEYS: due, delivery hash. ARGV: id, delay_ms, count (0/1), error.
static const char *s_retry =
    "if redis.call('EXISTS', KEYS[2]) == 0 then return 0 end\n"
    "local t = redis.call('TIME')\n"
    "local now = t[1] * 1000 + math.floor(t[2] / 1000)\n"
    "if ARGV[3] == '1' then\n"
    "  redis.call('HINCRBY', KEYS[2], 'attempts', 1)\n"
    "  redis.call('HSET', KEYS[2], 'last_error', ARGV[4])\n"
    "end\n"
    "redis.call('ZADD', KEYS[1], 'XX', now + tonumber(ARGV[2]), ARGV[1])\n"
    "return 1\n";

outbox_t *
outbox_new (kv_t *kv)
{
    assert (kv);
    outbox_t *self = (outbox_t *) calloc (1, sizeof *self);
    self->kv = kv;
    return self;
}

void
outbox_destroy (outbox_t **self_p)
{
    if (*self_p) {
        free (*self_p);
        *self_p = NULL;
    }
}

//  EVAL script with keys and args; the reply (caller frees) or NULL when
//  Redis failed or answered an error.
static redisReply *
s_eval (outbox_t *self, const char *script, int key_count, const char **keys,
        int arg_count, const char **args)
{
    int argc = 3 + key_count + arg_count;
    const char **argv = (const char **) malloc ((size_t) argc * sizeof *argv);
    char count [16];
    snprintf (count, sizeof count, "%d", key_count);
    argv [0] = "EVAL";
    argv [1] = script;
    argv [2] = count;
    memcpy (argv + 3, keys, (size_t) key_count * sizeof *argv);
    memcpy (argv + 3 + key_count, args, (size_t) arg_count * sizeof *argv);
    redisReply *reply = kv_command_argv (self->kv, argc, argv);
    free (argv);
    if (reply && reply->type == REDIS_REPLY_ERROR) {
        freeReplyObject (reply);
        reply = NULL;
    }
    return reply;
}

static void
s_key (char *key, size_t size, const char *kind, const char *id)
{
    snprintf (key, size, S_PREFIX "%s:%s", kind, id);
}

int
outbox_enqueue (outbox_t *self, const char *tenant, const char *tenant_name,
                const char *report_id, const char *channel, int digest_seconds,
                const char *const *items, size_t item_count)
{
    char id [128];
    if (digest_seconds > 0) {
        long long window = clock_wall_us () / 1000 / ((long long) digest_seconds * 1000);
        snprintf (id, sizeof id, "d-%s-%lld", channel, window);
    }
    else {
        //  The same (tenant, report, channel) always gives the same id.
        uint8_t hash [12];
        crypto_generichash_state state;
        crypto_generichash_init (&state, NULL, 0, sizeof hash);
        const char *parts [] = { tenant, report_id, channel };
        for (size_t i = 0; i < 3; i++)
            crypto_generichash_update (&state, (const uint8_t *) parts [i],
                                       strlen (parts [i]) + 1);
        crypto_generichash_final (&state, hash, sizeof hash);
        char hex [2 * sizeof hash + 1];
        sodium_bin2hex (hex, sizeof hex, hash, sizeof hash);
        snprintf (id, sizeof id, "r-%s", hex);
    }
    char seen [512], delivery [192], list [192], due_at [32], digest [4];
    snprintf (seen, sizeof seen, S_PREFIX "seen:%s:%s:%s", tenant, report_id, channel);
    s_key (delivery, sizeof delivery, "d", id);
    s_key (list, sizeof list, "i", id);
    snprintf (digest, sizeof digest, "%d", digest_seconds > 0);
    long long due = 0;
    if (digest_seconds > 0) {
        long long window_ms = (long long) digest_seconds * 1000;
        due = (clock_wall_us () / 1000 / window_ms + 1) * window_ms;
    }
    snprintf (due_at, sizeof due_at, "%lld", due);
    const char *keys [] = { seen, delivery, list, S_DUE };
    const char **args = (const char **) malloc ((7 + item_count) * sizeof *args);
    args [0] = id;
    args [1] = channel;
    args [2] = tenant;
    args [3] = tenant_name;
    args [4] = digest;
    args [5] = due_at;
    args [6] = S_SEEN_TTL;
    for (size_t i = 0; i < item_count; i++)
        args [7 + i] = items [i];
    redisReply *reply = s_eval (self, s_enqueue, 4, keys, 7 + (int) item_count, args);
    free (args);
    if (!reply)
        return -1;
    int rc = reply->type == REDIS_REPLY_INTEGER ? (int) reply->integer : -1;
    freeReplyObject (reply);
    return rc;
}

//  Read one claimed delivery's hash and items. 0, 1 if it is gone (another
//  sender completed it since), -1 if Redis failed.
static int
s_load (outbox_t *self, const char *id, outbox_delivery_t *delivery)
{
    memset (delivery, 0, sizeof *delivery);
    snprintf (delivery->id, sizeof delivery->id, "%s", id);
    char key [192];
    s_key (key, sizeof key, "d", id);
    redisReply *reply = kv_command (self->kv, "HGETALL %s", key);
    if (!reply)
        return -1;
    int rc = reply->type == REDIS_REPLY_ARRAY && reply->elements > 0 ? 0 : 1;
    for (size_t i = 0; rc == 0 && i + 1 < reply->elements; i += 2) {
        const char *name = reply->element [i]->str;
        const char *value = reply->element [i + 1]->str;
        if (!name || !value)
            continue;
        if (strcmp (name, "channel") == 0)
            snprintf (delivery->channel, sizeof delivery->channel, "%s", value);
        else
        if (strcmp (name, "tenant") == 0)
            snprintf (delivery->tenant, sizeof delivery->tenant, "%s", value);
        else
        if (strcmp (name, "tenant_name") == 0)
            snprintf (delivery->tenant_name, sizeof delivery->tenant_name, "%s", value);
        else
        if (strcmp (name, "digest") == 0)
            delivery->digest = atoi (value);
        else
        if (strcmp (name, "attempts") == 0)
            delivery->attempts = atoi (value);
        else
        if (strcmp (name, "created_ms") == 0)
            delivery->created_ms = atoll (value);
    }
    freeReplyObject (reply);
    if (rc)
        return rc;
    s_key (key, sizeof key, "i", id);
    reply = kv_command (self->kv, "LRANGE %s 0 -1", key);
    if (!reply)
        return -1;
    if (reply->type == REDIS_REPLY_ARRAY && reply->elements > 0) {
        delivery->items = (char **) calloc (reply->elements, sizeof *delivery->items);
        for (size_t i = 0; i < reply->elements; i++)
            if (reply->element [i]->str)
                delivery->items [delivery->item_count++] = strdup (reply->element [i]->str);
    }
    freeReplyObject (reply);
    return 0;
}

int
outbox_claim (outbox_t *self, int lease_ms, outbox_delivery_t *deliveries, int max)
{
    char lease [16], count [16];
    snprintf (lease, sizeof lease, "%d", lease_ms);
    snprintf (count, sizeof count, "%d", max);
    const char *keys [] = { S_DUE };
    const char *args [] = { lease, count };
    redisReply *reply = s_eval (self, s_claim, 1, keys, 2, args);
    if (!reply)
        return -1;
    int claimed = 0;
    for (size_t i = 0; reply->type == REDIS_REPLY_ARRAY && i < reply->elements; i++) {
        const char *id = reply->element [i]->str;
        if (!id)
            continue;
        int loaded = s_load (self, id, &deliveries [claimed]);
        if (loaded == 0)
            claimed++;
        else
        if (loaded == 1)
            outbox_complete (self, id);     // a due entry whose delivery is gone
        else {
            claimed = claimed ? claimed : -1;
            break;
        }
    }
    freeReplyObject (reply);
    return claimed;
}

void
outbox_delivery_free (outbox_delivery_t *delivery)
{
    for (size_t i = 0; i < delivery->item_count; i++)
        free (delivery->items [i]);
    free (delivery->items);
    delivery->items = NULL;
    delivery->item_count = 0;
}

int
outbox_complete (outbox_t *self, const char *id)
{
    char delivery [192], list [192];
    s_key (delivery, sizeof delivery, "d", id);
    s_key (list, sizeof list, "i", id);
    const char *keys [] = { S_DUE, delivery, list };
    const char *args [] = { id };
    redisReply *reply = s_eval (self, s_complete, 3, keys, 1, args);
    if (!reply)
        return -1;
    freeReplyObject (reply);
    return 0;
}

int
outbox_retry (outbox_t *self, const char *id, int delay_ms, int count_attempt,
              const char *error)
{
    char delivery [192], delay [16];
    s_key (delivery, sizeof delivery, "d", id);
    snprintf (delay, sizeof delay, "%d", delay_ms);
    const char *keys [] = { S_DUE, delivery };
    const char *args [] = { id, delay, count_attempt ? "1" : "0", error ? error : "" };
    redisReply *reply = s_eval (self, s_retry, 2, keys, 4, args);
    if (!reply)
        return -1;
    freeReplyObject (reply);
    return 0;
}

long
outbox_depth (outbox_t *self)
{
    redisReply *reply = kv_command (self->kv, "ZCARD %s", S_DUE);
    if (!reply)
        return -1;
    long depth = reply->type == REDIS_REPLY_INTEGER ? (long) reply->integer : -1;
    freeReplyObject (reply);
    return depth;
}
