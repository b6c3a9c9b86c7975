/*  plangen: a synthetic Terraform plan (`terraform show -json` of a
    refresh-only plan) of about a given size, for the parser benchmark and
    the parser's large-document test. Shaped like the real captures in
    tests/fixtures/terraform: resource_drift entries of security groups,
    buckets and instances with before/after objects, nested rule and tag
    blocks, sensitivity maps, JSON policies held in escaped strings and some
    non-ASCII text. The same size always gives the same document. Every
    number fits a double and an int64, so other parsers read it too.
*/
#ifndef PLANGEN_H_INCLUDED
#define PLANGEN_H_INCLUDED

#include <stddef.h>

//  A document of at least target bytes (a little more: it ends the entry in
//  progress); NUL-terminated, *size (if not NULL) gets its length. Caller
//  frees. NULL when out of memory.
char *plangen_generate (size_t target, size_t *size);

#endif
