/*  tfplan: a Terraform or OpenTofu plan document (`show -json` of a plan,
    format_version 1.x) read into a canonical report.

    What it takes from the document:
    - format_version: major version 1 only; anything else fails the report
      ("unsupported plan format_version X"), since a new major version may
      mean anything.
    - errored: true fails the report ("plan errored"): a plan that did not
      finish may read unreachable objects as deleted, so nothing is alerted
      or resolved from it. `show -json` keeps no diagnostics; failed checks
      are kept as diagnostics either way.
    - resource_drift: each managed resource's drift (data sources are not
      drift): update → modified, delete → deleted, delete+create either way
      → replaced, no-op with a previous address → moved, no-op → ignored.
      Changed paths come from diffing change.before and change.after;
      values are masked (actors/normalize/mask). No resource_drift key: a clean plan.
    - resource_changes (normal plans only: a refresh-only plan has none):
      what applying would do, reported as pending changes, never as drift.
      Its presence is what tells a normal plan from a refresh-only one.
    - relevant_attributes and prior_state, for classify.
    Addresses are kept exactly as written. Each item gets a class (lib/
    classify) and a fingerprint (actors/normalize/fingerprint).

    Every key it reads is checked for its type: a document of the wrong
    shape fails the report with where and what ("resource_drift[3]
    (aws_s3_bucket.x): change.actions must be an array of strings").
    More entries than context->max_resources in resource_drift or
    resource_changes fail it too.
*/
#ifndef TFPLAN_H_INCLUDED
#define TFPLAN_H_INCLUDED

#include "../../lib/canonical.h"

//  Read the plan document root into report (whose identity fields the
//  caller sets). Returns 0; 1 when the plan itself failed (errored: the
//  report is failed, with "plan errored" and its diagnostics); -1 when the
//  document was refused (the report is failed with the reason).
int tfplan_read (const jdoc_value_t *root, const canonical_context_t *context,
                 Drift__CanonicalReport *report);

#endif
