/*  metrics_http: serves a metrics registry to Prometheus over HTTP.

    libmicrohttpd with its own polling thread, so a role's loop never
    notices a scrape: GET /metrics renders the registry (text format 0.0.4),
    GET /healthz says whether the role's loops turn and GET /readyz whether
    it has what it needs (lib/health: 200, or 503 naming what is wrong, as
    JSON). Any other path is 404, any other method 405. Rendering runs
    computed gauges' callbacks and readiness probes in that thread (see
    metrics.h, health.h).
*/
#ifndef METRICS_HTTP_H_INCLUDED
#define METRICS_HTTP_H_INCLUDED

#include "metrics.h"

#include <stdbool.h>
#include <sys/socket.h>

typedef struct _metrics_http_t metrics_http_t;

//  Listen on address, "HOST:PORT" with an IPv4 literal or a bracketed IPv6
//  one ("[::1]:9101"); port 0 takes a free one. NULL (with the reason
//  logged) when the address is malformed or cannot be bound.
metrics_http_t *metrics_http_new (const char *address, metrics_t *registry);
void metrics_http_destroy (metrics_http_t **self_p);

//  address ("1.2.3.4:9101" or "[::1]:9101") as a socket address; *ipv6 says
//  which. 0, or -1 when malformed. Every HTTP face of drift (metrics, drift
//  api) takes its address this way.
int metrics_http_parse_address (const char *address, struct sockaddr_storage *storage,
                                bool *ipv6);

#endif
