/*  kv: Redis connections with lazy connect and backoff; see kv.h.

    The state is one optional hiredis context and the time before which no
    new one is tried. Every path that loses the context goes through
    kv_failed or a failed connect, so logging an outage once and its end
    once needs only the `down` flag.
*/
#include "kv.h"
#include "clock.h"
#include "log.h"
#include "metrics.h"

#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <signal.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KV_BACKOFF_MIN_MS 100
#define KV_BACKOFF_MAX_MS 5000
#define KV_DEFAULT_PORT 6379

struct _kv_t {
    char *host;               // server host name or address
    int port;                 // server port
    char *user;               // ACL user sent with AUTH, NULL for the default user
    char *password;           // AUTH password, NULL if none (wiped on destroy)
    int db;                   // database chosen with SELECT, -1 to keep the server's default
    char where [300];         // "host:port" for log lines (never the password)
    struct timeval timeout;   // limit of one connect attempt and of one command
    redisContext *context;    // the live connection, NULL while there is none
    int64_t retry_at;         // monotonic ms before which no connect is tried
    int backoff_ms;           // wait after the next failed connect
    bool down;                // an outage was logged and has not ended yet
};

//  --------------------------------------------------------------------------
//  The URL

//  text [0 .. length) with %XX decoded, NUL-terminated; NULL if a % is not
//  followed by two hex digits.
static char *
s_decode (const char *text, size_t length)
{
    char *decoded = (char *) malloc (length + 1);
    size_t out = 0;
    for (size_t i = 0; i < length; i++) {
        if (text [i] != '%') {
            decoded [out++] = text [i];
            continue;
        }
        if (i + 2 >= length || !isxdigit ((unsigned char) text [i + 1])
        ||  !isxdigit ((unsigned char) text [i + 2])) {
            sodium_memzero (decoded, length + 1);
            free (decoded);
            return NULL;
        }
        char hex [3] = { text [i + 1], text [i + 2], 0 };
        decoded [out++] = (char) strtol (hex, NULL, 16);
        i += 2;
    }
    decoded [out] = 0;
    return decoded;
}

//  Fill host, port, user, password and db from url; the reason in *reason
//  when it is unusable.
static int
s_parse (kv_t *self, const char *url, const char **reason)
{
    if (strncmp (url, "redis://", 8) != 0) {
        *reason = strncmp (url, "rediss://", 9) == 0
                ? "TLS (rediss://) is not available with hiredis 0.14"
                : "the URL must start with redis://";
        return -1;
    }
    const char *authority = url + 8;
    size_t authority_length = strcspn (authority, "/?#");
    const char *path = authority + authority_length;
    if (*path == '?' || *path == '#') {
        *reason = "query and fragment are not supported";
        return -1;
    }
    //  The last @ ends the user part: an unencoded @ in a password still works.
    const char *host = authority;
    for (const char *c = authority; c < authority + authority_length; c++)
        if (*c == '@')
            host = c + 1;
    if (host > authority) {
        const char *userinfo_end = host - 1;
        const char *colon = memchr (authority, ':', (size_t) (userinfo_end - authority));
        if (!colon) {
            *reason = "the password needs a colon before it: redis://[USER]:PASSWORD@HOST";
            return -1;
        }
        if (colon > authority)
            self->user = s_decode (authority, (size_t) (colon - authority));
        self->password = s_decode (colon + 1, (size_t) (userinfo_end - colon - 1));
        if ((colon > authority && !self->user) || !self->password) {
            *reason = "a % in the user or password is not followed by two hex digits";
            return -1;
        }
        if (!*self->password) {
            //  An empty password is none: AUTH with "" could only be refused.
            free (self->password);
            self->password = NULL;
        }
    }
    const char *host_end = authority + authority_length;
    const char *port = NULL;
    if (*host == '[') {
        const char *bracket = memchr (host, ']', (size_t) (host_end - host));
        if (!bracket || (bracket + 1 < host_end && bracket [1] != ':')) {
            *reason = "an IPv6 address must be written [ADDRESS] or [ADDRESS]:PORT";
            return -1;
        }
        self->host = strndup (host + 1, (size_t) (bracket - host - 1));
        port = bracket + 1 < host_end ? bracket + 2 : NULL;
    }
    else {
        const char *colon = memchr (host, ':', (size_t) (host_end - host));
        self->host = strndup (host, (size_t) ((colon ? colon : host_end) - host));
        port = colon ? colon + 1 : NULL;
    }
    if (!*self->host) {
        free (self->host);
        self->host = strdup ("127.0.0.1");
    }
    self->port = KV_DEFAULT_PORT;
    if (port) {
        char *end;
        errno = 0;
        long number = strtol (port, &end, 10);
        if (errno || end == port || end != host_end || number < 1 || number > 65535) {
            *reason = "the port must be a number from 1 to 65535";
            return -1;
        }
        self->port = (int) number;
    }
    self->db = -1;
    if (*path == '/' && path [1]) {
        char *end;
        errno = 0;
        long number = strtol (path + 1, &end, 10);
        if (!isdigit ((unsigned char) path [1]) || errno || *end || number > 1000000) {
            *reason = "the path must be a database number: redis://HOST:PORT/DB";
            return -1;
        }
        self->db = (int) number;
    }
    snprintf (self->where, sizeof self->where, "%s:%d", self->host, self->port);
    return 0;
}

//  --------------------------------------------------------------------------
//  Connecting

//  -1 with the reason in error if the command's reply is missing or an error.
static int
s_expect_ok (redisContext *context, redisReply *reply, const char *what, char *error,
             size_t size)
{
    int rc = 0;
    if (!reply) {
        snprintf (error, size, "%s: %s", what, context->errstr [0] ? context->errstr : "no reply");
        rc = -1;
    }
    else
    if (reply->type == REDIS_REPLY_ERROR) {
        snprintf (error, size, "%s refused: %s", what, reply->str);
        rc = -1;
    }
    if (reply)
        freeReplyObject (reply);
    return rc;
}

//  AUTH, SELECT and PING on a new connection: it is handed out only when
//  the server is really answering commands for us.
static int
s_handshake (kv_t *self, redisContext *context, char *error, size_t size)
{
    if (self->password) {
        redisReply *reply = self->user
            ? (redisReply *) redisCommand (context, "AUTH %s %s", self->user, self->password)
            : (redisReply *) redisCommand (context, "AUTH %s", self->password);
        if (s_expect_ok (context, reply, "AUTH", error, size))
            return -1;
    }
    if (self->db >= 0
    &&  s_expect_ok (context, (redisReply *) redisCommand (context, "SELECT %d", self->db),
                     "SELECT", error, size))
        return -1;
    return s_expect_ok (context, (redisReply *) redisCommand (context, "PING"), "PING",
                        error, size);
}

//  Log the start of an outage (once) and say what happens meanwhile.
static void
s_outage (kv_t *self, const char *error)
{
    if (!self->down)
        log_warn ("redis unreachable; callers fall back until it answers again",
                  "redis", self->where, "error", error,
                  "retry_in_ms", LOG_NUM (self->retry_at - clock_mono_ms ()));
    self->down = true;
}

static redisContext *
s_connect (kv_t *self)
{
    char error [256] = "";
    redisContext *context = redisConnectWithTimeout (self->host, self->port, self->timeout);
    if (!context)
        snprintf (error, sizeof error, "cannot allocate a connection");
    else
    if (context->err)
        snprintf (error, sizeof error, "connect: %s", context->errstr);
    else
    if (redisSetTimeout (context, self->timeout) != REDIS_OK)
        snprintf (error, sizeof error, "setting the timeout: %s", context->errstr);
    else {
        redisEnableKeepAlive (context);
        s_handshake (self, context, error, sizeof error);
    }
    if (*error) {
        if (context)
            redisFree (context);
        self->retry_at = clock_mono_ms () + self->backoff_ms;
        self->backoff_ms = self->backoff_ms * 2 > KV_BACKOFF_MAX_MS
                         ? KV_BACKOFF_MAX_MS : self->backoff_ms * 2;
        s_outage (self, error);
        return NULL;
    }
    if (self->down)
        log_info ("redis reachable again", "redis", self->where);
    self->down = false;
    self->backoff_ms = KV_BACKOFF_MIN_MS;
    return context;
}

//  --------------------------------------------------------------------------
//  The class

kv_t *
kv_new (const char *url, int timeout_ms)
{
    assert (url);
    assert (timeout_ms > 0);
    kv_t *self = (kv_t *) calloc (1, sizeof *self);
    assert (self);
    const char *reason = NULL;
    if (s_parse (self, url, &reason)) {
        log_error ("unusable Redis URL; expected redis://[[USER]:PASSWORD@]HOST[:PORT][/DB]",
                   "reason", reason);
        kv_destroy (&self);
        return NULL;
    }
    self->timeout.tv_sec = timeout_ms / 1000;
    self->timeout.tv_usec = (timeout_ms % 1000) * 1000;
    self->backoff_ms = KV_BACKOFF_MIN_MS;

    //  A write to a connection Redis closed must fail with EPIPE, not kill
    //  us. A handler someone else installed is left alone.
    struct sigaction current;
    if (sigaction (SIGPIPE, NULL, &current) == 0 && current.sa_handler == SIG_DFL)
        signal (SIGPIPE, SIG_IGN);
    return self;
}

void
kv_destroy (kv_t **self_p)
{
    assert (self_p);
    if (*self_p) {
        kv_t *self = *self_p;
        if (self->context)
            redisFree (self->context);
        if (self->password) {
            sodium_memzero (self->password, strlen (self->password));
            free (self->password);
        }
        free (self->user);
        free (self->host);
        free (self);
        *self_p = NULL;
    }
}

redisContext *
kv_context (kv_t *self)
{
    assert (self);
    if (!self->context && clock_mono_ms () >= self->retry_at) {
        //  A connection lost (or never made) before: this is a reconnect.
        if (self->down)
            metric_inc (metrics_counter (metrics_default (), "drift_redis_reconnects_total",
                                         "Attempts to connect to Redis again after an outage",
                                         NULL));
        self->context = s_connect (self);
    }
    return self->context;
}

void
kv_failed (kv_t *self)
{
    assert (self);
    if (!self->context)
        return;
    //  Redis restarted or closed an idle connection: try a new one at once;
    //  only a failed connect starts the backoff.
    self->retry_at = clock_mono_ms ();
    s_outage (self, self->context->err ? self->context->errstr : "connection failed a command");
    redisFree (self->context);
    self->context = NULL;
}

redisReply *
kv_command (kv_t *self, const char *format, ...)
{
    assert (self);
    redisContext *context = kv_context (self);
    if (!context)
        return NULL;
    va_list args;
    va_start (args, format);
    redisReply *reply = (redisReply *) redisvCommand (context, format, args);
    va_end (args);
    if (!reply || context->err) {
        if (reply)
            freeReplyObject (reply);
        kv_failed (self);
        return NULL;
    }
    return reply;
}

redisReply *
kv_command_argv (kv_t *self, int argc, const char **argv)
{
    assert (self);
    redisContext *context = kv_context (self);
    if (!context)
        return NULL;
    redisReply *reply = (redisReply *) redisCommandArgv (context, argc, argv, NULL);
    if (!reply || context->err) {
        if (reply)
            freeReplyObject (reply);
        kv_failed (self);
        return NULL;
    }
    return reply;
}
