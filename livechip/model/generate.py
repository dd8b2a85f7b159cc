"""Offline generation: the live engine's Stream driven as fast as it can go, written to a file.

`generate()` is the whole job as a function: free generation, continuation of a primer (LakhNES's
continuations), or accompaniment of kept voices (LakhNES's rhythm accompaniment: the kept voices' events are
forced into the token history at their exact times and the model writes the other voices around them, with the
kept voices masked). `livechip generate` is `livechip.cli.generate`.
"""

from dataclasses import dataclass
from itertools import groupby

from livechip.core import events as ev
from livechip.model.stream import Stream
from livechip.model.sampling import SamplingSettings

DEFAULT_SECONDS = 30.0
CHUNK = ev.TICKS_PER_SECOND // 10   # generate in steps of 0.1 s of music, to report progress and stop promptly
CHUNK_TOKENS = 256                  # ... or of this many tokens, whichever comes first


@dataclass
class Generation:
    score: ev.Score          # primer or kept events plus the generated ones, sorted
    generated: int           # number of note events the model wrote
    interrupted: bool        # stopped early by `should_stop`


def generate(model, settings=None, *, seconds=None, n_events=None, primer=None, rhythm=None, keep=(),
             progress=None, should_stop=None, steering=None):
    """Generate music with `model`; returns a Generation.

    Length: `seconds` of new music (after the primer), or `n_events` new note events; with neither, the
    rhythm's length if there is one, else DEFAULT_SECONDS. `primer`: a Score the output starts with and the
    model continues. `rhythm` + `keep`: a Score whose `keep` voices are kept exactly (the rest of it is
    dropped) while the model writes the other voices. `progress(done, total)` is called after each chunk
    (seconds or events); `should_stop()` is polled between chunks. `steering`: a `livechip.model.steer.Steering`
    (key, scale, density, ranges) for the model's own notes; the primer and kept voices are left as they are.
    """
    keep = tuple(keep)
    seconds = _length(seconds, n_events, primer, rhythm, keep)
    stream = Stream(model, settings if settings is not None else SamplingSettings(), masked_voices=keep,
                    steering=steering)
    out = []
    start = 0
    if primer is not None:
        stream.prime(primer)
        out = sorted(primer.events, key=ev.event_order)
        start = stream.frontier
    end = None if seconds is None else start + round(seconds * ev.TICKS_PER_SECOND)
    kept = [] if rhythm is None else [e for e in sorted(rhythm.events, key=ev.event_order) if e.voice in keep]
    if end is not None:
        kept = [e for e in kept if e.time < end]
    groups = [list(g) for _, g in groupby(kept, key=lambda e: e.time)]
    own = len(out)   # out[:own] is the primer; later entries are generated or kept, in stream order
    generated, interrupted = _run(stream, out, groups, start, end, n_events, progress, should_stop)

    stop = stream.frontier if end is None else min(stream.frontier, end)
    if n_events is not None and generated > n_events:
        out, stop = _cut(out, own, keep, n_events, stop)
        generated = n_events
    out.sort(key=ev.event_order)   # stable: the order of one voice's events at one tick is kept
    return Generation(ev.Score(out, max([stop] + [e.time for e in out])), generated, interrupted)


def _length(seconds, n_events, primer, rhythm, keep):
    """The seconds to generate (None: count events instead), after checking the arguments agree."""
    if primer is not None and rhythm is not None:
        raise ValueError("use either a primer or a rhythm, not both")
    if keep and rhythm is None:
        raise ValueError("kept voices need a rhythm score")
    if seconds is not None and n_events is not None:
        raise ValueError("give seconds or n_events, not both")
    if seconds is None and n_events is None:
        seconds = rhythm.end / ev.TICKS_PER_SECOND if rhythm is not None else DEFAULT_SECONDS
    if seconds is not None and not seconds > 0:
        raise ValueError(f"seconds must be > 0, got {seconds}")
    if n_events is not None and n_events < 1:
        raise ValueError(f"n_events must be >= 1, got {n_events}")
    if n_events is not None and set(keep) == set(ev.VOICES):
        raise ValueError("all four voices are kept: the model has nothing to write")
    return seconds


def _run(stream, out, groups, start, end, n_events, progress, should_stop):
    """Generate onto `out` chunk by chunk until tick `end` or `n_events` new events, forcing each group of kept
    events in at its time; (events generated, interrupted)."""
    generated = 0
    g = 0
    while not (end is not None and stream.frontier >= end or n_events is not None and generated >= n_events):
        if should_stop is not None and should_stop():
            return generated, True
        target = stream.frontier + CHUNK
        if end is not None:
            target = min(target, end)
        forced = g < len(groups) and groups[g][0].time <= target
        if forced:
            target = groups[g][0].time
        new = stream.generate_until(target, max_tokens=CHUNK_TOKENS)
        out += new
        generated += len(new)
        if forced and stream.frontier >= target:
            revoked = stream.merge(groups[g])    # drops a wait that overshot the kept events, then forces them
            if revoked:
                assert out[len(out) - len(revoked):] == revoked
                del out[len(out) - len(revoked):]
                generated -= len(revoked)
            out += groups[g]
            g += 1
        if progress is not None:
            if end is not None:
                progress(min(stream.frontier, end) - start, end - start)
            else:
                progress(min(generated, n_events), n_events)
    return generated, False


def _cut(out, own, keep, n_events, stop):
    """`out` cut at the first event past the n-th one the model wrote, where the piece ends; (events, end)."""
    count = 0
    for i in range(own, len(out)):
        if out[i].voice not in keep:
            count += 1
            if count > n_events:
                stop = out[i].time
                out = out[:i]
                break
    return [e for e in out if e.time <= stop], stop
