"""The control surface: every setting a user can change, in one thread-safe place.

OSC, presets, the TUI and the `livechip play` flags all go through one `Control`. Settings are named by
slash paths, the same names the OSC addresses use after `/livechip/`:

    control.set("temperature", 1.2)          # -> 1.2
    control.set("voice/p1/mode", "human")
    control.set("voice/no/timbre/noise_mode", 1)
    control.get("voice/tr/volume")           # -> 1.0
    control.act("panic")                      # the engine registered a handler with on_action

Every value is checked before it is stored: a wrong type, an unknown path, NaN or infinity raises
`ControlError` (a `LivechipError`) and changes nothing. A number outside its range is clamped to the nearest
end of the range (`RANGES`) and the clamped value is returned, except below an open lower end (temperature and
top_p must be > 0), which is rejected. Whole-number settings accept whole floats (OSC faders send floats) and
round others. Paths are case-insensitive for voices ("p1" or "P1").

Readers never wait on writers for long: the lock is held only to copy or swap state, never while a
subscriber, note listener or action handler runs. The engine polls `version` (bumped on every change) and takes
a `snapshot()` between model steps; it never reads Control from the audio callback.
"""

import copy
import dataclasses
import logging
import math
import threading
from dataclasses import dataclass, field

from livechip.apu.driver import DEFAULTS as TIMBRE_DEFAULTS, Timbre
from livechip.errors import LivechipError
from livechip.events import PITCH_RANGE, VOICES

log = logging.getLogger("livechip.control")

# auto: the model plays the voice until the player plays on it, then the player does until silent on it for
# release_after seconds (the index order is what an OSC radio button sends: auto came last)
VOICE_MODES = ("model", "human", "off", "auto")
VOICE_KEYS = ("mode", "volume", "release_after", "timbre")   # the settings of one voice
# every action and its OSC address after /livechip/: the one list the OSC server, the remote UI and the
# README's table of actions are checked against
ACTION_ADDRESSES = {
    "panic": "panic", "reset": "reset", "reprime": "reprime",
    "record_start": "record/start", "record_stop": "record/stop", "record_save": "record/save",
    "preset_load": "preset/load", "preset_save": "preset/save",
    "play": "transport/play", "stop": "transport/stop", "quit": "quit",
}
ACTIONS = tuple(ACTION_ADDRESSES)
PATH_ACTIONS = ("reprime", "record_save", "preset_load", "preset_save")   # the ones taking one path argument
NEEDS_ENGINE = ("panic", "reset", "reprime", "record_start", "record_stop", "record_save", "play", "stop", "quit")

DEFAULT_HORIZON = 0.5   # seconds of music generated ahead of "now" (the engine's measured default)
DEFAULT_CHANNEL_MAP = {1: "P1", 2: "P2", 3: "TR", 4: "NO", 10: "NO"}
# General MIDI drum notes -> noise notes (1..16, higher is brighter)
DEFAULT_DRUM_MAP = {35: 2, 36: 2, 37: 9, 38: 8, 39: 10, 40: 8, 41: 3, 42: 14, 43: 4, 44: 13, 45: 5, 46: 12,
                    47: 6, 48: 7, 49: 11, 50: 7, 51: 13, 52: 11, 53: 15, 55: 11, 56: 9, 57: 11, 59: 13}

# (low, high, low_open): numbers are clamped into [low, high]; with low_open, a value <= low is rejected
RANGES = {
    "temperature": (0.0, 5.0, True),
    "top_k": (0, 630, False),        # 0 = no limit
    "top_p": (0.0, 1.0, True),       # 1 = no limit
    "horizon": (0.05, 10.0, False),  # seconds
    "tempo": (0.5, 2.0, False),      # schedule speed, 1 = as generated
    "response_gap": (0.05, 10.0, False),   # seconds of player silence before the model answers
    "volume": (0.0, 1.0, False),
    "release_after": (0.1, 60.0, False),   # seconds of player silence before an auto voice goes back to the model
    "split/point": (0, 127, False),
    "split/channel": (1, 16, False),
}
MAX_STRING = 4096    # longest path or name accepted


class ControlError(LivechipError):
    """A setting or action that was refused: unknown name, wrong type, value not allowed."""


@dataclass
class VoiceState:
    mode: str = "auto"             # one of VOICE_MODES
    volume: float = 1.0            # 0..1, applied to the voice's output level
    timbre: dict = field(default_factory=dict)   # plain data for livechip.apu.driver.Timbre
    release_after: float = 4.0     # auto mode: seconds the player is silent on the voice before the model takes it


@dataclass
class Split:
    """A one-channel keyboard split: notes on `channel` below `point` go to `low`, the others to `high`."""
    point: int | None = None       # MIDI note number; None = no split
    channel: int = 1
    low: str = "TR"
    high: str = "P1"




@dataclass
class State:
    temperature: float = 0.95
    top_k: int = 32
    top_p: float = 1.0
    seed: int | None = None        # None = a fresh random seed
    horizon: float = DEFAULT_HORIZON
    tempo: float = 1.0
    voices: dict = field(default_factory=lambda: _default_voices())                  # P1, P2, TR, NO -> VoiceState
    channel_map: dict = field(default_factory=lambda: dict(DEFAULT_CHANNEL_MAP))   # MIDI channel 1..16 -> voice
    split: Split = field(default_factory=Split)
    drum_map: dict = field(default_factory=lambda: dict(DEFAULT_DRUM_MAP))   # GM note -> noise note 1..16
    call_response: bool = False    # the model waits while the player plays and answers in the gaps
    response_gap: float = 0.5      # seconds of silence that count as a gap
    playing: bool = True           # changed by the play/stop actions
    recording: bool = False        # changed by the record_start/record_stop actions


# --- checking values ---------------------------------------------------------------------------------

def _number(path, v):
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise ControlError(f"{path}: must be a number, got {_show(v)}")
    if not math.isfinite(v):
        raise ControlError(f"{path}: must be a finite number, got {v}")
    return v


def _clamp(path, v, lo, hi, low_open=False):
    v = _number(path, v)
    if low_open and v <= lo:
        raise ControlError(f"{path}: must be greater than {lo:g}, got {v:g}")
    return min(max(v, lo), hi)


def _whole(path, v):
    v = _number(path, v)
    return int(round(v)) if isinstance(v, float) else v


def _ranged(name, path=None):
    lo, hi, low_open = RANGES[name]
    path = path or name
    if isinstance(lo, int):
        return lambda v: int(_clamp(path, _whole(path, v), lo, hi, low_open))
    return lambda v: float(_clamp(path, v, lo, hi, low_open))


def _voice(path, v):
    if isinstance(v, str) and v.upper() in VOICES:
        return v.upper()
    raise ControlError(f"{path}: must be one of {', '.join(VOICES)}, got {_show(v)}")


def _mode(path, v):
    if isinstance(v, str) and v.lower() in VOICE_MODES:
        return v.lower()
    if not isinstance(v, (str, bool)) and isinstance(v, (int, float)) and v in range(len(VOICE_MODES)):
        return VOICE_MODES[int(v)]   # an index, as a radio button sends it
    raise ControlError(f"{path}: must be one of {', '.join(VOICE_MODES)} (or 0-{len(VOICE_MODES) - 1}), got {_show(v)}")


def _flag(path, v):
    if isinstance(v, bool):
        return v
    if isinstance(v, (int, float)) and v in (0, 1):
        return bool(v)
    if isinstance(v, str) and v.lower() in ("on", "off", "true", "false", "yes", "no"):
        return v.lower() in ("on", "true", "yes")
    raise ControlError(f"{path}: must be on/off (1/0 or true/false), got {_show(v)}")


def _seed(path, v):
    if v is None or (isinstance(v, str) and v.lower() in ("random", "none", "")):
        return None
    v = _number(path, v)
    if v == -1:
        return None
    if v != int(v) or not 0 <= v < 2**63:
        raise ControlError(f"{path}: must be a whole number from 0 to 2**63-1, or -1 for random, got {v!r}")
    return int(v)


def _none_word(v):
    return v is None or (isinstance(v, str) and v.lower() in ("none", "off", ""))


def _show(v):
    s = repr(v)
    return s if len(s) <= 40 else s[:37] + "..."


_TIMBRE_FIELDS = {f.name: f for f in dataclasses.fields(Timbre)}


def _timbre_value(path, name, v):
    if name not in _TIMBRE_FIELDS:
        raise ControlError(f"{path}: unknown timbre setting {name!r} (known: {', '.join(_TIMBRE_FIELDS)})")
    lo, hi = Timbre._LIMITS[name]
    v = _number(path, v)
    if isinstance(_TIMBRE_FIELDS[name].default, int):
        return int(_clamp(path, _whole(path, v), lo, hi))
    return float(_clamp(path, v, lo, hi))


def _timbre_table(path, table, base):
    if not isinstance(table, dict):
        raise ControlError(f"{path}: must be a table of timbre settings, got {_show(table)}")
    out = dict(base)
    for k, v in table.items():
        out[k] = _timbre_value(f"{path}/{k}", k, v)
    try:
        Timbre(**out)
    except LivechipError as e:
        raise ControlError(f"{path}: {e}") from None
    return out


def _default_voices():
    return {v: VoiceState(timbre=_timbre_table("timbre", TIMBRE_DEFAULTS[v].to_dict(), {})) for v in VOICES}


_SCALARS = {
    "temperature": _ranged("temperature"),
    "top_k": _ranged("top_k"),
    "top_p": _ranged("top_p"),
    "horizon": _ranged("horizon"),
    "tempo": _ranged("tempo"),
    "response_gap": _ranged("response_gap"),
    "seed": lambda v: _seed("seed", v),
    "call_response": lambda v: _flag("call_response", v),
}
_READ_ONLY = ("playing", "recording")


def _channel(path, key):
    try:
        ch = int(key)
    except (TypeError, ValueError):
        raise ControlError(f"{path}: MIDI channel must be 1..16, got {_show(key)}") from None
    if not 1 <= ch <= 16:
        raise ControlError(f"{path}: MIDI channel must be 1..16, got {ch}")
    return ch


def _note_key(path, key):
    try:
        n = int(key)
    except (TypeError, ValueError):
        raise ControlError(f"{path}: MIDI note must be 0..127, got {_show(key)}") from None
    if not 0 <= n <= 127:
        raise ControlError(f"{path}: MIDI note must be 0..127, got {n}")
    return n


def _noise_note(path, v):
    lo, hi = PITCH_RANGE["NO"]
    return int(_clamp(path, _whole(path, v), lo, hi))


# --- the state, addressed by paths ---------------------------------------------------------------

def set_path(state, path, value):
    """Check `value` for `path` and store it in `state` (a State that is not shared; Control passes a copy).

    Returns (canonical path, stored value); raises ControlError leaving `state` partly changed."""
    if not isinstance(path, str) or not path or len(path) > 200:
        raise ControlError(f"not a setting: {_show(path)}")
    parts = path.strip("/").split("/")
    head = parts[0].lower()
    if len(parts) == 1 and head in _SCALARS:
        v = _SCALARS[head](value)
        setattr(state, head, v)
        return head, v
    if len(parts) == 1 and head in _READ_ONLY:
        how = "play/stop" if head == "playing" else "record_start/record_stop"
        raise ControlError(f"{head} is changed by actions ({how})")
    if head == "voice" and len(parts) >= 2:
        v = parts[1].upper()
        if v not in VOICES:
            raise ControlError(f"{path}: no voice {parts[1]!r} (voices: {', '.join(x.lower() for x in VOICES)})")
        vs = state.voices[v]
        base = f"voice/{v.lower()}"
        if len(parts) == 2:
            if not isinstance(value, dict):
                raise ControlError(f"{base}: must be a table with {', '.join(VOICE_KEYS)}, got {_show(value)}")
            unknown = set(value) - set(VOICE_KEYS)
            if unknown:
                raise ControlError(f"{base}: unknown setting {sorted(unknown)[0]!r} (known: {', '.join(VOICE_KEYS)})")
            for k in VOICE_KEYS:
                if k in value:
                    set_path(state, f"{base}/{k}", value[k])
            return base, _voice_dict(vs)
        what = parts[2].lower()
        if len(parts) == 3 and what == "mode":
            vs.mode = _mode(f"{base}/mode", value)
            return f"{base}/mode", vs.mode
        if len(parts) == 3 and what == "volume":
            vs.volume = _ranged("volume", f"{base}/volume")(value)
            return f"{base}/volume", vs.volume
        if len(parts) == 3 and what == "release_after":
            vs.release_after = _ranged("release_after", f"{base}/release_after")(value)
            return f"{base}/release_after", vs.release_after
        if what == "timbre" and len(parts) == 3:
            vs.timbre = _timbre_table(f"{base}/timbre", value, vs.timbre)
            return f"{base}/timbre", dict(vs.timbre)
        if what == "timbre" and len(parts) == 4:
            name = parts[3].lower()
            vs.timbre = _timbre_table(f"{base}/timbre", {name: value}, vs.timbre)
            return f"{base}/timbre/{name}", vs.timbre[name]
    if head == "channel_map" and len(parts) == 1:
        if not isinstance(value, dict):
            raise ControlError(f"channel_map: must be a table of MIDI channel -> voice, got {_show(value)}")
        state.channel_map = {_channel(f"channel_map/{k}", k): _voice(f"channel_map/{k}", v) for k, v in value.items()}
        return "channel_map", dict(state.channel_map)
    if head == "channel" and len(parts) == 2:
        ch = _channel(path, parts[1])
        if _none_word(value):
            state.channel_map.pop(ch, None)
            return f"channel/{ch}", None
        state.channel_map[ch] = _voice(f"channel/{ch}", value)
        return f"channel/{ch}", state.channel_map[ch]
    if head == "drum_map" and len(parts) == 1:
        if not isinstance(value, dict):
            raise ControlError(f"drum_map: must be a table of GM drum note -> noise note, got {_show(value)}")
        state.drum_map = {_note_key(f"drum_map/{k}", k): _noise_note(f"drum_map/{k}", v) for k, v in value.items()}
        return "drum_map", dict(state.drum_map)
    if head == "drum" and len(parts) == 2:
        n = _note_key(path, parts[1])
        if _none_word(value):
            state.drum_map.pop(n, None)
            return f"drum/{n}", None
        state.drum_map[n] = _noise_note(f"drum/{n}", value)
        return f"drum/{n}", state.drum_map[n]
    if head == "split" and len(parts) == 1:
        if _none_word(value):
            state.split.point = None
            return "split", dataclasses.asdict(state.split)
        if not isinstance(value, dict):
            raise ControlError(f"split: must be a table with point, channel, low, high, got {_show(value)}")
        unknown = set(value) - {"point", "channel", "low", "high"}
        if unknown:
            raise ControlError(f"split: unknown setting {sorted(unknown)[0]!r} (known: point, channel, low, high)")
        for k, v in value.items():
            set_path(state, f"split/{k}", v)
        return "split", dataclasses.asdict(state.split)
    if head == "split" and len(parts) == 2:
        what = parts[1].lower()
        if what == "point":
            state.split.point = None if (_none_word(value) or value == -1) else _ranged("split/point")(value)
            return "split/point", state.split.point
        if what == "channel":
            state.split.channel = _ranged("split/channel")(value)
            return "split/channel", state.split.channel
        if what in ("low", "high"):
            setattr(state.split, what, _voice(f"split/{what}", value))
            return f"split/{what}", getattr(state.split, what)
    raise ControlError(f"not a setting: {_show(path)}")


def _voice_dict(vs):
    return {"mode": vs.mode, "volume": vs.volume, "release_after": vs.release_after, "timbre": dict(vs.timbre)}


def _lookup(state, path):
    if not isinstance(path, str) or not path:
        raise ControlError(f"not a setting: {_show(path)}")
    parts = path.strip("/").split("/")
    head = parts[0].lower()
    if len(parts) == 1 and (head in _SCALARS or head in _READ_ONLY):
        return getattr(state, head)
    if head == "voices" and len(parts) == 1:
        return {v: _voice_dict(vs) for v, vs in state.voices.items()}
    if head == "voice" and len(parts) >= 2 and parts[1].upper() in VOICES:
        vs = state.voices[parts[1].upper()]
        if len(parts) == 2:
            return _voice_dict(vs)
        what = parts[2].lower()
        if len(parts) == 3 and what in ("mode", "volume", "release_after"):
            return getattr(vs, what)
        if what == "timbre" and len(parts) == 3:
            return dict(vs.timbre)
        if what == "timbre" and len(parts) == 4 and parts[3].lower() in vs.timbre:
            return vs.timbre[parts[3].lower()]
    if head in ("channel_map", "drum_map") and len(parts) == 1:
        return dict(getattr(state, head))
    if head == "channel" and len(parts) == 2:
        return state.channel_map.get(_channel(path, parts[1]))
    if head == "drum" and len(parts) == 2:
        return state.drum_map.get(_note_key(path, parts[1]))
    if head == "split" and len(parts) == 1:
        return dataclasses.asdict(state.split)
    if head == "split" and len(parts) == 2 and parts[1].lower() in ("point", "channel", "low", "high"):
        return getattr(state.split, parts[1].lower())
    raise ControlError(f"not a setting: {_show(path)}")


def state_dict(state):
    """A State as plain data (fresh dicts, numbers, strings, None): what `snapshot()` holds."""
    d = dict(vars(state))
    d["voices"] = {v: _voice_dict(vs) for v, vs in state.voices.items()}
    d["channel_map"], d["drum_map"] = dict(state.channel_map), dict(state.drum_map)
    d["split"] = dict(vars(state.split))
    return d


def _clone(state):
    """A copy of a State that shares nothing mutable with it (copy.deepcopy, ten times faster)."""
    c = copy.copy(state)
    c.voices = {v: VoiceState(vs.mode, vs.volume, dict(vs.timbre), vs.release_after) for v, vs in state.voices.items()}
    c.channel_map, c.drum_map = dict(state.channel_map), dict(state.drum_map)
    c.split = copy.copy(state.split)
    return c


def leaves(path, value):
    """(path, value) pairs for every single value under a compound one, e.g. for one OSC message each.

    `leaves("voice/p1", {"mode": "model", "volume": 1.0, ...})` -> [("voice/p1/mode", "model"), ...].
    Channel and drum maps come out as channel/<n> and drum/<n>; the split as split/<field>.
    """
    if not isinstance(value, dict):
        return [(path, value)]
    if path == "voices":
        path = "voice"
    elif path == "channel_map":
        path = "channel"
    elif path == "drum_map":
        path = "drum"
    out = []
    for k, v in value.items():
        key = k.lower() if isinstance(k, str) else str(k)
        out += leaves(f"{path}/{key}" if path else key, v)
    return out


# --- Control -----------------------------------------------------------------------------------------

class Control:
    """Every user setting of one livechip instance; safe to use from any thread.

    `subscribe(fn)`: fn(path, value) after each change, for each changed path, outside the lock, on the
    thread that made the change. `on_note(fn)`: fn(voice, pitch, source, time) for each note the engine
    publishes with `note(...)`. `report(**info)`: the engine's running figures (model name, tokens/s, how far
    ahead, xruns, ...), shown by status and the TUI; they do not bump `version`.
    """

    def __init__(self, state=None):
        self._lock = threading.Lock()
        self._state = _clone(state) if state is not None else State()   # never changed in place: replaced
        self._subscribers = []
        self._note_listeners = []
        self._handlers = {name: [] for name in ACTIONS}
        self._info = {}
        self.version = 0

    # --- settings ---

    def get(self, path):
        with self._lock:
            state = self._state
        return _lookup(state, path)      # compound values come back as fresh dicts

    def set(self, path, value):
        """Store one setting; returns the value stored (checked, clamped). Raises ControlError, changing nothing."""
        return self.set_many([(path, value)])[0]

    def set_many(self, items):
        """Store several settings at once: all of them, or (on the first bad one) none. Returns the stored values."""
        with self._lock:
            state = self._state
        state = _clone(state)
        changes = [set_path(state, path, value) for path, value in items]
        return self._commit(state, changes)

    def replace(self, state):
        """Put a whole State in place (a preset), notifying every setting that changed.

        The transport and recording flags stay as they are: only actions change them."""
        if not isinstance(state, State):
            raise ControlError(f"not a State: {_show(state)}")
        state = _clone(state)
        with self._lock:
            current = self._state
        state.playing, state.recording = current.playing, current.recording
        old = dict(leaves("", state_dict(current)))
        new = leaves("", state_dict(state))
        changes = [(p, v) for p, v in new if old.get(p, object()) != v]
        changes += [(p, None) for p in old if p not in dict(new)]   # removed channel/drum entries
        self._commit(state, changes)

    def _commit(self, state, changes):
        with self._lock:
            self._state = state
            self.version += 1
            subscribers = list(self._subscribers)
        for path, value in changes:
            for fn in subscribers:
                try:
                    fn(path, value)
                except Exception:
                    log.exception("a control subscriber failed on %s", path)
        return [value for _, value in changes]

    def snapshot(self):
        """The whole state as plain data (a fresh copy), with the engine's figures under "info"."""
        with self._lock:
            state, info, version = self._state, dict(self._info), self.version
        d = state_dict(state)
        d["info"], d["version"] = info, version
        return d

    def state(self):
        """A private copy of the current State."""
        with self._lock:
            state = self._state
        return _clone(state)

    def subscribe(self, fn):
        with self._lock:
            self._subscribers.append(fn)

    def unsubscribe(self, fn):
        with self._lock:
            if fn in self._subscribers:
                self._subscribers.remove(fn)

    # --- what the engine publishes ---

    def report(self, **info):
        with self._lock:
            self._info.update(info)

    def info(self):
        with self._lock:
            return dict(self._info)

    def on_note(self, fn):
        with self._lock:
            self._note_listeners.append(fn)

    def note(self, voice, pitch, source="model", time=None):
        """Publish a note the engine played (pitch None = note off); never call this from the audio callback."""
        with self._lock:
            listeners = list(self._note_listeners)
        for fn in listeners:
            try:
                fn(voice, pitch, source, time)
            except Exception:
                log.exception("a note listener failed")

    # --- actions ---

    def on_action(self, name, fn):
        """Register fn(*args) to run when `act(name, *args)` is called (the engine does this)."""
        if name not in ACTIONS:
            raise ControlError(f"no action {name!r} (actions: {', '.join(ACTIONS)})")
        with self._lock:
            self._handlers[name].append(fn)

    def act(self, name, *args):
        """Run an action: panic, reset, reprime PATH, record_start, record_stop, record_save PATH,
        preset_load NAME|PATH, preset_save PATH, play, stop, quit. Returns the last handler's result."""
        if name not in ACTIONS:
            raise ControlError(f"no action {_show(name)} (actions: {', '.join(ACTIONS)})")
        want = 1 if name in PATH_ACTIONS else 0
        if len(args) != want:
            raise ControlError(f"{name}: takes {'one path' if want else 'no arguments'}, got {len(args)} arguments")
        if want:
            p = args[0]
            if not isinstance(p, str) or not p or "\0" in p or len(p) > MAX_STRING:
                raise ControlError(f"{name}: needs a file name or path (1..{MAX_STRING} characters), got {_show(p)}")
        with self._lock:
            handlers = list(self._handlers[name])
        if name in NEEDS_ENGINE and not handlers:
            raise ControlError(f"{name}: no engine is running to do it")
        result = None
        if name == "preset_load":
            from livechip import presets
            result = presets.apply_preset(self, presets.load_preset(args[0]))
        elif name == "preset_save":
            from livechip import presets
            result = presets.save_preset(self, args[0])
        for fn in handlers:
            result = fn(*args)
        flag = {"play": ("playing", True), "stop": ("playing", False),
                "record_start": ("recording", True), "record_stop": ("recording", False)}.get(name)
        if flag:
            with self._lock:
                state = self._state
            state = _clone(state)
            setattr(state, flag[0], flag[1])
            self._commit(state, [flag])
        return result
