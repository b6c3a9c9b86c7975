/*  severity: the names of drift's severities; see severity.h.  */
#include "severity.h"

#include <stddef.h>
#include <strings.h>

const char *
severity_name (int severity)
{
    switch (severity) {
        case DRIFT__SEVERITY__SEVERITY_CRITICAL: return "critical";
        case DRIFT__SEVERITY__SEVERITY_HIGH:     return "high";
        case DRIFT__SEVERITY__SEVERITY_MEDIUM:   return "medium";
        case DRIFT__SEVERITY__SEVERITY_LOW:      return "low";
        case DRIFT__SEVERITY__SEVERITY_INFO:     return "info";
        default:                                 return "none";
    }
}

int
severity_parse (const char *name, Drift__Severity *severity)
{
    for (int s = DRIFT__SEVERITY__SEVERITY_NONE; s <= DRIFT__SEVERITY__SEVERITY_CRITICAL; s++)
        if (name && strcasecmp (name, severity_name (s)) == 0) {
            *severity = (Drift__Severity) s;
            return 0;
        }
    return -1;
}
