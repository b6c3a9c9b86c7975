/*  store_config: a store built from a role's settings; see store_config.h.

    The secret key is read into a buffer on the stack, handed to
    store_new_s3 (which keeps its own copy) and wiped on every path.
*/
#include "store_config.h"
#include "store_s3.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

//  The longest secret key we read (AWS's are 40 bytes).
#define STORE_SECRET_MAX 1024

//  Read the secret key in path into secret (NUL-terminated, a trailing
//  newline stripped). The mode and owner are checked on the open descriptor,
//  so the file checked is the file read. 0, or -1 with the reason.
static int
s_read_secret_file (const char *path, char *secret, char *error, size_t error_size)
{
    int fd = open (path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd == -1) {
        snprintf (error, error_size, "cannot open s3 secret key file %s: %s", path, strerror (errno));
        return -1;
    }
    struct stat info;
    int rc = -1;
    if (fstat (fd, &info) == -1 || !S_ISREG (info.st_mode))
        snprintf (error, error_size, "s3 secret key file %s is not a regular file", path);
    else
    if ((info.st_mode & 077) != 0)
        snprintf (error, error_size,
                  "s3 secret key file %s has mode %04o: it must be 0600 or stricter (chmod 600 %s)",
                  path, (unsigned) (info.st_mode & 07777), path);
    else
    if (info.st_uid != geteuid ())
        snprintf (error, error_size,
                  "s3 secret key file %s is owned by uid %u, not by the running user (uid %u)",
                  path, (unsigned) info.st_uid, (unsigned) geteuid ());
    else {
        size_t size = 0;
        ssize_t n = 0;
        while (size < STORE_SECRET_MAX
        &&    (n = read (fd, secret + size, STORE_SECRET_MAX - size)) > 0)
            size += (size_t) n;
        if (n < 0)
            snprintf (error, error_size, "cannot read s3 secret key file %s: %s", path, strerror (errno));
        else
        if (size >= STORE_SECRET_MAX)
            snprintf (error, error_size, "s3 secret key file %s is longer than %d bytes",
                      path, STORE_SECRET_MAX - 1);
        else {
            secret [size] = 0;
            if (size > 0 && secret [size - 1] == '\n')
                secret [--size] = 0;
            if (size > 0 && secret [size - 1] == '\r')
                secret [--size] = 0;
            if (size == 0)
                snprintf (error, error_size, "s3 secret key file %s is empty", path);
            else
                rc = 0;
        }
    }
    close (fd);
    return rc;
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
