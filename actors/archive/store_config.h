/*  store_config: a store built from a role's settings.

    The archive stage and the operator commands that read raw reports back
    open the same store the same way: put STORE_CONFIG_OPTIONS in the role's
    option table and call store_from_config. `store = local` keeps objects
    under store-root; `store = s3` keeps them in an S3-compatible bucket.

    The S3 secret key is never a plain option (it would show in `ps` and in
    config files passed around): it is read from s3-secret-key-file, which
    must be private to its owner like every key file of drift, or else from
    the environment variable DRIFT_S3_SECRET_KEY. The access key is an
    ordinary option (DRIFT_S3_ACCESS_KEY in the environment sets it too).
*/
#ifndef STORE_CONFIG_H_INCLUDED
#define STORE_CONFIG_H_INCLUDED

#include "../../lib/config.h"
#include "store.h"

#include <stddef.h>

//  The store's settings, for a role's option table (after CONFIG_COMMON_OPTIONS).
#define STORE_CONFIG_OPTIONS \
    { "store", CONFIG_STRING, "local", "object store for raw reports: local or s3" }, \
    { "store-root", CONFIG_STRING, "var/archive", "local store: directory" }, \
    { "s3-endpoint", CONFIG_STRING, "", "s3 store: scheme://host[:port], no path" }, \
    { "s3-region", CONFIG_STRING, "us-east-1", "s3 store: region the requests are signed for" }, \
    { "s3-bucket", CONFIG_STRING, "", "s3 store: bucket" }, \
    { "s3-path-style", CONFIG_INT, "1", "s3 store: 1 for ENDPOINT/BUCKET/KEY, 0 for BUCKET.HOST/KEY" }, \
    { "s3-prefix", CONFIG_STRING, "", "s3 store: key prefix inside the bucket" }, \
    { "s3-access-key", CONFIG_STRING, "", "s3 store: access key id" }, \
    { "s3-secret-key-file", CONFIG_STRING, "", \
      "file holding the secret key (0600); empty: DRIFT_S3_SECRET_KEY" }, \
    { "s3-timeout-ms", CONFIG_INT, "10000", "s3 store: per request, connect and transfer" }

//  The store the settings in config name (config must have STORE_CONFIG_OPTIONS).
//  NULL with the reason in error if a setting is missing or bad, the secret
//  key file is readable by others, or the local root cannot be created.
store_t *store_from_config (config_t *config, char *error, size_t error_size);

#endif
