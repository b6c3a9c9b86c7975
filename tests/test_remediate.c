/*  Remediation on the agent (agent/remediate.c, agent/outlines.c): a plan
    is kept private, hashed and handed back redacted; an apply runs only
    that plan file, once, and is refused for a changed, expired or missing
    file; the engine's own refusals (stale plan, held lock) fail cleanly; a
    hung engine dies with its whole process group; targets that would be
    options never reach the engine; a secret the engine prints arrives
    redacted; only plan, show and apply ever run.

    Most tests run tests/fixtures/fake-terraform, which replays the capture
    scenario-10 (whose database password is marked sensitive) and logs how
    it was invoked. Two run the real terraform, when it is installed, on a
    throwaway stack that needs no provider download.
*/
#define _GNU_SOURCE             // asprintf
#include "../agent/outlines.h"
#include "../agent/remediate.h"
#include "../lib/log.h"
#include "engineutil.h"
#include "testutil.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define SECRET "correct-horse-battery-staple"   // scenario-10's sensitive password
#define TARGET "aws_db_instance.ledger[0]"

static char s_root [256];       // this test's scratch directory
static char s_stack [300];      // the stack's directory
static char s_plans [300];      // the plans directory (made by the first plan)
static char s_log [300];        // the fake's invocation log, FAKE_TF_LOG
static char s_engine [512];     // tests/fixtures/fake-terraform
static uint8_t s_key [REDACT_KEY_BYTES];

//  Output lines as on_output saw them.
typedef struct {
    char **lines;               // copies
    size_t count;               // entries in lines
} seen_t;

static seen_t s_seen;

static void
s_on_output (void *arg, const char *line)
{
    seen_t *seen = (seen_t *) arg;
    seen->lines = (char **) realloc (seen->lines, (seen->count + 1) * sizeof *seen->lines);
    seen->lines [seen->count++] = strdup (line);
}

static void
s_seen_reset (void)
{
    for (size_t index = 0; index < s_seen.count; index++)
        free (s_seen.lines [index]);
    free (s_seen.lines);
    memset (&s_seen, 0, sizeof s_seen);
}

//  True if any line seen holds text.
static bool
s_seen_has (const char *text)
{
    for (size_t index = 0; index < s_seen.count; index++)
        if (strstr (s_seen.lines [index], text))
            return true;
    return false;
}

static void
s_setup (void)
{
    log_init ("test", "logfmt", "error");
    cr_assert_geq (sodium_init (), 0);
    tu_scratch_dir ("remediate", s_root, sizeof s_root);
    snprintf (s_stack, sizeof s_stack, "%s/stack", s_root);
    snprintf (s_plans, sizeof s_plans, "%s/plans", s_root);
    snprintf (s_log, sizeof s_log, "%s/invocations.log", s_root);
    cr_assert_eq (mkdir (s_stack, 0700), 0);
    const char *source = getenv ("DRIFT_SOURCE_DIR");
    cr_assert_not_null (source, "DRIFT_SOURCE_DIR must name the project root");
    snprintf (s_engine, sizeof s_engine, "%s/tests/fixtures/fake-terraform", source);
    char *scenario = tu_fixture_path ("scenario-10");
    setenv ("FAKE_TF_SCENARIO", scenario, 1);
    free (scenario);
    setenv ("FAKE_TF_LOG", s_log, 1);
    const char *knobs [] = { "FAKE_TF_LOCKED", "FAKE_TF_STALE", "FAKE_TF_HANG",
                             "FAKE_TF_SECRET", "FAKE_TF_FAIL", "FAKE_TF_SLEEP",
                             "FAKE_TF_GATE" };
    for (size_t index = 0; index < sizeof knobs / sizeof *knobs; index++)
        unsetenv (knobs [index]);
    for (int index = 0; index < REDACT_KEY_BYTES; index++)
        s_key [index] = (uint8_t) (index * 7 + 1);
    s_seen_reset ();
}

static void
s_teardown (void)
{
    s_seen_reset ();
    tu_remove_tree (s_root);
}

static remediate_config_t
s_config (int timeout_s)
{
    remediate_config_t config = { s_engine, s_stack, s_plans, timeout_s, 7, s_key,
                                  s_on_output, &s_seen, NULL };
    return config;
}

static char *
s_plan_path (const char *id, const char *extension)
{
    char *path;
    cr_assert_geq (asprintf (&path, "%s/%s.%s", s_plans, id, extension), 0);
    return path;
}

//  Plan id with the fake, asserting it succeeded; the result's hash copied out.
static void
s_plan_ok (const char *id, char sha [65])
{
    remediate_config_t config = s_config (30);
    const char *targets [] = { TARGET };
    remediate_result_t result;
    cr_assert_eq (remediate_plan (&config, id, false, targets, 1, &result), 0, "%s",
                  result.message);
    cr_assert_eq (result.state, REMEDIATE_SUCCEEDED);
    memcpy (sha, result.plan_sha256, 65);
    remediate_result_free (&result);
}

//  Apply id's plan with the fake: the state it must end in and, unless
//  NULL, a part of its message. Returns its exit code.
static int
s_apply_expect (const char *id, const char *sha, unsigned max_age_s, remediate_state_t state,
                const char *part)
{
    remediate_config_t config = s_config (30);
    remediate_result_t result;
    int rc = remediate_apply (&config, id, sha, max_age_s, &result);
    cr_assert_eq (rc, state == REMEDIATE_SUCCEEDED ? 0 : -1, "%s", result.message);
    cr_assert_eq (result.state, state, "%d: %s", result.state, result.message);
    if (part)
        cr_assert_not_null (strstr (result.message, part), "%s", result.message);
    int exit_code = result.exit_code;
    remediate_result_free (&result);
    return exit_code;
}

//  Plan id of the whole stack with the fake: the state it must end in and
//  a part of its message. Returns its exit code.
static int
s_plan_expect (const char *id, remediate_state_t state, const char *part)
{
    remediate_config_t config = s_config (30);
    remediate_result_t result;
    int rc = remediate_plan (&config, id, false, NULL, 0, &result);
    cr_assert_eq (rc, state == REMEDIATE_SUCCEEDED ? 0 : -1, "%s", result.message);
    cr_assert_eq (result.state, state, "%d: %s", result.state, result.message);
    cr_assert_not_null (strstr (result.message, part), "%s", result.message);
    int exit_code = result.exit_code;
    remediate_result_free (&result);
    return exit_code;
}

//  A plan tried once is gone, with what was kept beside it.
static void
s_assert_spent (const char *id)
{
    const char *extensions [] = { "tfplan", "json" };
    for (int index = 0; index < 2; index++) {
        char *path = s_plan_path (id, extensions [index]);
        cr_assert_eq (access (path, F_OK), -1, "%s is left", path);
        free (path);
    }
}

//  The fake's invocations, one line each, fields split on tabs: [line][field].
typedef struct {
    char *fields [32];          // pid, cwd, TF_IN_AUTOMATION, TF_INPUT, stdin, argv...
    int count;                  // fields used
} call_t;

static size_t
s_calls (call_t *calls, size_t most)
{
    char *text = tu_read_file (s_log, NULL);
    if (!text)
        return 0;
    size_t count = 0;
    char *rest = text, *line;
    while (count < most && (line = strsep (&rest, "\n")))
        if (*line) {
            call_t *call = &calls [count++];
            call->count = 0;
            char *field;
            while (call->count < 32 && (field = strsep (&line, "\t")))
                call->fields [call->count++] = strdup (field);
        }
    free (text);
    return count;
}

static void
s_calls_free (call_t *calls, size_t count)
{
    for (size_t index = 0; index < count; index++)
        for (int field = 0; field < calls [index].count; field++)
            free (calls [index].fields [field]);
}

//  The arguments of a call (after the five fixed fields) joined by spaces.
static char *
s_arguments (const call_t *call)
{
    size_t size = 1;
    for (int field = 5; field < call->count; field++)
        size += strlen (call->fields [field]) + 1;
    char *joined = (char *) calloc (1, size);
    for (int field = 5; field < call->count; field++) {
        if (field > 5)
            strcat (joined, " ");
        strcat (joined, call->fields [field]);
    }
    return joined;
}

//  The fake ran expected times in all.
static void
s_assert_calls (size_t expected, const char *why)
{
    call_t calls [32];
    size_t count = s_calls (calls, 32);
    s_calls_free (calls, count);
    cr_assert_eq (count, expected, "%zu calls: %s", count, why);
}

//  --------------------------------------------------------------------------
//  Plan

Test (remediate, plan_keeps_a_private_plan_file_its_hash_and_redacted_json,
      .init = s_setup, .fini = s_teardown, .timeout = 60)
{
    remediate_config_t config = s_config (30);
    const char *targets [] = { TARGET };
    remediate_result_t result;
    cr_assert_eq (remediate_plan (&config, "cmd-1", false, targets, 1, &result), 0, "%s",
                  result.message);
    cr_assert_eq (result.state, REMEDIATE_SUCCEEDED);
    cr_assert_eq (result.exit_code, 2, "the fake plans as Terraform 1.11 does: exit 2");

    struct stat info;
    cr_assert_eq (lstat (s_plans, &info), 0);
    cr_assert_eq (info.st_mode & 07777, 0700, "plans directory mode %o", info.st_mode & 07777);
    char *plan_path = s_plan_path ("cmd-1", "tfplan");
    char *meta_path = s_plan_path ("cmd-1", "json");
    cr_assert_eq (stat (plan_path, &info), 0);
    cr_assert_eq (info.st_mode & 07777, 0600, "plan file mode %o", info.st_mode & 07777);
    cr_assert_eq (stat (meta_path, &info), 0);
    cr_assert_eq (info.st_mode & 07777, 0600);

    //  The hash is the file's.
    size_t size;
    char *bytes = tu_read_file (plan_path, &size);
    unsigned char digest [crypto_hash_sha256_BYTES];
    crypto_hash_sha256 (digest, (const unsigned char *) bytes, size);
    char hex [65];
    sodium_bin2hex (hex, sizeof hex, digest, sizeof digest);
    cr_assert_str_eq (result.plan_sha256, hex);
    free (bytes);

    //  The JSON is the plan's, with the password replaced by its marker.
    json_error_t error;
    json_t *plan = json_loadb (result.plan_json, result.plan_size, 0, &error);
    cr_assert_not_null (plan, "%s", error.text);
    cr_assert (json_is_array (json_object_get (plan, "resource_drift")));
    cr_assert_null (strstr (result.plan_json, SECRET), "the password left in clear text");
    json_t *secret = json_string (SECRET);
    char *marker = redact_marker (secret, s_key);
    cr_assert_not_null (strstr (result.plan_json, marker));
    json_decref (secret);
    json_decref (plan);

    //  Exactly plan, then show of that file, in the stack, no shell between.
    call_t calls [8];
    size_t count = s_calls (calls, 8);
    cr_assert_eq (count, 2);
    char *expected;
    cr_assert_geq (asprintf (&expected, "plan -input=false -no-color -lock-timeout=7s "
                             "-target=%s -out=%s", TARGET, plan_path), 0);
    char *arguments = s_arguments (&calls [0]);
    cr_assert_str_eq (arguments, expected);
    free (arguments);
    free (expected);
    char *stack = realpath (s_stack, NULL);
    cr_assert_str_eq (calls [0].fields [1], stack);
    cr_assert_str_eq (calls [0].fields [4], "stdin=/dev/null");
    cr_assert_geq (asprintf (&expected, "show -json %s", plan_path), 0);
    arguments = s_arguments (&calls [1]);
    cr_assert_str_eq (arguments, expected);
    free (arguments);
    free (expected);
    free (stack);
    s_calls_free (calls, count);
    free (marker);
    free (plan_path);
    free (meta_path);
    remediate_result_free (&result);
}

Test (remediate, refresh_only_plan_of_the_whole_stack,
      .init = s_setup, .fini = s_teardown, .timeout = 60)
{
    remediate_config_t config = s_config (30);
    remediate_result_t result;
    cr_assert_eq (remediate_plan (&config, "accept-1", true, NULL, 0, &result), 0, "%s",
                  result.message);
    call_t calls [4];
    size_t count = s_calls (calls, 4);
    cr_assert_eq (count, 2);
    char *plan_path = s_plan_path ("accept-1", "tfplan");
    char *expected;
    cr_assert_geq (asprintf (&expected, "plan -input=false -no-color -lock-timeout=7s "
                             "-refresh-only -out=%s", plan_path), 0);
    char *arguments = s_arguments (&calls [0]);
    cr_assert_str_eq (arguments, expected);
    free (arguments);
    free (expected);
    free (plan_path);
    s_calls_free (calls, count);
    remediate_result_free (&result);
}

Test (remediate, a_command_id_plans_once,
      .init = s_setup, .fini = s_teardown, .timeout = 60)
{
    char sha [65];
    s_plan_ok ("cmd-once", sha);
    s_plan_expect ("cmd-once", REMEDIATE_REFUSED, "has a plan already");
    remediate_stats_t stats;
    remediate_stats (&stats);
    cr_assert_eq (stats.refused_repeated, 1);
    s_assert_calls (2, "the second plan ran nothing");
}

Test (remediate, targets_that_would_be_options_never_reach_the_engine,
      .init = s_setup, .fini = s_teardown, .timeout = 60)
{
    //  Argument injection: each would change what the engine does if it
    //  were taken as given.
    const char *attacks [] = {
        "-destroy", "-auto-approve", "-target=aws_instance.x", "--help",
        "aws_instance.x\n-destroy", "aws_instance.x -destroy", "aws_instance.x\t-destroy",
        "aws_instance.x\r", "aws_instance.x\x1b[2J", "", "aws_instance", ".x",
        "aws_instance.x[\"a\\\"b\"]", "aws_instance.x[1", "aws_instance..x",
        "module.a[\"k\"].aws_instance.x; rm -rf /", "../../etc/passwd"
    };
    remediate_config_t config = s_config (30);
    for (size_t index = 0; index < sizeof attacks / sizeof *attacks; index++) {
        const char *targets [] = { TARGET, attacks [index] };
        remediate_result_t result;
        cr_assert_eq (remediate_plan (&config, "inject", false, targets, 2, &result), -1,
                      "target %zu accepted", index);
        cr_assert_eq (result.state, REMEDIATE_REFUSED);
        cr_assert_not_null (strstr (result.message, "target 2"), "%s", result.message);
        remediate_result_free (&result);
    }
    //  A command id names a file: no way out of the plans directory.
    const char *ids [] = { "../escape", "a/b", ".hidden", "", "x\ny" };
    for (size_t index = 0; index < sizeof ids / sizeof *ids; index++) {
        remediate_result_t result;
        cr_assert_eq (remediate_plan (&config, ids [index], false, NULL, 0, &result), -1);
        cr_assert_eq (result.state, REMEDIATE_REFUSED);
        remediate_result_free (&result);
        cr_assert_eq (remediate_apply (&config, ids [index], "00", 0, &result), -1);
        cr_assert_eq (result.state, REMEDIATE_REFUSED);
        remediate_result_free (&result);
    }
    cr_assert_eq (access (s_log, F_OK), -1, "the engine never ran");
    remediate_stats_t stats;
    remediate_stats (&stats);
    size_t refused = sizeof attacks / sizeof *attacks + 2 * (sizeof ids / sizeof *ids);
    cr_assert_eq (stats.refused_input, refused, "each refusal is counted");
    cr_assert_eq (stats.plans + stats.applies, refused);
    //  Real addresses pass.
    const char *good [] = { "module.app[\"blue\"].aws_instance.web[0]", "data.aws_ami.x",
                            "module.net", "aws_instance.web-1[\"k.with spaces\"]" };
    remediate_result_t result;
    cr_assert_eq (remediate_plan (&config, "good", false, good, 4, &result), 0, "%s",
                  result.message);
    remediate_result_free (&result);
}

Test (remediate, a_plans_directory_others_can_read_is_refused,
      .init = s_setup, .fini = s_teardown, .timeout = 60)
{
    cr_assert_eq (mkdir (s_plans, 0700), 0);
    cr_assert_eq (chmod (s_plans, 0750), 0);
    s_plan_expect ("open-dir", REMEDIATE_REFUSED, "open to others");
    s_apply_expect ("open-dir", "0123456789abcdef0123456789abcdef"
                    "0123456789abcdef0123456789abcdef", 0, REMEDIATE_REFUSED, "open to others");
    //  A symbolic link to a private directory is refused too.
    cr_assert_eq (rmdir (s_plans), 0);
    char *target;
    cr_assert_geq (asprintf (&target, "%s/elsewhere", s_root), 0);
    cr_assert_eq (mkdir (target, 0700), 0);
    cr_assert_eq (symlink (target, s_plans), 0);
    s_plan_expect ("linked", REMEDIATE_REFUSED, "symbolic link");
    remediate_stats_t stats;
    remediate_stats (&stats);
    cr_assert_eq (stats.refused_plans_dir, 3);
    free (target);
    cr_assert_eq (access (s_log, F_OK), -1, "the engine never ran");
}

Test (remediate, a_held_lock_fails_plan_and_apply_cleanly,
      .init = s_setup, .fini = s_teardown, .timeout = 60)
{
    setenv ("FAKE_TF_LOCKED", "1", 1);
    cr_assert_eq (s_plan_expect ("locked", REMEDIATE_FAILED, "Error acquiring the state lock"), 1);
    s_assert_spent ("locked");

    unsetenv ("FAKE_TF_LOCKED");
    char sha [65];
    s_plan_ok ("then", sha);
    setenv ("FAKE_TF_LOCKED", "1", 1);
    s_apply_expect ("then", sha, 0, REMEDIATE_FAILED, "Error acquiring the state lock");
    s_assert_spent ("then");
}

//  --------------------------------------------------------------------------
//  Apply

Test (remediate, apply_runs_that_plan_file_once_and_removes_it,
      .init = s_setup, .fini = s_teardown, .timeout = 60)
{
    char sha [65];
    s_plan_ok ("fix-1", sha);
    cr_assert_eq (s_apply_expect ("fix-1", sha, 0, REMEDIATE_SUCCEEDED, NULL), 0);
    cr_assert (s_seen_has ("Apply complete!"));
    s_assert_spent ("fix-1");
    char *plan_path = s_plan_path ("fix-1", "tfplan");

    call_t calls [8];
    size_t count = s_calls (calls, 8);
    cr_assert_eq (count, 3);
    char *expected;
    cr_assert_geq (asprintf (&expected, "apply -input=false -no-color -lock-timeout=7s %s",
                             plan_path), 0);
    char *arguments = s_arguments (&calls [2]);
    cr_assert_str_eq (arguments, expected);
    free (arguments);
    free (expected);
    s_calls_free (calls, count);

    //  Never again.
    s_apply_expect ("fix-1", sha, 0, REMEDIATE_REFUSED, "no plan file");
    s_assert_calls (3, "the second apply ran nothing");
    free (plan_path);
}

Test (remediate, apply_refuses_a_plan_file_changed_after_planning,
      .init = s_setup, .fini = s_teardown, .timeout = 60)
{
    char sha [65];
    s_plan_ok ("tampered", sha);
    char *plan_path = s_plan_path ("tampered", "tfplan");
    FILE *file = fopen (plan_path, "a");
    cr_assert_not_null (file);
    fputs ("destroy everything\n", file);
    fclose (file);
    cr_assert_eq (s_apply_expect ("tampered", sha, 0, REMEDIATE_REFUSED, "not the plan approved"),
                  -1);
    s_assert_spent ("tampered");
    remediate_stats_t stats;
    remediate_stats (&stats);
    cr_assert_eq (stats.refused_changed, 1);
    free (plan_path);
    s_assert_calls (2, "no apply ran");
}

Test (remediate, apply_refuses_a_hash_other_than_the_approved_one,
      .init = s_setup, .fini = s_teardown, .timeout = 60)
{
    char sha [65];
    s_plan_ok ("other", sha);
    char wrong [65];
    memcpy (wrong, sha, 65);
    wrong [0] = wrong [0] == '0' ? '1' : '0';
    s_apply_expect ("other", wrong, 0, REMEDIATE_REFUSED, "not the plan approved");
    s_apply_expect ("other", "not-a-hash", 0, REMEDIATE_REFUSED, "64 lowercase hex");
    s_assert_calls (2, "no apply ran");
}

//  Set a file's modification time age_s seconds back.
static void
s_age (const char *path, long age_s)
{
    struct timespec times [2];
    clock_gettime (CLOCK_REALTIME, &times [0]);
    times [0].tv_sec -= age_s;
    times [1] = times [0];
    cr_assert_eq (utimensat (AT_FDCWD, path, times, 0), 0, "%s", strerror (errno));
}

//  Plan id, then make its file age_s old.
static void
s_plan_aged (const char *id, long age_s, char sha [65])
{
    s_plan_ok (id, sha);
    char *plan_path = s_plan_path (id, "tfplan");
    s_age (plan_path, age_s);
    free (plan_path);
}

Test (remediate, apply_refuses_an_expired_plan,
      .init = s_setup, .fini = s_teardown, .timeout = 60)
{
    char sha [65];
    //  0: the default hour.
    s_plan_aged ("old", 3601, sha);
    s_apply_expect ("old", sha, 0, REMEDIATE_REFUSED, "older than the 3600 s allowed");
    s_assert_spent ("old");
    //  A limit of its own.
    s_plan_aged ("minute", 61, sha);
    s_apply_expect ("minute", sha, 60, REMEDIATE_REFUSED, "older than the 60 s allowed");
    //  Younger than its limit: applied.
    s_plan_aged ("young", 30, sha);
    s_apply_expect ("young", sha, 60, REMEDIATE_SUCCEEDED, NULL);
    remediate_stats_t stats;
    remediate_stats (&stats);
    cr_assert_eq (stats.refused_expired, 2);
    cr_assert_eq (stats.succeeded, 4, "three plans and one apply");
    s_assert_calls (7, "three plans, three shows, one apply");
}

Test (remediate, a_limit_over_the_hour_is_the_hour,
      .init = s_setup, .fini = s_teardown, .timeout = 60)
{
    //  Plans are pruned after the hour: no command may ask for longer.
    char sha [65];
    s_plan_aged ("long", 3601, sha);
    s_apply_expect ("long", sha, 7200, REMEDIATE_REFUSED, "older than the 3600 s allowed");
}

//  remediate_spent_fn: the plan of command "failed" is spent.
static bool
s_spent (void *arg, const char *id)
{
    (void) arg;
    return strcmp (id, "failed") == 0;
}

Test (remediate, plans_too_old_to_apply_or_spent_are_pruned,
      .init = s_setup, .fini = s_teardown, .timeout = 60)
{
    cr_assert_eq (remediate_prune_plans (s_plans, s_spent, NULL), 0, "no plans directory yet");
    char sha [65], waiting [65];
    s_plan_aged ("old", 3601, sha);
    s_plan_aged ("failed", 10, sha);
    s_plan_ok ("waiting", waiting);
    //  What the apply would find beside a plan that never finished.
    char *lone = s_plan_path ("lone", "json");
    FILE *file = fopen (lone, "w");
    cr_assert (file);
    fclose (file);
    s_age (lone, 4000);
    //  Not ours: left alone whatever its age.
    char other [400];
    snprintf (other, sizeof other, "%s/notes.txt", s_plans);
    file = fopen (other, "w");
    cr_assert (file);
    fclose (file);
    s_age (other, 99999);

    cr_assert_eq (remediate_prune_plans (s_plans, s_spent, NULL), 3, "old, failed and lone");
    s_assert_spent ("old");
    s_assert_spent ("failed");
    s_assert_spent ("lone");
    cr_assert_eq (access (other, F_OK), 0, "%s is not a plan", other);
    char *kept = s_plan_path ("waiting", "tfplan");
    cr_assert_eq (access (kept, F_OK), 0, "the plan waiting for its approval is kept");
    free (kept);
    cr_assert_eq (remediate_prune_plans (s_plans, s_spent, NULL), 0, "nothing more");
    s_apply_expect ("waiting", waiting, 0, REMEDIATE_SUCCEEDED, NULL);
    free (lone);
}

Test (remediate, apply_refuses_a_missing_plan,
      .init = s_setup, .fini = s_teardown, .timeout = 60)
{
    cr_assert_eq (mkdir (s_plans, 0700), 0);
    s_apply_expect ("never-planned", "0123456789abcdef0123456789abcdef"
                    "0123456789abcdef0123456789abcdef", 0, REMEDIATE_REFUSED, "no plan file");
    remediate_stats_t stats;
    remediate_stats (&stats);
    cr_assert_eq (stats.refused_missing, 1);
    cr_assert_eq (access (s_log, F_OK), -1, "the engine never ran");
}

Test (remediate, a_stale_plan_fails_with_the_engine_reason,
      .init = s_setup, .fini = s_teardown, .timeout = 60)
{
    char sha [65];
    s_plan_ok ("stale", sha);
    setenv ("FAKE_TF_STALE", "1", 1);
    cr_assert_eq (s_apply_expect ("stale", sha, 0, REMEDIATE_FAILED, "Saved plan is stale"), 1);
    remediate_stats_t stats;
    remediate_stats (&stats);
    cr_assert_eq (stats.failed, 1);
    s_assert_spent ("stale");
}

//  --------------------------------------------------------------------------
//  Every command, and the engine's bounds

Test (remediate, only_plan_show_and_apply_ever_run,
      .init = s_setup, .fini = s_teardown, .timeout = 60)
{
    char sha [65];
    s_plan_ok ("a", sha);
    s_apply_expect ("a", sha, 0, REMEDIATE_SUCCEEDED, NULL);
    remediate_config_t config = s_config (30);
    remediate_result_t result;
    cr_assert_eq (remediate_plan (&config, "b", true, NULL, 0, &result), 0, "%s", result.message);
    remediate_result_free (&result);
    setenv ("FAKE_TF_STALE", "1", 1);
    s_plan_ok ("c", sha);
    s_apply_expect ("c", sha, 0, REMEDIATE_FAILED, "stale");
    call_t calls [16];
    size_t count = s_calls (calls, 16);
    cr_assert_eq (count, 8);
    for (size_t index = 0; index < count; index++) {
        const char *subcommand = calls [index].fields [5];
        cr_assert (!strcmp (subcommand, "plan") || !strcmp (subcommand, "show")
                || !strcmp (subcommand, "apply"), "ran %s", subcommand);
        for (int field = 6; field < calls [index].count; field++)
            cr_assert (strcmp (calls [index].fields [field], "-auto-approve")
                    && strncmp (calls [index].fields [field], "-destroy", 8),
                       "ran with %s", calls [index].fields [field]);
        cr_assert_str_eq (calls [index].fields [2], "TF_IN_AUTOMATION=1");
        cr_assert_str_eq (calls [index].fields [3], "TF_INPUT=0");
    }
    s_calls_free (calls, count);
}

//  True once pid is gone or a zombie (its parent, init, has yet to reap it).
static bool
s_dead (pid_t pid)
{
    for (int tries = 0; tries < 500; tries++) {
        if (kill (pid, 0) && errno == ESRCH)
            return true;
        char path [64];
        snprintf (path, sizeof path, "/proc/%d/stat", (int) pid);
        char *stat = tu_read_file (path, NULL);
        char *state = stat ? strrchr (stat, ')') : NULL;
        bool zombie = state && state [1] == ' ' && state [2] == 'Z';
        free (stat);
        if (zombie)
            return true;
        usleep (10000);
    }
    return false;
}

//  A hung engine that started a child: both die at the timeout.
static void
s_hang (bool apply)
{
    char sha [65];
    if (apply)
        s_plan_ok ("hang", sha);
    char *pid_path;
    cr_assert_geq (asprintf (&pid_path, "%s/child.pid", s_root), 0);
    setenv ("FAKE_TF_HANG", pid_path, 1);
    remediate_config_t config = s_config (1);
    remediate_result_t result;
    int rc = apply ? remediate_apply (&config, "hang", sha, 0, &result)
                   : remediate_plan (&config, "hang", false, NULL, 0, &result);
    cr_assert_eq (rc, -1);
    cr_assert_eq (result.state, REMEDIATE_TIMED_OUT, "%d: %s", result.state, result.message);
    cr_assert_not_null (strstr (result.message, "timed out"), "%s", result.message);
    cr_assert_not_null (strstr (result.message, "process group was killed"), "%s",
                        result.message);
    remediate_result_free (&result);
    char *text = tu_read_file (pid_path, NULL);
    cr_assert_not_null (text, "the fake never started its child");
    pid_t child = (pid_t) atoi (text);
    cr_assert_gt (child, 1);
    cr_assert (s_dead (child), "the engine's child %d outlived the timeout", (int) child);
    remediate_stats_t stats;
    remediate_stats (&stats);
    cr_assert_eq (stats.timed_out, 1);
    free (text);
    free (pid_path);
    char *plan_path = s_plan_path ("hang", "tfplan");
    cr_assert_eq (access (plan_path, F_OK), -1);
    free (plan_path);
}

Test (remediate, a_hung_plan_dies_with_its_process_group,
      .init = s_setup, .fini = s_teardown, .timeout = 60)
{
    s_hang (false);
}

Test (remediate, a_hung_apply_dies_with_its_process_group,
      .init = s_setup, .fini = s_teardown, .timeout = 60)
{
    s_hang (true);
}

Test (remediate, a_secret_printed_by_the_engine_arrives_redacted,
      .init = s_setup, .fini = s_teardown, .timeout = 60)
{
    setenv ("FAKE_TF_SECRET", SECRET, 1);
    json_t *secret = json_string (SECRET);
    char *marker = redact_marker (secret, s_key);
    json_decref (secret);
    char sha [65];
    s_plan_ok ("leaky", sha);
    cr_assert_gt (s_seen.count, 0);
    cr_assert_not (s_seen_has (SECRET), "the plan's output leaked the password");
    cr_assert (s_seen_has (marker), "the plan's output holds the marker");
    cr_assert (s_seen_has ("Warning: provider echoed"), "stderr is passed on too");
    s_seen_reset ();
    s_apply_expect ("leaky", sha, 0, REMEDIATE_SUCCEEDED, NULL);
    cr_assert_not (s_seen_has (SECRET), "the apply's output leaked the password");
    cr_assert (s_seen_has (marker));
    cr_assert (s_seen_has ("Apply complete!"));
    free (marker);
}

//  --------------------------------------------------------------------------
//  Output lines

Test (outlines, a_read_passes_on_at_most_256_lines_and_counts_the_rest,
      .init = s_setup, .fini = s_teardown)
{
    char *text = (char *) malloc (1000 * 16);
    size_t size = 0;
    for (int index = 0; index < 1000; index++)
        size += (size_t) sprintf (text + size, "line %d\n", index);
    outlines_t *lines = outlines_new (s_key, s_on_output, &s_seen);
    outlines_chunk (lines, 1, text, size);
    cr_assert_eq (s_seen.count, OUTLINES_BATCH);
    cr_assert_str_eq (s_seen.lines [255], "line 255");
    cr_assert_eq (outlines_dropped (lines), 1000 - OUTLINES_BATCH);
    //  The next read is a new batch.
    outlines_chunk (lines, 2, "late\n", 5);
    cr_assert_str_eq (s_seen.lines [OUTLINES_BATCH], "late");
    outlines_destroy (&lines);
    cr_assert_null (lines);
    free (text);
}

Test (outlines, a_long_line_is_cut_after_redaction,
      .init = s_setup, .fini = s_teardown)
{
    outlines_t *lines = outlines_new (s_key, s_on_output, &s_seen);
    outlines_add_secret (lines, SECRET);
    //  The secret straddles the 4 KiB cut: it is replaced whole first.
    size_t size = 10000;
    char *text = (char *) malloc (size + 1);
    memset (text, 'x', size);
    memcpy (text + 4090, SECRET, strlen (SECRET));
    text [size] = '\n';
    outlines_chunk (lines, 1, text, size + 1);
    cr_assert_eq (s_seen.count, 1);
    cr_assert_leq (strlen (s_seen.lines [0]), OUTLINES_LINE_MAX);
    cr_assert_null (strstr (s_seen.lines [0], "correct-h"), "part of the secret left");
    cr_assert_eq (outlines_truncated (lines), 1);
    //  Past the raw limit, a secret cut in two by it leaves no part behind.
    s_seen_reset ();
    size_t raw = OUTLINES_RAW_MAX + 100;
    text = (char *) realloc (text, raw + 1);
    memset (text, 'y', raw);
    memcpy (text + OUTLINES_RAW_MAX - 10, SECRET, strlen (SECRET));
    outlines_add_secret (lines, "yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy"
                                "yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy");
    text [raw] = '\n';
    outlines_chunk (lines, 1, text, raw + 1);
    cr_assert_eq (s_seen.count, 1);
    cr_assert_null (strstr (s_seen.lines [0], "correct-"), "part of the secret left");
    cr_assert_eq (outlines_truncated (lines), 2);
    outlines_destroy (&lines);
    free (text);
}

Test (outlines, held_lines_wait_for_the_secrets,
      .init = s_setup, .fini = s_teardown)
{
    outlines_t *lines = outlines_new (s_key, s_on_output, &s_seen);
    outlines_hold (lines, true);
    const char *text = "db password " SECRET "\r\nno newline at the end";
    outlines_chunk (lines, 1, text, strlen (text));
    outlines_flush (lines);
    cr_assert_eq (s_seen.count, 0, "nothing passed on while held");
    json_t *original = tu_read_fixture_json ("scenario-10.plan.json");
    json_t *redacted = json_deep_copy (original);
    cr_assert_eq (redact_plan (redacted, s_key, NULL), 0);
    cr_assert_geq (outlines_learn (lines, original, redacted), 1);
    outlines_release (lines);
    cr_assert_eq (s_seen.count, 2);
    json_t *secret = json_string (SECRET);
    char *marker = redact_marker (secret, s_key);
    char *expected;
    cr_assert_geq (asprintf (&expected, "db password %s", marker), 0);
    cr_assert_str_eq (s_seen.lines [0], expected);
    cr_assert_str_eq (s_seen.lines [1], "no newline at the end");
    free (expected);
    free (marker);
    json_decref (secret);
    json_decref (original);
    json_decref (redacted);
    outlines_destroy (&lines);
}

Test (outlines, sensitive_numbers_go_as_whole_tokens_and_short_ones_stay,
      .init = s_setup, .fini = s_teardown)
{
    outlines_t *lines = outlines_new (s_key, s_on_output, &s_seen);
    json_t *pin = json_integer (54321);
    json_t *rate = json_real (0.125);
    json_t *sensitive = json_pack ("{s:O, s:O, s:i, s:b}", "pin", pin, "rate", rate,
                                   "replicas", 3, "enabled", 1);
    outlines_add_value (lines, sensitive);
    const char *text = "pin 54321 set\n"            // a whole token: replaced
                       "pin=54321,rate=0.125\n"     // bounded by punctuation: both replaced
                       "id 1543210 and v54321\n"    // inside longer tokens: left alone
                       "replicas 3 enabled true\n"; // short numbers and booleans: left alone
    outlines_chunk (lines, 1, text, strlen (text));
    cr_assert_eq (s_seen.count, 4);
    char *pin_marker = redact_marker (pin, s_key);
    char *rate_marker = redact_marker (rate, s_key);
    char *expected;
    cr_assert_geq (asprintf (&expected, "pin %s set", pin_marker), 0);
    cr_assert_str_eq (s_seen.lines [0], expected);
    free (expected);
    cr_assert_geq (asprintf (&expected, "pin=%s,rate=%s", pin_marker, rate_marker), 0);
    cr_assert_str_eq (s_seen.lines [1], expected);
    free (expected);
    cr_assert_str_eq (s_seen.lines [2], "id 1543210 and v54321");
    cr_assert_str_eq (s_seen.lines [3], "replicas 3 enabled true");
    //  Kept beside a plan as numbers, so an apply redacts them the same way.
    json_t *kept = outlines_secrets (lines);
    cr_assert_eq (json_array_size (kept), 2, "the two long numbers only");
    cr_assert (json_equal (json_array_get (kept, 0), pin) || json_equal (json_array_get (kept, 1), pin));
    json_decref (kept);
    free (pin_marker);
    free (rate_marker);
    json_decref (sensitive);
    json_decref (pin);
    json_decref (rate);
    outlines_destroy (&lines);
}

Test (remediate, a_failed_plan_is_redacted_with_what_the_last_check_found,
      .init = s_setup, .fini = s_teardown, .timeout = 60)
{
    //  The engine prints the password, then fails: no plan JSON says it is
    //  sensitive.
    setenv ("FAKE_TF_SECRET", SECRET, 1);
    setenv ("FAKE_TF_FAIL", "1", 1);
    remediate_result_t result;
    remediate_config_t config = s_config (30);
    cr_assert_eq (remediate_plan (&config, "blind", false, NULL, 0, &result), -1);
    cr_assert_eq (result.state, REMEDIATE_FAILED, "%s", result.message);
    remediate_result_free (&result);
    cr_assert (s_seen_has (SECRET), "without the check's values the output holds it in clear");
    s_seen_reset ();

    //  What the stack's last check found sensitive, as report_build gathers it.
    json_t *check = tu_read_fixture_json ("scenario-10.plan.json");
    json_t *known = json_array ();
    redact_stats_t stats = { 0, known };
    cr_assert_eq (redact_plan (check, s_key, &stats), 0);
    config.known_secrets = known;
    cr_assert_eq (remediate_plan (&config, "seen", false, NULL, 0, &result), -1);
    cr_assert_eq (result.state, REMEDIATE_FAILED, "%s", result.message);
    remediate_result_free (&result);
    cr_assert_gt (s_seen.count, 0);
    cr_assert_not (s_seen_has (SECRET), "the failed plan's output leaked the password");
    json_t *secret = json_string (SECRET);
    char *marker = redact_marker (secret, s_key);
    cr_assert (s_seen_has (marker), "the password is its marker");
    free (marker);
    json_decref (secret);

    //  A plan that succeeds keeps beside it what its own JSON marks, never
    //  the check's values (they stay in memory).
    unsetenv ("FAKE_TF_FAIL");
    unsetenv ("FAKE_TF_SECRET");
    json_t *extra = json_pack ("[s]", "only-the-check-knew-this");
    config.known_secrets = extra;
    cr_assert_eq (remediate_plan (&config, "kept", false, NULL, 0, &result), 0, "%s",
                  result.message);
    remediate_result_free (&result);
    char *meta_path = s_plan_path ("kept", "json");
    char *meta = tu_read_file (meta_path, NULL);
    cr_assert (meta && strstr (meta, SECRET), "the plan's own secret is kept for the apply");
    cr_assert_null (strstr (meta, "only-the-check-knew-this"), "the check's value is not on disk");
    free (meta);
    free (meta_path);
    json_decref (extra);
    json_decref (known);
    json_decref (check);
}

//  --------------------------------------------------------------------------
//  The real engine

//  The real terraform's stack with terraform_data x = input, or a skip.
static char *
s_real_stack (void)
{
    char *stack = eu_real_stack (s_root, "resource \"terraform_data\" \"x\" { input = \"a\" }\n",
                                 s_teardown);
    //  The code now says "b": the remediation puts the resource back to it.
    char *main_tf;
    cr_assert_geq (asprintf (&main_tf, "%s/main.tf", stack), 0);
    FILE *file = fopen (main_tf, "w");
    cr_assert_not_null (file);
    fputs ("resource \"terraform_data\" \"x\" { input = \"b\" }\n"
           "resource \"terraform_data\" \"y\" { input = \"c\" }\n", file);
    fclose (file);
    free (main_tf);
    return stack;
}

static remediate_config_t
s_real_config (const char *stack)
{
    remediate_config_t config = { "terraform", stack, s_plans, 120, 5, s_key,
                                  s_on_output, &s_seen, NULL };
    return config;
}

//  Plan id on the real stack, of terraform_data.x: its hash into sha, its
//  JSON parsed (caller decrefs).
static json_t *
s_real_plan (const remediate_config_t *config, const char *id, char sha [65])
{
    const char *targets [] = { "terraform_data.x" };
    remediate_result_t result;
    cr_assert_eq (remediate_plan (config, id, false, targets, 1, &result), 0, "%s",
                  result.message);
    json_t *plan = json_loadb (result.plan_json, result.plan_size, 0, NULL);
    cr_assert_not_null (plan);
    memcpy (sha, result.plan_sha256, 65);
    remediate_result_free (&result);
    return plan;
}

Test (remediate, real_terraform_plans_a_target_and_applies_it,
      .init = s_setup, .fini = s_teardown, .timeout = 300)
{
    char *stack = s_real_stack ();
    remediate_config_t config = s_real_config (stack);
    char sha [65];
    json_t *plan = s_real_plan (&config, "real-plan", sha);
    json_t *changes = json_object_get (plan, "resource_changes");
    cr_assert_eq (json_array_size (changes), 1, "only the target is planned");
    cr_assert_str_eq (json_string_value (json_object_get (json_array_get (changes, 0),
                                                          "address")), "terraform_data.x");
    json_decref (plan);
    remediate_result_t result;
    cr_assert_eq (remediate_apply (&config, "real-plan", sha, 0, &result), 0, "%s",
                  result.message);
    cr_assert (s_seen_has ("Apply complete!"), "the apply's output is passed on");
    remediate_result_free (&result);
    //  The state now holds "b" for x, and no y (it was not a target).
    char *state_path;
    cr_assert_geq (asprintf (&state_path, "%s/terraform.tfstate", stack), 0);
    json_t *state = json_load_file (state_path, 0, NULL);
    cr_assert_not_null (state);
    char *text = json_dumps (state, JSON_COMPACT);
    cr_assert_not_null (strstr (text, "\"input\":{\"value\":\"b\""), "%s", text);
    cr_assert_null (strstr (text, "\"name\":\"y\""), "%s", text);
    free (text);
    json_decref (state);
    free (state_path);
    free (stack);
}

Test (remediate, real_terraform_refuses_a_stale_plan,
      .init = s_setup, .fini = s_teardown, .timeout = 300)
{
    char *stack = s_real_stack ();
    remediate_config_t config = s_real_config (stack);
    char first [65], second [65];
    json_decref (s_real_plan (&config, "first", first));
    json_decref (s_real_plan (&config, "second", second));
    remediate_result_t result;
    cr_assert_eq (remediate_apply (&config, "second", second, 0, &result), 0, "%s",
                  result.message);
    remediate_result_free (&result);
    //  The state changed after "first" was made: Terraform itself refuses it.
    cr_assert_eq (remediate_apply (&config, "first", first, 0, &result), -1);
    cr_assert_eq (result.state, REMEDIATE_FAILED, "%d: %s", result.state, result.message);
    cr_assert_not_null (strstr (result.message, "stale"), "%s", result.message);
    remediate_result_free (&result);
    free (stack);
}
