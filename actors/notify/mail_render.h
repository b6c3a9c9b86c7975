/*  mail_render: what a notice's email says (its header lines and its
    bodies), for mail_send; mail.h is the notify stage's API to both.
*/
#ifndef MAIL_RENDER_H_INCLUDED
#define MAIL_RENDER_H_INCLUDED

#include "mail.h"

#include <curl/curl.h>
#include <stdbool.h>

//  The mail's header lines for CURLOPT_HTTPHEADER: Date, Message-ID,
//  X-Drift-Delivery, From, To (folded), Subject (RFC 2047 when needed) and
//  the multipart/alternative Content-Type. config and the delivery id (a
//  notice's or a message's) must have passed mail_send's checks. NULL if
//  memory ran out.
struct curl_slist *mail_render_headers (const mail_config_t *config, const char *delivery_id,
                                        const char *subject);

//  The body, plain text or HTML (html), for subject (mail_subject's);
//  the caller frees it. NULL if memory ran out.
char *mail_render_body (const notice_t *notice, const char *subject, bool html);

#endif
