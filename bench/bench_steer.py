"""What steering (key and scale, density, ranges) costs per model step: the shipped model in its int8 form on one
thread, at its generation memory length, as play runs it.

    .venv/bin/python bench/bench_steer.py [--model DIR] [--tokens N]

Prints, in one run: the sampler alone with and without the steering tensors (fixed logits), building the tensors
for a new setting (what a setting change costs, once), and whole Stream steps (model + sampler + bookkeeping)
without and with steering, interleaved in blocks so that load from other processes hits both alike: steps/s and the
real-time factor (tokens/s / 57, NES-MDB's mean event rate, as bench_inference.py counts it), from wall time and
from this thread's CPU time (which other processes on a shared machine disturb much less).
"""

import argparse
import statistics
import time

import torch

from livechip.core import events as ev
from livechip.model.stream import Stream
from livechip.model import steer
from livechip.model.sampling import SamplingSettings, banned_ids, sample

EVENTS_PER_SECOND = 57
STEERING = steer.Steering(key="D", scale="major", density=2, ranges={"P1": (60, 72), "TR": (40, 64)})


def per_call(fn, n):
    """(median wall s, median CPU s) of fn() over n calls."""
    wall, cpu = [], []
    for _ in range(n):
        t, c = time.perf_counter(), time.thread_time()
        fn()
        wall.append(time.perf_counter() - t)
        cpu.append(time.thread_time() - c)
    return statistics.median(wall), statistics.median(cpu)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", help="model folder (default: the shipped model)")
    ap.add_argument("--tokens", type=int, default=2000, help="Stream steps timed each way (default 2000)")
    ap.add_argument("--block", type=int, default=100, help="steps per block; blocks alternate (default 100)")
    args = ap.parse_args()
    torch.set_num_threads(1)

    from livechip.model.checkpoint import load_model
    from livechip.model.quantize import quantize_int8
    model = quantize_int8(load_model(args.model).eval())
    mem = getattr(model, "gen_mem_len", None)
    print(f"model {args.model or 'default'}, int8, 1 thread, generation memory {mem} tokens; steering: {STEERING}")

    g = torch.Generator().manual_seed(0)
    logits = torch.randn(ev.N_TOKENS, generator=g) * 3
    s = SamplingSettings()
    plain = banned_ids(ev.N_TOKENS)
    steered = plain | steer.ban_mask(STEERING)
    bias = steer.density_bias(STEERING)
    per_call(lambda: sample(logits, s, plain, g), 2000)   # warm-up
    for name, b, bi in [("without steering", plain, None), ("with steering", steered, bias)]:
        w, c = per_call(lambda: sample(logits, s, b, g, bi), 5000)
        print(f"sample() {name:17s} {w * 1e6:6.1f} us wall, {c * 1e6:6.1f} us CPU (median)")

    def build():
        steer.ban_mask.cache_clear()
        steer.density_bias.cache_clear()
        steer.ban_mask(STEERING)
        steer.density_bias(STEERING)
    w, c = per_call(build, 200)
    print(f"building the tensors of a new setting: {w * 1e6:.0f} us wall, {c * 1e6:.0f} us CPU (once per change)")

    with torch.inference_mode():
        streams = {"without steering": Stream(model, SamplingSettings(seed=0)),
                   "with steering": Stream(model, SamplingSettings(seed=0), steering=STEERING)}
        for st in streams.values():   # fill the memory to its generation length before timing
            st.generate_until(10**12, max_tokens=(mem or 512) + 64)
        wall = dict.fromkeys(streams, 0.0)
        cpu = dict.fromkeys(streams, 0.0)
        for _ in range(max(1, args.tokens // args.block)):
            for name, st in streams.items():
                t, c = time.perf_counter(), time.thread_time()
                st.generate_until(10**12, max_tokens=args.block)
                wall[name] += time.perf_counter() - t
                cpu[name] += time.thread_time() - c
        n = max(1, args.tokens // args.block) * args.block
        for name in streams:
            ws, cs = n / wall[name], n / cpu[name]
            print(f"Stream step {name:17s} {ws:7.0f} steps/s wall ({ws / EVENTS_PER_SECOND:5.1f}x real time), "
                  f"{cs:7.0f} steps/s CPU ({cs / EVENTS_PER_SECOND:5.1f}x real time)")
        a, b = (cpu[k] / n for k in streams)
        print(f"steering adds {(b - a) * 1e6:+.1f} us CPU per step ({(b - a) / a * 100:+.1f}%)")


if __name__ == "__main__":
    main()
