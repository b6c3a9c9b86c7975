/*  predicates: value tests for score's rules; see predicates.h.
*/
#define _GNU_SOURCE
#include "predicates.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

//  Policies nest inside attributes a few levels at most; deeper is not a
//  policy we read (and it bounds the recursion on hostile input).
#define S_MAX_DEPTH 16

//  --------------------------------------------------------------------------
//  CIDRs

int
predicates_cidr_parse (const char *text, predicates_cidr_t *cidr)
{
    if (!text || !cidr)
        return -1;
    char address [64];
    const char *slash = strchr (text, '/');
    size_t length = slash ? (size_t) (slash - text) : strlen (text);
    if (length == 0 || length >= sizeof address)
        return -1;
    memcpy (address, text, length);
    address [length] = 0;
    memset (cidr, 0, sizeof *cidr);
    int max;
    if (inet_pton (AF_INET, address, cidr->bytes) == 1) {
        cidr->family = AF_INET;
        max = 32;
    }
    else
    if (inet_pton (AF_INET6, address, cidr->bytes) == 1) {
        cidr->family = AF_INET6;
        max = 128;
    }
    else
        return -1;
    cidr->prefix = max;
    if (slash) {
        const char *digits = slash + 1;
        if (!*digits || strlen (digits) > 3)
            return -1;
        int prefix = 0;
        for (const char *c = digits; *c; c++) {
            if (!isdigit ((unsigned char) *c))
                return -1;
            prefix = prefix * 10 + (*c - '0');
        }
        if (prefix > max)
            return -1;
        cidr->prefix = prefix;
    }
    return 0;
}

bool
predicates_cidr_contains (const predicates_cidr_t *outer, const predicates_cidr_t *inner)
{
    if (!outer || !inner || outer->family != inner->family || outer->prefix > inner->prefix)
        return false;
    int bits = outer->prefix;
    int whole = bits / 8;
    if (memcmp (outer->bytes, inner->bytes, (size_t) whole) != 0)
        return false;
    int rest = bits % 8;
    if (rest) {
        uint8_t mask = (uint8_t) (0xFF << (8 - rest));
        if ((outer->bytes [whole] & mask) != (inner->bytes [whole] & mask))
            return false;
    }
    return true;
}

int
predicates_cidr_is_world (const char *text)
{
    predicates_cidr_t cidr, world;
    if (predicates_cidr_parse (text, &cidr))
        return -1;
    predicates_cidr_parse (cidr.family == AF_INET ? "0.0.0.0/0" : "::/0", &world);
    return predicates_cidr_contains (&cidr, &world) ? 1 : 0;
}

bool
predicates_source_is_world (const char *text)
{
    if (!text)
        return false;
    if (predicates_cidr_is_world (text) == 1)
        return true;
    return strcmp (text, "*") == 0 || strcasecmp (text, "Internet") == 0
        || strcasecmp (text, "Any") == 0;
}

//  --------------------------------------------------------------------------
//  Port ranges

//  A port number of 1 to 5 digits within 0..65535, or -1.
static int
s_port (const char *text, size_t length)
{
    if (length == 0 || length > 5)
        return -1;
    int port = 0;
    for (size_t i = 0; i < length; i++) {
        if (!isdigit ((unsigned char) text [i]))
            return -1;
        port = port * 10 + (text [i] - '0');
    }
    return port <= 65535 ? port : -1;
}

int
predicates_ports_parse (const char *text, predicates_ports_t *ports)
{
    if (!text || !ports)
        return -1;
    if (strcmp (text, "*") == 0) {
        *ports = (predicates_ports_t) { 0, 65535, true };
        return 0;
    }
    const char *dash = strchr (text, '-');
    int from = s_port (text, dash ? (size_t) (dash - text) : strlen (text));
    int to = dash ? s_port (dash + 1, strlen (dash + 1)) : from;
    if (from < 0 || to < 0 || to < from)
        return -1;
    *ports = (predicates_ports_t) { from, to, from == 0 && to == 65535 };
    return 0;
}

int
predicates_ports_from_to (int64_t from, int64_t to, const char *protocol,
                          predicates_ports_t *ports)
{
    if (!ports)
        return -1;
    if (protocol && (strcmp (protocol, "-1") == 0 || strcasecmp (protocol, "all") == 0)) {
        *ports = (predicates_ports_t) { 0, 65535, true };
        return 0;
    }
    //  AWS writes -1 for "all" in ICMP rules and some imports.
    if (from == -1 && to == -1) {
        *ports = (predicates_ports_t) { 0, 65535, true };
        return 0;
    }
    if (from < 0 || to < from || to > 65535)
        return -1;
    *ports = (predicates_ports_t) { (int) from, (int) to, from == 0 && to == 65535 };
    return 0;
}

bool
predicates_ports_include (const predicates_ports_t *ports, int port)
{
    return ports && (ports->all || (port >= ports->from && port <= ports->to));
}

//  --------------------------------------------------------------------------
//  Policy documents

static bool
s_is_wild_string (const jdoc_value_t *value, bool action)
{
    const char *text = jdoc_string (value, NULL);
    return text && (strcmp (text, "*") == 0 || (action && strcmp (text, "*:*") == 0));
}

//  A string "*" or a list holding one.
static bool
s_has_wild (const jdoc_value_t *value, bool action)
{
    if (jdoc_type (value) == JDOC_ARRAY) {
        for (size_t i = 0; i < jdoc_size (value); i++)
            if (s_is_wild_string (jdoc_at (value, i), action))
                return true;
        return false;
    }
    return s_is_wild_string (value, action);
}

//  Principal "*", or an object whose member (AWS, Service, ...) is "*" or
//  a list holding "*".
static bool
s_principal_wild (const jdoc_value_t *value)
{
    if (jdoc_type (value) == JDOC_OBJECT) {
        for (size_t i = 0; i < jdoc_size (value); i++)
            if (s_has_wild (jdoc_at (value, i), false))
                return true;
        return false;
    }
    return s_has_wild (value, false);
}

static unsigned
s_statement (const jdoc_value_t *statement)
{
    if (jdoc_type (statement) != JDOC_OBJECT)
        return 0;
    const char *effect = jdoc_string (jdoc_get (statement, "Effect"), NULL);
    if (effect && strcasecmp (effect, "Allow") != 0)
        return 0;
    unsigned mask = 0;
    if (s_has_wild (jdoc_get (statement, "Action"), true))
        mask |= PREDICATES_WILD_ACTION;
    if (s_has_wild (jdoc_get (statement, "Resource"), false))
        mask |= PREDICATES_WILD_RESOURCE;
    if (s_principal_wild (jdoc_get (statement, "Principal")))
        mask |= PREDICATES_WILD_PRINCIPAL;
    return mask;
}

static unsigned s_walk (const jdoc_value_t *value, int depth);

//  A string that looks like a JSON object: parse it and walk it.
static unsigned
s_walk_string (const jdoc_value_t *value, int depth)
{
    size_t length;
    const char *text = jdoc_string (value, &length);
    size_t skip = 0;
    while (skip < length && isspace ((unsigned char) text [skip]))
        skip++;
    if (skip == length || text [skip] != '{')
        return 0;
    jdoc_limits_t limits = { S_MAX_DEPTH, 0 };
    jdoc_error_t error;
    jdoc_t *document = jdoc_parse (text, length, &limits, &error);
    if (!document)
        return 0;
    unsigned mask = s_walk (jdoc_root (document), depth + 1);
    jdoc_destroy (&document);
    return mask;
}

static unsigned
s_walk (const jdoc_value_t *value, int depth)
{
    if (depth > S_MAX_DEPTH)
        return 0;
    unsigned mask = 0;
    switch (jdoc_type (value)) {
        case JDOC_STRING:
            return s_walk_string (value, depth);
        case JDOC_ARRAY:
            for (size_t i = 0; i < jdoc_size (value); i++)
                mask |= s_walk (jdoc_at (value, i), depth + 1);
            return mask;
        case JDOC_OBJECT: {
            const jdoc_value_t *statement = jdoc_get (value, "Statement");
            if (statement) {
                if (jdoc_type (statement) == JDOC_ARRAY)
                    for (size_t i = 0; i < jdoc_size (statement); i++)
                        mask |= s_statement (jdoc_at (statement, i));
                else
                    mask |= s_statement (statement);
                return mask;
            }
            for (size_t i = 0; i < jdoc_size (value); i++)
                mask |= s_walk (jdoc_at (value, i), depth + 1);
            return mask;
        }
        default:
            return 0;
    }
}

unsigned
predicates_policy_wildcards_text (const char *json)
{
    if (!json || !*json)
        return 0;
    jdoc_limits_t limits = { S_MAX_DEPTH, 0 };
    jdoc_error_t error;
    jdoc_t *document = jdoc_parse (json, strlen (json), &limits, &error);
    if (!document)
        return 0;
    unsigned mask = s_walk (jdoc_root (document), 0);
    jdoc_destroy (&document);
    return mask;
}
