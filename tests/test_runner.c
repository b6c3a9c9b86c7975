/*  The runner: a check hands back the plan as `show -json` printed it, or
    the stream of a failed plan with its error; it runs only plan, show and
    version, refresh-only and unlocked, in the stack's directory taken
    verbatim; a missing engine, a hung plan and runaway output end in a clear
    error with nothing left running.

    Most tests run tests/fixtures/fake-terraform, which replays the real
    captures in tests/fixtures/terraform and logs how it was invoked.
    One runs the real terraform, when it is installed, on a throwaway stack
    that needs no provider download.
*/
#define _GNU_SOURCE             // vasprintf, nftw
#include "../agent/runner.h"
#include "engineutil.h"
#include "../lib/log.h"
#include "../lib/shutdown.h"

#include <criterion/criterion.h>
#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <jansson.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char s_root [256];       // this test's temporary directory
static char s_log [300];        // the fake's invocation log, FAKE_TF_LOG
static char s_fake [512];       // tests/fixtures/fake-terraform
static char s_fixtures [512];   // tests/fixtures/terraform

//  --------------------------------------------------------------------------
//  Helpers

static char *
s_path (const char *format, ...)
{
    va_list args;
    va_start (args, format);
    char *path;
    cr_assert_geq (vasprintf (&path, format, args), 0);
    va_end (args);
    return path;
}

//  A whole file (read to its end: /proc files say they are empty); NULL
//  if it cannot be opened.
static char *
s_read_file (const char *path, size_t *size)
{
    FILE *file = fopen (path, "rb");
    if (!file)
        return NULL;
    size_t length = 0, capacity = 4096;
    char *data = (char *) malloc (capacity);
    size_t count;
    while ((count = fread (data + length, 1, capacity - length - 1, file)) > 0) {
        length += count;
        if (capacity - length - 1 == 0)
            data = (char *) realloc (data, capacity *= 2);
    }
    data [length] = 0;
    fclose (file);
    if (size)
        *size = length;
    return data;
}

//  A capture's file, e.g. "scenario-01.plan.json".
static char *
s_fixture (const char *name, size_t *size)
{
    char *path = s_path ("%s/%s", s_fixtures, name);
    char *data = s_read_file (path, size);
    cr_assert_not_null (data, "cannot read %s", path);
    free (path);
    return data;
}

static int
s_remove_entry (const char *path, const struct stat *info, int flag, struct FTW *walk)
{
    (void) info;
    (void) flag;
    (void) walk;
    remove (path);
    return 0;
}

static void
s_setup (void)
{
    log_init ("test", "logfmt", "error");
    const char *source = getenv ("DRIFT_SOURCE_DIR");
    cr_assert_not_null (source, "DRIFT_SOURCE_DIR must name the project root");
    snprintf (s_fake, sizeof s_fake, "%s/tests/fixtures/fake-terraform", source);
    snprintf (s_fixtures, sizeof s_fixtures, "%s/tests/fixtures/terraform", source);
    snprintf (s_root, sizeof s_root, "/tmp/drift-test-runner-XXXXXX");
    cr_assert_not_null (mkdtemp (s_root));
    snprintf (s_log, sizeof s_log, "%s/invocations.log", s_root);
    setenv ("FAKE_TF_LOG", s_log, 1);
    char *stack = s_path ("%s/stack", s_root);
    cr_assert_eq (mkdir (stack, 0700), 0);
    free (stack);
}

static void
s_teardown (void)
{
    nftw (s_root, s_remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

//  The fake replaying scenario (a capture's name, or a path prefix).
static void
s_scenario (const char *scenario)
{
    char *prefix = *scenario == '/' ? strdup (scenario)
                                    : s_path ("%s/%s", s_fixtures, scenario);
    setenv ("FAKE_TF_SCENARIO", prefix, 1);
    free (prefix);
}

static runner_config_t
s_config (const char *directory, int timeout_s)
{
    static char stack [300];
    if (!directory) {
        snprintf (stack, sizeof stack, "%s/stack", s_root);
        directory = stack;
    }
    runner_config_t config = { s_fake, directory, timeout_s };
    return config;
}

//  A capture of our own at prefix for the fake to replay: a one-line stream
//  and plan_text as the plan (none if NULL).
static void
s_capture_files (const char *prefix, const char *plan_text)
{
    char *stream = s_path ("%s.log.jsonl", prefix);
    eu_write_file (stream, "{\"@level\":\"info\",\"type\":\"version\"}\n");
    free (stream);
    if (plan_text) {
        char *plan = s_path ("%s.plan.json", prefix);
        eu_write_file (plan, plan_text);
        free (plan);
    }
    s_scenario (prefix);
}

//  The fake's invocations: lines of tab-separated fields (pid, directory,
//  TF_IN_AUTOMATION=, TF_INPUT=, stdin=, then the arguments).
typedef struct {
    char *fields [32];          // the fields of one invocation (into the log's text)
    int count;                  // how many
} invocation_t;

static int
s_invocations (invocation_t *invocations, int max, char **text)
{
    *text = s_read_file (s_log, NULL);
    if (!*text)
        return 0;
    int count = 0;
    char *rest = *text, *line;
    while (count < max && (line = strsep (&rest, "\n")) && *line) {
        invocation_t *invocation = &invocations [count++];
        invocation->count = 0;
        char *field;
        while (invocation->count < 32 && (field = strsep (&line, "\t")))
            invocation->fields [invocation->count++] = field;
    }
    return count;
}

static bool
s_has_argument (const invocation_t *invocation, const char *argument)
{
    for (int index = 5; index < invocation->count; index++)
        if (strcmp (invocation->fields [index], argument) == 0)
            return true;
    return false;
}

//  True while any process of the group is alive (zombies are not: an
//  orphan's zombie waits for whoever adopts it to reap it).
static bool
s_group_alive (pid_t group)
{
    DIR *proc = opendir ("/proc");
    cr_assert_not_null (proc);
    bool alive = false;
    struct dirent *entry;
    while (!alive && (entry = readdir (proc))) {
        char *path = s_path ("/proc/%s/stat", entry->d_name);
        char *stat = s_read_file (path, NULL);
        char *after_name = stat ? strrchr (stat, ')') : NULL;
        char state;
        int parent, process_group;
        if (after_name
        &&  sscanf (after_name + 1, " %c %d %d", &state, &parent, &process_group) == 3)
            alive = process_group == group && state != 'Z';
        free (stat);
        free (path);
    }
    closedir (proc);
    return alive;
}

static bool
s_group_gone_soon (pid_t group)
{
    for (int attempt = 0; attempt < 200 && s_group_alive (group); attempt++)
        usleep (10000);
    return !s_group_alive (group);
}

//  --------------------------------------------------------------------------
//  Replayed checks

Test (runner, drifted_scenario_gives_the_plan_as_show_printed_it,
      .init = s_setup, .fini = s_teardown)
{
    s_scenario ("scenario-01");
    runner_config_t config = s_config (NULL, 30);
    runner_result_t result;
    cr_assert_eq (runner_check (&config, &result), 0, "%s", result.error);
    cr_assert_eq (result.format, RUNNER_PLAN_JSON);
    cr_assert_null (result.error);
    size_t size;
    char *expected = s_fixture ("scenario-01.plan.json", &size);
    cr_assert_eq (result.size, size);
    cr_assert_eq (memcmp (result.payload, expected, size), 0, "the payload is the plan, byte for byte");
    cr_assert_str_eq (result.engine_version, "1.11.4-fake");
    free (expected);
    runner_result_free (&result);
    runner_result_free (&result);
    cr_assert_null (result.payload);
}

Test (runner, plan_is_refresh_only_unlocked_in_the_stack_and_nothing_is_applied,
      .init = s_setup, .fini = s_teardown)
{
    s_scenario ("scenario-02");
    setenv ("TF_INPUT", "1", 1);      // the runner's value wins
    runner_config_t config = s_config (NULL, 30);
    runner_result_t result;
    cr_assert_eq (runner_check (&config, &result), 0, "%s", result.error);
    runner_result_free (&result);

    invocation_t invocations [8];
    char *text;
    cr_assert_eq (s_invocations (invocations, 8, &text), 3, "plan, show, version: nothing else");
    const char *subcommands [3] = { "plan", "show", "version" };
    char *stack = realpath (config.directory, NULL);
    for (int index = 0; index < 3; index++) {
        invocation_t *invocation = &invocations [index];
        cr_assert_gt (invocation->count, 5);
        cr_assert_str_eq (invocation->fields [5], subcommands [index]);
        cr_assert_str_eq (invocation->fields [1], stack, "runs in the stack's directory");
        cr_assert_str_eq (invocation->fields [2], "TF_IN_AUTOMATION=1");
        cr_assert_str_eq (invocation->fields [3], "TF_INPUT=0");
        cr_assert_str_eq (invocation->fields [4], "stdin=/dev/null");
        for (int field = 5; field < invocation->count; field++)
            cr_assert_null (strstr (invocation->fields [field], "apply"),
                            "argument '%s'", invocation->fields [field]);
    }
    invocation_t *plan = &invocations [0];
    cr_assert (s_has_argument (plan, "-refresh-only"));
    cr_assert (s_has_argument (plan, "-lock=false"));
    cr_assert (s_has_argument (plan, "-input=false"));
    cr_assert (s_has_argument (plan, "-no-color"));
    cr_assert (s_has_argument (plan, "-json"));
    cr_assert_not (s_has_argument (plan, "-detailed-exitcode"));
    const char *out = plan->fields [plan->count - 1];
    cr_assert_eq (strncmp (out, "-out=", 5), 0, "last argument '%s'", out);
    cr_assert (s_has_argument (&invocations [1], "-json"));
    cr_assert_str_eq (invocations [1].fields [invocations [1].count - 1], out + 5,
                      "show reads the plan file that plan wrote");
    cr_assert (s_has_argument (&invocations [2], "-json"));

    //  The plan file was in a directory of its own, gone with it.
    char *plan_directory = strdup (out + 5);
    *strrchr (plan_directory, '/') = 0;
    cr_assert_null (strstr (plan_directory, stack), "the plan is not written into the stack");
    struct stat info;
    cr_assert_neq (stat (plan_directory, &info), 0, "%s is removed", plan_directory);
    free (plan_directory);
    free (stack);
    free (text);
}

Test (runner, failed_plan_gives_its_stream_with_the_error_diagnostic,
      .init = s_setup, .fini = s_teardown)
{
    s_scenario ("scenario-01");
    setenv ("FAKE_TF_FAIL", "1", 1);
    runner_config_t config = s_config (NULL, 30);
    runner_result_t result;
    cr_assert_eq (runner_check (&config, &result), 0, "a failed plan is still a report");
    cr_assert_eq (result.format, RUNNER_PLAN_STREAM);
    cr_assert_str_eq (result.engine_version, "1.11.4-fake");
    cr_assert_eq (strlen (result.payload), result.size);
    //  Exactly the stream: two lines, the second the credentials error.
    char *rest = result.payload, *line;
    int lines = 0;
    bool error_seen = false;
    while ((line = strsep (&rest, "\n")) && *line) {
        lines++;
        json_t *entry = json_loads (line, 0, NULL);
        cr_assert (json_is_object (entry), "line %d is JSON: %s", lines, line);
        const char *summary = json_string_value (json_object_get (
            json_object_get (entry, "diagnostic"), "summary"));
        if (summary && strcmp (summary, "No valid credential sources found") == 0)
            error_seen = true;
        json_decref (entry);
    }
    cr_assert_eq (lines, 2, "nothing added to a stream that says why it failed");
    cr_assert (error_seen);
    runner_result_free (&result);

    invocation_t invocations [8];
    char *text;
    cr_assert_eq (s_invocations (invocations, 8, &text), 2, "no show after a failed plan");
    cr_assert_str_eq (invocations [1].fields [5], "version");
    free (text);
}

Test (runner, failed_plan_with_an_empty_stream_gets_a_diagnostic_from_stderr,
      .init = s_setup, .fini = s_teardown)
{
    s_scenario ("scenario-01");
    setenv ("FAKE_TF_FAIL", "quiet", 1);
    runner_config_t config = s_config (NULL, 30);
    runner_result_t result;
    cr_assert_eq (runner_check (&config, &result), 0);
    cr_assert_eq (result.format, RUNNER_PLAN_STREAM);
    cr_assert_eq (result.payload [result.size - 1], '\n', "one line");
    json_error_t error;
    json_t *line = json_loadb (result.payload, result.size, 0, &error);
    cr_assert_not_null (line, "valid JSON: %s", error.text);
    cr_assert_str_eq (json_string_value (json_object_get (line, "@level")), "error");
    cr_assert_str_eq (json_string_value (json_object_get (line, "type")), "diagnostic");
    json_t *diagnostic = json_object_get (line, "diagnostic");
    cr_assert_str_eq (json_string_value (json_object_get (diagnostic, "severity")), "error");
    const char *summary = json_string_value (json_object_get (diagnostic, "summary"));
    cr_assert_not_null (strstr (summary, "plan exited with 1"), "summary: %s", summary);
    const char *detail = json_string_value (json_object_get (diagnostic, "detail"));
    cr_assert_not_null (strstr (detail, "Backend initialization required, please run \"terraform init\""),
                        "detail: %s", detail);
    json_decref (line);
    runner_result_free (&result);
}

Test (runner, missing_engine_is_a_clear_error, .init = s_setup, .fini = s_teardown)
{
    runner_config_t config = s_config (NULL, 30);
    config.engine = "drift-test-no-such-terraform";
    runner_result_t result;
    cr_assert_eq (runner_check (&config, &result), -1);
    cr_assert_not_null (strstr (result.error, "engine 'drift-test-no-such-terraform' not found on PATH"),
                        "error: %s", result.error);
    cr_assert_null (result.payload);
    runner_result_free (&result);

    config.engine = "/nonexistent/bin/tofu";
    cr_assert_eq (runner_check (&config, &result), -1);
    cr_assert_not_null (strstr (result.error, "engine '/nonexistent/bin/tofu' cannot be run: "
                                "No such file or directory"), "error: %s", result.error);
    runner_result_free (&result);

    config.engine = s_root;
    cr_assert_eq (runner_check (&config, &result), -1, "a directory is no engine");
    cr_assert_not_null (strstr (result.error, "cannot be run: Is a directory"),
                        "error: %s", result.error);
    runner_result_free (&result);
}

Test (runner, missing_stack_directory_is_a_clear_error, .init = s_setup, .fini = s_teardown)
{
    char *missing = s_path ("%s/no-such-stack", s_root);
    runner_config_t config = s_config (missing, 30);
    runner_result_t result;
    cr_assert_eq (runner_check (&config, &result), -1);
    cr_assert_not_null (strstr (result.error, "no-such-stack': No such file or directory"),
                        "error: %s", result.error);
    runner_result_free (&result);
    free (missing);
}

Test (runner, hung_plan_is_killed_with_its_process_group_at_the_timeout,
      .init = s_setup, .fini = s_teardown, .timeout = 20)
{
    s_scenario ("scenario-01");
    setenv ("FAKE_TF_SLEEP", "30", 1);
    runner_config_t config = s_config (NULL, 1);
    runner_result_t result;
    cr_assert_eq (runner_check (&config, &result), -1);
    cr_assert_not_null (strstr (result.error, "plan in"), "error: %s", result.error);
    cr_assert_not_null (strstr (result.error, "timed out"), "error: %s", result.error);
    cr_assert_null (result.payload);
    runner_result_free (&result);

    invocation_t invocations [8];
    char *text;
    cr_assert_eq (s_invocations (invocations, 8, &text), 1, "nothing runs after a timeout");
    pid_t group = (pid_t) atoi (invocations [0].fields [0]);
    cr_assert (s_group_gone_soon (group), "the plan and its sleep are gone");
    cr_assert_eq (waitpid (-1, NULL, WNOHANG), -1, "no child left unreaped");
    free (text);
}

Test (runner, plan_that_ignores_sigterm_is_killed, .init = s_setup, .fini = s_teardown,
      .timeout = 20)
{
    s_scenario ("scenario-01");
    setenv ("FAKE_TF_SLEEP", "30", 1);
    setenv ("FAKE_TF_IGNORE_TERM", "1", 1);
    runner_config_t config = s_config (NULL, 1);
    runner_result_t result;
    cr_assert_eq (runner_check (&config, &result), -1);
    cr_assert_not_null (strstr (result.error, "timed out"), "error: %s", result.error);
    runner_result_free (&result);
    invocation_t invocations [8];
    char *text;
    cr_assert_eq (s_invocations (invocations, 8, &text), 1);
    cr_assert (s_group_gone_soon ((pid_t) atoi (invocations [0].fields [0])));
    free (text);
}

Test (runner, agent_shutdown_stops_a_running_check, .init = s_setup, .fini = s_teardown,
      .timeout = 20)
{
    s_scenario ("scenario-01");
    setenv ("FAKE_TF_SLEEP", "30", 1);
    shutdown_install ();
    pid_t signaller = fork ();
    if (signaller == 0) {
        //  Once the plan runs (it has logged itself: on a busy machine bash
        //  may take longer than any fixed delay to start), at most 10 s.
        for (int tries = 0; tries < 1000 && access (s_log, F_OK); tries++)
            usleep (10000);
        usleep (100000);
        kill (getppid (), SIGTERM);
        _exit (0);
    }
    runner_config_t config = s_config (NULL, 60);
    runner_result_t result;
    cr_assert_eq (runner_check (&config, &result), -1);
    cr_assert (shutdown_requested ());
    cr_assert_not_null (strstr (result.error, "stopped: the agent is shutting down"),
                        "error: %s", result.error);
    runner_result_free (&result);
    cr_assert_eq (waitpid (signaller, NULL, 0), signaller);
    invocation_t invocations [8];
    char *text;
    cr_assert_eq (s_invocations (invocations, 8, &text), 1);
    cr_assert (s_group_gone_soon ((pid_t) atoi (invocations [0].fields [0])));
    free (text);
}

Test (runner, directory_with_spaces_and_shell_metacharacters_is_taken_verbatim,
      .init = s_setup, .fini = s_teardown)
{
    s_scenario ("scenario-04");
    char *directory = s_path ("%s/stack with spaces; $(touch pwned) `touch pwned2` "
                              "'q' \"dq\" | & > * ? ~ #", s_root);
    cr_assert_eq (mkdir (directory, 0700), 0);
    cr_assert_eq (chdir (s_root), 0, "anything a shell ran would land here");
    runner_config_t config = s_config (directory, 30);
    runner_result_t result;
    cr_assert_eq (runner_check (&config, &result), 0, "%s", result.error);
    cr_assert_eq (result.format, RUNNER_PLAN_JSON);
    runner_result_free (&result);

    invocation_t invocations [8];
    char *text;
    cr_assert_eq (s_invocations (invocations, 8, &text), 3);
    cr_assert_str_eq (invocations [0].fields [1], directory);
    struct stat info;
    cr_assert_neq (stat ("pwned", &info), 0, "no shell ran");
    cr_assert_neq (stat ("pwned2", &info), 0, "no shell ran");
    DIR *inside = opendir (directory);
    int entries = 0;
    while (readdir (inside))
        entries++;
    closedir (inside);
    cr_assert_eq (entries, 2, "nothing written into the stack");
    free (text);
    free (directory);
}

Test (runner, show_output_that_is_no_json_object_is_an_error,
      .init = s_setup, .fini = s_teardown)
{
    const char *plans [2] = { "[1, 2]\n", "{\"format_version\": \"1.2\", \"planned" };
    const char *reasons [2] = { "not an object", "" };
    for (int index = 0; index < 2; index++) {
        char *prefix = s_path ("%s/bad-%d", s_root, index);
        s_capture_files (prefix, plans [index]);
        runner_config_t config = s_config (NULL, 30);
        runner_result_t result;
        cr_assert_eq (runner_check (&config, &result), -1);
        cr_assert_not_null (strstr (result.error, "show -json of the plan of"), "error: %s", result.error);
        cr_assert_not_null (strstr (result.error, "printed no JSON object"), "error: %s", result.error);
        cr_assert_not_null (strstr (result.error, reasons [index]), "error: %s", result.error);
        cr_assert_null (result.payload);
        runner_result_free (&result);
        free (prefix);
    }
}

Test (runner, show_that_fails_is_an_error_quoting_its_stderr,
      .init = s_setup, .fini = s_teardown)
{
    char *prefix = s_path ("%s/no-plan", s_root);
    s_capture_files (prefix, NULL);
    runner_config_t config = s_config (NULL, 30);
    runner_result_t result;
    cr_assert_eq (runner_check (&config, &result), -1);
    cr_assert_not_null (strstr (result.error, "show -json of the plan of"), "error: %s", result.error);
    cr_assert_not_null (strstr (result.error, "exited with 1: cat:"), "error: %s", result.error);
    cr_assert_not_null (strstr (result.error, "no-plan.plan.json: No such file or directory"),
                        "error: %s", result.error);
    runner_result_free (&result);
    free (prefix);
}

Test (runner, output_beyond_256_mib_is_an_error, .init = s_setup, .fini = s_teardown,
      .timeout = 60)
{
    s_scenario ("scenario-01");
    setenv ("FAKE_TF_FLOOD", "1", 1);
    runner_config_t config = s_config (NULL, 60);
    runner_result_t result;
    cr_assert_eq (runner_check (&config, &result), -1);
    cr_assert_not_null (strstr (result.error, "show in"), "error: %s", result.error);
    cr_assert_not_null (strstr (result.error, "printed more than 256 MiB"), "error: %s", result.error);
    runner_result_free (&result);
}

Test (runner, megabytes_on_stdout_and_stderr_at_once_do_not_stall,
      .init = s_setup, .fini = s_teardown, .timeout = 60)
{
    //  2 001 resources: a 2.4 MB stream and a 3 MB plan, after 4 MiB of
    //  stderr that would fill its pipe if it were read only at the end.
    s_scenario ("large");
    setenv ("FAKE_TF_STDERR_BYTES", "4194304", 1);
    runner_config_t config = s_config (NULL, 60);
    runner_result_t result;
    cr_assert_eq (runner_check (&config, &result), 0, "%s", result.error);
    size_t size;
    char *expected = s_fixture ("large.plan.json", &size);
    cr_assert_eq (result.size, size);
    cr_assert_eq (memcmp (result.payload, expected, size), 0);
    free (expected);
    runner_result_free (&result);
}

//  --------------------------------------------------------------------------
//  The real engine

Test (runner, real_terraform_sees_no_drift_on_a_stack_just_created,
      .init = s_setup, .fini = s_teardown, .timeout = 120)
{
    char *stack = eu_real_stack (s_root, "resource \"terraform_data\" \"x\" { input = \"a\" }\n",
                                 s_teardown);
    char *terraform = eu_which ("terraform");
    runner_config_t config = { "terraform", stack, 60 };
    runner_result_t result;
    cr_assert_eq (runner_check (&config, &result), 0, "%s", result.error);
    cr_log_info ("real terraform %s (%s)", result.engine_version, terraform);
    cr_assert_eq (result.format, RUNNER_PLAN_JSON);
    json_error_t error;
    json_t *plan = json_loadb (result.payload, result.size, 0, &error);
    cr_assert_not_null (plan, "%s", error.text);
    const char *format_version = json_string_value (json_object_get (plan, "format_version"));
    cr_assert_not_null (format_version);
    cr_assert_eq (strncmp (format_version, "1.", 2), 0, "format_version %s", format_version);
    cr_assert_null (json_object_get (plan, "resource_drift"), "nothing changed out of band");
    cr_assert (json_is_false (json_object_get (plan, "errored")));
    cr_assert_str_eq (result.engine_version,
                      json_string_value (json_object_get (plan, "terraform_version")));
    json_decref (plan);
    runner_result_free (&result);
    free (terraform);
    free (stack);
}
