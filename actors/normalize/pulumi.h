/*  pulumi: a Pulumi refresh preview (`pulumi preview --refresh --json`, or
    `pulumi refresh --preview-only --json`: the preview digest with steps[])
    read into a canonical report.

    Every step of a refresh preview is drift, addressed by its URN. op
    update → modified, delete or discard → deleted, replace → replaced,
    refresh → compared: no new state is deleted, different outputs are
    modified, equal ones are no drift. same, create, read, import and the
    halves of a replacement (create-replacement, delete-replaced, ...) are
    not drift. The stack itself (pulumi:pulumi:Stack), providers
    (pulumi:providers:*) and components (custom false) are not resources
    that drift.

    The changes are the step's detailedDiff when it has one (its property
    paths as Pulumi writes them, kind add/delete/update and their -replace
    forms; the values looked up in oldState.outputs and newState.outputs),
    else the difference of the outputs. Pulumi writes a secret as "[secret]"
    in a preview, or as its secret object ({"4dabf1...": "1b4706...", ...})
    in a state; the second is masked (actors/normalize/mask). Error diagnostics fail the
    report as a failed check, with every diagnostic kept.
*/
#ifndef PULUMI_H_INCLUDED
#define PULUMI_H_INCLUDED

#include "../../lib/canonical.h"

//  Read the document root into report. Returns 0; 1 when the preview
//  failed (an error diagnostic); -1 with the report failed when the
//  document was refused.
int pulumi_read (const jdoc_value_t *root, const canonical_context_t *context,
                 Drift__CanonicalReport *report);

//  True if root looks like a Pulumi preview digest.
bool pulumi_detect (const jdoc_value_t *root);

#endif
