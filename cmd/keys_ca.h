/*  keys_ca: the local X.509 CA behind `drift keys` (cmd/keys_ca.c): agents'
    client certificates for the HTTPS link through Caddy.
*/
#ifndef KEYS_CA_H_INCLUDED
#define KEYS_CA_H_INCLUDED

#include <stddef.h>
#include <stdint.h>

//  A client certificate as issued: what agent_certs records.
typedef struct {
    char serial [64];            // decimal
    int64_t not_before;          // Unix seconds
    int64_t not_after;
} keys_ca_cert_t;

//  DIR/ca.key and DIR/ca.crt.
void keys_ca_paths (const char *dir, char *key_path, char *cert_path, size_t size);

//  Make the CA in dir unless it is there: 0 made, 1 already there (kept),
//  -1 with the reason in error.
int keys_ca_init (const char *dir, char *error, size_t error_size);

//  Issue a client certificate for agent of tenant, valid for days, signed
//  by dir's CA: its key to key_path (0600), itself to cert_path, neither of
//  which may exist. 0 with issued filled, or -1 with the reason in error.
int keys_ca_issue (const char *dir, const char *tenant, const char *agent, int days,
                   const char *cert_path, const char *key_path, keys_ca_cert_t *issued,
                   char *error, size_t error_size);

#endif
