/*  https: ingest's HTTPS face (issue 18): one Report per POST, from Caddy.

    Caddy terminates TLS, requires a client certificate signed by the local
    CA (chain and validity checked there), and proxies the agent route here
    with two headers it sets itself, overwriting any a client sent: the
    certificate's serial and a shared secret saying "this came through
    Caddy". This face listens on the internal network only and refuses,
    before it reads a body, any request without the secret (compared in
    constant time), without a well-formed serial, to another route, or
    whose Content-Length is over the size limit; a body streamed past the
    limit is cut off where it passes it.

    `GET /v1/hello` is a CURVE agent's HELLO: it goes to ingest's loop as
    one, and the WELCOME (tenant, agent, max_report_bytes) comes back as
    the body of a 200, so an HTTPS agent learns the size limit too.

    The command channel (proto/AGENT-LINK.md §7), which a CURVE agent is
    sent unasked, an HTTPS agent polls: `GET /v1/commands` goes to the loop
    as a COMMAND_POLL, answered with the oldest command not yet received
    (200, the AgentMessage COMMAND) or NO_COMMAND (204, no body); `POST
    /v1/command-updates` carries one AgentMessage holding a CommandUpdate,
    sent on as it came (ingest decodes it strictly and answers COMMAND_ACK
    or a NACK). A body that holds any other kind is refused here (400):
    a Report posted there must not be journaled by the back door.

    Everything else is ingest's own code: a complete body (a protobuf
    `Report`) is wrapped as the AgentMessage a CURVE agent would have sent
    (field 3, no copy) and handed, with the agent's CURVE key, to ingest's
    loop over an inproc PAIR; the loop runs the same registry check (a
    revoked agent is refused), rate limit, strict decode, journal group and
    idempotence by report id as for CURVE, and answers with the same
    AgentMessage it would send an agent: ACK only after the journal commit.
    That answer becomes the HTTP status (proto/AGENT-LINK.md) and, as is,
    the response body. The connection is suspended meanwhile, so a slow
    journal holds no thread.

    The serial is mapped to the agent's CURVE key with drift_agent_by_cert
    (schema 0018), cached here; the certificate's validity is checked at
    every request (Caddy checks it too). One thread runs it all: libmicro-
    httpd in external epoll mode, polled beside the PAIR and the actor pipe.
    It listens on one IPv4 address, given or found as this host's address
    in a given subnet (Swarm fixes a network's subnet, not a task's address).
    Slow clients are bounded by libmicrohttpd's idle timeout and its
    connection limit; a request ingest never answered gets 503 after
    answer_timeout_ms.
*/
#include "https.h"
#include "../../lib/agent_link.h"
#include "../../lib/clock.h"
#include "../../lib/counters.h"
#include "../../lib/db.h"
#include "../../lib/log.h"
#include "../../lib/secret.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <inttypes.h>
#include <jansson.h>
#include <libpq-fe.h>
#include <microhttpd.h>
#include <sodium.h>

#define HTTPS_SECRET_MAX 4096    // largest proxy secret file
#define HTTPS_SECRET_MIN 32      // shortest accepted
#define HTTPS_CACHE_MS 60000     // a serial's answer is reused this long
#define HTTPS_CACHE_MAX 10000    // entries before the cache is emptied
#define HTTPS_WRAP AGENT_LINK_FIELD_HEADER_MAX // room before a body for its AgentMessage header
#define HTTPS_FIRST_BUFFER (1024 * 1024) // most allocated for a body before it arrives

//  What a request is, by its method and path.
typedef enum {
    ROUTE_REPORT,                // POST /v1/reports: a Report
    ROUTE_HELLO,                 // GET /v1/hello: a HELLO
    ROUTE_COMMANDS,              // GET /v1/commands: a COMMAND_POLL
    ROUTE_UPDATES                // POST /v1/command-updates: an AgentMessage COMMAND_UPDATE
} https_route_t;

//  The routes, and the refusal of a known path with another method.
static const struct {
    const char *method;
    const char *path;
    https_route_t route;
} s_routes [] = {
    { MHD_HTTP_METHOD_POST, HTTPS_REPORTS_PATH, ROUTE_REPORT },
    { MHD_HTTP_METHOD_GET, HTTPS_HELLO_PATH, ROUTE_HELLO },
    { MHD_HTTP_METHOD_GET, HTTPS_COMMANDS_PATH, ROUTE_COMMANDS },
    { MHD_HTTP_METHOD_POST, HTTPS_UPDATES_PATH, ROUTE_UPDATES }
};
#define HTTPS_ROUTES (sizeof s_routes / sizeof s_routes [0])

//  One request, from its headers to its answer.
typedef struct {
    uint64_t id;                 // its name on the PAIR
    struct MHD_Connection *connection; // to resume when the answer comes
    char serial [64];            // the client certificate's serial (decimal)
    https_route_t route;         // what the request is
    char agent_version [64];     // hello: the User-Agent, printable characters only
    uint8_t *buffer;             // HTTPS_WRAP bytes, then the body (NULL once forwarded)
    size_t size;                 // body bytes read
    size_t capacity;             // body bytes the buffer holds
    bool waiting;                // handed to ingest, connection suspended
    int64_t deadline_ms;         // when waiting, the latest answer
    int status;                  // the answer, once there (0: none yet)
    uint8_t *answer;             // its body: the AgentMessage ingest sent
    size_t answer_size;
    uint32_t retry_after_ms;     // for 429/503
} request_t;

//  A serial's answer from the registry.
typedef struct {
    char key [41];               // the agent's CURVE public key
    int64_t not_before;          // validity, Unix seconds
    int64_t not_after;
    int64_t fetched_ms;          // when it was read
} cert_entry_t;

typedef struct {
    uint64_t requests;           // requests whose headers were read
    uint64_t forwarded;          // handed to ingest's loop
    uint64_t answered;           // answered with ingest's answer
    uint64_t untrusted;          // no or wrong proxy secret: did not come through Caddy
    uint64_t bad_identity;       // no or malformed certificate serial
    uint64_t unknown_cert;       // a serial the registry does not know
    uint64_t expired_cert;       // outside its validity
    uint64_t too_large;          // refused by Content-Length
    uint64_t cut_off;            // streamed past the limit: connection closed
    uint64_t bad_route;          // not one of s_routes
    uint64_t wrong_kind;         // a command update's body holding another kind
    uint64_t registry_unavailable; // the serial could not be looked up
    uint64_t unanswered;         // ingest did not answer in time
    uint64_t answers_dropped;    // answers for requests already gone
} https_counters_t;

#define HTTPS_REFUSALS_HELP "HTTPS face requests refused before they reached ingest's loop"
#define HTTPS_STAT(key, field) \
    { key, "https", NULL, false, NULL, NULL, NULL, COUNTER_AT (https_counters_t, field) }
#define HTTPS_REFUSAL(key, field) \
    { key, "https", "drift_ingest_https_refusals_total", false, "reason", key, \
      HTTPS_REFUSALS_HELP, COUNTER_AT (https_counters_t, field) }

static const counter_t s_counters [] = {
    HTTPS_STAT ("requests", requests),
    HTTPS_STAT ("forwarded", forwarded),
    HTTPS_STAT ("answered", answered),
    HTTPS_REFUSAL ("untrusted", untrusted),
    HTTPS_REFUSAL ("bad_identity", bad_identity),
    HTTPS_REFUSAL ("unknown_cert", unknown_cert),
    HTTPS_REFUSAL ("expired_cert", expired_cert),
    HTTPS_REFUSAL ("too_large", too_large),
    HTTPS_REFUSAL ("cut_off", cut_off),
    HTTPS_REFUSAL ("bad_route", bad_route),
    HTTPS_REFUSAL ("wrong_kind", wrong_kind),
    HTTPS_REFUSAL ("registry_unavailable", registry_unavailable),
    HTTPS_REFUSAL ("unanswered", unanswered),
    HTTPS_STAT ("answers_dropped", answers_dropped)
};
#define HTTPS_COUNTERS (sizeof s_counters / sizeof s_counters [0])

typedef struct {
    zsock_t *pipe;               // the actor's
    zsock_t *ingest;             // PAIR to ingest's loop
    struct MHD_Daemon *daemon;
    int epoll_fd;                // libmicrohttpd's, polled here
    char *database;              // for the serial look-ups
    PGconn *conn;                // NULL until needed, or after a failure
    int64_t database_retry_ms;   // no new connection before
    uint8_t secret_hash [crypto_generichash_BYTES]; // of the proxy secret
    uint64_t max_body;           // largest body
    int answer_timeout_ms;
    uint64_t next_id;
    zhashx_t *waiting;           // id (hex) → request_t, suspended
    zhashx_t *certs;             // serial → cert_entry_t
    https_counters_t counters;
    metric_t *series [HTTPS_COUNTERS];
} face_t;


//  --------------------------------------------------------------------------
//  Answers

static enum MHD_Result
s_respond (struct MHD_Connection *connection, int status, const uint8_t *body, size_t size,
           uint32_t retry_after_ms)
{
    struct MHD_Response *response = MHD_create_response_from_buffer (size, (void *) body,
                                                                      MHD_RESPMEM_MUST_COPY);
    if (!response)
        return MHD_NO;
    //  204 (no command waiting) has no body, so no type.
    if (status != 204)
        MHD_add_response_header (response, MHD_HTTP_HEADER_CONTENT_TYPE, "application/x-protobuf");
    if (status == 429 || status == 503) {
        char seconds [16];
        unsigned whole = (retry_after_ms + 999) / 1000;
        snprintf (seconds, sizeof seconds, "%u", whole ? whole : 1);
        MHD_add_response_header (response, MHD_HTTP_HEADER_RETRY_AFTER, seconds);
    }
    enum MHD_Result result = MHD_queue_response (connection, (unsigned) status, response);
    MHD_destroy_response (response);
    return result;
}

//  A refusal made here, in the same AgentMessage NACK as ingest's own.
static enum MHD_Result
s_refuse (struct MHD_Connection *connection, int status, Drift__NackCode code,
          const char *text, uint32_t retry_after_ms)
{
    size_t size;
    uint8_t *bytes = agent_link_encode_nack (NULL, code, text, retry_after_ms, &size);
    enum MHD_Result result = s_respond (connection, status, bytes, size, retry_after_ms);
    free (bytes);
    return result;
}

//  The HTTP status of an answer from ingest's loop (proto/AGENT-LINK.md).
static int
s_status (const Drift__AgentMessage *message, uint32_t *retry_after_ms)
{
    *retry_after_ms = 0;
    if (message->kind_case == DRIFT__AGENT_MESSAGE__KIND_ACK
    ||  message->kind_case == DRIFT__AGENT_MESSAGE__KIND_WELCOME
    ||  message->kind_case == DRIFT__AGENT_MESSAGE__KIND_COMMAND
    ||  message->kind_case == DRIFT__AGENT_MESSAGE__KIND_COMMAND_ACK)
        return 200;
    if (message->kind_case == DRIFT__AGENT_MESSAGE__KIND_NO_COMMAND)
        return 204;
    if (message->kind_case != DRIFT__AGENT_MESSAGE__KIND_NACK)
        return 500;
    *retry_after_ms = message->nack->retry_after_ms;
    switch (message->nack->code) {
        case DRIFT__NACK_CODE__NACK_BAD_MESSAGE:        return 400;
        case DRIFT__NACK_CODE__NACK_TOO_LARGE:          return 413;
        case DRIFT__NACK_CODE__NACK_UNSUPPORTED_FORMAT: return 415;
        case DRIFT__NACK_CODE__NACK_RATE_LIMITED:       return 429;
        case DRIFT__NACK_CODE__NACK_UNAVAILABLE:        return 503;
        case DRIFT__NACK_CODE__NACK_REVOKED:            return 403;
        default:                                        return 500;
    }
}

static void
s_request_key (uint64_t id, char *key)
{
    snprintf (key, 17, "%016" PRIx64, id);
}

//  Answers from ingest's loop, [id][AgentMessage]: each resumes its
//  connection, whose handler then queues the response.
static void
s_answers (face_t *self)
{
    while (true) {
        zmsg_t *msg = zmsg_recv_nowait (self->ingest);
        if (!msg)
            break;
        zframe_t *id = zmsg_pop (msg);
        zframe_t *body = zmsg_pop (msg);
        char key [17] = "";
        if (id && zframe_size (id) == sizeof (uint64_t)) {
            uint64_t value;
            memcpy (&value, zframe_data (id), sizeof value);
            s_request_key (value, key);
        }
        request_t *request = *key ? (request_t *) zhashx_lookup (self->waiting, key) : NULL;
        const char *error;
        Drift__AgentMessage *message = request && body
            ? agent_link_decode (zframe_data (body), zframe_size (body), &error) : NULL;
        if (!message)
            self->counters.answers_dropped++;
        else {
            request->status = s_status (message, &request->retry_after_ms);
            request->answer = (uint8_t *) malloc (zframe_size (body) + 1);
            memcpy (request->answer, zframe_data (body), zframe_size (body));
            request->answer_size = request->status == 204 ? 0 : zframe_size (body);
            agent_link_free (message);
            zhashx_delete (self->waiting, key);
            request->waiting = false;
            self->counters.answered++;
            MHD_resume_connection (request->connection);
        }
        zframe_destroy (&id);
        zframe_destroy (&body);
        zmsg_destroy (&msg);
    }
}

//  Requests ingest left unanswered past their deadline (a message its loop
//  dropped, or a loop that is stopping): 503, the agent resends.
static void
s_sweep (face_t *self, bool all)
{
    int64_t now = clock_mono_ms ();
    zlistx_t *keys = zhashx_keys (self->waiting);
    for (char *key = (char *) zlistx_first (keys); key; key = (char *) zlistx_next (keys)) {
        request_t *request = (request_t *) zhashx_lookup (self->waiting, key);
        if (!all && request->deadline_ms > now)
            continue;
        request->status = 503;
        request->retry_after_ms = 1000;
        request->waiting = false;
        self->counters.unanswered++;
        zhashx_delete (self->waiting, key);
        MHD_resume_connection (request->connection);
    }
    zlistx_destroy (&keys);
}


//  --------------------------------------------------------------------------
//  The certificate registry

//  The agent key of serial: 1 (entry filled), 0 unknown, -1 the database
//  could not answer.
static int
s_cert_lookup (face_t *self, const char *serial, cert_entry_t *entry)
{
    cert_entry_t *cached = (cert_entry_t *) zhashx_lookup (self->certs, serial);
    if (cached && clock_mono_ms () - cached->fetched_ms < HTTPS_CACHE_MS) {
        *entry = *cached;
        return 1;
    }
    if (!self->conn && clock_mono_ms () >= self->database_retry_ms) {
        self->conn = db_connect (self->database, 0);
        if (self->conn && db_exec (self->conn, "https statement timeout",
                                   "SET statement_timeout = 2000")) {
            PQfinish (self->conn);
            self->conn = NULL;
        }
        if (!self->conn)
            self->database_retry_ms = clock_mono_ms () + 1000;
    }
    if (!self->conn)
        return -1;
    const char *params [] = { serial };
    PGresult *result = PQexecParams (self->conn,
        "SELECT public_key, not_before, not_after FROM drift_agent_by_cert ($1::text)",
        1, NULL, params, NULL, NULL, 0);
    int found = -1;
    if (PQresultStatus (result) == PGRES_TUPLES_OK) {
        found = PQntuples (result) == 1;
        if (found) {
            memset (entry, 0, sizeof *entry);
            snprintf (entry->key, sizeof entry->key, "%s", PQgetvalue (result, 0, 0));
            entry->not_before = strtoll (PQgetvalue (result, 0, 1), NULL, 10);
            entry->not_after = strtoll (PQgetvalue (result, 0, 2), NULL, 10);
            entry->fetched_ms = clock_mono_ms ();
            if (zhashx_size (self->certs) >= HTTPS_CACHE_MAX)
                zhashx_purge (self->certs);
            cert_entry_t *copy = (cert_entry_t *) malloc (sizeof *copy);
            *copy = *entry;
            zhashx_update (self->certs, serial, copy);
        }
    }
    else {
        log_warn ("certificate look-up failed", "error", PQresultErrorMessage (result));
        if (PQstatus (self->conn) == CONNECTION_BAD) {
            PQfinish (self->conn);
            self->conn = NULL;
        }
    }
    PQclear (result);
    return found;
}


//  --------------------------------------------------------------------------
//  Requests

//  True if the request carries the proxy secret. Both sides are hashed
//  first, so the comparison takes the same time whatever the header holds,
//  its length included.
static bool
s_trusted (face_t *self, struct MHD_Connection *connection)
{
    const char *given = MHD_lookup_connection_value (connection, MHD_HEADER_KIND,
                                                     HTTPS_PROXY_HEADER);
    if (!given)
        return false;
    uint8_t hash [crypto_generichash_BYTES];
    crypto_generichash (hash, sizeof hash, (const uint8_t *) given, strlen (given), NULL, 0);
    return sodium_memcmp (hash, self->secret_hash, sizeof hash) == 0;
}

static bool
s_serial_valid (const char *serial)
{
    size_t length = serial ? strlen (serial) : 0;
    if (length < 1 || length > 60)
        return false;
    for (size_t i = 0; i < length; i++)
        if (serial [i] < '0' || serial [i] > '9')
            return false;
    return true;
}

//  The headers of a new request: refused here (a response queued, NULL
//  returned with *result set) or a request_t to read the body into.
static request_t *
s_request_new (face_t *self, struct MHD_Connection *connection, const char *url,
               const char *method, enum MHD_Result *result)
{
    self->counters.requests++;
    //  Who sent it first: nothing else is said to a caller that did not
    //  come through Caddy.
    if (!s_trusted (self, connection)) {
        self->counters.untrusted++;
        *result = s_refuse (connection, 403, DRIFT__NACK_CODE__NACK_REVOKED,
                            "not through the trusted proxy", 0);
        return NULL;
    }
    size_t route = HTTPS_ROUTES;
    bool known = false;
    for (size_t i = 0; i < HTTPS_ROUTES; i++)
        if (streq (url, s_routes [i].path)) {
            known = true;
            if (streq (method, s_routes [i].method))
                route = i;
        }
    if (route == HTTPS_ROUTES) {
        self->counters.bad_route++;
        *result = s_refuse (connection, known ? 405 : 404, DRIFT__NACK_CODE__NACK_BAD_MESSAGE,
                            "agents GET " HTTPS_HELLO_PATH " and " HTTPS_COMMANDS_PATH
                            ", POST reports to " HTTPS_REPORTS_PATH " and command updates to "
                            HTTPS_UPDATES_PATH, 0);
        return NULL;
    }
    const char *serial = MHD_lookup_connection_value (connection, MHD_HEADER_KIND,
                                                      HTTPS_SERIAL_HEADER);
    if (!s_serial_valid (serial)) {
        self->counters.bad_identity++;
        *result = s_refuse (connection, 403, DRIFT__NACK_CODE__NACK_REVOKED,
                            "no client certificate", 0);
        return NULL;
    }
    const char *length = MHD_lookup_connection_value (connection, MHD_HEADER_KIND,
                                                      MHD_HTTP_HEADER_CONTENT_LENGTH);
    uint64_t declared = length ? strtoull (length, NULL, 10) : 0;
    if (declared > self->max_body) {
        self->counters.too_large++;
        *result = s_refuse (connection, 413, DRIFT__NACK_CODE__NACK_TOO_LARGE,
                            "report larger than this server accepts", 0);
        return NULL;
    }
    request_t *request = (request_t *) zmalloc (sizeof *request);
    request->id = ++self->next_id;
    snprintf (request->serial, sizeof request->serial, "%s", serial);
    request->route = s_routes [route].route;
    const char *agent = MHD_lookup_connection_value (connection, MHD_HEADER_KIND,
                                                     MHD_HTTP_HEADER_USER_AGENT);
    for (size_t i = 0, used = 0; agent && agent [i] && used + 1 < sizeof request->agent_version; i++)
        if (agent [i] > ' ' && agent [i] < 0x7f)
            request->agent_version [used++] = agent [i];
    request->connection = connection;
    //  Room for the declared body up to 1 MiB, or 64 KiB when chunked; it
    //  grows as the body comes, so a declared size costs nothing unsent.
    request->capacity = declared ? (declared < HTTPS_FIRST_BUFFER ? declared : HTTPS_FIRST_BUFFER)
                                 : 65536;
    request->buffer = (uint8_t *) malloc (HTTPS_WRAP + request->capacity);
    return request;
}

//  Append a piece of the body; false once it passes the limit.
static bool
s_request_append (face_t *self, request_t *request, const char *data, size_t size)
{
    if (request->size + size > self->max_body)
        return false;
    if (request->size + size > request->capacity) {
        while (request->size + size > request->capacity)
            request->capacity *= 2;
        if (request->capacity > self->max_body)
            request->capacity = self->max_body;
        request->buffer = (uint8_t *) realloc (request->buffer, HTTPS_WRAP + request->capacity);
    }
    memcpy (request->buffer + HTTPS_WRAP + request->size, data, size);
    request->size += size;
    return true;
}

static void
s_free_hint (void *data, void *hint)
{
    (void) data;
    free (hint);
}

//  The report as the AgentMessage a CURVE agent would have sent, in part:
//  field 3 (report), length-delimited: tag, varint length, then the
//  Report's bytes as they came. The buffer becomes the message's (libzmq
//  frees it).
static void
s_report_message (request_t *request, zmq_msg_t *part)
{
    uint8_t header [HTTPS_WRAP];
    size_t used = agent_link_field_header (DRIFT__AGENT_MESSAGE__KIND_REPORT, request->size,
                                           header);
    uint8_t *start = request->buffer + HTTPS_WRAP - used;
    memcpy (start, header, used);
    zmq_msg_init_data (part, start, used + request->size, s_free_hint, request->buffer);
    request->buffer = NULL;
}

//  POST /v1/command-updates: the body is the AgentMessage already, sent
//  on as it came (the buffer becomes the message's).
static void
s_update_message (request_t *request, zmq_msg_t *part)
{
    zmq_msg_init_data (part, request->buffer + HTTPS_WRAP, request->size, s_free_hint,
                       request->buffer);
    request->buffer = NULL;
}

//  GET /v1/hello as the HELLO a CURVE agent sends first, GET /v1/commands
//  as a COMMAND_POLL.
static void
s_asked_message (request_t *request, zmq_msg_t *part)
{
    Drift__Hello hello = DRIFT__HELLO__INIT;
    hello.protocol = AGENT_LINK_PROTOCOL;
    hello.agent_version = request->agent_version;
    Drift__CommandPoll poll = DRIFT__COMMAND_POLL__INIT;
    Drift__AgentMessage message = DRIFT__AGENT_MESSAGE__INIT;
    if (request->route == ROUTE_HELLO) {
        message.kind_case = DRIFT__AGENT_MESSAGE__KIND_HELLO;
        message.hello = &hello;
    }
    else {
        message.kind_case = DRIFT__AGENT_MESSAGE__KIND_COMMAND_POLL;
        message.command_poll = &poll;
    }
    size_t size;
    uint8_t *bytes = agent_link_encode (&message, &size);
    zmq_msg_init_data (part, bytes, size, s_free_hint, bytes);
}

//  The whole body is in: who sent it, then to ingest's loop as the
//  AgentMessage a CURVE agent would have sent, without copying the body.
static enum MHD_Result
s_request_forward (face_t *self, struct MHD_Connection *connection, request_t *request)
{
    cert_entry_t cert;
    int found = s_cert_lookup (self, request->serial, &cert);
    if (found < 0) {
        self->counters.registry_unavailable++;
        return s_refuse (connection, 503, DRIFT__NACK_CODE__NACK_UNAVAILABLE,
                         "key registry unavailable, retry later", 1000);
    }
    if (found == 0) {
        self->counters.unknown_cert++;
        return s_refuse (connection, 403, DRIFT__NACK_CODE__NACK_REVOKED,
                         "certificate not in the registry", 0);
    }
    int64_t now = clock_wall_us () / 1000000;
    if (now < cert.not_before || now > cert.not_after) {
        self->counters.expired_cert++;
        return s_refuse (connection, 403, DRIFT__NACK_CODE__NACK_REVOKED,
                         "certificate expired or not yet valid", 0);
    }
    if (request->route == ROUTE_UPDATES
    &&  !agent_link_holds_only (request->buffer + HTTPS_WRAP, request->size,
                                DRIFT__AGENT_MESSAGE__KIND_COMMAND_UPDATE)) {
        self->counters.wrong_kind++;
        return s_refuse (connection, 400, DRIFT__NACK_CODE__NACK_BAD_MESSAGE,
                         "the body must be one AgentMessage holding a CommandUpdate", 0);
    }
    zmq_msg_t parts [3];
    if (request->route == ROUTE_REPORT)
        s_report_message (request, &parts [2]);
    else
    if (request->route == ROUTE_UPDATES)
        s_update_message (request, &parts [2]);
    else
        s_asked_message (request, &parts [2]);
    zmq_msg_init_size (&parts [0], sizeof request->id);
    memcpy (zmq_msg_data (&parts [0]), &request->id, sizeof request->id);
    zmq_msg_init_size (&parts [1], 40);
    memcpy (zmq_msg_data (&parts [1]), cert.key, 40);
    void *handle = zsock_resolve (self->ingest);
    if (zmq_msg_send (&parts [0], handle, ZMQ_SNDMORE | ZMQ_DONTWAIT) == -1
    ||  zmq_msg_send (&parts [1], handle, ZMQ_SNDMORE | ZMQ_DONTWAIT) == -1
    ||  zmq_msg_send (&parts [2], handle, ZMQ_DONTWAIT) == -1) {
        for (int i = 0; i < 3; i++)
            zmq_msg_close (&parts [i]);
        return s_refuse (connection, 503, DRIFT__NACK_CODE__NACK_UNAVAILABLE,
                         "ingest is busy, retry shortly", 100);
    }
    self->counters.forwarded++;
    char key [17];
    s_request_key (request->id, key);
    request->waiting = true;
    request->deadline_ms = clock_mono_ms () + self->answer_timeout_ms;
    zhashx_insert (self->waiting, key, request);
    MHD_suspend_connection (connection);
    return MHD_YES;
}

static enum MHD_Result
s_access (void *cls, struct MHD_Connection *connection, const char *url, const char *method,
          const char *version, const char *upload_data, size_t *upload_data_size, void **state)
{
    (void) version;
    face_t *self = (face_t *) cls;
    request_t *request = (request_t *) *state;
    if (!request) {
        enum MHD_Result result = MHD_NO;
        *state = s_request_new (self, connection, url, method, &result);
        return *state ? MHD_YES : result;
    }
    if (request->status)
        return s_respond (connection, request->status, request->answer, request->answer_size,
                          request->retry_after_ms);
    if (*upload_data_size) {
        if (!s_request_append (self, request, upload_data, *upload_data_size)) {
            //  Past the limit mid-stream: no more is read, the connection ends.
            self->counters.cut_off++;
            return MHD_NO;
        }
        *upload_data_size = 0;
        return MHD_YES;
    }
    return s_request_forward (self, connection, request);
}

static void
s_completed (void *cls, struct MHD_Connection *connection, void **state,
             enum MHD_RequestTerminationCode code)
{
    (void) connection;
    (void) code;
    face_t *self = (face_t *) cls;
    request_t *request = (request_t *) *state;
    if (!request)
        return;
    if (request->waiting) {
        char key [17];
        s_request_key (request->id, key);
        zhashx_delete (self->waiting, key);
    }
    free (request->buffer);
    free (request->answer);
    free (request);
    *state = NULL;
}


//  --------------------------------------------------------------------------
//  The actor

//  The address to listen on: host, an IPv4 address, or SUBNET/BITS for
//  this host's own address in that subnet (Swarm gives a task no fixed
//  address, only its overlay network a fixed subnet). 0, or -1 (logged).
static int
s_address (const char *host, struct in_addr *address)
{
    const char *slash = strchr (host, '/');
    if (!slash) {
        if (inet_pton (AF_INET, host, address) == 1)
            return 0;
        log_error ("https bind needs an IPv4 address or SUBNET/BITS (the internal network)",
                   "host", host);
        return -1;
    }
    char network [INET_ADDRSTRLEN];
    char *end = NULL;
    long bits = strtol (slash + 1, &end, 10);
    struct in_addr subnet;
    if ((size_t) (slash - host) >= sizeof network || *end || bits < 1 || bits > 32) {
        log_error ("https bind subnet is not A.B.C.D/BITS", "host", host);
        return -1;
    }
    snprintf (network, sizeof network, "%.*s", (int) (slash - host), host);
    if (inet_pton (AF_INET, network, &subnet) != 1) {
        log_error ("https bind subnet is not A.B.C.D/BITS", "host", host);
        return -1;
    }
    uint32_t mask = htonl (bits == 32 ? 0xffffffffu : ~(0xffffffffu >> bits));
    struct ifaddrs *interfaces = NULL;
    int rc = -1;
    if (getifaddrs (&interfaces) == 0) {
        for (struct ifaddrs *at = interfaces; at && rc; at = at->ifa_next) {
            if (!at->ifa_addr || at->ifa_addr->sa_family != AF_INET)
                continue;
            struct in_addr mine = ((struct sockaddr_in *) at->ifa_addr)->sin_addr;
            if ((mine.s_addr & mask) == (subnet.s_addr & mask)) {
                *address = mine;
                rc = 0;
            }
        }
        freeifaddrs (interfaces);
    }
    if (rc)
        log_error ("https bind: this host has no address in the subnet", "subnet", host);
    return rc;
}

static int
s_listen (face_t *self, const https_config_t *config)
{
    char host [64];
    const char *colon = strrchr (config->bind, ':');
    int port = colon ? atoi (colon + 1) : 0;
    if (!colon || (size_t) (colon - config->bind) >= sizeof host || port < 1 || port > 65535) {
        log_error ("https bind is not HOST:PORT", "bind", config->bind);
        return -1;
    }
    snprintf (host, sizeof host, "%.*s", (int) (colon - config->bind), config->bind);
    struct sockaddr_in address = { .sin_family = AF_INET, .sin_port = htons ((uint16_t) port) };
    if (s_address (host, &address.sin_addr))
        return -1;
    uint8_t secret [HTTPS_SECRET_MAX];
    size_t size;
    char error [512];
    if (secret_read (config->proxy_secret_file, secret, sizeof secret, &size, error,
                     sizeof error)) {
        log_error ("the proxy secret file is refused", "error", error);
        return -1;
    }
    //  One line of text, as install.sh writes it and Caddy sends it.
    while (size && (secret [size - 1] == '\n' || secret [size - 1] == '\r'))
        size--;
    if (size < HTTPS_SECRET_MIN) {
        sodium_memzero (secret, sizeof secret);
        log_error ("the proxy secret must be at least 32 characters",
                   "path", config->proxy_secret_file);
        return -1;
    }
    crypto_generichash (self->secret_hash, sizeof self->secret_hash, secret, size, NULL, 0);
    sodium_memzero (secret, sizeof secret);
    self->daemon = MHD_start_daemon (MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME,
        (uint16_t) port, NULL, NULL, s_access, self,
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *) &address,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int) config->timeout_s,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned int) config->connections,
        MHD_OPTION_NOTIFY_COMPLETED, s_completed, self,
        MHD_OPTION_END);
    if (!self->daemon) {
        log_error ("cannot listen for HTTPS agents", "bind", config->bind);
        return -1;
    }
    self->epoll_fd = MHD_get_daemon_info (self->daemon, MHD_DAEMON_INFO_EPOLL_FD)->epoll_fd;
    char shown [INET_ADDRSTRLEN];
    inet_ntop (AF_INET, &address.sin_addr, shown, sizeof shown);
    log_info ("ingest serving agents over HTTPS (behind Caddy)", "bind", config->bind,
              "address", shown);
    return 0;
}

static void
s_cert_free (void **item)
{
    free (*item);
    *item = NULL;
}

static char *
s_stats_text (face_t *self)
{
    json_t *stats = json_object ();
    counters_json (s_counters, HTTPS_COUNTERS, &self->counters, stats);
    char *text = json_dumps (json_object_get (stats, "https"), JSON_COMPACT);
    json_decref (stats);
    return text;
}

void
https_face_actor (zsock_t *pipe, void *args)
{
    const https_config_t *config = (const https_config_t *) args;
    face_t self = {
        .pipe = pipe,
        .max_body = config->max_body_bytes,
        .answer_timeout_ms = config->answer_timeout_ms,
        .database = strdup (config->database),
        .waiting = zhashx_new (),
        .certs = zhashx_new ()
    };
    zhashx_set_destructor (self.certs, s_cert_free);
    //  zactor_new waits for a first signal; https_face_new for a second
    //  one, which says whether the face started.
    zsock_signal (pipe, 0);
    self.ingest = zsock_new (ZMQ_PAIR);
    if (zsock_connect (self.ingest, "%s", config->ingest) || s_listen (&self, config)) {
        zsock_signal (pipe, 1);
        zsock_destroy (&self.ingest);
        zhashx_destroy (&self.waiting);
        zhashx_destroy (&self.certs);
        free (self.database);
        return;
    }
    counters_register (s_counters, HTTPS_COUNTERS, self.series, NULL, NULL);
    zsock_signal (pipe, 0);
    bool terminated = false;
    while (!terminated) {
        long timeout = 100;
        MHD_UNSIGNED_LONG_LONG wanted;
        if (MHD_get_timeout (self.daemon, &wanted) == MHD_YES && wanted < (unsigned long) timeout)
            timeout = (long) wanted;
        zmq_pollitem_t items [] = {
            { zsock_resolve (pipe), 0, ZMQ_POLLIN, 0 },
            { zsock_resolve (self.ingest), 0, ZMQ_POLLIN, 0 },
            { NULL, self.epoll_fd, ZMQ_POLLIN, 0 }
        };
        if (zmq_poll (items, 3, timeout) == -1 && zmq_errno () != EINTR)
            break;
        if (items [0].revents & ZMQ_POLLIN) {
            char *command = zstr_recv (pipe);
            if (!command || streq (command, "$TERM"))
                terminated = true;
            else
            if (streq (command, "STATS")) {
                char *text = s_stats_text (&self);
                zstr_send (pipe, text);
                free (text);
            }
            zstr_free (&command);
        }
        if (items [1].revents & ZMQ_POLLIN)
            s_answers (&self);
        s_sweep (&self, false);
        MHD_run (self.daemon);
        counters_publish (s_counters, HTTPS_COUNTERS, &self.counters, self.series);
    }
    //  Every suspended request is answered (503, resend) before the daemon
    //  stops: libmicrohttpd may not be stopped with connections suspended.
    s_sweep (&self, true);
    MHD_run (self.daemon);
    MHD_stop_daemon (self.daemon);
    zhashx_destroy (&self.waiting);
    zhashx_destroy (&self.certs);
    if (self.conn)
        PQfinish (self.conn);
    free (self.database);
    zsock_destroy (&self.ingest);
}

zactor_t *
https_face_new (const https_config_t *config)
{
    zactor_t *actor = zactor_new (https_face_actor, (void *) config);
    //  The actor's second signal: 0 once it listens.
    if (actor && zsock_wait (actor) != 0) {
        zactor_destroy (&actor);
        return NULL;
    }
    return actor;
}
