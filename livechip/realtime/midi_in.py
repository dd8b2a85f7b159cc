"""MIDI in: the player's keyboard, a controller or a DAW, through python-rtmidi (JACK or ALSA).

    inp = MidiIn()                        # a virtual input port `livechip in` that anything can connect to
    inp = MidiIn("Keystation")            # or an existing output port, by part of its name, or its index
    for t, msg in inp.drain(): ...        # (transport time, [status, data...]) in arrival order
    inp.check()                           # False once the port is gone (and it is reopened when it is back)

No Python runs on the MIDI system's thread: python-rtmidi queues what arrives in C++ (up to 1024 messages), and
the reader (`get`, `drain`, the engine's jam thread) takes it from there, looking every millisecond while it
waits, and stamps it with the transport clock. A Python callback on JACK's thread would need the GIL, and
closing the port cancels that thread: cancelled while it waited for the GIL, it took the interpreter's lock
with it and froze the whole process (seen in a test that closed ports while a keyboard played).
"""

import collections
import math
import threading
import time

import rtmidi

from livechip.core.errors import DeviceError
from livechip.realtime.midi_out import open_port
from livechip.realtime.system import quiet_stderr

VIRTUAL = "livechip in"
CLIENT = "livechip-in"    # the MIDI system's client name (on JACK the port is `livechip-in:livechip in`)
POLL = 0.001             # seconds between looks at python-rtmidi's queue while a reader waits
WINDOW = 0.5             # seconds: the arrival stamps' offset is the least lag seen in the last one to two of these


class MidiIn:
    """One MIDI input. `port`: None for the virtual port `name`; a string: the first existing port whose name
    contains it (case-insensitive); an int: that port's index. `now()`: the transport clock (default: the
    monotonic clock in seconds) and `rate` its units a second. `clock`: let MIDI clock (0xF8) through, for
    following a DAW's tempo (Start, Stop, Continue and Song Position Pointer always come through).

    Arrival times: python-rtmidi gives each message its time since the one before, read by the MIDI system
    when it took it (on JACK, in the period it came in). Chained, they time the messages without this
    reader's polling delay; the chain meets the transport clock at the least `now - chain` seen over the last
    WINDOW to 2 WINDOW seconds (a reader that looks late only raises it; the window follows the transport
    clock when it moves against the MIDI system's, as it does after a late audio period)."""

    def __init__(self, port=None, name=VIRTUAL, now=time.monotonic, clock=False, rate=1.0):
        self.port = port
        self.name = name
        self.now = now
        self.rate = rate
        self.clock = clock
        self._chain = None      # the arrival of the latest message by rtmidi's times
        self._least = [math.inf, math.inf]   # the least lag in the window before and in this one
        self._window = -math.inf             # when this window started (transport time)
        self.queue = collections.deque()
        self.midi = None
        self.port_name = None
        self.lost = 0          # times the port went away
        self._lock = threading.Lock()    # the port may be closed by check() while a reader takes from it
        self._open()

    def _take(self):
        """Move what python-rtmidi has queued onto ours, stamped with their arrival times."""
        with self._lock:
            midi = self.midi
            if midi is None:
                return
            m = midi.get_message()
            if m is None:
                return
            now = self.now()
            taken = []
            while m is not None:
                msg, delta = m
                self._chain = 0.0 if self._chain is None else self._chain + delta * self.rate
                taken.append((self._chain, msg))
                m = midi.get_message()
            if now - self._window > WINDOW * self.rate:
                self._least[0], self._least[1], self._window = self._least[1], math.inf, now
            self._least[1] = min(self._least[1], now - self._chain)
            offset = min(self._least)
            for t, msg in taken:
                self.queue.append((t + offset, msg))

    # --- opening and watching the port -----------------------------------------------------------------

    def _open(self):
        midi, self.api, self.port_name = open_port(rtmidi.MidiIn, CLIENT, self.name, self.port)
        midi.ignore_types(sysex=True, timing=not self.clock, active_sense=True)
        with self._lock:
            self.midi = midi
            self._chain = None
            self._least = [math.inf, math.inf]

    def check(self):
        """True while the port is there. An existing port that disappeared is closed (the caller releases the
        player's notes) and reopened once a port of that name is back. Not for the real-time path: it asks
        the MIDI system for its port list."""
        if self.port is None:
            return self.midi is not None
        if self.midi is not None:
            if self.port_name in self.midi.get_ports():
                return True
            self.lost += 1
            self._close()
            return False
        try:
            with quiet_stderr():
                self._open()
        except DeviceError:
            return False
        return True

    def _close(self):
        with self._lock:
            midi, self.midi = self.midi, None
        if midi is not None:
            try:
                midi.close_port()
                midi.delete()
            except Exception:   # noqa: BLE001 - a port that is already gone closes as it can
                pass

    def close(self):
        self._close()

    # --- reading ------------------------------------------------------------------------------------

    def get(self, timeout=None):
        """The next (time, message), waiting up to `timeout` seconds; None if there is none."""
        end = time.monotonic() + (timeout or 0)
        while True:
            if not self.queue:
                self._take()
            if self.queue:
                return self.queue.popleft()
            if time.monotonic() >= end:
                return None
            time.sleep(POLL)

    def drain(self):
        """Every (time, message) waiting, oldest first."""
        self._take()
        out = []
        while self.queue:
            out.append(self.queue.popleft())
        return out

    def describe(self):
        what = f"virtual port {self.port_name!r}" if self.port is None else f"port {self.port_name!r}"
        return f"{what} ({self.api})" if self.midi is not None else f"{what} (closed)"

