/*  jdoc: a parsed JSON document, read-only, built for normalize; see jdoc.h.

    yajl 2.1 tokenizes: it checks the grammar and hands over strings
    (unescaped) and numbers (as their text). jdoc builds the tree from its
    callbacks. The values of every open container wait on one shared stack;
    when a container closes they are copied, contiguous, into an arena of
    large chunks that also holds every string and number text, so a document
    is a handful of allocations freed at once and reading an element is an
    index. An object is an array of key, value, key, value...; one with many
    members also gets a sorted index at close, so lookups stay fast.

    yajl 2.1 lets through some text that is not JSON, and jdoc refuses it
    itself: UTF-8 that has the right shape but is not valid (overlong forms,
    encoded surrogates, code points past U+10FFFF), \u escapes of lone
    surrogate halves (yajl turns them into '?' or into invalid UTF-8), and
    vertical tab or form feed between tokens (white space to yajl, not to
    JSON). yajl's parser has no depth limit of its own: max_depth is checked
    here as each container opens, and capped at JDOC_MAX_DEPTH_LIMIT because
    jdoc_equal and jdoc_dump recurse once per level.
*/
#define _GNU_SOURCE                 // qsort_r
#include "jdoc.h"

#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <yajl/yajl_parse.h>

//  Objects with more members than this get a sorted index when they close:
//  below it a scan of the keys is as fast as a binary search.
#define INDEX_MIN 16

//  Arena chunks: the first is sized from the input, each next one twice the
//  last up to this size; a request larger than that gets a chunk of its own.
#define CHUNK_MAX ((size_t) 64 << 20)
//  Chunks from this size on ask for transparent huge pages: a large plan
//  writes tens of MB of fresh memory, and faulting it in 4 KiB pages took
//  a quarter of the parse time here (20 MB plan: 0.6 s of 2.2 s in the
//  kernel for 20 parses, 0.25 s with huge pages).
#define CHUNK_HUGE ((size_t) 4 << 20)

struct _jdoc_value_t {
    uint32_t type;               // a jdoc_type_t
    uint32_t size;               // string or number: bytes; array: elements; object: members
    union {
        const char *text;        // string bytes or number text, NUL-terminated, in the arena
        const jdoc_value_t *items; // array: elements; object: key, value, ... then the index if any
    };
};

typedef struct _chunk_t chunk_t;
struct _chunk_t {
    chunk_t *next;               // the chunk allocated before this one
};

struct _jdoc_t {
    jdoc_value_t root;           // the top-level value
    chunk_t *chunks;             // the arena, newest chunk first; the bytes follow each header
};

//  The state of one parse, shared by the yajl callbacks.
typedef struct {
    jdoc_t *doc;                 // the document being built (owns the arena)
    char *at;                    // next free byte of the newest chunk
    char *end;                   // end of the newest chunk
    size_t next_chunk;           // size of the next chunk
    jdoc_value_t *stack;         // values of the open containers, innermost last
    size_t stack_used;           // values on the stack
    size_t stack_size;           // values the stack has room for
    size_t frames [JDOC_MAX_DEPTH_LIMIT]; // where each open container's values begin on the stack
    int depth;                   // containers open
    int max_depth;               // deeper nesting is refused
    const char *text;            // the input: strings inside it are raw, others were unescaped
    size_t size;                 // bytes of input
    yajl_handle yajl;            // the tokenizer, asked for its offset in callbacks
    bool finishing;              // in yajl_complete_parse: yajl's offsets are not into text
    size_t root_end;             // offset just after the top-level value, once it is complete
    bool root_read;              // the top-level value was complete before the input's end
    bool failed;                 // a callback refused the document: message and offset below
    char message [sizeof ((jdoc_error_t *) 0)->message]; // why
    size_t offset;               // where
} parser_t;

//  --------------------------------------------------------------------------
//  UTF-8 and escapes: what yajl does not check

//  Offset of the first byte of the first invalid UTF-8 sequence in bytes,
//  or length when all of it is valid (RFC 3629: shortest form only, no
//  surrogates, nothing past U+10FFFF).
static size_t
s_utf8_invalid (const unsigned char *bytes, size_t length)
{
    size_t at = 0;
    while (at < length) {
        //  Plans are mostly ASCII: skip it a word at a time.
        uint64_t word;
        while (at + 8 <= length) {
            memcpy (&word, bytes + at, 8);
            if (word & 0x8080808080808080ull)
                break;
            at += 8;
        }
        if (at == length)
            break;
        unsigned char lead = bytes [at];
        if (lead < 0x80) {
            at++;
            continue;
        }
        if (lead < 0xC2 || lead > 0xF4)
            return at;           // continuation byte, C0 and C1 (always overlong), F5..FF
        size_t follow = lead >= 0xF0 ? 3 : lead >= 0xE0 ? 2 : 1;
        uint32_t point = lead & (0x7F >> (follow + 1));
        uint32_t least = follow == 1 ? 0x80 : follow == 2 ? 0x800 : 0x10000;
        if (length - at <= follow)
            return at;
        for (size_t index = 1; index <= follow; index++) {
            unsigned char next = bytes [at + index];
            if ((next & 0xC0) != 0x80)
                return at;
            point = (point << 6) | (next & 0x3F);
        }
        if (point < least || point > 0x10FFFF || (point >= 0xD800 && point <= 0xDFFF))
            return at;
        at += follow + 1;
    }
    return length;
}

static unsigned
s_hex4 (const char *hex)
{
    unsigned value = 0;
    for (int index = 0; index < 4; index++) {
        char digit = hex [index];
        value = value * 16 + (unsigned) (digit <= '9' ? digit - '0' : (digit | 0x20) - 'a' + 10);
    }
    return value;
}

//  Offset of the opening quote of the string that ends with the quote at
//  close: the nearest quote before it that an even number of backslashes
//  precedes (inside a string every quote is escaped).
static size_t
s_string_start (const char *text, size_t close)
{
    size_t open = close;
    while (open > 0) {
        open--;
        if (text [open] != '"')
            continue;
        size_t slashes = 0;
        while (slashes < open && text [open - 1 - slashes] == '\\')
            slashes++;
        if (slashes % 2 == 0)
            break;
    }
    return open;
}

//  --------------------------------------------------------------------------
//  Building the tree

static int
s_fail (parser_t *self, size_t offset, const char *format, ...)
{
    if (!self->failed) {
        va_list args;
        va_start (args, format);
        vsnprintf (self->message, sizeof self->message, format, args);
        va_end (args);
        self->offset = offset;
        self->failed = true;
    }
    return -1;
}

static int
s_out_of_memory (parser_t *self)
{
    return s_fail (self, yajl_get_bytes_consumed (self->yajl),
                   "out of memory (document of %zu bytes)", self->size);
}

//  size bytes of the arena, aligned to align (a power of two); NULL when
//  out of memory.
static void *
s_alloc (parser_t *self, size_t size, size_t align)
{
    uintptr_t at = ((uintptr_t) self->at + align - 1) & ~(uintptr_t) (align - 1);
    if (at > (uintptr_t) self->end || (uintptr_t) self->end - at < size) {
        size_t chunk_size = size + align > self->next_chunk ? size + align : self->next_chunk;
        chunk_t *chunk = (chunk_t *) malloc (sizeof (chunk_t) + chunk_size);
        if (!chunk)
            return NULL;
        if (chunk_size >= CHUNK_HUGE) {
            uintptr_t page = (uintptr_t) sysconf (_SC_PAGESIZE);
            uintptr_t from = ((uintptr_t) chunk + page - 1) & ~(page - 1);
            uintptr_t to = ((uintptr_t) (chunk + 1) + chunk_size) & ~(page - 1);
            madvise ((void *) from, to - from, MADV_HUGEPAGE);
        }
        chunk->next = self->doc->chunks;
        self->doc->chunks = chunk;
        self->at = (char *) (chunk + 1);
        self->end = self->at + chunk_size;
        self->next_chunk = self->next_chunk < CHUNK_MAX / 2 ? self->next_chunk * 2 : CHUNK_MAX;
        at = ((uintptr_t) self->at + align - 1) & ~(uintptr_t) (align - 1);
    }
    self->at = (char *) at + size;
    return (void *) at;
}

static int
s_push (parser_t *self, jdoc_value_t value)
{
    if (self->stack_used == self->stack_size) {
        size_t size = self->stack_size * 2;
        jdoc_value_t *stack = (jdoc_value_t *) realloc (self->stack, size * sizeof *stack);
        if (!stack)
            return s_out_of_memory (self);
        self->stack = stack;
        self->stack_size = size;
    }
    self->stack [self->stack_used++] = value;
    return 0;
}

//  A value is complete: onto its container's stack, or it is the root.
static int
s_value (parser_t *self, jdoc_value_t value)
{
    if (self->depth == 0 && !self->finishing) {
        self->root_end = yajl_get_bytes_consumed (self->yajl);
        self->root_read = true;
    }
    return s_push (self, value);
}

//  Whether the unescaped string at bytes may hide what yajl's unescaping
//  lets through: lone surrogate escapes come out as '?' or as bytes with the
//  high bit set (a pair as a 4-byte sequence), and raw invalid UTF-8 is
//  copied as it is.
static bool
s_suspect (const unsigned char *bytes, size_t length)
{
    for (size_t index = 0; index < length; index++)
        if (bytes [index] >= 0x80 || bytes [index] == '?')
            return true;
    return false;
}

//  Check the raw text of the escaped string yajl has just unescaped (it
//  ends with the quote just before yajl's offset): valid UTF-8, and every
//  \u escape of a surrogate half is a high one followed by a low one.
static int
s_check_escaped (parser_t *self)
{
    size_t close = yajl_get_bytes_consumed (self->yajl) - 1;
    //  Always so while yajl reads a whole input in one call; should a
    //  yajl change that, documents are refused rather than left unchecked.
    if (self->finishing || close >= self->size || self->text [close] != '"')
        return s_fail (self, close < self->size ? close : self->size,
                       "escaped string could not be checked");
    size_t open = s_string_start (self->text, close);
    const char *raw = self->text + open + 1;
    size_t length = close - open - 1;
    size_t bad_utf8 = s_utf8_invalid ((const unsigned char *) raw, length);
    for (size_t at = 0; at < bad_utf8; at++) {
        if (raw [at] != '\\')
            continue;
        if (raw [at + 1] != 'u') {
            at++;
            continue;
        }
        //  yajl has checked that four hex digits follow every \u.
        unsigned unit = s_hex4 (raw + at + 2);
        if (unit >= 0xD800 && unit <= 0xDBFF && length - at >= 12
        &&  raw [at + 6] == '\\' && raw [at + 7] == 'u') {
            unsigned low = s_hex4 (raw + at + 8);
            if (low >= 0xDC00 && low <= 0xDFFF) {
                at += 11;
                continue;
            }
        }
        if (unit >= 0xD800 && unit <= 0xDFFF)
            return s_fail (self, open + 1 + at,
                           "\\u escape of a lone surrogate half (not a Unicode character)");
        at += 5;
    }
    if (bad_utf8 < length)
        return s_fail (self, open + 1 + bad_utf8, "invalid UTF-8 in string");
    return 0;
}

//  A string value or key: checked, then copied into the arena.
static int
s_string (parser_t *self, const unsigned char *bytes, size_t length, jdoc_value_t *value)
{
    //  Strings without escapes come straight from the input; the others
    //  from yajl's buffer.
    size_t raw_offset = (uintptr_t) bytes - (uintptr_t) self->text;
    if (raw_offset < self->size) {
        size_t bad = s_utf8_invalid (bytes, length);
        if (bad < length)
            return s_fail (self, raw_offset + bad, "invalid UTF-8 in string");
    }
    else
    if (s_suspect (bytes, length) && s_check_escaped (self))
        return -1;
    char *copy = (char *) s_alloc (self, length + 1, 1);
    if (!copy)
        return s_out_of_memory (self);
    memcpy (copy, bytes, length);
    copy [length] = 0;
    *value = (jdoc_value_t) { .type = JDOC_STRING, .size = (uint32_t) length, .text = copy };
    return 0;
}

static int
s_compare_keys (const jdoc_value_t *a, const jdoc_value_t *b)
{
    size_t length = a->size < b->size ? a->size : b->size;
    int order = memcmp (a->text, b->text, length);
    return order ? order : (a->size > b->size) - (a->size < b->size);
}

//  Members by key, then by position: among repeated keys the first comes first.
static int
s_compare_members (const void *a, const void *b, void *items)
{
    uint32_t left = *(const uint32_t *) a, right = *(const uint32_t *) b;
    const jdoc_value_t *keys = (const jdoc_value_t *) items;
    int order = s_compare_keys (&keys [2 * (size_t) left], &keys [2 * (size_t) right]);
    return order ? order : (left > right) - (left < right);
}

//  Fill order with the member positions of an object sorted by key.
static void
s_sort_members (const jdoc_value_t *items, size_t members, uint32_t *order)
{
    bool sorted = true;
    for (size_t index = 0; index < members; index++) {
        order [index] = (uint32_t) index;
        if (index && s_compare_keys (&items [2 * index - 2], &items [2 * index]) > 0)
            sorted = false;
    }
    //  Terraform writes keys sorted, so this is the common case.
    if (sorted)
        return;
    qsort_r (order, members, sizeof *order, s_compare_members, (void *) items);
}

//  The container that opened last is complete: its values move from the
//  stack into the arena.
static int
s_close (parser_t *self, jdoc_type_t type)
{
    size_t start = self->frames [--self->depth];
    size_t count = self->stack_used - start;
    //  max_bytes is at most JDOC_MAX_BYTES_LIMIT, so counts fit 32 bits.
    jdoc_value_t container = {
        .type = type, .size = (uint32_t) (type == JDOC_OBJECT ? count / 2 : count)
    };
    if (count) {
        size_t index_bytes = type == JDOC_OBJECT && container.size > INDEX_MIN
                           ? container.size * sizeof (uint32_t) : 0;
        jdoc_value_t *items = (jdoc_value_t *) s_alloc (
            self, count * sizeof (jdoc_value_t) + index_bytes, sizeof (void *));
        if (!items)
            return s_out_of_memory (self);
        memcpy (items, self->stack + start, count * sizeof *items);
        if (index_bytes)
            s_sort_members (items, container.size, (uint32_t *) (items + count));
        container.items = items;
    }
    self->stack_used = start;
    return s_value (self, container);
}

static int
s_open (parser_t *self)
{
    if (self->depth == self->max_depth)
        return s_fail (self, yajl_get_bytes_consumed (self->yajl) - 1,
                       "nesting deeper than %d", self->max_depth);
    self->frames [self->depth++] = self->stack_used;
    return 0;
}

//  yajl callbacks: 1 to go on, 0 to stop.

static int
s_on_null (void *ctx)
{
    return s_value ((parser_t *) ctx, (jdoc_value_t) { .type = JDOC_NULL }) == 0;
}

static int
s_on_boolean (void *ctx, int boolean)
{
    jdoc_value_t value = { .type = boolean ? JDOC_TRUE : JDOC_FALSE };
    return s_value ((parser_t *) ctx, value) == 0;
}

static int
s_on_number (void *ctx, const char *text, size_t length)
{
    parser_t *self = (parser_t *) ctx;
    char *copy = (char *) s_alloc (self, length + 1, 1);
    if (!copy) {
        s_out_of_memory (self);
        return 0;
    }
    memcpy (copy, text, length);
    copy [length] = 0;
    jdoc_value_t value = { .type = JDOC_NUMBER, .size = (uint32_t) length, .text = copy };
    return s_value (self, value) == 0;
}

static int
s_on_string (void *ctx, const unsigned char *bytes, size_t length)
{
    parser_t *self = (parser_t *) ctx;
    jdoc_value_t value;
    return s_string (self, bytes, length, &value) == 0 && s_value (self, value) == 0;
}

static int
s_on_key (void *ctx, const unsigned char *bytes, size_t length)
{
    parser_t *self = (parser_t *) ctx;
    jdoc_value_t key;
    return s_string (self, bytes, length, &key) == 0 && s_push (self, key) == 0;
}

static int
s_on_open (void *ctx)
{
    return s_open ((parser_t *) ctx) == 0;
}

static int
s_on_end_map (void *ctx)
{
    return s_close ((parser_t *) ctx, JDOC_OBJECT) == 0;
}

static int
s_on_end_array (void *ctx)
{
    return s_close ((parser_t *) ctx, JDOC_ARRAY) == 0;
}

static const yajl_callbacks s_callbacks = {
    .yajl_null = s_on_null,
    .yajl_boolean = s_on_boolean,
    .yajl_number = s_on_number,  // numbers as text: nothing is rounded
    .yajl_string = s_on_string,
    .yajl_start_map = s_on_open,
    .yajl_map_key = s_on_key,
    .yajl_end_map = s_on_end_map,
    .yajl_start_array = s_on_open,
    .yajl_end_array = s_on_end_array
};

//  --------------------------------------------------------------------------
//  Errors

//  Set error's message and where offset is in text (lines and columns are
//  1-based and counted in bytes; they stop at INT_MAX).
static void
s_error (jdoc_error_t *error, const char *text, size_t offset, const char *message)
{
    snprintf (error->message, sizeof error->message, "%s", message);
    error->offset = offset;
    error->line = 1;
    size_t line_start = 0;
    const char *newline;
    while ((newline = (const char *) memchr (text + line_start, '\n', offset - line_start))) {
        line_start = (size_t) (newline - text) + 1;
        if (error->line < INT_MAX)
            error->line++;
    }
    error->column = offset - line_start < INT_MAX ? (int) (offset - line_start) + 1 : INT_MAX;
}

static bool
s_is_space (char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

//  Offset where the token that ends at end began: yajl reports a grammar
//  error after it has read the token that does not fit.
static size_t
s_token_start (const char *text, size_t end)
{
    if (end == 0)
        return 0;
    char last = text [end - 1];
    if (last && strchr ("{}[],:", last))
        return end - 1;
    if (last == '"')
        return s_string_start (text, end - 1);
    //  A number or a literal: back to the white space or punctuation before it.
    size_t start = end;
    while (start > 0 && (isalnum ((unsigned char) text [start - 1])
                     ||  (text [start - 1] && strchr ("+-.", text [start - 1]))))
        start--;
    return start;
}

//  yajl's messages that read better said otherwise, and where the offset
//  of each should point.
typedef enum { AT_STOP, AT_LAST_BYTE, AT_TOKEN, AT_LITERAL, AT_BAD_UTF8, AT_TRAILING } where_t;
typedef struct {
    const char *yajl;            // the start of yajl's message, without "lexical/parse error: "
    const char *message;         // ours, or NULL to keep yajl's
    where_t where;               // how to find the offset
} known_error_t;

static const known_error_t s_known_errors [] = {
    { "invalid bytes in UTF8 string", "invalid UTF-8 in string", AT_BAD_UTF8 },
    { "trailing garbage", "trailing data after the document", AT_TRAILING },
    { "invalid char in json text", "invalid character in JSON text", AT_LAST_BYTE },
    { "invalid string in json text", "invalid literal (JSON has true, false and null)",
      AT_LITERAL },
    { "inside a string, '\\' occurs", "invalid escape in string", AT_LAST_BYTE },
    { "invalid (non-hex) character", "invalid \\u escape in string: four hex digits must follow",
      AT_STOP },
    { "invalid character inside string", "control character in string (it must be escaped)",
      AT_STOP },
    { "probable comment found", "comments are not allowed in JSON", AT_STOP },
    { "after key and value", NULL, AT_TOKEN },
    { "object key and value must be separated", NULL, AT_TOKEN },
    { "invalid object key", NULL, AT_TOKEN },
    { "after array element", NULL, AT_TOKEN },
    { "unallowed token", NULL, AT_TOKEN },
};

//  Fill error for a parse that yajl refused. yajl_complete_parse feeds yajl
//  one space more to end the last token: what it refuses then is the end of
//  the input, or data after a document that a number ended.
static void
s_yajl_error (parser_t *self, jdoc_error_t *error)
{
    const char *text = self->text;
    size_t stop = yajl_get_bytes_consumed (self->yajl);
    unsigned char *rendered = yajl_get_error (self->yajl, 0, NULL, 0);
    char said [sizeof error->message] = "";
    if (rendered) {
        const char *reason = strstr ((const char *) rendered, "error: ");
        snprintf (said, sizeof said, "%s", reason ? reason + 7 : (const char *) rendered);
        yajl_free_error (self->yajl, rendered);
    }
    size_t length = strlen (said);
    while (length && (said [length - 1] == '\n' || said [length - 1] == '.'))
        said [--length] = 0;
    const known_error_t *known = NULL;
    size_t count = sizeof s_known_errors / sizeof *s_known_errors;
    for (size_t index = 0; index < count && !known; index++) {
        const char *start = s_known_errors [index].yajl;
        if (strncmp (said, start, strlen (start)) == 0)
            known = &s_known_errors [index];
    }

    const char *message = known && known->message ? known->message : *said ? said : "invalid JSON";
    where_t where = known ? known->where : AT_STOP;
    size_t offset = stop;
    if (self->finishing && where != AT_TRAILING) {
        offset = 0;
        while (offset < self->size && s_is_space (text [offset]))
            offset++;
        message = offset == self->size ? "empty input: no JSON value" : "unexpected end of input";
        offset = self->size;
    }
    else
    if (where == AT_LAST_BYTE && stop > 0)
        offset = stop - 1;
    else
    if (where == AT_TOKEN)
        offset = s_token_start (text, stop);
    else
    if (where == AT_LITERAL)
        while (offset > 0 && text [offset - 1] >= 'a' && text [offset - 1] <= 'z')
            offset--;
    else
    if (where == AT_BAD_UTF8) {
        //  yajl stops some bytes past the fault, inside the string it was
        //  reading; every byte before that string is ASCII or checked
        //  valid, so the first fault in the prefix is this one.
        size_t bad = s_utf8_invalid ((const unsigned char *) text, stop);
        offset = bad < stop ? bad : stop;
    }
    else
    if (where == AT_TRAILING) {
        offset = self->root_end;
        while (offset < self->size && s_is_space (text [offset]))
            offset++;
    }
    s_error (error, text, offset, message);
}

//  --------------------------------------------------------------------------
//  Parsing

static void
s_free_chunks (chunk_t *chunk)
{
    while (chunk) {
        chunk_t *next = chunk->next;
        free (chunk);
        chunk = next;
    }
}

jdoc_t *
jdoc_parse (const char *text, size_t size, const jdoc_limits_t *limits, jdoc_error_t *error)
{
    assert (text || size == 0);
    jdoc_error_t ignored;
    if (!error)
        error = &ignored;
    memset (error, 0, sizeof *error);
    if (!text)
        text = "";

    int max_depth = limits && limits->max_depth > 0 ? limits->max_depth : JDOC_DEFAULT_MAX_DEPTH;
    if (max_depth > JDOC_MAX_DEPTH_LIMIT)
        max_depth = JDOC_MAX_DEPTH_LIMIT;
    size_t max_bytes = limits && limits->max_bytes ? limits->max_bytes : JDOC_DEFAULT_MAX_BYTES;
    if (max_bytes > JDOC_MAX_BYTES_LIMIT)
        max_bytes = JDOC_MAX_BYTES_LIMIT;
    if (size > max_bytes) {
        char message [sizeof error->message];
        snprintf (message, sizeof message, "document larger than %zu bytes (%zu bytes)",
                  max_bytes, size);
        s_error (error, text, max_bytes, message);
        return NULL;
    }

    parser_t *self = (parser_t *) calloc (1, sizeof (parser_t));
    jdoc_t *doc = (jdoc_t *) calloc (1, sizeof (jdoc_t));
    if (!self || !doc) {
        free (self);
        free (doc);
        s_error (error, text, 0, "out of memory");
        return NULL;
    }
    self->doc = doc;
    self->text = text;
    self->size = size;
    self->max_depth = max_depth;
    //  Plans take a little over twice their size; pages of the chunk that
    //  are never written cost no memory.
    self->next_chunk = size < 2048 ? 4096 : size * 2 < CHUNK_MAX ? size * 2 : CHUNK_MAX;
    self->stack_size = 256;
    self->stack = (jdoc_value_t *) malloc (self->stack_size * sizeof (jdoc_value_t));
    self->yajl = yajl_alloc (&s_callbacks, NULL, self);
    if (!self->stack || !self->yajl) {
        s_error (error, text, 0, "out of memory");
        goto failed;
    }
    yajl_config (self->yajl, yajl_allow_comments, 0);
    yajl_config (self->yajl, yajl_dont_validate_strings, 0);
    yajl_config (self->yajl, yajl_allow_trailing_garbage, 0);
    yajl_config (self->yajl, yajl_allow_multiple_values, 0);
    yajl_config (self->yajl, yajl_allow_partial_values, 0);

    //  Raw vertical tab and form feed are invalid anywhere in JSON, but yajl
    //  skips them as white space: yajl reads up to the first one, and if it
    //  finds nothing wrong before, that byte is the fault.
    const char *tab = (const char *) memchr (text, '\v', size);
    const char *feed = (const char *) memchr (text, '\f', tab ? (size_t) (tab - text) : size);
    size_t clean = feed ? (size_t) (feed - text) : tab ? (size_t) (tab - text) : size;

    yajl_status status = yajl_parse (self->yajl, (const unsigned char *) text, clean);
    if (status == yajl_status_ok && clean == size) {
        self->finishing = true;
        status = yajl_complete_parse (self->yajl);
    }
    if (status != yajl_status_ok) {
        if (self->failed)
            s_error (error, text, self->offset, self->message);
        else
            s_yajl_error (self, error);
        goto failed;
    }
    //  yajl waits for more input inside a token that its input ends in, and
    //  takes a complete document followed by such a token for a good one:
    //  trailing data is looked for here as well.
    size_t after = self->root_read ? self->root_end : clean;
    while (after < clean && s_is_space (text [after]))
        after++;
    if (after < clean) {
        s_error (error, text, after, "trailing data after the document");
        goto failed;
    }
    if (clean < size) {
        s_error (error, text, clean, text [clean] == '\v'
                 ? "invalid character: vertical tab (0x0B) is not JSON white space"
                 : "invalid character: form feed (0x0C) is not JSON white space");
        goto failed;
    }
    assert (self->stack_used == 1 && self->depth == 0);
    doc->root = self->stack [0];
    yajl_free (self->yajl);
    free (self->stack);
    free (self);
    return doc;

failed:
    if (self->yajl)
        yajl_free (self->yajl);
    free (self->stack);
    free (self);
    jdoc_destroy (&doc);
    return NULL;
}

void
jdoc_destroy (jdoc_t **self_p)
{
    assert (self_p);
    if (*self_p) {
        s_free_chunks ((*self_p)->chunks);
        free (*self_p);
        *self_p = NULL;
    }
}

//  --------------------------------------------------------------------------
//  Reading

const jdoc_value_t *
jdoc_root (const jdoc_t *self)
{
    return self ? &self->root : NULL;
}

jdoc_type_t
jdoc_type (const jdoc_value_t *value)
{
    return value ? (jdoc_type_t) value->type : JDOC_ABSENT;
}

static const char *
s_text (const jdoc_value_t *value, jdoc_type_t type, size_t *length)
{
    bool match = value && value->type == type;
    if (length)
        *length = match ? value->size : 0;
    return match ? value->text : NULL;
}

const char *
jdoc_string (const jdoc_value_t *value, size_t *length)
{
    return s_text (value, JDOC_STRING, length);
}

const char *
jdoc_number (const jdoc_value_t *value, size_t *length)
{
    return s_text (value, JDOC_NUMBER, length);
}

bool
jdoc_int64 (const jdoc_value_t *value, int64_t *out)
{
    const char *text = jdoc_number (value, NULL);
    if (!text || strpbrk (text, ".eE"))
        return false;
    errno = 0;
    char *end;
    long long number = strtoll (text, &end, 10);
    if (errno == ERANGE || *end || end == text)
        return false;
    if (out)
        *out = (int64_t) number;
    return true;
}

size_t
jdoc_size (const jdoc_value_t *value)
{
    return value && (value->type == JDOC_ARRAY || value->type == JDOC_OBJECT) ? value->size : 0;
}

const jdoc_value_t *
jdoc_at (const jdoc_value_t *value, size_t index)
{
    if (!value || index >= jdoc_size (value))
        return NULL;
    return value->type == JDOC_ARRAY ? &value->items [index] : &value->items [2 * index + 1];
}

const char *
jdoc_key_at (const jdoc_value_t *value, size_t index, size_t *length)
{
    bool found = value && value->type == JDOC_OBJECT && index < value->size;
    return s_text (found ? &value->items [2 * index] : NULL, JDOC_STRING, length);
}

//  The sorted member positions of a large object, NULL for a small one.
static const uint32_t *
s_index (const jdoc_value_t *object)
{
    return object->size > INDEX_MIN
         ? (const uint32_t *) (object->items + 2 * (size_t) object->size) : NULL;
}

const jdoc_value_t *
jdoc_get (const jdoc_value_t *value, const char *key)
{
    return key ? jdoc_getn (value, key, strlen (key)) : NULL;
}

const jdoc_value_t *
jdoc_getn (const jdoc_value_t *value, const char *key, size_t length)
{
    if (!value || value->type != JDOC_OBJECT || !key || length > UINT32_MAX)
        return NULL;
    jdoc_value_t wanted = { .type = JDOC_STRING, .size = (uint32_t) length, .text = key };
    const jdoc_value_t *items = value->items;
    const uint32_t *index = s_index (value);
    if (!index) {
        for (size_t member = 0; member < value->size; member++)
            if (items [2 * member].size == length
            &&  memcmp (items [2 * member].text, key, length) == 0)
                return &items [2 * member + 1];
        return NULL;
    }
    //  The first position whose key is not less than key: with repeated
    //  keys, the one first in the document.
    size_t low = 0, high = value->size;
    while (low < high) {
        size_t middle = low + (high - low) / 2;
        if (s_compare_keys (&items [2 * (size_t) index [middle]], &wanted) < 0)
            low = middle + 1;
        else
            high = middle;
    }
    if (low < value->size && s_compare_keys (&items [2 * (size_t) index [low]], &wanted) == 0)
        return &items [2 * (size_t) index [low] + 1];
    return NULL;
}

//  --------------------------------------------------------------------------
//  Equality and canonical text

//  Member positions of object sorted by key: its index when it has one,
//  else sorted into scratch (room for INDEX_MIN).
static const uint32_t *
s_order (const jdoc_value_t *object, uint32_t *scratch)
{
    const uint32_t *index = s_index (object);
    if (index)
        return index;
    s_sort_members (object->items, object->size, scratch);
    return scratch;
}

//  Objects are equal when, key by key, they hold the same values in the
//  same order: member order does not matter, but for a key that is
//  repeated the order of its values does (jdoc_get answers the first).
static bool
s_objects_equal (const jdoc_value_t *a, const jdoc_value_t *b)
{
    if (a->size != b->size)
        return false;
    size_t members = a->size;
    bool same_order = true;
    for (size_t member = 0; member < members && same_order; member++)
        same_order = s_compare_keys (&a->items [2 * member], &b->items [2 * member]) == 0;
    if (same_order) {
        for (size_t member = 0; member < members; member++)
            if (!jdoc_equal (&a->items [2 * member + 1], &b->items [2 * member + 1]))
                return false;
        return true;
    }
    uint32_t scratch_a [INDEX_MIN], scratch_b [INDEX_MIN];
    const uint32_t *order_a = s_order (a, scratch_a);
    const uint32_t *order_b = s_order (b, scratch_b);
    for (size_t rank = 0; rank < members; rank++)
        if (s_compare_keys (&a->items [2 * (size_t) order_a [rank]],
                            &b->items [2 * (size_t) order_b [rank]]))
            return false;
    for (size_t rank = 0; rank < members; rank++)
        if (!jdoc_equal (&a->items [2 * (size_t) order_a [rank] + 1],
                         &b->items [2 * (size_t) order_b [rank] + 1]))
            return false;
    return true;
}

bool
jdoc_equal (const jdoc_value_t *a, const jdoc_value_t *b)
{
    if (jdoc_type (a) != jdoc_type (b))
        return false;
    switch (jdoc_type (a)) {
        case JDOC_NUMBER:
        case JDOC_STRING:
            return a->size == b->size && memcmp (a->text, b->text, a->size) == 0;
        case JDOC_ARRAY:
            if (a->size != b->size)
                return false;
            for (size_t index = 0; index < a->size; index++)
                if (!jdoc_equal (&a->items [index], &b->items [index]))
                    return false;
            return true;
        case JDOC_OBJECT:
            return s_objects_equal (a, b);
        default:
            return true;
    }
}

//  Text being written by jdoc_dump.
typedef struct {
    char *data;                  // the text so far
    size_t used;                 // bytes written
    size_t size;                 // bytes allocated
    bool failed;                 // out of memory: the text is lost
} out_t;

static void
s_put (out_t *out, const char *bytes, size_t length)
{
    if (out->failed)
        return;
    if (out->size - out->used < length) {
        size_t size = out->size * 2 > out->used + length ? out->size * 2 : out->used + length;
        char *data = (char *) realloc (out->data, size);
        if (!data) {
            out->failed = true;
            return;
        }
        out->data = data;
        out->size = size;
    }
    memcpy (out->data + out->used, bytes, length);
    out->used += length;
}

static void
s_dump_string (out_t *out, const char *text, size_t length)
{
    static const char hex [] = "0123456789abcdef";
    s_put (out, "\"", 1);
    size_t run = 0;
    for (size_t at = 0; at < length; at++) {
        unsigned char c = (unsigned char) text [at];
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        s_put (out, text + run, at - run);
        run = at + 1;
        char escape [6] = { '\\', 0 };
        size_t escape_length = 2;
        switch (c) {
            case '"':  escape [1] = '"'; break;
            case '\\': escape [1] = '\\'; break;
            case '\b': escape [1] = 'b'; break;
            case '\f': escape [1] = 'f'; break;
            case '\n': escape [1] = 'n'; break;
            case '\r': escape [1] = 'r'; break;
            case '\t': escape [1] = 't'; break;
            default:
                memcpy (escape + 1, "u00", 3);
                escape [4] = hex [c >> 4];
                escape [5] = hex [c & 15];
                escape_length = 6;
        }
        s_put (out, escape, escape_length);
    }
    s_put (out, text + run, length - run);
    s_put (out, "\"", 1);
}

static void
s_dump (out_t *out, const jdoc_value_t *value)
{
    switch (jdoc_type (value)) {
        case JDOC_TRUE:
            s_put (out, "true", 4);
            break;
        case JDOC_FALSE:
            s_put (out, "false", 5);
            break;
        case JDOC_NUMBER:
            s_put (out, value->text, value->size);
            break;
        case JDOC_STRING:
            s_dump_string (out, value->text, value->size);
            break;
        case JDOC_ARRAY:
            s_put (out, "[", 1);
            for (size_t index = 0; index < value->size; index++) {
                if (index)
                    s_put (out, ",", 1);
                s_dump (out, &value->items [index]);
            }
            s_put (out, "]", 1);
            break;
        case JDOC_OBJECT: {
            uint32_t scratch [INDEX_MIN];
            const uint32_t *order = s_order (value, scratch);
            s_put (out, "{", 1);
            for (size_t rank = 0; rank < value->size; rank++) {
                const jdoc_value_t *key = &value->items [2 * (size_t) order [rank]];
                if (rank)
                    s_put (out, ",", 1);
                s_dump_string (out, key->text, key->size);
                s_put (out, ":", 1);
                s_dump (out, key + 1);
            }
            s_put (out, "}", 1);
            break;
        }
        default:
            s_put (out, "null", 4);
    }
}

char *
jdoc_dump (const jdoc_value_t *value, size_t *length)
{
    out_t out = { .size = 256 };
    out.data = (char *) malloc (out.size);
    out.failed = !out.data;
    s_dump (&out, value);
    s_put (&out, "", 1);
    if (out.failed) {
        free (out.data);
        if (length)
            *length = 0;
        return NULL;
    }
    if (length)
        *length = out.used - 1;
    return out.data;
}
