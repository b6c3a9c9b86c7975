/*  cmdutil: what the command channel's tests (test_commands, the check now;
    test_remediation, plan, approval and apply) share: an API handler
    called as the server calls it, as a drift_app login inside the tenant's
    transaction, committed when it answers 2xx and rolled back otherwise;
    and drift-agent run beside stack "payments" with the stand-in engine.
*/
#ifndef CMDUTIL_H_INCLUDED
#define CMDUTIL_H_INCLUDED

#include "linkutil.h"
#include "../api/resource.h"

//  handler's status for a caller of tenant "acme" with role, user id (a
//  UUID) and email, the route's one parameter (or NULL) and a JSON body
//  (or NULL); its reply in *reply (the caller decrefs it).
int cu_api (lu_env_t *env, api_handler_fn *handler, api_role_t role, const char *user_id,
            const char *email, const char *param, const char *body, json_t **reply);

//  What each command test starts from: env set up (lu_setup), the agent's
//  spool, the stack's directory (made) and the stand-in's log as paths in
//  env's directory, a certificate of agent "builder" of tenant "acme"
//  (*certificate, freed by cu_teardown), and the stand-in engine on
//  scenario-02, logging each run to runs, with none of its other knobs set.
void cu_setup (lu_env_t *env, char spool [400], char stack_dir [400], char runs [400],
               char **certificate);

//  The agent killed (if *agent), the pipeline stopped (if started), the
//  certificate freed and env torn down.
void cu_teardown (lu_env_t *env, pid_t *agent, pid_t pipeline [5], char **certificate);

//  drift-agent run of stack "payments" in stack_dir, checked every hour (so
//  only its first check and the commands run the engine), with the
//  stand-in engine (tests/fixtures/fake-terraform), certificate and spool,
//  connected to env's ingest, logging to DIRECTORY/agent.log; more options
//  follow (NULL-terminated, at most 16).
pid_t cu_agent_start (lu_env_t *env, const char *certificate, const char *spool,
                      const char *stack_dir, ...);

#endif
