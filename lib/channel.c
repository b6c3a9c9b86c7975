/*  channel: settings of a notification channel and sending through it; see
    channel.h.
*/
#include "channel.h"
#include "mail.h"
#include "webhook.h"

#include <czmq.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define S_MAX_RECIPIENTS 50

struct _channel_t {
    bool email;                   // email, else webhook
    json_t *settings;             // the parsed settings (strings below point into it)
    mail_config_t mail;           // email: what lib/mail needs
    const char *to [S_MAX_RECIPIENTS]; // email: recipients
    char *password;               // email: the password read, wiped on destroy
    webhook_config_t webhook;     // webhook: what lib/webhook needs
};

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
    const char *url = s_string (settings, "url");
    const char *problem = NULL;
    if (!url || strpbrk (url, "\r\n \t"))
        problem = "settings need a url without spaces";
    else
    if (strcmp (kind, "email") == 0) {
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
        if (s_string (settings, "username") && !s_string (settings, "password_file")
        &&  !s_string (settings, "password_env"))
            problem = "a username needs password_file or password_env (never the password)";
        else
        if (json_object_get (settings, "password"))
            problem = "the password is not kept in settings: use password_file or password_env";
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
    else
        problem = "a channel kind is email or webhook";
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

//  The SMTP password from its file (private to its owner) or environment
//  variable (caller wipes and frees); NULL with the reason.
static char *
s_password (json_t *settings, char *error, size_t error_size)
{
    const char *path = s_string (settings, "password_file");
    if (!path) {
        const char *name = s_string (settings, "password_env");
        const char *value = name ? getenv (name) : NULL;
        if (!value) {
            snprintf (error, error_size, "password_env %s is not set in notify's environment",
                      name ? name : "");
            return NULL;
        }
        return strdup (value);
    }
    int fd = open (path, O_RDONLY | O_NOFOLLOW);
    struct stat info;
    if (fd < 0 || fstat (fd, &info)) {
        snprintf (error, error_size, "password_file %s: %s", path, strerror (errno));
        if (fd >= 0)
            close (fd);
        return NULL;
    }
    if (!S_ISREG (info.st_mode) || (info.st_mode & 077) || info.st_uid != geteuid ()) {
        snprintf (error, error_size, "password_file %s must be a file of ours with mode 0600 "
                  "(it is %03o)", path, (unsigned) (info.st_mode & 0777));
        close (fd);
        return NULL;
    }
    char buffer [1024];
    ssize_t size = read (fd, buffer, sizeof buffer - 1);
    close (fd);
    if (size < 0) {
        snprintf (error, error_size, "password_file %s: %s", path, strerror (errno));
        return NULL;
    }
    while (size > 0 && (buffer [size - 1] == '\n' || buffer [size - 1] == '\r'))
        size--;
    buffer [size] = 0;
    char *password = strdup (buffer);
    sodium_memzero (buffer, sizeof buffer);
    return password;
}

channel_t *
channel_new (const char *kind, const char *name, const char *settings, long timeout_ms,
             char *error, size_t error_size)
{
    (void) name;
    json_t *parsed = s_parse (kind, settings, error, error_size);
    if (!parsed)
        return NULL;
    channel_t *self = (channel_t *) calloc (1, sizeof *self);
    self->settings = parsed;
    self->email = strcmp (kind, "email") == 0;
    if (self->email) {
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
        if (self->mail.username) {
            self->password = s_password (parsed, error, error_size);
            if (!self->password) {
                channel_destroy (&self);
                return NULL;
            }
            self->mail.password = self->password;
        }
    }
    else {
        self->webhook.url = s_string (parsed, "url");
        self->webhook.format = s_string (parsed, "format") ? s_string (parsed, "format")
                                                          : "generic";
        self->webhook.secret = s_string (parsed, "secret");
        self->webhook.ca_file = s_string (parsed, "ca_file");
        self->webhook.timeout_ms = timeout_ms;
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
    json_decref (self->settings);
    free (self);
    *self_p = NULL;
}

send_result_t
channel_send (channel_t *self, const notice_t *notice, char *error, size_t error_size)
{
    return self->email ? mail_send (&self->mail, notice, error, error_size)
                       : webhook_send (&self->webhook, notice, error, error_size);
}

char *
channel_settings_public (const char *settings)
{
    json_t *parsed = json_loads (settings ? settings : "{}", 0, NULL);
    if (!json_is_object (parsed)) {
        json_decref (parsed);
        return strdup ("{}");
    }
    if (json_object_get (parsed, "secret"))
        json_object_set_new (parsed, "secret", json_string ("(set)"));
    json_object_del (parsed, "password");
    char *text = json_dumps (parsed, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref (parsed);
    return text;
}

char *
channel_settings_prepare (const char *kind, const char *settings, char *secret, char *error,
                          size_t error_size)
{
    *secret = 0;
    if (channel_check (kind, settings, error, error_size))
        return NULL;
    json_t *object = json_loads (settings, 0, NULL);
    if (!object) {
        snprintf (error, error_size, "the settings are not a JSON object");
        return NULL;
    }
    //  The receiver needs the secret to verify X-Drift-Signature: one is
    //  made here unless the operator brought their own.
    if (strcmp (kind, "webhook") == 0 && !json_string_value (json_object_get (object, "secret"))) {
        uint8_t bytes [32];
        randombytes_buf (bytes, sizeof bytes);
        sodium_bin2hex (secret, 65, bytes, sizeof bytes);
        sodium_memzero (bytes, sizeof bytes);
        json_object_set_new (object, "secret", json_string (secret));
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
    return channel_send (self, &notice, error, error_size);
}
