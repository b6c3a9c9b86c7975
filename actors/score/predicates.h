/*  predicates: the value tests score's rules are made of, on parsed values.

    A drift matters for security when a source opens to the whole Internet,
    a port range reaches a sensitive port, a policy grants everything to
    everyone, or a protection is switched off. Each of those is decided here
    on the value itself: CIDRs are parsed with inet_pton and compared as
    prefixes (not as strings, so 0.0.0.0/0, ::/0 and 10.1.2.3/0 are all the
    world and 10.0.0.0/8 is not), port ranges are parsed from the shapes
    providers write them in, and policy documents are parsed as JSON (lib/
    jdoc), whether held as objects or as JSON strings inside attributes.

    Input comes from drift reports, so nothing here asserts on it: a
    malformed value is simply not a match (or -1 where the caller asks).
*/
#ifndef PREDICATES_H_INCLUDED
#define PREDICATES_H_INCLUDED

#include "../../lib/jdoc.h"

#include <stdbool.h>
#include <stdint.h>

//  An IPv4 or IPv6 prefix.
typedef struct {
    int family;                  // AF_INET or AF_INET6
    uint8_t bytes [16];          // the address (4 bytes used for IPv4)
    int prefix;                  // prefix length, 0..32 or 0..128
} predicates_cidr_t;

//  Parse "ADDRESS/LENGTH" (a bare address is a host prefix). Returns 0, or
//  -1 when text is not a CIDR.
int predicates_cidr_parse (const char *text, predicates_cidr_t *cidr);

//  Whether outer contains every address of inner (same family only).
bool predicates_cidr_contains (const predicates_cidr_t *outer, const predicates_cidr_t *inner);

//  Whether text is a CIDR that contains 0.0.0.0/0 or ::/0: 1 yes, 0 no,
//  -1 not a CIDR.
int predicates_cidr_is_world (const char *text);

//  Whether text names every source: a world CIDR, or the words Azure and
//  others use for it ("*", "Internet", "Any", case-insensitive).
bool predicates_source_is_world (const char *text);

//  A port range; all covers every port of every protocol.
typedef struct {
    int from;                    // first port, 0..65535
    int to;                      // last port, from..65535
    bool all;                    // every port (protocol -1/all, "*")
} predicates_ports_t;

//  Parse a range written "22", "20-30" or "*". Returns 0, or -1.
int predicates_ports_parse (const char *text, predicates_ports_t *ports);

//  A range from AWS-style from/to ports and a protocol (NULL when unknown):
//  protocol "-1" or "all" covers every port; from 0 to 65535 (or -1) too.
int predicates_ports_from_to (int64_t from, int64_t to, const char *protocol,
                              predicates_ports_t *ports);

bool predicates_ports_include (const predicates_ports_t *ports, int port);

//  Wildcards a policy can grant, as a mask.
#define PREDICATES_WILD_ACTION    1  // "Action": "*" (or "*:*")
#define PREDICATES_WILD_RESOURCE  2  // "Resource": "*"
#define PREDICATES_WILD_PRINCIPAL 4  // "Principal": "*" or {"AWS": "*"}

//  The wildcards granted by Allow statements (an absent Effect counts as
//  Allow) of the policy documents in json, a value given as JSON text (a
//  change's before or after): a policy object, a JSON string holding one,
//  or an object or array holding either at any depth (an inline_policy
//  block with its policy string). Statement may be one object or an array;
//  Action, Resource and Principal a string or a list. Returns the mask, 0
//  when none or when json does not parse.
unsigned predicates_policy_wildcards_text (const char *json);

#endif
