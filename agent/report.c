/*  report: detect, redact, compress; see report.h. */
#include "report.h"
#include "../lib/agent_link.h"

#include <czmq.h>
#include <jansson.h>
#include <sodium.h>
#include <zstd.h>

#define REPORT_ZSTD_LEVEL 3

static char *
s_error (const char *format, ...)
{
    va_list args;
    va_start (args, format);
    char *text = zsys_vprintf (format, args);
    va_end (args);
    return text;
}

char *
report_new_id (void)
{
    time_t now = time (NULL);
    struct tm utc;
    gmtime_r (&now, &utc);
    uint8_t random [8];
    randombytes_buf (random, sizeof random);
    char hex [17];
    sodium_bin2hex (hex, sizeof hex, random, sizeof random);
    char stamp [20];
    strftime (stamp, sizeof stamp, "%Y%m%dT%H%M%SZ", &utc);
    return zsys_sprintf ("%s-%s", stamp, hex);
}

//  A `show -json` plan document: redact, check the format version, return
//  the compact text.
static char *
s_plan (json_t *plan, const report_options_t *options, char **engine_version, char **error)
{
    const char *version = json_string_value (json_object_get (plan, "format_version"));
    if (!version || strncmp (version, "1.", 2) != 0) {
        *error = s_error ("plan format_version %s is not supported (this agent reads 1.x)",
                          version ? version : "(missing)");
        return NULL;
    }
    redact_stats_t stats = { 0, options->secrets };
    if (redact_plan (plan, options->redact_key, &stats)) {
        *error = s_error ("plan could not be redacted");
        return NULL;
    }
    const char *engine = json_string_value (json_object_get (plan, "terraform_version"));
    *engine_version = strdup (engine ? engine : "");
    return json_dumps (plan, JSON_COMPACT);
}

//  A `plan -json` stream: every line must be a JSON object with @level.
//  Terraform prints sensitive values in it as "(sensitive value)" already;
//  each line is re-encoded, so nothing but checked JSON is sent.
static char *
s_stream (const char *input, size_t size, char **engine_version, char **error)
{
    zchunk_t *out = zchunk_new (NULL, size + 16);
    const char *at = input, *end = input + size;
    int lines = 0, documents = 0;
    *engine_version = NULL;
    while (at < end) {
        const char *newline = memchr (at, '\n', (size_t) (end - at));
        const char *line_end = newline ? newline : end;
        json_error_t parse;
        json_t *line = line_end > at ? json_loadb (at, (size_t) (line_end - at), 0, &parse) : NULL;
        bool blank = line_end == at;
        if (!blank && (!json_is_object (line) || !json_object_get (line, "@level"))) {
            json_decref (line);
            zchunk_destroy (&out);
            free (*engine_version);
            *engine_version = NULL;
            *error = s_error ("line %d is not a plan -json stream line", lines + 1);
            return NULL;
        }
        if (line) {
            documents++;
            const char *terraform = json_string_value (json_object_get (line, "terraform"));
            if (terraform && !*engine_version)
                *engine_version = strdup (terraform);
            char *text = json_dumps (line, JSON_COMPACT);
            zchunk_extend (out, text, strlen (text));
            zchunk_extend (out, "\n", 1);
            free (text);
            json_decref (line);
        }
        lines++;
        at = line_end + 1;
    }
    if (documents == 0) {
        zchunk_destroy (&out);
        free (*engine_version);
        *engine_version = NULL;
        *error = s_error ("input is empty");
        return NULL;
    }
    if (!*engine_version)
        *engine_version = strdup ("");
    zchunk_extend (out, "", 1);
    char *text = strdup ((const char *) zchunk_data (out));
    zchunk_destroy (&out);
    return text;
}

Drift__Report *
report_build (const char *input, size_t size, const report_options_t *options, char **error)
{
    *error = NULL;
    if (!agent_link_valid_stack (options->stack)) {
        *error = s_error ("stack name must be 1-200 characters of text");
        return NULL;
    }
    if (options->driftignore && strlen (options->driftignore) > REPORT_MAX_DRIFTIGNORE) {
        *error = s_error (".driftignore larger than %d bytes", REPORT_MAX_DRIFTIGNORE);
        return NULL;
    }
    Drift__ReportFormat format = DRIFT__REPORT_FORMAT__REPORT_FORMAT_UNSPECIFIED;
    char *engine_version = NULL;
    char *document = NULL;
    json_t *plan = json_loadb (input, size, 0, NULL);
    const char *engine = options->engine;
    if (json_is_object (plan) && json_object_get (plan, "format_version")) {
        format = DRIFT__REPORT_FORMAT__REPORT_FORMAT_PLAN_JSON;
        document = s_plan (plan, options, &engine_version, error);
    }
    else
    //  CloudFormation drift and Pulumi previews carry no values Terraform
    //  marks sensitive: CloudFormation leaves NoEcho parameters out of drift
    //  and Pulumi prints secrets as "[secret]".
    if (json_is_array (json_object_get (plan, "StackResourceDrifts"))) {
        format = DRIFT__REPORT_FORMAT__REPORT_FORMAT_CLOUDFORMATION;
        document = json_dumps (plan, JSON_COMPACT);
        engine = "cloudformation";
        engine_version = strdup ("");
    }
    else
    if (json_is_array (json_object_get (plan, "steps"))) {
        format = DRIFT__REPORT_FORMAT__REPORT_FORMAT_PULUMI;
        document = json_dumps (plan, JSON_COMPACT);
        engine = "pulumi";
        engine_version = strdup ("");
    }
    else
    if (plan) {
        *error = s_error ("input is JSON but none of: `show -json` output of a plan, "
                          "CloudFormation drift (StackResourceDrifts), a Pulumi preview (steps)");
    }
    else {
        format = DRIFT__REPORT_FORMAT__REPORT_FORMAT_PLAN_STREAM;
        document = s_stream (input, size, &engine_version, error);
        if (!document) {
            free (*error);
            *error = s_error ("input is neither `show -json` output of a plan nor a "
                              "`plan -json` stream");
        }
    }
    json_decref (plan);
    if (!document)
        return NULL;

    size_t length = strlen (document);
    size_t bound = ZSTD_compressBound (length);
    uint8_t *compressed = (uint8_t *) malloc (bound);
    size_t compressed_size = ZSTD_compress (compressed, bound, document, length, REPORT_ZSTD_LEVEL);
    sodium_memzero (document, length);
    free (document);
    if (ZSTD_isError (compressed_size)) {
        *error = s_error ("compression failed: %s", ZSTD_getErrorName (compressed_size));
        free (compressed);
        free (engine_version);
        return NULL;
    }
    //  Built with malloc throughout, so drift__report__free_unpacked frees it.
    Drift__Report *report = (Drift__Report *) malloc (sizeof *report);
    drift__report__init (report);
    report->report_id = report_new_id ();
    report->stack = strdup (options->stack);
    report->format = format;
    report->compression = DRIFT__COMPRESSION__COMPRESSION_ZSTD;
    report->payload.data = compressed;
    report->payload.len = compressed_size;
    report->uncompressed_size = length;
    report->produced_us = zclock_time () * 1000;
    report->engine = strdup (engine);
    report->engine_version = engine_version;
    report->driftignore = strdup (options->driftignore ? options->driftignore : "");
    report->command_id = strdup (options->command_id ? options->command_id : "");
    return report;
}

char *
report_payload (const Drift__Report *report, size_t *size)
{
    if (report->compression == DRIFT__COMPRESSION__COMPRESSION_NONE) {
        char *copy = (char *) malloc (report->payload.len + 1);
        memcpy (copy, report->payload.data, report->payload.len);
        copy [report->payload.len] = 0;
        *size = report->payload.len;
        return copy;
    }
    unsigned long long declared = ZSTD_getFrameContentSize (report->payload.data,
                                                            report->payload.len);
    if (declared != report->uncompressed_size || declared > AGENT_LINK_MAX_REPORT_BYTES)
        return NULL;
    char *text = (char *) malloc (declared + 1);
    size_t got = ZSTD_decompress (text, declared, report->payload.data, report->payload.len);
    if (ZSTD_isError (got) || got != declared) {
        free (text);
        return NULL;
    }
    text [got] = 0;
    *size = got;
    return text;
}
