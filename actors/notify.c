/*  notify: the notify stage, which tells each channel about new and resolved drift, then acks the journal.

    In this walking skeleton the stage passes each envelope on unchanged; the
    runtime stamps it with the stage and time. Its real logic arrives with its
    own issue.
*/
#include "actors.h"

static stage_result_t
s_notify (void *state, Drift__Envelope *envelope)
{
    (void) state;
    (void) envelope;
    return STAGE_FORWARD;
}

const actor_def_t notify_actor = {
    "notify", "The notify stage: tells each channel about new and resolved drift, then acks the journal.", s_notify
};
