/*  seal: AES-256-GCM sealing of raw reports under a keyring; see seal.h. */
#include "seal.h"
#include "secret.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

//  More bytes than any valid key file: a longer file is refused without
//  reading it all (secret_read's cap; one more byte is the NUL).
#define SEAL_FILE_MAX 80

typedef struct {
    uint8_t id [SEAL_KEY_ID_SIZE];   // first bytes of BLAKE2b (key), stored in blobs
    char id_hex [SEAL_KEY_ID_SIZE * 2 + 1]; // the id as operators see it
    uint8_t key [SEAL_KEY_SIZE];     // the key itself, wiped in destroy
} seal_key_t;

struct _seal_keyring_t {
    seal_key_t *keys;                // sodium_malloc'd (guarded, locked); [0] seals
    size_t count;                    // keys held
    size_t capacity;                 // keys the allocation holds
};

//  --------------------------------------------------------------------------
//  Key files

//  Read the key file at path into key (through secret_read, the rules of
//  every secret file).
static int
s_read_key_file (const char *path, uint8_t *key, char *error, size_t error_size)
{
    uint8_t buffer [SEAL_FILE_MAX + 1];
    size_t size;
    if (secret_read (path, buffer, sizeof buffer, &size, error, error_size))
        return -1;
    int rc = -1;
    size_t hex_size = size > 0 && buffer [size - 1] == '\n' ? size - 1 : size;
    size_t decoded = 0;
    if (size == SEAL_KEY_SIZE) {
        memcpy (key, buffer, SEAL_KEY_SIZE);
        rc = 0;
    }
    else
    if (hex_size == SEAL_KEY_SIZE * 2
    &&  sodium_hex2bin (key, SEAL_KEY_SIZE, (const char *) buffer, hex_size,
                        NULL, &decoded, NULL) == 0
    &&  decoded == SEAL_KEY_SIZE)
        rc = 0;
    else
        snprintf (error, error_size,
                  "key file %s holds %zu bytes: a key is exactly 32 bytes, or 64 hex digits "
                  "and an optional newline", path, size);
    sodium_memzero (buffer, sizeof buffer);
    if (rc)
        sodium_memzero (key, SEAL_KEY_SIZE);
    return rc;
}

//  Load the key at path into the keyring, unless it already holds that key.
static int
s_keyring_add (seal_keyring_t *self, const char *path, char *error, size_t error_size)
{
    if (self->count == self->capacity) {
        size_t capacity = self->capacity ? self->capacity * 2 : 4;
        seal_key_t *keys = (seal_key_t *) sodium_allocarray (capacity, sizeof (seal_key_t));
        if (!keys) {
            snprintf (error, error_size, "cannot allocate locked memory for %zu keys", capacity);
            return -1;
        }
        if (self->keys) {
            memcpy (keys, self->keys, self->count * sizeof (seal_key_t));
            sodium_free (self->keys);   // sodium_free wipes before it frees
        }
        self->keys = keys;
        self->capacity = capacity;
    }
    seal_key_t *key = &self->keys [self->count];
    if (s_read_key_file (path, key->key, error, error_size))
        return -1;
    uint8_t hash [crypto_generichash_BYTES];
    crypto_generichash (hash, sizeof hash, key->key, SEAL_KEY_SIZE, NULL, 0);
    memcpy (key->id, hash, SEAL_KEY_ID_SIZE);
    sodium_bin2hex (key->id_hex, sizeof key->id_hex, key->id, SEAL_KEY_ID_SIZE);
    for (size_t index = 0; index < self->count; index++) {
        if (memcmp (self->keys [index].id, key->id, SEAL_KEY_ID_SIZE) == 0) {
            bool same = sodium_memcmp (self->keys [index].key, key->key, SEAL_KEY_SIZE) == 0;
            if (!same)
                snprintf (error, error_size,
                          "key file %s has id %s, as another key does: replace one of them",
                          path, key->id_hex);
            sodium_memzero (key, sizeof *key);
            return same ? 0 : -1;
        }
    }
    self->count++;
    return 0;
}

static int
s_is_key_name (const char *name)
{
    size_t length = strlen (name);
    return name [0] != '.' && length > 4 && strcmp (name + length - 4, ".key") == 0;
}

//  Sorted names make the order keys are loaded in, and so which of two
//  clashing files is named in the error, the same on every start.
static int
s_compare_names (const void *a, const void *b)
{
    return strcmp (*(char *const *) a, *(char *const *) b);
}

static int
s_keyring_add_directory (seal_keyring_t *self, const char *directory,
                         char *error, size_t error_size)
{
    DIR *handle = opendir (directory);
    if (!handle) {
        snprintf (error, error_size, "cannot open old keys directory %s: %s",
                  directory, strerror (errno));
        return -1;
    }
    char **names = NULL;
    size_t count = 0;
    struct dirent *entry;
    while ((entry = readdir (handle))) {
        if (!s_is_key_name (entry->d_name))
            continue;
        names = (char **) realloc (names, (count + 1) * sizeof (char *));
        names [count++] = strdup (entry->d_name);
    }
    closedir (handle);
    if (count)
        qsort (names, count, sizeof (char *), s_compare_names);
    int rc = 0;
    for (size_t index = 0; index < count; index++) {
        if (rc == 0) {
            size_t path_size = strlen (directory) + strlen (names [index]) + 2;
            char *path = (char *) malloc (path_size);
            snprintf (path, path_size, "%s/%s", directory, names [index]);
            rc = s_keyring_add (self, path, error, error_size);
            free (path);
        }
        free (names [index]);
    }
    free (names);
    return rc;
}

//  --------------------------------------------------------------------------
//  Keyring

seal_keyring_t *
seal_keyring_load (const char *current_key_path, const char *old_keys_dir,
                   char *error, size_t error_size)
{
    if (sodium_init () < 0) {
        snprintf (error, error_size, "libsodium failed to initialise");
        return NULL;
    }
    if (!crypto_aead_aes256gcm_is_available ()) {
        snprintf (error, error_size,
                  "this CPU lacks the AES-NI and CLMUL instructions that libsodium's "
                  "AES-256-GCM requires: reports cannot be sealed on this machine");
        return NULL;
    }
    seal_keyring_t *self = (seal_keyring_t *) calloc (1, sizeof *self);
    if (s_keyring_add (self, current_key_path, error, error_size)
    ||  (old_keys_dir && s_keyring_add_directory (self, old_keys_dir, error, error_size)))
        seal_keyring_destroy (&self);
    return self;
}

void
seal_keyring_destroy (seal_keyring_t **self_p)
{
    if (*self_p) {
        seal_keyring_t *self = *self_p;
        if (self->keys) {
            sodium_memzero (self->keys, self->capacity * sizeof (seal_key_t));
            sodium_free (self->keys);
        }
        free (self);
        *self_p = NULL;
    }
}

const char *
seal_keyring_current_id (seal_keyring_t *self)
{
    return self->keys [0].id_hex;
}

size_t
seal_keyring_size (seal_keyring_t *self)
{
    return self->count;
}

//  --------------------------------------------------------------------------
//  Sealing and opening

//  The additional data: the blob's header, then the associated string.
static uint8_t *
s_additional (const uint8_t *header, const char *associated, size_t *size)
{
    size_t associated_size = associated ? strlen (associated) : 0;
    *size = SEAL_HEADER_SIZE + associated_size;
    uint8_t *additional = (uint8_t *) malloc (*size);
    memcpy (additional, header, SEAL_HEADER_SIZE);
    if (associated_size)
        memcpy (additional + SEAL_HEADER_SIZE, associated, associated_size);
    return additional;
}

int
seal_seal (seal_keyring_t *self, const uint8_t *plain, size_t size, const char *associated,
           uint8_t **sealed, size_t *sealed_size)
{
    if (size > crypto_aead_aes256gcm_MESSAGEBYTES_MAX || size > SIZE_MAX - SEAL_OVERHEAD)
        return -1;
    const seal_key_t *key = &self->keys [0];
    uint8_t *blob = (uint8_t *) malloc (size + SEAL_OVERHEAD);
    memcpy (blob, SEAL_MAGIC, 4);
    memcpy (blob + 4, key->id, SEAL_KEY_ID_SIZE);
    uint8_t *nonce = blob + 4 + SEAL_KEY_ID_SIZE;
    randombytes_buf (nonce, SEAL_NONCE_SIZE);
    size_t additional_size;
    uint8_t *additional = s_additional (blob, associated, &additional_size);
    unsigned long long cipher_size;
    crypto_aead_aes256gcm_encrypt (blob + SEAL_HEADER_SIZE, &cipher_size,
                                   plain, size, additional, additional_size,
                                   NULL, nonce, key->key);
    free (additional);
    *sealed = blob;
    *sealed_size = SEAL_HEADER_SIZE + (size_t) cipher_size;
    return 0;
}

int
seal_blob_key_id (const uint8_t *blob, size_t size, char *id)
{
    if (size < SEAL_OVERHEAD || memcmp (blob, SEAL_MAGIC, 4) != 0)
        return -1;
    sodium_bin2hex (id, SEAL_KEY_ID_SIZE * 2 + 1, blob + 4, SEAL_KEY_ID_SIZE);
    return 0;
}

int
seal_open (seal_keyring_t *self, const uint8_t *blob, size_t size, const char *associated,
           uint8_t **plain, size_t *plain_size, char *error, size_t error_size)
{
    char id [SEAL_KEY_ID_SIZE * 2 + 1];
    if (size < SEAL_OVERHEAD || memcmp (blob, SEAL_MAGIC, 4) != 0) {
        snprintf (error, error_size, "not a sealed report: %s",
                  size < SEAL_OVERHEAD ? "shorter than a sealed blob's header and tag"
                                       : "bad magic (expected DRS1)");
        return -1;
    }
    seal_blob_key_id (blob, size, id);
    const seal_key_t *key = NULL;
    for (size_t index = 0; index < self->count && !key; index++)
        if (memcmp (self->keys [index].id, blob + 4, SEAL_KEY_ID_SIZE) == 0)
            key = &self->keys [index];
    if (!key) {
        snprintf (error, error_size,
                  "sealed with key %s, which this keyring does not hold "
                  "(an old key missing from the old keys directory?)", id);
        return -1;
    }
    size_t additional_size;
    uint8_t *additional = s_additional (blob, associated, &additional_size);
    size_t body_size = size - SEAL_HEADER_SIZE;
    uint8_t *opened = (uint8_t *) malloc (body_size - SEAL_TAG_SIZE + 1);
    unsigned long long opened_size;
    int rc = crypto_aead_aes256gcm_decrypt (opened, &opened_size, NULL,
                                            blob + SEAL_HEADER_SIZE, body_size,
                                            additional, additional_size,
                                            blob + 4 + SEAL_KEY_ID_SIZE, key->key);
    free (additional);
    if (rc) {
        free (opened);
        snprintf (error, error_size,
                  "sealed with key %s but does not authenticate: the blob was altered, "
                  "or it belongs to another tenant or report", id);
        return -1;
    }
    opened [opened_size] = 0;
    *plain = opened;
    *plain_size = (size_t) opened_size;
    return 0;
}
