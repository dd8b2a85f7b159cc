"""Presets: a whole instrument setup in one TOML file.

A preset sets everything a user can change: sampling, tempo and horizon, each voice's mode, volume and timbre,
the MIDI channel map, a keyboard split, the drum map and call-and-response. What a preset leaves out takes the
default value, so loading a preset always gives the same instrument, whatever was loaded before. A preset that
cannot be read or has a bad key or value is refused as a whole, naming the line and key; nothing changes.

    name = "bass and drums accompany me"
    tempo = 1.0
    horizon = 1.0

    [sampling]
    temperature = 1.0
    top_k = 32
    top_p = 1.0
    recall = 0.5
    seed = 7                  # leave out for a fresh random seed

    [voices.P1]
    mode = "human"            # auto | model | human | off (auto: the model's until you play on it)
    volume = 1.0
    release_after = 4.0       # auto: seconds of your silence on the voice before the model takes it back
    low = 60                  # the notes the model may start on it (MIDI notes; NO: 1-16)
    high = 84
    [voices.P1.timbre]        # fields of livechip.apu.driver.Timbre
    duty = 1

    [channels]                # MIDI channel -> voice; given, it replaces the whole default map
    1 = "P1"
    10 = "NO"

    [split]                   # one-channel keyboard: notes on `channel` below `point` play `low`, others `high`
    point = 60
    channel = 1
    low = "TR"
    high = "P1"

    [drums]                   # GM drum note -> noise note 1..16; given, it replaces the default map
    36 = 2

    [jam]
    call_response = false     # the model waits while you play and answers in the gaps
    response_gap = 0.5        # seconds of your silence that count as a gap

    [steer]                   # docs/steering.md
    key = "D"                 # off | C .. B, sharps with #, flats with b
    scale = "dorian"
    density = 1.5             # 0.25 .. 4, 1 = the model's own rate of notes

    [beat]                    # docs/sync.md
    bpm = 132.0               # the session's tempo while free
    quantize = "1/16"         # off | 1/4 | 1/8 | 1/16 | 1/8t | 1/16t: the grid the model's note-ons go to

Names are looked up in the user's folder (`places.USER_PRESETS`, on Linux ~/.config/livechip/presets) and then
the shipped presets (`places.SHIPPED_PRESETS`, read-only); anything with a slash or ending in .toml is a path.
"""

import os
import re
import tomllib
from pathlib import Path

import tomli_w

from livechip.core import places
from livechip.control.settings import VOICE_KEYS, ControlError
from livechip.control.state import State, set_path, state_dict, steering
from livechip.core.errors import FileFormatError, LivechipError
from livechip.core.events import VOICES
from livechip.core.fileio import atomic_write

SHIPPED = places.SHIPPED_PRESETS
USER = places.USER_PRESETS

_SECTIONS = {
    "sampling": ("temperature", "top_k", "top_p", "recall", "seed"),
    "jam": ("call_response", "response_gap"),
    "split": ("point", "channel", "low", "high"),
    "steer": ("key", "scale", "density"),
    "beat": ("bpm", "quantize"),
}
_TOP = ("name", "description", "tempo", "horizon", "sampling", "voices", "channels", "split", "drums", "jam",
        "steer", "beat")


def preset_dirs():
    return [USER, SHIPPED]


def list_presets():
    """Names of the presets found, user presets first (a user preset hides a shipped one of the same name)."""
    names = []
    for d in preset_dirs():
        for p in sorted(d.glob("*.toml")) if d.is_dir() else ():
            if p.stem not in names:
                names.append(p.stem)
    return names


def find_preset(name_or_path):
    s = str(name_or_path)
    if "/" in s or os.sep in s or s.endswith(".toml"):
        path = Path(s).expanduser()
        if not path.is_file():
            raise LivechipError(f"preset {s}: no such file")
        return path
    for d in preset_dirs():
        path = d / f"{s}.toml"
        if path.is_file():
            return path
    raise LivechipError(f"no preset named {s!r} (presets: {', '.join(list_presets()) or 'none found'})")


def load_preset(name_or_path):
    """Read and check a preset; returns its data (a dict as in the TOML file). Raises FileFormatError naming
    the line and key of the first problem."""
    path = find_preset(name_or_path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise FileFormatError(path, f"cannot read preset ({e})") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise FileFormatError(path, f"not valid TOML: {e}") from None
    try:
        preset_state(data)
    except _PresetError as e:
        raise FileFormatError(path, e.reason, f"line {_line_of(text, e.key)}, key {'.'.join(e.key)}"
                              if _line_of(text, e.key) else f"key {'.'.join(e.key)}") from None
    return data


def apply_preset(control, preset):
    """Make `control` what the preset says (defaults for what it leaves out), all at once."""
    try:
        state = preset_state(preset)
    except _PresetError as e:
        raise LivechipError(f"preset key {'.'.join(e.key)}: {e.reason}") from None
    control.replace(state)
    return preset.get("name")


def save_preset(control, path, name=None):
    """Write the control's current settings as a preset that loads back to the same state."""
    path = Path(path).expanduser()
    if path.suffix != ".toml":
        path = path.with_suffix(path.suffix + ".toml") if path.suffix else path.with_suffix(".toml")
    data = preset_data(control.state(), name or path.stem)
    with atomic_write(path, "wb") as f:
        f.write(tomli_w.dumps(data).encode("utf-8"))
    return str(path)


def preset_data(state, name):
    """A State as preset data (what `save_preset` writes)."""
    s = state_dict(state)
    sampling = {k: s[k] for k in _SECTIONS["sampling"] if s[k] is not None}
    split = {k: v for k, v in s["split"].items() if v is not None}
    return {
        "name": name,
        "tempo": s["tempo"],
        "horizon": s["horizon"],
        "sampling": sampling,
        "voices": {v: {k: x for k, x in s["voices"][v].items() if x is not None} for v in VOICES},
        "channels": {str(ch): v for ch, v in sorted(s["channel_map"].items())},
        "split": split,
        "drums": {str(n): v for n, v in sorted(s["drum_map"].items())},
        "jam": {k: s[k] for k in _SECTIONS["jam"]},
        "steer": {k: s[k] for k in _SECTIONS["steer"]},
        "beat": {k: s[k] for k in _SECTIONS["beat"]},
    }


class _PresetError(Exception):
    def __init__(self, key, reason):
        self.key, self.reason = key, reason


def preset_state(data):
    """The State a preset describes: defaults, then every key of the preset checked and applied."""
    state = State()
    if not isinstance(data, dict):
        raise _PresetError(("",), "a preset is a TOML table")
    for top, value in data.items():
        key = (top,)
        if top not in _TOP:
            raise _PresetError(key, f"unknown key (known: {', '.join(_TOP)})")
        if top in ("name", "description"):
            if not isinstance(value, str):
                raise _PresetError(key, "must be a string")
        elif top in ("tempo", "horizon"):
            _set(state, key, top, value)
        elif top in _SECTIONS:
            for k, v in _table(key, value).items():
                if k not in _SECTIONS[top]:
                    raise _PresetError(key + (k,), f"unknown key (known: {', '.join(_SECTIONS[top])})")
                _set(state, key + (k,), f"split/{k}" if top == "split" else k, v)
        elif top == "voices":
            for voice, table in _table(key, value).items():
                if voice.upper() not in VOICES:
                    raise _PresetError(key + (voice,), f"no such voice (voices: {', '.join(VOICES)})")
                for k, v in _table(key + (voice,), table).items():
                    if k == "timbre":
                        for f, x in _table(key + (voice, k), v).items():
                            _set(state, key + (voice, k, f), f"voice/{voice}/timbre/{f}", x)
                    elif k in VOICE_KEYS:
                        _set(state, key + (voice, k), f"voice/{voice}/{k}", v)
                    else:
                        raise _PresetError(key + (voice, k), f"unknown key (known: {', '.join(VOICE_KEYS)})")
        elif top in ("channels", "drums"):
            getattr(state, "channel_map" if top == "channels" else "drum_map").clear()
            for k, v in _table(key, value).items():
                _set(state, key + (k,), f"{'channel' if top == 'channels' else 'drum'}/{k}", v)
    try:
        steering(state)
    except ControlError as e:        # voice/p1/low: ... -> key voices.P1.low
        path, reason = str(e).split(": ", 1)
        _, voice, end = path.split("/")
        raise _PresetError(("voices", voice.upper(), end), reason) from None
    return state


def _table(key, value):
    if not isinstance(value, dict):
        raise _PresetError(key, "must be a table")
    return value


def _set(state, key, path, value):
    if not re.fullmatch(r"[A-Za-z0-9_/]+", path):
        raise _PresetError(key, "not a valid key")
    try:
        set_path(state, path, value)
    except ControlError as e:
        raise _PresetError(key, str(e).split(": ", 1)[-1]) from None


_HEADER = re.compile(r"^\s*\[\[?\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")


def _split_key(s):
    return tuple(p.strip().strip('"').strip("'") for p in s.split("."))


def _line_of(text, key):
    """The line number where a dotted key is written (best effort: headers, dotted keys, plain keys)."""
    table = ()
    for n, line in enumerate(text.splitlines(), 1):
        m = _HEADER.match(line)
        if m:
            table = _split_key(m.group(1))
            if table == key:
                return n
            continue
        m = re.match(r"^\s*([A-Za-z0-9_\-\"'. ]+?)\s*=", line)
        if m:
            full = table + _split_key(m.group(1))
            if full == key or full == key[:len(full)]:
                return n
    return None
