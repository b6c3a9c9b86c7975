/*  replayer: overdue journal entries back into the pipeline; see replayer.h.

    Its metrics include the journal's depth and the dead letters, read from
    PostgreSQL when scraped: the scrape's callbacks run in the HTTP thread on
    a connection of their own (s_depth_t), so a slow scrape never holds up
    the replayer's loop and the loop's connection is never shared.
*/
#include "replayer.h"
#include "../../lib/clock.h"
#include "../../lib/health.h"
#include "../../lib/journal.h"
#include "../../lib/log.h"
#include "../../lib/metrics.h"
#include "../../lib/producer.h"
#include "../../lib/shutdown.h"

#include <libpq-fe.h>
#include <pthread.h>

#define REPLAYER_MAX_BATCH 1000
#define REPLAYER_DEPTH_CACHE_MS 1000    // one query answers every gauge of a scrape

//  --------------------------------------------------------------------------
//  Metrics

//  What the scrape's callbacks share: the database to ask (set by
//  replayer_run, read by the HTTP thread, hence the lock), their own
//  connection, and the last answer. Lives as long as the process, because
//  the registry's callbacks point at it.
typedef struct {
    pthread_mutex_t lock;       // guards everything below
    char *database;             // URL to query, NULL before replayer_run
    PGconn *conn;               // the callbacks' own connection, NULL until needed
    int64_t read_ms;            // when the numbers below were read (0: never)
    bool ok;                    // whether that read succeeded
    double depth;               // messages in q_drift_journal
    double oldest_age_s;        // age of its oldest message, seconds (0 if empty)
    double dead;                // messages in q_drift_dead
} s_depth_t;

static s_depth_t s_depth = { .lock = PTHREAD_MUTEX_INITIALIZER };

//  Read the three numbers, at most once per REPLAYER_DEPTH_CACHE_MS. Runs
//  in the HTTP thread with s_depth.lock held; logs nothing (the log
//  publisher is the replayer thread's).
static void
s_depth_read (void)
{
    int64_t now = clock_mono_ms ();
    if (s_depth.read_ms && now - s_depth.read_ms < REPLAYER_DEPTH_CACHE_MS)
        return;
    s_depth.read_ms = now;
    s_depth.ok = false;
    if (!s_depth.database)
        return;
    if (s_depth.conn && PQstatus (s_depth.conn) != CONNECTION_OK) {
        PQfinish (s_depth.conn);
        s_depth.conn = NULL;
    }
    if (!s_depth.conn) {
        const char *keys [] = { "dbname", "connect_timeout", NULL };
        const char *values [] = { s_depth.database, "2", NULL };
        s_depth.conn = PQconnectdbParams (keys, values, 1);
        if (PQstatus (s_depth.conn) != CONNECTION_OK)
            return;     // tried again at the next scrape
    }
    PGresult *result = PQexec (s_depth.conn,
        "SELECT (SELECT count (*) FROM pgmq.q_drift_journal), "
        "       (SELECT coalesce (extract (epoch FROM now () - min (enqueued_at)), 0) "
        "          FROM pgmq.q_drift_journal), "
        "       (SELECT count (*) FROM pgmq.q_drift_dead)");
    if (PQresultStatus (result) == PGRES_TUPLES_OK && PQntuples (result) == 1) {
        s_depth.depth = atof (PQgetvalue (result, 0, 0));
        s_depth.oldest_age_s = atof (PQgetvalue (result, 0, 1));
        s_depth.dead = atof (PQgetvalue (result, 0, 2));
        s_depth.ok = true;
    }
    PQclear (result);
}

//  The callbacks: arg points at the number wanted in s_depth.
static int
s_depth_gauge (void *arg, double *value)
{
    pthread_mutex_lock (&s_depth.lock);
    s_depth_read ();
    bool ok = s_depth.ok;
    *value = *(double *) arg;
    pthread_mutex_unlock (&s_depth.lock);
    return ok ? 0 : -1;
}

static void
s_metrics_register (const char *database, metric_t **replayed, metric_t **dead_lettered)
{
    pthread_mutex_lock (&s_depth.lock);
    if (!s_depth.database || strcmp (s_depth.database, database)) {
        free (s_depth.database);
        s_depth.database = strdup (database);
        if (s_depth.conn)
            PQfinish (s_depth.conn);
        s_depth.conn = NULL;
        s_depth.read_ms = 0;
    }
    pthread_mutex_unlock (&s_depth.lock);
    metrics_t *registry = metrics_default ();
    metrics_gauge_fn (registry, "drift_journal_depth",
                      "Reports in the journal not yet finished (pgmq q_drift_journal)",
                      s_depth_gauge, &s_depth.depth, NULL);
    metrics_gauge_fn (registry, "drift_journal_oldest_age_seconds",
                      "Age of the oldest unfinished journal entry (0 when there is none)",
                      s_depth_gauge, &s_depth.oldest_age_s, NULL);
    metrics_gauge_fn (registry, "drift_dead_letters",
                      "Reports in the dead-letter queue (pgmq q_drift_dead)",
                      s_depth_gauge, &s_depth.dead, NULL);
    *replayed = metrics_counter (registry, "drift_replayed_total",
                                 "Overdue journal entries sent through the pipeline again", NULL);
    *dead_lettered = metrics_counter (registry, "drift_dead_lettered_total",
                                      "Journal entries moved to the dead-letter queue", NULL);
}

//  --------------------------------------------------------------------------
//  Replaying

//  Dead-letter or resubmit what one read returned.
static void
s_replay (const replayer_config_t *config, journal_t *journal, producer_t *producer,
          Drift__Envelope **entries, int count, metric_t *replayed, metric_t *dead_lettered)
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
            if (journal_dead_letter (journal, envelope->journal_id, message,
                                     envelope->attempt - 1, error) == 0)
                metric_inc (dead_lettered);
            free (message);
        }
        else {
            size_t size = drift__envelope__get_packed_size (envelope);
            uint8_t *packed = (uint8_t *) malloc (size);
            drift__envelope__pack (envelope, packed);
            if (producer_submit (producer, packed, size, envelope->attempt, 0) == 0) {
                metric_inc (replayed);
                log_info ("report replayed", "journal_id", id, "tenant", envelope->tenant,
                          "report_id", envelope->report_id,
                          "attempt", LOG_NUM (envelope->attempt));
            }
            else
                log_warn ("pipeline refused a replay, the journal keeps it",
                          "journal_id", id, "report_id", envelope->report_id);
            free (packed);
        }
        drift__envelope__free_unpacked (envelope, NULL);
    }
}

//  Once an hour: neither ingest's claims of report ids nor the journal's
//  archive of finished entries grows for ever. Each prune takes bounded
//  batches until one comes back short (at most S_PRUNE_BATCHES a time), so
//  an hour's reports are always cleared and no lock is held for long.
#define S_PRUNE_BATCHES 100

static void
s_housekeep (journal_t *journal, const replayer_config_t *config)
{
    long pruned = 0, batch = JOURNAL_PRUNE_BATCH;
    for (int i = 0; config->dedup_days > 0 && batch == JOURNAL_PRUNE_BATCH && i < S_PRUNE_BATCHES;
         i++)
        if ((batch = journal_prune_ingested (journal, config->dedup_days)) > 0)
            pruned += batch;
    if (pruned > 0)
        log_info ("forgot old report id claims", "pruned", LOG_NUM (pruned),
                  "older_than_days", LOG_NUM (config->dedup_days));
    pruned = 0;
    batch = JOURNAL_PRUNE_BATCH;
    for (int i = 0; config->journal_keep_days > 0 && batch == JOURNAL_PRUNE_BATCH
                    && i < S_PRUNE_BATCHES; i++)
        if ((batch = journal_prune_archive (journal, config->journal_keep_days)) > 0)
            pruned += batch;
    if (pruned > 0)
        log_info ("dropped old finished journal entries", "pruned", LOG_NUM (pruned),
                  "older_than_days", LOG_NUM (config->journal_keep_days));
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
    metric_t *replayed, *dead_lettered;
    s_metrics_register (config->database, &replayed, &dead_lettered);
    journal_t *journal = NULL;
    Drift__Envelope **entries = (Drift__Envelope **) malloc ((size_t) config->batch
                                                             * sizeof *entries);
    log_info ("replayer started", "stage", config->stage,
              "deadline_s", LOG_NUM (config->deadline_s),
              "max_attempts", LOG_NUM (config->max_attempts));
    bool stop = false;
    int64_t pruned_ms = 0;              // when ingest's old claims were last pruned
    //  The replayer's liveness (lib/health): both loops below turn at least
    //  every 50 ms while idle; a journal call blocks them until PostgreSQL
    //  answers.
    health_loop_t *loop = health_loop_new ("replayer");
    health_need_t *broker_need = health_need_new ("broker");
    while (!stop && !shutdown_requested ()) {
        health_loop_beat (loop);
        if (!journal)
            journal = journal_new (config->database, config->interval_ms);
        if (journal && clock_mono_ms () - pruned_ms > 3600000) {
            s_housekeep (journal, config);
            pruned_ms = clock_mono_ms ();
        }
        int read = 0;
        uint64_t credit = producer_credit (producer);
        //  No credit: the pipeline is full, not the journal empty. Read
        //  again as soon as the broker grants some, not after the interval
        //  (a burst ingest could not hand on waits in the journal for us).
        bool waiting_for_credit = journal && credit == 0;
        if (journal && credit > 0) {
            int want = credit < (uint64_t) config->batch ? (int) credit : config->batch;
            read = journal_read (journal, config->deadline_s, want, entries);
            if (read > 0)
                s_replay (config, journal, producer, entries, read, replayed, dead_lettered);
            if (read == want)
                continue;       // a backlog: read on at once
        }
        //  Idle: keep the broker link alive and listen for $TERM.
        int64_t until = clock_mono_ms () + config->interval_ms;
        while (!stop && clock_mono_ms () < until && !shutdown_requested ()) {
            health_loop_beat (loop);
            health_need_set (broker_need, producer_connected (producer));
            producer_poll (producer, 50);
            if (waiting_for_credit && producer_credit (producer) > 0)
                break;
            if (pipe && zsock_events (pipe) & ZMQ_POLLIN) {
                char *command = zstr_recv (pipe);
                stop = !command || streq (command, "$TERM");
                zstr_free (&command);
            }
        }
    }
    health_need_destroy (&broker_need);
    health_loop_destroy (&loop);
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
