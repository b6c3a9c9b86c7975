/*  classify: the rules and the tables behind them; see classify.h.

    Each table row is one fact about a provider, with the reason that goes
    into the report. Adding a provider's quirk is adding a row. A resource
    type of "*" matches every type (tags_all is the AWS provider's, labels
    the Google provider's, across all their resources).

    The work per report: index the split resources that changed and those
    in the state, and the relevant attributes; then classify every item in
    two rounds, children before parents, so a parent's mirror can see
    whether what it repeats is itself noise.
*/
#include "classify.h"
#include "semeq.h"
#include "../../lib/textbuf.h"

#include <czmq.h>
#include <stdlib.h>
#include <string.h>

//  --------------------------------------------------------------------------
//  The tables

//  Attributes the provider recomputes on reads, or that AWS itself moves,
//  with nothing done out of band.
typedef struct {
    const char *type;            // resource type, or "*"
    const char *attribute;       // top-level attribute
    const char *reason;          // for the report
} volatile_rule_t;

static const volatile_rule_t s_volatile [] = {
    { "aws_db_instance", "latest_restorable_time",
      "volatile: RDS moves the latest restorable time forward on every read" },
    { "aws_db_instance", "status",
      "volatile: the instance's momentary state (backing-up, modifying)" },
    { "aws_db_instance", "engine_version_actual",
      "volatile: moved by RDS automatic minor version upgrades" },
    { "aws_rds_cluster", "engine_version_actual",
      "volatile: moved by RDS automatic minor version upgrades" },
    { "aws_autoscaling_group", "desired_capacity",
      "volatile: set by scaling policies and scheduled actions" },
    { "aws_cloudfront_distribution", "status",
      "volatile: deployment state, InProgress until every edge has the change" },
    { "aws_cloudfront_distribution", "in_progress_validation_batches",
      "volatile: invalidations in flight" },
    { "aws_eks_cluster", "platform_version",
      "volatile: EKS upgrades platform versions itself" },
    //  Pulumi's AWS provider is Terraform's, bridged, with camelCase names.
    { "aws:rds/instance:Instance", "latestRestorableTime",
      "volatile: RDS moves the latest restorable time forward on every read" },
};

//  Attributes that repeat another change of the same resource: `repeats`
//  names the attribute, or is NULL for a counter that moves with any
//  change of the resource.
typedef struct {
    const char *type;            // resource type, or "*"
    const char *attribute;       // the mirror
    const char *repeats;         // what it repeats, NULL: any other change
    const char *reason;          // for the report
} echo_rule_t;

static const echo_rule_t s_echoes [] = {
    { "*", "tags_all", "tags", "mirror: tags_all is tags merged with the provider's default_tags" },
    { "*", "tagsAll", "tags", "mirror: tagsAll is tags merged with the provider's defaultTags" },
    { "*", "effective_labels", "labels", "mirror: effective_labels is labels with the provider's" },
    { "*", "terraform_labels", "labels", "mirror: terraform_labels is labels with the provider's" },
    { "*", "label_fingerprint", "labels", "mirror: label_fingerprint hashes labels" },
    { "aws_ssm_parameter", "version", NULL, "mirror: SSM bumps version on every write" },
    { "aws_lambda_function", "version", NULL, "mirror: a publish numbers a new version" },
    { "aws_lambda_function", "qualified_arn", NULL, "mirror: the ARN of the new version" },
    { "aws_lambda_function", "qualified_invoke_arn", NULL, "mirror: the ARN of the new version" },
    { "aws_lambda_function", "last_modified", NULL, "mirror: stamped by every update" },
    { "aws_launch_template", "latest_version", NULL, "mirror: every change is a new version" },
    { "aws_cloudfront_distribution", "etag", NULL, "mirror: a new etag with every change" },
    { "aws_cloudfront_distribution", "last_modified_time", NULL, "mirror: stamped by every update" },
};

//  How a split resource relates to its parent's read-only copy.
typedef enum {
    SPLIT_WHOLE,                 // the child reads the whole block: unchanged child, copy is noise
    SPLIT_ELEMENTS,              // each child owns one element, named by a field
    SPLIT_FILL                   // each child owns one element we cannot name: only filling in is noise
} split_kind_t;

//  A parent attribute that copies what split resources manage.
typedef struct {
    const char *parent_type;     // e.g. aws_s3_bucket
    const char *attribute;       // its read-only copy, e.g. versioning
    const char *child_type;      // the split resource, e.g. aws_s3_bucket_versioning
    const char *child_key;       // child attribute naming the parent, e.g. bucket; a
                                 // dotted path goes into the first element of blocks
    const char *parent_keys [2]; // parent attributes it may name (second may be NULL)
    split_kind_t kind;
    const char *element_field;   // SPLIT_ELEMENTS: field naming an element (NULL: the element)
    const char *child_element;   // SPLIT_ELEMENTS: child attribute holding that name
} split_rule_t;

#define S3_WHOLE(attribute, child) \
    { "aws_s3_bucket", attribute, child, "bucket", { "bucket", "id" }, SPLIT_WHOLE, NULL, NULL }

static const split_rule_t s_splits [] = {
    S3_WHOLE ("server_side_encryption_configuration",
              "aws_s3_bucket_server_side_encryption_configuration"),
    S3_WHOLE ("versioning", "aws_s3_bucket_versioning"),
    S3_WHOLE ("logging", "aws_s3_bucket_logging"),
    S3_WHOLE ("lifecycle_rule", "aws_s3_bucket_lifecycle_configuration"),
    S3_WHOLE ("cors_rule", "aws_s3_bucket_cors_configuration"),
    S3_WHOLE ("website", "aws_s3_bucket_website_configuration"),
    S3_WHOLE ("website_endpoint", "aws_s3_bucket_website_configuration"),
    S3_WHOLE ("website_domain", "aws_s3_bucket_website_configuration"),
    S3_WHOLE ("acl", "aws_s3_bucket_acl"),
    S3_WHOLE ("grant", "aws_s3_bucket_acl"),
    S3_WHOLE ("policy", "aws_s3_bucket_policy"),
    S3_WHOLE ("replication_configuration", "aws_s3_bucket_replication_configuration"),
    S3_WHOLE ("object_lock_configuration", "aws_s3_bucket_object_lock_configuration"),
    S3_WHOLE ("request_payer", "aws_s3_bucket_request_payment_configuration"),
    S3_WHOLE ("acceleration_status", "aws_s3_bucket_accelerate_configuration"),
    { "aws_sns_topic", "policy", "aws_sns_topic_policy", "arn", { "arn", NULL },
      SPLIT_WHOLE, NULL, NULL },
    { "aws_sqs_queue", "policy", "aws_sqs_queue_policy", "queue_url", { "id", "url" },
      SPLIT_WHOLE, NULL, NULL },
    { "aws_iam_role", "inline_policy", "aws_iam_role_policy", "role", { "name", "id" },
      SPLIT_ELEMENTS, "name", "name" },
    { "aws_iam_role", "managed_policy_arns", "aws_iam_role_policy_attachment", "role",
      { "name", "id" }, SPLIT_ELEMENTS, NULL, "policy_arn" },
    { "aws_security_group", "ingress", "aws_security_group_rule", "security_group_id",
      { "id", NULL }, SPLIT_FILL, NULL, NULL },
    { "aws_security_group", "egress", "aws_security_group_rule", "security_group_id",
      { "id", NULL }, SPLIT_FILL, NULL, NULL },
    { "aws_security_group", "ingress", "aws_vpc_security_group_ingress_rule", "security_group_id",
      { "id", NULL }, SPLIT_FILL, NULL, NULL },
    { "aws_security_group", "egress", "aws_vpc_security_group_egress_rule", "security_group_id",
      { "id", NULL }, SPLIT_FILL, NULL, NULL },
    { "aws_route_table", "route", "aws_route", "route_table_id", { "id", NULL },
      SPLIT_FILL, NULL, NULL },
    { "aws_network_acl", "ingress", "aws_network_acl_rule", "network_acl_id", { "id", NULL },
      SPLIT_FILL, NULL, NULL },
    { "aws_network_acl", "egress", "aws_network_acl_rule", "network_acl_id", { "id", NULL },
      SPLIT_FILL, NULL, NULL },
    //  Counts and back-references the provider computes from other
    //  resources: 0 or empty at creation, filled in once they exist.
    { "aws_iam_policy", "attachment_count", "aws_iam_role_policy_attachment", "policy_arn",
      { "arn", NULL }, SPLIT_FILL, NULL, NULL },
    { "aws_iam_policy", "attachment_count", "aws_iam_user_policy_attachment", "policy_arn",
      { "arn", NULL }, SPLIT_FILL, NULL, NULL },
    { "aws_iam_policy", "attachment_count", "aws_iam_group_policy_attachment", "policy_arn",
      { "arn", NULL }, SPLIT_FILL, NULL, NULL },
    { "aws_lb_target_group", "load_balancer_arns", "aws_lb_listener",
      "default_action.target_group_arn", { "arn", NULL }, SPLIT_FILL, NULL, NULL },
    { "aws_lb_target_group", "load_balancer_arns", "aws_lb_listener_rule",
      "action.target_group_arn", { "arn", NULL }, SPLIT_FILL, NULL, NULL },
};

#define COUNT_OF(table) (sizeof table / sizeof table [0])

//  A volatile attribute added at run time.
typedef struct {
    char *type;                  // resource type, or "*"
    char *attribute;             // top-level attribute
} extra_volatile_t;

struct _classify_t {
    extra_volatile_t *extras;    // volatile attributes added at run time
    size_t extra_count;          // how many
    semeq_t *semeq;              // semantic equality, with the set table
};

classify_t *
classify_new (void)
{
    classify_t *self = (classify_t *) calloc (1, sizeof (classify_t));
    if (self && !(self->semeq = semeq_new ()))
        classify_destroy (&self);
    return self;
}

void
classify_destroy (classify_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    classify_t *self = *self_p;
    for (size_t index = 0; index < self->extra_count; index++) {
        free (self->extras [index].type);
        free (self->extras [index].attribute);
    }
    free (self->extras);
    semeq_destroy (&self->semeq);
    free (self);
    *self_p = NULL;
}

int
classify_add_volatile (classify_t *self, const char *spec)
{
    const char *dot = spec ? strchr (spec, '.') : NULL;
    if (!dot || dot == spec || !dot [1] || strchr (dot + 1, '.'))
        return -1;
    extra_volatile_t *extras = (extra_volatile_t *) realloc (
        self->extras, (self->extra_count + 1) * sizeof *extras);
    if (!extras)
        return -1;
    self->extras = extras;
    extras [self->extra_count].type = strndup (spec, (size_t) (dot - spec));
    extras [self->extra_count].attribute = strdup (dot + 1);
    self->extra_count++;
    return 0;
}

static bool
s_type_matches (const char *rule_type, const char *type)
{
    return strcmp (rule_type, "*") == 0 || strcmp (rule_type, type) == 0;
}

//  --------------------------------------------------------------------------
//  Indexes of one report

typedef struct {
    zhashx_t *changed;           // "child type \x1f parent key" → first changed classify_entry_t
    zhashx_t *state;             // "child type \x1f parent key [\x1f element]" → present
    zhashx_t *relevant;          // "address \x1f attribute" or "address \x1f" → present
    textbuf_t key;               // scratch for building keys
    bool failed;                 // memory ran out
} indexes_t;

//  A marker value for hash sets: zhashx needs non-NULL items.
static int s_present;

static bool
s_is_child_type (const char *type)
{
    for (size_t index = 0; index < COUNT_OF (s_splits); index++)
        if (strcmp (s_splits [index].child_type, type) == 0)
            return true;
    return false;
}

static bool
s_is_parent_type (const char *type)
{
    for (size_t index = 0; index < COUNT_OF (s_splits); index++)
        if (strcmp (s_splits [index].parent_type, type) == 0)
            return true;
    return false;
}

//  The key "a \x1f b [\x1f c]" in the scratch buffer.
static const char *
s_key (indexes_t *self, const char *a, const char *b, const char *c)
{
    textbuf_truncate (&self->key, 0);
    textbuf_adds (&self->key, a);
    textbuf_addc (&self->key, '\x1f');
    textbuf_adds (&self->key, b);
    if (c) {
        textbuf_addc (&self->key, '\x1f');
        textbuf_adds (&self->key, c);
    }
    if (self->key.failed) {
        self->failed = true;
        return NULL;
    }
    return self->key.data;
}

static void
s_set (indexes_t *self, zhashx_t *hash, const char *key, void *item)
{
    if (key && zhashx_lookup (hash, key) == NULL && zhashx_insert (hash, key, item) != 0)
        self->failed = true;
}

//  A string member of values, or NULL.
static const char *
s_text (const jdoc_value_t *values, const char *name)
{
    return jdoc_string (jdoc_get (values, name), NULL);
}

//  The string at a child's key: a member, or for a dotted path a member of
//  the first element of each block on the way (default_action.target_group_arn).
static const char *
s_child_text (const jdoc_value_t *values, const char *key)
{
    const char *dot = strchr (key, '.');
    if (!dot)
        return s_text (values, key);
    char name [64];
    size_t length = (size_t) (dot - key);
    if (length >= sizeof name)
        return NULL;
    memcpy (name, key, length);
    name [length] = 0;
    const jdoc_value_t *inner = jdoc_get (values, name);
    if (jdoc_type (inner) == JDOC_ARRAY)
        inner = jdoc_at (inner, 0);
    return s_child_text (inner, dot + 1);
}

//  Index a split resource of the state: by its parent key, and by each
//  rule's element name it holds.
static void
s_index_state_resource (indexes_t *self, const jdoc_value_t *resource)
{
    const char *type = s_text (resource, "type");
    if (!type || !s_is_child_type (type))
        return;
    const jdoc_value_t *values = jdoc_get (resource, "values");
    for (size_t index = 0; index < COUNT_OF (s_splits); index++) {
        const split_rule_t *rule = &s_splits [index];
        if (strcmp (rule->child_type, type) != 0)
            continue;
        const char *parent = s_child_text (values, rule->child_key);
        if (!parent)
            continue;
        s_set (self, self->state, s_key (self, type, parent, NULL), &s_present);
        const char *element = rule->child_element ? s_text (values, rule->child_element) : NULL;
        if (element)
            s_set (self, self->state, s_key (self, type, parent, element), &s_present);
    }
}

//  A module of prior_state: its resources, then its child modules.
static void
s_index_state_module (indexes_t *self, const jdoc_value_t *module)
{
    const jdoc_value_t *resources = jdoc_get (module, "resources");
    for (size_t index = 0; index < jdoc_size (resources); index++)
        s_index_state_resource (self, jdoc_at (resources, index));
    const jdoc_value_t *children = jdoc_get (module, "child_modules");
    for (size_t index = 0; index < jdoc_size (children); index++)
        s_index_state_module (self, jdoc_at (children, index));
}

//  The resource object of an entry to read keys from: after, or before
//  when it was deleted.
static const jdoc_value_t *
s_values (const classify_entry_t *entry)
{
    return jdoc_type (entry->after) == JDOC_OBJECT ? entry->after : entry->before;
}

static void
s_index_changed (indexes_t *self, classify_entry_t *entry)
{
    const char *type = entry->item->type;
    if (!type || !s_is_child_type (type))
        return;
    for (size_t index = 0; index < COUNT_OF (s_splits); index++) {
        const split_rule_t *rule = &s_splits [index];
        if (strcmp (rule->child_type, type) != 0)
            continue;
        //  Either side may name the parent: a child moved to another
        //  bucket changed both.
        const char *sides [2] = { s_child_text (entry->after, rule->child_key),
                                  s_child_text (entry->before, rule->child_key) };
        for (int side = 0; side < 2; side++)
            if (sides [side])
                s_set (self, self->changed, s_key (self, type, sides [side], NULL), entry);
    }
}

static void
s_index_relevant (indexes_t *self, const jdoc_value_t *relevant)
{
    for (size_t index = 0; index < jdoc_size (relevant); index++) {
        const jdoc_value_t *entry = jdoc_at (relevant, index);
        const char *resource = s_text (entry, "resource");
        if (!resource)
            continue;
        //  The attribute is a path; its first step is the top-level
        //  attribute, and an empty path (or one we cannot read) is the
        //  whole resource.
        const char *attribute = jdoc_string (jdoc_at (jdoc_get (entry, "attribute"), 0), NULL);
        s_set (self, self->relevant, s_key (self, resource, attribute ? attribute : "", NULL),
               &s_present);
    }
}

//  True if attribute of address is one relevant_attributes names (an
//  entry for the whole resource, or with an empty resource, counts).
static bool
s_relevant (indexes_t *self, const char *address, const char *attribute)
{
    const char *pairs [4][2] = {
        { address, attribute }, { address, "" }, { "", attribute }, { "", "" }
    };
    for (int index = 0; index < 4; index++) {
        const char *key = s_key (self, pairs [index][0], pairs [index][1], NULL);
        if (key && zhashx_lookup (self->relevant, key))
            return true;
    }
    return false;
}

//  --------------------------------------------------------------------------
//  Classifying one item

//  What the first pass decided for an attribute whose class depends on
//  others.
typedef enum {
    PENDING_NONE,                // decided
    PENDING_ECHO,                // mirror of another attribute of the item
    PENDING_COUNTER,             // moves with any other change of the item
    PENDING_SPLIT                // mirror of a changed split resource
} pending_t;

typedef struct {
    pending_t pending;           // what is left to decide
    const char *repeats;         // PENDING_ECHO: the attribute repeated
    const char *reason;          // PENDING_ECHO, PENDING_COUNTER: the rule's reason
    const classify_entry_t *child; // PENDING_SPLIT: the split resource that changed
    const split_rule_t *rule;    // PENDING_SPLIT: the rule that linked them
} decision_t;

static void
s_set_class (Drift__AttributeClass *attribute, Drift__DriftClass class_, const char *reason)
{
    attribute->class_ = class_;
    free (attribute->reason);
    attribute->reason = strdup (reason);
}

static void
s_set_mirror (Drift__AttributeClass *attribute, const char *address, const char *of_attribute,
              const char *reason)
{
    s_set_class (attribute, DRIFT__DRIFT_CLASS__DRIFT_CLASS_MIRROR, reason);
    free (attribute->mirror_of_address);
    free (attribute->mirror_of_attribute);
    attribute->mirror_of_address = strdup (address);
    attribute->mirror_of_attribute = strdup (of_attribute);
}

static Drift__AttributeClass *
s_attribute (Drift__DriftItem *item, const char *name)
{
    for (size_t index = 0; index < item->n_attributes; index++)
        if (strcmp (item->attributes [index]->name, name) == 0)
            return item->attributes [index];
    return NULL;
}

//  True if value is null, absent, an empty array or object, or a count of 0:
//  what a block or count filled in by split resources was before them.
static bool
s_empty (const jdoc_value_t *value)
{
    jdoc_type_t type = jdoc_type (value);
    const char *number = jdoc_number (value, NULL);
    return type == JDOC_ABSENT || type == JDOC_NULL
        || ((type == JDOC_ARRAY || type == JDOC_OBJECT) && jdoc_size (value) == 0)
        || (number && strcmp (number, "0") == 0);
}

//  True if value (an array) holds an element deep-equal to element.
static bool
s_holds (const jdoc_value_t *value, const jdoc_value_t *element)
{
    for (size_t index = 0; index < jdoc_size (value); index++)
        if (jdoc_equal (jdoc_at (value, index), element))
            return true;
    return false;
}

//  SPLIT_ELEMENTS: true if every element on one side and not on the other
//  is named by a split resource of the state.
static bool
s_elements_owned (indexes_t *self, const split_rule_t *rule, const char *parent,
                  const jdoc_value_t *before, const jdoc_value_t *after)
{
    for (int side = 0; side < 2; side++) {
        const jdoc_value_t *here = side ? after : before;
        const jdoc_value_t *there = side ? before : after;
        for (size_t index = 0; index < jdoc_size (here); index++) {
            const jdoc_value_t *element = jdoc_at (here, index);
            if (s_holds (there, element))
                continue;
            const char *name = rule->element_field ? s_text (element, rule->element_field)
                                                   : jdoc_string (element, NULL);
            const char *key = name ? s_key (self, rule->child_type, parent, name) : NULL;
            if (!key || !zhashx_lookup (self->state, key))
                return false;
        }
    }
    return true;
}

//  The split rules for attribute of the entry: mirror of a changed child
//  (pending), noise when the state accounts for the change; false if no
//  rule decided.
static bool
s_decide_split (indexes_t *self, const classify_entry_t *entry, Drift__AttributeClass *attribute,
                decision_t *decision)
{
    const char *type = entry->item->type;
    const jdoc_value_t *values = s_values (entry);
    const split_rule_t *owned = NULL;
    for (size_t index = 0; index < COUNT_OF (s_splits); index++) {
        const split_rule_t *rule = &s_splits [index];
        if (strcmp (rule->parent_type, type) != 0 || strcmp (rule->attribute, attribute->name) != 0)
            continue;
        for (int key = 0; key < 2 && rule->parent_keys [key]; key++) {
            const char *parent = s_text (values, rule->parent_keys [key]);
            if (!parent)
                continue;
            const char *lookup = s_key (self, rule->child_type, parent, NULL);
            classify_entry_t *child = lookup ? zhashx_lookup (self->changed, lookup) : NULL;
            if (child && child != entry) {
                decision->pending = PENDING_SPLIT;
                decision->child = child;
                decision->rule = rule;
                return true;
            }
            if (owned || !lookup || !zhashx_lookup (self->state, lookup))
                continue;
            const jdoc_value_t *before = jdoc_get (entry->before, attribute->name);
            const jdoc_value_t *after = jdoc_get (entry->after, attribute->name);
            if (rule->kind == SPLIT_WHOLE
            || (rule->kind == SPLIT_ELEMENTS
                && s_elements_owned (self, rule, parent, before, after))
            || (rule->kind == SPLIT_FILL && s_empty (before)))
                owned = rule;
        }
    }
    if (!owned)
        return false;
    char *reason = zsys_sprintf ("noise: read-only copy of %s in the state, which did not change",
                                 owned->child_type);
    s_set_class (attribute, DRIFT__DRIFT_CLASS__DRIFT_CLASS_NOISE, reason ? reason : "noise");
    zstr_free (&reason);
    return true;
}

static const char *
s_volatile_reason (const classify_t *self, const char *type, const char *name)
{
    for (size_t index = 0; index < COUNT_OF (s_volatile); index++)
        if (s_type_matches (s_volatile [index].type, type)
        &&  strcmp (s_volatile [index].attribute, name) == 0)
            return s_volatile [index].reason;
    for (size_t index = 0; index < self->extra_count; index++)
        if (s_type_matches (self->extras [index].type, type)
        &&  strcmp (self->extras [index].attribute, name) == 0)
            return "volatile: listed in normalize's volatile setting";
    return NULL;
}

//  The first pass over one attribute: decide it, or say what it waits for.
static void
s_first_pass (const classify_t *self, indexes_t *indexes, const classify_entry_t *entry,
              const classify_context_t *context, Drift__AttributeClass *attribute,
              decision_t *decision)
{
    Drift__DriftItem *item = entry->item;
    const char *type = item->type;
    const char *name = attribute->name;
    const char *reason = s_volatile_reason (self, type, name);
    if (reason) {
        s_set_class (attribute, DRIFT__DRIFT_CLASS__DRIFT_CLASS_NOISE, reason);
        return;
    }
    //  Only where the format gave both whole sides (Terraform): formats
    //  that list their changes themselves have nothing to compare.
    unsigned used = 0;
    if (jdoc_type (entry->before) == JDOC_OBJECT && jdoc_type (entry->after) == JDOC_OBJECT
    &&  semeq_equal (self->semeq, type, name, jdoc_get (entry->before, name),
                     jdoc_get (entry->after, name), &used)) {
        char *why = zsys_sprintf ("noise: the same value in another form (%s)",
                                  semeq_describe (used));
        s_set_class (attribute, DRIFT__DRIFT_CLASS__DRIFT_CLASS_NOISE, why ? why : "noise");
        zstr_free (&why);
        return;
    }
    for (size_t index = 0; index < COUNT_OF (s_echoes); index++) {
        const echo_rule_t *rule = &s_echoes [index];
        if (!s_type_matches (rule->type, type) || strcmp (rule->attribute, name) != 0)
            continue;
        if (rule->repeats && s_attribute (item, rule->repeats)) {
            decision->pending = PENDING_ECHO;
            decision->repeats = rule->repeats;
            decision->reason = rule->reason;
            return;
        }
        if (!rule->repeats && item->n_attributes > 1) {
            decision->pending = PENDING_COUNTER;
            decision->reason = rule->reason;
            return;
        }
    }
    if (s_decide_split (indexes, entry, attribute, decision))
        return;
    if (context->normal_plan && entry->planned_noop && !s_relevant (indexes, item->address, name)) {
        s_set_class (attribute, DRIFT__DRIFT_CLASS__DRIFT_CLASS_NOISE,
                     "noise: the plan neither reverts it nor reads it (no-op, not in "
                     "relevant_attributes)");
        return;
    }
    s_set_class (attribute, DRIFT__DRIFT_CLASS__DRIFT_CLASS_REAL,
                 "real: the out-of-band change itself (no rule explains it away)");
}

//  A counter: mirror of the first other attribute that is real (else one
//  that is a mirror); noise if the others are noise.
static void
s_resolve_counter (Drift__DriftItem *item, Drift__AttributeClass *attribute,
                   const decision_t *decisions, const char *reason)
{
    Drift__AttributeClass *best = NULL;
    for (size_t index = 0; index < item->n_attributes; index++) {
        Drift__AttributeClass *other = item->attributes [index];
        if (other == attribute || decisions [index].pending == PENDING_COUNTER)
            continue;
        if (!best || other->class_ > best->class_)
            best = other;
    }
    if (!best)
        s_set_class (attribute, DRIFT__DRIFT_CLASS__DRIFT_CLASS_REAL,
                     "real: a counter that moved alone (the resource was rewritten)");
    else
    if (best->class_ == DRIFT__DRIFT_CLASS__DRIFT_CLASS_NOISE)
        s_set_class (attribute, DRIFT__DRIFT_CLASS__DRIFT_CLASS_NOISE,
                     "noise: a counter moving with noise");
    else
        s_set_mirror (attribute, item->address, best->name, reason);
}

//  The item's class and mirror links from its attributes.
static void
s_item_class (Drift__DriftItem *item)
{
    Drift__DriftClass strongest = DRIFT__DRIFT_CLASS__DRIFT_CLASS_UNSPECIFIED;
    for (size_t index = 0; index < item->n_attributes; index++)
        if (item->attributes [index]->class_ > strongest)
            strongest = item->attributes [index]->class_;
    if (strongest == DRIFT__DRIFT_CLASS__DRIFT_CLASS_UNSPECIFIED)
        strongest = DRIFT__DRIFT_CLASS__DRIFT_CLASS_NOISE;
    item->class_ = strongest;
    if (strongest != DRIFT__DRIFT_CLASS__DRIFT_CLASS_MIRROR)
        return;
    item->mirror_of = (char **) calloc (item->n_attributes, sizeof (char *));
    if (!item->mirror_of)
        return;
    for (size_t index = 0; index < item->n_attributes; index++) {
        const char *address = item->attributes [index]->mirror_of_address;
        if (item->attributes [index]->class_ != DRIFT__DRIFT_CLASS__DRIFT_CLASS_MIRROR
        ||  !address || !*address)
            continue;
        bool seen = false;
        for (size_t known = 0; known < item->n_mirror_of; known++)
            seen = seen || strcmp (item->mirror_of [known], address) == 0;
        if (!seen)
            item->mirror_of [item->n_mirror_of++] = strdup (address);
    }
}

static int
s_classify_entry (const classify_t *self, indexes_t *indexes, classify_entry_t *entry,
                  const classify_context_t *context)
{
    Drift__DriftItem *item = entry->item;
    size_t count = item->n_attributes;
    decision_t *decisions = (decision_t *) calloc (count + 1, sizeof *decisions);
    if (!decisions)
        return -1;
    for (size_t index = 0; index < count; index++)
        s_first_pass (self, indexes, entry, context, item->attributes [index], &decisions [index]);

    //  Echoes and split mirrors first: counters look at what they became.
    for (size_t index = 0; index < count; index++) {
        Drift__AttributeClass *attribute = item->attributes [index];
        const decision_t *decision = &decisions [index];
        if (decision->pending == PENDING_ECHO) {
            Drift__AttributeClass *target = s_attribute (item, decision->repeats);
            if (target && target->class_ == DRIFT__DRIFT_CLASS__DRIFT_CLASS_NOISE)
                s_set_class (attribute, DRIFT__DRIFT_CLASS__DRIFT_CLASS_NOISE,
                             "noise: repeats an attribute that is noise");
            else
                s_set_mirror (attribute, item->address, decision->repeats, decision->reason);
        }
        else
        if (decision->pending == PENDING_SPLIT) {
            const Drift__DriftItem *child = decision->child->item;
            if (child->class_ == DRIFT__DRIFT_CLASS__DRIFT_CLASS_NOISE)
                s_set_class (attribute, DRIFT__DRIFT_CLASS__DRIFT_CLASS_NOISE,
                             "noise: copy of a split resource whose change is noise");
            else {
                char *reason = zsys_sprintf ("mirror: read-only copy of %s, which changed",
                                             decision->rule->child_type);
                s_set_mirror (attribute, child->address, "", reason ? reason : "mirror");
                zstr_free (&reason);
            }
        }
    }
    for (size_t index = 0; index < count; index++)
        if (decisions [index].pending == PENDING_COUNTER)
            s_resolve_counter (item, item->attributes [index], decisions, decisions [index].reason);
    free (decisions);

    switch (item->kind) {
        case DRIFT__DRIFT_KIND__DRIFT_KIND_DELETED:
        case DRIFT__DRIFT_KIND__DRIFT_KIND_REPLACED:
            //  The object itself is gone or new: whatever its attributes say.
            item->class_ = DRIFT__DRIFT_CLASS__DRIFT_CLASS_REAL;
            break;
        case DRIFT__DRIFT_KIND__DRIFT_KIND_MOVED:
        case DRIFT__DRIFT_KIND__DRIFT_KIND_IGNORED:
            item->class_ = DRIFT__DRIFT_CLASS__DRIFT_CLASS_NOISE;
            break;
        default:
            s_item_class (item);
    }
    return 0;
}

//  --------------------------------------------------------------------------
//  A report

int
classify_run (const classify_t *self, classify_entry_t *entries, size_t count,
              const classify_context_t *context)
{
    indexes_t indexes = { zhashx_new (), zhashx_new (), zhashx_new (), TEXTBUF_INIT, false };
    int rc = 0;
    if (!indexes.changed || !indexes.state || !indexes.relevant) {
        rc = -1;
        goto done;
    }
    for (size_t index = 0; index < count; index++)
        s_index_changed (&indexes, &entries [index]);
    s_index_state_module (&indexes, jdoc_get (jdoc_get (context->prior_state, "values"),
                                              "root_module"));
    if (context->normal_plan)
        s_index_relevant (&indexes, context->relevant);
    if (indexes.failed) {
        rc = -1;
        goto done;
    }
    //  Split resources (and everything else) before the parents that copy
    //  them, so a parent sees its child's class.
    for (int round = 0; round < 2 && rc == 0; round++)
        for (size_t index = 0; index < count && rc == 0; index++) {
            const char *type = entries [index].item->type;
            if (s_is_parent_type (type ? type : "") == (round == 1))
                rc = s_classify_entry (self, &indexes, &entries [index], context);
        }
    if (indexes.failed)
        rc = -1;
done:
    zhashx_destroy (&indexes.changed);
    zhashx_destroy (&indexes.state);
    zhashx_destroy (&indexes.relevant);
    textbuf_reset (&indexes.key);
    return rc;
}
