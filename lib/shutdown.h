/*  shutdown: how a role process learns it should stop.

    CZMQ's own handler would make every zloop/zpoller return at the first
    SIGINT/SIGTERM, wherever it is; roles instead install this one, which only
    sets a flag, and their loops check it at their own safe points (after
    finishing or handing back the work in hand). libzmq's threads block
    signals, so the main thread is the one interrupted.
*/
#ifndef SHUTDOWN_H_INCLUDED
#define SHUTDOWN_H_INCLUDED

#include <stdbool.h>

//  Replace CZMQ's signal handling with ours; call before any CZMQ socket.
void shutdown_install (void);

//  True once SIGINT or SIGTERM arrived.
bool shutdown_requested (void);

#endif
