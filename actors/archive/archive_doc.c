/*  archive_doc: the archive's JSON document of a scored report; see
    archive_doc.h. Built with jansson, so every string is escaped correctly
    whatever bytes a resource address or an attribute value holds.
*/
#include "archive_doc.h"
#include "../../lib/canonical.h"

#include <jansson.h>
#include <string.h>

//  What score said of one drift item.
typedef struct {
    int severity;            // strongest unsuppressed finding (or suppressed, see below)
    int suppressed_severity; // strongest suppressed finding
    double score;            // sum of unsuppressed findings' weights
    size_t findings;         // findings about the item
    size_t suppressed;       // of which suppressed
    const char *suppressed_by; // the first suppressing rule
    json_t *reasons;         // every finding, in order
} s_verdict_t;

static json_t *
s_string (const char *text)
{
    return json_string (text ? text : "");
}

static json_t *
s_changes (const Drift__DriftItem *item)
{
    json_t *changes = json_array ();
    for (size_t i = 0; i < item->n_changes; i++) {
        const Drift__AttributeChange *change = item->changes [i];
        json_t *entry = json_object ();
        json_object_set_new (entry, "path", s_string (change->path));
        json_object_set_new (entry, "op", s_string (canonical_op_name (change->op)));
        json_object_set_new (entry, "before", s_string (change->before));
        json_object_set_new (entry, "after", s_string (change->after));
        if (change->sensitive)
            json_object_set_new (entry, "sensitive", json_true ());
        if (change->unknown)
            json_object_set_new (entry, "unknown", json_true ());
        json_array_append_new (changes, entry);
    }
    return changes;
}

static json_t *
s_reason (const Drift__Finding *finding)
{
    json_t *reason = json_object ();
    json_object_set_new (reason, "rule", s_string (finding->rule));
    json_object_set_new (reason, "severity", json_integer (finding->severity));
    json_object_set_new (reason, "weight", json_real (finding->weight));
    json_object_set_new (reason, "reason", s_string (finding->reason));
    json_object_set_new (reason, "path", s_string (finding->path));
    if (finding->suppressed) {
        json_object_set_new (reason, "suppressed", json_true ());
        json_object_set_new (reason, "suppressed_by", s_string (finding->suppressed_by));
    }
    return reason;
}

//  The verdicts of every item, from the findings (each names its item).
static s_verdict_t *
s_verdicts (const Drift__ScoredReport *scored, size_t items)
{
    s_verdict_t *verdicts = (s_verdict_t *) calloc (items ? items : 1, sizeof *verdicts);
    if (!verdicts)
        return NULL;
    for (size_t i = 0; i < items; i++)
        verdicts [i].reasons = json_array ();
    for (size_t i = 0; i < scored->n_findings; i++) {
        const Drift__Finding *finding = scored->findings [i];
        if (finding->item >= items)
            continue;
        s_verdict_t *verdict = &verdicts [finding->item];
        verdict->findings++;
        if (finding->suppressed) {
            verdict->suppressed++;
            if (!verdict->suppressed_by)
                verdict->suppressed_by = finding->suppressed_by;
            if ((int) finding->severity > verdict->suppressed_severity)
                verdict->suppressed_severity = (int) finding->severity;
        }
        else {
            verdict->score += finding->weight;
            if ((int) finding->severity > verdict->severity)
                verdict->severity = (int) finding->severity;
        }
        json_array_append_new (verdict->reasons, s_reason (finding));
    }
    return verdicts;
}

static json_t *
s_items (const Drift__ScoredReport *scored)
{
    const Drift__CanonicalReport *report = scored->report;
    json_t *items = json_array ();
    s_verdict_t *verdicts = s_verdicts (scored, report->n_items);
    if (!verdicts)
        return items;
    for (size_t i = 0; i < report->n_items; i++) {
        const Drift__DriftItem *item = report->items [i];
        s_verdict_t *verdict = &verdicts [i];
        bool suppressed = verdict->findings > 0 && verdict->suppressed == verdict->findings;
        json_t *entry = json_object ();
        json_object_set_new (entry, "fingerprint", s_string (item->fingerprint));
        json_object_set_new (entry, "address", s_string (item->address));
        json_object_set_new (entry, "type", s_string (item->type));
        json_object_set_new (entry, "kind", s_string (canonical_kind_name (item->kind)));
        json_object_set_new (entry, "class", s_string (canonical_class_name (item->class_)));
        json_object_set_new (entry, "changes", s_changes (item));
        json_object_set_new (entry, "severity", json_integer (
            suppressed ? verdict->suppressed_severity : verdict->severity));
        json_object_set_new (entry, "score", json_real (verdict->score));
        json_object_set_new (entry, "reasons", verdict->reasons);
        json_object_set_new (entry, "suppressed", json_boolean (suppressed));
        if (suppressed)
            json_object_set_new (entry, "suppressed_by", s_string (verdict->suppressed_by));
        json_array_append_new (items, entry);
    }
    free (verdicts);
    return items;
}

static json_t *
s_counts (const Drift__ScoredReport *scored)
{
    const Drift__ReportCounts *counts = scored->report->counts;
    json_t *object = json_object ();
    if (counts) {
        json_object_set_new (object, "modified", json_integer (counts->modified));
        json_object_set_new (object, "deleted", json_integer (counts->deleted));
        json_object_set_new (object, "replaced", json_integer (counts->replaced));
        json_object_set_new (object, "moved", json_integer (counts->moved));
        json_object_set_new (object, "ignored", json_integer (counts->ignored));
        json_object_set_new (object, "real", json_integer (counts->real));
        json_object_set_new (object, "mirror", json_integer (counts->mirror));
        json_object_set_new (object, "noise", json_integer (counts->noise));
        json_object_set_new (object, "pending", json_integer (counts->pending));
    }
    size_t suppressed = 0;
    for (size_t i = 0; i < scored->n_findings; i++)
        suppressed += scored->findings [i]->suppressed;
    json_object_set_new (object, "items", json_integer ((json_int_t) scored->report->n_items));
    json_object_set_new (object, "findings", json_integer ((json_int_t) scored->n_findings));
    json_object_set_new (object, "suppressed", json_integer ((json_int_t) suppressed));
    return object;
}

int64_t
archive_stamp_us (const Drift__Envelope *envelope, const char *stage)
{
    for (size_t i = envelope->n_stamps; i > 0; i--)
        if (envelope->stamps [i - 1]->stage && strcmp (envelope->stamps [i - 1]->stage, stage) == 0)
            return envelope->stamps [i - 1]->at_us;
    return 0;
}

char *
archive_doc (const Drift__Envelope *envelope, const Drift__ScoredReport *scored,
             const char *object_key, const char *key_id)
{
    const Drift__CanonicalReport *report = scored->report;
    bool ok = report->status == DRIFT__REPORT_STATUS__REPORT_STATUS_OK;
    json_t *doc = json_object ();
    json_object_set_new (doc, "tenant", s_string (envelope->tenant));
    json_object_set_new (doc, "report_id", s_string (envelope->report_id));
    json_object_set_new (doc, "stack", s_string (envelope->stack));
    json_object_set_new (doc, "engine", s_string (*report->engine ? report->engine : "unknown"));
    json_object_set_new (doc, "agent_key", s_string (envelope->agent_key));
    json_object_set_new (doc, "status", s_string (ok ? "ok" : "failed"));
    if (!ok)
        json_object_set_new (doc, "reason", s_string (*report->reason ? report->reason
                                                      : "the check failed without a reason"));
    json_object_set_new (doc, "received_us", json_integer (envelope->received_us));
    json_object_set_new (doc, "normalized_us", json_integer (report->normalized_us));
    json_object_set_new (doc, "scored_us", json_integer (archive_stamp_us (envelope, "score")));
    json_object_set_new (doc, "severity", json_integer (scored->severity));
    json_object_set_new (doc, "score", json_integer (scored->score));
    json_object_set_new (doc, "counts", s_counts (scored));
    if (object_key && key_id) {
        json_object_set_new (doc, "object_key", s_string (object_key));
        json_object_set_new (doc, "key_id", s_string (key_id));
    }
    json_object_set_new (doc, "items", ok ? s_items (scored) : json_array ());
    char *text = json_dumps (doc, JSON_COMPACT);
    json_decref (doc);
    return text;
}
