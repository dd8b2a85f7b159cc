"""How late are the player's first notes? `livechip play --human P1` on a JACK dummy server (64-frame periods by
default), a test keyboard playing into `livechip in` from one second after the port appears (while the model
process is still loading), one note every 0.2 s, into livechip and into a trivial echo client on the same
server; a test DAW records both. Prints, per run, how many notes reached MIDI out and how much later than the
echo client's copy they came (the session of tests/test_first_notes.py, repeated).

Prints figures, asserts nothing.

    .venv/bin/python bench/bench_first_notes.py --runs 5
    .venv/bin/python bench/bench_first_notes.py --runs 3 --period 256 --notes 40
"""

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.jack_helpers import note_happy_model  # noqa: E402
from tests.test_first_notes import first_notes  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--notes", type=int, default=24)
    ap.add_argument("--period", type=int, default=64)
    ap.add_argument("--model", help="model folder (default: a small random one, loaded as fast as a real one "
                                    "would not be: pass models/default for a real start)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        model = args.model or note_happy_model(Path(tmp) / "model")
        every = []
        for run in range(args.runs):
            keys, ours, echoed, _, xruns = first_notes(model, n=args.notes, period=args.period)
            late = np.array([ours[k] - echoed[k] for k in keys if k in ours and k in echoed]) * 1000
            every += late.tolist()
            lost = [k - keys[0] for k in keys if k not in ours]
            print(f"run {run + 1}: {len(keys) - len(lost)}/{len(keys)} notes on MIDI out"
                  + (f" (lost: notes {lost})" if lost else "")
                  + (f"; livechip minus echo, ms: median {np.median(late):.3f}, p90 {np.percentile(late, 90):.3f}, "
                     f"max {late.max():.3f}" if len(late) else "") + f"; xruns {xruns}", flush=True)
        if every:
            print(f"all runs: median {np.median(every):.3f} ms, p90 {np.percentile(every, 90):.3f} ms, "
                  f"max {max(every):.3f} ms over {len(every)} notes")


if __name__ == "__main__":
    main()
