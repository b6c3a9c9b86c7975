/*  canonical: building a canonical report; see canonical.h.

    protobuf-c keeps a repeated field as a pointer and a count, with no
    room to spare, so appending reallocates: the arrays here grow to the
    next power of two when the count reaches one, which keeps 100 000 items
    to about seventeen reallocations.
*/
#include "canonical.h"

#include <czmq.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

char *
canonical_strdup (const char *text)
{
    return strdup (text ? text : "");
}

//  Room for one more pointer in an array of count pointers; false if
//  memory ran out.
static bool
s_grow (void ***array, size_t count)
{
    if (count && (count & (count - 1)))
        return true;
    void **grown = (void **) realloc (*array, (count ? count * 2 : 4) * sizeof (void *));
    if (!grown)
        return false;
    *array = grown;
    return true;
}

Drift__CanonicalReport *
canonical_new (void)
{
    Drift__CanonicalReport *report = (Drift__CanonicalReport *) malloc (sizeof *report);
    Drift__ReportCounts *counts = (Drift__ReportCounts *) malloc (sizeof *counts);
    if (!report || !counts) {
        free (report);
        free (counts);
        return NULL;
    }
    drift__canonical_report__init (report);
    drift__report_counts__init (counts);
    report->version = 1;
    report->status = DRIFT__REPORT_STATUS__REPORT_STATUS_OK;
    report->counts = counts;
    //  free_unpacked frees every string that is not the shared empty default.
    report->report_id = canonical_strdup (NULL);
    report->stack = canonical_strdup (NULL);
    report->engine = canonical_strdup (NULL);
    report->engine_version = canonical_strdup (NULL);
    report->reason = canonical_strdup (NULL);
    report->format_version = canonical_strdup (NULL);
    report->driftignore = canonical_strdup (NULL);
    return report;
}

int
canonical_fail (Drift__CanonicalReport *report, const char *format, ...)
{
    if (report->status != DRIFT__REPORT_STATUS__REPORT_STATUS_FAILED) {
        va_list args;
        va_start (args, format);
        char *reason = zsys_vprintf (format, args);
        va_end (args);
        free (report->reason);
        report->reason = reason ? reason : canonical_strdup ("out of memory");
        report->status = DRIFT__REPORT_STATUS__REPORT_STATUS_FAILED;
    }
    for (size_t index = 0; index < report->n_items; index++)
        drift__drift_item__free_unpacked (report->items [index], NULL);
    free (report->items);
    report->items = NULL;
    report->n_items = 0;
    for (size_t index = 0; index < report->n_pending; index++)
        drift__pending_change__free_unpacked (report->pending [index], NULL);
    free (report->pending);
    report->pending = NULL;
    report->n_pending = 0;
    return -1;
}

void
canonical_add_diagnostic (Drift__CanonicalReport *report, const char *severity,
                          const char *summary, const char *detail, const char *address)
{
    Drift__Diagnostic *diagnostic = (Drift__Diagnostic *) malloc (sizeof *diagnostic);
    if (!diagnostic || !s_grow ((void ***) &report->diagnostics, report->n_diagnostics)) {
        free (diagnostic);
        return;
    }
    drift__diagnostic__init (diagnostic);
    diagnostic->severity = canonical_strdup (severity);
    diagnostic->summary = canonical_strdup (summary);
    diagnostic->detail = canonical_strdup (detail);
    diagnostic->address = canonical_strdup (address);
    report->diagnostics [report->n_diagnostics++] = diagnostic;
}

Drift__DriftItem *
canonical_add_item (Drift__CanonicalReport *report)
{
    Drift__DriftItem *item = (Drift__DriftItem *) malloc (sizeof *item);
    if (!item || !s_grow ((void ***) &report->items, report->n_items)) {
        free (item);
        return NULL;
    }
    drift__drift_item__init (item);
    item->address = canonical_strdup (NULL);
    item->module = canonical_strdup (NULL);
    item->type = canonical_strdup (NULL);
    item->name = canonical_strdup (NULL);
    item->index = canonical_strdup (NULL);
    item->provider = canonical_strdup (NULL);
    item->fingerprint = canonical_strdup (NULL);
    item->previous_address = canonical_strdup (NULL);
    report->items [report->n_items++] = item;
    return item;
}

Drift__PendingChange *
canonical_add_pending (Drift__CanonicalReport *report)
{
    Drift__PendingChange *pending = (Drift__PendingChange *) malloc (sizeof *pending);
    if (!pending || !s_grow ((void ***) &report->pending, report->n_pending)) {
        free (pending);
        return NULL;
    }
    drift__pending_change__init (pending);
    pending->address = canonical_strdup (NULL);
    pending->module = canonical_strdup (NULL);
    pending->type = canonical_strdup (NULL);
    pending->name = canonical_strdup (NULL);
    pending->index = canonical_strdup (NULL);
    pending->provider = canonical_strdup (NULL);
    report->pending [report->n_pending++] = pending;
    return pending;
}

Drift__AttributeChange *
canonical_add_change (size_t *count, Drift__AttributeChange ***changes)
{
    Drift__AttributeChange *change = (Drift__AttributeChange *) malloc (sizeof *change);
    if (!change || !s_grow ((void ***) changes, *count)) {
        free (change);
        return NULL;
    }
    drift__attribute_change__init (change);
    change->path = canonical_strdup (NULL);
    change->before = canonical_strdup (NULL);
    change->after = canonical_strdup (NULL);
    (*changes) [(*count)++] = change;
    return change;
}

Drift__AttributeClass *
canonical_attribute (Drift__DriftItem *item, const char *name)
{
    //  Paths come grouped by top-level attribute: the last one is the
    //  likely match.
    for (size_t index = item->n_attributes; index > 0; index--)
        if (strcmp (item->attributes [index - 1]->name, name) == 0)
            return item->attributes [index - 1];
    Drift__AttributeClass *attribute = (Drift__AttributeClass *) malloc (sizeof *attribute);
    if (!attribute || !s_grow ((void ***) &item->attributes, item->n_attributes)) {
        free (attribute);
        return NULL;
    }
    drift__attribute_class__init (attribute);
    attribute->name = canonical_strdup (name);
    attribute->reason = canonical_strdup (NULL);
    attribute->mirror_of_address = canonical_strdup (NULL);
    attribute->mirror_of_attribute = canonical_strdup (NULL);
    item->attributes [item->n_attributes++] = attribute;
    return attribute;
}

void
canonical_count (Drift__CanonicalReport *report)
{
    Drift__ReportCounts *counts = report->counts;
    drift__report_counts__init (counts);
    for (size_t index = 0; index < report->n_items; index++) {
        const Drift__DriftItem *item = report->items [index];
        switch (item->kind) {
            case DRIFT__DRIFT_KIND__DRIFT_KIND_MODIFIED: counts->modified++; break;
            case DRIFT__DRIFT_KIND__DRIFT_KIND_DELETED: counts->deleted++; break;
            case DRIFT__DRIFT_KIND__DRIFT_KIND_REPLACED: counts->replaced++; break;
            case DRIFT__DRIFT_KIND__DRIFT_KIND_MOVED: counts->moved++; break;
            case DRIFT__DRIFT_KIND__DRIFT_KIND_IGNORED: counts->ignored++; break;
            default: break;
        }
        switch (item->class_) {
            case DRIFT__DRIFT_CLASS__DRIFT_CLASS_REAL: counts->real++; break;
            case DRIFT__DRIFT_CLASS__DRIFT_CLASS_MIRROR: counts->mirror++; break;
            case DRIFT__DRIFT_CLASS__DRIFT_CLASS_NOISE: counts->noise++; break;
            default: break;
        }
    }
    counts->pending = (uint32_t) report->n_pending;
}

const char *
canonical_kind_name (Drift__DriftKind kind)
{
    switch (kind) {
        case DRIFT__DRIFT_KIND__DRIFT_KIND_MODIFIED: return "modified";
        case DRIFT__DRIFT_KIND__DRIFT_KIND_DELETED: return "deleted";
        case DRIFT__DRIFT_KIND__DRIFT_KIND_REPLACED: return "replaced";
        case DRIFT__DRIFT_KIND__DRIFT_KIND_MOVED: return "moved";
        case DRIFT__DRIFT_KIND__DRIFT_KIND_IGNORED: return "ignored";
        default: return "unspecified";
    }
}

const char *
canonical_class_name (Drift__DriftClass class_)
{
    switch (class_) {
        case DRIFT__DRIFT_CLASS__DRIFT_CLASS_REAL: return "real";
        case DRIFT__DRIFT_CLASS__DRIFT_CLASS_MIRROR: return "mirror";
        case DRIFT__DRIFT_CLASS__DRIFT_CLASS_NOISE: return "noise";
        default: return "unspecified";
    }
}

const char *
canonical_op_name (Drift__ChangeOp op)
{
    switch (op) {
        case DRIFT__CHANGE_OP__CHANGE_OP_ADDED: return "added";
        case DRIFT__CHANGE_OP__CHANGE_OP_REMOVED: return "removed";
        case DRIFT__CHANGE_OP__CHANGE_OP_CHANGED: return "changed";
        default: return "unspecified";
    }
}

const char *
canonical_action_name (Drift__PendingAction action)
{
    switch (action) {
        case DRIFT__PENDING_ACTION__PENDING_ACTION_CREATE: return "create";
        case DRIFT__PENDING_ACTION__PENDING_ACTION_UPDATE: return "update";
        case DRIFT__PENDING_ACTION__PENDING_ACTION_DELETE: return "delete";
        case DRIFT__PENDING_ACTION__PENDING_ACTION_REPLACE: return "replace";
        case DRIFT__PENDING_ACTION__PENDING_ACTION_MOVE: return "move";
        case DRIFT__PENDING_ACTION__PENDING_ACTION_FORGET: return "forget";
        default: return "unspecified";
    }
}

const char *
canonical_source_name (Drift__SourceFormat source)
{
    switch (source) {
        case DRIFT__SOURCE_FORMAT__SOURCE_FORMAT_PLAN_JSON: return "plan_json";
        case DRIFT__SOURCE_FORMAT__SOURCE_FORMAT_PLAN_STREAM: return "plan_stream";
        case DRIFT__SOURCE_FORMAT__SOURCE_FORMAT_CLOUDFORMATION: return "cloudformation";
        case DRIFT__SOURCE_FORMAT__SOURCE_FORMAT_PULUMI: return "pulumi";
        default: return "unspecified";
    }
}

const char *
canonical_status_name (Drift__ReportStatus status)
{
    switch (status) {
        case DRIFT__REPORT_STATUS__REPORT_STATUS_OK: return "ok";
        case DRIFT__REPORT_STATUS__REPORT_STATUS_FAILED: return "failed";
        default: return "unspecified";
    }
}
