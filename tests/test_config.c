/*  The settings loader: defaults < file < environment < command line, and
    errors that name where a bad value came from.
*/
#include "../lib/config.h"

#include <criterion/criterion.h>
#include <criterion/redirect.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const config_option_t s_options [] = {
    CONFIG_COMMON_OPTIONS,
    { "broker", CONFIG_STRING, "tcp://127.0.0.1:5555", "broker endpoints" },
    { "credit", CONFIG_INT, "64", "credit" },
    CONFIG_END
};

static char *
s_write_file (const char *text)
{
    char *path = strdup ("/tmp/drift-config-XXXXXX");
    int fd = mkstemp (path);
    FILE *file = fdopen (fd, "w");
    fputs (text, file);
    fclose (file);
    return path;
}

static void
s_clear_env (void)
{
    unsetenv ("DRIFT_CONFIG");
    unsetenv ("DRIFT_CREDIT");
    unsetenv ("DRIFT_BROKER");
    unsetenv ("DRIFT_LOG_LEVEL");
}

Test (config, defaults_apply_when_nothing_is_set, .init = s_clear_env)
{
    char *argv [] = { "normalize", NULL };
    int exit_code;
    config_t *config = config_load ("normalize", "", s_options, 1, argv, &exit_code);
    cr_assert (config);
    cr_assert_str_eq (config_get (config, "broker"), "tcp://127.0.0.1:5555");
    cr_assert_eq (config_get_int (config, "credit"), 64);
    cr_assert_str_eq (config_get (config, "log-format"), "logfmt");
    config_destroy (&config);
    cr_assert_null (config);
}

Test (config, file_then_environment_then_command_line, .init = s_clear_env)
{
    char *path = s_write_file ("# comment\n\ncredit = 10\nbroker = tcp://file:1\n"
                               "log-level = warn\n");
    setenv ("DRIFT_CREDIT", "20", 1);
    char *argv [] = { "score", "--config", path, "--broker=tcp://cli:2", "extra", NULL };
    int exit_code;
    config_t *config = config_load ("score", "", s_options, 5, argv, &exit_code);
    cr_assert (config);
    cr_assert_eq (config_get_int (config, "credit"), 20, "environment beats file");
    cr_assert_str_eq (config_get (config, "broker"), "tcp://cli:2", "command line beats all");
    cr_assert_str_eq (config_get (config, "log-level"), "warn", "file beats default");
    cr_assert_eq (config_argc (config), 1);
    cr_assert_str_eq (config_argv (config, 0), "extra");
    config_destroy (&config);
    unlink (path);
    free (path);
}

Test (config, unknown_key_in_file_names_file_and_line, .init = s_clear_env)
{
    cr_redirect_stderr ();
    char *path = s_write_file ("credit = 1\ncolour = blue\n");
    char *argv [] = { "score", "--config", path, NULL };
    int exit_code;
    cr_assert_null (config_load ("score", "", s_options, 3, argv, &exit_code));
    cr_assert_eq (exit_code, 2);
    fflush (stderr);
    char expected [256];
    snprintf (expected, sizeof expected, "drift: %s:2: unknown option 'colour'\n", path);
    cr_assert_stderr_eq_str (expected);
    unlink (path);
    free (path);
}

Test (config, bad_number_names_its_source, .init = s_clear_env)
{
    cr_redirect_stderr ();
    setenv ("DRIFT_CREDIT", "lots", 1);
    char *argv [] = { "score", NULL };
    int exit_code;
    cr_assert_null (config_load ("score", "", s_options, 1, argv, &exit_code));
    cr_assert_eq (exit_code, 2);
    fflush (stderr);
    cr_assert_stderr_eq_str (
        "drift: option credit: 'lots' is not a whole number (from DRIFT_CREDIT)\n");
}

Test (config, unknown_flag_and_missing_value_are_errors, .init = s_clear_env)
{
    cr_redirect_stderr ();
    int exit_code;
    char *unknown [] = { "score", "--colour", "blue", NULL };
    cr_assert_null (config_load ("score", "", s_options, 3, unknown, &exit_code));
    char *missing [] = { "score", "--credit", NULL };
    cr_assert_null (config_load ("score", "", s_options, 2, missing, &exit_code));
    cr_assert_eq (exit_code, 2);
}

Test (config, help_lists_options_with_defaults, .init = s_clear_env)
{
    cr_redirect_stdout ();
    char *argv [] = { "score", "--help", NULL };
    int exit_code = -1;
    cr_assert_null (config_load ("score", "Scores.", s_options, 2, argv, &exit_code));
    cr_assert_eq (exit_code, 0);
    fflush (stdout);
    char output [4096] = "";
    FILE *out = cr_get_redirected_stdout ();
    size_t n = fread (output, 1, sizeof output - 1, out);
    output [n] = 0;
    cr_assert (strstr (output, "--credit"));
    cr_assert (strstr (output, "(default: 64)"));
    cr_assert (strstr (output, "DRIFT_"));
}

//  The output of `PROGRAM ARGS --help` (caller frees).
static char *
s_help (const char *program, const char *args)
{
    char command [1024];
    snprintf (command, sizeof command, "'%s' %s --help 2>&1", program, args);
    FILE *pipe = popen (command, "r");
    cr_assert (pipe, "%s", command);
    static char text [1 << 16];
    size_t got = fread (text, 1, sizeof text - 1, pipe);
    text [got] = 0;
    pclose (pipe);
    return strdup (text);
}

//  One agent port (AGENT_LINK_PORT): ingest binds it, and drift-agent,
//  `drift keys issue` and the API's issued configurations point at it
//  (the API's default once said 7000).
Test (config, every_command_defaults_to_ingests_agent_port)
{
    const char *drift = getenv ("DRIFT_BIN");
    const char *agent = getenv ("DRIFT_AGENT_BIN");
    cr_assert (drift && agent, "DRIFT_BIN and DRIFT_AGENT_BIN name the executables");
    struct { const char *program; const char *args; const char *expected; } rows [] = {
        { drift, "ingest", "--endpoint           agent endpoint to bind (CURVE) (default: tcp://*:5560)" },
        { drift, "keys", "(default: tcp://127.0.0.1:5560)" },
        { drift, "api", "connect to (default: tcp://127.0.0.1:5560)" },
        { agent, "send", "--endpoint           ingest's agent endpoint: tcp://HOST:PORT (CurveZMQ) "
                         "or https://HOST[:PORT] (HTTPS) (default: tcp://127.0.0.1:5560)" },
    };
    for (size_t index = 0; index < sizeof rows / sizeof rows [0]; index++) {
        char *help = s_help (rows [index].program, rows [index].args);
        cr_assert (strstr (help, rows [index].expected), "%s --help: no \"%s\" in:\n%s",
                   rows [index].args, rows [index].expected, help);
        free (help);
    }
}
