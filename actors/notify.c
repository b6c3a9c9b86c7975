/*  notify: the notify stage, which tells each channel about new and resolved
    drift, then acks the journal.

    The telling arrives with its own issue; the ack is here: notify is the
    last stage, so it archives each envelope's journal entry (pgmq.archive,
    one call per WORK batch, in the runtime's flush). An entry archived is a
    report finished; one that is not comes back through the replayer. An
    envelope that was never journaled (journal_id 0) needs no ack, and the
    database is connected to only when the first ack is due.
*/
#include "actors.h"
#include "../lib/drp.h"
#include "../lib/journal.h"
#include "../lib/log.h"

typedef struct {
    char *database;                  // journal database URL
    journal_t *journal;              // connected at the first ack
    int64_t ids [DRP_BATCH_MAX];     // journal entries finished in this batch
    int count;                       // how many
} notify_t;

static stage_result_t
s_notify (void *state, Drift__Envelope *envelope)
{
    notify_t *self = (notify_t *) state;
    if (envelope->journal_id > 0 && self->count < DRP_BATCH_MAX)
        self->ids [self->count++] = envelope->journal_id;
    return STAGE_FORWARD;
}

static int
s_flush (void *state)
{
    notify_t *self = (notify_t *) state;
    if (self->count == 0)
        return 0;
    if (!self->journal)
        self->journal = journal_new (self->database, 5000);
    int archived = self->journal ? journal_archive (self->journal, self->ids, self->count) : -1;
    if (archived < 0)
        log_warn ("journal ack failed, the batch will be replayed", "entries",
                  LOG_NUM (self->count));
    self->count = 0;
    return archived < 0 ? -1 : 0;
}

static void *
s_open (config_t *config)
{
    notify_t *self = (notify_t *) calloc (1, sizeof *self);
    self->database = strdup (config_get (config, "database"));
    return self;
}

static void
s_close (void *state)
{
    notify_t *self = (notify_t *) state;
    journal_destroy (&self->journal);
    free (self->database);
    free (self);
}

const actor_def_t notify_actor = {
    .name = "notify",
    .summary = "The notify stage: tells each channel about new and resolved drift, then acks "
               "the journal.",
    .fn = s_notify,
    .open = s_open,
    .flush = s_flush,
    .close = s_close
};
