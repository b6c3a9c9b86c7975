/*  link_curve: the agent link over CurveZMQ (proto/AGENT-LINK.md §1-5).

    A DEALER, CURVE client of ingest: HELLO on connect, WELCOME back, then
    Report frames out and Ack/Nack frames in. A server that refuses the
    agent's key (unknown or revoked) is told apart from one that is away by
    the handshake's status on the socket monitor. The delivery logic is the
    uplink's (agent/uplink.c); this is only the transport (agent/link.h).
*/
#ifndef LINK_CURVE_H_INCLUDED
#define LINK_CURVE_H_INCLUDED

#include "link.h"

#include <czmq.h>

//  A CURVE transport to endpoint (tcp://), ingest's public key server_key
//  (Z85, 40 characters), with the agent's keypair cert (not owned). -1 if
//  the settings are unusable.
int link_curve_new (link_t *link, const char *endpoint, const char *server_key, zcert_t *cert);

#endif
