/*  worker: the actor runtime. Everything a pipeline stage needs except its
    own logic.

    A worker connects to every broker given, announces its stage with READY and
    a credit (its prefetch window, per broker), heartbeats, reconnects with
    backoff on a fresh socket, decodes each WORK into an Envelope, calls the
    stage function, stamps the stage and time on what it forwards, and answers
    DONE, which returns one credit. WORK messages already waiting when one is
    read are run together, with one flush for all (at most DRP_BATCH_MAX
    items), and answered with one DONE each: a stage whose flush costs per
    call (the archive's SQL) gets batches as big as what is in flight, not
    as small as the broker happened to send them. A body that is not an Envelope is answered
    DONE FAILED and counted, never crashes the worker. When a stage fails a
    report it says why (worker_fail); the worker logs it and records it in
    the journal, so a dead letter names its cause. Log lines of the
    worker's thread also go to the brokers' log channel.

    It stops when shutdown_requested () (a process) or on "$TERM" from its pipe
    (an actor in tests): it tells each broker DISCONNECT, so work it held is
    handed to other workers at once rather than after expiry.
*/
#ifndef WORKER_H_INCLUDED
#define WORKER_H_INCLUDED

#include "drift.pb-c.h"

#include <czmq.h>

typedef enum {
    STAGE_FORWARD,   // send the (possibly changed) envelope to the next stage
    STAGE_END,       // the envelope ends its journey here
    STAGE_FAILED     // could not process it; the broker counts it as failed
} stage_result_t;

//  A stage's logic: read and change envelope in place.
typedef stage_result_t (stage_fn) (void *state, Drift__Envelope *envelope);

//  Called after each batch (the WORK messages that were waiting, together),
//  before their DONEs are sent, so a stage can make one round trip for the
//  whole batch (notify archives its journal entries).
//  Returns 0, or -1 when the batch's effects could not be made durable: then
//  every item of it is answered FAILED, and the journal replays them. A
//  flush that returns 0 may still fail single items (worker_fail_item).
typedef int (stage_flush_fn) (void *state);

//  A stage whose flush waits on something else's work (the archive on
//  PostgreSQL) can write one batch while the runtime runs the next through
//  the stage function: flush_begin starts writing what the stage function
//  took since the last begin (0, or -1: the batch failed whole, as a flush's
//  -1), and the stage function then starts a new batch. flush_end finishes
//  the batch begun: 0 written (single items may fail, worker_fail_item with
//  that batch's indexes), -1 failed whole, or 1 when wait is false and it is
//  still being written. flush_fd, if given, is a descriptor that becomes
//  readable when the write may have finished (without it, each begun batch
//  is waited for at the next turn of the loop). One batch is written at a
//  time, and its DONEs are sent after flush_end, so nothing is answered
//  before it is durable.
typedef int (stage_flush_begin_fn) (void *state);
typedef int (stage_flush_end_fn) (void *state, bool wait);
typedef int (stage_flush_fd_fn) (void *state);

typedef struct {
    const char *stage;       // stage name as in the broker's pipeline
    const char *brokers;     // endpoints, comma separated
    int credit;              // prefetch window granted to each broker
    int heartbeat_ms;        // heartbeat interval
    int liveness;            // missed heartbeats before a broker counts as dead
    stage_fn *fn;            // the stage's logic
    void *state;             // passed to fn and flush
    stage_flush_fn *flush;   // after each batch, or NULL
    const char *database;    // journal database where failures are recorded, or NULL
    stage_flush_begin_fn *flush_begin; // with flush_end: write while running the next
    stage_flush_end_fn *flush_end;     // batch (then flush is not called), or NULL
    stage_flush_fd_fn *flush_fd;       // readable when a write may be done, or NULL
} worker_config_t;

//  Called by a stage function before it returns STAGE_FAILED: why the
//  report failed, for the log line and (with a database) the dead letter
//  the report ends in if it never succeeds.
void worker_fail (const char *format, ...);

//  The position in its batch of the envelope the stage function is
//  given, so a stage that defers work to its flush can say which failed.
uint32_t worker_item_index (void);

//  Called by a flush for an item it could not make durable while the rest
//  of the batch was: that item alone is answered FAILED (not forwarded) and
//  replayed by the journal, with this reason logged and recorded. index is
//  what worker_item_index said when the stage saw the envelope.
void worker_fail_item (uint32_t index, const char *format, ...);

//  Run until shutdown (pipe may be NULL). Returns 0, or -1 on bad config.
int worker_run (const worker_config_t *config, zsock_t *pipe);

//  zactor_new (worker_actor, &config): worker_run in a thread; config must
//  outlive the actor.
void worker_actor (zsock_t *pipe, void *args);

#endif
