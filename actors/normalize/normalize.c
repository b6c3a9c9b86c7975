/*  normalize: raw report → canonical report; see normalize.h.

    The payload is decompressed here rather than with the agent's
    report_payload: the server does not link agent code, and a payload is
    input from outside to be checked (declared size, frame size, limit)
    before a byte of memory is spent on it.
*/
#include "normalize.h"
#include "../../lib/canonical.h"
#include "cfn.h"
#include "pulumi.h"
#include "tfplan.h"
#include "tfstream.h"

#include <czmq.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

struct _normalize_t {
    uint8_t key [MASK_KEY_BYTES]; // mask key for sensitive values still in clear
    classify_t *rules;           // classification rules
    size_t max_resources;        // resource limit per list
    normalize_stats_t stats;     // counters
};

normalize_t *
normalize_new (const uint8_t *key)
{
    if (sodium_init () < 0)
        return NULL;
    normalize_t *self = (normalize_t *) calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->rules = classify_new ();
    if (!self->rules) {
        free (self);
        return NULL;
    }
    if (key)
        memcpy (self->key, key, MASK_KEY_BYTES);
    else
        randombytes_buf (self->key, MASK_KEY_BYTES);
    self->max_resources = NORMALIZE_MAX_RESOURCES;
    return self;
}

void
normalize_destroy (normalize_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    normalize_t *self = *self_p;
    sodium_memzero (self->key, sizeof self->key);
    classify_destroy (&self->rules);
    free (self);
    *self_p = NULL;
}

classify_t *
normalize_rules (normalize_t *self)
{
    return self->rules;
}

void
normalize_set_max_resources (normalize_t *self, size_t max_resources)
{
    self->max_resources = max_resources ? max_resources : NORMALIZE_MAX_RESOURCES;
}

void
normalize_stats (normalize_t *self, normalize_stats_t *stats)
{
    *stats = self->stats;
}

//  --------------------------------------------------------------------------

static const jdoc_limits_t s_limits = { NORMALIZE_MAX_DEPTH, NORMALIZE_MAX_BYTES };

static canonical_context_t
s_context (normalize_t *self, const char *tenant, const char *stack)
{
    canonical_context_t context = {
        .tenant = tenant ? tenant : "",
        .stack = stack ? stack : "",
        .mask_key = self->key,
        .rules = self->rules,
        .max_resources = self->max_resources,
        .limits = &s_limits
    };
    return context;
}

//  A plan document: parse, then read. The text is freed as soon as it is
//  parsed (jdoc keeps its own copy of every string), so a large plan is
//  never in memory three times over. Returns as tfplan_read.
static int
s_plan (const canonical_context_t *context, Drift__CanonicalReport *report, char **text,
        size_t size)
{
    jdoc_error_t error;
    jdoc_t *doc = jdoc_parse (*text, size, context->limits, &error);
    free (*text);
    *text = NULL;
    if (!doc)
        return canonical_fail (report, "line %d column %d: %s", error.line, error.column,
                               error.message);
    int rc = tfplan_read (jdoc_root (doc), context, report);
    jdoc_destroy (&doc);
    return rc;
}

//  Count one report answered, with what its reader returned.
static Drift__CanonicalReport *
s_done (normalize_t *self, Drift__CanonicalReport *report, int rc, bool unreadable)
{
    self->stats.reports++;
    if (report->status == DRIFT__REPORT_STATUS__REPORT_STATUS_FAILED) {
        self->stats.failed++;
        if (unreadable)
            self->stats.unreadable++;
        else
        if (rc == 1)
            self->stats.errored++;
        else
            self->stats.refused++;
    }
    report->normalized_us = zclock_time () * 1000;
    return report;
}

//  The payload of a raw report, checked and decompressed (caller frees),
//  or NULL with the report failed.
static char *
s_payload (const Drift__Report *raw, Drift__CanonicalReport *report, size_t *size)
{
    if (raw->compression == DRIFT__COMPRESSION__COMPRESSION_NONE) {
        if (raw->payload.len > NORMALIZE_MAX_BYTES) {
            canonical_fail (report, "payload of %zu bytes is over the limit of %zu",
                            raw->payload.len, NORMALIZE_MAX_BYTES);
            return NULL;
        }
        char *text = (char *) malloc (raw->payload.len + 1);
        if (!text) {
            canonical_fail (report, "out of memory");
            return NULL;
        }
        if (raw->payload.len)
            memcpy (text, raw->payload.data, raw->payload.len);
        text [raw->payload.len] = 0;
        *size = raw->payload.len;
        return text;
    }
    if (raw->compression != DRIFT__COMPRESSION__COMPRESSION_ZSTD) {
        canonical_fail (report, "unknown payload compression %d", (int) raw->compression);
        return NULL;
    }
    unsigned long long declared = ZSTD_getFrameContentSize (raw->payload.data, raw->payload.len);
    if (declared == ZSTD_CONTENTSIZE_UNKNOWN || declared == ZSTD_CONTENTSIZE_ERROR) {
        canonical_fail (report, "payload is not a zstd frame that records its size");
        return NULL;
    }
    if (declared != raw->uncompressed_size || declared > NORMALIZE_MAX_BYTES) {
        canonical_fail (report, "payload declares %llu bytes, the report %llu (limit %zu)",
                        declared, (unsigned long long) raw->uncompressed_size,
                        NORMALIZE_MAX_BYTES);
        return NULL;
    }
    char *text = (char *) malloc (declared + 1);
    if (!text) {
        canonical_fail (report, "out of memory");
        return NULL;
    }
    size_t got = ZSTD_decompress (text, declared, raw->payload.data, raw->payload.len);
    if (ZSTD_isError (got) || got != declared) {
        canonical_fail (report, "payload does not decompress: %s",
                        ZSTD_isError (got) ? ZSTD_getErrorName (got) : "short frame");
        free (text);
        return NULL;
    }
    text [got] = 0;
    *size = got;
    return text;
}

//  A CloudFormation drift document or a Pulumi preview, as its report's
//  format says (the content must agree).
static int
s_other (canonical_context_t *context, Drift__CanonicalReport *report, const char *text,
         size_t length, bool pulumi)
{
    jdoc_error_t error;
    jdoc_t *doc = jdoc_parse (text, length, &s_limits, &error);
    const jdoc_value_t *root = jdoc_root (doc);
    int rc;
    if (!doc)
        rc = canonical_fail (report, "line %d column %d: %s", error.line, error.column,
                             error.message);
    else
    if (pulumi)
        rc = pulumi_detect (root) ? pulumi_read (root, context, report)
           : canonical_fail (report, "report says PULUMI but the document is not a Pulumi "
                             "preview (steps)");
    else
        rc = cfn_detect (root) ? cfn_read (root, context, report)
           : canonical_fail (report, "report says CLOUDFORMATION but the document is not "
                             "CloudFormation drift (StackResourceDrifts)");
    jdoc_destroy (&doc);
    return rc;
}

Drift__CanonicalReport *
normalize_raw (normalize_t *self, const char *tenant, const uint8_t *raw, size_t size)
{
    Drift__CanonicalReport *report = canonical_new ();
    if (!report)
        return NULL;
    report->raw.data = (uint8_t *) malloc (size ? size : 1);
    if (!report->raw.data) {
        drift__canonical_report__free_unpacked (report, NULL);
        return NULL;
    }
    if (size)
        memcpy (report->raw.data, raw, size);
    report->raw.len = size;

    Drift__Report *message = size ? drift__report__unpack (NULL, size, raw) : NULL;
    if (!message) {
        canonical_fail (report, "raw body of %zu bytes is not a drift.Report", size);
        return s_done (self, report, -1, true);
    }
    free (report->report_id);
    report->report_id = canonical_strdup (message->report_id);
    free (report->stack);
    report->stack = canonical_strdup (message->stack);
    free (report->engine);
    report->engine = canonical_strdup (message->engine);
    free (report->engine_version);
    report->engine_version = canonical_strdup (message->engine_version);
    report->produced_us = message->produced_us;
    free (report->driftignore);
    report->driftignore = canonical_strdup (message->driftignore);

    int rc = -1;
    bool unreadable = false;
    canonical_context_t context = s_context (self, tenant, message->stack);
    size_t length = 0;
    char *text = s_payload (message, report, &length);
    if (!text)
        unreadable = true;
    else
    if (message->format == DRIFT__REPORT_FORMAT__REPORT_FORMAT_PLAN_JSON)
        rc = s_plan (&context, report, &text, length);
    else
    if (message->format == DRIFT__REPORT_FORMAT__REPORT_FORMAT_PLAN_STREAM)
        rc = tfstream_read (text, length, &context, report);
    else
    if (message->format == DRIFT__REPORT_FORMAT__REPORT_FORMAT_CLOUDFORMATION
    ||  message->format == DRIFT__REPORT_FORMAT__REPORT_FORMAT_PULUMI)
        rc = s_other (&context, report, text, length,
                      message->format == DRIFT__REPORT_FORMAT__REPORT_FORMAT_PULUMI);
    else {
        canonical_fail (report, "unknown report format %d", (int) message->format);
        unreadable = true;
    }
    free (text);
    drift__report__free_unpacked (message, NULL);
    return s_done (self, report, rc, unreadable);
}

//  True if the first line of text is a JSON object with @level: the start
//  of a `plan -json` stream.
static bool
s_stream_start (const char *text, size_t size)
{
    const char *newline = (const char *) memchr (text, '\n', size);
    size_t length = newline ? (size_t) (newline - text) : size;
    jdoc_t *doc = jdoc_parse (text, length, &s_limits, NULL);
    bool stream = doc && jdoc_get (jdoc_root (doc), "@level") != NULL;
    jdoc_destroy (&doc);
    return stream;
}

Drift__CanonicalReport *
normalize_document (normalize_t *self, const char *tenant, const char *stack, const char *text,
                    size_t size)
{
    Drift__CanonicalReport *report = canonical_new ();
    if (!report)
        return NULL;
    free (report->stack);
    report->stack = canonical_strdup (stack);
    canonical_context_t context = s_context (self, tenant, stack);
    int rc;
    jdoc_error_t error;
    jdoc_t *doc = jdoc_parse (text, size, &s_limits, &error);
    const jdoc_value_t *root = jdoc_root (doc);
    if (doc && jdoc_get (root, "format_version"))
        rc = tfplan_read (root, &context, report);
    else
    if (doc && jdoc_get (root, "@level"))
        rc = tfstream_read (text, size, &context, report);
    else
    if (doc && cfn_detect (root))
        rc = cfn_read (root, &context, report);
    else
    if (doc && pulumi_detect (root))
        rc = pulumi_read (root, &context, report);
    else
    if (doc)
        rc = canonical_fail (report, "document is none of: a plan (format_version), a plan "
                             "-json stream, CloudFormation drift (StackResourceDrifts), a "
                             "Pulumi preview (steps)");
    else
    if (s_stream_start (text, size))
        rc = tfstream_read (text, size, &context, report);
    else
        rc = canonical_fail (report, "line %d column %d: %s", error.line, error.column,
                             error.message);
    jdoc_destroy (&doc);
    return s_done (self, report, rc, false);
}
