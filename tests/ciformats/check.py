#!/usr/bin/env python3
"""drift check's JUnit XML and SARIF, read back as CI systems read them.

usage: check.py SOURCE_DIR   (DRIFT_BIN: drift, DRIFT_CHECK_BIN: drift-check)

Every check runs both `drift check` and the standalone `drift-check` and
requires the same bytes and exit code from each. The SARIF is validated
against the SARIF 2.1.0 schema (tests/ciformats/sarif-schema-2.1.0.json)
and then compared, finding by finding, with what `--format json` says of the
same plan; the JUnit XML is parsed with xml.etree and compared the same way.
Prints what it checked; exits 1 naming the first difference.
"""
import json
import os
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET

import jsonschema

LEVELS = {"critical": "error", "high": "error", "medium": "warning", "low": "note",
          "info": "note"}
ORDER = ["info", "low", "medium", "high", "critical"]


def run(args, stdin=None):
    """(stdout, exit code) of drift check ARGS, the same from both binaries."""
    results = []
    for command in ([os.environ["DRIFT_BIN"], "check"], [os.environ["DRIFT_CHECK_BIN"]]):
        with open(stdin or os.devnull, "rb") as source:
            done = subprocess.run(command + args, stdin=source, capture_output=True,
                                  timeout=120)
        results.append((done.stdout.decode(), done.returncode))
    assert results[0] == results[1], \
        f"drift check and drift-check differ on {args}:\n{results[0]}\n{results[1]}"
    return results[0]


def reference(plan, extra):
    """The findings and drifted items as --format json reports them."""
    out, _ = run([plan, "--format", "json"] + extra)
    return json.loads(out)


def sarif_checked(schema, plan, extra, expect_code):
    out, code = run([plan, "--format", "sarif"] + extra)
    assert code == expect_code, f"sarif exit {code}, not {expect_code}: {out}"
    log = json.loads(out)
    jsonschema.Draft4Validator(schema).validate(log)
    assert log["version"] == "2.1.0"
    assert len(log["runs"]) == 1
    return log["runs"][0]


def check_sarif(schema, plan, extra, expect_code, fail_on="high"):
    ref = reference(plan, extra)
    sarif = sarif_checked(schema, plan, extra, expect_code)
    rules = sarif["tool"]["driver"]["rules"]
    assert sarif["tool"]["driver"]["name"] == "drift-check"
    ids = [rule["id"] for rule in rules]
    assert len(ids) == len(set(ids)), f"a rule listed twice: {ids}"
    assert set(ids) == {f["rule"] for f in ref["findings"]}, (ids, ref["findings"])
    for rule in rules:
        assert rule["shortDescription"]["text"] and rule["fullDescription"]["text"], rule
        assert rule["defaultConfiguration"]["level"] == LEVELS[rule["properties"]["severity"]]
    assert sarif["artifacts"][0]["location"]["uri"] == os.path.basename(plan)
    results = sarif["results"]
    assert len(results) == len(ref["findings"]), (results, ref["findings"])
    for result, finding in zip(results, ref["findings"]):
        assert result["ruleId"] == finding["rule"]
        assert rules[result["ruleIndex"]]["id"] == finding["rule"]
        assert result["level"] == LEVELS[finding["severity"]], (result, finding)
        assert result["message"]["text"] == finding["reason"]
        location = result["locations"][0]
        assert location["logicalLocations"][0]["fullyQualifiedName"] == finding["address"]
        assert location["logicalLocations"][0]["kind"] == "resource"
        assert location["physicalLocation"]["artifactLocation"]["uri"] == os.path.basename(plan)
        assert result["partialFingerprints"]["driftFingerprint/v1"].startswith(
            finding["fingerprint"])
        if finding["suppressed"]:
            assert result["suppressions"][0]["justification"] == \
                "suppressed by " + finding["suppressed_by"], result
        else:
            assert "suppressions" not in result, result
    assert sarif["invocations"][0]["executionSuccessful"] is True
    assert sarif["invocations"][0]["exitCode"] == expect_code
    assert sarif["properties"]["failOn"] == fail_on
    return ref


def check_junit(plan, extra, expect_code, fail_on="high"):
    ref = reference(plan, extra)
    out, code = run([plan, "--format", "junit"] + extra)
    assert code == expect_code, f"junit exit {code}, not {expect_code}: {out}"
    root = ET.fromstring(out)
    assert root.tag == "testsuites"
    suites = root.findall("testsuite")
    assert len(suites) == 1
    suite = suites[0]
    cases = suite.findall("testcase")
    findings = ref["findings"]
    matched = {f["address"] for f in findings}
    unmatched = [d for d in ref["drift"] if d["address"] not in matched]
    assert len(cases) == len(findings) + len(unmatched), (len(cases), findings, unmatched)
    threshold = ORDER.index(fail_on) if fail_on != "none" else len(ORDER)
    failures = skipped = 0
    for case, finding in zip(cases, findings):
        assert case.get("name") == f'{finding["address"]} [{finding["rule"]}]', case.attrib
        failure, skip = case.find("failure"), case.find("skipped")
        if finding["suppressed"]:
            assert skip is not None and failure is None, ET.tostring(case)
            assert skip.get("message") == "suppressed by " + finding["suppressed_by"]
            skipped += 1
        elif ORDER.index(finding["severity"]) >= threshold:
            assert failure is not None, ET.tostring(case)
            assert failure.get("type") == finding["severity"]
            assert failure.get("message") == finding["reason"]
            assert finding["address"] in failure.text and finding["rule"] in failure.text
            failures += 1
        else:
            assert failure is None and skip is None, ET.tostring(case)
    for case, item in zip(cases[len(findings):], unmatched):
        assert case.get("name") == item["address"]
        assert case.find("failure") is None and case.find("error") is None
    for element in (root, suite):
        assert element.get("tests") == str(len(cases))
        assert element.get("failures") == str(failures), (element.attrib, failures)
        assert element.get("skipped") == str(skipped)
        assert element.get("errors") == "0"
    properties = {p.get("name"): p.get("value") for p in suite.iter("property")}
    assert properties["fail_on"] == fail_on
    assert properties["result"] == ("fail" if expect_code == 1 else "pass")
    assert (failures > 0) == (expect_code == 1)
    return len(cases), failures, skipped


def main():
    root = sys.argv[1]
    with open(os.path.join(root, "tests/ciformats/sarif-schema-2.1.0.json")) as f:
        schema = json.load(f)
    jsonschema.Draft4Validator.check_schema(schema)
    # The validator is a real one: a level SARIF does not have is refused.
    bad = {"version": "2.1.0", "runs": [{"tool": {"driver": {"name": "x"}},
                                         "results": [{"message": {"text": "m"},
                                                      "level": "fatal"}]}]}
    try:
        jsonschema.Draft4Validator(schema).validate(bad)
        raise AssertionError("the schema accepted level fatal")
    except jsonschema.ValidationError:
        pass
    fixtures = os.path.join(root, "tests/fixtures/terraform")
    work = tempfile.mkdtemp(prefix="drift-ciformats-")
    os.chdir(fixtures)      # the artifact's URI is the plan as named: relative here
    checked = 0

    # An open SSH port fails at high, passes at none; a clean plan passes.
    plan = "scenario-01.plan.json"
    ref = check_sarif(schema, plan, [], 1)
    assert any(f["severity"] in ("critical", "high") for f in ref["findings"])
    print(f"sarif {plan}: {len(ref['findings'])} results valid, levels from severity")
    print("junit %s: %d testcases, %d failures, %d skipped" % ((plan,) + check_junit(plan, [], 1)))
    check_sarif(schema, plan, ["--fail-on", "none"], 0, "none")
    check_junit(plan, ["--fail-on", "none"], 0, "none")
    for name in sorted(os.listdir(".")):
        if name.startswith("scenario-") and name.endswith(".plan.json"):
            code = run([name, "--format", "json"])[1]
            if code in (0, 1):
                check_sarif(schema, name, [], code)
                check_junit(name, [], code)
                checked += 1
    print(f"sarif and junit of {checked} scenarios match their json")

    # A suppressed finding: a SARIF suppression, a JUnit skipped, a pass.
    ignore = os.path.join(work, "driftignore")
    with open(ignore, "w") as f:
        f.write("# opened on purpose\naws_security_group.web\n")
    check_sarif(schema, plan, ["--ignore", ignore], 0)
    cases, failures, skipped = check_junit(plan, ["--ignore", ignore], 0)
    assert skipped >= 1 and failures == 0
    print(f"suppressed: {skipped} skipped testcase(s), sarif suppressions, exit 0")

    # An address with every character XML escapes, and a control character.
    with open(plan) as f:
        text = f.read()
    odd = 'aws_security_group.web[\\"<a&b>\'\\u0001\\"]'
    hostile = os.path.join(work, "odd name.plan.json")
    with open(hostile, "w") as f:
        f.write(text.replace("aws_security_group.web", odd))
    out, code = run([hostile, "--format", "junit"])
    assert code == 1
    names = [case.get("name") for case in ET.fromstring(out).iter("testcase")]
    assert any(name.startswith('aws_security_group.web["<a&b>\'?"]') for name in names), names
    sarif_out, _ = run([hostile, "--format", "sarif"])
    log = json.loads(sarif_out)
    jsonschema.Draft4Validator(schema).validate(log)
    assert log["runs"][0]["artifacts"][0]["location"]["uri"].endswith("odd%20name.plan.json")
    assert any(r["locations"][0]["logicalLocations"][0]["fullyQualifiedName"]
               == 'aws_security_group.web["<a&b>\'\x01"]' for r in log["runs"][0]["results"])
    print("special characters: junit parses, sarif keeps the address, uri percent-encoded")

    # A failed plan: a JUnit error, an unsuccessful SARIF invocation, exit 3.
    data = json.loads(text)
    data["errored"] = True
    errored = os.path.join(work, "errored.plan.json")
    with open(errored, "w") as f:
        json.dump(data, f)
    out, code = run([errored, "--format", "junit"])
    assert code == 3, out
    root_element = ET.fromstring(out)
    assert root_element.get("errors") == "1" and root_element.get("tests") == "1"
    error = root_element.find("testsuite/testcase/error")
    assert error is not None and error.get("message") == "plan errored", out
    log_out, code = run([errored, "--format", "sarif"])
    assert code == 3
    log = json.loads(log_out)
    jsonschema.Draft4Validator(schema).validate(log)
    invocation = log["runs"][0]["invocations"][0]
    assert invocation["executionSuccessful"] is False and invocation["exitCode"] == 3
    assert log["runs"][0]["results"] == []
    print("failed plan: junit error, sarif executionSuccessful false, exit 3")

    # drift-check links no server library: no PostgreSQL, Redis, HTTP client or server.
    linked = subprocess.run(["ldd", os.environ["DRIFT_CHECK_BIN"]], capture_output=True,
                            text=True, check=True).stdout
    for library in ("libpq", "libhiredis", "libcurl", "libmicrohttpd"):
        assert library not in linked, f"drift-check links {library}:\n{linked}"
    print("drift-check links no libpq, hiredis, libcurl or libmicrohttpd")

    # A format that does not exist is a usage error.
    _, code = run([plan, "--format", "xml"])
    assert code == 2
    print("unknown format: exit 2")
    for name in os.listdir(work):
        os.unlink(os.path.join(work, name))
    os.rmdir(work)
    print("ciformats: all checks passed")


if __name__ == "__main__":
    try:
        main()
    except AssertionError as failure:
        print(f"ciformats: FAILED: {failure}", file=sys.stderr)
        raise
