/*  read_all: a whole file, or standard input, into memory. Apart from
    common.c so drift-check (cmd/drift_check.c), which links none of the
    server, reads its plan with the same code as the drift subcommands.
*/
#include "read_all.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

char *
cmd_read_all (const char *path, size_t *size)
{
    FILE *file = strcmp (path, "-") == 0 ? stdin : fopen (path, "rb");
    if (!file)
        return NULL;
    size_t capacity = 1 << 16, used = 0;
    char *data = (char *) malloc (capacity + 1);
    while (data) {
        used += fread (data + used, 1, capacity - used, file);
        if (used < capacity)
            break;
        capacity *= 2;
        char *grown = (char *) realloc (data, capacity + 1);
        if (!grown) {
            free (data);
            data = NULL;
            break;
        }
        data = grown;
    }
    bool failed = ferror (file) != 0;
    if (file != stdin)
        fclose (file);
    if (failed || !data) {
        free (data);
        return NULL;
    }
    data [used] = 0;
    *size = used;
    return data;
}
