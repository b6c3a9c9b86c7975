/*  redact: the walk over a `terraform show -json` plan that puts a keyed hash
    in place of every sensitive value; see redact.h for where Terraform marks
    them.

    A mark is `true` (the whole value is sensitive), `false`, or an object or
    array mirroring the value. The walk follows the mark, never the value, so
    a value without a mark is left alone, and where the two disagree in shape
    (a plan from another version, or a hand-edited one) a mark that says true
    anywhere below takes the whole value: a secret is never left in clear
    because the structure around it was unexpected.

    The configuration carries no marks of its own, yet holds literals from the
    code. A literal is never made sensitive by a reference (a reference makes
    it not a literal), so its sensitivity comes from the provider's schema:
    an attribute some instance of the resource type marks sensitive is
    sensitive in every resource of that type. The walk gathers those
    attributes from the marks first, then redacts the configuration. Provider
    blocks are the exception: nothing marks their credentials, so every
    literal in a provider block is redacted.
*/
#include "redact.h"

#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

//  Fixed, so the same agent key gives the same redaction key in every version
//  that speaks v1; a new derivation would be "v2".
#define REDACT_CONTEXT "drift-agent redaction key v1"

//  Bytes of the HMAC kept in a marker: 128 bits tell values apart with no
//  practical chance of collision, at half the length.
#define REDACT_HASH_BYTES 16

#define REDACT_MARKER_PREFIX "(sensitive:"

typedef struct {
    const uint8_t *key;         // the redaction key, borrowed from the caller
    size_t values;              // values replaced so far
    json_t *replaced;           // the caller's array of the values replaced, or NULL
    json_t *type_marks;         // resource type: true, or {attribute: true} marked sensitive
} redactor_t;

//  --------------------------------------------------------------------------
//  Markers

//  libsodium asks for sodium_init (idempotent) before any other call; it picks
//  the fastest BLAKE2b. Both hashes used here give the same result without
//  it, so its failure changes nothing and is not reported.
static void
s_sodium_start (void)
{
    int rc = sodium_init ();
    (void) rc;
}

//  The marker of value; the work of redact_marker, without its checks.
static char *
s_marker_text (const json_t *value, const uint8_t *key)
{
    char *text = json_dumps (value, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
    if (!text)
        return NULL;
    size_t length = strlen (text);
    uint8_t mac [crypto_auth_hmacsha256_BYTES];
    crypto_auth_hmacsha256 (mac, (const uint8_t *) text, length, key);
    //  The text is the secret itself: it must not linger in freed memory.
    sodium_memzero (text, length);
    free (text);
    char hex [REDACT_HASH_BYTES * 2 + 1];
    sodium_bin2hex (hex, sizeof hex, mac, REDACT_HASH_BYTES);
    size_t size = strlen (REDACT_MARKER_PREFIX) + sizeof hex + 1;
    char *marker = (char *) malloc (size);
    if (marker)
        snprintf (marker, size, REDACT_MARKER_PREFIX "%s)", hex);
    return marker;
}

char *
redact_marker (const json_t *value, const uint8_t key [REDACT_KEY_BYTES])
{
    if (!value || !key)
        return NULL;
    s_sodium_start ();
    return s_marker_text (value, key);
}

void
redact_key_derive (const uint8_t secret_key [32], uint8_t key [REDACT_KEY_BYTES])
{
    s_sodium_start ();
    crypto_generichash (key, REDACT_KEY_BYTES,
                        (const uint8_t *) REDACT_CONTEXT, strlen (REDACT_CONTEXT),
                        secret_key, 32);
}

//  The marker to put in place of value, or NULL when value is absent or null
//  (null is no secret, and must stay distinct from a value). If memory runs
//  out the value is still taken away, as null: failing closed.
static json_t *
s_replacement (redactor_t *self, const json_t *value)
{
    if (!value || json_is_null (value))
        return NULL;
    self->values++;
    if (self->replaced)
        json_array_append ((json_t *) self->replaced, (json_t *) value);
    char *marker = s_marker_text (value, self->key);
    json_t *replacement = marker ? json_string (marker) : NULL;
    free (marker);
    return replacement ? replacement : json_null ();
}

//  Replace object's member name by its marker, if it has a non-null one.
static void
s_redact_member (redactor_t *self, json_t *object, const char *name)
{
    json_t *replacement = s_replacement (self, json_object_get (object, name));
    if (replacement)
        json_object_set_new (object, name, replacement);
}

//  --------------------------------------------------------------------------
//  Values under marks

//  True if mark covers the whole value at its place. Terraform writes only
//  true and false there; anything else that is not a structure is a mark we
//  do not understand, and is taken as true: only false and null say "not
//  sensitive".
static bool
s_says_true (const json_t *mark)
{
    return mark && !json_is_false (mark) && !json_is_null (mark)
        && !json_is_object (mark) && !json_is_array (mark);
}

//  True if mark says true anywhere in it.
static bool
s_marked (const json_t *mark)
{
    if (s_says_true (mark))
        return true;
    if (json_is_object (mark)) {
        const char *name;
        json_t *member;
        json_object_foreach ((json_t *) mark, name, member)
            if (s_marked (member))
                return true;
    }
    else
    if (json_is_array (mark)) {
        size_t index;
        json_t *element;
        json_array_foreach (mark, index, element)
            if (s_marked (element))
                return true;
    }
    return false;
}

//  True if the variable or output declaration says sensitive; as with marks,
//  only false, null or no flag at all say it is not.
static bool
s_declared_sensitive (const json_t *declaration)
{
    json_t *flag = json_object_get (declaration, "sensitive");
    return flag && !json_is_false (flag) && !json_is_null (flag);
}

//  Redact what mark covers inside value, in place. Returns the marker to put
//  in value's own place when all of it must go (the caller owns it and sets
//  it), else NULL.
static json_t *
s_redact_value (redactor_t *self, json_t *value, const json_t *mark)
{
    if (!value || json_is_null (value) || !mark)
        return NULL;
    if (s_says_true (mark))
        return s_replacement (self, value);
    if (json_is_object (mark) && json_is_object (value)) {
        const char *name;
        json_t *member_mark;
        json_object_foreach ((json_t *) mark, name, member_mark) {
            json_t *replacement = s_redact_value (self, json_object_get (value, name),
                                                  member_mark);
            if (replacement)
                json_object_set_new (value, name, replacement);
        }
        return NULL;
    }
    if (json_is_array (mark) && json_is_array (value)
    &&  json_array_size (mark) == json_array_size (value)) {
        for (size_t index = 0; index < json_array_size (value); index++) {
            json_t *replacement = s_redact_value (self, json_array_get (value, index),
                                                  json_array_get (mark, index));
            if (replacement)
                json_array_set_new (value, index, replacement);
        }
        return NULL;
    }
    //  Mark and value disagree in shape: we cannot tell which part is secret.
    return s_marked (mark) ? s_replacement (self, value) : NULL;
}

//  Redact object's member name under mark.
static void
s_redact_marked_member (redactor_t *self, json_t *object, const char *name,
                        const json_t *mark)
{
    json_t *replacement = s_redact_value (self, json_object_get (object, name), mark);
    if (replacement)
        json_object_set_new (object, name, replacement);
}

//  Remember that resources of type mark these attributes sensitive, for the
//  literals in the configuration.
static void
s_note_marks (redactor_t *self, const json_t *resource, const json_t *mark)
{
    if (!s_marked (mark))
        return;
    //  Without a type we cannot say which configuration it belongs to; its
    //  values are redacted all the same.
    const char *type = json_string_value (json_object_get (resource, "type"));
    if (!type)
        return;
    json_t *marks = json_object_get (self->type_marks, type);
    if (json_is_true (marks))
        return;
    if (!json_is_object (mark)) {
        json_object_set_new (self->type_marks, type, json_true ());
        return;
    }
    if (!marks) {
        marks = json_object ();
        json_object_set_new (self->type_marks, type, marks);
    }
    const char *name;
    json_t *member;
    json_object_foreach ((json_t *) mark, name, member)
        if (s_marked (member))
            json_object_set_new (marks, name, json_true ());
}

//  A change: before and after under before_sensitive and after_sensitive.
static void
s_redact_change (redactor_t *self, json_t *change)
{
    if (!json_is_object (change))
        return;
    s_redact_marked_member (self, change, "before",
                            json_object_get (change, "before_sensitive"));
    s_redact_marked_member (self, change, "after",
                            json_object_get (change, "after_sensitive"));
}

//  resource_drift, resource_changes: entries with a change each.
static void
s_redact_resource_changes (redactor_t *self, json_t *changes)
{
    size_t index;
    json_t *entry;
    json_array_foreach (changes, index, entry) {
        json_t *change = json_object_get (entry, "change");
        s_note_marks (self, entry, json_object_get (change, "before_sensitive"));
        s_note_marks (self, entry, json_object_get (change, "after_sensitive"));
        s_redact_change (self, change);
    }
}

//  deferred_changes: entries with the change one level further down.
static void
s_redact_deferred_changes (redactor_t *self, json_t *deferred)
{
    size_t index;
    json_t *entry;
    json_array_foreach (deferred, index, entry) {
        json_t *resource_change = json_object_get (entry, "resource_change");
        json_t *change = json_object_get (resource_change, "change");
        s_note_marks (self, resource_change, json_object_get (change, "before_sensitive"));
        s_note_marks (self, resource_change, json_object_get (change, "after_sensitive"));
        s_redact_change (self, change);
    }
}

//  A module of planned_values or prior_state: resources' values under
//  sensitive_values, then every child module.
static void
s_redact_module (redactor_t *self, json_t *module)
{
    size_t index;
    json_t *resource;
    json_array_foreach (json_object_get (module, "resources"), index, resource) {
        json_t *mark = json_object_get (resource, "sensitive_values");
        s_note_marks (self, resource, mark);
        s_redact_marked_member (self, resource, "values", mark);
    }
    json_t *child;
    json_array_foreach (json_object_get (module, "child_modules"), index, child)
        s_redact_module (self, child);
}

//  Outputs of planned_values or prior_state: {sensitive, value} each.
static void
s_redact_outputs (redactor_t *self, json_t *outputs)
{
    const char *name;
    json_t *output;
    json_object_foreach (outputs, name, output)
        if (s_declared_sensitive (output))
            s_redact_member (self, output, "value");
}

//  planned_values, or prior_state's values.
static void
s_redact_values (redactor_t *self, json_t *values)
{
    s_redact_outputs (self, json_object_get (values, "outputs"));
    s_redact_module (self, json_object_get (values, "root_module"));
}

//  --------------------------------------------------------------------------
//  Configuration

//  Every constant_value anywhere under expressions (an expression, a nested
//  block, a list or map of blocks): used where some part is sensitive and the
//  shape of blocks cannot be told from the configuration alone.
static void
s_redact_constants (redactor_t *self, json_t *expressions)
{
    if (json_is_object (expressions)) {
        const char *name;
        json_t *member;
        json_object_foreach (expressions, name, member) {
            if (strcmp (name, "constant_value") == 0)
                s_redact_member (self, expressions, name);
            else
                s_redact_constants (self, member);
        }
    }
    else
    if (json_is_array (expressions)) {
        size_t index;
        json_t *element;
        json_array_foreach (expressions, index, element)
            s_redact_constants (self, element);
    }
}

//  A module of the configuration: sensitive variables' defaults, sensitive
//  outputs' literals, resources' literals for attributes their type marks
//  sensitive, literal arguments to a called module's sensitive variables,
//  then every called module.
static void
s_redact_config_module (redactor_t *self, json_t *module)
{
    const char *name;
    json_t *member;
    json_object_foreach (json_object_get (module, "variables"), name, member)
        if (s_declared_sensitive (member))
            s_redact_member (self, member, "default");

    json_object_foreach (json_object_get (module, "outputs"), name, member)
        if (s_declared_sensitive (member))
            s_redact_constants (self, json_object_get (member, "expression"));

    size_t index;
    json_t *resource;
    json_array_foreach (json_object_get (module, "resources"), index, resource) {
        const char *type = json_string_value (json_object_get (resource, "type"));
        json_t *marks = type ? json_object_get (self->type_marks, type) : NULL;
        json_t *expressions = json_object_get (resource, "expressions");
        if (json_is_true (marks))
            s_redact_constants (self, expressions);
        else {
            json_t *mark;
            json_object_foreach (marks, name, mark)
                s_redact_constants (self, json_object_get (expressions, name));
        }
    }

    json_object_foreach (json_object_get (module, "module_calls"), name, member) {
        json_t *called = json_object_get (member, "module");
        json_t *arguments = json_object_get (member, "expressions");
        const char *variable_name;
        json_t *variable;
        json_object_foreach (json_object_get (called, "variables"), variable_name, variable)
            if (s_declared_sensitive (variable))
                s_redact_constants (self, json_object_get (arguments, variable_name));
        s_redact_config_module (self, called);
    }
}

//  The values given to the root module's sensitive variables.
static void
s_redact_variables (redactor_t *self, json_t *variables, const json_t *root_module)
{
    const char *name;
    json_t *declaration;
    json_object_foreach (json_object_get (root_module, "variables"), name, declaration)
        if (s_declared_sensitive (declaration))
            s_redact_member (self, json_object_get (variables, name), "value");
}

//  --------------------------------------------------------------------------
//  The plan

int
redact_plan (json_t *plan, const uint8_t key [REDACT_KEY_BYTES], redact_stats_t *stats)
{
    if (stats)
        stats->values = 0;
    if (!json_is_object (plan) || !key)
        return -1;
    s_sodium_start ();
    redactor_t self = { key, 0, stats && json_is_array (stats->replaced) ? stats->replaced : NULL,
                        json_object () };

    //  Everything with marks first: the configuration needs all of them.
    s_redact_resource_changes (&self, json_object_get (plan, "resource_drift"));
    s_redact_resource_changes (&self, json_object_get (plan, "resource_changes"));
    s_redact_deferred_changes (&self, json_object_get (plan, "deferred_changes"));
    s_redact_values (&self, json_object_get (plan, "planned_values"));
    s_redact_values (&self, json_object_get (json_object_get (plan, "prior_state"), "values"));
    const char *name;
    json_t *change;
    json_object_foreach (json_object_get (plan, "output_changes"), name, change)
        s_redact_change (&self, change);

    json_t *root_module = json_object_get (json_object_get (plan, "configuration"),
                                           "root_module");
    s_redact_variables (&self, json_object_get (plan, "variables"), root_module);
    s_redact_config_module (&self, root_module);
    //  Provider blocks hold credentials that no mark points at (access and
    //  secret keys written in the code): every literal there is redacted.
    json_t *provider;
    json_object_foreach (json_object_get (json_object_get (plan, "configuration"),
                                          "provider_config"), name, provider)
        s_redact_constants (&self, json_object_get (provider, "expressions"));

    json_decref (self.type_marks);
    if (stats)
        stats->values = self.values;
    return 0;
}
