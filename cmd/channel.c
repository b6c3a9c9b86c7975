/*  drift channel: a tenant's notification channels (email over SMTP,
    signed webhooks, PagerDuty, Microsoft Teams, Opsgenie), in notification_channels under the tenant's
    row-level security.

        drift channel add TENANT NAME --kind email|webhook|pagerduty|teams|opsgenie --settings JSON|@FILE
                          [--min-severity high] [--digest-seconds 0]
        drift channel list [TENANT]
        drift channel test TENANT NAME
        drift channel remove TENANT NAME

    Settings are checked by actors/notify/channel before anything is stored (the
    format is in channel.h and docs/NOTIFY.md). A webhook added without a
    signing secret gets a random one, printed once: the receiver needs it
    to verify X-Drift-Signature. An SMTP password, a PagerDuty routing key or
    an Opsgenie API key is given in the settings
    (from @FILE, to keep it off the command line) and stored sealed under
    --channel-key; --egress-allow-hosts names hosts that may be internal, as for
    drift api and drift notify. `list` shows each channel's health (last
    delivery, last permanent failure and why, totals; with --redis the
    breaker's state) and never a secret. `test` sends a sample notice
    through the channel from here, at once, and says what happened.

    Exit codes: 0 done, 1 refused (not found, exists, bad settings, the
    test send failed), 2 usage, 3 PostgreSQL unreachable or failing.
*/
#include "commands.h"
#include "../actors/notify/breaker.h"
#include "../actors/notify/channel.h"
#include "../lib/config.h"
#include "../lib/db.h"
#include "../lib/kv.h"
#include "../lib/severity.h"
#include "../lib/seal.h"

#include <czmq.h>
#include <jansson.h>
#include <libpq-fe.h>
#include <sodium.h>

#define EXIT_REFUSED 1
#define EXIT_USAGE 2
#define EXIT_DATABASE 3

#define CHANNEL_USAGE \
    "  drift channel add TENANT NAME --kind email|webhook|pagerduty|teams|opsgenie --settings JSON|@FILE\n" \
    "                    [--min-severity high] [--digest-seconds 0]\n" \
    "  drift channel list [TENANT] [--redis URL]\n" \
    "  drift channel test TENANT NAME\n" \
    "  drift channel remove TENANT NAME\n"

static const config_option_t s_options [] = {
    CONFIG_COMMON_OPTIONS,
    CMD_DATABASE_OPTION,
    { "kind", CONFIG_STRING, "", "add: email, webhook, pagerduty, teams or opsgenie" },
    { "settings", CONFIG_STRING, "", "add: the settings as JSON, or @FILE" },
    { "min-severity", CONFIG_STRING, "high", "add: the least severity announced (info .. critical)" },
    { "digest-seconds", CONFIG_INT, "0", "add: one digest per this many seconds (0: one per report)" },
    { "redis", CONFIG_STRING, "", "list: Redis of the notify stage, to show breaker states" },
    { "timeout-ms", CONFIG_INT, "10000", "test: the send's timeout" },
    CMD_CHANNEL_OPTIONS,
    CONFIG_END
};

static int
s_failed (PGconn *conn, const char *what)
{
    char *error = strdup (PQerrorMessage (conn));
    error [strcspn (error, "\n")] = 0;
    fprintf (stderr, "drift channel: %s failed: %s\n", what, error);
    free (error);
    return EXIT_DATABASE;
}

static void
s_end (PGconn *conn, bool commit)
{
    PGresult *result = PQexec (conn, commit ? "COMMIT" : "ROLLBACK");
    PQclear (result);
}

//  --------------------------------------------------------------------------
//  add

//  The settings text from --settings (JSON or @FILE); caller frees.
static char *
s_settings_text (const char *value)
{
    if (*value != '@')
        return strdup (value);
    size_t size;
    char *text = cmd_read_all (value + 1, &size);
    if (!text)
        fprintf (stderr, "drift channel: cannot read %s\n", value + 1);
    return text;
}

static int
s_add (PGconn *conn, config_t *config, const char *tenant, const char *name)
{
    const char *kind = config_get (config, "kind");
    Drift__Severity severity;
    if (severity_parse (config_get (config, "min-severity"), &severity)
    ||  severity < DRIFT__SEVERITY__SEVERITY_INFO) {
        fprintf (stderr, "drift channel: --min-severity is info, low, medium, high or critical\n");
        return EXIT_USAGE;
    }
    long digest = config_get_int (config, "digest-seconds");
    if (digest < 0 || digest > 86400) {
        fprintf (stderr, "drift channel: --digest-seconds is 0 to 86400\n");
        return EXIT_USAGE;
    }
    char *text = s_settings_text (config_get (config, "settings"));
    if (!text)
        return EXIT_REFUSED;
    char id [37], channel_id [37], severity_text [8], digest_text [16];
    int rc = cmd_tenant_begin (conn, "channel", tenant, id);
    if (rc) {
        sodium_memzero (text, strlen (text));
        free (text);
        s_end (conn, false);
        return rc < 0 ? s_failed (conn, "finding the tenant") : EXIT_REFUSED;
    }
    //  A webhook gets a signing secret unless it brought one; a password
    //  is sealed under the tenant's and the channel's ids.
    seal_keyring_t *keyring = NULL;
    char error [512], secret [65];
    char *sealed = NULL, *stored = NULL;
    channel_new_id (channel_id);
    if (cmd_channel_key (config, "channel", &keyring) == 0) {
        channel_context_t context = {
            .allow_hosts = config_get (config, "egress-allow-hosts"), .keyring = keyring
        };
        stored = channel_settings_prepare (kind, text, id, channel_id, &context, secret, &sealed,
                                           error, sizeof error);
        if (!stored)
            fprintf (stderr, "drift channel: settings refused: %s\n", error);
    }
    seal_keyring_destroy (&keyring);
    sodium_memzero (text, strlen (text));
    free (text);
    if (!stored) {
        s_end (conn, false);
        return EXIT_REFUSED;
    }
    snprintf (severity_text, sizeof severity_text, "%d", (int) severity);
    snprintf (digest_text, sizeof digest_text, "%ld", digest);
    const char *params [] = { id, name, kind, stored, severity_text, digest_text, channel_id,
                              sealed };
    PGresult *result = PQexecParams (conn,
        "INSERT INTO notification_channels (tenant_id, name, kind, settings, min_severity, "
        "digest_seconds, id, password_sealed) VALUES ($1::uuid, $2, $3, $4::jsonb, $5::smallint, "
        "$6::integer, $7::uuid, $8) RETURNING id", 8, NULL, params, NULL, NULL, 0);
    free (sealed);
    const char *state = PQresultErrorField (result, PG_DIAG_SQLSTATE);
    if (PQresultStatus (result) == PGRES_TUPLES_OK) {
        printf ("added %s channel '%s' of tenant %s (id %s), from severity %s%s\n", kind, name,
                tenant, PQgetvalue (result, 0, 0), severity_name (severity),
                digest ? ", as digests" : "");
        if (*secret)
            printf ("signing secret (shown once; the receiver verifies X-Drift-Signature "
                    "with it): %s\n", secret);
        rc = 0;
    }
    else
    if (state && streq (state, "23505")) {
        fprintf (stderr, "drift channel: tenant %s already has a channel '%s'\n", tenant, name);
        rc = EXIT_REFUSED;
    }
    else
    if (state && streq (state, "23514")) {
        fprintf (stderr, "drift channel: invalid channel name '%s': use 1 to 63 of a-z, 0-9 "
                 "and '-'\n", name);
        rc = EXIT_REFUSED;
    }
    else
        rc = s_failed (conn, "adding the channel");
    PQclear (result);
    s_end (conn, rc == 0);
    sodium_memzero (secret, sizeof secret);
    free (stored);
    return rc;
}

//  --------------------------------------------------------------------------
//  list

static int
s_list (PGconn *conn, config_t *config, const char *tenant)
{
    //  Every tenant's, or one's (an operator connects as the owner, whose
    //  own policy lets it read tenants; channels need the tenant set).
    const char *params [] = { tenant };
    PGresult *tenants = PQexecParams (conn,
        "SELECT id, name FROM tenants WHERE $1 = '' OR name = $1 OR id::text = lower ($1) "
        "ORDER BY name", 1, NULL, params, NULL, NULL, 0);
    if (PQresultStatus (tenants) != PGRES_TUPLES_OK) {
        PQclear (tenants);
        return s_failed (conn, "listing tenants");
    }
    if (*tenant && PQntuples (tenants) == 0) {
        fprintf (stderr, "drift channel: no tenant '%s'\n", tenant);
        PQclear (tenants);
        return EXIT_REFUSED;
    }
    kv_t *kv = *config_get (config, "redis") ? kv_new (config_get (config, "redis"), 1000) : NULL;
    breaker_t *breaker = kv ? breaker_new (kv, 1, 0) : NULL;
    printf ("%-16s %-20s %-8s %-9s %-7s %-8s %-7s %-7s %-24s %s\n", "TENANT", "CHANNEL", "KIND",
            "FROM", "DIGEST", "ENABLED", "SENT", "FAILED", "LAST SENT", "LAST ERROR / SETTINGS");
    int rc = 0;
    for (int t = 0; t < PQntuples (tenants) && rc == 0; t++) {
        char id [37];
        if (cmd_tenant_begin (conn, "channel", PQgetvalue (tenants, t, 0), id)) {
            rc = s_failed (conn, "setting the tenant");
            break;
        }
        PGresult *result = PQexec (conn,
            "SELECT id, name, kind, min_severity, digest_seconds, enabled, sent_total, "
            "failed_total, coalesce (to_char (last_sent_at AT TIME ZONE 'UTC', "
            "'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), '-'), last_error, settings::text "
            "FROM notification_channels ORDER BY name");
        if (PQresultStatus (result) != PGRES_TUPLES_OK)
            rc = s_failed (conn, "listing channels");
        for (int i = 0; rc == 0 && i < PQntuples (result); i++) {
            char *settings = channel_settings_public (PQgetvalue (result, i, 2),
                                                      PQgetvalue (result, i, 10), false);
            printf ("%-16s %-20s %-8s %-9s %-7s %-8s %-7s %-7s %-24s %s\n",
                    PQgetvalue (tenants, t, 1), PQgetvalue (result, i, 1),
                    PQgetvalue (result, i, 2),
                    severity_name ((Drift__Severity) atoi (PQgetvalue (result, i, 3))),
                    PQgetvalue (result, i, 4),
                    *PQgetvalue (result, i, 5) == 't' ? "yes" : "no",
                    PQgetvalue (result, i, 6), PQgetvalue (result, i, 7),
                    PQgetvalue (result, i, 8),
                    PQgetisnull (result, i, 9) ? settings : PQgetvalue (result, i, 9));
            breaker_state_t state;
            int failures;
            if (breaker && breaker_state (breaker, PQgetvalue (result, i, 0), &state,
                                          &failures) == 0 && (state != BREAKER_CLOSED || failures))
                printf ("%-16s %-20s breaker %s after %d consecutive failures\n", "", "",
                        breaker_state_name (state), failures);
            free (settings);
        }
        PQclear (result);
        s_end (conn, true);
    }
    PQclear (tenants);
    breaker_destroy (&breaker);
    kv_destroy (&kv);
    return rc;
}

//  --------------------------------------------------------------------------
//  test and remove

static int
s_test (PGconn *conn, config_t *config, const char *tenant, const char *name)
{
    char id [37];
    int rc = cmd_tenant_begin (conn, "channel", tenant, id);
    if (rc) {
        s_end (conn, false);
        return rc < 0 ? s_failed (conn, "finding the tenant") : EXIT_REFUSED;
    }
    const char *params [] = { name };
    PGresult *result = PQexecParams (conn,
        "SELECT kind, settings::text, coalesce (password_sealed, ''), id "
        "FROM notification_channels WHERE name = $1", 1, NULL, params, NULL, NULL, 0);
    s_end (conn, true);
    if (PQresultStatus (result) != PGRES_TUPLES_OK || PQntuples (result) != 1) {
        fprintf (stderr, "drift channel: tenant %s has no channel '%s'\n", tenant, name);
        PQclear (result);
        return EXIT_REFUSED;
    }
    char error [512];
    seal_keyring_t *keyring = NULL;
    if (cmd_channel_key (config, "channel", &keyring)) {
        PQclear (result);
        return EXIT_USAGE;
    }
    channel_context_t context = {
        .timeout_ms = config_get_int (config, "timeout-ms"),
        .allow_hosts = config_get (config, "egress-allow-hosts"), .keyring = keyring
    };
    channel_t *channel = channel_new (PQgetvalue (result, 0, 0), PQgetvalue (result, 0, 1),
                                      PQgetvalue (result, 0, 2), id, PQgetvalue (result, 0, 3),
                                      &context, error, sizeof error);
    PQclear (result);
    seal_keyring_destroy (&keyring);
    if (!channel) {
        fprintf (stderr, "drift channel: channel '%s' is unusable: %s\n", name, error);
        return EXIT_REFUSED;
    }
    char delivery [48];
    send_result_t sent = channel_send_test (channel, tenant, delivery, error, sizeof error);
    channel_destroy (&channel);
    if (sent == SEND_OK) {
        printf ("test notice sent through '%s' (delivery %s)\n", name, delivery);
        return 0;
    }
    fprintf (stderr, "drift channel: test send through '%s' failed (%s): %s\n", name,
             sent == SEND_TRANSIENT ? "transient, notify would retry" : "permanent", error);
    return EXIT_REFUSED;
}

static int
s_remove (PGconn *conn, const char *tenant, const char *name)
{
    char id [37];
    int rc = cmd_tenant_begin (conn, "channel", tenant, id);
    if (rc) {
        s_end (conn, false);
        return rc < 0 ? s_failed (conn, "finding the tenant") : EXIT_REFUSED;
    }
    const char *params [] = { name };
    PGresult *result = PQexecParams (conn, "DELETE FROM notification_channels WHERE name = $1",
                                     1, NULL, params, NULL, NULL, 0);
    if (PQresultStatus (result) != PGRES_COMMAND_OK)
        rc = s_failed (conn, "removing the channel");
    else
    if (atoi (PQcmdTuples (result)) == 0) {
        fprintf (stderr, "drift channel: tenant %s has no channel '%s'\n", tenant, name);
        rc = EXIT_REFUSED;
    }
    else
        printf ("removed channel '%s' of tenant %s (queued deliveries to it are dropped)\n",
                name, tenant);
    PQclear (result);
    s_end (conn, rc == 0);
    return rc;
}

int
cmd_channel (int argc, char **argv)
{
    int exit_code;
    config_t *config = cmd_load ("channel", "Notification channels of a tenant.", s_options,
                                 argc, argv, &exit_code);
    if (!config)
        return exit_code;
    int args = config_argc (config);
    const char *verb = args > 0 ? config_argv (config, 0) : "";
    bool usage_ok = (streq (verb, "add") && args == 3 && *config_get (config, "kind")
                     && *config_get (config, "settings"))
                 || (streq (verb, "list") && args <= 2)
                 || ((streq (verb, "test") || streq (verb, "remove")) && args == 3);
    if (!usage_ok) {
        fprintf (stderr, "usage:\n" CHANNEL_USAGE);
        config_destroy (&config);
        return EXIT_USAGE;
    }
    PGconn *conn = db_connect (config_get (config, "database"), 5000);
    int rc = EXIT_DATABASE;
    if (!conn)
        fprintf (stderr, "drift channel: the database is unreachable\n");
    else
    if (streq (verb, "add"))
        rc = s_add (conn, config, config_argv (config, 1), config_argv (config, 2));
    else
    if (streq (verb, "list"))
        rc = s_list (conn, config, args == 2 ? config_argv (config, 1) : "");
    else
    if (streq (verb, "test"))
        rc = s_test (conn, config, config_argv (config, 1), config_argv (config, 2));
    else
        rc = s_remove (conn, config_argv (config, 1), config_argv (config, 2));
    if (conn)
        PQfinish (conn);
    config_destroy (&config);
    return rc;
}
