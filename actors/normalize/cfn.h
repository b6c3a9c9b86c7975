/*  cfn: CloudFormation drift (the output of `aws cloudformation
    describe-stack-resource-drifts`, DescribeStackResourceDrifts) read into a
    canonical report.

    Each StackResourceDrifts entry is one resource of the stack, addressed
    by its LogicalResourceId. StackResourceDriftStatus MODIFIED → modified,
    DELETED → deleted; IN_SYNC, NOT_CHECKED and UNKNOWN are not drift. The
    changes are CloudFormation's own PropertyDifferences: PropertyPath (a
    JSON pointer, /Tags/0/Value) becomes a path in the canonical syntax
    (Tags[0].Value); DifferenceType ADD → added, REMOVE → removed,
    NOT_EQUAL → changed; ExpectedValue is the before side and ActualValue
    the after side, as JSON when they are JSON text, else as a string.
    Classes come from actors/normalize/classify like every other source (its tables name
    Terraform types, so CloudFormation's are mostly real).

    Every key read is checked; a document of the wrong shape fails the
    report with where and what. More entries than context->max_resources
    fail it too.
*/
#ifndef CFN_H_INCLUDED
#define CFN_H_INCLUDED

#include "../../lib/canonical.h"

//  Read the document root into report. Returns 0, or -1 with the report
//  failed and its reason set.
int cfn_read (const jdoc_value_t *root, const canonical_context_t *context,
              Drift__CanonicalReport *report);

//  True if root looks like DescribeStackResourceDrifts output.
bool cfn_detect (const jdoc_value_t *root);

#endif
