/*  notify_silence: see notify_silence.h. */
#include "notify_silence.h"
#include "../../lib/db.h"
#include "../../lib/log.h"
#include "notice.h"

#include <czmq.h>
#include <jansson.h>

//  Stacks looked at per check: the newest silences first.
#define S_STACKS_MAX 1000

struct _notify_silence_t {
    char quiet_for [32];         // "N seconds", for the query
    char look_back [32];         // the same
    zhashx_t *told;              // "tenant/report" of silences queued for every channel
};

notify_silence_t *
notify_silence_new (int silent_after_s, int look_back_s)
{
    notify_silence_t *self = (notify_silence_t *) calloc (1, sizeof *self);
    snprintf (self->quiet_for, sizeof self->quiet_for, "%d seconds", silent_after_s);
    snprintf (self->look_back, sizeof self->look_back, "%d seconds", look_back_s);
    self->told = zhashx_new ();
    return self;
}

void
notify_silence_destroy (notify_silence_t **self_p)
{
    if (!*self_p)
        return;
    zhashx_destroy (&(*self_p)->told);
    free (*self_p);
    *self_p = NULL;
}

//  The tenant's enabled channels that take a check's severity, as rows
//  (id, digest_seconds); NULL when the database failed.
static PGresult *
s_channels (PGconn *conn, const char *tenant)
{
    char severity [8];
    snprintf (severity, sizeof severity, "%d", NOTICE_CHECK_SEVERITY);
    const char *params [] = { tenant, severity };
    PGresult *result = db_tenant_query (conn, tenant,
        "SELECT id, digest_seconds FROM notification_channels"
        " WHERE tenant_id = $1::uuid AND enabled AND min_severity <= $2::integer",
        2, params);
    if (PQresultStatus (result) != PGRES_TUPLES_OK) {
        log_warn ("cannot read a tenant's channels for a silent stack", "tenant", tenant,
                  "error", PQerrorMessage (conn));
        PQclear (result);
        return NULL;
    }
    return result;
}

//  Queue one silent stack (a row of drift_silent_stacks) for every channel
//  of its tenant: 0 (queued now, or before), -1 when something failed.
static int
s_tell (PGconn *conn, outbox_t *outbox, PGresult *stacks, int row, int *queued)
{
    const char *tenant = PQgetvalue (stacks, row, 0);
    const char *report_id = PQgetvalue (stacks, row, 3);
    PGresult *channels = s_channels (conn, tenant);
    if (!channels)
        return -1;
    json_t *document = json_pack ("{s:{s:s, s:s}, s:i, s:s, s:s, s:I, s:i}",
        "check", "state", notice_check_state_name (NOTICE_CHECK_SILENT), "reason", "",
        "severity", NOTICE_CHECK_SEVERITY,
        "stack", PQgetvalue (stacks, row, 2),
        "report_id", report_id,
        "received_us", (json_int_t) strtoll (PQgetvalue (stacks, row, 4), NULL, 10),
        "report_score", 0);
    char *text = json_dumps (document, JSON_COMPACT);
    json_decref (document);
    char *silence = zsys_sprintf ("silent.%s", report_id);
    const char *items [] = { text };
    int rc = 0;
    for (int i = 0; i < PQntuples (channels) && rc == 0; i++) {
        int done = outbox_enqueue (outbox, tenant, PQgetvalue (stacks, row, 1), silence,
                                   PQgetvalue (channels, i, 0),
                                   atoi (PQgetvalue (channels, i, 1)), items, 1);
        if (done < 0)
            rc = -1;
        else
        if (done == 1) {
            (*queued)++;
            log_info ("a silent stack told", "tenant", tenant, "stack",
                      PQgetvalue (stacks, row, 2), "last_report", report_id,
                      "channel", PQgetvalue (channels, i, 0));
        }
    }
    zstr_free (&silence);
    free (text);
    PQclear (channels);
    return rc;
}

int
notify_silence_check (notify_silence_t *self, PGconn *conn, outbox_t *outbox)
{
    char limit [16];
    snprintf (limit, sizeof limit, "%d", S_STACKS_MAX);
    const char *params [] = { self->quiet_for, self->look_back, limit };
    PGresult *stacks = PQexecParams (conn,
        "SELECT tenant_id, tenant_name, stack, last_report_id, last_report_us"
        " FROM drift_silent_stacks ($1::interval, $2::interval, $3::integer)",
        3, NULL, params, NULL, NULL, 0);
    if (PQresultStatus (stacks) != PGRES_TUPLES_OK) {
        log_warn ("cannot look for silent stacks", "error", PQerrorMessage (conn));
        PQclear (stacks);
        return -1;
    }
    int queued = 0, rc = 0;
    zhashx_t *now_silent = zhashx_new ();
    for (int row = 0; row < PQntuples (stacks); row++) {
        char *key = zsys_sprintf ("%s/%s", PQgetvalue (stacks, row, 0),
                                  PQgetvalue (stacks, row, 3));
        //  Told already by this process: the outbox would say so too, at
        //  the cost of a round trip per channel.
        if (zhashx_lookup (self->told, key) || s_tell (conn, outbox, stacks, row, &queued) == 0)
            zhashx_insert (now_silent, key, (void *) 1);
        else
            rc = -1;
        zstr_free (&key);
    }
    PQclear (stacks);
    //  Keep only what is still silent: the set stays the size of the answer.
    zhashx_destroy (&self->told);
    self->told = now_silent;
    return rc < 0 ? -1 : queued;
}
