/*  hosts: Linux network namespaces that stand in for other hosts on one
    machine, for the multi-host test and bench/e2e's scaling passes.

    Each host is a namespace joined to this machine's own by a veth link
    into a bridge that carries only their subnet: this machine is .1 on it,
    host i is .(2 + i). A process started with `ip netns exec NAME` reaches
    this machine only through its link, as a process on another host
    would. Making them needs root; hosts_make says why it could not.
*/
#ifndef BENCH_HOSTS_H_INCLUDED
#define BENCH_HOSTS_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>

#define HOSTS_MAX 8

typedef struct {
    int count;                       // hosts made
    char subnet [16];                // "10.S.N": the hosts' /24
    char bridge [16];                // this machine's bridge
    char names [HOSTS_MAX][32];      // each host's namespace
    char links [HOSTS_MAX][16];      // this machine's end of each host's link
    bool bridge_made;                // something to remove
} hosts_t;

//  Make count hosts (at most HOSTS_MAX) on subnet 10.octet.N, N and the
//  names taken from this process's id, so two processes using different
//  octets never meet. 0, or -1 with the reason in error (size bytes); what
//  was made before a failure is removed.
int hosts_make (hosts_t *self, int count, int octet, char *error, size_t size);

//  Remove the namespaces, links and bridge (safe to call twice).
void hosts_remove (hosts_t *self);

//  Cut host i's link (as a cable pulled): 0, or -1.
int hosts_cut (hosts_t *self, int i);

//  The address of host i on the subnet, or this machine's with i = -1,
//  into address (size bytes).
void hosts_address (const hosts_t *self, int i, char *address, size_t size);

#endif
