/*  read_all: a whole file, or standard input, into memory (cmd/read_all.c).
*/
#ifndef READ_ALL_H_INCLUDED
#define READ_ALL_H_INCLUDED

#include <stddef.h>

//  All of file path, or of standard input for "-", NUL-terminated (caller
//  frees; *size excludes the NUL). NULL if unreadable.
char *cmd_read_all (const char *path, size_t *size);

#endif
