/*  The cheap attacks on drift ingest of issue 16, item 7, performed: an
    agent flooding reports over its rate (refused before any decode, and
    still told which report, or which command update, to resend), and a
    stream of refused handshakes (counted every one, logged within a
    budget). Also the default report size limit an agent is told in
    WELCOME.
*/
#include "linkutil.h"
#include "../lib/agent_link.h"

#include <criterion/criterion.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

static lu_env_t s_env;

static void
s_setup (void)
{
    lu_setup (&s_env);
}

static void
s_teardown (void)
{
    lu_teardown (&s_env);
}

TestSuite (ingest_limits, .init = s_setup, .fini = s_teardown, .timeout = 120);

//  Agent "flood" connected to an ingest that takes 1 message a second
//  (bursts of 5), with no high-water mark in the way of a flood.
static zsock_t *
s_flood_client (char **certificate)
{
    *certificate = lu_issue (&s_env, "acme", "flood");
    lu_ingest_start (&s_env, "--rate", "1", "--burst", "5", NULL);
    zsock_t *client = lu_client (&s_env, *certificate);
    zsock_set_sndhwm (client, 0);
    zsock_set_rcvhwm (client, 0);
    return client;
}

Test (ingest_limits, reports_over_the_rate_are_refused_before_they_are_decoded)
{
    char *certificate;
    zsock_t *client = s_flood_client (&certificate);
    //  A 64 KiB payload, so a decode would cost something.
    char *payload = (char *) malloc (64 * 1024 + 1);
    memset (payload, ' ', 64 * 1024);
    memcpy (payload, "{\"format_version\":\"1.2\"}", 24);
    payload [64 * 1024] = 0;
    const int sent = 200;
    for (int i = 0; i < sent; i++) {
        char id [32];
        snprintf (id, sizeof id, "flood-%d", i);
        Drift__AgentMessage *message = lu_report (id, "payments", payload);
        lu_send (client, message);
        lu_report_free (message);
    }
    int acked = 0, limited = 0, named = 0;
    for (int answers = 0; answers < sent; answers++) {
        Drift__AgentMessage *answer = lu_recv (client, 10000);
        cr_assert_not_null (answer, "every report is answered (%d so far)", answers);
        if (answer->kind_case == DRIFT__AGENT_MESSAGE__KIND_ACK)
            acked++;
        else
        if (answer->kind_case == DRIFT__AGENT_MESSAGE__KIND_NACK
        &&  answer->nack->code == DRIFT__NACK_CODE__NACK_RATE_LIMITED) {
            limited++;
            //  The agent requeues a refused report by its id.
            named += strncmp (answer->nack->report_id, "flood-", 6) == 0;
        }
        agent_link_free (answer);
    }
    cr_assert_gt (limited, 0);
    cr_assert_eq (named, limited, "every RATE_LIMITED names its report");
    long decoded = lu_stat (&s_env, "decoded");
    cr_assert_eq (decoded, sent - limited,
                  "only the reports within the rate were decoded (%ld of %d)", decoded, sent);
    cr_assert_eq (acked + limited, sent);
    cr_log_info ("%d reports sent at once: %d acked, %d refused undecoded", sent, acked, limited);
    free (payload);
    zsock_destroy (&client);
    free (certificate);
}

Test (ingest_limits, command_updates_over_the_rate_are_named_in_their_refusal)
{
    char *certificate;
    zsock_t *client = s_flood_client (&certificate);
    const char *command = "0b9f4c1e-2d3a-4e5f-8a7b-6c5d4e3f2a1b";
    const int sent = 50;
    for (int i = 0; i < sent; i++)
        lu_send_update (client, command, (uint32_t) i + 1,
                        DRIFT__COMMAND_STATE__COMMAND_STATE_RUNNING);
    //  Those within the rate name no command of this agent (refused for
    //  good); those over it are refused undecoded, each naming its update,
    //  so the agent resends it after retry_after_ms.
    int limited = 0, named = 0, refused = 0;
    for (int answers = 0; answers < sent; answers++) {
        Drift__AgentMessage *answer = lu_recv (client, 10000);
        cr_assert_not_null (answer, "every update is answered (%d so far)", answers);
        cr_assert_eq (answer->kind_case, DRIFT__AGENT_MESSAGE__KIND_NACK);
        bool ours = strcmp (answer->nack->command_id, command) == 0
                 && answer->nack->seq >= 1 && answer->nack->seq <= (uint32_t) sent;
        if (answer->nack->code == DRIFT__NACK_CODE__NACK_RATE_LIMITED) {
            limited++;
            named += ours;
        }
        else {
            //  No such command (or, while ingest's database connection is
            //  still being made, UNAVAILABLE).
            cr_assert (answer->nack->code == DRIFT__NACK_CODE__NACK_BAD_MESSAGE
                       || answer->nack->code == DRIFT__NACK_CODE__NACK_UNAVAILABLE,
                       "code %d", answer->nack->code);
            cr_assert (ours, "a refusal for good names its update too");
            refused++;
        }
        agent_link_free (answer);
    }
    cr_assert_gt (limited, 0);
    cr_assert_eq (named, limited, "every RATE_LIMITED names its update");
    cr_assert_eq (lu_stat (&s_env, "decoded"), refused, "only those within the rate were decoded");
    free (certificate);
    zsock_destroy (&client);
}

Test (ingest_limits, the_default_report_limit_is_16_mib)
{
    char *certificate = lu_issue (&s_env, "acme", "agent");
    lu_ingest_start (&s_env, NULL);
    zsock_t *client = lu_client (&s_env, certificate);
    Drift__AgentMessage *welcome = lu_hello (client, 5000);
    cr_assert_not_null (welcome);
    cr_assert_eq (welcome->welcome->max_report_bytes, 16u * 1024 * 1024);
    agent_link_free (welcome);
    zsock_destroy (&client);
    free (certificate);
}

//  Lines of ingest's log that contain text; the sum of the numbers after
//  "suppressed=" on them in *suppressed.
static long
s_log_lines (const char *text, long *suppressed)
{
    char *path = zsys_sprintf ("%s/drift.log", s_env.directory);
    FILE *log = fopen (path, "r");
    zstr_free (&path);
    long lines = 0;
    *suppressed = 0;
    char line [8192];
    while (log && fgets (line, sizeof line, log))
        if (strstr (line, text)) {
            lines++;
            const char *count = strstr (line, "suppressed=");
            if (count)
                *suppressed += atol (count + 11);
        }
    if (log)
        fclose (log);
    return lines;
}

Test (ingest_limits, refused_handshakes_are_all_counted_and_logged_within_a_budget)
{
    lu_ingest_start (&s_env, NULL);
    //  Clients with keys ingest does not know, all at once.
    const int strangers = 60;
    zsock_t *clients [60];
    for (int i = 0; i < strangers; i++)
        clients [i] = lu_client (&s_env, NULL);
    cr_assert_geq (lu_wait_stat (&s_env, "zap.refused_unknown", strangers, 30000), strangers);
    for (int i = 0; i < strangers; i++)
        zsock_destroy (&clients [i]);
    //  Quiet now: every refusal is either a line or in a "not logged" line,
    //  which comes once its interval is over.
    long refused = lu_stat (&s_env, "zap.refused_unknown");
    long suppressed = 0, logged = 0;
    for (int tries = 0; tries < 100; tries++) {
        long none;
        s_log_lines ("clients refused but not logged", &suppressed);
        logged = s_log_lines ("agent refused: unknown key", &none);
        if (logged + suppressed >= refused)
            break;
        zclock_sleep (100);
        refused = lu_stat (&s_env, "zap.refused_unknown");
    }
    cr_assert_eq (logged + suppressed, refused,
                  "%ld refusals: %ld logged, %ld counted in a not-logged line", refused,
                  logged, suppressed);
    cr_assert_gt (suppressed, 0, "a burst of refusals is not logged line by line");
    cr_assert_eq (lu_stat (&s_env, "zap.logs_suppressed"), suppressed);
}
