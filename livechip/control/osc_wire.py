"""What arrives over OSC before the server handles it: packets python-osc would read wrongly or drop without a
word (unsupported type tags, bytes hidden after a string's end), and the rate limits that keep a flood from
taking the engine's time.
"""

import logging
import time

from pythonosc import osc_packet
from pythonosc.dispatcher import Dispatcher
from pythonosc.parsing import osc_types


class CheckedDispatcher(Dispatcher):
    """python-osc's dispatcher, except that packets it cannot parse are reported instead of dropped silently."""

    def __init__(self, on_bad_packet):
        super().__init__(strict_timing=False)
        self._on_bad_packet = on_bad_packet

    def call_handlers_for_packet(self, data, client_address):
        try:
            messages = osc_packet.OscPacket(data).messages
        except Exception as e:      # ParseError, and the decoding errors python-osc lets through
            self._on_bad_packet(client_address, e)
            return []
        for m in messages:
            address = m.message.address
            bad = _unsupported_tags(m.message)
            if bad:
                self._default_handler.callback(client_address, address, TagError(bad))
                continue
            if _hidden_bytes(m.message.dgram):
                self._default_handler.callback(client_address, address, TagError(None))
                continue
            pattern = any(c in address for c in "*?[{")
            handlers = self._map.get(address) if not pattern else None   # the usual case: no matching needed
            handlers = list(handlers or self.handlers_for_address(address))
            if pattern:
                # a pattern may set many settings at once, but never triggers an action, a reply route, ...
                handlers = [h for h in handlers if h.args and h.callback.__name__ == "_setting"]
            for handler in handlers or [self._default_handler]:
                handler.invoke(client_address, m.message)
        return []


SUPPORTED_TAGS = set("ifsbhdtTFNmr[]")   # what python-osc decodes; it skips others with a warning


def _unsupported_tags(msg):
    """The type tags of `msg` that python-osc could not decode (it drops those arguments), as a string."""
    try:
        _, i = osc_types.get_string(msg.dgram, 0)
        tags, _ = osc_types.get_string(msg.dgram, i)
    except osc_types.ParseError:
        return ""
    return "".join(sorted(set(tags[1:]) - SUPPORTED_TAGS)) if tags.startswith(",") else ""


_SIZES = {"i": 4, "f": 4, "m": 4, "r": 4, "h": 8, "d": 8, "t": 8}    # bytes of each fixed-size argument


class _Hidden(Exception):
    pass


def _string(dgram, i):
    """python-osc's get_string, except that bytes between the string's NUL and its padded end are refused."""
    text, end = osc_types.get_string(dgram, i)
    if any(dgram[i + len(text.encode()):end]):
        raise _Hidden
    return text, end


def _hidden_bytes(dgram):
    """True if `dgram` holds bytes python-osc skips: after the NUL that ends a string (a name with a NUL in it
    would arrive cut short) or after the last argument."""
    try:
        _, i = _string(dgram, 0)
        tags, i = _string(dgram, i)
        for tag in tags[1:]:
            if tag == "s":
                _, i = _string(dgram, i)
            elif tag == "b":
                n, i = osc_types.get_int(dgram, i)
                i += n + -n % 4
            else:
                i += _SIZES.get(tag, 0)
        return any(dgram[i:])
    except _Hidden:
        return True
    except (osc_types.ParseError, UnicodeDecodeError):
        return False            # python-osc reports these itself


class TagError:
    """Marks a message whose type tags python-osc cannot decode, or (tags None) one with hidden bytes (passed
    to the unknown-address handler)."""

    def __init__(self, tags):
        self.tags = tags


class _QuietPythonOsc(logging.Filter):
    """python-osc logs a warning to the root logger for every unknown type tag: a log flood from any sender.
    The server answers those messages itself (rate-limited), so the warning is dropped."""

    def filter(self, record):
        return not (record.module == "osc_message" and str(record.msg).startswith("Unhandled parameter type"))


QUIET = _QuietPythonOsc()


class Limiter:
    """A token bucket: `ok()` is True at most `rate` times a second (bursts of up to `rate`)."""

    def __init__(self, rate):
        self.rate, self.tokens, self.t = rate, float(rate), time.monotonic()

    def ok(self):
        now = time.monotonic()
        self.tokens = min(self.rate, self.tokens + (now - self.t) * self.rate)
        self.t = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False


class Renamed:
    """A message under another address (for the case-insensitive retry)."""

    def __init__(self, address, args):
        self.address, self._args = address, args

    def __iter__(self):
        return iter(self._args)
