/*  plangen: a synthetic Terraform plan of about a given size; see plangen.h. */
#include "plangen.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

//  The document being written.
typedef struct {
    char *data;                  // the text so far, NUL-terminated
    size_t used;                 // bytes written
    size_t size;                 // bytes allocated
    bool failed;                 // out of memory
} text_t;

static void
s_add (text_t *text, const char *format, ...)
{
    if (text->failed)
        return;
    for (;;) {
        va_list args;
        va_start (args, format);
        int length = vsnprintf (text->data + text->used, text->size - text->used, format, args);
        va_end (args);
        if (length < 0) {
            text->failed = true;
            return;
        }
        if ((size_t) length < text->size - text->used) {
            text->used += (size_t) length;
            return;
        }
        char *data = (char *) realloc (text->data, text->size * 2);
        if (!data) {
            text->failed = true;
            return;
        }
        text->data = data;
        text->size *= 2;
    }
}

//  Tags as Terraform writes them: keys sorted.
static void
s_tags (text_t *text, const char *tenant, int number, bool all)
{
    s_add (text, "{\"CostCenter\":\"cc-%04d\",%s\"Name\":\"%s-%04d\",\"Owner\":\"équipe-%s\","
                 "%s\"Tenant\":\"%s\"}",
           number % 97, all ? "\"ManagedBy\":\"terraform\"," : "", tenant, number, tenant,
           all ? "\"Project\":\"platform-fleet\"," : "", tenant);
}

static void
s_security_group (text_t *text, const char *tenant, int number, int rules)
{
    s_add (text, "{\"arn\":\"arn:aws:ec2:us-east-1:123456789012:security-group/sg-%012x\","
                 "\"description\":\"web tier of %s — managed by Terraform\","
                 "\"egress\":[{\"cidr_blocks\":[\"0.0.0.0/0\"],\"description\":\"\","
                 "\"from_port\":0,\"ipv6_cidr_blocks\":[],\"prefix_list_ids\":[],"
                 "\"protocol\":\"-1\",\"security_groups\":[],\"self\":false,\"to_port\":0}],"
                 "\"id\":\"sg-%012x\",\"ingress\":[",
           number * 7919, tenant, number * 7919);
    for (int rule = 0; rule < rules; rule++)
        s_add (text, "%s{\"cidr_blocks\":[\"10.%d.%d.0/24\"],\"description\":\"rule %d\","
                     "\"from_port\":%d,\"ipv6_cidr_blocks\":[],\"prefix_list_ids\":[],"
                     "\"protocol\":\"tcp\",\"security_groups\":[],\"self\":false,\"to_port\":%d}",
               rule ? "," : "", number % 256, rule, rule, 8000 + rule, 8000 + rule);
    s_add (text, "],\"name\":\"%s-web-%04d\",\"name_prefix\":\"\",\"owner_id\":\"123456789012\","
                 "\"revoke_rules_on_delete\":false,\"tags\":",
           tenant, number);
    s_tags (text, tenant, number, false);
    s_add (text, ",\"tags_all\":");
    s_tags (text, tenant, number, true);
    s_add (text, ",\"timeouts\":null,\"vpc_id\":\"vpc-%08x\"}", number % 4);
}

static void
s_bucket (text_t *text, const char *tenant, int number, bool versioned)
{
    s_add (text, "{\"acceleration_status\":\"\",\"acl\":null,"
                 "\"arn\":\"arn:aws:s3:::fleet-%s-data-%04d\",\"bucket\":\"fleet-%s-data-%04d\","
                 "\"bucket_domain_name\":\"fleet-%s-data-%04d.s3.amazonaws.com\","
                 "\"cors_rule\":[],\"force_destroy\":false,\"grant\":[{\"id\":\"75aa57f09aa0c8caeab4"
                 "f8c24e99d10f8e7faeebf76c078efc7c6caea54ba06a\",\"permissions\":[\"FULL_CONTROL\"],"
                 "\"type\":\"CanonicalUser\",\"uri\":\"\"}],\"hosted_zone_id\":\"Z3AQBSTGFYJSTF\","
                 "\"id\":\"fleet-%s-data-%04d\",\"lifecycle_rule\":[],\"logging\":[],"
                 "\"object_lock_enabled\":false,"
                 "\"policy\":\"{\\\"Statement\\\":[{\\\"Action\\\":[\\\"s3:GetObject\\\","
                 "\\\"s3:PutObject\\\"],\\\"Effect\\\":\\\"Allow\\\",\\\"Principal\\\":{\\\"AWS\\\":"
                 "\\\"arn:aws:iam::123456789012:role/%s-app\\\"},\\\"Resource\\\":"
                 "\\\"arn:aws:s3:::fleet-%s-data-%04d/*\\\"}],\\\"Version\\\":\\\"2012-10-17\\\"}\","
                 "\"region\":\"us-east-1\",\"replication_configuration\":[],\"request_payer\":\"\","
                 "\"server_side_encryption_configuration\":[],\"tags\":",
           tenant, number, tenant, number, tenant, number, tenant, number, tenant, tenant, number);
    s_tags (text, tenant, number, false);
    s_add (text, ",\"tags_all\":");
    s_tags (text, tenant, number, true);
    s_add (text, ",\"timeouts\":null,\"versioning\":[{\"enabled\":%s,\"mfa_delete\":false}],"
                 "\"website\":[],\"website_domain\":null,\"website_endpoint\":null}",
           versioned ? "true" : "false");
}

static void
s_instance (text_t *text, const char *tenant, int number, const char *type)
{
    s_add (text, "{\"ami\":\"ami-0%07x\",\"arn\":\"arn:aws:ec2:us-east-1:123456789012:instance/"
                 "i-%017x\",\"associate_public_ip_address\":true,\"availability_zone\":"
                 "\"us-east-1a\",\"cpu_core_count\":2,\"cpu_threads_per_core\":1,"
                 "\"credit_specification\":[{\"cpu_credits\":\"standard\"}],"
                 "\"disable_api_stop\":false,\"disable_api_termination\":false,"
                 "\"ebs_block_device\":[],\"ebs_optimized\":false,\"hibernation\":false,"
                 "\"id\":\"i-%017x\",\"instance_state\":\"running\",\"instance_type\":\"%s\","
                 "\"ipv6_address_count\":0,\"ipv6_addresses\":[],\"key_name\":\"\","
                 "\"metadata_options\":[{\"http_endpoint\":\"enabled\",\"http_put_response_hop_limit\":1,"
                 "\"http_tokens\":\"required\",\"instance_metadata_tags\":\"disabled\"}],"
                 "\"monitoring\":false,\"placement_partition_number\":0,"
                 "\"private_ip\":\"10.0.%d.%d\",\"root_block_device\":[{\"delete_on_termination\":true,"
                 "\"device_name\":\"/dev/xvda\",\"encrypted\":false,\"iops\":3000,\"kms_key_id\":\"\","
                 "\"throughput\":125,\"volume_size\":8,\"volume_type\":\"gp3\"}],"
                 "\"source_dest_check\":true,\"spot_price\":0.0125,\"subnet_id\":\"subnet-%08x\","
                 "\"tags\":",
           number, number, number, type, number % 256, number % 250 + 4, number % 8);
    s_tags (text, tenant, number, false);
    s_add (text, ",\"tags_all\":");
    s_tags (text, tenant, number, true);
    s_add (text, ",\"tenancy\":\"default\",\"timeouts\":null,\"user_data\":null,"
                 "\"vpc_security_group_ids\":[\"sg-%012x\"]}", number * 7919);
}

//  One resource_drift entry; number picks its kind and its drift.
static void
s_entry (text_t *text, int number)
{
    static const char *tenants [] = { "alpha", "bravo", "charlie", "delta" };
    const char *tenant = tenants [number % 4];
    int kind = number % 3;
    const char *type = kind == 0 ? "aws_security_group" : kind == 1 ? "aws_s3_bucket" : "aws_instance";
    const char *name = kind == 0 ? "web" : kind == 1 ? "data" : "app";
    s_add (text, "%s{\"address\":\"module.tenant[\\\"%s\\\"].%s.%s[%d]\","
                 "\"module_address\":\"module.tenant[\\\"%s\\\"]\",\"mode\":\"managed\","
                 "\"type\":\"%s\",\"name\":\"%s\",\"index\":%d,"
                 "\"provider_name\":\"registry.terraform.io/hashicorp/aws\","
                 "\"change\":{\"actions\":[\"update\"],\"before\":",
           number ? "," : "", tenant, type, name, number, tenant, type, name, number);
    for (int side = 0; side < 2; side++) {
        if (kind == 0)
            s_security_group (text, tenant, number, 2 + side + number % 3);
        else
        if (kind == 1)
            s_bucket (text, tenant, number, side == 1);
        else
            s_instance (text, tenant, number, side ? "t3.large" : "t3.micro");
        s_add (text, side ? "" : ",\"after\":");
    }
    s_add (text, ",\"after_unknown\":{},\"before_sensitive\":{\"tags\":{},\"tags_all\":{}},"
                 "\"after_sensitive\":{\"tags\":{},\"tags_all\":{}}}}");
}

char *
plangen_generate (size_t target, size_t *size)
{
    text_t text = { .size = target + 65536 };
    text.data = (char *) malloc (text.size);
    if (!text.data)
        return NULL;
    s_add (&text, "{\"format_version\":\"1.2\",\"terraform_version\":\"1.11.4\","
                  "\"variables\":{\"environment\":{\"value\":\"prod\"},\"ratio\":{\"value\":1.5e-3}},"
                  "\"resource_drift\":[");
    for (int number = 0; text.used < target; number++)
        s_entry (&text, number);
    s_add (&text, "],\"output_changes\":{},\"prior_state\":{\"format_version\":\"1.0\","
                  "\"terraform_version\":\"1.11.4\",\"values\":{\"root_module\":{}}},"
                  "\"timestamp\":\"2025-11-27T09:23:00Z\",\"applyable\":true,\"complete\":true,"
                  "\"errored\":false}\n");
    if (text.failed) {
        free (text.data);
        return NULL;
    }
    if (size)
        *size = text.used;
    return text.data;
}
