/*  check: `drift check`, one plan normalized, scored and judged for CI
    (cmd/check.c). Both `drift check` and the standalone drift-check
    (cmd/drift_check.c) run it, so this header names nothing of the server.
*/
#ifndef CHECK_H_INCLUDED
#define CHECK_H_INCLUDED

//  drift check FILE|- [options]: the exit code (0 pass, 1 fail, 2 usage or
//  unreadable input, 3 the plan failed).
int cmd_check (int argc, char **argv);

#endif
