/*  cfn: CloudFormation drift into a canonical report; see cfn.h.

    CloudFormation gives every value as a string. A string that is JSON
    text (a number, an object, "true") is carried as that JSON, anything
    else as a JSON string, so "80" and 80 compare the same on both sides.
*/
#include "cfn.h"
#include "changes.h"
#include "../../lib/textbuf.h"

#include <czmq.h>
#include <stdlib.h>
#include <string.h>

//  What the reader holds: changes_reader_t (changes.h).
typedef changes_reader_t reader_t;

bool
cfn_detect (const jdoc_value_t *root)
{
    return jdoc_get (root, "StackResourceDrifts") != NULL;
}

//  A CloudFormation value (a string) as canonical JSON: its own JSON if it
//  is JSON text, else the string. Caller frees; NULL if memory ran out.
static char *
s_value (const reader_t *self, const char *text, size_t length, bool *sensitive)
{
    jdoc_t *doc = jdoc_parse (text, length, self->context->limits, NULL);
    if (doc) {
        char *json = mask_dump (jdoc_root (doc), NULL, self->context->mask_key, sensitive);
        jdoc_destroy (&doc);
        return json;
    }
    textbuf_t out = TEXTBUF_INIT;
    textbuf_add_json_string (&out, text, length);
    return textbuf_detach (&out);
}

//  Append one JSON pointer segment (raw bytes, ~0 and ~1 decoded) to a
//  canonical path.
static void
s_add_segment (textbuf_t *path, const char *segment, size_t length, bool first)
{
    bool digits = length > 0;
    bool identifier = length > 0;
    for (size_t index = 0; index < length; index++) {
        char c = segment [index];
        digits = digits && c >= '0' && c <= '9';
        bool letter = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
        identifier = identifier && (letter || (index > 0 && ((c >= '0' && c <= '9') || c == '-')));
    }
    if (digits && !first) {
        textbuf_addc (path, '[');
        textbuf_add (path, segment, length);
        textbuf_addc (path, ']');
    }
    else
    if (identifier) {
        if (!first)
            textbuf_addc (path, '.');
        textbuf_add (path, segment, length);
    }
    else {
        textbuf_addc (path, '[');
        textbuf_add_json_string (path, segment, length);
        textbuf_addc (path, ']');
    }
}

//  PropertyPath (a JSON pointer) as a canonical path, and its first
//  segment as the top-level attribute. Both caller-freed; false if memory
//  ran out.
static bool
s_path (const char *pointer, char **path, char **top)
{
    textbuf_t out = TEXTBUF_INIT;
    textbuf_t segment = TEXTBUF_INIT;
    *top = NULL;
    const char *at = pointer;
    if (*at == '/')
        at++;
    bool first = true;
    while (true) {
        textbuf_truncate (&segment, 0);
        textbuf_add (&segment, "", 0);
        while (*at && *at != '/') {
            if (at [0] == '~' && (at [1] == '0' || at [1] == '1')) {
                textbuf_addc (&segment, at [1] == '0' ? '~' : '/');
                at += 2;
            }
            else
                textbuf_addc (&segment, *at++);
        }
        if (segment.failed)
            break;
        if (first)
            *top = strdup (segment.data);
        if (segment.size || !first)
            s_add_segment (&out, segment.data, segment.size, first);
        first = false;
        if (*at != '/')
            break;
        at++;
    }
    textbuf_reset (&segment);
    *path = textbuf_detach (&out);
    if (!*path || !*top) {
        free (*path);
        free (*top);
        return false;
    }
    return true;
}

static int
s_fail (reader_t *self, size_t position, const char *address, const char *what)
{
    if (address)
        return canonical_fail (self->report, "StackResourceDrifts[%zu] (%s): %s", position,
                               address, what);
    return canonical_fail (self->report, "StackResourceDrifts[%zu]: %s", position, what);
}

//  One PropertyDifferences entry into the item's changes.
static int
s_difference (reader_t *self, changes_t *changes, size_t position, const char *address,
              size_t index, const jdoc_value_t *difference)
{
    const char *pointer = jdoc_string (jdoc_get (difference, "PropertyPath"), NULL);
    size_t expected_length, actual_length;
    const char *expected = jdoc_string (jdoc_get (difference, "ExpectedValue"), &expected_length);
    const char *actual = jdoc_string (jdoc_get (difference, "ActualValue"), &actual_length);
    const char *type = jdoc_string (jdoc_get (difference, "DifferenceType"), NULL);
    char what [120];
    if (!pointer || !expected || !actual || !type) {
        snprintf (what, sizeof what, "PropertyDifferences[%zu] needs PropertyPath, "
                  "ExpectedValue, ActualValue and DifferenceType strings", index);
        return s_fail (self, position, address, what);
    }
    Drift__ChangeOp op;
    if (strcmp (type, "ADD") == 0)
        op = DRIFT__CHANGE_OP__CHANGE_OP_ADDED;
    else
    if (strcmp (type, "REMOVE") == 0)
        op = DRIFT__CHANGE_OP__CHANGE_OP_REMOVED;
    else
    if (strcmp (type, "NOT_EQUAL") == 0)
        op = DRIFT__CHANGE_OP__CHANGE_OP_CHANGED;
    else {
        snprintf (what, sizeof what, "PropertyDifferences[%zu]: unknown DifferenceType %.40s",
                  index, type);
        return s_fail (self, position, address, what);
    }
    bool before_sensitive = false, after_sensitive = false;
    char *before = op == DRIFT__CHANGE_OP__CHANGE_OP_ADDED
                 ? strdup ("") : s_value (self, expected, expected_length, &before_sensitive);
    char *after = op == DRIFT__CHANGE_OP__CHANGE_OP_REMOVED
                ? strdup ("") : s_value (self, actual, actual_length, &after_sensitive);
    char *path = NULL, *top = NULL;
    int rc = before && after && s_path (pointer, &path, &top)
           ? changes_add (changes, path, top, op, before, after,
                          before_sensitive || after_sensitive)
           : -1;
    free (before);
    free (after);
    free (path);
    free (top);
    return rc ? canonical_fail (self->report, "out of memory") : 0;
}

static int
s_resource (reader_t *self, size_t position, const jdoc_value_t *drift)
{
    if (jdoc_type (drift) != JDOC_OBJECT)
        return s_fail (self, position, NULL, "must be an object");
    const char *address = jdoc_string (jdoc_get (drift, "LogicalResourceId"), NULL);
    const char *type = jdoc_string (jdoc_get (drift, "ResourceType"), NULL);
    const char *status = jdoc_string (jdoc_get (drift, "StackResourceDriftStatus"), NULL);
    if (!address)
        return s_fail (self, position, NULL, "LogicalResourceId must be a string");
    if (!type || !status)
        return s_fail (self, position, address,
                       "ResourceType and StackResourceDriftStatus must be strings");
    Drift__DriftKind kind;
    if (strcmp (status, "MODIFIED") == 0)
        kind = DRIFT__DRIFT_KIND__DRIFT_KIND_MODIFIED;
    else
    if (strcmp (status, "DELETED") == 0)
        kind = DRIFT__DRIFT_KIND__DRIFT_KIND_DELETED;
    else
    if (strcmp (status, "IN_SYNC") == 0 || strcmp (status, "NOT_CHECKED") == 0
    ||  strcmp (status, "UNKNOWN") == 0)
        return 0;
    else {
        char what [100];
        snprintf (what, sizeof what, "unknown StackResourceDriftStatus %.40s", status);
        return s_fail (self, position, address, what);
    }
    const jdoc_value_t *differences = jdoc_get (drift, "PropertyDifferences");
    if (differences && jdoc_type (differences) != JDOC_ARRAY)
        return s_fail (self, position, address, "PropertyDifferences must be an array");

    Drift__DriftItem *item = canonical_add_item (self->report);
    if (!item)
        return canonical_fail (self->report, "out of memory");
    free (item->address);
    item->address = canonical_strdup (address);
    free (item->name);
    item->name = canonical_strdup (address);
    free (item->type);
    item->type = canonical_strdup (type);
    const char *hierarchy = jdoc_string (jdoc_get (jdoc_get (drift, "ModuleInfo"),
                                                   "LogicalIdHierarchy"), NULL);
    if (hierarchy) {
        free (item->module);
        item->module = canonical_strdup (hierarchy);
    }
    free (item->provider);
    item->provider = canonical_strdup ("cloudformation");
    item->kind = kind;
    self->entries [self->count].item = item;
    self->count++;
    if (kind != DRIFT__DRIFT_KIND__DRIFT_KIND_MODIFIED)
        return 0;
    changes_t changes;
    changes_start_item (&changes, item, self->context->mask_key);
    int rc = 0;
    for (size_t index = 0; index < jdoc_size (differences) && rc == 0; index++)
        rc = s_difference (self, &changes, position, address, index,
                           jdoc_at (differences, index));
    self->tops [self->count - 1] = changes_finish (&changes);
    return rc;
}

static int
s_read (reader_t *self, const jdoc_value_t *root)
{
    const jdoc_value_t *drifts = jdoc_get (root, "StackResourceDrifts");
    if (jdoc_type (root) != JDOC_OBJECT || jdoc_type (drifts) != JDOC_ARRAY)
        return canonical_fail (self->report, "StackResourceDrifts must be an array");
    size_t count = jdoc_size (drifts);
    if (count > self->context->max_resources)
        return canonical_fail (self->report, "StackResourceDrifts has %zu entries, more than "
                               "the limit of %zu resources", count, self->context->max_resources);
    self->entries = (classify_entry_t *) calloc (count + 1, sizeof *self->entries);
    self->tops = (uint32_t **) calloc (count + 1, sizeof *self->tops);
    if (!self->entries || !self->tops)
        return canonical_fail (self->report, "out of memory");
    for (size_t index = 0; index < count; index++)
        if (s_resource (self, index, jdoc_at (drifts, index)))
            return -1;
    return changes_reader_settle (self);
}

int
cfn_read (const jdoc_value_t *root, const canonical_context_t *context,
          Drift__CanonicalReport *report)
{
    reader_t self;
    changes_reader_start (&self, context, report, DRIFT__SOURCE_FORMAT__SOURCE_FORMAT_CLOUDFORMATION, "cloudformation");
    return changes_reader_end (&self, s_read (&self, root));
}
