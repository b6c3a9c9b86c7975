/*  element: port ranges of a block element from a drift item's changes;
    see element.h for where each value comes from and why.
*/
#define _GNU_SOURCE
#include "element.h"
#include "../../lib/jdoc.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

//  Values are small (one attribute's JSON); deeper than this is not a
//  block element we read.
#define S_MAX_DEPTH 32

void
element_prefix (const char *path, char *prefix, size_t size)
{
    const char *c = path;
    while (isalnum ((unsigned char) *c) || *c == '_' || *c == '-')
        c++;
    if (c == path || *c != '[' || !isdigit ((unsigned char) c [1])) {
        snprintf (prefix, size, "%s", "");
        return;
    }
    c++;
    while (isdigit ((unsigned char) *c))
        c++;
    if (*c != ']') {
        snprintf (prefix, size, "%s", "");
        return;
    }
    snprintf (prefix, size, "%.*s", (int) (c + 1 - path), path);
}

static jdoc_t *
s_parse (const char *json)
{
    if (!json || !*json)
        return NULL;
    jdoc_limits_t limits = { S_MAX_DEPTH, 0 };
    jdoc_error_t error;
    return jdoc_parse (json, strlen (json), &limits, &error);
}

//  The value at a relative path ("cidr_blocks[0]", "from_port") inside
//  value, or NULL; quoted keys (["a.b"]) are not followed.
static const jdoc_value_t *
s_walk (const jdoc_value_t *value, const char *path)
{
    const char *c = path;
    while (*c && value) {
        if (*c == '.')
            c++;
        if (*c == '[') {
            char *end = NULL;
            long index = strtol (c + 1, &end, 10);
            if (end == c + 1 || *end != ']' || index < 0)
                return NULL;
            value = jdoc_at (value, (size_t) index);
            c = end + 1;
            continue;
        }
        const char *start = c;
        while (*c && *c != '.' && *c != '[')
            c++;
        if (c == start)
            return NULL;
        value = jdoc_getn (value, start, (size_t) (c - start));
    }
    return value;
}

//  A field's new value: *document is set to what the caller destroys.
static const jdoc_value_t *
s_field (const Drift__DriftItem *item, const char *prefix, const char *name, jdoc_t **document)
{
    *document = NULL;
    char path [512];
    snprintf (path, sizeof path, "%s%s%s", prefix, *prefix ? "." : "", name);
    for (size_t i = 0; i < item->n_changes; i++) {
        const Drift__AttributeChange *change = item->changes [i];
        if (strcmp (change->path, path) == 0 && change->op != DRIFT__CHANGE_OP__CHANGE_OP_REMOVED) {
            *document = s_parse (change->after);
            return *document ? jdoc_root (*document) : NULL;
        }
    }
    if (!*prefix)
        return NULL;
    for (size_t i = 0; i < item->n_changes; i++) {
        const Drift__AttributeChange *change = item->changes [i];
        if (strcmp (change->path, prefix) == 0 && change->op != DRIFT__CHANGE_OP__CHANGE_OP_REMOVED) {
            *document = s_parse (change->after);
            const jdoc_value_t *value = *document ? jdoc_get (jdoc_root (*document), name) : NULL;
            if (!value)
                jdoc_destroy (document);
            return value;
        }
    }
    //  A shifted set: the added element equal to this one's old values.
    size_t block = strcspn (prefix, "[");
    size_t prefix_length = strlen (prefix);
    for (size_t a = 0; a < item->n_changes; a++) {
        const Drift__AttributeChange *added = item->changes [a];
        char other [512];
        element_prefix (added->path, other, sizeof other);
        if (added->op != DRIFT__CHANGE_OP__CHANGE_OP_ADDED || strcmp (other, added->path) != 0
        ||  strncmp (other, prefix, block + 1) != 0 || strcmp (other, prefix) == 0)
            continue;
        jdoc_t *candidate = s_parse (added->after);
        if (!candidate)
            continue;
        const jdoc_value_t *root = jdoc_root (candidate);
        size_t compared = 0;
        bool same = jdoc_type (root) == JDOC_OBJECT;
        for (size_t i = 0; same && i < item->n_changes; i++) {
            const Drift__AttributeChange *change = item->changes [i];
            if (strncmp (change->path, prefix, prefix_length) != 0
            ||  change->path [prefix_length] != '.')
                continue;
            const jdoc_value_t *old = s_walk (root, change->path + prefix_length + 1);
            char *text = old ? jdoc_dump (old, NULL) : NULL;
            same = text && strcmp (text, change->before) == 0;
            free (text);
            compared++;
        }
        const jdoc_value_t *value = same && compared ? jdoc_get (root, name) : NULL;
        if (value) {
            *document = candidate;
            return value;
        }
        jdoc_destroy (&candidate);
    }
    return NULL;
}

static void
s_add (element_ports_t *ports, const predicates_ports_t *range)
{
    if (ports->size < ELEMENT_MAX_RANGES)
        ports->ranges [ports->size++] = *range;
}

//  Ranges written as strings: "22", "20-30", "*", or a list of them.
static void
s_add_text (element_ports_t *ports, const jdoc_value_t *value)
{
    predicates_ports_t range;
    if (jdoc_type (value) == JDOC_ARRAY) {
        for (size_t i = 0; i < jdoc_size (value); i++)
            s_add_text (ports, jdoc_at (value, i));
        return;
    }
    const char *text = jdoc_string (value, NULL);
    if (text && predicates_ports_parse (text, &range) == 0)
        s_add (ports, &range);
}

//  The ranges of one element (prefix "" for the resource itself).
static void
s_element (const Drift__DriftItem *item, const char *prefix, element_ports_t *ports)
{
    jdoc_t *from_doc, *to_doc, *protocol_doc;
    const jdoc_value_t *from = s_field (item, prefix, "from_port", &from_doc);
    const jdoc_value_t *to = s_field (item, prefix, "to_port", &to_doc);
    const jdoc_value_t *protocol = s_field (item, prefix, "protocol", &protocol_doc);
    if (!protocol) {
        jdoc_destroy (&protocol_doc);
        protocol = s_field (item, prefix, "ip_protocol", &protocol_doc);
    }
    const char *protocol_text = jdoc_string (protocol, NULL);
    int64_t from_port, to_port;
    predicates_ports_t range;
    if (jdoc_int64 (from, &from_port) && jdoc_int64 (to, &to_port)) {
        if (predicates_ports_from_to (from_port, to_port, protocol_text, &range) == 0)
            s_add (ports, &range);
    }
    else
    if (protocol_text && predicates_ports_from_to (0, 0, protocol_text, &range) == 0
    &&  range.all)
        s_add (ports, &range);
    jdoc_destroy (&from_doc);
    jdoc_destroy (&to_doc);
    jdoc_destroy (&protocol_doc);
    static const char *const s_range_fields [] = {
        "destination_port_range", "destination_port_ranges", "port_range", "ports"
    };
    for (size_t f = 0; f < sizeof s_range_fields / sizeof s_range_fields [0]; f++) {
        jdoc_t *document;
        const jdoc_value_t *value = s_field (item, prefix, s_range_fields [f], &document);
        s_add_text (ports, value);
        jdoc_destroy (&document);
    }
}

void
element_ports (const Drift__DriftItem *item, size_t change, element_ports_t *ports)
{
    memset (ports, 0, sizeof *ports);
    if (!item || change >= item->n_changes)
        return;
    char prefix [512];
    element_prefix (item->changes [change]->path, prefix, sizeof prefix);
    s_element (item, prefix, ports);
    if (ports->size || *prefix)
        return;
    //  A resource-level change (GCP source_ranges): its ports are in its
    //  allow blocks, when they changed too.
    char seen [512] = "";
    for (size_t i = 0; i < item->n_changes; i++) {
        char other [512];
        element_prefix (item->changes [i]->path, other, sizeof other);
        if (strncmp (other, "allow[", 6) != 0 || strcmp (other, seen) == 0)
            continue;
        snprintf (seen, sizeof seen, "%s", other);
        s_element (item, other, ports);
    }
}

void
element_ports_text (const element_ports_t *ports, char *text, size_t size)
{
    if (!size)
        return;
    *text = 0;
    if (!ports->size) {
        snprintf (text, size, "unknown ports");
        return;
    }
    bool one = ports->size == 1 && ports->ranges [0].from == ports->ranges [0].to;
    int written = ports->ranges [0].all ? 0 : snprintf (text, size, one ? "port " : "ports ");
    size_t used = written > 0 ? (size_t) written : 0;
    for (size_t i = 0; i < ports->size && used < size; i++) {
        const predicates_ports_t *range = &ports->ranges [i];
        const char *separator = i ? ", " : "";
        if (range->all)
            written = snprintf (text + used, size - used, "%sall ports", separator);
        else
        if (range->from == range->to)
            written = snprintf (text + used, size - used, "%s%d", separator, range->from);
        else
            written = snprintf (text + used, size - used, "%s%d-%d", separator,
                                range->from, range->to);
        if (written < 0)
            break;
        used += (size_t) written;
    }
}
