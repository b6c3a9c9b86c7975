/*  log: formatting of operator log lines (logfmt or JSON via jansson) and
    their delivery to stderr and to the calling thread's publisher. A line is
    written with one fputs so lines of several threads never interleave.
    Reading a field back out of a line lives here too, beside the writer
    whose quoting it undoes.
*/
#include "log.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define LINE_MAX_BYTES 4096
//  Longest value logged whole; see s_capped.
#define LOG_VALUE_MAX_BYTES 1024

static char s_role [64] = "drift";
static char s_instance [300];
static log_format_t s_format = LOG_FORMAT_LOGFMT;
static log_level_t s_min_level = LOG_LEVEL_INFO;
static _Thread_local log_publisher_fn *s_publisher;
static _Thread_local void *s_publisher_arg;

static const char *s_level_names [] = { "debug", "info", "warn", "error" };

int
log_level_parse (const char *name)
{
    for (int i = 0; i < 4; i++)
        if (strcmp (name, s_level_names [i]) == 0)
            return i;
    return -1;
}

const char *
log_level_name (log_level_t level)
{
    return level <= LOG_LEVEL_ERROR ? s_level_names [level] : "?";
}

int
log_init (const char *role, const char *format, const char *level)
{
    int parsed = log_level_parse (level);
    if (parsed < 0)
        return -1;
    if (strcmp (format, "logfmt") == 0)
        s_format = LOG_FORMAT_LOGFMT;
    else
    if (strcmp (format, "json") == 0)
        s_format = LOG_FORMAT_JSON;
    else
        return -1;
    s_min_level = (log_level_t) parsed;
    snprintf (s_role, sizeof s_role, "%s", role);
    s_instance [0] = 0;
    return 0;
}

const char *
log_role (void)
{
    return s_role;
}

const char *
log_instance (void)
{
    if (!s_instance [0]) {
        char host [256] = "unknown";
        gethostname (host, sizeof host - 1);
        snprintf (s_instance, sizeof s_instance, "%.250s/%d", host, (int) getpid ());
    }
    return s_instance;
}

void
log_set_publisher (log_publisher_fn *publisher, void *arg)
{
    s_publisher = publisher;
    s_publisher_arg = arg;
}

char *
log_number (char *buf, long long value)
{
    snprintf (buf, 24, "%lld", value);
    return buf;
}

//  --------------------------------------------------------------------------
//  Formatting

static void
s_timestamp (char *buf, size_t size)
{
    struct timeval tv;
    gettimeofday (&tv, NULL);
    struct tm tm;
    gmtime_r (&tv.tv_sec, &tm);
    size_t n = strftime (buf, size, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf (buf + n, size - n, ".%03dZ", (int) (tv.tv_usec / 1000));
}

//  A value longer than LOG_VALUE_MAX_BYTES is cut there (at a UTF-8
//  character boundary) and marked with its full size, into buf. An agent's
//  failure reason or a plan diagnostic can be kilobytes: the line keeps its
//  other fields and says how much was left out.
static const char *
s_capped (const char *value, char *buf, size_t size)
{
    size_t length = strlen (value);
    if (length <= LOG_VALUE_MAX_BYTES)
        return value;
    size_t cut = LOG_VALUE_MAX_BYTES;
    while (cut > 0 && ((unsigned char) value [cut] & 0xC0) == 0x80)
        cut--;
    snprintf (buf, size, "%.*s\u2026(%zu bytes)", (int) cut, value, length);
    return buf;
}

//  Append key=value, quoting the value when logfmt needs it. The line never
//  grows past LINE_MAX_BYTES - 1: what does not fit is left out, and a value
//  cut by the end of the line still gets its closing quote.
static void
s_logfmt_pair (char *line, size_t *len, const char *key, const char *value)
{
    size_t n = *len;
    if (n >= LINE_MAX_BYTES - 4)
        return;                 // full: no room for another pair
    char capped [LOG_VALUE_MAX_BYTES + 40];
    value = s_capped (value, capped, sizeof capped);
    int quote = value [0] == 0 || strpbrk (value, " =\"\\\t\r\n") != NULL;
    int wrote = snprintf (line + n, LINE_MAX_BYTES - n, "%s%s=%s", n ? " " : "", key,
                          quote ? "\"" : "");
    if (wrote < 0 || (size_t) wrote >= LINE_MAX_BYTES - n - 2) {
        line [n] = 0;           // the key alone does not fit: the pair is left out
        return;
    }
    n += (size_t) wrote;
    //  Each character takes at most two bytes; room stays for the quote and NUL.
    for (const char *c = value; *c && n < LINE_MAX_BYTES - 4; c++) {
        unsigned char ch = (unsigned char) *c;
        if (ch == '"' || ch == '\\') {
            line [n++] = '\\';
            line [n++] = (char) ch;
        }
        else
        if (ch == '\n' || ch == '\r' || ch == '\t') {
            line [n++] = '\\';
            line [n++] = ch == '\n' ? 'n' : ch == '\r' ? 'r' : 't';
        }
        else
            //  Other control characters (terminal escapes) never reach a terminal.
            line [n++] = ch < 0x20 || ch == 0x7f ? '?' : (char) ch;
    }
    if (quote)
        line [n++] = '"';
    line [n] = 0;
    *len = n;
}

//  The JSON line: every value capped like logfmt's. If the line would still
//  not fit, the fields after msg are dropped and the line says so, so a
//  JSON line is always a whole JSON object.
static void
s_json_line (char *line, size_t size, const char *stamp, log_level_t level,
             const char *message, va_list args)
{
    char capped [LOG_VALUE_MAX_BYTES + 40];
    json_t *object = json_object ();
    json_object_set_new (object, "time", json_string (stamp));
    json_object_set_new (object, "level", json_string (log_level_name (level)));
    json_object_set_new (object, "role", json_string (s_role));
    json_object_set_new (object, "instance", json_string (log_instance ()));
    json_object_set_new (object, "msg", json_string (s_capped (message, capped, sizeof capped)));
    size_t fields = json_object_size (object);
    const char *key;
    while ((key = va_arg (args, const char *))) {
        const char *value = va_arg (args, const char *);
        if (value)
            json_object_set_new (object, key, json_string (s_capped (value, capped, sizeof capped)));
    }
    char *text = json_dumps (object, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (!text || strlen (text) >= size) {
        size_t length = text ? strlen (text) : 0;
        free (text);
        //  Keep the first fields (time .. msg), drop the rest.
        void *iter = json_object_iter (object);
        for (size_t i = 0; iter && i < fields; i++)
            iter = json_object_iter_next (object, iter);
        while (iter) {
            const char *name = json_object_iter_key (iter);
            iter = json_object_iter_next (object, iter);
            json_object_del (object, name);
        }
        json_object_set_new (object, "fields_dropped", json_sprintf ("%zu bytes", length));
        text = json_dumps (object, JSON_COMPACT | JSON_PRESERVE_ORDER);
    }
    snprintf (line, size, "%s", text && strlen (text) < size ? text : "{}");
    free (text);
    json_decref (object);
}

void
log_event (log_level_t level, const char *message, ...)
{
    if (level < s_min_level)
        return;
    char stamp [40];
    s_timestamp (stamp, sizeof stamp);
    char line [LINE_MAX_BYTES] = "";
    va_list args;
    va_start (args, message);
    if (s_format == LOG_FORMAT_JSON)
        s_json_line (line, sizeof line, stamp, level, message, args);
    else {
        size_t len = 0;
        s_logfmt_pair (line, &len, "time", stamp);
        s_logfmt_pair (line, &len, "level", log_level_name (level));
        s_logfmt_pair (line, &len, "role", s_role);
        s_logfmt_pair (line, &len, "instance", log_instance ());
        s_logfmt_pair (line, &len, "msg", message);
        const char *key;
        while ((key = va_arg (args, const char *))) {
            const char *value = va_arg (args, const char *);
            if (value)
                s_logfmt_pair (line, &len, key, value);
        }
    }
    va_end (args);
    char out [LINE_MAX_BYTES + 2];
    snprintf (out, sizeof out, "%s\n", line);
    fputs (out, stderr);
    if (s_publisher)
        s_publisher (s_publisher_arg, level, line);
}

//  --------------------------------------------------------------------------
//  Reading fields back

//  Copy len bytes of src into value, cut to size - 1.
static void
s_copy_value (char *value, size_t size, const char *src, size_t len)
{
    if (len > size - 1)
        len = size - 1;
    memcpy (value, src, len);
    value [len] = 0;
}

static int
s_json_field (const char *line, const char *key, char *value, size_t size)
{
    json_t *object = json_loads (line, JSON_DISABLE_EOF_CHECK, NULL);
    json_t *field = json_object_get (object, key);
    int rc = json_is_string (field) ? 0 : -1;
    if (rc == 0)
        s_copy_value (value, size, json_string_value (field),
                      json_string_length (field));
    json_decref (object);
    return rc;
}

//  logfmt as s_logfmt_pair writes it: key=value pairs apart by spaces, a
//  value in double quotes when it needs them, with \", \\ and \n inside.
static int
s_logfmt_field (const char *line, const char *key, char *value, size_t size)
{
    size_t key_len = strlen (key);
    const char *p = line;
    while (*p) {
        while (*p == ' ')
            p++;
        const char *name = p;
        while (*p && *p != '=' && *p != ' ')
            p++;
        size_t name_len = (size_t) (p - name);
        if (*p != '=')
            continue;           // a bare word, not a pair
        p++;
        bool wanted = name_len == key_len && memcmp (name, key, key_len) == 0;
        size_t len = 0;
        if (*p == '"') {
            for (p++; *p && *p != '"'; p++) {
                char c = *p;
                if (c == '\\' && p [1]) {
                    p++;
                    c = *p == 'n' ? '\n' : *p == 'r' ? '\r' : *p == 't' ? '\t' : *p;
                }
                if (wanted && len < size - 1)
                    value [len++] = c;
            }
            if (*p == '"')
                p++;
        }
        else {
            const char *start = p;
            while (*p && *p != ' ')
                p++;
            if (wanted) {
                s_copy_value (value, size, start, (size_t) (p - start));
                return 0;
            }
        }
        if (wanted) {
            value [len] = 0;
            return 0;
        }
    }
    return -1;
}

int
log_line_field (const char *line, const char *key, char *value, size_t size)
{
    if (size == 0)
        return -1;
    value [0] = 0;
    return line [0] == '{' ? s_json_field (line, key, value, size)
                           : s_logfmt_field (line, key, value, size);
}
