/*  link_https: the HTTPS transport through libcurl; see link_https.h. */
#include "link_https.h"
#include "../lib/agent_link.h"
#include "../lib/clock.h"
#include "../lib/log.h"
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
    char *commands_url;          // endpoint + /v1/commands
    char *updates_url;           // endpoint + /v1/command-updates
    char *certificate;           // client certificate path
    char *ca;                    // server CA bundle path, or NULL
    uint8_t key [LINK_HTTPS_KEY_MAX]; // the client key's PEM bytes, wiped at the end
    size_t key_size;             // bytes of key
    int window;                  // connections kept at most
    int timeout_ms;              // per request
    CURLM *multi;                // the connections, NULL while disconnected
    struct curl_slist *headers;  // the request headers, the same for every report
    zlistx_t *requests;          // request_t in flight
    int command_poll_ms;         // between two polls for commands (0: never)
    bool welcomed;               // this connection's hello was answered WELCOME
    bool polling;                // a GET /v1/commands is in flight
    int64_t poll_at;             // the next poll starts then (or later)
    bool poll_after_update;      // the last poll brought a command: poll again
                                 // once its update is answered
    int updates;                 // command updates in flight
} https_t;

//  What a request is.
typedef enum {
    REQUEST_HELLO,               // GET /v1/hello
    REQUEST_REPORT,              // POST /v1/reports
    REQUEST_POLL,                // GET /v1/commands
    REQUEST_UPDATE               // POST /v1/command-updates
} request_kind_t;

//  One request in flight.
typedef struct {
    CURL *easy;                  // its transfer
    request_kind_t kind;         // what it is
    char id [80];                // its report id (REPORT only)
    char command_id [40];        // UPDATE: the update's command
    uint32_t seq;                // UPDATE: and its number
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
    self->welcomed = false;
    self->polling = false;
    self->poll_after_update = false;
    self->updates = 0;
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
    free (self->commands_url);
    free (self->updates_url);
    free (self->certificate);
    free (self->ca);
    free (self);
}

static request_t *
s_request (https_t *self, request_kind_t kind, const char *id, const uint8_t *body,
           size_t size);

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
    if (!s_request (self, REQUEST_HELLO, "", NULL, 0)) {
        snprintf (error, error_size, "libcurl could not start a request");
        return -1;
    }
    //  Reports wait for the hello's WELCOME.
    return 0;
}

//  A request in flight: the GET /v1/hello every connection starts with
//  (its WELCOME says who we are and the server's size limit, as over
//  CURVE), the POST of report id, a GET /v1/commands, or the POST of a
//  command update (body: the AgentMessage). NULL if libcurl cannot start it.
static request_t *
s_request (https_t *self, request_kind_t kind, const char *id, const uint8_t *body,
           size_t size)
{
    request_t *request = (request_t *) zmalloc (sizeof *request);
    snprintf (request->id, sizeof request->id, "%s", id);
    request->kind = kind;
    request->easy = curl_easy_init ();
    if (!request->easy) {
        free (request);
        return NULL;
    }
    CURL *easy = request->easy;
    struct curl_blob key = { self->key, self->key_size, CURL_BLOB_COPY };
    curl_easy_setopt (easy, CURLOPT_PROTOCOLS_STR, "https");
    if (kind == REQUEST_HELLO || kind == REQUEST_POLL)
        curl_easy_setopt (easy, CURLOPT_URL, kind == REQUEST_HELLO ? self->hello_url
                                                                   : self->commands_url);
    else {
        curl_easy_setopt (easy, CURLOPT_URL, kind == REQUEST_REPORT ? self->url
                                                                    : self->updates_url);
        curl_easy_setopt (easy, CURLOPT_HTTPHEADER, self->headers);
        curl_easy_setopt (easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t) size);
        curl_easy_setopt (easy, CURLOPT_COPYPOSTFIELDS, body);
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
        return NULL;
    }
    zlistx_add_end (self->requests, request);
    return request;
}

static int
s_send (void *self_, const char *id, const uint8_t *report, size_t size)
{
    return *id && s_request ((https_t *) self_, REQUEST_REPORT, id, report, size) ? 0 : -1;
}

//  POST /v1/command-updates: the spooled CommandUpdate as the AgentMessage
//  that holds it (field 9, as a CURVE agent frames it). Its id and seq are
//  read to match the COMMAND_ACK, and to name the update in a NACK.
static int
s_send_update (void *self_, const uint8_t *update, size_t size)
{
    https_t *self = (https_t *) self_;
    Drift__CommandUpdate *decoded = drift__command_update__unpack (NULL, size, update);
    if (!decoded) {
        log_warn ("a spooled command update does not decode; sent as it is for ingest to refuse");
        decoded = (Drift__CommandUpdate *) zmalloc (sizeof *decoded);
        drift__command_update__init (decoded);
        decoded->command_id = strdup ("");
    }
    uint8_t *body = (uint8_t *) malloc (size + AGENT_LINK_FIELD_HEADER_MAX);
    size_t used = agent_link_field_header (DRIFT__AGENT_MESSAGE__KIND_COMMAND_UPDATE, size, body);
    memcpy (body + used, update, size);
    request_t *request = s_request (self, REQUEST_UPDATE, "", body, used + size);
    free (body);
    if (request) {
        snprintf (request->command_id, sizeof request->command_id, "%s", decoded->command_id);
        request->seq = decoded->seq;
        self->updates++;
    }
    drift__command_update__free_unpacked (decoded, NULL);
    return request ? 0 : -1;
}

//  GET /v1/commands when one is due: every command_poll_ms on a welcomed
//  connection, one at a time, and at once when the last one brought a
//  command and that command's update has its answer (so the same command
//  is not fetched again before ingest has stored its RECEIVED).
static void
s_poll_start (https_t *self)
{
    if (!self->command_poll_ms || !self->welcomed || self->polling
    ||  clock_mono_ms () < self->poll_at)
        return;
    if (s_request (self, REQUEST_POLL, "", NULL, 0))
        self->polling = true;
    else
        self->poll_at = clock_mono_ms () + self->command_poll_ms;
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

//  A finished poll or update: what the uplink hears of it (1 with answer
//  filled, 0 nothing), and when the next poll is due.
static int
s_command_finished (https_t *self, request_t *request, long status, link_answer_t *answer)
{
    int64_t now = clock_mono_ms ();
    if (request->kind == REQUEST_UPDATE) {
        link_https_update_answer (status, request->body, request->size,
                                  s_retry_after (request->easy), request->command_id,
                                  request->seq, answer);
        if (--self->updates == 0 && self->poll_after_update) {
            self->poll_after_update = false;
            self->poll_at = now;
        }
        return 1;
    }
    self->polling = false;
    int filled = link_https_command (status, request->body, request->size,
                                     s_retry_after (request->easy), answer);
    self->poll_at = now + self->command_poll_ms;
    if (filled && answer->kind == LINK_COMMAND)
        self->poll_after_update = true;
    else
    if (filled && answer->kind == LINK_NACK && answer->retry_after_ms > (uint32_t) self->command_poll_ms)
        self->poll_at = now + answer->retry_after_ms;
    return filled;
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
        long status = 0;
        if (result == CURLE_OK)
            curl_easy_getinfo (request->easy, CURLINFO_RESPONSE_CODE, &status);
        int filled = 1;
        if (result != CURLE_OK) {
            memset (answer, 0, sizeof *answer);
            answer->kind = LINK_BROKEN;
            snprintf (answer->report_id, sizeof answer->report_id, "%s", request->id);
            s_failure (result, request->error, answer->message, sizeof answer->message);
        }
        else
        if (request->kind == REQUEST_HELLO) {
            link_https_welcome (status, request->body, request->size, answer);
            if (answer->kind == LINK_WELCOME) {
                //  Commands made while the agent was away are fetched at once.
                self->welcomed = true;
                self->poll_at = clock_mono_ms ();
            }
        }
        else
        if (request->kind == REQUEST_REPORT)
            link_https_answer (status, request->body, request->size,
                               s_retry_after (request->easy), request->id, answer);
        else
            filled = s_command_finished (self, request, status, answer);
        void *handle = zlistx_find (self->requests, request);
        zlistx_delete (self->requests, handle);
        if (filled)
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
    s_poll_start (self);
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

//  What a body says, when it is ingest's AgentMessage (a proxy's or
//  Caddy's own error page is not): true with said filled (a command's
//  bytes not kept: only a poll's 200 carries one, read apart).
static bool
s_said (const uint8_t *body, size_t size, link_answer_t *said)
{
    memset (said, 0, sizeof *said);
    const char *error;
    Drift__AgentMessage *message = size ? agent_link_decode (body, size, &error) : NULL;
    bool decoded = message && link_answer_from_message (message, said);
    agent_link_free (message);
    free (said->command);
    said->command = NULL;
    return decoded;
}

void
link_https_answer (long status, const uint8_t *body, size_t size,
                   const char *retry_after, const char *id, link_answer_t *answer)
{
    link_answer_t said;
    bool decoded = s_said (body, size, &said);
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
link_https_update_answer (long status, const uint8_t *body, size_t size,
                          const char *retry_after, const char *command_id, uint32_t seq,
                          link_answer_t *answer)
{
    if (status != 200) {
        link_https_answer (status, body, size, retry_after, "", answer);
        if (answer->kind == LINK_NACK) {
            snprintf (answer->command_id, sizeof answer->command_id, "%s", command_id);
            answer->seq = seq;
        }
        return;
    }
    link_answer_t said;
    bool decoded = s_said (body, size, &said);
    memset (answer, 0, sizeof *answer);
    if (decoded && said.kind == LINK_COMMAND_ACK && streq (said.command_id, command_id)
    &&  said.seq == seq) {
        answer->kind = LINK_COMMAND_ACK;
        snprintf (answer->command_id, sizeof answer->command_id, "%s", command_id);
        answer->seq = seq;
        return;
    }
    answer->kind = LINK_BROKEN;
    snprintf (answer->message, sizeof answer->message, "HTTP 200 without a CommandAck for "
              "the update (something other than drift answered)");
}

int
link_https_command (long status, const uint8_t *body, size_t size, const char *retry_after,
                    link_answer_t *answer)
{
    memset (answer, 0, sizeof *answer);
    if (status == 204)
        return 0;
    if (status != 200) {
        link_https_answer (status, body, size, retry_after, "", answer);
        return 1;
    }
    const char *error;
    Drift__AgentMessage *message = size ? agent_link_decode (body, size, &error) : NULL;
    if (message && message->kind_case == DRIFT__AGENT_MESSAGE__KIND_COMMAND) {
        //  A command that breaks the rules is ignored (logged), as over
        //  CURVE: the link works, the next poll comes after the interval.
        int filled = link_answer_from_message (message, answer);
        agent_link_free (message);
        return filled;
    }
    agent_link_free (message);
    answer->kind = LINK_BROKEN;
    snprintf (answer->message, sizeof answer->message, "HTTP 200 without a Command to "
              "GET /v1/commands (something other than drift answered)");
    return 1;
}

void
link_https_welcome (long status, const uint8_t *body, size_t size, link_answer_t *answer)
{
    link_answer_t said;
    bool decoded = s_said (body, size, &said);
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
    s_connect, s_send, s_poll, s_disconnect, s_destroy, s_send_update
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
    if (config->command_poll_s < 0 || config->command_poll_s > 86400) {
        snprintf (error, error_size, "command-poll-s must be 0 (never) to 86400");
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
    self->commands_url = zsys_sprintf ("%.*s/v1/commands", (int) length, config->endpoint);
    self->updates_url = zsys_sprintf ("%.*s/v1/command-updates", (int) length,
                                      config->endpoint);
    self->command_poll_ms = config->command_poll_s * 1000;
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
