#!/usr/bin/env bash
# tests/test_deploy.sh -- the compose deployment, without a Docker engine
# (ctest: deploy). Needs docker-compose (1.29, Debian's) and python3-yaml,
# both installed by scripts/setup, and DRIFT_BIN (set by ctest).
#
#   a. docker-compose config -q accepts compose/docker-compose.yml with
#      compose/.env.example, and the Swarm stack (docker-stack.yml with
#      docker-stack.publish.yml);
#   b. tests/compose/check.py: images built or pinned, volumes declared, host
#      ports unique, every role a real drift command with real options,
#      Prometheus and Caddy pointing at real services and ports, the Grafana
#      dashboard querying metrics the code registers; promtool and caddy
#      validate their files too when they are installed;
#   c. scripts/install.sh run twice in a temporary directory: secrets made once
#      (files 0600, directories 0700), byte-identical after the second run,
#      the next steps printed both times, no secret printed; Grafana's files
#      readable by uid 472; the first tenant's owner password generated and
#      named, with the command that adds that owner.
set -uo pipefail

ROOT=${DRIFT_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
cd "$ROOT" || exit 1
DRIFT_BIN=${DRIFT_BIN:-$ROOT/build/test/drift}
PYTHON=/usr/bin/python3
[[ -x $PYTHON ]] || PYTHON=python3

passed=0
failed=0
pass() { passed=$((passed + 1)); echo "PASS $*"; }
fail() { failed=$((failed + 1)); echo "FAIL $*"; }

TMP=$(mktemp -d "${TMPDIR:-/tmp}/drift-deploy.XXXXXX") || exit 1
# Traversable, as an install's parent folder is: Grafana's check below reads
# as uid 472. The secrets inside keep their own 0700/0600.
chmod 0755 "$TMP"
trap 'rm -rf "$TMP"' EXIT

[[ -x $DRIFT_BIN ]] || { echo "FAIL DRIFT_BIN=$DRIFT_BIN is not an executable"; exit 1; }
command -v docker-compose >/dev/null || { echo "FAIL docker-compose is not installed (scripts/setup)"; exit 1; }
$PYTHON -c 'import yaml' 2>/dev/null || { echo "FAIL python3-yaml is not installed (scripts/setup)"; exit 1; }

# ---------------------------------------------------------------- a. compose config
COMPOSE=(docker-compose -f compose/docker-compose.yml --env-file compose/.env.example)
if "${COMPOSE[@]}" config -q 2>"$TMP/config.err"; then
    pass "docker-compose config -q"
else
    fail "docker-compose config -q: $(cat "$TMP/config.err")"
fi
# Without an .env the secrets are refused, not left empty.
mkdir -p "$TMP/noenv"
if docker-compose -f compose/docker-compose.yml --project-directory "$TMP/noenv" config -q \
        >/dev/null 2>"$TMP/noenv.err"; then
    fail "docker-compose config accepts a missing POSTGRES_PASSWORD"
elif grep -q "install.sh" "$TMP/noenv.err"; then
    pass "a missing .env is refused with a pointer to scripts/install.sh"
else
    fail "docker-compose config without .env: $(cat "$TMP/noenv.err")"
fi
# The Swarm stack and its ports file parse as compose 3.8 (the schema
# `docker stack deploy` reads); tests/test_swarm.sh deploys them for real.
if docker-compose -f compose/docker-stack.yml -f compose/docker-stack.publish.yml \
        --env-file compose/.env.example config -q 2>"$TMP/stack.err"; then
    pass "docker-compose config -q: docker-stack.yml with docker-stack.publish.yml"
else
    fail "docker-stack.yml: $(cat "$TMP/stack.err")"
fi

# ---------------------------------------------------------------- b. consistency
if "${COMPOSE[@]}" config >"$TMP/config.yml" 2>/dev/null \
        && $PYTHON tests/compose/check.py "$TMP/config.yml" "$ROOT" "$DRIFT_BIN" >"$TMP/check.out" 2>&1; then
    pass "tests/compose/check.py ($(grep -c '^ok' "$TMP/check.out") checks)"
else
    cat "$TMP/check.out"
    fail "tests/compose/check.py"
fi
if command -v promtool >/dev/null; then
    if promtool check config compose/prometheus.yml >"$TMP/promtool.out" 2>&1; then
        pass "promtool check config compose/prometheus.yml"
    else
        fail "promtool: $(cat "$TMP/promtool.out")"
    fi
else
    echo "SKIP promtool not installed: prometheus.yml checked by check.py only"
fi
if command -v caddy >/dev/null; then
    # shellcheck disable=SC2016  # a literal bcrypt hash
    hash=$(printf '%s' '$2b$12$abcdefghijklmnopqrstuu5GmbXZQ8Yb0MchT6HnJ6T0TQZ1WSMa6' | base64 -w0)
    # The agents' site reads the local CA's certificate when adapted: a
    # throwaway one (drift keys init makes the real one).
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj "/CN=test CA" \
        -keyout "$TMP/ca.key" -out "$TMP/ca.crt" 2>/dev/null
    if METRICS_AUTH_HASH=$hash DRIFT_AGENT_CA=$TMP/ca.crt DRIFT_PROXY_SECRET=placeholder-placeholder-placeholder \
            caddy validate --config compose/Caddyfile --adapter caddyfile \
            >"$TMP/caddy.out" 2>&1; then
        pass "caddy validate compose/Caddyfile"
    else
        fail "caddy validate: $(tail -n 3 "$TMP/caddy.out")"
    fi
else
    echo "SKIP caddy not installed: Caddyfile checked by check.py only"
fi

# ---------------------------------------------------------------- c. install.sh twice
INSTALL="$TMP/install"
run_install() {  # N
    env DRIFT_BIN="$DRIFT_BIN" DRIFT_INSTALL_NO_DOCKER=1 bash scripts/install.sh "$INSTALL" \
        >"$TMP/install$1.out" 2>&1
}
secret_files() {
    (cd "$INSTALL" && find .env secrets -type f | LC_ALL=C sort)
}
if run_install 1; then
    pass "install.sh (first run) exits 0"
else
    cat "$TMP/install1.out"
    fail "install.sh (first run) exited non-zero"
fi
for f in .env secrets/keys/archive.key secrets/keys/mask.key secrets/keys/server.key \
         secrets/keys/server.key_secret secrets/keys/channel.key secrets/jwt.secret \
         secrets/owner_password secrets/s3_secret_key docker-compose.yml Caddyfile \
         prometheus.yml grafana/dashboards/pipeline.json; do
    [[ -f $INSTALL/$f ]] || fail "install.sh made no $f"
done
bad_modes=$(cd "$INSTALL" && find .env secrets -type f ! -perm 0600 -printf '%p %m\n'; \
            cd "$INSTALL" && find secrets -type d ! -perm 0700 -printf '%p %m\n')
if [[ -z $bad_modes ]]; then
    pass "secrets: files 0600, directories 0700"
else
    fail "secret modes: $bad_modes"
fi
# Grafana runs as uid 472 and must read what install.sh copied (its umask
# 077 once made these folders 0700 root): read every file as that user.
unreadable=""
while IFS= read -r f; do
    setpriv --reuid=472 --regid=472 --clear-groups cat "$f" >/dev/null 2>&1 || unreadable+=" ${f#"$INSTALL"/}"
done < <(find "$INSTALL/grafana" -type f)
if [[ -z $unreadable && -f $INSTALL/grafana/provisioning/datasources/prometheus.yml ]]; then
    pass "grafana/ readable by uid 472 (Grafana's user)"
else
    fail "grafana/ not readable by uid 472:${unreadable:- no datasource file}"
fi
if grep -Eqx '[0-9a-f]{32}' "$INSTALL/secrets/owner_password" \
        && grep -q "log in as admin@localhost$" "$TMP/install1.out" \
        && grep -q "(password: $INSTALL/secrets/owner_password), the owner of tenant 'default'" "$TMP/install1.out" \
        && grep -q "user add default admin@localhost --role owner" "$TMP/install1.out"; then
    pass "the first tenant's owner: a generated password file, named, with the command to add it"
else
    fail "no first owner: $(grep -i owner "$TMP/install1.out" | tr '\n' ' ')"
fi
for key in keys/archive.key keys/mask.key keys/channel.key jwt.secret; do
    if grep -Eqx '[0-9a-f]{64}' "$INSTALL/secrets/$key"; then
        pass "${key#keys/}: 32 random bytes as 64 hex digits"
    else
        fail "${key#keys/} is not 64 hex digits"
    fi
done
secret_files | (cd "$INSTALL" && xargs sha256sum) >"$TMP/sums1"
if (cd "$INSTALL" && docker-compose config -q) 2>"$TMP/installed.err"; then
    pass "the installed compose file accepts the generated .env"
else
    fail "docker-compose config in the install dir: $(cat "$TMP/installed.err")"
fi

if run_install 2; then
    pass "install.sh (second run) exits 0"
else
    cat "$TMP/install2.out"
    fail "install.sh (second run) exited non-zero"
fi
secret_files | (cd "$INSTALL" && xargs sha256sum) >"$TMP/sums2"
if cmp -s "$TMP/sums1" "$TMP/sums2"; then
    pass "every secret byte-identical after the second run ($(wc -l <"$TMP/sums1") files)"
else
    fail "secrets changed by the second run: $(diff "$TMP/sums1" "$TMP/sums2" | tr '\n' ' ')"
fi
if grep -q "kept $INSTALL/.env" "$TMP/install2.out" \
        && grep -q "kept $INSTALL/secrets/keys/archive.key" "$TMP/install2.out" \
        && grep -q "kept $INSTALL/secrets/jwt.secret" "$TMP/install2.out"; then
    pass "the second run says what it kept"
else
    fail "the second run does not say 'kept'"
fi
for n in 1 2; do
    if grep -q "^Next steps" "$TMP/install$n.out" && grep -q "docker compose up -d" "$TMP/install$n.out" \
            && grep -q "^ *server-key = " "$TMP/install$n.out"; then
        pass "run $n prints the next steps and the agent configuration"
    else
        fail "run $n prints no next steps"
    fi
done

# No secret in what was printed: the .env secrets, the secret keys.
: >"$TMP/secrets.txt"
for key in POSTGRES_PASSWORD DRIFT_SERVICE_PASSWORD REDIS_PASSWORD \
           GRAFANA_ADMIN_PASSWORD METRICS_PASSWORD METRICS_AUTH_HASH; do
    value=$(sed -n "s/^$key=//p" "$INSTALL/.env")
    [[ ${#value} -ge 16 ]] || fail ".env: $key is missing or short"
    echo "$value" >>"$TMP/secrets.txt"
done
cat "$INSTALL/secrets/keys/archive.key" "$INSTALL/secrets/keys/mask.key" \
    "$INSTALL/secrets/jwt.secret" "$INSTALL/secrets/owner_password" \
    "$INSTALL/secrets/s3_secret_key" >>"$TMP/secrets.txt"
sed -n 's/^ *secret-key = "\(.*\)"$/\1/p' "$INSTALL/secrets/keys/server.key_secret" >>"$TMP/secrets.txt"
[[ $(wc -l <"$TMP/secrets.txt") -eq 12 ]] || fail "could not read every secret back ($(wc -l <"$TMP/secrets.txt"))"
if grep -F -f "$TMP/secrets.txt" "$TMP/install1.out" "$TMP/install2.out" >/dev/null; then
    fail "install.sh printed a secret"
else
    pass "install.sh printed no secret"
fi

echo "deploy: $passed passed, $failed failed"
[[ $failed -eq 0 ]]
