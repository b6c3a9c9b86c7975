/*  attrdiff: changed paths between before and after; see attrdiff.h.

    One recursive walk over both sides at once, carrying the marks of each
    side down with it. Recursion depth is the document's nesting, which the
    parser already bounds (jdoc's max_depth).
*/
#include "attrdiff.h"
#include "../../lib/textbuf.h"

#include <stdio.h>
#include <string.h>

typedef struct {
    textbuf_t path;              // path of the value being walked
    const char *top;             // its top-level attribute
    attrdiff_fn *fn;             // called per change
    void *arg;                   // fn's argument
} walker_t;

//  True for a key written after a dot: [A-Za-z_][A-Za-z0-9_-]*.
static bool
s_identifier (const char *key, size_t length)
{
    if (length == 0)
        return false;
    for (size_t index = 0; index < length; index++) {
        char c = key [index];
        bool letter = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
        bool digit = (c >= '0' && c <= '9') || c == '-';
        if (!letter && !(index > 0 && digit))
            return false;
    }
    return true;
}

static void
s_push_key (walker_t *self, const char *key, size_t length)
{
    if (s_identifier (key, length)) {
        if (self->path.size)
            textbuf_addc (&self->path, '.');
        textbuf_add (&self->path, key, length);
    }
    else {
        textbuf_addc (&self->path, '[');
        textbuf_add_json_string (&self->path, key, length);
        textbuf_addc (&self->path, ']');
    }
}

static void
s_push_index (walker_t *self, size_t index)
{
    char text [32];
    int length = snprintf (text, sizeof text, "[%zu]", index);
    textbuf_add (&self->path, text, (size_t) length);
}

static bool
s_null (const jdoc_value_t *value)
{
    jdoc_type_t type = jdoc_type (value);
    return type == JDOC_ABSENT || type == JDOC_NULL;
}

//  True if a side's marks make its value one secret, compared whole.
static bool
s_whole (const jdoc_value_t *value, const mask_marks_t *marks)
{
    if (marks->covered || mask_says_true (marks->mark) || mask_is_secret (value))
        return true;
    jdoc_type_t mark_type = jdoc_type (marks->mark);
    jdoc_type_t value_type = jdoc_type (value);
    bool misfit = (mark_type == JDOC_OBJECT && value_type != JDOC_OBJECT)
               || (mark_type == JDOC_ARRAY && (value_type != JDOC_ARRAY
                                               || jdoc_size (marks->mark) != jdoc_size (value)));
    return misfit && mask_marked (marks->mark);
}

//  Marks one level down: the member key of length bytes (which may hold a
//  NUL), or element index when key is NULL.
static mask_marks_t
s_inner (const mask_marks_t *outer, const char *key, size_t length, size_t index)
{
    mask_marks_t inner = { NULL, false, NULL, false };
    inner.covered = outer->covered || mask_says_true (outer->mark);
    inner.unknown_covered = outer->unknown_covered || mask_says_true (outer->unknown);
    if (key) {
        inner.mark = jdoc_getn (outer->mark, key, length);
        inner.unknown = jdoc_getn (outer->unknown, key, length);
    }
    else {
        inner.mark = jdoc_type (outer->mark) == JDOC_ARRAY ? jdoc_at (outer->mark, index) : NULL;
        inner.unknown = jdoc_type (outer->unknown) == JDOC_ARRAY
                      ? jdoc_at (outer->unknown, index) : NULL;
    }
    return inner;
}

static int
s_emit (walker_t *self, const jdoc_value_t *before, const jdoc_value_t *after,
        const mask_marks_t *before_marks, const mask_marks_t *after_marks, bool unknown)
{
    if (self->path.failed)
        return -1;
    attrdiff_change_t change = {
        .path = self->path.data,
        .top = self->top,
        .op = s_null (before) ? ATTRDIFF_ADDED
            : (s_null (after) && !unknown) ? ATTRDIFF_REMOVED : ATTRDIFF_CHANGED,
        .before = before,
        .after = after,
        .before_marks = *before_marks,
        .after_marks = *after_marks,
        .unknown = unknown
    };
    return self->fn (self->arg, &change);
}

static int s_walk (walker_t *self, const jdoc_value_t *before, const jdoc_value_t *after,
                   const mask_marks_t *before_marks, const mask_marks_t *after_marks);

//  Every member of before (in order), then the members only after has.
static int
s_walk_members (walker_t *self, const jdoc_value_t *before, const jdoc_value_t *after,
                const mask_marks_t *before_marks, const mask_marks_t *after_marks, bool top)
{
    size_t mark = self->path.size;
    for (int side = 0; side < 2; side++) {
        const jdoc_value_t *walked = side == 0 ? before : after;
        size_t size = jdoc_size (walked);
        for (size_t index = 0; index < size; index++) {
            size_t length;
            const char *key = jdoc_key_at (walked, index, &length);
            if (side == 1 && jdoc_getn (before, key, length))
                continue;
            //  A repeated key: only the first counts, as jdoc_get sees it.
            if (jdoc_getn (walked, key, length) != jdoc_at (walked, index))
                continue;
            if (top)
                self->top = key;
            s_push_key (self, key, length);
            mask_marks_t inner_before = s_inner (before_marks, key, length, 0);
            mask_marks_t inner_after = s_inner (after_marks, key, length, 0);
            int rc = s_walk (self, jdoc_getn (before, key, length), jdoc_getn (after, key, length),
                             &inner_before, &inner_after);
            textbuf_truncate (&self->path, mark);
            if (rc)
                return rc;
        }
    }
    return 0;
}

static int
s_walk_elements (walker_t *self, const jdoc_value_t *before, const jdoc_value_t *after,
                 const mask_marks_t *before_marks, const mask_marks_t *after_marks)
{
    size_t mark = self->path.size;
    size_t size = jdoc_size (before) > jdoc_size (after) ? jdoc_size (before) : jdoc_size (after);
    for (size_t index = 0; index < size; index++) {
        s_push_index (self, index);
        mask_marks_t inner_before = s_inner (before_marks, NULL, 0, index);
        mask_marks_t inner_after = s_inner (after_marks, NULL, 0, index);
        int rc = s_walk (self, jdoc_at (before, index), jdoc_at (after, index),
                         &inner_before, &inner_after);
        textbuf_truncate (&self->path, mark);
        if (rc)
            return rc;
    }
    return 0;
}

static int
s_walk (walker_t *self, const jdoc_value_t *before, const jdoc_value_t *after,
        const mask_marks_t *before_marks, const mask_marks_t *after_marks)
{
    if (after_marks->unknown_covered || mask_says_true (after_marks->unknown))
        return s_emit (self, before, after, before_marks, after_marks, true);
    if (jdoc_equal (before, after) && !mask_marked (after_marks->unknown))
        return 0;
    bool whole = s_whole (before, before_marks) || s_whole (after, after_marks);
    jdoc_type_t before_type = jdoc_type (before);
    jdoc_type_t after_type = jdoc_type (after);
    if (!whole && before_type == JDOC_OBJECT && after_type == JDOC_OBJECT)
        return s_walk_members (self, before, after, before_marks, after_marks, false);
    if (!whole && before_type == JDOC_ARRAY && after_type == JDOC_ARRAY)
        return s_walk_elements (self, before, after, before_marks, after_marks);
    return s_emit (self, before, after, before_marks, after_marks, false);
}

int
attrdiff_walk (const attrdiff_input_t *input, attrdiff_fn *fn, void *arg)
{
    walker_t self = { TEXTBUF_INIT, NULL, fn, arg };
    mask_marks_t before_marks = { input->before_sensitive, false, NULL, false };
    mask_marks_t after_marks = { input->after_sensitive, false, input->after_unknown, false };
    //  Reserve the path once so an empty path is still a string.
    textbuf_add (&self.path, "", 0);
    int rc = s_walk_members (&self, input->before, input->after, &before_marks, &after_marks,
                             true);
    if (rc == 0 && self.path.failed)
        rc = -1;
    textbuf_reset (&self.path);
    return rc;
}
