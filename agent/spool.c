/*  spool: durable files of reports not yet acked; see spool.h. */
#include "spool.h"
#include "../lib/agent_link.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>

#define SPOOL_SUFFIX ".report"

struct _spool_t {
    char *directory;             // where waiting reports are
    char *refused;               // directory/refused
    const char *suffix;          // of its files: SPOOL_SUFFIX, or spool_open's
};

static int
s_fsync_directory (const char *directory)
{
    int fd = open (directory, O_RDONLY | O_DIRECTORY);
    if (fd == -1)
        return -1;
    int rc = fsync (fd);
    close (fd);
    return rc;
}

static int
s_make_directory (const char *path)
{
    if (mkdir (path, 0700) == 0 || errno == EEXIST) {
        struct stat info;
        return stat (path, &info) == 0 && S_ISDIR (info.st_mode) ? 0 : -1;
    }
    return -1;
}

spool_t *
spool_new (const char *directory)
{
    return spool_open (directory, SPOOL_SUFFIX);
}

spool_t *
spool_open (const char *directory, const char *suffix)
{
    char *refused = zsys_sprintf ("%s/refused", directory);
    if (s_make_directory (directory) || s_make_directory (refused)) {
        zstr_free (&refused);
        return NULL;
    }
    spool_t *self = (spool_t *) zmalloc (sizeof *self);
    self->directory = strdup (directory);
    self->refused = refused;
    self->suffix = suffix;
    return self;
}

void
spool_destroy (spool_t **self_p)
{
    if (*self_p) {
        free ((*self_p)->directory);
        zstr_free (&(*self_p)->refused);
        free (*self_p);
        *self_p = NULL;
    }
}

const char *
spool_directory (spool_t *self)
{
    return self->directory;
}

//  Ids become file names: only valid report ids ever do.
static char *
s_path (const char *directory, const char *id, const char *suffix)
{
    if (!agent_link_valid_report_id (id))
        return NULL;
    return zsys_sprintf ("%s/%s%s", directory, id, suffix);
}

static int
s_write_file (const char *directory, const char *path, const uint8_t *data, size_t size)
{
    char *temporary = zsys_sprintf ("%s/.tmp-XXXXXX", directory);
    int fd = mkstemp (temporary);
    int rc = -1;
    if (fd != -1) {
        size_t written = 0;
        while (written < size) {
            ssize_t n = write (fd, data + written, size - written);
            if (n <= 0 && errno != EINTR)
                break;
            if (n > 0)
                written += (size_t) n;
        }
        rc = written == size && fsync (fd) == 0 ? 0 : -1;
        close (fd);
        if (rc == 0)
            rc = rename (temporary, path);
        if (rc)
            unlink (temporary);
        else
            rc = s_fsync_directory (directory);
    }
    zstr_free (&temporary);
    return rc;
}

int
spool_put (spool_t *self, const char *id, const uint8_t *data, size_t size)
{
    char *path = s_path (self->directory, id, self->suffix);
    int rc = path ? s_write_file (self->directory, path, data, size) : -1;
    zstr_free (&path);
    return rc;
}

uint8_t *
spool_get (spool_t *self, const char *id, size_t *size)
{
    char *path = s_path (self->directory, id, self->suffix);
    if (!path)
        return NULL;
    uint8_t *data = NULL;
    FILE *file = fopen (path, "rb");
    zstr_free (&path);
    if (!file)
        return NULL;
    if (fseek (file, 0, SEEK_END) == 0) {
        long length = ftell (file);
        rewind (file);
        if (length >= 0) {
            data = (uint8_t *) malloc ((size_t) length + 1);
            if (fread (data, 1, (size_t) length, file) != (size_t) length) {
                free (data);
                data = NULL;
            }
            else
                *size = (size_t) length;
        }
    }
    fclose (file);
    return data;
}

int
spool_remove (spool_t *self, const char *id)
{
    char *path = s_path (self->directory, id, self->suffix);
    int rc = path && unlink (path) == 0 ? s_fsync_directory (self->directory) : -1;
    zstr_free (&path);
    return rc;
}

int
spool_refuse (spool_t *self, const char *id, const char *reason)
{
    char *from = s_path (self->directory, id, self->suffix);
    char *to = s_path (self->refused, id, self->suffix);
    char *why = s_path (self->refused, id, ".reason");
    int rc = -1;
    if (from && to && why) {
        char *text = zsys_sprintf ("%s\n", reason);
        rc = s_write_file (self->refused, why, (const uint8_t *) text, strlen (text));
        zstr_free (&text);
        if (rc == 0)
            rc = rename (from, to);
        if (rc == 0)
            rc = s_fsync_directory (self->directory);
    }
    zstr_free (&from);
    zstr_free (&to);
    zstr_free (&why);
    return rc;
}

static int
s_compare (const void *a, const void *b)
{
    return strcmp ((const char *) a, (const char *) b);
}

static zlistx_t *
s_ids (const char *directory, const char *suffix_text)
{
    zlistx_t *ids = zlistx_new ();
    zlistx_set_destructor (ids, (zlistx_destructor_fn *) zstr_free);
    zlistx_set_comparator (ids, s_compare);
    DIR *dir = opendir (directory);
    if (!dir)
        return ids;
    struct dirent *entry;
    size_t suffix = strlen (suffix_text);
    while ((entry = readdir (dir))) {
        size_t length = strlen (entry->d_name);
        if (length > suffix && streq (entry->d_name + length - suffix, suffix_text)) {
            char *id = strndup (entry->d_name, length - suffix);
            if (agent_link_valid_report_id (id))
                zlistx_add_end (ids, id);
            else
                free (id);
        }
    }
    closedir (dir);
    zlistx_sort (ids);
    return ids;
}

zlistx_t *
spool_list (spool_t *self)
{
    return s_ids (self->directory, self->suffix);
}

size_t
spool_depth (spool_t *self)
{
    zlistx_t *ids = s_ids (self->directory, self->suffix);
    size_t depth = zlistx_size (ids);
    zlistx_destroy (&ids);
    return depth;
}

size_t
spool_refused (spool_t *self)
{
    zlistx_t *ids = s_ids (self->refused, self->suffix);
    size_t depth = zlistx_size (ids);
    zlistx_destroy (&ids);
    return depth;
}
