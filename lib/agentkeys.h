/*  agentkeys: issuing and revoking agents' CURVE keys, the one
    implementation behind `drift keys` (cmd/keys.c) and the dashboard API's
    /api/v1/agents (api/agents.c).

    An agent's keypair is a CZMQ zcert with metadata tenant and agent. Its
    public key is registered in PostgreSQL (agents) under the tenant; the
    secret never is: the CLI writes it to a file created 0600 with O_EXCL,
    the API hands the same file's text to its caller once. After any change
    of a key in PostgreSQL the key's cached answer is removed from Redis
    (lib/registry), so ingest sees the change without waiting for the cache
    to expire. Secret keys are wiped from memory after use.
*/
#ifndef AGENTKEYS_H_INCLUDED
#define AGENTKEYS_H_INCLUDED

#include "secret.h"

#include <czmq.h>
#include <libpq-fe.h>
#include <stddef.h>

//  zcert_load builds FILE_secret in a 256-byte buffer: longer paths would
//  be cut short and the wrong file read.
#define AGENTKEYS_PATH_MAX 240

typedef enum {
    AGENTKEYS_OK = 0,
    AGENTKEYS_NO_TENANT = 1,     // no such tenant (or not visible under row-level security)
    AGENTKEYS_NAME_TAKEN = 2,    // the tenant has an unrevoked agent of that name
    AGENTKEYS_FAILED = 3         // the statement failed (error says why)
} agentkeys_result_t;

//  Save cert's keypair (and metadata) to path, which must not exist yet: it
//  is created 0600 with O_EXCL before a byte is written, then read back to
//  check. Returns 0, or -1 with errno set (EEXIST: the file was there).
int agentkeys_save_secret (zcert_t *cert, const char *path);

//  The server's key files in dir (DIR/server.key, DIR/server.key_secret);
//  -1 if the names would be too long for zcert.
int agentkeys_server_paths (const char *dir, char *public_path, char *secret_path, size_t size);

//  The server's public key (Z85, server_key [41]) from keys_dir: 0, or -1
//  with the reason in error.
int agentkeys_server_key (const char *keys_dir, char *server_key, char *error, size_t error_size);

//  A new agent keypair with metadata tenant and agent.
zcert_t *agentkeys_cert_new (const char *tenant, const char *agent);

//  The text of cert's secret file, exactly as agentkeys_save_secret writes
//  it (ZPL, both keys): the caller wipes (sodium_memzero) and frees it.
//  NULL if it could not be made.
char *agentkeys_cert_text (zcert_t *cert);

//  Register key as agent name of the tenant named tenant_name (or, when
//  tenant_name is NULL, of tenant id tenant_id); the new agent's id in
//  agent_id [37] when not NULL.
agentkeys_result_t agentkeys_register (PGconn *conn, const char *tenant_name,
                                       const char *tenant_id, const char *name, const char *key,
                                       char *agent_id, char *error, size_t error_size);

//  Remove key's cached answer from the Redis at redis_url: 0, or -1 when
//  Redis could not be reached (the answer then expires on its own).
int agentkeys_invalidate (const char *redis_url, const char *key);

#endif
