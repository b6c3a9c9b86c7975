#!/usr/bin/python3
"""smtp_sink: moved to scripts/lib/smtp_sink.py (scripts/run uses it too).
Kept here so tests/test_mail.c and tests/test_notify.c find it: same
arguments, same behaviour."""
import os
import runpy
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
SINK = os.path.join(HERE, "..", "..", "scripts", "lib", "smtp_sink.py")
sys.argv[0] = SINK
runpy.run_path(SINK, run_name="__main__")
