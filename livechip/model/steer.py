"""Steering the model at sampling time: key and scale, note density, a note range per voice, and the sampling
settings (temperature, top-k, top-p, seed: `SamplingSettings`, drawn with by `livechip.model.sampling`).

A `Steering` is a plain, validated value:

    s = Steering(key="D", scale="major", density=2, ranges={"P1": (60, 72)})
    banned = ban_mask(s)      # bool [V]: note-ons out of the key or out of a voice's range
    bias = density_bias(s)    # float [V]: DENSITY_GAIN * log(density) on every note-on, 0 elsewhere

Key and scale apply to the note-ons of P1, P2 and TR (the noise voice has no pitch class); a range applies to the
note-ons of its voice (for NO in its own units, noise periods 1-16). Note-offs, waits and `<S>` are never touched
here. A key of None means no key: nothing is masked whatever the scale, and `chromatic` masks nothing either.
Density 1 is the model's own rate of notes; the bias moves the odds of every note-on against every other token
(see `livechip.model.sampling` for how the bias and the masks combine).

The tensors are cached per Steering, so a stream computes them once per setting change, never per token; they
are shared, so never change them in place. torch is imported only by the two tensor functions: the live engine's
process can build and check a Steering without it.
"""

import functools
import math
import numbers
from dataclasses import dataclass, replace

import numpy as np

from livechip.core import events as ev

# Scale name -> semitones above the key. Data, not code: a new scale is a new line.
SCALES = {
    "chromatic": tuple(range(12)),
    "major": (0, 2, 4, 5, 7, 9, 11),
    "minor": (0, 2, 3, 5, 7, 8, 10),
    "harmonic_minor": (0, 2, 3, 5, 7, 8, 11),
    "dorian": (0, 2, 3, 5, 7, 9, 10),
    "phrygian": (0, 1, 3, 5, 7, 8, 10),
    "lydian": (0, 2, 4, 6, 7, 9, 11),
    "mixolydian": (0, 2, 4, 5, 7, 9, 10),
    "pentatonic_major": (0, 2, 4, 7, 9),
    "pentatonic_minor": (0, 3, 5, 7, 10),
    "blues": (0, 3, 5, 6, 7, 10),
}
KEYED_VOICES = ("P1", "P2", "TR")   # the voices a key and scale apply to
DENSITY_RANGE = (0.25, 4.0)
RECALL_RANGE = (0.0, 2.0)           # see livechip.model.recall; above ~0.5 a continuation keeps its groove less
DENSITY_GAIN = 4.0                  # logit offset on note-ons per unit of log(density); see docs/steering.md
NOTE_RANGE = (0, 127)               # what a low or high may be (MIDI notes; NO's own values lie inside)

_LETTERS = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}
_ACCIDENTALS = {"": 0, "#": 1, "b": -1, "♯": 1, "♭": -1}
KEYS = {letter + acc: (pc + shift) % 12 for letter, pc in _LETTERS.items() for acc, shift in _ACCIDENTALS.items()}
KEY_NAMES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")   # how a pitch class is shown
OFF = ("off", "none")               # key names that mean no key


@dataclass
class SamplingSettings:
    """How the next token is chosen (`livechip.model.sampling` draws with it); the defaults of play, generate and
    eval --music. Temperature 1.0 with top-k 32 kept the key and groove of continued songs best, and recall 0.5
    lifted the key and the groove (docs/model.md); LakhNES's generate.py used 0.95 and 32, and no recall."""
    temperature: float = 1.0    # 0 = greedy (argmax)
    top_k: int = 32             # keep the k most probable tokens; 0 = no limit
    top_p: float = 1.0          # keep the smallest set with this much probability; 1.0 = no limit
    seed: int | None = None     # None = a fresh random seed
    recall: float = 0.5         # lean towards the pitch classes, noise and rhythm heard (livechip.model.recall)
    exclude_start: bool = True  # never generate <S> (LakhNES's exclude_eos)

    def __post_init__(self):
        t = self.temperature
        if not _real(t) or not math.isfinite(t) or t < 0:
            raise ValueError(f"temperature must be a finite number >= 0, got {t!r}")
        self.temperature = float(t)
        k = self.top_k
        if not _integer(k) or k < 0:
            raise ValueError(f"top_k must be an integer >= 0 (0 = no limit), got {k!r}")
        self.top_k = int(k)
        p = self.top_p
        if not _real(p) or not 0 < p <= 1:
            raise ValueError(f"top_p must be a number in (0, 1], got {p!r}")
        self.top_p = float(p)
        r = self.recall
        lo, hi = RECALL_RANGE
        if not _real(r) or not lo <= r <= hi:
            raise ValueError(f"recall must be a number in [{lo:g}, {hi:g}], got {r!r}")
        self.recall = float(r)
        s = self.seed
        if s is not None and (not _integer(s) or not 0 <= s < 2**63):
            raise ValueError(f"seed must be None or an integer in [0, 2**63), got {s!r}")
        self.seed = None if s is None else int(s)
        self.exclude_start = bool(self.exclude_start)


def _real(x):
    return isinstance(x, numbers.Real) and not isinstance(x, bool)


def _integer(x):
    return isinstance(x, numbers.Integral) and not isinstance(x, bool)


def parse_key(key):
    """A pitch class 0-11 from a name ('C'..'B' with '#' or 'b': 'F#', 'Bb', 'db'), an int 0-11, or None
    (also 'off', 'none': no key)."""
    if key is None:
        return None
    if _integer(key) and 0 <= key <= 11:
        return int(key)
    if isinstance(key, str):
        name = key.strip()
        if name.lower() in OFF:
            return None
        pc = KEYS.get(name[:1].upper() + name[1:])
        if pc is not None:
            return pc
    raise ValueError(f"unknown key {key!r}; keys are C, C#, Db, D, D#, Eb, E, F, F#, Gb, G, G#, Ab, A, A#, Bb, B "
                     f"(sharps with #, flats with b; or a pitch class 0-11), or off")


def parse_scale(name):
    """A scale name from SCALES; case, spaces and dashes are forgiven ('Harmonic minor')."""
    if isinstance(name, str):
        s = name.strip().lower().replace("-", "_").replace(" ", "_")
        if s in SCALES:
            return s
    raise ValueError(f"unknown scale {name!r}; scales are {', '.join(SCALES)}")


def parse_voice(voice):
    v = voice.strip().upper() if isinstance(voice, str) else voice
    if v not in ev.VOICES:
        raise ValueError(f"unknown voice {voice!r}; voices are {', '.join(ev.VOICES)}")
    return v


def _note(x, what):
    if not _integer(x) or not NOTE_RANGE[0] <= x <= NOTE_RANGE[1]:
        raise ValueError(f"{what} must be a MIDI note {NOTE_RANGE[0]}-{NOTE_RANGE[1]}, got {x!r}")
    return int(x)


@dataclass(frozen=True)
class Steering:
    """Key (pitch class 0-11, a name, or None), scale (a SCALES name), density (0.25..4, 1 = the model's own rate)
    and note ranges per voice (`{voice: (low, high)}`, either end None for the voice's own limit).

    Values are checked and normalised at construction: the key becomes its pitch class, `ranges` a tuple of
    (voice, low, high) in voice order holding only the voices that are narrowed, so equal settings are equal
    values (and hash alike: the tensors are cached on them)."""
    key: int | None = None
    scale: str = "major"
    density: float = 1.0
    ranges: tuple = ()

    def __post_init__(self):
        set_ = functools.partial(object.__setattr__, self)
        set_("key", parse_key(self.key))
        set_("scale", parse_scale(self.scale))
        d = self.density
        if not _real(d) or not DENSITY_RANGE[0] <= d <= DENSITY_RANGE[1]:
            raise ValueError(f"density must be a number {DENSITY_RANGE[0]:g}..{DENSITY_RANGE[1]:g} (1 = the model's "
                             f"own rate), got {d!r}")
        set_("density", float(d))
        items = self.ranges.items() if isinstance(self.ranges, dict) else [(r[0], r[1:]) for r in self.ranges]
        ranges = {}
        for voice, ends in items:
            v = parse_voice(voice)
            if not isinstance(ends, (tuple, list)) or len(ends) != 2:
                raise ValueError(f"{v} range must be (low, high), got {ends!r}")
            low, high = ends
            lo, hi = ev.PITCH_RANGE[v]
            low = lo if low is None else _note(low, f"{v} low")
            high = hi if high is None else _note(high, f"{v} high")
            if low > high:
                raise ValueError(f"{v} low {low} is above its high {high}")
            if high < lo or low > hi:
                raise ValueError(f"{v} range {low}-{high} holds none of its notes ({lo}-{hi})")
            if (low, high) != (lo, hi):
                ranges[v] = (low, high)
        set_("ranges", tuple((v, *ranges[v]) for v in ev.VOICES if v in ranges))

    def range_of(self, voice):
        """(low, high) of a voice: its own limits unless narrowed."""
        v = parse_voice(voice)
        return next(((lo, hi) for u, lo, hi in self.ranges if u == v), ev.PITCH_RANGE[v])

    def with_range(self, voice, low=None, high=None):
        """A copy with `voice`'s low and/or high set (None keeps that end as it is)."""
        v = parse_voice(voice)
        lo, hi = self.range_of(v)
        ranges = {u: (a, b) for u, a, b in self.ranges}
        ranges[v] = (lo if low is None else low, hi if high is None else high)
        return replace(self, ranges=ranges)

    @property
    def pitch_classes(self):
        """The allowed pitch classes of P1, P2 and TR (all twelve with no key or the chromatic scale)."""
        if self.key is None:
            return frozenset(range(12))
        return frozenset((self.key + i) % 12 for i in SCALES[self.scale])

    def allowed(self, voice, pitch):
        """Whether a note-on of `voice` at `pitch` may be chosen."""
        lo, hi = self.range_of(voice)
        return lo <= pitch <= hi and (voice not in KEYED_VOICES or pitch % 12 in self.pitch_classes)

    def silent_voices(self):
        """The voices left without a single note-on (a range holding no note of the key)."""
        return tuple(v for v in ev.VOICES if not any(self.allowed(v, p) for p in range(ev.PITCH_RANGE[v][0],
                                                                                        ev.PITCH_RANGE[v][1] + 1)))

    def __str__(self):
        parts = [f"{KEY_NAMES[self.key]} {self.scale}" if self.key is not None else "no key"]
        parts.append(f"density {self.density:g}")
        parts += [f"{v} {lo}-{hi}" for v, lo, hi in self.ranges]
        return ", ".join(parts)


# Per token id: its voice (None for waits and <S>), its pitch (-1 unless a note-on).
_VOICE = np.array([ev.voice_of(i) or "" for i in range(ev.N_TOKENS)])
_PITCH = np.array([-1 if ev.pitch_of(i) is None else ev.pitch_of(i) for i in range(ev.N_TOKENS)])
_NOTE_ON = _PITCH >= 0
_KEYED = _NOTE_ON & np.isin(_VOICE, KEYED_VOICES)


@functools.lru_cache(maxsize=64)
def ban_mask(steering):
    """The bool [V] tensor of note-ons the steering bans, or None when it bans none."""
    import torch   # lazy: see the module's docstring
    banned = np.zeros(ev.N_TOKENS, dtype=bool)
    if steering.key is not None and steering.scale != "chromatic":
        banned |= _KEYED & ~np.isin(_PITCH % 12, sorted(steering.pitch_classes))
    for v, lo, hi in steering.ranges:
        banned |= _NOTE_ON & (_VOICE == v) & ((_PITCH < lo) | (_PITCH > hi))
    return torch.from_numpy(banned) if banned.any() else None


@functools.lru_cache(maxsize=64)
def density_bias(steering):
    """The float [V] tensor added to the logits: DENSITY_GAIN * log(density) on every note-on, 0 elsewhere; None
    at density 1."""
    import torch   # lazy: see the module's docstring
    if steering.density == 1.0:
        return None
    return torch.from_numpy(np.where(_NOTE_ON, DENSITY_GAIN * math.log(steering.density), 0.0).astype(np.float32))
