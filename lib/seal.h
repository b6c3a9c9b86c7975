/*  seal: encryption at rest of raw reports, AES-256-GCM under a keyring.

    Every raw report the archive writes to the object store is sealed first,
    so a copied bucket or disk holds nothing readable. A sealed blob describes
    itself, so it can be opened years later without a side table:

        "DRS1" | key id (4 bytes) | nonce (12 bytes, random) | ciphertext | tag (16 bytes)

    The whole 20-byte header and the caller's associated string (tenant and
    report id) are authenticated with the body: a blob copied under another
    tenant's or report's name, or with a rewritten key id, fails to open just
    as a flipped ciphertext bit does.

    Keys are files of exactly 32 bytes, or 64 hex digits and an optional
    newline, mode 0600 or stricter and owned by the running user; anything
    else is refused with the file and its mode named, because a key readable
    by others is already lost. A key's id is the first 4 bytes (8 hex digits)
    of BLAKE2b of the key, so ids need no configuration and cannot disagree
    with the key. Rotation: the current key seals; every *.key file in the
    old-keys directory still opens what it sealed. Nonces are random, so one
    key should seal well under 2^32 blobs: rotate long before that.

    AES-256-GCM in libsodium needs the CPU's AES-NI and CLMUL instructions.
    Without them seal_keyring_load refuses, saying so: there is no slow
    software fallback, by libsodium's design (a table-based AES leaks keys
    through timing).
*/
#ifndef SEAL_H_INCLUDED
#define SEAL_H_INCLUDED

#include <stddef.h>
#include <stdint.h>

#define SEAL_MAGIC "DRS1"
#define SEAL_KEY_SIZE 32                 // bytes of a key
#define SEAL_KEY_ID_SIZE 4               // bytes of a key id (8 hex digits)
#define SEAL_NONCE_SIZE 12               // bytes of a nonce
#define SEAL_TAG_SIZE 16                 // bytes of the GCM tag
#define SEAL_HEADER_SIZE (4 + SEAL_KEY_ID_SIZE + SEAL_NONCE_SIZE)
#define SEAL_OVERHEAD (SEAL_HEADER_SIZE + SEAL_TAG_SIZE)

typedef struct _seal_keyring_t seal_keyring_t;

//  Load the current key from current_key_path and, if old_keys_dir is not
//  NULL, every *.key file in it. NULL on any refusal (CPU without AES-NI,
//  a file that is missing, not regular, not ours, readable by group or
//  others, or of the wrong length; two different keys with the same id),
//  with the reason in error. A key present both as current and in
//  old_keys_dir is held once.
seal_keyring_t *seal_keyring_load (const char *current_key_path, const char *old_keys_dir,
                                   char *error, size_t error_size);

//  Wipe every key and free the keyring; nulls the caller's pointer.
void seal_keyring_destroy (seal_keyring_t **self_p);

//  The id (8 hex digits) of the key that seals.
const char *seal_keyring_current_id (seal_keyring_t *self);

//  How many keys the keyring holds (current and old).
size_t seal_keyring_size (seal_keyring_t *self);

//  Seal size bytes of plain under the current key, binding associated (may
//  be NULL, the same as "") into the tag. On 0, *sealed (the caller's, free
//  it) holds *sealed_size = size + SEAL_OVERHEAD bytes. -1 if the size is
//  beyond what AES-GCM may seal.
int seal_seal (seal_keyring_t *self, const uint8_t *plain, size_t size, const char *associated,
               uint8_t **sealed, size_t *sealed_size);

//  Open a sealed blob with the same associated string it was sealed with.
//  On 0, *plain (the caller's, free it) holds *plain_size bytes, plus a NUL
//  after them for callers that read text. -1 with the reason in error: not
//  a sealed blob, a key this keyring does not hold, or authentication failed
//  (tampered blob, wrong key, or wrong associated data).
int seal_open (seal_keyring_t *self, const uint8_t *blob, size_t size, const char *associated,
               uint8_t **plain, size_t *plain_size, char *error, size_t error_size);

//  The key id (8 hex digits and a NUL, in id [9]) a blob says it was sealed
//  with, without opening it. -1 if blob is not a sealed blob.
int seal_blob_key_id (const uint8_t *blob, size_t size, char *id);

#endif
