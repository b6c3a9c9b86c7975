/*  testutil: what the tests share: an in-process broker on a free loopback
    port, raw protocol peers that the test drives frame by frame, envelopes,
    stats look-ups, waiting for a condition, and child processes of `drift`.
*/
#ifndef TESTUTIL_H_INCLUDED
#define TESTUTIL_H_INCLUDED

#include "../broker/broker.h"
#include "../lib/drp.h"
#include "../lib/worker.h"

#include <czmq.h>
#include <stdarg.h>
#include <stdbool.h>
#include <sys/types.h>

//  The test process's broker keys, made on first use under
//  DRIFT_TEST_VAR_DIR: DIR/broker.key (+ _secret), the test's role key
//  DIR/roles/test.key (+ _secret, every role the tests run) and the
//  broker's list DIR/broker-roles. Also makes this process's broker links
//  CURVE clients and sets DRIFT_CURVE_CERT, DRIFT_CURVE_ROLES,
//  DRIFT_BROKER_CERT and DRIFT_BROKER_KEY, which every `drift` started by
//  tu_spawn inherits: brokers and roles speak CURVE in every test.
const char *tu_curve_dir (void);

//  One counter of the process's ZAP handler (lib/zap's STATS), which
//  tu_broker_start starts for the in-process brokers.
long tu_zap_stat (const char *field);

//  Broker settings for tests: fast heartbeats so expiry takes 300 ms, and
//  CURVE with the keys of tu_curve_dir.
broker_config_t tu_broker_config (const char *pipeline);

//  Start a broker actor bound to a free port; *endpoint is "tcp://127.0.0.1:PORT".
zactor_t *tu_broker_start (broker_config_t *config, char *endpoint);

//  One number from the broker's stats: a stage field, or a top-level field
//  (stage NULL), or an error counter (stage "errors").
long tu_stat (zactor_t *broker, const char *stage, const char *field);

//  Wait up to timeout_ms for tu_stat (...) == expected; returns the last value.
long tu_wait_stat (zactor_t *broker, const char *stage, const char *field, long expected,
                   int timeout_ms);

//  A raw peer: a DEALER the test drives itself.
zsock_t *tu_raw_connect (const char *endpoint);
void tu_raw_send (zsock_t *raw, drp_header_t *header, const void *body, size_t size);
//  Receive the next message that is not a HEARTBEAT; -1 on timeout.
int tu_raw_recv (zsock_t *raw, drp_header_t *header, zchunk_t **body, int timeout_ms);
//  Register as a worker of stage with credit.
void tu_raw_ready (zsock_t *raw, const char *stage, uint32_t credit);

//  Make tu_envelope's envelopes come from tenant's agent_key (a tenant and
//  agent in the database: what the archive stage needs to record them).
void tu_envelope_owner (const char *tenant, const char *agent_key);
//  A packed Envelope of stack "payments" with report_id and a raw body of
//  body_size bytes.
uint8_t *tu_envelope (const char *report_id, size_t body_size, size_t *size);

//  Start `drift ARGS...` (NULL-terminated) with stdout and stderr appended to
//  log_path (NULL: /dev/null). The child dies with the test process, however
//  that ends (tu_die_with_parent).
pid_t tu_spawn (const char *log_path, ...);
//  The same for any executable: argv [0] (a path) run with argv, its
//  output appended to log_path (NULL: discarded).
pid_t tu_spawn_argv (const char *log_path, char *const *argv);

//  Run `drift [FIRST] ARGS...` to completion: first (NULL: none), then
//  args, a NULL-terminated list; at most 30 in all. stdin comes from
//  stdin_path (NULL: /dev/null); stderr goes with stdout when with_stderr,
//  else to the test's stderr. Returns stdout (caller frees), the exit code
//  in *code (-1 if killed).
char *tu_drift_output (int *code, const char *stdin_path, bool with_stderr, const char *first,
                       va_list args);

//  Called in a child right after fork (before exec): the kernel sends it
//  SIGKILL when the process that forked it (parent, the caller's getpid ()
//  before the fork) ends, so a test that fails, crashes or is killed by a
//  timeout leaves none of its servers behind. Exits at once if the parent
//  is already gone.
void tu_die_with_parent (pid_t parent);
//  Signal and reap a child started by tu_spawn.
void tu_stop (pid_t pid, int signal_number);

//  A free TCP port on 127.0.0.1, below the ephemeral range.
int tu_free_port (void);

//  One number from the stats of a broker in another process (see tu_stat);
//  -1 if it does not answer within a second.
long tu_remote_stat (const char *endpoint, const char *stage, const char *field);

//  A new, empty database on the test server (DRIFT_TEST_PGMQ_URL if set,
//  a server with the real pgmq extension; else DRIFT_TEST_PG_URL); returns
//  its URL, owned by the caller. tu_drop_database removes it.
char *tu_fresh_database (void);
void tu_drop_database (char *url);

//  The first column of the first row of sql on the database at url as a
//  number (-1 if the query fails), and the same polled until it equals
//  expected or timeout_ms passes (returns the last value).
long tu_query_long (const char *url, const char *sql);
long tu_wait_query (const char *url, const char *sql, long expected, int timeout_ms);

//  A file's whole content, NUL-terminated (caller frees; *size if not
//  NULL), NULL if unreadable.
char *tu_read_file (const char *path, size_t *size);

//  A fresh private scratch directory, drift-test-NAME-XXXXXX under
//  DRIFT_TEST_VAR_DIR (else /tmp), into dir (size bytes); and removing one
//  with everything in it.
void tu_scratch_dir (const char *name, char *dir, size_t size);
void tu_remove_tree (const char *dir);

//  The path of a Terraform capture, tests/fixtures/terraform/NAME in the
//  checkout (DRIFT_SOURCE_DIR); caller frees. tu_read_fixture reads it
//  whole (asserting it is there).
char *tu_fixture_path (const char *name);
char *tu_read_fixture (const char *name, size_t *size);
//  The same, parsed as JSON (asserting it parses); caller frees with json_decref.
struct json_t *tu_read_fixture_json (const char *name);
//  The JSON plan in an auto_explain notice's message (log_format = json,
//  log_level = notice), or NULL; caller frees with json_decref.
struct json_t *tu_notice_plan (const char *message);
//  Rows of relation that a plan node (auto_explain with log_analyze) and the
//  nodes under it read, returned or removed by a filter, times each node's
//  loops, plus the row pairs every join filter threw away: how much of a
//  table a statement walked, whatever plan it got.
double tu_plan_rows (struct json_t *node, const char *relation);

//  What a spawned `drift archive` needs: a sealing key (mode 0600) and a
//  store root, made once under DRIFT_TEST_VAR_DIR and set as DRIFT_SEAL_KEY
//  and DRIFT_STORE_ROOT in this process's environment, which tu_spawn's
//  children inherit. Returns the store root.
const char *tu_archive_env (void);

//  A tenant named name with one agent holding a made-up CURVE public key,
//  written as the owner into the (migrated) database at url: the tenant's
//  id in tenant_id [37] and the key in agent_key [41].
void tu_tenant_agent (const char *url, const char *name, char *tenant_id, char *agent_key);

//  url as a LOGIN role in drift_app (made once per test process), as the
//  services connect in production: row-level security applies to it.
//  Caller frees.
char *tu_app_url (const char *url);

#endif
