#!/usr/bin/python3
"""Parse a Prometheus text exposition (format 0.0.4) the way a real scraper
would, and print it as JSON for the C tests to check.

    parse.py URL|FILE  ->  {family: {"type": ..., "samples": [{"name", "labels", "value"}]}}

The parser is Debian's python3-prometheus-client, an implementation we did
not write: if it cannot read what a role serves, the test fails here (exit 1)
instead of a grep passing over malformed text. Note that it names a counter's
family without the `_total` suffix its samples carry.
"""
import json
import math
import sys
import urllib.request

from prometheus_client.parser import text_string_to_metric_families


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: parse.py URL|FILE")
    source = sys.argv[1]
    if source.startswith("http://") or source.startswith("https://"):
        with urllib.request.urlopen(source, timeout=10) as response:
            kind = response.headers.get("Content-Type", "")
            if not kind.startswith("text/plain; version=0.0.4"):
                sys.exit("unexpected Content-Type: %r" % kind)
            text = response.read().decode("utf-8")
    else:
        with open(source, encoding="utf-8") as f:
            text = f.read()
    families = {}
    for family in text_string_to_metric_families(text):
        samples = []
        for sample in family.samples:
            value = sample.value
            # JSON has no infinities or NaN: spell them as the format does.
            if math.isinf(value) or math.isnan(value):
                value = repr(value)
            samples.append({"name": sample.name, "labels": sample.labels, "value": value})
        families[family.name] = {"type": family.type, "samples": samples}
    json.dump(families, sys.stdout)


if __name__ == "__main__":
    main()
