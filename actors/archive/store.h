/*  store: the object store where the archive keeps raw reports (sealed).

    One small interface, several backends: the local filesystem (the
    default) now, an S3-compatible one later. A backend is a table of four
    functions and its own state (store_backend_t); callers see only store_t
    and the calls below, so adding a backend touches no caller.

    Keys are `tenant/stack/YYYY/MM/DD/report-id`, built by store_key, which
    percent-encodes every byte of a component outside [A-Za-z0-9._-] (and a
    leading dot) and refuses empty, "." and ".." components. store_put, get
    and head check every key the same way (store_valid_key) before a backend
    sees it, so no key reaches outside the store's root, and names beginning
    with a dot stay free for a backend's temporary files.

    Writes are all or nothing: the local backend writes a temporary file in
    the target directory, fsyncs it, renames it over the key and fsyncs the
    directory, so a crash leaves the old object or the new one, never half,
    and a leftover temporary is never an object. Putting the same key again
    replaces the object: a replayed envelope stores the same object again.
*/
#ifndef STORE_H_INCLUDED
#define STORE_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct _store_t store_t;

//  Root of a local store: created (0700, with its parents) if missing.
//  NULL if it cannot be created or is not a directory.
store_t *store_new_local (const char *root);
void store_destroy (store_t **self_p);

//  Store size bytes of data under key, replacing any object there. 0 once
//  the object is durable, -1 if not stored (reason in store_error).
int store_put (store_t *self, const char *key, const uint8_t *data, size_t size);

//  Store an object whose durability may wait for the next store_sync: a
//  batch of puts followed by one sync costs one flush instead of one per
//  object. Until that sync returns 0 a crash may leave the object torn, so
//  nothing may refer to it before then. Backends without a cheaper way
//  make it a store_put. 0, -1 as store_put.
int store_put_lazy (store_t *self, const char *key, const uint8_t *data, size_t size);

//  Make everything put lazily since the last sync durable (the local
//  backend: one syncfs). 0, -1 (reason in store_error): then the lazy puts
//  must be treated as not stored.
int store_sync (store_t *self);

//  Fetch the object under key: 0 with *data (the caller's, free it; a NUL
//  follows the bytes) and *size, 1 if there is no such object, -1 on error.
int store_get (store_t *self, const char *key, uint8_t **data, size_t *size);

//  Whether an object is under key: 0 with its *size (size may be NULL),
//  1 if none, -1 on error.
int store_head (store_t *self, const char *key, size_t *size);

//  Remove the object under key: 0 once it is gone (or was never there),
//  -1 on error. The local backend also removes the directories the object
//  leaves empty (below the root).
int store_delete (store_t *self, const char *key);

//  What went wrong in the last call that returned -1, for the operator.
const char *store_error (store_t *self);

//  The key of a report: tenant/stack/YYYY/MM/DD/report-id, the date in UTC
//  from received_us. The caller's; NULL if a component is empty, "." or
//  "..", or received_us is negative.
char *store_key (const char *tenant, const char *stack, int64_t received_us,
                 const char *report_id);

//  Whether key is one store_key could build: components separated by single
//  slashes, none empty, none beginning with a dot, bytes only from
//  [A-Za-z0-9._%-].
bool store_valid_key (const char *key);

//  --------------------------------------------------------------------------
//  For backends: the functions a backend provides. Each gets a key already
//  checked by store_valid_key, and writes its reason for -1 into error.

typedef struct {
    const char *name;            // "local", "s3": for messages
    int (*put) (void *state, const char *key, const uint8_t *data, size_t size,
                char *error, size_t error_size);
    int (*get) (void *state, const char *key, uint8_t **data, size_t *size,
                char *error, size_t error_size);
    int (*head) (void *state, const char *key, size_t *size,
                 char *error, size_t error_size);
    void (*destroy) (void *state);
    //  Optional (NULL: put, and nothing to sync): a put that a later sync
    //  makes durable, and that sync.
    int (*put_lazy) (void *state, const char *key, const uint8_t *data, size_t size,
                     char *error, size_t error_size);
    int (*sync) (void *state, char *error, size_t error_size);
    //  Remove an object; 0 also when there was none.
    int (*remove) (void *state, const char *key, char *error, size_t error_size);
} store_backend_t;

//  A store over backend with its state (which the store then owns).
store_t *store_new (const store_backend_t *backend, void *state);

#endif
