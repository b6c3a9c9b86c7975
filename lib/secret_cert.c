/*  secret_cert: a CURVE secret certificate read through secret_read.

    zcert_load opens the file itself, with no check of its kind, owner or
    mode. Here the ZPL text is read by secret_read (the same rules as every
    other secret of drift), parsed from memory with zconfig and the
    certificate built from its keys and metadata as zcert_load would. The
    text and the parser's copy of it are wiped before they are freed.
*/
#include "secret.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

//  The certificate in a zconfig tree; NULL with the reason.
static zcert_t *
s_from_config (zconfig_t *root, const char *path, char *error, size_t error_size)
{
    const char *public_txt = zconfig_get (root, "/curve/public-key", NULL);
    const char *secret_txt = zconfig_get (root, "/curve/secret-key", NULL);
    uint8_t public_key [32], secret_key [32];
    static const uint8_t zero [32] = { 0 };
    zcert_t *cert = NULL;
    if (!public_txt || strlen (public_txt) != 40 || !zmq_z85_decode (public_key, public_txt))
        snprintf (error, error_size, "%s is not a CURVE certificate (no curve/public-key)",
                  path);
    else
    if (!secret_txt || strlen (secret_txt) != 40 || !zmq_z85_decode (secret_key, secret_txt)
    ||  sodium_memcmp (secret_key, zero, 32) == 0)
        snprintf (error, error_size, "%s holds no CURVE secret key (curve/secret-key)", path);
    else {
        cert = zcert_new_from (public_key, secret_key);
        zconfig_t *metadata = zconfig_locate (root, "/metadata");
        for (zconfig_t *item = metadata ? zconfig_child (metadata) : NULL; cert && item;
             item = zconfig_next (item))
            zcert_set_meta (cert, zconfig_name (item), "%s", zconfig_value (item));
        if (!cert)
            snprintf (error, error_size, "%s: out of memory", path);
    }
    sodium_memzero (secret_key, sizeof secret_key);
    return cert;
}

zcert_t *
secret_cert_load (const char *path, char *error, size_t error_size)
{
    //  zcert_load's choice of file: PATH_secret when it is there, so a
    //  role given its public file name gets its keypair.
    char secret_path [1024];
    struct stat info;
    if (snprintf (secret_path, sizeof secret_path, "%s_secret", path)
        >= (int) sizeof secret_path) {
        snprintf (error, error_size, "certificate path %.200s... is too long", path);
        return NULL;
    }
    const char *chosen = lstat (secret_path, &info) == 0 ? secret_path : path;
    uint8_t text [SECRET_CERT_MAX];
    size_t size;
    if (secret_read (chosen, text, sizeof text, &size, error, error_size))
        return NULL;
    zchunk_t *chunk = zchunk_new (text, size);
    sodium_memzero (text, sizeof text);
    zconfig_t *root = chunk ? zconfig_chunk_load (chunk) : NULL;
    if (chunk) {
        sodium_memzero (zchunk_data (chunk), zchunk_size (chunk));
        zchunk_destroy (&chunk);
    }
    zcert_t *cert = NULL;
    if (!root)
        snprintf (error, error_size, "%s is not a CURVE certificate (not ZPL text)", chosen);
    else {
        cert = s_from_config (root, chosen, error, error_size);
        char *secret_txt = zconfig_get (root, "/curve/secret-key", NULL);
        if (secret_txt)
            sodium_memzero (secret_txt, strlen (secret_txt));
    }
    zconfig_destroy (&root);
    return cert;
}

void
secret_cert_destroy (zcert_t **cert_p)
{
    if (*cert_p) {
        //  The getters return const pointers into the certificate's own
        //  heap memory, which is ours to clear.
        sodium_memzero ((void *) zcert_secret_key (*cert_p), 32);
        sodium_memzero ((void *) zcert_secret_txt (*cert_p), 40);
        zcert_destroy (cert_p);
    }
}
