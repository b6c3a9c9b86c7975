/*  counters: a role's counters declared once, in a table, from which both
    its STATS JSON and its Prometheus series are made.

    A role keeps its counts as plain uint64_t fields of its own struct,
    written by its one thread. A table row says where a count is (its
    offset), its key in the STATS JSON (and the JSON object it sits in, if
    not the top level), and, when it is exported, its metric name, kind,
    label and help. The STATS answer and the series the role copies its
    counts into at every loop turn are both made from the same rows, so a
    counter cannot be named one way in STATS and be missing or misnamed in
    /metrics (docs/METRICS.md lists the series).

    COUNTER_AT checks at build time that the field is a uint64_t (size_t is
    the same type where drift builds): a row cannot read a field of another
    width.
*/
#ifndef COUNTERS_H_INCLUDED
#define COUNTERS_H_INCLUDED

#include "metrics.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

//  The offset of member, a uint64_t of type; anything else does not compile.
#define COUNTER_AT(type, member) \
    _Generic (((type *) 0)->member, uint64_t: offsetof (type, member))

//  One counter: where it is, and its names.
typedef struct {
    const char *key;              // its key in the STATS JSON
    const char *group;            // the JSON object holding it, e.g. "errors"; NULL: the top
    const char *metric;           // its Prometheus name; NULL: in STATS only
    bool gauge;                   // the metric is a gauge (may fall), else a counter
    const char *label;            // the series' own label name (NULL: none)
    const char *label_value;      // and its value
    const char *help;             // the metric's HELP text
    size_t offset;                // COUNTER_AT of its uint64_t
} counter_t;

//  The count of row in base, the struct the table describes.
uint64_t counters_value (const counter_t *row, const void *base);

//  Add table's count rows, read from base, to object in table order; a row
//  with a group goes into that object of object (made at its first row).
void counters_json (const counter_t *table, size_t count, const void *base, json_t *object);

//  Register a series in the default registry for each row with a metric,
//  into series [row] (NULL for a row without), labelled label=value (if
//  label is not NULL) and then with the row's own label.
void counters_register (const counter_t *table, size_t count, metric_t **series,
                        const char *label, const char *value);

//  Copy each exported count of base into its series (counters_register's).
void counters_publish (const counter_t *table, size_t count, const void *base,
                       metric_t **series);

#endif
