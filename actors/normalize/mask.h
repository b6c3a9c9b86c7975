/*  mask: a value's canonical JSON with every sensitive part replaced by a
    marker and every unknown part by "(unknown)", for the values normalize
    carries in the canonical report.

    The agent already replaced every sensitive value by a marker before the
    plan left the customer's machine (agent/redact). This is the server's
    second line of defence: a value that a mark in before_sensitive or
    after_sensitive covers and that is still in clear (an older agent, a
    plan given to `drift normalize --input` by hand) gets a marker in the
    agent's format, "(sensitive:" + 32 lowercase hex + ")", here the first
    16 bytes of HMAC-SHA256 keyed by the server's mask key over the value's
    canonical JSON. A value that is already a marker stays as it is, so an
    agent's markers keep telling a changed secret from an unchanged one. A
    Pulumi secret is masked whatever the marks say. A null stays null:
    absence is no secret.

    Marks follow Terraform's shape: true covers the whole value below it; an
    object or array of marks mirrors the value. A mark that does not fit
    its value's shape covers the whole value if it says true anywhere, so a
    secret never stays in clear because the structure was unexpected.
*/
#ifndef MASK_H_INCLUDED
#define MASK_H_INCLUDED

#include "../../lib/jdoc.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MASK_KEY_BYTES 32

//  Text put in place of a value not known until apply (a JSON string).
#define MASK_UNKNOWN "(unknown)"

typedef struct {
    const jdoc_value_t *mark;    // sensitivity mark at the value (NULL: none)
    bool covered;                // a mark above said true: all of the value is sensitive
    const jdoc_value_t *unknown; // after_unknown mark at the value (NULL: none)
    bool unknown_covered;        // an unknown mark above said true
} mask_marks_t;

//  True if mark covers the whole value at its place: anything but false,
//  null, an object or an array (those say "not here" or "look inside").
bool mask_says_true (const jdoc_value_t *mark);

//  True if mark says true anywhere in it.
bool mask_marked (const jdoc_value_t *mark);

//  True if the text (length bytes) is a marker "(sensitive:<32 hex>)".
bool mask_is_marker (const char *text, size_t length);

//  True if value says by itself that it is secret, whatever the marks: a
//  marker string, or a Pulumi secret (an object whose member
//  "4dabf18193072939515e22adb298388d" is "1b47061264138c4ac30d75fd1eb44270",
//  Pulumi's signature for secrets in its JSON). Such a value is compared
//  and masked whole.
bool mask_is_secret (const jdoc_value_t *value);

//  Canonical JSON of value (NULL: "null") under marks (may be NULL), with
//  sensitive parts as markers keyed by key and unknown parts as
//  "(unknown)". *sensitive (if not NULL) is set when any part was masked
//  or already a marker. Caller frees; NULL only when memory runs out.
char *mask_dump (const jdoc_value_t *value, const mask_marks_t *marks,
                 const uint8_t key [MASK_KEY_BYTES], bool *sensitive);

#endif
