/*  lab: normalize and score measured on the capture lab's own fixtures
    (tests/fixtures/lab, made by lab/capture/run: a stack of 60+ AWS
    resource types applied against moto, then drifted out of band batch by
    batch, each batch with its ground truth).

    Prints the figures the project reports (docs/ARCHITECTURE.md, "Noise"):
    false drift on the first refresh after apply, detection over the
    mutation matrix, the severity of each mutation next to what a security
    engineer would give it. Asserts the goals: no real item and nothing
    above info on the fresh apply; at least 95 % of the mutations found as
    real at the right address; every resource type of the stack mutated;
    changes in form only never real. Each semantic equality rule
    (actors/normalize/semeq.h) and the split-resource table are shown on
    captured plans; and `drift check` and the stage's own path (a raw
    report built by the agent) give the classes of `drift normalize`.
*/
#define _GNU_SOURCE                 // asprintf
#include "testutil.h"
#include "linkutil.h"
#include "../agent/redact.h"
#include "../agent/report.h"
#include "../lib/canonical.h"
#include "../actors/normalize/normalize.h"
#include "../actors/normalize/semeq.h"
#include "../actors/score/score.h"
#include "../lib/severity.h"

#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define TENANT "tenant-lab"
#define STACK "lab"

//  --------------------------------------------------------------------------
//  Helpers

//  tests/fixtures/lab/NAME in the checkout (beside the Terraform captures
//  testutil knows); caller frees.
static char *
s_path (const char *name)
{
    char *relative = NULL;
    cr_assert (asprintf (&relative, "../lab/%s", name) > 0);
    char *path = tu_fixture_path (relative);
    free (relative);
    return path;
}

static char *
s_read (const char *name, size_t *size)
{
    char *relative = NULL;
    cr_assert (asprintf (&relative, "../lab/%s", name) > 0);
    char *text = tu_read_fixture (relative, size);
    free (relative);
    return text;
}

static json_t *
s_json (const char *name)
{
    char *relative = NULL;
    cr_assert (asprintf (&relative, "../lab/%s", name) > 0);
    json_t *json = tu_read_fixture_json (relative);
    free (relative);
    return json;
}

//  The batches the lab captured: batch-01 ... until one is missing.
static int
s_batches (void)
{
    int count = 0;
    for (;;) {
        char name [64];
        snprintf (name, sizeof name, "batch-%02d.truth.json", count + 1);
        char *path = s_path (name);
        bool present = access (path, R_OK) == 0;
        free (path);
        if (!present)
            return count;
        count++;
    }
}

static Drift__CanonicalReport *
s_normalize_text (const char *text, size_t size)
{
    normalize_t *normalize = normalize_new (NULL);
    cr_assert (normalize);
    Drift__CanonicalReport *report = normalize_document (normalize, TENANT, STACK, text, size);
    normalize_destroy (&normalize);
    cr_assert (report);
    cr_assert_eq (report->status, DRIFT__REPORT_STATUS__REPORT_STATUS_OK, "%s", report->reason);
    return report;
}

static Drift__CanonicalReport *
s_normalize (const char *name)
{
    size_t size;
    char *text = s_read (name, &size);
    Drift__CanonicalReport *report = s_normalize_text (text, size);
    free (text);
    return report;
}

static Drift__DriftItem *
s_item (const Drift__CanonicalReport *report, const char *address, size_t *index_out)
{
    for (size_t index = 0; index < report->n_items; index++)
        if (strcmp (report->items [index]->address, address) == 0) {
            if (index_out)
                *index_out = index;
            return report->items [index];
        }
    return NULL;
}

static const Drift__AttributeClass *
s_attribute (const Drift__DriftItem *item, const char *name)
{
    for (size_t index = 0; item && index < item->n_attributes; index++)
        if (strcmp (item->attributes [index]->name, name) == 0)
            return item->attributes [index];
    return NULL;
}

//  The strongest unsuppressed finding of item index.
static Drift__Severity
s_item_severity (const Drift__ScoredReport *scored, size_t item)
{
    Drift__Severity severity = DRIFT__SEVERITY__SEVERITY_NONE;
    for (size_t index = 0; index < scored->n_findings; index++) {
        const Drift__Finding *finding = scored->findings [index];
        if (finding->item == item && !finding->suppressed && finding->severity > severity)
            severity = finding->severity;
    }
    return severity;
}

//  Attribute of address must be noise with a reason holding words.
static void
s_assert_noise (const Drift__CanonicalReport *report, const char *address, const char *name,
                const char *words)
{
    const Drift__AttributeClass *attribute = s_attribute (s_item (report, address, NULL), name);
    cr_assert (attribute, "%s: no changed attribute %s", address, name);
    cr_assert_eq (attribute->class_, DRIFT__DRIFT_CLASS__DRIFT_CLASS_NOISE,
                  "%s %s is %s: %s", address, name, canonical_class_name (attribute->class_),
                  attribute->reason);
    cr_assert (strstr (attribute->reason, words), "%s %s: reason '%s' lacks '%s'", address,
               name, attribute->reason, words);
}

//  address → type of every managed resource in a plan's prior state.
static void
s_types (json_t *module, json_t *types)
{
    size_t index;
    json_t *entry;
    json_array_foreach (json_object_get (module, "resources"), index, entry)
        if (strcmp (json_string_value (json_object_get (entry, "mode")), "managed") == 0)
            json_object_set (types, json_string_value (json_object_get (entry, "address")),
                             json_object_get (entry, "type"));
    json_array_foreach (json_object_get (module, "child_modules"), index, entry)
        s_types (entry, types);
}

//  --------------------------------------------------------------------------
//  The goals

Test (lab, a_fresh_apply_gives_no_real_drift_and_nothing_above_info)
{
    Drift__CanonicalReport *report = s_normalize ("fresh.plan.json");
    score_t *score = score_new ();
    Drift__ScoredReport *scored = score_report (score, report);
    cr_assert (scored);
    size_t above_info = 0;
    for (size_t index = 0; index < scored->n_findings; index++)
        above_info += scored->findings [index]->severity > DRIFT__SEVERITY__SEVERITY_INFO;
    printf ("lab fresh apply: %zu drifted resources: %zu real, %zu mirror, %zu noise; "
            "%zu findings, %zu above info; severity %s\n",
            report->n_items, (size_t) report->counts->real, (size_t) report->counts->mirror,
            (size_t) report->counts->noise, scored->n_findings, above_info,
            severity_name (scored->severity));
    for (size_t index = 0; index < report->n_items; index++) {
        const Drift__DriftItem *item = report->items [index];
        for (size_t attribute = 0; attribute < item->n_attributes; attribute++)
            if (item->attributes [attribute]->class_ == DRIFT__DRIFT_CLASS__DRIFT_CLASS_REAL)
                printf ("  real: %s %s (%s)\n", item->address, item->attributes [attribute]->name,
                        item->attributes [attribute]->reason);
    }
    cr_assert_gt (report->n_items, 0, "the fresh capture shows the noise it is meant to");
    cr_assert_eq (report->counts->real, 0);
    cr_assert_eq (above_info, 0);
    cr_assert_leq (scored->severity, DRIFT__SEVERITY__SEVERITY_INFO);
    score_scored_destroy (&scored);
    score_destroy (&score);
    drift__canonical_report__free_unpacked (report, NULL);
}

Test (lab, the_mutation_matrix_is_found_as_real_at_the_right_address)
{
    int batches = s_batches ();
    cr_assert_geq (batches, 6, "the lab's batches are committed");
    json_t *fresh = s_json ("fresh.plan.json");
    json_t *types = json_object ();
    s_types (json_object_get (json_object_get (json_object_get (fresh, "prior_state"), "values"),
                              "root_module"), types);
    json_t *mutated = json_object ();       // types mutated
    json_t *of_stack = json_object ();      // every type of the stack
    const char *address_of;
    json_t *type_of;
    json_object_foreach (types, address_of, type_of)
        json_object_set (of_stack, json_string_value (type_of), json_true ());
    score_t *score = score_new ();
    size_t total = 0, found = 0, as_expected = 0, form_only = 0, form_quiet = 0;
    printf ("lab mutation matrix (%d batches)\n%-28s %-72s %-9s %-9s %s\n", batches,
            "MUTATION", "ADDRESS", "EXPECTED", "SCORED", "FOUND");
    for (int batch = 1; batch <= batches; batch++) {
        char name [64];
        snprintf (name, sizeof name, "batch-%02d.truth.json", batch);
        json_t *truth = s_json (name);
        snprintf (name, sizeof name, "batch-%02d.plan.json", batch);
        Drift__CanonicalReport *report = s_normalize (name);
        Drift__ScoredReport *scored = score_report (score, report);
        cr_assert (scored);
        size_t index;
        json_t *mutation;
        json_array_foreach (json_object_get (truth, "mutations"), index, mutation) {
            const char *address = json_string_value (json_object_get (mutation, "address"));
            const char *attribute = json_string_value (json_object_get (mutation, "attribute"));
            const char *expected = json_string_value (json_object_get (mutation, "severity"));
            bool real = strcmp (json_string_value (json_object_get (mutation, "class")), "real") == 0;
            size_t at = 0;
            const Drift__DriftItem *item = s_item (report, address, &at);
            const Drift__AttributeClass *changed = s_attribute (item, attribute);
            bool is_real = item && item->class_ == DRIFT__DRIFT_CLASS__DRIFT_CLASS_REAL;
            bool right = *attribute
                       ? changed && changed->class_ == DRIFT__DRIFT_CLASS__DRIFT_CLASS_REAL
                       : item && item->kind == DRIFT__DRIFT_KIND__DRIFT_KIND_DELETED;
            const char *got = item ? severity_name (s_item_severity (scored, at)) : "-";
            if (real) {
                total++;
                found += is_real && right;
                as_expected += strcmp (got, expected) == 0;
                json_t *type = json_object_get (types, address);
                cr_assert (type, "%s is not a resource of the stack", address);
                json_object_set (mutated, json_string_value (type), json_true ());
            }
            else {
                form_only++;
                form_quiet += !is_real;
            }
            printf ("%-28s %-72s %-9s %-9s %s\n",
                    json_string_value (json_object_get (mutation, "name")), address, expected,
                    got, real ? (is_real && right ? "real" : "MISSED")
                              : (is_real ? "REAL (false drift)" : item ? "noise" : "not shown"));
        }
        score_scored_destroy (&scored);
        drift__canonical_report__free_unpacked (report, NULL);
        json_decref (truth);
    }
    printf ("lab detection: %zu of %zu mutations found as real at the right address (%.1f %%); "
            "severity as expected for %zu of %zu; %zu of %zu resource types mutated; "
            "%zu of %zu changes in form only not real\n",
            found, total, total ? 100.0 * (double) found / (double) total : 0.0, as_expected,
            total, json_object_size (mutated), json_object_size (of_stack), form_quiet, form_only);
    cr_assert_gt (total, 0);
    cr_assert_geq (found * 100, total * 95, "found %zu of %zu", found, total);
    cr_assert_geq (json_object_size (mutated), 40);
    const char *type;
    json_t *value;
    json_object_foreach (types, type, value)
        cr_expect (json_object_get (mutated, json_string_value (value)),
                   "no mutation of a %s (%s)", json_string_value (value), type);
    cr_assert_eq (form_quiet, form_only);
    score_destroy (&score);
    json_decref (mutated);
    json_decref (of_stack);
    json_decref (types);
    json_decref (fresh);
}

//  --------------------------------------------------------------------------
//  Each equivalence on captured plans

Test (lab, null_and_empty_or_false_are_the_same_value)
{
    Drift__CanonicalReport *report = s_normalize ("fresh.plan.json");
    //  Optional collections read back empty where the apply left null.
    s_assert_noise (report, "aws_lambda_function.worker", "layers", "null vs empty");
    s_assert_noise (report, "aws_kms_key.data", "tags", "null vs empty");
    s_assert_noise (report, "aws_cloudwatch_metric_alarm.errors", "dimensions", "null vs empty");
    //  A flag never set, read back as false, inside a block.
    s_assert_noise (report,
                    "module.bucket[\"logs\"].aws_s3_bucket_server_side_encryption_configuration.this",
                    "rule", "null vs empty");
    drift__canonical_report__free_unpacked (report, NULL);
}

//  The change of the drift entry of address in plan.
static json_t *
s_change_of (json_t *plan, const char *address)
{
    size_t index;
    json_t *entry;
    json_array_foreach (json_object_get (plan, "resource_drift"), index, entry)
        if (strcmp (json_string_value (json_object_get (entry, "address")), address) == 0)
            return json_object_get (entry, "change");
    cr_assert_fail ("no drift entry %s", address);
    return NULL;
}

//  A policy document in another form: the one statement as an object
//  rather than a list, single values as lists of one, other spacing; with
//  effect set when not NULL (to make it mean something else).
static char *
s_policy_form (const char *policy, const char *effect)
{
    json_t *document = json_loads (policy, 0, NULL);
    cr_assert (document, "a policy: %s", policy);
    json_t *statements = json_object_get (document, "Statement");
    cr_assert_eq (json_array_size (statements), 1);
    json_t *statement = json_incref (json_array_get (statements, 0));
    const char *keys [3] = { "Action", "Resource", "Effect" };
    for (int index = 0; index < 2; index++) {
        json_t *value = json_object_get (statement, keys [index]);
        if (json_is_string (value))
            json_object_set_new (statement, keys [index], json_pack ("[O]", value));
    }
    if (effect)
        json_object_set_new (statement, keys [2], json_string (effect));
    json_object_set_new (document, "Statement", statement);
    char *text = json_dumps (document, JSON_INDENT (3));
    json_decref (document);
    return text;
}

//  Batch 1's drift of a managed policy with its before rewritten as the
//  after in another form (effect as given), normalized.
static Drift__CanonicalReport *
s_policy_rewritten (const char *effect)
{
    json_t *plan = s_json ("batch-01.plan.json");
    json_t *entry = s_change_of (plan, "aws_iam_policy.read_data");
    char *form = s_policy_form (json_string_value (json_object_get (
        json_object_get (entry, "after"), "policy")), effect);
    json_object_set_new (json_object_get (entry, "before"), "policy", json_string (form));
    free (form);
    char *text = json_dumps (plan, JSON_COMPACT);
    Drift__CanonicalReport *report = s_normalize_text (text, strlen (text));
    free (text);
    json_decref (plan);
    return report;
}

//  Batch 7 rewrote four policies in form only through the API, and the
//  provider kept each as the state had it (its own equivalence check), so
//  none shows as drift there. Normalize must not depend on that: here a
//  captured policy drift is given a before that is its after in another form.
Test (lab, a_captured_policy_in_another_form_is_noise_and_another_meaning_real)
{
    Drift__CanonicalReport *report = s_policy_rewritten (NULL);
    s_assert_noise (report, "aws_iam_policy.read_data", "policy", "IAM policy grammar");
    drift__canonical_report__free_unpacked (report, NULL);
    report = s_policy_rewritten ("Deny");
    const Drift__AttributeClass *policy = s_attribute (
        s_item (report, "aws_iam_policy.read_data", NULL), "policy");
    cr_assert (policy);
    cr_assert_eq (policy->class_, DRIFT__DRIFT_CLASS__DRIFT_CLASS_REAL, "%s", policy->reason);
    drift__canonical_report__free_unpacked (report, NULL);
}

//  The fresh plan with one attribute's list reversed in a drift entry's
//  after, normalized.
static Drift__CanonicalReport *
s_reversed (const char *address, const char *attribute)
{
    json_t *plan = s_json ("fresh.plan.json");
    json_t *after = json_object_get (s_change_of (plan, address), "after");
    json_t *list = json_object_get (after, attribute);
    cr_assert_geq (json_array_size (list), 2, "%s %s has two elements to swap", address,
                   attribute);
    json_t *reversed = json_array ();
    for (size_t at = json_array_size (list); at > 0; at--)
        json_array_append (reversed, json_array_get (list, at - 1));
    json_object_set_new (after, attribute, reversed);
    char *text = json_dumps (plan, JSON_COMPACT);
    Drift__CanonicalReport *report = s_normalize_text (text, strlen (text));
    free (text);
    json_decref (plan);
    return report;
}

Test (lab, sets_of_the_schema_compare_unordered_and_lists_do_not)
{
    semeq_t *semeq = semeq_new ();
    cr_assert (semeq);
    cr_assert (semeq_is_set (semeq, "aws_lb", "subnets"));
    cr_assert (semeq_is_set (semeq, "aws_security_group", "ingress"));
    cr_assert_not (semeq_is_set (semeq, "aws_security_group", "ingress.cidr_blocks"));
    semeq_destroy (&semeq);
    //  aws_lb.subnets is a set: its subnets in the other order are the same.
    Drift__CanonicalReport *report = s_reversed ("aws_lb.web", "subnets");
    s_assert_noise (report, "aws_lb.web", "subnets", "set order");
    drift__canonical_report__free_unpacked (report, NULL);
    report = s_reversed ("aws_network_acl.private", "subnet_ids");
    s_assert_noise (report, "aws_network_acl.private", "subnet_ids", "set order");
    drift__canonical_report__free_unpacked (report, NULL);
    //  A zone's name servers are a list: another order is a real change.
    report = s_reversed ("aws_route53_zone.internal", "name_servers");
    const Drift__AttributeClass *servers = s_attribute (
        s_item (report, "aws_route53_zone.internal", NULL), "name_servers");
    cr_assert (servers);
    cr_assert_eq (servers->class_, DRIFT__DRIFT_CLASS__DRIFT_CLASS_REAL, "%s", servers->reason);
    drift__canonical_report__free_unpacked (report, NULL);
}

Test (lab, split_resources_fill_in_as_noise_and_mirror_a_changed_child)
{
    Drift__CanonicalReport *report = s_normalize ("fresh.plan.json");
    s_assert_noise (report, "aws_iam_policy.read_data", "attachment_count", "read-only copy");
    //  The listener's own change here (tags) is noise, so its copy is too.
    s_assert_noise (report, "aws_lb_target_group.web", "load_balancer_arns",
                    "copy of a split resource whose change is noise");
    s_assert_noise (report, "module.queue[\"orders\"].aws_sns_topic.this", "policy",
                    "aws_sns_topic_policy");
    s_assert_noise (report, "module.queue[\"orders\"].aws_sqs_queue.this", "policy",
                    "aws_sqs_queue_policy");
    s_assert_noise (report, "aws_security_group.db", "ingress", "aws_security_group_rule");
    s_assert_noise (report, "aws_route_table.public", "route", "aws_route");
    s_assert_noise (report, "aws_network_acl.private", "ingress", "aws_network_acl_rule");
    s_assert_noise (report, "aws_iam_role.app", "inline_policy", "aws_iam_role_policy");
    s_assert_noise (report, "module.bucket[\"logs\"].aws_s3_bucket.this", "versioning",
                    "aws_s3_bucket_versioning");
    drift__canonical_report__free_unpacked (report, NULL);
    //  Batch 1 opened the orders queue policy: the queue's copy mirrors it.
    report = s_normalize ("batch-01.plan.json");
    const Drift__AttributeClass *copy = s_attribute (
        s_item (report, "module.queue[\"orders\"].aws_sqs_queue.this", NULL), "policy");
    cr_assert (copy);
    cr_assert_eq (copy->class_, DRIFT__DRIFT_CLASS__DRIFT_CLASS_MIRROR, "%s", copy->reason);
    cr_assert_str_eq (copy->mirror_of_address,
                      "module.queue[\"orders\"].aws_sqs_queue_policy.this");
    drift__canonical_report__free_unpacked (report, NULL);
}

//  --------------------------------------------------------------------------
//  One classification everywhere

//  The classes `drift check --format json` gives for the lab file name.
static json_t *
s_check_classes (const char *name)
{
    const char *bin = getenv ("DRIFT_BIN");
    cr_assert (bin, "DRIFT_BIN is not set");
    char *path = s_path (name);
    char *command = NULL;
    cr_assert (asprintf (&command, "'%s' check --format json --fail-on none --stack %s '%s'",
                         bin, STACK, path) > 0);
    FILE *output = popen (command, "r");
    cr_assert (output);
    json_error_t error;
    json_t *json = json_loadf (output, 0, &error);
    cr_assert_eq (pclose (output), 0, "%s", command);
    cr_assert (json, "drift check output: %s", error.text);
    free (command);
    free (path);
    json_t *classes = json_object ();
    size_t index;
    json_t *item;
    json_array_foreach (json_object_get (json, "drift"), index, item)
        json_object_set (classes, json_string_value (json_object_get (item, "address")),
                         json_object_get (item, "class"));
    json_decref (json);
    return classes;
}

//  The report the normalize stage makes of the agent's raw report.
static Drift__CanonicalReport *
s_stage_report (const char *name)
{
    size_t size;
    char *plan = s_read (name, &size);
    Drift__Report *raw = lu_agent_report (plan, size, STACK, 7);
    free (plan);
    size_t packed_size = drift__report__get_packed_size (raw);
    uint8_t *packed = (uint8_t *) malloc (packed_size);
    drift__report__pack (raw, packed);
    normalize_t *normalize = normalize_new (NULL);
    Drift__CanonicalReport *report = normalize_raw (normalize, TENANT, packed, packed_size);
    cr_assert (report);
    cr_assert_eq (report->status, DRIFT__REPORT_STATUS__REPORT_STATUS_OK, "%s", report->reason);
    normalize_destroy (&normalize);
    free (packed);
    drift__report__free_unpacked (raw, NULL);
    return report;
}

Test (lab, check_and_the_stage_give_the_classes_of_normalize)
{
    int batches = s_batches ();
    size_t compared = 0;
    for (int file = 0; file <= batches; file++) {
        char name [64];
        if (file == 0)
            snprintf (name, sizeof name, "fresh.plan.json");
        else
            snprintf (name, sizeof name, "batch-%02d.plan.json", file);
        Drift__CanonicalReport *report = s_normalize (name);
        Drift__CanonicalReport *stage = s_stage_report (name);
        json_t *check = s_check_classes (name);
        cr_assert_eq (stage->n_items, report->n_items, "%s", name);
        cr_assert_eq (json_object_size (check), report->n_items, "%s", name);
        for (size_t index = 0; index < report->n_items; index++) {
            const Drift__DriftItem *item = report->items [index];
            const char *class_ = canonical_class_name (item->class_);
            const Drift__DriftItem *staged = s_item (stage, item->address, NULL);
            cr_assert (staged, "%s: the stage lost %s", name, item->address);
            cr_assert_str_eq (canonical_class_name (staged->class_), class_, "%s: %s", name,
                              item->address);
            cr_assert_str_eq (json_string_value (json_object_get (check, item->address)), class_,
                              "%s: %s", name, item->address);
            compared++;
        }
        json_decref (check);
        drift__canonical_report__free_unpacked (stage, NULL);
        drift__canonical_report__free_unpacked (report, NULL);
    }
    printf ("lab: %zu drifted resources in %d plans classed alike by drift normalize, "
            "drift check and the stage\n", compared, batches + 1);
    cr_assert_gt (compared, 0);
}
