/*  metrics_http: GET /metrics, /healthz and /readyz on libmicrohttpd. See
    metrics_http.h.

    The daemon runs one internal polling thread, so scrapes are served one
    at a time and a computed gauge's callback never runs twice at once.
    Nothing here logs from that thread: a role's log publisher (lib/link)
    belongs to the role's own thread.
*/
#include "metrics_http.h"
#include "health.h"
#include "log.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct _metrics_http_t {
    struct MHD_Daemon *daemon;      // the server and its thread
    metrics_t *registry;            // what /metrics renders
    int port;                       // the port bound
};

static enum MHD_Result
s_reply (struct MHD_Connection *connection, unsigned int status, const char *type,
         char *body, enum MHD_ResponseMemoryMode mode)
{
    struct MHD_Response *response = MHD_create_response_from_buffer (strlen (body), body,
                                                                      mode);
    if (!response)
        return MHD_NO;
    MHD_add_response_header (response, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
        MHD_add_response_header (response, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
    enum MHD_Result result = MHD_queue_response (connection, status, response);
    MHD_destroy_response (response);
    return result;
}

static enum MHD_Result
s_handle (void *arg, struct MHD_Connection *connection, const char *url, const char *method,
          const char *version, const char *upload_data, size_t *upload_data_size,
          void **request_state)
{
    (void) version;
    (void) upload_data;
    metrics_http_t *self = (metrics_http_t *) arg;
    //  The first call only announces the request; a body (there should be
    //  none) arrives in later calls and is ignored.
    if (!*request_state) {
        *request_state = self;
        return MHD_YES;
    }
    if (*upload_data_size) {
        *upload_data_size = 0;
        return MHD_YES;
    }
    bool known = strcmp (url, "/metrics") == 0 || strcmp (url, "/healthz") == 0
              || strcmp (url, "/readyz") == 0;
    if (!known)
        return s_reply (connection, MHD_HTTP_NOT_FOUND, "text/plain", "not found\n",
                        MHD_RESPMEM_PERSISTENT);
    if (strcmp (method, MHD_HTTP_METHOD_GET) && strcmp (method, MHD_HTTP_METHOD_HEAD))
        return s_reply (connection, MHD_HTTP_METHOD_NOT_ALLOWED, "text/plain",
                        "method not allowed\n", MHD_RESPMEM_PERSISTENT);
    if (strcmp (url, "/healthz") == 0 || strcmp (url, "/readyz") == 0) {
        char *body = NULL;
        int rc = strcmp (url, "/healthz") == 0 ? health_live (&body) : health_ready (&body);
        if (!body)
            return s_reply (connection, MHD_HTTP_INTERNAL_SERVER_ERROR, "text/plain",
                            "cannot render health\n", MHD_RESPMEM_PERSISTENT);
        return s_reply (connection, rc ? MHD_HTTP_SERVICE_UNAVAILABLE : MHD_HTTP_OK,
                        "application/json", body, MHD_RESPMEM_MUST_FREE);
    }
    return s_reply (connection, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8",
                    metrics_render (self->registry), MHD_RESPMEM_MUST_FREE);
}

int
metrics_http_parse_address (const char *address, struct sockaddr_storage *storage, bool *ipv6)
{
    char host [64];
    const char *colon = strrchr (address, ':');
    if (!colon || colon == address || strlen (colon + 1) == 0 || strlen (colon + 1) > 5)
        return -1;
    size_t length = (size_t) (colon - address);
    *ipv6 = address [0] == '[';
    if (*ipv6) {
        if (address [length - 1] != ']' || length - 2 >= sizeof host)
            return -1;
        memcpy (host, address + 1, length - 2);
        host [length - 2] = 0;
    }
    else {
        if (length >= sizeof host)
            return -1;
        memcpy (host, address, length);
        host [length] = 0;
    }
    char *end;
    long port = strtol (colon + 1, &end, 10);
    if (*end || port < 0 || port > 65535)
        return -1;
    memset (storage, 0, sizeof *storage);
    if (*ipv6) {
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *) storage;
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons ((uint16_t) port);
        return inet_pton (AF_INET6, host, &in6->sin6_addr) == 1 ? 0 : -1;
    }
    struct sockaddr_in *in = (struct sockaddr_in *) storage;
    in->sin_family = AF_INET;
    in->sin_port = htons ((uint16_t) port);
    return inet_pton (AF_INET, host, &in->sin_addr) == 1 ? 0 : -1;
}

metrics_http_t *
metrics_http_new (const char *address, metrics_t *registry)
{
    struct sockaddr_storage storage;
    bool ipv6;
    if (!address || metrics_http_parse_address (address, &storage, &ipv6)) {
        log_error ("metrics address must be IPV4:PORT or [IPV6]:PORT", "address", address);
        return NULL;
    }
    metrics_http_t *self = (metrics_http_t *) calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->registry = registry;
    unsigned int flags = MHD_USE_INTERNAL_POLLING_THREAD | (ipv6 ? MHD_USE_IPv6 : 0);
    self->daemon = MHD_start_daemon (flags, 0, NULL, NULL, s_handle, self,
                                     MHD_OPTION_SOCK_ADDR, (struct sockaddr *) &storage,
                                     MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int) 10,
                                     MHD_OPTION_CONNECTION_LIMIT, (unsigned int) 32,
                                     MHD_OPTION_END);
    if (!self->daemon) {
        log_error ("cannot serve metrics: the address is in use or not ours",
                   "address", address);
        free (self);
        return NULL;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info (self->daemon,
                                                            MHD_DAEMON_INFO_BIND_PORT);
    self->port = info ? info->port : 0;
    log_info ("serving metrics", "address", address, "port", LOG_NUM (self->port));
    return self;
}

void
metrics_http_destroy (metrics_http_t **self_p)
{
    metrics_http_t *self = *self_p;
    if (!self)
        return;
    MHD_stop_daemon (self->daemon);
    free (self);
    *self_p = NULL;
}
