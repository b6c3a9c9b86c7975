/*  health: whether a role is alive (/healthz) and ready (/readyz), as
    lib/metrics_http serves them.

    Alive means every loop the role registered has turned lately. A loop
    (the worker's, the broker's, ingest's, the replayer's, notify's sender
    thread) calls health_loop_new when it starts and health_loop_beat on
    every turn; each loop turns at least once a heartbeat while idle. The
    HTTP thread compares the newest stamp of each loop with the stall bound
    (health_set_stall_ms, a role's --stall-ms): a loop silent for longer
    makes /healthz answer 503 and name it. The bound
    is far above a heartbeat because a loop may block legitimately: the
    archive stage's batch write and object-store puts (10 s per request),
    notify's SMTP and webhook sends (15 s and 10 s timeouts), ingest's and
    the replayer's journal calls. A process with no loop registered (drift
    api, whose HTTP threads are its loop) is alive while it answers.

    Ready means every need is met: a flag a loop keeps up to date
    (health_need_new, health_need_set: "broker" while some broker link has
    answered; declared by the role before its loop starts), or a probe the HTTP thread runs on each /readyz
    (health_probe_add; health_probe_postgresql and health_probe_redis come
    with it). A role that is not alive is not ready either.

    Stamps and flags are atomics written by their loop and read by the
    HTTP thread; the lists of loops, needs and probes are changed only when
    a loop starts or ends, under one lock.
*/
#ifndef HEALTH_H_INCLUDED
#define HEALTH_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct _health_loop_t health_loop_t;
typedef struct _health_need_t health_need_t;

//  The stall bound of every loop of this process, milliseconds (> 0).
#define HEALTH_STALL_MS_DEFAULT 30000
void health_set_stall_ms (int64_t stall_ms);

//  Register the calling thread's loop under name (stamped now); destroy
//  when the loop ends.
health_loop_t *health_loop_new (const char *name);
void health_loop_destroy (health_loop_t **self_p);

//  The loop turned.
void health_loop_beat (health_loop_t *self);

//  A need of the role, not met until health_need_set says so. Needs are
//  shared by name: a role declares what it needs before its loop starts
//  (so /readyz waits for it from the first request), and the loop, asking
//  for the same name, gets the same flag to keep; the last destroy removes
//  it.
health_need_t *health_need_new (const char *name);
void health_need_destroy (health_need_t **self_p);
void health_need_set (health_need_t *self, bool met);

//  A check run in the HTTP thread on each /readyz: 0 when the need is met,
//  else -1 with a short reason in reason [size]. arg is the probe's own.
typedef int (health_probe_fn) (void *arg, char *reason, size_t size);

//  Add a probe for name; free_fn (may be NULL) releases arg when the probes
//  are cleared.
void health_probe_add (const char *name, health_probe_fn *fn, void *arg,
                       void (*free_fn) (void *arg));

//  Remove every probe (a role's end, and between tests).
void health_probe_clear (void);

//  Probes of PostgreSQL (a connection to url is made and closed: the server
//  answers, accepts the role's login and has its database) and of Redis (a
//  PING over the role's Redis URL) for health_probe_add; arg is from
//  health_probe_*_arg (freed with free) and health_probe_redis_free.
health_probe_fn health_probe_postgresql;
void *health_probe_postgresql_arg (const char *url);
health_probe_fn health_probe_redis;
void *health_probe_redis_arg (const char *url);
void health_probe_redis_free (void *arg);

//  Register the probes a role's settings call for: PostgreSQL when
//  database is neither NULL nor empty, Redis likewise.
void health_probe_services (const char *database, const char *redis);

//  The /healthz and /readyz answers: 0 (HTTP 200) or -1 (503), with *body
//  the JSON to send (caller frees): {"status": "ok"|"stalled", "loops":
//  [{"name", "ms_since_turn"}...], "stall_ms"} and {"status":
//  "ready"|"not ready", "waiting_for": [{"name", "reason"}...]}.
int health_live (char **body);
int health_ready (char **body);

#endif
