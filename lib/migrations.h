/*  migrations: the schema, carried inside the binary.

    schema/migrations/NNNN_name.sql are applied in name order by `drift
    migrate`; the build embeds them (cmake/embed_sql.cmake). A migration whose
    first line is `-- drift: pgmq` installs the journal's queue API: the real
    pgmq extension when the server has it, otherwise the project's own
    implementation of the same API (schema/pgmq/pgmq.sql). One whose first
    line is `-- drift: pgmq refresh` applies that file again where the
    project's implementation is in use (it is idempotent), so databases
    migrated earlier take its newer functions; with the extension it does
    nothing.
*/
#ifndef MIGRATIONS_H_INCLUDED
#define MIGRATIONS_H_INCLUDED

typedef struct {
    const char *name;     // file name without .sql, e.g. "0001_pgmq"
    const char *sql;      // its text
} migration_t;

//  Every migration in order, ending with { NULL, NULL }.
extern const migration_t migrations [];

//  schema/pgmq/pgmq.sql.
extern const char *const migrations_pgmq_sql;

//  Apply pending migrations to the database at url, each in its own
//  transaction, recorded in drift_migrations; safe to run twice and from
//  several hosts at once (a session advisory lock serialises them).
//  Returns the number applied, or -1 with the reason logged.
int migrations_apply (const char *url);

#endif
