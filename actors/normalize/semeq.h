/*  semeq: semantic equality of an attribute's two values, so a change
    only in form is classed noise instead of real drift.

    Terraform and the providers write the same value in more than one way,
    and each way shows up as drift right after an apply (proto/CANONICAL.md
    section 2, "Semantic equality"):

    - empty: null (or absent) and an empty string, list, set or map are the
      same value, and so are null and false: the provider reads an optional
      attribute that was never set back as its empty or zero value (tags
      null → {}, layers null → [], bucket_key_enabled null → false).
    - json: a string holding a JSON object or array compares as parsed JSON
      (members in any order, any spacing). When it is an IAM policy (an
      object with a Statement), the policy grammar's equivalences hold too:
      a single value and a one-element list are the same, and every list is
      a set (statements, actions, resources, principals, condition values).
    - set: a list the provider schema declares as a set compares unordered.
      The table of set paths per resource type is sets.txt, extracted from
      `terraform providers schema -json` by lab/schema/extract-sets and
      embedded at build time.

    Everything else compares exactly (lib/jdoc's jdoc_equal).
*/
#ifndef SEMEQ_H_INCLUDED
#define SEMEQ_H_INCLUDED

#include "../../lib/jdoc.h"

#include <stdbool.h>

typedef struct _semeq_t semeq_t;

//  Which equivalences made two values equal.
#define SEMEQ_EMPTY 1u           // null vs empty or false
#define SEMEQ_JSON  2u           // JSON in a string, parsed
#define SEMEQ_IAM   4u           // IAM policy grammar
#define SEMEQ_SET   8u           // a set in another order

//  The built-in set table (sets.txt). NULL if memory ran out.
semeq_t *semeq_new (void);
void semeq_destroy (semeq_t **self_p);

//  True if path (dotted, from the resource's top level, no indexes) of
//  resources of type is a set in the provider schema.
bool semeq_is_set (const semeq_t *self, const char *type, const char *path);

//  True if the values a and b of top-level attribute of a resource of type
//  are the same value; *used (if not NULL) gets the SEMEQ_* equivalences
//  that were needed (0 when they are equal as written).
bool semeq_equal (const semeq_t *self, const char *type, const char *attribute,
                  const jdoc_value_t *a, const jdoc_value_t *b, unsigned *used);

//  The equivalences in used, as words for a reason ("null vs empty, set
//  order"): a static string.
const char *semeq_describe (unsigned used);

#endif
