/*  actors: the pipeline's stages, as the `drift` executable knows them.

    Each actor file holds only its stage's logic (a stage_fn); connecting,
    credit, heartbeats and logging are the worker runtime's (lib/worker).
*/
#ifndef ACTORS_H_INCLUDED
#define ACTORS_H_INCLUDED

#include "../lib/config.h"
#include "../lib/worker.h"

typedef struct {
    const char *name;        // stage name, also the subcommand
    const char *summary;     // one line for --help
    stage_fn *fn;            // the stage's logic
    void *(*open) (config_t *config); // the stage's state from its settings, or NULL
    stage_flush_fn *flush;   // after each batch, or NULL
    void (*close) (void *state); // frees what open made
    const config_option_t *options; // the stage's own settings (to CONFIG_END), or NULL
    stage_flush_begin_fn *flush_begin; // a flush written while the next batch runs
    stage_flush_end_fn *flush_end;     // (lib/worker), or NULL: flush is then the
    stage_flush_fd_fn *flush_fd;       // same write, begun and waited for
} actor_def_t;

extern const actor_def_t normalize_actor;
extern const actor_def_t score_actor;
extern const actor_def_t archive_actor;
extern const actor_def_t notify_actor;

#endif
