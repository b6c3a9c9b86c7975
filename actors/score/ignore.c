/*  ignore: `.driftignore` suppression rules (docs/IGNORE.md).

    A pattern and a subject (an address, and an attribute path beneath it)
    are both split into segments at the dots that stand outside brackets.
    A segment is a name with an optional index: `web["a"]` is the name `web`
    with the index `"a"`, `ingress[0]` the name `ingress` with the index
    `0`. A pattern segment without an index matches every index of its
    name, so `aws_security_group.web` covers every instance of the resource.

    In an attribute path a bracketed string is a map key, which the engine
    brackets only because it is not an identifier (`tags["kubernetes.io/role"]`);
    the subject makes it a segment of its own, so `tags.*` covers it as it
    covers `tags.env`. A pattern cannot tell an address from a path, so it
    keeps every bracket as an index, and the matcher lets `tags["a.b"]` in a
    pattern match a name followed by that key segment.

    A pattern matches a subject when it matches its first segments: a
    resource covers its attributes, an attribute its sub-attributes, and a
    module all its resources. Matching is a table over (pattern segment,
    subject segment), each cell computed once, and a segment's own `*`
    globs use the classic one-star backtrack, which is linear per star: no
    regular expressions anywhere.
*/
#define _GNU_SOURCE                 // strndup
#include "ignore.h"
#include "score.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

//  Limits that keep a hostile file from costing much: a pattern longer
//  than these is refused with its line.
#define IGNORE_MAX_SEGMENTS 256
#define IGNORE_MAX_PATTERN 4096

//  One segment of a pattern or of a subject.
typedef struct {
    char *name;             // the name, a glob in a pattern; a key without its quotes
    char *index;            // the text between the brackets (`0`, `"a"`), NULL without
    char *key;              // subject only: a path's bracketed key as written, quotes included
    bool any;               // pattern only: `**`, any number of segments
} s_segment_t;

//  A split pattern or subject.
typedef struct {
    s_segment_t *segments;  // in order
    size_t count;           // how many
} s_split_t;

//  One line with a pattern.
typedef struct {
    char *pattern;          // as written, without `!` (to split again on merge)
    s_split_t split;        // the pattern's segments
    bool negate;            // `!`: re-include what earlier lines ignored
    int64_t expires;        // Unix seconds from which the line no longer applies, 0: never
    char *by;               // "NAME:LINE PATTERN", what a suppressed finding records
} s_rule_t;

struct _ignore_t {
    s_rule_t *rules;        // in file order; the last match decides
    size_t count;           // rules used
    size_t capacity;        // rules allocated
};

//  How brackets are read: a pattern and an address keep every bracket as
//  its segment's index; a path makes a bracketed string a key segment.
typedef enum { S_PATTERN, S_ADDRESS, S_PATH } s_context_t;


//  --------------------------------------------------------------------------
//  Splitting into segments

static void
s_split_free (s_split_t *split)
{
    for (size_t index = 0; index < split->count; index++) {
        free (split->segments [index].name);
        free (split->segments [index].index);
        free (split->segments [index].key);
    }
    free (split->segments);
    split->segments = NULL;
    split->count = 0;
}

static s_segment_t *
s_split_add (s_split_t *split)
{
    s_segment_t *grown = (s_segment_t *) realloc (split->segments,
                                                  (split->count + 1) * sizeof *grown);
    if (!grown)
        return NULL;
    split->segments = grown;
    s_segment_t *segment = &grown [split->count++];
    memset (segment, 0, sizeof *segment);
    return segment;
}

//  The end of the bracket opened at text [start] (the index of its `]`),
//  stepping over JSON strings so `["a]b"]` is one bracket; 0 if unclosed.
static size_t
s_bracket_end (const char *text, size_t size, size_t start)
{
    bool in_string = false;
    for (size_t at = start + 1; at < size; at++) {
        char c = text [at];
        if (in_string) {
            if (c == '\\')
                at++;
            else
            if (c == '"')
                in_string = false;
        }
        else
        if (c == '"')
            in_string = true;
        else
        if (c == ']')
            return at;
    }
    return 0;
}

//  Append bracket text to a segment's index: `a[0][1]` keeps `0][1`.
static int
s_add_index (s_segment_t *segment, const char *text, size_t size)
{
    size_t old = segment->index ? strlen (segment->index) : 0;
    char *index = (char *) malloc (old + 2 + size + 1);
    if (!index)
        return -1;
    if (segment->index) {
        memcpy (index, segment->index, old);
        memcpy (index + old, "][", 2);
        old += 2;
    }
    memcpy (index + old, text, size);
    index [old + size] = 0;
    free (segment->index);
    segment->index = index;
    return 0;
}

//  Split text into segments. Returns 0, or -1 with *reason set (a static
//  string) and split freed.
static int
s_split (const char *text, size_t size, s_context_t context, s_split_t *split,
         const char **reason)
{
    memset (split, 0, sizeof *split);
    size_t at = 0;
    while (true) {
        size_t start = at;
        while (at < size && text [at] != '.' && text [at] != '[')
            at++;
        if (at == start) {
            *reason = "empty segment (two dots, or a dot or bracket at an end)";
            goto fail;
        }
        s_segment_t *segment = s_split_add (split);
        if (!segment || !(segment->name = strndup (text + start, at - start)))
            goto oom;
        if (context == S_PATTERN && strcmp (segment->name, "**") == 0)
            segment->any = true;
        while (at < size && text [at] == '[') {
            size_t end = s_bracket_end (text, size, at);
            if (!end) {
                *reason = "unclosed [";
                goto fail;
            }
            const char *inside = text + at + 1;
            size_t length = end - at - 1;
            if (length == 0) {
                *reason = "empty []";
                goto fail;
            }
            if (segment->any) {
                *reason = "** cannot carry an index";
                goto fail;
            }
            if (context == S_PATH && inside [0] == '"' && length >= 2) {
                segment = s_split_add (split);
                if (!segment
                ||  !(segment->name = strndup (inside + 1, length - 2))
                ||  !(segment->key = strndup (inside, length)))
                    goto oom;
            }
            else
            if (s_add_index (segment, inside, length))
                goto oom;
            at = end + 1;
        }
        if (at == size)
            break;
        if (text [at] != '.') {
            *reason = "expected . or [ after ]";
            goto fail;
        }
        at++;
        if (split->count >= IGNORE_MAX_SEGMENTS && context == S_PATTERN) {
            *reason = "more than 256 segments";
            goto fail;
        }
    }
    return 0;
oom:
    *reason = "out of memory";
fail:
    s_split_free (split);
    return -1;
}


//  --------------------------------------------------------------------------
//  Matching

//  Whether glob (`*`: any run of characters) matches all of text. When a
//  later character fails, only the last `*` is moved on: a match with
//  more stars never needs an earlier one moved, so this is linear per star.
static bool
s_glob (const char *glob, const char *text)
{
    const char *star = NULL, *resume = NULL;
    while (*text) {
        if (*glob == '*') {
            star = glob++;
            resume = text;
        }
        else
        if (*glob == *text) {
            glob++;
            text++;
        }
        else
        if (star) {
            glob = star + 1;
            text = ++resume;
        }
        else
            return false;
    }
    while (*glob == '*')
        glob++;
    return *glob == 0;
}

static bool
s_segment_matches (const s_segment_t *pattern, const s_segment_t *subject)
{
    if (!s_glob (pattern->name, subject->name))
        return false;
    return !pattern->index || (subject->index && s_glob (pattern->index, subject->index));
}

//  Whether pattern matches the first segments of subject. cell [i][j]:
//  pattern segments from i on match subject segments from j on.
static bool
s_split_matches (const s_split_t *pattern, const s_split_t *subject)
{
    size_t rows = pattern->count + 1, columns = subject->count + 2;
    bool *cell = (bool *) calloc (rows * columns, sizeof *cell);
    if (!cell)
        return false;           // out of memory: suppress nothing, the finding still shows
#define CELL(i, j) cell [(i) * columns + (j)]
    for (size_t j = 0; j < columns; j++)
        CELL (pattern->count, j) = true;
    for (size_t i = pattern->count; i-- > 0;) {
        const s_segment_t *segment = &pattern->segments [i];
        for (size_t j = subject->count + 1; j-- > 0;) {
            bool match = false;
            if (segment->any)
                match = CELL (i + 1, j) || (j < subject->count && CELL (i, j + 1));
            else
            if (j < subject->count) {
                const s_segment_t *here = &subject->segments [j];
                match = s_segment_matches (segment, here) && CELL (i + 1, j + 1);
                //  `tags["a.b"]` in a pattern against the path's `tags` then key "a.b".
                if (!match && segment->index && !here->index && j + 1 < subject->count
                &&  subject->segments [j + 1].key)
                    match = s_glob (segment->name, here->name)
                         && s_glob (segment->index, subject->segments [j + 1].key)
                         && CELL (i + 1, j + 2);
            }
            CELL (i, j) = match;
        }
    }
    bool result = CELL (0, 0);
#undef CELL
    free (cell);
    return result;
}

bool
ignore_matches (const ignore_t *self, const char *address, const char *path,
                int64_t now, const char **by)
{
    if (!self || !self->count || !address)
        return false;
    const char *reason;
    s_split_t subject;
    if (s_split (address, strlen (address), S_ADDRESS, &subject, &reason))
        return false;           // not an address we can read: nothing suppresses it
    if (path && *path) {
        s_split_t tail;
        if (s_split (path, strlen (path), S_PATH, &tail, &reason)) {
            s_split_free (&subject);
            return false;
        }
        s_segment_t *joined = (s_segment_t *) realloc (subject.segments,
            (subject.count + tail.count) * sizeof *joined);
        if (!joined) {
            s_split_free (&tail);
            s_split_free (&subject);
            return false;
        }
        memcpy (joined + subject.count, tail.segments, tail.count * sizeof *joined);
        subject.segments = joined;
        subject.count += tail.count;
        free (tail.segments);
    }
    const s_rule_t *decided = NULL;
    for (size_t index = self->count; index-- > 0 && !decided;) {
        const s_rule_t *rule = &self->rules [index];
        if (rule->expires && now >= rule->expires)
            continue;
        if (s_split_matches (&rule->split, &subject))
            decided = rule;
    }
    s_split_free (&subject);
    if (!decided || decided->negate)
        return false;
    if (by)
        *by = decided->by;
    return true;
}


//  --------------------------------------------------------------------------
//  Parsing

static void
s_rule_free (s_rule_t *rule)
{
    free (rule->pattern);
    free (rule->by);
    s_split_free (&rule->split);
}

static s_rule_t *
s_add_rule (ignore_t *self)
{
    if (self->count == self->capacity) {
        size_t capacity = self->capacity ? self->capacity * 2 : 16;
        s_rule_t *grown = (s_rule_t *) realloc (self->rules, capacity * sizeof *grown);
        if (!grown)
            return NULL;
        self->rules = grown;
        self->capacity = capacity;
    }
    s_rule_t *rule = &self->rules [self->count++];
    memset (rule, 0, sizeof *rule);
    return rule;
}

//  Days from 1970-01-01 to a civil date (proleptic Gregorian; H. Hinnant's
//  days_from_civil), so expiry needs no time zone and no timegm.
static int64_t
s_days_from_civil (int64_t year, unsigned month, unsigned day)
{
    year -= month <= 2;
    int64_t era = (year >= 0 ? year : year - 399) / 400;
    unsigned year_of_era = (unsigned) (year - era * 400);
    unsigned day_of_year = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1;
    unsigned day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    return era * 146097 + (int64_t) day_of_era - 719468;
}

//  The first second after the UTC day of a YYYY-MM-DD date. Returns 0, or
//  -1 when text is not such a date of the calendar.
static int
s_parse_until (const char *text, size_t size, int64_t *expires)
{
    if (size != 10 || text [4] != '-' || text [7] != '-')
        return -1;
    for (size_t at = 0; at < size; at++)
        if (at != 4 && at != 7 && !isdigit ((unsigned char) text [at]))
            return -1;
    unsigned year = (unsigned) atoi (text), month = (unsigned) atoi (text + 5),
             day = (unsigned) atoi (text + 8);
    static const unsigned days_in [] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    if (month < 1 || month > 12 || day < 1)
        return -1;
    bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    if (day > days_in [month - 1] + (month == 2 && leap))
        return -1;
    *expires = (s_days_from_civil (year, month, day) + 1) * 86400;
    return 0;
}

//  The end of the token starting at text [at]: whitespace outside
//  brackets ends it (a bracketed key may hold spaces).
static size_t
s_token_end (const char *text, size_t size, size_t at)
{
    while (at < size && text [at] != ' ' && text [at] != '\t') {
        if (text [at] == '[') {
            size_t end = s_bracket_end (text, size, at);
            if (!end)
                return size;    // s_split reports the unclosed bracket
            at = end;
        }
        at++;
    }
    return at;
}

static size_t
s_skip_blanks (const char *text, size_t size, size_t at)
{
    while (at < size && (text [at] == ' ' || text [at] == '\t'))
        at++;
    return at;
}

//  Set *error to "NAME:LINE: reason". Returns -1.
static int
s_error (char **error, const char *source_name, size_t line, const char *reason,
         const char *text, size_t size)
{
    if (error) {
        char *message = NULL;
        if (text && asprintf (&message, "%s:%zu: %s: %.*s", source_name, line, reason,
                              (int) (size > 200 ? 200 : size), text) < 0)
            message = NULL;
        else
        if (!text && asprintf (&message, "%s:%zu: %s", source_name, line, reason) < 0)
            message = NULL;
        *error = message ? message : strdup ("out of memory");
    }
    return -1;
}

//  Add a rule from a pattern (without `!`). Returns 0, or -1 with *reason.
static int
s_add_pattern (ignore_t *self, const char *pattern, size_t size, bool negate,
               int64_t expires, const char *source_name, size_t line, const char **reason)
{
    if (size > IGNORE_MAX_PATTERN) {
        *reason = "pattern longer than 4096 bytes";
        return -1;
    }
    s_rule_t *rule = s_add_rule (self);
    if (!rule) {
        *reason = "out of memory";
        return -1;
    }
    rule->negate = negate;
    rule->expires = expires;
    if (s_split (pattern, size, S_PATTERN, &rule->split, reason)) {
        self->count--;
        return -1;
    }
    rule->pattern = strndup (pattern, size);
    if (!rule->pattern
    ||  asprintf (&rule->by, "%s:%zu %s%s", source_name, line, negate ? "!" : "",
                  rule->pattern) < 0) {
        rule->by = NULL;
        s_rule_free (rule);
        self->count--;
        *reason = "out of memory";
        return -1;
    }
    return 0;
}

//  One line of the file. Returns 0, or -1 with *error set.
static int
s_parse_line (ignore_t *self, const char *text, size_t size, const char *source_name,
              size_t line, char **error)
{
    if (size && text [size - 1] == '\r')
        size--;
    size_t at = s_skip_blanks (text, size, 0);
    if (at == size || text [at] == '#')
        return 0;
    bool negate = text [at] == '!';
    if (negate)
        at++;
    size_t end = s_token_end (text, size, at);
    if (end == at)
        return s_error (error, source_name, line, "! must be followed by a pattern", NULL, 0);
    const char *pattern = text + at;
    size_t pattern_size = end - at;
    int64_t expires = 0;
    at = s_skip_blanks (text, size, end);
    if (at < size && text [at] != '#') {
        end = s_token_end (text, size, at);
        if (end - at != 5 || memcmp (text + at, "until", 5) != 0)
            return s_error (error, source_name, line,
                            "expected `until YYYY-MM-DD` or a # comment after the pattern",
                            text + at, size - at);
        at = s_skip_blanks (text, size, end);
        end = s_token_end (text, size, at);
        if (s_parse_until (text + at, end - at, &expires))
            return s_error (error, source_name, line,
                            "until needs a calendar date YYYY-MM-DD", text + at, end - at);
        at = s_skip_blanks (text, size, end);
        if (at < size && text [at] != '#')
            return s_error (error, source_name, line, "unexpected text after the date",
                            text + at, size - at);
    }
    const char *reason;
    if (s_add_pattern (self, pattern, pattern_size, negate, expires, source_name, line,
                       &reason))
        return s_error (error, source_name, line, reason, pattern, pattern_size);
    return 0;
}

ignore_t *
ignore_parse (const char *text, size_t size, const char *source_name, char **error)
{
    if (error)
        *error = NULL;
    if (!source_name)
        source_name = "(ignore)";
    ignore_t *self = (ignore_t *) calloc (1, sizeof *self);
    if (!self) {
        if (error)
            *error = strdup ("out of memory");
        return NULL;
    }
    size_t line = 1, start = 0;
    while (text && start < size) {
        const char *newline = (const char *) memchr (text + start, '\n', size - start);
        size_t end = newline ? (size_t) (newline - text) : size;
        if (s_parse_line (self, text + start, end - start, source_name, line, error)) {
            ignore_destroy (&self);
            return NULL;
        }
        start = end + 1;
        line++;
    }
    return self;
}

void
ignore_destroy (ignore_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    ignore_t *self = *self_p;
    for (size_t index = 0; index < self->count; index++)
        s_rule_free (&self->rules [index]);
    free (self->rules);
    free (self);
    *self_p = NULL;
}

//  Append a copy of every rule of from. Returns 0 or -1.
static int
s_copy_rules (ignore_t *self, const ignore_t *from)
{
    for (size_t index = 0; from && index < from->count; index++) {
        const s_rule_t *source = &from->rules [index];
        s_rule_t *rule = s_add_rule (self);
        if (!rule)
            return -1;
        const char *reason;
        rule->negate = source->negate;
        rule->expires = source->expires;
        if (s_split (source->pattern, strlen (source->pattern), S_PATTERN, &rule->split,
                     &reason)) {
            self->count--;
            return -1;
        }
        rule->pattern = strdup (source->pattern);
        rule->by = strdup (source->by);
        if (!rule->pattern || !rule->by)
            return -1;
    }
    return 0;
}

ignore_t *
ignore_merge (const ignore_t *a, const ignore_t *b)
{
    ignore_t *self = (ignore_t *) calloc (1, sizeof *self);
    if (self && (s_copy_rules (self, a) || s_copy_rules (self, b)))
        ignore_destroy (&self);
    return self;
}

size_t
ignore_size (const ignore_t *self)
{
    return self ? self->count : 0;
}

int
ignore_apply (const ignore_t *self, Drift__ScoredReport *scored, int64_t now)
{
    for (size_t index = 0; index < scored->n_findings; index++) {
        Drift__Finding *finding = scored->findings [index];
        const char *by = NULL;
        if (!finding->suppressed
        &&  ignore_matches (self, finding->address, finding->path, now, &by)
        &&  score_suppress (finding, by))
            return -1;
    }
    score_recompute (scored);
    return 0;
}
