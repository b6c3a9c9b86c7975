/*  drift normalize --input FILE|-: the normalize stage's code on one plan
    document or stream, outside the pipeline, printing the canonical report
    as JSON (field names in proto/CANONICAL.md). For operators checking a
    plan by hand, and for tests.

    Exit code: 0 for a report with status ok, 1 for a failed one (the JSON
    still says why), 2 when the input cannot be read or the settings are
    wrong.
*/
#include "commands.h"
#include "../lib/canonical.h"
#include "../actors/normalize/normalize_config.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static json_t *
s_strings (char **strings, size_t count)
{
    json_t *array = json_array ();
    for (size_t index = 0; index < count; index++)
        json_array_append_new (array, json_string (strings [index]));
    return array;
}

//  changed_paths and changes of an item or pending change.
static void
s_changes (json_t *object, Drift__AttributeChange **changes, size_t count)
{
    json_t *paths = json_array ();
    json_t *list = json_array ();
    for (size_t index = 0; index < count; index++) {
        const Drift__AttributeChange *change = changes [index];
        json_array_append_new (paths, json_string (change->path));
        json_array_append_new (list, json_pack ("{s:s, s:s, s:s, s:s, s:b, s:b}",
            "path", change->path, "op", canonical_op_name (change->op),
            "before", change->before, "after", change->after,
            "sensitive", change->sensitive, "unknown", change->unknown));
    }
    json_object_set_new (object, "changed_paths", paths);
    json_object_set_new (object, "changes", list);
}

static json_t *
s_item (const Drift__DriftItem *item)
{
    json_t *object = json_pack ("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}",
        "address", item->address, "module", item->module, "type", item->type,
        "name", item->name, "index", item->index, "provider", item->provider,
        "kind", canonical_kind_name (item->kind), "class", canonical_class_name (item->class_),
        "fingerprint", item->fingerprint);
    json_object_set_new (object, "mirror_of", s_strings (item->mirror_of, item->n_mirror_of));
    if (*item->previous_address)
        json_object_set_new (object, "previous_address", json_string (item->previous_address));
    json_t *attributes = json_array ();
    for (size_t index = 0; index < item->n_attributes; index++) {
        const Drift__AttributeClass *attribute = item->attributes [index];
        json_t *entry = json_pack ("{s:s, s:s, s:s}", "name", attribute->name,
                                   "class", canonical_class_name (attribute->class_),
                                   "reason", attribute->reason);
        if (*attribute->mirror_of_address)
            json_object_set_new (entry, "mirror_of", json_pack ("{s:s, s:s}",
                "address", attribute->mirror_of_address,
                "attribute", attribute->mirror_of_attribute));
        json_array_append_new (attributes, entry);
    }
    json_object_set_new (object, "attributes", attributes);
    s_changes (object, item->changes, item->n_changes);
    return object;
}

static json_t *
s_pending (const Drift__PendingChange *pending)
{
    json_t *object = json_pack ("{s:s, s:s, s:s, s:s, s:s, s:s, s:s}",
        "address", pending->address, "module", pending->module, "type", pending->type,
        "name", pending->name, "index", pending->index, "provider", pending->provider,
        "action", canonical_action_name (pending->action));
    s_changes (object, pending->changes, pending->n_changes);
    return object;
}

static json_t *
s_report (const Drift__CanonicalReport *report)
{
    const Drift__ReportCounts *counts = report->counts;
    json_t *object = json_pack (
        "{s:i, s:s, s:s, s:s, s:s, s:s, s:s, s:b, s:b, s:s, s:s}",
        "version", (int) report->version, "report_id", report->report_id,
        "stack", report->stack, "engine", report->engine,
        "engine_version", report->engine_version,
        "source", canonical_source_name (report->source),
        "format_version", report->format_version, "refresh_only", report->refresh_only,
        "degraded", report->degraded, "status", canonical_status_name (report->status),
        "reason", report->reason);
    json_t *diagnostics = json_array ();
    for (size_t index = 0; index < report->n_diagnostics; index++) {
        const Drift__Diagnostic *diagnostic = report->diagnostics [index];
        json_array_append_new (diagnostics, json_pack ("{s:s, s:s, s:s, s:s}",
            "severity", diagnostic->severity, "summary", diagnostic->summary,
            "detail", diagnostic->detail, "address", diagnostic->address));
    }
    json_object_set_new (object, "diagnostics", diagnostics);
    json_object_set_new (object, "counts", json_pack (
        "{s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:i}",
        "modified", (int) counts->modified, "deleted", (int) counts->deleted,
        "replaced", (int) counts->replaced, "moved", (int) counts->moved,
        "ignored", (int) counts->ignored, "real", (int) counts->real,
        "mirror", (int) counts->mirror, "noise", (int) counts->noise,
        "pending", (int) counts->pending));
    json_t *items = json_array ();
    for (size_t index = 0; index < report->n_items; index++)
        json_array_append_new (items, s_item (report->items [index]));
    json_object_set_new (object, "drift", items);
    json_t *pending = json_array ();
    for (size_t index = 0; index < report->n_pending; index++)
        json_array_append_new (pending, s_pending (report->pending [index]));
    json_object_set_new (object, "pending", pending);
    return object;
}

int
cmd_normalize_input (config_t *config)
{
    const char *path = config_get (config, "input");
    size_t size = 0;
    char *text = cmd_read_all (path, &size);
    if (!text) {
        fprintf (stderr, "drift normalize: cannot read %s: %s\n", path, strerror (errno));
        return 2;
    }
    normalize_t *normalize = normalize_from_config (config, false);
    if (!normalize) {
        free (text);
        return 2;
    }
    Drift__CanonicalReport *report = normalize_document (normalize, config_get (config, "tenant"),
                                                         config_get (config, "stack"), text, size);
    free (text);
    normalize_destroy (&normalize);
    if (!report) {
        fprintf (stderr, "drift normalize: out of memory\n");
        return 2;
    }
    json_t *json = s_report (report);
    int rc = report->status == DRIFT__REPORT_STATUS__REPORT_STATUS_OK ? 0 : 1;
    drift__canonical_report__free_unpacked (report, NULL);
    if (!json || json_dumpf (json, stdout, JSON_INDENT (1) | JSON_PRESERVE_ORDER) != 0) {
        fprintf (stderr, "drift normalize: could not write the report\n");
        rc = 2;
    }
    fputc ('\n', stdout);
    json_decref (json);
    return rc;
}
