/*  audit: the tenant's audit log (schema 0022), written in the same
    transaction as the change it records, so a change without its entry
    cannot commit, and read by GET /api/v1/audit (api/audit_list.c).

    Who acts and from where is set once per transaction (the API server,
    for each request) or per connection (a `drift` command): an entry
    names only its action, target and detail. Details never hold a secret.
    The SQL callers' twin is drift_audit (action, target, detail) in 0022.
*/
#ifndef API_AUDIT_H_INCLUDED
#define API_AUDIT_H_INCLUDED

#include "api.h"

#include <jansson.h>
#include <libpq-fe.h>
#include <stdbool.h>

//  Who acts on conn: actor (a user id, "token:ID", "cli:NAME"), label (an
//  email or name for people reading the log, may be NULL) and source (the
//  client's address, "local"). For the transaction only (the API: the
//  pooled connection serves other callers next), or for the session when
//  session is set (a `drift` command's own connection). 0 or -1.
int audit_actor_set (PGconn *conn, const char *actor, const char *label, const char *source,
                     bool session);

//  The actor of a `drift` command: "cli:" and the OS user running it,
//  source "local", for conn's session. 0 or -1.
int audit_actor_cli (PGconn *conn);

//  One entry in the tenant set on conn (drift_set_tenant), by the actor
//  set above: action ("channel.create"), target (an id or name, NULL for
//  none), detail (an object; taken, NULL for none). Inside the caller's
//  transaction. 0, or -1 (logged) when the database refused it: the
//  caller fails its request so the change rolls back with it.
int audit_record (PGconn *conn, const char *action, const char *target, json_t *detail);

//  The same in tenant (an id) rather than the one set on conn: for a
//  `drift` command that acts across tenants as the operator (a drift_app
//  connection may still write only into the tenant set).
int audit_record_in (PGconn *conn, const char *tenant, const char *action, const char *target,
                     json_t *detail);

//  The same for an API handler: a 500 in *reply when it failed, else 0.
int audit_call (api_call_t *call, json_t **reply, const char *action, const char *target,
                json_t *detail);

//  A failed login with the address tried: recorded in the tenant of the
//  account it names, or in none (seen by the operator only), without
//  telling the caller which. 0 or -1.
int audit_login_failure (PGconn *conn, const char *email, const char *source,
                         const char *reason);

//  GET /api/v1/audit (api/audit_list.c).
api_handler_fn api_audit_list;

#endif
