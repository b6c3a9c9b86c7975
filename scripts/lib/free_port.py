#!/usr/bin/env python3
"""Print free TCP ports on 127.0.0.1 for test servers, one per line.

usage: free_port.py [COUNT]

The ports come from below the kernel's ephemeral range. The kernel never hands
those to outgoing connections, so a port chosen here cannot be taken by one of
the tests' own clients before its server binds it, or while a test restarts
that server on the same port. A counter in a shared file (under a lock) walks
the range, so ports handed out together or by separate processes differ even
before anything binds them; tests/testutil.c's tu_free_port shares the file.
"""
import fcntl
import os
import socket
import sys

LOWEST = 20000
COUNTER = os.environ.get("DRIFT_TEST_PORT_FILE") or os.path.join(
    os.environ.get("TMPDIR", "/tmp"), "drift-test-ports-%d" % os.getuid())


def ephemeral_low():
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def bindable(port):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def kernel_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main():
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 1
    top = ephemeral_low()
    if top - LOWEST < 1000:      # an unusual range: let the kernel choose
        for _ in range(count):
            print(kernel_port())
        return
    span = top - LOWEST
    fd = os.open(COUNTER, os.O_RDWR | os.O_CREAT, 0o666)
    with os.fdopen(fd, "r+") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            last = int(f.read().strip() or "0")
        except ValueError:
            last = 0
        if not LOWEST <= last < top:
            last = LOWEST + os.getpid() % span
        found = []
        for _ in range(span):
            last = LOWEST + (last + 1 - LOWEST) % span
            if bindable(last):
                found.append(last)
                if len(found) == count:
                    break
        f.seek(0)
        f.truncate()
        f.write(str(last))
    if len(found) < count:
        sys.exit("free_port: no free port below %d" % top)
    for port in found:
        print(port)


if __name__ == "__main__":
    main()
