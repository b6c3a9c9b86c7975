/*  seal: AES-256-GCM sealing of raw reports as lib/seal.h promises: a round
    trip, every region of a blob (magic, key id, nonce, body, tag) refused
    once altered, a wrong key, a wrong associated string, rotation (old blobs
    still open, new ones sealed with the new key), and the key files that
    must be refused: too wide a mode, another owner, the wrong length,
    missing.
*/
#define _GNU_SOURCE                 // asprintf
#include "../lib/seal.h"

#include <criterion/criterion.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char s_dir [256];            // this test's scratch directory
static char s_error [512];          // the last refusal

static void
s_setup (void)
{
    const char *var = getenv ("DRIFT_TEST_VAR_DIR");
    snprintf (s_dir, sizeof s_dir, "%s/drift-test-seal-XXXXXX", var && *var ? var : "/tmp");
    cr_assert (mkdtemp (s_dir));
    cr_assert (sodium_init () >= 0);
    s_error [0] = 0;
}

static void
s_teardown (void)
{
    char *command;
    cr_assert (asprintf (&command, "rm -rf '%s'", s_dir) > 0);
    cr_assert (system (command) == 0);
    free (command);
}

TestSuite (seal, .init = s_setup, .fini = s_teardown);

//  Write size bytes to name in the scratch directory with mode; its path.
static char *
s_file (const char *name, const void *data, size_t size, mode_t mode)
{
    char *path;
    cr_assert (asprintf (&path, "%s/%s", s_dir, name) > 0);
    int fd = open (path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    cr_assert (fd != -1);
    cr_assert (write (fd, data, size) == (ssize_t) size);
    close (fd);
    cr_assert (chmod (path, mode) == 0);
    return path;
}

//  A new random key file, raw bytes.
static char *
s_key (const char *name)
{
    uint8_t key [SEAL_KEY_SIZE];
    randombytes_buf (key, sizeof key);
    char *path = s_file (name, key, sizeof key, 0600);
    sodium_memzero (key, sizeof key);
    return path;
}

static seal_keyring_t *
s_load (const char *current, const char *old_dir)
{
    seal_keyring_t *keyring = seal_keyring_load (current, old_dir, s_error, sizeof s_error);
    cr_assert (keyring, "keyring refused: %s", s_error);
    return keyring;
}

static const char s_report [] = "{\"format_version\":\"1.2\",\"resource_drift\":[]}";
#define ASSOCIATED "tenant-a/report-0001"

static void
s_seal (seal_keyring_t *keyring, const char *associated, uint8_t **sealed, size_t *size)
{
    cr_assert_eq (seal_seal (keyring, (const uint8_t *) s_report, strlen (s_report),
                             associated, sealed, size), 0);
}

//  Whether the blob opens with associated, and to the report.
static bool
s_opens (seal_keyring_t *keyring, const uint8_t *blob, size_t size, const char *associated)
{
    uint8_t *plain = NULL;
    size_t plain_size = 0;
    s_error [0] = 0;
    if (seal_open (keyring, blob, size, associated, &plain, &plain_size,
                   s_error, sizeof s_error))
        return false;
    cr_assert_eq (plain_size, strlen (s_report));
    cr_assert_eq (memcmp (plain, s_report, plain_size), 0);
    free (plain);
    return true;
}

Test (seal, round_trip_restores_the_report)
{
    char *path = s_key ("current.key");
    seal_keyring_t *keyring = s_load (path, NULL);
    cr_assert_eq (seal_keyring_size (keyring), 1);
    uint8_t *sealed;
    size_t size;
    s_seal (keyring, ASSOCIATED, &sealed, &size);
    cr_assert_eq (size, strlen (s_report) + SEAL_OVERHEAD);
    cr_assert_eq (memcmp (sealed, "DRS1", 4), 0);
    cr_assert (memmem (sealed, size, "resource_drift", 14) == NULL, "plain text in the blob");
    char id [9];
    cr_assert_eq (seal_blob_key_id (sealed, size, id), 0);
    cr_assert_str_eq (id, seal_keyring_current_id (keyring));
    cr_assert (s_opens (keyring, sealed, size, ASSOCIATED), "%s", s_error);
    //  An empty report seals too, and associated NULL is the same as "".
    uint8_t *empty;
    size_t empty_size;
    cr_assert_eq (seal_seal (keyring, (const uint8_t *) "", 0, NULL, &empty, &empty_size), 0);
    uint8_t *plain;
    size_t plain_size;
    cr_assert_eq (seal_open (keyring, empty, empty_size, "", &plain, &plain_size,
                             s_error, sizeof s_error), 0, "%s", s_error);
    cr_assert_eq (plain_size, 0);
    free (plain);
    free (empty);
    free (sealed);
    seal_keyring_destroy (&keyring);
    cr_assert_null (keyring);
    seal_keyring_destroy (&keyring);
    free (path);
}

Test (seal, two_seals_of_one_report_differ)
{
    char *path = s_key ("current.key");
    seal_keyring_t *keyring = s_load (path, NULL);
    uint8_t *first, *second;
    size_t first_size, second_size;
    s_seal (keyring, ASSOCIATED, &first, &first_size);
    s_seal (keyring, ASSOCIATED, &second, &second_size);
    cr_assert_eq (first_size, second_size);
    cr_assert_neq (memcmp (first + 8, second + 8, SEAL_NONCE_SIZE), 0, "nonce repeated");
    free (first);
    free (second);
    seal_keyring_destroy (&keyring);
    free (path);
}

Test (seal, altered_byte_in_any_region_is_refused)
{
    char *path = s_key ("current.key");
    seal_keyring_t *keyring = s_load (path, NULL);
    uint8_t *sealed;
    size_t size;
    s_seal (keyring, ASSOCIATED, &sealed, &size);
    //  Every byte of the blob: magic, key id, nonce, body and tag.
    for (size_t at = 0; at < size; at++) {
        sealed [at] ^= 0x01;
        cr_assert_not (s_opens (keyring, sealed, size, ASSOCIATED),
                       "blob altered at byte %zu still opens", at);
        const char *expected = at < 4 ? "bad magic"
                             : at < 8 ? "which this keyring does not hold"
                                      : "does not authenticate";
        cr_assert (strstr (s_error, expected), "byte %zu: \"%s\"", at, s_error);
        sealed [at] ^= 0x01;
    }
    cr_assert (s_opens (keyring, sealed, size, ASSOCIATED), "%s", s_error);
    //  Cut short: the tag is gone, or the header is.
    cr_assert_not (s_opens (keyring, sealed, size - 1, ASSOCIATED));
    cr_assert_not (s_opens (keyring, sealed, SEAL_OVERHEAD - 1, ASSOCIATED));
    cr_assert (strstr (s_error, "shorter"), "%s", s_error);
    free (sealed);
    seal_keyring_destroy (&keyring);
    free (path);
}

Test (seal, wrong_key_is_refused)
{
    char *first_path = s_key ("first.key");
    char *second_path = s_key ("second.key");
    seal_keyring_t *first = s_load (first_path, NULL);
    seal_keyring_t *second = s_load (second_path, NULL);
    cr_assert_str_neq (seal_keyring_current_id (first), seal_keyring_current_id (second));
    uint8_t *sealed;
    size_t size;
    s_seal (first, ASSOCIATED, &sealed, &size);
    cr_assert_not (s_opens (second, sealed, size, ASSOCIATED));
    char expected [128];
    snprintf (expected, sizeof expected, "sealed with key %s, which this keyring does not hold",
              seal_keyring_current_id (first));
    cr_assert (strstr (s_error, expected), "%s", s_error);
    //  A blob relabelled with the second key's id still fails: the id is
    //  in the authenticated header, and the key is wrong anyway.
    uint8_t *second_sealed;
    size_t second_size;
    s_seal (second, ASSOCIATED, &second_sealed, &second_size);
    memcpy (sealed + 4, second_sealed + 4, SEAL_KEY_ID_SIZE);
    cr_assert_not (s_opens (second, sealed, size, ASSOCIATED));
    cr_assert (strstr (s_error, "does not authenticate"), "%s", s_error);
    free (second_sealed);
    free (sealed);
    seal_keyring_destroy (&first);
    seal_keyring_destroy (&second);
    free (first_path);
    free (second_path);
}

Test (seal, wrong_associated_data_is_refused)
{
    char *path = s_key ("current.key");
    seal_keyring_t *keyring = s_load (path, NULL);
    uint8_t *sealed;
    size_t size;
    s_seal (keyring, ASSOCIATED, &sealed, &size);
    cr_assert_not (s_opens (keyring, sealed, size, "tenant-b/report-0001"));
    cr_assert (strstr (s_error, "does not authenticate"), "%s", s_error);
    cr_assert_not (s_opens (keyring, sealed, size, "tenant-a/report-0002"));
    cr_assert_not (s_opens (keyring, sealed, size, NULL));
    cr_assert_not (s_opens (keyring, sealed, size, ASSOCIATED "x"));
    cr_assert (s_opens (keyring, sealed, size, ASSOCIATED), "%s", s_error);
    free (sealed);
    seal_keyring_destroy (&keyring);
    free (path);
}

Test (seal, rotation_keeps_old_blobs_readable_and_seals_with_the_new_key)
{
    char *old_dir;
    cr_assert (asprintf (&old_dir, "%s/old", s_dir) > 0);
    cr_assert (mkdir (old_dir, 0700) == 0);
    char *old_path = s_key ("old/2025.key");
    seal_keyring_t *before = s_load (old_path, NULL);
    uint8_t *old_blob;
    size_t old_size;
    s_seal (before, ASSOCIATED, &old_blob, &old_size);
    char old_id [9];
    snprintf (old_id, sizeof old_id, "%s", seal_keyring_current_id (before));
    seal_keyring_destroy (&before);

    //  A new current key; the old one moves to old/ beside a file that is
    //  not a key (not *.key), which is not read.
    char *new_path = s_key ("current.key");
    char *readme = s_file ("old/README", "not a key\n", 10, 0644);
    seal_keyring_t *after = s_load (new_path, old_dir);
    cr_assert_eq (seal_keyring_size (after), 2);
    cr_assert_str_neq (seal_keyring_current_id (after), old_id);
    cr_assert (s_opens (after, old_blob, old_size, ASSOCIATED), "%s", s_error);
    uint8_t *new_blob;
    size_t new_size;
    s_seal (after, ASSOCIATED, &new_blob, &new_size);
    char id [9];
    cr_assert_eq (seal_blob_key_id (new_blob, new_size, id), 0);
    cr_assert_str_eq (id, seal_keyring_current_id (after));
    cr_assert (s_opens (after, new_blob, new_size, ASSOCIATED), "%s", s_error);

    //  Without the old keys directory, the old blob names its missing key.
    seal_keyring_t *only_new = s_load (new_path, NULL);
    cr_assert_not (s_opens (only_new, old_blob, old_size, ASSOCIATED));
    cr_assert (strstr (s_error, old_id), "%s", s_error);

    //  The current key also kept in old/ (copied there ahead of the next
    //  rotation) is held once.
    char *copy;
    cr_assert (asprintf (&copy, "cp -p '%s' '%s/current.key'", new_path, old_dir) > 0);
    cr_assert (system (copy) == 0);
    seal_keyring_t *with_copy = s_load (new_path, old_dir);
    cr_assert_eq (seal_keyring_size (with_copy), 2);

    free (copy);
    seal_keyring_destroy (&with_copy);
    seal_keyring_destroy (&only_new);
    seal_keyring_destroy (&after);
    free (old_blob);
    free (new_blob);
    free (readme);
    free (old_path);
    free (new_path);
    free (old_dir);
}

Test (seal, key_file_readable_by_others_is_refused)
{
    uint8_t key [SEAL_KEY_SIZE] = { 1 };
    char *path = s_file ("wide.key", key, sizeof key, 0644);
    cr_assert_null (seal_keyring_load (path, NULL, s_error, sizeof s_error));
    cr_assert (strstr (s_error, path), "%s", s_error);
    cr_assert (strstr (s_error, "mode 0644"), "%s", s_error);
    cr_assert (chmod (path, 0640) == 0);
    cr_assert_null (seal_keyring_load (path, NULL, s_error, sizeof s_error));
    cr_assert (strstr (s_error, "mode 0640"), "%s", s_error);
    cr_assert (chmod (path, 0400) == 0);
    seal_keyring_t *keyring = s_load (path, NULL);
    seal_keyring_destroy (&keyring);
    free (path);
}

Test (seal, key_file_owned_by_another_user_is_refused)
{
    //  Only root can give a file away; as anyone else there is nothing to do.
    if (geteuid () != 0)
        cr_skip_test ("giving a key file to another user needs root");
    char *path = s_key ("theirs.key");
    cr_assert (chown (path, 65534, 65534) == 0);
    cr_assert_null (seal_keyring_load (path, NULL, s_error, sizeof s_error));
    cr_assert (strstr (s_error, path), "%s", s_error);
    cr_assert (strstr (s_error, "owned by uid 65534, not by the running user"), "%s", s_error);
    free (path);
}

Test (seal, old_key_readable_by_others_is_refused)
{
    char *current = s_key ("current.key");
    char *old_dir;
    cr_assert (asprintf (&old_dir, "%s/old", s_dir) > 0);
    cr_assert (mkdir (old_dir, 0700) == 0);
    uint8_t key [SEAL_KEY_SIZE] = { 2 };
    char *old = s_file ("old/2024.key", key, sizeof key, 0604);
    cr_assert_null (seal_keyring_load (current, old_dir, s_error, sizeof s_error));
    cr_assert (strstr (s_error, "old/2024.key has mode 0604"), "%s", s_error);
    free (old);
    free (old_dir);
    free (current);
}

Test (seal, key_file_of_wrong_length_is_refused)
{
    uint8_t bytes [80] = { 0 };
    size_t sizes [] = { 16, 31, 33, 63, 66, 80 };
    for (size_t index = 0; index < sizeof sizes / sizeof sizes [0]; index++) {
        char *path = s_file ("short.key", bytes, sizes [index], 0600);
        cr_assert_null (seal_keyring_load (path, NULL, s_error, sizeof s_error),
                        "%zu bytes accepted", sizes [index]);
        cr_assert (strstr (s_error, "a key is exactly 32 bytes"), "%s", s_error);
        cr_assert (strstr (s_error, path), "%s", s_error);
        free (path);
    }
    //  An empty file is refused by the secret reader, before its length.
    char *empty = s_file ("empty.key", bytes, 0, 0600);
    cr_assert_null (seal_keyring_load (empty, NULL, s_error, sizeof s_error));
    cr_assert (strstr (s_error, "is empty"), "%s", s_error);
    cr_assert (strstr (s_error, empty), "%s", s_error);
    free (empty);
    //  64 characters that are not all hex digits are refused too.
    char not_hex [65];
    memset (not_hex, 'g', 64);
    char *path = s_file ("nothex.key", not_hex, 64, 0600);
    cr_assert_null (seal_keyring_load (path, NULL, s_error, sizeof s_error));
    free (path);
    cr_assert_null (seal_keyring_load ("/nonexistent/drift.key", NULL, s_error, sizeof s_error));
    cr_assert (strstr (s_error, "/nonexistent/drift.key"), "%s", s_error);
}

Test (seal, hex_key_file_equals_its_raw_bytes)
{
    uint8_t key [SEAL_KEY_SIZE];
    randombytes_buf (key, sizeof key);
    char hex [SEAL_KEY_SIZE * 2 + 2];
    sodium_bin2hex (hex, sizeof hex, key, sizeof key);
    char *raw_path = s_file ("raw.key", key, sizeof key, 0600);
    char *hex_path = s_file ("hex.key", hex, 64, 0600);
    strcat (hex, "\n");
    char *line_path = s_file ("line.key", hex, 65, 0600);
    seal_keyring_t *raw = s_load (raw_path, NULL);
    seal_keyring_t *from_hex = s_load (hex_path, NULL);
    seal_keyring_t *from_line = s_load (line_path, NULL);
    cr_assert_str_eq (seal_keyring_current_id (raw), seal_keyring_current_id (from_hex));
    cr_assert_str_eq (seal_keyring_current_id (raw), seal_keyring_current_id (from_line));
    //  The id is the first 4 bytes of BLAKE2b (key), as seal.h says.
    uint8_t hash [crypto_generichash_BYTES];
    crypto_generichash (hash, sizeof hash, key, sizeof key, NULL, 0);
    char expected [9];
    sodium_bin2hex (expected, sizeof expected, hash, 4);
    cr_assert_str_eq (seal_keyring_current_id (raw), expected);
    uint8_t *sealed;
    size_t size;
    s_seal (from_line, ASSOCIATED, &sealed, &size);
    cr_assert (s_opens (raw, sealed, size, ASSOCIATED), "%s", s_error);
    free (sealed);
    seal_keyring_destroy (&raw);
    seal_keyring_destroy (&from_hex);
    seal_keyring_destroy (&from_line);
    free (raw_path);
    free (hex_path);
    free (line_path);
}
