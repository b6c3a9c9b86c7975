/*  commands: records and updates of the command channel; see commands.h. */
#include "commands.h"
#include "../lib/agent_command.h"
#include "../lib/clock.h"
#include "../lib/log.h"

#include <jansson.h>
#include <sodium.h>

struct _agent_commands_t {
    spool_t *records;            // SPOOL/commands: ID.command, one per command received
    spool_t *updates;            // SPOOL/commands/out: ID.SEQ.update, until acked
    zlistx_t *waiting;           // ids recorded and not yet run, in the order received
};

//  A record: the packed command (base64), its state ("received",
//  "running", "done"), the seq its next update takes, when it came.
static json_t *
s_record_load (agent_commands_t *self, const char *id)
{
    size_t size;
    uint8_t *bytes = spool_get (self->records, id, &size);
    json_t *record = bytes ? json_loadb ((const char *) bytes, size, 0, NULL) : NULL;
    free (bytes);
    return record;
}

static int
s_record_save (agent_commands_t *self, const char *id, json_t *record)
{
    char *text = json_dumps (record, JSON_COMPACT);
    int rc = text ? spool_put (self->records, id, (const uint8_t *) text, strlen (text)) : -1;
    free (text);
    return rc;
}

static Drift__Command *
s_record_command (json_t *record)
{
    const char *text = json_string_value (json_object_get (record, "command"));
    if (!text)
        return NULL;
    size_t length = strlen (text);
    uint8_t *bytes = (uint8_t *) malloc (length + 1);
    size_t size;
    Drift__Command *command = NULL;
    if (sodium_base642bin (bytes, length + 1, text, length, NULL, &size, NULL,
                           sodium_base64_VARIANT_ORIGINAL) == 0)
        command = drift__command__unpack (NULL, size, bytes);
    free (bytes);
    return command;
}

//  Spool the next update of the command recorded as record (under id), and
//  advance the record's seq: the update is written first, so a crash
//  between the two writes the same seq again rather than leaving a gap
//  ingest would refuse.
static int
s_update (agent_commands_t *self, const char *id, json_t *record, Drift__CommandUpdate *update)
{
    update->command_id = (char *) id;
    update->seq = (uint32_t) json_integer_value (json_object_get (record, "next_seq"));
    size_t size = drift__command_update__get_packed_size (update);
    uint8_t *bytes = (uint8_t *) malloc (size + 1);
    drift__command_update__pack (update, bytes);
    char name [64];
    snprintf (name, sizeof name, "%s.%06u", id, update->seq);
    int rc = spool_put (self->updates, name, bytes, size);
    free (bytes);
    if (rc == 0) {
        json_object_set_new (record, "next_seq", json_integer ((json_int_t) update->seq + 1));
        rc = s_record_save (self, id, record);
    }
    if (rc)
        log_error ("command update not spooled", "command_id", id, "error", strerror (errno));
    return rc;
}

static int
s_compare_received (const void *a, const void *b)
{
    json_int_t x = json_integer_value (json_object_get ((json_t *) a, "received_us"));
    json_int_t y = json_integer_value (json_object_get ((json_t *) b, "received_us"));
    return x < y ? -1 : x > y;
}

//  At start: every command recorded and not yet run waits again; one an
//  earlier run was running when it stopped is finished FAILED, not run.
static void
s_recover (agent_commands_t *self)
{
    zlistx_t *ids = spool_list (self->records);
    zlistx_t *records = zlistx_new ();
    zlistx_set_comparator (records, s_compare_received);
    for (const char *id = (const char *) zlistx_first (ids); id;
         id = (const char *) zlistx_next (ids)) {
        json_t *record = s_record_load (self, id);
        //  Read once: setting "state" below frees the string.
        const char *state = json_string_value (json_object_get (record, "state"));
        bool running = state && streq (state, "running");
        bool received = state && streq (state, "received");
        if (running) {
            Drift__CommandUpdate update = DRIFT__COMMAND_UPDATE__INIT;
            update.state = DRIFT__COMMAND_STATE__COMMAND_STATE_FAILED;
            update.message = "the agent stopped while the command ran; it is not run again";
            json_object_set_new (record, "state", json_string ("done"));
            s_update (self, id, record, &update);
            log_warn ("command was running when the agent stopped: failed, not run again",
                      "command_id", id);
        }
        if (received) {
            json_object_set_new (record, "id", json_string (id));
            zlistx_add_end (records, json_incref (record));
        }
        json_decref (record);
    }
    zlistx_sort (records);
    for (json_t *record = (json_t *) zlistx_first (records); record;
         record = (json_t *) zlistx_next (records)) {
        zlistx_add_end (self->waiting,
                        strdup (json_string_value (json_object_get (record, "id"))));
        json_decref (record);
    }
    zlistx_destroy (&records);
    zlistx_destroy (&ids);
}

agent_commands_t *
agent_commands_new (const char *spool_directory)
{
    char *records = zsys_sprintf ("%s/commands", spool_directory);
    char *updates = zsys_sprintf ("%s/commands/out", spool_directory);
    agent_commands_t *self = (agent_commands_t *) zmalloc (sizeof *self);
    self->records = spool_open (records, ".command");
    self->updates = self->records ? spool_open (updates, ".update") : NULL;
    self->waiting = zlistx_new ();
    zlistx_set_destructor (self->waiting, (zlistx_destructor_fn *) zstr_free);
    zlistx_set_comparator (self->waiting, (zlistx_comparator_fn *) strcmp);
    zstr_free (&records);
    zstr_free (&updates);
    if (!self->updates) {
        agent_commands_destroy (&self);
        return NULL;
    }
    s_recover (self);
    return self;
}

void
agent_commands_destroy (agent_commands_t **self_p)
{
    if (*self_p) {
        spool_destroy (&(*self_p)->records);
        spool_destroy (&(*self_p)->updates);
        zlistx_destroy (&(*self_p)->waiting);
        free (*self_p);
        *self_p = NULL;
    }
}

spool_t *
agent_commands_updates (agent_commands_t *self)
{
    return self->updates;
}

int
agent_commands_receive (agent_commands_t *self, const uint8_t *bytes, size_t size)
{
    Drift__Command *command = drift__command__unpack (NULL, size, bytes);
    if (!command)
        return -1;
    const char *id = command->command_id;
    json_t *record = s_record_load (self, id);
    if (record) {
        //  Run once: its updates not yet acked are still spooled.
        log_info ("command received again: answered from its record", "command_id", id);
        json_decref (record);
        drift__command__free_unpacked (command, NULL);
        return 0;
    }
    char *text = (char *) malloc (sodium_base64_ENCODED_LEN (size, sodium_base64_VARIANT_ORIGINAL));
    sodium_bin2base64 (text, sodium_base64_ENCODED_LEN (size, sodium_base64_VARIANT_ORIGINAL),
                       bytes, size, sodium_base64_VARIANT_ORIGINAL);
    record = json_pack ("{s:s, s:s, s:i, s:I}", "command", text, "state", "received",
                        "next_seq", 1, "received_us", (json_int_t) clock_wall_us ());
    free (text);
    int rc = s_record_save (self, id, record);
    if (rc == 0) {
        Drift__CommandUpdate update = DRIFT__COMMAND_UPDATE__INIT;
        update.state = DRIFT__COMMAND_STATE__COMMAND_STATE_RECEIVED;
        rc = s_update (self, id, record, &update);
        zlistx_add_end (self->waiting, strdup (id));
        log_info ("command received", "command_id", id,
                  "kind", agent_command_kind_name (command->kind), "stack", command->stack);
    }
    else
        log_error ("command not recorded (not answered: ingest sends it again)",
                   "command_id", id, "error", strerror (errno));
    json_decref (record);
    drift__command__free_unpacked (command, NULL);
    return rc;
}

bool
agent_commands_waiting (agent_commands_t *self)
{
    return zlistx_size (self->waiting) > 0;
}

Drift__Command *
agent_commands_start (agent_commands_t *self)
{
    char *id;
    while ((id = (char *) zlistx_detach (self->waiting, NULL))) {
        json_t *record = s_record_load (self, id);
        Drift__Command *command = record ? s_record_command (record) : NULL;
        if (command) {
            json_object_set_new (record, "state", json_string ("running"));
            Drift__CommandUpdate update = DRIFT__COMMAND_UPDATE__INIT;
            update.state = DRIFT__COMMAND_STATE__COMMAND_STATE_RUNNING;
            //  Marked running before it runs: a crash from here on ends it.
            if (s_update (self, id, record, &update)) {
                drift__command__free_unpacked (command, NULL);
                command = NULL;
            }
        }
        else
            log_error ("command record unreadable: not run", "command_id", id);
        json_decref (record);
        free (id);
        if (command)
            return command;
    }
    return NULL;
}

//  text cut to at most max bytes, never inside a UTF-8 character (ingest
//  refuses a message that is not UTF-8); the caller frees it.
static char *
s_cut (const char *text, size_t max)
{
    size_t length = strlen (text);
    if (length > max) {
        length = max;
        while (length && ((unsigned char) text [length] & 0xc0) == 0x80)
            length--;
    }
    return strndup (text, length);
}

int
agent_commands_update (agent_commands_t *self, const Drift__Command *command,
                       Drift__CommandUpdate *update)
{
    json_t *record = s_record_load (self, command->command_id);
    if (!record)
        return -1;
    size_t count = update->n_output;
    if (count > AGENT_COMMAND_LINES_MAX)
        count = AGENT_COMMAND_LINES_MAX;
    char *cut [count ? count : 1];
    for (size_t i = 0; i < count; i++)
        cut [i] = s_cut (update->output [i], AGENT_COMMAND_LINE_MAX);
    char *cut_message = s_cut (update->message ? update->message : "", AGENT_COMMAND_MESSAGE_MAX);
    char **output = update->output;
    char *message = update->message;
    update->message = cut_message;
    update->n_output = count;
    update->output = cut;
    if (agent_command_state_final (update->state)) {
        //  What pruning asks of a finished record: when, and how it ended.
        json_object_set_new (record, "state", json_string ("done"));
        json_object_set_new (record, "final",
                             json_string (agent_command_state_name (update->state)));
        json_object_set_new (record, "finished_us", json_integer (clock_wall_us ()));
    }
    int rc = s_update (self, command->command_id, record, update);
    update->output = output;
    update->message = message;
    for (size_t i = 0; i < count; i++)
        free (cut [i]);
    free (cut_message);
    json_decref (record);
    return rc;
}

int
agent_commands_finish (agent_commands_t *self, const Drift__Command *command,
                       Drift__CommandState state, const char *message, int exit_code,
                       const char *report_id, const char *const *lines, size_t count)
{
    Drift__CommandUpdate update = DRIFT__COMMAND_UPDATE__INIT;
    update.state = state;
    update.message = (char *) (message ? message : "");
    update.exit_code = exit_code;
    update.report_id = (char *) (report_id ? report_id : "");
    update.n_output = count;
    update.output = (char **) lines;
    int rc = agent_commands_update (self, command, &update);
    log_info ("command finished", "command_id", command->command_id,
              "state", agent_command_state_name (state), "message", message ? message : "");
    return rc;
}

//  Whether name (ID.SEQ) is an update of command id.
static bool
s_update_of (const char *name, const char *id)
{
    size_t length = strlen (id);
    return strncmp (name, id, length) == 0 && name [length] == '.';
}

int
agent_commands_prune (agent_commands_t *self, int64_t before_us)
{
    zlistx_t *ids = spool_list (self->records);
    zlistx_t *updates = spool_list (self->updates);
    int pruned = 0;
    for (const char *id = (const char *) zlistx_first (ids); id;
         id = (const char *) zlistx_next (ids)) {
        json_t *record = s_record_load (self, id);
        const char *state = json_string_value (json_object_get (record, "state"));
        json_t *finished = json_object_get (record, "finished_us");
        //  A record finished before "finished_us" was kept: its arrival.
        json_int_t at = json_integer_value (finished ? finished
                                                     : json_object_get (record, "received_us"));
        bool old = state && streq (state, "done") && at < before_us;
        for (const char *name = (const char *) zlistx_first (updates); old && name;
             name = (const char *) zlistx_next (updates))
            if (s_update_of (name, id))
                old = false;        // not all acked: ingest may not have it all
        if (old && spool_remove (self->records, id) == 0) {
            log_info ("command record pruned (finished, every update acked)", "command_id", id);
            pruned++;
        }
        json_decref (record);
    }
    zlistx_destroy (&updates);
    zlistx_destroy (&ids);
    return pruned;
}

bool
agent_commands_plan_spent (agent_commands_t *self, const char *id)
{
    json_t *record = s_record_load (self, id);
    if (!record)
        return true;
    const char *state = json_string_value (json_object_get (record, "state"));
    const char *final = json_string_value (json_object_get (record, "final"));
    //  A plan that ended other than SUCCEEDED was never offered for
    //  approval; one still running is being written.
    bool spent = state && streq (state, "done") && final && !streq (final, "succeeded");
    json_decref (record);
    return spent;
}
