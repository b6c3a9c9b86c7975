/*  drift prune: retention. Removes what is older than --keep-days (or than
    --before): reports with their sealed raw objects and their sightings,
    and drift items resolved before then. Open drift is never removed, nor
    are stacks, tenants, agents or channels.

    An operator command: it connects as the schema's owner, like `drift
    tenant` and `drift channel` (the services' drift_app role cannot list
    tenants). Tenant by tenant (all, or --tenant), each statement scoped to
    the tenant by name and by its row-level security, a batch at a time: the batch's objects are deleted from the
    store first, then its rows in one transaction. A crash in between leaves
    rows whose objects are gone, and the next run removes those rows; the
    other order could leave objects nothing refers to, for ever. A store
    that fails stops the run with its rows untouched.

    Run it daily (cron, a systemd timer, `docker compose run --rm prune`);
    --dry-run counts what would go and removes nothing.

    Exit codes: 0 done, 2 usage or settings (or no such tenant), 3 the
    database or the store failed (what was pruned until then stays pruned).
*/
#include "commands.h"
#include "../lib/config.h"
#include "../lib/db.h"
#include "../lib/log.h"
#include "../actors/archive/store.h"
#include "../actors/archive/store_config.h"

#include <jansson.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EXIT_USAGE 2
#define EXIT_FAILED 3

static const config_option_t s_options [] = {
    CONFIG_COMMON_OPTIONS,
    CMD_DATABASE_OPTION,
    STORE_CONFIG_OPTIONS,
    { "keep-days", CONFIG_INT, "365", "keep what is younger than this many days" },
    { "before", CONFIG_STRING, "",
      "remove what is older than this time instead (ISO 8601, e.g. 2026-01-01T00:00:00Z)" },
    { "tenant", CONFIG_STRING, "", "only this tenant, by name or id (default: every tenant)" },
    { "batch", CONFIG_INT, "500", "reports removed per transaction" },
    { "dry-run", CONFIG_INT, "0", "1: count what would be removed, remove nothing" },
    CONFIG_END
};

typedef struct {
    PGconn *conn;
    store_t *store;                  // NULL on a dry run
    const char *cutoff;              // timestamptz text: remove what is older
    char batch [16];                 // LIMIT
    long reports, objects, items;    // removed (or, on a dry run, found)
} s_prune_t;

//  sql with params under tenant (db_tenant_query): the result (the
//  caller's) when it has the expected status, else NULL with the failure said.
static PGresult *
s_tenant_query (s_prune_t *self, const char *tenant, const char *sql, int count,
                const char *const *params, ExecStatusType expected)
{
    PGresult *result = db_tenant_query (self->conn, tenant, sql, count, params);
    if (PQresultStatus (result) != expected) {
        fprintf (stderr, "drift prune: %s", PQerrorMessage (self->conn));
        PQclear (result);
        return NULL;
    }
    return result;
}

//  One value of a one-row answer, as a number.
static long
s_number (PGresult *result)
{
    long value = result && PQntuples (result) == 1 ? atol (PQgetvalue (result, 0, 0)) : 0;
    PQclear (result);
    return value;
}

//  What a dry run would remove of tenant: 0, or -1.
static int
s_count (s_prune_t *self, const char *tenant)
{
    const char *params [] = { tenant, self->cutoff };
    PGresult *reports = s_tenant_query (self, tenant,
        "SELECT count (*), count (object_key) FROM reports"
        " WHERE tenant_id = $1::uuid AND received_at < $2::timestamptz",
        2, params, PGRES_TUPLES_OK);
    if (!reports)
        return -1;
    self->reports += atol (PQgetvalue (reports, 0, 0));
    self->objects += atol (PQgetvalue (reports, 0, 1));
    PQclear (reports);
    PGresult *items = s_tenant_query (self, tenant,
        "SELECT count (*) FROM drift_items"
        " WHERE tenant_id = $1::uuid AND resolved_at < $2::timestamptz",
        2, params, PGRES_TUPLES_OK);
    if (!items)
        return -1;
    self->items += s_number (items);
    return 0;
}

//  Remove tenant's old reports, a batch at a time, objects first: 0, or -1.
static int
s_reports (s_prune_t *self, const char *tenant)
{
    const char *params [] = { tenant, self->cutoff, self->batch };
    while (true) {
        PGresult *batch = s_tenant_query (self, tenant,
            "SELECT coalesce (array_agg (report_id)::text, '{}'),"
            "       coalesce (jsonb_agg (object_key) FILTER (WHERE object_key IS NOT NULL), '[]')"
            "  FROM (SELECT report_id, object_key FROM reports"
            "         WHERE tenant_id = $1::uuid AND received_at < $2::timestamptz"
            "         ORDER BY received_at LIMIT $3::integer) r",
            3, params, PGRES_TUPLES_OK);
        if (!batch)
            return -1;
        char *ids = strdup (PQgetvalue (batch, 0, 0));
        json_t *keys = json_loads (PQgetvalue (batch, 0, 1), 0, NULL);
        PQclear (batch);
        int rc = streq (ids, "{}") ? 1 : 0;
        for (size_t i = 0; rc == 0 && i < json_array_size (keys); i++) {
            const char *key = json_string_value (json_array_get (keys, i));
            if (store_delete (self->store, key)) {
                fprintf (stderr, "drift prune: cannot remove %s: %s\n", key,
                         store_error (self->store));
                rc = -1;
            }
            else
                self->objects++;
        }
        json_decref (keys);
        if (rc == 0) {
            //  Sightings go with their reports (ON DELETE CASCADE).
            const char *remove [] = { tenant, ids };
            PGresult *removed = s_tenant_query (self, tenant,
                "DELETE FROM reports WHERE tenant_id = $1::uuid AND report_id = ANY ($2::text [])",
                2, remove, PGRES_COMMAND_OK);
            if (removed)
                self->reports += atol (PQcmdTuples (removed));
            else
                rc = -1;
            PQclear (removed);
        }
        free (ids);
        if (rc)
            return rc == 1 ? 0 : -1;
    }
}

//  Remove tenant's drift resolved before the cutoff: 0, or -1.
static int
s_items (s_prune_t *self, const char *tenant)
{
    const char *params [] = { tenant, self->cutoff, self->batch };
    while (true) {
        PGresult *removed = s_tenant_query (self, tenant,
            "DELETE FROM drift_items d USING (SELECT stack_id, fingerprint FROM drift_items"
            "   WHERE tenant_id = $1::uuid AND resolved_at < $2::timestamptz"
            "   LIMIT $3::integer) old"
            " WHERE d.tenant_id = $1::uuid AND d.stack_id = old.stack_id"
            "   AND d.fingerprint = old.fingerprint",
            3, params, PGRES_COMMAND_OK);
        if (!removed)
            return -1;
        long count = atol (PQcmdTuples (removed));
        PQclear (removed);
        self->items += count;
        if (count == 0)
            return 0;
    }
}

//  Prune every tenant that tenant_filter names ("" for all): 0, 1 when it
//  names none, -1 when the database or the store failed.
static int
s_prune (s_prune_t *self, const char *tenant_filter, bool dry_run)
{
    const char *params [] = { tenant_filter };
    PGresult *tenants = PQexecParams (self->conn,
        "SELECT id, name FROM tenants WHERE $1 = '' OR name = $1 OR id::text = lower ($1)"
        " ORDER BY name", 1, NULL, params, NULL, NULL, 0);
    if (PQresultStatus (tenants) != PGRES_TUPLES_OK) {
        fprintf (stderr, "drift prune: %s", PQerrorMessage (self->conn));
        PQclear (tenants);
        return -1;
    }
    if (*tenant_filter && PQntuples (tenants) == 0) {
        fprintf (stderr, "drift prune: no tenant '%s'\n", tenant_filter);
        PQclear (tenants);
        return 1;
    }
    int rc = 0;
    for (int i = 0; i < PQntuples (tenants) && rc == 0; i++) {
        const char *tenant = PQgetvalue (tenants, i, 0);
        long reports = self->reports, objects = self->objects, items = self->items;
        rc = dry_run ? s_count (self, tenant)
                     : (s_reports (self, tenant) || s_items (self, tenant)) ? -1 : 0;
        printf ("%s: %s %ld report%s (%ld object%s), %ld resolved drift item%s\n",
                PQgetvalue (tenants, i, 1), dry_run ? "would lose" : "pruned",
                self->reports - reports, self->reports - reports == 1 ? "" : "s",
                self->objects - objects, self->objects - objects == 1 ? "" : "s",
                self->items - items, self->items - items == 1 ? "" : "s");
    }
    PQclear (tenants);
    return rc;
}

int
cmd_prune (int argc, char **argv)
{
    int exit_code;
    config_t *config = cmd_load ("prune", "Remove reports, their objects and resolved drift "
                                 "older than the retention.", s_options, argc, argv, &exit_code);
    if (!config)
        return exit_code;
    long keep_days = config_get_int (config, "keep-days");
    long batch = config_get_int (config, "batch");
    const char *before = config_get (config, "before");
    if (config_argc (config) != 0 || keep_days < 1 || batch < 1 || batch > 100000) {
        fprintf (stderr, "usage: drift prune [--keep-days N (>= 1)] [--before TIME] "
                 "[--tenant NAME|ID] [--batch 1..100000] [--dry-run] [store settings]\n");
        config_destroy (&config);
        return EXIT_USAGE;
    }
    bool dry_run = config_get_int (config, "dry-run") != 0;
    s_prune_t self = { 0 };
    snprintf (self.batch, sizeof self.batch, "%ld", batch);
    char error [512] = "";
    if (!dry_run && !(self.store = store_from_config (config, error, sizeof error))) {
        fprintf (stderr, "drift prune: the store: %s\n", error);
        config_destroy (&config);
        return EXIT_USAGE;
    }
    int rc = EXIT_FAILED;
    self.conn = db_connect (config_get (config, "database"), 5000);
    if (self.conn) {
        //  The cutoff, once, from the database's clock (or --before, checked).
        char days [24];
        snprintf (days, sizeof days, "%ld", keep_days);
        const char *params [] = { before, days };
        PGresult *cutoff = PQexecParams (self.conn,
            "SELECT CASE WHEN $1 = '' THEN now () - $2::integer * interval '1 day'"
            "            ELSE $1::timestamptz END::text", 2, NULL, params, NULL, NULL, 0);
        if (PQresultStatus (cutoff) == PGRES_TUPLES_OK) {
            self.cutoff = PQgetvalue (cutoff, 0, 0);
            log_info ("pruning", "before", self.cutoff, "dry_run", dry_run ? "yes" : "no");
            int pruned = s_prune (&self, config_get (config, "tenant"), dry_run);
            rc = pruned == 0 ? 0 : pruned == 1 ? EXIT_USAGE : EXIT_FAILED;
        }
        else {
            fprintf (stderr, "drift prune: --before: %s", PQerrorMessage (self.conn));
            rc = EXIT_USAGE;
        }
        PQclear (cutoff);
        PQfinish (self.conn);
    }
    else
        fprintf (stderr, "drift prune: the database is unreachable\n");
    store_destroy (&self.store);
    config_destroy (&config);
    return rc;
}
