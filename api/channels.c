/*  channels: the tenant's notification channels over the dashboard API:
    list (with each channel's health, never a secret), add, test, remove.

    The same rules as `drift channel` (cmd/channel.c), through the same code
    in actors/notify/channel: settings are checked before anything is stored (no
    password file or variable of the server, no internal host unless the
    operator allows it), a webhook without a signing secret gets one that
    is answered once and never again (listings show "(set)"), an SMTP
    password is stored only sealed under the operator's channel key and
    never answered. Viewers see a webhook URL's origin only: the path of a
    Slack URL is its credential. `test` queues a sample notice on
    api/channel_tests (202 with the test's id, 429 past the tenant's
    limit) and GET .../tests/{id} tells how it went, as a status class.
*/
#include "audit.h"
#include "resource.h"
#include "channel_tests.h"
#include "../actors/notify/channel.h"
#include "../lib/severity.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

//  A channel row (alias c) without its settings, which C makes public.
#define ROW_SQL \
    "jsonb_build_object ('id', c.id, 'name', c.name, 'kind', c.kind," \
    " 'min_severity', drift_severity_name (c.min_severity), 'digest_seconds', c.digest_seconds," \
    " 'enabled', c.enabled, 'last_sent_at', drift_iso (c.last_sent_at)," \
    " 'last_error', c.last_error, 'last_error_at', drift_iso (c.last_error_at)," \
    " 'sent_total', c.sent_total, 'failed_total', c.failed_total," \
    " 'password_set', c.password_sealed IS NOT NULL)::text, c.settings::text, c.kind"

channel_context_t
api_channels_context (const api_call_t *call)
{
    const api_settings_t *settings = call->settings;
    return (channel_context_t) {
        .timeout_ms = settings && settings->send_timeout_ms > 0 ? settings->send_timeout_ms
                                                                 : 10000,
        .allow_hosts = settings ? settings->allow_hosts : NULL,
        .keyring = settings ? settings->channel_keyring : NULL
    };
}

//  Row row of result as the answer's object: settings with secrets left
//  out, and for a reader below admin a webhook URL cut to its origin.
static json_t *
s_channel (const api_call_t *call, const PGresult *result, int row)
{
    json_t *channel = json_loads (PQgetvalue (result, row, 0), 0, NULL);
    char *settings = channel_settings_public (PQgetvalue (result, row, 2),
                                              PQgetvalue (result, row, 1),
                                              call->role < API_ROLE_ADMIN);
    json_t *value = settings ? json_loads (settings, 0, NULL) : NULL;
    free (settings);
    if (channel)
        json_object_set_new (channel, "settings", value ? value : json_object ());
    else
        json_decref (value);
    return channel;
}

int
api_channels_list (api_call_t *call, json_t **reply)
{
    long limit, offset;
    int status = resource_paging (call, &limit, &offset, reply);
    if (status)
        return status;
    char limit_text [24], offset_text [24];
    snprintf (limit_text, sizeof limit_text, "%ld", limit + 1);
    snprintf (offset_text, sizeof offset_text, "%ld", offset);
    const char *params [] = { call->tenant_id, limit_text, offset_text };
    PGresult *result = resource_query (call, reply, "listing channels",
        "SELECT " ROW_SQL " FROM notification_channels c WHERE c.tenant_id = $1::uuid"
        " ORDER BY c.name LIMIT $2::bigint OFFSET $3::bigint", 3, params);
    if (!result)
        return 500;
    json_t *items = json_array ();
    for (int row = 0; row < PQntuples (result); row++) {
        json_t *channel = s_channel (call, result, row);
        if (channel)
            json_array_append_new (items, channel);
    }
    PQclear (result);
    return resource_page (reply, items, limit, offset);
}

//  The name as the table's check wants it, asked before the settings are
//  (whose check resolves the host).
static bool
s_name_ok (const char *name)
{
    size_t length = strlen (name);
    if (length < 1 || length > 63 || name [0] == '-')
        return false;
    return strspn (name, "abcdefghijklmnopqrstuvwxyz0123456789-") == length;
}

int
api_channels_create (api_call_t *call, json_t **reply)
{
    static const char *const known [] = {
        "name", "kind", "settings", "min_severity", "digest_seconds", NULL
    };
    static const char *const kinds [] = {
        "email", "webhook", "pagerduty", "teams", "opsgenie", NULL
    };
    const char *name, *kind, *min_severity;
    int status = api_json_only (call->body, known, reply);
    if (!status)
        status = api_json_string (call->body, "name", true, 63, &name, reply);
    if (!status)
        status = api_json_string (call->body, "kind", true, 16, &kind, reply);
    if (!status)
        status = api_json_string (call->body, "min_severity", false, 16, &min_severity, reply);
    if (status)
        return status;
    if (!s_name_ok (name))
        return api_error (reply, 400, "name must be 1 to 63 of a-z, 0-9 and '-', not "
                          "starting with '-'", "name");
    size_t kind_index = 0;
    while (kinds [kind_index] && strcmp (kind, kinds [kind_index]))
        kind_index++;
    if (!kinds [kind_index])
        return api_error (reply, 400, "kind must be email, webhook, pagerduty, teams or opsgenie",
                          "kind");
    Drift__Severity severity = DRIFT__SEVERITY__SEVERITY_HIGH;
    if (min_severity && (severity_parse (min_severity, &severity)
                         || severity < DRIFT__SEVERITY__SEVERITY_INFO))
        return api_error (reply, 400, "min_severity must be info, low, medium, high or critical",
                          "min_severity");
    json_t *digest_value = json_object_get (call->body, "digest_seconds");
    json_int_t digest = 0;
    if (digest_value) {
        if (!json_is_integer (digest_value) || json_integer_value (digest_value) < 0
        ||  json_integer_value (digest_value) > 86400)
            return api_error (reply, 400, "digest_seconds must be an integer from 0 to 86400",
                              "digest_seconds");
        digest = json_integer_value (digest_value);
    }
    json_t *settings_value = json_object_get (call->body, "settings");
    if (!json_is_object (settings_value))
        return api_error (reply, 400, "settings must be a JSON object", "settings");
    //  A path on the server is the operator's to name, never a tenant's:
    //  curl would read it, and its errors tell whether it exists.
    if (json_object_get (settings_value, "ca_file"))
        return api_error (reply, 400, "settings refused: ca_file names a file of the server, "
                          "which only the operator sets (drift channel add)", "settings");
    char *settings = json_dumps (settings_value, JSON_COMPACT);
    //  The id is made here: the password is sealed under it.
    char error [512], secret [65], id [37];
    channel_new_id (id);
    channel_context_t context = api_channels_context (call);
    char *sealed = NULL;
    char *stored = settings ? channel_settings_prepare (kind, settings, call->tenant_id, id,
                                                        &context, secret, &sealed, error,
                                                        sizeof error) : NULL;
    if (settings) {
        sodium_memzero (settings, strlen (settings));
        free (settings);
    }
    if (!stored) {
        char message [600];
        snprintf (message, sizeof message, "settings refused: %s", error);
        return api_error (reply, 400, message, "settings");
    }
    char severity_text [8], digest_text [24];
    snprintf (severity_text, sizeof severity_text, "%d", (int) severity);
    snprintf (digest_text, sizeof digest_text, "%lld", (long long) digest);
    const char *params [] = { call->tenant_id, name, kind, stored, severity_text, digest_text,
                              id, sealed };
    PGresult *result = resource_query_status (call,
        "INSERT INTO notification_channels AS c (tenant_id, name, kind, settings, min_severity,"
        " digest_seconds, id, password_sealed) VALUES ($1::uuid, $2::text, $3::text, $4::jsonb,"
        " $5::smallint, $6::integer, $7::uuid, $8::text) RETURNING " ROW_SQL, 8, params);
    sodium_memzero (stored, strlen (stored));
    free (stored);
    free (sealed);
    if (PQresultStatus (result) != PGRES_TUPLES_OK) {
        char state [8];
        snprintf (state, sizeof state, "%s", resource_sqlstate (result));
        PQclear (result);
        sodium_memzero (secret, sizeof secret);
        if (strcmp (state, "23505") == 0)
            return api_error (reply, 409, "the tenant already has a channel of that name", "name");
        if (strcmp (state, "23514") == 0)
            return api_error (reply, 400, "name must be 1 to 63 of a-z, 0-9 and '-', not "
                              "starting with '-'", "name");
        return api_error (reply, 500, "the channel was not stored", NULL);
    }
    json_t *channel = s_channel (call, result, 0);
    PQclear (result);
    if (channel && *secret)
        json_object_set_new (channel, "secret", json_string (secret));
    sodium_memzero (secret, sizeof secret);
    if (!channel)
        return api_error (reply, 500, "the channel was not stored", NULL);
    //  Name, kind and thresholds only: settings hold URLs that are
    //  credentials (a Slack hook's path) and the secret.
    status = audit_call (call, reply, "channel.create", id,
                         json_pack ("{s:s, s:s, s:O, s:I}", "name", name, "kind", kind,
                                    "min_severity", json_object_get (channel, "min_severity"),
                                    "digest_seconds", digest));
    if (status) {
        json_decref (channel);
        return status;
    }
    return resource_reply (reply, 201, channel);
}

int
api_channels_test (api_call_t *call, json_t **reply)
{
    if (call->param_count < 1 || !api_is_uuid (call->params [0]))
        return api_error (reply, 404, "no such channel", NULL);
    if (!call->settings || !call->settings->channel_tests)
        return api_error (reply, 503, "channel tests are not available in this process", NULL);
    const char *params [] = { call->tenant_id, call->params [0] };
    PGresult *result = resource_query (call, reply, "reading a channel",
        "SELECT c.kind, c.settings::text, coalesce (c.password_sealed, ''), t.name"
        " FROM notification_channels c JOIN tenants t ON t.id = c.tenant_id"
        " WHERE c.tenant_id = $1::uuid AND c.id = $2::uuid", 2, params);
    if (!result)
        return 500;
    if (PQntuples (result) != 1) {
        PQclear (result);
        return api_error (reply, 404, "no such channel", NULL);
    }
    char error [512];
    channel_context_t context = api_channels_context (call);
    channel_t *channel = channel_new (PQgetvalue (result, 0, 0), PQgetvalue (result, 0, 1),
                                      PQgetvalue (result, 0, 2), call->tenant_id,
                                      call->params [0], &context, error, sizeof error);
    char *tenant = strdup (PQgetvalue (result, 0, 3));
    PQclear (result);
    if (!channel) {
        free (tenant);
        char message [640];
        snprintf (message, sizeof message, "the channel cannot send: %s", error);
        return api_error (reply, 409, message, NULL);
    }
    char id [37];
    int queued = channel_tests_start (call->settings->channel_tests, call->tenant_id, tenant,
                                      call->params [0], channel, id);
    free (tenant);
    if (queued == 1)
        return api_error (reply, 429, "this tenant already has the most channel tests in "
                          "progress: wait for one to finish", NULL);
    if (queued == 2)
        return api_error (reply, 503, "too many channel tests queued: try again shortly", NULL);
    return resource_reply (reply, 202, json_pack ("{s:s, s:s, s:s}", "id", id, "channel_id",
                                                  call->params [0], "state", "pending"));
}

int
api_channels_test_get (api_call_t *call, json_t **reply)
{
    if (call->param_count < 2 || !api_is_uuid (call->params [0])
    ||  !api_is_uuid (call->params [1]) || !call->settings || !call->settings->channel_tests)
        return api_error (reply, 404, "no such test", NULL);
    json_t *test = channel_tests_get (call->settings->channel_tests, call->tenant_id,
                                      call->params [0], call->params [1]);
    if (!test)
        return api_error (reply, 404, "no such test (outcomes are kept 15 minutes)", NULL);
    return resource_reply (reply, 200, test);
}

int
api_channels_delete (api_call_t *call, json_t **reply)
{
    if (call->param_count < 1 || !api_is_uuid (call->params [0]))
        return api_error (reply, 404, "no such channel", NULL);
    const char *params [] = { call->tenant_id, call->params [0] };
    PGresult *result = resource_query (call, reply, "removing a channel",
        "DELETE FROM notification_channels WHERE tenant_id = $1::uuid AND id = $2::uuid"
        " RETURNING name, kind", 2, params);
    if (!result)
        return 500;
    json_t *removed = PQntuples (result) == 1
        ? json_pack ("{s:s, s:s}", "name", PQgetvalue (result, 0, 0),
                     "kind", PQgetvalue (result, 0, 1)) : NULL;
    PQclear (result);
    if (!removed)
        return api_error (reply, 404, "no such channel", NULL);
    int status = audit_call (call, reply, "channel.delete", call->params [0], removed);
    if (status)
        return status;
    return resource_reply (reply, 204, NULL);
}

