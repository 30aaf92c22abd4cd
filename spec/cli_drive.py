#!/usr/bin/env python3
"""Runs a program on a pseudo-terminal for spec/cli_spec.lua.

usage: cli_drive.py STEPS SECONDS PROGRAM [ARGS...]

STEPS is a file of lines "expect<TAB>text" (wait until the output since the
last match contains text) and "send<TAB>text" (write text to the terminal);
text takes Python escapes (\\n, \\t, \\x04 for end of input). Everything the
program wrote goes to stdout; the exit status is the program's (128 + signal
when killed). If the program is still running SECONDS after the start, or
a wait is not met by then, the program is killed, the reason goes to stderr
and the status is 124.
"""
import codecs
import os
import pty
import select
import signal
import sys
import time


def read_steps(path):
    steps = []
    with open(path, encoding="utf-8", newline="") as f:
        for line in f.read().split("\n"):
            if line:
                kind, text = line.split("\t", 1)
                steps.append((kind, codecs.decode(text, "unicode_escape")))
    return steps


class Child:
    def __init__(self, argv, deadline):
        self.pid, self.fd = pty.fork()
        if self.pid == 0:
            os.execvp(argv[0], argv)
        self.deadline = deadline
        self.out = b""
        self.seen = 0  # where the next expect starts looking
        self.status = None

    def pump(self):
        """Reads what is there, waiting at most until the deadline; False at the end."""
        left = self.deadline - time.monotonic()
        if left <= 0:
            return False
        ready, _, _ = select.select([self.fd], [], [], left)
        if not ready:
            return False
        try:
            data = os.read(self.fd, 65536)
        except OSError:  # EIO: the terminal's last holder has gone
            data = b""
        self.out += data
        return bool(data)

    def expect(self, text):
        want = text.encode()
        while True:
            at = self.out.find(want, self.seen)
            if at >= 0:
                self.seen = at + len(want)
                return True
            if not self.pump():
                return False

    def wait(self):
        while self.pump():
            pass
        while time.monotonic() < self.deadline:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                return os.waitstatus_to_exitcode(status)
            select.select([], [], [], 0.01)  # bounded poll for the exit, not a synchronisation
        return None


def main():
    steps = read_steps(sys.argv[1])
    child = Child(sys.argv[3:], time.monotonic() + float(sys.argv[2]))
    code = None
    for kind, text in steps:
        if kind == "send":
            os.write(child.fd, text.encode())
        elif not child.expect(text):
            sys.stderr.write("timed out waiting for %r\n" % text)
            break
    else:
        code = child.wait()
        if code is None:
            sys.stderr.write("timed out waiting for the exit\n")
    if code is None:
        os.kill(child.pid, signal.SIGKILL)
        os.waitpid(child.pid, 0)
        code = 124
    sys.stdout.write(child.out.decode(errors="replace"))
    sys.exit(code if code >= 0 else 128 - code)


if __name__ == "__main__":
    main()
