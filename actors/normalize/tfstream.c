/*  tfstream: the `plan -json` UI stream into a degraded canonical report;
    see tfstream.h.

    Each line is parsed on its own (a stream is many small documents), and
    a parse error is reported at the stream's line with the column jdoc
    gives within it.
*/
#include "tfstream.h"
#include "fingerprint.h"

#include <czmq.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const canonical_context_t *context; // tenant, stack, limits
    Drift__CanonicalReport *report;     // being filled
    size_t line;                 // 1-based line being read
    size_t resources;            // drift and pending lines so far
    char *error;                 // summary of the first error diagnostic, if any
} reader_t;

//  The resource a resource_drift or planned_change line is about.
typedef struct {
    const char *address;         // change.resource.addr
    const char *module;          // change.resource.module
    const char *type;            // change.resource.resource_type
    const char *name;            // change.resource.resource_name
    const char *provider;        // change.resource.implied_provider
    const jdoc_value_t *key;     // change.resource.resource_key (count or for_each)
    const char *action;          // change.action
    const char *previous;        // change.previous_resource.addr, for moves
    bool data;                   // a data source
} line_change_t;

static int
s_read_line_change (reader_t *self, const jdoc_value_t *line, line_change_t *change)
{
    memset (change, 0, sizeof *change);
    const jdoc_value_t *body = jdoc_get (line, "change");
    const jdoc_value_t *resource = jdoc_get (body, "resource");
    change->address = jdoc_string (jdoc_get (resource, "addr"), NULL);
    change->action = jdoc_string (jdoc_get (body, "action"), NULL);
    if (!change->address || !change->action)
        return canonical_fail (self->report,
                               "line %zu: change.resource.addr and change.action must be strings",
                               self->line);
    change->module = jdoc_string (jdoc_get (resource, "module"), NULL);
    change->type = jdoc_string (jdoc_get (resource, "resource_type"), NULL);
    change->name = jdoc_string (jdoc_get (resource, "resource_name"), NULL);
    change->provider = jdoc_string (jdoc_get (resource, "implied_provider"), NULL);
    change->key = jdoc_get (resource, "resource_key");
    if (jdoc_type (change->key) != JDOC_NUMBER && jdoc_type (change->key) != JDOC_STRING)
        change->key = NULL;
    change->previous = jdoc_string (jdoc_get (jdoc_get (body, "previous_resource"), "addr"),
                                    NULL);
    const char *local = jdoc_string (jdoc_get (resource, "resource"), NULL);
    change->data = local && strncmp (local, "data.", 5) == 0;
    if (++self->resources > self->context->max_resources)
        return canonical_fail (self->report,
                               "stream has more than the limit of %zu resources",
                               self->context->max_resources);
    return 0;
}

static void
s_identity (const line_change_t *change, char **address, char **module, char **type,
            char **name, char **index, char **provider)
{
    const char *values [] = { change->address, change->module, change->type, change->name,
                              change->provider };
    char **fields [] = { address, module, type, name, provider };
    for (size_t field = 0; field < 5; field++) {
        free (*fields [field]);
        *fields [field] = canonical_strdup (values [field]);
    }
    if (change->key) {
        char *text = jdoc_dump (change->key, NULL);
        if (text) {
            free (*index);
            *index = text;
        }
    }
}

static int
s_drift (reader_t *self, const jdoc_value_t *line)
{
    line_change_t change;
    if (s_read_line_change (self, line, &change))
        return -1;
    if (change.data)
        return 0;
    const char *action = change.action;
    Drift__DriftKind kind;
    if (strcmp (action, "update") == 0)
        kind = DRIFT__DRIFT_KIND__DRIFT_KIND_MODIFIED;
    else
    if (strcmp (action, "delete") == 0)
        kind = DRIFT__DRIFT_KIND__DRIFT_KIND_DELETED;
    else
    if (strcmp (action, "replace") == 0)
        kind = DRIFT__DRIFT_KIND__DRIFT_KIND_REPLACED;
    else
    if (strcmp (action, "move") == 0)
        kind = DRIFT__DRIFT_KIND__DRIFT_KIND_MOVED;
    else
    if (strcmp (action, "noop") == 0)
        kind = DRIFT__DRIFT_KIND__DRIFT_KIND_IGNORED;
    else
        return canonical_fail (self->report, "line %zu: resource_drift action %s is not drift",
                               self->line, action);
    Drift__DriftItem *item = canonical_add_item (self->report);
    if (!item)
        return canonical_fail (self->report, "out of memory");
    s_identity (&change, &item->address, &item->module, &item->type, &item->name,
                &item->index, &item->provider);
    item->kind = kind;
    if (change.previous) {
        free (item->previous_address);
        item->previous_address = canonical_strdup (change.previous);
    }
    //  Nothing can be seen inside: never ranked down.
    item->class_ = DRIFT__DRIFT_CLASS__DRIFT_CLASS_REAL;
    char *what = zsys_sprintf ("(degraded:%s)", action);
    fingerprint_part_t part = { "", what };
    char text [FINGERPRINT_TEXT_SIZE];
    int rc = what ? fingerprint_compute (self->context->tenant, self->context->stack,
                                         item->address, &part, 1, text) : -1;
    zstr_free (&what);
    if (rc)
        return canonical_fail (self->report, "out of memory");
    free (item->fingerprint);
    item->fingerprint = strdup (text);
    return 0;
}

static int
s_planned (reader_t *self, const jdoc_value_t *line)
{
    line_change_t change;
    if (s_read_line_change (self, line, &change))
        return -1;
    const char *action = change.action;
    Drift__PendingAction pending_action;
    if (change.data || strcmp (action, "noop") == 0 || strcmp (action, "read") == 0)
        return 0;
    if (strcmp (action, "create") == 0 || strcmp (action, "import") == 0)
        pending_action = DRIFT__PENDING_ACTION__PENDING_ACTION_CREATE;
    else
    if (strcmp (action, "update") == 0)
        pending_action = DRIFT__PENDING_ACTION__PENDING_ACTION_UPDATE;
    else
    if (strcmp (action, "delete") == 0)
        pending_action = DRIFT__PENDING_ACTION__PENDING_ACTION_DELETE;
    else
    if (strcmp (action, "replace") == 0)
        pending_action = DRIFT__PENDING_ACTION__PENDING_ACTION_REPLACE;
    else
    if (strcmp (action, "move") == 0)
        pending_action = DRIFT__PENDING_ACTION__PENDING_ACTION_MOVE;
    else
    if (strcmp (action, "forget") == 0 || strcmp (action, "remove") == 0)
        pending_action = DRIFT__PENDING_ACTION__PENDING_ACTION_FORGET;
    else
        return canonical_fail (self->report, "line %zu: unknown planned_change action %s",
                               self->line, action);
    Drift__PendingChange *pending = canonical_add_pending (self->report);
    if (!pending)
        return canonical_fail (self->report, "out of memory");
    s_identity (&change, &pending->address, &pending->module, &pending->type, &pending->name,
                &pending->index, &pending->provider);
    pending->action = pending_action;
    return 0;
}

static void
s_diagnostic (reader_t *self, const jdoc_value_t *line)
{
    const jdoc_value_t *diagnostic = jdoc_get (line, "diagnostic");
    const char *severity = jdoc_string (jdoc_get (diagnostic, "severity"), NULL);
    const char *summary = jdoc_string (jdoc_get (diagnostic, "summary"), NULL);
    if (!severity)
        severity = jdoc_string (jdoc_get (line, "@level"), NULL);
    if (!summary)
        summary = jdoc_string (jdoc_get (line, "@message"), NULL);
    canonical_add_diagnostic (self->report, severity, summary,
                              jdoc_string (jdoc_get (diagnostic, "detail"), NULL),
                              jdoc_string (jdoc_get (diagnostic, "address"), NULL));
    if (severity && strcmp (severity, "error") == 0 && !self->error)
        self->error = strdup (summary ? summary : "an error diagnostic");
}

static int
s_line (reader_t *self, const char *text, size_t size)
{
    jdoc_error_t error;
    jdoc_t *doc = jdoc_parse (text, size, self->context->limits, &error);
    if (!doc)
        return canonical_fail (self->report, "line %zu column %d: %s", self->line, error.column,
                               error.message);
    const jdoc_value_t *line = jdoc_root (doc);
    int rc = 0;
    const char *type = jdoc_string (jdoc_get (line, "type"), NULL);
    if (jdoc_type (line) != JDOC_OBJECT)
        rc = canonical_fail (self->report, "line %zu: not a JSON object", self->line);
    else
    if (!type)
        rc = 0;
    else
    if (strcmp (type, "version") == 0) {
        const char *version = jdoc_string (jdoc_get (line, "terraform"), NULL);
        if (!version)
            version = jdoc_string (jdoc_get (line, "tofu"), NULL);
        if (version && !*self->report->engine_version) {
            free (self->report->engine_version);
            self->report->engine_version = canonical_strdup (version);
        }
    }
    else
    if (strcmp (type, "diagnostic") == 0)
        s_diagnostic (self, line);
    else
    if (strcmp (type, "resource_drift") == 0)
        rc = s_drift (self, line);
    else
    if (strcmp (type, "planned_change") == 0)
        rc = s_planned (self, line);
    jdoc_destroy (&doc);
    return rc;
}

int
tfstream_read (const char *text, size_t size, const canonical_context_t *context,
               Drift__CanonicalReport *report)
{
    reader_t self = { .context = context, .report = report };
    report->source = DRIFT__SOURCE_FORMAT__SOURCE_FORMAT_PLAN_STREAM;
    report->degraded = true;
    size_t max_bytes = context->limits && context->limits->max_bytes
                     ? context->limits->max_bytes : JDOC_DEFAULT_MAX_BYTES;
    if (size > max_bytes)
        return canonical_fail (report, "stream larger than %zu bytes (%zu bytes)", max_bytes, size);
    const char *at = text, *end = text + size;
    int rc = 0;
    size_t lines = 0;
    while (at < end && rc == 0) {
        const char *newline = (const char *) memchr (at, '\n', (size_t) (end - at));
        const char *line_end = newline ? newline : end;
        self.line++;
        //  Blank lines (and a final newline) carry nothing.
        const char *first = at;
        while (first < line_end && (*first == ' ' || *first == '\t' || *first == '\r'))
            first++;
        if (first < line_end) {
            lines++;
            rc = s_line (&self, at, (size_t) (line_end - at));
        }
        at = line_end + 1;
    }
    if (rc == 0 && lines == 0)
        rc = canonical_fail (report, "stream is empty: no JSON lines");
    if (rc == 0 && self.error) {
        canonical_fail (report, "plan failed: %s", self.error);
        rc = 1;
    }
    free (self.error);
    //  The stream does not say its mode; planned changes mean a normal plan.
    report->refresh_only = report->n_pending == 0;
    if (rc == 0)
        canonical_count (report);
    return rc;
}
