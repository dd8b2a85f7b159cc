"""`livechip generate`: load the model and files, show a progress bar, and write the result atomically, also
when stopped with Ctrl-C. The work itself is `livechip.model.generate.generate`."""

import signal
from pathlib import Path

import torch
from tqdm import tqdm

from livechip.core import events as ev
from livechip.core import places
from livechip.core.errors import LivechipError
from livechip.formats import files
from livechip.model.checkpoint import load_model
from livechip.model.generate import DEFAULT_SECONDS, generate
from livechip.model.primes import write_primes
from livechip.model.quantize import quantize_int8
from livechip.model.sampling import SamplingSettings
from livechip.cli.steer import parse_steering


def parse_voices(text):
    """'P1,tr' -> ('P1', 'TR'), checked against the four NES voices."""
    voices = [v.strip().upper() for v in text.replace(" ", ",").split(",") if v.strip()]
    bad = [v for v in voices if v not in ev.VOICES]
    if bad or not voices:
        raise LivechipError(f"--keep: unknown voice(s) {', '.join(bad) or text!r}; voices are "
                            f"{', '.join(ev.VOICES)}")
    return tuple(v for v in ev.VOICES if v in voices)


def _check_lengths(args):
    if (args.rhythm is None) != (args.keep is None):
        raise LivechipError("--rhythm and --keep go together (e.g. --rhythm drums.mid --keep NO)")
    if args.prime is not None and args.rhythm is not None:
        raise LivechipError("--prime and --rhythm cannot be combined")
    if args.seconds is not None and not args.seconds > 0:
        raise LivechipError(f"--seconds must be > 0, got {args.seconds}")
    if args.events is not None and args.events < 1:
        raise LivechipError(f"--events must be >= 1, got {args.events}")


def _bar(seconds, n_events, quiet):
    """A tqdm bar over seconds of music (or events) and its `progress(done, total)` callback."""
    if seconds is not None:
        bar = tqdm(total=seconds, unit="s", disable=quiet, dynamic_ncols=True,
                   bar_format="{l_bar}{bar}| {n:.1f}/{total:.1f} s of music [{elapsed}<{remaining}]")
    else:
        bar = tqdm(total=n_events, unit="events", disable=quiet, dynamic_ncols=True)

    def progress(done, total):
        done = done / ev.TICKS_PER_SECOND if seconds is not None else done
        if done > bar.n:   # a revoked overshoot can move the frontier back a little: the bar never does
            bar.update(done - bar.n)   # redraws at most every 0.1 s
    return bar, progress


def generate_command(args):
    if args.write_primes is not None:
        return primes_command(args)
    if args.output is None:
        raise LivechipError("-o/--output is required: where to write the music (.tx1.txt or .mid)")
    out = Path(args.output)
    files.kind_of(out)   # a clear error now for a name that is neither TX1 nor MIDI, before any work
    _check_lengths(args)
    try:
        settings = SamplingSettings(temperature=args.temperature, top_k=args.top_k, top_p=args.top_p,
                                    recall=args.recall, seed=args.seed)
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
        model = quantize_int8(model)

    seconds = args.seconds
    if seconds is None and args.events is None:
        seconds = rhythm.end / ev.TICKS_PER_SECOND if rhythm is not None else DEFAULT_SECONDS
    bar, progress = _bar(seconds, args.events, args.quiet)
    stop = []

    def on_sigint(signum, frame):   # the first Ctrl-C stops and writes; a second one aborts
        if stop:
            raise KeyboardInterrupt
        stop.append(True)

    previous = signal.signal(signal.SIGINT, on_sigint)
    try:
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


def primes_command(args):
    """`--write-primes N`: the model folder's warm primes, written by the model (livechip.model.primes)."""
    if args.write_primes < 1:
        raise LivechipError(f"--write-primes must be at least 1, got {args.write_primes}")
    folder = places.find_model(args.model) / places.PRIMES
    try:
        settings = SamplingSettings(temperature=args.temperature, top_k=args.top_k, top_p=args.top_p,
                                    recall=args.recall)
    except ValueError as e:
        raise LivechipError(str(e)) from None
    model = load_model(folder.parent)
    model.eval()
    try:
        for old in places.warm_primes(folder.parent):
            old.unlink()
        with torch.inference_mode():
            paths = write_primes(model, folder, args.write_primes, seed=args.seed or 0, settings=settings)
    except OSError as e:
        raise LivechipError(f"cannot write the warm primes into {folder}: {e.strerror or e}") from None
    print(f"livechip: {len(paths)} warm primes in {folder}")
    if len(paths) < args.write_primes:
        raise LivechipError(f"only {len(paths)} of {args.write_primes} takes were full enough to keep")
    return 0
