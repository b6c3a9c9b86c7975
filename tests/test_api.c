/*  api: the HTTP side of `drift api` over real HTTP (libcurl) against a
    `drift api` process this test starts on a free port, with a fresh
    migrated database it reaches as a drift_app login (row-level security
    applies, as in production), a JWT secret file made here and the test
    Redis.

    What is shown: the account round trip (signup, me, login, refresh,
    logout), the signup policies, every kind of bad access token refused,
    tenants isolated (another tenant's user is 404), roles enforced (a
    viewer is 403 on an owner's route, the last owner cannot step down),
    the login rate limit (429 with Retry-After, even for the right
    password; per client address behind a trusted proxy), refresh token
    reuse revoking the session, every bad input
    answered with its status and a JSON error, /healthz and /readyz, and
    the static files (index.html, client-side routes, no traversal, no
    dotfiles). People and machines (issue 21): invitations and their
    one-time set-password links (forged, spent, replaced, expired, guessed
    into 429, mailed through an email channel), removal and the last owner,
    a user's own password and sessions, API tokens (roles, revocation,
    expiry, forgery, another tenant's, guessing into 429, bounded by their
    maker) and `drift token`. The audit log (issue 19): the entries each
    change leaves, failed logins, who may read it, its pages and filters,
    and a change that cannot be recorded rolled back.
*/
#define _GNU_SOURCE
#include "testutil.h"
#include "../api/jwt.h"
#include "../lib/kv.h"
#include "../lib/migrations.h"

#include <criterion/criterion.h>
#include <curl/curl.h>
#include <libpq-fe.h>
#include <jansson.h>
#include <sodium.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <time.h>
#include <unistd.h>

#define PASSWORD "correct horse battery"

static char *s_url;             // this test's database, as the owner
static char *s_app_url;         // ... as a drift_app login
static char s_dir [256];        // scratch: secret file, static files, log
static char s_secret_path [300];// the JWT secret file
static uint8_t s_secret [32];   // its content
static pid_t s_pid;             // the drift api process
static int s_port;              // its port
static const char *s_proxies = "";   // --trusted-proxies of the next start
static const char *s_extra [7];      // more arguments of the next start (NULL-ended)
static const char *s_allow = NULL;   // --egress-allow-hosts of the next start (NULL: none)

//  --------------------------------------------------------------------------
//  The server

static void
s_write (const char *name, const char *content, mode_t mode)
{
    char path [400];
    snprintf (path, sizeof path, "%s/%s", s_dir, name);
    FILE *file = fopen (path, "w");
    cr_assert (file, "cannot write %s", path);
    fputs (content, file);
    fclose (file);
    chmod (path, mode);
}

//  One HTTP exchange: the status, the body parsed as JSON into *reply (if
//  not NULL; NULL when not JSON), the raw body into *raw, Retry-After into
//  *retry_after.
typedef struct {
    const char *method;         // GET, POST, PATCH, ...
    const char *path;           // /api/v1/...
    const char *token;          // bearer token or NULL
    const char *type;           // Content-Type, NULL for application/json, "" for none
    const char *body;           // or NULL
    size_t body_size;           // 0: strlen (body)
    const char *forwarded_for;  // X-Forwarded-For, or NULL
} s_req_t;

static const char *s_host;      // Host of the requests that follow, NULL for curl's own

typedef struct {
    int status;                 // HTTP status
    json_t *json;               // the body as JSON, or NULL
    char *raw;                  // the body as text
    long retry_after;           // the Retry-After header, or -1
    char type [128];            // Content-Type
    char allow [64];            // Allow
    char csp [512];             // Content-Security-Policy
    bool nosniff;               // X-Content-Type-Options: nosniff
    char disposition [128];     // Content-Disposition
    char cache [64];            // Cache-Control
} s_res_t;

static size_t
s_collect (char *data, size_t size, size_t count, void *arg)
{
    char **raw = (char **) arg;
    size_t have = *raw ? strlen (*raw) : 0;
    *raw = (char *) realloc (*raw, have + size * count + 1);
    memcpy (*raw + have, data, size * count);
    (*raw) [have + size * count] = 0;
    return size * count;
}

static size_t
s_header (char *data, size_t size, size_t count, void *arg)
{
    s_res_t *res = (s_res_t *) arg;
    size_t length = size * count;
    if (length > 13 && strncasecmp (data, "Retry-After:", 12) == 0)
        res->retry_after = atol (data + 12);
    if (length > 14 && strncasecmp (data, "Content-Type:", 13) == 0)
        snprintf (res->type, sizeof res->type, "%.*s", (int) strcspn (data + 14, "\r\n"),
                  data + 14);
    if (length > 25 && strncasecmp (data, "Content-Security-Policy:", 24) == 0)
        snprintf (res->csp, sizeof res->csp, "%.*s", (int) strcspn (data + 25, "\r\n"),
                  data + 25);
    if (length > 23 && strncasecmp (data, "X-Content-Type-Options:", 23) == 0)
        res->nosniff = strncasecmp (data + 23, " nosniff", 8) == 0;
    if (length > 21 && strncasecmp (data, "Content-Disposition:", 20) == 0)
        snprintf (res->disposition, sizeof res->disposition, "%.*s",
                  (int) strcspn (data + 21, "\r\n"), data + 21);
    if (length > 15 && strncasecmp (data, "Cache-Control:", 14) == 0)
        snprintf (res->cache, sizeof res->cache, "%.*s", (int) strcspn (data + 15, "\r\n"),
                  data + 15);
    if (length > 7 && strncasecmp (data, "Allow:", 6) == 0)
        snprintf (res->allow, sizeof res->allow, "%.*s", (int) strcspn (data + 7, "\r\n"),
                  data + 7);
    return length;
}

static s_res_t
s_http (s_req_t req)
{
    s_res_t res = { .retry_after = -1 };
    CURL *curl = curl_easy_init ();
    char url [600], auth [2048];
    snprintf (url, sizeof url, "http://127.0.0.1:%d%s", s_port, req.path);
    struct curl_slist *headers = NULL;
    if (req.token) {
        snprintf (auth, sizeof auth, "Authorization: Bearer %s", req.token);
        headers = curl_slist_append (headers, auth);
    }
    if (req.body) {
        char type [160];
        snprintf (type, sizeof type, "Content-Type:%s%s", req.type && !*req.type ? "" : " ",
                  req.type ? req.type : "application/json");
        headers = curl_slist_append (headers, type);
        curl_easy_setopt (curl, CURLOPT_POSTFIELDS, req.body);
        curl_easy_setopt (curl, CURLOPT_POSTFIELDSIZE,
                          (long) (req.body_size ? req.body_size : strlen (req.body)));
    }
    if (req.forwarded_for) {
        char forwarded [128];
        snprintf (forwarded, sizeof forwarded, "X-Forwarded-For: %s", req.forwarded_for);
        headers = curl_slist_append (headers, forwarded);
    }
    if (s_host) {
        char host [300];
        snprintf (host, sizeof host, "Host: %s", s_host);
        headers = curl_slist_append (headers, host);
    }
    headers = curl_slist_append (headers, "Expect:");
    curl_easy_setopt (curl, CURLOPT_URL, url);
    curl_easy_setopt (curl, CURLOPT_PATH_AS_IS, 1L);
    curl_easy_setopt (curl, CURLOPT_CUSTOMREQUEST, req.method);
    curl_easy_setopt (curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt (curl, CURLOPT_WRITEFUNCTION, s_collect);
    curl_easy_setopt (curl, CURLOPT_WRITEDATA, &res.raw);
    curl_easy_setopt (curl, CURLOPT_HEADERFUNCTION, s_header);
    curl_easy_setopt (curl, CURLOPT_HEADERDATA, &res);
    curl_easy_setopt (curl, CURLOPT_TIMEOUT, 20L);
    CURLcode code = curl_easy_perform (curl);
    long status = 0;
    curl_easy_getinfo (curl, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all (headers);
    curl_easy_cleanup (curl);
    res.status = code == CURLE_OK ? (int) status : -1;
    if (res.raw)
        res.json = json_loads (res.raw, 0, NULL);
    return res;
}

static void
s_res_free (s_res_t *res)
{
    json_decref (res->json);
    free (res->raw);
    res->json = NULL;
    res->raw = NULL;
}

//  A JSON request's status, its reply kept in *reply if not NULL.
static int
s_call (const char *method, const char *path, const char *token, const char *body,
        json_t **reply)
{
    s_res_t res = s_http ((s_req_t) { .method = method, .path = path, .token = token,
                                      .body = body });
    if (reply) {
        *reply = res.json;
        res.json = NULL;
    }
    s_res_free (&res);
    return res.status;
}

//  The error code of an error reply.
static const char *
s_code (json_t *reply)
{
    return json_string_value (json_object_get (json_object_get (reply, "error"), "code"));
}

static void
s_start (const char *signup)
{
    snprintf (s_dir, sizeof s_dir, "%s/api-%d", getenv ("DRIFT_TEST_VAR_DIR")
              ? getenv ("DRIFT_TEST_VAR_DIR") : "/tmp", (int) getpid ());
    mkdir (s_dir, 0700);
    char path [400];
    snprintf (path, sizeof path, "%s/static", s_dir);
    mkdir (path, 0755);
    s_write ("static/index.html", "<!doctype html><title>drift</title>", 0644);
    s_write ("static/app.js", "console.log ('drift')", 0644);
    s_write ("static/.env", "SECRET=1", 0644);
    s_write ("outside.txt", "not for the web", 0644);
    cr_assert (sodium_init () >= 0);
    randombytes_buf (s_secret, sizeof s_secret);
    snprintf (s_secret_path, sizeof s_secret_path, "%s/jwt.secret", s_dir);
    FILE *file = fopen (s_secret_path, "w");
    cr_assert (file);
    fwrite (s_secret, 1, sizeof s_secret, file);
    fclose (file);
    chmod (s_secret_path, 0600);

    //  Earlier tests' signups from this address must not count here.
    kv_t *kv = kv_new (getenv ("DRIFT_TEST_REDIS_URL"), 1000);
    redisReply *deleted = kv ? kv_command (kv, "DEL drift:signup:address:127.0.0.1") : NULL;
    cr_assert (deleted, "Redis answers");
    freeReplyObject (deleted);
    kv_destroy (&kv);

    s_url = tu_fresh_database ();
    cr_assert_gt (migrations_apply (s_url), 0);
    s_app_url = tu_app_url (s_url);
    s_port = tu_free_port ();
    char listen [32], log_path [400];
    snprintf (listen, sizeof listen, "127.0.0.1:%d", s_port);
    snprintf (log_path, sizeof log_path, "%s/api.log", s_dir);
    const char *redis = getenv ("DRIFT_TEST_REDIS_URL");
    cr_assert (redis, "DRIFT_TEST_REDIS_URL is not set: run the tests through scripts/test");
    s_pid = tu_spawn (log_path, "api", "--listen", listen, "--database", s_app_url,
                      "--redis", redis, "--jwt-secret-file", s_secret_path,
                      "--signup", signup, "--static", path, "--threads", "3",
                      "--trusted-proxies", s_proxies, "--send-timeout-ms", "30000",
                      "--egress-allow-hosts", s_allow ? s_allow : "", s_extra [0], s_extra [1],
                      s_extra [2], s_extra [3], s_extra [4], s_extra [5], NULL);
    for (int i = 0; i < 200; i++) {
        if (s_call ("GET", "/healthz", NULL, NULL, NULL) == 200)
            return;
        usleep (50 * 1000);
    }
    cr_assert_fail ("drift api did not answer /healthz (see %s)", log_path);
}

static void
s_start_first (void)
{
    s_start ("first");
}

static void
s_start_open (void)
{
    s_start ("open");
}

static void
s_stop (void)
{
    if (s_pid > 0)
        tu_stop (s_pid, SIGTERM);
    s_pid = 0;
    free (s_app_url);
    if (s_url)
        tu_drop_database (s_url);
    s_url = NULL;
}

//  --------------------------------------------------------------------------
//  Accounts

//  Sign up tenant with email: the reply (asserted 201).
static json_t *
s_signup (const char *tenant, const char *email)
{
    char body [512];
    snprintf (body, sizeof body, "{\"tenant\": \"%s\", \"email\": \"%s\", \"password\": \"%s\"}",
              tenant, email, PASSWORD);
    json_t *reply;
    int status = s_call ("POST", "/api/v1/signup", NULL, body, &reply);
    cr_assert_eq (status, 201, "signup of %s: %d", tenant, status);
    return reply;
}

static const char *
s_str (json_t *object, const char *path)
{
    //  "a.b" walks objects.
    char key [64];
    const char *dot;
    while ((dot = strchr (path, '.'))) {
        snprintf (key, sizeof key, "%.*s", (int) (dot - path), path);
        object = json_object_get (object, key);
        path = dot + 1;
    }
    return json_string_value (json_object_get (object, path));
}

static int
s_login (const char *email, const char *password, json_t **reply)
{
    char body [512];
    snprintf (body, sizeof body, "{\"email\": \"%s\", \"password\": \"%s\"}", email, password);
    return s_call ("POST", "/api/v1/login", NULL, body, reply);
}

static int
s_refresh (const char *refresh_token, json_t **reply)
{
    char body [512];
    snprintf (body, sizeof body, "{\"refresh_token\": \"%s\"}", refresh_token);
    return s_call ("POST", "/api/v1/refresh", NULL, body, reply);
}

Test (api, signup_login_refresh_logout_round_trip, .init = s_start_first, .fini = s_stop)
{
    json_t *signup = s_signup ("acme", "Owner@Example.com");
    cr_assert_str_eq (s_str (signup, "user.role"), "owner");
    cr_assert_str_eq (s_str (signup, "user.email"), "owner@example.com");
    cr_assert_str_eq (s_str (signup, "tenant.name"), "acme");
    cr_assert_eq (json_integer_value (json_object_get (signup, "expires_in")), 900);

    json_t *me;
    cr_assert_eq (s_call ("GET", "/api/v1/me", s_str (signup, "access_token"), NULL, &me), 200);
    cr_assert_str_eq (s_str (me, "user.email"), "owner@example.com");
    cr_assert_str_eq (s_str (me, "tenant.id"), s_str (signup, "tenant.id"));
    json_decref (me);

    json_t *login;
    cr_assert_eq (s_login ("owner@example.com", PASSWORD, &login), 200);
    cr_assert_str_eq (s_str (login, "user.tenant.name"), "acme");
    cr_assert_str_eq (s_str (login, "user.role"), "owner");

    json_t *refreshed;
    cr_assert_eq (s_refresh (s_str (login, "refresh_token"), &refreshed), 200);
    cr_assert_str_neq (s_str (refreshed, "refresh_token"), s_str (login, "refresh_token"));
    const char *access = s_str (refreshed, "access_token");
    cr_assert_eq (s_call ("GET", "/api/v1/me", access, NULL, NULL), 200);
    //  A resource route (api/routes.c) behind the same server: an empty tenant.
    json_t *stacks;
    cr_assert_eq (s_call ("GET", "/api/v1/stacks", access, NULL, &stacks), 200);
    cr_assert_eq (json_array_size (json_object_get (stacks, "items")), 0);
    json_decref (stacks);

    //  Logout by refresh token ends that session: its access token too.
    char body [512];
    snprintf (body, sizeof body, "{\"refresh_token\": \"%s\"}",
              s_str (refreshed, "refresh_token"));
    cr_assert_eq (s_call ("POST", "/api/v1/logout", NULL, body, NULL), 204);
    cr_assert_eq (s_call ("GET", "/api/v1/me", access, NULL, NULL), 401);
    cr_assert_eq (s_refresh (s_str (refreshed, "refresh_token"), NULL), 401);

    //  Logout by access token alone ends the signup's session; others live.
    cr_assert_eq (s_call ("POST", "/api/v1/logout", s_str (signup, "access_token"), NULL,
                          NULL), 204);
    cr_assert_eq (s_call ("GET", "/api/v1/me", s_str (signup, "access_token"), NULL, NULL),
                  401);
    json_t *again;
    cr_assert_eq (s_login ("OWNER@example.com", PASSWORD, &again), 200);
    cr_assert_eq (s_call ("GET", "/api/v1/me", s_str (again, "access_token"), NULL, NULL),
                  200);
    json_decref (again);
    json_decref (refreshed);
    json_decref (login);
    json_decref (signup);
}

Test (api, signup_is_closed_after_the_first_tenant, .init = s_start_first, .fini = s_stop)
{
    json_decref (s_signup ("first", "first@example.com"));
    json_t *reply;
    cr_assert_eq (s_call ("POST", "/api/v1/signup", NULL,
                          "{\"tenant\": \"second\", \"email\": \"second@example.com\","
                          " \"password\": \"" PASSWORD "\"}", &reply), 403);
    cr_assert_str_eq (s_code (reply), "forbidden");
    json_decref (reply);
    cr_assert_eq (tu_query_long (s_url, "SELECT count (*) FROM tenants"), 1);
}

Test (api, signup_closed_refuses_everyone, .init = NULL, .fini = s_stop)
{
    s_start ("closed");
    json_t *reply;
    cr_assert_eq (s_call ("POST", "/api/v1/signup", NULL,
                          "{\"tenant\": \"acme\", \"email\": \"a@example.com\","
                          " \"password\": \"" PASSWORD "\"}", &reply), 403);
    cr_assert_str_eq (s_code (reply), "forbidden");
    json_decref (reply);
    cr_assert_eq (tu_query_long (s_url, "SELECT count (*) FROM tenants"), 0);
}

Test (api, signup_open_refuses_a_taken_name_or_email, .init = s_start_open, .fini = s_stop)
{
    json_decref (s_signup ("acme", "a@example.com"));
    json_decref (s_signup ("other", "b@example.com"));
    json_t *reply;
    cr_assert_eq (s_call ("POST", "/api/v1/signup", NULL,
                          "{\"tenant\": \"acme\", \"email\": \"c@example.com\","
                          " \"password\": \"" PASSWORD "\"}", &reply), 409);
    //  One answer for a name and an address in use: which it was would tell
    //  anyone whether the address has an account in another tenant.
    char *taken_name = json_dumps (reply, JSON_COMPACT);
    cr_assert_null (s_str (reply, "error.field"));
    json_decref (reply);
    cr_assert_eq (s_call ("POST", "/api/v1/signup", NULL,
                          "{\"tenant\": \"third\", \"email\": \"A@example.com\","
                          " \"password\": \"" PASSWORD "\"}", &reply), 409);
    char *taken_email = json_dumps (reply, JSON_COMPACT);
    cr_assert_str_eq (taken_email, taken_name);
    free (taken_name);
    free (taken_email);
    json_decref (reply);
}

//  --------------------------------------------------------------------------
//  Access tokens

//  A token of header and payload (JSON text) signed with secret.
static char *
s_token (const uint8_t *secret, size_t size, const char *header, const char *payload)
{
    char *head = jwt_base64url ((const uint8_t *) header, strlen (header));
    char *body = jwt_base64url ((const uint8_t *) payload, strlen (payload));
    char *input;
    cr_assert (asprintf (&input, "%s.%s", head, body) > 0);
    uint8_t mac [crypto_auth_hmacsha256_BYTES];
    crypto_auth_hmacsha256_state state;
    crypto_auth_hmacsha256_init (&state, secret, size);
    crypto_auth_hmacsha256_update (&state, (const uint8_t *) input, strlen (input));
    crypto_auth_hmacsha256_final (&state, mac);
    char *signature = jwt_base64url (mac, sizeof mac);
    char *token;
    cr_assert (asprintf (&token, "%s.%s", input, signature) > 0);
    free (head);
    free (body);
    free (input);
    free (signature);
    return token;
}

//  The claims of access_token's payload, with overrides (JSON object text)
//  merged in, as text.
static char *
s_claims (const char *access_token, const char *overrides)
{
    const char *first = strchr (access_token, '.');
    const char *second = strchr (first + 1, '.');
    size_t size;
    uint8_t *bytes = jwt_unbase64url (first + 1, (size_t) (second - first - 1), &size);
    json_t *claims = json_loadb ((const char *) bytes, size, 0, NULL);
    free (bytes);
    json_t *changes = json_loads (overrides, 0, NULL);
    cr_assert (claims && changes);
    json_object_update (claims, changes);
    char *text = json_dumps (claims, JSON_COMPACT);
    json_decref (claims);
    json_decref (changes);
    return text;
}

static int
s_me_with (const char *token)
{
    json_t *reply;
    int status = s_call ("GET", "/api/v1/me", token, NULL, &reply);
    if (status == 401)
        cr_assert_str_eq (s_code (reply), "unauthorized");
    json_decref (reply);
    return status;
}

#define HS256 "{\"alg\":\"HS256\",\"typ\":\"JWT\"}"

Test (api, bad_access_tokens_are_refused, .init = s_start_first, .fini = s_stop)
{
    json_t *signup = s_signup ("acme", "owner@example.com");
    const char *access = s_str (signup, "access_token");
    long now = (long) time (NULL);
    char overrides [256];

    //  The helper makes tokens the server accepts, so each refusal below is
    //  for the one thing changed.
    char *claims = s_claims (access, "{}");
    char *token = s_token (s_secret, sizeof s_secret, HS256, claims);
    cr_assert_eq (s_me_with (token), 200, "a well-made token is accepted");
    free (token);

    //  Tampered: one character of the payload changed.
    char *tampered = strdup (access);
    char *payload = strchr (tampered, '.') + 5;
    *payload = *payload == 'A' ? 'B' : 'A';
    cr_assert_eq (s_me_with (tampered), 401, "tampered");
    free (tampered);

    //  alg none (with and without a signature), HS512, no typ.
    token = s_token (s_secret, sizeof s_secret, "{\"alg\":\"none\",\"typ\":\"JWT\"}", claims);
    cr_assert_eq (s_me_with (token), 401, "alg none, signed");
    *(strrchr (token, '.') + 1) = 0;
    cr_assert_eq (s_me_with (token), 401, "alg none, unsigned");
    free (token);
    token = s_token (s_secret, sizeof s_secret, "{\"alg\":\"HS512\",\"typ\":\"JWT\"}", claims);
    cr_assert_eq (s_me_with (token), 401, "alg HS512");
    free (token);
    token = s_token (s_secret, sizeof s_secret, "{\"alg\":\"HS256\"}", claims);
    cr_assert_eq (s_me_with (token), 401, "no typ");
    free (token);

    //  Another secret.
    uint8_t other [32];
    randombytes_buf (other, sizeof other);
    token = s_token (other, sizeof other, HS256, claims);
    cr_assert_eq (s_me_with (token), 401, "another secret");
    free (token);
    free (claims);

    //  Claims: issuer, audience, expired, not yet valid, issued in the future.
    const char *cases [][2] = {
        { "{\"iss\": \"someone\"}", "wrong iss" },
        { "{\"aud\": \"other-api\"}", "wrong aud" },
        { NULL, "expired" }, { NULL, "nbf in the future" }, { NULL, "iat in the future" }
    };
    for (int i = 0; i < 5; i++) {
        const char *change = cases [i][0];
        if (i == 2)
            snprintf (overrides, sizeof overrides, "{\"iat\": %ld, \"nbf\": %ld, \"exp\": %ld}",
                      now - 1000, now - 1000, now - 100);
        if (i == 3)
            snprintf (overrides, sizeof overrides, "{\"nbf\": %ld, \"exp\": %ld}",
                      now + 600, now + 1200);
        if (i == 4)
            snprintf (overrides, sizeof overrides, "{\"iat\": %ld}", now + 600);
        claims = s_claims (access, change ? change : overrides);
        token = s_token (s_secret, sizeof s_secret, HS256, claims);
        cr_assert_eq (s_me_with (token), 401, "%s", cases [i][1]);
        free (token);
        free (claims);
    }
    //  Shapes: none, two parts, garbage, not Bearer.
    cr_assert_eq (s_me_with (NULL), 401);
    cr_assert_eq (s_me_with ("abc.def"), 401);
    cr_assert_eq (s_me_with ("a.b.c"), 401);
    cr_assert_eq (s_me_with (access), 200);
    json_decref (signup);
}

Test (api, a_tenant_never_sees_another_tenants_objects, .init = s_start_open, .fini = s_stop)
{
    json_t *a = s_signup ("tenant-a", "a@example.com");
    json_t *b = s_signup ("tenant-b", "b@example.com");
    char path [128];
    snprintf (path, sizeof path, "/api/v1/users/%s", s_str (b, "user.id"));
    json_t *reply;
    cr_assert_eq (s_call ("PATCH", path, s_str (a, "access_token"), "{\"role\": \"viewer\"}",
                          &reply), 404);
    cr_assert_str_eq (s_code (reply), "not_found");
    json_decref (reply);
    //  A's list holds A's user only.
    cr_assert_eq (s_call ("GET", "/api/v1/users", s_str (a, "access_token"), NULL, &reply), 200);
    cr_assert_eq (json_array_size (json_object_get (reply, "items")), 1);
    cr_assert_str_eq (s_str (json_array_get (json_object_get (reply, "items"), 0), "email"),
                      "a@example.com");
    json_decref (reply);
    //  A token claiming B's tenant for A's user and session: no such session there.
    char overrides [128];
    snprintf (overrides, sizeof overrides, "{\"tid\": \"%s\"}", s_str (b, "tenant.id"));
    char *claims = s_claims (s_str (a, "access_token"), overrides);
    char *token = s_token (s_secret, sizeof s_secret, HS256, claims);
    cr_assert_eq (s_me_with (token), 401);
    free (token);
    free (claims);
    //  B's user is untouched.
    cr_assert_eq (s_call ("GET", "/api/v1/me", s_str (b, "access_token"), NULL, &reply), 200);
    cr_assert_str_eq (s_str (reply, "user.role"), "owner");
    json_decref (reply);
    json_decref (a);
    json_decref (b);
}

Test (api, roles_are_enforced, .init = s_start_first, .fini = s_stop)
{
    json_t *owner = s_signup ("acme", "owner@example.com");
    const char *token = s_str (owner, "access_token");
    json_t *viewer;
    cr_assert_eq (s_call ("POST", "/api/v1/users", token,
                          "{\"email\": \"viewer@example.com\", \"password\": \"" PASSWORD "\","
                          " \"role\": \"viewer\"}", &viewer), 201);
    cr_assert_str_eq (s_str (viewer, "role"), "viewer");
    json_t *login;
    cr_assert_eq (s_login ("viewer@example.com", PASSWORD, &login), 200);
    json_t *reply;
    cr_assert_eq (s_call ("GET", "/api/v1/users", s_str (login, "access_token"), NULL, &reply),
                  403);
    cr_assert_str_eq (s_code (reply), "forbidden");
    json_decref (reply);
    cr_assert_eq (s_call ("GET", "/api/v1/me", s_str (login, "access_token"), NULL, NULL), 200);
    //  A viewer may read the commands but not ask an agent for a check
    //  (issue 19); the owner may, and a stack no agent reported is 404.
    cr_assert_eq (s_call ("POST", "/api/v1/stacks/payments/check", s_str (login, "access_token"),
                          NULL, &reply), 403);
    cr_assert_str_eq (s_code (reply), "forbidden");
    json_decref (reply);
    cr_assert_eq (s_call ("POST", "/api/v1/agents/00000000-0000-0000-0000-000000000001/check",
                          s_str (login, "access_token"), NULL, NULL), 403);
    cr_assert_eq (s_call ("GET", "/api/v1/commands", s_str (login, "access_token"), NULL, NULL),
                  200);
    cr_assert_eq (s_call ("POST", "/api/v1/stacks/payments/check", token, NULL, NULL), 404);
    //  Nor ask for, approve or reject a remediation plan, nor set
    //  four-eyes (issue 19): each refused before it is looked at.
    const char *const remediation [][2] = {
        { "POST", "/api/v1/stacks/payments/remediations" },
        { "POST", "/api/v1/commands/00000000-0000-0000-0000-000000000001/approve" },
        { "POST", "/api/v1/commands/00000000-0000-0000-0000-000000000001/reject" },
        { "PUT", "/api/v1/settings/remediation" }
    };
    for (size_t i = 0; i < sizeof remediation / sizeof remediation [0]; i++) {
        cr_assert_eq (s_call (remediation [i][0], remediation [i][1],
                              s_str (login, "access_token"), "{\"four_eyes\": false}", &reply),
                      403, "%s %s", remediation [i][0], remediation [i][1]);
        cr_assert_str_eq (s_code (reply), "forbidden");
        json_decref (reply);
    }
    cr_assert_eq (s_call ("GET", "/api/v1/settings/remediation", s_str (login, "access_token"),
                          NULL, &reply), 200);
    cr_assert (json_is_true (json_object_get (reply, "four_eyes")), "four-eyes is on by default");
    json_decref (reply);
    cr_assert_eq (s_call ("POST", "/api/v1/stacks/payments/remediations", token, "{}", NULL), 404);
    cr_assert_eq (s_call ("POST", "/api/v1/commands/00000000-0000-0000-0000-000000000001/approve",
                          token, NULL, NULL), 404);

    //  The last owner cannot step down; with a second owner they can.
    char path [128];
    snprintf (path, sizeof path, "/api/v1/users/%s", s_str (owner, "user.id"));
    cr_assert_eq (s_call ("PATCH", path, token, "{\"role\": \"admin\"}", &reply), 409);
    cr_assert_str_eq (s_code (reply), "conflict");
    json_decref (reply);
    cr_assert_eq (s_call ("PATCH", path, token, "{\"disabled\": true}", NULL), 409);

    //  Disabling the viewer ends their sessions at once.
    snprintf (path, sizeof path, "/api/v1/users/%s", s_str (viewer, "id"));
    cr_assert_eq (s_call ("PATCH", path, token, "{\"disabled\": true}", &reply), 200);
    cr_assert (json_is_true (json_object_get (reply, "disabled")));
    json_decref (reply);
    cr_assert_eq (s_call ("GET", "/api/v1/me", s_str (login, "access_token"), NULL, NULL), 401);
    cr_assert_eq (s_login ("viewer@example.com", PASSWORD, NULL), 401);
    json_decref (login);
    json_decref (viewer);
    json_decref (owner);
}

Test (api, login_rate_limit_engages, .init = s_start_first, .fini = s_stop)
{
    //  Earlier runs' failures from this address must not count here.
    kv_t *kv = kv_new (getenv ("DRIFT_TEST_REDIS_URL"), 1000);
    redisReply *reply = kv_command (kv, "DEL drift:login:address:127.0.0.1");
    cr_assert (reply, "Redis answers");
    freeReplyObject (reply);
    kv_destroy (&kv);

    char email [64];
    snprintf (email, sizeof email, "limit-%d@example.com", (int) getpid ());
    json_decref (s_signup ("acme", email));
    for (int i = 0; i < 5; i++)
        cr_assert_eq (s_login (email, "wrong password, surely", NULL), 401, "failure %d", i);
    char body [256];
    snprintf (body, sizeof body, "{\"email\": \"%s\", \"password\": \"%s\"}", email, PASSWORD);
    s_res_t res = s_http ((s_req_t) { .method = "POST", .path = "/api/v1/login",
                                      .body = body });
    cr_assert_eq (res.status, 429, "the right password during the lockout is refused");
    cr_assert_str_eq (s_code (res.json), "too_many_requests");
    cr_assert (res.retry_after > 0 && res.retry_after <= 900, "Retry-After %ld",
               res.retry_after);
    s_res_free (&res);
}

static void
s_start_behind_proxy (void)
{
    s_proxies = "10.9.9.9, 127.0.0.1";
    s_start ("first");
}

//  Behind a trusted proxy the limit per address counts the client the
//  proxy names, not the proxy.
Test (api, login_rate_limit_per_address_behind_a_proxy, .init = s_start_behind_proxy,
      .fini = s_stop)
{
    char client [32], other [32];
    snprintf (client, sizeof client, "10.%d.%d.1", getpid () % 250, (getpid () / 250) % 250);
    snprintf (other, sizeof other, "10.%d.%d.2", getpid () % 250, (getpid () / 250) % 250);
    json_decref (s_signup ("acme", "owner@example.com"));
    char body [256];
    for (int i = 0; i < 20; i++) {
        //  Different accounts, so only the address limit can engage.
        snprintf (body, sizeof body, "{\"email\": \"nobody-%d@example.com\","
                  " \"password\": \"wrong password, surely\"}", i);
        s_res_t res = s_http ((s_req_t) { .method = "POST", .path = "/api/v1/login",
                                          .body = body, .forwarded_for = client });
        cr_assert_eq (res.status, 401, "failure %d: %d", i, res.status);
        s_res_free (&res);
    }
    snprintf (body, sizeof body, "{\"email\": \"owner@example.com\", \"password\": \"%s\"}",
              PASSWORD);
    s_res_t res = s_http ((s_req_t) { .method = "POST", .path = "/api/v1/login", .body = body,
                                      .forwarded_for = client });
    cr_assert_eq (res.status, 429);
    cr_assert_gt (res.retry_after, 0);
    s_res_free (&res);
    //  Another client behind the same proxy is not held back.
    char spoofed [96];
    snprintf (spoofed, sizeof spoofed, "%s, %s", client, other);
    res = s_http ((s_req_t) { .method = "POST", .path = "/api/v1/login", .body = body,
                              .forwarded_for = spoofed });
    cr_assert_eq (res.status, 200, "the last entry is the client: %d", res.status);
    s_res_free (&res);
}

Test (api, refresh_token_reuse_revokes_the_session, .init = s_start_first, .fini = s_stop)
{
    json_t *signup = s_signup ("acme", "owner@example.com");
    const char *first = s_str (signup, "refresh_token");
    json_t *second;
    cr_assert_eq (s_refresh (first, &second), 200);
    //  The spent token again (a thief, or the owner after a thief): the
    //  session ends for both holders.
    cr_assert_eq (s_refresh (first, NULL), 401);
    cr_assert_eq (s_refresh (s_str (second, "refresh_token"), NULL), 401);
    cr_assert_eq (s_me_with (s_str (second, "access_token")), 401);
    cr_assert_eq (tu_query_long (s_url, "SELECT count (*) FROM sessions"
                                        " WHERE revoked_why = 'reuse'"), 1);
    //  A made-up token of the same session does not end anything.
    json_t *login;
    cr_assert_eq (s_login ("owner@example.com", PASSWORD, &login), 200);
    char forged [256];
    snprintf (forged, sizeof forged, "%.74sAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
              s_str (login, "refresh_token"));
    cr_assert_eq (s_refresh (forged, NULL), 401);
    cr_assert_eq (s_refresh (s_str (login, "refresh_token"), NULL), 200);
    json_decref (login);
    json_decref (second);
    json_decref (signup);
}

//  --------------------------------------------------------------------------
//  Bad input

static void
s_expect (s_req_t req, int status, const char *code, const char *field)
{
    s_res_t res = s_http (req);
    cr_assert_eq (res.status, status, "%s %s: %d (%s)", req.method, req.path, res.status,
                  res.raw ? res.raw : "");
    cr_assert (res.json, "%s %s: a JSON body", req.method, req.path);
    cr_assert_str_eq (res.type, "application/json");
    cr_assert_str_eq (s_code (res.json), code);
    if (field)
        cr_assert_str_eq (s_str (res.json, "error.field"), field);
    s_res_free (&res);
}

Test (api, bad_input_is_answered_with_json_errors, .init = s_start_first, .fini = s_stop)
{
    json_t *signup = s_signup ("acme", "owner@example.com");
    const char *token = s_str (signup, "access_token");
    size_t size = 70 * 1024;
    char *big = (char *) malloc (size + 1);
    memset (big, ' ', size);
    big [0] = '{';
    big [size - 1] = '}';
    big [size] = 0;
    s_expect ((s_req_t) { "POST", "/api/v1/login", NULL, NULL, big, 0, NULL }, 413,
              "payload_too_large", NULL);
    free (big);
    s_expect ((s_req_t) { "POST", "/api/v1/login", NULL, NULL, "{\"email\": ", 0, NULL }, 400,
              "bad_request", NULL);
    s_expect ((s_req_t) { "POST", "/api/v1/login", NULL, NULL, "[1, 2]", 0, NULL }, 400,
              "bad_request", NULL);
    s_expect ((s_req_t) { "POST", "/api/v1/login", NULL, NULL,
                          "{\"email\": 5, \"password\": \"x\"}", 0, NULL }, 400, "bad_request",
              "email");
    s_expect ((s_req_t) { "POST", "/api/v1/login", NULL, NULL,
                          "{\"email\": \"a@b.c\", \"password\": \"x\", \"admin\": true}", 0, NULL },
              400, "bad_request", "admin");
    //  Account fields: empty, with a NUL inside, or oversize.
    s_expect ((s_req_t) { "POST", "/api/v1/login", NULL, NULL,
                          "{\"email\": \"\", \"password\": \"x\"}", 0, NULL }, 400,
              "bad_request", "email");
    //  (A NUL inside a string does not even parse: the body is refused whole.)
    s_expect ((s_req_t) { "POST", "/api/v1/login", NULL, NULL,
                          "{\"email\": \"a@b.c\\u0000x\", \"password\": \"x\"}", 0, NULL },
              400, "bad_request", NULL);
    s_expect ((s_req_t) { "POST", "/api/v1/signup", NULL, NULL,
                          "{\"tenant\": \"\", \"email\": \"a@b.c\", \"password\": \""
                          PASSWORD "\"}", 0, NULL }, 400, "bad_request", "tenant");
    char *long_password = (char *) malloc (1100 + 64);
    snprintf (long_password, 1100 + 64, "{\"email\": \"a@b.c\", \"password\": \"%01100d\"}", 0);
    s_expect ((s_req_t) { "POST", "/api/v1/login", NULL, NULL, long_password, 0, NULL }, 400,
              "bad_request", "password");
    free (long_password);
    s_expect ((s_req_t) { "POST", "/api/v1/users", token, NULL,
                          "{\"email\": \"v@example.com\", \"password\": \"" PASSWORD "\","
                          " \"role\": \"root\"}", 0, NULL }, 400, "bad_request", "role");
    s_expect ((s_req_t) { "POST", "/api/v1/users", token, NULL,
                          "{\"email\": \"v@example.com\", \"password\": \"short\","
                          " \"role\": \"viewer\"}", 0, NULL }, 400, "bad_request", "password");
    s_expect ((s_req_t) { "POST", "/api/v1/login", NULL, "", "{\"email\": \"a@b.c\"}", 0, NULL },
              415, "unsupported_media_type", NULL);
    s_expect ((s_req_t) { "POST", "/api/v1/login", NULL, "text/plain",
                          "{\"email\": \"a@b.c\"}", 0, NULL }, 415, "unsupported_media_type", NULL);
    s_expect ((s_req_t) { "GET", "/api/v1/nothing-here", token, NULL, NULL, 0, NULL }, 404,
              "not_found", NULL);
    s_expect ((s_req_t) { "GET", "/api/v1/signup", NULL, NULL, NULL, 0, NULL }, 405,
              "method_not_allowed", NULL);
    s_expect ((s_req_t) { "DELETE", "/api/v1/users", token, NULL, NULL, 0, NULL }, 405,
              "method_not_allowed", NULL);
    s_res_t res = s_http ((s_req_t) { .method = "DELETE", .path = "/api/v1/users",
                                      .token = token });
    cr_assert (strstr (res.allow, "GET") && strstr (res.allow, "POST"), "Allow: %s", res.allow);
    s_res_free (&res);
    //  With the charset parameter, application/json is accepted.
    s_res_t ok = s_http ((s_req_t) { "POST", "/api/v1/login", NULL,
                                     "application/json; charset=utf-8",
                                     "{\"email\": \"owner@example.com\","
                                     " \"password\": \"" PASSWORD "\"}", 0, NULL });
    cr_assert_eq (ok.status, 200);
    s_res_free (&ok);
    json_decref (signup);
}

//  --------------------------------------------------------------------------
//  Operations and static files

Test (api, healthz_and_readyz, .init = s_start_first, .fini = s_stop)
{
    json_t *reply;
    cr_assert_eq (s_call ("GET", "/healthz", NULL, NULL, &reply), 200);
    cr_assert_str_eq (s_str (reply, "status"), "ok");
    json_decref (reply);
    cr_assert_eq (s_call ("GET", "/readyz", NULL, NULL, &reply), 200);
    json_decref (reply);
    //  A schema behind the binary is not ready.
    PGconn *conn = PQconnectdb (s_url);
    PQclear (PQexec (conn, "DELETE FROM drift_migrations WHERE name = (SELECT max (name)"
                           " FROM drift_migrations)"));
    PQfinish (conn);
    cr_assert_eq (s_call ("GET", "/readyz", NULL, NULL, &reply), 503);
    cr_assert_str_eq (s_code (reply), "unavailable");
    json_decref (reply);
}

Test (api, static_files_are_served_safely, .init = s_start_first, .fini = s_stop)
{
    s_res_t res = s_http ((s_req_t) { .method = "GET", .path = "/" });
    cr_assert_eq (res.status, 200);
    cr_assert (strstr (res.raw, "<title>drift</title>"));
    cr_assert_str_eq (res.type, "text/html; charset=utf-8");
    s_res_free (&res);
    res = s_http ((s_req_t) { .method = "GET", .path = "/app.js" });
    cr_assert_eq (res.status, 200);
    cr_assert_str_eq (res.raw, "console.log ('drift')");
    cr_assert_str_eq (res.type, "text/javascript; charset=utf-8");
    s_res_free (&res);
    //  A client-side route is the application.
    res = s_http ((s_req_t) { .method = "GET", .path = "/stacks/123/drift" });
    cr_assert_eq (res.status, 200);
    cr_assert (strstr (res.raw, "<title>drift</title>"));
    s_res_free (&res);
    //  Never a file outside the directory, never a dotfile.
    const char *refused [] = { "/../outside.txt", "/%2e%2e/outside.txt", "/a/../../outside.txt",
                               "/.env", "/%2eenv", "//etc/passwd" };
    for (size_t i = 0; i < sizeof refused / sizeof refused [0]; i++) {
        res = s_http ((s_req_t) { .method = "GET", .path = refused [i] });
        cr_assert_eq (res.status, 400, "%s: %d", refused [i], res.status);
        cr_assert (!strstr (res.raw, "not for the web") && !strstr (res.raw, "SECRET"));
        s_res_free (&res);
    }
    res = s_http ((s_req_t) { .method = "POST", .path = "/index.html", .body = "{}" });
    cr_assert_eq (res.status, 405);
    s_res_free (&res);
}

//  drift user add: an operator's first login for a tenant made on the
//  command line; the API accepts it like a signup's.
Test (api, an_account_added_by_drift_user_logs_in, .init = s_start_first, .fini = s_stop)
{
    char command [1200];
    snprintf (command, sizeof command, "%s tenant create cli-made --database '%s' >/dev/null",
              getenv ("DRIFT_BIN"), s_url);
    cr_assert_eq (system (command), 0);
    s_write ("password", PASSWORD "\n", 0600);
    s_write ("loose", PASSWORD "\n", 0644);
    snprintf (command, sizeof command, "%s user add cli-made Ops@Example.com --role admin "
              "--password-file %s/loose --database '%s' 2>/dev/null", getenv ("DRIFT_BIN"),
              s_dir, s_url);
    cr_assert_eq (WEXITSTATUS (system (command)), 1, "a password file others can read is refused");
    snprintf (command, sizeof command, "%s user add cli-made Ops@Example.com --role admin "
              "--password-file %s/password --database '%s' >/dev/null", getenv ("DRIFT_BIN"),
              s_dir, s_url);
    cr_assert_eq (system (command), 0);
    cr_assert_eq (WEXITSTATUS (system (command)), 1, "the email is taken now");
    json_t *reply = NULL;
    cr_assert_eq (s_login ("ops@example.com", PASSWORD, &reply), 200);
    json_t *user = json_object_get (reply, "user");
    cr_assert_str_eq (json_string_value (json_object_get (user, "role")), "admin");
    cr_assert_str_eq (json_string_value (json_object_get (json_object_get (user, "tenant"),
                                                          "name")), "cli-made");
    json_decref (reply);
    cr_assert_eq (s_login ("ops@example.com", "not the password at all", NULL), 401);
}

//  --------------------------------------------------------------------------
//  Cheap attacks (issue 16, item 7), each performed

#define METRICS_TOKEN "metrics-token-for-the-test-0123456789"

//  The server as s_start makes it, with --metrics-token-file (the scratch
//  directory is made first, to hold the token).
static void
s_start_with_token (const char *signup)
{
    snprintf (s_dir, sizeof s_dir, "%s/api-%d", getenv ("DRIFT_TEST_VAR_DIR")
              ? getenv ("DRIFT_TEST_VAR_DIR") : "/tmp", (int) getpid ());
    mkdir (s_dir, 0700);
    s_write ("metrics.token", METRICS_TOKEN "\n", 0600);
    static char path [400];
    snprintf (path, sizeof path, "%s/metrics.token", s_dir);
    s_extra [0] = "--metrics-token-file";
    s_extra [1] = path;
    s_start (signup);
}

static void
s_start_first_with_token (void)
{
    s_start_with_token ("first");
}

static void
s_start_open_with_token (void)
{
    s_start_with_token ("open");
}

//  drift_api_password_hashes_total from /metrics on the API port.
static long
s_hashes (void)
{
    s_res_t res = s_http ((s_req_t) { .method = "GET", .path = "/metrics",
                                      .token = METRICS_TOKEN });
    cr_assert_eq (res.status, 200, "/metrics with the token: %d", res.status);
    const char *line = strstr (res.raw, "\ndrift_api_password_hashes_total ");
    cr_assert (line, "no drift_api_password_hashes_total in /metrics");
    long hashes = atol (line + strlen ("\ndrift_api_password_hashes_total "));
    s_res_free (&res);
    return hashes;
}

Test (api, a_refused_signup_costs_no_argon2id, .init = s_start_first_with_token, .fini = s_stop)
{
    //  (The server hashes once at start: the dummy that unknown logins verify.)
    long start = s_hashes ();
    json_decref (s_signup ("first", "first@example.com"));
    cr_assert_eq (s_hashes (), start + 1);
    //  Signup is closed now (--signup first): each refusal before the hash,
    //  and past this address's ten signups a 429 before even the database.
    for (int i = 0; i < 12; i++) {
        char body [256];
        snprintf (body, sizeof body, "{\"tenant\": \"late-%d\", \"email\": \"late-%d@example.com\","
                  " \"password\": \"" PASSWORD "\"}", i, i);
        cr_assert_eq (s_call ("POST", "/api/v1/signup", NULL, body, NULL), i < 9 ? 403 : 429,
                      "signup %d", i);
    }
    cr_assert_eq (s_hashes (), start + 1, "no Argon2id work for a refused signup");
}

Test (api, a_signup_with_an_address_in_use_costs_no_argon2id, .init = s_start_open_with_token,
      .fini = s_stop)
{
    long start = s_hashes ();
    json_decref (s_signup ("acme", "owner@example.com"));
    cr_assert_eq (s_hashes (), start + 1);
    json_t *reply;
    cr_assert_eq (s_call ("POST", "/api/v1/signup", NULL,
                          "{\"tenant\": \"fresh\", \"email\": \"owner@example.com\","
                          " \"password\": \"" PASSWORD "\"}", &reply), 409);
    cr_assert_null (s_str (reply, "error.field"), "the answer does not say it was the address");
    json_decref (reply);
    cr_assert_eq (s_hashes (), start + 1);
    //  The dry run left nothing behind: the name is still free.
    json_decref (s_signup ("fresh", "fresh@example.com"));
}

static void
s_start_open_behind_proxy (void)
{
    s_proxies = "127.0.0.1";
    s_start ("open");
}

Test (api, signups_are_rate_limited_per_client, .init = s_start_open_behind_proxy,
      .fini = s_stop)
{
    char client [32], other [32];
    snprintf (client, sizeof client, "10.%d.%d.3", getpid () % 250, (getpid () / 250) % 250);
    snprintf (other, sizeof other, "10.%d.%d.4", getpid () % 250, (getpid () / 250) % 250);
    char body [256];
    for (int i = 0; i < 10; i++) {
        snprintf (body, sizeof body, "{\"tenant\": \"t-%d\", \"email\": \"o-%d@example.com\","
                  " \"password\": \"" PASSWORD "\"}", i, i);
        s_res_t res = s_http ((s_req_t) { .method = "POST", .path = "/api/v1/signup",
                                          .body = body, .forwarded_for = client });
        cr_assert_eq (res.status, 201, "signup %d: %d", i, res.status);
        s_res_free (&res);
    }
    snprintf (body, sizeof body, "{\"tenant\": \"t-10\", \"email\": \"o-10@example.com\","
              " \"password\": \"" PASSWORD "\"}");
    s_res_t res = s_http ((s_req_t) { .method = "POST", .path = "/api/v1/signup", .body = body,
                                      .forwarded_for = client });
    cr_assert_eq (res.status, 429, "the eleventh signup: %d", res.status);
    cr_assert_str_eq (s_code (res.json), "too_many_requests");
    cr_assert (res.retry_after > 0 && res.retry_after <= 900, "Retry-After %ld", res.retry_after);
    s_res_free (&res);
    res = s_http ((s_req_t) { .method = "POST", .path = "/api/v1/signup", .body = body,
                              .forwarded_for = other });
    cr_assert_eq (res.status, 201, "another client is not held back: %d", res.status);
    s_res_free (&res);
}

Test (api, every_answer_carries_the_security_headers, .init = s_start_first, .fini = s_stop)
{
    const char *paths [] = { "/healthz", "/api/v1/me", "/api/v1/nonesuch", "/", "/app.js",
                             "/stacks/client-side-route", "/metrics" };
    for (size_t i = 0; i < sizeof paths / sizeof paths [0]; i++) {
        s_res_t res = s_http ((s_req_t) { .method = "GET", .path = paths [i] });
        cr_assert_gt (res.status, 0, "%s answered", paths [i]);
        cr_assert (strstr (res.csp, "frame-ancestors 'none'"), "%s: CSP '%s'", paths [i],
                   res.csp);
        cr_assert (strstr (res.csp, "default-src 'self'"), "%s: CSP '%s'", paths [i], res.csp);
        cr_assert (res.nosniff, "%s: X-Content-Type-Options nosniff", paths [i]);
        s_res_free (&res);
    }
}

//  The CSV exports over HTTP (their content is api_resources' to check):
//  an attachment with the API's file name, never cached, quoted and
//  formula-guarded; errors stay JSON.
Test (api, exports_are_csv_attachments, .init = s_start_first, .fini = s_stop)
{
    json_t *signup = s_signup ("acme", "ops@acme.example");
    const char *token = s_str (signup, "access_token");
    //  One item whose address a spreadsheet would run, in a stack named with a comma.
    PGconn *conn = PQconnectdb (s_url);
    const char *params [] = { s_str (signup, "tenant.id") };
    PGresult *result = PQexecParams (conn,
        "WITH s AS (INSERT INTO stacks (tenant_id, name, engine)"
        "           VALUES ($1::uuid, 'web, eu', 'terraform') RETURNING tenant_id, id)"
        " INSERT INTO drift_items (tenant_id, stack_id, fingerprint, address, type, kind, class,"
        "                          severity, first_seen, last_seen, opened_by_report, last_report)"
        " SELECT tenant_id, id, 'f1', '=cmd|'' /C calc''!A0', 'aws_instance', 'modified', 'real',"
        "        4, now (), now (), 'r-1', 'r-1' FROM s", 1, NULL, params, NULL, NULL, 0);
    cr_assert_eq (PQresultStatus (result), PGRES_COMMAND_OK, "%s", PQerrorMessage (conn));
    PQclear (result);
    PQfinish (conn);

    time_t now = time (NULL);
    struct tm day;
    gmtime_r (&now, &day);
    char date [16], expected [96];
    strftime (date, sizeof date, "%Y-%m-%d", &day);
    s_res_t res = s_http ((s_req_t) { .method = "GET", .path = "/api/v1/drift?format=csv",
                                      .token = token });
    cr_assert_eq (res.status, 200, "%s", res.raw);
    cr_assert_str_eq (res.type, "text/csv; charset=utf-8");
    snprintf (expected, sizeof expected, "attachment; filename=\"drift-%s.csv\"", date);
    cr_assert_str_eq (res.disposition, expected);
    cr_assert_str_eq (res.cache, "no-store");
    cr_assert (res.nosniff);
    const char *row = strstr (res.raw, "\r\n");
    cr_assert (row, "%s", res.raw);
    cr_assert (strstr (row, ",\"web, eu\",f1,'=cmd|' /C calc'!A0,aws_instance,modified,real,"
                            "high,0,open,"), "%s", res.raw);
    s_res_free (&res);

    res = s_http ((s_req_t) { .method = "GET", .path = "/api/v1/history?format=csv&days=7",
                              .token = token });
    cr_assert_eq (res.status, 200);
    snprintf (expected, sizeof expected, "attachment; filename=\"history-%s.csv\"", date);
    cr_assert_str_eq (res.disposition, expected);
    size_t records = 0;
    for (const char *at = res.raw; (at = strstr (at, "\r\n")); at += 2)
        records++;
    cr_assert_eq (records, 8, "a header and 7 days");
    snprintf (expected, sizeof expected, "\r\n%s,1,0,0,1,0,0,0,0\r\n", date);
    cr_assert (strstr (res.raw, expected), "today: 1 opened, 1 high open: %s", res.raw);
    s_res_free (&res);

    //  Refusals are the usual JSON errors, not files.
    res = s_http ((s_req_t) { .method = "GET", .path = "/api/v1/drift?format=xlsx", .token = token });
    cr_assert_eq (res.status, 400);
    cr_assert_str_eq (res.type, "application/json");
    cr_assert_str_eq (res.disposition, "");
    cr_assert_str_eq (s_str (res.json, "error.field"), "format");
    s_res_free (&res);
    res = s_http ((s_req_t) { .method = "GET", .path = "/api/v1/drift?format=csv" });
    cr_assert_eq (res.status, 401);
    cr_assert_str_eq (res.disposition, "");
    s_res_free (&res);
    json_decref (signup);
}

//  A DNS-rebinding page: the browser sends its own name as Host.
Test (api, a_request_for_another_host_name_is_refused, .init = s_start_first, .fini = s_stop)
{
    char body [256];
    snprintf (body, sizeof body, "{\"tenant\": \"evil\", \"email\": \"evil@example.com\","
              " \"password\": \"" PASSWORD "\"}");
    s_host = "evil.example";
    s_res_t res = s_http ((s_req_t) { .method = "POST", .path = "/api/v1/signup", .body = body });
    cr_assert_eq (res.status, 421, "signup for evil.example: %d", res.status);
    cr_assert_str_eq (s_code (res.json), "misdirected_request");
    s_res_free (&res);
    const char *refused [] = { "evil.example", "evil.example:8080", "127.0.0.1.evil.example",
                               "localhost.evil.example", "[::2]" };
    for (size_t i = 0; i < sizeof refused / sizeof refused [0]; i++) {
        s_host = refused [i];
        res = s_http ((s_req_t) { .method = "GET", .path = "/" });
        cr_assert_eq (res.status, 421, "Host %s: %d", refused [i], res.status);
        s_res_free (&res);
    }
    char port [16];
    snprintf (port, sizeof port, "%d", s_port);
    const char *names [] = { "localhost", "LOCALHOST", "127.0.0.1", "[::1]" };
    for (size_t i = 0; i < sizeof names / sizeof names [0]; i++) {
        char host [64];
        snprintf (host, sizeof host, "%s:%s", names [i], port);
        s_host = host;
        res = s_http ((s_req_t) { .method = "GET", .path = "/healthz" });
        cr_assert_eq (res.status, 200, "Host %s: %d", host, res.status);
        s_res_free (&res);
    }
    //  The refused signup made no tenant: the first signup is still open.
    s_host = NULL;
    json_decref (s_signup ("first", "first@example.com"));
}

static void
s_start_named_host (void)
{
    s_extra [0] = "--allowed-hosts";
    s_extra [1] = "drift.example, Other.Example";
    s_host = "drift.example";   // the start waits for /healthz
    s_start ("first");
}

Test (api, allowed_hosts_replace_the_defaults, .init = s_start_named_host, .fini = s_stop)
{
    const char *allowed [] = { "drift.example", "drift.example:443", "other.example" };
    for (size_t i = 0; i < sizeof allowed / sizeof allowed [0]; i++) {
        s_host = allowed [i];
        s_res_t res = s_http ((s_req_t) { .method = "GET", .path = "/healthz" });
        cr_assert_eq (res.status, 200, "Host %s: %d", allowed [i], res.status);
        s_res_free (&res);
    }
    s_host = "localhost";
    s_res_t res = s_http ((s_req_t) { .method = "GET", .path = "/healthz" });
    cr_assert_eq (res.status, 421);
    s_res_free (&res);
}

Test (api, metrics_on_the_api_port_need_the_token, .init = s_start_first_with_token,
      .fini = s_stop)
{
    s_res_t res = s_http ((s_req_t) { .method = "GET", .path = "/metrics" });
    cr_assert_eq (res.status, 401);
    s_res_free (&res);
    res = s_http ((s_req_t) { .method = "GET", .path = "/metrics",
                              .token = "metrics-token-for-the-test-0123456780" });
    cr_assert_eq (res.status, 401, "a token one byte off");
    s_res_free (&res);
    res = s_http ((s_req_t) { .method = "GET", .path = "/metrics", .token = "short" });
    cr_assert_eq (res.status, 401);
    s_res_free (&res);
    res = s_http ((s_req_t) { .method = "GET", .path = "/metrics", .token = METRICS_TOKEN });
    cr_assert_eq (res.status, 200);
    cr_assert (strstr (res.raw, "# TYPE"), "Prometheus text");
    s_res_free (&res);
}

Test (api, metrics_are_not_served_on_the_api_port_without_a_token, .init = s_start_first,
      .fini = s_stop)
{
    s_res_t res = s_http ((s_req_t) { .method = "GET", .path = "/metrics" });
    cr_assert_eq (res.status, 404);
    s_res_free (&res);
}

//  Channel tests

static void
s_start_allowing_loopback (void)
{
    s_allow = "127.0.0.1";
    s_start_with_token ("open");       // its /metrics is read with the token
    s_allow = NULL;
}

//  GET a channel test as token: its status, the state in state [16].
static int
s_channel_test (const char *token, const char *channel, const char *test, char *state)
{
    char path [200];
    snprintf (path, sizeof path, "/api/v1/channels/%s/tests/%s", channel, test);
    json_t *reply;
    int status = s_call ("GET", path, token, NULL, &reply);
    snprintf (state, 16, "%s", s_str (reply, "state") ? s_str (reply, "state") : "");
    json_decref (reply);
    return status;
}

Test (api, slow_channel_tests_of_one_tenant_do_not_stall_another,
      .init = s_start_allowing_loopback, .fini = s_stop, .timeout = 120)
{
    //  The attack: a tenant admin tests channels that point at a server
    //  which takes connections and never answers, to hold the API's
    //  request threads. The kernel completes the connections (backlog);
    //  nobody accepts them.
    int port = tu_free_port ();
    int listener = socket (AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in address = { .sin_family = AF_INET, .sin_port = htons ((uint16_t) port) };
    address.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
    cr_assert_eq (bind (listener, (struct sockaddr *) &address, sizeof address), 0);
    cr_assert_eq (listen (listener, 16), 0);

    json_t *a = s_signup ("tenant-a", "a@example.com");
    json_t *b = s_signup ("tenant-b", "b@example.com");
    const char *token_a = s_str (a, "access_token"), *token_b = s_str (b, "access_token");
    char body [256], path [160], tests [2][37];
    snprintf (body, sizeof body, "{\"name\": \"slow\", \"kind\": \"webhook\", "
              "\"settings\": {\"url\": \"http://127.0.0.1:%d/hook\"}}", port);
    json_t *reply;
    cr_assert_eq (s_call ("POST", "/api/v1/channels", token_a, body, &reply), 201);
    char channel [37];
    snprintf (channel, sizeof channel, "%s", s_str (reply, "id"));
    json_decref (reply);

    //  Answered at once with a test to poll, as many as the tenant's limit
    //  (2, the default); beyond it 429.
    snprintf (path, sizeof path, "/api/v1/channels/%s/test", channel);
    for (int i = 0; i < 2; i++) {
        cr_assert_eq (s_call ("POST", path, token_a, NULL, &reply), 202);
        cr_assert_str_eq (s_str (reply, "state"), "pending");
        snprintf (tests [i], sizeof tests [i], "%s", s_str (reply, "id"));
        json_decref (reply);
    }
    cr_assert_eq (s_call ("POST", path, token_a, NULL, &reply), 429);
    cr_assert_str_eq (s_code (reply), "too_many_requests");
    json_decref (reply);
    s_res_t metrics = s_http ((s_req_t) { .method = "GET", .path = "/metrics",
                                          .token = METRICS_TOKEN });
    cr_assert (metrics.raw && strstr (metrics.raw,
               "drift_api_channel_tests_total{outcome=\"over_tenant_limit\"} 1"), "%s",
               metrics.raw ? metrics.raw : "");
    s_res_free (&metrics);

    //  Tenant B is served while A's sends hang: more requests than the
    //  server has threads (3), each answered, and A's tests are still
    //  pending afterwards, so B did not wait for them.
    for (int i = 0; i < 8; i++) {
        cr_assert_eq (s_call ("GET", "/api/v1/stacks", token_b, NULL, NULL), 200);
        cr_assert_eq (s_call ("GET", "/api/v1/channels", token_b, NULL, NULL), 200);
    }
    char state [16];
    for (int i = 0; i < 2; i++) {
        cr_assert_eq (s_channel_test (token_a, channel, tests [i], state), 200);
        cr_assert_str_eq (state, "pending");
    }
    //  A's tests are A's: B is told there is no such test.
    cr_assert_eq (s_channel_test (token_b, channel, tests [0], state), 404);

    //  The slow server goes away: the sends fail, told by class only.
    close (listener);
    for (int i = 0; i < 2; i++) {
        int polls = 0;
        while (s_channel_test (token_a, channel, tests [i], state) == 200
        &&     strcmp (state, "pending") == 0 && polls++ < 600)
            usleep (50 * 1000);
        cr_assert_str_eq (state, "failed");
    }
    snprintf (path, sizeof path, "/api/v1/channels/%s/tests/%s", channel, tests [0]);
    cr_assert_eq (s_call ("GET", path, token_a, NULL, &reply), 200);
    cr_assert (json_is_boolean (json_object_get (reply, "retryable")));
    cr_assert_null (strstr (s_str (reply, "error"), "reset"), "%s", s_str (reply, "error"));
    json_decref (reply);
    //  And the tenant may test again.
    snprintf (path, sizeof path, "/api/v1/channels/%s/test", channel);
    cr_assert_eq (s_call ("POST", path, token_a, NULL, NULL), 202);
    json_decref (a);
    json_decref (b);
}

Test (api, a_channel_naming_a_server_secret_file_is_refused, .init = s_start_first,
      .fini = s_stop)
{
    //  The attack of issue 16: the channel's password read from the API's
    //  own JWT secret and sent to the admin's SMTP server.
    json_t *owner = s_signup ("acme", "owner@example.com");
    char body [768];
    snprintf (body, sizeof body, "{\"name\": \"steal\", \"kind\": \"email\", \"settings\": "
              "{\"url\": \"smtp://mail.example.com:25\", \"starttls\": false, "
              "\"username\": \"x\", \"password_file\": \"%s\", \"from\": \"d@example.com\", "
              "\"to\": [\"o@example.com\"]}}", s_secret_path);
    json_t *reply;
    cr_assert_eq (s_call ("POST", "/api/v1/channels", s_str (owner, "access_token"), body,
                          &reply), 400);
    cr_assert_str_eq (s_code (reply), "bad_request");
    json_decref (reply);
    cr_assert_eq (s_call ("GET", "/api/v1/channels", s_str (owner, "access_token"), NULL,
                          &reply), 200);
    cr_assert_eq (json_array_size (json_object_get (reply, "items")), 0);
    json_decref (reply);
    json_decref (owner);
}

//  --------------------------------------------------------------------------
//  People and machines (issue 21): invitations with one-time set-password
//  links, removal, a user's own password and sessions, API tokens and the
//  attacks on them, each performed.

//  The client address's failure count (login, API tokens, links) cleared:
//  these tests fail on purpose and must neither inherit nor leave any.
static void
s_clear_failures (void)
{
    kv_t *kv = kv_new (getenv ("DRIFT_TEST_REDIS_URL"), 1000);
    redisReply *reply = kv ? kv_command (kv, "DEL drift:login:address:127.0.0.1"
                                                   " drift:login:audited:127.0.0.1") : NULL;
    cr_assert (reply, "Redis answers");
    freeReplyObject (reply);
    kv_destroy (&kv);
}

static void
s_start_people (void)
{
    s_clear_failures ();
    s_start ("open");
}

static void
s_stop_people (void)
{
    s_stop ();
    s_clear_failures ();
}

//  Invite email with role (as the owner's token): the reply (asserted 201).
static json_t *
s_invite (const char *token, const char *email, const char *role)
{
    char body [256];
    snprintf (body, sizeof body, "{\"email\": \"%s\", \"role\": \"%s\"}", email, role);
    json_t *reply;
    cr_assert_eq (s_call ("POST", "/api/v1/users", token, body, &reply), 201, "invite %s", email);
    return reply;
}

static int
s_set_password (const char *link, const char *password, json_t **reply)
{
    char body [512];
    snprintf (body, sizeof body, "{\"token\": \"%s\", \"password\": \"%s\"}", link, password);
    return s_call ("POST", "/api/v1/password", NULL, body, reply);
}

//  Add email with role and a password (as the owner's token) and log in
//  as them: the login's reply (both asserted).
static json_t *
s_member (const char *token, const char *email, const char *role)
{
    char body [256];
    snprintf (body, sizeof body, "{\"email\": \"%s\", \"password\": \"%s\", \"role\": \"%s\"}",
              email, PASSWORD, role);
    cr_assert_eq (s_call ("POST", "/api/v1/users", token, body, NULL), 201, "add %s", email);
    json_t *login;
    cr_assert_eq (s_login (email, PASSWORD, &login), 200, "login of %s", email);
    return login;
}

Test (api, an_invited_user_sets_a_password_once, .init = s_start_people, .fini = s_stop_people)
{
    json_t *owner = s_signup ("acme", "owner@example.com");
    const char *token = s_str (owner, "access_token");
    json_t *invited = s_invite (token, "new@example.com", "viewer");
    cr_assert_str_eq (s_str (invited, "role"), "viewer");
    const char *link = s_str (invited, "password_link.token");
    cr_assert (link && strlen (link) > 74, "the invite answers a link");
    cr_assert (s_str (invited, "password_link.expires_at"));
    char stored [200];
    snprintf (stored, sizeof stored, "SELECT count (*) FROM password_links WHERE hash = '%s'",
              strrchr (link, '.') + 1);
    cr_assert_eq (tu_query_long (s_url, stored), 0, "the link's secret is not stored");

    //  A link of a real user and tenant with another secret is refused.
    char forged [200];
    snprintf (forged, sizeof forged, "%.*sAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
              (int) (strrchr (link, '.') + 1 - link), link);
    json_t *reply;
    cr_assert_eq (s_set_password (forged, PASSWORD, &reply), 401, "a forged link");
    cr_assert_str_eq (s_str (reply, "error.field"), "token");
    json_decref (reply);
    cr_assert_eq (s_set_password ("not.a.link", PASSWORD, NULL), 401, "a malformed link");
    cr_assert_eq (s_set_password (link, "short", &reply), 400, "a short password");
    cr_assert_str_eq (s_str (reply, "error.field"), "password");
    json_decref (reply);
    cr_assert_eq (s_call ("POST", "/api/v1/password", NULL,
                          "{\"token\": \"x\", \"password\": \"" PASSWORD "\", \"extra\": 1}", NULL),
                  400, "an unknown field");
    cr_assert_eq (s_login ("new@example.com", PASSWORD, NULL), 401, "no password before the link");

    cr_assert_eq (s_set_password (link, PASSWORD, NULL), 204);
    json_t *login;
    cr_assert_eq (s_login ("new@example.com", PASSWORD, &login), 200);
    cr_assert_str_eq (s_str (login, "user.role"), "viewer");
    cr_assert_eq (s_set_password (link, "another password entirely", NULL), 401, "spent");

    //  A new link spends the older ones and, used, ends the user's sessions.
    char path [160];
    snprintf (path, sizeof path, "/api/v1/users/%s/password-link", s_str (invited, "id"));
    json_t *first, *second;
    cr_assert_eq (s_call ("POST", path, token, NULL, &first), 201);
    cr_assert_eq (s_call ("POST", path, token, NULL, &second), 201);
    cr_assert_eq (s_call ("POST", path, s_str (login, "access_token"), NULL, NULL), 403,
                  "a viewer makes no links");
    cr_assert_eq (s_set_password (s_str (first, "password_link.token"), PASSWORD, NULL), 401,
                  "replaced by the newer link");
    cr_assert_eq (s_set_password (s_str (second, "password_link.token"),
                                  "a brand new password", NULL), 204);
    cr_assert_eq (s_call ("GET", "/api/v1/me", s_str (login, "access_token"), NULL, NULL), 401,
                  "setting a password ends the sessions");
    cr_assert_eq (s_login ("new@example.com", "a brand new password", NULL), 200);

    //  An expired link is refused.
    json_t *third;
    cr_assert_eq (s_call ("POST", path, token, NULL, &third), 201);
    cr_assert_eq (tu_query_long (s_url, "WITH aged AS (UPDATE password_links"
                                 " SET expires_at = now () - interval '1 second'"
                                 " WHERE used_at IS NULL RETURNING 1) SELECT count (*) FROM aged"),
                  1, "the live link aged (as the database's owner)");
    cr_assert_eq (s_set_password (s_str (third, "password_link.token"), PASSWORD, NULL), 401,
                  "expired");
    snprintf (path, sizeof path, "/api/v1/users/%s/password-link", "not-a-uuid");
    cr_assert_eq (s_call ("POST", path, token, NULL, NULL), 404);
    json_decref (third);
    json_decref (first);
    json_decref (second);
    json_decref (login);
    json_decref (invited);
    json_decref (owner);
}

Test (api, link_guessing_hits_the_rate_limit, .init = s_start_people, .fini = s_stop_people)
{
    json_t *owner = s_signup ("acme", "owner@example.com");
    json_t *invited = s_invite (s_str (owner, "access_token"), "new@example.com", "admin");
    const char *link = s_str (invited, "password_link.token");
    char guess [200];
    snprintf (guess, sizeof guess, "%.*sBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB",
              (int) (strrchr (link, '.') + 1 - link), link);
    for (int i = 0; i < 20; i++)
        cr_assert_eq (s_set_password (guess, PASSWORD, NULL), 401, "guess %d", i);
    char body [512];
    snprintf (body, sizeof body, "{\"token\": \"%s\", \"password\": \"%s\"}", link, PASSWORD);
    s_res_t res = s_http ((s_req_t) { .method = "POST", .path = "/api/v1/password",
                                      .body = body });
    cr_assert_eq (res.status, 429, "the right link after 20 guesses waits");
    cr_assert (res.retry_after > 0 && res.retry_after <= 900);
    s_res_free (&res);
    json_decref (invited);
    json_decref (owner);
}

Test (api, users_are_removed_but_never_the_last_owner, .init = s_start_people,
      .fini = s_stop_people)
{
    json_t *owner = s_signup ("acme", "owner@example.com");
    const char *token = s_str (owner, "access_token");
    char path [128];
    snprintf (path, sizeof path, "/api/v1/users/%s", s_str (owner, "user.id"));
    json_t *reply;
    cr_assert_eq (s_call ("DELETE", path, token, NULL, &reply), 409, "the last owner stays");
    cr_assert_str_eq (s_code (reply), "conflict");
    json_decref (reply);

    json_t *admin = s_member (token, "admin@example.com", "admin");
    const char *admin_token = s_str (admin, "access_token");
    cr_assert_eq (s_call ("GET", "/api/v1/users", admin_token, NULL, NULL), 200,
                  "an admin lists the users");
    cr_assert_eq (s_call ("POST", "/api/v1/users", admin_token,
                          "{\"email\": \"x@example.com\", \"role\": \"viewer\"}", NULL), 403,
                  "an admin invites no one");
    cr_assert_eq (s_call ("DELETE", path, admin_token, NULL, NULL), 403,
                  "an admin removes no one");

    //  Another tenant's user is not found.
    json_t *other = s_signup ("globex", "owner@globex.example");
    char other_path [128];
    snprintf (other_path, sizeof other_path, "/api/v1/users/%s", s_str (other, "user.id"));
    cr_assert_eq (s_call ("DELETE", other_path, token, NULL, NULL), 404);
    cr_assert_eq (s_login ("owner@globex.example", PASSWORD, NULL), 200);

    //  Removing ends the user's sessions and their login.
    snprintf (path, sizeof path, "/api/v1/users/%s", s_str (admin, "user.id"));
    cr_assert_eq (s_call ("DELETE", path, token, NULL, NULL), 204);
    cr_assert_eq (s_call ("GET", "/api/v1/me", admin_token, NULL, NULL), 401);
    cr_assert_eq (s_refresh (s_str (admin, "refresh_token"), NULL), 401);
    cr_assert_eq (s_login ("admin@example.com", PASSWORD, NULL), 401);
    cr_assert_eq (s_call ("DELETE", path, token, NULL, NULL), 404, "already gone");
    cr_assert_eq (s_call ("DELETE", "/api/v1/users/nope", token, NULL, NULL), 404);

    //  With a second owner, the first may go.
    json_t *second = s_invite (token, "second@example.com", "owner");
    snprintf (path, sizeof path, "/api/v1/users/%s", s_str (owner, "user.id"));
    cr_assert_eq (s_call ("DELETE", path, token, NULL, NULL), 204);
    json_decref (second);
    json_decref (other);
    json_decref (admin);
    json_decref (owner);
}

static int
s_change_password (const char *token, const char *current, const char *password,
                   json_t **reply)
{
    char body [512];
    snprintf (body, sizeof body, "{\"current_password\": \"%s\", \"password\": \"%s\"}",
              current, password);
    return s_call ("POST", "/api/v1/me/password", token, body, reply);
}

Test (api, changing_the_password_ends_the_other_sessions, .init = s_start_people,
      .fini = s_stop_people)
{
    json_t *here = s_signup ("acme", "owner@example.com");
    json_t *there;
    cr_assert_eq (s_login ("owner@example.com", PASSWORD, &there), 200);
    const char *token = s_str (here, "access_token");
    json_t *reply;
    cr_assert_eq (s_change_password (token, "not the password at all", "a new password here",
                                     &reply), 403, "the current password is required");
    cr_assert_str_eq (s_str (reply, "error.field"), "current_password");
    json_decref (reply);
    cr_assert_eq (s_change_password (token, PASSWORD, "short", &reply), 400);
    cr_assert_str_eq (s_str (reply, "error.field"), "password");
    json_decref (reply);
    cr_assert_eq (s_call ("POST", "/api/v1/me/password", token, "{\"password\": \"x\"}", NULL),
                  400, "no current password");
    cr_assert_eq (s_change_password (NULL, PASSWORD, "a new password here", NULL), 401);

    cr_assert_eq (s_change_password (token, PASSWORD, "a new password here", NULL), 204);
    cr_assert_eq (s_call ("GET", "/api/v1/me", token, NULL, NULL), 200, "this session stays");
    cr_assert_eq (s_call ("GET", "/api/v1/me", s_str (there, "access_token"), NULL, NULL), 401,
                  "the other session ended");
    cr_assert_eq (s_refresh (s_str (there, "refresh_token"), NULL), 401);
    cr_assert_eq (s_login ("owner@example.com", PASSWORD, NULL), 401, "the old password");
    cr_assert_eq (s_login ("owner@example.com", "a new password here", NULL), 200);
    json_decref (there);
    json_decref (here);
}

Test (api, wrong_current_passwords_hit_the_login_limit, .init = s_start_people,
      .fini = s_stop_people)
{
    json_t *owner = s_signup ("acme", "owner@example.com");
    const char *token = s_str (owner, "access_token");
    for (int i = 0; i < 5; i++)
        cr_assert_eq (s_change_password (token, "a wrong guess, surely", "a new password here",
                                         NULL), 403, "guess %d", i);
    char body [256];
    snprintf (body, sizeof body, "{\"current_password\": \"%s\", \"password\": \"%s\"}",
              PASSWORD, "a new password here");
    s_res_t res = s_http ((s_req_t) { .method = "POST", .path = "/api/v1/me/password",
                                      .token = token, .body = body });
    cr_assert_eq (res.status, 429, "the account is locked like a login");
    cr_assert (res.retry_after > 0 && res.retry_after <= 900);
    s_res_free (&res);
    //  The account's own window: forget it for the tests that follow.
    uint8_t digest [16];
    char hex [33], command [128];
    crypto_generichash (digest, sizeof digest, (const uint8_t *) "owner@example.com",
                        strlen ("owner@example.com"), NULL, 0);
    sodium_bin2hex (hex, sizeof hex, digest, sizeof digest);
    snprintf (command, sizeof command, "DEL drift:login:account:%s", hex);
    kv_t *kv = kv_new (getenv ("DRIFT_TEST_REDIS_URL"), 1000);
    redisReply *reply = kv ? kv_command (kv, command) : NULL;
    cr_assert (reply);
    freeReplyObject (reply);
    kv_destroy (&kv);
    json_decref (owner);
}

Test (api, a_user_lists_and_ends_their_own_sessions, .init = s_start_people,
      .fini = s_stop_people)
{
    json_t *here = s_signup ("acme", "owner@example.com");
    json_t *there;
    cr_assert_eq (s_login ("owner@example.com", PASSWORD, &there), 200);
    const char *token = s_str (here, "access_token");
    json_t *list;
    cr_assert_eq (s_call ("GET", "/api/v1/me/sessions", token, NULL, &list), 200);
    json_t *items = json_object_get (list, "items");
    cr_assert_eq (json_array_size (items), 2);
    json_t *first = json_array_get (items, 0), *second = json_array_get (items, 1);
    cr_assert (json_is_true (json_object_get (first, "current")), "the caller's comes first");
    cr_assert (json_is_false (json_object_get (second, "current")));
    cr_assert (json_string_value (json_object_get (second, "last_used_at")));
    char path [128];
    snprintf (path, sizeof path, "/api/v1/me/sessions/%s",
              json_string_value (json_object_get (second, "id")));

    //  Another user's session is not theirs to end.
    json_t *viewer = s_member (token, "v@example.com", "viewer");
    cr_assert_eq (s_call ("DELETE", path, s_str (viewer, "access_token"), NULL, NULL), 404);
    cr_assert_eq (s_call ("GET", "/api/v1/me", s_str (there, "access_token"), NULL, NULL), 200);

    cr_assert_eq (s_call ("DELETE", path, token, NULL, NULL), 204);
    cr_assert_eq (s_call ("GET", "/api/v1/me", s_str (there, "access_token"), NULL, NULL), 401,
                  "the ended session is refused");
    cr_assert_eq (s_refresh (s_str (there, "refresh_token"), NULL), 401);
    cr_assert_eq (s_call ("DELETE", path, token, NULL, NULL), 404, "already ended");
    cr_assert_eq (s_call ("DELETE", "/api/v1/me/sessions/nope", token, NULL, NULL), 404);
    json_t *after;
    cr_assert_eq (s_call ("GET", "/api/v1/me/sessions", token, NULL, &after), 200);
    cr_assert_eq (json_array_size (json_object_get (after, "items")), 1);
    json_decref (after);
    json_decref (viewer);
    json_decref (list);
    json_decref (there);
    json_decref (here);
}

//  Create an API token (as token): the reply (asserted 201).
static json_t *
s_token_create (const char *token, const char *name, const char *role, const char *expires_at)
{
    char body [256];
    if (expires_at)
        snprintf (body, sizeof body, "{\"name\": \"%s\", \"role\": \"%s\", \"expires_at\": \"%s\"}",
                  name, role, expires_at);
    else
        snprintf (body, sizeof body, "{\"name\": \"%s\", \"role\": \"%s\"}", name, role);
    json_t *reply;
    int status = s_call ("POST", "/api/v1/tokens", token, body, &reply);
    cr_assert_eq (status, 201, "token %s: %d", name, status);
    return reply;
}

Test (api, api_tokens_read_and_write_as_their_role, .init = s_start_people,
      .fini = s_stop_people)
{
    json_t *owner = s_signup ("acme", "owner@example.com");
    const char *jwt = s_str (owner, "access_token");
    json_t *admin = s_token_create (jwt, "ci-admin", "admin", NULL);
    json_t *viewer = s_token_create (jwt, "ci.viewer", "viewer", "2099-01-01T00:00:00Z");
    const char *admin_secret = s_str (admin, "secret");
    const char *viewer_secret = s_str (viewer, "secret");
    cr_assert (strncmp (admin_secret, "drift_pat_", 10) == 0, "the prefix: %s", admin_secret);
    cr_assert_str_eq (s_str (admin, "token.role"), "admin");
    cr_assert_str_eq (s_str (viewer, "token.expires_at"), "2099-01-01T00:00:00Z");
    cr_assert_eq (tu_query_long (s_url, "SELECT count (*) FROM api_tokens WHERE hash ~ '^[0-9a-f]{64}$'"),
                  2, "stored as hashes");

    //  Reads and writes with the token, as its role.
    cr_assert_eq (s_call ("GET", "/api/v1/stacks", viewer_secret, NULL, NULL), 200);
    cr_assert_eq (s_call ("GET", "/api/v1/drift", admin_secret, NULL, NULL), 200);
    json_t *reply;
    const char *suppression = "{\"pattern\": \"aws_instance.web\", \"reason\": \"by CI\"}";
    cr_assert_eq (s_call ("POST", "/api/v1/suppressions", viewer_secret, suppression, &reply),
                  403, "a viewer token on an admin route");
    cr_assert_str_eq (s_code (reply), "forbidden");
    json_decref (reply);
    cr_assert_eq (s_call ("POST", "/api/v1/suppressions", admin_secret, suppression, &reply), 201);
    cr_assert_str_eq (s_str (reply, "created_by"), "ci-admin (API token)");
    json_decref (reply);

    //  No token reaches accounts or tokens, whatever its role.
    cr_assert_eq (s_call ("GET", "/api/v1/tokens", admin_secret, NULL, NULL), 403);
    cr_assert_eq (s_call ("POST", "/api/v1/tokens", admin_secret,
                          "{\"name\": \"more\", \"role\": \"admin\"}", NULL), 403);
    cr_assert_eq (s_call ("GET", "/api/v1/users", admin_secret, NULL, NULL), 403);
    cr_assert_eq (s_call ("GET", "/api/v1/me", admin_secret, NULL, NULL), 403);

    //  Listed without the secret, with the time of last use.
    json_t *list;
    cr_assert_eq (s_call ("GET", "/api/v1/tokens", jwt, NULL, &list), 200);
    json_t *items = json_object_get (list, "items");
    cr_assert_eq (json_array_size (items), 2);
    size_t i;
    json_t *item;
    json_array_foreach (items, i, item) {
        cr_assert_null (json_object_get (item, "secret"));
        cr_assert (json_string_value (json_object_get (item, "last_used_at")), "used: %s",
                   json_string_value (json_object_get (item, "name")));
        cr_assert_str_eq (json_string_value (json_object_get (item, "created_by")),
                          "owner@example.com");
    }
    json_decref (list);

    //  Revoked: refused at once; the name may be used again.
    char path [128];
    snprintf (path, sizeof path, "/api/v1/tokens/%s", s_str (admin, "token.id"));
    cr_assert_eq (s_call ("DELETE", path, jwt, NULL, NULL), 204);
    cr_assert_eq (s_call ("GET", "/api/v1/stacks", admin_secret, NULL, NULL), 401, "revoked");
    cr_assert_eq (s_call ("DELETE", path, jwt, NULL, NULL), 404, "already revoked");
    json_decref (s_token_create (jwt, "ci-admin", "viewer", NULL));

    //  Expired: refused.
    cr_assert_eq (tu_query_long (s_url, "WITH aged AS (UPDATE api_tokens"
                                 " SET expires_at = now () - interval '1 second'"
                                 " WHERE name = 'ci.viewer' RETURNING 1) SELECT count (*) FROM aged"),
                  1, "the token aged (as the database's owner)");
    cr_assert_eq (s_call ("GET", "/api/v1/stacks", viewer_secret, NULL, NULL), 401, "expired");
    json_decref (viewer);
    json_decref (admin);
    json_decref (owner);
}

Test (api, bad_token_requests_are_refused, .init = s_start_people, .fini = s_stop_people)
{
    json_t *owner = s_signup ("acme", "owner@example.com");
    const char *jwt = s_str (owner, "access_token");
    static const struct { const char *body; const char *field; } bad [] = {
        { "{\"name\": \"Bad Name\", \"role\": \"viewer\"}", "name" },
        { "{\"name\": \"-dash\", \"role\": \"viewer\"}", "name" },
        { "{\"name\": \"ok\", \"role\": \"owner\"}", "role" },
        { "{\"name\": \"ok\"}", "role" },
        { "{\"name\": \"ok\", \"role\": \"viewer\", \"expires_at\": \"2001-01-01T00:00:00Z\"}",
          "expires_at" },
        { "{\"name\": \"ok\", \"role\": \"viewer\", \"expires_at\": \"tomorrow\"}", "expires_at" },
        { "{\"name\": \"ok\", \"role\": \"viewer\", \"scope\": \"all\"}", "scope" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad [0]; i++) {
        json_t *reply;
        cr_assert_eq (s_call ("POST", "/api/v1/tokens", jwt, bad [i].body, &reply), 400, "%s",
                      bad [i].body);
        cr_assert_str_eq (s_str (reply, "error.field"), bad [i].field, "%s", bad [i].body);
        json_decref (reply);
    }
    json_decref (s_token_create (jwt, "ci", "viewer", NULL));
    cr_assert_eq (s_call ("POST", "/api/v1/tokens", jwt, "{\"name\": \"ci\", \"role\": \"viewer\"}",
                          NULL), 409, "a live token has the name");
    cr_assert_eq (s_call ("DELETE", "/api/v1/tokens/nope", jwt, NULL, NULL), 404);

    //  A viewer person makes no tokens.
    json_t *viewer = s_member (jwt, "v@example.com", "viewer");
    cr_assert_eq (s_call ("POST", "/api/v1/tokens", s_str (viewer, "access_token"),
                          "{\"name\": \"mine\", \"role\": \"viewer\"}", NULL), 403);
    cr_assert_eq (s_call ("GET", "/api/v1/tokens", s_str (viewer, "access_token"), NULL, NULL),
                  403);
    json_decref (viewer);
    json_decref (owner);
}

Test (api, forged_and_foreign_tokens_are_refused, .init = s_start_people,
      .fini = s_stop_people)
{
    json_t *acme = s_signup ("acme", "owner@acme.example");
    json_t *globex = s_signup ("globex", "owner@globex.example");
    json_t *token = s_token_create (s_str (acme, "access_token"), "ci", "admin", NULL);
    const char *secret = s_str (token, "secret");

    //  Tenant B's objects are out of tenant A's token's reach.
    json_t *theirs;
    cr_assert_eq (s_call ("POST", "/api/v1/suppressions", s_str (globex, "access_token"),
                          "{\"pattern\": \"aws_s3_bucket.logs\", \"reason\": \"theirs\"}",
                          &theirs), 201);
    json_t *list;
    cr_assert_eq (s_call ("GET", "/api/v1/suppressions", secret, NULL, &list), 200);
    cr_assert_eq (json_array_size (json_object_get (list, "items")), 0, "none of B's");
    json_decref (list);
    char path [128];
    snprintf (path, sizeof path, "/api/v1/suppressions/%s", s_str (theirs, "id"));
    cr_assert_eq (s_call ("DELETE", path, secret, NULL, NULL), 404, "B's suppression stays");
    cr_assert_eq (tu_query_long (s_url, "SELECT count (*) FROM suppressions"), 1);

    //  The token repacked with tenant B's id in place of A's: refused.
    size_t size;
    uint8_t *bytes = jwt_unbase64url (secret + 10, strlen (secret + 10), &size);
    cr_assert (bytes && size == 64);
    char hex [33];
    const char *b = s_str (globex, "tenant.id");
    for (int i = 0, j = 0; b [i] && j < 32; i++)
        if (b [i] != '-')
            hex [j++] = b [i];
    hex [32] = 0;
    size_t written;
    cr_assert_eq (sodium_hex2bin (bytes, 16, hex, 32, NULL, &written, NULL), 0);
    char *packed = jwt_base64url (bytes, size);
    char moved [200];
    snprintf (moved, sizeof moved, "drift_pat_%s", packed);
    cr_assert_eq (s_call ("GET", "/api/v1/stacks", moved, NULL, NULL), 401, "moved to B");

    //  Another secret for the same tenant and id; a token cut short; only
    //  the prefix; no base64url.
    bytes [40] ^= 1;
    free (packed);
    packed = jwt_base64url (bytes, size);
    snprintf (moved, sizeof moved, "drift_pat_%s", packed);
    cr_assert_eq (s_call ("GET", "/api/v1/stacks", moved, NULL, NULL), 401, "forged secret");
    moved [strlen (moved) - 1] = 0;
    cr_assert_eq (s_call ("GET", "/api/v1/stacks", moved, NULL, NULL), 401, "cut short");
    cr_assert_eq (s_call ("GET", "/api/v1/stacks", "drift_pat_", NULL, NULL), 401, "prefix");
    memset (moved + 10, '!', strlen (moved + 10));
    cr_assert_eq (s_call ("GET", "/api/v1/stacks", moved, NULL, NULL), 401, "not base64url");
    cr_assert_eq (s_call ("GET", "/api/v1/stacks", secret, NULL, NULL), 200, "the real one");
    free (packed);
    free (bytes);
    json_decref (theirs);
    json_decref (token);
    json_decref (globex);
    json_decref (acme);
}

static void
s_start_people_with_token (void)
{
    s_clear_failures ();
    s_start_with_token ("open");
}

Test (api, token_guessing_hits_the_rate_limit, .init = s_start_people_with_token,
      .fini = s_stop_people)
{
    json_t *owner = s_signup ("acme", "owner@example.com");
    json_t *token = s_token_create (s_str (owner, "access_token"), "ci", "viewer", NULL);
    const char *secret = s_str (token, "secret");
    char guess [200];
    snprintf (guess, sizeof guess, "%s", secret);
    for (int i = 0; i < 20; i++) {
        guess [40] = (char) ('a' + i);
        guess [41] = guess [41] == 'Q' ? 'R' : 'Q';
        cr_assert_eq (s_call ("GET", "/api/v1/stacks", guess, NULL, NULL), 401, "guess %d", i);
    }
    s_res_t res = s_http ((s_req_t) { .method = "GET", .path = "/api/v1/stacks",
                                      .token = secret });
    cr_assert_eq (res.status, 429, "after 20 failures even the real token waits");
    cr_assert_str_eq (s_code (res.json), "too_many_requests");
    cr_assert (res.retry_after > 0 && res.retry_after <= 900, "Retry-After %ld",
               res.retry_after);
    s_res_free (&res);
    //  A person's session from the same address is not locked out.
    cr_assert_eq (s_call ("GET", "/api/v1/stacks", s_str (owner, "access_token"), NULL, NULL),
                  200);
    //  Every refusal counted: 20 guesses and the one the limit stopped.
    res = s_http ((s_req_t) { .method = "GET", .path = "/metrics", .token = METRICS_TOKEN });
    cr_assert_eq (res.status, 200);
    const char *line = strstr (res.raw, "\ndrift_api_token_refusals_total ");
    cr_assert (line, "no drift_api_token_refusals_total in /metrics");
    cr_assert_eq (atol (line + strlen ("\ndrift_api_token_refusals_total ")), 21);
    s_res_free (&res);
    json_decref (token);
    json_decref (owner);
}

Test (api, a_token_never_does_more_than_its_maker, .init = s_start_people,
      .fini = s_stop_people)
{
    json_t *owner = s_signup ("acme", "owner@example.com");
    const char *jwt = s_str (owner, "access_token");
    json_t *admin = s_member (jwt, "a@example.com", "admin");
    json_t *token = s_token_create (s_str (admin, "access_token"), "theirs", "admin", NULL);
    const char *secret = s_str (token, "secret");
    const char *body = "{\"pattern\": \"aws_instance.web\", \"reason\": \"by CI\"}";
    char path [128];
    snprintf (path, sizeof path, "/api/v1/users/%s", s_str (admin, "user.id"));

    cr_assert_eq (s_call ("PATCH", path, jwt, "{\"role\": \"viewer\"}", NULL), 200);
    cr_assert_eq (s_call ("POST", "/api/v1/suppressions", secret, body, NULL), 403,
                  "its maker is a viewer now");
    cr_assert_eq (s_call ("GET", "/api/v1/stacks", secret, NULL, NULL), 200);
    cr_assert_eq (s_call ("PATCH", path, jwt, "{\"disabled\": true}", NULL), 200);
    cr_assert_eq (s_call ("GET", "/api/v1/stacks", secret, NULL, NULL), 401, "maker disabled");
    cr_assert_eq (s_call ("PATCH", path, jwt, "{\"disabled\": false, \"role\": \"admin\"}",
                          NULL), 200);
    cr_assert_eq (s_call ("POST", "/api/v1/suppressions", secret, body, NULL), 201);
    cr_assert_eq (s_call ("DELETE", path, jwt, NULL, NULL), 204);
    cr_assert_eq (s_call ("GET", "/api/v1/stacks", secret, NULL, NULL), 401, "maker removed");
    cr_assert_eq (tu_query_long (s_url, "SELECT count (*) FROM api_tokens"), 0,
                  "the token went with its maker");
    json_decref (token);
    json_decref (admin);
    json_decref (owner);
}

//  `drift TOKEN ARGS... --database URL`: its exit code, stdout in out.
static int
s_drift_token (char *out, size_t size, const char *args)
{
    char command [1200];
    snprintf (command, sizeof command, "%s token %s --database '%s' 2>/dev/null",
              getenv ("DRIFT_BIN"), args, s_url);
    FILE *pipe = popen (command, "r");
    cr_assert (pipe);
    size_t have = fread (out, 1, size - 1, pipe);
    out [have] = 0;
    int status = pclose (pipe);
    return WIFEXITED (status) ? WEXITSTATUS (status) : -1;
}

Test (api, drift_token_creates_lists_and_revokes, .init = s_start_people,
      .fini = s_stop_people)
{
    json_decref (s_signup ("acme", "owner@example.com"));
    char out [4096];
    cr_assert_eq (s_drift_token (out, sizeof out, "create acme nightly --role admin"), 0);
    char secret [200];
    snprintf (secret, sizeof secret, "%.*s", (int) strcspn (out, "\n"), out);
    cr_assert (strncmp (secret, "drift_pat_", 10) == 0, "stdout is the token: %s", out);
    cr_assert_eq (s_call ("POST", "/api/v1/suppressions", secret,
                          "{\"pattern\": \"aws_instance.web\", \"reason\": \"nightly\"}", NULL),
                  201, "an operator's admin token writes");
    cr_assert_eq (s_drift_token (out, sizeof out, "create acme nightly"), 1, "the name is live");
    cr_assert_eq (s_drift_token (out, sizeof out, "create acme other --role owner"), 2);
    cr_assert_eq (s_drift_token (out, sizeof out, "create acme 'Bad Name'"), 1);
    cr_assert_eq (s_drift_token (out, sizeof out, "create nosuch ci"), 1, "no such tenant");
    cr_assert_eq (s_drift_token (out, sizeof out, "create acme soon --expires-at whenever"), 1);
    cr_assert_eq (s_drift_token (out, sizeof out, "list acme"), 0);
    cr_assert (strstr (out, "nightly") && strstr (out, "admin") && strstr (out, "live"),
               "the list: %s", out);
    cr_assert (!strstr (out, "drift_pat_"), "the list shows no secret");
    cr_assert_eq (s_drift_token (out, sizeof out, "revoke acme nightly"), 0);
    cr_assert_eq (s_call ("GET", "/api/v1/stacks", secret, NULL, NULL), 401, "revoked");
    cr_assert_eq (s_drift_token (out, sizeof out, "revoke acme nightly"), 1, "already revoked");
    cr_assert_eq (s_drift_token (out, sizeof out, "frobnicate acme"), 2);
}

//  An invitation mailed through the tenant's email channel: a real SMTP
//  server (tests/smtp/smtp_sink.py, aiosmtpd) on loopback files each
//  message; the link in the mail sets the password.
static pid_t s_sink;            // the SMTP sink
static int s_sink_port;         // its port
static char s_mail_dir [300];   // where it files messages

static void
s_start_mailing (void)
{
    s_clear_failures ();
    snprintf (s_mail_dir, sizeof s_mail_dir, "%s/api-mail-%d", getenv ("DRIFT_TEST_VAR_DIR")
              ? getenv ("DRIFT_TEST_VAR_DIR") : "/tmp", (int) getpid ());
    mkdir (s_mail_dir, 0700);
    s_sink_port = tu_free_port ();
    char port [16], script [600];
    snprintf (port, sizeof port, "%d", s_sink_port);
    snprintf (script, sizeof script, "%s/tests/smtp/smtp_sink.py", getenv ("DRIFT_SOURCE_DIR"));
    pid_t parent = getpid ();
    s_sink = fork ();
    cr_assert (s_sink >= 0);
    if (s_sink == 0) {
        tu_die_with_parent (parent);
        int null = open ("/dev/null", O_WRONLY);
        dup2 (null, 1);
        execl ("/usr/bin/python3", "/usr/bin/python3", script, "--port", port, "--dir",
               s_mail_dir, (char *) NULL);
        _exit (127);
    }
    //  Ready when it accepts a connection.
    struct sockaddr_in address = { .sin_family = AF_INET, .sin_port = htons ((uint16_t) s_sink_port) };
    inet_pton (AF_INET, "127.0.0.1", &address.sin_addr);
    bool ready = false;
    for (int i = 0; i < 200 && !ready; i++) {
        int fd = socket (AF_INET, SOCK_STREAM, 0);
        ready = connect (fd, (struct sockaddr *) &address, sizeof address) == 0;
        close (fd);
        if (!ready)
            usleep (50 * 1000);
    }
    cr_assert (ready, "smtp_sink did not listen on %d", s_sink_port);
    s_extra [0] = "--public-url";
    s_extra [1] = "http://dash.example:8080/";
    s_allow = "127.0.0.1";
    s_start ("open");
}

static void
s_stop_mailing (void)
{
    s_stop_people ();
    if (s_sink > 0)
        tu_stop (s_sink, SIGTERM);
    s_sink = 0;
}

Test (api, an_invitation_is_mailed_through_the_email_channel, .init = s_start_mailing,
      .fini = s_stop_mailing)
{
    json_t *owner = s_signup ("acme", "owner@example.com");
    const char *token = s_str (owner, "access_token");
    json_t *first = s_invite (token, "early@example.com", "viewer");
    cr_assert (json_is_false (json_object_get (json_object_get (first, "invitation_email"),
                                               "sent")));
    cr_assert_str_eq (s_str (first, "invitation_email.error"), "the tenant has no email channel");

    char body [512];
    snprintf (body, sizeof body, "{\"name\": \"ops\", \"kind\": \"email\", \"settings\": "
              "{\"url\": \"smtp://127.0.0.1:%d\", \"starttls\": false, "
              "\"from\": \"drift <drift@acme.example>\", \"to\": [\"ops@acme.example\"]}}",
              s_sink_port);
    cr_assert_eq (s_call ("POST", "/api/v1/channels", token, body, NULL), 201);
    json_t *invited = s_invite (token, "New@Example.com", "admin");
    cr_assert (json_is_true (json_object_get (json_object_get (invited, "invitation_email"),
                                              "sent")), "%s",
               s_str (invited, "invitation_email.error"));
    cr_assert_str_eq (s_str (invited, "invitation_email.channel"), "ops");

    //  The message went to the person invited, not to the channel's list,
    //  and holds the link on the dashboard's address.
    char path [400];
    snprintf (path, sizeof path, "%s/0001.eml", s_mail_dir);
    size_t size;
    char *mail = tu_read_file (path, &size);
    cr_assert (mail, "no message filed in %s", s_mail_dir);
    cr_assert (strstr (mail, "To: new@example.com"), "%s", mail);
    cr_assert (!strstr (mail, "ops@acme.example"), "not to the channel's recipients");
    cr_assert (strstr (mail, "Subject: [drift] You are invited to tenant acme"), "%s", mail);
    const char *link = s_str (invited, "password_link.token");
    char expected [300];
    snprintf (expected, sizeof expected, "http://dash.example:8080/#/set-password/%.20s", link);
    //  Quoted-printable may fold the long link: compare without soft breaks.
    char *flat = mail;
    for (char *in = mail, *out = mail; ; in++) {
        if (in [0] == '=' && in [1] == '\r' && in [2] == '\n')
            in += 2;
        else
        if (in [0] == '=' && in [1] == '\n')
            in += 1;
        else
        if (in [0] == '=' && in [1] == '3' && in [2] == 'D') {
            *out++ = '=';
            in += 2;
        }
        else
            *out++ = *in;
        if (!*in)
            break;
    }
    cr_assert (strstr (flat, expected), "the link is in the mail: %s", flat);
    free (mail);
    cr_assert_eq (s_set_password (link, PASSWORD, NULL), 204);
    cr_assert_eq (s_login ("new@example.com", PASSWORD, NULL), 200);
    json_decref (invited);
    json_decref (first);
    json_decref (owner);
}

//  --------------------------------------------------------------------------
//  The audit log (issue 19, schema 0022; its SQL side and `drift keys` in
//  test_audit.c): each kind of change leaves its entry naming who made it
//  and never a secret, failed logins are recorded without telling who
//  exists, a viewer is refused, a tenant sees its own, pages go newest
//  first by cursor, and a change whose entry cannot be written does not
//  commit.

//  The server with a keypair to issue agents from and loopback channels
//  allowed; the address's failed logins cleared before and after.
static void
s_start_audit (void)
{
    static char keys [400];
    snprintf (keys, sizeof keys, "%s/api-%d/keys", getenv ("DRIFT_TEST_VAR_DIR")
              ? getenv ("DRIFT_TEST_VAR_DIR") : "/tmp", (int) getpid ());
    s_extra [2] = "--keys-dir";
    s_extra [3] = keys;
    s_allow = "127.0.0.1";
    s_clear_failures ();
    s_start_with_token ("open");       // its /metrics is read with the token
    s_allow = NULL;
    int status;
    pid_t init = tu_spawn (NULL, "keys", "init", "--keys-dir", keys, NULL);
    cr_assert_eq (waitpid (init, &status, 0), init);
    cr_assert (WIFEXITED (status) && WEXITSTATUS (status) == 0, "drift keys init failed");
}

static void
s_stop_audit (void)
{
    s_clear_failures ();
    s_stop ();
}

//  A request's status, with its body as text in *text (caller frees).
static int
s_text (const char *method, const char *path, const char *token, const char *body, char **text)
{
    s_res_t res = s_http ((s_req_t) { .method = method, .path = path, .token = token,
                                      .body = body });
    *text = res.raw;
    res.raw = NULL;
    s_res_free (&res);
    return res.status;
}

//  The tenant's log as token reads it, one page of up to 500 entries
//  filtered by query ("" for none): its items (caller frees).
static json_t *
s_audit_log (const char *token, const char *query)
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

//  How many entries of the tenant's log token reads with query.
static size_t
s_audit_count (const char *token, const char *query)
{
    json_t *items = s_audit_log (token, query);
    size_t count = json_array_size (items);
    json_decref (items);
    return count;
}

//  Drop count JSON values, the last references the test held.
static void
s_audit_release (int count, ...)
{
    va_list values;
    va_start (values, count);
    for (int i = 0; i < count; i++)
        json_decref (va_arg (values, json_t *));
    va_end (values);
}

//  The newest entry of action in items, or NULL.
static json_t *
s_audit_entry (json_t *items, const char *action)
{
    size_t index;
    json_t *item;
    json_array_foreach (items, index, item)
        if (strcmp (s_str (item, "action"), action) == 0)
            return item;
    return NULL;
}

//  items has an entry of action by actor (NULL: anyone) on target (NULL:
//  any).
static void
s_audit_expect (json_t *items, const char *action, const char *actor, const char *target)
{
    json_t *item = s_audit_entry (items, action);
    cr_assert (item, "no %s entry in the log", action);
    if (actor)
        cr_assert_str_eq (s_str (item, "actor"), actor, "actor of %s", action);
    if (target)
        cr_assert_str_eq (s_str (item, "target"), target, "target of %s", action);
    cr_assert_str_eq (s_str (item, "source"), "127.0.0.1", "source of %s", action);
}

//  --------------------------------------------------------------------------
//  Each kind of change

Test (audit, each_kind_of_change_is_recorded_with_who_made_it, .init = s_start_audit,
      .fini = s_stop_audit)
{
    json_t *owner = s_signup ("acme", "owner@acme.example");
    const char *owner_id = s_str (owner, "user.id");
    json_t *login;
    cr_assert_eq (s_login ("owner@acme.example", PASSWORD, &login), 200);
    const char *token = s_str (login, "access_token");
    cr_assert_eq (s_login ("owner@acme.example", "not the password", NULL), 401);

    //  People: an invitation, the invited user's password set by the link,
    //  a role change, the owner's own password, a removal.
    json_t *invited;
    cr_assert_eq (s_call ("POST", "/api/v1/users", token,
                          "{\"email\": \"ann@acme.example\", \"role\": \"viewer\"}", &invited),
                  201);
    const char *ann = s_str (invited, "id");
    char body [600], path [200];
    snprintf (body, sizeof body, "{\"token\": \"%s\", \"password\": \"%s\"}",
              s_str (invited, "password_link.token"), PASSWORD);
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
    const char *token_id = s_str (made, "token.id");
    json_t *suppression;
    cr_assert_eq (s_call ("POST", "/api/v1/suppressions", s_str (made, "secret"),
                          "{\"pattern\": \"aws_instance.web\", \"reason\": \"rebuilt nightly\"}",
                          &suppression), 201);
    snprintf (path, sizeof path, "/api/v1/suppressions/%s", s_str (suppression, "id"));
    cr_assert_eq (s_call ("DELETE", path, token, NULL, NULL), 204);
    snprintf (path, sizeof path, "/api/v1/tokens/%s", token_id);
    cr_assert_eq (s_call ("DELETE", path, token, NULL, NULL), 204);

    //  A channel, whose URL path and signing secret are credentials.
    json_t *channel;
    cr_assert_eq (s_call ("POST", "/api/v1/channels", token,
                          "{\"name\": \"ops\", \"kind\": \"webhook\", \"settings\":"
                          " {\"url\": \"http://127.0.0.1:9/hook-path-credential\"}}", &channel),
                  201);
    const char *signing = s_str (channel, "secret");
    cr_assert (signing && *signing);
    snprintf (path, sizeof path, "/api/v1/channels/%s", s_str (channel, "id"));
    cr_assert_eq (s_call ("DELETE", path, token, NULL, NULL), 204);

    //  An agent's key, issued and revoked over the API.
    json_t *agent;
    cr_assert_eq (s_call ("POST", "/api/v1/agents", token, "{\"name\": \"web\"}", &agent), 201);
    const char *agent_id = s_str (agent, "agent.id");
    snprintf (path, sizeof path, "/api/v1/agents/%s", agent_id);
    cr_assert_eq (s_call ("DELETE", path, token, NULL, NULL), 204);

    snprintf (path, sizeof path, "/api/v1/users/%s", ann);
    cr_assert_eq (s_call ("DELETE", path, token, NULL, NULL), 204);

    char token_actor [64];
    snprintf (token_actor, sizeof token_actor, "token:%s", token_id);
    json_t *items = s_audit_log (token, "");
    s_audit_expect (items, "login.success", owner_id, owner_id);
    s_audit_expect (items, "login.failure", "anonymous", "owner@acme.example");
    cr_assert_str_eq (s_str (s_audit_entry (items, "login.failure"), "detail.reason"), "password");
    s_audit_expect (items, "user.invite", owner_id, ann);
    s_audit_expect (items, "password.set", ann, ann);
    cr_assert_str_eq (s_str (s_audit_entry (items, "password.set"), "actor_label"),
                      "ann@acme.example");
    s_audit_expect (items, "user.change", owner_id, ann);
    cr_assert_str_eq (s_str (s_audit_entry (items, "user.change"), "detail.role"), "admin");
    s_audit_expect (items, "password.change", owner_id, owner_id);
    s_audit_expect (items, "token.create", owner_id, token_id);
    s_audit_expect (items, "suppression.create", token_actor, s_str (suppression, "id"));
    cr_assert_str_eq (s_str (s_audit_entry (items, "suppression.create"), "actor_label"),
                      "ci (API token)");
    s_audit_expect (items, "suppression.delete", owner_id, s_str (suppression, "id"));
    s_audit_expect (items, "token.revoke", owner_id, token_id);
    s_audit_expect (items, "channel.create", owner_id, s_str (channel, "id"));
    s_audit_expect (items, "channel.delete", owner_id, s_str (channel, "id"));
    s_audit_expect (items, "agent_key.issue", owner_id, agent_id);
    s_audit_expect (items, "agent_key.revoke", owner_id, agent_id);
    s_audit_expect (items, "user.remove", owner_id, ann);
    cr_assert_str_eq (s_str (s_audit_entry (items, "user.remove"), "detail.email"),
                      "ann@acme.example");

    //  No secret in any entry: not the webhook's URL path, its signing
    //  secret, the API token, a password or the agent's certificate.
    char *dump = json_dumps (items, 0);
    cr_assert_null (strstr (dump, "hook-path-credential"));
    cr_assert_null (strstr (dump, signing));
    cr_assert_null (strstr (dump, s_str (made, "secret")));
    cr_assert_null (strstr (dump, PASSWORD));
    cr_assert_null (strstr (dump, "secret-key"));
    free (dump);

    //  Logout is the last word of a session.
    cr_assert_eq (s_call ("POST", "/api/v1/logout", token, NULL, NULL), 204);
    json_t *again;
    cr_assert_eq (s_login ("owner@acme.example", "a new horse battery", &again), 200);
    json_decref (items);
    items = s_audit_log (s_str (again, "access_token"), "action=logout");
    s_audit_expect (items, "logout", owner_id, owner_id);
    s_audit_release (9, items, again, agent, channel, suppression, made, invited, login, owner);
}

//  --------------------------------------------------------------------------
//  Failed logins

Test (audit, failed_logins_are_recorded_without_telling_who_exists, .init = s_start_audit,
      .fini = s_stop_audit)
{
    json_t *owner = s_signup ("acme", "owner@acme.example");
    char *known = NULL, *unknown = NULL;
    cr_assert_eq (s_text ("POST", "/api/v1/login", NULL, "{\"email\": \"owner@acme.example\","
                          " \"password\": \"not the password\"}", &known), 401);
    cr_assert_eq (s_text ("POST", "/api/v1/login", NULL, "{\"email\": \"nobody@acme.example\","
                          " \"password\": \"not the password\"}", &unknown), 401);
    cr_assert_str_eq (known, unknown, "the answers tell a known address from an unknown one");
    free (known);
    free (unknown);

    //  The tenant sees the attempt on its account, not the other one.
    json_t *items = s_audit_log (s_str (owner, "access_token"), "action=login.failure");
    cr_assert_eq (json_array_size (items), 1);
    s_audit_expect (items, "login.failure", "anonymous", "owner@acme.example");
    json_decref (items);
    //  The unknown address is the operator's to see: no tenant's.
    cr_assert_eq (tu_query_long (s_url, "SELECT count (*) FROM audit_log"
                                        " WHERE tenant_id IS NULL AND action = 'login.failure'"
                                        " AND target = 'nobody@acme.example'"
                                        " AND detail ->> 'reason' = 'unknown'"), 1);
    json_decref (owner);
}

//  The tenant's first entry is its signup; logins refused by the rate limit
//  are recorded, once per client and window however many come.
Test (audit, signup_and_rate_limited_logins_are_recorded_once_per_window, .init = s_start_audit,
      .fini = s_stop_audit)
{
    json_t *owner = s_signup ("limited", "owner@limited.example");
    const char *owner_id = s_str (owner, "user.id");
    const char *token = s_str (owner, "access_token");
    json_t *items = s_audit_log (token, "action=signup");
    cr_assert_eq (json_array_size (items), 1);
    s_audit_expect (items, "signup", owner_id, s_str (owner, "tenant.id"));
    json_decref (items);

    //  5 failures lock the account for the window: the next 4 attempts,
    //  the right password among them, are 429.
    for (int i = 0; i < 5; i++)
        cr_assert_eq (s_login ("owner@limited.example", "not the password", NULL), 401);
    for (int i = 0; i < 3; i++)
        cr_assert_eq (s_login ("owner@limited.example", "not the password", NULL), 429);
    cr_assert_eq (s_login ("owner@limited.example", PASSWORD, NULL), 429);
    items = s_audit_log (token, "action=login.failure");
    int refused = 0, limited = 0;
    for (size_t i = 0; i < json_array_size (items); i++) {
        const char *reason = json_string_value (
            json_object_get (json_object_get (json_array_get (items, i), "detail"), "reason"));
        refused += reason && streq (reason, "password");
        limited += reason && streq (reason, "rate_limited");
    }
    cr_assert_eq (refused, 5, "each wrong password is an entry");
    cr_assert_eq (limited, 1, "four refusals by the rate limit are one entry, not %d", limited);
    s_audit_expect (items, "login.failure", "anonymous", "owner@limited.example");
    json_decref (items);
    json_decref (owner);
}

//  --------------------------------------------------------------------------
//  Who may read it

Test (audit, a_viewer_is_refused_and_a_tenant_sees_only_its_own, .init = s_start_audit,
      .fini = s_stop_audit)
{
    json_t *a = s_signup ("acme", "owner@acme.example");
    json_t *b = s_signup ("globex", "owner@globex.example");
    const char *token_a = s_str (a, "access_token");
    cr_assert_eq (s_call ("POST", "/api/v1/users", token_a,
                          "{\"email\": \"vic@acme.example\", \"role\": \"viewer\","
                          " \"password\": \"" PASSWORD "\"}", NULL), 201);
    json_t *viewer;
    cr_assert_eq (s_login ("vic@acme.example", PASSWORD, &viewer), 200);
    json_t *refused;
    cr_assert_eq (s_call ("GET", "/api/v1/audit", s_str (viewer, "access_token"), NULL,
                          &refused), 403);
    cr_assert (json_object_get (refused, "error"));
    cr_assert_eq (s_call ("GET", "/api/v1/audit", NULL, NULL, NULL), 401);

    //  acme's entries (the user made, the viewer's login) are not globex's.
    json_t *items_a = s_audit_log (token_a, "");
    cr_assert_geq (json_array_size (items_a), 2);
    json_t *items_b = s_audit_log (s_str (b, "access_token"), "");
    size_t index;
    json_t *item;
    json_array_foreach (items_b, index, item)
        cr_assert_str_neq (s_str (item, "target"), "vic@acme.example");
    cr_assert_null (s_audit_entry (items_b, "user.create"));
    cr_assert_null (s_audit_entry (items_b, "login.success"));
    s_audit_release (6, items_a, items_b, refused, viewer, a, b);
}

//  --------------------------------------------------------------------------
//  Pages and filters

Test (audit, pages_newest_first_by_cursor_with_filters_and_csv, .init = s_start_audit,
      .fini = s_stop_audit)
{
    json_t *owner = s_signup ("acme", "owner@acme.example");
    const char *token = s_str (owner, "access_token");
    for (int i = 0; i < 5; i++) {
        char body [160];
        snprintf (body, sizeof body, "{\"pattern\": \"aws_instance.web%d\", \"reason\": \"r\"}", i);
        cr_assert_eq (s_call ("POST", "/api/v1/suppressions", token, body, NULL), 201);
    }
    json_t *all = s_audit_log (token, "action=suppression");
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
    cr_assert_eq (s_audit_count (token, "action=suppression.delete"), 0);
    char query [200];
    snprintf (query, sizeof query, "actor=%s", s_str (owner, "user.id"));
    //  The owner's: its signup and the 5 suppressions.
    cr_assert_eq (s_audit_count (token, query), 6);
    cr_assert_eq (s_audit_count (token, "actor=owner@acme.example"), 6);
    cr_assert_eq (s_audit_count (token, "actor=someone@acme.example"), 0);
    cr_assert_eq (s_audit_count (token, "since=2999-01-01T00:00:00Z"), 0);
    cr_assert_eq (s_audit_count (token, "since=2020-01-01T00:00:00Z&action=suppression"), 5);

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
        cr_assert_str_eq (s_str (json_object_get (reply, "error"), "field"), bad [i][1],
                          "GET %s", path);
        json_decref (reply);
    }

    //  The same page as CSV: a header and one record per entry.
    char *csv = NULL;
    cr_assert_eq (s_text ("GET", "/api/v1/audit?action=suppression&format=csv", token, NULL,
                          &csv), 200);
    cr_assert (strncmp (csv, "id,at,actor,actor_label,action,target,source,detail\r\n", 52) == 0,
               "%s", csv);
    int records = 0;
    for (const char *line = csv; (line = strstr (line, "\r\n")); line += 2)
        records++;
    cr_assert_eq (records, 6, "%s", csv);
    cr_assert (strstr (csv, "suppression.create"));
    free (csv);
    s_audit_release (2, all, owner);
}

//  --------------------------------------------------------------------------
//  A change and its entry are one

Test (audit, a_change_whose_entry_cannot_be_written_does_not_commit, .init = s_start_audit,
      .fini = s_stop_audit)
{
    json_t *owner = s_signup ("acme", "owner@acme.example");
    const char *token = s_str (owner, "access_token");
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
    s_res_t metrics = s_http ((s_req_t) { .method = "GET", .path = "/metrics",
                                          .token = METRICS_TOKEN });
    cr_assert_eq (metrics.status, 200);
    cr_assert (strstr (metrics.raw, "\ndrift_audit_write_failures_total 1\n"), "%s", metrics.raw);
    s_res_free (&metrics);
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
