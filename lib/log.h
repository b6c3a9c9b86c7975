/*  log: one line per event, for operators.

    Every role logs through here: a line has time, level, role, instance
    (host/pid), message and key/value fields (report id, tenant, stage...), as
    logfmt (default) or JSON. Lines go to stderr, and the same line is handed
    to the calling thread's publisher, if it set one: the actor runtime and the
    broker use that to carry lines to `drift tail` on a channel apart from data.
    The publisher is per thread because ZeroMQ sockets belong to one thread.
*/
#ifndef LOG_H_INCLUDED
#define LOG_H_INCLUDED

#include <stddef.h>
#include <stdint.h>

typedef enum {
    LOG_LEVEL_DEBUG = 0,
    LOG_LEVEL_INFO = 1,
    LOG_LEVEL_WARN = 2,
    LOG_LEVEL_ERROR = 3
} log_level_t;

typedef enum { LOG_FORMAT_LOGFMT, LOG_FORMAT_JSON } log_format_t;

//  Receives each formatted line (without newline) logged on this thread.
typedef void (log_publisher_fn) (void *arg, log_level_t level, const char *line);

//  Set the process-wide role, format and minimum level. Returns -1 if format
//  or level is not a known name.
int log_init (const char *role, const char *format, const char *level);

//  Role and instance ("host/pid") of this process.
const char *log_role (void);
const char *log_instance (void);

//  Parse "debug", "info", "warn", "error"; -1 if unknown.
int log_level_parse (const char *name);
const char *log_level_name (log_level_t level);

//  Publisher for lines logged by the calling thread (NULL to stop).
void log_set_publisher (log_publisher_fn *publisher, void *arg);

//  Log message with NULL-terminated key, value string pairs. A NULL value is
//  skipped, so optional fields (tenant, report id) can be passed as they are.
void log_event (log_level_t level, const char *message, ...);

#define log_debug(...) log_event (LOG_LEVEL_DEBUG, __VA_ARGS__, NULL)
#define log_info(...) log_event (LOG_LEVEL_INFO, __VA_ARGS__, NULL)
#define log_warn(...) log_event (LOG_LEVEL_WARN, __VA_ARGS__, NULL)
#define log_error(...) log_event (LOG_LEVEL_ERROR, __VA_ARGS__, NULL)

//  The value of field key in a line as this module formats it (logfmt, or
//  JSON when the line starts with '{'), unquoted and unescaped, into value
//  (size bytes, cut to fit). Returns 0, or -1 if the line has no such field.
//  This is how `drift tail` filters lines by tenant or report id.
int log_line_field (const char *line, const char *key, char *value, size_t size);

//  Format a number for a field value: LOG_NUM (count). The buffer lives in
//  the caller's block.
#define LOG_NUM(n) log_number ((char [24]) { 0 }, (long long) (n))
char *log_number (char *buf, long long value);

#endif
