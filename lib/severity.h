/*  severity: the names of drift's severities (proto Severity), shared by
    every role that shows or reads one.

    Score assigns severities, notify puts their names into mails and
    webhooks, `drift check` and the API read them from operators. The names
    live here, in the runtime, so that notify (and anything else that only
    shows a severity) does not link the score stage to spell one.
*/
#ifndef SEVERITY_H_INCLUDED
#define SEVERITY_H_INCLUDED

#include "drift.pb-c.h"

//  "critical", "high", "medium", "low", "info", or "none": also for a value
//  outside the enum, as a notice read from a row may carry one.
const char *severity_name (int severity);

//  The severity named by name (case-insensitive, as severity_name writes
//  it). Returns 0, or -1 when name is NULL or not a severity.
int severity_parse (const char *name, Drift__Severity *severity);

#endif
