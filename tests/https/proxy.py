#!/usr/bin/env python3
"""tests/https/proxy.py -- an HTTP CONNECT proxy for tests/test_https_link.sh.

Stands for the proxy of a network that lets only HTTPS out: it answers
`CONNECT HOST:PORT` (loopback targets only; anything else, or any other
method, gets 403) and then relays bytes both ways, seeing only TLS. Each
tunnel opened appends "CONNECT HOST:PORT" to the log file, so the test can
prove the agent's traffic went through it.

usage: proxy.py PORT LOGFILE       (listens on 127.0.0.1:PORT until killed)
"""
import socket
import socketserver
import sys
import threading

LOOPBACK = ("localhost", "127.0.0.1", "::1")


def relay(source, target):
    try:
        while True:
            data = source.recv(65536)
            if not data:
                break
            target.sendall(data)
    except OSError:
        pass
    finally:
        for s in (source, target):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class Tunnel(socketserver.StreamRequestHandler):
    def handle(self):
        line = self.rfile.readline(8192).decode("latin-1").split()
        while self.rfile.readline(8192) not in (b"\r\n", b"\n", b""):
            pass
        if len(line) != 3 or line[0] != "CONNECT" or ":" not in line[1]:
            self.wfile.write(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
            return
        host, port = line[1].rsplit(":", 1)
        if host.strip("[]") not in LOOPBACK:
            self.wfile.write(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
            return
        try:
            upstream = socket.create_connection((host.strip("[]"), int(port)), timeout=10)
        except OSError:
            self.wfile.write(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
            return
        upstream.settimeout(None)
        with LOG_LOCK, open(LOG, "a") as log:
            log.write("CONNECT %s\n" % line[1])
        self.wfile.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
        self.wfile.flush()
        back = threading.Thread(target=relay, args=(upstream, self.connection), daemon=True)
        back.start()
        relay(self.connection, upstream)
        back.join()
        upstream.close()


class Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


LOG_LOCK = threading.Lock()
LOG = sys.argv[2]

if __name__ == "__main__":
    with Server(("127.0.0.1", int(sys.argv[1])), Tunnel) as server:
        server.serve_forever()
