/*  drift-agent: runs beside a customer's Terraform/OpenTofu stacks and
    streams drift reports to a drift server over CurveZMQ (endpoint tcp://)
    or HTTPS with a client certificate (endpoint https://).

      drift-agent send --stack NAME FILE|-   one report, for CI pipelines
      drift-agent run                        the daemon: check every stack each interval
      drift-agent status                     link state, spool depth, last ACK

    Secrets never leave the machine: every value the plan marks sensitive is
    replaced by a keyed hash (agent/redact) before the report is spooled.

    `run` also takes commands from ingest (proto/AGENT-LINK.md section 7,
    agent/commands.c; over CurveZMQ ingest sends them, over HTTPS the agent
    polls for them every command-poll-s): CHECK runs the stack's (or every stack's) check now,
    its report carrying the command's id; remediation commands go to
    agent/remediation.c, which refuses them unless the stack is listed in
    `remediation`. Commands and checks run one at a time.
*/
#include "commands.h"
#include "redact.h"
#include "remediate.h"
#include "remediation.h"
#include "report.h"
#include "runner.h"
#include "spool.h"
#include "link_curve.h"
#include "link_https.h"
#include "uplink.h"
#include "../lib/agent_link.h"
#include "../lib/clock.h"
#include "../lib/config.h"
#include "../lib/log.h"
#include "../lib/secret.h"
#include "../lib/shutdown.h"

#include <czmq.h>
#include <jansson.h>
#include <sodium.h>

//  Exit codes of `send`, for CI scripts.
#define EXIT_SENT 0
#define EXIT_REFUSED 1
#define EXIT_USAGE 2
#define EXIT_FAILED 3

#define AGENT_LINK_OPTIONS \
    { "endpoint", CONFIG_STRING, AGENT_LINK_ENDPOINT, "ingest's agent endpoint: tcp://HOST:PORT (CurveZMQ) or https://HOST[:PORT] (HTTPS)" }, \
    { "server-key", CONFIG_STRING, "", "ingest's public key (Z85, from drift keys issue; CurveZMQ only)" }, \
    { "certificate", CONFIG_STRING, "", "this agent's certificate file (from drift keys issue): the CURVE certificate, or over HTTPS the client certificate (PEM)" }, \
    { "key", CONFIG_STRING, "", "over HTTPS: the client certificate's private key (PEM, mode 0600)" }, \
    { "ca", CONFIG_STRING, "", "over HTTPS: the server's CA bundle when it is private (default: the system's)" }, \
    { "spool", CONFIG_STRING, "/var/lib/drift-agent/spool", "directory of reports not yet acked" }, \
    { "ack-timeout-ms", CONFIG_INT, "10000", "an unanswered report after this means the link is broken" }, \
    { "window", CONFIG_INT, "16", "reports in flight at once" }, \
    { "backoff-max-ms", CONFIG_INT, "30000", "longest pause between connection attempts" }

static const config_option_t s_send_options [] = {
    CONFIG_COMMON_OPTIONS,
    AGENT_LINK_OPTIONS,
    { "stack", CONFIG_STRING, "", "stack name the report is about (required)" },
    { "engine", CONFIG_STRING, "terraform", "terraform or tofu (what produced the input)" },
    { "timeout-s", CONFIG_INT, "60", "give up (the report stays spooled) after this" },
    { "ignore", CONFIG_STRING, "", "the stack's .driftignore, sent with the report" },
    CONFIG_END
};

static const config_option_t s_run_options [] = {
    CONFIG_COMMON_OPTIONS,
    AGENT_LINK_OPTIONS,
    { "stacks", CONFIG_STRING, "", "stacks to check: NAME=DIRECTORY[:SECONDS], comma separated (SECONDS: that stack's interval)" },
    { "engine", CONFIG_STRING, "terraform", "terraform or tofu executable" },
    { "interval-s", CONFIG_INT, "900", "seconds between two checks of a stack (unless its entry in stacks says)" },
    { "remediation", CONFIG_STRING, "", "stacks that may run remediation commands: NAME, comma separated (default: none)" },
    { "check-timeout-s", CONFIG_INT, "1800", "a check running longer is killed" },
    { "remediation-timeout-s", CONFIG_INT, "1800", "a plan or apply running longer is killed (unless the command says)" },
    { "lock-timeout-s", CONFIG_INT, "60", "plan and apply wait this long for the stack's state lock" },
    { "command-poll-s", CONFIG_INT, "10", "over HTTPS: seconds between two polls for commands (0: never poll; CurveZMQ brings them unasked)" },
    { "command-records-days", CONFIG_INT, "30", "records of finished commands, every update acked, are forgotten after this many days (at least 1)" },
    CONFIG_END
};

static const config_option_t s_status_options [] = {
    CONFIG_COMMON_OPTIONS,
    { "spool", CONFIG_STRING, "/var/lib/drift-agent/spool", "directory of reports not yet acked" },
    CONFIG_END
};

static config_t *
s_load (const char *command, const char *summary, const config_option_t *options,
        int argc, char **argv, int *exit_code)
{
    config_t *config = config_load (command, summary, options, argc, argv, exit_code);
    if (config
    &&  log_init ("agent", config_get (config, "log-format"), config_get (config, "log-level"))) {
        fprintf (stderr, "drift-agent: log-format must be logfmt or json, log-level one of "
                 "debug, info, warn, error\n");
        config_destroy (&config);
        *exit_code = EXIT_USAGE;
    }
    if (!config && *exit_code)
        *exit_code = EXIT_USAGE;
    return config;
}

//  What every command that talks to ingest needs.
typedef struct {
    zcert_t *cert;               // this agent's keypair (CurveZMQ)
    uint8_t redact_key [REDACT_KEY_BYTES]; // derived from its secret key (CURVE or HTTPS)
    spool_t *spool;              // reports not yet acked
    uplink_t *uplink;            // the link
    char *status_path;           // spool/status.json
} agent_t;

static void
s_agent_close (agent_t *agent)
{
    sodium_memzero (agent->redact_key, sizeof agent->redact_key);
    uplink_destroy (&agent->uplink);
    spool_destroy (&agent->spool);
    secret_cert_destroy (&agent->cert);
    zstr_free (&agent->status_path);
}

//  The CurveZMQ transport and the redaction key from the CURVE secret key.
static int
s_curve_open (agent_t *agent, config_t *config, link_t *link)
{
    const char *certificate = config_get (config, "certificate");
    const char *server_key = config_get (config, "server-key");
    if (!*certificate || strlen (server_key) != 40) {
        fprintf (stderr, "drift-agent: --certificate FILE and --server-key KEY (40 characters) "
                 "are required (both come from `drift keys issue`)\n");
        return -1;
    }
    //  The certificate holds the agent's secret key: read as every secret
    //  file of drift is (lib/secret.h), so it must be the user's own, 0600.
    char error [512];
    agent->cert = secret_cert_load (certificate, error, sizeof error);
    if (!agent->cert) {
        fprintf (stderr, "drift-agent: cannot use the certificate: %s (use the file drift keys "
                 "issue wrote for the agent)\n", error);
        return -1;
    }
    redact_key_derive (zcert_secret_key (agent->cert), agent->redact_key);
    return link_curve_new (link, config_get (config, "endpoint"), server_key, agent->cert);
}

//  The HTTPS transport and the redaction key from the client key: BLAKE2b
//  of the key file's bytes stands in for the CURVE secret (agent/README.md).
//  It polls for commands every command_poll_s (0: never, as `send` does).
static int
s_https_open (agent_t *agent, config_t *config, int command_poll_s, link_t *link)
{
    link_https_config_t https = {
        .endpoint = config_get (config, "endpoint"),
        .certificate = config_get (config, "certificate"),
        .key = config_get (config, "key"),
        .ca = config_get (config, "ca"),
        .window = (int) config_get_int (config, "window"),
        .timeout_ms = (int) config_get_int (config, "ack-timeout-ms"),
        .command_poll_s = command_poll_s
    };
    char error [512];
    if (link_https_new (link, &https, error, sizeof error)) {
        fprintf (stderr, "drift-agent: cannot use the HTTPS link: %s (certificate, key and "
                 "endpoint come from `drift keys issue`)\n", error);
        return -1;
    }
    uint8_t *bytes = (uint8_t *) malloc (LINK_HTTPS_KEY_MAX);
    size_t size;
    uint8_t digest [32];
    int rc = secret_read (https.key, bytes, LINK_HTTPS_KEY_MAX, &size, error, sizeof error);
    if (rc == 0) {
        crypto_generichash (digest, sizeof digest, bytes, size, NULL, 0);
        redact_key_derive (digest, agent->redact_key);
    }
    else {
        fprintf (stderr, "drift-agent: cannot use the client key: %s\n", error);
        link->ops->destroy (link->self);
    }
    sodium_memzero (bytes, LINK_HTTPS_KEY_MAX);
    sodium_memzero (digest, sizeof digest);
    free (bytes);
    return rc;
}

//  The link, spool and uplink; over HTTPS polling for commands every
//  command_poll_s (0: never).
static int
s_agent_open (agent_t *agent, config_t *config, int command_poll_s)
{
    memset (agent, 0, sizeof *agent);
    link_t link = { NULL, NULL };
    const char *endpoint = config_get (config, "endpoint");
    if (strncmp (endpoint, "https://", 8) == 0 ? s_https_open (agent, config, command_poll_s, &link)
                                               : s_curve_open (agent, config, &link))
        return -1;
    agent->spool = spool_new (config_get (config, "spool"));
    if (!agent->spool) {
        fprintf (stderr, "drift-agent: cannot use the spool directory %s\n",
                 config_get (config, "spool"));
        link.ops->destroy (link.self);
        return -1;
    }
    agent->status_path = zsys_sprintf ("%s/status.json", config_get (config, "spool"));
    uplink_config_t uplink = {
        .endpoint = endpoint,
        .link = link,
        .ack_timeout_ms = (int) config_get_int (config, "ack-timeout-ms"),
        .window = (int) config_get_int (config, "window"),
        .backoff_max_ms = (int) config_get_int (config, "backoff-max-ms"),
        .status_path = agent->status_path
    };
    agent->uplink = uplink_new (&uplink);
    if (!agent->uplink) {
        fprintf (stderr, "drift-agent: link settings unusable (endpoint, ack-timeout-ms, window)\n");
        return -1;
    }
    return 0;
}

//  Build a report from a plan document and spool it; its id, or NULL.
static char *s_read_input (const char *path, size_t *size);

//  A stack's .driftignore text, or NULL when there is none (a missing file
//  is the normal case; an unreadable one is logged).
static char *
s_driftignore (const char *path)
{
    if (!path || !*path || access (path, F_OK))
        return NULL;
    size_t size;
    char *text = s_read_input (path, &size);
    if (!text)
        log_warn ("cannot read the stack's .driftignore, sent without it", "path", path);
    return text;
}

//  secrets, if set (an array), gets the plan's sensitive values.
static char *
s_spool_report (agent_t *agent, const char *input, size_t size, const char *stack,
                const char *engine, const char *driftignore, const char *command_id,
                json_t *secrets)
{
    report_options_t options = { .stack = stack, .engine = engine,
                                 .redact_key = agent->redact_key, .driftignore = driftignore,
                                 .command_id = command_id, .secrets = secrets };
    char *error = NULL;
    Drift__Report *report = report_build (input, size, &options, &error);
    if (!report) {
        log_error ("report not built", "stack", stack, "reason", error);
        free (error);
        return NULL;
    }
    size_t packed_size = drift__report__get_packed_size (report);
    uint8_t *packed = (uint8_t *) malloc (packed_size);
    drift__report__pack (report, packed);
    char *id = strdup (report->report_id);
    if (spool_put (agent->spool, id, packed, packed_size)) {
        log_error ("report not spooled", "stack", stack, "spool",
                   spool_directory (agent->spool), "error", strerror (errno));
        zstr_free (&id);
    }
    else
        log_info ("report spooled", "stack", stack, "report_id", id,
                  "bytes", LOG_NUM (report->uncompressed_size),
                  "compressed", LOG_NUM (report->payload.len));
    free (packed);
    drift__report__free_unpacked (report, NULL);
    return id;
}

static char *
s_read_input (const char *path, size_t *size)
{
    FILE *file = streq (path, "-") ? stdin : fopen (path, "rb");
    if (!file)
        return NULL;
    zchunk_t *chunk = zchunk_new (NULL, 1 << 20);
    char buffer [65536];
    size_t got;
    while ((got = fread (buffer, 1, sizeof buffer, file)) > 0)
        zchunk_extend (chunk, buffer, got);
    bool failed = ferror (file);
    if (file != stdin)
        fclose (file);
    char *text = NULL;
    if (!failed) {
        *size = zchunk_size (chunk);
        text = (char *) malloc (*size + 1);
        memcpy (text, zchunk_data (chunk), *size);
        text [*size] = 0;
    }
    zchunk_destroy (&chunk);
    return text;
}

static int
s_send (int argc, char **argv)
{
    int exit_code;
    config_t *config = s_load ("send",
        "Send one report (show -json output of a refresh-only plan, or a plan -json stream).",
        s_send_options, argc, argv, &exit_code);
    if (!config)
        return exit_code;
    const char *stack = config_get (config, "stack");
    if (!*stack || config_argc (config) != 1) {
        fprintf (stderr, "usage: drift-agent send --stack NAME FILE|-\n");
        config_destroy (&config);
        return EXIT_USAGE;
    }
    shutdown_install ();
    agent_t agent;
    int rc = EXIT_USAGE;
    if (s_agent_open (&agent, config, 0) == 0) {
        size_t size = 0;
        char *input = s_read_input (config_argv (config, 0), &size);
        const char *ignore_path = config_get (config, "ignore");
        char *driftignore = s_driftignore (ignore_path);
        if (*ignore_path && !driftignore)
            fprintf (stderr, "drift-agent: cannot read %s\n", ignore_path);
        char *id = input && (!*ignore_path || driftignore)
                 ? s_spool_report (&agent, input, size, stack, config_get (config, "engine"),
                                   driftignore, NULL, NULL) : NULL;
        free (driftignore);
        if (!input)
            fprintf (stderr, "drift-agent: cannot read %s\n", config_argv (config, 0));
        if (id) {
            uplink_result_t result;
            uplink_flush (agent.uplink, agent.spool, id,
                          (int) config_get_int (config, "timeout-s") * 1000, &result);
            rc = result.sent ? EXIT_SENT
               : result.refused || result.key_refused ? EXIT_REFUSED : EXIT_FAILED;
            if (rc == EXIT_SENT)
                printf ("sent %s\n", id);
            else
            if (rc == EXIT_REFUSED)
                printf ("refused %s\n", id);
            else
                printf ("failed %s (kept in %s; `drift-agent run` resends it)\n", id,
                        spool_directory (agent.spool));
        }
        free (id);
        free (input);
    }
    s_agent_close (&agent);
    config_destroy (&config);
    return rc;
}

//  One stack of the daemon.
typedef struct {
    char *name;                  // stack name
    char *directory;             // its Terraform directory
    int64_t interval_ms;         // between two checks (its own, or interval-s)
    int64_t next_check;          // monotonic ms
    bool remediation;            // listed in `remediation`: remediation commands may run
    json_t *secrets;             // the values its last check's plan marked sensitive: in
                                 // memory only, to redact a failed remediation plan's output
} stack_t_;

//  NAME=DIRECTORY[:SECONDS], comma separated; a trailing :SECONDS (digits
//  only, 1 or more) is the stack's own interval, else default_ms.
static int
s_parse_stacks (const char *text, stack_t_ *stacks, int max, int64_t default_ms)
{
    int count = 0;
    char *copy = strdup (text);
    char *rest = copy, *item;
    while ((item = strsep (&rest, ","))) {
        while (*item == ' ')
            item++;
        char *equals = strchr (item, '=');
        if (!*item)
            continue;
        if (!equals || equals == item || !equals [1] || count == max) {
            free (copy);
            return -1;
        }
        *equals = 0;
        int64_t interval_ms = default_ms;
        char *colon = strrchr (equals + 1, ':');
        if (colon && colon [1] && strspn (colon + 1, "0123456789") == strlen (colon + 1)) {
            long seconds = atol (colon + 1);
            if (seconds < 1 || colon == equals + 1) {
                free (copy);
                return -1;
            }
            interval_ms = (int64_t) seconds * 1000;
            *colon = 0;
        }
        stacks [count].name = strdup (item);
        stacks [count].directory = strdup (equals + 1);
        stacks [count].interval_ms = interval_ms;
        stacks [count].next_check = 0;
        stacks [count].remediation = false;
        stacks [count].secrets = NULL;
        count++;
    }
    free (copy);
    return count;
}

//  `remediation = NAME,NAME`: each must name a configured stack.
static int
s_parse_remediation (const char *text, stack_t_ *stacks, int count)
{
    char *copy = strdup (text);
    char *rest = copy, *item;
    int rc = 0;
    while ((item = strsep (&rest, ","))) {
        while (*item == ' ')
            item++;
        if (!*item)
            continue;
        int i = 0;
        while (i < count && strcmp (stacks [i].name, item))
            i++;
        if (i == count) {
            fprintf (stderr, "drift-agent: remediation names %s, which is not in stacks\n", item);
            rc = -1;
        }
        else
            stacks [i].remediation = true;
    }
    free (copy);
    return rc;
}

//  What the reports say produced them: "tofu" when the engine executable is
//  named so (engine = /opt/bin/tofu), else "terraform"; the archive takes
//  only these two, and a path there made every report fail.
static const char *
s_engine_name (const char *engine)
{
    const char *slash = strrchr (engine, '/');
    return strncmp (slash ? slash + 1 : engine, "tofu", 4) == 0 ? "tofu" : "terraform";
}

//  One check of stack, its report spooled (carrying command_id, if any):
//  0 with the report's id in *report_id (the caller frees it), or -1 with
//  the reason in error.
static int
s_check_stack (agent_t *agent, config_t *config, stack_t_ *stack, const char *command_id,
               char **report_id, char *error, size_t error_size)
{
    runner_config_t run = {
        .engine = config_get (config, "engine"),
        .directory = stack->directory,
        .timeout_s = (int) config_get_int (config, "check-timeout-s")
    };
    runner_result_t result = { 0 };
    *report_id = NULL;
    if (runner_check (&run, &result) == 0) {
        char *ignore_path = zsys_sprintf ("%s/.driftignore", stack->directory);
        char *driftignore = s_driftignore (ignore_path);
        json_t *secrets = json_array ();
        *report_id = s_spool_report (agent, result.payload, result.size, stack->name,
                                     s_engine_name (config_get (config, "engine")), driftignore,
                                     command_id, secrets);
        //  A plan that failed says nothing of what is sensitive: the last
        //  plan that did stays what the stack's values are known by.
        if (*report_id && result.format == RUNNER_PLAN_JSON) {
            outlines_wipe (&stack->secrets);
            stack->secrets = secrets;
        }
        else
            outlines_wipe (&secrets);
        free (driftignore);
        zstr_free (&ignore_path);
        if (!*report_id)
            snprintf (error, error_size, "the report was not built or spooled (see the agent's log)");
    }
    else {
        log_error ("check failed", "stack", stack->name, "reason", result.error);
        snprintf (error, error_size, "%s", result.error ? result.error : "the check failed");
    }
    runner_result_free (&result);
    stack->next_check = clock_mono_ms () + stack->interval_ms;
    return *report_id ? 0 : -1;
}

//  CHECK: the stack's check now (every stack's when it names none). It
//  succeeds when every check made a report; the last report's id goes
//  back, each report carries the command's id.
static void
s_command_check (agent_t *agent, config_t *config, stack_t_ *stacks, int count,
                 agent_commands_t *commands, const Drift__Command *command)
{
    char *lines [64];
    int made = 0;
    char *last = NULL;
    char error [512] = "";
    bool failed = false;
    for (int i = 0; i < count; i++) {
        if (*command->stack && strcmp (command->stack, stacks [i].name))
            continue;
        char *report_id;
        if (s_check_stack (agent, config, &stacks [i], command->command_id, &report_id,
                           error, sizeof error)) {
            lines [made++] = zsys_sprintf ("%s: check failed: %s", stacks [i].name, error);
            failed = true;
        }
        else {
            lines [made++] = zsys_sprintf ("%s: report %s", stacks [i].name, report_id);
            free (last);
            last = report_id;
        }
    }
    if (made == 0)
        agent_commands_finish (commands, command, DRIFT__COMMAND_STATE__COMMAND_STATE_REFUSED,
                               "this agent has no such stack", 0, NULL, NULL, 0);
    else
        agent_commands_finish (commands, command,
                               failed ? DRIFT__COMMAND_STATE__COMMAND_STATE_FAILED
                                      : DRIFT__COMMAND_STATE__COMMAND_STATE_SUCCEEDED,
                               failed ? error : "", 0, last,
                               (const char *const *) lines, (size_t) made);
    for (int i = 0; i < made; i++)
        zstr_free (&lines [i]);
    free (last);
}

//  What remediation calls back: the check after an APPLY (the stack's
//  own) and the uplink while the engine runs.
typedef struct {
    agent_t *agent;              // the agent
    config_t *config;            // its configuration
    stack_t_ *stack;             // the stack applied to
} s_check_arg_t;

static int
s_remediation_check (void *arg, const char *command_id, char **report_id, char *error,
                     size_t error_size)
{
    s_check_arg_t *self = (s_check_arg_t *) arg;
    return s_check_stack (self->agent, self->config, self->stack, command_id, report_id,
                          error, error_size);
}

//  The spooled updates go for a moment (and the acks of earlier ones come).
static void
s_send_updates (agent_t *agent)
{
    uplink_result_t result;
    uplink_flush (agent->uplink, agent->spool, NULL, 200, &result);
}

//  While the engine runs: the dashboard follows its output.
static void
s_remediation_send (void *arg)
{
    s_send_updates (((s_check_arg_t *) arg)->agent);
}

//  How often `run` prunes command records and plan files (and at start).
#define AGENT_PRUNE_INTERVAL_MS (10 * 60 * 1000)

//  remediate_spent_fn over the command records.
static bool
s_plan_spent (void *arg, const char *id)
{
    return agent_commands_plan_spent ((agent_commands_t *) arg, id);
}

//  Forget what can no longer matter: records of commands finished more
//  than command-records-days ago with every update acked, and plan files
//  no apply can take (too old, or their plan failed).
static void
s_prune (agent_t *agent, config_t *config, agent_commands_t *commands)
{
    int64_t days = config_get_int (config, "command-records-days");
    int records = agent_commands_prune (commands,
                                        clock_wall_us () - days * 86400 * INT64_C (1000000));
    char *plans_dir = zsys_sprintf ("%s/plans", spool_directory (agent->spool));
    size_t plans = remediate_prune_plans (plans_dir, s_plan_spent, commands);
    zstr_free (&plans_dir);
    if (records || plans)
        log_info ("pruned", "command_records", LOG_NUM (records), "plans", LOG_NUM (plans));
}

//  Every command recorded and not yet run, one at a time.
static void
s_run_commands (agent_t *agent, config_t *config, stack_t_ *stacks, int count,
                agent_commands_t *commands)
{
    Drift__Command *command;
    while (!shutdown_requested () && (command = agent_commands_start (commands))) {
        //  Its RUNNING update goes now, not once the engine is done: the
        //  dashboard shows a check (which streams no output) running.
        s_send_updates (agent);
        if (command->kind == DRIFT__COMMAND_KIND__COMMAND_KIND_CHECK)
            s_command_check (agent, config, stacks, count, commands, command);
        else {
            int i = 0;
            while (i < count && strcmp (stacks [i].name, command->stack))
                i++;
            if (i == count)
                agent_commands_finish (commands, command,
                                       DRIFT__COMMAND_STATE__COMMAND_STATE_REFUSED,
                                       "this agent has no such stack", 0, NULL, NULL, 0);
            else {
                s_check_arg_t arg = { agent, config, &stacks [i] };
                char *plans_dir = zsys_sprintf ("%s/plans", spool_directory (agent->spool));
                remediation_stack_t stack = {
                    .directory = stacks [i].directory,
                    .enabled = stacks [i].remediation,
                    .engine = config_get (config, "engine"),
                    .plans_dir = plans_dir,
                    .redact_key = agent->redact_key,
                    .timeout_s = (int) config_get_int (config, "remediation-timeout-s"),
                    .lock_timeout_s = (int) config_get_int (config, "lock-timeout-s"),
                    .check = s_remediation_check,
                    .send = s_remediation_send,
                    .known_secrets = stacks [i].secrets,
                    .arg = &arg
                };
                remediation_dispatch (commands, command, &stack);
                zstr_free (&plans_dir);
            }
        }
        drift__command__free_unpacked (command, NULL);
    }
}

static int
s_run (int argc, char **argv)
{
    int exit_code;
    config_t *config = s_load ("run",
        "Check every configured stack each interval, run commands, and stream the reports.",
        s_run_options, argc, argv, &exit_code);
    if (!config)
        return exit_code;
    stack_t_ stacks [64];
    int count = s_parse_stacks (config_get (config, "stacks"), stacks, 64,
                                config_get_int (config, "interval-s") * 1000);
    if (count < 0) {
        fprintf (stderr, "drift-agent: stacks must be NAME=DIRECTORY[:SECONDS][,...] (at most 64)\n");
        config_destroy (&config);
        return EXIT_USAGE;
    }
    agent_t agent;
    agent_commands_t *commands = NULL;
    //  Less than a day could forget a command ingest is still resending
    //  (it resends until RECEIVED is stored): it would run twice.
    bool usable = config_get_int (config, "command-records-days") >= 1;
    if (!usable)
        fprintf (stderr, "drift-agent: command-records-days must be at least 1\n");
    if (usable
    &&  s_parse_remediation (config_get (config, "remediation"), stacks, count) == 0) {
        shutdown_install ();
        if (s_agent_open (&agent, config, (int) config_get_int (config, "command-poll-s")) == 0) {
            commands = agent_commands_new (spool_directory (agent.spool));
            if (!commands)
                fprintf (stderr, "drift-agent: cannot use %s/commands\n",
                         spool_directory (agent.spool));
        }
    }
    else
        memset (&agent, 0, sizeof agent);
    if (!commands) {
        s_agent_close (&agent);
        for (int i = 0; i < count; i++) {
            free (stacks [i].name);
            free (stacks [i].directory);
        }
        config_destroy (&config);
        return EXIT_USAGE;
    }
    uplink_set_commands (agent.uplink, commands);
    s_prune (&agent, config, commands);
    int64_t next_prune = clock_mono_ms () + AGENT_PRUNE_INTERVAL_MS;
    bool refused = false;
    log_info ("agent running", "stacks", LOG_NUM (count), "spool_depth",
              LOG_NUM (spool_depth (agent.spool)));
    while (!shutdown_requested ()) {
        int64_t next = clock_mono_ms () + 1000;
        for (int i = 0; i < count && !shutdown_requested (); i++) {
            if (clock_mono_ms () >= stacks [i].next_check) {
                char *report_id;
                char error [512];
                s_check_stack (&agent, config, &stacks [i], NULL, &report_id, error,
                               sizeof error);
                free (report_id);
            }
            if (stacks [i].next_check < next)
                next = stacks [i].next_check;
        }
        s_run_commands (&agent, config, stacks, count, commands);
        if (clock_mono_ms () >= next_prune) {
            s_prune (&agent, config, commands);
            next_prune = clock_mono_ms () + AGENT_PRUNE_INTERVAL_MS;
        }
        //  Send, and take commands, until the next check is due: the link
        //  stays up (uplink_set_commands) even with nothing to send.
        uplink_result_t result;
        int64_t left = next - clock_mono_ms ();
        uplink_flush (agent.uplink, agent.spool, NULL, left > 0 ? (int) left : 0, &result);
        if (result.key_refused) {
            log_error ("stopping: the server refuses this agent's key");
            refused = true;
            break;
        }
    }
    uplink_write_status (agent.uplink, agent.spool);
    for (int i = 0; i < count; i++) {
        free (stacks [i].name);
        free (stacks [i].directory);
        outlines_wipe (&stacks [i].secrets);
    }
    s_agent_close (&agent);
    agent_commands_destroy (&commands);
    config_destroy (&config);
    return refused ? EXIT_REFUSED : 0;
}

static int
s_status (int argc, char **argv)
{
    int exit_code;
    config_t *config = s_load ("status", "Show the link state, spool depth and last ACK.",
                               s_status_options, argc, argv, &exit_code);
    if (!config)
        return exit_code;
    spool_t *spool = spool_new (config_get (config, "spool"));
    if (!spool) {
        fprintf (stderr, "drift-agent: cannot use the spool directory %s\n",
                 config_get (config, "spool"));
        config_destroy (&config);
        return EXIT_USAGE;
    }
    char *path = zsys_sprintf ("%s/status.json", config_get (config, "spool"));
    json_t *status = json_load_file (path, 0, NULL);
    const char *state = json_string_value (json_object_get (status, "state"));
    json_int_t last_ack_us = json_integer_value (json_object_get (status, "last_ack_us"));
    char last_ack [64] = "never";
    if (last_ack_us) {
        time_t seconds = (time_t) (last_ack_us / 1000000);
        struct tm utc;
        gmtime_r (&seconds, &utc);
        strftime (last_ack, sizeof last_ack, "%Y-%m-%dT%H:%M:%SZ", &utc);
    }
    printf ("state        %s\n", state ? state : "unknown (the agent has not run yet)");
    printf ("endpoint     %s\n", json_string_value (json_object_get (status, "endpoint"))
                                 ? json_string_value (json_object_get (status, "endpoint")) : "-");
    printf ("tenant       %s\n", json_string_value (json_object_get (status, "tenant"))
                                 ? json_string_value (json_object_get (status, "tenant")) : "-");
    printf ("agent        %s\n", json_string_value (json_object_get (status, "agent"))
                                 ? json_string_value (json_object_get (status, "agent")) : "-");
    printf ("spool depth  %zu\n", spool_depth (spool));
    printf ("refused      %zu\n", spool_refused (spool));
    //  Command updates ingest refused for good (AGENT-LINK.md section 7).
    char *out = zsys_sprintf ("%s/commands/out", config_get (config, "spool"));
    spool_t *updates = spool_open (out, ".update");
    printf ("refused updates %zu\n", updates ? spool_refused (updates) : 0);
    spool_destroy (&updates);
    zstr_free (&out);
    printf ("last ack     %s %s\n", last_ack,
            json_string_value (json_object_get (status, "last_ack_report"))
            ? json_string_value (json_object_get (status, "last_ack_report")) : "");
    const char *error = json_string_value (json_object_get (status, "last_error"));
    printf ("last error   %s\n", error && *error ? error : "-");
    json_decref (status);
    zstr_free (&path);
    spool_destroy (&spool);
    config_destroy (&config);
    return 0;
}

static void
s_usage (FILE *out)
{
    fprintf (out,
        "usage: drift-agent COMMAND [options]   (drift-agent COMMAND --help for its options)\n\n"
        "  send --stack NAME FILE|-  send one report (exit 0 sent, 1 refused, 3 failed)\n"
        "  run                       check every configured stack each interval, stream reports\n"
        "  status                    link state, spool depth, last ACK\n");
}

int
main (int argc, char **argv)
{
    if (sodium_init () < 0)
        return EXIT_FAILED;
    if (argc < 2) {
        s_usage (stderr);
        return EXIT_USAGE;
    }
    if (streq (argv [1], "help") || streq (argv [1], "--help")) {
        s_usage (stdout);
        return 0;
    }
    if (streq (argv [1], "send"))
        return s_send (argc - 1, argv + 1);
    if (streq (argv [1], "run"))
        return s_run (argc - 1, argv + 1);
    if (streq (argv [1], "status"))
        return s_status (argc - 1, argv + 1);
    fprintf (stderr, "drift-agent: unknown command '%s'\n\n", argv [1]);
    s_usage (stderr);
    return EXIT_USAGE;
}
