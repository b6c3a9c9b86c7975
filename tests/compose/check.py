#!/usr/bin/env python3
"""tests/compose/check.py -- check the compose deployment against the code.

Usage: check.py CONFIG.yml SOURCE_DIR DRIFT_BIN

CONFIG.yml is the output of `docker-compose -f compose/docker-compose.yml
--env-file compose/.env.example config` (anchors merged, variables filled in,
paths made absolute). Checks, each failure printed as one line:

  - every service's image is built from a Dockerfile that exists, or is a
    public image pinned to a tag (not `latest`) or a digest;
  - every named volume a service uses is declared; every bind-mounted file
    outside secrets/ (made by scripts/install.sh) exists;
  - every published host port is published once; the scaled stages publish
    none and have no container_name;
  - every drift role's command is a real `drift` subcommand, every --option in
    it and every DRIFT_<OPTION> in its environment is an option of that role
    (`drift ROLE --help`); its --metrics port is its health check's port;
  - every Prometheus target is a service with that --metrics port, every role
    with --metrics is scraped; every Caddy upstream is a service and a port it
    serves (--metrics, --listen);
  - a role's --trusted-proxies is Caddy's fixed address on the one network the
    role shares with Caddy, inside that network's subnet; a role's --static
    directory is where the Dockerfile puts the dashboard; every secrets/ file
    mounted is one scripts/install.sh makes;
  - the Grafana dashboard uses the provisioned data source, and every drift_*
    metric it queries is registered in the C sources.
Exit 0 when all hold, 1 otherwise.
"""
import json
import os
import re
import subprocess
import sys

import yaml

# Stages meant to run as several replicas: no host ports, no container_name.
SCALED = {"normalize", "score", "archive", "notify", "replayer"}
# The reverse proxy in front of the HTTP roles.
PROXY = "caddy"

failures = []


def fail(message):
    failures.append(message)
    print(f"FAIL {message}")


def ok(message):
    print(f"ok   {message}")


def run(*argv):
    result = subprocess.run(argv, capture_output=True, text=True)
    return result.stdout + result.stderr


def help_options(drift, role):
    """The --options `drift ROLE --help` lists."""
    words = role.split()
    text = run(drift, *words, "--help")
    return set(re.findall(r"^\s+--([a-z0-9-]+)", text, re.M))


def drift_commands(drift):
    text = run(drift, "--help")
    commands = set(re.findall(r"^  ([a-z]+)\s", text, re.M))
    return commands


def command_list(service):
    command = service.get("command") or []
    if isinstance(command, str):
        command = command.split()
    return [str(word) for word in command]


def option_values(command):
    """{option: value} for `--option value` and `--option=value` words."""
    values = {}
    i = 0
    while i < len(command):
        word = command[i]
        if word.startswith("--"):
            name, eq, value = word[2:].partition("=")
            if not eq and i + 1 < len(command) and not command[i + 1].startswith("--"):
                value = command[i + 1]
                i += 1
            values[name] = value
        i += 1
    return values


def is_drift_service(service, source):
    build = service.get("build")
    if not build:
        return False
    context = build.get("context", "") if isinstance(build, dict) else build
    dockerfile = build.get("dockerfile", "Dockerfile") if isinstance(build, dict) else "Dockerfile"
    return os.path.realpath(os.path.join(context, dockerfile)) == os.path.realpath(
        os.path.join(source, "Dockerfile"))


def check_images(services):
    for name, service in services.items():
        build = service.get("build")
        if build:
            context = build.get("context", ".") if isinstance(build, dict) else build
            dockerfile = build.get("dockerfile", "Dockerfile") if isinstance(build, dict) else "Dockerfile"
            path = os.path.join(context, dockerfile)
            if os.path.isfile(path):
                ok(f"{name}: built from {os.path.relpath(path)}")
            else:
                fail(f"{name}: its Dockerfile {path} does not exist")
            continue
        image = service.get("image", "")
        if "@sha256:" in image:
            ok(f"{name}: image {image} (digest)")
            continue
        repo, _, tag = image.rpartition(":")
        if not repo or "/" in tag or not tag or tag == "latest":
            fail(f"{name}: image '{image}' is neither built here nor pinned to a tag")
        else:
            ok(f"{name}: image {image}")


def check_volumes(config, services, compose_dir):
    declared = set((config.get("volumes") or {}).keys())
    used = set()
    for name, service in services.items():
        for volume in service.get("volumes") or []:
            if isinstance(volume, dict):
                kind, source = volume.get("type"), volume.get("source", "")
            else:
                source = volume.split(":")[0]
                kind = "bind" if source.startswith(("/", ".", "~")) else "volume"
            if kind == "volume":
                used.add(source)
                if source not in declared:
                    fail(f"{name}: volume '{source}' is not declared under volumes:")
            elif kind == "bind":
                relative = os.path.relpath(source, compose_dir)
                if relative.split(os.sep)[0] == "secrets":
                    continue  # made by scripts/install.sh
                if not os.path.exists(source):
                    fail(f"{name}: bind mount {relative} does not exist beside the compose file")
    unused = declared - used
    if unused:
        fail(f"volumes declared but never used: {sorted(unused)}")
    ok(f"named volumes: {sorted(used)} all declared")


def check_ports(services):
    seen = {}
    for name, service in services.items():
        ports = service.get("ports") or []
        if name in SCALED:
            if ports:
                fail(f"{name}: a scaled stage publishes host ports {ports}")
            if service.get("container_name"):
                fail(f"{name}: a scaled stage has a fixed container_name")
        for port in ports:
            if isinstance(port, dict):
                host_ip, published = port.get("host_ip", ""), port.get("published")
                protocol = port.get("protocol", "tcp")
            else:
                text, _, protocol = str(port).partition("/")
                parts = text.split(":")
                host_ip = parts[0] if len(parts) == 3 else ""
                published = parts[-2] if len(parts) >= 2 else parts[0]
                protocol = protocol or "tcp"
            key = (str(published), protocol)
            if key in seen:
                fail(f"{name}: host port {published}/{protocol} already published by {seen[key]}")
            seen[key] = name
    ok(f"published host ports: {sorted(p for p, _ in seen)} each once")


def check_roles(services, drift):
    commands = drift_commands(drift)
    if not commands:
        fail(f"{drift} --help lists no commands")
        return {}
    metrics_ports = {}
    LISTEN_PORTS.clear()
    ROLE_OPTIONS.clear()
    for name, service in services.items():
        if not is_drift_service(service, SOURCE):
            continue
        command = command_list(service)
        if not command:
            fail(f"{name}: a drift service without a command")
            continue
        role = command[0]
        if role not in commands:
            fail(f"{name}: '{role}' is not a drift command ({drift} --help)")
            continue
        options = help_options(drift, role)
        used = option_values(command[1:])
        for option in used:
            if option not in options:
                fail(f"{name}: drift {role} has no --{option}")
        for variable in (service.get("environment") or {}):
            if variable.startswith("DRIFT_"):
                option = variable[len("DRIFT_"):].lower().replace("_", "-")
                if option not in options:
                    fail(f"{name}: {variable} is no option of drift {role} (no --{option})")
        ROLE_OPTIONS[name] = used
        if "listen" in used:
            LISTEN_PORTS[name] = int(used["listen"].rpartition(":")[2])
        if "metrics" in used:
            port = int(used["metrics"].rpartition(":")[2])
            metrics_ports[name] = port
            test = [str(word) for word in (service.get("healthcheck") or {}).get("test") or []]
            if str(port) not in " ".join(test):
                fail(f"{name}: health check {test} does not ask the --metrics port {port}")
        ok(f"{name}: drift {' '.join(command[:1])} with {sorted(used)}")
    return metrics_ports


def check_prometheus(path, services, metrics_ports):
    with open(path) as f:
        prometheus = yaml.safe_load(f)
    scraped = set()
    for job in prometheus.get("scrape_configs") or []:
        targets = []
        for sd in job.get("dns_sd_configs") or []:
            if sd.get("type", "SRV") != "A":
                fail(f"prometheus job {job['job_name']}: dns_sd type is not A")
            targets += [(host, sd.get("port")) for host in sd.get("names") or []]
        for static in job.get("static_configs") or []:
            for target in static.get("targets") or []:
                host, _, port = target.rpartition(":")
                targets.append((host, int(port)))
        for host, port in targets:
            if host == "localhost":
                continue
            if host not in services:
                fail(f"prometheus job {job['job_name']}: scrapes '{host}', which is no service")
            elif host in metrics_ports and metrics_ports[host] != port:
                fail(f"prometheus job {job['job_name']}: scrapes {host}:{port}, "
                     f"but its --metrics port is {metrics_ports[host]}")
            elif host not in metrics_ports:
                fail(f"prometheus job {job['job_name']}: {host} serves no --metrics")
            scraped.add(host)
    for name in metrics_ports:
        if name not in scraped:
            fail(f"{name} serves --metrics but Prometheus does not scrape it")
    ok(f"prometheus scrapes {sorted(scraped)} on their --metrics ports")


def check_caddy(path, services, metrics_ports):
    with open(path) as f:
        text = f.read()
    upstreams = re.findall(r"reverse_proxy\s+([a-z0-9_-]+):(\d+)", text)
    known_ports = {"grafana": {3000}, "prometheus": {9090}}
    for name, port in metrics_ports.items():
        known_ports.setdefault(name, set()).add(port)
    for name, port in LISTEN_PORTS.items():
        known_ports.setdefault(name, set()).add(port)
    for host, port in upstreams:
        port = int(port)
        if host not in services:
            fail(f"Caddyfile: upstream {host}:{port} is no service")
        elif port not in known_ports.get(host, set()):
            fail(f"Caddyfile: upstream {host}:{port} is not a port {host} serves")
    for name, port in LISTEN_PORTS.items():
        if (name, str(port)) not in upstreams:
            fail(f"Caddyfile: {name} serves HTTP on {port} (--listen) but Caddy does not route to it")
    ok(f"Caddyfile: {len(upstreams)} upstreams")


def networks_of(service):
    networks = service.get("networks") or {}
    if isinstance(networks, list):
        return {name: {} for name in networks}
    return {name: (settings or {}) for name, settings in networks.items()}


def check_proxies(config, services):
    """--trusted-proxies: Caddy's fixed address on the one network it shares
    with the role (with two shared networks Caddy's source address could be
    either), inside that network's subnet."""
    import ipaddress
    proxy = networks_of(services.get(PROXY) or {})
    declared = config.get("networks") or {}
    for name, used in ROLE_OPTIONS.items():
        if "trusted-proxies" not in used:
            continue
        addresses = [a.strip() for a in used["trusted-proxies"].split(",") if a.strip()]
        shared = sorted(set(networks_of(services[name])) & set(proxy))
        if len(shared) != 1:
            fail(f"{name}: shares networks {shared} with {PROXY}, not exactly one")
            continue
        network = shared[0]
        fixed = proxy[network].get("ipv4_address")
        if addresses != [fixed]:
            fail(f"{name}: --trusted-proxies {addresses} is not {PROXY}'s address on "
                 f"{network} ({fixed!r})")
            continue
        subnets = [c.get("subnet") for c in
                   ((declared.get(network) or {}).get("ipam") or {}).get("config") or []]
        if not any(ipaddress.ip_address(fixed) in ipaddress.ip_network(s, strict=False)
                   for s in subnets if s):
            fail(f"{PROXY}: address {fixed} is in no subnet of network {network} ({subnets})")
            continue
        ok(f"{name}: trusts {PROXY} at {fixed}, its one shared network {network} {subnets}")


def check_static(services, source):
    """A role's --static directory is where the Dockerfile copies the dashboard."""
    with open(os.path.join(source, "Dockerfile")) as f:
        copies = re.findall(r"^COPY\s+--from=\S+\s+\S+\s+(\S+)\s*$", f.read(), re.M)
    for name, used in ROLE_OPTIONS.items():
        if used.get("static"):
            if used["static"].rstrip("/") in [c.rstrip("/") for c in copies]:
                ok(f"{name}: --static {used['static']} is built into the image")
            else:
                fail(f"{name}: --static {used['static']} is no COPY destination of the Dockerfile")


def check_secrets(services, compose_dir, source):
    """Every secrets/ file a service mounts is made by scripts/install.sh."""
    with open(os.path.join(source, "scripts/install.sh")) as f:
        install = f.read()
    for name, service in services.items():
        for volume in service.get("volumes") or []:
            source_path = volume.get("source", "") if isinstance(volume, dict) else volume.split(":")[0]
            relative = os.path.relpath(source_path, compose_dir)
            parts = relative.split(os.sep)
            if parts[0] != "secrets":
                continue
            base = parts[-1]
            # drift keys init (which install.sh runs) makes the CURVE keys:
            # the server's, the broker's and its list, and every role's.
            by_keys_init = base in ("server.key", "server.key_secret", "broker.key",
                                    "broker.key_secret", "broker-roles") \
                or parts[-2:-1] == ["roles"]
            if not re.search(r"(\$(KEYS|SECRETS)\"?/|secret_key )" + re.escape(base) + r"\b", install) \
                    and not by_keys_init:
                fail(f"{name}: mounts {relative}, which scripts/install.sh does not make")
    ok("every mounted secrets/ file is made by scripts/install.sh")


def check_grafana(compose_dir, source):
    datasources = os.path.join(compose_dir, "grafana/provisioning/datasources")
    uids = set()
    for name in os.listdir(datasources):
        with open(os.path.join(datasources, name)) as f:
            uids |= {ds.get("uid") for ds in yaml.safe_load(f).get("datasources") or []}
    dashboards = os.path.join(compose_dir, "grafana/dashboards")
    registered = set()
    for folder in ("lib", "actors", "broker", "cmd"):
        for root, _, files in os.walk(os.path.join(source, folder)):
            for name in files:
                if name.endswith(".c"):
                    with open(os.path.join(root, name), errors="replace") as f:
                        registered |= set(re.findall(r'"(drift_[a-z0-9_]+)"', f.read()))
    for name in sorted(os.listdir(dashboards)):
        with open(os.path.join(dashboards, name)) as f:
            dashboard = json.load(f)
        queried = set()
        for panel in dashboard.get("panels") or []:
            for target in panel.get("targets") or []:
                uid = (target.get("datasource") or panel.get("datasource") or {}).get("uid")
                if uid not in uids:
                    fail(f"{name}: panel '{panel.get('title')}' uses data source {uid!r}, "
                         f"not a provisioned one {sorted(uids)}")
                for metric in re.findall(r"\b(drift_[a-z0-9_]+)", target.get("expr", "")):
                    queried.add(re.sub(r"_(bucket|sum|count)$", "", metric)
                                if metric not in registered else metric)
        missing = sorted(queried - registered)
        if missing:
            fail(f"{name}: queries metrics no source registers: {missing}")
        ok(f"{name}: {len(queried)} drift metrics, all registered in the sources")


def main():
    global SOURCE
    if len(sys.argv) != 4:
        print(__doc__.split("\n\n")[1], file=sys.stderr)
        return 2
    config_path, SOURCE, drift = sys.argv[1:]
    compose_dir = os.path.join(SOURCE, "compose")
    with open(config_path) as f:
        config = yaml.safe_load(f)
    with open(os.path.join(compose_dir, "docker-compose.yml")) as f:
        raw = yaml.safe_load(f)
    if str(raw.get("version")) != "3.8":
        fail(f"docker-compose.yml: version is {raw.get('version')!r}, not \"3.8\"")
    services = config["services"]
    check_images(services)
    check_volumes(config, services, compose_dir)
    check_ports(services)
    metrics_ports = check_roles(services, drift)
    check_prometheus(os.path.join(compose_dir, "prometheus.yml"), services, metrics_ports)
    check_caddy(os.path.join(compose_dir, "Caddyfile"), services, metrics_ports)
    check_proxies(config, services)
    check_static(services, SOURCE)
    check_secrets(services, compose_dir, SOURCE)
    check_grafana(compose_dir, SOURCE)
    print(f"check.py: {len(failures)} failure(s)")
    return 1 if failures else 0


SOURCE = ""
LISTEN_PORTS = {}   # service: its --listen port
ROLE_OPTIONS = {}   # service: {option: value} of its drift command
if __name__ == "__main__":
    sys.exit(main())
