/*  metrics: the registry and its text rendering. See metrics.h.

    Families and their series are append-only linked lists behind one mutex
    that only registration and rendering take; a series is never freed
    before its registry, so a pointer handed out stays valid and updating it
    needs no lock. Label values are escaped once, when registered, so a
    scrape only copies text.
*/
#include "metrics.h"

#include <assert.h>
#include <ctype.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef enum { KIND_COUNTER, KIND_GAUGE, KIND_HISTOGRAM, KIND_GAUGE_FN } kind_t;

struct _metric_t {
    char *labels;                   // rendered label pairs without braces, "" for none
    _Atomic int64_t value;          // counter or gauge value
    _Atomic uint64_t buckets [METRICS_BUCKET_COUNT + 1]; // histogram: per bucket, not cumulative; last is +Inf
    _Atomic int64_t sum_ns;         // histogram: sum of observations, nanoseconds
    metrics_fn *fn;                 // computed gauge: its callback
    void *arg;                      // and the callback's argument
    metric_t *next;                 // next series of the family
};

typedef struct _family_t family_t;
struct _family_t {
    char *name;                     // metric name
    char *help;                     // HELP text, escaped
    kind_t kind;                    // what its series are
    metric_t *series;               // in registration order
    metric_t *last;                 // where the next series goes
    family_t *next;                 // next family of the registry
};

struct _metrics_t {
    pthread_mutex_t lock;           // guards the lists, not the values
    family_t *families;             // in registration order
    family_t *last;                 // where the next family goes
};

//  Bucket bounds in nanoseconds, the same as METRICS_BUCKETS in seconds.
static const int64_t s_bounds_ns [METRICS_BUCKET_COUNT] = {
    1000000, 5000000, 10000000, 50000000, 100000000, 500000000,
    1000000000, 5000000000, 10000000000
};
static const double s_bounds [METRICS_BUCKET_COUNT] = METRICS_BUCKETS;

metrics_t *
metrics_new (void)
{
    metrics_t *self = (metrics_t *) calloc (1, sizeof *self);
    assert (self);
    pthread_mutex_init (&self->lock, NULL);
    return self;
}

void
metrics_destroy (metrics_t **self_p)
{
    assert (self_p);
    metrics_t *self = *self_p;
    if (!self)
        return;
    family_t *family = self->families;
    while (family) {
        metric_t *series = family->series;
        while (series) {
            metric_t *next = series->next;
            free (series->labels);
            free (series);
            series = next;
        }
        family_t *next = family->next;
        free (family->name);
        free (family->help);
        free (family);
        family = next;
    }
    pthread_mutex_destroy (&self->lock);
    free (self);
    *self_p = NULL;
}

static metrics_t *s_default;
static pthread_once_t s_default_once = PTHREAD_ONCE_INIT;

static void
s_default_new (void)
{
    s_default = metrics_new ();
}

metrics_t *
metrics_default (void)
{
    pthread_once (&s_default_once, s_default_new);
    return s_default;
}

//  --------------------------------------------------------------------------
//  Registration

//  Used only in asserts (a bad name is our own misuse): unused when NDEBUG.
static bool __attribute__ ((unused))
s_valid_name (const char *name, bool label)
{
    if (!name || !*name || isdigit ((unsigned char) *name))
        return false;
    if (label && strncmp (name, "__", 2) == 0)
        return false;
    for (const char *c = name; *c; c++)
        if (!isalnum ((unsigned char) *c) && *c != '_' && (label || *c != ':'))
            return false;
    return true;
}

//  text with `\`, `"` (when quoted) and newlines escaped as the format asks,
//  appended to out.
static void
s_escape (FILE *out, const char *text, bool quoted)
{
    for (const char *c = text; *c; c++) {
        if (*c == '\\')
            fputs ("\\\\", out);
        else
        if (*c == '\n')
            fputs ("\\n", out);
        else
        if (*c == '"' && quoted)
            fputs ("\\\"", out);
        else
            fputc (*c, out);
    }
}

//  The label pairs of args as name="value",... (caller frees).
static char *
s_labels (va_list args)
{
    char *text = NULL;
    size_t size = 0;
    FILE *out = open_memstream (&text, &size);
    assert (out);
    const char *name;
    bool first = true;
    while ((name = va_arg (args, const char *))) {
        const char *value = va_arg (args, const char *);
        assert (s_valid_name (name, true) && value);
        fprintf (out, "%s%s=\"", first ? "" : ",", name);
        s_escape (out, value, true);
        fputc ('"', out);
        first = false;
    }
    fclose (out);
    return text;
}

static metric_t *
s_register (metrics_t *self, kind_t kind, const char *name, const char *help,
            metrics_fn *fn, void *arg, va_list args)
{
    assert (self && s_valid_name (name, false) && help);
    char *labels = s_labels (args);
    pthread_mutex_lock (&self->lock);
    family_t *family = self->families;
    while (family && strcmp (family->name, name))
        family = family->next;
    if (!family) {
        family = (family_t *) calloc (1, sizeof *family);
        assert (family);
        family->name = strdup (name);
        size_t size = 0;
        FILE *out = open_memstream (&family->help, &size);
        s_escape (out, help, false);
        fclose (out);
        family->kind = kind;
        if (self->last)
            self->last->next = family;
        else
            self->families = family;
        self->last = family;
    }
    assert (family->kind == kind);
    metric_t *series = family->series;
    while (series && strcmp (series->labels, labels))
        series = series->next;
    if (series)
        free (labels);
    else {
        series = (metric_t *) calloc (1, sizeof *series);
        assert (series);
        series->labels = labels;
        series->fn = fn;
        series->arg = arg;
        if (family->last)
            family->last->next = series;
        else
            family->series = series;
        family->last = series;
    }
    pthread_mutex_unlock (&self->lock);
    return series;
}

metric_t *
metrics_counter (metrics_t *self, const char *name, const char *help, ...)
{
    va_list args;
    va_start (args, help);
    metric_t *series = s_register (self, KIND_COUNTER, name, help, NULL, NULL, args);
    va_end (args);
    return series;
}

metric_t *
metrics_gauge (metrics_t *self, const char *name, const char *help, ...)
{
    va_list args;
    va_start (args, help);
    metric_t *series = s_register (self, KIND_GAUGE, name, help, NULL, NULL, args);
    va_end (args);
    return series;
}

metric_t *
metrics_histogram (metrics_t *self, const char *name, const char *help, ...)
{
    va_list args;
    va_start (args, help);
    metric_t *series = s_register (self, KIND_HISTOGRAM, name, help, NULL, NULL, args);
    va_end (args);
    return series;
}

metric_t *
metrics_gauge_fn (metrics_t *self, const char *name, const char *help, metrics_fn *fn,
                  void *arg, ...)
{
    assert (fn);
    va_list args;
    va_start (args, arg);
    metric_t *series = s_register (self, KIND_GAUGE_FN, name, help, fn, arg, args);
    va_end (args);
    return series;
}

//  --------------------------------------------------------------------------
//  Updates: relaxed, because each series stands alone and a scrape only
//  needs each number to be one that was true at some moment.

void
metric_inc (metric_t *self)
{
    atomic_fetch_add_explicit (&self->value, 1, memory_order_relaxed);
}

void
metric_add (metric_t *self, int64_t amount)
{
    atomic_fetch_add_explicit (&self->value, amount, memory_order_relaxed);
}

void
metric_set (metric_t *self, int64_t value)
{
    atomic_store_explicit (&self->value, value, memory_order_relaxed);
}

void
metric_observe_ns (metric_t *self, int64_t nanoseconds)
{
    if (nanoseconds < 0)
        nanoseconds = 0;
    int bucket = 0;
    while (bucket < METRICS_BUCKET_COUNT && nanoseconds > s_bounds_ns [bucket])
        bucket++;
    atomic_fetch_add_explicit (&self->sum_ns, nanoseconds, memory_order_relaxed);
    atomic_fetch_add_explicit (&self->buckets [bucket], 1, memory_order_relaxed);
}

int64_t
metric_value (metric_t *self)
{
    int64_t count = 0;
    for (int i = 0; i <= METRICS_BUCKET_COUNT; i++)
        count += (int64_t) atomic_load_explicit (&self->buckets [i], memory_order_relaxed);
    return count ? count : atomic_load_explicit (&self->value, memory_order_relaxed);
}

int64_t
metrics_now_ns (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * 1000000000 + ts.tv_nsec;
}

//  --------------------------------------------------------------------------
//  Rendering

static void
s_double (FILE *out, double value)
{
    if (isnan (value))
        fputs ("NaN", out);
    else
    if (isinf (value))
        fputs (value > 0 ? "+Inf" : "-Inf", out);
    else
        fprintf (out, "%.17g", value);
}

//  name{labels[,extra]} with the braces left out when there are no labels.
static void
s_sample_name (FILE *out, const char *name, const char *suffix, const char *labels,
               const char *extra)
{
    fprintf (out, "%s%s", name, suffix);
    if (*labels || extra)
        fprintf (out, "{%s%s%s}", labels, *labels && extra ? "," : "", extra ? extra : "");
    fputc (' ', out);
}

static void
s_histogram (FILE *out, const family_t *family, metric_t *series)
{
    //  Cumulative, and +Inf is the count: both come from the same reads of
    //  the buckets, so they agree even while observations arrive.
    uint64_t cumulative = 0;
    for (int i = 0; i <= METRICS_BUCKET_COUNT; i++) {
        cumulative += atomic_load_explicit (&series->buckets [i], memory_order_relaxed);
        char le [40];
        if (i < METRICS_BUCKET_COUNT)
            snprintf (le, sizeof le, "le=\"%g\"", s_bounds [i]);
        else
            snprintf (le, sizeof le, "le=\"+Inf\"");
        s_sample_name (out, family->name, "_bucket", series->labels, le);
        fprintf (out, "%llu\n", (unsigned long long) cumulative);
    }
    int64_t sum_ns = atomic_load_explicit (&series->sum_ns, memory_order_relaxed);
    s_sample_name (out, family->name, "_sum", series->labels, NULL);
    s_double (out, (double) sum_ns / 1e9);
    fputc ('\n', out);
    s_sample_name (out, family->name, "_count", series->labels, NULL);
    fprintf (out, "%llu\n", (unsigned long long) cumulative);
}

char *
metrics_render (metrics_t *self)
{
    static const char *types [] = { "counter", "gauge", "histogram", "gauge" };
    char *text = NULL;
    size_t size = 0;
    FILE *out = open_memstream (&text, &size);
    assert (out);
    pthread_mutex_lock (&self->lock);
    for (family_t *family = self->families; family; family = family->next) {
        fprintf (out, "# HELP %s %s\n# TYPE %s %s\n", family->name, family->help,
                 family->name, types [family->kind]);
        for (metric_t *series = family->series; series; series = series->next) {
            if (family->kind == KIND_HISTOGRAM)
                s_histogram (out, family, series);
            else
            if (family->kind == KIND_GAUGE_FN) {
                double value;
                if (series->fn (series->arg, &value) == 0) {
                    s_sample_name (out, family->name, "", series->labels, NULL);
                    s_double (out, value);
                    fputc ('\n', out);
                }
            }
            else {
                s_sample_name (out, family->name, "", series->labels, NULL);
                fprintf (out, "%lld\n", (long long) atomic_load_explicit (
                                            &series->value, memory_order_relaxed));
            }
        }
    }
    pthread_mutex_unlock (&self->lock);
    fclose (out);
    return text;
}

void
metrics_process (const char *role)
{
#ifndef DRIFT_VERSION
#define DRIFT_VERSION "unknown"
#endif
    metrics_t *registry = metrics_default ();
    metric_set (metrics_gauge (registry, "drift_build_info",
                               "Always 1; the version of drift and the role this process runs",
                               "version", DRIFT_VERSION, "role", role, NULL), 1);
    metric_set (metrics_gauge (registry, "drift_process_start_time_seconds",
                               "When this process started, seconds since the Unix epoch", NULL),
                (int64_t) time (NULL));
}
