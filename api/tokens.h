/*  tokens: what `drift token` (cmd/token.c) shares with the API's token
    routes (api/tokens.c): the rule for a token's name and making one. */
#ifndef API_TOKENS_H_INCLUDED
#define API_TOKENS_H_INCLUDED

#include <libpq-fe.h>
#include <stdbool.h>

//  1 to 63 of a-z, 0-9, '.', '_' and '-', starting with a letter or digit.
bool api_token_name_valid (const char *name);

//  A new API token of tenant (conn in a transaction, the tenant set):
//  stored as a hash, role viewer or admin, made by user (NULL: the
//  operator) recorded as by, expiring at expires_at (ISO 8601, NULL: never).
//  The token (caller frees, shown once) with *row holding its listing as
//  JSON text in column 0; NULL when refused, *row then the failed result
//  (or NULL when out of memory). The caller clears *row.
char *api_token_create (PGconn *conn, const char *tenant, const char *name, const char *role,
                        const char *user, const char *by, const char *expires_at,
                        PGresult **row);

#endif
