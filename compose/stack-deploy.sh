#!/usr/bin/env bash
# compose/stack-deploy.sh -- deploy (or update) the Swarm stack of an
# installation made by scripts/install.sh (compose/README.md, "Swarm").
#
# Usage: compose/stack-deploy.sh [--publish] DIR [STACK]
#   DIR        the installation: .env, secrets/, docker-stack.yml
#   STACK      the stack's name (default drift): services STACK_broker, ...
#   --publish  also deploy DIR/docker-stack.publish.yml (the agent, broker
#              and api ports, on every node's every address)
#
# What the stack file cannot take from .env, this writes under
# DIR/secrets/swarm/ (0700; files 0600), from .env's passwords: the
# PostgreSQL, Redis and drift_service passwords, the owner's pgpass for
# dbrole, and the roles' configuration files (DRIFT_CONFIG) holding their
# database and Redis URLs, so no password is in a service's environment or
# command line. `docker stack deploy` then makes them Swarm secrets.
# The data services are placed on a node labelled drift.data=1: when no node
# has the label, this node (a manager) gets it.
# Run on a Swarm manager, with the images present on every node. The
# settings of .env are exported to `docker stack deploy` (it reads no .env).
# DRIFT_RESOLVE_IMAGE: --resolve-image of docker stack deploy (default
# always; never for images only built locally, as the Swarm test does).
set -euo pipefail

PUBLISH=0
if [[ ${1:-} == --publish ]]; then PUBLISH=1; shift; fi
DIR=${1:?usage: compose/stack-deploy.sh [--publish] DIR [STACK]}
STACK=${2:-drift}
say() { printf '[stack-deploy] %s\n' "$*" >&2; }
die() { say "ERROR: $*"; exit 1; }

[[ -f $DIR/.env && -f $DIR/docker-stack.yml ]] \
    || die "$DIR has no .env or docker-stack.yml: run scripts/install.sh $DIR first"
[[ "$(docker info --format '{{.Swarm.ControlAvailable}}' 2>/dev/null)" == true ]] \
    || die "this Docker engine is not a Swarm manager (docker swarm init)"

# .env's settings, exported as they are: lines KEY=VALUE, never evaluated
# (METRICS_AUTH_HASH holds '$').
while IFS= read -r line; do
    [[ $line =~ ^([A-Z_][A-Z0-9_]*)=(.*)$ ]] || continue
    export "${BASH_REMATCH[1]}=${BASH_REMATCH[2]}"
done <"$DIR/.env"
for key in POSTGRES_PASSWORD DRIFT_SERVICE_PASSWORD REDIS_PASSWORD; do
    [[ -n ${!key:-} ]] || die "$DIR/.env sets no $key (rerun scripts/install.sh $DIR)"
done

# The files the stack's secrets are made from. Rewritten at each deploy: the
# same content makes no new secret; a changed one needs a new secret name
# (Swarm's secrets are immutable), so `docker stack deploy` refuses it.
SWARM=$DIR/secrets/swarm
install -d -m 0700 "$SWARM"
write() {  # NAME: stdin into SWARM/NAME, 0600
    (umask 077 && cat >"$SWARM/$1.new") && mv -f "$SWARM/$1.new" "$SWARM/$1"
}
printf '%s' "$POSTGRES_PASSWORD" | write postgres_password
printf '%s' "$REDIS_PASSWORD" | write redis_password
printf '%s' "$DRIFT_SERVICE_PASSWORD" | write service_password
printf 'postgres:5432:drift:drift:%s\n' "$POSTGRES_PASSWORD" | write owner.pgpass
printf '# the owner (migrate)\ndatabase = postgresql://drift:%s@postgres:5432/drift\n' \
    "$POSTGRES_PASSWORD" | write owner.conf
printf '# the stages: drift_service (row-level security holds)\ndatabase = postgresql://drift_service:%s@postgres:5432/drift\n' \
    "$DRIFT_SERVICE_PASSWORD" | write service.conf
{
    printf '# ingest, notify, api: drift_service and Redis\n'
    printf 'database = postgresql://drift_service:%s@postgres:5432/drift\n' "$DRIFT_SERVICE_PASSWORD"
    printf 'redis = redis://:%s@redis:6379\n' "$REDIS_PASSWORD"
} | write service-redis.conf

if [[ -z $(docker node ls --filter node.label=drift.data=1 -q) ]]; then
    docker node update --label-add drift.data=1 "$(docker info --format "{{.Swarm.NodeID}}")" >/dev/null
    say "no node had the label drift.data=1: this one ($(docker info --format '{{.Name}}')) has it now (PostgreSQL, Redis)"
fi

files=(-c "$DIR/docker-stack.yml")
[[ $PUBLISH == 1 ]] && files+=(-c "$DIR/docker-stack.publish.yml")
say "docker stack deploy ${files[*]} $STACK"
cd "$DIR"
# DRIFT_RESOLVE_IMAGE=never: images built on this node, no registry asked.
exec docker stack deploy --resolve-image "${DRIFT_RESOLVE_IMAGE:-always}" "${files[@]}" "$STACK"
