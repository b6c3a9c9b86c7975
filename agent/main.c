/*  drift-agent: runs beside a customer's Terraform/OpenTofu stacks and
    streams drift reports to a drift server over CurveZMQ (endpoint tcp://)
    or HTTPS with a client certificate (endpoint https://).

      drift-agent send --stack NAME FILE|-   one report, for CI pipelines
      drift-agent run                        the daemon: check every stack each interval
      drift-agent status                     link state, spool depth, last ACK

    Secrets never leave the machine: every value the plan marks sensitive is
    replaced by a keyed hash (agent/redact) before the report is spooled.
    The agent never applies anything.
*/
#include "redact.h"
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
    { "stacks", CONFIG_STRING, "", "stacks to check: NAME=DIRECTORY, comma separated" },
    { "engine", CONFIG_STRING, "terraform", "terraform or tofu executable" },
    { "interval-s", CONFIG_INT, "900", "seconds between two checks of a stack" },
    { "check-timeout-s", CONFIG_INT, "1800", "a check running longer is killed" },
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
static int
s_https_open (agent_t *agent, config_t *config, link_t *link)
{
    link_https_config_t https = {
        .endpoint = config_get (config, "endpoint"),
        .certificate = config_get (config, "certificate"),
        .key = config_get (config, "key"),
        .ca = config_get (config, "ca"),
        .window = (int) config_get_int (config, "window"),
        .timeout_ms = (int) config_get_int (config, "ack-timeout-ms")
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

static int
s_agent_open (agent_t *agent, config_t *config)
{
    memset (agent, 0, sizeof *agent);
    link_t link = { NULL, NULL };
    const char *endpoint = config_get (config, "endpoint");
    if (strncmp (endpoint, "https://", 8) == 0 ? s_https_open (agent, config, &link)
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

static char *
s_spool_report (agent_t *agent, const char *input, size_t size, const char *stack,
                const char *engine, const char *driftignore)
{
    report_options_t options = { .stack = stack, .engine = engine,
                                 .redact_key = agent->redact_key, .driftignore = driftignore };
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
    if (s_agent_open (&agent, config) == 0) {
        size_t size = 0;
        char *input = s_read_input (config_argv (config, 0), &size);
        const char *ignore_path = config_get (config, "ignore");
        char *driftignore = s_driftignore (ignore_path);
        if (*ignore_path && !driftignore)
            fprintf (stderr, "drift-agent: cannot read %s\n", ignore_path);
        char *id = input && (!*ignore_path || driftignore)
                 ? s_spool_report (&agent, input, size, stack, config_get (config, "engine"),
                                   driftignore) : NULL;
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
    int64_t next_check;          // monotonic ms
} stack_t_;

static int
s_parse_stacks (const char *text, stack_t_ *stacks, int max)
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
        stacks [count].name = strdup (item);
        stacks [count].directory = strdup (equals + 1);
        stacks [count].next_check = 0;
        count++;
    }
    free (copy);
    return count;
}

static int
s_run (int argc, char **argv)
{
    int exit_code;
    config_t *config = s_load ("run",
        "Check every configured stack each interval and stream the reports.",
        s_run_options, argc, argv, &exit_code);
    if (!config)
        return exit_code;
    stack_t_ stacks [64];
    int count = s_parse_stacks (config_get (config, "stacks"), stacks, 64);
    if (count < 0) {
        fprintf (stderr, "drift-agent: stacks must be NAME=DIRECTORY[,NAME=DIRECTORY...] (at most 64)\n");
        config_destroy (&config);
        return EXIT_USAGE;
    }
    shutdown_install ();
    agent_t agent;
    if (s_agent_open (&agent, config)) {
        s_agent_close (&agent);
        config_destroy (&config);
        return EXIT_USAGE;
    }
    int64_t interval_ms = config_get_int (config, "interval-s") * 1000;
    bool refused = false;
    log_info ("agent running", "stacks", LOG_NUM (count), "spool_depth",
              LOG_NUM (spool_depth (agent.spool)));
    while (!shutdown_requested ()) {
        int64_t next = clock_mono_ms () + 1000;
        for (int i = 0; i < count && !shutdown_requested (); i++) {
            if (clock_mono_ms () >= stacks [i].next_check) {
                runner_config_t run = {
                    .engine = config_get (config, "engine"),
                    .directory = stacks [i].directory,
                    .timeout_s = (int) config_get_int (config, "check-timeout-s")
                };
                runner_result_t result = { 0 };
                if (runner_check (&run, &result) == 0) {
                    char *ignore_path = zsys_sprintf ("%s/.driftignore", stacks [i].directory);
                    char *driftignore = s_driftignore (ignore_path);
                    char *id = s_spool_report (&agent, result.payload, result.size,
                                               stacks [i].name, config_get (config, "engine"),
                                               driftignore);
                    free (id);
                    free (driftignore);
                    zstr_free (&ignore_path);
                }
                else
                    log_error ("check failed", "stack", stacks [i].name, "reason", result.error);
                runner_result_free (&result);
                stacks [i].next_check = clock_mono_ms () + interval_ms;
            }
            if (stacks [i].next_check < next)
                next = stacks [i].next_check;
        }
        //  Send until the next check is due (an empty spool returns at once).
        uplink_result_t result;
        int64_t left = next - clock_mono_ms ();
        uplink_flush (agent.uplink, agent.spool, NULL, left > 0 ? (int) left : 0, &result);
        if (result.key_refused) {
            log_error ("stopping: the server refuses this agent's key");
            refused = true;
            break;
        }
        left = next - clock_mono_ms ();
        while (left > 0 && !shutdown_requested ()) {
            zclock_sleep (left > 200 ? 200 : (int) left);
            left = next - clock_mono_ms ();
        }
    }
    uplink_write_status (agent.uplink, agent.spool);
    for (int i = 0; i < count; i++) {
        free (stacks [i].name);
        free (stacks [i].directory);
    }
    s_agent_close (&agent);
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
