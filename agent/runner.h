/*  runner: one refresh-only check of a stack by Terraform or OpenTofu.

    drift-agent's daemon mode calls runner_check on each configured stack
    directory every interval. The check only reads: it runs, in the stack's
    directory (already `init`ed by the operator),

        ENGINE plan -refresh-only -lock=false -input=false -no-color -json -out=TMP/plan.bin
        ENGINE show -json TMP/plan.bin
        ENGINE version -json

    and hands back what they printed. A refresh-only plan compares the state
    with the real infrastructure and changes neither; -lock=false keeps it from
    taking the state lock, so a check never blocks the operator's own runs;
    the plan file lives in a private temporary directory removed afterwards,
    since a plan holds the stack's values, secrets included, in clear text.

    Each command is started directly (no shell: the directory and arguments
    are never part of a command line) in its own process group, with stdin
    from /dev/null and TF_IN_AUTOMATION=1, TF_INPUT=0 added to the inherited
    environment. Its stdout and stderr are drained together, so neither can
    fill up and stall it. The whole check shares one deadline: at timeout_s
    the running command's process group gets SIGTERM and, two seconds later,
    SIGKILL. A shutdown of the agent (shutdown_requested) stops it the same way.
*/
#ifndef RUNNER_H_INCLUDED
#define RUNNER_H_INCLUDED

#include <stddef.h>

//  What a payload holds; the same numbers as the protobuf ReportFormat.
typedef enum {
    RUNNER_PLAN_JSON = 1,       // `show -json` of the plan (REPORT_FORMAT_PLAN_JSON)
    RUNNER_PLAN_STREAM = 2      // the `plan -json` stream of a failed plan (REPORT_FORMAT_PLAN_STREAM)
} runner_format_t;

typedef struct {
    const char *engine;         // executable name or path: "terraform", "tofu", or a stand-in
    const char *directory;      // the stack's directory (already `init`ed by the operator)
    int timeout_s;              // the whole check is killed (process group) after this
} runner_config_t;

typedef struct {
    runner_format_t format;     // what payload holds
    char *payload;              // show -json of the plan, or the plan -json stream when the plan failed
    size_t size;                // payload bytes (payload is also NUL-terminated)
    char *engine_version;       // from `ENGINE version -json` (terraform_version), "" if unknown
    char *error;                // when -1: what failed, for the operator
} runner_result_t;

//  Most a command may print on stdout; beyond it the check fails.
#define RUNNER_MAX_OUTPUT ((size_t) 256 << 20)

//  Run one refresh-only check. Returns 0 with a payload: a failed plan is
//  still 0, format PLAN_STREAM, since its diagnostics are the report (when
//  the stream holds no error diagnostic, one built from stderr is appended).
//  Returns -1 when nothing could be produced (engine missing, directory
//  missing, timeout, show failed or printed no JSON object, output beyond
//  RUNNER_MAX_OUTPUT, shutdown), with only result->error set. Either way the
//  caller frees result with runner_result_free.
int runner_check (const runner_config_t *config, runner_result_t *result);

//  Free what runner_check put in result and zero it; safe to call twice.
void runner_result_free (runner_result_t *result);

#endif
