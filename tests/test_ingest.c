/*  Ingest on a live agent link: a real `drift ingest` with its ZAP handler,
    the key registry in PostgreSQL and Redis, and raw CURVE clients. Who may
    connect, where the tenant comes from, what bad input gets, that a report
    is acked once it is in the journal and never journaled twice.
*/
#include "linkutil.h"
#include "../lib/agent_link.h"
#include "../lib/clock.h"
#include "../lib/registry.h"
#include "../lib/zap.h"

#include <criterion/criterion.h>
#include <signal.h>
#include <sodium.h>

static lu_env_t s_env;

static void
s_setup (void)
{
    lu_setup (&s_env);
}

static void
s_teardown (void)
{
    lu_teardown (&s_env);
}

TestSuite (ingest, .init = s_setup, .fini = s_teardown, .timeout = 120);

static long
s_journal_rows (const char *where)
{
    char sql [512];
    snprintf (sql, sizeof sql, "SELECT count(*) FROM pgmq.q_drift_journal%s%s",
              where ? " WHERE " : "", where ? where : "");
    return tu_query_long (s_env.database, sql);
}

Test (ingest, acks_a_report_once_it_is_journaled_and_never_journals_it_twice)
{
    char *certificate = lu_issue (&s_env, "acme", "ci-runner");
    lu_ingest_start (&s_env, NULL);
    zsock_t *client = lu_client (&s_env, certificate);

    Drift__AgentMessage *welcome = lu_hello (client, 5000);
    cr_assert (welcome && welcome->kind_case == DRIFT__AGENT_MESSAGE__KIND_WELCOME);
    cr_assert_str_eq (welcome->welcome->tenant, "acme");
    cr_assert_str_eq (welcome->welcome->agent, "ci-runner");
    cr_assert_gt (welcome->welcome->max_report_bytes, 0);
    agent_link_free (welcome);

    bool duplicate = true;
    cr_assert (lu_send_until_acked (client, "r-1", "payments", 5000, &duplicate));
    cr_assert_not (duplicate);
    //  The ACK came after the commit: the row is there already.
    char *tenant = lu_tenant_id (&s_env, "acme");
    char where [256];
    snprintf (where, sizeof where, "message->>'report_id' = 'r-1' AND message->>'tenant' = '%s'"
              " AND message->>'stack' = 'payments'", tenant);
    cr_assert_eq (s_journal_rows (where), 1);
    //  No broker runs here, so no credit: the report is left to the
    //  replayer, and visible to it at once rather than after its deadline.
    char visible [320];
    snprintf (visible, sizeof visible, "%s AND vt <= clock_timestamp ()", where);
    cr_assert_eq (s_journal_rows (visible), 1, "a deferred entry is visible to the replayer");
    cr_assert_eq (lu_stat (&s_env, "deferred"), 1);
    cr_assert_eq (lu_stat (&s_env, "released"), 1);

    //  The agent lost the ACK and resends: acked again, not journaled again.
    cr_assert (lu_send_until_acked (client, "r-1", "payments", 5000, &duplicate));
    cr_assert (duplicate, "a resent report is acked as a duplicate");
    cr_assert_eq (s_journal_rows (NULL), 1);
    cr_assert_eq (lu_stat (&s_env, "duplicates"), 1);
    cr_assert_eq (lu_stat (&s_env, "accepted"), 1);

    //  What an operator sees.
    char *command = zsys_sprintf ("%s status --broker '' --ingest %s", getenv ("DRIFT_BIN"),
                                  s_env.stats);
    FILE *status = popen (command, "r");
    char output [4096] = "";
    size_t got = fread (output, 1, sizeof output - 1, status);
    output [got] = 0;
    cr_assert_eq (pclose (status), 0, "drift status: %s", output);
    cr_assert (strstr (output, "journal up; ") && strstr (output, "1 reports accepted, 1 duplicates"),
               "%s", output);
    zstr_free (&command);

    //  PING is answered with its nonce.
    Drift__Ping ping = DRIFT__PING__INIT;
    ping.nonce = 42;
    Drift__AgentMessage message = DRIFT__AGENT_MESSAGE__INIT;
    message.kind_case = DRIFT__AGENT_MESSAGE__KIND_PING;
    message.ping = &ping;
    lu_send (client, &message);
    Drift__AgentMessage *pong = lu_recv (client, 5000);
    cr_assert (pong && pong->kind_case == DRIFT__AGENT_MESSAGE__KIND_PONG);
    cr_assert_eq (pong->pong->nonce, 42);
    agent_link_free (pong);

    zsock_destroy (&client);
    free (tenant);
    free (certificate);
}

Test (ingest, takes_the_tenant_from_the_key_never_from_the_payload)
{
    cr_assert_eq (lu_drift (&s_env, "tenant", "create", "globex", "--database",
                            s_env.database, NULL), 0);
    char *certificate = lu_issue (&s_env, "acme", "acme-agent");
    char *acme = lu_tenant_id (&s_env, "acme");
    char *globex = lu_tenant_id (&s_env, "globex");
    lu_ingest_start (&s_env, NULL);
    zsock_t *client = lu_client (&s_env, certificate);
    agent_link_free (lu_hello (client, 5000));

    //  A plan that names the other tenant everywhere it can.
    char payload [512];
    snprintf (payload, sizeof payload,
              "{\"format_version\":\"1.2\",\"tenant\":\"%s\",\"tenant_id\":\"%s\"}", globex, globex);
    Drift__AgentMessage *report = lu_report ("claim-1", "payments", payload);
    lu_send (client, report);
    Drift__AgentMessage *ack = lu_recv (client, 5000);
    cr_assert (ack && ack->kind_case == DRIFT__AGENT_MESSAGE__KIND_ACK);
    agent_link_free (ack);
    char where [256];
    snprintf (where, sizeof where, "message->>'tenant' = '%s'", acme);
    cr_assert_eq (s_journal_rows (where), 1, "journaled under the key's tenant");
    snprintf (where, sizeof where, "message->>'tenant' = '%s'", globex);
    cr_assert_eq (s_journal_rows (where), 0, "never under the tenant the payload names");

    //  A tenant smuggled in as a field the protocol does not have is refused.
    size_t size;
    uint8_t *bytes = agent_link_encode (report, &size);
    uint8_t *smuggled = (uint8_t *) malloc (size + 64);
    memcpy (smuggled, bytes, size);
    size_t extra = (size_t) sprintf ((char *) smuggled + size + 2, "%s", globex);
    smuggled [size] = (15 << 3) | 2;
    smuggled [size + 1] = (uint8_t) extra;
    zmq_send (zsock_resolve (client), smuggled, size + 2 + extra, 0);
    Drift__AgentMessage *nack = lu_recv (client, 5000);
    cr_assert (nack && nack->kind_case == DRIFT__AGENT_MESSAGE__KIND_NACK);
    cr_assert_eq (nack->nack->code, DRIFT__NACK_CODE__NACK_BAD_MESSAGE);
    agent_link_free (nack);
    cr_assert_eq (lu_stat (&s_env, "bad.undecodable"), 1);
    cr_assert_eq (s_journal_rows (NULL), 1);

    free (bytes);
    free (smuggled);
    lu_report_free (report);
    zsock_destroy (&client);
    free (acme);
    free (globex);
    free (certificate);
}

//  Whether a client gets a WELCOME within timeout_ms.
static bool
s_welcomed (zsock_t *client, int timeout_ms)
{
    Drift__AgentMessage *answer = lu_hello (client, timeout_ms);
    bool welcomed = answer && answer->kind_case == DRIFT__AGENT_MESSAGE__KIND_WELCOME;
    agent_link_free (answer);
    return welcomed;
}

Test (ingest, refuses_unknown_revoked_null_and_plain_clients)
{
    char *good = lu_issue (&s_env, "acme", "good");
    char *doomed = lu_issue (&s_env, "acme", "doomed");
    lu_ingest_start (&s_env, NULL);

    zsock_t *unknown = lu_client (&s_env, NULL);
    cr_assert_not (s_welcomed (unknown, 1500), "an unknown key gets nothing");
    cr_assert_geq (lu_wait_stat (&s_env, "zap.refused_unknown", 1, 5000), 1);
    zsock_destroy (&unknown);

    long failed_before = lu_stat (&s_env, "handshakes_failed");
    zsock_t *null_client = zsock_new (ZMQ_DEALER);
    zsock_connect (null_client, "%s", s_env.endpoint);
    cr_assert_not (s_welcomed (null_client, 1500), "a NULL-mechanism client gets nothing");
    zsock_destroy (&null_client);

    zsock_t *plain = zsock_new (ZMQ_DEALER);
    zsock_set_plain_username (plain, "acme");
    zsock_set_plain_password (plain, "anything");
    zsock_connect (plain, "%s", s_env.endpoint);
    cr_assert_not (s_welcomed (plain, 1500), "a PLAIN client gets nothing");
    zsock_destroy (&plain);

    //  A connected agent is cut off when its key is revoked...
    zsock_t *connected = lu_client (&s_env, doomed);
    cr_assert (s_welcomed (connected, 5000));
    cr_assert_eq (lu_drift (&s_env, "keys", "revoke", "--tenant", "acme", "--name", "doomed",
                            "--database", s_env.database, "--redis",
                            getenv ("DRIFT_TEST_REDIS_URL"), NULL), 0);
    bool refused = false;
    int64_t deadline = clock_mono_ms () + 10000;
    while (!refused && clock_mono_ms () < deadline) {
        Drift__AgentMessage *report = lu_report ("after-revoke", "payments", "{}");
        lu_send (connected, report);
        lu_report_free (report);
        Drift__AgentMessage *answer = lu_recv (connected, 1000);
        refused = answer && answer->kind_case == DRIFT__AGENT_MESSAGE__KIND_NACK
               && answer->nack->code == DRIFT__NACK_CODE__NACK_REVOKED;
        agent_link_free (answer);
        if (!refused)
            zclock_sleep (200);
    }
    cr_assert (refused, "messages on an open connection are refused once the key is revoked");
    zsock_destroy (&connected);
    char where [] = "message->>'report_id' = 'after-revoke'";
    long journaled = s_journal_rows (where);
    cr_assert (journaled <= 1, "at most the one sent before the revocation was seen");

    //  ...and cannot connect again.
    zsock_t *again = lu_client (&s_env, doomed);
    cr_assert_not (s_welcomed (again, 1500), "a revoked key cannot handshake");
    cr_assert_geq (lu_wait_stat (&s_env, "zap.refused_revoked", 1, 5000), 1);
    zsock_destroy (&again);

    //  A NULL or PLAIN client does not even reach ZAP: the CURVE server
    //  refuses the mechanism in the greeting.
    cr_assert_geq (lu_stat (&s_env, "handshakes_failed"), failed_before + 2,
                   "NULL and PLAIN handshakes both refused");
    cr_assert_geq (lu_stat (&s_env, "nacks.revoked"), 1);

    //  The good agent was never affected.
    zsock_t *client = lu_client (&s_env, good);
    cr_assert (s_welcomed (client, 5000));
    zsock_destroy (&client);
    free (good);
    free (doomed);
}


//  libzmq 4.3.4 lets any CURVE key in when no ZAP handler runs, unless the
//  domain is enforced: zap_secure_server must make that fail closed.
Test (ingest, a_curve_server_without_its_zap_handler_refuses_everyone)
{
    char *certificate = lu_issue (&s_env, "acme", "registered");
    char path [400];
    snprintf (path, sizeof path, "%s/server.key_secret", s_env.keys_dir);
    zcert_t *server_cert = zcert_load (path);
    cr_assert (server_cert);
    zsock_t *server = zsock_new (ZMQ_ROUTER);
    cr_assert_eq (zap_secure_server (server, server_cert, ZAP_AGENT_DOMAIN), 0);
    zsock_set_rcvtimeo (server, 1500);
    int port = zsock_bind (server, "tcp://127.0.0.1:*");
    cr_assert_gt (port, 0);
    snprintf (s_env.endpoint, sizeof s_env.endpoint, "tcp://127.0.0.1:%d", port);

    zsock_t *client = lu_client (&s_env, certificate);
    zstr_send (client, "hello");
    zmsg_t *got = zmsg_recv (server);
    cr_assert_null (got, "no ZAP handler: the registered key is refused too");
    zsock_destroy (&client);

    //  The same socket with the handler running lets the registered key in.
    zap_config_t config = {
        .database = s_env.database, .redis = getenv ("DRIFT_TEST_REDIS_URL"),
        .domain = ZAP_AGENT_DOMAIN, .cache_ms = 0
    };
    zactor_t *zap = zactor_new (zap_actor, &config);
    client = lu_client (&s_env, certificate);
    zstr_send (client, "hello");
    got = zmsg_recv (server);
    cr_assert_not_null (got, "with the handler the registered key gets in");
    zframe_t *body = zmsg_last (got);
    cr_assert_eq (zframe_size (body), 5);
    zmsg_destroy (&got);

    zsock_destroy (&client);
    zactor_destroy (&zap);
    zsock_destroy (&server);
    zcert_destroy (&server_cert);
    free (certificate);
}

//  A well-behaved agent, in its own thread: sends count reports one after
//  another, each until acked.
typedef struct {
    lu_env_t *env;               // where ingest is
    const char *certificate;     // the good agent's key
    int count;                   // reports to send
    int acked;                   // reports acked
} good_agent_t;

static void
s_good_agent (zsock_t *pipe, void *args)
{
    good_agent_t *agent = (good_agent_t *) args;
    zsock_signal (pipe, 0);
    zsock_t *client = lu_client (agent->env, agent->certificate);
    agent_link_free (lu_hello (client, 5000));
    for (int i = 0; i < agent->count; i++) {
        char id [32];
        snprintf (id, sizeof id, "good-%d", i);
        agent->acked += lu_send_until_acked (client, id, "payments", 20000, NULL);
        zclock_sleep (5);
    }
    zsock_destroy (&client);
    zsock_signal (pipe, 0);
    char *command = zstr_recv (pipe);
    zstr_free (&command);
}

//  Send a message and expect a NACK with code back (first answer).
static void
s_expect_nack (zsock_t *client, const void *data, size_t size, int flags_more_frames,
               Drift__NackCode code)
{
    if (flags_more_frames) {
        for (int i = 0; i < flags_more_frames; i++)
            zmq_send (zsock_resolve (client), data, size, ZMQ_SNDMORE);
    }
    zmq_send (zsock_resolve (client), data, size, 0);
    Drift__AgentMessage *answer = lu_recv (client, 5000);
    cr_assert (answer, "an answer to bad input");
    cr_assert_eq (answer->kind_case, DRIFT__AGENT_MESSAGE__KIND_NACK);
    cr_assert_eq (answer->nack->code, code, "NACK %d, got %d: %s", code, answer->nack->code,
                  answer->nack->message);
    cr_assert (*answer->nack->message, "a NACK says why");
    agent_link_free (answer);
}

Test (ingest, bad_input_is_refused_and_counted_while_a_good_agent_keeps_being_served,
      .timeout = 180)
{
    char *good = lu_issue (&s_env, "acme", "good");
    char *bad = lu_issue (&s_env, "acme", "bad");
    char *flood = lu_issue (&s_env, "acme", "flood");
    lu_ingest_start (&s_env, "--max-report-bytes", "1048576", "--rate", "200", "--burst", "400",
                     NULL);
    good_agent_t agent = { .env = &s_env, .certificate = good, .count = 300 };
    zactor_t *good_thread = zactor_new (s_good_agent, &agent);

    zsock_t *client = lu_client (&s_env, bad);
    agent_link_free (lu_hello (client, 5000));

    uint8_t random [512];
    randombytes_buf (random, sizeof random);
    s_expect_nack (client, random, sizeof random, 0, DRIFT__NACK_CODE__NACK_BAD_MESSAGE);
    s_expect_nack (client, "", 0, 0, DRIFT__NACK_CODE__NACK_BAD_MESSAGE);
    s_expect_nack (client, "abc", 3, 5, DRIFT__NACK_CODE__NACK_BAD_MESSAGE);

    Drift__AgentMessage *report = lu_report ("bad-1", "payments", "{\"format_version\":\"1.2\"}");
    size_t size;
    uint8_t *bytes = agent_link_encode (report, &size);
    s_expect_nack (client, bytes, size / 2, 0, DRIFT__NACK_CODE__NACK_BAD_MESSAGE);

    //  A message only ingest sends.
    Drift__Ack ack = DRIFT__ACK__INIT;
    ack.report_id = (char *) "x";
    Drift__AgentMessage wrong = DRIFT__AGENT_MESSAGE__INIT;
    wrong.kind_case = DRIFT__AGENT_MESSAGE__KIND_ACK;
    wrong.ack = &ack;
    uint8_t *wrong_bytes = agent_link_encode (&wrong, &size);
    s_expect_nack (client, wrong_bytes, size, 0, DRIFT__NACK_CODE__NACK_BAD_MESSAGE);
    free (wrong_bytes);

    //  Declared larger than the limit; and an unknown format.
    report->report->uncompressed_size = 2 * 1024 * 1024;
    free (bytes);
    bytes = agent_link_encode (report, &size);
    s_expect_nack (client, bytes, size, 0, DRIFT__NACK_CODE__NACK_TOO_LARGE);
    report->report->uncompressed_size = report->report->payload.len;
    report->report->format = (Drift__ReportFormat) 9;
    free (bytes);
    bytes = agent_link_encode (report, &size);
    s_expect_nack (client, bytes, size, 0, DRIFT__NACK_CODE__NACK_UNSUPPORTED_FORMAT);
    free (bytes);

    //  A frame over the size limit: libzmq drops the connection.
    long disconnected = lu_stat (&s_env, "peers_disconnected");
    size_t huge_size = 2 * 1024 * 1024;
    uint8_t *huge = (uint8_t *) calloc (1, huge_size);
    zmq_send (zsock_resolve (client), huge, huge_size, 0);
    free (huge);
    cr_assert_gt (lu_wait_stat (&s_env, "peers_disconnected", disconnected + 1, 10000),
                  disconnected, "an oversize frame costs the sender its connection");
    zsock_destroy (&client);

    //  10 000 messages in about a second from one agent.
    zsock_t *flooder = lu_client (&s_env, flood);
    zsock_set_sndhwm (flooder, 0);
    agent_link_free (lu_hello (flooder, 5000));
    int64_t start = clock_mono_ms ();
    for (int i = 0; i < 10000; i++) {
        char id [32];
        snprintf (id, sizeof id, "flood-%d", i);
        Drift__AgentMessage *message = lu_report (id, "payments", "{\"format_version\":\"1.2\"}");
        lu_send (flooder, message);
        lu_report_free (message);
        if (i % 1000 == 999) {
            int64_t ahead = start + (i + 1) / 10 - clock_mono_ms ();
            if (ahead > 0)
                zclock_sleep ((int) ahead);
        }
    }
    long limited = lu_wait_stat (&s_env, "nacks.rate_limited", 9000, 30000);
    cr_assert_gt (limited, 0, "a flooding agent is rate limited");
    zsock_destroy (&flooder);

    zsock_wait (good_thread);
    cr_assert_eq (agent.acked, agent.count, "every report of the good agent was acked");
    cr_assert_eq (s_journal_rows ("message->>'report_id' LIKE 'good-%'"), agent.count);
    zactor_destroy (&good_thread);

    cr_assert_geq (lu_stat (&s_env, "bad.undecodable"), 2);
    cr_assert_eq (lu_stat (&s_env, "bad.empty_frames"), 1);
    cr_assert_eq (lu_stat (&s_env, "bad.extra_frames"), 1);
    cr_assert_eq (lu_stat (&s_env, "bad.wrong_type"), 1);
    cr_assert_eq (lu_stat (&s_env, "nacks.too_large"), 1);
    cr_assert_eq (lu_stat (&s_env, "nacks.unsupported_format"), 1);
    cr_assert_geq (lu_stat (&s_env, "nacks.bad_message"), 5);
    cr_log_info ("flood: %ld of 10000 rate limited, %ld flood reports journaled", limited,
                 s_journal_rows ("message->>'report_id' LIKE 'flood-%'"));
    lu_report_free (report);
    free (good);
    free (bad);
    free (flood);
}

Test (ingest, stops_acking_while_the_journal_is_down_and_resumes_by_itself, .timeout = 180)
{
    const char *restart = getenv ("DRIFT_TEST_PG_RESTART");
    cr_assert (restart && *restart, "DRIFT_TEST_PG_RESTART is not set: run through scripts/test");
    char *certificate = lu_issue (&s_env, "acme", "steady");
    //  The registry answers from Redis and the process cache while
    //  PostgreSQL is away, so only the journal is down.
    lu_ingest_start (&s_env, "--rate", "10000", "--burst", "10000", NULL);
    zsock_t *client = lu_client (&s_env, certificate);
    agent_link_free (lu_hello (client, 5000));
    cr_assert (lu_send_until_acked (client, "before", "payments", 5000, NULL));

    cr_assert_eq (system (restart), 0);
    //  Reports sent around the restart: each is acked only once journaled,
    //  after UNAVAILABLE answers while the database was away.
    int acked = 0;
    for (int i = 0; i < 50; i++) {
        char id [32];
        snprintf (id, sizeof id, "around-%d", i);
        acked += lu_send_until_acked (client, id, "payments", 30000, NULL);
    }
    cr_assert_eq (acked, 50);
    cr_assert_eq (s_journal_rows ("message->>'report_id' LIKE 'around-%'"), 50,
                  "every acked report is in the journal, once");
    cr_log_info ("journal failures seen: %ld, UNAVAILABLE answers: %ld",
                 lu_stat (&s_env, "journal_failures"), lu_stat (&s_env, "nacks.unavailable"));
    zsock_destroy (&client);
    free (certificate);
}

Test (ingest, one_flooding_agent_does_not_use_up_another_agents_budget)
{
    char *noisy = lu_issue (&s_env, "acme", "noisy");
    char *quiet = lu_issue (&s_env, "acme", "quiet");
    lu_ingest_start (&s_env, "--rate", "5", "--burst", "10", NULL);
    zsock_t *noisy_client = lu_client (&s_env, noisy);
    agent_link_free (lu_hello (noisy_client, 5000));
    for (int i = 0; i < 100; i++) {
        char id [32];
        snprintf (id, sizeof id, "noisy-%d", i);
        Drift__AgentMessage *message = lu_report (id, "payments", "{\"format_version\":\"1.2\"}");
        lu_send (noisy_client, message);
        lu_report_free (message);
    }
    int limited = 0;
    uint32_t retry_after = 0;
    Drift__AgentMessage *answer;
    while ((answer = lu_recv (noisy_client, 1000))) {
        if (answer->kind_case == DRIFT__AGENT_MESSAGE__KIND_NACK
        &&  answer->nack->code == DRIFT__NACK_CODE__NACK_RATE_LIMITED) {
            limited++;
            retry_after = answer->nack->retry_after_ms;
            cr_assert (strncmp (answer->nack->report_id, "noisy-", 6) == 0,
                       "the refusal names the report");
        }
        agent_link_free (answer);
    }
    cr_assert_geq (limited, 80, "beyond its burst the noisy agent is refused");
    cr_assert_gt (retry_after, 0, "with a time to retry");

    zsock_t *quiet_client = lu_client (&s_env, quiet);
    cr_assert (s_welcomed (quiet_client, 5000));
    bool duplicate;
    cr_assert (lu_send_until_acked (quiet_client, "quiet-1", "network", 5000, &duplicate));
    cr_assert_eq (lu_stat (&s_env, "nacks.rate_limited"), limited,
                  "the quiet agent was never limited");
    zsock_destroy (&noisy_client);
    zsock_destroy (&quiet_client);
    free (noisy);
    free (quiet);
}

//  Reports sent together share one journal send, unless the group reaches
//  group-max-bytes first: then each report goes in its own.
Test (ingest, a_group_closes_at_its_byte_limit)
{
    char *certificate = lu_issue (&s_env, "acme", "bulky");
    lu_ingest_start (&s_env, "--group-ms", "500", "--group-max-bytes", "1", NULL);
    zsock_t *client = lu_client (&s_env, certificate);
    cr_assert (s_welcomed (client, 5000));
    for (int i = 0; i < 10; i++) {
        char id [16];
        snprintf (id, sizeof id, "bulky-%d", i);
        Drift__AgentMessage *report = lu_report (id, "payments", "{\"format_version\":\"1.2\"}");
        lu_send (client, report);
        lu_report_free (report);
    }
    //  Four groups in flight at most: the rest are told to retry (busy).
    int answered = 0, busy = 0;
    char retry [10][16];
    Drift__AgentMessage *answer;
    while (answered < 10 && (answer = lu_recv (client, 5000))) {
        answered++;
        if (answer->kind_case == DRIFT__AGENT_MESSAGE__KIND_NACK) {
            cr_assert_eq (answer->nack->code, DRIFT__NACK_CODE__NACK_UNAVAILABLE);
            snprintf (retry [busy++], sizeof retry [0], "%s", answer->nack->report_id);
        }
        agent_link_free (answer);
    }
    cr_assert_eq (answered, 10);
    for (int i = 0; i < busy; i++)
        cr_assert (lu_send_until_acked (client, retry [i], "payments", 5000, NULL));
    cr_assert_eq (lu_stat (&s_env, "accepted"), 10);
    cr_assert_eq (lu_stat (&s_env, "groups"), 10, "one journal send per report");
    zsock_destroy (&client);
    free (certificate);
}
