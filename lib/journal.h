/*  journal: the durable record of every accepted report, on pgmq.

    pgmq is only the journal, never the transport: ingest sends each accepted
    report here with a delay equal to its completion deadline and acks the
    agent only after the commit; the last stage archives the entry (pgmq's
    archive keeps the audit trail); an entry still visible after its deadline
    was not finished, and the replayer reads it (pgmq.read with a visibility
    timeout, safe with many replayers) and sends it through again, or past the
    attempt limit to the dead-letter queue. Only pgmq's documented SQL API is
    used, with explicit casts (its functions are overloaded), so the same code
    runs on the pgmq extension and on the project's own implementation.

    A journal message is JSON: tenant, report_id, agent_key, stack,
    received_us, and the raw report base64-encoded (pgmq messages are jsonb).
*/
#ifndef JOURNAL_H_INCLUDED
#define JOURNAL_H_INCLUDED

#include "drift.pb-c.h"

#include <stdbool.h>
#include <stdint.h>

#define JOURNAL_QUEUE "drift_journal"
#define JOURNAL_DEAD_QUEUE "drift_dead"

typedef struct _journal_t journal_t;

//  Connect to the database at url (waiting up to timeout_ms for it) for the
//  journal queue. NULL if unreachable.
journal_t *journal_new (const char *url, int timeout_ms);
void journal_destroy (journal_t **self_p);

//  Send count envelopes (their raw body and identity) in one send_batch,
//  invisible for delay_s seconds; on return 0 the entries are committed and
//  ids [i] holds each one's msg_id. -1 if the database failed: nothing was
//  promised, the caller must not ack.
int journal_send (journal_t *self, Drift__Envelope *const *envelopes, int count,
                  int delay_s, int64_t *ids);

//  The same in two halves, so several sends can be in flight on the one
//  connection (libpq pipeline mode) while the caller prepares the next:
//  begin queues a send (at most JOURNAL_IN_FLIGHT at once), end waits for
//  the oldest one's commit and fills its ids. Every begun send must be ended
//  before any other journal call.
#define JOURNAL_IN_FLIGHT 4
int journal_send_begin (journal_t *self, Drift__Envelope *const *envelopes, int count,
                        int delay_s);
int journal_send_end (journal_t *self, int64_t *ids);

//  Ingest's send: like journal_send_begin/end, but idempotent by (tenant,
//  report id). A report the journal already has (resent by its agent, or
//  twice in one group) gets no second entry: ids [i] is its existing entry
//  and duplicates [i] (if not NULL) is true. Accepts and sends may share the
//  in-flight window.
int journal_accept_begin (journal_t *self, Drift__Envelope *const *envelopes, int count,
                          int delay_s);
int journal_accept_end (journal_t *self, int64_t *ids, bool *duplicates);

//  For a caller's poll loop: sends in flight, the connection's socket, and
//  whether the oldest send has its answer (ending it will not wait).
int journal_in_flight (journal_t *self);
int journal_fd (journal_t *self);
bool journal_send_ready (journal_t *self);

//  Archive finished entries (idempotent: ids already archived are skipped).
//  Returns how many were moved now, or -1.
int journal_archive (journal_t *self, const int64_t *ids, int count);

//  Make entries visible at once (their visibility timeout ended now):
//  reports ingest accepted but could not hand to the pipeline (no broker
//  credit), so the replayer feeds them as soon as the pipeline has room
//  rather than after their completion deadline. Returns how many, or -1
//  (they then wait for their deadline, as before: nothing is lost).
int journal_release (journal_t *self, const int64_t *ids, int count);

//  Read up to qty overdue entries, hiding them for vt_s seconds; each comes
//  back as a new Envelope (journal_id set, attempt = times read + 1, raw body)
//  in envelopes [], owned by the caller (drift__envelope__free_unpacked).
//  Entries whose message cannot be decoded are dead-lettered on the spot.
//  Returns how many, or -1.
int journal_read (journal_t *self, int vt_s, int qty, Drift__Envelope **envelopes);

//  Move entry msg_id, whose journal message is message (JSON text), to the
//  dead-letter queue with the attempts made and the error, in one
//  transaction (sent there, archived here). The last failure a stage
//  recorded for the entry (journal_record_failure) goes into the letter
//  too, as "last_failure" and appended to the error. Returns 0 or -1.
int journal_dead_letter (journal_t *self, int64_t msg_id, const char *message,
                         uint32_t attempts, const char *error);

//  Record why stage failed entry msg_id on this attempt (the latest reason
//  replaces an earlier one); archiving or dead-lettering the entry forgets
//  it. Returns 0 or -1.
int journal_record_failure (journal_t *self, int64_t msg_id, const char *stage,
                            uint32_t attempt, const char *reason);

//  Send a dead letter back into the journal, visible at once, and archive it
//  in the dead-letter queue. Returns the new journal msg_id, 0 if there is no
//  such dead letter, -1 on failure.
int64_t journal_revive (journal_t *self, int64_t dead_msg_id);

//  Entries in the journal and in the dead-letter queue (pgmq.metrics); -1
//  on failure.
int journal_lengths (journal_t *self, int64_t *journal_length, int64_t *dead_length);

//  Up to max ids of dead letters, oldest first (pgmq.read with a zero
//  visibility timeout: they stay where they are). Returns how many, or -1.
int journal_dead_ids (journal_t *self, int64_t *ids, int max);

//  The journal message (JSON text, caller frees) for an envelope.
char *journal_encode (const Drift__Envelope *envelope);

//  Rows the prunes below remove per call, at most.
#define JOURNAL_PRUNE_BATCH 10000

//  Forget ingest's claims of report ids accepted more than days ago (at
//  most JOURNAL_PRUNE_BATCH per call): a report resent after that is journaled again,
//  which the archive's upsert and notify's 30-day marks make harmless.
//  How many were forgotten, or -1.
long journal_prune_ingested (journal_t *self, int days);

//  Drop finished entries archived more than days ago from the journal's
//  archive (pgmq's a_drift_journal; at most JOURNAL_PRUNE_BATCH per call): pgmq.archive
//  keeps every finished report's envelope, raw report included, for ever,
//  and the sealed copy in the object store is the record. How many went,
//  or -1.
long journal_prune_archive (journal_t *self, int days);

#endif
