/*  csv: RFC 4180 text with a spreadsheet formula guard; see csv.h. */
#include "csv.h"

#include <stdlib.h>
#include <string.h>

struct _csv_t {
    char *data;                  // the document so far
    size_t size;                 // its length
    size_t room;                 // what data holds
    bool fields;                 // the current record has a field already
    bool failed;                 // memory ran out: csv_take answers NULL
};

csv_t *
csv_new (void)
{
    return (csv_t *) calloc (1, sizeof (csv_t));
}

void
csv_destroy (csv_t **self_p)
{
    csv_t *self = *self_p;
    if (!self)
        return;
    free (self->data);
    free (self);
    *self_p = NULL;
}

static void
s_put (csv_t *self, const char *bytes, size_t length)
{
    if (self->failed)
        return;
    if (self->size + length > self->room) {
        size_t room = self->room ? self->room : 4096;
        while (room < self->size + length)
            room *= 2;
        char *grown = (char *) realloc (self->data, room);
        if (!grown) {
            self->failed = true;
            return;
        }
        self->data = grown;
        self->room = room;
    }
    memcpy (self->data + self->size, bytes, length);
    self->size += length;
}

static void
s_field (csv_t *self, const char *value, bool guard)
{
    if (self->fields)
        s_put (self, ",", 1);
    self->fields = true;
    if (!value || !*value)
        return;
    bool formula = guard && strchr ("=+-@\t\r", value [0]);
    bool quoted = strpbrk (value, ",\"\r\n") != NULL;
    if (quoted)
        s_put (self, "\"", 1);
    if (formula)
        s_put (self, "'", 1);
    for (const char *at = value; *at; ) {
        size_t plain = strcspn (at, "\"");
        s_put (self, at, plain);
        at += plain;
        if (*at == '"') {
            s_put (self, "\"\"", 2);
            at++;
        }
    }
    if (quoted)
        s_put (self, "\"", 1);
}

void
csv_text (csv_t *self, const char *value)
{
    s_field (self, value, true);
}

void
csv_value (csv_t *self, const char *value)
{
    s_field (self, value, false);
}

void
csv_end_record (csv_t *self)
{
    s_put (self, "\r\n", 2);
    self->fields = false;
}

char *
csv_take (csv_t *self, size_t *size)
{
    char *data = self->failed ? NULL : self->data;
    *size = self->failed ? 0 : self->size;
    if (self->failed)
        free (self->data);
    //  An empty document is still a document (malloc (0) may be NULL).
    if (!self->failed && !data)
        data = (char *) calloc (1, 1);
    self->data = NULL;
    self->size = self->room = 0;
    self->fields = self->failed = false;
    return data;
}
