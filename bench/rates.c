/*  rates: measurements shared by the benchmarks; see rates.h. */
#include "rates.h"
#include "../lib/clock.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

double
rates_journal_accept (journal_t *journal, size_t raw_size, int total, int batch, int in_flight)
{
    uint8_t *raw = (uint8_t *) malloc (raw_size);
    memset (raw, 'x', raw_size);
    Drift__Envelope *envelopes = (Drift__Envelope *) calloc ((size_t) total, sizeof *envelopes);
    Drift__Envelope **pointers = (Drift__Envelope **) calloc ((size_t) total, sizeof *pointers);
    char (*ids) [32] = calloc ((size_t) total, 32);
    for (int i = 0; i < total; i++) {
        drift__envelope__init (&envelopes [i]);
        snprintf (ids [i], 32, "accept-%d", i);
        envelopes [i].tenant = (char *) "bench-tenant";
        envelopes [i].report_id = ids [i];
        envelopes [i].agent_key = (char *) "Yne@$w-vo<fVvi]a<NY6T1ed:M$fCG*[IaLV{hID";
        envelopes [i].stack = (char *) "payments";
        envelopes [i].received_us = clock_wall_us ();
        envelopes [i].body_case = DRIFT__ENVELOPE__BODY_RAW;
        envelopes [i].raw.data = raw;
        envelopes [i].raw.len = raw_size;
        pointers [i] = &envelopes [i];
    }
    int64_t *journal_ids = (int64_t *) malloc ((size_t) batch * sizeof *journal_ids);
    bool *duplicates = (bool *) malloc ((size_t) batch * sizeof *duplicates);
    int64_t start = clock_wall_us ();
    int ended = 0, begun = 0;
    for (int sent = 0; sent < total; sent += batch) {
        int count = total - sent < batch ? total - sent : batch;
        if (journal_in_flight (journal) == in_flight) {
            if (journal_accept_end (journal, journal_ids, duplicates)) {
                fprintf (stderr, "rates: journal accept failed\n");
                exit (1);
            }
            ended++;
        }
        if (journal_accept_begin (journal, pointers + sent, count, 30)) {
            fprintf (stderr, "rates: journal accept failed\n");
            exit (1);
        }
        begun++;
    }
    for (; ended < begun; ended++)
        if (journal_accept_end (journal, journal_ids, duplicates)) {
            fprintf (stderr, "rates: journal accept failed\n");
            exit (1);
        }
    double rate = total / ((double) (clock_wall_us () - start) / 1e6);
    free (envelopes);
    free (pointers);
    free (ids);
    free (journal_ids);
    free (duplicates);
    free (raw);
    return rate;
}
