/*  semeq: semantic equality of attribute values; see semeq.h.

    One recursive walk over both values that carries the attribute path
    (object member names joined by dots; list elements add no step), so the
    set table can be asked at each list. Flags of the equivalences used are
    collected only along comparisons that succeed: trying to match a set
    element against the wrong partner must not leave a flag behind.

    Recursion depth is the documents' nesting, which jdoc bounds.
*/
#include "semeq.h"
#include "../../lib/textbuf.h"

#include <czmq.h>
#include <stdlib.h>
#include <string.h>

//  sets.txt, embedded by cmake/embed_text.cmake.
extern const char *const semeq_sets_text;

struct _semeq_t {
    zhashx_t *sets;              // "type path" → present
};

//  A marker value for the hash set: zhashx needs non-NULL items.
static int s_present;

semeq_t *
semeq_new (void)
{
    semeq_t *self = (semeq_t *) calloc (1, sizeof (semeq_t));
    if (!self)
        return NULL;
    self->sets = zhashx_new ();
    if (!self->sets) {
        free (self);
        return NULL;
    }
    const char *line = semeq_sets_text;
    while (*line) {
        const char *end = strchr (line, '\n');
        size_t length = end ? (size_t) (end - line) : strlen (line);
        if (length > 0 && line [0] != '#') {
            char *key = strndup (line, length);
            if (!key || (zhashx_lookup (self->sets, key) == NULL
                         && zhashx_insert (self->sets, key, &s_present) != 0)) {
                free (key);
                semeq_destroy (&self);
                return NULL;
            }
            free (key);
        }
        line += length + (end ? 1 : 0);
    }
    return self;
}

void
semeq_destroy (semeq_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    zhashx_destroy (&(*self_p)->sets);
    free (*self_p);
    *self_p = NULL;
}

bool
semeq_is_set (const semeq_t *self, const char *type, const char *path)
{
    char *key = zsys_sprintf ("%s %s", type, path);
    bool set = key && zhashx_lookup (self->sets, key) != NULL;
    zstr_free (&key);
    return set;
}

//  --------------------------------------------------------------------------
//  JSON held in strings

//  True if value is null, absent, false, or an empty string, array or object.
static bool
s_empty (const jdoc_value_t *value)
{
    switch (jdoc_type (value)) {
        case JDOC_ABSENT:
        case JDOC_NULL:
        case JDOC_FALSE:
            return true;
        case JDOC_STRING: {
            size_t length = 0;
            jdoc_string (value, &length);
            return length == 0;
        }
        case JDOC_ARRAY:
        case JDOC_OBJECT:
            return jdoc_size (value) == 0;
        default:
            return false;
    }
}

static bool
s_null (const jdoc_value_t *value)
{
    return jdoc_type (value) == JDOC_ABSENT || jdoc_type (value) == JDOC_NULL;
}

//  Element index of value seen as a list: an array's element, or a scalar
//  or object as a list of one.
static size_t
s_list_size (const jdoc_value_t *value)
{
    return jdoc_type (value) == JDOC_ARRAY ? jdoc_size (value) : 1;
}

static const jdoc_value_t *
s_list_at (const jdoc_value_t *value, size_t index)
{
    return jdoc_type (value) == JDOC_ARRAY ? jdoc_at (value, index) : value;
}

//  The IAM policy grammar: every list is a set and a single value is a
//  list of one, at every level of the document.
static bool
s_policy_equal (const jdoc_value_t *a, const jdoc_value_t *b)
{
    if (jdoc_type (a) == JDOC_OBJECT && jdoc_type (b) == JDOC_OBJECT) {
        if (jdoc_size (a) != jdoc_size (b))
            return false;
        for (size_t index = 0; index < jdoc_size (a); index++) {
            size_t length;
            const char *key = jdoc_key_at (a, index, &length);
            const jdoc_value_t *other = jdoc_getn (b, key, length);
            if (!other || !s_policy_equal (jdoc_at (a, index), other))
                return false;
        }
        return true;
    }
    if (jdoc_type (a) != JDOC_ARRAY && jdoc_type (b) != JDOC_ARRAY)
        return jdoc_equal (a, b);
    //  As sets: every element of each side has an equal one on the other
    //  (duplicates in a policy list mean nothing to IAM).
    for (int side = 0; side < 2; side++) {
        const jdoc_value_t *here = side ? b : a;
        const jdoc_value_t *there = side ? a : b;
        for (size_t index = 0; index < s_list_size (here); index++) {
            bool found = false;
            for (size_t other = 0; other < s_list_size (there) && !found; other++)
                found = s_policy_equal (s_list_at (here, index), s_list_at (there, other));
            if (!found)
                return false;
        }
    }
    return true;
}

//  A string that may hold a JSON object or array, parsed; NULL if it does
//  not look like one or does not parse.
static jdoc_t *
s_parse_json (const jdoc_value_t *value)
{
    size_t length = 0;
    const char *text = jdoc_string (value, &length);
    size_t start = 0;
    while (text && start < length && strchr (" \t\r\n", text [start]))
        start++;
    if (!text || start == length || (text [start] != '{' && text [start] != '['))
        return NULL;
    return jdoc_parse (text, length, NULL, NULL);
}

//  Two strings that hold JSON: equal as parsed documents, with the policy
//  grammar when both are policies. 0 if not equal, else the flags used.
static unsigned
s_json_equal (const jdoc_value_t *a, const jdoc_value_t *b)
{
    jdoc_t *left = s_parse_json (a);
    jdoc_t *right = left ? s_parse_json (b) : NULL;
    unsigned used = 0;
    if (left && right) {
        const jdoc_value_t *x = jdoc_root (left), *y = jdoc_root (right);
        if (jdoc_equal (x, y))
            used = SEMEQ_JSON;
        else
        if (jdoc_get (x, "Statement") && jdoc_get (y, "Statement") && s_policy_equal (x, y))
            used = SEMEQ_JSON | SEMEQ_IAM;
    }
    jdoc_destroy (&left);
    jdoc_destroy (&right);
    return used;
}

//  --------------------------------------------------------------------------
//  Attribute values

typedef struct {
    const semeq_t *self;         // the set table
    const char *type;            // resource type
    textbuf_t path;              // path of the values being compared
} walk_t;

static bool s_equal (walk_t *walk, const jdoc_value_t *a, const jdoc_value_t *b,
                     unsigned *used);

//  Two arrays at a set path: a one-to-one matching of equal elements.
static bool
s_set_equal (walk_t *walk, const jdoc_value_t *a, const jdoc_value_t *b, unsigned *used)
{
    size_t size = jdoc_size (a);
    if (size != jdoc_size (b))
        return false;
    bool *taken = (bool *) calloc (size + 1, sizeof (bool));
    if (!taken)
        return false;
    unsigned found_used = 0;
    bool equal = true;
    for (size_t index = 0; index < size && equal; index++) {
        equal = false;
        for (size_t other = 0; other < size && !equal; other++) {
            unsigned tried = 0;
            if (!taken [other] && s_equal (walk, jdoc_at (a, index), jdoc_at (b, other), &tried)) {
                taken [other] = true;
                equal = true;
                found_used |= tried | (other != index ? SEMEQ_SET : 0);
            }
        }
    }
    free (taken);
    if (equal)
        *used |= found_used;
    return equal;
}

static bool
s_equal (walk_t *walk, const jdoc_value_t *a, const jdoc_value_t *b, unsigned *used)
{
    if (jdoc_equal (a, b))
        return true;
    if ((s_null (a) && s_empty (b)) || (s_null (b) && s_empty (a))) {
        *used |= SEMEQ_EMPTY;
        return true;
    }
    jdoc_type_t type = jdoc_type (a);
    if (type != jdoc_type (b))
        return false;
    if (type == JDOC_STRING) {
        unsigned json = s_json_equal (a, b);
        *used |= json;
        return json != 0;
    }
    if (type == JDOC_ARRAY) {
        if (semeq_is_set (walk->self, walk->type, walk->path.data))
            return s_set_equal (walk, a, b, used);
        if (jdoc_size (a) != jdoc_size (b))
            return false;
        unsigned found = 0;
        for (size_t index = 0; index < jdoc_size (a); index++)
            if (!s_equal (walk, jdoc_at (a, index), jdoc_at (b, index), &found))
                return false;
        *used |= found;
        return true;
    }
    if (type != JDOC_OBJECT)
        return false;
    //  Members of either side; one missing on a side is absent there.
    size_t mark = walk->path.size;
    unsigned found = 0;
    bool equal = true;
    for (int side = 0; side < 2 && equal; side++) {
        const jdoc_value_t *here = side ? b : a;
        const jdoc_value_t *there = side ? a : b;
        for (size_t index = 0; index < jdoc_size (here) && equal; index++) {
            size_t length;
            const char *key = jdoc_key_at (here, index, &length);
            const jdoc_value_t *other = jdoc_getn (there, key, length);
            if (side == 1 && other)
                continue;
            textbuf_addc (&walk->path, '.');
            textbuf_add (&walk->path, key, length);
            equal = !walk->path.failed
                 && (side ? s_equal (walk, other, jdoc_at (here, index), &found)
                          : s_equal (walk, jdoc_at (here, index), other, &found));
            textbuf_truncate (&walk->path, mark);
        }
    }
    if (equal)
        *used |= found;
    return equal;
}

bool
semeq_equal (const semeq_t *self, const char *type, const char *attribute,
             const jdoc_value_t *a, const jdoc_value_t *b, unsigned *used)
{
    walk_t walk = { self, type, TEXTBUF_INIT };
    textbuf_adds (&walk.path, attribute);
    unsigned found = 0;
    bool equal = !walk.path.failed && s_equal (&walk, a, b, &found);
    textbuf_reset (&walk.path);
    if (used)
        *used = equal ? found : 0;
    return equal;
}

const char *
semeq_describe (unsigned used)
{
    static const char *const words [16] = {
        "equal as written", "null vs empty", "JSON in a string", "null vs empty, JSON in a string",
        "IAM policy grammar", "null vs empty, IAM policy grammar", "JSON in a string, IAM policy grammar",
        "null vs empty, JSON in a string, IAM policy grammar",
        "set order", "null vs empty, set order", "JSON in a string, set order",
        "null vs empty, JSON in a string, set order", "IAM policy grammar, set order",
        "null vs empty, IAM policy grammar, set order",
        "JSON in a string, IAM policy grammar, set order",
        "null vs empty, JSON in a string, IAM policy grammar, set order"
    };
    return words [used & 15u];
}
