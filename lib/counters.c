/*  counters: a role's counters as STATS JSON and Prometheus series from one
    table; see counters.h.
*/
#include "counters.h"

#include <assert.h>
#include <string.h>

uint64_t
counters_value (const counter_t *row, const void *base)
{
    uint64_t value;
    memcpy (&value, (const char *) base + row->offset, sizeof value);
    return value;
}

void
counters_json (const counter_t *table, size_t count, const void *base, json_t *object)
{
    for (size_t i = 0; i < count; i++) {
        const counter_t *row = &table [i];
        json_t *target = object;
        if (row->group) {
            target = json_object_get (object, row->group);
            if (!target) {
                target = json_object ();
                json_object_set_new (object, row->group, target);
            }
        }
        json_object_set_new (target, row->key,
                             json_integer ((json_int_t) counters_value (row, base)));
    }
}

void
counters_register (const counter_t *table, size_t count, metric_t **series,
                   const char *label, const char *value)
{
    metrics_t *registry = metrics_default ();
    for (size_t i = 0; i < count; i++) {
        const counter_t *row = &table [i];
        series [i] = NULL;
        if (!row->metric)
            continue;
        //  Up to two label pairs, NULL-terminated wherever they end.
        const char *labels [4] = { NULL, NULL, NULL, NULL };
        size_t used = 0;
        if (label) {
            labels [used++] = label;
            labels [used++] = value;
        }
        if (row->label) {
            labels [used++] = row->label;
            labels [used++] = row->label_value;
        }
        series [i] = row->gauge
            ? metrics_gauge (registry, row->metric, row->help,
                             labels [0], labels [1], labels [2], labels [3], NULL)
            : metrics_counter (registry, row->metric, row->help,
                               labels [0], labels [1], labels [2], labels [3], NULL);
        assert (series [i]);
    }
}

void
counters_publish (const counter_t *table, size_t count, const void *base, metric_t **series)
{
    for (size_t i = 0; i < count; i++)
        if (series [i])
            metric_set (series [i], (int64_t) counters_value (&table [i], base));
}
