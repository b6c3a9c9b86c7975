/*  normalize: the normalize stage, which turns a raw report into the
    canonical drift report (actors/normalize/normalize) that score, archive and notify
    work on.

    Every envelope goes on. A report that cannot be read, or whose plan
    failed, goes on as a canonical report with status FAILED and its reason,
    carrying the raw report, so archive keeps it and nothing downstream
    alerts or resolves from it; the operator gets one log line with the
    tenant, report id and reason, and the counters (logged with each failure
    and at stop) say how many of each kind. Only running out of memory fails
    the envelope, and then the journal replays it.

    Settings: `mask-key-file` and `volatile` (normalize_config, which
    builds the normalizer for this stage and for `drift normalize --input
    FILE|-`, the same code on one document in cmd/normalize.c).
*/
#include "../actors.h"
#include "../../lib/log.h"
#include "normalize.h"
#include "normalize_config.h"

static const config_option_t s_options [] = {
    NORMALIZE_CONFIG_OPTIONS,
    { "input", CONFIG_STRING, "",
      "normalize this plan document or stream (- for stdin), print JSON and exit" },
    { "tenant", CONFIG_STRING, "", "with --input: tenant for fingerprints" },
    { "stack", CONFIG_STRING, "", "with --input: stack name for the report and fingerprints" },
    CONFIG_END
};

static stage_result_t
s_normalize (void *state, Drift__Envelope *envelope)
{
    normalize_t *self = (normalize_t *) state;
    if (envelope->body_case == DRIFT__ENVELOPE__BODY_NORMALIZED
    ||  envelope->body_case == DRIFT__ENVELOPE__BODY_SCORED) {
        log_warn ("envelope is normalized already, passed on as it is",
                  "tenant", envelope->tenant, "report_id", envelope->report_id);
        return STAGE_FORWARD;
    }
    bool raw = envelope->body_case == DRIFT__ENVELOPE__BODY_RAW;
    Drift__CanonicalReport *report = normalize_raw (self, envelope->tenant,
                                                    raw ? envelope->raw.data : NULL,
                                                    raw ? envelope->raw.len : 0);
    if (!report)
        return STAGE_FAILED;
    size_t size = drift__canonical_report__get_packed_size (report);
    uint8_t *packed = (uint8_t *) malloc (size ? size : 1);
    if (!packed) {
        drift__canonical_report__free_unpacked (report, NULL);
        return STAGE_FAILED;
    }
    drift__canonical_report__pack (report, packed);
    if (report->status == DRIFT__REPORT_STATUS__REPORT_STATUS_FAILED) {
        normalize_stats_t stats;
        normalize_stats (self, &stats);
        log_warn ("report failed, passed on as failed", "tenant", envelope->tenant,
                  "report_id", envelope->report_id, "reason", report->reason,
                  "failed", LOG_NUM (stats.failed));
    }
    else
        log_debug ("report normalized", "tenant", envelope->tenant,
                   "report_id", envelope->report_id, "items", LOG_NUM (report->n_items),
                   "real", LOG_NUM (report->counts->real));
    drift__canonical_report__free_unpacked (report, NULL);
    //  raw and normalized share the oneof's storage: free one, then set the other.
    if (raw)
        free (envelope->raw.data);
    envelope->body_case = DRIFT__ENVELOPE__BODY_NORMALIZED;
    envelope->normalized.data = packed;
    envelope->normalized.len = size;
    return STAGE_FORWARD;
}

static void *
s_open (config_t *config)
{
    //  The warning is for the pipeline: one document by hand (--input)
    //  needs no key shared between workers.
    return normalize_from_config (config, !*config_get (config, "input"));
}

static void
s_close (void *state)
{
    normalize_t *self = (normalize_t *) state;
    if (!self)
        return;
    normalize_stats_t stats;
    normalize_stats (self, &stats);
    log_info ("normalize stopped", "reports", LOG_NUM (stats.reports),
              "failed", LOG_NUM (stats.failed), "unreadable", LOG_NUM (stats.unreadable),
              "refused", LOG_NUM (stats.refused), "errored", LOG_NUM (stats.errored));
    normalize_destroy (&self);
}

const actor_def_t normalize_actor = {
    .name = "normalize",
    .summary = "The normalize stage: turns a raw plan into the canonical drift report.",
    .fn = s_normalize,
    .open = s_open,
    .close = s_close,
    .options = s_options
};
