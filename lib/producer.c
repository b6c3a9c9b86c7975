/*  producer: credit-limited SUBMITs to one stage over one or more brokers.
    See producer.h. Credit is per broker link and is forgotten when the link
    is rebuilt: the broker forgets it too.
*/
#include "producer.h"
#include "clock.h"
#include "drp.h"
#include "link.h"
#include "log.h"

#define PRODUCER_MAX_BROKERS 8

struct _producer_t {
    link_t *links [PRODUCER_MAX_BROKERS]; // one per broker
    uint64_t credit [PRODUCER_MAX_BROKERS]; // credit granted by each, unused
    int generation [PRODUCER_MAX_BROKERS]; // link generation the credit belongs to
    int link_count;                       // how many brokers
    int next;                             // link to try first, for round robin
    link_log_t log;                       // this thread's log lines, to every broker
};

producer_t *
producer_new (const char *brokers, const char *stage, int window, int heartbeat_ms,
              int liveness)
{
    producer_t *self = (producer_t *) zmalloc (sizeof *self);
    drp_header_t open = { .command = DRP_OPEN, .count = (uint32_t) window };
    snprintf (open.name, sizeof open.name, "%s", stage);
    snprintf (open.instance, sizeof open.instance, "%s", log_instance ());
    snprintf (open.version, sizeof open.version, "%s", DRIFT_VERSION);
    self->link_count = link_new_all (brokers, &open, heartbeat_ms, liveness, self->links,
                                     PRODUCER_MAX_BROKERS);
    if (self->link_count < 0) {
        free (self);
        return NULL;
    }
    for (int i = 0; i < self->link_count; i++)
        self->generation [i] = self->links [i]->generation;
    //  The creating thread is the one that feeds the stage (ingest's loop,
    //  the replayer): its lines go to the brokers too, as a worker's do, so
    //  `drift tail` shows ingest and the replayer beside the stages.
    self->log.links = self->links;
    self->log.count = self->link_count;
    log_set_publisher (link_log_publish, &self->log);
    return self;
}

void
producer_destroy (producer_t **self_p)
{
    if (*self_p) {
        producer_t *self = *self_p;
        log_set_publisher (NULL, NULL);
        drp_header_t bye = { .command = DRP_DISCONNECT };
        for (int i = 0; i < self->link_count; i++) {
            if (self->links [i]->socket)
                drp_send (self->links [i]->handle, NULL, &bye, NULL, ZMQ_DONTWAIT);
            link_destroy (&self->links [i]);
        }
        free (self);
        *self_p = NULL;
    }
}

static void
s_read_link (producer_t *self, int index)
{
    link_t *link = self->links [index];
    while (link->socket) {
        zmq_msg_t frames [2];
        int count = drp_recv_frames (link->handle, frames, 2, ZMQ_DONTWAIT);
        if (count < 0)
            break;
        drp_header_t header;
        const char *reason;
        if (drp_decode ((const uint8_t *) zmq_msg_data (&frames [0]),
                        zmq_msg_size (&frames [0]), &header, &reason) == 0) {
            link_heard (link);
            if (header.command == DRP_GRANT)
                self->credit [index] += header.count;
            else
            if (header.command == DRP_DISCONNECT)
                link_reset (link, header.name [0] ? header.name : "broker said disconnect");
        }
        drp_close_frames (frames, count, 2);
    }
}

//  Heartbeats and reconnects. Credit belongs to one registration: a link
//  that is down or was rebuilt has none until the broker grants again.
static void
s_tick (producer_t *self)
{
    for (int i = 0; i < self->link_count; i++) {
        link_tick (self->links [i]);
        if (self->links [i]->generation != self->generation [i] || !self->links [i]->socket) {
            self->credit [i] = 0;
            self->generation [i] = self->links [i]->generation;
        }
    }
}

void
producer_poll (producer_t *self, int timeout_ms)
{
    int64_t deadline = clock_mono_ms () + timeout_ms;
    do {
        zmq_pollitem_t items [PRODUCER_MAX_BROKERS];
        int link_of [PRODUCER_MAX_BROKERS];
        int count = 0;
        int64_t wait = deadline - clock_mono_ms ();
        for (int i = 0; i < self->link_count; i++) {
            int64_t next = link_next_timer (self->links [i]);
            if (next < wait)
                wait = next;
            if (self->links [i]->socket) {
                items [count] = (zmq_pollitem_t) { self->links [i]->handle, 0, ZMQ_POLLIN, 0 };
                link_of [count++] = i;
            }
        }
        zmq_poll (items, count, wait > 0 ? wait : 0);
        for (int i = 0; i < count; i++)
            if (items [i].revents & ZMQ_POLLIN)
                s_read_link (self, link_of [i]);
        s_tick (self);
    } while (clock_mono_ms () < deadline && producer_credit (self) == 0);
}

uint64_t
producer_credit (producer_t *self)
{
    uint64_t total = 0;
    for (int i = 0; i < self->link_count; i++)
        total += self->credit [i];
    return total;
}

int
producer_submit (producer_t *self, const void *body, size_t size, uint32_t attempt,
                 int timeout_ms)
{
    int64_t deadline = timeout_ms < 0 ? INT64_MAX : clock_mono_ms () + timeout_ms;
    while (true) {
        //  Take in GRANTs without waiting, so credit arriving while we are
        //  busy sending is seen.
        for (int i = 0; i < self->link_count; i++)
            if (self->links [i]->socket)
                s_read_link (self, i);
        s_tick (self);
        for (int tries = 0; tries < self->link_count; tries++) {
            int index = (self->next + tries) % self->link_count;
            link_t *link = self->links [index];
            if (!self->credit [index] || !link->socket)
                continue;
            drp_header_t header = { .command = DRP_SUBMIT, .count = attempt };
            if (drp_send_bytes (link->handle, NULL, &header, body, size, ZMQ_DONTWAIT))
                continue;
            self->credit [index]--;
            self->next = (index + 1) % self->link_count;
            return 0;
        }
        int64_t left = deadline - clock_mono_ms ();
        if (left <= 0)
            return -1;
        producer_poll (self, left > 100 ? 100 : (int) left);
    }
}

bool
producer_connected (producer_t *self)
{
    for (int i = 0; i < self->link_count; i++)
        if (link_up (self->links [i]))
            return true;
    return false;
}
