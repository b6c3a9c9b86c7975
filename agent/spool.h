/*  spool: the agent's store and forward.

    Every report is written here before it is sent and removed only when
    ingest ACKs it, so neither a crash of the agent nor an absent server
    loses one, and a restarted agent resends what is left (with the same
    report ids, so nothing is accepted twice). A file is one packed Report
    (protobuf), named by its report id; it is written to a temporary name,
    fsynced and renamed, and the directory fsynced, so a crash leaves either
    the whole report or none. Reports ingest refused for good are moved to
    refused/ with a .reason file beside them, for the operator.
*/
#ifndef SPOOL_H_INCLUDED
#define SPOOL_H_INCLUDED

#include <czmq.h>

typedef struct _spool_t spool_t;

//  Open (creating, mode 0700) the spool directory. NULL if unusable.
spool_t *spool_new (const char *directory);
//  The same for files of another kind (suffix ".command", ".update": the
//  command channel's records and updates, agent/commands.c), with the same
//  guarantees: names are report-id-like, writes are fsynced and atomic.
spool_t *spool_open (const char *directory, const char *suffix);
void spool_destroy (spool_t **self_p);

const char *spool_directory (spool_t *self);

//  Store report id's bytes durably. 0 or -1.
int spool_put (spool_t *self, const char *id, const uint8_t *data, size_t size);

//  The bytes stored for id (caller frees), NULL if there are none.
uint8_t *spool_get (spool_t *self, const char *id, size_t *size);

//  Forget id (it was acked). 0 or -1.
int spool_remove (spool_t *self, const char *id);

//  Move id to refused/ with the reason beside it. 0 or -1.
int spool_refuse (spool_t *self, const char *id, const char *reason);

//  Ids waiting to be sent, oldest first (caller destroys the list; items
//  are strings it owns).
zlistx_t *spool_list (spool_t *self);

//  Reports waiting, and reports refused.
size_t spool_depth (spool_t *self);
size_t spool_refused (spool_t *self);

#endif
