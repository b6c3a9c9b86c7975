/*  rolekeys: which CURVE keys may talk to the broker, and as what.

    The broker lets in only keys listed in one directory of public
    certificates (`drift keys init` writes KEYS-DIR/broker-roles/ROLE.key),
    each carrying metadata `roles`: a comma-separated list of what its
    holder may do. A stage name (normalize, score, ...) lets it work that
    stage; `ingest` and `replayer` let it produce into the pipeline's first
    stage; `operator` lets it ask for STATS and SUBSCRIBE to logs. One key
    per role is the default; a key per host lists every role that host runs.

    The list is the broker's own configuration, never the client's claim:
    a role is what the broker's file says about the key. Only the public
    half of a file is read (a stray secret next to it is ignored), so the
    directory can be mounted read-only and hold nothing secret.

    Fail closed: an unreadable directory or file lets nobody in; a file
    without a key or roles is skipped and logged. rolekeys_reload reads the
    directory again and says whether anything changed, so the ZAP handler
    and the broker see a removed key without a restart.

    A rolekeys_t belongs to one thread.
*/
#ifndef ROLEKEYS_H_INCLUDED
#define ROLEKEYS_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>

typedef struct _rolekeys_t rolekeys_t;

//  The allowed keys in dir (read now; empty if it cannot be read).
rolekeys_t *rolekeys_new (const char *dir);
void rolekeys_destroy (rolekeys_t **self_p);

//  Read the directory again: 1 if the set of keys or their roles changed,
//  0 if not. An unreadable directory empties the set (logged).
int rolekeys_reload (rolekeys_t *self);

//  The roles of key (Z85, 40 characters), or NULL when it is not allowed.
//  The string belongs to self and lives until the next reload.
const char *rolekeys_roles (rolekeys_t *self, const char *key);

//  How many keys are allowed.
size_t rolekeys_size (rolekeys_t *self);

//  True if role is one of roles (comma separated; NULL holds nothing).
bool rolekeys_has (const char *roles, const char *role);

//  Make a role keypair: NAME.key and NAME.key_secret (0600) in pair_dir,
//  for the role itself, with metadata roles (none if NULL), and the public
//  half in allowed_dir/NAME.key for the broker (none if allowed_dir is
//  NULL: the broker's own keypair). The directories must exist.
//  0 done, 1 the keypair was already there (kept, public copy written if
//  missing), -1 failed (error says why).
int rolekeys_make (const char *pair_dir, const char *allowed_dir, const char *name,
                   const char *roles, char *error, size_t error_size);

#endif
