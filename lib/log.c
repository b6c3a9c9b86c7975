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

//  Append key=value, quoting the value when logfmt needs it.
static void
s_logfmt_pair (char *line, size_t *len, const char *key, const char *value)
{
    int quote = value [0] == 0 || strpbrk (value, " =\"\\\t\n") != NULL;
    size_t n = *len;
    n += (size_t) snprintf (line + n, LINE_MAX_BYTES - n, "%s%s=%s", n ? " " : "", key,
                            quote ? "\"" : "");
    for (const char *c = value; *c && n < LINE_MAX_BYTES - 4; c++) {
        if (*c == '"' || *c == '\\')
            line [n++] = '\\';
        if (*c == '\n') {
            line [n++] = '\\';
            line [n++] = 'n';
        }
        else
            line [n++] = *c;
    }
    if (quote && n < LINE_MAX_BYTES - 1)
        line [n++] = '"';
    line [n] = 0;
    *len = n;
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
    if (s_format == LOG_FORMAT_JSON) {
        json_t *object = json_object ();
        json_object_set_new (object, "time", json_string (stamp));
        json_object_set_new (object, "level", json_string (log_level_name (level)));
        json_object_set_new (object, "role", json_string (s_role));
        json_object_set_new (object, "instance", json_string (log_instance ()));
        json_object_set_new (object, "msg", json_string (message));
        const char *key;
        while ((key = va_arg (args, const char *))) {
            const char *value = va_arg (args, const char *);
            if (value)
                json_object_set_new (object, key, json_string (value));
        }
        char *text = json_dumps (object, JSON_COMPACT | JSON_PRESERVE_ORDER);
        snprintf (line, sizeof line, "%s", text ? text : "{}");
        free (text);
        json_decref (object);
    }
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
                    c = *p == 'n' ? '\n' : *p;
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
