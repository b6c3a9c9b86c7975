/*  score: the rule engine over canonical reports; see score.h for what it
    answers and docs/RULES.md for how rules match.

    Rules are tried in a fixed order (severity first, strongest first, then
    as written; fallback rules last), so the same report always gives the
    same findings. A rule that matches an item covers the changes its path
    globs name: a fallback rule (the "any other change" defaults) only sees
    changes no other rule covered, so a security group whose SSH rule opened
    to the world gets the critical finding, not also a generic one.
*/
#define _GNU_SOURCE
#include "score.h"
#include "element.h"
#include "../../lib/jdoc.h"
#include "predicates.h"
#include "rules.h"
#include "../../lib/textbuf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

//  Values quoted in a reason are cut to this many bytes.
#define S_MAX_VALUE 120
//  Strings looked at inside one value (a CIDR list, a member list).
#define S_MAX_DEPTH 16

struct _score_t {
    rules_t *builtin;            // the built-in pack, parsed once
    rules_t *rules;              // in use: built-in merged with the overrides
    size_t *order;               // indexes into rules, in matching order
};

//  --------------------------------------------------------------------------
//  Rule sets

//  Matching order: non-fallback before fallback, stronger first, then as
//  written (the index breaks ties: qsort is not stable).
static int
s_compare (const void *a, const void *b, void *arg)
{
    const rules_t *rules = (const rules_t *) arg;
    const rules_rule_t *x = &rules->rules [*(const size_t *) a];
    const rules_rule_t *y = &rules->rules [*(const size_t *) b];
    if (x->fallback != y->fallback)
        return x->fallback ? 1 : -1;
    if (x->severity != y->severity)
        return x->severity > y->severity ? -1 : 1;
    size_t i = *(const size_t *) a, j = *(const size_t *) b;
    return i < j ? -1 : i > j;
}

//  Put rules in use (taking them); -1 if memory ran out (rules destroyed).
static int
s_use (score_t *self, rules_t *rules)
{
    size_t *order = (size_t *) malloc ((rules->size ? rules->size : 1) * sizeof *order);
    if (!order) {
        rules_destroy (&rules);
        return -1;
    }
    for (size_t i = 0; i < rules->size; i++)
        order [i] = i;
    qsort_r (order, rules->size, sizeof *order, s_compare, rules);
    rules_destroy (&self->rules);
    free (self->order);
    self->rules = rules;
    self->order = order;
    return 0;
}

score_t *
score_new (void)
{
    score_t *self = (score_t *) calloc (1, sizeof *self);
    if (!self)
        return NULL;
    char error [512];
    if (rules_parse ("builtin.rules", rules_builtin_text, strlen (rules_builtin_text),
                     &self->builtin, error, sizeof error)) {
        fprintf (stderr, "score: the built-in rule pack does not parse: %s\n", error);
        score_destroy (&self);
        return NULL;
    }
    score_clear_overrides (self);
    if (!self->rules)
        score_destroy (&self);
    return self;
}

void
score_destroy (score_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    score_t *self = *self_p;
    rules_destroy (&self->builtin);
    rules_destroy (&self->rules);
    free (self->order);
    free (self);
    *self_p = NULL;
}

static int
s_override (score_t *self, rules_t *overrides, char *error, size_t error_size)
{
    rules_t *merged = rules_merge (self->builtin, overrides);
    rules_destroy (&overrides);
    if (!merged || s_use (self, merged)) {
        snprintf (error, error_size, "out of memory merging the rules");
        return -1;
    }
    return 0;
}

int
score_load_file (score_t *self, const char *path, char *error, size_t error_size)
{
    rules_t *overrides;
    if (rules_load (path, &overrides, error, error_size))
        return -1;
    return s_override (self, overrides, error, error_size);
}

int
score_load_text (score_t *self, const char *name, const char *text, size_t size,
                 char *error, size_t error_size)
{
    rules_t *overrides;
    if (rules_parse (name, text, size, &overrides, error, error_size))
        return -1;
    return s_override (self, overrides, error, error_size);
}

int
score_add_text (score_t *self, const char *name, const char *text, size_t size,
                char *error, size_t error_size)
{
    rules_t *more;
    if (rules_parse (name, text, size, &more, error, error_size))
        return -1;
    rules_t *merged = rules_merge (self->rules, more);
    rules_destroy (&more);
    if (!merged || s_use (self, merged)) {
        snprintf (error, error_size, "out of memory merging the rules");
        return -1;
    }
    return 0;
}

void
score_clear_overrides (score_t *self)
{
    rules_t *merged = rules_merge (self->builtin, NULL);
    if (merged)
        s_use (self, merged);
}

size_t
score_rules (score_t *self)
{
    return self->rules ? self->rules->size : 0;
}

const rules_rule_t *
score_rule (score_t *self, const char *id)
{
    return self->rules ? rules_find (self->rules, id) : NULL;
}

//  --------------------------------------------------------------------------
//  The formula

unsigned
score_formula (const double *weights, size_t count)
{
    double rest = 1;
    for (size_t i = 0; i < count; i++) {
        double weight = weights [i];
        if (!(weight > 0))
            continue;
        rest *= 1 - (weight > 1 ? 1 : weight);
    }
    return (unsigned) (100 * (1 - rest) + 0.5);
}

void
score_recompute (Drift__ScoredReport *scored)
{
    double rest = 1;
    scored->severity = DRIFT__SEVERITY__SEVERITY_NONE;
    for (size_t i = 0; i < scored->n_findings; i++) {
        const Drift__Finding *finding = scored->findings [i];
        if (finding->suppressed)
            continue;
        double weight = finding->weight > 1 ? 1 : finding->weight;
        if (weight > 0)
            rest *= 1 - weight;
        if (finding->severity > scored->severity)
            scored->severity = finding->severity;
    }
    scored->score = (uint32_t) (100 * (1 - rest) + 0.5);
}

//  --------------------------------------------------------------------------
//  Findings

static void
s_free_string (char *text)
{
    if (text && text != protobuf_c_empty_string)
        free (text);
}

static void
s_finding_free (Drift__Finding *finding)
{
    if (!finding)
        return;
    s_free_string (finding->rule);
    s_free_string (finding->reason);
    s_free_string (finding->address);
    s_free_string (finding->path);
    s_free_string (finding->fingerprint);
    s_free_string (finding->suppressed_by);
    free (finding);
}

void
score_scored_destroy (Drift__ScoredReport **scored_p)
{
    if (!scored_p || !*scored_p)
        return;
    Drift__ScoredReport *scored = *scored_p;
    for (size_t i = 0; i < scored->n_findings; i++)
        s_finding_free (scored->findings [i]);
    free (scored->findings);
    free (scored);
    *scored_p = NULL;
}

int
score_suppress (Drift__Finding *finding, const char *by)
{
    char *copy = strdup (by ? by : "");
    if (!copy)
        return -1;
    s_free_string (finding->suppressed_by);
    finding->suppressed_by = copy;
    finding->suppressed = true;
    return 0;
}

//  --------------------------------------------------------------------------
//  Matching one item

//  What a predicate found, for the reason.
typedef struct {
    char source [S_MAX_VALUE];   // the world-open source seen
    char value [S_MAX_VALUE];    // the listed value seen (contains, after)
    char wildcards [64];         // the policy wildcards granted
    element_ports_t ports;       // the element's ports, when looked at
    bool ports_known;            // ports was filled
} s_seen_t;

//  Ports of each change's element, found once per item: every port rule
//  asks for them.
typedef struct {
    element_ports_t *ports;      // per change
    bool *known;                 // per change: ports [i] was filled
} s_ports_cache_t;

static void
s_ports (const Drift__DriftItem *item, size_t index, s_ports_cache_t *cache, s_seen_t *seen)
{
    if (!cache->known [index]) {
        element_ports (item, index, &cache->ports [index]);
        cache->known [index] = true;
    }
    seen->ports = cache->ports [index];
    seen->ports_known = true;
}

//  The class of a change: its top-level attribute's, else the item's.
static Drift__DriftClass
s_change_class (const Drift__DriftItem *item, const Drift__AttributeChange *change)
{
    size_t length = strcspn (change->path, ".[");
    for (size_t i = 0; i < item->n_attributes; i++) {
        const Drift__AttributeClass *attribute = item->attributes [i];
        if (strlen (attribute->name) == length && strncmp (attribute->name, change->path, length) == 0)
            return attribute->class_;
    }
    return item->class_;
}

//  A string test: the text, whether it sits under a key (or path) naming an
//  address prefix, and the test's argument.
typedef bool (s_test_fn) (const char *text, bool prefix, void *arg);

static jdoc_t *
s_parse (const char *json, size_t length)
{
    if (!json || !length)
        return NULL;
    jdoc_limits_t limits = { S_MAX_DEPTH * 2, 0 };
    jdoc_error_t error;
    return jdoc_parse (json, length, &limits, &error);
}

//  Whether a string at any depth of value passes test (strings holding
//  JSON, as policies do, are looked into); the first is copied to found.
static bool
s_find (const jdoc_value_t *value, int depth, bool prefix, s_test_fn *test, void *arg,
        char *found, size_t size)
{
    if (depth > S_MAX_DEPTH)
        return false;
    jdoc_type_t type = jdoc_type (value);
    if (type == JDOC_STRING) {
        size_t length;
        const char *text = jdoc_string (value, &length);
        if (length && (text [0] == '{' || text [0] == '[')) {
            jdoc_t *inner = s_parse (text, length);
            bool hit = inner && s_find (jdoc_root (inner), depth + 1, prefix, test, arg,
                                        found, size);
            jdoc_destroy (&inner);
            if (hit)
                return true;
        }
        if (!test (text, prefix, arg))
            return false;
        snprintf (found, size, "%s", text);
        return true;
    }
    for (size_t i = 0; (type == JDOC_ARRAY || type == JDOC_OBJECT) && i < jdoc_size (value); i++) {
        const char *key = type == JDOC_OBJECT ? jdoc_key_at (value, i, NULL) : NULL;
        bool under = prefix || (key && strcasestr (key, "prefix"));
        if (s_find (jdoc_at (value, i), depth + 1, under, test, arg, found, size))
            return true;
    }
    return false;
}

static bool
s_is_world (const char *text, bool prefix, void *arg)
{
    (void) arg;
    return prefix ? predicates_source_is_world (text) : predicates_cidr_is_world (text) == 1;
}

static bool
s_is_listed (const char *text, bool prefix, void *arg)
{
    (void) prefix;
    const rules_when_t *when = (const rules_when_t *) arg;
    for (size_t i = 0; i < when->n_args; i++)
        if (strcmp (text, when->args [i]) == 0)
            return true;
    return false;
}

static bool
s_is_text (const char *text, bool prefix, void *arg)
{
    (void) prefix;
    return strcmp (text, (const char *) arg) == 0;
}

//  A string in the new value that passes test and that the old value did
//  not hold, copied into found.
static bool
s_new_string (const Drift__AttributeChange *change, s_test_fn *test, void *arg,
              char *found, size_t size)
{
    bool prefix = strcasestr (change->path, "prefix") != NULL;
    jdoc_t *after = s_parse (change->after, strlen (change->after));
    bool fresh = after && s_find (jdoc_root (after), 0, prefix, test, arg, found, size);
    jdoc_destroy (&after);
    if (fresh) {
        char old [S_MAX_VALUE];
        jdoc_t *before = s_parse (change->before, strlen (change->before));
        fresh = !before || !s_find (jdoc_root (before), 0, prefix, s_is_text, found,
                                    old, sizeof old);
        jdoc_destroy (&before);
    }
    return fresh;
}

static bool
s_when (const rules_when_t *when, const Drift__DriftItem *item, size_t index, s_seen_t *seen,
        s_ports_cache_t *cache)
{
    const Drift__AttributeChange *change = item->changes [index];
    switch (when->kind) {
        case RULES_WHEN_WORLD:
            //  Without "/0" the value holds no world CIDR, and without a
            //  prefix in sight no word for every source: no need to parse.
            if (!strstr (change->after, "/0") && !strcasestr (change->path, "prefix")
            &&  !strcasestr (change->after, "prefix"))
                return false;
            return s_new_string (change, s_is_world, NULL, seen->source, sizeof seen->source);
        case RULES_WHEN_PORT:
        case RULES_WHEN_PORT_ANY:
            s_ports (item, index, cache, seen);
            for (size_t r = 0; r < seen->ports.size; r++) {
                const predicates_ports_t *range = &seen->ports.ranges [r];
                if (when->kind == RULES_WHEN_PORT_ANY && range->all)
                    return true;
                for (size_t p = 0; when->kind == RULES_WHEN_PORT && p < when->n_args; p++)
                    if (predicates_ports_include (range, when->ports [p]))
                        return true;
            }
            return false;
        case RULES_WHEN_POLICY_WILDCARD: {
            if (!strchr (change->after, '*'))
                return false;
            unsigned granted = predicates_policy_wildcards_text (change->after)
                             & ~predicates_policy_wildcards_text (change->before) & when->mask;
            if (!granted)
                return false;
            snprintf (seen->wildcards, sizeof seen->wildcards, "%s%s%s",
                      granted & PREDICATES_WILD_ACTION ? "Action \"*\" " : "",
                      granted & PREDICATES_WILD_RESOURCE ? "Resource \"*\" " : "",
                      granted & PREDICATES_WILD_PRINCIPAL ? "Principal \"*\" " : "");
            size_t length = strlen (seen->wildcards);
            if (length)
                seen->wildcards [length - 1] = 0;
            return true;
        }
        case RULES_WHEN_TURNED_OFF:
            return strcmp (change->before, "true") == 0 && strcmp (change->after, "false") == 0;
        case RULES_WHEN_TURNED_ON:
            return strcmp (change->after, "true") == 0
                && (strcmp (change->before, "false") == 0 || !*change->before
                    || strcmp (change->before, "null") == 0);
        case RULES_WHEN_AFTER:
            for (size_t i = 0; i < when->n_args; i++)
                if (strcmp (change->after, when->args [i]) == 0) {
                    snprintf (seen->value, sizeof seen->value, "%s", change->after);
                    return true;
                }
            return false;
        case RULES_WHEN_CONTAINS: {
            //  A listed value shows in the new value's text (the listed
            //  values are plain words and URLs, which JSON never escapes,
            //  even in a policy held as a string): else no need to parse.
            bool present = false;
            for (size_t i = 0; !present && i < when->n_args; i++)
                present = strstr (change->after, when->args [i]) != NULL;
            return present && s_new_string (change, s_is_listed, (void *) when, seen->value,
                                            sizeof seen->value);
        }
        case RULES_WHEN_OP: {
            const char *op = change->op == DRIFT__CHANGE_OP__CHANGE_OP_ADDED ? "added"
                           : change->op == DRIFT__CHANGE_OP__CHANGE_OP_REMOVED ? "removed"
                           : "changed";
            for (size_t i = 0; i < when->n_args; i++)
                if (strcmp (op, when->args [i]) == 0)
                    return true;
            return false;
        }
    }
    return false;
}

static bool
s_any_glob (char *const *globs, size_t count, const char *text)
{
    for (size_t i = 0; i < count; i++)
        if (rules_glob_match (globs [i], text))
            return true;
    return false;
}

static const char *
s_kind_name (Drift__DriftKind kind)
{
    switch (kind) {
        case DRIFT__DRIFT_KIND__DRIFT_KIND_MODIFIED: return "modified";
        case DRIFT__DRIFT_KIND__DRIFT_KIND_DELETED:  return "deleted";
        case DRIFT__DRIFT_KIND__DRIFT_KIND_REPLACED: return "replaced";
        case DRIFT__DRIFT_KIND__DRIFT_KIND_MOVED:    return "moved";
        case DRIFT__DRIFT_KIND__DRIFT_KIND_IGNORED:  return "ignored";
        default:                                     return "changed";
    }
}

//  A value for a reason, cut to S_MAX_VALUE bytes.
static void
s_add_value (textbuf_t *text, const char *value)
{
    size_t length = strlen (value);
    if (length <= S_MAX_VALUE)
        textbuf_add (text, value, length);
    else {
        textbuf_add (text, value, S_MAX_VALUE);
        textbuf_adds (text, "...");
    }
}

//  The reason: the rule's template with its placeholders filled. change
//  is the index of the change that matched, or -1 for the whole item.
static char *
s_reason (const rules_rule_t *rule, const Drift__DriftItem *item, long index,
          const char *paths, s_seen_t *seen)
{
    const Drift__AttributeChange *change = index >= 0 ? item->changes [index] : NULL;
    textbuf_t text = TEXTBUF_INIT;
    for (const char *c = rule->reason; *c; c++) {
        const char *close = *c == '{' ? strchr (c, '}') : NULL;
        if (!close || close - c > 16) {
            textbuf_addc (&text, *c);
            continue;
        }
        char name [32];
        snprintf (name, sizeof name, "%.*s", (int) (close - c - 1), c + 1);
        if (strcmp (name, "address") == 0)
            textbuf_adds (&text, item->address);
        else
        if (strcmp (name, "type") == 0)
            textbuf_adds (&text, item->type);
        else
        if (strcmp (name, "name") == 0)
            textbuf_adds (&text, item->name);
        else
        if (strcmp (name, "kind") == 0)
            textbuf_adds (&text, s_kind_name (item->kind));
        else
        if (strcmp (name, "path") == 0)
            textbuf_adds (&text, change ? change->path : "");
        else
        if (strcmp (name, "paths") == 0)
            s_add_value (&text, paths);
        else
        if (strcmp (name, "block") == 0)
            textbuf_add (&text, change ? change->path : "",
                         change ? strcspn (change->path, ".[") : 0);
        else
        if (strcmp (name, "before") == 0)
            s_add_value (&text, change && *change->before ? change->before : "(none)");
        else
        if (strcmp (name, "after") == 0)
            s_add_value (&text, change && *change->after ? change->after : "(none)");
        else
        if (strcmp (name, "source") == 0)
            textbuf_adds (&text, seen->source);
        else
        if (strcmp (name, "value") == 0)
            textbuf_adds (&text, seen->value);
        else
        if (strcmp (name, "wildcards") == 0)
            textbuf_adds (&text, seen->wildcards);
        else
        if (strcmp (name, "ports") == 0) {
            char ports [128];
            if (!seen->ports_known && change) {
                element_ports (item, (size_t) index, &seen->ports);
                seen->ports_known = true;
            }
            element_ports_text (&seen->ports, ports, sizeof ports);
            textbuf_adds (&text, ports);
        }
        else
            //  Not a placeholder: written as it is.
            textbuf_add (&text, c, (size_t) (close - c + 1));
        c = close;
    }
    return textbuf_detach (&text);
}

//  Kinds a rule looks at when it names none: noise rules every kind, the
//  others the kinds that change something.
static unsigned
s_kinds (const rules_rule_t *rule)
{
    if (rule->kinds)
        return rule->kinds;
    if (rule->class_ == DRIFT__DRIFT_CLASS__DRIFT_CLASS_NOISE)
        return ~0u;
    return 1u << DRIFT__DRIFT_KIND__DRIFT_KIND_MODIFIED | 1u << DRIFT__DRIFT_KIND__DRIFT_KIND_DELETED
         | 1u << DRIFT__DRIFT_KIND__DRIFT_KIND_REPLACED;
}

//  The state of scoring one item.
typedef struct {
    const Drift__CanonicalReport *report; // the report
    const Drift__DriftItem *item; // the item
    size_t index;                // its index in report->items
    bool *covered;               // per change: a rule matched it
    Drift__DriftClass *classes;  // per change: its class
    s_ports_cache_t cache;       // per change: its element's ports
    size_t findings;             // findings made for the item so far
} s_item_t;

static Drift__Finding *
s_finding (const rules_rule_t *rule, s_item_t *state, long change, const char *paths,
           s_seen_t *seen)
{
    Drift__Finding *finding = (Drift__Finding *) malloc (sizeof *finding);
    if (!finding)
        return NULL;
    drift__finding__init (finding);
    const Drift__DriftItem *item = state->item;
    finding->rule = strdup (rule->id);
    finding->severity = rule->severity;
    finding->weight = rule->weight;
    finding->reason = s_reason (rule, item, change, paths, seen);
    finding->address = strdup (item->address);
    finding->path = strdup (change >= 0 ? item->changes [change]->path : "");
    finding->fingerprint = strdup (item->fingerprint);
    finding->item = (uint32_t) state->index;
    finding->kind = item->kind;
    if (!finding->rule || !finding->reason || !finding->address || !finding->path
    ||  !finding->fingerprint) {
        s_finding_free (finding);
        return NULL;
    }
    return finding;
}

//  Try rule on the item. Returns 1 with *finding set when it matched, 0
//  when it did not, -1 if memory ran out.
static int
s_try (const rules_rule_t *rule, s_item_t *state, Drift__Finding **finding)
{
    const Drift__DriftItem *item = state->item;
    if (rule->n_engines && !s_any_glob (rule->engines, rule->n_engines, state->report->engine))
        return 0;
    if (rule->n_types && !s_any_glob (rule->types, rule->n_types, item->type))
        return 0;
    if ((unsigned) item->kind > 31 || !(s_kinds (rule) & (1u << item->kind)))
        return 0;
    static char *const s_everything [] = { "**" };
    char *const *paths = rule->paths;
    size_t n_paths = rule->n_paths;
    if (!n_paths && rule->n_when) {
        paths = s_everything;
        n_paths = 1;
    }
    s_seen_t seen = { 0 };
    if (!n_paths) {
        //  A rule on the whole item.
        if (item->class_ != rule->class_)
            return 0;
        long first = -1;
        for (size_t i = 0; i < item->n_changes && first < 0; i++)
            if (state->classes [i] == rule->class_ && !state->covered [i])
                first = (long) i;
        if (rule->fallback && !(first >= 0 || (!item->n_changes && !state->findings)))
            return 0;
        for (size_t i = 0; i < item->n_changes; i++)
            state->covered [i] = true;
        *finding = s_finding (rule, state, first, first >= 0 ? item->changes [first]->path : "",
                              &seen);
        return *finding ? 1 : -1;
    }
    long first = -1;
    textbuf_t matched = TEXTBUF_INIT;
    for (size_t i = 0; i < item->n_changes; i++) {
        const Drift__AttributeChange *change = item->changes [i];
        if (state->classes [i] != rule->class_ || (rule->fallback && state->covered [i])
        ||  !s_any_glob (paths, n_paths, change->path))
            continue;
        s_seen_t here = { 0 };
        bool holds = true;
        for (size_t w = 0; holds && w < rule->n_when; w++)
            holds = s_when (&rule->when [w], item, i, &here, &state->cache)
                 != rule->when [w].negate;
        if (!holds)
            continue;
        if (first < 0) {
            first = (long) i;
            seen = here;
        }
        if (matched.size)
            textbuf_adds (&matched, ", ");
        textbuf_adds (&matched, change->path);
    }
    if (first < 0) {
        textbuf_reset (&matched);
        return 0;
    }
    for (size_t i = 0; i < item->n_changes; i++)
        if (state->classes [i] == rule->class_ && s_any_glob (paths, n_paths, item->changes [i]->path))
            state->covered [i] = true;
    char *list = textbuf_detach (&matched);
    *finding = list ? s_finding (rule, state, first, list, &seen) : NULL;
    free (list);
    return *finding ? 1 : -1;
}

//  --------------------------------------------------------------------------
//  Scoring a report

static int
s_append (Drift__ScoredReport *scored, size_t *capacity, Drift__Finding *finding)
{
    if (scored->n_findings == *capacity) {
        size_t grown = *capacity ? *capacity * 2 : 16;
        Drift__Finding **findings = (Drift__Finding **) realloc (scored->findings,
                                                                grown * sizeof *findings);
        if (!findings)
            return -1;
        scored->findings = findings;
        *capacity = grown;
    }
    scored->findings [scored->n_findings++] = finding;
    return 0;
}

Drift__ScoredReport *
score_report (score_t *self, Drift__CanonicalReport *report)
{
    Drift__ScoredReport *scored = (Drift__ScoredReport *) malloc (sizeof *scored);
    if (!scored)
        return NULL;
    drift__scored_report__init (scored);
    scored->report = report;
    if (!report || report->status == DRIFT__REPORT_STATUS__REPORT_STATUS_FAILED)
        return scored;
    size_t capacity = 0;
    bool *covered = NULL;
    Drift__DriftClass *classes = NULL;
    element_ports_t *ports = NULL;
    bool *known = NULL;
    for (size_t n = 0; n < report->n_items; n++) {
        const Drift__DriftItem *item = report->items [n];
        //  A mirror repeats a change that its real item carries.
        if (item->class_ == DRIFT__DRIFT_CLASS__DRIFT_CLASS_MIRROR)
            continue;
        size_t changes = item->n_changes ? item->n_changes : 1;
        free (covered);
        free (classes);
        covered = (bool *) calloc (changes, sizeof *covered);
        classes = (Drift__DriftClass *) calloc (changes, sizeof *classes);
        free (ports);
        free (known);
        ports = (element_ports_t *) malloc (changes * sizeof *ports);
        known = (bool *) calloc (changes, sizeof *known);
        if (!covered || !classes || !ports || !known)
            goto failed;
        for (size_t i = 0; i < item->n_changes; i++)
            classes [i] = s_change_class (item, item->changes [i]);
        s_item_t state = { report, item, n, covered, classes, { ports, known }, 0 };
        for (size_t r = 0; r < self->rules->size; r++) {
            Drift__Finding *finding = NULL;
            int rc = s_try (&self->rules->rules [self->order [r]], &state, &finding);
            if (rc < 0)
                goto failed;
            if (rc == 0)
                continue;
            if (s_append (scored, &capacity, finding)) {
                s_finding_free (finding);
                goto failed;
            }
            state.findings++;
        }
    }
    free (covered);
    free (classes);
    free (ports);
    free (known);
    score_recompute (scored);
    return scored;
failed:
    free (covered);
    free (classes);
    free (ports);
    free (known);
    score_scored_destroy (&scored);
    return NULL;
}
