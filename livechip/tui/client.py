"""Attach to a running livechip over OSC: the same two faces the UI reads in-process, built from messages.

    remote = Remote("127.0.0.1", 9000)     # binds a local UDP port and subscribes
    remote.control.set("temperature", 1.1) # -> /livechip/temperature 1.1
    remote.control.snapshot()              # the daemon's state as last streamed (plain data, like Control's)
    remote.monitor.snapshot(...)           # the notes the daemon published, on this machine's clock
    remote.close()                         # unsubscribes

`/livechip/subscribe HOST PORT` makes the daemon send its whole state once and then every change and every
published note (`/livechip/note VOICE PITCH SOURCE TIME`); `/livechip/info` is asked for once a second (the
engine's figures are not streamed). The subscription is renewed every few seconds, so a restarted daemon is
picked up again. Settings and actions go out on the addresses of the tables in `livechip.control.settings`; a refusal
comes back on `/livechip/error` and is shown by the UI (`pop_messages`). Notes are placed at the time they
arrive here.
"""

import collections
import copy
import threading
import time

from pythonosc.dispatcher import Dispatcher
from pythonosc.osc_message_builder import OscMessageBuilder
from pythonosc.osc_server import BlockingOSCUDPServer

from livechip.control import surface as ctl
from livechip.core.errors import LivechipError
from livechip.core.events import TICKS_PER_SECOND, VOICES
from livechip.control.monitor import Monitor
from livechip.control.settings import ACTION_ADDRESSES, PREFIX, READ_ONLY

RENEW = 5.0          # seconds between subscription renewals
INFO_EVERY = 1.0     # seconds between /livechip/info requests


def parse_address(text, default_port=9000):
    """"HOST:PORT", "HOST" or ":PORT" -> (host, port); LivechipError if it is not one of those."""
    host, _, port = str(text).rpartition(":") if ":" in str(text) else (str(text), "", "")
    host = host or "127.0.0.1"
    if host == "localhost":
        host = "127.0.0.1"
    try:
        port = int(port) if port else default_port
    except ValueError:
        raise LivechipError(f"--connect {text}: the port must be a number (HOST:PORT)") from None
    if not 1 <= port <= 65535:
        raise LivechipError(f"--connect {text}: the port must be 1..65535")
    return host, port


class RemoteMonitor(Monitor):
    """A Monitor whose "now" is this machine's clock since the client started."""

    def __init__(self):
        super().__init__()
        self.t0 = time.monotonic()

    def tick(self):
        return round((time.monotonic() - self.t0) * TICKS_PER_SECOND)

    def snapshot(self, past_ticks=6 * TICKS_PER_SECOND, ahead_ticks=2 * TICKS_PER_SECOND):
        self.now(self.tick())
        return super().snapshot(past_ticks, ahead_ticks)


class RemoteControl:
    """The Control face of a daemon: get/set/set_many/act/snapshot, over OSC."""

    def __init__(self, remote):
        self.remote = remote

    def get(self, path):
        return self.remote.get(path)

    def set(self, path, value):
        return self.set_many([(path, value)])[0]

    def set_many(self, items):
        with self.remote.lock:
            state = copy.deepcopy(self.remote.state)
        out = [ctl.set_path(state, path, value)[1] for path, value in items]   # checked here first
        with self.remote.lock:
            self.remote.state = state      # shown at once; the daemon's echo (or its error) follows
        for (path, _), value in zip(items, out):
            self.remote.send(f"{PREFIX}/{path.strip('/')}", value)
        return out

    def act(self, name, *args):
        if name not in ACTION_ADDRESSES:
            raise ctl.ControlError(f"no action {name!r} (actions: {', '.join(ctl.ACTIONS)})")
        self.remote.send(f"{PREFIX}/{ACTION_ADDRESSES[name]}", *args)

    def snapshot(self):
        return self.remote.snapshot()

    def pop_messages(self):
        return self.remote.pop_messages()


class Remote:
    """One connection to a daemon at (host, port): `control` and `monitor` for the UI."""

    def __init__(self, host, port, listen_host="127.0.0.1"):
        self.target = (host, port)
        self.lock = threading.Lock()
        self.state = ctl.State()
        self.info = {}
        self.heard = 0.0                 # monotonic time of the last message from the daemon
        self.messages = collections.deque(maxlen=16)
        self.monitor = RemoteMonitor()
        self.control = RemoteControl(self)
        d = Dispatcher()
        d.map(f"{PREFIX}/note", self._note)
        d.map(f"{PREFIX}/error", self._error)
        d.set_default_handler(self._value)
        self.server = BlockingOSCUDPServer((listen_host, 0), d)
        self._closing = threading.Event()
        self._threads = [threading.Thread(target=self.server.serve_forever, name="osc-client", daemon=True),
                         threading.Thread(target=self._keepalive, name="osc-client-renew", daemon=True)]
        for t in self._threads:
            t.start()

    @property
    def connected(self):
        return time.monotonic() - self.heard < RENEW + INFO_EVERY * 2

    # --- sending (from this client's own socket, so replies come back here) ---

    def send(self, address, *args):
        b = OscMessageBuilder(address=address)
        for a in args:
            b.add_arg(int(a) if isinstance(a, bool) else ("none" if a is None else a))
        try:
            self.server.socket.sendto(b.build().dgram, self.target)
        except OSError as e:
            self.messages.append(f"cannot reach {self.target[0]}:{self.target[1]}: {e.strerror or e}")

    def subscribe(self):
        host, port = self.server.server_address[:2]
        self.send(f"{PREFIX}/subscribe", host, port)

    def _keepalive(self):
        last = -RENEW
        while not self._closing.is_set():
            if time.monotonic() - last >= RENEW:
                self.subscribe()
                last = time.monotonic()
            self.send(f"{PREFIX}/info")
            self._closing.wait(INFO_EVERY)

    def close(self):
        self._closing.set()
        host, port = self.server.server_address[:2]
        self.send(f"{PREFIX}/unsubscribe", host, port)
        self.server.shutdown()
        self.server.server_close()

    # --- what the UI reads ---

    def get(self, path):
        with self.lock:
            return ctl.Control(self.state).get(path)

    def snapshot(self):
        with self.lock:
            d = ctl.state_dict(self.state)
            d["info"] = dict(self.info)
        if not self.connected:
            d["info"]["model_name"] = f"no answer from {self.target[0]}:{self.target[1]}"
        return d

    def pop_messages(self):
        out = []
        while self.messages:
            out.append(self.messages.popleft())
        return out

    # --- receiving (the client's server thread) ---

    def _value(self, address, *args):
        self.heard = time.monotonic()
        if not address.startswith(PREFIX + "/") or len(args) != 1:
            return
        path = address[len(PREFIX) + 1:]
        value = args[0]
        if isinstance(value, float):
            value = float(f"{value:.6g}")      # OSC floats are 32-bit: 1.3 arrives as 1.2999999523
        with self.lock:
            if path.startswith("info/"):
                self.info[path[5:]] = value
            elif path in READ_ONLY:
                setattr(self.state, path, bool(value))
            elif path in ("channel_map", "drum_map") and value == "none":
                setattr(self.state, path, {})
            else:
                try:
                    ctl.set_path(self.state, path, value)
                except LivechipError:
                    pass             # a setting this client does not know (a newer daemon): not shown

    def _note(self, address, *args):
        self.heard = time.monotonic()
        if len(args) < 3 or args[0] not in VOICES:
            return
        voice, pitch, source = args[0], args[1], args[2]
        self.monitor.note(voice, None if pitch is None or pitch < 0 else int(pitch), self.monitor.tick(), None,
                          source="human" if source == "human" else "model")

    def _error(self, address, *args):
        self.heard = time.monotonic()
        self.messages.append(" ".join(str(a) for a in args[:2]) or "error")
