/*  element: what a drift item's changes tell about one element of a block
    list (an ingress rule, a GCP allow block) or about the resource itself,
    for score's port predicates.

    The canonical report keeps changed paths only, not whole resources: a
    security group rule whose CIDR changed to 0.0.0.0/0 while its ports did
    not shows `ingress[1].cidr_blocks[0]` and no port. The port is found, in
    order: in a change of the same element (`ingress[1].from_port`), in the
    element added whole (`ingress[1]`), and, when Terraform shifted the
    elements of a set (a rule inserted before another moves that one to the
    next index), in the added element whose values equal the old values of
    this one's changed fields: that element is this one's old self, so its
    unchanged fields are this one's too. Otherwise the ports stay unknown
    and no port rule matches (a rule on `port-any` or without ports does).
*/
#ifndef ELEMENT_H_INCLUDED
#define ELEMENT_H_INCLUDED

#include "drift.pb-c.h"
#include "predicates.h"

#include <stddef.h>

#define ELEMENT_MAX_RANGES 16    // port ranges kept for one element

typedef struct {
    predicates_ports_t ranges [ELEMENT_MAX_RANGES]; // the ranges found
    size_t size;                 // ranges found; 0: unknown
} element_ports_t;

//  The port ranges of the element that change (an index into item's
//  changes) belongs to; size 0 when they are unknown (a value that cannot
//  be parsed, even for want of memory, is not a port).
void element_ports (const Drift__DriftItem *item, size_t change, element_ports_t *ports);

//  ports as text for a reason: "port 22", "ports 8000-8080", "all ports",
//  "ports 22, 3389", "unknown ports". Writes at most size bytes.
void element_ports_text (const element_ports_t *ports, char *text, size_t size);

//  The element prefix of path: "ingress[1]" for "ingress[1].cidr_blocks[0]",
//  "" when path does not start with NAME[INDEX]. Writes at most size bytes.
void element_prefix (const char *path, char *prefix, size_t size);

#endif
