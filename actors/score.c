/*  score: the score stage, which says why each drift of a canonical report
    matters and how much the report does (lib/score), and passes the scored
    report on to archive and notify.

    It reads the envelope's normalized body (a CanonicalReport), writes the
    scored body (a ScoredReport holding that report as it is, its findings,
    score and severity) and forwards it. A failed canonical report is
    forwarded scored, with no findings: nothing is alerted from a check that
    did not run. A body that is not a canonical report fails the envelope
    with its reason (worker_fail), so its dead letter says why.

    Setting `rules` names an operator's rules file, added to the built-in
    pack (a rule with a built-in id replaces it). The file is looked at, at
    most once a second, and read again when its modification time, size or
    inode changes: a new rules file takes effect without a restart. A
    malformed one is refused with one log line naming file, line and reason,
    and the last good rules stay in use.
*/
#include "actors.h"
#include "../lib/clock.h"
#include "../lib/log.h"
#include "../lib/score.h"

#include <sys/stat.h>

//  How often the rules file is looked at.
#define S_CHECK_MS 1000

typedef struct {
    score_t *score;              // the engine and the rules in use
    char *path;                  // the operator's rules file, or NULL
    int64_t checked_ms;          // when the file was last looked at (monotonic)
    struct timespec mtime;       // the file as last read (good or refused) ...
    off_t size;                  // ... its size ...
    ino_t inode;                 // ... and inode
    uint64_t reports;            // reports scored
    uint64_t findings;           // findings made
    uint64_t reloads;            // rules files taken
    uint64_t refused;            // rules files refused
} s_state_t;

static const config_option_t s_options [] = {
    { "rules", CONFIG_STRING, "",
      "rules file added to the built-in pack (same id: replaces); reread when it changes" },
    CONFIG_END
};

//  Read the rules file again if it changed since it was last read.
static void
s_check_rules (s_state_t *self, bool force)
{
    if (!self->path)
        return;
    int64_t now = clock_mono_ms ();
    if (!force && now - self->checked_ms < S_CHECK_MS)
        return;
    self->checked_ms = now;
    struct stat info;
    if (stat (self->path, &info)) {
        if (force)
            log_warn ("cannot read the rules file: built-in rules only until it appears",
                      "path", self->path, "error", strerror (errno));
        return;
    }
    if (!force && info.st_mtim.tv_sec == self->mtime.tv_sec
    &&  info.st_mtim.tv_nsec == self->mtime.tv_nsec && info.st_size == self->size
    &&  info.st_ino == self->inode)
        return;
    //  Remembered before reading, so a refused file is refused once, not
    //  once a second.
    self->mtime = info.st_mtim;
    self->size = info.st_size;
    self->inode = info.st_ino;
    char error [512];
    if (score_load_file (self->score, self->path, error, sizeof error)) {
        self->refused++;
        log_error ("rules file refused, the last good rules stay in use", "error", error);
        return;
    }
    self->reloads++;
    log_info ("rules loaded", "path", self->path, "rules", LOG_NUM (score_rules (self->score)));
}

static stage_result_t
s_score (void *state, Drift__Envelope *envelope)
{
    s_state_t *self = (s_state_t *) state;
    s_check_rules (self, false);
    if (envelope->body_case == DRIFT__ENVELOPE__BODY_SCORED) {
        log_warn ("envelope is scored already, passed on as it is",
                  "tenant", envelope->tenant, "report_id", envelope->report_id);
        return STAGE_FORWARD;
    }
    if (envelope->body_case != DRIFT__ENVELOPE__BODY_NORMALIZED) {
        worker_fail ("score needs a normalized body (body case %d): is normalize before "
                     "score in the pipeline?", (int) envelope->body_case);
        return STAGE_FAILED;
    }
    Drift__CanonicalReport *report = drift__canonical_report__unpack (
        NULL, envelope->normalized.len, envelope->normalized.data);
    if (!report) {
        worker_fail ("normalized body of %zu bytes is not a drift.CanonicalReport",
                     envelope->normalized.len);
        return STAGE_FAILED;
    }
    Drift__ScoredReport *scored = score_report (self->score, report);
    if (!scored) {
        drift__canonical_report__free_unpacked (report, NULL);
        worker_fail ("out of memory scoring the report");
        return STAGE_FAILED;
    }
    size_t size = drift__scored_report__get_packed_size (scored);
    uint8_t *packed = (uint8_t *) malloc (size ? size : 1);
    if (!packed) {
        score_scored_destroy (&scored);
        drift__canonical_report__free_unpacked (report, NULL);
        worker_fail ("out of memory packing the scored report");
        return STAGE_FAILED;
    }
    drift__scored_report__pack (scored, packed);
    self->reports++;
    self->findings += scored->n_findings;
    log_debug ("report scored", "tenant", envelope->tenant, "report_id", envelope->report_id,
               "findings", LOG_NUM (scored->n_findings), "score", LOG_NUM (scored->score),
               "severity", score_severity_name (scored->severity));
    score_scored_destroy (&scored);
    drift__canonical_report__free_unpacked (report, NULL);
    //  normalized and scored share the oneof's storage: free one, then set the other.
    free (envelope->normalized.data);
    envelope->body_case = DRIFT__ENVELOPE__BODY_SCORED;
    envelope->scored.data = packed;
    envelope->scored.len = size;
    return STAGE_FORWARD;
}

static void *
s_open (config_t *config)
{
    s_state_t *self = (s_state_t *) calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->score = score_new ();
    const char *path = config_get (config, "rules");
    if (!self->score || (*path && !(self->path = strdup (path)))) {
        score_destroy (&self->score);
        free (self);
        return NULL;
    }
    //  At start a bad rules file is an operator's mistake to fix now, not
    //  a reason to run on other rules than the ones asked for.
    if (self->path) {
        char error [512];
        if (score_load_file (self->score, self->path, error, sizeof error)) {
            log_error ("rules file refused", "error", error);
            score_destroy (&self->score);
            free (self->path);
            free (self);
            return NULL;
        }
        struct stat info;
        if (stat (self->path, &info) == 0) {
            self->mtime = info.st_mtim;
            self->size = info.st_size;
            self->inode = info.st_ino;
        }
        self->checked_ms = clock_mono_ms ();
    }
    log_info ("score rules", "rules", LOG_NUM (score_rules (self->score)),
              "file", self->path ? self->path : "(built-in only)");
    return self;
}

static void
s_close (void *state)
{
    s_state_t *self = (s_state_t *) state;
    if (!self)
        return;
    log_info ("score stopped", "reports", LOG_NUM (self->reports),
              "findings", LOG_NUM (self->findings), "reloads", LOG_NUM (self->reloads),
              "refused", LOG_NUM (self->refused));
    score_destroy (&self->score);
    free (self->path);
    free (self);
}

const actor_def_t score_actor = {
    .name = "score",
    .summary = "The score stage: says why each drift matters and scores the report.",
    .fn = s_score,
    .open = s_open,
    .close = s_close,
    .options = s_options
};
