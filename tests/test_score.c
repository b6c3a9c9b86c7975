/*  score: every real Terraform capture gets the findings, severity and score
    a security engineer would defend (written here, scenario by scenario);
    each predicate decides on parsed values (CIDRs of both families, port
    ranges, policy documents in all their shapes); a malformed rules file is
    refused with file, line and reason; an override replaces a built-in rule
    by id; the stage scores what normalize wrote, forwards a failed report
    with no findings, and rereads its rules file, keeping the last good rules
    when a new one is malformed.
*/
#define _GNU_SOURCE                 // asprintf
#include "linkutil.h"
#include "../actors/actors.h"
#include "../actors/score/element.h"
#include "../actors/normalize/normalize.h"
#include "../actors/score/predicates.h"
#include "../actors/score/rules.h"
#include "../actors/score/score.h"
#include "../lib/severity.h"

#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define TENANT "tenant-a"
#define STACK "payments"
#define CRITICAL DRIFT__SEVERITY__SEVERITY_CRITICAL
#define HIGH DRIFT__SEVERITY__SEVERITY_HIGH
#define MEDIUM DRIFT__SEVERITY__SEVERITY_MEDIUM
#define LOW DRIFT__SEVERITY__SEVERITY_LOW
#define INFO DRIFT__SEVERITY__SEVERITY_INFO
#define NONE DRIFT__SEVERITY__SEVERITY_NONE

//  --------------------------------------------------------------------------
//  Helpers

//  A fixture normalized as the pipeline would.
static Drift__CanonicalReport *
s_canonical (const char *fixture)
{
    size_t size;
    char *text = tu_read_fixture (fixture, &size);
    normalize_t *normalize = normalize_new (NULL);
    cr_assert (normalize);
    Drift__CanonicalReport *report = normalize_document (normalize, TENANT, STACK, text, size);
    cr_assert (report);
    cr_assert_eq (report->status, DRIFT__REPORT_STATUS__REPORT_STATUS_OK, "%s: %s", fixture,
                  report->reason);
    normalize_destroy (&normalize);
    free (text);
    return report;
}

typedef struct {
    Drift__CanonicalReport *report; // what was scored
    Drift__ScoredReport *scored; // its score
    score_t *score;              // the engine
} s_result_t;

static s_result_t
s_score_fixture (const char *fixture)
{
    s_result_t result;
    result.report = s_canonical (fixture);
    result.score = score_new ();
    cr_assert (result.score);
    result.scored = score_report (result.score, result.report);
    cr_assert (result.scored);
    return result;
}

static void
s_result_destroy (s_result_t *result)
{
    score_scored_destroy (&result->scored);
    drift__canonical_report__free_unpacked (result->report, NULL);
    score_destroy (&result->score);
}

//  The one finding of address, asserted.
static const Drift__Finding *
s_finding_of (const Drift__ScoredReport *scored, const char *address)
{
    const Drift__Finding *found = NULL;
    for (size_t i = 0; i < scored->n_findings; i++)
        if (strcmp (scored->findings [i]->address, address) == 0) {
            cr_assert_null (found, "%s has more than one finding", address);
            found = scored->findings [i];
        }
    cr_assert (found, "%s has no finding", address);
    return found;
}

static size_t
s_count (const Drift__ScoredReport *scored, Drift__Severity severity, const char *rule)
{
    size_t count = 0;
    for (size_t i = 0; i < scored->n_findings; i++)
        if (scored->findings [i]->severity == severity
        &&  (!rule || strcmp (scored->findings [i]->rule, rule) == 0))
            count++;
    return count;
}

//  --------------------------------------------------------------------------
//  The captures

Test (score, scenario_00_noise_alone_is_info_with_a_low_score)
{
    //  Right after apply, the parent bucket's read-only copies and the role's
    //  inline policy fill in: nothing was done out of band.
    s_result_t result = s_score_fixture ("scenario-00.plan.json");
    Drift__ScoredReport *scored = result.scored;
    cr_assert_eq (scored->n_findings, 2);
    cr_assert_eq (s_count (scored, INFO, "noise"), 2);
    cr_assert_eq (s_finding_of (scored, "aws_iam_role.app")->severity, INFO);
    cr_assert_eq (s_finding_of (scored, "aws_s3_bucket.receipts")->severity, INFO);
    cr_assert_eq (scored->severity, INFO);
    cr_assert_leq (scored->score, 5, "noise scored %u", scored->score);
    s_result_destroy (&result);
}

Test (score, scenario_01_ssh_open_to_the_world_is_critical)
{
    s_result_t result = s_score_fixture ("scenario-01.plan.json");
    Drift__ScoredReport *scored = result.scored;
    //  One finding: the SSH rule covers the whole ingress change, so the set
    //  shift (the office rule moved to ingress[2]) is not a second finding.
    cr_assert_eq (scored->n_findings, 1);
    const Drift__Finding *finding = s_finding_of (scored, "aws_security_group.web");
    cr_assert_eq (finding->severity, CRITICAL);
    cr_assert_str_eq (finding->rule, "aws-sg-ingress-world-ssh");
    //  The port was not in the changes (22 before and after): it comes from
    //  the old rule that moved to ingress[2].
    cr_assert_str_eq (finding->reason,
                      "ingress 0.0.0.0/0 on port 22 added to aws_security_group.web");
    cr_assert_str_eq (finding->path, "ingress[1].cidr_blocks[0]");
    cr_assert_str_eq (finding->fingerprint, result.report->items [0]->fingerprint);
    cr_assert_eq (finding->kind, DRIFT__DRIFT_KIND__DRIFT_KIND_MODIFIED);
    cr_assert_not (finding->suppressed);
    cr_assert_eq (scored->severity, CRITICAL);
    cr_assert_geq (scored->score, 85);
    s_result_destroy (&result);
}

Test (score, scenario_02_public_access_block_off_and_encryption_deleted_are_high)
{
    s_result_t result = s_score_fixture ("scenario-02.plan.json");
    Drift__ScoredReport *scored = result.scored;
    cr_assert_eq (scored->n_findings, 2);
    const Drift__Finding *block = s_finding_of (
        scored, "aws_s3_bucket_public_access_block.receipts");
    cr_assert_eq (block->severity, HIGH);
    cr_assert_str_eq (block->reason, "public access block turned off on "
                      "aws_s3_bucket_public_access_block.receipts: block_public_acls, "
                      "block_public_policy, ignore_public_acls, restrict_public_buckets");
    const Drift__Finding *encryption = s_finding_of (
        scored, "aws_s3_bucket_server_side_encryption_configuration.receipts");
    cr_assert_eq (encryption->severity, HIGH);
    cr_assert_eq (encryption->kind, DRIFT__DRIFT_KIND__DRIFT_KIND_DELETED);
    cr_assert (strstr (encryption->reason, "deleted out of band"));
    //  The bucket's own copy of the encryption is a mirror: no finding of its own.
    for (size_t i = 0; i < scored->n_findings; i++)
        cr_assert_str_neq (scored->findings [i]->address, "aws_s3_bucket.receipts");
    cr_assert_eq (scored->severity, HIGH);
    //  Two high findings: 100 * (1 - 0.4 * 0.4).
    cr_assert_eq (scored->score, 84);
    s_result_destroy (&result);
}

Test (score, scenario_04_tags_alone_are_low_and_tags_all_adds_nothing)
{
    s_result_t result = s_score_fixture ("scenario-04.plan.json");
    Drift__ScoredReport *scored = result.scored;
    cr_assert_eq (scored->n_findings, 2);
    const Drift__Finding *instance = s_finding_of (scored, "aws_instance.web");
    cr_assert_eq (instance->severity, LOW);
    cr_assert_str_eq (instance->reason, "tags changed on aws_instance.web: tags.CostCenter, "
                      "tags.Environment, tags.Owner");
    cr_assert_eq (s_finding_of (scored, "aws_sqs_queue.orders")->severity, LOW);
    for (size_t i = 0; i < scored->n_findings; i++)
        cr_assert_null (strstr (scored->findings [i]->reason, "tags_all"));
    cr_assert_eq (scored->severity, LOW);
    cr_assert_leq (scored->score, 25);
    s_result_destroy (&result);
}

Test (score, scenario_05_a_table_deleted_out_of_band_is_high)
{
    s_result_t result = s_score_fixture ("scenario-05.plan.json");
    Drift__ScoredReport *scored = result.scored;
    cr_assert_eq (scored->n_findings, 1);
    const Drift__Finding *finding = s_finding_of (scored, "aws_dynamodb_table.sessions");
    cr_assert_eq (finding->severity, HIGH);
    cr_assert_str_eq (finding->reason, "aws_dynamodb_table.sessions deleted out of band");
    cr_assert_str_eq (finding->path, "");
    cr_assert_eq (scored->severity, HIGH);
    cr_assert_eq (scored->score, 60);
    s_result_destroy (&result);
}

Test (score, scenario_08_a_clean_plan_has_no_finding_and_score_0)
{
    s_result_t result = s_score_fixture ("scenario-08.plan.json");
    cr_assert_eq (result.scored->n_findings, 0);
    cr_assert_eq (result.scored->score, 0);
    cr_assert_eq (result.scored->severity, NONE);
    s_result_destroy (&result);
}

Test (score, scenario_10_latest_restorable_time_is_info)
{
    s_result_t result = s_score_fixture ("scenario-10.plan.json");
    Drift__ScoredReport *scored = result.scored;
    cr_assert_eq (scored->n_findings, 1);
    const Drift__Finding *finding = s_finding_of (scored, "aws_db_instance.ledger[0]");
    cr_assert_eq (finding->severity, INFO);
    cr_assert (strstr (finding->reason, "latest_restorable_time"));
    cr_assert_eq (scored->severity, INFO);
    cr_assert_leq (scored->score, 1);
    s_result_destroy (&result);
}

Test (score, large_120_items_are_counted_per_severity)
{
    //  4 tenants: 52 security groups with SSH moved to 0.0.0.0/0 (the set
    //  shift carries the ports), 8 security groups deleted, 20 public access
    //  blocks turned off, 20 buckets and 20 security groups with tag changes.
    s_result_t result = s_score_fixture ("large.plan.json");
    Drift__ScoredReport *scored = result.scored;
    cr_assert_eq (result.report->n_items, 120);
    cr_assert_eq (scored->n_findings, 120);
    cr_assert_eq (s_count (scored, CRITICAL, "aws-sg-ingress-world-ssh"), 52);
    cr_assert_eq (s_count (scored, CRITICAL, "deleted-security-control"), 8);
    cr_assert_eq (s_count (scored, CRITICAL, NULL), 60);
    cr_assert_eq (s_count (scored, HIGH, "aws-s3-public-access-block-off"), 20);
    cr_assert_eq (s_count (scored, HIGH, NULL), 20);
    cr_assert_eq (s_count (scored, MEDIUM, NULL), 0);
    cr_assert_eq (s_count (scored, LOW, "tags-changed"), 40);
    cr_assert_eq (s_count (scored, INFO, NULL), 0);
    cr_assert_eq (scored->severity, CRITICAL);
    cr_assert_eq (scored->score, 100);
    for (size_t i = 0; i < scored->n_findings; i++)
        if (strcmp (scored->findings [i]->rule, "aws-sg-ingress-world-ssh") == 0)
            cr_assert (strstr (scored->findings [i]->reason, "ingress 0.0.0.0/0 on port 22 added to "),
                       "%s", scored->findings [i]->reason);
    s_result_destroy (&result);
}

Test (score, a_failed_report_has_no_finding)
{
    normalize_t *normalize = normalize_new (NULL);
    Drift__CanonicalReport *report = normalize_document (normalize, TENANT, STACK, "{", 1);
    cr_assert_eq (report->status, DRIFT__REPORT_STATUS__REPORT_STATUS_FAILED);
    score_t *score = score_new ();
    Drift__ScoredReport *scored = score_report (score, report);
    cr_assert_eq (scored->n_findings, 0);
    cr_assert_eq (scored->score, 0);
    cr_assert_eq (scored->severity, NONE);
    score_scored_destroy (&scored);
    cr_assert_null (scored);
    score_destroy (&score);
    drift__canonical_report__free_unpacked (report, NULL);
    normalize_destroy (&normalize);
}

Test (score, a_suppressed_finding_is_kept_and_not_counted)
{
    s_result_t result = s_score_fixture ("scenario-02.plan.json");
    Drift__ScoredReport *scored = result.scored;
    cr_assert_eq (score_suppress (scored->findings [0], "receipts.*"), 0);
    score_recompute (scored);
    cr_assert_eq (scored->n_findings, 2);
    cr_assert (scored->findings [0]->suppressed);
    cr_assert_str_eq (scored->findings [0]->suppressed_by, "receipts.*");
    cr_assert_eq (scored->score, 60);
    cr_assert_eq (score_suppress (scored->findings [1], "x"), 0);
    score_recompute (scored);
    cr_assert_eq (scored->score, 0);
    cr_assert_eq (scored->severity, NONE);
    s_result_destroy (&result);
}

Test (score, the_formula_is_documented_and_bounded)
{
    cr_assert_eq (score_formula (NULL, 0), 0);
    cr_assert_eq (score_formula ((double []) { 0.9 }, 1), 90);
    cr_assert_eq (score_formula ((double []) { 0.6, 0.6 }, 2), 84);
    cr_assert_eq (score_formula ((double []) { 0.01, 0.01 }, 2), 2);
    cr_assert_eq (score_formula ((double []) { 1, 0.1 }, 2), 100);
    cr_assert_eq (score_formula ((double []) { 7, -1 }, 2), 100);
    Drift__Severity severity;
    cr_assert_eq (severity_parse ("High", &severity), 0);
    cr_assert_eq (severity, HIGH);
    cr_assert_eq (severity_parse ("severe", &severity), -1);
    cr_assert_str_eq (severity_name (CRITICAL), "critical");
}

//  --------------------------------------------------------------------------
//  Predicates

Test (predicates, cidrs_of_both_families_are_compared_as_prefixes)
{
    cr_assert_eq (predicates_cidr_is_world ("0.0.0.0/0"), 1);
    cr_assert_eq (predicates_cidr_is_world ("::/0"), 1);
    cr_assert_eq (predicates_cidr_is_world ("10.1.2.3/0"), 1);   // host bits do not matter
    cr_assert_eq (predicates_cidr_is_world ("2001:db8::/0"), 1);
    cr_assert_eq (predicates_cidr_is_world ("10.0.0.0/8"), 0);
    cr_assert_eq (predicates_cidr_is_world ("0.0.0.0/1"), 0);
    cr_assert_eq (predicates_cidr_is_world ("::/1"), 0);
    cr_assert_eq (predicates_cidr_is_world ("0.0.0.0"), 0);       // one host
    cr_assert_eq (predicates_cidr_is_world ("::ffff:0.0.0.0/96"), 0);
    const char *malformed [] = { "", "/0", "0.0.0.0/", "0.0.0.0/33", "::/129", "0.0.0/0",
                                 "1.2.3.4/-1", "1.2.3.4/8x", "abc", "0.0.0.0/00000", "*",
                                 "0.0.0.0 /0", "256.0.0.0/0" };
    for (size_t i = 0; i < sizeof malformed / sizeof malformed [0]; i++)
        cr_assert_eq (predicates_cidr_is_world (malformed [i]), -1, "%s", malformed [i]);
    predicates_cidr_t outer, inner;
    cr_assert_eq (predicates_cidr_parse ("10.0.0.0/8", &outer), 0);
    cr_assert_eq (predicates_cidr_parse ("10.64.0.0/16", &inner), 0);
    cr_assert (predicates_cidr_contains (&outer, &inner));
    cr_assert_not (predicates_cidr_contains (&inner, &outer));
    cr_assert_eq (predicates_cidr_parse ("11.0.0.0/16", &inner), 0);
    cr_assert_not (predicates_cidr_contains (&outer, &inner));
    cr_assert_eq (predicates_cidr_parse ("2001:db8::/32", &outer), 0);
    cr_assert_eq (predicates_cidr_parse ("2001:db8:1::/48", &inner), 0);
    cr_assert (predicates_cidr_contains (&outer, &inner));
    cr_assert_eq (predicates_cidr_parse ("10.0.0.0/8", &inner), 0);
    cr_assert_not (predicates_cidr_contains (&outer, &inner));   // families differ
    cr_assert (predicates_source_is_world ("Internet"));
    cr_assert (predicates_source_is_world ("*"));
    cr_assert_not (predicates_source_is_world ("VirtualNetwork"));
}

Test (predicates, port_ranges_include_their_ports)
{
    predicates_ports_t ports;
    cr_assert_eq (predicates_ports_from_to (20, 30, "tcp", &ports), 0);
    cr_assert (predicates_ports_include (&ports, 22));
    cr_assert_not (predicates_ports_include (&ports, 3389));
    cr_assert_not (ports.all);
    cr_assert_eq (predicates_ports_from_to (0, 0, "-1", &ports), 0);
    cr_assert (ports.all);
    cr_assert (predicates_ports_include (&ports, 3389));
    cr_assert_eq (predicates_ports_from_to (0, 0, "all", &ports), 0);
    cr_assert (ports.all);
    cr_assert_eq (predicates_ports_from_to (-1, -1, "icmp", &ports), 0);
    cr_assert (ports.all);
    cr_assert_eq (predicates_ports_from_to (0, 65535, "tcp", &ports), 0);
    cr_assert (ports.all);
    cr_assert (predicates_ports_include (&ports, 65535));
    cr_assert_eq (predicates_ports_from_to (30, 20, "tcp", &ports), -1);
    cr_assert_eq (predicates_ports_from_to (0, 70000, "tcp", &ports), -1);
    cr_assert_eq (predicates_ports_parse ("3389", &ports), 0);
    cr_assert (predicates_ports_include (&ports, 3389));
    cr_assert_not (predicates_ports_include (&ports, 22));
    cr_assert_eq (predicates_ports_parse ("1000-2000", &ports), 0);
    cr_assert (predicates_ports_include (&ports, 1433));
    cr_assert_eq (predicates_ports_parse ("*", &ports), 0);
    cr_assert (ports.all);
    const char *bad [] = { "", "-", "22-", "-22", "2000-1000", "65536", "22x", "1-2-3" };
    for (size_t i = 0; i < sizeof bad / sizeof bad [0]; i++)
        cr_assert_eq (predicates_ports_parse (bad [i], &ports), -1, "%s", bad [i]);
}

Test (predicates, policy_documents_in_every_shape)
{
    //  String forms, one statement as an object.
    cr_assert_eq (predicates_policy_wildcards_text (
        "{\"Statement\":{\"Effect\":\"Allow\",\"Action\":\"*\",\"Resource\":\"*\"}}"),
        PREDICATES_WILD_ACTION | PREDICATES_WILD_RESOURCE);
    //  List forms in an array of statements.
    cr_assert_eq (predicates_policy_wildcards_text (
        "{\"Statement\":[{\"Effect\":\"Allow\",\"Action\":[\"s3:GetObject\"],\"Resource\":[\"arn:a\"]},"
        "{\"Effect\":\"Allow\",\"Action\":[\"s3:GetObject\",\"*\"],\"Resource\":[\"arn:b\"]}]}"),
        PREDICATES_WILD_ACTION);
    //  Principal "*" and {"AWS": "*"} and {"AWS": ["*"]}.
    cr_assert_eq (predicates_policy_wildcards_text (
        "{\"Statement\":[{\"Effect\":\"Allow\",\"Principal\":\"*\",\"Action\":\"s3:GetObject\"}]}"),
        PREDICATES_WILD_PRINCIPAL);
    cr_assert_eq (predicates_policy_wildcards_text (
        "{\"Statement\":[{\"Effect\":\"Allow\",\"Principal\":{\"AWS\":\"*\"},\"Action\":\"s3:Get*\"}]}"),
        PREDICATES_WILD_PRINCIPAL);
    cr_assert_eq (predicates_policy_wildcards_text (
        "{\"Statement\":[{\"Effect\":\"Allow\",\"Principal\":{\"AWS\":[\"arn:x\",\"*\"]}}]}"),
        PREDICATES_WILD_PRINCIPAL);
    //  A named account is not everyone; Deny statements grant nothing.
    cr_assert_eq (predicates_policy_wildcards_text (
        "{\"Statement\":[{\"Effect\":\"Allow\",\"Principal\":{\"AWS\":\"arn:aws:iam::1:root\"},"
        "\"Action\":\"s3:GetObject\",\"Resource\":\"arn:s3\"}]}"), 0);
    cr_assert_eq (predicates_policy_wildcards_text (
        "{\"Statement\":[{\"Effect\":\"Deny\",\"Principal\":\"*\",\"Action\":\"*\",\"Resource\":\"*\"}]}"), 0);
    //  A policy held as a JSON string (a change's value of `policy`).
    cr_assert_eq (predicates_policy_wildcards_text (
        "\"{\\\"Version\\\":\\\"2012-10-17\\\",\\\"Statement\\\":[{\\\"Effect\\\":\\\"Allow\\\","
        "\\\"Action\\\":\\\"*\\\",\\\"Resource\\\":\\\"*\\\"}]}\""),
        PREDICATES_WILD_ACTION | PREDICATES_WILD_RESOURCE);
    //  An inline_policy block holding its policy string.
    cr_assert_eq (predicates_policy_wildcards_text (
        "{\"name\":\"p\",\"policy\":\"{\\\"Statement\\\":{\\\"Effect\\\":\\\"Allow\\\","
        "\\\"Action\\\":\\\"*:*\\\",\\\"Resource\\\":\\\"arn:x\\\"}}\"}"),
        PREDICATES_WILD_ACTION);
    //  Garbage is no policy, never a crash.
    cr_assert_eq (predicates_policy_wildcards_text ("\"{not json\""), 0);
    cr_assert_eq (predicates_policy_wildcards_text ("{\"Statement\":42}"), 0);
    cr_assert_eq (predicates_policy_wildcards_text (""), 0);
}

//  A drift item built by hand: changes as path, before, after triples.
static Drift__DriftItem *
s_item (const char *type, const char *const *changes, size_t count)
{
    Drift__DriftItem *item = (Drift__DriftItem *) calloc (1, sizeof *item);
    drift__drift_item__init (item);
    item->address = strdup (type);
    item->type = strdup (type);
    item->kind = DRIFT__DRIFT_KIND__DRIFT_KIND_MODIFIED;
    item->class_ = DRIFT__DRIFT_CLASS__DRIFT_CLASS_REAL;
    item->changes = (Drift__AttributeChange **) calloc (count ? count : 1, sizeof *item->changes);
    item->n_changes = count;
    for (size_t i = 0; i < count; i++) {
        Drift__AttributeChange *change = (Drift__AttributeChange *) calloc (1, sizeof *change);
        drift__attribute_change__init (change);
        change->path = strdup (changes [i * 3]);
        change->before = strdup (changes [i * 3 + 1]);
        change->after = strdup (changes [i * 3 + 2]);
        change->op = !*change->before ? DRIFT__CHANGE_OP__CHANGE_OP_ADDED
                   : !*change->after ? DRIFT__CHANGE_OP__CHANGE_OP_REMOVED
                   : DRIFT__CHANGE_OP__CHANGE_OP_CHANGED;
        item->changes [i] = change;
    }
    return item;
}

Test (predicates, element_ports_come_from_the_element_or_its_shifted_self)
{
    const char *changes [] = {
        "ingress[0].cidr_blocks[0]", "\"10.0.0.0/8\"", "\"0.0.0.0/0\"",
        "ingress[0].from_port", "443", "3389",
        "ingress[0].to_port", "443", "3390",
        "ingress[1].cidr_blocks[0]", "\"10.1.0.0/16\"", "\"::/0\"",
        "ingress[2]", "", "{\"cidr_blocks\":[\"10.1.0.0/16\"],\"from_port\":5432,"
                         "\"protocol\":\"tcp\",\"to_port\":5432}",
        "ingress[3]", "", "{\"cidr_blocks\":[\"0.0.0.0/0\"],\"from_port\":0,"
                         "\"protocol\":\"-1\",\"to_port\":0}",
    };
    Drift__DriftItem *item = s_item ("aws_security_group", changes, 6);
    element_ports_t ports;
    char text [64];
    element_ports (item, 0, &ports);
    element_ports_text (&ports, text, sizeof text);
    cr_assert_str_eq (text, "ports 3389-3390");
    //  ingress[1]'s ports did not change: ingress[2] holds its old values.
    element_ports (item, 3, &ports);
    element_ports_text (&ports, text, sizeof text);
    cr_assert_str_eq (text, "port 5432");
    element_ports (item, 5, &ports);
    element_ports_text (&ports, text, sizeof text);
    cr_assert_str_eq (text, "all ports");
    drift__drift_item__free_unpacked (item, NULL);

    const char *unknown [] = { "cidr_blocks[0]", "\"10.0.0.0/8\"", "\"0.0.0.0/0\"" };
    item = s_item ("aws_security_group_rule", unknown, 1);
    element_ports (item, 0, &ports);
    cr_assert_eq (ports.size, 0);
    drift__drift_item__free_unpacked (item, NULL);
}

//  A report of one item, scored with the built-in pack.
static Drift__ScoredReport *
s_score_item (score_t *score, Drift__DriftItem *item, Drift__CanonicalReport *report)
{
    drift__canonical_report__init (report);
    report->status = DRIFT__REPORT_STATUS__REPORT_STATUS_OK;
    report->engine = "terraform";
    report->items = &item;
    report->n_items = 1;
    //  Once: the same item may be scored again.
    if (!item->fingerprint || !*item->fingerprint)
        item->fingerprint = strdup ("f");
    return score_report (score, report);
}

Test (predicates, built_in_rules_read_policies_ports_and_sources)
{
    score_t *score = score_new ();
    Drift__CanonicalReport report;
    struct {
        const char *type;        // resource type
        const char *change [3];  // path, before, after
        Drift__Severity severity; // expected
        const char *rule;        // expected rule
    } cases [] = {
        { "aws_iam_policy", { "policy", "\"{\\\"Statement\\\":[]}\"",
          "\"{\\\"Statement\\\":[{\\\"Effect\\\":\\\"Allow\\\",\\\"Action\\\":\\\"*\\\","
          "\\\"Resource\\\":\\\"*\\\"}]}\"" }, CRITICAL, "aws-iam-policy-wildcard" },
        { "aws_iam_policy", { "policy", "\"{}\"", "\"{\\\"Statement\\\":[]}\"" },
          HIGH, "aws-iam-policy-changed" },
        { "aws_s3_bucket_policy", { "policy", "",
          "\"{\\\"Statement\\\":{\\\"Principal\\\":{\\\"AWS\\\":\\\"*\\\"},"
          "\\\"Action\\\":\\\"s3:GetObject\\\"}}\"" }, CRITICAL, "aws-s3-bucket-policy-public" },
        { "aws_s3_bucket_acl", { "acl", "\"private\"", "\"public-read\"" },
          HIGH, "aws-s3-acl-public" },
        { "aws_db_instance", { "publicly_accessible", "false", "true" },
          CRITICAL, "aws-rds-public" },
        { "aws_db_instance", { "storage_encrypted", "true", "false" },
          HIGH, "aws-rds-unencrypted" },
        { "aws_instance", { "metadata_options[0].http_tokens", "\"required\"", "\"optional\"" },
          MEDIUM, "aws-ec2-imdsv1" },
        { "aws_cloudtrail", { "enable_logging", "true", "false" },
          CRITICAL, "aws-cloudtrail-logging-off" },
        { "aws_lb_listener", { "protocol", "\"HTTPS\"", "\"HTTP\"" },
          HIGH, "aws-lb-listener-plain-http" },
        { "aws_kms_key", { "enable_key_rotation", "true", "false" },
          MEDIUM, "aws-kms-rotation-off" },
        { "google_storage_bucket_iam_member", { "member", "\"user:a@b.c\"", "\"allUsers\"" },
          CRITICAL, "gcp-bucket-iam-public" },
        { "google_compute_firewall", { "source_ranges[0]", "\"10.0.0.0/8\"", "\"0.0.0.0/0\"" },
          HIGH, "gcp-firewall-world" },
        { "azurerm_network_security_rule", { "source_address_prefix", "\"10.0.0.0/8\"",
          "\"Internet\"" }, HIGH, "azure-nsg-world" },
        { "azurerm_storage_account", { "public_network_access_enabled", "false", "true" },
          HIGH, "azure-storage-public" },
        { "aws_sqs_queue", { "visibility_timeout_seconds", "30", "60" },
          MEDIUM, "default-change" },
        { "aws_security_group", { "egress[0].cidr_blocks[0]", "\"10.0.0.0/8\"", "\"0.0.0.0/0\"" },
          MEDIUM, "aws-sg-egress-changed" },
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases [0]; c++) {
        Drift__DriftItem *item = s_item (cases [c].type, cases [c].change, 1);
        Drift__ScoredReport *scored = s_score_item (score, item, &report);
        cr_assert (scored->n_findings == 1, "%s %s: %zu findings (%s)", cases [c].type,
                   cases [c].change [0], scored->n_findings,
                   scored->n_findings ? scored->findings [0]->reason : "");
        cr_assert_str_eq (scored->findings [0]->rule, cases [c].rule, "%s", cases [c].type);
        cr_assert_eq (scored->findings [0]->severity, cases [c].severity, "%s",
                      scored->findings [0]->reason);
        score_scored_destroy (&scored);
        drift__drift_item__free_unpacked (item, NULL);
    }
    //  IPv6 world on RDP; all ports of all protocols is one finding, not one
    //  per sensitive port.
    const char *rdp [] = { "ingress[0]", "", ("{\"cidr_blocks\":[],\"from_port\":3389,"
                           "\"ipv6_cidr_blocks\":[\"::/0\"],\"protocol\":\"tcp\",\"to_port\":3389}") };
    Drift__DriftItem *item = s_item ("aws_security_group", rdp, 1);
    Drift__ScoredReport *scored = s_score_item (score, item, &report);
    cr_assert_eq (scored->n_findings, 1);
    cr_assert_str_eq (scored->findings [0]->rule, "aws-sg-ingress-world-rdp");
    cr_assert_str_eq (scored->findings [0]->reason,
                      "ingress ::/0 on port 3389 (RDP) added to aws_security_group");
    score_scored_destroy (&scored);
    drift__drift_item__free_unpacked (item, NULL);
    const char *all [] = { "ingress[0]", "", ("{\"cidr_blocks\":[\"0.0.0.0/0\"],\"from_port\":0,"
                           "\"protocol\":\"-1\",\"to_port\":0}") };
    item = s_item ("aws_security_group", all, 1);
    scored = s_score_item (score, item, &report);
    cr_assert_eq (scored->n_findings, 1);
    cr_assert_str_eq (scored->findings [0]->rule, "aws-sg-ingress-world-all-ports");
    cr_assert_eq (scored->findings [0]->severity, CRITICAL);
    score_scored_destroy (&scored);
    drift__drift_item__free_unpacked (item, NULL);
    //  A world CIDR whose ports the report cannot tell: high, and said so.
    const char *blind [] = { "cidr_blocks[0]", "\"10.0.0.0/8\"", "\"0.0.0.0/0\"" };
    item = s_item ("aws_security_group_rule", blind, 1);
    scored = s_score_item (score, item, &report);
    cr_assert_eq (scored->n_findings, 1);
    cr_assert_eq (scored->findings [0]->severity, HIGH);
    cr_assert_str_eq (scored->findings [0]->reason,
                      "ingress 0.0.0.0/0 on unknown ports added to aws_security_group_rule");
    score_scored_destroy (&scored);
    drift__drift_item__free_unpacked (item, NULL);
    //  A KMS key pending deletion is dropped from state: a deleted security control.
    item = s_item ("aws_kms_key", NULL, 0);
    item->kind = DRIFT__DRIFT_KIND__DRIFT_KIND_DELETED;
    scored = s_score_item (score, item, &report);
    cr_assert_eq (scored->n_findings, 1);
    cr_assert_str_eq (scored->findings [0]->rule, "deleted-security-control");
    cr_assert_eq (scored->findings [0]->severity, CRITICAL);
    score_scored_destroy (&scored);
    drift__drift_item__free_unpacked (item, NULL);
    //  A degraded item (address and action only) is medium drift; a move is noise.
    item = s_item ("aws_sqs_queue", NULL, 0);
    scored = s_score_item (score, item, &report);
    cr_assert_eq (scored->n_findings, 1);
    cr_assert_str_eq (scored->findings [0]->rule, "default-item");
    cr_assert_eq (scored->findings [0]->severity, MEDIUM);
    score_scored_destroy (&scored);
    item->kind = DRIFT__DRIFT_KIND__DRIFT_KIND_MOVED;
    item->class_ = DRIFT__DRIFT_CLASS__DRIFT_CLASS_NOISE;
    scored = s_score_item (score, item, &report);
    cr_assert_eq (scored->n_findings, 1);
    cr_assert_str_eq (scored->findings [0]->rule, "noise-moved");
    cr_assert_eq (scored->findings [0]->severity, INFO);
    score_scored_destroy (&scored);
    drift__drift_item__free_unpacked (item, NULL);

    //  Azure: the port comes with the source in the same change set.
    const char *azure [] = { "source_address_prefix", "\"10.0.0.0/8\"", "\"*\"",
                             "destination_port_range", "\"443\"", "\"3389\"" };
    item = s_item ("azurerm_network_security_rule", azure, 2);
    scored = s_score_item (score, item, &report);
    cr_assert_eq (scored->n_findings, 1);
    cr_assert_str_eq (scored->findings [0]->reason, "network security rule of "
                      "azurerm_network_security_rule opens port 3389 to *");
    cr_assert_eq (scored->findings [0]->severity, CRITICAL);
    score_scored_destroy (&scored);
    drift__drift_item__free_unpacked (item, NULL);
    score_destroy (&score);
}

//  --------------------------------------------------------------------------
//  Rules files

Test (rules, globs_match_as_documented)
{
    cr_assert (rules_glob_match ("aws_security_group*", "aws_security_group_rule"));
    cr_assert (rules_glob_match ("ingress[*].cidr_blocks[*]", "ingress[1].cidr_blocks[0]"));
    cr_assert_not (rules_glob_match ("ingress*", "ingress[1].cidr_blocks[0]"));
    cr_assert (rules_glob_match ("ingress**", "ingress[1].cidr_blocks[0]"));
    cr_assert (rules_glob_match ("**", ""));
    cr_assert (rules_glob_match ("tags**", "tags"));
    //  `**` is any text, so tags** also names tags_all (a mirror beside tags,
    //  which rules never see; a real change where tags_all stands alone).
    cr_assert (rules_glob_match ("tags**", "tags_all.x"));
    cr_assert (rules_glob_match ("tags.*", "tags.env"));
    cr_assert_not (rules_glob_match ("tags.*", "tags"));
    cr_assert_not (rules_glob_match ("policy", "policy_arn"));
    //  A hostile pattern against a long text stays fast (no backtracking).
    char text [4001];
    memset (text, 'a', 4000);
    text [4000] = 0;
    cr_assert_not (rules_glob_match ("*a*a*a*a*a*a*a*a*a*a*a*a*a*a*b", text));
    cr_assert_not (rules_glob_match ("**a**a**a**a**a**a**a**a**a**b", text));
}

Test (rules, the_built_in_pack_parses_and_every_rule_has_a_reason)
{
    rules_t *rules;
    char error [256];
    cr_assert_eq (rules_parse ("builtin.rules", rules_builtin_text, strlen (rules_builtin_text),
                               &rules, error, sizeof error), 0, "%s", error);
    cr_assert_geq (rules->size, 40);
    for (size_t i = 0; i < rules->size; i++) {
        cr_assert (rules->rules [i].reason);
        cr_assert (rules->rules [i].weight > 0 && rules->rules [i].weight <= 1);
    }
    cr_assert (rules_find (rules, "aws-sg-ingress-world-ssh"));
    rules_destroy (&rules);
    cr_assert_null (rules);
}

Test (rules, a_malformed_file_is_refused_with_file_line_and_reason)
{
    struct {
        const char *text;        // the file
        const char *error;       // what it says
    } cases [] = {
        { "rule a\n  severity high\n  reason x\n  bogus 1\n", "my.rules:4: unknown keyword 'bogus'" },
        { "# c\n\nrule a\n  severity urgent\n", "my.rules:4: severity is critical, high, medium, low or info" },
        { "rule a\n  reason x\n", "my.rules:1: rule a has no severity" },
        { "rule a\n  severity low\n\nrule b\n  severity low\n  reason y\n", "my.rules:1: rule a has no reason" },
        { "  severity low\n", "my.rules:1: 'severity' before the first rule line" },
        { "rule a\n  severity low\n  reason x\n  when port 70000\n", "my.rules:4: port '70000' is not a port number" },
        { "rule a\n  severity low\n  reason x\n  when sideways\n", "my.rules:4: unknown predicate 'sideways'" },
        { "rule a\n  severity low\n  reason x\n  weight 1.5\n", "my.rules:4: weight is a number in (0,1]" },
        { "rule a\n  severity low\n  reason x\n  class mirror\n", "my.rules:4: class is real or noise" },
        { "rule a\n  severity low\n  reason x\nrule a\n", "my.rules:4: rule a is defined twice" },
        { "rule a b\n", "my.rules:1: rule needs one id" },
        { "rule a/b\n", "my.rules:1: rule id 'a/b' may hold" },
        { "# nothing\n", "my.rules:1: no rule in the file" },
        { "rule a\n  severity low\n  reason x\n  kind vanished\n", "my.rules:4: unknown kind 'vanished'" },
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases [0]; c++) {
        rules_t *rules = (rules_t *) 1;
        char error [256];
        cr_assert_eq (rules_parse ("my.rules", cases [c].text, strlen (cases [c].text), &rules,
                                   error, sizeof error), -1, "case %zu", c);
        cr_assert_null (rules);
        cr_assert (strncmp (error, cases [c].error, strlen (cases [c].error)) == 0,
                   "case %zu: %s", c, error);
    }
    char error [256];
    rules_t *rules;
    cr_assert_eq (rules_load ("/nonexistent/x.rules", &rules, error, sizeof error), -1);
    cr_assert (strstr (error, "/nonexistent/x.rules: "), "%s", error);
}

Test (rules, garbage_is_refused_never_a_crash)
{
    //  Deterministic garbage: mutations of the built-in pack (bytes flipped,
    //  lines cut), each refused with a reason or parsed, never a crash.
    size_t size = strlen (rules_builtin_text);
    char *text = (char *) malloc (size + 1);
    uint32_t seed = 12345;
    for (int round = 0; round < 300; round++) {
        memcpy (text, rules_builtin_text, size + 1);
        for (int flip = 0; flip < 8; flip++) {
            seed = seed * 1103515245 + 12345;
            size_t at = (seed >> 8) % size;
            seed = seed * 1103515245 + 12345;
            text [at] = (char) (1 + (seed >> 16) % 255);
        }
        seed = seed * 1103515245 + 12345;
        size_t length = (seed >> 8) % (size + 1);
        rules_t *rules = NULL;
        char error [256];
        if (rules_parse ("fuzz.rules", text, length, &rules, error, sizeof error) == 0)
            rules_destroy (&rules);
        else
            cr_assert (strncmp (error, "fuzz.rules:", 11) == 0, "%s", error);
    }
    free (text);
}

Test (rules, an_override_replaces_a_built_in_rule_by_id)
{
    const char *override =
        "# SSH to the world is what this team's bastions do: high, not critical.\n"
        "rule aws-sg-ingress-world-ssh\n"
        "  type aws_security_group\n"
        "  path ingress**\n"
        "  when world\n"
        "  when port 22\n"
        "  severity high\n"
        "  weight 0.5\n"
        "  reason bastion ingress {source} on {ports} of {address}\n"
        "rule sqs-anything\n"
        "  type aws_sqs_queue\n"
        "  path **\n"
        "  severity low\n"
        "  reason queue {address} changed\n";
    s_result_t result = s_score_fixture ("scenario-01.plan.json");
    size_t built_in = score_rules (result.score);
    char error [256];
    cr_assert_eq (score_load_text (result.score, "team.rules", override, strlen (override),
                                   error, sizeof error), 0, "%s", error);
    cr_assert_eq (score_rules (result.score), built_in + 1);
    Drift__ScoredReport *scored = score_report (result.score, result.report);
    cr_assert_eq (scored->n_findings, 1);
    cr_assert_eq (scored->findings [0]->severity, HIGH);
    cr_assert_eq (scored->score, 50);
    cr_assert_str_eq (scored->findings [0]->reason,
                      "bastion ingress 0.0.0.0/0 on port 22 of aws_security_group.web");
    score_scored_destroy (&scored);
    //  A malformed override changes nothing: the last good rules stay.
    cr_assert_eq (score_load_text (result.score, "team.rules", "rule x\n", 7, error,
                                   sizeof error), -1);
    cr_assert_str_eq (error, "team.rules:1: rule x has no severity");
    scored = score_report (result.score, result.report);
    cr_assert_eq (scored->findings [0]->severity, HIGH);
    score_scored_destroy (&scored);
    score_clear_overrides (result.score);
    cr_assert_eq (score_rules (result.score), built_in);
    scored = score_report (result.score, result.report);
    cr_assert_eq (scored->findings [0]->severity, CRITICAL);
    score_scored_destroy (&scored);
    s_result_destroy (&result);
}

//  --------------------------------------------------------------------------
//  The stage

static config_t *
s_stage_config (const char *rules)
{
    char *argv [3] = { "score", NULL, NULL };
    int argc = 1;
    if (rules) {
        argv [argc++] = "--rules";
        argv [argc++] = (char *) rules;
    }
    int exit_code;
    config_t *config = config_load ("score", "test", score_actor.options, argc, argv,
                                    &exit_code);
    cr_assert (config);
    return config;
}

static Drift__Envelope *
s_envelope (const Drift__CanonicalReport *report)
{
    Drift__Envelope *envelope = (Drift__Envelope *) calloc (1, sizeof *envelope);
    drift__envelope__init (envelope);
    envelope->tenant = strdup (TENANT);
    envelope->report_id = strdup ("r-1");
    envelope->body_case = DRIFT__ENVELOPE__BODY_NORMALIZED;
    envelope->normalized.len = drift__canonical_report__get_packed_size (report);
    envelope->normalized.data = (uint8_t *) malloc (envelope->normalized.len + 1);
    drift__canonical_report__pack (report, envelope->normalized.data);
    return envelope;
}

//  Run the stage on report; the severity of its first finding (NONE without).
static Drift__Severity
s_stage (void *state, const Drift__CanonicalReport *report, size_t *findings)
{
    Drift__Envelope *envelope = s_envelope (report);
    cr_assert_eq (score_actor.fn (state, envelope), STAGE_FORWARD);
    cr_assert_eq (envelope->body_case, DRIFT__ENVELOPE__BODY_SCORED);
    Drift__ScoredReport *scored = drift__scored_report__unpack (NULL, envelope->scored.len,
                                                                envelope->scored.data);
    cr_assert (scored);
    cr_assert (scored->report);
    cr_assert_str_eq (scored->report->stack, report->stack);
    cr_assert_eq (scored->report->n_items, report->n_items);
    Drift__Severity severity = scored->n_findings ? scored->findings [0]->severity : NONE;
    *findings = scored->n_findings;
    drift__scored_report__free_unpacked (scored, NULL);
    drift__envelope__free_unpacked (envelope, NULL);
    return severity;
}

Test (score_stage, scores_the_normalized_body_and_forwards_failed_reports_without_findings)
{
    config_t *config = s_stage_config (NULL);
    void *state = score_actor.open (config);
    cr_assert (state);
    Drift__CanonicalReport *report = s_canonical ("scenario-01.plan.json");
    size_t findings;
    cr_assert_eq (s_stage (state, report, &findings), CRITICAL);
    cr_assert_eq (findings, 1);
    drift__canonical_report__free_unpacked (report, NULL);

    normalize_t *normalize = normalize_new (NULL);
    report = normalize_document (normalize, TENANT, STACK, "[]", 2);
    cr_assert_eq (report->status, DRIFT__REPORT_STATUS__REPORT_STATUS_FAILED);
    cr_assert_eq (s_stage (state, report, &findings), NONE);
    cr_assert_eq (findings, 0);
    drift__canonical_report__free_unpacked (report, NULL);
    normalize_destroy (&normalize);

    //  Bytes that are not a canonical report fail the envelope, with a reason.
    Drift__Envelope *envelope = (Drift__Envelope *) calloc (1, sizeof *envelope);
    drift__envelope__init (envelope);
    envelope->body_case = DRIFT__ENVELOPE__BODY_NORMALIZED;
    envelope->normalized.data = (uint8_t *) strdup ("\xff\xff\xff");
    envelope->normalized.len = 3;
    cr_assert_eq (score_actor.fn (state, envelope), STAGE_FAILED);
    drift__envelope__free_unpacked (envelope, NULL);
    score_actor.close (state);
    config_destroy (&config);
}

static void
s_write (const char *path, const char *text, time_t mtime)
{
    FILE *file = fopen (path, "w");
    cr_assert (file);
    fputs (text, file);
    fclose (file);
    //  A distinct modification time whatever the file system's resolution.
    struct timespec times [2] = { { mtime, 0 }, { mtime, 0 } };
    cr_assert_eq (utimensat (AT_FDCWD, path, times, 0), 0);
}

Test (score_stage, rereads_its_rules_file_and_keeps_the_last_good_rules)
{
    char path [] = "/tmp/test_score_rules_XXXXXX";
    int fd = mkstemp (path);
    cr_assert (fd >= 0);
    close (fd);
    const char *high = "rule aws-sg-ingress-world-ssh\n  type aws_security_group\n"
                       "  path ingress**\n  when world\n  severity high\n  reason r\n";
    const char *low = "rule aws-sg-ingress-world-ssh\n  type aws_security_group\n"
                      "  path ingress**\n  when world\n  severity low\n  reason r\n";
    s_write (path, high, 1000000000);
    config_t *config = s_stage_config (path);
    void *state = score_actor.open (config);
    cr_assert (state);
    Drift__CanonicalReport *report = s_canonical ("scenario-01.plan.json");
    size_t findings;
    cr_assert_eq (s_stage (state, report, &findings), HIGH);

    //  A malformed file: refused, the last good rules stay.
    s_write (path, "rule broken\n  severity high\n", 1000000100);
    usleep (1100 * 1000);
    cr_assert_eq (s_stage (state, report, &findings), HIGH);

    //  A good file again: taken without a restart.
    s_write (path, low, 1000000200);
    usleep (1100 * 1000);
    cr_assert_eq (s_stage (state, report, &findings), LOW);

    drift__canonical_report__free_unpacked (report, NULL);
    score_actor.close (state);
    config_destroy (&config);
    unlink (path);
}

Test (score_stage, refuses_to_start_on_a_malformed_rules_file)
{
    char path [] = "/tmp/test_score_rules_XXXXXX";
    int fd = mkstemp (path);
    cr_assert (fd >= 0);
    close (fd);
    s_write (path, "rule broken\n", 1000000000);
    config_t *config = s_stage_config (path);
    cr_assert_null (score_actor.open (config));
    config_destroy (&config);
    unlink (path);
}

//  --------------------------------------------------------------------------
//  The stage with a tenant's own rules and suppressions (PostgreSQL) and a
//  stack's suppressions (sent with the report)

static const config_option_t s_stage_options [] = {
    { "rules", CONFIG_STRING, "", "" },
    { "overrides-check-ms", CONFIG_INT, "100", "" },
    { "database", CONFIG_STRING, "", "" },
    CONFIG_END
};

//  Score scenario-01 for tenant through the stage; the scored report
//  (caller frees with drift__scored_report__free_unpacked).
static Drift__ScoredReport *
s_stage_score (void *state, const char *tenant, const char *driftignore)
{
    Drift__CanonicalReport *report = s_canonical ("scenario-01.plan.json");
    free (report->driftignore);
    report->driftignore = strdup (driftignore);
    Drift__Envelope *envelope = (Drift__Envelope *) calloc (1, sizeof *envelope);
    drift__envelope__init (envelope);
    envelope->tenant = strdup (tenant);
    envelope->report_id = strdup ("r-1");
    envelope->body_case = DRIFT__ENVELOPE__BODY_NORMALIZED;
    envelope->normalized.len = drift__canonical_report__get_packed_size (report);
    envelope->normalized.data = (uint8_t *) malloc (envelope->normalized.len);
    drift__canonical_report__pack (report, envelope->normalized.data);
    drift__canonical_report__free_unpacked (report, NULL);
    cr_assert_eq (score_actor.fn (state, envelope), STAGE_FORWARD);
    cr_assert_eq (envelope->body_case, DRIFT__ENVELOPE__BODY_SCORED);
    Drift__ScoredReport *scored = drift__scored_report__unpack (NULL, envelope->scored.len,
                                                                envelope->scored.data);
    cr_assert (scored);
    free (envelope->tenant);
    free (envelope->report_id);
    free (envelope->scored.data);
    free (envelope);
    return scored;
}

static const Drift__Finding *
s_web_finding (const Drift__ScoredReport *scored)
{
    for (size_t i = 0; i < scored->n_findings; i++)
        if (streq (scored->findings [i]->address, "aws_security_group.web"))
            return scored->findings [i];
    cr_assert_fail ("no finding for aws_security_group.web");
    return NULL;
}

Test (score, tenant_rules_and_suppressions_take_effect_without_a_restart, .timeout = 120)
{
    lu_env_t env;
    lu_setup (&env);
    char *tenant = lu_tenant_id (&env, "acme");
    char *argv [] = { "score", "--database", env.database, NULL };
    int exit_code;
    config_t *config = config_load ("score", "", s_stage_options, 3, argv, &exit_code);
    cr_assert (config);
    void *state = score_actor.open (config);
    cr_assert (state);

    Drift__ScoredReport *scored = s_stage_score (state, tenant, "");
    cr_assert_eq (s_web_finding (scored)->severity, DRIFT__SEVERITY__SEVERITY_CRITICAL);
    drift__scored_report__free_unpacked (scored, NULL);

    //  The tenant lowers the SSH rule: taken within the check period.
    char rules [400], ignore [400], bad [400];
    snprintf (rules, sizeof rules, "%s/tenant.rules", env.directory);
    snprintf (ignore, sizeof ignore, "%s/tenant.driftignore", env.directory);
    snprintf (bad, sizeof bad, "%s/bad.rules", env.directory);
    s_write (rules, "rule aws-sg-ingress-world-ssh\n"
                    "  type aws_security_group\n"
                    "  path ingress**\n"
                    "  when world\n"
                    "  when port 22\n"
                    "  severity medium\n"
                    "  reason bastion SSH on {address} is expected here\n", time (NULL));
    cr_assert_eq (lu_drift (&env, "tenant", "rules", "acme", rules, "--database", env.database,
                            NULL), 0);
    zclock_sleep (200);
    scored = s_stage_score (state, tenant, "");
    const Drift__Finding *web = s_web_finding (scored);
    cr_assert_eq (web->severity, DRIFT__SEVERITY__SEVERITY_MEDIUM, "the tenant's rule applies");
    cr_assert (strstr (web->reason, "bastion SSH"), "%s", web->reason);
    drift__scored_report__free_unpacked (scored, NULL);

    //  A malformed file is refused before anything is stored.
    s_write (bad, "rule broken\n  severity catastrophic\n", time (NULL));
    cr_assert_eq (lu_drift (&env, "tenant", "rules", "acme", bad, "--database", env.database,
                            NULL), 1);
    zclock_sleep (200);
    scored = s_stage_score (state, tenant, "");
    cr_assert_eq (s_web_finding (scored)->severity, DRIFT__SEVERITY__SEVERITY_MEDIUM);
    drift__scored_report__free_unpacked (scored, NULL);

    //  The tenant suppresses the group: kept, marked, not counted.
    s_write (ignore, "aws_security_group.web   # reviewed in the change board\n", time (NULL));
    cr_assert_eq (lu_drift (&env, "tenant", "ignore", "acme", ignore, "--database", env.database,
                            NULL), 0);
    zclock_sleep (200);
    scored = s_stage_score (state, tenant, "");
    web = s_web_finding (scored);
    cr_assert (web->suppressed);
    cr_assert (strstr (web->suppressed_by, "tenant .driftignore:1"), "%s", web->suppressed_by);
    cr_assert_eq (scored->score, 0);
    drift__scored_report__free_unpacked (scored, NULL);

    //  The stack's own file (sent by its agent) comes after the tenant's.
    scored = s_stage_score (state, tenant, "!aws_security_group.web\n");
    cr_assert_not (s_web_finding (scored)->suppressed, "the stack re-includes it");
    cr_assert_gt (scored->score, 0);
    drift__scored_report__free_unpacked (scored, NULL);

    //  Removing the tenant's rules restores the built-in severity.
    s_write (rules, "", time (NULL));
    cr_assert_eq (lu_drift (&env, "tenant", "rules", "acme", rules, "--database", env.database,
                            NULL), 0);
    zclock_sleep (200);
    scored = s_stage_score (state, tenant, "!aws_security_group.web\n");
    cr_assert_eq (s_web_finding (scored)->severity, DRIFT__SEVERITY__SEVERITY_CRITICAL);
    drift__scored_report__free_unpacked (scored, NULL);

    score_actor.close (state);
    config_destroy (&config);
    free (tenant);
    lu_teardown (&env);
}
