/*  classify: real drift, mirrors and noise, per changed top-level attribute
    of each drift item, and the item's class as the strongest of them.

    Users of drift tools complain about noise more than anything, so every
    changed attribute gets a class and the rule that gave it (kept in the
    report for audit; noise is flagged, never dropped):

    - noise: changed with nothing done out of band. (0) An attribute whose
      two sides are the same value in another form (semeq.h: null vs empty,
      JSON in a string, the IAM policy grammar, set order). (1) An attribute in the
      volatile table, which the provider recomputes on every read (RDS
      latest_restorable_time). (2) A parent's read-only copy of what split
      resources manage, when no split resource changed and the state
      accounts for the new value: a split resource that owns the whole block
      is in the state (aws_s3_bucket_versioning for aws_s3_bucket.versioning),
      or every element that changed is one a split resource in the state
      owns (aws_iam_role_policy for an aws_iam_role.inline_policy entry of
      that name), or the block was empty and fills in from split resources
      in the state (aws_security_group_rule for ingress). (3) In a normal
      plan only, an attribute of a resource whose planned change is a no-op
      and that no relevant_attributes entry names: the configuration neither
      reverts it nor reads it. (4) A mirror of noise is noise.
    - mirror: the same change seen again. (1) An attribute that repeats
      another one of the same resource that changed too (tags_all repeats
      tags). (2) A version counter that moves with any other change of its
      resource (aws_ssm_parameter version with value); a counter that moved
      alone is real: something rewrote the resource. (3) A parent's copy of a
      split resource that changed or was deleted in the same report
      (aws_s3_bucket.server_side_encryption_configuration when its
      aws_s3_bucket_server_side_encryption_configuration changed). A mirror
      is linked to what it repeats (address, attribute).
    - real: everything else; a deleted or replaced resource is always real,
      a move with nothing else changed and a no-op entry are noise.

    Why relevant_attributes only in normal plans: Terraform lists there the
    resource attributes that planned changes and changed outputs read. In a
    refresh-only plan there are no planned changes, so the list only says
    which attributes outputs read (it appears when an output changed) and
    says nothing about what matters: every drift there is what the operator
    asked to see, as Terraform itself shows all of it in that mode. In a
    normal plan Terraform hides drift outside the list, but drift the plan
    will revert is shown again as a planned change, so here it is noise only
    when the planned change for the resource is a no-op as well.

    The tables are in classify.c, one line per rule with its reason; more
    volatile attributes can be added at run time (classify_add_volatile),
    e.g. from normalize's `volatile` setting.
*/
#ifndef CLASSIFY_H_INCLUDED
#define CLASSIFY_H_INCLUDED

#include "drift.pb-c.h"
#include "../../lib/jdoc.h"

#include <stdbool.h>
#include <stddef.h>

typedef struct _classify_t classify_t;

//  The built-in rules.
classify_t *classify_new (void);
void classify_destroy (classify_t **self_p);

//  Add "TYPE.ATTRIBUTE" (TYPE may be * for any type) to the volatile
//  attributes. Returns -1 if spec is not of that form.
int classify_add_volatile (classify_t *self, const char *spec);

//  One drift item as classify sees it. The item's attributes list one
//  entry per changed top-level attribute (name set); classify sets their
//  class, reason and mirror link, and the item's class and mirror_of.
typedef struct {
    Drift__DriftItem *item;      // the item, changed in place
    const jdoc_value_t *before;  // resource object before (NULL: none)
    const jdoc_value_t *after;   // resource object after (NULL: deleted)
    bool planned_noop;           // normal plans: the planned change for it is a no-op
} classify_entry_t;

//  What the whole plan says.
typedef struct {
    const jdoc_value_t *prior_state; // the plan's prior_state, for split resources in the state
    const jdoc_value_t *relevant;    // relevant_attributes (NULL if absent)
    bool normal_plan;                // not refresh-only: the relevance rule applies
} classify_context_t;

//  Classify every entry. Returns 0, or -1 if memory ran out.
int classify_run (const classify_t *self, classify_entry_t *entries, size_t count,
                  const classify_context_t *context);

#endif
