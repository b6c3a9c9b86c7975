/*  drift check FILE|-: one plan normalized and scored on the spot, with the
    code of the normalize and score stages (actors/normalize/normalize, actors/score/score), so a
    CI pipeline can gate a merge on what the server would alert on.

    Ignore rules (--ignore, docs/IGNORE.md) are applied after scoring: a
    finding they match is kept, shown as suppressed with the line that
    suppressed it, and no longer counts towards the score or the exit code.

    Exit code: 0 when no unsuppressed finding reaches --fail-on, 1 when one
    does, 2 on a usage error or input, rules or ignore file that cannot be
    read, 3 when the plan itself failed (errored, or a document normalize
    refuses): a check that did not finish proves nothing either way.

    The report is a table for people, JSON for scripts, or JUnit XML and
    SARIF for CI systems (cmd/check_format.c). This file names nothing of
    the server (no database, broker or HTTP), as drift-check links it
    alone with the normalize and score engines (cmd/drift_check.c).
*/
#include "check.h"
#include "check_format.h"
#include "read_all.h"
#include "../lib/canonical.h"
#include "../lib/config.h"
#include "../lib/log.h"
#include "../actors/score/ignore.h"
#include "../actors/normalize/normalize.h"
#include "../actors/score/score.h"
#include "../lib/severity.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

//  The resource column is as wide as its longest address up to this; a
//  longer address pushes its row out rather than being cut, since it is
//  what the operator searches for.
#define CHECK_COLUMN_MAX 60

static const config_option_t s_options [] = {
    CONFIG_COMMON_OPTIONS,
    { "rules", CONFIG_STRING, "", "rules file added to the built-in pack (docs/RULES.md)" },
    { "ignore", CONFIG_STRING, "", "ignore file: findings it matches are shown suppressed "
      "(docs/IGNORE.md)" },
    { "format", CONFIG_STRING, "table", "output: table, json, junit (JUnit XML) or sarif "
      "(SARIF 2.1.0)" },
    { "fail-on", CONFIG_STRING, "high",
      "exit 1 when an unsuppressed finding is at least critical|high|medium|low|info; "
      "none: never" },
    { "stack", CONFIG_STRING, "", "stack name, for the report and fingerprints" },
    { "volatile", CONFIG_STRING, "",
      "more volatile attributes, TYPE.ATTRIBUTE[,...], as given to the normalize stage" },
    CONFIG_END
};

//  The ignore rules of path, NULL with the reason printed.
static ignore_t *
s_load_ignore (const char *path)
{
    size_t size = 0;
    char *text = cmd_read_all (path, &size);
    if (!text) {
        fprintf (stderr, "drift check: cannot read ignore file %s: %s\n", path,
                 strerror (errno));
        return NULL;
    }
    char *error = NULL;
    ignore_t *ignore = ignore_parse (text, size, path, &error);
    free (text);
    if (!ignore)
        fprintf (stderr, "drift check: %s\n", error ? error : "out of memory");
    free (error);
    return ignore;
}

//  The normalizer with the extra volatile attributes, NULL with the reason
//  printed.
static normalize_t *
s_normalizer (const char *volatile_list)
{
    normalize_t *normalize = normalize_new (NULL);
    char *list = normalize ? strdup (volatile_list) : NULL;
    if (!list) {
        fprintf (stderr, "drift check: out of memory\n");
        normalize_destroy (&normalize);
        return NULL;
    }
    char *rest = list;
    for (char *spec = strsep (&rest, ","); spec; spec = strsep (&rest, ","))
        if (*spec && classify_add_volatile (normalize_rules (normalize), spec)) {
            fprintf (stderr, "drift check: volatile entries must be TYPE.ATTRIBUTE, not '%s'\n",
                     spec);
            normalize_destroy (&normalize);
            break;
        }
    free (list);
    return normalize;
}

//  Whether an unsuppressed finding reaches threshold (NONE: never).
static bool
s_fails (const Drift__ScoredReport *scored, Drift__Severity threshold)
{
    if (threshold == DRIFT__SEVERITY__SEVERITY_NONE)
        return false;
    for (size_t index = 0; index < scored->n_findings; index++)
        if (!scored->findings [index]->suppressed
        &&  scored->findings [index]->severity >= threshold)
            return true;
    return false;
}

//  --------------------------------------------------------------------------
//  Output

static int
s_width (const char *text)
{
    size_t length = strlen (text);
    return (int) (length > CHECK_COLUMN_MAX ? CHECK_COLUMN_MAX : length);
}

static void
s_print_failed (const Drift__CanonicalReport *report, const char *path)
{
    printf ("drift check: %s: the plan failed: %s\n", path, report->reason);
    for (size_t index = 0; index < report->n_diagnostics; index++) {
        const Drift__Diagnostic *diagnostic = report->diagnostics [index];
        printf ("  %s: %s%s%s\n", diagnostic->severity, diagnostic->summary,
                *diagnostic->address ? " at " : "", diagnostic->address);
    }
}

static void
s_print_table (const Drift__ScoredReport *scored, const char *path, const char *fail_on,
               bool fails)
{
    size_t suppressed = 0;
    int address_width = (int) strlen ("RESOURCE"), kind_width = (int) strlen ("KIND"),
        severity_width = (int) strlen ("SEVERITY");
    for (size_t index = 0; index < scored->n_findings; index++) {
        const Drift__Finding *finding = scored->findings [index];
        int width = s_width (finding->address);
        address_width = width > address_width ? width : address_width;
        width = (int) strlen (canonical_kind_name (finding->kind));
        kind_width = width > kind_width ? width : kind_width;
        width = (int) strlen (severity_name (finding->severity))
              + (finding->suppressed ? 2 : 0);
        severity_width = width > severity_width ? width : severity_width;
        suppressed += finding->suppressed;
    }
    if (scored->n_findings) {
        printf ("%-*s  %-*s  %-*s  %s\n", address_width, "RESOURCE", kind_width, "KIND",
                severity_width, "SEVERITY", "REASON");
        for (size_t index = 0; index < scored->n_findings; index++) {
            const Drift__Finding *finding = scored->findings [index];
            char severity [32];
            //  Parentheses: the finding is kept for the record but does not count.
            snprintf (severity, sizeof severity, finding->suppressed ? "(%s)" : "%s",
                      severity_name (finding->severity));
            printf ("%-*s  %-*s  %-*s  %s", address_width, finding->address, kind_width,
                    canonical_kind_name (finding->kind), severity_width, severity,
                    finding->reason);
            if (finding->suppressed)
                printf ("  [suppressed by %s]", finding->suppressed_by);
            putchar ('\n');
        }
        putchar ('\n');
    }
    printf ("%s: %zu drifted resource%s, %zu finding%s (%zu suppressed), score %u, "
            "severity %s: %s at --fail-on %s\n",
            path, scored->report->n_items, scored->report->n_items == 1 ? "" : "s",
            scored->n_findings, scored->n_findings == 1 ? "" : "s", suppressed,
            scored->score, severity_name (scored->severity),
            fails ? "FAIL" : "pass", fail_on);
}

static json_t *
s_json_report (const Drift__CanonicalReport *report, const Drift__ScoredReport *scored,
               const char *fail_on, bool fails)
{
    json_t *object = json_pack ("{s:s, s:s, s:s, s:s, s:i, s:i, s:s, s:s, s:b}",
        "stack", report->stack, "report_id", report->report_id,
        "status", canonical_status_name (report->status), "reason", report->reason,
        "items", (int) report->n_items, "score", scored ? (int) scored->score : 0,
        "severity", severity_name (scored ? scored->severity
                                                : DRIFT__SEVERITY__SEVERITY_NONE),
        "fail_on", fail_on, "fails", fails);
    json_t *diagnostics = json_array ();
    for (size_t index = 0; index < report->n_diagnostics; index++) {
        const Drift__Diagnostic *diagnostic = report->diagnostics [index];
        json_array_append_new (diagnostics, json_pack ("{s:s, s:s, s:s, s:s}",
            "severity", diagnostic->severity, "summary", diagnostic->summary,
            "detail", diagnostic->detail, "address", diagnostic->address));
    }
    json_object_set_new (object, "diagnostics", diagnostics);
    //  Each drifted resource with its class, as `drift normalize` and the
    //  pipeline class it (tests/test_lab.c holds the three to the same).
    json_t *drift = json_array ();
    for (size_t index = 0; index < report->n_items; index++) {
        const Drift__DriftItem *item = report->items [index];
        json_array_append_new (drift, json_pack ("{s:s, s:s, s:s}",
            "address", item->address, "kind", canonical_kind_name (item->kind),
            "class", canonical_class_name (item->class_)));
    }
    json_object_set_new (object, "drift", drift);
    json_t *findings = json_array ();
    for (size_t index = 0; scored && index < scored->n_findings; index++) {
        const Drift__Finding *finding = scored->findings [index];
        json_array_append_new (findings, json_pack (
            "{s:s, s:s, s:s, s:s, s:s, s:f, s:s, s:s, s:b, s:s}",
            "address", finding->address, "path", finding->path,
            "kind", canonical_kind_name (finding->kind), "rule", finding->rule,
            "severity", severity_name (finding->severity), "weight", finding->weight,
            "reason", finding->reason, "fingerprint", finding->fingerprint,
            "suppressed", finding->suppressed, "suppressed_by", finding->suppressed_by));
    }
    json_object_set_new (object, "findings", findings);
    return object;
}

static int
s_print_json (json_t *json)
{
    int rc = json && json_dumpf (json, stdout, JSON_INDENT (1) | JSON_PRESERVE_ORDER) == 0
           ? 0 : -1;
    fputc ('\n', stdout);
    json_decref (json);
    if (rc)
        fprintf (stderr, "drift check: could not write the report\n");
    return rc;
}

//  --------------------------------------------------------------------------
//  The command

//  The report in the format asked for, table excepted; 0, or -1 (said)
//  if it could not be written. scored is NULL for a failed plan.
static int
s_print (const char *format, check_run_t *run, Drift__CanonicalReport *report,
         const Drift__ScoredReport *scored, score_t *score)
{
    int rc;
    if (strcmp (format, "json") == 0)
        return s_print_json (s_json_report (report, scored, run->fail_on, run->fails));
    if (strcmp (format, "junit") == 0)
        rc = check_print_junit (stdout, run, report, scored);
    else
        rc = check_print_sarif (stdout, run, report, scored, score);
    if (rc)
        fprintf (stderr, "drift check: could not write the report\n");
    return rc;
}

//  Check the plan text with the engine and rules given.
static int
s_check (config_t *config, const char *path, char *text, size_t size, score_t *score,
         const ignore_t *ignore, Drift__Severity threshold)
{
    const char *fail_on = config_get (config, "fail-on");
    const char *format = config_get (config, "format");
    bool table = strcmp (format, "table") == 0;
    check_run_t run = { .path = path, .fail_on = fail_on, .threshold = threshold };
    normalize_t *normalize = s_normalizer (config_get (config, "volatile"));
    if (!normalize)
        return 2;
    Drift__CanonicalReport *report = normalize_document (normalize, "",
                                                         config_get (config, "stack"),
                                                         text, size);
    normalize_destroy (&normalize);
    if (!report) {
        fprintf (stderr, "drift check: out of memory\n");
        return 2;
    }
    int rc = 3;
    if (report->status != DRIFT__REPORT_STATUS__REPORT_STATUS_OK) {
        run.exit_code = 3;
        if (!table)
            rc = s_print (format, &run, report, NULL, score) ? 2 : 3;
        else
            s_print_failed (report, path);
        drift__canonical_report__free_unpacked (report, NULL);
        return rc;
    }
    Drift__ScoredReport *scored = score_report (score, report);
    if (!scored || ignore_apply (ignore, scored, (int64_t) time (NULL))) {
        fprintf (stderr, "drift check: out of memory\n");
        rc = 2;
    }
    else {
        run.fails = s_fails (scored, threshold);
        rc = run.exit_code = run.fails ? 1 : 0;
        if (!table) {
            if (s_print (format, &run, report, scored, score))
                rc = 2;
        }
        else
            s_print_table (scored, path, fail_on, run.fails);
    }
    score_scored_destroy (&scored);
    drift__canonical_report__free_unpacked (report, NULL);
    return rc;
}

int
cmd_check (int argc, char **argv)
{
    int rc;
    config_t *config = config_load ("check",
        "normalize and score one plan (FILE, - for stdin) as the pipeline would; exit 0 "
        "pass, 1 a finding reaches --fail-on, 2 usage or unreadable input, 3 the plan failed",
        s_options, argc, argv, &rc);
    if (!config)
        return rc;
    if (log_init ("check", config_get (config, "log-format"), config_get (config, "log-level"))) {
        fprintf (stderr, "drift check: log-format must be logfmt or json, log-level one of "
                 "debug, info, warn, error\n");
        config_destroy (&config);
        return 2;
    }
    const char *format = config_get (config, "format");
    Drift__Severity threshold = DRIFT__SEVERITY__SEVERITY_NONE;
    if (config_argc (config) != 1) {
        fprintf (stderr, "drift check: give one plan file, or - for stdin (see --help)\n");
        config_destroy (&config);
        return 2;
    }
    if (strcmp (format, "table") && strcmp (format, "json") && strcmp (format, "junit")
    &&  strcmp (format, "sarif")) {
        fprintf (stderr, "drift check: --format must be table, json, junit or sarif\n");
        config_destroy (&config);
        return 2;
    }
    if (severity_parse (config_get (config, "fail-on"), &threshold)) {
        fprintf (stderr, "drift check: --fail-on must be critical, high, medium, low, info "
                 "or none\n");
        config_destroy (&config);
        return 2;
    }
    rc = 2;
    ignore_t *ignore = NULL;
    char *text = NULL;
    score_t *score = score_new ();
    const char *rules = config_get (config, "rules");
    const char *ignore_path = config_get (config, "ignore");
    const char *path = config_argv (config, 0);
    char error [512];
    size_t size = 0;
    if (!score) {
        fprintf (stderr, "drift check: out of memory\n");
        goto done;
    }
    if (*rules && score_load_file (score, rules, error, sizeof error)) {
        fprintf (stderr, "drift check: %s\n", error);
        goto done;
    }
    if (*ignore_path && !(ignore = s_load_ignore (ignore_path)))
        goto done;
    if (!(text = cmd_read_all (path, &size))) {
        fprintf (stderr, "drift check: cannot read %s: %s\n", path, strerror (errno));
        goto done;
    }
    rc = s_check (config, strcmp (path, "-") == 0 ? "stdin" : path, text, size, score,
                  ignore, threshold);
done:
    free (text);
    ignore_destroy (&ignore);
    score_destroy (&score);
    config_destroy (&config);
    return rc;
}
