/*  keyutil: what the key and registry tests share; see keyutil.h. */
#include "keyutil.h"
#include "../lib/log.h"
#include "../lib/migrations.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>

void
ku_setup (ku_env_t *env, const char *name)
{
    memset (env, 0, sizeof *env);
    log_init ("test", "logfmt", "error");
    snprintf (env->dir, sizeof env->dir, "/tmp/drift-test-%s-XXXXXX", name);
    cr_assert (mkdtemp (env->dir));
    snprintf (env->log, sizeof env->log, "%s/output", env->dir);
    snprintf (env->keys, sizeof env->keys, "%s/keys", env->dir);
    env->redis = getenv ("DRIFT_TEST_REDIS_URL");
    cr_assert (env->redis && *env->redis,
               "DRIFT_TEST_REDIS_URL is not set: run the tests through scripts/test");
    env->url = tu_fresh_database ();
    cr_assert_gt (migrations_apply (env->url), 0);
}

void
ku_teardown (ku_env_t *env)
{
    if (env->url)
        tu_drop_database (env->url);
    env->url = NULL;
    zdir_t *dir = zdir_new (env->dir, NULL);
    if (dir)
        zdir_remove (dir, true);
    zdir_destroy (&dir);
}

int
ku_finish (ku_env_t *env, pid_t pid)
{
    int status;
    cr_assert_eq (waitpid (pid, &status, 0), pid);
    FILE *file = fopen (env->log, "r");
    size_t size = file ? fread (env->output, 1, sizeof env->output - 1, file) : 0;
    env->output [size] = 0;
    if (file)
        fclose (file);
    unlink (env->log);
    return WIFEXITED (status) ? WEXITSTATUS (status) : -1;
}

void
ku_issue (ku_env_t *env, const char *tenant, const char *agent, char *key)
{
    cr_assert_eq (ku_drift (env, "keys", "init", "--keys-dir", env->keys), 0, "%s", env->output);
    int rc = ku_drift (env, "tenant", "create", tenant, "--database", env->url);
    cr_assert (rc == 0 || rc == 1, "%s", env->output);
    char out [160];
    snprintf (out, sizeof out, "%s/%s.cert", env->dir, agent);
    cr_assert_eq (ku_drift (env, "keys", "issue", "--tenant", tenant, "--name", agent,
                            "--out", out, "--keys-dir", env->keys, "--database", env->url,
                            "--redis", env->redis), 0, "%s", env->output);
    zcert_t *cert = zcert_load (out);
    cr_assert (cert);
    snprintf (key, 41, "%s", zcert_public_txt (cert));
    zcert_destroy (&cert);
}

void
ku_unknown_key (char *key)
{
    zcert_t *cert = zcert_new ();
    snprintf (key, 41, "%s", zcert_public_txt (cert));
    zcert_destroy (&cert);
}

char *
ku_dead_postgresql (void)
{
    char *url = (char *) malloc (128);
    snprintf (url, 128, "postgresql://postgres@127.0.0.1:%d/drift?connect_timeout=2",
              tu_free_port ());
    return url;
}

char *
ku_dead_redis (void)
{
    char *url = (char *) malloc (64);
    snprintf (url, 64, "redis://127.0.0.1:%d", tu_free_port ());
    return url;
}
