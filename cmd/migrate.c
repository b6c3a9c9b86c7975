/*  drift migrate: apply the schema's pending migrations (see lib/migrations.h).
    Safe to run twice and from several hosts at once.
*/
#include "commands.h"
#include "../lib/config.h"
#include "../lib/migrations.h"

static const config_option_t s_options [] = {
    CONFIG_COMMON_OPTIONS,
    CMD_DATABASE_OPTION,
    CONFIG_END
};

int
cmd_migrate (int argc, char **argv)
{
    int exit_code;
    config_t *config = cmd_load ("migrate", "Apply pending schema migrations.", s_options,
                                 argc, argv, &exit_code);
    if (!config)
        return exit_code;
    int applied = migrations_apply (config_get (config, "database"));
    if (applied >= 0)
        printf ("drift migrate: %d migration%s applied, schema up to date\n", applied,
                applied == 1 ? "" : "s");
    config_destroy (&config);
    return applied >= 0 ? 0 : 1;
}
