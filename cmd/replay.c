/*  drift replay DEAD_ID...: send dead letters back into the journal once the
    cause is fixed. Each goes back as a new journal entry, visible at once, so
    the replayer feeds it through the pipeline again; the dead letter is
    archived (kept for audit), so replaying it twice does nothing the second
    time.
*/
#include "commands.h"
#include "../lib/config.h"
#include "../lib/journal.h"
#include "../lib/log.h"

static const config_option_t s_options [] = {
    CONFIG_COMMON_OPTIONS,
    CMD_DATABASE_OPTION,
    CONFIG_END
};

int
cmd_replay (int argc, char **argv)
{
    int exit_code;
    config_t *config = cmd_load ("replay",
        "Send dead letters (msg ids of drift_dead, as `drift status` lists) back to the journal.",
        s_options, argc, argv, &exit_code);
    if (!config)
        return exit_code;
    if (config_argc (config) == 0) {
        fprintf (stderr, "usage: drift replay [options] DEAD_ID...\n");
        config_destroy (&config);
        return 2;
    }
    journal_t *journal = journal_new (config_get (config, "database"), 10000);
    int rc = journal ? 0 : 1;
    for (int i = 0; journal && i < config_argc (config); i++) {
        char *end;
        long long id = strtoll (config_argv (config, i), &end, 10);
        if (*end || id <= 0) {
            fprintf (stderr, "drift replay: '%s' is not a message id\n", config_argv (config, i));
            rc = 2;
            continue;
        }
        int64_t revived = journal_revive (journal, id);
        if (revived > 0)
            printf ("dead letter %lld is back in the journal as %lld\n", id, (long long) revived);
        else {
            fprintf (stderr, "drift replay: %s dead letter %lld\n",
                     revived == 0 ? "no such" : "could not send back", id);
            rc = 1;
        }
    }
    journal_destroy (&journal);
    config_destroy (&config);
    return rc;
}
