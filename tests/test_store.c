/*  store: the object store's local backend as actors/archive/store.h promises: a round
    trip, overwriting a key (a replayed envelope) leaving one object with the
    new bytes, not found answered as such, keys built from hostile tenant,
    stack and report names landing under the root and nowhere else, keys
    that store_key could not build refused, and a crash mid-write (a
    leftover temporary file) never seen as an object.
*/
#define _GNU_SOURCE                 // asprintf
#include "../actors/archive/store.h"

#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

//  2026-11-27 10:00:00 UTC in microseconds.
#define RECEIVED_US 1795773600000000LL

static char s_dir [256];            // this test's scratch directory
static char s_root [300];           // the store's root inside it

static void
s_setup (void)
{
    const char *var = getenv ("DRIFT_TEST_VAR_DIR");
    snprintf (s_dir, sizeof s_dir, "%s/drift-test-store-XXXXXX", var && *var ? var : "/tmp");
    cr_assert (mkdtemp (s_dir));
    snprintf (s_root, sizeof s_root, "%s/objects", s_dir);
}

static void
s_teardown (void)
{
    char *command;
    cr_assert (asprintf (&command, "rm -rf '%s'", s_dir) > 0);
    cr_assert (system (command) == 0);
    free (command);
}

TestSuite (store, .init = s_setup, .fini = s_teardown);

//  Count the regular files under path (recursively), and check each one's
//  real path starts with root.
static int
s_files_under (const char *path, const char *root)
{
    DIR *handle = opendir (path);
    cr_assert (handle, "cannot open %s", path);
    int count = 0;
    struct dirent *entry;
    while ((entry = readdir (handle))) {
        if (strcmp (entry->d_name, ".") == 0 || strcmp (entry->d_name, "..") == 0)
            continue;
        char *child;
        cr_assert (asprintf (&child, "%s/%s", path, entry->d_name) > 0);
        struct stat info;
        cr_assert (lstat (child, &info) == 0);
        char real [PATH_MAX];
        cr_assert (realpath (child, real));
        cr_assert (strncmp (real, root, strlen (root)) == 0, "%s is outside %s", real, root);
        if (S_ISDIR (info.st_mode))
            count += s_files_under (child, root);
        else
            count++;
        free (child);
    }
    closedir (handle);
    return count;
}

static void
s_put (store_t *store, const char *key, const char *text)
{
    cr_assert_eq (store_put (store, key, (const uint8_t *) text, strlen (text)), 0,
                  "put %s: %s", key, store_error (store));
}

static void
s_expect (store_t *store, const char *key, const char *text)
{
    uint8_t *data = NULL;
    size_t size = 0;
    cr_assert_eq (store_get (store, key, &data, &size), 0, "get %s: %s", key, store_error (store));
    cr_assert_eq (size, strlen (text));
    cr_assert_str_eq ((const char *) data, text);
    free (data);
}

Test (store, key_is_tenant_stack_date_report)
{
    char *key = store_key ("tenant-a", "prod.network", RECEIVED_US, "r-0001");
    cr_assert_str_eq (key, "tenant-a/prod.network/2026/11/27/r-0001");
    free (key);
    //  Midnight UTC belongs to the new day.
    key = store_key ("t", "s", 1767225600000000LL, "r");
    cr_assert_str_eq (key, "t/s/2026/01/01/r");
    free (key);
    key = store_key ("t", "s", 1767225599999999LL, "r");
    cr_assert_str_eq (key, "t/s/2025/12/31/r");
    free (key);
}

Test (store, free_text_is_percent_encoded_into_one_component)
{
    struct { const char *stack; const char *component; } cases [] = {
        { "../../etc", "%2E.%2F..%2Fetc" },
        { "a/b", "a%2Fb" },
        { "\n", "%0A" },
        { "prod eu", "prod%20eu" },
        { "100%", "100%25" },
        { ".hidden", "%2Ehidden" },
        { "...", "%2E.." },
        { "caf\xc3\xa9", "caf%C3%A9" },
    };
    for (size_t index = 0; index < sizeof cases / sizeof cases [0]; index++) {
        char *key = store_key ("t", cases [index].stack, RECEIVED_US, "r");
        char expected [128];
        snprintf (expected, sizeof expected, "t/%s/2026/11/27/r", cases [index].component);
        cr_assert_str_eq (key, expected);
        cr_assert (store_valid_key (key), "%s", key);
        free (key);
    }
}

Test (store, empty_and_dot_components_are_refused)
{
    const char *refused [] = { "", ".", ".." };
    for (size_t index = 0; index < sizeof refused / sizeof refused [0]; index++) {
        cr_assert_null (store_key (refused [index], "s", RECEIVED_US, "r"));
        cr_assert_null (store_key ("t", refused [index], RECEIVED_US, "r"));
        cr_assert_null (store_key ("t", "s", RECEIVED_US, refused [index]));
    }
    cr_assert_null (store_key (NULL, "s", RECEIVED_US, "r"));
    cr_assert_null (store_key ("t", "s", -1, "r"));
}

Test (store, round_trip)
{
    store_t *store = store_new_local (s_root);
    cr_assert (store);
    char *key = store_key ("tenant-a", "prod", RECEIVED_US, "r-0001");
    s_put (store, key, "sealed bytes");
    s_expect (store, key, "sealed bytes");
    size_t size = 0;
    cr_assert_eq (store_head (store, key, &size), 0);
    cr_assert_eq (size, 12);
    cr_assert_eq (store_head (store, key, NULL), 0);
    //  Binary data with NULs, and an empty object.
    uint8_t binary [256];
    for (int index = 0; index < 256; index++)
        binary [index] = (uint8_t) index;
    cr_assert_eq (store_put (store, "t/s/2026/11/27/binary", binary, sizeof binary), 0);
    uint8_t *data;
    cr_assert_eq (store_get (store, "t/s/2026/11/27/binary", &data, &size), 0);
    cr_assert_eq (size, sizeof binary);
    cr_assert_eq (memcmp (data, binary, size), 0);
    free (data);
    s_put (store, "t/s/2026/11/27/empty", "");
    s_expect (store, "t/s/2026/11/27/empty", "");
    //  The object is a file under root at the key's path, private.
    char *path;
    cr_assert (asprintf (&path, "%s/%s", s_root, key) > 0);
    struct stat info;
    cr_assert (stat (path, &info) == 0);
    cr_assert (S_ISREG (info.st_mode));
    cr_assert (stat (s_root, &info) == 0);
    cr_assert_eq (info.st_mode & 0777, 0700);
    free (path);
    free (key);
    store_destroy (&store);
    cr_assert_null (store);
    store_destroy (&store);
}

Test (store, delete_removes_the_object_and_the_directories_it_leaves_empty)
{
    store_t *store = store_new_local (s_root);
    s_put (store, "t/s/2026/11/27/r-1", "one");
    s_put (store, "t/s/2026/11/28/r-2", "two");
    cr_assert_eq (store_delete (store, "t/s/2026/11/27/r-1"), 0, "%s", store_error (store));
    cr_assert_eq (store_head (store, "t/s/2026/11/27/r-1", NULL), 1);
    char *path;
    struct stat info;
    cr_assert (asprintf (&path, "%s/t/s/2026/11/27", s_root) > 0);
    cr_assert (stat (path, &info) == -1 && errno == ENOENT, "the empty day went: %s", path);
    free (path);
    cr_assert (asprintf (&path, "%s/t/s/2026/11", s_root) > 0);
    cr_assert (stat (path, &info) == 0, "the month still holds a day");
    free (path);
    s_expect (store, "t/s/2026/11/28/r-2", "two");
    //  Gone already, or never there: done.
    cr_assert_eq (store_delete (store, "t/s/2026/11/27/r-1"), 0, "%s", store_error (store));
    cr_assert_eq (store_delete (store, "x/y/2020/01/01/none"), 0, "%s", store_error (store));
    cr_assert_eq (store_delete (store, "t/../../etc/passwd"), -1, "refused key");
    //  The last object takes every directory with it, never the root.
    cr_assert_eq (store_delete (store, "t/s/2026/11/28/r-2"), 0);
    cr_assert (stat (s_root, &info) == 0 && S_ISDIR (info.st_mode));
    cr_assert (asprintf (&path, "%s/t", s_root) > 0);
    cr_assert (stat (path, &info) == -1 && errno == ENOENT);
    free (path);
    store_destroy (&store);
}

Test (store, overwrite_is_idempotent)
{
    store_t *store = store_new_local (s_root);
    const char *key = "tenant-a/prod/2026/11/27/r-0001";
    s_put (store, key, "first");
    s_put (store, key, "first");
    s_expect (store, key, "first");
    s_put (store, key, "replayed");
    s_expect (store, key, "replayed");
    char real [PATH_MAX];
    cr_assert (realpath (s_root, real));
    cr_assert_eq (s_files_under (s_root, real), 1, "one object, no temporaries");
    store_destroy (&store);
}

Test (store, not_found_is_one)
{
    store_t *store = store_new_local (s_root);
    uint8_t *data = NULL;
    size_t size = 0;
    cr_assert_eq (store_get (store, "t/s/2026/11/27/missing", &data, &size), 1);
    cr_assert_null (data);
    cr_assert_eq (store_head (store, "t/s/2026/11/27/missing", &size), 1);
    //  A key below an object (a directory that is a file) is not found.
    s_put (store, "t/s/2026/11/27/r", "x");
    cr_assert_eq (store_get (store, "t/s/2026/11/27/r/deeper", &data, &size), 1);
    //  A key that is a directory is an error, not an object.
    cr_assert_eq (store_get (store, "t/s/2026/11", &data, &size), -1);
    cr_assert (strstr (store_error (store), "not a regular file"), "%s", store_error (store));
    store_destroy (&store);
}

Test (store, hostile_names_stay_under_the_root)
{
    store_t *store = store_new_local (s_root);
    const char *hostile [] = { "../../etc", "a/b", "\n", "..", "/", "/etc/passwd",
                               "..\\..", "%2e%2e", "\x01\x7f", "a/../../b" };
    size_t count = sizeof hostile / sizeof hostile [0];
    int stored = 0;
    for (size_t index = 0; index < count; index++) {
        //  As the stack, the tenant and the report id in turn.
        char *keys [3] = {
            store_key ("t", hostile [index], RECEIVED_US, "r"),
            store_key (hostile [index], "s", RECEIVED_US, "r"),
            store_key ("t", "s", RECEIVED_US, hostile [index]),
        };
        for (int which = 0; which < 3; which++) {
            if (!keys [which])
                continue;       // refused: "..", never a key
            s_put (store, keys [which], hostile [index]);
            s_expect (store, keys [which], hostile [index]);
            stored++;
            free (keys [which]);
        }
    }
    cr_assert_eq (stored, 3 * (int) count - 3, "only \"..\" is refused");
    char real [PATH_MAX];
    cr_assert (realpath (s_root, real));
    //  Every object landed under root, and nothing escaped beside it.
    cr_assert_eq (s_files_under (s_root, real), stored);
    char dir_real [PATH_MAX];
    cr_assert (realpath (s_dir, dir_real));
    cr_assert_eq (s_files_under (s_dir, dir_real), stored);
    //  An empty stack is refused outright.
    cr_assert_null (store_key ("t", "", RECEIVED_US, "r"));
    store_destroy (&store);
}

Test (store, keys_store_key_could_not_build_are_refused)
{
    store_t *store = store_new_local (s_root);
    const char *refused [] = { "", "/t/s/r", "t//r", "t/s/", "../x", "t/../x", "t/./x",
                               "t/.tmp-abc", "t/s\n", "t/s r", "t\\s", NULL };
    uint8_t *data;
    size_t size;
    for (const char **key = refused; *key; key++) {
        cr_assert_not (store_valid_key (*key), "\"%s\" valid", *key);
        cr_assert_eq (store_put (store, *key, (const uint8_t *) "x", 1), -1, "%s", *key);
        cr_assert (strstr (store_error (store), "refused object key"));
        cr_assert_eq (store_get (store, *key, &data, &size), -1);
        cr_assert_eq (store_head (store, *key, &size), -1);
    }
    cr_assert_not (store_valid_key (NULL));
    char real [PATH_MAX];
    cr_assert (realpath (s_dir, real));
    cr_assert_eq (s_files_under (s_dir, real), 0);
    store_destroy (&store);
}

Test (store, leftover_temporary_is_never_an_object)
{
    store_t *store = store_new_local (s_root);
    const char *key = "tenant-a/prod/2026/11/27/r-0001";
    s_put (store, key, "complete");
    //  A crash between write and rename leaves a temporary beside the
    //  object, as store_put names them; half of a newer version inside.
    char *temporary;
    cr_assert (asprintf (&temporary, "%s/tenant-a/prod/2026/11/27/.tmp-Ab12Cd", s_root) > 0);
    int fd = open (temporary, O_WRONLY | O_CREAT | O_EXCL, 0600);
    cr_assert (fd != -1);
    cr_assert (write (fd, "compl", 5) == 5);
    close (fd);
    s_expect (store, key, "complete");
    uint8_t *data;
    size_t size;
    cr_assert_eq (store_get (store, "tenant-a/prod/2026/11/27/.tmp-Ab12Cd", &data, &size), -1);
    cr_assert_eq (store_head (store, "tenant-a/prod/2026/11/27/.tmp-Ab12Cd", &size), -1);
    //  No report id can name it either: a leading dot is encoded.
    char *named = store_key ("tenant-a", "prod", RECEIVED_US, ".tmp-Ab12Cd");
    cr_assert_str_eq (named, "tenant-a/prod/2026/11/27/%2Etmp-Ab12Cd");
    cr_assert_eq (store_get (store, named, &data, &size), 1);
    //  A crash before the first rename: no object at all, only the temporary.
    const char *unwritten = "tenant-a/prod/2026/11/27/r-0002";
    char *other;
    cr_assert (asprintf (&other, "%s/tenant-a/prod/2026/11/27/.tmp-Zz99Yy", s_root) > 0);
    fd = open (other, O_WRONLY | O_CREAT | O_EXCL, 0600);
    cr_assert (fd != -1);
    close (fd);
    cr_assert_eq (store_head (store, unwritten, &size), 1);
    cr_assert_eq (store_get (store, unwritten, &data, &size), 1);
    //  Then the retried put completes, the leftovers untouched.
    s_put (store, unwritten, "retried");
    s_expect (store, unwritten, "retried");
    free (other);
    free (named);
    free (temporary);
    store_destroy (&store);
}

Test (store, root_that_is_a_file_is_refused)
{
    int fd = open (s_root, O_WRONLY | O_CREAT, 0600);
    cr_assert (fd != -1);
    close (fd);
    cr_assert_null (store_new_local (s_root));
    cr_assert_null (store_new_local (""));
}

Test (store, lazy_puts_are_objects_at_once_and_one_sync_makes_them_durable)
{
    store_t *store = store_new_local (s_root);
    cr_assert (store);
    const char *keys [] = { "t/s/2026/11/27/a", "t/s/2026/11/27/b", "t/other/2026/11/28/c" };
    for (int i = 0; i < 3; i++)
        cr_assert_eq (store_put_lazy (store, keys [i], (const uint8_t *) keys [i],
                                      strlen (keys [i])), 0, "%s", store_error (store));
    for (int i = 0; i < 3; i++)
        s_expect (store, keys [i], keys [i]);
    cr_assert_eq (store_sync (store), 0, "%s", store_error (store));
    //  A lazy put replaces like a put; keys are checked the same way.
    cr_assert_eq (store_put_lazy (store, keys [0], (const uint8_t *) "new", 3), 0);
    s_expect (store, keys [0], "new");
    cr_assert_eq (store_put_lazy (store, "../escape", (const uint8_t *) "x", 1), -1);
    cr_assert_eq (s_files_under (s_root, s_root), 3, "no temporary left behind");
    store_destroy (&store);
}
