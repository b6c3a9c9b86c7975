/*  archive_doc: what the archive stage writes to PostgreSQL for one scored
    report, as the JSON document drift_archive_report (schema 0008) reads.

    The document holds the report's row (status, severity, score, counts,
    where its sealed raw report is stored) and one entry per drift item:
    its identity (fingerprint, address, type), kind and class, its masked
    attribute changes, and what score said of it: the item's severity is
    its strongest unsuppressed finding's (or, when every finding is
    suppressed, the strongest suppressed one's, so the dashboard can show
    what was silenced), its score the sum of its unsuppressed findings'
    weights, its reasons every finding (suppressed ones marked). Only masked
    values ever reach it: the canonical report holds no secret in clear.

    Built apart from the stage so it can be tested without a pipeline and
    reused by the benchmark.
*/
#ifndef ARCHIVE_DOC_H_INCLUDED
#define ARCHIVE_DOC_H_INCLUDED

#include "drift.pb-c.h"

//  The document for envelope (tenant, report id, stack, agent key, receipt
//  time) and its scored report, with the object key and key id of its
//  sealed raw report (both NULL when nothing was stored). scored_us is when
//  score stamped the envelope (0: unknown). The caller's; NULL only when
//  out of memory.
char *archive_doc (const Drift__Envelope *envelope, const Drift__ScoredReport *scored,
                   const char *object_key, const char *key_id);

//  When stage passed envelope (its stamp's time), 0 if it did not.
int64_t archive_stamp_us (const Drift__Envelope *envelope, const char *stage);

#endif
