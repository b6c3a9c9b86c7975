/*  The log line writer under values an agent controls: a failure reason or
    plan diagnostic of kilobytes, many long fields, a long key, control
    characters. Every line stays inside its buffer (ASan watches the stack),
    keeps its first fields, marks a cut value with its full size, and reads
    back with log_line_field. Issue 16, item 4: before the clamp, a value
    longer than the line made s_logfmt_pair write past its buffer.
*/
#include "../lib/log.h"

#include <criterion/criterion.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

//  The last line logged on this thread, as the publisher saw it.
static char s_line [8192];

static void
s_capture (void *arg, log_level_t level, const char *line)
{
    (void) arg;
    (void) level;
    snprintf (s_line, sizeof s_line, "%s", line);
}

static char *
s_filled (size_t size, char c)
{
    char *text = (char *) malloc (size + 1);
    memset (text, c, size);
    text [size] = 0;
    return text;
}

static void
s_setup (const char *format)
{
    cr_assert_eq (log_init ("test", format, "debug"), 0);
    log_set_publisher (s_capture, NULL);
    s_line [0] = 0;
}

Test (log, caps_a_value_longer_than_the_line)
{
    s_setup ("logfmt");
    char *reason = s_filled (64 * 1024, 'x');
    log_warn ("report failed", "reason", reason, "report_id", "r-1");
    cr_assert_lt (strlen (s_line), 4096);
    char value [2048];
    cr_assert_eq (log_line_field (s_line, "reason", value, sizeof value), 0);
    cr_assert_eq (strncmp (value, reason, 1024), 0, "the first 1024 bytes are kept");
    cr_assert_str_eq (value + 1024, "\xe2\x80\xa6(65536 bytes)");
    //  The field after the long one is still on the line.
    cr_assert_eq (log_line_field (s_line, "report_id", value, sizeof value), 0);
    cr_assert_str_eq (value, "r-1");
    free (reason);
}

Test (log, many_long_values_stop_at_the_end_of_the_line)
{
    s_setup ("logfmt");
    //  Quotes double in size when escaped: 1 KiB of them is 2 KiB of line.
    char *quotes = s_filled (1000, '"');
    log_error ("failed", "a", quotes, "b", quotes, "c", quotes, "d", quotes, "e", quotes,
               "f", quotes, "g", quotes);
    size_t length = strlen (s_line);
    cr_assert_lt (length, 4096);
    cr_assert_gt (length, 3000, "the line is filled, not emptied");
    char value [2048];
    cr_assert_eq (log_line_field (s_line, "msg", value, sizeof value), 0);
    cr_assert_str_eq (value, "failed");
    cr_assert_eq (log_line_field (s_line, "a", value, sizeof value), 0);
    cr_assert_str_eq (value, quotes);
    cr_assert_neq (log_line_field (s_line, "g", value, sizeof value), 0,
                   "a pair that does not fit is left out");
    free (quotes);
}

Test (log, a_key_longer_than_the_line_is_left_out)
{
    s_setup ("logfmt");
    char *key = s_filled (5000, 'k');
    char *value = s_filled (4000, 'v');
    log_info ("hello", "first", value, key, "v", "last", value);
    cr_assert_lt (strlen (s_line), 4096);
    char read [64];
    cr_assert_eq (log_line_field (s_line, "msg", read, sizeof read), 0);
    cr_assert_str_eq (read, "hello");
    free (key);
    free (value);
}

Test (log, a_cut_keeps_whole_utf8_characters)
{
    s_setup ("logfmt");
    //  1023 ASCII bytes then a 3-byte character across the 1024th byte.
    char text [2048];
    memset (text, 'a', 1023);
    strcpy (text + 1023, "\xe2\x82\xac\xe2\x82\xac");
    log_info ("utf8", "v", text);
    char value [2048];
    cr_assert_eq (log_line_field (s_line, "v", value, sizeof value), 0);
    cr_assert_eq (strncmp (value + 1023, "\xe2\x80\xa6(1029 bytes)", 16), 0, "%s", value + 1020);
}

Test (log, control_characters_are_escaped_or_replaced)
{
    s_setup ("logfmt");
    log_info ("escapes", "v", "a\"b\\c\nd\re\tf\x1b[31mg\x7f");
    cr_assert_null (strpbrk (s_line, "\n\r\t\x1b\x7f"), "no raw control character: %s", s_line);
    char value [256];
    cr_assert_eq (log_line_field (s_line, "v", value, sizeof value), 0);
    cr_assert_str_eq (value, "a\"b\\c\nd\re\tf?[31mg?");
}

Test (log, json_lines_stay_whole_json)
{
    s_setup ("json");
    char *reason = s_filled (64 * 1024, 'y');
    log_warn ("report failed", "reason", reason, "report_id", "r-2");
    cr_assert_lt (strlen (s_line), 4096);
    json_t *line = json_loads (s_line, 0, NULL);
    cr_assert_not_null (line, "%s", s_line);
    const char *value = json_string_value (json_object_get (line, "reason"));
    cr_assert_not_null (value);
    cr_assert_str_eq (value + 1024, "\xe2\x80\xa6(65536 bytes)");
    cr_assert_str_eq (json_string_value (json_object_get (line, "report_id")), "r-2");
    json_decref (line);

    //  Too many long values for one line: the fields after msg go, and it says so.
    log_warn ("many", "a", reason, "b", reason, "c", reason, "d", reason, "e", reason);
    cr_assert_lt (strlen (s_line), 4096);
    line = json_loads (s_line, 0, NULL);
    cr_assert_not_null (line, "%s", s_line);
    cr_assert_str_eq (json_string_value (json_object_get (line, "msg")), "many");
    cr_assert_null (json_object_get (line, "a"));
    cr_assert_not_null (json_object_get (line, "fields_dropped"));
    json_decref (line);
    free (reason);
}
