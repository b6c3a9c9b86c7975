/*  outlines: an engine's output as capped, redacted lines, for a command's
    updates (AGENT-LINK.md section 7).

    Remediation streams what plan and apply print to the dashboard. That
    output can hold a value the plan marks sensitive (a provider's error
    quoting an attribute, a local-exec echoing a variable), so every line is
    redacted before anyone sees it: each known secret, anywhere in the line,
    becomes its redact_marker, the same "(sensitive:HEX)" the plan JSON
    carries. The secrets are the values a plan's sensitive marks cover,
    learnt from the plan JSON before and after redact_plan; a plan that
    failed has no JSON, so the values the stack's last check found
    sensitive (held in the agent's memory only) are added first.

    Bytes come in pieces (process_chunk_fn) from stdout and stderr; each
    stream is split on '\n' separately. A line is kept up to
    OUTLINES_RAW_MAX bytes, redacted whole, then cut to OUTLINES_LINE_MAX at a
    character boundary (a secret straddling the cut is still replaced whole).
    Of one piece at most OUTLINES_BATCH lines are passed on. While held
    (a plan, before its secrets are known) lines are kept, up to
    OUTLINES_HELD_MAX bytes, and passed on by outlines_release.
*/
#ifndef OUTLINES_H_INCLUDED
#define OUTLINES_H_INCLUDED

#include "redact.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define OUTLINES_LINE_MAX 4096              // bytes of a line passed on
#define OUTLINES_BATCH 256                  // lines of one piece passed on
#define OUTLINES_RAW_MAX 65536              // bytes of a line kept before redaction
#define OUTLINES_HELD_MAX ((size_t) 4 << 20) // bytes of held lines
#define OUTLINES_NUMBER_MIN 4               // characters of a sensitive number replaced

typedef struct _outlines_t outlines_t;

typedef void (outlines_fn) (void *arg, const char *line);

//  Lines go to on_output (NULL: they are only counted); key is the
//  redaction key (REDACT_KEY_BYTES), borrowed.
outlines_t *outlines_new (const uint8_t *key, outlines_fn *on_output, void *arg);

//  Destroy; nulls the pointer, wipes the secrets. Safe on NULL.
void outlines_destroy (outlines_t **self_p);

//  Hold lines (true) until outlines_release, or pass them on as they come.
void outlines_hold (outlines_t *self, bool hold);

//  Learn as secrets every string in original that redact_plan replaced in
//  redacted (a marked object or list: every string in it). Returns how
//  many new secrets were learnt.
size_t outlines_learn (outlines_t *self, const json_t *original, const json_t *redacted);

//  Add one secret (its clear text); empty strings are ignored.
void outlines_add_secret (outlines_t *self, const char *secret);

//  Add value, and every value in it, as secrets: strings (replaced wherever
//  they appear) and numbers of OUTLINES_NUMBER_MIN characters or more
//  (replaced only as a whole token: no letter or digit beside them);
//  booleans and shorter numbers are left alone ("1" or "true" would be
//  erased from every line, and reveal next to nothing).
void outlines_add_value (outlines_t *self, const json_t *value);

//  The same for values the stack's last check learnt (redact_stats_t
//  replaced): they redact lines but are never in outlines_secrets, so they
//  are never written to disk beside a plan.
void outlines_add_known (outlines_t *self, const json_t *values);

//  The secrets learnt or added (not the known ones) as a JSON array of
//  strings and numbers (caller decrefs), to keep beside a plan.
json_t *outlines_secrets (outlines_t *self);

//  Zero the strings in values, decref it and set *values_p to NULL.
void outlines_wipe (json_t **values_p);

//  A piece of output: matches process_chunk_fn, stream 1 stdout, 2 stderr.
void outlines_chunk (void *self, int stream, const char *bytes, size_t size);

//  The unterminated last line of each stream, as a line.
void outlines_flush (outlines_t *self);

//  Stop holding and pass on the held lines, redacted with what is known now.
void outlines_release (outlines_t *self);

//  Lines cut at OUTLINES_LINE_MAX, and lines not passed on.
size_t outlines_truncated (outlines_t *self);
size_t outlines_dropped (outlines_t *self);

#endif
