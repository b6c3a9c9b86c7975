/*  agents: the tenant's agents over the dashboard API: list, issue, revoke.

    Issuing is `drift keys issue` (the same lib/agentkeys): a new CURVE
    keypair with the tenant and agent as metadata, its public key registered
    under the tenant, Redis's cached answer for the key removed. The answer
    holds the certificate's text (the zcert secret file, ZPL) once, and the
    agent's configuration (the endpoint it connects to and the server's
    public key, from --agent-endpoint and --keys-dir); the secret key is
    never stored here, only wiped. Revoking marks the agent and removes the
    key's cached answer, so ingest refuses it within its local cache time.

    The Redis invalidation runs after the commit (api_call_t.after_commit):
    run before it, a lookup in between would read the old row and cache it
    again for the registry's TTL.
*/
#include "audit.h"
#include "resource.h"
#include "../lib/agent_link.h"
#include "../lib/agentkeys.h"
#include "../lib/log.h"
#include "../lib/registry.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ROW_SQL \
    "jsonb_build_object ('id', a.id, 'name', a.name, 'public_key', a.public_key," \
    " 'created_at', drift_iso (a.created_at), 'revoked_at', drift_iso (a.revoked_at))::text"

int
api_agents_list (api_call_t *call, json_t **reply)
{
    return resource_list (call, reply, "listing agents",
        "SELECT " ROW_SQL " FROM agents a WHERE a.tenant_id = $1::uuid"
        " ORDER BY a.name, a.created_at, a.id LIMIT $2::bigint OFFSET $3::bigint");
}

//  The key's cached answer removed from Redis, when the API has one.
static void
s_invalidate_now (const api_call_t *call, void *key)
{
    const char *redis = call->settings ? call->settings->redis : NULL;
    if (redis && *redis && agentkeys_invalidate (redis, (const char *) key))
        log_warn ("api: a key's cached answer was not removed from Redis; ingest sees the "
                  "change when it expires (at most 300 s)", "tenant", call->tenant_id,
                  "key", (const char *) key);
}

//  ... once the change is committed.
static void
s_invalidate (api_call_t *call, const char *key)
{
    free (call->after_arg);
    call->after_commit = s_invalidate_now;
    call->after_arg = strdup (key);
}

int
api_agents_create (api_call_t *call, json_t **reply)
{
    static const char *const known [] = { "name", NULL };
    const char *name;
    int status = api_json_only (call->body, known, reply);
    if (!status)
        status = api_json_string (call->body, "name", true, 63, &name, reply);
    if (status)
        return status;
    if (!registry_name_valid (name))
        return api_error (reply, 400, "name must be 1 to 63 of a-z, 0-9 and '-', not starting "
                          "with '-'", "name");
    char server_key [41], error [512];
    if (agentkeys_server_key (call->settings ? call->settings->keys_dir : NULL, server_key,
                              error, sizeof error)) {
        char message [600];
        snprintf (message, sizeof message, "agent keys cannot be issued here: %s", error);
        return api_error (reply, 503, message, NULL);
    }
    const char *params [] = { call->tenant_id };
    PGresult *result = resource_query (call, reply, "reading the tenant",
        "SELECT name FROM tenants WHERE id = $1::uuid", 1, params);
    if (!result)
        return 500;
    if (PQntuples (result) != 1) {
        PQclear (result);
        return api_error (reply, 404, "no such tenant", NULL);
    }
    zcert_t *cert = agentkeys_cert_new (PQgetvalue (result, 0, 0), name);
    PQclear (result);
    char *certificate = cert ? agentkeys_cert_text (cert) : NULL;
    char key [41] = "";
    if (cert)
        snprintf (key, sizeof key, "%s", zcert_public_txt (cert));
    secret_cert_destroy (&cert);
    if (!certificate)
        return api_error (reply, 500, "the agent's certificate could not be made", NULL);

    char agent_id [37];
    agentkeys_result_t registered = agentkeys_register (call->conn, NULL, call->tenant_id, name,
                                                        key, agent_id, error, sizeof error);
    if (registered != AGENTKEYS_OK) {
        sodium_memzero (certificate, strlen (certificate));
        free (certificate);
        if (registered == AGENTKEYS_NAME_TAKEN)
            return api_error (reply, 409, "the tenant already has an agent of that name (revoke "
                              "it first to issue the name again)", "name");
        if (registered == AGENTKEYS_NO_TENANT)
            return api_error (reply, 404, "no such tenant", NULL);
        return api_error (reply, 500, "the agent could not be registered", NULL);
    }
    s_invalidate (call, key);

    const char *row_params [] = { call->tenant_id, agent_id };
    result = resource_query (call, reply, "reading the new agent",
        "SELECT " ROW_SQL " FROM agents a WHERE a.tenant_id = $1::uuid AND a.id = $2::uuid",
        2, row_params);
    bool read = result != NULL;
    json_t *agent = read ? resource_row (result, 0) : NULL;
    PQclear (result);
    //  The public key only: the certificate holds the agent's secret key.
    if (agent
    &&  (status = audit_call (call, reply, "agent_key.issue", agent_id,
                              json_pack ("{s:s, s:s}", "name", name, "public_key", key)))) {
        json_decref (agent);
        sodium_memzero (certificate, strlen (certificate));
        free (certificate);
        return status;
    }
    if (!agent) {
        sodium_memzero (certificate, strlen (certificate));
        free (certificate);
        return read ? api_error (reply, 500, "the new agent could not be read", NULL) : 500;
    }
    const char *endpoint = call->settings && call->settings->agent_endpoint
                         ? call->settings->agent_endpoint : AGENT_LINK_ENDPOINT;
    *reply = json_pack ("{s:o, s:s, s:{s:s, s:s}}", "agent", agent, "certificate", certificate,
                        "configuration", "endpoint", endpoint, "server_key", server_key);
    sodium_memzero (certificate, strlen (certificate));
    free (certificate);
    return 201;
}

int
api_agents_delete (api_call_t *call, json_t **reply)
{
    if (call->param_count < 1 || !api_is_uuid (call->params [0]))
        return api_error (reply, 404, "no such agent", NULL);
    const char *params [] = { call->tenant_id, call->params [0] };
    //  Revoking again answers 204 too and removes the cached answer again:
    //  how an operator retries an invalidation Redis missed.
    PGresult *result = resource_query (call, reply, "revoking an agent",
        "UPDATE agents a SET revoked_at = coalesce (a.revoked_at, now ())"
        " WHERE a.tenant_id = $1::uuid AND a.id = $2::uuid RETURNING a.public_key, a.name",
        2, params);
    if (!result)
        return 500;
    if (PQntuples (result) != 1) {
        PQclear (result);
        return api_error (reply, 404, "no such agent", NULL);
    }
    s_invalidate (call, PQgetvalue (result, 0, 0));
    json_t *detail = json_pack ("{s:s, s:s}", "name", PQgetvalue (result, 0, 1),
                                "public_key", PQgetvalue (result, 0, 0));
    PQclear (result);
    int status = audit_call (call, reply, "agent_key.revoke", call->params [0], detail);
    if (status)
        return status;
    return resource_reply (reply, 204, NULL);
}
