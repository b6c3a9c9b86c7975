/*  normalize_config: a normalizer built from a role's settings; see
    normalize_config.h. The mask key is read into a buffer on the stack,
    handed to normalize_new (which keeps its own copy) and wiped on every
    path.
*/
#include "normalize_config.h"
#include "../../lib/log.h"
#include "../../lib/secret.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

//  The mask key from a file of 64 hex digits (white space around them
//  allowed) or of 32 raw bytes. Returns 0, or -1 with the reason logged.
static int
s_load_key (const char *path, uint8_t key [MASK_KEY_BYTES])
{
    uint8_t text [160];
    size_t length;
    char error [512];
    if (secret_read (path, text, sizeof text, &length, error, sizeof error)) {
        log_error ("mask-key-file refused", "path", path, "error", error);
        return -1;
    }
    int rc = 0;
    size_t decoded = 0;
    if (length == MASK_KEY_BYTES)
        memcpy (key, text, MASK_KEY_BYTES);
    else
    if (sodium_hex2bin (key, MASK_KEY_BYTES, (const char *) text, length, " \t\r\n", &decoded,
                        NULL) != 0
    ||  decoded != MASK_KEY_BYTES)
        rc = -1;
    sodium_memzero (text, sizeof text);
    if (rc) {
        sodium_memzero (key, MASK_KEY_BYTES);
        log_error ("mask-key-file must hold 64 hex digits or 32 bytes", "path", path);
    }
    return rc;
}

normalize_t *
normalize_from_config (config_t *config, bool warn_no_key)
{
    uint8_t key [MASK_KEY_BYTES];
    const char *path = config_get (config, "mask-key-file");
    if (*path && s_load_key (path, key))
        return NULL;
    if (!*path && warn_no_key)
        log_warn ("no mask-key-file: markers of secrets left in clear use a key of this "
                  "process only");
    normalize_t *self = normalize_new (*path ? key : NULL);
    sodium_memzero (key, sizeof key);
    if (!self)
        return NULL;
    char *list = strdup (config_get (config, "volatile"));
    char *rest = list;
    for (char *spec = strsep (&rest, ","); spec; spec = strsep (&rest, ",")) {
        if (*spec && classify_add_volatile (normalize_rules (self), spec)) {
            log_error ("volatile entries must be TYPE.ATTRIBUTE", "entry", spec);
            free (list);
            normalize_destroy (&self);
            return NULL;
        }
    }
    free (list);
    return self;
}
