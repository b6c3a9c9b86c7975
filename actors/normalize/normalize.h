/*  normalize: what an agent sent, turned into the canonical report that
    score, archive and notify work on (drift.proto CanonicalReport,
    proto/CANONICAL.md).

    This is the one entry point for the normalize stage and for `drift
    normalize --input`: the same code in the pipeline and outside it. It
    unpacks the raw Report, decompresses its payload, parses it (lib/jdoc,
    strict: invalid UTF-8, bad escapes and trailing garbage are refused) and
    hands it to the reader of its format (actors/normalize/tfplan, actors/normalize/tfstream; and,
    for documents given by hand until the agent link carries them, actors/normalize/cfn
    and actors/normalize/pulumi).

    It always answers a report. Bad input of any kind (bytes that are not a
    Report, a payload that does not decompress, invalid JSON, the wrong
    shape, an unknown major version, nesting deeper or more resources than
    the limits below) gives a report with status FAILED and a precise
    reason ("line 3 column 17: ..." where the parser knows), never a crash,
    and the raw report rides along in it so archive still keeps it. A plan
    that errored is a failed report too, a failed check rather than bad
    input; each kind of failure has its own counter.

    Documented limits: NORMALIZE_MAX_RESOURCES entries in resource_drift or
    resource_changes (or resource lines in a stream), NORMALIZE_MAX_DEPTH
    levels of nesting, NORMALIZE_MAX_BYTES of document. Numbers of any size
    and long strings are kept as written: they never fail a report.
*/
#ifndef NORMALIZE_H_INCLUDED
#define NORMALIZE_H_INCLUDED

#include "classify.h"
#include "drift.pb-c.h"
#include "mask.h"

#include <stddef.h>
#include <stdint.h>

#define NORMALIZE_MAX_RESOURCES 100000
#define NORMALIZE_MAX_DEPTH 512
#define NORMALIZE_MAX_BYTES ((size_t) 256 << 20)

typedef struct _normalize_t normalize_t;

typedef struct {
    uint64_t reports;            // reports answered
    uint64_t failed;             // of which failed, for any reason below
    uint64_t unreadable;         // not a Report, or its payload did not decompress
    uint64_t refused;            // the document was refused (JSON, shape, version, limits)
    uint64_t errored;            // the plan itself failed (errored, error diagnostics)
} normalize_stats_t;

//  A normalizer whose masks use key (MASK_KEY_BYTES), or a random key when
//  key is NULL: then markers of values still in clear differ between
//  processes. NULL if memory ran out.
normalize_t *normalize_new (const uint8_t *key);
void normalize_destroy (normalize_t **self_p);

//  Its classification rules, to add volatile attributes to.
classify_t *normalize_rules (normalize_t *self);

//  Lower the resource limit (tests); 0 restores NORMALIZE_MAX_RESOURCES.
void normalize_set_max_resources (normalize_t *self, size_t max_resources);

//  Normalize a raw report (a packed drift.Report, as in Envelope.raw) of
//  tenant. The bytes are copied into the result's raw field. Free with
//  drift__canonical_report__free_unpacked (report, NULL); NULL only if
//  memory ran out.
Drift__CanonicalReport *normalize_raw (normalize_t *self, const char *tenant,
                                       const uint8_t *raw, size_t size);

//  Normalize a document given by hand, told apart by its content: `show
//  -json` of a plan (format_version), a `plan -json` stream (@level),
//  CloudFormation drift (StackResourceDrifts, actors/normalize/cfn) or a Pulumi refresh
//  preview (steps, actors/normalize/pulumi). tenant and stack only go into fingerprints
//  (and stack into the report).
Drift__CanonicalReport *normalize_document (normalize_t *self, const char *tenant,
                                            const char *stack, const char *text, size_t size);

void normalize_stats (normalize_t *self, normalize_stats_t *stats);

#endif
