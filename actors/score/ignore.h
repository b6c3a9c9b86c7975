/*  ignore: `.driftignore` suppression rules (docs/IGNORE.md), deciding
    which findings an operator has chosen not to be alerted on.

    One line, one pattern over a Terraform address and, optionally, an
    attribute path beneath it: `aws_security_group.web`, `aws_instance.*`,
    `aws_instance.web.tags.*`, `**.aws_s3_bucket.logs`, `!` to re-include,
    `until YYYY-MM-DD` to expire. The last line that matches decides, as in
    gitignore, so a stack's file merged after its tenant's can override it.

    A suppressed finding is kept and marked with the line that suppressed it
    (score_suppress), never dropped: suppression is an audited decision, not
    a hole in the record.

    Matching is a small segment glob matcher, never a regular expression:
    `*` within a segment and `**` across segments are matched by dynamic
    programming in time proportional to pattern length times subject length,
    so no pattern, however written, can make matching slow.
*/
#ifndef IGNORE_H_INCLUDED
#define IGNORE_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "drift.pb-c.h"

typedef struct _ignore_t ignore_t;

//  The rules of an ignore file's text (size bytes, need not end in NUL);
//  source_name stands for the file in messages. NULL on a bad line, with
//  *error (when error is not NULL; the caller frees it) set to
//  "NAME:LINE: reason", or to "out of memory".
ignore_t *ignore_parse (const char *text, size_t size, const char *source_name, char **error);

//  Free the rules and null the caller's pointer; nothing if already NULL.
void ignore_destroy (ignore_t **self_p);

//  Whether drift of address (as the engine wrote it) at attribute path
//  (canonical path syntax, NULL or "" for the whole resource) is
//  suppressed at time now (Unix seconds). When it is and by is not NULL,
//  *by gets the deciding line as "NAME:LINE PATTERN" (owned by self).
//  self NULL suppresses nothing.
bool ignore_matches (const ignore_t *self, const char *address, const char *path,
                     int64_t now, const char **by);

//  New rules: those of a followed by those of b, so b wins where both
//  match (tenant rules as a, a stack's own as b). Either may be NULL.
//  NULL if memory ran out.
ignore_t *ignore_merge (const ignore_t *a, const ignore_t *b);

//  Number of rules (lines with a pattern).
size_t ignore_size (const ignore_t *self);

//  Mark every finding of scored that the rules suppress at time now (with
//  the deciding line), then recompute its score and severity. 0, or -1
//  when memory ran out.
int ignore_apply (const ignore_t *self, Drift__ScoredReport *scored, int64_t now);

#endif
