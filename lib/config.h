/*  config: the one loader of settings for every role.

    A role declares its options (name, type, default, help). Values are taken,
    later ones winning, from the defaults, a config file (`--config FILE` or
    DRIFT_CONFIG; lines `name = value`, `#` comments), environment variables
    (DRIFT_ + the name upper-cased with `-` as `_`, e.g. DRIFT_LOG_LEVEL) and the
    command line (`--name value` or `--name=value`). Unknown names and bad
    numbers are errors naming where they came from; `--help` prints every
    option with its default.
*/
#ifndef CONFIG_H_INCLUDED
#define CONFIG_H_INCLUDED

#include <stdbool.h>

typedef enum { CONFIG_STRING, CONFIG_INT } config_type_t;

typedef struct {
    const char *name;          // long option name, e.g. "log-level"
    config_type_t type;        // how the value is checked
    const char *default_value; // used when nothing else sets it
    const char *help;          // one line for --help
} config_option_t;

//  Options every role has; put CONFIG_COMMON_OPTIONS first in a role's table.
#define CONFIG_COMMON_OPTIONS \
    { "config", CONFIG_STRING, "", "config file with `name = value` lines" }, \
    { "log-format", CONFIG_STRING, "logfmt", "log line format: logfmt or json" }, \
    { "log-level", CONFIG_STRING, "info", "lowest level logged: debug, info, warn, error" }

#define CONFIG_END { NULL, CONFIG_STRING, NULL, NULL }

typedef struct _config_t config_t;

//  Load options for a role. argv [0] is the role name. Returns NULL when the
//  caller should exit with *exit_code (0 after --help, 2 on a bad setting,
//  with the reason printed to stderr).
config_t *config_load (const char *role, const char *summary,
                       const config_option_t *options, int argc, char **argv,
                       int *exit_code);

void config_destroy (config_t **self_p);

//  Value of a declared option (asking for an undeclared one is a bug: assert).
const char *config_get (config_t *self, const char *name);
long config_get_int (config_t *self, const char *name);

//  Whether name is an option of this command (a stage's code also runs
//  where some shared options are not declared, e.g. in tests).
bool config_has (config_t *self, const char *name);

//  Positional arguments left after the options.
int config_argc (config_t *self);
const char *config_argv (config_t *self, int index);

#endif
