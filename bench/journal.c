/*  bench/journal: messages per second through the journal on a real,
    durable PostgreSQL (synchronous_commit=on), beside a plain batched INSERT
    of the same messages into a jsonb table measured in the same run.

    usage: bench_journal DATABASE_URL [runs]   (scripts/bench journal starts
    a durable private cluster and passes its URL)

    Measured, each as the median of `runs`: single sends (one committed
    send_batch of 1 per report); grouped sends in batches of 10, 100 and
    1000; the full cycle as the pipeline uses it (grouped send of 100, then
    archive of the same 100 as the last stage acks); ingest's idempotent
    accept (groups of 256, 3 in flight, each report id new, so every message
    also claims its (tenant, report id) row); and plain INSERTs in batches
    of 100. Messages carry a 1 KiB raw report.
*/
#include "median.h"
#include "rates.h"
#include "../lib/clock.h"
#include "../lib/db.h"
#include "../lib/journal.h"
#include "../lib/log.h"
#include "../lib/migrations.h"

#include <czmq.h>

#define RAW_SIZE 1024

static Drift__Envelope **
s_envelopes (int count, uint8_t *raw)
{
    Drift__Envelope **envelopes = (Drift__Envelope **) malloc ((size_t) count * sizeof *envelopes);
    for (int i = 0; i < count; i++) {
        envelopes [i] = (Drift__Envelope *) malloc (sizeof (Drift__Envelope));
        drift__envelope__init (envelopes [i]);
        envelopes [i]->tenant = "bench-tenant";
        envelopes [i]->report_id = "bench-report-000000";
        envelopes [i]->agent_key = "Yne@$w-vo<fVvi]a<NY6T1ed:M$fCG*[IaLV{hID";
        envelopes [i]->stack = "payments";
        envelopes [i]->received_us = clock_wall_us ();
        envelopes [i]->body_case = DRIFT__ENVELOPE__BODY_RAW;
        envelopes [i]->raw.data = raw;
        envelopes [i]->raw.len = RAW_SIZE;
    }
    return envelopes;
}

//  Send total messages in batches of batch; archive each batch too if asked.
static double
s_journal_rate (journal_t *journal, Drift__Envelope **envelopes, int total, int batch,
                bool archive, int in_flight)
{
    int64_t *ids = (int64_t *) malloc ((size_t) batch * sizeof *ids);
    int64_t start = clock_wall_us ();
    for (int sent = 0; sent < total; sent += batch) {
        if (in_flight > 1) {
            //  Keep in_flight sends on the wire; the ids of the oldest come back.
            if (journal_send_begin (journal, envelopes, batch, 30)
            ||  (sent >= batch * (in_flight - 1) && journal_send_end (journal, ids))) {
                fprintf (stderr, "bench_journal: pipelined send failed\n");
                exit (1);
            }
            continue;
        }
        if (journal_send (journal, envelopes, batch, 30, ids)) {
            fprintf (stderr, "bench_journal: send failed\n");
            exit (1);
        }
        if (archive && journal_archive (journal, ids, batch) != batch) {
            fprintf (stderr, "bench_journal: archive failed\n");
            exit (1);
        }
    }
    for (int left = total / batch < in_flight - 1 ? total / batch : in_flight - 1; left > 0; left--)
        journal_send_end (journal, ids);
    double rate = total / ((double) (clock_wall_us () - start) / 1e6);
    free (ids);
    return rate;
}

static double
s_plain_rate (PGconn *conn, const char *batch_json, int total, int batch)
{
    int64_t start = clock_wall_us ();
    const char *params [] = { batch_json };
    for (int sent = 0; sent < total; sent += batch) {
        PGresult *result = PQexecParams (conn,
            "INSERT INTO bench_plain (message) SELECT m FROM jsonb_array_elements ($1::jsonb) m",
            1, NULL, params, NULL, NULL, 0);
        if (PQresultStatus (result) != PGRES_COMMAND_OK) {
            fprintf (stderr, "bench_journal: insert failed: %s", PQresultErrorMessage (result));
            exit (1);
        }
        PQclear (result);
    }
    return total / ((double) (clock_wall_us () - start) / 1e6);
}

static void
s_reset (PGconn *conn)
{
    db_exec (conn, "purge", "SELECT pgmq.purge_queue ('drift_journal')");
    db_exec (conn, "truncate", "TRUNCATE bench_plain, drift_ingested");
}

int
main (int argc, char **argv)
{
    if (argc < 2) {
        fprintf (stderr, "usage: bench_journal DATABASE_URL [runs]\n");
        return 2;
    }
    const char *url = argv [1];
    int runs = argc > 2 ? atoi (argv [2]) : 3;
    if (runs < 1 || runs > 15)
        runs = 3;
    log_init ("bench", "logfmt", "warn");
    if (migrations_apply (url) < 0)
        return 1;
    PGconn *conn = db_connect (url, 10000);
    db_exec (conn, "plain table", "CREATE TABLE IF NOT EXISTS bench_plain ("
             " id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, message jsonb)");
    PGresult *setting = PQexec (conn, "SHOW synchronous_commit");
    printf ("journal on PostgreSQL %d, synchronous_commit=%s, %d-byte raw reports, median of %d\n",
            PQserverVersion (conn), PQgetvalue (setting, 0, 0), RAW_SIZE, runs);
    PQclear (setting);
    journal_t *journal = journal_new (url, 10000);
    uint8_t raw [RAW_SIZE];
    memset (raw, 'x', sizeof raw);
    Drift__Envelope **envelopes = s_envelopes (1000, raw);

    //  The plain insert gets the very same JSON the journal sends.
    char *one = journal_encode (envelopes [0]);
    size_t one_length = strlen (one);
    char *batch_json = (char *) malloc (100 * (one_length + 1) + 3);
    size_t length = 0;
    batch_json [length++] = '[';
    for (int i = 0; i < 100; i++) {
        if (i)
            batch_json [length++] = ',';
        memcpy (batch_json + length, one, one_length);
        length += one_length;
    }
    batch_json [length++] = ']';
    batch_json [length] = 0;
    free (one);

    struct { const char *name; int total; int batch; bool archive; int in_flight; } cases [] = {
        { "single send (batch of 1)", 2000, 1, false, 1 },
        { "grouped send, batches of 10", 20000, 10, false, 1 },
        { "grouped send, batches of 100", 50000, 100, false, 1 },
        { "grouped send, batches of 1000", 50000, 1000, false, 1 },
        { "grouped send of 100, 3 in flight", 50000, 100, false, 3 },
        { "full cycle: send 100 + archive 100", 30000, 100, true, 1 },
    };
    double plain [16];
    for (int run = 0; run < runs; run++) {
        s_reset (conn);
        plain [run] = s_plain_rate (conn, batch_json, 50000, 100);
    }
    double plain_median = median_of (plain, runs);
    for (size_t c = 0; c < sizeof cases / sizeof cases [0]; c++) {
        double rates [16];
        for (int run = 0; run < runs; run++) {
            s_reset (conn);
            rates [run] = s_journal_rate (journal, envelopes, cases [c].total, cases [c].batch,
                                          cases [c].archive, cases [c].in_flight);
        }
        double median = median_of (rates, runs);
        printf ("  %-38s %8.0f messages/s  (%.2f of plain insert)\n", cases [c].name, median,
                median / plain_median);
    }
    double accepts [16];
    for (int run = 0; run < runs; run++) {
        s_reset (conn);
        accepts [run] = rates_journal_accept (journal, RAW_SIZE, 51200, 256, 3);
    }
    double accept = median_of (accepts, runs);
    printf ("  %-38s %8.0f messages/s  (%.2f of plain insert)\n",
            "ingest's accept (dedup), 256 x 3 in flight", accept, accept / plain_median);
    printf ("  %-38s %8.0f messages/s\n", "plain INSERT into jsonb, batches of 100", plain_median);
    s_reset (conn);
    for (int i = 0; i < 1000; i++)
        free (envelopes [i]);
    free (envelopes);
    free (batch_json);
    journal_destroy (&journal);
    PQfinish (conn);
    return 0;
}
