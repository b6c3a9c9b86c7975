/*  rates: measurements more than one benchmark makes. */
#ifndef RATES_H_INCLUDED
#define RATES_H_INCLUDED

#include "../lib/journal.h"

//  Messages per second through ingest's idempotent journal send
//  (journal_accept_*): total reports of raw_size bytes, every report id new,
//  in groups of batch with in_flight groups on the wire.
double rates_journal_accept (journal_t *journal, size_t raw_size, int total, int batch,
                             int in_flight);

#endif
