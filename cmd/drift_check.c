/*  drift-check: `drift check` as a binary of its own, the CI gate shipped
    beside drift-agent (and in its image). It links the normalize and score
    engines and nothing of the server: no PostgreSQL, Redis, HTTP or broker
    code, so a pipeline step needs only this file and the agent's libraries
    (plus yajl). Same options, output and exit codes as `drift check`
    (cmd/check.c, docs/CHECK.md); `drift-check --version` says which build.
*/
#include "check.h"

#include <stdio.h>
#include <string.h>

int
main (int argc, char **argv)
{
    if (argc == 2 && strcmp (argv [1], "--version") == 0) {
        printf ("drift-check %s\n", DRIFT_VERSION);
        return 0;
    }
    //  cmd_check takes argv [0] as its own name, as a drift subcommand does.
    argv [0] = "check";
    return cmd_check (argc, argv);
}
