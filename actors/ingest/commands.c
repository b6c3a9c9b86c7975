/*  commands: ingest's side of the command channel in PostgreSQL; see
    commands.h. */
#include "commands.h"
#include "../../lib/agent_command.h"
#include "../../lib/agent_link.h"
#include "../../lib/clock.h"
#include "../../lib/db.h"
#include "../../lib/log.h"

#include <jansson.h>
#include <libpq-fe.h>
#include <zstd.h>

#define COMMANDS_RETRY_MS 1000

struct _commands_t {
    char *url;                   // the database
    uint64_t max_plan_bytes;     // largest plan_json taken, uncompressed
    PGconn *conn;                // LISTENing; NULL while down
    int64_t retry_ms;            // no connection attempt before this
    bool fresh;                  // connected since commands_connect last said so
};

commands_t *
commands_new (const char *database_url, uint64_t max_plan_bytes)
{
    commands_t *self = (commands_t *) zmalloc (sizeof *self);
    self->url = strdup (database_url);
    self->max_plan_bytes = max_plan_bytes;
    return self;
}

static void
s_drop (commands_t *self, const char *why)
{
    if (self->conn)
        log_warn ("command channel's database connection lost: commands wait in the database",
                  "reason", why);
    PQfinish (self->conn);
    self->conn = NULL;
    self->retry_ms = clock_mono_ms () + COMMANDS_RETRY_MS;
}

void
commands_destroy (commands_t **self_p)
{
    if (*self_p) {
        PQfinish ((*self_p)->conn);
        free ((*self_p)->url);
        free (*self_p);
        *self_p = NULL;
    }
}

//  Connect and LISTEN, when down and the retry time has come.
static void
s_connect (commands_t *self)
{
    if (self->conn || clock_mono_ms () < self->retry_ms)
        return;
    self->conn = db_connect (self->url, 0);
    if (!self->conn || db_exec (self->conn, "listening for new commands", "LISTEN drift_commands")) {
        PQfinish (self->conn);
        self->conn = NULL;
        self->retry_ms = clock_mono_ms () + COMMANDS_RETRY_MS;
        return;
    }
    self->fresh = true;
}

int
commands_connect (commands_t *self)
{
    s_connect (self);
    int fresh = self->fresh ? 1 : 0;
    self->fresh = false;
    return fresh;
}

int
commands_fd (commands_t *self)
{
    return self->conn ? PQsocket (self->conn) : -1;
}

int
commands_notified (commands_t *self, zlistx_t *ids)
{
    if (!self->conn)
        return -1;
    if (PQconsumeInput (self->conn) != 1) {
        s_drop (self, PQerrorMessage (self->conn));
        return -1;
    }
    PGnotify *notify;
    while ((notify = PQnotifies (self->conn))) {
        if (agent_link_valid_uuid (notify->extra) && !zlistx_find (ids, notify->extra))
            zlistx_add_end (ids, strdup (notify->extra));
        PQfreemem (notify);
    }
    return 0;
}

//  Row r of a pending query as a Command, every string malloc'd.
static Drift__Command *
s_command (PGresult *result, int r)
{
    Drift__Command *command = (Drift__Command *) malloc (sizeof *command);
    drift__command__init (command);
    command->command_id = strdup (PQgetvalue (result, r, 0));
    command->kind = agent_command_kind_of (PQgetvalue (result, r, 1));
    command->stack = strdup (PQgetvalue (result, r, 2));
    json_t *targets = json_loads (PQgetvalue (result, r, 3), 0, NULL);
    command->n_targets = json_array_size (targets);
    command->targets = (char **) calloc (command->n_targets ? command->n_targets : 1,
                                         sizeof (char *));
    for (size_t i = 0; i < command->n_targets; i++) {
        const char *target = json_string_value (json_array_get (targets, i));
        command->targets [i] = strdup (target ? target : "");
    }
    json_decref (targets);
    command->plan_command_id = strdup (PQgetvalue (result, r, 4));
    command->plan_sha256 = strdup (PQgetvalue (result, r, 5));
    command->max_plan_age_s = (uint32_t) atol (PQgetvalue (result, r, 6));
    command->timeout_s = (uint32_t) atol (PQgetvalue (result, r, 7));
    command->created_us = atoll (PQgetvalue (result, r, 8));
    return command;
}

int
commands_pending (commands_t *self, const char *tenant_id, const char *agent_id,
                  Drift__Command ***commands)
{
    *commands = NULL;
    s_connect (self);
    if (!self->conn)
        return -1;
    const char *params [] = { tenant_id, agent_id };
    PGresult *result = PQexecParams (self->conn,
        "SELECT id::text, kind, stack, to_jsonb (targets)::text,"
        " coalesce (plan_command_id::text, ''), coalesce (plan_sha256, ''),"
        " max_plan_age_s, timeout_s, created_us"
        " FROM drift_commands_pending ($1::uuid, $2::uuid)", 2, NULL, params, NULL, NULL, 0);
    if (PQresultStatus (result) != PGRES_TUPLES_OK) {
        log_error ("cannot read an agent's commands; they are sent again later",
                   "tenant", tenant_id, "agent", agent_id,
                   "error", PQerrorMessage (self->conn));
        PQclear (result);
        if (PQstatus (self->conn) != CONNECTION_OK)
            s_drop (self, "the connection broke");
        return -1;
    }
    int count = PQntuples (result);
    *commands = (Drift__Command **) calloc (count ? (size_t) count : 1, sizeof (Drift__Command *));
    for (int r = 0; r < count; r++)
        (*commands) [r] = s_command (result, r);
    PQclear (result);
    return count;
}

void
commands_free (Drift__Command **commands, int count)
{
    for (int i = 0; commands && i < count; i++)
        drift__command__free_unpacked (commands [i], NULL);
    free (commands);
}

//  The update's plan as JSON text (caller frees), "" kept as NULL; -1 if it
//  is there and is not a JSON document within max_plan_bytes.
static int
s_plan_text (commands_t *self, const Drift__CommandUpdate *update, char **text)
{
    *text = NULL;
    if (update->plan_json.len == 0)
        return 0;
    char *plain = NULL;
    size_t size = 0;
    if (update->plan_compression == DRIFT__COMPRESSION__COMPRESSION_ZSTD) {
        unsigned long long content =
            ZSTD_getFrameContentSize (update->plan_json.data, update->plan_json.len);
        if (content == ZSTD_CONTENTSIZE_ERROR || content == ZSTD_CONTENTSIZE_UNKNOWN
        ||  content > self->max_plan_bytes)
            return -1;
        plain = (char *) malloc ((size_t) content + 1);
        size = ZSTD_decompress (plain, (size_t) content, update->plan_json.data,
                                update->plan_json.len);
        if (ZSTD_isError (size) || size != content) {
            free (plain);
            return -1;
        }
    }
    else
    if (update->plan_compression == DRIFT__COMPRESSION__COMPRESSION_NONE
    &&  update->plan_json.len <= self->max_plan_bytes) {
        size = update->plan_json.len;
        plain = (char *) malloc (size + 1);
        memcpy (plain, update->plan_json.data, size);
    }
    else
        return -1;
    plain [size] = 0;
    //  Checked here, so a bad plan is the agent's error (BAD_MESSAGE), not
    //  a failed statement.
    json_t *document = json_loadb (plain, size, JSON_REJECT_DUPLICATES, NULL);
    bool valid = json_is_object (document) && strlen (plain) == size;
    json_decref (document);
    if (!valid) {
        free (plain);
        return -1;
    }
    *text = plain;
    return 0;
}

commands_outcome_t
commands_store (commands_t *self, const char *tenant_id, const char *agent_id,
                const Drift__CommandUpdate *update)
{
    char *plan;
    if (s_plan_text (self, update, &plan))
        return COMMANDS_BAD_PLAN;
    s_connect (self);
    if (!self->conn) {
        free (plan);
        return COMMANDS_UNAVAILABLE;
    }
    json_t *lines = json_array ();
    for (size_t i = 0; i < update->n_output; i++)
        json_array_append_new (lines, json_string (update->output [i]));
    char *output = json_dumps (lines, JSON_COMPACT);
    json_decref (lines);
    char seq [16], exit_code [16];
    snprintf (seq, sizeof seq, "%u", update->seq);
    snprintf (exit_code, sizeof exit_code, "%d", update->exit_code);
    bool ran = update->state != DRIFT__COMMAND_STATE__COMMAND_STATE_RECEIVED
            && update->state != DRIFT__COMMAND_STATE__COMMAND_STATE_REFUSED;
    const char *params [] = {
        tenant_id, agent_id, update->command_id, seq,
        agent_command_state_name (update->state), output, update->message,
        ran && agent_command_state_final (update->state) ? exit_code : NULL,
        update->plan_sha256, plan, update->report_id
    };
    PGresult *result = PQexecParams (self->conn,
        "SELECT drift_command_update ($1::uuid, $2::uuid, $3::uuid, $4::integer, $5::text,"
        " ARRAY (SELECT jsonb_array_elements_text ($6::jsonb)), $7::text, $8::integer,"
        " $9::text, $10::jsonb, $11::text)", 11, NULL, params, NULL, NULL, 0);
    free (output);
    free (plan);
    commands_outcome_t outcome = COMMANDS_UNAVAILABLE;
    if (PQresultStatus (result) == PGRES_TUPLES_OK && PQntuples (result) == 1) {
        const char *answer = PQgetvalue (result, 0, 0);
        outcome = streq (answer, "stored") ? COMMANDS_STORED
                : streq (answer, "duplicate") ? COMMANDS_DUPLICATE
                : streq (answer, "not_found") ? COMMANDS_NOT_FOUND
                : streq (answer, "out_of_order") ? COMMANDS_OUT_OF_ORDER
                : COMMANDS_BAD_STATE;
    }
    else {
        log_error ("cannot store a command update; the agent is told to retry",
                   "tenant", tenant_id, "command", update->command_id,
                   "error", PQerrorMessage (self->conn));
        if (PQstatus (self->conn) != CONNECTION_OK)
            s_drop (self, "the connection broke");
    }
    PQclear (result);
    return outcome;
}
