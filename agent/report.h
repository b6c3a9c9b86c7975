/*  report: one drift check turned into what the agent spools and sends.

    The input is what Terraform or OpenTofu printed: `show -json` of a
    refresh-only plan, or, when the plan itself failed, the `plan -json`
    stream (its diagnostics are the report). Every sensitive value is
    replaced by a keyed hash (agent/redact) before anything is written, then
    the document is compressed (zstd) into a Report with a fresh report id.
    The report id is chosen here, once: a resend after a crash or a lost ACK
    reuses it, which is how ingest tells a resend from a new report.
*/
#ifndef REPORT_H_INCLUDED
#define REPORT_H_INCLUDED

#include "drift.pb-c.h"
#include "redact.h"

#include <stddef.h>
#include <stdint.h>

typedef struct {
    const char *stack;           // stack name
    const char *engine;          // "terraform" or "tofu"
    const uint8_t *redact_key;   // REDACT_KEY_BYTES: the agent's redaction key
    const char *driftignore;     // the stack's .driftignore text, or NULL
    const char *command_id;      // the CHECK command the report answers, or NULL
    json_t *secrets;             // if set (an array): the plan's sensitive values are appended
} report_options_t;

//  Largest .driftignore an agent sends.
#define REPORT_MAX_DRIFTIGNORE (64 * 1024)

//  Build a report from input (size bytes). NULL with *error (the caller
//  frees it) when the input is not a plan document or stream this agent
//  reads. Free with drift__report__free_unpacked (report, NULL).
Drift__Report *report_build (const char *input, size_t size, const report_options_t *options,
                             char **error);

//  A new report id: UTC time then 64 random bits, so ids sort by age and
//  never repeat (e.g. 20261127T093000Z-5f2a9c0e1b7d4e11). Caller frees.
char *report_new_id (void);

//  The payload decompressed (caller frees), NULL if it does not decompress
//  to its declared size.
char *report_payload (const Drift__Report *report, size_t *size);

#endif
