/*  audit: the tenant's audit log (schema 0022, api/audit.c) against a real
    `drift api` on a free port, reaching a fresh migrated database as a
    drift_app login (row-level security applies, as in production), the
    test Redis, and `drift keys` run as an operator does.

    What must hold: each kind of change leaves its entry, naming who made
    it (a person, an API token, the CLI's OS user) and never a secret; a
    failed login is recorded, in its account's tenant or, for an address
    no account has, in none (only the operator sees it), with the same
    answer either way; the log is append-only for drift_app (UPDATE and
    DELETE refused) and a tenant sees only its own entries; a viewer is
    refused the listing; pages are newest first by cursor, filtered by
    action, actor and since, and also CSV; and a change whose entry cannot
    be written does not commit.
*/
#define _GNU_SOURCE             // asprintf
#include "keyutil.h"
#include "testutil.h"
#include "../lib/kv.h"
#include "../lib/migrations.h"

#include <criterion/criterion.h>
#include <curl/curl.h>
#include <jansson.h>
#include <libpq-fe.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define PASSWORD "correct horse battery"

static char *s_url;             // this test's database, as its owner
static char *s_app_url;         // ... as a drift_app login
static char s_dir [256];        // scratch: JWT secret, server keys, log
static pid_t s_pid;             // the drift api process
static int s_port;              // its port

//  --------------------------------------------------------------------------
//  The server and its HTTP

static size_t
s_append (char *data, size_t size, size_t count, void *arg)
{
    char **body = (char **) arg;
    size_t have = *body ? strlen (*body) : 0;
    *body = (char *) realloc (*body, have + size * count + 1);
    memcpy (*body + have, data, size * count);
    (*body) [have + size * count] = 0;
    return size * count;
}

//  One request: its status, the body as text in *text (if not NULL, caller
//  frees) and as JSON in *reply (if not NULL; NULL when not JSON).
static int
s_request (const char *method, const char *path, const char *token, const char *body,
           json_t **reply, char **text)
{
    CURL *curl = curl_easy_init ();
    char url [600], auth [2048];
    snprintf (url, sizeof url, "http://127.0.0.1:%d%s", s_port, path);
    struct curl_slist *headers = NULL;
    if (body)
        headers = curl_slist_append (headers, "Content-Type: application/json");
    if (token) {
        snprintf (auth, sizeof auth, "Authorization: Bearer %s", token);
        headers = curl_slist_append (headers, auth);
    }
    char *received = NULL;
    curl_easy_setopt (curl, CURLOPT_URL, url);
    curl_easy_setopt (curl, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt (curl, CURLOPT_HTTPHEADER, headers);
    if (body)
        curl_easy_setopt (curl, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt (curl, CURLOPT_WRITEFUNCTION, s_append);
    curl_easy_setopt (curl, CURLOPT_WRITEDATA, &received);
    curl_easy_setopt (curl, CURLOPT_TIMEOUT, 20L);
    long status = -1;
    if (curl_easy_perform (curl) == CURLE_OK)
        curl_easy_getinfo (curl, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all (headers);
    curl_easy_cleanup (curl);
    if (reply)
        *reply = received ? json_loads (received, 0, NULL) : NULL;
    if (text)
        *text = received;
    else
        free (received);
    return (int) status;
}

static int
s_call (const char *method, const char *path, const char *token, const char *body,
        json_t **reply)
{
    return s_request (method, path, token, body, reply, NULL);
}

//  Earlier logins and signups from this address must not count here.
static void
s_forget_limits (void)
{
    kv_t *kv = kv_new (getenv ("DRIFT_TEST_REDIS_URL"), 1000);
    cr_assert (kv, "Redis answers");
    redisReply *reply = kv_command (kv, "DEL drift:login:address:127.0.0.1"
                                        " drift:signup:address:127.0.0.1");
    cr_assert (reply, "Redis answers");
    freeReplyObject (reply);
    kv_destroy (&kv);
}

static void
s_start (void)
{
    const char *redis = getenv ("DRIFT_TEST_REDIS_URL");
    cr_assert (redis, "DRIFT_TEST_REDIS_URL is not set: run the tests through scripts/test");
    s_forget_limits ();
    tu_scratch_dir ("audit", s_dir, sizeof s_dir);
    char secret_path [300], keys [300], log_path [300], listen [32];
    snprintf (secret_path, sizeof secret_path, "%s/jwt.secret", s_dir);
    snprintf (keys, sizeof keys, "%s/keys", s_dir);
    snprintf (log_path, sizeof log_path, "%s/api.log", s_dir);
    uint8_t secret [32];
    cr_assert (sodium_init () >= 0);
    randombytes_buf (secret, sizeof secret);
    FILE *file = fopen (secret_path, "w");
    cr_assert (file);
    fwrite (secret, 1, sizeof secret, file);
    fclose (file);
    chmod (secret_path, 0600);
    //  The server's keypair, for issuing agents over the API.
    int status;
    pid_t init = tu_spawn (log_path, "keys", "init", "--keys-dir", keys, NULL);
    cr_assert_eq (waitpid (init, &status, 0), init);
    cr_assert (WIFEXITED (status) && WEXITSTATUS (status) == 0, "drift keys init (see %s)",
               log_path);
    s_url = tu_fresh_database ();
    cr_assert_gt (migrations_apply (s_url), 0);
    s_app_url = tu_app_url (s_url);
    s_port = tu_free_port ();
    snprintf (listen, sizeof listen, "127.0.0.1:%d", s_port);
    s_pid = tu_spawn (log_path, "api", "--listen", listen, "--database", s_app_url,
                      "--redis", redis, "--jwt-secret-file", secret_path, "--signup", "open",
                      "--threads", "2", "--keys-dir", keys,
                      "--egress-allow-hosts", "127.0.0.1", NULL);
    for (int i = 0; i < 200; i++) {
        if (s_call ("GET", "/healthz", NULL, NULL, NULL) == 200)
            return;
        usleep (50 * 1000);
    }
    cr_assert_fail ("drift api did not answer /healthz (see %s)", log_path);
}

static void
s_stop (void)
{
    if (s_pid > 0)
        tu_stop (s_pid, SIGTERM);
    s_pid = 0;
    free (s_app_url);
    s_app_url = NULL;
    if (s_url)
        tu_drop_database (s_url);
    s_url = NULL;
    if (*s_dir)
        tu_remove_tree (s_dir);
    *s_dir = 0;
    s_forget_limits ();
}

//  --------------------------------------------------------------------------
//  Accounts and the log

static const char *
s_get (json_t *object, const char *key, const char *inner)
{
    json_t *value = json_object_get (object, key);
    return json_string_value (inner ? json_object_get (value, inner) : value);
}

//  Sign up tenant with email: the reply (asserted 201).
static json_t *
s_signup (const char *tenant, const char *email)
{
    char body [512];
    snprintf (body, sizeof body, "{\"tenant\": \"%s\", \"email\": \"%s\", \"password\": \"%s\"}",
              tenant, email, PASSWORD);
    json_t *reply;
    cr_assert_eq (s_call ("POST", "/api/v1/signup", NULL, body, &reply), 201);
    return reply;
}

static int
s_login (const char *email, const char *password, json_t **reply)
{
    char body [512];
    snprintf (body, sizeof body, "{\"email\": \"%s\", \"password\": \"%s\"}", email, password);
    return s_call ("POST", "/api/v1/login", NULL, body, reply);
}

//  The tenant's log as token reads it, one page of up to 500 entries
//  filtered by query ("" for none): its items (caller frees).
static json_t *
s_log (const char *token, const char *query)
{
    char path [600];
    snprintf (path, sizeof path, "/api/v1/audit?limit=500%s%s", *query ? "&" : "", query);
    json_t *reply;
    cr_assert_eq (s_call ("GET", path, token, NULL, &reply), 200, "GET %s", path);
    json_t *items = json_incref (json_object_get (reply, "items"));
    json_decref (reply);
    cr_assert (json_is_array (items));
    return items;
}

//  The newest entry of action in items, or NULL.
static json_t *
s_entry (json_t *items, const char *action)
{
    size_t index;
    json_t *item;
    json_array_foreach (items, index, item)
        if (strcmp (s_get (item, "action", NULL), action) == 0)
            return item;
    return NULL;
}

//  items has an entry of action by actor (NULL: anyone) on target (NULL:
//  any).
static void
s_expect (json_t *items, const char *action, const char *actor, const char *target)
{
    json_t *item = s_entry (items, action);
    cr_assert (item, "no %s entry in the log", action);
    if (actor)
        cr_assert_str_eq (s_get (item, "actor", NULL), actor, "actor of %s", action);
    if (target)
        cr_assert_str_eq (s_get (item, "target", NULL), target, "target of %s", action);
    cr_assert_str_eq (s_get (item, "source", NULL), "127.0.0.1", "source of %s", action);
}

//  --------------------------------------------------------------------------
//  Each kind of change

Test (audit, each_kind_of_change_is_recorded_with_who_made_it, .init = s_start, .fini = s_stop)
{
    json_t *owner = s_signup ("acme", "owner@acme.example");
    const char *owner_id = s_get (owner, "user", "id");
    json_t *login;
    cr_assert_eq (s_login ("owner@acme.example", PASSWORD, &login), 200);
    const char *token = s_get (login, "access_token", NULL);
    cr_assert_eq (s_login ("owner@acme.example", "not the password", NULL), 401);

    //  People: an invitation, the invited user's password set by the link,
    //  a role change, the owner's own password, a removal.
    json_t *invited;
    cr_assert_eq (s_call ("POST", "/api/v1/users", token,
                          "{\"email\": \"ann@acme.example\", \"role\": \"viewer\"}", &invited),
                  201);
    const char *ann = s_get (invited, "id", NULL);
    char body [600], path [200];
    snprintf (body, sizeof body, "{\"token\": \"%s\", \"password\": \"%s\"}",
              s_get (invited, "password_link", "token"), PASSWORD);
    cr_assert_eq (s_call ("POST", "/api/v1/password", NULL, body, NULL), 204);
    snprintf (path, sizeof path, "/api/v1/users/%s", ann);
    cr_assert_eq (s_call ("PATCH", path, token, "{\"role\": \"admin\"}", NULL), 200);
    cr_assert_eq (s_call ("POST", "/api/v1/me/password", token,
                          "{\"current_password\": \"" PASSWORD "\","
                          " \"password\": \"a new horse battery\"}", NULL), 204);

    //  An API token, which then acts itself, and is revoked.
    json_t *made;
    cr_assert_eq (s_call ("POST", "/api/v1/tokens", token,
                          "{\"name\": \"ci\", \"role\": \"admin\"}", &made), 201);
    const char *token_id = s_get (made, "token", "id");
    json_t *suppression;
    cr_assert_eq (s_call ("POST", "/api/v1/suppressions", s_get (made, "secret", NULL),
                          "{\"pattern\": \"aws_instance.web\", \"reason\": \"rebuilt nightly\"}",
                          &suppression), 201);
    snprintf (path, sizeof path, "/api/v1/suppressions/%s", s_get (suppression, "id", NULL));
    cr_assert_eq (s_call ("DELETE", path, token, NULL, NULL), 204);
    snprintf (path, sizeof path, "/api/v1/tokens/%s", token_id);
    cr_assert_eq (s_call ("DELETE", path, token, NULL, NULL), 204);

    //  A channel, whose URL path and signing secret are credentials.
    json_t *channel;
    cr_assert_eq (s_call ("POST", "/api/v1/channels", token,
                          "{\"name\": \"ops\", \"kind\": \"webhook\", \"settings\":"
                          " {\"url\": \"http://127.0.0.1:9/hook-path-credential\"}}", &channel),
                  201);
    const char *signing = s_get (channel, "secret", NULL);
    cr_assert (signing && *signing);
    snprintf (path, sizeof path, "/api/v1/channels/%s", s_get (channel, "id", NULL));
    cr_assert_eq (s_call ("DELETE", path, token, NULL, NULL), 204);

    //  An agent's key, issued and revoked over the API.
    json_t *agent;
    cr_assert_eq (s_call ("POST", "/api/v1/agents", token, "{\"name\": \"web\"}", &agent), 201);
    const char *agent_id = s_get (agent, "agent", "id");
    snprintf (path, sizeof path, "/api/v1/agents/%s", agent_id);
    cr_assert_eq (s_call ("DELETE", path, token, NULL, NULL), 204);

    snprintf (path, sizeof path, "/api/v1/users/%s", ann);
    cr_assert_eq (s_call ("DELETE", path, token, NULL, NULL), 204);

    char token_actor [64];
    snprintf (token_actor, sizeof token_actor, "token:%s", token_id);
    json_t *items = s_log (token, "");
    s_expect (items, "login.success", owner_id, owner_id);
    s_expect (items, "login.failure", "anonymous", "owner@acme.example");
    cr_assert_str_eq (s_get (s_entry (items, "login.failure"), "detail", "reason"), "password");
    s_expect (items, "user.invite", owner_id, ann);
    s_expect (items, "password.set", ann, ann);
    s_expect (items, "user.change", owner_id, ann);
    cr_assert_str_eq (s_get (s_entry (items, "user.change"), "detail", "role"), "admin");
    s_expect (items, "password.change", owner_id, owner_id);
    s_expect (items, "token.create", owner_id, token_id);
    s_expect (items, "suppression.create", token_actor, s_get (suppression, "id", NULL));
    cr_assert_str_eq (s_get (s_entry (items, "suppression.create"), "actor_label", NULL),
                      "ci (API token)");
    s_expect (items, "suppression.delete", owner_id, s_get (suppression, "id", NULL));
    s_expect (items, "token.revoke", owner_id, token_id);
    s_expect (items, "channel.create", owner_id, s_get (channel, "id", NULL));
    s_expect (items, "channel.delete", owner_id, s_get (channel, "id", NULL));
    s_expect (items, "agent_key.issue", owner_id, agent_id);
    s_expect (items, "agent_key.revoke", owner_id, agent_id);
    s_expect (items, "user.remove", owner_id, ann);
    cr_assert_str_eq (s_get (s_entry (items, "user.remove"), "detail", "email"),
                      "ann@acme.example");

    //  No secret in any entry: not the webhook's URL path, its signing
    //  secret, the API token, a password or the agent's certificate.
    char *dump = json_dumps (items, 0);
    cr_assert_null (strstr (dump, "hook-path-credential"));
    cr_assert_null (strstr (dump, signing));
    cr_assert_null (strstr (dump, s_get (made, "secret", NULL)));
    cr_assert_null (strstr (dump, PASSWORD));
    cr_assert_null (strstr (dump, "secret-key"));
    free (dump);

    //  Logout is the last word of a session.
    cr_assert_eq (s_call ("POST", "/api/v1/logout", token, NULL, NULL), 204);
    json_t *again;
    cr_assert_eq (s_login ("owner@acme.example", "a new horse battery", &again), 200);
    json_decref (items);
    items = s_log (s_get (again, "access_token", NULL), "action=logout");
    s_expect (items, "logout", owner_id, owner_id);
    json_decref (items);
    json_decref (again);
    json_decref (agent);
    json_decref (channel);
    json_decref (suppression);
    json_decref (made);
    json_decref (invited);
    json_decref (login);
    json_decref (owner);
}

//  --------------------------------------------------------------------------
//  Failed logins

Test (audit, failed_logins_are_recorded_without_telling_who_exists, .init = s_start,
      .fini = s_stop)
{
    json_t *owner = s_signup ("acme", "owner@acme.example");
    char *known = NULL, *unknown = NULL;
    cr_assert_eq (s_request ("POST", "/api/v1/login", NULL, "{\"email\": \"owner@acme.example\","
                             " \"password\": \"not the password\"}", NULL, &known), 401);
    cr_assert_eq (s_request ("POST", "/api/v1/login", NULL, "{\"email\": \"nobody@acme.example\","
                             " \"password\": \"not the password\"}", NULL, &unknown), 401);
    cr_assert_str_eq (known, unknown, "the answers tell a known address from an unknown one");
    free (known);
    free (unknown);

    //  The tenant sees the attempt on its account, not the other one.
    json_t *items = s_log (s_get (owner, "access_token", NULL), "action=login.failure");
    cr_assert_eq (json_array_size (items), 1);
    s_expect (items, "login.failure", "anonymous", "owner@acme.example");
    json_decref (items);
    //  The unknown address is the operator's to see: no tenant's.
    cr_assert_eq (tu_query_long (s_url, "SELECT count (*) FROM audit_log"
                                        " WHERE tenant_id IS NULL AND action = 'login.failure'"
                                        " AND target = 'nobody@acme.example'"
                                        " AND detail ->> 'reason' = 'unknown'"), 1);
    json_decref (owner);
}

//  --------------------------------------------------------------------------
//  Who may read it

Test (audit, a_viewer_is_refused_and_a_tenant_sees_only_its_own, .init = s_start,
      .fini = s_stop)
{
    json_t *a = s_signup ("acme", "owner@acme.example");
    json_t *b = s_signup ("globex", "owner@globex.example");
    const char *token_a = s_get (a, "access_token", NULL);
    cr_assert_eq (s_call ("POST", "/api/v1/users", token_a,
                          "{\"email\": \"vic@acme.example\", \"role\": \"viewer\","
                          " \"password\": \"" PASSWORD "\"}", NULL), 201);
    json_t *viewer;
    cr_assert_eq (s_login ("vic@acme.example", PASSWORD, &viewer), 200);
    json_t *refused;
    cr_assert_eq (s_call ("GET", "/api/v1/audit", s_get (viewer, "access_token", NULL), NULL,
                          &refused), 403);
    cr_assert (json_object_get (refused, "error"));
    cr_assert_eq (s_call ("GET", "/api/v1/audit", NULL, NULL, NULL), 401);

    //  acme's entries (the user made, the viewer's login) are not globex's.
    json_t *items_a = s_log (token_a, "");
    cr_assert_geq (json_array_size (items_a), 2);
    json_t *items_b = s_log (s_get (b, "access_token", NULL), "");
    size_t index;
    json_t *item;
    json_array_foreach (items_b, index, item)
        cr_assert_str_neq (s_get (item, "target", NULL), "vic@acme.example");
    cr_assert_null (s_entry (items_b, "user.create"));
    cr_assert_null (s_entry (items_b, "login.success"));
    json_decref (items_a);
    json_decref (items_b);
    json_decref (refused);
    json_decref (viewer);
    json_decref (a);
    json_decref (b);
}

//  --------------------------------------------------------------------------
//  Pages and filters

Test (audit, pages_newest_first_by_cursor_with_filters_and_csv, .init = s_start, .fini = s_stop)
{
    json_t *owner = s_signup ("acme", "owner@acme.example");
    const char *token = s_get (owner, "access_token", NULL);
    for (int i = 0; i < 5; i++) {
        char body [160];
        snprintf (body, sizeof body, "{\"pattern\": \"aws_instance.web%d\", \"reason\": \"r\"}", i);
        cr_assert_eq (s_call ("POST", "/api/v1/suppressions", token, body, NULL), 201);
    }
    json_t *all = s_log (token, "action=suppression");
    cr_assert_eq (json_array_size (all), 5);

    //  Pages of 2 by cursor: 2, 2, 1, newest first, the same 5 entries.
    char path [200] = "/api/v1/audit?action=suppression.create&limit=2";
    long seen = 0, last = 0;
    for (int page = 0; page < 3; page++) {
        json_t *reply;
        cr_assert_eq (s_call ("GET", path, token, NULL, &reply), 200, "GET %s", path);
        json_t *items = json_object_get (reply, "items");
        cr_assert_eq (json_array_size (items), page < 2 ? 2u : 1u);
        size_t index;
        json_t *item;
        json_array_foreach (items, index, item) {
            long id = (long) json_integer_value (json_object_get (item, "id"));
            cr_assert_eq (id, (long) json_integer_value (json_object_get (
                                  json_array_get (all, (size_t) seen), "id")));
            cr_assert (last == 0 || id < last, "not newest first");
            last = id;
            seen++;
        }
        json_t *next = json_object_get (reply, "next_before");
        cr_assert (page < 2 ? json_is_integer (next) : json_is_null (next));
        if (page < 2)
            snprintf (path, sizeof path, "/api/v1/audit?action=suppression.create&limit=2"
                      "&before=%lld", (long long) json_integer_value (next));
        json_decref (reply);
    }
    cr_assert_eq (seen, 5);

    //  Filters: an exact action, an actor by id or email, since.
    json_t *items = s_log (token, "action=suppression.delete");
    cr_assert_eq (json_array_size (items), 0);
    json_decref (items);
    char query [200];
    snprintf (query, sizeof query, "actor=%s", s_get (owner, "user", "id"));
    items = s_log (token, query);
    cr_assert_eq (json_array_size (items), 5);
    json_decref (items);
    items = s_log (token, "actor=owner@acme.example");
    cr_assert_eq (json_array_size (items), 5);
    json_decref (items);
    items = s_log (token, "actor=someone@acme.example");
    cr_assert_eq (json_array_size (items), 0);
    json_decref (items);
    items = s_log (token, "since=2999-01-01T00:00:00Z");
    cr_assert_eq (json_array_size (items), 0);
    json_decref (items);
    items = s_log (token, "since=2020-01-01T00:00:00Z&action=suppression");
    cr_assert_eq (json_array_size (items), 5);
    json_decref (items);

    //  Bad parameters are 400 naming the parameter.
    static const char *const bad [][2] = {
        { "limit=501", "limit" }, { "limit=0", "limit" }, { "before=abc", "before" },
        { "before=-1", "before" }, { "since=yesterday", "since" }, { "action=", "action" },
        { "format=xml", "format" }
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad [0]; i++) {
        snprintf (path, sizeof path, "/api/v1/audit?%s", bad [i][0]);
        json_t *reply;
        cr_assert_eq (s_call ("GET", path, token, NULL, &reply), 400, "GET %s", path);
        cr_assert_str_eq (s_get (json_object_get (reply, "error"), "field", NULL), bad [i][1],
                          "GET %s", path);
        json_decref (reply);
    }

    //  The same page as CSV: a header and one record per entry.
    char *csv = NULL;
    cr_assert_eq (s_request ("GET", "/api/v1/audit?action=suppression&format=csv", token, NULL,
                             NULL, &csv), 200);
    cr_assert (strncmp (csv, "id,at,actor,actor_label,action,target,source,detail\r\n", 52) == 0,
               "%s", csv);
    int records = 0;
    for (const char *line = csv; (line = strstr (line, "\r\n")); line += 2)
        records++;
    cr_assert_eq (records, 6, "%s", csv);
    cr_assert (strstr (csv, "suppression.create"));
    free (csv);
    json_decref (all);
    json_decref (owner);
}

//  --------------------------------------------------------------------------
//  A change and its entry are one

Test (audit, a_change_whose_entry_cannot_be_written_does_not_commit, .init = s_start,
      .fini = s_stop)
{
    json_t *owner = s_signup ("acme", "owner@acme.example");
    const char *token = s_get (owner, "access_token", NULL);
    //  The database refuses drift_app's entries (as a full disk or a bad
    //  grant would): the change must go with them.
    PGconn *conn = PQconnectdb (s_url);
    cr_assert_eq (PQstatus (conn), CONNECTION_OK);
    PGresult *result = PQexec (conn, "REVOKE INSERT ON audit_log FROM drift_app");
    cr_assert_eq (PQresultStatus (result), PGRES_COMMAND_OK);
    PQclear (result);
    json_t *reply;
    cr_assert_eq (s_call ("POST", "/api/v1/suppressions", token,
                          "{\"pattern\": \"aws_instance.web\", \"reason\": \"r\"}", &reply), 500);
    cr_assert (json_object_get (reply, "error"));
    json_decref (reply);
    cr_assert_eq (tu_query_long (s_url, "SELECT count (*) FROM suppressions"), 0);

    //  With the grant back, the same request commits, with its entry.
    result = PQexec (conn, "GRANT INSERT ON audit_log TO drift_app");
    cr_assert_eq (PQresultStatus (result), PGRES_COMMAND_OK);
    PQclear (result);
    PQfinish (conn);
    cr_assert_eq (s_call ("POST", "/api/v1/suppressions", token,
                          "{\"pattern\": \"aws_instance.web\", \"reason\": \"r\"}", NULL), 201);
    cr_assert_eq (tu_query_long (s_url, "SELECT count (*) FROM suppressions"), 1);
    cr_assert_eq (tu_query_long (s_url, "SELECT count (*) FROM audit_log"
                                        " WHERE action = 'suppression.create'"), 1);
    json_decref (owner);
}

//  --------------------------------------------------------------------------
//  Append-only, one tenant at a time, as drift_app

//  Run sql on conn: its status, and row 0's first column into value (if
//  not NULL, up to size bytes; "" when none).
static ExecStatusType
s_sql (PGconn *conn, const char *sql, char *value, size_t size)
{
    PGresult *result = PQexec (conn, sql);
    ExecStatusType status = PQresultStatus (result);
    if (value)
        snprintf (value, size, "%s", status == PGRES_TUPLES_OK && PQntuples (result) > 0
                                     ? PQgetvalue (result, 0, 0) : "");
    PQclear (result);
    return status;
}

//  As drift_app: tenant set, an actor named, in a transaction left open.
static void
s_as (PGconn *conn, const char *tenant)
{
    char sql [300];
    cr_assert_eq (s_sql (conn, "BEGIN", NULL, 0), PGRES_COMMAND_OK);
    snprintf (sql, sizeof sql, "SELECT drift_set_tenant ('%s'),"
              " set_config ('drift.actor', 'cli:test', true)", tenant);
    cr_assert_eq (s_sql (conn, sql, NULL, 0), PGRES_TUPLES_OK, "%s", PQerrorMessage (conn));
}

Test (audit, the_log_is_append_only_and_per_tenant_for_drift_app)
{
    s_url = tu_fresh_database ();
    cr_assert_gt (migrations_apply (s_url), 0);
    s_app_url = tu_app_url (s_url);
    char acme [37], globex [37], key [41], value [64];
    tu_tenant_agent (s_url, "acme", acme, key);
    tu_tenant_agent (s_url, "globex", globex, key);
    PGconn *app = PQconnectdb (s_app_url);
    cr_assert_eq (PQstatus (app), CONNECTION_OK);

    //  drift_audit adds an entry to the tenant set, by the actor set.
    s_as (app, acme);
    cr_assert_eq (s_sql (app, "SELECT drift_audit ('suppression.create', 'x',"
                              " '{\"pattern\": \"a\"}')", value, sizeof value), PGRES_TUPLES_OK,
                  "%s", PQerrorMessage (app));
    cr_assert_eq (s_sql (app, "COMMIT", NULL, 0), PGRES_COMMAND_OK);
    cr_assert_eq (tu_query_long (s_url, "SELECT count (*) FROM audit_log WHERE actor = 'cli:test'"
                                        " AND tenant_id IS NOT NULL"), 1);

    //  Neither changed nor removed, not even one's own tenant's.
    static const char *const refused [] = {
        "UPDATE audit_log SET action = 'nothing.happened'",
        "UPDATE audit_log SET detail = '{}' WHERE id > 0",
        "DELETE FROM audit_log",
        "TRUNCATE audit_log"
    };
    for (size_t i = 0; i < sizeof refused / sizeof refused [0]; i++) {
        s_as (app, acme);
        cr_assert_eq (s_sql (app, refused [i], NULL, 0), PGRES_FATAL_ERROR, "%s", refused [i]);
        cr_assert (strstr (PQerrorMessage (app), "permission denied"), "%s: %s", refused [i],
                   PQerrorMessage (app));
        s_sql (app, "ROLLBACK", NULL, 0);
    }
    cr_assert_eq (tu_query_long (s_url, "SELECT count (*) FROM audit_log"
                                        " WHERE action = 'suppression.create'"), 1);

    //  Another tenant sees none of it, and cannot write into it.
    s_as (app, globex);
    cr_assert_eq (s_sql (app, "SELECT count (*) FROM audit_log", value, sizeof value),
                  PGRES_TUPLES_OK);
    cr_assert_str_eq (value, "0");
    char sql [300];
    snprintf (sql, sizeof sql, "SELECT drift_audit ('channel.delete', 'x', '{}', '%s')", acme);
    cr_assert_eq (s_sql (app, sql, NULL, 0), PGRES_FATAL_ERROR);
    cr_assert (strstr (PQerrorMessage (app), "row-level security"), "%s", PQerrorMessage (app));
    s_sql (app, "ROLLBACK", NULL, 0);
    s_as (app, globex);
    snprintf (sql, sizeof sql, "INSERT INTO audit_log (tenant_id, actor, action)"
              " VALUES ('%s', 'cli:test', 'channel.delete')", acme);
    cr_assert_eq (s_sql (app, sql, NULL, 0), PGRES_FATAL_ERROR);
    s_sql (app, "ROLLBACK", NULL, 0);

    //  An entry must say who: no actor, no entry (and no change with it).
    cr_assert_eq (s_sql (app, "BEGIN", NULL, 0), PGRES_COMMAND_OK);
    snprintf (sql, sizeof sql, "SELECT drift_set_tenant ('%s')", acme);
    cr_assert_eq (s_sql (app, sql, NULL, 0), PGRES_TUPLES_OK);
    cr_assert_eq (s_sql (app, "SELECT drift_audit ('channel.delete', 'x')", NULL, 0),
                  PGRES_FATAL_ERROR);
    cr_assert (strstr (PQerrorMessage (app), "no actor"), "%s", PQerrorMessage (app));
    s_sql (app, "ROLLBACK", NULL, 0);
    //  Without a tenant set, drift_app sees no entry at all.
    cr_assert_eq (s_sql (app, "SELECT count (*) FROM audit_log", value, sizeof value),
                  PGRES_TUPLES_OK);
    cr_assert_str_eq (value, "0", "drift_app without a tenant sees entries");
    PQfinish (app);
    free (s_app_url);
    s_app_url = NULL;
    tu_drop_database (s_url);
    s_url = NULL;
}

//  --------------------------------------------------------------------------
//  drift keys and drift token

Test (audit, drift_commands_are_recorded_as_the_os_user)
{
    ku_env_t env;
    ku_setup (&env, "audit-keys");
    char key [41];
    ku_issue (&env, "acme", "web", key);
    cr_assert_eq (ku_drift (&env, "keys", "renew", "--tenant", "acme", "--name", "web",
                            "--out", "/dev/null/x", "--keys-dir", env.keys,
                            "--database", env.url), 1, "%s", env.output);
    char out [160];
    snprintf (out, sizeof out, "%s/web-renewed.cert", env.dir);
    cr_assert_eq (ku_drift (&env, "keys", "renew", "--tenant", "acme", "--name", "web",
                            "--out", out, "--keys-dir", env.keys, "--database", env.url),
                  0, "%s", env.output);
    cr_assert_eq (ku_drift (&env, "keys", "revoke", "--tenant", "acme", "--name", "web",
                            "--database", env.url, "--redis", env.redis), 0, "%s", env.output);

    char sql [400];
    static const char *const actions [] = {
        "agent_key.issue", "agent_cert.issue", "agent_cert.renew", "agent_key.revoke"
    };
    for (size_t i = 0; i < 4; i++) {
        snprintf (sql, sizeof sql, "SELECT count (*) FROM audit_log l JOIN tenants t"
                  " ON t.id = l.tenant_id JOIN agents a ON a.id::text = l.target"
                  " WHERE t.name = 'acme' AND a.name = 'web' AND l.action = '%s'"
                  " AND l.actor LIKE 'cli:_%%' AND l.source = 'local'"
                  " AND l.detail ->> 'public_key' = '%s'", actions [i], key);
        cr_assert_eq (tu_query_long (env.url, sql), 1, "%s", actions [i]);
    }
    //  A renewal that failed (its files could not be written) left no entry.
    cr_assert_eq (tu_query_long (env.url, "SELECT count (*) FROM audit_log"
                                          " WHERE action = 'agent_cert.renew'"), 1);

    //  drift token: made and revoked, by name, the token's id as target.
    cr_assert_eq (ku_drift (&env, "token", "create", "acme", "nightly", "--role", "viewer",
                            "--database", env.url), 0, "%s", env.output);
    cr_assert_eq (ku_drift (&env, "token", "revoke", "acme", "nightly", "--database", env.url),
                  0, "%s", env.output);
    for (size_t i = 0; i < 2; i++) {
        snprintf (sql, sizeof sql, "SELECT count (*) FROM audit_log l JOIN api_tokens k"
                  " ON k.id::text = l.target AND k.tenant_id = l.tenant_id"
                  " WHERE k.name = 'nightly' AND l.action = '%s' AND l.actor LIKE 'cli:_%%'"
                  " AND l.detail ->> 'name' = 'nightly'", i ? "token.revoke" : "token.create");
        cr_assert_eq (tu_query_long (env.url, sql), 1, "token entry %zu", i);
    }
    ku_teardown (&env);
}
