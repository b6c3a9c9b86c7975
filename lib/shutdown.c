/*  shutdown: SIGINT/SIGTERM set a flag; see shutdown.h. */
#include "shutdown.h"

#include <czmq.h>
#include <signal.h>

static volatile sig_atomic_t s_requested;

static void
s_on_signal (int signal_number)
{
    (void) signal_number;
    s_requested = 1;
}

void
shutdown_install (void)
{
    zsys_handler_set (NULL);
    struct sigaction action;
    memset (&action, 0, sizeof action);
    action.sa_handler = s_on_signal;
    sigemptyset (&action.sa_mask);
    sigaction (SIGINT, &action, NULL);
    sigaction (SIGTERM, &action, NULL);
    signal (SIGPIPE, SIG_IGN);
}

bool
shutdown_requested (void)
{
    return s_requested != 0;
}
