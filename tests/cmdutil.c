/*  cmdutil: what the command channel tests share; see cmdutil.h. */
#include "cmdutil.h"
#include "../api/audit.h"

#include <criterion/criterion.h>
#include <libpq-fe.h>
#include <stdarg.h>

int
cu_api (lu_env_t *env, api_handler_fn *handler, api_role_t role, const char *user_id,
        const char *email, const char *param, const char *body, json_t **reply)
{
    char *app = tu_app_url (env->database);
    PGconn *conn = PQconnectdb (app);
    free (app);
    cr_assert_eq (PQstatus (conn), CONNECTION_OK);
    char *tenant = lu_tenant_id (env, "acme");
    PQclear (PQexec (conn, "BEGIN"));
    const char *params [] = { tenant };
    PQclear (PQexecParams (conn, "SELECT drift_set_tenant ($1::uuid)", 1, NULL, params, NULL,
                           NULL, 0));
    //  Who acts, as the API server sets it for each request (the audit log).
    cr_assert_eq (audit_actor_set (conn, user_id, email, "127.0.0.1", false), 0);
    api_call_t call = {
        .conn = conn, .tenant_id = tenant, .user_id = user_id, .user_email = email,
        .role = role, .params = { param }, .param_count = param ? 1 : 0,
        .query = json_object (), .body = body ? json_loads (body, 0, NULL) : NULL
    };
    *reply = NULL;
    int status = handler (&call, reply);
    if (status >= 400) {
        char *text = json_dumps (*reply, JSON_COMPACT);
        fprintf (stderr, "the API answered %d %s\n", status, text ? text : "");
        free (text);
    }
    PQclear (PQexec (conn, status / 100 == 2 ? "COMMIT" : "ROLLBACK"));
    json_decref (call.query);
    json_decref (call.body);
    PQfinish (conn);
    free (tenant);
    return status;
}

void
cu_setup (lu_env_t *env, char spool [400], char stack_dir [400], char runs [400],
          char **certificate)
{
    lu_setup (env);
    snprintf (spool, 400, "%s/spool", env->directory);
    snprintf (stack_dir, 400, "%s/stack", env->directory);
    snprintf (runs, 400, "%s/engine.log", env->directory);
    mkdir (stack_dir, 0700);
    *certificate = lu_issue (env, "acme", "builder");
    char *scenario = tu_fixture_path ("scenario-02");
    setenv ("FAKE_TF_SCENARIO", scenario, 1);
    free (scenario);
    setenv ("FAKE_TF_LOG", runs, 1);
    const char *unset [] = { "FAKE_TF_SLEEP", "FAKE_TF_GATE", "FAKE_TF_HANG", "FAKE_TF_SECRET",
                             "FAKE_TF_AFTER_APPLY", "FAKE_TF_STATE", "FAKE_TF_FAIL",
                             "FAKE_TF_FLOOD", "FAKE_TF_STALE", "FAKE_TF_LOCKED",
                             "FAKE_TF_IGNORE_TERM", "FAKE_TF_STDERR_BYTES" };
    for (size_t i = 0; i < sizeof unset / sizeof unset [0]; i++)
        unsetenv (unset [i]);
}

void
cu_teardown (lu_env_t *env, pid_t *agent, pid_t pipeline [5], char **certificate)
{
    if (*agent)
        tu_stop (*agent, SIGKILL);
    *agent = 0;
    lu_pipeline_stop (pipeline);
    free (*certificate);
    *certificate = NULL;
    lu_teardown (env);
}

pid_t
cu_agent_start (lu_env_t *env, const char *certificate, const char *spool,
                const char *stack_dir, ...)
{
    const char *agent = getenv ("DRIFT_AGENT_BIN");
    const char *source = getenv ("DRIFT_SOURCE_DIR");
    cr_assert (agent && source, "DRIFT_AGENT_BIN and DRIFT_SOURCE_DIR are set");
    char engine [512], stacks [512];
    snprintf (engine, sizeof engine, "%s/tests/fixtures/fake-terraform", source);
    snprintf (stacks, sizeof stacks, "payments=%s:3600", stack_dir);
    char *argv [48] = {
        (char *) agent, "run", "--endpoint", env->endpoint, "--server-key", env->server_key,
        "--certificate", (char *) certificate, "--spool", (char *) spool,
        "--ack-timeout-ms", "2000", "--backoff-max-ms", "1000", "--engine", engine,
        "--stacks", stacks, "--log-level", "info"
    };
    int argc = 20;
    va_list args;
    va_start (args, stack_dir);
    char *arg;
    while ((arg = va_arg (args, char *)) && argc < 36)
        argv [argc++] = arg;
    va_end (args);
    argv [argc] = NULL;
    char *log = zsys_sprintf ("%s/agent.log", env->directory);
    pid_t pid = tu_spawn_argv (log, argv);
    zstr_free (&log);
    return pid;
}
