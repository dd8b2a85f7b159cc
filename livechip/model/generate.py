"""Offline generation: the live engine's Stream driven as fast as it can go, written to a file.

`generate()` is the whole job as a function: free generation, continuation of a primer (LakhNES's
continuations), or accompaniment of kept voices (LakhNES's rhythm accompaniment: the kept voices' events are
forced into the token history at their exact times and the model writes the other voices around them, with the
kept voices masked). `generate_command()` is `livechip generate`: it loads the model and files, shows a
progress bar, and writes the result atomically, also when stopped with Ctrl-C.
"""

import signal
from dataclasses import dataclass
from itertools import groupby
from pathlib import Path

from livechip.core import events as ev
from livechip.formats import files
from livechip.core import places
from livechip.model.stream import Stream
from livechip.core.errors import LivechipError
from livechip.model.sampling import SamplingSettings
from livechip.model.steer import Steering, parse_key, parse_scale, parse_voice

DEFAULT_MODEL = places.find_model(None)
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
    if primer is not None and rhythm is not None:
        raise ValueError("use either a primer or a rhythm, not both")
    keep = tuple(keep)
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
    generated = 0
    interrupted = False
    g = 0
    while True:
        if end is not None and stream.frontier >= end or n_events is not None and generated >= n_events:
            break
        if should_stop is not None and should_stop():
            interrupted = True
            break
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

    stop = stream.frontier if end is None else min(stream.frontier, end)
    if n_events is not None and generated > n_events:
        # cut at the first event past the n-th one the model wrote; that is where the piece ends
        count = 0
        for i in range(own, len(out)):
            if out[i].voice not in keep:
                count += 1
                if count > n_events:
                    stop = out[i].time
                    out = out[:i]
                    break
        out = [e for e in out if e.time <= stop]
        generated = n_events
    out.sort(key=ev.event_order)   # stable: the order of one voice's events at one tick is kept
    return Generation(ev.Score(out, max([stop] + [e.time for e in out])), generated, interrupted)


# --- livechip generate -----------------------------------------------------------------------------------

def parse_voices(text):
    """'P1,tr' -> ('P1', 'TR'), checked against the four NES voices."""
    voices = [v.strip().upper() for v in text.replace(" ", ",").split(",") if v.strip()]
    bad = [v for v in voices if v not in ev.VOICES]
    if bad or not voices:
        raise LivechipError(f"--keep: unknown voice(s) {', '.join(bad) or text!r}; voices are "
                            f"{', '.join(ev.VOICES)}")
    return tuple(v for v in ev.VOICES if v in voices)


def parse_steering(args):
    """The Steering of `--key`, `--scale`, `--density`, `--low VOICE:NOTE` and `--high VOICE:NOTE`."""
    def check(flag, fn, *a):
        try:
            return fn(*a)
        except ValueError as e:
            raise LivechipError(f"{flag}: {e}") from None

    key = check("--key", parse_key, args.key)
    scale = check("--scale", parse_scale, args.scale or "major")
    if args.scale is not None and key is None and scale != "chromatic":
        raise LivechipError(f"--scale {args.scale} needs a key, e.g. --key D --scale {scale}")
    ranges = {}
    for end, items in (("low", args.low), ("high", args.high)):
        for item in items or ():
            voice, _, note = item.partition(":")
            if not note.strip().isdigit():
                raise LivechipError(f"--{end}: expected VOICE:NOTE, e.g. P1:60, got {item!r}")
            voice = check(f"--{end}", parse_voice, voice)
            ranges.setdefault(voice, [None, None])[end == "high"] = int(note)
    s = check("--density", Steering, key, scale, args.density)
    s = check("--low/--high", Steering, key, scale, args.density, {v: tuple(r) for v, r in ranges.items()})
    silent = s.silent_voices()
    if silent:
        raise LivechipError(f"--low/--high: no note of {', '.join(silent)} is left inside its range ({s})")
    return s


def load_model(path):
    """The model in `path`, or the default model; a clear error if there is none."""
    path = places.find_model(path) if path is not None else DEFAULT_MODEL
    if not path.is_dir():
        hint = "" if path != DEFAULT_MODEL else " (no default model is installed: pass --model DIR)"
        raise LivechipError(f"{path}: model folder not found{hint}")
    from livechip.model.checkpoint import load_model as load
    return load(path)


def generate_command(args):
    out = Path(args.output)
    files.kind_of(out)   # a clear error now for a name that is neither TX1 nor MIDI, before any work
    if (args.rhythm is None) != (args.keep is None):
        raise LivechipError("--rhythm and --keep go together (e.g. --rhythm drums.mid --keep NO)")
    if args.prime is not None and args.rhythm is not None:
        raise LivechipError("--prime and --rhythm cannot be combined")
    if args.seconds is not None and not args.seconds > 0:
        raise LivechipError(f"--seconds must be > 0, got {args.seconds}")
    if args.events is not None and args.events < 1:
        raise LivechipError(f"--events must be >= 1, got {args.events}")
    try:
        settings = SamplingSettings(temperature=args.temperature, top_k=args.top_k, top_p=args.top_p,
                                    seed=args.seed)
    except ValueError as e:
        raise LivechipError(str(e)) from None
    steering = parse_steering(args)
    keep = parse_voices(args.keep) if args.keep is not None else ()
    primer = files.read_score(args.prime) if args.prime is not None else None
    rhythm = files.read_score(args.rhythm) if args.rhythm is not None else None
    if rhythm is not None and not any(e.voice in keep for e in rhythm.events):
        raise LivechipError(f"{args.rhythm}: no events in the kept voice(s) {', '.join(keep)}")
    model = load_model(args.model)
    model.eval()
    if args.int8:
        from livechip.model.quantize import quantize_int8
        model = quantize_int8(model)

    seconds = args.seconds
    if seconds is None and args.events is None:
        seconds = rhythm.end / ev.TICKS_PER_SECOND if rhythm is not None else DEFAULT_SECONDS

    from tqdm import tqdm
    if seconds is not None:
        bar = tqdm(total=seconds, unit="s", disable=args.quiet, dynamic_ncols=True,
                   bar_format="{l_bar}{bar}| {n:.1f}/{total:.1f} s of music [{elapsed}<{remaining}]")
    else:
        bar = tqdm(total=args.events, unit="events", disable=args.quiet, dynamic_ncols=True)

    def progress(done, total):
        done = done / ev.TICKS_PER_SECOND if seconds is not None else done
        if done > bar.n:   # a revoked overshoot can move the frontier back a little: the bar never does
            bar.update(done - bar.n)   # redraws at most every 0.1 s

    stop = []

    def on_sigint(signum, frame):   # the first Ctrl-C stops and writes; a second one aborts
        if stop:
            raise KeyboardInterrupt
        stop.append(True)

    previous = signal.signal(signal.SIGINT, on_sigint)
    try:
        import torch
        with torch.inference_mode():
            result = generate(model, settings, seconds=seconds, n_events=args.events, primer=primer,
                              rhythm=rhythm, keep=keep, progress=progress, should_stop=lambda: bool(stop),
                              steering=steering)
    finally:
        signal.signal(signal.SIGINT, previous)
        bar.close()
    files.write_score(out, result.score)
    seconds = result.score.end / ev.TICKS_PER_SECOND
    what = "interrupted: wrote" if result.interrupted else "wrote"
    print(f"{what} {out} ({result.generated} generated events, {len(result.score.events)} in all, "
          f"{seconds:.1f} s)")
    return 130 if result.interrupted else 0
