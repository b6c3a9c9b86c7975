/*  tfstream: the `terraform|tofu plan -json` UI stream (one JSON object per
    line) read into a canonical report, as a degraded input.

    The agent sends the stream when it has no plan document: the plan
    failed, so the stream's diagnostics are the report. Its lines carry no
    values, only each resource's address and action, so a report from it is
    flagged degraded: no changed paths, and every item is classed real (what
    cannot be seen into is never ranked down).

    Lines read: `version` (tool version), `diagnostic` (severity, summary,
    detail, address), `resource_drift` (update → modified, delete → deleted,
    replace → replaced, move → moved, noop → ignored) and `planned_change`
    (pending changes); data sources are skipped, other line types ignored.
    An error diagnostic fails the report ("plan failed: SUMMARY") with every
    diagnostic kept: the plan did not finish, so its drift is not trusted.
    A line that is not a JSON object fails it too ("line L column C: ...").
*/
#ifndef TFSTREAM_H_INCLUDED
#define TFSTREAM_H_INCLUDED

#include "../../lib/canonical.h"

//  Read size bytes of stream into report (whose identity fields the caller
//  sets). Returns 0; 1 when the plan failed (an error diagnostic: the report
//  is failed with its diagnostics); -1 when the stream was refused (the
//  report is failed with the reason).
int tfstream_read (const char *text, size_t size, const canonical_context_t *context,
                   Drift__CanonicalReport *report);

#endif
