/*  overrides: a tenant's own scoring rules and suppressions, from
    PostgreSQL (schema 0006: tenant_rules, tenant_ignores; schema 0007:
    the pattern suppressions of the dashboard, table suppressions, that
    have not expired, as further .driftignore lines after the tenant's
    file), for the score stage.

    The score stage asks per report; the answer is cached per tenant and
    asked of the database again at most every check_ms, so an operator's
    change takes effect within that time and without a restart, while a
    busy stage costs the database one small query per tenant per period.
    A database that cannot answer leaves the last known answer in use.
*/
#ifndef OVERRIDES_H_INCLUDED
#define OVERRIDES_H_INCLUDED

#include <stdint.h>

typedef struct _overrides_t overrides_t;

overrides_t *overrides_new (const char *database_url, int check_ms);
void overrides_destroy (overrides_t **self_p);

//  The tenant's rules and driftignore texts ("" when it has none) and a
//  version that changes whenever either does (a hash of both; 0: none). The strings
//  belong to self and stay valid until the next call for that tenant.
void overrides_get (overrides_t *self, const char *tenant_id, const char **rules,
                    const char **driftignore, int64_t *version);

#endif
