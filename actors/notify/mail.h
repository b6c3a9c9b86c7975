/*  mail: a notice sent as one email over SMTP, through libcurl.

    The notify stage hands a channel's notice to mail_send, which renders it
    twice (plain text and HTML, a multipart/alternative message built with
    libcurl's MIME API, both parts quoted-printable so any UTF-8 in the data
    is safe and no line is too long) and delivers it over smtp:// (optionally
    upgraded with STARTTLS) or smtps:// with optional AUTH. A username and
    password are sent only inside TLS: with neither smtps:// nor STARTTLS
    required, mail_send refuses before connecting. The server's host is
    resolved, checked and pinned as actors/notify/egress says.

    Everything in the message that comes from data (stack names, addresses,
    values) is encoded, never pasted into a header: the Subject is an RFC 2047
    encoded word when it needs to be, bodies are quoted-printable, and the
    addresses from the configuration are refused when they hold CR or LF.
    The outcome tells the caller whether to retry (see send_result_t); its
    reason names the server and what failed, never the password.

    A channel's messages may share one connection (mail_session_t): the
    next one through a session goes over the connection the last one left
    open, if that is younger than MAIL_SESSION_IDLE_S idle and still up,
    instead of connecting, greeting, upgrading to TLS, logging in and
    quitting once per message. The host is still checked at every send; a
    kept connection is to an address checked when it was opened. A send
    that fails closes the session's connection, so the next one starts
    afresh.
*/
#ifndef MAIL_H_INCLUDED
#define MAIL_H_INCLUDED

#include "notice.h"

#include <stdbool.h>
#include <stddef.h>

//  How long a session's idle connection may wait for its next message:
//  well below the 5 minutes servers wait (RFC 5321, 4.5.3.2.7).
#define MAIL_SESSION_IDLE_S 30

//  A connection kept between the messages of one channel. One thread's at
//  a time.
typedef struct _mail_session_t mail_session_t;

mail_session_t *mail_session_new (void);

//  Says QUIT on the kept connection, if any (waiting at most 2 s).
void mail_session_destroy (mail_session_t **self_p);

typedef struct {
    mail_session_t *session;    // the channel's kept connection; NULL: one per message
    const char *url;            // smtp://host[:port] or smtps://host[:port]
    bool starttls;              // smtp:// only: require STARTTLS (fail if not offered)
    const char *username;       // NULL or "": no AUTH
    const char *password;       // the secret, already read by the caller
    const char *from;           // envelope and header From: "drift <drift@example.com>" or bare
    const char *const *to;      // recipients (bare addresses)
    size_t to_count;            // how many recipients
    const char *ca_file;        // PEM CA to verify the server with; NULL: the system's
    long timeout_ms;            // whole exchange; 0 → 15000
    const char *allow_hosts;    // the operator's hosts that may be internal (actors/notify/egress)
} mail_config_t;

//  Send notice as one email. Returns SEND_OK, or SEND_TRANSIENT /
//  SEND_PERMANENT with the reason in error (never the password).
send_result_t mail_send (const mail_config_t *config, const notice_t *notice, char *error,
                         size_t error_size);

//  A message of drift's own that is no notice (an invitation to the
//  dashboard, api/invite.c): sent as mail_send sends a notice, through a
//  channel's server, From and login, as plain text.
typedef struct _mail_message_t {
    const char *subject;        // UTF-8; encoded as RFC 2047 when it needs to be
    const char *text;           // the plain-text body, UTF-8
    const char *delivery_id;    // [A-Za-z0-9.-]: its Message-ID and X-Drift-Delivery
} mail_message_t;

//  Send message to config's recipients; as mail_send.
send_result_t mail_send_message (const mail_config_t *config, const mail_message_t *message,
                                 char *error, size_t error_size);

//  The Subject line mail_send uses, e.g.
//  "[drift] payments: 2 new drift, 1 resolved (critical)", as UTF-8 with
//  control characters replaced by spaces (caller frees; NULL if memory ran
//  out).
char *mail_subject (const notice_t *notice);

#endif
