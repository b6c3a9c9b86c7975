/*  secret: the one reader of secret files (lib/secret.h), and every
    secret drift reads refused by its real consumer when the file is
    readable by its group.

    The reader's own rules, each refusal with its reason: a symbolic link,
    a file of another owner (given to nobody, which needs root: the suite
    runs as root), modes 0640 and 0604, a file over the caller's cap, an
    empty file, a directory, a fifo; a good file read; the buffer wiped on
    a refusal; CURVE secret certificates read the same way.

    Then one table, one row per secret file of the project: the role or
    command that reads it is started for real (the drift binary, or
    drift-agent) with that file at mode 0640, and must exit non-zero naming
    the file and its mode.
*/
#define _GNU_SOURCE                 // asprintf
#include "../lib/secret.h"
#include "testutil.h"

#include <criterion/criterion.h>
#include <fcntl.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define NOBODY 65534

static char s_dir [256];            // this test's scratch directory
static char s_error [512];          // the last refusal

static void
s_setup (void)
{
    tu_scratch_dir ("secret", s_dir, sizeof s_dir);
    cr_assert (sodium_init () >= 0);
    s_error [0] = 0;
}

static void
s_teardown (void)
{
    tu_remove_tree (s_dir);
}

TestSuite (secret, .init = s_setup, .fini = s_teardown);

//  The path of name in the scratch directory (caller frees).
static char *
s_path (const char *name)
{
    char *path;
    cr_assert (asprintf (&path, "%s/%s", s_dir, name) > 0);
    return path;
}

//  Write text to name in the scratch directory with mode; its path.
static char *
s_file (const char *name, const char *text, mode_t mode)
{
    char *path = s_path (name);
    int fd = open (path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    cr_assert (fd != -1, "%s: %s", path, strerror (errno));
    cr_assert (write (fd, text, strlen (text)) == (ssize_t) strlen (text));
    close (fd);
    cr_assert (chmod (path, mode) == 0);
    return path;
}

//  secret_read of path into a 64-byte buffer must refuse, naming the file
//  and saying reason.
static void
s_refused (const char *path, const char *reason)
{
    uint8_t buffer [64];
    size_t size = 99;
    cr_assert_eq (secret_read (path, buffer, sizeof buffer, &size, s_error, sizeof s_error), -1,
                  "%s was read", path);
    cr_assert_eq (size, 0);
    cr_assert (strstr (s_error, path), "the error names no file: %s", s_error);
    cr_assert (strstr (s_error, reason), "expected \"%s\": %s", reason, s_error);
}

//  --------------------------------------------------------------------------
//  The reader's rules

Test (secret, a_private_regular_file_is_read_whole_and_terminated)
{
    char *path = s_file ("good", "s3cr3t\n", 0600);
    uint8_t buffer [16];
    memset (buffer, 'x', sizeof buffer);
    size_t size = 0;
    cr_assert_eq (secret_read (path, buffer, sizeof buffer, &size, s_error, sizeof s_error), 0,
                  "%s", s_error);
    cr_assert_eq (size, 7);
    cr_assert_str_eq ((char *) buffer, "s3cr3t\n");
    //  Read-only for its owner is as good; a file of capacity - 1 bytes fits.
    cr_assert (chmod (path, 0400) == 0);
    uint8_t exact [8];
    cr_assert_eq (secret_read (path, exact, sizeof exact, &size, NULL, 0), 0);
    cr_assert_eq (size, 7);
    free (path);
}

Test (secret, a_symbolic_link_is_refused)
{
    char *target = s_file ("target", "s3cr3t", 0600);
    char *link = s_path ("link");
    cr_assert (symlink (target, link) == 0);
    s_refused (link, "is a symbolic link");
    free (link);
    free (target);
}

Test (secret, a_file_of_another_owner_is_refused_even_for_root)
{
    cr_assert_eq (geteuid (), 0, "the suite runs as root (scripts/test): only root can give "
                  "a file away, and root is who must be shown refusing it");
    char *path = s_file ("theirs", "s3cr3t", 0600);
    cr_assert (chown (path, NOBODY, NOBODY) == 0);
    s_refused (path, "is owned by uid 65534, not by the running user (uid 0)");
    free (path);
}

Test (secret, a_file_its_group_or_others_may_read_is_refused)
{
    char *path = s_file ("group", "s3cr3t", 0640);
    s_refused (path, "has mode 0640");
    s_refused (path, "chmod 600");
    cr_assert (chmod (path, 0604) == 0);
    s_refused (path, "has mode 0604");
    //  Write or execute bits for others are refused as well: 077 is the mask.
    cr_assert (chmod (path, 0620) == 0);
    s_refused (path, "has mode 0620");
    free (path);
}

Test (secret, a_file_over_the_cap_is_refused_and_the_buffer_wiped)
{
    char text [101];
    memset (text, 'k', 100);
    text [100] = 0;
    char *path = s_file ("large", text, 0600);
    s_refused (path, "is larger than 63 bytes");
    //  What was read before the refusal is not left in the caller's buffer.
    uint8_t buffer [64];
    memset (buffer, 0xA5, sizeof buffer);
    size_t size;
    cr_assert_eq (secret_read (path, buffer, sizeof buffer, &size, NULL, 0), -1);
    for (size_t index = 0; index < sizeof buffer; index++)
        cr_assert_eq (buffer [index], 0, "byte %zu left after a refusal", index);
    free (path);
}

Test (secret, an_empty_file_is_refused)
{
    char *path = s_file ("empty", "", 0600);
    s_refused (path, "is empty");
    free (path);
}

Test (secret, a_directory_is_refused)
{
    char *path = s_path ("dir");
    cr_assert (mkdir (path, 0700) == 0);
    s_refused (path, "is a directory");
    free (path);
}

Test (secret, a_fifo_is_refused_without_waiting_for_a_writer)
{
    char *path = s_path ("fifo");
    cr_assert (mkfifo (path, 0600) == 0);
    s_refused (path, "is a fifo");
    free (path);
}

Test (secret, a_missing_file_is_refused_with_the_system_reason)
{
    char *path = s_path ("missing");
    s_refused (path, "No such file or directory");
    free (path);
}

//  --------------------------------------------------------------------------
//  CURVE secret certificates

Test (secret, a_curve_certificate_is_read_with_its_keys_and_metadata)
{
    zcert_t *made = zcert_new ();
    zcert_set_meta (made, "tenant", "acme");
    char *path = s_path ("agent.cert");
    cr_assert (zcert_save_secret (made, path) == 0);
    cr_assert (chmod (path, 0600) == 0);
    zcert_t *cert = secret_cert_load (path, s_error, sizeof s_error);
    cr_assert (cert, "%s", s_error);
    cr_assert (zcert_eq (cert, made));
    cr_assert_str_eq (zcert_secret_txt (cert), zcert_secret_txt (made));
    cr_assert_str_eq (zcert_meta (cert, "tenant"), "acme");
    secret_cert_destroy (&cert);
    cr_assert_null (cert);
    //  Group-readable: refused as every secret is.
    cr_assert (chmod (path, 0640) == 0);
    cr_assert_null (secret_cert_load (path, s_error, sizeof s_error));
    cr_assert (strstr (s_error, "has mode 0640"), "%s", s_error);
    secret_cert_destroy (&made);
    free (path);
}

Test (secret, a_curve_certificate_prefers_its_secret_file_and_needs_a_secret_key)
{
    zcert_t *made = zcert_new ();
    char *path = s_path ("role.key");
    char *secret_path = s_path ("role.key_secret");
    cr_assert (zcert_save (made, path) == 0);        // role.key and role.key_secret
    cr_assert (chmod (path, 0600) == 0 && chmod (secret_path, 0600) == 0);
    zcert_t *cert = secret_cert_load (path, s_error, sizeof s_error);
    cr_assert (cert, "%s", s_error);
    cr_assert (zcert_eq (cert, made));
    secret_cert_destroy (&cert);
    //  Without its secret file, the public file alone is no keypair.
    cr_assert (unlink (secret_path) == 0);
    cr_assert_null (secret_cert_load (path, s_error, sizeof s_error));
    cr_assert (strstr (s_error, "holds no CURVE secret key"), "%s", s_error);
    //  Text that is no certificate at all.
    char *junk = s_file ("junk.key", "not a certificate\n", 0600);
    cr_assert_null (secret_cert_load (junk, s_error, sizeof s_error));
    cr_assert (strstr (s_error, junk), "%s", s_error);
    secret_cert_destroy (&made);
    free (junk);
    free (secret_path);
    free (path);
}

//  --------------------------------------------------------------------------
//  Every consumer refuses a group-readable secret file

#define KEY_HEX "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n"

//  A CURVE keypair as NAME and NAME_secret in the scratch directory, 0600;
//  the path of NAME (caller frees).
static char *
s_keypair (const char *name)
{
    char *path = s_path (name);
    char *secret_path;
    cr_assert (asprintf (&secret_path, "%s_secret", path) > 0);
    zcert_t *cert = zcert_new ();
    cr_assert (zcert_save (cert, path) == 0);
    cr_assert (chmod (secret_path, 0600) == 0);
    zcert_destroy (&cert);
    free (secret_path);
    return path;
}

//  Run program (DRIFT_BIN or DRIFT_AGENT_BIN) with argv; it must end by
//  itself with a non-zero exit and say in its output that path has mode
//  0640. A run that does not end is killed and fails the row.
static void
s_expect_refusal (const char *row, const char *program, char *const argv [], const char *path)
{
    char *log = s_path ("consumer.log");
    unlink (log);
    pid_t parent = getpid ();
    pid_t pid = fork ();
    cr_assert (pid >= 0);
    if (pid == 0) {
        tu_die_with_parent (parent);
        int fd = open (log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (fd >= 0) {
            dup2 (fd, 1);
            dup2 (fd, 2);
            close (fd);
        }
        execv (program, argv);
        _exit (127);
    }
    //  A refusal comes before any work; a generous deadline only keeps a
    //  consumer that accepted the file (and so runs on) from hanging the test.
    int status = 0;
    bool ended = false;
    for (int tick = 0; tick < 600 && !ended; tick++) {
        ended = waitpid (pid, &status, WNOHANG) == pid;
        if (!ended)
            usleep (100 * 1000);
    }
    if (!ended) {
        kill (pid, SIGKILL);
        waitpid (pid, &status, 0);
    }
    char *output = tu_read_file (log, NULL);
    cr_assert (ended, "%s: still running with a group-readable %s: %s", row, path,
               output ? output : "");
    cr_assert (WIFEXITED (status) && WEXITSTATUS (status) != 0, "%s: exit %d: %s", row,
               WIFEXITED (status) ? WEXITSTATUS (status) : -1, output ? output : "");
    cr_assert (output && strstr (output, path) && strstr (output, "has mode 0640"),
               "%s: the refusal does not name %s and its mode: %s", row, path,
               output ? output : "");
    free (output);
    free (log);
}

Test (secret, every_consumer_refuses_its_secret_file_readable_by_its_group, .timeout = 600)
{
    const char *drift = getenv ("DRIFT_BIN");
    const char *agent = getenv ("DRIFT_AGENT_BIN");
    const char *redis = getenv ("DRIFT_TEST_REDIS_URL");
    const char *pg = getenv ("DRIFT_TEST_PG_URL");
    cr_assert (drift && agent && redis && pg, "run through scripts/test (DRIFT_BIN, "
               "DRIFT_AGENT_BIN, DRIFT_TEST_REDIS_URL, DRIFT_TEST_PG_URL)");
    //  The roles connect nowhere before they refuse: a closed port will do.
    char broker [64];
    snprintf (broker, sizeof broker, "tcp://127.0.0.1:%d", tu_free_port ());
    char *good_key = s_file ("good.key", KEY_HEX, 0600);
    char *bad_key = s_file ("bad.key", KEY_HEX, 0640);
    char *bad_token = s_file ("bad.token", "metrics-token-0123456789abcdef\n", 0640);
    char *bad_password = s_file ("bad.password", "correct horse battery\n", 0640);
    char *old_dir = s_path ("old");
    cr_assert (mkdir (old_dir, 0700) == 0);
    char *old_key = s_file ("old/2024.key", KEY_HEX, 0640);

    //  CURVE keypairs, each with its secret half made group-readable.
    char *role = s_keypair ("role.key");
    char *role_secret;
    cr_assert (asprintf (&role_secret, "%s_secret", role) > 0);
    cr_assert (chmod (role_secret, 0640) == 0);
    char *keys_dir = s_path ("keys");
    cr_assert (mkdir (keys_dir, 0700) == 0);
    char *server = s_keypair ("keys/server.key");
    char *server_secret;
    cr_assert (asprintf (&server_secret, "%s_secret", server) > 0);
    cr_assert (chmod (server_secret, 0640) == 0);
    char *agent_cert = s_path ("agent.cert");
    zcert_t *cert = zcert_new ();
    cr_assert (zcert_save_secret (cert, agent_cert) == 0);
    cr_assert (chmod (agent_cert, 0640) == 0);
    char server_key [41];
    snprintf (server_key, sizeof server_key, "%s", zcert_public_txt (cert));
    zcert_destroy (&cert);

    char *no_db = "postgresql://drift@127.0.0.1:1/none";
    struct {
        const char *name;           // the secret and its consumer
        const char *program;        // drift or drift-agent
        char *argv [24];            // its arguments, argv [0] included
        const char *path;           // the file it must refuse
    } rows [] = {
        { "archive --seal-key", drift, { "drift", "archive", "--broker", broker,
          "--broker-cert", "", "--seal-key", bad_key, NULL }, bad_key },
        { "archive --seal-old-keys", drift, { "drift", "archive", "--broker", broker,
          "--broker-cert", "", "--seal-key", good_key, "--seal-old-keys", old_dir, NULL },
          old_key },
        { "archive --s3-secret-key-file", drift, { "drift", "archive", "--broker", broker,
          "--broker-cert", "", "--seal-key", good_key, "--store", "s3", "--s3-endpoint",
          "http://127.0.0.1:1", "--s3-bucket", "drift", "--s3-access-key", "drift",
          "--s3-secret-key-file", bad_token, NULL }, bad_token },
        { "normalize --mask-key-file", drift, { "drift", "normalize", "--broker", broker,
          "--broker-cert", "", "--mask-key-file", bad_key, NULL }, bad_key },
        { "notify --channel-key", drift, { "drift", "notify", "--broker", broker,
          "--broker-cert", "", "--redis", (char *) redis, "--channel-key", bad_key, NULL },
          bad_key },
        { "api --channel-key", drift, { "drift", "api", "--listen", "127.0.0.1:0",
          "--database", no_db, "--channel-key", bad_key, NULL }, bad_key },
        { "api --jwt-secret-file", drift, { "drift", "api", "--listen", "127.0.0.1:0",
          "--database", no_db, "--jwt-secret-file", bad_key, NULL }, bad_key },
        { "api --metrics-token-file", drift, { "drift", "api", "--listen", "127.0.0.1:0",
          "--database", no_db, "--metrics-token-file", bad_token, NULL }, bad_token },
        { "user add --password-file", drift, { "drift", "user", "add", "acme", "a@example.com",
          "--database", (char *) pg, "--password-file", bad_password, NULL }, bad_password },
        { "any role's --broker-cert", drift, { "drift", "score", "--broker", broker,
          "--broker-cert", role, NULL }, role_secret },
        { "broker --curve-cert", drift, { "drift", "broker", "--bind", broker,
          "--curve-cert", role, NULL }, role_secret },
        { "ingest server.key_secret", drift, { "drift", "ingest", "--broker", broker,
          "--broker-cert", "", "--keys-dir", keys_dir, "--endpoint", "tcp://127.0.0.1:0",
          "--stats", "", "--database", no_db, "--redis", (char *) redis, NULL }, server_secret },
        { "keys init on a kept server.key_secret", drift, { "drift", "keys", "init",
          "--keys-dir", keys_dir, NULL }, server_secret },
        { "drift-agent --certificate", agent, { "drift-agent", "send", "--certificate",
          agent_cert, "--server-key", server_key, "--endpoint", broker, "--spool", s_dir,
          "--stack", "web", "/dev/null", NULL }, agent_cert },
    };
    for (size_t index = 0; index < sizeof rows / sizeof rows [0]; index++)
        s_expect_refusal (rows [index].name, rows [index].program, rows [index].argv,
                          rows [index].path);
    free (agent_cert);
    free (server_secret);
    free (server);
    free (keys_dir);
    free (role_secret);
    free (role);
    free (old_key);
    free (old_dir);
    free (bad_password);
    free (bad_token);
    free (bad_key);
    free (good_key);
}
