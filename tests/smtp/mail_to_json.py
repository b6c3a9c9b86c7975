#!/usr/bin/python3
"""mail_to_json: one email file as JSON, for the mail tests to assert on.

The tests check what a mail client would see, not the bytes libcurl wrote:
Python's `email` package (policy=default) parses the message, decodes
RFC 2047 headers and quoted-printable bodies, and this prints

    {"headers": {name: decoded value, ...},
     "header_list": [[name, decoded value], ...],   (every header, in order:
                                                     duplicates show here)
     "parts": [{"content_type", "charset", "transfer_encoding", "body",
                "max_line_length"}, ...],            (leaf parts, in order)
     "max_line_length": N}                           (of the raw message)

Line lengths count bytes without the line ending; a part's is of its body
as encoded on the wire.
"""
import email
import json
import sys
from email import policy


def raw_lines(data):
    return data.replace(b"\r\n", b"\n").split(b"\n")


def main():
    if len(sys.argv) != 2:
        print("usage: mail_to_json.py FILE.eml", file=sys.stderr)
        return 2
    with open(sys.argv[1], "rb") as source:
        raw = source.read()
    message = email.message_from_bytes(raw, policy=policy.default)

    parts = []
    for part in message.walk():
        if part.is_multipart():
            continue
        encoded = part.get_payload(decode=False)
        if isinstance(encoded, str):
            encoded = encoded.encode("utf-8", "surrogateescape")
        parts.append({
            "content_type": part.get_content_type(),
            "charset": part.get_content_charset(),
            "transfer_encoding": part.get("Content-Transfer-Encoding"),
            "body": part.get_content(),
            "max_line_length": max(len(line) for line in raw_lines(encoded)),
        })
    result = {
        "headers": {name: str(value) for name, value in message.items()},
        "header_list": [[name, str(value)] for name, value in message.items()],
        "parts": parts,
        "max_line_length": max(len(line) for line in raw_lines(raw)),
    }
    json.dump(result, sys.stdout, ensure_ascii=False)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
