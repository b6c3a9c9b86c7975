/*  replayer: feeds the pipeline what the journal says was not finished.

    An entry still in the journal after its completion deadline was lost
    somewhere (a process or broker died, a stage failed it, an ack was lost).
    The replayer reads such entries with pgmq.read, whose visibility timeout
    (set to the deadline again) hides them from other replayers, so several
    can run on several hosts without double work, and submits each to the
    pipeline's entry stage with its attempt count. An entry past the attempt
    limit goes to the dead-letter queue instead, and the operator is told.
    It reads no more than the broker has granted it credit for, so a full
    pipeline is never pushed and no attempt is spent on a report that could
    not be sent. Every stage is idempotent by (tenant, report id), so a
    report replayed after it had in fact finished does no harm.
*/
#ifndef REPLAYER_H_INCLUDED
#define REPLAYER_H_INCLUDED

#include <czmq.h>

typedef struct {
    const char *database;    // journal database URL
    const char *brokers;     // broker endpoints, comma separated
    const char *stage;       // stage replayed reports enter
    int deadline_s;          // completion deadline, and the read's visibility timeout
    int max_attempts;        // deliveries before an entry is dead-lettered
    int interval_ms;         // pause between reads when there is no backlog
    int batch;               // most entries read at once
    int heartbeat_ms;        // broker heartbeats
    int liveness;            // broker liveness
    int dedup_days;          // ingest's report id claims kept this long (0: forever)
    int journal_keep_days;   // finished journal entries kept this long (0: forever)
} replayer_config_t;

//  Run until shutdown_requested () or "$TERM" on pipe (may be NULL).
//  Returns 0, or -1 if the configuration is unusable.
int replayer_run (const replayer_config_t *config, zsock_t *pipe);

//  zactor_new (replayer_actor, &config) for tests; config must outlive it.
void replayer_actor (zsock_t *pipe, void *args);

#endif
