/*  changes: building an item's changed paths and its fingerprint; see
    changes.h.
*/
#include "changes.h"
#include "../../lib/canonical.h"
#include "fingerprint.h"

#include <stdlib.h>
#include <string.h>

void
changes_start_item (changes_t *self, Drift__DriftItem *item, const uint8_t *mask_key)
{
    *self = (changes_t) { &item->n_changes, &item->changes, item, mask_key, NULL, 0 };
}

void
changes_start_pending (changes_t *self, Drift__PendingChange *pending, const uint8_t *mask_key)
{
    *self = (changes_t) { &pending->n_changes, &pending->changes, NULL, mask_key, NULL, 0 };
}

//  File the newest change under its top-level attribute.
static int
s_file (changes_t *self, const char *top)
{
    if (!self->item)
        return 0;
    Drift__DriftItem *item = self->item;
    if (!canonical_attribute (item, top))
        return -1;
    if (*self->count > self->tops_size) {
        size_t size = self->tops_size ? self->tops_size * 2 : 8;
        uint32_t *tops = (uint32_t *) realloc (self->tops, size * sizeof *tops);
        if (!tops)
            return -1;
        self->tops = tops;
        self->tops_size = size;
    }
    uint32_t index = (uint32_t) item->n_attributes - 1;
    while (index > 0 && strcmp (item->attributes [index]->name, top) != 0)
        index--;
    self->tops [*self->count - 1] = index;
    return 0;
}

int
changes_add (changes_t *self, const char *path, const char *top, Drift__ChangeOp op,
             const char *before, const char *after, bool sensitive)
{
    Drift__AttributeChange *change = canonical_add_change (self->count, self->list);
    if (!change)
        return -1;
    free (change->path);
    change->path = canonical_strdup (path);
    free (change->before);
    change->before = canonical_strdup (before);
    free (change->after);
    change->after = canonical_strdup (after);
    change->op = op;
    change->sensitive = sensitive;
    if (!change->path || !change->before || !change->after)
        return -1;
    return s_file (self, top);
}

static int
s_on_change (void *arg, const attrdiff_change_t *found)
{
    changes_t *self = (changes_t *) arg;
    Drift__AttributeChange *change = canonical_add_change (self->count, self->list);
    if (!change)
        return -1;
    free (change->path);
    change->path = strdup (found->path);
    change->op = found->op == ATTRDIFF_ADDED ? DRIFT__CHANGE_OP__CHANGE_OP_ADDED
               : found->op == ATTRDIFF_REMOVED ? DRIFT__CHANGE_OP__CHANGE_OP_REMOVED
               : DRIFT__CHANGE_OP__CHANGE_OP_CHANGED;
    change->unknown = found->unknown;
    bool before_sensitive = false, after_sensitive = false;
    if (found->op != ATTRDIFF_ADDED) {
        free (change->before);
        change->before = mask_dump (found->before, &found->before_marks, self->mask_key,
                                    &before_sensitive);
    }
    if (found->op != ATTRDIFF_REMOVED) {
        free (change->after);
        change->after = mask_dump (found->after, &found->after_marks, self->mask_key,
                                   &after_sensitive);
    }
    change->sensitive = before_sensitive || after_sensitive;
    if (!change->path || !change->before || !change->after)
        return -1;
    return s_file (self, found->top);
}

int
changes_diff (changes_t *self, const attrdiff_input_t *input)
{
    return attrdiff_walk (input, s_on_change, self) ? -1 : 0;
}

uint32_t *
changes_finish (changes_t *self)
{
    uint32_t *tops = self->tops;
    self->tops = NULL;
    self->tops_size = 0;
    return tops;
}

int
changes_fingerprint (Drift__DriftItem *item, const uint32_t *tops, const char *tenant,
                     const char *stack)
{
    fingerprint_part_t *parts = (fingerprint_part_t *) calloc (item->n_changes + 1, sizeof *parts);
    if (!parts)
        return -1;
    size_t count = 0;
    bool all_noise = item->class_ == DRIFT__DRIFT_CLASS__DRIFT_CLASS_NOISE;
    for (size_t change = 0; change < item->n_changes && tops; change++) {
        const Drift__AttributeClass *attribute = item->attributes [tops [change]];
        if (!all_noise && attribute->class_ == DRIFT__DRIFT_CLASS__DRIFT_CLASS_NOISE)
            continue;
        parts [count].path = item->changes [change]->path;
        parts [count].after = item->changes [change]->after;
        count++;
    }
    if (item->kind == DRIFT__DRIFT_KIND__DRIFT_KIND_DELETED)
        parts [count++] = (fingerprint_part_t) { "", "null" };
    else
    if (item->kind == DRIFT__DRIFT_KIND__DRIFT_KIND_MOVED)
        parts [count++] = (fingerprint_part_t) { "", item->previous_address };
    char text [FINGERPRINT_TEXT_SIZE];
    int rc = fingerprint_compute (tenant, stack, item->address, parts, count, text);
    free (parts);
    if (rc == 0) {
        free (item->fingerprint);
        item->fingerprint = strdup (text);
        rc = item->fingerprint ? 0 : -1;
    }
    return rc;
}

int
changes_settle (const classify_t *rules, classify_entry_t *entries, uint32_t *const *tops,
                size_t count, classify_context_t *context, const char *tenant,
                const char *stack, Drift__CanonicalReport *report)
{
    if (classify_run (rules, entries, count, context))
        return canonical_fail (report, "out of memory");
    for (size_t index = 0; index < count; index++)
        if (changes_fingerprint (entries [index].item, tops [index], tenant, stack))
            return canonical_fail (report, "out of memory");
    return 0;
}

void
changes_reader_start (changes_reader_t *self, const canonical_context_t *context,
                      Drift__CanonicalReport *report, Drift__SourceFormat source,
                      const char *engine)
{
    *self = (changes_reader_t) { .context = context, .report = report };
    report->source = source;
    report->refresh_only = true;
    if (!*report->engine) {
        free (report->engine);
        report->engine = canonical_strdup (engine);
    }
}

int
changes_reader_settle (changes_reader_t *self)
{
    classify_context_t context = { NULL, NULL, false };
    return changes_settle (self->context->rules, self->entries, self->tops, self->count,
                           &context, self->context->tenant, self->context->stack, self->report);
}

int
changes_reader_end (changes_reader_t *self, int rc)
{
    if (self->tops)
        for (size_t index = 0; index < self->count; index++)
            free (self->tops [index]);
    free (self->tops);
    free (self->entries);
    if (rc == 0)
        canonical_count (self->report);
    return rc;
}
