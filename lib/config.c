/*  config: defaults < file < environment < command line, with errors that say
    which source held the bad value. See config.h.
*/
#include "config.h"

#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CONFIG_MAX_OPTIONS 64
#define CONFIG_MAX_ARGS 16

struct _config_t {
    const config_option_t *options;     // the role's table, CONFIG_END terminated
    char *values [CONFIG_MAX_OPTIONS];  // current value of each option (owned)
    char *args [CONFIG_MAX_ARGS];       // positional arguments (borrowed from argv)
    int argc;                           // number of positional arguments
};

static int
s_find (config_t *self, const char *name, size_t len)
{
    for (int i = 0; self->options [i].name; i++)
        if (strlen (self->options [i].name) == len
        &&  strncmp (self->options [i].name, name, len) == 0)
            return i;
    return -1;
}

static int
s_set (config_t *self, int index, const char *value, const char *source)
{
    if (self->options [index].type == CONFIG_INT) {
        char *end;
        errno = 0;
        strtol (value, &end, 10);
        if (errno || end == value || *end) {
            fprintf (stderr, "drift: option %s: '%s' is not a whole number (from %s)\n",
                     self->options [index].name, value, source);
            return -1;
        }
    }
    free (self->values [index]);
    self->values [index] = strdup (value);
    return 0;
}

static char *
s_trim (char *text)
{
    while (isspace ((unsigned char) *text))
        text++;
    char *end = text + strlen (text);
    while (end > text && isspace ((unsigned char) end [-1]))
        *--end = 0;
    return text;
}

static int
s_load_file (config_t *self, const char *path)
{
    FILE *file = fopen (path, "r");
    if (!file) {
        fprintf (stderr, "drift: cannot read config file %s: %s\n", path, strerror (errno));
        return -1;
    }
    char buffer [1024];
    int line_number = 0;
    int rc = 0;
    while (rc == 0 && fgets (buffer, sizeof buffer, file)) {
        line_number++;
        char *line = s_trim (buffer);
        if (*line == 0 || *line == '#')
            continue;
        char *equals = strchr (line, '=');
        char source [1100];
        snprintf (source, sizeof source, "%s:%d", path, line_number);
        if (!equals) {
            fprintf (stderr, "drift: %s: expected `name = value`\n", source);
            rc = -1;
            break;
        }
        *equals = 0;
        char *name = s_trim (line);
        int index = s_find (self, name, strlen (name));
        if (index < 0) {
            fprintf (stderr, "drift: %s: unknown option '%s'\n", source, name);
            rc = -1;
        }
        else
            rc = s_set (self, index, s_trim (equals + 1), source);
    }
    fclose (file);
    return rc;
}

static void
s_print_help (config_t *self, const char *role, const char *summary)
{
    printf ("usage: drift %s [options]\n\n%s\n\noptions (environment DRIFT_<NAME>):\n",
            role, summary);
    for (int i = 0; self->options [i].name; i++) {
        const config_option_t *o = &self->options [i];
        printf ("  --%-18s %s", o->name, o->help);
        if (*o->default_value)
            printf (" (default: %s)", o->default_value);
        printf ("\n");
    }
    printf ("  --%-18s %s\n", "help", "print this help and exit");
}

config_t *
config_load (const char *role, const char *summary, const config_option_t *options,
             int argc, char **argv, int *exit_code)
{
    config_t *self = calloc (1, sizeof *self);
    assert (self);
    self->options = options;
    int count = 0;
    for (; options [count].name; count++)
        self->values [count] = strdup (options [count].default_value);
    assert (count <= CONFIG_MAX_OPTIONS);
    *exit_code = 2;

    //  The config file is named on the command line or in the environment,
    //  and is read before either of them is applied.
    const char *file = getenv ("DRIFT_CONFIG");
    for (int i = 1; i < argc; i++) {
        if (strcmp (argv [i], "--help") == 0 || strcmp (argv [i], "-h") == 0) {
            s_print_help (self, role, summary);
            *exit_code = 0;
            goto fail;
        }
        if (strcmp (argv [i], "--config") == 0 && i + 1 < argc)
            file = argv [i + 1];
        else
        if (strncmp (argv [i], "--config=", 9) == 0)
            file = argv [i] + 9;
    }
    if (file && *file && s_load_file (self, file))
        goto fail;

    for (int i = 0; options [i].name; i++) {
        char env [128] = "DRIFT_";
        size_t n = 6;
        for (const char *c = options [i].name; *c && n < sizeof env - 1; c++)
            env [n++] = *c == '-' ? '_' : (char) toupper ((unsigned char) *c);
        env [n] = 0;
        const char *value = getenv (env);
        if (value && s_set (self, i, value, env))
            goto fail;
    }

    for (int i = 1; i < argc; i++) {
        const char *arg = argv [i];
        if (strncmp (arg, "--", 2) != 0) {
            if (self->argc == CONFIG_MAX_ARGS) {
                fprintf (stderr, "drift %s: too many arguments\n", role);
                goto fail;
            }
            self->args [self->argc++] = argv [i];
            continue;
        }
        const char *name = arg + 2;
        const char *equals = strchr (name, '=');
        size_t len = equals ? (size_t) (equals - name) : strlen (name);
        int index = s_find (self, name, len);
        if (index < 0) {
            fprintf (stderr, "drift %s: unknown option '%s' (see --help)\n", role, arg);
            goto fail;
        }
        const char *value = equals ? equals + 1 : (i + 1 < argc ? argv [++i] : NULL);
        if (!value) {
            fprintf (stderr, "drift %s: option %s needs a value\n", role, arg);
            goto fail;
        }
        if (s_set (self, index, value, "command line"))
            goto fail;
    }
    *exit_code = 0;
    return self;
fail:
    config_destroy (&self);
    return NULL;
}

void
config_destroy (config_t **self_p)
{
    if (*self_p) {
        config_t *self = *self_p;
        for (int i = 0; self->options [i].name; i++)
            free (self->values [i]);
        free (self);
        *self_p = NULL;
    }
}

const char *
config_get (config_t *self, const char *name)
{
    int index = s_find (self, name, strlen (name));
    assert (index >= 0);
    return self->values [index];
}

bool
config_has (config_t *self, const char *name)
{
    return s_find (self, name, strlen (name)) >= 0;
}

long
config_get_int (config_t *self, const char *name)
{
    return strtol (config_get (self, name), NULL, 10);
}

int
config_argc (config_t *self)
{
    return self->argc;
}

const char *
config_argv (config_t *self, int index)
{
    return index < self->argc ? self->args [index] : NULL;
}
