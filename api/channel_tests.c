/*  channel_tests: queued channel test sends and their outcomes; see
    channel_tests.h.

    One table of slots under one mutex: a slot is free, queued, running or
    done. Request threads fill a free slot (or the oldest done one) and
    signal; workers take the oldest queued slot, send without holding the
    lock, and write the outcome back. The table is small (capacity slots)
    and every walk over it is bounded by that, so the lock is held for
    microseconds, never across a send.
*/
#include "channel_tests.h"
#include "../lib/metrics.h"

#include <czmq.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

typedef enum { S_FREE, S_QUEUED, S_RUNNING, S_DONE } s_state_t;

typedef struct {
    s_state_t state;             // where the test is
    char id [37];                // the test's id
    char tenant_id [37];         // whose
    char channel_id [37];        // which channel
    char *tenant_name;           // the tenant as the notice names it
    channel_t *channel;          // queued: what to send through (owned)
    int64_t queued_ms;           // monotonic: when queued (oldest is sent first)
    int64_t done_ms;             // monotonic: when done
    send_result_t result;        // done: the outcome
    char delivery [48];          // done and sent: the delivery id
    char error [512];            // done and failed: why, as the channel said it
} s_slot_t;

struct _channel_tests_t {
    pthread_mutex_t lock;        // guards everything below
    pthread_cond_t wake;         // a test was queued, or stopping
    s_slot_t *slots;             // capacity of them
    int capacity;                // how many slots
    int per_tenant;              // tests of one tenant queued or running at most
    bool stopping;               // destroy was called
    pthread_t *workers;          // the sending threads
    int worker_count;            // how many started
};

static void
s_slot_clear (s_slot_t *slot)
{
    channel_destroy (&slot->channel);
    free (slot->tenant_name);
    memset (slot, 0, sizeof *slot);
}

//  The oldest queued slot, or NULL. Under the lock.
static s_slot_t *
s_next (channel_tests_t *self)
{
    s_slot_t *oldest = NULL;
    for (int i = 0; i < self->capacity; i++)
        if (self->slots [i].state == S_QUEUED
        &&  (!oldest || self->slots [i].queued_ms < oldest->queued_ms))
            oldest = &self->slots [i];
    return oldest;
}

static void *
s_worker (void *argument)
{
    channel_tests_t *self = (channel_tests_t *) argument;
    pthread_mutex_lock (&self->lock);
    while (!self->stopping) {
        s_slot_t *slot = s_next (self);
        if (!slot) {
            pthread_cond_wait (&self->wake, &self->lock);
            continue;
        }
        slot->state = S_RUNNING;
        channel_t *channel = slot->channel;
        slot->channel = NULL;
        char *tenant_name = strdup (slot->tenant_name ? slot->tenant_name : "");
        pthread_mutex_unlock (&self->lock);

        char delivery [48] = "", error [512] = "";
        send_result_t result = channel_send_test (channel, tenant_name, delivery, error,
                                                  sizeof error);
        channel_destroy (&channel);
        free (tenant_name);

        pthread_mutex_lock (&self->lock);
        //  The slot stays ours while running: nothing else frees a running slot.
        slot->state = S_DONE;
        slot->done_ms = zclock_mono ();
        slot->result = result;
        memcpy (slot->delivery, delivery, sizeof delivery);
        memcpy (slot->error, error, sizeof error);
    }
    pthread_mutex_unlock (&self->lock);
    return NULL;
}

channel_tests_t *
channel_tests_new (int workers, int per_tenant, int capacity)
{
    if (workers < 1 || per_tenant < 1 || capacity < 1)
        return NULL;
    channel_tests_t *self = (channel_tests_t *) calloc (1, sizeof *self);
    self->slots = (s_slot_t *) calloc ((size_t) capacity, sizeof (s_slot_t));
    self->workers = (pthread_t *) calloc ((size_t) workers, sizeof (pthread_t));
    if (!self->slots || !self->workers) {
        free (self->slots);
        free (self->workers);
        free (self);
        return NULL;
    }
    self->capacity = capacity;
    self->per_tenant = per_tenant;
    pthread_mutex_init (&self->lock, NULL);
    pthread_cond_init (&self->wake, NULL);
    for (int i = 0; i < workers; i++)
        if (pthread_create (&self->workers [i], NULL, s_worker, self) == 0)
            self->worker_count++;
    if (self->worker_count == 0)
        channel_tests_destroy (&self);
    return self;
}

void
channel_tests_destroy (channel_tests_t **self_p)
{
    channel_tests_t *self = *self_p;
    if (!self)
        return;
    pthread_mutex_lock (&self->lock);
    self->stopping = true;
    pthread_cond_broadcast (&self->wake);
    pthread_mutex_unlock (&self->lock);
    for (int i = 0; i < self->worker_count; i++)
        pthread_join (self->workers [i], NULL);
    for (int i = 0; i < self->capacity; i++)
        s_slot_clear (&self->slots [i]);
    pthread_cond_destroy (&self->wake);
    pthread_mutex_destroy (&self->lock);
    free (self->workers);
    free (self->slots);
    free (self);
    *self_p = NULL;
}

int
channel_tests_start (channel_tests_t *self, const char *tenant_id, const char *tenant_name,
                     const char *channel_id, channel_t *channel, char *id)
{
    int64_t now = zclock_mono ();
    pthread_mutex_lock (&self->lock);
    int in_progress = 0;
    s_slot_t *free_slot = NULL, *oldest_done = NULL;
    for (int i = 0; i < self->capacity; i++) {
        s_slot_t *slot = &self->slots [i];
        if (slot->state == S_DONE && now - slot->done_ms > CHANNEL_TESTS_KEEP_MS)
            s_slot_clear (slot);
        if (slot->state == S_FREE && !free_slot)
            free_slot = slot;
        if (slot->state == S_DONE && (!oldest_done || slot->done_ms < oldest_done->done_ms))
            oldest_done = slot;
        if ((slot->state == S_QUEUED || slot->state == S_RUNNING)
        &&  strcmp (slot->tenant_id, tenant_id) == 0)
            in_progress++;
    }
    int rc = 0;
    s_slot_t *slot = free_slot ? free_slot : oldest_done;
    if (in_progress >= self->per_tenant)
        rc = 1;
    else
    if (!slot)
        rc = 2;
    metric_inc (metrics_counter (metrics_default (), "drift_api_channel_tests_total",
        "Channel test sends asked for: queued, or refused (the tenant's limit, a full queue)",
        "outcome", rc == 1 ? "over_tenant_limit" : rc == 2 ? "queue_full" : "queued", NULL));
    if (rc) {
        pthread_mutex_unlock (&self->lock);
        channel_destroy (&channel);
        return rc;
    }
    s_slot_clear (slot);
    channel_new_id (slot->id);
    snprintf (slot->tenant_id, sizeof slot->tenant_id, "%s", tenant_id);
    snprintf (slot->channel_id, sizeof slot->channel_id, "%s", channel_id);
    slot->tenant_name = strdup (tenant_name);
    slot->channel = channel;
    slot->queued_ms = now;
    slot->state = S_QUEUED;
    memcpy (id, slot->id, sizeof slot->id);
    pthread_cond_signal (&self->wake);
    pthread_mutex_unlock (&self->lock);
    return 0;
}

json_t *
channel_tests_get (channel_tests_t *self, const char *tenant_id, const char *channel_id,
                   const char *test_id)
{
    json_t *answer = NULL;
    pthread_mutex_lock (&self->lock);
    for (int i = 0; i < self->capacity && !answer; i++) {
        s_slot_t *slot = &self->slots [i];
        if (slot->state == S_FREE || strcmp (slot->id, test_id)
        ||  strcmp (slot->tenant_id, tenant_id) || strcmp (slot->channel_id, channel_id))
            continue;
        answer = json_pack ("{s:s, s:s}", "id", slot->id, "channel_id", slot->channel_id);
        if (slot->state != S_DONE)
            json_object_set_new (answer, "state", json_string ("pending"));
        else
        if (slot->result == SEND_OK) {
            json_object_set_new (answer, "state", json_string ("sent"));
            json_object_set_new (answer, "delivery", json_string (slot->delivery));
        }
        else {
            json_object_set_new (answer, "state", json_string ("failed"));
            json_object_set_new (answer, "error", json_string (slot->error));
            json_object_set_new (answer, "retryable",
                                 json_boolean (slot->result == SEND_TRANSIENT));
        }
    }
    pthread_mutex_unlock (&self->lock);
    return answer;
}
