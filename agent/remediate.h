/*  remediate: the agent's remediation runner, a plan a person reviews and
    the apply of exactly that plan file (AGENT-LINK.md section 7).

    The command channel calls this for PLAN, PLAN_REFRESH_ONLY and APPLY
    commands of a stack with `remediation = on`. It runs, in the stack's
    directory, only

        ENGINE plan -input=false -no-color -lock-timeout=Ns [-refresh-only]
                    [-target=ADDR]... -out=PLANS_DIR/COMMAND_ID.tfplan
        ENGINE show -json PLANS_DIR/COMMAND_ID.tfplan
        ENGINE apply -input=false -no-color -lock-timeout=Ns PLANS_DIR/ID.tfplan

    through agent/process.c (no shell, own process group, one deadline for
    the whole command, the group killed at its end). The plan file stays in
    plans_dir (0700, owned by the agent, refused if others may read it),
    mode 0600, beside COMMAND_ID.json (0600: its SHA-256 and the clear text
    of the values the plan marks sensitive, to redact the apply's output).
    An apply is refused unless the file is there, hashes to the approved
    plan_sha256 (and to the hash kept beside it) and is younger than
    max_age_s; the file is removed once an apply was tried, whatever came
    of it, so a plan is applied at most once.

    Every output line (stdout and stderr, split on newlines) reaches
    on_output redacted: each string the plan marks sensitive becomes its
    redact_marker. A plan's own output is held until its `show -json` says
    what is sensitive, then handed over; an apply's streams as it comes.
    The values the stack's last check found sensitive (known_secrets, kept
    in the agent's memory only) redact every line too: a plan that fails
    has no JSON to learn from.
    Lines are cut at OUTLINES_LINE_MAX (4 KiB) and at most OUTLINES_BATCH
    (256) lines of one read reach on_output (agent/outlines.c); what is cut
    or dropped is counted in the result.
*/
#ifndef REMEDIATE_H_INCLUDED
#define REMEDIATE_H_INCLUDED

#include "outlines.h"
#include "redact.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define REMEDIATE_MAX_AGE_S 3600        // a plan older than this is refused (max_age_s 0)
#define REMEDIATE_MAX_TARGETS 1000      // -target arguments in one plan

typedef struct {
    const char *engine;          // executable name or path, as runner_config_t
    const char *directory;       // the stack's directory (already `init`ed by the operator)
    const char *plans_dir;       // private directory (0700, made if missing) for plan files
    int timeout_s;               // the whole command; process group killed at the end
    int lock_timeout_s;          // -lock-timeout=Ns for plan and apply
    const uint8_t *redact_key;   // REDACT_KEY_BYTES: plan JSON and output redaction
    void (*on_output) (void *arg, const char *line); // each redacted line as it comes, or NULL
    void *arg;                   // for on_output
    const json_t *known_secrets; // what the stack's last check found sensitive (memory only), or NULL
} remediate_config_t;

//  What became of a command: the numbers of the protobuf CommandState.
typedef enum {
    REMEDIATE_SUCCEEDED = 3,     // the engine ran and succeeded
    REMEDIATE_FAILED = 4,        // the engine failed (stale plan, lock held) or could not run
    REMEDIATE_REFUSED = 5,       // not run: bad input, plan file missing, changed or too old
    REMEDIATE_TIMED_OUT = 6      // killed at timeout_s, with its whole process group
} remediate_state_t;

typedef struct {
    remediate_state_t state;     // the final state
    int exit_code;               // the engine's exit status (128 + signal), -1 if none ran
    char *message;               // why, for the operator and the dashboard; set in every state
    char plan_sha256 [65];       // PLAN: hex SHA-256 of the plan file kept ("" otherwise)
    char *plan_json;             // PLAN: `show -json` of it, redacted (NULL otherwise)
    size_t plan_size;            // bytes in plan_json
    size_t lines_truncated;      // output lines cut at OUTLINES_LINE_MAX
    size_t lines_dropped;        // output lines not passed on (past a batch, or past the held cap)
} remediate_result_t;

//  What this process's remediation commands came to, since it started.
typedef struct {
    uint64_t plans;              // remediate_plan calls
    uint64_t applies;            // remediate_apply calls
    uint64_t succeeded;          // commands SUCCEEDED
    uint64_t failed;             // commands FAILED (the engine's error, a held lock, a stale plan)
    uint64_t timed_out;          // commands TIMED_OUT
    uint64_t refused_input;      // REFUSED: a bad command id, target, hash or timeout
    uint64_t refused_plans_dir;  // REFUSED: plans directory missing, not ours, open to others
    uint64_t refused_repeated;   // REFUSED: a plan of that command id exists already
    uint64_t refused_missing;    // REFUSED: apply of a plan file that is not there
    uint64_t refused_changed;    // REFUSED: apply of a file whose SHA-256 is not the approved one
    uint64_t refused_expired;    // REFUSED: apply of a plan older than its limit
    uint64_t lines_truncated;    // output lines cut
    uint64_t lines_dropped;      // output lines not passed on
} remediate_stats_t;

//  Make a plan (refresh_only: accept the drift into state) of the given
//  targets (none: the whole stack), keep it as PLANS_DIR/COMMAND_ID.tfplan
//  and hand back its hash and redacted JSON. command_id must be 1-128 of
//  [A-Za-z0-9_-] (it names a file); a target must be a resource address
//  (module.a["k"].type.name[0]: no '-' first, no control characters).
//  Returns 0 when SUCCEEDED, else -1; result is filled either way.
int remediate_plan (const remediate_config_t *config, const char *command_id,
                    bool refresh_only, const char *const *targets, size_t target_count,
                    remediate_result_t *result);

//  Apply the plan file made by plan_command_id if it hashes to plan_sha256
//  (64 lowercase hex) and is younger than max_age_s (0, or more than
//  REMEDIATE_MAX_AGE_S: REMEDIATE_MAX_AGE_S, after which plans are pruned);
//  the file is then removed. Returns 0 when SUCCEEDED, else -1; result is
//  filled either way.
int remediate_apply (const remediate_config_t *config, const char *plan_command_id,
                     const char *plan_sha256, unsigned max_age_s, remediate_result_t *result);

//  Whether the plan of command id can no longer be applied, as far as the
//  caller knows (agent_commands_plan_spent).
typedef bool (remediate_spent_fn) (void *arg, const char *id);

//  Remove from plans_dir the plan files (ID.tfplan and ID.json beside it)
//  older than REMEDIATE_MAX_AGE_S, which no apply takes, and those spent
//  says are spent (NULL: age only); the number of plans removed. A plan
//  rejected in the dashboard is not told to the agent: it goes at the age
//  limit. Applied plans are removed by the apply itself.
size_t remediate_prune_plans (const char *plans_dir, remediate_spent_fn *spent, void *arg);

//  A copy of the counts (every field a uint64_t), for the agent's status.
void remediate_stats (remediate_stats_t *stats);

//  Free what a call put in result and zero it; safe to call twice.
void remediate_result_free (remediate_result_t *result);

#endif
