/*  credential: secrets handed out once, kept as hashes; see credential.h. */
#include "credential.h"
#include "api.h"
#include "jwt.h"

#include <sodium.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_SECRET_BYTES 32
#define S_TOKEN_BYTES (16 + 16 + S_SECRET_BYTES)

static void
s_digest (const uint8_t *secret, size_t size, char hash [65])
{
    uint8_t digest [32];
    crypto_generichash (digest, sizeof digest, secret, size, NULL, 0);
    sodium_bin2hex (hash, 65, digest, sizeof digest);
}

char *
credential_secret (char hash [65])
{
    uint8_t secret [S_SECRET_BYTES];
    randombytes_buf (secret, sizeof secret);
    s_digest (secret, sizeof secret, hash);
    char *text = jwt_base64url (secret, sizeof secret);
    sodium_memzero (secret, sizeof secret);
    return text;
}

int
credential_hash (const char *text, size_t length, char hash [65])
{
    size_t size;
    uint8_t *secret = jwt_unbase64url (text, length, &size);
    int rc = secret && size == S_SECRET_BYTES ? 0 : -1;
    if (rc == 0)
        s_digest (secret, size, hash);
    if (secret)
        sodium_memzero (secret, size);
    free (secret);
    return rc;
}

int
credential_triple_parse (const char *text, char tenant [37], char id [37], char hash [65])
{
    if (!text || strlen (text) < 74 || text [36] != '.' || text [73] != '.')
        return -1;
    memcpy (tenant, text, 36);
    tenant [36] = 0;
    memcpy (id, text + 37, 36);
    id [36] = 0;
    if (!api_is_uuid (tenant) || !api_is_uuid (id))
        return -1;
    return credential_hash (text + 74, strlen (text + 74), hash);
}

//  A UUID's 16 bytes; -1 unless text is one.
static int
s_uuid_bytes (const char *text, uint8_t bytes [16])
{
    size_t size;
    return api_is_uuid (text)
        && sodium_hex2bin (bytes, 16, text, 36, "-", &size, NULL) == 0 && size == 16 ? 0 : -1;
}

static void
s_uuid_text (const uint8_t bytes [16], char text [37])
{
    char hex [33];
    sodium_bin2hex (hex, sizeof hex, bytes, 16);
    snprintf (text, 37, "%.8s-%.4s-%.4s-%.4s-%.12s", hex, hex + 8, hex + 12, hex + 16, hex + 20);
}

char *
credential_token_new (const char *tenant, char id [37], char hash [65])
{
    uint8_t bytes [S_TOKEN_BYTES];
    if (s_uuid_bytes (tenant, bytes))
        return NULL;
    randombytes_buf (bytes + 16, 16 + S_SECRET_BYTES);
    bytes [16 + 6] = (uint8_t) ((bytes [16 + 6] & 0x0f) | 0x40);   // version 4
    bytes [16 + 8] = (uint8_t) ((bytes [16 + 8] & 0x3f) | 0x80);   // RFC 4122 variant
    s_uuid_text (bytes + 16, id);
    s_digest (bytes + 32, S_SECRET_BYTES, hash);
    char *packed = jwt_base64url (bytes, sizeof bytes);
    sodium_memzero (bytes, sizeof bytes);
    char *token = packed ? (char *) malloc (strlen (CREDENTIAL_TOKEN_PREFIX) + strlen (packed) + 1)
                         : NULL;
    if (token)
        sprintf (token, "%s%s", CREDENTIAL_TOKEN_PREFIX, packed);
    if (packed)
        sodium_memzero (packed, strlen (packed));
    free (packed);
    return token;
}

bool
credential_is_token (const char *bearer)
{
    return bearer && strncmp (bearer, CREDENTIAL_TOKEN_PREFIX,
                              strlen (CREDENTIAL_TOKEN_PREFIX)) == 0;
}

int
credential_token_parse (const char *token, char tenant [37], char id [37], char hash [65])
{
    if (!credential_is_token (token))
        return -1;
    const char *packed = token + strlen (CREDENTIAL_TOKEN_PREFIX);
    //  64 bytes are 86 characters of base64url without padding.
    if (strlen (packed) != 86)
        return -1;
    size_t size;
    uint8_t *bytes = jwt_unbase64url (packed, 86, &size);
    int rc = -1;
    if (bytes && size == S_TOKEN_BYTES) {
        s_uuid_text (bytes, tenant);
        s_uuid_text (bytes + 16, id);
        s_digest (bytes + 32, S_SECRET_BYTES, hash);
        rc = 0;
    }
    if (bytes)
        sodium_memzero (bytes, size);
    free (bytes);
    return rc;
}

bool
credential_equal (const char *a, const char *b)
{
    return strlen (a) == 64 && strlen (b) == 64 && sodium_memcmp (a, b, 64) == 0;
}
