/*  process: running one engine command for the agent; see process.h.

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
#include "process.h"
#include "../lib/shutdown.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define PROCESS_GRACE_MS 2000   // from SIGTERM to SIGKILL
#define PROCESS_SLICE_MS 200    // longest wait before looking at shutdown_requested again

//  What the child reports when it cannot reach execve: which step failed.
typedef enum { STEP_DIRECTORY = 1, STEP_DESCRIPTORS, STEP_EXECVE } step_t;


int64_t
process_now_ms (void)
{
    struct timespec now;
    clock_gettime (CLOCK_MONOTONIC, &now);
    return (int64_t) now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

//  Set *error to a new message and return -1.
int
process_vfail (char **error, const char *format, va_list args)
{
    char *text;
    if (vasprintf (&text, format, args) < 0)
        text = NULL;
    free (*error);
    *error = text ? text : strdup ("out of memory");
    return -1;
}

int
process_fail (char **error, const char *format, ...)
{
    va_list args;
    va_start (args, format);
    process_vfail (error, format, args);
    va_end (args);
    return -1;
}

//  --------------------------------------------------------------------------
//  Captured output

process_capture_t
process_capture (size_t limit, bool keep_tail)
{
    process_capture_t capture = { NULL, 0, 0, limit, keep_tail, false };
    return capture;
}

void
process_capture_reset (process_capture_t *self)
{
    free (self->data);
    *self = process_capture (self->limit, self->keep_tail);
}

//  Append bytes; -1 when they go past the limit of a capture that keeps
//  everything (the command is then stopped: see s_run).
int
process_capture_add (process_capture_t *self, const char *bytes, size_t count)
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
s_drain (process_t *self, int stream, int *fd, process_capture_t *capture)
{
    char chunk [65536];
    ssize_t count = read (*fd, chunk, sizeof chunk);
    if (count > 0 && self->on_chunk)
        self->on_chunk (self->arg, stream, chunk, (size_t) count);
    if (count > 0)
        return process_capture_add (capture, chunk, (size_t) count);
    if (count == 0 || (errno != EINTR && errno != EAGAIN)) {
        close (*fd);
        *fd = -1;
    }
    return 0;
}

//  The part of stderr an operator most needs, into buffer: the last line
//  holding "Error: " (Terraform's diagnostics end in a box of blank lines),
//  else the last line with text; at most PROCESS_REASON_MAX bytes.
const char *
process_reason (const process_capture_t *err, char *buffer, size_t buffer_size)
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
s_child (const process_t *self, char **argv, int out_fd, int err_fd, int report_fd)
{
    setpgid (0, 0);
    int report [2] = { STEP_DIRECTORY, 0 };
    if (chdir (self->directory) == 0) {
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

//  Stop the command's process group: SIGTERM, up to PROCESS_GRACE_MS for the
//  leader to go, then SIGKILL, which also takes anything left in the group.
static void
s_stop (pid_t pid, bool *reaped, int *status)
{
    kill (-pid, SIGTERM);
    int64_t give_up = process_now_ms () + PROCESS_GRACE_MS;
    while (!*reaped && process_now_ms () < give_up)
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
int
process_run (process_t *self, char **argv, process_capture_t *out,
             process_capture_t *err, int *status, char **error)
{
    self->stopped = PROCESS_STOP_NONE;
    int out_pipe [2] = { -1, -1 }, err_pipe [2] = { -1, -1 }, report_pipe [2] = { -1, -1 };
    if (s_pipe (out_pipe) || s_pipe (err_pipe) || s_pipe (report_pipe)) {
        int saved = errno;
        int *ends [6] = { &out_pipe [0], &out_pipe [1], &err_pipe [0], &err_pipe [1],
                          &report_pipe [0], &report_pipe [1] };
        for (int index = 0; index < 6; index++)
            if (*ends [index] >= 0)
                close (*ends [index]);
        return process_fail (error, "cannot run %s %s: pipe: %s", self->engine_name, argv [1],
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
            return process_fail (error, "cannot run %s %s: fork: %s", self->engine_name, argv [1],
                           strerror (fork_errno));
        s_reap (pid, status, 0);
        if (report [0] == STEP_DIRECTORY)
            return process_fail (error, "cannot enter stack directory '%s': %s", self->directory,
                           strerror (report [1]));
        if (report [0] == STEP_DESCRIPTORS)
            return process_fail (error, "cannot run %s %s: setting up stdin, stdout, stderr: %s",
                           self->engine_name, argv [1], strerror (report [1]));
        return process_fail (error, "engine '%s' (%s) cannot be executed: %s", self->engine_name,
                       self->engine, strerror (report [1]));
    }
    //  Drain both pipes until they close and the child is reaped, or stop it.
    struct pollfd polled [2] = { { fds [0], POLLIN, 0 }, { fds [1], POLLIN, 0 } };
    process_capture_t *captures [2] = { out, err };
    bool reaped = false;
    process_stop_t stop = PROCESS_STOP_NONE;
    while (!stop && (fds [0] >= 0 || fds [1] >= 0 || !reaped)) {
        int64_t left = self->deadline_ms - process_now_ms ();
        if (left <= 0)
            stop = PROCESS_STOP_TIMEOUT;
        else
        if (shutdown_requested ())
            stop = PROCESS_STOP_SHUTDOWN;
        else
        if (fds [0] >= 0 || fds [1] >= 0) {
            for (int index = 0; index < 2; index++)
                polled [index].fd = fds [index];
            int wait_ms = left < PROCESS_SLICE_MS ? (int) left : PROCESS_SLICE_MS;
            if (poll (polled, 2, wait_ms) > 0)
                for (int index = 0; index < 2; index++)
                    if (polled [index].revents && s_drain (self, index + 1, &fds [index], captures [index]))
                        stop = PROCESS_STOP_OVERFLOW;
        }
        else
        if (!(reaped = s_reap (pid, status, WNOHANG)))
            poll (NULL, 0, left < 10 ? (int) left : 10);
    }
    self->stopped = stop;
    if (stop)
        s_stop (pid, &reaped, status);
    for (int index = 0; index < 2; index++)
        if (fds [index] >= 0)
            close (fds [index]);
    if (stop == PROCESS_STOP_TIMEOUT)
        return process_fail (error, "%s %s in '%s' timed out (the whole %s may take %d s); "
                       "its process group was killed", self->engine_name, argv [1],
                       self->directory, self->task, self->timeout_s);
    if (stop == PROCESS_STOP_SHUTDOWN)
        return process_fail (error, "%s %s in '%s' was stopped: the agent is shutting down",
                       self->engine_name, argv [1], self->directory);
    if (stop == PROCESS_STOP_OVERFLOW)
        return process_fail (error, "%s %s in '%s' printed more than %zu MiB and was stopped",
                       self->engine_name, argv [1], self->directory, out->limit >> 20);
    return 0;
}

//  How a command ended, for messages: "exited with 1", "was killed by signal 9".
char *
process_ending (int status)
{
    char *text;
    int rc = WIFEXITED (status)
           ? asprintf (&text, "exited with %d", WEXITSTATUS (status))
           : asprintf (&text, "was killed by signal %d (%s)", WTERMSIG (status),
                       strsignal (WTERMSIG (status)));
    return rc < 0 ? NULL : text;
}

//  --------------------------------------------------------------------------
//  Opening and closing

int
process_open (process_t *self, const char *engine, const char *directory,
              const char *task, int timeout_s, char **error)
{
    assert (self && engine && directory && task && error);
    memset (self, 0, sizeof *self);
    self->engine_name = engine;
    self->directory = directory;
    self->task = task;
    self->timeout_s = timeout_s;
    self->deadline_ms = process_now_ms () + (int64_t) timeout_s * 1000;
    self->engine = s_resolve_engine (engine);
    if (!self->engine && strchr (engine, '/'))
        return process_fail (error, "engine '%s' cannot be run: %s", engine, strerror (errno));
    if (!self->engine)
        return process_fail (error, "engine '%s' not found on PATH", engine);
    self->envp = s_environment ();
    return 0;
}

void
process_close (process_t *self)
{
    free (self->envp);
    free (self->engine);
    self->envp = NULL;
    self->engine = NULL;
}
