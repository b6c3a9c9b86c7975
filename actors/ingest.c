/*  ingest: the ingest stage, which accepts reports into the pipeline.

    In this walking skeleton the stage passes each envelope on unchanged; the
    runtime stamps it with the stage and time. Its real logic arrives with its
    own issue.
*/
#include "actors.h"

static stage_result_t
s_ingest (void *state, Drift__Envelope *envelope)
{
    (void) state;
    (void) envelope;
    return STAGE_FORWARD;
}

const actor_def_t ingest_actor = {
    .name = "ingest",
    .summary = "The ingest stage: accepts reports into the pipeline.",
    .fn = s_ingest
};
