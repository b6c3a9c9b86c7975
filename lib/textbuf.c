/*  textbuf: a growable byte buffer; see textbuf.h. */
#include "textbuf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

//  Room for more bytes and the NUL, growing by doubling; false when memory
//  ran out (now or before).
static bool
s_reserve (textbuf_t *self, size_t more)
{
    if (self->failed)
        return false;
    if (self->size + more + 1 <= self->capacity)
        return true;
    size_t capacity = self->capacity ? self->capacity : 64;
    while (capacity < self->size + more + 1) {
        if (capacity > ((size_t) -1) / 2) {
            self->failed = true;
            return false;
        }
        capacity *= 2;
    }
    char *data = (char *) realloc (self->data, capacity);
    if (!data) {
        self->failed = true;
        return false;
    }
    self->data = data;
    self->capacity = capacity;
    return true;
}

void
textbuf_add (textbuf_t *self, const void *bytes, size_t size)
{
    if (!s_reserve (self, size))
        return;
    if (size)
        memcpy (self->data + self->size, bytes, size);
    self->size += size;
    self->data [self->size] = 0;
}

void
textbuf_addc (textbuf_t *self, char c)
{
    if (!s_reserve (self, 1))
        return;
    self->data [self->size++] = c;
    self->data [self->size] = 0;
}

void
textbuf_adds (textbuf_t *self, const char *text)
{
    textbuf_add (self, text, strlen (text));
}

void
textbuf_add_json_string (textbuf_t *self, const char *bytes, size_t size)
{
    //  Worst case every byte becomes \u00XX: reserve once for the whole string.
    if (size > ((size_t) -1) / 8 || !s_reserve (self, size * 6 + 2)) {
        self->failed = true;
        return;
    }
    char *out = self->data + self->size;
    *out++ = '"';
    for (size_t index = 0; index < size; index++) {
        unsigned char c = (unsigned char) bytes [index];
        if (c == '"' || c == '\\') {
            *out++ = '\\';
            *out++ = (char) c;
        }
        else
        if (c < 0x20) {
            *out++ = '\\';
            switch (c) {
                case '\b': *out++ = 'b'; break;
                case '\f': *out++ = 'f'; break;
                case '\n': *out++ = 'n'; break;
                case '\r': *out++ = 'r'; break;
                case '\t': *out++ = 't'; break;
                default:
                    snprintf (out, 6, "u%04x", c);
                    out += 5;
            }
        }
        else
            *out++ = (char) c;
    }
    *out++ = '"';
    self->size = (size_t) (out - self->data);
    self->data [self->size] = 0;
}

void
textbuf_truncate (textbuf_t *self, size_t size)
{
    if (self->failed || size >= self->size)
        return;
    self->size = size;
    self->data [size] = 0;
}

char *
textbuf_detach (textbuf_t *self)
{
    if (!self->failed && !self->data && s_reserve (self, 0))
        self->data [0] = 0;
    char *text = self->failed ? NULL : self->data;
    if (self->failed)
        free (self->data);
    self->data = NULL;
    self->size = self->capacity = 0;
    self->failed = false;
    return text;
}

void
textbuf_reset (textbuf_t *self)
{
    free (self->data);
    self->data = NULL;
    self->size = self->capacity = 0;
    self->failed = false;
}
