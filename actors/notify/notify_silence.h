/*  notify_silence: tells a tenant's channels about a stack that went silent.

    A stack whose agent stopped (its CI job deleted, its host gone) sends no
    report, not even a failed one, so nothing in the pipeline would ever say
    so and its drift would go unseen. The notify sender looks every
    silent-check-ms: drift_silent_stacks (schema 0014) names the stacks with
    no report for longer than silent-after-s, across tenants, and for each
    one every enabled channel of its tenant that takes high gets one notice
    (a check document with state "silent"), queued in the outbox under the
    stack's last report ("silent." + its id). The outbox's mark makes that
    once per silence, in any number of notify processes; a report ends the
    silence, and the next one has another last report.
*/
#ifndef NOTIFY_SILENCE_H_INCLUDED
#define NOTIFY_SILENCE_H_INCLUDED

#include "outbox.h"

#include <libpq-fe.h>

typedef struct _notify_silence_t notify_silence_t;

//  A watcher for stacks silent for longer than silent_after_s (and told only
//  within look_back_s after that, so a stack retired long ago is not asked
//  about for ever).
notify_silence_t *notify_silence_new (int silent_after_s, int look_back_s);
void notify_silence_destroy (notify_silence_t **self_p);

//  Look once, over conn (connected, as drift_app) into outbox. The number of
//  notices queued, or -1 when PostgreSQL or Redis failed (the next look
//  tries again; nothing is lost, nothing is told twice).
int notify_silence_check (notify_silence_t *self, PGconn *conn, outbox_t *outbox);

#endif
