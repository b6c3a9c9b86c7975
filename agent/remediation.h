/*  remediation: where the agent's run loop hands a PLAN,
    PLAN_REFRESH_ONLY or APPLY command (proto/AGENT-LINK.md section 7).

    The one place remediation is dispatched: a stack without
    `remediation = on` (the agent's configuration lists it in
    `remediation = NAME,NAME`) answers every such command REFUSED; else the
    runner (agent/remediate.c) makes the plan or applies the approved plan
    file, kept in the spool's private plans directory (SPOOL/plans, 0700).

    The engine's output lines, redacted, are spooled as RUNNING updates of
    up to 256 lines each, and sent while the engine runs: a line that comes
    REMEDIATION_SEND_MS or more after the last update was sent goes at once
    with those before it (the run loop's uplink, briefly). The final update carries the exit code, the
    message, and for a plan its SHA-256 and redacted `show -json`
    (zstd-compressed above REMEDIATION_PLAN_COMPRESS_BYTES, as a report's
    payload is). A successful APPLY runs the stack's normal check at once,
    the report carrying the APPLY's command id, and the final update names
    that report: the drift the apply reverted resolves from it.
*/
#ifndef REMEDIATION_H_INCLUDED
#define REMEDIATION_H_INCLUDED

#include "commands.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define REMEDIATION_PLAN_COMPRESS_BYTES 4096  // a plan_json larger than this goes zstd-compressed
#define REMEDIATION_SEND_MS 1000              // output is sent at most this often while it runs

//  The stack's normal check, its report carrying command_id: 0 with the
//  report's id in *report_id (the caller frees it), or -1 with why in error.
typedef int (remediation_check_fn) (void *arg, const char *command_id, char **report_id,
                                    char *error, size_t error_size);
//  Send what is spooled now, for a moment, and come back.
typedef void (remediation_send_fn) (void *arg);

//  What remediation needs of one stack and of the agent.
typedef struct {
    const char *directory;       // the stack's directory
    bool enabled;                // listed in `remediation`: remediation commands may run
    const char *engine;          // terraform or tofu executable
    const char *plans_dir;       // SPOOL/plans: plan files, private to the agent
    const uint8_t *redact_key;   // REDACT_KEY_BYTES, as the reports are redacted with
    int timeout_s;               // a command's bound when it names none
    int lock_timeout_s;          // -lock-timeout for plan and apply
    remediation_check_fn *check; // the check run after a successful APPLY
    remediation_send_fn *send;   // sends the spooled updates while the engine runs
    const json_t *known_secrets; // what the stack's last check found sensitive (memory only), or NULL
    void *arg;                   // for check and send
} remediation_stack_t;

//  Run (or refuse) command, a PLAN, PLAN_REFRESH_ONLY or APPLY of stack,
//  spooling its RUNNING updates and its final update.
void remediation_dispatch (agent_commands_t *commands, const Drift__Command *command,
                           const remediation_stack_t *stack);

#endif
