/*  remediation: the dispatch of remediation commands; see remediation.h. */
#include "remediation.h"
#include "remediate.h"
#include "../lib/agent_command.h"
#include "../lib/clock.h"
#include "../lib/log.h"

#include <zstd.h>

//  Output lines gathered until a RUNNING update is full.
typedef struct {
    agent_commands_t *commands;  // where the updates go
    const Drift__Command *command; // whose output it is
    const remediation_stack_t *stack; // its send
    int64_t sent_ms;             // monotonic ms the last RUNNING update was sent
    char *lines [AGENT_COMMAND_LINES_MAX]; // lines not yet spooled
    size_t count;                // in lines
} s_output_t;

static void
s_output_flush (s_output_t *self)
{
    if (self->count == 0)
        return;
    Drift__CommandUpdate update = DRIFT__COMMAND_UPDATE__INIT;
    update.state = DRIFT__COMMAND_STATE__COMMAND_STATE_RUNNING;
    update.output = self->lines;
    update.n_output = self->count;
    if (agent_commands_update (self->commands, self->command, &update))
        log_error ("remediation output not spooled: lines lost", "command_id",
                   self->command->command_id, "lines", LOG_NUM (self->count));
    for (size_t i = 0; i < self->count; i++)
        free (self->lines [i]);
    self->count = 0;
}

//  A line, spooled with those before it when the batch is full or the last
//  update went out long enough ago, and then sent while the engine runs.
static void
s_output_line (void *arg, const char *line)
{
    s_output_t *self = (s_output_t *) arg;
    self->lines [self->count++] = strdup (line);
    int64_t now = clock_mono_ms ();
    if (self->count == AGENT_COMMAND_LINES_MAX || now - self->sent_ms >= REMEDIATION_SEND_MS) {
        s_output_flush (self);
        if (self->stack->send)
            self->stack->send (self->stack->arg);
        self->sent_ms = clock_mono_ms ();
    }
}

//  The plan's JSON into update, compressed when large; the caller frees
//  update->plan_json.data.
static void
s_plan_json (Drift__CommandUpdate *update, const char *json, size_t size)
{
    update->plan_compression = DRIFT__COMPRESSION__COMPRESSION_NONE;
    if (size > REMEDIATION_PLAN_COMPRESS_BYTES) {
        size_t bound = ZSTD_compressBound (size);
        uint8_t *compressed = (uint8_t *) malloc (bound);
        size_t length = ZSTD_compress (compressed, bound, json, size, 3);
        if (!ZSTD_isError (length)) {
            update->plan_compression = DRIFT__COMPRESSION__COMPRESSION_ZSTD;
            update->plan_json.data = compressed;
            update->plan_json.len = length;
            return;
        }
        free (compressed);
    }
    update->plan_json.data = (uint8_t *) malloc (size ? size : 1);
    memcpy (update->plan_json.data, json, size);
    update->plan_json.len = size;
}

void
remediation_dispatch (agent_commands_t *commands, const Drift__Command *command,
                      const remediation_stack_t *stack)
{
    if (!stack->enabled) {
        agent_commands_finish (commands, command, DRIFT__COMMAND_STATE__COMMAND_STATE_REFUSED,
                               "remediation is off for this stack (the agent's configuration "
                               "must list it in remediation = NAME,...)", 0, NULL, NULL, 0);
        return;
    }
    s_output_t output = { commands, command, stack, 0, { NULL }, 0 };
    remediate_config_t config = {
        .engine = stack->engine,
        .directory = stack->directory,
        .plans_dir = stack->plans_dir,
        .timeout_s = command->timeout_s ? (int) command->timeout_s : stack->timeout_s,
        .lock_timeout_s = stack->lock_timeout_s,
        .redact_key = stack->redact_key,
        .on_output = s_output_line,
        .arg = &output,
        .known_secrets = stack->known_secrets
    };
    remediate_result_t result = { 0 };
    bool apply = command->kind == DRIFT__COMMAND_KIND__COMMAND_KIND_APPLY;
    if (apply)
        remediate_apply (&config, command->plan_command_id, command->plan_sha256,
                         command->max_plan_age_s, &result);
    else
        remediate_plan (&config, command->command_id,
                        command->kind == DRIFT__COMMAND_KIND__COMMAND_KIND_PLAN_REFRESH_ONLY,
                        (const char *const *) command->targets, command->n_targets, &result);
    s_output_flush (&output);

    Drift__CommandUpdate update = DRIFT__COMMAND_UPDATE__INIT;
    update.state = (Drift__CommandState) result.state;
    update.exit_code = result.exit_code;
    char *message = strdup (result.message ? result.message : "");
    char *report_id = NULL;
    if (!apply && result.state == REMEDIATE_SUCCEEDED) {
        update.plan_sha256 = result.plan_sha256;
        s_plan_json (&update, result.plan_json, result.plan_size);
    }
    if (apply && result.state == REMEDIATE_SUCCEEDED) {
        //  The check right after: the drift the apply reverted resolves
        //  from its report, which names this command.
        char error [512] = "";
        if (stack->check (stack->arg, command->command_id, &report_id, error,
                          sizeof error)) {
            char *with = zsys_sprintf ("%s; the check after it failed: %s", message, error);
            free (message);
            message = with;
        }
    }
    update.message = message;
    update.report_id = report_id ? report_id : "";
    agent_commands_update (commands, command, &update);
    log_info ("remediation finished", "command_id", command->command_id,
              "kind", apply ? "apply" : "plan",
              "state", agent_command_state_name (update.state), "message", message,
              "report_id", report_id ? report_id : "",
              "lines_truncated", LOG_NUM (result.lines_truncated),
              "lines_dropped", LOG_NUM (result.lines_dropped));
    free (update.plan_json.data);
    free (report_id);
    free (message);
    remediate_result_free (&result);
}
