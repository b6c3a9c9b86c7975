/*  remediate: a remediation plan and the apply of exactly that plan file;
    see remediate.h for the commands run and the rules.

    Every check that refuses an apply looks at the file through one open
    descriptor (hash and age of what was opened, O_NOFOLLOW), and the file
    is spent from the moment it was opened for an apply: removed whatever
    comes of it, so no plan is applied twice and a refused one cannot be
    tried again. What is kept beside a plan (ID.json) holds the clear text
    of its sensitive values, exactly as secret as the plan file itself,
    and goes with it.
*/
#define _GNU_SOURCE                 // asprintf, vasprintf
#include "remediate.h"
#include "process.h"
#include "../lib/log.h"

#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define REMEDIATE_ID_MAX 128                        // bytes of a command id (it names a file)
#define REMEDIATE_ADDRESS_MAX 1024                  // bytes of one -target address
#define REMEDIATE_MAX_PLAN_JSON ((size_t) 256 << 20) // most `show -json` may print

//  One command's run: what the public functions share.
typedef struct {
    const remediate_config_t *config;   // as given
    remediate_result_t *result;         // what to fill
    char *plan_path;                    // absolute: PLANS_DIR/ID.tfplan
    char *meta_path;                    // absolute: PLANS_DIR/ID.json
    outlines_t *lines;                  // the output on its way to on_output
    process_t process;                  // the engine's commands
    bool opened;                        // process_open succeeded
    uint64_t *refusal;                  // the counter of the refusal, if REFUSED
} run_t;

//  This process's counts (remediate_stats); the channel may run commands
//  on several threads, so they are added atomically.
static remediate_stats_t s_stats;

static void
s_count (uint64_t *counter, uint64_t amount)
{
    __atomic_fetch_add (counter, amount, __ATOMIC_RELAXED);
}

//  Set the final state and message; 0 if SUCCEEDED, else -1.
static int
s_finish (run_t *self, remediate_state_t state, const char *format, ...)
    __attribute__ ((format (printf, 3, 4)));

static int
s_finish (run_t *self, remediate_state_t state, const char *format, ...)
{
    va_list args;
    va_start (args, format);
    process_vfail (&self->result->message, format, args);
    va_end (args);
    self->result->state = state;
    return state == REMEDIATE_SUCCEEDED ? 0 : -1;
}

//  --------------------------------------------------------------------------
//  Input

//  A command id names files in plans_dir: 1-128 of [A-Za-z0-9_-] only.
static bool
s_valid_id (const char *id)
{
    size_t length = id ? strlen (id) : 0;
    if (length == 0 || length > REMEDIATE_ID_MAX)
        return false;
    return strspn (id, "abcdefghijklmnopqrstuvwxyz"
                       "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") == length;
}

//  An identifier of an address: a letter or '_', then letters, digits, '_', '-'.
static const char *
s_identifier (const char *at)
{
    if (!(*at == '_' || (*at >= 'a' && *at <= 'z') || (*at >= 'A' && *at <= 'Z')))
        return NULL;
    at++;
    while (*at == '_' || *at == '-' || (*at >= 'a' && *at <= 'z') || (*at >= 'A' && *at <= 'Z')
       ||  (*at >= '0' && *at <= '9'))
        at++;
    return at;
}

//  A resource address as -target takes it: identifiers joined by '.', two
//  at least (module.a, aws_instance.web, data.x.y), each with an optional
//  index, [0] or ["key"]. So nothing starting with '-' (it would be an
//  option) and no control characters (a key holds no '"', '\' or control
//  byte). NULL if valid, else why not.
static const char *
s_invalid_address (const char *address)
{
    size_t length = strlen (address);
    if (length == 0)
        return "empty";
    if (length > REMEDIATE_ADDRESS_MAX)
        return "longer than 1024 bytes";
    if (*address == '-')
        return "starts with '-', which would make it an option";
    for (const char *at = address; *at; at++)
        if ((unsigned char) *at < 0x20 || *at == 0x7f)
            return "holds a control character";
    const char *at = address;
    int segments = 0;
    while (true) {
        if (!(at = s_identifier (at)))
            return "a part does not start with a letter or '_'";
        segments++;
        if (*at == '[') {
            at++;
            if (*at == '"') {
                for (at++; *at && *at != '"' && *at != '\\'; at++)
                    ;
                if (*at != '"')
                    return "a [\"key\"] index is not closed, or holds '\\'";
                at++;
            }
            else {
                const char *digits = at;
                while (*at >= '0' && *at <= '9')
                    at++;
                if (at == digits)
                    return "an index is neither a number nor a quoted key";
            }
            if (*at++ != ']')
                return "an index is not closed by ']'";
        }
        if (*at == 0)
            break;
        if (*at++ != '.')
            return "parts must be joined by '.'";
    }
    return segments < 2 ? "not TYPE.NAME or module.NAME" : NULL;
}

//  Make sure plans_dir is a directory of ours that nobody else can read
//  (making it 0700 if create and it is missing), and make the two paths
//  of id's plan in it absolute (the engine runs in the stack's directory).
static int
s_plans_dir (run_t *self, const char *id, bool create)
{
    const char *dir = self->config->plans_dir;
    self->refusal = &s_stats.refused_plans_dir;
    if (create && mkdir (dir, 0700) && errno != EEXIST)
        return s_finish (self, REMEDIATE_REFUSED, "cannot make the plans directory '%s': %s",
                         dir, strerror (errno));
    struct stat info;
    if (lstat (dir, &info))
        return s_finish (self, REMEDIATE_REFUSED, "plans directory '%s': %s", dir,
                         strerror (errno));
    if (!S_ISDIR (info.st_mode))
        return s_finish (self, REMEDIATE_REFUSED, "plans directory '%s' is not a directory "
                         "(a symbolic link is refused too)", dir);
    if (info.st_uid != geteuid ())
        return s_finish (self, REMEDIATE_REFUSED, "plans directory '%s' belongs to uid %u, "
                         "not to the agent (uid %u)", dir, (unsigned) info.st_uid,
                         (unsigned) geteuid ());
    if (info.st_mode & 077)
        return s_finish (self, REMEDIATE_REFUSED, "plans directory '%s' is open to others "
                         "(mode %04o): a plan holds the stack's secrets in clear text; "
                         "make it 0700", dir, (unsigned) (info.st_mode & 07777));
    char *absolute = realpath (dir, NULL);
    if (!absolute)
        return s_finish (self, REMEDIATE_REFUSED, "plans directory '%s': %s", dir,
                         strerror (errno));
    if (asprintf (&self->plan_path, "%s/%s.tfplan", absolute, id) < 0)
        self->plan_path = NULL;
    if (asprintf (&self->meta_path, "%s/%s.json", absolute, id) < 0)
        self->meta_path = NULL;
    free (absolute);
    assert (self->plan_path && self->meta_path);
    self->refusal = &s_stats.refused_input;
    return 0;
}

//  --------------------------------------------------------------------------
//  Files

//  Lowercase hex SHA-256 of what fd reads from its start, streaming.
static int
s_hash (int fd, char hex [65])
{
    crypto_hash_sha256_state state;
    crypto_hash_sha256_init (&state);
    unsigned char chunk [65536];
    ssize_t count;
    if (lseek (fd, 0, SEEK_SET) < 0)
        return -1;
    while ((count = read (fd, chunk, sizeof chunk)) != 0) {
        if (count < 0 && errno == EINTR)
            continue;
        if (count < 0)
            return -1;
        crypto_hash_sha256_update (&state, chunk, (unsigned long long) count);
    }
    unsigned char digest [crypto_hash_sha256_BYTES];
    crypto_hash_sha256_final (&state, digest);
    sodium_bin2hex (hex, 65, digest, sizeof digest);
    sodium_memzero (chunk, sizeof chunk);
    return 0;
}

//  Remove the plan and what is kept beside it.
static void
s_remove_plan (run_t *self)
{
    const char *paths [2] = { self->plan_path, self->meta_path };
    for (int index = 0; index < 2; index++)
        if (paths [index] && unlink (paths [index]) && errno != ENOENT)
            log_warn ("remediation could not remove a plan file, which holds secrets",
                      "path", paths [index], "error", strerror (errno));
}

//  Write ID.json beside the plan: its hash and its sensitive values.
static int
s_write_meta (run_t *self, const char *hex, bool refresh_only)
{
    json_t *meta = json_pack ("{s:s, s:b, s:o}", "sha256", hex, "refresh_only", refresh_only,
                              "sensitive", outlines_secrets (self->lines));
    char *text = meta ? json_dumps (meta, JSON_COMPACT) : NULL;
    json_decref (meta);
    int fd = open (self->meta_path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    int rc = -1;
    if (text && fd >= 0) {
        size_t size = strlen (text), done = 0;
        while (done < size) {
            ssize_t count = write (fd, text + done, size - done);
            if (count < 0 && errno == EINTR)
                continue;
            if (count < 0)
                break;
            done += (size_t) count;
        }
        rc = done == size && fsync (fd) == 0 ? 0 : -1;
    }
    int saved = errno;
    if (fd >= 0)
        close (fd);
    if (text) {
        sodium_memzero (text, strlen (text));
        free (text);
    }
    errno = saved;
    return rc;
}

//  --------------------------------------------------------------------------
//  Running the engine

static int
s_exit_code (int status)
{
    return WIFEXITED (status) ? WEXITSTATUS (status) : 128 + WTERMSIG (status);
}

//  Set up the engine's run in the stack's directory; a FAILED result if it cannot.
static int
s_open (run_t *self)
{
    const remediate_config_t *config = self->config;
    if (config->timeout_s <= 0)
        return s_finish (self, REMEDIATE_REFUSED, "timeout must be positive, not %d s",
                         config->timeout_s);
    struct stat info;
    if (stat (config->directory, &info))
        return s_finish (self, REMEDIATE_FAILED, "cannot use stack directory '%s': %s",
                         config->directory, strerror (errno));
    if (!S_ISDIR (info.st_mode))
        return s_finish (self, REMEDIATE_FAILED, "cannot use stack directory '%s': not a "
                         "directory", config->directory);
    char *error = NULL;
    self->opened = true;        // process_close either way
    if (process_open (&self->process, config->engine, config->directory, "command",
                      config->timeout_s, &error)) {
        s_finish (self, REMEDIATE_FAILED, "%s", error);
        free (error);
        return -1;
    }
    return 0;
}

//  Run argv with its output on its way to on_output (if stream) and
//  stdout into out. 0 if it ran (self->result->exit_code set), else -1
//  with TIMED_OUT or FAILED.
static int
s_run (run_t *self, char **argv, bool stream, process_capture_t *out, process_capture_t *err)
{
    self->process.on_chunk = stream ? outlines_chunk : NULL;
    self->process.arg = self->lines;
    char *error = NULL;
    int status;
    int rc = process_run (&self->process, argv, out, err, &status, &error);
    outlines_flush (self->lines);
    if (rc) {
        process_stop_t stopped = self->process.stopped;
        if (stopped == PROCESS_STOP_TIMEOUT || stopped == PROCESS_STOP_SHUTDOWN)
            self->result->exit_code = s_exit_code (status);
        s_finish (self, self->process.stopped == PROCESS_STOP_TIMEOUT
                        ? REMEDIATE_TIMED_OUT : REMEDIATE_FAILED, "%s", error);
        free (error);
        return -1;
    }
    self->result->exit_code = s_exit_code (status);
    return 0;
}

//  The engine's reason for a failure, from its stderr.
static int
s_engine_failed (run_t *self, const char *subcommand, const process_capture_t *err)
{
    char reason [PROCESS_REASON_MAX + 1];
    return s_finish (self, REMEDIATE_FAILED, "%s %s in '%s' exited with %d: %s",
                     self->config->engine, subcommand, self->config->directory,
                     self->result->exit_code, process_reason (err, reason, sizeof reason));
}

//  A command's run, counted in calls, with an empty result.
static run_t
s_begin (const remediate_config_t *config, remediate_result_t *result, uint64_t *calls)
{
    memset (result, 0, sizeof *result);
    result->exit_code = -1;
    run_t self = { config, result, NULL, NULL, NULL, { 0 }, false, &s_stats.refused_input };
    self.lines = outlines_new (config->redact_key, config->on_output, config->arg);
    if (config->known_secrets)
        outlines_add_known (self.lines, config->known_secrets);
    s_count (calls, 1);
    return self;
}

//  Count how the command ended.
static void
s_close (run_t *self)
{
    remediate_result_t *result = self->result;
    if (self->lines) {
        outlines_release (self->lines);
        result->lines_truncated = outlines_truncated (self->lines);
        result->lines_dropped = outlines_dropped (self->lines);
        outlines_destroy (&self->lines);
    }
    s_count (&s_stats.lines_truncated, result->lines_truncated);
    s_count (&s_stats.lines_dropped, result->lines_dropped);
    if (result->state == REMEDIATE_SUCCEEDED)
        s_count (&s_stats.succeeded, 1);
    else
    if (result->state == REMEDIATE_FAILED)
        s_count (&s_stats.failed, 1);
    else
    if (result->state == REMEDIATE_TIMED_OUT)
        s_count (&s_stats.timed_out, 1);
    else {
        s_count (self->refusal, 1);
        log_warn ("remediation refused", "reason", result->message);
    }
    if (self->opened)
        process_close (&self->process);
    free (self->plan_path);
    free (self->meta_path);
}

//  --------------------------------------------------------------------------
//  Plan

//  After a plan: chmod, hash, show -json, learn the secrets, redact, keep
//  the hash and the secrets beside the plan.
static int
s_keep_plan (run_t *self, bool refresh_only)
{
    const remediate_config_t *config = self->config;
    remediate_result_t *result = self->result;
    int fd = open (self->plan_path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return s_finish (self, REMEDIATE_FAILED, "%s plan wrote no plan file '%s': %s",
                         config->engine, self->plan_path, strerror (errno));
    int rc = fchmod (fd, 0600) || s_hash (fd, result->plan_sha256) ? -1 : 0;
    int saved = errno;
    close (fd);
    if (rc)
        return s_finish (self, REMEDIATE_FAILED, "cannot protect and hash the plan file '%s': %s",
                         self->plan_path, strerror (saved));
    char *argv [] = { (char *) config->engine, (char *) "show", (char *) "-json",
                      self->plan_path, NULL };
    process_capture_t out = process_capture (REMEDIATE_MAX_PLAN_JSON, false);
    process_capture_t err = process_capture (PROCESS_STDERR_TAIL, true);
    rc = s_run (self, argv, false, &out, &err);
    if (rc == 0 && result->exit_code != 0)
        rc = s_engine_failed (self, "show -json", &err);
    json_t *plan = NULL;
    json_error_t json_error;
    if (rc == 0) {
        plan = json_loadb (out.data ? out.data : "", out.size, 0, &json_error);
        if (!json_is_object (plan))
            rc = s_finish (self, REMEDIATE_FAILED, "%s show -json of the plan printed no JSON "
                           "object: %s", config->engine, plan ? "not an object" : json_error.text);
    }
    if (out.data)
        sodium_memzero (out.data, out.size);
    process_capture_reset (&out);
    process_capture_reset (&err);
    json_t *redacted = rc == 0 ? json_deep_copy (plan) : NULL;
    redact_stats_t stats = { 0 };
    if (rc == 0) {
        redact_plan (redacted, config->redact_key, &stats);
        outlines_learn (self->lines, plan, redacted);
        result->plan_json = json_dumps (redacted, JSON_COMPACT);
        assert (result->plan_json);
        result->plan_size = strlen (result->plan_json);
        if (s_write_meta (self, result->plan_sha256, refresh_only))
            rc = s_finish (self, REMEDIATE_FAILED, "cannot write '%s' beside the plan: %s",
                           self->meta_path, strerror (errno));
    }
    json_decref (plan);
    json_decref (redacted);
    if (rc == 0)
        s_finish (self, REMEDIATE_SUCCEEDED, "plan kept as %s (SHA-256 %s); %zu sensitive "
                  "values redacted in its JSON", self->plan_path, result->plan_sha256,
                  stats.values);
    return rc;
}

int
remediate_plan (const remediate_config_t *config, const char *command_id,
                bool refresh_only, const char *const *targets, size_t target_count,
                remediate_result_t *result)
{
    assert (config && config->engine && config->directory && config->plans_dir);
    assert (config->redact_key && result && (targets || !target_count));
    run_t self = s_begin (config, result, &s_stats.plans);
    //  A plan's output is held until its JSON says what is secret.
    outlines_hold (self.lines, true);
    int rc = -1;
    if (!s_valid_id (command_id)) {
        s_finish (&self, REMEDIATE_REFUSED, "the command id is not 1-128 letters, digits, "
                  "'_' or '-', so it cannot name a plan file");
        goto done;
    }
    if (target_count > REMEDIATE_MAX_TARGETS) {
        s_finish (&self, REMEDIATE_REFUSED, "%zu targets: at most %d", target_count,
                  REMEDIATE_MAX_TARGETS);
        goto done;
    }
    for (size_t index = 0; index < target_count; index++) {
        const char *why = targets [index] ? s_invalid_address (targets [index]) : "missing";
        if (why) {
            //  The target itself is not quoted: it may hold anything.
            s_finish (&self, REMEDIATE_REFUSED, "target %zu is not a resource address: %s",
                      index + 1, why);
            goto done;
        }
    }
    if (s_plans_dir (&self, command_id, true))
        goto done;
    struct stat info;
    if (lstat (self.plan_path, &info) == 0 || lstat (self.meta_path, &info) == 0) {
        //  Not removed: that plan may be waiting for its approval.
        self.refusal = &s_stats.refused_repeated;
        s_finish (&self, REMEDIATE_REFUSED, "command %s has a plan already: a command id "
                  "runs once", command_id);
        goto done;
    }
    if (s_open (&self))
        goto done;
    char *lock_option, *out_option;
    if (asprintf (&lock_option, "-lock-timeout=%ds", config->lock_timeout_s) < 0)
        lock_option = NULL;
    if (asprintf (&out_option, "-out=%s", self.plan_path) < 0)
        out_option = NULL;
    assert (lock_option && out_option);
    char **argv = (char **) calloc (target_count + 8, sizeof *argv);
    assert (argv);
    size_t count = 0;
    argv [count++] = (char *) config->engine;
    argv [count++] = (char *) "plan";
    argv [count++] = (char *) "-input=false";
    argv [count++] = (char *) "-no-color";
    argv [count++] = lock_option;
    if (refresh_only)
        argv [count++] = (char *) "-refresh-only";
    char **target_options = (char **) calloc (target_count + 1, sizeof *target_options);
    assert (target_options);
    for (size_t index = 0; index < target_count; index++) {
        if (asprintf (&target_options [index], "-target=%s", targets [index]) < 0)
            target_options [index] = NULL;
        assert (target_options [index]);
        argv [count++] = target_options [index];
    }
    argv [count++] = out_option;
    process_capture_t out = process_capture (PROCESS_STDERR_TAIL, true);
    process_capture_t err = process_capture (PROCESS_STDERR_TAIL, true);
    rc = s_run (&self, argv, true, &out, &err);
    //  0, or 2 as Terraform 1.11 answers for some refresh-only plans.
    if (rc == 0 && result->exit_code != 0 && result->exit_code != 2)
        rc = s_engine_failed (&self, "plan", &err);
    process_capture_reset (&out);
    process_capture_reset (&err);
    int plan_exit_code = result->exit_code;
    if (rc == 0)
        rc = s_keep_plan (&self, refresh_only);
    if (rc == 0)
        result->exit_code = plan_exit_code;
    if (rc) {
        s_remove_plan (&self);
        memset (result->plan_sha256, 0, sizeof result->plan_sha256);
    }
    for (size_t index = 0; index < target_count; index++)
        free (target_options [index]);
    free (target_options);
    free (argv);
    free (lock_option);
    free (out_option);
done:
    s_close (&self);
    return rc;
}

//  --------------------------------------------------------------------------
//  Apply

//  Seconds since a file was modified, by the same fine clock its time is set
//  with. time () reads a coarser one, up to a tick behind: just after a
//  second began it still gave the second before, and a plan 3 601 s old
//  passed as 3 600 s (a test caught it, once in many runs).
static double
s_age_s (const struct stat *info)
{
    struct timespec now;
    clock_gettime (CLOCK_REALTIME, &now);
    return (double) (now.tv_sec - info->st_mtim.tv_sec)
         + (double) (now.tv_nsec - info->st_mtim.tv_nsec) / 1e9;
}

//  The refusals of an apply, on the opened plan file; 0 if it may run,
//  with the secrets kept beside it learnt.
static int
s_check_plan (run_t *self, int fd, const char *id, const char *approved, unsigned max_age_s)
{
    struct stat info;
    if (fstat (fd, &info) || !S_ISREG (info.st_mode))
        return s_finish (self, REMEDIATE_REFUSED, "the plan of command %s is not a file", id);
    self->refusal = &s_stats.refused_expired;
    //  Never more than REMEDIATE_MAX_AGE_S: plan files older than that are
    //  pruned (remediate_prune_plans), so a longer limit would hold only
    //  until the next prune.
    unsigned limit = max_age_s && max_age_s < REMEDIATE_MAX_AGE_S ? max_age_s
                                                                   : REMEDIATE_MAX_AGE_S;
    double age = s_age_s (&info);
    if (age > limit)
        return s_finish (self, REMEDIATE_REFUSED, "the plan of command %s is %lld s old, "
                         "older than the %u s allowed: make a new plan", id,
                         (long long) age, limit);
    char hex [65];
    self->refusal = &s_stats.refused_changed;
    if (s_hash (fd, hex))
        return s_finish (self, REMEDIATE_REFUSED, "cannot read the plan of command %s: %s",
                         id, strerror (errno));
    if (sodium_memcmp (hex, approved, 64))
        return s_finish (self, REMEDIATE_REFUSED, "the plan file of command %s is not the "
                         "plan approved: its SHA-256 is %s, the approved one %s", id, hex,
                         approved);
    json_error_t error;
    json_t *meta = json_load_file (self->meta_path, JSON_REJECT_DUPLICATES, &error);
    const char *kept = json_string_value (json_object_get (meta, "sha256"));
    json_t *sensitive = json_object_get (meta, "sensitive");
    int rc = 0;
    if (!kept || !json_is_array (sensitive))
        rc = s_finish (self, REMEDIATE_REFUSED, "what was kept beside the plan of command %s "
                       "(%s) is missing or unreadable: %s", id, self->meta_path, error.text);
    else
    if (strcmp (kept, hex))
        rc = s_finish (self, REMEDIATE_REFUSED, "the plan file of command %s changed since "
                       "it was made: its SHA-256 is %s, %s when made", id, hex, kept);
    else {
        size_t index;
        json_t *value;
        json_array_foreach (sensitive, index, value)
            outlines_add_value (self->lines, value);
    }
    json_decref (meta);
    return rc;
}

int
remediate_apply (const remediate_config_t *config, const char *plan_command_id,
                 const char *plan_sha256, unsigned max_age_s, remediate_result_t *result)
{
    assert (config && config->engine && config->directory && config->plans_dir);
    assert (config->redact_key && result);
    run_t self = s_begin (config, result, &s_stats.applies);
    int rc = -1;
    if (!s_valid_id (plan_command_id)) {
        s_finish (&self, REMEDIATE_REFUSED, "the plan's command id is not 1-128 letters, "
                  "digits, '_' or '-'");
        goto done;
    }
    if (!plan_sha256 || strlen (plan_sha256) != 64
    ||  strspn (plan_sha256, "0123456789abcdef") != 64) {
        s_finish (&self, REMEDIATE_REFUSED, "the approved plan's SHA-256 is not 64 lowercase "
                  "hex digits");
        goto done;
    }
    if (s_plans_dir (&self, plan_command_id, false))
        goto done;
    int fd = open (self.plan_path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        self.refusal = &s_stats.refused_missing;
        s_finish (&self, REMEDIATE_REFUSED, "no plan file of command %s (%s): %s; it was "
                  "never made here, was applied or refused already, or was pruned as older "
                  "than an hour", plan_command_id, self.plan_path, strerror (errno));
        goto done;
    }
    //  From here the plan is spent, whatever comes of it.
    rc = s_check_plan (&self, fd, plan_command_id, plan_sha256, max_age_s);
    close (fd);
    if (rc == 0)
        rc = s_open (&self);
    if (rc == 0) {
        char *lock_option;
        if (asprintf (&lock_option, "-lock-timeout=%ds", config->lock_timeout_s) < 0)
            lock_option = NULL;
        assert (lock_option);
        char *argv [] = { (char *) config->engine, (char *) "apply", (char *) "-input=false",
                          (char *) "-no-color", lock_option, self.plan_path, NULL };
        process_capture_t out = process_capture (PROCESS_STDERR_TAIL, true);
        process_capture_t err = process_capture (PROCESS_STDERR_TAIL, true);
        rc = s_run (&self, argv, true, &out, &err);
        if (rc == 0 && result->exit_code != 0)
            rc = s_engine_failed (&self, "apply", &err);
        else
        if (rc == 0)
            s_finish (&self, REMEDIATE_SUCCEEDED, "applied the plan of command %s (SHA-256 %s)",
                      plan_command_id, plan_sha256);
        process_capture_reset (&out);
        process_capture_reset (&err);
        free (lock_option);
    }
    s_remove_plan (&self);
done:
    s_close (&self);
    return rc;
}

//  --------------------------------------------------------------------------
//  Pruning

//  The age in seconds of plans_dir/ID.EXTENSION, a regular file, or -1.
static double
s_file_age (int dir_fd, const char *id, const char *extension)
{
    char name [REMEDIATE_ID_MAX + 16];
    snprintf (name, sizeof name, "%s.%s", id, extension);
    struct stat info;
    if (fstatat (dir_fd, name, &info, AT_SYMLINK_NOFOLLOW) || !S_ISREG (info.st_mode))
        return -1;
    double age = s_age_s (&info);
    return age < 0 ? 0 : age;
}

size_t
remediate_prune_plans (const char *plans_dir, remediate_spent_fn *spent, void *arg)
{
    DIR *dir = opendir (plans_dir);
    if (!dir)
        return 0;               // no plan was ever made here
    size_t pruned = 0;
    struct dirent *entry;
    while ((entry = readdir (dir))) {
        //  Only what remediate_plan writes: ID.tfplan and ID.json beside it.
        char id [REMEDIATE_ID_MAX + 1];
        const char *dot = strrchr (entry->d_name, '.');
        size_t length = dot ? (size_t) (dot - entry->d_name) : 0;
        bool plan = dot && strcmp (dot, ".tfplan") == 0;
        if (!dot || length > REMEDIATE_ID_MAX || !(plan || strcmp (dot, ".json") == 0))
            continue;
        memcpy (id, entry->d_name, length);
        id [length] = 0;
        //  The plan file's age is the plan's, as an apply sees it; the file
        //  beside it decides alone only when the plan file is gone.
        double age = s_file_age (dirfd (dir), id, plan ? "tfplan" : "json");
        if (!s_valid_id (id) || age < 0 || (!plan && s_file_age (dirfd (dir), id, "tfplan") >= 0))
            continue;
        bool expired = age > REMEDIATE_MAX_AGE_S;
        if (!expired && !(spent && spent (arg, id)))
            continue;
        const char *extensions [2] = { "tfplan", "json" };
        for (int index = 0; index < 2; index++) {
            char name [REMEDIATE_ID_MAX + 16];
            snprintf (name, sizeof name, "%s.%s", id, extensions [index]);
            if (unlinkat (dirfd (dir), name, 0) && errno != ENOENT)
                log_warn ("remediation could not remove a plan file, which holds secrets",
                          "file", name, "error", strerror (errno));
        }
        log_info ("plan pruned", "command_id", id,
                  "why", expired ? "older than an apply may take" : "its plan is spent");
        pruned++;
    }
    closedir (dir);
    return pruned;
}

void
remediate_stats (remediate_stats_t *stats)
{
    uint64_t *from = (uint64_t *) &s_stats, *to = (uint64_t *) stats;
    for (size_t index = 0; index < sizeof s_stats / sizeof (uint64_t); index++)
        to [index] = __atomic_load_n (&from [index], __ATOMIC_RELAXED);
}

void
remediate_result_free (remediate_result_t *result)
{
    free (result->message);
    free (result->plan_json);
    memset (result, 0, sizeof *result);
}
