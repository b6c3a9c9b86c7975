/*  score: the score stage, which rates each drift finding and the report.

    In this walking skeleton the stage passes each envelope on unchanged; the
    runtime stamps it with the stage and time. Its real logic arrives with its
    own issue.
*/
#include "actors.h"

static stage_result_t
s_score (void *state, Drift__Envelope *envelope)
{
    (void) state;
    (void) envelope;
    return STAGE_FORWARD;
}

const actor_def_t score_actor = {
    .name = "score",
    .summary = "The score stage: rates each drift finding and the report.",
    .fn = s_score
};
