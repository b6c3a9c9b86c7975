/*  store: the object store interface and its local filesystem backend; see
    store.h. */
#define _GNU_SOURCE                 // syncfs
#include "store.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

struct _store_t {
    const store_backend_t *backend;  // the backend's functions
    void *state;                     // the backend's own state, owned
    char error [512];                // reason for the last -1
};

//  --------------------------------------------------------------------------
//  Interface

store_t *
store_new (const store_backend_t *backend, void *state)
{
    store_t *self = (store_t *) calloc (1, sizeof *self);
    self->backend = backend;
    self->state = state;
    return self;
}

void
store_destroy (store_t **self_p)
{
    if (*self_p) {
        (*self_p)->backend->destroy ((*self_p)->state);
        free (*self_p);
        *self_p = NULL;
    }
}

const char *
store_error (store_t *self)
{
    return self->error;
}

static int
s_refuse_key (store_t *self, const char *key)
{
    snprintf (self->error, sizeof self->error,
              "refused object key \"%.200s\": not a key store_key builds", key ? key : "(null)");
    return -1;
}

int
store_put (store_t *self, const char *key, const uint8_t *data, size_t size)
{
    if (!store_valid_key (key))
        return s_refuse_key (self, key);
    return self->backend->put (self->state, key, data, size, self->error, sizeof self->error);
}

int
store_put_lazy (store_t *self, const char *key, const uint8_t *data, size_t size)
{
    if (!store_valid_key (key))
        return s_refuse_key (self, key);
    if (!self->backend->put_lazy)
        return store_put (self, key, data, size);
    return self->backend->put_lazy (self->state, key, data, size, self->error,
                                    sizeof self->error);
}

int
store_sync (store_t *self)
{
    if (!self->backend->sync)
        return 0;
    return self->backend->sync (self->state, self->error, sizeof self->error);
}

int
store_get (store_t *self, const char *key, uint8_t **data, size_t *size)
{
    if (!store_valid_key (key))
        return s_refuse_key (self, key);
    return self->backend->get (self->state, key, data, size, self->error, sizeof self->error);
}

int
store_head (store_t *self, const char *key, size_t *size)
{
    if (!store_valid_key (key))
        return s_refuse_key (self, key);
    return self->backend->head (self->state, key, size, self->error, sizeof self->error);
}

int
store_delete (store_t *self, const char *key)
{
    if (!store_valid_key (key))
        return s_refuse_key (self, key);
    if (!self->backend->remove) {
        snprintf (self->error, sizeof self->error, "the %s store cannot remove objects",
                  self->backend->name);
        return -1;
    }
    return self->backend->remove (self->state, key, self->error, sizeof self->error);
}

//  --------------------------------------------------------------------------
//  Keys

static bool
s_plain_byte (unsigned char byte)
{
    return (byte >= 'A' && byte <= 'Z') || (byte >= 'a' && byte <= 'z')
        || (byte >= '0' && byte <= '9') || byte == '.' || byte == '_' || byte == '-';
}

//  Append component to key (at *length), percent-encoded; -1 if refused.
static int
s_append_component (char *key, size_t *length, const char *component)
{
    if (!component || !*component || strcmp (component, ".") == 0
    ||  strcmp (component, "..") == 0)
        return -1;
    static const char hex [] = "0123456789ABCDEF";
    for (const unsigned char *byte = (const unsigned char *) component; *byte; byte++) {
        //  A leading dot is encoded too: dot names are the backend's own.
        if (s_plain_byte (*byte) && !(byte == (const unsigned char *) component && *byte == '.'))
            key [(*length)++] = (char) *byte;
        else {
            key [(*length)++] = '%';
            key [(*length)++] = hex [*byte >> 4];
            key [(*length)++] = hex [*byte & 15];
        }
    }
    key [(*length)++] = '/';
    return 0;
}

char *
store_key (const char *tenant, const char *stack, int64_t received_us, const char *report_id)
{
    if (received_us < 0 || !tenant || !stack || !report_id)
        return NULL;
    time_t seconds = (time_t) (received_us / 1000000);
    struct tm day;
    if (!gmtime_r (&seconds, &day))
        return NULL;
    char date [32];
    snprintf (date, sizeof date, "%04d/%02d/%02d",
              day.tm_year + 1900, day.tm_mon + 1, day.tm_mday);
    //  Each byte takes at most three once encoded.
    size_t capacity = 3 * (strlen (tenant) + strlen (stack) + strlen (report_id))
                    + strlen (date) + 4;
    char *key = (char *) malloc (capacity);
    size_t length = 0;
    if (s_append_component (key, &length, tenant)
    ||  s_append_component (key, &length, stack)) {
        free (key);
        return NULL;
    }
    memcpy (key + length, date, strlen (date));
    length += strlen (date);
    key [length++] = '/';
    if (s_append_component (key, &length, report_id)) {
        free (key);
        return NULL;
    }
    key [length - 1] = 0;       // the last component's slash
    return key;
}

bool
store_valid_key (const char *key)
{
    if (!key || !*key)
        return false;
    const char *component = key;
    for (const char *byte = key; ; byte++) {
        if (*byte == '/' || *byte == 0) {
            if (byte == component || *component == '.')
                return false;
            if (*byte == 0)
                return true;
            component = byte + 1;
        }
        else
        if (!s_plain_byte ((unsigned char) *byte) && *byte != '%')
            return false;
    }
}

//  --------------------------------------------------------------------------
//  Local filesystem backend

typedef struct {
    char *root;                      // directory that holds every object
} s_local_t;

static int
s_fsync_directory (const char *directory)
{
    int fd = open (directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd == -1)
        return -1;
    int rc = fsync (fd);
    close (fd);
    return rc;
}

//  Create path and its missing parents, 0700. A directory created is
//  fsynced into its parent, so a durable object never sits in a directory
//  that a crash forgets.
static int
s_make_directories (char *path)
{
    for (char *slash = strchr (path + 1, '/'); ; slash = strchr (slash + 1, '/')) {
        if (slash)
            *slash = 0;
        int rc = mkdir (path, 0700);
        int error = errno;
        if (rc == 0) {
            char *parent_end = strrchr (path, '/');
            if (parent_end && parent_end != path) {
                *parent_end = 0;
                rc = s_fsync_directory (path);
                *parent_end = '/';
            }
        }
        else
        if (error == EEXIST) {
            struct stat info;
            rc = stat (path, &info) == 0 && S_ISDIR (info.st_mode) ? 0 : -1;
        }
        if (slash)
            *slash = '/';
        if (rc || !slash)
            return rc;
    }
}

static char *
s_path (s_local_t *self, const char *key)
{
    size_t size = strlen (self->root) + strlen (key) + 2;
    char *path = (char *) malloc (size);
    snprintf (path, size, "%s/%s", self->root, key);
    return path;
}

//  Write the object through a temporary file and a rename; durable (the
//  file and its directory fsynced) unless lazy, when the next s_local_sync
//  makes it so.
static int
s_local_write (void *state, const char *key, const uint8_t *data, size_t size, bool lazy,
               char *error, size_t error_size)
{
    s_local_t *self = (s_local_t *) state;
    char *path = s_path (self, key);
    char *directory = strdup (path);
    *strrchr (directory, '/') = 0;
    size_t temporary_size = strlen (directory) + 16;
    char *temporary = (char *) malloc (temporary_size);
    snprintf (temporary, temporary_size, "%s/.tmp-XXXXXX", directory);
    int rc = -1;
    int fd = -1;
    bool temporary_exists = false;  // a temporary of ours to remove on failure
    struct stat info;
    //  Usually the day's directory exists: one stat instead of a mkdir per level.
    bool exists = stat (directory, &info) == 0 && S_ISDIR (info.st_mode);
    if (!exists && s_make_directories (directory)) {
        snprintf (error, error_size, "cannot create directory %s: %s",
                  directory, strerror (errno));
        goto done;
    }
    fd = mkstemp (temporary);
    if (fd == -1) {
        snprintf (error, error_size, "cannot create a temporary file in %s: %s",
                  directory, strerror (errno));
        goto done;
    }
    temporary_exists = true;
    size_t written = 0;
    while (written < size) {
        ssize_t n = write (fd, data + written, size - written);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        written += (size_t) n;
    }
    if (written < size || (!lazy && fsync (fd) == -1)) {
        snprintf (error, error_size, "cannot write %s: %s", temporary, strerror (errno));
        goto done;
    }
    if (close (fd) == -1) {
        fd = -1;
        snprintf (error, error_size, "cannot write %s: %s", temporary, strerror (errno));
        goto done;
    }
    fd = -1;
    if (rename (temporary, path) == -1) {
        snprintf (error, error_size, "cannot rename %s to %s: %s",
                  temporary, path, strerror (errno));
        goto done;
    }
    temporary_exists = false;
    if (!lazy && s_fsync_directory (directory) == -1) {
        //  The object is in place but not yet durable: report failure, so
        //  the caller puts it again rather than acking.
        snprintf (error, error_size, "cannot fsync directory %s: %s",
                  directory, strerror (errno));
        goto done;
    }
    rc = 0;
done:
    if (fd != -1)
        close (fd);
    if (temporary_exists)
        unlink (temporary);
    free (temporary);
    free (directory);
    free (path);
    return rc;
}

static int
s_local_put (void *state, const char *key, const uint8_t *data, size_t size,
             char *error, size_t error_size)
{
    return s_local_write (state, key, data, size, false, error, error_size);
}

static int
s_local_put_lazy (void *state, const char *key, const uint8_t *data, size_t size,
                  char *error, size_t error_size)
{
    return s_local_write (state, key, data, size, true, error, error_size);
}

//  One syncfs for everything written lazily: a batch's objects cost one
//  flush of the filesystem instead of two fsyncs each.
static int
s_local_sync (void *state, char *error, size_t error_size)
{
    s_local_t *self = (s_local_t *) state;
    int fd = open (self->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd == -1 || syncfs (fd) == -1) {
        snprintf (error, error_size, "cannot sync the store under %s: %s", self->root,
                  strerror (errno));
        if (fd != -1)
            close (fd);
        return -1;
    }
    close (fd);
    return 0;
}

static int
s_local_get (void *state, const char *key, uint8_t **data, size_t *size,
             char *error, size_t error_size)
{
    s_local_t *self = (s_local_t *) state;
    char *path = s_path (self, key);
    int rc = -1;
    int fd = open (path, O_RDONLY | O_CLOEXEC);
    struct stat info;
    if (fd == -1 && (errno == ENOENT || errno == ENOTDIR))
        rc = 1;
    else
    if (fd == -1 || fstat (fd, &info) == -1)
        snprintf (error, error_size, "cannot open %s: %s", path, strerror (errno));
    else
    if (!S_ISREG (info.st_mode))
        snprintf (error, error_size, "%s is not a regular file", path);
    else {
        size_t expected = (size_t) info.st_size;
        uint8_t *buffer = (uint8_t *) malloc (expected + 1);
        size_t got = 0;
        while (got < expected) {
            ssize_t n = read (fd, buffer + got, expected - got);
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0)
                break;
            got += (size_t) n;
        }
        if (got == expected) {
            buffer [got] = 0;
            *data = buffer;
            *size = got;
            rc = 0;
        }
        else {
            snprintf (error, error_size, "short read of %s: %zu of %zu bytes",
                      path, got, expected);
            free (buffer);
        }
    }
    if (fd != -1)
        close (fd);
    free (path);
    return rc;
}

static int
s_local_head (void *state, const char *key, size_t *size, char *error, size_t error_size)
{
    s_local_t *self = (s_local_t *) state;
    char *path = s_path (self, key);
    struct stat info;
    int rc = -1;
    int found = stat (path, &info);
    if (found == -1 && (errno == ENOENT || errno == ENOTDIR))
        rc = 1;
    else
    if (found == -1)
        snprintf (error, error_size, "cannot stat %s: %s", path, strerror (errno));
    else
    if (!S_ISREG (info.st_mode))
        snprintf (error, error_size, "%s is not a regular file", path);
    else {
        if (size)
            *size = (size_t) info.st_size;
        rc = 0;
    }
    free (path);
    return rc;
}

//  Unlink the object, then its directories up to the root while they are
//  empty (a day's directory goes with its last report).
static int
s_local_remove (void *state, const char *key, char *error, size_t error_size)
{
    s_local_t *self = (s_local_t *) state;
    char *path = s_path (self, key);
    int rc = 0;
    if (unlink (path) == -1 && errno != ENOENT && errno != ENOTDIR) {
        snprintf (error, error_size, "cannot remove %s: %s", path, strerror (errno));
        rc = -1;
    }
    size_t root_length = strlen (self->root);
    for (char *slash = strrchr (path, '/'); rc == 0 && slash && (size_t) (slash - path) > root_length;
         slash = strrchr (path, '/')) {
        *slash = 0;
        if (rmdir (path) == -1)
            break;              // not empty (or already gone): the rest are not either
    }
    free (path);
    return rc;
}

static void
s_local_destroy (void *state)
{
    s_local_t *self = (s_local_t *) state;
    free (self->root);
    free (self);
}

static const store_backend_t s_local_backend = {
    "local", s_local_put, s_local_get, s_local_head, s_local_destroy,
    s_local_put_lazy, s_local_sync, s_local_remove
};

store_t *
store_new_local (const char *root)
{
    if (!root || !*root)
        return NULL;
    char *path = strdup (root);
    size_t length = strlen (path);
    while (length > 1 && path [length - 1] == '/')
        path [--length] = 0;    // "root/" and "root" are the same store
    if (s_make_directories (path)) {
        free (path);
        return NULL;
    }
    s_local_t *state = (s_local_t *) calloc (1, sizeof *state);
    state->root = path;
    return store_new (&s_local_backend, state);
}
