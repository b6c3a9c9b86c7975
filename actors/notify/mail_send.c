/*  mail_send: a notice (or a message of drift's own, such as an
    invitation) as one email over SMTP with libcurl; see mail.h.
    mail_render.c writes what the email says; this file checks the
    channel's settings, builds the message and carries it.

    The message is libcurl's MIME structure, not text we assemble: a
    multipart/alternative (its type set by a Content-Type in the header
    list, which libcurl completes with its boundary) holding a text/plain
    and a text/html part, both UTF-8 and quoted-printable through libcurl's
    encoder, which keeps lines within 76 characters.

    The settings are checked before anything is rendered: the URL (smtp://
    or smtps://, no credentials in it), the From and the recipients
    (printable ASCII, refused with CR, LF or other control characters), the
    delivery id, and that a username and password would travel only inside
    TLS. The server's host is resolved, checked and pinned at every send
    (actors/notify/egress).

    A session (mail.h) keeps one libcurl handle, whose connection cache
    holds the connection between messages; curl_easy_reset after each
    message clears its options but keeps that cache. Without a session a
    handle is made and cleaned up per message, as before.

    Outcomes follow notice.c's one classification of libcurl's codes (a
    refused login, TLS refused or untrusted, a bad URL are permanent), plus
    SMTP's own: a 5xx reply is permanent, a 4xx one transient. The reason
    names the URL and what failed, and is scrubbed of the password in case
    a server ever echoes it.
*/
#include "mail.h"
#include "mail_render.h"
#include "../../lib/curlinit.h"
#include "egress.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct _mail_session_t {
    CURL *curl;                 // its handle, NULL until the first message or after a failure
};

mail_session_t *
mail_session_new (void)
{
    return (mail_session_t *) calloc (1, sizeof (mail_session_t));
}

//  Close the session's connection: QUIT, answered or not within 2 s.
static void
s_session_close (mail_session_t *self)
{
    if (!self->curl)
        return;
    curl_easy_setopt (self->curl, CURLOPT_TIMEOUT_MS, 2000L);
    curl_easy_setopt (self->curl, CURLOPT_SERVER_RESPONSE_TIMEOUT, 2L);
    curl_easy_cleanup (self->curl);
    self->curl = NULL;
}

void
mail_session_destroy (mail_session_t **self_p)
{
    mail_session_t *self = *self_p;
    if (!self)
        return;
    s_session_close (self);
    free (self);
    *self_p = NULL;
}

//  --------------------------------------------------------------------------
//  Settings

//  Is text free of control characters (CR and LF above all)?
static bool
s_printable (const char *text)
{
    for (const char *byte = text; *byte; byte++)
        if ((unsigned char) *byte < 0x20 || (unsigned char) *byte == 0x7F)
            return false;
    return true;
}

//  A bare address we put on the wire: one '@', nothing that would end an
//  address or a header (whitespace, control characters, <>,;"), ASCII.
static bool
s_address_ok (const char *address, size_t length)
{
    size_t at = 0;
    for (size_t i = 0; i < length; i++) {
        unsigned char c = (unsigned char) address [i];
        if (c <= 0x20 || c >= 0x7F || strchr ("<>,;\"()[]\\", c))
            return false;
        if (c == '@')
            at++;
    }
    return length >= 3 && at == 1 && address [0] != '@' && address [length - 1] != '@';
}

//  The bare address in from ("Name <a@b>" or "a@b") into out; 0 or -1.
static int
s_bare_from (const char *from, char *out, size_t size)
{
    const char *start = strchr (from, '<');
    const char *end = start ? strchr (start, '>') : NULL;
    size_t length;
    if (start) {
        if (!end || end [1] != '\0')
            return -1;
        start++;
        length = (size_t) (end - start);
    }
    else {
        start = from;
        length = strlen (from);
    }
    if (length >= size || !s_address_ok (start, length))
        return -1;
    memcpy (out, start, length);
    out [length] = '\0';
    return 0;
}

//  0, or -1 with the reason in error.
static int
s_check_config (const mail_config_t *config, const char *delivery_id, char *bare_from,
                size_t bare_size, char *error, size_t error_size)
{
    const char *url = config->url;
    if (!url || !*url) {
        snprintf (error, error_size, "mail: no SMTP URL configured");
        return -1;
    }
    if (!s_printable (url) || (strncmp (url, "smtp://", 7) != 0 && strncmp (url, "smtps://", 8) != 0)) {
        snprintf (error, error_size, "mail: the URL must be smtp://host[:port] or smtps://host[:port]");
        return -1;
    }
    //  Credentials in the URL would end up in every error message.
    if (strchr (url, '@')) {
        snprintf (error, error_size,
                  "mail: the URL must not hold credentials; set the username and password instead");
        return -1;
    }
    if (!config->from || !*config->from) {
        snprintf (error, error_size, "mail: %s: no From address configured", url);
        return -1;
    }
    //  The From goes into a header as it is: printable ASCII only (a
    //  display name in UTF-8 would need encoding we do not do).
    bool ascii = s_printable (config->from);
    for (const char *byte = config->from; ascii && *byte; byte++)
        ascii = (unsigned char) *byte < 0x80;
    if (!ascii || s_bare_from (config->from, bare_from, bare_size)) {
        snprintf (error, error_size,
                  "mail: %s: the From address is not \"name <address>\" or a bare address "
                  "(printable ASCII, with '@')", url);
        return -1;
    }
    if (!config->to || config->to_count == 0) {
        snprintf (error, error_size, "mail: %s: no recipient configured", url);
        return -1;
    }
    for (size_t i = 0; i < config->to_count; i++) {
        const char *to = config->to [i];
        if (!to || !s_address_ok (to, strlen (to))) {
            snprintf (error, error_size,
                      "mail: %s: recipient %zu is not a bare address (printable ASCII, one '@', "
                      "no spaces, CR or LF)", url, i + 1);
            return -1;
        }
    }
    if (!notice_delivery_id_ok (delivery_id)) {
        snprintf (error, error_size, "mail: %s: the notice's delivery id is not [A-Za-z0-9.-]", url);
        return -1;
    }
    //  Credentials cross the network only inside TLS: smtps://, or
    //  smtp:// with STARTTLS required (libcurl then fails rather than go
    //  on in clear when the server does not offer it).
    bool tls = config->starttls || strncmp (url, "smtps://", 8) == 0;
    if (config->username && *config->username && !tls) {
        snprintf (error, error_size, "mail: %s: credentials are sent only over TLS (smtps:// or "
                  "STARTTLS); not sent", url);
        return -1;
    }
    return 0;
}

//  --------------------------------------------------------------------------
//  Sending

//  Replace every occurrence of secret in text by "***".
static void
s_scrub (char *text, const char *secret)
{
    if (!secret || !*secret)
        return;
    size_t length = strlen (secret);
    char *found;
    while ((found = strstr (text, secret))) {
        size_t rest = strlen (found + length);
        memmove (found + 3, found + length, rest + 1);
        memcpy (found, "***", 3);
    }
}

//  The transfer's outcome as notice.c decides it for every sender; on top
//  of that a 5xx reply is SMTP's own "do not retry this".
static send_result_t
s_classify (CURLcode rc, long code)
{
    send_result_t result = notice_curl_result (rc);
    if (result == SEND_TRANSIENT && code >= 500 && code < 600)
        result = SEND_PERMANENT;
    return result;
}

static void
s_describe (CURLcode rc, long code, const char *detail, const mail_config_t *config,
            long timeout_ms, char *error, size_t error_size)
{
    const char *url = config->url;
    if (!*detail)
        detail = curl_easy_strerror (rc);
    if (rc == CURLE_LOGIN_DENIED)
        snprintf (error, error_size, "mail: %s: login denied (%ld) for user %s", url, code,
                  config->username);
    else
    if (rc == CURLE_USE_SSL_FAILED)
        snprintf (error, error_size, "mail: %s: TLS required but the server refused it: %s", url,
                  detail);
    else
    if (notice_tls_untrusted (rc))
        snprintf (error, error_size, "mail: %s: the server's TLS certificate is not trusted: %s",
                  url, detail);
    else
    if (rc == CURLE_OPERATION_TIMEDOUT)
        snprintf (error, error_size, "mail: %s: no answer within %ld ms: %s", url, timeout_ms,
                  detail);
    else
    if (code >= 400 && code < 600)
        snprintf (error, error_size, "mail: %s: the server answered %ld: %s", url, code, detail);
    else
        snprintf (error, error_size, "mail: %s: %s", url, detail);
}

//  The MIME message on curl: the two parts; 0 or -1.
static int
s_add_part (curl_mime *mime, const char *body, const char *type)
{
    curl_mimepart *part = curl_mime_addpart (mime);
    if (!part
    ||  curl_mime_data (part, body, CURL_ZERO_TERMINATED) != CURLE_OK
    ||  curl_mime_type (part, type) != CURLE_OK
    ||  curl_mime_encoder (part, "quoted-printable") != CURLE_OK)
        return -1;
    return 0;
}

//  Carry a message (its header lines, its plain text and, unless NULL,
//  its HTML) to config's server for its recipients; config has passed
//  s_check_config. Takes nothing; error set unless SEND_OK.
static send_result_t
s_carry (const mail_config_t *config, const char *bare_from, struct curl_slist *headers,
         const char *text, const char *html, char *error, size_t error_size)
{
    if (curlinit_once ()) {
        snprintf (error, error_size, "mail: %s: libcurl did not initialise", config->url);
        return SEND_TRANSIENT;
    }
    //  Resolved, checked and pinned at every send (actors/notify/egress).
    char refused [512];
    egress_t *egress = egress_check (config->url, config->allow_hosts, refused, sizeof refused);
    if (!egress) {
        snprintf (error, error_size, "mail: %s: refused: %s; not sent", config->url, refused);
        return SEND_PERMANENT;
    }

    send_result_t result = SEND_TRANSIENT;
    long timeout_ms = config->timeout_ms > 0 ? config->timeout_ms : 15000;
    struct curl_slist *recipients = NULL;
    curl_mime *mime = NULL;
    mail_session_t *session = config->session;
    CURL *curl = NULL;
    char curl_error [CURL_ERROR_SIZE] = "";
    if (!text || !headers)
        goto nomem;
    for (size_t i = 0; i < config->to_count; i++) {
        struct curl_slist *appended = curl_slist_append (recipients, config->to [i]);
        if (!appended)
            goto nomem;
        recipients = appended;
    }

    //  A kept handle was reset after its last message (below).
    if (session && !session->curl)
        session->curl = curl_easy_init ();
    curl = session ? session->curl : curl_easy_init ();
    mime = curl ? curl_mime_init (curl) : NULL;
    if (!mime || egress_apply (egress, curl)
    ||  s_add_part (mime, text, "text/plain; charset=utf-8")
    ||  (html && s_add_part (mime, html, "text/html; charset=utf-8")))
        goto nomem;

    bool tls = config->starttls || strncmp (config->url, "smtps://", 8) == 0;
    curl_easy_setopt (curl, CURLOPT_URL, config->url);
    curl_easy_setopt (curl, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
    curl_easy_setopt (curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt (curl, CURLOPT_ERRORBUFFER, curl_error);
    curl_easy_setopt (curl, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt (curl, CURLOPT_MAIL_FROM, bare_from);
    curl_easy_setopt (curl, CURLOPT_MAIL_RCPT, recipients);
    curl_easy_setopt (curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt (curl, CURLOPT_MIMEPOST, mime);
    curl_easy_setopt (curl, CURLOPT_UPLOAD, 1L);
    if (tls)
        curl_easy_setopt (curl, CURLOPT_USE_SSL, (long) CURLUSESSL_ALL);
    if (config->ca_file && *config->ca_file)
        curl_easy_setopt (curl, CURLOPT_CAINFO, config->ca_file);
    if (config->username && *config->username) {
        curl_easy_setopt (curl, CURLOPT_USERNAME, config->username);
        curl_easy_setopt (curl, CURLOPT_PASSWORD, config->password ? config->password : "");
    }
    if (session)
        curl_easy_setopt (curl, CURLOPT_MAXAGE_CONN, (long) MAIL_SESSION_IDLE_S);

    CURLcode rc = curl_easy_perform (curl);
    long code = 0;
    curl_easy_getinfo (curl, CURLINFO_RESPONSE_CODE, &code);
    result = s_classify (rc, code);
    if (result != SEND_OK)
        s_describe (rc, code, curl_error, config, timeout_ms, error, error_size);
    goto done;

nomem:
    snprintf (error, error_size, "mail: %s: out of memory building the message", config->url);
    result = SEND_TRANSIENT;
done:
    if (!session)
        curl_easy_cleanup (curl);
    else
    if (result != SEND_OK)
        s_session_close (session);
    else
        //  Kept: it forgets this message's buffers, lists and callbacks
        //  (freed below) and keeps the connection.
        curl_easy_reset (curl);
    egress_destroy (&egress);
    curl_mime_free (mime);
    curl_slist_free_all (recipients);
    s_scrub (error, config->password);
    return result;
}

send_result_t
mail_send (const mail_config_t *config, const notice_t *notice, char *error, size_t error_size)
{
    char bare_from [256];
    *error = '\0';
    if (s_check_config (config, notice->delivery_id, bare_from, sizeof bare_from, error,
                        error_size))
        return SEND_PERMANENT;
    char *subject = mail_subject (notice);
    char *text = subject ? mail_render_body (notice, subject, false) : NULL;
    char *html = subject ? mail_render_body (notice, subject, true) : NULL;
    struct curl_slist *headers = subject && html
                               ? mail_render_headers (config, notice->delivery_id, subject)
                               : NULL;
    send_result_t result = s_carry (config, bare_from, headers, text, html, error, error_size);
    curl_slist_free_all (headers);
    free (subject);
    free (text);
    free (html);
    return result;
}

send_result_t
mail_send_message (const mail_config_t *config, const mail_message_t *message, char *error,
                   size_t error_size)
{
    char bare_from [256];
    *error = '\0';
    if (s_check_config (config, message->delivery_id, bare_from, sizeof bare_from, error,
                        error_size))
        return SEND_PERMANENT;
    struct curl_slist *headers = mail_render_headers (config, message->delivery_id,
                                                      message->subject);
    send_result_t result = s_carry (config, bare_from, headers, message->text, NULL, error,
                                    error_size);
    curl_slist_free_all (headers);
    return result;
}
