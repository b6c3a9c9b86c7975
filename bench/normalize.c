/*  bench/normalize: how fast normalize turns a plan into the canonical
    report, end to end (parse, diff, mask, classify, encode the protobuf),
    and how much memory it takes, beside its parser alone (jdoc), jansson
    (the other JSON library linked here), yajl tokenizing alone (jdoc's
    ceiling) and jq, all on the same file in the same run.

    usage: bench_normalize FILE [runs]
           bench_normalize --generate MB [runs]   (a plan-shaped document of
                                               MB megabytes from plangen,
                                               written to $TMPDIR so jq reads
                                               it too)

    Printed: MB/s as the median of `runs` parses of the whole file held in
    memory (parse only; freeing the document is timed apart), and the peak
    memory one parse adds, as a ratio to the input size. Memory is measured
    in a fresh process (this executable again, with --memory) that reads the
    file, notes its peak resident memory (VmHWM), parses and notes it again,
    so nothing from the timed runs is counted. jq runs `[.resource_drift[] | {address, actions:
    .change.actions}]` on the file, process start and output included, as the
    reference the whole normalize stage is measured against (target: 3x).
*/
#include "median.h"
#include "plangen.h"
#include "../lib/jdoc.h"
#include "../actors/normalize/normalize.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <yajl/yajl_parse.h>

#define RUNS_MAX 100

static char *
s_read (const char *path, size_t *size)
{
    FILE *file = fopen (path, "rb");
    if (!file)
        return NULL;
    fseek (file, 0, SEEK_END);
    long length = ftell (file);
    rewind (file);
    char *text = (char *) malloc (length > 0 ? (size_t) length : 1);
    if (text && fread (text, 1, (size_t) length, file) != (size_t) length) {
        free (text);
        text = NULL;
    }
    fclose (file);
    *size = (size_t) length;
    return text;
}

static double
s_now (void)
{
    struct timespec now;
    clock_gettime (CLOCK_MONOTONIC, &now);
    return now.tv_sec + now.tv_nsec / 1e9;
}

//  This process's peak resident memory in KiB. VmHWM belongs to the
//  address space, which exec replaces (getrusage's ru_maxrss would carry
//  over the peak of the process that forked us).
static long
s_peak_kb (void)
{
    FILE *status = fopen ("/proc/self/status", "r");
    char line [256];
    long peak = -1;
    while (status && fgets (line, sizeof line, status))
        if (strncmp (line, "VmHWM:", 6) == 0)
            peak = atol (line + 6);
    if (status)
        fclose (status);
    return peak;
}

//  --------------------------------------------------------------------------
//  The parsers, each returning 0 when the document parsed

static void *
s_jdoc_parse (const char *text, size_t size)
{
    jdoc_error_t error;
    jdoc_t *doc = jdoc_parse (text, size, NULL, &error);
    if (!doc)
        fprintf (stderr, "jdoc: %s at line %d, column %d\n", error.message, error.line,
                 error.column);
    return doc;
}

static void
s_jdoc_free (void *doc)
{
    jdoc_t *self = (jdoc_t *) doc;
    jdoc_destroy (&self);
}

static void *
s_jansson_parse (const char *text, size_t size)
{
    json_error_t error;
    json_t *json = json_loadb (text, size, JSON_DECODE_ANY, &error);
    if (!json)
        fprintf (stderr, "jansson: %s at line %d\n", error.text, error.line);
    return json;
}

static void
s_jansson_free (void *json)
{
    json_decref ((json_t *) json);
}

static int
s_yajl_token (void *ctx)
{
    (void) ctx;
    return 1;
}

static int
s_yajl_boolean (void *ctx, int boolean)
{
    (void) ctx, (void) boolean;
    return 1;
}

static int
s_yajl_text (void *ctx, const char *text, size_t length)
{
    (void) ctx, (void) text, (void) length;
    return 1;
}

static int
s_yajl_string (void *ctx, const unsigned char *text, size_t length)
{
    (void) ctx, (void) text, (void) length;
    return 1;
}

//  yajl with callbacks that do nothing: what jdoc's parse costs at least.
static void *
s_yajl_parse (const char *text, size_t size)
{
    static const yajl_callbacks callbacks = {
        s_yajl_token, s_yajl_boolean, NULL, NULL, s_yajl_text, s_yajl_string,
        s_yajl_token, s_yajl_string, s_yajl_token, s_yajl_token, s_yajl_token
    };
    yajl_handle yajl = yajl_alloc (&callbacks, NULL, NULL);
    int ok = yajl_parse (yajl, (const unsigned char *) text, size) == yajl_status_ok
          && yajl_complete_parse (yajl) == yajl_status_ok;
    yajl_free (yajl);
    return ok ? (void *) text : NULL;
}

static void
s_yajl_free (void *nothing)
{
    (void) nothing;
}

typedef struct {
    const char *name;            // as printed and as given to --memory
    void *(*parse) (const char *text, size_t size); // NULL on failure
    void (*free) (void *document); // frees what parse returned
} parser_t;

//  The whole stage: the document normalized and the canonical report
//  packed, as the pipeline forwards it.
static size_t s_resources;       // drift items and pending changes in the last report

static void *
s_normalize_parse (const char *text, size_t size)
{
    static normalize_t *normalizer;
    if (!normalizer)
        normalizer = normalize_new (NULL);
    Drift__CanonicalReport *report = normalize_document (normalizer, "bench-tenant", "bench",
                                                         text, size);
    if (!report || report->status != DRIFT__REPORT_STATUS__REPORT_STATUS_OK) {
        fprintf (stderr, "normalize: %s\n", report ? report->reason : "out of memory");
        if (report)
            drift__canonical_report__free_unpacked (report, NULL);
        return NULL;
    }
    s_resources = report->n_items + report->n_pending;
    size_t packed_size = drift__canonical_report__get_packed_size (report);
    uint8_t *packed = (uint8_t *) malloc (packed_size);
    drift__canonical_report__pack (report, packed);
    free (packed);
    return report;
}

static void
s_normalize_free (void *report)
{
    drift__canonical_report__free_unpacked ((Drift__CanonicalReport *) report, NULL);
}

static const parser_t s_parsers [] = {
    { "normalize", s_normalize_parse, s_normalize_free },
    { "jdoc", s_jdoc_parse, s_jdoc_free },
    { "jansson", s_jansson_parse, s_jansson_free },
    { "yajl-only", s_yajl_parse, s_yajl_free },
};

//  --------------------------------------------------------------------------
//  Measurements

//  In a fresh process: peak RSS one parse adds, in KiB, printed on stdout.
static int
s_memory_child (const char *name, const char *path)
{
    size_t size;
    char *text = s_read (path, &size);
    if (!text)
        return 1;
    for (size_t index = 0; index < sizeof s_parsers / sizeof *s_parsers; index++) {
        if (strcmp (s_parsers [index].name, name))
            continue;
        long before = s_peak_kb ();
        void *document = s_parsers [index].parse (text, size);
        long after = s_peak_kb ();
        if (!document)
            return 1;
        printf ("%ld\n", after - before);
        s_parsers [index].free (document);
        free (text);
        return 0;
    }
    return 1;
}

static long
s_memory (const char *self, const char *name, const char *path)
{
    int pipes [2];
    if (pipe (pipes))
        return -1;
    pid_t pid = fork ();
    if (pid == 0) {
        dup2 (pipes [1], 1);
        close (pipes [0]);
        execl (self, self, "--memory", name, path, (char *) NULL);
        _exit (127);
    }
    close (pipes [1]);
    char answer [32] = "";
    ssize_t length = read (pipes [0], answer, sizeof answer - 1);
    close (pipes [0]);
    int status;
    waitpid (pid, &status, 0);
    if (length <= 0 || !WIFEXITED (status) || WEXITSTATUS (status))
        return -1;
    return atol (answer);
}

static int
s_time (const parser_t *parser, const char *text, size_t size, int runs, double *parse_mbps,
        double *free_ms)
{
    double rates [RUNS_MAX], frees [RUNS_MAX];
    for (int run = 0; run < runs; run++) {
        double start = s_now ();
        void *document = parser->parse (text, size);
        double parsed = s_now ();
        if (!document)
            return -1;
        parser->free (document);
        rates [run] = size / 1e6 / (parsed - start);
        frees [run] = (s_now () - parsed) * 1e3;
    }
    *parse_mbps = median_of (rates, runs);
    *free_ms = median_of (frees, runs);
    return 0;
}

static double
s_jq (const char *path, size_t size, int runs)
{
    if (system ("jq --version >/dev/null 2>&1"))
        return -1;
    char command [8192];
    snprintf (command, sizeof command,
              "jq '[.resource_drift[] | {address, actions: .change.actions}]' '%s' >/dev/null",
              path);
    double rates [RUNS_MAX];
    for (int run = 0; run < runs; run++) {
        double start = s_now ();
        if (system (command))
            return -1;
        rates [run] = size / 1e6 / (s_now () - start);
    }
    return median_of (rates, runs);
}

int
main (int argc, char **argv)
{
    if (argc == 4 && strcmp (argv [1], "--memory") == 0)
        return s_memory_child (argv [2], argv [3]);
    if (argc < 2 || (strcmp (argv [1], "--generate") == 0 && argc < 3)) {
        fprintf (stderr, "usage: bench_normalize FILE [runs] | bench_normalize --generate MB [runs]\n");
        return 2;
    }
    const char *path = argv [1];
    int runs_arg = 2;
    char generated [4096];
    if (strcmp (argv [1], "--generate") == 0) {
        size_t megabytes = (size_t) atol (argv [2]);
        size_t size;
        char *text = plangen_generate (megabytes * 1000000, &size);
        const char *directory = getenv ("TMPDIR") ? getenv ("TMPDIR") : "/tmp";
        snprintf (generated, sizeof generated, "%s/bench_normalize-%zuMB.json", directory, megabytes);
        FILE *file = fopen (generated, "wb");
        if (!text || !file || fwrite (text, 1, size, file) != size || fclose (file)) {
            fprintf (stderr, "bench_normalize: cannot write %s\n", generated);
            return 1;
        }
        free (text);
        path = generated;
        runs_arg = 3;
    }
    int runs = argc > runs_arg ? atoi (argv [runs_arg]) : 7;
    if (runs < 1 || runs > RUNS_MAX)
        runs = 7;
    size_t size;
    char *text = s_read (path, &size);
    if (!text) {
        fprintf (stderr, "bench_normalize: cannot read %s\n", path);
        return 1;
    }
    printf ("%s: %.2f MB, median of %d runs\n", path, size / 1e6, runs);
    double normalize_mbps = 0;
    printf ("%-10s %10s %10s %12s\n", "parser", "MB/s", "free ms", "peak memory");
    for (size_t index = 0; index < sizeof s_parsers / sizeof *s_parsers; index++) {
        const parser_t *parser = &s_parsers [index];
        double mbps, free_ms;
        if (s_time (parser, text, size, runs, &mbps, &free_ms)) {
            fprintf (stderr, "bench_normalize: %s could not parse %s\n", parser->name, path);
            return 1;
        }
        long kb = s_memory ("/proc/self/exe", parser->name, path);
        printf ("%-10s %10.1f %10.2f %8.1f MB = %.2fx input", parser->name, mbps, free_ms,
                kb * 1024 / 1e6, kb * 1024.0 / size);
        if (index == 0) {
            normalize_mbps = mbps;
            printf ("   %.0f resources/s (%zu drifted per document)",
                    mbps * 1e6 / size * s_resources, s_resources);
        }
        printf ("\n");
    }
    double jq = s_jq (path, size, runs);
    if (jq > 0) {
        printf ("%-10s %10.1f   (jq '[.resource_drift[] | {address, actions: .change.actions}]',"
                " whole process)\n", "jq", jq);
        printf ("normalize end to end: %.1fx jq\n", normalize_mbps / jq);
    }
    free (text);
    return 0;
}
