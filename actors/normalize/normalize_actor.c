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

    Settings: `mask-key-file` holds the key for markers of sensitive values
    still in clear (64 hex digits or 32 bytes; without it a random key per
    process, so such markers differ between workers), `volatile` adds
    TYPE.ATTRIBUTE entries to the volatile attributes. `drift normalize
    --input FILE|-` runs the same code on one document (cmd/normalize.c).
*/
#include "../actors.h"
#include "../../lib/log.h"
#include "normalize.h"

#include <sodium.h>

static const config_option_t s_options [] = {
    { "mask-key-file", CONFIG_STRING, "",
      "file with the key (64 hex digits) for markers of secrets still in clear; "
      "unset: a random key per process" },
    { "volatile", CONFIG_STRING, "",
      "more volatile attributes, TYPE.ATTRIBUTE[,...] (TYPE * for any type)" },
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

//  The mask key from a file of 64 hex digits (white space around them
//  allowed) or of 32 raw bytes. Returns 0, or -1 with the reason logged.
static int
s_load_key (const char *path, uint8_t key [MASK_KEY_BYTES])
{
    FILE *file = fopen (path, "rb");
    if (!file) {
        log_error ("cannot open mask-key-file", "path", path, "error", strerror (errno));
        return -1;
    }
    char text [160];
    size_t length = fread (text, 1, sizeof text - 1, file);
    fclose (file);
    text [length] = 0;
    int rc = 0;
    size_t decoded = 0;
    if (length == MASK_KEY_BYTES)
        memcpy (key, text, MASK_KEY_BYTES);
    else
    if (sodium_hex2bin (key, MASK_KEY_BYTES, text, length, " \t\r\n", &decoded, NULL) != 0
    ||  decoded != MASK_KEY_BYTES)
        rc = -1;
    sodium_memzero (text, sizeof text);
    if (rc)
        log_error ("mask-key-file must hold 64 hex digits or 32 bytes", "path", path);
    return rc;
}

static void *
s_open (config_t *config)
{
    uint8_t key [MASK_KEY_BYTES];
    const char *path = config_get (config, "mask-key-file");
    if (*path && s_load_key (path, key))
        return NULL;
    if (!*path && !*config_get (config, "input"))
        log_warn ("no mask-key-file: markers of secrets left in clear use a key of this "
                  "process only");
    normalize_t *self = normalize_new (*path ? key : NULL);
    sodium_memzero (key, sizeof key);
    if (!self)
        return NULL;
    char *list = strdup (config_get (config, "volatile"));
    char *rest = list;
    for (char *spec = strsep (&rest, ","); spec; spec = strsep (&rest, ",")) {
        if (*spec && classify_add_volatile (normalize_rules (self), spec)) {
            log_error ("volatile entries must be TYPE.ATTRIBUTE", "entry", spec);
            free (list);
            normalize_destroy (&self);
            return NULL;
        }
    }
    free (list);
    return self;
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
