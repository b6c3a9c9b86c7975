/*  egress: resolve a channel's host once, refuse internal addresses, pin
    the connection to what was checked; see egress.h.

    The check is on addresses, never on how the host is spelled: the host
    is handed to getaddrinfo, which reads every IPv4 spelling inet_aton
    knows (decimal, octal, hex, short forms) as the address it means, and
    the answer is what is judged. A host with several addresses is refused
    if any one is internal, since curl may try any of them.
*/
#include "egress.h"
#include "../../lib/metrics.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define EGRESS_ADDRESSES_MAX 16        // addresses of one host kept (and pinned)

struct _egress_t {
    struct sockaddr_storage addresses [EGRESS_ADDRESSES_MAX]; // what the host resolved to
    int count;                          // how many
    struct curl_slist *resolve;         // "host:port:addr,addr" for CURLOPT_RESOLVE
};

//  --------------------------------------------------------------------------
//  Addresses

//  Whether the IPv4 address (host order) is public.
static bool
s_ipv4_public (uint32_t a)
{
    static const struct { uint32_t net; int bits; } internal [] = {
        { 0x00000000, 8 },   // 0/8 "this network", 0.0.0.0 unspecified
        { 0x0A000000, 8 },   // 10/8 private
        { 0x64400000, 10 },  // 100.64/10 carrier-grade NAT
        { 0x7F000000, 8 },   // 127/8 loopback
        { 0xA9FE0000, 16 },  // 169.254/16 link-local, metadata 169.254.169.254
        { 0xAC100000, 12 },  // 172.16/12 private
        { 0xC0000000, 24 },  // 192.0.0/24 protocol assignments
        { 0xC0000200, 24 },  // 192.0.2/24 documentation
        { 0xC0586300, 24 },  // 192.88.99/24 6to4 relay
        { 0xC0A80000, 16 },  // 192.168/16 private
        { 0xC6120000, 15 },  // 198.18/15 benchmarking
        { 0xC6336400, 24 },  // 198.51.100/24 documentation
        { 0xCB007100, 24 },  // 203.0.113/24 documentation
        { 0xE0000000, 4 },   // 224/4 multicast
        { 0xF0000000, 4 },   // 240/4 reserved, 255.255.255.255 broadcast
    };
    for (size_t i = 0; i < sizeof internal / sizeof internal [0]; i++) {
        uint32_t mask = 0xFFFFFFFFu << (32 - internal [i].bits);
        if ((a & mask) == internal [i].net)
            return false;
    }
    return true;
}

static uint32_t
s_ipv4_at (const uint8_t *bytes)
{
    return (uint32_t) bytes [0] << 24 | (uint32_t) bytes [1] << 16
         | (uint32_t) bytes [2] << 8 | (uint32_t) bytes [3];
}

static bool
s_ipv6_public (const uint8_t *b)
{
    static const uint8_t zero [16] = { 0 };
    //  :: unspecified and ::1 loopback; ::a.b.c.d (IPv4-compatible,
    //  deprecated) carries an IPv4 address some stacks still route.
    if (memcmp (b, zero, 12) == 0)
        return false;
    //  ::ffff:a.b.c.d (IPv4-mapped): the IPv4 address is what is reached.
    static const uint8_t mapped [12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF };
    if (memcmp (b, mapped, 12) == 0)
        return s_ipv4_public (s_ipv4_at (b + 12));
    //  64:ff9b::/96 NAT64: the gateway connects to the embedded IPv4.
    static const uint8_t nat64 [12] = { 0, 0x64, 0xFF, 0x9B, 0, 0, 0, 0, 0, 0, 0, 0 };
    if (memcmp (b, nat64, 12) == 0)
        return s_ipv4_public (s_ipv4_at (b + 12));
    //  2002::/16 6to4: bytes 2-5 are an IPv4 address.
    if (b [0] == 0x20 && b [1] == 0x02)
        return s_ipv4_public (s_ipv4_at (b + 2));
    if (b [0] == 0xFF)                                  // ff00::/8 multicast
        return false;
    if (b [0] == 0xFE && (b [1] & 0xC0) == 0x80)        // fe80::/10 link-local
        return false;
    if (b [0] == 0xFE && (b [1] & 0xC0) == 0xC0)        // fec0::/10 site-local (old)
        return false;
    if ((b [0] & 0xFE) == 0xFC)                         // fc00::/7 unique-local
        return false;
    if (b [0] == 0x20 && b [1] == 0x01 && b [2] == 0x0D && b [3] == 0xB8)
        return false;                                   // 2001:db8::/32 documentation
    if (b [0] == 0x01 && b [1] == 0 && memcmp (b + 2, zero, 6) == 0)
        return false;                                   // 100::/64 discard
    return true;
}

bool
egress_address_public (const struct sockaddr *address)
{
    if (!address)
        return false;
    if (address->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *) address;
        return s_ipv4_public (ntohl (in->sin_addr.s_addr));
    }
    if (address->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *) address;
        return s_ipv6_public (in6->sin6_addr.s6_addr);
    }
    return false;
}

//  --------------------------------------------------------------------------
//  Hosts

//  Count a refusal: an operator sees probes of the network as they come.
static void
s_count_refusal (const char *reason)
{
    metric_inc (metrics_counter (metrics_default (), "drift_channel_egress_refused_total",
        "Channel connections refused before they were made (a host that is internal, or "
        "does not resolve)", "reason", reason, NULL));
}

//  Whether host is one of the comma-separated names in list.
static bool
s_allowed (const char *host, const char *list)
{
    size_t length = strlen (host);
    while (list && *list) {
        list += strspn (list, " ,");
        size_t name = strcspn (list, ",");
        size_t trimmed = name;
        while (trimmed > 0 && list [trimmed - 1] == ' ')
            trimmed--;
        if (trimmed == length && trimmed > 0 && strncasecmp (list, host, length) == 0)
            return true;
        list += name;
    }
    return false;
}

static long
s_default_port (const char *scheme)
{
    if (strcasecmp (scheme, "https") == 0)
        return 443;
    if (strcasecmp (scheme, "smtp") == 0)
        return 25;
    if (strcasecmp (scheme, "smtps") == 0)
        return 465;
    return 80;
}

egress_t *
egress_check (const char *url, const char *allow_hosts, char *error, size_t error_size)
{
    CURLU *parsed = curl_url ();
    char *scheme = NULL, *host = NULL, *port_text = NULL;
    egress_t *self = NULL;
    struct addrinfo *found = NULL;
    if (!parsed
    ||  curl_url_set (parsed, CURLUPART_URL, url ? url : "", CURLU_NON_SUPPORT_SCHEME)
        != CURLUE_OK
    ||  curl_url_get (parsed, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK
    ||  curl_url_get (parsed, CURLUPART_HOST, &host, 0) != CURLUE_OK
    ||  !*host || strlen (host) >= EGRESS_HOST_MAX) {
        snprintf (error, error_size, "the URL has no usable host");
        goto done;
    }
    curl_url_get (parsed, CURLUPART_PORT, &port_text, 0);
    long port = port_text ? atol (port_text) : s_default_port (scheme);
    //  getaddrinfo wants an IPv6 literal without its brackets.
    char name [EGRESS_HOST_MAX];
    size_t length = strlen (host);
    if (host [0] == '[' && length > 2 && host [length - 1] == ']')
        snprintf (name, sizeof name, "%.*s", (int) (length - 2), host + 1);
    else
        snprintf (name, sizeof name, "%s", host);
    struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM };
    int rc = getaddrinfo (name, NULL, &hints, &found);
    if (rc) {
        snprintf (error, error_size, "the host %s does not resolve", host);
        s_count_refusal ("unresolved");
        goto done;
    }
    bool allowed = s_allowed (host, allow_hosts) || s_allowed (name, allow_hosts);
    self = (egress_t *) calloc (1, sizeof *self);
    char entry [EGRESS_HOST_MAX + 32 + EGRESS_ADDRESSES_MAX * (INET6_ADDRSTRLEN + 3)];
    int used = snprintf (entry, sizeof entry, "%s:%ld:", name, port);
    for (struct addrinfo *at = found; at && self->count < EGRESS_ADDRESSES_MAX; at = at->ai_next) {
        if (at->ai_family != AF_INET && at->ai_family != AF_INET6)
            continue;
        if (!allowed && !egress_address_public (at->ai_addr)) {
            snprintf (error, error_size, "the host %s is an internal address, which channels "
                      "may not reach (an operator may allow it with --egress-allow-hosts)", host);
            s_count_refusal ("internal");
            egress_destroy (&self);
            goto done;
        }
        bool seen = false;
        for (int i = 0; i < self->count && !seen; i++)
            seen = memcmp (&self->addresses [i], at->ai_addr, at->ai_addrlen) == 0;
        if (seen)
            continue;
        memcpy (&self->addresses [self->count++], at->ai_addr, at->ai_addrlen);
        char text [INET6_ADDRSTRLEN];
        const void *raw = at->ai_family == AF_INET
            ? (const void *) &((struct sockaddr_in *) at->ai_addr)->sin_addr
            : (const void *) &((struct sockaddr_in6 *) at->ai_addr)->sin6_addr;
        inet_ntop (at->ai_family, raw, text, sizeof text);
        used += snprintf (entry + used, sizeof entry - (size_t) used, "%s%s%s%s",
                          self->count > 1 ? "," : "", at->ai_family == AF_INET6 ? "[" : "",
                          text, at->ai_family == AF_INET6 ? "]" : "");
    }
    if (self->count == 0) {
        snprintf (error, error_size, "the host %s has no IPv4 or IPv6 address", host);
        egress_destroy (&self);
        goto done;
    }
    //  An IPv6 literal is not resolved by curl; the socket check holds it.
    self->resolve = host [0] == '[' ? NULL : curl_slist_append (NULL, entry);
    if (host [0] != '[' && !self->resolve) {
        snprintf (error, error_size, "out of memory");
        egress_destroy (&self);
    }
done:
    if (found)
        freeaddrinfo (found);
    curl_free (scheme);
    curl_free (host);
    curl_free (port_text);
    curl_url_cleanup (parsed);
    return self;
}

void
egress_destroy (egress_t **self_p)
{
    egress_t *self = *self_p;
    if (!self)
        return;
    curl_slist_free_all (self->resolve);
    free (self);
    *self_p = NULL;
}

//  --------------------------------------------------------------------------
//  The connection

//  libcurl's socket opener: only to an address that was checked.
static curl_socket_t
s_open_socket (void *argument, curlsocktype purpose, struct curl_sockaddr *address)
{
    egress_t *self = (egress_t *) argument;
    if (purpose != CURLSOCKTYPE_IPCXN)
        return CURL_SOCKET_BAD;
    bool checked = false;
    for (int i = 0; i < self->count && !checked; i++) {
        const struct sockaddr *known = (const struct sockaddr *) &self->addresses [i];
        if (known->sa_family != address->addr.sa_family)
            continue;
        if (known->sa_family == AF_INET)
            checked = ((const struct sockaddr_in *) known)->sin_addr.s_addr
                   == ((const struct sockaddr_in *) &address->addr)->sin_addr.s_addr;
        else
            checked = memcmp (&((const struct sockaddr_in6 *) known)->sin6_addr,
                              &((const struct sockaddr_in6 *) &address->addr)->sin6_addr,
                              sizeof (struct in6_addr)) == 0;
    }
    if (!checked)
        return CURL_SOCKET_BAD;
    return socket (address->family, address->socktype, address->protocol);
}

int
egress_apply (egress_t *self, void *handle)
{
    CURL *curl = (CURL *) handle;
    //  A proxy from the environment would make the checked address moot.
    if (curl_easy_setopt (curl, CURLOPT_PROXY, "") != CURLE_OK
    ||  curl_easy_setopt (curl, CURLOPT_RESOLVE, self->resolve) != CURLE_OK
    ||  curl_easy_setopt (curl, CURLOPT_OPENSOCKETFUNCTION, s_open_socket) != CURLE_OK
    ||  curl_easy_setopt (curl, CURLOPT_OPENSOCKETDATA, self) != CURLE_OK)
        return -1;
    return 0;
}
