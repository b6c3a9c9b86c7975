/*  mask: canonical JSON of a value with its sensitive and unknown parts
    replaced; see mask.h for the rules.

    The output is canonical in the same way as jdoc_dump (members sorted by
    key, numbers as written), so an unmasked value dumps to exactly what
    jdoc_dump gives and a fingerprint over it does not depend on how the
    engine ordered keys.
*/
#include "mask.h"
#include "../../lib/textbuf.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#define MASK_MARKER_PREFIX "(sensitive:"
#define MASK_MARKER_PREFIX_LENGTH 11
//  Bytes of the HMAC kept in a marker, as the agent keeps them.
#define MASK_HASH_BYTES 16
#define MASK_MARKER_LENGTH (MASK_MARKER_PREFIX_LENGTH + 2 * MASK_HASH_BYTES + 1)

bool
mask_says_true (const jdoc_value_t *mark)
{
    jdoc_type_t type = jdoc_type (mark);
    return type == JDOC_TRUE || type == JDOC_NUMBER || type == JDOC_STRING;
}

bool
mask_marked (const jdoc_value_t *mark)
{
    if (mask_says_true (mark))
        return true;
    jdoc_type_t type = jdoc_type (mark);
    if (type != JDOC_OBJECT && type != JDOC_ARRAY)
        return false;
    size_t size = jdoc_size (mark);
    for (size_t index = 0; index < size; index++)
        if (mask_marked (jdoc_at (mark, index)))
            return true;
    return false;
}

bool
mask_is_marker (const char *text, size_t length)
{
    if (!text || length != MASK_MARKER_LENGTH
    ||  memcmp (text, MASK_MARKER_PREFIX, MASK_MARKER_PREFIX_LENGTH) != 0
    ||  text [length - 1] != ')')
        return false;
    for (size_t index = MASK_MARKER_PREFIX_LENGTH; index < length - 1; index++) {
        char c = text [index];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            return false;
    }
    return true;
}

//  True if value is a string holding a marker already.
static bool
s_is_marker_value (const jdoc_value_t *value)
{
    size_t length;
    const char *text = jdoc_string (value, &length);
    return text && mask_is_marker (text, length);
}

#define MASK_PULUMI_SIGNATURE_KEY "4dabf18193072939515e22adb298388d"
#define MASK_PULUMI_SECRET_SIGNATURE "1b47061264138c4ac30d75fd1eb44270"

bool
mask_is_secret (const jdoc_value_t *value)
{
    if (s_is_marker_value (value))
        return true;
    const char *signature = jdoc_string (jdoc_get (value, MASK_PULUMI_SIGNATURE_KEY), NULL);
    return signature && strcmp (signature, MASK_PULUMI_SECRET_SIGNATURE) == 0;
}

typedef struct {
    textbuf_t out;               // the JSON being written
    const uint8_t *key;          // mask key, borrowed
    bool sensitive;              // something was masked or was a marker
} masker_t;

//  The marker of value: HMAC over its canonical JSON, which is the secret
//  itself and is wiped before it is freed.
static void
s_add_marker (masker_t *self, const jdoc_value_t *value)
{
    size_t length = 0;
    char *text = jdoc_dump (value, &length);
    if (!text) {
        self->out.failed = true;
        return;
    }
    uint8_t mac [crypto_auth_hmacsha256_BYTES];
    crypto_auth_hmacsha256 (mac, (const uint8_t *) text, length, self->key);
    sodium_memzero (text, length);
    free (text);
    char hex [2 * MASK_HASH_BYTES + 1];
    sodium_bin2hex (hex, sizeof hex, mac, MASK_HASH_BYTES);
    sodium_memzero (mac, sizeof mac);
    textbuf_addc (&self->out, '"');
    textbuf_add (&self->out, MASK_MARKER_PREFIX, MASK_MARKER_PREFIX_LENGTH);
    textbuf_add (&self->out, hex, 2 * MASK_HASH_BYTES);
    textbuf_add (&self->out, ")\"", 2);
}

static void
s_add_dump (masker_t *self, const jdoc_value_t *value)
{
    size_t length = 0;
    char *text = jdoc_dump (value, &length);
    if (!text) {
        self->out.failed = true;
        return;
    }
    textbuf_add (&self->out, text, length);
    free (text);
}

//  One member of an object being written: its key, and its value (NULL for
//  a key only the unknown marks have).
typedef struct {
    const char *key;             // member key
    size_t length;               // its bytes
    size_t index;                // member index in the value, or in the unknown marks
    bool from_value;             // index is into the value (else into the marks)
} member_t;

static int
s_member_compare (const void *a, const void *b)
{
    const member_t *left = (const member_t *) a, *right = (const member_t *) b;
    size_t shorter = left->length < right->length ? left->length : right->length;
    int order = memcmp (left->key, right->key, shorter);
    if (order)
        return order;
    return left->length < right->length ? -1 : left->length > right->length;
}

static void s_dump (masker_t *self, const jdoc_value_t *value, const mask_marks_t *marks);

static void
s_dump_object (masker_t *self, const jdoc_value_t *value, const mask_marks_t *marks)
{
    size_t size = jdoc_size (value);
    const jdoc_value_t *unknown = jdoc_type (marks->unknown) == JDOC_OBJECT ? marks->unknown : NULL;
    size_t unknown_size = jdoc_size (unknown);
    member_t *members = (member_t *) malloc ((size + unknown_size + 1) * sizeof *members);
    if (!members) {
        self->out.failed = true;
        return;
    }
    size_t count = 0;
    for (size_t index = 0; index < size; index++) {
        members [count].key = jdoc_key_at (value, index, &members [count].length);
        members [count].index = index;
        members [count].from_value = true;
        count++;
    }
    //  A value not known until apply may be left out of after altogether.
    for (size_t index = 0; index < unknown_size; index++) {
        const char *key = jdoc_key_at (unknown, index, NULL);
        if (mask_says_true (jdoc_at (unknown, index)) && !jdoc_get (value, key)) {
            members [count].key = jdoc_key_at (unknown, index, &members [count].length);
            members [count].index = index;
            members [count].from_value = false;
            count++;
        }
    }
    qsort (members, count, sizeof *members, s_member_compare);
    textbuf_addc (&self->out, '{');
    for (size_t index = 0; index < count; index++) {
        if (index)
            textbuf_addc (&self->out, ',');
        textbuf_add_json_string (&self->out, members [index].key, members [index].length);
        textbuf_addc (&self->out, ':');
        if (!members [index].from_value) {
            textbuf_adds (&self->out, "\"" MASK_UNKNOWN "\"");
            continue;
        }
        const char *key = members [index].key;
        mask_marks_t inner = {
            .mark = jdoc_get (marks->mark, key),
            .covered = false,
            .unknown = jdoc_get (unknown, key),
            .unknown_covered = false
        };
        s_dump (self, jdoc_at (value, members [index].index), &inner);
    }
    textbuf_addc (&self->out, '}');
    free (members);
}

static void
s_dump_array (masker_t *self, const jdoc_value_t *value, const mask_marks_t *marks)
{
    size_t size = jdoc_size (value);
    const jdoc_value_t *mark = jdoc_type (marks->mark) == JDOC_ARRAY ? marks->mark : NULL;
    const jdoc_value_t *unknown = jdoc_type (marks->unknown) == JDOC_ARRAY ? marks->unknown : NULL;
    textbuf_addc (&self->out, '[');
    for (size_t index = 0; index < size; index++) {
        if (index)
            textbuf_addc (&self->out, ',');
        mask_marks_t inner = {
            .mark = jdoc_at (mark, index),
            .covered = false,
            .unknown = jdoc_at (unknown, index),
            .unknown_covered = false
        };
        s_dump (self, jdoc_at (value, index), &inner);
    }
    textbuf_addc (&self->out, ']');
}

//  True if mark does not fit the shape of value: then it covers all of
//  value if it says true anywhere.
static bool
s_misfit (const jdoc_value_t *value, const jdoc_value_t *mark)
{
    jdoc_type_t mark_type = jdoc_type (mark);
    jdoc_type_t value_type = jdoc_type (value);
    if (mark_type == JDOC_OBJECT)
        return value_type != JDOC_OBJECT;
    if (mark_type == JDOC_ARRAY)
        return value_type != JDOC_ARRAY || jdoc_size (mark) != jdoc_size (value);
    return false;
}

static void
s_dump (masker_t *self, const jdoc_value_t *value, const mask_marks_t *marks)
{
    if (marks->unknown_covered || mask_says_true (marks->unknown)) {
        textbuf_adds (&self->out, "\"" MASK_UNKNOWN "\"");
        return;
    }
    jdoc_type_t type = jdoc_type (value);
    if (type == JDOC_ABSENT || type == JDOC_NULL) {
        textbuf_add (&self->out, "null", 4);
        return;
    }
    if (s_is_marker_value (value)) {
        self->sensitive = true;
        s_add_dump (self, value);
        return;
    }
    if (marks->covered || mask_says_true (marks->mark) || mask_is_secret (value)
    ||  (s_misfit (value, marks->mark) && mask_marked (marks->mark))) {
        self->sensitive = true;
        s_add_marker (self, value);
        return;
    }
    if (type == JDOC_OBJECT)
        s_dump_object (self, value, marks);
    else
    if (type == JDOC_ARRAY)
        s_dump_array (self, value, marks);
    else
        s_add_dump (self, value);
}

char *
mask_dump (const jdoc_value_t *value, const mask_marks_t *marks,
           const uint8_t key [MASK_KEY_BYTES], bool *sensitive)
{
    static const mask_marks_t none = { NULL, false, NULL, false };
    masker_t self = { TEXTBUF_INIT, key, false };
    s_dump (&self, value, marks ? marks : &none);
    if (sensitive)
        *sensitive = self.sensitive;
    return textbuf_detach (&self.out);
}
