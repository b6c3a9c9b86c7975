/*  jdoc: a parsed JSON document, read-only, built for normalize.

    Plans are large (tens of MB), nested and full of numbers outside the
    64-bit range, and a bad one must fail with a precise reason, never crash
    and never be half-read. jdoc parses a whole document with a well-kept
    tokenizer into one arena (a few allocations, freed at once), refuses
    invalid UTF-8, keeps every number's text exactly as written (nothing is
    rounded), enforces documented limits (size, depth) and reports where a
    document went wrong (byte offset, line and column).

    Values are read through accessors that accept NULL and the wrong type
    (they answer NULL / 0 / false), so walking an unexpected shape is never
    a crash: NULL stands for "absent".
*/
#ifndef JDOC_H_INCLUDED
#define JDOC_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct _jdoc_t jdoc_t;
typedef struct _jdoc_value_t jdoc_value_t;

typedef enum {
    JDOC_ABSENT = 0,             // a NULL value: the key or index was not there
    JDOC_NULL,
    JDOC_FALSE,
    JDOC_TRUE,
    JDOC_NUMBER,
    JDOC_STRING,
    JDOC_ARRAY,
    JDOC_OBJECT
} jdoc_type_t;

//  Documented limits; 0 in a field means its default.
#define JDOC_DEFAULT_MAX_DEPTH 128          // nesting of arrays and objects
#define JDOC_DEFAULT_MAX_BYTES (256u << 20) // document size
//  Larger values are lowered to these. yajl 2.1's parser has no depth limit
//  of its own; jdoc_equal and jdoc_dump recurse once per level, so depth is
//  bounded here. Sizes inside a document are kept in 32 bits.
#define JDOC_MAX_DEPTH_LIMIT 1024
#define JDOC_MAX_BYTES_LIMIT ((size_t) UINT32_MAX)

typedef struct {
    int max_depth;               // deeper nesting is refused
    size_t max_bytes;            // larger documents are refused
} jdoc_limits_t;

typedef struct {
    char message [200];          // what is wrong, for the operator
    size_t offset;               // byte offset where the parser stopped
    int line;                    // 1-based line of offset
    int column;                  // 1-based column (bytes) of offset
} jdoc_error_t;

//  Parse size bytes of text (limits may be NULL). NULL with *error filled
//  when the text is not one valid JSON document within the limits (trailing
//  garbage, invalid UTF-8 and bad escapes included).
jdoc_t *jdoc_parse (const char *text, size_t size, const jdoc_limits_t *limits,
                    jdoc_error_t *error);
void jdoc_destroy (jdoc_t **self_p);

//  The top-level value. Every value pointer lives as long as its jdoc.
const jdoc_value_t *jdoc_root (const jdoc_t *self);

jdoc_type_t jdoc_type (const jdoc_value_t *value);

//  A string's bytes (NUL-terminated; *length, if not NULL, counts bytes and
//  may include an escaped \u0000), or NULL if value is not a string.
const char *jdoc_string (const jdoc_value_t *value, size_t *length);

//  A number's text exactly as written (e.g. "123456789012345678901234567890"
//  or "1.5e300"), or NULL if value is not a number.
const char *jdoc_number (const jdoc_value_t *value, size_t *length);

//  A number that is an integer within int64_t: true with *out set.
bool jdoc_int64 (const jdoc_value_t *value, int64_t *out);

//  Elements of an array, members of an object, 0 for anything else.
size_t jdoc_size (const jdoc_value_t *value);

//  Element index of an array, or value of member index of an object (in
//  document order); NULL when out of range or not a container.
const jdoc_value_t *jdoc_at (const jdoc_value_t *value, size_t index);

//  Key of member index of an object; NULL otherwise.
const char *jdoc_key_at (const jdoc_value_t *value, size_t index, size_t *length);

//  Member key of an object (the first if repeated); NULL if absent or value
//  is not an object.
const jdoc_value_t *jdoc_get (const jdoc_value_t *value, const char *key);

//  The same for a key of length bytes, which may hold NUL bytes (jdoc_key_at
//  gives such keys with their length; jdoc_get would stop at the NUL).
const jdoc_value_t *jdoc_getn (const jdoc_value_t *value, const char *key, size_t length);

//  Deep equality: same type; numbers by their text; strings byte for byte;
//  arrays in order; objects as sets of members (order does not matter).
//  Two absent values are equal.
bool jdoc_equal (const jdoc_value_t *a, const jdoc_value_t *b);

//  Canonical compact JSON of value (members sorted by key, numbers as
//  written, strings escaped as JSON requires), for hashing and for output.
//  Caller frees; *length (if not NULL) gets its size. "null" for absent.
char *jdoc_dump (const jdoc_value_t *value, size_t *length);

#endif
