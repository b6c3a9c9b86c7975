/*  canonical: building a canonical report (drift.proto CanonicalReport),
    shared by the readers of each source format (tfplan, tfstream).

    The report is a protobuf-c message built with malloc throughout, so
    drift__canonical_report__free_unpacked (report, NULL) frees it whole,
    whichever reader filled it and wherever it stopped. Readers add items,
    pending changes and diagnostics here, and fail the report here: a failed
    report keeps its reason and diagnostics and drops any items, because
    nothing may be alerted or resolved from a check that did not finish.
*/
#ifndef CANONICAL_H_INCLUDED
#define CANONICAL_H_INCLUDED

#include "../actors/normalize/classify.h"
#include "drift.pb-c.h"
#include "jdoc.h"
#include "../actors/normalize/mask.h"

#include <stddef.h>
#include <stdint.h>

//  What a reader needs besides the document.
typedef struct {
    const char *tenant;          // for fingerprints ("" outside the pipeline)
    const char *stack;           // for fingerprints
    const uint8_t *mask_key;     // MASK_KEY_BYTES: markers for sensitive values still in clear
    const classify_t *rules;     // the classification rules
    size_t max_resources;        // more entries than this in one list fail the report
    const jdoc_limits_t *limits; // parser limits
} canonical_context_t;

//  A new, empty report with status OK. NULL if memory ran out.
Drift__CanonicalReport *canonical_new (void);

//  Mark the report failed with a reason (printf format), dropping items and
//  pending changes; a reason already set stays (the first failure is the
//  precise one). Returns -1, for `return canonical_fail (...)`.
int canonical_fail (Drift__CanonicalReport *report, const char *format, ...)
    __attribute__ ((format (printf, 2, 3)));

//  Append a diagnostic; NULL strings are stored as "".
void canonical_add_diagnostic (Drift__CanonicalReport *report, const char *severity,
                               const char *summary, const char *detail, const char *address);

//  Append an empty item or pending change (every string ""), NULL if
//  memory ran out.
Drift__DriftItem *canonical_add_item (Drift__CanonicalReport *report);
Drift__PendingChange *canonical_add_pending (Drift__CanonicalReport *report);

//  Append an empty change to an item's or a pending change's list.
Drift__AttributeChange *canonical_add_change (size_t *count, Drift__AttributeChange ***changes);

//  The item's class entry for a top-level attribute, added if new. NULL if
//  memory ran out.
Drift__AttributeClass *canonical_attribute (Drift__DriftItem *item, const char *name);

//  Fill in report->counts from its items and pending changes.
void canonical_count (Drift__CanonicalReport *report);

//  A copy of a string (NULL gives ""), for fields free_unpacked frees.
char *canonical_strdup (const char *text);

//  Names of enum values, as the JSON output and logs write them.
const char *canonical_kind_name (Drift__DriftKind kind);
const char *canonical_class_name (Drift__DriftClass class_);
const char *canonical_op_name (Drift__ChangeOp op);
const char *canonical_action_name (Drift__PendingAction action);
const char *canonical_source_name (Drift__SourceFormat source);
const char *canonical_status_name (Drift__ReportStatus status);

#endif
