"""Time to convert the whole shared data set (prints figures; asserts nothing).

    .venv/bin/python bench/bench_convert.py [--limit N] [--shared PATH]

Three passes over the 5 278 NES-MDB songs, each writing real files into a temporary folder:
  1. NES-MDB MIDI -> .tx1.txt    (read straight from nesmdb_midi.tar.xz)
  2. .tx1.txt.gz  -> NES-MDB MIDI
  3. .tx1.txt.gz  -> DAW MIDI
"""

import argparse
import tarfile
import tempfile
import time
from pathlib import Path

from livechip.formats import files, tx1
from livechip.formats import midi

ROOT = Path(__file__).resolve().parents[1]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--limit", type=int, default=None, help="only the first N songs")
    ap.add_argument("--shared", type=Path, default=ROOT.parent / "shared")
    args = ap.parse_args()
    data = args.shared / "data"
    tx1_files = sorted((data / "nesmdb_tx1").glob("*/*.tx1.txt.gz"))[:args.limit]

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        t0 = time.perf_counter()
        n = events = 0
        with tarfile.open(data / "nesmdb_midi.tar.xz", "r:xz") as tar:
            for member in tar:
                if not member.isfile():
                    continue
                if args.limit is not None and n >= args.limit:
                    break
                name = Path(member.name).stem
                score, _ = midi.to_score(midi.parse(tar.extractfile(member).read(), member.name),
                                                 member.name)
                tx1.write(tmp / f"{name}.tx1.txt", score)
                n += 1
                events += len(score.events)
        _report("NES-MDB MIDI -> .tx1.txt (from the tarball)", n, events, time.perf_counter() - t0)

        for label, suffix in (("NES-MDB MIDI", ".nesmdb.mid"), ("DAW MIDI", ".mid")):
            t0 = time.perf_counter()
            events = 0
            for path in tx1_files:
                score = tx1.read(path)
                files.write_score(tmp / (path.name[:-len(".tx1.txt.gz")] + suffix), score)
                events += len(score.events)
            _report(f".tx1.txt.gz -> {label}", len(tx1_files), events, time.perf_counter() - t0)


def _report(what, songs, events, seconds):
    print(f"{what:45s} {songs:5d} songs  {events:9d} note events  {seconds:7.1f} s  "
          f"{songs / seconds:6.1f} songs/s  {events / seconds / 1e3:6.1f} k events/s")


if __name__ == "__main__":
    main()
