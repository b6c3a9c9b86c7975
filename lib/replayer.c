/*  replayer: overdue journal entries back into the pipeline; see replayer.h. */
#include "replayer.h"
#include "clock.h"
#include "journal.h"
#include "log.h"
#include "producer.h"
#include "shutdown.h"

#define REPLAYER_MAX_BATCH 1000

//  Dead-letter or resubmit what one read returned.
static void
s_replay (const replayer_config_t *config, journal_t *journal, producer_t *producer,
          Drift__Envelope **entries, int count)
{
    for (int i = 0; i < count; i++) {
        Drift__Envelope *envelope = entries [i];
        char id [24];
        snprintf (id, sizeof id, "%lld", (long long) envelope->journal_id);
        if ((int) envelope->attempt > config->max_attempts) {
            char error [128];
            snprintf (error, sizeof error, "not finished after %d deliveries",
                      config->max_attempts);
            char *message = journal_encode (envelope);
            journal_dead_letter (journal, envelope->journal_id, message, envelope->attempt - 1,
                                 error);
            free (message);
        }
        else {
            size_t size = drift__envelope__get_packed_size (envelope);
            uint8_t *packed = (uint8_t *) malloc (size);
            drift__envelope__pack (envelope, packed);
            if (producer_submit (producer, packed, size, envelope->attempt, 0) == 0)
                log_info ("report replayed", "journal_id", id, "tenant", envelope->tenant,
                          "report_id", envelope->report_id,
                          "attempt", LOG_NUM (envelope->attempt));
            else
                log_warn ("pipeline refused a replay, the journal keeps it",
                          "journal_id", id, "report_id", envelope->report_id);
            free (packed);
        }
        drift__envelope__free_unpacked (envelope, NULL);
    }
}

int
replayer_run (const replayer_config_t *config, zsock_t *pipe)
{
    if (config->batch < 1 || config->batch > REPLAYER_MAX_BATCH || config->deadline_s < 1
    ||  config->max_attempts < 1) {
        log_error ("replayer: need 1 <= batch <= 1000, deadline >= 1 s, max attempts >= 1");
        return -1;
    }
    producer_t *producer = producer_new (config->brokers, config->stage, config->batch,
                                         config->heartbeat_ms, config->liveness);
    if (!producer) {
        log_error ("replayer: no usable broker endpoint", "brokers", config->brokers);
        return -1;
    }
    journal_t *journal = NULL;
    Drift__Envelope **entries = (Drift__Envelope **) malloc ((size_t) config->batch
                                                             * sizeof *entries);
    log_info ("replayer started", "stage", config->stage,
              "deadline_s", LOG_NUM (config->deadline_s),
              "max_attempts", LOG_NUM (config->max_attempts));
    bool stop = false;
    while (!stop && !shutdown_requested ()) {
        if (!journal)
            journal = journal_new (config->database, config->interval_ms);
        int read = 0;
        uint64_t credit = producer_credit (producer);
        if (journal && credit > 0) {
            int want = credit < (uint64_t) config->batch ? (int) credit : config->batch;
            read = journal_read (journal, config->deadline_s, want, entries);
            if (read > 0)
                s_replay (config, journal, producer, entries, read);
            if (read == want)
                continue;       // a backlog: read on at once
        }
        //  Idle: keep the broker link alive and listen for $TERM.
        int64_t until = clock_mono_ms () + config->interval_ms;
        while (!stop && clock_mono_ms () < until && !shutdown_requested ()) {
            producer_poll (producer, 50);
            if (pipe && zsock_events (pipe) & ZMQ_POLLIN) {
                char *command = zstr_recv (pipe);
                stop = !command || streq (command, "$TERM");
                zstr_free (&command);
            }
        }
    }
    free (entries);
    journal_destroy (&journal);
    producer_destroy (&producer);
    log_info ("replayer stopped");
    return 0;
}

void
replayer_actor (zsock_t *pipe, void *args)
{
    zsock_signal (pipe, 0);
    replayer_run ((const replayer_config_t *) args, pipe);
}
