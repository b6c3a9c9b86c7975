/*  credential: the secrets the dashboard API hands out once and keeps only
    as a hash: refresh tokens and set-password links (TENANT.ID.SECRET) and
    API tokens (drift_pat_...).

    A secret is 32 random bytes (libsodium), written as base64url without
    padding; the database holds the hex BLAKE2b-256 of those bytes, so a
    copy of the database lets no one in. An API token carries its tenant
    and its id in clear, packed with its secret: the server sets the tenant
    (row-level security) and finds the token by id before it compares the
    hash, in constant time. The prefix "drift_pat_" tells an API token from
    a JWT in the same Authorization header and lets secret scanners find
    one that leaked.
*/
#ifndef API_CREDENTIAL_H_INCLUDED
#define API_CREDENTIAL_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>

#define CREDENTIAL_TOKEN_PREFIX "drift_pat_"

//  A new secret: its text (base64url, caller frees) with its hash (hex
//  BLAKE2b-256) in hash; NULL when out of memory.
char *credential_secret (char hash [65]);

//  The hash of a secret's text; -1 unless it is 32 bytes of strict base64url.
int credential_hash (const char *text, size_t length, char hash [65]);

//  TENANT.ID.SECRET (refresh tokens, set-password links): its parts, the
//  secret as its hash; -1 unless both ids are UUIDs and the secret is one.
int credential_triple_parse (const char *text, char tenant [37], char id [37], char hash [65]);

//  A new API token of tenant (a UUID): drift_pat_ followed by base64url of
//  tenant, id and secret (16 + 16 + 32 bytes); its fresh id (UUID v4) in
//  id and the secret's hash in hash. Caller frees; NULL if tenant is not a
//  UUID.
char *credential_token_new (const char *tenant, char id [37], char hash [65]);

//  Whether a bearer token claims to be an API token (has the prefix).
bool credential_is_token (const char *bearer);

//  An API token's tenant, id and secret hash; -1 when it is not one (the
//  prefix, length and base64url are all checked).
int credential_token_parse (const char *token, char tenant [37], char id [37], char hash [65]);

//  Whether two hashes (64 hex digits) are equal, in constant time.
bool credential_equal (const char *a, const char *b);

#endif
