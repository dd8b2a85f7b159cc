"""`livechip adapt`: multi-instrument MIDI files to NES four-voice TX1 training data (`livechip.formats.adapt`)."""

from pathlib import Path

import numpy as np
from tqdm import tqdm

from livechip.core.errors import FileFormatError, LivechipError
from livechip.formats import tx1
from livechip.formats.adapt import adapt_file


def midi_files(src: Path):
    """The .mid files of `src`: itself, or every one in the folder and below it, sorted."""
    if src.is_file():
        return [src]
    if src.is_dir():
        return sorted(p for p in src.rglob("*") if p.is_file() and p.suffix.lower() in (".mid", ".midi"))
    raise LivechipError(f"{src}: no such file or folder")


def adapt_command(args):
    src, out = Path(args.input), Path(args.output)
    paths = midi_files(src)
    if not paths:
        raise LivechipError(f"{src}: no .mid files found")
    rng = np.random.default_rng(args.seed)
    it = paths
    if not args.quiet:
        it = tqdm(paths, unit="file", desc="adapting")
    written, unusable, bad = 0, 0, []
    for path in it:
        try:
            scores = adapt_file(path, rng, args.per_song, args.noise, args.min_seconds, args.max_seconds,
                                args.clip_seconds)
        except FileFormatError as e:
            bad.append(str(e))
            continue
        if not scores:
            unusable += 1
        for i, score in enumerate(scores):
            tx1.write(out / f"{path.stem}_{i:03d}.tx1.txt.gz", score)
            written += 1
    print(f"{out}: {written} NES songs from {len(paths) - len(bad) - unusable} of {len(paths)} MIDI files "
          f"({unusable} with no usable monophonic instrument or outside {args.min_seconds:g}-{args.max_seconds:g} s, "
          f"{len(bad)} unreadable)")
    for line in bad[:5]:
        print(f"  skipped {line}")
    return 0
