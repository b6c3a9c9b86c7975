/*  channel: settings of a notification channel and sending through it; see
    channel.h.
*/
#include "channel.h"
#include "alerting.h"
#include "egress.h"
#include "mail.h"
#include "../../lib/seal.h"
#include "webhook.h"

#include <czmq.h>
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_MAX_RECIPIENTS 50
#define S_PASSWORD_MAX 1024          // bytes of an SMTP password
#define S_KEY_MAX 256                // bytes of a routing key or API key

//  The kinds of channel, what each keeps sealed and where it sends by default.
typedef enum {
    S_EMAIL, S_WEBHOOK, S_PAGERDUTY, S_TEAMS, S_OPSGENIE, S_KINDS
} s_kind_t;

static const struct {
    const char *name;             // as stored and given by the API and the CLI
    const char *credential;       // the setting that is sealed, or NULL
    const char *default_url;      // url when the settings give none, or NULL: required
} s_kinds [S_KINDS] = {
    { "email", "password", NULL },
    { "webhook", NULL, NULL },
    { "pagerduty", "routing_key", "https://events.pagerduty.com/v2/enqueue" },
    { "teams", NULL, NULL },
    { "opsgenie", "api_key", "https://api.opsgenie.com" }
};

struct _channel_t {
    s_kind_t kind;                // which of s_kinds
    json_t *settings;             // the parsed settings (strings below point into it)
    mail_config_t mail;           // email: what actors/notify/mail needs
    const char *to [S_MAX_RECIPIENTS]; // email: recipients
    char *password;               // the credential opened (email, pagerduty, opsgenie), wiped
    webhook_config_t webhook;     // webhook: what actors/notify/webhook needs
    alerting_config_t alerting;   // pagerduty, teams, opsgenie: actors/notify/alerting.h
};

//  The kind named name, or S_KINDS.
static s_kind_t
s_kind (const char *name)
{
    s_kind_t kind = S_EMAIL;
    while (kind < S_KINDS && !(name && strcmp (name, s_kinds [kind].name) == 0))
        kind++;
    return kind;
}

//  Whether a key is one we may put into a body or a header: 1 to S_KEY_MAX
//  bytes of printable ASCII, no space (a CR or LF would add a header).
static bool
s_key_ok (json_t *value)
{
    const char *key = json_string_value (value);
    size_t length = key ? strlen (key) : 0;
    if (length == 0 || length > S_KEY_MAX)
        return false;
    for (size_t index = 0; index < length; index++)
        if (key [index] <= 0x20 || key [index] >= 0x7F)
            return false;
    return true;
}

static const char *
s_string (json_t *settings, const char *name)
{
    const char *value = json_string_value (json_object_get (settings, name));
    return value && *value ? value : NULL;
}

//  The settings of kind, checked. NULL with the reason.
static json_t *
s_parse (const char *kind, const char *text, char *error, size_t error_size)
{
    json_error_t parse_error;
    json_t *settings = json_loads (text ? text : "", 0, &parse_error);
    if (!json_is_object (settings)) {
        snprintf (error, error_size, "settings are not a JSON object: %s", parse_error.text);
        json_decref (settings);
        return NULL;
    }
    s_kind_t known = s_kind (kind);
    if (known < S_KINDS && s_kinds [known].default_url && !json_object_get (settings, "url"))
        json_object_set_new (settings, "url", json_string (s_kinds [known].default_url));
    const char *url = s_string (settings, "url");
    const char *credential = known < S_KINDS ? s_kinds [known].credential : NULL;
    const char *problem = NULL;
    if (known == S_KINDS)
        problem = "a channel kind is email, webhook, pagerduty, teams or opsgenie";
    //  A credential given to a kind that does not seal it would be stored in clear.
    for (s_kind_t other = S_EMAIL; !problem && other < S_KINDS; other++)
        if (s_kinds [other].credential && s_kinds [other].credential != credential
        &&  json_object_get (settings, s_kinds [other].credential))
            problem = "a credential (password, routing_key, api_key) is given to a channel "
                      "kind that does not take it";
    else
    if (!url || strpbrk (url, "\r\n \t"))
        problem = "settings need a url without spaces";
    else
    if (known == S_EMAIL) {
        json_t *to = json_object_get (settings, "to");
        if (strncmp (url, "smtp://", 7) && strncmp (url, "smtps://", 8))
            problem = "an email url is smtp://host[:port] or smtps://host[:port]";
        else
        if (!s_string (settings, "from"))
            problem = "an email channel needs from";
        else
        if (!json_is_array (to) || json_array_size (to) == 0
        ||  json_array_size (to) > S_MAX_RECIPIENTS)
            problem = "an email channel needs to: a list of 1 to 50 addresses";
        else
        if (json_object_get (settings, "password_file") || json_object_get (settings, "password_env"))
            problem = "password_file and password_env are not accepted: give the password "
                      "itself, which is stored encrypted";
        else
        if (json_object_get (settings, "password")
        &&  (!json_is_string (json_object_get (settings, "password"))
             || !s_string (settings, "password")
             || strlen (s_string (settings, "password")) > S_PASSWORD_MAX))
            problem = "password is a string of 1 to 1024 bytes";
        else
        if (s_string (settings, "password") && !s_string (settings, "username"))
            problem = "a password needs a username";
        else
        if (s_string (settings, "username") && strncmp (url, "smtp://", 7) == 0
        &&  json_is_false (json_object_get (settings, "starttls")))
            problem = "a login is sent only over TLS: use smtps:// or keep starttls on";
        for (size_t i = 0; !problem && i < json_array_size (to); i++)
            if (!json_string_value (json_array_get (to, i)))
                problem = "every recipient in to is a string";
    }
    else
    if (strcmp (kind, "webhook") == 0) {
        const char *format = s_string (settings, "format");
        if (strncmp (url, "http://", 7) && strncmp (url, "https://", 8))
            problem = "a webhook url is http:// or https://";
        else
        if (format && strcmp (format, "slack") && strcmp (format, "generic"))
            problem = "a webhook format is slack or generic";
    }
    else {
        if (strncmp (url, "http://", 7) && strncmp (url, "https://", 8))
            problem = "a pagerduty, teams or opsgenie url is http:// or https://";
        else
        if (credential && json_object_get (settings, credential)
        &&  !s_key_ok (json_object_get (settings, credential)))
            problem = known == S_PAGERDUTY
                    ? "routing_key is 1 to 256 printable ASCII characters without spaces"
                    : "api_key is 1 to 256 printable ASCII characters without spaces";
    }
    if (problem) {
        snprintf (error, error_size, "%s", problem);
        json_decref (settings);
        return NULL;
    }
    return settings;
}

int
channel_check (const char *kind, const char *settings, char *error, size_t error_size)
{
    json_t *parsed = s_parse (kind, settings, error, error_size);
    json_decref (parsed);
    return parsed ? 0 : -1;
}

//  The associated data a channel's password is sealed with: a sealed
//  value moved to another tenant's or channel's row does not open.
static void
s_associated (const char *tenant_id, const char *channel_id, char *text, size_t size)
{
    snprintf (text, size, "drift-channel-password:%s/%s", tenant_id ? tenant_id : "",
              channel_id ? channel_id : "");
}

//  The password sealed as hex (caller frees); NULL with the reason.
static char *
s_seal (seal_keyring_t *keyring, const char *password, const char *tenant_id,
        const char *channel_id, char *error, size_t error_size)
{
    if (!keyring) {
        snprintf (error, error_size, "this server has no channel key (channel.key, made by "
                  "drift keys init), so a channel with a password or key cannot be stored");
        return NULL;
    }
    char associated [128];
    s_associated (tenant_id, channel_id, associated, sizeof associated);
    uint8_t *blob = NULL;
    size_t size = 0;
    if (seal_seal (keyring, (const uint8_t *) password, strlen (password), associated, &blob,
                   &size)) {
        snprintf (error, error_size, "the password could not be sealed");
        return NULL;
    }
    char *hex = (char *) malloc (size * 2 + 1);
    if (hex)
        sodium_bin2hex (hex, size * 2 + 1, blob, size);
    else
        snprintf (error, error_size, "out of memory");
    free (blob);
    return hex;
}

//  The password opened from its hex (caller wipes and frees); NULL with
//  the reason.
static char *
s_open (seal_keyring_t *keyring, const char *sealed, const char *tenant_id,
        const char *channel_id, char *error, size_t error_size)
{
    if (!keyring) {
        snprintf (error, error_size, "the channel has a password but this process has no "
                  "channel key (--channel-key)");
        return NULL;
    }
    size_t length = strlen (sealed);
    uint8_t *blob = (uint8_t *) malloc (length / 2 + 1);
    size_t size = 0;
    if (!blob || sodium_hex2bin (blob, length / 2 + 1, sealed, length, NULL, &size, NULL)) {
        snprintf (error, error_size, "the channel's sealed password is not hex");
        free (blob);
        return NULL;
    }
    char associated [128], reason [256];
    s_associated (tenant_id, channel_id, associated, sizeof associated);
    uint8_t *plain = NULL;
    size_t plain_size = 0;
    int rc = seal_open (keyring, blob, size, associated, &plain, &plain_size, reason,
                        sizeof reason);
    free (blob);
    if (rc) {
        snprintf (error, error_size, "the channel's password does not open (%s): add the "
                  "channel again", reason);
        return NULL;
    }
    return (char *) plain;              // seal_open ends it with a NUL
}

channel_t *
channel_new (const char *kind, const char *settings, const char *sealed, const char *tenant_id,
             const char *channel_id, const channel_context_t *context, char *error,
             size_t error_size)
{
    long timeout_ms = context->timeout_ms;
    json_t *parsed = s_parse (kind, settings, error, error_size);
    if (!parsed)
        return NULL;
    channel_t *self = (channel_t *) calloc (1, sizeof *self);
    self->settings = parsed;
    self->kind = s_kind (kind);
    const char *credential = s_kinds [self->kind].credential;
    if (self->kind == S_EMAIL) {
        const char *url = s_string (parsed, "url");
        json_t *starttls = json_object_get (parsed, "starttls");
        self->mail.url = url;
        self->mail.starttls = strncmp (url, "smtp://", 7) == 0
                           && (!starttls || json_is_true (starttls));
        self->mail.username = s_string (parsed, "username");
        self->mail.from = s_string (parsed, "from");
        json_t *to = json_object_get (parsed, "to");
        for (size_t i = 0; i < json_array_size (to); i++)
            self->to [i] = json_string_value (json_array_get (to, i));
        self->mail.to = self->to;
        self->mail.to_count = json_array_size (to);
        self->mail.ca_file = s_string (parsed, "ca_file");
        self->mail.timeout_ms = timeout_ms;
        self->mail.allow_hosts = context->allow_hosts;
        //  Its messages share a connection while it lives (mail.h).
        self->mail.session = mail_session_new ();
        if (self->mail.username && !(sealed && *sealed)) {
            snprintf (error, error_size, "the channel has a username but no password");
            channel_destroy (&self);
            return NULL;
        }
        //  Without a username the mail goes without a login.
        if (!self->mail.username)
            credential = NULL;
    }
    else
    if (self->kind == S_WEBHOOK) {
        self->webhook.url = s_string (parsed, "url");
        self->webhook.format = s_string (parsed, "format") ? s_string (parsed, "format")
                                                          : "generic";
        self->webhook.secret = s_string (parsed, "secret");
        self->webhook.ca_file = s_string (parsed, "ca_file");
        self->webhook.timeout_ms = timeout_ms;
        self->webhook.allow_hosts = context->allow_hosts;
    }
    else {
        self->alerting.target = (httppost_target_t) {
            .url = s_string (parsed, "url"), .ca_file = s_string (parsed, "ca_file"),
            .timeout_ms = timeout_ms, .allow_hosts = context->allow_hosts
        };
        if (credential && !(sealed && *sealed)) {
            snprintf (error, error_size, "the %s channel has no %s: add the channel again with it",
                      kind, credential);
            channel_destroy (&self);
            return NULL;
        }
    }
    if (credential) {
        self->password = s_open (context->keyring, sealed, tenant_id, channel_id, error,
                                 error_size);
        if (!self->password) {
            channel_destroy (&self);
            return NULL;
        }
        self->mail.password = self->password;
        self->alerting.key = self->password;
    }
    return self;
}

void
channel_destroy (channel_t **self_p)
{
    channel_t *self = *self_p;
    if (!self)
        return;
    if (self->password) {
        sodium_memzero (self->password, strlen (self->password));
        free (self->password);
    }
    mail_session_destroy (&self->mail.session);
    json_decref (self->settings);
    free (self);
    *self_p = NULL;
}

send_result_t
channel_send (channel_t *self, const notice_t *notice, char *error, size_t error_size)
{
    switch (self->kind) {
        case S_EMAIL:
            return mail_send (&self->mail, notice, error, error_size);
        case S_WEBHOOK:
            return webhook_send (&self->webhook, notice, error, error_size);
        case S_PAGERDUTY:
            return pagerduty_send (&self->alerting, notice, error, error_size);
        case S_TEAMS:
            return teams_send (&self->alerting, notice, error, error_size);
        default:
            return opsgenie_send (&self->alerting, notice, error, error_size);
    }
}

send_result_t
channel_send_message (channel_t *self, const char *to, const mail_message_t *message,
                      char *error, size_t error_size)
{
    if (self->kind != S_EMAIL) {
        snprintf (error, error_size, "not an email channel");
        return SEND_PERMANENT;
    }
    //  The channel's server, From and login; the one recipient given.
    mail_config_t config = self->mail;
    const char *recipients [] = { to };
    config.to = recipients;
    config.to_count = 1;
    config.session = NULL;      // one message to another recipient: its own connection
    return mail_send_message (&config, message, error, error_size);
}

char *
channel_settings_public (const char *kind, const char *settings, bool origin_only)
{
    json_t *parsed = json_loads (settings ? settings : "{}", 0, NULL);
    if (!json_is_object (parsed)) {
        json_decref (parsed);
        return strdup ("{}");
    }
    if (json_object_get (parsed, "secret"))
        json_object_set_new (parsed, "secret", json_string ("(set)"));
    for (s_kind_t known = S_EMAIL; known < S_KINDS; known++)
        if (s_kinds [known].credential)
            json_object_del (parsed, s_kinds [known].credential);
    const char *url = json_string_value (json_object_get (parsed, "url"));
    //  A webhook's and a Teams URL's path is the credential.
    if (origin_only && url && (strcmp (kind, "webhook") == 0 || strcmp (kind, "teams") == 0)) {
        char origin [256];
        if (httppost_origin (url, origin, sizeof origin))
            snprintf (origin, sizeof origin, "(not a URL)");
        json_object_set_new (parsed, "url", json_string (origin));
    }
    char *text = json_dumps (parsed, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref (parsed);
    return text;
}

void
channel_new_id (char *id)
{
    uint8_t bytes [16];
    randombytes_buf (bytes, sizeof bytes);
    bytes [6] = (uint8_t) ((bytes [6] & 0x0F) | 0x40);   // version 4
    bytes [8] = (uint8_t) ((bytes [8] & 0x3F) | 0x80);   // RFC 4122 variant
    snprintf (id, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
              bytes [0], bytes [1], bytes [2], bytes [3], bytes [4], bytes [5], bytes [6],
              bytes [7], bytes [8], bytes [9], bytes [10], bytes [11], bytes [12], bytes [13],
              bytes [14], bytes [15]);
}

char *
channel_settings_prepare (const char *kind, const char *settings, const char *tenant_id,
                          const char *channel_id, const channel_context_t *context,
                          char *secret, char **sealed, char *error, size_t error_size)
{
    *secret = 0;
    *sealed = NULL;
    //  Checked, and with a kind's default url filled in.
    json_t *object = s_parse (kind, settings, error, error_size);
    if (!object)
        return NULL;
    const char *credential = s_kinds [s_kind (kind)].credential;
    json_t *value = credential ? json_object_get (object, credential) : NULL;
    if (credential && strcmp (kind, "email") && !value) {
        snprintf (error, error_size, "a %s channel needs %s", kind, credential);
        json_decref (object);
        return NULL;
    }
    //  The host as a send would see it, so a channel that could never be
    //  sent to is refused now, with the reason, not at its first notice.
    egress_t *egress = egress_check (json_string_value (json_object_get (object, "url")),
                                     context->allow_hosts, error, error_size);
    if (!egress) {
        json_decref (object);
        return NULL;
    }
    egress_destroy (&egress);
    //  The receiver needs the secret to verify X-Drift-Signature: one is
    //  made here unless the operator brought their own.
    if (strcmp (kind, "webhook") == 0 && !json_string_value (json_object_get (object, "secret"))) {
        uint8_t bytes [32];
        randombytes_buf (bytes, sizeof bytes);
        sodium_bin2hex (secret, 65, bytes, sizeof bytes);
        sodium_memzero (bytes, sizeof bytes);
        json_object_set_new (object, "secret", json_string (secret));
    }
    //  The credential leaves the settings here and is kept only sealed.
    if (strcmp (kind, "email") == 0 && s_string (object, "username") && !value) {
        snprintf (error, error_size, "a username needs its password");
        json_decref (object);
        return NULL;
    }
    if (value) {
        *sealed = s_seal (context->keyring, json_string_value (value), tenant_id, channel_id,
                          error, error_size);
        json_object_del (object, credential);
        if (!*sealed) {
            json_decref (object);
            return NULL;
        }
    }
    char *stored = json_dumps (object, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref (object);
    return stored;
}

send_result_t
channel_send_test (channel_t *self, const char *tenant, char *delivery, char *error,
                   size_t error_size)
{
    uint8_t random [8];
    randombytes_buf (random, sizeof random);
    snprintf (delivery, 48, "test-%02x%02x%02x%02x%02x%02x%02x%02x", random [0], random [1],
              random [2], random [3], random [4], random [5], random [6], random [7]);
    notice_item_t item = {
        .fingerprint = "test", .address = "aws_security_group.example", .type =
        "aws_security_group", .kind = "modified", .severity = 4, .score = 0.8,
        .changes = "[{\"path\":\"ingress[0].cidr_blocks[0]\",\"op\":\"added\",\"before\":\"\","
                   "\"after\":\"\\\"0.0.0.0/0\\\"\"}]",
        .reasons = "[{\"rule\":\"test\",\"severity\":4,\"reason\":\"a test notice from drift "
                   "channel test: nothing drifted\",\"path\":\"\"}]",
        .stack = "test-stack", .report_id = delivery
    };
    notice_t notice = {
        .delivery_id = delivery, .tenant = tenant, .stack = "test-stack", .report_id = delivery,
        .received_us = zclock_time () * 1000, .severity = 4, .score = 80, .items = &item,
        .item_count = 1
    };
    send_result_t result = channel_send (self, &notice, error, error_size);
    //  An incident service would keep the sample open and page someone
    //  until it is resolved by hand: it is resolved at once, as a
    //  resolved drift resolves its alert.
    if (result == SEND_OK && (self->kind == S_PAGERDUTY || self->kind == S_OPSGENIE)) {
        char resolved_id [64];
        snprintf (resolved_id, sizeof resolved_id, "%s-resolved", delivery);
        item.resolved = true;
        notice.delivery_id = resolved_id;
        result = channel_send (self, &notice, error, error_size);
    }
    return result;
}
