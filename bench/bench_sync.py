"""The MIDI clock follower's bandwidth: how fast it takes a tempo change, how much jitter reaches the beat.

    .venv/bin/python bench/bench_sync.py [--jitter 0.001] [--seeds 10]

A synthetic source plays 16 beats at 132 bpm, then 16 at 100; each tick arrives within +-jitter s of its
time (uniform: a 64-frame JACK period plus a reader polling every millisecond is about +-1 ms). For each
bandwidth the table gives, over all seeds, from 2 beats after each tempo starts: the worst error of the tempo
shown (`bpm`: the median tick period of the last two beats, which does not depend on the bandwidth) and of the loop's
own period (what the beat moves by), the beat error's p99 and maximum, and how far one tick 5 ms late moves
the beat (the largest change of the beat error in the beat after it, against the same stream on time).
"""

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from livechip.realtime.midi_clock import CLOCK, PPQN, START, ClockFollower  # noqa: E402
from tests.test_midi_clock import ticks  # noqa: E402 - the tests' clock source


def run(bandwidth, true, arrive):
    """(tick, bpm shown, true bpm, beat error ms) 4 ms after each tick."""
    f = ClockFollower(bandwidth=bandwidth)
    f.feed(true[0] - 0.1, [START])
    rows = []
    for i, t in enumerate(arrive[:-1]):
        f.feed(t, [CLOCK])
        bpm = 60 / (PPQN * (true[i + 1] - true[i]))
        truth = np.interp(t + 0.004, true, np.arange(len(true))) / PPQN
        loop = 60 * f.rate / (PPQN * f.period)
        rows.append((i, f.bpm, bpm, (f.beat(t + 0.004) - truth) * 60 / bpm * 1e3, loop))
    return np.array(rows)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--jitter", type=float, default=0.001)
    ap.add_argument("--seeds", type=int, default=10)
    args = ap.parse_args()
    tempi, late = [(132, 16), (100, 16)], 8 * PPQN
    print(f"jitter +-{args.jitter * 1e3:g} ms, {args.seeds} seeds")
    print("bandwidth | bpm error max: shown / loop | beat error p99 / max | a tick 5 ms late moves the beat by")
    for b in (0.5, 1.0, 1.5, 2.0, 3.0):
        bpm, loop, beat, moved = [], [], [], []
        for seed in range(args.seeds):
            true, arrive = ticks(tempi, args.jitter, seed)
            rows = run(b, true, arrive)
            tick = rows[:, 0]
            keep = ((tick >= 2 * PPQN) & (tick < 16 * PPQN)) | (tick >= 18 * PPQN)
            bpm.append(np.abs(rows[keep, 1] - rows[keep, 2]).max())
            loop.append(np.abs(rows[keep, 4] - rows[keep, 2]).max())
            beat.append(np.abs(rows[keep, 3]))
            arrive[late] += 0.005
            bumped = run(b, true, arrive)
            near = (tick >= late) & (tick < late + PPQN)
            moved.append(np.abs(bumped[near, 3] - rows[near, 3]).max())
        beat = np.concatenate(beat)
        print(f"{b:6.1f} Hz | {max(bpm):15.2f} / {max(loop):5.2f}  | {np.percentile(beat, 99):8.2f} / "
              f"{beat.max():.2f} ms  | {max(moved):.2f} ms")


if __name__ == "__main__":
    main()
