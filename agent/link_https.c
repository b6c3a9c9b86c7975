/*  link_https: the HTTPS transport through libcurl; see link_https.h. */
#include "link_https.h"
#include "../lib/agent_link.h"
#include "../lib/secret.h"

#include <czmq.h>
#include <curl/curl.h>
#include <sodium.h>

//  Most of an answer body kept: an AgentMessage is far smaller; whatever a
//  proxy sends beyond it is not ours to read.
#define LINK_HTTPS_BODY_MAX 65536

typedef struct {
    char *url;                   // endpoint + /v1/reports
    char *hello_url;             // endpoint + /v1/hello
    char *certificate;           // client certificate path
    char *ca;                    // server CA bundle path, or NULL
    uint8_t key [LINK_HTTPS_KEY_MAX]; // the client key's PEM bytes, wiped at the end
    size_t key_size;             // bytes of key
    int window;                  // connections kept at most
    int timeout_ms;              // per request
    CURLM *multi;                // the connections, NULL while disconnected
    struct curl_slist *headers;  // the request headers, the same for every report
    zlistx_t *requests;          // request_t in flight
} https_t;

//  One report in flight.
typedef struct {
    CURL *easy;                  // its transfer
    bool hello;                  // GET /v1/hello, not a report
    char id [80];                // its report id ("" for hello)
    uint8_t *body;               // the answer so far
    size_t size;                 // bytes of body
    char error [CURL_ERROR_SIZE]; // libcurl's words when it fails
} request_t;

static void
s_request_destroy (request_t **request_p)
{
    request_t *request = *request_p;
    if (request) {
        curl_easy_cleanup (request->easy);
        free (request->body);
        free (request);
        *request_p = NULL;
    }
}

static size_t
s_write (char *data, size_t size, size_t count, void *request_)
{
    request_t *request = (request_t *) request_;
    size_t bytes = size * count;
    size_t keep = request->size + bytes > LINK_HTTPS_BODY_MAX
                ? LINK_HTTPS_BODY_MAX - request->size : bytes;
    if (keep) {
        request->body = (uint8_t *) realloc (request->body, request->size + keep);
        memcpy (request->body + request->size, data, keep);
        request->size += keep;
    }
    return bytes;
}

static void
s_disconnect (void *self_)
{
    https_t *self = (https_t *) self_;
    for (request_t *request = (request_t *) zlistx_first (self->requests); request;
         request = (request_t *) zlistx_next (self->requests))
        curl_multi_remove_handle (self->multi, request->easy);
    zlistx_purge (self->requests);
    if (self->multi)
        curl_multi_cleanup (self->multi);
    self->multi = NULL;
}

static void
s_destroy (void *self_)
{
    https_t *self = (https_t *) self_;
    s_disconnect (self);
    zlistx_destroy (&self->requests);
    curl_slist_free_all (self->headers);
    sodium_memzero (self->key, sizeof self->key);
    free (self->url);
    free (self->hello_url);
    free (self->certificate);
    free (self->ca);
    free (self);
}

static int
s_request (https_t *self, const char *id, const uint8_t *report, size_t size);

static int
s_connect (void *self_, char *error, size_t error_size)
{
    https_t *self = (https_t *) self_;
    self->multi = curl_multi_init ();
    if (!self->multi) {
        snprintf (error, error_size, "libcurl could not start");
        return -1;
    }
    //  One connection per report in flight at most, kept alive between them
    //  (HTTP/2 multiplexes them on one when Caddy offers it).
    curl_multi_setopt (self->multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long) self->window);
    curl_multi_setopt (self->multi, CURLMOPT_MAXCONNECTS, (long) self->window);
    curl_multi_setopt (self->multi, CURLMOPT_PIPELINING, (long) CURLPIPE_MULTIPLEX);
    if (s_request (self, "", NULL, 0)) {
        snprintf (error, error_size, "libcurl could not start a request");
        return -1;
    }
    //  Reports wait for the hello's WELCOME.
    return 0;
}

//  A request in flight: id "" is the GET /v1/hello every connection starts
//  with (its WELCOME says who we are and the server's size limit, as over
//  CURVE); else the POST of that report.
static int
s_request (https_t *self, const char *id, const uint8_t *report, size_t size)
{
    request_t *request = (request_t *) zmalloc (sizeof *request);
    snprintf (request->id, sizeof request->id, "%s", id);
    request->hello = !*id;
    request->easy = curl_easy_init ();
    if (!request->easy) {
        free (request);
        return -1;
    }
    CURL *easy = request->easy;
    struct curl_blob key = { self->key, self->key_size, CURL_BLOB_COPY };
    curl_easy_setopt (easy, CURLOPT_PROTOCOLS_STR, "https");
    if (request->hello)
        curl_easy_setopt (easy, CURLOPT_URL, self->hello_url);
    else {
        curl_easy_setopt (easy, CURLOPT_URL, self->url);
        curl_easy_setopt (easy, CURLOPT_HTTPHEADER, self->headers);
        curl_easy_setopt (easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t) size);
        curl_easy_setopt (easy, CURLOPT_COPYPOSTFIELDS, report);
    }
    curl_easy_setopt (easy, CURLOPT_SSLCERT, self->certificate);
    curl_easy_setopt (easy, CURLOPT_SSLKEY_BLOB, &key);
    curl_easy_setopt (easy, CURLOPT_SSLKEYTYPE, "PEM");
    if (self->ca)
        curl_easy_setopt (easy, CURLOPT_CAINFO, self->ca);
    curl_easy_setopt (easy, CURLOPT_USERAGENT, "drift-agent/" DRIFT_VERSION);
    curl_easy_setopt (easy, CURLOPT_TIMEOUT_MS, (long) self->timeout_ms);
    curl_easy_setopt (easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt (easy, CURLOPT_PIPEWAIT, 1L);
    curl_easy_setopt (easy, CURLOPT_ERRORBUFFER, request->error);
    curl_easy_setopt (easy, CURLOPT_WRITEFUNCTION, s_write);
    curl_easy_setopt (easy, CURLOPT_WRITEDATA, request);
    curl_easy_setopt (easy, CURLOPT_PRIVATE, request);
    if (curl_multi_add_handle (self->multi, easy) != CURLM_OK) {
        s_request_destroy (&request);
        return -1;
    }
    zlistx_add_end (self->requests, request);
    return 0;
}

static int
s_send (void *self_, const char *id, const uint8_t *report, size_t size)
{
    return *id ? s_request ((https_t *) self_, id, report, size) : -1;
}

//  Retry-After as seconds, or NULL.
static const char *
s_retry_after (CURL *easy)
{
    struct curl_header *header;
    if (curl_easy_header (easy, "Retry-After", 0, CURLH_HEADER, -1, &header) == CURLHE_OK)
        return header->value;
    return NULL;
}

//  Why a request got no answer, for the operator. With TLS 1.3 a server
//  that refuses the client certificate (another CA, expired) says so after
//  the handshake, so the agent may see only a connection closed at once:
//  the message names that cause beside libcurl's words.
static void
s_failure (CURLcode result, const char *detail, char *message, size_t size)
{
    bool tls = result == CURLE_SSL_CONNECT_ERROR || result == CURLE_RECV_ERROR
            || result == CURLE_SEND_ERROR || result == CURLE_GOT_NOTHING
            || result == CURLE_SSL_CERTPROBLEM || result == CURLE_PEER_FAILED_VERIFICATION
            || result == CURLE_SSL_CACERT_BADFILE;
    //  The cause first: libcurl's detail may be long, and is cut.
    char *text = zsys_sprintf ("%s%s%s%s", tls ? "TLS or connection failure (a client "
                               "certificate the server refuses, from another CA or expired, "
                               "ends here too): " : "", curl_easy_strerror (result),
                               *detail ? ": " : "", detail);
    snprintf (message, size, "%s", text ? text : curl_easy_strerror (result));
    zstr_free (&text);
}

//  The next finished request: 1 with answer filled, 0 when none.
static int
s_finished (https_t *self, link_answer_t *answer)
{
    int left;
    CURLMsg *done;
    while ((done = curl_multi_info_read (self->multi, &left))) {
        if (done->msg != CURLMSG_DONE)
            continue;
        request_t *request;
        curl_easy_getinfo (done->easy_handle, CURLINFO_PRIVATE, (char **) &request);
        CURLcode result = done->data.result;
        curl_multi_remove_handle (self->multi, request->easy);
        if (result == CURLE_OK && request->hello) {
            long status = 0;
            curl_easy_getinfo (request->easy, CURLINFO_RESPONSE_CODE, &status);
            link_https_welcome (status, request->body, request->size, answer);
        }
        else
        if (result == CURLE_OK) {
            long status = 0;
            curl_easy_getinfo (request->easy, CURLINFO_RESPONSE_CODE, &status);
            link_https_answer (status, request->body, request->size,
                               s_retry_after (request->easy), request->id, answer);
        }
        else {
            memset (answer, 0, sizeof *answer);
            answer->kind = LINK_BROKEN;
            snprintf (answer->report_id, sizeof answer->report_id, "%s", request->id);
            s_failure (result, request->error, answer->message, sizeof answer->message);
        }
        void *handle = zlistx_find (self->requests, request);
        zlistx_delete (self->requests, handle);
        return 1;
    }
    return 0;
}

static int
s_poll (void *self_, int timeout_ms, link_answer_t *answer)
{
    https_t *self = (https_t *) self_;
    if (!self->multi)
        return 0;
    int running;
    curl_multi_perform (self->multi, &running);
    if (s_finished (self, answer))
        return 1;
    if (timeout_ms > 0) {
        curl_multi_poll (self->multi, NULL, 0, timeout_ms, NULL);
        curl_multi_perform (self->multi, &running);
        return s_finished (self, answer);
    }
    return 0;
}

static void
s_nack (link_answer_t *answer, int code, const char *what)
{
    answer->kind = LINK_NACK;
    answer->code = code;
    if (!*answer->message)
        snprintf (answer->message, sizeof answer->message, "%s", what);
}

void
link_https_answer (long status, const uint8_t *body, size_t size,
                   const char *retry_after, const char *id, link_answer_t *answer)
{
    //  What the body says, when it is ingest's AgentMessage (a proxy's or
    //  Caddy's own error page is not).
    link_answer_t said = { 0 };
    const char *error;
    Drift__AgentMessage *message = size ? agent_link_decode (body, size, &error) : NULL;
    bool decoded = message && link_answer_from_message (message, &said);
    agent_link_free (message);
    free (said.command);
    memset (answer, 0, sizeof *answer);
    snprintf (answer->report_id, sizeof answer->report_id, "%s", id);
    if (decoded && said.kind == LINK_NACK)
        snprintf (answer->message, sizeof answer->message, "%s", said.message);
    switch (status) {
        case 200:
            if (decoded && said.kind == LINK_ACK && streq (said.report_id, id)) {
                answer->kind = LINK_ACK;
                answer->duplicate = said.duplicate;
            }
            else {
                answer->kind = LINK_BROKEN;
                snprintf (answer->message, sizeof answer->message,
                          "HTTP 200 without an Ack for the report (something other than "
                          "drift answered)");
            }
            return;
        case 400: case 404: case 405:
            s_nack (answer, DRIFT__NACK_CODE__NACK_BAD_MESSAGE, "HTTP 400 (bad message)");
            return;
        case 413:
            s_nack (answer, DRIFT__NACK_CODE__NACK_TOO_LARGE, "HTTP 413 (too large)");
            return;
        case 415:
            s_nack (answer, DRIFT__NACK_CODE__NACK_UNSUPPORTED_FORMAT,
                    "HTTP 415 (unsupported format)");
            return;
        case 403:
            s_nack (answer, DRIFT__NACK_CODE__NACK_REVOKED, "HTTP 403 (certificate refused)");
            return;
        case 429: case 503: {
            s_nack (answer, status == 429 ? DRIFT__NACK_CODE__NACK_RATE_LIMITED
                                          : DRIFT__NACK_CODE__NACK_UNAVAILABLE,
                    status == 429 ? "HTTP 429 (rate limited)" : "HTTP 503 (unavailable)");
            char *end = NULL;
            long seconds = retry_after ? strtol (retry_after, &end, 10) : 0;
            bool whole = retry_after && end != retry_after && (*end == 0 || *end == ' ');
            answer->retry_after_ms = decoded && said.kind == LINK_NACK && said.retry_after_ms
                                   ? said.retry_after_ms
                                   : whole && seconds > 0 && seconds <= 3600
                                   ? (uint32_t) seconds * 1000 : 0;
            return;
        }
        default:
            answer->kind = LINK_BROKEN;
            snprintf (answer->message, sizeof answer->message,
                      "HTTP %ld from the server (ingest unreachable behind Caddy, or a proxy "
                      "in the way)", status);
    }
}

void
link_https_welcome (long status, const uint8_t *body, size_t size, link_answer_t *answer)
{
    link_answer_t said = { 0 };
    const char *error;
    Drift__AgentMessage *message = size ? agent_link_decode (body, size, &error) : NULL;
    bool decoded = message && link_answer_from_message (message, &said);
    agent_link_free (message);
    if (status == 200 && decoded && said.kind == LINK_WELCOME) {
        *answer = said;
        return;
    }
    memset (answer, 0, sizeof *answer);
    if (status == 403) {
        answer->kind = LINK_KEY_REFUSED;
        snprintf (answer->message, sizeof answer->message, "%s",
                  decoded && said.kind == LINK_NACK ? said.message
                                                    : "HTTP 403 (certificate refused)");
        return;
    }
    //  Anything else (rate limited, unavailable, a proxy's page): try again
    //  after the backoff, as when a CURVE HELLO goes unanswered.
    answer->kind = LINK_BROKEN;
    if (decoded && said.kind == LINK_NACK)
        snprintf (answer->message, sizeof answer->message, "HTTP %ld to hello: %.200s", status,
                  said.message);
    else
        snprintf (answer->message, sizeof answer->message, "HTTP %ld to hello (no WELCOME: "
                  "something other than drift answered)", status);
}

static const link_ops_t s_ops = {
    s_connect, s_send, s_poll, s_disconnect, s_destroy,
    //  Commands over HTTPS are polled (proto/AGENT-LINK.md section 7); this
    //  agent does not poll yet, so it never has updates to send.
    NULL
};

int
link_https_new (link_t *link, const link_https_config_t *config, char *error, size_t error_size)
{
    if (!config->endpoint || strncmp (config->endpoint, "https://", 8) || !config->endpoint [8]) {
        snprintf (error, error_size, "endpoint must be https://HOST[:PORT]");
        return -1;
    }
    if (!config->certificate || !*config->certificate || !config->key || !*config->key) {
        snprintf (error, error_size, "certificate and key (the client certificate and its key "
                  "from drift keys issue) are required over HTTPS");
        return -1;
    }
    if (access (config->certificate, R_OK)) {
        snprintf (error, error_size, "cannot read the client certificate %s: %s",
                  config->certificate, strerror (errno));
        return -1;
    }
    if (config->ca && *config->ca && access (config->ca, R_OK)) {
        snprintf (error, error_size, "cannot read the server CA %s: %s", config->ca,
                  strerror (errno));
        return -1;
    }
    if (config->window < 1 || config->timeout_ms < 1) {
        snprintf (error, error_size, "window and ack-timeout-ms must be positive");
        return -1;
    }
    https_t *self = (https_t *) zmalloc (sizeof *self);
    if (secret_read (config->key, self->key, sizeof self->key, &self->key_size,
                     error, error_size)) {
        free (self);
        return -1;
    }
    curl_global_init (CURL_GLOBAL_DEFAULT);
    size_t length = strlen (config->endpoint);
    while (length > 8 && config->endpoint [length - 1] == '/')
        length--;
    self->url = zsys_sprintf ("%.*s/v1/reports", (int) length, config->endpoint);
    self->hello_url = zsys_sprintf ("%.*s/v1/hello", (int) length, config->endpoint);
    self->certificate = strdup (config->certificate);
    self->ca = config->ca && *config->ca ? strdup (config->ca) : NULL;
    self->window = config->window;
    self->timeout_ms = config->timeout_ms;
    //  No Expect: 100-continue: a report is small, and the wait for "100"
    //  would add a round trip to every request.
    self->headers = curl_slist_append (NULL, "Content-Type: application/x-protobuf");
    self->headers = curl_slist_append (self->headers, "Expect:");
    self->requests = zlistx_new ();
    zlistx_set_destructor (self->requests, (zlistx_destructor_fn *) s_request_destroy);
    link->ops = &s_ops;
    link->self = self;
    return 0;
}
