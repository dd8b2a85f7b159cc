"""The state of one instrument (`State`) and the paths that address it, from the table of `livechip.control.settings`.

    state = State()                              # every setting at its default
    set_path(state, "voice/P1/mode", "human")    # -> ("voice/p1/mode", "human"), checked against its row
    lookup(state, "voice/p1")                    # -> {"mode": "human", "volume": 1.0, ...}

A path names a row of SETTINGS or a compound path of GROUPS; `find` resolves it to the State fields it
reaches (voice/<v>/... -> state.voices[V], channel/<ch> -> state.channel_map, drum/<note> -> state.drum_map).
"""

import copy
import dataclasses
from dataclasses import dataclass, field

from livechip.core.events import PITCH_RANGE, VOICES
from livechip.model.steer import Steering
from livechip.control.settings import GROUP, GROUPS, NONE, READ_ONLY, ROW, SETTINGS, WILDCARDS, ControlError, Group, check, children, show

_PATTERN = {p: tuple(p.split("/")) for p in (*ROW, *GROUP)}


# --- the state ---------------------------------------------------------------------------------------

def _default(path, key=None):
    return ROW[path].default_for(key)


@dataclass
class VoiceState:
    mode: str = _default("voice/<v>/mode")
    volume: float = _default("voice/<v>/volume")
    timbre: dict = field(default_factory=dict)   # plain data for livechip.apu.driver.Timbre
    release_after: float = _default("voice/<v>/release_after")
    low: int | None = _default("voice/<v>/low")      # the notes the model may start on it; None = no limit
    high: int | None = _default("voice/<v>/high")


@dataclass
class Split:
    """A one-channel keyboard split: notes on `channel` below `point` go to `low`, the others to `high`."""
    point: int | None = _default("split/point")    # MIDI note number; None = no split
    channel: int = _default("split/channel")
    low: str = _default("split/low")
    high: str = _default("split/high")


def _default_voices():
    timbre = [s for s in SETTINGS if s.path.startswith("voice/<v>/timbre/")]
    return {v: VoiceState(timbre={s.path.rsplit("/", 1)[1]: s.default_for(v) for s in timbre}) for v in VOICES}


@dataclass
class State:
    temperature: float = _default("temperature")
    top_k: int = _default("top_k")
    top_p: float = _default("top_p")
    recall: float = _default("recall")
    seed: int | None = _default("seed")          # None = a fresh random seed
    horizon: float = _default("horizon")
    tempo: float = _default("tempo")
    bpm: float = _default("bpm")
    quantize: str = _default("quantize")
    sync: str = _default("sync")                 # the engine's (Control.tell)
    beat: float = _default("beat")
    voices: dict = field(default_factory=_default_voices)                                   # P1..NO -> VoiceState
    channel_map: dict = field(default_factory=lambda: dict(ROW["channel/<ch>"].default))   # MIDI channel -> voice
    split: Split = field(default_factory=Split)
    drum_map: dict = field(default_factory=lambda: dict(ROW["drum/<note>"].default))       # GM note -> noise note
    call_response: bool = _default("call_response")
    response_gap: float = _default("response_gap")
    key: str = _default("key")                   # steering: "off" or a key name
    scale: str = _default("scale")
    density: float = _default("density")
    playing: bool = _default("playing")          # changed by the play/stop actions
    recording: bool = _default("recording")      # changed by the record_start/record_stop actions


def voice_dict(vs):
    return {"mode": vs.mode, "volume": vs.volume, "release_after": vs.release_after, "timbre": dict(vs.timbre),
            "low": vs.low, "high": vs.high}


def state_dict(state):
    """A State as plain data (fresh dicts, numbers, strings, None): what `snapshot()` holds."""
    d = dict(vars(state))
    d["voices"] = {v: voice_dict(vs) for v, vs in state.voices.items()}
    d["channel_map"], d["drum_map"] = dict(state.channel_map), dict(state.drum_map)
    d["split"] = dict(vars(state.split))
    return d


def clone(state):
    """A copy of a State that shares nothing mutable with it (copy.deepcopy, ten times faster)."""
    c = copy.copy(state)
    c.voices = {v: VoiceState(vs.mode, vs.volume, dict(vs.timbre), vs.release_after, vs.low, vs.high)
                for v, vs in state.voices.items()}
    c.channel_map, c.drum_map = dict(state.channel_map), dict(state.drum_map)
    c.split = copy.copy(state.split)
    return c


def steering(s):
    """The `livechip.model.steer.Steering` of a State or of its plain data (a snapshot). A low or high beyond
    the voice's own notes counts as its nearest one; ControlError for a low above its high."""
    d = state_dict(s) if isinstance(s, State) else s
    ranges = {}
    for v in VOICES:
        low, high = d["voices"][v]["low"], d["voices"][v]["high"]
        if low is not None and high is not None and low > high:
            raise ControlError(f"voice/{v.lower()}/low: {low} is above the voice's high {high}; set the other end "
                               "first")
        lo, hi = PITCH_RANGE[v]
        ranges[v] = tuple(None if x is None else min(max(x, lo), hi) for x in (low, high))
    return Steering(d["key"], d["scale"], d["density"], ranges)


# --- paths ---------------------------------------------------------------------------------------

STORE = {"voice": "voices", "channel": "channel_map", "drum": "drum_map"}   # a path's head -> its State field


def _parts(path):
    if not isinstance(path, str) or not path or len(path) > 200:
        raise ControlError(f"not a setting: {show(path)}")
    return path.strip("/").split("/")


def _match(parts, patterns):
    """(pattern, canonical path, State keys) for the pattern of `patterns` that `parts` names, or None."""
    for pattern in patterns:
        want = _PATTERN[pattern]
        if len(want) != len(parts) or any(w != p.lower() for w, p in zip(want, parts) if w not in WILDCARDS):
            continue
        path = "/".join(parts)
        keys = [WILDCARDS[w][1](path, p) if w in WILDCARDS else p.lower() for w, p in zip(want, parts)]
        return pattern, "/".join(str(k).lower() for k in keys), [STORE.get(keys[0], keys[0])] + keys[1:]
    return None


def find(path):
    """(row or group, canonical path, State keys) of a path: find("voice/P1/mode") -> (the row of
    voice/<v>/mode, "voice/p1/mode", ["voices", "P1", "mode"]). ControlError for a path that names nothing."""
    parts = _parts(path)
    hit = _match(parts, ROW) or _match(parts, GROUP)
    if hit:
        return (ROW.get(hit[0]) or GROUP[hit[0]]), hit[1], hit[2]
    parent = _match(parts[:-1], [g.path for g in GROUPS if not g.map]) if len(parts) > 1 else None
    if parent:
        label = [w for w in _PATTERN[parent[0]] if w not in WILDCARDS][-1]
        raise ControlError(f"not a setting: {show(path)}: unknown {label} setting {parts[-1]!r} "
                           f"(known: {', '.join(children(parent[0]))})")
    raise ControlError(f"not a setting: {show(path)}")


def _walk(obj, keys):
    for k in keys:
        obj = obj[k] if isinstance(obj, dict) else getattr(obj, k)
    return obj


def _store(obj, key, value):
    if not isinstance(obj, dict):
        setattr(obj, key, value)
    elif value is None:
        obj.pop(key, None)
    else:
        obj[key] = value


# --- the state, addressed by paths ---------------------------------------------------------------

def set_path(state, path, value, owner=False):
    """Check `value` for `path` and store it in `state` (a State that is not shared; Control passes a copy).
    `owner`: the engine telling a read-only setting.

    Returns (canonical path, stored value); raises ControlError leaving `state` partly changed."""
    s, canon, keys = find(path)
    if isinstance(s, Group):
        return _set_group(state, s, canon, value)
    if s.path in READ_ONLY and not owner:
        how = "/".join(a.name for a in READ_ONLY[s.path])
        raise ControlError(f"{s.path} is changed by actions ({how})" if how else f"{s.path} is read-only")
    v = check(s, canon, value)
    _store(_walk(state, keys[:-1]), keys[-1], v)
    return canon, v


def _set_group(state, g, canon, value):
    if not g.settable:
        raise ControlError(f"not a setting: {show(canon)} (read it only)")
    if g.none and (value is None or (isinstance(value, str) and value.lower() in NONE)):
        set_path(state, g.none, None)
        return canon, lookup(state, canon)
    if not isinstance(value, dict):
        raise ControlError(f"{canon}: must be {g.help}, got {show(value)}")
    if g.map:
        _walk(state, [STORE[g.map.split("/")[0]]]).clear()
    head = g.map.split("/")[0] if g.map else canon
    for k, v in value.items():
        set_path(state, f"{head}/{k.lower() if isinstance(k, str) else k}", v)
    return canon, lookup(state, canon)


def lookup(state, path):
    """The value at `path` in `state`: a single value, or a fresh table for a compound path."""
    _, _, keys = find(path)
    return _plain(_walk(state, keys[:-1]), keys[-1])


def _plain(obj, key):
    if isinstance(obj, dict):
        v = obj.get(key)
    else:
        v = getattr(obj, key)
    if isinstance(v, VoiceState):
        return voice_dict(v)
    if isinstance(v, Split):
        return dataclasses.asdict(v)
    if isinstance(v, dict):
        return {k: voice_dict(x) if isinstance(x, VoiceState) else x for k, x in v.items()}
    return v


def leaves(path, value):
    """(path, value) pairs for every single value under a compound one, e.g. for one OSC message each.

    `leaves("voice/p1", {"mode": "model", "volume": 1.0, ...})` -> [("voice/p1/mode", "model"), ...].
    Channel and drum maps come out as channel/<n> and drum/<n>; the split as split/<field>.
    """
    if not isinstance(value, dict):
        return [(path, value)]
    if path in GROUP and GROUP[path].map:
        path = GROUP[path].map.split("/")[0]
    out = []
    for k, v in value.items():
        key = k.lower() if isinstance(k, str) else str(k)
        out += leaves(f"{path}/{key}" if path else key, v)
    return out
