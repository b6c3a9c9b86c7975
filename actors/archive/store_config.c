/*  store_config: a store built from a role's settings; see store_config.h.

    The secret key is read into a buffer on the stack, handed to
    store_new_s3 (which keeps its own copy) and wiped on every path.
*/
#include "store_config.h"
#include "store_s3.h"
#include "../../lib/secret.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

//  The longest secret key we read (AWS's are 40 bytes).
#define STORE_SECRET_MAX 1024

//  Read the secret key in path into secret (STORE_SECRET_MAX + 1 bytes,
//  NUL-terminated, a trailing newline stripped) through secret_read, the
//  rules of every secret file. 0, or -1 with the reason.
static int
s_read_secret_file (const char *path, char *secret, char *error, size_t error_size)
{
    size_t size;
    if (secret_read (path, (uint8_t *) secret, STORE_SECRET_MAX + 1, &size, error, error_size))
        return -1;
    if (size > 0 && secret [size - 1] == '\n')
        secret [--size] = 0;
    if (size > 0 && secret [size - 1] == '\r')
        secret [--size] = 0;
    if (size == 0) {
        snprintf (error, error_size, "s3 secret key file %s holds only a line end", path);
        return -1;
    }
    return 0;
}

static store_t *
s_s3_from_config (config_t *config, char *error, size_t error_size)
{
    char secret [STORE_SECRET_MAX + 1];
    const char *file = config_get (config, "s3-secret-key-file");
    const char *from_env = getenv ("DRIFT_S3_SECRET_KEY");
    store_t *store = NULL;
    if (*file) {
        if (s_read_secret_file (file, secret, error, error_size))
            goto done;
    }
    else
    if (from_env && *from_env && strlen (from_env) < sizeof secret)
        memcpy (secret, from_env, strlen (from_env) + 1);
    else {
        snprintf (error, error_size,
                  "s3 store: no secret key: set s3-secret-key-file, or DRIFT_S3_SECRET_KEY "
                  "(at most %d bytes)", STORE_SECRET_MAX);
        goto done;
    }
    long path_style = config_get_int (config, "s3-path-style");
    if (path_style != 0 && path_style != 1) {
        snprintf (error, error_size, "s3 store: s3-path-style is %ld: 1 or 0", path_style);
        goto done;
    }
    store_s3_config_t settings = {
        .endpoint = config_get (config, "s3-endpoint"),
        .region = config_get (config, "s3-region"),
        .bucket = config_get (config, "s3-bucket"),
        .access_key = config_get (config, "s3-access-key"),
        .secret_key = secret,
        .path_style = path_style == 1,
        .prefix = config_get (config, "s3-prefix"),
        .timeout_ms = config_get_int (config, "s3-timeout-ms"),
    };
    store = store_new_s3 (&settings, error, error_size);
done:
    sodium_memzero (secret, sizeof secret);
    return store;
}

store_t *
store_from_config (config_t *config, char *error, size_t error_size)
{
    const char *kind = config_get (config, "store");
    if (strcmp (kind, "s3") == 0)
        return s_s3_from_config (config, error, error_size);
    if (strcmp (kind, "local") == 0) {
        const char *root = config_get (config, "store-root");
        store_t *store = store_new_local (root);
        if (!store)
            snprintf (error, error_size,
                      "local store: cannot create the directory \"%.200s\" (store-root) "
                      "or it is not a directory", root);
        return store;
    }
    snprintf (error, error_size, "store \"%.64s\" is not a store kind: local or s3", kind);
    return NULL;
}
