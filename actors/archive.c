/*  archive: the archive stage, which stores the report and its drift history.

    In this walking skeleton the stage passes each envelope on unchanged; the
    runtime stamps it with the stage and time. Its real logic arrives with its
    own issue.
*/
#include "actors.h"

static stage_result_t
s_archive (void *state, Drift__Envelope *envelope)
{
    (void) state;
    (void) envelope;
    return STAGE_FORWARD;
}

const actor_def_t archive_actor = {
    .name = "archive",
    .summary = "The archive stage: stores the report and its drift history.",
    .fn = s_archive
};
