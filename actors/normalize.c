/*  normalize: the normalize stage, which turns a raw plan into the canonical drift report.

    In this walking skeleton the stage passes each envelope on unchanged; the
    runtime stamps it with the stage and time. Its real logic arrives with its
    own issue.
*/
#include "actors.h"

static stage_result_t
s_normalize (void *state, Drift__Envelope *envelope)
{
    (void) state;
    (void) envelope;
    return STAGE_FORWARD;
}

const actor_def_t normalize_actor = {
    .name = "normalize",
    .summary = "The normalize stage: turns a raw plan into the canonical drift report.",
    .fn = s_normalize
};
