/*  jwt: HS256 access tokens. See jwt.h.

    Verification goes in the order that keeps hostile input furthest from
    anything that matters: the shape (three base64url parts), then the
    header (exactly alg HS256 and typ JWT, so "none", HS512 or RS256 are
    refused without computing anything), then the signature (HMAC-SHA-256,
    compared with sodium_memcmp), and only then are the claims parsed.
*/
#include "jwt.h"
#include "../lib/log.h"
#include "../lib/secret.h"

#include <jansson.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define JWT_MAX_TOKEN 4096
#define JWT_MAX_SECRET 4096

struct _jwt_t {
    uint8_t *secret;             // the HMAC key, in sodium_malloc'd memory
    size_t size;                 // its length
};

jwt_t *
jwt_new (const uint8_t *secret, size_t size)
{
    if (sodium_init () < 0 || !secret || size < 32 || size > JWT_MAX_SECRET)
        return NULL;
    jwt_t *self = (jwt_t *) calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->secret = (uint8_t *) sodium_malloc (size);
    if (!self->secret) {
        free (self);
        return NULL;
    }
    memcpy (self->secret, secret, size);
    self->size = size;
    return self;
}

jwt_t *
jwt_new_from_file (const char *path)
{
    uint8_t buffer [JWT_MAX_SECRET + 1];
    size_t size;
    char error [512];
    jwt_t *self = NULL;
    if (secret_read (path, buffer, sizeof buffer, &size, error, sizeof error))
        log_error ("the JWT secret file is refused; drift api will not start", "error", error);
    else
    if (size < 32)
        log_error ("the JWT secret file must hold 32 to 4096 bytes (install.sh makes one)",
                   "path", path);
    else
        self = jwt_new (buffer, size);
    sodium_memzero (buffer, sizeof buffer);
    return self;
}

void
jwt_destroy (jwt_t **self_p)
{
    jwt_t *self = *self_p;
    if (!self)
        return;
    sodium_free (self->secret);
    free (self);
    *self_p = NULL;
}

char *
jwt_base64url (const uint8_t *data, size_t size)
{
    size_t length = sodium_base64_encoded_len (size, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    char *text = (char *) malloc (length);
    if (text)
        sodium_bin2base64 (text, length, data, size, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    return text;
}

uint8_t *
jwt_unbase64url (const char *text, size_t length, size_t *size)
{
    uint8_t *data = (uint8_t *) malloc (length + 1);
    const char *end;
    if (!data)
        return NULL;
    //  No ignored characters and the whole text consumed: strict.
    if (sodium_base642bin (data, length + 1, text, length, NULL, size, &end,
                           sodium_base64_VARIANT_URLSAFE_NO_PADDING)
    ||  end != text + length) {
        free (data);
        return NULL;
    }
    return data;
}

static void
s_mac (jwt_t *self, const char *input, size_t length, uint8_t mac [crypto_auth_hmacsha256_BYTES])
{
    crypto_auth_hmacsha256_state state;
    crypto_auth_hmacsha256_init (&state, self->secret, self->size);
    crypto_auth_hmacsha256_update (&state, (const uint8_t *) input, length);
    crypto_auth_hmacsha256_final (&state, mac);
    sodium_memzero (&state, sizeof state);
}

void
jwt_claims_fill (jwt_claims_t *claims, time_t now, long ttl_s)
{
    uint8_t random [16];
    randombytes_buf (random, sizeof random);
    sodium_bin2hex (claims->jti, sizeof claims->jti, random, sizeof random);
    claims->iat = claims->nbf = (long long) now;
    claims->exp = (long long) now + ttl_s;
}

char *
jwt_sign (jwt_t *self, const jwt_claims_t *claims)
{
    static const char header [] = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";
    json_t *payload = json_pack ("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:I}",
                                 "iss", JWT_ISSUER, "aud", JWT_AUDIENCE, "sub", claims->sub,
                                 "tid", claims->tid, "sid", claims->sid, "role", claims->role,
                                 "jti", claims->jti, "iat", (json_int_t) claims->iat,
                                 "nbf", (json_int_t) claims->nbf,
                                 "exp", (json_int_t) claims->exp);
    char *payload_text = payload ? json_dumps (payload, JSON_COMPACT) : NULL;
    json_decref (payload);
    char *head = jwt_base64url ((const uint8_t *) header, strlen (header));
    char *body = payload_text ? jwt_base64url ((const uint8_t *) payload_text,
                                               strlen (payload_text)) : NULL;
    free (payload_text);
    char *token = NULL;
    if (head && body) {
        size_t length = strlen (head) + strlen (body) + 1;
        char *input = (char *) malloc (length + 1);
        if (input) {
            snprintf (input, length + 1, "%s.%s", head, body);
            uint8_t mac [crypto_auth_hmacsha256_BYTES];
            s_mac (self, input, length, mac);
            char *signature = jwt_base64url (mac, sizeof mac);
            if (signature && (token = (char *) malloc (length + strlen (signature) + 2)))
                sprintf (token, "%s.%s", input, signature);
            free (signature);
            free (input);
        }
    }
    free (head);
    free (body);
    return token;
}

//  A string claim copied into field (size bytes, non-empty, fits), else -1.
static int
s_claim_string (json_t *payload, const char *name, char *field, size_t size)
{
    const char *value = json_string_value (json_object_get (payload, name));
    if (!value || !*value || strlen (value) >= size)
        return -1;
    strcpy (field, value);
    return 0;
}

static int
s_claim_time (json_t *payload, const char *name, long long *value)
{
    json_t *claim = json_object_get (payload, name);
    if (!json_is_integer (claim))
        return -1;
    *value = json_integer_value (claim);
    return 0;
}

static int
s_claim_equals (json_t *payload, const char *name, const char *expected)
{
    const char *value = json_string_value (json_object_get (payload, name));
    return value && strcmp (value, expected) == 0 ? 0 : -1;
}

int
jwt_verify (jwt_t *self, const char *token, time_t now, jwt_claims_t *claims,
            const char **reason)
{
    const char *first = token ? strchr (token, '.') : NULL;
    const char *second = first ? strchr (first + 1, '.') : NULL;
    *reason = "malformed token";
    if (!second || strchr (second + 1, '.') || strlen (token) > JWT_MAX_TOKEN
    ||  first == token || second == first + 1 || !second [1])
        return -1;

    size_t header_size;
    uint8_t *header_bytes = jwt_unbase64url (token, (size_t) (first - token), &header_size);
    json_t *header = header_bytes ? json_loadb ((const char *) header_bytes, header_size,
                                                JSON_REJECT_DUPLICATES, NULL) : NULL;
    free (header_bytes);
    bool header_ok = json_is_object (header) && json_object_size (header) == 2
                  && s_claim_equals (header, "alg", "HS256") == 0
                  && s_claim_equals (header, "typ", "JWT") == 0;
    json_decref (header);
    if (!header_ok) {
        *reason = "header is not {\"alg\":\"HS256\",\"typ\":\"JWT\"}";
        return -1;
    }

    size_t mac_size;
    uint8_t *mac = jwt_unbase64url (second + 1, strlen (second + 1), &mac_size);
    uint8_t expected [crypto_auth_hmacsha256_BYTES];
    s_mac (self, token, (size_t) (second - token), expected);
    bool signed_ok = mac && mac_size == sizeof expected
                  && sodium_memcmp (mac, expected, sizeof expected) == 0;
    free (mac);
    sodium_memzero (expected, sizeof expected);
    if (!signed_ok) {
        *reason = "bad signature";
        return -1;
    }

    size_t payload_size;
    uint8_t *payload_bytes = jwt_unbase64url (first + 1, (size_t) (second - first - 1),
                                              &payload_size);
    json_t *payload = payload_bytes ? json_loadb ((const char *) payload_bytes, payload_size,
                                                  JSON_REJECT_DUPLICATES, NULL) : NULL;
    free (payload_bytes);
    memset (claims, 0, sizeof *claims);
    int rc = -1;
    *reason = "missing or malformed claims";
    if (json_is_object (payload)
    &&  s_claim_string (payload, "sub", claims->sub, sizeof claims->sub) == 0
    &&  s_claim_string (payload, "tid", claims->tid, sizeof claims->tid) == 0
    &&  s_claim_string (payload, "sid", claims->sid, sizeof claims->sid) == 0
    &&  s_claim_string (payload, "role", claims->role, sizeof claims->role) == 0
    &&  s_claim_string (payload, "jti", claims->jti, sizeof claims->jti) == 0
    &&  s_claim_time (payload, "iat", &claims->iat) == 0
    &&  s_claim_time (payload, "nbf", &claims->nbf) == 0
    &&  s_claim_time (payload, "exp", &claims->exp) == 0) {
        long long t = (long long) now;
        if (s_claim_equals (payload, "iss", JWT_ISSUER))
            *reason = "wrong issuer";
        else
        if (s_claim_equals (payload, "aud", JWT_AUDIENCE))
            *reason = "wrong audience";
        else
        if (claims->nbf > t + JWT_LEEWAY_S)
            *reason = "not valid yet";
        else
        if (t >= claims->exp + JWT_LEEWAY_S)
            *reason = "expired";
        else
        if (claims->iat > t + JWT_LEEWAY_S)
            *reason = "issued in the future";
        else {
            *reason = NULL;
            rc = 0;
        }
    }
    json_decref (payload);
    return rc;
}
