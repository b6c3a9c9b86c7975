/*  kv: the Redis connection (lib/kv) against a redis-server the test runs
    itself, with a password and a database: it survives a restart of that
    Redis (commands fail at once while it is down, then work again on their
    own), a wrong password never yields a connection, an error reply keeps
    the connection, and URLs kv cannot use are refused.
*/
#include "testutil.h"
#include "../lib/kv.h"
#include "../lib/log.h"

#include <criterion/criterion.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <unistd.h>

static char s_dir [64];         // this test's scratch directory (Redis's --dir)
static pid_t s_redis_pid;       // the Redis the test started, 0 if none

static void
s_setup (void)
{
    log_init ("test", "logfmt", "error");
    snprintf (s_dir, sizeof s_dir, "/tmp/drift-test-kv-XXXXXX");
    cr_assert (mkdtemp (s_dir));
}

static void
s_teardown (void)
{
    if (s_redis_pid > 0)
        tu_stop (s_redis_pid, SIGKILL);
    s_redis_pid = 0;
    zdir_t *dir = zdir_new (s_dir, NULL);
    if (dir)
        zdir_remove (dir, true);
    zdir_destroy (&dir);
}

TestSuite (kv, .init = s_setup, .fini = s_teardown, .timeout = 60);

//  --------------------------------------------------------------------------
//  Helpers

//  Start our own redis-server on port, requiring password; it dies with us.
static void
s_redis_start (int port, const char *password)
{
    char port_text [16];
    snprintf (port_text, sizeof port_text, "%d", port);
    pid_t pid = fork ();
    cr_assert (pid >= 0);
    if (pid == 0) {
        prctl (PR_SET_PDEATHSIG, SIGKILL);
        int null = open ("/dev/null", O_WRONLY);
        dup2 (null, 1);
        dup2 (null, 2);
        execlp ("redis-server", "redis-server", "--bind", "127.0.0.1", "--port", port_text,
                "--requirepass", password, "--save", "", "--appendonly", "no",
                "--dir", s_dir, (char *) NULL);
        _exit (127);
    }
    s_redis_pid = pid;
}

//  Poll until kv answers PING (generously), or fail.
static void
s_wait_answering (kv_t *kv)
{
    int64_t deadline = zclock_mono () + 15000;
    redisReply *reply = NULL;
    while (!reply && zclock_mono () < deadline) {
        reply = kv_command (kv, "PING");
        if (!reply)
            zclock_sleep (50);
    }
    cr_assert (reply, "Redis never answered");
    cr_assert_eq (reply->type, REDIS_REPLY_STATUS);
    freeReplyObject (reply);
}

Test (kv, survives_a_redis_restart_with_password_and_database)
{
    int port = tu_free_port ();
    s_redis_start (port, "p@ss/w:rd");
    char url [128], url_db0 [128], wrong [128];
    snprintf (url, sizeof url, "redis://:p%%40ss%%2Fw%%3Ard@127.0.0.1:%d/3", port);
    snprintf (url_db0, sizeof url_db0, "redis://:p%%40ss%%2Fw%%3Ard@127.0.0.1:%d", port);
    snprintf (wrong, sizeof wrong, "redis://:guess@127.0.0.1:%d", port);
    kv_t *kv = kv_new (url, 1000);
    cr_assert (kv);
    s_wait_answering (kv);
    redisReply *reply = kv_command (kv, "SET drift:test %s", "kept");
    cr_assert (reply && reply->type == REDIS_REPLY_STATUS);
    freeReplyObject (reply);

    //  SELECT 3 took effect: database 0 does not have it.
    kv_t *db0 = kv_new (url_db0, 1000);
    reply = kv_command (db0, "GET drift:test");
    cr_assert (reply && reply->type == REDIS_REPLY_NIL);
    freeReplyObject (reply);
    kv_destroy (&db0);

    //  A wrong password never yields a connection.
    kv_t *refused = kv_new (wrong, 1000);
    cr_assert_null (kv_context (refused));
    cr_assert_null (kv_command (refused, "PING"));
    kv_destroy (&refused);

    //  Redis goes away: commands fail (no hang, no SIGPIPE), then come back
    //  on their own once it is up again.
    tu_stop (s_redis_pid, SIGKILL);
    s_redis_pid = 0;
    reply = kv_command (kv, "GET drift:test");
    cr_assert_null (reply);
    cr_assert_null (kv_command (kv, "GET drift:test"));
    s_redis_start (port, "p@ss/w:rd");
    s_wait_answering (kv);
    reply = kv_command (kv, "SET drift:test %s", "again");
    cr_assert (reply && reply->type == REDIS_REPLY_STATUS);
    freeReplyObject (reply);
    reply = kv_command (kv, "GET drift:test");
    cr_assert (reply && reply->type == REDIS_REPLY_STRING);
    cr_assert_str_eq (reply->str, "again");
    freeReplyObject (reply);

    //  An error reply is a reply, and the connection stays.
    reply = kv_command (kv, "NOSUCHCOMMAND");
    cr_assert (reply && reply->type == REDIS_REPLY_ERROR);
    freeReplyObject (reply);
    cr_assert (kv_context (kv));
    kv_destroy (&kv);
    cr_assert_null (kv);
}

Test (kv, refuses_unusable_urls)
{
    const char *unusable [] = {
        "http://127.0.0.1:6379", "rediss://127.0.0.1:6379", "redis://127.0.0.1:0",
        "redis://127.0.0.1:99999", "redis://127.0.0.1:port", "redis://127.0.0.1:6379/db",
        "redis://127.0.0.1:6379/-1", "redis://password@127.0.0.1", "redis://:p%4@127.0.0.1",
        "redis://127.0.0.1:6379?timeout=1", "redis://[::1"
    };
    for (size_t i = 0; i < sizeof unusable / sizeof unusable [0]; i++)
        cr_assert_null (kv_new (unusable [i], 1000), "%s", unusable [i]);
    const char *usable [] = {
        "redis://127.0.0.1", "redis://localhost:6380/", "redis://:secret@host:1/15",
        "redis://user:secret@host", "redis://[::1]:6379/2", "redis://"
    };
    for (size_t i = 0; i < sizeof usable / sizeof usable [0]; i++) {
        kv_t *kv = kv_new (usable [i], 1000);
        cr_assert (kv, "%s", usable [i]);
        kv_destroy (&kv);
    }
}
