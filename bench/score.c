/*  bench/score: what scoring costs beside normalizing the same report.

    usage: bench_score [FILE] [runs]
           (FILE defaults to the largest capture,
           $DRIFT_SOURCE_DIR/tests/fixtures/terraform/large.plan.json)

    Each run normalizes the document (normalize_document: parse, diff, mask,
    classify) and then scores the canonical report it gave with the built-in
    pack (score_report), timing the two apart; the figures are medians of
    `runs` runs. Printed: both times per report, findings per second and
    drift items per second of scoring, and the ratio score/normalize (the
    target: below 1, scoring costs less than normalizing).
*/
#define _GNU_SOURCE
#include "median.h"
#include "../actors/normalize/normalize.h"
#include "../actors/score/score.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define RUNS_MAX 100

static double
s_now (void)
{
    struct timespec now;
    clock_gettime (CLOCK_MONOTONIC, &now);
    return now.tv_sec + now.tv_nsec / 1e9;
}

static char *
s_read (const char *path, size_t *size)
{
    FILE *file = fopen (path, "rb");
    if (!file)
        return NULL;
    fseek (file, 0, SEEK_END);
    long length = ftell (file);
    fseek (file, 0, SEEK_SET);
    char *text = length >= 0 ? (char *) malloc ((size_t) length + 1) : NULL;
    if (text && fread (text, 1, (size_t) length, file) != (size_t) length) {
        free (text);
        text = NULL;
    }
    fclose (file);
    *size = (size_t) length;
    return text;
}

int
main (int argc, char **argv)
{
    char *fixture = NULL;
    const char *path = argc > 1 ? argv [1] : NULL;
    if (!path) {
        const char *source = getenv ("DRIFT_SOURCE_DIR");
        if (asprintf (&fixture, "%s/tests/fixtures/terraform/large.plan.json",
                      source ? source : ".") < 0)
            return 1;
        path = fixture;
    }
    int runs = argc > 2 ? atoi (argv [2]) : 15;
    if (runs < 1 || runs > RUNS_MAX) {
        fprintf (stderr, "usage: bench_score [FILE] [runs 1..%d]\n", RUNS_MAX);
        return 2;
    }
    size_t size;
    char *text = s_read (path, &size);
    if (!text) {
        fprintf (stderr, "bench_score: cannot read %s\n", path);
        return 2;
    }
    normalize_t *normalize = normalize_new (NULL);
    score_t *score = score_new ();
    if (!normalize || !score)
        return 1;
    double normalize_ms [RUNS_MAX], score_ms [RUNS_MAX];
    size_t findings = 0, items = 0;
    for (int run = 0; run < runs; run++) {
        double start = s_now ();
        Drift__CanonicalReport *report = normalize_document (normalize, "bench", "bench",
                                                            text, size);
        double normalized = s_now ();
        if (!report || report->status != DRIFT__REPORT_STATUS__REPORT_STATUS_OK) {
            fprintf (stderr, "bench_score: %s does not normalize: %s\n", path,
                     report ? report->reason : "out of memory");
            return 1;
        }
        Drift__ScoredReport *scored = score_report (score, report);
        double done = s_now ();
        if (!scored)
            return 1;
        normalize_ms [run] = (normalized - start) * 1e3;
        score_ms [run] = (done - normalized) * 1e3;
        findings = scored->n_findings;
        items = report->n_items;
        score_scored_destroy (&scored);
        drift__canonical_report__free_unpacked (report, NULL);
    }
    double normalize_median = median_of (normalize_ms, runs);
    double score_median = median_of (score_ms, runs);
    printf ("%s: %.2f MB, %zu drift items, %zu findings, median of %d runs\n",
            path, size / 1e6, items, findings, runs);
    printf ("normalize  %8.3f ms per report\n", normalize_median);
    printf ("score      %8.3f ms per report: %.0f findings/s, %.0f items/s\n", score_median,
            score_median > 0 ? findings / (score_median / 1e3) : 0,
            score_median > 0 ? items / (score_median / 1e3) : 0);
    printf ("score/normalize: %.3f (target: below 1)\n",
            normalize_median > 0 ? score_median / normalize_median : 0);
    score_destroy (&score);
    normalize_destroy (&normalize);
    free (text);
    free (fixture);
    return 0;
}
