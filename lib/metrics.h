/*  metrics: a small Prometheus registry every role fills and
    lib/metrics_http serves.

    A series is one metric name with its labels fixed when it is registered
    (drift_stage_messages_total{stage="score",outcome="forwarded"} is one
    series), so updating it is one relaxed atomic operation: no lock, no
    lookup, no allocation on the hot path. Each series has one writer thread;
    the HTTP thread only reads. Registration takes a lock and is idempotent by
    name and labels, so lib code registers where it counts (the default
    registry, metrics_default) without anything being plumbed through.

    Kinds: counters and gauges (64-bit integers), histograms with the fixed
    buckets METRICS_BUCKETS (seconds), and gauges computed when scraped by a
    callback. Callbacks run in the HTTP thread: they read atomics or do
    their own I/O on their own connections, never touch another thread's
    structures. docs/METRICS.md lists every metric drift exports.
*/
#ifndef METRICS_H_INCLUDED
#define METRICS_H_INCLUDED

#include <stdint.h>

typedef struct _metrics_t metrics_t;
typedef struct _metric_t metric_t;

//  Upper bounds of the histogram buckets, in seconds; +Inf follows them.
#define METRICS_BUCKETS { 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10 }
#define METRICS_BUCKET_COUNT 9

//  A gauge computed at scrape time: 0 with *value set, or -1 to leave the
//  sample out of this scrape (its source could not be read).
typedef int (metrics_fn) (void *arg, double *value);

metrics_t *metrics_new (void);
void metrics_destroy (metrics_t **self_p);

//  The process's registry, made on first use; never destroyed.
metrics_t *metrics_default (void);

//  Register a series, or find the one registered with the same name and
//  labels. The variable arguments are label name, value pairs ending with
//  NULL. help is kept from the first registration of the name. Registering
//  one name as two kinds, or a bad name, is a bug: assert.
metric_t *metrics_counter (metrics_t *self, const char *name, const char *help, ...);
metric_t *metrics_gauge (metrics_t *self, const char *name, const char *help, ...);
metric_t *metrics_histogram (metrics_t *self, const char *name, const char *help, ...);
metric_t *metrics_gauge_fn (metrics_t *self, const char *name, const char *help,
                            metrics_fn *fn, void *arg, ...);

//  Counters: inc or add. Gauges: set or add (a negative amount lowers).
//  metric_set also suits a counter mirrored from a count that only grows,
//  written by the one thread that owns that count.
void metric_inc (metric_t *self);
void metric_add (metric_t *self, int64_t amount);
void metric_set (metric_t *self, int64_t value);
//  Histograms: one observation of so many nanoseconds.
void metric_observe_ns (metric_t *self, int64_t nanoseconds);

//  The value of a counter or gauge, or a histogram's count (for tests).
int64_t metric_value (metric_t *self);

//  Monotonic nanoseconds, for timing what a histogram observes.
int64_t metrics_now_ns (void);

//  Every series in the text exposition format 0.0.4, families in the order
//  they were first registered (caller frees).
char *metrics_render (metrics_t *self);

//  drift_build_info{version,role} 1 and drift_process_start_time_seconds
//  in the default registry; called once by a role as it starts.
void metrics_process (const char *role);

#endif
