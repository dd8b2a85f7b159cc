"""The UI in a process of its own, linked to the instrument's Control and Monitor by a pipe.

`_run_in_process` starts `livechip.tui.app._ui_process` in a child process and answers its requests (`_answer`)
until it ends; in the child, `LinkedControl` and `LinkedMonitor` are the Control's and Monitor's faces over
the pipe (`_Link`), so the drawing never holds the instrument's GIL.
"""

import collections
import socket
import subprocess
import sys
from multiprocessing.connection import Connection
from types import MappingProxyType

from livechip.core.errors import LivechipError
from livechip.control.monitor import Note, Snapshot


class _Lines:
    """A stand-in for stdout/stderr while the UI owns the terminal: complete lines become UI messages."""

    def __init__(self, out):
        self.out, self.part = out, ""

    def write(self, text):
        self.part += text
        *lines, self.part = self.part.split("\n")
        self.out.extend(line for line in lines if line.strip())
        return len(text)

    def flush(self):
        pass


def _run_in_process(control, monitor, done, quit_stops, ascii, fps, headless=False):
    here, there = socket.socketpair()
    code = (f"from livechip.tui.app import _ui_process; "
            f"_ui_process({there.fileno()}, {quit_stops!r}, {ascii!r}, {fps!r}, {headless!r})")
    ui = subprocess.Popen([sys.executable, "-c", code], pass_fds=[there.fileno()])
    there.close()
    link = Connection(here.detach())
    messages = collections.deque(maxlen=16)
    out, err = sys.stdout, sys.stderr
    sys.stdout = sys.stderr = _Lines(messages)
    try:
        while ui.poll() is None:
            if link.poll(0.05):
                try:
                    msg = link.recv()
                except EOFError:
                    break
                link.send(_answer(msg, control, monitor, done, messages))
    finally:
        sys.stdout, sys.stderr = out, err
        link.close()
        try:
            ui.wait(2.0)
        except subprocess.TimeoutExpired:
            ui.terminate()
            ui.wait(2.0)
        for line in messages:
            print(line, file=sys.stderr)


def _answer(msg, control, monitor, done, messages):
    """(True, result) or (False, reason) for one request of the UI process."""
    kind = msg[0]
    try:
        if kind == "control":
            return True, control.snapshot()
        if kind == "monitor":
            snap = monitor.snapshot(msg[1], msg[2])
            notes = [(n.voice, n.pitch, n.start, n.end, n.source, n.speculative) for n in snap.notes]
            return True, (snap.now, snap.start, snap.end, notes, dict(snap.stats), dict(snap.levels))
        if kind == "set":
            return True, control.set_many(msg[1])
        if kind == "act":
            return True, control.act(msg[1], *msg[2])
        if kind == "messages":
            said = list(messages)
            messages.clear()
            return True, said
        if kind == "stopped":
            return True, done()
        return False, f"unknown request {kind!r}"
    except LivechipError as e:
        return False, str(e)
    except Exception as e:      # noqa: BLE001 - an engine handler's failure is the UI's message, not a crash
        return False, f"{kind} failed: {type(e).__name__}: {e}"


class _Link:
    """The UI process's end of the pipe: one request, one answer."""

    def __init__(self, conn):
        self.conn = conn
        self.broken = False

    def call(self, *msg):
        try:
            self.conn.send(msg)
            ok, value = self.conn.recv()
        except (EOFError, OSError):
            self.broken = True
            raise LivechipError("the instrument is gone") from None
        if not ok:
            raise LivechipError(value)
        return value

    def stopped(self):
        try:
            return self.call("stopped")
        except LivechipError:
            return True


class LinkedControl:
    """Control's face for the UI process."""

    def __init__(self, link):
        self.link = link

    def snapshot(self):
        return self.link.call("control")

    def set(self, path, value):
        return self.set_many([(path, value)])[0]

    def set_many(self, items):
        return self.link.call("set", list(items))

    def act(self, name, *args):
        return self.link.call("act", name, args)

    def pop_messages(self):
        return self.link.call("messages")


class LinkedMonitor:
    """Monitor's face for the UI process."""

    def __init__(self, link):
        self.link = link

    def snapshot(self, past_ticks, ahead_ticks):
        now, start, end, notes, stats, levels = self.link.call("monitor", past_ticks, ahead_ticks)
        return Snapshot(now, start, end, tuple(Note(*n) for n in notes), MappingProxyType(stats),
                        MappingProxyType(levels))
