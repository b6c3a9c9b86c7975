/*  normalize: every real Terraform capture comes out as its README and
    expected.json say (drifted resources, kinds, changed top-level
    attributes, real/mirror/noise); no value marked sensitive ever comes
    out in clear; errored and clean plans; the -json stream as a degraded
    input; fingerprints stable across runs and moved by a new value; the
    classification rules on plans no fixture shows; CloudFormation drift and
    Pulumi previews built from their documented shapes; bad input of every
    kind gives a failed report with a precise reason, never a crash; the stage
    forwards every envelope, a garbage one as a failed report; `drift
    normalize --input` prints the documented JSON.

    Expectations are read from the fixtures' expected.json and
    large.expected.json, never copied here.
*/
#define _GNU_SOURCE                 // asprintf, memmem
#include "testutil.h"
#include "linkutil.h"
#include "../actors/actors.h"
#include "../agent/redact.h"
#include "../agent/report.h"
#include "../lib/canonical.h"
#include "../actors/normalize/normalize.h"

#include <criterion/criterion.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define TENANT "tenant-a"
#define STACK "payments"

//  --------------------------------------------------------------------------
//  Helpers


//  JSON written with single quotes, for readable plans in C strings.
static char *
s_quoted (const char *text)
{
    char *copy = strdup (text);
    for (char *at = copy; *at; at++)
        if (*at == '\'')
            *at = '"';
    return copy;
}

static normalize_t *
s_normalizer (uint8_t fill)
{
    uint8_t key [MASK_KEY_BYTES];
    memset (key, fill, sizeof key);
    normalize_t *normalize = normalize_new (key);
    cr_assert (normalize);
    return normalize;
}

static Drift__CanonicalReport *
s_document (normalize_t *normalize, const char *text, size_t size)
{
    Drift__CanonicalReport *report = normalize_document (normalize, TENANT, STACK, text, size);
    cr_assert (report);
    return report;
}

static Drift__CanonicalReport *
s_fixture (const char *name)
{
    normalize_t *normalize = s_normalizer (7);
    size_t size;
    char *text = tu_read_fixture (name, &size);
    Drift__CanonicalReport *report = s_document (normalize, text, size);
    free (text);
    normalize_destroy (&normalize);
    return report;
}

//  A plan written with single quotes (see s_quoted).
static Drift__CanonicalReport *
s_plan (const char *quoted)
{
    normalize_t *normalize = s_normalizer (7);
    char *text = s_quoted (quoted);
    Drift__CanonicalReport *report = s_document (normalize, text, strlen (text));
    free (text);
    normalize_destroy (&normalize);
    return report;
}

static void
s_free (Drift__CanonicalReport *report)
{
    drift__canonical_report__free_unpacked (report, NULL);
}

static Drift__DriftItem *
s_item (const Drift__CanonicalReport *report, const char *address)
{
    for (size_t index = 0; index < report->n_items; index++)
        if (strcmp (report->items [index]->address, address) == 0)
            return report->items [index];
    return NULL;
}

static const Drift__AttributeClass *
s_attribute (const Drift__DriftItem *item, const char *name)
{
    for (size_t index = 0; index < item->n_attributes; index++)
        if (strcmp (item->attributes [index]->name, name) == 0)
            return item->attributes [index];
    return NULL;
}

static const Drift__AttributeChange *
s_change (const Drift__DriftItem *item, const char *path)
{
    for (size_t index = 0; index < item->n_changes; index++)
        if (strcmp (item->changes [index]->path, path) == 0)
            return item->changes [index];
    return NULL;
}

static void
s_assert_ok (const Drift__CanonicalReport *report)
{
    cr_assert_eq (report->status, DRIFT__REPORT_STATUS__REPORT_STATUS_OK, "failed: %s",
                  report->reason);
}

//  The report failed, with a reason that starts with prefix.
static void
s_assert_failed (const Drift__CanonicalReport *report, const char *prefix)
{
    cr_assert_eq (report->status, DRIFT__REPORT_STATUS__REPORT_STATUS_FAILED,
                  "not failed (expected: %s)", prefix);
    cr_assert (strncmp (report->reason, prefix, strlen (prefix)) == 0,
               "reason '%s', expected '%s...'", report->reason, prefix);
    cr_assert_eq (report->n_items, 0);
    cr_assert_eq (report->n_pending, 0);
}

static Drift__DriftKind
s_kind_of (const json_t *actions)
{
    char joined [64] = "";
    size_t index;
    json_t *action;
    json_array_foreach (actions, index, action)
        snprintf (joined + strlen (joined), sizeof joined - strlen (joined), "%s%s",
                  index ? "," : "", json_string_value (action));
    if (strcmp (joined, "update") == 0)
        return DRIFT__DRIFT_KIND__DRIFT_KIND_MODIFIED;
    if (strcmp (joined, "delete") == 0)
        return DRIFT__DRIFT_KIND__DRIFT_KIND_DELETED;
    if (strcmp (joined, "delete,create") == 0 || strcmp (joined, "create,delete") == 0)
        return DRIFT__DRIFT_KIND__DRIFT_KIND_REPLACED;
    cr_assert_fail ("expected.json has actions %s", joined);
    return DRIFT__DRIFT_KIND__DRIFT_KIND_UNSPECIFIED;
}

static Drift__DriftClass
s_class_of (const char *name)
{
    if (strcmp (name, "real") == 0)
        return DRIFT__DRIFT_CLASS__DRIFT_CLASS_REAL;
    if (strcmp (name, "mirror") == 0)
        return DRIFT__DRIFT_CLASS__DRIFT_CLASS_MIRROR;
    if (strcmp (name, "noise") == 0)
        return DRIFT__DRIFT_CLASS__DRIFT_CLASS_NOISE;
    cr_assert_fail ("expected.json has class %s", name);
    return DRIFT__DRIFT_CLASS__DRIFT_CLASS_UNSPECIFIED;
}

//  The report has exactly the drift expected lists: addresses, kinds, the
//  changed top-level attributes, and per attribute the class classes gives
//  (an object attribute → class name, or one class name for the item).
//  For large.expected.json, which lists no classes, classes is NULL and the
//  class of each attribute is the one expected.json's scenarios give that
//  attribute name (ambiguous names are not used there).
static void
s_assert_expected (const Drift__CanonicalReport *report, const json_t *expected,
                   const json_t *classes_by_name, const char *what)
{
    s_assert_ok (report);
    cr_assert_eq (report->n_items, json_array_size (expected), "%s: %zu items, expected %zu",
                  what, report->n_items, json_array_size (expected));
    size_t index;
    json_t *entry;
    json_array_foreach (expected, index, entry) {
        const char *address = json_string_value (json_object_get (entry, "address"));
        const Drift__DriftItem *item = s_item (report, address);
        cr_assert (item, "%s: no item for %s", what, address);
        cr_assert_eq (item->kind, s_kind_of (json_object_get (entry, "actions")),
                      "%s: %s kind %s", what, address, canonical_kind_name (item->kind));
        cr_assert_eq (strlen (item->fingerprint), 32, "%s: %s has no fingerprint", what, address);
        json_t *attributes = json_object_get (entry, "attributes");
        json_t *kinds = json_object_get (entry, "kind");
        if (json_is_null (attributes)) {
            cr_assert_eq (item->n_attributes, 0, "%s: %s has attributes", what, address);
            if (json_is_string (kinds))
                cr_assert_eq (item->class_, s_class_of (json_string_value (kinds)),
                              "%s: %s is %s", what, address, canonical_class_name (item->class_));
            continue;
        }
        cr_assert_eq (item->n_attributes, json_array_size (attributes),
                      "%s: %s has %zu attributes, expected %zu", what, address,
                      item->n_attributes, json_array_size (attributes));
        Drift__DriftClass strongest = DRIFT__DRIFT_CLASS__DRIFT_CLASS_UNSPECIFIED;
        size_t position;
        json_t *name;
        json_array_foreach (attributes, position, name) {
            const char *attribute_name = json_string_value (name);
            const Drift__AttributeClass *attribute = s_attribute (item, attribute_name);
            cr_assert (attribute, "%s: %s has no change to %s", what, address, attribute_name);
            const char *class_name = classes_by_name
                ? json_string_value (json_object_get (classes_by_name, attribute_name))
                : json_string_value (json_object_get (kinds, attribute_name));
            cr_assert (class_name, "%s: no class known for %s", what, attribute_name);
            Drift__DriftClass expected_class = s_class_of (class_name);
            cr_assert_eq (attribute->class_, expected_class, "%s: %s %s is %s (%s), expected %s",
                          what, address, attribute_name, canonical_class_name (attribute->class_),
                          attribute->reason, class_name);
            if (expected_class > strongest)
                strongest = expected_class;
            if (attribute->class_ == DRIFT__DRIFT_CLASS__DRIFT_CLASS_MIRROR)
                cr_assert (*attribute->mirror_of_address, "%s: mirror %s %s links nowhere",
                           what, address, attribute_name);
        }
        cr_assert_eq (item->class_, strongest, "%s: %s class %s", what, address,
                      canonical_class_name (item->class_));
    }
}

//  Every value under a sensitivity mark, collected from a plan with
//  jansson (apart from normalize's own walk).
static void
s_collect (json_t *found, const json_t *value, const json_t *mark)
{
    if (!value || json_is_null (value) || !mark || json_is_false (mark) || json_is_null (mark))
        return;
    if (json_is_object (mark) && json_is_object (value)) {
        const char *name;
        json_t *member;
        json_object_foreach ((json_t *) mark, name, member)
            s_collect (found, json_object_get (value, name), member);
    }
    else
    if (json_is_array (mark) && json_is_array (value)) {
        for (size_t index = 0; index < json_array_size (mark); index++)
            s_collect (found, json_array_get (value, index), json_array_get (mark, index));
    }
    else
    if (!json_is_object (mark) && !json_is_array (mark))
        json_array_append (found, (json_t *) value);
}

static void
s_collect_module (json_t *found, const json_t *module)
{
    size_t index;
    json_t *resource;
    json_array_foreach (json_object_get (module, "resources"), index, resource)
        s_collect (found, json_object_get (resource, "values"),
                   json_object_get (resource, "sensitive_values"));
    json_t *child;
    json_array_foreach (json_object_get (module, "child_modules"), index, child)
        s_collect_module (found, child);
}

//  Every sensitive value of a plan: drift and state marks, sensitive
//  variables.
static json_t *
s_secrets (const json_t *plan)
{
    json_t *found = json_array ();
    size_t index;
    json_t *entry;
    json_array_foreach (json_object_get (plan, "resource_drift"), index, entry) {
        json_t *change = json_object_get (entry, "change");
        s_collect (found, json_object_get (change, "before"),
                   json_object_get (change, "before_sensitive"));
        s_collect (found, json_object_get (change, "after"),
                   json_object_get (change, "after_sensitive"));
    }
    s_collect_module (found, json_object_get (json_object_get (json_object_get (plan,
                      "prior_state"), "values"), "root_module"));
    const char *name;
    json_t *declaration;
    json_object_foreach (json_object_get (json_object_get (json_object_get (plan,
                         "configuration"), "root_module"), "variables"), name, declaration)
        if (json_is_true (json_object_get (declaration, "sensitive")))
            json_array_append (found, json_object_get (json_object_get (json_object_get (plan,
                               "variables"), name), "value"));
    return found;
}

//  No secret (strings of 6 bytes or more: shorter ones occur by chance)
//  occurs in size bytes of data.
static void
s_assert_no_secret (const json_t *secrets, const void *data, size_t size, const char *what)
{
    size_t index;
    json_t *secret;
    json_array_foreach (secrets, index, secret) {
        const char *text = json_string_value (secret);
        if (text && strlen (text) >= 6)
            cr_assert_null (memmem (data, size, text, strlen (text)),
                            "%s: secret '%s' in the output", what, text);
    }
}

static void
s_assert_packed_no_secret (const Drift__CanonicalReport *report, const json_t *secrets,
                           const char *what)
{
    Drift__CanonicalReport copy = *report;
    copy.raw.data = NULL;
    copy.raw.len = 0;
    size_t size = drift__canonical_report__get_packed_size (&copy);
    uint8_t *packed = (uint8_t *) malloc (size + 1);
    drift__canonical_report__pack (&copy, packed);
    s_assert_no_secret (secrets, packed, size, what);
    free (packed);
}

//  A plan document from a fixture with a change made in jansson.
static char *
s_dump (json_t *plan)
{
    char *text = json_dumps (plan, JSON_COMPACT);
    cr_assert (text);
    return text;
}

static json_t *
s_drift_entry (json_t *plan, const char *address)
{
    size_t index;
    json_t *entry;
    json_array_foreach (json_object_get (plan, "resource_drift"), index, entry)
        if (strcmp (json_string_value (json_object_get (entry, "address")), address) == 0)
            return entry;
    cr_assert_fail ("no drift entry %s", address);
    return NULL;
}

//  --------------------------------------------------------------------------
//  Golden tests on the captures

Test (normalize, every_scenario_gives_its_expected_drift_and_classes)
{
    json_t *expected = tu_read_fixture_json ("expected.json");
    const char *scenario;
    json_t *entry;
    int checked = 0;
    json_object_foreach (json_object_get (expected, "scenarios"), scenario, entry) {
        char name [64];
        snprintf (name, sizeof name, "%s.plan.json", scenario);
        Drift__CanonicalReport *report = s_fixture (name);
        s_assert_expected (report, json_object_get (entry, "drift"), NULL, scenario);
        cr_assert_eq (report->source, DRIFT__SOURCE_FORMAT__SOURCE_FORMAT_PLAN_JSON);
        cr_assert_str_eq (report->format_version, "1.2");
        cr_assert_str_eq (report->engine_version, "1.11.4");
        cr_assert (report->refresh_only);
        cr_assert_eq (report->n_pending, 0);
        //  Failed checks come along as warnings.
        size_t index;
        json_t *check;
        json_array_foreach (json_object_get (entry, "failed_checks"), index, check) {
            bool seen = false;
            for (size_t diagnostic = 0; diagnostic < report->n_diagnostics; diagnostic++)
                seen = seen || (strcmp (report->diagnostics [diagnostic]->address,
                                        json_string_value (check)) == 0
                                && strcmp (report->diagnostics [diagnostic]->severity,
                                           "warning") == 0);
            cr_assert (seen, "%s: failed check %s is not a diagnostic", scenario,
                       json_string_value (check));
        }
        s_free (report);
        checked++;
    }
    cr_assert_eq (checked, 7);
    json_decref (expected);
}

Test (normalize, large_plan_gives_its_120_drifted_resources)
{
    json_t *expected = tu_read_fixture_json ("expected.json");
    //  Attribute name → class, from every scenario that names it.
    json_t *classes = json_object ();
    json_t *ambiguous = json_object ();
    const char *scenario;
    json_t *entry;
    json_object_foreach (json_object_get (expected, "scenarios"), scenario, entry) {
        size_t index;
        json_t *drift;
        json_array_foreach (json_object_get (entry, "drift"), index, drift) {
            const char *name;
            json_t *class_name;
            json_t *kinds = json_object_get (drift, "kind");
            if (!json_is_object (kinds))
                continue;
            json_object_foreach (kinds, name, class_name) {
                json_t *known = json_object_get (classes, name);
                if (known && !json_equal (known, class_name))
                    json_object_set_new (ambiguous, name, json_true ());
                json_object_set (classes, name, class_name);
            }
        }
    }
    json_t *large = tu_read_fixture_json ("large.expected.json");
    size_t index;
    json_array_foreach (json_object_get (large, "drift"), index, entry) {
        size_t position;
        json_t *name;
        json_array_foreach (json_object_get (entry, "attributes"), position, name)
            cr_assert_null (json_object_get (ambiguous, json_string_value (name)));
    }
    //  A deleted resource is real, as every delete in expected.json.
    Drift__CanonicalReport *report = s_fixture ("large.plan.json");
    s_assert_expected (report, json_object_get (large, "drift"), classes, "large");
    for (size_t item = 0; item < report->n_items; item++)
        if (report->items [item]->kind == DRIFT__DRIFT_KIND__DRIFT_KIND_DELETED)
            cr_assert_eq (report->items [item]->class_, DRIFT__DRIFT_CLASS__DRIFT_CLASS_REAL);
    //  Addresses with module and for_each keys come through exactly, with
    //  their parts.
    Drift__DriftItem *bucket = NULL;
    for (size_t item = 0; item < report->n_items && !bucket; item++)
        if (strcmp (report->items [item]->type, "aws_s3_bucket") == 0)
            bucket = report->items [item];
    cr_assert (bucket);
    cr_assert (strncmp (bucket->address, "module.tenant[\"", 15) == 0, "%s", bucket->address);
    cr_assert (strncmp (bucket->module, "module.tenant[\"", 15) == 0, "%s", bucket->module);
    cr_assert_eq (bucket->index [0], '"', "for_each key as JSON text: %s", bucket->index);
    cr_assert_eq (report->counts->modified + report->counts->deleted, 120);
    s_free (report);
    json_decref (large);
    json_decref (classes);
    json_decref (ambiguous);
    json_decref (expected);
}

Test (normalize, changed_paths_walk_objects_and_arrays)
{
    Drift__CanonicalReport *report = s_fixture ("scenario-01.plan.json");
    const Drift__DriftItem *group = s_item (report, "aws_security_group.web");
    cr_assert (group);
    const Drift__AttributeChange *cidr = s_change (group, "ingress[1].cidr_blocks[0]");
    cr_assert (cidr, "no ingress[1].cidr_blocks[0]");
    cr_assert_eq (cidr->op, DRIFT__CHANGE_OP__CHANGE_OP_CHANGED);
    cr_assert_str_eq (cidr->before, "\"203.0.113.0/24\"");
    cr_assert_str_eq (cidr->after, "\"0.0.0.0/0\"");
    const Drift__AttributeChange *added = s_change (group, "ingress[2]");
    cr_assert (added);
    cr_assert_eq (added->op, DRIFT__CHANGE_OP__CHANGE_OP_ADDED);
    cr_assert_str_eq (added->before, "");
    s_free (report);

    report = s_fixture ("scenario-04.plan.json");
    const Drift__DriftItem *instance = s_item (report, "aws_instance.web");
    cr_assert_eq (s_change (instance, "tags.Owner")->op, DRIFT__CHANGE_OP__CHANGE_OP_ADDED);
    cr_assert_eq (s_change (instance, "tags.CostCenter")->op, DRIFT__CHANGE_OP__CHANGE_OP_REMOVED);
    cr_assert_str_eq (s_change (instance, "tags.CostCenter")->after, "");
    cr_assert_eq (s_change (instance, "tags.Environment")->op, DRIFT__CHANGE_OP__CHANGE_OP_CHANGED);
    const Drift__AttributeClass *tags_all = s_attribute (instance, "tags_all");
    cr_assert_str_eq (tags_all->mirror_of_address, "aws_instance.web");
    cr_assert_str_eq (tags_all->mirror_of_attribute, "tags");
    s_free (report);
}

Test (normalize, a_mirror_item_links_to_the_split_resource_it_repeats)
{
    Drift__CanonicalReport *report = s_fixture ("scenario-02.plan.json");
    const Drift__DriftItem *bucket = s_item (report, "aws_s3_bucket.receipts");
    cr_assert_eq (bucket->class_, DRIFT__DRIFT_CLASS__DRIFT_CLASS_MIRROR);
    cr_assert_eq (bucket->n_mirror_of, 1);
    cr_assert_str_eq (bucket->mirror_of [0],
                      "aws_s3_bucket_server_side_encryption_configuration.receipts");
    cr_assert_eq (report->counts->mirror, 1);
    cr_assert_eq (report->counts->real, 2);
    cr_assert_eq (report->counts->deleted, 1);
    s_free (report);
}

Test (normalize, no_value_marked_sensitive_comes_out)
{
    const char *names [] = { "scenario-00", "scenario-01", "scenario-02", "scenario-04",
                             "scenario-05", "scenario-08", "scenario-10", "large" };
    for (size_t index = 0; index < sizeof names / sizeof names [0]; index++) {
        char name [64];
        snprintf (name, sizeof name, "%s.plan.json", names [index]);
        json_t *plan = tu_read_fixture_json (name);
        json_t *secrets = s_secrets (plan);
        json_array_append_new (secrets, json_string ("correct-horse-battery-staple"));
        json_array_append_new (secrets, json_string ("sk_live_initial_value_0001"));
        Drift__CanonicalReport *report = s_fixture (name);
        s_assert_packed_no_secret (report, secrets, name);
        s_free (report);
        json_decref (secrets);
        json_decref (plan);
    }
}

//  The fixtures' secrets do not change, so a changed secret is made here:
//  the RDS password of scenario-10 changed, in clear as Terraform writes it.
Test (normalize, a_changed_secret_in_clear_is_masked_with_the_server_key)
{
    json_t *plan = tu_read_fixture_json ("scenario-10.plan.json");
    json_t *change = json_object_get (s_drift_entry (plan, "aws_db_instance.ledger[0]"), "change");
    json_object_set_new (json_object_get (change, "after"), "password",
                         json_string ("a-new-password-nobody-may-see"));
    char *text = s_dump (plan);
    normalize_t *normalize = s_normalizer (7);
    Drift__CanonicalReport *report = s_document (normalize, text, strlen (text));
    const Drift__DriftItem *item = s_item (report, "aws_db_instance.ledger[0]");
    const Drift__AttributeChange *password = s_change (item, "password");
    cr_assert (password);
    cr_assert (password->sensitive);
    cr_assert (strncmp (password->before, "\"(sensitive:", 12) == 0, "%s", password->before);
    cr_assert (strncmp (password->after, "\"(sensitive:", 12) == 0, "%s", password->after);
    cr_assert_str_neq (password->before, password->after);
    cr_assert_eq (s_attribute (item, "password")->class_, DRIFT__DRIFT_CLASS__DRIFT_CLASS_REAL);
    json_t *secrets = s_secrets (plan);
    json_array_append_new (secrets, json_string ("a-new-password-nobody-may-see"));
    s_assert_packed_no_secret (report, secrets, "changed password");
    //  The same secret gives the same marker: a later stage can tell an
    //  unchanged secret from a changed one.
    Drift__CanonicalReport *again = s_document (normalize, text, strlen (text));
    cr_assert_str_eq (s_change (s_item (again, "aws_db_instance.ledger[0]"), "password")->after,
                      password->after);
    s_free (again);
    s_free (report);
    normalize_destroy (&normalize);
    json_decref (secrets);
    free (text);
    json_decref (plan);
}

Test (normalize, markers_from_the_agent_stay_and_sensitive_maps_keep_their_keys)
{
    Drift__CanonicalReport *report = s_plan (
        "{'format_version':'1.2','resource_drift':[{'address':'aws_x.a','mode':'managed',"
        "'type':'aws_x','name':'a','change':{'actions':['update'],"
        "'before':{'token':'(sensitive:00112233445566778899aabbccddeeff)',"
        "          'labels':{'secret-key-name':'v1'},'config':{'inner':'keep','pin':'1234-5678'}},"
        "'after':{'token':'(sensitive:ffeeddccbbaa99887766554433221100)',"
        "         'labels':{'secret-key-name':'v2','other-secret-key':'v3'},"
        "         'config':{'inner':'changed','pin':'8765-4321'}},"
        "'before_sensitive':{'labels':true,'config':{'pin':true}},"
        "'after_sensitive':{'labels':true,'config':{'pin':true}},'after_unknown':{}}}]}");
    s_assert_ok (report);
    const Drift__DriftItem *item = s_item (report, "aws_x.a");
    const Drift__AttributeChange *token = s_change (item, "token");
    cr_assert_str_eq (token->before, "\"(sensitive:00112233445566778899aabbccddeeff)\"");
    cr_assert_str_eq (token->after, "\"(sensitive:ffeeddccbbaa99887766554433221100)\"");
    cr_assert (token->sensitive);
    //  A map marked sensitive as a whole is one change: its keys are secret too.
    cr_assert (s_change (item, "labels"));
    for (size_t index = 0; index < item->n_changes; index++)
        cr_assert_null (strstr (item->changes [index]->path, "secret-key"),
                        "path %s", item->changes [index]->path);
    cr_assert_str_eq (s_change (item, "config.inner")->after, "\"changed\"");
    cr_assert (strncmp (s_change (item, "config.pin")->after, "\"(sensitive:", 12) == 0);
    json_t *secrets = json_pack ("[s,s,s,s,s]", "1234-5678", "8765-4321", "secret-key-name",
                                 "other-secret-key", "v3");
    s_assert_packed_no_secret (report, secrets, "marks");
    json_decref (secrets);
    s_free (report);
}

Test (normalize, unknown_values_are_marked_unknown)
{
    Drift__CanonicalReport *report = s_plan (
        "{'format_version':'1.2','resource_changes':[{'address':'aws_x.a','mode':'managed',"
        "'type':'aws_x','name':'a','change':{'actions':['update'],"
        "'before':{'arn':'arn:1','size':1,'nested':{'id':'n1','keep':true}},"
        "'after':{'size':2,'nested':{'keep':true}},"
        "'after_unknown':{'arn':true,'nested':{'id':true}}}}]}");
    s_assert_ok (report);
    cr_assert_eq (report->n_pending, 1);
    const Drift__PendingChange *pending = report->pending [0];
    cr_assert_eq (pending->action, DRIFT__PENDING_ACTION__PENDING_ACTION_UPDATE);
    cr_assert_eq (pending->n_changes, 3);
    for (size_t index = 0; index < pending->n_changes; index++) {
        const Drift__AttributeChange *change = pending->changes [index];
        if (strcmp (change->path, "arn") == 0 || strcmp (change->path, "nested.id") == 0) {
            cr_assert (change->unknown, "%s", change->path);
            cr_assert_str_eq (change->after, "\"(unknown)\"");
            cr_assert_eq (change->op, DRIFT__CHANGE_OP__CHANGE_OP_CHANGED);
        }
        else {
            cr_assert_str_eq (change->path, "size");
            cr_assert_str_eq (change->after, "2");
        }
    }
    s_free (report);
}

//  --------------------------------------------------------------------------
//  Failed and clean checks

Test (normalize, an_errored_plan_is_a_failed_check_with_nothing_to_alert)
{
    //  Terraform read an unreachable API as a deleted bucket: the plan
    //  errored, so the "deletion" must not come out as drift.
    json_t *plan = tu_read_fixture_json ("scenario-01.plan.json");
    json_object_set_new (plan, "errored", json_true ());
    json_t *entry = json_deep_copy (s_drift_entry (plan, "aws_security_group.web"));
    json_object_set_new (entry, "address", json_string ("aws_s3_bucket.receipts"));
    json_object_set_new (entry, "type", json_string ("aws_s3_bucket"));
    json_object_set_new (json_object_get (entry, "change"), "actions", json_pack ("[s]", "delete"));
    json_object_set_new (json_object_get (entry, "change"), "after", json_null ());
    json_array_append_new (json_object_get (plan, "resource_drift"), entry);
    char *text = s_dump (plan);
    normalize_t *normalize = s_normalizer (7);
    Drift__CanonicalReport *report = s_document (normalize, text, strlen (text));
    s_assert_failed (report, "plan errored");
    cr_assert_eq (report->counts->deleted, 0);
    //  What the plan has to say stays: the failed check.
    cr_assert_eq (report->n_diagnostics, 1);
    cr_assert_str_eq (report->diagnostics [0]->address, "check.web_ssh_not_public");
    normalize_stats_t stats;
    normalize_stats (normalize, &stats);
    cr_assert_eq (stats.errored, 1);
    cr_assert_eq (stats.refused, 0);
    s_free (report);
    normalize_destroy (&normalize);
    free (text);
    json_decref (plan);
}

Test (normalize, a_plan_without_resource_drift_is_clean)
{
    json_t *plan = tu_read_fixture_json ("scenario-08.plan.json");
    cr_assert_null (json_object_get (plan, "resource_drift"));
    json_decref (plan);
    Drift__CanonicalReport *report = s_fixture ("scenario-08.plan.json");
    s_assert_ok (report);
    cr_assert_eq (report->n_items, 0);
    cr_assert_eq (report->counts->real + report->counts->mirror + report->counts->noise, 0);
    s_free (report);
}

//  --------------------------------------------------------------------------
//  The -json stream

Test (normalize, the_stream_gives_addresses_and_actions_flagged_degraded)
{
    json_t *expected = tu_read_fixture_json ("expected.json");
    const char *scenario;
    json_t *entry;
    json_object_foreach (json_object_get (expected, "scenarios"), scenario, entry) {
        char name [64];
        snprintf (name, sizeof name, "%s.log.jsonl", scenario);
        Drift__CanonicalReport *report = s_fixture (name);
        s_assert_ok (report);
        cr_assert (report->degraded);
        cr_assert_eq (report->source, DRIFT__SOURCE_FORMAT__SOURCE_FORMAT_PLAN_STREAM);
        cr_assert_str_eq (report->engine_version, "1.11.4");
        json_t *drift = json_object_get (entry, "drift");
        cr_assert_eq (report->n_items, json_array_size (drift), "%s", scenario);
        size_t index;
        json_t *expected_item;
        json_array_foreach (drift, index, expected_item) {
            const Drift__DriftItem *item = s_item (report,
                json_string_value (json_object_get (expected_item, "address")));
            cr_assert (item, "%s", scenario);
            cr_assert_eq (item->kind, s_kind_of (json_object_get (expected_item, "actions")));
            //  Nothing to see into: no paths, never ranked down.
            cr_assert_eq (item->n_changes, 0);
            cr_assert_eq (item->class_, DRIFT__DRIFT_CLASS__DRIFT_CLASS_REAL);
            cr_assert_eq (strlen (item->fingerprint), 32);
        }
        s_free (report);
    }
    json_decref (expected);

    json_t *large = tu_read_fixture_json ("large.expected.json");
    Drift__CanonicalReport *report = s_fixture ("large.log.jsonl");
    s_assert_ok (report);
    cr_assert_eq (report->n_items, json_array_size (json_object_get (large, "drift")));
    s_free (report);
    json_decref (large);
}

Test (normalize, a_stream_with_an_error_is_a_failed_check_with_its_diagnostics)
{
    size_t size;
    char *log = tu_read_fixture ("scenario-05.log.jsonl", &size);
    const char *error = "{\"@level\":\"error\",\"@message\":\"Error: reading S3 Bucket\","
        "\"type\":\"diagnostic\",\"diagnostic\":{\"severity\":\"error\","
        "\"summary\":\"reading S3 Bucket (payments-prod-receipts): connection refused\","
        "\"detail\":\"\",\"address\":\"aws_s3_bucket.receipts\"}}\n";
    char *text = (char *) malloc (size + strlen (error) + 1);
    memcpy (text, log, size);
    strcpy (text + size, error);
    normalize_t *normalize = s_normalizer (7);
    Drift__CanonicalReport *report = s_document (normalize, text, strlen (text));
    s_assert_failed (report, "plan failed: reading S3 Bucket (payments-prod-receipts)");
    cr_assert_eq (report->n_diagnostics, 1);
    cr_assert_str_eq (report->diagnostics [0]->address, "aws_s3_bucket.receipts");
    cr_assert_str_eq (report->diagnostics [0]->severity, "error");
    s_free (report);
    normalize_destroy (&normalize);
    free (text);
    free (log);
}

//  --------------------------------------------------------------------------
//  Fingerprints

Test (normalize, fingerprints_are_stable_across_runs_and_move_with_new_values)
{
    json_t *plan = tu_read_fixture_json ("scenario-04.plan.json");
    char *first = s_dump (plan);
    normalize_t *one = s_normalizer (1);
    normalize_t *two = s_normalizer (2);
    Drift__CanonicalReport *run1 = s_document (one, first, strlen (first));
    Drift__CanonicalReport *run2 = s_document (two, first, strlen (first));
    for (size_t index = 0; index < run1->n_items; index++)
        cr_assert_str_eq (run1->items [index]->fingerprint,
                          s_item (run2, run1->items [index]->address)->fingerprint);

    //  The same drift with a different new value is a different drift.
    json_t *after = json_object_get (json_object_get (s_drift_entry (plan, "aws_instance.web"),
                                                      "change"), "after");
    json_object_set_new (json_object_get (after, "tags"), "Owner", json_string ("bob"));
    json_object_set_new (json_object_get (after, "tags_all"), "Owner", json_string ("bob"));
    char *second = s_dump (plan);
    Drift__CanonicalReport *run3 = s_document (one, second, strlen (second));
    cr_assert_str_neq (s_item (run3, "aws_instance.web")->fingerprint,
                       s_item (run1, "aws_instance.web")->fingerprint);
    cr_assert_str_eq (s_item (run3, "aws_sqs_queue.orders")->fingerprint,
                      s_item (run1, "aws_sqs_queue.orders")->fingerprint);

    //  Another tenant's drift is another drift.
    Drift__CanonicalReport *other = normalize_document (one, "tenant-b", STACK, first,
                                                        strlen (first));
    cr_assert_str_neq (s_item (other, "aws_sqs_queue.orders")->fingerprint,
                       s_item (run1, "aws_sqs_queue.orders")->fingerprint);
    s_free (other);
    s_free (run3);
    s_free (run2);
    s_free (run1);
    normalize_destroy (&one);
    normalize_destroy (&two);
    free (first);
    free (second);
    json_decref (plan);
}

Test (normalize, a_volatile_attribute_beside_real_drift_keeps_its_fingerprint)
{
    //  RDS's latest_restorable_time moves every run; the real change beside
    //  it is the same drift each time.
    const char *times [2] = { "2026-11-27T07:36:41Z", "2026-11-27T08:01:02Z" };
    char *fingerprints [2];
    for (int run = 0; run < 2; run++) {
        json_t *plan = tu_read_fixture_json ("scenario-10.plan.json");
        json_t *after = json_object_get (json_object_get (
            s_drift_entry (plan, "aws_db_instance.ledger[0]"), "change"), "after");
        json_object_set_new (after, "latest_restorable_time", json_string (times [run]));
        json_object_set_new (after, "instance_class", json_string ("db.r6g.4xlarge"));
        char *text = s_dump (plan);
        normalize_t *normalize = s_normalizer (7);
        Drift__CanonicalReport *report = s_document (normalize, text, strlen (text));
        const Drift__DriftItem *item = s_item (report, "aws_db_instance.ledger[0]");
        cr_assert_eq (item->class_, DRIFT__DRIFT_CLASS__DRIFT_CLASS_REAL);
        cr_assert_eq (s_attribute (item, "latest_restorable_time")->class_,
                      DRIFT__DRIFT_CLASS__DRIFT_CLASS_NOISE);
        fingerprints [run] = strdup (item->fingerprint);
        s_free (report);
        normalize_destroy (&normalize);
        free (text);
        json_decref (plan);
    }
    cr_assert_str_eq (fingerprints [0], fingerprints [1]);
    free (fingerprints [0]);
    free (fingerprints [1]);
}

//  --------------------------------------------------------------------------
//  Rules no fixture shows

//  One drift entry of type with before and after (single-quoted JSON),
//  inside a plan with extra top-level members.
static char *
s_one_drift (const char *type, const char *before, const char *after, const char *extra)
{
    char *text = NULL;
    cr_assert (asprintf (&text,
        "{'format_version':'1.2','resource_drift':[{'address':'%s.x','mode':'managed',"
        "'type':'%s','name':'x','change':{'actions':['update'],'before':%s,'after':%s}}]%s%s}",
        type, type, before, after, extra ? "," : "", extra ? extra : "") > 0);
    return text;
}

static Drift__DriftClass
s_class (const Drift__CanonicalReport *report, const char *address, const char *attribute)
{
    const Drift__DriftItem *item = s_item (report, address);
    cr_assert (item, "no item %s (%s)", address, report->reason);
    const Drift__AttributeClass *found = s_attribute (item, attribute);
    cr_assert (found, "no attribute %s of %s", attribute, address);
    return found->class_;
}

Test (normalize, a_version_counter_mirrors_its_value_and_alone_is_real)
{
    char *text = s_one_drift ("aws_ssm_parameter",
                              "{'name':'/p','value':'(sensitive:00112233445566778899aabbccddeeff)',"
                              "'version':3}",
                              "{'name':'/p','value':'(sensitive:ffeeddccbbaa99887766554433221100)',"
                              "'version':4}", NULL);
    Drift__CanonicalReport *report = s_plan (text);
    cr_assert_eq (s_class (report, "aws_ssm_parameter.x", "value"),
                  DRIFT__DRIFT_CLASS__DRIFT_CLASS_REAL);
    cr_assert_eq (s_class (report, "aws_ssm_parameter.x", "version"),
                  DRIFT__DRIFT_CLASS__DRIFT_CLASS_MIRROR);
    cr_assert_str_eq (s_attribute (s_item (report, "aws_ssm_parameter.x"), "version")
                      ->mirror_of_attribute, "value");
    s_free (report);
    free (text);

    text = s_one_drift ("aws_ssm_parameter", "{'name':'/p','version':3}",
                        "{'name':'/p','version':4}", NULL);
    report = s_plan (text);
    cr_assert_eq (s_class (report, "aws_ssm_parameter.x", "version"),
                  DRIFT__DRIFT_CLASS__DRIFT_CLASS_REAL);
    s_free (report);
    free (text);
}

Test (normalize, tags_all_alone_is_real)
{
    //  A default tag changed on the resource: only tags_all shows it.
    char *text = s_one_drift ("aws_sqs_queue", "{'tags':{},'tags_all':{'Team':'a'}}",
                              "{'tags':{},'tags_all':{'Team':'b'}}", NULL);
    Drift__CanonicalReport *report = s_plan (text);
    cr_assert_eq (s_class (report, "aws_sqs_queue.x", "tags_all"),
                  DRIFT__DRIFT_CLASS__DRIFT_CLASS_REAL);
    s_free (report);
    free (text);
}

//  A prior_state holding one resource of type with values.
static char *
s_state (const char *type, const char *values)
{
    char *text = NULL;
    cr_assert (asprintf (&text, "'prior_state':{'values':{'root_module':{'resources':["
                         "{'address':'%s.y','mode':'managed','type':'%s','name':'y',"
                         "'values':%s}]}}}", type, type, values) > 0);
    return text;
}

Test (normalize, an_inline_policy_the_state_does_not_own_is_real)
{
    char *state = s_state ("aws_iam_role_policy", "{'role':'app','name':'owned'}");
    char *text = s_one_drift ("aws_iam_role", "{'name':'app','id':'app','inline_policy':[]}",
                              "{'name':'app','id':'app','inline_policy':[{'name':'owned',"
                              "'policy':'{}'}]}", state);
    Drift__CanonicalReport *report = s_plan (text);
    cr_assert_eq (s_class (report, "aws_iam_role.x", "inline_policy"),
                  DRIFT__DRIFT_CLASS__DRIFT_CLASS_NOISE);
    s_free (report);
    free (text);

    //  Someone added a policy by hand beside the managed one.
    text = s_one_drift ("aws_iam_role",
                        "{'name':'app','id':'app','inline_policy':[{'name':'owned','policy':'{}'}]}",
                        "{'name':'app','id':'app','inline_policy':[{'name':'owned','policy':'{}'},"
                        "{'name':'backdoor','policy':'{}'}]}", state);
    report = s_plan (text);
    cr_assert_eq (s_class (report, "aws_iam_role.x", "inline_policy"),
                  DRIFT__DRIFT_CLASS__DRIFT_CLASS_REAL);
    s_free (report);
    free (text);
    free (state);

    //  No split resource in the state: the parent's attribute is the only view.
    text = s_one_drift ("aws_s3_bucket", "{'bucket':'b','id':'b','versioning':[{'enabled':true}]}",
                        "{'bucket':'b','id':'b','versioning':[{'enabled':false}]}", NULL);
    report = s_plan (text);
    cr_assert_eq (s_class (report, "aws_s3_bucket.x", "versioning"),
                  DRIFT__DRIFT_CLASS__DRIFT_CLASS_REAL);
    s_free (report);
    free (text);
}

Test (normalize, security_group_rules_fill_in_but_a_new_rule_is_real)
{
    char *state = s_state ("aws_security_group_rule", "{'security_group_id':'sg-1','type':'ingress'}");
    const char *rule = "{'from_port':22,'to_port':22,'cidr_blocks':['10.0.0.0/8']}";
    char before [512], after [512];
    snprintf (before, sizeof before, "{'id':'sg-1','ingress':[]}");
    snprintf (after, sizeof after, "{'id':'sg-1','ingress':[%s]}", rule);
    char *text = s_one_drift ("aws_security_group", before, after, state);
    Drift__CanonicalReport *report = s_plan (text);
    cr_assert_eq (s_class (report, "aws_security_group.x", "ingress"),
                  DRIFT__DRIFT_CLASS__DRIFT_CLASS_NOISE);
    s_free (report);
    free (text);

    snprintf (before, sizeof before, "{'id':'sg-1','ingress':[%s]}", rule);
    snprintf (after, sizeof after, "{'id':'sg-1','ingress':[%s,{'from_port':3389,"
              "'to_port':3389,'cidr_blocks':['0.0.0.0/0']}]}", rule);
    text = s_one_drift ("aws_security_group", before, after, state);
    report = s_plan (text);
    cr_assert_eq (s_class (report, "aws_security_group.x", "ingress"),
                  DRIFT__DRIFT_CLASS__DRIFT_CLASS_REAL);
    s_free (report);
    free (text);
    free (state);
}

Test (normalize, relevant_attributes_rank_down_only_in_normal_plans)
{
    //  Normal plan: the planned change leaves aws_x.quiet alone and nothing
    //  reads its description; aws_x.read has its name read by a planned
    //  change; aws_x.reverted will be put back by the plan.
    const char *entries =
        "{'address':'aws_x.%s','mode':'managed','type':'aws_x','name':'%s',"
        "'change':{'actions':['%s'],'before':{'name':'a','description':'a'},"
        "'after':{'name':'%s','description':'b'}}}";
    char drift [2048] = "", changes [2048] = "";
    const char *names [3] = { "quiet", "read", "reverted" };
    for (int index = 0; index < 3; index++) {
        snprintf (drift + strlen (drift), sizeof drift - strlen (drift), entries, names [index],
                  names [index], "update", "a");
        snprintf (changes + strlen (changes), sizeof changes - strlen (changes), entries,
                  names [index], names [index], index == 2 ? "update" : "no-op", "a");
        strcat (drift, index < 2 ? "," : "");
        strcat (changes, index < 2 ? "," : "");
    }
    //  (the planned changes' before/after are not what is checked here)
    char *text = NULL;
    cr_assert (asprintf (&text, "{'format_version':'1.2','resource_drift':[%s],"
        "'resource_changes':[%s,{'address':'data.aws_y.z','mode':'data','type':'aws_y',"
        "'name':'z','change':{'actions':['read'],'before':null,'after':{}}}],"
        "'relevant_attributes':[{'resource':'aws_x.read','attribute':['description']}]}",
        drift, changes) > 0);
    Drift__CanonicalReport *report = s_plan (text);
    s_assert_ok (report);
    cr_assert_not (report->refresh_only);
    cr_assert_eq (s_class (report, "aws_x.quiet", "description"),
                  DRIFT__DRIFT_CLASS__DRIFT_CLASS_NOISE);
    cr_assert_eq (s_class (report, "aws_x.read", "description"),
                  DRIFT__DRIFT_CLASS__DRIFT_CLASS_REAL);
    cr_assert_eq (s_class (report, "aws_x.reverted", "description"),
                  DRIFT__DRIFT_CLASS__DRIFT_CLASS_REAL);
    //  Pending changes are apart from drift, data sources in neither.
    cr_assert_eq (report->n_pending, 1);
    cr_assert_str_eq (report->pending [0]->address, "aws_x.reverted");
    cr_assert_eq (report->counts->pending, 1);
    s_free (report);
    free (text);

    //  Refresh-only (no resource_changes): the same list (an output read it)
    //  ranks nothing down.
    text = s_one_drift ("aws_x", "{'description':'a'}", "{'description':'b'}",
                        "'relevant_attributes':[{'resource':'aws_other.y','attribute':['id']}]");
    report = s_plan (text);
    cr_assert (report->refresh_only);
    cr_assert_eq (s_class (report, "aws_x.x", "description"), DRIFT__DRIFT_CLASS__DRIFT_CLASS_REAL);
    s_free (report);
    free (text);
}

Test (normalize, kinds_follow_the_actions_and_addresses_stay_exact)
{
    Drift__CanonicalReport *report = s_plan (
        "{'format_version':'1.2','resource_drift':["
        "{'address':'module.net.aws_security_group.web[\\'a\\']','module_address':'module.net',"
        " 'mode':'managed','type':'aws_security_group','name':'web','index':'a',"
        " 'provider_name':'registry.terraform.io/hashicorp/aws',"
        " 'change':{'actions':['delete','create'],'before':{'id':'1'},'after':{'id':'2'}}},"
        "{'address':'aws_x.new','previous_address':'aws_x.old','mode':'managed','type':'aws_x',"
        " 'name':'new','change':{'actions':['no-op'],'before':{'id':'1'},'after':{'id':'1'}}},"
        "{'address':'aws_x.same','mode':'managed','type':'aws_x','name':'same',"
        " 'change':{'actions':['no-op'],'before':{'id':'1'},'after':{'id':'1'}}},"
        "{'address':'aws_x.n[3]','mode':'managed','type':'aws_x','name':'n','index':3,"
        " 'change':{'actions':['create','delete'],'before':{'id':'1'},'after':{'id':'1'}}},"
        "{'address':'data.aws_y.z','mode':'data','type':'aws_y','name':'z',"
        " 'change':{'actions':['update'],'before':{'id':'1'},'after':{'id':'2'}}}]}");
    s_assert_ok (report);
    cr_assert_eq (report->n_items, 4, "data sources are not drift");
    const Drift__DriftItem *web = s_item (report, "module.net.aws_security_group.web[\"a\"]");
    cr_assert (web);
    cr_assert_eq (web->kind, DRIFT__DRIFT_KIND__DRIFT_KIND_REPLACED);
    cr_assert_eq (web->class_, DRIFT__DRIFT_CLASS__DRIFT_CLASS_REAL);
    cr_assert_str_eq (web->module, "module.net");
    cr_assert_str_eq (web->index, "\"a\"");
    cr_assert_str_eq (web->provider, "registry.terraform.io/hashicorp/aws");
    const Drift__DriftItem *moved = s_item (report, "aws_x.new");
    cr_assert_eq (moved->kind, DRIFT__DRIFT_KIND__DRIFT_KIND_MOVED);
    cr_assert_str_eq (moved->previous_address, "aws_x.old");
    cr_assert_eq (moved->class_, DRIFT__DRIFT_CLASS__DRIFT_CLASS_NOISE);
    cr_assert_eq (s_item (report, "aws_x.same")->kind, DRIFT__DRIFT_KIND__DRIFT_KIND_IGNORED);
    cr_assert_eq (s_item (report, "aws_x.n[3]")->kind, DRIFT__DRIFT_KIND__DRIFT_KIND_REPLACED);
    cr_assert_str_eq (s_item (report, "aws_x.n[3]")->index, "3");
    cr_assert_eq (report->counts->replaced, 2);
    cr_assert_eq (report->counts->moved, 1);
    cr_assert_eq (report->counts->ignored, 1);
    s_free (report);
}

Test (normalize, a_volatile_attribute_can_be_added_by_setting)
{
    char *text = s_one_drift ("aws_x", "{'heartbeat':'1'}", "{'heartbeat':'2'}", NULL);
    normalize_t *normalize = s_normalizer (7);
    cr_assert_eq (classify_add_volatile (normalize_rules (normalize), "aws_x.heartbeat"), 0);
    cr_assert_eq (classify_add_volatile (normalize_rules (normalize), "no-dot"), -1);
    char *quoted = s_quoted (text);
    Drift__CanonicalReport *report = s_document (normalize, quoted, strlen (quoted));
    cr_assert_eq (s_class (report, "aws_x.x", "heartbeat"), DRIFT__DRIFT_CLASS__DRIFT_CLASS_NOISE);
    s_free (report);
    normalize_destroy (&normalize);
    free (quoted);
    free (text);
}

//  --------------------------------------------------------------------------
//  Bad input

static void
s_refused (const char *text, size_t size, const char *reason)
{
    normalize_t *normalize = s_normalizer (7);
    Drift__CanonicalReport *report = s_document (normalize, text, size);
    s_assert_failed (report, reason);
    normalize_stats_t stats;
    normalize_stats (normalize, &stats);
    cr_assert_eq (stats.refused, 1);
    cr_assert_eq (stats.failed, 1);
    s_free (report);
    normalize_destroy (&normalize);
}

static void
s_refused_quoted (const char *quoted, const char *reason)
{
    char *text = s_quoted (quoted);
    s_refused (text, strlen (text), reason);
    free (text);
}

Test (normalize, invalid_json_fails_with_line_and_column)
{
    const char *text = "{\n  \"format_version\": \"1.2\",\n  \"resource_drift\": [,]\n}";
    s_refused (text, strlen (text), "line 3 column 22: ");
    s_refused ("", 0, "line 1 column 1: ");
    const char *truncated = "{\"format_version\":\"1.2\",\"resource_drift\":[{\"address\"";
    s_refused (truncated, strlen (truncated), "line 1 column ");
}

Test (normalize, invalid_utf8_fails)
{
    const char *text = "{\"format_version\":\"1.2\",\"x\":\"caf\xc3\x28\"}";
    s_refused (text, strlen (text), "line 1 column ");
    const char *stream = "{\"@level\":\"info\",\"type\":\"version\",\"terraform\":\"1.11.4\"}\n"
                         "{\"@level\":\"info\",\"type\":\"x\",\"m\":\"\xff\"}\n";
    s_refused (stream, strlen (stream), "line 2 column ");
}

Test (normalize, wrong_types_and_missing_keys_fail_with_where_and_what)
{
    s_refused_quoted ("[1,2]", "document is none of: ");
    s_refused_quoted ("{'resource_drift':[]}", "document is none of: a plan (format_version)");
    s_refused_quoted ("{'format_version':1.2}", "plan format_version must be a string");
    s_refused_quoted ("{'format_version':'1.2','errored':'yes'}",
                      "plan errored must be true or false");
    s_refused_quoted ("{'format_version':'1.2','resource_drift':{}}",
                      "resource_drift must be an array");
    s_refused_quoted ("{'format_version':'1.2','resource_drift':[7]}",
                      "resource_drift[0]: must be an object");
    s_refused_quoted ("{'format_version':'1.2','resource_drift':[{'mode':'managed'}]}",
                      "resource_drift[0]: missing address");
    s_refused_quoted ("{'format_version':'1.2','resource_drift':[{'address':5}]}",
                      "resource_drift[0]: address must be a string");
    s_refused_quoted ("{'format_version':'1.2','resource_drift':[{'address':'a.b','mode':'managed',"
                      "'type':'a','name':'b'}]}", "resource_drift[0] (a.b): change is missing");
    s_refused_quoted ("{'format_version':'1.2','resource_drift':[{'address':'a.b','mode':'managed',"
                      "'type':'a','change':{}}]}", "resource_drift[0] (a.b): name is missing");
    s_refused_quoted ("{'format_version':'1.2','resource_drift':[{'address':'a.b','mode':'managed',"
                      "'type':'a','name':'b','change':{'actions':'update'}}]}",
                      "resource_drift[0] (a.b): change.actions must be an array");
    s_refused_quoted ("{'format_version':'1.2','resource_drift':[{'address':'a.b','mode':'managed',"
                      "'type':'a','name':'b','change':{'actions':['update'],'before':'x'}}]}",
                      "resource_drift[0] (a.b): change.before and change.after must be objects");
    s_refused_quoted ("{'format_version':'1.2','resource_drift':[{'address':'a.b','mode':'managed',"
                      "'type':'a','name':'b','index':[1],'change':{'actions':['update']}}]}",
                      "resource_drift[0] (a.b): index must be a number or a string");
    s_refused_quoted ("{'format_version':'1.2','resource_drift':[{'address':'a.b','mode':'managed',"
                      "'type':'a','name':'b','change':{'actions':['create']}}]}",
                      "resource_drift[0] (a.b): change.actions [create] are not drift");
    s_refused_quoted ("{'format_version':'1.2','resource_changes':[{'address':'a.b',"
                      "'mode':'managed','type':'a','name':'b','change':{'actions':['teleport']}}]}",
                      "resource_changes[0] (a.b): unknown change.actions [teleport]");
    s_refused_quoted ("{'format_version':'1.2','relevant_attributes':[{'resource':1}]}",
                      "relevant_attributes[0] must be");
}

Test (normalize, an_unknown_major_version_fails)
{
    s_refused_quoted ("{'format_version':'2.0','resource_drift':[]}",
                      "unsupported plan format_version 2.0");
    s_refused_quoted ("{'format_version':'0.2'}", "unsupported plan format_version 0.2");
    s_refused_quoted ("{'format_version':'10.1'}", "unsupported plan format_version 10.1");
}

//  A plan whose one drifted attribute nests depth arrays.
static char *
s_deep_plan (int depth)
{
    size_t size = 256 + 2 * (size_t) depth;
    char *text = (char *) malloc (size);
    int used = snprintf (text, size, "{\"format_version\":\"1.2\",\"resource_drift\":[{\"address\":"
                         "\"a.b\",\"mode\":\"managed\",\"type\":\"a\",\"name\":\"b\",\"change\":"
                         "{\"actions\":[\"update\"],\"before\":{\"deep\":1},\"after\":{\"deep\":");
    for (int level = 0; level < depth; level++)
        text [used++] = '[';
    for (int level = 0; level < depth; level++)
        text [used++] = ']';
    strcpy (text + used, "}}}]}");
    return text;
}

Test (normalize, deep_but_legal_nesting_works_and_deeper_than_the_limit_fails)
{
    char *legal = s_deep_plan (NORMALIZE_MAX_DEPTH - 10);
    Drift__CanonicalReport *report = s_plan (legal);
    s_assert_ok (report);
    cr_assert_eq (report->n_items, 1);
    s_free (report);
    free (legal);
    char *deep = s_deep_plan (NORMALIZE_MAX_DEPTH + 1);
    s_refused (deep, strlen (deep), "line 1 column ");
    report = s_plan (deep);
    cr_assert (strstr (report->reason, "nesting deeper than"), "%s", report->reason);
    s_free (report);
    free (deep);
}

Test (normalize, huge_numbers_and_long_strings_are_kept_as_written)
{
    size_t length = 1 << 20;
    char *value = (char *) malloc (length + 1);
    memset (value, 'x', length);
    value [length] = 0;
    char *text = NULL;
    cr_assert (asprintf (&text,
        "{\"format_version\":\"1.2\",\"resource_drift\":[{\"address\":\"a.b\",\"mode\":\"managed\","
        "\"type\":\"a\",\"name\":\"b\",\"change\":{\"actions\":[\"update\"],"
        "\"before\":{\"big\":123456789012345678901234567890,\"tiny\":1e-400,\"long\":\"\"},"
        "\"after\":{\"big\":123456789012345678901234567891,\"tiny\":1.5e400,\"long\":\"%s\"}}}]}",
        value) > 0);
    Drift__CanonicalReport *report = s_plan (text);
    s_assert_ok (report);
    const Drift__DriftItem *item = s_item (report, "a.b");
    cr_assert_str_eq (s_change (item, "big")->after, "123456789012345678901234567891");
    cr_assert_str_eq (s_change (item, "tiny")->after, "1.5e400");
    cr_assert_eq (strlen (s_change (item, "long")->after), length + 2);
    s_free (report);
    free (text);
    free (value);
}

Test (normalize, more_resources_than_the_limit_fail)
{
    //  The documented limit itself, not a lowered one.
    const char *entry = "{\"address\":\"a.b\",\"mode\":\"managed\",\"type\":\"a\",\"name\":\"b\","
                        "\"change\":{\"actions\":[\"no-op\"],\"before\":{},\"after\":{}}}";
    size_t count = NORMALIZE_MAX_RESOURCES + 1;
    size_t size = 64 + count * (strlen (entry) + 1);
    char *text = (char *) malloc (size);
    size_t used = (size_t) sprintf (text, "{\"format_version\":\"1.2\",\"resource_drift\":[");
    for (size_t index = 0; index < count; index++) {
        if (index)
            text [used++] = ',';
        memcpy (text + used, entry, strlen (entry));
        used += strlen (entry);
    }
    strcpy (text + used, "]}");
    char reason [128];
    snprintf (reason, sizeof reason,
              "resource_drift has %zu entries, more than the limit of %d resources",
              count, NORMALIZE_MAX_RESOURCES);
    s_refused (text, strlen (text), reason);
    free (text);

    normalize_t *normalize = s_normalizer (7);
    normalize_set_max_resources (normalize, 2);
    size_t log_size;
    char *log = tu_read_fixture ("scenario-02.log.jsonl", &log_size);
    Drift__CanonicalReport *report = s_document (normalize, log, log_size);
    s_assert_failed (report, "stream has more than the limit of 2 resources");
    s_free (report);
    free (log);
    normalize_destroy (&normalize);
}

Test (normalize, raw_bodies_that_are_not_reports_fail_and_are_kept)
{
    normalize_t *normalize = s_normalizer (7);
    uint8_t garbage [64];
    for (size_t index = 0; index < sizeof garbage; index++)
        garbage [index] = (uint8_t) (index * 37 + 11);
    Drift__CanonicalReport *report = normalize_raw (normalize, TENANT, garbage, sizeof garbage);
    s_assert_failed (report, "raw body of 64 bytes is not a drift.Report");
    cr_assert_eq (report->raw.len, sizeof garbage);
    cr_assert_eq (memcmp (report->raw.data, garbage, sizeof garbage), 0);
    s_free (report);

    report = normalize_raw (normalize, TENANT, NULL, 0);
    s_assert_failed (report, "raw body of 0 bytes");
    s_free (report);

    //  A report whose payload claims to be zstd but is not.
    Drift__Report message = DRIFT__REPORT__INIT;
    message.report_id = "r-1";
    message.stack = STACK;
    message.format = DRIFT__REPORT_FORMAT__REPORT_FORMAT_PLAN_JSON;
    message.compression = DRIFT__COMPRESSION__COMPRESSION_ZSTD;
    message.payload.data = garbage;
    message.payload.len = sizeof garbage;
    message.uncompressed_size = 100;
    uint8_t packed [256];
    size_t size = drift__report__pack (&message, packed);
    report = normalize_raw (normalize, TENANT, packed, size);
    s_assert_failed (report, "payload ");
    cr_assert_str_eq (report->report_id, "r-1");
    s_free (report);

    //  Uncompressed JSON that is no plan.
    message.compression = DRIFT__COMPRESSION__COMPRESSION_NONE;
    message.payload.data = (uint8_t *) "{\"resource_drift\":[]}";
    message.payload.len = strlen ((const char *) message.payload.data);
    size = drift__report__pack (&message, packed);
    report = normalize_raw (normalize, TENANT, packed, size);
    s_assert_failed (report, "plan has no format_version");
    s_free (report);

    //  Uncompressed, but not JSON.
    message.compression = DRIFT__COMPRESSION__COMPRESSION_NONE;
    message.payload.data = (uint8_t *) "{\"format_version\":";
    message.payload.len = strlen ((const char *) message.payload.data);
    size = drift__report__pack (&message, packed);
    report = normalize_raw (normalize, TENANT, packed, size);
    s_assert_failed (report, "line 1 column 19: ");
    s_free (report);

    normalize_stats_t stats;
    normalize_stats (normalize, &stats);
    cr_assert_eq (stats.reports, 5);
    cr_assert_eq (stats.failed, 5);
    cr_assert_eq (stats.unreadable, 3);
    cr_assert_eq (stats.refused, 2);
    normalize_destroy (&normalize);
}

//  --------------------------------------------------------------------------
//  CloudFormation and Pulumi, from their documented shapes

//  DescribeStackResourceDrifts output: a security group opened, a table
//  deleted, a queue in sync, a bucket's tags changed.
static const char *s_cloudformation =
    "{'StackResourceDrifts':["
    "{'StackId':'arn:aws:cloudformation:us-east-1:123456789012:stack/payments/1',"
    " 'LogicalResourceId':'WebSecurityGroup','PhysicalResourceId':'sg-1',"
    " 'ResourceType':'AWS::EC2::SecurityGroup','StackResourceDriftStatus':'MODIFIED',"
    " 'Timestamp':'2026-11-27T09:00:00Z',"
    " 'PropertyDifferences':["
    "  {'PropertyPath':'/SecurityGroupIngress/0/CidrIp','ExpectedValue':'203.0.113.0/24',"
    "   'ActualValue':'%s','DifferenceType':'NOT_EQUAL'},"
    "  {'PropertyPath':'/SecurityGroupIngress/1','ExpectedValue':'null',"
    "   'ActualValue':'{\\'ToPort\\':3389,\\'CidrIp\\':\\'0.0.0.0/0\\',\\'FromPort\\':3389}',"
    "   'DifferenceType':'ADD'}]},"
    "{'StackId':'s','LogicalResourceId':'SessionsTable','ResourceType':'AWS::DynamoDB::Table',"
    " 'StackResourceDriftStatus':'DELETED','ModuleInfo':{'LogicalIdHierarchy':'Storage'}},"
    "{'StackId':'s','LogicalResourceId':'OrdersQueue','ResourceType':'AWS::SQS::Queue',"
    " 'StackResourceDriftStatus':'IN_SYNC','PropertyDifferences':[]},"
    "{'StackId':'s','LogicalResourceId':'Receipts','ResourceType':'AWS::S3::Bucket',"
    " 'StackResourceDriftStatus':'MODIFIED','PropertyDifferences':["
    "  {'PropertyPath':'/Tags/1/Value','ExpectedValue':'prod','ActualValue':'staging',"
    "   'DifferenceType':'NOT_EQUAL'},"
    "  {'PropertyPath':'/Tags/2','ExpectedValue':'{\\'Key\\':\\'Owner\\',\\'Value\\':\\'a\\'}',"
    "   'ActualValue':'null','DifferenceType':'REMOVE'}]}]}";

static Drift__CanonicalReport *
s_cloudformation_report (const char *actual)
{
    char *text = NULL;
    cr_assert (asprintf (&text, s_cloudformation, actual) > 0);
    Drift__CanonicalReport *report = s_plan (text);
    free (text);
    return report;
}

Test (normalize, cloudformation_drift_becomes_the_same_canonical_report)
{
    Drift__CanonicalReport *report = s_cloudformation_report ("0.0.0.0/0");
    s_assert_ok (report);
    cr_assert_eq (report->source, DRIFT__SOURCE_FORMAT__SOURCE_FORMAT_CLOUDFORMATION);
    cr_assert_str_eq (report->engine, "cloudformation");
    cr_assert_eq (report->n_items, 3, "IN_SYNC is not drift");
    const Drift__DriftItem *group = s_item (report, "WebSecurityGroup");
    cr_assert_eq (group->kind, DRIFT__DRIFT_KIND__DRIFT_KIND_MODIFIED);
    cr_assert_str_eq (group->type, "AWS::EC2::SecurityGroup");
    cr_assert_eq (group->class_, DRIFT__DRIFT_CLASS__DRIFT_CLASS_REAL);
    const Drift__AttributeChange *cidr = s_change (group, "SecurityGroupIngress[0].CidrIp");
    cr_assert (cidr);
    cr_assert_eq (cidr->op, DRIFT__CHANGE_OP__CHANGE_OP_CHANGED);
    cr_assert_str_eq (cidr->before, "\"203.0.113.0/24\"");
    cr_assert_str_eq (cidr->after, "\"0.0.0.0/0\"");
    const Drift__AttributeChange *rule = s_change (group, "SecurityGroupIngress[1]");
    cr_assert_eq (rule->op, DRIFT__CHANGE_OP__CHANGE_OP_ADDED);
    cr_assert_str_eq (rule->before, "");
    cr_assert_str_eq (rule->after, "{\"CidrIp\":\"0.0.0.0/0\",\"FromPort\":3389,\"ToPort\":3389}");
    cr_assert_eq (group->n_attributes, 1);
    cr_assert_str_eq (group->attributes [0]->name, "SecurityGroupIngress");
    const Drift__DriftItem *table = s_item (report, "SessionsTable");
    cr_assert_eq (table->kind, DRIFT__DRIFT_KIND__DRIFT_KIND_DELETED);
    cr_assert_eq (table->class_, DRIFT__DRIFT_CLASS__DRIFT_CLASS_REAL);
    cr_assert_str_eq (table->module, "Storage");
    const Drift__DriftItem *bucket = s_item (report, "Receipts");
    cr_assert_str_eq (s_change (bucket, "Tags[1].Value")->after, "\"staging\"");
    cr_assert_eq (s_change (bucket, "Tags[2]")->op, DRIFT__CHANGE_OP__CHANGE_OP_REMOVED);
    cr_assert_eq (report->counts->modified, 2);
    cr_assert_eq (report->counts->deleted, 1);

    //  Fingerprints: stable, and moved by a new value.
    Drift__CanonicalReport *again = s_cloudformation_report ("0.0.0.0/0");
    Drift__CanonicalReport *other = s_cloudformation_report ("10.0.0.0/8");
    cr_assert_str_eq (s_item (again, "WebSecurityGroup")->fingerprint, group->fingerprint);
    cr_assert_str_neq (s_item (other, "WebSecurityGroup")->fingerprint, group->fingerprint);
    cr_assert_str_eq (s_item (other, "Receipts")->fingerprint, bucket->fingerprint);
    s_free (other);
    s_free (again);
    s_free (report);
}

Test (normalize, cloudformation_of_the_wrong_shape_fails_with_where_and_what)
{
    s_refused_quoted ("{'StackResourceDrifts':{}}", "StackResourceDrifts must be an array");
    s_refused_quoted ("{'StackResourceDrifts':[{'ResourceType':'AWS::S3::Bucket'}]}",
                      "StackResourceDrifts[0]: LogicalResourceId must be a string");
    s_refused_quoted ("{'StackResourceDrifts':[{'LogicalResourceId':'B','ResourceType':'T',"
                      "'StackResourceDriftStatus':'DRIFTING'}]}",
                      "StackResourceDrifts[0] (B): unknown StackResourceDriftStatus DRIFTING");
    s_refused_quoted ("{'StackResourceDrifts':[{'LogicalResourceId':'B','ResourceType':'T',"
                      "'StackResourceDriftStatus':'MODIFIED','PropertyDifferences':[{"
                      "'PropertyPath':'/A','ExpectedValue':'1','ActualValue':'2',"
                      "'DifferenceType':'SIDEWAYS'}]}]}",
                      "StackResourceDrifts[0] (B): PropertyDifferences[0]: unknown DifferenceType");
    s_refused_quoted ("{'StackResourceDrifts':[{'LogicalResourceId':'B','ResourceType':'T',"
                      "'StackResourceDriftStatus':'MODIFIED','PropertyDifferences':[{"
                      "'PropertyPath':'/A','ExpectedValue':1}]}]}",
                      "StackResourceDrifts[0] (B): PropertyDifferences[0] needs PropertyPath");
}

//  A refresh preview: a security group and its tags changed, a table
//  deleted, RDS's restore time moved, a secret rotated (in Pulumi's secret
//  form, no detailedDiff), a queue refreshed unchanged, the stack and a
//  component that are not resources.
static const char *s_pulumi =
    "{'config':{},'steps':["
    "{'op':'same','urn':'urn:pulumi:dev::payments::pulumi:pulumi:Stack::payments-dev'},"
    "{'op':'update','urn':'urn:pulumi:dev::payments::aws:ec2/securityGroup:SecurityGroup::web',"
    " 'provider':'urn:pulumi:dev::payments::pulumi:providers:aws::default::1',"
    " 'oldState':{'type':'aws:ec2/securityGroup:SecurityGroup','custom':true,'outputs':{"
    "   'ingress':[{'cidrBlocks':['203.0.113.0/24'],'fromPort':22}],"
    "   'tags':{'env':'prod'},'tagsAll':{'env':'prod','team':'pay'}}},"
    " 'newState':{'type':'aws:ec2/securityGroup:SecurityGroup','custom':true,'outputs':{"
    "   'ingress':[{'cidrBlocks':['%s'],'fromPort':22}],"
    "   'tags':{'env':'staging'},'tagsAll':{'env':'staging','team':'pay'}}},"
    " 'diffReasons':['ingress','tags','tagsAll'],"
    " 'detailedDiff':{'ingress[0].cidrBlocks[0]':{'kind':'update','inputDiff':false},"
    "   'tags.env':{'kind':'update','inputDiff':false},"
    "   'tagsAll.env':{'kind':'update','inputDiff':false}}},"
    "{'op':'delete','urn':'urn:pulumi:dev::payments::aws:dynamodb/table:Table::sessions',"
    " 'oldState':{'type':'aws:dynamodb/table:Table','custom':true,'outputs':{'name':'s'}}},"
    "{'op':'refresh','urn':'urn:pulumi:dev::payments::aws:rds/instance:Instance::ledger',"
    " 'oldState':{'type':'aws:rds/instance:Instance','custom':true,"
    "   'outputs':{'latestRestorableTime':'2026-11-27T07:36:28Z','instanceClass':'db.t3.micro'}},"
    " 'newState':{'type':'aws:rds/instance:Instance','custom':true,"
    "   'outputs':{'latestRestorableTime':'2026-11-27T07:36:41Z','instanceClass':'db.t3.micro'}}},"
    "{'op':'refresh','urn':'urn:pulumi:dev::payments::aws:sqs/queue:Queue::orders',"
    " 'oldState':{'type':'aws:sqs/queue:Queue','custom':true,'outputs':{'name':'o'}},"
    " 'newState':{'type':'aws:sqs/queue:Queue','custom':true,'outputs':{'name':'o'}}},"
    "{'op':'update',"
    " 'urn':'urn:pulumi:dev::payments::my:app:Service$aws:ssm/parameter:Parameter::api-key',"
    " 'oldState':{'type':'aws:ssm/parameter:Parameter','custom':true,'outputs':{'value':"
    "   {'4dabf18193072939515e22adb298388d':'1b47061264138c4ac30d75fd1eb44270',"
    "    'plaintext':'sk_live_rotated_away_0001'}}},"
    " 'newState':{'type':'aws:ssm/parameter:Parameter','custom':true,'outputs':{'value':"
    "   {'4dabf18193072939515e22adb298388d':'1b47061264138c4ac30d75fd1eb44270',"
    "    'plaintext':'sk_live_rotated_in_0002'}}}},"
    "{'op':'update','urn':'urn:pulumi:dev::payments::my:app:Service::api',"
    " 'newState':{'type':'my:app:Service','custom':false,'outputs':{}}}],"
    "'diagnostics':[{'urn':'urn:pulumi:dev::payments::aws:ec2/securityGroup:SecurityGroup::web',"
    " 'message':'%s','severity':'%s'}],"
    "'changeSummary':{'same':1,'update':2,'delete':1}}";

static Drift__CanonicalReport *
s_pulumi_report (const char *cidr, const char *severity)
{
    char *text = NULL;
    cr_assert (asprintf (&text, s_pulumi, cidr, "ingress is open", severity) > 0);
    Drift__CanonicalReport *report = s_plan (text);
    free (text);
    return report;
}

Test (normalize, a_pulumi_refresh_preview_becomes_the_same_canonical_report)
{
    Drift__CanonicalReport *report = s_pulumi_report ("0.0.0.0/0", "warning");
    s_assert_ok (report);
    cr_assert_eq (report->source, DRIFT__SOURCE_FORMAT__SOURCE_FORMAT_PULUMI);
    cr_assert_str_eq (report->engine, "pulumi");
    cr_assert_eq (report->n_items, 4, "not the stack, the unchanged queue or the component");
    const char *web_urn = "urn:pulumi:dev::payments::aws:ec2/securityGroup:SecurityGroup::web";
    const Drift__DriftItem *web = s_item (report, web_urn);
    cr_assert (web);
    cr_assert_str_eq (web->type, "aws:ec2/securityGroup:SecurityGroup");
    cr_assert_str_eq (web->name, "web");
    cr_assert_str_eq (web->provider, "aws");
    cr_assert_str_eq (s_change (web, "ingress[0].cidrBlocks[0]")->after, "\"0.0.0.0/0\"");
    cr_assert_eq (s_class (report, web_urn, "ingress"), DRIFT__DRIFT_CLASS__DRIFT_CLASS_REAL);
    cr_assert_eq (s_class (report, web_urn, "tags"), DRIFT__DRIFT_CLASS__DRIFT_CLASS_REAL);
    cr_assert_eq (s_class (report, web_urn, "tagsAll"), DRIFT__DRIFT_CLASS__DRIFT_CLASS_MIRROR);
    cr_assert_eq (s_item (report, "urn:pulumi:dev::payments::aws:dynamodb/table:Table::sessions")
                  ->kind, DRIFT__DRIFT_KIND__DRIFT_KIND_DELETED);
    const Drift__DriftItem *ledger =
        s_item (report, "urn:pulumi:dev::payments::aws:rds/instance:Instance::ledger");
    cr_assert_eq (ledger->class_, DRIFT__DRIFT_CLASS__DRIFT_CLASS_NOISE);
    const Drift__DriftItem *secret = s_item (report,
        "urn:pulumi:dev::payments::my:app:Service$aws:ssm/parameter:Parameter::api-key");
    cr_assert_str_eq (secret->module, "my:app:Service");
    const Drift__AttributeChange *value = s_change (secret, "value");
    cr_assert (value && value->sensitive);
    cr_assert (strncmp (value->after, "\"(sensitive:", 12) == 0, "%s", value->after);
    json_t *secrets = json_pack ("[s,s]", "sk_live_rotated_away_0001", "sk_live_rotated_in_0002");
    s_assert_packed_no_secret (report, secrets, "pulumi");
    json_decref (secrets);
    cr_assert_eq (report->n_diagnostics, 1);
    cr_assert_str_eq (report->diagnostics [0]->severity, "warning");

    Drift__CanonicalReport *again = s_pulumi_report ("0.0.0.0/0", "warning");
    Drift__CanonicalReport *other = s_pulumi_report ("10.0.0.0/8", "warning");
    cr_assert_str_eq (s_item (again, web_urn)->fingerprint, web->fingerprint);
    cr_assert_str_neq (s_item (other, web_urn)->fingerprint, web->fingerprint);
    s_free (other);
    s_free (again);
    s_free (report);

    //  An error in the preview: a failed check, nothing to alert.
    report = s_pulumi_report ("0.0.0.0/0", "error");
    s_assert_failed (report, "preview failed: ingress is open");
    cr_assert_eq (report->n_diagnostics, 1);
    s_free (report);
}

Test (normalize, a_pulumi_preview_of_the_wrong_shape_fails_with_where_and_what)
{
    s_refused_quoted ("{'steps':[{'op':'update'}]}", "steps[0]: op and urn must be strings");
    s_refused_quoted ("{'steps':[{'op':'teleport','urn':'urn:pulumi:a::b::c:d:E::f'}]}",
                      "steps[0] (urn:pulumi:a::b::c:d:E::f): unknown op teleport");
    s_refused_quoted ("{'steps':[{'op':'update','urn':'not-a-urn'}]}",
                      "steps[0] (not-a-urn): urn is not");
    s_refused_quoted ("{'steps':[{'op':'update','urn':'urn:pulumi:a::b::c:d:E::f',"
                      "'newState':{'outputs':{}},'detailedDiff':{'x':{'kind':'sideways'}}}]}",
                      "steps[0] (urn:pulumi:a::b::c:d:E::f): detailedDiff \"x\": unknown kind");
    s_refused_quoted ("{'steps':[{'op':'update','urn':'urn:pulumi:a::b::c:d:E::f',"
                      "'newState':{'outputs':{}},'detailedDiff':{'x[':{'kind':'update'}}}]}",
                      "steps[0] (urn:pulumi:a::b::c:d:E::f): detailedDiff path \"x[\" cannot");
    s_refused_quoted ("{'steps':[{'op':'update','urn':'urn:pulumi:a::b::c:d:E::f',"
                      "'oldState':'x'}]}",
                      "steps[0] (urn:pulumi:a::b::c:d:E::f): oldState, newState and detailedDiff");
}

//  --------------------------------------------------------------------------
//  The stage

static config_t *
s_stage_config (const char *extra_name, const char *extra_value)
{
    char *argv [4] = { "normalize", NULL, NULL, NULL };
    int argc = 1;
    if (extra_name) {
        argv [argc++] = (char *) extra_name;
        argv [argc++] = (char *) extra_value;
    }
    int exit_code;
    config_t *config = config_load ("normalize", "test", normalize_actor.options, argc, argv,
                                    &exit_code);
    cr_assert (config);
    return config;
}

//  An envelope holding a raw report built by the agent from a fixture.
static Drift__Envelope *
s_envelope (const char *fixture, Drift__Report **report_out)
{
    size_t size;
    char *plan = tu_read_fixture (fixture, &size);
    Drift__Report *report = lu_agent_report (plan, size, STACK, 9);
    free (plan);
    Drift__Envelope *envelope = (Drift__Envelope *) calloc (1, sizeof *envelope);
    drift__envelope__init (envelope);
    envelope->tenant = strdup (TENANT);
    envelope->report_id = strdup (report->report_id);
    envelope->stack = strdup (STACK);
    envelope->body_case = DRIFT__ENVELOPE__BODY_RAW;
    envelope->raw.len = drift__report__get_packed_size (report);
    envelope->raw.data = (uint8_t *) malloc (envelope->raw.len);
    drift__report__pack (report, envelope->raw.data);
    *report_out = report;
    return envelope;
}

static Drift__CanonicalReport *
s_normalized (const Drift__Envelope *envelope)
{
    cr_assert_eq (envelope->body_case, DRIFT__ENVELOPE__BODY_NORMALIZED);
    Drift__CanonicalReport *report = drift__canonical_report__unpack (
        NULL, envelope->normalized.len, envelope->normalized.data);
    cr_assert (report);
    return report;
}

Test (normalize, the_stage_turns_a_raw_report_into_its_canonical_report)
{
    config_t *config = s_stage_config (NULL, NULL);
    void *state = normalize_actor.open (config);
    cr_assert (state);
    json_t *expected = tu_read_fixture_json ("expected.json");
    const char *scenarios [2] = { "scenario-02", "scenario-10" };
    for (int index = 0; index < 2; index++) {
        char name [64];
        snprintf (name, sizeof name, "%s.plan.json", scenarios [index]);
        Drift__Report *raw;
        Drift__Envelope *envelope = s_envelope (name, &raw);
        size_t raw_size = envelope->raw.len;
        uint8_t *raw_copy = (uint8_t *) malloc (raw_size);
        memcpy (raw_copy, envelope->raw.data, raw_size);
        cr_assert_eq (normalize_actor.fn (state, envelope), STAGE_FORWARD);
        Drift__CanonicalReport *report = s_normalized (envelope);
        s_assert_expected (report, json_object_get (json_object_get (json_object_get (
            expected, "scenarios"), scenarios [index]), "drift"), NULL, name);
        cr_assert_str_eq (report->report_id, raw->report_id);
        cr_assert_str_eq (report->stack, STACK);
        cr_assert_str_eq (report->engine, "terraform");
        cr_assert_eq (report->produced_us, raw->produced_us);
        cr_assert_eq (report->raw.len, raw_size, "the raw report rides along for archive");
        cr_assert_eq (memcmp (report->raw.data, raw_copy, raw_size), 0);
        s_free (report);
        free (raw_copy);
        drift__report__free_unpacked (raw, NULL);
        drift__envelope__free_unpacked (envelope, NULL);
    }
    json_decref (expected);
    normalize_stats_t stats;
    normalize_stats ((normalize_t *) state, &stats);
    cr_assert_eq (stats.reports, 2);
    cr_assert_eq (stats.failed, 0);
    normalize_actor.close (state);
    config_destroy (&config);
}

Test (normalize, the_stage_forwards_garbage_as_a_failed_report)
{
    config_t *config = s_stage_config (NULL, NULL);
    void *state = normalize_actor.open (config);
    Drift__Envelope *envelope = (Drift__Envelope *) calloc (1, sizeof *envelope);
    drift__envelope__init (envelope);
    envelope->tenant = strdup (TENANT);
    envelope->report_id = strdup ("garbage-1");
    envelope->body_case = DRIFT__ENVELOPE__BODY_RAW;
    envelope->raw.len = 5;
    envelope->raw.data = (uint8_t *) strdup ("\xff\xff\xff\xff");
    cr_assert_eq (normalize_actor.fn (state, envelope), STAGE_FORWARD);
    Drift__CanonicalReport *report = s_normalized (envelope);
    s_assert_failed (report, "raw body of 5 bytes is not a drift.Report");
    cr_assert_eq (report->raw.len, 5, "the raw body still goes on to archive");
    s_free (report);
    drift__envelope__free_unpacked (envelope, NULL);

    //  An envelope with no body at all.
    envelope = (Drift__Envelope *) calloc (1, sizeof *envelope);
    drift__envelope__init (envelope);
    envelope->report_id = strdup ("empty-1");
    cr_assert_eq (normalize_actor.fn (state, envelope), STAGE_FORWARD);
    report = s_normalized (envelope);
    s_assert_failed (report, "raw body of 0 bytes");
    s_free (report);
    drift__envelope__free_unpacked (envelope, NULL);

    normalize_stats_t stats;
    normalize_stats ((normalize_t *) state, &stats);
    cr_assert_eq (stats.failed, 2);
    cr_assert_eq (stats.unreadable, 2);
    normalize_actor.close (state);
    config_destroy (&config);
}

Test (normalize, the_stage_reads_its_mask_key_file_and_refuses_a_bad_one)
{
    char path [] = "/tmp/drift-mask-key-XXXXXX";
    int fd = mkstemp (path);
    cr_assert (fd >= 0);
    const char *hex = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n";
    cr_assert_eq (write (fd, hex, strlen (hex)), (ssize_t) strlen (hex));
    close (fd);
    config_t *config = s_stage_config ("--mask-key-file", path);
    void *state = normalize_actor.open (config);
    cr_assert (state);
    normalize_actor.close (state);
    config_destroy (&config);

    fd = open (path, O_WRONLY | O_TRUNC);
    cr_assert_eq (write (fd, "not a key", 9), 9);
    close (fd);
    config = s_stage_config ("--mask-key-file", path);
    cr_assert_null (normalize_actor.open (config));
    config_destroy (&config);
    unlink (path);

    config = s_stage_config ("--volatile", "aws_x.a,bad");
    cr_assert_null (normalize_actor.open (config));
    config_destroy (&config);
}

//  --------------------------------------------------------------------------
//  drift normalize --input

//  Run the drift binary with args (NULL-terminated), stdin from stdin_path
//  (or /dev/null); its stdout as text, its exit code in *code.
static char *
s_run_drift (const char *stdin_path, int *code, ...)
{
    va_list args;
    va_start (args, code);
    char *text = tu_drift_output (code, stdin_path, false, NULL, args);
    va_end (args);
    return text;
}

Test (normalize, the_cli_prints_the_canonical_report_as_json)
{
    char *path = tu_fixture_path ("scenario-02.plan.json");
    int code;
    char *output = s_run_drift (NULL, &code, "normalize", "--input", path, "--tenant", TENANT,
                                "--stack", STACK, NULL);
    cr_assert_eq (code, 0, "exit %d: %s", code, output);
    json_error_t error;
    json_t *json = json_loads (output, 0, &error);
    cr_assert (json, "not JSON: %s\n%s", error.text, output);
    cr_assert_str_eq (json_string_value (json_object_get (json, "status")), "ok");
    cr_assert_str_eq (json_string_value (json_object_get (json, "source")), "plan_json");
    cr_assert_str_eq (json_string_value (json_object_get (json, "stack")), STACK);
    cr_assert_eq (json_integer_value (json_object_get (json_object_get (json, "counts"),
                                                       "mirror")), 1);
    //  The same fingerprints as the library gives for the same tenant and stack.
    Drift__CanonicalReport *report = s_fixture ("scenario-02.plan.json");
    json_t *drift = json_object_get (json, "drift");
    cr_assert_eq (json_array_size (drift), 3);
    size_t index;
    json_t *item;
    json_array_foreach (drift, index, item) {
        const char *address = json_string_value (json_object_get (item, "address"));
        const Drift__DriftItem *expected = s_item (report, address);
        cr_assert (expected, "%s", address);
        cr_assert_str_eq (json_string_value (json_object_get (item, "type")), expected->type);
        cr_assert_str_eq (json_string_value (json_object_get (item, "kind")),
                          canonical_kind_name (expected->kind));
        cr_assert_str_eq (json_string_value (json_object_get (item, "class")),
                          canonical_class_name (expected->class_));
        cr_assert_str_eq (json_string_value (json_object_get (item, "fingerprint")),
                          expected->fingerprint);
        cr_assert (json_is_array (json_object_get (item, "changed_paths")));
        cr_assert (json_is_array (json_object_get (item, "mirror_of")));
        if (strcmp (address, "aws_s3_bucket.receipts") == 0) {
            cr_assert_str_eq (json_string_value (json_array_get (json_object_get (item,
                "mirror_of"), 0)), "aws_s3_bucket_server_side_encryption_configuration.receipts");
            cr_assert_str_eq (json_string_value (json_array_get (json_object_get (item,
                "changed_paths"), 0)), "server_side_encryption_configuration[0]");
            json_t *attribute = json_array_get (json_object_get (item, "attributes"), 0);
            cr_assert_str_eq (json_string_value (json_object_get (json_object_get (attribute,
                "mirror_of"), "address")),
                "aws_s3_bucket_server_side_encryption_configuration.receipts");
        }
    }
    s_free (report);
    json_decref (json);
    free (output);

    //  From stdin, the stream: degraded.
    char *log = tu_fixture_path ("scenario-04.log.jsonl");
    output = s_run_drift (log, &code, "normalize", "--input", "-", NULL);
    cr_assert_eq (code, 0);
    json = json_loads (output, 0, &error);
    cr_assert (json, "%s", output);
    cr_assert (json_is_true (json_object_get (json, "degraded")));
    cr_assert_str_eq (json_string_value (json_object_get (json, "source")), "plan_stream");
    json_decref (json);
    free (output);
    free (log);

    //  A bad document: a failed report, exit code 1, and the reason.
    char bad [] = "/tmp/drift-normalize-bad-XXXXXX";
    int fd = mkstemp (bad);
    cr_assert_eq (write (fd, "{\"format_version\":\"9.0\"}", 24), 24);
    close (fd);
    output = s_run_drift (NULL, &code, "normalize", "--input", bad, NULL);
    cr_assert_eq (code, 1);
    json = json_loads (output, 0, &error);
    cr_assert_str_eq (json_string_value (json_object_get (json, "status")), "failed");
    cr_assert_str_eq (json_string_value (json_object_get (json, "reason")),
                      "unsupported plan format_version 9.0 (normalize reads 1.x)");
    json_decref (json);
    free (output);
    unlink (bad);
    output = s_run_drift (NULL, &code, "normalize", "--input", "/nonexistent/plan.json", NULL);
    cr_assert_eq (code, 2);
    free (output);
    free (path);
}

//  The same documents sent by an agent: report_build recognises them, the
//  link carries their format, and normalize_raw reads them as
//  normalize_document does.
Test (normalize, cloudformation_and_pulumi_reports_travel_the_agent_link_too)
{
    char *documents [2];
    cr_assert (asprintf (&documents [0], s_cloudformation, "0.0.0.0/0") > 0);
    cr_assert (asprintf (&documents [1], s_pulumi, "0.0.0.0/0", "ingress is open", "warning") > 0);
    Drift__ReportFormat formats [2] = {
        DRIFT__REPORT_FORMAT__REPORT_FORMAT_CLOUDFORMATION, DRIFT__REPORT_FORMAT__REPORT_FORMAT_PULUMI
    };
    const char *engines [2] = { "cloudformation", "pulumi" };
    uint8_t key [REDACT_KEY_BYTES] = { 3 };
    normalize_t *normalize = s_normalizer (7);
    for (int i = 0; i < 2; i++) {
        char *text = s_quoted (documents [i]);
        report_options_t options = { .stack = STACK, .engine = "terraform", .redact_key = key };
        char *error = NULL;
        Drift__Report *sent = report_build (text, strlen (text), &options, &error);
        cr_assert (sent, "%s: %s", engines [i], error);
        cr_assert_eq (sent->format, formats [i]);
        cr_assert_str_eq (sent->engine, engines [i]);
        size_t size = drift__report__get_packed_size (sent);
        uint8_t *packed = (uint8_t *) malloc (size);
        drift__report__pack (sent, packed);

        Drift__CanonicalReport *by_link = normalize_raw (normalize, TENANT, packed, size);
        Drift__CanonicalReport *by_hand = s_document (normalize, text, strlen (text));
        s_assert_ok (by_link);
        cr_assert_gt (by_link->n_items, 0);
        cr_assert_eq (by_link->n_items, by_hand->n_items, "%s", engines [i]);
        for (size_t item = 0; item < by_link->n_items; item++)
            cr_assert_str_eq (by_link->items [item]->fingerprint, by_hand->items [item]->fingerprint);

        //  A report whose format and content disagree fails, precisely.
        sent->format = formats [1 - i];
        drift__report__pack (sent, packed);
        Drift__CanonicalReport *mislabelled = normalize_raw (normalize, TENANT, packed, size);
        s_assert_failed (mislabelled, "report says");
        s_free (mislabelled);
        s_free (by_link);
        s_free (by_hand);
        free (packed);
        drift__report__free_unpacked (sent, NULL);
        free (text);
        free (documents [i]);
    }
    normalize_destroy (&normalize);
}

//  A stack's .driftignore rides with its report to score.
Test (normalize, the_stacks_driftignore_travels_with_the_report)
{
    size_t size;
    char *plan = tu_read_fixture ("scenario-01.plan.json", &size);
    uint8_t key [REDACT_KEY_BYTES] = { 5 };
    report_options_t options = { .stack = STACK, .engine = "terraform", .redact_key = key,
                                 .driftignore = "aws_security_group.web until 2030-01-01\n" };
    char *error = NULL;
    Drift__Report *sent = report_build (plan, size, &options, &error);
    cr_assert (sent, "%s", error);
    size_t packed_size = drift__report__get_packed_size (sent);
    uint8_t *packed = (uint8_t *) malloc (packed_size);
    drift__report__pack (sent, packed);
    normalize_t *normalize = s_normalizer (7);
    Drift__CanonicalReport *report = normalize_raw (normalize, TENANT, packed, packed_size);
    s_assert_ok (report);
    cr_assert_str_eq (report->driftignore, "aws_security_group.web until 2030-01-01\n");
    s_free (report);
    normalize_destroy (&normalize);
    free (packed);
    drift__report__free_unpacked (sent, NULL);

    //  An oversized one is refused by the agent, before anything is spooled.
    char *huge = (char *) malloc (REPORT_MAX_DRIFTIGNORE + 2);
    memset (huge, '#', REPORT_MAX_DRIFTIGNORE + 1);
    huge [REPORT_MAX_DRIFTIGNORE + 1] = 0;
    options.driftignore = huge;
    cr_assert_null (report_build (plan, size, &options, &error));
    cr_assert (strstr (error, ".driftignore larger"), "%s", error);
    free (error);
    free (huge);
    free (plan);
}
