"""Helpers for the control, OSC and preset tests: a state checker, a plain UDP OSC client, and the OSC server
`livechip play` starts with a client of it."""

import contextlib
import dataclasses
import math
import socket
import time

from pythonosc import osc_packet
from pythonosc.osc_message_builder import OscMessageBuilder

from livechip.apu.driver import Timbre
from livechip.control.osc import start_osc_server
from livechip.control.surface import RANGES, VOICE_MODES, Control
from livechip.core.events import VOICES


def assert_valid_state(snap):
    """Every value of a snapshot is of its type and inside its range."""
    def num(x, lo, hi, low_open=False):
        assert isinstance(x, (int, float)) and not isinstance(x, bool), x
        assert math.isfinite(x) and lo <= x <= hi and not (low_open and x <= lo), (x, lo, hi)

    for name in ("temperature", "top_k", "top_p", "horizon", "tempo", "response_gap"):
        num(snap[name], *RANGES[name])
    assert isinstance(snap["top_k"], int)
    assert snap["seed"] is None or (isinstance(snap["seed"], int) and 0 <= snap["seed"] < 2**63)
    assert isinstance(snap["call_response"], bool)
    assert set(snap["voices"]) == set(VOICES)
    fields = {f.name for f in dataclasses.fields(Timbre)}
    for v in snap["voices"].values():
        assert v["mode"] in VOICE_MODES
        num(v["volume"], 0, 1)
        assert set(v["timbre"]) == fields
        Timbre(**v["timbre"])           # raises if any field is out of its range
    for ch, v in snap["channel_map"].items():
        assert isinstance(ch, int) and 1 <= ch <= 16 and v in VOICES
    for n, x in snap["drum_map"].items():
        assert isinstance(n, int) and 0 <= n <= 127 and isinstance(x, int) and 1 <= x <= 16
    sp = snap["split"]
    assert sp["point"] is None or (isinstance(sp["point"], int) and 0 <= sp["point"] <= 127)
    assert 1 <= sp["channel"] <= 16 and sp["low"] in VOICES and sp["high"] in VOICES


def message(address, *args):
    b = OscMessageBuilder(address=address)
    for a in args:
        b.add_arg(a)
    return b.build()


class Client:
    """An OSC client on its own UDP socket on 127.0.0.1, reading replies with a 64 KiB buffer."""

    def __init__(self, port):
        self.server = ("127.0.0.1", port)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]

    def close(self):
        self.sock.close()

    def send(self, address, *args):
        self.sock.sendto(message(address, *args).dgram, self.server)

    def send_raw(self, data):
        self.sock.sendto(data, self.server)

    def receive(self, timeout=0.3):
        """All messages that arrive until nothing has come for `timeout` seconds: [(address, [args])]."""
        out = []
        self.sock.settimeout(timeout)
        while True:
            try:
                data = self.sock.recv(65536)
            except (socket.timeout, TimeoutError):
                return out
            for m in osc_packet.OscPacket(data).messages:
                out.append((m.message.address, m.message.params))

    def wait_for(self, address, timeout=2.0):
        """The arguments of the first message to `address` within `timeout` seconds (others are skipped)."""
        end = time.monotonic() + timeout
        self.sock.settimeout(0.05)
        while time.monotonic() < end:
            try:
                data = self.sock.recv(65536)
            except (socket.timeout, TimeoutError):
                continue
            for m in osc_packet.OscPacket(data).messages:
                if m.message.address == address:
                    return m.message.params
        raise AssertionError(f"no reply on {address} within {timeout} s")

    def ask(self, address, timeout=2.0):
        """Send a getter (no arguments) and return the reply's arguments."""
        self.send(address)
        return self.wait_for(address, timeout)


def free_udp_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


@contextlib.contextmanager
def served(control=None, folders=None):
    """(server, client): the OSC server `livechip play` starts, on a free loopback port, and a client of it."""
    server = start_osc_server(Control() if control is None else control, "127.0.0.1", 0, folders)
    client = Client(server.port)
    try:
        yield server, client
    finally:
        client.close()
        server.close()
