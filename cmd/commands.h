/*  commands: the subcommands of the `drift` executable, one file each. Every
    one takes (argc, argv) with argv [0] its own name and returns the exit
    code. The dispatcher (drift.c) calls them; the helpers and option tables
    they share (cmd_load and friends, below the entry points) are defined in
    common.c, so no subcommand depends on the dispatcher.
*/
#ifndef COMMANDS_H_INCLUDED
#define COMMANDS_H_INCLUDED

#include "../actors/actors.h"
#include "../lib/metrics_http.h"
#include "check.h"
#include "read_all.h"

#include <libpq-fe.h>

//  drift api: the dashboard's HTTP API (docs/API.md).
int cmd_api (int argc, char **argv);
int cmd_broker (int argc, char **argv);
int cmd_archive_get (int argc, char **argv);
int cmd_channel (int argc, char **argv);
int cmd_user (int argc, char **argv);
//  drift token: a tenant's API tokens: create, list, revoke.
int cmd_token (int argc, char **argv);
int cmd_ingest (int argc, char **argv);
int cmd_keys (int argc, char **argv);
int cmd_actor (const actor_def_t *actor, int argc, char **argv);
//  drift normalize --input: one document normalized and printed as JSON.
int cmd_normalize_input (config_t *config);
int cmd_migrate (int argc, char **argv);
//  drift prune: retention of reports, their objects and resolved drift.
int cmd_prune (int argc, char **argv);
int cmd_replay (int argc, char **argv);
int cmd_replayer (int argc, char **argv);
int cmd_status (int argc, char **argv);
int cmd_tail (int argc, char **argv);
int cmd_tenant (int argc, char **argv);

//  Options of every role that talks to brokers.
#define CMD_BROKER_OPTIONS \
    { "broker", CONFIG_STRING, "tcp://127.0.0.1:5555", "broker endpoints, comma separated" }, \
    { "heartbeat-ms", CONFIG_INT, "1000", "heartbeat interval, both ways" }, \
    { "liveness", CONFIG_INT, "3", "heartbeats missed before a broker counts as dead" }, \
    CMD_BROKER_CURVE_OPTIONS

//  This role's CURVE keypair and the broker's public key; cmd_load makes
//  every broker link of a command that has them a CURVE client.
#define CMD_BROKER_CURVE_OPTIONS \
    { "broker-cert", CONFIG_STRING, "", \
      "this role's CURVE keypair for the broker (KEYS-DIR/roles/ROLE.key; \"\" = plaintext)" }, \
    { "broker-key", CONFIG_STRING, "/var/lib/drift/keys/broker.key", \
      "the broker's public key file (KEYS-DIR/broker.key), with --broker-cert" }

//  The database every role that needs one connects to.
#define CMD_DATABASE_OPTION \
    { "database", CONFIG_STRING, "postgresql://127.0.0.1:5432/drift", \
      "PostgreSQL connection URL (keep passwords in the environment: DRIFT_DATABASE)" }

//  The Redis that caches the agent key registry and keeps rate limits.
#define CMD_REDIS_OPTION \
    { "redis", CONFIG_STRING, "redis://127.0.0.1:6379", \
      "Redis URL, redis://[:PASSWORD@]HOST:PORT[/DB] (env DRIFT_REDIS)" }

//  Where the ingest server's CURVE keypair lives (drift keys init writes it).
#define CMD_KEYS_DIR_OPTION \
    { "keys-dir", CONFIG_STRING, "/var/lib/drift/keys", \
      "directory of the server's CURVE keypair (server.key, server.key_secret)" }

//  What the operator, never a tenant, decides for notification channels:
//  the key their SMTP passwords are sealed under, and the hosts they may
//  reach though internal (actors/notify/egress). Used by api, notify and channel.
#define CMD_CHANNEL_OPTIONS \
    { "channel-key", CONFIG_STRING, "", \
      "channel.key (drift keys init): seals channels' SMTP passwords (\"\" = none: channels " \
      "with a password are refused)" }, \
    { "egress-allow-hosts", CONFIG_STRING, "", \
      "hosts (comma separated, as written in channel URLs) channels may reach though they " \
      "resolve to internal addresses" }

//  The keyring of config's "channel-key" into *keyring (NULL when it is
//  ""): 0, or -1 with the reason printed for role (a key that cannot be
//  used stops the role rather than refuse every password later).
struct _seal_keyring_t;
int cmd_channel_key (config_t *config, const char *role, struct _seal_keyring_t **keyring);

//  Where a role serves Prometheus metrics (lib/metrics_http).
#define CMD_METRICS_OPTION \
    { "metrics", CONFIG_STRING, "", \
      "serve /metrics, /healthz and /readyz on IPV4:PORT or [IPV6]:PORT (\"\" = off)" }

//  How long a role's loop may go without turning before /healthz answers
//  503 (lib/health.h says why the default is what it is).
#define CMD_STALL_OPTION \
    { "stall-ms", CONFIG_INT, "30000", \
      "/healthz answers 503 when a loop of this role has not turned for this long" }

//  Start serving the default metrics registry where config's "metrics"
//  says, after recording the role in drift_build_info. 0 with *server set
//  (NULL when metrics are off), or -1 when the address cannot be served.
int cmd_metrics_start (config_t *config, const char *role, metrics_http_t **server);

//  What /healthz and /readyz of a role with loops check (lib/health): the
//  stall bound from config's "stall-ms", a broker link that has answered
//  (if broker), and probes of PostgreSQL at database and Redis at redis
//  (either NULL or "" for none). 0, or -1 when stall-ms is below 100.
//  cmd_health_stop removes what it added.
int cmd_health_start (config_t *config, bool broker, const char *database, const char *redis);
void cmd_health_stop (void);

//  BEGIN on conn and set the tenant named name (or with that id) for the
//  transaction (row-level security), its id into id [37]; 0, 1 when there
//  is no such tenant (said on stderr for command), -1 when the query failed.
int cmd_tenant_begin (PGconn *conn, const char *command, const char *name, char id [37]);

//  Load a command's settings (config_load) and start its logging from them.
//  NULL when the command should exit with *exit_code.
config_t *cmd_load (const char *role, const char *summary, const config_option_t *options,
                    int argc, char **argv, int *exit_code);

#endif
