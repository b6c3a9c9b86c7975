/*  linkutil: a live agent link for tests — a fresh migrated database, the
    server keypair, tenants and agent keys made with the real `drift`
    commands, `drift ingest` as a process, and raw CURVE clients that speak
    AgentMessage frames.
*/
#ifndef LINKUTIL_H_INCLUDED
#define LINKUTIL_H_INCLUDED

#include "testutil.h"
#include "drift.pb-c.h"

#include <czmq.h>

typedef struct {
    char *database;              // fresh database URL
    char directory [256];        // scratch directory (keys, certificates, logs)
    char keys_dir [300];         // the server keypair
    char server_key [41];        // its public key
    char endpoint [64];          // ingest's agent endpoint
    char stats [64];             // ingest's stats endpoint
    char broker [64];            // broker endpoint ingest feeds
    pid_t ingest;                // the ingest process, 0 when stopped
} lu_env_t;

//  A database, keys and tenant "acme"; ingest is not started yet.
void lu_setup (lu_env_t *env);
void lu_teardown (lu_env_t *env);

//  Run `drift ARGS...` to completion; its exit code. Output appended to the
//  env's log.
int lu_drift (lu_env_t *env, ...);

//  Issue an agent key for tenant/name; the certificate path (static buffer
//  per call site is not kept: caller frees).
char *lu_issue (lu_env_t *env, const char *tenant, const char *name);

//  Start ingest with extra arguments (NULL-terminated), waiting until its
//  stats endpoint answers.
void lu_ingest_start (lu_env_t *env, ...);
void lu_ingest_stop (lu_env_t *env, int signal_number);
//  The broker and the normalize, score, archive and notify stages on env's
//  broker and database (as drift_app), logging to DIRECTORY/pipeline.log;
//  lu_pipeline_stop stops those started (pids zeroed).
void lu_pipeline_start (lu_env_t *env, pid_t pids [5]);
void lu_pipeline_stop (pid_t pids [5]);

//  One counter from ingest's stats: path is "accepted", "nacks.rate_limited",
//  "zap.refused_unknown"... -1 if ingest does not answer.
long lu_stat (lu_env_t *env, const char *path);
long lu_wait_stat (lu_env_t *env, const char *path, long at_least, int timeout_ms);

//  A DEALER to ingest with the certificate's keys (NULL: a fresh unknown
//  key). lu_client_raw makes one with no security (NULL mechanism).
zsock_t *lu_client (lu_env_t *env, const char *certificate);

//  Send a message; receive the next one (NULL on timeout; free with
//  agent_link_free).
void lu_send (zsock_t *client, const Drift__AgentMessage *message);

//  A CommandUpdate of command_id (seq, state) as one encoded frame (the
//  caller frees it), and the same sent on client.
uint8_t *lu_update_frame (const char *command_id, uint32_t seq, Drift__CommandState state,
                          size_t *size);
void lu_send_update (zsock_t *client, const char *command_id, uint32_t seq,
                     Drift__CommandState state);
Drift__AgentMessage *lu_recv (zsock_t *client, int timeout_ms);

//  HELLO and its WELCOME (NULL if none came).
Drift__AgentMessage *lu_hello (zsock_t *client, int timeout_ms);

//  A valid REPORT message with report_id, stack and an uncompressed plan
//  text payload; the message owns copies (lu_report_free).
Drift__AgentMessage *lu_report (const char *report_id, const char *stack, const char *payload);
void lu_report_free (Drift__AgentMessage *message);

//  Send report and wait for its ACK, resending after RATE_LIMITED or
//  UNAVAILABLE; 1 acked (duplicate in *duplicate if not NULL), 0 if no ACK
//  within timeout_ms.
int lu_send_until_acked (zsock_t *client, const char *report_id, const char *stack,
                         int timeout_ms, bool *duplicate);

//  The tenant id (uuid text) of tenant name; caller frees.
char *lu_tenant_id (lu_env_t *env, const char *name);

//  Spool count reports (scenario-01, redacted and compressed) into the
//  spool directory as drift-agent would, with report ids PREFIX-N.
void lu_spool_reports (const char *spool, const char *prefix, int count);

//  The raw report drift-agent builds of a Terraform plan for stack, its
//  redaction key every byte key_byte (asserting it builds); the caller
//  frees it with drift__report__free_unpacked.
Drift__Report *lu_agent_report (const char *plan, size_t size, const char *stack,
                                uint8_t key_byte);


#endif
