#!/usr/bin/env bash
# scripts/install.sh -- first-time set-up of the compose deployment in DIR
# (default ./drift-install). Safe to rerun: nothing that exists is overwritten,
# and what is kept is said ("kept").
#
#   DIR/.env                 (0600) settings and generated secrets: POSTGRES_PASSWORD,
#                            DRIFT_SERVICE_PASSWORD, REDIS_PASSWORD,
#                            GRAFANA_ADMIN_PASSWORD, METRICS_PASSWORD (+ its bcrypt hash)
#   DIR/secrets/             (0700)
#     jwt.secret             (0600) drift api's HS256 secret for access tokens, 64 hex digits
#     keys/archive.key       (0600) archive's AES-256-GCM key, 64 hex digits
#     keys/mask.key          (0600) normalize's key for markers of secrets
#     keys/server.key        the server's CURVE public key (agents need it)
#     keys/server.key_secret (0600) the server's CURVE keypair, for ingest only
#     keys/channel.key       (0600) the key channels' SMTP passwords are sealed under
#                            (drift api and notify: --channel-key)
#     owner_password         (0600) the first tenant's owner's dashboard password
#     s3_secret_key          (0600) the S3 secret key when DRIFT_STORE=s3 (generated:
#                            replace it with your store's, compose/README.md)
#     keys/broker.key, broker.key_secret (0600)  the broker's CURVE keypair
#     keys/roles/ROLE.key, ROLE.key_secret (0600) each role's key for the broker
#     keys/broker-roles/     (0700) the role public keys the broker lets in
#   DIR/docker-compose.yml, Caddyfile, prometheus.yml, grafana/   (from compose/)
#   DIR/docker-stack.yml, docker-stack.publish.yml   (from compose/: the Swarm
#                            stack, deployed by compose/stack-deploy.sh DIR)
#   DIR/agents/              (0700) agent certificates issued here
#
# The CURVE keypair is made with `drift keys init`, from DRIFT_BIN, else `drift`
# on PATH, else build/release/drift of this checkout, else the compose image
# (when docker is there). When docker is there it also starts PostgreSQL and
# Redis, migrates, creates the services' login role, the first tenant and an
# agent key, and the tenant's first owner (DRIFT_OWNER_EMAIL, with the
# password in DIR/secrets/owner_password), so the first agent's reports are
# in the first user's dashboard; without docker it prints those commands. It
# always prints the next steps; it never prints a secret (they stay in
# DIR/.env and DIR/secrets).
#
# Run it as root on the docker host: the key files are handed to uid 10001,
# the user the drift image runs as (DRIFT_CONTAINER_UID to change it).
#
# Usage: scripts/install.sh [DIR]
# Environment:
#   DRIFT_BIN               the drift binary for `drift keys init`
#   DRIFT_DOMAIN            public DNS name of this host (default: localhost), for
#                           Caddy's certificate and the agents' endpoint
#   DRIFT_TENANT            first tenant (default: default)
#   DRIFT_AGENT             first agent of that tenant (default: agent-1)
#   DRIFT_OWNER_EMAIL       the first tenant's owner login (default: admin@DRIFT_DOMAIN)
#   COMPOSE_FILE            compose's own list of files (a:b), used instead of
#                           DIR/docker-compose.yml when set (an override file)
#   any other non-secret setting of compose/.env.example (DRIFT_HTTPS_PORT, ...)
#                           goes into a new .env with the environment's value
#   DRIFT_INSTALL_NO_DOCKER=1  never use docker, only print what to run with it
# Exit: 0 done (next steps printed), 1 a real error (cannot write, a command failed).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
COMPOSE_SRC="$ROOT/compose"
DIR=${1:-./drift-install}
CONTAINER_UID=${DRIFT_CONTAINER_UID:-10001}
DOMAIN=${DRIFT_DOMAIN:-localhost}
TENANT=${DRIFT_TENANT:-default}
AGENT=${DRIFT_AGENT:-agent-1}
OWNER_EMAIL=${DRIFT_OWNER_EMAIL:-admin@$DOMAIN}

case "${1:-}" in
    -h|--help) sed -n '2,46p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
esac
[[ $# -le 1 ]] || { echo "usage: scripts/install.sh [DIR]" >&2; exit 2; }

say() { printf 'install: %s\n' "$*"; }
die() { printf 'install: ERROR: %s\n' "$*" >&2; exit 1; }

umask 077
mkdir -p "$DIR" || die "cannot create $DIR"
DIR=$(cd "$DIR" && pwd)
SECRETS="$DIR/secrets"
KEYS="$SECRETS/keys"
AGENTS="$DIR/agents"

# A random secret as hex: openssl if present, else the kernel's generator.
random_hex() {  # BYTES
    if command -v openssl >/dev/null; then
        openssl rand -hex "$1"
    else
        od -An -v -tx1 -N"$1" /dev/urandom | tr -d ' \n'
        echo
    fi
}

# Create FILE (mode 0600) from stdin only if it does not exist: written to a
# temporary file, then hard-linked into place (fails if FILE appeared
# meanwhile), so an existing secret is never replaced, not even by two runs.
create_exclusive() {  # FILE
    local file=$1 tmp
    tmp=$(mktemp "$(dirname "$file")/.install.XXXXXX") || die "cannot write in $(dirname "$file")"
    if ! { cat >"$tmp" && chmod 0600 "$tmp"; }; then
        rm -f "$tmp"
        die "cannot write $tmp"
    fi
    if ln "$tmp" "$file" 2>/dev/null; then
        rm -f "$tmp"
        return 0
    fi
    rm -f "$tmp"
    [[ -e $file ]] || die "cannot create $file"
    return 1
}

private_dir() {  # DIR
    if [[ -d $1 ]]; then
        say "kept $1/"
    else
        mkdir -p "$1" || die "cannot create $1"
        say "created $1/ (0700)"
    fi
    chmod 0700 "$1"
}

# ---------------------------------------------------------------- .env

# bcrypt hash of stdin's password, base64-encoded (as Caddy's basicauth takes
# it; base64 keeps the hash's '$' away from compose's interpolation).
bcrypt_b64() {
    local py hash=""
    for py in /usr/bin/python3 python3; do
        command -v "$py" >/dev/null || continue
        hash=$("$py" -W ignore -c 'import crypt, sys
print(crypt.crypt(sys.stdin.readline().strip(), crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=1 << 12)))' 2>/dev/null) \
            && [[ $hash == \$2* ]] && break
        hash=""
    done
    if [[ -z $hash ]] && command -v htpasswd >/dev/null; then
        hash=$(htpasswd -niBC 12 metrics 2>/dev/null | cut -d: -f2-)
    fi
    [[ -n $hash ]] || return 1
    printf '%s' "$hash" | base64 -w0
}

# The value of KEY in .env (empty if absent).
env_value() { sed -n "s/^$1=//p" "$DIR/.env" | tail -n1; }

SECRET_KEYS=(POSTGRES_PASSWORD DRIFT_SERVICE_PASSWORD REDIS_PASSWORD
             GRAFANA_ADMIN_PASSWORD METRICS_PASSWORD DRIFT_PROXY_SECRET)

# One line of .env for KEY: a fresh secret, or the installation's value, or
# the default from compose/.env.example.
env_line() {  # KEY DEFAULT
    local key=$1 default=$2
    case "$key" in
        POSTGRES_PASSWORD|DRIFT_SERVICE_PASSWORD|REDIS_PASSWORD|GRAFANA_ADMIN_PASSWORD|METRICS_PASSWORD|DRIFT_PROXY_SECRET)
            echo "$key=$(random_hex 24)" ;;
        METRICS_AUTH_HASH) echo "$key=" ;;   # filled in from METRICS_PASSWORD below
        DRIFT_SOURCE) echo "$key=$ROOT" ;;
        DRIFT_DOMAIN) echo "$key=$DOMAIN" ;;
        # A setting given in the environment is taken (an unattended install,
        # the compose test's ports); the example's default otherwise.
        *) echo "$key=${!key:-$default}" ;;
    esac
}

write_env() {
    [[ -f $COMPOSE_SRC/.env.example ]] || die "$COMPOSE_SRC/.env.example is missing"
    if [[ ! -e $DIR/.env ]]; then
        {
            echo "# drift compose settings, made by scripts/install.sh on $(date -u +%Y-%m-%d)."
            echo "# Secrets: keep this file 0600, never commit it. Defaults: compose/.env.example."
            local line key
            while IFS= read -r line; do
                if [[ $line =~ ^([A-Z0-9_]+)= ]]; then
                    key=${BASH_REMATCH[1]}
                    env_line "$key" "${line#*=}"
                elif [[ $line != "# compose/.env.example"* && $line != "# writes the real"* \
                        && $line != "# The values below"* ]]; then
                    echo "$line"
                fi
            done <"$COMPOSE_SRC/.env.example"
        } | create_exclusive "$DIR/.env" || true
        say "created $DIR/.env (0600): passwords and secrets generated"
    else
        say "kept $DIR/.env"
        # Settings a newer compose file reads but this .env lacks are added
        # (never changed): an upgrade keeps working.
        local line key added=()
        while IFS= read -r line; do
            [[ $line =~ ^([A-Z0-9_]+)= ]] || continue
            key=${BASH_REMATCH[1]}
            grep -q "^$key=" "$DIR/.env" && continue
            env_line "$key" "${line#*=}" >>"$DIR/.env" || die "cannot append to $DIR/.env"
            added+=("$key")
        done <"$COMPOSE_SRC/.env.example"
        [[ ${#added[@]} -eq 0 ]] || say "added to $DIR/.env: ${added[*]}"
        if grep -q '^DRIFT_JWT_SECRET=' "$DIR/.env"; then
            say "DRIFT_JWT_SECRET in $DIR/.env is no longer read (drift api's is secrets/jwt.secret): remove it"
        fi
    fi
    chmod 0600 "$DIR/.env"
    if [[ -z $(env_value METRICS_AUTH_HASH) ]]; then
        local hash
        if hash=$(env_value METRICS_PASSWORD | bcrypt_b64); then
            sed -i "s|^METRICS_AUTH_HASH=\$|METRICS_AUTH_HASH=$hash|" "$DIR/.env"
        else
            say "WARNING: no python3 (crypt) or htpasswd to hash METRICS_PASSWORD: set METRICS_AUTH_HASH"
            say "  in $DIR/.env to the base64 of \`docker run --rm caddy:2.8.4 caddy hash-password\`"
        fi
    fi
    local key
    for key in "${SECRET_KEYS[@]}"; do
        [[ -n $(env_value "$key") ]] || die "$DIR/.env has no value for $key"
    done
}

# ---------------------------------------------------------------- secrets

# KEYS/NAME: 32 random bytes as 64 hex digits and a newline, 0600 (the format
# `drift keys init` writes, so it keeps these).
secret_key() {  # NAME PURPOSE
    if random_hex 32 | create_exclusive "$KEYS/$1"; then
        say "created $KEYS/$1 (0600, $2)"
    else
        say "kept $KEYS/$1"
    fi
}

find_drift() {
    if [[ -n ${DRIFT_BIN:-} ]]; then
        [[ -x $DRIFT_BIN ]] || die "DRIFT_BIN=$DRIFT_BIN is not an executable"
        echo "$DRIFT_BIN"
    elif command -v drift >/dev/null; then
        command -v drift
    elif [[ -x $ROOT/build/release/drift ]]; then
        echo "$ROOT/build/release/drift"
    fi
}

have_docker() {
    [[ ${DRIFT_INSTALL_NO_DOCKER:-0} != 1 ]] || return 1
    command -v docker >/dev/null && docker info >/dev/null 2>&1 || return 1
    if docker compose version >/dev/null 2>&1; then
        COMPOSE=(docker compose --project-directory "$DIR")
    elif command -v docker-compose >/dev/null; then
        COMPOSE=(docker-compose --project-directory "$DIR")
    else
        return 1
    fi
    # COMPOSE_FILE (compose's own variable) names the files when set, e.g.
    # with an override; -f would make compose ignore it.
    [[ -n ${COMPOSE_FILE:-} ]] || COMPOSE+=(-f "$DIR/docker-compose.yml")
}

KEYPAIR=missing
server_keypair() {
    local drift
    drift=$(find_drift)
    # The broker's and the roles' keypairs came later than the server's: an
    # older install gets them from drift keys init, which keeps what exists.
    if [[ -e $KEYS/server.key_secret && -e $KEYS/server.key && -e $KEYS/broker.key_secret ]]; then
        say "kept $KEYS/server.key and server.key_secret, the broker's and the roles' keys"
        KEYPAIR=ok
        return 0
    fi
    # drift keys init runs as root and reads the keypairs that exist with
    # drift's secret reader, which refuses a file another user owns: the
    # keys an earlier run handed to the containers' user are taken back
    # (hand_over gives them to it again right after).
    if [[ $EUID -eq 0 ]]; then
        chown -R 0:0 "$KEYS" || die "cannot chown $KEYS back to root for drift keys init"
    fi
    if [[ -n $drift ]]; then
        "$drift" keys init --keys-dir "$KEYS" >/dev/null || die "drift keys init failed"
        say "created the server's CURVE keypair in $KEYS (server.key_secret 0600)"
        KEYPAIR=ok
    elif [[ $USE_DOCKER == 1 ]]; then
        say "building the drift image for drift keys init (first time: a few minutes)"
        "${COMPOSE[@]}" build migrate >/dev/null || die "docker compose build failed"
        "${COMPOSE[@]}" run --rm --no-deps --user 0:0 -v "$KEYS:/keys" migrate \
            keys init --keys-dir /keys >/dev/null || die "drift keys init (in the image) failed"
        say "created the server's CURVE keypair in $KEYS (server.key_secret 0600)"
        KEYPAIR=ok
    else
        say "no drift binary and no docker: the server's CURVE keypair is not made yet"
    fi
}

# The secrets belong to the user the drift image runs as: the key files are
# 0600 and archive refuses a wider key file.
hand_over() {
    [[ $EUID -eq 0 ]] || return 0
    local f
    for f in "$KEYS"/server.key "$KEYS"/server.key_secret "$KEYS"/mask.key "$KEYS"/archive.key \
             "$KEYS"/channel.key "$KEYS"/broker.key "$KEYS"/broker.key_secret \
             "$KEYS"/roles "$KEYS"/roles/* "$KEYS"/broker-roles "$KEYS"/broker-roles/* \
             "$SECRETS"/jwt.secret "$SECRETS"/s3_secret_key "$SECRETS"/proxy.secret; do
        if [[ -e $f ]]; then
            chown "$CONTAINER_UID:$CONTAINER_UID" "$f" || die "cannot chown $f"
        fi
    done
}

# ---------------------------------------------------------------- compose files

copy_file() {  # RELATIVE-PATH
    local src="$COMPOSE_SRC/$1" dst="$DIR/$1"
    # 0755, not the script's umask 077: the containers read these files as
    # their own users (Grafana as uid 472, Prometheus as nobody).
    (umask 022 && mkdir -p "$(dirname "$dst")")
    if [[ ! -e $dst ]]; then
        install -m 0644 "$src" "$dst" || die "cannot copy $src"
        say "copied $1"
    elif cmp -s "$src" "$dst"; then
        say "kept $1"
    else
        install -m 0644 "$src" "$dst.new" || die "cannot copy $src"
        say "kept $1 (yours differs; this release's is $1.new: compare and merge)"
    fi
}

copy_compose() {
    local f
    copy_file docker-compose.yml
    copy_file docker-stack.yml
    copy_file docker-stack.publish.yml
    copy_file Caddyfile
    copy_file Caddyfile.agents
    copy_file Caddyfile.agents-timeouts
    copy_file Caddyfile.swarm
    copy_file prometheus.yml
    while IFS= read -r f; do
        copy_file "${f#"$COMPOSE_SRC"/}"
    done < <(find "$COMPOSE_SRC/grafana" -type f | sort)
    # Also folders an older install.sh made 0700 (Grafana could not read them).
    chmod 0755 "$DIR"
    find "$DIR/grafana" -type d -exec chmod 0755 {} + || die "cannot chmod $DIR/grafana"
}

# ---------------------------------------------------------------- first start

# The first tenant's owner, OWNER_EMAIL, with the password of
# secrets/owner_password: sign-up makes a new tenant, so without this login
# the first agent's reports would be in no user's dashboard. The file is
# read by `drift user add` in the image (as root, it is 0600 and ours).
first_owner() {
    local rc=0 out
    out=$("${COMPOSE[@]}" run --rm --no-deps --user 0:0 \
        -v "$SECRETS/owner_password:/run/secrets/owner_password:ro" migrate \
        user add "$TENANT" "$OWNER_EMAIL" --role owner \
        --password-file /run/secrets/owner_password 2>&1) || rc=$?
    case $rc in
        0) say "added the owner $OWNER_EMAIL of tenant '$TENANT' (password: $SECRETS/owner_password)" ;;
        1) if [[ $out == *"already has an account"* ]]; then
               say "kept the owner $OWNER_EMAIL of tenant '$TENANT'"
           else
               die "drift user add $TENANT $OWNER_EMAIL refused: $out"
           fi ;;
        *) die "drift user add $TENANT $OWNER_EMAIL failed (exit $rc): $out" ;;
    esac
}

FIRST_TENANT=pending
first_start() {
    local redis_url rc cert_dir=/out
    say "starting PostgreSQL and Redis"
    "${COMPOSE[@]}" up -d postgres redis >/dev/null || die "docker compose up postgres redis failed"
    say "migrating (drift migrate) and creating the services' login role"
    "${COMPOSE[@]}" run --rm migrate >/dev/null || die "drift migrate failed"
    "${COMPOSE[@]}" run --rm --no-deps dbrole >/dev/null || die "creating drift_service failed"
    rc=0
    "${COMPOSE[@]}" run --rm --no-deps migrate tenant create "$TENANT" >/dev/null 2>&1 || rc=$?
    case $rc in
        0) say "created tenant '$TENANT'" ;;
        1) say "kept tenant '$TENANT'" ;;
        *) die "drift tenant create $TENANT failed (exit $rc)" ;;
    esac
    first_owner
    mkdir -p "$AGENTS" && chmod 0700 "$AGENTS"
    if [[ -e $AGENTS/$AGENT.cert ]]; then
        say "kept agent certificate $AGENTS/$AGENT.cert"
        FIRST_TENANT=yes
        return 0
    fi
    redis_url="redis://:$(env_value REDIS_PASSWORD)@redis:6379"
    rc=0
    "${COMPOSE[@]}" run --rm --no-deps --user 0:0 -e DRIFT_REDIS="$redis_url" \
        -v "$KEYS/server.key:/keys/server.key:ro" -v "$KEYS/ca.key:/keys/ca.key:ro" \
        -v "$KEYS/ca.crt:/keys/ca.crt:ro" -v "$AGENTS:$cert_dir" migrate \
        keys issue --tenant "$TENANT" --name "$AGENT" --keys-dir /keys \
        --out "$cert_dir/$AGENT.cert" --agent-endpoint "tcp://$DOMAIN:$(env_value DRIFT_AGENT_PORT)" \
        --https-endpoint "https://$DOMAIN:$(env_value DRIFT_AGENT_HTTPS_PORT)" \
        >"$AGENTS/$AGENT.conf.tmp" || rc=$?
    if [[ $rc -eq 0 ]]; then
        # Each configuration's lines after its heading, up to a blank line:
        # drift-agent --config files as they are, CURVE and HTTPS.
        sed -n '/^drift-agent configuration:/,/^$/p' "$AGENTS/$AGENT.conf.tmp" | sed '1d;/^$/d' \
            | sed "s|$cert_dir/|/etc/drift-agent/|" >"$AGENTS/$AGENT.conf"
        sed -n '/^drift-agent configuration over HTTPS/,/^$/p' "$AGENTS/$AGENT.conf.tmp" \
            | sed '1d;/^$/d' | sed "s|$cert_dir/|/etc/drift-agent/|" >"$AGENTS/$AGENT-https.conf"
        # localhost: Caddy's certificate is from its own CA (caddy_root_ca).
        [[ $DOMAIN != localhost ]] || echo "ca = /etc/drift-agent/$SERVER_CA_FILE" >>"$AGENTS/$AGENT-https.conf"
        rm -f "$AGENTS/$AGENT.conf.tmp"
        say "issued agent '$AGENT' of tenant '$TENANT': $AGENTS/$AGENT.cert (0600), and for"
        say "  HTTPS through Caddy $AGENTS/$AGENT.crt and $AGENT.key (0600): $AGENT-https.conf"
        FIRST_TENANT=yes
    else
        rm -f "$AGENTS/$AGENT.conf.tmp"
        say "drift keys issue did not issue '$AGENT' (exit $rc): see the next steps"
    fi
}

# For localhost Caddy's certificate comes from Caddy's own CA (a public name
# gets one from an ACME CA, which agents trust already): the first agent's
# HTTPS configuration names its root as `ca`, so Caddy is started here to
# make that root, and the root is copied beside the agent's certificate.
SERVER_CA_FILE=server-ca.crt
CADDY_ROOT=/data/caddy/pki/authorities/local/root.crt
caddy_root_ca() {
    local i
    [[ $DOMAIN == localhost && -s $AGENTS/$AGENT-https.conf && ! -s $AGENTS/$SERVER_CA_FILE ]] || return 0
    if ! "${COMPOSE[@]}" up -d --no-deps caddy >/dev/null 2>&1; then
        say "could not start Caddy for its root CA: see the next steps"
        return 0
    fi
    for i in $(seq 60); do
        "${COMPOSE[@]}" exec -T caddy test -s "$CADDY_ROOT" 2>/dev/null && break
        sleep 1
    done
    if "${COMPOSE[@]}" exec -T caddy cat "$CADDY_ROOT" >"$AGENTS/$SERVER_CA_FILE.tmp" 2>/dev/null \
        && [[ -s $AGENTS/$SERVER_CA_FILE.tmp ]]; then
        mv "$AGENTS/$SERVER_CA_FILE.tmp" "$AGENTS/$SERVER_CA_FILE"
        say "copied Caddy's root CA (it signs the certificate for localhost) to $AGENTS/$SERVER_CA_FILE"
    else
        rm -f "$AGENTS/$SERVER_CA_FILE.tmp"
        say "Caddy made no root CA within 60 s: see the next steps"
    fi
}

# ---------------------------------------------------------------- main

[[ -f $COMPOSE_SRC/docker-compose.yml ]] || die "$COMPOSE_SRC/docker-compose.yml is missing"
say "installing into $DIR"
write_env
copy_compose
private_dir "$SECRETS"
private_dir "$KEYS"
secret_key archive.key "for drift archive: --seal-key"
secret_key mask.key "for drift normalize: --mask-key-file"
# Channels' SMTP passwords are given to the API as values and kept sealed
# under this key (issue 16: a channel no longer names a file of the server).
secret_key channel.key "for drift api and notify: --channel-key"
# drift api's access tokens: HS256 with this file's bytes (64 hex digits and a
# newline; drift api wants 32 bytes or more, mode 0600). Replacing it logs
# every dashboard user out.
if random_hex 32 | create_exclusive "$SECRETS/jwt.secret"; then
    say "created $SECRETS/jwt.secret (0600, for drift api: --jwt-secret-file)"
else
    say "kept $SECRETS/jwt.secret"
fi
# The secret Caddy sends ingest's HTTPS face to show a request came through
# it (proto/AGENT-LINK.md): .env's DRIFT_PROXY_SECRET (Caddy's environment),
# and the same in secrets/proxy.secret for drift ingest (--https-proxy-secret).
if [[ ! -s $SECRETS/proxy.secret || $(cat "$SECRETS/proxy.secret") != "$(env_value DRIFT_PROXY_SECRET)" ]]; then
    rm -f "$SECRETS/proxy.secret.new"
    printf '%s\n' "$(env_value DRIFT_PROXY_SECRET)" | create_exclusive "$SECRETS/proxy.secret.new"
    mv "$SECRETS/proxy.secret.new" "$SECRETS/proxy.secret" || die "cannot write $SECRETS/proxy.secret"
    say "wrote $SECRETS/proxy.secret (0600, for drift ingest: --https-proxy-secret)"
else
    say "kept $SECRETS/proxy.secret"
fi
# The S3 store's secret key (archive and prune read it only with
# DRIFT_STORE=s3): generated, for an S3 server run for drift alone (the
# compose test's stand-in uses it as is); with your own store, put its key here.
if random_hex 24 | create_exclusive "$SECRETS/s3_secret_key"; then
    say "created $SECRETS/s3_secret_key (0600, the S3 secret key with DRIFT_STORE=s3)"
else
    say "kept $SECRETS/s3_secret_key"
fi
# The first owner's dashboard password (drift user add reads its first line).
if random_hex 16 | create_exclusive "$SECRETS/owner_password"; then
    say "created $SECRETS/owner_password (0600, the dashboard password of $OWNER_EMAIL)"
else
    say "kept $SECRETS/owner_password"
fi
USE_DOCKER=0
COMPOSE=()
if have_docker; then
    USE_DOCKER=1
fi
server_keypair
hand_over
if [[ $USE_DOCKER == 1 && $KEYPAIR == ok ]]; then
    first_start
    caddy_root_ca
fi

# ---------------------------------------------------------------- next steps

SERVER_KEY=""
[[ -r $KEYS/server.key ]] && SERVER_KEY=$(sed -n 's/^ *public-key = "\(.*\)"$/\1/p' "$KEYS/server.key")
AGENT_PORT=$(env_value DRIFT_AGENT_PORT)
DOMAIN_NOW=$(env_value DRIFT_DOMAIN)
C="docker compose"
RUN="$C run --rm --no-deps migrate"
echo
echo "Next steps"
echo "=========="
n=1
if [[ $KEYPAIR != ok ]]; then
    echo "$n. Make the server's CURVE keypair (needs a drift binary or docker), then rerun this script:"
    echo "     drift keys init --keys-dir $KEYS"
    echo "   or, with docker:"
    echo "     cd $DIR && $C build migrate && $C run --rm --no-deps --user 0:0 -v $KEYS:/keys migrate keys init --keys-dir /keys"
    n=$((n + 1))
fi
echo "$n. Start everything (the first start builds the drift image from $ROOT):"
echo "     cd $DIR && $C up -d"
echo "     $C ps    # migrate and dbrole exit 0; every other service healthy"
n=$((n + 1))
if [[ $FIRST_TENANT != yes ]]; then
    echo "$n. Create the first tenant, its owner and an agent key:"
    echo "     $RUN tenant create $TENANT"
    echo "     $C run --rm --no-deps --user 0:0 -v $SECRETS/owner_password:/run/secrets/owner_password:ro migrate \\"
    echo "         user add $TENANT $OWNER_EMAIL --role owner --password-file /run/secrets/owner_password"
    echo "     $C run --rm --no-deps --user 0:0 -v $KEYS/server.key:/keys/server.key:ro -v $AGENTS:/out migrate \\"
    echo "         keys issue --tenant $TENANT --name $AGENT --keys-dir /keys --out /out/$AGENT.cert \\"
    echo "         --agent-endpoint tcp://$DOMAIN_NOW:$AGENT_PORT"
    n=$((n + 1))
fi
echo "$n. Run the agent beside your stacks: copy $AGENTS/$AGENT.cert there over a secure"
echo "   channel (mode 0600) and give drift-agent this configuration:"
if [[ -s $AGENTS/$AGENT.conf ]]; then
    sed 's/^/     /' "$AGENTS/$AGENT.conf"
else
    echo "     endpoint = tcp://$DOMAIN_NOW:$AGENT_PORT"
    echo "     server-key = ${SERVER_KEY:-(the public-key line of $KEYS/server.key)}"
    echo "     certificate = /etc/drift-agent/$AGENT.cert"
fi
echo "     then: terraform show -json plan.bin | drift-agent send --config drift-agent.conf --stack NAME -"
if [[ -s $AGENTS/$AGENT-https.conf ]]; then
    echo "   Or over HTTPS, through Caddy: copy $AGENT.crt and $AGENT.key (0600)$(
        [[ $DOMAIN != localhost ]] || echo " and $SERVER_CA_FILE") from $AGENTS, with:"
    sed 's/^/     /' "$AGENTS/$AGENT-https.conf"
    if [[ $DOMAIN == localhost && ! -s $AGENTS/$SERVER_CA_FILE ]]; then
        echo "   $SERVER_CA_FILE is Caddy's root CA; once Caddy runs:"
        echo "     cd $DIR && $C exec -T caddy cat $CADDY_ROOT >agents/$SERVER_CA_FILE"
    fi
fi
n=$((n + 1))
echo "$n. Open the dashboard, https://$DOMAIN_NOW/, and log in as $OWNER_EMAIL"
echo "   (password: $SECRETS/owner_password), the owner of tenant '$TENANT', where $AGENT reports."
echo "   Sign-up is closed (--signup first in docker-compose.yml): the owner adds the other users."
n=$((n + 1))
echo "$n. Watch it:"
echo "     https://$DOMAIN_NOW/grafana/      Grafana (user admin, password GRAFANA_ADMIN_PASSWORD in $DIR/.env)"
echo "     https://$DOMAIN_NOW/prometheus/   Prometheus, and /metrics/ROLE (user METRICS_USER, password METRICS_PASSWORD in $DIR/.env)"
echo "     $C exec broker drift status --broker tcp://127.0.0.1:5555"
echo "     $C exec broker drift tail --broker tcp://127.0.0.1:5555"
echo "   Scale a stage: $C up -d --scale normalize=3. Operating notes: $ROOT/compose/README.md"
