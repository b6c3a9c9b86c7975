#!/usr/bin/python3
"""smtp_sink: a real SMTP server for the mail tests and scripts/run, built on
Debian's aiosmtpd.

actors/notify/mail talks to servers through libcurl; a test of it is only worth
something against a server that speaks SMTP for real: EHLO, STARTTLS,
implicit TLS, AUTH PLAIN/LOGIN and the replies a mail relay gives. This
one listens on 127.0.0.1 (--host to change) and keeps every message it accepts as a file the
test can parse (DIR/NNNN.eml, the raw bytes as received) beside what only
the server saw (DIR/NNNN.json: envelope sender and recipients, whether the
session was encrypted, who logged in, and the client's address and port,
which tell one connection from another). Both are written to a temporary name
and renamed, and before the server answers 250, so a client that has been
told "delivered" finds them complete. Numbers continue after the highest
NNNN.eml already in DIR.

    smtp_sink.py [--host H] --port P --dir DIR [--tls-cert F --tls-key K]
                 [--require-starttls] [--smtps]
                 [--auth-user U --auth-password W] [--fail-first N]
                 [--pidfile F] [--no-fsync]

--tls-cert/--tls-key offer STARTTLS (or, with --smtps, wrap the listening
socket: implicit TLS). --require-starttls refuses mail before STARTTLS.
--auth-user makes AUTH required; a wrong password is answered 535. Every
AUTH attempt, whatever its outcome, is appended to DIR/auth.log (whether
the session was encrypted, the login and the password received), so a
test can show that a client never sent credentials in clear.
--fail-first N answers 451 to the first N messages (retry tests).
--no-fsync writes and renames the files without fsync: for benches, where
the sink shares the machine with what is measured and its own durability is
not under test (two fsyncs a message took a third of a core and the disk's
attention from PostgreSQL in bench/e2e). "ready"
goes to stdout once the socket listens; SIGTERM or SIGINT stop it cleanly.
Run it with /usr/bin/python3: Debian's aiosmtpd is installed for that one.
"""
import argparse
import asyncio
import json
import os
import signal
import ssl
import sys

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword


class Sink:
    """The aiosmtpd handler: counts DATA commands and files each message."""

    def __init__(self, directory, fail_first, fsync=True):
        self.directory = directory      # where NNNN.eml and NNNN.json go
        self.fail_first = fail_first    # DATA commands still to answer 451
        self.fsync = fsync              # each file durable before the 250
        # Numbering goes on after what DIR already holds (scripts/run keeps
        # its mail between runs), so a message never replaces another.
        self.count = max([int(name[:-4]) for name in os.listdir(directory)
                          if name.endswith(".eml") and name[:-4].isdigit()],
                         default=0)

    def _write(self, name, data):
        path = os.path.join(self.directory, name)
        temporary = path + ".tmp"
        with open(temporary, "wb") as out:
            out.write(data)
            out.flush()
            if self.fsync:
                os.fsync(out.fileno())
        os.rename(temporary, path)

    async def handle_DATA(self, server, session, envelope):
        if self.fail_first > 0:
            self.fail_first -= 1
            return "451 4.3.0 Try again later (smtp_sink --fail-first)"
        self.count += 1
        stem = "%04d" % self.count
        tls = server.transport is not None and \
            server.transport.get_extra_info("sslcontext") is not None
        auth_user = None
        if session.authenticated and isinstance(session.auth_data, LoginPassword):
            auth_user = session.auth_data.login.decode("utf-8", "replace")
        meta = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": list(envelope.rcpt_tos),
            "tls": tls,
            "auth_user": auth_user,
            "peer": "%s:%s" % tuple(session.peer[:2]),
        }
        # The JSON first: a test that sees the .eml finds its JSON there too.
        self._write(stem + ".json", json.dumps(meta).encode("utf-8"))
        self._write(stem + ".eml", envelope.original_content)
        return "250 2.0.0 Message accepted for delivery"


def make_authenticator(user, password, directory):
    def authenticate(server, session, envelope, mechanism, auth_data):
        if isinstance(auth_data, LoginPassword):
            tls = server.transport is not None and \
                server.transport.get_extra_info("sslcontext") is not None
            with open(os.path.join(directory, "auth.log"), "ab") as log:
                log.write(b"tls=%d login=%s password=%s\n" % (
                    tls, auth_data.login, auth_data.password))
        ok = isinstance(auth_data, LoginPassword) and \
            auth_data.login == user.encode("utf-8") and \
            auth_data.password == password.encode("utf-8")
        # handled=False: aiosmtpd answers 535 itself on failure.
        return AuthResult(success=ok, handled=False, auth_data=auth_data if ok else None)
    return authenticate


def main():
    parser = argparse.ArgumentParser(description="SMTP sink for the mail tests")
    # 127.0.0.1 for the tests on this host; the compose test's sink container
    # (compose/test/smtp) listens on its network with --host 0.0.0.0.
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--dir", required=True)
    parser.add_argument("--tls-cert")
    parser.add_argument("--tls-key")
    parser.add_argument("--require-starttls", action="store_true")
    parser.add_argument("--smtps", action="store_true")
    parser.add_argument("--auth-user")
    parser.add_argument("--auth-password", default="")
    parser.add_argument("--fail-first", type=int, default=0)
    parser.add_argument("--pidfile")
    parser.add_argument("--no-fsync", action="store_true")
    args = parser.parse_args()

    if (args.smtps or args.require_starttls) and not args.tls_cert:
        parser.error("--smtps and --require-starttls need --tls-cert and --tls-key")
    os.makedirs(args.dir, exist_ok=True)

    context = None
    if args.tls_cert:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(args.tls_cert, args.tls_key)

    handler = Sink(args.dir, args.fail_first, fsync=not args.no_fsync)
    smtp_kwargs = {
        "hostname": "smtp-sink.test",
        # Implicit TLS needs no STARTTLS; offering it there would be wrong.
        "tls_context": None if args.smtps else context,
        "require_starttls": args.require_starttls,
        # The tests check AUTH apart from TLS; a real relay would insist on it.
        "auth_require_tls": False,
    }
    if args.auth_user:
        smtp_kwargs["auth_required"] = True
        smtp_kwargs["authenticator"] = make_authenticator(args.auth_user, args.auth_password,
                                                          args.dir)

    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)

    def factory():
        return SMTP(handler, loop=loop, **smtp_kwargs)

    server = loop.run_until_complete(loop.create_server(
        factory, host=args.host, port=args.port,
        ssl=context if args.smtps else None, reuse_address=True))

    stop = asyncio.Event()
    for number in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(number, stop.set)

    if args.pidfile:
        with open(args.pidfile, "w") as out:
            out.write("%d\n" % os.getpid())
    print("ready", flush=True)

    loop.run_until_complete(stop.wait())
    server.close()
    loop.run_until_complete(server.wait_closed())
    loop.close()
    if args.pidfile:
        try:
            os.unlink(args.pidfile)
        except OSError:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
