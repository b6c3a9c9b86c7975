/*  redact: every value Terraform marks as sensitive, replaced by a keyed hash
    before a plan leaves the customer's machine.

    drift-agent reads `terraform show -json` of a refresh-only plan, where
    sensitive values are in clear text beside the marks that say they are
    sensitive. Each marked value becomes "(sensitive:HEX)", HEX being the first
    16 bytes of HMAC-SHA256 over the value's canonical JSON, keyed by a key
    derived from the agent's own secret: the server can still tell a changed
    secret from an unchanged one, and nobody without the agent's key can test
    guesses against the hash. A null stays null, so "absent" stays visible.

    Places redacted: resource_drift, resource_changes and deferred_changes
    (before/after by before_sensitive/after_sensitive); the resources of
    planned_values and prior_state, in every child module (values by
    sensitive_values); outputs (by their sensitive flag, or by the
    before/after marks in output_changes); the value of every variable the
    root module declares sensitive, and the default of every sensitive
    variable in any module of the configuration. The configuration also holds
    literals written in the code: the constant value of a resource attribute
    that any instance of that resource type marks sensitive, of a sensitive
    output, and of a module call's argument for a sensitive variable.
*/
#ifndef REDACT_H_INCLUDED
#define REDACT_H_INCLUDED

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#define REDACT_KEY_BYTES 32

typedef struct {
    size_t values;     // sensitive values replaced by a marker
    json_t *replaced;  // if set by the caller (an array): each value replaced is appended
} redact_stats_t;

//  Replace, in place in the parsed plan, every value Terraform marks as
//  sensitive by a marker string "(sensitive:" + the first 16 bytes of
//  HMAC-SHA256(key, canonical JSON of the value) in lowercase hex + ")".
//  Canonical JSON = json_dumps with JSON_COMPACT | JSON_SORT_KEYS |
//  JSON_ENCODE_ANY. A mark that does not fit the shape of its value covers
//  the whole value if it says true anywhere. stats may be NULL; when its
//  replaced is an array, the clear values go there (the agent redacts an
//  engine's output with them: agent/outlines.h). Returns 0, or -1 if plan is
//  not a JSON object.
int redact_plan (json_t *plan, const uint8_t key [REDACT_KEY_BYTES], redact_stats_t *stats);

//  The marker for one value (caller frees), exposed for tests and for
//  normalize's second line of defence. NULL if value is NULL or memory ran out.
char *redact_marker (const json_t *value, const uint8_t key [REDACT_KEY_BYTES]);

//  Derive the redaction key from the agent's CURVE secret key: BLAKE2b
//  (crypto_generichash) keyed by the secret over the fixed context
//  "drift-agent redaction key v1". The key never leaves the agent, and the
//  same agent key always gives the same hashes.
void redact_key_derive (const uint8_t secret_key [32], uint8_t key [REDACT_KEY_BYTES]);

#endif
