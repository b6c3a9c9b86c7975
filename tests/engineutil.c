/*  engineutil: the real terraform on a throwaway stack; see engineutil.h. */
#define _GNU_SOURCE             // asprintf
#include "engineutil.h"

#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

char *
eu_which (const char *name)
{
    char *path = strdup (getenv ("PATH") ? getenv ("PATH") : "");
    char *rest = path, *entry, *found = NULL;
    while (!found && (entry = strsep (&rest, ":")))
        if (*entry) {
            cr_assert_geq (asprintf (&found, "%s/%s", entry, name), 0);
            if (access (found, X_OK)) {
                free (found);
                found = NULL;
            }
        }
    free (path);
    return found;
}

int
eu_run_tool (const char *directory, const char *log_path, char *const argv [])
{
    pid_t pid = fork ();
    if (pid == 0) {
        int log = open (log_path, O_WRONLY | O_CREAT | O_APPEND, 0600);
        int null = open ("/dev/null", O_RDONLY);
        if (chdir (directory) || log < 0 || null < 0)
            _exit (126);
        dup2 (null, 0);
        dup2 (log, 1);
        dup2 (log, 2);
        execvp (argv [0], argv);
        _exit (127);
    }
    int status;
    cr_assert_eq (waitpid (pid, &status, 0), pid);
    return WIFEXITED (status) ? WEXITSTATUS (status) : 128 + WTERMSIG (status);
}

char *
eu_tail (const char *path)
{
    FILE *file = fopen (path, "rb");
    if (!file)
        return strdup ("(no output)");
    char text [401];
    fseek (file, 0, SEEK_END);
    long size = ftell (file);
    fseek (file, size > 400 ? size - 400 : 0, SEEK_SET);
    size_t length = fread (text, 1, 400, file);
    fclose (file);
    text [length] = 0;
    for (char *at = text; *at; at++)
        if (*at == '\n')
            *at = ' ';
    return strdup (text);
}

//  root/name (caller frees).
static char *
s_under (const char *root, const char *name)
{
    char *path;
    cr_assert_geq (asprintf (&path, "%s/%s", root, name), 0);
    return path;
}

void
eu_write_file (const char *path, const char *text)
{
    FILE *file = fopen (path, "w");
    cr_assert_not_null (file, "cannot write %s", path);
    fputs (text, file);
    fclose (file);
}

void
eu_isolate (const char *root)
{
    char *home = s_under (root, "home");
    char *cli_config = s_under (root, "terraformrc");
    char *data = s_under (root, "terraform-data");
    mkdir (home, 0700);
    eu_write_file (cli_config, "");
    setenv ("HOME", home, 1);
    setenv ("XDG_CONFIG_HOME", home, 1);
    setenv ("XDG_CACHE_HOME", home, 1);
    setenv ("TF_CLI_CONFIG_FILE", cli_config, 1);
    setenv ("TF_DATA_DIR", data, 1);
    setenv ("CHECKPOINT_DISABLE", "1", 1);
    unsetenv ("TF_PLUGIN_CACHE_DIR");
    unsetenv ("TF_LOG");
    unsetenv ("TF_WORKSPACE");
    unsetenv ("TF_CLI_ARGS");
    unsetenv ("TF_CLI_ARGS_plan");
    unsetenv ("TF_CLI_ARGS_apply");
    free (home);
    free (cli_config);
    free (data);
}

static char *
s_real_stack (const char *root, const char *main_tf, char *reason, size_t reason_size)
{
    char *terraform = eu_which ("terraform");
    if (!terraform) {
        snprintf (reason, reason_size, "terraform not installed");
        return NULL;
    }
    free (terraform);
    eu_isolate (root);
    char *stack = s_under (root, "stack");
    char *main_path = s_under (stack, "main.tf");
    char *log_path = s_under (root, "setup.log");
    mkdir (stack, 0700);
    eu_write_file (main_path, main_tf);
    free (main_path);
    char *init [] = { "terraform", "init", "-input=false", "-no-color", NULL };
    if (eu_run_tool (stack, log_path, init)) {
        char *tail = eu_tail (log_path);
        snprintf (reason, reason_size, "terraform init failed (offline?): %s", tail);
        free (tail);
        free (log_path);
        free (stack);
        return NULL;
    }
    //  The throwaway stack needs a state; the agent never does this.
    char *create [] = { "terraform", "apply", "-auto-approve", "-input=false", "-no-color", NULL };
    if (eu_run_tool (stack, log_path, create))
        cr_assert_fail ("creating the throwaway stack failed: %s", eu_tail (log_path));
    free (log_path);
    return stack;
}

char *
eu_real_stack (const char *root, const char *main_tf, void (*teardown) (void))
{
    char reason [512];
    char *stack = s_real_stack (root, main_tf, reason, sizeof reason);
    if (!stack) {
        //  Skipping leaves the test at once, without its .fini: clean up first.
        teardown ();
        cr_log_info ("skipped real-terraform test: %s", reason);
        cr_skip_test ("%s", reason);
    }
    return stack;
}
