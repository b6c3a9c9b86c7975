/*  kv: a Redis connection that survives Redis restarting (hiredis 0.14).

    Redis only ever holds what can be rebuilt (caches, rate limits, dedup
    marks), so a role must keep working while it is away: kv connects
    lazily, and after a failure hands out no connection until the next
    attempt is due, the wait doubling from 100 ms to 5 s, so callers fall
    back (to PostgreSQL, or to "not cached") at once instead of stalling on
    a dead server. Every network step (the connect, each command) gives up
    after timeout_ms. An outage is logged once when it starts and once when
    it ends, never per call.

    The URL is redis://[[USER]:PASSWORD@]HOST[:PORT][/DB]: the password is
    sent with AUTH (percent-encoded characters decoded), the database
    chosen with SELECT, and every new connection must answer PING before it
    is used (a Redis still loading its data set does not). hiredis 0.14 has
    no TLS: rediss:// is refused.

    A kv_t belongs to one thread. hiredis writes with write(2), which
    raises SIGPIPE on a connection Redis closed; kv_new ignores SIGPIPE if
    nothing else handles it, so a Redis restart cannot kill the process.
*/
#ifndef KV_H_INCLUDED
#define KV_H_INCLUDED

#include <hiredis/hiredis.h>

typedef struct _kv_t kv_t;

//  A Redis connection for url; connects lazily and reconnects with a
//  doubling backoff (100 ms .. 5 s) after a failure, each network step
//  (connect, AUTH, SELECT, PING, a command) giving up after timeout_ms.
//  NULL (logged with the reason) only if url is unusable.
kv_t *kv_new (const char *url, int timeout_ms);
void kv_destroy (kv_t **self_p);

//  The live connection, or NULL while Redis is unreachable (then at most
//  one connect attempt per backoff step).
redisContext *kv_context (kv_t *self);

//  After an I/O error on the context (reply NULL or ctx->err): drop it so
//  the next kv_context reconnects.
void kv_failed (kv_t *self);

//  One command (redisvCommand semantics). NULL on failure (logged once per
//  outage, connection dropped); an error reply from Redis (-ERR, -LOADING)
//  is a reply, not a failure. Caller frees the reply (freeReplyObject).
redisReply *kv_command (kv_t *self, const char *format, ...);

//  The same with the command as argc NUL-terminated strings (values that
//  may hold any text, e.g. a script and its JSON arguments).
redisReply *kv_command_argv (kv_t *self, int argc, const char **argv);

#endif
