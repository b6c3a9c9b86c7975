/*  channel: a tenant's notification channel, from its row to a send.

    A channel is a row of notification_channels: a kind (email, webhook,
    pagerduty, teams or opsgenie), a name, settings as JSON and its one
    credential sealed: an email login's password, a PagerDuty routing_key or
    an Opsgenie api_key. This is the one place that reads those settings, for
    notify's sender, the dashboard API and `drift channel`.

    email:   {"url": "smtp://host:587" | "smtps://host:465", "starttls": true,
              "username": "...", "password": "...", "from": "drift@example.com",
              "to": ["ops@example.com"], "ca_file": "/path/ca.pem"}
    webhook: {"url": "https://hooks.example.com/...", "format": "slack" | "generic",
              "secret": "...", "ca_file": "/path/ca.pem"}
    pagerduty: {"routing_key": "...", "url" (default the Events API v2 enqueue URL)}
    teams:   {"url": "https://....webhook.office.com/..."}
    opsgenie: {"api_key": "...", "url" (default https://api.opsgenie.com)}

    Where credentials come from is the operator's decision, not a
    tenant's: the password is given as its value, never as a file or an
    environment variable of the server (password_file and password_env are
    refused: they let a tenant admin mail the server's own secrets to
    themselves). It (and a routing or API key) is taken out of the settings
    before they are stored,
    sealed under the operator's channel.key (lib/seal, bound to tenant and
    channel id, so a sealed value copied to another row does not open) and
    never answered back. Without a channel key, channels with credentials
    are refused. A login goes only over TLS: smtps://, or smtp:// with
    STARTTLS, which a channel with a username may not turn off.

    Every host is checked where it is set and again at each send
    (actors/notify/egress): no internal address unless the operator allows the host.
    A webhook's signing secret is in the settings, since both ends must
    hold it; listings show it as "(set)".
*/
#ifndef CHANNEL_H_INCLUDED
#define CHANNEL_H_INCLUDED

#include "notice.h"

#include <stdbool.h>
#include <stddef.h>

typedef struct _channel_t channel_t;
typedef struct _seal_keyring_t seal_keyring_t;

//  What the process that checks or sends gives every channel: settings of
//  the operator, never of a tenant.
typedef struct {
    long timeout_ms;             // one send, connect to last byte
    const char *allow_hosts;     // hosts that may be internal (egress.h), or NULL
    seal_keyring_t *keyring;     // channel.key; NULL: channels with a password refused
} channel_context_t;

//  A channel from its row: kind, settings JSON, the sealed password (hex,
//  NULL or "" for none) and the ids it was sealed under. NULL with the
//  reason in error when the settings are unusable (bad URL, no recipient,
//  unknown kind or format, a password that does not open).
channel_t *channel_new (const char *kind, const char *settings, const char *sealed,
                        const char *tenant_id, const char *channel_id,
                        const channel_context_t *context, char *error, size_t error_size);
void channel_destroy (channel_t **self_p);

//  Send notice through the channel. An email channel keeps its connection
//  to the server for its next notice (mail.h), so a channel is one
//  thread's at a time; destroying it says QUIT.
send_result_t channel_send (channel_t *self, const notice_t *notice, char *error,
                            size_t error_size);

//  Send message (mail.h) through an email channel's server, From and login
//  to the one address to rather than the channel's recipients (an
//  invitation goes to the person invited). SEND_PERMANENT for a webhook.
struct _mail_message_t;
send_result_t channel_send_message (channel_t *self, const char *to,
                                    const struct _mail_message_t *message, char *error,
                                    size_t error_size);

//  Check kind and settings as they are submitted: 0, or -1 with the
//  reason (which names the field). No name resolution.
int channel_check (const char *kind, const char *settings, char *error, size_t error_size);

//  The settings to store for a new channel of tenant_id with id
//  channel_id: checked as channel_check does, its host checked as a send
//  would (egress.h), a webhook without a signing secret given a random one
//  (64 hex digits) copied to secret [65] to be shown once (secret ""
//  otherwise; the caller wipes it), and an email password taken out and
//  sealed into *sealed (hex, caller frees; NULL without a password).
//  Caller frees the text; NULL with the reason in error when refused.
char *channel_settings_prepare (const char *kind, const char *settings, const char *tenant_id,
                                const char *channel_id, const channel_context_t *context,
                                char *secret, char **sealed, char *error, size_t error_size);

//  Send a sample notice (a made-up security group opened to the world, on
//  stack "test-stack", saying it is a test) for tenant through the
//  channel, at once; to PagerDuty and Opsgenie its resolution follows, so
//  the sample alert closes itself. Its delivery id ("test-" and 16 hex digits) in
//  delivery [48].
send_result_t channel_send_test (channel_t *self, const char *tenant, char *delivery,
                                 char *error, size_t error_size);

//  The settings with secrets left out (the webhook secret shown as
//  "(set)"), for listing (caller frees). origin_only: a webhook URL is
//  cut to its scheme and host, for readers who may not post to it (the
//  path of a Slack URL is its credential).
char *channel_settings_public (const char *kind, const char *settings, bool origin_only);

//  A random UUID (version 4) in id [37], for a channel whose id must be
//  known before its row is written (its password is sealed under it).
void channel_new_id (char *id);

#endif
