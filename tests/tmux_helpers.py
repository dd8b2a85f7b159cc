"""A real terminal for the UI tests: a tmux server of the test's own, keys in with send-keys, the screen back
with capture-pane."""

import shlex
import subprocess
import sys
import time

VOICE_LABELS = ("P1", "P2", "TR", "NO")


class Terminal:
    """`command` (a shell line) running in a detached tmux session of `width` x `height` cells."""

    def __init__(self, command, width=100, height=30, name="t"):
        self.socket = f"livechip-test-{time.monotonic_ns() % 10**12}"
        self.name = name
        r = self.tmux("new-session", "-d", "-s", name, "-x", str(width), "-y", str(height), command)
        if r.returncode != 0:
            raise RuntimeError(f"tmux: {r.stderr}")

    def tmux(self, *args):
        return subprocess.run(["tmux", "-L", self.socket, *args], capture_output=True, text=True)

    def screen(self):
        return self.tmux("capture-pane", "-p", "-t", self.name).stdout

    def keys(self, *keys):
        self.tmux("send-keys", "-t", self.name, *keys)

    def wait(self, check, timeout):
        """The screen once check(screen) is true, or as it is after `timeout` seconds."""
        end = time.monotonic() + timeout
        text = self.screen()
        while not check(text) and time.monotonic() < end:
            time.sleep(0.1)
            text = self.screen()
        return text

    def close(self):
        self.tmux("kill-server")


def livechip(*args, env=()):
    """A shell line running this Python's livechip (the .venv's, whatever is on PATH), then EXIT=<status>.
    COLUMNS and LINES are dropped: under pytest they say 80x24, whatever the terminal's size."""
    pre = " ".join(f"{k}={shlex.quote(str(v))}" for k, v in (("TERM", "xterm-256color"), *env))
    line = " ".join(shlex.quote(str(a)) for a in (sys.executable, "-m", "livechip", *args))
    return f"env -u COLUMNS -u LINES {pre} {line}; echo EXIT=$?; sleep 60"


def lane(text, voice):
    """The rows of a voice's lane: its label row and the rows down to the next voice's label."""
    out = []
    for r in text.splitlines()[2:-1]:
        head = r[:3].rstrip()
        if head in VOICE_LABELS:
            if out:
                break
            if head == voice:
                out.append(r)
        elif out:
            out.append(r)
    return out


def roll(rows):
    """The piano-roll part of lane rows (right of the label column)."""
    return [r[14:] for r in rows]


def now_column(text):
    """The column of the "now" line: where most lane rows have a │ right of the label."""
    counts = {}
    for r in text.splitlines()[2:-1]:
        for c, ch in enumerate(r[14:]):
            if ch == "│":
                counts[c] = counts.get(c, 0) + 1
    return max(counts, key=counts.get) if counts else None
