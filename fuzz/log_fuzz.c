/*  log_fuzz: libFuzzer target for the log line writer (lib/log.c), which
    formats values agents control (failure reasons, plan diagnostics, stack
    names). The input is split at NUL bytes into a message and up to six
    key/value pairs, logged in logfmt and then in JSON. Any input must give a
    line shorter than the line buffer (ASan watches the stack for the
    overflow of issue 16), a JSON line must parse, and in logfmt the message
    must read back with log_line_field. The asserts check the writer's
    invariants, not the input. Built and run by scripts/fuzz (with
    -close_fd_mask=2: the lines also go to stderr, which would slow the run).
*/
#include "../lib/log.h"

#include <assert.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FIELDS 13                // message + six key/value pairs

static char s_line [8192];       // the line the publisher saw last
static int s_lines;              // lines it saw

static void
s_capture (void *arg, log_level_t level, const char *line)
{
    (void) arg;
    (void) level;
    assert (strlen (line) < 4096);
    snprintf (s_line, sizeof s_line, "%s", line);
    s_lines++;
}

static void
s_log (const char **parts)
{
    log_event (LOG_LEVEL_WARN, parts [0], parts [1], parts [2], parts [3], parts [4],
               parts [5], parts [6], parts [7], parts [8], parts [9], parts [10],
               parts [11], parts [12], NULL);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    char *text = (char *) malloc (size + 1);
    memcpy (text, data, size);
    text [size] = 0;
    //  Split at NULs; a key that is empty or missing ends the pairs.
    const char *parts [FIELDS] = { 0 };
    const char *at = text;
    int count = 0;
    while (count < FIELDS && at <= text + size) {
        parts [count++] = at;
        at += strlen (at) + 1;
    }
    for (int i = 1; i < count; i += 2)
        if (!*parts [i] || i + 1 >= count) {
            parts [i] = NULL;
            break;
        }
    for (int i = count; i < FIELDS; i++)
        parts [i] = NULL;

    log_init ("fuzz", "logfmt", "debug");
    log_set_publisher (s_capture, NULL);
    s_lines = 0;
    s_log (parts);
    assert (s_lines == 1);
    char message [2048];
    assert (log_line_field (s_line, "msg", message, sizeof message) == 0);
    //  A short message without control characters reads back as it was.
    if (strlen (parts [0]) < 512 && !strpbrk (parts [0], "\x01\x02\x03\x04\x05\x06\x07\x08"
                                                          "\x0b\x0c\x0e\x0f\x10\x11\x12\x13"
                                                          "\x14\x15\x16\x17\x18\x19\x1a\x1b"
                                                          "\x1c\x1d\x1e\x1f\x7f"))
        assert (strcmp (message, parts [0]) == 0);

    log_init ("fuzz", "json", "debug");
    s_log (parts);
    assert (s_lines == 2);
    json_t *line = json_loads (s_line, 0, NULL);
    //  jansson refuses what is not UTF-8, and such a value is left out, so
    //  the line is JSON whatever the input.
    assert (line);
    json_decref (line);
    log_set_publisher (NULL, NULL);
    free (text);
    return 0;
}
