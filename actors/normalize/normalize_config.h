/*  normalize_config: a normalizer built from a role's settings.

    The normalize stage (normalize_actor) and `drift normalize --input`
    (cmd/normalize.c) build their normalizer the same way: put
    NORMALIZE_CONFIG_OPTIONS in the option table and call
    normalize_from_config. `mask-key-file` holds the key for markers of
    sensitive values still in clear (64 hex digits, white space around them
    allowed, or 32 raw bytes), read through lib/secret (a regular file of
    the running user, mode 0600); without it a random key per process, so
    such markers differ between workers. `volatile` adds TYPE.ATTRIBUTE
    entries to the volatile attributes.
*/
#ifndef NORMALIZE_CONFIG_H_INCLUDED
#define NORMALIZE_CONFIG_H_INCLUDED

#include "../../lib/config.h"
#include "normalize.h"

//  The normalizer's settings, for a role's option table.
#define NORMALIZE_CONFIG_OPTIONS \
    { "mask-key-file", CONFIG_STRING, "", \
      "file with the key (64 hex digits) for markers of secrets still in clear; " \
      "unset: a random key per process" }, \
    { "volatile", CONFIG_STRING, "", \
      "more volatile attributes, TYPE.ATTRIBUTE[,...] (TYPE * for any type)" }

//  The normalizer config's settings describe (config must have
//  NORMALIZE_CONFIG_OPTIONS); NULL, with the reason logged, if the mask key
//  file is refused or a volatile entry is not TYPE.ATTRIBUTE. warn_no_key
//  logs that markers use a key of this process only when no key file is set.
normalize_t *normalize_from_config (config_t *config, bool warn_no_key);

#endif
