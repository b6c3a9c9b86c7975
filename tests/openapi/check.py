#!/usr/bin/env python3
"""docs/openapi.yaml says what the server serves: the same routes, methods and roles.

usage: check.py SOURCE_DIR

Reads the route tables of the dashboard API from the C sources (api/routes.c,
api/users.c, the account routes of api/server.c) and the file; fails, naming
each difference, when a route is in one and not the other, when a route's
least role differs (x-drift-role), when a $ref points nowhere, or when a path
with {id} does not declare it. Prints what it checked.
"""
import os
import re
import sys

import yaml

METHODS = ("get", "post", "put", "patch", "delete")


def code_routes(root):
    """{(METHOD, path): role or None} as the server's tables have them."""
    routes = {}
    table = re.compile(r'\{\s*"(GET|POST|PUT|PATCH|DELETE)",\s*"([^"]+)",\s*API_ROLE_(\w+)')
    for name in ("api/routes.c", "api/users.c"):
        with open(os.path.join(root, name)) as f:
            for method, path, role in table.findall(f.read()):
                routes[(method, path)] = role.lower()
    with open(os.path.join(root, "api/server.c")) as f:
        for path in re.findall(r'\{\s*"(/api/v1/[a-z]+)",\s*S_[A-Z]+\s*\}', f.read()):
            routes[("POST", path)] = None
    for path in ("/healthz", "/readyz", "/metrics"):
        routes[("GET", path)] = None
    return routes


def refs(node):
    """Every $ref in the document."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                yield value
            else:
                yield from refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from refs(value)


def resolve(document, ref):
    if not ref.startswith("#/"):
        return None
    node = document
    for part in ref[2:].split("/"):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def main():
    root = sys.argv[1]
    with open(os.path.join(root, "docs/openapi.yaml")) as f:
        document = yaml.safe_load(f)
    problems = []
    if not str(document.get("openapi", "")).startswith("3."):
        problems.append("not an OpenAPI 3 document")

    documented = {}
    for path, item in (document.get("paths") or {}).items():
        for method, operation in item.items():
            if method not in METHODS:
                continue
            documented[(method.upper(), path)] = operation.get("x-drift-role")
            if not operation.get("responses"):
                problems.append(f"{method.upper()} {path}: no responses")
            if "{id}" in path:
                params = [resolve(document, p["$ref"]) if "$ref" in p else p
                          for p in operation.get("parameters", [])]
                if not any(p and p.get("in") == "path" and p.get("name") == "id" for p in params):
                    problems.append(f"{method.upper()} {path}: the id path parameter is not declared")

    served = code_routes(root)
    for route in sorted(served.keys() - documented.keys()):
        problems.append(f"{route[0]} {route[1]}: served but not in docs/openapi.yaml")
    for route in sorted(documented.keys() - served.keys()):
        problems.append(f"{route[0]} {route[1]}: in docs/openapi.yaml but not served")
    for route in sorted(served.keys() & documented.keys()):
        if served[route] != documented[route]:
            problems.append(f"{route[0]} {route[1]}: role {served[route]} in the code, "
                            f"{documented[route]} in docs/openapi.yaml")
    for ref in sorted(set(refs(document))):
        if resolve(document, ref) is None:
            problems.append(f"$ref {ref} points nowhere")

    for problem in problems:
        print("FAIL:", problem)
    print(f"{len(served)} routes served, {len(documented)} documented, "
          f"{len(set(refs(document)))} distinct $refs, {len(problems)} problem(s)")
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
