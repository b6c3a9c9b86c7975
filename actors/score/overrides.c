/*  overrides: per-tenant rules and suppressions, cached; see overrides.h. */
#include "overrides.h"
#include "../../lib/clock.h"
#include "../../lib/db.h"
#include "../../lib/log.h"

#include <czmq.h>
#include <ctype.h>
#include <sodium.h>

typedef struct {
    char *rules;                 // the tenant's rules text, "" for none
    char *driftignore;           // the tenant's suppressions, "" for none
    int64_t version;             // hash of the two texts, 0 when both are empty
    int64_t checked_ms;          // when the database was last asked
} entry_t;

struct _overrides_t {
    char *url;                   // the database
    PGconn *conn;                // NULL until first needed, or after a failure
    int64_t retry_ms;            // no new connection attempt before this
    int check_ms;                // how long an answer is reused
    zhashx_t *tenants;           // tenant id → entry_t
};

static void
s_entry_destroy (void **item)
{
    entry_t *entry = (entry_t *) *item;
    if (entry) {
        free (entry->rules);
        free (entry->driftignore);
        free (entry);
        *item = NULL;
    }
}

overrides_t *
overrides_new (const char *database_url, int check_ms)
{
    overrides_t *self = (overrides_t *) zmalloc (sizeof *self);
    self->url = strdup (database_url);
    self->check_ms = check_ms;
    self->tenants = zhashx_new ();
    zhashx_set_destructor (self->tenants, s_entry_destroy);
    return self;
}

void
overrides_destroy (overrides_t **self_p)
{
    if (*self_p) {
        overrides_t *self = *self_p;
        if (self->conn)
            PQfinish (self->conn);
        zhashx_destroy (&self->tenants);
        free (self->url);
        free (self);
        *self_p = NULL;
    }
}

//  Tenant ids are uuids (tenants.id); anything else has no overrides.
static bool
s_uuid (const char *text)
{
    if (strlen (text) != 36)
        return false;
    for (int i = 0; i < 36; i++)
        if ((i == 8 || i == 13 || i == 18 || i == 23) ? text [i] != '-' : !isxdigit ((unsigned char) text [i]))
            return false;
    return true;
}

//  Ask the database; 0 with entry updated, -1 if it could not answer.
static int
s_fetch (overrides_t *self, const char *tenant_id, entry_t *entry)
{
    if (!s_uuid (tenant_id))
        return 0;
    if (!self->conn) {
        if (clock_mono_ms () < self->retry_ms)
            return -1;
        self->conn = db_connect (self->url, 0);
        if (!self->conn) {
            self->retry_ms = clock_mono_ms () + 5000;
            return -1;
        }
    }
    //  Under row-level security (schema 0007) a read sees only the tenant
    //  set for its transaction: set it, read, end.
    const char *params [] = { tenant_id };
    PGresult *begin = PQexec (self->conn, "BEGIN");
    bool began = PQresultStatus (begin) == PGRES_COMMAND_OK;
    PQclear (begin);
    PGresult *set = began ? PQexecParams (self->conn, "SELECT drift_set_tenant ($1::uuid)",
                                          1, NULL, params, NULL, NULL, 0) : NULL;
    bool tenant_set = set && PQresultStatus (set) == PGRES_TUPLES_OK;
    PQclear (set);
    PGresult *result = tenant_set ? PQexecParams (self->conn,
        "SELECT (SELECT rules FROM tenant_rules WHERE tenant_id = $1::uuid),"
        " (SELECT driftignore FROM tenant_ignores WHERE tenant_id = $1::uuid),"
        " (SELECT string_agg (pattern, E'\\n' ORDER BY created_at, id) FROM suppressions"
        "   WHERE tenant_id = $1::uuid AND (expires_at IS NULL OR expires_at > now ()))",
        1, NULL, params, NULL, NULL, 0) : NULL;
    bool read = result && PQresultStatus (result) == PGRES_TUPLES_OK && PQntuples (result) == 1;
    PGresult *end = PQexec (self->conn, read ? "COMMIT" : "ROLLBACK");
    PQclear (end);
    if (!read) {
        log_warn ("tenant overrides unreadable, the last known stay in use",
                  "tenant", tenant_id, "error", PQerrorMessage (self->conn));
        PQclear (result);
        if (PQstatus (self->conn) != CONNECTION_OK) {
            PQfinish (self->conn);
            self->conn = NULL;
        }
        return -1;
    }
    free (entry->rules);
    free (entry->driftignore);
    entry->rules = strdup (PQgetvalue (result, 0, 0));
    //  The pattern suppressions (one .driftignore line each, checked when
    //  stored) come after the tenant's file: the last matching line decides,
    //  so a suppression made in the dashboard is not undone by a `!` line of
    //  the file. An expired one is left out here, so its end changes the
    //  text, hence the version.
    const char *file = PQgetvalue (result, 0, 1);
    const char *lines = PQgetvalue (result, 0, 2);
    if (*lines)
        entry->driftignore = zsys_sprintf ("%s%s%s\n", file,
                                           *file && file [strlen (file) - 1] != '\n' ? "\n" : "",
                                           lines);
    else
        entry->driftignore = strdup (file);
    PQclear (result);
    //  The version is the content's hash, so a removal (no row, no
    //  timestamp) is a change too.
    entry->version = 0;
    if (*entry->rules || *entry->driftignore) {
        crypto_generichash_state state;
        uint8_t hash [8];
        crypto_generichash_init (&state, NULL, 0, sizeof hash);
        crypto_generichash_update (&state, (const uint8_t *) entry->rules,
                                   strlen (entry->rules) + 1);
        crypto_generichash_update (&state, (const uint8_t *) entry->driftignore,
                                   strlen (entry->driftignore));
        crypto_generichash_final (&state, hash, sizeof hash);
        memcpy (&entry->version, hash, sizeof hash);
        if (entry->version == 0)
            entry->version = 1;
    }
    return 0;
}

void
overrides_get (overrides_t *self, const char *tenant_id, const char **rules,
               const char **driftignore, int64_t *version)
{
    entry_t *entry = (entry_t *) zhashx_lookup (self->tenants, tenant_id);
    if (!entry) {
        entry = (entry_t *) zmalloc (sizeof *entry);
        entry->rules = strdup ("");
        entry->driftignore = strdup ("");
        entry->checked_ms = INT64_MIN / 2;
        zhashx_insert (self->tenants, tenant_id, entry);
    }
    if (clock_mono_ms () - entry->checked_ms >= self->check_ms) {
        entry->checked_ms = clock_mono_ms ();
        s_fetch (self, tenant_id, entry);
    }
    *rules = entry->rules;
    *driftignore = entry->driftignore;
    *version = entry->version;
}
