/*  textbuf: a growable byte buffer for building text (paths, JSON) in
    normalize's hot loops.

    A plan has tens of thousands of values to walk; zchunk asserts when it
    cannot grow and sizes by hand, so normalize builds its text here: append,
    truncate back to a mark (a path walk pops a segment that way), detach the
    result. Running out of memory is remembered, not asserted: every append
    after it does nothing and textbuf_detach answers NULL, so the caller
    checks once at the end.
*/
#ifndef TEXTBUF_H_INCLUDED
#define TEXTBUF_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>

typedef struct {
    char *data;              // the bytes, NUL-terminated when not failed
    size_t size;             // bytes used, without the NUL
    size_t capacity;         // bytes allocated
    bool failed;             // memory ran out: the text is incomplete
} textbuf_t;

#define TEXTBUF_INIT { NULL, 0, 0, false }

//  Append size bytes, one character, or a NUL-terminated string.
void textbuf_add (textbuf_t *self, const void *bytes, size_t size);
void textbuf_addc (textbuf_t *self, char c);
void textbuf_adds (textbuf_t *self, const char *text);

//  Append bytes as a JSON string: quotes, `"` and `\` escaped, control
//  characters as \b \f \n \r \t or \u00XX, everything else as it is.
void textbuf_add_json_string (textbuf_t *self, const char *bytes, size_t size);

//  Cut the text back to size bytes (a mark taken earlier from self->size).
void textbuf_truncate (textbuf_t *self, size_t size);

//  The text (NUL-terminated; the caller frees it), leaving self empty; NULL
//  if memory ran out at any point.
char *textbuf_detach (textbuf_t *self);

//  Free the buffer and start over empty.
void textbuf_reset (textbuf_t *self);

#endif
