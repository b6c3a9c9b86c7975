/*  rolekeys: the broker's list of allowed role keys; see rolekeys.h. */
#include "rolekeys.h"
#include "agentkeys.h"
#include "log.h"
#include "registry.h"

#include <czmq.h>
#include <dirent.h>
#include <errno.h>
#include <sys/stat.h>

struct _rolekeys_t {
    char *dir;                   // the directory of public certificates
    zhashx_t *keys;              // Z85 public key -> roles (owned strings)
};

//  One public certificate: its key and roles into keys. Reads the file
//  itself with zconfig, not zcert_load, which would prefer FILE_secret.
static void
s_load_file (zhashx_t *keys, const char *path)
{
    zconfig_t *root = zconfig_load (path);
    const char *key = root ? zconfig_get (root, "curve/public-key", NULL) : NULL;
    const char *roles = root ? zconfig_get (root, "metadata/roles", NULL) : NULL;
    if (!key || !registry_key_valid (key) || !roles || !*roles)
        log_warn ("broker role key skipped: not a public certificate with roles", "file", path);
    else
        zhashx_update (keys, key, strdup (roles));
    zconfig_destroy (&root);
}

static zhashx_t *
s_read_dir (const char *dir)
{
    zhashx_t *keys = zhashx_new ();
    zhashx_set_destructor (keys, (zhashx_destructor_fn *) zstr_free);
    DIR *handle = opendir (dir);
    if (!handle) {
        log_error ("broker role keys unreadable: no role is let in", "dir", dir,
                   "error", strerror (errno));
        return keys;
    }
    struct dirent *entry;
    while ((entry = readdir (handle))) {
        size_t length = strlen (entry->d_name);
        if (length <= 4 || strcmp (entry->d_name + length - 4, ".key") != 0)
            continue;
        char *path = zsys_sprintf ("%s/%s", dir, entry->d_name);
        s_load_file (keys, path);
        zstr_free (&path);
    }
    closedir (handle);
    return keys;
}

rolekeys_t *
rolekeys_new (const char *dir)
{
    rolekeys_t *self = (rolekeys_t *) zmalloc (sizeof *self);
    self->dir = strdup (dir);
    self->keys = s_read_dir (dir);
    return self;
}

void
rolekeys_destroy (rolekeys_t **self_p)
{
    if (*self_p) {
        rolekeys_t *self = *self_p;
        zhashx_destroy (&self->keys);
        free (self->dir);
        free (self);
        *self_p = NULL;
    }
}

int
rolekeys_reload (rolekeys_t *self)
{
    zhashx_t *fresh = s_read_dir (self->dir);
    bool changed = zhashx_size (fresh) != zhashx_size (self->keys);
    for (const char *roles = (const char *) zhashx_first (fresh); roles && !changed;
         roles = (const char *) zhashx_next (fresh)) {
        const char *old = (const char *) zhashx_lookup (self->keys, zhashx_cursor (fresh));
        changed = !old || !streq (old, roles);
    }
    zhashx_destroy (&self->keys);
    self->keys = fresh;
    return changed ? 1 : 0;
}

const char *
rolekeys_roles (rolekeys_t *self, const char *key)
{
    return key ? (const char *) zhashx_lookup (self->keys, key) : NULL;
}

size_t
rolekeys_size (rolekeys_t *self)
{
    return zhashx_size (self->keys);
}

bool
rolekeys_has (const char *roles, const char *role)
{
    size_t length = strlen (role);
    if (!roles || length == 0)
        return false;
    for (const char *cursor = roles; *cursor; ) {
        while (*cursor == ' ' || *cursor == ',')
            cursor++;
        size_t span = strcspn (cursor, ", ");
        if (span == length && strncmp (cursor, role, length) == 0)
            return true;
        cursor += span;
    }
    return false;
}

int
rolekeys_make (const char *pair_dir, const char *allowed_dir, const char *name,
               const char *roles, char *error, size_t error_size)
{
    char public_path [AGENTKEYS_PATH_MAX + 1], secret_path [AGENTKEYS_PATH_MAX + 1];
    char allowed_path [AGENTKEYS_PATH_MAX + 1];
    if (snprintf (secret_path, sizeof secret_path, "%s/%s.key_secret", pair_dir, name)
            >= (int) sizeof secret_path
    ||  snprintf (allowed_path, sizeof allowed_path, "%s/%s.key",
                  allowed_dir ? allowed_dir : "", name) >= (int) sizeof allowed_path) {
        snprintf (error, error_size, "key directory names too long (at most %d characters)",
                  AGENTKEYS_PATH_MAX - 32);
        return -1;
    }
    snprintf (public_path, sizeof public_path, "%s/%s.key", pair_dir, name);
    int rc = 0;
    zcert_t *cert = zcert_new ();
    if (roles)
        zcert_set_meta (cert, "roles", "%s", roles);
    if (agentkeys_save_secret (cert, secret_path)) {
        secret_cert_destroy (&cert);
        if (errno != EEXIST) {
            snprintf (error, error_size, "cannot write %s: %s", secret_path, strerror (errno));
            return -1;
        }
        //  Made before: it stands (its public half may be on a broker).
        cert = secret_cert_load (secret_path, error, error_size);
        if (!cert)
            return -1;
        rc = 1;
    }
    struct stat st;
    if ((stat (public_path, &st) && zcert_save_public (cert, public_path))
    ||  (allowed_dir && stat (allowed_path, &st) && zcert_save_public (cert, allowed_path))) {
        snprintf (error, error_size, "cannot write the public key of %s: %s", name,
                  strerror (errno));
        rc = -1;
    }
    secret_cert_destroy (&cert);
    return rc;
}
