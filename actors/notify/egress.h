/*  egress: where a tenant's channel may make this server connect.

    A channel's URL is a tenant admin's input, but the connection is made
    from inside the server's network: without a check, a webhook or SMTP
    URL naming 127.0.0.1, a private address or the cloud metadata service
    turns a channel (and its test button) into a probe of that network.
    So before a send the host is resolved once (getaddrinfo), every address
    it resolves to must be public, and the connection is pinned to those
    addresses (CURLOPT_RESOLVE) and checked again as the socket is opened
    (CURLOPT_OPENSOCKETFUNCTION), so a DNS answer that changes between the
    check and the connect cannot take the send elsewhere. Every spelling of
    an address (decimal 2130706433, octal 0177.0.0.1, hex 0x7f000001,
    IPv4-mapped ::ffff:127.0.0.1) ends as the same address and is refused
    as such.

    Refused: unspecified, loopback, RFC 1918, CGNAT 100.64/10, link-local
    169.254/16 (the metadata service 169.254.169.254 among them) and
    fe80::/10, unique-local fc00::/7, multicast, reserved and documentation
    ranges, and IPv6 forms that carry such an IPv4 address (mapped,
    compatible, NAT64 64:ff9b::/96, 6to4 2002::/16).

    The operator, never a tenant, may allow named hosts (`--egress-allow-hosts`
    of drift api, drift notify and drift channel): a host named there, as
    it is written in the URL (case-insensitive), is connected to whatever
    it resolves to. The project's tests send to receivers on 127.0.0.1,
    and an install may keep its SMTP relay on the internal network: that
    is what the list is for.
*/
#ifndef EGRESS_H_INCLUDED
#define EGRESS_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#define EGRESS_HOST_MAX 256            // bytes of a host name kept

typedef struct _egress_t egress_t;

//  The check of one URL's host, ready to be applied to a curl handle.
//  NULL with the reason in error when the URL has no host, the host does
//  not resolve, or (unless allow_hosts, comma-separated, names it) any of
//  its addresses is not public. default_port is used when the URL has
//  none (443 for https, 80 for http, 25 for smtp, 465 for smtps).
egress_t *egress_check (const char *url, const char *allow_hosts, char *error,
                        size_t error_size);
void egress_destroy (egress_t **self_p);

//  Pin curl (a CURL *) to the checked addresses and refuse, as each socket
//  is opened, an address that is not one of them. self must outlive the
//  transfer. 0, or -1 if curl refused the options.
int egress_apply (egress_t *self, void *curl);

//  Whether address is public: not in any range listed above.
bool egress_address_public (const struct sockaddr *address);

#endif
