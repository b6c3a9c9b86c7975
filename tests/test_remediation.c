/*  remediation: plan, approval and apply end to end (issue 19, proto/
    AGENT-LINK.md section 7): the real `drift ingest` (and for the first
    test the whole pipeline), the real drift-agent running the stand-in
    engine (tests/fixtures/fake-terraform), a fresh PostgreSQL database,
    and the API's handlers (api/remediations.c) called as the server calls
    them, as a drift_app login under the tenant's row-level security. That
    a viewer is 403 on these routes is the HTTP server's and is proved over
    HTTP in tests/test_api.c.

    What must hold: a plan asked for through the API and approved by a
    second person is applied, the check after it resolves the drift and is
    the report the APPLY names; the requester may not approve their own
    plan while four-eyes is on; the agent refuses a plan file changed after
    approval, a plan file too old, and any remediation of a stack without
    `remediation = on`; the API refuses to approve a plan older than an
    hour; a command survives a killed agent and runs once; a hung apply
    sends its output while it runs and is killed at its timeout with its
    process group; and a secret the engine
    prints arrives redacted in the stored updates.
*/
#include "cmdutil.h"
#include "../lib/agent_command.h"
#include "../lib/clock.h"
#include "../lib/metrics.h"

#include <criterion/criterion.h>
#include <fcntl.h>
#include <libpq-fe.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>

#define REQUESTER "00000000-0000-0000-0000-00000000000a"  // asks for the plans
#define APPROVER "00000000-0000-0000-0000-00000000000b"   // a second person
#define SECRET "correct-horse-battery-staple"             // scenario-10's sensitive password

static lu_env_t s_env;
static char s_spool [400];
static char s_stack_dir [400];
static char s_runs [400];        // the stand-in's log: one line per invocation
static char s_state [400];       // the stand-in's "state": the capture after an apply
static char *s_certificate;
static pid_t s_agent;            // drift-agent run, 0 when stopped
static pid_t s_pipeline [5];     // broker and stages, when a test started them

static void
s_use_scenario (const char *name)
{
    char *scenario = tu_fixture_path (name);
    setenv ("FAKE_TF_SCENARIO", scenario, 1);
    zstr_free (&scenario);
}

static void
s_setup (void)
{
    cu_setup (&s_env, s_spool, s_stack_dir, s_runs, &s_certificate);
    snprintf (s_state, sizeof s_state, "%s/engine.state", s_env.directory);
    setenv ("FAKE_TF_STATE", s_state, 1);
}

static void
s_teardown (void)
{
    cu_teardown (&s_env, &s_agent, s_pipeline, &s_certificate);
}

TestSuite (remediation, .init = s_setup, .fini = s_teardown, .timeout = 240);

//  drift-agent run of stack "payments" (checked every hour: only its first
//  check and the commands run the engine), remediation on or off, a plan
//  or apply bounded by timeout_s.
static pid_t
s_agent_run (bool remediation, const char *timeout_s)
{
    return cu_agent_start (&s_env, s_certificate, s_spool, s_stack_dir,
                           "--remediation", remediation ? "payments" : "",
                           "--remediation-timeout-s", timeout_s, "--check-timeout-s", timeout_s,
                           "--lock-timeout-s", "1", NULL);
}

static void
s_agent_stop (void)
{
    tu_stop (s_agent, SIGTERM);
    s_agent = 0;
}

//  The one value a query answers, or NULL.
static char *
s_value (const char *format, ...)
{
    va_list args;
    va_start (args, format);
    char *sql = zsys_vprintf (format, args);
    va_end (args);
    PGconn *conn = PQconnectdb (s_env.database);
    PGresult *result = PQexec (conn, sql);
    char *value = PQresultStatus (result) == PGRES_TUPLES_OK && PQntuples (result) == 1
                  && !PQgetisnull (result, 0, 0)
                ? strdup (PQgetvalue (result, 0, 0)) : NULL;
    PQclear (result);
    PQfinish (conn);
    zstr_free (&sql);
    return value;
}

//  Whether command reaches state within timeout_ms.
static bool
s_reaches (const char *command, const char *state, int timeout_ms)
{
    char sql [256];
    snprintf (sql, sizeof sql, "SELECT count (*) FROM agent_commands WHERE id = '%s'"
              " AND state = '%s'", command, state);
    return tu_wait_query (s_env.database, sql, 1, timeout_ms) == 1;
}

//  A handler called as the server calls it, by user (an admin) with the
//  route's parameter and a JSON body (or NULL); the reply's status.
static int
s_call (api_handler_fn *handler, const char *user, const char *param, const char *body,
        json_t **reply)
{
    return cu_api (&s_env, handler, API_ROLE_ADMIN, user,
                   strcmp (user, REQUESTER) ? "approver@acme.example" : "ops@acme.example",
                   param, body, reply);
}

static int
s_status (api_handler_fn *handler, const char *user, const char *param, const char *body)
{
    json_t *reply;
    int status = s_call (handler, user, param, body, &reply);
    json_decref (reply);
    return status;
}

//  How many remediation requests the API (in this process) refused for reason.
static long
s_refusals (const char *reason)
{
    return (long) metric_value (metrics_counter (metrics_default (),
        "drift_api_remediation_refusals_total",
        "Remediation requests refused (bad input, a plan not fit to approve, four-eyes)",
        "reason", reason, NULL));
}

//  A PLAN of payments for agent builder, asked for by REQUESTER, inserted
//  as the API inserts it (the API needs an archived report to find the
//  agent; only the first test runs the pipeline that archives it).
static char *
s_insert_plan (void)
{
    char *id = s_value (
        "INSERT INTO agent_commands (tenant_id, agent_id, stack, kind, requested_by_id,"
        " requested_by) SELECT tenant_id, id, 'payments', 'plan', '" REQUESTER "',"
        " 'ops@acme.example' FROM agents WHERE name = 'builder' RETURNING id");
    cr_assert (id, "the plan is stored");
    return id;
}

//  The APPLY of plan made by APPROVER's approval (202), its id.
static char *
s_approve (const char *plan)
{
    json_t *reply;
    cr_assert_eq (s_call (api_commands_approve, APPROVER, plan, NULL, &reply), 202);
    cr_assert_str_eq (json_string_value (json_object_get (reply, "kind")), "apply");
    cr_assert_str_eq (json_string_value (json_object_get (reply, "plan_command_id")), plan);
    cr_assert_str_eq (json_string_value (json_object_get (reply, "approved_by")),
                      "approver@acme.example");
    char *apply = strdup (json_string_value (json_object_get (reply, "id")));
    json_decref (reply);
    return apply;
}

//  A plan asked for and made (SUCCEEDED, with its hash) by a running agent.
static char *
s_made_plan (void)
{
    char *plan = s_insert_plan ();
    cr_assert (s_reaches (plan, "succeeded", 30000), "the plan was made");
    char *sha = s_value ("SELECT plan_sha256 FROM agent_commands WHERE id = '%s'", plan);
    cr_assert (sha && strlen (sha) == 64, "the plan's hash is stored");
    free (sha);
    return plan;
}

static char *
s_message (const char *command)
{
    return s_value ("SELECT message FROM agent_commands WHERE id = '%s'", command);
}

//  The output lines of all of command's stored updates, joined.
static char *
s_output (const char *command)
{
    char *output = s_value ("SELECT coalesce (string_agg (array_to_string (output, E'\\n'),"
                            " E'\\n' ORDER BY seq), '') FROM agent_command_updates"
                            " WHERE command_id = '%s'", command);
    cr_assert (output);
    return output;
}

Test (remediation, plan_approve_apply_and_the_check_after_it_resolves_the_drift)
{
    char *clean = tu_fixture_path ("scenario-08");
    setenv ("FAKE_TF_AFTER_APPLY", clean, 1);
    zstr_free (&clean);
    lu_pipeline_start (&s_env, s_pipeline);
    lu_ingest_start (&s_env, NULL);
    cr_assert_gt (lu_wait_stat (&s_env, "broker_credit", 1, 10000), 0);
    s_agent = s_agent_run (true, "60");
    cr_assert_eq (tu_wait_query (s_env.database,
        "SELECT count (*) FROM drift_items d JOIN stacks s ON s.id = d.stack_id"
        " WHERE s.name = 'payments' AND d.resolved_at IS NULL AND d.address = 'aws_s3_bucket_public_access_block.receipts'", 1, 30000), 1,
        "the first check's drift is open");

    json_t *reply;
    cr_assert_eq (s_call (api_stacks_remediate, REQUESTER, "payments",
                          "{\"targets\": [\"aws_s3_bucket_public_access_block.receipts\"],"
                          " \"mode\": \"revert\"}", &reply), 202);
    cr_assert_str_eq (json_string_value (json_object_get (reply, "kind")), "plan");
    cr_assert_str_eq (json_string_value (json_object_get (reply, "state")), "pending");
    char *plan = strdup (json_string_value (json_object_get (reply, "id")));
    json_decref (reply);
    cr_assert (s_reaches (plan, "succeeded", 30000), "the plan was made");
    //  The plan's JSON is stored for review, and the engine was given the target.
    cr_assert_eq (s_call (api_commands_get, REQUESTER, plan, NULL, &reply), 200);
    cr_assert (json_is_object (json_object_get (reply, "plan_json")), "plan_json is stored");
    json_decref (reply);
    char *runs = tu_read_file (s_runs, NULL);
    cr_assert (strstr (runs, "-target=aws_s3_bucket_public_access_block.receipts"));
    free (runs);

    //  Four-eyes is on by default: not the requester's to approve.
    cr_assert_eq (s_status (api_commands_approve, REQUESTER, plan, NULL), 403);
    cr_assert_eq (s_refusals ("four_eyes"), 1);
    char *apply = s_approve (plan);
    //  Approved once: a second approval (or a rejection) is refused.
    cr_assert_eq (s_status (api_commands_approve, APPROVER, plan, NULL), 409);
    cr_assert_eq (s_status (api_commands_reject, APPROVER, plan, NULL), 409);
    cr_assert_eq (s_refusals ("decided"), 2);

    cr_assert (s_reaches (apply, "succeeded", 30000), "the apply succeeded: %s",
               s_message (apply));
    char *report = s_value ("SELECT report_id FROM agent_commands WHERE id = '%s'", apply);
    cr_assert (report, "the APPLY names the report of the check after it");
    char sql [512];
    snprintf (sql, sizeof sql, "SELECT count (*) FROM drift_items d JOIN stacks s"
              " ON s.id = d.stack_id WHERE s.name = 'payments'"
              " AND d.address = 'aws_s3_bucket_public_access_block.receipts'"
              " AND d.resolved_by_report = '%s'", report);
    cr_assert_eq (tu_wait_query (s_env.database, sql, 1, 30000), 1,
                  "the drift is resolved by the APPLY's report");
    char *output = s_output (apply);
    cr_assert (strstr (output, "Apply complete!"), "the apply's output is stored: %s", output);
    free (output);
    //  The audit log: who asked for the plan, who approved it, and the hash approved.
    char *asked = s_value ("SELECT actor FROM audit_log WHERE action = 'command.plan'"
                           " AND target = '%s'", plan);
    cr_assert (asked && strcmp (asked, REQUESTER) == 0, "the request is audited: %s", asked);
    char *approved = s_value ("SELECT a.actor FROM audit_log a JOIN agent_commands c"
                              " ON c.id::text = a.target WHERE a.action = 'command.approve'"
                              " AND a.target = '%s' AND a.detail->>'plan_sha256' = c.plan_sha256"
                              " AND a.detail->>'plan_command_id' = '%s'", apply, plan);
    cr_assert (approved && strcmp (approved, APPROVER) == 0, "the approval is audited: %s",
               approved);
    free (asked);
    free (approved);
    free (report);
    free (apply);
    free (plan);
}

Test (remediation, four_eyes_off_lets_the_requester_approve_and_a_rejected_plan_stays_so)
{
    lu_ingest_start (&s_env, NULL);
    s_agent = s_agent_run (true, "60");
    char *plan = s_made_plan ();
    char *other = s_made_plan ();
    json_t *reply;
    cr_assert_eq (s_call (api_remediation_settings_get, REQUESTER, NULL, NULL, &reply), 200);
    cr_assert (json_is_true (json_object_get (reply, "four_eyes")), "on by default");
    json_decref (reply);
    cr_assert_eq (s_status (api_remediation_settings_put, REQUESTER, NULL,
                            "{\"four_eyes\": \"no\"}"), 400);
    cr_assert_eq (s_refusals ("bad_setting"), 1);
    cr_assert_eq (s_call (api_remediation_settings_put, REQUESTER, NULL,
                          "{\"four_eyes\": false}", &reply), 200);
    cr_assert (json_is_false (json_object_get (reply, "four_eyes")));
    json_decref (reply);
    cr_assert_eq (s_status (api_commands_reject, REQUESTER, other, NULL), 200);
    cr_assert_eq (s_status (api_commands_approve, APPROVER, other, NULL), 409,
                  "a rejected plan is not approved");
    cr_assert_eq (s_status (api_commands_approve, REQUESTER, plan, NULL), 202);
    free (other);
    free (plan);
}

Test (remediation, bad_requests_are_refused_with_400_or_404)
{
    cr_assert_eq (s_status (api_stacks_remediate, REQUESTER, "payments",
                            "{\"mode\": \"destroy\"}"), 400);
    cr_assert_eq (s_status (api_stacks_remediate, REQUESTER, "payments",
                            "{\"targets\": [\"-destroy\"]}"), 400);
    cr_assert_eq (s_status (api_stacks_remediate, REQUESTER, "payments",
                            "{\"targets\": \"aws_instance.web\"}"), 400);
    cr_assert_eq (s_status (api_stacks_remediate, REQUESTER, "payments",
                            "{\"targets\": [\"a\\nb\"]}"), 400);
    cr_assert_eq (s_status (api_stacks_remediate, REQUESTER, "payments",
                            "{\"force\": true}"), 400);
    cr_assert_eq (s_refusals ("bad_mode"), 1);
    cr_assert_eq (s_refusals ("bad_targets"), 3);
    cr_assert_eq (s_status (api_stacks_remediate, REQUESTER, "nosuch", "{}"), 404);
    cr_assert_eq (s_status (api_commands_approve, APPROVER, "not-a-uuid", NULL), 404);
    //  A CHECK is no plan: not approved.
    char *check = s_value ("INSERT INTO agent_commands (tenant_id, agent_id, stack, kind,"
                           " requested_by) SELECT tenant_id, id, 'payments', 'check', 'x'"
                           " FROM agents WHERE name = 'builder' RETURNING id");
    cr_assert_eq (s_status (api_commands_approve, APPROVER, check, NULL), 409);
    cr_assert_eq (s_refusals ("not_a_plan"), 1);
    free (check);
    //  A plan not made yet (pending): not approved.
    char *plan = s_insert_plan ();
    cr_assert_eq (s_status (api_commands_approve, APPROVER, plan, NULL), 409);
    cr_assert_eq (s_refusals ("not_made"), 1);
    free (plan);
}

Test (remediation, a_stack_without_remediation_on_is_refused_and_the_refusal_shown)
{
    lu_ingest_start (&s_env, NULL);
    s_agent = s_agent_run (false, "60");
    char *plan = s_insert_plan ();
    cr_assert (s_reaches (plan, "refused", 30000), "the plan is refused");
    json_t *reply;
    cr_assert_eq (s_call (api_commands_get, REQUESTER, plan, NULL, &reply), 200);
    const char *message = json_string_value (json_object_get (reply, "message"));
    cr_assert (message && strstr (message, "remediation is off"), "shown: %s", message);
    json_decref (reply);
    char *runs = tu_read_file (s_runs, NULL);
    cr_assert_null (strstr (runs, plan), "the engine never saw the command");
    free (runs);
    free (plan);
}

Test (remediation, an_apply_of_a_plan_file_changed_after_approval_is_refused)
{
    lu_ingest_start (&s_env, NULL);
    s_agent = s_agent_run (true, "60");
    char *plan = s_made_plan ();
    s_agent_stop ();
    char *apply = s_approve (plan);
    char *path = zsys_sprintf ("%s/plans/%s.tfplan", s_spool, plan);
    FILE *file = fopen (path, "a");
    cr_assert (file, "the plan file is kept at %s", path);
    fputs ("tampered\n", file);
    fclose (file);
    s_agent = s_agent_run (true, "60");
    cr_assert (s_reaches (apply, "refused", 30000), "the apply is refused");
    char *message = s_message (apply);
    cr_assert (message && strstr (message, "not the plan approved"), "message: %s", message);
    free (message);
    char *runs = tu_read_file (s_runs, NULL);
    cr_assert_null (strstr (runs, "\tapply\t"), "the engine never applied");
    free (runs);
    zstr_free (&path);
    free (apply);
    free (plan);
}

Test (remediation, an_expired_plan_is_refused_by_the_api_and_by_the_agent)
{
    lu_ingest_start (&s_env, NULL);
    s_agent = s_agent_run (true, "60");
    char *plan = s_made_plan ();
    char *age = s_value ("UPDATE agent_commands SET finished_at = now () - interval '61 minutes'"
                         " WHERE id = '%s' RETURNING 1", plan);
    free (age);
    cr_assert_eq (s_status (api_commands_approve, APPROVER, plan, NULL), 409);
    cr_assert_eq (s_refusals ("expired"), 1);
    cr_assert_eq (s_refusals ("expired"), 1);

    //  Approved in time, but the file the agent kept is older than the limit:
    //  the restarted agent prunes it (an apply would refuse it anyway).
    age = s_value ("UPDATE agent_commands SET finished_at = now () WHERE id = '%s' RETURNING 1",
                   plan);
    free (age);
    s_agent_stop ();
    char *apply = s_approve (plan);
    char *path = zsys_sprintf ("%s/plans/%s.tfplan", s_spool, plan);
    struct timeval old [2] = { { time (NULL) - 7200, 0 }, { time (NULL) - 7200, 0 } };
    cr_assert_eq (utimes (path, old), 0, "the plan file is kept at %s", path);
    s_agent = s_agent_run (true, "60");
    cr_assert (s_reaches (apply, "refused", 30000), "the apply is refused");
    char *message = s_message (apply);
    cr_assert (message && strstr (message, "older than an hour"), "message: %s", message);
    free (message);
    cr_assert_eq (access (path, F_OK), -1, "pruned");
    zstr_free (&path);
    free (apply);
    free (plan);
}

//  How many times the engine ran `plan`.
static long
s_plan_runs (void)
{
    char *runs = tu_read_file (s_runs, NULL);
    long count = 0;
    for (char *at = runs; at && (at = strstr (at, "\tplan\t")); at++)
        count++;
    free (runs);
    return count;
}

//  How many times the engine ran `plan` for command (its plan file names it).
static long
s_runs_of (const char *command)
{
    char *runs = tu_read_file (s_runs, NULL);
    long count = 0;
    for (char *at = runs; at && (at = strstr (at, "\tplan\t")); at++) {
        char *end = strchr (at, '\n');
        char *named = strstr (at, command);
        count += named && (!end || named < end);
    }
    free (runs);
    return count;
}

Test (remediation, a_command_survives_a_killed_agent_and_runs_once)
{
    lu_ingest_start (&s_env, NULL);
    setenv ("FAKE_TF_SLEEP", "3", 1);
    s_agent = s_agent_run (true, "60");
    char *plan = s_insert_plan ();
    int64_t deadline = clock_mono_ms () + 30000;
    while (s_runs_of (plan) == 0 && clock_mono_ms () < deadline)
        zclock_sleep (50);
    cr_assert_eq (s_runs_of (plan), 1, "the plan started");
    tu_stop (s_agent, SIGKILL);
    unsetenv ("FAKE_TF_SLEEP");
    s_agent = s_agent_run (true, "60");
    cr_assert (s_reaches (plan, "failed", 30000), "ended by the restarted agent");
    char *message = s_message (plan);
    cr_assert (message && strstr (message, "not run again"), "message: %s", message);
    free (message);
    //  The restarted agent's first check ran; the plan did not run again.
    deadline = clock_mono_ms () + 20000;
    while (s_plan_runs () < 3 && clock_mono_ms () < deadline)
        zclock_sleep (50);
    cr_assert_eq (s_plan_runs (), 3, "two first checks and the plan");
    zclock_sleep (1000);
    cr_assert_eq (s_runs_of (plan), 1, "the plan ran once");
    free (plan);
}

//  Whether pid runs (a zombie does not).
static bool
s_alive (pid_t pid)
{
    char path [64], stat [512] = "";
    snprintf (path, sizeof path, "/proc/%d/stat", (int) pid);
    FILE *file = fopen (path, "r");
    if (!file)
        return false;
    size_t size = fread (stat, 1, sizeof stat - 1, file);
    fclose (file);
    stat [size] = 0;
    const char *state = strrchr (stat, ')');
    return state && state [1] == ' ' && state [2] != 'Z';
}

Test (remediation, a_hung_apply_streams_its_output_and_is_killed_at_its_timeout)
{
    lu_ingest_start (&s_env, NULL);
    s_agent = s_agent_run (true, "60");
    char *plan = s_made_plan ();
    s_agent_stop ();
    char *apply = s_approve (plan);
    char *hang = zsys_sprintf ("%s/hang.pid", s_env.directory);
    setenv ("FAKE_TF_HANG", hang, 1);
    setenv ("FAKE_TF_SECRET", "printed before the hang", 1);
    s_agent = s_agent_run (true, "4");
    //  The apply prints, then hangs in a child whose pid it writes.
    cr_assert (s_reaches (apply, "running", 30000), "the apply started");
    char sql [512];
    snprintf (sql, sizeof sql, "SELECT count (*) FROM agent_command_updates"
              " WHERE command_id = '%s' AND state = 'running' AND cardinality (output) > 0",
              apply);
    cr_assert_geq (tu_wait_query (s_env.database, sql, 1, 30000), 1, "no output stored");
    //  ... while the apply still hangs (the agent's first check, killed at
    //  its own timeout, wrote the file before: its child is gone).
    pid_t child = 0;
    int64_t deadline = clock_mono_ms () + 10000;
    while (!s_alive (child) && clock_mono_ms () < deadline) {
        char *text = tu_read_file (hang, NULL);
        child = text ? (pid_t) atol (text) : 0;
        free (text);
        if (!s_alive (child))
            zclock_sleep (20);
    }
    cr_assert (child > 0 && s_alive (child),
               "the output reached the server only after the apply ended");

    cr_assert (s_reaches (apply, "timed_out", 60000), "the apply timed out: %s",
               s_message (apply));
    //  Its process group went with it: the engine's own child is gone.
    deadline = clock_mono_ms () + 5000;
    while (s_alive (child) && clock_mono_ms () < deadline)
        zclock_sleep (50);
    cr_assert_not (s_alive (child), "the engine's child was killed");
    zstr_free (&hang);
    free (apply);
    free (plan);
}

Test (remediation, output_with_a_secret_arrives_redacted)
{
    s_use_scenario ("scenario-10");
    setenv ("FAKE_TF_SECRET", SECRET, 1);
    lu_ingest_start (&s_env, NULL);
    s_agent = s_agent_run (true, "60");
    char *plan = s_made_plan ();
    char *apply = s_approve (plan);
    cr_assert (s_reaches (apply, "succeeded", 30000), "the apply succeeded: %s",
               s_message (apply));
    const char *commands [] = { plan, apply };
    for (int i = 0; i < 2; i++) {
        char *output = s_output (commands [i]);
        cr_assert (strstr (output, "password is"), "the line arrived: %s", output);
        cr_assert_null (strstr (output, SECRET), "the secret arrived in clear: %s", output);
        free (output);
    }
    char *json = s_value ("SELECT plan_json::text FROM agent_commands WHERE id = '%s'", plan);
    cr_assert (json, "plan_json is stored");
    cr_assert_null (strstr (json, SECRET), "plan_json holds the secret");
    free (json);
    free (apply);
    free (plan);
}
