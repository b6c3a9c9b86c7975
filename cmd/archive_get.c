/*  drift archive get REPORT_ID --tenant NAME|ID: an operator fetches one raw
    report back out of the archive, checked and decrypted.

    The report's row (under the tenant's row-level security) says where its
    sealed object is; the object is fetched from the store the archive
    writes to (the same store settings), opened with the keyring (the
    current key and the old keys, so objects sealed before a rotation still
    open) bound to the tenant and report id, so an object altered, copied
    under another name or sealed with an unknown key is refused. What is
    written is the document the agent sent (already redacted by the agent),
    decompressed, or with --format report the stored drift.Report bytes.
    A one-line summary goes to stderr.

    Exit codes: 0 written, 1 not found or refused (tampered, wrong key),
    2 usage or settings, 3 the database or the store is unreachable.
*/
#include "commands.h"
#include "../lib/config.h"
#include "../lib/db.h"
#include "../lib/seal.h"
#include "../actors/archive/store.h"
#include "../actors/archive/store_config.h"
#include "drift.pb-c.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

#define EXIT_REFUSED 1
#define EXIT_USAGE 2
#define EXIT_UNREACHABLE 3

//  The largest document written back: what normalize would read.
#define S_MAX_DOCUMENT ((size_t) 256 << 20)

static const config_option_t s_options [] = {
    CONFIG_COMMON_OPTIONS,
    CMD_DATABASE_OPTION,
    STORE_CONFIG_OPTIONS,
    { "seal-key", CONFIG_STRING, "/var/lib/drift/keys/archive.key",
      "the archive's current sealing key" },
    { "seal-old-keys", CONFIG_STRING, "", "directory of retired *.key files" },
    { "tenant", CONFIG_STRING, "", "the report's tenant, by name or id (required)" },
    { "output", CONFIG_STRING, "-", "where to write it (- for standard output)" },
    { "format", CONFIG_STRING, "document",
      "document: the plan as the agent sent it; report: the stored drift.Report bytes" },
    CONFIG_END
};

//  Where one report's object is, as its row says.
typedef struct {
    char tenant [37];        // tenant id
    char object_key [1024];  // store key
    char key_id [16];        // key that sealed it
    char stack [256];        // stack name
    char received [64];      // receipt time
    char status [16];        // ok, failed
} s_row_t;

//  Look the report up under its tenant. 0 found, 1 not found, -1 failed.
static int
s_find (PGconn *conn, const char *tenant, const char *report_id, s_row_t *row)
{
    const char *params [] = { tenant, report_id };
    PGresult *result = PQexec (conn, "BEGIN");
    PQclear (result);
    result = PQexecParams (conn,
        "SELECT t.id, drift_set_tenant (t.id) FROM tenants t "
        "WHERE t.name = $1 OR t.id::text = lower ($1)", 1, NULL, params, NULL, NULL, 0);
    int rc = -1;
    if (PQresultStatus (result) == PGRES_TUPLES_OK) {
        if (PQntuples (result) != 1) {
            fprintf (stderr, "drift archive get: no tenant '%s'\n", tenant);
            rc = 1;
        }
        else {
            snprintf (row->tenant, sizeof row->tenant, "%s", PQgetvalue (result, 0, 0));
            rc = 0;
        }
    }
    else
        fprintf (stderr, "drift archive get: %s", PQerrorMessage (conn));
    PQclear (result);
    if (rc == 0) {
        //  The tenant named too, not only set: an operator connected as a
        //  superuser is not held by row-level security.
        const char *lookup [] = { report_id, row->tenant };
        result = PQexecParams (conn,
            "SELECT r.object_key, r.key_id, s.name, r.received_at, r.status "
            "FROM reports r JOIN stacks s ON s.tenant_id = r.tenant_id AND s.id = r.stack_id "
            "WHERE r.report_id = $1 AND r.tenant_id = $2::uuid", 2, NULL, lookup, NULL, NULL, 0);
        if (PQresultStatus (result) != PGRES_TUPLES_OK) {
            fprintf (stderr, "drift archive get: %s", PQerrorMessage (conn));
            rc = -1;
        }
        else
        if (PQntuples (result) == 0) {
            fprintf (stderr, "drift archive get: no report '%s' of tenant %s\n", report_id,
                     tenant);
            rc = 1;
        }
        else
        if (PQgetisnull (result, 0, 0)) {
            fprintf (stderr, "drift archive get: report '%s' has no stored raw report\n",
                     report_id);
            rc = 1;
        }
        else {
            snprintf (row->object_key, sizeof row->object_key, "%s", PQgetvalue (result, 0, 0));
            snprintf (row->key_id, sizeof row->key_id, "%s", PQgetvalue (result, 0, 1));
            snprintf (row->stack, sizeof row->stack, "%s", PQgetvalue (result, 0, 2));
            snprintf (row->received, sizeof row->received, "%s", PQgetvalue (result, 0, 3));
            snprintf (row->status, sizeof row->status, "%s", PQgetvalue (result, 0, 4));
        }
        PQclear (result);
    }
    result = PQexec (conn, "COMMIT");
    PQclear (result);
    return rc;
}

//  The document a Report carries, decompressed (caller frees). NULL with
//  the reason printed.
static uint8_t *
s_document (const Drift__Report *report, size_t *size)
{
    if (report->compression == DRIFT__COMPRESSION__COMPRESSION_NONE) {
        uint8_t *copy = (uint8_t *) malloc (report->payload.len + 1);
        if (copy && report->payload.len)
            memcpy (copy, report->payload.data, report->payload.len);
        *size = report->payload.len;
        return copy;
    }
    unsigned long long declared = report->compression == DRIFT__COMPRESSION__COMPRESSION_ZSTD
        ? ZSTD_getFrameContentSize (report->payload.data, report->payload.len)
        : ZSTD_CONTENTSIZE_ERROR;
    if (declared == ZSTD_CONTENTSIZE_UNKNOWN || declared == ZSTD_CONTENTSIZE_ERROR
    ||  declared > S_MAX_DOCUMENT) {
        fprintf (stderr, "drift archive get: the stored report's payload is not a readable "
                 "zstd frame (use --format report for the bytes as stored)\n");
        return NULL;
    }
    uint8_t *text = (uint8_t *) malloc (declared + 1);
    size_t got = text ? ZSTD_decompress (text, declared, report->payload.data,
                                         report->payload.len) : 0;
    if (!text || ZSTD_isError (got) || got != declared) {
        fprintf (stderr, "drift archive get: the stored report's payload does not "
                 "decompress\n");
        free (text);
        return NULL;
    }
    *size = got;
    return text;
}

static int
s_write (const char *path, const uint8_t *data, size_t size)
{
    FILE *file = strcmp (path, "-") == 0 ? stdout : fopen (path, "wb");
    if (!file) {
        fprintf (stderr, "drift archive get: cannot write %s\n", path);
        return EXIT_REFUSED;
    }
    bool written = fwrite (data, 1, size, file) == size;
    written = (file == stdout ? fflush (file) : fclose (file)) == 0 && written;
    if (!written)
        fprintf (stderr, "drift archive get: writing %s failed\n", path);
    return written ? 0 : EXIT_REFUSED;
}

//  Fetch, open and write the object of row.
static int
s_fetch (config_t *config, const s_row_t *row, const char *report_id)
{
    char error [512];
    const char *old_keys = config_get (config, "seal-old-keys");
    seal_keyring_t *keyring = seal_keyring_load (config_get (config, "seal-key"),
                                                 *old_keys ? old_keys : NULL, error,
                                                 sizeof error);
    if (!keyring) {
        fprintf (stderr, "drift archive get: %s\n", error);
        return EXIT_USAGE;
    }
    store_t *store = store_from_config (config, error, sizeof error);
    if (!store) {
        fprintf (stderr, "drift archive get: %s\n", error);
        seal_keyring_destroy (&keyring);
        return EXIT_USAGE;
    }
    int rc = EXIT_REFUSED;
    uint8_t *blob = NULL, *plain = NULL, *document = NULL;
    size_t blob_size = 0, plain_size = 0, document_size = 0;
    Drift__Report *report = NULL;
    char associated [256];
    snprintf (associated, sizeof associated, "%s/%s", row->tenant, report_id);
    int got = store_get (store, row->object_key, &blob, &blob_size);
    if (got)
        fprintf (stderr, "drift archive get: %s %s\n",
                 got == 1 ? "the object is missing from the store:" : "the store failed:",
                 got == 1 ? row->object_key : store_error (store));
    if (got == -1)
        rc = EXIT_UNREACHABLE;
    else
    if (got == 0 && seal_open (keyring, blob, blob_size, associated, &plain, &plain_size,
                               error, sizeof error))
        fprintf (stderr, "drift archive get: object %s refused: %s\n", row->object_key, error);
    else
    if (got == 0 && !(report = drift__report__unpack (NULL, plain_size, plain)))
        fprintf (stderr, "drift archive get: object %s opened but holds no report\n",
                 row->object_key);
    else
    if (got == 0 && strcmp (config_get (config, "format"), "report") == 0)
        rc = s_write (config_get (config, "output"), plain, plain_size);
    else
    if (got == 0 && (document = s_document (report, &document_size)))
        rc = s_write (config_get (config, "output"), document, document_size);
    if (rc == 0) {
        char key_id [9] = "";
        seal_blob_key_id (blob, blob_size, key_id);
        fprintf (stderr, "drift archive get: report %s of tenant %s, stack %s, %s, received %s, "
                 "sealed with key %s: %zu bytes written\n", report_id, row->tenant, row->stack,
                 row->status, row->received, key_id,
                 strcmp (config_get (config, "format"), "report") == 0 ? plain_size
                                                                       : document_size);
    }
    if (report)
        drift__report__free_unpacked (report, NULL);
    free (document);
    free (plain);
    free (blob);
    store_destroy (&store);
    seal_keyring_destroy (&keyring);
    return rc;
}

int
cmd_archive_get (int argc, char **argv)
{
    int exit_code;
    config_t *config = cmd_load ("archive get",
                                 "Fetch one archived raw report, checked and decrypted.",
                                 s_options, argc, argv, &exit_code);
    if (!config)
        return exit_code;
    const char *format = config_get (config, "format");
    if (config_argc (config) != 1 || !*config_get (config, "tenant")
    ||  (strcmp (format, "document") && strcmp (format, "report"))) {
        fprintf (stderr, "usage: drift archive get REPORT_ID --tenant NAME|ID "
                 "[--output FILE] [--format document|report]\n");
        config_destroy (&config);
        return EXIT_USAGE;
    }
    const char *report_id = config_argv (config, 0);
    int rc = EXIT_UNREACHABLE;
    PGconn *conn = db_connect (config_get (config, "database"), 5000);
    if (conn) {
        s_row_t row;
        int found = s_find (conn, config_get (config, "tenant"), report_id, &row);
        PQfinish (conn);
        rc = found == 0 ? s_fetch (config, &row, report_id)
           : found == 1 ? EXIT_REFUSED : EXIT_UNREACHABLE;
    }
    else
        fprintf (stderr, "drift archive get: the database is unreachable\n");
    config_destroy (&config);
    return rc;
}
