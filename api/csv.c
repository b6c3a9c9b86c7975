/*  csv: RFC 4180 text with a spreadsheet formula guard; see csv.h. The
    document grows in a memory stream (open_memstream, POSIX 2008): the C
    library keeps the buffer, and a failed write is the stream's error.
*/
#define _GNU_SOURCE             // open_memstream
#include "csv.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct _csv_t {
    FILE *stream;                // writes into data
    char *data;                  // the document, owned by the stream until closed
    size_t size;                 // its length, as of the last flush
    bool fields;                 // the current record has a field already
};

csv_t *
csv_new (void)
{
    csv_t *self = (csv_t *) calloc (1, sizeof (csv_t));
    if (self)
        self->stream = open_memstream (&self->data, &self->size);
    if (self && !self->stream) {
        free (self);
        return NULL;
    }
    return self;
}

void
csv_destroy (csv_t **self_p)
{
    csv_t *self = *self_p;
    if (!self)
        return;
    if (self->stream)
        fclose (self->stream);
    free (self->data);
    free (self);
    *self_p = NULL;
}

static void
s_field (csv_t *self, const char *value, bool guard)
{
    if (self->fields)
        fputc (',', self->stream);
    self->fields = true;
    if (!value || !*value)
        return;
    bool quoted = strpbrk (value, ",\"\r\n") != NULL;
    if (quoted)
        fputc ('"', self->stream);
    if (guard && strchr ("=+-@\t\r", value [0]))
        fputc ('\'', self->stream);
    for (const char *at = value; *at; at++) {
        if (*at == '"')
            fputc ('"', self->stream);
        fputc (*at, self->stream);
    }
    if (quoted)
        fputc ('"', self->stream);
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
    fputs ("\r\n", self->stream);
    self->fields = false;
}

char *
csv_take (csv_t *self, size_t *size)
{
    bool failed = !self->stream || ferror (self->stream);
    if (self->stream && fclose (self->stream))
        failed = true;
    self->stream = NULL;
    char *data = self->data;
    *size = failed ? 0 : self->size;
    self->data = NULL;
    self->size = 0;
    self->fields = false;
    if (failed) {
        free (data);
        return NULL;
    }
    return data;
}
