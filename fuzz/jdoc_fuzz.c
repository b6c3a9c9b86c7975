/*  jdoc_fuzz: libFuzzer target for jdoc, the parser that reads plans agents
    send us. Any input must be parsed or refused without a fault (the
    sanitizers watch), a refusal must say where within the input, and what
    parses must survive our own round trip: its canonical dump parses again
    to an equal document whose dump is the same text. jansson, a strict
    parser written apart from yajl, is the referee of what is JSON: jdoc
    must accept what it accepts and refuse what it refuses (except where
    jdoc is documented to differ: numbers beyond a double or int64, a \u0000
    in a key, nesting past 128), and both must read the same document. The
    asserts check jdoc's invariants, not the input. Built and run by
    scripts/fuzz.
*/
#include "../lib/jdoc.h"

#include <assert.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

//  Every accessor on every value, so each is run on every shape.
static void
s_walk (const jdoc_value_t *value)
{
    size_t length;
    int64_t number;
    switch (jdoc_type (value)) {
        case JDOC_STRING:
            assert (jdoc_string (value, &length) && jdoc_string (value, NULL) [length] == 0);
            break;
        case JDOC_NUMBER:
            assert (jdoc_number (value, &length) && length > 0);
            jdoc_int64 (value, &number);
            break;
        case JDOC_ARRAY:
            for (size_t index = 0; index < jdoc_size (value); index++)
                s_walk (jdoc_at (value, index));
            assert (!jdoc_at (value, jdoc_size (value)));
            break;
        case JDOC_OBJECT:
            for (size_t index = 0; index < jdoc_size (value); index++) {
                const char *key = jdoc_key_at (value, index, &length);
                assert (key);
                //  Every key is found, and the first of repeats wins.
                const jdoc_value_t *found = jdoc_getn (value, key, length);
                assert (found);
                assert (strlen (key) != length || jdoc_get (value, key) == found);
                for (size_t first = 0; first <= index; first++) {
                    size_t first_length;
                    const char *first_key = jdoc_key_at (value, first, &first_length);
                    if (first_length == length && memcmp (first_key, key, length) == 0) {
                        assert (found == jdoc_at (value, first));
                        break;
                    }
                }
                s_walk (jdoc_at (value, index));
            }
            break;
        default:
            assert (jdoc_size (value) == 0 && !jdoc_string (value, NULL));
    }
}

//  Whether jansson refused text that jdoc is meant to accept.
static bool
s_jansson_stricter (const json_error_t *error)
{
    return strstr (error->text, "too big") || strstr (error->text, "overflow")
        || strstr (error->text, "NUL byte in object key")
        || strstr (error->text, "maximum parsing depth");
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    jdoc_error_t error;
    jdoc_t *doc = jdoc_parse ((const char *) data, size, NULL, &error);
    //  A raw NUL byte is never JSON, but jansson takes it for the end of
    //  the input: it cannot judge those.
    if (memchr (data, 0, size)) {
        assert (!doc);
        return 0;
    }
    json_error_t json_error;
    json_t *json = json_loadb ((const char *) data, size, JSON_DECODE_ANY | JSON_ALLOW_NUL,
                               &json_error);
    if (!doc) {
        assert (error.message [0] && error.offset <= size && error.line >= 1 && error.column >= 1);
        assert (!json || strncmp (error.message, "nesting deeper than", 19) == 0);
        json_decref (json);
        return 0;
    }
    assert (json || s_jansson_stricter (&json_error));
    s_walk (jdoc_root (doc));
    size_t dump_size;
    char *dump = jdoc_dump (jdoc_root (doc), &dump_size);
    assert (dump && dump_size <= size);    // no white space, nothing escaped that was not
    if (json) {
        //  The same document: jansson reads jdoc's dump as what it read.
        json_t *dumped = json_loadb (dump, dump_size, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
        assert (dumped && json_equal (dumped, json));
        json_decref (dumped);
        json_decref (json);
    }
    jdoc_t *again = jdoc_parse (dump, dump_size, NULL, &error);
    assert (again);
    assert (jdoc_equal (jdoc_root (doc), jdoc_root (again)));
    assert (jdoc_equal (jdoc_root (again), jdoc_root (doc)));
    size_t second_size;
    char *second = jdoc_dump (jdoc_root (again), &second_size);
    assert (second_size == dump_size && memcmp (second, dump, dump_size) == 0);
    free (second);
    jdoc_destroy (&again);
    free (dump);
    jdoc_destroy (&doc);
    return 0;
}
