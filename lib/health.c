/*  health: a role's liveness and readiness. See health.h.

    One registry per process: loops and needs in lists (under s_lock, which
    only registration, removal and a report take), each entry's stamp or
    flag an atomic its own loop writes without the lock. Probes run in the
    HTTP thread (libmicrohttpd's one polling thread), one at a time: the
    Redis probe keeps its connection between calls, which is why it must
    never run in two threads.
*/
#include "health.h"
#include "clock.h"
#include "kv.h"

#include <jansson.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct _health_loop_t {
    char name [32];                 // what /healthz calls it
    _Atomic int64_t turned_ms;      // monotonic ms of its latest turn
    health_loop_t *next;            // the registry's list
};

struct _health_need_t {
    char name [32];                 // what /readyz calls it
    atomic_bool met;                // set by the loop that knows
    int refs;                       // holders of this name (under s_lock)
    health_need_t *next;            // the registry's list
};

typedef struct _s_probe_t {
    char name [32];                 // what /readyz calls it
    health_probe_fn *fn;            // the check
    void *arg;                      // its state
    void (*free_fn) (void *arg);    // releases arg, or NULL
    struct _s_probe_t *next;        // the registry's list
} s_probe_t;

static pthread_mutex_t s_lock = PTHREAD_MUTEX_INITIALIZER;
static health_loop_t *s_loops;      // every registered loop
static health_need_t *s_needs;      // every need flag
static s_probe_t *s_probes;         // every probe
static _Atomic int64_t s_stall_ms = HEALTH_STALL_MS_DEFAULT;

void
health_set_stall_ms (int64_t stall_ms)
{
    if (stall_ms > 0)
        atomic_store (&s_stall_ms, stall_ms);
}

//  --------------------------------------------------------------------------
//  Loops

health_loop_t *
health_loop_new (const char *name)
{
    health_loop_t *self = (health_loop_t *) calloc (1, sizeof *self);
    if (!self)
        return NULL;
    snprintf (self->name, sizeof self->name, "%s", name);
    atomic_store (&self->turned_ms, clock_mono_ms ());
    pthread_mutex_lock (&s_lock);
    self->next = s_loops;
    s_loops = self;
    pthread_mutex_unlock (&s_lock);
    return self;
}

void
health_loop_destroy (health_loop_t **self_p)
{
    health_loop_t *self = *self_p;
    if (!self)
        return;
    pthread_mutex_lock (&s_lock);
    for (health_loop_t **at = &s_loops; *at; at = &(*at)->next)
        if (*at == self) {
            *at = self->next;
            break;
        }
    pthread_mutex_unlock (&s_lock);
    free (self);
    *self_p = NULL;
}

void
health_loop_beat (health_loop_t *self)
{
    if (self)
        atomic_store_explicit (&self->turned_ms, clock_mono_ms (), memory_order_relaxed);
}

//  --------------------------------------------------------------------------
//  Needs

health_need_t *
health_need_new (const char *name)
{
    pthread_mutex_lock (&s_lock);
    health_need_t *self = s_needs;
    while (self && strcmp (self->name, name))
        self = self->next;
    if (self)
        self->refs++;
    else {
        self = (health_need_t *) calloc (1, sizeof *self);
        if (self) {
            snprintf (self->name, sizeof self->name, "%s", name);
            self->refs = 1;
            self->next = s_needs;
            s_needs = self;
        }
    }
    pthread_mutex_unlock (&s_lock);
    return self;
}

void
health_need_destroy (health_need_t **self_p)
{
    health_need_t *self = *self_p;
    if (!self)
        return;
    pthread_mutex_lock (&s_lock);
    bool last = --self->refs == 0;
    if (last)
        for (health_need_t **at = &s_needs; *at; at = &(*at)->next)
            if (*at == self) {
                *at = self->next;
                break;
            }
    pthread_mutex_unlock (&s_lock);
    if (last)
        free (self);
    *self_p = NULL;
}

void
health_need_set (health_need_t *self, bool met)
{
    if (self)
        atomic_store_explicit (&self->met, met, memory_order_relaxed);
}

//  --------------------------------------------------------------------------
//  Probes

void
health_probe_add (const char *name, health_probe_fn *fn, void *arg,
                  void (*free_fn) (void *arg))
{
    s_probe_t *probe = (s_probe_t *) calloc (1, sizeof *probe);
    if (!probe) {
        if (free_fn)
            free_fn (arg);
        return;
    }
    snprintf (probe->name, sizeof probe->name, "%s", name);
    probe->fn = fn;
    probe->arg = arg;
    probe->free_fn = free_fn;
    pthread_mutex_lock (&s_lock);
    s_probe_t **at = &s_probes;
    while (*at)
        at = &(*at)->next;
    *at = probe;
    pthread_mutex_unlock (&s_lock);
}

void
health_probe_clear (void)
{
    pthread_mutex_lock (&s_lock);
    s_probe_t *probe = s_probes;
    s_probes = NULL;
    pthread_mutex_unlock (&s_lock);
    while (probe) {
        s_probe_t *next = probe->next;
        if (probe->free_fn)
            probe->free_fn (probe->arg);
        free (probe);
        probe = next;
    }
}

int
health_probe_postgresql (void *arg, char *reason, size_t size)
{
    //  A whole connection, not PQping: a login the server refuses or a
    //  database that is missing is as useless to the role as no server.
    const char *keys [] = { "dbname", "connect_timeout", NULL };
    const char *values [] = { (const char *) arg, "2", NULL };
    PGconn *conn = PQconnectdbParams (keys, values, 1);
    int rc = 0;
    if (!conn || PQstatus (conn) != CONNECTION_OK) {
        const char *error = conn ? PQerrorMessage (conn) : "out of memory";
        snprintf (reason, size, "%.*s", (int) strcspn (error, "\n"), error);
        rc = -1;
    }
    PQfinish (conn);
    return rc;
}

void *
health_probe_postgresql_arg (const char *url)
{
    return strdup (url);
}

int
health_probe_redis (void *arg, char *reason, size_t size)
{
    redisReply *reply = kv_command ((kv_t *) arg, "PING");
    int rc = reply && reply->type != REDIS_REPLY_ERROR ? 0 : -1;
    if (rc)
        snprintf (reason, size, "%s", reply ? reply->str : "no answer to PING");
    if (reply)
        freeReplyObject (reply);
    return rc;
}

void *
health_probe_redis_arg (const char *url)
{
    return kv_new (url, 1000);
}

void
health_probe_redis_free (void *arg)
{
    kv_t *kv = (kv_t *) arg;
    kv_destroy (&kv);
}

void
health_probe_services (const char *database, const char *redis)
{
    if (database && *database)
        health_probe_add ("postgresql", health_probe_postgresql,
                          health_probe_postgresql_arg (database), free);
    if (redis && *redis) {
        void *kv = health_probe_redis_arg (redis);
        if (kv)
            health_probe_add ("redis", health_probe_redis, kv, health_probe_redis_free);
    }
}

//  --------------------------------------------------------------------------
//  Reports

//  The loops as JSON into loops; true when all of them are alive.
static bool
s_loops_json (json_t *loops)
{
    int64_t now = clock_mono_ms ();
    int64_t bound = atomic_load (&s_stall_ms);
    bool alive = true;
    pthread_mutex_lock (&s_lock);
    for (health_loop_t *loop = s_loops; loop; loop = loop->next) {
        int64_t since = now - atomic_load (&loop->turned_ms);
        if (since > bound)
            alive = false;
        json_array_append_new (loops, json_pack ("{s:s, s:I}", "name", loop->name,
                                                 "ms_since_turn", (json_int_t) since));
    }
    pthread_mutex_unlock (&s_lock);
    return alive;
}

int
health_live (char **body)
{
    json_t *loops = json_array ();
    bool alive = s_loops_json (loops);
    json_t *root = json_pack ("{s:s, s:o, s:I}", "status", alive ? "ok" : "stalled",
                              "loops", loops,
                              "stall_ms", (json_int_t) atomic_load (&s_stall_ms));
    *body = json_dumps (root, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref (root);
    return alive ? 0 : -1;
}

int
health_ready (char **body)
{
    json_t *waiting = json_array ();
    json_t *loops = json_array ();
    if (!s_loops_json (loops))
        json_array_append_new (waiting, json_pack ("{s:s, s:s}", "name", "liveness",
                                                   "reason", "a loop has stalled (/healthz)"));
    json_decref (loops);
    pthread_mutex_lock (&s_lock);
    for (health_need_t *need = s_needs; need; need = need->next)
        if (!atomic_load (&need->met))
            json_array_append_new (waiting, json_pack ("{s:s, s:s}", "name", need->name,
                                                       "reason", "not connected"));
    //  Probes run under the lock: a role never adds one while serving.
    for (s_probe_t *probe = s_probes; probe; probe = probe->next) {
        char reason [256] = "";
        if (probe->fn (probe->arg, reason, sizeof reason))
            json_array_append_new (waiting, json_pack ("{s:s, s:s}", "name", probe->name,
                                                       "reason", reason));
    }
    pthread_mutex_unlock (&s_lock);
    bool ready = json_array_size (waiting) == 0;
    json_t *root = json_pack ("{s:s, s:o}", "status", ready ? "ready" : "not ready",
                              "waiting_for", waiting);
    *body = json_dumps (root, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref (root);
    return ready ? 0 : -1;
}
