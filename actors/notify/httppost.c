/*  httppost: one JSON POST to a channel's receiver; see httppost.h.

    A send uses its own curl handle: notices are rare next to the reports
    they summarise, and a handle per send keeps the senders free of state
    and safe to call from any thread. libcurl is told to speak only http
    and https and to follow nothing; "Expect:" is sent empty so a larger
    body is not held back a second waiting for a 100 Continue that many
    receivers never send.
*/
#include "httppost.h"
#include "egress.h"
#include "../../lib/curlinit.h"

#include <jansson.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

//  How much the receiver answered: read and dropped (nothing of a reply
//  is ever shown), at most HTTPPOST_REPLY_MAX bytes.
typedef struct {
    size_t size;                // bytes read
    bool cut;                   // there was more: the transfer was ended there
} s_reply_t;

static size_t
s_receive (char *bytes, size_t size, size_t count, void *argument)
{
    (void) bytes;
    s_reply_t *reply = (s_reply_t *) argument;
    size_t more = size * count;
    if (more > HTTPPOST_REPLY_MAX - reply->size) {
        reply->cut = true;
        return 0;                       // ends the transfer with CURLE_WRITE_ERROR
    }
    reply->size += more;
    return more;
}

//  "scheme://host[:port]" of url into origin: what errors may name. The
//  path and query may be the credential (a Slack webhook's is) and the
//  user-info certainly is.
int
httppost_origin (const char *url, char *origin, size_t origin_size)
{
    *origin = 0;
    CURLU *parsed = curl_url ();
    if (!parsed)
        return -1;
    char *scheme = NULL, *host = NULL, *port = NULL;
    int rc = -1;
    if (curl_url_set (parsed, CURLUPART_URL, url, 0) == CURLUE_OK
    &&  curl_url_get (parsed, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK
    &&  curl_url_get (parsed, CURLUPART_HOST, &host, 0) == CURLUE_OK) {
        curl_url_get (parsed, CURLUPART_PORT, &port, 0);
        snprintf (origin, origin_size, "%s://%s%s%s", scheme, host, port ? ":" : "",
                  port ? port : "");
        rc = 0;
    }
    curl_free (scheme);
    curl_free (host);
    curl_free (port);
    curl_url_cleanup (parsed);
    return rc;
}

//  A URL we may POST to: http or https, no control characters (a CR or LF
//  would smuggle a header into the request line), parsed by libcurl.
int
httppost_check_url (const char *url, char *origin, size_t origin_size)
{
    if (!url)
        return -1;
    for (const char *byte = url; *byte; byte++)
        if ((unsigned char) *byte < 0x20 || *byte == 0x7F)
            return -1;
    if (strncasecmp (url, "http://", 7) != 0 && strncasecmp (url, "https://", 8) != 0)
        return -1;
    return httppost_origin (url, origin, origin_size);
}

//  What an HTTP status means for the notice, with its class in error:
//  never the reply's bytes nor where a redirect points, which would make
//  a channel test a reader of whatever answers at the URL.
static send_result_t
s_status_result (long status, const char *prefix, char *error, size_t error_size)
{
    if (status >= 200 && status < 300)
        return SEND_OK;
    if (status >= 300 && status < 400) {
        snprintf (error, error_size,
                  "%s: HTTP 3xx, a redirect, not followed (a notice goes only to the "
                  "configured URL): configure the final URL; not retryable", prefix);
        return SEND_PERMANENT;
    }
    bool transient = status == 408 || status == 429 || status >= 500;
    const char *class_name = status == 429 ? "429, too many requests"
                           : status == 408 ? "408, timed out"
                           : status >= 500 && status < 600 ? "5xx"
                           : status >= 400 && status < 500 ? "4xx" : "status of no known class";
    snprintf (error, error_size, "%s: HTTP %s; %s", prefix, class_name,
              transient ? "retryable" : "not retryable");
    return transient ? SEND_TRANSIENT : SEND_PERMANENT;
}

//  What a failed transfer was, as a class: curl's own message names
//  addresses, ports and TLS details of whatever was reached.
static const char *
s_curl_class (CURLcode code)
{
    if (notice_tls_untrusted (code))
        return "the TLS certificate is not trusted";
    switch (code) {
        case CURLE_COULDNT_RESOLVE_HOST:
            return "the host does not resolve";
        case CURLE_COULDNT_CONNECT:
            return "could not connect";
        case CURLE_OPERATION_TIMEDOUT:
            return "timed out";
        case CURLE_SSL_CONNECT_ERROR:
            return "TLS failed";
        case CURLE_URL_MALFORMAT:
        case CURLE_UNSUPPORTED_PROTOCOL:
            return "the URL is not usable";
        default:
            return "the connection failed";
    }
}

send_result_t
httppost_send (const httppost_target_t *target, const struct curl_slist *headers,
               const char *body, size_t size, const char *prefix, char *error,
               size_t error_size)
{
    //  Resolved, checked and pinned now, at every send: the host's
    //  addresses may have changed since the channel was added.
    char refused [512];
    egress_t *egress = egress_check (target->url, target->allow_hosts, refused, sizeof refused);
    if (!egress) {
        snprintf (error, error_size, "%s: refused: %s; not sent", prefix, refused);
        return SEND_PERMANENT;
    }
    CURL *curl = curl_easy_init ();
    s_reply_t *reply = (s_reply_t *) calloc (1, sizeof *reply);
    struct curl_slist *all = NULL;
    for (const struct curl_slist *header = headers; header; header = header->next)
        all = curl_slist_append (all, header->data);
    all = curl_slist_append (all, "Content-Type: application/json");
    all = curl_slist_append (all, "User-Agent: drift-notify/1");
    all = curl_slist_append (all, "Expect:");
    if (!curl || !reply || !all || egress_apply (egress, curl)) {
        snprintf (error, error_size, "%s: out of memory", prefix);
        curl_slist_free_all (all);
        curl_easy_cleanup (curl);
        egress_destroy (&egress);
        free (reply);
        return SEND_TRANSIENT;
    }
    long timeout_ms = target->timeout_ms > 0 ? target->timeout_ms : HTTPPOST_TIMEOUT_MS;
    curl_easy_setopt (curl, CURLOPT_URL, target->url);
    curl_easy_setopt (curl, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt (curl, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt (curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt (curl, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt (curl, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms);
    if (target->ca_file && *target->ca_file)
        curl_easy_setopt (curl, CURLOPT_CAINFO, target->ca_file);
    curl_easy_setopt (curl, CURLOPT_HTTPHEADER, all);
    curl_easy_setopt (curl, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt (curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t) size);
    curl_easy_setopt (curl, CURLOPT_WRITEFUNCTION, s_receive);
    curl_easy_setopt (curl, CURLOPT_WRITEDATA, reply);

    send_result_t result;
    CURLcode code = curl_easy_perform (curl);
    long status = 0;
    curl_easy_getinfo (curl, CURLINFO_RESPONSE_CODE, &status);
    if (code == CURLE_OK || (code == CURLE_WRITE_ERROR && reply->cut && status))
        result = s_status_result (status, prefix, error, error_size);
    else {
        result = notice_curl_result (code);
        snprintf (error, error_size, "%s: %s; %s", prefix, s_curl_class (code),
                  result == SEND_TRANSIENT ? "retryable" : "not retryable");
    }
    if (result == SEND_OK)
        *error = 0;
    curl_slist_free_all (all);
    curl_easy_cleanup (curl);
    egress_destroy (&egress);
    free (reply);
    return result;
}

send_result_t
httppost_begin (const char *name, const char *url, const notice_t *notice, char *prefix,
                size_t prefix_size, char *error, size_t error_size)
{
    snprintf (prefix, prefix_size, "%s", name);
    snprintf (error, error_size, "%s: no settings or no notice", name);
    if (!url || !notice)
        return SEND_PERMANENT;
    char origin [256];
    if (httppost_check_url (url, origin, sizeof origin)) {
        snprintf (error, error_size,
                  "%s: the URL is not a well-formed http:// or https:// URL; not sent", name);
        return SEND_PERMANENT;
    }
    //  The id goes into headers, keys and errors: only after it is checked.
    bool id_ok = notice_delivery_id_ok (notice->delivery_id);
    snprintf (prefix, prefix_size, "%s %s to %s", name, id_ok ? notice->delivery_id : "?", origin);
    if (!id_ok) {
        snprintf (error, error_size, "%s: the delivery id is empty or not [A-Za-z0-9.-]; not sent",
                  prefix);
        return SEND_PERMANENT;
    }
    if (curlinit_once ()) {
        snprintf (error, error_size, "%s: cannot initialise libsodium or libcurl", prefix);
        return SEND_TRANSIENT;
    }
    *error = 0;
    return SEND_OK;
}

send_result_t
httppost_send_json (const httppost_target_t *target, const struct curl_slist *headers,
                    json_t *body, const char *prefix, char *error, size_t error_size)
{
    //  Ten significant digits: a score of 0.9 reads 0.9, not 0.90000000000000002.
    char *text = body ? json_dumps (body, JSON_COMPACT | JSON_REAL_PRECISION (10)) : NULL;
    json_decref (body);
    if (!text) {
        snprintf (error, error_size, "%s: out of memory", prefix);
        return SEND_TRANSIENT;
    }
    size_t size = strlen (text);
    send_result_t result = httppost_send (target, headers, text, size, prefix, error, error_size);
    //  A PagerDuty body carries its routing key.
    sodium_memzero (text, size);
    free (text);
    return result;
}

json_t *
httppost_json_string (const char *text)
{
    if (!text)
        text = "";
    json_t *string = json_string (text);
    if (string)
        return string;
    char *copy = strdup (text);
    if (!copy)
        return NULL;
    for (char *byte = copy; *byte; byte++)
        if ((unsigned char) *byte >= 0x80)
            *byte = '?';
    string = json_string (copy);
    free (copy);
    return string;
}

json_t *
httppost_json_array (const char *text)
{
    json_t *array = text ? json_loads (text, JSON_DECODE_ANY, NULL) : NULL;
    if (array && json_is_array (array))
        return array;
    json_decref (array);
    return json_array ();
}

