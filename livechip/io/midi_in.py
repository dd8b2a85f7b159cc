"""MIDI in: the player's keyboard, a controller or a DAW, through python-rtmidi (JACK or ALSA).

    inp = MidiIn()                        # a virtual input port `livechip in` that anything can connect to
    inp = MidiIn("Keystation")            # or an existing output port, by part of its name, or its index
    for t, msg in inp.drain(): ...        # (transport time, [status, data...]) in arrival order
    inp.check()                           # False once the port is gone (and it is reopened when it is back)

The rtmidi callback is the real-time path: it runs on the MIDI system's thread, stamps the message with the
transport clock and puts it on a queue (`queue.SimpleQueue`, whose put takes no lock any model code holds).
It allocates nothing beyond the tuple that carries the message, never logs and never raises. Everything else
(routing, dropping what is malformed, the model) happens on the engine's side of the queue.
"""

import queue
import time

from livechip.errors import DeviceError
from livechip.io import quiet_stderr
from livechip.io.midi import open_port

VIRTUAL = "livechip in"
CLIENT = "livechip-in"    # the MIDI system's client name (on JACK the port is `livechip-in:livechip in`)


class MidiIn:
    """One MIDI input. `port`: None for the virtual port `name`; a string: the first existing port whose name
    contains it (case-insensitive); an int: that port's index. `now()`: the transport clock (default: the
    monotonic clock in seconds)."""

    def __init__(self, port=None, name=VIRTUAL, now=time.monotonic):
        self.port = port
        self.name = name
        self.now = now
        self.queue = queue.SimpleQueue()
        self.midi = None
        self.port_name = None
        self.lost = 0          # times the port went away
        self.errors = 0        # errors the MIDI system reported
        self._open()

    # --- the real-time path ------------------------------------------------------------------------

    def _on_message(self, event, data=None):
        try:
            self.queue.put((self.now(), event[0]))
        except Exception:   # noqa: BLE001 - nothing may escape into the MIDI system's thread
            pass

    def _on_error(self, kind, text, data=None):
        self.errors += 1

    # --- opening and watching the port -----------------------------------------------------------------

    def _open(self):
        import rtmidi
        midi, self.api, self.port_name = open_port(rtmidi.MidiIn, CLIENT, self.name, self.port)
        midi.ignore_types(sysex=True, timing=True, active_sense=True)
        midi.set_error_callback(self._on_error)
        midi.set_callback(self._on_message)
        self.midi = midi

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
        if self.midi is not None:
            midi, self.midi = self.midi, None
            try:
                midi.cancel_callback()
                midi.close_port()
                midi.delete()
            except Exception:   # noqa: BLE001 - a port that is already gone closes as it can
                pass

    def close(self):
        self._close()

    # --- reading ------------------------------------------------------------------------------------

    def get(self, timeout=None):
        """The next (time, message), waiting up to `timeout` seconds; None if there is none."""
        try:
            return self.queue.get(timeout=timeout) if timeout else self.queue.get_nowait()
        except queue.Empty:
            return None

    def drain(self):
        """Every (time, message) waiting, oldest first."""
        out = []
        q = self.queue
        while True:
            try:
                out.append(q.get_nowait())
            except queue.Empty:
                return out

    def describe(self):
        what = f"virtual port {self.port_name!r}" if self.port is None else f"port {self.port_name!r}"
        return f"{what} ({self.api})" if self.midi is not None else f"{what} (closed)"

