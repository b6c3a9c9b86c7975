/*  rules: score's rule files, parsed; see rules.h and docs/RULES.md.

    The format is line-oriented so an error has one line to point at: a
    `rule ID` line opens a rule, the lines after it (indentation is free)
    set its fields until the next `rule` line or the end of the file, and
    `#` opens a comment line. A rule is checked when it ends, so a missing
    severity or reason is reported at the rule's own line.
*/
#define _GNU_SOURCE
#include "rules.h"
#include "predicates.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define S_MAX_GLOB 255           // bytes in one glob, so matching stays small
#define S_MAX_LINE 4096          // bytes in one line
#define S_MAX_FILE (4u << 20)    // bytes in one rules file

//  --------------------------------------------------------------------------
//  Globs

bool
rules_glob_match (const char *pattern, const char *text)
{
    //  Dynamic programming over (pattern token, text position): linear in
    //  the text for each token, whatever the stars, so a hostile pattern
    //  cannot backtrack exponentially.
    //  Most globs are a literal, or a literal then a star: answered
    //  without the table.
    size_t literal = strcspn (pattern, "*");
    if (strncmp (pattern, text, literal) != 0)
        return false;
    if (!pattern [literal])
        return !text [literal];
    pattern += literal;
    text += literal;
    if (strcmp (pattern, "**") == 0)
        return true;
    char tokens [S_MAX_GLOB + 1];    // a literal byte, or 1 for **, 2 for *
    size_t count = 0;
    for (const char *p = pattern; *p; p++) {
        if (count == S_MAX_GLOB)
            return false;
        if (p [0] == '*' && p [1] == '*') {
            tokens [count++] = 1;
            while (p [1] == '*')
                p++;
        }
        else
            tokens [count++] = *p == '*' ? 2 : *p;
    }
    bool column [S_MAX_GLOB + 2];
    column [0] = true;
    for (size_t i = 1; i <= count; i++)
        column [i] = column [i - 1] && (tokens [i - 1] == 1 || tokens [i - 1] == 2);
    for (const char *t = text; *t; t++) {
        bool diagonal = column [0];
        column [0] = false;
        for (size_t i = 1; i <= count; i++) {
            bool left = column [i];      // token i-1 against the text before *t
            bool next;
            if (tokens [i - 1] == 1)
                next = column [i - 1] || left;
            else
            if (tokens [i - 1] == 2)
                next = column [i - 1] || (left && *t != '.');
            else
                next = diagonal && tokens [i - 1] == *t;
            diagonal = left;
            column [i] = next;
        }
    }
    return column [count];
}

double
rules_default_weight (Drift__Severity severity)
{
    switch (severity) {
        case DRIFT__SEVERITY__SEVERITY_CRITICAL: return 0.9;
        case DRIFT__SEVERITY__SEVERITY_HIGH:     return 0.6;
        case DRIFT__SEVERITY__SEVERITY_MEDIUM:   return 0.3;
        case DRIFT__SEVERITY__SEVERITY_LOW:      return 0.1;
        case DRIFT__SEVERITY__SEVERITY_INFO:     return 0.01;
        default:                                 return 0;
    }
}

//  --------------------------------------------------------------------------
//  Rule sets

static void
s_rule_free (rules_rule_t *rule)
{
    free (rule->id);
    for (size_t i = 0; i < rule->n_engines; i++)
        free (rule->engines [i]);
    for (size_t i = 0; i < rule->n_types; i++)
        free (rule->types [i]);
    for (size_t i = 0; i < rule->n_paths; i++)
        free (rule->paths [i]);
    for (size_t w = 0; w < rule->n_when; w++)
        for (size_t i = 0; i < rule->when [w].n_args; i++)
            free (rule->when [w].args [i]);
    free (rule->reason);
    free (rule->origin);
    memset (rule, 0, sizeof *rule);
}

void
rules_destroy (rules_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    rules_t *self = *self_p;
    for (size_t i = 0; i < self->size; i++)
        s_rule_free (&self->rules [i]);
    free (self->rules);
    free (self);
    *self_p = NULL;
}

static char *
s_dup (const char *text)
{
    return text ? strdup (text) : NULL;
}

//  A deep copy of rule into copy; -1 if memory ran out (copy is then freed).
static int
s_rule_copy (rules_rule_t *copy, const rules_rule_t *rule)
{
    *copy = *rule;
    bool failed = false;
    copy->id = s_dup (rule->id);
    copy->reason = s_dup (rule->reason);
    copy->origin = s_dup (rule->origin);
    failed |= !copy->id || !copy->reason || !copy->origin;
    for (size_t i = 0; i < rule->n_engines; i++)
        failed |= !(copy->engines [i] = s_dup (rule->engines [i]));
    for (size_t i = 0; i < rule->n_types; i++)
        failed |= !(copy->types [i] = s_dup (rule->types [i]));
    for (size_t i = 0; i < rule->n_paths; i++)
        failed |= !(copy->paths [i] = s_dup (rule->paths [i]));
    for (size_t w = 0; w < rule->n_when; w++)
        for (size_t i = 0; i < rule->when [w].n_args; i++)
            failed |= !(copy->when [w].args [i] = s_dup (rule->when [w].args [i]));
    if (failed) {
        s_rule_free (copy);
        return -1;
    }
    return 0;
}

const rules_rule_t *
rules_find (const rules_t *self, const char *id)
{
    for (size_t i = 0; self && i < self->size; i++)
        if (strcmp (self->rules [i].id, id) == 0)
            return &self->rules [i];
    return NULL;
}

rules_t *
rules_merge (const rules_t *base, const rules_t *overrides)
{
    size_t most = (base ? base->size : 0) + (overrides ? overrides->size : 0);
    rules_t *self = (rules_t *) calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->rules = (rules_rule_t *) calloc (most ? most : 1, sizeof *self->rules);
    if (!self->rules) {
        free (self);
        return NULL;
    }
    for (size_t i = 0; base && i < base->size; i++) {
        const rules_rule_t *rule = rules_find (overrides, base->rules [i].id);
        if (s_rule_copy (&self->rules [self->size], rule ? rule : &base->rules [i]))
            goto failed;
        self->size++;
    }
    for (size_t i = 0; overrides && i < overrides->size; i++) {
        if (rules_find (base, overrides->rules [i].id))
            continue;
        if (s_rule_copy (&self->rules [self->size], &overrides->rules [i]))
            goto failed;
        self->size++;
    }
    return self;
failed:
    rules_destroy (&self);
    return NULL;
}

//  --------------------------------------------------------------------------
//  Parsing

typedef struct {
    const char *name;            // file name, for errors
    int line;                    // current line, 1-based
    char *error;                 // where the error goes
    size_t error_size;           // its size
    rules_t *rules;              // what is parsed so far
    int rule_line;               // line of the open rule's `rule` line
} s_parser_t;

static int
s_fail (s_parser_t *parser, int line, const char *format, ...)
{
    char reason [512];
    va_list args;
    va_start (args, format);
    vsnprintf (reason, sizeof reason, format, args);
    va_end (args);
    if (parser->error && parser->error_size)
        snprintf (parser->error, parser->error_size, "%s:%d: %s", parser->name, line, reason);
    return -1;
}

static const struct {
    const char *name;            // as written in a file
    Drift__Severity severity;    // what it means
} s_severities [] = {
    { "critical", DRIFT__SEVERITY__SEVERITY_CRITICAL },
    { "high", DRIFT__SEVERITY__SEVERITY_HIGH },
    { "medium", DRIFT__SEVERITY__SEVERITY_MEDIUM },
    { "low", DRIFT__SEVERITY__SEVERITY_LOW },
    { "info", DRIFT__SEVERITY__SEVERITY_INFO }
};

static const struct {
    const char *name;            // as written in a file
    Drift__DriftKind kind;       // what it means
} s_kinds [] = {
    { "modified", DRIFT__DRIFT_KIND__DRIFT_KIND_MODIFIED },
    { "deleted", DRIFT__DRIFT_KIND__DRIFT_KIND_DELETED },
    { "replaced", DRIFT__DRIFT_KIND__DRIFT_KIND_REPLACED },
    { "moved", DRIFT__DRIFT_KIND__DRIFT_KIND_MOVED },
    { "ignored", DRIFT__DRIFT_KIND__DRIFT_KIND_IGNORED }
};

static const struct {
    const char *name;            // as written after `when`
    rules_when_kind_t kind;      // the predicate
    int min_args;                // arguments it needs
} s_predicates [] = {
    { "world", RULES_WHEN_WORLD, 0 },
    { "port", RULES_WHEN_PORT, 1 },
    { "port-any", RULES_WHEN_PORT_ANY, 0 },
    { "policy-wildcard", RULES_WHEN_POLICY_WILDCARD, 1 },
    { "turned-off", RULES_WHEN_TURNED_OFF, 0 },
    { "turned-on", RULES_WHEN_TURNED_ON, 0 },
    { "after", RULES_WHEN_AFTER, 1 },
    { "contains", RULES_WHEN_CONTAINS, 1 },
    { "op", RULES_WHEN_OP, 1 }
};

#define S_COUNT(array) (sizeof (array) / sizeof (array) [0])

//  Check the open rule once it has all its lines.
static int
s_finish_rule (s_parser_t *parser)
{
    if (!parser->rules->size)
        return 0;
    rules_rule_t *rule = &parser->rules->rules [parser->rules->size - 1];
    if (rule->severity == DRIFT__SEVERITY__SEVERITY_NONE)
        return s_fail (parser, parser->rule_line, "rule %s has no severity", rule->id);
    if (!rule->reason)
        return s_fail (parser, parser->rule_line, "rule %s has no reason", rule->id);
    if (rule->weight == 0)
        rule->weight = rules_default_weight (rule->severity);
    return 0;
}

//  Add the words of rest to a glob list.
static int
s_globs (s_parser_t *parser, const char *keyword, char **words, size_t n_words,
         char **globs, size_t *n_globs)
{
    if (!n_words)
        return s_fail (parser, parser->line, "%s needs at least one glob", keyword);
    for (size_t i = 0; i < n_words; i++) {
        if (*n_globs == RULES_MAX_GLOBS)
            return s_fail (parser, parser->line, "more than %d globs for %s",
                           RULES_MAX_GLOBS, keyword);
        if (strlen (words [i]) > S_MAX_GLOB)
            return s_fail (parser, parser->line, "glob longer than %d bytes", S_MAX_GLOB);
        if (!(globs [(*n_globs)++] = strdup (words [i])))
            return s_fail (parser, parser->line, "out of memory");
    }
    return 0;
}

static int
s_when (s_parser_t *parser, rules_rule_t *rule, char **words, size_t n_words)
{
    bool negate = n_words && strcmp (words [0], "not") == 0;
    if (negate) {
        words++;
        n_words--;
    }
    if (!n_words)
        return s_fail (parser, parser->line, "when needs a predicate");
    if (rule->n_when == RULES_MAX_WHEN)
        return s_fail (parser, parser->line, "more than %d when lines", RULES_MAX_WHEN);
    size_t p = 0;
    while (p < S_COUNT (s_predicates) && strcmp (s_predicates [p].name, words [0]) != 0)
        p++;
    if (p == S_COUNT (s_predicates))
        return s_fail (parser, parser->line, "unknown predicate '%s' (world, port, port-any, "
                       "policy-wildcard, turned-off, turned-on, after, contains, op)", words [0]);
    if (n_words - 1 < (size_t) s_predicates [p].min_args)
        return s_fail (parser, parser->line, "%s needs an argument", words [0]);
    if (s_predicates [p].min_args == 0 && n_words > 1)
        return s_fail (parser, parser->line, "%s takes no argument", words [0]);
    if (n_words - 1 > RULES_MAX_ARGS)
        return s_fail (parser, parser->line, "more than %d arguments", RULES_MAX_ARGS);
    rules_when_t *when = &rule->when [rule->n_when++];
    when->kind = s_predicates [p].kind;
    when->negate = negate;
    for (size_t i = 1; i < n_words; i++) {
        const char *arg = words [i];
        if (when->kind == RULES_WHEN_PORT) {
            predicates_ports_t ports;
            if (predicates_ports_parse (arg, &ports) || ports.from != ports.to)
                return s_fail (parser, parser->line, "port '%s' is not a port number", arg);
            when->ports [i - 1] = ports.from;
        }
        else
        if (when->kind == RULES_WHEN_POLICY_WILDCARD) {
            if (strcmp (arg, "action") == 0)
                when->mask |= PREDICATES_WILD_ACTION;
            else
            if (strcmp (arg, "resource") == 0)
                when->mask |= PREDICATES_WILD_RESOURCE;
            else
            if (strcmp (arg, "principal") == 0)
                when->mask |= PREDICATES_WILD_PRINCIPAL;
            else
                return s_fail (parser, parser->line,
                               "policy-wildcard takes action, resource or principal, not '%s'", arg);
        }
        else
        if (when->kind == RULES_WHEN_OP && strcmp (arg, "added") && strcmp (arg, "removed")
        &&  strcmp (arg, "changed"))
            return s_fail (parser, parser->line, "op takes added, removed or changed, not '%s'", arg);
        if (!(when->args [when->n_args++] = strdup (arg)))
            return s_fail (parser, parser->line, "out of memory");
    }
    return 0;
}

//  One line, already split into words; rest is the text after the keyword.
static int
s_line (s_parser_t *parser, char **words, size_t n_words, const char *rest)
{
    const char *keyword = words [0];
    if (strcmp (keyword, "rule") == 0) {
        if (s_finish_rule (parser))
            return -1;
        if (n_words != 2)
            return s_fail (parser, parser->line, "rule needs one id");
        for (const char *c = words [1]; *c; c++)
            if (!isalnum ((unsigned char) *c) && *c != '-' && *c != '_' && *c != '.')
                return s_fail (parser, parser->line,
                               "rule id '%s' may hold letters, digits, '-', '_' and '.' only",
                               words [1]);
        if (rules_find (parser->rules, words [1]))
            return s_fail (parser, parser->line, "rule %s is defined twice in this file",
                           words [1]);
        rules_t *rules = parser->rules;
        rules_rule_t *grown = (rules_rule_t *) realloc (rules->rules,
                                                        (rules->size + 1) * sizeof *grown);
        if (!grown)
            return s_fail (parser, parser->line, "out of memory");
        rules->rules = grown;
        rules_rule_t *rule = &rules->rules [rules->size++];
        memset (rule, 0, sizeof *rule);
        rule->class_ = DRIFT__DRIFT_CLASS__DRIFT_CLASS_REAL;
        rule->id = strdup (words [1]);
        if (asprintf (&rule->origin, "%s:%d", parser->name, parser->line) < 0)
            rule->origin = NULL;
        parser->rule_line = parser->line;
        if (!rule->id || !rule->origin)
            return s_fail (parser, parser->line, "out of memory");
        return 0;
    }
    if (!parser->rules->size)
        return s_fail (parser, parser->line, "'%s' before the first rule line", keyword);
    rules_rule_t *rule = &parser->rules->rules [parser->rules->size - 1];
    char **args = words + 1;
    size_t n_args = n_words - 1;
    if (strcmp (keyword, "engine") == 0)
        return s_globs (parser, keyword, args, n_args, rule->engines, &rule->n_engines);
    if (strcmp (keyword, "type") == 0)
        return s_globs (parser, keyword, args, n_args, rule->types, &rule->n_types);
    if (strcmp (keyword, "path") == 0)
        return s_globs (parser, keyword, args, n_args, rule->paths, &rule->n_paths);
    if (strcmp (keyword, "kind") == 0) {
        if (!n_args)
            return s_fail (parser, parser->line, "kind needs at least one kind");
        for (size_t i = 0; i < n_args; i++) {
            size_t k = 0;
            while (k < S_COUNT (s_kinds) && strcmp (s_kinds [k].name, args [i]) != 0)
                k++;
            if (k == S_COUNT (s_kinds))
                return s_fail (parser, parser->line, "unknown kind '%s' (modified, deleted, "
                               "replaced, moved, ignored)", args [i]);
            rule->kinds |= 1u << s_kinds [k].kind;
        }
        return 0;
    }
    if (strcmp (keyword, "class") == 0) {
        if (n_args == 1 && strcmp (args [0], "real") == 0)
            rule->class_ = DRIFT__DRIFT_CLASS__DRIFT_CLASS_REAL;
        else
        if (n_args == 1 && strcmp (args [0], "noise") == 0)
            rule->class_ = DRIFT__DRIFT_CLASS__DRIFT_CLASS_NOISE;
        else
            return s_fail (parser, parser->line, "class is real or noise (a mirror is never "
                           "scored: its real change carries the finding)");
        return 0;
    }
    if (strcmp (keyword, "fallback") == 0) {
        if (n_args)
            return s_fail (parser, parser->line, "fallback takes no argument");
        rule->fallback = true;
        return 0;
    }
    if (strcmp (keyword, "when") == 0)
        return s_when (parser, rule, args, n_args);
    if (strcmp (keyword, "severity") == 0) {
        for (size_t s = 0; n_args == 1 && s < S_COUNT (s_severities); s++)
            if (strcmp (s_severities [s].name, args [0]) == 0) {
                rule->severity = s_severities [s].severity;
                return 0;
            }
        return s_fail (parser, parser->line, "severity is critical, high, medium, low or info");
    }
    if (strcmp (keyword, "weight") == 0) {
        char *end = NULL;
        errno = 0;
        double weight = n_args == 1 ? strtod (args [0], &end) : 0;
        if (n_args != 1 || errno || *end || !(weight > 0 && weight <= 1))
            return s_fail (parser, parser->line, "weight is a number in (0,1]");
        rule->weight = weight;
        return 0;
    }
    if (strcmp (keyword, "reason") == 0) {
        if (!*rest)
            return s_fail (parser, parser->line, "reason needs a text");
        free (rule->reason);
        if (!(rule->reason = strdup (rest)))
            return s_fail (parser, parser->line, "out of memory");
        return 0;
    }
    return s_fail (parser, parser->line, "unknown keyword '%s'", keyword);
}

int
rules_parse (const char *name, const char *text, size_t size, rules_t **rules,
             char *error, size_t error_size)
{
    if (!rules)
        return -1;
    *rules = NULL;
    s_parser_t parser = { name ? name : "rules", 0, error, error_size, NULL, 0 };
    if (error && error_size)
        *error = 0;
    if (size > S_MAX_FILE)
        return s_fail (&parser, 0, "file larger than %u bytes", S_MAX_FILE);
    if (!text && size)
        return s_fail (&parser, 0, "no text");
    if (size && memchr (text, 0, size))
        return s_fail (&parser, 1, "file holds a NUL byte");
    parser.rules = (rules_t *) calloc (1, sizeof *parser.rules);
    if (!parser.rules)
        return s_fail (&parser, 0, "out of memory");
    const char *cursor = text;
    const char *end = text + size;
    int rc = 0;
    while (cursor < end && rc == 0) {
        parser.line++;
        const char *newline = memchr (cursor, '\n', (size_t) (end - cursor));
        size_t length = newline ? (size_t) (newline - cursor) : (size_t) (end - cursor);
        if (length > S_MAX_LINE) {
            rc = s_fail (&parser, parser.line, "line longer than %d bytes", S_MAX_LINE);
            break;
        }
        char line [S_MAX_LINE + 1];
        memcpy (line, cursor, length);
        line [length] = 0;
        cursor += length + 1;
        if (length && line [length - 1] == '\r')
            line [length - 1] = 0;
        char *start = line;
        while (isspace ((unsigned char) *start))
            start++;
        if (!*start || *start == '#')
            continue;
        //  The reason keeps its spacing: it is the text after the keyword.
        char *after = start;
        while (*after && !isspace ((unsigned char) *after))
            after++;
        while (isspace ((unsigned char) *after))
            after++;
        char rest [S_MAX_LINE + 1];
        snprintf (rest, sizeof rest, "%s", after);
        size_t rest_length = strlen (rest);
        while (rest_length && isspace ((unsigned char) rest [rest_length - 1]))
            rest [--rest_length] = 0;
        char *words [RULES_MAX_GLOBS + 2];
        size_t n_words = 0;
        char *save = NULL;
        for (char *word = strtok_r (start, " \t", &save); word;
             word = strtok_r (NULL, " \t", &save)) {
            if (n_words == S_COUNT (words) && strcmp (words [0], "reason") != 0) {
                rc = s_fail (&parser, parser.line, "too many words on a line");
                break;
            }
            if (n_words < S_COUNT (words))
                words [n_words++] = word;
        }
        if (rc == 0)
            rc = s_line (&parser, words, n_words, rest);
    }
    if (rc == 0)
        rc = s_finish_rule (&parser);
    if (rc == 0 && parser.rules->size == 0)
        rc = s_fail (&parser, parser.line ? parser.line : 1, "no rule in the file");
    if (rc) {
        rules_destroy (&parser.rules);
        return -1;
    }
    *rules = parser.rules;
    return 0;
}

int
rules_load (const char *path, rules_t **rules, char *error, size_t error_size)
{
    if (rules)
        *rules = NULL;
    FILE *file = fopen (path, "rb");
    if (!file) {
        snprintf (error, error_size, "%s: %s", path, strerror (errno));
        return -1;
    }
    char *text = (char *) malloc (S_MAX_FILE + 1);
    size_t size = text ? fread (text, 1, S_MAX_FILE + 1, file) : 0;
    bool failed = !text || ferror (file);
    fclose (file);
    if (failed) {
        snprintf (error, error_size, "%s: cannot read the file", path);
        free (text);
        return -1;
    }
    int rc = rules_parse (path, text, size, rules, error, error_size);
    free (text);
    return rc;
}
