# scripts/lib/s3.sh -- a private S3-compatible server (s3rver, from npm) for
# the tests of actors/archive/store_s3, with SigV4 signatures checked for real.
# shellcheck shell=bash
#
# s3rver 3 checks only that a SigV4 request names a known access key: it
# never recomputes the signature. So we run it from a small Node launcher
# (below) that first verifies each request as S3 does -- the signature over
# method, path, query and signed headers with the secret key, and the body
# against x-amz-content-sha256 -- and answers 403 SignatureDoesNotMatch,
# 403 InvalidAccessKeyId or 400 XAmzContentSHA256Mismatch otherwise. A wrong
# secret key is then refused as real S3 would refuse it. It is stricter than
# S3 in one way: a header named in SignedHeaders must be in the request.
#
# Sourced by scripts/lib/services.sh (and scripts/setup for s3_install):
#   s3_install           install s3rver under build/tools/s3rver if missing
#                        (npm; a second run needs no network)
#   s3_start DIR         start it on 127.0.0.1:free port, data in DIR/data,
#                        bucket "drift-test"; exports DRIFT_TEST_S3_ENDPOINT,
#                        DRIFT_TEST_S3_BUCKET, DRIFT_TEST_S3_ACCESS_KEY,
#                        DRIFT_TEST_S3_SECRET_KEY and the shell commands
#                        DRIFT_TEST_S3_STOP, DRIFT_TEST_S3_START and
#                        DRIFT_TEST_S3_RESTART (same port, same data)
#   _s3_stop             stop it (services_stop calls this)
# Executed (that is how the DRIFT_TEST_S3_* commands reach it from a test):
#   bash scripts/lib/s3.sh stop DIR | start DIR

_S3_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
_S3_TOOLS="$_S3_ROOT/build/tools/s3rver"
_S3_MODULE="$_S3_TOOLS/node_modules/s3rver"
_S3_DIR=""             # DIR of the server s3_start started (read by _s3_stop)

# The test credentials: s3rver's built-in account.
_S3_ACCESS_KEY=S3RVER
_S3_SECRET_KEY=S3RVER
_S3_BUCKET=drift-test

_s3_log() { printf '[%s] %s\n' "${SVC_LOG_NAME:-${0##*/}}" "$*" >&2; }

s3_install() {
    [[ -f "$_S3_MODULE/package.json" ]] && return 0
    if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
        _s3_log "ERROR: node and npm are needed for s3rver (run scripts/setup)"
        return 1
    fi
    _s3_log "installing s3rver 3 into $_S3_TOOLS"
    mkdir -p "$_S3_TOOLS"
    npm install --no-audit --no-fund --silent --prefix "$_S3_TOOLS" s3rver@3 >&2 \
        || { _s3_log "ERROR: npm install s3rver@3 failed"; return 1; }
}

# The launcher: s3rver behind a SigV4 check. Settings come from S3_* variables
# (S3_ADDRESS: 127.0.0.1 unless set; the compose test's S3 stand-in,
# compose/test/s3, listens on its network).
# shellcheck disable=SC2016
_S3_LAUNCHER='
"use strict";
const crypto = require("crypto");
const { PassThrough } = require("stream");
const S3rver = require(process.env.S3_MODULE);
const secrets = { [process.env.S3_ACCESS_KEY]: process.env.S3_SECRET_KEY };

const sha256 = data => crypto.createHash("sha256").update(data).digest("hex");
const hmac = (key, data) => crypto.createHmac("sha256", key).update(data).digest();
const encode = text => encodeURIComponent(text).replace(/[!'"'"'()*]/g,
    c => "%" + c.charCodeAt(0).toString(16).toUpperCase());

function refuse(ctx, status, code, message) {
    ctx.status = status;
    ctx.type = "application/xml";
    ctx.body = `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code>` +
               `<Message>${message}</Message></Error>`;
}

async function verify(ctx, next) {
    const auth = ctx.get("authorization");
    const match = /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request, ?SignedHeaders=([^,]+), ?Signature=([0-9a-f]{64})$/.exec(auth);
    if (!match)
        return refuse(ctx, 403, "AccessDenied", "only SigV4 header authentication is accepted here");
    const [, access, day, region, service, signedList, signature] = match;
    const secret = secrets[access];
    if (secret === undefined)
        return refuse(ctx, 403, "InvalidAccessKeyId", "unknown access key");
    const signed = signedList.split(";");
    for (const needed of ["host", "x-amz-date", "x-amz-content-sha256"])
        if (!signed.includes(needed))
            return refuse(ctx, 403, "AccessDenied", `${needed} is not signed`);
    //  Stricter than S3 may be: a signed header must be in the request.
    for (const name of signed)
        if (ctx.req.headers[name] === undefined)
            return refuse(ctx, 403, "AccessDenied", `signed header ${name} is not in the request`);
    const payload = ctx.get("x-amz-content-sha256");
    const date = ctx.get("x-amz-date");
    const [path, query = ""] = ctx.req.url.split(/\?(.*)/s);
    const canonicalUri = path.split("/").map(part => encode(decodeURIComponent(part))).join("/");
    const canonicalQuery = query === "" ? "" : query.split("&")
        .map(pair => pair.split(/=(.*)/s))
        .map(([k, v = ""]) => [encode(decodeURIComponent(k)), encode(decodeURIComponent(v))])
        .sort((a, b) => (a[0] + "=" + a[1] < b[0] + "=" + b[1] ? -1 : 1))
        .map(([k, v]) => k + "=" + v).join("&");
    const headers = signed.map(name =>
        name + ":" + String(ctx.req.headers[name]).trim().replace(/\s+/g, " ") + "\n").join("");
    const request = [ctx.method, canonicalUri, canonicalQuery, headers, signedList, payload].join("\n");
    const scope = `${day}/${region}/${service}/aws4_request`;
    const toSign = ["AWS4-HMAC-SHA256", date, scope, sha256(request)].join("\n");
    const key = hmac(hmac(hmac(hmac("AWS4" + secret, day), region), service), "aws4_request");
    if (hmac(key, toSign).toString("hex") !== signature)
        return refuse(ctx, 403, "SignatureDoesNotMatch", "signature does not match");
    if (/^[0-9a-f]{64}$/.test(payload) && (ctx.method === "PUT" || ctx.method === "POST")) {
        const chunks = [];
        for await (const chunk of ctx.req)
            chunks.push(chunk);
        const body = Buffer.concat(chunks);
        if (sha256(body) !== payload)
            return refuse(ctx, 400, "XAmzContentSHA256Mismatch", "body does not match its hash");
        const replay = new PassThrough();
        replay.headers = ctx.req.headers;
        replay.end(body);
        ctx.req = replay;
    }
    return next();
}

const server = new S3rver({
    address: process.env.S3_ADDRESS || "127.0.0.1",
    port: Number(process.env.S3_PORT),
    directory: process.env.S3_DATA,
    silent: false,
    configureBuckets: [{ name: process.env.S3_BUCKET, configs: [] }],
});
server.middleware.unshift(verify);
server.run().catch(error => { console.error(error); process.exit(1); });
for (const signal of ["SIGTERM", "SIGINT"])
    process.on(signal, () => server.close().then(() => process.exit(0)));
'

# Start the server recorded in DIR/s3.env (port, data) in its own session,
# and wait until it answers; 0 once it does.
_s3_launch() {
    local dir=$1 port pid
    # shellcheck source=/dev/null
    source "$dir/s3.env"
    port=$S3_PORT
    ( trap - INT QUIT
      S3_MODULE=$_S3_MODULE S3_PORT=$port S3_DATA="$dir/data" S3_BUCKET=$_S3_BUCKET \
      S3_ACCESS_KEY=$_S3_ACCESS_KEY S3_SECRET_KEY=$_S3_SECRET_KEY \
          exec setsid node -e "$_S3_LAUNCHER" "$dir" </dev/null >>"$dir/s3rver.log" 2>&1 ) &
    pid=$!
    echo "$pid" >"$dir/s3rver.pid"
    for _ in $(seq 1 100); do
        kill -0 "$pid" 2>/dev/null || break
        # Any HTTP answer (403 for an unsigned request) means it is up.
        if [[ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/$_S3_BUCKET")" != 000 ]]; then
            return 0
        fi
        sleep 0.1
    done
    _s3_log "s3rver did not answer on port $port; tail of $dir/s3rver.log:"
    tail -n 5 "$dir/s3rver.log" >&2 || true
    _s3_kill "$dir"
    return 1
}

# Stop the server whose PID is in DIR/s3rver.pid, if it is still the node
# process we started for DIR (its command line names DIR).
_s3_kill() {
    local dir=$1 pid
    pid=$(cat "$dir/s3rver.pid" 2>/dev/null || true)
    rm -f "$dir/s3rver.pid"
    [[ "$pid" =~ ^[0-9]+$ ]] || return 0
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$dir" || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do
        [[ -d "/proc/$pid" && "$(ps -o stat= -p "$pid" 2>/dev/null)" != Z* ]] || break
        sleep 0.1
    done
    if [[ -d "/proc/$pid" && "$(ps -o stat= -p "$pid" 2>/dev/null)" != Z* ]]; then
        kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
}

# s3_start DIR
s3_start() {
    local dir=$1 port attempt self quoted_dir
    s3_install || return 1
    command -v curl >/dev/null || { _s3_log "ERROR: curl not found (run scripts/setup)"; return 1; }
    mkdir -p "$dir/data"
    dir=$(cd "$dir" && pwd -P)
    for attempt in 1 2 3; do
        port=$(free_port)
        echo "S3_PORT=$port" >"$dir/s3.env"
        if _s3_launch "$dir"; then
            _S3_DIR=$dir
            self=$(printf '%q' "$_S3_ROOT/scripts/lib/s3.sh")
            quoted_dir=$(printf '%q' "$dir")
            export DRIFT_TEST_S3_ENDPOINT="http://127.0.0.1:$port"
            export DRIFT_TEST_S3_BUCKET=$_S3_BUCKET
            export DRIFT_TEST_S3_ACCESS_KEY=$_S3_ACCESS_KEY
            export DRIFT_TEST_S3_SECRET_KEY=$_S3_SECRET_KEY
            export DRIFT_TEST_S3_STOP="bash $self stop $quoted_dir"
            export DRIFT_TEST_S3_START="bash $self start $quoted_dir"
            export DRIFT_TEST_S3_RESTART="$DRIFT_TEST_S3_STOP && $DRIFT_TEST_S3_START"
            _s3_log "s3rver up: $DRIFT_TEST_S3_ENDPOINT bucket $_S3_BUCKET (pid $(cat "$dir/s3rver.pid"), log $dir/s3rver.log)"
            return 0
        fi
        _s3_log "s3rver failed to start on port $port (attempt $attempt)"
    done
    _s3_log "ERROR: could not start s3rver"
    return 1
}

_s3_stop() {
    [[ -n "$_S3_DIR" ]] || return 0
    _s3_kill "$_S3_DIR"
    _S3_DIR=""
    _s3_log "s3rver stopped"
}

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
    set -euo pipefail
    case "${1:-}:${2:-}" in
        stop:?*)  _s3_kill "$2" ;;
        start:?*) _s3_launch "$2" ;;
        *) echo "usage: $0 stop|start DIR" >&2; exit 2 ;;
    esac
fi
