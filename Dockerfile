# syntax=docker/dockerfile:1
# The drift server image: one `drift` binary, one role per subcommand
# (compose/docker-compose.yml runs every role from it).
#
#   docker build -t dd0c/drift .
#   docker run --rm dd0c/drift --help
#
# Three stages on Debian 12: `build` has the compilers and -dev packages (the
# build list of scripts/setup) and builds a Release `drift`; `web` builds the
# dashboard (web/, `npm ci && npm run build`, from the committed lockfile);
# the final stage has only the runtime libraries, a non-root user, the binary
# and the dashboard's files (/usr/share/drift/web, for `drift api --static`).
# The agent has its own, smaller image: agent/Dockerfile.

ARG DEBIAN_IMAGE=debian:12-slim

# The dashboard's toolchain (vite 6, TypeScript) runs on Debian 12's own
# Node.js 18, so this stage is Debian's too; only dist/ leaves it.
FROM ${DEBIAN_IMAGE} AS web
ARG DEBIAN_FRONTEND=noninteractive
# A PEM file in the build context with CA certificates npm must trust besides
# the system's: behind a TLS-inspecting proxy the registry's certificate is
# signed by the proxy's CA (compose/extra-ca/none.pem says how; that default
# holds none). Only this stage fetches over TLS, and nothing of it ships.
ARG EXTRA_CA_CERTS=compose/extra-ca/none.pem
RUN apt-get update -q \
 && apt-get install -y -q --no-install-recommends nodejs npm ca-certificates \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /web
COPY ${EXTRA_CA_CERTS} /etc/drift-build/extra-ca.pem
# The lockfile first: the dependencies' layer is rebuilt only when it changes.
COPY web/package.json web/package-lock.json ./
RUN if grep -q -- '-----BEGIN CERTIFICATE-----' /etc/drift-build/extra-ca.pem; then \
        export NODE_EXTRA_CA_CERTS=/etc/drift-build/extra-ca.pem; \
    fi \
 && npm ci --no-audit --no-fund
COPY web/ ./
RUN npm run build \
 && test -s dist/index.html

FROM ${DEBIAN_IMAGE} AS build
ARG DEBIAN_FRONTEND=noninteractive
# The project's CMakeLists also configures the tests (Criterion, libmicrohttpd),
# so their -dev packages are needed to configure; only drift is built.
RUN apt-get update -q \
 && apt-get install -y -q --no-install-recommends \
        build-essential cmake pkg-config ca-certificates \
        protobuf-c-compiler libprotobuf-c-dev \
        libzmq3-dev libczmq-dev libsodium-dev \
        libpq-dev libhiredis-dev libcurl4-openssl-dev libjansson-dev libzstd-dev libyajl-dev \
        libmicrohttpd-dev libcriterion-dev libssl-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cmake -S . -B /build -DCMAKE_BUILD_TYPE=Release \
 && cmake --build /build -j"$(nproc)" --target drift \
 && strip /build/drift \
 && /build/drift --help >/dev/null

FROM ${DEBIAN_IMAGE} AS runtime
ARG DEBIAN_FRONTEND=noninteractive
# Runtime libraries only: no compiler, no -dev package, no shell tools beyond
# Debian's essential set (bash is there: compose's health checks use it).
RUN apt-get update -q \
 && apt-get install -y -q --no-install-recommends \
        libzmq5 libczmq4 libsodium23 libpq5 libhiredis0.14 libcurl4 libjansson4 \
        libprotobuf-c1 libzstd1 libyajl2 libmicrohttpd12 ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 drift \
 && useradd --system --uid 10001 --gid drift --home-dir /var/lib/drift --shell /usr/sbin/nologin drift \
 && install -d -o drift -g drift -m 0750 /var/lib/drift /var/lib/drift/archive \
 && install -d -o drift -g drift -m 0700 /var/lib/drift/keys
COPY --from=build /build/drift /usr/local/bin/drift
# The dashboard, owned by root and read-only (files 0444, directories 0555):
# drift api runs as drift and only reads it.
COPY --from=web /web/dist /usr/share/drift/web
# drift-healthz PORT: GET /healthz on 127.0.0.1:PORT (the role's --metrics),
# exit 0 on HTTP 200. bash's /dev/tcp, as the image has no curl or wget.
RUN printf '%s\n' '#!/bin/bash' \
        'port=${1:?usage: drift-healthz PORT}' \
        'exec 3<>"/dev/tcp/127.0.0.1/$port" || exit 1' \
        'printf "GET /healthz HTTP/1.0\r\nHost: localhost\r\n\r\n" >&3' \
        'IFS=" " read -r -t 5 _ code _ <&3 && [[ $code == 200 ]]' \
        > /usr/local/bin/drift-healthz \
 && chmod 0755 /usr/local/bin/drift-healthz \
 && chown -R root:root /usr/share/drift/web \
 && chmod -R a=rX /usr/share/drift/web \
 && test -f /usr/share/drift/web/index.html
LABEL org.opencontainers.image.title="drift" \
      org.opencontainers.image.description="dd0c/drift server: broker, ingest, normalize, score, archive, notify, replayer, api and the dashboard, operator commands" \
      org.opencontainers.image.source="https://github.com/dd0c/drift"
USER drift
WORKDIR /var/lib/drift
VOLUME ["/var/lib/drift"]
# 5555 broker, 5560 agents (CURVE), 8080 the dashboard API, 9101-9108 the
# roles' --metrics.
EXPOSE 5555 5560 8080
ENTRYPOINT ["drift"]
CMD ["--help"]
# No HEALTHCHECK here: which port /healthz is on depends on the role and its
# --metrics; compose/docker-compose.yml gives each service its own check
# (`drift-healthz PORT`).
