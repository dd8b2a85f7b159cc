"""The note driver: timed note events in, 2A03 register writes at the right CPU cycle out.

It works like the sound driver of an NES game. A note-on writes the voice's registers at the note's exact
cycle; then, once per video frame (60.1 Hz on NTSC), the driver updates what TX1 does not carry: the volume
envelope (decay to a sustain level, release after note-off), vibrato and pitch bend. How a voice sounds is a
`Timbre`, plain data that presets and live controls can replace at any time.

Default timbres (`DEFAULTS`), chosen so the two pulses are told apart and the result sounds like NES music:

    P1  lead:    duty 25 %, volume 11 decaying to 8, release, light delayed vibrato (12 cents at 5.5 Hz)
    P2  second:  duty 50 %, volume 7 decaying to 5, no vibrato: rounder and about 3 dB quieter, under P1
    TR  bass:    the triangle has no volume control; notes start and stop, with optional vibrato
    NO  drums:   volume 12 falling 1 step per frame to silence, long (hiss) mode

`PRESETS["lakhnes"]` is the flat sound LakhNES renders with: every note at volume 15, duty 12.5 %, no envelope.
Noise note numbers follow the data set: n in 1..16 plays period index 16 - n (higher n is brighter).
"""

import dataclasses
import json
import math
import tomllib
from pathlib import Path

import numpy as np

from livechip.apu.apu import NTSC
from livechip.apu.vgm import VGM_RATE, Log
from livechip.core.errors import LivechipError

VOICE_NAMES = ("P1", "P2", "TR", "NO")
FRAME_RATE = {"ntsc": 1789773 / 29780.5, "pal": 1662607 / 33247.5}   # video frames per second


@dataclasses.dataclass
class Timbre:
    """How one voice sounds. Times are in video frames (1/60 s), volumes in 2A03 steps (0..15)."""
    duty: int = 2                # pulse duty: 0 = 12.5 %, 1 = 25 %, 2 = 50 %, 3 = 75 %
    volume: int = 15             # level at note-on (pulses and noise)
    decay: float = 0.0           # volume steps lost per frame after note-on ...
    sustain: int = 15            # ... down to this level
    release: float = 0.0         # volume steps lost per frame after note-off (0: silent at once)
    vibrato_depth: float = 0.0   # peak pitch deviation, cents
    vibrato_rate: float = 5.5    # Hz
    vibrato_delay: int = 15      # frames after note-on before vibrato starts
    bend_range: float = 2.0      # semitones for a full pitch-bend (bend amount +-1)
    noise_mode: int = 0          # noise: 0 = long (hiss), 1 = short (metallic, tonal)

    _LIMITS = {"duty": (0, 3), "volume": (0, 15), "decay": (0, 15), "sustain": (0, 15), "release": (0, 15),
               "vibrato_depth": (0, 200), "vibrato_rate": (0, 30), "vibrato_delay": (0, 600),
               "bend_range": (0, 24), "noise_mode": (0, 1)}

    def __post_init__(self):
        for name, (lo, hi) in self._LIMITS.items():
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not lo <= v <= hi:
                raise LivechipError(f"timbre {name} = {v!r}: must be a number from {lo} to {hi}")
            if name in ("duty", "volume", "sustain", "vibrato_delay", "noise_mode") and v != int(v):
                raise LivechipError(f"timbre {name} = {v!r}: must be a whole number")

    @classmethod
    def from_dict(cls, d, base=None):
        """A timbre from plain data; keys not given keep the values of `base` (or the class defaults)."""
        fields = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - fields)
        if unknown:
            raise LivechipError(f"unknown timbre setting {unknown[0]!r} (known: {', '.join(sorted(fields))})")
        return dataclasses.replace(base or cls(), **d)

    def to_dict(self):
        return dataclasses.asdict(self)


DEFAULTS = {
    "P1": Timbre(duty=1, volume=11, decay=0.25, sustain=8, release=1.0, vibrato_depth=12, vibrato_rate=5.5,
                 vibrato_delay=15),
    "P2": Timbre(duty=2, volume=7, decay=0.1, sustain=5, release=0.7),
    "TR": Timbre(),
    "NO": Timbre(volume=12, decay=1.0, sustain=0, release=2.0, noise_mode=0),
}
PRESETS = {
    "default": DEFAULTS,
    "lakhnes": {v: Timbre(duty=0, volume=15) for v in VOICE_NAMES},
}


def load_timbres(spec):
    """Timbres for all four voices from a preset name or a .toml/.json file of per-voice tables.

    A file holds tables named P1, P2, TR, NO (any may be missing); each key overrides the default timbre.
    """
    if spec in PRESETS:
        return dict(PRESETS[spec])
    path = Path(spec)
    if not path.exists():
        raise LivechipError(f"timbre {spec!r}: not a preset ({', '.join(PRESETS)}) and no such file")
    try:
        text = path.read_text()
        data = json.loads(text) if path.suffix == ".json" else tomllib.loads(text)
    except (OSError, ValueError) as e:   # JSONDecodeError and TOMLDecodeError are ValueErrors
        raise LivechipError(f"{path}: cannot read timbres ({e})") from None
    out = dict(DEFAULTS)
    for voice, table in data.items():
        if voice.upper() not in VOICE_NAMES or not isinstance(table, dict):
            raise LivechipError(f"{path}: {voice!r} is not a voice table (use P1, P2, TR, NO)")
        out[voice.upper()] = Timbre.from_dict(table, DEFAULTS[voice.upper()])
    return out


def pulse_period(freq, clock=NTSC):
    """The 11-bit pulse timer period closest to `freq` Hz (f = clock / (16 (p + 1)))."""
    return min(0x7FF, max(8, round(clock / (16.0 * freq)) - 1))


def triangle_period(freq, clock=NTSC):
    """The 11-bit triangle timer period closest to `freq` Hz (f = clock / (32 (p + 1)))."""
    return min(0x7FF, max(2, round(clock / (32.0 * freq)) - 1))


def midi_freq(pitch):
    return 440.0 * 2.0 ** ((pitch - 69) / 12.0)


class _Voice:
    def __init__(self, timbre):
        self.timbre = timbre
        self.pitch = None      # sounding note
        self.on = False        # key held (not releasing)
        self.level = 0.0       # envelope level
        self.frames = 0        # frames since note-on
        self.bend = 0.0        # -1..1
        self.gain = 1.0        # voice volume 0..1 (the control's voice/*/volume)


class Driver:
    """Turns note events into register writes, sent to `write(cycle, addr, value)` (e.g. `Apu.write`).

    Call `advance(cycle)` before events at `cycle` so the per-frame updates up to then are written first;
    `note`, `bend` and `set_timbre` take effect at their own cycle.
    """

    def __init__(self, write, timbres=None, clock=NTSC):
        self.out = write
        self.clock = clock
        region = "pal" if clock < 1_700_000 else "ntsc"
        self.frame_cycles = clock / FRAME_RATE[region]
        self.voices = {v: _Voice((timbres or DEFAULTS).get(v, DEFAULTS[v])) for v in VOICE_NAMES}
        self.regs = {}         # last value written to each register
        self.next_frame = 0.0
        self.frame_count = 0

    def start(self, cycle=0):
        """Initial writes: channels on, frame IRQ off, sweeps off (negate set so high notes never mute)."""
        for a, v in ((0x4015, 0x0F), (0x4017, 0x40), (0x4000, 0x30), (0x4001, 0x08), (0x4004, 0x30),
                     (0x4005, 0x08), (0x4008, 0x80), (0x400C, 0x30)):
            self._w(cycle, a, v, force=True)
        self.next_frame = float(cycle) + self.frame_cycles

    def set_timbre(self, voice, timbre):
        self.voices[voice].timbre = timbre

    def set_volume(self, cycle, voice, gain):
        """Scale `voice` by `gain` (0..1) from `cycle` on. The triangle has no volume: it is on, or off at 0."""
        vo = self.voices[voice]
        vo.gain = min(1.0, max(0.0, float(gain)))
        if vo.pitch is None:
            return
        if voice == "TR":
            self._w(cycle, 0x4008, 0xFF if vo.gain > 0 else 0x80)
            if vo.gain > 0:
                self._w(cycle, 0x400B, self.regs.get(0x400B, 0x08), force=True)
        else:
            self._volume(cycle, voice)

    def silence(self, cycle):
        """Every voice off at once, without release (a panic button). Turning the channels off and on again
        ($4015) stops them at this cycle, the triangle too (its linear counter alone would wait for the next
        quarter frame); the next note-on starts its channel again."""
        for voice, vo in self.voices.items():
            vo.pitch, vo.on, vo.level = None, False, 0.0
        for a, v in ((0x4000, 0x30), (0x4004, 0x30), (0x4008, 0x80), (0x400C, 0x30)):
            self._w(cycle, a, v)
        self._w(cycle, 0x4015, 0x00, force=True)
        self._w(cycle, 0x4015, 0x0F, force=True)

    def advance(self, cycle):
        """Run the once-per-frame updates for every frame boundary before `cycle`."""
        while self.next_frame < cycle:
            self.frame(int(self.next_frame))
            self.next_frame += self.frame_cycles

    def note(self, cycle, voice, pitch):
        """Start `pitch` on `voice` at `cycle` (pitch None: note off)."""
        vo = self.voices[voice]
        t = vo.timbre
        if pitch is None:
            if vo.pitch is None:
                return
            vo.on = False
            if voice == "TR":
                self._w(cycle, 0x4008, 0x80)           # linear counter reloads to 0: silent
                vo.pitch = None
            elif t.release <= 0:
                vo.level = 0.0
                self._volume(cycle, voice)
                vo.pitch = None
            return
        vo.pitch, vo.on, vo.frames, vo.level = pitch, True, 0, float(t.volume)
        if voice in ("P1", "P2"):
            base = 0x4000 if voice == "P1" else 0x4004
            per = self._period(voice)
            self._volume(cycle, voice)
            self._w(cycle, base + 2, per & 0xFF, force=True)
            self._w(cycle, base + 3, 0x08 | (per >> 8), force=True)   # restarts the duty cycle, as games do
        elif voice == "TR":
            per = self._period(voice)
            self._w(cycle, 0x4008, 0xFF if vo.gain > 0 else 0x80)
            self._w(cycle, 0x400A, per & 0xFF)
            self._w(cycle, 0x400B, 0x08 | (per >> 8), force=True)     # sets the linear counter reload flag
        else:
            idx = 16 - min(16, max(1, int(pitch)))
            self._volume(cycle, voice)
            self._w(cycle, 0x400E, (t.noise_mode << 7) | idx)
            self._w(cycle, 0x400F, 0x08, force=True)

    def bend(self, cycle, voice, amount):
        """Bend `voice` by `amount` (-1..1) times its timbre's bend range, from `cycle` on."""
        vo = self.voices[voice]
        vo.bend = min(1.0, max(-1.0, float(amount)))
        if vo.pitch is not None and voice != "NO":
            self._pitch(cycle, voice)

    def frame(self, cycle):
        """One video-frame update: envelopes and vibrato of the sounding voices."""
        self.frame_count += 1
        for voice, vo in self.voices.items():
            if vo.pitch is None:
                continue
            t = vo.timbre
            vo.frames += 1
            if voice != "TR":
                if vo.on:
                    if vo.level > t.sustain:
                        vo.level = max(float(t.sustain), vo.level - t.decay)
                else:
                    vo.level = max(0.0, vo.level - t.release)
                    if vo.level <= 0:
                        vo.pitch = None
                self._volume(cycle, voice)
            if voice != "NO" and vo.pitch is not None and t.vibrato_depth > 0 and vo.frames > t.vibrato_delay:
                self._pitch(cycle, voice)

    # --- register helpers ----------------------------------------------------------------------

    def _w(self, cycle, addr, value, force=False):
        if force or self.regs.get(addr) != value:
            self.regs[addr] = value
            self.out(cycle, addr, value)

    def _volume(self, cycle, voice):
        vo = self.voices[voice]
        level = vo.level * vo.gain
        vol = int(math.ceil(level - 1e-9)) if level > 0 else 0
        if voice == "NO":
            self._w(cycle, 0x400C, 0x30 | vol)
        elif voice in ("P1", "P2"):
            self._w(cycle, 0x4000 if voice == "P1" else 0x4004, (vo.timbre.duty << 6) | 0x30 | vol)

    def _period(self, voice):
        vo = self.voices[voice]
        t = vo.timbre
        cents = vo.bend * t.bend_range * 100.0
        if t.vibrato_depth > 0 and vo.frames > t.vibrato_delay:
            seconds = (vo.frames - t.vibrato_delay) * self.frame_cycles / self.clock
            cents += t.vibrato_depth * math.sin(2 * math.pi * t.vibrato_rate * seconds)
        f = midi_freq(vo.pitch + cents / 100.0)
        return pulse_period(f, self.clock) if voice != "TR" else triangle_period(f, self.clock)

    def _pitch(self, cycle, voice):
        per = self._period(voice)
        base = {"P1": 0x4000, "P2": 0x4004, "TR": 0x4008}[voice]
        self._w(cycle, base + 2, per & 0xFF)
        hi = 0x08 | (per >> 8)
        if voice == "TR" or self.regs.get(base + 3) != hi:
            self._w(cycle, base + 3, hi)       # pulses: only when the high bits change (it resets the phase)


def score_log(score, timbres=None, clock=NTSC, tail=0.5):
    """The register log (`vgm.Log`) that plays `score` (a `livechip.core.events.Score`) with `timbres`.

    `tail` seconds after the score's end let releases ring out.
    """
    cycles, addrs, values = [], [], []

    def sink(c, a, v):
        cycles.append(c)
        addrs.append(a)
        values.append(v)

    drv = Driver(sink, timbres, clock)
    drv.start(0)
    ratio = clock / VGM_RATE
    for e in score.events:
        if e.voice not in VOICE_NAMES:
            raise LivechipError(f"note event at tick {e.time} has unknown voice {e.voice!r}")
        c = round(e.time * ratio)
        drv.advance(c)
        drv.note(c, e.voice, e.pitch)
    end = int(score.end + tail * VGM_RATE)
    drv.advance(round(end * ratio))
    order = np.argsort(np.asarray(cycles, dtype=np.int64), kind="stable")
    return Log(np.asarray(cycles, dtype=np.int64)[order], np.asarray(addrs, dtype=np.int64)[order],
               np.asarray(values, dtype=np.int64)[order], samples=end, clock=clock)
