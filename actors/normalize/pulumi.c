/*  pulumi: a Pulumi refresh preview into a canonical report; see pulumi.h.

    A URN is urn:pulumi:STACK::PROJECT::QUALIFIED-TYPE::NAME, the qualified
    type being the parents' types and the resource's joined by '$'; the
    parents become the item's module, the package (the type up to its
    first ':') its provider.
*/
#include "pulumi.h"
#include "changes.h"
#include "../../lib/textbuf.h"

#include <czmq.h>
#include <stdlib.h>
#include <string.h>

//  What the reader holds: changes_reader_t (changes.h).
typedef changes_reader_t reader_t;

bool
pulumi_detect (const jdoc_value_t *root)
{
    return jdoc_type (jdoc_get (root, "steps")) == JDOC_ARRAY;
}

//  --------------------------------------------------------------------------
//  Property paths: name, .name, [N], ["key"]

//  The next segment of a path at *at into key (a key) or *index (an
//  index). Returns 1 for a key, 2 for an index, 0 at the end, -1 when the
//  path cannot be read.
static int
s_segment (const char **at, textbuf_t *key, size_t *index)
{
    const char *p = *at;
    if (*p == '.')
        p++;
    else
    if (!*p)
        return 0;
    textbuf_truncate (key, 0);
    textbuf_add (key, "", 0);
    if (*p == '[' && p [1] == '"') {
        p += 2;
        while (*p && *p != '"') {
            if (*p == '\\' && p [1])
                p++;
            textbuf_addc (key, *p++);
        }
        if (p [0] != '"' || p [1] != ']')
            return -1;
        *at = p + 2;
        return key->failed ? -1 : 1;
    }
    if (*p == '[') {
        char *end;
        unsigned long long value = strtoull (p + 1, &end, 10);
        if (end == p + 1 || *end != ']')
            return -1;
        *index = (size_t) value;
        *at = end + 1;
        return 2;
    }
    while (*p && *p != '.' && *p != '[')
        textbuf_addc (key, *p++);
    *at = p;
    return key->failed || key->size == 0 ? -1 : 1;
}

//  The value at path inside value (NULL if absent), and the path's first
//  key as *top (caller frees). False if the path cannot be read.
static bool
s_lookup (const jdoc_value_t *value, const char *path, const jdoc_value_t **found, char **top)
{
    textbuf_t key = TEXTBUF_INIT;
    const char *at = path;
    *top = NULL;
    int kind;
    size_t index = 0;
    while ((kind = s_segment (&at, &key, &index)) > 0) {
        if (!*top)
            *top = strdup (kind == 1 ? key.data : path);
        value = kind == 1 ? jdoc_get (value, key.data)
                          : jdoc_type (value) == JDOC_ARRAY ? jdoc_at (value, index) : NULL;
    }
    textbuf_reset (&key);
    *found = value;
    if (kind < 0 || !*top) {
        free (*top);
        *top = NULL;
        return false;
    }
    return true;
}

//  --------------------------------------------------------------------------

static int
s_fail (reader_t *self, size_t position, const char *urn, const char *what)
{
    if (urn)
        return canonical_fail (self->report, "steps[%zu] (%s): %s", position, urn, what);
    return canonical_fail (self->report, "steps[%zu]: %s", position, what);
}

//  The detailedDiff of a step into the item's changes.
static int
s_detailed (reader_t *self, changes_t *changes, size_t position, const char *urn,
            const jdoc_value_t *old_state, const jdoc_value_t *new_state,
            const jdoc_value_t *detailed)
{
    for (size_t index = 0; index < jdoc_size (detailed); index++) {
        const char *path = jdoc_key_at (detailed, index, NULL);
        const jdoc_value_t *diff = jdoc_at (detailed, index);
        const char *kind = jdoc_string (jdoc_get (diff, "kind"), NULL);
        char what [160];
        if (!kind) {
            snprintf (what, sizeof what, "detailedDiff \"%.60s\" has no kind", path);
            return s_fail (self, position, urn, what);
        }
        Drift__ChangeOp op;
        if (strncmp (kind, "add", 3) == 0)
            op = DRIFT__CHANGE_OP__CHANGE_OP_ADDED;
        else
        if (strncmp (kind, "delete", 6) == 0)
            op = DRIFT__CHANGE_OP__CHANGE_OP_REMOVED;
        else
        if (strncmp (kind, "update", 6) == 0)
            op = DRIFT__CHANGE_OP__CHANGE_OP_CHANGED;
        else {
            snprintf (what, sizeof what, "detailedDiff \"%.60s\": unknown kind %.40s", path, kind);
            return s_fail (self, position, urn, what);
        }
        const char *side = jdoc_type (jdoc_get (diff, "inputDiff")) == JDOC_TRUE
                         ? "inputs" : "outputs";
        const jdoc_value_t *before, *after;
        char *top = NULL, *ignored = NULL;
        if (!s_lookup (jdoc_get (old_state, side), path, &before, &top)
        ||  !s_lookup (jdoc_get (new_state, side), path, &after, &ignored)) {
            free (top);
            snprintf (what, sizeof what, "detailedDiff path \"%.60s\" cannot be read", path);
            return s_fail (self, position, urn, what);
        }
        free (ignored);
        bool before_sensitive = false, after_sensitive = false;
        const uint8_t *key = self->context->mask_key;
        char *before_text = op == DRIFT__CHANGE_OP__CHANGE_OP_ADDED
                          ? strdup ("") : mask_dump (before, NULL, key, &before_sensitive);
        char *after_text = op == DRIFT__CHANGE_OP__CHANGE_OP_REMOVED
                         ? strdup ("") : mask_dump (after, NULL, key, &after_sensitive);
        int rc = before_text && after_text
               ? changes_add (changes, path, top, op, before_text, after_text,
                              before_sensitive || after_sensitive)
               : -1;
        free (before_text);
        free (after_text);
        free (top);
        if (rc)
            return canonical_fail (self->report, "out of memory");
    }
    return 0;
}

//  The URN's parts: type (after the last '$' of the qualified type), the
//  parents' types as module, and the name. Caller frees all three.
static void
s_urn_parts (const char *urn, char **type, char **module, char **name)
{
    *type = *module = *name = NULL;
    const char *parts [3] = { NULL, NULL, NULL };
    const char *at = urn;
    for (int part = 0; part < 3 && at; part++) {
        at = strstr (at, "::");
        if (at)
            parts [part] = at += 2;
    }
    if (!parts [1] || !parts [2])
        return;
    const char *qualified = parts [1];
    size_t length = (size_t) (parts [2] - 2 - qualified);
    const char *dollar = NULL;
    for (const char *p = qualified; p < qualified + length; p++)
        if (*p == '$')
            dollar = p;
    *type = dollar ? strndup (dollar + 1, (size_t) (qualified + length - dollar - 1))
                   : strndup (qualified, length);
    *module = dollar ? strndup (qualified, (size_t) (dollar - qualified)) : strdup ("");
    *name = strdup (parts [2]);
}

static int
s_step (reader_t *self, size_t position, const jdoc_value_t *step)
{
    if (jdoc_type (step) != JDOC_OBJECT)
        return s_fail (self, position, NULL, "must be an object");
    const char *op = jdoc_string (jdoc_get (step, "op"), NULL);
    const char *urn = jdoc_string (jdoc_get (step, "urn"), NULL);
    if (!op || !urn)
        return s_fail (self, position, urn, "op and urn must be strings");
    const jdoc_value_t *old_state = jdoc_get (step, "oldState");
    const jdoc_value_t *new_state = jdoc_get (step, "newState");
    const jdoc_value_t *detailed = jdoc_get (step, "detailedDiff");
    if ((old_state && jdoc_type (old_state) != JDOC_OBJECT && jdoc_type (old_state) != JDOC_NULL)
    ||  (new_state && jdoc_type (new_state) != JDOC_OBJECT && jdoc_type (new_state) != JDOC_NULL)
    ||  (detailed && jdoc_type (detailed) != JDOC_OBJECT && jdoc_type (detailed) != JDOC_NULL))
        return s_fail (self, position, urn,
                       "oldState, newState and detailedDiff must be objects or null");
    if (jdoc_type (new_state) != JDOC_OBJECT)
        new_state = NULL;
    const jdoc_value_t *state = new_state ? new_state : old_state;
    if (jdoc_type (jdoc_get (state, "custom")) == JDOC_FALSE)
        return 0;
    char *type = NULL, *module = NULL, *name = NULL;
    s_urn_parts (urn, &type, &module, &name);
    if (!type || !module || !name) {
        free (type);
        free (module);
        free (name);
        return s_fail (self, position, urn, "urn is not urn:pulumi:STACK::PROJECT::TYPE::NAME");
    }
    const char *state_type = jdoc_string (jdoc_get (state, "type"), NULL);
    if (state_type) {
        free (type);
        type = strdup (state_type);
    }
    const jdoc_value_t *old_outputs = jdoc_get (old_state, "outputs");
    const jdoc_value_t *new_outputs = jdoc_get (new_state, "outputs");
    bool drift = true;
    Drift__DriftKind kind = DRIFT__DRIFT_KIND__DRIFT_KIND_MODIFIED;
    if (strcmp (op, "update") == 0)
        kind = DRIFT__DRIFT_KIND__DRIFT_KIND_MODIFIED;
    else
    if (strcmp (op, "delete") == 0 || strcmp (op, "discard") == 0)
        kind = DRIFT__DRIFT_KIND__DRIFT_KIND_DELETED;
    else
    if (strcmp (op, "replace") == 0)
        kind = DRIFT__DRIFT_KIND__DRIFT_KIND_REPLACED;
    else
    if (strcmp (op, "refresh") == 0) {
        kind = !new_state ? DRIFT__DRIFT_KIND__DRIFT_KIND_DELETED
                          : DRIFT__DRIFT_KIND__DRIFT_KIND_MODIFIED;
        drift = !new_state || !jdoc_equal (old_outputs, new_outputs);
    }
    else
    if (strcmp (op, "same") == 0 || strcmp (op, "create") == 0 || strcmp (op, "read") == 0
    ||  strcmp (op, "import") == 0 || strcmp (op, "create-replacement") == 0
    ||  strcmp (op, "delete-replaced") == 0 || strcmp (op, "read-replacement") == 0
    ||  strcmp (op, "import-replacement") == 0 || strcmp (op, "discard-replaced") == 0
    ||  strcmp (op, "remove-pending-replace") == 0)
        drift = false;
    else {
        free (type);
        free (module);
        free (name);
        char what [80];
        snprintf (what, sizeof what, "unknown op %.40s", op);
        return s_fail (self, position, urn, what);
    }
    //  The stack and the providers are Pulumi's own, not resources.
    if (!drift || strcmp (type, "pulumi:pulumi:Stack") == 0
    ||  strncmp (type, "pulumi:providers:", 17) == 0) {
        free (type);
        free (module);
        free (name);
        return 0;
    }
    Drift__DriftItem *item = canonical_add_item (self->report);
    if (!item) {
        free (type);
        free (module);
        free (name);
        return canonical_fail (self->report, "out of memory");
    }
    free (item->address);
    item->address = canonical_strdup (urn);
    free (item->type);
    item->type = type;
    free (item->module);
    item->module = module;
    free (item->name);
    item->name = name;
    const char *colon = strchr (type, ':');
    free (item->provider);
    item->provider = colon ? strndup (type, (size_t) (colon - type)) : canonical_strdup (type);
    item->kind = kind;
    classify_entry_t *entry = &self->entries [self->count++];
    entry->item = item;
    entry->before = old_outputs;
    entry->after = new_outputs;
    if (kind == DRIFT__DRIFT_KIND__DRIFT_KIND_DELETED)
        return 0;
    changes_t changes;
    changes_start_item (&changes, item, self->context->mask_key);
    int rc;
    if (jdoc_size (detailed) > 0)
        rc = s_detailed (self, &changes, position, urn, old_state, new_state, detailed);
    else {
        attrdiff_input_t sides = { old_outputs, new_outputs, NULL, NULL, NULL };
        rc = changes_diff (&changes, &sides) ? canonical_fail (self->report, "out of memory") : 0;
    }
    self->tops [self->count - 1] = changes_finish (&changes);
    return rc;
}

//  Diagnostics: an error fails the report. Returns 1 then, else 0.
static int
s_diagnostics (reader_t *self, const jdoc_value_t *diagnostics)
{
    const char *error = NULL;
    for (size_t index = 0; index < jdoc_size (diagnostics); index++) {
        const jdoc_value_t *diagnostic = jdoc_at (diagnostics, index);
        const char *severity = jdoc_string (jdoc_get (diagnostic, "severity"), NULL);
        const char *message = jdoc_string (jdoc_get (diagnostic, "message"), NULL);
        if (!severity || (strcmp (severity, "error") != 0 && strcmp (severity, "warning") != 0))
            continue;
        canonical_add_diagnostic (self->report, severity, message, NULL,
                                  jdoc_string (jdoc_get (diagnostic, "urn"), NULL));
        if (strcmp (severity, "error") == 0 && !error)
            error = message ? message : "an error diagnostic";
    }
    if (!error)
        return 0;
    canonical_fail (self->report, "preview failed: %s", error);
    return 1;
}

static int
s_read (reader_t *self, const jdoc_value_t *root)
{
    const jdoc_value_t *steps = jdoc_get (root, "steps");
    if (jdoc_type (root) != JDOC_OBJECT || jdoc_type (steps) != JDOC_ARRAY)
        return canonical_fail (self->report, "steps must be an array");
    size_t count = jdoc_size (steps);
    if (count > self->context->max_resources)
        return canonical_fail (self->report, "steps has %zu entries, more than the limit of "
                               "%zu resources", count, self->context->max_resources);
    self->entries = (classify_entry_t *) calloc (count + 1, sizeof *self->entries);
    self->tops = (uint32_t **) calloc (count + 1, sizeof *self->tops);
    if (!self->entries || !self->tops)
        return canonical_fail (self->report, "out of memory");
    for (size_t index = 0; index < count; index++)
        if (s_step (self, index, jdoc_at (steps, index)))
            return -1;
    if (s_diagnostics (self, jdoc_get (root, "diagnostics")))
        return 1;
    return changes_reader_settle (self);
}

int
pulumi_read (const jdoc_value_t *root, const canonical_context_t *context,
             Drift__CanonicalReport *report)
{
    reader_t self;
    changes_reader_start (&self, context, report, DRIFT__SOURCE_FORMAT__SOURCE_FORMAT_PULUMI, "pulumi");
    return changes_reader_end (&self, s_read (&self, root));
}
