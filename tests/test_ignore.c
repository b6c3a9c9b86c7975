/*  ignore: `.driftignore` lines as docs/IGNORE.md describes them: every
    pattern form (a resource, every instance of a resource, a type, an
    attribute path, module paths and indexes), `*` within one segment
    against `**` across any number, `!` and the last matching line winning,
    expiry on either side of its date, comments and blank lines, bad lines
    refused with their file and line, merged tenant and stack rules with the
    stack winning, and patterns built to make a backtracking matcher blow up.
    `drift check`, which applies these files, is tested in test_check.c.
*/
#include "../actors/score/ignore.h"

#include <criterion/criterion.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

//  2026-06-15 12:00:00 UTC, and the days around a rule's end.
#define NOW 1781524800
#define DAY 86400

//  --------------------------------------------------------------------------
//  Helpers

static ignore_t *
s_parse (const char *text)
{
    char *error = NULL;
    ignore_t *rules = ignore_parse (text, strlen (text), ".driftignore", &error);
    cr_assert (rules, "refused: %s", error ? error : "(no error)");
    cr_assert_null (error);
    return rules;
}

//  The error of a file that must be refused.
static char *
s_refused (const char *text)
{
    char *error = NULL;
    ignore_t *rules = ignore_parse (text, strlen (text), "stack/.driftignore", &error);
    cr_assert_null (rules, "accepted: %s", text);
    cr_assert (error);
    return error;
}

static bool
s_ignored (const ignore_t *rules, const char *address, const char *path)
{
    return ignore_matches (rules, address, path, NOW, NULL);
}

//  --------------------------------------------------------------------------
//  Pattern forms

Test (ignore, resource_line_matches_the_resource_and_its_attributes)
{
    ignore_t *rules = s_parse ("aws_security_group.web\n");
    cr_assert (s_ignored (rules, "aws_security_group.web", NULL));
    cr_assert (s_ignored (rules, "aws_security_group.web", "ingress"));
    cr_assert (s_ignored (rules, "aws_security_group.web", "ingress[0].cidr_blocks[1]"));
    cr_assert_not (s_ignored (rules, "aws_security_group.web2", NULL));
    cr_assert_not (s_ignored (rules, "aws_security_group.db", NULL));
    cr_assert_not (s_ignored (rules, "aws_instance.web", NULL));
    cr_assert_eq (ignore_size (rules), 1);
    ignore_destroy (&rules);
    cr_assert_null (rules);
    ignore_destroy (&rules);
}

Test (ignore, resource_line_covers_every_instance_an_index_only_its_own)
{
    ignore_t *rules = s_parse ("aws_security_group.web\naws_s3_bucket.logs[\"eu\"]\n"
                               "aws_instance.app[*]\n");
    cr_assert (s_ignored (rules, "aws_security_group.web[0]", NULL));
    cr_assert (s_ignored (rules, "aws_security_group.web[\"a\"]", NULL));
    cr_assert (s_ignored (rules, "aws_s3_bucket.logs[\"eu\"]", "acl"));
    cr_assert_not (s_ignored (rules, "aws_s3_bucket.logs[\"us\"]", NULL));
    cr_assert_not (s_ignored (rules, "aws_s3_bucket.logs", NULL));
    cr_assert (s_ignored (rules, "aws_instance.app[3]", NULL));
    cr_assert_not (s_ignored (rules, "aws_instance.app", NULL), "[*] needs an index");
    ignore_destroy (&rules);
}

Test (ignore, type_star_matches_every_resource_of_the_type_at_the_root)
{
    ignore_t *rules = s_parse ("aws_sqs_queue.*\n");
    cr_assert (s_ignored (rules, "aws_sqs_queue.orders", NULL));
    cr_assert (s_ignored (rules, "aws_sqs_queue.orders", "tags.env"));
    cr_assert (s_ignored (rules, "aws_sqs_queue.dead[2]", NULL));
    cr_assert_not (s_ignored (rules, "aws_sqs_queue_policy.orders", NULL));
    cr_assert_not (s_ignored (rules, "module.q.aws_sqs_queue.orders", NULL),
                   "a pattern is anchored at the root module");
    ignore_destroy (&rules);
}

Test (ignore, glob_within_a_segment)
{
    ignore_t *rules = s_parse ("aws_s3_bucket*.receipts\n");
    cr_assert (s_ignored (rules, "aws_s3_bucket.receipts", NULL));
    cr_assert (s_ignored (rules, "aws_s3_bucket_public_access_block.receipts", NULL));
    cr_assert_not (s_ignored (rules, "aws_s3_bucket.ledger", NULL));
    ignore_destroy (&rules);
}

Test (ignore, attribute_path_suppresses_that_attribute_only)
{
    ignore_t *rules = s_parse ("aws_instance.web.tags.*\n");
    cr_assert (s_ignored (rules, "aws_instance.web", "tags.env"));
    cr_assert (s_ignored (rules, "aws_instance.web", "tags[\"kubernetes.io/role\"]"),
               "a bracketed key is a segment like any other");
    cr_assert_not (s_ignored (rules, "aws_instance.web", "tags"),
                   "tags.* needs a key beneath tags");
    cr_assert_not (s_ignored (rules, "aws_instance.web", "instance_type"));
    cr_assert_not (s_ignored (rules, "aws_instance.web", NULL),
                   "an attribute rule never hides the whole resource");
    ignore_destroy (&rules);

    rules = s_parse ("aws_instance.web.tags\naws_instance.db.tags[\"kubernetes.io/role\"]\n");
    cr_assert (s_ignored (rules, "aws_instance.web", "tags"));
    cr_assert (s_ignored (rules, "aws_instance.web", "tags.env"), "and what is beneath it");
    cr_assert (s_ignored (rules, "aws_instance.db", "tags[\"kubernetes.io/role\"]"));
    cr_assert_not (s_ignored (rules, "aws_instance.db", "tags[\"kubernetes.io/name\"]"));
    cr_assert_not (s_ignored (rules, "aws_instance.web", "tags_all.env"));
    ignore_destroy (&rules);
}

Test (ignore, attribute_indexes_follow_the_resource_rules)
{
    ignore_t *rules = s_parse ("aws_security_group.web.ingress[1]\n"
                               "aws_security_group.db.ingress.cidr_blocks\n");
    cr_assert (s_ignored (rules, "aws_security_group.web", "ingress[1].cidr_blocks[0]"));
    cr_assert_not (s_ignored (rules, "aws_security_group.web", "ingress[0].cidr_blocks[0]"));
    cr_assert (s_ignored (rules, "aws_security_group.db", "ingress[4].cidr_blocks[0]"));
    cr_assert_not (s_ignored (rules, "aws_security_group.db", "ingress[4].from_port"));
    ignore_destroy (&rules);
}

Test (ignore, module_paths_and_their_indexes)
{
    ignore_t *rules = s_parse ("module.net.aws_security_group.web\nmodule.tenant[*].aws_s3_bucket.*\n");
    cr_assert (s_ignored (rules, "module.net.aws_security_group.web[\"a\"]", NULL));
    cr_assert (s_ignored (rules, "module.net[\"eu\"].aws_security_group.web", NULL),
               "a module without an index covers every instance of it");
    cr_assert_not (s_ignored (rules, "aws_security_group.web", NULL));
    cr_assert_not (s_ignored (rules, "module.app.module.net.aws_security_group.web", NULL));
    cr_assert (s_ignored (rules, "module.tenant[2].aws_s3_bucket.logs[\"x.y\"]", NULL));
    cr_assert_not (s_ignored (rules, "module.tenant.aws_s3_bucket.logs", NULL));
    ignore_destroy (&rules);

    rules = s_parse ("module.legacy\n");
    cr_assert (s_ignored (rules, "module.legacy.aws_instance.a", NULL),
               "a module line covers all its resources");
    cr_assert (s_ignored (rules, "module.legacy.module.inner.aws_instance.a", "tags.x"));
    cr_assert_not (s_ignored (rules, "module.legacy2.aws_instance.a", NULL));
    ignore_destroy (&rules);
}

Test (ignore, star_is_one_segment_double_star_any_number)
{
    ignore_t *rules = s_parse ("*.aws_security_group.web\n");
    cr_assert (s_ignored (rules, "module.aws_security_group.web", NULL));
    cr_assert_not (s_ignored (rules, "aws_security_group.web", NULL), "* is exactly one segment");
    cr_assert_not (s_ignored (rules, "module.net.aws_security_group.web", NULL));
    ignore_destroy (&rules);

    rules = s_parse ("**.aws_security_group.web\n");
    cr_assert (s_ignored (rules, "aws_security_group.web", NULL), "** may be no segment at all");
    cr_assert (s_ignored (rules, "module.net.aws_security_group.web", NULL));
    cr_assert (s_ignored (rules, "module.a[0].module.b[\"k\"].aws_security_group.web[3]", NULL));
    cr_assert_not (s_ignored (rules, "module.net.aws_security_group.db", NULL));
    ignore_destroy (&rules);

    rules = s_parse ("aws_instance.web.**.value\n");
    cr_assert (s_ignored (rules, "aws_instance.web", "value"));
    cr_assert (s_ignored (rules, "aws_instance.web", "metadata_options[0].value"));
    cr_assert (s_ignored (rules, "aws_instance.web", "a.b.c.value"));
    cr_assert_not (s_ignored (rules, "aws_instance.web", "a.b.c.values"));
    ignore_destroy (&rules);
}

//  --------------------------------------------------------------------------
//  Lines, negation, expiry

Test (ignore, negation_reincludes_and_the_last_matching_line_wins)
{
    ignore_t *rules = s_parse ("aws_security_group.*\n!aws_security_group.web\n");
    cr_assert (s_ignored (rules, "aws_security_group.db", NULL));
    cr_assert_not (s_ignored (rules, "aws_security_group.web", NULL));
    ignore_destroy (&rules);

    rules = s_parse ("!aws_security_group.web\naws_security_group.*\n");
    cr_assert (s_ignored (rules, "aws_security_group.web", NULL),
               "a negation before the line it would undo changes nothing");
    ignore_destroy (&rules);

    rules = s_parse ("aws_instance.web\n!aws_instance.web.tags\naws_instance.web.tags.env\n");
    cr_assert (s_ignored (rules, "aws_instance.web", "ami"));
    cr_assert_not (s_ignored (rules, "aws_instance.web", "tags.owner"));
    cr_assert (s_ignored (rules, "aws_instance.web", "tags.env"));
    ignore_destroy (&rules);
}

Test (ignore, by_names_file_line_and_pattern)
{
    ignore_t *rules = s_parse ("# noisy team resources\n\naws_sqs_queue.*\naws_sqs_queue.orders\n");
    const char *by = NULL;
    cr_assert (ignore_matches (rules, "aws_sqs_queue.orders", "tags.env", NOW, &by));
    cr_assert_str_eq (by, ".driftignore:4 aws_sqs_queue.orders");
    cr_assert (ignore_matches (rules, "aws_sqs_queue.dead", NULL, NOW, &by));
    cr_assert_str_eq (by, ".driftignore:3 aws_sqs_queue.*");
    by = "untouched";
    cr_assert_not (ignore_matches (rules, "aws_instance.web", NULL, NOW, &by));
    cr_assert_str_eq (by, "untouched");
    ignore_destroy (&rules);
}

Test (ignore, until_applies_through_its_day_and_not_after)
{
    //  2026-06-15 is NOW's day.
    ignore_t *rules = s_parse ("aws_instance.web until 2026-06-15\n"
                               "aws_instance.db\tuntil 2026-06-14   # last sprint's migration\n");
    cr_assert (ignore_matches (rules, "aws_instance.web", NULL, NOW, NULL));
    cr_assert (ignore_matches (rules, "aws_instance.web", NULL, 1781567999, NULL),
               "23:59:59 UTC on the day still applies");
    cr_assert_not (ignore_matches (rules, "aws_instance.web", NULL, 1781568000, NULL));
    cr_assert_not (ignore_matches (rules, "aws_instance.db", NULL, NOW, NULL));
    cr_assert (ignore_matches (rules, "aws_instance.db", NULL, NOW - DAY, NULL));
    ignore_destroy (&rules);
}

Test (ignore, an_expired_negation_no_longer_reincludes)
{
    ignore_t *rules = s_parse ("aws_instance.*\n!aws_instance.web until 2026-01-31\n");
    cr_assert_not (ignore_matches (rules, "aws_instance.web", NULL, NOW - 200 * DAY, NULL));
    cr_assert (ignore_matches (rules, "aws_instance.web", NULL, NOW, NULL));
    ignore_destroy (&rules);
}

Test (ignore, comments_blank_lines_and_crlf)
{
    ignore_t *rules = s_parse ("# a comment\n\n   \n\t# indented comment\r\n"
                               "aws_instance.web   # trailing comment\r\n"
                               "aws_kms_key.main#not-a-comment\n");
    cr_assert_eq (ignore_size (rules), 2);
    cr_assert (s_ignored (rules, "aws_instance.web", NULL));
    cr_assert_not (s_ignored (rules, "aws_kms_key.main", NULL),
                   "# only starts a comment after a blank");
    ignore_destroy (&rules);

    rules = s_parse ("");
    cr_assert_eq (ignore_size (rules), 0);
    cr_assert_not (s_ignored (rules, "aws_instance.web", NULL));
    ignore_destroy (&rules);
    cr_assert_not (ignore_matches (NULL, "aws_instance.web", NULL, NOW, NULL));
}

Test (ignore, keys_with_spaces_dots_and_brackets)
{
    ignore_t *rules = s_parse ("aws_s3_bucket.logs[\"a b.c]\"]   until 2030-01-01\n");
    cr_assert (s_ignored (rules, "aws_s3_bucket.logs[\"a b.c]\"]", NULL));
    cr_assert_not (s_ignored (rules, "aws_s3_bucket.logs[\"a b\"]", NULL));
    ignore_destroy (&rules);
}

Test (ignore, bad_lines_are_refused_with_file_and_line)
{
    struct { const char *text; const char *error; } cases [] = {
        { "aws_instance.web\n\naws_instance..web\n",
          "stack/.driftignore:3: empty segment (two dots, or a dot or bracket at an end): aws_instance..web" },
        { "aws_instance.web[0\n", "stack/.driftignore:1: unclosed [: aws_instance.web[0" },
        { "# ok\naws_instance.web[]\n", "stack/.driftignore:2: empty []: aws_instance.web[]" },
        { "aws_instance.web[0]x\n", "stack/.driftignore:1: expected . or [ after ]: aws_instance.web[0]x" },
        { "**[0].web\n", "stack/.driftignore:1: ** cannot carry an index: **[0].web" },
        { "!\n", "stack/.driftignore:1: ! must be followed by a pattern" },
        { "! aws_instance.web\n", "stack/.driftignore:1: ! must be followed by a pattern" },
        { ".aws_instance\n", "stack/.driftignore:1: empty segment (two dots, or a dot or bracket at an end): .aws_instance" },
        { "aws_instance.web expires 2026-01-01\n",
          "stack/.driftignore:1: expected `until YYYY-MM-DD` or a # comment after the pattern: expires 2026-01-01" },
        { "aws_instance.web until 2026-02-29\n",
          "stack/.driftignore:1: until needs a calendar date YYYY-MM-DD: 2026-02-29" },
        { "aws_instance.web until 26-1-1\n",
          "stack/.driftignore:1: until needs a calendar date YYYY-MM-DD: 26-1-1" },
        { "aws_instance.web until\n", "stack/.driftignore:1: until needs a calendar date YYYY-MM-DD: " },
        { "aws_instance.web until 2026-01-01 later\n",
          "stack/.driftignore:1: unexpected text after the date: later" },
    };
    for (size_t index = 0; index < sizeof cases / sizeof cases [0]; index++) {
        char *error = s_refused (cases [index].text);
        cr_assert_str_eq (error, cases [index].error);
        free (error);
    }
    //  A leap day is a date.
    ignore_t *rules = s_parse ("aws_instance.web until 2028-02-29\n");
    ignore_destroy (&rules);
}

Test (ignore, a_pattern_of_too_many_segments_is_refused)
{
    char text [2048] = "";
    for (int index = 0; index < 300; index++)
        strcat (text, "a.");
    strcat (text, "a\n");
    char *error = s_refused (text);
    cr_assert (strstr (error, "stack/.driftignore:1: more than 256 segments"), "%s", error);
    free (error);
}

//  --------------------------------------------------------------------------
//  Merge

Test (ignore, merged_stack_rules_win_over_tenant_rules)
{
    char *error = NULL;
    const char *tenant_text = "aws_security_group.*\naws_instance.web.tags\n";
    const char *stack_text = "!aws_security_group.web\naws_kms_key.*\n";
    ignore_t *tenant = ignore_parse (tenant_text, strlen (tenant_text), "tenant", &error);
    ignore_t *stack = ignore_parse (stack_text, strlen (stack_text), "stack", &error);
    cr_assert (tenant && stack);
    ignore_t *merged = ignore_merge (tenant, stack);
    ignore_destroy (&tenant);       // the merge owns copies
    ignore_destroy (&stack);
    cr_assert_eq (ignore_size (merged), 4);
    const char *by = NULL;
    cr_assert_not (s_ignored (merged, "aws_security_group.web", NULL));
    cr_assert (ignore_matches (merged, "aws_security_group.db", NULL, NOW, &by));
    cr_assert_str_eq (by, "tenant:1 aws_security_group.*");
    cr_assert (ignore_matches (merged, "aws_kms_key.main", NULL, NOW, &by));
    cr_assert_str_eq (by, "stack:2 aws_kms_key.*");
    cr_assert (s_ignored (merged, "aws_instance.web", "tags.env"));
    ignore_destroy (&merged);

    ignore_t *only = ignore_merge (NULL, NULL);
    cr_assert (only);
    cr_assert_eq (ignore_size (only), 0);
    ignore_destroy (&only);
}

//  --------------------------------------------------------------------------
//  Patterns that would blow up a backtracking matcher

Test (ignore, pathological_patterns_finish)
{
    //  Many `**` against a long path that almost matches: a backtracking
    //  matcher tries every split of the path among the stars.
    const char *text = "**.**.**.**.**.**.**.**.**.**.**.**.**.**.**.**.**.**.**.**.x\n"
                       "*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*b\n"
                       "**/**/**/**/**/**/x\n";
    ignore_t *rules = s_parse (text);
    char address [8192] = "module";
    for (int index = 0; index < 400; index++)
        strcat (address, ".module");
    strcat (address, ".aws_instance.y");
    char path [8192] = "";
    for (int index = 0; index < 1000; index++)
        strcat (path, "a.");
    strcat (path, "a");
    char as [4096] = "";
    for (int index = 0; index < 2000; index++)
        strcat (as, "a");
    for (int round = 0; round < 50; round++) {
        cr_assert_not (s_ignored (rules, address, path));
        cr_assert_not (s_ignored (rules, address, "a.b.c"));
        cr_assert_not (s_ignored (rules, as, path), "many stars, one long segment");
    }
    //  And they still match what they should.
    cr_assert (s_ignored (rules, address, "x"));
    strcat (as, "b");
    cr_assert (s_ignored (rules, as, NULL));
    cr_assert (s_ignored (rules, "**/**/**/**/**/**/x", NULL));
    ignore_destroy (&rules);
}
