/*  outlines: an engine's output as capped, redacted lines; see outlines.h.

    Redaction is one pass over the line: at each byte the secrets starting
    with that byte are tried, longest first, and a match is replaced by its
    marker and skipped. One pass (rather than one search per secret) keeps a
    short secret from matching inside the marker of another, which would
    make the line grow with every secret.
*/
#include "outlines.h"

#include <assert.h>
#include <ctype.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

//  One value the plan marks sensitive.
typedef struct {
    char *clear;                // its text, wiped when freed
    size_t size;                // bytes in clear
    char *marker;               // redact_marker of it
    bool token;                 // a number: replaced only as a whole token
    bool kept;                  // written beside a plan (outlines_secrets); not a check's
} secret_t;

//  A line kept while output is held.
typedef struct {
    char *bytes;                // the raw line, as read
    size_t size;                // bytes in bytes
    bool over;                  // it was cut at OUTLINES_RAW_MAX
} held_t;

struct _outlines_t {
    const uint8_t *key;         // the redaction key, borrowed
    outlines_fn *on_output;     // where lines go
    void *arg;                  // for on_output
    secret_t *secrets;          // what to replace
    size_t secret_count;        // entries in secrets
    bool sorted;                // secrets are in first-byte, longest-first order
    size_t first [257];         // secrets [first [c] .. first [c + 1]) start with byte c
    size_t longest;             // bytes of the longest secret
    char *partial [2];          // the unfinished line of stdout, stderr (OUTLINES_RAW_MAX)
    size_t partial_size [2];    // bytes in partial
    bool partial_over [2];      // that line went past OUTLINES_RAW_MAX
    bool hold;                  // keep lines for outlines_release
    held_t *held;               // lines kept
    size_t held_count;          // entries in held
    size_t held_bytes;          // bytes in held lines
    size_t batch;               // lines of the current piece so far
    size_t truncated;           // lines cut
    size_t dropped;             // lines not passed on
};

outlines_t *
outlines_new (const uint8_t *key, outlines_fn *on_output, void *arg)
{
    assert (key);
    outlines_t *self = (outlines_t *) calloc (1, sizeof *self);
    assert (self);
    self->key = key;
    self->on_output = on_output;
    self->arg = arg;
    self->sorted = true;
    for (int stream = 0; stream < 2; stream++) {
        self->partial [stream] = (char *) malloc (OUTLINES_RAW_MAX);
        assert (self->partial [stream]);
    }
    return self;
}

void
outlines_destroy (outlines_t **self_p)
{
    assert (self_p);
    outlines_t *self = *self_p;
    if (!self)
        return;
    for (size_t index = 0; index < self->secret_count; index++) {
        sodium_memzero (self->secrets [index].clear, self->secrets [index].size);
        free (self->secrets [index].clear);
        free (self->secrets [index].marker);
    }
    free (self->secrets);
    for (size_t index = 0; index < self->held_count; index++) {
        sodium_memzero (self->held [index].bytes, self->held [index].size);
        free (self->held [index].bytes);
    }
    free (self->held);
    for (int stream = 0; stream < 2; stream++) {
        sodium_memzero (self->partial [stream], OUTLINES_RAW_MAX);
        free (self->partial [stream]);
    }
    free (self);
    *self_p = NULL;
}

void
outlines_hold (outlines_t *self, bool hold)
{
    self->hold = hold;
}

//  --------------------------------------------------------------------------
//  Secrets

//  Add clear text (marker: redact_marker of value), unless known already.
static void
s_add (outlines_t *self, const char *clear, const json_t *value, bool token, bool kept)
{
    size_t size = strlen (clear);
    if (!size)
        return;
    for (size_t index = 0; index < self->secret_count; index++)
        if (self->secrets [index].size == size
        &&  !memcmp (self->secrets [index].clear, clear, size)) {
            self->secrets [index].kept |= kept;
            return;
        }
    char *marker = redact_marker (value, self->key);
    if (!marker)
        return;
    self->secrets = (secret_t *) realloc (self->secrets,
                                          (self->secret_count + 1) * sizeof *self->secrets);
    assert (self->secrets);
    secret_t *entry = &self->secrets [self->secret_count++];
    entry->clear = strdup (clear);
    assert (entry->clear);
    entry->size = size;
    entry->marker = marker;
    entry->token = token;
    entry->kept = kept;
    if (size > self->longest)
        self->longest = size;
    self->sorted = false;
}

void
outlines_add_secret (outlines_t *self, const char *secret)
{
    json_t *value = json_string (secret);
    if (value)                  // not UTF-8: no plan value can be it
        s_add (self, secret, value, false, true);
    json_decref (value);
}

//  value, and every value in it: strings anywhere in a line, numbers of
//  OUTLINES_NUMBER_MIN characters or more as whole tokens. Shorter numbers
//  and booleans are left alone: "1", "0" or "true" are in most lines of
//  any output, so replacing them would erase the output, and a value that
//  short reveals next to nothing.
static void
s_add_value (outlines_t *self, const json_t *value, bool kept)
{
    if (json_is_string (value))
        s_add (self, json_string_value (value), value, false, kept);
    else
    if (json_is_number (value)) {
        char *text = json_dumps (value, JSON_ENCODE_ANY | JSON_REAL_PRECISION (15));
        if (text && strlen (text) >= OUTLINES_NUMBER_MIN)
            s_add (self, text, value, true, kept);
        free (text);
    }
    else
    if (json_is_array (value)) {
        size_t index;
        json_t *item;
        json_array_foreach (value, index, item)
            s_add_value (self, item, kept);
    }
    else
    if (json_is_object (value)) {
        const char *name;
        json_t *item;
        json_object_foreach ((json_t *) value, name, item)
            s_add_value (self, item, kept);
    }
}

void
outlines_add_value (outlines_t *self, const json_t *value)
{
    s_add_value (self, value, true);
}

void
outlines_add_known (outlines_t *self, const json_t *values)
{
    s_add_value (self, values, false);
}

//  Every value anywhere in value is a secret.
static size_t
s_learn_all (outlines_t *self, const json_t *value)
{
    size_t before = self->secret_count;
    s_add_value (self, value, true);
    return self->secret_count - before;
}

size_t
outlines_learn (outlines_t *self, const json_t *original, const json_t *redacted)
{
    size_t before = self->secret_count;
    if (json_is_string (redacted)
    &&  !strncmp (json_string_value (redacted), "(sensitive:", 11)
    &&  !json_equal ((json_t *) original, (json_t *) redacted))
        s_learn_all (self, original);
    else
    if (json_is_object (original) && json_is_object (redacted)) {
        const char *name;
        json_t *item;
        json_object_foreach ((json_t *) original, name, item)
            outlines_learn (self, item, json_object_get (redacted, name));
    }
    else
    if (json_is_array (original) && json_is_array (redacted)) {
        size_t index;
        json_t *item;
        json_array_foreach (original, index, item)
            outlines_learn (self, item, json_array_get (redacted, index));
    }
    return self->secret_count - before;
}

json_t *
outlines_secrets (outlines_t *self)
{
    json_t *list = json_array ();
    for (size_t index = 0; index < self->secret_count; index++) {
        const secret_t *secret = &self->secrets [index];
        if (secret->kept)
            json_array_append_new (list, secret->token
                                   ? json_loads (secret->clear, JSON_DECODE_ANY, NULL)
                                   : json_string (secret->clear));
    }
    return list;
}

//  Zero every string in values (numbers are not kept as text).
static void
s_wipe (json_t *values)
{
    if (json_is_string (values))
        sodium_memzero ((char *) json_string_value (values), json_string_length (values));
    else
    if (json_is_array (values)) {
        size_t index;
        json_t *item;
        json_array_foreach (values, index, item)
            s_wipe (item);
    }
    else
    if (json_is_object (values)) {
        const char *name;
        json_t *item;
        json_object_foreach (values, name, item)
            s_wipe (item);
    }
}

void
outlines_wipe (json_t **values_p)
{
    s_wipe (*values_p);
    json_decref (*values_p);
    *values_p = NULL;
}

static int
s_secret_order (const void *left, const void *right)
{
    const secret_t *a = (const secret_t *) left, *b = (const secret_t *) right;
    unsigned char first_a = (unsigned char) a->clear [0], first_b = (unsigned char) b->clear [0];
    if (first_a != first_b)
        return first_a < first_b ? -1 : 1;
    return a->size > b->size ? -1 : a->size < b->size;
}

static void
s_sort (outlines_t *self)
{
    if (self->sorted)
        return;
    qsort (self->secrets, self->secret_count, sizeof *self->secrets, s_secret_order);
    size_t index = 0;
    for (int byte = 0; byte < 256; byte++) {
        self->first [byte] = index;
        while (index < self->secret_count
           &&  (unsigned char) self->secrets [index].clear [0] == byte)
            index++;
    }
    self->first [256] = index;
    self->sorted = true;
}

//  --------------------------------------------------------------------------
//  Lines

//  Whether bytes [at, at + length) stand alone: no letter or digit just
//  before or after them (a number inside a longer one, an id or a hash is
//  not that number).
static bool
s_whole_token (const char *bytes, size_t size, size_t at, size_t length)
{
    return (at == 0 || !isalnum ((unsigned char) bytes [at - 1]))
        && (at + length == size || !isalnum ((unsigned char) bytes [at + length]));
}

//  Redact a raw line, cut it and pass it on.
static void
s_emit (outlines_t *self, const char *bytes, size_t size, bool over)
{
    if (size && bytes [size - 1] == '\r')
        size--;
    s_sort (self);
    size_t capacity = size + 1, length = 0;
    char *line = (char *) malloc (capacity);
    assert (line);
    for (size_t at = 0; at < size; ) {
        unsigned char byte = (unsigned char) bytes [at];
        const secret_t *match = NULL;
        for (size_t index = self->first [byte]; !match && index < self->first [byte + 1]; index++) {
            const secret_t *secret = &self->secrets [index];
            if (secret->size <= size - at && !memcmp (bytes + at, secret->clear, secret->size)
            &&  (!secret->token || s_whole_token (bytes, size, at, secret->size)))
                match = secret;
        }
        const char *piece = match ? match->marker : bytes + at;
        size_t piece_size = match ? strlen (match->marker) : 1;
        if (length + piece_size + 1 > capacity) {
            capacity = (length + piece_size + 1) * 2;
            line = (char *) realloc (line, capacity);
            assert (line);
        }
        memcpy (line + length, piece, piece_size);
        length += piece_size;
        at += match ? match->size : 1;
    }
    bool cut = over;
    //  A line cut at OUTLINES_RAW_MAX may end in the start of a secret,
    //  which no match caught: drop as many bytes as that start could have.
    if (over && self->longest > 1)
        length = length > self->longest - 1 ? length - (self->longest - 1) : 0;
    if (length > OUTLINES_LINE_MAX) {
        length = OUTLINES_LINE_MAX;
        while (length && ((unsigned char) line [length] & 0xC0) == 0x80)
            length--;
        cut = true;
    }
    //  Not a C string otherwise.
    for (size_t index = 0; index < length; index++)
        if (!line [index])
            line [index] = '?';
    line [length] = 0;
    if (cut)
        self->truncated++;
    if (self->on_output)
        self->on_output (self->arg, line);
    sodium_memzero (line, capacity);
    free (line);
}

//  A whole line of the current piece: held, passed on, or dropped.
static void
s_line (outlines_t *self, const char *bytes, size_t size, bool over)
{
    if (self->batch >= OUTLINES_BATCH) {
        self->dropped++;
        return;
    }
    self->batch++;
    if (!self->hold) {
        s_emit (self, bytes, size, over);
        return;
    }
    if (self->held_bytes + size > OUTLINES_HELD_MAX) {
        self->dropped++;
        return;
    }
    self->held = (held_t *) realloc (self->held, (self->held_count + 1) * sizeof *self->held);
    assert (self->held);
    held_t *entry = &self->held [self->held_count++];
    entry->bytes = (char *) malloc (size ? size : 1);
    assert (entry->bytes);
    memcpy (entry->bytes, bytes, size);
    entry->size = size;
    entry->over = over;
    self->held_bytes += size;
}

void
outlines_chunk (void *arg, int stream, const char *bytes, size_t size)
{
    outlines_t *self = (outlines_t *) arg;
    assert (stream == 1 || stream == 2);
    int which = stream - 1;
    self->batch = 0;
    while (size) {
        const char *newline = (const char *) memchr (bytes, '\n', size);
        size_t length = newline ? (size_t) (newline - bytes) : size;
        size_t room = OUTLINES_RAW_MAX - self->partial_size [which];
        size_t kept = length < room ? length : room;
        memcpy (self->partial [which] + self->partial_size [which], bytes, kept);
        self->partial_size [which] += kept;
        if (kept < length)
            self->partial_over [which] = true;
        if (newline) {
            s_line (self, self->partial [which], self->partial_size [which],
                    self->partial_over [which]);
            self->partial_size [which] = 0;
            self->partial_over [which] = false;
            length++;
        }
        bytes += length;
        size -= length;
    }
}

void
outlines_flush (outlines_t *self)
{
    self->batch = 0;
    for (int which = 0; which < 2; which++)
        if (self->partial_size [which] || self->partial_over [which]) {
            s_line (self, self->partial [which], self->partial_size [which],
                    self->partial_over [which]);
            self->partial_size [which] = 0;
            self->partial_over [which] = false;
        }
}

void
outlines_release (outlines_t *self)
{
    self->hold = false;
    for (size_t index = 0; index < self->held_count; index++) {
        held_t *entry = &self->held [index];
        s_emit (self, entry->bytes, entry->size, entry->over);
        sodium_memzero (entry->bytes, entry->size);
        free (entry->bytes);
    }
    free (self->held);
    self->held = NULL;
    self->held_count = 0;
    self->held_bytes = 0;
}

size_t
outlines_truncated (outlines_t *self)
{
    return self->truncated;
}

size_t
outlines_dropped (outlines_t *self)
{
    return self->dropped;
}
