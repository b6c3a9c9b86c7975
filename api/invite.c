/*  invite: an invitation mailed to the person invited (issue 21), through
    the tenant's email channel, by the same mail code as notify's notices
    (actors/notify/mail_send.c, channel_send_message).

    When an owner invites someone and the tenant has an enabled email
    channel (the first by name) and `drift api` knows the dashboard's
    address (--public-url), the set-password link goes by email to the
    invited address, from the channel's server, From and login. The send
    happens inside the invitation's request, bounded by --send-timeout-ms,
    so the owner reads at once whether it left ("invitation_email" in the
    answer); the link is shown to the owner either way. Without a channel
    or an address nothing is sent and the answer says why; a failed send
    never undoes the invitation.
*/
#include "people.h"
#include "resource.h"
#include "../actors/notify/mail.h"
#include "../lib/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

//  The answer's "invitation_email": {sent, channel?, error?}.
static json_t *
s_outcome (bool sent, const char *channel, const char *error)
{
    json_t *outcome = json_pack ("{s:b}", "sent", sent);
    if (channel)
        json_object_set_new (outcome, "channel", json_string (channel));
    if (error)
        json_object_set_new (outcome, "error", json_string (error));
    return outcome;
}

json_t *
invite_mail (api_call_t *call, const char *email, const char *token, const char *expires)
{
    const char *params [] = { call->tenant_id };
    json_t *ignored = NULL;
    PGresult *result = resource_query (call, &ignored, "finding an email channel",
        "SELECT c.id, c.name, c.settings::text, coalesce (c.password_sealed, ''), t.name"
        "  FROM notification_channels c JOIN tenants t ON t.id = c.tenant_id"
        " WHERE c.tenant_id = $1::uuid AND c.kind = 'email' AND c.enabled"
        " ORDER BY c.name LIMIT 1", 1, params);
    json_decref (ignored);
    if (!result)
        return s_outcome (false, NULL, "the tenant's channels could not be read");
    if (PQntuples (result) == 0) {
        PQclear (result);
        return s_outcome (false, NULL, "the tenant has no email channel");
    }
    const char *base = call->settings ? call->settings->public_url : NULL;
    if (!base || !*base) {
        json_t *outcome = s_outcome (false, PQgetvalue (result, 0, 1),
                                     "drift api has no --public-url to link to");
        PQclear (result);
        return outcome;
    }
    char error [512];
    channel_context_t context = api_channels_context (call);
    channel_t *channel = channel_new ("email", PQgetvalue (result, 0, 2),
                                      PQgetvalue (result, 0, 3), call->tenant_id,
                                      PQgetvalue (result, 0, 0), &context, error, sizeof error);
    char name [128], tenant [128];
    snprintf (name, sizeof name, "%s", PQgetvalue (result, 0, 1));
    snprintf (tenant, sizeof tenant, "%s", PQgetvalue (result, 0, 4));
    PQclear (result);
    if (!channel)
        return s_outcome (false, name, error);

    size_t size = strlen (base) + strlen (token) + 1024;
    char *text = (char *) malloc (size);
    char subject [256], delivery [64];
    snprintf (subject, sizeof subject, "[drift] You are invited to tenant %s", tenant);
    //  The link's own id (TENANT.LINK.SECRET): one Message-ID per link.
    snprintf (delivery, sizeof delivery, "invite-%.36s", token + 37);
    send_result_t sent = SEND_TRANSIENT;
    snprintf (error, sizeof error, "out of memory");
    if (text) {
        snprintf (text, size,
                  "%s invited you to the drift dashboard of tenant %s.\n\n"
                  "Choose your password here (the link works once, until %s):\n\n"
                  "%s%s#/set-password/%s\n\n"
                  "Then log in as %s. If you did not expect this, ignore this email.\n",
                  resource_actor (call), tenant, expires, base,
                  base [strlen (base) - 1] == '/' ? "" : "/", token, email);
        mail_message_t message = { .subject = subject, .text = text, .delivery_id = delivery };
        sent = channel_send_message (channel, email, &message, error, sizeof error);
        free (text);
    }
    channel_destroy (&channel);
    if (sent == SEND_OK)
        log_info ("invitation mailed", "tenant", call->tenant_id, "channel", name);
    else
        log_warn ("invitation not mailed; the owner has the link", "tenant", call->tenant_id,
                  "channel", name, "error", error);
    return s_outcome (sent == SEND_OK, name, sent == SEND_OK ? NULL : error);
}
