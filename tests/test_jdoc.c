/*  jdoc: every real Terraform capture parses and dumps to what jansson
    reads as the same document; numbers keep their text; text that is not
    one valid JSON document within the limits (invalid UTF-8 and lone
    surrogates included, every truncation of a document too) is refused
    with the place it went wrong; accessors take NULL and wrong types; a
    20 MB generated plan parses under the sanitizers.
*/
#include "../lib/jdoc.h"
#include "../bench/plangen.h"

#include <criterion/criterion.h>
#include <glob.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

//  --------------------------------------------------------------------------
//  Helpers

static jdoc_t *
s_parse (const char *text)
{
    jdoc_error_t error;
    jdoc_t *doc = jdoc_parse (text, strlen (text), NULL, &error);
    cr_assert (doc, "refused %s: %s at %zu", text, error.message, error.offset);
    return doc;
}

//  Parse size bytes from a copy of exactly that size, so the sanitizers
//  see any read past the end.
static jdoc_t *
s_parse_exact (const char *text, size_t size, const jdoc_limits_t *limits, jdoc_error_t *error)
{
    char *copy = (char *) malloc (size ? size : 1);
    memcpy (copy, text, size);
    jdoc_t *doc = jdoc_parse (copy, size, limits, error);
    free (copy);
    return doc;
}

//  text must be refused with message (its start) at offset, line, column.
static void
s_refused_at (const char *text, size_t size, const jdoc_limits_t *limits, const char *message,
              size_t offset, int line, int column)
{
    jdoc_error_t error;
    jdoc_t *doc = s_parse_exact (text, size, limits, &error);
    cr_assert_null (doc, "accepted: %.*s", (int) size, text);
    cr_assert (strncmp (error.message, message, strlen (message)) == 0,
               "for %.*s: message '%s', expected '%s'", (int) size, text, error.message, message);
    cr_assert_eq (error.offset, offset, "for %.*s (%s): offset %zu, expected %zu",
                  (int) size, text, error.message, error.offset, offset);
    cr_assert_eq (error.line, line, "for %.*s: line %d, expected %d", (int) size, text,
                  error.line, line);
    cr_assert_eq (error.column, column, "for %.*s: column %d, expected %d", (int) size, text,
                  error.column, column);
}

static char *
s_read (const char *path, size_t *size)
{
    FILE *file = fopen (path, "rb");
    cr_assert (file, "cannot open %s", path);
    fseek (file, 0, SEEK_END);
    *size = (size_t) ftell (file);
    rewind (file);
    char *text = (char *) malloc (*size + 1);
    cr_assert_eq (fread (text, 1, *size, file), *size);
    text [*size] = 0;
    fclose (file);
    return text;
}

static void
s_fixtures (glob_t *found)
{
    const char *source = getenv ("DRIFT_SOURCE_DIR");
    cr_assert (source, "DRIFT_SOURCE_DIR is not set: it names the checkout (tests/fixtures)");
    char pattern [4096];
    snprintf (pattern, sizeof pattern, "%s/tests/fixtures/terraform/*.plan.json", source);
    cr_assert_eq (glob (pattern, 0, NULL, found), 0, "no fixtures at %s", pattern);
    cr_assert_geq (found->gl_pathc, 8, "the seven scenarios and large");
}

static char *
s_dump (const jdoc_value_t *value)
{
    char *text = jdoc_dump (value, NULL);
    cr_assert (text);
    return text;
}

//  "[[[...]]]" or {"a":{"a":...}} nested depth times.
static char *
s_nested (int depth, bool objects)
{
    char *text = (char *) malloc ((size_t) depth * 6 + 8);
    size_t at = 0;
    for (int level = 0; level < depth; level++)
        at += (size_t) sprintf (text + at, objects ? "{\"a\":" : "[");
    at += (size_t) sprintf (text + at, "1");
    for (int level = 0; level < depth; level++)
        text [at++] = objects ? '}' : ']';
    text [at] = 0;
    return text;
}

//  --------------------------------------------------------------------------
//  Real captures

Test (jdoc, every_fixture_parses_and_dumps_what_jansson_reads)
{
    glob_t found;
    s_fixtures (&found);
    for (size_t index = 0; index < found.gl_pathc; index++) {
        const char *path = found.gl_pathv [index];
        size_t size;
        char *text = s_read (path, &size);
        jdoc_error_t error;
        jdoc_t *doc = jdoc_parse (text, size, NULL, &error);
        cr_assert (doc, "%s: %s at line %d, column %d", path, error.message, error.line,
                   error.column);
        cr_assert_str_eq (jdoc_string (jdoc_get (jdoc_root (doc), "format_version"), NULL),
                          "1.2");

        size_t dump_size;
        char *dump = jdoc_dump (jdoc_root (doc), &dump_size);
        json_error_t json_error;
        json_t *original = json_loadb (text, size, 0, &json_error);
        cr_assert (original, "%s: jansson: %s", path, json_error.text);
        char *canonical = json_dumps (original, JSON_COMPACT | JSON_SORT_KEYS);
        json_t *ours = json_loadb (dump, dump_size, 0, &json_error);
        json_t *theirs = json_loads (canonical, 0, &json_error);
        cr_assert (ours, "%s: jansson cannot read jdoc's dump: %s", path, json_error.text);
        cr_assert (json_equal (ours, theirs), "%s: the dumps differ", path);
        cr_assert (json_equal (ours, original));

        //  The dump is canonical: parsed and dumped again, it is the same text.
        jdoc_t *again = s_parse (dump);
        cr_assert (jdoc_equal (jdoc_root (doc), jdoc_root (again)), "%s", path);
        char *second = s_dump (jdoc_root (again));
        cr_assert_str_eq (second, dump, "%s: dump is not stable", path);

        free (second);
        jdoc_destroy (&again);
        json_decref (ours);
        json_decref (theirs);
        json_decref (original);
        free (canonical);
        free (dump);
        jdoc_destroy (&doc);
        free (text);
    }
    globfree (&found);
}

Test (jdoc, resource_drift_reads_through_accessors)
{
    glob_t found;
    s_fixtures (&found);
    for (size_t index = 0; index < found.gl_pathc; index++) {
        if (!strstr (found.gl_pathv [index], "scenario-01"))
            continue;
        size_t size;
        char *text = s_read (found.gl_pathv [index], &size);
        jdoc_t *doc = jdoc_parse (text, size, NULL, NULL);
        const jdoc_value_t *drift = jdoc_get (jdoc_root (doc), "resource_drift");
        cr_assert_eq (jdoc_type (drift), JDOC_ARRAY);
        cr_assert_eq (jdoc_size (drift), 1);
        const jdoc_value_t *entry = jdoc_at (drift, 0);
        cr_assert_str_eq (jdoc_string (jdoc_get (entry, "address"), NULL),
                          "aws_security_group.web");
        const jdoc_value_t *actions = jdoc_get (jdoc_get (entry, "change"), "actions");
        cr_assert_str_eq (jdoc_string (jdoc_at (actions, 0), NULL), "update");
        const jdoc_value_t *before = jdoc_get (jdoc_get (entry, "change"), "before");
        const jdoc_value_t *after = jdoc_get (jdoc_get (entry, "change"), "after");
        cr_assert_not (jdoc_equal (jdoc_get (before, "ingress"), jdoc_get (after, "ingress")));
        cr_assert (jdoc_equal (jdoc_get (before, "vpc_id"), jdoc_get (after, "vpc_id")));
        jdoc_destroy (&doc);
        free (text);
    }
    globfree (&found);
}

//  --------------------------------------------------------------------------
//  Numbers and strings

Test (jdoc, numbers_keep_their_text)
{
    const char *numbers [] = {
        "123456789012345678901234567890", "18446744073709551617", "1e400", "-0", "1.0", "1",
        "-1.5E-300", "0.1e-999", "9223372036854775808"
    };
    jdoc_t *doc = s_parse ("[123456789012345678901234567890, 18446744073709551617, 1e400,"
                           " -0, 1.0, 1, -1.5E-300, 0.1e-999, 9223372036854775808]");
    const jdoc_value_t *root = jdoc_root (doc);
    cr_assert_eq (jdoc_size (root), 9);
    for (size_t index = 0; index < 9; index++) {
        size_t length;
        const char *text = jdoc_number (jdoc_at (root, index), &length);
        cr_assert_str_eq (text, numbers [index]);
        cr_assert_eq (length, strlen (numbers [index]));
    }
    char *dump = s_dump (root);
    cr_assert_str_eq (dump, "[123456789012345678901234567890,18446744073709551617,1e400,-0,1.0,"
                            "1,-1.5E-300,0.1e-999,9223372036854775808]");
    free (dump);
    //  Equal by text: 1.0 is not 1.
    cr_assert_not (jdoc_equal (jdoc_at (root, 4), jdoc_at (root, 5)));
    jdoc_destroy (&doc);
}

Test (jdoc, int64_reads_integers_within_range_only)
{
    jdoc_t *doc = s_parse ("[0, -0, 42, -9223372036854775808, 9223372036854775807,"
                           " 9223372036854775808, -9223372036854775809, 1.0, 1e2, \"7\", null]");
    const jdoc_value_t *root = jdoc_root (doc);
    int64_t value = 99;
    cr_assert (jdoc_int64 (jdoc_at (root, 0), &value) && value == 0);
    cr_assert (jdoc_int64 (jdoc_at (root, 1), &value) && value == 0);
    cr_assert (jdoc_int64 (jdoc_at (root, 2), &value) && value == 42);
    cr_assert (jdoc_int64 (jdoc_at (root, 3), &value) && value == INT64_MIN);
    cr_assert (jdoc_int64 (jdoc_at (root, 4), &value) && value == INT64_MAX);
    value = 99;
    for (size_t index = 5; index < 11; index++)
        cr_assert_not (jdoc_int64 (jdoc_at (root, index), &value), "element %zu", index);
    cr_assert_eq (value, 99, "untouched when false");
    cr_assert_not (jdoc_int64 (NULL, &value));
    cr_assert (jdoc_int64 (jdoc_at (root, 2), NULL));
    jdoc_destroy (&doc);
}

Test (jdoc, strings_keep_escaped_nul_bytes)
{
    jdoc_t *doc = s_parse ("{\"k\\u0000ey\": \"a\\u0000b\", \"plain\": \"x\"}");
    const jdoc_value_t *root = jdoc_root (doc);
    size_t length;
    const char *key = jdoc_key_at (root, 0, &length);
    cr_assert_eq (length, 4);
    cr_assert (memcmp (key, "k\0ey", 5) == 0);
    const char *value = jdoc_string (jdoc_at (root, 0), &length);
    cr_assert_eq (length, 3);
    cr_assert (memcmp (value, "a\0b", 4) == 0, "bytes kept and NUL-terminated");
    cr_assert_null (jdoc_get (root, "k"), "a C string key stops at the NUL");
    cr_assert_eq (jdoc_getn (root, "k\0ey", 4), jdoc_at (root, 0));
    cr_assert_null (jdoc_getn (root, "k\0e", 3));
    char *dump = s_dump (root);
    cr_assert_str_eq (dump, "{\"k\\u0000ey\":\"a\\u0000b\",\"plain\":\"x\"}");
    free (dump);
    jdoc_destroy (&doc);
}

Test (jdoc, unicode_escapes_and_raw_utf8_give_the_same_bytes)
{
    jdoc_t *doc = s_parse ("[\"\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80\xF4\x8F\xBF\xBF\","
                           " \"\\u00e9\\u20AC\\ud83d\\ude00\\udbff\\udfff\", \"a?b\\u003f\"]");
    const jdoc_value_t *root = jdoc_root (doc);
    size_t length;
    const char *raw = jdoc_string (jdoc_at (root, 0), &length);
    cr_assert_eq (length, 13);
    cr_assert (jdoc_equal (jdoc_at (root, 0), jdoc_at (root, 1)));
    cr_assert_str_eq (raw, "\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80\xF4\x8F\xBF\xBF");
    cr_assert_str_eq (jdoc_string (jdoc_at (root, 2), NULL), "a?b?");
    jdoc_destroy (&doc);
}

Test (jdoc, dump_escapes_what_json_requires)
{
    jdoc_t *doc = s_parse ("[\"\\u0001\\u001f\\b\\f\\n\\r\\t\\\"\\\\\\/\x7f\xC3\xA9\"]");
    char *dump = s_dump (jdoc_root (doc));
    cr_assert_str_eq (dump, "[\"\\u0001\\u001f\\b\\f\\n\\r\\t\\\"\\\\/\x7f\xC3\xA9\"]");
    jdoc_t *again = s_parse (dump);
    cr_assert (jdoc_equal (jdoc_root (doc), jdoc_root (again)));
    free (dump);
    jdoc_destroy (&again);
    jdoc_destroy (&doc);
}

Test (jdoc, dump_sorts_keys_bytewise_at_every_level)
{
    jdoc_t *doc = s_parse ("{\"b\":1,\"a\":{\"z\":[{\"y\":1,\"x\":2}],\"m\":null},\"B\":true,"
                           "\"ab\":false,\"\xC3\xA9\":5,\"\":6}");
    char *dump = s_dump (jdoc_root (doc));
    cr_assert_str_eq (dump, "{\"\":6,\"B\":true,\"a\":{\"m\":null,\"z\":[{\"x\":2,\"y\":1}]},"
                            "\"ab\":false,\"b\":1,\"\xC3\xA9\":5}");
    free (dump);
    jdoc_destroy (&doc);
}

//  --------------------------------------------------------------------------
//  Refusals and where they are reported

Test (jdoc, invalid_utf8_is_refused_at_its_first_byte)
{
    const char *bad [] = {
        "\xC0\x80",                 // overlong NUL
        "\xC1\xBF",                 // overlong 2-byte
        "\xE0\x80\x80",             // overlong 3-byte
        "\xF0\x80\x80\x80",         // overlong 4-byte
        "\xED\xA0\x80",             // high surrogate half encoded in UTF-8
        "\xED\xBF\xBF",             // low surrogate half encoded in UTF-8
        "\xF4\x90\x80\x80",         // past U+10FFFF
        "\xF5\x80\x80\x80",         // lead byte that never occurs
        "\xFF", "\xFE",
        "\x80",                     // continuation without a lead
        "\xC3z",                    // truncated 2-byte
        "\xE2\x82z",                // truncated 3-byte
        "\xF0\x9F\x98z",            // truncated 4-byte
    };
    //  Inside a value and a key, without and with an escape in the same
    //  string (yajl hands those over unescaped, from another buffer).
    const char *before [] = {
        "{\n  \"name\": \"web\",\n  \"tags\": {\"Owner\": \"x",
        "{\n  \"name\": \"web\",\n  \"tags\": {\"Owner\": \"x\\n\\u00e9",
        "{\n  \"name\": \"web\",\n  \"tags\": {\"Own",
        "{\n  \"name\": \"web\",\n  \"tags\": {\"O\\twn",
    };
    const char *after [] = { "y\"}\n}", "y\"}\n}", "er\": 1}\n}", "er\": 1}\n}" };
    for (size_t place = 0; place < 4; place++)
        for (size_t index = 0; index < sizeof bad / sizeof *bad; index++) {
            char text [256];
            int size = snprintf (text, sizeof text, "%s%s%s", before [place], bad [index],
                                 after [place]);
            size_t offset = strlen (before [place]);
            size_t line_start = (size_t) (strrchr (before [place], '\n') - before [place]) + 1;
            s_refused_at (text, (size_t) size, NULL, "invalid UTF-8 in string", offset, 3,
                          (int) (offset - line_start) + 1);
        }
}

Test (jdoc, lone_surrogate_escapes_are_refused_at_the_escape)
{
    const char *bad [] = { "\\ud800", "\\uDBFF", "\\udc00", "\\ud800\\u0041", "\\ud800x",
                           "\\ud800\\ud800", "\\ud83d\\ude00 and \\udfff" };
    size_t skip [] = { 0, 0, 0, 0, 0, 0, 17 };
    for (size_t index = 0; index < sizeof bad / sizeof *bad; index++) {
        char text [128];
        int size = snprintf (text, sizeof text, "[1,\n \"a%s\"]", bad [index]);
        s_refused_at (text, (size_t) size, NULL, "\\u escape of a lone surrogate half",
                      7 + skip [index], 2, 4 + (int) skip [index]);
        //  The same in a key.
        size = snprintf (text, sizeof text, "{\"k\":1,\n \"a%s\":2}", bad [index]);
        s_refused_at (text, (size_t) size, NULL, "\\u escape of a lone surrogate half",
                      11 + skip [index], 2, 4 + (int) skip [index]);
    }
}

Test (jdoc, grammar_errors_say_where)
{
    const char *text = "[1,\n  2\n  3]";
    s_refused_at (text, strlen (text), NULL, "after array element", 10, 3, 3);
    text = "{\"a\":1,\n\"b\" 2}";
    s_refused_at (text, strlen (text), NULL, "object key and value must be separated", 12, 2, 5);
    text = "{\"a\":1,}";
    s_refused_at (text, strlen (text), NULL, "invalid object key", 7, 1, 8);
    text = "[true,\n  tru]";
    s_refused_at (text, strlen (text), NULL, "invalid literal", 9, 2, 3);
    text = "[1, @]";
    s_refused_at (text, strlen (text), NULL, "invalid character in JSON text", 4, 1, 5);
    text = "[\"a\\x\"]";
    s_refused_at (text, strlen (text), NULL, "invalid escape in string", 3, 1, 4);
    text = "[\"a\x01\"]";
    s_refused_at (text, strlen (text), NULL, "control character in string", 3, 1, 4);
    text = "[1.]";
    s_refused_at (text, strlen (text), NULL, "malformed number", 3, 1, 4);
    text = "\xEF\xBB\xBF{}";
    s_refused_at (text, strlen (text), NULL, "invalid character in JSON text", 0, 1, 1);
}

Test (jdoc, comments_are_refused)
{
    const char *text = "{\"a\": 1 /* why */}";
    s_refused_at (text, strlen (text), NULL, "comments are not allowed in JSON", 8, 1, 9);
    text = "// plan\n{}";
    s_refused_at (text, strlen (text), NULL, "comments are not allowed in JSON", 0, 1, 1);
}

Test (jdoc, vertical_tab_and_form_feed_are_not_white_space)
{
    const char *text = "[1,\v2]";
    s_refused_at (text, strlen (text), NULL, "invalid character: vertical tab", 3, 1, 4);
    text = "\f{}";
    s_refused_at (text, strlen (text), NULL, "invalid character: form feed", 0, 1, 1);
    text = "[\"a\vb\"]";
    s_refused_at (text, strlen (text), NULL, "invalid character: vertical tab", 3, 1, 4);
    text = "[1 2,\v]";
    s_refused_at (text, strlen (text), NULL, "after array element", 3, 1, 4);
    text = "{} \"a\v\"";
    s_refused_at (text, strlen (text), NULL, "trailing data after the document", 3, 1, 4);
    text = "{}\v";
    s_refused_at (text, strlen (text), NULL, "invalid character: vertical tab", 2, 1, 3);
}

Test (jdoc, trailing_data_is_refused)
{
    const char *text = "{} x";
    s_refused_at (text, strlen (text), NULL, "trailing data after the document", 3, 1, 4);
    text = "{\"a\":1}\n\n  {\"b\":2}";
    s_refused_at (text, strlen (text), NULL, "trailing data after the document", 11, 3, 3);
    text = "[1] ]";
    s_refused_at (text, strlen (text), NULL, "trailing data after the document", 4, 1, 5);
    text = "\"a\" \"b\"";
    s_refused_at (text, strlen (text), NULL, "trailing data after the document", 4, 1, 5);
    text = "1 2";
    s_refused_at (text, strlen (text), NULL, "trailing data after the document", 2, 1, 3);
    //  Tokens that the end of the input cuts short, after a whole document.
    text = "3\"";
    s_refused_at (text, strlen (text), NULL, "trailing data after the document", 1, 1, 2);
    text = "{}\n \"abc";
    s_refused_at (text, strlen (text), NULL, "trailing data after the document", 4, 2, 2);
    text = "[1] \"\\u12";
    s_refused_at (text, strlen (text), NULL, "trailing data after the document", 4, 1, 5);
    text = "null tr";
    s_refused_at (text, strlen (text), NULL, "trailing data after the document", 5, 1, 6);
    text = "\"a\" 1.";
    s_refused_at (text, strlen (text), NULL, "trailing data after the document", 4, 1, 5);
    jdoc_t *doc = s_parse (" {\"a\":1} \r\n\t ");
    jdoc_destroy (&doc);
    doc = s_parse ("7");
    cr_assert_str_eq (jdoc_number (jdoc_root (doc), NULL), "7");
    jdoc_destroy (&doc);
}

Test (jdoc, empty_input_is_refused)
{
    s_refused_at ("", 0, NULL, "empty input", 0, 1, 1);
    s_refused_at (" \n\t", 3, NULL, "empty input", 3, 2, 2);
    jdoc_error_t error;
    cr_assert_null (jdoc_parse (NULL, 0, NULL, &error));
    cr_assert_str_eq (error.message, "empty input: no JSON value");
    cr_assert_null (jdoc_parse ("", 0, NULL, NULL), "error may be NULL");
}

Test (jdoc, nesting_of_128_is_accepted_and_129_refused)
{
    for (int objects = 0; objects < 2; objects++) {
        char *text = s_nested (128, objects);
        jdoc_t *doc = s_parse (text);
        const jdoc_value_t *value = jdoc_root (doc);
        for (int level = 0; level < 128; level++)
            value = objects ? jdoc_get (value, "a") : jdoc_at (value, 0);
        cr_assert_str_eq (jdoc_number (value, NULL), "1");
        jdoc_destroy (&doc);
        free (text);

        text = s_nested (129, objects);
        size_t at = objects ? 128 * 5 : 128;
        s_refused_at (text, strlen (text), NULL, "nesting deeper than 128", at, 1, (int) at + 1);
        free (text);
    }
}

Test (jdoc, max_depth_is_configurable_up_to_its_limit)
{
    jdoc_limits_t limits = { .max_depth = 3 };
    char *text = s_nested (3, false);
    jdoc_t *doc = jdoc_parse (text, strlen (text), &limits, NULL);
    cr_assert (doc);
    jdoc_destroy (&doc);
    free (text);
    text = s_nested (4, false);
    s_refused_at (text, strlen (text), &limits, "nesting deeper than 3", 3, 1, 4);
    free (text);

    //  Asking for more than JDOC_MAX_DEPTH_LIMIT gets the limit.
    limits.max_depth = 1000000;
    text = s_nested (JDOC_MAX_DEPTH_LIMIT, false);
    doc = jdoc_parse (text, strlen (text), &limits, NULL);
    cr_assert (doc);
    char *dump = s_dump (jdoc_root (doc));
    cr_assert_str_eq (dump, text);
    free (dump);
    jdoc_destroy (&doc);
    free (text);
    text = s_nested (JDOC_MAX_DEPTH_LIMIT + 1, false);
    s_refused_at (text, strlen (text), &limits, "nesting deeper than 1024", 1024, 1, 1025);
    free (text);
}

Test (jdoc, documents_over_max_bytes_are_refused)
{
    jdoc_limits_t limits = { .max_bytes = 10 };
    const char *text = "[1,2,3,45]";
    jdoc_t *doc = jdoc_parse (text, 10, &limits, NULL);
    cr_assert (doc, "exactly max_bytes is allowed");
    jdoc_destroy (&doc);
    text = "[1,\n2,3,4,5]";
    s_refused_at (text, strlen (text), &limits, "document larger than 10 bytes", 10, 2, 7);
}

Test (jdoc, every_truncation_is_refused_without_crashing)
{
    const char *small = "{\"a\":[1,-2.5e3,true,false,null,{}],\"b\":{\"c\":\"d\\u00e9\\n\"},"
                        "\"\xC3\xA9\":\"\xF0\x9F\x98\x80\",\"n\":0,\"s\":\"\\ud83d\\ude00\"}";
    //  And a real resource: the first drift entry of scenario-01, as jdoc dumps it.
    glob_t found;
    s_fixtures (&found);
    char *entry = NULL;
    for (size_t index = 0; index < found.gl_pathc && !entry; index++) {
        if (!strstr (found.gl_pathv [index], "scenario-01"))
            continue;
        size_t size;
        char *text = s_read (found.gl_pathv [index], &size);
        jdoc_t *doc = jdoc_parse (text, size, NULL, NULL);
        entry = s_dump (jdoc_at (jdoc_get (jdoc_root (doc), "resource_drift"), 0));
        jdoc_destroy (&doc);
        free (text);
    }
    globfree (&found);
    cr_assert (entry);
    const char *documents [] = { small, entry };
    for (size_t which = 0; which < 2; which++) {
        size_t size = strlen (documents [which]);
        jdoc_error_t error;
        jdoc_t *doc = s_parse_exact (documents [which], size, NULL, &error);
        cr_assert (doc, "the whole document parses: %s", error.message);
        jdoc_destroy (&doc);
        for (size_t prefix = 0; prefix < size; prefix++) {
            doc = s_parse_exact (documents [which], prefix, NULL, &error);
            cr_assert_null (doc, "prefix of %zu bytes accepted", prefix);
            cr_assert (*error.message);
            cr_assert_leq (error.offset, prefix);
            cr_assert_geq (error.line, 1);
            cr_assert_geq (error.column, 1);
        }
    }
    free (entry);
}

//  --------------------------------------------------------------------------
//  Objects

Test (jdoc, repeated_keys_first_wins_and_all_are_kept)
{
    jdoc_t *doc = s_parse ("{\"a\":1,\"b\":2,\"a\":3}");
    const jdoc_value_t *root = jdoc_root (doc);
    cr_assert_str_eq (jdoc_number (jdoc_get (root, "a"), NULL), "1");
    cr_assert_eq (jdoc_size (root), 3);
    cr_assert_str_eq (jdoc_key_at (root, 2, NULL), "a");
    cr_assert_str_eq (jdoc_number (jdoc_at (root, 2), NULL), "3");
    char *dump = s_dump (root);
    cr_assert_str_eq (dump, "{\"a\":1,\"a\":3,\"b\":2}", "repeats in document order");
    free (dump);
    jdoc_destroy (&doc);

    //  The same in a large object, unsorted, where lookups use the index.
    char text [1024];
    size_t at = (size_t) sprintf (text, "{\"dup\":\"first\"");
    for (int member = 30; member > 0; member--)
        at += (size_t) sprintf (text + at, ",\"k%02d\":%d", member, member);
    sprintf (text + at, ",\"dup\":\"second\",\"k07\":0}");
    doc = s_parse (text);
    root = jdoc_root (doc);
    cr_assert_eq (jdoc_size (root), 33);
    cr_assert_str_eq (jdoc_string (jdoc_get (root, "dup"), NULL), "first");
    cr_assert_str_eq (jdoc_number (jdoc_get (root, "k07"), NULL), "7");
    cr_assert_eq (jdoc_getn (root, "k07x", 3), jdoc_get (root, "k07"));
    cr_assert_null (jdoc_getn (root, "dup", 2));
    cr_assert_str_eq (jdoc_string (jdoc_at (root, 31), NULL), "second");
    jdoc_destroy (&doc);
}

Test (jdoc, large_objects_find_every_key)
{
    //  1000 members in a scrambled order, some keys prefixes of others.
    char *text = (char *) malloc (32 * 1024);
    size_t at = (size_t) sprintf (text, "{");
    for (int member = 0; member < 1000; member++) {
        int key = (member * 389) % 1000;
        at += (size_t) sprintf (text + at, "%s\"key%d\":%d", member ? "," : "", key, key);
    }
    sprintf (text + at, "}");
    jdoc_t *doc = s_parse (text);
    const jdoc_value_t *root = jdoc_root (doc);
    for (int key = 0; key < 1000; key++) {
        char name [16];
        sprintf (name, "key%d", key);
        int64_t value;
        cr_assert (jdoc_int64 (jdoc_get (root, name), &value), "%s", name);
        cr_assert_eq (value, key);
    }
    cr_assert_null (jdoc_get (root, "key"));
    cr_assert_null (jdoc_get (root, "key1000"));
    cr_assert_null (jdoc_get (root, ""));
    cr_assert_null (jdoc_get (root, "zzz"));
    char *dump = s_dump (root);
    cr_assert (strncmp (dump, "{\"key0\":0,\"key1\":1,\"key10\":10,\"key100\":100,", 43) == 0,
               "sorted: %.60s", dump);
    free (dump);
    jdoc_destroy (&doc);
    free (text);
}

Test (jdoc, equal_ignores_member_order_only)
{
    jdoc_t *a = s_parse ("{\"a\":1,\"b\":[1,{\"x\":null,\"y\":true}],\"c\":\"s\"}");
    jdoc_t *b = s_parse ("{\"c\":\"s\",\"b\":[1,{\"y\":true,\"x\":null}],\"a\":1}");
    jdoc_t *c = s_parse ("{\"c\":\"s\",\"b\":[{\"y\":true,\"x\":null},1],\"a\":1}");
    jdoc_t *d = s_parse ("{\"c\":\"s\",\"b\":[1,{\"y\":true,\"x\":null}],\"a\":1.0}");
    jdoc_t *e = s_parse ("{\"c\":\"s\",\"b\":[1,{\"y\":true,\"x\":null}],\"d\":1}");
    cr_assert (jdoc_equal (jdoc_root (a), jdoc_root (b)));
    cr_assert (jdoc_equal (jdoc_root (b), jdoc_root (a)));
    cr_assert_not (jdoc_equal (jdoc_root (a), jdoc_root (c)), "arrays keep their order");
    cr_assert_not (jdoc_equal (jdoc_root (a), jdoc_root (d)), "numbers compare by text");
    cr_assert_not (jdoc_equal (jdoc_root (a), jdoc_root (e)), "different keys");
    cr_assert_not (jdoc_equal (jdoc_root (a), jdoc_get (jdoc_root (a), "a")));
    jdoc_destroy (&a);
    jdoc_destroy (&b);
    jdoc_destroy (&c);
    jdoc_destroy (&d);
    jdoc_destroy (&e);

    //  Large objects (indexed), in opposite orders, one value apart.
    char forward [2048], backward [2048], changed [2048];
    size_t at_f = (size_t) sprintf (forward, "{"), at_b = (size_t) sprintf (backward, "{");
    size_t at_c = (size_t) sprintf (changed, "{");
    for (int member = 0; member < 40; member++) {
        at_f += (size_t) sprintf (forward + at_f, "%s\"m%d\":[%d]", member ? "," : "", member,
                                  member);
        at_b += (size_t) sprintf (backward + at_b, "%s\"m%d\":[%d]", member ? "," : "", 39 - member,
                                  39 - member);
        at_c += (size_t) sprintf (changed + at_c, "%s\"m%d\":[%d]", member ? "," : "", 39 - member,
                                  member == 20 ? 0 : 39 - member);
    }
    strcpy (forward + at_f, "}");
    strcpy (backward + at_b, "}");
    strcpy (changed + at_c, "}");
    a = s_parse (forward);
    b = s_parse (backward);
    c = s_parse (changed);
    cr_assert (jdoc_equal (jdoc_root (a), jdoc_root (b)));
    cr_assert_not (jdoc_equal (jdoc_root (a), jdoc_root (c)));
    jdoc_destroy (&a);
    jdoc_destroy (&b);
    jdoc_destroy (&c);

    //  A repeated key: the order of its own values matters (the first wins).
    a = s_parse ("{\"k\":1,\"x\":0,\"k\":2}");
    b = s_parse ("{\"x\":0,\"k\":1,\"k\":2}");
    c = s_parse ("{\"k\":2,\"x\":0,\"k\":1}");
    cr_assert (jdoc_equal (jdoc_root (a), jdoc_root (b)));
    cr_assert_not (jdoc_equal (jdoc_root (a), jdoc_root (c)));
    jdoc_destroy (&a);
    jdoc_destroy (&b);
    jdoc_destroy (&c);
}

Test (jdoc, accessors_answer_null_for_absent_and_wrong_types)
{
    jdoc_t *doc = s_parse ("{\"s\":\"text\",\"n\":5,\"a\":[true],\"o\":{},\"z\":null}");
    const jdoc_value_t *root = jdoc_root (doc);
    const jdoc_value_t *string = jdoc_get (root, "s"), *number = jdoc_get (root, "n");
    const jdoc_value_t *array = jdoc_get (root, "a"), *empty = jdoc_get (root, "o");
    size_t length = 99;

    cr_assert_null (jdoc_root (NULL));
    cr_assert_eq (jdoc_type (NULL), JDOC_ABSENT);
    cr_assert_eq (jdoc_type (jdoc_get (root, "z")), JDOC_NULL);
    cr_assert_eq (jdoc_type (jdoc_at (array, 0)), JDOC_TRUE);
    cr_assert_null (jdoc_string (number, &length));
    cr_assert_eq (length, 0);
    cr_assert_null (jdoc_string (NULL, NULL));
    cr_assert_null (jdoc_number (string, NULL));
    cr_assert_str_eq (jdoc_string (string, NULL), "text");
    cr_assert_eq (jdoc_size (string), 0);
    cr_assert_eq (jdoc_size (NULL), 0);
    cr_assert_eq (jdoc_size (empty), 0);
    cr_assert_eq (jdoc_size (array), 1);
    cr_assert_null (jdoc_at (array, 1));
    cr_assert_null (jdoc_at (string, 0));
    cr_assert_null (jdoc_at (empty, 0));
    cr_assert_null (jdoc_at (NULL, 0));
    cr_assert_null (jdoc_key_at (array, 0, &length));
    cr_assert_null (jdoc_key_at (root, 5, NULL));
    cr_assert_null (jdoc_key_at (NULL, 0, NULL));
    cr_assert_null (jdoc_get (array, "s"));
    cr_assert_null (jdoc_get (NULL, "s"));
    cr_assert_null (jdoc_get (root, NULL));
    cr_assert_null (jdoc_getn (root, NULL, 0));
    cr_assert_null (jdoc_getn (array, "s", 1));
    cr_assert_null (jdoc_get (root, "missing"));
    cr_assert_null (jdoc_get (jdoc_get (jdoc_get (root, "missing"), "deeper"), "still"));
    cr_assert_not (jdoc_int64 (string, NULL));
    cr_assert (jdoc_equal (NULL, NULL));
    cr_assert_not (jdoc_equal (NULL, root));
    cr_assert (jdoc_equal (jdoc_get (root, "z"), jdoc_get (root, "z")));
    char *dump = s_dump (NULL);
    cr_assert_str_eq (dump, "null");
    free (dump);
    dump = jdoc_dump (empty, &length);
    cr_assert_str_eq (dump, "{}");
    cr_assert_eq (length, 2);
    free (dump);
    jdoc_destroy (&doc);
    cr_assert_null (doc);
    jdoc_destroy (&doc);
}

//  --------------------------------------------------------------------------
//  Size

Test (jdoc, a_20mb_generated_plan_parses, .timeout = 300)
{
    size_t size;
    char *text = plangen_generate (20000000, &size);
    cr_assert (text);
    jdoc_error_t error;
    jdoc_t *doc = jdoc_parse (text, size, NULL, &error);
    cr_assert (doc, "%s at line %d, column %d", error.message, error.line, error.column);
    const jdoc_value_t *drift = jdoc_get (jdoc_root (doc), "resource_drift");
    size_t entries = jdoc_size (drift);
    cr_assert_gt (entries, 1000);
    for (size_t index = 0; index < entries; index++) {
        const jdoc_value_t *entry = jdoc_at (drift, index);
        const char *address = jdoc_string (jdoc_get (entry, "address"), NULL);
        cr_assert (address && strncmp (address, "module.tenant[\"", 15) == 0, "entry %zu", index);
        const jdoc_value_t *change = jdoc_get (entry, "change");
        cr_assert_str_eq (jdoc_string (jdoc_at (jdoc_get (change, "actions"), 0), NULL), "update");
        cr_assert_not (jdoc_equal (jdoc_get (change, "before"), jdoc_get (change, "after")));
    }
    //  Dumped and parsed again, the same document.
    size_t dump_size;
    char *dump = jdoc_dump (jdoc_root (doc), &dump_size);
    jdoc_t *again = jdoc_parse (dump, dump_size, NULL, &error);
    cr_assert (again, "%s", error.message);
    cr_assert (jdoc_equal (jdoc_root (doc), jdoc_root (again)));
    jdoc_destroy (&again);
    free (dump);
    jdoc_destroy (&doc);
    free (text);
}
