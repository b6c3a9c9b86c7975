/*  store_s3: the S3-compatible backend of actors/archive/store; see store_s3.h.

    Every call builds one request on the store's curl handle: curl_easy_reset
    clears the options of the last request but keeps its connection, so a
    busy archive pays one TCP (and TLS) handshake, not one per object.

    Signing is libcurl's CURLOPT_AWS_SIGV4. S3 wants the SHA-256 of the body
    in an x-amz-content-sha256 header, which libcurl 7.88 does not add: we
    compute it with libsodium and add it, and libcurl signs it with our other
    headers and uses it as the payload hash. A PUT hands libcurl the bytes
    as CURLOPT_POSTFIELDS (not copied) with the method set to PUT. Every
    header we pass is signed, even an empty one that only removes a header
    libcurl would add (libcurl then signs "expect:" with no value but sends
    no Expect header), so we pass none of those: libcurl's own
    "Expect: 100-continue" on a larger body is unsigned and harmless.

    Object names are the store's keys verbatim, after the optional prefix.
    Keys hold only [A-Za-z0-9._%-/], all safe in a URL path but `%`, which
    goes out as %25: the key "a%2Fb" is the object "a%2Fb", not "a/b".
    Errors name the method, the key and what the server said (HTTP status
    and the S3 error Code) or why it could not be reached; never a secret.
*/
#include "store_s3.h"
#include "../../lib/curlinit.h"

#include <curl/curl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

//  How much of an error response we keep to find its <Code>.
#define S3_ERROR_BODY_MAX (64 * 1024)

typedef struct {
    CURL *curl;                 // one easy handle: its connection is kept alive
    char *base;                 // URL up to the key: ".../bucket/" plus the prefix
    char *sigv4;                // "aws:amz:REGION:s3" for CURLOPT_AWS_SIGV4
    char *access_key;           // access key id
    char *secret_key;           // secret access key, wiped on destroy
    long timeout_ms;            // per request, connect and transfer
    char curl_error [CURL_ERROR_SIZE];  // libcurl's detail on a failed transfer
} s_s3_t;

//  A response body being received.
typedef struct {
    uint8_t *data;              // the bytes so far, malloc'd (NULL while none)
    size_t size;                // bytes in data
    size_t capacity;            // bytes allocated for data
    size_t limit;               // most bytes accepted; more ends the transfer
    bool too_big;               // the body passed limit
} s_body_t;

//  --------------------------------------------------------------------------
//  Settings

static bool
s_in_set (const char *text, const char *allowed_extra)
{
    for (const char *byte = text; *byte; byte++) {
        char c = *byte;
        bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
        if (!alnum && !strchr (allowed_extra, c))
            return false;
    }
    return true;
}

//  Check config; 0 if every setting is usable, else -1 with the reason.
static int
s_check_config (const store_s3_config_t *config, char *error, size_t error_size)
{
    const char *endpoint = config->endpoint;
    if (!endpoint || !*endpoint) {
        snprintf (error, error_size, "s3 store: no endpoint set (e.g. https://s3.eu-west-1.amazonaws.com)");
        return -1;
    }
    const char *host = strncmp (endpoint, "http://", 7) == 0 ? endpoint + 7
                     : strncmp (endpoint, "https://", 8) == 0 ? endpoint + 8 : NULL;
    //  host[:port] only, with an optional trailing slash: no user, path or query.
    size_t host_length = host ? strlen (host) : 0;
    if (host_length && host [host_length - 1] == '/')
        host_length--;
    bool host_ok = host_length > 0;
    for (size_t index = 0; host_ok && index < host_length; index++)
        host_ok = host [index] > ' ' && host [index] < 127 && !strchr ("/@?#", host [index]);
    if (!host || !host_ok) {
        snprintf (error, error_size,
                  "s3 store: endpoint \"%.200s\" is not scheme://host[:port] (http or https, no path)",
                  endpoint);
        return -1;
    }
    if (!config->region || !*config->region || !s_in_set (config->region, "-")) {
        snprintf (error, error_size, "s3 store: region \"%.64s\" is not a region name like us-east-1",
                  config->region ? config->region : "");
        return -1;
    }
    const char *bucket = config->bucket;
    size_t bucket_length = bucket ? strlen (bucket) : 0;
    if (bucket_length < 3 || bucket_length > 63 || !s_in_set (bucket, ".-")
    ||  !strchr ("abcdefghijklmnopqrstuvwxyz0123456789", bucket [0])
    ||  !strchr ("abcdefghijklmnopqrstuvwxyz0123456789", bucket [bucket_length - 1])) {
        snprintf (error, error_size,
                  "s3 store: bucket \"%.80s\" is not a bucket name (3 to 63 of a-z 0-9 . -)",
                  bucket ? bucket : "");
        return -1;
    }
    for (const char *c = bucket; *c; c++)
        if (*c >= 'A' && *c <= 'Z') {
            snprintf (error, error_size, "s3 store: bucket \"%.80s\" has capitals", bucket);
            return -1;
        }
    if (!config->access_key || !*config->access_key || !s_in_set (config->access_key, "+/=_-")) {
        snprintf (error, error_size, "s3 store: no access key set, or it has bytes an access key id has not");
        return -1;
    }
    if (!config->secret_key || !*config->secret_key) {
        snprintf (error, error_size, "s3 store: no secret key set");
        return -1;
    }
    for (const char *c = config->secret_key; *c; c++)
        if ((unsigned char) *c < ' ' || *c == 127) {
            snprintf (error, error_size, "s3 store: the secret key has control characters");
            return -1;
        }
    if (config->prefix && *config->prefix) {
        char *prefix = strdup (config->prefix);
        size_t length = strlen (prefix);
        while (length > 0 && prefix [length - 1] == '/')
            prefix [--length] = 0;
        bool valid = store_valid_key (prefix);
        free (prefix);
        if (!valid) {
            snprintf (error, error_size,
                      "s3 store: prefix \"%.200s\" is not slash-separated names of [A-Za-z0-9._%%-]",
                      config->prefix);
            return -1;
        }
    }
    if (config->timeout_ms < 0) {
        snprintf (error, error_size, "s3 store: timeout %ld ms is negative", config->timeout_ms);
        return -1;
    }
    return 0;
}

//  Append text to buffer (at *length), with `%` as %25 when escape is set.
static void
s_append (char *buffer, size_t *length, const char *text, size_t text_length, bool escape)
{
    for (size_t index = 0; index < text_length; index++) {
        if (escape && text [index] == '%') {
            memcpy (buffer + *length, "%25", 3);
            *length += 3;
        }
        else
            buffer [(*length)++] = text [index];
    }
    buffer [*length] = 0;
}

//  The URL of every object without its key: scheme://host[:port]/bucket/
//  (path style) or scheme://bucket.host[:port]/, then the prefix and a slash.
static char *
s_base_url (const store_s3_config_t *config)
{
    const char *endpoint = config->endpoint;
    const char *host = strstr (endpoint, "://") + 3;
    size_t scheme_length = (size_t) (host - endpoint);
    size_t host_length = strlen (host);
    if (host_length && host [host_length - 1] == '/')
        host_length--;
    const char *prefix = config->prefix ? config->prefix : "";
    size_t prefix_length = strlen (prefix);
    while (prefix_length > 0 && prefix [prefix_length - 1] == '/')
        prefix_length--;
    size_t capacity = strlen (endpoint) + strlen (config->bucket) + 3 * prefix_length + 8;
    char *base = (char *) malloc (capacity);
    size_t length = 0;
    s_append (base, &length, endpoint, scheme_length, false);
    if (config->path_style) {
        s_append (base, &length, host, host_length, false);
        s_append (base, &length, "/", 1, false);
        s_append (base, &length, config->bucket, strlen (config->bucket), false);
    }
    else {
        s_append (base, &length, config->bucket, strlen (config->bucket), false);
        s_append (base, &length, ".", 1, false);
        s_append (base, &length, host, host_length, false);
    }
    s_append (base, &length, "/", 1, false);
    if (prefix_length) {
        s_append (base, &length, prefix, prefix_length, true);
        s_append (base, &length, "/", 1, false);
    }
    return base;
}

//  --------------------------------------------------------------------------
//  One request

static size_t
s_receive (char *bytes, size_t size, size_t count, void *argument)
{
    s_body_t *body = (s_body_t *) argument;
    size_t more = size * count;
    if (more > body->limit - body->size) {
        body->too_big = true;
        return 0;               // ends the transfer with CURLE_WRITE_ERROR
    }
    if (body->size + more + 1 > body->capacity) {
        size_t capacity = body->capacity ? body->capacity : 16 * 1024;
        while (capacity < body->size + more + 1)
            capacity *= 2;
        uint8_t *grown = (uint8_t *) realloc (body->data, capacity);
        if (!grown)
            return 0;
        body->data = grown;
        body->capacity = capacity;
    }
    memcpy (body->data + body->size, bytes, more);
    body->size += more;
    return more;
}

static bool
s_code_byte (char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
        || c == '.' || c == '-' || c == '_';
}

//  The S3 error Code in an error response's XML, e.g. "NoSuchBucket", into
//  code; empty if there is none.
static void
s_error_code (const s_body_t *body, char *code, size_t code_size)
{
    *code = 0;
    if (!body->data)
        return;
    body->data [body->size] = 0;    // s_receive leaves room for it
    const char *start = strstr ((const char *) body->data, "<Code>");
    if (!start)
        return;
    start += 6;
    size_t length = 0;
    while (length + 1 < code_size && s_code_byte (start [length]))
        length++;
    if (start [length] == '<') {
        memcpy (code, start, length);
        code [length] = 0;
    }
}

//  Send method for key, with body (PUT only) of body_size bytes, receiving
//  the response into response. 0 with the HTTP status in *status once the
//  server answered, -1 with the reason if it could not be reached or the
//  response was too big.
static int
s_request (s_s3_t *self, const char *method, const char *key,
           const uint8_t *body, size_t body_size, s_body_t *response, long *status,
           char *error, size_t error_size)
{
    size_t url_size = strlen (self->base) + 3 * strlen (key) + 1;
    char *url = (char *) malloc (url_size);
    size_t url_length = strlen (self->base);
    memcpy (url, self->base, url_length + 1);
    s_append (url, &url_length, key, strlen (key), true);

    //  x-amz-content-sha256: the hash of the body, of nothing for GET and HEAD.
    uint8_t hash [crypto_hash_sha256_BYTES];
    crypto_hash_sha256 (hash, body ? body : (const uint8_t *) "", body ? body_size : 0);
    char hash_header [32 + 2 * crypto_hash_sha256_BYTES + 1] = "x-amz-content-sha256: ";
    sodium_bin2hex (hash_header + strlen (hash_header), 2 * crypto_hash_sha256_BYTES + 1,
                    hash, sizeof hash);
    struct curl_slist *headers = curl_slist_append (NULL, hash_header);
    if (body)
        headers = curl_slist_append (headers, "Content-Type: application/octet-stream");

    CURL *curl = self->curl;
    curl_easy_reset (curl);
    self->curl_error [0] = 0;
    curl_easy_setopt (curl, CURLOPT_URL, url);
    curl_easy_setopt (curl, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt (curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt (curl, CURLOPT_ERRORBUFFER, self->curl_error);
    curl_easy_setopt (curl, CURLOPT_TIMEOUT_MS, self->timeout_ms);
    curl_easy_setopt (curl, CURLOPT_CONNECTTIMEOUT_MS, self->timeout_ms);
    curl_easy_setopt (curl, CURLOPT_AWS_SIGV4, self->sigv4);
    curl_easy_setopt (curl, CURLOPT_USERNAME, self->access_key);
    curl_easy_setopt (curl, CURLOPT_PASSWORD, self->secret_key);
    curl_easy_setopt (curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt (curl, CURLOPT_WRITEFUNCTION, s_receive);
    curl_easy_setopt (curl, CURLOPT_WRITEDATA, response);
    if (body) {
        curl_easy_setopt (curl, CURLOPT_CUSTOMREQUEST, "PUT");
        curl_easy_setopt (curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t) body_size);
        curl_easy_setopt (curl, CURLOPT_POSTFIELDS, body_size ? (const char *) body : "");
    }
    else
    if (strcmp (method, "HEAD") == 0)
        curl_easy_setopt (curl, CURLOPT_NOBODY, 1L);
    else {
        if (strcmp (method, "DELETE") == 0)
            curl_easy_setopt (curl, CURLOPT_CUSTOMREQUEST, "DELETE");
        curl_easy_setopt (curl, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t) response->limit);
    }

    CURLcode code = curl_easy_perform (curl);
    int rc = 0;
    if (code == CURLE_FILESIZE_EXCEEDED || response->too_big) {
        snprintf (error, error_size, "s3 %s %s: the %s is larger than %zu bytes: refused",
                  method, key, strcmp (method, "GET") == 0 ? "object" : "answer",
                  response->limit);
        rc = -1;
    }
    else
    if (code != CURLE_OK) {
        const char *base_end = strchr (strstr (self->base, "://") + 3, '/');
        snprintf (error, error_size, "s3 %s %s: cannot reach %.*s: %s", method, key,
                  (int) (base_end - self->base), self->base,
                  self->curl_error [0] ? self->curl_error : curl_easy_strerror (code));
        rc = -1;
    }
    else
        curl_easy_getinfo (curl, CURLINFO_RESPONSE_CODE, status);
    //  Our buffers go out of scope: leave the handle pointing at none of them.
    curl_easy_setopt (curl, CURLOPT_HTTPHEADER, NULL);
    curl_easy_setopt (curl, CURLOPT_ERRORBUFFER, NULL);
    curl_slist_free_all (headers);
    free (url);
    return rc;
}

//  The reason for an unexpected HTTP status, into error.
static void
s_http_error (const char *method, const char *key, long status, const s_body_t *response,
              char *error, size_t error_size)
{
    char code [64];
    s_error_code (response, code, sizeof code);
    snprintf (error, error_size, "s3 %s %s: HTTP %ld%s%s", method, key, status,
              *code ? " " : "", code);
}

//  --------------------------------------------------------------------------
//  Backend

static int
s_s3_put (void *state, const char *key, const uint8_t *data, size_t size,
          char *error, size_t error_size)
{
    s_s3_t *self = (s_s3_t *) state;
    s_body_t response = { .limit = S3_ERROR_BODY_MAX };
    long status = 0;
    int rc = s_request (self, "PUT", key, data ? data : (const uint8_t *) "", size,
                        &response, &status, error, error_size);
    if (rc == 0 && (status < 200 || status > 299)) {
        s_http_error ("PUT", key, status, &response, error, error_size);
        rc = -1;
    }
    free (response.data);
    return rc;
}

static int
s_s3_get (void *state, const char *key, uint8_t **data, size_t *size,
          char *error, size_t error_size)
{
    s_s3_t *self = (s_s3_t *) state;
    s_body_t response = { .limit = STORE_S3_MAX_OBJECT };
    long status = 0;
    int rc = s_request (self, "GET", key, NULL, 0, &response, &status, error, error_size);
    char code [64];
    s_error_code (&response, code, sizeof code);
    //  A missing bucket is a broken setting, not a missing object.
    if (rc == 0 && status == 404 && strcmp (code, "NoSuchBucket") != 0)
        rc = 1;
    else
    if (rc == 0 && (status < 200 || status > 299)) {
        s_http_error ("GET", key, status, &response, error, error_size);
        rc = -1;
    }
    else
    if (rc == 0) {
        if (!response.data)
            response.data = (uint8_t *) malloc (1);
        response.data [response.size] = 0;
        *data = response.data;
        *size = response.size;
        return 0;
    }
    free (response.data);
    return rc;
}

static int
s_s3_head (void *state, const char *key, size_t *size, char *error, size_t error_size)
{
    s_s3_t *self = (s_s3_t *) state;
    s_body_t response = { .limit = S3_ERROR_BODY_MAX };
    long status = 0;
    int rc = s_request (self, "HEAD", key, NULL, 0, &response, &status, error, error_size);
    if (rc == 0 && status == 404)
        rc = 1;
    else
    if (rc == 0 && (status < 200 || status > 299)) {
        s_http_error ("HEAD", key, status, &response, error, error_size);
        rc = -1;
    }
    else
    if (rc == 0) {
        curl_off_t length = -1;
        curl_easy_getinfo (self->curl, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &length);
        if (length < 0) {
            snprintf (error, error_size, "s3 HEAD %s: the answer has no Content-Length", key);
            rc = -1;
        }
        else
        if (size)
            *size = (size_t) length;
    }
    free (response.data);
    return rc;
}

//  S3 answers 204 whether or not the object was there; 404 is taken as
//  gone too, unless it is the bucket that is missing.
static int
s_s3_remove (void *state, const char *key, char *error, size_t error_size)
{
    s_s3_t *self = (s_s3_t *) state;
    s_body_t response = { .limit = S3_ERROR_BODY_MAX };
    long status = 0;
    int rc = s_request (self, "DELETE", key, NULL, 0, &response, &status, error, error_size);
    char code [64];
    s_error_code (&response, code, sizeof code);
    bool gone = (status >= 200 && status <= 299)
             || (status == 404 && strcmp (code, "NoSuchBucket") != 0);
    if (rc == 0 && !gone) {
        s_http_error ("DELETE", key, status, &response, error, error_size);
        rc = -1;
    }
    free (response.data);
    return rc;
}

static void
s_s3_destroy (void *state)
{
    s_s3_t *self = (s_s3_t *) state;
    curl_easy_cleanup (self->curl);
    sodium_memzero (self->secret_key, strlen (self->secret_key));
    free (self->secret_key);
    free (self->access_key);
    free (self->sigv4);
    free (self->base);
    free (self);
}

//  A PUT is durable when S3 answers it: no lazy put, nothing to sync.
static const store_backend_t s_s3_backend = {
    "s3", s_s3_put, s_s3_get, s_s3_head, s_s3_destroy, NULL, NULL, s_s3_remove
};

store_t *
store_new_s3 (const store_s3_config_t *config, char *error, size_t error_size)
{
    if (!config) {
        snprintf (error, error_size, "s3 store: no settings");
        return NULL;
    }
    if (s_check_config (config, error, error_size))
        return NULL;
    if (curlinit_once ()) {
        snprintf (error, error_size, "s3 store: cannot initialise libsodium or libcurl");
        return NULL;
    }
    CURL *curl = curl_easy_init ();
    if (!curl) {
        snprintf (error, error_size, "s3 store: cannot create a curl handle");
        return NULL;
    }
    s_s3_t *self = (s_s3_t *) calloc (1, sizeof *self);
    self->curl = curl;
    self->base = s_base_url (config);
    size_t sigv4_size = strlen (config->region) + 16;
    self->sigv4 = (char *) malloc (sigv4_size);
    snprintf (self->sigv4, sigv4_size, "aws:amz:%s:s3", config->region);
    self->access_key = strdup (config->access_key);
    self->secret_key = strdup (config->secret_key);
    self->timeout_ms = config->timeout_ms ? config->timeout_ms : 10000;
    return store_new (&s_s3_backend, self);
}
