/*  jwt: the dashboard's access tokens, HS256 JSON Web Tokens (RFC 7519).

    Only what docs/API.md allows, nothing a general JWT library would: one
    algorithm (HS256), one header ({"alg":"HS256","typ":"JWT"}), checked
    before the signature is looked at so `alg: none` or an algorithm
    substitution never reaches the verifier; the signature compared in
    constant time; iss, aud, nbf, exp and iat checked with 30 s of leeway
    for clocks. The secret comes from a file of at least 32 bytes that only
    its owner may read (mode 0600), is kept in locked memory and wiped on
    destroy.
*/
#ifndef JWT_H_INCLUDED
#define JWT_H_INCLUDED

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define JWT_ISSUER "drift"
#define JWT_AUDIENCE "drift-api"
#define JWT_LEEWAY_S 30

typedef struct _jwt_t jwt_t;

//  What an access token says.
typedef struct {
    char sub [37];               // the user's id (UUID)
    char tid [37];               // the tenant's id
    char sid [37];               // the session's id
    char role [8];               // owner, admin or viewer
    char jti [33];               // a random id (hex) of this token
    long long iat;               // issued at (Unix seconds)
    long long nbf;               // not before
    long long exp;               // expires at
} jwt_claims_t;

//  A signer/verifier with secret (at least 32 bytes; copied).
jwt_t *jwt_new (const uint8_t *secret, size_t size);
//  The same with the secret read from path by lib/secret (a regular file
//  of the running user, no group or other bits): NULL (logged with why)
//  unless the file passes and holds 32 to 4096 bytes.
jwt_t *jwt_new_from_file (const char *path);
void jwt_destroy (jwt_t **self_p);

//  A signed token for claims (iat, nbf, exp and jti as given: jwt_claims_fill
//  sets them). Caller frees.
char *jwt_sign (jwt_t *self, const jwt_claims_t *claims);

//  Set iat = nbf = now, exp = now + ttl_s and a fresh jti.
void jwt_claims_fill (jwt_claims_t *claims, time_t now, long ttl_s);

//  0 with *claims filled when token is valid at now; -1 otherwise (why, in
//  *reason, a static string that never holds token content).
int jwt_verify (jwt_t *self, const char *token, time_t now, jwt_claims_t *claims,
                const char **reason);

//  base64url without padding of size bytes (caller frees), and back: the
//  decoded bytes (caller frees; *size set), NULL if text is not strict
//  base64url without padding.
char *jwt_base64url (const uint8_t *data, size_t size);
uint8_t *jwt_unbase64url (const char *text, size_t length, size_t *size);

#endif
