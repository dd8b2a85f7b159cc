"""Ordinary multi-instrument MIDI -> NES four-voice TX1, the LakhNES transfer mapping (`livechip adapt`).

LakhNES pre-trains on the Lakh MIDI collection after turning each file into several NES ensembles:

1. Split the file into instruments (track, channel, program), drums apart (channel 10).
2. Keep melodic instruments that reach into the NES range (some note in 21-108), that are monophonic (no note
   starts before the previous one ends) and that are not a copy of another instrument.
3. Assign them to P1, P2 and TR in several random ways (every ordered choice of three, with empty voices when
   there are fewer than three instruments; at most `per_song` of them). Notes outside the voice's range
   (P1, P2: 33-108; TR: 21-108) are dropped.
4. Give the noise voice one of the percussion parts, one note at a time, each drum note mapped to a noise
   value: a random map per ensemble as LakhNES does, or by sound with `noise="gm"`.

    scores = adapt_file("song.mid", rng)        # list of Score, one per assignment
    livechip adapt lakh/ -o lakh_nes/           # then: livechip train lakh_nes/ ...
"""

import itertools
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from livechip.core.errors import FileFormatError
from livechip.core.events import PITCH_RANGE, TICKS_PER_SECOND, NoteEvent, Score, normalize
from livechip.formats import midi

DRUM_CHANNEL = 9          # channel 10, counted from 0
MELODIC_VOICES = ("P1", "P2", "TR")


@dataclass
class Part:
    """One MIDI instrument's notes, times in samples (44.1 kHz), sorted by start."""
    name: str
    drum: bool
    start: np.ndarray
    end: np.ndarray
    pitch: np.ndarray

    def __len__(self):
        return len(self.start)


def _sample_times(mid, tempos, ticks):
    """Ticks -> samples (rounded) through the tempo map [(tick, microseconds per beat)]."""
    ticks = np.asarray(ticks, np.float64)
    tpb = mid.ticks_per_beat
    changes = sorted(tempos)
    at = [0.0]           # tick where each tempo segment starts
    sec = [0.0]          # seconds at that tick
    tempo = [500000]
    for tick, t in changes:
        if tick == at[-1]:
            tempo[-1] = t
            continue
        sec.append(sec[-1] + (tick - at[-1]) * tempo[-1] / 1e6 / tpb)
        at.append(float(tick))
        tempo.append(t)
    k = np.searchsorted(np.array(at), ticks, side="right") - 1
    s = np.array(sec)[k] + (ticks - np.array(at)[k]) * np.array(tempo)[k] / 1e6 / tpb
    return np.rint(s * TICKS_PER_SECOND).astype(np.int64)


def read_parts(path) -> list[Part]:
    """The instruments of a MIDI file. A note-off (or note-on at velocity 0) ends every sounding note of its key."""
    mid = midi.parse(Path(path).read_bytes(), str(path))
    if mid.ticks_per_beat <= 0 or mid.ticks_per_beat & 0x8000:
        raise FileFormatError(path, "SMPTE time division is not supported here")
    tempos, notes = [], {}   # notes: (track, channel, program) -> list of [start tick, end tick, pitch]
    for ti, track in enumerate(mid.tracks):
        tick = 0
        program = [0] * 16
        sounding = {}        # (channel, pitch) -> list of start ticks
        for msg in track:
            tick += msg.time
            if msg.type == "set_tempo":
                tempos.append((tick, msg.tempo))
            elif msg.type == "program_change":
                program[msg.channel] = msg.program
            elif msg.type == "note_on" and msg.velocity > 0:
                sounding.setdefault((msg.channel, msg.note), []).append((tick, program[msg.channel]))
            elif msg.type in ("note_on", "note_off"):
                for start, prog in sounding.pop((msg.channel, msg.note), []):
                    key = (ti, msg.channel, -1 if msg.channel == DRUM_CHANNEL else prog)
                    notes.setdefault(key, []).append((start, tick, msg.note))
    parts = []
    for (ti, ch, prog), ns in sorted(notes.items()):
        ns.sort()
        a = np.array(ns, np.int64)
        start, end = _sample_times(mid, tempos, a[:, 0]), _sample_times(mid, tempos, a[:, 1])
        ok = end > start
        name = f"track {ti} channel {ch + 1}" + ("" if ch == DRUM_CHANNEL else f" program {prog}")
        parts.append(Part(name, ch == DRUM_CHANNEL, start[ok], end[ok], a[ok, 2]))
    return [p for p in parts if len(p)]


def is_monophonic(part: Part) -> bool:
    """No note starts before the previous one has ended."""
    return bool(np.all(part.end[:-1] <= part.start[1:]))


def melodic_parts(parts) -> list[Part]:
    """LakhNES's choice of melodic instruments: some note in 21-108, monophonic, not a duplicate."""
    out, seen = [], set()
    for p in parts:
        if p.drum or p.pitch.max() < 21 or p.pitch.min() > 108 or not is_monophonic(p):
            continue
        key = tuple(zip(p.pitch.tolist(), np.round(p.start / TICKS_PER_SECOND, 1).tolist()))
        if key in seen:
            continue
        seen.add(key)
        out.append(p)
    return out


def assignments(n_parts: int, per_song: int, rng) -> list[tuple]:
    """Ordered choices of parts for (P1, P2, TR), -1 for an empty voice; at most per_song of them."""
    if n_parts == 1:
        perms = [(0, -1, -1), (-1, 0, -1), (-1, -1, 0)]
    elif n_parts == 2:
        perms = [(-1, 0, 1), (-1, 1, 0), (0, -1, 1), (0, 1, -1), (1, -1, 0), (1, 0, -1)]
    else:
        pool = range(n_parts) if n_parts <= 32 else sorted(rng.choice(n_parts, 32, replace=False).tolist())
        perms = list(itertools.permutations(pool, 3))
    if len(perms) > per_song:
        perms = [perms[i] for i in sorted(rng.choice(len(perms), per_song, replace=False))]
    return perms


def noise_map(noise: str, rng) -> np.ndarray:
    """MIDI drum note (0-127) -> noise value 1-16."""
    if noise == "random":
        return rng.integers(1, 17, 128)
    return np.array([midi.noise_of_drum(n) for n in range(128)])


def ensemble(voice_notes: dict, clip: int) -> Score | None:
    """A Score from {voice: (start, end, pitch) arrays}, shifted to start at 0 and cut at `clip` samples."""
    voice_notes = {v: n for v, n in voice_notes.items() if len(n[0])}
    if not voice_notes:
        return None
    t0 = min(int(n[0].min()) for n in voice_notes.values())
    t1 = max(int(n[1].max()) for n in voice_notes.values())
    t1 = min(t1, t0 + clip)
    evs = []
    for v, (start, end, pitch) in voice_notes.items():
        for s, e, p in zip(start.tolist(), end.tolist(), pitch.tolist()):
            if e > t1:
                continue
            evs.append((s - t0, 1, NoteEvent(s - t0, v, int(p))))    # at one instant: an off, then an on
            evs.append((e - t0, 0, NoteEvent(e - t0, v, None)))
    if not evs:
        return None
    evs.sort(key=lambda x: (x[0], x[1]))
    return normalize(Score([x[2] for x in evs], t1 - t0))


def adapt_parts(parts, rng, per_song=16, noise="random", clip_seconds=180.0) -> list[Score]:
    """Every NES ensemble made from a song's parts (see the module docstring)."""
    melodic = melodic_parts(parts)
    if not melodic:
        return []
    drums = [p for p in parts if p.drum]
    clip = int(round(clip_seconds * TICKS_PER_SECOND))
    scores = []
    for perm in assignments(len(melodic), per_song, rng):
        chosen = {}
        for voice, k in zip(MELODIC_VOICES, perm):
            if k < 0:
                continue
            p = melodic[k]
            lo, hi = PITCH_RANGE[voice]
            ok = (p.pitch >= lo) & (p.pitch <= hi)
            chosen[voice] = (p.start[ok], p.end[ok], p.pitch[ok])
        if drums:
            d = drums[int(rng.integers(len(drums)))]
            keep, last_end = [], -1
            for i, (s, e) in enumerate(zip(d.start.tolist(), d.end.tolist())):
                if s >= last_end:           # drums overlap: one hit at a time
                    keep.append(i)
                    last_end = e
            chosen["NO"] = (d.start[keep], d.end[keep], noise_map(noise, rng)[d.pitch[keep]])
        score = ensemble(chosen, clip)
        if score is not None:
            scores.append(score)
    return scores


def adapt_file(path, rng, per_song=16, noise="random", min_seconds=5.0, max_seconds=600.0, clip_seconds=180.0):
    """The NES ensembles of one MIDI file ([] when LakhNES's filters leave nothing)."""
    parts = read_parts(path)
    if not parts:
        return []
    length = max(int(p.end.max()) for p in parts) / TICKS_PER_SECOND
    if not min_seconds <= length <= max_seconds:
        return []
    return adapt_parts(parts, rng, per_song, noise, clip_seconds)
