/*  changes: the changed paths of one drift item or pending change, as every
    source format's reader builds them, and the item's fingerprint from them.

    A reader either hands over the two sides of a resource (changes_diff:
    attrdiff finds the paths, mask writes the values) or adds changes one by
    one when its format lists them itself (CloudFormation's property
    differences, Pulumi's detailed diff). Either way each change is filed
    under its top-level attribute, which is what classify classes, and the
    attribute of each change is remembered so the fingerprint can leave
    noise out once classes are known.
*/
#ifndef CHANGES_H_INCLUDED
#define CHANGES_H_INCLUDED

#include "attrdiff.h"
#include "classify.h"
#include "../../lib/canonical.h"
#include "drift.pb-c.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    size_t *count;               // the change list's count...
    Drift__AttributeChange ***list; // ...and array, in the item or pending change
    Drift__DriftItem *item;      // drift item whose attributes to list, NULL for a pending change
    const uint8_t *mask_key;     // MASK_KEY_BYTES, for values still in clear
    uint32_t *tops;              // per change: index of its attribute in item
    size_t tops_size;            // room in tops
} changes_t;

//  Start filling an item's or a pending change's changes.
void changes_start_item (changes_t *self, Drift__DriftItem *item, const uint8_t *mask_key);
void changes_start_pending (changes_t *self, Drift__PendingChange *pending,
                            const uint8_t *mask_key);

//  Every changed path between the two sides. Returns 0, or -1 if memory ran out.
int changes_diff (changes_t *self, const attrdiff_input_t *input);

//  One change: path, the raw name of its top-level attribute, and the two
//  sides as canonical JSON ("" for the missing side). Returns 0, or -1 if
//  memory ran out.
int changes_add (changes_t *self, const char *path, const char *top, Drift__ChangeOp op,
                 const char *before, const char *after, bool sensitive);

//  The attribute index of each change (the caller frees it), for
//  changes_fingerprint; self is done with.
uint32_t *changes_finish (changes_t *self);

//  Set item's fingerprint (actors/normalize/fingerprint) from its changes, leaving out
//  those of noise attributes unless the whole item is noise, so a volatile
//  attribute moving beside a real change does not make the same drift look
//  new every run. tops is what changes_finish gave (NULL for no changes).
//  Returns 0, or -1 if memory ran out.
int changes_fingerprint (Drift__DriftItem *item, const uint32_t *tops, const char *tenant,
                         const char *stack);

//  What every format's reader does last: classify its count items (with
//  what the format knows, in context) and fingerprint each, tops [i] being
//  item i's attribute index. 0, or -1 with report failed (out of memory).
int changes_settle (const classify_t *rules, classify_entry_t *entries, uint32_t *const *tops,
                    size_t count, classify_context_t *context, const char *tenant,
                    const char *stack, Drift__CanonicalReport *report);

//  What a reader of a format's own diff (CloudFormation, Pulumi) holds while
//  it reads: per drift item its classify entry and attribute index.
typedef struct {
    const canonical_context_t *context; // tenant, stack, key, rules, limits
    Drift__CanonicalReport *report;     // being filled
    classify_entry_t *entries;   // one per drift item
    uint32_t **tops;             // per drift item: attribute index of each change
    size_t count;                // drift items so far
} changes_reader_t;

//  Start reading into report: its source, refresh-only, and engine unless
//  the agent named one.
void changes_reader_start (changes_reader_t *self, const canonical_context_t *context,
                           Drift__CanonicalReport *report, Drift__SourceFormat source,
                           const char *engine);

//  changes_settle for the items read, the format knowing nothing more of them.
int changes_reader_settle (changes_reader_t *self);

//  Free what reading held and, when rc is 0, count the report's items.
//  Returns rc.
int changes_reader_end (changes_reader_t *self, int rc);

#endif
