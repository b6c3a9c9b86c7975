/*  hosts: network namespaces as hosts (see hosts.h). */
#include "hosts.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

//  Run a shell command: 0 when it succeeded.
static int
s_sh (const char *format, ...)
{
    char command [1024];
    va_list args;
    va_start (args, format);
    vsnprintf (command, sizeof command, format, args);
    va_end (args);
    int status = system (command);
    return WIFEXITED (status) ? WEXITSTATUS (status) : -1;
}

//  Delete whatever of the names exists (quietly: some may not).
static void
s_delete (const hosts_t *self)
{
    for (int i = 0; i < self->count; i++) {
        s_sh ("ip link del %s 2>/dev/null", self->links [i]);
        s_sh ("ip netns del %s 2>/dev/null", self->names [i]);
    }
    s_sh ("ip link del %s 2>/dev/null", self->bridge);
}

void
hosts_remove (hosts_t *self)
{
    if (self->bridge_made)
        s_delete (self);
    self->bridge_made = false;
}

static int
s_fail (hosts_t *self, char *error, size_t size, const char *reason)
{
    snprintf (error, size, "%s", reason);
    hosts_remove (self);
    return -1;
}

int
hosts_make (hosts_t *self, int count, int octet, char *error, size_t size)
{
    memset (self, 0, sizeof *self);
    if (count < 1 || count > HOSTS_MAX)
        return s_fail (self, error, size, "between 1 and HOSTS_MAX hosts");
    if (geteuid () != 0)
        return s_fail (self, error, size, "network namespaces need root");
    int id = (int) (getpid () % 200) + 20;
    snprintf (self->subnet, sizeof self->subnet, "10.%d.%d", octet, id);
    snprintf (self->bridge, sizeof self->bridge, "drbr%d-%d", octet, id);
    self->count = count;
    for (int i = 0; i < count; i++) {
        snprintf (self->names [i], sizeof self->names [i], "drift-%c-%d-%d", 'b' + i, octet,
                  (int) getpid ());
        snprintf (self->links [i], sizeof self->links [i], "drv%c%d-%d", 'b' + i, octet, id);
    }
    //  Links of these names are this process id's own, left by a run that
    //  died: removed first.
    s_delete (self);
    if (s_sh ("ip link add %s type bridge", self->bridge))
        return s_fail (self, error, size,
                       "this machine does not allow a bridge (ip link add type bridge)");
    self->bridge_made = true;
    if (s_sh ("ip addr add %s.1/24 dev %s && ip link set %s up", self->subnet, self->bridge,
              self->bridge))
        return s_fail (self, error, size, "cannot address the bridge");
    for (int i = 0; i < count; i++) {
        if (s_sh ("ip netns add %s", self->names [i]))
            return s_fail (self, error, size,
                           "this machine does not allow network namespaces (ip netns add)");
        if (s_sh ("ip link add %s type veth peer name %sp && "
                  "ip link set %sp netns %s && "
                  "ip link set %s master %s && ip link set %s up && "
                  "ip -n %s link set lo up && "
                  "ip -n %s link set %sp name eth0 && "
                  "ip -n %s addr add %s.%d/24 dev eth0 && ip -n %s link set eth0 up",
                  self->links [i], self->links [i], self->links [i], self->names [i],
                  self->links [i], self->bridge, self->links [i], self->names [i],
                  self->names [i], self->links [i], self->names [i], self->subnet, 2 + i,
                  self->names [i]))
            return s_fail (self, error, size, "cannot link a host to the bridge");
    }
    return 0;
}

int
hosts_cut (hosts_t *self, int i)
{
    return i >= 0 && i < self->count && s_sh ("ip link set %s down", self->links [i]) == 0
         ? 0 : -1;
}

void
hosts_address (const hosts_t *self, int i, char *address, size_t size)
{
    snprintf (address, size, "%s.%d", self->subnet, i < 0 ? 1 : 2 + i);
}
