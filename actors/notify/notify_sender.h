/*  notify_sender: the half of the notify stage that talks to the outside.

    The stage queues each report's news in the outbox (actors/notify/outbox) and acks
    the journal; this thread (`senders` of them per notify process, 4 by
    default, each claiming a few deliveries at a time; the stage wakes them
    when it queues, poll_ms is for what falls due later) takes due deliveries
    out and sends them through their channel (actors/notify/channel), behind the
    channel's circuit breaker (actors/notify/breaker) and its send rate (a token
    bucket per channel in Redis, lib/ratelimit, shared by every notify
    process: a flood of news waits its turn, nothing is dropped, and a
    receiver such as Slack, which takes about one message a second, is not
    hammered). A transient failure is retried
    with exponential backoff and jitter; a permanent one, or the last of
    `max-attempts`, is recorded against the channel (last_error, shown by
    `drift channel list` and `drift status`) and the delivery dropped.
    Success is recorded too (last_sent_at, sent_total). Every outcome is one
    log line with tenant, channel and delivery id. Every silent-check-ms it
    also looks for stacks gone silent (actors/notify/notify_silence).
*/
#ifndef NOTIFY_SENDER_H_INCLUDED
#define NOTIFY_SENDER_H_INCLUDED

#include <czmq.h>

typedef struct {
    const char *database;        // where channels are read and their health written
    const char *redis;           // the outbox and the breakers
    int poll_ms;                 // how often the outbox is looked at
    int lease_ms;                // a claimed delivery is another sender's after this
    int retry_base_ms;           // first retry after about this long ...
    int retry_max_ms;            // ... doubling up to this
    int max_attempts;            // sends before a delivery fails for good
    int breaker_failures;        // consecutive failures that open a channel's breaker
    int breaker_cooldown_ms;     // how long it stays open before a probe
    long send_timeout_ms;        // one send, connect to last byte
    int channel_rate;            // sends per minute per channel (0: unlimited) ...
    int channel_burst;           // ... after a burst of this many
    int silent_after_s;          // a stack with no report for this long is told (0: never)
    int silent_check_ms;         // how often silent stacks are looked for
    const char *allow_hosts;     // hosts channels may reach though internal (actors/notify/egress)
    struct _seal_keyring_t *channel_keyring; // opens channels' SMTP passwords; NULL: none
} notify_sender_config_t;

//  zactor_new (notify_sender_actor, &config); stops on "$TERM". config
//  must outlive the actor.
void notify_sender_actor (zsock_t *pipe, void *args);

#endif
