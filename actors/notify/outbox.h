/*  outbox: notify's deliveries, kept in Redis between the report's journal
    ack and the moment a channel has them.

    Notify does not send while it holds a report: it puts what each channel
    should hear into the outbox and acks the journal, and a sender (its own
    thread, in any notify process) takes due deliveries out and sends them.
    So a slow or dead channel never holds up a report, other channels or the
    pipeline, and a report "completes" as soon as its news is queued.

    Exactly once in effect. Queueing a report's news for a channel first sets
    a mark for (tenant, report, channel), only if it is not set (SET NX, kept
    30 days): the same envelope processed twice, in one process or two,
    queues one delivery. The mark and the delivery are written by one Lua
    script, so neither exists without the other. A delivery leaves the
    outbox only after its send succeeded or failed for good. The rule for a
    crash between a successful send and its removal: the delivery is still
    in the outbox, its lease runs out and it is sent again with the same
    delivery id (the email's Message-ID, the webhook's X-Drift-Delivery), so
    a receiver can recognise the repeat. That window is one send long; it is
    the only case of a second send.

    Layout (prefix "drift:outbox:"):
      seen:{tenant}:{report}:{channel}   the mark, value the delivery id
      due                                sorted set: delivery id → when due (ms, Redis clock)
      d:{id}                             hash: channel, tenant, tenant_name, digest, attempts,
                                         created_ms, last_error
      i:{id}                             list of item JSON documents
    A claim moves a due delivery's time a lease ahead (like a visibility
    timeout), so senders in several processes never send the same delivery
    at once, and one that dies mid-send leaves it to the next after the
    lease. Times are Redis's (TIME), so hosts' clocks do not matter.

    Digests: a channel with a digest window gets one delivery per window
    ("d-CHANNEL-WINDOW"), due at the window's end; each report's items are
    appended to it. Per-report deliveries are due at once.

    Redis must keep its data (appendonly yes): the outbox is the only copy
    of a delivery between the journal ack and the send.
*/
#ifndef OUTBOX_H_INCLUDED
#define OUTBOX_H_INCLUDED

#include "../../lib/kv.h"

#include <stddef.h>
#include <stdint.h>

typedef struct _outbox_t outbox_t;

//  An outbox on kv (not owned; one thread).
outbox_t *outbox_new (kv_t *kv);
void outbox_destroy (outbox_t **self_p);

//  Queue a report's news for a channel: items (JSON documents, each with
//  its stack and report id) under a delivery for (tenant, report, channel)
//  or, with digest_seconds > 0, the channel's digest of the current window.
//  1 queued, 0 already queued before (nothing done), -1 Redis failed.
int outbox_enqueue (outbox_t *self, const char *tenant, const char *tenant_name,
                    const char *report_id, const char *channel, int digest_seconds,
                    const char *const *items, size_t item_count);

//  One delivery taken out to send.
typedef struct {
    char id [128];           // delivery id
    char channel [64];       // channel id
    char tenant [64];        // tenant id
    char tenant_name [128];  // tenant name, for the message
    int digest;              // 1 for a digest
    int attempts;            // sends tried before this one
    int64_t created_ms;      // when it was queued (Redis clock)
    char **items;            // item JSON documents (owned)
    size_t item_count;       // how many
} outbox_delivery_t;

//  Claim up to max due deliveries for lease_ms. Fills deliveries (free each
//  with outbox_delivery_free); returns how many, -1 if Redis failed.
int outbox_claim (outbox_t *self, int lease_ms, outbox_delivery_t *deliveries, int max);
void outbox_delivery_free (outbox_delivery_t *delivery);

//  The delivery is done (sent, or failed for good): removed. 0, -1.
int outbox_complete (outbox_t *self, const char *id);

//  Try again in delay_ms; counts an attempt and keeps error when counted.
//  0, -1.
int outbox_retry (outbox_t *self, const char *id, int delay_ms, int count_attempt,
                  const char *error);

//  Deliveries waiting (due or not), -1 if Redis failed.
long outbox_depth (outbox_t *self);

#endif
