"""Every setting and action of livechip as data: one table each, read by the control surface, OSC, the terminal
UI and docs/reference.md (written by docs/gen_reference.py).

A setting is a slash path (its OSC address is /livechip/<path>); `<v>` in a path stands for a voice (p1 p2 tr
no), `<ch>` for a MIDI channel 1..16, `<note>` for a MIDI note 0..127:

    Setting("voice/<v>/volume", "float", (0.0, 1.0), 1.0, "the voice's level ...", keys=(Key("q w e r", ...),))

`check(row, path, value)` gives the value to store; `livechip.control.state` stores it in a `State` by its path. A
compound path (`voice/p1`, `split`, `channel_map`, ...: `GROUPS`) takes a table of its settings. A wrong
type, an unknown path, NaN or infinity raises `ControlError`; a number outside its range is clamped to the
nearest end, except below an open lower end (temperature and top_p must be > 0), which is refused.
Whole-number settings accept whole floats (OSC faders send floats) and round others.
"""

import dataclasses
import math
from dataclasses import dataclass

from livechip.apu.driver import DEFAULTS as TIMBRE_DEFAULTS, Timbre
from livechip.core.errors import LivechipError
from livechip.core.events import PITCH_RANGE, VOICES
from livechip.realtime.beat import BPM, GRIDS, SOURCES
from livechip.model.steer import (DENSITY_RANGE, KEY_NAMES, KEYS, NOTE_RANGE, RECALL_RANGE, SCALES, SamplingSettings,
                                  parse_key, parse_scale)

PREFIX = "/livechip"      # every OSC address starts with it
MAX_STRING = 4096         # longest path or name accepted
# auto: the model plays the voice until the player plays on it, then the player does until silent on it for
# release_after seconds (the index order is what an OSC radio button sends: auto came last)
VOICE_MODES = ("model", "human", "off", "auto")
NONE = ("none", "off", "")     # words that unset a setting that may be unset
DEFAULT_HORIZON = 0.5          # seconds of music generated ahead of "now"; docs/performance.md (Horizon) says why
DEFAULT_CHANNEL_MAP = {1: "P1", 2: "P2", 3: "TR", 4: "NO", 10: "NO"}
# General MIDI drum notes -> noise notes (1..16, higher is brighter)
DEFAULT_DRUM_MAP = {35: 2, 36: 2, 37: 9, 38: 8, 39: 10, 40: 8, 41: 3, 42: 14, 43: 4, 44: 13, 45: 5, 46: 12,
                    47: 6, 48: 7, 49: 11, 50: 7, 51: 13, 52: 11, 53: 15, 55: 11, 56: 9, 57: 11, 59: 13}


class ControlError(LivechipError):
    """A setting or action that was refused: unknown name, wrong type, value not allowed."""


@dataclass(frozen=True)
class Key:
    """Keys of the terminal UI that change a setting: one per voice (P1 P2 TR NO) for a voice's setting,
    else one down and one up."""
    keys: str        # space-separated, as Textual names them: "1 2 3 4", "t T"
    action: str      # the UI's action: mode, mute, solo, nudge
    label: str       # its name in the key bar
    help: str        # its line on the help screen


@dataclass(frozen=True)
class Setting:
    path: str                # slash path with <v>, <ch>, <note>; its OSC address is /livechip/<path>
    type: str                # a key of CHECKS
    range: tuple = ()        # (low, high) of a number; the words of a choice
    default: object = None   # or {voice or number: default}
    help: str = ""
    keys: tuple = ()         # Keys of the terminal UI that change it
    low_open: bool = False   # a number must be above `low`, not clamped to it
    none: tuple = ()         # values besides None that unset it (stored as None)
    engine: bool = False     # the engine's to tell (Control.tell): read-only for everyone else

    @property
    def address(self):
        return f"{PREFIX}/{self.path}"

    def default_for(self, key=None):
        return self.default.get(key) if isinstance(self.default, dict) else self.default


@dataclass(frozen=True)
class Group:
    """A compound path: set with a table of its settings (a map is emptied first), read as one table."""
    path: str
    help: str
    map: str = ""            # a map's entries ("channel/<ch>"); set replaces the whole map
    none: str = ""           # the setting that none unsets ("split" none: no split)
    settable: bool = True


@dataclass(frozen=True)
class Action:
    name: str                # what Control.act takes
    address: str             # after /livechip/
    help: str
    arg: str = ""            # its one argument, if it takes one
    engine: bool = True      # done by the engine (else by the control surface itself)
    sets: tuple = ()         # (setting, value) once done
    reply: str = "/livechip/done ADDRESS"


TIMBRE_HELP = {
    "duty": "pulse duty: 0 = 12.5 %, 1 = 25 %, 2 = 50 %, 3 = 75 %",
    "volume": "level at note-on, 2A03 steps (pulses and noise)",
    "decay": "volume steps lost per video frame (1/60 s) after note-on ...",
    "sustain": "... down to this level",
    "release": "volume steps lost per frame after note-off (0: silent at once)",
    "vibrato_depth": "peak pitch deviation, cents",
    "vibrato_rate": "vibrato speed, Hz",
    "vibrato_delay": "frames after note-on before vibrato starts",
    "bend_range": "semitones for a full pitch bend",
    "noise_mode": "noise: 0 = long (hiss), 1 = short (metallic, tonal)",
}


def _timbre_rows():
    for f in dataclasses.fields(Timbre):
        cast = int if isinstance(f.default, int) else float
        yield Setting(f"voice/<v>/timbre/{f.name}", cast.__name__, Timbre._LIMITS[f.name],
                      {v: cast(getattr(TIMBRE_DEFAULTS[v], f.name)) for v in VOICES}, TIMBRE_HELP[f.name])


SETTINGS = (
    Setting("temperature", "float", (0.0, 5.0), SamplingSettings.temperature,
            "logits are divided by it before sampling", low_open=True,
            keys=(Key("t T", "nudge", "temp", "temperature down / up (0.05)"),)),
    Setting("top_k", "int", (0, 630), SamplingSettings.top_k, "keep the k most probable tokens; 0 = no limit",
            keys=(Key("k K", "nudge", "top-k", "top-k down / up (1 2 4 ... 256, all)"),)),
    Setting("top_p", "float", (0.0, 1.0), SamplingSettings.top_p,
            "then keep the smallest set holding probability p; 1 = no limit", low_open=True,
            keys=(Key("p P", "nudge", "top-p", "top-p down / up (0.05)"),)),
    Setting("recall", "float", RECALL_RANGE, SamplingSettings.recall, "lean the model towards the pitch classes, "
            "noise sounds and rhythm it heard (the primer, the player); 0 = the network alone",
            keys=(Key("h H", "nudge", "recall", "recall down / up (0.05)"),)),
    Setting("seed", "seed", (0, 2**63 - 1), None, "the same seed, model and settings play the same; "
            "-1 or random = a fresh seed (read back as -1)", none=("random", "none", "", -1)),
    Setting("horizon", "float", (0.05, 10.0), DEFAULT_HORIZON, "seconds of music generated ahead of now"),
    Setting("tempo", "float", (0.5, 2.0), 1.0, "schedule speed; 1 = as generated (placed on a grid: the "
            "speed that matches the model's beat to bpm)"),
    Setting("bpm", "float", BPM, 120.0, "the session's tempo, beats a minute; following a band (play --sync) "
            "it shows the band's, and a value sent is put back"),
    Setting("quantize", "word", tuple(GRIDS), "off", "the grid the model's note-ons are placed on, at the "
            "band's beat; t = triplets (play --sync: 1/16 unless told)"),
    Setting("sync", "word", SOURCES, "free", "where the beat comes from: free (bpm), midi (MIDI clock), jack "
            "(JACK transport), link (Ableton Link); chosen with play --sync", engine=True),
    Setting("beat", "float", (0.0, 1e12), 0.0, "the band's beat, whole beats from 0 at its start; told on "
            "every beat", engine=True),
    Setting("voice/<v>/mode", "mode", VOICE_MODES, "auto", "who plays the voice: auto = the model until you play "
            "on it", keys=(Key("1 2 3 4", "mode", "mode",
                               "cycle the mode of P1 P2 TR NO: model -> human -> off -> auto"),)),
    Setting("voice/<v>/volume", "float", (0.0, 1.0), 1.0, "the voice's level in the APU and its MIDI velocity; "
            "0 silences it and sends no note-on",
            keys=(Key("q w e r", "mute", "mute",
                      "mute / unmute P1 P2 TR NO (volume 0; the model still plays the voice in its head)"),
                  Key("a s d f", "solo", "solo", "solo P1 P2 TR NO (again: unsolo)"))),
    Setting("voice/<v>/release_after", "float", (0.1, 60.0), 4.0,
            "seconds without your notes before an auto voice goes back to the model"),
    Setting("voice/<v>/low", "int", NOTE_RANGE, None, "the lowest note the model may start on the voice (MIDI "
            "note; NO: noise note 1-16; beyond the voice's own notes: its nearest one); -1 or none = no limit",
            none=NONE + (-1,)),
    Setting("voice/<v>/high", "int", NOTE_RANGE, None, "the highest note the model may start on the voice; "
            "never below its low; -1 or none = no limit", none=NONE + (-1,)),
    *_timbre_rows(),
    Setting("channel/<ch>", "voice", VOICES, DEFAULT_CHANNEL_MAP, "the voice MIDI channel <ch> plays, or none",
            none=NONE),
    Setting("split/point", "int", (0, 127), None, "a one-channel keyboard split: the MIDI note where the high "
            "voice starts; -1 or none = no split", none=NONE + (-1,)),
    Setting("split/channel", "int", (1, 16), 1, "the MIDI channel that is split"),
    Setting("split/low", "voice", VOICES, "TR", "the voice below the split point"),
    Setting("split/high", "voice", VOICES, "P1", "the voice at or above the split point"),
    Setting("drum/<note>", "int", PITCH_RANGE["NO"], DEFAULT_DRUM_MAP,
            "the noise note (1 = darkest) a General MIDI drum note plays, or none", none=NONE),
    Setting("key", "key", KEY_NAMES, "off", "the key the model keeps P1, P2 and TR in (sharps with #, flats "
            "with b: F#, Bb), or off", keys=(Key("y Y", "step", "key", "key down / up a semitone (off, C .. B)"),)),
    Setting("scale", "scale", tuple(SCALES), "major", "the key's scale; chromatic = any note",
            keys=(Key("m M", "step", "scale", "scale: previous / next (major, minor, ... blues)"),)),
    Setting("density", "float", DENSITY_RANGE, 1.0, "how readily the model starts notes: 1 = its own rate, "
            "above 1 more notes, below fewer", keys=(Key("o O", "step", "density", "density down / up "
                                                              "(0.25 0.5 0.75 1 1.5 2 3 4)"),)),
    Setting("call_response", "flag", (), False, "the model waits while you play and answers in the gaps"),
    Setting("response_gap", "float", (0.05, 10.0), 0.5, "seconds of your silence that count as a gap"),
    Setting("playing", "flag", (), True, "the model plays; changed by transport/play and transport/stop"),
    Setting("recording", "flag", (), False, "a take is being recorded; changed by record/start and record/stop"),
)

GROUPS = (
    Group("voice/<v>", "a table of the voice's settings"),
    Group("voice/<v>/timbre", "a table of timbre settings"),
    Group("voices", "every voice's settings", map="voice/<v>", settable=False),
    Group("split", "a table of point, channel, low, high; none = no split", none="split/point"),
    Group("channel_map", "a table of MIDI channel -> voice; replaces the whole map", map="channel/<ch>"),
    Group("drum_map", "a table of GM drum note -> noise note; replaces the whole map", map="drum/<note>"),
)

ACTION_TABLE = (
    Action("panic", "panic", "all notes off now (the model keeps its memory)"),
    Action("reset", "reset", "clear the model's memory: a new song starts"),
    Action("reprime", "reprime", "as reset, then prime the memory with a .mid or .tx1.txt file (one that cannot "
           "be read changes nothing)", arg="file"),
    Action("record_start", "record/start", "start a take: what is heard until record/stop",
           sets=("recording", True)),
    Action("record_stop", "record/stop", "stop the take and write it (.mid, .tx1.txt, .wav, .vgm) as "
           "take-YYYYmmdd-HHMMSS in the recordings folder", sets=("recording", False),
           reply="/livechip/done ADDRESS STEM"),
    Action("record_save", "record/save", "save the session so far (.mid, .tx1.txt, .wav, .vgm)", arg="file"),
    Action("preset_load", "preset/load", "load a preset by name or file", arg="preset", engine=False),
    Action("preset_save", "preset/save", "save the current settings as a preset", arg="file", engine=False),
    Action("play", "transport/play", "the model plays again from where it stopped", sets=("playing", True)),
    Action("stop", "transport/stop", "the model falls silent; you, OSC and the UI go on", sets=("playing", False)),
    Action("quit", "quit", "end the session"),
)
ACTIONS = tuple(a.name for a in ACTION_TABLE)
ACTION = {a.name: a for a in ACTION_TABLE}
ACTION_ADDRESSES = {a.name: a.address for a in ACTION_TABLE}
NEEDS_ENGINE = tuple(a.name for a in ACTION_TABLE if a.engine)
READ_ONLY = {a.sets[0]: tuple(b for b in ACTION_TABLE if b.sets and b.sets[0] == a.sets[0])
             for a in ACTION_TABLE if a.sets}      # setting -> the actions that change it
READ_ONLY.update({s.path: () for s in SETTINGS if s.engine})    # () : the engine's alone
ROW = {s.path: s for s in SETTINGS}
GROUP = {g.path: g for g in GROUPS}
RANGES = {s.path: (*s.range, s.low_open) for s in SETTINGS if s.type in ("int", "float")}


# --- checking values ---------------------------------------------------------------------------------

def show(v):
    s = repr(v)
    return s if len(s) <= 40 else s[:37] + "..."


def _number(path, v):
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise ControlError(f"{path}: must be a number, got {show(v)}")
    if not math.isfinite(v):
        raise ControlError(f"{path}: must be a finite number, got {v}")
    return v


def _whole(path, v):
    v = _number(path, v)
    return int(round(v)) if isinstance(v, float) else v


def _clamp(path, v, s):
    lo, hi = s.range
    if s.low_open and v <= lo:
        raise ControlError(f"{path}: must be greater than {lo:g}, got {v:g}")
    return min(max(v, lo), hi)


def _choice(path, v, s, index=False):
    words = {w.lower(): w for w in s.range}
    if isinstance(v, str) and v.lower() in words:
        return words[v.lower()]
    if index and not isinstance(v, (str, bool)) and isinstance(v, (int, float)) and v in range(len(s.range)):
        return s.range[int(v)]   # an index, as a radio button sends it
    also = f" (or 0-{len(s.range) - 1})" if index else ""
    raise ControlError(f"{path}: must be one of {', '.join(s.range)}{also}, got {show(v)}")


def _flag(path, v, s):
    if isinstance(v, bool):
        return v
    if isinstance(v, (int, float)) and v in (0, 1):
        return bool(v)
    if isinstance(v, str) and v.lower() in ("on", "off", "true", "false", "yes", "no"):
        return v.lower() in ("on", "true", "yes")
    raise ControlError(f"{path}: must be on/off (1/0 or true/false), got {show(v)}")


def _seed(path, v, s):
    v = _number(path, v)
    if v != int(v) or not s.range[0] <= v <= s.range[1]:
        raise ControlError(f"{path}: must be a whole number from 0 to 2**63-1, or -1 for random, got {v!r}")
    return int(v)


def _key(path, v, s):
    if isinstance(v, float) and v.is_integer():
        v = int(v)           # a fader's pitch class
    try:
        pc = parse_key(v)
    except ValueError:
        raise ControlError(f"{path}: must be a key C .. B (sharps with #, flats with b: F#, Bb), a pitch class "
                           f"0-11 or off, got {show(v)}") from None
    if pc is None:
        return "off"
    name = v.strip()[:1].upper() + v.strip()[1:] if isinstance(v, str) else ""
    return name if KEYS.get(name) == pc else KEY_NAMES[pc]


def _scale(path, v, s):
    try:
        return parse_scale(v)
    except ValueError:
        raise ControlError(f"{path}: must be one of {', '.join(SCALES)}, got {show(v)}") from None


CHECKS = {   # type -> check(path, value, setting): the value to store, or ControlError
    "float": lambda path, v, s: float(_clamp(path, _number(path, v), s)),
    "int": lambda path, v, s: int(_clamp(path, _whole(path, v), s)),
    "flag": _flag,
    "seed": _seed,
    "mode": lambda path, v, s: _choice(path, v, s, index=True),
    "voice": _choice,
    "word": _choice,
    "key": _key,
    "scale": _scale,
}
TYPE_NAMES = {"float": "number", "int": "whole number", "flag": "on/off", "seed": "whole number",
              "mode": "word or index", "voice": "voice", "word": "word",
              "key": "key name", "scale": "word"}


def check(s, path, value):
    """`value` as `s` stores it at `path` (None for an unset one), or ControlError."""
    if s.none and (value is None or (value.lower() if isinstance(value, str) else value) in s.none):
        return None
    return CHECKS[s.type](path, value, s)


# --- paths ---------------------------------------------------------------------------------------

def _index(kind, lo, hi):
    def part(path, key):
        try:
            n = int(key)
        except (TypeError, ValueError):
            raise ControlError(f"{path}: {kind} must be {lo}..{hi}, got {show(key)}") from None
        if not lo <= n <= hi:
            raise ControlError(f"{path}: {kind} must be {lo}..{hi}, got {n}")
        return n
    return part


def _voice_part(path, key):
    if key.upper() not in VOICES:
        raise ControlError(f"{path}: no voice {key!r} (voices: {', '.join(v.lower() for v in VOICES)})")
    return key.upper()


WILDCARDS = {   # <name> in a path -> (the values it expands to, part(path, text): the State key, or ControlError)
    "<v>": (tuple(v.lower() for v in VOICES), _voice_part),
    "<ch>": (tuple(range(1, 17)), _index("MIDI channel", 1, 16)),
    "<note>": (tuple(range(128)), _index("MIDI note", 0, 127)),
}
def children(pattern):
    """The names directly under a compound path: children("voice/<v>") -> mode, volume, release_after, timbre."""
    n = pattern.count("/") + 1
    names = [p.split("/")[n] for p in ROW if p.startswith(pattern + "/")]
    return list(dict.fromkeys(names))


VOICE_KEYS = tuple(children("voice/<v>"))     # the settings of one voice: mode, volume, release_after, timbre


def expand(pattern):
    """Every concrete path of a pattern: expand("channel/<ch>") -> channel/1 .. channel/16."""
    paths = [""]
    for part in pattern.split("/"):
        values = WILDCARDS[part][0] if part in WILDCARDS else (part,)
        paths = [f"{p}/{v}" if p else str(v) for p in paths for v in values]
    return paths


def setting_paths():
    """Every path that can be set, as its OSC address is written after /livechip/."""
    paths = [p for s in SETTINGS if s.path not in READ_ONLY for p in expand(s.path)]
    return paths + [p for g in GROUPS if g.settable for p in expand(g.path)]
