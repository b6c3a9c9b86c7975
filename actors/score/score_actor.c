/*  score: the score stage, which says why each drift of a canonical report
    matters and how much the report does (actors/score/score), and passes the scored
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

    With a database, each tenant's own rules and suppressions (schema 0006,
    `drift tenant rules|ignore`) are looked at every `overrides-check-ms`:
    a tenant's engine is the built-in pack, then the rules file, then its
    own rules, rebuilt when any of them changes; a tenant's malformed rules
    are refused the same way. Suppressions come from the tenant and from the
    stack (the `.driftignore` its agent sent with the report), the stack's
    lines after the tenant's, so a stack can re-include what its tenant
    ignores. Suppressed findings stay in the report, marked.
*/
#include "../actors.h"
#include "../../lib/clock.h"
#include "ignore.h"
#include "../../lib/log.h"
#include "overrides.h"
#include "score.h"
#include "../../lib/severity.h"

#include <sys/stat.h>
#include <time.h>

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
    uint64_t generation;         // bumped at every rules file taken
    overrides_t *overrides;      // tenants' own rules and suppressions, or NULL
    zhashx_t *tenants;           // tenant id → tenant_t
} s_state_t;

//  A tenant's engine and suppressions, as of its overrides' version.
typedef struct {
    score_t *score;              // built-in pack, rules file, the tenant's rules
    ignore_t *ignore;            // the tenant's suppressions, or NULL
    int64_t version;             // overrides version they were built from
    uint64_t generation;         // rules file generation they were built from
} tenant_t;

static void
s_tenant_destroy (void **item)
{
    tenant_t *tenant = (tenant_t *) *item;
    if (tenant) {
        score_destroy (&tenant->score);
        ignore_destroy (&tenant->ignore);
        free (tenant);
        *item = NULL;
    }
}

static const config_option_t s_options [] = {
    { "rules", CONFIG_STRING, "",
      "rules file added to the built-in pack (same id: replaces); reread when it changes" },
    { "overrides-check-ms", CONFIG_INT, "2000",
      "how often a tenant's own rules and suppressions are looked at (0: not used)" },
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
    self->generation++;
    log_info ("rules loaded", "path", self->path, "rules", LOG_NUM (score_rules (self->score)));
}

//  The tenant's engine and suppressions, rebuilt when its overrides or the
//  rules file changed. A tenant's malformed rules or suppressions are
//  refused with one log line; what it had before stays.
static tenant_t *
s_tenant (s_state_t *self, const char *tenant_id)
{
    const char *rules, *driftignore;
    int64_t version;
    overrides_get (self->overrides, tenant_id, &rules, &driftignore, &version);
    tenant_t *tenant = (tenant_t *) zhashx_lookup (self->tenants, tenant_id);
    if (tenant && tenant->version == version && tenant->generation == self->generation)
        return tenant;
    if (!tenant) {
        tenant = (tenant_t *) zmalloc (sizeof *tenant);
        zhashx_insert (self->tenants, tenant_id, tenant);
    }
    tenant->version = version;
    tenant->generation = self->generation;
    score_t *score = score_new ();
    char error [512];
    if (score && self->path)
        score_load_file (score, self->path, error, sizeof error);
    if (score && *rules
    &&  score_add_text (score, "tenant rules", rules, strlen (rules), error, sizeof error)) {
        log_error ("tenant rules refused, the last good rules stay in use", "tenant", tenant_id,
                   "error", error);
        score_destroy (&score);
    }
    if (score) {
        score_destroy (&tenant->score);
        tenant->score = score;
    }
    char *reason = NULL;
    ignore_t *ignore = *driftignore
        ? ignore_parse (driftignore, strlen (driftignore), "tenant .driftignore", &reason) : NULL;
    if (*driftignore && !ignore)
        log_error ("tenant suppressions refused, the last good stay in use", "tenant", tenant_id,
                   "error", reason);
    else {
        ignore_destroy (&tenant->ignore);
        tenant->ignore = ignore;
    }
    free (reason);
    return tenant;
}

//  The tenant's suppressions, then the stack's (sent by its agent), on the
//  scored report. A stack's malformed file is refused with one log line
//  and the tenant's suppressions alone apply.
static int
s_suppress (const Drift__Envelope *envelope, const ignore_t *tenant_ignore,
            Drift__ScoredReport *scored)
{
    const char *text = scored->report->driftignore;
    ignore_t *stack_ignore = NULL;
    if (text && *text) {
        char *reason = NULL;
        stack_ignore = ignore_parse (text, strlen (text), "stack .driftignore", &reason);
        if (!stack_ignore)
            log_warn ("stack suppressions refused, the tenant's alone apply",
                      "tenant", envelope->tenant, "report_id", envelope->report_id,
                      "error", reason);
        free (reason);
    }
    int rc = 0;
    int64_t now = (int64_t) time (NULL);
    if (tenant_ignore && stack_ignore) {
        ignore_t *merged = ignore_merge (tenant_ignore, stack_ignore);
        rc = merged ? ignore_apply (merged, scored, now) : -1;
        ignore_destroy (&merged);
    }
    else
    if (tenant_ignore || stack_ignore)
        rc = ignore_apply (tenant_ignore ? tenant_ignore : stack_ignore, scored, now);
    ignore_destroy (&stack_ignore);
    return rc;
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
    tenant_t *tenant = self->overrides && *envelope->tenant
                     ? s_tenant (self, envelope->tenant) : NULL;
    Drift__ScoredReport *scored = score_report (tenant && tenant->score ? tenant->score
                                                                         : self->score, report);
    if (!scored || s_suppress (envelope, tenant ? tenant->ignore : NULL, scored)) {
        score_scored_destroy (&scored);
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
               "severity", severity_name (scored->severity));
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
    const char *database = config_has (config, "database") ? config_get (config, "database") : "";
    long check_ms = config_get_int (config, "overrides-check-ms");
    if (*database && check_ms > 0) {
        self->overrides = overrides_new (database, (int) check_ms);
        self->tenants = zhashx_new ();
        zhashx_set_destructor (self->tenants, s_tenant_destroy);
    }
    log_info ("score rules", "rules", LOG_NUM (score_rules (self->score)),
              "file", self->path ? self->path : "(built-in only)",
              "tenant_overrides", self->overrides ? "on" : "off");
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
    zhashx_destroy (&self->tenants);
    overrides_destroy (&self->overrides);
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
