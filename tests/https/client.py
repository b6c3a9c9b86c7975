#!/usr/bin/env python3
"""tests/https/client.py -- an HTTPS agent for tests/test_https_link.sh.

Posts protobuf `Report`s (proto/drift.proto, encoded by hand: python3 has no
protobuf module on Debian by default) to Caddy's agent route with a client
certificate, as proto/AGENT-LINK.md's HTTPS binding says, and prints one line
per answer. Commands:

  send  ID-PREFIX COUNT [--payload FILE] [--threads N] [--until-acked S]
        each report until 200 (resending the same id on 429/502/503 or a
        broken connection, up to S seconds): prints "sent ID DUP" per ack
  post  ID [--payload FILE] [--header NAME:VALUE] [--chunked]
        one POST: prints "status CODE" and the answer's NACK message
  spaced ID-PREFIX FROM TO STEP
        one POST, then one after each gap from FROM to TO seconds by STEP,
        each on a new connection to Caddy and never resent (Caddy reuses its
        kept-alive connection to the face): prints "gaps N failed M" and a
        line per answer that was not 200
  slow  SECONDS
        a slow-loris: headers and a first byte of body, then nothing; prints
        "closed" when the far side ends the connection, "open" if it did not
        within SECONDS
  drip  SECONDS
        a slow-loris on the headers: one byte of them a second, never the
        end; prints "closed after N bytes" when the far side ends the
        connection, "open" if it did not within SECONDS
  commands
        one GET /v1/commands: prints "status CODE command ID" for a 200,
        "status 204 none" or "status CODE nack [code, message]"
  update COMMAND-ID SEQ STATE [--as-report]
        one POST /v1/command-updates of an AgentMessage holding a
        CommandUpdate (STATE a CommandState number; --as-report: holding a
        Report instead): prints "status CODE command_ack ID SEQ" or
        "status CODE nack [code, message]"
The TLS options: --host, --port, --ca (the server's CA), --cert/--key (the
client's; omitted: no client certificate).
"""
import argparse
import http.client
import json
import os
import select
import socket
import ssl
import sys
import threading
import time


def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def field_bytes(number, data):
    return varint((number << 3) | 2) + varint(len(data)) + data


def field_int(number, value):
    return varint(number << 3) + varint(value)


def report(report_id, stack, payload):
    """A Report: id, stack, PLAN_JSON, no compression, the payload."""
    return (field_bytes(1, report_id.encode()) + field_bytes(2, stack.encode())
            + field_int(3, 1) + field_bytes(5, payload) + field_int(6, len(payload)))


def read_varint(data, i):
    shift = value = 0
    while True:
        b = data[i]
        i += 1
        value |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return value, i


def fields(data):
    """The fields of a protobuf message: {number: value} (last wins)."""
    out, i = {}, 0
    while i < len(data):
        key, i = read_varint(data, i)
        number, kind = key >> 3, key & 7
        if kind == 0:
            out[number], i = read_varint(data, i)
        elif kind == 2:
            size, i = read_varint(data, i)
            out[number] = data[i:i + size]
            i += size
        else:
            raise ValueError("unexpected wire type %d" % kind)
    return out


def answer(body):
    """(kind, detail) of an AgentMessage answer: ("ack", duplicate) or
    ("nack", (code, message))."""
    message = fields(body)
    if 4 in message:
        return "ack", bool(fields(message[4]).get(2, 0))
    if 5 in message:
        nack = fields(message[5])
        return "nack", (nack.get(2, 0), nack.get(3, b"").decode())
    return "other", None


def agent_message(kind, body):
    """An AgentMessage holding body as its field kind."""
    return field_bytes(kind, body)


def update(command_id, seq, state):
    """A CommandUpdate: command_id, seq, state."""
    return field_bytes(1, command_id.encode()) + field_int(2, seq) + field_int(3, state)


def describe(status, body):
    """One line for an answer to a command route."""
    message = fields(body) if body else {}
    if 8 in message:
        return "status %d command %s" % (status, fields(message[8]).get(1, b"").decode())
    if 10 in message:
        ack = fields(message[10])
        return "status %d command_ack %s %d" % (status, ack.get(1, b"").decode(), ack.get(2, 0))
    if 5 in message:
        nack = fields(message[5])
        return "status %d nack %s" % (status, json.dumps([nack.get(2, 0), nack.get(3, b"").decode()]))
    return "status %d %s" % (status, "none" if not body else "other")


def context(args):
    ctx = ssl.create_default_context(cafile=args.ca)
    if args.cert:
        ctx.load_cert_chain(args.cert, args.key)
    return ctx


def connect(args):
    return http.client.HTTPSConnection(args.host, args.port, context=context(args), timeout=30)


def post(conn, body, headers=None, chunked=False):
    h = {"Content-Type": "application/x-protobuf"}
    h.update(headers or {})
    if chunked:
        conn.request("POST", "/v1/reports", body=iter([body[i:i + 65536] for i in range(0, len(body), 65536)]),
                     headers=h, encode_chunked=True)
    else:
        conn.request("POST", "/v1/reports", body=body, headers=h)
    response = conn.getresponse()
    return response.status, response.read(), response.getheader("Retry-After")


def cmd_send(args):
    payload = open(args.payload, "rb").read() if args.payload else b'{"format_version":"1.2","resource_drift":[]}'
    lock = threading.Lock()
    failed = []

    def worker(indexes):
        conn = connect(args)  # one keep-alive connection per thread
        for n in indexes:
            report_id = "%s-%d" % (args.prefix, n)
            body = report(report_id, "stack-%d" % (n % 5), payload)
            deadline = time.monotonic() + args.until_acked
            while True:
                try:
                    status, data, retry = post(conn, body)
                except (OSError, http.client.HTTPException):
                    conn.close()
                    conn = connect(args)
                    status, data, retry = 0, b"", None
                if status == 200:
                    kind, duplicate = answer(data)
                    with lock:
                        print("sent %s %d" % (report_id, 1 if duplicate else 0), flush=True)
                    break
                if status not in (0, 429, 502, 503) or time.monotonic() > deadline:
                    with lock:
                        failed.append("%s: status %d %s" % (report_id, status, answer(data) if data else ""))
                    break
                time.sleep(min(float(retry or 0.2), 1.0))
        conn.close()

    threads = [threading.Thread(target=worker, args=(range(t, args.count, args.threads),))
               for t in range(args.threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for line in failed:
        print("FAILED " + line, file=sys.stderr)
    return 1 if failed else 0


def cmd_post(args):
    payload = open(args.payload, "rb").read() if args.payload else b'{"format_version":"1.2","resource_drift":[]}'
    headers = dict(h.split(":", 1) for h in args.header)
    try:
        conn = connect(args)
        status, data, retry = post(conn, report(args.id, "stack-1", payload), headers, args.chunked)
    except (OSError, http.client.HTTPException) as error:
        print("error %s" % type(error).__name__)
        return 0
    kind, detail = answer(data) if data[:1] in (b"\x22", b"\x2a") else ("text", data[:200].decode(errors="replace"))
    print("status %d %s %s retry-after=%s" % (status, kind, json.dumps(detail), retry))
    return 0


def cmd_spaced(args):
    gaps, gap = [], args.start
    while gap <= args.stop + 1e-9:
        gaps.append(gap)
        gap += args.step
    failed = 0
    for n, gap in enumerate([0.0] + gaps):
        time.sleep(gap)
        try:
            conn = connect(args)
            status, data, _ = post(conn, report("%s-%d" % (args.prefix, n), "stack-1", b'{"resource_drift":[]}'))
            conn.close()
        except (OSError, http.client.HTTPException) as error:
            status, data = 0, type(error).__name__.encode()
        if status != 200:
            failed += 1
            print("after a gap of %.3f s: status %d %s" % (gap, status, data[:80].decode(errors="replace")))
    print("gaps %d failed %d" % (len(gaps), failed))
    return 0


def cmd_slow(args):
    raw = socket.create_connection((args.host, args.port), timeout=args.seconds)
    conn = context(args).wrap_socket(raw, server_hostname=args.host)
    conn.sendall(b"POST /v1/reports HTTP/1.1\r\nHost: %s\r\nContent-Length: 1000\r\n\r\nx" % args.host.encode())
    conn.settimeout(args.seconds)
    try:
        data = conn.recv(4096)
        print("closed" if not data or b" 50" in data or b" 40" in data else "open")
    except (socket.timeout, TimeoutError):
        print("open")
    except OSError:
        print("closed")
    return 0


def still_open(conn, seconds):
    """Whether a TLS connection is still open after waiting up to seconds:
    readable may mean only TLS records without data (a session ticket)."""
    readable, _, _ = select.select([conn], [], [], seconds)
    if not readable:
        return True
    conn.setblocking(False)
    try:
        return bool(conn.recv(4096))
    except ssl.SSLWantReadError:
        return True
    finally:
        conn.setblocking(True)


def cmd_drip(args):
    raw = socket.create_connection((args.host, args.port), timeout=10)
    conn = context(args).wrap_socket(raw, server_hostname=args.host)
    headers = b"POST /v1/reports HTTP/1.1\r\nHost: %s\r\n" % args.host.encode()
    headers += b"X-Padding: " + b"x" * 10000
    deadline = time.monotonic() + args.seconds
    sent = 0
    try:
        while time.monotonic() < deadline and sent < len(headers):
            conn.sendall(headers[sent:sent + 1])
            sent += 1
            if not still_open(conn, 1):
                break
        else:
            print("open")
            return 0
    except OSError:
        pass
    print("closed after %d bytes" % sent)
    return 0


def cmd_commands(args):
    conn = connect(args)
    conn.request("GET", "/v1/commands")
    response = conn.getresponse()
    print(describe(response.status, response.read()))
    return 0


def cmd_update(args):
    if args.as_report:
        body = agent_message(3, report("https-u-1", "stack-1", b'{"format_version":"1.2"}'))
    else:
        body = agent_message(9, update(args.command_id, args.seq, args.state))
    conn = connect(args)
    conn.request("POST", "/v1/command-updates", body=body,
                 headers={"Content-Type": "application/x-protobuf"})
    response = conn.getresponse()
    print(describe(response.status, response.read()))
    return 0


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="localhost")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--ca")
    parser.add_argument("--cert")
    parser.add_argument("--key")
    sub = parser.add_subparsers(dest="command", required=True)
    s = sub.add_parser("send")
    s.add_argument("prefix")
    s.add_argument("count", type=int)
    s.add_argument("--payload")
    s.add_argument("--threads", type=int, default=1)
    s.add_argument("--until-acked", type=float, default=120)
    p = sub.add_parser("post")
    p.add_argument("id")
    p.add_argument("--payload")
    p.add_argument("--header", action="append", default=[])
    p.add_argument("--chunked", action="store_true")
    g = sub.add_parser("spaced")
    g.add_argument("prefix")
    g.add_argument("start", type=float)
    g.add_argument("stop", type=float)
    g.add_argument("step", type=float)
    w = sub.add_parser("slow")
    w.add_argument("seconds", type=float)
    d = sub.add_parser("drip")
    d.add_argument("seconds", type=float)
    sub.add_parser("commands")
    u = sub.add_parser("update")
    u.add_argument("command_id")
    u.add_argument("seq", type=int)
    u.add_argument("state", type=int)
    u.add_argument("--as-report", action="store_true")
    args = parser.parse_args()
    return {"send": cmd_send, "post": cmd_post, "spaced": cmd_spaced, "slow": cmd_slow, "drip": cmd_drip,
            "commands": cmd_commands, "update": cmd_update}[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
