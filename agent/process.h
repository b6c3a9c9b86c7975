/*  process: running one engine command for the agent, safely and bounded.

    Both the read-only check (runner.c) and remediation (remediate.c) run
    Terraform or OpenTofu the same way, and this is that way, in one place:
    the engine is looked up on PATH by the parent (a missing one is named in
    the error), each command is started with fork and execve (no shell: the
    stack's directory and the arguments never pass through one) in its own
    process group, in the stack's directory, with stdin from /dev/null and
    TF_IN_AUTOMATION=1, TF_INPUT=0 added to the inherited environment. Its
    stdout and stderr are drained together, so neither can fill up and stall
    it. All commands run through one process_t share one deadline: at
    timeout_s the running command's process group gets SIGTERM and, two
    seconds later, SIGKILL, which also takes whatever it started (providers,
    children). A shutdown of the agent (shutdown_requested) stops it the same
    way.
*/
#ifndef PROCESS_H_INCLUDED
#define PROCESS_H_INCLUDED

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PROCESS_STDERR_TAIL 65536   // stderr kept: its end, where the reason is
#define PROCESS_REASON_MAX 300      // bytes of stderr quoted in an error

//  Output kept from one stream of a command.
typedef struct {
    char *data;                 // bytes read, NUL-terminated (NULL until the first)
    size_t size;                // bytes in data
    size_t capacity;            // bytes allocated for data
    size_t limit;               // most bytes kept
    bool keep_tail;             // past limit, keep the newest bytes (else: overflow)
    bool overflowed;            // more than limit arrived and keep_tail is false
} process_capture_t;

//  Why the last command was stopped before it ended by itself.
typedef enum {
    PROCESS_STOP_NONE = 0,      // it ended by itself
    PROCESS_STOP_TIMEOUT,       // the deadline came
    PROCESS_STOP_SHUTDOWN,      // the agent is shutting down
    PROCESS_STOP_OVERFLOW       // it printed more than its capture may hold
} process_stop_t;

//  Called with each piece read from a command, before it is captured:
//  stream 1 is stdout, 2 is stderr. Pieces are not split on lines.
typedef void (process_chunk_fn) (void *arg, int stream, const char *bytes, size_t size);

typedef struct {
    const char *engine_name;    // as configured ("terraform", a path): for messages
    const char *directory;      // where every command runs
    const char *task;           // what the deadline bounds, for messages: "check", "command"
    int timeout_s;              // the deadline, from process_open
    char *engine;               // the engine's absolute path, for execve
    char **envp;                // the inherited environment plus the two TF_ settings
    int64_t deadline_ms;        // monotonic time at which the running command is stopped
    process_chunk_fn *on_chunk; // if set, sees everything read, as it comes
    void *arg;                  // for on_chunk
    process_stop_t stopped;     // why the last process_run stopped its command
} process_t;

//  Resolve engine, build the environment and set the deadline timeout_s
//  from now. task names the whole for messages ("check"). 0, or -1 with
//  *error (engine missing or not executable); process_close either way.
int process_open (process_t *self, const char *engine, const char *directory,
                  const char *task, int timeout_s, char **error);

//  Free what process_open made; safe to call twice.
void process_close (process_t *self);

//  Run argv (argv [0] the engine's name, argv [1] the subcommand) in the
//  directory, stdout into out and stderr into err, until it exits. 0 with
//  its wait *status, whatever its exit code; -1 with *error when it could
//  not be started, or was stopped (self->stopped says why).
int process_run (process_t *self, char **argv, process_capture_t *out,
                 process_capture_t *err, int *status, char **error);

//  An empty capture keeping at most limit bytes: the newest if keep_tail,
//  else more is an overflow that stops the command.
process_capture_t process_capture (size_t limit, bool keep_tail);

//  Free a capture's bytes and empty it.
void process_capture_reset (process_capture_t *self);

//  Append bytes; -1 when they go past the limit of a capture that keeps
//  everything.
int process_capture_add (process_capture_t *self, const char *bytes, size_t count);

//  The part of stderr an operator most needs, into buffer: the last line
//  holding "Error: ", else the last line with text; "nothing on stderr".
const char *process_reason (const process_capture_t *err, char *buffer, size_t buffer_size);

//  How a command ended, for messages: "exited with 1", "was killed by
//  signal 9 (Killed)". Caller frees; NULL if memory ran out.
char *process_ending (int status);

//  Set *error to a new message (freeing the old one) and return -1.
int process_fail (char **error, const char *format, ...)
    __attribute__ ((format (printf, 2, 3)));
int process_vfail (char **error, const char *format, va_list args)
    __attribute__ ((format (printf, 2, 0)));

//  Monotonic milliseconds.
int64_t process_now_ms (void);

#endif
