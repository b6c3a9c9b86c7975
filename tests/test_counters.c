/*  test_counters: one table row names a counter for STATS and /metrics
    alike (lib/counters), as the broker and ingest declare theirs.
*/
#include "../lib/counters.h"
#include "../lib/metrics.h"

#include <criterion/criterion.h>
#include <string.h>

typedef struct {
    uint64_t sent;                // exported, labelled
    uint64_t refused;             // exported, labelled
    uint64_t malformed;           // STATS only, in a group
    size_t queued;                // exported gauge (size_t is uint64_t here)
    uint64_t seen;                // STATS only, at the top
} s_counts_t;

static const counter_t s_table [] = {
    { "sent", NULL, "test_counters_messages_total", false, "outcome", "sent",
      "Messages by outcome", COUNTER_AT (s_counts_t, sent) },
    { "refused", NULL, "test_counters_messages_total", false, "outcome", "refused",
      "Messages by outcome", COUNTER_AT (s_counts_t, refused) },
    { "malformed", "bad", NULL, false, NULL, NULL, NULL, COUNTER_AT (s_counts_t, malformed) },
    { "queued", NULL, "test_counters_queued", true, NULL, NULL,
      "Messages waiting", COUNTER_AT (s_counts_t, queued) },
    { "seen", NULL, NULL, false, NULL, NULL, NULL, COUNTER_AT (s_counts_t, seen) }
};
#define S_ROWS (sizeof s_table / sizeof s_table [0])

Test (counters, stats_json_has_every_row_in_order_and_groups_nested)
{
    s_counts_t counts = { .sent = 7, .refused = 2, .malformed = 3, .queued = 5, .seen = 12 };
    json_t *stats = json_object ();
    json_object_set_new (stats, "name", json_string ("first"));
    counters_json (s_table, S_ROWS, &counts, stats);
    char *text = json_dumps (stats, JSON_COMPACT);
    cr_assert_str_eq (text, "{\"name\":\"first\",\"sent\":7,\"refused\":2,\"bad\":{\"malformed\":3},"
                            "\"queued\":5,\"seen\":12}");
    free (text);
    json_decref (stats);
}

Test (counters, series_carry_the_same_numbers_under_their_labels)
{
    s_counts_t counts = { .sent = 7, .refused = 2, .malformed = 3, .queued = 5, .seen = 12 };
    metric_t *series [S_ROWS];
    counters_register (s_table, S_ROWS, series, "stage", "score");
    cr_assert_null (series [2], "a row in STATS only has no series");
    cr_assert_null (series [4]);
    counters_publish (s_table, S_ROWS, &counts, series);
    for (size_t i = 0; i < S_ROWS; i++)
        if (series [i])
            cr_assert_eq (metric_value (series [i]), (int64_t) counters_value (&s_table [i], &counts),
                          "row %s", s_table [i].key);
    char *text = metrics_render (metrics_default ());
    cr_assert (strstr (text, "# TYPE test_counters_messages_total counter\n"), "%s", text);
    cr_assert (strstr (text, "test_counters_messages_total{stage=\"score\",outcome=\"sent\"} 7\n"),
               "%s", text);
    cr_assert (strstr (text, "test_counters_messages_total{stage=\"score\",outcome=\"refused\"} 2\n"),
               "%s", text);
    cr_assert (strstr (text, "# TYPE test_counters_queued gauge\n"), "%s", text);
    cr_assert (strstr (text, "test_counters_queued{stage=\"score\"} 5\n"), "%s", text);
    cr_assert_null (strstr (text, "malformed"), "%s", text);
    free (text);
    //  Counts only grow between turns; a gauge may fall.
    counts.sent = 9;
    counts.queued = 1;
    counters_publish (s_table, S_ROWS, &counts, series);
    cr_assert_eq (metric_value (series [0]), 9);
    cr_assert_eq (metric_value (series [3]), 1);
}
