/*  routes: the dashboard API's resource routes (docs/API.md, "Resources"),
    each with the least role that may use it: a viewer reads, an admin
    also suppresses and manages channels and agents. The server (api/
    server.c) matches method and pattern, checks the token's role against
    this table, and calls the handler inside the tenant's transaction; the
    users routes (owner) are the server's own. An admin also asks agents
    for a check now (api/commands.c) and for remediation plans, which an
    admin approves or rejects (api/remediations.c); the owner sets
    four-eyes.
*/
#include "audit.h"
#include "resource.h"

const api_route_t api_resource_routes [] = {
    { "GET",    "/api/v1/stacks",                   API_ROLE_VIEWER, api_stacks_list },
    { "POST",   "/api/v1/stacks/{stack}/check",     API_ROLE_ADMIN,  api_stacks_check },
    { "GET",    "/api/v1/drift",                    API_ROLE_VIEWER, api_drift_list },
    { "GET",    "/api/v1/drift/{id}",               API_ROLE_VIEWER, api_drift_get },
    { "GET",    "/api/v1/drift/{id}/sightings",     API_ROLE_VIEWER, api_drift_sightings },
    { "POST",   "/api/v1/drift/{id}/suppress",      API_ROLE_ADMIN,  api_drift_suppress },
    { "POST",   "/api/v1/drift/{id}/unsuppress",    API_ROLE_ADMIN,  api_drift_unsuppress },
    { "GET",    "/api/v1/suppressions",             API_ROLE_VIEWER, api_suppressions_list },
    { "POST",   "/api/v1/suppressions",             API_ROLE_ADMIN,  api_suppressions_create },
    { "DELETE", "/api/v1/suppressions/{id}",        API_ROLE_ADMIN,  api_suppressions_delete },
    { "GET",    "/api/v1/reports",                  API_ROLE_VIEWER, api_reports_list },
    { "GET",    "/api/v1/history",                  API_ROLE_VIEWER, api_history_get },
    { "GET",    "/api/v1/channels",                 API_ROLE_VIEWER, api_channels_list },
    { "POST",   "/api/v1/channels",                 API_ROLE_ADMIN,  api_channels_create },
    { "POST",   "/api/v1/channels/{id}/test",       API_ROLE_ADMIN,  api_channels_test },
    { "GET",    "/api/v1/channels/{id}/tests/{test}", API_ROLE_ADMIN, api_channels_test_get },
    { "DELETE", "/api/v1/channels/{id}",            API_ROLE_ADMIN,  api_channels_delete },
    { "GET",    "/api/v1/agents",                   API_ROLE_VIEWER, api_agents_list },
    { "POST",   "/api/v1/agents",                   API_ROLE_ADMIN,  api_agents_create },
    { "DELETE", "/api/v1/agents/{id}",              API_ROLE_ADMIN,  api_agents_delete },
    { "POST",   "/api/v1/agents/{id}/check",        API_ROLE_ADMIN,  api_agents_check },
    { "GET",    "/api/v1/commands",                 API_ROLE_VIEWER, api_commands_list },
    { "GET",    "/api/v1/commands/{id}",            API_ROLE_VIEWER, api_commands_get },
    { "GET",    "/api/v1/audit",                    API_ROLE_ADMIN,  api_audit_list },
    { "POST",   "/api/v1/stacks/{stack}/remediations", API_ROLE_ADMIN, api_stacks_remediate },
    { "POST",   "/api/v1/commands/{id}/approve",    API_ROLE_ADMIN,  api_commands_approve },
    { "POST",   "/api/v1/commands/{id}/reject",     API_ROLE_ADMIN,  api_commands_reject },
    { "GET",    "/api/v1/settings/remediation",     API_ROLE_VIEWER, api_remediation_settings_get },
    { "PUT",    "/api/v1/settings/remediation",     API_ROLE_OWNER,  api_remediation_settings_put },
    { NULL, NULL, 0, NULL }
};
