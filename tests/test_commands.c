/*  commands: the command channel end to end (proto/AGENT-LINK.md section
    7): the real `drift ingest`, the real drift-agent running the stand-in
    engine (tests/fixtures/fake-terraform, whose log counts every run), a
    fresh PostgreSQL database, and the API's own handlers (api/commands.c)
    called as the server calls them, as a drift_app login under the
    tenant's row-level security.

    What must hold: a check asked for through the API runs on the agent
    that reports the stack, its report is archived and named by the
    command, and the command ends SUCCEEDED; a command made while the agent
    is away reaches it when it connects; a command made while ingest is
    down reaches the agent after ingest is back; an agent killed while it
    runs a command does not run it again; a resent update is acked and
    stored once; an update for another agent's command, an impossible
    state, and a command sent by an agent are refused and counted; a
    COMMAND_POLL (the HTTPS binding's GET /v1/commands) answers the oldest
    command not yet received, then NO_COMMAND.
*/
#include "cmdutil.h"
#include "../agent/commands.h"
#include "../lib/agent_command.h"
#include "../lib/agent_link.h"
#include "../lib/clock.h"

#include <criterion/criterion.h>
#include <dirent.h>
#include <fcntl.h>
#include <libpq-fe.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>

static lu_env_t s_env;
static char s_spool [400];
static char s_stack_dir [400];   // the stack's directory (empty: the stand-in needs none)
static char s_runs [400];        // the stand-in's log: one line per invocation
static char *s_certificate;
static pid_t s_agent;            // drift-agent run, 0 when stopped
static pid_t s_pipeline [5];     // broker and stages, when a test started them

static void
s_setup (void)
{
    cu_setup (&s_env, s_spool, s_stack_dir, s_runs, &s_certificate);
}

static void
s_teardown (void)
{
    cu_teardown (&s_env, &s_agent, s_pipeline, &s_certificate);
}

TestSuite (commands, .init = s_setup, .fini = s_teardown, .timeout = 240);

//  drift-agent run, checking stack "payments" every hour (so only its
//  first check and the commands run the engine).
static pid_t
s_agent_start (void)
{
    return cu_agent_start (&s_env, s_certificate, s_spool, s_stack_dir, NULL);
}

//  How many times the stand-in ran `plan` (a check runs it once).
static long
s_plans (void)
{
    FILE *file = fopen (s_runs, "r");
    if (!file)
        return 0;
    long plans = 0;
    char line [8192];
    while (fgets (line, sizeof line, file))
        plans += strstr (line, "\tplan\t") != NULL;
    fclose (file);
    return plans;
}

static long
s_wait_plans (long expected, int timeout_ms)
{
    int64_t deadline = clock_mono_ms () + timeout_ms;
    while (s_plans () < expected && clock_mono_ms () < deadline)
        zclock_sleep (50);
    return s_plans ();
}

static char *
s_query (const char *sql)
{
    PGconn *conn = PQconnectdb (s_env.database);
    PGresult *result = PQexec (conn, sql);
    char *value = PQresultStatus (result) == PGRES_TUPLES_OK && PQntuples (result) == 1
                ? strdup (PQgetvalue (result, 0, 0)) : NULL;
    PQclear (result);
    PQfinish (conn);
    return value;
}

//  Whether ingest acked a report of the agent within timeout_ms (its
//  status file names the last one).
static bool
s_wait_acked (int timeout_ms)
{
    char path [512];
    snprintf (path, sizeof path, "%s/status.json", s_spool);
    int64_t deadline = clock_mono_ms () + timeout_ms;
    bool acked = false;
    while (!acked && clock_mono_ms () < deadline) {
        json_t *status = json_load_file (path, 0, NULL);
        const char *report = json_string_value (json_object_get (status, "last_ack_report"));
        acked = report && *report;
        json_decref (status);
        if (!acked)
            zclock_sleep (50);
    }
    return acked;
}

//  Make the file at path, empty.
static void
s_touch (const char *path)
{
    FILE *file = fopen (path, "w");
    cr_assert (file, "%s can be written", path);
    fclose (file);
}

//  A CHECK of stack ("": all) for agent builder, inserted as the API would.
static char *
s_insert_check (const char *stack)
{
    char sql [512];
    snprintf (sql, sizeof sql,
              "INSERT INTO agent_commands (tenant_id, agent_id, stack, kind, requested_by)"
              " SELECT tenant_id, id, '%s', 'check', 'test' FROM agents WHERE name = 'builder'"
              " RETURNING id", stack);
    char *id = s_query (sql);
    cr_assert (id, "the command is stored");
    return id;
}

static long
s_wait_state (const char *id, const char *state, int timeout_ms)
{
    char sql [256];
    snprintf (sql, sizeof sql, "SELECT count (*) FROM agent_commands WHERE id = '%s' AND state = '%s'",
              id, state);
    return tu_wait_query (s_env.database, sql, 1, timeout_ms);
}

//  An API handler called as the server calls it: a drift_app login, the
//  tenant's transaction, an admin (or role) user.
static int
s_api (api_handler_fn *handler, api_role_t role, const char *param, json_t **reply)
{
    return cu_api (&s_env, handler, role, "00000000-0000-0000-0000-000000000001",
                   "ops@acme.example", param, NULL, reply);
}

Test (commands, check_now_from_the_api_runs_on_the_agent_and_its_report_is_archived)
{
    lu_pipeline_start (&s_env, s_pipeline);
    lu_ingest_start (&s_env, NULL);
    cr_assert_gt (lu_wait_stat (&s_env, "broker_credit", 1, 10000), 0);
    s_agent = s_agent_start ();
    //  The agent's first check makes the stack known, with its agent.
    cr_assert_eq (tu_wait_query (s_env.database,
        "SELECT count (*) FROM stacks WHERE name = 'payments' AND last_report_id IS NOT NULL",
        1, 30000), 1, "the first check was archived");
    cr_assert_eq (s_plans (), 1);

    json_t *reply = NULL;
    cr_assert_eq (s_api (api_stacks_check, API_ROLE_ADMIN, "payments", &reply), 202);
    const char *id = json_string_value (json_object_get (reply, "id"));
    cr_assert (id && agent_link_valid_uuid (id));
    cr_assert_str_eq (json_string_value (json_object_get (reply, "state")), "pending");
    cr_assert_str_eq (json_string_value (json_object_get (reply, "agent")), "builder");
    cr_assert_str_eq (json_string_value (json_object_get (reply, "requested_by")),
                      "ops@acme.example");
    char *command = strdup (id);
    json_decref (reply);

    cr_assert_eq (s_wait_state (command, "succeeded", 30000), 1, "the check succeeded");
    cr_assert_eq (s_plans (), 2, "the engine ran once for the command");
    char audited [256];
    snprintf (audited, sizeof audited, "SELECT count (*) FROM audit_log"
              " WHERE action = 'command.check' AND target = '%s'"
              " AND actor_label = 'ops@acme.example'", command);
    cr_assert_eq (tu_query_long (s_env.database, audited), 1, "the request is in the audit log");
    //  The report it made is archived, and the command names it.
    char sql [512];
    snprintf (sql, sizeof sql,
        "SELECT count (*) FROM agent_commands c JOIN reports r"
        " ON r.tenant_id = c.tenant_id AND r.report_id = c.report_id"
        " WHERE c.id = '%s' AND r.status = 'ok'", command);
    cr_assert_eq (tu_wait_query (s_env.database, sql, 1, 30000), 1, "the report is archived");
    //  Its updates: RECEIVED, RUNNING, SUCCEEDED, each stored once.
    snprintf (sql, sizeof sql,
        "SELECT string_agg (state, ',' ORDER BY seq) FROM agent_command_updates"
        " WHERE command_id = '%s'", command);
    char *states = s_query (sql);
    cr_assert_str_eq (states, "received,running,succeeded");
    free (states);
    //  The API shows it with its output.
    cr_assert_eq (s_api (api_commands_get, API_ROLE_VIEWER, command, &reply), 200);
    cr_assert_str_eq (json_string_value (json_object_get (reply, "state")), "succeeded");
    json_t *last = json_array_get (json_object_get (reply, "updates"), 2);
    const char *line = json_string_value (json_array_get (json_object_get (last, "output"), 0));
    cr_assert (line && strstr (line, "payments: report "), "output: %s", line ? line : "none");
    json_decref (reply);
    cr_assert_eq (s_api (api_commands_list, API_ROLE_VIEWER, NULL, &reply), 200);
    cr_assert_eq (json_array_size (json_object_get (reply, "items")), 1);
    json_decref (reply);
    cr_assert_geq (lu_stat (&s_env, "commands.sent"), 1);
    cr_assert_eq (lu_stat (&s_env, "commands.stored"), 3);
    free (command);
}

Test (commands, a_check_of_an_unknown_stack_or_agent_is_404_and_of_a_silent_stack_409)
{
    json_t *reply = NULL;
    cr_assert_eq (s_api (api_stacks_check, API_ROLE_ADMIN, "nosuch", &reply), 404);
    json_decref (reply);
    cr_assert_eq (s_api (api_agents_check, API_ROLE_ADMIN,
                         "00000000-0000-0000-0000-0000000000ff", &reply), 404);
    json_decref (reply);
    cr_assert_eq (s_api (api_commands_get, API_ROLE_ADMIN,
                         "00000000-0000-0000-0000-0000000000ff", &reply), 404);
    json_decref (reply);
    char *agent = s_query ("SELECT id FROM agents WHERE name = 'builder'");
    cr_assert_eq (s_api (api_agents_check, API_ROLE_ADMIN, agent, &reply), 202);
    cr_assert_str_eq (json_string_value (json_object_get (reply, "state")), "pending");
    cr_assert_null (json_string_value (json_object_get (reply, "stack")));
    json_decref (reply);
    free (agent);
}

Test (commands, a_command_made_while_the_agent_is_away_arrives_when_it_connects)
{
    lu_ingest_start (&s_env, NULL);
    char *command = s_insert_check ("payments");
    cr_assert_eq (s_wait_state (command, "pending", 1000), 1);
    s_agent = s_agent_start ();
    cr_assert_eq (s_wait_state (command, "succeeded", 30000), 1);
    //  Its first check and the command's: the command ran once.
    cr_assert_eq (s_wait_plans (2, 5000), 2);
    zclock_sleep (1500);
    cr_assert_eq (s_plans (), 2, "and not again");
    free (command);
}

Test (commands, a_command_survives_an_ingest_restart_and_a_killed_agent_and_runs_once)
{
    lu_ingest_start (&s_env, NULL);
    s_agent = s_agent_start ();
    cr_assert_eq (s_wait_plans (1, 20000), 1, "the agent's first check");

    //  Made while ingest is down: delivered once ingest is back (the agent
    //  says HELLO again when its connection drops).
    lu_ingest_stop (&s_env, SIGKILL);
    char *command = s_insert_check ("payments");
    lu_ingest_start (&s_env, NULL);
    cr_assert_eq (s_wait_state (command, "succeeded", 30000), 1);
    cr_assert_eq (s_plans (), 2);
    free (command);

    //  Killed while the engine runs a command: the record says it ran,
    //  so the restarted agent ends it FAILED and never runs it again.
    setenv ("FAKE_TF_SLEEP", "3", 1);
    tu_stop (s_agent, SIGKILL);
    s_agent = s_agent_start ();
    cr_assert_eq (s_wait_plans (3, 20000), 3, "the restarted agent's first check");
    command = s_insert_check ("payments");
    cr_assert_eq (s_wait_state (command, "received", 20000), 1);
    cr_assert_eq (s_wait_plans (4, 20000), 4, "the command's check started");
    tu_stop (s_agent, SIGKILL);
    unsetenv ("FAKE_TF_SLEEP");
    s_agent = s_agent_start ();
    cr_assert_eq (s_wait_state (command, "failed", 30000), 1);
    char sql [256];
    snprintf (sql, sizeof sql, "SELECT message FROM agent_commands WHERE id = '%s'", command);
    char *message = s_query (sql);
    cr_assert (message && strstr (message, "not run again"), "message: %s", message);
    free (message);
    //  Only the restarted agent's first check ran since: not the command.
    cr_assert_eq (s_wait_plans (5, 20000), 5);
    zclock_sleep (1500);
    cr_assert_eq (s_plans (), 5, "the command did not run a second time");
    free (command);
}

//  The next answer: its kind, and a NACK's code in *code. A command sent
//  again meanwhile (ingest resends unreceived ones) is not an answer.
static int
s_answer (zsock_t *client, int *code)
{
    Drift__AgentMessage *answer = lu_recv (client, 5000);
    while (answer && answer->kind_case == DRIFT__AGENT_MESSAGE__KIND_COMMAND) {
        agent_link_free (answer);
        answer = lu_recv (client, 5000);
    }
    cr_assert (answer, "ingest answers");
    int kind = answer->kind_case;
    if (code)
        *code = kind == DRIFT__AGENT_MESSAGE__KIND_NACK ? (int) answer->nack->code : 0;
    agent_link_free (answer);
    return kind;
}

//  The agent builder as a bare CURVE client, welcomed and sent command (a
//  check of payments) unasked, as every CURVE agent is after its WELCOME.
static zsock_t *
s_client_sent (const char *command)
{
    zsock_t *client = lu_client (&s_env, s_certificate);
    Drift__AgentMessage *welcome = lu_hello (client, 5000);
    cr_assert (welcome, "WELCOME");
    agent_link_free (welcome);
    Drift__AgentMessage *sent = lu_recv (client, 5000);
    cr_assert (sent && sent->kind_case == DRIFT__AGENT_MESSAGE__KIND_COMMAND);
    cr_assert_str_eq (sent->command->command_id, command);
    cr_assert_eq (sent->command->kind, DRIFT__COMMAND_KIND__COMMAND_KIND_CHECK);
    cr_assert_str_eq (sent->command->stack, "payments");
    agent_link_free (sent);
    return client;
}

Test (commands, updates_are_stored_once_and_forged_ones_refused_and_counted)
{
    lu_ingest_start (&s_env, NULL);
    char *intruder_cert = lu_issue (&s_env, "acme", "intruder");
    char *command = s_insert_check ("payments");

    //  After WELCOME, the agent's pending command comes at once.
    zsock_t *client = s_client_sent (command);
    Drift__AgentMessage *welcome;

    //  RECEIVED, twice: acked twice, stored once.
    int code;
    lu_send_update (client, command, 1, DRIFT__COMMAND_STATE__COMMAND_STATE_RECEIVED);
    cr_assert_eq (s_answer (client, NULL), DRIFT__AGENT_MESSAGE__KIND_COMMAND_ACK);
    lu_send_update (client, command, 1, DRIFT__COMMAND_STATE__COMMAND_STATE_RECEIVED);
    cr_assert_eq (s_answer (client, NULL), DRIFT__AGENT_MESSAGE__KIND_COMMAND_ACK);
    char sql [256];
    snprintf (sql, sizeof sql, "SELECT count (*) FROM agent_command_updates WHERE command_id = '%s'",
              command);
    cr_assert_eq (tu_query_long (s_env.database, sql), 1);
    cr_assert_eq (lu_stat (&s_env, "commands.duplicate"), 1);

    //  A state that cannot follow RECEIVED: refused.
    lu_send_update (client, command, 2, DRIFT__COMMAND_STATE__COMMAND_STATE_RECEIVED);
    cr_assert_eq (s_answer (client, &code), DRIFT__AGENT_MESSAGE__KIND_NACK);
    cr_assert_eq (code, DRIFT__NACK_CODE__NACK_BAD_MESSAGE);
    cr_assert_eq (lu_stat (&s_env, "commands.bad_state"), 1);
    //  A seq beyond the next: refused.
    lu_send_update (client, command, 5, DRIFT__COMMAND_STATE__COMMAND_STATE_RUNNING);
    cr_assert_eq (s_answer (client, &code), DRIFT__AGENT_MESSAGE__KIND_NACK);
    cr_assert_eq (lu_stat (&s_env, "commands.bad_state"), 2);
    //  An agent does not send commands.
    Drift__Command forged = DRIFT__COMMAND__INIT;
    forged.command_id = command;
    forged.kind = DRIFT__COMMAND_KIND__COMMAND_KIND_CHECK;
    Drift__AgentMessage message = DRIFT__AGENT_MESSAGE__INIT;
    message.kind_case = DRIFT__AGENT_MESSAGE__KIND_COMMAND;
    message.command = &forged;
    lu_send (client, &message);
    cr_assert_eq (s_answer (client, &code), DRIFT__AGENT_MESSAGE__KIND_NACK);
    cr_assert_eq (code, DRIFT__NACK_CODE__NACK_BAD_MESSAGE);
    cr_assert_eq (lu_stat (&s_env, "bad.wrong_type"), 1);

    //  Another agent of the same tenant cannot touch builder's command.
    zsock_t *intruder = lu_client (&s_env, intruder_cert);
    welcome = lu_hello (intruder, 5000);
    cr_assert (welcome, "WELCOME");
    agent_link_free (welcome);
    lu_send_update (intruder, command, 2, DRIFT__COMMAND_STATE__COMMAND_STATE_SUCCEEDED);
    cr_assert_eq (s_answer (intruder, &code), DRIFT__AGENT_MESSAGE__KIND_NACK);
    cr_assert_eq (code, DRIFT__NACK_CODE__NACK_BAD_MESSAGE);
    cr_assert_eq (lu_stat (&s_env, "commands.not_found"), 1);
    snprintf (sql, sizeof sql, "SELECT count (*) FROM agent_commands WHERE id = '%s'"
              " AND state = 'received' AND last_seq = 1", command);
    cr_assert_eq (tu_query_long (s_env.database, sql), 1, "the command is untouched");
    //  A malformed update (an id that is no UUID): refused.
    lu_send_update (intruder, "../../etc", 1, DRIFT__COMMAND_STATE__COMMAND_STATE_RECEIVED);
    cr_assert_eq (s_answer (intruder, &code), DRIFT__AGENT_MESSAGE__KIND_NACK);
    cr_assert_eq (lu_stat (&s_env, "commands.bad_message"), 1);
    zsock_destroy (&intruder);
    zsock_destroy (&client);
    free (intruder_cert);
    free (command);
}

//  Send a COMMAND_POLL, as the HTTPS face does for GET /v1/commands.
static void
s_poll (zsock_t *client)
{
    Drift__CommandPoll poll = DRIFT__COMMAND_POLL__INIT;
    Drift__AgentMessage message = DRIFT__AGENT_MESSAGE__INIT;
    message.kind_case = DRIFT__AGENT_MESSAGE__KIND_COMMAND_POLL;
    message.command_poll = &poll;
    lu_send (client, &message);
}

//  COMMAND_POLL, the HTTPS binding's GET /v1/commands, which a CURVE agent
//  may send too: the oldest command not yet received, then NO_COMMAND
//  once the agent has said RECEIVED.
Test (commands, a_poll_answers_the_oldest_command_not_yet_received_or_none)
{
    lu_ingest_start (&s_env, NULL);
    char *command = s_insert_check ("payments");
    zsock_t *client = s_client_sent (command);
    long sent_before = lu_stat (&s_env, "commands.sent");

    s_poll (client);
    Drift__AgentMessage *sent = lu_recv (client, 5000);
    cr_assert (sent && sent->kind_case == DRIFT__AGENT_MESSAGE__KIND_COMMAND);
    cr_assert_str_eq (sent->command->command_id, command);
    agent_link_free (sent);
    cr_assert_gt (lu_stat (&s_env, "commands.sent"), sent_before);

    lu_send_update (client, command, 1, DRIFT__COMMAND_STATE__COMMAND_STATE_RECEIVED);
    cr_assert_eq (s_answer (client, NULL), DRIFT__AGENT_MESSAGE__KIND_COMMAND_ACK);
    s_poll (client);
    cr_assert_eq (s_answer (client, NULL), DRIFT__AGENT_MESSAGE__KIND_NO_COMMAND);
    cr_assert_eq (lu_stat (&s_env, "bad.wrong_type"), 0);
    zsock_destroy (&client);
    free (command);
}

//  Files named *suffix in directory.
static long
s_files (const char *directory, const char *suffix)
{
    DIR *dir = opendir (directory);
    long count = 0;
    struct dirent *entry;
    while (dir && (entry = readdir (dir))) {
        size_t length = strlen (entry->d_name);
        count += length > strlen (suffix)
              && streq (entry->d_name + length - strlen (suffix), suffix);
    }
    if (dir)
        closedir (dir);
    return count;
}

//  Whether the agent's record of a command at path says it finished.
static bool
s_done (const char *path)
{
    json_t *record = json_load_file (path, 0, NULL);
    const char *state = json_string_value (json_object_get (record, "state"));
    bool done = state && streq (state, "done");
    json_decref (record);
    return done;
}

//  `drift-agent status` of the test's spool: what it prints.
static char *
s_agent_status (void)
{
    char log [512];
    snprintf (log, sizeof log, "%s/status.out", s_env.directory);
    unlink (log);
    char *argv [] = { getenv ("DRIFT_AGENT_BIN"), "status", "--spool", s_spool, NULL };
    pid_t pid = tu_spawn_argv (log, argv);
    int status;
    waitpid (pid, &status, 0);
    cr_assert (WIFEXITED (status) && WEXITSTATUS (status) == 0, "drift-agent status ran");
    return tu_read_file (log, NULL);
}

Test (commands, an_update_refused_for_good_is_kept_aside_and_never_resent)
{
    lu_ingest_start (&s_env, NULL);
    //  Each check takes 3 s: time to delete the command while it runs.
    setenv ("FAKE_TF_SLEEP", "3", 1);
    s_agent = s_agent_start ();
    cr_assert_eq (s_wait_plans (1, 20000), 1, "the agent's first check");
    char *command = s_insert_check ("payments");
    char sql [256];
    snprintf (sql, sizeof sql, "SELECT count (*) FROM agent_commands WHERE id = '%s'"
              " AND state IN ('received', 'running')", command);
    cr_assert_eq (tu_wait_query (s_env.database, sql, 1, 20000), 1, "the agent has it");
    //  Deleted on the server while the agent runs it: its next updates
    //  name a command ingest no longer has.
    snprintf (sql, sizeof sql, "DELETE FROM agent_commands WHERE id = '%s'", command);
    PGconn *conn = PQconnectdb (s_env.database);
    PGresult *result = PQexec (conn, sql);
    cr_assert_eq (PQresultStatus (result), PGRES_COMMAND_OK);
    PQclear (result);
    PQfinish (conn);
    cr_assert_eq (s_wait_plans (2, 20000), 2, "the command's check ran");

    //  Each update left is refused once and kept aside with the reason.
    char out [500], refused [520];
    snprintf (out, sizeof out, "%s/commands/out", s_spool);
    snprintf (refused, sizeof refused, "%s/refused", out);
    //  Settled: the command finished (its record says so), and nothing of
    //  it waits in out/.
    char record [520];
    snprintf (record, sizeof record, "%s/commands/%s.command", s_spool, command);
    int64_t deadline = clock_mono_ms () + 20000;
    while ((s_files (out, ".update") || !s_done (record)) && clock_mono_ms () < deadline)
        zclock_sleep (50);
    cr_assert (s_done (record), "the command finished");
    cr_assert_eq (s_files (out, ".update"), 0, "no update is waiting to be resent");
    long kept = s_files (refused, ".update");
    cr_assert_geq (kept, 1, "the final update at least was refused");
    cr_assert_eq (s_files (refused, ".reason"), kept, "each with its reason");
    long not_found = lu_stat (&s_env, "commands.not_found");
    cr_assert_eq (not_found, kept, "each refused once");

    //  Three ack timeouts (2 s each) later, nothing was sent again.
    zclock_sleep (6500);
    cr_assert_eq (lu_stat (&s_env, "commands.not_found"), not_found, "not resent");
    cr_assert_eq (s_files (refused, ".update"), kept);
    char *said = s_agent_status ();
    char line [64];
    snprintf (line, sizeof line, "refused updates %ld\n", kept);
    cr_assert (said && strstr (said, line), "status: %s", said ? said : "nothing");
    free (said);
    free (command);
}

Test (commands, a_check_is_shown_running_while_the_engine_runs)
{
    //  The stand-in's plan waits for this file: the command's check stays
    //  in the engine until the test has seen what it needs to.
    char gate [512];
    snprintf (gate, sizeof gate, "%s/gate", s_env.directory);
    setenv ("FAKE_TF_GATE", gate, 1);
    s_touch (gate);
    lu_ingest_start (&s_env, NULL);
    s_agent = s_agent_start ();
    //  Its first check is over once ingest acked its report (closing the
    //  gate as soon as the engine started would hold that check).
    cr_assert (s_wait_acked (20000), "the agent's first check is acked");
    cr_assert_eq (unlink (gate), 0);
    char *command = s_insert_check ("payments");
    cr_assert_eq (s_wait_plans (2, 20000), 2, "the command's check is in the engine");
    cr_assert_eq (s_wait_state (command, "running", 20000), 1,
                  "RUNNING is stored while the engine still runs");
    char sql [256];
    snprintf (sql, sizeof sql,
        "SELECT string_agg (state, ',' ORDER BY seq) FROM agent_command_updates"
        " WHERE command_id = '%s'", command);
    char *states = s_query (sql);
    cr_assert_str_eq (states, "received,running", "no final update yet");
    free (states);
    s_touch (gate);
    cr_assert_eq (s_wait_state (command, "succeeded", 30000), 1);
    states = s_query (sql);
    cr_assert_str_eq (states, "received,running,succeeded");
    free (states);
    unsetenv ("FAKE_TF_GATE");
    free (command);
}

Test (commands, drift_agent_run_prunes_old_records_and_plans_when_it_starts)
{
    //  What an earlier run left: a check finished 40 days ago with every
    //  update acked, one finished just now, and a plan file two hours old.
    const char *old = "0b9f4c1e-2d3a-4e5f-8a7b-6c5d4e3f2a1b";
    const char *recent = "1c0a5d2f-3e4b-4f60-9b8c-7d6e5f4a3b2c";
    cr_assert_eq (mkdir (s_spool, 0700), 0);
    agent_commands_t *commands = agent_commands_new (s_spool);
    cr_assert (commands);
    for (int index = 0; index < 2; index++) {
        Drift__Command command = DRIFT__COMMAND__INIT;
        command.command_id = (char *) (index ? recent : old);
        command.kind = DRIFT__COMMAND_KIND__COMMAND_KIND_CHECK;
        command.stack = "payments";
        uint8_t bytes [256];
        size_t size = drift__command__pack (&command, bytes);
        cr_assert_eq (agent_commands_receive (commands, bytes, size), 0);
        Drift__Command *running = agent_commands_start (commands);
        agent_commands_finish (commands, running, DRIFT__COMMAND_STATE__COMMAND_STATE_SUCCEEDED,
                               "", 0, NULL, NULL, 0);
        drift__command__free_unpacked (running, NULL);
    }
    zlistx_t *names = spool_list (agent_commands_updates (commands));
    for (const char *name = (const char *) zlistx_first (names); name;
         name = (const char *) zlistx_next (names))
        spool_remove (agent_commands_updates (commands), name);
    zlistx_destroy (&names);
    agent_commands_destroy (&commands);
    char path [600];
    snprintf (path, sizeof path, "%s/commands/%s.command", s_spool, old);
    json_t *record = json_load_file (path, 0, NULL);
    cr_assert (record);
    json_object_set_new (record, "finished_us",
                         json_integer (clock_wall_us () - 40 * 86400 * INT64_C (1000000)));
    cr_assert_eq (json_dump_file (record, path, JSON_COMPACT), 0);
    json_decref (record);
    char plans [500], plan [600];
    snprintf (plans, sizeof plans, "%s/plans", s_spool);
    snprintf (plan, sizeof plan, "%s/%s.tfplan", plans, recent);
    cr_assert_eq (mkdir (plans, 0700), 0);
    s_touch (plan);
    struct timespec times [2];
    clock_gettime (CLOCK_REALTIME, &times [0]);
    times [0].tv_sec -= 7200;
    times [1] = times [0];
    cr_assert_eq (utimensat (AT_FDCWD, plan, times, 0), 0);

    lu_ingest_start (&s_env, NULL);
    s_agent = s_agent_start ();
    int64_t deadline = clock_mono_ms () + 20000;
    while ((access (path, F_OK) == 0 || access (plan, F_OK) == 0) && clock_mono_ms () < deadline)
        zclock_sleep (50);
    cr_assert_eq (access (path, F_OK), -1, "the 40-day-old record is pruned");
    cr_assert_eq (access (plan, F_OK), -1, "the plan no apply would take is pruned");
    snprintf (path, sizeof path, "%s/commands/%s.command", s_spool, recent);
    cr_assert_eq (access (path, F_OK), 0, "the recent record is kept");
}
