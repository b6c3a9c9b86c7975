/*  broker: credit-based, least-recently-used routing of envelopes through the
    pipeline's stages, with bounded queues, heartbeats and log fan-out.

    Everything lives in one thread around one ROUTER socket. Work items are
    kept in intrusive lists (a stage's queue, a worker's in-flight list) so
    moving one is O(1), and their bodies are zmq_msg_t that are sent by
    reference-counted copy: the broker keeps each body until the worker says
    DONE, which is what lets it give a dead worker's messages to another.

    Memory is bounded by construction: a stage S is dispatched to only while
    its next stage N has room, where room counts N's queue, everything in
    flight at S (each will produce one envelope for N) and the credit granted
    to producers feeding N. So the broker never holds more than about
    capacity + credit per stage, whatever the producers do.

    With CURVE, every message is checked against the key that sent it: the
    key's User-Id (set by the ZAP handler) is read from the header frame as
    it arrives, its roles looked up in the broker's own copy of the allowed
    keys, and a registration, STATS or SUBSCRIBE its roles do not allow is
    refused. A registered peer stays bound to the key it registered with.
*/
#include "broker.h"
#include "../lib/clock.h"
#include "../lib/secret.h"
#include "../lib/drp.h"
#include "../lib/health.h"
#include "../lib/log.h"
#include "../lib/counters.h"
#include "../lib/metrics.h"
#include "../lib/rolekeys.h"
#include "../lib/zap.h"

#include <jansson.h>

#define BROKER_MAX_STAGES 16
#define BROKER_MAX_CREDIT 10000     // a worker asking for more gets this much
#define BROKER_BATCH 1024           // messages read before dispatching again
#define BROKER_MAX_FRAMES 3         // routing id, header, body
#define BROKER_BAD_LOGS_PER_SEC 10  // bad-input log lines per second, rest counted
#define BROKER_ROLE_KEYS_MS 1000    // how often the allowed role keys are read again

//  --------------------------------------------------------------------------
//  Work items and lists of them

typedef struct _item_t item_t;
struct _item_t {
    uint64_t id;            // broker-wide id, named in WORK and DONE
    uint32_t attempt;       // delivery attempt as the producer said
    zmq_msg_t body;         // the envelope, opaque here
    item_t *prev;           // neighbours in the list holding the item
    item_t *next;
};

typedef struct {
    item_t *head;           // oldest
    item_t *tail;           // newest
    size_t size;            // items in the list
} item_list_t;

static void
s_list_push_tail (item_list_t *list, item_t *item)
{
    item->next = NULL;
    item->prev = list->tail;
    if (list->tail)
        list->tail->next = item;
    else
        list->head = item;
    list->tail = item;
    list->size++;
}

static void
s_list_push_head (item_list_t *list, item_t *item)
{
    item->prev = NULL;
    item->next = list->head;
    if (list->head)
        list->head->prev = item;
    else
        list->tail = item;
    list->head = item;
    list->size++;
}

static void
s_list_remove (item_list_t *list, item_t *item)
{
    if (item->prev)
        item->prev->next = item->next;
    else
        list->head = item->next;
    if (item->next)
        item->next->prev = item->prev;
    else
        list->tail = item->prev;
    item->prev = item->next = NULL;
    list->size--;
}

//  --------------------------------------------------------------------------
//  Peers: workers, producers and tail subscribers

typedef enum { PEER_WORKER, PEER_PRODUCER, PEER_TAIL } peer_kind_t;

typedef struct _peer_t peer_t;
struct _peer_t {
    char key [2 * 256 + 1];       // routing id in hex, the peers table key
    zmq_msg_t routing_id;         // to address replies
    peer_kind_t kind;             // what the peer registered as
    int stage;                    // stage worked (worker) or fed (producer)
    uint32_t credit;              // work it may still be sent / SUBMITs it may still send
    uint32_t window;              // producer: most credit it may hold
    int64_t expires_at;           // monotonic ms after which it is expired
    int64_t heard_at;             // monotonic ms of its last message
    int64_t connected_at;         // monotonic ms of its registration
    char instance [DRP_NAME_MAX + 1]; // host/pid, for logs and stats
    char version [DRP_NAME_MAX + 1];  // software version it said in READY/OPEN ("" if none)
    uint32_t ready_credit;        // worker: credit its READY granted (after the cap)
    item_list_t inflight;         // worker: items sent and not yet DONE, oldest first
    peer_t *wait_prev;            // neighbours in its stage's LRU list of workers with credit
    peer_t *wait_next;
    bool waiting;                 // in that LRU list
    uint8_t min_level;            // tail: lowest level wanted
    char role_filter [DRP_NAME_MAX + 1]; // tail: only this role ("" = all)
    uint64_t shed;                // tail: lines not delivered to it (its queue was full)
    char user [41];               // CURVE key it registered with ("" in plaintext)
};

typedef struct {
    char name [DRP_NAME_MAX + 1]; // stage name
    int next;                     // index of the next stage, -1 for the last
    item_list_t queue;            // items waiting for a worker
    peer_t *lru_head;             // workers with credit, least recently used first
    peer_t *lru_tail;
    size_t workers;               // registered workers
    size_t credit;                // credit left over all its workers
    size_t in_flight;             // items at its workers
    size_t producers;             // registered producers feeding it
    size_t granted;               // credit outstanding at those producers
    uint64_t submitted;           // items entered from producers
    uint64_t done;                // items this stage finished
    uint64_t requeued;            // items taken back from expired workers
    uint64_t failed;              // items a worker reported as failed
    uint64_t dropped;             // items lost here (oversize output, drain timeout)
    uint64_t batches;             // WORK messages sent (done / batches = mean batch size)
} stage_t;

//  Counters of bad input and delivery problems (s_errors names them).
typedef enum {
    BAD_SIGNATURE, BAD_VERSION, BAD_COMMAND, BAD_HEADER, BAD_FRAMES, BAD_OVERSIZE,
    BAD_UNKNOWN_PEER, BAD_UNKNOWN_STAGE, BAD_UNKNOWN_WORK, BAD_NO_CREDIT,
    BAD_UNEXPECTED, BAD_UNROUTABLE, BAD_UNAUTHORISED, BAD_FORBIDDEN, BAD_COUNT
} bad_kind_t;

//  A stage's numbers, each named once: its key in a stage of STATS and,
//  for those exported, its series (docs/METRICS.md), labelled by stage.
static const counter_t s_stage_counters [] = {
    { "workers", NULL, "drift_broker_workers", true, NULL, NULL,
      "Workers registered for a stage", COUNTER_AT (stage_t, workers) },
    { "credit", NULL, "drift_broker_credit", true, NULL, NULL,
      "Credit left over a stage's workers (envelopes they may still be sent)",
      COUNTER_AT (stage_t, credit) },
    { "queued", NULL, "drift_broker_queue_depth", true, NULL, NULL,
      "Envelopes queued at the broker for a stage, waiting for a worker",
      COUNTER_AT (stage_t, queue.size) },
    { "in_flight", NULL, "drift_broker_in_flight", true, NULL, NULL,
      "Envelopes sent to a stage's workers and not yet answered",
      COUNTER_AT (stage_t, in_flight) },
    { "producers", NULL, NULL, false, NULL, NULL, NULL, COUNTER_AT (stage_t, producers) },
    { "granted", NULL, NULL, false, NULL, NULL, NULL, COUNTER_AT (stage_t, granted) },
    { "submitted", NULL, "drift_broker_submitted_total", false, NULL, NULL,
      "Envelopes producers submitted to a stage", COUNTER_AT (stage_t, submitted) },
    { "done", NULL, "drift_broker_done_total", false, NULL, NULL,
      "Envelopes a stage's workers answered (any outcome)", COUNTER_AT (stage_t, done) },
    { "requeued", NULL, "drift_broker_requeued_total", false, NULL, NULL,
      "Envelopes taken back from lost workers and queued again",
      COUNTER_AT (stage_t, requeued) },
    { "failed", NULL, "drift_broker_failed_total", false, NULL, NULL,
      "Envelopes a stage's workers answered as failed", COUNTER_AT (stage_t, failed) },
    { "dropped", NULL, "drift_broker_dropped_total", false, NULL, NULL,
      "Envelopes dropped at a stage (forwarded body over max-body)",
      COUNTER_AT (stage_t, dropped) },
    { "batches", NULL, NULL, false, NULL, NULL, NULL, COUNTER_AT (stage_t, batches) }
};
#define STAGE_COUNTERS (sizeof s_stage_counters / sizeof s_stage_counters [0])

typedef struct {
    broker_config_t config;       // as given, pipeline and key paths copied below
    char pipeline [1024];         // owned copy of config.pipeline
    char *curve_cert;             // owned copy of config.curve_cert
    char *role_keys_dir;          // owned copy of config.role_keys
    rolekeys_t *role_keys;        // allowed keys and their roles; NULL in plaintext
    int64_t role_keys_read;       // monotonic ms when role_keys was last read
    bool unusable;                // CURVE was asked for and could not be set up: bind nothing
    zactor_t *monitor;            // the router's failed handshakes (CURVE only)
    uint64_t handshakes_failed;   // clients refused at the handshake: plaintext, unknown key
    zsock_t *pipe;                // to the actor's owner
    zsock_t *router;              // the one endpoint
    void *router_handle;          // raw libzmq socket of router
    stage_t stages [BROKER_MAX_STAGES]; // the pipeline graph, in order
    int stage_count;              // stages in use
    zhashx_t *peers;              // key -> peer_t
    uint64_t next_id;             // id of the next item
    size_t items;                 // items alive (queued or in flight)
    size_t items_peak;            // highest items ever
    uint64_t bad [BAD_COUNT];     // bad input and delivery counters
    uint64_t log_lines;           // log lines received
    uint64_t log_shed;            // log lines not delivered to some tail
    int64_t next_heartbeat;       // monotonic ms of the next heartbeat round
    int64_t bad_log_second;       // second of the current bad-input log budget
    int bad_logs_left;            // bad-input lines still allowed this second
    uint64_t bad_logs_suppressed; // bad-input lines not logged, since last said
    bool draining;                // $TERM received: finish queued work, grant nothing
    int64_t drain_deadline;       // monotonic ms at which draining gives up
    bool terminated;              // leave the loop
    //  The series of the counters below and of each stage's: the broker's
    //  thread is their only writer, copying its own numbers into them
    //  (s_metrics_publish), so a scrape never reads the broker's structures.
    metric_t *broker_series [5];  // s_broker_counters'
    metric_t *error_series [BAD_COUNT]; // s_errors'
    metric_t *stage_series [BROKER_MAX_STAGES][STAGE_COUNTERS]; // s_stage_counters', by stage
} broker_t;

#define BROKER_REFUSED_HELP "Broker clients refused: at the CURVE handshake, for a key no " \
                            "longer listed, or for what the key's roles do not allow"

//  The broker's own counters, each named once: STATS key and series.
static const counter_t s_broker_counters [] = {
    { "items", NULL, NULL, false, NULL, NULL, NULL, COUNTER_AT (broker_t, items) },
    { "items_peak", NULL, NULL, false, NULL, NULL, NULL, COUNTER_AT (broker_t, items_peak) },
    { "log_lines", NULL, NULL, false, NULL, NULL, NULL, COUNTER_AT (broker_t, log_lines) },
    { "log_shed", NULL, NULL, false, NULL, NULL, NULL, COUNTER_AT (broker_t, log_shed) },
    { "handshakes_failed", NULL, "drift_broker_refused_total", false, "reason", "handshake",
      BROKER_REFUSED_HELP, COUNTER_AT (broker_t, handshakes_failed) }
};
#define BROKER_COUNTERS (sizeof s_broker_counters / sizeof s_broker_counters [0])
_Static_assert (BROKER_COUNTERS == 5, "broker_series holds one series per row");

//  Bad input and delivery problems, by bad_kind_t: "errors" in STATS, the
//  "problem" of their log lines; two are refusals, also exported.
#define BROKER_ERROR(kind, name) \
    [kind] = { name, "errors", NULL, false, NULL, NULL, NULL, COUNTER_AT (broker_t, bad [kind]) }
static const counter_t s_errors [BAD_COUNT] = {
    BROKER_ERROR (BAD_SIGNATURE, "bad_signature"),
    BROKER_ERROR (BAD_VERSION, "bad_version"),
    BROKER_ERROR (BAD_COMMAND, "unknown_command"),
    BROKER_ERROR (BAD_HEADER, "malformed_header"),
    BROKER_ERROR (BAD_FRAMES, "bad_frames"),
    BROKER_ERROR (BAD_OVERSIZE, "oversize"),
    BROKER_ERROR (BAD_UNKNOWN_PEER, "unknown_peer"),
    BROKER_ERROR (BAD_UNKNOWN_STAGE, "unknown_stage"),
    BROKER_ERROR (BAD_UNKNOWN_WORK, "unknown_work"),
    BROKER_ERROR (BAD_NO_CREDIT, "submit_without_credit"),
    BROKER_ERROR (BAD_UNEXPECTED, "unexpected_command"),
    BROKER_ERROR (BAD_UNROUTABLE, "unroutable"),
    [BAD_UNAUTHORISED] = { "unauthorised", "errors", "drift_broker_refused_total", false,
                           "reason", "unauthorised", BROKER_REFUSED_HELP,
                           COUNTER_AT (broker_t, bad [BAD_UNAUTHORISED]) },
    [BAD_FORBIDDEN] = { "forbidden", "errors", "drift_broker_refused_total", false,
                        "reason", "forbidden", BROKER_REFUSED_HELP,
                        COUNTER_AT (broker_t, bad [BAD_FORBIDDEN]) }
};

//  --------------------------------------------------------------------------
//  Bad input: counted always, logged within a budget so floods stay cheap

//  Whether one more line fits this second's budget of bad-input lines;
//  counts it as suppressed when not.
static bool
s_log_budget (broker_t *self)
{
    int64_t second = clock_mono_ms () / 1000;
    if (second != self->bad_log_second) {
        self->bad_log_second = second;
        self->bad_logs_left = BROKER_BAD_LOGS_PER_SEC;
    }
    if (self->bad_logs_left == 0) {
        self->bad_logs_suppressed++;
        return false;
    }
    self->bad_logs_left--;
    return true;
}

static void
s_bad (broker_t *self, bad_kind_t kind, peer_t *peer, const char *detail)
{
    self->bad [kind]++;
    if (!s_log_budget (self))
        return;
    log_warn ("bad input from peer, dropped", "problem", s_errors [kind].key,
              "detail", detail, "peer", peer ? peer->instance : NULL,
              "suppressed_before", self->bad_logs_suppressed
                  ? LOG_NUM (self->bad_logs_suppressed) : NULL);
    self->bad_logs_suppressed = 0;
}

//  A client refused at the CURVE handshake (plaintext, a key not on the
//  list, or no ZAP handler): logged within the same budget.
static void
s_bad_handshake (broker_t *self, const char *event, const char *address)
{
    if (!s_log_budget (self))
        return;
    log_warn ("broker client refused at the handshake", "event", event, "address", address);
}

//  --------------------------------------------------------------------------
//  Items

static item_t *
s_item_new (broker_t *self, uint32_t attempt, zmq_msg_t *body)
{
    item_t *item = (item_t *) calloc (1, sizeof *item);
    assert (item);
    item->id = ++self->next_id;
    item->attempt = attempt;
    zmq_msg_init (&item->body);
    zmq_msg_move (&item->body, body);
    self->items++;
    if (self->items > self->items_peak)
        self->items_peak = self->items;
    return item;
}

static void
s_item_destroy (broker_t *self, item_t *item)
{
    zmq_msg_close (&item->body);
    free (item);
    self->items--;
}

//  --------------------------------------------------------------------------
//  Stages

static int
s_stage_find (broker_t *self, const char *name)
{
    for (int i = 0; i < self->stage_count; i++)
        if (streq (self->stages [i].name, name))
            return i;
    return -1;
}

//  How many more envelopes stage may be promised: its bound, less what is
//  queued there, in flight one stage before it, or granted to producers.
static long
s_stage_room (broker_t *self, int index)
{
    stage_t *stage = &self->stages [index];
    long used = (long) (stage->queue.size + stage->granted);
    for (int i = 0; i < self->stage_count; i++)
        if (self->stages [i].next == index)
            used += (long) self->stages [i].in_flight;
    return self->config.capacity - used;
}

static void
s_lru_remove (stage_t *stage, peer_t *worker)
{
    if (!worker->waiting)
        return;
    if (worker->wait_prev)
        worker->wait_prev->wait_next = worker->wait_next;
    else
        stage->lru_head = worker->wait_next;
    if (worker->wait_next)
        worker->wait_next->wait_prev = worker->wait_prev;
    else
        stage->lru_tail = worker->wait_prev;
    worker->wait_prev = worker->wait_next = NULL;
    worker->waiting = false;
}

static void
s_lru_append (stage_t *stage, peer_t *worker)
{
    if (worker->waiting)
        return;
    worker->wait_next = NULL;
    worker->wait_prev = stage->lru_tail;
    if (stage->lru_tail)
        stage->lru_tail->wait_next = worker;
    else
        stage->lru_head = worker;
    stage->lru_tail = worker;
    worker->waiting = true;
}

//  --------------------------------------------------------------------------
//  Peers

static void
s_peer_key (zmq_msg_t *routing_id, char *key)
{
    static const char hex [] = "0123456789abcdef";
    const uint8_t *data = (const uint8_t *) zmq_msg_data (routing_id);
    size_t size = zmq_msg_size (routing_id);
    for (size_t i = 0; i < size && i < 256; i++) {
        *key++ = hex [data [i] >> 4];
        *key++ = hex [data [i] & 15];
    }
    *key = 0;
}

static int64_t
s_expiry (broker_t *self)
{
    return clock_mono_ms () + (int64_t) self->config.heartbeat_ms * self->config.liveness;
}

static peer_t *
s_peer_new (broker_t *self, zmq_msg_t *routing_id, const char *key, peer_kind_t kind)
{
    peer_t *peer = (peer_t *) calloc (1, sizeof *peer);
    assert (peer);
    strcpy (peer->key, key);
    zmq_msg_init (&peer->routing_id);
    zmq_msg_copy (&peer->routing_id, routing_id);
    peer->kind = kind;
    peer->stage = -1;
    peer->heard_at = peer->connected_at = clock_mono_ms ();
    peer->expires_at = s_expiry (self);
    zhashx_insert (self->peers, key, peer);
    return peer;
}

//  Forget a peer. A worker's in-flight items go back to the head of its
//  stage's queue in their original order; a producer's unused credit returns
//  to its stage.
static void
s_peer_remove (broker_t *self, peer_t *peer, const char *why)
{
    if (peer->kind == PEER_WORKER && peer->stage >= 0) {
        stage_t *stage = &self->stages [peer->stage];
        size_t requeued = peer->inflight.size;
        while (peer->inflight.tail) {
            item_t *item = peer->inflight.tail;
            s_list_remove (&peer->inflight, item);
            s_list_push_head (&stage->queue, item);
        }
        stage->in_flight -= requeued;
        stage->requeued += requeued;
        stage->credit -= peer->credit;
        stage->workers--;
        s_lru_remove (stage, peer);
        log_info ("worker removed", "stage", stage->name, "worker", peer->instance,
                  "why", why, "requeued", LOG_NUM (requeued));
    }
    else
    if (peer->kind == PEER_PRODUCER && peer->stage >= 0) {
        stage_t *stage = &self->stages [peer->stage];
        stage->granted -= peer->credit;
        stage->producers--;
        log_info ("producer removed", "stage", stage->name, "producer", peer->instance,
                  "why", why);
    }
    else
    if (peer->kind == PEER_TAIL)
        log_info ("tail removed", "tail", peer->instance, "why", why);
    zhashx_delete (self->peers, peer->key);     // the destructor frees it
}

static void
s_send_disconnect (broker_t *self, zmq_msg_t *routing_id, const char *reason)
{
    drp_header_t header = { .command = DRP_DISCONNECT };
    snprintf (header.name, sizeof header.name, "%s", reason);
    drp_send (self->router_handle, routing_id, &header, NULL, ZMQ_DONTWAIT);
}

//  --------------------------------------------------------------------------
//  Dispatch and credit

//  Send a batch of items to a worker in one WORK whose body frame holds the
//  items' envelopes back to back. Items keep their own bodies until DONE.
//  Returns -1 if the worker cannot be reached.
static int
s_send_work (broker_t *self, peer_t *worker, item_t **batch, int count)
{
    drp_header_t header = { .command = DRP_WORK, .count = (uint32_t) count };
    size_t total = 0;
    for (int i = 0; i < count; i++) {
        header.items [i].id = batch [i]->id;
        header.items [i].attempt = batch [i]->attempt;
        header.items [i].size = (uint32_t) zmq_msg_size (&batch [i]->body);
        total += header.items [i].size;
    }
    zmq_msg_t body;
    zmq_msg_init_size (&body, total);
    uint8_t *cursor = (uint8_t *) zmq_msg_data (&body);
    for (int i = 0; i < count; i++) {
        memcpy (cursor, zmq_msg_data (&batch [i]->body), header.items [i].size);
        cursor += header.items [i].size;
    }
    int rc = drp_send_bodies (self->router_handle, &worker->routing_id, &header, &body,
                              total > 0, ZMQ_DONTWAIT);
    zmq_msg_close (&body);
    return rc;
}

//  Hand queued items to the least recently used workers with credit, as
//  many to each as its credit, the batch limit and the next stage's room
//  allow.
static void
s_dispatch_stage (broker_t *self, int index)
{
    stage_t *stage = &self->stages [index];
    while (stage->queue.head && stage->lru_head) {
        long room = stage->next >= 0 ? s_stage_room (self, stage->next) : DRP_BATCH_MAX;
        if (room <= 0)
            break;          // next stage is full: this one waits
        peer_t *worker = stage->lru_head;
        long count = (long) worker->credit;
        if (count > room)
            count = room;
        if (count > DRP_BATCH_MAX)
            count = DRP_BATCH_MAX;
        item_t *batch [DRP_BATCH_MAX];
        int taken = 0;
        for (item_t *item = stage->queue.head; item && taken < count; item = item->next)
            batch [taken++] = item;
        if (s_send_work (self, worker, batch, taken)) {
            s_bad (self, BAD_UNROUTABLE, worker, zmq_strerror (errno));
            s_peer_remove (self, worker, "unroutable");
            continue;
        }
        for (int i = 0; i < taken; i++) {
            s_list_remove (&stage->queue, batch [i]);
            s_list_push_tail (&worker->inflight, batch [i]);
        }
        stage->in_flight += (size_t) taken;
        stage->batches++;
        stage->credit -= (size_t) taken;
        worker->credit -= (uint32_t) taken;
        s_lru_remove (stage, worker);
        if (worker->credit > 0)
            s_lru_append (stage, worker);   // now the most recently used
    }
}

//  Top up producers' credit from the room their stage has. Credit is sent
//  when a producer has used half its window (or all of it), so GRANTs stay
//  few under load.
static void
s_grant_credit (broker_t *self)
{
    if (self->draining)
        return;
    zlistx_t *producers = NULL;
    for (peer_t *peer = (peer_t *) zhashx_first (self->peers); peer;
         peer = (peer_t *) zhashx_next (self->peers)) {
        if (peer->kind != PEER_PRODUCER || peer->stage < 0)
            continue;
        uint32_t want = peer->window - peer->credit;
        if (want == 0 || (peer->credit > 0 && want < peer->window / 2))
            continue;
        if (!producers)
            producers = zlistx_new ();
        zlistx_add_end (producers, peer);
    }
    if (!producers)
        return;
    //  zhashx order is arbitrary, which spreads scarce room fairly enough.
    for (peer_t *peer = (peer_t *) zlistx_first (producers); peer;
         peer = (peer_t *) zlistx_next (producers)) {
        long room = s_stage_room (self, peer->stage);
        if (room <= 0)
            continue;
        uint32_t grant = peer->window - peer->credit;
        if ((long) grant > room)
            grant = (uint32_t) room;
        drp_header_t header = { .command = DRP_GRANT, .count = grant };
        if (drp_send (self->router_handle, &peer->routing_id, &header, NULL, ZMQ_DONTWAIT) == 0) {
            peer->credit += grant;
            self->stages [peer->stage].granted += grant;
        }
    }
    zlistx_destroy (&producers);
}

static void
s_dispatch (broker_t *self)
{
    //  Last stage first: finishing work frees room for the stages before it.
    for (int i = self->stage_count - 1; i >= 0; i--)
        s_dispatch_stage (self, i);
    s_grant_credit (self);
}

//  --------------------------------------------------------------------------
//  Log fan-out to tails

static void
s_fan_out_line (broker_t *self, uint8_t level, uint64_t sender_shed, const char *role,
                const char *instance, const void *line, size_t size)
{
    self->log_lines++;
    for (peer_t *peer = (peer_t *) zhashx_first (self->peers); peer;
         peer = (peer_t *) zhashx_next (self->peers)) {
        if (peer->kind != PEER_TAIL || level < peer->min_level)
            continue;
        if (peer->role_filter [0] && !streq (peer->role_filter, role))
            continue;
        drp_header_t header = { .command = DRP_LINE, .status = level, .shed = sender_shed,
                                .broker_shed = peer->shed };
        snprintf (header.name, sizeof header.name, "%s", role);
        snprintf (header.instance, sizeof header.instance, "%s", instance);
        if (drp_send_bytes (self->router_handle, &peer->routing_id, &header, line, size,
                            ZMQ_DONTWAIT)) {
            peer->shed++;
            self->log_shed++;
        }
    }
}

//  The broker's own lines go to its tails directly.
static void
s_publish_own_line (void *arg, log_level_t level, const char *line)
{
    broker_t *self = (broker_t *) arg;
    if (self->router_handle)
        s_fan_out_line (self, (uint8_t) level, 0, log_role (), log_instance (), line,
                        strlen (line));
}

//  --------------------------------------------------------------------------
//  Stats

//  Workers (or producers) by stage, then instance: the order an operator
//  reads them in, whatever the peers table's order.
static int
s_compare_peers (const void *a, const void *b)
{
    const peer_t *left = *(const peer_t * const *) a;
    const peer_t *right = *(const peer_t * const *) b;
    if (left->stage != right->stage)
        return left->stage < right->stage ? -1 : 1;
    return strcmp (left->instance, right->instance);
}

//  One entry per registered peer of kind: who it is, what it runs, its
//  credit, and how long since it was last heard and since it registered. An
//  expired peer is gone from the peers table, so it is gone from here too.
static json_t *
s_peers_json (broker_t *self, peer_kind_t kind)
{
    size_t count = 0;
    peer_t **sorted = (peer_t **) calloc (zhashx_size (self->peers) + 1, sizeof *sorted);
    assert (sorted);
    for (peer_t *peer = (peer_t *) zhashx_first (self->peers); peer;
         peer = (peer_t *) zhashx_next (self->peers))
        if (peer->kind == kind && peer->stage >= 0)
            sorted [count++] = peer;
    qsort (sorted, count, sizeof *sorted, s_compare_peers);
    int64_t now = clock_mono_ms ();
    json_t *list = json_array ();
    for (size_t i = 0; i < count; i++) {
        peer_t *peer = sorted [i];
        json_t *entry = json_object ();
        json_object_set_new (entry, "stage", json_string (self->stages [peer->stage].name));
        json_object_set_new (entry, "instance", json_string (peer->instance));
        json_object_set_new (entry, "version", json_string (peer->version));
        if (kind == PEER_WORKER) {
            json_object_set_new (entry, "ready_credit", json_integer (peer->ready_credit));
            json_object_set_new (entry, "credit", json_integer (peer->credit));
            json_object_set_new (entry, "in_flight",
                                 json_integer ((json_int_t) peer->inflight.size));
        }
        else {
            json_object_set_new (entry, "window", json_integer (peer->window));
            json_object_set_new (entry, "granted", json_integer (peer->credit));
        }
        json_object_set_new (entry, "heard_ms_ago", json_integer (now - peer->heard_at));
        json_object_set_new (entry, "connected_ms_ago", json_integer (now - peer->connected_at));
        json_array_append_new (list, entry);
    }
    free (sorted);
    return list;
}

static char *
s_stats_json (broker_t *self)
{
    json_t *root = json_object ();
    json_t *stages = json_array ();
    for (int i = 0; i < self->stage_count; i++) {
        stage_t *s = &self->stages [i];
        json_t *stage = json_object ();
        json_object_set_new (stage, "name", json_string (s->name));
        counters_json (s_stage_counters, STAGE_COUNTERS, s, stage);
        json_array_append_new (stages, stage);
    }
    json_object_set_new (root, "stages", stages);
    json_object_set_new (root, "workers", s_peers_json (self, PEER_WORKER));
    json_object_set_new (root, "producers", s_peers_json (self, PEER_PRODUCER));
    json_object_set_new (root, "capacity", json_integer (self->config.capacity));
    json_object_set_new (root, "peers", json_integer ((json_int_t) zhashx_size (self->peers)));
    json_object_set_new (root, "draining", json_boolean (self->draining));
    json_object_set_new (root, "curve", json_boolean (self->role_keys != NULL));
    counters_json (s_broker_counters, BROKER_COUNTERS, self, root);
    counters_json (s_errors, BAD_COUNT, self, root);
    char *text = json_dumps (root, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref (root);
    return text;
}

//  --------------------------------------------------------------------------
//  Metrics: the stats above as Prometheus series (docs/METRICS.md)

static void
s_metrics_register (broker_t *self)
{
    counters_register (s_broker_counters, BROKER_COUNTERS, self->broker_series, NULL, NULL);
    counters_register (s_errors, BAD_COUNT, self->error_series, NULL, NULL);
    for (int i = 0; i < self->stage_count; i++)
        counters_register (s_stage_counters, STAGE_COUNTERS, self->stage_series [i],
                           "stage", self->stages [i].name);
}

//  Copy the numbers into the series: a few relaxed stores per stage, once
//  per loop turn.
static void
s_metrics_publish (broker_t *self)
{
    counters_publish (s_broker_counters, BROKER_COUNTERS, self, self->broker_series);
    counters_publish (s_errors, BAD_COUNT, self, self->error_series);
    for (int i = 0; i < self->stage_count; i++)
        counters_publish (s_stage_counters, STAGE_COUNTERS, &self->stages [i],
                          self->stage_series [i]);
}

//  --------------------------------------------------------------------------
//  Commands from peers

static void
s_on_ready (broker_t *self, zmq_msg_t *routing_id, const char *key, peer_t *peer,
            drp_header_t *header)
{
    int index = s_stage_find (self, header->name);
    if (index < 0 || header->count == 0) {
        s_bad (self, BAD_UNKNOWN_STAGE, peer, header->name);
        s_send_disconnect (self, routing_id, index < 0 ? "unknown stage" : "no credit");
        return;
    }
    if (peer)       // registering again: start over, nothing it held is kept
        s_peer_remove (self, peer, "registered again");
    peer = s_peer_new (self, routing_id, key, header->command == DRP_READY
                                              ? PEER_WORKER : PEER_PRODUCER);
    snprintf (peer->instance, sizeof peer->instance, "%s", header->instance);
    snprintf (peer->version, sizeof peer->version, "%s", header->version);
    peer->stage = index;
    stage_t *stage = &self->stages [index];
    uint32_t amount = header->count > BROKER_MAX_CREDIT ? BROKER_MAX_CREDIT : header->count;
    if (peer->kind == PEER_WORKER) {
        peer->credit = amount;
        peer->ready_credit = amount;
        stage->credit += amount;
        stage->workers++;
        s_lru_append (stage, peer);
        log_info ("worker registered", "stage", stage->name, "worker", peer->instance,
                  "version", peer->version [0] ? peer->version : NULL,
                  "credit", LOG_NUM (amount));
    }
    else {
        peer->window = amount;
        stage->producers++;
        log_info ("producer registered", "stage", stage->name, "producer", peer->instance,
                  "version", peer->version [0] ? peer->version : NULL,
                  "window", LOG_NUM (amount));
    }
}

//  One finished item: forward its new body (size bytes at data), or end it
//  here.
static void
s_finish_item (broker_t *self, peer_t *worker, drp_item_t *done, const uint8_t *data)
{
    stage_t *stage = &self->stages [worker->stage];
    item_t *item = worker->inflight.head;
    while (item && item->id != done->id)
        item = item->next;      // DONE comes in order, so this is nearly always the head
    if (!item) {
        s_bad (self, BAD_UNKNOWN_WORK, worker, "DONE for work the worker does not hold");
        return;
    }
    s_list_remove (&worker->inflight, item);
    stage->in_flight--;
    worker->credit++;
    stage->credit++;
    s_lru_append (stage, worker);
    stage->done++;

    if (done->status == DRP_DONE_FAILED) {
        stage->failed++;
        log_warn ("stage failed an envelope, not forwarded", "stage", stage->name,
                  "worker", worker->instance);
        s_item_destroy (self, item);
        return;
    }
    if (done->status == DRP_DONE_END || stage->next < 0) {
        s_item_destroy (self, item);
        return;
    }
    if (done->size > (uint32_t) self->config.max_body) {
        s_bad (self, BAD_OVERSIZE, worker, "forwarded envelope larger than max-body");
        stage->dropped++;
        s_item_destroy (self, item);
        return;
    }
    zmq_msg_close (&item->body);
    zmq_msg_init_size (&item->body, done->size);
    memcpy (zmq_msg_data (&item->body), data, done->size);
    s_list_push_tail (&self->stages [stage->next].queue, item);
}

//  A DONE batch; its body frame (if any) holds the forwarded envelopes back
//  to back, and its size was checked against the header.
static void
s_on_done (broker_t *self, peer_t *worker, drp_header_t *header, zmq_msg_t *body)
{
    const uint8_t *cursor = body ? (const uint8_t *) zmq_msg_data (body) : NULL;
    for (uint32_t i = 0; i < header->count; i++) {
        s_finish_item (self, worker, &header->items [i], cursor);
        if (cursor)
            cursor += header->items [i].size;
    }
}

static void
s_on_submit (broker_t *self, peer_t *producer, drp_header_t *header, zmq_msg_t *body)
{
    stage_t *stage = &self->stages [producer->stage];
    if (producer->credit == 0) {
        s_bad (self, BAD_NO_CREDIT, producer, "SUBMIT beyond granted credit");
        return;
    }
    producer->credit--;
    stage->granted--;
    if (zmq_msg_size (body) > (size_t) self->config.max_body) {
        s_bad (self, BAD_OVERSIZE, producer, "envelope larger than max-body");
        return;
    }
    stage->submitted++;
    s_list_push_tail (&stage->queue, s_item_new (self, header->count, body));
}

static void
s_on_subscribe (broker_t *self, zmq_msg_t *routing_id, const char *key, peer_t *peer,
                drp_header_t *header)
{
    if (peer)
        s_peer_remove (self, peer, "subscribed again");
    peer = s_peer_new (self, routing_id, key, PEER_TAIL);
    peer->min_level = header->status;
    snprintf (peer->role_filter, sizeof peer->role_filter, "%s", header->name);
    snprintf (peer->instance, sizeof peer->instance, "tail");
    log_info ("tail subscribed", "role_filter", header->name [0] ? header->name : "*",
              "level", log_level_name ((log_level_t) (header->status & 3)));
}

//  --------------------------------------------------------------------------
//  Who may do what (CURVE only)

//  Whether roles allow a peer of kind to work or feed stage index.
static bool
s_role_allows (broker_t *self, const char *roles, peer_kind_t kind, int index)
{
    if (kind == PEER_WORKER)
        return index >= 0 && rolekeys_has (roles, self->stages [index].name);
    if (kind == PEER_PRODUCER)
        //  Only ingest and the replayer bring reports in, and only at the
        //  start: a producer into a later stage would skip its checks.
        return index == 0
            && (rolekeys_has (roles, "ingest") || rolekeys_has (roles, "replayer"));
    return rolekeys_has (roles, "operator");
}

//  Refuse a message its key may not send: counted, logged within the
//  budget, and answered DISCONNECT with why (the peer's link logs it),
//  except on the log channel, which is never answered.
static void
s_refuse (broker_t *self, bad_kind_t kind, zmq_msg_t *routing_id, peer_t *peer,
          drp_header_t *header, const char *user, const char *why)
{
    char detail [512];
    snprintf (detail, sizeof detail, "%s %s%s%s (key %s)", drp_command_name (header->command),
              why, header->name [0] ? ": " : "", header->name, user ? user : "none");
    s_bad (self, kind, peer, detail);
    if (header->command != DRP_LOG)
        s_send_disconnect (self, routing_id, why);
}

//  With CURVE, check the message's key (its User-Id, read from the header
//  frame at receipt) against the allowed keys and what its roles permit.
//  True when the message may be handled; *user is the key.
static bool
s_authorised (broker_t *self, zmq_msg_t *routing_id, zmq_msg_t *header_frame, peer_t *peer,
              drp_header_t *header, const char **user)
{
    *user = zmq_msg_gets (header_frame, "User-Id");
    const char *roles = rolekeys_roles (self->role_keys, *user);
    if (!roles) {
        //  Let in at the handshake, removed from the list since.
        s_refuse (self, BAD_UNAUTHORISED, routing_id, peer, header, *user,
                  "key not allowed on this broker");
        return false;
    }
    bool allowed = true;
    int stage = s_stage_find (self, header->name);
    switch (header->command) {
        case DRP_READY:
        case DRP_OPEN:
            //  A stage that does not exist is refused as such, after this.
            allowed = stage < 0
                   || s_role_allows (self, roles, header->command == DRP_READY
                                                  ? PEER_WORKER : PEER_PRODUCER, stage);
            break;
        case DRP_STATS:
        case DRP_SUBSCRIBE:
            allowed = rolekeys_has (roles, "operator");
            break;
        case DRP_LOG:
            break;          // every role logs
        default:
            //  The rest speak for a registration: only its own key may.
            allowed = !peer || streq (peer->user, *user);
            break;
    }
    if (!allowed)
        s_refuse (self, BAD_FORBIDDEN, routing_id, peer, header, *user,
                  "forbidden for this key's roles");
    return allowed;
}

//  The allowed keys may have changed: read them again at most once a
//  second, and drop every peer whose key lost what it registered as.
static void
s_role_keys_refresh (broker_t *self)
{
    int64_t now = clock_mono_ms ();
    if (!self->role_keys || now - self->role_keys_read < BROKER_ROLE_KEYS_MS)
        return;
    self->role_keys_read = now;
    if (rolekeys_reload (self->role_keys) == 0)
        return;
    log_info ("broker role keys changed", "keys", LOG_NUM (rolekeys_size (self->role_keys)));
    zlistx_t *lost = zlistx_new ();
    for (peer_t *peer = (peer_t *) zhashx_first (self->peers); peer;
         peer = (peer_t *) zhashx_next (self->peers)) {
        const char *roles = rolekeys_roles (self->role_keys, peer->user);
        if (!roles || !s_role_allows (self, roles, peer->kind, peer->stage))
            zlistx_add_end (lost, peer);
    }
    for (peer_t *peer = (peer_t *) zlistx_first (lost); peer;
         peer = (peer_t *) zlistx_next (lost)) {
        self->bad [BAD_UNAUTHORISED]++;
        s_send_disconnect (self, &peer->routing_id, "key no longer allowed");
        s_peer_remove (self, peer, "key no longer allowed");
    }
    zlistx_destroy (&lost);
}

//  One message from the ROUTER: [routing id][header][bodies...].
static void
s_handle_message (broker_t *self, zmq_msg_t *frames, int count)
{
    zmq_msg_t *routing_id = &frames [0];
    char key [2 * 256 + 1];
    s_peer_key (routing_id, key);
    peer_t *peer = (peer_t *) zhashx_lookup (self->peers, key);

    drp_header_t header;
    const char *reason = "missing header";
    if (count < 2
    ||  drp_decode ((const uint8_t *) zmq_msg_data (&frames [1]), zmq_msg_size (&frames [1]),
                    &header, &reason)) {
        bad_kind_t kind = streq (reason, "bad signature") ? BAD_SIGNATURE
                        : streq (reason, "unsupported version") ? BAD_VERSION
                        : streq (reason, "unknown command") ? BAD_COMMAND : BAD_HEADER;
        s_bad (self, kind, peer, reason);
        return;
    }
    if (count != 2 + drp_body_count (&header)
    ||  (header.command == DRP_DONE && count == 3
         && zmq_msg_size (&frames [2]) != drp_batch_size (&header))) {
        s_bad (self, BAD_FRAMES, peer, drp_command_name (header.command));
        return;
    }
    const char *user = NULL;
    if (self->role_keys && !s_authorised (self, routing_id, &frames [1], peer, &header, &user))
        return;
    if (peer) {
        peer->heard_at = clock_mono_ms ();
        peer->expires_at = s_expiry (self);
    }

    switch (header.command) {
        case DRP_READY:
        case DRP_OPEN:
        case DRP_SUBSCRIBE:
            if (header.command == DRP_SUBSCRIBE)
                s_on_subscribe (self, routing_id, key, peer, &header);
            else
                s_on_ready (self, routing_id, key, peer, &header);
            peer = (peer_t *) zhashx_lookup (self->peers, key);
            if (peer && user)       // bound to its key from now on
                snprintf (peer->user, sizeof peer->user, "%s", user);
            return;
        case DRP_STATS: {
            char *json = s_stats_json (self);
            drp_header_t reply = { .command = DRP_STATS };
            zmq_msg_t body;
            zmq_msg_init_size (&body, strlen (json));
            memcpy (zmq_msg_data (&body), json, strlen (json));
            if (drp_send (self->router_handle, routing_id, &reply, &body, ZMQ_DONTWAIT))
                s_bad (self, BAD_UNROUTABLE, NULL, "stats reply");
            zmq_msg_close (&body);
            free (json);
            return;
        }
        case DRP_LOG:
            s_fan_out_line (self, header.status, header.shed, header.name, header.instance,
                            zmq_msg_data (&frames [2]), zmq_msg_size (&frames [2]));
            return;
        case DRP_HEARTBEAT:
        case DRP_DISCONNECT:
        case DRP_DONE:
        case DRP_SUBMIT:
            break;
        default:
            s_bad (self, BAD_UNEXPECTED, peer, drp_command_name (header.command));
            return;
    }
    //  The rest need a registered peer of the right kind.
    if (header.command == DRP_DISCONNECT) {
        if (peer)
            s_peer_remove (self, peer, header.name [0] ? header.name : "disconnected");
        return;
    }
    peer_kind_t needed = header.command == DRP_DONE ? PEER_WORKER : PEER_PRODUCER;
    if (!peer || (header.command != DRP_HEARTBEAT && peer->kind != needed)) {
        s_bad (self, BAD_UNKNOWN_PEER, peer, drp_command_name (header.command));
        s_send_disconnect (self, routing_id, "unknown peer, register again");
        return;
    }
    if (header.command == DRP_DONE)
        s_on_done (self, peer, &header, count == 3 ? &frames [2] : NULL);
    else
    if (header.command == DRP_SUBMIT)
        s_on_submit (self, peer, &header, &frames [2]);
}

//  --------------------------------------------------------------------------
//  Heartbeats and expiry

static void
s_heartbeat (broker_t *self)
{
    int64_t now = clock_mono_ms ();
    if (now < self->next_heartbeat)
        return;
    self->next_heartbeat = now + self->config.heartbeat_ms;
    zlistx_t *expired = zlistx_new ();
    drp_header_t header = { .command = DRP_HEARTBEAT };
    for (peer_t *peer = (peer_t *) zhashx_first (self->peers); peer;
         peer = (peer_t *) zhashx_next (self->peers)) {
        if (peer->expires_at < now)
            zlistx_add_end (expired, peer);
        else
            drp_send (self->router_handle, &peer->routing_id, &header, NULL, ZMQ_DONTWAIT);
    }
    for (peer_t *peer = (peer_t *) zlistx_first (expired); peer;
         peer = (peer_t *) zlistx_next (expired))
        s_peer_remove (self, peer, "missed heartbeats");
    zlistx_destroy (&expired);
}

//  --------------------------------------------------------------------------
//  Draining on $TERM: no new credit, finish what is queued, then stop.

static bool
s_drained (broker_t *self)
{
    for (int i = 0; i < self->stage_count; i++)
        if (self->stages [i].queue.size || self->stages [i].in_flight)
            return false;
    return true;
}

static void
s_finish_drain (broker_t *self)
{
    size_t left = self->items;
    if (left)
        log_warn ("drain deadline passed, work left to the journal", "items", LOG_NUM (left));
    for (peer_t *peer = (peer_t *) zhashx_first (self->peers); peer;
         peer = (peer_t *) zhashx_next (self->peers))
        s_send_disconnect (self, &peer->routing_id, "broker stopping");
    log_info ("broker stopped", "items_left", LOG_NUM (left));
    self->terminated = true;
}

//  Loopback and local endpoints: reachable from this host only.
static bool
s_local_endpoint (const char *endpoint)
{
    return strncmp (endpoint, "ipc://", 6) == 0 || strncmp (endpoint, "inproc://", 9) == 0
        || strncmp (endpoint, "tcp://127.", 10) == 0 || strncmp (endpoint, "tcp://[::1]:", 12) == 0
        || strncmp (endpoint, "tcp://localhost:", 16) == 0;
}

//  Bind, unless CURVE failed to set up (fail closed) or the broker is
//  plaintext and the address reaches beyond this host without --insecure
//  (-2). The port, or -1.
static int
s_bind (broker_t *self, const char *endpoint)
{
    if (self->unusable)
        return -1;
    if (!self->role_keys && !s_local_endpoint (endpoint)) {
        if (!self->config.insecure)
            return -2;
        log_warn ("broker bound in plaintext beyond this host (--insecure): anyone who "
                  "reaches it can join the pipeline and read every tenant's reports",
                  "endpoint", endpoint);
    }
    return zsock_bind (self->router, "%s", endpoint);
}

//  CURVE on the router: the broker's keypair, the allowed role keys, and
//  the enforced ZAP domain. On any failure the broker binds nothing.
static void
s_curve_setup (broker_t *self)
{
    char error [512];
    zcert_t *cert = secret_cert_load (self->curve_cert, error, sizeof error);
    if (!cert) {
        log_error ("broker keypair unreadable: refusing to serve (drift keys init writes "
                   "KEYS-DIR/broker.key and broker.key_secret)", "file", self->curve_cert,
                   "error", error);
        self->unusable = true;
    }
    else
    if (zap_secure_server (self->router, cert, ZAP_BROKER_DOMAIN))
        self->unusable = true;
    else {
        self->role_keys = rolekeys_new (self->role_keys_dir ? self->role_keys_dir : "");
        self->role_keys_read = clock_mono_ms ();
        log_info ("broker serves CURVE clients", "role_keys", self->role_keys_dir,
                  "keys", LOG_NUM (rolekeys_size (self->role_keys)));
        //  Refusals at the handshake never reach the broker as messages:
        //  libzmq reports them on the socket's monitor, where they are counted.
        self->monitor = zactor_new (zmonitor, self->router);
        zstr_sendx (self->monitor, "LISTEN", "HANDSHAKE_FAILED_NO_DETAIL",
                    "HANDSHAKE_FAILED_PROTOCOL", "HANDSHAKE_FAILED_AUTH", NULL);
        zstr_send (self->monitor, "START");
        zsock_wait (self->monitor);
    }
    secret_cert_destroy (&cert);
}

static void
s_on_pipe (broker_t *self)
{
    zmsg_t *request = zmsg_recv (self->pipe);
    if (!request) {
        self->terminated = true;
        return;
    }
    char *command = zmsg_popstr (request);
    if (streq (command, "$TERM")) {
        self->draining = true;
        self->drain_deadline = clock_mono_ms () + self->config.drain_ms;
        log_info ("broker draining", "items", LOG_NUM (self->items));
    }
    else
    if (streq (command, "BIND")) {
        char *endpoint = zmsg_popstr (request);
        int port = endpoint ? s_bind (self, endpoint) : -1;
        if (port < 0 && self->unusable)
            log_error ("broker not bound: its CURVE set-up failed", "endpoint", endpoint);
        else
        if (port == -2)
            log_error ("refusing to bind a plaintext broker beyond this host: give it its "
                       "keypair (--curve-cert) or, knowing anyone who reaches the address "
                       "can join the pipeline, --insecure 1", "endpoint", endpoint);
        else
        if (port < 0)
            log_error ("cannot bind broker endpoint", "endpoint", endpoint,
                       "error", zmq_strerror (errno));
        if (port < 0)
            port = -1;
        else
            log_info ("broker listening", "endpoint", endpoint, "port", LOG_NUM (port));
        zsock_send (self->pipe, "i", port);
        zstr_free (&endpoint);
    }
    else
    if (streq (command, "STATS")) {
        char *json = s_stats_json (self);
        zstr_send (self->pipe, json);
        free (json);
    }
    zstr_free (&command);
    zmsg_destroy (&request);
}

//  --------------------------------------------------------------------------
//  The actor

static void
s_peer_destructor (void **item)
{
    peer_t *peer = (peer_t *) *item;
    while (peer->inflight.head) {
        item_t *work = peer->inflight.head;
        s_list_remove (&peer->inflight, work);
        zmq_msg_close (&work->body);
        free (work);
    }
    zmq_msg_close (&peer->routing_id);
    free (peer);
    *item = NULL;
}

static int
s_parse_pipeline (broker_t *self)
{
    char *rest = self->pipeline;
    char *name;
    while ((name = strsep (&rest, ","))) {
        if (!*name || self->stage_count == BROKER_MAX_STAGES || strlen (name) > DRP_NAME_MAX
        ||  s_stage_find (self, name) >= 0)
            return -1;
        stage_t *stage = &self->stages [self->stage_count];
        snprintf (stage->name, sizeof stage->name, "%s", name);
        stage->next = -1;
        if (self->stage_count > 0)
            self->stages [self->stage_count - 1].next = self->stage_count;
        self->stage_count++;
    }
    return self->stage_count > 0 ? 0 : -1;
}

void
broker_actor (zsock_t *pipe, void *args)
{
    broker_t *self = (broker_t *) zmalloc (sizeof *self);
    self->config = *(broker_config_t *) args;
    snprintf (self->pipeline, sizeof self->pipeline, "%s",
              self->config.pipeline ? self->config.pipeline : BROKER_DEFAULT_PIPELINE);
    self->config.pipeline = self->pipeline;
    bool curve = self->config.curve_cert && *self->config.curve_cert;
    self->curve_cert = curve ? strdup (self->config.curve_cert) : NULL;
    self->role_keys_dir = curve && self->config.role_keys ? strdup (self->config.role_keys) : NULL;
    self->config.curve_cert = self->curve_cert;
    self->config.role_keys = self->role_keys_dir;
    self->pipe = pipe;
    if (s_parse_pipeline (self)) {
        log_error ("bad pipeline: stage names must be distinct, non-empty, at most 16",
                   "pipeline", self->config.pipeline);
        zsock_signal (pipe, 1);
        free (self->curve_cert);
        free (self->role_keys_dir);
        free (self);
        return;
    }
    s_metrics_register (self);
    self->peers = zhashx_new ();
    zhashx_set_destructor (self->peers, s_peer_destructor);
    self->router = zsock_new (ZMQ_ROUTER);
    self->router_handle = zsock_resolve (self->router);
    zsock_set_router_mandatory (self->router, 1);
    //  No handover: peers never choose their routing ids, and with handover
    //  any client could claim a connected peer's id and take its traffic.
    zsock_set_router_handover (self->router, 0);
    //  Credit bounds what any peer has queued, so high-water marks only need
    //  to be above the most credit a peer can hold.
    zsock_set_sndhwm (self->router, 100000);
    zsock_set_rcvhwm (self->router, 100000);
    //  libzmq drops a connection that sends more than this; smaller
    //  oversize bodies are counted and refused by the broker itself.
    zsock_set_maxmsgsize (self->router, (int64_t) self->config.max_body * 2 + 65536);
    zsock_set_linger (self->router, 1000);
    if (self->curve_cert)
        s_curve_setup (self);
    log_set_publisher (s_publish_own_line, self);
    self->next_heartbeat = clock_mono_ms () + self->config.heartbeat_ms;
    zsock_signal (pipe, 0);

    zmq_pollitem_t items [] = {
        { zsock_resolve (pipe), 0, ZMQ_POLLIN, 0 },
        { self->router_handle, 0, ZMQ_POLLIN, 0 },
        { self->monitor ? zsock_resolve (self->monitor) : NULL, 0, ZMQ_POLLIN, 0 }
    };
    //  The broker's liveness (lib/health): this loop turns at least once a
    //  heartbeat.
    health_loop_t *loop = health_loop_new ("broker");
    while (!self->terminated) {
        health_loop_beat (loop);
        long timeout = (long) (self->next_heartbeat - clock_mono_ms ());
        if (timeout < 0)
            timeout = 0;
        if (self->draining && timeout > 50)
            timeout = 50;
        if (zmq_poll (items, self->monitor ? 3 : 2, timeout) < 0 && errno != EINTR)
            break;
        if (self->monitor && (items [2].revents & ZMQ_POLLIN)) {
            zmsg_t *event = zmsg_recv (self->monitor);
            self->handshakes_failed++;
            char *name = event ? zmsg_popstr (event) : NULL;
            char *value = event ? zmsg_popstr (event) : NULL;
            char *address = event ? zmsg_popstr (event) : NULL;
            s_bad_handshake (self, name, address);
            zstr_free (&name);
            zstr_free (&value);
            zstr_free (&address);
            zmsg_destroy (&event);
        }
        if (items [0].revents & ZMQ_POLLIN)
            s_on_pipe (self);
        if (items [1].revents & ZMQ_POLLIN) {
            for (int batch = 0; batch < BROKER_BATCH; batch++) {
                zmq_msg_t frames [BROKER_MAX_FRAMES];
                int count = drp_recv_frames (self->router_handle, frames, BROKER_MAX_FRAMES,
                                             ZMQ_DONTWAIT);
                if (count < 0)
                    break;
                if (count > BROKER_MAX_FRAMES)
                    s_bad (self, BAD_FRAMES, NULL, "too many frames");
                else
                    s_handle_message (self, frames, count);
                drp_close_frames (frames, count, BROKER_MAX_FRAMES);
            }
        }
        s_role_keys_refresh (self);
        s_dispatch (self);
        s_heartbeat (self);
        s_metrics_publish (self);
        if (self->draining && (s_drained (self) || clock_mono_ms () >= self->drain_deadline))
            s_finish_drain (self);
    }
    health_loop_destroy (&loop);
    log_set_publisher (NULL, NULL);
    zhashx_destroy (&self->peers);
    for (int i = 0; i < self->stage_count; i++)
        while (self->stages [i].queue.head) {
            item_t *item = self->stages [i].queue.head;
            s_list_remove (&self->stages [i].queue, item);
            s_item_destroy (self, item);
        }
    zactor_destroy (&self->monitor);
    zsock_destroy (&self->router);
    rolekeys_destroy (&self->role_keys);
    free (self->curve_cert);
    free (self->role_keys_dir);
    free (self);
}

int
broker_check_pipeline (const char *pipeline)
{
    broker_t *probe = (broker_t *) zmalloc (sizeof *probe);
    snprintf (probe->pipeline, sizeof probe->pipeline, "%s", pipeline);
    int rc = s_parse_pipeline (probe);
    free (probe);
    return rc;
}

int
broker_bind (zactor_t *broker, const char *endpoint)
{
    zstr_sendm (broker, "BIND");
    zstr_send (broker, endpoint);
    int port = -1;
    zsock_recv (broker, "i", &port);
    return port;
}

char *
broker_stats (zactor_t *broker)
{
    zstr_send (broker, "STATS");
    return zstr_recv (broker);
}
