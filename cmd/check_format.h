/*  check_format: `drift check`'s report in the formats CI systems read
    (cmd/check_format.c): JUnit XML, which every CI shows as test results,
    and SARIF 2.1.0, which code-scanning views (GitHub, GitLab, Azure
    DevOps) show as findings on the change. docs/CHECK.md describes both.
*/
#ifndef CHECK_FORMAT_H_INCLUDED
#define CHECK_FORMAT_H_INCLUDED

#include "../actors/score/score.h"

#include <stdbool.h>
#include <stdio.h>

//  What one check was asked and concluded, beside its reports.
typedef struct {
    const char *path;            // the plan as named on the command line ("stdin" for -)
    const char *fail_on;         // --fail-on as given
    Drift__Severity threshold;   // its severity; NONE: no finding fails
    bool fails;                  // an unsuppressed finding reaches threshold
    int exit_code;               // what drift check exits with
} check_run_t;

//  JUnit XML of the check to out: a testcase per finding (failed at or
//  above the threshold, skipped when suppressed) and per drifted resource
//  no rule matched; a failed plan (scored NULL) is one testcase in error.
//  0, or -1 if it could not be written.
int check_print_junit (FILE *out, const check_run_t *run, const Drift__CanonicalReport *report,
                       const Drift__ScoredReport *scored);

//  SARIF 2.1.0 of the check to out: a rule per rule id found (described
//  from score's rules), a result per finding with its level from severity,
//  the resource address as a logical location and the plan as the
//  artifact; a failed plan (scored NULL) is an unsuccessful invocation
//  with its diagnostics. 0, or -1 if it could not be written.
int check_print_sarif (FILE *out, const check_run_t *run, const Drift__CanonicalReport *report,
                       const Drift__ScoredReport *scored, score_t *score);

//  SARIF's level for a severity: critical and high "error", medium
//  "warning", low and info "note" ("none" for NONE).
const char *check_sarif_level (Drift__Severity severity);

#endif
