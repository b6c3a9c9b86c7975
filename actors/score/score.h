/*  score: the rule engine that says why each drift matters and how much the
    whole report does (drift.proto ScoredReport, proto/CANONICAL.md section
    5, docs/RULES.md).

    A score_t holds the built-in rule pack (rules/builtin.rules, embedded at
    build time) and, optionally, one override file whose rules are added to
    the pack or replace a built-in rule of the same id. Each drift item of a
    canonical report is matched against the rules (engine, resource type and
    attribute path globs, drift kind and class, value predicates of
    actors/score/predicates); each match is a Finding with a severity, a weight and a
    reason naming the concrete values. The report's score is
    100 * (1 - prod (1 - w_i)) over its unsuppressed findings, and its
    severity the strongest of them.

    The same code runs in the score stage (actors/score/score_actor.c) and in `drift
    check`: what a CI pipeline sees is what the pipeline alerts on. Ignore
    rules are applied after scoring (score_suppress, then score_recompute),
    so an ignored finding is kept, marked and audited, never dropped.

    Matching uses globs and parsed values only, never regular expressions:
    a rule file cannot make scoring slow.
*/
#ifndef SCORE_H_INCLUDED
#define SCORE_H_INCLUDED

#include "drift.pb-c.h"
#include "rules.h"

#include <stddef.h>

typedef struct _score_t score_t;

//  An engine with the built-in rule pack. NULL if memory ran out (the
//  built-in pack is checked by the tests, so it always parses).
score_t *score_new (void);
void score_destroy (score_t **self_p);

//  Replace the override rules with the rules of file path (added to the
//  built-in pack; a rule with a built-in id replaces it). Returns 0, or -1
//  with error filled ("PATH:LINE: reason") and the rules in use unchanged:
//  the caller keeps its last good rules.
int score_load_file (score_t *self, const char *path, char *error, size_t error_size);

//  The same for rules given as text; name stands for the file in errors.
int score_load_text (score_t *self, const char *name, const char *text, size_t size,
                     char *error, size_t error_size);

//  Rules given as text on top of the rules in use (a tenant's rules over
//  the operator's file); a rule with an id in use replaces it. Returns 0,
//  or -1 with error filled and the rules in use unchanged.
int score_add_text (score_t *self, const char *name, const char *text, size_t size,
                    char *error, size_t error_size);

//  Drop the override rules: the built-in pack alone.
void score_clear_overrides (score_t *self);

//  Rules in use (built-in and overrides, an override counted once).
size_t score_rules (score_t *self);

//  The rule in use with this id (an override if one replaced the built-in
//  rule), or NULL: what a finding's rule says, for reports that describe
//  their rules (drift check --format sarif). Valid until the rules change.
const rules_rule_t *score_rule (score_t *self, const char *id);

//  Score report. The result refers to report (its report field is report
//  itself, not a copy): report must outlive it, and packing the result packs
//  report inside it. A FAILED report gets no findings and score 0. Free
//  with score_scored_destroy. NULL if memory ran out.
Drift__ScoredReport *score_report (score_t *self, Drift__CanonicalReport *report);

//  Free what score_report made (findings and their text), not its report.
//  Nulls the caller's pointer.
void score_scored_destroy (Drift__ScoredReport **scored_p);

//  Mark a finding of a scored report (made by score_report) suppressed by
//  ignore rule by (copied). Returns 0, or -1 if memory ran out. Call
//  score_recompute afterwards.
int score_suppress (Drift__Finding *finding, const char *by);

//  Recompute score and severity from the unsuppressed findings.
void score_recompute (Drift__ScoredReport *scored);

//  The score of findings with these weights: 100 * (1 - prod (1 - w)),
//  rounded to the nearest integer, 0 for none. Weights outside (0,1] are
//  clamped. Exposed for tests and for documentation.
unsigned score_formula (const double *weights, size_t count);

#endif
