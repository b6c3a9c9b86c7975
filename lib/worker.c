/*  worker: the loop every stage runs. See worker.h. */
#include "worker.h"
#include "clock.h"
#include "drp.h"
#include "health.h"
#include "journal.h"
#include "link.h"
#include "log.h"
#include "metrics.h"
#include "shutdown.h"

#define WORKER_MAX_BROKERS 8
#define WORKER_BATCH 256        // messages read from one broker before looking at the rest

//  What the worker remembers of each item of a batch, so a flush can
//  still fail one of them after its envelope is gone.
typedef struct {
    int64_t journal_id;             // its journal entry (0: none, or not an envelope)
    uint32_t attempt;               // its delivery attempt
    char report_id [129];           // for the log line
    char tenant [64];               // for the log line
} s_item_t;

//  The stage's series in the default registry (this thread writes them).
typedef struct {
    metric_t *forwarded;            // items answered DONE FORWARD
    metric_t *ended;                // items answered DONE END
    metric_t *failed;               // items answered DONE FAILED
    metric_t *bad_envelopes;        // WORK bodies that were not an Envelope
    metric_t *duration;             // time in the stage function per envelope
    metric_t *batches;              // WORK batches handled
    metric_t *flush_failures;       // batches whose flush failed
} s_metrics_t;

//  A group: the WORK messages run together, flushed together and then
//  answered with one DONE each.
typedef struct {
    drp_header_t done [DRP_BATCH_MAX]; // DONE headers of its WORKs, in order
    int work_count;                 // WORKs in it
    uint32_t item_count;            // items in it (<= DRP_BATCH_MAX)
    link_t *link;                   // the link they came on
    int link_generation;            // ... and that link's connection then
    zchunk_t *out;                  // forwarded envelopes, back to back
    s_item_t items [DRP_BATCH_MAX]; // each item, for failures in the flush
    bool failed [DRP_BATCH_MAX];    // items the flush failed (worker_fail_item)
    char reason [DRP_BATCH_MAX][256]; // ... and why
} s_group_t;

typedef struct {
    const worker_config_t *config;  // what to run
    s_metrics_t metrics;            // what a scrape of this process reports
    link_t *links [WORKER_MAX_BROKERS]; // one per broker
    int link_count;                 // how many
    link_log_t log;                 // log channel over those links
    uint64_t processed;             // envelopes handed to the stage function
    uint64_t bad_envelopes;         // WORK bodies that were not an Envelope
    uint64_t failed;                // envelopes the stage function failed
    journal_t *journal;             // where failures are recorded, opened on the first
    int64_t journal_retry_ms;       // no new connection attempt before this
    //  WORK messages already waiting are run as one group with one flush
    //  (bigger batches for a stage whose flush costs per call, e.g. the
    //  archive's SQL), then answered with one DONE each. A stage with
    //  flush_begin writes one group while the next is being run.
    s_group_t *groups;              // two, on the heap
    s_group_t *open;                // the group being run
    s_group_t *flushing;            // the group being written (flush_begin), or NULL
    health_loop_t *loop;            // this loop's liveness
} worker_t;

//  The reason the stage function gave for its failure (this thread's).
static _Thread_local char s_fail_reason [512];

//  The item of the group being run, and the group whose flush is running
//  (worker_fail_item marks its items), of this thread's worker.
static _Thread_local uint32_t s_item_index;
static _Thread_local s_group_t *s_flushed;

void
worker_fail (const char *format, ...)
{
    va_list args;
    va_start (args, format);
    vsnprintf (s_fail_reason, sizeof s_fail_reason, format, args);
    va_end (args);
}

uint32_t
worker_item_index (void)
{
    return s_item_index;
}

void
worker_fail_item (uint32_t index, const char *format, ...)
{
    assert (index < DRP_BATCH_MAX);
    s_group_t *group = s_flushed;
    if (!group)
        return;         // a flush called outside the runtime (tests, benches)
    va_list args;
    va_start (args, format);
    vsnprintf (group->reason [index], sizeof group->reason [index], format, args);
    va_end (args);
    group->failed [index] = true;
}

//  Record a failure in the journal; a database that is away costs one
//  short connection attempt per 10 s, never the worker's heartbeats.
static void
s_record_failure (worker_t *self, int64_t journal_id, uint32_t attempt, const char *reason)
{
    if (!self->config->database || !*self->config->database || journal_id <= 0)
        return;
    if (!self->journal && clock_mono_ms () >= self->journal_retry_ms) {
        self->journal = journal_new (self->config->database, 0);
        self->journal_retry_ms = clock_mono_ms () + 10000;
    }
    if (self->journal
    &&  journal_record_failure (self->journal, journal_id, self->config->stage, attempt,
                                reason))
        journal_destroy (&self->journal);
}

//  Decode one envelope (size bytes at data) and run the stage on it.
//  Returns the item's DONE status; a forwarded envelope is packed and
//  appended to the open group's out. The envelope is protobuf from a peer we did not write,
//  so a failure to decode is an expected, counted event.
static uint8_t
s_process (worker_t *self, const uint8_t *data, size_t size, uint32_t *out_size)
{
    s_group_t *group = self->open;
    zchunk_t *out = group->out;
    *out_size = 0;
    Drift__Envelope *envelope = drift__envelope__unpack (NULL, size, data);
    if (!envelope) {
        self->bad_envelopes++;
        metric_inc (self->metrics.bad_envelopes);
        log_warn ("WORK body is not an envelope, failed", "stage", self->config->stage);
        return DRP_DONE_FAILED;
    }
    self->processed++;
    s_item_t *item = &group->items [s_item_index];
    item->journal_id = envelope->journal_id;
    item->attempt = envelope->attempt;
    snprintf (item->report_id, sizeof item->report_id, "%s", envelope->report_id);
    snprintf (item->tenant, sizeof item->tenant, "%s", envelope->tenant);
    *s_fail_reason = 0;
    int64_t started_ns = metrics_now_ns ();
    stage_result_t result = self->config->fn (self->config->state, envelope);
    metric_observe_ns (self->metrics.duration, metrics_now_ns () - started_ns);
    uint8_t status = result == STAGE_FORWARD ? DRP_DONE_FORWARD
                   : result == STAGE_END ? DRP_DONE_END : DRP_DONE_FAILED;
    if (result == STAGE_FAILED) {
        self->failed++;
        const char *reason = *s_fail_reason ? s_fail_reason : "the stage gave no reason";
        char journal_id [24];
        snprintf (journal_id, sizeof journal_id, "%lld", (long long) envelope->journal_id);
        log_warn ("stage failed report, the journal replays it", "stage", self->config->stage,
                  "tenant", envelope->tenant, "report_id", envelope->report_id,
                  "journal_id", journal_id, "attempt", LOG_NUM (envelope->attempt),
                  "reason", reason);
        s_record_failure (self, envelope->journal_id, envelope->attempt, reason);
    }
    *s_fail_reason = 0;
    if (result == STAGE_FORWARD) {
        Drift__StageStamp stamp = DRIFT__STAGE_STAMP__INIT;
        stamp.stage = (char *) self->config->stage;
        stamp.at_us = clock_wall_us ();
        stamp.instance = (char *) log_instance ();
        //  The stamp array is the unpacker's; grow a copy so free_unpacked
        //  still frees exactly what it allocated.
        size_t count = envelope->n_stamps;
        Drift__StageStamp **stamps = envelope->stamps;
        Drift__StageStamp **grown = (Drift__StageStamp **) malloc ((count + 1) * sizeof *grown);
        assert (grown);
        if (count)
            memcpy (grown, stamps, count * sizeof *grown);
        grown [count] = &stamp;
        envelope->stamps = grown;
        envelope->n_stamps = count + 1;
        size_t packed_size = drift__envelope__get_packed_size (envelope);
        size_t offset = zchunk_size (out);
        if (zchunk_max_size (out) < offset + packed_size) {
            //  zchunk_resize would empty the chunk and lose the envelopes
            //  already packed: grow into a new one instead.
            zchunk_t *bigger = zchunk_new (NULL, (offset + packed_size) * 2);
            zchunk_append (bigger, zchunk_data (out), offset);
            zchunk_destroy (&group->out);
            group->out = out = bigger;
        }
        drift__envelope__pack (envelope, zchunk_data (out) + offset);
        zchunk_set (out, zchunk_data (out), offset + packed_size);
        *out_size = (uint32_t) packed_size;
        envelope->stamps = stamps;
        envelope->n_stamps = count;
        free (grown);
    }
    drift__envelope__free_unpacked (envelope, NULL);
    return status;
}

//  Items the flush failed one by one (worker_fail_item): answered FAILED,
//  their forwarded envelopes taken out of the DONE bodies, the reason logged
//  and recorded like a failure in the stage function. Items are numbered
//  across the group.
static void
s_fail_flushed_items (worker_t *self, s_group_t *group)
{
    uint8_t *body = zchunk_data (group->out);
    size_t read = 0, kept = 0;
    uint32_t index = 0;
    for (int w = 0; w < group->work_count; w++) {
        drp_header_t *done = &group->done [w];
        for (uint32_t i = 0; i < done->count; i++, index++) {
            uint32_t size = done->items [i].size;
            if (!group->failed [index]) {
                memmove (body + kept, body + read, size);
                kept += size;
                read += size;
                continue;
            }
            read += size;
            done->items [i] = (drp_item_t) { .id = done->items [i].id,
                                             .status = DRP_DONE_FAILED };
            s_item_t *item = &group->items [index];
            self->failed++;
            char journal_id [24];
            snprintf (journal_id, sizeof journal_id, "%lld", (long long) item->journal_id);
            log_warn ("stage failed report, the journal replays it", "stage",
                      self->config->stage, "tenant", item->tenant, "report_id", item->report_id,
                      "journal_id", journal_id, "attempt", LOG_NUM (item->attempt),
                      "reason", group->reason [index]);
            s_record_failure (self, item->journal_id, item->attempt, group->reason [index]);
        }
    }
    if (kept != read)
        zchunk_set (group->out, body, kept);
}

//  After the group's flush had its say (flushed: it did not fail whole), one
//  DONE per WORK, each with its forwarded envelopes back to back in one
//  frame; then the group is empty.
static void
s_answer (worker_t *self, s_group_t *group, bool flushed)
{
    zchunk_t *out = group->out;
    if (!flushed) {
        metric_inc (self->metrics.flush_failures);
        log_warn ("stage could not finish its batch, failed for replay",
                  "stage", self->config->stage, "items", LOG_NUM (group->item_count));
        for (int w = 0; w < group->work_count; w++)
            for (uint32_t i = 0; i < group->done [w].count; i++)
                group->done [w].items [i] = (drp_item_t) { .id = group->done [w].items [i].id,
                                                           .status = DRP_DONE_FAILED };
        zchunk_set (out, zchunk_data (out), 0);
    }
    else
        s_fail_flushed_items (self, group);
    //  Never blocks: if the link is gone, or came back on a new connection
    //  since the WORK came, the broker requeues what we held.
    link_t *link = group->link;
    bool same = link->socket && link->generation == group->link_generation;
    size_t offset = 0;
    for (int w = 0; w < group->work_count; w++) {
        drp_header_t *done = &group->done [w];
        size_t size = 0;
        for (uint32_t i = 0; i < done->count; i++) {
            //  Counted as answered, after the flush had its say.
            metric_inc (done->items [i].status == DRP_DONE_FORWARD ? self->metrics.forwarded
                      : done->items [i].status == DRP_DONE_END ? self->metrics.ended
                      : self->metrics.failed);
            size += done->items [i].status == DRP_DONE_FORWARD ? done->items [i].size : 0;
        }
        if (same && size)
            drp_send_bytes (link->handle, NULL, done, zchunk_data (out) + offset, size,
                            ZMQ_DONTWAIT);
        else
        if (same)
            drp_send (link->handle, NULL, done, NULL, ZMQ_DONTWAIT);
        offset += size;
    }
    group->work_count = 0;
    group->item_count = 0;
    group->link = NULL;
}

static bool
s_pipelined (const worker_t *self)
{
    return self->config->flush_begin && self->config->flush_end;
}

//  The group being written: answered once its flush is done (wait: block
//  until it is). Returns false while it is still being written.
static bool
s_end_flush (worker_t *self, bool wait)
{
    s_group_t *group = self->flushing;
    if (!group)
        return true;
    s_flushed = group;
    int rc = self->config->flush_end (self->config->state, wait);
    s_flushed = NULL;
    if (rc == 1 && !wait)
        return false;
    self->flushing = NULL;
    s_answer (self, group, rc == 0);
    //  The loop beats while no write is running, and when one finishes: a
    //  write that never does is a stalled loop, as a blocking flush is.
    if (self->loop)
        health_loop_beat (self->loop);
    return true;
}

//  The open group is complete: flush it and answer it, or, for a stage with
//  flush_begin, start writing it (after the group before it is answered:
//  one is written at a time) and run the next WORK into the other group.
static void
s_finish_group (worker_t *self)
{
    s_group_t *group = self->open;
    if (group->work_count == 0)
        return;
    metric_inc (self->metrics.batches);
    if (!s_pipelined (self)) {
        s_flushed = group;
        int rc = self->config->flush ? self->config->flush (self->config->state) : 0;
        s_flushed = NULL;
        s_answer (self, group, rc == 0);
        return;
    }
    s_end_flush (self, true);
    s_flushed = group;
    int rc = self->config->flush_begin (self->config->state);
    s_flushed = NULL;
    if (rc) {
        s_answer (self, group, false);
        return;
    }
    self->flushing = group;
    self->open = group == &self->groups [0] ? &self->groups [1] : &self->groups [0];
}

//  Nothing left unanswered: the open group flushed, the one being written
//  done (before a link is dropped, and at the end).
static void
s_drain (worker_t *self)
{
    s_finish_group (self);
    s_end_flush (self, true);
}

//  A WORK batch: run every item now, into the open group; the flush and the
//  DONE come when nothing more is waiting (s_finish_group), or, while a
//  group is being written, once it is. A WORK that would overflow the
//  group, or from another link, finishes it first.
static void
s_on_work (worker_t *self, link_t *link, drp_header_t *work, zmq_msg_t *body)
{
    s_group_t *group = self->open;
    if (group->work_count > 0
    &&  (group->link != link || group->item_count + work->count > DRP_BATCH_MAX))
        s_finish_group (self);
    group = self->open;
    if (group->work_count == 0) {
        zchunk_set (group->out, zchunk_data (group->out), 0);
        memset (group->failed, 0, sizeof group->failed);
        group->link = link;
        group->link_generation = link->generation;
    }
    drp_header_t *done = &group->done [group->work_count++];
    *done = (drp_header_t) { .command = DRP_DONE, .count = work->count };
    const uint8_t *cursor = body ? (const uint8_t *) zmq_msg_data (body) : NULL;
    for (uint32_t i = 0; i < work->count; i++) {
        s_item_index = group->item_count + i;
        group->items [s_item_index] = (s_item_t) { 0 };
        done->items [i].id = work->items [i].id;
        done->items [i].status = s_process (self, cursor, work->items [i].size,
                                            &done->items [i].size);
        if (cursor)
            cursor += work->items [i].size;
    }
    group->item_count += work->count;
}

static void
s_on_message (worker_t *self, link_t *link, zmq_msg_t *frames, int count)
{
    drp_header_t header;
    const char *reason;
    if (drp_decode ((const uint8_t *) zmq_msg_data (&frames [0]), zmq_msg_size (&frames [0]),
                    &header, &reason)) {
        log_warn ("bad message from broker, ignored", "endpoint", link->endpoint,
                  "reason", reason);
        return;
    }
    link_heard (link);
    if (header.command == DRP_WORK && count == 1 + drp_body_count (&header)
    &&  (count == 1 || zmq_msg_size (&frames [1]) == drp_batch_size (&header)))
        s_on_work (self, link, &header, count == 2 ? &frames [1] : NULL);
    else
    if (header.command == DRP_DISCONNECT) {
        s_drain (self);
        link_reset (link, header.name [0] ? header.name : "broker said disconnect");
    }
    else
    if (header.command != DRP_HEARTBEAT)
        log_warn ("unexpected message from broker, ignored", "endpoint", link->endpoint,
                  "command", drp_command_name (header.command));
}

//  The stage's series, registered once per process and stage.
static void
s_metrics_register (s_metrics_t *metrics, const char *stage)
{
    metrics_t *registry = metrics_default ();
    const char *messages = "Envelopes a stage answered, by its answer";
    metrics->forwarded = metrics_counter (registry, "drift_stage_messages_total", messages,
                                          "stage", stage, "outcome", "forwarded", NULL);
    metrics->ended = metrics_counter (registry, "drift_stage_messages_total", messages,
                                      "stage", stage, "outcome", "ended", NULL);
    metrics->failed = metrics_counter (registry, "drift_stage_messages_total", messages,
                                       "stage", stage, "outcome", "failed", NULL);
    metrics->bad_envelopes = metrics_counter (registry, "drift_stage_bad_envelopes_total",
        "WORK bodies that were not an Envelope (also counted as failed)", "stage", stage, NULL);
    metrics->duration = metrics_histogram (registry, "drift_stage_duration_seconds",
        "Time in the stage function per envelope", "stage", stage, NULL);
    metrics->batches = metrics_counter (registry, "drift_stage_batches_total",
        "WORK batches a stage handled", "stage", stage, NULL);
    metrics->flush_failures = metrics_counter (registry, "drift_stage_flush_failures_total",
        "Batches whose effects could not be made durable (every item failed for replay)",
        "stage", stage, NULL);
}

int
worker_run (const worker_config_t *config, zsock_t *pipe)
{
    worker_t self = { .config = config };
    s_metrics_register (&self.metrics, config->stage);
    drp_header_t ready = { .command = DRP_READY, .count = (uint32_t) config->credit };
    snprintf (ready.name, sizeof ready.name, "%s", config->stage);
    snprintf (ready.instance, sizeof ready.instance, "%s", log_instance ());
    snprintf (ready.version, sizeof ready.version, "%s", DRIFT_VERSION);
    self.link_count = link_new_all (config->brokers, &ready, config->heartbeat_ms,
                                    config->liveness, self.links, WORKER_MAX_BROKERS);
    if (self.link_count < 0) {
        log_error ("no usable broker endpoint", "brokers", config->brokers);
        return -1;
    }
    self.groups = (s_group_t *) calloc (2, sizeof *self.groups);
    assert (self.groups);
    for (int i = 0; i < 2; i++)
        self.groups [i].out = zchunk_new (NULL, 256 * 1024);
    self.open = &self.groups [0];
    self.log.links = self.links;
    self.log.count = self.link_count;
    log_set_publisher (link_log_publish, &self.log);
    log_info ("worker started", "stage", config->stage, "brokers", config->brokers,
              "credit", LOG_NUM (config->credit));

    //  This loop is the stage's liveness: it turns at least once a second
    //  while idle, and not at all while the stage function or its flush
    //  blocks, or while a write begun (flush_begin) is not finished
    //  (lib/health).
    health_loop_t *loop = health_loop_new (config->stage);
    self.loop = loop;
    health_need_t *broker_need = health_need_new ("broker");
    bool stop = false;
    while (!stop && !shutdown_requested ()) {
        if (!self.flushing)
            health_loop_beat (loop);
        zmq_pollitem_t items [WORKER_MAX_BROKERS + 2];
        int link_of [WORKER_MAX_BROKERS + 2];
        int count = 0;
        int64_t timeout = 1000;
        for (int i = 0; i < self.link_count; i++) {
            link_t *link = self.links [i];
            int64_t next = link_next_timer (link);
            if (next < timeout)
                timeout = next;
            if (link->socket) {
                items [count] = (zmq_pollitem_t) { link->handle, 0, ZMQ_POLLIN, 0 };
                link_of [count++] = i;
            }
        }
        if (pipe) {
            items [count] = (zmq_pollitem_t) { zsock_resolve (pipe), 0, ZMQ_POLLIN, 0 };
            link_of [count++] = -1;
        }
        //  A group being written: its answer wakes the loop. Without a
        //  descriptor to watch, it is waited for now (and the next begun).
        int flush_fd = -1;
        while (self.flushing
           &&  (flush_fd = config->flush_fd ? config->flush_fd (config->state) : -1) < 0) {
            s_end_flush (&self, true);
            s_finish_group (&self);
        }
        if (flush_fd >= 0) {
            items [count] = (zmq_pollitem_t) { NULL, flush_fd, ZMQ_POLLIN, 0 };
            link_of [count++] = -2;
        }
        if (zmq_poll (items, count, timeout) < 0 && errno != EINTR)
            break;
        for (int i = 0; i < count; i++) {
            if (!(items [i].revents & ZMQ_POLLIN) || link_of [i] == -2)
                continue;
            if (link_of [i] < 0) {
                char *command = zstr_recv (pipe);
                stop = !command || streq (command, "$TERM");
                zstr_free (&command);
                continue;
            }
            link_t *link = self.links [link_of [i]];
            for (int batch = 0; batch < WORKER_BATCH && link->socket; batch++) {
                zmq_msg_t frames [2];
                int frame_count = drp_recv_frames (link->handle, frames, 2, ZMQ_DONTWAIT);
                if (frame_count < 0)
                    break;
                if (frame_count <= 2)
                    s_on_message (&self, link, frames, frame_count);
                drp_close_frames (frames, frame_count, 2);
            }
            //  While a group is written, the next one grows with what
            //  comes until it is full or the write is done.
            if (!self.flushing)
                s_finish_group (&self);
        }
        if (self.flushing && s_end_flush (&self, false))
            s_finish_group (&self);
        bool up = false;
        for (int i = 0; i < self.link_count; i++) {
            link_tick (self.links [i]);
            up = up || link_up (self.links [i]);
        }
        health_need_set (broker_need, up);
    }
    //  What was run is answered before the broker hears we are going.
    s_drain (&self);
    self.loop = NULL;
    health_need_destroy (&broker_need);
    health_loop_destroy (&loop);
    log_info ("worker stopping, handing back work", "stage", config->stage,
              "processed", LOG_NUM (self.processed), "failed", LOG_NUM (self.failed),
              "not_envelopes", LOG_NUM (self.bad_envelopes));
    log_set_publisher (NULL, NULL);
    drp_header_t bye = { .command = DRP_DISCONNECT };
    snprintf (bye.name, sizeof bye.name, "worker stopping");
    for (int i = 0; i < self.link_count; i++) {
        if (self.links [i]->socket)
            drp_send (self.links [i]->handle, NULL, &bye, NULL, ZMQ_DONTWAIT);
        link_destroy (&self.links [i]);
    }
    for (int i = 0; i < 2; i++)
        zchunk_destroy (&self.groups [i].out);
    free (self.groups);
    journal_destroy (&self.journal);
    return 0;
}

void
worker_actor (zsock_t *pipe, void *args)
{
    zsock_signal (pipe, 0);
    worker_run ((const worker_config_t *) args, pipe);
}
