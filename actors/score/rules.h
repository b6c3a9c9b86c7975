/*  rules: score's rule files, parsed (docs/RULES.md has the format).

    One loader for the built-in pack (rules/builtin.rules, embedded into the
    binary at build time) and for an operator's override file, so both are
    read the same way and a mistake in either is reported the same way:
    "FILE:LINE: reason", and nothing of the file is taken. The caller keeps
    its last good rules.

    Matching is by globs (rules_glob_match) and parsed predicates only, never
    by regular expressions, so no rule can make scoring slow.
*/
#ifndef RULES_H_INCLUDED
#define RULES_H_INCLUDED

#include "drift.pb-c.h"

#include <stdbool.h>
#include <stddef.h>

#define RULES_MAX_GLOBS 16       // globs per engine, type or path line
#define RULES_MAX_WHEN 8         // when lines per rule
#define RULES_MAX_ARGS 8         // arguments per when line

//  The built-in pack's text (generated from rules/builtin.rules).
extern const char *const rules_builtin_text;

typedef enum {
    RULES_WHEN_WORLD,            // the change opens a source to every address
    RULES_WHEN_PORT,             // the element's port range includes one of args
    RULES_WHEN_PORT_ANY,         // the element's port range is every port
    RULES_WHEN_POLICY_WILDCARD,  // a policy grants one of args: action resource principal
    RULES_WHEN_TURNED_OFF,       // true before, false after
    RULES_WHEN_TURNED_ON,        // false or absent before, true after
    RULES_WHEN_AFTER,            // the new value is one of args (JSON text)
    RULES_WHEN_CONTAINS,         // the new value is, or lists, one of args (strings)
    RULES_WHEN_OP                // the change is one of args: added removed changed
} rules_when_kind_t;

typedef struct {
    rules_when_kind_t kind;      // which predicate
    bool negate;                 // `when not ...`: the predicate must not hold
    char *args [RULES_MAX_ARGS]; // its arguments, any of which may hold
    int ports [RULES_MAX_ARGS];  // RULES_WHEN_PORT: the ports, parsed
    unsigned mask;               // RULES_WHEN_POLICY_WILDCARD: PREDICATES_WILD_*
    size_t n_args;               // arguments given
} rules_when_t;

typedef struct {
    char *id;                    // unique in a rule set; an override replaces by id
    char *engines [RULES_MAX_GLOBS]; // engine globs; none: any engine
    size_t n_engines;            // engine globs given
    char *types [RULES_MAX_GLOBS]; // resource type globs; none: any type
    size_t n_types;              // type globs given
    char *paths [RULES_MAX_GLOBS]; // attribute path globs; none: the whole item
    size_t n_paths;              // path globs given
    unsigned kinds;              // mask of 1 << DriftKind; 0: modified, deleted, replaced
    Drift__DriftClass class_;    // REAL or NOISE: the class of item or change it scores
    bool fallback;               // only for changes (or items) no other rule covered
    rules_when_t when [RULES_MAX_WHEN]; // predicates, all of which must hold
    size_t n_when;               // when lines given
    Drift__Severity severity;    // of its findings
    double weight;               // in (0,1]; by default from the severity
    char *reason;                // template with {placeholders}
    char *origin;                // "FILE:LINE" where it was defined, for audit
} rules_rule_t;

typedef struct {
    rules_rule_t *rules;         // in file order
    size_t size;                 // rules held
} rules_t;

//  Parse text (size bytes) of file name. Returns 0 with *rules set (caller
//  destroys), or -1 with error filled ("NAME:LINE: reason") and *rules NULL.
int rules_parse (const char *name, const char *text, size_t size, rules_t **rules,
                 char *error, size_t error_size);

//  Read and parse file path; errors as rules_parse (a file that cannot be
//  read: "PATH: reason").
int rules_load (const char *path, rules_t **rules, char *error, size_t error_size);

void rules_destroy (rules_t **self_p);

//  A new set: base's rules with overrides' added, an override replacing the
//  base rule of the same id in place. Borrows neither (copies); NULL if
//  memory ran out.
rules_t *rules_merge (const rules_t *base, const rules_t *overrides);

//  The rule with this id, or NULL.
const rules_rule_t *rules_find (const rules_t *self, const char *id);

//  Glob match: `**` matches any text, `*` any text without a `.`; every
//  other character matches itself (`[` included, so `ingress[*]` reads as
//  written). Linear in practice: no backtracking blow-up on hostile input.
bool rules_glob_match (const char *pattern, const char *text);

//  The default weight of a severity: critical 0.9, high 0.6, medium 0.3,
//  low 0.1, info 0.01.
double rules_default_weight (Drift__Severity severity);

#endif
