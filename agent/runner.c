/*  runner: one refresh-only check by Terraform or OpenTofu; see runner.h.

    Commands are started with fork and execve, never through a shell, so no
    shell ever reads the stack's directory or our arguments. Not posix_spawnp:
    with a directory change as a spawn action, a missing directory and a
    missing engine both come back as ENOENT, and the operator needs to know
    which. So the engine is looked up on PATH here in the parent (a missing
    one is an error that names it), and the child, a copy of a process with
    threads, calls only async-signal-safe functions up to execve and reports
    which step failed, with its errno, through a close-on-exec pipe.
*/
#define _GNU_SOURCE                 // pipe2, close_range, vasprintf
#include "runner.h"
#include "../lib/log.h"
#include "../lib/shutdown.h"

#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define RUNNER_GRACE_MS 2000        // from SIGTERM to SIGKILL: nothing a check runs writes state
#define RUNNER_SLICE_MS 200         // longest wait before looking at shutdown_requested again
#define RUNNER_STDERR_TAIL 65536    // stderr kept: its end, where the reason is
#define RUNNER_REASON_MAX 300       // bytes of stderr quoted in an error

//  What the child reports when it cannot reach execve: which step failed.
typedef enum { STEP_DIRECTORY = 1, STEP_DESCRIPTORS, STEP_EXECVE } step_t;

//  Why a command was stopped before it ended by itself.
typedef enum { STOP_NONE = 0, STOP_TIMEOUT, STOP_SHUTDOWN, STOP_OVERFLOW } stop_t;

typedef struct {
    char *data;                 // bytes read, NUL-terminated (NULL until the first)
    size_t size;                // bytes in data
    size_t capacity;            // bytes allocated for data
    size_t limit;               // most bytes kept
    bool keep_tail;             // past limit, keep the newest bytes (else: overflow)
    bool overflowed;            // more than limit arrived and keep_tail is false
} capture_t;

typedef struct {
    const runner_config_t *config;  // what to check
    char *engine;               // the engine's absolute path, for execve
    char **envp;                // the inherited environment plus the two TF_ settings
    int64_t deadline_ms;        // monotonic time at which the whole check is stopped
} check_t;

static int64_t
s_now_ms (void)
{
    struct timespec now;
    clock_gettime (CLOCK_MONOTONIC, &now);
    return (int64_t) now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

//  Set *error to a new message and return -1.
static int
s_fail (char **error, const char *format, ...)
{
    va_list args;
    va_start (args, format);
    char *text;
    if (vasprintf (&text, format, args) < 0)
        text = NULL;
    va_end (args);
    free (*error);
    *error = text ? text : strdup ("runner: out of memory");
    return -1;
}

//  --------------------------------------------------------------------------
//  Captured output

static capture_t
s_capture (size_t limit, bool keep_tail)
{
    capture_t capture = { NULL, 0, 0, limit, keep_tail, false };
    return capture;
}

static void
s_capture_reset (capture_t *self)
{
    free (self->data);
    *self = s_capture (self->limit, self->keep_tail);
}

//  Append bytes; -1 when they go past the limit of a capture that keeps
//  everything (the command is then stopped: see s_run).
static int
s_capture_add (capture_t *self, const char *bytes, size_t count)
{
    if (self->size + count > self->limit) {
        if (!self->keep_tail) {
            self->overflowed = true;
            return -1;
        }
        if (count >= self->limit) {
            bytes += count - self->limit;
            count = self->limit;
            self->size = 0;
        }
        else {
            size_t keep = self->limit - count;
            memmove (self->data, self->data + self->size - keep, keep);
            self->size = keep;
        }
    }
    size_t needed = self->size + count + 1;
    if (needed > self->capacity) {
        size_t capacity = self->capacity ? self->capacity : 65536;
        while (capacity < needed)
            capacity *= 2;
        if (capacity > self->limit + 1)
            capacity = self->limit + 1;
        self->data = (char *) realloc (self->data, capacity);
        assert (self->data);
        self->capacity = capacity;
    }
    memcpy (self->data + self->size, bytes, count);
    self->size += count;
    self->data [self->size] = 0;
    return 0;
}

//  Read what the pipe holds into capture; at end of file close it and set
//  *fd to -1 (poll then skips it). -1 when the capture overflowed.
static int
s_drain (int *fd, capture_t *capture)
{
    char chunk [65536];
    ssize_t count = read (*fd, chunk, sizeof chunk);
    if (count > 0)
        return s_capture_add (capture, chunk, (size_t) count);
    if (count == 0 || (errno != EINTR && errno != EAGAIN)) {
        close (*fd);
        *fd = -1;
    }
    return 0;
}

//  The part of stderr an operator most needs, into buffer: the last line
//  holding "Error: " (Terraform's diagnostics end in a box of blank lines),
//  else the last line with text; at most RUNNER_REASON_MAX bytes.
static const char *
s_reason (const capture_t *err, char *buffer, size_t buffer_size)
{
    const char *text = err->data ? err->data : "";
    const char *start = NULL;
    for (const char *hit = strstr (text, "Error: "); hit; hit = strstr (hit + 1, "Error: "))
        start = hit;
    const char *end = start ? start + strcspn (start, "\n") : NULL;
    if (!start) {
        end = text + strlen (text);
        while (end > text && strchr (" \t\r\n", end [-1]))
            end--;
        start = end;
        while (start > text && start [-1] != '\n')
            start--;
    }
    while (start < end && strchr (" \t", *start))
        start++;
    size_t length = (size_t) (end - start);
    if (length >= buffer_size)
        length = buffer_size - 1;
    memcpy (buffer, start, length);
    buffer [length] = 0;
    return length ? buffer : "nothing on stderr";
}

//  --------------------------------------------------------------------------
//  Starting and stopping commands

//  The engine as an absolute path, found as execvp would find it but here:
//  the child changes directory before execve, and a missing engine is better
//  named in an error than discovered by a child. NULL with errno if none.
static char *
s_resolve_engine (const char *engine)
{
    char *found = NULL;
    if (strchr (engine, '/'))
        found = strdup (engine);
    else {
        const char *path = getenv ("PATH");
        if (!path || !*path)
            path = "/usr/local/bin:/usr/bin:/bin";
        while (!found) {
            size_t length = strcspn (path, ":");
            char *candidate;
            //  An empty PATH entry means the current directory.
            if (asprintf (&candidate, "%.*s/%s", length ? (int) length : 1,
                          length ? path : ".", engine) < 0)
                return NULL;
            struct stat info;
            if (access (candidate, X_OK) == 0 && stat (candidate, &info) == 0
            &&  S_ISREG (info.st_mode))
                found = candidate;
            else
                free (candidate);
            if (!path [length])
                break;
            path += length + 1;
        }
        if (!found) {
            errno = ENOENT;
            return NULL;
        }
    }
    struct stat info;
    if (access (found, X_OK) || stat (found, &info)) {
        free (found);
        return NULL;
    }
    if (!S_ISREG (info.st_mode)) {
        free (found);
        errno = S_ISDIR (info.st_mode) ? EISDIR : EACCES;
        return NULL;
    }
    if (*found != '/') {
        char *cwd = getcwd (NULL, 0);
        char *absolute = NULL;
        if (cwd && asprintf (&absolute, "%s/%s", cwd, found) < 0)
            absolute = NULL;
        free (cwd);
        free (found);
        found = absolute;
    }
    return found;
}

//  The environment we were given, with TF_IN_AUTOMATION=1 (output for
//  machines, without hints for a human at a terminal) and TF_INPUT=0 (never
//  wait for a prompt) in place of any values of those two. The strings are
//  borrowed from environ.
static char **
s_environment (void)
{
    size_t count = 0;
    while (environ [count])
        count++;
    char **envp = (char **) malloc ((count + 3) * sizeof *envp);
    assert (envp);
    size_t used = 0;
    for (size_t index = 0; index < count; index++)
        if (strncmp (environ [index], "TF_IN_AUTOMATION=", 17)
        &&  strncmp (environ [index], "TF_INPUT=", 9))
            envp [used++] = environ [index];
    envp [used++] = (char *) "TF_IN_AUTOMATION=1";
    envp [used++] = (char *) "TF_INPUT=0";
    envp [used] = NULL;
    return envp;
}

//  A close-on-exec pipe whose ends are above stderr, so the child's dup2
//  onto 0, 1 and 2 cannot overwrite one (a daemon may start with 0-2 closed).
static int
s_pipe (int fds [2])
{
    if (pipe2 (fds, O_CLOEXEC)) {
        fds [0] = fds [1] = -1;
        return -1;
    }
    for (int end = 0; end < 2; end++)
        if (fds [end] <= STDERR_FILENO) {
            int moved = fcntl (fds [end], F_DUPFD_CLOEXEC, STDERR_FILENO + 1);
            close (fds [end]);
            fds [end] = moved;
        }
    if (fds [0] < 0 || fds [1] < 0) {
        for (int end = 0; end < 2; end++) {
            if (fds [end] >= 0)
                close (fds [end]);
            fds [end] = -1;
        }
        return -1;
    }
    return 0;
}

//  In the child: lead a new process group (so a stop reaches whatever the
//  engine starts, providers included), enter the stack, take /dev/null as
//  stdin and the pipes as stdout and stderr, give every signal its default
//  action back (an ignored signal stays ignored across execve, and the agent
//  ignores SIGPIPE), close every other descriptor at execve, then execve.
static void
s_child (const check_t *self, char **argv, int out_fd, int err_fd, int report_fd)
{
    setpgid (0, 0);
    int report [2] = { STEP_DIRECTORY, 0 };
    if (chdir (self->config->directory) == 0) {
        report [0] = STEP_DESCRIPTORS;
        int null_fd = open ("/dev/null", O_RDONLY);
        if (null_fd >= 0 && dup2 (null_fd, STDIN_FILENO) == STDIN_FILENO
        &&  dup2 (out_fd, STDOUT_FILENO) == STDOUT_FILENO
        &&  dup2 (err_fd, STDERR_FILENO) == STDERR_FILENO) {
            struct sigaction action;
            memset (&action, 0, sizeof action);
            action.sa_handler = SIG_DFL;
            for (int signal_number = 1; signal_number < NSIG; signal_number++)
                sigaction (signal_number, &action, NULL);
            sigset_t none;
            sigemptyset (&none);
            sigprocmask (SIG_SETMASK, &none, NULL);
            //  Best effort: a kernel before 5.11 leaves this to the flags
            //  the agent's descriptors were opened with.
            close_range (STDERR_FILENO + 1, ~0U, CLOSE_RANGE_CLOEXEC);
            report [0] = STEP_EXECVE;
            execve (self->engine, argv, self->envp);
        }
    }
    report [1] = errno;
    ssize_t written = write (report_fd, report, sizeof report);
    (void) written;             // if the parent cannot hear it, it sees exit 127
    _exit (127);
}

//  True once the child is reaped (or cannot be: then nothing is left to wait for).
static bool
s_reap (pid_t pid, int *status, int options)
{
    while (true) {
        pid_t waited = waitpid (pid, status, options);
        if (waited == pid)
            return true;
        if (waited == 0)
            return false;
        if (errno != EINTR) {
            *status = W_EXITCODE (127, 0);
            return true;
        }
    }
}

//  Stop the command's process group: SIGTERM, up to RUNNER_GRACE_MS for the
//  leader to go, then SIGKILL, which also takes anything left in the group.
static void
s_stop (pid_t pid, bool *reaped, int *status)
{
    kill (-pid, SIGTERM);
    int64_t give_up = s_now_ms () + RUNNER_GRACE_MS;
    while (!*reaped && s_now_ms () < give_up)
        if (!(*reaped = s_reap (pid, status, WNOHANG)))
            poll (NULL, 0, 10);
    kill (-pid, SIGKILL);
    if (!*reaped)
        *reaped = s_reap (pid, status, 0);
}

//  Run argv (argv [0] the engine's name, argv [1] the subcommand) in the
//  stack's directory, stdout into out and stderr into err, until it exits.
//  0 with its wait *status, whatever its exit code; -1 with *error when it
//  could not be started, was stopped (deadline, shutdown) or printed more
//  than out may hold.
static int
s_run (check_t *self, char **argv, capture_t *out, capture_t *err, int *status, char **error)
{
    const runner_config_t *config = self->config;
    int out_pipe [2] = { -1, -1 }, err_pipe [2] = { -1, -1 }, report_pipe [2] = { -1, -1 };
    if (s_pipe (out_pipe) || s_pipe (err_pipe) || s_pipe (report_pipe)) {
        int saved = errno;
        int *ends [6] = { &out_pipe [0], &out_pipe [1], &err_pipe [0], &err_pipe [1],
                          &report_pipe [0], &report_pipe [1] };
        for (int index = 0; index < 6; index++)
            if (*ends [index] >= 0)
                close (*ends [index]);
        return s_fail (error, "cannot run %s %s: pipe: %s", config->engine, argv [1],
                       strerror (saved));
    }
    pid_t pid = fork ();
    if (pid == 0)
        s_child (self, argv, out_pipe [1], err_pipe [1], report_pipe [1]);
    int fork_errno = errno;
    close (out_pipe [1]);
    close (err_pipe [1]);
    close (report_pipe [1]);
    int fds [2] = { out_pipe [0], err_pipe [0] };
    int report [2] = { 0, 0 };
    ssize_t reported = 0;
    if (pid > 0) {
        //  Also here, so the group exists before any kill, whoever runs first.
        setpgid (pid, pid);
        while ((reported = read (report_pipe [0], report, sizeof report)) < 0 && errno == EINTR)
            ;
    }
    close (report_pipe [0]);
    if (pid < 0 || reported > 0) {
        close (fds [0]);
        close (fds [1]);
        if (pid < 0)
            return s_fail (error, "cannot run %s %s: fork: %s", config->engine, argv [1],
                           strerror (fork_errno));
        s_reap (pid, status, 0);
        if (report [0] == STEP_DIRECTORY)
            return s_fail (error, "cannot enter stack directory '%s': %s", config->directory,
                           strerror (report [1]));
        if (report [0] == STEP_DESCRIPTORS)
            return s_fail (error, "cannot run %s %s: setting up stdin, stdout, stderr: %s",
                           config->engine, argv [1], strerror (report [1]));
        return s_fail (error, "engine '%s' (%s) cannot be executed: %s", config->engine,
                       self->engine, strerror (report [1]));
    }
    //  Drain both pipes until they close and the child is reaped, or stop it.
    struct pollfd polled [2] = { { fds [0], POLLIN, 0 }, { fds [1], POLLIN, 0 } };
    capture_t *captures [2] = { out, err };
    bool reaped = false;
    stop_t stop = STOP_NONE;
    while (!stop && (fds [0] >= 0 || fds [1] >= 0 || !reaped)) {
        int64_t left = self->deadline_ms - s_now_ms ();
        if (left <= 0)
            stop = STOP_TIMEOUT;
        else
        if (shutdown_requested ())
            stop = STOP_SHUTDOWN;
        else
        if (fds [0] >= 0 || fds [1] >= 0) {
            for (int index = 0; index < 2; index++)
                polled [index].fd = fds [index];
            int wait_ms = left < RUNNER_SLICE_MS ? (int) left : RUNNER_SLICE_MS;
            if (poll (polled, 2, wait_ms) > 0)
                for (int index = 0; index < 2; index++)
                    if (polled [index].revents && s_drain (&fds [index], captures [index]))
                        stop = STOP_OVERFLOW;
        }
        else
        if (!(reaped = s_reap (pid, status, WNOHANG)))
            poll (NULL, 0, left < 10 ? (int) left : 10);
    }
    if (stop)
        s_stop (pid, &reaped, status);
    for (int index = 0; index < 2; index++)
        if (fds [index] >= 0)
            close (fds [index]);
    if (stop == STOP_TIMEOUT)
        return s_fail (error, "%s %s in '%s' timed out (the whole check may take %d s); "
                       "its process group was killed", config->engine, argv [1],
                       config->directory, config->timeout_s);
    if (stop == STOP_SHUTDOWN)
        return s_fail (error, "%s %s in '%s' was stopped: the agent is shutting down",
                       config->engine, argv [1], config->directory);
    if (stop == STOP_OVERFLOW)
        return s_fail (error, "%s %s in '%s' printed more than %zu MiB and was stopped",
                       config->engine, argv [1], config->directory, out->limit >> 20);
    return 0;
}

//  How a command ended, for messages: "exited with 1", "was killed by signal 9".
static char *
s_ending (int status)
{
    char *text;
    int rc = WIFEXITED (status)
           ? asprintf (&text, "exited with %d", WEXITSTATUS (status))
           : asprintf (&text, "was killed by signal %d (%s)", WTERMSIG (status),
                       strsignal (WTERMSIG (status)));
    return rc < 0 ? NULL : text;
}

//  --------------------------------------------------------------------------
//  The three commands

//  A JSON string of text that may not be UTF-8: then its non-ASCII bytes
//  become '?', since a report must be valid JSON.
static json_t *
s_json_text (const char *text, size_t size)
{
    json_t *string = json_stringn (text, size);
    if (!string) {
        char *copy = (char *) malloc (size + 1);
        assert (copy);
        for (size_t index = 0; index < size; index++)
            copy [index] = (unsigned char) text [index] < 0x80 ? text [index] : '?';
        string = json_stringn (copy, size);
        free (copy);
    }
    return string;
}

//  A failed plan's stream is the report; make sure it says why. When it
//  holds no error (the engine died, or failed before it could speak JSON),
//  append one diagnostic line in Terraform's own shape: the summary says how
//  the plan ended, the detail is the end of its stderr.
static void
s_explain_failure (const check_t *self, capture_t *out, const capture_t *err, int status)
{
    if (out->data && strstr (out->data, "\"@level\":\"error\""))
        return;
    char *ending = s_ending (status);
    char *summary;
    if (asprintf (&summary, "%s plan %s", self->config->engine, ending ? ending : "failed") < 0)
        summary = NULL;
    char *message;
    if (asprintf (&message, "Error: %s", summary ? summary : "plan failed") < 0)
        message = NULL;
    //  The detail: the last 4 KiB of stderr, starting on a character.
    const char *detail = err->data ? err->data : "";
    size_t detail_size = err->size;
    if (detail_size > 4096) {
        detail += detail_size - 4096;
        detail_size = 4096;
        while (detail_size && ((unsigned char) *detail & 0xC0) == 0x80) {
            detail++;
            detail_size--;
        }
    }
    struct timespec now;
    clock_gettime (CLOCK_REALTIME, &now);
    struct tm utc;
    gmtime_r (&now.tv_sec, &utc);
    char timestamp [64];
    size_t length = strftime (timestamp, sizeof timestamp, "%Y-%m-%dT%H:%M:%S", &utc);
    snprintf (timestamp + length, sizeof timestamp - length, ".%06ldZ", now.tv_nsec / 1000);
    json_t *line = json_pack ("{s:s, s:s, s:s, s:s, s:s, s:{s:s, s:s, s:o}}",
                              "@level", "error",
                              "@message", message ? message : "Error: plan failed",
                              "@module", "drift-agent",
                              "@timestamp", timestamp,
                              "type", "diagnostic",
                              "diagnostic",
                                  "severity", "error",
                                  "summary", summary ? summary : "plan failed",
                                  "detail", s_json_text (detail, detail_size));
    char *text = line ? json_dumps (line, JSON_COMPACT) : NULL;
    if (text) {
        if (out->size && out->data [out->size - 1] != '\n')
            s_capture_add (out, "\n", 1);
        s_capture_add (out, text, strlen (text));
        s_capture_add (out, "\n", 1);
    }
    free (text);
    json_decref (line);
    free (message);
    free (summary);
    free (ending);
}

//  `ENGINE version -json`'s terraform_version (OpenTofu uses the same key);
//  "" when it cannot be had: the report goes out without it.
static char *
s_engine_version (check_t *self)
{
    if (self->deadline_ms <= s_now_ms ())
        return strdup ("");
    char *argv [] = { (char *) self->config->engine, (char *) "version", (char *) "-json", NULL };
    capture_t out = s_capture (65536, false);
    capture_t err = s_capture (RUNNER_STDERR_TAIL, true);
    char *error = NULL;
    int status;
    char *version = NULL;
    if (s_run (self, argv, &out, &err, &status, &error) == 0
    &&  WIFEXITED (status) && WEXITSTATUS (status) == 0) {
        json_t *root = json_loadb (out.data ? out.data : "", out.size, 0, NULL);
        const char *value = json_string_value (json_object_get (root, "terraform_version"));
        if (value)
            version = strdup (value);
        json_decref (root);
    }
    free (error);
    s_capture_reset (&out);
    s_capture_reset (&err);
    return version ? version : strdup ("");
}

//  Plan into the private directory, then show the plan (or keep the stream
//  of a failed plan), then ask the version.
static int
s_check (check_t *self, const char *temporary, runner_result_t *result)
{
    const runner_config_t *config = self->config;
    char *plan_file, *out_option;
    if (asprintf (&plan_file, "%s/plan.bin", temporary) < 0)
        return s_fail (&result->error, "runner: out of memory");
    if (asprintf (&out_option, "-out=%s", plan_file) < 0) {
        free (plan_file);
        return s_fail (&result->error, "runner: out of memory");
    }
    char *plan_argv [] = {
        (char *) config->engine, (char *) "plan", (char *) "-refresh-only",
        (char *) "-lock=false", (char *) "-input=false", (char *) "-no-color",
        (char *) "-json", out_option, NULL
    };
    char *show_argv [] = {
        (char *) config->engine, (char *) "show", (char *) "-json", plan_file, NULL
    };
    capture_t out = s_capture (RUNNER_MAX_OUTPUT, false);
    capture_t err = s_capture (RUNNER_STDERR_TAIL, true);
    int status;
    int rc = s_run (self, plan_argv, &out, &err, &status, &result->error);
    //  Terraform 1.11 answers 2 for a refresh-only plan even without
    //  -detailed-exitcode; either way the plan file is written.
    bool planned = rc == 0 && WIFEXITED (status)
                && (WEXITSTATUS (status) == 0 || WEXITSTATUS (status) == 2);
    if (rc == 0 && !planned) {
        s_explain_failure (self, &out, &err, status);
        result->format = RUNNER_PLAN_STREAM;
    }
    if (planned) {
        s_capture_reset (&out);
        s_capture_reset (&err);
        rc = s_run (self, show_argv, &out, &err, &status, &result->error);
    }
    if (planned && rc == 0 && (!WIFEXITED (status) || WEXITSTATUS (status) != 0)) {
        char reason [RUNNER_REASON_MAX + 1];
        char *ending = s_ending (status);
        rc = s_fail (&result->error, "%s show -json of the plan of '%s' %s: %s",
                     config->engine, config->directory, ending ? ending : "failed",
                     s_reason (&err, reason, sizeof reason));
        free (ending);
    }
    else
    if (planned && rc == 0) {
        json_error_t json_error;
        json_t *plan = json_loadb (out.data ? out.data : "", out.size, 0, &json_error);
        if (json_is_object (plan))
            result->format = RUNNER_PLAN_JSON;
        else
            rc = s_fail (&result->error, "%s show -json of the plan of '%s' printed no "
                         "JSON object: %s", config->engine, config->directory,
                         plan ? "not an object" : json_error.text);
        json_decref (plan);
    }
    if (rc == 0) {
        result->payload = out.data ? out.data : strdup ("");
        result->size = out.size;
        out.data = NULL;
        result->engine_version = s_engine_version (self);
    }
    s_capture_reset (&out);
    s_capture_reset (&err);
    free (out_option);
    free (plan_file);
    return rc;
}

//  Remove the private directory and whatever the engine left in it.
static void
s_remove_temporary (const char *path)
{
    DIR *directory = opendir (path);
    if (directory) {
        struct dirent *entry;
        while ((entry = readdir (directory)))
            if (strcmp (entry->d_name, ".") && strcmp (entry->d_name, ".."))
                unlinkat (dirfd (directory), entry->d_name, 0);
        closedir (directory);
    }
    if (rmdir (path))
        log_warn ("runner could not remove its plan directory, which may hold secrets",
                  "path", path, "error", strerror (errno));
}

//  --------------------------------------------------------------------------
//  Public

int
runner_check (const runner_config_t *config, runner_result_t *result)
{
    assert (config && config->engine && config->directory && result);
    memset (result, 0, sizeof *result);
    if (config->timeout_s <= 0)
        return s_fail (&result->error, "check of '%s': timeout must be positive, not %d s",
                       config->directory, config->timeout_s);
    struct stat info;
    if (stat (config->directory, &info))
        return s_fail (&result->error, "cannot check stack directory '%s': %s",
                       config->directory, strerror (errno));
    if (!S_ISDIR (info.st_mode))
        return s_fail (&result->error, "cannot check stack directory '%s': not a directory",
                       config->directory);
    check_t self = { config, NULL, NULL, s_now_ms () + (int64_t) config->timeout_s * 1000 };
    self.engine = s_resolve_engine (config->engine);
    if (!self.engine && strchr (config->engine, '/'))
        return s_fail (&result->error, "engine '%s' cannot be run: %s", config->engine,
                       strerror (errno));
    if (!self.engine)
        return s_fail (&result->error, "engine '%s' not found on PATH", config->engine);
    self.envp = s_environment ();
    const char *tmpdir = getenv ("TMPDIR");
    char *temporary;
    int rc = -1;
    if (asprintf (&temporary, "%s/drift-runner-XXXXXX", tmpdir && *tmpdir ? tmpdir : "/tmp") < 0)
        s_fail (&result->error, "runner: out of memory");
    else {
        if (!mkdtemp (temporary))
            s_fail (&result->error, "cannot make a private directory for the plan of '%s' "
                    "(%s): %s", config->directory, temporary, strerror (errno));
        else {
            rc = s_check (&self, temporary, result);
            s_remove_temporary (temporary);
        }
        free (temporary);
    }
    free (self.envp);
    free (self.engine);
    return rc;
}

void
runner_result_free (runner_result_t *result)
{
    free (result->payload);
    free (result->engine_version);
    free (result->error);
    memset (result, 0, sizeof *result);
}
