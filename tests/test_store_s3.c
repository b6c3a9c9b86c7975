/*  store_s3: the S3 backend of actors/archive/store against a real S3-compatible
    server (s3rver behind a SigV4 check, started by scripts/test through
    scripts/lib/s3.sh), and store_from_config choosing a backend from
    settings.

    What actors/archive/store.h promises holds over S3 too: binary, empty and large
    objects round-trip, head gives the size, a missing key is 1, a put
    replaces, and a key with `%` is its own object. Then what only a remote
    store has: a wrong secret key refused with the server's reason, a
    stopped server answered as unreachable and the same store working again
    once it is back, a server that never answers cut off by the timeout,
    an object over 1 GiB refused. Without the server (the DRIFT_TEST_S3_*
    variables) every test that needs it fails: an S3 test that silently
    passes would prove nothing.
*/
#define _GNU_SOURCE                 // asprintf
#include "../actors/archive/store_s3.h"
#include "../actors/archive/store_config.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char s_dir [256];            // this test's scratch directory

static void
s_setup (void)
{
    const char *var = getenv ("DRIFT_TEST_VAR_DIR");
    snprintf (s_dir, sizeof s_dir, "%s/drift-test-store-s3-XXXXXX", var && *var ? var : "/tmp");
    cr_assert (mkdtemp (s_dir));
}

static void
s_teardown (void)
{
    char *command;
    cr_assert (asprintf (&command, "rm -rf '%s'", s_dir) > 0);
    cr_assert (system (command) == 0);
    free (command);
}

TestSuite (store_s3, .init = s_setup, .fini = s_teardown);

//  A DRIFT_TEST_S3_* setting; fails the test when s3 is not started.
static const char *
s_env (const char *name)
{
    const char *value = getenv (name);
    if (!value || !*value)
        cr_assert_fail ("%s is not set: the S3 test server is not started "
                       "(run the tests through scripts/test)", name);
    return value;
}

//  The settings of the test server, with a prefix unique to this run so
//  reruns against the same data directory never see old objects.
static store_s3_config_t
s_config (void)
{
    static char prefix [64];
    snprintf (prefix, sizeof prefix, "run-%d-%ld", (int) getpid (), (long) random ());
    return (store_s3_config_t) {
        .endpoint = s_env ("DRIFT_TEST_S3_ENDPOINT"),
        .region = "us-east-1",
        .bucket = s_env ("DRIFT_TEST_S3_BUCKET"),
        .access_key = s_env ("DRIFT_TEST_S3_ACCESS_KEY"),
        .secret_key = s_env ("DRIFT_TEST_S3_SECRET_KEY"),
        .path_style = true,
        .prefix = prefix,
        .timeout_ms = 5000,
    };
}

static store_t *
s_store (const store_s3_config_t *config)
{
    char error [256] = "";
    store_t *store = store_new_s3 (config, error, sizeof error);
    cr_assert (store, "store_new_s3: %s", error);
    return store;
}

static void
s_put (store_t *store, const char *key, const void *data, size_t size)
{
    cr_assert_eq (store_put (store, key, (const uint8_t *) data, size), 0,
                  "put %s: %s", key, store_error (store));
}

static void
s_expect (store_t *store, const char *key, const void *expected, size_t expected_size)
{
    uint8_t *data = NULL;
    size_t size = 0;
    cr_assert_eq (store_get (store, key, &data, &size), 0, "get %s: %s", key, store_error (store));
    //  s3rver answers a PUT when it has hashed the body, before its file
    //  is flushed (lib/stores/filesystem.js resolves on the hash stream's
    //  finish), so a GET at once can read part of a large object on a
    //  loaded machine. S3 itself is read-after-write consistent: read
    //  again, for two seconds at most, before judging.
    for (int retry = 0; retry < 20 && size < expected_size; retry++) {
        free (data);
        data = NULL;
        usleep (100 * 1000);
        cr_assert_eq (store_get (store, key, &data, &size), 0, "get %s: %s", key,
                      store_error (store));
    }
    cr_assert_eq (size, expected_size, "get %s: %zu bytes, expected %zu", key, size, expected_size);
    cr_assert_eq (memcmp (data, expected, size), 0, "get %s: other bytes", key);
    cr_assert_eq (data [size], 0, "a NUL follows the bytes");
    free (data);
}

Test (store_s3, binary_empty_and_large_objects_round_trip)
{
    store_s3_config_t config = s_config ();
    store_t *store = s_store (&config);
    uint8_t binary [256];
    for (int index = 0; index < 256; index++)
        binary [index] = (uint8_t) index;
    s_put (store, "t/s/2026/11/27/binary", binary, sizeof binary);
    s_expect (store, "t/s/2026/11/27/binary", binary, sizeof binary);
    s_put (store, "t/s/2026/11/27/empty", "", 0);
    s_expect (store, "t/s/2026/11/27/empty", "", 0);
    size_t large_size = 5 * 1024 * 1024;
    uint8_t *large = (uint8_t *) malloc (large_size);
    for (size_t index = 0; index < large_size; index++)
        large [index] = (uint8_t) (index * 7 + index / 251);
    s_put (store, "t/s/2026/11/27/large", large, large_size);
    s_expect (store, "t/s/2026/11/27/large", large, large_size);
    size_t size = 0;
    cr_assert_eq (store_head (store, "t/s/2026/11/27/large", &size), 0, "%s", store_error (store));
    cr_assert_eq (size, large_size);
    free (large);
    store_destroy (&store);
    cr_assert_null (store);
}

Test (store_s3, head_gives_the_size)
{
    store_s3_config_t config = s_config ();
    store_t *store = s_store (&config);
    s_put (store, "t/s/2026/11/27/r-1", "sealed bytes", 12);
    size_t size = 0;
    cr_assert_eq (store_head (store, "t/s/2026/11/27/r-1", &size), 0, "%s", store_error (store));
    cr_assert_eq (size, 12);
    cr_assert_eq (store_head (store, "t/s/2026/11/27/r-1", NULL), 0);
    s_put (store, "t/s/2026/11/27/r-0", "", 0);
    cr_assert_eq (store_head (store, "t/s/2026/11/27/r-0", &size), 0, "%s", store_error (store));
    cr_assert_eq (size, 0);
    store_destroy (&store);
}

Test (store_s3, missing_key_is_one)
{
    store_s3_config_t config = s_config ();
    store_t *store = s_store (&config);
    uint8_t *data = NULL;
    size_t size = 0;
    cr_assert_eq (store_get (store, "t/s/2026/11/27/missing", &data, &size), 1,
                  "%s", store_error (store));
    cr_assert_null (data);
    cr_assert_eq (store_head (store, "t/s/2026/11/27/missing", &size), 1, "%s", store_error (store));
    store_destroy (&store);
}

Test (store_s3, delete_removes_and_a_missing_object_is_already_gone)
{
    store_s3_config_t config = s_config ();
    store_t *store = s_store (&config);
    s_put (store, "t/s/2026/11/27/r-del", "sealed bytes", 12);
    s_put (store, "t/s/2026/11/27/r-keep", "kept", 4);
    cr_assert_eq (store_delete (store, "t/s/2026/11/27/r-del"), 0, "%s", store_error (store));
    cr_assert_eq (store_head (store, "t/s/2026/11/27/r-del", NULL), 1, "gone");
    cr_assert_eq (store_head (store, "t/s/2026/11/27/r-keep", NULL), 0, "the other stays");
    cr_assert_eq (store_delete (store, "t/s/2026/11/27/r-del"), 0, "twice is fine: %s",
                  store_error (store));
    cr_assert_eq (store_delete (store, "../t/s"), -1, "a key store_key could not build");
    store_destroy (&store);
}

Test (store_s3, put_replaces)
{
    store_s3_config_t config = s_config ();
    store_t *store = s_store (&config);
    const char *key = "tenant-a/prod/2026/11/27/r-0001";
    s_put (store, key, "first version", 13);
    s_put (store, key, "replayed", 8);
    s_expect (store, key, "replayed", 8);
    store_destroy (&store);
}

Test (store_s3, key_with_percent_is_its_own_object)
{
    store_s3_config_t config = s_config ();
    store_t *store = s_store (&config);
    char *encoded = store_key ("t", "a/b", 1795773600000000LL, "100%");
    cr_assert_str_eq (encoded, "t/a%2Fb/2026/11/27/100%25");
    s_put (store, encoded, "encoded", 7);
    s_put (store, "t/a/b/2026/11/27/100%25", "nested", 6);
    s_put (store, "t/a%2Fb/2026/11/27/100%2525", "twice", 5);
    s_expect (store, encoded, "encoded", 7);
    s_expect (store, "t/a/b/2026/11/27/100%25", "nested", 6);
    s_expect (store, "t/a%2Fb/2026/11/27/100%2525", "twice", 5);
    uint8_t *data;
    size_t size;
    cr_assert_eq (store_get (store, "t/a%2Fb/2026/11/27/100%", &data, &size), 1);
    //  The object name in the bucket is the key verbatim, after the prefix.
    char *name;
    cr_assert (asprintf (&name, "%s/%s", config.prefix, encoded) > 0);
    store_s3_config_t bare = config;
    bare.prefix = NULL;
    store_t *whole_bucket = s_store (&bare);
    s_expect (whole_bucket, name, "encoded", 7);
    store_destroy (&whole_bucket);
    free (name);
    free (encoded);
    store_destroy (&store);
}

Test (store_s3, prefix_keeps_objects_apart)
{
    store_s3_config_t config = s_config ();
    store_t *store = s_store (&config);
    char other_prefix [80];
    snprintf (other_prefix, sizeof other_prefix, "%s/other/", config.prefix);
    store_s3_config_t other_config = config;
    other_config.prefix = other_prefix;
    store_t *other = s_store (&other_config);
    s_put (store, "t/s/2026/11/27/r", "mine", 4);
    uint8_t *data;
    size_t size;
    cr_assert_eq (store_get (other, "t/s/2026/11/27/r", &data, &size), 1);
    s_put (other, "t/s/2026/11/27/r", "theirs", 6);
    s_expect (store, "t/s/2026/11/27/r", "mine", 4);
    s_expect (store, "other/t/s/2026/11/27/r", "theirs", 6);
    store_destroy (&other);
    store_destroy (&store);
}

Test (store_s3, wrong_secret_key_is_refused)
{
    store_s3_config_t config = s_config ();
    config.secret_key = "not-the-secret-key";
    store_t *store = s_store (&config);
    cr_assert_eq (store_put (store, "t/s/2026/11/27/r", (const uint8_t *) "x", 1), -1);
    cr_assert_str_eq (store_error (store), "s3 PUT t/s/2026/11/27/r: HTTP 403 SignatureDoesNotMatch");
    uint8_t *data;
    size_t size;
    cr_assert_eq (store_get (store, "t/s/2026/11/27/r", &data, &size), -1);
    cr_assert (strstr (store_error (store), "HTTP 403 SignatureDoesNotMatch"), "%s", store_error (store));
    cr_assert_eq (store_head (store, "t/s/2026/11/27/r", &size), -1);
    cr_assert (strstr (store_error (store), "s3 HEAD t/s/2026/11/27/r: HTTP 403"), "%s", store_error (store));
    store_destroy (&store);
    //  An unknown access key is refused too.
    config = s_config ();
    config.access_key = "NOSUCHKEY";
    store = s_store (&config);
    cr_assert_eq (store_put (store, "t/s/2026/11/27/r", (const uint8_t *) "x", 1), -1);
    cr_assert_str_eq (store_error (store), "s3 PUT t/s/2026/11/27/r: HTTP 403 InvalidAccessKeyId");
    store_destroy (&store);
}

Test (store_s3, missing_bucket_is_an_error_not_a_missing_object)
{
    store_s3_config_t config = s_config ();
    config.bucket = "no-such-bucket";
    store_t *store = s_store (&config);
    uint8_t *data;
    size_t size;
    cr_assert_eq (store_get (store, "t/s/2026/11/27/r", &data, &size), -1);
    cr_assert_str_eq (store_error (store), "s3 GET t/s/2026/11/27/r: HTTP 404 NoSuchBucket");
    cr_assert_eq (store_put (store, "t/s/2026/11/27/r", (const uint8_t *) "x", 1), -1);
    cr_assert_str_eq (store_error (store), "s3 PUT t/s/2026/11/27/r: HTTP 404 NoSuchBucket");
    store_destroy (&store);
}

Test (store_s3, stopped_server_is_unreachable_then_back)
{
    store_s3_config_t config = s_config ();
    const char *stop = s_env ("DRIFT_TEST_S3_STOP");
    const char *start = s_env ("DRIFT_TEST_S3_START");
    store_t *store = s_store (&config);
    s_put (store, "t/s/2026/11/27/before", "kept", 4);
    cr_assert_eq (system (stop), 0, "%s", stop);
    int rc = store_put (store, "t/s/2026/11/27/during", (const uint8_t *) "x", 1);
    //  Start it again before asserting, so a failure leaves it running.
    char error [512];
    snprintf (error, sizeof error, "%s", store_error (store));
    cr_assert_eq (system (start), 0, "%s", start);
    cr_assert_eq (rc, -1);
    char expected [256];
    snprintf (expected, sizeof expected, "s3 PUT t/s/2026/11/27/during: cannot reach %s: ", config.endpoint);
    cr_assert (strncmp (error, expected, strlen (expected)) == 0, "%s", error);
    cr_assert (strstr (error, "onnect"), "%s", error);
    //  The same store, its kept-alive connection gone, works again.
    s_put (store, "t/s/2026/11/27/after", "back", 4);
    s_expect (store, "t/s/2026/11/27/after", "back", 4);
    s_expect (store, "t/s/2026/11/27/before", "kept", 4);
    store_destroy (&store);
}

Test (store_s3, server_that_never_answers_times_out)
{
    //  A listening socket that never accepts: the connection is made (the
    //  kernel's backlog) but no answer ever comes.
    int listener = socket (AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in address = { .sin_family = AF_INET };
    address.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
    cr_assert (bind (listener, (struct sockaddr *) &address, sizeof address) == 0);
    cr_assert (listen (listener, 4) == 0);
    socklen_t length = sizeof address;
    cr_assert (getsockname (listener, (struct sockaddr *) &address, &length) == 0);
    char endpoint [64];
    snprintf (endpoint, sizeof endpoint, "http://127.0.0.1:%d", ntohs (address.sin_port));
    store_s3_config_t config = {
        .endpoint = endpoint, .region = "us-east-1", .bucket = "drift-test",
        .access_key = "AK", .secret_key = "SK", .path_style = true, .timeout_ms = 300
    };
    store_t *store = s_store (&config);
    uint8_t *data;
    size_t size;
    cr_assert_eq (store_get (store, "t/s/2026/11/27/r", &data, &size), -1);
    cr_assert (strstr (store_error (store), "cannot reach"), "%s", store_error (store));
    cr_assert (strstr (store_error (store), "imed out"), "%s", store_error (store));
    store_destroy (&store);
    close (listener);
}

Test (store_s3, object_over_one_gib_is_refused)
{
    //  A one-shot server that answers any request with a 2 GiB object.
    int listener = socket (AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in address = { .sin_family = AF_INET };
    address.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
    cr_assert (bind (listener, (struct sockaddr *) &address, sizeof address) == 0);
    cr_assert (listen (listener, 4) == 0);
    socklen_t length = sizeof address;
    cr_assert (getsockname (listener, (struct sockaddr *) &address, &length) == 0);
    pid_t child = fork ();
    cr_assert (child >= 0);
    if (child == 0) {
        int connection = accept (listener, NULL, NULL);
        char request [4096];
        if (read (connection, request, sizeof request) > 0) {
            const char *answer = "HTTP/1.1 200 OK\r\nContent-Length: 2147483648\r\n\r\n0123456789";
            if (write (connection, answer, strlen (answer)) < 0)
                _exit (1);
        }
        sleep (2);
        _exit (0);
    }
    close (listener);
    char endpoint [64];
    snprintf (endpoint, sizeof endpoint, "http://127.0.0.1:%d", ntohs (address.sin_port));
    store_s3_config_t config = {
        .endpoint = endpoint, .region = "us-east-1", .bucket = "drift-test",
        .access_key = "AK", .secret_key = "SK", .path_style = true, .timeout_ms = 1000
    };
    store_t *store = s_store (&config);
    uint8_t *data = NULL;
    size_t size;
    cr_assert_eq (store_get (store, "t/s/2026/11/27/huge", &data, &size), -1);
    cr_assert_null (data);
    cr_assert_str_eq (store_error (store),
                      "s3 GET t/s/2026/11/27/huge: the object is larger than 1073741824 bytes: refused");
    store_destroy (&store);
    kill (child, SIGKILL);
    waitpid (child, NULL, 0);
}

Test (store_s3, bad_settings_are_refused_without_the_secret)
{
    store_s3_config_t good = {
        .endpoint = "https://s3.eu-west-1.amazonaws.com", .region = "eu-west-1",
        .bucket = "drift-archive", .access_key = "AKIAEXAMPLE", .secret_key = "TOPSECRET",
        .path_style = false, .prefix = "reports/",
    };
    char error [256];
    store_t *store = store_new_s3 (&good, error, sizeof error);
    cr_assert (store, "%s", error);
    store_destroy (&store);
    struct { store_s3_config_t config; const char *reason; } cases [] = {
        { good, "endpoint" }, { good, "endpoint" }, { good, "endpoint" }, { good, "endpoint" },
        { good, "bucket" }, { good, "bucket" }, { good, "region" },
        { good, "access key" }, { good, "secret key" }, { good, "prefix" }, { good, "timeout" },
    };
    cases [0].config.endpoint = NULL;
    cases [1].config.endpoint = "s3.amazonaws.com";
    cases [2].config.endpoint = "https://s3.amazonaws.com/bucket";
    cases [3].config.endpoint = "http://user@host:9000";
    cases [4].config.bucket = "ab";
    cases [5].config.bucket = "Drift";
    cases [6].config.region = "";
    cases [7].config.access_key = "";
    cases [8].config.secret_key = NULL;
    cases [9].config.prefix = "../up";
    cases [10].config.timeout_ms = -1;
    for (size_t index = 0; index < sizeof cases / sizeof cases [0]; index++) {
        error [0] = 0;
        cr_assert_null (store_new_s3 (&cases [index].config, error, sizeof error), "case %zu", index);
        cr_assert (strstr (error, cases [index].reason), "case %zu: %s", index, error);
        cr_assert_null (strstr (error, "TOPSECRET"), "case %zu: %s", index, error);
    }
    cr_assert_null (store_new_s3 (NULL, error, sizeof error));
}

//  --------------------------------------------------------------------------
//  store_from_config

static const config_option_t s_options [] = {
    CONFIG_COMMON_OPTIONS,
    STORE_CONFIG_OPTIONS,
    CONFIG_END
};

//  Settings from a command line (NULL-terminated arguments after the role).
static config_t *
s_load (const char *first, ...)
{
    char *argv [32] = { "store-test" };
    int argc = 1;
    va_list arguments;
    va_start (arguments, first);
    for (const char *argument = first; argument && argc < 31; argument = va_arg (arguments, const char *))
        argv [argc++] = (char *) argument;
    va_end (arguments);
    int exit_code = 0;
    config_t *config = config_load ("store-test", "test", s_options, argc, argv, &exit_code);
    cr_assert (config, "config_load failed (%d)", exit_code);
    return config;
}

static char *
s_secret_file (mode_t mode, const char *content)
{
    char *path;
    cr_assert (asprintf (&path, "%s/s3-secret", s_dir) > 0);
    unlink (path);
    int fd = open (path, O_WRONLY | O_CREAT | O_EXCL, 0600);
    cr_assert (fd != -1);
    cr_assert (write (fd, content, strlen (content)) == (ssize_t) strlen (content));
    close (fd);
    cr_assert (chmod (path, mode) == 0);
    return path;
}

Test (store_s3, from_config_local)
{
    char *root;
    cr_assert (asprintf (&root, "%s/objects", s_dir) > 0);
    config_t *config = s_load ("--store-root", root, NULL);
    cr_assert_str_eq (config_get (config, "store"), "local");
    char error [256];
    store_t *store = store_from_config (config, error, sizeof error);
    cr_assert (store, "%s", error);
    s_put (store, "t/s/2026/11/27/r", "local", 5);
    char *path;
    cr_assert (asprintf (&path, "%s/t/s/2026/11/27/r", root) > 0);
    cr_assert (access (path, R_OK) == 0);
    store_destroy (&store);
    config_destroy (&config);
    config = s_load ("--store", "tape", NULL);
    cr_assert_null (store_from_config (config, error, sizeof error));
    cr_assert (strstr (error, "local or s3"), "%s", error);
    config_destroy (&config);
    free (path);
    free (root);
}

Test (store_s3, from_config_s3_with_a_secret_key_file)
{
    store_s3_config_t settings = s_config ();
    char *secret;
    cr_assert (asprintf (&secret, "%s\n", settings.secret_key) > 0);
    char *path = s_secret_file (0600, secret);
    config_t *config = s_load ("--store", "s3", "--s3-endpoint", settings.endpoint,
                               "--s3-bucket", settings.bucket, "--s3-access-key", settings.access_key,
                               "--s3-secret-key-file", path, "--s3-prefix", settings.prefix, NULL);
    char error [256];
    store_t *store = store_from_config (config, error, sizeof error);
    cr_assert (store, "%s", error);
    //  Signed with the secret minus its newline, or the server would refuse.
    s_put (store, "t/s/2026/11/27/r", "over s3", 7);
    store_t *direct = s_store (&settings);
    s_expect (direct, "t/s/2026/11/27/r", "over s3", 7);
    store_destroy (&direct);
    store_destroy (&store);
    //  Readable by group or others: refused, naming the file and the fix.
    cr_assert (chmod (path, 0644) == 0);
    cr_assert_null (store_from_config (config, error, sizeof error));
    cr_assert (strstr (error, "mode 0644"), "%s", error);
    cr_assert (strstr (error, "chmod 600"), "%s", error);
    cr_assert_null (strstr (error, settings.secret_key + 1), "%s", error);
    cr_assert (chmod (path, 0640) == 0);
    cr_assert_null (store_from_config (config, error, sizeof error));
    config_destroy (&config);
    free (path);
    free (secret);
}

Test (store_s3, from_config_s3_with_keys_from_the_environment)
{
    store_s3_config_t settings = s_config ();
    cr_assert (setenv ("DRIFT_S3_ACCESS_KEY", settings.access_key, 1) == 0);
    cr_assert (unsetenv ("DRIFT_S3_SECRET_KEY") == 0);
    config_t *config = s_load ("--store", "s3", "--s3-endpoint", settings.endpoint,
                               "--s3-bucket", settings.bucket, "--s3-prefix", settings.prefix, NULL);
    cr_assert_str_eq (config_get (config, "s3-access-key"), settings.access_key);
    char error [256];
    cr_assert_null (store_from_config (config, error, sizeof error));
    cr_assert (strstr (error, "no secret key"), "%s", error);
    cr_assert (setenv ("DRIFT_S3_SECRET_KEY", settings.secret_key, 1) == 0);
    store_t *store = store_from_config (config, error, sizeof error);
    cr_assert (store, "%s", error);
    s_put (store, "t/s/2026/11/27/env", "env", 3);
    s_expect (store, "t/s/2026/11/27/env", "env", 3);
    store_destroy (&store);
    cr_assert (setenv ("DRIFT_S3_SECRET_KEY", "wrong", 1) == 0);
    store = store_from_config (config, error, sizeof error);
    cr_assert (store, "%s", error);
    cr_assert_eq (store_put (store, "t/s/2026/11/27/env", (const uint8_t *) "x", 1), -1);
    cr_assert (strstr (store_error (store), "SignatureDoesNotMatch"), "%s", store_error (store));
    store_destroy (&store);
    unsetenv ("DRIFT_S3_SECRET_KEY");
    unsetenv ("DRIFT_S3_ACCESS_KEY");
    config_destroy (&config);
}
