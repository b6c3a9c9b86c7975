/*  zap: our ZAP handler on the agent key registry; see zap.h. */
#include "zap.h"
#include "log.h"
#include "registry.h"
#include "rolekeys.h"

#include <jansson.h>

//  Refusal log lines per ZAP_LOG_INTERVAL_MS; past them a refusal is only
//  counted, and one line says how many were not logged. A client can make
//  a refused handshake a few thousand times a second: without a budget each
//  would be a log line (issue 16), drowning the log and its consumers.
#define ZAP_LOG_BUDGET 10
#define ZAP_LOG_INTERVAL_MS 1000

typedef struct {
    uint64_t allowed;             // CURVE clients let in
    uint64_t refused_mechanism;   // NULL or PLAIN clients
    uint64_t refused_domain;      // a ZAP domain that is not ours
    uint64_t refused_unknown;     // keys the registry does not know
    uint64_t refused_revoked;     // revoked keys
    uint64_t refused_unavailable; // the registry could not answer
    uint64_t malformed;           // requests that break RFC 27
    uint64_t logs_suppressed;     // refusals counted but not logged (over budget)
    uint64_t broker_allowed;      // role keys let in to the broker
    uint64_t broker_refused;      // keys the broker's list does not hold
} zap_counters_t;

//  The refusal log budget of the current interval.
typedef struct {
    int64_t interval_start;       // when the interval began (zclock_mono)
    int lines;                    // refusal lines logged in it
    uint64_t suppressed;          // refusals not logged in it
} zap_budget_t;

//  Once the interval is over, say how many refusals went unlogged and
//  start the next one.
static void
s_log_flush (zap_budget_t *budget)
{
    int64_t now = zclock_mono ();
    if (now - budget->interval_start < ZAP_LOG_INTERVAL_MS)
        return;
    if (budget->suppressed)
        log_warn ("clients refused but not logged (over the log budget)",
                  "suppressed", LOG_NUM (budget->suppressed),
                  "budget", LOG_NUM (ZAP_LOG_BUDGET), "interval_ms", LOG_NUM (ZAP_LOG_INTERVAL_MS));
    budget->interval_start = now;
    budget->lines = 0;
    budget->suppressed = 0;
}

//  Whether one more refusal line fits the budget; counts it if not.
static bool
s_log_allowed (zap_budget_t *budget, zap_counters_t *counters)
{
    s_log_flush (budget);
    if (budget->lines < ZAP_LOG_BUDGET) {
        budget->lines++;
        return true;
    }
    budget->suppressed++;
    counters->logs_suppressed++;
    return false;
}

//  What the handler answers from.
typedef struct {
    registry_t *registry;         // agent keys (NULL: registry unusable or no agents)
    rolekeys_t *role_keys;        // broker role keys (NULL: no broker here)
    int64_t role_keys_read;       // monotonic ms when role_keys was last read
} zap_sources_t;

//  The role keys are read again at most once a second, so a removed key
//  is refused at the next handshake without a restart.
#define ZAP_ROLE_KEYS_RELOAD_MS 1000

//  The RFC 27 reply: version, request id, status, text, user id, metadata.
static void
s_reply (zsock_t *handler, const char *request_id, const char *status, const char *text,
         const char *user_id)
{
    zstr_sendx (handler, "1.0", request_id, status, text, user_id ? user_id : "", "", NULL);
}

//  A CURVE client of the broker: let in when its key is on the list.
static void
s_handle_broker (zsock_t *handler, zap_sources_t *sources, const char *request_id,
                 const char *key, const char *address, zap_counters_t *counters,
                 zap_budget_t *budget)
{
    if (zclock_mono () - sources->role_keys_read >= ZAP_ROLE_KEYS_RELOAD_MS) {
        rolekeys_reload (sources->role_keys);
        sources->role_keys_read = zclock_mono ();
    }
    if (rolekeys_roles (sources->role_keys, key)) {
        counters->broker_allowed++;
        s_reply (handler, request_id, "200", "OK", key);
    }
    else {
        counters->broker_refused++;
        if (s_log_allowed (budget, counters))
            log_warn ("broker client refused: key not in the broker's role keys",
                      "key", key, "address", address);
        s_reply (handler, request_id, "400", "key not allowed on the broker", NULL);
    }
}

static void
s_handle (zsock_t *handler, zap_sources_t *sources, const zap_config_t *config,
          zap_counters_t *counters, zap_budget_t *budget)
{
    registry_t *registry = sources->registry;
    zmsg_t *request = zmsg_recv (handler);
    if (!request)
        return;
    //  version, request id, domain, address, routing id, mechanism, credentials...
    char *version = zmsg_popstr (request);
    char *request_id = zmsg_popstr (request);
    char *domain = zmsg_popstr (request);
    char *address = zmsg_popstr (request);
    zframe_t *routing_id = zmsg_pop (request);
    char *mechanism = zmsg_popstr (request);
    zframe_t *credential = zmsg_pop (request);
    bool broker = sources->role_keys && domain && streq (domain, ZAP_BROKER_DOMAIN);
    bool agents = config->domain && domain && streq (domain, config->domain);
    if (!version || !streq (version, "1.0") || !request_id || !mechanism) {
        counters->malformed++;
        s_reply (handler, request_id ? request_id : "", "400", "malformed ZAP request", NULL);
    }
    else
    if (!streq (mechanism, "CURVE")) {
        counters->refused_mechanism++;
        if (s_log_allowed (budget, counters))
            log_warn (broker ? "broker client refused: only CURVE is accepted"
                             : "agent refused: only CURVE is accepted",
                      "mechanism", mechanism, "address", address);
        s_reply (handler, request_id, "400", "only CURVE clients are accepted", NULL);
    }
    else
    if (!broker && !agents) {
        counters->refused_domain++;
        s_reply (handler, request_id, "400", "unknown ZAP domain", NULL);
    }
    else
    if (!credential || zframe_size (credential) != 32) {
        counters->malformed++;
        s_reply (handler, request_id, "400", "CURVE credential is not a 32-byte key", NULL);
    }
    else
    if (broker) {
        char key [41];
        zmq_z85_encode (key, zframe_data (credential), 32);
        s_handle_broker (handler, sources, request_id, key, address, counters, budget);
    }
    else {
        char key [41];
        zmq_z85_encode (key, zframe_data (credential), 32);
        registry_entry_t entry;
        int found = registry ? registry_lookup (registry, key, &entry) : -1;
        if (found < 0) {
            counters->refused_unavailable++;
            if (s_log_allowed (budget, counters))
                log_warn ("agent refused: key registry unavailable (the agent retries)",
                          "agent_key", key, "address", address);
            s_reply (handler, request_id, "300", "key registry unavailable", NULL);
        }
        else
        if (found == 0) {
            counters->refused_unknown++;
            if (s_log_allowed (budget, counters))
                log_warn ("agent refused: unknown key", "agent_key", key, "address", address);
            s_reply (handler, request_id, "400", "unknown key", NULL);
        }
        else
        if (entry.revoked) {
            counters->refused_revoked++;
            if (s_log_allowed (budget, counters))
                log_warn ("agent refused: key revoked", "agent_key", key,
                          "tenant", entry.tenant, "agent", entry.agent, "address", address);
            s_reply (handler, request_id, "400", "key revoked", NULL);
        }
        else {
            counters->allowed++;
            //  User-Id is the key itself: ingest looks the key up again per
            //  message, so a revocation also ends open connections.
            s_reply (handler, request_id, "200", "OK", key);
        }
    }
    zstr_free (&version);
    zstr_free (&request_id);
    zstr_free (&domain);
    zstr_free (&address);
    zstr_free (&mechanism);
    zframe_destroy (&routing_id);
    zframe_destroy (&credential);
    zmsg_destroy (&request);
}

static void
s_send_stats (zsock_t *pipe, const zap_counters_t *counters)
{
    json_t *stats = json_pack ("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
        "allowed", (json_int_t) counters->allowed,
        "refused_mechanism", (json_int_t) counters->refused_mechanism,
        "refused_domain", (json_int_t) counters->refused_domain,
        "refused_unknown", (json_int_t) counters->refused_unknown,
        "refused_revoked", (json_int_t) counters->refused_revoked,
        "refused_unavailable", (json_int_t) counters->refused_unavailable,
        "malformed", (json_int_t) counters->malformed,
        "logs_suppressed", (json_int_t) counters->logs_suppressed,
        "broker_allowed", (json_int_t) counters->broker_allowed,
        "broker_refused", (json_int_t) counters->broker_refused);
    char *text = json_dumps (stats, JSON_COMPACT);
    json_decref (stats);
    zstr_send (pipe, text);
    free (text);
}

void
zap_actor (zsock_t *pipe, void *args)
{
    const zap_config_t *config = (const zap_config_t *) args;
    zsock_t *handler = zsock_new_rep ("inproc://zeromq.zap.01");
    if (!handler) {
        //  Another handler holds the endpoint: it answers, and CURVE
        //  servers of domains it does not know refuse everyone.
        log_error ("ZAP handler not started: the process already has one");
        zsock_signal (pipe, 0);
        char *command = zstr_recv (pipe);
        zstr_free (&command);
        return;
    }
    zap_sources_t sources = { NULL, NULL, 0 };
    if (config->domain) {
        //  Without a registry every key is answered "unavailable": closed.
        sources.registry = registry_new (config->database, config->redis, config->cache_ms);
        if (!sources.registry)
            log_error ("ZAP handler has no key registry: every agent will be refused");
    }
    if (config->role_keys) {
        sources.role_keys = rolekeys_new (config->role_keys);
        sources.role_keys_read = zclock_mono ();
        log_info ("broker role keys loaded", "dir", config->role_keys,
                  "keys", LOG_NUM (rolekeys_size (sources.role_keys)));
    }
    zsock_signal (pipe, 0);
    zap_counters_t counters = { 0 };
    zap_budget_t budget = { .interval_start = zclock_mono () };
    zpoller_t *poller = zpoller_new (pipe, handler, NULL);
    zpoller_set_nonstop (poller, true);
    while (true) {
        //  Woken at least once an interval, so the "not logged" line comes
        //  even when the refusals have stopped.
        void *which = zpoller_wait (poller, budget.suppressed ? ZAP_LOG_INTERVAL_MS : -1);
        s_log_flush (&budget);
        if (which == handler)
            s_handle (handler, &sources, config, &counters, &budget);
        else
        if (which == pipe) {
            char *command = zstr_recv (pipe);
            bool stop = !command || streq (command, "$TERM");
            if (command && streq (command, "STATS"))
                s_send_stats (pipe, &counters);
            zstr_free (&command);
            if (stop)
                break;
        }
        else
        if (!zpoller_expired (poller))
            break;
    }
    zpoller_destroy (&poller);
    registry_destroy (&sources.registry);
    rolekeys_destroy (&sources.role_keys);
    zsock_destroy (&handler);
}

//  A DRAFT option in libzmq 4.3.4's header that Debian's library honours;
//  set directly (CZMQ's setter is a silent no-op when CZMQ was built
//  without it) and read back, so a library without it is found at start.
#ifndef ZMQ_ZAP_ENFORCE_DOMAIN
#   define ZMQ_ZAP_ENFORCE_DOMAIN 93
#endif

int
zap_secure_server (zsock_t *sock, zcert_t *server_cert, const char *domain)
{
    zsock_set_zap_domain (sock, domain);
    int enforce = 1;
    size_t size = sizeof enforce;
    if (zmq_setsockopt (zsock_resolve (sock), ZMQ_ZAP_ENFORCE_DOMAIN, &enforce, sizeof enforce)
    ||  (enforce = 0, zmq_getsockopt (zsock_resolve (sock), ZMQ_ZAP_ENFORCE_DOMAIN, &enforce, &size))
    ||  enforce != 1) {
        log_error ("libzmq does not enforce ZAP domains: refusing to serve agents "
                   "(without it a missing ZAP handler would let any key in)");
        return -1;
    }
    zcert_apply (server_cert, sock);
    zsock_set_curve_server (sock, 1);
    return 0;
}
