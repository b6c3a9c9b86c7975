/*  channel: a tenant's notification channel, from its row to a send.

    A channel is a row of notification_channels: a kind (email or webhook),
    a name, and settings as JSON. This is the one place that reads those
    settings, for notify's sender, `drift channel add` (which checks them
    before writing) and `drift channel test`.

    email:   {"url": "smtp://host:587" | "smtps://host:465", "starttls": true,
              "username": "...", "password_file": "/run/secrets/smtp" |
              "password_env": "DRIFT_SMTP_PASSWORD", "from": "drift@example.com",
              "to": ["ops@example.com"], "ca_file": "/path/ca.pem"}
    webhook: {"url": "https://hooks.example.com/...", "format": "slack" | "generic",
              "secret": "...", "ca_file": "/path/ca.pem"}

    starttls defaults to true for smtp://: a password never crosses the
    network in clear unless the operator says "starttls": false. Passwords
    are never in the database: only where to find them (a file, mode 0600
    or stricter, or an environment variable of the notify process). A
    webhook's signing secret is in the settings, since both ends must hold
    it; `drift channel list` never prints it.
*/
#ifndef CHANNEL_H_INCLUDED
#define CHANNEL_H_INCLUDED

#include "notice.h"

#include <stddef.h>

typedef struct _channel_t channel_t;

//  A channel from its row (kind, name, settings JSON). NULL with the
//  reason in error when the settings are unusable (missing or unreadable
//  password file, bad URL, no recipient, unknown kind or format).
channel_t *channel_new (const char *kind, const char *name, const char *settings,
                        long timeout_ms, char *error, size_t error_size);
void channel_destroy (channel_t **self_p);

//  Send notice through the channel.
send_result_t channel_send (channel_t *self, const notice_t *notice, char *error,
                            size_t error_size);

//  Check kind and settings as channel_new would, without reading secrets'
//  files: 0, or -1 with the reason.
int channel_check (const char *kind, const char *settings, char *error, size_t error_size);

//  The settings to store for a new channel: checked as channel_check does,
//  and a webhook without a signing secret given a random one (64 hex
//  digits), copied to secret [65] to be shown once (secret "" otherwise;
//  the caller wipes it). Caller frees the text; NULL with the reason in
//  error when the settings are refused.
char *channel_settings_prepare (const char *kind, const char *settings, char *secret,
                                char *error, size_t error_size);

//  Send a sample notice (a made-up security group opened to the world, on
//  stack "test-stack", saying it is a test) for tenant through the
//  channel, at once. Its delivery id ("test-" and 16 hex digits) in
//  delivery [48].
send_result_t channel_send_test (channel_t *self, const char *tenant, char *delivery,
                                 char *error, size_t error_size);

//  The settings with secrets left out (the webhook secret shown as
//  "(set)"), for listing (caller frees).
char *channel_settings_public (const char *settings);

#endif
