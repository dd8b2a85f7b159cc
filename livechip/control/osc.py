"""OSC control: a UDP server under /livechip/... that turns messages into `Control` calls.

    server = start_osc_server(control, "127.0.0.1", 9000)   # its own thread; never touches the audio path
    ...
    server.close()

Every address comes from the tables of `livechip.control.settings`. Every setting of `Control` has one:
`/livechip/<path>` with one argument sets it, with no arguments replies with its value
(`/livechip/temperature 1.2`, `/livechip/voice/p1/mode human`, `/livechip/voice/no/timbre/noise_mode 1`).
Actions take their arguments (`/livechip/panic`, `/livechip/reprime song.mid`). OSC address patterns work
(`/livechip/voice/*/mode off` mutes all four voices). Replies go to the sender, or to where
`/livechip/reply HOST PORT` said (see `_route`).

Whatever arrives, the server keeps going: a packet that is not OSC, a wrong type or argument count, an unknown
address, NaN, an out-of-range value (clamped to its row of `livechip.control.settings.SETTINGS`) is answered with
`/livechip/error ADDRESS REASON` and a log line; both are rate-limited, and what is over the limit is counted
in `stats` and dropped. Bundles are applied when they arrive: time tags are not waited for.
`/livechip/subscribe HOST PORT` streams every change of state and every published note to a client.
"""

import collections
import ipaddress
import logging
import math
import socket
import sys
import threading
import time

from pythonosc.osc_bundle_builder import IMMEDIATELY, OscBundleBuilder
from pythonosc.osc_message_builder import OscMessageBuilder
from pythonosc.osc_server import BlockingOSCUDPServer

from livechip.control.surface import ControlError, leaves
from livechip.core.errors import LivechipError
from livechip.control.osc_wire import QUIET, CheckedDispatcher, Limiter, Renamed, TagError
from livechip.control.settings import ACTION, ACTION_TABLE, PREFIX, READ_ONLY, setting_paths
from livechip.control.state import find

log = logging.getLogger("livechip.osc")

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 9000
MAX_SUBSCRIBERS = 16
ERROR_RATE = 500         # error replies per second (per server), with a burst of as many
LOG_RATE = 5             # log lines per second
PACKET_RATE = 5000       # packets per second handled at full speed; more are slowed to about 1000 a second


def start_osc_server(control, host=DEFAULT_HOST, port=DEFAULT_PORT, folders=None):
    """Bind the OSC server (port 0 picks a free one: see `server.port`) and serve in a daemon thread.
    With `folders` (a `livechip.control.folders.Folders`), paths sent with actions must stay inside them."""
    server = OscServer(control, host, port, folders)
    server.start()
    return server


class OscServer(BlockingOSCUDPServer):
    """The OSC face of a Control. One thread receives and handles packets one at a time; a second one sends
    to subscribers, so a slow or absent subscriber never holds up the thread that changed the state."""

    max_packet_size = 65536      # the largest UDP datagram; socketserver's default (8192) would cut some

    def __init__(self, control, host=DEFAULT_HOST, port=DEFAULT_PORT, folders=None):
        self.control = control
        self.folders = folders               # None: action paths are not confined (--osc-any-path)
        self.stats = collections.Counter()   # packets, messages, ok, errors, errors_dropped, bad_packets
        self.routes = {}                     # (ip, port) of a sender -> (ip, port) its replies go to
        self.ip_routes = {}                  # ip -> (ip, port) for senders from that ip without a route of their own
        self.subscribers = []
        self._errors = Limiter(ERROR_RATE)
        self._packet_budget = Limiter(PACKET_RATE)
        self._logs = Limiter(LOG_RATE)
        self._log_suppressed = 0
        self._outbox = collections.deque(maxlen=4096)
        self._wake = threading.Event()
        self._closing = False
        self._threads = []
        d = CheckedDispatcher(self._bad_packet)
        for path in setting_paths():
            d.map(f"{PREFIX}/{path}", self._setting, path, needs_reply_address=True)
        for a in ACTION_TABLE:
            d.map(f"{PREFIX}/{a.address}", self._action, a.name, needs_reply_address=True)
        for path in READ_ONLY:
            d.map(f"{PREFIX}/{path}", self._read_only, needs_reply_address=True)
        for address, fn in (("status", self._status), ("reply", self._reply_to), ("subscribe", self._subscribe),
                            ("unsubscribe", self._unsubscribe), ("ping", self._ping), ("info", self._info)):
            d.map(f"{PREFIX}/{address}", fn, needs_reply_address=True)
        d.set_default_handler(self._unknown, needs_reply_address=True)
        super().__init__((host, port), d)
        try:   # room for bursts (a fader sweep, a status storm); the kernel may cap it
            self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        except OSError:
            pass
        if QUIET not in logging.root.filters:
            logging.root.addFilter(QUIET)
        control.subscribe(self._changed)
        control.on_note(self._note)

    # --- life ---

    @property
    def host(self):
        return self.server_address[0]

    @property
    def port(self):
        return self.server_address[1]

    def start(self):
        serve = lambda: self.serve_forever(poll_interval=0.1)    # how soon close() is noticed
        for target, name in ((serve, "osc-server"), (self._send_loop, "osc-subscribers")):
            t = threading.Thread(target=target, name=name, daemon=True)
            t.start()
            self._threads.append(t)
        log.info("OSC control on %s:%d", self.host, self.port)

    def close(self):
        """Stop serving, stop streaming and unhook from the Control."""
        self._closing = True
        self._wake.set()
        if self._threads:
            self.shutdown()
        self.control.unsubscribe(self._changed)
        self.server_close()
        for t in self._threads:
            t.join(timeout=2)

    def handle_error(self, request, client_address):
        # a handler raised something unexpected: answer, log (rate-limited), keep serving
        e = sys.exc_info()[1]
        self._error(client_address, "", f"internal error: {type(e).__name__}: {e}", exc=True)

    # --- sending ---

    def _route(self, client):
        """Where replies to `client` go: its own reply route, else the last one set from its ip, else itself."""
        return self.routes.get(client) or self.ip_routes.get(client[0]) or client

    def _send(self, target, content):
        try:
            self.socket.sendto(content.dgram, target)
        except OSError as e:          # unreachable, buffer full, closed: a reply lost, never a crash
            self.stats["send_failed"] += 1
            self._log("cannot send to %s:%d: %s", target[0], target[1], e)

    def _reply(self, client, address, value):
        self._send(self._route(client), _message(address, value))

    def _error(self, client, address, reason, exc=False):
        self.stats["errors"] += 1
        address = _clip(address, 200)
        self._log("%s from %s:%d: %s", address or "packet", client[0], client[1], reason, exc=exc)
        if self._errors.ok():
            self._send(self._route(client), _message(f"{PREFIX}/error", [address, _clip(reason, 400)]))
        else:
            self.stats["errors_dropped"] += 1

    def _log(self, fmt, *args, exc=False):
        if self._logs.ok():
            if self._log_suppressed:
                log.warning("(%d more OSC messages not logged)", self._log_suppressed)
                self._log_suppressed = 0
            log.warning(fmt, *args, exc_info=exc)
        else:
            self._log_suppressed += 1

    # --- handlers (all on the server thread) ---

    def _bad_packet(self, client, e):
        self.stats["bad_packets"] += 1
        self._error(client, "", f"not a valid OSC packet ({_clip(str(e), 120)})")

    def verify_request(self, request, client_address):
        # python-osc drops what does not look like OSC without a word; count it and answer instead.
        # (socketserver calls this outside its error handling: it must not raise.)
        # Each packet first gives the GIL away, so an audio or MIDI thread waiting for it gets it now rather
        # than after Python's 5 ms switch interval; over PACKET_RATE a second, packets wait (the kernel drops
        # what overflows its buffer), so a flood cannot take a whole core from the engine.
        time.sleep(0 if self._packet_budget.ok() else 0.001)
        try:
            return self._verify(request[0], client_address)
        except Exception:
            self.stats["internal_errors"] += 1
            return False

    def _verify(self, data, client_address):
        if not (data.startswith(b"/") or data.startswith(b"#bundle\0")):
            self.stats["packets"] += 1
            self.stats["bad_packets"] += 1
            self._error(client_address, "", "not an OSC packet (must start with '/' or '#bundle')")
            return False
        self.stats["packets"] += 1
        return True

    def _setting(self, client, address, fixed, *args):
        self.stats["messages"] += 1
        path = fixed[0]
        if not args:
            return self._get(client, path)
        if len(args) != 1:
            return self._error(client, address, f"takes one value (or none to ask for it), got {len(args)}")
        value = args[0]
        try:
            stored = self.control.set(path, value)
        except LivechipError as e:
            return self._error(client, address, str(e))
        self.stats["ok"] += 1
        if _differs(value, stored):
            self._error(client, address, f"{_show(value)} is out of range or not whole: set to {_show(stored)}")

    def _get(self, client, path):
        try:
            value = self.control.get(path)
        except LivechipError as e:
            return self._error(client, f"{PREFIX}/{path}", str(e))
        self.stats["ok"] += 1
        items = leaves(path, value)
        if len(items) == 1 and not isinstance(value, dict):
            return self._reply(client, f"{PREFIX}/{path}", _osc_value(path, value))
        self._send(self._route(client), _bundle(items))

    def _action(self, client, address, fixed, *args):
        self.stats["messages"] += 1
        action = fixed[0]
        n = 1 if ACTION[action].arg else 0
        if n == 0 and len(args) == 1 and isinstance(args[0], (bool, int, float)):
            # a controller's button sends 1 on press and 0 on release: press acts, release is ignored
            if not args[0]:
                self.stats["ok"] += 1
                return
            args = ()
        if len(args) != n:
            want = "no arguments" if n == 0 else "one string (a file name or path)"
            return self._error(client, address, f"takes {want}, got {len(args)} arguments")
        if n and not isinstance(args[0], str):
            return self._error(client, address, f"takes a string (a file name or path), got {_show(args[0])}")
        try:
            if n and self.folders is not None:
                args = (self.folders.path(action, args[0]),)
            result = self.control.act(action, *args)
        except Exception as e:     # LivechipError, or an engine handler's own failure
            return self._error(client, address, str(e) if isinstance(e, LivechipError)
                               else f"{action} failed: {type(e).__name__}: {e}")
        self.stats["ok"] += 1
        # record/stop names the take it wrote: /livechip/done ADDRESS STEM
        self._reply(client, f"{PREFIX}/done", [address] + ([str(result)] if action == "record_stop" else []))

    def _read_only(self, client, address, *args):
        self.stats["messages"] += 1
        path = address.rsplit("/", 1)[-1]
        if args:
            how = " and ".join(a.address for a in READ_ONLY[path])
            return self._error(client, address, f"read-only; use {how}")
        self._get(client, path)

    def _info(self, client, address, *args):
        self.stats["messages"] += 1
        if args:
            return self._error(client, address, "read-only (the engine's figures)")
        self.stats["ok"] += 1
        self._send(self._route(client), _bundle(_info_items(self.control.info())))

    def _status(self, client, address, *args):
        self.stats["messages"] += 1
        if args:
            return self._error(client, address, f"takes no arguments, got {len(args)}")
        self.stats["ok"] += 1
        self._send(self._route(client), self._status_bundle())

    def _status_bundle(self):
        snap = self.control.snapshot()
        info = snap.pop("info")
        snap.pop("version")
        items = leaves("", snap)
        for name in ("channel_map", "drum_map"):
            if not snap[name]:
                items.append((name, "none"))
        return _bundle(items + _info_items(info))

    def _ping(self, client, address, *args):
        self.stats["messages"] += 1
        self.stats["ok"] += 1
        self._reply(client, f"{PREFIX}/pong", list(a for a in args if isinstance(a, (int, float, str)))[:8])

    def _target(self, client, address, args):
        """(ip, port) from arguments HOST PORT, PORT (the sender's ip), or none (the sender itself)."""
        if not args:
            return client
        if len(args) == 1:
            host, port = client[0], args[0]
        elif len(args) == 2:
            host, port = args
        else:
            raise ControlError(f"takes HOST PORT, PORT or nothing, got {len(args)} arguments")
        if not isinstance(host, str):
            raise ControlError(f"host must be a string (an IP address), got {_show(host)}")
        if host == "localhost":
            host = "127.0.0.1"
        try:
            host = str(ipaddress.ip_address(host))
        except ValueError:
            raise ControlError(f"host must be an IP address like 127.0.0.1, got {_show(host)}") from None
        if isinstance(port, bool) or not isinstance(port, (int, float)) or port != int(port) \
                or not 0 <= port <= 65535:
            raise ControlError(f"port must be 1..65535 (0 to clear), got {_show(port)}")
        return host, int(port)

    def _reply_to(self, client, address, *args):
        self.stats["messages"] += 1
        if not args:
            self.stats["ok"] += 1
            return self._reply(client, address, list(self._route(client)))
        try:
            target = self._target(client, address, args)
        except ControlError as e:
            return self._error(client, address, str(e))
        if target[1] == 0:
            self.routes.pop(client, None)
            self.ip_routes.pop(client[0], None)
        else:
            if len(self.routes) >= 1024:       # senders come and go (oscsend uses a new port each time)
                self.routes.pop(next(iter(self.routes)))
            self.routes[client] = target
            self.ip_routes[client[0]] = target
        self.stats["ok"] += 1
        self._reply(client, address, list(self._route(client)))

    def _subscribe(self, client, address, *args):
        self.stats["messages"] += 1
        try:
            target = self._target(client, address, args) if args else self._route(client)
        except ControlError as e:
            return self._error(client, address, str(e))
        if target[1] == 0:
            return self._error(client, address, "port must be 1..65535")
        if target not in self.subscribers:
            if len(self.subscribers) >= MAX_SUBSCRIBERS:
                return self._error(client, address, f"already {MAX_SUBSCRIBERS} subscribers; unsubscribe one first")
            self.subscribers.append(target)
        self.stats["ok"] += 1
        self._send(target, _message(f"{PREFIX}/subscribed", list(target)))
        self._send(target, self._status_bundle())

    def _unsubscribe(self, client, address, *args):
        self.stats["messages"] += 1
        try:
            target = self._target(client, address, args) if args else self._route(client)
        except ControlError as e:
            return self._error(client, address, str(e))
        if target in self.subscribers:
            self.subscribers.remove(target)
        self.stats["ok"] += 1
        self._send(target, _message(f"{PREFIX}/unsubscribed", list(target)))

    def _unknown(self, client, address, *args):
        self.stats["messages"] += 1
        if len(args) == 1 and isinstance(args[0], TagError) and args[0].tags is None:
            return self._error(client, address, "bytes after a string's end (a NUL in it?) or after the last "
                                                "argument: the message is refused")
        if len(args) == 1 and isinstance(args[0], TagError):
            return self._error(client, address, f"unsupported OSC type tag(s) {args[0].tags!r} "
                                                f"(use i, h, f, d, s, T, F, N)")
        lower = address.lower()
        if lower != address:    # /livechip/voice/P1/mode: voice names and settings in any case
            handlers = list(self.dispatcher.handlers_for_address(lower))
            if handlers and handlers[0].callback != self._unknown:
                self.stats["messages"] -= 1
                for h in handlers:
                    h.invoke(client, Renamed(lower, args))
                return
        if not address.startswith(PREFIX + "/"):
            return self._error(client, address, f"unknown address (livechip's addresses start with {PREFIX}/)")
        self._error(client, address, "unknown address (see /livechip/status for the settings)")

    # --- streaming to subscribers (the sender thread) ---

    def _changed(self, path, value):
        if self.subscribers:
            for p, v in leaves(path, value):
                self._outbox.append(_message(f"{PREFIX}/{p}", _osc_value(p, v)))
            self._wake.set()

    def _note(self, voice, pitch, source, t):
        if self.subscribers:
            self._outbox.append(_message(f"{PREFIX}/note", [
                str(voice), -1 if pitch is None else int(pitch), str(source), -1.0 if t is None else float(t)]))
            self._wake.set()

    def _send_loop(self):
        while not self._closing:
            self._wake.wait(0.5)
            self._wake.clear()
            while self._outbox and not self._closing:
                msg = self._outbox.popleft()
                for target in list(self.subscribers):
                    self._send(target, msg)


def _osc_value(path, value):
    """A setting's value as OSC arguments: None as -1 (numbers) or "none" (voices), bools as 1/0."""
    if value is None:
        return "none" if find(path)[0].type == "voice" else -1
    if isinstance(value, bool):
        return int(value)
    return value


def _message(address, args):
    b = OscMessageBuilder(address=address)
    for a in args if isinstance(args, list) else [args]:
        b.add_arg(a)
    return b.build()


def _bundle(items):
    b = OscBundleBuilder(IMMEDIATELY)
    for path, value in items:
        b.add_content(_message(f"{PREFIX}/{path}", _osc_value(path, value)))
    return b.build()


def _info_items(info):
    return [(f"info/{k}", v) for k, v in sorted(info.items())
            if isinstance(v, (int, float, str)) and not (isinstance(v, float) and not math.isfinite(v))]


def _differs(sent, stored):
    if isinstance(sent, bool) or isinstance(stored, bool):
        return False
    if isinstance(sent, (int, float)) and isinstance(stored, (int, float)):
        return abs(sent - stored) > 1e-6 * max(1.0, abs(sent))
    return False


def _clip(s, n):
    s = str(s)
    return s if len(s) <= n else s[:n - 3] + "..."


def _show(v):
    return _clip(repr(v), 40)

