"""How closely `livechip play --sync midi` follows a DAW's MIDI clock through JACK (dummy driver).

    .venv/bin/python bench/bench_sync_play.py              # 3 sessions at 64-frame periods
    .venv/bin/python bench/bench_sync_play.py --runs 5 --period 128
    .venv/bin/python bench/bench_sync_play.py --quantize off      # the same without the grid, to compare

Each session (tests/sync_helpers.py): a test clock source plays Start and 24-PPQN clock into `livechip in` at
132 bpm for 32 beats, 100 bpm for 24, Stop, 2 s, Start and 132 bpm for 16; a test DAW records the source's
clock and livechip's MIDI out. The model is a small random one that plays many notes (the tests'). Printed per
tempo: /livechip/bpm two beats before the tempo ends against the source's; the model's note-ons from two bars
into the tempo to its end, their distance to the source's nearest 16th note (p50, p90, share within 4 ms),
also counting only those where JACK kept time (no tick of the source within 30 ms came off its line by more
than a period); the server's xruns. The targets: bpm within 0.5, 90 % of note-ons within 4 ms.
"""

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.jack_helpers import note_happy_model  # noqa: E402
from tests.sync_helpers import AGAIN, PART, PPQN, grid_errors, model_note_ons, run_session, segments  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--period", type=int, default=64, help="JACK period in frames (48 kHz)")
    ap.add_argument("--quantize", default="1/16", help="the grid (off: the model's notes as it plays them)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        model = note_happy_model(Path(tmp) / "model")
        print("| run | tempo | /livechip/bpm | note-ons | within 4 ms | p50 / p90 ms | where JACK kept time: n, within 4 ms | xruns |")
        print("|---|---|---|---|---|---|---|---|")
        for r in range(args.runs):
            s = run_session(model, period=args.period, seed=r, args=("--quantize", args.quantize))
            runs = segments(s["daw"], [PART, [AGAIN]])
            onsets = model_note_ons(s["daw"])
            parts = [(runs[0], 0, PART[0][1]), (runs[0], PART[0][1] * PPQN, PART[1][1]), (runs[1], 0, AGAIN[1])]
            for (run, first, beats), (want, reply) in zip(parts, s["asked"]):
                err, clean, _ = grid_errors(run, first, beats, onsets)
                print(f"| {r + 1} | {want:g} | {reply:.2f} | {len(err)} | {np.mean(err <= 0.004):.0%} | "
                      f"{np.median(err) * 1e3:.2f} / {np.percentile(err, 90) * 1e3:.2f} | "
                      f"{clean.sum()}, {np.mean(err[clean] <= 0.004):.0%} | {s['xruns']} |")


if __name__ == "__main__":
    main()
