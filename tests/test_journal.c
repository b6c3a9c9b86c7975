/*  The journal on a real PostgreSQL: migrations apply once and in
    parallel, entries come back after their deadline with their attempt
    count, acks are idempotent, replayers share the backlog without double
    work, and dead letters move out and come back whole.

    Runs on the project's own pgmq, or on the real extension when
    DRIFT_TEST_PGMQ_URL names a server that has it.
*/
#include "testutil.h"
#include "../lib/journal.h"
#include "../lib/log.h"
#include "../lib/migrations.h"

#include <criterion/criterion.h>
#include <libpq-fe.h>
#include <sodium.h>
#include <sys/wait.h>

static char *s_url;

static void
s_setup (void)
{
    log_init ("test", "logfmt", "error");
    s_url = tu_fresh_database ();
    cr_assert_gt (migrations_apply (s_url), 0);
}

static void
s_teardown (void)
{
    tu_drop_database (s_url);
}

static long
s_query_long (const char *sql)
{
    long value = tu_query_long (s_url, sql);
    cr_assert_neq (value, -1, "query failed: %s", sql);
    return value;
}

static Drift__Envelope *
s_envelope (const char *report_id, const char *raw)
{
    Drift__Envelope *envelope = (Drift__Envelope *) calloc (1, sizeof *envelope);
    drift__envelope__init (envelope);
    envelope->tenant = (char *) "tenant-a";
    envelope->report_id = (char *) report_id;
    envelope->agent_key = (char *) "agent-key-z85";
    envelope->stack = (char *) "payments";
    envelope->received_us = 1764230400000000LL;
    envelope->body_case = DRIFT__ENVELOPE__BODY_RAW;
    envelope->raw.data = (uint8_t *) raw;
    envelope->raw.len = strlen (raw);
    return envelope;
}

Test (journal, migrations_apply_once_and_create_both_queues, .init = s_setup, .fini = s_teardown)
{
    cr_assert_eq (migrations_apply (s_url), 0, "a second run finds nothing to do");
    cr_assert_eq (s_query_long ("SELECT count (*) FROM pgmq.list_queues () "
                                "WHERE queue_name IN ('drift_journal', 'drift_dead')"), 2);
    cr_assert_eq (s_query_long ("SELECT count (*) FROM drift_migrations"),
                  s_query_long ("SELECT count (*) FROM drift_migrations WHERE applied_at <= now ()"));
    cr_assert_eq (s_query_long ("SELECT count (*) FROM pgmq.meta "
                                "WHERE queue_name = 'drift_journal' AND is_unlogged"), 0,
                  "the journal is never unlogged");
}

Test (journal, migrations_from_several_hosts_at_once_apply_each_once, .timeout = 60)
{
    log_init ("test", "logfmt", "error");
    s_url = tu_fresh_database ();
    pid_t children [4];
    for (int i = 0; i < 4; i++) {
        children [i] = fork ();
        if (children [i] == 0)
            _exit (migrations_apply (s_url) >= 0 ? 0 : 1);
    }
    for (int i = 0; i < 4; i++) {
        int status;
        waitpid (children [i], &status, 0);
        cr_assert (WIFEXITED (status) && WEXITSTATUS (status) == 0, "migrator %d failed", i);
    }
    long migrations_count = 0;
    while (migrations [migrations_count].name)
        migrations_count++;
    cr_assert_eq (s_query_long ("SELECT count (*) FROM drift_migrations"), migrations_count);
    tu_drop_database (s_url);
}

Test (journal, entries_come_back_after_their_deadline_with_attempts, .init = s_setup,
      .fini = s_teardown, .timeout = 30)
{
    journal_t *journal = journal_new (s_url, 5000);
    cr_assert (journal);
    Drift__Envelope *envelopes [3] = {
        s_envelope ("r-1", "plan one"), s_envelope ("r-2", "plan \"two\"\n"),
        s_envelope ("r-3", "\x01\x02\xff binary")
    };
    int64_t ids [3];
    cr_assert_eq (journal_send (journal, envelopes, 3, 1, ids), 0);
    cr_assert (ids [0] < ids [1] && ids [1] < ids [2], "ids in send order");

    Drift__Envelope *read [10];
    cr_assert_eq (journal_read (journal, 30, 10, read), 0, "hidden until the deadline");
    zclock_sleep (1100);
    cr_assert_eq (journal_read (journal, 30, 10, read), 3);
    for (int i = 0; i < 3; i++) {
        cr_assert_eq (read [i]->journal_id, ids [i]);
        cr_assert_eq (read [i]->attempt, 2, "ingest delivered once, this is the second");
        cr_assert_str_eq (read [i]->report_id, envelopes [i]->report_id);
        cr_assert_str_eq (read [i]->tenant, "tenant-a");
        cr_assert_str_eq (read [i]->agent_key, "agent-key-z85");
        cr_assert_str_eq (read [i]->stack, "payments");
        cr_assert_eq (read [i]->received_us, 1764230400000000LL);
        cr_assert_eq (read [i]->raw.len, envelopes [i]->raw.len);
        cr_assert_arr_eq (read [i]->raw.data, envelopes [i]->raw.data, read [i]->raw.len);
        drift__envelope__free_unpacked (read [i], NULL);
        free (envelopes [i]);
    }
    cr_assert_eq (journal_read (journal, 1, 10, read), 0, "hidden again for the visibility timeout");
    journal_destroy (&journal);
}

//  Ingest's release (one UPDATE for the list, schema 0028): what it names
//  is readable at once, the rest keeps its deadline, and an id the queue
//  no longer holds is not counted.
Test (journal, released_entries_are_readable_at_once_and_the_others_wait, .init = s_setup,
      .fini = s_teardown, .timeout = 30)
{
    journal_t *journal = journal_new (s_url, 5000);
    cr_assert (journal);
    Drift__Envelope *envelopes [3] = {
        s_envelope ("r-1", "one"), s_envelope ("r-2", "two"), s_envelope ("r-3", "three")
    };
    int64_t ids [3];
    cr_assert_eq (journal_send (journal, envelopes, 3, 30, ids), 0);
    Drift__Envelope *read [10];
    cr_assert_eq (journal_read (journal, 30, 10, read), 0, "hidden for 30 s");
    int64_t released [3] = { ids [0], ids [2], ids [2] + 1000 };
    cr_assert_eq (journal_release (journal, released, 3), 2, "two of the three are there");
    cr_assert_eq (journal_read (journal, 30, 10, read), 2);
    cr_assert_eq (read [0]->journal_id, ids [0]);
    cr_assert_eq (read [1]->journal_id, ids [2]);
    cr_assert_eq (read [0]->attempt, 2, "a release is no read");
    for (int i = 0; i < 2; i++)
        drift__envelope__free_unpacked (read [i], NULL);
    cr_assert_eq (journal_read (journal, 30, 10, read), 0, "the second still waits");
    cr_assert_eq (s_query_long ("SELECT count (*) FROM pgmq.q_drift_journal "
                                "WHERE vt > now () + interval '20 seconds'"), 3,
                  "the second keeps its deadline, the read ones have their new one");
    cr_assert_eq (tu_query_long (s_url, "SELECT drift_journal_release "
                                        "('q_x; DROP TABLE drift_ingested; --', '{1}')"), -1,
                  "a name that is not a queue's is refused");
    cr_assert_eq (s_query_long ("SELECT count (*) FROM drift_ingested"), 0);
    for (int i = 0; i < 3; i++)
        free (envelopes [i]);
    journal_destroy (&journal);
}

Test (journal, archive_is_idempotent_and_keeps_the_audit_trail, .init = s_setup,
      .fini = s_teardown)
{
    journal_t *journal = journal_new (s_url, 5000);
    Drift__Envelope *envelopes [2] = { s_envelope ("a", "x"), s_envelope ("b", "y") };
    int64_t ids [2];
    cr_assert_eq (journal_send (journal, envelopes, 2, 30, ids), 0);
    cr_assert_eq (journal_archive (journal, ids, 2), 2);
    cr_assert_eq (journal_archive (journal, ids, 2), 0, "a replayed ack moves nothing");
    int64_t length, dead;
    cr_assert_eq (journal_lengths (journal, &length, &dead), 0);
    cr_assert_eq (length, 0);
    cr_assert_eq (s_query_long ("SELECT count (*) FROM pgmq.a_drift_journal"), 2);
    free (envelopes [0]);
    free (envelopes [1]);
    journal_destroy (&journal);
}

Test (journal, several_replayers_share_the_backlog_without_double_work, .init = s_setup,
      .fini = s_teardown)
{
    journal_t *first = journal_new (s_url, 5000);
    journal_t *second = journal_new (s_url, 5000);
    Drift__Envelope *envelopes [100];
    int64_t ids [100];
    for (int i = 0; i < 100; i++)
        envelopes [i] = s_envelope ("same", "plan");
    cr_assert_eq (journal_send (first, envelopes, 100, 0, ids), 0);
    Drift__Envelope *read_a [100], *read_b [100];
    int got_a = journal_read (first, 30, 60, read_a);
    int got_b = journal_read (second, 30, 60, read_b);
    cr_assert_eq (got_a, 60);
    cr_assert_eq (got_b, 40);
    for (int a = 0; a < got_a; a++)
        for (int b = 0; b < got_b; b++)
            cr_assert_neq (read_a [a]->journal_id, read_b [b]->journal_id);
    for (int i = 0; i < got_a; i++)
        drift__envelope__free_unpacked (read_a [i], NULL);
    for (int i = 0; i < got_b; i++)
        drift__envelope__free_unpacked (read_b [i], NULL);
    for (int i = 0; i < 100; i++)
        free (envelopes [i]);
    journal_destroy (&first);
    journal_destroy (&second);
}

Test (journal, dead_letters_move_out_and_come_back_whole, .init = s_setup, .fini = s_teardown)
{
    journal_t *journal = journal_new (s_url, 5000);
    Drift__Envelope *envelope = s_envelope ("poison", "bad plan");
    int64_t id;
    cr_assert_eq (journal_send (journal, &envelope, 1, 0, &id), 0);
    Drift__Envelope *read [1];
    cr_assert_eq (journal_read (journal, 30, 1, read), 1);
    char *message = journal_encode (read [0]);
    cr_assert_eq (journal_dead_letter (journal, id, message, 5, "normalize: not a plan"), 0);
    free (message);
    drift__envelope__free_unpacked (read [0], NULL);

    int64_t length, dead;
    journal_lengths (journal, &length, &dead);
    cr_assert_eq (length, 0);
    cr_assert_eq (dead, 1);
    long dead_id = s_query_long ("SELECT msg_id FROM pgmq.q_drift_dead");
    cr_assert_eq (s_query_long ("SELECT (message->>'attempts')::int FROM pgmq.q_drift_dead"), 5);
    cr_assert_eq (s_query_long ("SELECT count (*) FROM pgmq.q_drift_dead "
                                "WHERE message->>'error' = 'normalize: not a plan'"), 1);

    int64_t revived = journal_revive (journal, dead_id);
    cr_assert_gt (revived, id);
    cr_assert_eq (journal_revive (journal, dead_id), 0, "a dead letter goes back only once");
    cr_assert_eq (journal_read (journal, 30, 1, read), 1);
    cr_assert_eq (read [0]->journal_id, revived);
    cr_assert_eq (read [0]->attempt, 2, "a revived report starts its attempts over");
    cr_assert_str_eq (read [0]->report_id, "poison");
    cr_assert_eq (read [0]->raw.len, strlen ("bad plan"));
    drift__envelope__free_unpacked (read [0], NULL);
    free (envelope);
    journal_destroy (&journal);
}

Test (journal, unreadable_entry_is_dead_lettered_not_replayed, .init = s_setup,
      .fini = s_teardown)
{
    PGconn *conn = PQconnectdb (s_url);
    PGresult *result = PQexec (conn, "SELECT pgmq.send ('drift_journal'::text, "
                                     "'{\"tenant\": 1}'::jsonb, 0::integer)");
    cr_assert_eq (PQresultStatus (result), PGRES_TUPLES_OK);
    PQclear (result);
    PQfinish (conn);
    journal_t *journal = journal_new (s_url, 5000);
    Drift__Envelope *read [4];
    cr_assert_eq (journal_read (journal, 30, 4, read), 0);
    int64_t length, dead;
    journal_lengths (journal, &length, &dead);
    cr_assert_eq (length, 0);
    cr_assert_eq (dead, 1);
    journal_destroy (&journal);
}

Test (journal, pipelined_sends_commit_in_order_with_their_own_ids, .init = s_setup,
      .fini = s_teardown)
{
    journal_t *journal = journal_new (s_url, 5000);
    Drift__Envelope *envelopes [10];
    for (int i = 0; i < 10; i++)
        envelopes [i] = s_envelope ("pipelined", "plan");
    for (int batch = 0; batch < JOURNAL_IN_FLIGHT; batch++)
        cr_assert_eq (journal_send_begin (journal, envelopes, 10, 30), 0);
    cr_assert_eq (journal_send_begin (journal, envelopes, 10, 30), -1, "at most in flight");
    int64_t previous = 0;
    for (int batch = 0; batch < JOURNAL_IN_FLIGHT; batch++) {
        int64_t ids [10];
        cr_assert_eq (journal_send_end (journal, ids), 0);
        for (int i = 0; i < 10; i++) {
            cr_assert_gt (ids [i], previous, "ids ascend across batches in send order");
            previous = ids [i];
        }
    }
    cr_assert_eq (journal_send_end (journal, NULL), -1, "nothing left in flight");
    int64_t length, dead;
    cr_assert_eq (journal_lengths (journal, &length, &dead), 0, "ordinary calls work again");
    cr_assert_eq (length, 10 * JOURNAL_IN_FLIGHT);
    for (int i = 0; i < 10; i++)
        free (envelopes [i]);
    journal_destroy (&journal);
}

//  scripts/test says how to restart its PostgreSQL; a server given by
//  DRIFT_TEST_PGMQ_URL is not ours to restart.
static void
s_restart_postgresql (void)
{
    const char *restart = getenv ("DRIFT_TEST_PG_RESTART");
    if ((!restart || !*restart) && getenv ("DRIFT_TEST_PGMQ_URL"))
        cr_skip_test ("the server of DRIFT_TEST_PGMQ_URL is not restarted by tests");
    cr_assert (restart && *restart, "DRIFT_TEST_PG_RESTART is not set: run through scripts/test");
    cr_assert_eq (system (restart), 0, "PostgreSQL restart failed");
}

Test (journal, entries_survive_a_postgresql_restart_and_the_journal_reconnects,
      .init = s_setup, .fini = s_teardown, .timeout = 120)
{
    journal_t *journal = journal_new (s_url, 30000);
    Drift__Envelope *envelope = s_envelope ("before-restart", "plan");
    int64_t before;
    cr_assert_eq (journal_send (journal, &envelope, 1, 0, &before), 0);
    s_restart_postgresql ();
    //  The first call on the dead connection fails (nothing promised) and
    //  rebuilds it; the caller's retry goes through.
    int64_t after = 0;
    int tries = 0;
    while (journal_send (journal, &envelope, 1, 0, &after) && ++tries < 5)
        ;
    cr_assert_gt (after, before, "a send after the restart succeeds");
    cr_assert_leq (tries, 1, "at most the first call fails");
    Drift__Envelope *read [4];
    int count = journal_read (journal, 30, 4, read);
    cr_assert_eq (count, 2, "the entry committed before the restart is still there");
    cr_assert_eq (read [0]->journal_id, before);
    for (int i = 0; i < count; i++)
        drift__envelope__free_unpacked (read [i], NULL);
    free (envelope);
    journal_destroy (&journal);
}

//  Reports of every size in one group come back byte for byte: the group's
//  JSON must stay whole however much the buffer grows.
Test (journal, a_group_of_large_and_small_binary_reports_comes_back_intact, .init = s_setup,
      .fini = s_teardown)
{
    journal_t *journal = journal_new (s_url, 5000);
    size_t sizes [] = { 1, 5000, 70000, 3, 300000, 1024 };
    enum { COUNT = sizeof sizes / sizeof sizes [0] };
    Drift__Envelope *envelopes [COUNT];
    char ids [COUNT][16];
    for (int i = 0; i < COUNT; i++) {
        snprintf (ids [i], sizeof ids [i], "big-%d", i);
        envelopes [i] = s_envelope (ids [i], "");
        uint8_t *raw = (uint8_t *) malloc (sizes [i]);
        randombytes_buf (raw, sizes [i]);
        envelopes [i]->raw.data = raw;
        envelopes [i]->raw.len = sizes [i];
    }
    int64_t journal_ids [COUNT];
    cr_assert_eq (journal_send (journal, envelopes, COUNT, 0, journal_ids), 0);
    Drift__Envelope *read [COUNT];
    cr_assert_eq (journal_read (journal, 30, COUNT, read), COUNT);
    for (int i = 0; i < COUNT; i++) {
        int index = atoi (read [i]->report_id + 4);
        cr_assert_eq (read [i]->raw.len, sizes [index]);
        cr_assert_eq (memcmp (read [i]->raw.data, envelopes [index]->raw.data, sizes [index]), 0,
                      "report %d intact", index);
        drift__envelope__free_unpacked (read [i], NULL);
    }
    for (int i = 0; i < COUNT; i++) {
        free (envelopes [i]->raw.data);
        free (envelopes [i]);
    }
    journal_destroy (&journal);
}

Test (journal, an_accept_journals_each_report_id_once_per_tenant, .init = s_setup,
      .fini = s_teardown)
{
    journal_t *journal = journal_new (s_url, 5000);
    Drift__Envelope *group [4] = {
        s_envelope ("same", "first"), s_envelope ("same", "again in the group"),
        s_envelope ("other", "x"), s_envelope ("same", "another tenant")
    };
    group [3]->tenant = (char *) "tenant-b";
    int64_t ids [4];
    bool duplicates [4];
    cr_assert_eq (journal_accept_begin (journal, group, 4, 30), 0);
    cr_assert_eq (journal_accept_end (journal, ids, duplicates), 0);
    cr_assert_not (duplicates [0]);
    cr_assert (duplicates [1], "a repeat within one group is a duplicate");
    cr_assert_eq (ids [1], ids [0], "and gets the first one's entry");
    cr_assert_not (duplicates [2]);
    cr_assert_not (duplicates [3], "report ids are per tenant");
    cr_assert_neq (ids [3], ids [0]);
    cr_assert_eq (s_query_long ("SELECT count(*) FROM pgmq.q_drift_journal"), 3);

    //  Sent again later (the agent never saw its ACK): same entry, no new row.
    int64_t again;
    bool duplicate;
    cr_assert_eq (journal_accept_begin (journal, group, 1, 30), 0);
    cr_assert_eq (journal_accept_end (journal, &again, &duplicate), 0);
    cr_assert (duplicate);
    cr_assert_eq (again, ids [0]);
    cr_assert_eq (s_query_long ("SELECT count(*) FROM pgmq.q_drift_journal"), 3);
    for (int i = 0; i < 4; i++)
        free (group [i]);
    journal_destroy (&journal);
}

Test (journal, finished_entries_archived_long_ago_are_dropped_and_recent_ones_kept,
      .init = s_setup, .fini = s_teardown)
{
    journal_t *journal = journal_new (s_url, 5000);
    Drift__Envelope *group [2] = { s_envelope ("old", "x"), s_envelope ("recent", "y") };
    int64_t ids [2];
    cr_assert_eq (journal_send (journal, group, 2, 30, ids), 0);
    cr_assert_eq (journal_archive (journal, ids, 2), 2);
    PGconn *conn = PQconnectdb (s_url);
    char sql [160];
    snprintf (sql, sizeof sql, "UPDATE pgmq.a_drift_journal SET archived_at = now () - "
                               "interval '10 days' WHERE msg_id = %lld", (long long) ids [0]);
    PQclear (PQexec (conn, sql));
    PQfinish (conn);
    cr_assert_eq (journal_prune_archive (journal, 7), 1, "the old entry only");
    cr_assert_eq (s_query_long ("SELECT count(*) FROM pgmq.a_drift_journal"), 1);
    cr_assert_eq (s_query_long ("SELECT msg_id FROM pgmq.a_drift_journal"), ids [1],
                  "the recent one is kept");
    cr_assert_eq (journal_prune_archive (journal, 7), 0, "nothing left to drop");
    for (int i = 0; i < 2; i++)
        free (group [i]);
    journal_destroy (&journal);
}

Test (journal, old_report_id_claims_are_forgotten_and_recent_ones_kept, .init = s_setup,
      .fini = s_teardown)
{
    journal_t *journal = journal_new (s_url, 5000);
    Drift__Envelope *group [2] = { s_envelope ("old", "x"), s_envelope ("recent", "y") };
    int64_t ids [2];
    bool duplicates [2];
    cr_assert_eq (journal_accept_begin (journal, group, 2, 30), 0);
    cr_assert_eq (journal_accept_end (journal, ids, duplicates), 0);
    PGconn *conn = PQconnectdb (s_url);
    PQclear (PQexec (conn, "UPDATE drift_ingested SET accepted_at = now () - interval '40 days' "
                           "WHERE report_id = 'old'"));
    PQfinish (conn);
    cr_assert_eq (journal_prune_ingested (journal, 30), 1, "the old claim only");
    cr_assert_eq (s_query_long ("SELECT count(*) FROM drift_ingested WHERE report_id = 'recent'"),
                  1);
    cr_assert_eq (journal_prune_ingested (journal, 30), 0, "nothing left to forget");
    //  Sent again now: a new entry for the forgotten one, the recent one a duplicate.
    int64_t again [2];
    cr_assert_eq (journal_accept_begin (journal, group, 2, 30), 0);
    cr_assert_eq (journal_accept_end (journal, again, duplicates), 0);
    cr_assert_not (duplicates [0]);
    cr_assert_neq (again [0], ids [0]);
    cr_assert (duplicates [1]);
    free (group [0]);
    free (group [1]);
    journal_destroy (&journal);
}
