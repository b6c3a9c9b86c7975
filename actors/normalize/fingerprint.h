/*  fingerprint: a stable identity for one drift, so later stages can tell
    "the same drift again" from "a new drift" across runs.

    It is BLAKE2b over the tenant, the stack, the resource address, the set
    of changed paths (sorted, so the engine's order does not matter) and a
    hash of the new values at those paths (canonical JSON, masked, so a
    secret is never hashed in clear and the same secret gives the same
    marker). The engine is not in it: the same resource drifting the same
    way is the same drift whether Terraform or OpenTofu saw it. Every field
    is length-prefixed, so no two different inputs run together into the
    same bytes.

    A change without paths (a deleted resource, or a degraded report that
    knows only the action) is hashed as one change at the empty path, with
    what is known of its new value ("null" for a deletion).
*/
#ifndef FINGERPRINT_H_INCLUDED
#define FINGERPRINT_H_INCLUDED

#include <stddef.h>

//  Bytes of BLAKE2b kept, and the hex text's size with its NUL.
#define FINGERPRINT_BYTES 16
#define FINGERPRINT_TEXT_SIZE (2 * FINGERPRINT_BYTES + 1)

//  One changed path and its new value.
typedef struct {
    const char *path;            // changed path
    const char *after;           // new value: masked canonical JSON, "" when removed
} fingerprint_part_t;

//  Fingerprint of one drift into text (lowercase hex). parts is sorted in
//  place by path. NULL strings count as "". Returns 0, or -1 if memory ran out.
int fingerprint_compute (const char *tenant, const char *stack, const char *address,
                         fingerprint_part_t *parts, size_t count,
                         char text [FINGERPRINT_TEXT_SIZE]);

#endif
