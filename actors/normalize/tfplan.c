/*  tfplan: a `show -json` plan document into a canonical report; see
    tfplan.h for what is read and why.

    Order of work: the document's header (version, errored, checks), then
    resource_changes (they say whether this is a normal plan, and which
    resources the plan leaves alone), then resource_drift into items with
    their changed paths, then classes for all items at once (a mirror needs
    to see the other items), then fingerprints (they leave out noise, which
    is only known after classes).
*/
#include "tfplan.h"
#include "changes.h"
#include "../../lib/textbuf.h"

#include <czmq.h>
#include <stdlib.h>
#include <string.h>

//  One resource_drift or resource_changes entry, read and checked.
typedef struct {
    const char *address;         // as written
    const char *mode;            // managed or data
    const char *type;            // resource type
    const char *name;            // resource name
    const char *module;          // module_address, NULL in the root module
    const char *provider;        // provider_name, NULL if absent
    const char *previous;        // previous_address, NULL if absent
    const jdoc_value_t *index;   // count or for_each key, NULL if none
    char actions [64];           // change.actions joined with ",", e.g. "delete,create"
    attrdiff_input_t sides;      // change.before, change.after and their marks
} entry_t;

typedef struct {
    const canonical_context_t *context; // tenant, stack, key, rules, limits
    Drift__CanonicalReport *report;     // being filled
    bool normal;                 // a normal plan (it has resource_changes)
    zhashx_t *noop;              // normal plans: addresses the plan leaves as they are
    classify_entry_t *entries;   // one per drift item
    uint32_t **tops;             // per drift item: attribute index of each change
    size_t count;                // drift items so far
} reader_t;

//  A marker value for the no-op set: zhashx needs non-NULL items.
static int s_present;

//  --------------------------------------------------------------------------
//  Reading entries

//  Fail the report about entry position of list.
#define ENTRY_FAIL(self, list, position, address, ...) \
    s_entry_fail ((self), (list), (position), (address), zsys_sprintf (__VA_ARGS__))

static int
s_entry_fail (reader_t *self, const char *list, size_t position, const char *address,
              char *what)
{
    if (address)
        canonical_fail (self->report, "%s[%zu] (%s): %s", list, position, address,
                        what ? what : "out of memory");
    else
        canonical_fail (self->report, "%s[%zu]: %s", list, position,
                        what ? what : "out of memory");
    zstr_free (&what);
    return -1;
}

//  A string member that may be absent: 0 with *out (NULL if absent), -1
//  if it is there with another type.
static int
s_optional_string (const jdoc_value_t *object, const char *key, const char **out)
{
    const jdoc_value_t *value = jdoc_get (object, key);
    *out = jdoc_string (value, NULL);
    return value && !*out ? -1 : 0;
}

static bool
s_object_or_null (const jdoc_value_t *value)
{
    jdoc_type_t type = jdoc_type (value);
    return type == JDOC_ABSENT || type == JDOC_NULL || type == JDOC_OBJECT;
}

static int
s_read_entry (reader_t *self, const char *list, size_t position, const jdoc_value_t *value,
              entry_t *entry)
{
    memset (entry, 0, sizeof *entry);
    if (jdoc_type (value) != JDOC_OBJECT)
        return ENTRY_FAIL (self, list, position, NULL, "must be an object");
    entry->address = jdoc_string (jdoc_get (value, "address"), NULL);
    if (!entry->address)
        return ENTRY_FAIL (self, list, position, NULL,
                           jdoc_get (value, "address") ? "address must be a string"
                                                       : "missing address");
    const char *address = entry->address;
    const char *required [3] = { "mode", "type", "name" };
    const char **fields [3] = { &entry->mode, &entry->type, &entry->name };
    for (int index = 0; index < 3; index++) {
        *fields [index] = jdoc_string (jdoc_get (value, required [index]), NULL);
        if (!*fields [index])
            return ENTRY_FAIL (self, list, position, address, "%s %s", required [index],
                               jdoc_get (value, required [index]) ? "must be a string"
                                                                  : "is missing");
    }
    if (s_optional_string (value, "module_address", &entry->module)
    ||  s_optional_string (value, "provider_name", &entry->provider)
    ||  s_optional_string (value, "previous_address", &entry->previous))
        return ENTRY_FAIL (self, list, position, address,
                           "module_address, provider_name and previous_address must be strings");
    entry->index = jdoc_get (value, "index");
    jdoc_type_t index_type = jdoc_type (entry->index);
    if (entry->index && index_type != JDOC_NUMBER && index_type != JDOC_STRING)
        return ENTRY_FAIL (self, list, position, address, "index must be a number or a string");

    const jdoc_value_t *change = jdoc_get (value, "change");
    if (jdoc_type (change) != JDOC_OBJECT)
        return ENTRY_FAIL (self, list, position, address, "change %s",
                           change ? "must be an object" : "is missing");
    const jdoc_value_t *actions = jdoc_get (change, "actions");
    size_t count = jdoc_size (actions);
    if (jdoc_type (actions) != JDOC_ARRAY || count == 0 || count > 2)
        return ENTRY_FAIL (self, list, position, address,
                           "change.actions must be an array of one or two strings");
    for (size_t index = 0; index < count; index++) {
        const char *action = jdoc_string (jdoc_at (actions, index), NULL);
        size_t used = strlen (entry->actions);
        if (!action || strlen (action) + used + 2 > sizeof entry->actions)
            return ENTRY_FAIL (self, list, position, address,
                               "change.actions must be an array of one or two strings");
        snprintf (entry->actions + used, sizeof entry->actions - used, "%s%s",
                  index ? "," : "", action);
    }
    entry->sides.before = jdoc_get (change, "before");
    entry->sides.after = jdoc_get (change, "after");
    if (!s_object_or_null (entry->sides.before) || !s_object_or_null (entry->sides.after))
        return ENTRY_FAIL (self, list, position, address,
                           "change.before and change.after must be objects or null");
    entry->sides.before_sensitive = jdoc_get (change, "before_sensitive");
    entry->sides.after_sensitive = jdoc_get (change, "after_sensitive");
    entry->sides.after_unknown = jdoc_get (change, "after_unknown");
    return 0;
}

//  The strings every item and pending change has.
static void
s_identity (const entry_t *entry, char **address, char **module, char **type, char **name,
            char **index, char **provider)
{
    free (*address);
    *address = canonical_strdup (entry->address);
    free (*module);
    *module = canonical_strdup (entry->module);
    free (*type);
    *type = canonical_strdup (entry->type);
    free (*name);
    *name = canonical_strdup (entry->name);
    free (*provider);
    *provider = canonical_strdup (entry->provider);
    if (entry->index) {
        free (*index);
        *index = jdoc_dump (entry->index, NULL);
        if (!*index)
            *index = canonical_strdup (NULL);
    }
}

//  --------------------------------------------------------------------------
//  resource_changes: pending changes, and what the plan leaves alone

static bool
s_replace (const char *actions)
{
    return strcmp (actions, "delete,create") == 0 || strcmp (actions, "create,delete") == 0
        || strcmp (actions, "create,forget") == 0;
}

static int
s_read_change (reader_t *self, size_t position, const jdoc_value_t *value)
{
    entry_t entry;
    if (s_read_entry (self, "resource_changes", position, value, &entry))
        return -1;
    //  Data sources are read, not managed: never drift, never pending.
    if (strcmp (entry.mode, "managed") != 0)
        return 0;
    const char *actions = entry.actions;
    bool moved = entry.previous && strcmp (entry.previous, entry.address) != 0;
    Drift__PendingAction action;
    if (strcmp (actions, "no-op") == 0) {
        if (zhashx_insert (self->noop, entry.address, &s_present) == -1
        &&  !zhashx_lookup (self->noop, entry.address))
            return canonical_fail (self->report, "out of memory");
        if (!moved)
            return 0;
        action = DRIFT__PENDING_ACTION__PENDING_ACTION_MOVE;
    }
    else
    if (strcmp (actions, "create") == 0)
        action = DRIFT__PENDING_ACTION__PENDING_ACTION_CREATE;
    else
    if (strcmp (actions, "update") == 0)
        action = DRIFT__PENDING_ACTION__PENDING_ACTION_UPDATE;
    else
    if (strcmp (actions, "delete") == 0)
        action = DRIFT__PENDING_ACTION__PENDING_ACTION_DELETE;
    else
    if (strcmp (actions, "forget") == 0)
        action = DRIFT__PENDING_ACTION__PENDING_ACTION_FORGET;
    else
    if (s_replace (actions))
        action = DRIFT__PENDING_ACTION__PENDING_ACTION_REPLACE;
    else
        return ENTRY_FAIL (self, "resource_changes", position, entry.address,
                           "unknown change.actions [%s]", actions);

    Drift__PendingChange *pending = canonical_add_pending (self->report);
    if (!pending)
        return canonical_fail (self->report, "out of memory");
    s_identity (&entry, &pending->address, &pending->module, &pending->type, &pending->name,
                &pending->index, &pending->provider);
    pending->action = action;
    if (action != DRIFT__PENDING_ACTION__PENDING_ACTION_UPDATE
    &&  action != DRIFT__PENDING_ACTION__PENDING_ACTION_REPLACE)
        return 0;
    changes_t changes;
    changes_start_pending (&changes, pending, self->context->mask_key);
    int rc = changes_diff (&changes, &entry.sides);
    free (changes_finish (&changes));
    return rc ? canonical_fail (self->report, "out of memory") : 0;
}

//  --------------------------------------------------------------------------
//  resource_drift: the drift items

static int
s_read_drift (reader_t *self, size_t position, const jdoc_value_t *value)
{
    entry_t entry;
    if (s_read_entry (self, "resource_drift", position, value, &entry))
        return -1;
    if (strcmp (entry.mode, "managed") != 0)
        return 0;
    const char *actions = entry.actions;
    bool moved = entry.previous && strcmp (entry.previous, entry.address) != 0;
    Drift__DriftKind kind;
    if (strcmp (actions, "update") == 0)
        kind = DRIFT__DRIFT_KIND__DRIFT_KIND_MODIFIED;
    else
    if (strcmp (actions, "delete") == 0)
        kind = DRIFT__DRIFT_KIND__DRIFT_KIND_DELETED;
    else
    if (s_replace (actions))
        kind = DRIFT__DRIFT_KIND__DRIFT_KIND_REPLACED;
    else
    if (strcmp (actions, "no-op") == 0)
        kind = moved ? DRIFT__DRIFT_KIND__DRIFT_KIND_MOVED : DRIFT__DRIFT_KIND__DRIFT_KIND_IGNORED;
    else
        return ENTRY_FAIL (self, "resource_drift", position, entry.address,
                           "change.actions [%s] are not drift", actions);

    Drift__DriftItem *item = canonical_add_item (self->report);
    if (!item)
        return canonical_fail (self->report, "out of memory");
    s_identity (&entry, &item->address, &item->module, &item->type, &item->name, &item->index,
                &item->provider);
    item->kind = kind;
    if (moved) {
        free (item->previous_address);
        item->previous_address = canonical_strdup (entry.previous);
    }
    classify_entry_t *classified = &self->entries [self->count];
    classified->item = item;
    classified->before = entry.sides.before;
    classified->after = entry.sides.after;
    classified->planned_noop = self->normal && zhashx_lookup (self->noop, entry.address);
    self->count++;
    if (kind != DRIFT__DRIFT_KIND__DRIFT_KIND_MODIFIED && kind != DRIFT__DRIFT_KIND__DRIFT_KIND_REPLACED)
        return 0;
    changes_t changes;
    changes_start_item (&changes, item, self->context->mask_key);
    int rc = changes_diff (&changes, &entry.sides);
    self->tops [self->count - 1] = changes_finish (&changes);
    return rc ? canonical_fail (self->report, "out of memory") : 0;
}

//  --------------------------------------------------------------------------
//  The document

//  Failed and errored checks, as diagnostics: a failing check block is a
//  warning in Terraform, an errored one an error.
static void
s_read_checks (reader_t *self, const jdoc_value_t *checks)
{
    for (size_t index = 0; index < jdoc_size (checks); index++) {
        const jdoc_value_t *check = jdoc_at (checks, index);
        const char *status = jdoc_string (jdoc_get (check, "status"), NULL);
        if (!status || (strcmp (status, "fail") != 0 && strcmp (status, "error") != 0))
            continue;
        bool failed = strcmp (status, "fail") == 0;
        const char *address = jdoc_string (jdoc_get (jdoc_get (check, "address"), "to_display"),
                                           NULL);
        textbuf_t detail = TEXTBUF_INIT;
        const jdoc_value_t *instances = jdoc_get (check, "instances");
        for (size_t instance = 0; instance < jdoc_size (instances); instance++) {
            const jdoc_value_t *problems = jdoc_get (jdoc_at (instances, instance), "problems");
            for (size_t problem = 0; problem < jdoc_size (problems); problem++) {
                const char *message = jdoc_string (jdoc_get (jdoc_at (problems, problem),
                                                             "message"), NULL);
                if (!message)
                    continue;
                if (detail.size)
                    textbuf_adds (&detail, "; ");
                textbuf_adds (&detail, message);
            }
        }
        char *text = textbuf_detach (&detail);
        canonical_add_diagnostic (self->report, failed ? "warning" : "error",
                                  failed ? "Check block assertion failed" : "Check block errored",
                                  text, address);
        free (text);
    }
}

//  format_version "1" or "1.x" only.
static int
s_read_version (reader_t *self, const jdoc_value_t *root)
{
    const jdoc_value_t *value = jdoc_get (root, "format_version");
    const char *version = jdoc_string (value, NULL);
    if (!value)
        return canonical_fail (self->report,
                               "plan has no format_version: not `show -json` output of a plan");
    if (!version)
        return canonical_fail (self->report, "plan format_version must be a string");
    free (self->report->format_version);
    self->report->format_version = canonical_strdup (version);
    if (!(version [0] == '1' && (version [1] == 0 || version [1] == '.')))
        return canonical_fail (self->report,
                               "unsupported plan format_version %s (normalize reads 1.x)",
                               version);
    return 0;
}

//  An array of at most max_resources entries, or absent.
static int
s_check_list (reader_t *self, const jdoc_value_t *list, const char *name)
{
    if (!list)
        return 0;
    if (jdoc_type (list) != JDOC_ARRAY)
        return canonical_fail (self->report, "%s must be an array", name);
    if (jdoc_size (list) > self->context->max_resources)
        return canonical_fail (self->report,
                               "%s has %zu entries, more than the limit of %zu resources",
                               name, jdoc_size (list), self->context->max_resources);
    return 0;
}

static int
s_check_relevant (reader_t *self, const jdoc_value_t *relevant)
{
    if (!relevant)
        return 0;
    if (jdoc_type (relevant) != JDOC_ARRAY)
        return canonical_fail (self->report, "relevant_attributes must be an array");
    for (size_t index = 0; index < jdoc_size (relevant); index++) {
        const jdoc_value_t *entry = jdoc_at (relevant, index);
        if (!jdoc_string (jdoc_get (entry, "resource"), NULL)
        ||  jdoc_type (jdoc_get (entry, "attribute")) != JDOC_ARRAY)
            return canonical_fail (self->report, "relevant_attributes[%zu] must be an object "
                                   "with a resource string and an attribute array", index);
    }
    return 0;
}

static int
s_read (reader_t *self, const jdoc_value_t *root)
{
    Drift__CanonicalReport *report = self->report;
    if (jdoc_type (root) != JDOC_OBJECT)
        return canonical_fail (report, "plan document must be a JSON object");
    if (s_read_version (self, root))
        return -1;
    const char *tool = jdoc_string (jdoc_get (root, "terraform_version"), NULL);
    if (tool && !*report->engine_version) {
        free (report->engine_version);
        report->engine_version = canonical_strdup (tool);
    }
    s_read_checks (self, jdoc_get (root, "checks"));
    const jdoc_value_t *errored = jdoc_get (root, "errored");
    if (errored && jdoc_type (errored) != JDOC_TRUE && jdoc_type (errored) != JDOC_FALSE)
        return canonical_fail (report, "plan errored must be true or false");
    if (jdoc_type (errored) == JDOC_TRUE) {
        canonical_fail (report, "plan errored");
        return 1;
    }

    const jdoc_value_t *drift = jdoc_get (root, "resource_drift");
    const jdoc_value_t *changes = jdoc_get (root, "resource_changes");
    const jdoc_value_t *relevant = jdoc_get (root, "relevant_attributes");
    if (s_check_list (self, drift, "resource_drift")
    ||  s_check_list (self, changes, "resource_changes")
    ||  s_check_relevant (self, relevant))
        return -1;
    self->normal = changes != NULL;
    report->refresh_only = !self->normal;

    for (size_t index = 0; index < jdoc_size (changes); index++)
        if (s_read_change (self, index, jdoc_at (changes, index)))
            return -1;

    size_t count = jdoc_size (drift);
    self->entries = (classify_entry_t *) calloc (count + 1, sizeof *self->entries);
    self->tops = (uint32_t **) calloc (count + 1, sizeof *self->tops);
    if (!self->entries || !self->tops)
        return canonical_fail (report, "out of memory");
    for (size_t index = 0; index < count; index++)
        if (s_read_drift (self, index, jdoc_at (drift, index)))
            return -1;

    classify_context_t context = {
        .prior_state = jdoc_get (root, "prior_state"),
        .relevant = relevant,
        .normal_plan = self->normal
    };
    return changes_settle (self->context->rules, self->entries, self->tops, self->count,
                           &context, self->context->tenant, self->context->stack, report);
}

int
tfplan_read (const jdoc_value_t *root, const canonical_context_t *context,
             Drift__CanonicalReport *report)
{
    reader_t self = { .context = context, .report = report, .noop = zhashx_new () };
    report->source = DRIFT__SOURCE_FORMAT__SOURCE_FORMAT_PLAN_JSON;
    int rc = self.noop ? s_read (&self, root) : canonical_fail (report, "out of memory");
    if (self.tops)
        for (size_t index = 0; index < self.count; index++)
            free (self.tops [index]);
    free (self.tops);
    free (self.entries);
    zhashx_destroy (&self.noop);
    if (rc == 0)
        canonical_count (report);
    return rc;
}
