/*  check_format: `drift check --format junit|sarif`; see check_format.h.

    JUnit has no standard of its own; what CI systems read is the shape Ant
    and Surefire write (testsuites > testsuite > testcase with failure,
    error or skipped), so that is the shape written here. A finding is a
    testcase because that is what a reviewer acts on; a drifted resource
    no rule matched is a passing testcase, so the report still lists every
    resource the plan says drifted. Text goes into XML attributes and
    bodies escaped, and characters XML 1.0 cannot carry at all (controls
    other than tab and newline) become '?', never a broken document.

    SARIF is built with jansson, which escapes whatever a plan holds. The
    plan is the artifact (there is no source line: drift is in the cloud,
    not in the file), the resource address is the logical location, and a
    finding's fingerprint and rule make its partial fingerprint, so a
    code-scanning view tracks one finding across runs. Suppressed findings
    are kept with a SARIF suppression, as the table keeps them in
    parentheses: viewers hide them and an audit still sees them.
*/
#include "check_format.h"
#include "../lib/canonical.h"
#include "../lib/severity.h"
#include "../lib/textbuf.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

//  --------------------------------------------------------------------------
//  JUnit XML

//  Append text escaped for an XML attribute value or element body.
static void
s_xml_add (textbuf_t *buffer, const char *text)
{
    for (const char *byte = text ? text : ""; *byte; byte++) {
        unsigned char c = (unsigned char) *byte;
        if (c == '&')
            textbuf_adds (buffer, "&amp;");
        else
        if (c == '<')
            textbuf_adds (buffer, "&lt;");
        else
        if (c == '>')
            textbuf_adds (buffer, "&gt;");
        else
        if (c == '"')
            textbuf_adds (buffer, "&quot;");
        else
        if (c == '\'')
            textbuf_adds (buffer, "&apos;");
        else
        if (c < 0x20 && c != '\t' && c != '\n')
            textbuf_addc (buffer, '?');
        else
            textbuf_addc (buffer, (char) c);
    }
}

//  Append a formatted number (the counts and the score).
static void
s_number (textbuf_t *buffer, size_t number)
{
    char text [32];
    snprintf (text, sizeof text, "%zu", number);
    textbuf_adds (buffer, text);
}

//  Open a testcase: <testcase classname="CLASS" name="NAME".
static void
s_testcase_open (textbuf_t *buffer, const char *class_name, const char *name)
{
    textbuf_adds (buffer, "    <testcase classname=\"");
    s_xml_add (buffer, class_name);
    textbuf_adds (buffer, "\" name=\"");
    s_xml_add (buffer, name);
    textbuf_adds (buffer, "\"");
}

//  Whether any finding is about item index.
static bool
s_item_has_finding (const Drift__ScoredReport *scored, uint32_t index)
{
    for (size_t finding = 0; finding < scored->n_findings; finding++)
        if (scored->findings [finding]->item == index)
            return true;
    return false;
}

//  One finding as a testcase; counts what it was.
static void
s_junit_finding (textbuf_t *buffer, const char *class_name, const check_run_t *run,
                 const Drift__Finding *finding, size_t *failures, size_t *skipped)
{
    textbuf_t name = TEXTBUF_INIT;
    textbuf_adds (&name, finding->address);
    textbuf_adds (&name, " [");
    textbuf_adds (&name, finding->rule);
    textbuf_adds (&name, "]");
    char *title = textbuf_detach (&name);
    s_testcase_open (buffer, class_name, title ? title : finding->address);
    free (title);
    textbuf_adds (buffer, ">\n");
    const char *severity = severity_name (finding->severity);
    if (finding->suppressed) {
        textbuf_adds (buffer, "      <skipped message=\"suppressed by ");
        s_xml_add (buffer, finding->suppressed_by);
        textbuf_adds (buffer, "\"/>\n");
        (*skipped)++;
    }
    else
    if (run->threshold != DRIFT__SEVERITY__SEVERITY_NONE && finding->severity >= run->threshold) {
        textbuf_adds (buffer, "      <failure type=\"");
        s_xml_add (buffer, severity);
        textbuf_adds (buffer, "\" message=\"");
        s_xml_add (buffer, finding->reason);
        textbuf_adds (buffer, "\">");
        (*failures)++;
    }
    else
        textbuf_adds (buffer, "      <system-out>");
    if (!finding->suppressed) {
        //  The body a reader opens: everything the table and JSON say.
        textbuf_adds (buffer, "severity ");
        s_xml_add (buffer, severity);
        textbuf_adds (buffer, " (--fail-on ");
        s_xml_add (buffer, run->fail_on);
        textbuf_adds (buffer, ")\nrule ");
        s_xml_add (buffer, finding->rule);
        textbuf_adds (buffer, "\nresource ");
        s_xml_add (buffer, finding->address);
        textbuf_adds (buffer, " (");
        s_xml_add (buffer, canonical_kind_name (finding->kind));
        textbuf_adds (buffer, ")\n");
        if (*finding->path) {
            textbuf_adds (buffer, "path ");
            s_xml_add (buffer, finding->path);
            textbuf_adds (buffer, "\n");
        }
        textbuf_adds (buffer, "reason ");
        s_xml_add (buffer, finding->reason);
        textbuf_adds (buffer, "\nfingerprint ");
        s_xml_add (buffer, finding->fingerprint);
        bool failed = run->threshold != DRIFT__SEVERITY__SEVERITY_NONE
                   && finding->severity >= run->threshold;
        textbuf_adds (buffer, failed ? "\n</failure>\n" : "\n</system-out>\n");
    }
    textbuf_adds (buffer, "    </testcase>\n");
}

int
check_print_junit (FILE *out, const check_run_t *run, const Drift__CanonicalReport *report,
                   const Drift__ScoredReport *scored)
{
    const char *class_name = *report->stack ? report->stack : run->path;
    textbuf_t cases = TEXTBUF_INIT;
    size_t tests = 0, failures = 0, errors = 0, skipped = 0;
    if (!scored) {
        //  The plan failed: one testcase in error, with what the engine said.
        s_testcase_open (&cases, class_name, "plan");
        textbuf_adds (&cases, ">\n      <error type=\"plan-failed\" message=\"");
        s_xml_add (&cases, report->reason);
        textbuf_adds (&cases, "\">");
        for (size_t index = 0; index < report->n_diagnostics; index++) {
            const Drift__Diagnostic *diagnostic = report->diagnostics [index];
            s_xml_add (&cases, diagnostic->severity);
            textbuf_adds (&cases, ": ");
            s_xml_add (&cases, diagnostic->summary);
            if (*diagnostic->address) {
                textbuf_adds (&cases, " at ");
                s_xml_add (&cases, diagnostic->address);
            }
            textbuf_addc (&cases, '\n');
        }
        textbuf_adds (&cases, "</error>\n    </testcase>\n");
        tests = errors = 1;
    }
    for (size_t index = 0; scored && index < scored->n_findings; index++, tests++)
        s_junit_finding (&cases, class_name, run, scored->findings [index], &failures, &skipped);
    for (size_t index = 0; scored && index < report->n_items; index++) {
        const Drift__DriftItem *item = report->items [index];
        if (s_item_has_finding (scored, (uint32_t) index))
            continue;
        s_testcase_open (&cases, class_name, item->address);
        textbuf_adds (&cases, ">\n      <system-out>drifted (");
        s_xml_add (&cases, canonical_kind_name (item->kind));
        textbuf_adds (&cases, ", ");
        s_xml_add (&cases, canonical_class_name (item->class_));
        textbuf_adds (&cases, "): no rule matched</system-out>\n    </testcase>\n");
        tests++;
    }
    textbuf_t document = TEXTBUF_INIT;
    textbuf_adds (&document, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"drift check\"");
    for (int level = 0; level < 2; level++) {
        if (level) {
            textbuf_adds (&document, "  <testsuite name=\"drift check ");
            s_xml_add (&document, run->path);
            textbuf_addc (&document, '"');
        }
        textbuf_adds (&document, " tests=\"");
        s_number (&document, tests);
        textbuf_adds (&document, "\" failures=\"");
        s_number (&document, failures);
        textbuf_adds (&document, "\" errors=\"");
        s_number (&document, errors);
        textbuf_adds (&document, "\" skipped=\"");
        s_number (&document, skipped);
        textbuf_adds (&document, "\">\n");
    }
    textbuf_adds (&document, "    <properties>\n      <property name=\"fail_on\" value=\"");
    s_xml_add (&document, run->fail_on);
    textbuf_adds (&document, "\"/>\n      <property name=\"score\" value=\"");
    s_number (&document, scored ? scored->score : 0);
    textbuf_adds (&document, "\"/>\n      <property name=\"severity\" value=\"");
    s_xml_add (&document, severity_name (scored ? scored->severity
                                                : DRIFT__SEVERITY__SEVERITY_NONE));
    textbuf_adds (&document, "\"/>\n      <property name=\"result\" value=\"");
    textbuf_adds (&document, !scored ? "error" : run->fails ? "fail" : "pass");
    textbuf_adds (&document, "\"/>\n    </properties>\n");
    char *body = textbuf_detach (&cases);
    textbuf_adds (&document, body ? body : "");
    free (body);
    textbuf_adds (&document, "  </testsuite>\n</testsuites>\n");
    bool failed = document.failed;
    char *text = textbuf_detach (&document);
    int rc = !failed && text && fputs (text, out) >= 0 && fflush (out) == 0 ? 0 : -1;
    free (text);
    return rc;
}

//  --------------------------------------------------------------------------
//  SARIF 2.1.0

const char *
check_sarif_level (Drift__Severity severity)
{
    return severity >= DRIFT__SEVERITY__SEVERITY_HIGH ? "error"
         : severity == DRIFT__SEVERITY__SEVERITY_MEDIUM ? "warning"
         : severity >= DRIFT__SEVERITY__SEVERITY_INFO ? "note" : "none";
}

//  GitHub ranks security findings by a CVSS-like "security-severity".
static const char *
s_security_severity (Drift__Severity severity)
{
    return severity == DRIFT__SEVERITY__SEVERITY_CRITICAL ? "9.5"
         : severity == DRIFT__SEVERITY__SEVERITY_HIGH ? "8.0"
         : severity == DRIFT__SEVERITY__SEVERITY_MEDIUM ? "5.5"
         : severity == DRIFT__SEVERITY__SEVERITY_LOW ? "3.0" : "0.0";
}

//  path as a relative URI reference: every byte outside RFC 3986's
//  unreserved set and '/' percent-encoded (caller frees).
static char *
s_uri (const char *path)
{
    static const char *const hex = "0123456789ABCDEF";
    textbuf_t uri = TEXTBUF_INIT;
    for (const char *byte = path; *byte; byte++) {
        unsigned char c = (unsigned char) *byte;
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
        ||  strchr ("-._~/", c))
            textbuf_addc (&uri, (char) c);
        else {
            char escaped [3] = { '%', hex [c >> 4], hex [c & 15] };
            textbuf_add (&uri, escaped, 3);
        }
    }
    return textbuf_detach (&uri);
}

//  A reportingDescriptor for rule id, from the rule score holds.
static json_t *
s_sarif_rule (score_t *score, const char *id, Drift__Severity seen)
{
    const rules_rule_t *rule = score_rule (score, id);
    Drift__Severity severity = rule ? rule->severity : seen;
    textbuf_t full = TEXTBUF_INIT;
    textbuf_adds (&full, "drift rule ");
    textbuf_adds (&full, id);
    textbuf_adds (&full, ", severity ");
    textbuf_adds (&full, severity_name (severity));
    for (size_t index = 0; rule && index < rule->n_types; index++) {
        textbuf_adds (&full, index ? " " : ", on resource types ");
        textbuf_adds (&full, rule->types [index]);
    }
    if (rule && rule->origin) {
        textbuf_adds (&full, "; defined at ");
        textbuf_adds (&full, rule->origin);
    }
    char *text = textbuf_detach (&full);
    json_t *descriptor = json_pack ("{s:s, s:s, s:{s:s}, s:{s:s}, s:{s:s}, s:{s:s, s:s, s:[s, s]}}",
        "id", id, "name", id,
        "shortDescription", "text", rule && rule->reason ? rule->reason : id,
        "fullDescription", "text", text ? text : id,
        "defaultConfiguration", "level", check_sarif_level (severity),
        "properties", "severity", severity_name (severity),
        "security-severity", s_security_severity (severity), "tags", "drift", "iac");
    free (text);
    return descriptor;
}

//  The index of rule id in rules, added (from score) if it is not there yet.
static size_t
s_rule_index (json_t *rules, score_t *score, const Drift__Finding *finding)
{
    for (size_t index = 0; index < json_array_size (rules); index++)
        if (strcmp (json_string_value (json_object_get (json_array_get (rules, index), "id")),
                    finding->rule) == 0)
            return index;
    json_array_append_new (rules, s_sarif_rule (score, finding->rule, finding->severity));
    return json_array_size (rules) - 1;
}

static json_t *
s_sarif_result (const Drift__Finding *finding, size_t rule_index, const char *uri)
{
    char fingerprint [512];
    snprintf (fingerprint, sizeof fingerprint, "%s/%s", finding->fingerprint, finding->rule);
    json_t *result = json_pack ("{s:s, s:i, s:s, s:{s:s}, s:[{s:{s:{s:s, s:i}}, s:[{s:s, s:s, s:s}]}],"
                                " s:{s:s}, s:{s:s, s:s, s:s, s:f}}",
        "ruleId", finding->rule, "ruleIndex", (int) rule_index,
        "level", check_sarif_level (finding->severity),
        "message", "text", finding->reason,
        "locations", "physicalLocation", "artifactLocation", "uri", uri, "index", 0,
        "logicalLocations", "fullyQualifiedName", finding->address, "name", finding->address,
        "kind", "resource",
        "partialFingerprints", "driftFingerprint/v1", fingerprint,
        "properties", "severity", severity_name (finding->severity),
        "kind", canonical_kind_name (finding->kind), "path", finding->path,
        "weight", finding->weight);
    if (result && finding->suppressed) {
        char justification [512];
        snprintf (justification, sizeof justification, "suppressed by %s", finding->suppressed_by);
        json_object_set_new (result, "suppressions", json_pack ("[{s:s, s:s, s:s}]",
            "kind", "external", "status", "accepted", "justification", justification));
    }
    return result;
}

int
check_print_sarif (FILE *out, const check_run_t *run, const Drift__CanonicalReport *report,
                   const Drift__ScoredReport *scored, score_t *score)
{
    char *uri = s_uri (run->path);
    if (!uri)
        return -1;
    json_t *rules = json_array ();
    json_t *results = json_array ();
    for (size_t index = 0; scored && index < scored->n_findings; index++) {
        const Drift__Finding *finding = scored->findings [index];
        size_t rule_index = s_rule_index (rules, score, finding);
        json_array_append_new (results, s_sarif_result (finding, rule_index, uri));
    }
    json_t *notifications = json_array ();
    for (size_t index = 0; index < report->n_diagnostics; index++) {
        const Drift__Diagnostic *diagnostic = report->diagnostics [index];
        json_t *notification = json_pack ("{s:s, s:{s:s}}",
            "level", strcmp (diagnostic->severity, "error") == 0 ? "error" : "warning",
            "message", "text", diagnostic->summary);
        if (notification && *diagnostic->address)
            json_object_set_new (notification, "locations", json_pack ("[{s:[{s:s}]}]",
                "logicalLocations", "fullyQualifiedName", diagnostic->address));
        json_array_append_new (notifications, notification);
    }
    json_t *invocation = json_pack ("{s:b, s:i, s:o}",
        "executionSuccessful", scored != NULL, "exitCode", run->exit_code,
        "toolExecutionNotifications", notifications);
    if (invocation && !scored)
        json_object_set_new (invocation, "exitCodeDescription",
                             json_sprintf ("the plan failed: %s", report->reason));
    json_t *log = json_pack ("{s:s, s:s, s:[{s:{s:{s:s, s:s, s:s, s:o}}, s:[{s:{s:s}}],"
                             " s:[o], s:o, s:{s:s, s:s, s:i, s:s, s:s, s:b}}]}",
        "$schema", "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/"
                   "sarif-schema-2.1.0.json",
        "version", "2.1.0",
        "runs", "tool", "driver", "name", "drift-check", "version", DRIFT_VERSION,
        "informationUri", "https://github.com/dd0c/drift", "rules", rules,
        "artifacts", "location", "uri", uri,
        "invocations", invocation,
        "results", results,
        "properties", "stack", report->stack, "status", canonical_status_name (report->status),
        "score", scored ? (int) scored->score : 0,
        "severity", severity_name (scored ? scored->severity : DRIFT__SEVERITY__SEVERITY_NONE),
        "failOn", run->fail_on, "fails", run->fails);
    free (uri);
    int rc = log && json_dumpf (log, out, JSON_INDENT (1) | JSON_PRESERVE_ORDER) == 0
          && fputc ('\n', out) != EOF && fflush (out) == 0 ? 0 : -1;
    json_decref (log);
    return rc;
}
