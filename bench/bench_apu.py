"""APU speed: offline render speed as a multiple of real time, and the cost of one live audio block.

    .venv/bin/python bench/bench_apu.py [--song PATH.vgm] [--repeat 5]

The default song is Mega Man 2's title (42.6 s, about 143 events per second on all four voices), from the
shared examples. Block cost is measured the way the audio callback uses the chip: the song's register writes
are queued with `Apu.write` two blocks ahead of the block being rendered by `Apu.render` (256 frames at
48 kHz, console filters on).
"""

import argparse
import time
from pathlib import Path

import numpy as np

from livechip.apu import render, vgm
from livechip.apu.apu import Apu

ROOT = Path(__file__).resolve().parents[1]
SONG = ROOT.parent / "shared" / "data" / "examples" / "225_MegaMan2_01_02Title.vgm"


def offline(log, rate, repeat):
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        render.render_log(log, rate=rate)
        best = min(best, time.perf_counter() - t)
    return log.seconds / best, best


def blocks(log, rate=48000, frames=256):
    apu = Apu(rate=rate)
    apu.warm()
    out = np.zeros(frames, dtype=np.float32)
    cycles, addrs, values = log.cycles.tolist(), log.addrs.tolist(), log.values.tolist()
    per_block = frames * log.clock / rate
    n_blocks = int(log.seconds * rate / frames)
    costs = np.zeros(n_blocks)
    k = 0
    for b in range(n_blocks):
        horizon = (b + 3) * per_block                 # writes queued two blocks ahead, as the engine does
        while k < len(cycles) and cycles[k] < horizon:
            apu.write(cycles[k], addrs[k], values[k])
            k += 1
        t = time.perf_counter_ns()
        apu.render(out)
        costs[b] = time.perf_counter_ns() - t
    return costs / 1e6


def worst_case(seconds=5.0):
    """All four voices changing level as often as they can: noise period 4 cycles, triangle period 2,
    pulses at period 8 (the highest unmuted), all at full volume."""
    w = [(0x4015, 0x0F), (0x4000, 0xBF), (0x4001, 0x08), (0x4002, 0x08), (0x4003, 0x08), (0x4004, 0x7F),
         (0x4005, 0x08), (0x4006, 0x09), (0x4007, 0x08), (0x4008, 0xFF), (0x400A, 0x02), (0x400B, 0x08),
         (0x400C, 0x3F), (0x400E, 0x00), (0x400F, 0x08)]
    log = vgm.Log(np.zeros(len(w), dtype=np.int64), np.array([a for a, _ in w]), np.array([v for _, v in w]),
                  samples=int(seconds * 44100))
    return log


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--song", default=str(SONG), help="a VGM file (default: Mega Man 2 title)")
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()

    t = time.perf_counter()
    Apu().warm()
    print(f"warm-up (numba compile or cache load): {time.perf_counter() - t:.2f} s")

    log = vgm.read(args.song)
    print(f"song: {Path(args.song).name}: {log.seconds:.1f} s, {len(log.cycles)} register writes "
          f"({len(log.cycles) / log.seconds:.0f} per second)")
    for rate in (44100, 48000):
        x, best = offline(log, rate, args.repeat)
        print(f"offline render at {rate} Hz: {x:.0f}x real time ({best * 1000:.1f} ms for {log.seconds:.1f} s)")

    budget = 256 / 48000 * 1000
    costs = blocks(log)
    print(f"one 256-frame block at 48 kHz ({len(costs)} blocks, budget {budget:.2f} ms): "
          f"p50 {np.percentile(costs, 50):.4f} ms, p99 {np.percentile(costs, 99):.4f} ms, max {costs.max():.4f} ms")

    stress = worst_case()
    x, _ = offline(stress, 48000, args.repeat)
    costs = blocks(stress)
    print(f"worst case (every voice at its fastest rate): {x:.0f}x real time; 256-frame block at 48 kHz: "
          f"p50 {np.percentile(costs, 50):.4f} ms, p99 {np.percentile(costs, 99):.4f} ms, max {costs.max():.4f} ms")


if __name__ == "__main__":
    main()
