"""Warm primes: a few seconds of the model's own music that `play` quietly primes its memory with.

A song starts sparse (a few notes, long waits), and a model started from nothing starts a song: its first
seconds are thin. Primed with a stretch from the middle of one of its own takes, the model goes on from there,
so an unprimed session sounds like music from its first second. The primes are written offline by the model
itself (no one's song ships) into the model folder's `primes/`; `play` picks one by the session's seed
(`livechip.core.places.warm_primes` lists them) and never plays it: the model only hears it.

    write_primes(model, "models/default/primes", n=8)    # livechip generate --model DIR --write-primes 8
"""

import dataclasses
from pathlib import Path

from livechip.core import events as ev
from livechip.formats import tx1
from livechip.model.generate import generate
from livechip.model.music import notes, pooled, take_stats
from livechip.model.sampling import SamplingSettings

WARM = 12.0             # seconds a take runs before the part that is kept (past a song's sparse opening)
KEEP = 8.0              # seconds kept
MELODIC_RATE = 1.0      # notes/s each of P1, P2 and TR must play in the kept part
MAX_SILENT = 0.05       # share of the kept part with no voice sounding


def cut(score, t0, t1):
    """The music of `score` in ticks [t0, t1) as a Score from 0: notes sounding at t0 start at 0, notes still
    sounding at t1 end there."""
    kept = [(v, p, max(s, t0) - t0, min(e, t1) - t0) for v, p, s, e in notes(score) if s < t1 and e > t0]
    starts = {(v, s) for v, _, s, _ in kept}
    out = []
    for v, p, s, e in kept:
        out.append(ev.NoteEvent(s, v, p))
        if (v, e) not in starts:          # a note the next one replaces needs no note-off
            out.append(ev.NoteEvent(e, v, None))
    return ev.Score(sorted(out, key=ev.event_order), t1 - t0)


def good(score, t0, t1):
    """Every melodic voice plays at least MELODIC_RATE notes/s in [t0, t1), and music sounds nearly all of it."""
    p = pooled([take_stats(notes(score), t0, t1)])
    return p["silent"] <= MAX_SILENT and all(p["notes_per_second"][v] >= MELODIC_RATE for v in ("P1", "P2", "TR"))


def write_primes(model, folder, n=8, seed=0, settings=None, tries=6):
    """Write `n` warm primes (`folder`/NN.tx1.txt) from takes of the model with seeds from `seed` on, keeping
    those that pass `good` (at most `tries` * n takes are made). Returns the paths written."""
    settings = settings or SamplingSettings()
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    t0, t1 = round(WARM * ev.TICKS_PER_SECOND), round((WARM + KEEP) * ev.TICKS_PER_SECOND)
    paths = []
    for s in range(seed, seed + tries * n):
        score = generate(model, dataclasses.replace(settings, seed=s), seconds=WARM + KEEP).score
        if good(score, t0, t1):
            paths.append(folder / f"{len(paths):02d}.tx1.txt")
            tx1.write(paths[-1], cut(score, t0, t1))
            if len(paths) == n:
                break
    return paths
