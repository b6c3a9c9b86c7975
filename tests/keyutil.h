/*  keyutil: what the tests of `drift keys`, `drift tenant` (test_keys.c)
    and of the key registry (test_registry.c) share: a scratch directory
    and a fresh migrated database per test, `drift` commands run to
    completion with their output kept, an agent issued through the CLI as
    an operator does it, and keys and server URLs that lead nowhere.
*/
#ifndef KEYUTIL_H_INCLUDED
#define KEYUTIL_H_INCLUDED

#include "testutil.h"

#include <sys/types.h>
#include <unistd.h>

//  One test's state, made by ku_setup and removed by ku_teardown.
typedef struct {
    char dir [64];              // this test's scratch directory
    char log [96];              // where a drift command's output goes
    char keys [96];             // keys-dir for drift keys
    char *url;                  // this test's database
    const char *redis;          // the test Redis (DRIFT_TEST_REDIS_URL)
    char output [16384];        // output of the last drift command
} ku_env_t;

//  A scratch directory /tmp/drift-test-NAME-XXXXXX and a fresh migrated
//  database; ku_teardown drops and removes both.
void ku_setup (ku_env_t *env, const char *name);
void ku_teardown (ku_env_t *env);

//  Wait for a `drift` child; its exit code, and its output in env->output.
int ku_finish (ku_env_t *env, pid_t pid);

//  Run `drift ARGS...`: its exit code, with stdout and stderr in env->output.
#define ku_drift(env, ...) \
    (unlink ((env)->log), ku_finish ((env), tu_spawn ((env)->log, __VA_ARGS__, NULL)))

//  A tenant with one agent issued through the CLI; the agent's public key
//  in key [41].
void ku_issue (ku_env_t *env, const char *tenant, const char *agent, char *key);

//  A valid key that no agent has, in key [41].
void ku_unknown_key (char *key);

//  URLs of a PostgreSQL and a Redis whose server is a closed port (caller
//  frees).
char *ku_dead_postgresql (void);
char *ku_dead_redis (void);

#endif
