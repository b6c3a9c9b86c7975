/*  attrdiff: the attribute-level difference between a resource's before
    and after values, as a list of changed paths.

    Objects are walked by key and arrays by index, so a change shows where
    it is (`ingress[0].cidr_blocks[1]`, `tags.env`) rather than as a whole
    new resource. A path is reported once, at the deepest place where the
    two sides still have the same shape; below that, the whole value is the
    change (an object that appeared is one "added" path, not one per leaf).

    The walk never goes inside a value that a sensitivity mark covers as a
    whole or that says it is secret (mask_is_secret), nor inside one not
    known until apply: the keys of a sensitive map are part of the secret,
    and an unknown value has no inside yet. Such a value is compared whole
    and reported as one path.

    Path syntax: a key that is an identifier ([A-Za-z_][A-Za-z0-9_-]*) is
    written after a dot (the first one without), any other key as a JSON
    string in brackets (`tags["kubernetes.io/role"]`), an index as `[N]`.
*/
#ifndef ATTRDIFF_H_INCLUDED
#define ATTRDIFF_H_INCLUDED

#include "../../lib/jdoc.h"
#include "mask.h"

typedef enum {
    ATTRDIFF_ADDED = 1,          // absent or null before, a value after
    ATTRDIFF_REMOVED = 2,        // a value before, absent or null after
    ATTRDIFF_CHANGED = 3         // different values (or after unknown)
} attrdiff_op_t;

//  The two sides of a change, with their marks, as the engine gave them.
typedef struct {
    const jdoc_value_t *before;           // resource before (NULL: none)
    const jdoc_value_t *after;            // resource after (NULL: none)
    const jdoc_value_t *before_sensitive; // marks over before
    const jdoc_value_t *after_sensitive;  // marks over after
    const jdoc_value_t *after_unknown;    // unknown marks over after
} attrdiff_input_t;

//  One changed path, valid during the callback only.
typedef struct {
    const char *path;            // the path, NUL-terminated
    const char *top;             // top-level attribute name (its raw key)
    attrdiff_op_t op;
    const jdoc_value_t *before;  // value at path before (NULL: absent)
    const jdoc_value_t *after;   // value at path after (NULL: absent)
    mask_marks_t before_marks;   // sensitivity at path before
    mask_marks_t after_marks;    // sensitivity and unknowns at path after
    bool unknown;                // after is not known until apply
} attrdiff_change_t;

//  Called per changed path; a non-zero return stops the walk with it.
typedef int (attrdiff_fn) (void *arg, const attrdiff_change_t *change);

//  Walk the top-level attributes of before and after (objects, or NULL for
//  none) and call fn for each changed path, before's keys first in document
//  order, then keys only after has. Returns 0, fn's non-zero return, or -1
//  when memory runs out.
int attrdiff_walk (const attrdiff_input_t *input, attrdiff_fn *fn, void *arg);

#endif
