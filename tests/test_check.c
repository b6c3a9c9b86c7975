/*  check: `drift check` end to end on the Terraform captures in
    tests/fixtures/terraform, as CI runs it: exit codes for CI, the table,
    suppressed findings shown with the .driftignore line that suppressed
    them, the JSON fields, and input that cannot be checked. The ignore
    file's own syntax is tested in test_ignore.c.
*/
#define _GNU_SOURCE                 // asprintf
#include "testutil.h"

#include <criterion/criterion.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

//  --------------------------------------------------------------------------
//  Helpers

//  A temporary file holding text (caller unlinks and frees).
static char *
s_temp_file (const char *text, size_t size)
{
    char *path = strdup ("/tmp/drift-check-XXXXXX");
    int fd = mkstemp (path);
    cr_assert (fd >= 0);
    cr_assert_eq (write (fd, text, size), (ssize_t) size);
    close (fd);
    return path;
}

//  Whether s_check also takes stderr into what it returns.
static bool s_with_stderr;

//  Run `drift check ARGS...` (NULL-terminated) with stdin from stdin_path
//  (NULL: /dev/null); its stdout (caller frees) and *code its exit code.
static char *
s_check (int *code, const char *stdin_path, ...)
{
    va_list args;
    va_start (args, stdin_path);
    char *text = tu_drift_output (code, stdin_path, s_with_stderr, "check", args);
    va_end (args);
    return text;
}

//  The line of text that mentions needle, or NULL.
static char *
s_line_with (const char *text, const char *needle)
{
    const char *at = strstr (text, needle);
    if (!at)
        return NULL;
    const char *start = at;
    while (start > text && start [-1] != '\n')
        start--;
    const char *end = strchr (at, '\n');
    return strndup (start, end ? (size_t) (end - start) : strlen (start));
}

Test (check, open_ssh_fails_ci_at_high)
{
    char *plan = tu_fixture_path ("scenario-01.plan.json");
    int code;
    char *out = s_check (&code, NULL, plan, "--fail-on", "high", NULL);
    cr_assert_eq (code, 1, "%s", out);
    char *line = s_line_with (out, "aws_security_group.web ");
    cr_assert (line, "no finding for the security group:\n%s", out);
    cr_assert (strstr (line, "modified"), "%s", line);
    cr_assert (strstr (line, "high") || strstr (line, "critical"), "%s", line);
    cr_assert_null (strstr (line, "suppressed"), "%s", line);
    cr_assert (strstr (out, "FAIL at --fail-on high"), "%s", out);
    free (line);
    free (out);

    //  The default threshold is high, and stdin works as a file.
    out = s_check (&code, plan, "-", NULL);
    cr_assert_eq (code, 1, "%s", out);
    free (out);
    out = s_check (&code, NULL, plan, "--fail-on", "none", NULL);
    cr_assert_eq (code, 0, "%s", out);
    free (out);
    free (plan);
}

Test (check, an_ignored_finding_is_shown_suppressed_and_passes)
{
    char *plan = tu_fixture_path ("scenario-01.plan.json");
    const char *rules = "# the bastion is opened on purpose\naws_security_group.web\n";
    char *ignore = s_temp_file (rules, strlen (rules));
    int code;
    char *out = s_check (&code, NULL, plan, "--ignore", ignore, "--fail-on", "high", NULL);
    cr_assert_eq (code, 0, "%s", out);
    char *line = s_line_with (out, "aws_security_group.web ");
    cr_assert (line, "the suppressed finding is not shown:\n%s", out);
    char *by = NULL;
    cr_assert (asprintf (&by, "[suppressed by %s:2 aws_security_group.web]", ignore) > 0);
    cr_assert (strstr (line, by), "%s", line);
    cr_assert (strstr (line, "(high)") || strstr (line, "(critical)"), "%s", line);
    cr_assert (strstr (out, "pass at --fail-on high"), "%s", out);
    free (by);
    free (line);
    free (out);

    //  An expired line suppresses nothing.
    const char *expired = "aws_security_group.web until 2020-01-01\n";
    unlink (ignore);
    free (ignore);
    ignore = s_temp_file (expired, strlen (expired));
    out = s_check (&code, NULL, plan, "--ignore", ignore, NULL);
    cr_assert_eq (code, 1, "%s", out);
    cr_assert_null (strstr (out, "suppressed by"), "%s", out);
    free (out);
    unlink (ignore);
    free (ignore);
    free (plan);
}

Test (check, a_clean_plan_passes)
{
    char *plan = tu_fixture_path ("scenario-08.plan.json");
    int code;
    char *out = s_check (&code, NULL, plan, "--fail-on", "info", NULL);
    cr_assert_eq (code, 0, "%s", out);
    cr_assert (strstr (out, "0 drifted resources, 0 findings"), "%s", out);
    free (out);
    free (plan);
}

Test (check, json_has_the_documented_fields)
{
    char *plan = tu_fixture_path ("scenario-01.plan.json");
    const char *rules = "aws_security_group.web\n";
    char *ignore = s_temp_file (rules, strlen (rules));
    int code;
    char *out = s_check (&code, NULL, plan, "--format", "json", "--ignore", ignore,
                         "--stack", "payments", NULL);
    cr_assert_eq (code, 0, "%s", out);
    json_error_t error;
    json_t *json = json_loads (out, 0, &error);
    cr_assert (json, "not JSON (%s):\n%s", error.text, out);
    cr_assert_str_eq (json_string_value (json_object_get (json, "status")), "ok");
    cr_assert_str_eq (json_string_value (json_object_get (json, "stack")), "payments");
    cr_assert_str_eq (json_string_value (json_object_get (json, "fail_on")), "high");
    cr_assert (json_is_false (json_object_get (json, "fails")));
    cr_assert_eq (json_integer_value (json_object_get (json, "items")), 1);
    cr_assert_eq (json_integer_value (json_object_get (json, "score")), 0,
                  "a suppressed finding does not count");
    cr_assert_str_eq (json_string_value (json_object_get (json, "severity")), "none");
    cr_assert (json_is_array (json_object_get (json, "diagnostics")));
    json_t *findings = json_object_get (json, "findings");
    cr_assert (json_array_size (findings) >= 1, "%s", out);
    size_t index;
    json_t *finding;
    json_array_foreach (findings, index, finding) {
        const char *fields [] = { "address", "path", "kind", "rule", "severity", "reason",
                                  "fingerprint", "suppressed_by" };
        for (size_t field = 0; field < sizeof fields / sizeof fields [0]; field++)
            cr_assert (json_is_string (json_object_get (finding, fields [field])),
                       "finding without %s", fields [field]);
        cr_assert (json_is_number (json_object_get (finding, "weight")));
        cr_assert_str_eq (json_string_value (json_object_get (finding, "address")),
                          "aws_security_group.web");
        cr_assert (json_is_true (json_object_get (finding, "suppressed")));
        cr_assert (strstr (json_string_value (json_object_get (finding, "suppressed_by")),
                           ":1 aws_security_group.web"));
    }
    json_decref (json);
    free (out);

    //  Without the ignore file the same finding counts.
    out = s_check (&code, NULL, plan, "--format", "json", NULL);
    cr_assert_eq (code, 1, "%s", out);
    json = json_loads (out, 0, &error);
    cr_assert (json, "%s", out);
    cr_assert (json_is_true (json_object_get (json, "fails")));
    cr_assert_gt (json_integer_value (json_object_get (json, "score")), 0);
    finding = json_array_get (json_object_get (json, "findings"), 0);
    cr_assert (json_is_false (json_object_get (finding, "suppressed")));
    cr_assert_str_eq (json_string_value (json_object_get (finding, "suppressed_by")), "");
    json_decref (json);
    free (out);
    unlink (ignore);
    free (ignore);
    free (plan);
}

Test (check, a_plan_that_failed_or_is_not_a_plan_exits_3)
{
    //  scenario-01 as an errored plan: what an unreachable API looks like.
    char *plan = tu_fixture_path ("scenario-01.plan.json");
    json_error_t error;
    json_t *json = json_load_file (plan, 0, &error);
    cr_assert (json);
    json_object_set_new (json, "errored", json_true ());
    char *text = json_dumps (json, 0);
    char *errored = s_temp_file (text, strlen (text));
    free (text);
    json_decref (json);
    int code;
    char *out = s_check (&code, NULL, errored, NULL);
    cr_assert_eq (code, 3, "%s", out);
    cr_assert (strstr (out, "the plan failed: plan errored"), "%s", out);
    free (out);
    out = s_check (&code, NULL, errored, "--format", "json", NULL);
    cr_assert_eq (code, 3, "%s", out);
    json = json_loads (out, 0, &error);
    cr_assert (json, "%s", out);
    cr_assert_str_eq (json_string_value (json_object_get (json, "status")), "failed");
    cr_assert_str_eq (json_string_value (json_object_get (json, "reason")), "plan errored");
    json_decref (json);
    free (out);
    unlink (errored);
    free (errored);

    const char *garbage_text = "this is not a plan {";
    char *garbage = s_temp_file (garbage_text, strlen (garbage_text));
    out = s_check (&code, NULL, garbage, NULL);
    cr_assert_eq (code, 3, "%s", out);
    free (out);
    unlink (garbage);
    free (garbage);
    free (plan);
}

Test (check, usage_and_unreadable_input_exit_2)
{
    char *plan = tu_fixture_path ("scenario-01.plan.json");
    int code;
    free (s_check (&code, NULL, "/nonexistent/plan.json", NULL));
    cr_assert_eq (code, 2);
    free (s_check (&code, NULL, NULL));
    cr_assert_eq (code, 2, "no plan given");
    free (s_check (&code, NULL, plan, "--format", "yaml", NULL));
    cr_assert_eq (code, 2);
    free (s_check (&code, NULL, plan, "--fail-on", "severe", NULL));
    cr_assert_eq (code, 2);
    free (s_check (&code, NULL, plan, "--ignore", "/nonexistent/.driftignore", NULL));
    cr_assert_eq (code, 2);
    free (s_check (&code, NULL, plan, "--rules", "/nonexistent/drift.rules", NULL));
    cr_assert_eq (code, 2);
    const char *bad = "aws_security_group.web\naws_instance..web\n";
    char *ignore = s_temp_file (bad, strlen (bad));
    s_with_stderr = true;
    char *out = s_check (&code, NULL, plan, "--ignore", ignore, NULL);
    cr_assert_eq (code, 2, "a bad ignore file is refused, not half applied");
    char *expected = NULL;
    cr_assert (asprintf (&expected, "%s:2: empty segment", ignore) > 0);
    cr_assert (strstr (out, expected), "%s", out);
    free (expected);
    free (out);
    unlink (ignore);
    free (ignore);
    free (plan);
}
