/*  ingest: serves agents over CurveZMQ and journals what they send.

    One thread, one poll loop, four things in it:

    - The agent ROUTER, a CURVE server that asks our ZAP handler (lib/zap)
      about every key. Each message is one AgentMessage frame. Who sent it is
      the User-Id the handler set (the agent's public key), read from the
      body frame as it arrives; tenant and agent come from the key registry
      for that key, looked up again per message (cached), so a revoked key
      is cut off on an open connection too. Nothing in a payload names a
      tenant.
    - Messages are drained in batches (at most 256, or group_max_bytes of
      them): one Redis round trip takes every agent's share of its token
      bucket (lib/ratelimit), then each message within its agent's rate is
      decoded strictly and answered (WELCOME, PONG, NACK) or, for a report,
      added to the group being filled. A message over the rate is refused
      undecoded. libzmq's ZMQ_MAXMSGSIZE has cut off larger frames before.
    - A group goes to the journal as one idempotent send (journal_accept_*)
      when it is full or its first report has waited group_ms; up to
      JOURNAL_IN_FLIGHT groups are in flight on the one connection. When a
      group's commit comes back each agent gets its ACK — never before — and
      each new report is submitted to the first stage. Without broker credit
      the report simply stays in the journal, which the replayer feeds later:
      a burst never grows memory and never loses a report. Such entries are
      made visible at once (journal_release, on a connection of its own), so
      the replayer feeds them as soon as the pipeline has room instead of
      after their completion deadline, when the pipeline may long be idle.
    - The journal down: every report is answered UNAVAILABLE with a retry
      time, and the journal is retried with a doubling backoff.

    - Stats requests on a ROUTER (REQ clients), answered without waiting.

    - The command channel (proto/AGENT-LINK.md section 7, actors/ingest/
      commands.c): after each WELCOME the agent is remembered by its routing
      id and sent its commands not yet received; a connection LISTENing on
      drift_commands is polled here too, so a command made while its agent
      is connected is sent at once, and every INGEST_COMMANDS_RESEND_MS the
      unreceived ones are sent again (the agent runs an id once, whatever
      it is sent). An HTTPS agent polls instead (COMMAND_POLL, the face's
      GET /v1/commands): it is answered its oldest command not yet
      received, or NO_COMMAND. Updates are stored idempotently and answered
      with a COMMAND_ACK; one for another agent's command or with an
      impossible state is refused BAD_MESSAGE and counted.

    Bad input never stops the loop: each kind has a NACK code and a counter,
    and a refusal log line is rate limited so a flood cannot flood the logs.
    No read on the loop waits: every socket is polled, then read with
    ZMQ_DONTWAIT, and what is not a well-formed message is counted and dropped.
*/
#include "ingest.h"
#include "https.h"
#include "commands.h"
#include "../../lib/agent_command.h"
#include "../../lib/agent_link.h"
#include "../../lib/clock.h"
#include "../../lib/drp.h"
#include "../../lib/health.h"
#include "../../lib/journal.h"
#include "../../lib/kv.h"
#include "../../lib/counters.h"
#include "../../lib/log.h"
#include "../../lib/metrics.h"
#include "../../lib/producer.h"
#include "../../lib/ratelimit.h"
#include "../../lib/registry.h"
#include "../../lib/secret.h"
#include "../../lib/shutdown.h"
#include "../../lib/zap.h"

#include <czmq.h>
#include <jansson.h>

#define INGEST_DRAIN_MAX 256     // messages read per batch
#define INGEST_GROUPS (JOURNAL_IN_FLIGHT + 1) // one filling, the rest in flight
#define INGEST_LOG_BUDGET 10     // refusal log lines per second
#define INGEST_STATS_TURN 16     // stats requests answered per loop turn
#define INGEST_COMMANDS_RESEND_MS 5000 // unreceived commands sent again after this

//  Who to answer: the socket a message came on (the CURVE ROUTER, or the
//  PAIR of the HTTPS face) and its routing id there (an agent connection,
//  or an HTTP request).
typedef struct {
    void *socket;
    zframe_t *id;
} peer_t;

//  One report waiting for its journal commit.
typedef struct {
    peer_t peer;                 // the agent to ack
    Drift__Envelope *envelope;   // identity and raw report, for the journal and broker
} pending_t;

typedef struct {
    pending_t *reports;          // group_max slots
    int count;                   // reports in the group
    size_t bytes;                // their raw size
    int64_t started_ms;          // when its first report arrived
    int64_t sent_ns;             // when it went to the journal (metrics_now_ns)
} group_t;

//  What ingest counts; s_counters names each for the stats endpoint and
//  /metrics.
typedef struct {
    uint64_t messages;           // frames received from agents
    uint64_t reports;            // valid reports received
    uint64_t accepted;           // reports journaled (new entries)
    uint64_t duplicates;         // resent reports acked again, not journaled again
    uint64_t acked;              // ACKs sent
    uint64_t nacks [7];          // NACKs sent, by Drift__NackCode
    uint64_t empty_frames;       // zero-length messages
    uint64_t extra_frames;       // messages of more than one frame
    uint64_t undecodable;        // not an AgentMessage, or unknown fields
    uint64_t wrong_type;         // a message an agent does not send
    uint64_t unknown_key;        // authenticated key no longer in the registry
    uint64_t registry_unavailable; // messages refused because the registry could not answer
    uint64_t ratelimit_unavailable; // batches let through because Redis did not answer
    uint64_t journal_failures;   // group sends that failed (their agents got UNAVAILABLE)
    uint64_t groups;             // group sends committed
    uint64_t submitted;          // reports handed to the first stage
    uint64_t deferred;           // reports left to the replayer (no broker credit)
    uint64_t released;           // of those, made visible to the replayer at once
    uint64_t replies_dropped;    // answers to agents that were gone or not reading
    uint64_t peers_accepted;     // connections accepted
    uint64_t peers_disconnected; // connections closed (incl. oversize messages)
    uint64_t handshakes_failed;  // CURVE handshakes refused
    uint64_t decoded;            // messages decoded (only those within the rate limit)
    uint64_t stats_malformed;    // stats requests that were not [id][""]["STATS"]
    uint64_t stats_dropped;      // stats answers to clients that were gone or not reading
    uint64_t commands_sent;      // COMMAND messages sent to agents (resends included)
    uint64_t updates_stored;     // command updates stored (new)
    uint64_t updates_duplicate;  // updates stored before, acked again
    uint64_t updates_not_found;  // updates for no command of the sending agent (refused)
    uint64_t updates_bad_state;  // updates with a state or seq that cannot follow (refused)
    uint64_t updates_bad;        // updates breaking the link's rules (refused)
    uint64_t updates_unavailable; // updates answered UNAVAILABLE (database down)
} counters_t;

#define INGEST_REPORTS_HELP "Reports whose journal send committed, new or already journaled"
#define INGEST_NACKS_HELP "Refusals sent to agents, by NACK code"
#define INGEST_UPDATES_HELP "Command updates from agents, by what became of them"
//  A command update outcome's row, under "commands" in STATS.
#define INGEST_UPDATE(key, outcome, field) \
    { key, "commands", "drift_ingest_commands_updates_total", false, "outcome", outcome, \
      INGEST_UPDATES_HELP, COUNTER_AT (counters_t, field) }
//  A row of s_counters in STATS only, at the top or in group.
#define INGEST_STAT(key, group, field) \
    { key, group, NULL, false, NULL, NULL, NULL, COUNTER_AT (counters_t, field) }
//  A NACK code's row: lower case in STATS, the proto's name in /metrics.
#define INGEST_NACK(key, code) \
    { #key, "nacks", "drift_ingest_nacks_total", false, "code", #code, INGEST_NACKS_HELP, \
      COUNTER_AT (counters_t, nacks [DRIFT__NACK_CODE__NACK_##code]) }

//  Each counter named once: its key on the stats endpoint (in STATS order)
//  and, for those exported, its series (docs/METRICS.md).
static const counter_t s_counters [] = {
    INGEST_STAT ("messages", NULL, messages),
    INGEST_STAT ("reports", NULL, reports),
    { "accepted", NULL, "drift_ingest_reports_total", false, "outcome", "accepted",
      INGEST_REPORTS_HELP, COUNTER_AT (counters_t, accepted) },
    { "duplicates", NULL, "drift_ingest_reports_total", false, "outcome", "duplicate",
      INGEST_REPORTS_HELP, COUNTER_AT (counters_t, duplicates) },
    INGEST_STAT ("acked", NULL, acked),
    //  By Drift__NackCode; 0 (unspecified) is never sent.
    INGEST_NACK (bad_message, BAD_MESSAGE),
    INGEST_NACK (too_large, TOO_LARGE),
    INGEST_NACK (unsupported_format, UNSUPPORTED_FORMAT),
    INGEST_NACK (rate_limited, RATE_LIMITED),
    INGEST_NACK (unavailable, UNAVAILABLE),
    INGEST_NACK (revoked, REVOKED),
    INGEST_STAT ("empty_frames", "bad", empty_frames),
    INGEST_STAT ("extra_frames", "bad", extra_frames),
    INGEST_STAT ("undecodable", "bad", undecodable),
    INGEST_STAT ("wrong_type", "bad", wrong_type),
    INGEST_STAT ("unknown_key", NULL, unknown_key),
    INGEST_STAT ("registry_unavailable", NULL, registry_unavailable),
    INGEST_STAT ("ratelimit_unavailable", NULL, ratelimit_unavailable),
    { "journal_failures", NULL, "drift_ingest_journal_failures_total", false, NULL, NULL,
      "Journal group sends that failed (their agents were told to retry)",
      COUNTER_AT (counters_t, journal_failures) },
    INGEST_STAT ("groups", NULL, groups),
    INGEST_STAT ("submitted", NULL, submitted),
    { "deferred", NULL, "drift_ingest_deferred_total", false, NULL, NULL,
      "New reports left to the replayer because the broker had no credit",
      COUNTER_AT (counters_t, deferred) },
    { "released", NULL, "drift_ingest_released_total", false, NULL, NULL,
      "Deferred reports made visible to the replayer at once",
      COUNTER_AT (counters_t, released) },
    INGEST_STAT ("replies_dropped", NULL, replies_dropped),
    INGEST_STAT ("peers_accepted", NULL, peers_accepted),
    INGEST_STAT ("peers_disconnected", NULL, peers_disconnected),
    { "handshakes_failed", NULL, "drift_ingest_handshakes_failed_total", false, NULL, NULL,
      "CURVE handshakes refused (unknown or revoked keys, bad clients)",
      COUNTER_AT (counters_t, handshakes_failed) },
    INGEST_STAT ("decoded", NULL, decoded),
    INGEST_STAT ("stats_malformed", NULL, stats_malformed),
    INGEST_STAT ("stats_dropped", NULL, stats_dropped),
    { "sent", "commands", "drift_ingest_commands_sent_total", false, NULL, NULL,
      "Commands sent to agents (a command not yet received is sent again)",
      COUNTER_AT (counters_t, commands_sent) },
    INGEST_UPDATE ("stored", "stored", updates_stored),
    INGEST_UPDATE ("duplicate", "duplicate", updates_duplicate),
    INGEST_UPDATE ("not_found", "not_found", updates_not_found),
    INGEST_UPDATE ("bad_state", "bad_state", updates_bad_state),
    INGEST_UPDATE ("bad_message", "bad_message", updates_bad),
    INGEST_UPDATE ("unavailable", "unavailable", updates_unavailable)
};
#define INGEST_COUNTERS (sizeof s_counters / sizeof s_counters [0])

//  The counters' series and the journal's timing; this thread is their
//  only writer (s_metrics_publish copies the counters in each loop turn).
typedef struct {
    metric_t *counters [INGEST_COUNTERS]; // s_counters' (NULL for those in STATS only)
    metric_t *group_seconds;     // drift_ingest_journal_group_seconds
} ingest_metrics_t;

typedef struct {
    const ingest_config_t *config; // settings
    ingest_metrics_t metrics;    // see ingest_metrics_t
    zsock_t *router;             // the agent endpoint
    void *router_handle;         // its libzmq socket
    zactor_t *zap;               // the ZAP handler
    zactor_t *monitor;           // connection events of the router
    zsock_t *stats;              // ROUTER answering STATS (REQ clients), or NULL
    zsock_t *https;              // PAIR to the HTTPS face, or NULL without one
    void *https_handle;          // its libzmq socket
    zactor_t *https_face;        // the face (actors/ingest/https.c)
    registry_t *registry;        // key → tenant/agent/revoked
    kv_t *kv;                    // Redis, for the rate limits
    ratelimit_t *limits;         // per-agent token buckets
    journal_t *journal;          // NULL while the database is unreachable
    journal_t *release;          // releases deferred entries (NULL until needed)
    int64_t journal_retry_ms;    // when to try the journal again
    int journal_backoff_ms;      // the current backoff
    producer_t *producer;        // feeds the first stage
    group_t groups [INGEST_GROUPS]; // ring: in flight from head, then the filling one
    int head;                    // oldest group in flight
    int in_flight;               // groups sent and not yet committed
    counters_t counters;         // see counters_t
    int64_t log_second;          // the second the log budget is for
    int log_lines;               // refusal lines logged in it
    uint64_t log_shed;           // refusal lines not logged
    commands_t *commands;        // the command channel's database side
    zhashx_t *agents;            // agent id → agent_peer_t, CURVE agents welcomed
    int64_t commands_resend_ms;  // when unreceived commands are sent again
} ingest_t;

//  A welcomed CURVE agent, to send commands to.
typedef struct {
    char tenant_id [37];         // its tenant
    char agent_id [37];          // and itself
    zframe_t *id;                // its routing id on the router (the latest WELCOME's)
    bool owed;                   // it was sent commands it has not said RECEIVED to yet
} agent_peer_t;

static void
s_agent_peer_destroy (void **item)
{
    agent_peer_t *peer = (agent_peer_t *) *item;
    if (peer) {
        zframe_destroy (&peer->id);
        free (peer);
        *item = NULL;
    }
}


//  --------------------------------------------------------------------------
//  Answers to agents

//  Send an encoded answer, and free it: 0, or -1 when it was dropped.
static int
s_send_bytes (ingest_t *self, const peer_t *peer, uint8_t *bytes, size_t size)
{
    //  ROUTER_MANDATORY and DONTWAIT: an agent that is gone or not reading
    //  loses its answer (it resends), and ingest never blocks on it.
    int rc = 0;
    if (zmq_send (peer->socket, zframe_data (peer->id), zframe_size (peer->id),
                  ZMQ_SNDMORE | ZMQ_DONTWAIT) == -1
    ||  zmq_send (peer->socket, bytes, size, ZMQ_DONTWAIT) == -1) {
        self->counters.replies_dropped++;
        rc = -1;
    }
    free (bytes);
    return rc;
}

static int
s_send (ingest_t *self, const peer_t *peer, const Drift__AgentMessage *message)
{
    size_t size;
    uint8_t *bytes = agent_link_encode (message, &size);
    return s_send_bytes (self, peer, bytes, size);
}

//  A refusal worth a log line, within the budget.
static void
s_log_refusal (ingest_t *self, const char *what, const char *agent_key, const char *reason)
{
    int64_t second = clock_mono_ms () / 1000;
    if (second != self->log_second) {
        if (self->log_shed)
            log_warn ("refusals not logged (over budget)", "count", LOG_NUM (self->log_shed));
        self->log_second = second;
        self->log_lines = 0;
        self->log_shed = 0;
    }
    if (self->log_lines++ < INGEST_LOG_BUDGET)
        log_warn (what, "agent_key", agent_key, "reason", reason);
    else
        self->log_shed++;
}

//  Send an encoded NACK of code and count it.
static void
s_nack_send (ingest_t *self, const peer_t *peer, uint8_t *bytes, size_t size,
             Drift__NackCode code)
{
    s_send_bytes (self, peer, bytes, size);
    if ((unsigned) code < sizeof self->counters.nacks / sizeof self->counters.nacks [0])
        self->counters.nacks [code]++;
}

static void
s_nack (ingest_t *self, const peer_t *peer, const char *report_id, Drift__NackCode code,
        const char *text, uint32_t retry_after_ms)
{
    size_t size;
    uint8_t *bytes = agent_link_encode_nack (report_id, code, text, retry_after_ms, &size);
    s_nack_send (self, peer, bytes, size, code);
}

//  A NACK of a command update, naming it (command id and seq), so the
//  agent keeps an update refused for good out of its resends.
static void
s_nack_update (ingest_t *self, const peer_t *peer, const Drift__CommandUpdate *update,
               Drift__NackCode code, const char *text, uint32_t retry_after_ms)
{
    size_t size;
    uint8_t *bytes = agent_link_encode_update_nack (update->command_id, update->seq, code,
                                                    text, retry_after_ms, &size);
    s_nack_send (self, peer, bytes, size, code);
}

static void
s_ack (ingest_t *self, const peer_t *peer, const char *report_id, bool duplicate)
{
    Drift__Ack ack = DRIFT__ACK__INIT;
    ack.report_id = (char *) report_id;
    ack.duplicate = duplicate;
    Drift__AgentMessage message = DRIFT__AGENT_MESSAGE__INIT;
    message.kind_case = DRIFT__AGENT_MESSAGE__KIND_ACK;
    message.ack = &ack;
    s_send (self, peer, &message);
    self->counters.acked++;
}

//  --------------------------------------------------------------------------
//  The journal

static void
s_journal_failed (ingest_t *self)
{
    journal_destroy (&self->journal);
    self->journal_backoff_ms = self->journal_backoff_ms
        ? (self->journal_backoff_ms * 2 > 4000 ? 4000 : self->journal_backoff_ms * 2) : 250;
    self->journal_retry_ms = clock_mono_ms () + self->journal_backoff_ms;
}

//  The journal, connecting when the backoff allows; NULL while it is down.
static journal_t *
s_journal (ingest_t *self)
{
    if (!self->journal && clock_mono_ms () >= self->journal_retry_ms) {
        self->journal = journal_new (self->config->database, 0);
        if (self->journal) {
            if (self->journal_backoff_ms)
                log_info ("journal reachable again: accepting reports");
            self->journal_backoff_ms = 0;
        }
        else {
            if (!self->journal_backoff_ms)
                log_error ("journal unreachable: agents are told to retry",
                           "database_retry", "backoff");
            s_journal_failed (self);
        }
    }
    return self->journal;
}

static uint32_t
s_retry_after (ingest_t *self)
{
    int64_t left = self->journal_retry_ms - clock_mono_ms ();
    return left > 250 ? (uint32_t) left : 250;
}

static void
s_pending_free (pending_t *pending)
{
    zframe_destroy (&pending->peer.id);
    if (pending->envelope)
        drift__envelope__free_unpacked (pending->envelope, NULL);
    pending->envelope = NULL;
}

static group_t *
s_filling (ingest_t *self)
{
    return &self->groups [(self->head + self->in_flight) % INGEST_GROUPS];
}

//  A group takes no more reports once it holds group_max of them or
//  group_max_bytes: large reports go in smaller groups, so one statement
//  never holds every agent back and memory stays bounded.
static bool
s_group_full (ingest_t *self, const group_t *group)
{
    return group->count == self->config->group_max
        || group->bytes >= self->config->group_max_bytes;
}

//  Tell every agent in group to retry, and empty it.
static void
s_group_refuse (ingest_t *self, group_t *group, const char *why)
{
    for (int i = 0; i < group->count; i++) {
        s_nack (self, &group->reports [i].peer, group->reports [i].envelope->report_id,
                DRIFT__NACK_CODE__NACK_UNAVAILABLE, why, s_retry_after (self));
        s_pending_free (&group->reports [i]);
    }
    group->count = 0;
    group->bytes = 0;
}

//  Send the filling group to the journal.
static void
s_group_send (ingest_t *self)
{
    group_t *group = s_filling (self);
    if (group->count == 0 || self->in_flight == JOURNAL_IN_FLIGHT)
        return;
    journal_t *journal = s_journal (self);
    Drift__Envelope *envelopes [group->count];
    for (int i = 0; i < group->count; i++)
        envelopes [i] = group->reports [i].envelope;
    if (!journal
    ||  journal_accept_begin (journal, envelopes, group->count, self->config->deadline_s)) {
        self->counters.journal_failures++;
        if (journal && journal_in_flight (journal) == 0)
            s_journal_failed (self);
        s_group_refuse (self, group, "journal unavailable, retry later");
        return;
    }
    group->sent_ns = metrics_now_ns ();
    self->in_flight++;
}

//  Reports left to the replayer (no broker credit): visible to it at once,
//  so a burst drains as soon as the pipeline has room. If that fails they
//  wait for their deadline, as they did before: the journal keeps them.
static void
s_release (ingest_t *self, const int64_t *ids, int count)
{
    if (count == 0)
        return;
    self->counters.deferred += (uint64_t) count;
    if (!self->release)
        self->release = journal_new (self->config->database, 0);
    int released = self->release ? journal_release (self->release, ids, count) : -1;
    if (released < 0) {
        journal_destroy (&self->release);
        return;
    }
    self->counters.released += (uint64_t) released;
}

//  The oldest group in flight has its answer: ack its reports and feed the
//  new ones to the pipeline, or tell the agents to retry.
static void
s_group_complete (ingest_t *self)
{
    group_t *group = &self->groups [self->head];
    int64_t ids [group->count];
    bool duplicates [group->count];
    int rc = journal_accept_end (self->journal, ids, duplicates);
    self->head = (self->head + 1) % INGEST_GROUPS;
    self->in_flight--;
    if (rc) {
        self->counters.journal_failures++;
        s_group_refuse (self, group, "journal send failed, retry later");
        if (journal_in_flight (self->journal) == 0)
            s_journal_failed (self);
        return;
    }
    self->counters.groups++;
    metric_observe_ns (self->metrics.group_seconds, metrics_now_ns () - group->sent_ns);
    int64_t deferred [group->count];
    int deferred_count = 0;
    for (int i = 0; i < group->count; i++) {
        pending_t *pending = &group->reports [i];
        Drift__Envelope *envelope = pending->envelope;
        s_ack (self, &pending->peer, envelope->report_id, duplicates [i]);
        if (duplicates [i])
            self->counters.duplicates++;
        else {
            self->counters.accepted++;
            envelope->journal_id = ids [i];
            envelope->attempt = 1;
            if (producer_credit (self->producer) == 0) {
                deferred [deferred_count++] = ids [i];
                s_pending_free (pending);
                continue;
            }
            size_t size = drift__envelope__get_packed_size (envelope);
            uint8_t *bytes = (uint8_t *) malloc (size);
            drift__envelope__pack (envelope, bytes);
            if (producer_submit (self->producer, bytes, size, 1, 0) == 0)
                self->counters.submitted++;
            else
                deferred [deferred_count++] = ids [i];
            free (bytes);
        }
        s_pending_free (pending);
    }
    group->count = 0;
    group->bytes = 0;
    s_release (self, deferred, deferred_count);
}

//  --------------------------------------------------------------------------
//  Messages from agents

//  One message as drained, before it is looked at.
typedef struct {
    peer_t peer;                 // who to answer
    zmq_msg_t body;              // the message frame
    char key [41];               // authenticated key (User-Id), "" if none
    int frames;                  // frames in the message
    size_t bytes;                // their size
    char report_id [65];         // a refused report's id, read without decoding
    char command_id [37];        // or a refused update's command, read the same way
    uint32_t seq;                // and its seq
    registry_entry_t entry;      // the key's registry answer
    int found;                   // registry_lookup's result
    Drift__AgentMessage *message; // decoded, NULL if it does not decode
    const char *decode_error;    // why not
    int allowed;                 // within the agent's rate limit
    uint32_t retry_ms;           // when not, how long to wait
} incoming_t;

//  --------------------------------------------------------------------------
//  The command channel

//  Send the agent (a welcomed CURVE agent) its commands not yet received;
//  an agent whose connection is gone is forgotten until its next HELLO.
static void
s_commands_send (ingest_t *self, const char *agent_id)
{
    agent_peer_t *agent = (agent_peer_t *) zhashx_lookup (self->agents, agent_id);
    if (!agent)
        return;
    Drift__Command **commands;
    int count = commands_pending (self->commands, agent->tenant_id, agent->agent_id, &commands);
    peer_t peer = { self->router_handle, agent->id };
    bool gone = false;
    for (int i = 0; i < count && !gone; i++) {
        Drift__AgentMessage message = DRIFT__AGENT_MESSAGE__INIT;
        message.kind_case = DRIFT__AGENT_MESSAGE__KIND_COMMAND;
        message.command = commands [i];
        if (s_send (self, &peer, &message))
            gone = true;
        else
            self->counters.commands_sent++;
    }
    commands_free (commands, count);
    //  A failed query (-1) keeps the agent owed: it is asked again.
    agent->owed = count != 0;
    if (gone)
        zhashx_delete (self->agents, agent_id);
}

//  The unreceived commands of every agent still owed some, again: only
//  those, so the timer costs no query for the idle fleet. After the
//  database connection came back every agent is owed (NOTIFYs were lost).
static void
s_commands_resend (ingest_t *self, bool everyone)
{
    zlistx_t *ids = zhashx_keys (self->agents);
    for (const char *id = (const char *) zlistx_first (ids); id;
         id = (const char *) zlistx_next (ids)) {
        agent_peer_t *agent = (agent_peer_t *) zhashx_lookup (self->agents, id);
        if (agent && (everyone || agent->owed))
            s_commands_send (self, id);
    }
    zlistx_destroy (&ids);
}

//  NOTIFY drift_commands: a command was made; send it if its agent is here.
static void
s_commands_notified (ingest_t *self)
{
    zlistx_t *ids = zlistx_new ();
    zlistx_set_destructor (ids, (zlistx_destructor_fn *) zstr_free);
    zlistx_set_comparator (ids, (zlistx_comparator_fn *) strcmp);
    commands_notified (self->commands, ids);
    for (const char *id = (const char *) zlistx_first (ids); id;
         id = (const char *) zlistx_next (ids))
        s_commands_send (self, id);
    zlistx_destroy (&ids);
}

static void
s_agent_welcomed (ingest_t *self, incoming_t *in)
{
    agent_peer_t *agent = (agent_peer_t *) zmalloc (sizeof *agent);
    snprintf (agent->tenant_id, sizeof agent->tenant_id, "%s", in->entry.tenant_id);
    snprintf (agent->agent_id, sizeof agent->agent_id, "%s", in->entry.agent_id);
    agent->id = zframe_dup (in->peer.id);
    zhashx_update (self->agents, agent->agent_id, agent);
    s_commands_send (self, agent->agent_id);
}

static void
s_command_ack (ingest_t *self, const peer_t *peer, const Drift__CommandUpdate *update)
{
    Drift__CommandAck ack = DRIFT__COMMAND_ACK__INIT;
    ack.command_id = update->command_id;
    ack.seq = update->seq;
    Drift__AgentMessage message = DRIFT__AGENT_MESSAGE__INIT;
    message.kind_case = DRIFT__AGENT_MESSAGE__KIND_COMMAND_ACK;
    message.command_ack = &ack;
    s_send (self, peer, &message);
}

//  An update of one of the agent's commands: stored once, acked each time.
static void
s_command_update (ingest_t *self, incoming_t *in, const Drift__CommandUpdate *update)
{
    const char *error = NULL;
    if (agent_command_check_update (update, &error)) {
        self->counters.updates_bad++;
        s_log_refusal (self, "command update refused", in->key, error);
        s_nack_update (self, &in->peer, update, DRIFT__NACK_CODE__NACK_BAD_MESSAGE, error, 0);
        return;
    }
    commands_outcome_t outcome =
        commands_store (self->commands, in->entry.tenant_id, in->entry.agent_id, update);
    switch (outcome) {
        case COMMANDS_STORED:
            self->counters.updates_stored++;
            s_command_ack (self, &in->peer, update);
            return;
        case COMMANDS_DUPLICATE:
            self->counters.updates_duplicate++;
            s_command_ack (self, &in->peer, update);
            return;
        case COMMANDS_UNAVAILABLE:
            self->counters.updates_unavailable++;
            s_nack_update (self, &in->peer, update, DRIFT__NACK_CODE__NACK_UNAVAILABLE,
                           "command store unavailable, retry later", 1000);
            return;
        case COMMANDS_NOT_FOUND:
            self->counters.updates_not_found++;
            error = "no such command of this agent";
            break;
        case COMMANDS_OUT_OF_ORDER:
        case COMMANDS_BAD_STATE:
            self->counters.updates_bad_state++;
            error = outcome == COMMANDS_OUT_OF_ORDER
                  ? "update seq is not the next one of the command"
                  : "update state cannot follow the command's state";
            break;
        case COMMANDS_BAD_PLAN:
            self->counters.updates_bad++;
            error = "plan_json is not a JSON document within the size limit";
            break;
    }
    s_log_refusal (self, "command update refused", in->key, error);
    s_nack_update (self, &in->peer, update, DRIFT__NACK_CODE__NACK_BAD_MESSAGE, error, 0);
}

//  COMMAND_POLL (over HTTPS, GET /v1/commands): the agent's oldest command
//  not yet received, or NO_COMMAND. The agent's RECEIVED update, stored,
//  is what moves the next poll on to the next command.
static void
s_command_poll (ingest_t *self, incoming_t *in)
{
    Drift__Command **commands;
    int count = commands_pending (self->commands, in->entry.tenant_id, in->entry.agent_id,
                                  &commands);
    if (count < 0) {
        s_nack (self, &in->peer, NULL, DRIFT__NACK_CODE__NACK_UNAVAILABLE,
                "command store unavailable, retry later", 1000);
        return;
    }
    Drift__NoCommand none = DRIFT__NO_COMMAND__INIT;
    Drift__AgentMessage message = DRIFT__AGENT_MESSAGE__INIT;
    if (count) {
        message.kind_case = DRIFT__AGENT_MESSAGE__KIND_COMMAND;
        message.command = commands [0];
    }
    else {
        message.kind_case = DRIFT__AGENT_MESSAGE__KIND_NO_COMMAND;
        message.no_command = &none;
    }
    if (s_send (self, &in->peer, &message) == 0 && count)
        self->counters.commands_sent++;
    commands_free (commands, count);
}

static void
s_welcome (ingest_t *self, incoming_t *in, const Drift__Hello *hello)
{
    if (hello->protocol != AGENT_LINK_PROTOCOL) {
        s_nack (self, &in->peer, NULL, DRIFT__NACK_CODE__NACK_UNSUPPORTED_FORMAT,
                "this server speaks agent link protocol 1", 0);
        return;
    }
    Drift__Welcome welcome = DRIFT__WELCOME__INIT;
    welcome.protocol = AGENT_LINK_PROTOCOL;
    welcome.server_version = (char *) DRIFT_VERSION;
    welcome.tenant = in->entry.tenant;
    welcome.agent = in->entry.agent;
    welcome.max_report_bytes = self->config->max_report_bytes;
    Drift__AgentMessage message = DRIFT__AGENT_MESSAGE__INIT;
    message.kind_case = DRIFT__AGENT_MESSAGE__KIND_WELCOME;
    message.welcome = &welcome;
    if (s_send (self, &in->peer, &message))
        return;
    log_info ("agent connected", "tenant", in->entry.tenant, "agent", in->entry.agent,
              "agent_version", hello->agent_version);
    //  Over HTTPS the agent polls for its commands; over CURVE it is sent
    //  them on this connection.
    if (in->peer.socket == self->router_handle)
        s_agent_welcomed (self, in);
}

static void
s_pong (ingest_t *self, incoming_t *in, const Drift__Ping *ping)
{
    Drift__Pong pong = DRIFT__PONG__INIT;
    pong.nonce = ping->nonce;
    Drift__AgentMessage message = DRIFT__AGENT_MESSAGE__INIT;
    message.kind_case = DRIFT__AGENT_MESSAGE__KIND_PONG;
    message.pong = &pong;
    s_send (self, &in->peer, &message);
}

//  A valid report: into the filling group (the journal decides, by tenant
//  and report id, whether it is new).
static void
s_report (ingest_t *self, incoming_t *in, const Drift__Report *report)
{
    const char *error = NULL;
    Drift__NackCode code =
        agent_link_check_report (report, self->config->max_report_bytes, &error);
    if (code) {
        s_log_refusal (self, "report refused", in->key, error);
        s_nack (self, &in->peer, report->report_id, code, error, 0);
        return;
    }
    self->counters.reports++;
    group_t *group = s_filling (self);
    if (s_group_full (self, group)) {
        //  Every journal send slot is busy and this group is full.
        s_nack (self, &in->peer, report->report_id, DRIFT__NACK_CODE__NACK_UNAVAILABLE,
                "ingest is busy, retry shortly", 100);
        return;
    }
    if (!s_journal (self)) {
        s_nack (self, &in->peer, report->report_id, DRIFT__NACK_CODE__NACK_UNAVAILABLE,
                "journal unavailable, retry later", s_retry_after (self));
        return;
    }
    //  Built with malloc throughout, so drift__envelope__free_unpacked frees it.
    Drift__Envelope *envelope = (Drift__Envelope *) malloc (sizeof *envelope);
    drift__envelope__init (envelope);
    envelope->tenant = strdup (in->entry.tenant_id);
    envelope->report_id = strdup (report->report_id);
    envelope->agent_key = strdup (in->key);
    envelope->stack = strdup (report->stack);
    envelope->received_us = clock_wall_us ();
    envelope->body_case = DRIFT__ENVELOPE__BODY_RAW;
    envelope->raw.len = drift__report__get_packed_size (report);
    envelope->raw.data = (uint8_t *) malloc (envelope->raw.len ? envelope->raw.len : 1);
    drift__report__pack (report, envelope->raw.data);

    if (group->count == 0)
        group->started_ms = clock_mono_ms ();
    group->reports [group->count++] =
        (pending_t) { { in->peer.socket, zframe_dup (in->peer.id) }, envelope };
    group->bytes += envelope->raw.len;
    if (s_group_full (self, group))
        s_group_send (self);
}

static void
s_dispatch (ingest_t *self, incoming_t *in)
{
    if (in->frames != 1) {
        self->counters.extra_frames++;
        s_log_refusal (self, "message refused", in->key, "more than one frame");
        s_nack (self, &in->peer, NULL, DRIFT__NACK_CODE__NACK_BAD_MESSAGE,
                "a message is exactly one frame", 0);
        return;
    }
    Drift__AgentMessage *message = in->message;
    if (!message) {
        if (zmq_msg_size (&in->body) == 0)
            self->counters.empty_frames++;
        else
            self->counters.undecodable++;
        s_log_refusal (self, "message refused", in->key, in->decode_error);
        s_nack (self, &in->peer, NULL, DRIFT__NACK_CODE__NACK_BAD_MESSAGE, in->decode_error, 0);
        return;
    }
    switch (message->kind_case) {
        case DRIFT__AGENT_MESSAGE__KIND_HELLO:
            s_welcome (self, in, message->hello);
            break;
        case DRIFT__AGENT_MESSAGE__KIND_PING:
            s_pong (self, in, message->ping);
            break;
        case DRIFT__AGENT_MESSAGE__KIND_REPORT:
            s_report (self, in, message->report);
            break;
        case DRIFT__AGENT_MESSAGE__KIND_COMMAND_UPDATE:
            s_command_update (self, in, message->command_update);
            break;
        case DRIFT__AGENT_MESSAGE__KIND_COMMAND_POLL:
            s_command_poll (self, in);
            break;
        default:
            self->counters.wrong_type++;
            s_log_refusal (self, "message refused", in->key, "not a message agents send");
            s_nack (self, &in->peer, NULL, DRIFT__NACK_CODE__NACK_BAD_MESSAGE,
                    "agents send HELLO, REPORT, PING, COMMAND_UPDATE or COMMAND_POLL", 0);
    }
}

//  Who may go on: the registry per message (revocation ends open
//  connections), then one rate-limit round trip for the whole batch, and
//  only then a strict decode, of the messages let through: a flood over the
//  rate costs a registry lookup and a Redis share, never a decode. A refused
//  report is still named in its NACK (the agent requeues it by id), and a
//  refused command update by its command id and seq, read from the wire
//  without decoding the rest.
static void
s_admit (ingest_t *self, incoming_t *batch, int count)
{
    const char *keys [INGEST_DRAIN_MAX];
    int wanted [INGEST_DRAIN_MAX], granted [INGEST_DRAIN_MAX], retry [INGEST_DRAIN_MAX];
    int agent_of [INGEST_DRAIN_MAX];
    int agents = 0;
    for (int i = 0; i < count; i++) {
        incoming_t *in = &batch [i];
        agent_of [i] = -1;
        in->message = NULL;
        in->decode_error = "not decoded";
        in->report_id [0] = 0;
        in->command_id [0] = 0;
        in->found = *in->key ? registry_lookup (self->registry, in->key, &in->entry) : 0;
        if (in->found != 1 || in->entry.revoked)
            continue;
        int agent = 0;
        while (agent < agents && strcmp (keys [agent], in->key))
            agent++;
        if (agent == agents) {
            keys [agents] = in->key;
            wanted [agents++] = 0;
        }
        wanted [agent]++;
        agent_of [i] = agent;
    }
    if (agents && ratelimit_take (self->limits, keys, wanted, agents, granted, retry)) {
        //  Redis down: let everyone through rather than refuse every agent.
        self->counters.ratelimit_unavailable++;
        for (int agent = 0; agent < agents; agent++) {
            granted [agent] = wanted [agent];
            retry [agent] = 0;
        }
    }
    for (int i = 0; i < count; i++) {
        incoming_t *in = &batch [i];
        int agent = agent_of [i];
        in->allowed = agent >= 0 && granted [agent]-- > 0;
        in->retry_ms = agent >= 0 ? (uint32_t) retry [agent] : 0;
        if (agent < 0 || in->frames != 1)
            continue;
        const uint8_t *data = (const uint8_t *) zmq_msg_data (&in->body);
        size_t size = zmq_msg_size (&in->body);
        if (in->allowed) {
            in->message = agent_link_decode (data, size, &in->decode_error);
            self->counters.decoded++;
        }
        else
        if (agent_link_peek_report_id (data, size, in->report_id, sizeof in->report_id))
            agent_link_peek_update (data, size, in->command_id, &in->seq);
    }
}

static void
s_handle (ingest_t *self, incoming_t *in)
{
    if (in->found < 0) {
        self->counters.registry_unavailable++;
        s_nack (self, &in->peer, NULL, DRIFT__NACK_CODE__NACK_UNAVAILABLE,
                "key registry unavailable, retry later", 1000);
    }
    else
    if (in->found == 0) {
        //  Let in by ZAP, then removed from the registry: say nothing useful.
        self->counters.unknown_key++;
        s_log_refusal (self, "message dropped: key not in the registry", in->key, "unknown key");
    }
    else
    if (in->entry.revoked) {
        s_log_refusal (self, "message refused: key revoked", in->key, in->entry.agent);
        s_nack (self, &in->peer, NULL, DRIFT__NACK_CODE__NACK_REVOKED,
                "this agent's key is revoked", 0);
    }
    else
    if (!in->allowed && *in->command_id) {
        Drift__CommandUpdate named = DRIFT__COMMAND_UPDATE__INIT;
        named.command_id = in->command_id;
        named.seq = in->seq;
        s_nack_update (self, &in->peer, &named, DRIFT__NACK_CODE__NACK_RATE_LIMITED,
                       "rate limit exceeded for this agent", in->retry_ms ? in->retry_ms : 100);
    }
    else
    if (!in->allowed)
        s_nack (self, &in->peer, in->report_id,
                DRIFT__NACK_CODE__NACK_RATE_LIMITED, "rate limit exceeded for this agent",
                in->retry_ms ? in->retry_ms : 100);
    else
        s_dispatch (self, in);
}

//  Read one message without waiting; 0 when there was none. Every frame is
//  read with ZMQ_DONTWAIT: libzmq delivers a message's frames together, so
//  the rest are there once the first is, and if ever one were not, the
//  message ends short (and is refused) rather than the loop waiting.
static int
s_receive (ingest_t *self, incoming_t *in)
{
    zmq_msg_t routing_id;
    zmq_msg_init (&routing_id);
    if (zmq_msg_recv (&routing_id, self->router_handle, ZMQ_DONTWAIT) == -1) {
        zmq_msg_close (&routing_id);
        return 0;
    }
    in->peer = (peer_t) { self->router_handle,
                          zframe_new (zmq_msg_data (&routing_id), zmq_msg_size (&routing_id)) };
    zmq_msg_close (&routing_id);
    zmq_msg_init (&in->body);
    in->key [0] = 0;
    in->frames = 0;
    in->bytes = 0;
    if (zmq_msg_recv (&in->body, self->router_handle, ZMQ_DONTWAIT) == -1) {
        self->counters.messages++;
        return 1;
    }
    //  Metadata is on the body frame, and only as received (libzmq 4.3.4).
    const char *user_id = zmq_msg_gets (&in->body, "User-Id");
    snprintf (in->key, sizeof in->key, "%s", user_id && strlen (user_id) == 40 ? user_id : "");
    in->frames = 1;
    in->bytes = zmq_msg_size (&in->body);
    bool more = zmq_msg_more (&in->body);
    while (more) {
        zmq_msg_t extra;
        zmq_msg_init (&extra);
        if (zmq_msg_recv (&extra, self->router_handle, ZMQ_DONTWAIT) == -1) {
            zmq_msg_close (&extra);
            break;
        }
        more = zmq_msg_more (&extra);
        in->bytes += zmq_msg_size (&extra);
        zmq_msg_close (&extra);
        in->frames++;
    }
    self->counters.messages++;
    return 1;
}

//  Read one request of the HTTPS face (actors/ingest/https.c) without
//  waiting; 0 when there was none. It is [request id][agent key][body]: the
//  face took the key from the client certificate Caddy verified, and made
//  the body the AgentMessage a CURVE agent sends, so from here on it is
//  handled as one.
static int
s_receive_https (ingest_t *self, incoming_t *in)
{
    zmq_msg_t frames [3];
    int count = drp_recv_frames (self->https_handle, frames, 3, ZMQ_DONTWAIT);
    if (count < 0)
        return 0;
    self->counters.messages++;
    zmq_msg_init (&in->body);
    in->peer = (peer_t) { self->https_handle,
                          zframe_new (zmq_msg_data (&frames [0]), zmq_msg_size (&frames [0])) };
    in->key [0] = 0;
    in->frames = count == 3 ? 1 : 0;
    in->bytes = 0;
    if (count == 3 && zmq_msg_size (&frames [1]) == 40) {
        memcpy (in->key, zmq_msg_data (&frames [1]), 40);
        in->key [40] = 0;
        zmq_msg_move (&in->body, &frames [2]);
        in->bytes = zmq_msg_size (&in->body);
    }
    drp_close_frames (frames, count, 3);
    return 1;
}

//  One batch from one socket: up to INGEST_DRAIN_MAX messages or
//  group_max_bytes of them, whichever comes first, so what one turn holds
//  is bounded by bytes too (256 reports at the size limit would be
//  gigabytes); the rest wait in the socket for the next turn.
static void
s_drain (ingest_t *self, int (*receive) (ingest_t *, incoming_t *))
{
    incoming_t batch [INGEST_DRAIN_MAX];
    int count = 0;
    size_t bytes = 0;
    while (count < INGEST_DRAIN_MAX && bytes < self->config->group_max_bytes
       &&  receive (self, &batch [count]))
        bytes += batch [count++].bytes;
    s_admit (self, batch, count);
    for (int i = 0; i < count; i++) {
        //  A full group with no send slot free: the group is refused as a
        //  whole rather than grown (the journal is behind).
        if (s_group_full (self, s_filling (self)))
            s_group_send (self);
        s_handle (self, &batch [i]);
        agent_link_free (batch [i].message);
        zframe_destroy (&batch [i].peer.id);
        zmq_msg_close (&batch [i].body);
    }
}

//  --------------------------------------------------------------------------
//  Stats and connection events

static void
s_monitor_event (ingest_t *self)
{
    zmsg_t *event = zmsg_recv (self->monitor);
    char *name = event ? zmsg_popstr (event) : NULL;
    if (name) {
        if (streq (name, "ACCEPTED"))
            self->counters.peers_accepted++;
        else
        if (streq (name, "DISCONNECTED"))
            self->counters.peers_disconnected++;
        else
        if (strncmp (name, "HANDSHAKE_FAILED", 16) == 0)
            self->counters.handshakes_failed++;
    }
    zstr_free (&name);
    zmsg_destroy (&event);
}

//  The counters as JSON text (the caller frees it).
static char *
s_stats_text (ingest_t *self)
{
    json_t *stats = json_object ();
    counters_json (s_counters, INGEST_COUNTERS, &self->counters, stats);
    json_object_set_new (stats, "journal_up", json_boolean (self->journal != NULL));
    zstr_send (self->zap, "STATS");
    char *zap = zstr_recv (self->zap);
    json_object_set_new (stats, "zap", zap ? json_loads (zap, 0, NULL) : json_null ());
    if (self->https_face) {
        zstr_send (self->https_face, "STATS");
        char *https = zstr_recv (self->https_face);
        json_object_set_new (stats, "https", https ? json_loads (https, 0, NULL) : json_null ());
        zstr_free (&https);
    }
    //  Credit the brokers granted for the first stage: 0 means reports are
    //  left to the replayer (no broker yet, or the pipeline is full).
    json_object_set_new (stats, "broker_credit",
                         json_integer ((json_int_t) producer_credit (self->producer)));
    zstr_free (&zap);
    char *text = json_dumps (stats, JSON_COMPACT);
    json_decref (stats);
    return text;
}

//  Stats requests, read without waiting. The socket is a ROUTER, not a REP:
//  a REP socket's poll says readable for a message without the REQ envelope
//  that its recv then drops, so a DEALER's one bare frame blocked this
//  thread in zstr_recv for good (issue 16). Here a request is exactly
//  [routing id][""]["STATS"] as REQ sends it; anything else is counted and
//  dropped, and an answer the client is not reading is dropped (DONTWAIT).
//  At most INGEST_STATS_TURN requests a turn, so a flood cannot starve agents.
static void
s_stats (ingest_t *self)
{
    void *handle = zsock_resolve (self->stats);
    for (int turn = 0; turn < INGEST_STATS_TURN; turn++) {
        zmq_msg_t frames [3];
        int count = drp_recv_frames (handle, frames, 3, ZMQ_DONTWAIT);
        if (count < 0)
            break;
        if (count != 3 || zmq_msg_size (&frames [1]) != 0
        ||  zmq_msg_size (&frames [2]) != 5 || memcmp (zmq_msg_data (&frames [2]), "STATS", 5)) {
            self->counters.stats_malformed++;
            s_log_refusal (self, "stats request dropped", "", "not [id][\"\"][\"STATS\"]");
        }
        else {
            char *text = s_stats_text (self);
            if (zmq_send (handle, zmq_msg_data (&frames [0]), zmq_msg_size (&frames [0]),
                          ZMQ_SNDMORE | ZMQ_DONTWAIT) == -1
            ||  zmq_send (handle, "", 0, ZMQ_SNDMORE | ZMQ_DONTWAIT) == -1
            ||  zmq_send (handle, text, strlen (text), ZMQ_DONTWAIT) == -1)
                self->counters.stats_dropped++;
            free (text);
        }
        drp_close_frames (frames, count, 3);
    }
}

//  --------------------------------------------------------------------------
//  Metrics (docs/METRICS.md)

static void
s_metrics_register (ingest_t *self)
{
    counters_register (s_counters, INGEST_COUNTERS, self->metrics.counters, NULL, NULL);
    self->metrics.group_seconds = metrics_histogram (metrics_default (),
        "drift_ingest_journal_group_seconds", "From a group's send to the journal to its commit",
        NULL);
}

static void
s_metrics_publish (ingest_t *self)
{
    counters_publish (s_counters, INGEST_COUNTERS, &self->counters, self->metrics.counters);
}

//  --------------------------------------------------------------------------
//  Setup and the loop

//  The HTTPS face and the PAIR its requests come in on.
static int
s_open_https (ingest_t *self, const ingest_config_t *config)
{
    char endpoint [64];
    snprintf (endpoint, sizeof endpoint, "inproc://ingest-https-%p", (void *) self);
    self->https = zsock_new (ZMQ_PAIR);
    //  Never block the loop on a face that is not reading: an answer that
    //  cannot go is counted (replies_dropped) and the face times it out.
    zsock_set_sndhwm (self->https, 0);
    zsock_set_rcvhwm (self->https, 0);
    if (zsock_bind (self->https, "%s", endpoint) == -1)
        return -1;
    self->https_handle = zsock_resolve (self->https);
    https_config_t face = {
        .bind = config->https_bind,
        .proxy_secret_file = config->https_proxy_secret_file,
        .database = config->database,
        .ingest = endpoint,
        .max_body_bytes = config->max_report_bytes + AGENT_LINK_OVERHEAD_BYTES,
        .timeout_s = config->https_timeout_s,
        .connections = config->https_connections,
        .answer_timeout_ms = (config->deadline_s > 30 ? 30 : config->deadline_s) * 1000
    };
    self->https_face = https_face_new (&face);
    return self->https_face ? 0 : -1;
}

static int
s_open (ingest_t *self, const ingest_config_t *config, zap_config_t *zap_config)
{
    char path [1024];
    snprintf (path, sizeof path, "%s/server.key_secret", config->keys_dir);
    char error [512];
    zcert_t *cert = secret_cert_load (path, error, sizeof error);
    if (!cert) {
        log_error ("cannot load the server keypair (run drift keys init)", "error", error);
        return -1;
    }
    self->zap = zactor_new (zap_actor, zap_config);
    if (!self->zap) {
        secret_cert_destroy (&cert);
        return -1;
    }
    self->router = zsock_new (ZMQ_ROUTER);
    int rc = zap_secure_server (self->router, cert, zap_config->domain);
    secret_cert_destroy (&cert);
    if (rc)
        return -1;
    zsock_set_router_mandatory (self->router, 1);
    zsock_set_maxmsgsize (self->router,
                          (int64_t) (config->max_report_bytes + AGENT_LINK_OVERHEAD_BYTES));
    zsock_set_linger (self->router, 1000);
    //  Dead agents are noticed by ZMTP heartbeats, not by waiting on TCP.
    zsock_set_heartbeat_ivl (self->router, 10000);
    zsock_set_heartbeat_timeout (self->router, 30000);
    self->monitor = zactor_new (zmonitor, self->router);
    zstr_sendx (self->monitor, "LISTEN", "ACCEPTED", "DISCONNECTED",
                "HANDSHAKE_FAILED_NO_DETAIL", "HANDSHAKE_FAILED_PROTOCOL",
                "HANDSHAKE_FAILED_AUTH", NULL);
    zstr_send (self->monitor, "START");
    zsock_wait (self->monitor);
    if (zsock_bind (self->router, "%s", config->endpoint) == -1) {
        log_error ("cannot bind the agent endpoint", "endpoint", config->endpoint,
                   "error", zmq_strerror (zmq_errno ()));
        return -1;
    }
    self->router_handle = zsock_resolve (self->router);
    if (*config->stats_endpoint) {
        self->stats = zsock_new (ZMQ_ROUTER);
        zsock_set_router_mandatory (self->stats, 1);
        zsock_set_maxmsgsize (self->stats, 1024);
        if (zsock_bind (self->stats, "%s", config->stats_endpoint) == -1) {
            log_error ("cannot bind the stats endpoint", "endpoint", config->stats_endpoint);
            return -1;
        }
    }
    if (*config->https_bind && s_open_https (self, config))
        return -1;
    self->registry = registry_new (config->database, config->redis, config->registry_cache_ms);
    self->kv = kv_new (config->redis, 500);
    self->limits = self->kv
        ? ratelimit_new (self->kv, "drift:rate:", config->rate, config->burst) : NULL;
    self->producer = producer_new (config->brokers, config->stage, 256,
                                   config->heartbeat_ms, config->liveness);
    if (!self->registry || !self->limits || !self->producer) {
        log_error ("ingest settings unusable (registry, rate limit or broker endpoints)");
        return -1;
    }
    for (int i = 0; i < INGEST_GROUPS; i++)
        self->groups [i].reports = (pending_t *) zmalloc (sizeof (pending_t) * (size_t) config->group_max);
    self->commands = commands_new (config->database, config->max_report_bytes);
    self->agents = zhashx_new ();
    zhashx_set_destructor (self->agents, s_agent_peer_destroy);
    return 0;
}

static void
s_close (ingest_t *self)
{
    for (int i = 0; i < INGEST_GROUPS; i++) {
        for (int r = 0; r < self->groups [i].count; r++)
            s_pending_free (&self->groups [i].reports [r]);
        free (self->groups [i].reports);
    }
    zhashx_destroy (&self->agents);
    commands_destroy (&self->commands);
    producer_destroy (&self->producer);
    journal_destroy (&self->journal);
    journal_destroy (&self->release);
    ratelimit_destroy (&self->limits);
    kv_destroy (&self->kv);
    registry_destroy (&self->registry);
    zsock_destroy (&self->stats);
    zactor_destroy (&self->https_face);
    zsock_destroy (&self->https);
    zactor_destroy (&self->monitor);
    zsock_destroy (&self->router);
    zactor_destroy (&self->zap);
}

int
ingest_run (const ingest_config_t *config)
{
    if (config->group_max < 1 || config->group_max > 4096 || config->group_ms < 0
    ||  config->group_max_bytes < 1
    ||  config->deadline_s < 1 || config->rate <= 0 || config->burst < 1
    ||  config->max_report_bytes < 1024
    ||  (*config->https_bind && (config->https_timeout_s < 1 || config->https_connections < 1
                                 || !*config->https_proxy_secret_file))) {
        log_error ("ingest settings out of range");
        return -1;
    }
    zap_config_t zap_config = {
        .database = config->database,
        .redis = config->redis,
        .domain = ZAP_AGENT_DOMAIN,
        .cache_ms = config->registry_cache_ms
    };
    ingest_t self = { .config = config };
    if (s_open (&self, config, &zap_config)) {
        s_close (&self);
        return -1;
    }
    s_metrics_register (&self);
    log_info ("ingest serving agents", "endpoint", config->endpoint, "stage", config->stage);
    s_journal (&self);
    //  Ingest's liveness (lib/health): this loop turns at least every
    //  100 ms; it waits only for the journal's answers, never blocks on them.
    health_loop_t *loop = health_loop_new ("ingest");
    health_need_t *broker_need = health_need_new ("broker");
    bool stopping = false;
    while (!stopping || self.in_flight) {
        health_loop_beat (loop);
        health_need_set (broker_need, producer_connected (self.producer));
        if (!stopping && shutdown_requested ()) {
            //  Finish what was promised: no new reads, the open group is sent.
            stopping = true;
            log_info ("stopping: finishing journal sends in flight");
            s_group_send (&self);
            if (s_filling (&self)->count)
                s_group_refuse (&self, s_filling (&self), "ingest is stopping, retry later");
            continue;
        }
        group_t *filling = s_filling (&self);
        int64_t timeout = 100;
        if (filling->count && self.in_flight < JOURNAL_IN_FLIGHT) {
            timeout = filling->started_ms + config->group_ms - clock_mono_ms ();
            if (timeout < 0)
                timeout = 0;
        }
        zmq_pollitem_t items [6];
        int count = 0;
        bool full = s_group_full (&self, filling) && self.in_flight == JOURNAL_IN_FLIGHT;
        int router_item = -1, https_item = -1, stats_item = -1, commands_item = -1;
        if (!stopping && !full) {
            router_item = count;
            items [count++] = (zmq_pollitem_t) { self.router_handle, 0, ZMQ_POLLIN, 0 };
            if (self.https) {
                https_item = count;
                items [count++] = (zmq_pollitem_t) { self.https_handle, 0, ZMQ_POLLIN, 0 };
            }
        }
        if (self.in_flight)
            items [count++] = (zmq_pollitem_t) { NULL, journal_fd (self.journal), ZMQ_POLLIN, 0 };
        if (!stopping && commands_fd (self.commands) >= 0) {
            commands_item = count;
            items [count++] = (zmq_pollitem_t) { NULL, commands_fd (self.commands), ZMQ_POLLIN, 0 };
        }
        if (self.stats) {
            stats_item = count;
            items [count++] = (zmq_pollitem_t) { zsock_resolve (self.stats), 0, ZMQ_POLLIN, 0 };
        }
        items [count++] = (zmq_pollitem_t) { zsock_resolve (self.monitor), 0, ZMQ_POLLIN, 0 };
        if (zmq_poll (items, count, timeout) == -1 && zmq_errno () != EINTR)
            break;
        if (router_item >= 0 && (items [router_item].revents & ZMQ_POLLIN))
            s_drain (&self, s_receive);
        if (https_item >= 0 && (items [https_item].revents & ZMQ_POLLIN))
            s_drain (&self, s_receive_https);
        while (self.in_flight && journal_send_ready (self.journal))
            s_group_complete (&self);
        filling = s_filling (&self);
        if (filling->count
        &&  clock_mono_ms () >= filling->started_ms + config->group_ms)
            s_group_send (&self);
        if (commands_item >= 0 && (items [commands_item].revents & ZMQ_POLLIN))
            s_commands_notified (&self);
        if (!stopping && clock_mono_ms () >= self.commands_resend_ms) {
            //  A new connection may have missed notifications: all are due.
            s_commands_resend (&self, commands_connect (self.commands) == 1);
            self.commands_resend_ms = clock_mono_ms () + INGEST_COMMANDS_RESEND_MS;
        }
        if (stats_item >= 0 && (items [stats_item].revents & ZMQ_POLLIN))
            s_stats (&self);
        if (items [count - 1].revents & ZMQ_POLLIN)
            s_monitor_event (&self);
        producer_poll (self.producer, 0);
        s_metrics_publish (&self);
    }
    health_need_destroy (&broker_need);
    health_loop_destroy (&loop);
    log_info ("ingest stopped", "accepted", LOG_NUM (self.counters.accepted),
              "duplicates", LOG_NUM (self.counters.duplicates),
              "deferred", LOG_NUM (self.counters.deferred));
    s_close (&self);
    return 0;
}
